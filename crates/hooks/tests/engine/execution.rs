//! A run's environment, working directory, temp files, output logging, resource usage and
//! metric operations, seen from inside real bash hooks.

use crate::common::*;
use hooks::{EngineOptions, HookSet, OrderBinding};
use serde_json::{Value, json};

const ENV_VARS: [&str; 7] = [
    "BINDING_CONTEXT_PATH",
    "VALUES_PATH",
    "CONFIG_VALUES_PATH",
    "VALUES_JSON_PATCH_PATH",
    "CONFIG_VALUES_JSON_PATCH_PATH",
    "KUBERNETES_PATCH_PATH",
    "METRICS_PATH",
];

/// A hook body that appends one JSON line per run describing what the hook saw.
fn describe_run(out: &std::path::Path) -> String {
    let vars: Vec<String> = ENV_VARS
        .iter()
        .map(|v| format!("--arg {v} \"${v}\" --arg {v}_size \"$(stat -c %s \"${v}\")\""))
        .collect();
    format!(
        "echo 'hello from stdout'\necho 'hello from stderr' >&2\n\
         jq -nc --arg pwd \"$PWD\" {} --slurpfile values \"$VALUES_PATH\" \
         --slurpfile config \"$CONFIG_VALUES_PATH\" '$ARGS.named + {{values: $values[0], config: $config[0]}}' >> {}",
        vars.join(" "),
        out.display()
    )
}

#[tokio::test]
async fn each_run_gets_fresh_files_the_documented_environment_and_its_own_directory() {
    let env = env().await;
    let out = env.out().join("runs");
    let tmp = env.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let hook = write_hook(
        &env.hooks_dir(),
        "sub/env.sh",
        "configVersion: v1\nonStartup: 1",
        &describe_run(&out),
    );
    *env.host.values.lock().unwrap() = json!({"global": {"cluster": "c1"}});
    let engine = env.engine_with(EngineOptions {
        tmp_dir: tmp.clone(),
        ..opts()
    });
    engine
        .load(HookSet::Global, &env.hooks_dir())
        .await
        .unwrap();
    // The stdout/stderr lines go to the log with the hook, binding and queue fields. Tokio tests
    // run every task on this thread, so a thread-local subscriber sees the engine's log events.
    let (logs, guard) = capture_logs("info");
    let mut reports = Vec::new();
    for _ in 0..2 {
        reports.extend(
            engine
                .run_order(&HookSet::Global, OrderBinding::OnStartup)
                .await
                .unwrap(),
        );
    }
    drop(guard);

    let runs: Vec<Value> = lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 2);
    let hook_dir = hook.parent().unwrap().canonicalize().unwrap();
    let mut run_dirs = Vec::new();
    for run in &runs {
        assert_eq!(run["pwd"], hook_dir.display().to_string(), "cwd: {run}");
        let bc = std::path::PathBuf::from(run["BINDING_CONTEXT_PATH"].as_str().unwrap());
        let dir = bc.parent().unwrap().to_path_buf();
        assert!(
            dir.starts_with(&tmp)
                && dir
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("hook-run-"),
            "{run}"
        );
        for var in ENV_VARS {
            let path = run[var].as_str().unwrap_or_default();
            assert!(
                std::path::Path::new(path).starts_with(&dir),
                "{var} in the run's dir: {run}"
            );
        }
        for output in ENV_VARS
            .iter()
            .filter(|v| v.ends_with("PATCH_PATH") || **v == "METRICS_PATH")
        {
            assert_eq!(run[format!("{output}_size")], "0", "{output} starts empty");
        }
        assert_eq!(run["values"], json!({"global": {"cluster": "c1"}}));
        assert_eq!(run["config"], json!({"global": {}}));
        // Removed right after the run, off the run's own path.
        eventually("the run's temp files are removed", 30, || async {
            (!dir.exists()).then_some(())
        })
        .await;
        run_dirs.push(dir);
    }
    assert_ne!(run_dirs[0], run_dirs[1], "fresh temp files for every run");

    assert_eq!(reports.len(), 2, "one report per run");
    for report in &reports {
        assert_eq!(report.hook, "sub/env.sh");
        assert!(report.usage.max_rss_bytes > 0, "max RSS recorded");
        assert!(
            report.usage.wall > std::time::Duration::ZERO,
            "wall time recorded"
        );
    }
    let logged = logs.lines();
    for (stream, text) in [
        ("stdout", "hello from stdout"),
        ("stderr", "hello from stderr"),
    ] {
        let hits = logged
            .iter()
            .filter(|l| l["fields"]["message"] == text)
            .inspect(|l| {
                assert_eq!(l["fields"]["hook"], "sub/env.sh", "{l}");
                assert_eq!(l["fields"]["binding"], "onStartup", "{l}");
                assert_eq!(l["fields"]["output"], stream, "{l}");
                assert!(l["fields"].get("queue").is_some(), "{l}");
            })
            .count();
        assert_eq!(hits, 2, "one {stream} line per run: {logged:?}");
    }
}

#[tokio::test]
async fn metric_groups_expire_and_histograms_accumulate_across_runs() {
    let env = env().await;
    let n = env.out().join("n");
    write_hook(
        &env.hooks_dir(),
        "metrics.sh",
        "configVersion: v1\nonStartup: 1",
        &format!(
            r#"n=$(cat {n} 2>/dev/null || echo 0); echo $((n+1)) > {n}
echo '{{"name":"hook_latency_seconds","action":"observe","value":0.2,"buckets":[0.1,1]}}' >> "$METRICS_PATH"
if [ "$n" -eq 0 ]; then
  echo '{{"group":"pods","name":"pod_phase","action":"set","value":1,"labels":{{"pod":"a"}}}}' >> "$METRICS_PATH"
  echo '{{"group":"pods","name":"pod_phase","action":"set","value":2,"labels":{{"pod":"b"}}}}' >> "$METRICS_PATH"
  echo '{{"name":"runs_seen","action":"add","value":5}}' >> "$METRICS_PATH"
else
  echo '{{"group":"pods","action":"expire"}}' >> "$METRICS_PATH"
fi"#,
            n = n.display()
        ),
    );
    let engine = env.loaded_engine().await;
    let run = || engine.run_order(&HookSet::Global, OrderBinding::OnStartup);
    run().await.unwrap();
    let first = engine.metrics().render_hook_metrics();
    for series in [
        r#"pod_phase{hook="metrics.sh",pod="a"} 1"#,
        r#"pod_phase{hook="metrics.sh",pod="b"} 2"#,
        r#"runs_seen{hook="metrics.sh"} 5"#,
        r#"hook_latency_seconds_count{hook="metrics.sh"} 1"#,
    ] {
        assert!(first.contains(series), "{series} in:\n{first}");
    }
    run().await.unwrap();
    let second = engine.metrics().render_hook_metrics();
    assert!(!second.contains("pod_phase"), "group expired:\n{second}");
    assert!(
        second.contains(r#"runs_seen{hook="metrics.sh"} 5"#),
        "the implicit group is replaced only by a run with ungrouped set/add:\n{second}"
    );
    assert!(
        second.contains(r#"hook_latency_seconds_count{hook="metrics.sh"} 2"#),
        "histogram accumulates:\n{second}"
    );
}

/// Issue 8 §4: 10 MB of stdout used to be logged in full at info on every run.
#[tokio::test]
async fn ten_megabytes_of_stdout_log_head_and_tail_at_info_and_everything_at_debug() {
    let env = env().await;
    const LINES: usize = 100_000;
    // 100 000 lines of 99 digits: 10 MB.
    write_hook(
        &env.hooks_dir(),
        "noisy.sh",
        "configVersion: v1\nonStartup: 1",
        &format!("seq -f '%099g' 1 {LINES}"),
    );
    let engine = env.loaded_engine().await;
    let (logs, guard) = capture_logs("hooks=debug");
    engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .unwrap();
    drop(guard);
    let events: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["fields"]["output"] == "stdout" && l["fields"]["hook"] == "noisy.sh")
        .collect();
    let message = |e: &Value| {
        e["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let is_cut = |e: &&Value| e["fields"].get("cut_lines").is_some();
    let info: Vec<String> = events
        .iter()
        .filter(|e| e["level"] == "INFO" && !is_cut(e))
        .map(message)
        .collect();
    let info_bytes: usize = info.iter().map(String::len).sum();
    assert!(
        info_bytes <= 32 * 1024,
        "{info_bytes} bytes of output logged at info"
    );
    let line = |n: usize| format!("{n:0>99}");
    assert_eq!(info.first(), Some(&line(1)), "the head is logged at info");
    assert_eq!(
        info.last(),
        Some(&line(LINES)),
        "the tail is logged at info"
    );
    let cut: Vec<&Value> = events.iter().filter(is_cut).collect();
    assert_eq!(cut.len(), 1, "one summary of what was cut");
    assert_eq!(cut[0]["level"], "INFO");
    let cut_lines = cut[0]["fields"]["cut_lines"].as_u64().unwrap() as usize;
    assert_eq!(
        cut_lines,
        LINES - info.len(),
        "the summary counts the cut lines"
    );
    assert_eq!(
        cut[0]["fields"]["cut_bytes"].as_u64().unwrap() as usize,
        cut_lines * 99
    );
    let all: Vec<String> = events.iter().filter(|e| !is_cut(e)).map(message).collect();
    assert_eq!(all.len(), LINES, "every line once at info or debug");
    assert!(
        all.iter().enumerate().all(|(i, l)| *l == line(i + 1)),
        "in order"
    );
}
