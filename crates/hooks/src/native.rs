//! Native hooks: Rust hooks compiled into the operator binary, speaking the same file protocol
//! as shell hooks, so a two-line script (`exec addon-operator hook run self-update "$@"`) in
//! `global-hooks/` runs one, and the engine treats it like any other executable.

use crate::outputs::{OutputFileError, parse_json_patch, parse_metrics, parse_object_patches};
use serde_json::Value;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// The error a native hook returns from [`NativeHook::run`]: any error type, so a hook can pass
/// its own causes up unchanged.
pub type NativeHookError = Box<dyn std::error::Error + Send + Sync>;

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
    /// `--config` could not be printed.
    #[error("native hook {hook}: cannot print --config")]
    PrintConfig {
        /// Hook name.
        hook: String,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// An input file could not be read or an output file written.
    #[error("native hook {hook}: {}", .path.display())]
    Io {
        /// Hook name.
        hook: String,
        /// File.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An input file is not JSON.
    #[error("native hook {hook}: {}", .path.display())]
    Decode {
        /// Hook name.
        hook: String,
        /// File.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The hook returned an error.
    #[error("native hook {hook} failed")]
    Hook {
        /// Hook name.
        hook: String,
        /// What the hook returned.
        #[source]
        source: NativeHookError,
    },
    /// The hook produced an output the protocol rejects; nothing was written.
    #[error("native hook {hook}: invalid output for {var}")]
    Output {
        /// Hook name.
        hook: String,
        /// The output file's variable (`METRICS_PATH`, ...).
        var: &'static str,
        /// What is wrong with it.
        #[source]
        source: OutputFileError,
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
    /// Name used by `addon-operator hook run <name>`.
    fn name(&self) -> &str;
    /// The `--config` output (YAML or JSON), exactly what a shell hook would print.
    fn config(&self) -> String;
    /// Handles one run.
    ///
    /// # Errors
    /// Whatever makes the run fail; the engine retries failed runs like any hook's.
    fn run(&self, input: NativeInput) -> Result<NativeOutput, NativeHookError>;
}

/// Runs `hook` as the `addon-operator hook run <name>` subcommand does: `--config` prints the
/// config to `stdout`; otherwise the input files named by `env` are read, the hook runs, its
/// outputs are validated with the same parsers the engine uses and appended to the output files.
pub fn run_native(
    hook: &dyn NativeHook,
    args: &[String],
    env: &dyn Fn(&str) -> Option<OsString>,
    stdout: &mut dyn Write,
) -> Result<(), NativeError> {
    let name = hook.name().to_string();
    let io_err = |path: &PathBuf, source| NativeError::Io {
        hook: name.clone(),
        path: path.clone(),
        source,
    };
    if args.iter().any(|a| a == "--config") {
        return writeln!(stdout, "{}", hook.config()).map_err(|source| NativeError::PrintConfig {
            hook: name.clone(),
            source,
        });
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
        let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
        if text.trim().is_empty() {
            return Ok(default);
        }
        serde_json::from_str(&text).map_err(|source| NativeError::Decode {
            hook: name.clone(),
            path: p,
            source,
        })
    };
    let input = NativeInput {
        binding_context: read("BINDING_CONTEXT_PATH", Value::Array(Vec::new()))?,
        values: read("VALUES_PATH", Value::Object(Default::default()))?,
        config_values: read("CONFIG_VALUES_PATH", Value::Object(Default::default()))?,
    };
    let out = hook.run(input).map_err(|source| NativeError::Hook {
        hook: name.clone(),
        source,
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
    for (var, text) in &files {
        let checked = match *var {
            "KUBERNETES_PATCH_PATH" => parse_object_patches(text).map(drop),
            "METRICS_PATH" => parse_metrics(text).map(drop),
            _ => parse_json_patch(text).map(drop),
        };
        checked.map_err(|source| NativeError::Output {
            hook: name.clone(),
            var,
            source,
        })?;
    }
    for (var, text) in files {
        if text.is_empty() {
            continue;
        }
        let p = path(var)?;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .map_err(|e| io_err(&p, e))?;
        f.write_all(text.as_bytes()).map_err(|e| io_err(&p, e))?;
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
        fn run(&self, input: NativeInput) -> Result<NativeOutput, NativeHookError> {
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

    /// The protocol's files in `dir` (named after their variables), the inputs holding
    /// `inputs`, and the environment naming them.
    fn protocol_env(dir: &std::path::Path, inputs: [&str; 3]) -> HashMap<&'static str, OsString> {
        let vars = [
            "BINDING_CONTEXT_PATH",
            "VALUES_PATH",
            "CONFIG_VALUES_PATH",
            "VALUES_JSON_PATCH_PATH",
            "CONFIG_VALUES_JSON_PATCH_PATH",
            "KUBERNETES_PATCH_PATH",
            "METRICS_PATH",
        ];
        vars.into_iter()
            .enumerate()
            .map(|(i, var)| {
                let p = dir.join(var);
                std::fs::write(&p, inputs.get(i).copied().unwrap_or_default()).unwrap();
                (var, OsString::from(p))
            })
            .collect()
    }

    #[test]
    fn a_run_reads_inputs_and_writes_outputs_in_the_shell_format() {
        let d = tempfile::tempdir().unwrap();
        let env = protocol_env(
            d.path(),
            [
                "[{\"binding\":\"onStartup\"}]",
                "{\"global\":{\"n\":41}}",
                "{}",
            ],
        );
        run_native(&Counter, &[], &|v| env.get(v).cloned(), &mut Vec::new()).unwrap();
        let vp = std::fs::read_to_string(d.path().join("VALUES_JSON_PATCH_PATH")).unwrap();
        assert_eq!(
            parse_json_patch(&vp).unwrap(),
            serde_json::from_value(json!([{"op": "replace", "path": "/global/n", "value": 42}]))
                .unwrap()
        );
        assert_eq!(
            parse_metrics(&std::fs::read_to_string(d.path().join("METRICS_PATH")).unwrap())
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

    /// Writes a bad metric line: the run fails naming the file, and nothing is written.
    struct BadMetric;

    impl NativeHook for BadMetric {
        fn name(&self) -> &str {
            "bad-metric"
        }
        fn config(&self) -> String {
            "configVersion: v1\nonStartup: 1".into()
        }
        fn run(&self, _: NativeInput) -> Result<NativeOutput, NativeHookError> {
            Ok(NativeOutput {
                values_patch: vec![json!({"op": "add", "path": "/global/x", "value": 1})],
                metrics: vec![json!({"name": "m", "action": "set"})],
                ..Default::default()
            })
        }
    }

    #[test]
    fn invalid_outputs_are_refused_naming_the_file_and_nothing_is_written() {
        let d = tempfile::tempdir().unwrap();
        let env = protocol_env(d.path(), ["", "", ""]);
        let err = run_native(&BadMetric, &[], &|v| env.get(v).cloned(), &mut Vec::new())
            .map_err(|e| crate::errtext::with_causes(&e))
            .unwrap_err();
        assert_eq!(
            err,
            "native hook bad-metric: invalid output for METRICS_PATH: line 1: value: required for set, add and observe"
        );
        let vp = std::fs::read_to_string(d.path().join("VALUES_JSON_PATCH_PATH")).unwrap();
        assert_eq!(vp, "", "nothing written");
    }
}
