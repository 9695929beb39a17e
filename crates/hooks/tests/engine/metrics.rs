//! Issue 8 §4: hook metrics that would break the `/metrics` page are refused one by one, and
//! what is rendered always parses as the Prometheus text exposition format.

use crate::common::*;
use hooks::{HookSet, OrderBinding};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

fn is_name(s: &str, colon: bool) -> bool {
    let ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    let mut chars = s.chars();
    chars.next().is_some_and(ok) && chars.all(|c| ok(c) || c.is_ascii_digit())
}

/// Parses `{name="value",...}` at the start of `s`, returning the label names and the rest.
fn labels(s: &str) -> Result<(Vec<String>, &str), String> {
    let mut names = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((names, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("invalid label name {name:?}"));
        }
        names.push(name.to_string());
        let mut chars = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?
            .char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (_, '\\') => match chars.next() {
                    Some((_, '\\' | '"' | 'n')) => {}
                    other => return Err(format!("invalid escape {other:?}")),
                },
                (i, '"') => break i,
                _ => {}
            }
        };
        rest = &rest[eq + 2 + end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn is_value(v: &str) -> bool {
    matches!(v, "+Inf" | "-Inf" | "NaN") || v.parse::<f64>().is_ok_and(f64::is_finite)
}

/// Checks `text` against the Prometheus text exposition format the way Prometheus' parser
/// reads it (and as `promtool check metrics` reports "text format parsing error"): valid names
/// and label names, quoted label values with only `\\`, `\"`, `\n` escapes, numeric values,
/// at most one `# TYPE` per family, given before the family's samples, and each family's
/// samples together. Label names also go through the `prometheus` crate's own validation.
pub fn assert_exposition_parses(text: &str) {
    if let Err(e) = check_exposition(text) {
        panic!("not the Prometheus text format: {e}\n{text}");
    }
}

fn check_exposition(text: &str) -> Result<(), String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if let Some(t) = comment.strip_prefix("TYPE ") {
                let (name, kind) = t
                    .split_once(' ')
                    .ok_or_else(|| at("TYPE without type".into()))?;
                if !is_name(name, true) {
                    return Err(at(format!("unknown metric type in TYPE of {name:?}")));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at(format!("unknown metric type {kind:?}")));
                }
                if types.contains_key(name) || done.contains(name) {
                    return Err(at(format!("second TYPE line for metric name {name:?}")));
                }
                if let Some(prev) = current.replace(name.to_string()) {
                    done.insert(prev);
                }
                types.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(at(format!("invalid metric name {name:?}")));
        }
        let (label_names, rest) = if line[name_end..].starts_with('{') {
            labels(&line[name_end..]).map_err(at)?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let mut fields = rest.trim_start_matches(' ').split(' ');
        let value = fields.next().unwrap_or_default();
        if !is_value(value) {
            return Err(at(format!("invalid value {value:?}")));
        }
        if fields.next().is_some_and(|ts| ts.parse::<i64>().is_err()) || fields.next().is_some() {
            return Err(at("garbage after the value".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|base| types.get(*base).is_some_and(|t| t == "histogram"))
            .unwrap_or(name);
        if current.as_deref() != Some(family) {
            if done.contains(family) || types.contains_key(family) {
                return Err(at(format!("samples of {family:?} are not together")));
            }
            if let Some(prev) = current.replace(family.to_string()) {
                done.insert(prev);
            }
        }
        let declared: Vec<String> = label_names.into_iter().filter(|l| l != "le").collect();
        prometheus::core::Desc::new(family.into(), "help".into(), declared, HashMap::new())
            .map_err(|e| at(format!("prometheus crate: {e}")))?;
    }
    Ok(())
}

#[test]
fn the_exposition_check_refuses_what_breaks_a_scrape() {
    for broken in [
        "# TYPE bad metric{x=\"1\"} 1\nevil gauge\nbad metric{x=\"1\"} 1\nevil 1\n",
        "# TYPE a gauge\na{bad label=\"v\"} 1\n",
        "# TYPE a gauge\na{x=\"a\\qb\"} 1\n",
        "# TYPE a gauge\na 1\n# TYPE a gauge\na{x=\"1\"} 1\n",
        "# TYPE x histogram\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n# TYPE x_count gauge\nx_count 5\n",
    ] {
        assert!(check_exposition(broken).is_err(), "accepted:\n{broken}");
    }
    let fine = "# TYPE a gauge\na{x=\"q\\\"\\\\\\n\",y=\"\"} 1\na{x=\"b\"} +Inf\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2.5\nh_count 1\n";
    check_exposition(fine).unwrap();
}

#[tokio::test]
async fn invalid_hook_metrics_are_refused_by_line_and_the_rest_of_the_run_is_kept() {
    let env = env().await;
    write_hook(
        &env.hooks_dir(),
        "metrics.sh",
        "configVersion: v1\nonStartup: 1",
        r#"cat >> "$METRICS_PATH" <<'METRICS'
{"name":"good_total","action":"add","value":1,"labels":{"quote":"say \"hi\" \\ bye","multi":"a\nb"}}
{"name":"bad metric{x=\"1\"} 1\nevil","action":"set","value":1}
{"name":"ok","action":"set","value":1,"labels":{"bad label":"v"}}
{"name":"addon_operator_global_hook_run_seconds","action":"set","value":1}
{"name":"latency","action":"observe","value":0.2,"buckets":[0.1,1]}

{"name":"latency_count","action":"set","value":9}
{"name":"ok","action":"set","value":2}
METRICS
echo '[{"op":"add","path":"/global/kept","value":true}]' > "$VALUES_JSON_PATCH_PATH"
echo '{"operation":"Create","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kept","namespace":"default"}}}' > "$KUBERNETES_PATCH_PATH""#,
    );
    let engine = env.loaded_engine().await;
    let (logs, guard) = capture_logs("hooks=warn");
    let reports = engine
        .run_order(&HookSet::Global, OrderBinding::OnStartup)
        .await
        .expect("refused metrics do not fail the run");
    drop(guard);

    let refused: Vec<usize> = reports[0].refused_metrics.iter().map(|r| r.line).collect();
    assert_eq!(refused, [2, 3, 4, 7]);
    let warned: Vec<(String, u64)> = logs
        .lines()
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("hook metric refused"))
        })
        .map(|l| {
            (
                l["fields"]["hook"].as_str().unwrap_or_default().to_string(),
                l["fields"]["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        warned,
        [2, 3, 4, 7].map(|n| ("metrics.sh".to_string(), n)),
        "each refusal is logged naming the hook and the line"
    );

    assert_eq!(
        env.host.values.lock().unwrap()["global"]["kept"],
        json!(true)
    );
    assert!(
        get(&env.client, "v1", "ConfigMap", Some("default"), "kept")
            .await
            .is_some(),
        "object patches of the run applied"
    );
    let hook_metrics = engine.metrics().render_hook_metrics();
    for kept in [
        r#"good_total{hook="metrics.sh",multi="a\nb",quote="say \"hi\" \\ bye"} 1"#,
        r#"ok{hook="metrics.sh"} 2"#,
        r#"latency_count{hook="metrics.sh"} 1"#,
    ] {
        assert!(hook_metrics.contains(kept), "{kept} in\n{hook_metrics}");
    }
    // What the operator serves at /metrics: engine metrics, then hook metrics.
    let page = engine.metrics().render_engine_metrics() + &hook_metrics;
    assert!(page.contains("addon_operator_global_hook_run_seconds_count"));
    assert_exposition_parses(&page);
}
