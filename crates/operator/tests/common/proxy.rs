//! A logging HTTP proxy in front of the emulator: attributes every request to the operator
//! process that sent it, and can hold object writes to stop a process deterministically in
//! the middle of a convergence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;

use super::Cluster;

/// One request as a proxy saw it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Arrival order across every proxy of the test.
    pub seq: u64,
    pub replica: &'static str,
    pub method: String,
    pub path: String,
}

impl Entry {
    /// POST, PUT, PATCH, DELETE that are not dry-runs.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            && !self.path.contains("dryRun=All")
    }

    pub fn is_lease(&self) -> bool {
        self.path.contains("/leases")
    }
}

/// The requests of every replica, in arrival order.
#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<Vec<Entry>>,
    seq: AtomicU64,
}

impl RequestLog {
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().expect("log lock").clone()
    }

    pub fn of(&self, replica: &str) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| e.replica == replica)
            .collect()
    }
}

/// Holds a replica's object writes (not its Lease writes) once `pass` of them went through,
/// until released: a deterministic "mid-converge".
struct Gate {
    pass: Option<usize>,
    passed: usize,
    held: usize,
}

#[derive(Clone)]
struct ProxyState {
    replica: &'static str,
    upstream: String,
    log: Arc<RequestLog>,
    gate: Arc<Mutex<Gate>>,
    release: watch::Receiver<bool>,
    client: Client<HttpConnector, Body>,
}

/// A logging HTTP proxy in front of the emulator for one replica.
pub struct Proxy {
    /// A kubeconfig pointing at the proxy.
    pub kubeconfig: std::path::PathBuf,
    gate: Arc<Mutex<Gate>>,
    release: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy for `replica`; with `hold_after`, object writes after that many wait
    /// until [`Proxy::open`].
    pub async fn start(
        c: &Cluster,
        replica: &'static str,
        log: Arc<RequestLog>,
        hold_after: Option<usize>,
    ) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy port");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let gate = Arc::new(Mutex::new(Gate {
            pass: hold_after,
            passed: 0,
            held: 0,
        }));
        let (release, release_rx) = watch::channel(false);
        let state = ProxyState {
            replica,
            upstream: c.emu.url(),
            log,
            gate: gate.clone(),
            release: release_rx,
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let kubeconfig = c.dir.path().join(format!("kubeconfig-{replica}"));
        let text = std::fs::read_to_string(&c.kubeconfig).expect("kubeconfig");
        std::fs::write(&kubeconfig, text.replace(&c.emu.url(), &url)).expect("proxy kubeconfig");
        Proxy {
            kubeconfig,
            gate,
            release,
            task,
        }
    }

    /// Object writes waiting at the gate.
    pub fn held(&self) -> usize {
        self.gate.lock().expect("gate lock").held
    }

    /// Lets every held and later write through.
    pub fn open(&self) {
        self.gate.lock().expect("gate lock").pass = None;
        self.release.send_replace(true);
    }
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let entry = Entry {
        seq: state.log.seq.fetch_add(1, Ordering::SeqCst),
        replica: state.replica,
        method: parts.method.to_string(),
        path: path.clone(),
    };
    state
        .log
        .entries
        .lock()
        .expect("log lock")
        .push(entry.clone());
    if entry.is_write() && !entry.is_lease() && must_hold(&state.gate) {
        let mut release = state.release.clone();
        let _ = release.wait_for(|open| *open).await;
    }
    parts.uri = match format!("{}{path}", state.upstream).parse() {
        Ok(uri) => uri,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    parts.headers.remove("host");
    match state.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(Body::new),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

/// Counts an object write against the gate; true if it must wait for the release.
fn must_hold(gate: &Mutex<Gate>) -> bool {
    let mut gate = gate.lock().expect("gate lock");
    match gate.pass {
        Some(pass) if gate.passed >= pass => {
            gate.held += 1;
            true
        }
        _ => {
            gate.passed += 1;
            false
        }
    }
}
