//! The webhook server's certificate: from a Secret the user names, or generated (a CA plus a
//! serving certificate for the webhook Services' DNS names) and kept in a Secret, so restarts
//! and HA replicas share it, and rotated before it expires.
//!
//! # Guarantees
//! - Two replicas starting together end up with the same certificate: the Secret is created
//!   with a create (the loser of the race reads the winner's).
//! - A generated serving certificate is replaced once two thirds of its validity have passed,
//!   with the resourceVersion of the Secret it replaces, by the leader only. The CA is kept
//!   while it has more than a third of its validity left; when it is replaced, the old CA stays
//!   in `ca.crt` until it expires, so clients that still hold the old caBundle keep working.
//! - A user-provided Secret is never written.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::OffsetDateTime;

/// Annotation holding the serving certificate's expiry (unix seconds).
const NOT_AFTER: &str = "addon-operator.io/certificate-not-after";
/// Annotation holding the CA's expiry (unix seconds).
const CA_NOT_AFTER: &str = "addon-operator.io/ca-not-after";
/// Annotation holding the DNS names the serving certificate is for, comma-separated.
const DNS_NAMES: &str = "addon-operator.io/certificate-dns-names";
/// Common name of the generated CA; a re-created issuer must use the same.
const CA_NAME: &str = "addon-operator webhook CA";

/// The PEM texts the server and the webhook configurations need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The serving certificate (`tls.crt`).
    pub cert: String,
    /// Its private key (`tls.key`).
    pub key: String,
    /// The CA certificates that verify it (`ca.crt`): the caBundle.
    pub ca: String,
}

/// A generated Secret's certificate state.
#[derive(Debug, Clone)]
pub struct Generated {
    /// What the server uses.
    pub bundle: Bundle,
    /// The CA's private key (`ca.key`), to sign the next serving certificate.
    ca_key: String,
    /// When the serving certificate expires (unix seconds).
    pub not_after: i64,
    /// When the CA expires (unix seconds).
    ca_not_after: i64,
    /// The DNS names the serving certificate is for.
    dns_names: Vec<String>,
    /// resourceVersion of the Secret it was read from.
    resource_version: Option<String>,
}

/// Reads a certificate bundle from a Secret's data (`tls.crt`, `tls.key`, `ca.crt`).
///
/// # Errors
/// A missing key (named) or text that is not UTF-8.
pub fn bundle_of(secret: &Secret) -> anyhow::Result<Bundle> {
    let data = secret.data.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    let text = |key: &str| -> anyhow::Result<String> {
        let bytes = data
            .get(key)
            .with_context(|| format!("Secret {name} has no key {key}"))?;
        String::from_utf8(bytes.0.clone())
            .with_context(|| format!("Secret {name}: {key} is not PEM text"))
    };
    Ok(Bundle {
        cert: text("tls.crt")?,
        key: text("tls.key")?,
        ca: text("ca.crt")?,
    })
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn at(secs: i64) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).context("certificate time out of range")
}

fn ca_params(not_before: i64, not_after: i64) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    p.distinguished_name.push(DnType::CommonName, CA_NAME);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = at(not_before)?;
    p.not_after = at(not_after)?;
    Ok(p)
}

/// A new CA (when `ca` is `None` or due) and a new serving certificate for `dns_names`,
/// valid for `validity`; the CA is valid ten times as long.
///
/// # Errors
/// Key generation or signing failed.
pub fn generate(
    dns_names: &[String],
    validity: Duration,
    ca: Option<&Generated>,
) -> anyhow::Result<Generated> {
    let t = now();
    let secs = validity.as_secs().max(1) as i64;
    let ca_secs = secs.saturating_mul(10);
    let keep_ca = ca.filter(|c| c.ca_not_after - t > ca_secs / 3);
    let (ca_pem, ca_key_pem, ca_not_after) = match keep_ca {
        Some(c) => (c.bundle.ca.clone(), c.ca_key.clone(), c.ca_not_after),
        None => {
            let key = KeyPair::generate().context("generating the CA key")?;
            let cert = ca_params(t - 60, t + ca_secs)?
                .self_signed(&key)
                .context("signing the CA")?;
            // The replaced CA stays trusted until it expires.
            let mut pem = cert.pem();
            if let Some(old) = ca.filter(|c| c.ca_not_after > t) {
                pem.push_str(&old.bundle.ca);
            }
            (pem, key.serialize_pem(), t + ca_secs)
        }
    };
    let ca_key = KeyPair::from_pem(&ca_key_pem).context("reading the CA key")?;
    let issuer = Issuer::new(ca_params(t - 60, ca_not_after)?, ca_key);
    let mut leaf = CertificateParams::new(dns_names.to_vec()).context("certificate parameters")?;
    if let Some(first) = dns_names.first() {
        leaf.distinguished_name
            .push(DnType::CommonName, first.clone());
    }
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = at(t - 60)?;
    leaf.not_after = at(t + secs)?;
    let key = KeyPair::generate().context("generating the serving key")?;
    let cert = leaf
        .signed_by(&key, &issuer)
        .context("signing the serving certificate")?;
    Ok(Generated {
        bundle: Bundle {
            cert: cert.pem(),
            key: key.serialize_pem(),
            ca: ca_pem,
        },
        ca_key: ca_key_pem,
        not_after: t + secs,
        ca_not_after,
        dns_names: dns_names.to_vec(),
        resource_version: None,
    })
}

impl Generated {
    /// Reads a generated Secret; `None` when it lacks a part (then it is regenerated).
    pub fn from_secret(secret: &Secret) -> Option<Generated> {
        let bundle = bundle_of(secret).ok()?;
        let data = secret.data.as_ref()?;
        let ca_key = String::from_utf8(data.get("ca.key")?.0.clone()).ok()?;
        let ann = secret.metadata.annotations.as_ref()?;
        Some(Generated {
            bundle,
            ca_key,
            not_after: ann.get(NOT_AFTER)?.parse().ok()?,
            ca_not_after: ann.get(CA_NOT_AFTER)?.parse().ok()?,
            dns_names: ann
                .get(DNS_NAMES)?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            resource_version: secret.metadata.resource_version.clone(),
        })
    }

    fn to_secret(&self, name: &str) -> Secret {
        let mut data = BTreeMap::new();
        for (k, v) in [
            ("tls.crt", &self.bundle.cert),
            ("tls.key", &self.bundle.key),
            ("ca.crt", &self.bundle.ca),
            ("ca.key", &self.ca_key),
        ] {
            data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                resource_version: self.resource_version.clone(),
                labels: Some(BTreeMap::from([(
                    "heritage".to_string(),
                    "addon-operator".to_string(),
                )])),
                annotations: Some(BTreeMap::from([
                    (NOT_AFTER.to_string(), self.not_after.to_string()),
                    (CA_NOT_AFTER.to_string(), self.ca_not_after.to_string()),
                    (DNS_NAMES.to_string(), self.dns_names.join(",")),
                ])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Whether the serving certificate must be replaced now: two thirds of its validity are
    /// gone, it is for other names, or it outlives the configured validity (the validity was
    /// shortened).
    pub fn due(&self, validity: Duration, dns_names: &[String]) -> bool {
        let secs = validity.as_secs().max(1) as i64;
        let t = now();
        t >= self.not_after - secs / 3 || self.not_after - t > secs || self.dns_names != dns_names
    }

    /// Seconds until [`Generated::due`] turns true for an unchanged name set.
    pub fn until_due(&self, validity: Duration) -> Duration {
        let secs = validity.as_secs().max(1) as i64;
        let t = now();
        if self.not_after - t > secs {
            return Duration::ZERO;
        }
        let renew_at = self.not_after - secs / 3;
        Duration::from_secs(renew_at.saturating_sub(t).max(0) as u64)
    }
}

/// Where a generated certificate lives.
pub struct Store {
    /// The Secrets of the operator namespace.
    pub api: Api<Secret>,
    /// The generated Secret's name.
    pub name: String,
    /// Validity of a serving certificate.
    pub validity: Duration,
    /// The DNS names of the webhook Services.
    pub dns_names: Vec<String>,
}

impl Store {
    /// The stored certificate, created if there is none (by whichever replica gets there
    /// first); with `may_rotate`, replaced when it is due.
    ///
    /// # Errors
    /// The API refused to read or write the Secret, or generation failed.
    pub async fn ensure(&self, may_rotate: bool) -> anyhow::Result<Generated> {
        loop {
            let current = self
                .api
                .get_opt(&self.name)
                .await
                .with_context(|| format!("reading Secret {}", self.name))?;
            let parsed = current.as_ref().and_then(Generated::from_secret);
            if let Some(g) = &parsed
                && (!may_rotate || !g.due(self.validity, &self.dns_names))
            {
                return Ok(g.clone());
            }
            let mut next = generate(&self.dns_names, self.validity, parsed.as_ref())?;
            let result = match &current {
                None => {
                    self.api
                        .create(&PostParams::default(), &next.to_secret(&self.name))
                        .await
                }
                Some(s) => {
                    next.resource_version = s.metadata.resource_version.clone();
                    self.api
                        .replace(
                            &self.name,
                            &PostParams::default(),
                            &next.to_secret(&self.name),
                        )
                        .await
                }
            };
            match result {
                Ok(written) => {
                    tracing::info!(secret = %self.name, not_after = next.not_after, "webhook serving certificate written");
                    next.resource_version = written.metadata.resource_version;
                    return Ok(next);
                }
                // Another replica wrote it first: use theirs.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(e).with_context(|| format!("writing Secret {}", self.name)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_certificate_keeps_the_ca_and_a_renewed_ca_keeps_the_old_one_trusted() {
        let names = vec!["svc.ns.svc".to_string()];
        let first = generate(&names, Duration::from_secs(3600), None).expect("generated");
        assert!(!first.due(Duration::from_secs(3600), &names));
        assert!(first.due(Duration::from_secs(3600), &["other.ns.svc".to_string()]));
        assert!(
            first.due(Duration::from_secs(60), &names),
            "a shortened validity renews"
        );
        let renewed = generate(&names, Duration::from_secs(3600), Some(&first)).expect("renewed");
        assert_eq!(renewed.bundle.ca, first.bundle.ca, "the CA is kept");
        assert_ne!(renewed.bundle.cert, first.bundle.cert);
        let mut old_ca = first.clone();
        old_ca.ca_not_after = now() + 10;
        let rotated = generate(&names, Duration::from_secs(3600), Some(&old_ca)).expect("rotated");
        assert!(
            rotated.bundle.ca.ends_with(&first.bundle.ca),
            "the old CA stays in the bundle"
        );
        assert!(rotated.bundle.ca.len() > first.bundle.ca.len());
    }
}
