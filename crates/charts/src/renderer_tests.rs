use std::fs;
use std::path::Path;

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::discovery::discover;
use crate::helpers::{ArgumentProblem, HelperError};

/// A module set in a fresh temp dir with one module `010-demo` holding `files`.
fn module(files: &[(&str, &str)]) -> (tempfile::TempDir, Module) {
    let d = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = d.path().join("010-demo").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fs::create_dir_all(d.path().join("010-demo")).unwrap();
    let set = discover(&[d.path().to_path_buf()]).unwrap();
    let m = set.modules()[0].clone();
    (d, m)
}

fn vals() -> Value {
    json!({"global": {"clusterName": "dev"}, "demo": {"replicas": 2, "name": "web"}})
}

fn render_ok(m: &Module) -> Vec<RenderedObject> {
    render(m, &vals(), "ops", &ResourceScopes::builtin()).unwrap_or_else(|e| panic!("{e}"))
}

fn render_err(m: &Module) -> RenderErrors {
    render(m, &vals(), "ops", &ResourceScopes::builtin()).unwrap_err()
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Values.demo.name}}\n";

#[test]
fn context_exposes_values_release_and_chart() {
    let (_d, m) = module(&[
        (
            "Chart.yaml",
            "name: demo-chart\nversion: 2.0.0\nappVersion: \"9\"\n",
        ),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Release.Name}}\n  namespace: {{Release.Namespace}}-x\n  labels: {heritage: {{Release.Service}}}\ndata:\n  chart: {{Chart.Name}}-{{Chart.Version}}-{{Chart.AppVersion}}\n  cluster: {{Values.global.clusterName}}\n  replicas: {{quote Values.demo.replicas}}\n",
        ),
    ]);
    let objs = render_ok(&m);
    assert_eq!(
        objs[0].object,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "demo", "namespace": "ops-x", "labels": {"heritage": "addon-operator"}},
            "data": {"chart": "demo-chart-2.0.0-9", "cluster": "dev", "replicas": "2"}})
    );
    assert_eq!(objs[0].source, "demo/templates/cm.yaml");
}

#[test]
fn documents_are_split_empty_ones_dropped_and_order_kept() {
    let doc = |n: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}\n");
    let (_d, m) = module(&[
        (
            "templates/a.yaml",
            &format!(
                "---\n{}---\n# just a comment\n---\n{}\n---\n",
                doc("a1"),
                doc("a2")
            ),
        ),
        (
            "templates/b.yaml",
            &format!("{{{{#if Values.demo.off}}}}{}{{{{/if}}}}\n", doc("never")),
        ),
        ("templates/c.yaml", &doc("c1")),
    ]);
    let names: Vec<_> = render_ok(&m)
        .iter()
        .map(|o| {
            (
                o.source.clone(),
                o.object["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("demo/templates/a.yaml".into(), "a1".into()),
            ("demo/templates/a.yaml".into(), "a2".into()),
            ("demo/templates/c.yaml".into(), "c1".into())
        ]
    );
}

#[test]
fn missing_value_error_names_template_line_column_and_path() {
    let (_d, m) = module(&[(
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Values.demo.nope}}\n",
    )]);
    let e = render_err(&m);
    assert_eq!(
        e.errors,
        vec![RenderError::Template {
            file: "demo/templates/cm.yaml".into(),
            line: Some(4),
            column: Some(9),
            message: "missing value `Values.demo.nope` (strict mode: guard it with {{#if}} or give a {{default}})".into()
        }]
    );
    assert!(
        e.to_string().starts_with(
            "module `demo`: demo/templates/cm.yaml:4:9: missing value `Values.demo.nope`"
        ),
        "{e}"
    );
}

#[test]
fn guarded_missing_values_render() {
    let (_d, m) = module(&[(
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{default \"d\" Values.demo.nope}}\n{{#if Values.demo.extra}}  b: {{Values.demo.extra}}\n{{/if}}{{#with Values.demo.more}}  c: {{this}}\n{{/with}}",
    )]);
    assert_eq!(render_ok(&m)[0].object["data"], json!({"a": "d"}));
}

#[test]
fn strict_mode_in_blocks_defaults_and_partials_names_file_line_and_path() {
    let (_d, m) = module(&[
        (
            "templates/_p.hbs",
            "{{#if Values.demo.opt}}{{Values.demo.opt}}{{/if}}\n{{Values.demo.typo}}\n",
        ),
        (
            "templates/each.yaml",
            "kind: x\n{{#each Values.demo.ports}}- {{this}}\n{{/each}}",
        ),
        (
            "templates/default.yaml",
            "kind: x\nname: {{default Values.global.fallback \"\"}}\n",
        ),
        (
            "templates/part.yaml",
            "{{#unless Values.demo.off}}\n{{> p}}\n{{/unless}}",
        ),
    ]);
    let msgs: Vec<String> = render_err(&m)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    let missing = |file: &str, at: &str, path: &str| {
        format!("demo/templates/{file}:{at}: missing value `{path}` (strict mode")
    };
    let expected = [
        missing("default.yaml", "2:7", "Values.global.fallback"),
        missing("each.yaml", "2:1", "Values.demo.ports"),
        missing("_p.hbs", "2:1", "Values.demo.typo"),
    ];
    assert_eq!(msgs.len(), expected.len(), "{msgs:#?}");
    for (msg, want) in msgs.iter().zip(expected) {
        assert!(
            msg.starts_with(&want),
            "{msg}\n  does not start with\n{want}"
        );
    }
}

#[test]
fn all_problems_of_all_templates_are_reported() {
    let (_d, m) = module(&[
        ("templates/a.yaml", "{{Values.x}}"),
        ("templates/b.yaml", "kind: ConfigMap\nmetadata: {name: b}\n"),
        ("templates/c.yaml", "a: [\n"),
        (
            "templates/d.yaml",
            "{{required \"set demo.url\" Values.demo.url}}",
        ),
        ("templates/e.yaml", CM),
    ]);
    let e = render_err(&m);
    let msgs: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(
        msgs[0].starts_with("demo/templates/a.yaml:1:1: missing value `Values.x`"),
        "{}",
        msgs[0]
    );
    assert_eq!(
        msgs[1],
        "demo/templates/b.yaml: document 1: missing apiVersion"
    );
    assert!(
        msgs[2].starts_with("demo/templates/c.yaml: document 1: rendered output is not valid YAML"),
        "{}",
        msgs[2]
    );
    assert!(
        msgs[3].starts_with("demo/templates/d.yaml:1:1: `required`: set demo.url"),
        "{}",
        msgs[3]
    );
}

#[test]
fn duplicate_objects_are_an_error_citing_both_templates() {
    let (_d, m) = module(&[
        ("templates/a.yaml", CM),
        ("templates/b.yaml", &format!("---\n{CM}")),
    ]);
    let e = render_err(&m);
    assert_eq!(
        e.errors,
        vec![RenderError::Duplicate {
            object: "/ConfigMap ops/web".into(),
            first: "demo/templates/a.yaml document 1".into(),
            second: "demo/templates/b.yaml document 1".into()
        }]
    );
}

#[test]
fn same_name_in_other_namespace_or_group_is_not_a_duplicate() {
    let (_d, m) = module(&[
        ("templates/a.yaml", CM),
        ("templates/b.yaml", &format!("{CM}  namespace: other\n")),
        (
            "templates/c.yaml",
            "apiVersion: example.com/v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
        ),
    ]);
    assert_eq!(render_ok(&m).len(), 3);
}

#[test]
fn namespaces_are_defaulted_by_scope() {
    let (_d, m) = module(&[(
        "templates/a.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr, namespace: ops}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    )]);
    let mut scopes = ResourceScopes::builtin();
    scopes.insert("example.com", "Widget", false);
    let objs = ChartRenderer::new(&m)
        .unwrap()
        .render(&vals(), "ops", &scopes)
        .unwrap();
    assert_eq!(
        objs[0].object["metadata"],
        json!({"name": "sa", "namespace": "ops"})
    );
    assert_eq!(objs[1].object["metadata"], json!({"name": "cr"}));
    assert_eq!(objs[2].object["metadata"], json!({"name": "w"}));
}

#[test]
fn partials_are_included_indented_and_take_parameters() {
    let (_d, m) = module(&[
        (
            "templates/_labels.hbs",
            "app: {{Release.Name}}\ncomponent: {{component}}\n",
        ),
        ("templates/sub/_name.tpl", "{{Values.demo.name}}"),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{> name}}\n  labels:\n    {{> labels component=\"server\"}}\n",
        ),
    ]);
    let objs = render_ok(&m);
    assert_eq!(
        objs[0].object["metadata"],
        json!({"name": "web", "labels": {"app": "demo", "component": "server"}, "namespace": "ops"})
    );
    assert_eq!(objs.len(), 1, "partials are not rendered on their own");
}

#[test]
fn errors_inside_partials_name_the_partial_file() {
    let (_d, m) = module(&[
        ("templates/_labels.hbs", "a: 1\nb: {{Values.demo.nope}}\n"),
        ("templates/cm.yaml", "{{> labels}}"),
        ("templates/x.yaml", "{{> unknown}}"),
    ]);
    let msgs: Vec<String> = render_err(&m)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        msgs[0].starts_with("demo/templates/_labels.hbs:2:4: missing value `Values.demo.nope`"),
        "{msgs:?}"
    );
    assert!(msgs[1].contains("partial `unknown` not found"), "{msgs:?}");
}

#[test]
fn partials_come_only_from_the_module_templates_never_from_the_file_system() {
    let (d, m) = module(&[
        ("templates/a.yaml", "{{> ../../secret}}"),
        ("templates/b.yaml", "{{> templates/_p}}"),
        ("templates/c.yaml", "{{> (lookup Values.demo \"name\")}}"),
        ("templates/_p.hbs", "p"),
    ]);
    fs::write(d.path().join("secret"), "leaked").unwrap();
    fs::write(d.path().join("010-demo/templates/web"), "leaked").unwrap();
    let msgs: Vec<String> = render_err(&m)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(msgs.iter().all(|m| !m.contains("leaked")), "{msgs:#?}");
    for (msg, file) in msgs.iter().zip(["a.yaml", "b.yaml", "c.yaml"]) {
        assert!(msg.starts_with(&format!("demo/templates/{file}:")), "{msg}");
        assert!(msg.contains("not found"), "{msg}");
    }
}

#[test]
fn syntax_errors_are_reported_for_every_file_at_compile_time() {
    let (_d, m) = module(&[
        ("templates/a.yaml", "{{#if x}}\nno end\n"),
        ("templates/_p.hbs", "{{/with}}"),
        ("templates/ok.yaml", CM),
    ]);
    let e = ChartRenderer::new(&m).unwrap_err();
    let msgs: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "demo/templates/_p.hbs:1:1: syntax error: `{{/with}}` closes no open block: \
             expected a `{{#with …}}` before it",
            "demo/templates/a.yaml:1:1: syntax error: block `{{#if}}` is never closed: \
             expected `{{/if}}`",
        ]
    );
    assert!(
        e.errors
            .iter()
            .all(|x| matches!(x, RenderError::Syntax { .. })),
        "{e}"
    );
}

#[test]
fn helper_errors_are_typed_and_name_file_position_helper_and_argument() {
    let (_d, m) = module(&[(
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{indent Values.demo.n \"x\"}}\n",
    )]);
    let v = json!({"global": {}, "demo": {"n": "SECRET-MARKER"}});
    let e = ChartRenderer::new(&m)
        .unwrap()
        .render(&v, "ops", &ResourceScopes::builtin())
        .unwrap_err();
    assert_eq!(
        e.errors,
        vec![RenderError::Helper {
            file: "demo/templates/cm.yaml".into(),
            line: Some(6),
            column: Some(6),
            call: Box::new(HelperCallError {
                helper: "indent",
                usage: "indent N STRING",
                error: HelperError::Argument {
                    index: 0,
                    problem: ArgumentProblem::NotInteger { found: "a string" },
                },
            }),
        }]
    );
    assert_eq!(
        e.to_string(),
        "module `demo`: demo/templates/cm.yaml:6:6: `indent` argument 1 (N): expected an \
         integer, got a string (usage: `indent N STRING`)"
    );
}

#[test]
fn values_are_not_html_escaped() {
    let (_d, m) = module(&[(
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  s: {{quote Values.demo.s}}\n",
    )]);
    let v = json!({"global": {}, "demo": {"s": "<a href=\"x\">&'</a>"}});
    let objs = ChartRenderer::new(&m)
        .unwrap()
        .render(&v, "ops", &ResourceScopes::builtin())
        .unwrap();
    assert_eq!(objs[0].object["data"]["s"], "<a href=\"x\">&'</a>");
}

#[test]
fn a_compiled_renderer_renders_repeatedly_with_new_values() {
    let (_d, m) = module(&[("templates/cm.yaml", CM)]);
    let r = ChartRenderer::new(&m).unwrap();
    for name in ["a", "b"] {
        let v = json!({"global": {}, "demo": {"name": name}});
        let objs = r.render(&v, "ops", &ResourceScopes::builtin()).unwrap();
        assert_eq!(objs[0].object["metadata"]["name"], name);
    }
    assert_eq!(r.module(), "demo");
}

#[test]
fn a_module_without_templates_renders_nothing() {
    let (_d, m) = module(&[]);
    assert!(render_ok(&m).is_empty());
    assert!(Path::new(&m.path).is_dir());
}

#[test]
fn a_compiled_renderer_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ChartRenderer>();
    assert_send_sync::<Module>();
}

const HELM_CHART: &str = "name: demo-chart\nversion: 1.0.0\nannotations:\n  addon-operator.io/helm-compatible: \"true\"\n";

#[test]
fn helm_mode_gives_helms_root_and_renders_missing_values_empty() {
    let (_d, m) = module(&[
        ("Chart.yaml", HELM_CHART),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Values.name}}\ndata:\n  service: {{Release.Service}}\n  missing: \"{{Values.nope.deeper}}{{upper Values.nope}}\"\n  kube: {{Capabilities.KubeVersion.Version}}\n  policy: \"{{has \"policy/v1\" Capabilities.APIVersions}}\"\n  base: {{Template.BasePath}}\n  install: \"{{Release.IsInstall}}\"\n",
        ),
    ]);
    assert!(m.chart.helm_compatible);
    let objs = render_ok(&m);
    assert_eq!(
        objs[0].object["data"],
        json!({"service": "Helm", "missing": "", "kube": KUBE_VERSION_FOR_TEST,
            "policy": "true", "base": "demo/templates", "install": "true"})
    );
    assert_eq!(objs[0].object["metadata"]["name"], "web");
}

const KUBE_VERSION_FOR_TEST: &str = crate::KUBE_VERSION;

#[test]
fn include_renders_partials_and_templates_with_the_given_context() {
    let (_d, m) = module(&[
        ("Chart.yaml", HELM_CHART),
        (
            "templates/_name.hbs",
            "{{#let n=Values.name}}{{n}}-{{suffix}}{{/let}}",
        ),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{include \"name\" (set (root) \"suffix\" \"x\")}}\ndata:\n  sum: {{sha256sum (include (print Template.BasePath \"/other.yaml\") (root))}}\n",
        ),
        (
            "templates/other.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
        ),
    ]);
    let objs = render_ok(&m);
    assert_eq!(objs[0].object["metadata"]["name"], "web-x");
    let other = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n";
    assert_eq!(
        objs[0].object["data"]["sum"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(other.as_bytes()))
    );
}

#[test]
fn errors_inside_an_included_partial_name_the_partial() {
    let (_d, m) = module(&[
        ("templates/_bad.hbs", "x: {{indent \"a\" \"b\"}}"),
        ("templates/cm.yaml", "{{include \"bad\" this}}"),
    ]);
    let e = render_err(&m).to_string();
    assert!(e.contains("demo/templates/_bad.hbs:1:4"), "{e}");
    assert!(e.contains("`indent` argument 1 (N)"), "{e}");
}

#[test]
fn tpl_errors_never_quote_the_template_text() {
    let (_d, m) = module(&[
        ("Chart.yaml", HELM_CHART),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{tpl Values.secret this}}\n",
        ),
    ]);
    let values = json!({"demo": {"secret": "SECRET-MARKER {{ .Go.Syntax }}"}});
    let e = render(&m, &values, "ops", &ResourceScopes::builtin())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`tpl`: TEMPLATE is not valid handlebars at line 1"),
        "{e}"
    );
    assert!(!e.contains("SECRET-MARKER"), "{e}");
}

#[test]
fn a_changed_copy_of_the_context_can_replace_it_for_a_block() {
    // what convert-chart writes for Go's `$_ := set .Values.a "k" 1`
    let (_d, m) = module(&[
        ("Chart.yaml", HELM_CHART),
        (
            "templates/cm.yaml",
            "{{#with (set this \"Values\" (set Values \"extra\" (set Values.extra \"k\" \"v\")))}}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{Values.name}}\ndata:\n  k: {{Values.extra.k}}\n{{/with}}",
        ),
    ]);
    let objs = render_ok(&m);
    assert_eq!(objs[0].object["data"]["k"], "v");
    assert_eq!(objs[0].object["metadata"]["name"], "web");
}
