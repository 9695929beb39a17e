//! The module author's tools through the real binary (issue 9 §4, §5): `lint`, `diff` (with
//! kubectl against the emulator), `hook test`, `hook snapshots`, `hook run`, `version`,
//! `completion`, and error messages that name where, say what is accepted and print each cause
//! once (golden files in `tests/golden/errors/`; `GOLDEN_OVERWRITE=1` rewrites them).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{CHILD_TIMEOUT, Cluster, Launch, NS, assert_golden, output_within, repo_root};

/// Marker put into a Secret that must never appear in a diff.
const MARKER: &str = "SECRET-MARKER-41c7";

/// `addon-operator <args>` in `dir`, with a clean environment for the flags under test.
fn addon_operator(dir: &Path, args: &[&str]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .current_dir(dir)
            .args(args)
            .env("LOG_LEVEL", "warn")
            .env_remove("KUBECONFIG")
            .env_remove("ADDON_OPERATOR_MODULES_DIR")
            .env_remove("ADDON_OPERATOR_GLOBAL_HOOKS_DIR")
            .env_remove("ADDON_OPERATOR_NAMESPACE")
            .env_remove("DEBUG_UNIX_SOCKET"),
        CHILD_TIMEOUT,
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `body` to `dir/rel`, executable when `exec`.
fn write(dir: &Path, rel: &str, body: &str, exec: bool) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&path, body).expect("write");
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A hook printing `config` for `--config` and running `body` otherwise.
fn hook(config: &str, body: &str) -> String {
    format!(
        "#!/usr/bin/env bash\nif [[ \"${{1:-}}\" == --config ]]; then\ncat <<'EOF'\n{config}\nEOF\nexit 0\nfi\n{body}\n"
    )
}

/// A hook `--config` with one problem of each kind a new author meets.
const BAD_CONFIG: &str = "configVersion: v1
beforeHelm: first
schedule:
- crontab: '@every 5m'
- crontab: '0 25 * * *'
- crontab: '* * *'
kubernetes:
- kind: Pod
  jqFilter: '.metadata | '
- kind: Pod
  jqFilter: '.a | nosuchfn'
  executeHookOnEvent: [Added, Updated]
- kind: Pod
  jqFiltr: .x";

/// A module set in `dir/modules` with one module, `foo`, that is wrong in every way `lint`
/// checks.
fn broken_module_set(dir: &Path) {
    let m = "modules/010-foo";
    write(
        dir,
        &format!("{m}/Chart.yaml"),
        "name: bar\nversion: '1.0'\n",
        false,
    );
    write(
        dir,
        &format!("{m}/values.yaml"),
        "foo: {}\nfooEnabled: true\n",
        false,
    );
    write(
        dir,
        &format!("{m}/templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foo\ndata:\n  size: {{ Values.foo.size }}\n",
        false,
    );
    write(
        dir,
        &format!("{m}/enabled"),
        "#!/bin/sh\necho true >\"$MODULE_ENABLED_RESULT\"\n",
        false,
    );
    write(
        dir,
        &format!("{m}/hooks/bad.sh"),
        &hook(BAD_CONFIG, ""),
        true,
    );
    write(dir, &format!("{m}/hooks/notes.txt"), "not a hook\n", false);
    write(
        dir,
        &format!("{m}/examples/big.yaml"),
        "foo: |\n  size: 3\n",
        false,
    );
    write(
        dir,
        &format!("{m}/examples/typo.yaml"),
        "fooEnabled: maybe\n",
        false,
    );
}

#[test]
fn lint_reports_every_problem_of_a_module_set_at_once_and_fails_ci() {
    let dir = tempfile::tempdir().expect("temp dir");
    broken_module_set(dir.path());
    let args = [
        "lint",
        "--modules-dir",
        "modules",
        "--global-hooks-dir",
        "none",
    ];
    let out = addon_operator(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert_golden("errors/lint.txt", &report);
    let json = addon_operator(dir.path(), &[&args[..], &["-o", "json"]].concat());
    assert_eq!(json.status.code(), Some(1));
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("lint -o json");
    let problems = parsed["problems"].as_array().expect("problems");
    let checks: std::collections::BTreeSet<&str> = problems
        .iter()
        .filter_map(|p| p["check"].as_str())
        .collect();
    for check in [
        "Chart.yaml",
        "enabled",
        "hook",
        "render",
        "render examples/typo.yaml",
    ] {
        assert!(checks.contains(check), "{check} is checked: {checks:?}");
    }
    assert_eq!(
        problems.len(),
        report.lines().count() - 1,
        "text and JSON list the same problems:\n{report}"
    );
    assert!(
        problems.iter().any(|p| p["severity"] == "warning"
            && p["message"].as_str().unwrap_or("").contains("notes.txt")),
        "a file the operator would skip is a warning"
    );
    assert!(
        !problems
            .iter()
            .any(|p| p["check"] == "render examples/big.yaml"),
        "examples/big.yaml sets the value the defaults lack, so it renders:\n{report}"
    );
}

#[test]
fn lint_passes_the_shipped_modules_and_every_example() {
    let root = repo_root();
    let mut sets = vec![("modules".to_string(), "global-hooks".to_string())];
    for entry in std::fs::read_dir(root.join("examples")).expect("examples") {
        let example = entry.expect("entry").path();
        if example.join("modules").is_dir() {
            let rel = example
                .strip_prefix(&root)
                .expect("inside the repo")
                .display()
                .to_string();
            sets.push((format!("{rel}/modules"), format!("{rel}/global-hooks")));
        }
    }
    for (modules, global_hooks) in sets {
        let out = addon_operator(
            &root,
            &[
                "lint",
                "--modules-dir",
                &modules,
                "--global-hooks-dir",
                &global_hooks,
            ],
        );
        let report = text(&out.stdout);
        assert!(
            out.status.success() && report.trim_end().ends_with("checked: no problems"),
            "lint {modules}:\n{report}{}",
            text(&out.stderr)
        );
    }
}

/// `dev --once` on a module set of one module, `foo`, enabled, holding the executable `rel`.
fn dev_once_with_module_file(rel: &str, body: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        "modules/values.yaml",
        "fooEnabled: true\n",
        false,
    );
    write(dir.path(), &format!("modules/010-foo/{rel}"), body, true);
    let out = addon_operator(dir.path(), &["dev", "--once"]);
    (dir, out)
}

#[test]
fn hook_config_errors_name_the_field_say_what_is_accepted_and_say_it_once() {
    let (_dir, out) = dev_once_with_module_file("hooks/bad.sh", &hook(BAD_CONFIG, ""));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line:\n{stderr}"));
    // One problem per field, each once, all in one message.
    let problems: Vec<&str> = error.split("; ").collect();
    assert_eq!(
        error.matches("crontab \"@every 5m\"").count(),
        1,
        "said once: {error}"
    );
    assert_golden("errors/hook-config.txt", &(problems.join("\n;\n") + "\n"));
}

#[test]
fn an_enabled_script_that_cannot_start_is_reported_with_its_cause_once() {
    let (dir, out) =
        dev_once_with_module_file("enabled", "echo true >\"$MODULE_ENABLED_RESULT\"\n");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let failure = stderr
        .lines()
        .find(|l| l.starts_with("module foo failed: "))
        .unwrap_or_else(|| panic!("the failure is printed:\n{stderr}"))
        .replace(&dir.path().display().to_string(), "<dir>");
    assert_eq!(
        failure,
        "module foo failed: enabled script failed: hook foo/enabled: cannot start <dir>/modules/010-foo/enabled: Exec format error (os error 8)"
    );
}

#[test]
fn hook_test_prints_what_a_hook_wrote_and_the_values_after_its_patch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let context = dir.path().join("context.yaml");
    std::fs::write(
        &context,
        "- binding: namespaces\n  type: Group\n  snapshots:\n    namespaces:\n      - filterResult: team-b\n      - filterResult: team-a\n",
    )
    .expect("context");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "backups: |\n  retentionDays: 30\n").expect("config values");
    let out = addon_operator(
        &repo_root(),
        &[
            "hook",
            "test",
            "examples/crd-and-hooks/modules/010-backups/hooks/discover-namespaces",
            "--modules-dir",
            "examples/crd-and-hooks/modules",
            "--binding-context",
            &context.display().to_string(),
            "--config-values",
            &config.display().to_string(),
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        report["valuesPatch"],
        serde_json::json!([{"op": "add", "path": "/backups/internal/namespaces", "value": ["team-a", "team-b"]}])
    );
    assert_eq!(
        report["values"]["backups"]["internal"]["namespaces"],
        serde_json::json!(["team-a", "team-b"]),
        "the values after the patch"
    );
    assert_eq!(
        report["values"]["backups"]["retentionDays"], 30,
        "--config-values reach the hook's values"
    );
    for key in ["configValuesPatch", "kubernetesPatches", "metrics"] {
        assert_eq!(report[key], serde_json::json!([]), "{key}");
    }
}

#[test]
fn hook_test_fails_when_the_hook_fails_or_writes_what_the_operator_rejects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = "configVersion: v1\nonStartup: 1";
    write(
        dir.path(),
        "hooks/fails.sh",
        &hook(config, "echo 'cannot reach the API' >&2\nexit 3"),
        true,
    );
    write(
        dir.path(),
        "hooks/bad-metric.sh",
        &hook(
            config,
            "echo '{\"name\":\"runs\",\"action\":\"set\"}' >\"$METRICS_PATH\"",
        ),
        true,
    );
    write(
        dir.path(),
        "context.json",
        "[{\"binding\":\"onStartup\",\"type\":\"onStartup\"}]",
        false,
    );
    write(dir.path(), "values.json", "{\"global\":{}}", false);
    let run = |hook: &str| {
        addon_operator(
            dir.path(),
            &[
                "hook",
                "test",
                hook,
                "--binding-context",
                "context.json",
                "--values",
                "values.json",
            ],
        )
    };
    let failed = run("hooks/fails.sh");
    let stderr = text(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the API") && stderr.contains("exit status: 3"),
        "the hook's stderr and its exit status are shown:\n{stderr}"
    );
    let rejected = run("hooks/bad-metric.sh");
    let stderr = text(&rejected.stderr);
    assert_eq!(rejected.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the operator would reject this run: hook hooks/bad-metric.sh: malformed METRICS_PATH"
        ) && stderr.contains("line 1: value: required for set, add and observe"),
        "{stderr}"
    );
}

#[test]
fn hook_run_and_the_older_hook_name_form_run_the_built_in_hooks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = addon_operator(dir.path(), &["hook", "list"]);
    assert_eq!(text(&list.stdout), "discover-cluster-uuid\nself-update\n");
    let new = addon_operator(
        dir.path(),
        &["hook", "run", "discover-cluster-uuid", "--config"],
    );
    let old = addon_operator(dir.path(), &["hook", "discover-cluster-uuid", "--config"]);
    assert!(new.status.success() && old.status.success());
    assert!(text(&new.stdout).contains("\"configVersion\":\"v1\""));
    assert_eq!(new.stdout, old.stdout, "both forms run the same hook");
    for script in [
        "global-hooks/self-update",
        "global-hooks/discover-cluster-uuid",
    ] {
        let body = std::fs::read_to_string(repo_root().join(script)).expect("script");
        assert!(body.contains("hook run "), "{script} calls `hook run`");
    }
}

#[test]
fn version_names_the_build_and_completion_scripts_cover_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = addon_operator(dir.path(), &["version", "-o", "json"]);
    assert!(out.status.success());
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        version["rustc"]
            .as_str()
            .unwrap_or("")
            .starts_with("rustc "),
        "{version}"
    );
    for key in ["gitCommit", "buildDate"] {
        assert!(
            version[key].as_str().is_some_and(|v| !v.is_empty()),
            "{version}"
        );
    }
    let text_out = text(&addon_operator(dir.path(), &["version"]).stdout);
    assert!(text_out.starts_with(&format!("addon-operator {}\n", env!("CARGO_PKG_VERSION"))));
    for shell in ["bash", "zsh", "fish"] {
        let out = addon_operator(dir.path(), &["completion", shell]);
        let script = text(&out.stdout);
        assert!(out.status.success(), "completion {shell}");
        for word in ["lint", "diff", "snapshots", "modules-dir"] {
            assert!(script.contains(word), "completion {shell} knows {word}");
        }
    }
}

#[test]
fn output_into_a_pipe_closed_by_its_reader_ends_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    // The reader has gone before the command writes, as with `addon-operator completion bash |
    // head -1` once head has its line.
    drop(reader);
    let stderr = tempfile::NamedTempFile::new().expect("stderr file");
    let child = Command::new(env!("CARGO_BIN_EXE_addon-operator"))
        .current_dir(dir.path())
        .args(["completion", "bash"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(stderr.reopen().expect("stderr file"))
        .spawn()
        .expect("start addon-operator");
    let status = common::wait_within(child, CHILD_TIMEOUT).expect("addon-operator finishes");
    let stderr = std::fs::read_to_string(stderr.path()).expect("read stderr");
    assert!(
        status.success() && stderr.is_empty(),
        "{status}, stderr: {stderr}"
    );
}

#[test]
fn a_client_command_without_an_operator_says_how_to_start_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = addon_operator(dir.path(), &["module", "list"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/var/run/addon-operator/debug.socket")
            && stderr.contains("`addon-operator dev` serves .addon-operator/debug.socket"),
        "names the socket it tried and how to get one: {stderr}"
    );
}

/// A module `demo` with a ConfigMap, a Secret holding [`MARKER`] and a ConfigMap `gone`.
fn demo_module(modules: &Path) {
    write(modules, "values.yaml", "demoEnabled: true\n", false);
    write(
        modules,
        "010-demo/templates/objects.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  mode: live\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo\nstringData:\n  password: {MARKER}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\ndata:\n  a: b\n"
        ),
        false,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_what_an_apply_would_change_and_hook_snapshots_what_bindings_hold() {
    let c = Cluster::start("examples/basic/modules").await;
    let modules = c.dir.path().join("demo-modules");
    demo_module(&modules);
    std::fs::copy(
        repo_root().join("global-hooks/discover-cluster-uuid"),
        c.global_hooks.join("discover-cluster-uuid"),
    )
    .expect("global hook");
    let mut op = c.launch(Launch {
        modules_dir: Some(&modules),
        ..Launch::default()
    });
    op.wait_converged().await;
    let kubeconfig = c.kubeconfig.display().to_string();
    let socket = op.socket.display().to_string();
    let diff = |socket: &str| {
        addon_operator(
            c.dir.path(),
            &[
                "diff",
                "demo",
                "--modules-dir",
                &modules.display().to_string(),
                "--global-hooks-dir",
                &c.global_hooks.display().to_string(),
                "--namespace",
                NS,
                "--kubeconfig",
                &kubeconfig,
                "--debug-unix-socket",
                socket,
            ],
        )
    };
    let same = diff(&socket);
    assert_eq!(
        (same.status.code(), text(&same.stdout)),
        (Some(0), String::new()),
        "nothing to apply right after a convergence: {}",
        text(&same.stderr)
    );

    let snapshots = addon_operator(
        c.dir.path(),
        &[
            "hook",
            "snapshots",
            "discover-cluster-uuid",
            "--debug-unix-socket",
            &socket,
        ],
    );
    let held = text(&snapshots.stdout);
    assert!(
        snapshots.status.success()
            && held.contains("kube_system:")
            && held.contains("filterResult:"),
        "{held}{}",
        text(&snapshots.stderr)
    );
    let unknown = addon_operator(
        c.dir.path(),
        &["hook", "snapshots", "nope", "--debug-unix-socket", &socket],
    );
    assert!(
        !unknown.status.success() && text(&unknown.stderr).contains("hooks: discover-cluster-uuid"),
        "an unknown hook lists the loaded ones: {}",
        text(&unknown.stderr)
    );

    // Without the operator (it would repair the drift at once): the values come from the files.
    op.kill();
    c.kubectl(&[
        "-n",
        NS,
        "patch",
        "configmap",
        "demo",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"mode":"edited"}}"#,
    ]);
    let template = modules.join("010-demo/templates/objects.yaml");
    let rendered = std::fs::read_to_string(&template).expect("template");
    let kept = rendered
        .split("\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone")
        .next()
        .expect("part");
    std::fs::write(&template, format!("{kept}\n")).expect("drop `gone` from the render");
    let changed = diff(
        &c.dir
            .path()
            .join("no-operator.socket")
            .display()
            .to_string(),
    );
    let (stdout, stderr) = (text(&changed.stdout), text(&changed.stderr));
    assert_eq!(
        changed.status.code(),
        Some(1),
        "differences exit 1:\n{stdout}{stderr}"
    );
    let live = format!("--- live/v1.ConfigMap.{NS}.demo\n+++ merged/v1.ConfigMap.{NS}.demo\n");
    assert!(stdout.contains(&live), "kubectl diff's names:\n{stdout}");
    assert!(
        stdout.contains("-  mode: edited\n") && stdout.contains("+  mode: live\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("--- live/v1.ConfigMap.{NS}.gone\n"))
            && stdout.contains("-  a: b\n"),
        "an object the render no longer has shows as deleted:\n{stdout}"
    );
    assert!(
        !stdout.contains(MARKER) && !stdout.contains("managedFields"),
        "Secret values and managedFields stay out:\n{stdout}"
    );
    assert!(stderr.contains("no running operator answers"), "{stderr}");
    let cm = c.kubectl(&[
        "-n",
        NS,
        "get",
        "configmap",
        "demo",
        "-o",
        "jsonpath={.data.mode}",
    ]);
    assert_eq!(cm, "edited", "diff changes nothing");
    assert!(c.exists("configmap", "gone", NS), "diff deletes nothing");
}
