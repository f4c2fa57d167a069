//! The `aws login` cache (`~/.aws/login/cache`): a console session's file, its name, what it
//! says, and its content after a refresh.
//!
//! The AWS CLI names the file after the lowercase hex SHA-256 of the profile's trimmed
//! `login_session` value. It holds 15-minute credentials (`accessToken`), the `clientId`, a
//! rotating `refreshToken`, the DPoP private key (`dpopKey`, PEM) and, from botocore 1.44 on,
//! `signInRegion`. Other programs may keep files in the folder and the JS and Rust SDKs write
//! in place, so a file is classified by content, and a half-written one is a [`Problem`] to
//! retry, never a logout. Like the SSO token, it is parsed through `serde_json::Value` so no
//! error message can quote a value.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{SHA256, digest};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::files::credfile::RoleCredentials;
use crate::files::fsio;
use crate::login::token::{Problem, date_field, json_object, serialise_like, string_field};
use crate::secret::Secret;

/// A console session as cached by `aws login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `accessToken`: the credentials and when they end (`expiresAt`).
    pub credentials: RoleCredentials,
    /// `accessToken.accountId`, when present.
    pub account_id: Option<String>,
    /// `clientId`: `arn:aws:signin:::devtools/same-device` or `…/cross-device`.
    pub client_id: String,
    /// `refreshToken`: rotated by every refresh.
    pub refresh_token: Secret,
    /// `dpopKey`: the PEM of the key that signs every refresh's proof.
    pub dpop_key: Secret,
    /// `signInRegion` (botocore 1.44+): the Sign-In region, overriding the profile's.
    pub sign_in_region: Option<String>,
}

/// Why a console session's file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No file: `aws login` was not run for this session, or `aws logout` removed it.
    #[error("no `aws login` session cached at {}", path.display())]
    Missing { path: PathBuf },
    /// The file exists but cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The content is not a usable session (perhaps half-written: read again shortly).
    #[error("{} is not a usable `aws login` session ({problem})", path.display())]
    Invalid { path: PathBuf, problem: Problem },
}

impl SessionError {
    /// True when reading again shortly may succeed: an empty or half-written file (the JS
    /// and Rust SDKs write in place), never a logout.
    pub fn may_be_partial(&self) -> bool {
        matches!(
            self,
            SessionError::Invalid {
                problem: Problem::Empty | Problem::NotJson { .. },
                ..
            }
        )
    }
}

/// The file name the SDKs give a session: lowercase hex SHA-256 of the trimmed
/// `login_session`, plus `.json`.
pub fn file_name(login_session: &str) -> String {
    let d = digest(&SHA256, login_session.trim().as_bytes());
    format!("{}.json", hex::encode(d.as_ref()))
}

/// The path of the session file for `login_session` in `cache_dir`.
pub fn session_path(cache_dir: &Path, login_session: &str) -> PathBuf {
    cache_dir.join(file_name(login_session))
}

/// True when `bytes` is an `aws login` session file, judged as `aws logout --all` judges it:
/// a JSON object whose `accessToken` is an object holding `accessKeyId`.
pub fn is_session_file(bytes: &[u8]) -> bool {
    json_object(bytes)
        .is_ok_and(|m| access_token(&m).is_some_and(|a| a.contains_key("accessKeyId")))
}

fn access_token(map: &Map<String, Value>) -> Option<&Map<String, Value>> {
    match map.get("accessToken") {
        Some(Value::Object(a)) => Some(a),
        _ => None,
    }
}

/// Reads the session file at `path`.
pub fn read(path: &Path) -> Result<Session, SessionError> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(SessionError::Invalid {
            path: path.to_owned(),
            problem: Problem::NotAFile,
        });
    }
    let bytes = std::fs::read(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            SessionError::Missing {
                path: path.to_owned(),
            }
        } else {
            SessionError::Unreadable {
                path: path.to_owned(),
                error,
            }
        }
    })?;
    parse(&bytes).map_err(|problem| SessionError::Invalid {
        path: path.to_owned(),
        problem,
    })
}

/// Parses a session file's content: any key order, compact or pretty-printed, `expiresAt`
/// with or without fractions of a second. Every field a refresh needs must be there.
pub fn parse(bytes: &[u8]) -> Result<Session, Problem> {
    let map = json_object(bytes)?;
    let access = match map.get("accessToken") {
        None => return Err(Problem::NoAccessToken),
        Some(Value::Object(a)) => a,
        Some(_) => return Err(Problem::BadField("accessToken")),
    };
    let need = |m: &Map<String, Value>, name: &'static str| {
        string_field(m, name).ok_or(Problem::BadField(name))
    };
    let credentials = RoleCredentials {
        access_key_id: need(access, "accessKeyId")?,
        secret_access_key: Secret::new(need(access, "secretAccessKey")?),
        session_token: Secret::new(need(access, "sessionToken")?),
        expiration: date_field(access, "expiresAt")?.ok_or(Problem::BadField("expiresAt"))?,
    };
    Ok(Session {
        credentials,
        account_id: string_field(access, "accountId"),
        client_id: need(&map, "clientId")?,
        refresh_token: Secret::new(need(&map, "refreshToken")?),
        dpop_key: Secret::new(need(&map, "dpopKey")?),
        sign_in_region: string_field(&map, "signInRegion"),
    })
}

/// What a refresh through Sign-In hands back.
#[derive(Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    /// `expiresIn`, in seconds.
    pub expires_in: i64,
    /// The new (rotated) refresh token.
    pub refresh_token: Secret,
}

impl fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refreshed")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl Refreshed {
    /// The credentials as they go to `~/.aws/credentials`, ending `expires_in` after `now`.
    pub fn credentials(&self, now: DateTime<Utc>) -> RoleCredentials {
        RoleCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            expiration: expires_at(now, self.expires_in),
        }
    }
}

/// `now + expires_in`, whole seconds (as `%Y-%m-%dT%H:%M:%SZ` keeps it).
fn expires_at(now: DateTime<Utc>, expires_in: i64) -> DateTime<Utc> {
    let t = now + chrono::TimeDelta::seconds(expires_in);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The session file's content after a refresh, as botocore writes it: `accessToken` replaced
/// by the three new values, the old `accountId` and `expiresAt = now + expiresIn`
/// (`%Y-%m-%dT%H:%M:%SZ`); `refreshToken` replaced; every other field (`tokenType`,
/// `clientId`, `idToken`, `dpopKey`, `signInRegion`, unknown ones) kept, in order. `old` must
/// be a session file.
pub fn refreshed(old: &[u8], new: &Refreshed, now: DateTime<Utc>) -> Result<Vec<u8>, Problem> {
    let mut map = json_object(old)?;
    let account_id = match map.get("accessToken") {
        Some(Value::Object(a)) if a.contains_key("accessKeyId") => a.get("accountId").cloned(),
        Some(_) => return Err(Problem::BadField("accessToken")),
        None => return Err(Problem::NoAccessToken),
    };
    let text = |s: &str| Value::String(s.to_owned());
    let mut access = Map::new();
    access.insert("accessKeyId".into(), text(&new.access_key_id));
    access.insert(
        "secretAccessKey".into(),
        text(new.secret_access_key.expose()),
    );
    access.insert("sessionToken".into(), text(new.session_token.expose()));
    if let Some(account_id) = account_id {
        access.insert("accountId".into(), account_id);
    }
    access.insert(
        "expiresAt".into(),
        text(
            &expires_at(now, new.expires_in)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ),
    );
    // With `preserve_order`, inserting an existing key keeps its place.
    map.insert("accessToken".into(), Value::Object(access));
    map.insert("refreshToken".into(), text(new.refresh_token.expose()));
    serialise_like(old, map)
}

/// Writes a refreshed session file (from [`refreshed`]) atomically, 0600, through
/// [`fsio::replace_if_still`], and only if the file still holds `used` as its refresh token:
/// the file is read, checked, and must still hold those very bytes just before the rename, so
/// a new `aws login`, or another process's refresh, meanwhile wins. `false` when the file
/// changed (nothing written).
pub fn write_if_unchanged(
    path: &Path,
    contents: &[u8],
    used: &Secret,
) -> Result<bool, fsio::FsError> {
    let now = match std::fs::read(path) {
        Ok(now) => now,
        // Gone (`aws logout`): nothing to write over.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        // Unreadable now: not a change of hands; the caller keeps the content and tries again.
        Err(e) => return Err(fsio::FsError::unchanged("cannot write", path, e)),
    };
    if !parse(&now).is_ok_and(|s| s.refresh_token == *used) {
        return Ok(false);
    }
    fsio::replace_if_still(path, contents, Some(&now))
        .map(|r| matches!(r, fsio::Replaced::Written(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The file as `aws login` writes it (compact, Python separators, SEC1 key).
    const CLI_FILE: &str = r#"{"accessToken": {"accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "sk", "sessionToken": "st", "accountId": "012345678901", "expiresAt": "2025-11-19T00:15:00Z"}, "tokenType": "aws_sigv4", "clientId": "arn:aws:signin:::devtools/same-device", "refreshToken": "ASORold", "idToken": "eyJ.x.y", "dpopKey": "-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n", "signInRegion": "eu-west-1", "someFutureKey": 1}"#;

    /// A Sign-In answer: new credentials for 900 s and the rotated token `ASORnew`.
    fn answer() -> Refreshed {
        Refreshed {
            access_key_id: "ASIANEW".into(),
            secret_access_key: Secret::new("sk2"),
            session_token: Secret::new("st2"),
            expires_in: 900,
            refresh_token: Secret::new("ASORnew"),
        }
    }

    /// The facts' test vectors: SHA-256 of the session ARN, blanks around it trimmed.
    #[test]
    fn file_names() {
        let v = "36db1d138ff460920374e4c3d8e01f53f9f73537e89c88d639f68393df0e2726.json";
        assert_eq!(file_name("arn:aws:iam::0123456789012:user/Admin"), v);
        assert_eq!(file_name("  arn:aws:iam::0123456789012:user/Admin  "), v);
        assert_eq!(
            file_name("arn:aws:sts::012345678910:assumed-role/Admin/admin"),
            "4b0ba8f99f075c0633e122fd73346ce203a3faf18ea0310eb2d29df1bab2e255.json"
        );
        assert_ne!(
            file_name("arn:aws:iam::0123456789012:user/admin"),
            v,
            "case counts"
        );
    }

    /// Every field the CLI writes is read; pretty JSON with millisecond `expiresAt` (the JS
    /// SDK's form) and any key order read the same.
    #[test]
    fn parses_cli_and_js_forms() {
        let s = parse(CLI_FILE.as_bytes()).expect("parses");
        assert_eq!(s.credentials.access_key_id, "ASIAEXAMPLE");
        assert_eq!(s.credentials.secret_access_key.expose(), "sk");
        assert_eq!(s.credentials.session_token.expose(), "st");
        let end = Utc.with_ymd_and_hms(2025, 11, 19, 0, 15, 0).single();
        assert_eq!(Some(s.credentials.expiration), end);
        assert_eq!(s.account_id.as_deref(), Some("012345678901"));
        assert_eq!(s.client_id, "arn:aws:signin:::devtools/same-device");
        assert_eq!(s.refresh_token.expose(), "ASORold");
        assert!(s.dpop_key.expose().starts_with("-----BEGIN EC PRIVATE KEY"));
        assert_eq!(s.sign_in_region.as_deref(), Some("eu-west-1"));
        let js = r#"{
  "dpopKey": "k",
  "refreshToken": "r",
  "clientId": "c",
  "accessToken": {
    "expiresAt": "2025-11-19T00:15:00.000Z",
    "sessionToken": "st",
    "secretAccessKey": "sk",
    "accessKeyId": "A"
  }
}"#;
        let s = parse(js.as_bytes()).expect("js form");
        assert_eq!(Some(s.credentials.expiration), end);
        assert_eq!(s.account_id, None);
        assert_eq!(s.sign_in_region, None);
    }

    /// What is wrong is named without quoting any value; other files are told apart by content.
    #[test]
    fn problems_and_classification() {
        let table: [(&str, Problem); 7] = [
            ("", Problem::Empty),
            (
                r#"{"accessToken": {"acc"#,
                Problem::NotJson {
                    line: 1,
                    column: 21,
                },
            ),
            ("[1]", Problem::NotAnObject),
            (r#"{"clientId": "c"}"#, Problem::NoAccessToken),
            (
                r#"{"accessToken": "aoa-sso-token"}"#,
                Problem::BadField("accessToken"),
            ),
            (
                r#"{"accessToken": {"accessKeyId": "A", "secretAccessKey": "s", "sessionToken": "t", "expiresAt": "2025-11-19T00:15:00Z"}, "clientId": "c", "dpopKey": "k"}"#,
                Problem::BadField("refreshToken"),
            ),
            (
                r#"{"accessToken": {"accessKeyId": "A", "secretAccessKey": "s", "sessionToken": "t", "expiresAt": "soon"}}"#,
                Problem::BadExpiry("soon".into()),
            ),
        ];
        for (text, want) in table {
            assert_eq!(parse(text.as_bytes()).expect_err("fails"), want, "{text}");
        }
        assert!(is_session_file(CLI_FILE.as_bytes()));
        assert!(!is_session_file(
            br#"{"accessToken": "sso", "expiresAt": "x"}"#
        ));
        assert!(!is_session_file(b"{\"accessToken\": {\"acc"));
    }

    /// A refresh rewrites exactly what botocore rewrites: the three credentials, the old
    /// accountId, expiresAt from now, the rotated refresh token; every other key stays in order.
    #[test]
    fn refreshed_keeps_the_rest_in_order() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 2, 14, 0, 0)
            .single()
            .expect("t");
        let new = answer();
        let out = refreshed(CLI_FILE.as_bytes(), &new, now).expect("refreshed");
        let text = String::from_utf8(out.clone()).expect("utf8");
        let keys: Vec<String> = json_object(&out).expect("obj").keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "accessToken",
                "tokenType",
                "clientId",
                "refreshToken",
                "idToken",
                "dpopKey",
                "signInRegion",
                "someFutureKey"
            ]
        );
        assert!(text.contains(r#""accessToken":{"accessKeyId":"ASIANEW","secretAccessKey":"sk2","sessionToken":"st2","accountId":"012345678901","expiresAt":"2026-12-02T14:15:00Z"}"#), "{text}");
        let s = parse(&out).expect("parses back");
        assert_eq!(s.refresh_token.expose(), "ASORnew");
        assert_eq!(
            s.dpop_key,
            parse(CLI_FILE.as_bytes()).expect("old").dpop_key
        );
        assert!(!text.contains('\n'), "compact stays compact");
        assert!(refreshed(b"{\"accessToken\": \"x\"}", &new, now).is_err());
        assert!(format!("{new:?}").find("sk2").is_none());
    }

    /// The write-back happens only while the file still holds the refresh token that was
    /// used; a file another login replaced meanwhile is left alone. The result is 0600.
    #[test]
    fn write_back_only_over_the_token_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(file_name("arn:aws:iam::1:user/a"));
        std::fs::write(&path, CLI_FILE).expect("seed");
        let now = Utc::now();
        let new = answer();
        let out = refreshed(CLI_FILE.as_bytes(), &new, now).expect("out");
        let wrong = Secret::new("ASORother");
        assert!(!write_if_unchanged(&path, &out, &wrong).expect("io"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), CLI_FILE);
        assert!(write_if_unchanged(&path, &out, &Secret::new("ASORold")).expect("io"));
        assert_eq!(read(&path).expect("read").refresh_token.expose(), "ASORnew");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_file(&path).expect("rm");
        assert!(matches!(read(&path), Err(SessionError::Missing { .. })));
        std::fs::write(&path, "{\"accessTo").expect("half");
        assert!(read(&path).expect_err("fails").may_be_partial());
    }
}
