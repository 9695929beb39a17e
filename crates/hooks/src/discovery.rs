//! Finding hook executables and loading their `--config`.

use crate::config::{HookConfig, HookScope};
use crate::exec::{ExecError, ProcessSpec, run_process};
use crate::hook::Hook;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;

/// A problem with one hook or directory.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A directory could not be read.
    #[error("cannot read hooks directory {}", .path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `hook --config` failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Every problem found while loading a hooks directory, each printed with its causes and
/// naming its hook; callers say which directory or module was being loaded (the text does not
/// repeat it).
#[derive(Debug)]
pub struct LoadError(pub Vec<DiscoveryError>);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let errors: Vec<String> = self
            .0
            .iter()
            .map(|e| crate::errtext::with_causes(e))
            .collect();
        write!(f, "{}", errors.join("; "))
    }
}

impl std::error::Error for LoadError {}

/// Executables under `dir`, recursively, in path order. Directories named `lib` and hidden
/// entries are skipped; non-executable files are skipped with a warning. A missing `dir` has no
/// hooks.
pub fn find_hook_files(dir: &Path) -> Result<Vec<PathBuf>, DiscoveryError> {
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DiscoveryError> {
    let io = |source| DiscoveryError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        // metadata() follows symlinks, like addon-operator.
        let meta = std::fs::metadata(&path).map_err(|source| DiscoveryError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            if name != "lib" {
                walk(&path, out)?;
            }
        } else if meta.permissions().mode() & 0o111 != 0 {
            out.push(path);
        } else {
            tracing::warn!(file = %path.display(), "ignoring non-executable file in hooks directory");
        }
    }
    Ok(())
}

/// Finds the hooks under `dir` and runs each with `--config` (concurrently, with `env` added
/// to their environment), returning them in path order.
///
/// `module` is `None` for global hooks; module hook names are prefixed with the module name.
///
/// # Errors
/// Every hook whose `--config` fails or is invalid, all together, each naming the hook.
pub async fn load_hooks(
    dir: &Path,
    module: Option<&str>,
    timeout: Duration,
    env: &[(&'static str, OsString)],
) -> Result<Vec<Hook>, LoadError> {
    let scope = if module.is_some() {
        HookScope::Module
    } else {
        HookScope::Global
    };
    let files = find_hook_files(dir).map_err(|e| LoadError(vec![e]))?;
    let base = if module.is_some() {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let loads = files.into_iter().map(|path| {
        let rel = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let name = match module {
            Some(m) => format!("{m}/{rel}"),
            None => rel,
        };
        async move {
            let config = load_config(&path, &name, scope, timeout, env).await?;
            if config.is_empty() {
                tracing::warn!(hook = %name, "hook declares no binding; it will never run");
            }
            Ok::<_, DiscoveryError>(Hook::new(
                name,
                path,
                scope,
                module.map(String::from),
                config,
            ))
        }
    });
    let results = futures::future::join_all(loads).await;
    let (ok, errs): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if !errs.is_empty() {
        return Err(LoadError(
            errs.into_iter().filter_map(Result::err).collect(),
        ));
    }
    Ok(ok.into_iter().filter_map(Result::ok).collect())
}

/// Runs `hook --config` (with `env` added to its environment) and validates the output.
pub async fn load_config(
    path: &Path,
    name: &str,
    scope: HookScope,
    timeout: Duration,
    env: &[(&'static str, OsString)],
) -> Result<HookConfig, DiscoveryError> {
    let cwd = path.parent().unwrap_or(Path::new("."));
    // Its stderr lines carry the hook's name, as a run's do.
    let span = tracing::error_span!("hook", hook = %name, binding = "--config");
    let out = run_process(ProcessSpec {
        program: path,
        args: &["--config"],
        env: env.to_vec(),
        cwd,
        timeout,
        hook: name,
        capture_stdout: true,
        spawner: None,
    })
    .instrument(span)
    .await?;
    Ok(HookConfig::parse(&out.stdout, name, scope)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, body: &str, exec: bool) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn executables_are_found_recursively_in_path_order_skipping_lib() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("b/z.sh"), "", true);
        write(&d.path().join("a.sh"), "", true);
        write(&d.path().join("lib/helper.sh"), "", true);
        write(&d.path().join("README.md"), "", false);
        let found: Vec<_> = find_hook_files(d.path())
            .unwrap()
            .into_iter()
            .map(|p| p.strip_prefix(d.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(found, [PathBuf::from("a.sh"), PathBuf::from("b/z.sh")]);
    }

    #[tokio::test]
    async fn extra_environment_reaches_the_config_run() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("a.sh"),
            "#!/bin/bash\necho \"configVersion: v1\nschedule: [{name: $BINDING_NAME, crontab: '* * * * *'}]\"\n",
            true,
        );
        let env = [("BINDING_NAME", OsString::from("from-env"))];
        let hooks = load_hooks(d.path(), None, Duration::from_secs(10), &env)
            .await
            .unwrap();
        assert_eq!(hooks[0].config.schedules[0].name, "from-env");
    }

    #[tokio::test]
    async fn all_broken_hooks_are_reported_by_name() {
        let d = tempfile::tempdir().unwrap();
        let hooks = d.path().join("hooks");
        write(
            &hooks.join("a.sh"),
            "#!/bin/bash\necho 'configVersion: v1\nbeforeAll: 1'\n",
            true,
        );
        write(
            &hooks.join("b.sh"),
            "#!/bin/bash\necho 'configVersion: v1\nonStartup: 1'\n",
            true,
        );
        write(&hooks.join("c.sh"), "#!/bin/bash\nexit 2\n", true);
        let err = load_hooks(&hooks, Some("mod"), Duration::from_secs(10), &[])
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 2, "{text}");
        assert!(
            text.contains(
                "mod/hooks/a.sh: invalid config: beforeAll: allowed only in global hooks"
            ),
            "{text}"
        );
        assert!(text.contains("hook mod/hooks/c.sh failed"), "{text}");
    }
}
