//! Release channels for addon-operator: the operator follows its channel tag in an OCI
//! registry and rolls its own Deployment to the digest behind it.
//!
//! What it does: resolve `<repository>:<channel>` to a digest with one `HEAD` ([`Registry`],
//! on `oci-client`, with anonymous, basic and bearer-token auth and plain HTTP when
//! `insecure`), read the `org.opencontainers.image.version` label of a digest (image
//! manifests and multi-arch indexes, bytes verified against their digest, 4 MiB at most),
//! decide what to do ([`decide`], a pure function), and run one hook poll ([`poll`]) that
//! turns the decision into a JSON patch of the Deployment, metrics and log lines.
//!
//! What it does not do: it has no Kubernetes client and no hook protocol. The operator's
//! native hook `self-update` decodes the binding context (the Deployment and the
//! credentials Secret arrive as snapshots), calls [`poll`] and writes the patch for the hook
//! engine to apply.
//!
//! Principal types: [`Settings`] (`global.update`), [`Decision inputs`](Inputs) →
//! [`Action`], [`Registry`] (the registry side), [`DeploymentView`] (the Deployment and its
//! patches), [`State`] (what the hook remembers between runs, and the status it reports).
//!
//! ```
//! use chrono::Utc;
//! use selfupdate::{Action, Candidate, Channel, Inputs, Mode, Policy, Running, decide};
//!
//! let running = Running { digest: Some("sha256:01".into()), ..Running::default() };
//! let candidate = Candidate { channel: Channel::Stable, digest: "sha256:02".into(), version: None };
//! let policy = Policy { mode: Mode::Auto, windows: vec![], wave: 0, wave_delay: Default::default() };
//! let action = decide(&Inputs {
//!     running: &running, candidate: &candidate, policy: &policy,
//!     approved: None, available: None, now: Utc::now(),
//! });
//! assert_eq!(action, Action::Apply { digest: "sha256:02".into() });
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod credentials;
mod decision;
mod deployment;
mod error;
mod image;
mod poll;
mod registry;
mod settings;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod window;

pub use credentials::{Credentials, CredentialsError};
pub use decision::{
    Action, Available, Candidate, Inputs, Policy, Running, WaitReason, decide, wave_time,
};
pub use deployment::{
    ANNOTATION_APPROVED, ANNOTATION_AVAILABLE, ANNOTATION_CHANNEL, ANNOTATION_DIGEST,
    ANNOTATION_FIRST_SEEN, ANNOTATION_TIME, CONTAINER_NAME, DeploymentView, JQ_FILTER, rfc3339,
};
pub use error::{CheckError, FailureKind};
pub use image::{ImageRef, registry_of};
pub use poll::{METRIC_GROUP, PollInput, PollOutput, poll};
pub use registry::{
    ClientBuildError, MAX_MANIFEST_BYTES, RawManifest, Registry, RegistryOptions, VERSION_LABEL,
    parse_version,
};
pub use settings::{Channel, Mode, Settings, SettingsError, parse_duration};
pub use state::{CachedCandidate, STATE_FILE, Stamp, State, Status, state_path};
pub use window::{Window, in_window, next_window_start, wave_of};
