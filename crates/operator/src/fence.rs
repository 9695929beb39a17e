//! The write fence: a replica that cannot prove it holds the leader lease makes no write.
//!
//! Every request of the process's Kubernetes client passes through [`FenceLayer`], so the
//! reconciler, hook object patches and ConfigMap writes are covered alike. A write (POST, PUT,
//! PATCH, DELETE) is refused locally unless the fence is open; dry-runs (`dryRun=All`) store
//! nothing and pass. The leader election talks to the API through a separate client without
//! the fence, so renewing the Lease is never blocked by it.
//!
//! Without `--ha` the fence is always open. With it, the election opens the fence until
//! `sent + renew_deadline` after each successful renewal, where `sent` is the local monotonic
//! time at which the renewal *started* (so the time the request spent on the wire counts against
//! the holder) and `renew_deadline` is shorter than the lease duration. Another replica takes
//! the lease over only after it has seen the Lease unchanged for the whole lease duration on
//! its own monotonic clock, so the old holder's fence closes before a new holder can write.
//!
//! # Guarantees
//! - The check is made against the monotonic clock at the moment the request is handed to the
//!   connection, not when the work that led to it started: a process paused (SIGSTOP) or
//!   starved for longer than its deadline refuses every later write, even if its election task
//!   has not run yet.
//! - A refused request never reaches the network.
//!
//! # Caveats
//! Requests already handed to the kernel before a pause still go out; they leave before the
//! lease can expire. Retries of failed requests are placed above the fence (see
//! [`crate::client`]) so a retried write is checked again.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Method, Request};
use tokio::time::Instant;
use tower::{BoxError, Layer, Service};

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "write refused: this replica cannot prove it holds the leader lease ({method} {path}); another replica may be leading"
)]
pub struct FenceError {
    /// The refused request's method.
    pub method: Method,
    /// The refused request's path (object names only, never bodies).
    pub path: String,
}

/// Whether this replica may write; cheap to clone and shared by every client of the process.
#[derive(Debug, Clone)]
pub struct Fence {
    inner: Arc<FenceState>,
}

#[derive(Debug)]
enum FenceState {
    /// No leader election: every write is allowed.
    Open,
    /// Leader election: writes are allowed until this instant (`None`: not leading).
    Lease(Mutex<Option<Instant>>),
}

impl Fence {
    /// A fence that never refuses (no `--ha`).
    pub fn open() -> Fence {
        Fence {
            inner: Arc::new(FenceState::Open),
        }
    }

    /// A fence that refuses every write until [`Fence::hold_until`] opens it (`--ha`).
    pub fn closed() -> Fence {
        Fence {
            inner: Arc::new(FenceState::Lease(Mutex::new(None))),
        }
    }

    /// Opens the fence until `until` (the start of the last successful renewal plus the
    /// renew deadline). Never moves an existing deadline backwards.
    pub fn hold_until(&self, until: Instant) {
        if let FenceState::Lease(held) = &*self.inner {
            let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
            if held.is_none_or(|h| h < until) {
                *held = Some(until);
            }
        }
    }

    /// Closes the fence at once (the lease shows another holder, or shutdown).
    pub fn release(&self) {
        if let FenceState::Lease(held) = &*self.inner {
            *held.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// Whether a write may be sent now.
    pub fn allows_writes(&self) -> bool {
        match &*self.inner {
            FenceState::Open => true,
            FenceState::Lease(held) => held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|until| Instant::now() < until),
        }
    }

    /// Refuses `request` if it is a write and the fence is closed.
    ///
    /// # Errors
    /// [`FenceError`] naming the request.
    pub fn check<B>(&self, request: &Request<B>) -> Result<(), FenceError> {
        if !is_write(request) || self.allows_writes() {
            return Ok(());
        }
        Err(FenceError {
            method: request.method().clone(),
            path: request.uri().path().to_string(),
        })
    }
}

/// POST, PUT, PATCH and DELETE, unless they are dry-runs (`dryRun=All` stores nothing).
fn is_write<B>(request: &Request<B>) -> bool {
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let dry_run = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "dryRun=All"));
    writes && !dry_run
}

/// A tower layer that puts a [`Fence`] in front of a client's service.
#[derive(Debug, Clone)]
pub struct FenceLayer(pub Fence);

impl<S> Layer<S> for FenceLayer {
    type Service = Fenced<S>;

    fn layer(&self, inner: S) -> Fenced<S> {
        Fenced {
            inner,
            fence: self.0.clone(),
        }
    }
}

/// The service [`FenceLayer`] makes.
#[derive(Debug, Clone)]
pub struct Fenced<S> {
    inner: S,
    fence: Fence,
}

impl<S, B> Service<Request<B>> for Fenced<S>
where
    S: Service<Request<B>>,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Err(refused) = self.fence.check(&request) {
            return Box::pin(std::future::ready(Err(refused.into())));
        }
        let response = self.inner.call(request);
        Box::pin(async move { response.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(method: Method, uri: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .expect("request")
    }

    const OBJECT: &str = "/api/v1/namespaces/addon-operator/configmaps/x";

    #[test]
    fn an_open_fence_lets_every_write_through() {
        let fence = Fence::open();
        assert!(fence.check(&request(Method::DELETE, OBJECT)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_fence_allows_writes_only_until_its_deadline() {
        let fence = Fence::closed();
        let patch = request(Method::PATCH, OBJECT);
        assert!(
            fence.check(&patch).is_err(),
            "closed before the first renewal"
        );
        fence.hold_until(Instant::now() + Duration::from_secs(30));
        assert!(fence.check(&patch).is_ok());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(fence.check(&patch).is_ok());
        tokio::time::advance(Duration::from_secs(1)).await;
        let refused = fence.check(&patch).expect_err("deadline passed");
        assert!(refused.to_string().contains("PATCH"), "{refused}");
        assert!(refused.to_string().contains(OBJECT), "{refused}");
    }

    #[tokio::test(start_paused = true)]
    async fn reads_and_dry_runs_pass_a_closed_fence_and_every_write_verb_is_refused() {
        let fence = Fence::closed();
        assert!(fence.check(&request(Method::GET, OBJECT)).is_ok());
        let dry_run = format!("{OBJECT}?fieldManager=addon-operator&dryRun=All");
        assert!(fence.check(&request(Method::PATCH, &dry_run)).is_ok());
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(
                fence.check(&request(method.clone(), OBJECT)).is_err(),
                "{method}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn release_closes_the_fence_and_a_deadline_never_moves_backwards() {
        let fence = Fence::closed();
        let now = Instant::now();
        fence.hold_until(now + Duration::from_secs(10));
        fence.hold_until(now + Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(fence.allows_writes());
        fence.release();
        assert!(!fence.allows_writes());
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_refuses_a_write_without_calling_the_inner_service() {
        use tower::ServiceExt;
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let inner = tower::service_fn(move |_: Request<()>| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(Ok::<_, BoxError>("sent"))
        });
        let service = FenceLayer(Fence::closed()).layer(inner);
        let refused = service
            .clone()
            .oneshot(request(Method::DELETE, OBJECT))
            .await
            .expect_err("refused");
        assert!(refused.downcast_ref::<FenceError>().is_some(), "{refused}");
        let read = service.oneshot(request(Method::GET, OBJECT)).await;
        assert_eq!(read.expect("read passes"), "sent");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
