//! Conversion webhooks of CustomResourceDefinitions with `spec.conversion.strategy: Webhook`.
//!
//! Objects are stored in the CRD's storage version; a client reading or writing another served
//! version gets its objects through a ConversionReview sent to the CRD's
//! `spec.conversion.webhook.clientConfig`, as kube-apiserver does. Without the `Webhook`
//! strategy, every served version reads and writes the same objects with `apiVersion`
//! rewritten (the `None` strategy).
//!
//! A failed conversion is answered as kube-apiserver answers it: 500 with no reason and the
//! message `conversion webhook for <group/version, Kind=Kind> failed: <why>`.

use crate::meta;
use crate::resources::ResourceInfo;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind};
use crate::store::Store;
use crate::webhook_client;
use serde_json::{Value, json};
use std::time::Duration;

/// kube-apiserver's conversion webhook timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The conversion webhook of one CRD-defined resource.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    /// `spec.conversion.webhook.clientConfig`.
    client_config: Value,
    /// The storage version's `group/version`.
    pub storage: String,
}

/// The conversion webhook of `info`'s CRD, when its strategy is `Webhook`.
pub(crate) fn webhook(store: &Store, info: &ResourceInfo) -> Option<Webhook> {
    if info.builtin {
        return None;
    }
    let crd = store.get(
        &(
            "apiextensions.k8s.io".into(),
            "customresourcedefinitions".into(),
        ),
        "",
        &format!("{}.{}", info.plural, info.group),
    )?;
    let conversion = &crd["spec"]["conversion"];
    if conversion["strategy"].as_str() != Some("Webhook") {
        return None;
    }
    let storage = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))?["name"]
        .as_str()?
        .to_string();
    Some(Webhook {
        client_config: conversion["webhook"]["clientConfig"].clone(),
        storage: format!("{}/{storage}", info.group),
    })
}

/// `objs` converted to `desired` (`group/version`); objects already there are not sent.
///
/// # Errors
/// 500 naming the source version when the webhook fails, refuses or answers badly.
pub(crate) async fn convert(
    st: &AppState,
    hook: &Webhook,
    kind: &str,
    mut objs: Vec<Value>,
    desired: &str,
) -> ApiResult<Vec<Value>> {
    let todo: Vec<usize> = (0..objs.len())
        .filter(|&i| objs[i]["apiVersion"].as_str() != Some(desired))
        .collect();
    let Some(&first) = todo.first() else {
        return Ok(objs);
    };
    let source = objs[first]["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let failed = |why: String| {
        ApiError::new(
            ErrorKind::Unknown,
            format!("conversion webhook for {source}, Kind={kind} failed: {why}"),
        )
    };
    let uid = meta::new_uid();
    let sent: Vec<Value> = todo.iter().map(|&i| objs[i].clone()).collect();
    let review = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": uid, "desiredAPIVersion": desired, "objects": sent}});
    let answer = webhook_client::call(
        &st.controls(),
        st.webhook_connections(),
        &hook.client_config,
        &review,
        TIMEOUT,
    )
    .await
    .map_err(failed)?;
    let resp = &answer["response"];
    if resp["uid"] != json!(uid) {
        return Err(failed(format!(
            "expected response.uid={uid}, got {}",
            resp["uid"]
        )));
    }
    if resp["result"]["status"].as_str() != Some("Success") {
        return Err(failed(
            resp["result"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    let converted = resp["convertedObjects"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if converted.len() != todo.len() {
        return Err(failed(format!(
            "expected {} converted objects, got {}",
            todo.len(),
            converted.len()
        )));
    }
    for (&i, mut c) in todo.iter().zip(converted) {
        if c["apiVersion"].as_str() != Some(desired) {
            return Err(failed(format!(
                "invalid converted object at index {i}: invalid apiVersion {}, expected {desired}",
                c["apiVersion"]
            )));
        }
        // Only labels and annotations of metadata may change; the rest is kept.
        let mut metadata = objs[i]["metadata"].clone();
        for k in ["labels", "annotations"] {
            match c["metadata"].get(k) {
                Some(v) => metadata[k] = v.clone(),
                None => {
                    if let Some(m) = metadata.as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        c["metadata"] = metadata;
        c["kind"] = json!(kind);
        objs[i] = c;
    }
    Ok(objs)
}

/// `objs` as `info`'s version serves them: converted by the CRD's webhook when it has one,
/// else with `apiVersion` and `kind` rewritten.
///
/// # Errors
/// A failed conversion.
pub(crate) async fn present(
    st: &AppState,
    info: &ResourceInfo,
    objs: Vec<Value>,
) -> ApiResult<Vec<Value>> {
    let hook = webhook(&st.store(), info);
    let objs = match hook {
        Some(h) => convert(st, &h, &info.kind, objs, &info.api_version()).await?,
        None => objs,
    };
    Ok(objs.into_iter().map(|o| info.present(o)).collect())
}
