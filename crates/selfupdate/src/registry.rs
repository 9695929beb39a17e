//! The registry side, on `oci-client`: resolve a tag to a digest, read the version label of a
//! digest, and move a tag (promote).
//!
//! A poll that finds nothing moved costs one request: an unauthenticated (or basic-auth)
//! `HEAD /v2/<name>/manifests/<tag>` whose `Docker-Content-Digest` answers it. Anything else
//! — a 401 pointing at a token server, a refused HEAD (405), a HEAD without the digest header
//! — goes through `oci-client`'s `fetch_manifest_digest`, which authenticates (anonymous,
//! basic or bearer token) and falls back to GET itself.

use std::time::Duration;

use bytes::Bytes;
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use semver::Version;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::credentials::Credentials;
use crate::error::{CheckError, FailureKind};

/// Manifests, indexes and image configs larger than this are refused.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The image config label holding the release version.
pub const VERSION_LABEL: &str = "org.opencontainers.image.version";

const MANIFEST_TYPES: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// Who we are.
    pub credentials: Credentials,
    /// Timeout of one request (default 30 s); connecting gets a third of it.
    pub timeout: Option<Duration>,
}

/// A client for one registry's repositories.
pub struct Registry {
    /// Built on first use: a quiet poll needs only `http`, and each client costs a TLS setup.
    oci: std::sync::OnceLock<oci_client::Client>,
    http: reqwest::Client,
    options: RegistryOptions,
    timeout: Duration,
}

/// A manifest as fetched: its bytes, media type and verified digest.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// The bytes, exactly as served (they hash to `digest`).
    pub bytes: Bytes,
    /// `mediaType` of the document (inferred from its shape when absent).
    pub media_type: String,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
}

/// The registry's HTTP client could not be built (TLS setup).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the registry client")]
pub struct ClientBuildError(#[source] reqwest::Error);

impl Registry {
    /// A client with `options`.
    ///
    /// # Errors
    /// The HTTP client cannot be built (TLS setup).
    pub fn new(options: RegistryOptions) -> Result<Registry, ClientBuildError> {
        // reqwest is built without a bundled crypto provider; use ring, as kube does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = options.timeout.unwrap_or(Duration::from_secs(30));
        let http = reqwest::Client::builder()
            .connect_timeout(timeout / 3)
            .timeout(timeout)
            .build()
            .map_err(ClientBuildError)?;
        Ok(Registry {
            oci: std::sync::OnceLock::new(),
            http,
            options,
            timeout,
        })
    }

    fn oci(&self) -> &oci_client::Client {
        self.oci.get_or_init(|| {
            oci_client::Client::new(ClientConfig {
                protocol: if self.options.insecure {
                    ClientProtocol::Http
                } else {
                    ClientProtocol::Https
                },
                read_timeout: Some(self.timeout),
                connect_timeout: Some(self.timeout / 3),
                platform_resolver: None,
                ..ClientConfig::default()
            })
        })
    }

    fn reference(&self, repository: &str, tag_or_digest: &str) -> Result<Reference, CheckError> {
        let separator = if tag_or_digest.contains(':') {
            '@'
        } else {
            ':'
        };
        format!("{repository}{separator}{tag_or_digest}")
            .parse::<Reference>()
            .map_err(|e| {
                CheckError::new(
                    repository,
                    tag_or_digest,
                    FailureKind::Config,
                    format!("not a valid image reference: {e}"),
                )
            })
    }

    /// The digest `repository:tag` points to (an image manifest or an index).
    ///
    /// # Errors
    /// Every failure kind, classified; nothing is retried here (the next poll retries).
    pub async fn resolve(&self, repository: &str, tag: &str) -> Result<String, CheckError> {
        let reference = self.reference(repository, tag)?;
        let fail = |kind, detail: String| CheckError::new(repository, tag, kind, detail);
        if !matches!(self.options.credentials, Credentials::Bearer(_))
            && let Some(digest) = self.head(&reference).await.map_err(|(k, d)| fail(k, d))?
        {
            return Ok(digest);
        }
        let digest = self
            .oci()
            .fetch_manifest_digest(&reference, &self.options.credentials.to_oci())
            .await
            .map_err(|e| fail(classify(&e), e.to_string()))?;
        if !is_sha256_digest(&digest) {
            return Err(fail(FailureKind::Malformed, NOT_A_DIGEST.into()));
        }
        Ok(digest)
    }

    /// One `HEAD` with the credentials sent directly (basic) or none: `Some(digest)` when
    /// it answers, `None` when `oci-client` must take over (auth challenge, refused HEAD).
    async fn head(&self, reference: &Reference) -> Result<Option<String>, (FailureKind, String)> {
        let scheme = if self.options.insecure {
            "http"
        } else {
            "https"
        };
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{}",
            reference.resolve_registry(),
            reference.repository(),
            reference.tag().unwrap_or("latest"),
        );
        let mut request = self
            .http
            .head(&url)
            .header("Accept", MANIFEST_TYPES.join(", "));
        if let Credentials::Basic { username, password } = &self.options.credentials {
            request = request.basic_auth(username, Some(password));
        }
        let response = match request.send().await {
            Ok(r) => r,
            // No HTTP answer at all (refused, reset, timed out): the registry is not there.
            Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                return Err((FailureKind::Unreachable, error_chain(&e)));
            }
            Err(e) => return Err((FailureKind::Registry, error_chain(&e))),
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err((FailureKind::NotFound, format!("HEAD {url}: 404 Not Found")));
        }
        if !status.is_success() {
            return Ok(None);
        }
        // The header itself: a HEAD response has no body, so its size hint is 0.
        let length = response
            .headers()
            .get("Content-Length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = length
            && length > MAX_MANIFEST_BYTES as u64
        {
            return Err((
                FailureKind::TooLarge,
                format!("the manifest has {length} bytes"),
            ));
        }
        let digest = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match digest {
            Some(d) if is_sha256_digest(&d) => Ok(Some(d)),
            Some(_) => Err((FailureKind::Malformed, NOT_A_DIGEST.into())),
            None => Ok(None),
        }
    }

    /// Fetches the manifest `repository@digest`, verifying that its bytes hash to `digest`
    /// and that it is at most [`MAX_MANIFEST_BYTES`].
    ///
    /// # Errors
    /// Every failure kind; `DigestMismatch` when the bytes do not hash to `digest`.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, CheckError> {
        let oci_ref = self.reference(repository, reference)?;
        let fail = |kind, detail: String| CheckError::new(repository, reference, kind, detail);
        let (bytes, digest) = self
            .oci()
            .pull_manifest_raw(
                &oci_ref,
                &self.options.credentials.to_oci(),
                &MANIFEST_TYPES,
            )
            .await
            .map_err(|e| fail(classify(&e), e.to_string()))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(fail(
                FailureKind::TooLarge,
                format!("the manifest has {} bytes", bytes.len()),
            ));
        }
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let expected = oci_ref.digest().unwrap_or(&digest);
        if expected.starts_with("sha256:") && actual != expected {
            return Err(fail(
                FailureKind::DigestMismatch,
                format!("the manifest hashes to {actual}"),
            ));
        }
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
            fail(
                FailureKind::Malformed,
                format!("the manifest is not JSON: {e}"),
            )
        })?;
        let media_type = match doc.get("mediaType").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None if doc.get("manifests").is_some() => OCI_IMAGE_INDEX_MEDIA_TYPE.into(),
            None if doc.get("config").is_some() => OCI_IMAGE_MEDIA_TYPE.into(),
            None => {
                return Err(fail(
                    FailureKind::Malformed,
                    "neither an image manifest nor an index".into(),
                ));
            }
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest: actual,
        })
    }

    /// The `org.opencontainers.image.version` label of `repository@digest`: from the image
    /// config of the manifest, or for an index, of the manifest for the running platform (else
    /// the first). `Ok(None)`: no label, or a label that is not semver (then the tag is
    /// followed).
    ///
    /// # Errors
    /// Every failure kind, for the index, the manifest or the config blob.
    pub async fn version(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Version>, CheckError> {
        let mut manifest = self.manifest(repository, digest).await?;
        let mut doc: Value = serde_json::from_slice(&manifest.bytes).unwrap_or(Value::Null);
        if let Some(entries) = doc.get("manifests").and_then(Value::as_array) {
            let chosen = entries
                .iter()
                .find(|e| is_running_platform(e))
                .or_else(|| entries.first())
                .and_then(|e| e.get("digest"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    CheckError::new(
                        repository,
                        digest,
                        FailureKind::Malformed,
                        "the index lists no manifest",
                    )
                })?
                .to_string();
            manifest = self.manifest(repository, &chosen).await?;
            doc = serde_json::from_slice(&manifest.bytes).unwrap_or(Value::Null);
        }
        let fail =
            |kind, detail: String| CheckError::new(repository, &manifest.digest, kind, detail);
        let config = doc
            .get("config")
            .ok_or_else(|| fail(FailureKind::Malformed, "the manifest has no config".into()))?;
        let config_digest = config
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(FailureKind::Malformed, "the config has no digest".into()))?;
        if config.get("size").and_then(Value::as_u64).unwrap_or(0) > MAX_MANIFEST_BYTES as u64 {
            return Err(fail(
                FailureKind::TooLarge,
                "the image config is over 4 MiB".into(),
            ));
        }
        let oci_ref = self.reference(repository, &manifest.digest)?;
        self.oci()
            .store_auth_if_needed(
                oci_ref.resolve_registry(),
                &self.options.credentials.to_oci(),
            )
            .await;
        let mut blob = Vec::new();
        self.oci()
            .pull_blob(&oci_ref, config_digest, &mut blob)
            .await
            .map_err(|e| fail(classify(&e), format!("image config: {e}")))?;
        let config: Value = serde_json::from_slice(&blob).map_err(|e| {
            fail(
                FailureKind::Malformed,
                format!("the image config is not JSON: {e}"),
            )
        })?;
        let label = config
            .pointer("/config/Labels")
            .and_then(|labels| labels.get(VERSION_LABEL))
            .and_then(Value::as_str);
        Ok(label.and_then(parse_version))
    }

    /// Points `to_tag` at the manifest `from_tag` points to, byte for byte (same digest).
    /// Returns the digest.
    ///
    /// # Errors
    /// Every failure kind; `Registry` when the push is refused or the tag did not move.
    pub async fn promote(
        &self,
        repository: &str,
        from_tag: &str,
        to_tag: &str,
    ) -> Result<String, CheckError> {
        let manifest = self.manifest(repository, from_tag).await?;
        let target = self.reference(repository, to_tag)?;
        let fail = |kind, detail: String| CheckError::new(repository, to_tag, kind, detail);
        let content_type = manifest
            .media_type
            .parse()
            .map_err(|_| fail(FailureKind::Malformed, "invalid media type".into()))?;
        let auth = self.options.credentials.to_oci();
        self.oci()
            .auth(&target, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| fail(classify(&e), e.to_string()))?;
        self.oci()
            .push_manifest_raw(&target, manifest.bytes.clone(), content_type)
            .await
            .map_err(|e| fail(classify(&e), e.to_string()))?;
        let moved = self.resolve(repository, to_tag).await?;
        if moved != manifest.digest {
            return Err(fail(
                FailureKind::Registry,
                format!("the tag points to {moved}, not {}", manifest.digest),
            ));
        }
        Ok(moved)
    }
}

/// `1.2.3` or `v1.2.3`; anything else is no version.
pub fn parse_version(label: &str) -> Option<Version> {
    let label = label.trim();
    Version::parse(label.strip_prefix('v').unwrap_or(label)).ok()
}

fn is_running_platform(entry: &Value) -> bool {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    entry.pointer("/platform/os").and_then(Value::as_str) == Some(std::env::consts::OS)
        && entry
            .pointer("/platform/architecture")
            .and_then(Value::as_str)
            == Some(arch)
}

const NOT_A_DIGEST: &str = "the registry answered a digest that is not sha256:<64 hex digits>";

fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps an `oci-client` error to a failure kind.
fn classify(err: &OciDistributionError) -> FailureKind {
    use OciDistributionError as E;
    let by_status = |code: u16| match code {
        401 | 403 => FailureKind::Unauthorized,
        404 => FailureKind::NotFound,
        _ => FailureKind::Registry,
    };
    match err {
        E::RequestError(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
            FailureKind::Unreachable
        }
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => FailureKind::Unauthorized,
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                FailureKind::NotFound
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                FailureKind::Unauthorized
            } else {
                FailureKind::Registry
            }
        }
        E::ServerError { code, .. } => by_status(*code),
        E::ImageManifestNotFoundError(_) => FailureKind::NotFound,
        E::DigestError(oci_client::errors::DigestError::VerificationError { .. }) => {
            FailureKind::DigestMismatch
        }
        E::DigestError(_)
        | E::ManifestParsingError(_)
        | E::VersionedParsingError(_)
        | E::JsonError(_)
        | E::ManifestEncodingError(_)
        | E::UnsupportedSchemaVersionError(_)
        | E::UnsupportedMediaTypeError(_)
        | E::SpecViolationError(_) => FailureKind::Malformed,
        _ => FailureKind::Registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_accept_a_v_prefix_and_refuse_non_semver() {
        assert_eq!(parse_version("v1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(
            parse_version("1.2.3-rc.1").map(|v| v.to_string()),
            Some("1.2.3-rc.1".into())
        );
        assert_eq!(parse_version("latest"), None);
    }

    #[test]
    fn digests_must_be_sha256_hex() {
        assert!(is_sha256_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_sha256_digest("sha256:zz"));
        assert!(!is_sha256_digest("md5:abc"));
    }
}
