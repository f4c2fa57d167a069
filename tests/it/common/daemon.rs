//! [`Daemon`]: the real `ssofresh` binary running as a daemon, with its output collected as it
//! comes, signals sent with `kill`, and no process left behind when a test ends.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::run::{Outcome, exit_code};

/// How often [`Daemon::wait_for`] and [`Daemon::stays_up`] look.
const POLL: Duration = Duration::from_millis(20);

/// How long [`Daemon::stop`] waits for the process to end after the signal.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);

/// Output collected so far from one pipe.
type Sink = Arc<Mutex<Vec<u8>>>;

/// A running `ssofresh`; killed when dropped if it is still running.
#[derive(Debug)]
pub struct Daemon {
    child: Mutex<Option<Child>>,
    pid: u32,
    stdout: Sink,
    stderr: Sink,
    drains: Vec<thread::JoinHandle<()>>,
    started: Instant,
}

impl Daemon {
    /// Spawns `cmd` with stdout and stderr piped and drained into buffers by two threads.
    #[track_caller]
    pub fn spawn(mut cmd: Command) -> Daemon {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        let stdout = Sink::default();
        let stderr = Sink::default();
        let drains = vec![
            drain(
                child.stdout.take().expect("stdout is piped"),
                Arc::clone(&stdout),
            ),
            drain(
                child.stderr.take().expect("stderr is piped"),
                Arc::clone(&stderr),
            ),
        ];
        Daemon {
            pid: child.id(),
            child: Mutex::new(Some(child)),
            stdout,
            stderr,
            drains,
            started: Instant::now(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything written to stderr (the log) so far.
    pub fn log(&self) -> String {
        text(&self.stderr)
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// The exit code if the process has ended (`128 + signal` if a signal ended it).
    pub fn exited(&self) -> Option<i32> {
        let mut child = self.child();
        let child = child.as_mut()?;
        child.try_wait().expect("wait for ssofresh").map(exit_code)
    }

    /// Polls `cond` every 20 ms until it holds. Panics with `what`, the log so far and the
    /// elapsed time after `timeout`, or as soon as the process has ended with `cond` false.
    #[track_caller]
    pub fn wait_for(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if cond() {
                return;
            }
            if let Some(code) = self.exited() {
                panic!(
                    "ssofresh exited with status {code} while the test waited for {what} \
                     (after {:?}; it must keep running until signalled)\n{}",
                    start.elapsed(),
                    self.output()
                );
            }
            if start.elapsed() >= timeout {
                panic!(
                    "timed out after {:?} waiting for {what}\n{}",
                    start.elapsed(),
                    self.output()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Lets `duration` pass, panicking if the process ends meanwhile.
    #[track_caller]
    pub fn stays_up(&self, duration: Duration) {
        let start = Instant::now();
        while start.elapsed() < duration {
            if let Some(code) = self.exited() {
                panic!(
                    "ssofresh exited with status {code} {:?} into a {duration:?} wait \
                     (it must keep running until signalled)\n{}",
                    start.elapsed(),
                    self.output()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Sends `sig` (a name for `kill -s`: TERM, INT, HUP…). Panics if the process has ended.
    #[track_caller]
    pub fn signal(&self, sig: &str) {
        if let Some(code) = self.exited() {
            panic!(
                "cannot send SIG{sig}: ssofresh already exited with status {code}\n{}",
                self.output()
            );
        }
        let status = Command::new("kill")
            .args(["-s", sig, &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {sig} {} failed", self.pid);
    }

    /// [`Daemon::stop_with`] SIGTERM.
    #[track_caller]
    pub fn stop(self) -> Outcome {
        self.stop_with("TERM")
    }

    /// Sends `sig` and waits up to [`STOP_LIMIT`] for the process to end. The outcome's
    /// `elapsed` runs from the signal to the exit. Panics if the process had already ended
    /// before the signal (a daemon runs until signalled) or is still running at the limit.
    #[track_caller]
    pub fn stop_with(mut self, sig: &str) -> Outcome {
        self.signal(sig);
        let sent = Instant::now();
        let status = loop {
            if let Some(code) = self.exited() {
                break code;
            }
            if sent.elapsed() >= STOP_LIMIT {
                self.kill();
                panic!(
                    "ssofresh still running {STOP_LIMIT:?} after SIG{sig}; killed it\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = sent.elapsed();
        self.join_drains();
        Outcome {
            status,
            stdout: self.stdout(),
            stderr: self.log(),
            elapsed,
        }
    }

    /// Both outputs and the run time, for panic messages.
    fn output(&self) -> String {
        format!(
            "running for {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.started.elapsed(),
            self.stdout(),
            self.log()
        )
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kill(&self) {
        if let Some(child) = self.child().as_mut() {
            // Errors mean it has already ended; wait() reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the drain threads, which end when the pipes close.
    fn join_drains(&mut self) {
        for drain in self.drains.drain(..) {
            let _ = drain.join();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        self.join_drains();
    }
}

fn drain(mut pipe: impl Read + Send + 'static, sink: Sink) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0; 4096];
        loop {
            match pipe.read(&mut buf) {
                // EOF, or an error (the child was killed): the output ends.
                Ok(0) | Err(_) => return,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

fn text(sink: &Sink) -> String {
    String::from_utf8_lossy(&sink.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}
