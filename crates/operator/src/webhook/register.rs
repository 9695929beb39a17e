//! What the leader writes for the webhooks it serves: one ValidatingWebhookConfiguration and one
//! MutatingWebhookConfiguration (both named by `--validating-webhook-configuration-name`), and
//! `spec.conversion` of every CRD whose conversion a hook serves. What is no longer served is
//! removed: an empty configuration is deleted, and a CRD the operator pointed at itself gets
//! `strategy: None` back.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use base64::Engine as _;
use hooks::{AdmissionKind, ServedAdmission, ServedConversion};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

/// Annotation on CRDs whose conversion the operator serves.
const SERVED: &str = "addon-operator.io/conversion-webhook";

/// Where the webhooks are reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Operator namespace (of the Services).
    pub namespace: String,
    /// Name of both webhook configurations.
    pub configuration: String,
    /// Service in front of the admission server.
    pub admission_service: String,
    /// Service in front of the conversion server.
    pub conversion_service: String,
}

/// Everything the leader keeps written, compared to skip writes that change nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `webhooks` of the ValidatingWebhookConfiguration.
    pub validating: Vec<Value>,
    /// `webhooks` of the MutatingWebhookConfiguration.
    pub mutating: Vec<Value>,
    /// CRD name → its `spec.conversion`.
    pub conversions: BTreeMap<String, Value>,
}

/// The desired state for the served bindings, with `ca` (PEM) as caBundle. A webhook name
/// served by two hooks is kept for the first one only (logged).
pub fn desired(
    ep: &Endpoints,
    ca: &str,
    admission: &[ServedAdmission],
    conversion: &[ServedConversion],
) -> Desired {
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca);
    let mut seen: BTreeSet<(bool, String)> = BTreeSet::new();
    let (mut validating, mut mutating) = (Vec::new(), Vec::new());
    for s in admission {
        let b = &s.binding;
        let mutating_kind = b.kind == AdmissionKind::Mutating;
        if !seen.insert((mutating_kind, b.name.clone())) {
            tracing::error!(webhook = %b.name, hook = %s.hook, "another hook already serves a webhook of this name; this binding is not registered");
            continue;
        }
        let path = match b.kind {
            AdmissionKind::Validating => format!("/validating/{}", b.name),
            AdmissionKind::Mutating => format!("/mutating/{}", b.name),
        };
        let mut w = json!({
            "name": b.name,
            "rules": b.rules,
            "failurePolicy": b.failure_policy.as_str(),
            "sideEffects": b.side_effects,
            "timeoutSeconds": b.timeout.as_secs(),
            "matchPolicy": "Equivalent",
            "admissionReviewVersions": ["v1"],
            "clientConfig": {
                "service": {"namespace": ep.namespace, "name": ep.admission_service, "path": path, "port": 443},
                "caBundle": ca_bundle,
            },
        });
        if let Some(sel) = &b.object_selector {
            w["objectSelector"] = sel.clone();
        }
        if let Some(sel) = &b.namespace_selector {
            w["namespaceSelector"] = sel.clone();
        }
        if !b.match_conditions.is_empty() {
            w["matchConditions"] = json!(b.match_conditions);
        }
        if mutating_kind {
            w["reinvocationPolicy"] = json!("Never");
            mutating.push(w);
        } else {
            validating.push(w);
        }
    }
    let conversions = conversion
        .iter()
        .map(|c| {
            let crd = c.binding.crd_name.clone();
            let spec = json!({"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {
                    "service": {"namespace": ep.namespace, "name": ep.conversion_service, "path": format!("/{crd}"), "port": 443},
                    "caBundle": ca_bundle,
                }}});
            (crd, spec)
        })
        .collect();
    Desired {
        validating,
        mutating,
        conversions,
    }
}

/// The CustomResourceDefinitions, as dynamic objects.
pub fn crd_api(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    )
}

fn api(client: &Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// Writes `desired`: configurations created, updated or deleted, CRDs patched.
///
/// # Errors
/// The first API error; the caller tries again on its next pass.
pub async fn apply(client: &Client, ep: &Endpoints, desired: &Desired) -> anyhow::Result<()> {
    for (kind, plural, webhooks) in [
        (
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            &desired.validating,
        ),
        (
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            &desired.mutating,
        ),
    ] {
        let api = api(client, "admissionregistration.k8s.io", kind, plural);
        configuration(&api, kind, &ep.configuration, webhooks)
            .await
            .with_context(|| format!("writing {kind} {}", ep.configuration))?;
    }
    conversions(client, &desired.conversions).await
}

async fn configuration(
    api: &Api<DynamicObject>,
    kind: &str,
    name: &str,
    webhooks: &[Value],
) -> anyhow::Result<()> {
    let current = api.get_opt(name).await?;
    match (current, webhooks.is_empty()) {
        (None, true) => Ok(()),
        (Some(_), true) => {
            api.delete(name, &Default::default()).await?;
            tracing::info!(
                kind,
                name,
                "webhook configuration deleted: nothing serves it any more"
            );
            Ok(())
        }
        (Some(cur), false) if cur.data["webhooks"] == json!(webhooks) => Ok(()),
        (cur, false) => {
            let obj = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                "metadata": {"name": name, "labels": {"heritage": "addon-operator"},
                    "resourceVersion": cur.as_ref().and_then(|c| c.metadata.resource_version.clone())},
                "webhooks": webhooks});
            let obj: DynamicObject = serde_json::from_value(obj)?;
            match cur {
                Some(_) => api.replace(name, &PostParams::default(), &obj).await?,
                None => api.create(&PostParams::default(), &obj).await?,
            };
            tracing::info!(
                kind,
                name,
                webhooks = webhooks.len(),
                "webhook configuration written"
            );
            Ok(())
        }
    }
}

async fn conversions(client: &Client, desired: &BTreeMap<String, Value>) -> anyhow::Result<()> {
    let api = crd_api(client);
    let pp = PatchParams::default();
    for (crd, spec) in desired {
        // A CRD a module has not created yet is patched on a later pass.
        let Some(cur) = api.get_opt(crd).await? else {
            continue;
        };
        let served = cur
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SERVED));
        if cur.data["spec"]["conversion"] == *spec && served.is_some() {
            continue;
        }
        let patch =
            json!({"metadata": {"annotations": {SERVED: "true"}}, "spec": {"conversion": spec}});
        api.patch(crd, &pp, &Patch::Merge(&patch))
            .await
            .with_context(|| format!("patching spec.conversion of CRD {crd}"))?;
        tracing::info!(crd, "CRD conversion points at the conversion webhook");
    }
    for cur in api.list(&Default::default()).await? {
        let name = cur.metadata.name.clone().unwrap_or_default();
        let served = cur
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(SERVED));
        if served && !desired.contains_key(&name) {
            let patch = json!({"metadata": {"annotations": {SERVED: null}},
                "spec": {"conversion": {"strategy": "None", "webhook": null}}});
            api.patch(&name, &pp, &Patch::Merge(&patch))
                .await
                .with_context(|| format!("resetting spec.conversion of CRD {name}"))?;
            tracing::info!(crd = %name, "CRD conversion no longer served: strategy None");
        }
    }
    Ok(())
}
