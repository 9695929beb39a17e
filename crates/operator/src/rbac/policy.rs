//! From needs to RBAC objects: each [`Need`] (who needs which verbs on what, where) is merged
//! into one rule per resource of a ClusterRole, or of a Role when the need is confined to one
//! namespace and no cluster-wide rule already covers it; every rule keeps the list of who
//! needs it, printed as its comment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Where a permission is needed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every namespace, or cluster-scoped resources: the ClusterRole.
    Cluster,
    /// One namespace: a Role there suffices.
    Namespace(String),
}

/// What a rule grants: a resource (or non-resource URLs), possibly limited to names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `apiGroups: [group]`, `resources: [resource]` (`plural` or `plural/subresource`),
    /// `resourceNames` when not empty.
    Resource {
        /// API group (`""` for core).
        group: String,
        /// Plural, or `plural/subresource`.
        resource: String,
        /// Object names; empty means every object.
        names: BTreeSet<String>,
    },
    /// `nonResourceURLs` (ClusterRoles only).
    Urls(BTreeSet<String>),
}

/// One permission someone needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Where.
    pub scope: Scope,
    /// On what.
    pub target: Target,
    /// The verbs.
    pub verbs: BTreeSet<String>,
    /// Who needs it and what for, one line (a rule's comment).
    pub who: String,
}

impl Need {
    /// A need for `verbs` on `resource` of `group` (every object) in `scope`.
    pub fn resource(
        scope: Scope,
        group: &str,
        resource: &str,
        verbs: &[&str],
        who: String,
    ) -> Need {
        Need {
            scope,
            target: Target::Resource {
                group: group.to_string(),
                resource: resource.to_string(),
                names: BTreeSet::new(),
            },
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            who,
        }
    }

    /// The same need limited to the objects called `names`.
    pub fn named(mut self, names: &[&str]) -> Need {
        if let Target::Resource { names: n, .. } = &mut self.target {
            n.extend(names.iter().map(|s| s.to_string()));
        }
        self
    }
}

/// One merged rule: the target, the union of verbs, everyone who needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What it grants.
    pub target: Target,
    /// Verbs, in [`VERB_ORDER`].
    pub verbs: BTreeSet<String>,
    /// Who needs it, in order of first mention, without repeats.
    pub who: Vec<String>,
}

/// The order verbs are printed in (others follow alphabetically).
const VERB_ORDER: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn sorted_verbs(verbs: &BTreeSet<String>) -> Vec<&str> {
    let mut out: Vec<&str> = verbs.iter().map(String::as_str).collect();
    out.sort_by_key(|v| {
        (
            VERB_ORDER.iter().position(|o| o == v).unwrap_or(usize::MAX),
            *v,
        )
    });
    out
}

impl Rule {
    /// Whether this rule grants `verbs` on `target` (the same resource with no name limit, or
    /// with a superset of its names; `*` verbs grant any).
    fn covers(&self, target: &Target, verbs: &BTreeSet<String>) -> bool {
        let on_target = match (&self.target, target) {
            (
                Target::Resource {
                    group: g1,
                    resource: r1,
                    names: n1,
                },
                Target::Resource {
                    group: g2,
                    resource: r2,
                    names: n2,
                },
            ) => g1 == g2 && r1 == r2 && (n1.is_empty() || (!n2.is_empty() && n2.is_subset(n1))),
            (Target::Urls(u1), Target::Urls(u2)) => u2.is_subset(u1),
            _ => false,
        };
        on_target && (self.verbs.contains("*") || verbs.is_subset(&self.verbs))
    }

    fn add_who(&mut self, who: &str) {
        if !self.who.iter().any(|w| w == who) {
            self.who.push(who.to_string());
        }
    }
}

/// The rules of the ClusterRole and of one Role per namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The ClusterRole's rules.
    pub cluster: Vec<Rule>,
    /// Each namespace's Role's rules.
    pub namespaced: BTreeMap<String, Vec<Rule>>,
}

/// Merges needs with the same scope and target, in order of first mention.
fn merge(needs: &[&Need]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for need in needs {
        match rules.iter_mut().find(|r| r.target == need.target) {
            Some(rule) => {
                rule.verbs.extend(need.verbs.iter().cloned());
                rule.add_who(&need.who);
            }
            None => rules.push(Rule {
                target: need.target.clone(),
                verbs: need.verbs.clone(),
                who: vec![need.who.clone()],
            }),
        }
    }
    rules
}

/// Folds a rule into the first rule of `into` that covers it (its `who` joins that rule);
/// returns the rule when none does.
fn fold(rule: Rule, into: &mut [Rule]) -> Option<Rule> {
    match into
        .iter_mut()
        .find(|r| r.covers(&rule.target, &rule.verbs))
    {
        Some(covering) => {
            for who in &rule.who {
                covering.add_who(who);
            }
            None
        }
        None => Some(rule),
    }
}

/// Sort key: core group first, then by group, resource and names; URLs last.
fn rule_key(rule: &Rule) -> (u8, String, String, Vec<String>) {
    match &rule.target {
        Target::Resource {
            group,
            resource,
            names,
        } => (
            0,
            group.clone(),
            resource.clone(),
            names.iter().cloned().collect(),
        ),
        Target::Urls(urls) => (
            1,
            String::new(),
            String::new(),
            urls.iter().cloned().collect(),
        ),
    }
}

impl Policy {
    /// The policy for `needs`: cluster needs merged into ClusterRole rules (a rule limited to
    /// names that a rule without names covers is folded into it), namespaced needs into Role
    /// rules unless the ClusterRole already grants them.
    pub fn from_needs(needs: &[Need]) -> Policy {
        let cluster_needs: Vec<&Need> =
            needs.iter().filter(|n| n.scope == Scope::Cluster).collect();
        let mut cluster: Vec<Rule> = Vec::new();
        let (broad, narrow): (Vec<Rule>, Vec<Rule>) = merge(&cluster_needs)
            .into_iter()
            .partition(|r| matches!(&r.target, Target::Resource { names, .. } if names.is_empty()));
        cluster.extend(broad);
        for rule in narrow {
            if let Some(kept) = fold(rule, &mut cluster) {
                cluster.push(kept);
            }
        }
        cluster.sort_by_key(rule_key);
        let mut namespaced = BTreeMap::new();
        let namespaces: BTreeSet<&String> = needs
            .iter()
            .filter_map(|n| match &n.scope {
                Scope::Namespace(ns) => Some(ns),
                Scope::Cluster => None,
            })
            .collect();
        for ns in namespaces {
            let in_ns: Vec<&Need> = needs
                .iter()
                .filter(|n| n.scope == Scope::Namespace(ns.clone()))
                .collect();
            let mut rules: Vec<Rule> = merge(&in_ns)
                .into_iter()
                .filter_map(|rule| fold(rule, &mut cluster))
                .collect();
            rules.sort_by_key(rule_key);
            if !rules.is_empty() {
                namespaced.insert(ns.clone(), rules);
            }
        }
        Policy {
            cluster,
            namespaced,
        }
    }

    /// The policy as YAML documents, rules commented with who needs them: the ClusterRole
    /// `name` and its ClusterRoleBinding, then a Role `name` and RoleBinding per namespace,
    /// all bound to the ServiceAccount `service_account` of `namespace`.
    pub fn to_yaml(
        &self,
        header: &str,
        name: &str,
        service_account: &str,
        namespace: &str,
    ) -> String {
        let mut out = String::new();
        for line in header.lines() {
            let _ = writeln!(out, "{}", format!("# {line}").trim_end());
        }
        let subject = format!(
            "subjects:\n  - kind: ServiceAccount\n    name: {service_account}\n    namespace: {namespace}\n"
        );
        let _ = write!(
            out,
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\nrules:\n"
        );
        write_rules(&mut out, &self.cluster);
        let _ = write!(
            out,
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\n{subject}"
        );
        for (ns, rules) in &self.namespaced {
            let _ = write!(
                out,
                "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\nrules:\n"
            );
            write_rules(&mut out, rules);
            let _ = write!(
                out,
                "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {name}\n{subject}"
            );
        }
        out
    }
}

/// A YAML flow list of plain or quoted strings: `[get, list]`, `[""]`.
fn flow(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|i| {
            let i = i.as_ref();
            let plain = !i.is_empty()
                && i.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | '_'))
                && !i.starts_with(['-', '.', '/']);
            if plain {
                i.to_string()
            } else {
                format!("{i:?}")
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn write_rules(out: &mut String, rules: &[Rule]) {
    if rules.is_empty() {
        out.truncate(out.trim_end_matches("\n").len());
        out.push_str(" []\n");
        return;
    }
    for rule in rules {
        for who in &rule.who {
            let _ = writeln!(out, "  # {who}");
        }
        match &rule.target {
            Target::Resource {
                group,
                resource,
                names,
            } => {
                let _ = writeln!(out, "  - apiGroups: {}", flow([group]));
                let _ = writeln!(out, "    resources: {}", flow([resource]));
                if !names.is_empty() {
                    let _ = writeln!(out, "    resourceNames: {}", flow(names));
                }
            }
            Target::Urls(urls) => {
                let _ = writeln!(out, "  - nonResourceURLs: {}", flow(urls));
            }
        }
        let _ = writeln!(out, "    verbs: {}", flow(sorted_verbs(&rule.verbs)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn need(scope: Scope, resource: &str, verbs: &[&str], who: &str) -> Need {
        Need::resource(scope, "", resource, verbs, who.into())
    }

    #[test]
    fn needs_merge_per_resource_and_namespaced_ones_fold_into_covering_cluster_rules() {
        let ns = || Scope::Namespace("ops".into());
        let policy = Policy::from_needs(&[
            need(Scope::Cluster, "configmaps", &["get", "list"], "a"),
            need(Scope::Cluster, "configmaps", &["patch"], "b"),
            need(ns(), "configmaps", &["get"], "c"),
            need(ns(), "secrets", &["create"], "d"),
            need(Scope::Cluster, "namespaces", &["get"], "e").named(&["ops"]),
            need(Scope::Cluster, "namespaces", &["get", "list"], "f"),
        ]);
        let cluster: Vec<(String, Vec<&str>, Vec<String>)> = policy
            .cluster
            .iter()
            .map(|r| {
                (
                    format!("{:?}", r.target),
                    sorted_verbs(&r.verbs),
                    r.who.clone(),
                )
            })
            .collect();
        assert_eq!(cluster.len(), 2, "{cluster:?}");
        assert_eq!(cluster[0].1, ["get", "list", "patch"]);
        assert_eq!(
            cluster[0].2,
            ["a", "b", "c"],
            "c folds into the cluster rule"
        );
        assert_eq!(
            cluster[1].2,
            ["f", "e"],
            "the named rule folds into the broad one"
        );
        let role = &policy.namespaced["ops"];
        assert_eq!(role.len(), 1);
        assert_eq!(role[0].who, ["d"]);
    }

    #[test]
    fn the_yaml_comments_every_rule_with_who_needs_it() {
        let policy = Policy::from_needs(&[
            need(
                Scope::Cluster,
                "pods",
                &["watch", "list"],
                "the operator: pods",
            ),
            Need {
                scope: Scope::Cluster,
                target: Target::Urls(["/metrics".to_string()].into()),
                verbs: ["get".to_string()].into(),
                who: "module prometheus grants it".into(),
            },
            need(
                Scope::Namespace("ops".into()),
                "secrets",
                &["get"],
                "inventories",
            )
            .named(&["x"]),
        ]);
        let yaml = policy.to_yaml("Generated.", "op", "op", "ops");
        assert!(
            yaml.contains("rules:\n  # the operator: pods\n  - apiGroups: [\"\"]\n    resources: [pods]\n    verbs: [list, watch]\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("  - nonResourceURLs: [\"/metrics\"]\n    verbs: [get]\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("kind: Role\nmetadata:\n  name: op\n  namespace: ops\n"),
            "{yaml}"
        );
        assert!(yaml.contains("    resourceNames: [x]\n"), "{yaml}");
        let (docs, err) = yaml_json::parse_stream(&yaml);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[0]["rules"][1]["nonResourceURLs"][0], "/metrics");
        assert_eq!(docs[3]["subjects"][0]["namespace"], "ops");
    }
}
