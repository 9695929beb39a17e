//! The vetted template helpers: one registry ([`HELPERS`]) from which the renderer registers
//! helpers and `docs/templates.md` gets its Helm/Sprig comparison table.
//!
//! No helper reads the environment, files or the network: each is a pure function of its
//! arguments. Handlebars' own `log` and `lookup`-style extras that are not listed are
//! removed from the registry.

mod adapters;
mod blocks;
mod error;
mod format;
mod funcs;
mod registry;
mod sprig;

use handlebars::Handlebars;
use serde_json::Value;

use adapters::{GuardingWith, Simple};

pub(crate) use blocks::block_with_hash;
pub use error::{ArgumentProblem, HelperCallError, HelperError};
pub use registry::HELPERS;

/// A helper implementation: arguments in, value out, or what was wrong with them.
pub(crate) type HelperFn = fn(&[&Value]) -> Result<Value, HelperError>;

/// One template helper as documented and registered.
#[derive(Debug, Clone, Copy)]
pub struct HelperSpec {
    /// Name used in templates.
    pub name: &'static str,
    /// Call form, e.g. `indent N STRING`.
    pub signature: &'static str,
    /// The Helm/Sprig function (or Go template construct) it replaces.
    pub helm: &'static str,
    /// A template using it; rendered by a test against [`EXAMPLE_VALUES`].
    pub example: &'static str,
    /// What `example` renders to.
    pub output: &'static str,
    /// What it does and how it differs from Helm.
    pub description: &'static str,
    /// `None` for handlebars built-ins (block helpers and partials).
    implementation: Option<Implementation>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Implementation {
    pub(crate) f: HelperFn,
    pub(crate) min_args: usize,
    pub(crate) max_args: Option<usize>,
    /// Index of the one argument that may be a missing value (it arrives as null and strict
    /// mode does not fire): the value being asked about, never a fallback or message.
    /// [`ANY_ARGUMENT`] lets every argument be missing (`coalesce`, `empty`).
    pub(crate) may_be_missing: Option<usize>,
}

/// [`Implementation::may_be_missing`] value for "any argument".
pub(crate) const ANY_ARGUMENT: usize = usize::MAX;

/// The `Values` every [`HelperSpec::example`] is rendered with (JSON).
pub const EXAMPLE_VALUES: &str = r#"{"name": "web", "replicas": 2, "labels": {"app": "web", "tier": "front"}, "image": {"tag": "1.25"}, "ports": [80, 443]}"#;

pub(crate) const fn imp(
    f: HelperFn,
    min_args: usize,
    max_args: Option<usize>,
) -> Option<Implementation> {
    implementation(f, min_args, max_args, None)
}

/// Like [`imp`] with exactly `arity` arguments, of which the one at `missing` may be missing.
pub(crate) const fn imp_missing_ok(
    f: HelperFn,
    arity: usize,
    missing: usize,
) -> Option<Implementation> {
    implementation(f, arity, Some(arity), Some(missing))
}

/// Like [`imp`], with any argument allowed to be missing.
pub(crate) const fn imp_any_missing(
    f: HelperFn,
    min_args: usize,
    max_args: Option<usize>,
) -> Option<Implementation> {
    implementation(f, min_args, max_args, Some(ANY_ARGUMENT))
}

const fn implementation(
    f: HelperFn,
    min_args: usize,
    max_args: Option<usize>,
    may_be_missing: Option<usize>,
) -> Option<Implementation> {
    Some(Implementation {
        f,
        min_args,
        max_args,
        may_be_missing,
    })
}

/// Registers every helper of [`HELPERS`] on `hb` and removes handlebars built-ins that are
/// not in it.
pub fn register_all(hb: &mut Handlebars<'_>) {
    for unvetted in ["log", "lte", "gte"] {
        hb.unregister_helper(unvetted);
    }
    hb.register_helper("with", Box::new(GuardingWith));
    hb.register_helper("let", Box::new(blocks::Let));
    hb.register_helper("include", Box::new(blocks::Include));
    hb.register_helper("tpl", Box::new(blocks::Tpl));
    hb.register_helper("root", Box::new(blocks::Root));
    hb.register_helper("setVar", Box::new(blocks::SetVar));
    hb.register_helper("var", Box::new(blocks::Var));
    hb.register_helper("sortKeys", Box::new(blocks::SortKeys));
    for spec in HELPERS {
        if let Some(implementation) = spec.implementation {
            hb.register_helper(
                spec.name,
                Box::new(Simple {
                    name: spec.name,
                    signature: spec.signature,
                    implementation,
                }),
            );
        }
    }
}

/// The Markdown table of [`HELPERS`] that `docs/templates.md` embeds.
pub fn helpers_markdown_table() -> String {
    let mut out = String::from(
        "| Helper | Usage | Helm/Sprig | Example | Output | Notes |\n|---|---|---|---|---|---|\n",
    );
    for s in HELPERS {
        let cell = |t: &str| t.replace('|', "\\|").replace('\n', "\\n");
        let code = |t: &str| {
            if t.is_empty() {
                String::new()
            } else {
                format!("`{}`", cell(t))
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            s.name,
            code(s.signature),
            code(s.helm),
            code(s.example),
            code(s.output),
            cell(s.description)
        ));
    }
    out
}

#[cfg(test)]
mod tests;
