use super::*;
use serde_json::json;

fn store_with(objects: &[(&str, Value)]) -> Store {
    let mut store = Store::new(100);
    for (plural, obj) in objects {
        store.put(&key(plural), obj.clone());
    }
    store
}

fn sa() -> Identity {
    Identity::service_account("ops", "op")
}

fn request(verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        resource_request: true,
        group: group.into(),
        resource: resource.into(),
        namespace: ns.into(),
        name: name.into(),
        ..Attributes::default()
    }
}

fn cluster_role(name: &str, rules: Value) -> (&'static str, Value) {
    (
        "clusterroles",
        json!({"metadata": {"name": name}, "rules": rules}),
    )
}

fn cluster_binding(role: &str) -> (&'static str, Value) {
    (
        "clusterrolebindings",
        json!({"metadata": {"name": role}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]}),
    )
}

#[test]
fn rules_should_match_verbs_groups_resources_subresources_and_names() {
    let rule = Rule::from_json(
        &json!({"apiGroups": ["apps"], "resources": ["deployments", "*/scale"],
        "resourceNames": ["web"], "verbs": ["get", "patch"]}),
    );
    assert!(rule.allows(&request("get", "apps", "deployments", "x", "web")));
    assert!(!rule.allows(&request("get", "apps", "deployments", "x", "api")));
    assert!(!rule.allows(&request("list", "apps", "deployments", "x", "")));
    assert!(!rule.allows(&request("get", "", "deployments", "x", "web")));
    let mut scale = request("patch", "apps", "statefulsets", "x", "web");
    scale.subresource = "scale".into();
    assert!(rule.allows(&scale));
    let urls = Rule::from_json(&json!({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}));
    let path = Attributes {
        verb: "get".into(),
        path: "/apis/apps/v1".into(),
        ..Attributes::default()
    };
    assert!(urls.allows(&path));
}

#[test]
fn a_service_account_should_hold_exactly_what_its_bindings_grant() {
    let store = store_with(&[
        cluster_role(
            "reader",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
        ),
        cluster_binding("reader"),
        (
            "roles",
            json!({"metadata": {"name": "writer", "namespace": "ops"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]}),
        ),
        (
            "rolebindings",
            json!({"metadata": {"name": "writer", "namespace": "ops"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "writer"},
                "subjects": [{"kind": "ServiceAccount", "name": "op"}]}),
        ),
    ]);
    let ok = |a: Attributes| allows(&store, &sa(), &a).is_ok();
    assert!(ok(request("list", "", "configmaps", "", "")));
    assert!(ok(request("create", "", "secrets", "ops", "")));
    assert!(
        !ok(request("create", "", "secrets", "other", "")),
        "a RoleBinding grants only in its namespace"
    );
    assert!(!ok(request("delete", "", "configmaps", "ops", "x")));
    let other = Identity::service_account("ops", "someone-else");
    assert!(allows(&store, &other, &request("list", "", "configmaps", "", "")).is_err());
    assert!(
        allows(
            &store,
            &Identity::unsecured(),
            &request("delete", "", "nodes", "", "n")
        )
        .is_ok()
    );
}

#[test]
fn denials_should_be_worded_like_kube_apiserver() {
    let store = store_with(&[]);
    let err = allows(
        &store,
        &sa(),
        &request("patch", "apps", "deployments", "ops", "web"),
    )
    .unwrap_err();
    assert_eq!(err.code(), 403);
    assert_eq!(err.reason(), "Forbidden");
    assert_eq!(
        err.message,
        r#"deployments.apps "web" is forbidden: User "system:serviceaccount:ops:op" cannot patch resource "deployments" in API group "apps" in the namespace "ops""#
    );
    let err = allows(&store, &sa(), &request("list", "", "nodes", "", "")).unwrap_err();
    assert_eq!(
        err.message,
        r#"nodes is forbidden: User "system:serviceaccount:ops:op" cannot list resource "nodes" in API group "" at the cluster scope"#
    );
    let status = err.to_status();
    assert_eq!(status["details"]["kind"], "nodes");
    let dangling = store_with(&[cluster_binding("missing")]);
    let err = allows(&dangling, &sa(), &request("get", "", "pods", "ops", "p")).unwrap_err();
    assert!(
        err.message
            .ends_with(r#": RBAC: [clusterrole.rbac.authorization.k8s.io "missing" not found]"#),
        "{}",
        err.message
    );
}

#[test]
fn an_aggregated_cluster_role_should_hold_the_rules_of_the_roles_it_selects() {
    let store = store_with(&[
        (
            "clusterroles",
            json!({"metadata": {"name": "monitoring"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-monitoring": "true"}}]}, "rules": []}),
        ),
        (
            "clusterroles",
            json!({"metadata": {"name": "pods-reader", "labels": {"aggregate-to-monitoring": "true"}},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
        ),
        cluster_role(
            "unselected",
            json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]),
        ),
        cluster_binding("monitoring"),
    ]);
    assert!(allows(&store, &sa(), &request("list", "", "pods", "", "")).is_ok());
    assert!(allows(&store, &sa(), &request("list", "", "nodes", "", "")).is_err());
}

#[test]
fn a_role_may_grant_only_what_its_writer_holds() {
    let store = store_with(&[
        cluster_role(
            "operator",
            json!([
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "clusterrolebindings"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            ]),
        ),
        cluster_binding("operator"),
    ]);
    let held = json!({"metadata": {"name": "a"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]});
    assert!(check_escalation(&store, &sa(), "clusterroles", "", &held).is_ok());
    let more = json!({"metadata": {"name": "b"}, "rules": [{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["list", "watch"]}]});
    let err = check_escalation(&store, &sa(), "clusterroles", "", &more).unwrap_err();
    assert_eq!(err.code(), 403);
    assert!(
        err.message.starts_with(
            r#"clusterroles.rbac.authorization.k8s.io "b" is forbidden: user "system:serviceaccount:ops:op" (groups=["system:serviceaccounts" "system:serviceaccounts:ops" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#
        ),
        "{}",
        err.message
    );
    for missing in [
        r#"{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}"#,
        r#"{APIGroups:[""], Resources:["nodes"], Verbs:["watch"]}"#,
        r#"{APIGroups:[""], Resources:["pods"], Verbs:["watch"]}"#,
    ] {
        assert!(
            err.message.contains(missing),
            "{missing} in {}",
            err.message
        );
    }
    let binding = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cluster-admin-like"}, "subjects": []});
    let err = check_escalation(&store, &sa(), "clusterrolebindings", "", &binding).unwrap_err();
    assert_eq!(err.code(), 404);
    assert_eq!(
        err.message,
        r#"clusterroles.rbac.authorization.k8s.io "cluster-admin-like" not found"#
    );
}

#[test]
fn escalate_and_bind_should_lift_the_escalation_check() {
    let store = store_with(&[
        cluster_role(
            "admin-ish",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role(
            "granter",
            json!([
                {"apiGroups": [GROUP], "resources": ["clusterroles"], "verbs": ["escalate"], "resourceNames": ["b"]},
                {"apiGroups": [GROUP], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["admin-ish"]},
            ]),
        ),
        cluster_binding("granter"),
    ]);
    let more = json!({"metadata": {"name": "b"}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]});
    assert!(check_escalation(&store, &sa(), "clusterroles", "", &more).is_ok());
    let other = json!({"metadata": {"name": "c"}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]});
    assert!(check_escalation(&store, &sa(), "clusterroles", "", &other).is_err());
    let binding = json!({"metadata": {"name": "x"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "admin-ish"}, "subjects": []});
    assert!(check_escalation(&store, &sa(), "clusterrolebindings", "", &binding).is_ok());
}
