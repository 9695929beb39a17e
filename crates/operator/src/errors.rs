//! Printing an error with its causes, each said once.
//!
//! Library errors keep their cause in `#[source]` and out of their message; this joins the
//! messages of the chain with `: `, the way anyhow's `{:#}` does, and skips a cause whose text
//! the message before it already ends with, so an error that still repeats its cause (a
//! dependency's, say) is not printed twice.

use std::error::Error;

/// `err` and its causes on one line: `outer: middle: root`.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut errors = vec![err];
    let mut cause = err.source();
    while let Some(next) = cause {
        errors.push(next);
        cause = next.source();
    }
    join(errors.into_iter())
}

/// An anyhow error and its context chain, each message once (what `main` prints).
pub fn chain_anyhow(err: &anyhow::Error) -> String {
    join(err.chain())
}

/// Whether `err` comes from writing to a pipe whose reader has gone (`render | head`): the
/// reader has what it wanted, so the command stops quietly, like `ripgrep` and `kubectl` do.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn join<'a>(errors: impl Iterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut text = String::new();
    for err in errors {
        let message = err.to_string();
        if message.is_empty() || text.ends_with(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x: {source}")]
    struct Repeats {
        #[source]
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x")]
    struct Once {
        #[source]
        source: std::io::Error,
    }

    fn missing() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
    }

    #[test]
    fn each_cause_is_printed_once_whether_or_not_the_message_repeats_it() {
        let expected = "cannot read x: No such file or directory";
        assert_eq!(chain(&Once { source: missing() }), expected);
        assert_eq!(chain(&Repeats { source: missing() }), expected);
        let err = anyhow::Error::new(Repeats { source: missing() }).context("loading modules");
        assert_eq!(chain_anyhow(&err), format!("loading modules: {expected}"));
    }

    #[test]
    fn a_broken_pipe_is_recognised_under_context() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(
            &anyhow::Error::new(pipe).context("writing the output")
        ));
        assert!(!is_broken_pipe(&anyhow::Error::new(missing())));
    }
}
