//! The functions run as their real binaries under `cargo lambda watch` (one emulator per function, so
//! each has its own environment; no reload on code changes), and invocations through the emulator's Invoke API.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long an emulated instance may wait for its next event (a day: a local stack idles a lot).
const IDLE_SECONDS: u64 = 24 * 3600;

/// A running `cargo lambda watch` for one function.
#[derive(Debug)]
pub struct Emulator {
    /// Logical id of the function.
    pub function_id: String,
    /// The binary it runs.
    pub binary: String,
    /// The invoke port on 127.0.0.1.
    pub port: u16,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
    /// What it was started with, to start it again.
    workspace: Workspace,
    environment: BTreeMap<String, String>,
    /// How much of the log [`Emulator::crashed`] has read.
    log_read: u64,
}

/// Files and tools the emulators use.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Repository root (the cargo workspace).
    pub root: PathBuf,
    /// The `cargo-lambda` executable.
    pub cargo_lambda: PathBuf,
    /// Where logs go.
    pub log_dir: PathBuf,
    /// Where pid files go.
    pub pid_dir: PathBuf,
    /// Where the per-function environment files go (mode 0600: they hold the Stripe key).
    pub env_dir: PathBuf,
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

impl Emulator {
    /// Starts `cargo lambda watch` for `binary` on `port` with `environment`, in its own process group
    /// (its pid file names the group, so `down` stops the function processes with it).
    pub fn start(
        workspace: &Workspace,
        function_id: &str,
        binary: &str,
        port: u16,
        environment: &BTreeMap<String, String>,
    ) -> Result<Self> {
        Self::launch(workspace, function_id, binary, port, environment, false)
    }

    /// [`Emulator::start`]; `append` goes on in the log instead of starting a new one.
    fn launch(
        workspace: &Workspace,
        function_id: &str,
        binary: &str,
        port: u16,
        environment: &BTreeMap<String, String>,
        append: bool,
    ) -> Result<Self> {
        for dir in [&workspace.log_dir, &workspace.pid_dir, &workspace.env_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut env_text = String::new();
        for (k, v) in environment {
            if v.contains('\n') {
                bail!("{function_id}: variable {k} spans lines, which an env file cannot carry");
            }
            env_text.push_str(&format!("{k}={v}\n"));
        }
        let env_file = workspace.env_dir.join(format!("{function_id}.env"));
        write_private(&env_file, &env_text)?;
        let log = workspace.log_dir.join(format!("lambda-{function_id}.log"));
        // A new log per stack; a restarted function goes on in its log.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(&workspace.cargo_lambda)
            // --ignore-changes: a reload rebuilds behind the shared target dir's lock (minutes while tests
            // build), the pending invocation times out and the new instance dies on the stale request;
            // the stack runs what `up` built, and `down` + `up` picks up changes. --timeout a day: the
            // emulator's timeout (about 30 s by default) also ends the function's long poll for the next
            // event with no request id, and the idle function panics (lambda_runtime 1.5); the callers time
            // their invocations out themselves.
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            // Not the function's timeout: the emulator also ends a waiting instance's long poll for its
            // next event after this long, without a request id, and lambda_runtime panics on that, so
            // an idle function would die. The runner's own client enforces the function's timeout.
            .arg("--timeout")
            .arg(IDLE_SECONDS.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .args(["--bin", binary])
            .current_dir(&workspace.root)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", workspace.cargo_lambda.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("{function_id}: the emulator exited at once"))?;
        std::fs::write(
            workspace.pid_dir.join(format!("lambda-{function_id}.pid")),
            format!("{pid}\n"),
        )?;
        Ok(Emulator {
            function_id: function_id.to_string(),
            binary: binary.to_string(),
            port,
            log,
            child,
            workspace: workspace.clone(),
            environment: environment.clone(),
            log_read: 0,
        })
    }

    /// Stops it and starts it again on the same port with the same environment (a new log).
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            signal_group(pid, "KILL");
        }
        let _ = self.child.wait().await;
        let read = std::fs::metadata(&self.log).map_or(self.log_read, |m| m.len());
        let fresh = Emulator::launch(
            &self.workspace,
            &self.function_id,
            &self.binary,
            self.port,
            &self.environment,
            true,
        )?;
        *self = Emulator {
            log_read: read,
            ..fresh
        };
        Ok(())
    }

    /// The invoke target of this function.
    pub fn target(&self) -> Target {
        Target {
            url: format!(
                "http://127.0.0.1:{}/2015-03-31/functions/{}/invocations",
                self.port, self.binary
            ),
        }
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the emulator is gone (it exits quietly, status 0, when its port is taken) or its function
    /// process exited or was killed (the emulator then leaves invocations hanging). Reads only what the
    /// log gained since the last call.
    pub fn crashed(&mut self) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        if !matches!(self.child.try_wait(), Ok(None)) {
            return true;
        }
        let Ok(mut file) = std::fs::File::open(&self.log) else {
            return false;
        };
        let mut fresh = String::new();
        if file.seek(SeekFrom::Start(self.log_read)).is_err() || file.read_to_string(&mut fresh).is_err() {
            return false;
        }
        // Whole lines only: a marker may be half written.
        let complete = fresh.rfind('\n').map_or(0, |i| i + 1);
        self.log_read += complete as u64;
        fresh[..complete]
            .lines()
            .any(|l| l.contains("command exited code=") || l.contains("command killed"))
    }

    /// What cargo is doing, from the log (the last `Compiling`/`Finished`/`Running` line).
    pub fn build_progress(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines()
            .rev()
            .map(str::trim)
            .find(|l| {
                l.starts_with("Compiling")
                    || l.starts_with("Finished")
                    || l.starts_with("Running")
                    || l.starts_with("Blocking")
            })
            .map(str::to_string)
    }

    /// Stops the emulator and its function processes (TERM to the group, then KILL).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            signal_group(pid, "TERM");
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_err()
            {
                signal_group(pid, "KILL");
            }
        }
        let _ = self.child.wait().await;
    }
}

/// Sends `signal` to the process group `pgid` with kill(1).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(std::process::Stdio::null())
        .status();
}

/// Where to invoke one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Invoke API URL.
    pub url: String,
}

/// Why an invocation did not return a result.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The emulator did not answer (not running, timeout).
    #[error("invocation failed: {0}")]
    Transport(String),
    /// The function returned an error (or crashed).
    #[error("function error: {0}")]
    Function(String),
}

/// Invokes a function with `event` and returns its result payload.
pub async fn invoke(
    client: &reqwest::Client,
    target: &Target,
    event: &Json,
    timeout: Duration,
) -> Result<Vec<u8>, InvokeError> {
    let response = client
        .post(&target.url)
        .json(event)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| InvokeError::Transport(e.to_string()))?;
    let status = response.status();
    let function_error = response.headers().contains_key("x-amz-function-error");
    let body = response
        .bytes()
        .await
        .map_err(|e| InvokeError::Transport(e.to_string()))?
        .to_vec();
    let error_shaped = serde_json::from_slice::<Json>(&body)
        .is_ok_and(|v| v.get("errorType").is_some() && v.get("errorMessage").is_some());
    if !status.is_success() || function_error || error_shaped {
        return Err(InvokeError::Function(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).chars().take(500).collect::<String>()
        )));
    }
    Ok(body)
}
