//! Applying `$KUBERNETES_PATCH_PATH` operations through kube-rs' dynamic API.

use crate::jq::JqError;
use crate::outputs::{CreateMode, DeletePropagation, ObjectPatch, ObjectRef, PatchBody};
use crate::resources::{ResourceCatalog, ResourceError};
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy,
};
use serde_json::Value;
use std::time::Duration;

/// Attempts of a read-modify-write (`JQPatch`, `CreateOrUpdate`) before a conflict is an error.
const CONFLICT_RETRIES: usize = 5;
/// How long a foreground `Delete` waits for the object to disappear.
const FOREGROUND_DELETE_WAIT: Duration = Duration::from_secs(60);

/// Every failed operation of one run, in file order, each with its cause.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| crate::errtext::with_causes(e)).collect::<Vec<_>>().join("; "))]
pub struct PatchErrors(pub Vec<PatchError>);

/// A failed object operation.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The kind could not be resolved.
    #[error("object patch {index} ({op} {target})")]
    Resource {
        /// 1-based operation number in the file.
        index: usize,
        /// Operation name.
        op: &'static str,
        /// `kind namespace/name`.
        target: String,
        /// Cause.
        #[source]
        source: ResourceError,
    },
    /// The API server rejected the request.
    #[error("object patch {index} ({op} {target})")]
    Api {
        /// 1-based operation number in the file.
        index: usize,
        /// Operation name.
        op: &'static str,
        /// `kind namespace/name`.
        target: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// The patch could not be computed or did not complete (jq error, non-object result,
    /// object not gone after a foreground delete).
    #[error("object patch {index} ({op} {target})")]
    Invalid {
        /// 1-based operation number in the file.
        index: usize,
        /// Operation name.
        op: &'static str,
        /// `kind namespace/name`.
        target: String,
        /// What went wrong.
        #[source]
        source: InvalidPatch,
    },
}

/// Why an operation could not be computed or completed.
#[derive(Debug, thiserror::Error)]
pub enum InvalidPatch {
    /// The `JQPatch` filter failed on the live object.
    #[error(transparent)]
    Jq(#[from] JqError),
    /// The `JQPatch` filter's first output is not an object.
    #[error("jqFilter must output an object, got {found}")]
    NotAnObject {
        /// What it output instead (`null`, `array`, `no output`, ...).
        found: &'static str,
    },
    /// The computed object has no `metadata`.
    #[error("result has no metadata")]
    NoMetadata,
    /// The object does not fit Kubernetes' object shape.
    #[error("not a Kubernetes object")]
    Decode(#[source] serde_json::Error),
    /// A foreground `Delete` did not see the object disappear.
    #[error("still present {0:?} after a foreground delete")]
    StillPresent(Duration),
}

/// Applies object operations in order; a failed operation does not stop the later ones.
pub(crate) struct Patcher<'a> {
    pub client: &'a kube::Client,
    pub catalog: &'a ResourceCatalog,
    pub field_manager: &'a str,
}

struct OpCtx {
    index: usize,
    op: &'static str,
    target: String,
}

impl OpCtx {
    fn api(&self, source: kube::Error) -> PatchError {
        PatchError::Api {
            index: self.index,
            op: self.op,
            target: self.target.clone(),
            source,
        }
    }
    fn invalid(&self, source: InvalidPatch) -> PatchError {
        PatchError::Invalid {
            index: self.index,
            op: self.op,
            target: self.target.clone(),
            source,
        }
    }
}

/// shell-operator accepts `subresource: /status` as well as `status`.
fn trim_slash(s: &str) -> &str {
    s.trim_start_matches('/')
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

fn describe(kind: &str, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

impl Patcher<'_> {
    /// Applies every operation in order; like shell-operator, a failed operation does not stop
    /// the later ones, and every failure is returned.
    pub(crate) async fn apply_all(&self, ops: &[ObjectPatch]) -> Result<(), PatchErrors> {
        let mut errors = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = self.apply(i + 1, op).await {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PatchErrors(errors))
        }
    }

    /// The error context and the API of an operation on an existing object.
    async fn target(
        &self,
        index: usize,
        op: &'static str,
        t: &ObjectRef,
    ) -> Result<(OpCtx, Api<DynamicObject>), PatchError> {
        let ctx = OpCtx {
            index,
            op,
            target: describe(&t.kind, t.namespace.as_deref(), &t.name),
        };
        let api = self
            .api_for(
                &ctx,
                t.api_version.as_deref(),
                &t.kind,
                t.namespace.as_deref(),
            )
            .await?;
        Ok((ctx, api))
    }

    async fn api_for(
        &self,
        ctx: &OpCtx,
        api_version: Option<&str>,
        kind: &str,
        ns: Option<&str>,
    ) -> Result<Api<DynamicObject>, PatchError> {
        let r = self
            .catalog
            .resolve(api_version, kind)
            .await
            .map_err(|source| PatchError::Resource {
                index: ctx.index,
                op: ctx.op,
                target: ctx.target.clone(),
                source,
            })?;
        Ok(if r.namespaced {
            Api::namespaced_with(
                self.client.clone(),
                ns.unwrap_or("default"),
                &r.api_resource,
            )
        } else {
            Api::all_with(self.client.clone(), &r.api_resource)
        })
    }

    async fn apply(&self, index: usize, op: &ObjectPatch) -> Result<(), PatchError> {
        match op {
            ObjectPatch::Create {
                mode,
                object,
                subresource,
            } => {
                self.create(index, *mode, object, subresource.as_deref().map(trim_slash))
                    .await
            }
            ObjectPatch::Delete {
                target,
                propagation,
            } => self.delete(index, target, *propagation).await,
            ObjectPatch::Patch {
                target,
                patch,
                subresource,
                ignore_missing_object,
                ..
            } => {
                self.patch(
                    index,
                    target,
                    patch,
                    subresource.as_deref().map(trim_slash),
                    *ignore_missing_object,
                )
                .await
            }
        }
    }

    async fn create(
        &self,
        index: usize,
        mode: CreateMode,
        object: &Value,
        sub: Option<&str>,
    ) -> Result<(), PatchError> {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str);
        let (kind, name, ns) = (
            s("/kind").unwrap_or_default(),
            s("/metadata/name").unwrap_or_default(),
            s("/metadata/namespace"),
        );
        let op = match mode {
            CreateMode::Create => "Create",
            CreateMode::CreateOrUpdate => "CreateOrUpdate",
            CreateMode::CreateIfNotExists => "CreateIfNotExists",
        };
        let ctx = OpCtx {
            index,
            op,
            target: describe(kind, ns, name),
        };
        let api = self.api_for(&ctx, s("/apiVersion"), kind, ns).await?;
        let obj: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| ctx.invalid(InvalidPatch::Decode(e)))?;
        let pp = PostParams {
            field_manager: Some(self.field_manager.into()),
            ..Default::default()
        };
        if let Some(sub) = sub {
            return self
                .replace_loop(&ctx, &api, name, Some(sub), |_| Ok(object.clone()))
                .await;
        }
        match api.create(&pp, &obj).await {
            Ok(_) => Ok(()),
            Err(e) if status_code(&e) == Some(409) && mode == CreateMode::CreateIfNotExists => {
                Ok(())
            }
            Err(e) if status_code(&e) == Some(409) && mode == CreateMode::CreateOrUpdate => {
                self.replace_loop(&ctx, &api, name, None, |_| Ok(object.clone()))
                    .await
            }
            Err(e) => Err(ctx.api(e)),
        }
    }

    /// get → compute → replace with the read resourceVersion; retried on 409 Conflict.
    async fn replace_loop(
        &self,
        ctx: &OpCtx,
        api: &Api<DynamicObject>,
        name: &str,
        sub: Option<&str>,
        compute: impl Fn(&Value) -> Result<Value, InvalidPatch>,
    ) -> Result<(), PatchError> {
        let pp = PostParams {
            field_manager: Some(self.field_manager.into()),
            ..Default::default()
        };
        let mut attempt = 1;
        loop {
            let live = api.get(name).await.map_err(|e| ctx.api(e))?;
            let live_json =
                serde_json::to_value(&live).map_err(|e| ctx.invalid(InvalidPatch::Decode(e)))?;
            let mut new = compute(&live_json).map_err(|e| ctx.invalid(e))?;
            let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) else {
                return Err(ctx.invalid(InvalidPatch::NoMetadata));
            };
            if let Some(rv) = live.metadata.resource_version.clone() {
                meta.insert("resourceVersion".into(), Value::String(rv));
            }
            let res = match sub {
                Some(sub) => api.replace_subresource(sub, name, &pp, &new).await,
                None => {
                    let obj: DynamicObject = serde_json::from_value(new)
                        .map_err(|e| ctx.invalid(InvalidPatch::Decode(e)))?;
                    api.replace(name, &pp, &obj).await
                }
            };
            match res {
                Ok(_) => return Ok(()),
                Err(e) if status_code(&e) == Some(409) && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                }
                Err(e) => return Err(ctx.api(e)),
            }
        }
    }

    async fn delete(
        &self,
        index: usize,
        t: &ObjectRef,
        propagation: DeletePropagation,
    ) -> Result<(), PatchError> {
        let (op, policy) = match propagation {
            DeletePropagation::Foreground => ("Delete", PropagationPolicy::Foreground),
            DeletePropagation::Background => ("DeleteInBackground", PropagationPolicy::Background),
            DeletePropagation::Orphan => ("DeleteNonCascading", PropagationPolicy::Orphan),
        };
        let (ctx, api) = self.target(index, op, t).await?;
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            ..Default::default()
        };
        match api.delete(&t.name, &dp).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(ctx.api(e)),
        }
        if propagation != DeletePropagation::Foreground {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + FOREGROUND_DELETE_WAIT;
        while api
            .get_opt(&t.name)
            .await
            .map_err(|e| ctx.api(e))?
            .is_some()
        {
            if tokio::time::Instant::now() > deadline {
                return Err(ctx.invalid(InvalidPatch::StillPresent(FOREGROUND_DELETE_WAIT)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn patch(
        &self,
        index: usize,
        t: &ObjectRef,
        body: &PatchBody,
        sub: Option<&str>,
        ignore_missing: bool,
    ) -> Result<(), PatchError> {
        let op = match body {
            PatchBody::Merge(_) => "MergePatch",
            PatchBody::Json(_) => "JSONPatch",
            PatchBody::Jq(_) => "JQPatch",
        };
        let (ctx, api) = self.target(index, op, t).await?;
        let pp = PatchParams {
            field_manager: Some(self.field_manager.into()),
            ..Default::default()
        };
        let res = match body {
            PatchBody::Merge(m) => {
                self.send_patch(&api, &t.name, sub, &pp, &Patch::Merge(m))
                    .await
            }
            PatchBody::Json(j) => {
                self.send_patch(&api, &t.name, sub, &pp, &Patch::<()>::Json(j.clone()))
                    .await
            }
            PatchBody::Jq(filter) => {
                let run = |live: &Value| -> Result<Value, InvalidPatch> {
                    let found = match filter.run_all(live)?.into_iter().next() {
                        Some(v @ Value::Object(_)) => return Ok(v),
                        None => "no output",
                        Some(Value::Null) => "null",
                        Some(Value::Array(_)) => "an array",
                        Some(Value::String(_)) => "a string",
                        Some(Value::Number(_)) => "a number",
                        Some(Value::Bool(_)) => "a boolean",
                    };
                    Err(InvalidPatch::NotAnObject { found })
                };
                match self.replace_loop(&ctx, &api, &t.name, sub, run).await {
                    Err(PatchError::Api { source, .. }) if status_code(&source) == Some(404) => {
                        Err(source)
                    }
                    other => return other,
                }
            }
        };
        match res {
            Ok(()) => Ok(()),
            Err(e) if status_code(&e) == Some(404) && ignore_missing => Ok(()),
            Err(e) => Err(ctx.api(e)),
        }
    }

    async fn send_patch<P: serde::Serialize + std::fmt::Debug>(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        sub: Option<&str>,
        pp: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<(), kube::Error> {
        match sub {
            Some(sub) => api.patch_subresource(sub, name, pp, patch).await.map(drop),
            None => api.patch(name, pp, patch).await.map(drop),
        }
    }
}
