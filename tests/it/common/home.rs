//! [`TestHome`]: a temporary directory that stands in for `$HOME`.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// A temporary HOME, removed when dropped.
#[derive(Debug)]
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    /// Creates an empty HOME (no `.aws` directory yet).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ssofresh-home-")
            .tempdir()
            .expect("create temporary HOME");
        Self { dir }
    }

    /// The HOME directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<home>/.aws`.
    pub fn aws_dir(&self) -> PathBuf {
        self.path().join(".aws")
    }

    /// `<home>/.aws/config`.
    pub fn config_path(&self) -> PathBuf {
        self.aws_dir().join("config")
    }

    /// `<home>/.aws/credentials`.
    pub fn credentials_path(&self) -> PathBuf {
        self.aws_dir().join("credentials")
    }

    /// `<home>/.aws/sso/cache`.
    pub fn cache_dir(&self) -> PathBuf {
        self.aws_dir().join("sso").join("cache")
    }

    /// Writes `.aws/config`, creating `.aws` if needed.
    pub fn write_config(&self, text: &str) {
        write(&self.config_path(), text);
    }

    /// Writes `.aws/credentials`, creating `.aws` if needed.
    pub fn write_credentials(&self, text: &str) {
        write(&self.credentials_path(), text);
    }

    /// Reads `.aws/credentials`; panics if it does not exist.
    pub fn read_credentials(&self) -> String {
        let path = self.credentials_path();
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// The path of the token file for `cache_key` (an sso-session name, or the exact start URL
    /// of a legacy profile).
    pub fn token_path(&self, cache_key: &str) -> PathBuf {
        self.cache_dir().join(cache_file_name(cache_key))
    }

    /// Writes `json` to `.aws/sso/cache/<sha1(cache_key)>.json` and returns the path.
    pub fn write_token(&self, cache_key: &str, json: Value) -> PathBuf {
        let path = self.token_path(cache_key);
        let text = serde_json::to_string_pretty(&json).expect("serialize token JSON");
        write(&path, &text);
        path
    }

    /// Reads and parses the token file for `cache_key`.
    pub fn read_token(&self, cache_key: &str) -> Value {
        let path = self.token_path(cache_key);
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// `<lowercase hex sha1(cache_key)>.json`, the name the AWS CLI gives a token file.
pub fn cache_file_name(cache_key: &str) -> String {
    format!("{}.json", hex::encode(Sha1::digest(cache_key.as_bytes())))
}

/// A token as `aws sso login` (CLI v2) writes it, for start URL
/// `https://d-1234567890.awsapps.com/start` in `us-east-1`, with a refresh token
/// `refresh-<access_token>` and a registration valid for 90 days.
pub fn token_json(access_token: &str, expires_at: DateTime<Utc>) -> Value {
    let registration_expires = Utc::now() + chrono::Duration::days(90);
    json!({
        "startUrl": "https://d-1234567890.awsapps.com/start",
        "region": "us-east-1",
        "accessToken": access_token,
        "expiresAt": cli_timestamp(expires_at),
        "clientId": "client-id-ssofresh-test",
        "clientSecret": "client-secret-ssofresh-test",
        "registrationExpiresAt": cli_timestamp(registration_expires),
        "refreshToken": format!("refresh-{access_token}"),
    })
}

/// A timestamp as the AWS CLI writes it: `%Y-%m-%dT%H:%M:%SZ`.
pub fn cli_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn write(path: &Path, text: &str) {
    let parent = path.parent().expect("path has a parent");
    fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
