//! The program as the command line runs it: options resolved, then either one pass and its
//! report (`--once`) or the daemon, with its instance lock and signal handling.

use std::process::ExitCode;

use anyhow::Context;

use tokio::sync::mpsc;

use crate::cli::{self, Args};
use crate::daemon::plan::{self, Outcome};
use crate::daemon::run::{Fatal, Options, Report};
use crate::daemon::{self, Mode, Signal};
use crate::files::fsio;
use crate::files::paths::Paths;
use crate::login::portal::{CallPolicy, Endpoint};

/// Runs ssofresh with parsed arguments and returns the exit status.
pub fn main(args: Args) -> ExitCode {
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ssofresh: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> anyhow::Result<u8> {
    let options = resolve(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    prepare_writes(&options);
    if args.once {
        let report = runtime.block_on(daemon::run(&options, Mode::Once))?;
        print_report(&report, &options);
        return Ok(report.exit_status());
    }
    let _instance = fsio::hold_instance_lock(&options.paths.credentials).map_err(Fatal::from)?;
    let signals = forward_signals()?;
    runtime.block_on(daemon::run(&options, Mode::Daemon { signals }))?;
    Ok(0)
}

/// Removes the temp files (copies of secrets) that ssofresh processes killed mid-write left
/// beside the credentials file and in the SSO token cache, and makes a file-size limit
/// (`RLIMIT_FSIZE`) a write error instead of death by SIGXFSZ.
fn prepare_writes(options: &Options) {
    let removed = fsio::sweep_beside(&options.paths.credentials)
        + crate::files::scratch::sweep(&options.paths.sso_cache);
    if removed > 0 {
        tracing::info!("removed {removed} temporary file(s) a stopped ssofresh left behind");
    }
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
}

/// SIGTERM, SIGINT and SIGHUP, caught by signal-hook on a thread of their own and handed to
/// the loop as [`Signal`]s.
fn forward_signals() -> anyhow::Result<mpsc::Receiver<Signal>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("cannot install signal handlers")?;
    let (tx, rx) = mpsc::channel(8);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let signal = if signal == SIGHUP {
                    Signal::Reload
                } else {
                    Signal::Stop
                };
                if tx.blocking_send(signal).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(rx)
}

/// Turns the raw arguments into validated options.
fn resolve(args: &Args) -> anyhow::Result<Options> {
    let env = |k: &str| std::env::var(k).ok();
    let selectors = args
        .profiles
        .iter()
        .map(|raw| cli::parse_selector(raw))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let paths = Paths::resolve(args.config.clone(), args.credentials.clone(), |k| {
        std::env::var(k).ok()
    })?;
    Ok(Options {
        paths,
        selectors,
        with_region: args.with_region,
        policy: CallPolicy {
            timeout: args.timeout,
            ..CallPolicy::default()
        },
        refresh_margin: args.refresh_margin,
        sso_endpoint: Endpoint::from_env("SSO", env),
        oidc_endpoint: Endpoint::from_env("SSO_OIDC", env),
    })
}

/// Prints what the user must know on stderr: each profile that was not written, with what
/// to do, and a one-line summary.
fn print_report(report: &Report, options: &Options) {
    let paths = &options.paths;
    if report.no_sso_profiles {
        eprintln!(
            "ssofresh: no SSO profile in {}. Set one up with `aws configure sso`, sign in with \
             `aws sso login`, then run ssofresh again.",
            paths.config.display()
        );
        return;
    }
    if let Some(mode) = report.tightened_from {
        eprintln!(
            "ssofresh: {} was readable by others (mode {mode:03o}); it is now private (0600)",
            paths.credentials.display()
        );
    }
    let total = report.outcomes.len();
    let written = report
        .outcomes
        .iter()
        .filter(|(_, o)| o.is_written())
        .count();
    if written > 0 {
        eprintln!(
            "ssofresh: wrote {written} of {total} profile{} to {}",
            if total == 1 { "" } else { "s" },
            paths.credentials.display()
        );
    }
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|(_, o)| !o.is_written())
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "ssofresh: {} of {total} profile{} not written:",
            failed.len(),
            if total == 1 { " was" } else { "s were" }
        );
        let outcomes: Vec<(String, Outcome)> = failed.into_iter().cloned().collect();
        for (names, message) in plan::group_by_message(&outcomes) {
            eprintln!("  {}: {message}", names.join(", "));
        }
    }
}
