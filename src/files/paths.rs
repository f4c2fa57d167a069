//! The only module that knows where things are: HOME, the config and credentials files, and
//! the SSO token cache and the `aws login` cache, resolved as the AWS CLI resolves them.

use std::path::{Path, PathBuf};

/// Where ssofresh reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `~/.aws/config`, or `$AWS_CONFIG_FILE`, or `--config`.
    pub config: PathBuf,
    /// True when the config path was named (`--config`, `$AWS_CONFIG_FILE`): then it must exist.
    pub config_named: bool,
    /// `~/.aws/credentials`, or `$AWS_SHARED_CREDENTIALS_FILE`, or `--credentials`.
    pub credentials: PathBuf,
    /// `~/.aws/sso/cache`: always under HOME, whatever `AWS_CONFIG_FILE` says (as in every SDK).
    pub sso_cache: PathBuf,
    /// `~/.aws/login/cache`, or `$AWS_LOGIN_CACHE_DIRECTORY` (a leading `~` expanded, as
    /// botocore does): where `aws login` keeps console sessions.
    pub login_cache: PathBuf,
}

/// HOME could not be found.
#[derive(Debug, thiserror::Error)]
#[error("cannot find your home folder: set HOME")]
pub struct NoHome;

impl Paths {
    /// Resolves the paths from the command line and the environment (`env` is a lookup so
    /// tests need not touch the process environment).
    pub fn resolve(
        config: Option<PathBuf>,
        credentials: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, NoHome> {
        let home = env("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(NoHome)?;
        let from_env = |name: &str| {
            env(name)
                .filter(|v| !v.is_empty())
                .map(|v| expand_tilde(&v, &home))
        };
        let named = config.or_else(|| from_env("AWS_CONFIG_FILE"));
        Ok(Self {
            config_named: named.is_some(),
            config: named.unwrap_or_else(|| home.join(".aws").join("config")),
            credentials: credentials
                .or_else(|| from_env("AWS_SHARED_CREDENTIALS_FILE"))
                .unwrap_or_else(|| home.join(".aws").join("credentials")),
            sso_cache: home.join(".aws").join("sso").join("cache"),
            login_cache: from_env("AWS_LOGIN_CACHE_DIRECTORY")
                .unwrap_or_else(|| home.join(".aws").join("login").join("cache")),
        })
    }
}

/// The folder for ssofresh's state: `$XDG_STATE_HOME/ssofresh`, else
/// `~/.local/state/ssofresh`; on macOS `~/Library/Application Support/ssofresh`.
pub fn state_dir(env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, NoHome> {
    let home = env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(NoHome)?;
    if cfg!(target_os = "macos") {
        return Ok(home.join("Library/Application Support/ssofresh"));
    }
    // The XDG spec ignores a relative path.
    let xdg = env("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    Ok(xdg
        .unwrap_or_else(|| home.join(".local").join("state"))
        .join("ssofresh"))
}

/// The state file of the daemon keeping the credentials file `credentials`:
/// `state-<sha1 of its canonical path>.json` in [`state_dir`], one per credentials file.
pub fn state_file(dir: &Path, credentials: &Path) -> PathBuf {
    use sha1::{Digest, Sha1};
    let canonical = std::fs::canonicalize(credentials).unwrap_or_else(|_| {
        // Not there yet: its folder, resolved, and its name.
        match (credentials.parent(), credentials.file_name()) {
            (Some(parent), Some(name)) => std::fs::canonicalize(parent)
                .map(|p| p.join(name))
                .unwrap_or_else(|_| credentials.to_owned()),
            _ => credentials.to_owned(),
        }
    });
    let digest = Sha1::digest(canonical.as_os_str().as_encoded_bytes());
    dir.join(format!("state-{}.json", hex::encode(digest)))
}

/// Expands a leading `~` or `~/` to HOME, as the SDKs do for these variables.
fn expand_tilde(value: &str, home: &Path) -> PathBuf {
    match value.strip_prefix('~') {
        Some("") => home.to_owned(),
        Some(rest) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// Defaults, environment variables (with `~`), and flags, in that order of strength.
    #[test]
    fn resolution() {
        let p = Paths::resolve(None, None, env(&[("HOME", "/h")])).expect("home");
        assert_eq!(p.config, Path::new("/h/.aws/config"));
        assert_eq!(p.credentials, Path::new("/h/.aws/credentials"));
        assert_eq!(p.sso_cache, Path::new("/h/.aws/sso/cache"));
        assert!(!p.config_named);
        let vars = [
            ("HOME", "/h"),
            ("AWS_CONFIG_FILE", "~/cfg"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/x/creds"),
        ];
        let p = Paths::resolve(None, None, env(&vars)).expect("home");
        assert_eq!(p.config, Path::new("/h/cfg"));
        assert!(p.config_named);
        assert_eq!(p.credentials, Path::new("/x/creds"));
        assert_eq!(
            p.sso_cache,
            Path::new("/h/.aws/sso/cache"),
            "the cache never moves"
        );
        let p = Paths::resolve(Some("/f".into()), None, env(&vars)).expect("home");
        assert_eq!(p.config, Path::new("/f"));
        assert!(Paths::resolve(None, None, env(&[])).is_err());
    }

    /// The state folder: XDG_STATE_HOME when absolute, else ~/.local/state (Linux).
    #[cfg(not(target_os = "macos"))]
    #[test]
    fn state_folder() {
        let dir = |vars: &[(&str, &str)]| state_dir(env(vars)).expect("home");
        assert_eq!(
            dir(&[("HOME", "/h")]),
            Path::new("/h/.local/state/ssofresh")
        );
        let vars = [("HOME", "/h"), ("XDG_STATE_HOME", "/s")];
        assert_eq!(dir(&vars), Path::new("/s/ssofresh"));
        let vars = [("HOME", "/h"), ("XDG_STATE_HOME", "rel")];
        assert_eq!(dir(&vars), Path::new("/h/.local/state/ssofresh"));
        let a = state_file(Path::new("/s"), Path::new("/nonexistent/a/credentials"));
        let b = state_file(Path::new("/s"), Path::new("/nonexistent/b/credentials"));
        assert_ne!(a, b, "one state file per credentials file");
        assert!(a.to_string_lossy().starts_with("/s/state-"));
    }

    /// The `aws login` cache: `~/.aws/login/cache` unless `AWS_LOGIN_CACHE_DIRECTORY` names
    /// another folder (with `~`); it does not follow `AWS_CONFIG_FILE`.
    #[test]
    fn login_cache() {
        let vars = [("HOME", "/h"), ("AWS_CONFIG_FILE", "/elsewhere/config")];
        let p = Paths::resolve(None, None, env(&vars)).expect("home");
        assert_eq!(p.login_cache, Path::new("/h/.aws/login/cache"));
        let vars = [("HOME", "/h"), ("AWS_LOGIN_CACHE_DIRECTORY", "~/lc")];
        let p = Paths::resolve(None, None, env(&vars)).expect("home");
        assert_eq!(p.login_cache, Path::new("/h/lc"));
    }
}
