//! The Kubernetes clients of the process, with the write fence and the health record in them.
//!
//! Two clients share one connection configuration:
//! - the **main client**, used by everything that converges (reconciler, hooks, ConfigMap
//!   writes, watches): retry → [`FenceLayer`] → [`HealthLayer`] → kube's stack;
//! - the **lease client**, used only by the leader election: retry → [`HealthLayer`] → kube's
//!   stack, so renewing the Lease is never refused by the fence it feeds.
//!
//! kube's own retry (429/503/504, up to minutes of backoff) is switched off and the same
//! policy, plus quick retries of idempotent requests that got a 500 ([`TransientRetry`]), is
//! placed *above* the fence instead: a retried write is checked again, so a request that was
//! first sent while the lease was held cannot be resent after it expired.

use anyhow::Context;
use kube::Client;
use kube::client::ClientBuilder;
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use crate::apihealth::{ApiHealth, HealthLayer};
use crate::fence::{Fence, FenceLayer};
use crate::retry::TransientRetry;

/// Requests that may wait in a client's queue (kube's own client uses the same bound).
const QUEUE: usize = 1024;

/// The clients of one operator process.
#[derive(Clone)]
pub struct Clients {
    /// Everything but the leader election; writes pass only while `fence` allows them.
    pub main: Client,
    /// The leader election's client: not fenced.
    pub lease: Client,
    /// The fence of `main`.
    pub fence: Fence,
    /// Outcomes of both clients' requests.
    pub health: ApiHealth,
}

impl Clients {
    /// Builds both clients from `config`; `fence` decides about `main`'s writes.
    ///
    /// Must be called inside a tokio runtime (the retry layer needs a cloneable service, which
    /// a buffer task provides).
    ///
    /// # Errors
    /// The configuration cannot make a client (e.g. bad TLS material).
    pub fn new(config: kube::Config, fence: Fence) -> anyhow::Result<Clients> {
        let health = ApiHealth::default();
        let main = build(config.clone(), fence.clone(), &health)?;
        let lease = build(config, Fence::open(), &health)?;
        Ok(Clients {
            main,
            lease,
            fence,
            health,
        })
    }
}

/// One client: retry → fence → health record → kube's stack (the lease client gets an open
/// fence).
fn build(mut config: kube::Config, fence: Fence, health: &ApiHealth) -> anyhow::Result<Client> {
    config.default_retry = false;
    Ok(ClientBuilder::try_from(config)
        .context("building the Kubernetes client")?
        .with_layer(&HealthLayer(health.clone()))
        .with_layer(&FenceLayer(fence))
        .with_layer(&BufferLayer::new(QUEUE))
        .with_layer(&RetryLayer::new(TransientRetry::new()?))
        .build())
}

/// A client configuration from `--kubeconfig`, else `KUBECONFIG`/`~/.kube/config`, else the
/// in-cluster configuration.
///
/// # Errors
/// The file cannot be read or used, or no configuration is found.
pub async fn config(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Config> {
    match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .with_context(|| format!("using kubeconfig {}", path.display()))
        }
        None => kube::Config::infer().await.context(
            "no cluster configuration found (set KUBECONFIG, pass --kubeconfig, or run in a pod)",
        ),
    }
}
