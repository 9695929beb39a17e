//! RBAC as kube-apiserver evaluates it, as pure functions over the store: which rules an
//! identity holds ([`rules_for`]: ClusterRoleBindings, then RoleBindings of the namespace,
//! aggregated ClusterRoles included), whether they allow a request ([`allows`]), and the
//! escalation check that guards writes of roles and bindings ([`check_escalation`]).
//!
//! The rules follow `k8s.io/kubernetes/pkg/registry/rbac/validation` (`RuleAllows`,
//! `Covers`, `ConfirmNoEscalation`) and `plugin/pkg/auth/authorizer/rbac`; the messages are
//! worded as kube-apiserver words them.

use crate::meta;
use crate::selectors::selector_matches;
use crate::status::{ApiError, ApiResult, ErrorKind};
use crate::store::Store;
use serde_json::Value;

/// The API group of every RBAC kind.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The group whose members may do anything (kube-apiserver's privileged group).
pub const MASTERS: &str = "system:masters";

/// Who sent a request, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name, e.g. `system:serviceaccount:ns:name`.
    pub user: String,
    /// The groups, `system:authenticated` included for authenticated users.
    pub groups: Vec<String>,
}

impl Identity {
    /// The identity of a ServiceAccount's token, with the groups kube-apiserver gives it.
    pub fn service_account(namespace: &str, name: &str) -> Identity {
        Identity {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// A request without credentials over plain HTTP: kube-apiserver's former insecure port
    /// gave it this identity, in `system:masters`.
    pub fn unsecured() -> Identity {
        Identity {
            user: "system:unsecured".into(),
            groups: vec![MASTERS.into(), "system:authenticated".into()],
        }
    }

    /// The subject of a self access review sent without credentials.
    pub fn anonymous() -> Identity {
        Identity {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// Whether the identity bypasses authorization (`system:masters`).
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }
}

/// Who sent a request, for handlers (a request extension when authorization is on).
#[derive(Debug, Clone)]
pub struct Requester(pub std::sync::Arc<Identity>);

/// What a request asks to do: kube-apiserver's authorizer attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// or the lower-case HTTP method of a non-resource request.
    pub verb: String,
    /// Whether the request is about a resource (else about `path`).
    pub resource_request: bool,
    /// API group (`""` for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Subresource, or empty.
    pub subresource: String,
    /// Namespace, or empty for cluster-scoped requests.
    pub namespace: String,
    /// Object name, or empty.
    pub name: String,
    /// The URL path of a non-resource request.
    pub path: String,
}

impl Attributes {
    /// `resource` or `resource/subresource`, as rules name it.
    fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// kube-apiserver's `forbiddenMessage`: `User "u" cannot VERB resource "r" in API group
    /// "g" in the namespace "n"` (or `at the cluster scope`, or `path "/p"`).
    fn forbidden_message(&self, user: &str) -> String {
        if !self.resource_request {
            return format!("User {user:?} cannot {} path {:?}", self.verb, self.path);
        }
        let resource = self.combined_resource();
        if self.namespace.is_empty() {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                self.verb, self.group
            )
        } else {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                self.verb, self.group, self.namespace
            )
        }
    }

    /// The 403 Forbidden kube-apiserver answers when `identity` may not do this; `reason` is
    /// the authorizer's (`RBAC: ...`), appended when not empty.
    pub fn forbidden(&self, identity: &Identity, reason: &str) -> ApiError {
        let mut why = self.forbidden_message(&identity.user);
        if !reason.is_empty() {
            why = format!("{why}: {reason}");
        }
        forbidden_error(&self.group, &self.resource, &self.name, &why)
    }
}

/// kube's `NewForbidden(groupResource, name, err)`: the message names the resource (and the
/// object) and says why.
fn forbidden_error(group: &str, resource: &str, name: &str, why: &str) -> ApiError {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if resource.is_empty() {
        format!("forbidden: {why}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {name:?} is forbidden: {why}")
    };
    ApiError::new(ErrorKind::Forbidden, message).with_details(group, resource, name)
}

/// One `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// Verbs (`*` is any).
    pub verbs: Vec<String>,
    /// API groups (`*` is any).
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*` or `*/subresource`.
    pub resources: Vec<String>,
    /// Object names; empty is any.
    pub resource_names: Vec<String>,
    /// Non-resource URLs (a trailing `*` is a prefix match).
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

impl Rule {
    /// The rule of a `rules[]` entry.
    pub fn from_json(v: &Value) -> Rule {
        Rule {
            verbs: strings(&v["verbs"]),
            api_groups: strings(&v["apiGroups"]),
            resources: strings(&v["resources"]),
            resource_names: strings(&v["resourceNames"]),
            non_resource_urls: strings(&v["nonResourceURLs"]),
        }
    }

    /// kube's `RuleAllows`.
    pub fn allows(&self, a: &Attributes) -> bool {
        if !(has(&self.verbs, "*") || has(&self.verbs, &a.verb)) {
            return false;
        }
        if !a.resource_request {
            return self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || u == &a.path
                    || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
            });
        }
        let group = has(&self.api_groups, "*") || has(&self.api_groups, &a.group);
        let combined = a.combined_resource();
        let resource = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
        });
        let name = self.resource_names.is_empty() || has(&self.resource_names, &a.name);
        group && resource && name
    }

    /// kube's `ruleCovers`: whether this rule grants everything `sub` grants.
    fn covers(&self, sub: &Rule) -> bool {
        let verbs = has(&self.verbs, "*") || has_all(&self.verbs, &sub.verbs);
        let groups = has(&self.api_groups, "*") || has_all(&self.api_groups, &sub.api_groups);
        let resources = has(&self.resources, "*")
            || sub.resources.iter().all(|path| {
                has(&self.resources, path)
                    || path
                        .split_once('/')
                        .is_some_and(|(_, sub)| has(&self.resources, &format!("*/{sub}")))
            });
        let urls = sub.non_resource_urls.iter().all(|u| {
            self.non_resource_urls
                .iter()
                .any(|o| o == u || o.strip_suffix('*').is_some_and(|p| u.starts_with(p)))
        });
        let names = self.resource_names.is_empty()
            || (!sub.resource_names.is_empty()
                && has_all(&self.resource_names, &sub.resource_names));
        verbs && groups && resources && urls && names
    }

    /// kube's `BreakdownRule`: one rule per verb × group × resource (× name), and per verb ×
    /// non-resource URL.
    fn breakdown(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        let one = |v: &str| vec![v.to_string()];
        for verb in &self.verbs {
            for group in &self.api_groups {
                for resource in &self.resources {
                    if self.resource_names.is_empty() {
                        out.push(Rule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            ..Rule::default()
                        });
                    }
                    for name in &self.resource_names {
                        out.push(Rule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            resource_names: one(name),
                            ..Rule::default()
                        });
                    }
                }
            }
            for url in &self.non_resource_urls {
                out.push(Rule {
                    verbs: one(verb),
                    non_resource_urls: one(url),
                    ..Rule::default()
                });
            }
        }
        out
    }

    /// kube's `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
    pub fn compact(&self) -> String {
        let list = |v: &[String]| {
            let quoted: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", quoted.join(" "))
        };
        let mut parts = Vec::new();
        for (label, values) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("ResourceNames", &self.resource_names),
            ("NonResourceURLs", &self.non_resource_urls),
            ("Verbs", &self.verbs),
        ] {
            if !values.is_empty() {
                parts.push(format!("{label}:{}", list(values)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// The bootstrap ClusterRoles (and their ClusterRoleBindings) a kube-apiserver creates that
/// matter to clients: `cluster-admin` (bound to `system:masters`), `system:discovery`
/// (discovery, OpenAPI, health and version for every authenticated user),
/// `system:basic-user` (self access reviews) and `system:public-info-viewer` (health and
/// version for everyone). As `(plural, object)`.
pub fn bootstrap_policy() -> Vec<(&'static str, Value)> {
    let meta = |name: &str| {
        serde_json::json!({
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        })
    };
    let role = |name: &str, rules: Value| serde_json::json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRole", "metadata": meta(name), "rules": rules});
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| serde_json::json!({"apiGroup": GROUP, "kind": "Group", "name": g}))
            .collect();
        serde_json::json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRoleBinding", "metadata": meta(name),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name}, "subjects": subjects})
    };
    let health = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let discovery: Vec<&str> = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/openapi",
        "/openapi/*",
    ]
    .into_iter()
    .chain(health)
    .collect();
    vec![
        (
            "clusterroles",
            role(
                "cluster-admin",
                serde_json::json!([
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]},
                ]),
            ),
        ),
        ("clusterrolebindings", binding("cluster-admin", &[MASTERS])),
        (
            "clusterroles",
            role(
                "system:discovery",
                serde_json::json!([{"nonResourceURLs": discovery, "verbs": ["get"]}]),
            ),
        ),
        (
            "clusterrolebindings",
            binding("system:discovery", &["system:authenticated"]),
        ),
        (
            "clusterroles",
            role(
                "system:basic-user",
                serde_json::json!([
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                    {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
                ]),
            ),
        ),
        (
            "clusterrolebindings",
            binding("system:basic-user", &["system:authenticated"]),
        ),
        (
            "clusterroles",
            role(
                "system:public-info-viewer",
                serde_json::json!([{"nonResourceURLs": health, "verbs": ["get"]}]),
            ),
        ),
        (
            "clusterrolebindings",
            binding(
                "system:public-info-viewer",
                &["system:authenticated", "system:unauthenticated"],
            ),
        ),
    ]
}

fn key(plural: &str) -> (String, String) {
    (GROUP.to_string(), plural.to_string())
}

/// The rules of a role: its own `rules`, plus, for a ClusterRole with an `aggregationRule`,
/// the rules of every ClusterRole its selectors match (as the aggregation controller writes
/// them into it; nested aggregation followed, cycles cut).
fn role_rules(store: &Store, role: &Value, seen: &mut Vec<String>) -> Vec<Rule> {
    let mut rules: Vec<Rule> = role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Rule::from_json)
        .collect();
    let selectors = role["aggregationRule"]["clusterRoleSelectors"].as_array();
    let Some(selectors) = selectors else {
        return rules;
    };
    seen.push(meta::meta_str(role, "name").to_string());
    let matched: Vec<&Value> = store
        .list(&key("clusterroles"), Some(""))
        .filter(|other| !seen.iter().any(|s| s == meta::meta_str(other, "name")))
        .filter(|other| selectors.iter().any(|s| selector_matches(s, other)))
        .collect();
    for other in matched {
        rules.extend(role_rules(store, other, seen));
    }
    rules
}

/// Whether a binding's subject is `identity`; ServiceAccount subjects default to the
/// binding's namespace.
fn subject_matches(subject: &Value, binding_ns: &str, identity: &Identity) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str().unwrap_or_default() {
        "User" => identity.user == name,
        "Group" => identity.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            identity.user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// The rules `identity` holds in `namespace` (cluster-wide ones only when it is empty), and
/// the resolution errors met on the way (a binding to a missing role), worded as kube's.
pub fn rules_for(store: &Store, identity: &Identity, namespace: &str) -> (Vec<Rule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let bound = |binding: &Value, ns: &str| {
        binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| subject_matches(s, ns, identity))
    };
    let mut add_role = |kind: &str, name: &str, ns: &str| {
        let (plural, role_ns) = match kind {
            "ClusterRole" => ("clusterroles", ""),
            _ => ("roles", ns),
        };
        match store.get(&key(plural), role_ns, name) {
            Some(role) => rules.extend(role_rules(store, role, &mut Vec::new())),
            None => errors.push(format!(
                "{}.{GROUP} {name:?} not found",
                kind.to_lowercase()
            )),
        }
    };
    for binding in store.list(&key("clusterrolebindings"), Some("")) {
        if bound(binding, "") {
            let role = &binding["roleRef"];
            add_role(
                role["kind"].as_str().unwrap_or("ClusterRole"),
                role["name"].as_str().unwrap_or_default(),
                "",
            );
        }
    }
    if !namespace.is_empty() {
        for binding in store.list(&key("rolebindings"), Some(namespace)) {
            if bound(binding, namespace) {
                let role = &binding["roleRef"];
                add_role(
                    role["kind"].as_str().unwrap_or_default(),
                    role["name"].as_str().unwrap_or_default(),
                    namespace,
                );
            }
        }
    }
    (rules, errors)
}

/// Whether `identity` may do `a`: `Ok` when some rule allows it, else the 403 kube-apiserver
/// answers (naming user, verb, resource, group and namespace, plus `RBAC: ...` when a
/// binding pointed at a missing role).
///
/// # Errors
/// The 403 Forbidden.
pub fn allows(store: &Store, identity: &Identity, a: &Attributes) -> ApiResult<()> {
    if identity.is_privileged() {
        return Ok(());
    }
    let (rules, errors) = rules_for(store, identity, &a.namespace);
    if rules.iter().any(|r| r.allows(a)) {
        return Ok(());
    }
    let reason = if errors.is_empty() {
        String::new()
    } else {
        format!("RBAC: [{}]", errors.join(", "))
    };
    Err(a.forbidden(identity, &reason))
}

/// The `status` of an access review (`subjectaccessreviews`, `selfsubjectaccessreviews`,
/// `localsubjectaccessreviews`): whether the subject (`spec.user`/`spec.groups`, or the
/// requester for a self review) may do what `spec.resourceAttributes` or
/// `spec.nonResourceAttributes` describe.
pub fn review(
    store: &Store,
    plural: &str,
    requester: Option<&Identity>,
    body: &serde_json::Map<String, Value>,
) -> Value {
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let subject = match (plural, requester) {
        ("selfsubjectaccessreviews", Some(who)) => who.clone(),
        ("selfsubjectaccessreviews", None) => Identity::anonymous(),
        _ => Identity {
            user: spec["user"].as_str().unwrap_or_default().to_string(),
            groups: strings(&spec["groups"]),
        },
    };
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let attrs = match spec.get("resourceAttributes") {
        Some(r) => Attributes {
            verb: text(r, "verb"),
            resource_request: true,
            group: text(r, "group"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            namespace: text(r, "namespace"),
            name: text(r, "name"),
            path: String::new(),
        },
        None => Attributes {
            verb: text(&spec["nonResourceAttributes"], "verb"),
            path: text(&spec["nonResourceAttributes"], "path"),
            ..Attributes::default()
        },
    };
    match allows(store, &subject, &attrs) {
        Ok(()) => serde_json::json!({"allowed": true, "reason": "allowed by RBAC"}),
        Err(_) => serde_json::json!({"allowed": false}),
    }
}

/// kube's `Covers`: the parts of `servant` that `owner` does not grant (empty: covered).
fn missing_rights(owner: &[Rule], servant: &[Rule]) -> Vec<Rule> {
    servant
        .iter()
        .flat_map(Rule::breakdown)
        .filter(|sub| !owner.iter().any(|o| o.covers(sub)))
        .collect()
}

/// Whether a write of `obj` (a Role, ClusterRole, RoleBinding or ClusterRoleBinding) by
/// `identity` is allowed under kube-apiserver's escalation prevention: a role may only grant
/// what its writer holds (or the writer may `escalate` it); a binding may only bind a role
/// whose rules its writer holds (or the writer may `bind` it).
///
/// # Errors
/// 403 Forbidden listing the missing rules, worded as `ConfirmNoEscalation`'s.
pub fn check_escalation(
    store: &Store,
    identity: &Identity,
    plural: &str,
    namespace: &str,
    obj: &Value,
) -> ApiResult<()> {
    if identity.is_privileged() {
        return Ok(());
    }
    let name = meta::meta_str(obj, "name");
    let may = |verb: &str, resource: &str, object: &str| {
        let a = Attributes {
            verb: verb.into(),
            resource_request: true,
            group: GROUP.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: object.into(),
            ..Attributes::default()
        };
        allows(store, identity, &a).is_ok()
    };
    let granted: Vec<Rule> = match plural {
        "roles" | "clusterroles" => {
            if may("escalate", plural, name) {
                return Ok(());
            }
            role_rules(store, obj, &mut Vec::new())
        }
        "rolebindings" | "clusterrolebindings" => {
            let role = &obj["roleRef"];
            let (kind, role_name) = (
                role["kind"].as_str().unwrap_or_default(),
                role["name"].as_str().unwrap_or_default(),
            );
            let role_plural = if kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if may("bind", role_plural, role_name) {
                return Ok(());
            }
            let role_ns = if kind == "Role" { namespace } else { "" };
            match store.get(&key(role_plural), role_ns, role_name) {
                Some(role) => role_rules(store, role, &mut Vec::new()),
                // kube-apiserver looks the role up only after `bind` was refused: a binding
                // to a role that does not exist yet is 404 for its writer.
                None => return Err(ApiError::not_found(GROUP, role_plural, role_name)),
            }
        }
        _ => return Ok(()),
    };
    let (owner, errors) = rules_for(store, identity, namespace);
    let missing = missing_rights(&owner, &granted);
    if missing.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = missing.iter().map(Rule::compact).collect();
    lines.sort();
    lines.dedup();
    let groups: Vec<String> = identity.groups.iter().map(|g| format!("{g:?}")).collect();
    let mut why = format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        identity.user,
        groups.join(" "),
        lines.join("\n")
    );
    if !errors.is_empty() {
        why.push_str(&format!("; resolution errors: [{}]", errors.join(", ")));
    }
    Err(forbidden_error(GROUP, plural, name, &why))
}

#[cfg(test)]
mod tests;
