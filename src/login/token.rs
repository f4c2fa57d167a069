//! The SSO token cache (`~/.aws/sso/cache`): where a login's token lives and what it says.
//!
//! The AWS CLI names a token file after the SHA-1 of the sso-session name (or, for legacy
//! profiles, of the exact start URL). The folder also holds client registrations and files of
//! other tools, and the CLI writes in place, so a reader can meet an empty or half-written
//! file: every such case is a [`TokenError`] naming the file, never a panic.
//!
//! Parsing goes through `serde_json::Value` and never through typed deserialisation, because
//! serde's type errors quote the offending value, and that value may be a token.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::files::config::LoginId;
use crate::files::fsio;
use crate::secret::Secret;

/// A cached SSO access token and what is needed to renew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The bearer token sent to the portal.
    pub access_token: Secret,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// `region` as written by the CLI (the SSO region), when present.
    pub region: Option<String>,
    /// `startUrl` as written by the CLI, when present.
    pub start_url: Option<String>,
    /// What a refresh through SSO OIDC `CreateToken` needs, when the login has it all.
    pub refresh: Option<RefreshGrant>,
}

/// The refresh token and client registration that let a login be renewed without a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    /// `refreshToken`.
    pub refresh_token: Secret,
    /// `clientId` of the OIDC client registration.
    pub client_id: String,
    /// `clientSecret` of the registration.
    pub client_secret: Secret,
    /// `registrationExpiresAt`: the registration (and so refreshing) ends then.
    pub registration_expires_at: DateTime<Utc>,
}

impl Token {
    /// True when the access token is no longer usable at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// Why a login's token could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No token file: nobody has logged in (or `aws sso logout` removed it).
    #[error("no cached login at {}", path.display())]
    Missing { path: PathBuf },
    /// The file exists but cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not a token: empty, half-written, not JSON, or JSON of another kind.
    #[error("{} is not a usable SSO token ({problem})", path.display())]
    Invalid { path: PathBuf, problem: Problem },
}

/// What is wrong with the content of a token file. Never carries any of the file's values,
/// except an unparsable `expiresAt`, which is a date, not a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a regular file (a folder, a FIFO, a device).
    NotAFile,
    /// Zero bytes: the CLI truncates before it writes, so this is often "not yet".
    Empty,
    /// Not valid JSON (half-written, or not a cache file at all).
    NotJson { line: usize, column: usize },
    /// JSON, but not an object.
    NotAnObject,
    /// An object without `accessToken`: a client registration or another tool's file.
    NoAccessToken,
    /// A required field is missing or has the wrong type.
    BadField(&'static str),
    /// `expiresAt` in a form no reader accepts.
    BadExpiry(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotAFile => f.write_str("it is not a regular file"),
            Problem::Empty => f.write_str("the file is empty, perhaps still being written"),
            Problem::NotJson { line, column } => write!(
                f,
                "not valid JSON at line {line} column {column}, perhaps still being written"
            ),
            Problem::NotAnObject => f.write_str("the JSON is not an object"),
            Problem::NoAccessToken => {
                f.write_str("no accessToken: a client registration or another tool's file")
            }
            Problem::BadField(name) => write!(f, "{name} is missing or not a string"),
            Problem::BadExpiry(value) => {
                write!(f, "expiresAt {value:?} is not a date ssofresh understands")
            }
        }
    }
}

/// The path of the token file for `login` in `cache_dir`, named as the AWS CLI names it.
pub fn token_path(cache_dir: &Path, login: &LoginId) -> PathBuf {
    let digest = Sha1::digest(login.cache_key().as_bytes());
    cache_dir.join(format!("{}.json", hex::encode(digest)))
}

/// Reads the token file at `path`.
pub fn read(path: &Path) -> Result<Token, TokenError> {
    // A FIFO or device in the cache folder would block the read or never end.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(TokenError::Invalid {
            path: path.to_owned(),
            problem: Problem::NotAFile,
        });
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TokenError::Missing {
                path: path.to_owned(),
            });
        }
        Err(error) => {
            return Err(TokenError::Unreadable {
                path: path.to_owned(),
                error,
            });
        }
    };
    parse(&bytes).map_err(|problem| TokenError::Invalid {
        path: path.to_owned(),
        problem,
    })
}

/// Parses the content of a token file.
pub fn parse(bytes: &[u8]) -> Result<Token, Problem> {
    let map = json_object(bytes)?;
    let access_token = match map.get("accessToken") {
        None => return Err(Problem::NoAccessToken),
        Some(Value::String(s)) if !s.is_empty() => Secret::new(s.as_str()),
        Some(_) => return Err(Problem::BadField("accessToken")),
    };
    let expires_at = date_field(&map, "expiresAt")?.ok_or(Problem::BadField("expiresAt"))?;
    Ok(Token {
        access_token,
        expires_at,
        region: string_field(&map, "region"),
        start_url: string_field(&map, "startUrl"),
        refresh: refresh_grant(&map),
    })
}

/// The JSON object a cache file holds (SSO token or console session alike): an empty,
/// half-written or non-object file is a [`Problem`] that carries none of its content.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::Empty);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Problem::NotJson {
        line: e.line(),
        column: e.column(),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::NotAnObject),
    }
}

/// The refresh grant, when every part of it is present and well-formed.
fn refresh_grant(map: &Map<String, Value>) -> Option<RefreshGrant> {
    Some(RefreshGrant {
        refresh_token: Secret::new(string_field(map, "refreshToken")?),
        client_id: string_field(map, "clientId")?,
        client_secret: Secret::new(string_field(map, "clientSecret")?),
        registration_expires_at: date_field(map, "registrationExpiresAt").ok()??,
    })
}

pub(crate) fn string_field(map: &Map<String, Value>, name: &str) -> Option<String> {
    match map.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

pub(crate) fn date_field(
    map: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, Problem> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_expires_at(s)
            .map(Some)
            .ok_or_else(|| Problem::BadExpiry(s.chars().take(64).collect())),
        Some(_) => Err(Problem::BadField(name)),
    }
}

/// Parses every `expiresAt` form seen in the wild: `…Z` (CLI v2, Go), fractions of any
/// length (JS: milliseconds, Rust: microseconds), numeric offsets (`+00:00`, `+0000`),
/// a trailing `UTC` (CLI v2 before 2.1.14), and a bare timestamp, taken as UTC.
pub fn parse_expires_at(text: &str) -> Option<DateTime<Utc>> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let zoneless = s
        .strip_suffix("UTC")
        .or_else(|| s.strip_suffix('Z'))
        .or_else(|| s.strip_suffix('z'))
        .unwrap_or(s)
        .trim_end();
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(zoneless, format) {
            return Some(t.and_utc());
        }
    }
    None
}

/// The token file's content after a refresh: `accessToken`, `expiresAt` (as
/// `%Y-%m-%dT%H:%M:%SZ`) and `refreshToken` (when a new one came) replaced; every other
/// field, unknown ones too, kept in place and in order, as the CLI keeps them.
///
/// `old` must be a token file (a JSON object with `accessToken`): a registration or a
/// half-written file is refused rather than turned into a token. A field missing from `old`
/// is added at the end. The result is pretty-printed when `old` spans several lines and
/// compact otherwise, ends with a newline when `old` did, and is ASCII like Python's
/// `json.dumps`, so every reader decodes it whatever its locale.
pub fn refreshed(
    old: &[u8],
    access_token: &Secret,
    expires_at: DateTime<Utc>,
    refresh_token: Option<&Secret>,
) -> Result<Vec<u8>, Problem> {
    let mut map = json_object(old)?;
    if !map.contains_key("accessToken") {
        return Err(Problem::NoAccessToken);
    }
    // With `preserve_order`, inserting an existing key keeps its place.
    map.insert(
        "accessToken".to_owned(),
        Value::String(access_token.expose().to_owned()),
    );
    map.insert(
        "expiresAt".to_owned(),
        Value::String(expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    if let Some(refresh_token) = refresh_token {
        map.insert(
            "refreshToken".to_owned(),
            Value::String(refresh_token.expose().to_owned()),
        );
    }
    serialise_like(old, map)
}

/// A cache file's new content from `map`, in the style of `old`: pretty-printed when `old`
/// spans several lines and compact otherwise, ending with a newline when `old` did, and ASCII
/// like Python's `json.dumps`, so every reader decodes it whatever its locale.
pub(crate) fn serialise_like(old: &[u8], map: Map<String, Value>) -> Result<Vec<u8>, Problem> {
    let body = Value::Object(map);
    let text = if old.trim_ascii().contains(&b'\n') {
        serde_json::to_string_pretty(&body)
    } else {
        serde_json::to_string(&body)
    }
    // A map of strings always serialises; no value of it may appear in a message anyway.
    .map_err(|_| Problem::NotAnObject)?;
    let mut out = ascii_json(&text).into_bytes();
    if old.ends_with(b"\n") {
        out.push(b'\n');
    }
    Ok(out)
}

/// JSON text with every non-ASCII character written as a `\uXXXX` escape (a surrogate pair
/// above U+FFFF), as Python's `json.dumps` writes it. serde_json puts non-ASCII characters
/// only inside strings, where the escape means the same.
fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Writes a token file's new content (from [`refreshed`]) through [`fsio::replace_if_still`]:
/// atomically, 0600, a symlinked file's target replaced and the link kept; and only if the file
/// still holds `original` once the new content is flushed, right before the rename (verified
/// by the exchange where the platform has one), so a login that lands meanwhile is never
/// overwritten. `false` when the file changed (nothing written).
pub fn write_if_unchanged(
    path: &Path,
    contents: &[u8],
    original: &[u8],
) -> Result<bool, fsio::FsError> {
    fsio::replace_if_still(path, contents, Some(original))
        .map(|r| matches!(r, fsio::Replaced::Written(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_time;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid date")
    }

    /// Every expiresAt form from the facts file parses to the same instant.
    #[test]
    fn expires_at_forms() {
        let t = utc(2023, 10, 20, 5, 58, 17);
        let table = [
            ("2023-10-20T05:58:17Z", t),
            ("2023-10-20T05:58:17UTC", t),
            ("2023-10-20T05:58:17 UTC", t),
            ("2023-10-20T05:58:17+00:00", t),
            ("2023-10-20T05:58:17+0000", t),
            ("2023-10-20T07:58:17+02:00", t),
            ("2023-10-20T00:58:17-05:00", t),
            ("2023-10-20T05:58:17", t),
            ("2023-10-20 05:58:17", t),
            ("2023-10-20T05:58:17z", t),
            ("  2023-10-20T05:58:17Z\n", t),
        ];
        for (text, want) in table {
            assert_eq!(parse_expires_at(text), Some(want), "{text}");
        }
        let ms = parse_expires_at("2026-11-24T04:04:20.652Z").expect("ms");
        assert_eq!(
            ms.timestamp_millis(),
            utc(2026, 11, 24, 4, 4, 20).timestamp_millis() + 652
        );
        let us = parse_expires_at("2026-11-24T04:04:20.652302Z").expect("us");
        assert_eq!(us.timestamp_micros() % 1_000_000, 652_302);
        assert!(parse_expires_at("2023-10-20T05:58:17.5UTC").is_some());
    }

    /// Strings that are not dates are refused rather than guessed at.
    #[test]
    fn expires_at_rejects() {
        for text in [
            "",
            "soon",
            "1700000000",
            "2023-13-01T00:00:00Z",
            "2023-10-20",
            "2023-10-20T25:00:00Z",
        ] {
            assert_eq!(parse_expires_at(text), None, "{text}");
        }
    }

    /// The file name is the SHA-1 of the session name, or of the exact start URL.
    #[test]
    fn cache_file_names() {
        let dir = Path::new("/c");
        // sha1("corp"), computed with Python's hashlib.
        assert_eq!(
            token_path(dir, &LoginId::Session("corp".into())),
            dir.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json")
        );
        let a = token_path(
            dir,
            &LoginId::StartUrl("https://d-123.awsapps.com/start".into()),
        );
        let b = token_path(
            dir,
            &LoginId::StartUrl("https://d-123.awsapps.com/start/".into()),
        );
        assert_ne!(a, b, "a trailing slash changes the hash, as in the CLI");
    }

    /// A CLI token parses with its refresh grant; unknown fields are ignored.
    #[test]
    fn parses_cli_token() {
        let json = br#"{"startUrl":"https://d-1.awsapps.com/start","region":"us-east-1",
            "accessToken":"at","expiresAt":"2026-11-24T04:04:20Z","clientId":"cid",
            "clientSecret":"cs","registrationExpiresAt":"2027-01-01T00:00:00Z",
            "refreshToken":"rt","somethingNew":[1,2]}"#;
        let t = parse(json).expect("token");
        assert_eq!(t.access_token.expose(), "at");
        assert_eq!(t.expires_at, utc(2026, 11, 24, 4, 4, 20));
        assert_eq!(t.region.as_deref(), Some("us-east-1"));
        let r = t.refresh.expect("refreshable");
        assert_eq!(r.refresh_token.expose(), "rt");
        assert_eq!(r.client_id, "cid");
    }

    /// A legacy token without refresh fields is still a token, just not renewable.
    #[test]
    fn legacy_token_has_no_grant() {
        let t =
            parse(br#"{"accessToken":"at","expiresAt":"2020-12-18T19:09:40UTC"}"#).expect("token");
        assert!(t.refresh.is_none());
        assert!(t.is_expired(utc(2021, 1, 1, 0, 0, 0)));
        assert!(!t.is_expired(utc(2020, 12, 18, 19, 9, 39)));
    }

    /// Empty, half-written and foreign files are classified, and no value leaks into the
    /// message except a bad date.
    #[test]
    fn bad_files() {
        let table: [(&[u8], Problem); 9] = [
            (b"", Problem::Empty),
            (b"  \n", Problem::Empty),
            (
                br#"{"accessToken":"sec"#,
                Problem::NotJson {
                    line: 1,
                    column: 19,
                },
            ),
            (b"[1,2]", Problem::NotAnObject),
            (
                br#"{"clientId":"x","clientSecret":"y","expiresAt":"2027-01-01T00:00:00Z"}"#,
                Problem::NoAccessToken,
            ),
            (br#"{"accessToken":"sec"}"#, Problem::BadField("expiresAt")),
            (
                br#"{"accessToken":"sec","expiresAt":12}"#,
                Problem::BadField("expiresAt"),
            ),
            (
                br#"{"accessToken":42,"expiresAt":"2027-01-01T00:00:00Z"}"#,
                Problem::BadField("accessToken"),
            ),
            (
                br#"{"accessToken":"sec","expiresAt":"tomorrow"}"#,
                Problem::BadExpiry("tomorrow".into()),
            ),
        ];
        for (bytes, want) in table {
            let got = parse(bytes).expect_err("must fail");
            assert_eq!(got, want, "{}", String::from_utf8_lossy(bytes));
            assert!(!got.to_string().contains("sec\""), "{got}");
        }
    }

    /// A missing file is `Missing`, and the error names the path.
    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope.json");
        let err = read(&path).expect_err("missing");
        assert!(matches!(err, TokenError::Missing { .. }));
        assert!(err.to_string().contains("nope.json"));
    }

    const CLI_TOKEN: &str = r#"{"startUrl": "https://d-1.awsapps.com/start", "region": "us-east-1", "accessToken": "at-old", "expiresAt": "2026-11-24T04:04:20Z", "clientId": "cid", "clientSecret": "cs", "registrationExpiresAt": "2027-01-01T00:00:00Z", "refreshToken": "rt-old", "zUnknown": {"nested": [1, "\u00e9"]}, "aUnknown": null}"#;

    fn keys(bytes: &[u8]) -> Vec<String> {
        match serde_json::from_slice::<Value>(bytes).expect("JSON") {
            Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    /// A refresh replaces the three fields in place; every other field, unknown ones too,
    /// keeps its value and its place, and the result parses to the new token with the same
    /// grant but the rotated refresh token.
    #[test]
    fn refreshed_keeps_fields_and_order() {
        let at = Secret::new("at-new");
        let rt = Secret::new("rt-new");
        let t = utc(2026, 11, 24, 12, 0, 7) + chrono::Duration::milliseconds(999);
        let new = refreshed(CLI_TOKEN.as_bytes(), &at, t, Some(&rt)).expect("refreshed");
        assert_eq!(keys(&new), keys(CLI_TOKEN.as_bytes()));
        let value: Value = serde_json::from_slice(&new).expect("JSON");
        assert_eq!(value["accessToken"], "at-new");
        assert_eq!(value["expiresAt"], "2026-11-24T12:00:07Z");
        assert_eq!(value["refreshToken"], "rt-new");
        let old: Value = serde_json::from_str(CLI_TOKEN).expect("JSON");
        for (key, old_value) in old.as_object().expect("object") {
            if !["accessToken", "expiresAt", "refreshToken"].contains(&key.as_str()) {
                assert_eq!(&value[key], old_value, "{key}");
            }
        }

        let before = parse(CLI_TOKEN.as_bytes()).expect("old token");
        let after = parse(&new).expect("new token");
        assert_eq!(after.access_token, at);
        assert_eq!(after.expires_at, utc(2026, 11, 24, 12, 0, 7));
        assert_eq!(
            (&after.region, &after.start_url),
            (&before.region, &before.start_url)
        );
        let (old_grant, new_grant) = (
            before.refresh.expect("grant"),
            after.refresh.expect("grant"),
        );
        assert_eq!(new_grant.refresh_token, rt);
        assert_eq!(
            RefreshGrant {
                refresh_token: rt,
                ..old_grant
            },
            new_grant,
            "the registration is kept"
        );
    }

    /// Without a new refresh token the old one stays; a refresh token the old file lacked is
    /// added at the end.
    #[test]
    fn refreshed_refresh_token_rotated_or_absent() {
        let at = Secret::new("at-new");
        let t = utc(2026, 1, 2, 3, 4, 5);
        let kept = refreshed(CLI_TOKEN.as_bytes(), &at, t, None).expect("refreshed");
        let token = parse(&kept).expect("token");
        assert_eq!(
            token.refresh.expect("grant").refresh_token.expose(),
            "rt-old"
        );

        let without = br#"{"accessToken":"a","expiresAt":"2026-01-01T00:00:00Z","x":1}"#;
        let rt = Secret::new("rt-new");
        let added = refreshed(without, &at, t, Some(&rt)).expect("refreshed");
        assert_eq!(
            keys(&added),
            ["accessToken", "expiresAt", "x", "refreshToken"]
        );
        assert_eq!(
            String::from_utf8(added).expect("UTF-8"),
            r#"{"accessToken":"at-new","expiresAt":"2026-01-02T03:04:05Z","x":1,"refreshToken":"rt-new"}"#
        );
    }

    /// A pretty-printed file stays pretty-printed, a trailing newline stays, and the output
    /// is ASCII, non-ASCII characters escaped as Python writes them.
    #[test]
    fn refreshed_layout_and_ascii() {
        let old = "{\n  \"accessToken\": \"a\",\n  \"expiresAt\": \"2026-01-01T00:00:00Z\",\n  \
                   \"startUrl\": \"https://d-1.awsapps.com/caf\u{e9}/\u{1f600}\"\n}\n";
        let at = Secret::new("at-new");
        let new = refreshed(old.as_bytes(), &at, utc(2026, 1, 2, 3, 4, 5), None).expect("ok");
        let text = String::from_utf8(new).expect("UTF-8");
        assert!(text.is_ascii(), "{text}");
        assert_eq!(
            text,
            "{\n  \"accessToken\": \"at-new\",\n  \"expiresAt\": \"2026-01-02T03:04:05Z\",\n  \
             \"startUrl\": \"https://d-1.awsapps.com/caf\\u00e9/\\ud83d\\ude00\"\n}\n"
        );
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            value["startUrl"],
            "https://d-1.awsapps.com/caf\u{e9}/\u{1f600}"
        );
    }

    /// Broken or foreign content is refused, never turned into a token, and the refusal
    /// shows no value.
    #[test]
    fn refreshed_refuses_non_tokens() {
        let at = Secret::new("at-new");
        let t = utc(2026, 1, 2, 3, 4, 5);
        let table: [(&[u8], Problem); 6] = [
            (b"", Problem::Empty),
            (b" \n", Problem::Empty),
            (
                br#"{"accessToken":"sec"#,
                Problem::NotJson {
                    line: 1,
                    column: 19,
                },
            ),
            (b"[1,2]", Problem::NotAnObject),
            (br#""accessToken""#, Problem::NotAnObject),
            (
                br#"{"clientId":"x","clientSecret":"sec","expiresAt":"2027-01-01T00:00:00Z"}"#,
                Problem::NoAccessToken,
            ),
        ];
        for (old, want) in table {
            let got = refreshed(old, &at, t, None).expect_err("must fail");
            assert_eq!(got, want, "{}", String::from_utf8_lossy(old));
            assert!(!got.to_string().contains("sec"), "{got}");
        }
    }

    /// `write_if_unchanged` goes through fsio: the file is 0600, a symlinked token file keeps
    /// its link while the target gets the new content, and a changed file is left alone.
    #[test]
    fn write_is_private_and_follows_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.json");
        std::fs::write(&real, CLI_TOKEN).expect("seed");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let at = Secret::new("at-new");
        let new = refreshed(CLI_TOKEN.as_bytes(), &at, utc(2026, 1, 2, 3, 4, 5), None)
            .expect("refreshed");
        let other = b"{\"accessToken\":\"someone else's\"}";
        assert!(!write_if_unchanged(&link, &new, other).expect("no I/O error"));
        assert_eq!(std::fs::read(&real).expect("read"), CLI_TOKEN.as_bytes());
        assert!(write_if_unchanged(&link, &new, CLI_TOKEN.as_bytes()).expect("write"));
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).expect("read"), new);
        let mode = std::fs::metadata(&real).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// Times are written as whole seconds with a Z.
    #[test]
    fn formats_time() {
        assert_eq!(
            format_time(utc(2026, 1, 2, 3, 4, 5)),
            "2026-01-02T03:04:05Z"
        );
    }
}
