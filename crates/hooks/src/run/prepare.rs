//! Step 1 of a run: a fresh temp directory with the input files and empty output files, and
//! the environment that names them.

use crate::binding_context::{BindingContext, to_json};
use crate::outputs::OutputPaths;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The run's files could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A temp directory or file could not be created or written.
    #[error("hook {hook}: temp file {}", .path.display())]
    TempFile {
        /// Hook name.
        hook: String,
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An input could not be serialized to JSON.
    #[error("hook {hook}: cannot serialize {what}")]
    Serialize {
        /// Hook name.
        hook: String,
        /// `binding context`, `values` or `config values`.
        what: &'static str,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The inputs of one run, as the hook sees them.
pub(crate) struct Inputs<'a> {
    pub contexts: &'a [BindingContext],
    pub values: Value,
    pub config_values: Value,
}

/// The response files of webhook runs; every run gets them, as in shell-operator.
pub(crate) struct ResponsePaths {
    /// `$VALIDATING_RESPONSE_PATH`, also `$ADMISSION_RESPONSE_PATH`.
    pub admission: PathBuf,
    /// `$CONVERSION_RESPONSE_PATH`.
    pub conversion: PathBuf,
}

/// The files of one run. Dropping it removes them, unless [`RunFiles::keep`] was called.
pub(crate) struct RunFiles {
    dir: tempfile::TempDir,
    /// The output files the hook may write.
    pub outputs: OutputPaths,
    /// The webhook response files.
    pub responses: ResponsePaths,
    /// The protocol's environment variables, naming every file.
    pub env: Vec<(&'static str, OsString)>,
}

impl RunFiles {
    /// Keeps the files after the run (`keep_tmp_files`) and returns their directory.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

/// Creates `hook-run-XXXXXX` under `tmp_dir` with the binding context, values and config
/// values, and empty output files.
///
/// # Errors
/// [`PrepareError`] naming the hook and the file.
pub(crate) fn prepare(
    hook: &str,
    inputs: Inputs<'_>,
    tmp_dir: &Path,
) -> Result<RunFiles, PrepareError> {
    let tmp_err = |path: PathBuf, source| PrepareError::TempFile {
        hook: hook.into(),
        path,
        source,
    };
    let ser_err = |what, source| PrepareError::Serialize {
        hook: hook.into(),
        what,
        source,
    };
    let dir = tempfile::Builder::new()
        .prefix("hook-run-")
        .tempdir_in(tmp_dir)
        .map_err(|e| tmp_err(tmp_dir.to_path_buf(), e))?;
    let file = |n: &str| dir.path().join(n);
    let write = |path: &PathBuf, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| tmp_err(path.clone(), e))
    };
    let inputs = [
        (
            "BINDING_CONTEXT_PATH",
            file("binding_context.json"),
            to_json(inputs.contexts).map_err(|e| ser_err("binding context", e))?,
        ),
        (
            "VALUES_PATH",
            file("values.json"),
            serde_json::to_vec_pretty(&inputs.values).map_err(|e| ser_err("values", e))?,
        ),
        (
            "CONFIG_VALUES_PATH",
            file("config_values.json"),
            serde_json::to_vec_pretty(&inputs.config_values)
                .map_err(|e| ser_err("config values", e))?,
        ),
    ];
    let outputs = OutputPaths {
        values_patch: file("values_json_patch.json"),
        config_values_patch: file("config_values_json_patch.json"),
        kubernetes_patch: file("kubernetes_patch.yaml"),
        metrics: file("metrics.json"),
    };
    let responses = ResponsePaths {
        admission: file("admission_response.json"),
        conversion: file("conversion_response.json"),
    };
    let output_vars = [
        ("VALIDATING_RESPONSE_PATH", &responses.admission),
        ("ADMISSION_RESPONSE_PATH", &responses.admission),
        ("CONVERSION_RESPONSE_PATH", &responses.conversion),
        ("VALUES_JSON_PATCH_PATH", &outputs.values_patch),
        (
            "CONFIG_VALUES_JSON_PATCH_PATH",
            &outputs.config_values_patch,
        ),
        ("KUBERNETES_PATCH_PATH", &outputs.kubernetes_patch),
        ("METRICS_PATH", &outputs.metrics),
    ];
    let mut env = Vec::new();
    for (var, path, bytes) in &inputs {
        write(path, bytes)?;
        env.push((*var, OsString::from(path)));
    }
    for (var, path) in output_vars {
        write(path, b"")?;
        env.push((var, OsString::from(path)));
    }
    Ok(RunFiles {
        dir,
        outputs,
        responses,
        env,
    })
}
