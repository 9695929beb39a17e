//! Optional workload status simulation ([`crate::Config::simulate_workloads`]): with no
//! controllers, Deployments never become ready; for `addon-operator dev` the emulator can
//! play the controllers' part and report workloads ready as soon as their spec changes.
//!
//! # Guarantees
//! - Status is written only when `metadata.generation` differs from
//!   `status.observedGeneration`, so explicit status writes are not fought over.
//! - The status write is a separate change (its own resourceVersion and MODIFIED event), as
//!   a controller's would be.

use crate::meta;
use crate::resources::ResourceInfo;
use serde_json::{Value, json};

/// The status a controller would converge `obj` to, if it is a simulated kind whose spec
/// changed since the last simulated status.
pub fn status_for(info: &ResourceInfo, obj: &Value) -> Option<Value> {
    let generation = obj["metadata"]["generation"].as_i64()?;
    if obj["status"]["observedGeneration"].as_i64() == Some(generation) {
        return None;
    }
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let now = meta::now_rfc3339();
    let condition = |t: &str, reason: &str| json!({"type": t, "status": "True", "reason": reason, "lastTransitionTime": now, "lastUpdateTime": now});
    let status = match (info.group.as_str(), info.plural.as_str()) {
        ("apps", "deployments") => json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [condition("Available", "MinimumReplicasAvailable"), condition("Progressing", "NewReplicaSetAvailable")],
        }),
        ("apps", "statefulsets" | "replicasets") => json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas, "currentReplicas": replicas, "updatedReplicas": replicas,
        }),
        ("apps", "daemonsets") => json!({
            "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1, "numberMisscheduled": 0,
        }),
        ("batch", "jobs") => json!({
            "observedGeneration": generation, "succeeded": 1, "startTime": now, "completionTime": now,
            "conditions": [condition("Complete", "CompletionsReached")],
        }),
        _ => return None,
    };
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn deployments_should_be_reported_ready_once_per_generation() {
        let reg = Registry::builtin();
        let info = reg.find("apps", "v1", "deployments").unwrap();
        let mut d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3}});
        let status = status_for(info, &d).unwrap();
        assert_eq!(
            (
                status["readyReplicas"].as_i64(),
                status["observedGeneration"].as_i64()
            ),
            (Some(3), Some(2))
        );
        d["status"] = status;
        assert!(status_for(info, &d).is_none(), "already observed");
        let cm = reg.find("", "v1", "configmaps").unwrap();
        assert!(status_for(cm, &json!({"metadata": {"generation": 1}})).is_none());
    }
}
