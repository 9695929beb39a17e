//! End-to-end tests of the hook engine: real bash + jq hooks, the kube emulator over HTTP.
#![allow(clippy::unwrap_used)]

mod common;
mod execution;
mod golden;
mod logs;
mod metrics;
mod object_patches;
mod outputs_and_config;
mod queues;
mod use_cases;
mod watches;
mod webhooks;
