//! Issue 12 §1–2: the install in `deploy/` and the image's `Dockerfile`. The shipped
//! ClusterRole is exactly what `addon-operator rbac` generates for the shipped modules and
//! global hooks; `kubectl apply --server-side -k` installs `deploy/` and `deploy/ha/` with
//! every object accepted, hardened as the issue asks; the Dockerfile copies only paths that
//! exist and stamps the version.

mod common;

use std::process::Command;

use common::{CHILD_TIMEOUT, Cluster, output_within, repo_root};
use serde_json::Value;

/// The generated RBAC file `deploy/` ships.
const RBAC_FILE: &str = "deploy/base/rbac.yaml";

/// `addon-operator rbac` for the shipped module set, run in the repository root as the
/// file's header says.
fn generated_rbac() -> String {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .current_dir(repo_root())
            .env_remove("ADDON_OPERATOR_MODULES_DIR")
            .env_remove("ADDON_OPERATOR_GLOBAL_HOOKS_DIR")
            .env_remove("ADDON_OPERATOR_NAMESPACE")
            .env("LOG_LEVEL", "error")
            .args([
                "rbac",
                "--modules-dir",
                "modules",
                "--global-hooks-dir",
                "global-hooks",
            ]),
        CHILD_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "addon-operator rbac failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_shipped_rbac_is_what_the_rbac_command_generates_for_the_shipped_modules() {
    let generated = generated_rbac();
    let path = repo_root().join(RBAC_FILE);
    if std::env::var_os("GOLDEN_OVERWRITE").is_some() {
        std::fs::write(&path, &generated).expect("write the RBAC file");
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "{RBAC_FILE} is stale: regenerate it with\n  addon-operator rbac --modules-dir modules --global-hooks-dir global-hooks > {RBAC_FILE}\n(or GOLDEN_OVERWRITE=1 cargo test -p operator --test deploy) and review the diff.\n--- shipped\n{shipped}\n--- generated\n{generated}"
    );
    for who in [
        "# the operator: reads and watches its ConfigMap addon-operator",
        "# module echo-server: applies, prunes, watches Deployment addon-operator/echo-server",
        "# hook prometheus/hooks/storage-class: deletes the StatefulSet prometheus",
        "# hook self-update: binding deployment watches Deployment",
        "# module prometheus: its ClusterRole prometheus grants it",
    ] {
        assert!(generated.contains(who), "a rule says {who:?}:\n{generated}");
    }
}

/// The objects `kubectl kustomize dir` builds: (kind, namespace, name).
fn built_objects(c: &Cluster, dir: &str) -> Vec<(String, String, String)> {
    let path = repo_root().join(dir);
    let yaml = c.kubectl(&["kustomize", path.to_str().expect("UTF-8 path")]);
    let (docs, err) = yaml_json::parse_stream(&yaml);
    assert!(err.is_none(), "kubectl kustomize {dir}: {err:?}");
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|d| {
            let text = |p: &str| {
                d.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (
                text("/kind"),
                text("/metadata/namespace"),
                text("/metadata/name"),
            )
        })
        .collect()
}

/// `kubectl apply --server-side -k dir` to a fresh emulator; every object it builds is then
/// served. Returns the cluster.
async fn install(dir: &str) -> Cluster {
    let c = Cluster::start("modules").await;
    let path = repo_root().join(dir);
    let out = c.kubectl(&[
        "apply",
        "--server-side",
        "-k",
        path.to_str().expect("UTF-8 path"),
    ]);
    let objects = built_objects(&c, dir);
    assert!(objects.len() >= 9, "{dir} builds {objects:?}");
    for (kind, ns, name) in &objects {
        let mut args = vec!["get", kind.as_str(), name.as_str(), "-o", "name"];
        if !ns.is_empty() {
            args.extend(["-n", ns.as_str()]);
        }
        let found = c.kubectl_raw(&args);
        assert!(
            found.status.success(),
            "{kind} {ns}/{name} from {dir} is not served after the apply:\n{out}\n{}",
            String::from_utf8_lossy(&found.stderr)
        );
    }
    c
}

fn deployment(c: &Cluster) -> Value {
    let json = c.kubectl(&[
        "get",
        "deployment",
        "addon-operator",
        "-n",
        "addon-operator",
        "-o",
        "json",
    ]);
    serde_json::from_str(&json).expect("JSON")
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_server_side_k_installs_a_hardened_operator() {
    let c = install("deploy").await;
    let d = deployment(&c);
    let pod = &d["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(pod["serviceAccountName"], "addon-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for (name, field) in [
        ("ADDON_OPERATOR_NAMESPACE", "metadata.namespace"),
        ("ADDON_OPERATOR_POD", "metadata.name"),
    ] {
        assert_eq!(
            env(container, name).map(|e| &e["valueFrom"]["fieldRef"]["fieldPath"]),
            Some(&Value::from(field)),
            "{name} comes from the downward API"
        );
    }
    // Every path the operator writes is on an emptyDir.
    let mounts: Vec<(String, String)> = container["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap_or_default().to_string(),
                m["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for var in ["ADDON_OPERATOR_TMP_DIR", "DEBUG_UNIX_SOCKET"] {
        let path = env(container, var)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default();
        let (_, volume) = mounts
            .iter()
            .find(|(mount, _)| path.starts_with(mount.as_str()))
            .unwrap_or_else(|| panic!("{var}={path} is on no mounted volume: {mounts:?}"));
        let volume = pod["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == volume.as_str()))
            .expect("the mounted volume");
        assert!(
            volume["emptyDir"].is_object(),
            "{var} is on an emptyDir: {volume}"
        );
    }
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][kind][resource].is_string(),
                "{kind}.{resource}"
            );
        }
    }
    let service = c.kubectl(&[
        "get",
        "service",
        "addon-operator",
        "-n",
        "addon-operator",
        "-o",
        "jsonpath={.spec.ports[0].targetPort}",
    ]);
    assert_eq!(
        service, "http",
        "the metrics Service targets the container's http port"
    );
    let binding = c.kubectl(&[
        "get",
        "clusterrolebinding",
        "addon-operator",
        "-o",
        "jsonpath={.roleRef.name}",
    ]);
    assert_eq!(
        binding, "addon-operator",
        "bound to the generated ClusterRole, not cluster-admin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ha_overlay_runs_two_replicas_with_leader_election_and_a_disruption_budget() {
    let c = install("deploy/ha").await;
    let d = deployment(&c);
    assert_eq!(d["spec"]["replicas"], 2);
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        env(container, "ADDON_OPERATOR_HA").map(|e| &e["value"]),
        Some(&Value::from("true"))
    );
    let pdb = c.kubectl(&[
        "get",
        "poddisruptionbudget",
        "addon-operator",
        "-n",
        "addon-operator",
        "-o",
        "jsonpath={.spec.minAvailable}",
    ]);
    assert_eq!(pdb, "1");
}

/// One Dockerfile instruction: keyword and arguments (continuation lines joined).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (keyword, args) = current
                    .trim()
                    .split_once(' ')
                    .unwrap_or((current.trim(), ""));
                out.push((keyword.to_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_copies_only_existing_paths_runs_as_non_root_and_stamps_the_version() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("Dockerfile")).expect("the Dockerfile");
    let steps = instructions(&text);
    let mut stages = Vec::new();
    for (keyword, args) in &steps {
        match keyword.as_str() {
            "FROM" => stages.push(args.rsplit(' ').next().unwrap_or_default().to_string()),
            "COPY" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                if let Some(from) = words.iter().find_map(|w| w.strip_prefix("--from=")) {
                    assert!(
                        stages.iter().any(|s| s == from),
                        "COPY --from={from}: no such stage before it"
                    );
                    continue;
                }
                for source in &words[..words.len() - 1] {
                    assert!(
                        root.join(source).exists(),
                        "COPY {source}: no such path in the repository"
                    );
                    let ignored =
                        std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
                    assert!(
                        !ignored
                            .lines()
                            .any(|l| l.trim() == source.trim_end_matches('/')),
                        "COPY {source}: excluded by .dockerignore"
                    );
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        stages.len(),
        3,
        "build, kubectl and runtime stages: {stages:?}"
    );
    let runtime: Vec<&(String, String)> = steps
        .iter()
        .skip_while(|(k, a)| !(k == "FROM" && a.starts_with("debian") && !a.contains(" AS ")))
        .collect();
    let user = runtime
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.as_str());
    let uid: u32 = user
        .and_then(|u| u.split(':').next())
        .and_then(|u| u.parse().ok())
        .expect("the runtime stage sets a numeric USER");
    assert_ne!(uid, 0, "not root");
    assert!(
        runtime
            .iter()
            .any(|(k, a)| k == "COPY" && a.ends_with("/usr/local/bin/kubectl")),
        "kubectl is in the runtime image"
    );
    for arg in ["ADDON_OPERATOR_VERSION", "ADDON_OPERATOR_COMMIT"] {
        assert!(
            steps.iter().any(|(k, a)| k == "ARG" && a.starts_with(arg)),
            "ARG {arg}"
        );
        let build: Vec<&(String, String)> = steps
            .iter()
            .skip_while(|(k, a)| !(k == "FROM" && a.ends_with("AS build")))
            .take_while(|(k, a)| k != "FROM" || a.ends_with("AS build"))
            .collect();
        assert!(
            build
                .iter()
                .any(|(k, a)| k == "ENV" && a.contains(&format!("{arg}=${{{arg}}}"))),
            "the build stage hands {arg} to cargo"
        );
    }
}
