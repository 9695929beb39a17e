//! Helpers that need the registry or the render state rather than just their arguments:
//! `let` (Go template variables), `include` (Helm's named templates) and `tpl`.

use handlebars::{
    BlockContext, BlockParamHolder, Context, Handlebars, Helper, HelperDef, HelperResult, Output,
    RenderContext, RenderError, RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::{Map, Value};

/// Key of the render context under which `setVar` keeps its variables.
const VARS_KEY: &str = "__addon_operator_vars";

/// Argument `i` as a string (a name, or a template: for `tpl` null is the empty template).
fn text_arg<'a>(
    h: &'a Helper<'_>,
    i: usize,
    helper: &'static str,
    what: &'static str,
) -> Result<&'a str, RenderError> {
    match h.param(i).map(|p| p.value()) {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Null) if helper == "tpl" => Ok(""),
        _ => {
            Err(
                RenderErrorReason::ParamTypeMismatchForName(helper, what.into(), "a string".into())
                    .into(),
            )
        }
    }
}

/// Argument `i` as the context of a nested render (null when absent).
fn context_arg(h: &Helper<'_>, i: usize) -> Result<Context, RenderError> {
    Context::wraps(h.param(i).map_or(Value::Null, |p| p.value().clone()))
}

/// Renders the helper's block inside `block`, then leaves it.
pub(crate) fn render_in_block<'reg: 'rc, 'rc>(
    block: BlockContext<'rc>,
    h: &Helper<'rc>,
    r: &'reg Handlebars<'reg>,
    ctx: &'rc Context,
    rc: &mut RenderContext<'reg, 'rc>,
    out: &mut dyn Output,
) -> HelperResult {
    rc.push_block(block);
    let result = h.template().map_or(Ok(()), |t| t.render(r, ctx, rc, out));
    rc.pop_block();
    result
}

/// The current block (same `this`, `@index` and outer parameters) with each `NAME=VALUE` of
/// the helper's hash added as block parameter NAME.
pub(crate) fn block_with_hash<'rc>(
    h: &Helper<'rc>,
    rc: &RenderContext<'_, 'rc>,
) -> BlockContext<'rc> {
    let mut block = rc.block().cloned().unwrap_or_default();
    for (name, value) in h.hash() {
        block.set_block_param(name, BlockParamHolder::value(value.value().clone()));
    }
    block
}

/// `{{#let NAME=VALUE…}}…{{/let}}`: the body sees each VALUE as block parameter NAME, with
/// the same `this`, `@index` and outer parameters as around the block. This is how a
/// converted Go variable (`$x := …`) lives until the end of its scope.
pub(crate) struct Let;

impl HelperDef for Let {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        render_in_block(block_with_hash(h, rc), h, r, ctx, rc, out)
    }
}

/// `include NAME CONTEXT`: renders the partial (or template) NAME with CONTEXT as its whole
/// context (`this` and `@root`), and returns the text, so it can be piped to `nindent`,
/// `sha256sum` or `fromYaml` as in Helm.
pub(crate) struct Include;

impl HelperDef for Include {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = text_arg(h, 0, "include", "NAME")?;
        // `include "x" .` at the top and `include "x" $` pass the whole root: render with it
        // as it is instead of copying it (the common case, and a copy of all values).
        let whole_root = h
            .param(1)
            .is_some_and(|p| p.context_path().is_some_and(Vec::is_empty));
        let text = match rc.context() {
            Some(modified) if whole_root => r.render_with_context(name, &modified)?,
            None if whole_root => r.render_with_context(name, ctx)?,
            _ => r.render_with_context(name, &context_arg(h, 1)?)?,
        };
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

/// `tpl TEMPLATE CONTEXT`: renders the handlebars text TEMPLATE (typically from values) with
/// CONTEXT, with the module's partials and helpers.
pub(crate) struct Tpl;

impl HelperDef for Tpl {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let text = text_arg(h, 0, "tpl", "TEMPLATE")?;
        let rendered = r
            .render_template_with_context(text, &context_arg(h, 1)?)
            .map_err(|e| match e.reason() {
                // The parser's message quotes the text, which is a value: say only where.
                RenderErrorReason::TemplateError(t) => {
                    let at = t
                        .pos()
                        .map_or_else(String::new, |(l, c)| format!(" at line {l}, column {c} of it"));
                    RenderErrorReason::Other(format!(
                        "`tpl`: TEMPLATE is not valid handlebars{at} (values passed to `tpl` hold handlebars, e.g. `{{{{Release.Name}}}}`)"
                    ))
                    .into()
                }
                _ => e,
            })?;
        Ok(ScopedJson::Derived(Value::String(rendered)))
    }
}

/// `root`: the whole context of the current render (Go's `$`). Handlebars' `@root` works in
/// paths (`@root.Values.x`) but not as an argument on its own, so `include "x" $` converts to
/// `include "x" (root)`.
pub(crate) struct Root;

impl HelperDef for Root {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        Ok(ScopedJson::Context(ctx.data(), Vec::new()))
    }
}

/// `{{setVar NAME VALUE}}`: sets render variable NAME, which `var NAME` reads anywhere later in
/// the same render (also after the block that set it ends). This is how a converted Go
/// variable that a nested block assigns (`$found = true` inside `range`) keeps its new value.
/// Writes nothing.
pub(crate) struct SetVar;

impl HelperDef for SetVar {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        _: &mut dyn Output,
    ) -> HelperResult {
        let name = text_arg(h, 0, "setVar", "NAME")?.to_owned();
        let value = h.param(1).map_or(Value::Null, |p| p.value().clone());
        // The render context carries the variables, so they live exactly as long as this
        // render (an `include` starts a new one, as a Go `define` has its own variables).
        let mut data = rc
            .context()
            .map_or_else(|| ctx.data().clone(), |c| c.data().clone());
        if let Value::Object(root) = &mut data {
            let vars = root
                .entry(VARS_KEY)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(vars) = vars {
                vars.insert(name, value);
            }
        }
        rc.set_context(Context::wraps(data)?);
        Ok(())
    }
}

/// `var NAME`: the value `setVar` last gave NAME in this render (null before).
pub(crate) struct Var;

impl HelperDef for Var {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = text_arg(h, 0, "var", "NAME")?;
        let value = rc
            .context()
            .and_then(|c| c.data().get(VARS_KEY).and_then(|v| v.get(name)).cloned())
            .unwrap_or(Value::Null);
        Ok(ScopedJson::Derived(value))
    }
}

/// `sortKeys VALUE`: a map with its keys in sorted order (Go's `range` visits map keys sorted),
/// anything else unchanged. A list or an already sorted map from the render context is passed
/// on as that context value (no copy), so `{{#each (sortKeys Values.list)}}` iterates by path
/// like a plain `{{#each Values.list}}`.
pub(crate) struct SortKeys;

impl HelperDef for SortKeys {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let Some(param) = h.param(0) else {
            return Ok(ScopedJson::Derived(Value::Null));
        };
        let sorted = |v: &Value| match v {
            Value::Object(m) => m.keys().zip(m.keys().skip(1)).all(|(a, b)| a <= b),
            _ => true,
        };
        if rc.context().is_none()
            && let Some(path) = param.context_path()
            && let Some(value) = value_at(ctx.data(), path)
            && sorted(value)
        {
            return Ok(ScopedJson::Context(value, path.clone()));
        }
        Ok(ScopedJson::Derived(match param.value() {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), m[k].clone()))
                        .collect(),
                )
            }
            other => other.clone(),
        }))
    }
}

/// The value at a context path (map keys and list positions) under `root`.
fn value_at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root, |node, segment| match node {
        Value::Object(m) => m.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}
