//! Error types: discovery problems and render problems, each collected rather than stopping
//! at the first.

use std::fmt;
use std::path::PathBuf;

use yaml_json::YamlError;

use crate::helpers::HelperCallError;
use crate::names::NameError;
use crate::syntax::SyntaxProblem;

/// One problem found while discovering or loading modules.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryProblem {
    /// A directory or file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A module directory name breaks the naming rules.
    #[error("invalid module directory {path}")]
    InvalidName {
        /// The module directory.
        path: PathBuf,
        /// Which rule failed and the expected form.
        #[source]
        reason: NameError,
    },
    /// Two modules dirs hold a module with the same name.
    #[error("module `{name}` is defined twice: {first} and {second}")]
    DuplicateModule {
        /// The module name.
        name: String,
        /// The directory found first.
        first: PathBuf,
        /// The directory found second.
        second: PathBuf,
    },
    /// A YAML file does not parse.
    #[error("{path}: invalid YAML")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: YamlError,
    },
    /// A file parses but its content is not acceptable (not UTF-8, not a mapping, a
    /// non-CRD in `crds/`, a duplicate partial name).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Module discovery failed; holds every problem found.
#[derive(Debug)]
pub struct DiscoveryError {
    /// All problems, in discovery order.
    pub problems: Vec<DiscoveryProblem>,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, "module discovery", &self.problems)
    }
}

impl std::error::Error for DiscoveryError {}

/// One problem in rendering a module's templates into objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A template or partial does not compile (handlebars syntax). The position is that of
    /// the tag or block at fault, which may be before where the parser gave up.
    #[error("{file}{}: syntax error: {problem}", at(*line, *column))]
    Syntax {
        /// `<module>/templates/<file>`.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong and the expected form.
        problem: SyntaxProblem,
    },
    /// A helper refused its arguments: wrong count or type, or `required` found nothing.
    #[error("{file}{}: {call}", at(*line, *column))]
    Helper {
        /// `<module>/templates/<file>` (the partial's file when the call is inside one).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// Which helper, which argument, and why (boxed: render errors are passed by value).
        call: Box<HelperCallError>,
    },
    /// Rendering a template failed: a missing value in strict mode (message names the
    /// path), an unknown helper or partial.
    #[error("{file}{}: {message}", at(*line, *column))]
    Template {
        /// `<module>/templates/<file>` (the partial's file when the error is inside one).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What failed, e.g. ``missing value `Values.echoServer.replicas` ``.
        message: String,
    },
    /// The rendered text is not valid YAML.
    #[error("{file}: document {document}: rendered output is not valid YAML: {message}")]
    Yaml {
        /// `<module>/templates/<file>`.
        file: String,
        /// 1-based document index within the rendered file.
        document: usize,
        /// The parser's message (line numbers refer to the rendered output).
        message: String,
    },
    /// A rendered document is not a Kubernetes object.
    #[error("{file}: document {document}: {message}")]
    InvalidObject {
        /// `<module>/templates/<file>`.
        file: String,
        /// 1-based document index within the rendered file.
        document: usize,
        /// What is missing or wrong (e.g. `missing metadata.name`).
        message: String,
    },
    /// Two rendered documents identify the same object.
    #[error("duplicate object {object}: rendered by {first} and {second}")]
    Duplicate {
        /// `group/kind namespace/name`.
        object: String,
        /// Source (`file` document N) of the first.
        first: String,
        /// Source of the second.
        second: String,
    },
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// A module's render failed; holds every problem found (the render is rejected as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderErrors {
    /// The module name.
    pub module: String,
    /// Every problem, in template file order.
    pub errors: Vec<RenderError>,
}

impl fmt::Display for RenderErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, &format!("module `{}`", self.module), &self.errors)
    }
}

impl std::error::Error for RenderErrors {}

/// One problem: `what: problem`; several: a count and one problem per line.
/// Each problem is followed by its causes (`problem: cause`), said once.
fn write_list<E: std::error::Error>(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    items: &[E],
) -> fmt::Result {
    let with_causes = |f: &mut fmt::Formatter<'_>, e: &E| {
        write!(f, "{e}")?;
        let mut cause = e.source();
        while let Some(next) = cause {
            write!(f, ": {next}")?;
            cause = next.source();
        }
        Ok(())
    };
    match items {
        [one] => {
            write!(f, "{what}: ")?;
            with_causes(f, one)
        }
        many => {
            write!(f, "{what}: {} problems", many.len())?;
            for e in many {
                write!(f, "\n  - ")?;
                with_causes(f, e)?;
            }
            Ok(())
        }
    }
}
