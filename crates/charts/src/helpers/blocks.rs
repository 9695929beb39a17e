//! Helpers that need the registry or the render state rather than just their arguments:
//! `let` (Go template variables), `include` (Helm's named templates) and `tpl`.

use handlebars::{
    BlockParamHolder, Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::Value;

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
        let mut block = rc.block().cloned().unwrap_or_default();
        for (name, value) in h.hash() {
            block.set_block_param(name, BlockParamHolder::value(value.value().clone()));
        }
        rc.push_block(block);
        let result = h.template().map_or(Ok(()), |t| t.render(r, ctx, rc, out));
        rc.pop_block();
        result
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
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = h.param(0).and_then(|p| p.value().as_str()).ok_or(
            RenderErrorReason::ParamTypeMismatchForName(
                "include",
                "NAME".into(),
                "a string".into(),
            ),
        )?;
        let data = h.param(1).map_or(Value::Null, |p| p.value().clone());
        let text = r.render_with_context(name, &Context::wraps(data)?)?;
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
        let template = h.param(0).map_or(Value::Null, |p| p.value().clone());
        let text = match template {
            Value::String(s) => s,
            Value::Null => String::new(),
            _ => {
                return Err(RenderErrorReason::ParamTypeMismatchForName(
                    "tpl",
                    "TEMPLATE".into(),
                    "a string".into(),
                )
                .into());
            }
        };
        let data = h.param(1).map_or(Value::Null, |p| p.value().clone());
        let rendered = r.render_template_with_context(&text, &Context::wraps(data)?)?;
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
