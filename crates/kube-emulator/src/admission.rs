//! Admission webhooks, called as kube-apiserver calls them: every Mutating- and
//! ValidatingWebhookConfiguration in the store is matched against a write (rules, namespace
//! and object selectors, `matchConditions`), mutating webhooks run one after another in name
//! order and their JSON patches change the object, then validating webhooks see the result.
//!
//! Denials become the `Status` kube-apiserver answers (`admission webhook "<name>" denied the
//! request: <message>`, the webhook's code, 403 by default); a webhook that cannot be called
//! or times out fails the request (500 InternalError `failed calling webhook ...`) under
//! `failurePolicy: Fail` and is skipped under `Ignore`.

use crate::cel;
use crate::meta;
use crate::resources::ResourceInfo;
use crate::selectors::selector_matches;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind};
use crate::webhook_client;
use base64::Engine as _;
use serde_json::{Value, json};
use std::time::Duration;

const GROUP: &str = "admissionregistration.k8s.io";

/// What is being admitted.
pub(crate) struct Attributes<'a> {
    /// The resource in the version of the request.
    pub info: &'a ResourceInfo,
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub operation: &'static str,
    /// Subresource (`status`, ...) or empty.
    pub subresource: &'a str,
    /// Namespace of the object (empty for cluster-scoped objects).
    pub namespace: &'a str,
    /// Object name.
    pub name: &'a str,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The operation's options (`CreateOptions`, `UpdateOptions`, `DeleteOptions`).
    pub options: Value,
}

/// The two webhook kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mutating,
    Validating,
}

impl Kind {
    fn plural(self) -> &'static str {
        match self {
            Kind::Mutating => "mutatingwebhookconfigurations",
            Kind::Validating => "validatingwebhookconfigurations",
        }
    }
}

/// Whether any webhook configuration exists that could see writes of `info` (the fast path
/// of writes skips admission otherwise). Webhook configurations never see their own kinds.
pub(crate) fn configured(st: &AppState, info: &ResourceInfo) -> bool {
    if info.group == GROUP {
        return false;
    }
    let store = st.store();
    [Kind::Mutating, Kind::Validating].iter().any(|k| {
        store
            .list(&(GROUP.to_string(), k.plural().to_string()), None)
            .any(|c| c["webhooks"].as_array().is_some_and(|w| !w.is_empty()))
    })
}

/// Runs the matching mutating webhooks on `new` in order, applying their patches.
///
/// # Errors
/// A denial, or a failed call under `failurePolicy: Fail`.
pub(crate) async fn mutate(
    st: &AppState,
    a: &Attributes<'_>,
    old: Option<&Value>,
    mut new: Option<&mut Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    for webhook in matching(st, Kind::Mutating, a, old, new.as_deref()) {
        let current = new.as_deref().cloned();
        let Some(patch) = call(st, &webhook, a, old, current.as_ref(), warnings).await? else {
            continue;
        };
        let ops: json_patch::Patch = serde_json::from_slice(&patch).map_err(|e| {
            internal(
                &webhook,
                &format!("the webhook returned an invalid JSON patch: {e}"),
            )
        })?;
        if let Some(obj) = new.as_deref_mut() {
            json_patch::patch(obj, &ops).map_err(|e| {
                internal(
                    &webhook,
                    &format!("the webhook's JSON patch does not apply: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Runs the matching validating webhooks on the final object.
///
/// # Errors
/// The first denial, or a failed call under `failurePolicy: Fail`.
pub(crate) async fn validate(
    st: &AppState,
    a: &Attributes<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    let hooks = matching(st, Kind::Validating, a, old, new);
    let calls = hooks.iter().map(|w| async {
        let mut own = Vec::new();
        let r = call(st, w, a, old, new, &mut own).await;
        (r, own)
    });
    for (result, own) in futures::future::join_all(calls).await {
        warnings.extend(own);
        result?;
    }
    Ok(())
}

/// The webhooks of `kind` whose rules and selectors match, in call order (configurations by
/// name, then their webhooks in order).
fn matching(
    st: &AppState,
    kind: Kind,
    a: &Attributes<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Vec<Value> {
    if a.info.group == GROUP {
        return Vec::new();
    }
    let store = st.store();
    let ns_labels = if a.info.namespaced {
        store
            .get(&(String::new(), "namespaces".into()), "", a.namespace)
            .map(|n| n["metadata"]["labels"].clone())
    } else {
        None
    };
    let mut out = Vec::new();
    for config in store.list(&(GROUP.to_string(), kind.plural().to_string()), None) {
        for w in config["webhooks"].as_array().into_iter().flatten() {
            let rules = w["rules"].as_array().cloned().unwrap_or_default();
            if !rules.iter().any(|r| rule_matches(r, a)) {
                continue;
            }
            let ns_ok = if a.info.group.is_empty() && a.info.plural == "namespaces" {
                either_matches(&w["namespaceSelector"], old, new)
            } else {
                match &ns_labels {
                    Some(labels) => selector_matches(
                        &w["namespaceSelector"],
                        &json!({"metadata": {"labels": labels}}),
                    ),
                    None => true,
                }
            };
            if ns_ok && either_matches(&w["objectSelector"], old, new) {
                out.push(w.clone());
            }
        }
    }
    out
}

fn either_matches(selector: &Value, old: Option<&Value>, new: Option<&Value>) -> bool {
    [old, new]
        .into_iter()
        .flatten()
        .any(|o| selector_matches(selector, o))
}

fn listed(list: &Value, item: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|x| x == "*" || x == item))
}

/// A `RuleWithOperations` against the request (matchPolicy is treated as Exact).
fn rule_matches(rule: &Value, a: &Attributes<'_>) -> bool {
    let scope_ok = match rule["scope"].as_str().unwrap_or("*") {
        "Cluster" => !a.info.namespaced,
        "Namespaced" => a.info.namespaced,
        _ => true,
    };
    let resource_ok = rule["resources"].as_array().is_some_and(|list| {
        list.iter().filter_map(Value::as_str).any(|r| {
            let res = &a.info.plural;
            let sub = a.subresource;
            r == "*/*"
                || (sub.is_empty() && (r == "*" || r == res))
                || (!sub.is_empty()
                    && (r == format!("{res}/{sub}")
                        || r == format!("{res}/*")
                        || r == format!("*/{sub}")))
        })
    });
    scope_ok
        && resource_ok
        && listed(&rule["operations"], a.operation)
        && listed(&rule["apiGroups"], &a.info.group)
        && listed(&rule["apiVersions"], &a.info.version)
}

fn webhook_name(w: &Value) -> &str {
    w["name"].as_str().unwrap_or_default()
}

fn internal(w: &Value, reason: &str) -> ApiError {
    ApiError::new(
        ErrorKind::InternalError,
        format!(
            "Internal error occurred: failed calling webhook \"{}\": {reason}",
            webhook_name(w)
        ),
    )
}

fn ignores_failures(w: &Value) -> bool {
    w["failurePolicy"].as_str() == Some("Ignore")
}

/// The AdmissionReview request for `a`.
fn request(a: &Attributes<'_>, old: Option<&Value>, new: Option<&Value>) -> Value {
    let info = a.info;
    let kind = json!({"group": info.group, "version": info.version, "kind": info.kind});
    let resource = json!({"group": info.group, "version": info.version, "resource": info.plural});
    let mut r = json!({
        "uid": meta::new_uid(),
        "kind": kind, "resource": resource,
        "requestKind": kind, "requestResource": resource,
        "name": a.name, "namespace": a.namespace,
        "operation": a.operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": new.cloned().unwrap_or(Value::Null),
        "oldObject": old.cloned().unwrap_or(Value::Null),
        "dryRun": a.dry_run,
        "options": a.options,
    });
    if !a.subresource.is_empty() {
        r["subResource"] = json!(a.subresource);
        r["requestSubResource"] = json!(a.subresource);
    }
    if a.namespace.is_empty()
        && let Some(m) = r.as_object_mut()
    {
        m.remove("namespace");
    }
    r
}

/// Calls one webhook; `Some(patch)` when a mutating webhook returned a JSON patch.
async fn call(
    st: &AppState,
    w: &Value,
    a: &Attributes<'_>,
    old: Option<&Value>,
    new: Option<&Value>,
    warnings: &mut Vec<String>,
) -> ApiResult<Option<Vec<u8>>> {
    let name = webhook_name(w).to_string();
    let request = request(a, old, new);
    let vars =
        json!({"object": request["object"], "oldObject": request["oldObject"], "request": request});
    for cond in w["matchConditions"].as_array().into_iter().flatten() {
        let cond_name = cond["name"].as_str().unwrap_or_default();
        let expr = cond["expression"].as_str().unwrap_or_default();
        match cel::eval_bool(expr, &vars) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) if ignores_failures(w) => {
                tracing::warn!(webhook = %name, condition = cond_name, error = %e, "match condition failed; webhook skipped (failurePolicy Ignore)");
                return Ok(None);
            }
            Err(e) => {
                return Err(internal(
                    w,
                    &format!("failed to evaluate match condition {cond_name:?}: {e}"),
                ));
            }
        }
    }
    if a.dry_run
        && !matches!(
            w["sideEffects"].as_str(),
            Some("None") | Some("NoneOnDryRun")
        )
    {
        return Err(ApiError::bad_request(format!(
            "admission webhook \"{name}\" does not support dry run"
        )));
    }
    let timeout = Duration::from_secs(w["timeoutSeconds"].as_u64().unwrap_or(10).clamp(1, 30));
    let uid = request["uid"].clone();
    let review =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
    let answer = webhook_client::call(
        &st.controls(),
        st.webhook_connections(),
        &w["clientConfig"],
        &review,
        timeout,
    )
    .await
    .and_then(|r| {
        let resp = r["response"].clone();
        if resp["uid"] != uid {
            return Err(format!("expected response.uid={uid}, got {}", resp["uid"]));
        }
        Ok(resp)
    });
    let resp = match answer {
        Ok(resp) => resp,
        Err(reason) if ignores_failures(w) => {
            tracing::warn!(webhook = %name, error = %reason, "failed calling webhook, failing open (failurePolicy Ignore)");
            return Ok(None);
        }
        Err(reason) => {
            tracing::warn!(webhook = %name, error = %reason, "failed calling webhook, failing closed");
            return Err(internal(w, &format!("failed to call webhook: {reason}")));
        }
    };
    warnings.extend(
        resp["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string)),
    );
    if resp["allowed"] != true {
        let status = &resp["status"];
        let code = status["code"].as_u64().unwrap_or(0).min(599) as u16;
        return Err(ApiError::denied(
            &name,
            code,
            status["reason"].as_str().unwrap_or_default(),
            status["message"].as_str().unwrap_or_default(),
        ));
    }
    match resp["patch"].as_str() {
        Some(p) if !p.is_empty() => base64::engine::general_purpose::STANDARD
            .decode(p)
            .map(Some)
            .map_err(|e| internal(w, &format!("the webhook's patch is not base64: {e}"))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(group: &str, plural: &str, namespaced: bool) -> ResourceInfo {
        let mut i = crate::resources::Registry::builtin()
            .find("apps", "v1", "deployments")
            .cloned()
            .unwrap();
        i.group = group.into();
        i.plural = plural.into();
        i.namespaced = namespaced;
        i
    }

    fn attrs<'a>(info: &'a ResourceInfo, op: &'static str, sub: &'a str) -> Attributes<'a> {
        Attributes {
            info,
            operation: op,
            subresource: sub,
            namespace: "default",
            name: "x",
            dry_run: false,
            options: Value::Null,
        }
    }

    #[test]
    fn rules_match_as_kube_apiserver_matches_them() {
        let deploy = info("apps", "deployments", true);
        let rule = json!({"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"], "scope": "Namespaced"});
        assert!(rule_matches(&rule, &attrs(&deploy, "CREATE", "")));
        assert!(!rule_matches(&rule, &attrs(&deploy, "UPDATE", "")));
        assert!(
            !rule_matches(&rule, &attrs(&deploy, "CREATE", "status")),
            "subresources are separate"
        );
        let status = json!({"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/status"]});
        assert!(rule_matches(&status, &attrs(&deploy, "UPDATE", "status")));
        assert!(!rule_matches(&status, &attrs(&deploy, "UPDATE", "")));
        let cluster = json!({"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"], "scope": "Cluster"});
        assert!(!rule_matches(&cluster, &attrs(&deploy, "CREATE", "")));
    }

    #[test]
    fn selectors_match_labels_of_either_object() {
        let sel = json!({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]});
        let yes = json!({"metadata": {"labels": {"a": "1"}}});
        let skip = json!({"metadata": {"labels": {"a": "1", "skip": "y"}}});
        assert!(selector_matches(&sel, &yes));
        assert!(!selector_matches(&sel, &skip));
        assert!(either_matches(&sel, Some(&skip), Some(&yes)));
        assert!(
            selector_matches(&Value::Null, &skip),
            "no selector matches all"
        );
    }
}
