//! `addon-operator render` through the real binary: golden output of the shipped modules and
//! examples, output that kubectl reads as the operator does, config values from files and
//! `--set`, `--show-only`, and errors that say where and never quote a value.
//!
//! Golden files live in `tests/golden/`; `GOLDEN_OVERWRITE=1 cargo test -p operator --test render`
//! rewrites them after an intended change.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Cluster, NS, assert_golden, eventually, kubectl_for, repo_root};

/// Marker put into values that must never appear in an error message.
const MARKER: &str = "SECRET-MARKER-9f3a";

/// Runs `cmd` with `stdin`, killing it if it has not exited after 60 s.
fn run_with_timeout(cmd: &mut Command, stdin: &[u8]) -> Output {
    common::output_with_input_within(cmd, stdin, Duration::from_secs(60))
}

fn render(args: &[&str]) -> Output {
    run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .current_dir(repo_root())
            .env_remove("ADDON_OPERATOR_MODULES_DIR")
            .env_remove("ADDON_OPERATOR_NAMESPACE")
            .env("LOG_LEVEL", "warn")
            .arg("render")
            .args(args),
        b"",
    )
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

/// [`assert_golden`] for an error text, which must never show the [`MARKER`] value.
fn assert_error_golden(name: &str, err: &str) {
    assert!(
        !err.contains(MARKER),
        "a value leaked into an error:\n{err}"
    );
    assert_golden(name, err);
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Writes `files` (relative path, content) under `dir`.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent dir")).expect("mkdir");
        std::fs::write(path, content).expect("write file");
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
        &stdout_ok(&["--modules-dir", "examples/basic/modules"]),
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
        .map(|doc| yaml_json::parse_one(doc).expect("each YAML document parses"))
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
        let out = run_with_timeout(
            Command::new(env!("CARGO_BIN_EXE_addon-operator")).args(args),
            b"",
        );
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn hook_subcommand_lists_native_hooks_and_prints_their_config() {
    let run = |args: &[&str]| {
        run_with_timeout(
            Command::new(env!("CARGO_BIN_EXE_addon-operator")).args(args),
            b"",
        )
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
        &stdout_ok(&["--modules-dir", "examples/crd-and-hooks/modules"]),
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

/// Issue 9 §3: `proxy-buffering: off` and `use-gzip: yes` used to be printed bare, so kubectl
/// read booleans and the API server refused the ConfigMap. The rendered module goes through a
/// server-side dry-run with kubectl, and the API server's view of every object must equal the
/// JSON render, which is what the operator applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_yaml_reads_back_in_kubectl_as_the_operator_applies_it() {
    let cluster = Cluster::start("modules").await;
    let args = [
        "--module",
        "ingress-nginx",
        "--namespace",
        NS,
        "--set",
        "ingressNginx.config.proxy-buffering=off",
        "--set",
        "ingressNginx.config.use-gzip=yes",
        "--set",
        "ingressNginx.config.enable-ipv6=n",
        "--set",
        "ingressNginx.config.ssl-ports=0777",
    ];
    let yaml = stdout_ok(&args);
    let json_args: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
    let expected: Vec<serde_json::Value> =
        serde_json::from_str(&stdout_ok(&json_args)).expect("a JSON array");
    let config = expected
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("ingress-nginx renders a ConfigMap");
    for (key, value) in [
        ("proxy-buffering", "off"),
        ("use-gzip", "yes"),
        ("enable-ipv6", "n"),
        ("ssl-ports", "0777"),
    ] {
        assert_eq!(
            config["data"][key], value,
            "{key} is a string in the render"
        );
    }

    let out = run_with_timeout(
        kubectl_for(&cluster.kubeconfig).args([
            "apply",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
        ]),
        yaml.as_bytes(),
    );
    assert!(
        out.status.success(),
        "kubectl apply --dry-run=server refused the render:\n{}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("kubectl prints JSON");
    let items = match applied["kind"].as_str() {
        Some("List") => applied["items"].as_array().cloned().unwrap_or_default(),
        _ => vec![applied],
    };
    assert_eq!(items.len(), expected.len(), "{items:#?}");
    for (server, ours) in items.iter().zip(&expected) {
        let what = format!("{}/{}", ours["kind"], ours["metadata"]["name"]);
        if let Err(path) = contained_in(ours, server, String::new()) {
            panic!(
                "{what}: kubectl sent something else at {path}:\nours: {ours:#}\nserver: {server:#}"
            );
        }
    }
    let server_config = items
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the dry-run returns the ConfigMap");
    assert_eq!(server_config["data"], config["data"]);
}

/// `Ok` if every field of `ours` is in `server` with the same value (the server may add
/// defaults); otherwise the JSON path of the first difference.
fn contained_in(
    ours: &serde_json::Value,
    server: &serde_json::Value,
    at: String,
) -> Result<(), String> {
    use serde_json::Value;
    match (ours, server) {
        (Value::Object(ours), Value::Object(server)) => ours.iter().try_for_each(|(k, v)| {
            let at = format!("{at}.{k}");
            contained_in(v, server.get(k).unwrap_or(&Value::Null), at)
        }),
        (Value::Array(ours), Value::Array(server)) if ours.len() == server.len() => ours
            .iter()
            .zip(server)
            .enumerate()
            .try_for_each(|(i, (o, s))| contained_in(o, s, format!("{at}[{i}]"))),
        (ours, server) if ours == server => Ok(()),
        _ => Err(at),
    }
}

#[test]
fn config_values_file_may_be_shaped_like_the_configmap_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let decoded = dir.path().join("decoded.yaml");
    let data = dir.path().join("data.yaml");
    let manifest = dir.path().join("configmap.yaml");
    std::fs::write(
        &decoded,
        "global:\n  clusterName: prod-eu\nechoServer:\n  replicas: 5\ningressNginxEnabled: false\n",
    )
    .expect("write config values");
    let data_shape = "global: |\n  clusterName: prod-eu\nechoServer: |\n  replicas: 5\ningressNginxEnabled: \"false\"\n";
    std::fs::write(&data, data_shape).expect("write config values");
    let indented: String = data_shape.lines().map(|l| format!("  {l}\n")).collect();
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: addon-operator\ndata:\n{indented}"
        ),
    )
    .expect("write config values");
    let from_decoded = stdout_ok(&["--config-values", path_str(&decoded)]);
    assert!(from_decoded.contains("  replicas: 5\n"), "{from_decoded}");
    assert!(
        from_decoded.contains("  cluster: prod-eu\n"),
        "{from_decoded}"
    );
    assert!(!from_decoded.contains("# Source: ingress-nginx/"));
    assert_eq!(
        stdout_ok(&["--config-values", path_str(&data)]),
        from_decoded
    );
    assert_eq!(
        stdout_ok(&["--config-values", path_str(&manifest)]),
        from_decoded
    );

    std::fs::write(&data, "echoServer: |\n  replicas: [\n").expect("write config values");
    let err = stderr_err(&["--config-values", path_str(&data)]);
    assert!(
        err.contains("configmap key \"echoServer\": invalid yaml"),
        "{err}"
    );
}

#[test]
fn show_only_prints_only_the_named_templates() {
    let one = stdout_ok(&["--show-only", "echo-server/templates/deployment.yaml"]);
    let sources: Vec<&str> = one.lines().filter(|l| l.starts_with("# Source:")).collect();
    assert_eq!(sources, ["# Source: echo-server/templates/deployment.yaml"]);
    assert!(one.contains("kind: Deployment"), "{one}");

    let two = stdout_ok(&[
        "-s",
        "echo-server/templates/service.yaml",
        "--show-only",
        "ingress-nginx/templates/config*.yaml",
    ]);
    let sources: Vec<&str> = two.lines().filter(|l| l.starts_with("# Source:")).collect();
    assert_eq!(
        sources,
        [
            "# Source: ingress-nginx/templates/configmap.yaml",
            "# Source: echo-server/templates/service.yaml"
        ],
        "apply order, not argument order"
    );
    let json = stdout_ok(&["-o", "json", "-s", "echo-server/templates/service.yaml"]);
    let objects: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["kind"], "Service");
}

#[test]
fn show_only_of_an_unknown_template_lists_the_templates() {
    let err = stderr_err(&[
        "--module",
        "echo-server",
        "-s",
        "echo-server/templates/deployment.yaml",
        "-s",
        "echo-server/templates/nope.yaml",
        "-s",
        "deployment.yaml",
    ]);
    assert!(
        err.contains(
            "--show-only \"echo-server/templates/nope.yaml\", \"deployment.yaml\": no such template; \
             the rendered modules have:\n  echo-server/templates/configmap.yaml\n  \
             echo-server/templates/deployment.yaml\n  echo-server/templates/service.yaml\n"
        ),
        "{err}"
    );
}

/// A module set with one enabled module `demo` whose `values.yaml` is `values` and whose
/// templates are ConfigMaps `templates/<name>.yaml` with `data:` followed by the given text.
fn demo_module(values: &str, templates: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(
        dir.path(),
        &[
            ("values.yaml", "demoEnabled: true\n"),
            ("010-demo/values.yaml", values),
        ],
    );
    for (name, data) in templates {
        let text =
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{data}");
        let path = format!("010-demo/templates/{name}.yaml");
        write_files(dir.path(), &[(&path, &text)]);
    }
    dir
}

/// Issue 9 §5: each template mistake is reported once, at the tag or block at fault, with
/// the expected form.
#[test]
fn template_syntax_errors_match_the_golden_messages() {
    let dir = demo_module(
        "demo:\n  replicas: 2\n",
        &[
            ("a-brace", "  x: {{ Values.demo.replicas }\n"),
            ("b-block", "  x: y\n{{#if Values.demo.replicas}}\n"),
            ("c-close", "{{#each Values.demo}}\n  k: v\n{{/if}}\n"),
            ("d-string", "  x: {{quote \"unclosed}}\n"),
            ("e-else", "{{else}}\n"),
        ],
    );
    let err = stderr_err(&["--modules-dir", path_str(dir.path())]);
    assert_error_golden("errors/template-syntax.txt", &err);
}

/// Helper and strict-mode errors at render time name file, line, column, helper and argument,
/// and never the value (the password is a marker).
#[test]
fn template_render_errors_match_the_golden_messages() {
    let dir = demo_module(
        &format!("demo:\n  password: {MARKER}\n  list: [{MARKER}]\n"),
        &[
            ("a", "  x: {{indent Values.demo.password \"y\"}}\n"),
            ("b", "  x: {{b64dec Values.demo.password}}\n"),
            ("c", "  x: {{lt Values.demo.password 3}}\n"),
            ("d", "  x: {{required \"set demo.url\" Values.demo.url}}\n"),
            ("e", "  x: {{quote Values.demo.list}}\n"),
            ("f", "  x: {{indent 2}}\n"),
            ("g", "  x: {{Values.demo.typo}}\n"),
        ],
    );
    let err = stderr_err(&["--modules-dir", path_str(dir.path())]);
    assert_error_golden("errors/template-render.txt", &err);
}

/// Issue 8 §5: schema errors for config values name the path and the constraint, never the
/// rejected value, whether it came from `--set` or `--config-values`.
#[test]
fn schema_errors_never_show_the_rejected_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("ingressNginx: |\n  image:\n    pullPolicy: {MARKER}\n  ingressClass: {MARKER}\n  replicas: {MARKER}\n"),
    )
    .expect("write config values");
    let err = stderr_err(&[
        "--config-values",
        path_str(&config),
        "--set",
        &format!("echoServer.replicas={MARKER}"),
    ]);
    assert_error_golden("errors/schema.txt", &err);
}

#[test]
fn common_values_of_several_modules_dirs_layer_with_later_dirs_winning() {
    let (first, second) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    write_files(
        first.path(),
        &[
            (
                "values.yaml",
                "global:\n  a: first\n  b: first\ndemoEnabled: false\ndemo:\n  x: 1\n  y: 1\n",
            ),
            (
                "010-demo/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  values: {{quote (toJson Values)}}\n",
            ),
        ],
    );
    write_files(
        second.path(),
        &[(
            "values.yaml",
            "global:\n  b: second\ndemoEnabled: true\ndemo:\n  y: 2\n",
        )],
    );
    let dirs = format!("{}:{}", path_str(first.path()), path_str(second.path()));
    let out = stdout_ok(&["--modules-dir", &dirs, "-o", "json"]);
    let objects: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON");
    let values: serde_json::Value =
        serde_json::from_str(objects[0]["data"]["values"].as_str().expect("a string"))
            .expect("values JSON");
    assert_eq!(values["global"]["a"], "first");
    assert_eq!(values["global"]["b"], "second");
    assert_eq!(values["demo"], serde_json::json!({"x": 1, "y": 2}));

    std::fs::write(second.path().join("values.yaml"), "demoEnabled: \"yes\"\n").expect("write");
    let err = stderr_err(&["--modules-dir", &dirs]);
    let expected = format!(
        "{}: demoEnabled: expected true or false, got a string",
        second.path().join("values.yaml").display()
    );
    assert!(err.contains(&expected), "{expected} not in {err}");
}

/// Issue 9 §5: the refusal of a render that suddenly yields nothing names the Chart.yaml
/// annotation that allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_render_refusal_names_the_chart_yaml_annotation() {
    let cluster = Cluster::start("examples/basic/modules").await;
    write_files(
        &cluster.modules,
        &[
            ("values.yaml", "demoEnabled: true\n"),
            ("090-demo/values.yaml", "demo:\n  show: true\n"),
            (
                "090-demo/templates/cm.yaml",
                "{{#if Values.demo.show}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n{{/if}}\n",
            ),
        ],
    );
    let mut operator = cluster.operator(&[]);
    operator.wait_converged().await;
    assert!(
        cluster.exists("configmap", "demo", NS),
        "{}",
        operator.logs()
    );
    cluster.set_config(&[("demo", "show: false\n")]);
    eventually("the empty render is refused naming the annotation", || {
        operator.logs().contains(
            "if the module may render nothing, annotate its Chart.yaml with \
             `addon-operator.io/allow-empty-render: \"true\"`",
        )
    })
    .await;
    assert!(
        cluster.exists("configmap", "demo", NS),
        "nothing was pruned"
    );
}
