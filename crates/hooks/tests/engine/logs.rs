//! Issue 12 §4: every line of a hook run carries the run's span (`hook`, `binding`, `queue`,
//! `run_id`); routine schedule successes are quiet, failures stay loud.

use crate::common::*;
use hooks::HookSet;
use serde_json::Value;

/// The lines of `hook`'s runs, with the `run_id` of each.
fn runs_of<'a>(logged: &'a [Value], hook: &str) -> Vec<(&'a Value, u64)> {
    logged
        .iter()
        .filter(|l| l["fields"]["hook"] == hook)
        .map(|l| (l, l["fields"]["run_id"].as_u64().unwrap_or(0)))
        .collect()
}

#[tokio::test]
async fn schedule_runs_log_success_at_debug_and_failure_loudly_every_line_in_the_runs_span() {
    let env = env().await;
    let counter = env.out().join("n");
    // Fails its first run (printing to stderr), then succeeds every second.
    write_hook(
        &env.hooks_dir(),
        "tick.sh",
        "configVersion: v1\nschedule:\n- name: every-second\n  crontab: '*/1 * * * * *'",
        &format!(
            r#"n=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) > {c}
echo "run $n output" >&2
if [ "$n" -lt 1 ]; then exit 1; fi"#,
            c = counter.display()
        ),
    );
    let engine = env.loaded_engine().await;
    let (logs, guard) = capture_logs("hooks=debug");
    engine.enable_schedules(&HookSet::Global);
    eventually("two successful runs after the failure", 30, || async {
        let done = logs
            .lines()
            .iter()
            .filter(|l| l["fields"]["message"] == "hook run succeeded")
            .count();
        (done >= 2).then_some(())
    })
    .await;
    engine.shutdown();
    drop(guard);

    let logged = logs.lines();
    let lines = runs_of(&logged, "tick.sh");
    for (line, run_id) in &lines {
        assert_eq!(line["fields"]["binding"], "every-second", "{line}");
        assert_eq!(line["fields"]["queue"], "main", "{line}");
        assert!(*run_id > 0, "every line names its run: {line}");
    }
    let with_message = |m: &str| -> Vec<(&Value, u64)> {
        lines
            .iter()
            .filter(|(l, _)| l["fields"]["message"] == m)
            .cloned()
            .collect()
    };
    let succeeded = with_message("hook run succeeded");
    assert!(succeeded.len() >= 2, "{logged:?}");
    for (line, _) in &succeeded {
        assert_eq!(
            line["level"], "DEBUG",
            "a routine schedule success is quiet: {line}"
        );
    }
    let failed = with_message("hook failed; will retry");
    assert_eq!(failed.len(), 1, "{logged:?}");
    assert_eq!(failed[0].0["level"], "ERROR", "a failure stays loud");
    // The failing run's own output and its failure are one run; each later run is another.
    let output = with_message("run 0 output");
    assert_eq!(output.len(), 1, "{logged:?}");
    assert_eq!(
        output[0].1, failed[0].1,
        "the output and the failure share a run_id"
    );
    let mut run_ids: Vec<u64> = succeeded.iter().map(|(_, id)| *id).collect();
    run_ids.push(failed[0].1);
    run_ids.sort_unstable();
    run_ids.dedup();
    assert_eq!(run_ids.len(), succeeded.len() + 1, "a run_id per run");
}
