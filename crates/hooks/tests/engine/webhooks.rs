//! Webhook bindings through real hooks: AdmissionReview and ConversionReview in, the review's
//! response out, with failure policies, per-binding queues and conversion chains.

use crate::common::*;
use hooks::{AdmissionKind, HookSet, Webhooks};
use serde_json::{Value, json};
use std::sync::Arc;

fn review(uid: &str, image: &str) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "operation": "CREATE", "name": "web", "namespace": "default",
        "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}}})
}

fn admission_config(kind: &str, name: &str, extra: &str) -> String {
    format!(
        "configVersion: v1\n{kind}:\n- name: {name}\n{extra}  rules:\n  - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}}\n"
    )
}

async fn webhooks(env: &Env) -> Webhooks {
    Webhooks::new(Arc::new(env.loaded_engine().await))
}

#[tokio::test]
async fn a_validating_hook_denies_with_its_message_and_allows_with_warnings() {
    let env = env().await;
    write_hook(
        &env.hooks_dir(),
        "policy.sh",
        &admission_config("kubernetesValidating", "image.policy.example.com", ""),
        r#"image=$(jq -r '.[0].review.request.object.spec.template.spec.containers[0].image' "$BINDING_CONTEXT_PATH")
type=$(jq -r '.[0].type' "$BINDING_CONTEXT_PATH")
if [[ "$type" != Validating ]]; then exit 1; fi
if [[ "$image" == *:latest ]]; then
  echo '{"allowed": false, "message": "images must not use :latest"}' > "$VALIDATING_RESPONSE_PATH"
else
  echo '{"allowed": true, "warnings": ["checked"]}' > "$ADMISSION_RESPONSE_PATH"
fi"#,
    );
    let w = webhooks(&env).await;
    let denied = w
        .admit(
            AdmissionKind::Validating,
            "image.policy.example.com",
            review("u1", "nginx:latest"),
        )
        .await
        .unwrap();
    assert_eq!(
        denied["response"],
        json!({"uid": "u1", "allowed": false, "status": {"code": 403, "message": "images must not use :latest"}})
    );
    let allowed = w
        .admit(
            AdmissionKind::Validating,
            "image.policy.example.com",
            review("u2", "nginx:1.27"),
        )
        .await
        .unwrap();
    assert_eq!(
        allowed["response"],
        json!({"uid": "u2", "allowed": true, "warnings": ["checked"]})
    );
    assert!(
        w.admit(
            AdmissionKind::Mutating,
            "image.policy.example.com",
            review("u3", "x")
        )
        .await
        .is_none(),
        "a mutating request does not reach a validating binding"
    );
}

#[tokio::test]
async fn a_mutating_hook_answers_with_a_json_patch() {
    let env = env().await;
    write_hook(
        &env.hooks_dir(),
        "label.sh",
        &admission_config("kubernetesMutating", "default.label.example.com", ""),
        r#"patch=$(echo '[{"op":"add","path":"/metadata/labels","value":{"team":"none"}}]' | base64 -w0)
echo "{\"allowed\": true, \"patch\": \"$patch\"}" > "$VALIDATING_RESPONSE_PATH""#,
    );
    let w = webhooks(&env).await;
    let r = w
        .admit(
            AdmissionKind::Mutating,
            "default.label.example.com",
            review("m1", "x:1"),
        )
        .await
        .unwrap();
    assert_eq!(r["response"]["patchType"], "JSONPatch");
    let patch = r["response"]["patch"].as_str().unwrap();
    let decoded = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, patch).unwrap(),
    )
    .unwrap();
    assert!(decoded.contains("\"team\""), "{decoded}");
}

/// A crashing hook, a hook past its timeout and a hook writing nothing, under both policies.
#[tokio::test]
async fn hooks_without_an_answer_are_answered_by_the_failure_policy() {
    let env = env().await;
    let cases = [
        ("crash.fail.example.com", "Fail", "exit 3"),
        ("crash.ignore.example.com", "Ignore", "exit 3"),
        ("slow.fail.example.com", "Fail", "sleep 30"),
        ("slow.ignore.example.com", "Ignore", "sleep 30"),
        ("silent.fail.example.com", "Fail", "true"),
    ];
    for (name, policy, body) in cases {
        write_hook(
            &env.hooks_dir(),
            &format!("{name}.sh"),
            &admission_config(
                "kubernetesValidating",
                name,
                &format!("  failurePolicy: {policy}\n  timeoutSeconds: 1\n"),
            ),
            body,
        );
    }
    let w = webhooks(&env).await;
    for (name, policy, _) in cases {
        let r = w
            .admit(AdmissionKind::Validating, name, review(name, "x:1"))
            .await
            .unwrap();
        let r = &r["response"];
        assert_eq!(r["uid"], name);
        match policy {
            "Fail" => {
                assert_eq!(r["allowed"], false, "{name}: {r}");
                assert_eq!(r["status"]["code"], 500, "{name}: {r}");
                assert!(
                    r["status"]["message"].as_str().unwrap().contains(name),
                    "{r}"
                );
            }
            _ => {
                assert_eq!(r["allowed"], true, "{name}: {r}");
                assert!(
                    r["warnings"][0]
                        .as_str()
                        .unwrap()
                        .contains("failurePolicy Ignore"),
                    "{r}"
                );
            }
        }
    }
}

/// One binding's hook blocks until the test releases it; another binding still answers.
#[tokio::test]
async fn a_slow_hook_on_one_binding_does_not_delay_another() {
    let env = env().await;
    let gate = env.out().join("gate");
    write_hook(
        &env.hooks_dir(),
        "slow.sh",
        &admission_config(
            "kubernetesValidating",
            "slow.example.example.com",
            "  timeoutSeconds: 30\n",
        ),
        &format!(
            "while [[ ! -e {} ]]; do sleep 0.05; done\necho '{{\"allowed\": true}}' > \"$VALIDATING_RESPONSE_PATH\"",
            gate.display()
        ),
    );
    write_hook(
        &env.hooks_dir(),
        "quick.sh",
        &admission_config("kubernetesValidating", "quick.example.example.com", ""),
        r#"echo '{"allowed": true}' > "$VALIDATING_RESPONSE_PATH""#,
    );
    let w = Arc::new(webhooks(&env).await);
    let slow = {
        let w = w.clone();
        tokio::spawn(async move {
            w.admit(
                AdmissionKind::Validating,
                "slow.example.example.com",
                review("s", "x:1"),
            )
            .await
        })
    };
    let quick = w
        .admit(
            AdmissionKind::Validating,
            "quick.example.example.com",
            review("q", "x:1"),
        )
        .await
        .unwrap();
    assert_eq!(quick["response"]["allowed"], true);
    assert!(
        !slow.is_finished(),
        "the slow hook is still held at its gate"
    );
    std::fs::write(&gate, "").unwrap();
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow["response"]["allowed"], true);
}

#[tokio::test]
async fn conversion_runs_the_chain_of_hooks_to_the_desired_version() {
    let env = env().await;
    for (file, from, to) in [
        (
            "a.sh",
            "stable.example.com/v1alpha1",
            "stable.example.com/v1alpha2",
        ),
        ("b.sh", "v1alpha2", "v1"),
    ] {
        write_hook(
            &env.hooks_dir(),
            file,
            &format!(
                "configVersion: v1\nkubernetesCustomResourceConversion:\n- name: {file}\n  crdName: crontabs.stable.example.com\n  conversions: [{{fromVersion: {from}, toVersion: {to}}}]\n"
            ),
            r#"jq '{convertedObjects: [.[0] as $c | $c.review.request.objects[] |
  if (.apiVersion | endswith($c.fromVersion | split("/") | last)) then
    .apiVersion = "stable.example.com/" + ($c.toVersion | split("/") | last) | .spec.steps += [$c.binding]
  else . end]}' "$BINDING_CONTEXT_PATH" > "$CONVERSION_RESPONSE_PATH""#,
        );
    }
    let w = webhooks(&env).await;
    let request = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "request": {
        "uid": "c1", "desiredAPIVersion": "stable.example.com/v1",
        "objects": [{"apiVersion": "stable.example.com/v1alpha1", "kind": "CronTab", "metadata": {"name": "a"}, "spec": {"steps": []}}]}});
    let r = w
        .convert("crontabs.stable.example.com", request)
        .await
        .unwrap();
    assert_eq!(r["response"]["result"]["status"], "Success", "{r}");
    assert_eq!(r["response"]["uid"], "c1");
    let obj = &r["response"]["convertedObjects"][0];
    assert_eq!(obj["apiVersion"], "stable.example.com/v1");
    assert_eq!(obj["spec"]["steps"], json!(["a.sh", "b.sh"]));
    assert!(w.convert("other.example.com", json!({})).await.is_none());
    let served = w.conversion_bindings(&[HookSet::Global]);
    assert_eq!(served.len(), 2);
}
