//! What every step of an apply or delete needs: the client, the discovery cache, the tracking
//! state shared with the drift watch, and the limits. The steps themselves are `impl Engine`
//! blocks in `stages` (applying), `ownership_check` (reading what we are about to write) and
//! here (resolving kinds, guarded deletes); the [`crate::Reconciler`] sequences them.
//!
//! Kept apart from the `Reconciler` so the step modules depend on this one and never on the
//! orchestration that uses them (no import circle).

use crate::cluster::{self, DeleteOutcome};
use crate::discovery::DiscoveryCache;
use crate::error::ApplyError;
use crate::objref::ObjectRef;
use crate::prepare::{Resolved, gvk_of};
use crate::tracker::Tracker;
use kube::Client;
use kube::api::GroupVersionKind;
use std::sync::Arc;
use std::time::Duration;

/// Shared state and limits of the apply steps; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// The API client.
    pub client: Client,
    /// Kind → resource resolution.
    pub discovery: Arc<DiscoveryCache>,
    /// What this process applied, shared with the drift watch.
    pub tracker: Arc<Tracker>,
    /// Requests of one stage (or of one check) run concurrently, at most this many.
    pub concurrency: usize,
    /// How long to wait for CRDs/Namespaces to be ready and recreated objects to disappear.
    pub ready_timeout: Duration,
}

impl Engine {
    /// Resolves a rendered object's kind; `object` names it in the error.
    ///
    /// # Errors
    /// [`ApplyError::Discovery`] when the server does not serve the kind or discovery fails.
    pub async fn resolve(
        &self,
        module: &str,
        gvk: &GroupVersionKind,
        object: &str,
    ) -> Result<Resolved, ApplyError> {
        let failed = |source| ApplyError::Discovery {
            module: module.to_string(),
            object: object.to_string(),
            api_version: gvk.api_version(),
            kind: gvk.kind.clone(),
            source,
        };
        match self.discovery.resolve(&self.client, gvk).await {
            Ok(Some(resolved)) => Ok(resolved),
            Ok(None) => Err(failed(None)),
            Err(err) => Err(failed(Some(err))),
        }
    }

    /// Guarded delete of one inventory object (see [`cluster::delete_owned`]); a kind the
    /// server no longer serves means the object cannot exist.
    ///
    /// # Errors
    /// [`ApplyError::Discovery`] when discovery fails, [`ApplyError::Api`] when the read or the
    /// delete fails. The caller keeps the object in the inventory then, so a retry deletes it.
    pub async fn delete_one(
        &self,
        module: &str,
        object: &ObjectRef,
    ) -> Result<DeleteOutcome, ApplyError> {
        let value = serde_json::json!({"apiVersion": object.api_version, "kind": object.kind});
        let Some(gvk) = gvk_of(&value) else {
            return Ok(DeleteOutcome::Absent);
        };
        let resolved = match self.discovery.resolve(&self.client, &gvk).await {
            Ok(Some(resolved)) => resolved,
            Ok(None) => return Ok(DeleteOutcome::Absent),
            Err(source) => {
                return Err(ApplyError::Discovery {
                    module: module.to_string(),
                    object: object.to_string(),
                    api_version: object.api_version.clone(),
                    kind: object.kind.clone(),
                    source: Some(source),
                });
            }
        };
        self.tracker.forget(object);
        cluster::delete_owned(&self.client, &resolved, object, module)
            .await
            .map_err(|source| ApplyError::Api {
                module: module.to_string(),
                action: "delete",
                object: object.clone(),
                source,
            })
    }
}
