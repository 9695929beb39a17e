//! What can go wrong: a chart that cannot be read, and the problems of a conversion.

use std::fmt;
use std::path::PathBuf;

use crate::emit::Unconverted;
use crate::lex::SyntaxError;

/// Reading a chart failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A file or directory of the chart could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// One thing in the chart that could not be converted: where, what, and why. Never quotes a
/// value (values may be secrets), only keys and template constructs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Chart-relative file, e.g. `templates/secret.yaml`.
    pub file: String,
    /// 1-based line, when the problem is at a place in a template.
    pub line: Option<usize>,
    /// 1-based column, with `line`.
    pub column: Option<usize>,
    /// The construct, e.g. ``function `lookup` ``; empty for whole-file problems.
    pub construct: String,
    /// Why it is not converted, or what was expected.
    pub reason: String,
}

impl Problem {
    pub(crate) fn file(file: &str, reason: &str) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            construct: String::new(),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn syntax(file: &str, e: SyntaxError) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(e.pos.line),
            column: Some(e.pos.column),
            construct: "Go template syntax".into(),
            reason: e.message,
        }
    }

    pub(crate) fn construct(file: &str, u: Unconverted) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(u.pos.line),
            column: Some(u.pos.column),
            construct: u.construct,
            reason: u.reason,
        }
    }

    pub(crate) fn value(file: &str, key: &str, u: Unconverted) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            construct: format!(
                "template in key `{key}` (line {} column {} of the string): {}",
                u.pos.line, u.pos.column, u.construct
            ),
            reason: u.reason,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if self.construct.is_empty() {
            write!(f, ": {}", self.reason)
        } else {
            write!(f, ": {}: {}", self.construct, self.reason)
        }
    }
}
