//! Whether the API server answers: the half of `/readyz` that says "this replica can converge".
//!
//! [`HealthLayer`] sits in the process's Kubernetes clients and records the outcome of every
//! request: a transport error (connection refused, timeout, TLS) or a 5xx answer is a failure;
//! any other answer, 4xx included, proves the API server is there. After
//! [`UNREACHABLE_AFTER`] consecutive failures the API counts as unreachable; the next answer
//! makes it reachable again. A cheap periodic probe ([`spawn_probe`]) keeps the verdict fresh
//! while the operator has nothing else to ask.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use tokio::sync::watch;
use tower::{BoxError, Layer, Service};

/// Consecutive failed requests after which the API server counts as unreachable.
pub const UNREACHABLE_AFTER: u32 = 3;

/// Outcomes of the process's API requests; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ApiHealth {
    inner: Arc<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    consecutive_failures: AtomicU32,
    /// What the last failure was (status code or error kind), never a request body.
    last_failure: Mutex<Option<String>>,
}

impl ApiHealth {
    /// Whether the API server answered recently enough to converge.
    pub fn reachable(&self) -> bool {
        self.inner.consecutive_failures.load(Ordering::SeqCst) < UNREACHABLE_AFTER
    }

    /// Why the API counts as unreachable, for `/readyz`.
    pub fn describe(&self) -> String {
        let failures = self.inner.consecutive_failures.load(Ordering::SeqCst);
        let last = self
            .inner
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        format!("API server unreachable: the last {failures} requests failed (last: {last})")
    }

    /// Records an answer from the API server.
    pub fn succeeded(&self) {
        let before = self.inner.consecutive_failures.swap(0, Ordering::SeqCst);
        if before >= UNREACHABLE_AFTER {
            tracing::info!("the API server answers again");
        }
    }

    /// Records a failed request; `what` names the failure, never its payload.
    pub fn failed(&self, what: String) {
        *self
            .inner
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(what.clone());
        let now = self
            .inner
            .consecutive_failures
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        if now == UNREACHABLE_AFTER {
            tracing::warn!(failures = now, last = %what, "the API server is unreachable; not ready until it answers");
        }
    }
}

/// A tower layer that records every request's outcome in an [`ApiHealth`].
#[derive(Debug, Clone)]
pub struct HealthLayer(pub ApiHealth);

impl<S> Layer<S> for HealthLayer {
    type Service = Recorded<S>;

    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded {
            inner,
            health: self.0.clone(),
        }
    }
}

/// The service [`HealthLayer`] makes.
#[derive(Debug, Clone)]
pub struct Recorded<S> {
    inner: S,
    health: ApiHealth,
}

impl<S, B, R> Service<Request<B>> for Recorded<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<R>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let health = self.health.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await.map_err(Into::into);
            match &result {
                Ok(answer) if answer.status().is_server_error() => {
                    health.failed(format!("HTTP {}", answer.status().as_u16()))
                }
                Ok(_) => health.succeeded(),
                Err(err) => health.failed(format!("{err}")),
            }
            result
        })
    }
}

/// Reads the operator namespace every `interval` until `shutdown`, so that readiness follows
/// the API server even when the operator has nothing else to ask. The outcome is recorded by
/// the client's [`HealthLayer`]; the answer itself is not needed.
pub fn spawn_probe(
    client: kube::Client,
    namespace: String,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
            if let Err(err) = api.get_metadata(&namespace).await {
                tracing::debug!(error = %err, "API probe failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt;

    use super::*;

    async fn answer(health: &ApiHealth, status: Result<u16, &str>) {
        let inner = tower::service_fn(move |_: Request<()>| {
            std::future::ready(match status {
                Ok(code) => Ok(Response::builder().status(code).body(()).expect("response")),
                Err(message) => Err(BoxError::from(message)),
            })
        });
        let request = Request::builder().uri("/api").body(()).expect("request");
        let _ = HealthLayer(health.clone())
            .layer(inner)
            .oneshot(request)
            .await;
    }

    #[tokio::test]
    async fn three_failures_in_a_row_make_the_api_unreachable_and_one_answer_reachable() {
        let health = ApiHealth::default();
        answer(&health, Ok(500)).await;
        answer(&health, Err("connection refused")).await;
        assert!(health.reachable(), "two failures are not enough");
        answer(&health, Ok(503)).await;
        assert!(!health.reachable());
        assert!(
            health.describe().contains("HTTP 503"),
            "{}",
            health.describe()
        );
        answer(&health, Ok(404)).await;
        assert!(health.reachable(), "a 404 is an answer");
    }

    #[tokio::test]
    async fn a_success_between_failures_resets_the_count() {
        let health = ApiHealth::default();
        answer(&health, Ok(500)).await;
        answer(&health, Ok(500)).await;
        answer(&health, Ok(200)).await;
        answer(&health, Ok(500)).await;
        answer(&health, Ok(429)).await;
        answer(&health, Ok(500)).await;
        assert!(health.reachable());
    }
}
