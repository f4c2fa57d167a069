//! The command line: the subcommands and options, parsed raw by clap, then resolved into
//! validated [`crate::daemon::run::Options`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

pub use crate::daemon::plan::{Glob, Selection, Selector};
use crate::daemon::run::{Notify, Options};
use crate::files::paths::Paths;
use crate::login::portal::{CallPolicy, Endpoint};
pub use crate::service::install::ServiceKind;
use crate::service::install::{Install, Uninstall};

/// Keeps ~/.aws/credentials fresh from AWS IAM Identity Center (SSO) logins.
///
/// After `aws sso login`, ssofresh exchanges the cached SSO token for role credentials for
/// every SSO profile in ~/.aws/config and writes them to ~/.aws/credentials, for tools that
/// read only that file (Serverless Framework v3, the AWS SDK for JavaScript v2, older
/// Terraform). Only its own sections change; everything else in the file stays as it was.
///
/// Without a subcommand, ssofresh runs as a daemon in the foreground (as the service
/// `ssofresh install` sets up runs it); with --once it makes one pass and exits.
#[derive(Debug, Parser)]
#[command(name = "ssofresh", version, about, long_about)]
#[command(after_long_help = AFTER_LONG_HELP, after_help = AFTER_HELP)]
pub struct Args {
    /// What to do; none runs the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Refresh every selected SSO profile that has a valid login, then exit.
    #[arg(long)]
    pub once: bool,

    /// The options of the daemon and of --once.
    #[command(flatten)]
    pub daemon: DaemonArgs,

    /// How much to log.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Shown after `-h`.
const AFTER_HELP: &str = "Without a subcommand ssofresh runs the daemon. \
SIGTERM/SIGINT stop it, SIGHUP reloads. More in --help.";

/// Shown after `--help`: signals, exit status, examples.
const AFTER_LONG_HELP: &str = "\
Without a subcommand, ssofresh runs the daemon in the foreground.

Signals (daemon):
  SIGTERM, SIGINT  stop (status 0, no file left half-written)
  SIGHUP           re-read the config file and every login

Exit status of --once: 0 every selected profile was written; 2 some could not be (each is
listed with what to do); 1 a fatal error.

Examples:
  ssofresh --once                          write every SSO profile once, then exit
  ssofresh --profile 'dev-*' --exclude dev-old
                                           run the daemon for dev-* profiles but one
  ssofresh --profile dev:default           write profile dev into section [default]
  ssofresh install --with-region           install and start the user service
  ssofresh status                          what the daemon is doing, per profile
  ssofresh completions bash > ~/.local/share/bash-completion/completions/ssofresh";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install ssofresh as a user service (systemd, or launchd on macOS), enable and start it.
    ///
    /// The options given after `install` are the daemon's, written into the service.
    /// Running it again updates the service and restarts it.
    Install(InstallArgs),
    /// Stop, disable and remove the user service.
    Uninstall(UninstallArgs),
    /// Show, per profile, what ssofresh is doing and what is wrong, with or without a daemon.
    Status(StatusArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: `ssofresh man | man -l -`.
    Man {
        /// The page of this subcommand (`ssofresh-install(1)`, …) instead of the main one.
        #[arg(value_parser = ["install", "uninstall", "status", "completions"])]
        subcommand: Option<String>,
    },
}

/// `-v` and `-q`: of the daemon, `--once`, `install` (written into the service), `uninstall`
/// and `status`. (Not `global`: clap counts a global `-vv` after a subcommand as one.)
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// More detail in the log (-v debug, -vv trace); RUST_LOG is honoured too.
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors and the final report.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Which profiles: `--profile` and `--exclude`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectArgs {
    /// Only this profile, or the profiles matching this glob (`dev-*`, `?`, `[...]`);
    /// repeatable. SECTION (exact names only) is the credentials-file section to write
    /// (default: the profile's own name; `default` is allowed).
    #[arg(short, long = "profile", value_name = "NAME[:SECTION]|GLOB")]
    pub profiles: Vec<String>,

    /// Leave out the profiles matching this glob; repeatable.
    #[arg(long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
}

/// Where the files are: `--config` and `--credentials`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FileArgs {
    /// The AWS config file [default: $AWS_CONFIG_FILE, else ~/.aws/config]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The credentials file to write [default: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials]
    #[arg(long, value_name = "PATH")]
    pub credentials: Option<PathBuf>,
}

/// The options of the daemon and of `--once`, also given to `install`.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Which profiles.
    #[command(flatten)]
    pub select: SelectArgs,

    /// Renew this long before the credentials expire (e.g. 90s, 5m, 1h); used by the daemon.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_margin)]
    pub refresh_margin: Duration,

    /// Also write each profile's `region` from the config file into its section.
    #[arg(long)]
    pub with_region: bool,

    /// Time allowed for one call to AWS: the portal, OIDC, Sign-In (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Where the files are.
    #[command(flatten)]
    pub files: FileArgs,

    /// Tell the user this long before a login that cannot be renewed ends (e.g. 15m).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_notify_before)]
    pub notify_before: Duration,

    /// Run CMD (through `sh -c`) when a login is needed, with SSOFRESH_PROFILES,
    /// SSOFRESH_LOGIN, SSOFRESH_EXPIRES_AT and SSOFRESH_FIX in its environment.
    #[arg(long, value_name = "CMD")]
    pub on_login_needed: Option<String>,

    /// No desktop notification when a login is needed.
    #[arg(long)]
    pub no_notify: bool,
}

/// `ssofresh install`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// Print the file and each command, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The service manager [default: launchd on macOS, else systemd].
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub service: Option<ServiceKind>,

    /// The daemon's options, written into the service.
    #[command(flatten)]
    pub daemon: DaemonArgs,

    /// The daemon's log level, written into the service.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `ssofresh uninstall`.
#[derive(Debug, Clone, clap::Args)]
pub struct UninstallArgs {
    /// Print each command and file, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The service manager [default: launchd on macOS, else systemd].
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub service: Option<ServiceKind>,

    /// Also remove from the credentials file the sections ssofresh wrote (and nothing else).
    #[arg(long)]
    pub remove_credentials: bool,

    /// Which profiles' sections --remove-credentials considers.
    #[command(flatten)]
    pub select: SelectArgs,

    /// Where the files are.
    #[command(flatten)]
    pub files: FileArgs,

    /// How much to log.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `ssofresh status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The view as JSON (the form is documented in the README and stable).
    #[arg(long)]
    pub json: bool,

    /// Which profiles.
    #[command(flatten)]
    pub select: SelectArgs,

    /// Where the files are.
    #[command(flatten)]
    pub files: FileArgs,

    /// How much to log.
    #[command(flatten)]
    pub log: LogArgs,
}

impl SelectArgs {
    /// The `--profile` and `--exclude` choices, checked.
    pub fn selection(&self) -> anyhow::Result<Selection> {
        let selectors = self
            .profiles
            .iter()
            .map(|raw| parse_selector(raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let excludes = self
            .excludes
            .iter()
            .map(|raw| Glob::new(raw.trim()).map_err(|e| anyhow::anyhow!("--exclude {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Selection {
            selectors,
            excludes,
        })
    }
}

impl UninstallArgs {
    /// What `uninstall` is to do, resolved.
    pub fn resolve(&self) -> anyhow::Result<Uninstall> {
        let remove_credentials = if self.remove_credentials {
            Some((self.files.paths()?, self.select.selection()?))
        } else {
            None
        };
        Ok(Uninstall {
            dry_run: self.dry_run,
            kind: self.service.unwrap_or_else(ServiceKind::native),
            remove_credentials,
        })
    }
}

impl FileArgs {
    /// Where the files are, from these options and the environment.
    pub fn paths(&self) -> anyhow::Result<Paths> {
        Ok(Paths::resolve(
            self.config.clone(),
            self.credentials.clone(),
            env,
        )?)
    }
}

impl DaemonArgs {
    /// The validated options of a pass or of the daemon.
    pub fn resolve(&self) -> anyhow::Result<Options> {
        Ok(Options {
            paths: self.files.paths()?,
            selection: self.select.selection()?,
            with_region: self.with_region,
            policy: CallPolicy {
                timeout: self.timeout,
                ..CallPolicy::default()
            },
            refresh_margin: self.refresh_margin,
            sso_endpoint: Endpoint::from_env("SSO", env),
            oidc_endpoint: Endpoint::from_env("SSO_OIDC", env),
            signin_endpoint: Endpoint::from_env("SIGNIN", env),
            notify: Notify {
                before: self.notify_before,
                hook: self.on_login_needed.clone(),
                desktop: !self.no_notify,
            },
        })
    }
}

impl InstallArgs {
    /// What `install` is to do, resolved: the options checked, the service's arguments made.
    pub fn resolve(&self) -> anyhow::Result<Install> {
        let cwd = std::env::current_dir().context("cannot read the current folder")?;
        Ok(Install {
            dry_run: self.dry_run,
            kind: self.service.unwrap_or_else(ServiceKind::native),
            options: self.daemon.resolve()?,
            argv: self.daemon_argv(&cwd),
            cwd,
        })
    }

    /// The daemon's command line these options stand for (without the program), for the
    /// service file: options at their defaults left out, relative paths made absolute
    /// against `cwd`, `-v`/`-q` kept.
    pub fn daemon_argv(&self, cwd: &Path) -> Vec<OsString> {
        let d = &self.daemon;
        let mut argv: Vec<OsString> = Vec::new();
        let mut pair = |flag: &str, value: OsString| {
            argv.push(flag.into());
            argv.push(value);
        };
        for profile in &d.select.profiles {
            pair("--profile", profile.into());
        }
        for exclude in &d.select.excludes {
            pair("--exclude", exclude.into());
        }
        if d.refresh_margin != DEFAULT_MARGIN {
            pair("--refresh-margin", format_duration(d.refresh_margin).into());
        }
        if d.timeout != DEFAULT_TIMEOUT {
            pair("--timeout", format_duration(d.timeout).into());
        }
        if let Some(config) = &d.files.config {
            pair("--config", cwd.join(config).into());
        }
        if let Some(credentials) = &d.files.credentials {
            pair("--credentials", cwd.join(credentials).into());
        }
        if d.notify_before != DEFAULT_NOTIFY_BEFORE {
            pair("--notify-before", format_duration(d.notify_before).into());
        }
        if let Some(hook) = &d.on_login_needed {
            pair("--on-login-needed", hook.into());
        }
        let flags = [
            (d.with_region, "--with-region"),
            (d.no_notify, "--no-notify"),
            (self.log.quiet, "--quiet"),
        ];
        for (set, flag) in flags {
            if set {
                argv.push(flag.into());
            }
        }
        if self.log.verbose > 0 {
            argv.push(format!("-{}", "v".repeat(usize::from(self.log.verbose))).into());
        }
        argv
    }
}

/// `--refresh-margin`'s default.
const DEFAULT_MARGIN: Duration = Duration::from_secs(600);
/// `--timeout`'s default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `--notify-before`'s default.
const DEFAULT_NOTIFY_BEFORE: Duration = Duration::from_secs(900);

/// Writes a duration the way [`parse_duration`] reads it back: `250ms`, `90s`, `5m`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    match secs {
        0 => "0s".to_owned(),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The process environment, as the lookup the resolvers take.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The clap definition, for completions and the man page.
pub fn command() -> clap::Command {
    Args::command()
}

impl Args {
    /// The `-v`/`-q` that apply: the subcommand's, else the daemon's.
    pub fn log(&self) -> &LogArgs {
        match &self.command {
            None | Some(Command::Completions { .. } | Command::Man { .. }) => &self.log,
            Some(Command::Install(a)) => &a.log,
            Some(Command::Uninstall(a)) => &a.log,
            Some(Command::Status(a)) => &a.log,
        }
    }

    /// Parses the command line of this process; see [`Args::try_parse_from`].
    pub fn try_parse() -> Result<Self, clap::Error> {
        Self::try_parse_from(std::env::args_os())
    }

    /// Parses a command line. The daemon's options given before a subcommand are refused:
    /// they would be ignored.
    pub fn try_parse_from<I, T>(argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Args::command();
        let matches = command.try_get_matches_from_mut(argv)?;
        if let Some((name, _)) = matches.subcommand() {
            let before = command.get_arguments().find(|arg| {
                matches.value_source(arg.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
            });
            if let Some(arg) = before {
                let flag = arg.get_long().unwrap_or(arg.get_id().as_str());
                return Err(command.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("--{flag} goes after the subcommand: ssofresh {name} --{flag} ..."),
                ));
            }
        }
        Self::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

/// Parses a `--profile` value: a glob when it holds one of `*?[{`, else `NAME[:SECTION]`.
/// A section name must be usable inside `[...]` on one line.
pub fn parse_selector(raw: &str) -> Result<Selector, String> {
    let (profile, section) = match raw.rsplit_once(':') {
        Some((p, s)) => (p, s),
        None => (raw, raw),
    };
    let profile = profile.trim();
    let section = section.trim();
    if profile.contains(Glob::SPECIAL) {
        if section != profile {
            return Err(format!(
                "--profile {raw:?}: a glob picks several profiles, each written to its own \
                 section; name one profile to choose its section (NAME:SECTION)"
            ));
        }
        return Glob::new(profile)
            .map(Selector::Glob)
            .map_err(|e| format!("--profile {e}"));
    }
    if profile.is_empty() {
        return Err(format!("--profile {raw:?}: the profile name is empty"));
    }
    if section.is_empty() {
        return Err(format!(
            "--profile {raw:?}: the section name after ':' is empty"
        ));
    }
    if section.contains(['[', ']', '\n', '\r']) {
        return Err(format!(
            "--profile {raw:?}: a section name cannot contain '[', ']' or a line break"
        ));
    }
    Ok(Selector::Exact {
        profile: profile.to_owned(),
        section: section.to_owned(),
    })
}

/// The longest `--timeout` accepted: a call that takes longer is not coming back.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Parses `--timeout`: a duration above zero and at most [`MAX_TIMEOUT`].
pub fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let timeout = parse_duration(raw)?;
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(format!(
            "{raw:?}: the timeout must be above zero and at most 1h"
        ));
    }
    Ok(timeout)
}

/// The longest `--refresh-margin` accepted: role credentials last at most 12 hours.
pub const MAX_MARGIN: Duration = Duration::from_secs(12 * 3600);

/// Parses `--refresh-margin`: a duration of at most [`MAX_MARGIN`] (credentials that live less
/// than the margin are renewed halfway through their life).
pub fn parse_margin(raw: &str) -> Result<Duration, String> {
    let margin = parse_duration(raw)?;
    if margin > MAX_MARGIN {
        return Err(format!(
            "{raw:?}: the refresh margin must be at most 12h, the longest role credentials live"
        ));
    }
    Ok(margin)
}

/// The longest `--notify-before` accepted: an IAM Identity Center session lasts at most 90 days.
pub const MAX_NOTIFY_BEFORE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Parses `--notify-before`: a duration of at most [`MAX_NOTIFY_BEFORE`].
pub fn parse_notify_before(raw: &str) -> Result<Duration, String> {
    let before = parse_duration(raw)?;
    if before > MAX_NOTIFY_BEFORE {
        return Err(format!(
            "{raw:?}: --notify-before must be at most 90 days, the longest an SSO session lasts"
        ));
    }
    Ok(before)
}

/// Parses `90s`, `5m`, `1h`, `1h30m`, `250ms`, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{raw:?} is not a duration (try 90s, 5m or 1h)"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{raw:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" | "sec" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "{raw:?}: unknown unit {other:?} (use ms, s, m or h)"
                ));
            }
        };
        total = total.saturating_add(unit);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations in the forms the README documents, and the ones refused.
    #[test]
    fn durations() {
        let ok = [
            ("90s", 90),
            ("5m", 300),
            ("1h", 3600),
            ("1h30m", 5400),
            ("45", 45),
            (" 10m ", 600),
        ];
        for (raw, secs) in ok {
            assert_eq!(parse_duration(raw), Ok(Duration::from_secs(secs)), "{raw}");
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "m", "5x", "-5m", "1.5h", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_timeout("0s").is_err());
        assert_eq!(parse_margin("12h"), Ok(MAX_MARGIN));
        assert!(parse_margin("10000000000000s").is_err());
        assert!(
            parse_timeout("18446744073709551615").is_err(),
            "no overflow later"
        );
        assert!(parse_timeout("2h").is_err());
        assert_eq!(parse_timeout("1h"), Ok(MAX_TIMEOUT));
    }

    /// `install`'s options come back as the daemon's command line: defaults left out, paths
    /// absolute, durations in a form that parses to the same value, and parsing that line
    /// gives the same options.
    #[test]
    fn install_options_to_daemon_argv() {
        let parse = |argv: &[&str]| Args::try_parse_from(argv.iter().copied()).expect("parses");
        let Some(Command::Install(plain)) = parse(&["ssofresh", "install"]).command else {
            panic!("install");
        };
        assert!(plain.daemon_argv(Path::new("/cwd")).is_empty());
        let d = &plain.daemon;
        assert_eq!(
            (d.refresh_margin, d.timeout, d.notify_before),
            (DEFAULT_MARGIN, DEFAULT_TIMEOUT, DEFAULT_NOTIFY_BEFORE),
            "the constants are clap's defaults"
        );
        let given = [
            "ssofresh",
            "install",
            "--service",
            "launchd",
            "-p",
            "dev-*",
            "-p",
            "x:default",
            "--exclude",
            "dev-old",
            "--refresh-margin",
            "90s",
            "--timeout",
            "1500ms",
            "--config",
            "cfg",
            "--credentials",
            "/abs/creds",
            "--notify-before",
            "1h",
            "--on-login-needed",
            "notify-send 'log in'",
            "--with-region",
            "--no-notify",
            "-vv",
        ];
        let Some(Command::Install(install)) = parse(&given).command else {
            panic!("install");
        };
        let argv = install.daemon_argv(Path::new("/cwd"));
        let strings: Vec<&str> = argv.iter().map(|a| a.to_str().expect("utf-8")).collect();
        assert_eq!(
            strings,
            [
                "--profile",
                "dev-*",
                "--profile",
                "x:default",
                "--exclude",
                "dev-old",
                "--refresh-margin",
                "90s",
                "--timeout",
                "1500ms",
                "--config",
                "/cwd/cfg",
                "--credentials",
                "/abs/creds",
                "--notify-before",
                "1h",
                "--on-login-needed",
                "notify-send 'log in'",
                "--with-region",
                "--no-notify",
                "-vv",
            ]
        );
        let mut again = vec!["ssofresh", "install"];
        again.extend(&strings);
        let Some(Command::Install(reparsed)) = parse(&again).command else {
            panic!("install");
        };
        assert_eq!(reparsed.daemon_argv(Path::new("/elsewhere")), argv);
        for d in [0, 1, 59, 60, 61, 3600, 5400, 86400] {
            let d = Duration::from_secs(d);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    /// `NAME[:SECTION]`, with `default` allowed and bad section names refused; globs, without
    /// a section.
    #[test]
    fn selectors() {
        let s = |p: &str, sec: &str| Selector::Exact {
            profile: p.into(),
            section: sec.into(),
        };
        assert_eq!(parse_selector("dev"), Ok(s("dev", "dev")));
        assert_eq!(parse_selector("dev:default"), Ok(s("dev", "default")));
        assert_eq!(parse_selector("a:b:c"), Ok(s("a:b", "c")));
        for bad in [
            "",
            ":x",
            "dev:",
            "dev:a]b",
            "dev:[x",
            "dev-*:default",
            "dev-[",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
        let glob = |text: &str| Selector::Glob(Glob::new(text).expect("valid"));
        assert_eq!(parse_selector("dev-*"), Ok(glob("dev-*")));
        assert_eq!(parse_selector("?a[bc]"), Ok(glob("?a[bc]")));
        assert!(
            parse_selector("dev-[")
                .expect_err("refused")
                .contains("not a valid glob"),
            "says why"
        );
    }

    /// The option names people and service files rely on.
    #[test]
    fn option_names() {
        let args = Args::try_parse_from([
            "ssofresh",
            "--once",
            "-p",
            "dev:default",
            "--profile",
            "prod",
            "--refresh-margin",
            "5m",
            "--config",
            "/c",
            "--credentials",
            "/k",
            "-vv",
        ])
        .expect("parses");
        assert!(args.once);
        assert!(args.command.is_none());
        assert_eq!(args.daemon.select.profiles, ["dev:default", "prod"]);
        assert_eq!(args.daemon.refresh_margin, Duration::from_secs(300));
        assert_eq!(args.daemon.notify_before, Duration::from_secs(15 * 60));
        assert_eq!(args.log.verbose, 2);
        assert!(Args::try_parse_from(["ssofresh", "-v", "-q"]).is_err());
    }

    /// The subcommands and where their options go: daemon options after `install`, none
    /// before a subcommand.
    #[test]
    fn subcommands() {
        let parse = |argv: &[&str]| Args::try_parse_from(argv.iter().copied());
        let args = parse(&[
            "ssofresh",
            "install",
            "--dry-run",
            "-p",
            "dev-*",
            "--with-region",
        ])
        .expect("parses");
        let Some(Command::Install(install)) = args.command else {
            panic!("install: {:?}", args.command);
        };
        assert!(install.dry_run && install.daemon.with_region);
        assert_eq!(install.daemon.select.profiles, ["dev-*"]);
        let args = parse(&["ssofresh", "status", "--json", "-vv"]).expect("parses");
        assert!(matches!(
            args.command,
            Some(Command::Status(StatusArgs { json: true, .. }))
        ));
        assert_eq!(args.log().verbose, 2);
        assert!(parse(&["ssofresh", "-v", "status"]).is_err());
        assert!(
            parse(&["ssofresh", "--with-region", "install"]).is_err(),
            "daemon options before a subcommand are refused, not silently dropped"
        );
        assert!(parse(&["ssofresh", "--once", "status"]).is_err());
        assert!(parse(&["ssofresh", "completions", "tcsh"]).is_err());
        let args = parse(&[
            "ssofresh",
            "--notify-before",
            "1h",
            "--on-login-needed",
            "notify-send hi",
            "--no-notify",
        ])
        .expect("parses");
        assert_eq!(args.daemon.notify_before, Duration::from_secs(3600));
        assert_eq!(
            args.daemon.on_login_needed.as_deref(),
            Some("notify-send hi")
        );
        assert!(args.daemon.no_notify);
        assert!(parse(&["ssofresh", "--notify-before", "2161h"]).is_err());
    }
}
