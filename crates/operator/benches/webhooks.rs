//! Issue 13 benchmark: the admission round trip (client write → hook run → response) through
//! the `addon-operator run` binary, against the same write with no webhook and against a
//! trivial webhook handler written in Rust, in the same run on the in-process kube-emulator.
//!
//! Run: `cargo bench -p operator --bench webhooks` (release build; about 20 s of measuring on
//! 2 cores once built). It prints a markdown table and the ratios.
//!
//! Each write is a kube-rs `create` of a small ConfigMap in `default`, one at a time, timed from
//! the request to the response; the label `bench` decides which webhook sees it:
//!
//! - none: no webhook configuration matches;
//! - rust: a ValidatingWebhookConfiguration whose handler, in this process, answers
//!   `allowed: true` at once (HTTPS with rustls, like the operator's server);
//! - operator: the operator's validating hook `allow.sh` (bash: one `echo` into
//!   `$VALIDATING_RESPONSE_PATH`), served by the operator binary;
//! - direct: no write at all: `allow.sh` run directly, as the operator runs it (a binding
//!   context file, the response file, the process, reading the answer), to size the hook.
//!
//! The operator's overhead over running the hook directly is
//! `(operator p50 − none p50) / direct p50`; the issue bounds it by 1.2.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, PostParams};
use kube_emulator::Emulator;
use serde_json::{Value, json};

const WRITES: usize = 200;
const WARMUP: usize = 20;
const NS: &str = "addon-operator";

fn main() -> ExitCode {
    common::main_with("webhooks", run)
}

const HOOK: &str = r#"#!/usr/bin/env bash
if [[ "${1:-}" == "--config" ]]; then
  cat <<'CONFIG'
configVersion: v1
kubernetesValidating:
- name: allow.bench.example.com
  labelSelector: {matchLabels: {bench: hook}}
  rules: [{apiGroups: [''], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
CONFIG
  exit 0
fi
echo '{"allowed": true}' > "$VALIDATING_RESPONSE_PATH"
"#;

async fn run() -> Result<()> {
    let emu = Emulator::start().await.context("starting the emulator")?;
    let client = kube::Client::try_from(kube::Config::new(emu.url().parse()?))?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    emu.write_kubeconfig(&kubeconfig)?;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
    )
    .await?;

    let none = writes(&client, "none").await?;

    let rust_port = rust_webhook(&emu, &client).await?;
    let rust = writes(&client, "rust").await?;

    let module = dir.path().join("modules/010-bench");
    std::fs::create_dir_all(module.join("hooks"))?;
    std::fs::create_dir_all(module.join("templates"))?;
    std::fs::write(
        dir.path().join("modules/values.yaml"),
        "benchEnabled: true\n",
    )?;
    std::fs::write(
        module.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench\n",
    )?;
    let hook = module.join("hooks/allow.sh");
    std::fs::write(&hook, HOOK)?;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    let mut op = Operator::start(&emu, dir.path(), &kubeconfig)?;
    let configs = validating_configurations(&client);
    let deadline = Instant::now() + Duration::from_secs(60);
    while configs.get_opt("addon-operator-hooks").await?.is_none() {
        op.check()?;
        ensure!(
            Instant::now() < deadline,
            "the operator did not register its webhook in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let operator = writes(&client, "hook").await?;
    drop(op);

    let direct = direct(&hook, dir.path())?;
    println!(
        "rust webhook on 127.0.0.1:{rust_port}; {WRITES} writes each after {WARMUP} warm-up writes\n"
    );
    println!("| write | p50 | p99 |\n| --- | --- | --- |");
    for (name, d) in [
        ("no webhook", &none),
        ("trivial Rust webhook (HTTPS, allowed at once)", &rust),
        ("addon-operator: validating hook allow.sh", &operator),
        ("allow.sh run directly (no write)", &direct),
    ] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms |",
            ms(pct(d, 0.5)),
            ms(pct(d, 0.99))
        );
    }
    let added = ms(pct(&operator, 0.5)) - ms(pct(&none, 0.5));
    let rust_added = ms(pct(&rust, 0.5)) - ms(pct(&none, 0.5));
    println!(
        "\nwebhook round trip added by the operator: {added:.2} ms (p50); by the Rust handler: {rust_added:.2} ms"
    );
    println!(
        "operator overhead over running the hook directly: {:.2}× (bound: 1.2×)",
        added / ms(pct(&direct, 0.5))
    );
    emu.shutdown().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(samples: &[Duration], q: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[((s.len() as f64 - 1.0) * q).round() as usize]
}

/// Creates ConfigMaps labelled `bench: <label>` one at a time; the times of the measured ones.
async fn writes(client: &kube::Client, label: &str) -> Result<Vec<Duration>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut times = Vec::new();
    for i in 0..WARMUP + WRITES {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("{label}-{i}"),
            "labels": {"bench": label}}, "data": {"k": "v"}}))?;
        let start = Instant::now();
        api.create(&PostParams::default(), &cm)
            .await
            .with_context(|| format!("creating {label}-{i}"))?;
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    Ok(times)
}

/// Runs the hook the way the operator does, without the operator: writes a binding context,
/// runs the process with the response file, reads the answer.
fn direct(hook: &std::path::Path, dir: &std::path::Path) -> Result<Vec<Duration>> {
    let context = dir.join("context.json");
    let response = dir.join("response.json");
    let review = json!([{"binding": "allow.bench.example.com", "type": "Validating", "review": {"request": {
        "uid": "u", "operation": "CREATE", "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}}}}]);
    let mut times = Vec::new();
    for i in 0..WARMUP + WRITES {
        let start = Instant::now();
        std::fs::write(&context, serde_json::to_vec(&review)?)?;
        std::fs::write(&response, "")?;
        let status = std::process::Command::new(hook)
            .env("BINDING_CONTEXT_PATH", &context)
            .env("VALIDATING_RESPONSE_PATH", &response)
            .stdin(Stdio::null())
            .status()?;
        let answer: Value = serde_json::from_slice(&std::fs::read(&response)?)?;
        ensure!(
            status.success() && answer["allowed"] == true,
            "the hook did not allow"
        );
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    Ok(times)
}

/// The operator binary on the bench module set; killed on drop.
struct Operator(Child, std::path::PathBuf);

impl Operator {
    fn start(
        emu: &Emulator,
        dir: &std::path::Path,
        kubeconfig: &std::path::Path,
    ) -> Result<Operator> {
        let port = |_: ()| -> Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (admission, conversion, http) = (port(())?, port(())?, port(())?);
        let log = dir.join("operator.log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_addon-operator"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--modules-dir")
            .arg(dir.join("modules"))
            .arg("--global-hooks-dir")
            .arg(dir.join("global-hooks"))
            .args(["--namespace", NS, "--listen-address", "127.0.0.1"])
            .args(["--listen-port", &http.to_string()])
            .args(["--validating-webhook-listen-address", "127.0.0.1"])
            .args(["--validating-webhook-listen-port", &admission.to_string()])
            .args(["--conversion-webhook-listen-address", "127.0.0.1"])
            .args(["--conversion-webhook-listen-port", &conversion.to_string()])
            .arg("--tmp-dir")
            .arg(dir.join("tmp"))
            .env("LOG_LEVEL", "warn")
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting addon-operator")?;
        emu.controls().map_service(
            NS,
            "addon-operator-validating-svc",
            443,
            vec![format!("127.0.0.1:{admission}")],
        );
        Ok(Operator(child, log))
    }

    fn check(&mut self) -> Result<()> {
        if let Some(code) = self.0.try_wait()? {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            anyhow::bail!("the operator exited with {code}:\n{log}");
        }
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ValidatingWebhookConfigurations.
fn validating_configurations(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
    );
    Api::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(&gvk, "validatingwebhookconfigurations"),
    )
}

/// An HTTPS server answering every AdmissionReview with `allowed: true`, registered for
/// ConfigMaps labelled `bench: rust`; returns its port.
async fn rust_webhook(emu: &Emulator, client: &kube::Client) -> Result<u16> {
    let host = "rust-webhook.default.svc".to_string();
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec![host])?.self_signed(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
                .map_err(anyhow::Error::msg)?,
        )?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new().route(
        "/validate",
        axum::routing::post(|body: axum::body::Bytes| async move {
            let review: Value = serde_json::from_slice(&body).unwrap_or_default();
            axum::Json(
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": review["request"]["uid"], "allowed": true}}),
            )
        }),
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            // As Go's net/http: no Nagle delay on the answer.
            let _ = tcp.set_nodelay(true);
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    emu.controls().map_service(
        "default",
        "rust-webhook",
        443,
        vec![format!("127.0.0.1:{port}")],
    );
    let ca = base64::engine::general_purpose::STANDARD.encode(cert.pem());
    let config = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "bench-rust"},
        "webhooks": [{"name": "rust.bench.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "objectSelector": {"matchLabels": {"bench": "rust"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
            "clientConfig": {"service": {"namespace": "default", "name": "rust-webhook", "path": "/validate"}, "caBundle": ca}}]});
    let api = validating_configurations(client);
    api.create(&PostParams::default(), &serde_json::from_value(config)?)
        .await?;
    Ok(port)
}
