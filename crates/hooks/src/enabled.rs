//! Module `enabled` scripts: `true`/`false` written to `$MODULE_ENABLED_RESULT`.

use crate::exec::{ExecError, ProcessSpec, run_process};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;

/// Errors running an `enabled` script.
#[derive(Debug, thiserror::Error)]
pub enum EnabledError {
    /// The script failed, timed out or could not start: the execution error, which names the
    /// script as hook `<module>/enabled` and its path (transparent, so that is said once).
    #[error(transparent)]
    Exec(ExecError),
    /// Temp files could not be written or read.
    #[error("module {module}: enabled script temp file {}", .path.display())]
    TempFile {
        /// Module name.
        module: String,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `$MODULE_ENABLED_RESULT` holds neither `true` nor `false`.
    #[error("module {module}: enabled script {} wrote {found:?} to $MODULE_ENABLED_RESULT, expected \"true\" or \"false\"", .script.display())]
    InvalidResult {
        /// Module name.
        module: String,
        /// Script path.
        script: PathBuf,
        /// What it wrote (trimmed).
        found: String,
    },
}

/// The decision of an `enabled` script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnabledResult {
    /// Whether the module stays enabled.
    pub enabled: bool,
    /// `$MODULE_ENABLED_REASON`, if the script wrote one.
    pub reason: Option<String>,
}

/// Runs a module's `enabled` script with `VALUES_PATH`, `CONFIG_VALUES_PATH`,
/// `MODULE_ENABLED_RESULT` and `MODULE_ENABLED_REASON`, in the module directory.
///
/// # Errors
/// A failing script, or a result other than `true`/`false` (surrounding whitespace ignored).
pub async fn run_enabled_script(
    script: &Path,
    module: &str,
    values: &Value,
    config_values: &Value,
    timeout: Duration,
) -> Result<EnabledResult, EnabledError> {
    let tmp = |path: PathBuf| {
        move |source| EnabledError::TempFile {
            module: module.into(),
            path,
            source,
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("enabled-")
        .tempdir()
        .map_err(tmp(std::env::temp_dir()))?;
    let file = |n: &str| dir.path().join(n);
    let write = |n: &str, bytes: Vec<u8>| std::fs::write(file(n), bytes).map_err(tmp(file(n)));
    write(
        "values.json",
        serde_json::to_vec(values).unwrap_or_default(),
    )?;
    write(
        "config_values.json",
        serde_json::to_vec(config_values).unwrap_or_default(),
    )?;
    write("result", Vec::new())?;
    write("reason", Vec::new())?;
    let env = vec![
        ("VALUES_PATH", OsString::from(file("values.json"))),
        (
            "CONFIG_VALUES_PATH",
            OsString::from(file("config_values.json")),
        ),
        ("MODULE_ENABLED_RESULT", OsString::from(file("result"))),
        ("MODULE_ENABLED_REASON", OsString::from(file("reason"))),
    ];
    let name = format!("{module}/enabled");
    let cwd = script.parent().unwrap_or(Path::new("."));
    // Its output lines carry the script's name, as a hook run's do.
    let span = tracing::error_span!("hook", hook = %name, binding = "enabled", queue = "main");
    run_process(ProcessSpec {
        program: script,
        args: &[],
        env,
        cwd,
        timeout,
        hook: &name,
        capture_stdout: false,
        spawner: None,
    })
    .instrument(span)
    .await
    .map_err(EnabledError::Exec)?;
    let result = std::fs::read_to_string(file("result")).map_err(tmp(file("result")))?;
    let reason = std::fs::read_to_string(file("reason")).map_err(tmp(file("reason")))?;
    let enabled = match result.trim() {
        "true" => true,
        "false" => false,
        other => {
            return Err(EnabledError::InvalidResult {
                module: module.into(),
                script: script.into(),
                found: other.into(),
            });
        }
    };
    let reason = Some(reason.trim().to_string()).filter(|r| !r.is_empty());
    Ok(EnabledResult { enabled, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("enabled");
        std::fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn the_script_decides_from_values_and_gives_a_reason() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            r#"if [[ "$(cat $VALUES_PATH)" == *'"ingress":true'* ]]; then echo true > $MODULE_ENABLED_RESULT; else
               echo false > $MODULE_ENABLED_RESULT; echo "needs ingress" > $MODULE_ENABLED_REASON; fi"#,
        );
        let t = Duration::from_secs(10);
        let on = run_enabled_script(
            &p,
            "m",
            &json!({"global": {"ingress": true}}),
            &json!({}),
            t,
        )
        .await
        .unwrap();
        assert_eq!(
            on,
            EnabledResult {
                enabled: true,
                reason: None
            }
        );
        let off = run_enabled_script(&p, "m", &json!({"global": {}}), &json!({}), t)
            .await
            .unwrap();
        assert_eq!(
            off,
            EnabledResult {
                enabled: false,
                reason: Some("needs ingress".into())
            }
        );
    }

    #[tokio::test]
    async fn anything_but_true_or_false_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), r#"echo '{"enabled": true}'"#);
        let err = run_enabled_script(&p, "m", &json!({}), &json!({}), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("module m: enabled script")
                && err.to_string().contains("expected \"true\" or \"false\""),
            "{err}"
        );
    }
}
