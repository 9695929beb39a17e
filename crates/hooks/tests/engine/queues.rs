//! Queues: combining, retries with backoff, allowFailure, isolation, timeouts, rate limits.

use crate::common::*;
use hooks::{EngineError, EngineOptions, ExecError, HookSet, OrderBinding, RunError, SyncFailure};
use serde_json::json;
use std::time::Duration;

fn labels(hook: &str, binding: &str, queue: &str) -> [(&'static str, String); 4] {
    [
        ("binding", binding.into()),
        ("hook", hook.into()),
        ("module", String::new()),
        ("queue", queue.into()),
    ]
}

/// A hook body that counts its runs in `counter` and fails the first `n` of them.
fn fails_first(counter: &std::path::Path, n: usize) -> String {
    format!(
        r#"n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}
if [ "$n" -lt {n} ]; then echo "attempt $n failed" >&2; exit 1; fi"#,
        c = counter.display()
    )
}

fn engine_count(engine: &hooks::HookEngine, name: &str, l: &[(&'static str, String); 4]) -> f64 {
    let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
    engine.metrics().engine_value(name, &l).unwrap_or(0.0)
}

#[tokio::test]
async fn adjacent_events_of_a_busy_hook_are_combined_into_one_run() {
    let env = env().await;
    let out = env.out().join("runs");
    let (blocked, gate) = (env.out().join("blocked"), env.out().join("gate"));
    // The first event's run holds the hook until the test opens the gate, so the next events
    // wait in the queue behind it: no timing decides what is combined.
    write_hook(
        &env.hooks_dir(),
        "slow.sh",
        "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  labelSelector: {matchLabels: {comb: 'yes'}}\n  jqFilter: .metadata.name",
        &format!(
            r#"jq -r '[.[] | .watchEvent // .type] | join(",")' "$BINDING_CONTEXT_PATH" >> {out}
if [ ! -e {blocked} ] && jq -e 'any(.[]; .type == "Event")' "$BINDING_CONTEXT_PATH" >/dev/null; then
  touch {blocked}
  while [ ! -e {gate} ]; do sleep 0.05; done
fi"#,
            out = out.display(),
            blocked = blocked.display(),
            gate = gate.display()
        ),
    );
    let engine = env.watching_engine().await;
    let mut run_events = engine.run_events();
    let cm = |i: usize| {
        configmap(
            "default",
            &format!("c{i}"),
            json!({"comb": "yes"}),
            json!({}),
        )
    };
    env.apply(cm(0)).await;
    eventually("the first event's run is holding the hook", 30, || async {
        blocked.exists().then_some(())
    })
    .await;
    for i in 1..6 {
        env.apply(cm(i)).await;
    }
    eventually("five events queued behind the running one", 30, || async {
        (engine.pending_tasks() == 5).then_some(())
    })
    .await;
    std::fs::write(&gate, "").unwrap();
    let runs = wait_lines(&out, 3, "the queued events ran", 30).await;
    assert_eq!(
        runs,
        ["Synchronization", "Added", "Added,Added,Added,Added,Added"],
        "the five queued events were combined into one run"
    );
    let mut reported = Vec::new();
    while reported.iter().sum::<usize>() < 6 {
        let ev = tokio::time::timeout(Duration::from_secs(30), run_events.recv())
            .await
            .expect("run event")
            .unwrap();
        let report = ev.result.unwrap();
        assert_eq!((ev.hook.as_str(), ev.queue.as_str()), ("slow.sh", "main"));
        assert_eq!(report.binding, "cms");
        assert!(report.dispatch_latency <= report.total);
        reported.push(report.contexts);
    }
    assert_eq!(reported, [1, 5], "run events report every combined context");
    let waiting = engine
        .metrics()
        .engine_value("addon_operator_tasks_queue_length", &[("queue", "main")]);
    assert_eq!(waiting, Some(0.0), "queue length gauge drained");
    engine.shutdown();
}

#[tokio::test]
async fn a_failed_run_is_retried_with_backoff_until_it_succeeds() {
    let env = env().await;
    let counter = env.out().join("n");
    write_hook(
        &env.hooks_dir(),
        "flaky.sh",
        "configVersion: v1\nkubernetes:\n- name: ns\n  kind: Namespace\n  executeHookOnEvent: []",
        &fails_first(&counter, 2),
    );
    let engine = env.loaded_engine().await;
    let (logs, guard) = capture_logs("hooks=warn");
    engine.enable_kubernetes(&HookSet::Global).await.unwrap();
    drop(guard);
    assert_eq!(lines(&counter), ["3"]);
    // The delays themselves, as the queue decided them (the backoff function is unit-tested
    // in queue.rs; timing a real wait here would depend on the machine's load).
    let delays: Vec<u64> = logs
        .lines()
        .iter()
        .filter(|l| l["fields"]["message"] == "hook failed; will retry")
        .map(|l| l["fields"]["retry_in_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(delays, [50, 100], "backoff 50 ms, then 100 ms");
    let l = labels("flaky.sh", "ns", "main");
    assert_eq!(
        engine_count(&engine, "addon_operator_global_hook_errors_total", &l),
        2.0
    );
    assert_eq!(
        engine_count(&engine, "addon_operator_global_hook_success_total", &l),
        1.0
    );
    engine.shutdown();
}

#[tokio::test]
async fn a_failing_queue_does_not_block_other_queues_and_allow_failure_is_not_retried() {
    let env = env().await;
    let seen = env.out().join("seen");
    let dir = env.hooks_dir();
    write_hook(
        &dir,
        "broken.sh",
        "configVersion: v1\nkubernetes:\n- name: all-cms\n  kind: ConfigMap\n  queue: broken\n  waitForSynchronization: false",
        "echo 'always broken' >&2; exit 1",
    );
    write_hook(
        &dir,
        "tolerated.sh",
        "configVersion: v1\nschedule:\n- name: tick\n  crontab: '*/1 * * * * *'\n  allowFailure: true\n  queue: tolerated",
        "exit 7",
    );
    write_hook(
        &dir,
        "healthy.sh",
        "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  executeHookOnSynchronization: false\n  jqFilter: .metadata.name",
        &format!(
            r#"jq -r '.[].filterResult' "$BINDING_CONTEXT_PATH" >> {}"#,
            seen.display()
        ),
    );
    let engine = env.watching_engine().await;
    engine.enable_schedules(&HookSet::Global);
    env.apply(configmap("default", "one", json!({}), json!({})))
        .await;
    eventually(
        "healthy hook ran while another queue retries",
        30,
        || async { lines(&seen).contains(&"one".to_string()).then_some(()) },
    )
    .await;
    let broken = labels("broken.sh", "all-cms", "broken");
    eventually("broken hook retried", 30, || async {
        (engine_count(&engine, "addon_operator_global_hook_errors_total", &broken) >= 3.0)
            .then_some(())
    })
    .await;
    let tolerated = labels("tolerated.sh", "tick", "tolerated");
    eventually("tolerated failures counted", 30, || async {
        (engine_count(
            &engine,
            "addon_operator_global_hook_allowed_errors_total",
            &tolerated,
        ) >= 2.0)
            .then_some(())
    })
    .await;
    assert_eq!(
        engine_count(
            &engine,
            "addon_operator_global_hook_errors_total",
            &tolerated
        ),
        0.0
    );
    engine.shutdown();
}

#[tokio::test]
async fn a_timed_out_hook_is_killed_with_its_whole_process_group() {
    let env = env().await;
    let pid_file = env.out().join("child");
    write_hook(
        &env.hooks_dir(),
        "hang.sh",
        "configVersion: v1\nonStartup: 1",
        &format!(
            "sleep 300 &\necho $! > {}\necho 'about to hang' >&2\nsleep 300",
            pid_file.display()
        ),
    );
    let engine = env.engine_with(EngineOptions {
        timeout: Duration::from_millis(700),
        ..opts()
    });
    engine
        .load(HookSet::Global, &env.hooks_dir())
        .await
        .unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        engine.run_order(&HookSet::Global, OrderBinding::OnStartup),
    )
    .await
    .expect("the run's own timeout ends it")
    .unwrap_err();
    let RunError::Exec(ExecError::Timeout { stderr_tail, .. }) = &err else {
        panic!("{err}")
    };
    assert_eq!(stderr_tail, &["about to hang".to_string()]);
    let pid = lines(&pid_file)[0].clone();
    eventually("background child gone", 30, || {
        let pid = pid.clone();
        async move {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for init to reap it: either way it no longer runs.
            (stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn execution_min_interval_spaces_runs_and_schedules_do_not_pile_up() {
    let env = env().await;
    let times = env.out().join("times");
    write_hook(
        &env.hooks_dir(),
        "limited.sh",
        "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  labelSelector: {matchLabels: {rl: 'yes'}}\nsettings:\n  executionMinInterval: 400ms\n  executionBurst: 1",
        &format!(
            r#"echo "$(date +%s%N) $(jq '[.[] | select(.watchEvent == "Added")] | length' "$BINDING_CONTEXT_PATH")" >> {}"#,
            times.display()
        ),
    );
    // A tick every second, a run of 2.5 s: ticks arrive while the previous one still waits.
    write_hook(
        &env.hooks_dir(),
        "slow-tick.sh",
        "configVersion: v1\nschedule:\n- name: t\n  crontab: '*/1 * * * * *'\n  queue: slow",
        "sleep 2.5",
    );
    // Captured from before the engine starts, so the Synchronization run's start is in it.
    let (logs, guard) = capture_logs("hooks=debug");
    let engine = env.watching_engine().await;
    engine.enable_schedules(&HookSet::Global);
    for i in 0..3 {
        env.apply(configmap(
            "default",
            &format!("r{i}"),
            json!({"rl": "yes"}),
            json!({}),
        ))
        .await;
    }
    let max_pending = std::cell::Cell::new(0);
    eventually(
        "a tick was dropped while the previous one waited",
        30,
        || async {
            let slow = engine.queue_lengths().get("slow").copied().unwrap_or(0);
            max_pending.set(max_pending.get().max(slow));
            logs.lines()
                .iter()
                .any(|l| {
                    l["fields"]["message"] == "schedule tick skipped: previous one still queued"
                })
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        max_pending.get(),
        1,
        "ticks of a busy schedule do not pile up"
    );
    eventually("every ConfigMap was seen", 30, || async {
        let seen: usize = lines(&times)
            .iter()
            .filter_map(|l| l.split_once(' ')?.1.parse::<usize>().ok())
            .sum();
        (seen == 3).then_some(())
    })
    .await;
    drop(guard);
    // The engine's own start times: a hook process that is slow to start on a loaded machine
    // must not make two runs look closer than the engine let them go.
    let starts: Vec<chrono::DateTime<chrono::FixedOffset>> = logs
        .lines()
        .iter()
        .filter(|l| {
            l["fields"]["message"] == "hook run started" && l["span"]["hook"] == "limited.sh"
        })
        .map(|l| {
            chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap_or_default())
                .expect("an RFC 3339 timestamp")
        })
        .collect();
    assert!(
        starts.len() >= 2,
        "Synchronization, then the events: {starts:?}"
    );
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= chrono::TimeDelta::milliseconds(350),
            "runs start ~400 ms apart (350 ms allows for timer slack): {starts:?}"
        );
    }
    engine.shutdown();
}

/// Issue 16 §3: the labels of a run are computed once. A group run used to be counted under
/// the group by the success metrics and under the binding by the error metrics.
#[tokio::test]
async fn a_group_runs_metrics_all_carry_the_same_labels() {
    let env = env().await;
    let counter = env.out().join("n");
    write_hook(
        &env.hooks_dir(),
        "grouped.sh",
        "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  group: pair\n- name: namespaces\n  kind: Namespace\n  group: pair",
        &fails_first(&counter, 1),
    );
    let engine = env.watching_engine().await;
    assert_eq!(lines(&counter), ["2"], "one failure, then one success");
    let text = engine.metrics().render_engine_metrics();
    // Run metrics (`…_hook_…`); the snapshot gauge is per binding by design.
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("_hook_") && l.contains("hook=\"grouped.sh\""))
        .collect();
    let names: std::collections::BTreeSet<&str> = series
        .iter()
        .map(|l| l.split('{').next().unwrap())
        .collect();
    for name in [
        "addon_operator_global_hook_errors_total",
        "addon_operator_global_hook_success_total",
        "addon_operator_global_hook_run_seconds_count",
        "addon_operator_global_hook_run_max_rss_bytes",
    ] {
        assert!(names.contains(name), "{name} recorded:\n{text}");
    }
    let label_sets: std::collections::BTreeSet<String> = series
        .iter()
        .map(|l| {
            let labels = &l[l.find('{').unwrap() + 1..l.rfind('}').unwrap()];
            labels
                .split(',')
                .filter(|p| !p.starts_with("le="))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert_eq!(
        label_sets.into_iter().collect::<Vec<_>>(),
        [r#"binding="pair",hook="grouped.sh",module="",queue="main""#],
        "every metric of the run carries the group as its binding:\n{text}"
    );
    engine.shutdown();
}

/// Waits (up to 30 s) for the next run event of `hook`.
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<hooks::RunEvent>,
    hook: &str,
) -> hooks::RunEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("a run event within 30 s")
            .expect("the run event channel");
        if ev.hook == hook {
            return ev;
        }
    }
}

#[tokio::test]
async fn a_failed_task_skips_its_backoff_when_asked_and_ends_it_when_its_hook_is_disabled() {
    let env = env().await;
    let ok = env.out().join("ok");
    let config = |wait: bool| {
        format!(
            "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  jqFilter: .metadata.name\n  queue: fixes\n  waitForSynchronization: {wait}"
        )
    };
    let body = format!(
        "[ -e {} ] || {{ echo 'not fixed yet' >&2; exit 1; }}",
        ok.display()
    );
    write_hook(&env.hooks_dir(), "fixable.sh", &config(false), &body);
    // A backoff far longer than any test wait: only a wake-up can make the task go on.
    let engine = env.engine_with(EngineOptions {
        retry_initial: Duration::from_secs(600),
        retry_max: Duration::from_secs(600),
        ..opts()
    });
    engine
        .load(HookSet::Global, &env.hooks_dir())
        .await
        .unwrap();
    let mut events = engine.run_events();
    tokio::time::timeout(
        Duration::from_secs(30),
        engine.enable_kubernetes(&HookSet::Global),
    )
    .await
    .expect("a Synchronization not waited for")
    .unwrap();
    let failed = next_event(&mut events, "fixable.sh").await;
    assert!(failed.result.is_err());
    assert_eq!(
        (failed.binding.as_str(), failed.allow_failure),
        ("cms", false)
    );

    // Fixed on disk: asked to retry, the task runs at once instead of in 600 s.
    std::fs::write(&ok, "").unwrap();
    engine.retry_now(&HookSet::Global);
    let retried = next_event(&mut events, "fixable.sh").await;
    assert!(retried.result.is_ok(), "{:?}", retried.result.err());

    // Broken again: the next event's task fails and waits out its backoff in its queue...
    std::fs::remove_file(&ok).unwrap();
    env.apply(configmap("default", "trigger", json!({}), json!({})))
        .await;
    assert!(next_event(&mut events, "fixable.sh").await.result.is_err());
    // ...until its set is disabled: the reloaded hook's Synchronization, waited for, runs in
    // the same queue at once.
    engine.disable(&HookSet::Global);
    std::fs::write(&ok, "").unwrap();
    write_hook(&env.hooks_dir(), "fixable.sh", &config(true), &body);
    engine
        .load(HookSet::Global, &env.hooks_dir())
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        engine.enable_kubernetes(&HookSet::Global),
    )
    .await
    .expect("the Synchronization does not wait behind the stopped task's backoff")
    .unwrap();
    engine.shutdown();
}

/// Issue 16 §5: a waited-for Synchronization that fails says which hook and binding, and keeps
/// the run's own error as its typed cause instead of a flattened string.
#[tokio::test]
async fn a_failed_synchronization_that_startup_waits_for_names_hook_binding_and_cause() {
    let env = env().await;
    write_hook(
        &env.hooks_dir(),
        "sync-fails.sh",
        "configVersion: v1\nkubernetes:\n- name: cms\n  kind: ConfigMap\n  allowFailure: true\n  waitForSynchronization: true",
        "echo broken >&2; exit 3",
    );
    let engine = env.loaded_engine().await;
    let err = engine
        .enable_kubernetes(&HookSet::Global)
        .await
        .expect_err("a failed waited-for Synchronization fails start-up");
    let EngineError::Synchronization {
        hook,
        binding,
        reason,
    } = &err
    else {
        panic!("not a Synchronization error: {err:?}");
    };
    assert_eq!((hook.as_str(), binding.as_str()), ("sync-fails.sh", "cms"));
    let SyncFailure::Run(run) = reason else {
        panic!("not the run's failure: {reason:?}");
    };
    assert!(
        matches!(**run, RunError::Exec(_)),
        "the process failed: {run:?}"
    );
    let text = chain(&err);
    for part in ["binding cms did not complete", "exit status: 3"] {
        assert_eq!(text.matches(part).count(), 1, "{part:?} once: {text}");
    }
    engine.shutdown();
}
