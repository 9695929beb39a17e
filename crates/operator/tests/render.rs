//! `addon-operator render` through the real binary: golden output of the shipped modules and
//! examples, config values from files and `--set`, and one-line errors that say where.
//!
//! Golden files live in `tests/golden/`; `UPDATE_GOLDEN=1 cargo test -p operator --test render`
//! rewrites them after an intended change.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn render(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_addon-operator"))
        .current_dir(repo_root())
        .env_remove("ADDON_OPERATOR_MODULES_DIR")
        .env_remove("ADDON_OPERATOR_NAMESPACE")
        .env("LOG_LEVEL", "warn")
        .arg("render")
        .args(args)
        .output()
        .expect("the addon-operator binary runs")
}

fn stdout_ok(args: &[&str]) -> String {
    let out = render(args);
    assert!(
        out.status.success(),
        "render {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("render prints UTF-8")
}

fn stderr_err(args: &[&str]) -> String {
    let out = render(args);
    assert!(
        !out.status.success(),
        "render {args:?} should fail but printed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("errors are UTF-8")
}

fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("golden file is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        pretty_assertions::assert_eq!(
            expected,
            actual,
            "{} differs (UPDATE_GOLDEN=1 rewrites it)",
            path.display()
        );
    }
}

#[test]
fn render_of_the_shipped_modules_matches_the_golden_file() {
    assert_golden("modules.yaml", &stdout_ok(&["--modules-dir", "modules"]));
}

#[test]
fn render_of_the_basic_example_matches_the_golden_file() {
    assert_golden(
        "example-basic.yaml",
        &stdout_ok(&["--modules-dir", "examples/basic"]),
    );
}

#[test]
fn set_changes_exactly_the_value_it_names() {
    let base = stdout_ok(&["--module", "echo-server"]);
    let changed = stdout_ok(&["--module", "echo-server", "--set", "echoServer.replicas=3"]);
    assert!(
        base.contains("replicas: 1"),
        "default replicas is 1:\n{base}"
    );
    assert!(
        changed.contains("replicas: 3"),
        "--set reaches the Deployment:\n{changed}"
    );
    let differing: Vec<_> = base
        .lines()
        .zip(changed.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(differing, vec![("  replicas: 1", "  replicas: 3")]);
}

#[test]
fn config_values_file_is_read_like_the_configmap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.yaml");
    std::fs::write(
        &file,
        "global:\n  clusterName: prod-eu\nechoServer:\n  replicas: 5\ningressNginxEnabled: false\n",
    )
    .expect("write config values");
    let out = stdout_ok(&["--config-values", file.to_str().expect("utf-8 path")]);
    assert!(out.contains("replicas: 5"));
    assert!(
        !out.contains("# Source: ingress-nginx/"),
        "ingressNginxEnabled: false disables the module"
    );
    assert!(out.contains("# Source: echo-server/"));
}

#[test]
fn disabling_a_module_with_set_removes_its_objects() {
    let out = stdout_ok(&["--set", "echoServerEnabled=false"]);
    assert!(!out.contains("echo-server/"));
    assert!(out.contains("# Source: ingress-nginx/templates/deployment.yaml"));
}

#[test]
fn json_output_is_one_array_of_the_same_objects() {
    let json = stdout_ok(&["-o", "json", "--module", "echo-server"]);
    let objects: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    let yaml = stdout_ok(&["--module", "echo-server"]);
    let from_yaml: Vec<serde_json::Value> = yaml
        .split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_yaml::from_str(doc).expect("each YAML document parses"))
        .collect();
    assert_eq!(objects, from_yaml);
    assert_eq!(objects.len(), 3);
}

#[test]
fn module_flag_accepts_the_name_or_the_values_key() {
    assert_eq!(
        stdout_ok(&["--module", "echo-server"]),
        stdout_ok(&["--module", "echoServer"])
    );
}

#[test]
fn schema_violation_names_the_module_and_the_path() {
    let err = stderr_err(&["--set", "echoServer.replicas=many"]);
    assert!(err.contains("echoServer: /replicas"), "{err}");
}

#[test]
fn unknown_config_key_is_an_error_naming_it() {
    let err = stderr_err(&["--set", "noSuchModule.replicas=1"]);
    assert!(err.contains("noSuchModule"), "{err}");
}

#[test]
fn unknown_or_disabled_module_is_an_error() {
    let err = stderr_err(&["--module", "nope"]);
    assert!(err.contains("module \"nope\" not found"), "{err}");
    let err = stderr_err(&[
        "--module",
        "echo-server",
        "--set",
        "echoServerEnabled=false",
    ]);
    assert!(err.contains("echo-server is disabled"), "{err}");
}

#[test]
fn missing_modules_dir_is_an_error_naming_it() {
    let err = stderr_err(&["--modules-dir", "does/not/exist"]);
    assert!(err.contains("does/not/exist"), "{err}");
}

#[test]
fn invalid_module_directory_name_is_an_error_naming_the_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("010-Bad_Name/templates")).expect("mkdir");
    let err = stderr_err(&["--modules-dir", dir.path().to_str().expect("utf-8 path")]);
    assert!(err.contains("010-Bad_Name"), "{err}");
}

#[test]
fn missing_value_in_a_template_names_template_line_and_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let templates = dir.path().join("010-demo/templates");
    std::fs::create_dir_all(&templates).expect("mkdir");
    std::fs::write(dir.path().join("values.yaml"), "demoEnabled: true\n").expect("write values");
    std::fs::write(
        templates.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: {{ Values.demo.missing }}\n",
    )
    .expect("write template");
    let err = stderr_err(&["--modules-dir", dir.path().to_str().expect("utf-8 path")]);
    assert!(err.contains("demo/templates/cm.yaml"), "{err}");
    assert!(
        err.contains("demo/templates/cm.yaml:6:"),
        "the line is cited: {err}"
    );
    assert!(err.contains("Values.demo.missing"), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    let commands: [&[&str]; 10] = [
        &["queue", "list", "--help"],
        &["module", "values", "--help"],
        &["global", "values", "--help"],
        &["--help"],
        &["render", "--help"],
        &["run", "--help"],
        &["dev", "--help"],
        &["hook", "--help"],
        &["module", "--help"],
        &["module", "list", "--help"],
    ];
    for args in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .args(args)
            .output()
            .expect("the binary runs");
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn hook_subcommand_lists_native_hooks_and_prints_their_config() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .args(args)
            .output()
            .expect("the binary runs")
    };
    let list = run(&["hook"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("discover-cluster-uuid"));
    let config = run(&["hook", "discover-cluster-uuid", "--config"]);
    let parsed: serde_json::Value =
        serde_json::from_slice(&config.stdout).expect("--config prints JSON");
    assert_eq!(parsed["configVersion"], "v1");
    let unknown = run(&["hook", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no native hook named \"nope\""));
    let outside = run(&["hook", "discover-cluster-uuid"]);
    assert!(
        String::from_utf8_lossy(&outside.stderr).contains("BINDING_CONTEXT_PATH"),
        "run outside the engine says what is missing"
    );
}

#[test]
fn render_of_the_crd_and_hooks_example_matches_the_golden_file() {
    assert_golden(
        "example-crd-and-hooks.yaml",
        &stdout_ok(&["--modules-dir", "examples/crd-and-hooks"]),
    );
}

#[test]
fn a_module_values_file_contributes_only_its_own_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let templates = dir.path().join("010-demo/templates");
    std::fs::create_dir_all(&templates).expect("mkdir");
    std::fs::write(
        dir.path().join("010-demo/values.yaml"),
        "demoEnabled: true\ndemo:\n  own: 1\nglobal:\n  sneaky: true\nother:\n  foreign: 2\n",
    )
    .expect("write values");
    std::fs::write(
        templates.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  values: {{quote (toJson Values)}}\n",
    )
    .expect("write template");
    let out = stdout_ok(&[
        "--modules-dir",
        dir.path().to_str().expect("utf-8 path"),
        "-o",
        "json",
    ]);
    let objects: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON");
    let values: serde_json::Value =
        serde_json::from_str(objects[0]["data"]["values"].as_str().expect("a string"))
            .expect("values JSON");
    assert_eq!(values["demo"], serde_json::json!({"own": 1}));
    assert!(
        values.get("other").is_none(),
        "another key of the module's values.yaml leaked: {values}"
    );
    assert!(
        values["global"].get("sneaky").is_none(),
        "a module's values.yaml cannot set global: {values}"
    );
}
