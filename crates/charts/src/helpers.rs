//! The vetted template helpers: one registry ([`HELPERS`]) from which the renderer registers
//! helpers and `docs/templates.md` gets its Helm/Sprig comparison table.
//!
//! No helper reads the environment, files or the network: each is a pure function of its
//! arguments. Handlebars' own `log` and `lookup`-style extras that are not listed are
//! removed from the registry.

use base64::Engine as _;
use handlebars::{
    BlockContext, BlockParams, Context, Handlebars, Helper, HelperDef, HelperResult, JsonTruthy,
    Output, RenderContext, RenderError, RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::{Map, Value};
use sha2::Digest as _;

/// A helper implementation: arguments in, value out, or a message saying what was wrong.
type HelperFn = fn(&[&Value]) -> Result<Value, String>;

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
struct Implementation {
    f: HelperFn,
    min_args: usize,
    max_args: Option<usize>,
    /// Arguments may be missing values (strict mode does not fire; they arrive as null).
    accepts_missing: bool,
}

/// The `Values` every [`HelperSpec::example`] is rendered with (JSON).
pub const EXAMPLE_VALUES: &str = r#"{"name": "web", "replicas": 2, "labels": {"app": "web", "tier": "front"}, "image": {"tag": "1.25"}, "ports": [80, 443]}"#;

const fn imp(f: HelperFn, min_args: usize, max_args: Option<usize>) -> Option<Implementation> {
    Some(Implementation {
        f,
        min_args,
        max_args,
        accepts_missing: false,
    })
}

const fn imp_missing_ok(f: HelperFn, min: usize, max: usize) -> Option<Implementation> {
    Some(Implementation {
        f,
        min_args: min,
        max_args: Some(max),
        accepts_missing: true,
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
        "YAML of any value, without the trailing newline; use with `indent`/`nindent`.",
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
        "VALUE unless it is missing or empty (null, false, 0, \"\", [] or {} — Sprig's rule, so `default 3 0` is 3), else DEFAULT. A missing VALUE is not a strict-mode error.",
        imp_missing_ok(default, 2, 2)
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
        imp_missing_ok(required, 2, 2)
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
        imp_missing_ok(has_key, 2, 2)
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

/// Adapter from a [`HelperFn`] to handlebars: arity and strict-mode checks, error wrapping.
struct Simple {
    name: &'static str,
    signature: &'static str,
    implementation: Implementation,
}

impl HelperDef for Simple {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let imp = &self.implementation;
        let n = h.params().len();
        if n < imp.min_args || imp.max_args.is_some_and(|max| n > max) {
            return Err(RenderErrorReason::Other(format!(
                "`{}` got {n} argument(s), expected `{}`",
                self.name, self.signature
            ))
            .into());
        }
        const NULL: Value = Value::Null;
        let mut args = Vec::with_capacity(n);
        for p in h.params() {
            if p.is_value_missing() {
                if !imp.accepts_missing {
                    return Err(RenderError::strict_error(p.relative_path()));
                }
                args.push(&NULL);
            } else {
                args.push(p.value());
            }
        }
        (imp.f)(&args)
            .map(ScopedJson::Derived)
            .map_err(|m| RenderErrorReason::Other(format!("`{}`: {m}", self.name)).into())
    }
}

/// `with` that treats a missing value like an empty one (skips the block) instead of a
/// strict-mode error, so `{{#with Values.x}}` guards like `{{#if}}`.
struct GuardingWith;

impl HelperDef for GuardingWith {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let param = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("with", 0))?;
        if param.is_value_missing() || !param.value().is_truthy(false) {
            return match h.inverse() {
                Some(t) => t.render(r, ctx, rc, out),
                None => Ok(()),
            };
        }
        let mut block = BlockContext::new();
        match param.context_path() {
            Some(path) => block.base_path_mut().clone_from(path),
            None => block.set_base_value(param.value().clone()),
        }
        if let Some(parent) = rc.block() {
            block
                .local_variables_mut()
                .clone_from(parent.local_variables());
        }
        if let Some(name) = h.block_param() {
            let mut params = BlockParams::new();
            params.add_value(name, param.value().clone())?;
            block.set_block_params(params);
        }
        rc.push_block(block);
        let result = h.template().map_or(Ok(()), |t| t.render(r, ctx, rc, out));
        rc.pop_block();
        result
    }
}

/// Sprig's emptiness: null, false, 0, "", [] and {} are empty.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// A scalar as text; maps and arrays need `toYaml`/`toJson` first.
fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Bool(_) | Value::Number(_) => Ok(v.to_string()),
        Value::Array(_) | Value::Object(_) => {
            Err("expected a string, got a list or map (convert it with toYaml or toJson)".into())
        }
    }
}

fn int(v: &Value) -> Result<i64, String> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| format!("expected an integer, got {v}"))
}

fn to_yaml(a: &[&Value]) -> Result<Value, String> {
    let s = serde_yaml::to_string(a[0]).map_err(|e| e.to_string())?;
    Ok(Value::String(s.trim_end_matches('\n').to_owned()))
}

fn to_json(a: &[&Value]) -> Result<Value, String> {
    serde_json::to_string(a[0])
        .map(Value::String)
        .map_err(|e| e.to_string())
}

fn indent_text(n: &Value, s: &Value) -> Result<String, String> {
    let n = usize::try_from(int(n)?).map_err(|_| "the indent must not be negative".to_owned())?;
    let pad = " ".repeat(n);
    Ok(format!(
        "{pad}{}",
        text(s)?.replace('\n', &format!("\n{pad}"))
    ))
}

fn indent(a: &[&Value]) -> Result<Value, String> {
    indent_text(a[0], a[1]).map(Value::String)
}

fn nindent(a: &[&Value]) -> Result<Value, String> {
    indent_text(a[0], a[1]).map(|s| Value::String(format!("\n{s}")))
}

fn default(a: &[&Value]) -> Result<Value, String> {
    Ok(if is_empty(a[1]) { a[0] } else { a[1] }.clone())
}

fn quote_each(a: &[&Value], q: fn(&str) -> String) -> Result<Value, String> {
    let parts = a
        .iter()
        .map(|v| text(v).map(|t| q(&t)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(" ")))
}

fn quote(a: &[&Value]) -> Result<Value, String> {
    quote_each(a, |t| Value::String(t.to_owned()).to_string())
}

fn squote(a: &[&Value]) -> Result<Value, String> {
    quote_each(a, |t| format!("'{}'", t.replace('\'', "''")))
}

fn required(a: &[&Value]) -> Result<Value, String> {
    match a[1] {
        Value::Null => Err(text(a[0])?),
        Value::String(s) if s.is_empty() => Err(text(a[0])?),
        v => Ok(v.clone()),
    }
}

fn b64enc(a: &[&Value]) -> Result<Value, String> {
    let s = text(a[0])?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    ))
}

fn b64dec(a: &[&Value]) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text(a[0])?.trim())
        .map_err(|e| format!("invalid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "decoded bytes are not UTF-8 text".into())
}

fn sha256sum(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(hex::encode(sha2::Sha256::digest(
        text(a[0])?.as_bytes(),
    ))))
}

fn lower(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(text(a[0])?.to_lowercase()))
}

fn upper(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(text(a[0])?.to_uppercase()))
}

fn trim(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(text(a[0])?.trim().to_owned()))
}

fn trunc(a: &[&Value]) -> Result<Value, String> {
    let n = int(a[0])?;
    let chars: Vec<char> = text(a[1])?.chars().collect();
    let len = i64::try_from(chars.len()).map_err(|e| e.to_string())?;
    let range = if n >= 0 {
        0..usize::try_from(n.min(len)).unwrap_or(0)
    } else {
        usize::try_from((len + n).max(0)).unwrap_or(0)..chars.len()
    };
    Ok(Value::String(chars[range].iter().collect()))
}

fn replace(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::String(
        text(a[2])?.replace(&text(a[0])?, &text(a[1])?),
    ))
}

fn contains(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(text(a[1])?.contains(&text(a[0])?)))
}

fn has_key(a: &[&Value]) -> Result<Value, String> {
    match a[0] {
        Value::Null => Ok(Value::Bool(false)),
        Value::Object(m) => Ok(Value::Bool(m.contains_key(&text(a[1])?))),
        other => Err(format!("expected a map, got {other}")),
    }
}

fn list(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Array(a.iter().map(|v| (*v).clone()).collect()))
}

fn dict(a: &[&Value]) -> Result<Value, String> {
    if a.len() % 2 != 0 {
        return Err("expected key/value pairs, got an odd number of arguments".into());
    }
    let mut m = Map::new();
    for pair in a.chunks(2) {
        let Value::String(k) = pair[0] else {
            return Err(format!("keys must be strings, got {}", pair[0]));
        };
        m.insert(k.clone(), pair[1].clone());
    }
    Ok(Value::Object(m))
}

fn join(a: &[&Value]) -> Result<Value, String> {
    let Value::Array(items) = a[1] else {
        return Err(format!("expected a list, got {}", a[1]));
    };
    let parts = items.iter().map(text).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(&text(a[0])?)))
}

fn len(a: &[&Value]) -> Result<Value, String> {
    match a[0] {
        Value::Array(v) => Ok(v.len().into()),
        Value::Object(m) => Ok(m.len().into()),
        Value::String(s) => Ok(s.chars().count().into()),
        other => Err(format!("expected a list, map or string, got {other}")),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn eq(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(equal(a[0], a[1])))
}

fn ne(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(!equal(a[0], a[1])))
}

fn order(a: &[&Value]) -> Result<std::cmp::Ordering, String> {
    match (a[0], a[1]) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(|| "numbers are not comparable".into()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (x, y) => Err(format!(
            "can only compare two numbers or two strings, got {x} and {y}"
        )),
    }
}

fn lt(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_lt()))
}

fn le(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_le()))
}

fn gt(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_gt()))
}

fn ge(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(order(a)?.is_ge()))
}

fn and(a: &[&Value]) -> Result<Value, String> {
    let v = a.iter().find(|v| is_empty(v)).unwrap_or(&a[a.len() - 1]);
    Ok((*v).clone())
}

fn or(a: &[&Value]) -> Result<Value, String> {
    let v = a.iter().find(|v| !is_empty(v)).unwrap_or(&a[a.len() - 1]);
    Ok((*v).clone())
}

fn not(a: &[&Value]) -> Result<Value, String> {
    Ok(Value::Bool(is_empty(a[0])))
}

#[cfg(test)]
#[path = "helpers_tests.rs"]
mod tests;
