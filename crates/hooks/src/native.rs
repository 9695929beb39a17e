//! Native hooks: Rust hooks compiled into the operator binary, speaking the same file protocol
//! as shell hooks, so a two-line script (`exec addon-operator hook self-update "$@"`) in
//! `global-hooks/` runs one, and the engine treats it like any other executable.

use crate::outputs::{parse_json_patch, parse_metrics, parse_object_patches};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// Errors of a native hook invocation.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A protocol environment variable is missing.
    #[error(
        "native hook {hook}: environment variable {var} is not set (run it through the hook engine)"
    )]
    MissingEnv {
        /// Hook name.
        hook: String,
        /// Variable.
        var: &'static str,
    },
    /// An input or output file could not be read, parsed or written.
    #[error("native hook {hook}: {}: {reason}", .path.display())]
    File {
        /// Hook name.
        hook: String,
        /// File.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The hook returned an error or produced outputs the protocol rejects.
    #[error("native hook {hook}: {reason}")]
    Hook {
        /// Hook name.
        hook: String,
        /// Why.
        reason: String,
    },
}

/// What a native hook reads: the decoded input files.
#[derive(Debug, Clone)]
pub struct NativeInput {
    /// The binding-context array.
    pub binding_context: Value,
    /// `$VALUES_PATH`.
    pub values: Value,
    /// `$CONFIG_VALUES_PATH`.
    pub config_values: Value,
}

/// What a native hook produces; each list is written to its file in the shell format.
#[derive(Debug, Clone, Default)]
pub struct NativeOutput {
    /// RFC 6902 operations for the values.
    pub values_patch: Vec<Value>,
    /// RFC 6902 operations for the config values.
    pub config_values_patch: Vec<Value>,
    /// Object patch operations (`{"operation": "Create", ...}`).
    pub object_patches: Vec<Value>,
    /// Metric operations (`{"name": ..., "action": "set", ...}`).
    pub metrics: Vec<Value>,
}

/// A hook compiled into the binary.
pub trait NativeHook: Send + Sync {
    /// Name used by `addon-operator hook <name>`.
    fn name(&self) -> &str;
    /// The `--config` output (YAML or JSON), exactly what a shell hook would print.
    fn config(&self) -> String;
    /// Handles one run.
    fn run(&self, input: NativeInput) -> Result<NativeOutput, String>;
}

/// Runs `hook` as the `addon-operator hook <name>` subcommand does: `--config` prints the
/// config to `stdout`; otherwise the input files named by `env` are read, the hook runs, its
/// outputs are validated with the same parsers the engine uses and appended to the output files.
pub fn run_native(
    hook: &dyn NativeHook,
    args: &[String],
    env: &dyn Fn(&str) -> Option<OsString>,
    stdout: &mut dyn Write,
) -> Result<(), NativeError> {
    let name = hook.name().to_string();
    let file_err = |path: &PathBuf, reason: String| NativeError::File {
        hook: name.clone(),
        path: path.clone(),
        reason,
    };
    if args.iter().any(|a| a == "--config") {
        return writeln!(stdout, "{}", hook.config())
            .map_err(|e| file_err(&PathBuf::from("<stdout>"), e.to_string()));
    }
    let path = |var: &'static str| {
        env(var)
            .map(PathBuf::from)
            .ok_or_else(|| NativeError::MissingEnv {
                hook: name.clone(),
                var,
            })
    };
    let read = |var: &'static str, default: Value| -> Result<Value, NativeError> {
        let p = path(var)?;
        let text = std::fs::read_to_string(&p).map_err(|e| file_err(&p, e.to_string()))?;
        if text.trim().is_empty() {
            return Ok(default);
        }
        serde_json::from_str(&text).map_err(|e| file_err(&p, e.to_string()))
    };
    let input = NativeInput {
        binding_context: read("BINDING_CONTEXT_PATH", Value::Array(Vec::new()))?,
        values: read("VALUES_PATH", Value::Object(Default::default()))?,
        config_values: read("CONFIG_VALUES_PATH", Value::Object(Default::default()))?,
    };
    let out = hook.run(input).map_err(|reason| NativeError::Hook {
        hook: name.clone(),
        reason,
    })?;
    let lines = |items: &[Value]| items.iter().map(|v| format!("{v}\n")).collect::<String>();
    let files = [
        ("VALUES_JSON_PATCH_PATH", lines(&out.values_patch)),
        (
            "CONFIG_VALUES_JSON_PATCH_PATH",
            lines(&out.config_values_patch),
        ),
        ("KUBERNETES_PATCH_PATH", lines(&out.object_patches)),
        ("METRICS_PATH", lines(&out.metrics)),
    ];
    let invalid = |what: &str, e: String| NativeError::Hook {
        hook: name.clone(),
        reason: format!("invalid {what}: {e}"),
    };
    parse_json_patch(&files[0].1).map_err(|e| invalid("values patch", e))?;
    parse_json_patch(&files[1].1).map_err(|e| invalid("config values patch", e))?;
    parse_object_patches(&files[2].1).map_err(|e| invalid("object patches", e))?;
    parse_metrics(&files[3].1).map_err(|e| invalid("metrics", e))?;
    for (var, text) in files {
        if text.is_empty() {
            continue;
        }
        let p = path(var)?;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .map_err(|e| file_err(&p, e.to_string()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| file_err(&p, e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    struct Counter;

    impl NativeHook for Counter {
        fn name(&self) -> &str {
            "counter"
        }
        fn config(&self) -> String {
            "configVersion: v1\nonStartup: 1".into()
        }
        fn run(&self, input: NativeInput) -> Result<NativeOutput, String> {
            let n = input
                .values
                .pointer("/global/n")
                .and_then(Value::as_i64)
                .ok_or("global.n missing")?;
            Ok(NativeOutput {
                values_patch: vec![json!({"op": "replace", "path": "/global/n", "value": n + 1})],
                metrics: vec![json!({"name": "runs", "action": "add", "value": 1})],
                ..Default::default()
            })
        }
    }

    #[test]
    fn config_is_printed_for_dash_dash_config() {
        let mut out = Vec::new();
        run_native(&Counter, &["--config".into()], &|_| None, &mut out).unwrap();
        let cfg = crate::config::HookConfig::parse(
            std::str::from_utf8(&out).unwrap(),
            "counter",
            crate::config::HookScope::Global,
        )
        .unwrap();
        assert!(
            cfg.orders
                .contains_key(&crate::config::OrderBinding::OnStartup)
        );
    }

    #[test]
    fn a_run_reads_inputs_and_writes_outputs_in_the_shell_format() {
        let d = tempfile::tempdir().unwrap();
        let mut env = HashMap::new();
        for (var, file, content) in [
            (
                "BINDING_CONTEXT_PATH",
                "ctx",
                "[{\"binding\":\"onStartup\"}]",
            ),
            ("VALUES_PATH", "values", "{\"global\":{\"n\":41}}"),
            ("CONFIG_VALUES_PATH", "config", "{}"),
            ("VALUES_JSON_PATCH_PATH", "vp", ""),
            ("CONFIG_VALUES_JSON_PATCH_PATH", "cvp", ""),
            ("KUBERNETES_PATCH_PATH", "kp", ""),
            ("METRICS_PATH", "m", ""),
        ] {
            let p = d.path().join(file);
            std::fs::write(&p, content).unwrap();
            env.insert(var, OsString::from(p));
        }
        run_native(&Counter, &[], &|v| env.get(v).cloned(), &mut Vec::new()).unwrap();
        let vp = std::fs::read_to_string(d.path().join("vp")).unwrap();
        assert_eq!(
            parse_json_patch(&vp).unwrap(),
            serde_json::from_value(json!([{"op": "replace", "path": "/global/n", "value": 42}]))
                .unwrap()
        );
        assert_eq!(
            parse_metrics(&std::fs::read_to_string(d.path().join("m")).unwrap())
                .unwrap()
                .len(),
            1
        );
        let err = run_native(&Counter, &[], &|_| None, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("BINDING_CONTEXT_PATH is not set"),
            "{err}"
        );
    }
}
