//! Step 1 of a run: a fresh temp directory with the input files and empty output files, and
//! the environment that names them; [`RunDirs`] makes the directories ahead of the runs and
//! removes them after.

use crate::binding_context::{BindingContext, to_json};
use crate::outputs::OutputPaths;
use crate::sync::lock;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// Run directories: each run gets a fresh one, made ahead of time with its empty output files
/// (a spare), and removed after the run off the run's path. Creating and removing the ten
/// entries of a run directory costs about as much as starting a trivial hook, so doing it
/// between runs instead of inside them keeps a run's own time close to its process's.
///
/// # Guarantees
/// - A directory serves one run only: the outputs a hook reads or writes are always its own.
/// - Every directory is removed after its run (unless kept for debugging), and the spare when
///   the engine is dropped.
pub(crate) struct RunDirs {
    tmp_dir: PathBuf,
    spare: Arc<Mutex<Option<tempfile::TempDir>>>,
}

impl RunDirs {
    /// Run directories under `tmp_dir`; the first spare is made by the first run's cleanup.
    pub fn new(tmp_dir: PathBuf) -> Self {
        Self {
            tmp_dir,
            spare: Arc::default(),
        }
    }

    /// The spare directory, or a new one.
    fn take(&self) -> std::io::Result<tempfile::TempDir> {
        match lock(&self.spare).take() {
            Some(dir) if dir.path().is_dir() => Ok(dir),
            _ => make_dir(&self.tmp_dir),
        }
    }

    /// Removes a run's directory and makes the next spare, on a blocking thread when inside a
    /// tokio runtime (inline otherwise).
    pub fn recycle(&self, files: RunFiles) {
        let tmp_dir = self.tmp_dir.clone();
        let spare = self.spare.clone();
        let work = move || {
            drop(files);
            if lock(&spare).is_none()
                && let Ok(dir) = make_dir(&tmp_dir)
            {
                // A run may have made its own directory meanwhile; one spare is enough.
                lock(&spare).get_or_insert(dir);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(work)),
            Err(_) => work(),
        }
    }
}

/// The output and response files of a run directory, empty until the hook writes them.
const OUTPUT_FILES: [&str; 6] = [
    "values_json_patch.json",
    "config_values_json_patch.json",
    "kubernetes_patch.yaml",
    "metrics.json",
    "admission_response.json",
    "conversion_response.json",
];

/// `hook-run-XXXXXX` under `tmp_dir`, with the empty output files.
fn make_dir(tmp_dir: &Path) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("hook-run-")
        .tempdir_in(tmp_dir)?;
    for name in OUTPUT_FILES {
        std::fs::write(dir.path().join(name), b"")?;
    }
    Ok(dir)
}

/// Takes a run directory from `dirs` and writes the binding context, values and config values
/// into it.
///
/// # Errors
/// [`PrepareError`] naming the hook and the file.
pub(crate) fn prepare(
    hook: &str,
    inputs: Inputs<'_>,
    dirs: &RunDirs,
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
    let dir = dirs.take().map_err(|e| tmp_err(dirs.tmp_dir.clone(), e))?;
    let file = |n: &str| dir.path().join(n);
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
    let [
        values_patch,
        config_values_patch,
        kubernetes_patch,
        metrics,
        admission,
        conversion,
    ] = OUTPUT_FILES.map(file);
    let outputs = OutputPaths {
        values_patch,
        config_values_patch,
        kubernetes_patch,
        metrics,
    };
    let responses = ResponsePaths {
        admission,
        conversion,
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
        std::fs::write(path, bytes).map_err(|e| tmp_err(path.clone(), e))?;
        env.push((*var, OsString::from(path)));
    }
    for (var, path) in output_vars {
        env.push((var, OsString::from(path)));
    }
    Ok(RunFiles {
        dir,
        outputs,
        responses,
        env,
    })
}
