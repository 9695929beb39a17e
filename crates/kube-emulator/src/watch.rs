//! Watch streams: replay from a resourceVersion, live events, selectors (an object that
//! stops matching is sent as DELETED), bookmarks, timeouts, `sendInitialEvents`, 410 Gone
//! as an ERROR event, and closing on demand (test controls, shutdown).

use crate::conversion::{self, Webhook};
use crate::meta;
use crate::params::{self, Params};
use crate::resources::ResourceInfo;
use crate::selectors::Selectors;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult};
use crate::store::{Event, EventType};
use crate::table::Shape;
use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Without `timeoutSeconds`, kube-apiserver picks 30–60 minutes; the emulator picks 30.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Longer timeouts are clamped (a year), so the deadline never overflows.
const MAX_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

/// What one watch stream sends.
struct Filter {
    info: ResourceInfo,
    ns: Option<String>,
    selectors: Selectors,
    shape: Shape,
    /// The state and conversion webhook, when objects are converted to the watched version.
    convert: Option<(AppState, Webhook)>,
}

/// A line to send: ready, or an object still to be converted and rendered.
enum Pending {
    Line(Bytes),
    Object(&'static str, Value),
}

impl Filter {
    fn in_scope(&self, obj: &Value) -> bool {
        self.ns
            .as_deref()
            .is_none_or(|ns| meta::meta_str(obj, "namespace") == ns)
            && self.selectors.matches(obj)
    }

    /// The event this watcher sees for a store event, if any.
    fn translate(&self, e: &Event) -> Option<(&'static str, Value)> {
        if e.key != self.info.key() {
            return None;
        }
        let now = self.in_scope(&e.object);
        let kind = match e.kind {
            EventType::Added if now => "ADDED",
            EventType::Deleted if now => "DELETED",
            EventType::Modified => {
                let before = e.old.as_ref().is_some_and(|o| self.in_scope(o));
                match (before, now) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return None,
                }
            }
            _ => return None,
        };
        Some((kind, e.object.as_ref().clone()))
    }

    fn line(&self, kind: &str, obj: Value) -> Bytes {
        let obj = self.info.present(obj);
        let object = if kind == "BOOKMARK" {
            obj
        } else {
            self.shape.one(&self.info, obj)
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    /// The line of an event, with its object converted first when the watch converts; a failed
    /// conversion is sent as an ERROR event.
    async fn render(&self, kind: &str, obj: Value) -> Bytes {
        let Some((st, hook)) = &self.convert else {
            return self.line(kind, obj);
        };
        let api_version = self.info.api_version();
        match conversion::convert(st, hook, &self.info.kind, vec![obj], &api_version).await {
            Ok(mut objs) => self.line(kind, objs.remove(0)),
            Err(e) => error_line(&e),
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.line("BOOKMARK", json!({"metadata": metadata}))
    }
}

fn error_line(err: &ApiError) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()}))
        .unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// State of one stream between polls.
struct Stream {
    filter: Filter,
    pending: VecDeque<Pending>,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    close: watch::Receiver<u64>,
    deadline: Instant,
    bookmarks: Option<Duration>,
    next_bookmark: Option<Instant>,
    last_rv: u64,
}

/// Starts a watch; the response streams newline-delimited watch events.
pub fn serve(
    st: &AppState,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
    shape: Shape,
) -> ApiResult<Response> {
    let selectors = params::selectors(params)?;
    let timeout = match params.get("timeoutSeconds").filter(|s| !s.is_empty()) {
        Some(s) => Duration::from_secs(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {s:?}")))?
                .min(MAX_TIMEOUT_SECS),
        ),
        None => DEFAULT_TIMEOUT,
    };
    let convert = conversion::webhook(&st.store(), info)
        .filter(|w| w.storage != info.api_version())
        .map(|w| (st.clone(), w));
    let filter = Filter {
        info: info.clone(),
        ns: ns.map(str::to_string),
        selectors,
        shape,
        convert,
    };
    let rv_param = params
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or_default();
    let send_initial = params::flag(params, "sendInitialEvents");
    let allow_bookmarks = params::flag(params, "allowWatchBookmarks");
    let mut pending = VecDeque::new();
    let store = st.store();
    let (rx, last_rv) = if rv_param.is_empty() || rv_param == "0" || send_initial {
        let current = store.current_rv();
        for obj in store
            .list(&info.key(), filter.ns.as_deref())
            .filter(|o| filter.selectors.matches(o))
        {
            pending.push_back(Pending::Object("ADDED", obj.clone()));
        }
        if send_initial {
            pending.push_back(Pending::Line(filter.bookmark(current, true)));
        }
        let (_, rx) = store
            .subscribe_from(current)
            .map_err(|oldest| ApiError::gone(current, oldest))?;
        (Some(rx), current)
    } else {
        let rv: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid resourceVersion {rv_param:?}: expected a number"
            ))
        })?;
        match store.subscribe_from(rv) {
            Ok((past, rx)) => {
                for e in past {
                    if let Some((kind, obj)) = filter.translate(&e) {
                        pending.push_back(Pending::Object(kind, obj));
                    }
                }
                (Some(rx), store.current_rv())
            }
            Err(oldest) => {
                pending.push_back(Pending::Line(error_line(&ApiError::gone(rv, oldest))));
                (None, rv)
            }
        }
    };
    drop(store);
    let stream = Stream {
        filter,
        pending,
        rx,
        close: st.controls().close_signal(),
        deadline: Instant::now() + timeout,
        bookmarks: allow_bookmarks.then_some(st.config().bookmark_interval),
        next_bookmark: allow_bookmarks.then(|| Instant::now() + st.config().bookmark_interval),
        last_rv,
    };
    let body = futures::stream::unfold(stream, next_chunk);
    Ok(stream_response(Body::from_stream(body)))
}

/// Response for a streamed watch: newline-delimited JSON events.
fn stream_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (http::header::CONTENT_TYPE, "application/json"),
            (http::header::CACHE_CONTROL, "no-cache, private"),
        ],
        body,
    )
        .into_response()
}

/// One step of the stream: the next line to send, or the end.
async fn next_chunk(mut s: Stream) -> Option<(Result<Bytes, Infallible>, Stream)> {
    match s.pending.pop_front() {
        Some(Pending::Line(line)) => return Some((Ok(line), s)),
        Some(Pending::Object(kind, obj)) => {
            let line = s.filter.render(kind, obj).await;
            return Some((Ok(line), s));
        }
        None => {}
    }
    s.rx.as_ref()?;
    loop {
        tokio::select! {
            biased;
            _ = s.close.changed() => return None,
            _ = tokio::time::sleep_until(s.deadline) => return None,
            _ = sleep_opt(s.next_bookmark) => {
                s.next_bookmark = s.bookmarks.map(|d| Instant::now() + d);
                let line = s.filter.bookmark(s.last_rv, false);
                return Some((Ok(line), s));
            }
            got = recv(&mut s.rx) => match got {
                Ok(e) => {
                    if e.kind == EventType::ResourceRemoved && e.key == s.filter.info.key() {
                        return None;
                    }
                    s.last_rv = e.rv;
                    if let Some((kind, obj)) = s.filter.translate(&e) {
                        let line = s.filter.render(kind, obj).await;
                        return Some((Ok(line), s));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    s.rx = None;
                    let line = error_line(&ApiError::gone(s.last_rv, s.last_rv));
                    return Some((Ok(line), s));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

async fn recv(
    rx: &mut Option<broadcast::Receiver<Arc<Event>>>,
) -> Result<Arc<Event>, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
