//! Admission and conversion webhooks served by hooks: an AdmissionReview or ConversionReview
//! in, the review's response out.
//!
//! [`Webhooks`] finds the binding a request is for, builds a `Validating`, `Mutating` or
//! `Conversion` binding context (with the snapshots the binding asks for), runs the hook and
//! turns its response file into the review's response.
//!
//! # Guarantees
//! - Webhook runs never wait for the `main` queue or any named queue: each binding has its own
//!   queue (one run at a time, first come first served), so a slow hook on one binding does not
//!   delay another.
//! - An admission run is bounded by the binding's `timeoutSeconds`, counted from the request's
//!   arrival (time spent waiting in the binding's queue included).
//! - A hook that fails, times out or writes no (or an invalid) response is answered by the
//!   binding's `failurePolicy`: `Fail` denies with a message naming the problem, `Ignore`
//!   allows with a warning.
//! - A conversion hook's failure answers the ConversionReview with `Failure`.

mod chain;
mod response;

pub use response::ResponseError;

use crate::binding_context::{BindingContext, ContextKind};
use crate::config::{AdmissionBinding, AdmissionKind, ConversionBinding, FailurePolicy};
use crate::engine::{HookEngine, HookSet};
use crate::hook::Hook;
use crate::queue::SnapshotRequest;
use crate::run::{ResponseFile, RunError, RunLabels};
use crate::sync::lock;
use response::{AdmissionAnswer, ConversionAnswer, parse_admission, parse_conversion};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// How long a conversion step may run: kube-apiserver waits 30 s for a conversion webhook.
const CONVERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a webhook run produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The hook did not answer in time (queue wait included).
    #[error("hook {hook} did not answer within {}s", .timeout.as_secs())]
    Timeout {
        /// Hook name.
        hook: String,
        /// The binding's timeout.
        timeout: Duration,
    },
    /// The run failed (process, outputs or their application).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The response file is empty or malformed.
    #[error(transparent)]
    Response(#[from] ResponseError),
}

/// Why a conversion failed; its text is the `result.message` of the `ConversionReview` the API
/// server receives, worded as shell-operator words it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConversionFailure {
    /// The webhook server is shutting down.
    #[error("the webhook server is shutting down")]
    ShuttingDown,
    /// A conversion hook failed (its error is logged, not sent).
    #[error("Hook failed to convert to {desired}")]
    HookFailed {
        /// The desired `apiVersion`.
        desired: String,
    },
    /// The hook's response file is empty or malformed.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// The hook answered `failedMessage`.
    #[error("{0}")]
    Refused(String),
    /// The hook returned another number of objects than it was sent.
    #[error("hook returned {got} objects instead of {sent}")]
    Count {
        /// Objects returned.
        got: usize,
        /// Objects sent.
        sent: usize,
    },
    /// No chain of rules leads every object to the desired version.
    #[error("Conversion {crd} to {desired} was not successful")]
    Incomplete {
        /// The CRD name.
        crd: String,
        /// The desired `apiVersion`.
        desired: String,
    },
}

/// One admission binding of a loaded hook.
#[derive(Debug, Clone)]
pub struct ServedAdmission {
    /// The hook's set (global or a module).
    pub set: HookSet,
    /// Hook name.
    pub hook: String,
    /// The binding.
    pub binding: AdmissionBinding,
}

/// One conversion binding of a loaded hook.
#[derive(Debug, Clone)]
pub struct ServedConversion {
    /// The hook's set (global or a module).
    pub set: HookSet,
    /// Hook name.
    pub hook: String,
    /// The binding.
    pub binding: ConversionBinding,
}

/// Serves the webhook bindings of an engine's hooks.
pub struct Webhooks {
    engine: Arc<HookEngine>,
    /// One queue (a fair one-permit semaphore) per binding.
    queues: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Webhooks {
    /// Serves the webhook bindings of `engine`'s hooks, as loaded at request time.
    pub fn new(engine: Arc<HookEngine>) -> Self {
        Self {
            engine,
            queues: Mutex::default(),
        }
    }

    /// The admission bindings of the hooks of `sets`, in set order, then hook order.
    pub fn admission_bindings(&self, sets: &[HookSet]) -> Vec<ServedAdmission> {
        let mut out = Vec::new();
        for set in sets {
            for hook in self.engine.hooks(set) {
                for b in hook.config.admission() {
                    out.push(ServedAdmission {
                        set: set.clone(),
                        hook: hook.name.clone(),
                        binding: b.clone(),
                    });
                }
            }
        }
        out
    }

    /// The conversion bindings of the hooks of `sets`.
    pub fn conversion_bindings(&self, sets: &[HookSet]) -> Vec<ServedConversion> {
        let mut out = Vec::new();
        for set in sets {
            for hook in self.engine.hooks(set) {
                for b in &hook.config.conversions {
                    out.push(ServedConversion {
                        set: set.clone(),
                        hook: hook.name.clone(),
                        binding: b.clone(),
                    });
                }
            }
        }
        out
    }

    /// The first loaded hook with an admission binding of `kind` named `name`.
    fn find_admission(&self, kind: AdmissionKind, name: &str) -> Option<(Arc<Hook>, usize)> {
        self.engine.all_hooks().into_iter().find_map(|hook| {
            let list = match kind {
                AdmissionKind::Validating => &hook.config.validating,
                AdmissionKind::Mutating => &hook.config.mutating,
            };
            let i = list.iter().position(|b| b.name == name)?;
            Some((hook.clone(), i))
        })
    }

    fn queue(&self, key: String) -> Arc<Semaphore> {
        lock(&self.queues)
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone()
    }

    /// Answers an AdmissionReview for the `kind` webhook named `name`; `None` when no loaded
    /// hook serves it (the caller answers 404, so kube-apiserver applies the failure policy).
    pub async fn admit(&self, kind: AdmissionKind, name: &str, review: Value) -> Option<Value> {
        let arrived = Instant::now();
        let (hook, index) = self.find_admission(kind, name)?;
        let binding = match kind {
            AdmissionKind::Validating => &hook.config.validating[index],
            AdmissionKind::Mutating => &hook.config.mutating[index],
        };
        let uid = review["request"]["uid"].clone();
        let answer = self.run_admission(&hook, binding, review, arrived).await;
        let response = match answer {
            Ok(a) => admission_response(uid, kind, binding, a),
            Err(err) => {
                tracing::error!(hook = %hook.name, binding = %binding.name, failure_policy = binding.failure_policy.as_str(), error = %crate::errtext::with_causes(&err), "admission hook gave no answer");
                failure_response(uid, binding, &err)
            }
        };
        Some(
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}),
        )
    }

    async fn run_admission(
        &self,
        hook: &Arc<Hook>,
        binding: &AdmissionBinding,
        review: Value,
        arrived: Instant,
    ) -> Result<AdmissionAnswer, WebhookError> {
        let deadline = arrived + binding.timeout;
        let timeout = || WebhookError::Timeout {
            hook: hook.name.clone(),
            timeout: binding.timeout,
        };
        let queue = self.queue(format!("{}:{}", binding.kind.as_str(), binding.name));
        let _turn = tokio::time::timeout_at(deadline.into(), queue.acquire_owned())
            .await
            .map_err(|_| timeout())?;
        let kind = ContextKind::Admission {
            kind: binding.kind,
            review: Arc::new(review),
        };
        let ctx = context(
            hook,
            &binding.name,
            kind,
            binding.group.as_deref(),
            &binding.include_snapshots_from,
        );
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout());
        }
        let text = self.run(hook, ctx, left, ResponseFile::Admission).await;
        let text = text.map_err(|e| match e {
            WebhookError::Run(RunError::Exec(crate::ExecError::Timeout { .. })) => timeout(),
            other => other,
        })?;
        Ok(parse_admission(&hook.name, &text)?)
    }

    async fn run(
        &self,
        hook: &Arc<Hook>,
        ctx: BindingContext,
        timeout: Duration,
        file: ResponseFile,
    ) -> Result<String, WebhookError> {
        let labels = RunLabels::new(hook, Some(&ctx), &ctx.binding);
        let runner = self.engine.runner();
        let (_, text) = runner
            .run_with(hook, &[ctx], &labels, Instant::now(), timeout, Some(file))
            .instrument(labels.span())
            .await
            .inspect_err(|_| runner.record_failure(&labels, false))?;
        Ok(text.unwrap_or_default())
    }

    /// Answers a ConversionReview for the CRD `crd_name` with the conversion bindings of the
    /// loaded hooks; `None` when no loaded hook converts that CRD.
    pub async fn convert(&self, crd_name: &str, review: Value) -> Option<Value> {
        let steps: Vec<(Arc<Hook>, ConversionBinding)> = self
            .engine
            .all_hooks()
            .into_iter()
            .flat_map(|h| {
                let bindings: Vec<ConversionBinding> = h
                    .config
                    .conversions
                    .iter()
                    .filter(|b| b.crd_name == crd_name)
                    .cloned()
                    .collect();
                bindings.into_iter().map(move |b| (h.clone(), b))
            })
            .collect();
        if steps.is_empty() {
            return None;
        }
        let request = &review["request"];
        let uid = request["uid"].clone();
        let result = self.run_conversion(crd_name, &steps, request).await;
        let response = match result {
            Ok(objects) => {
                json!({"uid": uid, "result": {"status": "Success"}, "convertedObjects": objects})
            }
            Err(failure) => {
                let message = failure.to_string();
                tracing::error!(crd = crd_name, error = %crate::errtext::with_causes(&failure), "conversion failed");
                json!({"uid": uid, "result": {"status": "Failure", "message": message}})
            }
        };
        Some(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "response": response}),
        )
    }

    /// shell-operator's `ConversionEventHandler`: for each source version, run the chain of
    /// rules that leads to the desired version, each step on every object, until all objects
    /// have the desired version.
    async fn run_conversion(
        &self,
        crd_name: &str,
        steps: &[(Arc<Hook>, ConversionBinding)],
        request: &Value,
    ) -> Result<Vec<Value>, ConversionFailure> {
        let desired = request["desiredAPIVersion"].as_str().unwrap_or_default();
        let mut objects: Vec<Value> = request["objects"].as_array().cloned().unwrap_or_default();
        let rules: Vec<(usize, &crate::config::ConversionRule)> = steps
            .iter()
            .enumerate()
            .flat_map(|(i, (_, b))| b.conversions.iter().map(move |r| (i, r)))
            .collect();
        let plain: Vec<crate::config::ConversionRule> =
            rules.iter().map(|(_, r)| (*r).clone()).collect();
        let all_desired = |objs: &[Value]| objs.iter().all(|o| o["apiVersion"] == desired);
        for source in api_versions(&objects) {
            if all_desired(&objects) {
                break;
            }
            let Some(path) = chain::find_chain(&plain, &source, desired) else {
                continue;
            };
            for r in path {
                let (step, rule) = rules[r];
                let (hook, binding) = &steps[step];
                let count = objects.len();
                let review = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                    "request": {"uid": request["uid"], "desiredAPIVersion": desired, "objects": objects}});
                let kind = ContextKind::Conversion {
                    from_version: rule.from_version.clone(),
                    to_version: rule.to_version.clone(),
                    review: Arc::new(review),
                };
                let ctx = context(
                    hook,
                    &binding.name,
                    kind,
                    binding.group.as_deref(),
                    &binding.include_snapshots_from,
                );
                let queue = self.queue(format!("Conversion:{crd_name}:{}", binding.name));
                let _turn = queue
                    .acquire_owned()
                    .await
                    .map_err(|_| ConversionFailure::ShuttingDown)?;
                let text = self
                    .run(hook, ctx, CONVERSION_TIMEOUT, ResponseFile::Conversion)
                    .await
                    .map_err(|e| {
                        tracing::error!(hook = %hook.name, error = %crate::errtext::with_causes(&e), "conversion hook failed");
                        ConversionFailure::HookFailed {
                            desired: desired.to_string(),
                        }
                    })?;
                match parse_conversion(&hook.name, &text)? {
                    ConversionAnswer::Failed(message) => {
                        return Err(ConversionFailure::Refused(message));
                    }
                    ConversionAnswer::Converted(out) if out.len() != count => {
                        return Err(ConversionFailure::Count {
                            got: out.len(),
                            sent: count,
                        });
                    }
                    ConversionAnswer::Converted(out) => objects = out,
                }
                if all_desired(&objects) {
                    break;
                }
            }
        }
        if all_desired(&objects) {
            Ok(objects)
        } else {
            Err(ConversionFailure::Incomplete {
                crd: crd_name.to_string(),
                desired: desired.to_string(),
            })
        }
    }
}

/// Distinct `apiVersion`s of `objects`, in order of first appearance.
fn api_versions(objects: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in objects {
        let v = o["apiVersion"].as_str().unwrap_or_default().to_string();
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The context of a webhook run, with the snapshots the binding asks for taken now.
fn context(
    hook: &Hook,
    binding: &str,
    kind: ContextKind,
    group: Option<&str>,
    include: &[String],
) -> BindingContext {
    let snapshots = match SnapshotRequest::for_binding(hook, group, include) {
        SnapshotRequest::None => None,
        SnapshotRequest::Names(names) => Some(hook.snapshots(Some(&names))),
    };
    BindingContext {
        binding: binding.to_string(),
        kind,
        group: None,
        snapshots,
        version: hook.config.version,
    }
}

/// The AdmissionResponse for a hook's answer, as shell-operator builds it: a denial carries
/// `status.code` 403 and the hook's message; a patch only counts for mutating bindings.
fn admission_response(
    uid: Value,
    kind: AdmissionKind,
    binding: &AdmissionBinding,
    answer: AdmissionAnswer,
) -> Value {
    let mut r = json!({"uid": uid, "allowed": answer.allowed});
    if !answer.warnings.is_empty() {
        r["warnings"] = json!(answer.warnings);
    }
    if !answer.allowed {
        r["status"] = json!({"code": 403, "message": answer.message});
    }
    match (answer.patch, kind) {
        (Some(patch), AdmissionKind::Mutating) => {
            r["patchType"] = json!("JSONPatch");
            r["patch"] = json!(patch);
        }
        (Some(_), AdmissionKind::Validating) => {
            tracing::warn!(binding = %binding.name, "a validating hook returned a patch; ignored");
        }
        (None, _) => {}
    }
    r
}

/// The AdmissionResponse when the hook gave no answer, by the binding's failure policy.
fn failure_response(uid: Value, binding: &AdmissionBinding, err: &WebhookError) -> Value {
    let what = match err {
        WebhookError::Timeout { .. } => "did not answer in time",
        WebhookError::Run(_) => "failed",
        WebhookError::Response(ResponseError::Empty { .. }) => "wrote no response",
        WebhookError::Response(ResponseError::Invalid { .. }) => "wrote an invalid response",
    };
    match binding.failure_policy {
        FailurePolicy::Fail => json!({"uid": uid, "allowed": false, "status": {"code": 500,
            "message": format!("the hook of {} {what} (failurePolicy Fail); see the addon-operator log", binding.name)}}),
        FailurePolicy::Ignore => json!({"uid": uid, "allowed": true, "warnings": [
            format!("the hook of {} {what}; allowed by failurePolicy Ignore", binding.name)]}),
    }
}
