//! One run of the self-update hook: decide whether a registry check is due, check, decide,
//! and say what to patch, which metrics to expose and what to log. The hook around it only
//! decodes the hook-protocol files and writes the outputs.
//!
//! # Guarantees
//! - A check happens at the first run after startup's Synchronization, whenever `global.update`
//!   changed, and `interval` after the previous check; runs in between only re-decide on what
//!   the last successful check found (a wave time reached, a window opened, an approval).
//! - A failed check (registry down, 401, 404, malformed or oversized manifest, digest mismatch,
//!   missing Deployment, unusable Secret) patches nothing, logs one line naming repository,
//!   tag and cause, counts `addon_operator_update_checks_total{result="<cause>"}`, and forgets
//!   the last answer, so nothing is applied until a check succeeds again at the next poll.
//! - Every patch is one JSON patch guarded by `test` operations ([`DeploymentView`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::credentials::Credentials;
use crate::decision::{Action, Available, Candidate, Inputs, Policy, Running, decide, wave_time};
use crate::deployment::{DeploymentView, rfc3339};
use crate::error::{CheckError, FailureKind};
use crate::image::registry_of;
use crate::registry::{Registry, RegistryOptions, error_chain, parse_version};
use crate::settings::{Mode, Settings};
use crate::state::{CachedCandidate, Stamp, State};
use crate::window::{in_window, next_window_start, wave_of};

/// The metric group of the hook's series: each run replaces the whole set.
pub const METRIC_GROUP: &str = "self-update";

/// How long an applied digest is not re-applied while the Deployment snapshot still shows
/// the old image (the watch event of our own patch is on its way).
const APPLY_SETTLE_MS: i64 = 30_000;

/// What one run sees.
#[derive(Debug, Clone)]
pub struct PollInput {
    /// The global values (`{"global": {...}}`).
    pub values: Value,
    /// The operator's Deployment; `None` when the binding found none.
    pub deployment: Option<DeploymentView>,
    /// `namespace/name` of the Deployment, for messages.
    pub deployment_ref: String,
    /// `.dockerconfigjson` of each `kubernetes.io/dockerconfigjson` Secret, by name.
    pub docker_configs: BTreeMap<String, Vec<u8>>,
    /// The run is the operator's `onStartup`.
    pub startup: bool,
    /// The run carries the Deployment binding's Synchronization.
    pub synchronization: bool,
    /// The clock.
    pub now: DateTime<Utc>,
}

/// What one run produces.
#[derive(Debug, Clone, Default)]
pub struct PollOutput {
    /// Object-patch operations (hook protocol).
    pub object_patches: Vec<Value>,
    /// Metric operations (hook protocol).
    pub metrics: Vec<Value>,
    /// Log lines.
    pub logs: Vec<String>,
}

/// Runs once; `state` is read and updated.
pub async fn poll(state: &mut State, input: PollInput) -> PollOutput {
    let mut out = PollOutput::default();
    if input.startup {
        // A new operator process: fresh counters, a check as soon as the Deployment is known.
        *state = State {
            versions: std::mem::take(&mut state.versions),
            ..State::default()
        };
        return out;
    }
    state.synchronized |= input.synchronization;
    if !state.synchronized {
        return out;
    }
    let now_ms = input.now.timestamp_millis();
    let settings_json = input
        .values
        .pointer("/global/update")
        .map(Value::to_string)
        .unwrap_or_default();
    let settings = Settings::from_values(&input.values);
    let interval_ms = settings
        .as_ref()
        .map_or(300_000, |s| s.interval.as_millis() as i64);
    let due = state.settings.as_deref() != Some(settings_json.as_str())
        || state.last_attempt.is_none_or(|t| now_ms >= t + interval_ms);
    if due {
        state.last_attempt = Some(now_ms);
        state.settings = Some(settings_json);
        let result = match &settings {
            Ok(s) => check(s, &input, &mut state.versions).await,
            Err(e) => Err(CheckError::new(
                "global.update",
                "-",
                FailureKind::Config,
                e.to_string(),
            )),
        };
        record_check(state, result, &input, &mut out);
    }
    if let Ok(settings) = &settings {
        act(state, settings, &input, &mut out);
    }
    out.metrics = metrics(state);
    out
}

fn record_check(
    state: &mut State,
    result: Result<CachedCandidate, CheckError>,
    input: &PollInput,
    out: &mut PollOutput,
) {
    let label = match result {
        Ok(candidate) => {
            state.candidate = Some(candidate);
            state.last_success = Some(input.now.timestamp_millis());
            state.status.last_check = rfc3339(input.now);
            state.status.last_error.clear();
            "ok"
        }
        Err(err) => {
            state.candidate = None;
            out.logs.push(format!(
                "self-update: check of {}:{} failed: {}: {}",
                err.repository, err.reference, err.kind, err.detail
            ));
            state.status.last_error = format!("{} {err}", rfc3339(input.now));
            err.kind.label()
        }
    };
    *state.checks.entry(label.to_string()).or_default() += 1;
}

/// Resolves the channel tag and reads the version labels the decision needs.
async fn check(
    settings: &Settings,
    input: &PollInput,
    versions: &mut BTreeMap<String, Option<String>>,
) -> Result<CachedCandidate, CheckError> {
    let tag = settings.channel.tag();
    let image = input
        .deployment
        .as_ref()
        .and_then(DeploymentView::image_ref);
    let repository = settings
        .repository
        .clone()
        .or_else(|| image.as_ref().map(|i| i.repository.clone()));
    let missing = |detail: String| {
        CheckError::new(
            repository
                .as_deref()
                .unwrap_or("<repository of the running image>"),
            tag,
            FailureKind::DeploymentMissing,
            detail,
        )
    };
    let Some(deployment) = &input.deployment else {
        return Err(missing(format!(
            "Deployment {} not found",
            input.deployment_ref
        )));
    };
    let (Some(image), Some(repository)) = (image, repository.clone()) else {
        return Err(missing(format!(
            "Deployment {}: container {} has no usable image",
            input.deployment_ref, deployment.container_name
        )));
    };
    let registry = connect(settings, input, &repository, tag)?;
    let digest = registry.resolve(&repository, tag).await?;
    let mut version = None;
    if image.digest.as_deref() != Some(digest.as_str()) {
        version = cached_version(versions, &registry, &repository, &digest).await?;
        if let Some(running_digest) = &image.digest
            && version.is_some()
            && deployment.running_channel() != Some(settings.channel)
        {
            let other;
            let running_registry = if registry_of(&image.repository) == registry_of(&repository) {
                &registry
            } else {
                other = connect(settings, input, &image.repository, running_digest)?;
                &other
            };
            cached_version(
                versions,
                running_registry,
                &image.repository,
                running_digest,
            )
            .await?;
        }
    }
    Ok(CachedCandidate {
        repository,
        channel: tag.to_string(),
        digest,
        version,
    })
}

fn connect(
    settings: &Settings,
    input: &PollInput,
    repository: &str,
    reference: &str,
) -> Result<Registry, CheckError> {
    let config_error =
        |detail: String| CheckError::new(repository, reference, FailureKind::Config, detail);
    let credentials = match &settings.credentials_secret {
        None => Credentials::Anonymous,
        Some(name) => {
            let config = input.docker_configs.get(name).ok_or_else(|| {
                config_error(format!(
                    "Secret {name} of type kubernetes.io/dockerconfigjson not found in the operator namespace"
                ))
            })?;
            Credentials::from_docker_config(config, registry_of(repository))
                .map_err(|e| config_error(format!("Secret {name}: {e}")))?
        }
    };
    Registry::new(RegistryOptions {
        insecure: settings.insecure,
        credentials,
        timeout: None,
    })
    .map_err(|e| config_error(error_chain(&e)))
}

async fn cached_version(
    versions: &mut BTreeMap<String, Option<String>>,
    registry: &Registry,
    repository: &str,
    digest: &str,
) -> Result<Option<String>, CheckError> {
    let key = format!("{repository}@{digest}");
    if let Some(known) = versions.get(&key) {
        return Ok(known.clone());
    }
    let version = registry
        .version(repository, digest)
        .await?
        .map(|v| v.to_string());
    versions.insert(key, version.clone());
    Ok(version)
}

/// Decides on the last successful check's answer and turns the action into patches.
fn act(state: &mut State, settings: &Settings, input: &PollInput, out: &mut PollOutput) {
    let now = input.now;
    let status = &mut state.status;
    status.channel = settings.channel.to_string();
    status.mode = match settings.mode {
        Mode::Auto => "Auto".into(),
        Mode::Manual => "Manual".into(),
    };
    let uuid = input
        .values
        .pointer("/global/discovery/clusterUUID")
        .and_then(Value::as_str);
    let wave = uuid.map_or(0, |u| wave_of(u, settings.waves));
    status.wave = format!("{wave}/{}", settings.waves);
    status.next_window = if settings.windows.is_empty() {
        "any time".into()
    } else if in_window(&settings.windows, now) {
        "now".into()
    } else {
        next_window_start(&settings.windows, now)
            .map(rfc3339)
            .unwrap_or_default()
    };
    let (Some(cached), Some(deployment)) = (&state.candidate, &input.deployment) else {
        return;
    };
    let image = deployment.image_ref();
    let running_digest = image.as_ref().and_then(|i| i.digest.clone());
    let running_version = match (&image, &running_digest) {
        (Some(i), Some(d)) => state
            .versions
            .get(&format!("{}@{d}", i.repository))
            .cloned(),
        _ => Some(None),
    };
    status.repository = cached.repository.clone();
    status.current_digest = running_digest.clone().unwrap_or_default();
    status.current_version = running_version.clone().flatten().unwrap_or_default();
    status.available_digest = cached.digest.clone();
    status.available_version = cached.version.clone().unwrap_or_default();
    let running = Running {
        digest: running_digest,
        version: running_version
            .clone()
            .flatten()
            .as_deref()
            .and_then(parse_version),
        channel: deployment.running_channel(),
    };
    let candidate = Candidate {
        channel: settings.channel,
        digest: cached.digest.clone(),
        version: cached.version.as_deref().and_then(parse_version),
    };
    let needs_running_version = candidate.version.is_some()
        && running.channel != Some(candidate.channel)
        && running.digest.is_some()
        && running.digest != Some(candidate.digest.clone());
    if needs_running_version && running_version.is_none() {
        status.state = "waiting for the next check to read the running version".into();
        return;
    }
    let available = match deployment.available() {
        Some(a) if a.digest == candidate.digest => Some(a),
        _ => state
            .recorded
            .as_ref()
            .filter(|r| r.digest == candidate.digest)
            .and_then(|r| {
                DateTime::from_timestamp_millis(r.at).map(|first_seen| Available {
                    digest: r.digest.clone(),
                    first_seen,
                })
            }),
    };
    let policy = Policy {
        mode: settings.mode,
        windows: settings.windows.clone(),
        wave,
        wave_delay: settings.wave_delay,
    };
    status.wave_time = match &available {
        Some(a) if settings.mode == Mode::Auto => rfc3339(wave_time(a.first_seen, &policy)),
        _ => String::new(),
    };
    let action = decide(&Inputs {
        running: &running,
        candidate: &candidate,
        policy: &policy,
        approved: deployment.annotation(crate::deployment::ANNOTATION_APPROVED),
        available: available.as_ref(),
        now,
    });
    state.available = action.update_available();
    match action {
        Action::Nothing => {
            status.state = "up to date".into();
            state.recorded = None;
            state.applied = None;
        }
        Action::Wait { reason, until } => {
            status.state = match until {
                Some(t) => format!("{reason} (until {})", rfc3339(t)),
                None => reason.to_string(),
            };
        }
        Action::RecordAvailable { digest } => {
            status.state = format!("recorded {digest} as available");
            out.object_patches
                .push(deployment.record_patch(&digest, now));
            state.recorded = Some(Stamp {
                digest,
                at: now.timestamp_millis(),
            });
        }
        Action::Apply { digest } => {
            let settling = state.applied.as_ref().is_some_and(|a| {
                a.digest == digest && now.timestamp_millis() - a.at < APPLY_SETTLE_MS
            });
            status.state = format!("applying {digest}");
            if settling {
                return;
            }
            out.logs.push(format!(
                "self-update: rolling Deployment {} to {}@{digest} (channel {})",
                input.deployment_ref, cached.repository, settings.channel
            ));
            out.object_patches.push(deployment.apply_patch(
                &cached.repository,
                &digest,
                settings.channel,
                now,
            ));
            state.applied = Some(Stamp {
                digest,
                at: now.timestamp_millis(),
            });
        }
    }
}

/// The hook's metric operations: every series each run, in one group, so the set is replaced
/// whole (counters carry their totals from the state).
fn metrics(state: &State) -> Vec<Value> {
    let op = |name: &str, action: &str, value: f64, labels: Value| json!({"name": name, "group": METRIC_GROUP, "action": action, "value": value, "labels": labels});
    let mut checks = state.checks.clone();
    checks.entry("ok".into()).or_default();
    let mut ops: Vec<Value> = checks
        .iter()
        .map(|(result, n)| {
            op(
                "addon_operator_update_checks_total",
                "add",
                *n as f64,
                json!({"result": result}),
            )
        })
        .collect();
    if let Some(ms) = state.last_success {
        ops.push(op(
            "addon_operator_update_last_check_timestamp_seconds",
            "set",
            ms as f64 / 1000.0,
            json!({}),
        ));
    }
    let available = state.candidate.is_some() && state.available;
    ops.push(op(
        "addon_operator_update_info",
        "set",
        1.0,
        json!({
            "channel": state.status.channel,
            "current_digest": state.status.current_digest,
            "available_digest": state.candidate.as_ref().map(|c| c.digest.as_str()).unwrap_or(""),
        }),
    ));
    ops.push(op(
        "addon_operator_update_available",
        "set",
        if available { 1.0 } else { 0.0 },
        json!({}),
    ));
    ops
}

#[cfg(test)]
mod tests;
