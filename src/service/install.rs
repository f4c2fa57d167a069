//! `ssofresh install` and `ssofresh uninstall`: the systemd user unit or the launchd agent for
//! this user, written from the templates in `systemd/` and `launchd/` (embedded here, so the
//! repository's files stay the single source), with the running binary's real path, the
//! daemon options given, and the environment variables that shape ssofresh; then enabled and
//! started. Rendering is pure ([`render_unit`], [`render_plist`]); the commands run through
//! `systemctl` and `launchctl` found on PATH.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};

use crate::daemon::engine::Removal;
use crate::daemon::plan::{self, Selection};
use crate::daemon::run::{self, Options};
use crate::files::credfile;
use crate::files::fsio;
use crate::files::paths::{self, Paths};
use crate::service::state::StateFile;

/// The systemd unit template.
/// Which service manager ssofresh is installed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceKind {
    /// A systemd user unit (Linux).
    Systemd,
    /// A launchd agent (macOS).
    Launchd,
}

impl ServiceKind {
    /// The service manager of this system.
    pub fn native() -> Self {
        if cfg!(target_os = "macos") {
            Self::Launchd
        } else {
            Self::Systemd
        }
    }
}

/// `ssofresh install`, its options resolved by the command line.
#[derive(Debug)]
pub struct Install {
    /// Print the file and each command, change nothing.
    pub dry_run: bool,
    /// The service manager.
    pub kind: ServiceKind,
    /// The daemon's options, checked now so that a typo is caught here and not in the log.
    pub options: Options,
    /// The daemon's arguments as they go into the service, made absolute against `cwd`.
    pub argv: Vec<OsString>,
    /// The folder relative paths were given against.
    pub cwd: PathBuf,
}

/// `ssofresh uninstall`, its options resolved by the command line.
#[derive(Debug)]
pub struct Uninstall {
    /// Print each command and file, change nothing.
    pub dry_run: bool,
    /// The service manager.
    pub kind: ServiceKind,
    /// With `--remove-credentials`: the files and the profiles whose sections go.
    pub remove_credentials: Option<(Paths, Selection)>,
}

pub const UNIT_TEMPLATE: &str = include_str!("../../systemd/ssofresh.service");
/// The launchd agent template.
pub const PLIST_TEMPLATE: &str = include_str!("../../launchd/io.github.ssofresh.plist");
/// The unit's name.
pub const UNIT_NAME: &str = "ssofresh.service";
/// The agent's label (its file is `~/Library/LaunchAgents/LABEL.plist`).
pub const LABEL: &str = "io.github.ssofresh";

/// The variables that shape what ssofresh does, carried into the service when set: a service
/// does not see the shell's environment. Credentials (`AWS_ACCESS_KEY_ID`, …) are never
/// among them, and a proxy URL holding a password is left out (see [`carried_env`]).
pub const CARRIED_ENV: &[&str] = &[
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_LOGIN_CACHE_DIRECTORY",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC",
    "AWS_ENDPOINT_URL_SIGNIN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_DEFAULT_REGION",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_STATE_HOME",
    "RUST_LOG",
];

/// The carried variables that name a file or folder: a relative value is made absolute, since
/// the service does not start in the current folder.
const PATH_ENV: &[&str] = &[
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_LOGIN_CACHE_DIRECTORY",
    "AWS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_STATE_HOME",
];

/// What goes into the service file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The user's home folder.
    pub home: PathBuf,
    /// The binary, absolute, symlinks resolved.
    pub exe: PathBuf,
    /// The daemon's options.
    pub args: Vec<OsString>,
    /// The environment variables carried, in [`CARRIED_ENV`] order.
    pub env: Vec<(String, String)>,
    /// Folders outside `~/.aws` the daemon must write in (systemd's `ReadWritePaths`).
    pub write_dirs: Vec<PathBuf>,
}

/// The variables of [`CARRIED_ENV`] that are set (and not empty), relative paths made
/// absolute against `cwd`; and the names of those left out, with why.
pub fn carried_env(
    lookup: impl Fn(&str) -> Option<String>,
    cwd: &Path,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut carried = Vec::new();
    let mut left_out = Vec::new();
    for &name in CARRIED_ENV {
        let Some(value) = lookup(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        if name.to_ascii_lowercase().ends_with("_proxy") && url_has_password(&value) {
            left_out.push(format!(
                "{name} holds a password, which ssofresh does not write into a service file; \
                 add it yourself (systemd: `systemctl --user edit ssofresh`, an \
                 Environment= line; launchd: EnvironmentVariables in the agent)"
            ));
            continue;
        }
        let value = if PATH_ENV.contains(&name) && !value.starts_with(['/', '~']) {
            cwd.join(&value).display().to_string()
        } else {
            value
        };
        carried.push((name.to_owned(), value));
    }
    (carried, left_out)
}

/// True when a URL carries `user:password@`.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The folders outside `home/.aws` that hold the credentials file: the one it is named in
/// (its lock and pid files live there) and, when it is a symlink, the one really holding it.
pub fn write_dirs(home: &Path, credentials: &Path) -> Vec<PathBuf> {
    let aws = home.join(".aws");
    let parent = |p: &Path| p.parent().map(Path::to_owned);
    let mut candidates = Vec::new();
    if let Some(dir) = parent(credentials) {
        candidates.push(dir.canonicalize().unwrap_or(dir));
    }
    if let Some(dir) = credentials.canonicalize().ok().as_deref().and_then(parent) {
        candidates.push(dir);
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in candidates {
        if !dir.starts_with(&aws) && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Quotes one word for a systemd unit file: `%` doubled (specifiers) everywhere, `$` doubled
/// where `dollar` (ExecStart expands variables), and the word in double quotes with C escapes
/// unless it is made of plain characters only.
pub fn systemd_quote(word: &str, dollar: bool) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c));
    let mut out = String::with_capacity(word.len() + 2);
    if !plain {
        out.push('"');
    }
    for c in word.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' if dollar => out.push_str("$$"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    if !plain {
        out.push('"');
    }
    out
}

/// Escapes text for XML character data.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A path or argument as text: service files are text, and a value that is not UTF-8 cannot
/// be written faithfully.
fn text(value: &OsStr) -> anyhow::Result<&str> {
    value.to_str().with_context(|| {
        format!(
            "{} is not UTF-8 text, which a service file cannot hold; rename it",
            value.to_string_lossy()
        )
    })
}

/// Replaces the one line of `template` that is exactly `line` with `with`.
fn replace_line(template: &str, line: &str, with: &str) -> anyhow::Result<String> {
    let mut found = 0;
    let out: Vec<&str> = template
        .split_inclusive('\n')
        .map(|l| {
            if l.trim_end() == line {
                found += 1;
                with
            } else {
                l
            }
        })
        .collect();
    if found != 1 {
        bail!("the embedded service template has {found} lines {line:?}, not one");
    }
    Ok(out.concat())
}

/// The systemd unit for `spec`: the template with its `ExecStart=` line replaced by the binary
/// and options, `Environment=` lines after it, and a `ReadWritePaths=` line per folder outside
/// `~/.aws` (prefixed `-`: a folder missing at start is skipped, not fatal); `PrivateTmp=no`
/// when one of those is in `/tmp`.
pub fn render_unit(spec: &ServiceSpec) -> anyhow::Result<String> {
    let mut exec = format!(
        "ExecStart={}",
        systemd_quote(text(spec.exe.as_os_str())?, true)
    );
    for arg in &spec.args {
        exec.push(' ');
        exec.push_str(&systemd_quote(text(arg)?, true));
    }
    exec.push('\n');
    for (name, value) in &spec.env {
        exec.push_str(&format!(
            "Environment={}\n",
            systemd_quote(&format!("{name}={value}"), false)
        ));
    }
    let mut paths = String::from("ReadWritePaths=%h/.aws %h/.local/state/ssofresh\n");
    for dir in &spec.write_dirs {
        let dir = systemd_quote(text(dir.as_os_str())?, false);
        paths.push_str(&format!("ReadWritePaths=-{dir}\n"));
    }
    let unit = replace_line(UNIT_TEMPLATE, "ExecStart=%h/.cargo/bin/ssofresh", &exec)?;
    let mut unit = replace_line(
        &unit,
        "ReadWritePaths=%h/.aws %h/.local/state/ssofresh",
        &paths,
    )?;
    // A private /tmp would hide a credentials file kept in the real one.
    if spec
        .write_dirs
        .iter()
        .any(|d| d.starts_with("/tmp") || d.starts_with("/var/tmp"))
    {
        unit = replace_line(
            &unit,
            "PrivateTmp=yes",
            "# Not private: the credentials file is in /tmp.\nPrivateTmp=no\n",
        )?;
    }
    Ok(format!(
        "# Written by `ssofresh install`: run it again to change the options, \
         `ssofresh uninstall` to remove it.\n{unit}"
    ))
}

/// The launchd agent for `spec`: the template with `@HOME@` replaced, the binary and options
/// as `ProgramArguments` entries, and the variables as `EnvironmentVariables`.
pub fn render_plist(spec: &ServiceSpec) -> anyhow::Result<String> {
    let string = |s: &str| format!("\t\t<string>{}</string>\n", xml_escape(s));
    let mut program = string(text(spec.exe.as_os_str())?);
    for arg in &spec.args {
        program.push_str(&string(text(arg)?));
    }
    let plist = replace_line(
        PLIST_TEMPLATE,
        "\t\t<string>@HOME@/.cargo/bin/ssofresh</string>",
        &program,
    )?;
    let plist = plist.replace("@HOME@", &xml_escape(text(spec.home.as_os_str())?));
    let plist = plist.replacen(
        "<plist version=\"1.0\">",
        "<!-- Written by `ssofresh install`: run it again to change the options, \
         `ssofresh uninstall` to remove it. -->\n<plist version=\"1.0\">",
        1,
    );
    if spec.env.is_empty() {
        return Ok(plist);
    }
    let mut env = String::from("\n\t<key>EnvironmentVariables</key>\n\t<dict>\n");
    for (name, value) in &spec.env {
        env.push_str(&format!(
            "\t\t<key>{}</key>\n\t\t<string>{}</string>\n",
            xml_escape(name),
            xml_escape(value)
        ));
    }
    env.push_str("\t</dict>\n</dict>\n</plist>");
    let Some(end) = plist.rfind("</dict>\n</plist>") else {
        bail!("the embedded launchd template does not end with </dict></plist>");
    };
    Ok(format!(
        "{}{env}{}",
        &plist[..end],
        &plist[end + "</dict>\n</plist>".len()..]
    ))
}

/// Where the service file goes: for systemd, `$XDG_CONFIG_HOME/systemd/user` (an absolute
/// `XDG_CONFIG_HOME`, as systemd takes it), else `~/.config/systemd/user`.
pub fn service_path(kind: ServiceKind, home: &Path, xdg_config_home: Option<&str>) -> PathBuf {
    match kind {
        ServiceKind::Systemd => xdg_config_home
            .map(Path::new)
            .filter(|p| p.is_absolute())
            .map_or_else(|| home.join(".config"), Path::to_owned)
            .join("systemd/user")
            .join(UNIT_NAME),
        ServiceKind::Launchd => home
            .join("Library/LaunchAgents")
            .join(format!("{LABEL}.plist")),
    }
}

/// A command to run: the program and its arguments.
type Cmd = Vec<String>;

fn cmd(parts: &[&str]) -> Cmd {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// The user's launchd domain, `gui/UID`.
fn gui_domain() -> String {
    format!("gui/{}", rustix::process::getuid().as_raw())
}

/// A command line as a shell would read it back.
fn shell_line(cmd: &[String]) -> String {
    cmd.iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command, its output captured: `Ok` when it succeeded, else what it said.
fn run_cmd(cmd: &[String]) -> Result<(), String> {
    let (program, args) = cmd.split_first().ok_or("empty command")?;
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            Err(format!(
                "`{}` failed ({}){}",
                shell_line(cmd),
                out.status,
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            ))
        }
        Err(e) => Err(format!("cannot run `{}`: {e}", shell_line(cmd))),
    }
}

/// Runs a command and fails with what it said.
fn run_checked(cmd: &[String]) -> anyhow::Result<()> {
    run_cmd(cmd).map_err(anyhow::Error::msg)
}

/// Checks that the service manager can be used here; the error says what to do instead.
fn check_manager(kind: ServiceKind) -> anyhow::Result<()> {
    match kind {
        ServiceKind::Systemd => run_cmd(&cmd(&["systemctl", "--user", "show-environment"]))
            .map_err(|why| {
                anyhow::anyhow!(
                    "there is no systemd user session here ({why}), as in a container or \
                     WSL without systemd; nothing was written.\n\
                     Run ssofresh another way: `ssofresh` in a terminal, tmux or screen (it \
                     stays in the foreground), `nohup ssofresh >>~/.ssofresh.log 2>&1 &` from \
                     your shell's profile, or `ssofresh --once` from cron; \
                     `ssofresh install --dry-run` shows the unit it would write"
                )
            }),
        ServiceKind::Launchd => {
            run_cmd(&cmd(&["launchctl", "print", &gui_domain()])).map_err(|why| {
                anyhow::anyhow!(
                    "launchd cannot be reached for your login session ({why}); nothing was \
                     written. launchd agents are macOS's: elsewhere, use --service systemd, \
                     or --dry-run to see the agent"
                )
            })
        }
    }
}

/// The home folder, from HOME.
fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("cannot find your home folder: set HOME")
}

/// Writes lines to stdout (the command's report); a closed pipe is not an error.
fn say(out: &mut impl Write, text: &str) {
    let _ = writeln!(out, "{text}");
}

/// Runs `ssofresh install` and returns its exit status.
pub fn install(args: Install) -> anyhow::Result<ExitCode> {
    let Install {
        dry_run,
        kind,
        options,
        argv,
        cwd,
    } = args;
    let home = home()?;
    check_selection(&options, &cwd)?;
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find the path of the ssofresh binary")?;
    let (env, left_out) = carried_env(|k| std::env::var(k).ok(), &cwd);
    let spec = ServiceSpec {
        write_dirs: {
            let mut dirs = write_dirs(&home, &cwd.join(&options.paths.credentials));
            // The `aws login` cache, when AWS_LOGIN_CACHE_DIRECTORY moves it out of ~/.aws:
            // a refreshed session's rotated token must be written back there.
            let logins = cwd.join(&options.paths.login_cache);
            let logins = logins.canonicalize().unwrap_or(logins);
            if !logins.starts_with(home.join(".aws")) && !dirs.contains(&logins) {
                // Made now, as `aws login` would make it: ReadWritePaths opens only a folder
                // that exists, and one made later would be read-only to the service.
                if !dry_run {
                    fsio::create_private_dir(&logins)?;
                }
                dirs.push(logins);
            }
            // The state file's folder, when XDG_STATE_HOME moves it from the unit's
            // ~/.local/state/ssofresh: made now (ReadWritePaths opens only what exists).
            let state = crate::files::paths::state_dir(|k| std::env::var(k).ok())?;
            if state != home.join(".local/state/ssofresh") {
                if !dry_run {
                    fsio::create_private_dir(&state)?;
                }
                dirs.push(state);
            }
            dirs
        },
        home: home.clone(),
        exe,
        args: argv,
        env,
    };
    let content = match kind {
        ServiceKind::Systemd => render_unit(&spec)?,
        ServiceKind::Launchd => render_plist(&spec)?,
    };
    let xdg = std::env::var("XDG_CONFIG_HOME").ok();
    let path = service_path(kind, &home, xdg.as_deref());
    let mut out = std::io::stdout().lock();
    for note in &left_out {
        eprintln!("ssofresh: note: {note}");
    }
    if spec.exe.components().any(|c| c.as_os_str() == "target") {
        eprintln!(
            "ssofresh: note: the service will run {}, a build in a cargo target folder that \
             the next `cargo build` or `cargo clean` replaces; `cargo install --locked --path .` \
             and then `ssofresh install` give it a lasting path",
            spec.exe.display()
        );
    }
    if dry_run {
        say(
            &mut out,
            &format!(
                "# ssofresh install --dry-run: would write {}",
                path.display()
            ),
        );
        say(&mut out, &content);
        say(&mut out, "# and run:");
        for command in install_commands(kind, &path) {
            say(&mut out, &shell_line(&command));
        }
        if kind == ServiceKind::Launchd {
            say(
                &mut out,
                "# (when the agent is loaded already, it is first unloaded with:)",
            );
        } else {
            say(
                &mut out,
                "# (when it is running already, it is then restarted with:)",
            );
        }
        for command in reload_commands(kind) {
            say(&mut out, &shell_line(&command));
        }
        return Ok(ExitCode::SUCCESS);
    }
    check_manager(kind)?;
    let loaded = is_loaded(kind);
    let old = fsio::read_text(&path).ok().flatten();
    fsio::replace(&path, content.as_bytes())?;
    let verb = match old {
        None => "wrote",
        Some(old) if old == content => "kept",
        Some(_) => "updated",
    };
    say(&mut out, &format!("ssofresh: {verb} {}", path.display()));
    if kind == ServiceKind::Launchd && loaded {
        for command in reload_commands(kind) {
            run_checked(&command)?;
        }
    }
    for command in install_commands(kind, &path) {
        run_checked(&command)?;
    }
    if kind == ServiceKind::Systemd && loaded {
        for command in reload_commands(kind) {
            run_checked(&command)?;
        }
    }
    let how = match kind {
        ServiceKind::Systemd => {
            "see `systemctl --user status ssofresh` and `journalctl --user -u ssofresh`"
        }
        ServiceKind::Launchd => "its log is ~/Library/Logs/ssofresh.log",
    };
    let started = if loaded {
        "restarted"
    } else {
        "enabled and started"
    };
    say(&mut out, &format!("ssofresh: {started}; {how}"));
    Ok(ExitCode::SUCCESS)
}

/// Checks the daemon's `--profile` choices against the config file now, so that a name or a
/// glob that matches nothing fails here (nothing written) and not later in the service's log.
/// Without a config file (installed before `aws configure sso`) there is nothing to check
/// against: a note says so.
fn check_selection(options: &Options, cwd: &Path) -> anyhow::Result<()> {
    let config = cwd.join(&options.paths.config);
    if !config.exists() {
        if !options.selection.selectors.is_empty() {
            eprintln!(
                "ssofresh: note: {} does not exist yet, so the --profile choices are checked \
                 when the service starts (after `aws configure sso`)",
                config.display()
            );
        }
        return Ok(());
    }
    let profiles = run::load_profiles(&config, options.paths.config_named)?;
    let (_, outcomes) = plan::select(&profiles, &options.selection);
    let unmatched: Vec<String> = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, plan::Outcome::NotFound { .. }))
        .map(|(name, outcome)| format!("--profile {name}: {}", outcome.message()))
        .collect();
    if !unmatched.is_empty() {
        bail!(
            "{} in {}; nothing was installed",
            unmatched.join("; "),
            config.display()
        );
    }
    Ok(())
}

/// Whether the service is running (systemd) or loaded (launchd) now.
fn is_loaded(kind: ServiceKind) -> bool {
    match kind {
        ServiceKind::Systemd => run_cmd(&cmd(&[
            "systemctl",
            "--user",
            "is-active",
            "--quiet",
            UNIT_NAME,
        ]))
        .is_ok(),
        ServiceKind::Launchd => run_cmd(&cmd(&[
            "launchctl",
            "print",
            &format!("{}/{LABEL}", gui_domain()),
        ]))
        .is_ok(),
    }
}

/// The commands that make the written file the running service.
fn install_commands(kind: ServiceKind, path: &Path) -> Vec<Cmd> {
    match kind {
        ServiceKind::Systemd => vec![
            cmd(&["systemctl", "--user", "daemon-reload"]),
            cmd(&["systemctl", "--user", "enable", "--now", UNIT_NAME]),
        ],
        ServiceKind::Launchd => vec![cmd(&[
            "launchctl",
            "bootstrap",
            &gui_domain(),
            &path.display().to_string(),
        ])],
    }
}

/// The commands that apply a new file to a service that runs already: systemd restarts it
/// (after `enable --now`, which leaves a running unit alone); launchd must unload the agent
/// before bootstrapping it again, since it keeps the definition it loaded (`kickstart -k`
/// alone would restart the old one).
fn reload_commands(kind: ServiceKind) -> Vec<Cmd> {
    match kind {
        ServiceKind::Systemd => vec![cmd(&["systemctl", "--user", "restart", UNIT_NAME])],
        ServiceKind::Launchd => vec![cmd(&[
            "launchctl",
            "bootout",
            &format!("{}/{LABEL}", gui_domain()),
        ])],
    }
}

/// The commands that stop and unload the service.
fn uninstall_commands(kind: ServiceKind) -> Vec<Cmd> {
    match kind {
        ServiceKind::Systemd => vec![cmd(&["systemctl", "--user", "disable", "--now", UNIT_NAME])],
        ServiceKind::Launchd => reload_commands(kind),
    }
}

/// Runs `ssofresh uninstall` and returns its exit status.
pub fn uninstall(args: Uninstall) -> anyhow::Result<ExitCode> {
    let kind = args.kind;
    let home = home()?;
    let xdg = std::env::var("XDG_CONFIG_HOME").ok();
    let path = service_path(kind, &home, xdg.as_deref());
    let installed = path.exists();
    let mut out = std::io::stdout().lock();
    if !installed {
        say(
            &mut out,
            &format!(
                "ssofresh: not installed ({} does not exist)",
                path.display()
            ),
        );
    } else if args.dry_run {
        for command in uninstall_commands(kind) {
            say(&mut out, &format!("# would run: {}", shell_line(&command)));
        }
        say(&mut out, &format!("# would remove {}", path.display()));
        if kind == ServiceKind::Systemd {
            say(&mut out, "# would run: systemctl --user daemon-reload");
        }
    } else {
        // Stopped before anything else: a running daemon would write the sections again.
        if let Err(why) = check_manager(kind) {
            eprintln!("ssofresh: warning: {why:#}");
        } else if kind == ServiceKind::Systemd || is_loaded(kind) {
            for command in uninstall_commands(kind) {
                run_checked(&command)?;
            }
        }
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        if kind == ServiceKind::Systemd {
            let _ = run_cmd(&cmd(&["systemctl", "--user", "daemon-reload"]));
        }
        say(
            &mut out,
            &format!("ssofresh: stopped, disabled and removed {}", path.display()),
        );
    }
    if let Some((paths, selection)) = &args.remove_credentials {
        remove_credentials(paths, selection, args.dry_run, &mut out)?;
    } else {
        say(
            &mut out,
            "ssofresh: the credentials file is left as it is (--remove-credentials takes out \
             the sections ssofresh wrote)",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--remove-credentials`: takes out of the credentials file the keys of the sections of the
/// selected profiles (SSO and `aws login`) that ssofresh wrote: those the daemon's state file
/// records, while they still hold the key it wrote; without a state file, those holding session credentials
/// as ssofresh writes them (a session key id, token and expiry). Long-term keys, other keys
/// and comments stay.
fn remove_credentials(
    paths: &Paths,
    selection: &Selection,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // A daemon still running (started by hand) would put the sections back at once: the
    // real run holds the instance lock until the file is written, so none starts in between.
    // A dry run takes nothing and creates nothing; it only says what the real run would meet
    // (it stops the service first, and refuses if a daemon still runs after that).
    let _lock = if dry_run {
        if let Some(holder) = fsio::instance_holder(&paths.credentials)? {
            say(
                out,
                &format!(
                    "# a daemon{} keeps {} now: the real run stops the service first, and \
                     touches nothing if a daemon still runs after that (one started by hand)",
                    holder
                        .pid
                        .map(|p| format!(" (pid {p})"))
                        .unwrap_or_default(),
                    paths.credentials.display()
                ),
            );
        }
        None
    } else {
        Some(
            fsio::hold_instance_lock(&paths.credentials)
                .map_err(|e| anyhow::anyhow!("{e}; the credentials were not touched"))?,
        )
    };
    let profiles = run::load_profiles(&paths.config, paths.config_named)?;
    let (targets, _) = plan::select(&profiles, selection);
    let text = fsio::read_text(&paths.credentials)?.unwrap_or_default();
    let state_file = paths::state_file(
        &paths::state_dir(|k| std::env::var(k).ok())?,
        &paths.credentials,
    );
    let removals: Vec<Removal> = match StateFile::read(&state_file) {
        // The daemon's record: only the sections it wrote that still hold the key it wrote.
        Some(state) => {
            say(
                out,
                &format!(
                    "ssofresh: the sections ssofresh wrote are taken from its record in {}",
                    state_file.display()
                ),
            );
            state
                .restore(&text)
                .into_iter()
                .filter(|(_, section, _)| targets.iter().any(|t| &t.section == section))
                .map(|(_, section, access_key_id)| Removal {
                    section,
                    access_key_id,
                })
                .collect()
        }
        // No record (never run as a daemon, or the state folder was cleared): the sections
        // shaped as ssofresh writes them.
        None => {
            say(
                out,
                &format!(
                    "ssofresh: no record of what ssofresh wrote ({} is missing or unreadable): taking the \
                     sections of the selected profiles that hold session credentials with \
                     an expiry, as ssofresh writes them",
                    state_file.display()
                ),
            );
            targets
                .iter()
                .filter_map(|t| {
                    credfile::session_key_id(&text, &t.section).map(|access_key_id| Removal {
                        section: t.section.clone(),
                        access_key_id,
                    })
                })
                .collect()
        }
    };
    let sections: Vec<String> = removals
        .iter()
        .map(|r| format!("[{}]", r.section))
        .collect();
    let file = paths.credentials.display();
    if removals.is_empty() {
        say(
            out,
            &format!("ssofresh: no section of {file} holds credentials ssofresh wrote"),
        );
        return Ok(());
    }
    let done = if dry_run {
        "would remove"
    } else {
        run::write_credentials(&paths.credentials, &[], &removals)?;
        "removed"
    };
    say(
        out,
        &format!(
            "ssofresh: {done} the credentials in {} from {file}",
            sections.join(", ")
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain words stay bare; anything else is double-quoted with `%`, `$` (in ExecStart),
    /// quotes, backslashes and control characters escaped the way systemd unescapes them.
    #[test]
    fn systemd_quoting() {
        assert_eq!(
            systemd_quote("/usr/bin/ssofresh", true),
            "/usr/bin/ssofresh"
        );
        assert_eq!(systemd_quote("--profile", true), "--profile");
        assert_eq!(systemd_quote("dev-*", true), "\"dev-*\"");
        assert_eq!(systemd_quote("", true), "\"\"");
        assert_eq!(
            systemd_quote("say \"$X\" 100% \\ ;\n", true),
            "\"say \\\"$$X\\\" 100%% \\\\ ;\\n\""
        );
        assert_eq!(systemd_quote("A=$x%", false), "\"A=$x%%\"");
    }

    /// Only the listed variables are carried, never credentials; a proxy URL with a password
    /// is left out with a note naming the variable (not its value); relative paths become
    /// absolute.
    #[test]
    fn environment_carried() {
        let vars = [
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_CONFIG_FILE", "cfg/config"),
            ("AWS_SHARED_CREDENTIALS_FILE", "~/creds"),
            ("HTTPS_PROXY", "http://user:hunter2@proxy:3128"),
            ("http_proxy", "http://user@proxy:3128"),
            ("NO_PROXY", ""),
            ("RUST_LOG", "debug"),
            ("HOME", "/h"),
        ];
        let lookup = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let (carried, notes) = carried_env(lookup, Path::new("/work"));
        let carried: Vec<(&str, &str)> = carried
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            carried,
            [
                ("AWS_CONFIG_FILE", "/work/cfg/config"),
                ("AWS_SHARED_CREDENTIALS_FILE", "~/creds"),
                ("http_proxy", "http://user@proxy:3128"),
                ("RUST_LOG", "debug"),
            ]
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].starts_with("HTTPS_PROXY") && !notes[0].contains("hunter2"));
        assert!(url_has_password("socks5://a:b@h:1/x"));
        assert!(!url_has_password("http://proxy:3128/a:b@c"));
    }

    fn spec() -> ServiceSpec {
        ServiceSpec {
            home: "/Users/a&b".into(),
            exe: "/opt/ssofresh <1>/ssofresh".into(),
            args: vec!["--profile".into(), "dev-*".into()],
            env: vec![("RUST_LOG".into(), "info,x=\"y\"".into())],
            write_dirs: vec!["/data/aws".into()],
        }
    }

    /// The unit keeps every line of the template but the ones replaced.
    #[test]
    fn unit_rendered_from_the_template() {
        let unit = render_unit(&spec()).expect("renders");
        assert!(unit.contains(
            "\nExecStart=\"/opt/ssofresh <1>/ssofresh\" --profile \"dev-*\"\n\
             Environment=\"RUST_LOG=info,x=\\\"y\\\"\"\n"
        ));
        assert!(unit.contains(
            "\nReadWritePaths=%h/.aws %h/.local/state/ssofresh\nReadWritePaths=-/data/aws\n"
        ));
        assert!(unit.contains("\nPrivateTmp=yes\n"));
        for line in UNIT_TEMPLATE.lines() {
            if !line.starts_with("ExecStart=") {
                assert!(unit.contains(line), "kept: {line}");
            }
        }
        let mut in_tmp = spec();
        in_tmp.write_dirs = vec!["/tmp/x".into()];
        assert!(
            render_unit(&in_tmp)
                .expect("renders")
                .contains("\nPrivateTmp=no\n")
        );
    }

    /// The agent's strings are XML-escaped and its environment is added.
    #[test]
    fn plist_rendered_from_the_template() {
        let plist = render_plist(&spec()).expect("renders");
        assert!(plist.contains(
            "\t\t<string>/opt/ssofresh &lt;1&gt;/ssofresh</string>\n\t\t<string>--profile</string>\n\t\t<string>dev-*</string>\n"
        ));
        assert!(plist.contains("<string>/Users/a&amp;b/Library/Logs/ssofresh.log</string>"));
        assert!(plist.contains(
            "<key>EnvironmentVariables</key>\n\t<dict>\n\t\t<key>RUST_LOG</key>\n\t\t<string>info,x=&quot;y&quot;</string>"
        ));
        assert!(plist.trim_end().ends_with("</dict>\n</plist>"));
        assert!(!plist.contains("@HOME@"));
    }

    /// The unit goes where systemd looks for user units: `$XDG_CONFIG_HOME/systemd/user`
    /// when that is absolute (systemd ignores a relative one), else `~/.config/systemd/user`.
    #[test]
    fn unit_path_follows_xdg_config_home() {
        let home = Path::new("/h");
        let unit = |xdg| service_path(ServiceKind::Systemd, home, xdg);
        assert_eq!(
            unit(None),
            Path::new("/h/.config/systemd/user/ssofresh.service")
        );
        assert_eq!(
            unit(Some("/cfg")),
            Path::new("/cfg/systemd/user/ssofresh.service")
        );
        assert_eq!(
            unit(Some("relative")),
            Path::new("/h/.config/systemd/user/ssofresh.service")
        );
        assert_eq!(
            service_path(ServiceKind::Launchd, home, Some("/cfg")),
            Path::new("/h/Library/LaunchAgents/io.github.ssofresh.plist")
        );
    }

    /// The folders to open are those of the credentials file outside ~/.aws, symlinks
    /// followed.
    #[test]
    fn folders_outside_aws() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().canonicalize().expect("canonical");
        let aws = home.join(".aws");
        let dotfiles = home.join("dotfiles");
        std::fs::create_dir_all(&aws).expect("mkdir");
        std::fs::create_dir_all(&dotfiles).expect("mkdir");
        std::fs::write(dotfiles.join("credentials"), "").expect("write");
        assert!(write_dirs(&home, &aws.join("credentials")).is_empty());
        std::os::unix::fs::symlink(dotfiles.join("credentials"), aws.join("credentials"))
            .expect("symlink");
        assert_eq!(write_dirs(&home, &aws.join("credentials")), [dotfiles]);
        assert_eq!(
            write_dirs(&home, &home.join("elsewhere/credentials")),
            [home.join("elsewhere")]
        );
    }
}
