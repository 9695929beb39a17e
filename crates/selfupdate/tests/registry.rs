//! The registry side against a real registry (Debian's `docker-registry`), plus a small fake
//! registry for answers a real one never gives (corrupt, oversized, refused HEAD).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use selfupdate::testing::{Pusher, TestAuth, TestRegistry, sha256};
use selfupdate::{Credentials, FailureKind, Registry, RegistryOptions};
use semver::Version;

/// The user the auth tests' registries accept.
fn ci() -> Credentials {
    Credentials::Basic {
        username: "ci".into(),
        password: "s3cret".into(),
    }
}

fn registry(credentials: Credentials) -> Registry {
    Registry::new(RegistryOptions {
        insecure: true,
        credentials,
        timeout: None,
    })
    .expect("client")
}

#[tokio::test]
async fn a_tag_move_changes_the_resolved_digest_and_the_version_label_is_read() {
    let reg = TestRegistry::start();
    let repo = reg.repository("addon-operator");
    let pusher = Pusher::new(&Credentials::Anonymous);
    let first = pusher
        .push_image(&repo, Some("stable"), Some("1.0.0"))
        .await;
    let client = registry(Credentials::Anonymous);
    assert_eq!(client.resolve(&repo, "stable").await.unwrap(), first);
    let second = pusher.push_image(&repo, None, Some("v1.1.0")).await;
    assert_ne!(first, second);
    pusher.tag(&repo, &second, "stable").await;
    assert_eq!(client.resolve(&repo, "stable").await.unwrap(), second);
    assert_eq!(
        client.version(&repo, &second).await.unwrap(),
        Some(Version::new(1, 1, 0))
    );
    let unlabelled = pusher.push_image(&repo, Some("alpha"), None).await;
    assert_eq!(client.version(&repo, &unlabelled).await.unwrap(), None);
}

#[tokio::test]
async fn an_index_resolves_to_its_own_digest_and_its_version_comes_from_a_platform_image() {
    let reg = TestRegistry::start();
    let repo = reg.repository("addon-operator");
    let pusher = Pusher::new(&Credentials::Anonymous);
    let index = pusher.push_index(&repo, "stable", Some("2.0.0")).await;
    let client = registry(Credentials::Anonymous);
    assert_eq!(client.resolve(&repo, "stable").await.unwrap(), index);
    let manifest = client.manifest(&repo, &index).await.unwrap();
    assert_eq!(
        manifest.media_type,
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        client.version(&repo, &index).await.unwrap(),
        Some(Version::new(2, 0, 0))
    );
}

#[tokio::test]
async fn unknown_tags_and_a_stopped_registry_are_told_apart() {
    let mut reg = TestRegistry::start();
    let repo = reg.repository("addon-operator");
    let client = registry(Credentials::Anonymous);
    let err = client.resolve(&repo, "rock-solid").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{repo}:rock-solid: not found")),
        "{err}"
    );
    reg.stop();
    let err = client.resolve(&repo, "stable").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Unreachable, "{err}");
}

#[tokio::test]
async fn basic_auth_credentials_are_required_and_used() {
    let reg = TestRegistry::start_with(TestAuth::Basic {
        username: "ci".into(),
        password: "s3cret".into(),
    });
    let repo = reg.repository("addon-operator");
    let good = ci();
    let digest = Pusher::new(&good)
        .push_image(&repo, Some("stable"), Some("1.0.0"))
        .await;
    assert_eq!(
        registry(good.clone())
            .resolve(&repo, "stable")
            .await
            .unwrap(),
        digest
    );
    assert_eq!(
        registry(good).version(&repo, &digest).await.unwrap(),
        Some(Version::new(1, 0, 0))
    );
    for wrong in [
        Credentials::Anonymous,
        Credentials::Basic {
            username: "ci".into(),
            password: "wrong".into(),
        },
    ] {
        let err = registry(wrong).resolve(&repo, "stable").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Unauthorized, "{err}");
        assert!(!err.to_string().contains("s3cret"));
    }
}

#[tokio::test]
async fn promote_points_one_tag_at_the_digest_of_another() {
    let reg = TestRegistry::start();
    let repo = reg.repository("addon-operator");
    let pusher = Pusher::new(&Credentials::Anonymous);
    let beta = pusher.push_index(&repo, "beta", Some("1.2.0")).await;
    pusher
        .push_image(&repo, Some("stable"), Some("1.1.0"))
        .await;
    let client = registry(Credentials::Anonymous);
    assert_eq!(client.promote(&repo, "beta", "stable").await.unwrap(), beta);
    assert_eq!(client.resolve(&repo, "stable").await.unwrap(), beta);
}

/// A fake registry: one repository `op`, answers set per test, requests counted.
mod fake {
    use super::*;
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::response::{IntoResponse, Response};

    #[derive(Clone, Default)]
    pub struct Answers {
        /// Status of `HEAD` on a tag (200 sends the digest header).
        pub head_status: u16,
        /// The manifest body served by `GET` (for the tag and any digest).
        pub body: Vec<u8>,
        /// The digest header sent with it.
        pub digest: String,
        pub requests: Arc<AtomicUsize>,
    }

    async fn manifest(
        State(a): State<Answers>,
        method: Method,
        Path(_reference): Path<String>,
    ) -> Response {
        a.requests.fetch_add(1, Ordering::SeqCst);
        let mut headers = HeaderMap::new();
        headers.insert("Docker-Content-Digest", a.digest.parse().unwrap());
        headers.insert(
            "Content-Type",
            "application/vnd.oci.image.manifest.v1+json"
                .parse()
                .unwrap(),
        );
        if method == Method::HEAD {
            let status = StatusCode::from_u16(a.head_status).unwrap();
            if status != StatusCode::OK {
                return status.into_response();
            }
            headers.insert("Content-Length", a.body.len().to_string().parse().unwrap());
            return (status, headers).into_response();
        }
        (StatusCode::OK, headers, a.body.clone()).into_response()
    }

    /// Serves `answers` on 127.0.0.1; returns `host:port`.
    pub async fn serve(answers: Answers) -> String {
        let requests = answers.requests.clone();
        let app = Router::new()
            .route(
                "/v2/",
                axum::routing::get(move || {
                    requests.fetch_add(1, Ordering::SeqCst);
                    async { "{}" }
                }),
            )
            .route(
                "/v2/op/manifests/{reference}",
                axum::routing::get(manifest).head(manifest),
            )
            .with_state(answers);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr.to_string()
    }
}

fn manifest_json() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#.to_vec()
}

#[tokio::test]
async fn a_quiet_poll_costs_one_head_and_a_refused_head_falls_back_to_get() {
    let body = manifest_json();
    let answers = fake::Answers {
        head_status: 200,
        digest: sha256(&body),
        body,
        ..Default::default()
    };
    let host = fake::serve(answers.clone()).await;
    let client = registry(Credentials::Anonymous);
    let repo = format!("{host}/op");
    assert_eq!(
        client.resolve(&repo, "stable").await.unwrap(),
        answers.digest
    );
    assert_eq!(answers.requests.load(Ordering::SeqCst), 1, "one HEAD");

    let refusing = fake::Answers {
        head_status: 405,
        requests: Arc::default(),
        ..answers.clone()
    };
    let host = fake::serve(refusing.clone()).await;
    let digest = client
        .resolve(&format!("{host}/op"), "stable")
        .await
        .unwrap();
    assert_eq!(digest, answers.digest);
    assert!(
        refusing.requests.load(Ordering::SeqCst) >= 2,
        "HEAD, then GET"
    );
}

#[tokio::test]
async fn corrupt_malformed_and_oversized_manifests_are_refused() {
    let client = registry(Credentials::Anonymous);
    let good = manifest_json();
    let cases = [
        (
            "bytes that do not hash to the digest",
            fake::Answers {
                head_status: 200,
                digest: sha256(b"something else"),
                body: good.clone(),
                ..Default::default()
            },
            FailureKind::DigestMismatch,
        ),
        (
            "bytes that are not a manifest",
            fake::Answers {
                head_status: 200,
                digest: sha256(b"not json"),
                body: b"not json".to_vec(),
                ..Default::default()
            },
            FailureKind::Malformed,
        ),
        {
            let mut big = good.clone();
            big.pop();
            big.extend(format!(",\"pad\":\"{}\"}}", "x".repeat(5 << 20)).bytes());
            (
                "a manifest over 4 MiB",
                fake::Answers {
                    head_status: 200,
                    digest: sha256(&big),
                    body: big,
                    ..Default::default()
                },
                FailureKind::TooLarge,
            )
        },
    ];
    for (what, answers, kind) in cases {
        let host = fake::serve(answers.clone()).await;
        let repo = format!("{host}/op");
        let err = client.manifest(&repo, &answers.digest).await.unwrap_err();
        assert_eq!(err.kind, kind, "{what}: {err}");
        if kind == FailureKind::TooLarge {
            let err = client.resolve(&repo, "stable").await.unwrap_err();
            assert_eq!(err.kind, kind, "{what}, from the HEAD's length: {err}");
        }
    }
}

/// A token server for the registry's `auth.token` mode: a self-signed P-256 certificate made
/// with `openssl`, ES256 tokens signed with `ring` carrying the certificate in `x5c`, handed
/// out for `ci:s3cret` only.
mod token {
    use super::*;
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use base64::Engine;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    pub const SERVICE: &str = "test-registry";
    pub const ISSUER: &str = "test-issuer";

    #[derive(Clone)]
    struct Signer {
        key_der: Arc<Vec<u8>>,
        cert_der: Arc<Vec<u8>>,
    }

    fn openssl(args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn b64url(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    impl Signer {
        fn token(&self, scope: &str) -> String {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let access: Vec<serde_json::Value> = scope
                .split(' ')
                .filter_map(|s| {
                    let mut parts = s.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    Some(serde_json::json!({"type": kind, "name": name,
                        "actions": actions.split(',').collect::<Vec<_>>()}))
                })
                .collect();
            let header = serde_json::json!({"typ": "JWT", "alg": "ES256",
                "x5c": [base64::engine::general_purpose::STANDARD.encode(&*self.cert_der)]});
            let claims = serde_json::json!({"iss": ISSUER, "sub": "ci", "aud": SERVICE,
                "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{scope}"),
                "access": access});
            let signing_input = format!(
                "{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            let rng = ring::rand::SystemRandom::new();
            let key =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.key_der, &rng)
                    .unwrap();
            let signature = key.sign(&rng, signing_input.as_bytes()).unwrap();
            format!("{signing_input}.{}", b64url(signature.as_ref()))
        }
    }

    async fn issue(
        State(signer): State<Signer>,
        headers: HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ci:s3cret")
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
        }
        let token = signer.token(query.get("scope").map_or("", String::as_str));
        axum::Json(serde_json::json!({"token": token, "access_token": token, "expires_in": 300}))
            .into_response()
    }

    /// Starts the token server; returns its realm URL and the certificate bundle path.
    pub async fn serve(dir: &Path) -> (String, PathBuf) {
        let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
        let (key_der, cert_der) = (dir.join("key.der"), dir.join("cert.der"));
        let s = |p: &PathBuf| p.to_str().unwrap().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &s(&key),
            "-out",
            &s(&cert),
            "-days",
            "1",
            "-subj",
            "/CN=token",
        ]);
        openssl(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &s(&key),
            "-outform",
            "DER",
            "-out",
            &s(&key_der),
        ]);
        openssl(&[
            "x509",
            "-in",
            &s(&cert),
            "-outform",
            "DER",
            "-out",
            &s(&cert_der),
        ]);
        let signer = Signer {
            key_der: Arc::new(std::fs::read(&key_der).unwrap()),
            cert_der: Arc::new(std::fs::read(&cert_der).unwrap()),
        };
        let app = axum::Router::new()
            .route("/token", axum::routing::get(issue))
            .with_state(signer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/token"), cert)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_are_fetched_from_the_registrys_token_server() {
    let dir = tempfile::tempdir().unwrap();
    let (realm, cert_bundle) = token::serve(dir.path()).await;
    let reg = TestRegistry::start_with(TestAuth::Token {
        realm,
        service: token::SERVICE.into(),
        issuer: token::ISSUER.into(),
        cert_bundle,
    });
    let repo = reg.repository("addon-operator");
    let good = ci();
    let digest = Pusher::new(&good)
        .push_image(&repo, Some("stable"), Some("1.4.0"))
        .await;
    let client = registry(good);
    assert_eq!(client.resolve(&repo, "stable").await.unwrap(), digest);
    assert_eq!(
        client.version(&repo, &digest).await.unwrap(),
        Some(Version::new(1, 4, 0))
    );
    let err = registry(Credentials::Anonymous)
        .resolve(&repo, "stable")
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Unauthorized, "{err}\n{}", reg.log());
}
