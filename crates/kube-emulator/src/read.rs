//! Reads: get and list (with selectors, pagination and Table output).

use crate::meta;
use crate::params::{self, Params};
use crate::resources::ResourceInfo;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind, json_response};
use crate::table::Shape;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

/// GET of one object.
pub fn get(
    st: &AppState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    shape: Shape,
) -> ApiResult<Response> {
    let obj = get_object(st, info, ns, name)?;
    Ok(json_response(
        StatusCode::OK,
        &shape.one(info, info.present(obj)),
    ))
}

/// The stored object, as stored (before [`ResourceInfo::present`]).
///
/// # Errors
/// 404 when it does not exist.
pub fn get_object(st: &AppState, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Value> {
    let scoped = if info.namespaced { ns } else { "" };
    st.store()
        .get(&info.key(), scoped, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, name))
}

/// The list `resourceVersion` rules the emulator can honour without snapshots:
/// `resourceVersionMatch=Exact` is served only for the current version (older ones are
/// gone: 410 Expired), and a version newer than the current one is an error (504, as
/// kube-apiserver answers after waiting for it); everything else reads the current state.
fn check_list_version(params: &Params, current: u64) -> ApiResult<()> {
    let Some(rv) = params.get("resourceVersion").filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let n: u64 = rv.parse().map_err(|_| {
        ApiError::bad_request(format!("invalid resourceVersion {rv:?}: expected a number"))
    })?;
    let exact = params.get("resourceVersionMatch").map(String::as_str) == Some("Exact");
    if exact && n != current {
        return Err(ApiError::gone(n, current));
    }
    if n > current {
        return Err(ApiError::new(
            ErrorKind::Timeout,
            format!("Too large resource version: {n}, current: {current}"),
        ));
    }
    Ok(())
}

/// Continue tokens: hex of `namespace/name` of the last returned item.
fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> ApiResult<(String, String)> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid continue token {token:?}: pass back the metadata.continue of the previous page"
        ))
    };
    if !token.is_ascii() || !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = token
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = s.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

/// LIST with selectors, `limit`/`continue`, and Table output.
///
/// Every list is served from the current state: `resourceVersion` and
/// `resourceVersionMatch` are accepted but no older snapshot is kept, and a continue
/// token resumes after its last key in the *current* state.
pub fn list(
    st: &AppState,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
    shape: Shape,
) -> ApiResult<Response> {
    let (items, metadata) = list_items(st, info, ns, params)?;
    let items: Vec<Value> = items.into_iter().map(|o| info.present(o)).collect();
    let body = shape.list(info, items, metadata);
    Ok(json_response(StatusCode::OK, &body))
}

/// The objects of one page of a list, as stored, and the list's metadata.
///
/// # Errors
/// 400 for bad parameters, 410/504 for resourceVersions the emulator cannot serve.
pub fn list_items(
    st: &AppState,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
) -> ApiResult<(Vec<Value>, Value)> {
    let sel = params::selectors(params)?;
    let limit: usize = match params.get("limit").filter(|s| !s.is_empty()) {
        Some(l) => l.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid limit {l:?}: expected a non-negative integer"
            ))
        })?,
        None => 0,
    };
    let after = match params.get("continue").filter(|s| !s.is_empty()) {
        Some(tok) => Some(decode_continue(tok)?),
        None => None,
    };
    let store = st.store();
    check_list_version(params, store.current_rv())?;
    let rv = store.current_rv().to_string();
    let page = if limit > 0 { limit } else { usize::MAX };
    let (items, remaining) = {
        let mut rest = store
            .list_after(&info.key(), ns, after.as_ref())
            .filter(|o| sel.matches(o));
        let items: Vec<Value> = rest.by_ref().take(page).cloned().collect();
        // As kube-apiserver: a continue token when more objects match, and how many only for
        // a list without selectors (with them, counting would mean matching the whole rest).
        let remaining = if sel.is_empty() {
            rest.count()
        } else {
            usize::from(rest.next().is_some())
        };
        (items, remaining)
    };
    drop(store);
    let mut metadata = json!({"resourceVersion": rv});
    if remaining > 0
        && let Some(last) = items.last()
    {
        metadata["continue"] = json!(encode_continue(
            meta::meta_str(last, "namespace"),
            meta::meta_str(last, "name")
        ));
        if sel.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok((items, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_resource_versions_should_follow_the_snapshotless_rules() {
        let p = |rv: &str, exact: bool| {
            let mut m = Params::new();
            m.insert("resourceVersion".into(), rv.into());
            if exact {
                m.insert("resourceVersionMatch".into(), "Exact".into());
            }
            m
        };
        assert!(check_list_version(&p("0", false), 10).is_ok());
        assert!(check_list_version(&p("5", false), 10).is_ok());
        assert!(check_list_version(&p("10", true), 10).is_ok());
        assert_eq!(
            check_list_version(&p("5", true), 10)
                .unwrap_err()
                .kind
                .code(),
            410
        );
        assert_eq!(
            check_list_version(&p("11", false), 10)
                .unwrap_err()
                .kind
                .code(),
            504
        );
        assert_eq!(
            check_list_version(&p("x", false), 10)
                .unwrap_err()
                .kind
                .code(),
            400
        );
    }

    #[test]
    fn continue_tokens_should_round_trip() {
        let tok = encode_continue("default", "cm-1");
        assert_eq!(
            decode_continue(&tok).unwrap(),
            ("default".to_string(), "cm-1".to_string())
        );
        assert!(decode_continue("zz").is_err());
        assert!(
            decode_continue("é1").is_err(),
            "non-ASCII tokens are rejected, not sliced"
        );
    }
}
