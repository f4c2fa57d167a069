//! The real readers (botocore, the JavaScript SDK v2) work and tolerate the credentials-file
//! format a human leaves behind: comments, CRLF line ends, several profiles; botocore loads an
//! SSO token cache file and refuses a broken one.

use crate::common::{TestHome, botocore_read, botocore_sso_token, js_v2_read, token_json};
use serde_json::json;

const HAND_MADE: &str = "# written by hand\r\n\
; another comment style\r\n\
[default]\r\n\
aws_access_key_id = AKIADEFAULT\r\n\
aws_secret_access_key = default-secret\r\n\
\r\n\
[dev]\r\n\
# the session token below is what a temporary credential needs\r\n\
aws_access_key_id=ASIADEV\r\n\
aws_secret_access_key=dev-secret\r\n\
aws_session_token=dev-token/+=\r\n\
x_security_token_expires = 2030-01-01T00:00:00Z\r\n\
\r\n\
[prod]\n\
aws_access_key_id = ASIAPROD\n\
aws_secret_access_key = prod-secret\n\
aws_session_token = prod-token\n";

fn expected() -> [(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
); 3] {
    [
        ("default", "AKIADEFAULT", "default-secret", None),
        ("dev", "ASIADEV", "dev-secret", Some("dev-token/+=")),
        ("prod", "ASIAPROD", "prod-secret", Some("prod-token")),
    ]
}

/// botocore reads every profile of a hand-made file with comments and mixed CRLF/LF lines.
#[test]
fn botocore_reads_a_hand_made_file() {
    let home = TestHome::new();
    home.write_credentials(HAND_MADE);
    let got = botocore_read(&home.credentials_path(), &["default", "dev", "prod"]);
    for (name, key, secret, token) in expected() {
        assert_eq!(
            got[name],
            json!({"access_key": key, "secret_key": secret, "token": token,
                   "method": "shared-credentials-file"}),
            "profile {name} in {got}"
        );
    }
}

/// The JavaScript SDK v2 reads every profile of the same hand-made file.
#[test]
fn js_v2_reads_a_hand_made_file() {
    let home = TestHome::new();
    home.write_credentials(HAND_MADE);
    let got = js_v2_read(&home.credentials_path(), &["default", "dev", "prod"]);
    for (name, key, secret, token) in expected() {
        assert_eq!(
            got[name],
            json!({"access_key": key, "secret_key": secret, "token": token,
                   "method": "SharedIniFileCredentials"}),
            "profile {name} in {got}"
        );
    }
}

/// Both readers report failures as `{"error": …}` instead of panicking: botocore rejects a
/// duplicate section, and both reject a profile that is not in the file.
#[test]
fn readers_report_errors() {
    let home = TestHome::new();
    home.write_credentials(
        "[a]\naws_access_key_id = A\naws_secret_access_key = S\n\
         [a]\naws_access_key_id = B\naws_secret_access_key = S\n",
    );
    let got = botocore_read(&home.credentials_path(), &["a"]);
    let error = got["error"]
        .as_str()
        .expect("botocore fails on a duplicate section");
    assert!(error.starts_with("ConfigParseError"), "{error}");

    home.write_credentials("[a]\naws_access_key_id = A\naws_secret_access_key = S\n");
    let got = botocore_read(&home.credentials_path(), &["missing"]);
    let error = got["error"]
        .as_str()
        .expect("botocore fails on a missing profile");
    assert!(error.starts_with("ProfileNotFound"), "{error}");
    let got = js_v2_read(&home.credentials_path(), &["missing"]);
    assert!(
        got["error"].is_string(),
        "JS v2 fails on a missing profile: {got}"
    );
}

/// botocore loads an sso-session token as the CLI writes it (with an unknown field), finds it
/// by its SHA-1 name, reads every `expiresAt` form seen in practice, and refuses a file
/// without `accessToken` or with an unreadable `expiresAt`.
#[test]
fn botocore_loads_an_sso_token_file() {
    let home = TestHome::new();
    let start_url = "https://d-1234567890.awsapps.com/start";
    let load = || botocore_sso_token(&home.cache_dir(), "corp", start_url, "us-east-1");
    let mut token = token_json(
        "tok-reader",
        chrono::Utc::now() + chrono::Duration::hours(8),
    );
    token["extraField"] = json!(1);
    for expires_at in [
        "2099-01-02T03:04:05Z",
        "2099-01-02T03:04:05.123456Z",
        "2099-01-02T03:04:05UTC",
    ] {
        token["expiresAt"] = json!(expires_at);
        home.write_token("corp", token.clone());
        let loaded = load();
        assert_eq!(loaded["token"], json!("tok-reader"), "{loaded}");
        assert!(
            loaded["cached"]["expiresAt"]
                .as_str()
                .is_some_and(|t| t.starts_with("2099-01-02T03:04:05")),
            "{loaded}"
        );
    }
    token["expiresAt"] = json!("tomorrow-ish");
    home.write_token("corp", token.clone());
    assert!(load()["error"].is_string());
    home.write_token("corp", json!({"expiresAt": "2099-01-02T03:04:05Z"}));
    assert!(load()["error"].is_string());
    let other = botocore_sso_token(&home.cache_dir(), "other", start_url, "us-east-1");
    assert!(other["error"].is_string(), "{other}");
}
