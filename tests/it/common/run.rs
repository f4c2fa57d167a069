//! Running the real `ssofresh` binary with a cleared environment and a hard timeout.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::home::TestHome;
use super::portal::Portal;

/// How long [`run`] lets the binary run before killing it and failing the test.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The `ssofresh` binary with an environment holding only `PATH`, `HOME=<home>`, the SSO and
/// SSO OIDC endpoints pointed at `portal`, and `AWS_EC2_METADATA_DISABLED=true`. The working
/// directory is `home`. Add arguments and further variables on the returned command.
pub fn ssofresh(home: &TestHome, portal: &Portal) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssofresh"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("HOME", home.path())
        .env("AWS_ENDPOINT_URL_SSO", portal.url())
        .env("AWS_ENDPOINT_URL_SSO_OIDC", portal.url())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(home.path())
        .stdin(Stdio::null());
    cmd
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code; `128 + signal` if the process was killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn assert_status(&self, code: i32) -> &Self {
        assert_eq!(self.status, code, "unexpected exit code; {self}");
        self
    }

    /// Panics with the whole output unless the run succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_status(0)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, killing it and failing the test after [`RUN_TIMEOUT`].
#[track_caller]
pub fn run(cmd: Command) -> Outcome {
    run_with_timeout(cmd, RUN_TIMEOUT)
}

/// Runs `cmd` to completion, killing it and failing the test after `timeout`.
#[track_caller]
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Outcome {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if start.elapsed() >= timeout {
            // Ignore errors: the child may have exited between try_wait and kill.
            let _ = child.kill();
            let _ = child.wait();
            let stdout = stdout.join().unwrap_or_default();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "ssofresh still running after {timeout:?}; killed it\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    Outcome {
        status: exit_code(status),
        stdout: stdout.join().expect("stdout reader thread"),
        stderr: stderr.join().expect("stderr reader thread"),
        elapsed,
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error (e.g. the child was killed) just ends the output.
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The exit code of `status`; `128 + signal` if a signal ended the process.
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    -1
}
