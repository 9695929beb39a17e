//! Calling webhooks as kube-apiserver does: an HTTPS POST of a review to a webhook's
//! `clientConfig`, verifying the server certificate against the `caBundle`.
//!
//! A `url` clientConfig is called directly. The emulator has no pod network, so a `service`
//! clientConfig is reached through the service map of [`crate::Controls::map_service`]: the
//! connection goes to the mapped local address while the certificate is checked for the
//! Service's DNS name `<name>.<namespace>.svc`, as in a cluster.

use crate::controls::Controls;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections to webhooks, reused as kube-apiserver reuses them (a TLS handshake per call
/// would dominate a fast webhook's round trip). Keyed by address, server name and caBundle, so a
/// connection is only reused for a call that would have verified the same way.
#[derive(Debug, Default)]
pub(crate) struct Pool(Mutex<HashMap<String, Vec<Sender>>>);

impl Pool {
    fn take(&self, key: &str) -> Option<Sender> {
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(s) = list.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, key: String, sender: Sender) {
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(key).or_default();
        // A burst of concurrent calls may open several; keep a few.
        if list.len() < 8 {
            list.push(sender);
        }
    }
}

/// Largest review response read (kube-apiserver caps webhook responses too).
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Where and how one webhook is called.
struct Target {
    /// The URL as kube-apiserver names it in errors (`https://svc.ns.svc:443/path?timeout=10s`).
    url: String,
    /// Host name the certificate must be valid for.
    server_name: String,
    /// The address to connect to.
    address: String,
    /// Path and query of the request.
    path: String,
}

/// POSTs `body` to the webhook described by `client_config` and returns the decoded JSON
/// answer; the error is the reason as kube-apiserver words it after `failed to call webhook: `.
pub(crate) async fn call(
    controls: &Controls,
    pool: &Pool,
    client_config: &Value,
    body: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    let target = target(controls, client_config, timeout)?;
    let post = format!("Post \"{}\"", target.url);
    match tokio::time::timeout(timeout, post_json(pool, &target, client_config, body)).await {
        Ok(result) => result.map_err(|e| format!("{post}: {e}")),
        Err(_) => Err(format!("{post}: context deadline exceeded")),
    }
}

fn target(controls: &Controls, cc: &Value, timeout: Duration) -> Result<Target, String> {
    let query = format!("timeout={}s", timeout.as_secs().max(1));
    if let Some(url) = cc["url"].as_str() {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("webhook url {url:?} must use https"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let address = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:443")
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        return Ok(Target {
            url: format!("{url}{sep}{query}"),
            server_name: host.to_string(),
            address,
            path: format!("{path}{sep}{query}"),
        });
    }
    let svc = &cc["service"];
    let (ns, name) = (
        svc["namespace"].as_str().unwrap_or_default(),
        svc["name"].as_str().unwrap_or_default(),
    );
    let port = svc["port"].as_u64().unwrap_or(443) as u16;
    let path = svc["path"].as_str().unwrap_or("/");
    let host = format!("{name}.{ns}.svc");
    let url = format!("https://{host}:{port}{path}?{query}");
    let address = controls.service_address(ns, name, port).ok_or_else(|| {
        format!(
            "Post \"{url}\": service \"{ns}/{name}\" has no local address in the emulator (map it with POST /_emulator/map-service or Controls::map_service)"
        )
    })?;
    Ok(Target {
        url,
        server_name: host,
        address,
        path: format!("{path}?{query}"),
    })
}

/// The caBundle's certificates as a root store.
fn roots(cc: &Value) -> Result<rustls::RootCertStore, String> {
    let unknown = || {
        "tls: failed to verify certificate: x509: certificate signed by unknown authority"
            .to_string()
    };
    let pem = cc["caBundle"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(unknown)?;
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        // A bundle entry that is not a usable CA is skipped, as Go's x509 pool does.
        let _ = store.add(cert);
    }
    if store.is_empty() {
        return Err(unknown());
    }
    Ok(store)
}

/// A new TLS connection to the target, verified against the caBundle.
async fn connect(target: &Target, cc: &Value) -> Result<Sender, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(cc)?)
        .with_no_client_auth();
    let name = ServerName::try_from(target.server_name.clone()).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(&target.address)
        .await
        .map_err(|e| format!("dial tcp {}: {e}", target.address))?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: failed to verify certificate: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    // The connection ends when its last sender is dropped or the server closes it.
    tokio::spawn(conn);
    Ok(sender)
}

async fn post_json(
    pool: &Pool,
    target: &Target,
    cc: &Value,
    body: &Value,
) -> Result<Value, String> {
    let key = format!(
        "{}|{}|{}",
        target.address,
        target.server_name,
        cc["caBundle"].as_str().unwrap_or_default()
    );
    let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
    let request = || {
        http::Request::post(&target.path)
            .header(http::header::HOST, &target.server_name)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(bytes.clone()))
            .map_err(|e| e.to_string())
    };
    let (mut sender, reused) = match pool.take(&key) {
        Some(s) => (s, true),
        None => (connect(target, cc).await?, false),
    };
    let response = match sender.send_request(request()?).await {
        Ok(r) => r,
        // An idle connection the server closed meanwhile: once more on a new one.
        Err(_) if reused => {
            sender = connect(target, cc).await?;
            sender
                .send_request(request()?)
                .await
                .map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    pool.put(key, sender);
    if !status.is_success() {
        return Err(format!(
            "the server responded with the status code {} but did not return more information",
            status.as_u16()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("invalid response body: {e}"))
}
