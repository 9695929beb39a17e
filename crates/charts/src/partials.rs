//! Partial calls (`{{> labels name="x"}}`) without copying the render context.
//!
//! Handlebars renders a partial with a context made by copying the caller's whole context and
//! adding the hash arguments: at the top of a template that is a deep copy of `Values`,
//! `Release`, `Chart` and `Capabilities` for every call, and every lookup inside the partial
//! then copies what it finds. For a module that prints labels through a partial in each
//! object, those copies cost more than rendering everything else. So when every partial call
//! of a module names its partial and passes only `key=value` arguments, and no partial looks
//! at its context as a whole (`this`, `./`, `../`, `@partial-block`, inline partials), the
//! compiled templates get each call replaced by the [`PartialCall`] helper: it renders the
//! partial in a block that sees the caller's context where it is and the arguments as block
//! parameters, which is how handlebars resolves a plain name inside a partial too (block
//! parameters first). Compiling stays handlebars' own (standalone lines, line numbers), and
//! the text is the same up to the indentation of whitespace-only lines, which YAML reads
//! alike. A module that does not qualify keeps handlebars' partials.

use handlebars::template::{ExpressionSpecBuilder, Parameter, Template, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderErrorReason,
    Renderable, StringOutput, TemplateError,
};
use serde_json::Value;

/// The helper name calls are compiled to; not a name a template can use (helper names in
/// [`crate::HELPERS`] are lowerCamel words).
pub(crate) const HELPER: &str = "__addon_operator_partial";

/// Whether a partial's text can be rendered by [`PartialCall`]: it reads its context only
/// by names.
pub(crate) fn eligible(partial: &str) -> bool {
    ![
        "this",
        "./",
        "{{.",
        "{{~.",
        "@partial-block",
        "{{#*inline",
        "{{#>",
        "{{~#>",
    ]
    .iter()
    .any(|needle| partial.contains(needle))
}

/// Compiles `source` as template `name`, as the registry would; with `fast`, every partial
/// call becomes a [`PartialCall`].
///
/// # Errors
/// The template does not compile (`Ok(None)`: with `fast`, a partial call of another form).
pub(crate) fn compile(
    name: &str,
    source: &str,
    fast: bool,
) -> Result<Option<Template>, TemplateError> {
    let mut template = Template::compile_with_name(source, name.to_owned())?;
    Ok((!fast || rewrite(&mut template.elements)).then_some(template))
}

/// Replaces the partial calls among `elements` (recursively); false if one cannot be.
fn rewrite(elements: &mut [TemplateElement]) -> bool {
    for i in 0..elements.len() {
        // A call on a line of its own follows a line break (or starts its block): handlebars
        // indents its first line too.
        let before = elements[..i]
            .iter()
            .rev()
            .find(|e| !matches!(e, TemplateElement::RawString(t) if t.is_empty()));
        let at_line_start = match before {
            None => true,
            Some(TemplateElement::RawString(text)) => text.ends_with('\n'),
            Some(_) => false,
        };
        let call = match &mut elements[i] {
            TemplateElement::PartialExpression(d) => {
                let name = match &d.name {
                    Parameter::Name(name) if d.params.is_empty() && d.template.is_none() => name,
                    _ => return false,
                };
                let indent = d.indent.clone().unwrap_or_default();
                let spec = ExpressionSpecBuilder::default()
                    .name(Parameter::Name(HELPER.to_owned()))
                    .params(vec![
                        Parameter::Literal(Value::String(name.clone())),
                        Parameter::Literal(Value::String(indent)),
                        Parameter::Literal(Value::Bool(at_line_start)),
                    ])
                    .hash(std::mem::take(&mut d.hash))
                    .omit_pre_ws(false)
                    .omit_pro_ws(false)
                    .build();
                match spec {
                    Ok(spec) => spec,
                    Err(_) => return false,
                }
            }
            TemplateElement::PartialBlock(_) => return false,
            TemplateElement::HelperBlock(h) => {
                let nested = [h.template.as_mut(), h.inverse.as_mut()];
                if !nested
                    .into_iter()
                    .flatten()
                    .all(|t| rewrite(&mut t.elements))
                {
                    return false;
                }
                continue;
            }
            TemplateElement::DecoratorBlock(d) => {
                if let Some(t) = d.template.as_mut()
                    && !rewrite(&mut t.elements)
                {
                    return false;
                }
                continue;
            }
            _ => continue,
        };
        elements[i] = TemplateElement::Expression(Box::new(
            handlebars::template::HelperTemplate::new(call, false, false),
        ));
    }
    true
}

/// `{{__addon_operator_partial "NAME" "INDENT" FIRST key=value…}}`: renders partial NAME
/// where the call is, with each `key` as a block parameter, and writes it with INDENT before
/// every line that has text (the first one only if FIRST: the call starts its line).
pub(crate) struct PartialCall;

impl HelperDef for PartialCall {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let text = |i: usize| {
            h.param(i)
                .and_then(|p| p.value().as_str())
                .unwrap_or_default()
        };
        let (name, indent) = (text(0), text(1));
        let first = h.param(2).and_then(|p| p.value().as_bool()).unwrap_or(true);
        let partial = r
            .get_template(name)
            .ok_or_else(|| RenderErrorReason::PartialNotFound(name.to_owned()))?;
        if rc.is_current_template(name) {
            return Err(RenderErrorReason::CannotIncludeSelf.into());
        }
        let block = crate::helpers::block_with_hash(h, rc);
        let caller = rc.get_current_template_name();
        let mut buffer = StringOutput::new();
        rc.push_block(block);
        let result = partial.render(r, ctx, rc, &mut buffer);
        rc.pop_block();
        rc.set_current_template_name(caller);
        result?;
        let rendered = buffer.into_string()?;
        if indent.is_empty() {
            out.write(&rendered)?;
        } else {
            for (i, line) in rendered.split_inclusive('\n').enumerate() {
                if line != "\n" && (i > 0 || first) {
                    out.write(indent)?;
                }
                out.write(line)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry(partials: &[(&str, &str)], template: &str, fast: bool) -> Handlebars<'static> {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(handlebars::no_escape);
        hb.set_strict_mode(true);
        crate::helpers::register_all(&mut hb);
        hb.register_helper(HELPER, Box::new(PartialCall));
        for (name, text) in partials.iter().chain([&("t", template)]) {
            hb.register_template(name, compile(name, text, fast).unwrap().unwrap());
        }
        hb
    }

    /// Handlebars' partials and the helper give the same text.
    fn same(partials: &[(&str, &str)], template: &str) {
        assert!(partials.iter().all(|(_, p)| eligible(p)));
        let data = json!({"Values": {"name": "web", "tag": "1.2", "list": [{"name": "a"}, {"name": "b"}],
            "labels": {"app": "web", "tier": "front"}}, "Release": {"Name": "rel"}});
        let slow = registry(partials, template, false)
            .render("t", &data)
            .unwrap();
        let fast = registry(partials, template, true)
            .render("t", &data)
            .unwrap();
        assert_eq!(fast, slow, "template:\n{template}");
    }

    #[test]
    fn standalone_inline_nested_and_looped_partials_render_as_handlebars_renders_them() {
        let labels = (
            "labels",
            "app: {{name}}\nrelease: {{@root.Release.Name}}\ntag: {{Values.tag}}\n",
        );
        same(
            &[labels],
            "metadata:\n  labels:\n    {{> labels name=\"x\"}}\nspec: 1\n",
        );
        same(&[labels], "  {{> labels name=Values.name}}\n");
        same(&[labels], "{{> labels name='q'}}");
        same(
            &[labels],
            "x:\n  {{> labels name=1}}\n  {{> labels name=2}}{{> labels name=3}}\n  {{> labels name=(quote \"a\")}}",
        );
        same(
            &[("one", "{{name}}")],
            "name: {{> one name=\"inline\"}} and more\n",
        );
        same(
            &[
                ("item", "- {{name}}\n"),
                (
                    "list",
                    "items:\n{{#each Values.list}}\n  {{> item name=name}}\n{{/each}}\n",
                ),
            ],
            "spec:\n  {{> list}}\n{{#if Values.tag}}\n  {{> list}}\n{{/if}}\n",
        );
        same(
            &[
                labels,
                ("one", "{{name}}"),
                ("outer", "meta:\n  {{> labels name=name}}\nend: {{name}}\n"),
            ],
            "a:\n    {{> outer name=\"o\"}}\nb: {{#each Values.list}}{{> one name=name}}{{/each}}\n",
        );
        same(
            &[("ctx", "{{@root.Values.labels.app}}-{{name}}-{{@index}}\n")],
            "{{#each Values.list}}\n{{> ctx name=\"n\"}}\n{{/each}}",
        );
    }

    #[test]
    fn a_missing_value_inside_a_partial_fails_as_with_handlebars_partials() {
        let partials = [("p", "a: 1\nb: {{Values.nope}}\n")];
        let template = "x:\n  {{> p k=1}}\n";
        let data = json!({"Values": {}});
        let slow = registry(&partials, template, false)
            .render("t", &data)
            .unwrap_err();
        let fast = registry(&partials, template, true)
            .render("t", &data)
            .unwrap_err();
        assert_eq!(
            (
                fast.template_name.clone(),
                fast.line_no,
                fast.column_no,
                fast.reason().to_string()
            ),
            (
                slow.template_name.clone(),
                slow.line_no,
                slow.column_no,
                slow.reason().to_string()
            )
        );
    }

    #[test]
    fn other_forms_keep_handlebars_partials() {
        for text in ["{{> labels Values}}", "{{#> layout}}x{{/layout}}"] {
            assert!(compile("t", text, true).unwrap().is_none(), "{text}");
        }
        assert!(!eligible("{{this.name}}"));
        assert!(!eligible("{{../name}}"));
        assert!(!eligible("{{> @partial-block}}"));
    }
}
