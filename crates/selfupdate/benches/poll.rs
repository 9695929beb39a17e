//! Issue 10 benchmark: one self-update poll when nothing moved, against a local
//! `docker-registry`, next to `curl -I` of the same manifest, in the same run.
//!
//! Run: `cargo bench -p selfupdate --bench poll` (release build; a few seconds of measuring
//! once built; needs `docker-registry`, `htpasswd` and `curl`). It prints a markdown table.
//!
//! Every request goes through a counting TCP proxy in front of the registry, which counts the
//! HTTP request lines the client sends. Measured, 200 times each, with a fresh client every
//! time (the hook is a new process on every run, so nothing is cached between polls):
//!
//! - `poll()`: the hook's whole poll (settings, registry check, decision; no patch because the
//!   Deployment already runs the channel digest), anonymous and with basic auth;
//! - `oci-client fetch_manifest_digest` alone, the library call the fast path avoids;
//! - `curl -I` of the same manifest URL with the same `Accept` header (a new process each
//!   time, like the hook).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use selfupdate::testing::{Pusher, TestAuth, TestRegistry};
use selfupdate::{Credentials, DeploymentView, PollInput, State, poll};
use serde_json::json;

const ROUNDS: usize = 200;
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Forwards 127.0.0.1:<port> to `target`, counting request lines client → server.
fn counting_proxy(target: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut s_read, mut c_write) = (server, client);
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let requests = text
                        .split("\r\n")
                        .filter(|l| {
                            ["GET /", "HEAD /", "PUT /", "POST /", "PATCH /", "DELETE /"]
                                .iter()
                                .any(|m| l.starts_with(m))
                        })
                        .count();
                    counter.fetch_add(requests, Ordering::SeqCst);
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, count)
}

struct Row {
    what: String,
    requests: f64,
    p50: Duration,
    mean: Duration,
}

fn summarize(what: &str, mut times: Vec<Duration>, requests: usize) -> Row {
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    Row {
        what: what.into(),
        requests: requests as f64 / times.len() as f64,
        p50: times[times.len() / 2],
        mean,
    }
}

async fn bench_poll(
    what: &str,
    repo: &str,
    digest: &str,
    count: &AtomicUsize,
    secret: Option<Vec<u8>>,
) -> Row {
    let view =
        DeploymentView::from_filter_result(&json!({"name": "addon-operator", "namespace": "ops",
        "containers": [{"name": "addon-operator", "image": format!("{repo}@{digest}")}]}))
        .expect("view");
    let mut update = json!({"insecure": true, "repository": repo});
    let mut configs = BTreeMap::new();
    if let Some(config) = secret {
        update["credentialsSecret"] = json!("pull");
        configs.insert("pull".to_string(), config);
    }
    let mut times = Vec::new();
    count.store(0, Ordering::SeqCst);
    for _ in 0..ROUNDS {
        let mut state = State {
            synchronized: true,
            ..State::default()
        };
        let input = PollInput {
            values: json!({"global": {"update": update}}),
            deployment: Some(view.clone()),
            deployment_ref: "ops/addon-operator".into(),
            docker_configs: configs.clone(),
            startup: false,
            synchronization: false,
            now: Utc::now(),
        };
        let start = Instant::now();
        let out = poll(&mut state, input).await;
        times.push(start.elapsed());
        assert!(
            out.logs.is_empty() && out.object_patches.is_empty(),
            "{:?}",
            out.logs
        );
        assert_eq!(state.status.state, "up to date");
    }
    summarize(what, times, count.load(Ordering::SeqCst))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let open = TestRegistry::start();
    let basic = TestRegistry::start_with(TestAuth::Basic {
        username: "ci".into(),
        password: "s3cret".into(),
    });
    let creds = Credentials::Basic {
        username: "ci".into(),
        password: "s3cret".into(),
    };
    let (open_port, open_count) = counting_proxy(open.host());
    let (basic_port, basic_count) = counting_proxy(basic.host());
    let open_repo = format!("127.0.0.1:{open_port}/addon-operator");
    let basic_repo = format!("127.0.0.1:{basic_port}/addon-operator");
    let digest = Pusher::new(&Credentials::Anonymous)
        .push_image(
            &open.repository("addon-operator"),
            Some("stable"),
            Some("1.0.0"),
        )
        .await;
    let basic_digest = Pusher::new(&creds)
        .push_image(
            &basic.repository("addon-operator"),
            Some("stable"),
            Some("1.0.0"),
        )
        .await;
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "ci:s3cret");
    let secret = json!({"auths": {format!("127.0.0.1:{basic_port}"): {"auth": auth}}})
        .to_string()
        .into_bytes();

    let mut rows = vec![
        bench_poll("poll(), anonymous", &open_repo, &digest, &open_count, None).await,
        bench_poll(
            "poll(), basic auth",
            &basic_repo,
            &basic_digest,
            &basic_count,
            Some(secret),
        )
        .await,
    ];

    let reference: oci_client::Reference =
        format!("{open_repo}:stable").parse().expect("reference");
    let mut times = Vec::new();
    open_count.store(0, Ordering::SeqCst);
    for _ in 0..ROUNDS {
        // Timed with the client's construction, as poll() builds its client each time.
        let start = Instant::now();
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        let got = client
            .fetch_manifest_digest(&reference, &oci_client::secrets::RegistryAuth::Anonymous)
            .await
            .expect("digest");
        times.push(start.elapsed());
        assert_eq!(got, digest);
    }
    rows.push(summarize(
        "oci-client fetch_manifest_digest, anonymous",
        times,
        open_count.load(Ordering::SeqCst),
    ));

    let url = format!("http://{open_repo}").replacen(
        "/addon-operator",
        "/v2/addon-operator/manifests/stable",
        1,
    );
    let mut times = Vec::new();
    open_count.store(0, Ordering::SeqCst);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-I",
                "-H",
                &format!("Accept: {ACCEPT}"),
                &url,
            ])
            .status()
            .expect("curl runs (apt-get install curl)");
        times.push(start.elapsed());
        assert!(out.success());
    }
    rows.push(summarize(
        "curl -I (new process each time)",
        times,
        open_count.load(Ordering::SeqCst),
    ));

    println!("| what ({ROUNDS} rounds, nothing moved) | requests / poll | p50 | mean |");
    println!("| --- | --- | --- | --- |");
    for r in rows {
        println!(
            "| {} | {:.1} | {:.2} ms | {:.2} ms |",
            r.what,
            r.requests,
            r.p50.as_secs_f64() * 1000.0,
            r.mean.as_secs_f64() * 1000.0
        );
    }
}
