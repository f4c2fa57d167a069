//! The command line as users meet it: `--help`, `--version`, shell completions and the man
//! page, from the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{Outcome, run};

const SUBCOMMANDS: [&str; 5] = ["install", "uninstall", "status", "completions", "man"];

/// `ssofresh ARGS` with an empty environment.
fn ssofresh(args: &[&str]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssofresh"));
    cmd.env_clear().stdin(Stdio::null()).args(args);
    run(cmd)
}

/// Runs `cmd` with `input` on its stdin: its output, or `None` when it is not installed.
fn piped(mut cmd: Command, input: &str) -> Option<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    Some(child.wait_with_output().expect("it ran"))
}

/// `--help` says that no subcommand runs the daemon, lists the subcommands and the signals,
/// and shows examples; `-h` says the first two in short.
#[test]
fn help_explains_daemon_subcommands_and_signals() {
    let out = ssofresh(&["--help"]);
    out.assert_success();
    let help = &out.stdout;
    for needle in [
        "Without a subcommand, ssofresh runs the daemon",
        "SIGTERM, SIGINT  stop",
        "SIGHUP           re-read the config file",
        "Examples:",
        "ssofresh install --with-region",
        "--profile 'dev-*' --exclude dev-old",
        "--notify-before <DURATION>",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    for sub in SUBCOMMANDS {
        assert!(
            help.contains(&format!("\n  {sub} ")),
            "--help lists {sub}:\n{help}"
        );
    }
    let short = ssofresh(&["-h"]);
    short.assert_success();
    assert!(
        short
            .stdout
            .contains("Without a subcommand ssofresh runs the daemon"),
        "{short}"
    );
    assert!(short.stdout.contains("SIGHUP reloads"), "{short}");
    let version = ssofresh(&["--version"]);
    version.assert_success();
    assert_eq!(
        version.stdout.trim(),
        format!("ssofresh {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A completion script for every shell clap_complete knows, each naming the subcommands
/// and the options; an unknown shell is a usage error (status 1).
#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ssofresh(&["completions", shell]);
        out.assert_success();
        for word in SUBCOMMANDS
            .iter()
            .chain(&["--profile", "--exclude", "--once"])
        {
            let word = word.trim_start_matches('-');
            assert!(out.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    // bash can load its script: `complete -p ssofresh` then shows the registration.
    let script = ssofresh(&["completions", "bash"]).stdout;
    let mut bash = Command::new("bash");
    bash.args(["--norc", "-c", "source /dev/stdin && complete -p ssofresh"]);
    match piped(bash, &script) {
        Some(out) => {
            assert!(out.status.success(), "bash refused the script");
            assert!(String::from_utf8_lossy(&out.stdout).contains("ssofresh"));
        }
        None => eprintln!("note: bash is not installed; the script was not loaded"),
    }
    ssofresh(&["completions", "tcsh"]).assert_status(1);
}

/// The man page is roff that `man -l -` renders (where man is installed), with the
/// subcommands listed; each subcommand has its own page.
#[test]
fn man_page_renders() {
    let out = ssofresh(&["man"]);
    out.assert_success();
    assert!(
        out.stdout.contains(".TH ssofresh 1"),
        "roff header:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains(".SH SUBCOMMANDS"), "{}", out.stdout);
    let sub = ssofresh(&["man", "install"]);
    sub.assert_success();
    assert!(
        sub.stdout.contains(".TH ssofresh-install 1"),
        "{}",
        sub.stdout
    );
    assert!(sub.stdout.contains("dry\\-run"), "{}", sub.stdout);
    let mut man = Command::new("man");
    man.args(["-l", "-"])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80");
    let Some(rendered) = piped(man, &out.stdout) else {
        eprintln!("note: man is not installed; the roff header was checked only");
        return;
    };
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success(),
        "man -l -: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    for needle in ["NAME", "SYNOPSIS", "SUBCOMMANDS", "ssofresh-install(1)"] {
        assert!(text.contains(needle), "the page lacks {needle}:\n{text}");
    }
}
