use std::fs;
use std::path::Path;

use serde_json::json;

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn modules_dirs_list_splits_on_colons_and_skips_empty_entries() {
    assert_eq!(
        parse_modules_dirs("modules::/opt/extra:"),
        vec![PathBuf::from("modules"), PathBuf::from("/opt/extra")]
    );
}

#[test]
fn modules_are_sorted_by_order_then_name() {
    let d = tempfile::tempdir().unwrap();
    for m in ["020-b", "010-z", "a", "010-c"] {
        fs::create_dir(d.path().join(m)).unwrap();
    }
    write(d.path(), ".hidden/x", "");
    write(d.path(), "README.md", "not a module");
    let set = discover(&[d.path().to_path_buf()]).unwrap();
    let names: Vec<_> = set
        .modules
        .iter()
        .map(|m| (m.order, m.name.as_str()))
        .collect();
    assert_eq!(names, vec![(1, "a"), (10, "c"), (10, "z"), (20, "b")]);
    // Lookups by name and by key find each module at its sorted place.
    for (at, m) in set.modules().iter().enumerate() {
        assert_eq!(set.get(&m.name).map(|found| &found.path), Some(&m.path));
        assert_eq!(set.by_key(&m.key).map(|found| &found.path), Some(&m.path));
        assert_eq!(set.position(&m.key), Some(at));
    }
    assert!(set.get("missing").is_none() && set.by_key("missing").is_none());
}

#[test]
fn module_files_are_loaded_with_partials_apart_and_chart_files_tracked() {
    let d = tempfile::tempdir().unwrap();
    let write_module =
        |rel: &str, text: &str| write(d.path(), &format!("010-cert-manager/{rel}"), text);
    write_module("Chart.yaml", "name: cm\nversion: 1.2.3\n");
    write_module(
        "values.yaml",
        "certManager:\n  a: 1\ncertManagerEnabled: true\n",
    );
    write_module("templates/b.yaml", "b");
    write_module("templates/sub/a.yml", "a");
    write_module("templates/c.tpl", "c");
    write_module("templates/_helpers.hbs", "h");
    write_module("templates/NOTES.txt", "ignored");
    write_module("openapi/config-values.yaml", "type: object\n");
    write_module("hooks/x.sh", "#!/bin/sh\n");
    write_module("enabled", "#!/bin/sh\n");
    let set = discover(&[d.path().to_path_buf()]).unwrap();
    let module = set.get("cert-manager").unwrap();
    assert_eq!(module.key, "certManager");
    assert_eq!(module.chart.version, "1.2.3");
    assert_eq!(module.static_values["certManagerEnabled"], json!(true));
    let t: Vec<_> = module.templates.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(
        t,
        vec!["templates/b.yaml", "templates/c.tpl", "templates/sub/a.yml"]
    );
    assert_eq!(module.partials[0].path, "templates/_helpers.hbs");
    assert_eq!(
        module.openapi.config_values,
        Some(json!({"type": "object"}))
    );
    assert_eq!(module.openapi.values, None);
    assert!(module.hooks_dir.is_some() && module.enabled_script.is_some());
    let files: Vec<_> = module.chart_files().keys().map(String::as_str).collect();
    assert_eq!(
        files,
        vec![
            "Chart.yaml",
            "openapi/config-values.yaml",
            "templates/_helpers.hbs",
            "templates/b.yaml",
            "templates/c.tpl",
            "templates/sub/a.yml",
            "values.yaml"
        ]
    );
    assert_eq!(module.chart_files()["templates/b.yaml"], b"b");
    assert!(set.by_key("certManager").is_some());
}

#[test]
fn crds_skip_doc_and_underscore_files_and_must_be_crds() {
    let d = tempfile::tempdir().unwrap();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n";
    write(d.path(), "m/crds/widgets.yaml", &format!("---\n{crd}---\n"));
    write(d.path(), "m/crds/doc-widgets.yaml", "not: parsed: [");
    write(d.path(), "m/crds/_helper.yaml", "kind: ConfigMap");
    let set = discover(&[d.path().to_path_buf()]).unwrap();
    let crds = &set.modules[0].crds;
    assert_eq!(crds.len(), 1);
    assert!(set.resource_scopes().is_namespaced("example.com", "Widget"));
    assert_eq!(crds[0].source, "m/crds/widgets.yaml");

    write(
        d.path(),
        "m/crds/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let err = discover(&[d.path().to_path_buf()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("bad.yaml: document 1 is not a CustomResourceDefinition"),
        "{err}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("010-Bad_Name")).unwrap();
    fs::create_dir(d.path().join("020-x--y")).unwrap();
    write(d.path(), "030-ok/values.yaml", "a: [");
    write(d.path(), "040-dup/templates/_a.hbs", "");
    write(d.path(), "040-dup/templates/x/_a.tpl", "");
    let err = discover(&[d.path().to_path_buf()]).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.problems.len(), 4, "{msg}");
    assert!(msg.starts_with("module discovery: 4 problems"), "{msg}");
    assert!(
        msg.contains("010-Bad_Name: module name `Bad_Name` is not kebab-case"),
        "{msg}"
    );
    assert!(msg.contains("020-x--y"), "{msg}");
    assert!(msg.contains("030-ok/values.yaml: invalid YAML"), "{msg}");
    assert!(
        msg.contains("partial `a` is already defined by templates/_a.hbs"),
        "{msg}"
    );
}

#[test]
fn the_same_module_name_in_two_dirs_is_an_error() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::create_dir(a.path().join("010-echo")).unwrap();
    fs::create_dir(b.path().join("050-echo")).unwrap();
    let err = discover(&[a.path().to_path_buf(), b.path().to_path_buf()]).unwrap_err();
    assert!(
        matches!(&err.problems[..], [DiscoveryProblem::DuplicateModule { name, first, second }]
            if name == "echo" && first.ends_with("010-echo") && second.ends_with("050-echo"))
    );
}

#[test]
fn a_missing_modules_dir_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope");
    let err = discover(std::slice::from_ref(&missing)).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("cannot read {}", missing.display())),
        "{err}"
    );
}

#[test]
fn symlinked_module_dirs_are_followed() {
    let (real, set_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(real.path(), "templates/a.yaml", "x");
    std::os::unix::fs::symlink(real.path(), set_dir.path().join("005-linked")).unwrap();
    let set = discover(&[set_dir.path().to_path_buf()]).unwrap();
    assert_eq!(set.modules[0].name, "linked");
    assert_eq!(set.modules[0].templates.len(), 1);
}

#[test]
fn common_values_files_are_handed_over_raw_in_dir_order() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(
        a.path(),
        "values.yaml",
        "global: {clusterName: a, domain: a.example}\nechoEnabled: true\n",
    );
    write(
        b.path(),
        "values.yaml",
        "global: {clusterName: b}\nechoEnabled: false\n",
    );
    let none = tempfile::tempdir().unwrap();
    let dirs = [a.path(), none.path(), b.path()].map(Path::to_path_buf);
    let set = discover(&dirs).unwrap();
    assert_eq!(
        set.common_values,
        vec![
            CommonValuesFile {
                path: a.path().join("values.yaml"),
                document: json!({"global": {"clusterName": "a", "domain": "a.example"}, "echoEnabled": true}),
            },
            CommonValuesFile {
                path: b.path().join("values.yaml"),
                document: json!({"global": {"clusterName": "b"}, "echoEnabled": false}),
            },
        ]
    );
}

#[test]
fn top_level_values_must_be_a_mapping() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "values.yaml", "- a\n");
    let err = discover(&[d.path().to_path_buf()]).unwrap_err();
    assert!(err.to_string().contains("expected a YAML mapping"), "{err}");
}

#[test]
fn openapi_dir_loads_both_schemas_and_tolerates_absence() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "openapi/config-values.yaml", "type: object\n");
    write(
        d.path(),
        "openapi/values.yaml",
        "x-extend: {schema: config-values.yaml}\n",
    );
    let s = load_openapi_dir(&d.path().join("openapi")).unwrap();
    assert_eq!(s.config_values, Some(json!({"type": "object"})));
    assert_eq!(
        s.values,
        Some(json!({"x-extend": {"schema": "config-values.yaml"}}))
    );
    assert_eq!(
        load_openapi_dir(&d.path().join("none")).unwrap(),
        OpenApiSchemas::default()
    );
    write(d.path(), "bad/values.yaml", "a: [");
    assert!(load_openapi_dir(&d.path().join("bad")).is_err());
}

#[test]
fn chart_yaml_allow_empty_render_annotation_is_exposed() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "m/Chart.yaml",
        "name: m\nannotations:\n  addon-operator.io/allow-empty-render: \"true\"\n",
    );
    let set = discover(&[d.path().to_path_buf()]).unwrap();
    assert!(set.modules[0].chart.allow_empty_render);
    assert_eq!(set.modules[0].chart_raw["name"], "m");
}
