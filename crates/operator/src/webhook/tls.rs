//! Serving a router over HTTPS with rustls, with a certificate that can be replaced while
//! serving (rotation): new connections get the new certificate, open ones keep theirs.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use super::certs::Bundle;

/// The certificate every new TLS connection is served with.
#[derive(Debug)]
pub struct Reloadable(RwLock<Arc<CertifiedKey>>);

impl Reloadable {
    /// A resolver serving `bundle`.
    ///
    /// # Errors
    /// The PEM texts do not hold a certificate and a supported private key.
    pub fn new(bundle: &Bundle) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Reloadable(RwLock::new(certified(bundle)?))))
    }

    /// Serves `bundle` from now on.
    ///
    /// # Errors
    /// As [`Reloadable::new`]; the previous certificate stays.
    pub fn set(&self, bundle: &Bundle) -> anyhow::Result<()> {
        let key = certified(bundle)?;
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = key;
        Ok(())
    }
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn certified(bundle: &Bundle) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(bundle.cert.as_bytes())
            .collect::<Result<_, _>>()
            .context("reading the serving certificate (tls.crt)")?;
    anyhow::ensure!(!chain.is_empty(), "tls.crt holds no certificate");
    let key = PrivateKeyDer::from_pem_slice(bundle.key.as_bytes())
        .context("reading the serving key (tls.key)")?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .context("the serving key (tls.key) is of an unsupported type")?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// Binds `addr` and serves `router` over HTTPS until `shutdown` turns true; returns the bound
/// address.
///
/// # Errors
/// The address cannot be bound, or the TLS configuration cannot be built.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    certs: Arc<Reloadable>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = crate::listeners::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for webhooks"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = crate::control::changed_or_never(&mut shutdown) => {
                    if *shutdown.borrow() { return; }
                    continue;
                }
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(error = %err, "webhook server: accept failed");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(err) => {
                        tracing::debug!(%peer, error = %err, "webhook server: TLS handshake failed");
                        return;
                    }
                };
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %err, "webhook server: connection ended");
                }
            });
        }
    });
    Ok(bound)
}
