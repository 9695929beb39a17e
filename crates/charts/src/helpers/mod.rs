//! The vetted template helpers: one registry ([`HELPERS`]) from which the renderer registers
//! helpers and `docs/templates.md` gets its Helm/Sprig comparison table.
//!
//! No helper reads the environment, files or the network: each is a pure function of its
//! arguments. Handlebars' own `log` and `lookup`-style extras that are not listed are
//! removed from the registry.

mod adapters;
mod error;
mod funcs;

use handlebars::Handlebars;
use serde_json::Value;

use adapters::{GuardingWith, Simple};
use funcs::*;

pub use error::{ArgumentProblem, HelperCallError, HelperError};

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
    pub(crate) may_be_missing: Option<usize>,
}

/// The `Values` every [`HelperSpec::example`] is rendered with (JSON).
pub const EXAMPLE_VALUES: &str = r#"{"name": "web", "replicas": 2, "labels": {"app": "web", "tier": "front"}, "image": {"tag": "1.25"}, "ports": [80, 443]}"#;

const fn imp(f: HelperFn, min_args: usize, max_args: Option<usize>) -> Option<Implementation> {
    Some(Implementation {
        f,
        min_args,
        max_args,
        may_be_missing: None,
    })
}

/// Like [`imp`] with exactly `arity` arguments, of which the one at `missing` may be missing.
const fn imp_missing_ok(f: HelperFn, arity: usize, missing: usize) -> Option<Implementation> {
    Some(Implementation {
        f,
        min_args: arity,
        max_args: Some(arity),
        may_be_missing: Some(missing),
    })
}

macro_rules! spec {
    ($name:literal, $sig:literal, $helm:literal, $ex:literal, $out:literal, $desc:literal, $imp:expr) => {
        HelperSpec {
            name: $name,
            signature: $sig,
            helm: $helm,
            example: $ex,
            output: $out,
            description: $desc,
            implementation: $imp,
        }
    };
}

/// Every helper a template may use, in documentation order.
pub const HELPERS: &[HelperSpec] = &[
    spec!(
        "toYaml",
        "toYaml VALUE",
        "toYaml",
        "{{toYaml Values.labels}}",
        "app: web\ntier: front",
        "YAML of any value, without the trailing newline; use with `indent`/`nindent`. Strings a YAML 1.1 reader (kubectl) would take for a boolean, number or null (`off`, `yes`, `0777`) are quoted.",
        imp(to_yaml, 1, Some(1))
    ),
    spec!(
        "toJson",
        "toJson VALUE",
        "toJson",
        "{{toJson Values.labels}}",
        r#"{"app":"web","tier":"front"}"#,
        "Compact JSON of any value.",
        imp(to_json, 1, Some(1))
    ),
    spec!(
        "indent",
        "indent N STRING",
        "indent",
        r#"{{indent 2 "a: 1"}}"#,
        "  a: 1",
        "Prefixes every line (empty ones too, as Sprig does) with N spaces.",
        imp(indent, 2, Some(2))
    ),
    spec!(
        "nindent",
        "nindent N STRING",
        "nindent",
        "labels:{{nindent 2 (toYaml Values.labels)}}",
        "labels:\n  app: web\n  tier: front",
        "A newline, then `indent N STRING`.",
        imp(nindent, 2, Some(2))
    ),
    spec!(
        "default",
        "default DEFAULT VALUE",
        "default",
        "{{default 1 Values.missing}}",
        "1",
        "VALUE unless it is missing or empty (null, false, 0, \"\", [] or {} — Sprig's rule, so `default 3 0` is 3), else DEFAULT. A missing VALUE is not a strict-mode error; a missing DEFAULT is (a typo in the fallback must not render empty).",
        imp_missing_ok(default, 2, 1)
    ),
    spec!(
        "quote",
        "quote VALUE...",
        "quote",
        "{{quote Values.image.tag}}",
        "\"1.25\"",
        "Each value as a double-quoted YAML/JSON string (escapes `\"`, `\\`, control characters), space-separated; null is `\"\"`.",
        imp(quote, 1, None)
    ),
    spec!(
        "squote",
        "squote VALUE...",
        "squote",
        r#"{{squote "it's"}}"#,
        "'it''s'",
        "Each value single-quoted; unlike Sprig, `'` is doubled so the result is valid YAML.",
        imp(squote, 1, None)
    ),
    spec!(
        "required",
        "required MESSAGE VALUE",
        "required",
        r#"{{required "name is required" Values.name}}"#,
        "web",
        "VALUE, or a render error with MESSAGE (and template, line) when it is missing, null or \"\".",
        imp_missing_ok(required, 2, 1)
    ),
    spec!(
        "b64enc",
        "b64enc STRING",
        "b64enc",
        r#"{{b64enc "admin"}}"#,
        "YWRtaW4=",
        "Standard base64 (with padding), e.g. for Secret `data`.",
        imp(b64enc, 1, Some(1))
    ),
    spec!(
        "b64dec",
        "b64dec STRING",
        "b64dec",
        r#"{{b64dec "YWRtaW4="}}"#,
        "admin",
        "Decodes standard base64; invalid input or non-UTF-8 result is an error (Sprig returns an error string).",
        imp(b64dec, 1, Some(1))
    ),
    spec!(
        "sha256sum",
        "sha256sum STRING",
        "sha256sum",
        r#"{{sha256sum "abc"}}"#,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "Lower-case hex SHA-256, e.g. a checksum annotation that rolls pods on config change.",
        imp(sha256sum, 1, Some(1))
    ),
    spec!(
        "lower",
        "lower STRING",
        "lower",
        r#"{{lower "ABC"}}"#,
        "abc",
        "Lower-case.",
        imp(lower, 1, Some(1))
    ),
    spec!(
        "upper",
        "upper STRING",
        "upper",
        r#"{{upper "abc"}}"#,
        "ABC",
        "Upper-case.",
        imp(upper, 1, Some(1))
    ),
    spec!(
        "trim",
        "trim STRING",
        "trim",
        r#"{{trim "  a  "}}"#,
        "a",
        "Removes leading and trailing whitespace.",
        imp(trim, 1, Some(1))
    ),
    spec!(
        "trunc",
        "trunc N STRING",
        "trunc",
        r#"{{trunc 3 "abcdef"}}"#,
        "abc",
        "First N characters; a negative N keeps the last -N (as Sprig). Counts characters, not bytes.",
        imp(trunc, 2, Some(2))
    ),
    spec!(
        "replace",
        "replace OLD NEW STRING",
        "replace",
        r#"{{replace "." "-" "a.b.c"}}"#,
        "a-b-c",
        "Replaces every OLD with NEW (Sprig's argument order).",
        imp(replace, 3, Some(3))
    ),
    spec!(
        "contains",
        "contains SUBSTRING STRING",
        "contains",
        r#"{{contains "we" Values.name}}"#,
        "true",
        "Whether STRING contains SUBSTRING.",
        imp(contains, 2, Some(2))
    ),
    spec!(
        "hasKey",
        "hasKey MAP KEY",
        "hasKey",
        r#"{{hasKey Values.labels "app"}}"#,
        "true",
        "Whether MAP has KEY; a missing or null MAP gives false (no strict-mode error).",
        imp_missing_ok(has_key, 2, 0)
    ),
    spec!(
        "list",
        "list VALUE...",
        "list",
        r#"{{toJson (list 1 "a")}}"#,
        r#"[1,"a"]"#,
        "An array of the arguments.",
        imp(list, 0, None)
    ),
    spec!(
        "dict",
        "dict KEY VALUE...",
        "dict",
        r#"{{toJson (dict "a" 1 "b" true)}}"#,
        r#"{"a":1,"b":true}"#,
        "A map from key/value pairs; keys must be strings.",
        imp(dict, 0, None)
    ),
    spec!(
        "join",
        "join SEPARATOR LIST",
        "join",
        r#"{{join "," Values.ports}}"#,
        "80,443",
        "Joins the items of LIST (scalars) with SEPARATOR.",
        imp(join, 2, Some(2))
    ),
    spec!(
        "len",
        "len VALUE",
        "len",
        "{{len Values.ports}}",
        "2",
        "Number of items of an array or map, or characters of a string.",
        imp(len, 1, Some(1))
    ),
    spec!(
        "eq",
        "eq A B",
        "eq",
        "{{eq Values.replicas 2}}",
        "true",
        "Equality (numbers compare by value: `eq 2 2.0`). Use as `{{#if (eq a b)}}`.",
        imp(eq, 2, Some(2))
    ),
    spec!(
        "ne",
        "ne A B",
        "ne",
        r#"{{ne Values.name "api"}}"#,
        "true",
        "Inequality.",
        imp(ne, 2, Some(2))
    ),
    spec!(
        "lt",
        "lt A B",
        "lt",
        "{{lt Values.replicas 3}}",
        "true",
        "A < B for two numbers or two strings.",
        imp(lt, 2, Some(2))
    ),
    spec!(
        "le",
        "le A B",
        "le",
        "{{le Values.replicas 2}}",
        "true",
        "A ≤ B.",
        imp(le, 2, Some(2))
    ),
    spec!(
        "gt",
        "gt A B",
        "gt",
        "{{gt Values.replicas 1}}",
        "true",
        "A > B.",
        imp(gt, 2, Some(2))
    ),
    spec!(
        "ge",
        "ge A B",
        "ge",
        "{{ge Values.replicas 3}}",
        "false",
        "A ≥ B.",
        imp(ge, 2, Some(2))
    ),
    spec!(
        "and",
        "and VALUE...",
        "and",
        r#"{{and Values.replicas Values.name}}"#,
        "web",
        "The first empty argument, else the last (Go's `and`); emptiness as in `default`.",
        imp(and, 1, None)
    ),
    spec!(
        "or",
        "or VALUE...",
        "or",
        r#"{{or "" Values.name}}"#,
        "web",
        "The first non-empty argument, else the last (Go's `or`).",
        imp(or, 1, None)
    ),
    spec!(
        "not",
        "not VALUE",
        "not",
        "{{not Values.replicas}}",
        "false",
        "Whether VALUE is empty.",
        imp(not, 1, Some(1))
    ),
    spec!(
        "if",
        "{{#if VALUE}}…{{else}}…{{/if}}",
        "{{if}} … {{else}} … {{end}}",
        "{{#if Values.missing}}yes{{else}}no{{/if}}",
        "no",
        "Block shown when VALUE is non-empty. VALUE may be missing (a guard, not a strict-mode error).",
        None
    ),
    spec!(
        "unless",
        "{{#unless VALUE}}…{{/unless}}",
        "{{if not …}}",
        "{{#unless Values.missing}}no value{{/unless}}",
        "no value",
        "Inverse of `if`; VALUE may be missing.",
        None
    ),
    spec!(
        "with",
        "{{#with VALUE}}…{{else}}…{{/with}}",
        "{{with}} … {{end}}",
        "{{#with Values.image}}tag={{tag}}{{/with}}",
        "tag=1.25",
        "Block with VALUE as context when non-empty; a missing VALUE skips the block (guard).",
        None
    ),
    spec!(
        "each",
        "{{#each LIST}}…{{/each}}",
        "{{range}} … {{end}}",
        "{{#each Values.ports}}[{{@index}}:{{this}}]{{/each}}",
        "[0:80][1:443]",
        "Iterates an array or map (`@index`, `@key`, `this`, `@root`). A missing LIST is an error: guard with `if`.",
        None
    ),
    spec!(
        "lookup",
        "lookup MAP KEY",
        "index",
        r#"{{lookup Values.labels "tier"}}"#,
        "front",
        "Item of a map or array by a computed key. Unlike Helm's `lookup` it never reads the cluster.",
        None
    ),
    spec!(
        "raw",
        "{{{{raw}}}}…{{{{/raw}}}}",
        "{{`…`}}",
        "{{{{raw}}}}{{ $labels.job }}{{{{/raw}}}}",
        "{{ $labels.job }}",
        "Outputs its content unrendered, e.g. Prometheus or Alertmanager templates.",
        None
    ),
    spec!(
        ">",
        "{{> NAME}} or {{> NAME key=VALUE}}",
        "include \"NAME\" .",
        "",
        "",
        "Renders partial `templates/_NAME.hbs` (or `_NAME.tpl`) with the current context plus the given keys. On a line of its own the partial is indented like the `{{>` tag, so no `nindent` is needed.",
        None
    ),
];

/// Registers every helper of [`HELPERS`] on `hb` and removes handlebars built-ins that are
/// not in it.
pub fn register_all(hb: &mut Handlebars<'_>) {
    for unvetted in ["log", "lte", "gte"] {
        hb.unregister_helper(unvetted);
    }
    hb.register_helper("with", Box::new(GuardingWith));
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
