//! kubectl (v1.32, on PATH) against the `kube-emulator` binary.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one kubectl run or one expected output may take on a loaded 2-core CI machine:
/// a bound against hangs, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// A child process that is killed and reaped when dropped, so a failing assertion never
/// leaks it.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // Fails only when the process already exited, which is what we want.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a pipe to its end on a thread (so a chatty child cannot block on a full pipe).
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut p) = pipe {
            p.read_to_end(&mut out).unwrap();
        }
        out
    })
}

/// Waits until `child` exits, at most [`PATIENCE`]; kills it and fails the test otherwise.
fn wait_bounded(child: Child, what: &str) -> Output {
    let mut child = Reaped(child);
    let stdout = drain(child.0.stdout.take());
    let stderr = drain(child.0.stderr.take());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not exit within {PATIENCE:?} (killed); likely hung"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Sends each line of `pipe` to the returned channel, from a thread.
fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Receives lines until one satisfies `want`, at most [`PATIENCE`]; returns every line read.
fn until_line(rx: &mpsc::Receiver<String>, what: &str, want: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = want(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no line {what} within {PATIENCE:?} ({e}); read: {seen:?}"),
        }
    }
}

/// A running `kube-emulator` binary and its kubeconfig.
struct Cluster {
    /// Killed when the cluster is dropped.
    _child: Reaped,
    url: String,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Cluster {
        require_kubectl();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Reaped(
            Command::new(env!("CARGO_BIN_EXE_kube-emulator"))
                .args(["--port", "0", "--kubeconfig-out"])
                .arg(&kubeconfig)
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("kube-emulator binary starts"),
        );
        let stdout = lines(child.0.stdout.take().unwrap());
        let url = until_line(&stdout, "with the URL", |_| true).remove(0);
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "first stdout line is the URL, got {url:?}"
        );
        Cluster {
            _child: child,
            url,
            kubeconfig,
            dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, "")
    }

    fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .kubectl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        wait_bounded(child, &format!("kubectl {args:?}"))
    }

    /// kubectl with a discovery cache of its own: the shared `~/.kube/cache` is keyed by
    /// `host_port`, and another test's emulator on a reused port would answer from it.
    fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.kubeconfig.with_extension("kubectl-cache"))
            .args(args);
        cmd
    }

    /// Runs kubectl, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, "")
    }

    fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_stdin(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// POSTs to the admin endpoint.
    fn admin(&self, path_and_query: &str) -> String {
        let addr = self.url.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(conn, "POST /_emulator/{path_and_query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        reply
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn require_kubectl() {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .is_ok_and(|child| wait_bounded(child, "kubectl version").status.success());
    assert!(
        found,
        "kubectl is not on PATH: install kubectl (apt-get install kubectl / on the machine image)"
    );
}

const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: A, value: '1'}]
";

const CONFIGMAP: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn kubectl_client_side_apply_get_label_patch_and_delete_should_work() {
    let c = Cluster::start();
    let file = c.path("app.yaml");
    write(&file, &format!("{DEPLOYMENT}---{CONFIGMAP}"));
    let out = c.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(
        out.contains("deployment.apps/web created") && out.contains("configmap/settings created"),
        "{out}"
    );
    let again = c.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(again.contains("deployment.apps/web unchanged"), "{again}");

    let table = c.ok(&["get", "deployment", "web"]);
    assert!(
        table.contains("READY") && table.contains("0/1"),
        "deployment columns: {table}"
    );
    let yaml = c.ok(&["get", "deployment", "web", "-o", "yaml"]);
    assert!(
        yaml.contains("image: nginx:1.27")
            && yaml.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{yaml}"
    );

    c.ok(&["label", "configmap", "settings", "tier=backend"]);
    assert_eq!(
        c.ok(&["get", "cm", "-l", "tier=backend", "-o", "name"])
            .trim(),
        "configmap/settings"
    );

    c.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"mode":"slow"}}"#,
    ]);
    c.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/data/extra","value":"x"}]"#,
    ]);
    let data = c.ok(&[
        "get",
        "cm",
        "settings",
        "-o",
        "jsonpath={.data.mode},{.data.extra}",
    ]);
    assert_eq!(data, "slow,x");

    let strategic = r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.28","env":[{"name":"B","value":"2"}]}]}}}}"#;
    c.ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "strategic",
        "-p",
        strategic,
    ]);
    let patched = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[*].name} {.metadata.generation}"]);
    assert_eq!(patched, "nginx:1.28 A B 2");

    // Editing the file and re-applying removes what was dropped (three-way merge).
    write(&file, &DEPLOYMENT.replace("replicas: 1", "replicas: 3"));
    c.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );

    let del = c.ok(&["delete", "deployment", "web"]);
    assert!(del.contains("deleted"), "{del}");
    let missing = c.kubectl(&["get", "deployment", "web"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NotFound"));
}

#[test]
fn kubectl_server_side_apply_should_report_conflicts_and_force() {
    let c = Cluster::start();
    let file = c.path("cm.yaml");
    write(&file, CONFIGMAP);
    let out = c.ok(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
    assert!(out.contains("serverside-applied"), "{out}");
    write(&file, &CONFIGMAP.replace("fast", "other"));
    let conflict = c.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "intruder",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert!(!conflict.status.success());
    let err = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        err.contains("conflict") && err.contains(".data.mode"),
        "{err}"
    );
    c.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "intruder",
        "--force-conflicts",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        c.ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]),
        "other"
    );
    let managed = c.ok(&[
        "get",
        "cm",
        "settings",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managed.contains("intruder"), "{managed}");
}

#[test]
fn kubectl_get_watch_should_print_events_as_they_happen() {
    let c = Cluster::start();
    let mut watch = Reaped(
        c.kubectl_command(&["get", "configmaps", "--watch", "--output-watch-events"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines(watch.0.stdout.take().unwrap());
    c.ok(&["create", "configmap", "watched", "--from-literal=a=b"]);
    until_line(&rx, "ADDED watched", |l| {
        l.contains("ADDED") && l.contains("watched")
    });
    c.ok(&["delete", "configmap", "watched"]);
    until_line(&rx, "DELETED watched", |l| {
        l.contains("DELETED") && l.contains("watched")
    });
}

#[test]
fn kubectl_api_resources_and_namespaces_should_work() {
    let c = Cluster::start();
    let resources = c.ok(&["api-resources"]);
    for needle in [
        "deployments",
        "apps/v1",
        "customresourcedefinitions",
        "horizontalpodautoscalers",
        "leases",
        "mutatingwebhookconfigurations",
    ] {
        assert!(
            resources.contains(needle),
            "api-resources lacks {needle}:\n{resources}"
        );
    }
    assert_eq!(c.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    let ns_line = resources
        .lines()
        .find(|l| l.starts_with("namespaces "))
        .unwrap();
    assert!(
        ns_line.contains(" ns ") && ns_line.contains("false"),
        "{ns_line}"
    );

    c.ok(&["create", "namespace", "team-a"]);
    c.ok(&[
        "-n",
        "team-a",
        "create",
        "configmap",
        "c",
        "--from-literal=k=v",
    ]);
    c.ok(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=p=q",
    ]);
    assert_eq!(
        c.ok(&[
            "-n",
            "team-a",
            "get",
            "secret",
            "s",
            "-o",
            "jsonpath={.data.p} {.type}"
        ]),
        "cQ== Opaque"
    );
    assert!(c.ok(&["get", "ns"]).contains("team-a"));
    c.ok(&[
        "-n",
        "team-a",
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=80",
    ]);
    let spec = c.ok(&["-n", "team-a", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"]);
    assert_eq!(spec, "2 nginx:1.27 80");
    c.ok(&[
        "-n",
        "team-a",
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
    ]);
    let svc = c.ok(&[
        "-n",
        "team-a",
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.ports[0].port}->{.spec.ports[0].targetPort} {.spec.selector.app}",
    ]);
    assert_eq!(svc, "80->8080 web");
    c.ok(&[
        "-n",
        "team-a",
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods",
    ]);
    c.ok(&[
        "-n",
        "team-a",
        "create",
        "rolebinding",
        "readers",
        "--role=reader",
        "--serviceaccount=team-a:robot",
    ]);
    let rb = c.ok(&[
        "-n",
        "team-a",
        "get",
        "rolebinding",
        "readers",
        "-o",
        "jsonpath={.roleRef.name} {.subjects[0].kind}/{.subjects[0].name}",
    ]);
    assert_eq!(rb, "reader ServiceAccount/robot");
    c.ok(&[
        "-n",
        "team-a",
        "run",
        "box",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sleep",
        "1",
    ]);
    let pod = c.ok(&[
        "-n",
        "team-a",
        "get",
        "pod",
        "box",
        "-o",
        "jsonpath={.metadata.labels.run} {.spec.containers[0].args}",
    ]);
    assert_eq!(pod, r#"box ["sleep","1"]"#);
    c.ok(&[
        "-n",
        "team-a",
        "expose",
        "deployment",
        "web",
        "--name=web2",
        "--port=81",
        "--target-port=8080",
    ]);
    let missing = c.kubectl(&["-n", "nope", "create", "configmap", "c"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("namespaces \"nope\" not found"));
    c.ok(&["delete", "namespace", "team-a"]);
    assert!(
        !c.kubectl(&["-n", "team-a", "get", "cm", "c"])
            .status
            .success()
    );
}

const CRD: &str = "
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
";

#[test]
fn kubectl_should_serve_a_crd_after_it_is_created() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], CRD);
    c.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=60s",
    ]);
    let empty = c.kubectl(&["get", "widgets"]);
    assert!(
        empty.status.success(),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 2}\n";
    c.ok_stdin(&["apply", "-f", "-"], widget);
    c.ok_stdin(&["apply", "-f", "-"], &widget.replace("size: 2", "size: 3"));
    let table = c.ok(&["get", "widgets"]);
    assert!(
        table.contains("SIZE") && table.contains("w1") && table.contains(" 3 "),
        "printer columns: {table}"
    );
    assert_eq!(
        c.ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.size}"]),
        "3"
    );
    c.ok_stdin(
        &["apply", "--server-side", "-f", "-"],
        &widget.replace("w1", "w2"),
    );
    c.ok(&["delete", "crd", "widgets.example.com"]);
    assert!(!c.kubectl(&["get", "widgets"]).status.success());
}

#[test]
fn admin_endpoint_should_count_and_inject_faults_for_the_binary() {
    let c = Cluster::start();
    c.admin("reset-counts");
    c.ok(&["get", "configmaps"]);
    let counts = c.ok(&["get", "--raw", "/_emulator/counts"]);
    let v: serde_json::Value = serde_json::from_str(&counts).unwrap();
    assert_eq!(v["writes"], 0);
    assert!(
        v["counts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["verb"] == "list" && e["resource"] == "configmaps"),
        "{counts}"
    );
    c.admin("fail-next?n=1&code=500&verb=list&resource=configmaps");
    let failed = c.kubectl(&["get", "configmaps"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("injected fault"));
    c.ok(&["get", "configmaps"]);
    c.admin("conflict-next-write");
    assert!(!c.kubectl(&["create", "configmap", "x"]).status.success());
    c.ok(&["create", "configmap", "x"]);
    c.admin("clear-faults");
}

#[test]
fn state_file_should_persist_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    {
        let c = Cluster::start_with(&["--state", state_arg]);
        c.ok(&["create", "configmap", "kept", "--from-literal=a=b"]);
        c.ok_stdin(&["apply", "-f", "-"], CRD);
        c.ok_stdin(
            &["apply", "-f", "-"],
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\n",
        );
        // Poll the observable result (the debounced writer's file), up to PATIENCE.
        let deadline = Instant::now() + PATIENCE;
        while !std::fs::read_to_string(&state).is_ok_and(|s| s.contains("\"w1\"")) {
            assert!(
                Instant::now() < deadline,
                "state file not written within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let c = Cluster::start_with(&["--state", state_arg]);
    assert_eq!(
        c.ok(&["get", "cm", "kept", "-o", "jsonpath={.data.a}"]),
        "b"
    );
    assert!(c.ok(&["get", "widgets"]).contains("w1"));
    let before: u64 = c
        .ok(&[
            "get",
            "cm",
            "kept",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    c.ok(&["create", "configmap", "new"]);
    let after: u64 = c
        .ok(&[
            "get",
            "cm",
            "new",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(
        after > before,
        "the resourceVersion counter continues after a restart"
    );
}

#[test]
fn kubectl_rollout_status_should_finish_with_simulated_workloads() {
    let c = Cluster::start_with(&["--simulate-workloads"]);
    c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let out = c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let table = c.ok(&["get", "deployment", "web"]);
    assert!(table.contains("1/1"), "{table}");
}
