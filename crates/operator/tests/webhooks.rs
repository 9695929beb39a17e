//! Admission and conversion webhooks end to end: the `addon-operator` binary serves its hooks'
//! webhooks, the emulator calls them as kube-apiserver does, kubectl is the client.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Cluster, NS, OperatorProcess, free_port, require_jq};

const ADMISSION_SVC: &str = "addon-operator-validating-svc";
const CONVERSION_SVC: &str = "addon-operator-conversion-svc";
const CONFIG: &str = "addon-operator-hooks";
const SECRET: &str = "addon-operator-webhook-tls";

/// Starts the operator with its webhook ports on loopback and maps the webhook Services to
/// them (the emulator has no pod network); returns the operator and its admission port.
fn operator(c: &Cluster, extra: &[&str]) -> (OperatorProcess, u16) {
    let (admission, conversion) = (free_port(), free_port());
    let (a, v) = (admission.to_string(), conversion.to_string());
    let mut args = vec![
        "--validating-webhook-listen-address",
        "127.0.0.1",
        "--validating-webhook-listen-port",
        &a,
        "--conversion-webhook-listen-address",
        "127.0.0.1",
        "--conversion-webhook-listen-port",
        &v,
    ];
    args.extend_from_slice(extra);
    let op = c.operator(&args);
    map(c, ADMISSION_SVC, admission);
    map(c, CONVERSION_SVC, conversion);
    (op, admission)
}

fn map(c: &Cluster, service: &str, port: u16) {
    c.emu
        .controls()
        .map_service(NS, service, 443, vec![format!("127.0.0.1:{port}")]);
}

/// Polls `check` every 100 ms until it holds, failing after `secs` seconds.
async fn until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn write_hook(path: &Path, config: &str, body: &str) {
    write_file(
        path,
        &format!(
            "#!/usr/bin/env bash\nset -euo pipefail\nif [[ \"${{1:-}}\" == \"--config\" ]]; then\n  cat <<'CONFIG'\n{config}\nCONFIG\n  exit 0\nfi\n{body}\n"
        ),
    );
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Replaces the copied module set with `name` only (enabled), holding a ConfigMap template.
fn only_module(c: &Cluster, name: &str) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(c.modules.join("010-policy"));
    let key = name.split('-').skip(1).collect::<Vec<_>>().join("");
    write_file(
        &c.modules.join("values.yaml"),
        &format!("{key}Enabled: true\n"),
    );
    let dir = c.modules.join(name);
    write_file(
        &dir.join("templates/cm.yaml"),
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {key}\n"),
    );
    dir
}

/// `kubectl apply -f` of `yaml`.
fn apply(c: &Cluster, file: &str, yaml: &str) -> Output {
    let path = c.dir.path().join(file);
    write_file(&path, yaml);
    c.kubectl_raw(&["apply", "-f", path.to_str().expect("utf-8")])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: {image}\n"
    )
}

fn configured(c: &Cluster, kind: &str) -> bool {
    c.kubectl_raw(&["get", kind, CONFIG]).status.success()
}

/// A Deployment with `:latest` is refused by the policy example's hook, with its message.
fn assert_latest_refused(c: &Cluster, name: &str) {
    let out = apply(
        c,
        &format!("{name}.yaml"),
        &deployment(name, "nginx:latest"),
    );
    assert!(!out.status.success(), "a :latest image was admitted");
    assert!(
        stderr(&out).contains(
            "Error from server: error when creating"
        ) && stderr(&out).contains(
            "admission webhook \"image-tag.policy.example.com\" denied the request: images must name a tag other than latest: nginx:latest"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        !c.exists("deployment", name, "default"),
        "nothing is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_example_refuses_unpinned_images_labels_deployments_and_unregisters_when_disabled()
 {
    require_jq();
    let c = Cluster::start("examples/policy/modules").await;
    let (mut op, _) = operator(&c, &[]);
    op.wait_converged().await;
    until("the webhook configurations exist", 30, || {
        configured(&c, "validatingwebhookconfiguration")
            && configured(&c, "mutatingwebhookconfiguration")
    })
    .await;
    assert_latest_refused(&c, "web-latest");
    // The Status kube-apiserver answers: 403, no reason, the webhook's message.
    let client = kube::Client::try_from(kube::Config::new(c.emu.url().parse().expect("url")))
        .expect("client");
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, "default");
    let yaml: serde_json::Value =
        serde_yaml::from_str(&deployment("web-kube", "nginx:latest")).expect("yaml");
    let obj = serde_json::from_value(yaml).expect("a Deployment");
    match api.create(&Default::default(), &obj).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                (status.code, status.reason.as_str()),
                (403, ""),
                "{status:?}"
            );
            assert!(status.message.starts_with(
                "admission webhook \"image-tag.policy.example.com\" denied the request: "
            ));
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    let out = apply(
        &c,
        "untagged.yaml",
        &deployment("web-untagged", "registry:5000/nginx"),
    );
    assert!(
        stderr(&out).contains(
            "denied the request: images must name a tag other than latest: registry:5000/nginx"
        ),
        "{}",
        stderr(&out)
    );
    let out = apply(&c, "pinned.yaml", &deployment("web", "nginx:1.27"));
    assert!(out.status.success(), "{}", stderr(&out));
    let label = c.kubectl(&[
        "get",
        "deployment",
        "web",
        "-n",
        "default",
        "-o",
        "jsonpath={.metadata.labels.team}",
    ]);
    assert_eq!(
        label, "unassigned",
        "the mutating hook added the default label"
    );

    c.set_config(&[("policyEnabled", "false")]);
    until("the configurations are removed", 30, || {
        !configured(&c, "validatingwebhookconfiguration")
            && !configured(&c, "mutatingwebhookconfiguration")
    })
    .await;
    let out = apply(
        &c,
        "latest-again.yaml",
        &deployment("web-latest", "nginx:latest"),
    );
    assert!(out.status.success(), "no webhook is left: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_and_slow_hooks_are_answered_by_their_failure_policy() {
    require_jq();
    let c = Cluster::start("examples/policy/modules").await;
    let dir = only_module(&c, "010-guards");
    let cases = [
        ("crash-fail", "Fail", "echo boom >&2; exit 3"),
        ("crash-ignore", "Ignore", "echo boom >&2; exit 3"),
        ("slow-fail", "Fail", "sleep 30"),
        ("slow-ignore", "Ignore", "sleep 30"),
    ];
    // Denies everything its match condition lets through (the emulator's CEL subset).
    write_hook(
        &dir.join("hooks/conditional.sh"),
        "configVersion: v1\nkubernetesValidating:\n- name: conditional.guards.example.com\n  labelSelector: {matchLabels: {guard: conditional}}\n  matchConditions: [{name: not-skipped, expression: \"object.metadata.name != 'skip-me'\"}]\n  rules: [{apiGroups: [''], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]",
        r#"echo '{"allowed": false, "message": "conditional says no"}' > "$VALIDATING_RESPONSE_PATH""#,
    );
    for (case, policy, body) in cases {
        write_hook(
            &dir.join(format!("hooks/{case}.sh")),
            &format!(
                "configVersion: v1\nkubernetesValidating:\n- name: {case}.guards.example.com\n  failurePolicy: {policy}\n  timeoutSeconds: 2\n  labelSelector: {{matchLabels: {{guard: {case}}}}}\n  rules: [{{apiGroups: [''], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}}]"
            ),
            body,
        );
    }
    let (mut op, _) = operator(&c, &[]);
    op.wait_converged().await;
    until("the configuration exists", 30, || {
        configured(&c, "validatingwebhookconfiguration")
    })
    .await;
    for (case, policy, _) in cases {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {case}\n  namespace: default\n  labels: {{guard: {case}}}\n"
        );
        let out = apply(&c, &format!("{case}.yaml"), &cm);
        let stored = c.exists("configmap", case, "default");
        if policy == "Fail" {
            assert!(!out.status.success() && !stored, "{case} was admitted");
            assert!(
                stderr(&out).contains(&format!("{case}.guards.example.com")),
                "{case}: {}",
                stderr(&out)
            );
        } else {
            assert!(out.status.success() && stored, "{case}: {}", stderr(&out));
        }
    }
    for (name, admitted) in [("skip-me", true), ("deny-me", false)] {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {{guard: conditional}}\n"
        );
        let out = apply(&c, &format!("{name}.yaml"), &cm);
        assert_eq!(out.status.success(), admitted, "{name}: {}", stderr(&out));
        if !admitted {
            assert!(
                stderr(&out).contains("conditional says no"),
                "{}",
                stderr(&out)
            );
        }
    }
}

/// The certificate in the Secret and the one the server presents.
fn secret_cert(c: &Cluster) -> Option<String> {
    let out = c.kubectl_raw(&[
        "get",
        "secret",
        SECRET,
        "-n",
        NS,
        "-o",
        "jsonpath={.data.tls\\.crt}",
    ]);
    (out.status.success() && !out.stdout.is_empty())
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn decode(b64: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim()).expect("base64")
}

/// The DER certificate the admission server presents, verified against the Secret's CA for
/// the Service's DNS name.
fn served_cert(c: &Cluster, port: u16, secret: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};
    let ca = c.kubectl(&[
        "get",
        "secret",
        secret,
        "-n",
        NS,
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&decode(&ca)) {
        roots.add(cert.ok()?).ok()?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(format!("{ADMISSION_SVC}.{NS}.svc")).ok()?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).ok()?;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut reply = String::new();
    let _ = tls.read_to_string(&mut reply);
    tls.conn.peer_certificates()?.first().map(|c| c.to_vec())
}

fn pem_der(b64: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(&decode(b64))
        .next()
        .and_then(Result::ok)
        .map(|c| c.to_vec())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_generated_once_reused_after_a_restart_and_rotated() {
    require_jq();
    let c = Cluster::start("examples/policy/modules").await;
    let (mut op, port) = operator(&c, &[]);
    op.wait_converged().await;
    until("the configuration exists", 30, || {
        configured(&c, "validatingwebhookconfiguration")
    })
    .await;
    let first = secret_cert(&c).expect("a generated certificate in the Secret");
    assert_eq!(
        served_cert(&c, port, SECRET),
        Some(pem_der(&first)),
        "the server presents it"
    );
    assert_latest_refused(&c, "one");
    op.kill();

    let (mut op, port) = operator(&c, &[]);
    op.wait_converged().await;
    assert_eq!(
        secret_cert(&c).as_deref(),
        Some(first.as_str()),
        "reused after a restart"
    );
    assert_eq!(served_cert(&c, port, SECRET), Some(pem_der(&first)));
    assert_latest_refused(&c, "two");
    op.kill();

    // A validity shorter than what is left renews at once, then after two thirds of it.
    let (mut op, port) = operator(&c, &["--webhook-cert-validity", "3"]);
    op.wait_converged().await;
    let mut second = String::new();
    until("the certificate is renewed", 60, || {
        second = secret_cert(&c).unwrap_or_default();
        !second.is_empty() && second != first
    })
    .await;
    until("it is renewed again", 60, || {
        secret_cert(&c).is_some_and(|s| s != second)
    })
    .await;
    until("the server presents the Secret's certificate", 60, || {
        secret_cert(&c).is_some_and(|s| served_cert(&c, port, SECRET) == Some(pem_der(&s)))
    })
    .await;
    assert_latest_refused(&c, "three");
    op.kill();

    // A Secret the user names is served as it is, and nothing is generated.
    let generated = c.kubectl(&["get", "secret", SECRET, "-n", NS, "-o", "json"]);
    let mut user: serde_json::Value = serde_json::from_str(&generated).expect("secret JSON");
    user["metadata"] = serde_json::json!({"name": "user-tls", "namespace": NS});
    let file = c.dir.path().join("user-tls.json");
    std::fs::write(&file, user.to_string()).expect("write");
    c.kubectl(&["create", "-f", file.to_str().expect("utf-8")]);
    c.kubectl(&["delete", "secret", SECRET, "-n", NS]);
    let (mut op, port) = operator(&c, &["--webhook-tls-secret", "user-tls"]);
    op.wait_converged().await;
    let user_cert = user["data"]["tls.crt"]
        .as_str()
        .expect("tls.crt")
        .to_string();
    until("the server presents the user's certificate", 30, || {
        served_cert(&c, port, "user-tls") == Some(pem_der(&user_cert))
    })
    .await;
    assert_latest_refused(&c, "four");
    assert!(secret_cert(&c).is_none(), "no certificate is generated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ha_replicas_both_answer_admission() {
    require_jq();
    let c = Cluster::start("examples/policy/modules").await;
    let ha = ["--ha", "--lease-duration", "3"];
    let (mut a, port_a) = operator(&c, &[&ha[..], &["--pod-name", "a"]].concat());
    let (mut b, port_b) = operator(&c, &[&ha[..], &["--pod-name", "b"]].concat());
    let leader = |op: &OperatorProcess| op.module_list().is_some_and(|s| s["leader"] == true);
    until("one replica leads", 60, || leader(&a) || leader(&b)).await;
    assert!(!(leader(&a) && leader(&b)), "one leader only");
    if leader(&a) {
        a.wait_converged().await;
    } else {
        b.wait_converged().await;
    }
    until("the configuration exists", 30, || {
        configured(&c, "validatingwebhookconfiguration")
    })
    .await;
    for (name, port) in [("via-a", port_a), ("via-b", port_b)] {
        map(&c, ADMISSION_SVC, port);
        assert_latest_refused(&c, name);
    }
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cron: {type: array, items: {type: string}}
              image: {type: string}
  - name: v1alpha2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cron: {type: string}
              image: {type: string}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_crd_with_a_conversion_hook_serves_both_versions_through_kubectl() {
    require_jq();
    let c = Cluster::start("examples/policy/modules").await;
    let dir = only_module(&c, "010-crontabs");
    write_file(&dir.join("crds/crontabs.yaml"), CRD);
    write_hook(
        &dir.join("hooks/convert.sh"),
        "configVersion: v1\nkubernetesCustomResourceConversion:\n- name: alpha1_to_alpha2\n  crdName: crontabs.stable.example.com\n  conversions: [{fromVersion: stable.example.com/v1alpha1, toVersion: stable.example.com/v1alpha2}]\n- name: alpha2_to_alpha1\n  crdName: crontabs.stable.example.com\n  conversions: [{fromVersion: stable.example.com/v1alpha2, toVersion: stable.example.com/v1alpha1}]",
        r#"jq '.[0] as $c | {convertedObjects: [$c.review.request.objects[] |
  if .apiVersion == $c.fromVersion then
    .apiVersion = $c.toVersion
    | .spec.cron = (if ($c.toVersion | endswith("v1alpha2")) then (.spec.cron | join(" ")) else (.spec.cron | split(" ")) end)
  else . end]}' "$BINDING_CONTEXT_PATH" > "$CONVERSION_RESPONSE_PATH""#,
    );
    let (mut op, _) = operator(&c, &[]);
    op.wait_converged().await;
    until("the CRD converts through the webhook", 30, || {
        c.kubectl_raw(&[
            "get",
            "crd",
            "crontabs.stable.example.com",
            "-o",
            "jsonpath={.spec.conversion.strategy}",
        ])
        .stdout
            == b"Webhook"
    })
    .await;
    let a = "apiVersion: stable.example.com/v1alpha1\nkind: CronTab\nmetadata: {name: a, namespace: default}\nspec: {cron: ['*', '*', '*', '*', '*/5'], image: x:1}\n";
    let out = apply(&c, "a.yaml", a);
    assert!(out.status.success(), "{}", stderr(&out));
    let get = |res: &str, name: &str, path: &str| {
        c.kubectl(&[
            "get",
            res,
            name,
            "-n",
            "default",
            "-o",
            &format!("jsonpath={path}"),
        ])
    };
    assert_eq!(
        get("crontabs.v1alpha2.stable.example.com", "a", "{.spec.cron}"),
        "* * * * */5"
    );
    assert_eq!(
        get("crontabs.v1alpha2.stable.example.com", "a", "{.apiVersion}"),
        "stable.example.com/v1alpha2"
    );
    let b = "apiVersion: stable.example.com/v1alpha2\nkind: CronTab\nmetadata: {name: b, namespace: default}\nspec: {cron: '0 1 * * *', image: x:1}\n";
    let out = apply(&c, "b.yaml", b);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        get(
            "crontabs.v1alpha1.stable.example.com",
            "b",
            "{.spec.cron[1]}"
        ),
        "1"
    );
    assert_eq!(
        get("crontabs.v1alpha2.stable.example.com", "b", "{.spec.cron}"),
        "0 1 * * *"
    );
    let list = c.kubectl(&[
        "get",
        "crontabs.v1alpha2.stable.example.com",
        "-n",
        "default",
        "-o",
        "jsonpath={.items[*].spec.cron}",
    ]);
    assert_eq!(list, "* * * * */5 0 1 * * *");
}
