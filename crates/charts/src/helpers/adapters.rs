//! Adapters between helper functions and handlebars' `HelperDef`.

use handlebars::{
    BlockContext, BlockParams, Context, Handlebars, Helper, HelperDef, HelperResult, JsonTruthy,
    Output, RenderContext, RenderError, RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::Value;

use super::blocks::render_in_block;
use super::error::{HelperCallError, HelperError};
use super::{ANY_ARGUMENT, Implementation};

/// Adapter from a [`super::HelperFn`] to handlebars: arity and strict-mode checks, and errors
/// wrapped as a [`HelperCallError`] (naming the helper and its usage) that the renderer finds
/// again in handlebars' `NestedError`.
pub(crate) struct Simple {
    pub(crate) name: &'static str,
    pub(crate) signature: &'static str,
    pub(crate) implementation: Implementation,
}

impl HelperDef for Simple {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let imp = &self.implementation;
        let n = h.params().len();
        if n < imp.min_args || imp.max_args.is_some_and(|max| n > max) {
            return Err(self.fail(HelperError::Arity { got: n }));
        }
        const NULL: Value = Value::Null;
        let mut args = Vec::with_capacity(n);
        for (i, p) in h.params().iter().enumerate() {
            if p.is_value_missing() {
                // Helm mode (not strict): a missing value is null, as Helm's missing keys.
                let allowed = !r.strict_mode()
                    || matches!(imp.may_be_missing, Some(m) if m == i || m == ANY_ARGUMENT);
                if !allowed {
                    return Err(RenderError::strict_error(p.relative_path()));
                }
                args.push(&NULL);
            } else {
                args.push(p.value());
            }
        }
        (imp.f)(&args)
            .map(ScopedJson::Derived)
            .map_err(|error| self.fail(error))
    }
}

impl Simple {
    fn fail(&self, error: HelperError) -> RenderError {
        RenderErrorReason::NestedError(Box::new(HelperCallError {
            helper: self.name,
            usage: self.signature,
            error,
        }))
        .into()
    }
}

/// `with` that treats a missing value like an empty one (skips the block) instead of a
/// strict-mode error, so `{{#with Values.x}}` guards like `{{#if}}`.
pub(crate) struct GuardingWith;

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
        render_in_block(block, h, r, ctx, rc, out)
    }
}
