//! hooks: work in progress.
mod config;
mod crontab;
mod jq;
pub use config::*;
pub use jq::{JqError, JqFilter};
mod binding_context;
mod outputs;
pub use binding_context::*;
pub use outputs::*;
