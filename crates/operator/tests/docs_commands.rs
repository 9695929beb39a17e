//! Every shell command in the documentation runs, exactly as written (issues 9 and 11).
//!
//! # The convention (for everyone who writes docs)
//!
//! - **Documents**: `README.md`, every `docs/*.md`, `modules/README.md` and every
//!   `README.md` under `examples/`.
//! - **Commands** are the fenced blocks whose info string is `sh` (or `bash`). Nothing else
//!   runs: inline code, ```` ```console ````, ```` ```text ````, YAML, ... Put a command a reader
//!   should type into an `sh` block; put output, or commands shown only as an illustration,
//!   elsewhere.
//! - **Not run**: an `sh` block right after the line `<!-- not run: REASON -->` is skipped; the
//!   reason is required (e.g. `needs a real cluster`, `runs this very test suite`).
//! - **The session**: each document runs in a fresh copy of the repository (its tracked files)
//!   like a reader in a terminal: blocks in order, each with `bash -eo pipefail`, starting in
//!   the copy's root, keeping the working directory and exported variables of the blocks
//!   before it. A block fails the suite when it exits non-zero (or runs over 5 minutes).
//!   `addon-operator` is on `PATH` (the binary under test). `KUBECONFIG` is unset: a document
//!   that uses kubectl exports it as `addon-operator dev` tells the reader to. Nothing else is
//!   set: `dev` picks free local ports itself, and the client commands (`module list`, ...)
//!   find it in `.addon-operator/`, as they do for a reader; the harness reads the port to wait
//!   for from `.addon-operator/dev.json`.
//! - **The README's first command** (the first `sh` block of `README.md`) installs the binary
//!   and starts it: `cargo install --locked --path crates/operator && addon-operator dev ARGS`.
//!   It is not run literally (a second release build per run): the harness checks that the
//!   package it installs is the one that builds the `addon-operator` binary under test, and
//!   runs that binary's `dev ARGS` before the document's first block (README included), unless
//!   that block starts a `dev` of its own: one `dev` per document. Every later `addon-operator`
//!   command then runs as written, as it does for a reader after the install.
//! - **Long-running commands**: an `sh` block whose only command is `addon-operator dev …`
//!   (without `--once`) is started in the background after the running `dev` is stopped, and
//!   waited for until it answers `/readyz`; it runs until the next `dev` or the end of the
//!   document, then gets SIGTERM. A block running `addon-operator dev --once` runs in the
//!   foreground with no other `dev` running; the previous `dev` is started again after it.
//! - **Asynchronous effects**: the operator reacts after a command returns; documents wait for
//!   the outcome they show next with `kubectl wait --for=create|delete|jsonpath=…`, as a reader's
//!   script would, never with `sleep`.
//!
//! `DOCS_TEST_ONLY=<substring of a path>` runs only the matching documents, for a quick loop
//! while writing one.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{repo_root, require_kubectl};

/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a `dev` may take to answer `/readyz`.
const DEV_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One `sh` block of a document.
#[derive(Debug, Clone)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    text: String,
    /// `Some(reason)` when marked `<!-- not run: REASON -->`.
    not_run: Option<String>,
}

/// The `sh` blocks of a Markdown document, or the convention violations found.
fn shell_blocks(markdown: &str) -> Result<Vec<Block>, Vec<String>> {
    let (mut blocks, mut problems) = (Vec::new(), Vec::new());
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let indent = lines[i].len() - lines[i].trim_start().len();
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            body.push(lines[i].get(indent..).unwrap_or(lines[i].trim_start()));
            i += 1;
        }
        i += 1;
        if !matches!(info.split_whitespace().next(), Some("sh" | "bash")) {
            continue;
        }
        let previous = lines[..start].iter().rev().find(|l| !l.trim().is_empty());
        let not_run = previous
            .and_then(|l| l.trim().strip_prefix("<!-- not run:"))
            .map(|rest| rest.trim_end_matches("-->").trim().to_string());
        if not_run.as_deref() == Some("") {
            problems.push(format!(
                "line {}: `<!-- not run: -->` needs a reason, e.g. `<!-- not run: needs a real cluster -->`",
                start + 1
            ));
        }
        blocks.push(Block {
            line: start + 1,
            text: body.join("\n") + "\n",
            not_run,
        });
    }
    if problems.is_empty() {
        Ok(blocks)
    } else {
        Err(problems)
    }
}

/// The command lines of a block: no blank lines, no comments.
fn commands(block: &str) -> Vec<&str> {
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// What a block does to the running `dev`.
#[derive(Debug, PartialEq)]
enum DevRole {
    /// Nothing: it needs the running `dev`.
    None,
    /// Starts a long-running `dev`.
    Serve,
    /// Runs `dev --once` in the foreground.
    Once,
}

fn dev_role(block: &str) -> Result<DevRole, String> {
    let lines = commands(block);
    match lines.iter().find(|l| l.starts_with("addon-operator dev")) {
        None => Ok(DevRole::None),
        Some(line) if line.contains("--once") => Ok(DevRole::Once),
        Some(_) if lines.len() == 1 => Ok(DevRole::Serve),
        Some(_) => Err(
            "a block that starts a long-running `addon-operator dev` must hold that one command"
                .to_string(),
        ),
    }
}

/// The arguments after `dev` in the README's first block, `cargo install … --path PKG &&
/// addon-operator dev ARGS`, after checking that PKG builds the `addon-operator` binary.
fn readme_dev_args(readme: &str) -> String {
    let blocks = shell_blocks(readme).unwrap_or_else(|p| panic!("README.md: {p:?}"));
    let first = blocks.first().expect(
        "README.md has an sh block: its first command installs and starts addon-operator dev",
    );
    let fail = |why: &str| -> ! {
        panic!(
            "README.md:{}: {why}; the README's first command must be `cargo install --locked \
             --path crates/operator && addon-operator dev [ARGS]` (the docs test runs every \
             document after it), found:\n{}",
            first.line, first.text
        )
    };
    let line = commands(&first.text)
        .into_iter()
        .find(|l| l.contains("addon-operator dev"))
        .unwrap_or_else(|| fail("it does not start `addon-operator dev`"));
    let (install, dev) = line
        .split_once("&&")
        .unwrap_or_else(|| fail("it does not install the binary first"));
    let words: Vec<&str> = install.split_whitespace().collect();
    if words.get(..2) != Some(&["cargo", "install"][..]) {
        fail("it does not start with `cargo install`");
    }
    let package = words
        .iter()
        .position(|w| *w == "--path")
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| fail("`cargo install` has no --path"));
    let manifest = std::fs::read_to_string(repo_root().join(package).join("Cargo.toml"))
        .unwrap_or_else(|_| fail(&format!("{package}/Cargo.toml cannot be read")));
    if !manifest.contains("name = \"addon-operator\"") {
        fail(&format!(
            "{package} does not build the addon-operator binary"
        ));
    }
    dev.trim()
        .strip_prefix("addon-operator dev")
        .unwrap_or_else(|| fail("`addon-operator dev` does not follow the install"))
        .trim()
        .to_string()
}

/// A fresh copy of the repository's tracked (and new, not ignored) files.
fn copy_repository(to: &Path) {
    let out = Command::new("git")
        .current_dir(repo_root())
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("git runs (the docs test copies the tracked files)");
    assert!(out.status.success(), "git ls-files failed");
    for rel in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("UTF-8 paths"));
        let from = repo_root().join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(&from, &target).expect("copy a file");
    }
}

/// A running `dev` (or any long-running block), in its own process group; stopped on drop.
struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM to the group, then SIGKILL if it is still there after 30 s.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// A reader's terminal session over one document's copy of the repository.
struct Session {
    root: PathBuf,
    state: PathBuf,
    bin: PathBuf,
    /// kubectl's discovery cache, this session's own.
    kube_cache: PathBuf,
    /// The `dev` command that should be running (the README's, or the last documented one).
    dev_command: String,
    dev: Option<Background>,
    runs: usize,
}

impl Session {
    fn new(dir: &Path, readme_dev: &str) -> Session {
        let root = dir.join("repo");
        copy_repository(&root);
        let (state, bin) = (dir.join("state"), dir.join("bin"));
        std::fs::create_dir_all(&state).expect("state dir");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_addon-operator"),
            bin.join("addon-operator"),
        )
        .expect("addon-operator on PATH");
        Session {
            root,
            state,
            bin,
            kube_cache: dir.join("kube-cache"),
            dev_command: format!("addon-operator dev {readme_dev}"),
            dev: None,
            runs: 0,
        }
    }

    /// bash with the session's environment, running `script` after restoring the working
    /// directory and exported variables of the blocks before.
    fn bash(&self, script: &str, save_state: bool) -> Command {
        let state = self.state.display();
        let mut prelude = format!(
            "[ -f {state}/env ] && source {state}/env 2>/dev/null\n\
             cd \"$(cat {state}/cwd 2>/dev/null || pwd)\"\nset -eo pipefail\n"
        );
        if save_state {
            prelude.push_str(&format!(
                "trap 'rc=$?; pwd >{state}/cwd; export -p >{state}/env; exit $rc' EXIT\n"
            ));
        }
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("{prelude}{script}"))
            .current_dir(&self.root)
            .env("PATH", path)
            .env_remove("KUBECONFIG")
            .env_remove("ADDON_OPERATOR_MODULES_DIR")
            .env_remove("ADDON_OPERATOR_GLOBAL_HOOKS_DIR")
            .env_remove("ADDON_OPERATOR_NAMESPACE")
            .env_remove("ADDON_OPERATOR_LISTEN_ADDRESS")
            .env_remove("ADDON_OPERATOR_LISTEN_PORT")
            .env_remove("ADDON_OPERATOR_TMP_DIR")
            .env_remove("DEBUG_UNIX_SOCKET")
            .env("LOG_LEVEL", "info,kube=warn,hyper=warn")
            // kubectl's discovery cache is keyed by host_port and kept for hours; other
            // tests' emulators reuse ports, so a shared cache could name another CRD's scope.
            .env("KUBECACHEDIR", &self.kube_cache)
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `command` as the running `dev` and waits until it answers `/readyz`.
    fn start_dev(&mut self, command: &str) -> Result<(), String> {
        self.stop_dev();
        // Left by a dev that had to be killed: a reader would see the stale pid taken over.
        let _ = std::fs::remove_file(self.dev_json());
        self.runs += 1;
        let log = self.state.join(format!("dev-{}.log", self.runs));
        let file = std::fs::File::create(&log).expect("dev log");
        let child = self
            .bash(command, false)
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .expect("bash starts");
        let mut dev = Background { child, log };
        let deadline = Instant::now() + DEV_READY_TIMEOUT;
        while !self.dev_http().is_some_and(|http| ready(&http)) {
            if let Ok(Some(status)) = dev.child.try_wait() {
                return Err(format!("`{command}` exited with {status}:\n{}", dev.log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "`{command}` did not answer /readyz within {DEV_READY_TIMEOUT:?}:\n{}",
                    dev.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.dev_command = command.to_string();
        self.dev = Some(dev);
        Ok(())
    }

    fn stop_dev(&mut self) {
        if let Some(mut dev) = self.dev.take() {
            dev.stop();
        }
    }

    /// Where the running `dev` writes `dev.json`: `.addon-operator/` in the session's
    /// working directory.
    fn dev_json(&self) -> PathBuf {
        let cwd = std::fs::read_to_string(self.state.join("cwd"))
            .map(|c| PathBuf::from(c.trim()))
            .unwrap_or_else(|_| self.root.clone());
        cwd.join(".addon-operator/dev.json")
    }

    /// `http://address:port` of the running `dev`, from its `dev.json`.
    fn dev_http(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dev_json()).ok()?;
        let info: serde_json::Value = serde_json::from_str(&text).ok()?;
        info["http"]
            .as_str()
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }

    fn dev_log(&self) -> String {
        self.dev.as_ref().map(Background::log).unwrap_or_default()
    }

    /// Runs one block in the foreground; Err carries what the reader would have seen.
    fn run_block(&mut self, block: &Block) -> Result<(), String> {
        self.runs += 1;
        let (out, err) = (
            self.state.join(format!("out-{}", self.runs)),
            self.state.join(format!("err-{}", self.runs)),
        );
        let mut child = self
            .bash(&block.text, true)
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("bash starts");
        let deadline = Instant::now() + BLOCK_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("bash can be waited for") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.is_some_and(|s| s.success()) {
            return Ok(());
        }
        let tail = |p: &Path| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        let outcome = match status {
            Some(status) => format!("exited with {status}"),
            None => format!("ran over {BLOCK_TIMEOUT:?}"),
        };
        Err(format!(
            "{outcome}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- dev log (tail) ---\n{}",
            tail(&out),
            tail(&err),
            self.dev_log()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

/// Whether `GET /readyz` on `http` (`http://address:port`) answers 200.
fn ready(http: &str) -> bool {
    use std::io::{Read, Write};
    let Some(address) = http.strip_prefix("http://") else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

/// Runs every block of the document `rel` (relative to the repository root) in a session;
/// returns the failures, each naming the document, line and block.
fn run_document(rel: &str, readme_dev: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut session = Session::new(dir.path(), readme_dev);
    let text = std::fs::read_to_string(session.root.join(rel)).expect("the document");
    let blocks = match shell_blocks(&text) {
        Ok(blocks) => blocks,
        Err(problems) => return problems.iter().map(|p| format!("{rel}: {p}")).collect(),
    };
    let mut blocks: Vec<Block> = blocks.into_iter().filter(|b| b.not_run.is_none()).collect();
    if rel == "README.md" && !blocks.is_empty() {
        blocks.remove(0); // the README's first command: the session's first dev
    }
    let mut failures = Vec::new();
    let fail = |block: &Block, message: String| {
        format!(
            "{rel}:{}: documented command failed:\n{}{message}",
            block.line, block.text
        )
    };
    for block in &blocks {
        let result = match dev_role(&block.text) {
            Err(message) => Err(message),
            Ok(DevRole::Serve) => session.start_dev(block.text.trim()),
            Ok(DevRole::Once) => {
                session.stop_dev();
                session.run_block(block)
            }
            Ok(DevRole::None) => match &session.dev {
                Some(_) => session.run_block(block),
                None => {
                    let command = session.dev_command.clone();
                    session
                        .start_dev(&command)
                        .and_then(|()| session.run_block(block))
                }
            },
        };
        if let Err(message) = result {
            failures.push(fail(block, message));
            break; // later blocks build on this one
        }
    }
    session.stop_dev();
    failures
}

/// The documents the convention covers, relative to the repository root.
fn documents() -> Vec<String> {
    let root = repo_root();
    let mut docs = vec!["README.md".to_string(), "modules/README.md".to_string()];
    let mut listed = |dir: &str, nested: bool| {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if nested && entry.path().join("README.md").is_file() {
                docs.push(format!("{dir}/{name}/README.md"));
            } else if !nested && name.ends_with(".md") {
                docs.push(format!("{dir}/{name}"));
            }
        }
    };
    listed("docs", false);
    listed("examples", true);
    if root.join("examples/README.md").is_file() {
        docs.push("examples/README.md".into());
    }
    docs.sort();
    docs
}

#[test]
fn every_shell_command_in_the_docs_runs_as_written() {
    require_kubectl();
    let readme_dev = readme_dev_args(
        &std::fs::read_to_string(repo_root().join("README.md")).expect("README.md"),
    );
    let only = std::env::var("DOCS_TEST_ONLY").ok();
    let queue = Mutex::new(
        documents()
            .into_iter()
            .filter(|d| only.as_deref().is_none_or(|o| d.contains(o)))
            .collect::<Vec<_>>(),
    );
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while let Some(doc) = queue.lock().expect("queue").pop() {
                    let found = run_document(&doc, &readme_dev);
                    failures.lock().expect("failures").extend(found);
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} documented command(s) no longer run as written:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_convention_finds_sh_blocks_reasons_and_dev_roles() {
    let doc = "# T\n\n```sh\necho one\n```\n\n<!-- not run: needs a real cluster -->\n```sh\nkubectl get nodes\n```\n\n```yaml\na: 1\n```\n\n<!-- not run: -->\n```bash\nfalse\n```\n";
    let problems = shell_blocks(doc).expect_err("a marker without a reason is refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("line 17:"), "{problems:?}");
    let blocks = shell_blocks(&doc.replace("<!-- not run: -->", "")).expect("valid");
    assert_eq!(blocks.len(), 3, "yaml blocks are not commands: {blocks:?}");
    assert_eq!(blocks[0].line, 3);
    assert_eq!(blocks[1].not_run.as_deref(), Some("needs a real cluster"));
    assert_eq!(
        dev_role("addon-operator dev --modules-dir x\n"),
        Ok(DevRole::Serve)
    );
    assert_eq!(
        dev_role("# run it\naddon-operator dev --once\n"),
        Ok(DevRole::Once)
    );
    assert_eq!(dev_role("kubectl get pods\n"), Ok(DevRole::None));
    assert!(dev_role("addon-operator dev\nkubectl get pods\n").is_err());
    assert_eq!(
        readme_dev_args(
            "x\n```sh\ncargo install --locked --path crates/operator && addon-operator dev --once\n```\n"
        ),
        "--once"
    );
}

#[test]
#[should_panic(expected = "it does not install the binary first")]
fn a_readme_whose_first_command_does_not_install_the_binary_is_refused() {
    readme_dev_args("x\n```sh\naddon-operator dev\n```\n");
}

#[test]
#[should_panic(expected = "does not build the addon-operator binary")]
fn a_readme_that_installs_another_package_is_refused() {
    readme_dev_args(
        "x\n```sh\ncargo install --locked --path crates/values && addon-operator dev\n```\n",
    );
}

#[test]
fn a_documented_command_that_fails_fails_the_suite() {
    require_kubectl();
    // A document in a scratch copy of the repository: the second block fails.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut session = Session::new(dir.path(), "");
    let doc = "```sh\ncd docs\nexport GREETING=hi\n```\n\n```sh\ntest \"$GREETING\" = hi\ntest -f templates.md\nexit 3\n```\n";
    let blocks = shell_blocks(doc).expect("valid");
    assert_eq!(session.run_block(&blocks[0]), Ok(()));
    let err = session
        .run_block(&blocks[1])
        .expect_err("a non-zero exit fails the block");
    // The working directory and the export carried over, so only `exit 3` failed.
    assert!(err.starts_with("exited with exit status: 3"), "{err}");
}
