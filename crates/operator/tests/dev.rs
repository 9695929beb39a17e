//! `addon-operator dev`: the embedded API server plus the operator, as a module author runs it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, repo_root};

fn dev(dir: &std::path::Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_addon-operator"));
    cmd.current_dir(dir)
        .arg("dev")
        .args([
            "--listen-address",
            "127.0.0.1",
            "--listen-port",
            "0",
            "--tmp-dir",
            "tmp",
        ])
        .args(extra)
        .env("LOG_LEVEL", "info")
        .env_remove("KUBECONFIG")
        .env_remove("ADDON_OPERATOR_MODULES_DIR");
    cmd
}

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&repo_root().join("modules"), &dir.path().join("modules"));
    // The shipped global hooks too: dev runs them from a relative directory.
    copy_dir(
        &repo_root().join("global-hooks"),
        &dir.path().join("global-hooks"),
    );
    dir
}

#[test]
fn dev_once_converges_prints_a_summary_and_keeps_state_across_runs() {
    let dir = workdir();
    let out = dev(dir.path(), &["--once"]).output().expect("dev runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("MODULE"), "{stdout}");
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    };
    let ingress = row("ingress-nginx").expect("ingress-nginx row");
    assert_eq!(ingress[1..5], ["true", "Ready", "9", "9"], "{stdout}");
    assert!(dir.path().join(".addon-operator/dev-state").exists());
    assert!(dir.path().join(".addon-operator/kubeconfig").exists());

    let again = dev(dir.path(), &["--once"]).output().expect("dev runs");
    let stdout = String::from_utf8_lossy(&again.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    };
    let ingress = row("ingress-nginx").expect("ingress-nginx row");
    assert_eq!(
        ingress[1..5],
        ["true", "Ready", "9", "0"],
        "the state survived; nothing is rewritten:\n{stdout}"
    );
}

#[test]
fn dev_rerenders_a_module_when_its_template_changes() {
    let dir = workdir();
    // The shipped global hook's value must survive the reload of the edited module files.
    std::fs::write(
        dir.path().join("modules/020-echo-server/templates/identity.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: identity\ndata:\n  uuid: {{#if Values.global.discovery}}{{quote Values.global.discovery.clusterUUID}}{{else}}\"unknown\"{{/if}}\n",
    )
    .expect("identity template");
    // stderr goes to a file, never to an unread pipe that could fill up and block the child.
    let log = dir.path().join("dev.log");
    let mut child = dev(dir.path(), &[])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("dev starts");
    let kubeconfig = dir.path().join(".addon-operator/kubeconfig");
    let get = |jsonpath: &str| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "get",
                "configmap",
                "echo-server",
                "-n",
                "addon-operator",
                "-o",
                &format!("jsonpath={jsonpath}"),
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("dev converged", &|| get("{.data.message}").is_some());
    let template = dir
        .path()
        .join("modules/020-echo-server/templates/configmap.yaml");
    let text = std::fs::read_to_string(&template).expect("template");
    std::fs::write(&template, format!("{text}  edited: \"yes\"\n")).expect("edit template");
    wait("the edit is applied", &|| {
        get("{.data.edited}").as_deref() == Some("yes")
    });
    let identity = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "configmap",
            "identity",
            "-n",
            "addon-operator",
            "-o",
            "jsonpath={.data.uuid}",
        ])
        .output()
        .expect("kubectl runs");
    let uuid = String::from_utf8_lossy(&identity.stdout).into_owned();
    assert!(
        !uuid.is_empty() && uuid != "unknown",
        "hook values survive a reload, got {uuid:?}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("dev exits");
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "dev exits 0 on SIGTERM:\n{stderr}");
    assert!(
        !stderr.contains("watch failed"),
        "watches outlived the embedded API server:\n{stderr}"
    );
}

#[test]
fn dev_reloads_an_edited_module_hook() {
    let dir = workdir();
    let hook = dir.path().join("modules/020-echo-server/hooks/message.sh");
    let write_hook = |config: &str, message: &str| {
        std::fs::create_dir_all(hook.parent().expect("hooks dir")).expect("mkdir");
        let script = format!(
            "#!/usr/bin/env bash\nif [[ \"${{1:-}}\" == \"--config\" ]]; then echo '{config}'; exit 0; fi\n\
             echo '[{{\"op\":\"add\",\"path\":\"/echoServer/message\",\"value\":\"{message}\"}}]' > \"$VALUES_JSON_PATCH_PATH\"\n"
        );
        std::fs::write(&hook, script).expect("write hook");
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    };
    let good = r#"{"configVersion":"v1","beforeHelm":1}"#;
    write_hook(good, "first");
    let log = dir.path().join("dev.log");
    let mut child = dev(dir.path(), &[])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("dev starts");
    let kubeconfig = dir.path().join(".addon-operator/kubeconfig");
    let message = || {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "get",
                "configmap",
                "echo-server",
                "-n",
                "addon-operator",
                "-o",
                "jsonpath={.data.message}",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            let logs = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("the first hook's value is rendered", &|| {
        message().as_deref() == Some("first")
    });
    write_hook(
        r#"{"configVersion":"v1","beforeHelm":"not a number"}"#,
        "broken",
    );
    wait("the broken hook is reported", &|| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("module hooks cannot be loaded")
    });
    assert_eq!(
        message().as_deref(),
        Some("first"),
        "nothing is re-rendered with a broken hook:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    write_hook(good, "second edit");
    wait("the edited hook's value is rendered", &|| {
        message().as_deref() == Some("second edit")
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("dev exits").success());
}
