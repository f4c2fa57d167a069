//! Real clients that judge a credentials file: botocore (boto3, the AWS CLI) and the AWS SDK
//! for JavaScript v2 (`AWS.SharedIniFileCredentials`, as used by Serverless Framework v3).
//!
//! `botocore_token.py` loads an SSO token from a token cache folder instead (see
//! [`botocore_sso_token`]).
//!
//! The credentials scripts live in `tests/readers/` and print
//! `{"<profile>": {"access_key", "secret_key", "token", "method"}}`, or `{"error": "…"}` when
//! the reader fails (e.g. a duplicate section). A missing interpreter or module is a panic
//! telling the user to run `bash scripts/test.sh`; these tests never skip silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const HOW_TO_INSTALL: &str = "run `bash scripts/test.sh` from the repository, which installs \
     botocore into target/test-venv and the JavaScript SDK into tests/readers/node_modules \
     and sets SSOFRESH_TEST_PYTHON";

fn readers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("readers")
}

/// Reads `profiles` from the credentials file at `path` with botocore
/// (`Session(profile=…).get_credentials()`). The interpreter is `$SSOFRESH_TEST_PYTHON`,
/// default `python3`.
#[track_caller]
pub fn botocore_read(path: &Path, profiles: &[&str]) -> Value {
    let python = std::env::var_os("SSOFRESH_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(readers_dir().join("botocore_creds.py"));
    read_with(cmd, "botocore", path, profiles)
}

/// Reads every section and key of the INI file at `path` as botocore does
/// (`configloader.raw_config_parse`): what botocore sees, comments and layout aside.
#[track_caller]
pub fn botocore_raw(path: &Path) -> Value {
    let python = std::env::var_os("SSOFRESH_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(readers_dir().join("botocore_creds.py"))
        .arg("--raw");
    read_with(cmd, "botocore", path, &[])
}

/// [`botocore_raw`] for many files in one Python process: one view, or `{"error": class}`,
/// per file, in order.
#[track_caller]
pub fn botocore_raw_each(paths: &[PathBuf]) -> Vec<Value> {
    let python = std::env::var_os("SSOFRESH_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(readers_dir().join("botocore_creds.py"))
        .arg("--raw-each");
    let rest: Vec<&str> = paths[1..]
        .iter()
        .map(|p| p.to_str().expect("UTF-8 path"))
        .collect();
    match read_with(cmd, "botocore", &paths[0], &rest) {
        Value::Array(views) => views,
        other => panic!("botocore printed no list: {other}"),
    }
}

/// Loads the token of sso-session `session` (start URL `start_url`, SSO region `region`) from
/// the token cache folder `cache_dir` with botocore's `SSOTokenProvider`, as boto3 and the CLI
/// load `~/.aws/sso/cache`. Prints `{"token", "expiration" (epoch seconds), "method",
/// "cached" (the file's fields as botocore's loader returns them)}`, or `{"error": …}`.
#[track_caller]
pub fn botocore_sso_token(cache_dir: &Path, session: &str, start_url: &str, region: &str) -> Value {
    let python = std::env::var_os("SSOFRESH_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(readers_dir().join("botocore_token.py"));
    read_with(cmd, "botocore", cache_dir, &[session, start_url, region])
}

/// botocore's views of many (before, after) texts, in one Python process: each pair written
/// to a temporary folder and read with [`botocore_raw_each`].
#[track_caller]
pub fn botocore_raw_pairs(pairs: &[(&str, &str)]) -> Vec<(Value, Value)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (i, (before, after)) in pairs.iter().enumerate() {
        for (name, text) in [("before", before), ("after", after)] {
            let path = dir.path().join(format!("{i}.{name}"));
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            paths.push(path);
        }
    }
    botocore_raw_each(&paths)
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

/// Gets `profile`'s credentials with botocore's own chain (`botocore_login.py`): config file
/// `config`, `aws login` cache `cache_dir`, Sign-In at `endpoint`, and the credentials file
/// `credentials` (none when `None`). Prints `{"access_key", "method"}` or `{"error"}`.
#[track_caller]
pub fn botocore_login(
    config: &Path,
    cache_dir: &Path,
    endpoint: &str,
    profile: &str,
    credentials: Option<&Path>,
) -> Value {
    let python = std::env::var_os("SSOFRESH_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.arg(readers_dir().join("botocore_login.py"));
    let cache = cache_dir.to_str().expect("UTF-8 path");
    let mut args = vec![cache, endpoint, profile];
    if let Some(c) = credentials {
        args.push(c.to_str().expect("UTF-8 path"));
    }
    read_with(cmd, "botocore", config, &args)
}

/// Reads `profiles` from the credentials file at `path` with the AWS SDK for JavaScript v2
/// (`new AWS.SharedIniFileCredentials({profile, filename}).get(cb)`), using the modules in
/// `tests/readers/node_modules`.
#[track_caller]
pub fn js_v2_read(path: &Path, profiles: &[&str]) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(readers_dir().join("js_v2_creds.js"))
        .env("NODE_PATH", readers_dir().join("node_modules"));
    read_with(cmd, "the JavaScript SDK v2", path, profiles)
}

#[track_caller]
fn read_with(mut cmd: Command, reader: &str, path: &Path, profiles: &[&str]) -> Value {
    // A clean environment: no AWS_* variables or profiles from the developer's shell leak in,
    // and HOME points at an empty directory.
    let home = tempfile::tempdir().expect("temporary HOME for a reader");
    cmd.env_remove("AWS_PROFILE");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(readers_dir())
        .arg(path)
        .args(profiles)
        .stdin(Stdio::null());
    let output = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot start {reader} reader {:?}: {e}; {HOW_TO_INSTALL}",
            cmd.get_program()
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0 | 1) => serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("{reader} reader printed no JSON ({e})\nstdout: {stdout}\nstderr: {stderr}")
        }),
        Some(3) => panic!(
            "{reader} is not installed: {}; {HOW_TO_INSTALL}",
            stderr.trim()
        ),
        _ => panic!(
            "{reader} reader failed ({})\nstdout: {stdout}\nstderr: {stderr}",
            output.status
        ),
    }
}
