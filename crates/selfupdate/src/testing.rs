//! Test harness (feature `testing`): a real registry — Debian's `docker-registry`, the CNCF
//! distribution registry — on 127.0.0.1 with a temp storage directory, optionally behind
//! htpasswd basic auth or a token server, and an image pusher built on `oci-client`.
//!
//! It never skips: a registry that cannot start fails the test with an install hint.
//! Processes are killed when their handle drops.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a test harness fails loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::credentials::Credentials;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const INSTALL_HINT: &str =
    "install it with `apt-get install -y docker-registry apache2-utils` (scripts/test.sh does)";

/// How the registry authenticates clients.
#[derive(Debug, Clone)]
pub enum TestAuth {
    /// Open: anonymous pull and push.
    Open,
    /// htpasswd basic auth with one user (the file is made with `htpasswd -Bbn`).
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// Bearer tokens from a token server the test runs.
    Token {
        /// The token server's URL (`http://127.0.0.1:<port>/token`).
        realm: String,
        /// `service` the tokens are for.
        service: String,
        /// `iss` of the tokens.
        issuer: String,
        /// PEM certificate whose key signs the tokens.
        cert_bundle: PathBuf,
    },
}

/// A running `docker-registry`; killed on drop.
pub struct TestRegistry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl TestRegistry {
    /// An open registry.
    pub fn start() -> TestRegistry {
        Self::start_with(TestAuth::Open)
    }

    /// A registry with `auth`.
    ///
    /// # Panics
    /// The binary is missing or the registry does not answer within 30 s (with its log).
    pub fn start_with(auth: TestAuth) -> TestRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: {INSTALL_HINT}"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let auth_yaml = match &auth {
            TestAuth::Open => String::new(),
            TestAuth::Basic { username, password } => {
                let htpasswd = dir.path().join("htpasswd");
                let out = Command::new("htpasswd")
                    .args(["-Bbn", username, password])
                    .output()
                    .unwrap_or_else(|e| panic!("htpasswd does not run ({e}): {INSTALL_HINT}"));
                assert!(out.status.success(), "htpasswd failed: {INSTALL_HINT}");
                std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    htpasswd.display()
                )
            }
            TestAuth::Token {
                realm,
                service,
                issuer,
                cert_bundle,
            } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert_bundle.display()
            ),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n{auth_yaml}",
                dir.path().join("storage").display()
            ),
        )
        .expect("write registry config");
        let mut registry = TestRegistry {
            child: None,
            port,
            dir,
            config,
        };
        registry.restart();
        registry
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>/<name>`.
    pub fn repository(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// The registry's log (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Stops the registry (the storage stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the registry again on the same port and storage and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.path().join("registry.log")).expect("log file");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{REGISTRY_BIN} does not start ({e}): {INSTALL_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http_answers(self.port) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "docker-registry exited with {status}:\n{}\n{INSTALL_HINT}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {} within 30 s:\n{}",
                self.host(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The file holding the bytes of the blob (or manifest) `digest` in the storage: tests
    /// corrupt it to make the registry serve bytes that do not match their digest.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl TestRegistry {
    /// Points `name:tag` at `digest` by writing the registry's link files directly, without
    /// the registry reading (and so checking) the manifest: how tests move a tag to a
    /// manifest they corrupted.
    pub fn set_tag(&self, name: &str, tag: &str, digest: &str) {
        let tag_dir = self
            .dir
            .path()
            .join("storage/docker/registry/v2/repositories")
            .join(name)
            .join("_manifests/tags")
            .join(tag);
        let hex = digest.trim_start_matches("sha256:");
        for link in [
            tag_dir.join("current/link"),
            tag_dir.join("index/sha256").join(hex).join("link"),
        ] {
            std::fs::create_dir_all(link.parent().expect("parent")).expect("tag dir");
            std::fs::write(&link, digest).expect("tag link");
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pushes small images and indexes to a test registry over plain HTTP.
pub struct Pusher {
    client: oci_client::Client,
    auth: RegistryAuth,
}

/// One platform's image of an index.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// Manifest digest.
    pub digest: String,
    /// Manifest size in bytes.
    pub size: usize,
}

static NONCE: AtomicU64 = AtomicU64::new(0);

impl Pusher {
    /// A pusher with `credentials`.
    pub fn new(credentials: &Credentials) -> Pusher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = oci_client::Client::try_from(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        })
        .expect("oci client");
        Pusher {
            client,
            auth: credentials.to_oci(),
        }
    }

    async fn reference(&self, repository: &str, tag_or_digest: &str) -> Reference {
        let sep = if tag_or_digest.contains(':') {
            '@'
        } else {
            ':'
        };
        let reference: Reference = format!("{repository}{sep}{tag_or_digest}")
            .parse()
            .expect("reference");
        self.client
            .auth(&reference, &self.auth, oci_client::RegistryOperation::Push)
            .await
            .expect("registry auth for push");
        reference
    }

    async fn blob(&self, reference: &Reference, bytes: Vec<u8>) -> (String, usize) {
        let digest = sha256(&bytes);
        let size = bytes.len();
        self.client
            .push_blob(reference, bytes, &digest)
            .await
            .expect("push blob");
        (digest, size)
    }

    /// Pushes a single-platform image labelled with `version` (no label when `None`) under
    /// `tag` (or only by digest when `tag` is `None`). Every push is a new digest.
    pub async fn push_image(
        &self,
        repository: &str,
        tag: Option<&str>,
        version: Option<&str>,
    ) -> String {
        self.push_platform_image(repository, tag, version, "linux", "amd64")
            .await
            .digest
    }

    async fn push_platform_image(
        &self,
        repository: &str,
        tag: Option<&str>,
        version: Option<&str>,
        os: &str,
        arch: &str,
    ) -> PushedImage {
        let nonce = NONCE.fetch_add(1, Ordering::SeqCst);
        let reference = self.reference(repository, tag.unwrap_or("scratch")).await;
        let labels = match version {
            Some(v) => json!({ crate::registry::VERSION_LABEL: v }),
            None => json!({}),
        };
        let layer = format!("layer {nonce} {}", std::process::id()).into_bytes();
        let layer_diff = sha256(&layer);
        let config = json!({
            "architecture": arch, "os": os,
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [layer_diff]},
        })
        .to_string()
        .into_bytes();
        let (config_digest, config_size) = self.blob(&reference, config).await;
        let (layer_digest, layer_size) = self.blob(&reference, layer).await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer_size}],
        })
        .to_string()
        .into_bytes();
        let digest = sha256(&manifest);
        let size = manifest.len();
        let target = self.reference(repository, tag.unwrap_or(&digest)).await;
        self.client
            .push_manifest_raw(
                &target,
                manifest,
                OCI_IMAGE_MEDIA_TYPE.parse().expect("type"),
            )
            .await
            .expect("push manifest");
        PushedImage { digest, size }
    }

    /// Pushes a multi-arch index (linux/arm64 and linux/amd64 images, both labelled with
    /// `version`) under `tag`; returns the index digest.
    pub async fn push_index(&self, repository: &str, tag: &str, version: Option<&str>) -> String {
        let mut entries = Vec::new();
        for arch in ["arm64", "amd64"] {
            let image = self
                .push_platform_image(repository, None, version, "linux", arch)
                .await;
            entries.push(
                json!({"mediaType": OCI_IMAGE_MEDIA_TYPE, "digest": image.digest,
                "size": image.size, "platform": {"architecture": arch, "os": "linux"}}),
            );
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
            "manifests": entries})
        .to_string()
        .into_bytes();
        let digest = sha256(&index);
        let target = self.reference(repository, tag).await;
        self.client
            .push_manifest_raw(
                &target,
                index,
                OCI_IMAGE_INDEX_MEDIA_TYPE.parse().expect("type"),
            )
            .await
            .expect("push index");
        digest
    }

    /// Points `tag` at the manifest `digest` (a tag move, as a release team does it).
    pub async fn tag(&self, repository: &str, digest: &str, tag: &str) {
        let source = self.reference(repository, digest).await;
        let (bytes, _) = self
            .client
            .pull_manifest_raw(
                &source,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE],
            )
            .await
            .expect("pull manifest to retag");
        let media = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|d| d["mediaType"].as_str().map(String::from))
            .unwrap_or_else(|| OCI_IMAGE_MEDIA_TYPE.into());
        let target = self.reference(repository, tag).await;
        self.client
            .push_manifest_raw(&target, bytes, media.parse().expect("type"))
            .await
            .expect("push tag");
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
