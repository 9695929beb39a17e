//! Poll behaviour that needs no registry: when checks happen and how failures are reported.
//! Checks against a real registry are in `tests/registry.rs` and the operator's end-to-end
//! tests.

use super::*;
use chrono::TimeZone;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 5, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn input(update: Value, deployment: Option<DeploymentView>, now: DateTime<Utc>) -> PollInput {
    PollInput {
        values: json!({"global": {"update": update}}),
        deployment,
        deployment_ref: "ops/addon-operator".into(),
        docker_configs: BTreeMap::new(),
        startup: false,
        synchronization: false,
        now,
    }
}

/// A state whose Deployment binding has synchronized.
fn synced() -> State {
    State {
        synchronized: true,
        ..State::default()
    }
}

fn deployment(image: &str) -> DeploymentView {
    DeploymentView::from_filter_result(&json!({"name": "addon-operator", "namespace": "ops",
        "containers": [{"name": "addon-operator", "image": image}]}))
    .unwrap()
}

fn check_count(out: &PollOutput, result: &str) -> f64 {
    out.metrics
        .iter()
        .find(|m| {
            m["name"] == "addon_operator_update_checks_total" && m["labels"]["result"] == result
        })
        .and_then(|m| m["value"].as_f64())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn nothing_happens_before_the_deployment_binding_synchronized() {
    let mut state = State {
        synchronized: true,
        ..State::default()
    };
    let startup = PollInput {
        startup: true,
        ..input(json!({}), None, t(0))
    };
    let out = poll(&mut state, startup).await;
    assert!(out.metrics.is_empty() && out.logs.is_empty());
    assert!(
        !state.synchronized,
        "onStartup forgets the previous process"
    );
    let out = poll(&mut state, input(json!({}), None, t(1))).await;
    assert!(
        out.metrics.is_empty() && out.logs.is_empty(),
        "{:?}",
        out.logs
    );
}

#[tokio::test]
async fn a_missing_deployment_is_a_failed_check_retried_at_the_next_interval() {
    let mut state = State::default();
    let update = json!({"interval": "10s", "repository": "127.0.0.1:1/op"});
    let out = poll(
        &mut state,
        PollInput {
            synchronization: true,
            ..input(update.clone(), None, t(0))
        },
    )
    .await;
    assert!(out.object_patches.is_empty());
    assert_eq!(
        out.logs,
        [
            "self-update: check of 127.0.0.1:1/op:stable failed: deployment missing: Deployment ops/addon-operator not found"
        ]
    );
    assert_eq!(check_count(&out, "deployment_missing"), 1.0);
    assert_eq!(
        check_count(&out, "ok"),
        0.0,
        "the ok series exists from the start"
    );

    let out = poll(&mut state, input(update.clone(), None, t(9))).await;
    assert!(out.logs.is_empty(), "not due before the interval");
    let out = poll(&mut state, input(update.clone(), None, t(10))).await;
    assert_eq!(check_count(&out, "deployment_missing"), 2.0);

    let switched = json!({"interval": "10s", "repository": "127.0.0.1:1/op", "channel": "alpha"});
    let out = poll(&mut state, input(switched, None, t(11))).await;
    assert_eq!(
        out.logs.len(),
        1,
        "a changed global.update is checked at once"
    );
    assert!(
        out.logs[0].contains("127.0.0.1:1/op:alpha"),
        "{}",
        out.logs[0]
    );
    assert!(state.status.last_error.contains("deployment missing"));
}

#[tokio::test]
async fn an_unreachable_registry_patches_nothing_and_says_so() {
    let port = closed_port();
    let repo = format!("127.0.0.1:{port}/addon-operator");
    let mut state = synced();
    let out = poll(
        &mut state,
        input(
            json!({"insecure": true}),
            Some(deployment(&format!("{repo}@sha256:{}", "1".repeat(64)))),
            t(0),
        ),
    )
    .await;
    assert!(out.object_patches.is_empty());
    assert_eq!(out.logs.len(), 1);
    assert!(
        out.logs[0].starts_with(&format!(
            "self-update: check of {repo}:stable failed: registry unreachable"
        )),
        "{}",
        out.logs[0]
    );
    assert_eq!(check_count(&out, "unreachable"), 1.0);
    let available = out
        .metrics
        .iter()
        .find(|m| m["name"] == "addon_operator_update_available")
        .unwrap();
    assert_eq!(available["value"], 0.0);
    assert!(out.metrics.iter().all(|m| m["group"] == METRIC_GROUP));
}

#[tokio::test]
async fn a_missing_credentials_secret_is_a_configuration_failure() {
    let mut state = synced();
    let out = poll(
        &mut state,
        input(
            json!({"credentialsSecret": "pull-secret"}),
            Some(deployment("r.example.com/op:stable")),
            t(0),
        ),
    )
    .await;
    assert!(out.object_patches.is_empty());
    assert!(
        out.logs[0].contains("configuration error: Secret pull-secret of type kubernetes.io/dockerconfigjson not found"),
        "{}",
        out.logs[0]
    );
    assert_eq!(check_count(&out, "config_error"), 1.0);
}
