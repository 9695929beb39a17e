//! The admin HTTP endpoint under `/_emulator/`: the [`crate::Controls`] over HTTP, for
//! tests that drive the `kube-emulator` binary.
//!
//! | request | effect |
//! |---|---|
//! | `GET /_emulator/counts` | `{"counts":[{"verb","resource","count"}],"writes":N,"dryRuns":N,"injected":N}` |
//! | `POST /_emulator/reset-counts` | zero the counters, forget the denials |
//! | `GET /_emulator/denials` | `{"denials":[message, ...]}`: every 403 Forbidden answered so far |
//! | `POST /_emulator/close-watches` | end every watch stream now |
//! | `POST /_emulator/close-watches-every?ms=N` | end watches every N ms (0 stops) |
//! | `POST /_emulator/fail-next?n=N&code=500&verb=V&resource=R` | fail the next N matching requests |
//! | `POST /_emulator/fail-percent?percent=P&code=429&verb=V&resource=R` | fail P% of matching requests |
//! | `POST /_emulator/conflict-next-write` | answer the next write with 409 |
//! | `POST /_emulator/latency?ms=N` | delay every resource request |
//! | `POST /_emulator/clear-faults` | remove every fault |
//! | `POST /_emulator/map-service?namespace=NS&name=SVC&port=443&address=A[,B]` | reach a Service's port at local addresses (no `address`: unmap) |

use crate::params::Params;
use crate::state::AppState;
use crate::status::{ApiError, json_response};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::json;
use std::time::Duration;

/// The `/_emulator` routes (nested by [`crate::app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/counts", get(counts))
        .route(
            "/denials",
            get(|State(st): State<AppState>| async move {
                json_response(StatusCode::OK, &json!({"denials": st.controls().denials()}))
            }),
        )
        .route(
            "/reset-counts",
            post(|State(st): State<AppState>| async move {
                st.controls().reset_counts();
                ok()
            }),
        )
        .route(
            "/close-watches",
            post(|State(st): State<AppState>| async move {
                st.controls().close_watches();
                ok()
            }),
        )
        .route("/close-watches-every", post(close_every))
        .route("/fail-next", post(fail_next))
        .route("/fail-percent", post(fail_percent))
        .route(
            "/conflict-next-write",
            post(|State(st): State<AppState>| async move {
                st.controls().conflict_next_write();
                ok()
            }),
        )
        .route("/latency", post(latency))
        .route("/map-service", post(map_service))
        .route(
            "/clear-faults",
            post(|State(st): State<AppState>| async move {
                st.controls().clear_faults();
                ok()
            }),
        )
}

fn ok() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

fn number(p: &Params, k: &str, default: Option<u64>) -> Result<u64, ApiError> {
    match p.get(k) {
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid {k} {v:?}: expected a non-negative integer"
            ))
        }),
        None => {
            default.ok_or_else(|| ApiError::bad_request(format!("missing query parameter {k}")))
        }
    }
}

fn reply(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => ok(),
        Err(e) => e.into_response(),
    }
}

async fn counts(State(st): State<AppState>) -> Response {
    let c = st.controls();
    let list: Vec<_> = c
        .counts()
        .into_iter()
        .map(
            |((verb, resource), count)| json!({"verb": verb, "resource": resource, "count": count}),
        )
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"counts": list, "writes": c.writes(), "dryRuns": c.dry_runs(), "injected": c.injected()}),
    )
}

async fn close_every(State(st): State<AppState>, Query(p): Query<Params>) -> Response {
    reply(
        number(&p, "ms", None)
            .map(|ms| st.controls().close_watches_every(Duration::from_millis(ms))),
    )
}

fn code(p: &Params) -> Result<u16, ApiError> {
    match number(p, "code", Some(500))? {
        500 => Ok(500),
        429 => Ok(429),
        other => Err(ApiError::bad_request(format!(
            "invalid code {other}: expected 500 or 429"
        ))),
    }
}

/// The count, code and optional verb/resource filter of a fault request.
fn fault(p: &Params, count_key: &str, default: Option<u64>) -> Result<(u32, u16), ApiError> {
    let n = number(p, count_key, default)?;
    let n = u32::try_from(n)
        .map_err(|_| ApiError::bad_request(format!("{count_key} {n} is too large")))?;
    Ok((n, code(p)?))
}

async fn fail_next(State(st): State<AppState>, Query(p): Query<Params>) -> Response {
    let (verb, resource) = (
        p.get("verb").map(String::as_str),
        p.get("resource").map(String::as_str),
    );
    reply(fault(&p, "n", Some(1)).map(|(n, c)| st.controls().fail_next(n, verb, resource, c)))
}

async fn fail_percent(State(st): State<AppState>, Query(p): Query<Params>) -> Response {
    let (verb, resource) = (
        p.get("verb").map(String::as_str),
        p.get("resource").map(String::as_str),
    );
    reply(fault(&p, "percent", None).map(|(n, c)| st.controls().fail_percent(n, verb, resource, c)))
}

async fn latency(State(st): State<AppState>, Query(p): Query<Params>) -> Response {
    reply(number(&p, "ms", None).map(|ms| st.controls().set_latency(Duration::from_millis(ms))))
}

async fn map_service(State(st): State<AppState>, Query(p): Query<Params>) -> Response {
    let (Some(ns), Some(name)) = (p.get("namespace"), p.get("name")) else {
        return ApiError::bad_request("missing query parameter namespace or name").into_response();
    };
    let port = match number(&p, "port", Some(443)).map(u16::try_from) {
        Ok(Ok(port)) => port,
        Ok(Err(_)) => return ApiError::bad_request("port must be at most 65535").into_response(),
        Err(e) => return e.into_response(),
    };
    let addresses: Vec<String> = p
        .get("address")
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    st.controls().map_service(ns, name, port, addresses);
    ok()
}
