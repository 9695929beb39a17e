//! `addon-operator dev`: the embedded API server plus the operator, as a module author runs it.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{CHILD_TIMEOUT, copy_dir, kubectl_for, output_within, repo_root, wait_within};

/// `addon-operator dev` in `dir` with its own defaults: 127.0.0.1, free ports, hook temp files
/// in `.addon-operator/tmp`.
fn dev(dir: &std::path::Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_addon-operator"));
    cmd.current_dir(dir)
        .arg("dev")
        .args(extra)
        .env("LOG_LEVEL", "info")
        .env_remove("KUBECONFIG")
        .env_remove("ADDON_OPERATOR_MODULES_DIR")
        .env_remove("ADDON_OPERATOR_LISTEN_ADDRESS")
        .env_remove("ADDON_OPERATOR_LISTEN_PORT")
        .env_remove("ADDON_OPERATOR_TMP_DIR")
        .env_remove("VALIDATING_WEBHOOK_LISTEN_PORT")
        .env_remove("CONVERSION_WEBHOOK_LISTEN_PORT")
        .env_remove("DEBUG_UNIX_SOCKET");
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
    let out = output_within(&mut dev(dir.path(), &["--once"]), CHILD_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("MODULE"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("point kubectl at it") && !stderr.contains("export KUBECONFIG"),
        "no kubectl hint for a server that has exited:\n{stderr}"
    );
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

    let again = output_within(&mut dev(dir.path(), &["--once"]), CHILD_TIMEOUT);
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

/// A running `addon-operator dev` in `dir`; stderr goes to a file, never to an unread pipe
/// that could fill up and block the child. Killed on drop, so a failed assertion leaves no
/// process behind.
struct DevProcess {
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
    kubeconfig: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl DevProcess {
    fn start(dir: &std::path::Path) -> DevProcess {
        let log = dir.join("dev.log");
        let child = dev(dir, &[])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("dev starts");
        DevProcess {
            child: Some(child),
            dir: dir.to_path_buf(),
            kubeconfig: dir.join(".addon-operator/kubeconfig"),
            log,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A jsonpath of a ConfigMap in the operator namespace, or None while it does not exist.
    fn configmap(&self, name: &str, jsonpath: &str) -> Option<String> {
        let out = output_within(
            kubectl_for(&self.kubeconfig).args([
                "get",
                "configmap",
                name,
                "-n",
                "addon-operator",
                "-o",
                &format!("jsonpath={jsonpath}"),
            ]),
            CHILD_TIMEOUT,
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Polls `check` for up to 20 s; the failure message carries dev's log.
    fn wait(&self, what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `addon-operator <args>` started in dev's directory, as a module author runs the client
    /// commands next to `dev` (no `--debug-unix-socket`).
    fn client(&self, args: &[&str]) -> std::process::Output {
        output_within(
            Command::new(env!("CARGO_BIN_EXE_addon-operator"))
                .current_dir(&self.dir)
                .args(args)
                .env_remove("DEBUG_UNIX_SOCKET"),
            CHILD_TIMEOUT,
        )
    }

    /// SIGTERM; asserts exit code 0 (within 30 s) and returns the log.
    fn stop(mut self) -> String {
        let child = self.child.take().expect("dev is running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = wait_within(child, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("dev ignored SIGTERM for 30 s:\n{}", self.logs()));
        let logs = self.logs();
        assert!(status.success(), "dev exits 0 on SIGTERM:\n{logs}");
        logs
    }
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
    let dev = DevProcess::start(dir.path());
    // dev watches files from the end of its first convergence on: edit after it.
    dev.wait("dev converged", || {
        dev.configmap("echo-server", "{.data.message}").is_some()
            && dev.logs().contains("modules converged")
    });
    let template = dir
        .path()
        .join("modules/020-echo-server/templates/configmap.yaml");
    let text = std::fs::read_to_string(&template).expect("template");
    std::fs::write(&template, format!("{text}  edited: \"yes\"\n")).expect("edit template");
    dev.wait("the edit is applied", || {
        dev.configmap("echo-server", "{.data.edited}").as_deref() == Some("yes")
    });
    let uuid = dev
        .configmap("identity", "{.data.uuid}")
        .unwrap_or_default();
    assert!(
        !uuid.is_empty() && uuid != "unknown",
        "hook values survive a reload, got {uuid:?}"
    );
    let rollout = output_within(
        kubectl_for(&dev.kubeconfig).args([
            "rollout",
            "status",
            "deployment/echo-server",
            "-n",
            "addon-operator",
            "--timeout=20s",
        ]),
        CHILD_TIMEOUT,
    );
    assert!(
        rollout.status.success(),
        "workloads report ready in dev: {}",
        String::from_utf8_lossy(&rollout.stderr)
    );
    let list = dev.client(&["module", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success()
            && text
                .lines()
                .any(|l| l.starts_with("echo-server") && l.contains("Ready")),
        "module list finds dev's debug socket in .addon-operator/: {text}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let logs = dev.stop();
    assert!(
        !logs.contains("watch failed"),
        "watches outlived the embedded API server:\n{logs}"
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
    let dev = DevProcess::start(dir.path());
    let message = || dev.configmap("echo-server", "{.data.message}");
    dev.wait("the first hook's value is rendered", || {
        message().as_deref() == Some("first") && dev.logs().contains("modules converged")
    });
    write_hook(
        r#"{"configVersion":"v1","beforeHelm":"not a number"}"#,
        "broken",
    );
    dev.wait("the broken hook is reported", || {
        dev.logs().contains("module hooks cannot be loaded")
    });
    assert_eq!(
        message().as_deref(),
        Some("first"),
        "nothing is re-rendered with a broken hook:\n{}",
        dev.logs()
    );
    write_hook(good, "second edit");
    dev.wait("the edited hook's value is rendered", || {
        message().as_deref() == Some("second edit")
    });
    dev.stop();
}

impl DevProcess {
    /// `.addon-operator/dev.json` of this dev, once it is written with the HTTP endpoint.
    fn info(&self) -> serde_json::Value {
        let path = self.dir.join(".addon-operator/dev.json");
        let read = || {
            std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .filter(|info| info["http"].as_str().is_some_and(|h| !h.is_empty()))
        };
        self.wait("dev.json names the HTTP endpoint", || read().is_some());
        read().unwrap_or_default()
    }
}

/// `GET /readyz` on `http` (`http://address:port`): the status line.
fn readyz(http: &str) -> String {
    use std::io::{Read, Write};
    let address = http.strip_prefix("http://").expect("an http:// URL");
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return String::new();
    };
    let _ = write!(stream, "GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn two_devs_in_two_directories_run_side_by_side_on_free_local_ports() {
    let (a, b) = (workdir(), workdir());
    let first = DevProcess::start(a.path());
    let second = DevProcess::start(b.path());
    let mut ports = Vec::new();
    for dev in [&first, &second] {
        let http = dev.info()["http"].as_str().unwrap_or_default().to_string();
        assert!(
            http.starts_with("http://127.0.0.1:"),
            "dev listens on 127.0.0.1 by default: {http}"
        );
        dev.wait("dev answers /readyz", || readyz(&http).contains(" 200"));
        ports.push(http);
        let list = dev.client(&["module", "list"]);
        assert!(
            list.status.success(),
            "module list finds its own dev: {}",
            String::from_utf8_lossy(&list.stderr)
        );
    }
    assert_ne!(ports[0], ports[1], "each dev picks its own free port");
    assert!(
        !ports.iter().any(|p| p.ends_with(":9650")),
        "no fixed port: {ports:?}"
    );
    assert!(
        a.path().join(".addon-operator/tmp").is_dir(),
        "hook temp files stay in the dev's directory"
    );
    first.stop();
    second.stop();
}

#[test]
fn a_second_dev_in_the_same_directory_names_the_running_one_and_leaves_its_files_alone() {
    let dir = workdir();
    let running = DevProcess::start(dir.path());
    running.wait("dev converged", || {
        running.logs().contains("modules converged")
    });
    let info = running.info();
    let kubeconfig = std::fs::read(&running.kubeconfig).expect("kubeconfig");
    for extra in [&["--once"][..], &[]] {
        let out = output_within(&mut dev(dir.path(), extra), CHILD_TIMEOUT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "dev {extra:?} must refuse:\n{stderr}"
        );
        let pid = format!("pid {}", info["pid"]);
        let api = info["apiServer"].as_str().unwrap_or("?");
        assert!(
            stderr.contains("another addon-operator dev is using .addon-operator/")
                && stderr.contains(&pid)
                && stderr.contains(api),
            "the error names the running dev ({pid}, {api}):\n{stderr}"
        );
    }
    assert_eq!(
        std::fs::read(&running.kubeconfig).expect("kubeconfig"),
        kubeconfig,
        "the running dev's kubeconfig is not overwritten"
    );
    let list = running.client(&["module", "list"]);
    assert!(list.status.success(), "the running dev still answers");
    running.stop();
    assert!(
        !dir.path().join(".addon-operator/dev.json").exists(),
        "a stopped dev releases the directory"
    );
    let again = output_within(&mut dev(dir.path(), &["--once"]), CHILD_TIMEOUT);
    assert!(
        again.status.success(),
        "the directory is free again: {}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn dev_once_exits_non_zero_and_prints_each_failed_module_with_its_hook() {
    let dir = workdir();
    let hook = dir.path().join("modules/020-echo-server/hooks/fail.sh");
    std::fs::create_dir_all(hook.parent().expect("hooks dir")).expect("mkdir");
    std::fs::write(
        &hook,
        "#!/usr/bin/env bash\nif [[ \"${1:-}\" == --config ]]; then echo '{\"configVersion\":\"v1\",\"beforeHelm\":1}'; exit 0; fi\necho 'no database here' >&2\nexit 3\n",
    )
    .expect("write hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = output_within(&mut dev(dir.path(), &["--once"]), CHILD_TIMEOUT);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed module fails CI:\n{stderr}"
    );
    let failure = stderr
        .lines()
        .find(|l| l.starts_with("module echo-server failed: "))
        .unwrap_or_else(|| panic!("the failure is printed:\n{stderr}"));
    assert!(
        failure.contains("beforeHelm") && failure.contains("echo-server/hooks/fail.sh"),
        "the failure names the binding and the hook: {failure}"
    );
    assert!(
        stderr.contains("error: 1 module(s) failed: echo-server"),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("echo-server") && l.contains("Failed")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("prometheus") && l.contains("Ready")),
        "one failing module does not stop the others:\n{stdout}"
    );
}
