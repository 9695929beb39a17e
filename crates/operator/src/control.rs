//! When the operator must stop working: leadership and shutdown, as watch channels every
//! long wait selects on.

use tokio::sync::watch;

/// When the operator must stop working.
#[derive(Debug, Clone)]
pub struct Control {
    /// Leadership (always true without `--ha`); checked before every module run so a lost
    /// lease stops work between two applies, not only between two events.
    pub leading: watch::Receiver<bool>,
    /// Turns true on SIGTERM/SIGINT; checked before every module run.
    pub shutdown: watch::Receiver<bool>,
}

/// Resolves when the value changes; never, once the sender is gone (leadership that cannot
/// change any more, e.g. without `--ha`; a CA no webhook binding asks for). A closed channel
/// must not resolve at once: in a `select!` loop that would spin a core.
pub async fn changed_or_never<T>(rx: &mut watch::Receiver<T>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
