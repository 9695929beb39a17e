//! Error text for logs and status strings: an error followed by its causes, each said once
//! (messages hold no cause; causes are `#[source]`s).

/// `error: cause: cause`: how the engine prints an error in logs and in the failures it hands
/// back as text (public so that callers and tests print errors the same way).
pub fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
