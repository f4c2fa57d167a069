//! The command line: parsed raw by clap, then resolved into validated [`Options`](crate::daemon::run::Options).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

pub use crate::daemon::plan::Selector;

/// Keeps ~/.aws/credentials fresh from AWS IAM Identity Center (SSO) logins.
///
/// After `aws sso login`, ssofresh exchanges the cached SSO token for role credentials for
/// every SSO profile in ~/.aws/config and writes them to ~/.aws/credentials, for tools that
/// read only that file (Serverless Framework v3, the AWS SDK for JavaScript v2, older
/// Terraform). Only its own sections change; everything else in the file stays as it was.
#[derive(Debug, Parser)]
#[command(name = "ssofresh", version, about, long_about)]
#[command(
    after_help = "Exit status of --once: 0 every selected profile was written; \
2 some could not be (each is listed with what to do); 1 a fatal error."
)]
pub struct Args {
    /// Refresh every selected SSO profile that has a valid login, then exit.
    #[arg(long)]
    pub once: bool,

    /// Only this profile; repeatable. SECTION is the credentials-file section to write
    /// (default: the profile's own name; `default` is allowed).
    #[arg(short, long = "profile", value_name = "NAME[:SECTION]")]
    pub profiles: Vec<String>,

    /// Renew this long before the credentials expire (e.g. 90s, 5m, 1h); used by the daemon.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_margin)]
    pub refresh_margin: Duration,

    /// Also write each profile's `region` from the config file into its section.
    #[arg(long)]
    pub with_region: bool,

    /// Time allowed for one call to the portal (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// The AWS config file [default: $AWS_CONFIG_FILE, else ~/.aws/config]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The credentials file to write [default: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials]
    #[arg(long, value_name = "PATH")]
    pub credentials: Option<PathBuf>,

    /// More detail in the log (-v debug, -vv trace); RUST_LOG is honoured too.
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors and the final report.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses `NAME[:SECTION]`. A section name must be usable inside `[...]` on one line.
pub fn parse_selector(raw: &str) -> Result<Selector, String> {
    let (profile, section) = match raw.rsplit_once(':') {
        Some((p, s)) => (p, s),
        None => (raw, raw),
    };
    let profile = profile.trim();
    let section = section.trim();
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
    Ok(Selector {
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

    /// `NAME[:SECTION]`, with `default` allowed and bad section names refused.
    #[test]
    fn selectors() {
        let s = |p: &str, sec: &str| Selector {
            profile: p.into(),
            section: sec.into(),
        };
        assert_eq!(parse_selector("dev"), Ok(s("dev", "dev")));
        assert_eq!(parse_selector("dev:default"), Ok(s("dev", "default")));
        assert_eq!(parse_selector("a:b:c"), Ok(s("a:b", "c")));
        for bad in ["", ":x", "dev:", "dev:a]b", "dev:[x"] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
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
        assert_eq!(args.profiles, ["dev:default", "prod"]);
        assert_eq!(args.refresh_margin, Duration::from_secs(300));
        assert_eq!(args.verbose, 2);
        assert!(Args::try_parse_from(["ssofresh", "-v", "-q"]).is_err());
    }
}
