//! What a webhook hook writes: `$VALIDATING_RESPONSE_PATH` (`allowed`, `message`, `warnings`,
//! `patch`) and `$CONVERSION_RESPONSE_PATH` (`convertedObjects` or `failedMessage`), parsed as
//! shell-operator's `admission.Response` and `conversion.Response` decode them.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// A webhook response file that is empty or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The hook wrote nothing.
    #[error("hook {hook} wrote no response to ${var}")]
    Empty {
        /// Hook name.
        hook: String,
        /// The variable naming the file.
        var: &'static str,
    },
    /// The file is not the expected JSON.
    #[error("hook {hook}: invalid ${var}: {reason}")]
    Invalid {
        /// Hook name.
        hook: String,
        /// The variable naming the file.
        var: &'static str,
        /// What is wrong (names the field and the expected form).
        reason: String,
    },
}

/// An admission hook's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AdmissionAnswer {
    pub allowed: bool,
    pub message: String,
    pub warnings: Vec<String>,
    /// The JSON patch, base64 as the hook wrote it (checked to decode to a JSON array).
    pub patch: Option<String>,
}

#[derive(Deserialize)]
struct RawAdmission {
    #[serde(default)]
    allowed: bool,
    #[serde(default)]
    message: String,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    patch: Option<String>,
}

/// Parses `$VALIDATING_RESPONSE_PATH`.
///
/// # Errors
/// [`ResponseError::Empty`] for an empty file; [`ResponseError::Invalid`] for JSON of another
/// shape or a `patch` that is not a base64-encoded JSON patch.
pub(crate) fn parse_admission(hook: &str, text: &str) -> Result<AdmissionAnswer, ResponseError> {
    const VAR: &str = "VALIDATING_RESPONSE_PATH";
    let invalid = |reason: String| ResponseError::Invalid {
        hook: hook.into(),
        var: VAR,
        reason,
    };
    if text.trim().is_empty() {
        return Err(ResponseError::Empty {
            hook: hook.into(),
            var: VAR,
        });
    }
    let raw: RawAdmission = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "{e} (expected {{\"allowed\": bool, \"message\": string, \"warnings\": [string], \"patch\": base64 string}})"
        ))
    })?;
    let patch = match raw.patch.filter(|p| !p.trim().is_empty()) {
        None => None,
        Some(p) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p.trim())
                .map_err(|e| invalid(format!("patch: not base64 ({e})")))?;
            let ops: Value = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("patch: the decoded text is not JSON ({e})")))?;
            if !ops.is_array() {
                return Err(invalid(
                    "patch: expected a base64-encoded JSON patch (an array of operations)".into(),
                ));
            }
            Some(p.trim().to_string())
        }
    };
    Ok(AdmissionAnswer {
        allowed: raw.allowed,
        message: raw.message,
        warnings: raw.warnings,
        patch,
    })
}

/// A conversion hook's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConversionAnswer {
    /// `convertedObjects`.
    Converted(Vec<Value>),
    /// `failedMessage`.
    Failed(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConversion {
    #[serde(default)]
    failed_message: String,
    #[serde(default)]
    converted_objects: Vec<Value>,
}

/// Parses `$CONVERSION_RESPONSE_PATH`.
///
/// # Errors
/// [`ResponseError::Empty`] for an empty file; [`ResponseError::Invalid`] for JSON of another
/// shape.
pub(crate) fn parse_conversion(hook: &str, text: &str) -> Result<ConversionAnswer, ResponseError> {
    const VAR: &str = "CONVERSION_RESPONSE_PATH";
    if text.trim().is_empty() {
        return Err(ResponseError::Empty {
            hook: hook.into(),
            var: VAR,
        });
    }
    let raw: RawConversion = serde_json::from_str(text).map_err(|e| ResponseError::Invalid {
        hook: hook.into(),
        var: VAR,
        reason: format!(
            "{e} (expected {{\"convertedObjects\": [object]}} or {{\"failedMessage\": string}})"
        ),
    })?;
    Ok(if raw.failed_message.is_empty() {
        ConversionAnswer::Converted(raw.converted_objects)
    } else {
        ConversionAnswer::Failed(raw.failed_message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_answers_decode_as_shell_operator_reads_them() {
        let patch = base64::engine::general_purpose::STANDARD
            .encode(r#"[{"op":"add","path":"/spec/replicas","value":333}]"#);
        let a = parse_admission("h", &format!(r#"{{"allowed":true,"patch":"{patch}"}}"#)).unwrap();
        assert!(a.allowed);
        assert_eq!(a.patch.as_deref(), Some(patch.as_str()));
        let d =
            parse_admission("h", r#"{"allowed":false,"message":"no","warnings":["w"]}"#).unwrap();
        assert_eq!(
            (d.allowed, d.message.as_str(), d.warnings.len()),
            (false, "no", 1)
        );
        assert!(matches!(
            parse_admission("h", " \n"),
            Err(ResponseError::Empty { .. })
        ));
        let bad = parse_admission("h", r#"{"allowed":true,"patch":"e30="}"#).unwrap_err();
        assert!(bad.to_string().contains("patch"), "{bad}");
    }

    #[test]
    fn conversion_answers_are_objects_or_a_failure() {
        assert_eq!(
            parse_conversion("h", r#"{"convertedObjects":[{"a":1}]}"#).unwrap(),
            ConversionAnswer::Converted(vec![serde_json::json!({"a": 1})])
        );
        assert_eq!(
            parse_conversion("h", r#"{"failedMessage":"nope"}"#).unwrap(),
            ConversionAnswer::Failed("nope".into())
        );
        assert!(parse_conversion("h", "[1]").is_err());
    }
}
