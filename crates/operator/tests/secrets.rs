//! Issue 8 §5 end to end: values and secrets stay inside. The debug API (modules, values,
//! queues) is on a Unix socket; the network port serves only `/metrics`, `/healthz` and
//! `/readyz`; no log line and no network endpoint shows a secret.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Cluster, NS, OperatorProcess, eventually, require_jq, write_hook};

/// What every marker contains, so one search finds them all.
const MARK: &str = "LEAKMARK";
const PASSWORD: &str = "cfgpassLEAKMARK0001";
const PASSWORD_EDITED: &str = "cfgpassLEAKMARK0002";
const HOOK_VALUE: &str = "hookvalLEAKMARK0003";
const SECRET_DATA: &str = "secretdataLEAKMARK0004";
const SECRET_DATA_EDITED: &str = "secretdataLEAKMARK0005";
/// A config value the schema rejects (its pattern allows no `-`): the error names the path
/// and the constraint, never the value.
const PASSWORD_INVALID: &str = "bad-pass-LEAKMARK0006";

/// Every path the network port might be asked, debug paths included.
const NETWORK_PATHS: &[&str] = &[
    "/metrics",
    "/healthz",
    "/readyz",
    "/modules",
    "/queues",
    "/values/global",
    "/values/module/vault",
    "/values/module/echo-server",
];

fn base64(text: &str) -> String {
    BASE64.encode(text)
}

/// Module `040-vault`: a Secret rendered from a config value (`password`, schema-checked), a
/// value a hook sets (`token`) and a value a hook copies from a Secret it watches
/// (`upstream`).
fn add_vault_module(c: &Cluster) {
    let dir = c.modules.join("040-vault");
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir");
    std::fs::create_dir_all(dir.join("openapi")).expect("mkdir");
    std::fs::write(
        dir.join("values.yaml"),
        "vaultEnabled: true\nvault:\n  token: none\n  upstream: none\n",
    )
    .expect("values");
    std::fs::write(
        dir.join("openapi/config-values.yaml"),
        "type: object\ndefault: {}\nproperties:\n  password:\n    type: string\n    pattern: \"^[A-Za-z0-9]{10,}$\"\n",
    )
    .expect("schema");
    std::fs::write(
        dir.join("templates/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: vault\nstringData:\n  password: {{quote Values.vault.password}}\n  token: {{quote Values.vault.token}}\n  upstream: {{quote Values.vault.upstream}}\n",
    )
    .expect("template");
    write_hook(
        &dir.join("hooks/token.sh"),
        r#"{"configVersion": "v1", "beforeHelm": 1}"#,
        &format!(
            r#"jq -n '[{{"op":"add","path":"/vault/token","value":"{HOOK_VALUE}"}}]' > "$VALUES_JSON_PATCH_PATH""#
        ),
    );
    write_hook(
        &dir.join("hooks/upstream.sh"),
        r#"{"configVersion": "v1", "kubernetes": [{"name": "upstream", "apiVersion": "v1", "kind": "Secret", "nameSelector": {"matchNames": ["upstream-credentials"]}, "jqFilter": ".data.key"}]}"#,
        r#"encoded=$(jq -r '[.[] | (.objects // [])[].filterResult, .filterResult] | map(select(. != null)) | last // empty' "$BINDING_CONTEXT_PATH")
if [[ -n "$encoded" ]]; then
  value=$(printf '%s' "$encoded" | base64 -d)
  jq -n --arg v "$value" '[{"op":"add","path":"/vault/upstream","value":$v}]' > "$VALUES_JSON_PATCH_PATH"
fi"#,
    );
}

/// The rendered Secret's key, decoded.
fn vault_key(c: &Cluster, key: &str) -> Option<String> {
    let encoded = c.jsonpath("secret", "vault", &format!("{{.data.{key}}}"))?;
    let bytes = BASE64.decode(encoded).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn set_upstream(c: &Cluster, data: &str) {
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "upstream-credentials", "namespace": NS},
        "data": {"key": base64(data)},
    });
    let file = c.dir.path().join("upstream.json");
    std::fs::write(&file, secret.to_string()).expect("secret file");
    c.kubectl(&["apply", "-f", file.to_str().expect("utf-8")]);
}

/// Fails naming every place a marker (or its base64) shows up in `text`.
fn assert_no_marker(text: &str, what: &str) {
    let encoded: Vec<String> = [
        PASSWORD,
        PASSWORD_EDITED,
        HOOK_VALUE,
        SECRET_DATA,
        SECRET_DATA_EDITED,
        PASSWORD_INVALID,
    ]
    .iter()
    .map(|m| base64(m))
    .collect();
    let leaks: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(MARK) || encoded.iter().any(|e| line.contains(e.as_str())))
        .collect();
    assert!(
        leaks.is_empty(),
        "{what} shows a secret in {} line(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// The vault hook's run lines carry its `hook` span (`hook`, `binding`, `queue`, `run_id`):
/// the spans are in the log the markers are searched in, and JSON shows their fields.
fn assert_hook_lines_carry_their_span(logs: &str, log_type: &str) {
    let spanned = logs
        .lines()
        .filter(|line| line.contains("hook run succeeded"));
    let carried = if log_type == "json" {
        spanned
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| {
                line["spans"].as_array().into_iter().flatten().any(|span| {
                    span["name"] == "hook"
                        && span["hook"]
                            .as_str()
                            .is_some_and(|h| h.ends_with("token.sh"))
                        && span["binding"] == "beforeHelm"
                        && span["queue"].is_string()
                        && span["run_id"].is_u64()
                })
            })
            .count()
    } else {
        spanned
            .filter(|line| {
                line.contains("hook{hook=")
                    && line.contains("token.sh binding=beforeHelm queue=")
                    && line.contains(" run_id=")
            })
            .count()
    };
    assert!(
        carried > 0,
        "no {log_type} line of the token.sh run carries its span:\n{logs}"
    );
}

fn assert_network_port_shows_nothing(op: &OperatorProcess) {
    for path in NETWORK_PATHS {
        let (_, body) = op.get(path);
        assert_no_marker(&body, &format!("GET {path} on the network port"));
    }
}

/// Runs the operator with `log_type` at the default log level through a module's whole life:
/// start, a config edit, an edit of the watched Secret, drift; returns its log.
async fn run_through_the_module_life(c: &Cluster, log_type: &str) -> String {
    let mut op = c.operator_with_env(&[], &[("LOG_LEVEL", "info"), ("LOG_TYPE", log_type)]);
    op.wait_converged().await;
    eventually("the three secrets reach the rendered Secret", || {
        vault_key(c, "password").as_deref() == Some(PASSWORD)
            && vault_key(c, "token").as_deref() == Some(HOOK_VALUE)
            && vault_key(c, "upstream").as_deref() == Some(SECRET_DATA)
    })
    .await;
    c.set_config(&[("vault", &format!("password: {PASSWORD_EDITED}\n"))]);
    set_upstream(c, SECRET_DATA_EDITED);
    eventually("the edits reach the rendered Secret", || {
        vault_key(c, "password").as_deref() == Some(PASSWORD_EDITED)
            && vault_key(c, "upstream").as_deref() == Some(SECRET_DATA_EDITED)
    })
    .await;
    c.set_config(&[("vault", &format!("password: {PASSWORD_INVALID}\n"))]);
    eventually("the invalid password is rejected", || {
        op.metrics()
            .contains("addon_operator_config_values_errors_total 1")
    })
    .await;
    assert!(
        op.logs().contains("/password"),
        "the rejection names the path:\n{}",
        op.logs()
    );
    assert_eq!(
        vault_key(c, "password").as_deref(),
        Some(PASSWORD_EDITED),
        "the last good value stays"
    );
    c.kubectl(&["delete", "secret", "vault", "-n", NS]);
    eventually("drift is repaired", || c.exists("secret", "vault", NS)).await;
    let values = op.client(&["module", "values", "vault", "-o", "json"]);
    assert!(
        String::from_utf8_lossy(&values.stdout).contains(PASSWORD_EDITED),
        "the debug socket serves the values (the markers really are values)"
    );
    assert_network_port_shows_nothing(&op);
    assert_eq!(op.terminate(), Some(0), "{}", op.logs());
    // Back to the first values for the next run.
    c.set_config(&[("vault", &format!("password: {PASSWORD}\n"))]);
    set_upstream(c, SECRET_DATA);
    op.logs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_and_no_network_endpoint_shows_a_secret() {
    require_jq();
    let c = Cluster::start("modules").await;
    add_vault_module(&c);
    set_upstream(&c, SECRET_DATA);
    c.set_config(&[("vault", &format!("password: {PASSWORD}\n"))]);
    for log_type in ["text", "json"] {
        let logs = run_through_the_module_life(&c, log_type).await;
        assert!(logs.contains("module converged"), "{logs}");
        assert_hook_lines_carry_their_span(&logs, log_type);
        assert_no_marker(&logs, &format!("the {log_type} log"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_port_answers_404_for_every_debug_path() {
    let c = Cluster::start("modules").await;
    let mut op = c.operator(&[]);
    op.wait_converged().await;
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(op.get(path).0, 200, "{path}");
    }
    for path in [
        "/modules",
        "/queues",
        "/values/global",
        "/values/module/echo-server",
    ] {
        assert_eq!(op.get(path).0, 404, "{path} must not be on the network");
    }
    let socket_mode = std::fs::metadata(&op.socket)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("the debug socket exists");
    assert_eq!(socket_mode, 0o600, "only the operator's user may use it");
}
