//! Errors of starting and running the emulator (API failures are [`crate::ApiError`]s).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the emulator could not start or persist its state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("failed to bind the kube-emulator listener on {addr}")]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but could not be read.
    #[error("failed to read the kube-emulator state file {path}")]
    ReadState {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid state JSON.
    #[error("failed to parse the kube-emulator state file {path}")]
    LoadState {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The state file could not be written.
    #[error("failed to write the kube-emulator state file {path}")]
    SaveState {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Creating one of the initial namespaces failed.
    #[error("failed to create the initial namespace {namespace}")]
    Init {
        /// The namespace that could not be created.
        namespace: &'static str,
        /// Why the store refused it.
        #[source]
        source: Box<crate::status::ApiError>,
    },
    /// Creating one of the bootstrap RBAC objects (authorization mode) failed.
    #[error("failed to create the bootstrap {resource} {name}")]
    Bootstrap {
        /// Its resource (plural).
        resource: &'static str,
        /// Its name.
        name: String,
        /// Why the store refused it.
        #[source]
        source: Box<crate::status::ApiError>,
    },
    /// An invariant of the emulator itself broke.
    #[error("kube-emulator internal error: {0}")]
    Internal(&'static str),
}
