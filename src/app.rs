//! The program as the command line runs it: a subcommand (install, uninstall, status,
//! completions, man), or options resolved, then either one pass and its report (`--once`) or
//! the daemon, with its instance lock and signal handling.

use std::process::ExitCode;

use anyhow::Context;

use tokio::sync::mpsc;

use crate::cli::{self, Args, Command};
use crate::daemon::plan::{self, Outcome};
use crate::daemon::run::{Fatal, Options, Report};
use crate::daemon::{self, Mode, Signal};
use crate::files::fsio;
use crate::files::paths;
use crate::service;

/// Runs ssofresh with parsed arguments and returns the exit status.
pub fn main(args: Args) -> ExitCode {
    let result = match &args.command {
        None => run(&args).map(ExitCode::from),
        Some(Command::Install(install)) => install.resolve().and_then(service::install::install),
        Some(Command::Uninstall(uninstall)) => {
            uninstall.resolve().and_then(service::install::uninstall)
        }
        Some(Command::Status(status)) => status.files.paths().and_then(|paths| {
            service::status::run(status.json, &paths, &status.select.selection()?)
        }),
        Some(Command::Completions { shell }) => print_completions(*shell),
        Some(Command::Man { subcommand }) => print_man(subcommand.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ssofresh: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The daemon, or one pass with `--once`.
fn run(args: &Args) -> anyhow::Result<u8> {
    let options = args.daemon.resolve()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    prepare_writes(&options);
    if args.once {
        // Ctrl-C during an `aws login` session's refresh waits for its answer to be saved:
        // Sign-In has spent the refresh token the file holds.
        let signals = forward_signals()?;
        let once = Mode::Once {
            signals: Some(signals),
        };
        let report = match runtime.block_on(daemon::run(&options, once)) {
            Err(Fatal::Interrupted) => {
                eprintln!("ssofresh: {}", Fatal::Interrupted);
                return Ok(130);
            }
            other => other?,
        };
        print_report(&report, &options);
        return Ok(report.exit_status());
    }
    let _instance = fsio::hold_instance_lock(&options.paths.credentials).map_err(Fatal::from)?;
    let signals = forward_signals()?;
    let hooks = Box::new(service::hooks::ServiceHooks::new(
        paths::state_file(
            &paths::state_dir(|k| std::env::var(k).ok())?,
            &options.paths.credentials,
        ),
        options.paths.credentials.clone(),
        service::notify::Notifier {
            desktop: options.notify.desktop,
            hook: options.notify.hook.clone(),
            limit: service::notify::HOOK_LIMIT,
        },
    ));
    runtime.block_on(daemon::run(&options, Mode::Daemon { signals, hooks }))?;
    Ok(0)
}

/// Removes the temp files (copies of secrets) that ssofresh processes killed mid-write left
/// beside the credentials file and in the SSO and `aws login` caches, and makes a file-size limit
/// (`RLIMIT_FSIZE`) a write error instead of death by SIGXFSZ.
fn prepare_writes(options: &Options) {
    let removed = fsio::sweep_beside(&options.paths.credentials)
        + crate::files::scratch::sweep(&options.paths.sso_cache)
        + crate::files::scratch::sweep(&options.paths.login_cache);
    if removed > 0 {
        tracing::info!("removed {removed} temporary file(s) a stopped ssofresh left behind");
    }
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
}

/// `ssofresh completions SHELL`: the script, generated from the clap definition, on stdout.
fn print_completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut command = cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "ssofresh", &mut out);
    write_stdout(&out)
}

/// `ssofresh man [SUBCOMMAND]`: the manual page (roff), generated from the clap definition,
/// on stdout; a subcommand's page is `ssofresh-NAME(1)`, as the main page refers to it.
fn print_man(subcommand: Option<&str>) -> anyhow::Result<ExitCode> {
    let main = cli::command();
    let page = match subcommand {
        None => main,
        Some(name) => main
            .find_subcommand(name)
            .cloned()
            .with_context(|| format!("no subcommand {name:?}"))?
            .name(format!("ssofresh-{name}"))
            .bin_name(format!("ssofresh {name}"))
            .version(env!("CARGO_PKG_VERSION")),
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .context("cannot render the manual page")?;
    write_stdout(&out)
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
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

/// Prints what the user must know on stderr: each profile that was not written, with what
/// to do, and a one-line summary.
fn print_report(report: &Report, options: &Options) {
    let paths = &options.paths;
    if report.no_sso_profiles {
        eprintln!(
            "ssofresh: no SSO or `aws login` profile in {}. Set one up with `aws configure sso` \
             (and sign in with `aws sso login`) or `aws login`, then run ssofresh again.",
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
    // A session's last credentials are written even when only a new login renews it.
    let left = |name: &str| report.sessions_left.iter().any(|(p, _, _)| p == name);
    let written = report
        .outcomes
        .iter()
        .filter(|(name, o)| o.is_written() || left(name))
        .count();
    if written > 0 {
        eprintln!(
            "ssofresh: wrote {written} of {total} profile{} to {}",
            if total == 1 { "" } else { "s" },
            paths.credentials.display()
        );
    }
    if !report.sessions_left.is_empty() {
        let sections: Vec<String> = report
            .sessions_left
            .iter()
            .map(|(_, s, _)| format!("[{s}]"))
            .collect();
        let until = report.sessions_left.iter().map(|(_, _, t)| *t).min();
        eprintln!(
            "ssofresh: {} hold{} credentials from `aws login`, valid until {}. The AWS CLI reads \
             {} before its own `aws login` session: after that time run `ssofresh --once` \
             again, or remove {}. The daemon renews them and takes them back when it stops.",
            sections.join(", "),
            if sections.len() == 1 { "s" } else { "" },
            until.map(crate::time::format_local).unwrap_or_default(),
            if sections.len() == 1 {
                "that section"
            } else {
                "those sections"
            },
            if sections.len() == 1 { "it" } else { "them" },
        );
    }
    for (name, outcome) in report
        .outcomes
        .iter()
        .filter(|(name, o)| !o.is_written() && left(name))
    {
        eprintln!("ssofresh: {name}: written, but {}", outcome.message());
    }
    for line in &report.lost_sessions {
        eprintln!("ssofresh: {line}");
    }
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|(name, o)| !o.is_written() && !left(name))
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
