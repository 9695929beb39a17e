//! The main client's retry policy: kube's server-aware retry (429, 503, 504, honouring
//! `Retry-After`) plus a few quick retries of *idempotent* requests that failed with a 500.
//!
//! Why 500s too: one module run makes dozens of requests (ownership reads, dry-runs, applies,
//! inventory writes) and a single failed request fails the whole run, which then waits out the
//! module backoff. A transient 500 on a read, a server-side apply or a delete is safe to repeat
//! at once — the request means the same thing the second time — so the run goes on instead.
//! Creates, updates and merge/JSON patches are not repeated on a 500: the first attempt may have
//! been persisted.

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::client::retry::RetryPolicy;
use tower::BoxError;
use tower::retry::Policy;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;

/// How often one idempotent request is repeated after a 500.
const MAX_500_RETRIES: u32 = 3;

/// kube's retry policy plus quick retries of idempotent requests that got a 500.
#[derive(Clone)]
pub struct TransientRetry {
    server: RetryPolicy,
    after_500: ExponentialBackoff,
    retries_500: u32,
}

impl TransientRetry {
    /// The policy with kube's server-retry defaults and 50 ms → 1 s between 500 retries.
    ///
    /// # Errors
    /// Never in practice: the backoff parameters are constants that tower accepts.
    pub fn new() -> anyhow::Result<Self> {
        let after_500 = ExponentialBackoffMaker::new(
            Duration::from_millis(50),
            Duration::from_secs(1),
            2.0,
            HasherRng::new(),
        )
        .map_err(|e| anyhow::anyhow!("invalid retry backoff: {e}"))?
        .make_backoff();
        Ok(TransientRetry {
            server: RetryPolicy::server_retry(),
            after_500,
            retries_500: 0,
        })
    }
}

/// Whether repeating `req` cannot do anything the first attempt did not mean: reads,
/// server-side apply (declarative, same body → same result) and deletes (a repeat finds the
/// object gone or still being deleted).
fn idempotent(req: &Request<Body>) -> bool {
    match *req.method() {
        Method::GET | Method::HEAD | Method::DELETE => true,
        Method::PATCH => req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/apply-patch")),
        _ => false,
    }
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for TransientRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        if let Ok(response) = result
            && response.status() == StatusCode::INTERNAL_SERVER_ERROR
            && self.retries_500 < MAX_500_RETRIES
            && idempotent(req)
        {
            self.retries_500 += 1;
            return Some(self.after_500.next_backoff());
        }
        self.server.retry(req, result)
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        <RetryPolicy as Policy<Request<Body>, Response<Res>, BoxError>>::clone_request(
            &mut self.server,
            req,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, content_type: Option<&str>) -> Request<Body> {
        let mut builder = Request::builder().method(method).uri("/api/v1/namespaces");
        if let Some(ct) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        builder.body(Body::empty()).expect("request")
    }

    #[test]
    fn only_requests_that_mean_the_same_when_repeated_are_idempotent() {
        assert!(idempotent(&request(Method::GET, None)));
        assert!(idempotent(&request(Method::DELETE, None)));
        assert!(idempotent(&request(
            Method::PATCH,
            Some("application/apply-patch+yaml")
        )));
        assert!(!idempotent(&request(
            Method::PATCH,
            Some("application/merge-patch+json")
        )));
        assert!(!idempotent(&request(Method::POST, None)));
        assert!(!idempotent(&request(Method::PUT, None)));
    }

    #[tokio::test]
    async fn a_500_is_retried_three_times_for_a_read_and_never_for_a_create() {
        let mut policy = TransientRetry::new().expect("policy");
        let mut get = request(Method::GET, None);
        for _ in 0..MAX_500_RETRIES {
            let mut result: Result<Response<()>, BoxError> =
                Ok(Response::builder().status(500).body(()).expect("response"));
            assert!(policy.retry(&mut get, &mut result).is_some());
        }
        let mut result: Result<Response<()>, BoxError> =
            Ok(Response::builder().status(500).body(()).expect("response"));
        assert!(policy.retry(&mut get, &mut result).is_none());

        let mut policy = TransientRetry::new().expect("policy");
        let mut post = request(Method::POST, None);
        let mut result: Result<Response<()>, BoxError> =
            Ok(Response::builder().status(500).body(()).expect("response"));
        assert!(policy.retry(&mut post, &mut result).is_none());
    }
}
