//! `addon-operator module describe <name>`: everything the operator knows about one module —
//! why it is enabled or disabled (which layer decided), its state and error, its hooks with
//! their bindings and queues, its objects with what their last apply did, and its last runs.
//!
//! The debug API builds the description ([`describe`], `/modules/<name>`); the client command
//! prints it as text with `kubectl describe` habits (`Key:  value` lines, indented tables,
//! `<none>` for nothing) or as YAML/JSON.

use std::io::Write;

use hooks::{HookEngine, HookSet};
use serde::{Deserialize, Serialize};

use crate::cli::{DebugSocket, ListFormat};
use crate::enabled::EnabledDecision;
use crate::modulelist::one_line;
use crate::shared::Shared;
use crate::status::{HookFailure, ModuleState, ObjectStatus, RunRecord};

/// One module, described.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleDescription {
    /// kebab-case name.
    pub name: String,
    /// Values key.
    pub key: String,
    /// Order from the directory name.
    pub order: u32,
    /// The module's directory.
    pub path: String,
    /// Enabled after the whole chain.
    pub enabled: bool,
    /// Why: the deciding layer and what every layer said (`None` before the first resolution).
    pub enabled_by: Option<EnabledDecision>,
    /// Current state.
    pub state: ModuleState,
    /// What fails now, if anything.
    pub error: Option<String>,
    /// `NoResourceReconciliation`: rendered, nothing applied.
    pub maintenance: bool,
    /// Checksum of the inputs of the last successful run.
    pub checksum: String,
    /// Hooks whose queued runs fail and are retried.
    pub failing_hooks: Vec<HookFailure>,
    /// The module's hooks and their bindings.
    pub hooks: Vec<HookDescription>,
    /// Inventory revision after the last apply.
    pub inventory_revision: u64,
    /// The objects of the last apply.
    pub objects: Vec<ObjectStatus>,
    /// The last runs, newest first.
    pub runs: Vec<RunRecord>,
}

/// A hook and its bindings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookDescription {
    /// The hook (`<module>/hooks/<file>`).
    pub name: String,
    /// Its bindings.
    pub bindings: Vec<BindingDescription>,
}

/// One binding of a hook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingDescription {
    /// `onStartup`, `beforeHelm`, …, `kubernetes`, `schedule`, `kubernetesValidating`, ….
    pub binding: String,
    /// The binding's name (or its order, for lifecycle bindings).
    pub name: String,
    /// What it watches or when it fires.
    pub detail: String,
    /// The queue its runs wait in (lifecycle and webhook runs have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// The description of the module `name` (its name or values key); `None` if there is none.
pub fn describe(shared: &Shared, hooks: &HookEngine, name: &str) -> Option<ModuleDescription> {
    let (name, key, order, path) = {
        let modules = shared.modules();
        let module = modules.find(name)?;
        (
            module.name.clone(),
            module.key.clone(),
            module.order,
            module.path.display().to_string(),
        )
    };
    let row = shared
        .status()
        .modules
        .get(&name)
        .cloned()
        .unwrap_or_default();
    let hooks = hooks
        .hooks(&HookSet::Module(name.clone()))
        .iter()
        .map(|h| HookDescription {
            name: h.name.clone(),
            bindings: bindings(&h.config),
        })
        .collect();
    Some(ModuleDescription {
        name,
        key,
        order,
        path,
        enabled: row.enabled,
        enabled_by: row.detail.enabled.clone(),
        state: row.state,
        error: row.error.clone(),
        maintenance: row.maintenance,
        checksum: row.checksum.clone(),
        failing_hooks: row.failing_hooks.clone(),
        hooks,
        inventory_revision: row.detail.revision,
        objects: row.detail.objects.clone(),
        runs: row.detail.runs.iter().rev().cloned().collect(),
    })
}

/// Every binding of a hook config, lifecycle bindings first.
fn bindings(config: &hooks::HookConfig) -> Vec<BindingDescription> {
    let binding =
        |binding: &str, name: &str, detail: String, queue: Option<&str>| BindingDescription {
            binding: binding.to_string(),
            name: name.to_string(),
            detail,
            queue: queue.map(str::to_string),
        };
    let mut out: Vec<BindingDescription> = config
        .orders
        .iter()
        .map(|(order, n)| binding(order.as_str(), "", format!("order {n}"), None))
        .collect();
    for k in &config.kubernetes {
        let mut detail = match &k.api_version {
            Some(v) => format!("{} {v}", k.kind),
            None => k.kind.clone(),
        };
        if !k.namespaces.is_empty() {
            detail.push_str(&format!(" in {}", k.namespaces.join(",")));
        }
        if let Some(selector) = &k.label_selector {
            detail.push_str(&format!(" -l {selector}"));
        }
        out.push(binding("kubernetes", &k.name, detail, Some(&k.queue)));
    }
    for s in &config.schedules {
        out.push(binding(
            "schedule",
            &s.name,
            s.crontab.clone(),
            Some(&s.queue),
        ));
    }
    for (kind, list) in [
        ("kubernetesValidating", &config.validating),
        ("kubernetesMutating", &config.mutating),
    ] {
        for a in list {
            out.push(binding(kind, &a.name, String::new(), None));
        }
    }
    for c in &config.conversions {
        out.push(binding(
            "kubernetesCustomResourceConversion",
            &c.name,
            c.crd_name.clone(),
            None,
        ));
    }
    out
}

/// `module describe <name>`: asks the operator's debug socket and prints the answer.
pub async fn run(name: &str, socket: &DebugSocket, output: ListFormat) -> anyhow::Result<()> {
    let path = format!("/modules/{}", urlencode(name));
    let description: ModuleDescription = crate::modulelist::ask(socket, &path).await?;
    let mut out = std::io::stdout().lock();
    match output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&description)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&description)?)?,
        ListFormat::Text | ListFormat::Wide => write!(out, "{}", text(&description))?,
    }
    Ok(())
}

/// Module names are kebab-case and keys lowerCamel; anything else is escaped, not trusted.
fn urlencode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The description as `kubectl describe` prints things.
pub fn text(d: &ModuleDescription) -> String {
    let mut out = String::new();
    let mut field = |key: &str, value: &str| {
        out.push_str(&format!("{:<15} {value}\n", format!("{key}:")));
    };
    field("Name", &d.name);
    field("Values key", &d.key);
    field("Order", &d.order.to_string());
    field("Path", &d.path);
    field("Enabled", &d.enabled.to_string());
    let decided = d
        .enabled_by
        .as_ref()
        .map_or("<unknown>".to_string(), EnabledDecision::source);
    field("Enabled by", &decided);
    field("State", &format!("{:?}", d.state));
    field("Error", &one_line(d.error.as_deref().unwrap_or("<none>")));
    field("Maintenance", &d.maintenance.to_string());
    field("Checksum", or_none(&d.checksum));
    if let Some(decision) = &d.enabled_by {
        out.push_str("Enabled layers:\n");
        let rows = decision
            .layers
            .iter()
            .map(|l| {
                let mark = if l.layer == decision.decided_by {
                    "<- decided"
                } else {
                    ""
                };
                vec![format!("{:?}", l.layer), l.says.clone(), mark.to_string()]
            })
            .collect();
        out.push_str(&table(&["Layer", "Says", ""], rows));
    }
    out.push_str("Hooks:\n");
    let hook_rows: Vec<Vec<String>> = d
        .hooks
        .iter()
        .flat_map(|h| {
            h.bindings.iter().enumerate().map(move |(i, b)| {
                vec![
                    if i == 0 {
                        h.name.clone()
                    } else {
                        String::new()
                    },
                    b.binding.clone(),
                    or_none(&b.name).to_string(),
                    b.detail.clone(),
                    b.queue.clone().unwrap_or_else(|| "-".into()),
                ]
            })
        })
        .collect();
    out.push_str(&table_or_none(
        &["Hook", "Binding", "Name", "Watches / when", "Queue"],
        hook_rows,
    ));
    out.push_str("Failing hooks:\n");
    let failing = d
        .failing_hooks
        .iter()
        .map(|f| {
            vec![
                f.hook.clone(),
                f.binding.clone(),
                f.queue.clone(),
                f.failures.to_string(),
                f.since.clone(),
                one_line(&f.error),
            ]
        })
        .collect();
    out.push_str(&table_or_none(
        &["Hook", "Binding", "Queue", "Failures", "Since", "Error"],
        failing,
    ));
    out.push_str(&format!(
        "Objects (inventory revision {}):\n",
        d.inventory_revision
    ));
    let objects = d
        .objects
        .iter()
        .map(|o| {
            vec![
                o.kind.clone(),
                o.namespace.clone().unwrap_or_else(|| "-".into()),
                o.name.clone(),
                o.applied.clone(),
            ]
        })
        .collect();
    out.push_str(&table_or_none(
        &["Kind", "Namespace", "Name", "Last apply"],
        objects,
    ));
    out.push_str("Runs:\n");
    let runs = d
        .runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                format!("{:?}", r.kind),
                r.trigger.clone(),
                r.started.clone(),
                format!("{}ms", r.duration_ms),
                r.written.to_string(),
                match &r.error {
                    Some(e) => format!("Failed: {}", one_line(e)),
                    None => "Succeeded".into(),
                },
            ]
        })
        .collect();
    out.push_str(&table_or_none(
        &[
            "Id", "Kind", "Trigger", "Started", "Duration", "Written", "Result",
        ],
        runs,
    ));
    out
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

fn table_or_none(header: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        "  <none>\n".to_string()
    } else {
        table(header, rows)
    }
}

/// An indented table with a header and a dashed rule, columns padded to their widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let rule: Vec<String> = header.iter().map(|h| "-".repeat(h.len())).collect();
    let all: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(std::iter::once(rule))
        .chain(rows)
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            all.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enabled::{Layer, LayerVerdict};
    use crate::status::RunKind;

    #[test]
    fn text_shows_the_deciding_layer_hooks_objects_and_runs_like_kubectl_describe() {
        let d = ModuleDescription {
            name: "echo-server".into(),
            key: "echoServer".into(),
            order: 20,
            path: "modules/020-echo-server".into(),
            enabled: false,
            enabled_by: Some(EnabledDecision {
                enabled: Some(false),
                decided_by: Layer::ConfigMap,
                reason: None,
                layers: vec![
                    LayerVerdict {
                        layer: Layer::CommonValues,
                        says: "true".into(),
                    },
                    LayerVerdict {
                        layer: Layer::ConfigMap,
                        says: "false".into(),
                    },
                ],
            }),
            state: ModuleState::Disabled,
            error: None,
            maintenance: false,
            checksum: String::new(),
            failing_hooks: Vec::new(),
            hooks: vec![HookDescription {
                name: "echo-server/hooks/a.sh".into(),
                bindings: vec![BindingDescription {
                    binding: "kubernetes".into(),
                    name: "cms".into(),
                    detail: "ConfigMap".into(),
                    queue: Some("main".into()),
                }],
            }],
            inventory_revision: 0,
            objects: Vec::new(),
            runs: vec![RunRecord {
                id: 7,
                kind: RunKind::Disable,
                trigger: "disabled".into(),
                started: "2026-01-01T00:00:00.000Z".into(),
                duration_ms: 12,
                error: None,
                written: 3,
            }],
        };
        let text = text(&d);
        assert!(text.starts_with("Name:           echo-server\n"), "{text}");
        assert!(text.contains("Enabled by:     ConfigMap\n"), "{text}");
        assert!(
            text.contains("  ConfigMap     false  <- decided\n"),
            "{text}"
        );
        assert!(
            text.contains("  echo-server/hooks/a.sh  kubernetes  cms   ConfigMap       main\n"),
            "{text}"
        );
        assert!(
            text.contains("Objects (inventory revision 0):\n  <none>\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  7   Disable  disabled  2026-01-01T00:00:00.000Z  12ms      3        Succeeded\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn names_are_escaped_in_the_request_path() {
        assert_eq!(urlencode("echo-server"), "echo-server");
        assert_eq!(urlencode("../x y"), "..%2Fx%20y");
    }
}
