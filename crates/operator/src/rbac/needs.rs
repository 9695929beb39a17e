//! Who needs which permissions, as [`Need`]s: the operator's own requests, what applying,
//! pruning and drift-watching a rendered object takes, what a role a module renders grants
//! (the API server lets the operator grant only what it holds), what a hook's `kubernetes`
//! binding watches, and the extra rules a `rbac.yaml` declares for hooks' object patches.
//!
//! Every function here is pure: kinds arrive resolved (plural, group, scope).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use super::policy::{Need, Scope, Target};

/// What the operator is configured with, as far as its own requests go.
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// The operator namespace.
    pub namespace: String,
    /// Its ConfigMap.
    pub config_map: String,
    /// Its Deployment (self-update).
    pub deployment: String,
    /// The name of its Validating/MutatingWebhookConfiguration.
    pub webhook_configuration: String,
    /// The TLS Secret and conversion use, when some hook declares a webhook.
    pub webhooks: Option<WebhookSettings>,
}

/// What the webhook server writes besides its configurations.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The Secret holding the serving certificate.
    pub tls_secret: String,
    /// Whether a conversion webhook is declared (CRDs get patched).
    pub conversion: bool,
}

/// The Lease of leader election (`--ha`).
const LEASE: &str = "addon-operator-leader-election";

/// The verbs applying, pruning and drift-watching an object take: `get` (ownership checks
/// and waits), `list`/`watch` (drift watch, adoption), `create`/`patch` (server-side apply,
/// dry-run first; an apply that creates needs `create`), `delete` (prune, recreate).
pub const APPLY_VERBS: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// The operator's own requests.
pub fn operator(s: &OperatorSettings) -> Vec<Need> {
    let ns = || Scope::Namespace(s.namespace.clone());
    let op = |what: &str| format!("the operator: {what}");
    let mut needs = vec![
        Need::resource(
            ns(),
            "",
            "configmaps",
            &["get", "list", "watch", "patch"],
            op(&format!(
                "reads and watches its ConfigMap {} (config values); patches it when a hook changes config values",
                s.config_map
            )),
        )
        .named(&[&s.config_map]),
        Need::resource(
            ns(),
            "",
            "configmaps",
            &["create"],
            op(&format!(
                "creates its ConfigMap {} at the first start",
                s.config_map
            )),
        ),
        Need::resource(
            ns(),
            "",
            "secrets",
            &["get", "list", "create", "update", "delete"],
            op("module inventories (Secrets labelled addon-operator.io/inventory)"),
        ),
        Need::resource(
            Scope::Cluster,
            "",
            "secrets",
            &["list", "watch"],
            op("drift watch of the inventory Secrets (every drift watch is cluster-wide, metadata only)"),
        ),
        Need::resource(
            ns(),
            "coordination.k8s.io",
            "leases",
            &["get", "update"],
            op(&format!("leader election with --ha (Lease {LEASE})")),
        )
        .named(&[LEASE]),
        Need::resource(
            ns(),
            "coordination.k8s.io",
            "leases",
            &["create"],
            op(&format!("creates the Lease {LEASE} with --ha")),
        ),
        Need::resource(
            Scope::Cluster,
            "",
            "namespaces",
            &["get"],
            op("API health probe and start-up check of its own namespace"),
        )
        .named(&[&s.namespace]),
        Need::resource(
            ns(),
            "apps",
            "deployments",
            &["patch"],
            op(&format!(
                "the self-update global hook rolls its Deployment {} to a new image digest",
                s.deployment
            )),
        )
        .named(&[&s.deployment]),
        Need::resource(
            Scope::Cluster,
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            &["list", "watch"],
            op("watches CustomResourceDefinitions to keep conversion webhooks registered"),
        ),
    ];
    for plural in [
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ] {
        let name = &s.webhook_configuration;
        let configuration = |verbs: &[&str], why: String| {
            Need::resource(
                Scope::Cluster,
                "admissionregistration.k8s.io",
                plural,
                verbs,
                op(&why),
            )
            .named(&[&s.webhook_configuration])
        };
        needs.push(configuration(
            &["get"],
            format!(
                "checks its webhook configuration {name} (deleted when no hook serves a webhook)"
            ),
        ));
        if s.webhooks.is_some() {
            needs.push(configuration(
                &["get", "update", "delete"],
                format!("registers the hooks' admission webhooks in {name}"),
            ));
            needs.push(Need::resource(
                Scope::Cluster,
                "admissionregistration.k8s.io",
                plural,
                &["create"],
                op("creates the webhook configurations"),
            ));
        }
    }
    if let Some(w) = &s.webhooks {
        needs.push(
            Need::resource(
                ns(),
                "",
                "secrets",
                &["get", "list", "watch", "update"],
                op(&format!(
                    "the webhooks' serving certificate in Secret {}",
                    w.tls_secret
                )),
            )
            .named(&[&w.tls_secret]),
        );
        if w.conversion {
            needs.push(Need::resource(
                Scope::Cluster,
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                &["get", "list", "patch"],
                op("points CRD conversion at the hooks' conversion webhook"),
            ));
        }
    }
    needs
}

/// A kind as the API serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// API group.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// One rendered object of a module, its kind resolved.
#[derive(Debug, Clone)]
pub struct Rendered<'a> {
    /// The module.
    pub module: &'a str,
    /// The object.
    pub object: &'a Value,
    /// Its kind.
    pub resolved: Resolved,
}

fn object_name(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    match meta["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// What applying, pruning and drift-watching the rendered objects takes (one need per module
/// and resource, naming the objects), plus what the roles among them grant and `bind` on the
/// roles the bindings among them reference.
pub fn rendered(objects: &[Rendered<'_>]) -> Vec<Need> {
    let mut by_resource: BTreeMap<(&str, String, String, String), BTreeSet<String>> =
        BTreeMap::new();
    for r in objects {
        by_resource
            .entry((
                r.module,
                r.resolved.group.clone(),
                r.resolved.plural.clone(),
                r.resolved.kind.clone(),
            ))
            .or_default()
            .insert(object_name(r.object));
    }
    let mut needs: Vec<Need> = by_resource
        .into_iter()
        .map(|((module, group, plural, kind), names)| {
            let names: Vec<String> = names.into_iter().collect();
            Need::resource(
                Scope::Cluster,
                &group,
                &plural,
                APPLY_VERBS,
                format!(
                    "module {module}: applies, prunes, watches {kind} {}",
                    names.join(", ")
                ),
            )
        })
        .collect();
    for r in objects {
        if r.resolved.group != "rbac.authorization.k8s.io" {
            continue;
        }
        match r.resolved.kind.as_str() {
            "Role" | "ClusterRole" => needs.extend(grants(r.module, r.object, &r.resolved.kind)),
            "RoleBinding" | "ClusterRoleBinding" => {
                needs.push(bind(r.module, r.object, &r.resolved.kind));
            }
            _ => {}
        }
    }
    needs
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// What a role a module renders grants: the operator must hold it too, or the API server
/// refuses to let it write the role (RBAC escalation prevention).
fn grants(module: &str, role: &Value, kind: &str) -> Vec<Need> {
    let who = format!(
        "module {module}: its {kind} {} grants it",
        object_name(role)
    );
    let mut needs = Vec::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        let verbs: BTreeSet<String> = strings(&rule["verbs"]).into_iter().collect();
        let names: BTreeSet<String> = strings(&rule["resourceNames"]).into_iter().collect();
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                needs.push(Need {
                    scope: Scope::Cluster,
                    target: Target::Resource {
                        group: group.clone(),
                        resource,
                        names: names.clone(),
                    },
                    verbs: verbs.clone(),
                    who: who.clone(),
                });
            }
        }
        let urls: BTreeSet<String> = strings(&rule["nonResourceURLs"]).into_iter().collect();
        if !urls.is_empty() {
            needs.push(Need {
                scope: Scope::Cluster,
                target: Target::Urls(urls),
                verbs: verbs.clone(),
                who: who.clone(),
            });
        }
    }
    needs
}

/// `bind` on the role a binding references. The API server lets the operator write a binding
/// when it may `bind` the role, or else when it holds the role's rules, which it can check
/// only once the role exists: without `bind`, the first install fails (404 for the role)
/// wherever the binding is dry-run or applied before its role, and a binding to a role the
/// module set does not render needs it anyway.
fn bind(module: &str, binding: &Value, kind: &str) -> Need {
    let role = &binding["roleRef"];
    let role_kind = role["kind"].as_str().unwrap_or_default();
    let role_name = role["name"].as_str().unwrap_or_default();
    let ns = binding["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let plural = if role_kind == "Role" {
        "roles"
    } else {
        "clusterroles"
    };
    let scope = if ns.is_empty() {
        Scope::Cluster
    } else {
        Scope::Namespace(ns)
    };
    Need::resource(
        scope,
        "rbac.authorization.k8s.io",
        plural,
        &["bind"],
        format!(
            "module {module}: binds {role_kind} {role_name} in {kind} {}",
            object_name(binding)
        ),
    )
    .named(&[role_name])
}

/// What a hook's `kubernetes` binding watches: `list` and `watch`, in each namespace it names
/// (a Role there) or cluster-wide.
pub fn binding(hook: &str, binding: &str, resolved: &Resolved, namespaces: &[String]) -> Vec<Need> {
    let who = format!("hook {hook}: binding {binding} watches {}", resolved.kind);
    let scopes: Vec<Scope> = if namespaces.is_empty() || !resolved.namespaced {
        vec![Scope::Cluster]
    } else {
        namespaces
            .iter()
            .map(|n| Scope::Namespace(n.clone()))
            .collect()
    };
    scopes
        .into_iter()
        .map(|scope| {
            Need::resource(
                scope,
                &resolved.group,
                &resolved.plural,
                &["list", "watch"],
                who.clone(),
            )
        })
        .collect()
}

/// The file that declares what hooks' object patches (`$KUBERNETES_PATCH_PATH`) need: `rbac.yaml`
/// in a module directory (its hooks) or in the global hooks directory.
pub const EXTRA_RULES_FILE: &str = "rbac.yaml";

/// `rbac.yaml`: the permissions hooks need for their object patches, which their `--config`
/// cannot declare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraRules {
    #[serde(default)]
    rules: Vec<ExtraRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtraRule {
    /// The hook, as its directory names it (`storage-class`, `lib/x` is never a hook).
    hook: String,
    /// Why it needs the rule (the rule's comment).
    why: String,
    api_groups: Vec<String>,
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
    verbs: Vec<String>,
    /// Only in this namespace (a Role); default: cluster-wide.
    namespace: Option<String>,
}

/// The needs `dir/rbac.yaml` declares (none when the file is absent). `hooks` are the names
/// of the hooks of that directory (relative to its hooks directory), which the rules must
/// name; `prefix` turns such a name into the hook's full name for comments.
///
/// # Errors
/// The file cannot be read or parsed (unknown fields included), or a rule names no hook of
/// the directory or lacks verbs, groups or resources.
pub fn extra_rules(dir: &Path, hooks: &[String], prefix: &str) -> anyhow::Result<Vec<Need>> {
    let path = dir.join(EXTRA_RULES_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: ExtraRules = serde_yaml::from_str(&text).with_context(|| {
        format!(
            "{}: expected `rules:` with hook, why, apiGroups, resources, verbs, and optional resourceNames and namespace",
            path.display()
        )
    })?;
    let mut needs = Vec::new();
    for (i, rule) in file.rules.iter().enumerate() {
        let at = format!("{}: rules[{i}]", path.display());
        if !hooks.contains(&rule.hook) {
            bail!(
                "{at}: hook {:?} is not a hook here (hooks: {})",
                rule.hook,
                hooks.join(", ")
            );
        }
        if rule.verbs.is_empty() || rule.api_groups.is_empty() || rule.resources.is_empty() {
            bail!("{at}: apiGroups, resources and verbs must each name at least one");
        }
        let scope = match &rule.namespace {
            Some(ns) => Scope::Namespace(ns.clone()),
            None => Scope::Cluster,
        };
        let who = format!("hook {prefix}{}: {}", rule.hook, rule.why);
        for group in &rule.api_groups {
            for resource in &rule.resources {
                needs.push(Need {
                    scope: scope.clone(),
                    target: Target::Resource {
                        group: group.clone(),
                        resource: resource.clone(),
                        names: rule.resource_names.iter().cloned().collect(),
                    },
                    verbs: rule.verbs.iter().cloned().collect(),
                    who: who.clone(),
                });
            }
        }
    }
    Ok(needs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolved(group: &str, plural: &str, kind: &str, namespaced: bool) -> Resolved {
        Resolved {
            group: group.into(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
        }
    }

    #[test]
    fn a_rendered_role_needs_its_grants_and_a_binding_to_a_foreign_role_needs_bind() {
        let role = json!({"kind": "ClusterRole", "metadata": {"name": "reader"},
            "rules": [{"apiGroups": ["", "apps"], "resources": ["pods"], "verbs": ["list"]},
                      {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
        let own = json!({"kind": "ClusterRoleBinding", "metadata": {"name": "reader"},
            "roleRef": {"kind": "ClusterRole", "name": "reader"}});
        let foreign = json!({"kind": "RoleBinding", "metadata": {"name": "view", "namespace": "x"},
            "roleRef": {"kind": "ClusterRole", "name": "view"}});
        let rbac = "rbac.authorization.k8s.io";
        let objects = [
            Rendered {
                module: "m",
                object: &role,
                resolved: resolved(rbac, "clusterroles", "ClusterRole", false),
            },
            Rendered {
                module: "m",
                object: &own,
                resolved: resolved(rbac, "clusterrolebindings", "ClusterRoleBinding", false),
            },
            Rendered {
                module: "m",
                object: &foreign,
                resolved: resolved(rbac, "rolebindings", "RoleBinding", true),
            },
        ];
        let needs = rendered(&objects);
        let describe: Vec<String> = needs
            .iter()
            .map(|n| format!("{:?} {:?} {:?}", n.scope, n.target, n.verbs))
            .collect();
        assert_eq!(needs.len(), 3 + 3 + 2, "{describe:#?}");
        assert!(
            needs
                .iter()
                .any(|n| n.who == "module m: applies, prunes, watches ClusterRole reader")
        );
        assert!(
            describe
                .iter()
                .any(|d| d.contains("group: \"apps\", resource: \"pods\""))
        );
        assert!(describe.iter().any(|d| d.contains("Urls({\"/metrics\"})")));
        let bind = needs.last().unwrap();
        assert_eq!(bind.scope, Scope::Namespace("x".into()));
        assert_eq!(bind.verbs, ["bind".to_string()].into());
        assert!(bind.who.contains("binds ClusterRole view"), "{}", bind.who);
        assert!(
            needs.iter().any(|n| n.who == "module m: binds ClusterRole reader in ClusterRoleBinding reader"),
            "{describe:#?}"
        );
    }

    #[test]
    fn a_binding_limited_to_namespaces_needs_a_role_in_each() {
        let cm = resolved("", "configmaps", "ConfigMap", true);
        let needs = binding("h", "b", &cm, &["a".into(), "b".into()]);
        assert_eq!(
            needs.iter().map(|n| n.scope.clone()).collect::<Vec<_>>(),
            [Scope::Namespace("a".into()), Scope::Namespace("b".into())]
        );
        let ns = resolved("", "namespaces", "Namespace", false);
        assert_eq!(
            binding("h", "b", &ns, &["a".into()])[0].scope,
            Scope::Cluster
        );
    }

    #[test]
    fn declared_webhooks_add_registration_and_the_tls_secret_to_the_operators_needs() {
        let settings = |webhooks| OperatorSettings {
            namespace: "ops".into(),
            config_map: "cm".into(),
            deployment: "dep".into(),
            webhook_configuration: "hooks".into(),
            webhooks,
        };
        let verbs_on = |needs: &[Need], resource: &str| -> Vec<String> {
            let mut verbs: Vec<String> = needs
                .iter()
                .filter(
                    |n| matches!(&n.target, Target::Resource { resource: r, .. } if r == resource),
                )
                .flat_map(|n| n.verbs.iter().cloned())
                .collect();
            verbs.sort();
            verbs.dedup();
            verbs
        };
        let plain = operator(&settings(None));
        assert_eq!(verbs_on(&plain, "mutatingwebhookconfigurations"), ["get"]);
        assert!(!plain.iter().any(|n| n.who.contains("serving certificate")));
        let with = operator(&settings(Some(WebhookSettings {
            tls_secret: "tls".into(),
            conversion: true,
        })));
        for plural in [
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
        ] {
            assert_eq!(
                verbs_on(&with, plural),
                ["create", "delete", "get", "update"],
                "{plural}"
            );
        }
        assert!(
            with.iter()
                .any(|n| n.who.contains("serving certificate in Secret tls"))
        );
        assert!(verbs_on(&with, "customresourcedefinitions").contains(&"patch".to_string()));
    }

    #[test]
    fn extra_rules_must_name_a_hook_of_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(EXTRA_RULES_FILE),
            "rules:\n- hook: cleanup\n  why: deletes old Jobs\n  apiGroups: [batch]\n  resources: [jobs]\n  verbs: [delete]\n",
        )
        .unwrap();
        let needs = extra_rules(dir.path(), &["cleanup".into()], "m/hooks/").unwrap();
        assert_eq!(needs.len(), 1);
        assert_eq!(needs[0].who, "hook m/hooks/cleanup: deletes old Jobs");
        let err = extra_rules(dir.path(), &["other".into()], "").unwrap_err();
        assert!(format!("{err:#}").contains("hook \"cleanup\" is not a hook here (hooks: other)"));
        std::fs::write(
            dir.path().join(EXTRA_RULES_FILE),
            "rules:\n- hook: cleanup\n  verb: [x]\n",
        )
        .unwrap();
        let err = extra_rules(dir.path(), &["cleanup".into()], "").unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `verb`"),
            "{err:#}"
        );
    }
}
