//! Why a helper call failed: typed, naming the helper and the argument, never a value
//! (templates render secrets, and render errors reach logs and `module list`).

use std::fmt;

/// What is wrong with one argument of a helper call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentProblem {
    /// Text was needed (a string, or a number, boolean or null printed as text).
    #[error(
        "expected text, got {found} (print a list or map with toYaml or toJson, or pick one item)"
    )]
    NotText {
        /// JSON type that was given.
        found: &'static str,
    },
    /// An integer was needed (a number, or a string holding one).
    #[error("expected an integer, got {found}")]
    NotInteger {
        /// JSON type that was given (`a string` when the string holds no integer).
        found: &'static str,
    },
    /// A count that must not be negative was negative.
    #[error("must not be negative")]
    Negative,
    /// `b64dec` got text that is not standard base64.
    #[error("is not valid base64 (standard alphabet, with padding)")]
    NotBase64,
    /// `b64dec` decoded bytes that are not UTF-8 text.
    #[error("decodes to bytes that are not UTF-8 text")]
    NotUtf8,
    /// A map was needed.
    #[error("expected a map, got {found}")]
    NotAMap {
        /// JSON type that was given.
        found: &'static str,
    },
    /// A list was needed.
    #[error("expected a list, got {found}")]
    NotAList {
        /// JSON type that was given.
        found: &'static str,
    },
    /// Something with a length was needed.
    #[error("expected a list, map or string, got {found}")]
    NoLength {
        /// JSON type that was given.
        found: &'static str,
    },
    /// A regular expression does not compile (RE2 syntax, as Go's `regexp`).
    #[error("is not a valid regular expression")]
    NotARegex,
    /// An index or a result is out of range.
    #[error("is out of range")]
    OutOfRange,
    /// `semverCompare` got a version it cannot read.
    #[error("is not a semantic version (e.g. `v1.33.0`)")]
    NotAVersion,
    /// `semverCompare` got a constraint it cannot read.
    #[error(
        "is not a version constraint (e.g. `>=1.19-0`, `~1.2`, `^2`, `1.2.x`, joined by `,` or `||`)"
    )]
    NotAConstraint,
    /// A `dict` key is not a string.
    #[error("a key must be a string, got {found}")]
    KeyNotText {
        /// JSON type that was given.
        found: &'static str,
    },
}

/// Why a helper refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    /// Too few or too many arguments.
    #[error("got {got} argument(s)")]
    Arity {
        /// How many were given.
        got: usize,
    },
    /// One argument is not usable.
    #[error("argument {}: {problem}", index + 1)]
    Argument {
        /// 0-based position of the argument.
        index: usize,
        /// What is wrong with it.
        problem: ArgumentProblem,
    },
    /// `required` found its value missing, null or empty: the template author's message.
    #[error("{message}")]
    Required {
        /// The MESSAGE argument of `required`.
        message: String,
    },
    /// `dict` got a key without a value.
    #[error("expected key/value pairs, got {got} argument(s)")]
    OddPairs {
        /// How many arguments were given.
        got: usize,
    },
    /// `lt`/`le`/`gt`/`ge` got two values of different or unordered types.
    #[error("can only compare two numbers or two strings, got {left} and {right}")]
    NotComparable {
        /// JSON type of the first argument.
        left: &'static str,
        /// JSON type of the second argument.
        right: &'static str,
    },
    /// `toYaml`/`toJson` could not write the value (not expected for JSON values).
    #[error("cannot write the value as {format}")]
    Serialize {
        /// `YAML` or `JSON`.
        format: &'static str,
    },
}

impl HelperError {
    /// The error for argument `index`.
    pub(crate) fn arg(index: usize, problem: ArgumentProblem) -> Self {
        HelperError::Argument { index, problem }
    }
}

/// A helper call that failed: which helper, its usage, and why. This is what a template
/// render error about a helper carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCallError {
    /// The helper's name, e.g. `indent`.
    pub helper: &'static str,
    /// Its call form, e.g. `indent N STRING`.
    pub usage: &'static str,
    /// What went wrong.
    pub error: HelperError,
}

impl HelperCallError {
    /// The usage word naming argument `index` (`N` in `indent N STRING`); variadic
    /// arguments (`VALUE...`) share the last word.
    fn argument_name(&self, index: usize) -> &'static str {
        let words: Vec<&'static str> = self.usage.split_whitespace().skip(1).collect();
        words
            .get(index)
            .or(words.last())
            .map_or("", |w| w.trim_end_matches("..."))
    }
}

impl fmt::Display for HelperCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let helper = self.helper;
        match &self.error {
            HelperError::Required { message } => write!(f, "`{helper}`: {message}"),
            HelperError::Argument { index, problem } => write!(
                f,
                "`{helper}` argument {} ({}): {problem} (usage: `{}`)",
                index + 1,
                self.argument_name(*index),
                self.usage
            ),
            other => write!(f, "`{helper}`: {other} (usage: `{}`)", self.usage),
        }
    }
}

impl std::error::Error for HelperCallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_errors_name_helper_argument_and_usage() {
        let call = |error| HelperCallError {
            helper: "indent",
            usage: "indent N STRING",
            error,
        };
        let not_int = HelperError::arg(0, ArgumentProblem::NotInteger { found: "a string" });
        assert_eq!(
            call(not_int).to_string(),
            "`indent` argument 1 (N): expected an integer, got a string (usage: `indent N STRING`)"
        );
        assert_eq!(
            call(HelperError::Arity { got: 3 }).to_string(),
            "`indent`: got 3 argument(s) (usage: `indent N STRING`)"
        );
        let variadic = HelperCallError {
            helper: "quote",
            usage: "quote VALUE...",
            error: HelperError::arg(2, ArgumentProblem::NotText { found: "a map" }),
        };
        assert!(
            variadic
                .to_string()
                .starts_with("`quote` argument 3 (VALUE): expected text, got a map"),
            "{variadic}"
        );
    }
}
