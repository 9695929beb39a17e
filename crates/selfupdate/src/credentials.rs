//! Registry credentials from a `kubernetes.io/dockerconfigjson` Secret (or a Docker
//! `config.json`): the entry for one registry host, as basic or bearer auth.

use base64::Engine;
use serde_json::Value;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// No credentials: anonymous access (an anonymous bearer token where the registry asks).
    #[default]
    Anonymous,
    /// Username and password: HTTP basic, or exchanged for a bearer token when the registry
    /// points to a token server.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// A registry token (`registrytoken` in the config), sent as `Authorization: Bearer`.
    Bearer(String),
}

/// Why a Docker config document cannot give credentials. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The bytes are not JSON.
    #[error("the docker config is not a JSON document")]
    NotJson,
    /// The document has no `auths` object.
    #[error("the docker config has no \"auths\" map")]
    NoAuths,
    /// `auths[<registry>].auth` does not decode to `user:password`.
    #[error("auths[{0}].auth is not base64 of user:password")]
    BadAuth(String),
}

impl std::fmt::Debug for Credentials {
    /// Never prints the secret parts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    /// The entry of a Docker config document (`{"auths": {...}}`) for `registry` (host and
    /// port). Keys may be bare hosts or URLs (`https://host/v1/`); Docker Hub's aliases are
    /// recognised. No entry: anonymous.
    ///
    /// # Errors
    /// The document or the entry is malformed; the error names the part, never a value.
    pub fn from_docker_config(
        config: &[u8],
        registry: &str,
    ) -> Result<Credentials, CredentialsError> {
        let doc: Value = serde_json::from_slice(config).map_err(|_| CredentialsError::NotJson)?;
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            return Err(CredentialsError::NoAuths);
        };
        let wanted = normalize_host(registry);
        let Some((_, entry)) = auths.iter().find(|(key, _)| normalize_host(key) == wanted) else {
            return Ok(Credentials::Anonymous);
        };
        if let Some(token) = entry.get("registrytoken").and_then(Value::as_str) {
            return Ok(Credentials::Bearer(token.to_string()));
        }
        let field = |name: &str| entry.get(name).and_then(Value::as_str).map(String::from);
        if let (Some(username), Some(password)) = (field("username"), field("password")) {
            return Ok(Credentials::Basic { username, password });
        }
        let Some(auth) = field("auth") else {
            return Ok(Credentials::Anonymous);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| CredentialsError::BadAuth(registry.to_string()))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| CredentialsError::BadAuth(registry.to_string()))?;
        Ok(Credentials::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    pub(crate) fn to_oci(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// `https://index.docker.io/v1/` → `docker.io`, `http://host:5000/` → `host:5000`.
fn normalize_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(auths: Value) -> Vec<u8> {
        json!({ "auths": auths }).to_string().into_bytes()
    }

    #[test]
    fn the_entry_of_the_registry_host_is_used_in_any_of_its_forms() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        let doc = config(json!({
            "http://127.0.0.1:5000/": {"auth": b64},
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
            "tokens.example.com": {"registrytoken": "tok"},
        }));
        assert_eq!(
            Credentials::from_docker_config(&doc, "127.0.0.1:5000").unwrap(),
            Credentials::Basic {
                username: "ci".into(),
                password: "s3cret".into()
            }
        );
        assert_eq!(
            Credentials::from_docker_config(&doc, "docker.io").unwrap(),
            Credentials::Basic {
                username: "hub".into(),
                password: "pw".into()
            }
        );
        assert_eq!(
            Credentials::from_docker_config(&doc, "tokens.example.com").unwrap(),
            Credentials::Bearer("tok".into())
        );
        assert_eq!(
            Credentials::from_docker_config(&doc, "other.example.com").unwrap(),
            Credentials::Anonymous
        );
    }

    #[test]
    fn malformed_entries_are_named_and_secrets_never_printed() {
        let doc = config(json!({"r.example.com": {"auth": "not-base64-of-a-pair!"}}));
        let err = Credentials::from_docker_config(&doc, "r.example.com").unwrap_err();
        assert!(
            err.to_string().contains("auths[r.example.com].auth"),
            "{err}"
        );
        assert_eq!(
            Credentials::from_docker_config(b"{}", "x"),
            Err(CredentialsError::NoAuths)
        );
        assert_eq!(
            Credentials::from_docker_config(b"not json", "x"),
            Err(CredentialsError::NotJson)
        );
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{basic:?}").contains("hunter2"));
    }
}
