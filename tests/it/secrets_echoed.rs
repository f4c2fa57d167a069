//! Secrets echoed back by the services (the portal and SSO OIDC repeating the bearer token,
//! refresh token or client secret in their error texts) never reach the daemon's log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use crate::common::{Daemon, Portal, TestHome, ssofresh, token_json};

const CONFIG: &str = "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\n\
    sso_role_name = Dev\n\n[sso-session corp]\nsso_start_url = https://d-1234567890.awsapps.com/start\n\
    sso_region = us-east-1\n";

const AT: &str = "tok-corp-AT-0123456789";
const RT: &str = "refresh-tok-corp-AT-0123456789";
const CS: &str = "client-secret-ssofresh-test";

/// One reply of the echo server: (status, headers, body). `{AT}`, `{RT}` and `{CS}` in the
/// body and headers are replaced by the secrets of the request.
type Canned = (u16, Vec<(String, String)>, String);

/// A server that answers every request with `reply(path)`, and counts requests per path.
fn echo_server(
    reply: impl Fn(&str) -> Canned + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
            seen2.lock().expect("lock").push(path.clone());
            let (status, headers, body) = reply(&path);
            let fill = |s: &str| {
                s.replace("{AT}", AT)
                    .replace("{RT}", RT)
                    .replace("{CS}", CS)
            };
            let body = fill(&body);
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {}\r\n", fill(&v)));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    (url, seen)
}

fn err_type(code: &str) -> Vec<(String, String)> {
    vec![(
        "x-amzn-ErrorType".to_owned(),
        format!("{code}:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"),
    )]
}

/// Runs the daemon at `-vv` and RUST_LOG=trace against a server answering CreateToken with
/// `token` and GetRoleCredentials with `creds`, until both were asked (or 8 s), then stops it
/// and returns its log.
fn run_against(token: Canned, creds: Canned) -> String {
    let home = TestHome::new();
    home.write_config(CONFIG);
    let mut tok = token_json(AT, Utc::now() + chrono::Duration::minutes(10));
    tok["refreshToken"] = json!(RT);
    home.write_token("corp", tok);
    let (url, seen) = echo_server(move |path| {
        if path == "/token" {
            token.clone()
        } else {
            creds.clone()
        }
    });
    let portal = Portal::start();
    let mut cmd = ssofresh(&home, &portal);
    cmd.env("AWS_ENDPOINT_URL_SSO", &url)
        .env("AWS_ENDPOINT_URL_SSO_OIDC", &url)
        .env("RUST_LOG", "trace")
        .args(["-vv"]);
    let d = Daemon::spawn(cmd);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        let s = seen.lock().expect("lock").clone();
        if s.iter().any(|p| p == "/token") && s.iter().any(|p| p.starts_with("/federation")) {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    d.stays_up(Duration::from_millis(700));
    let out = d.stop();
    assert!(
        seen.lock().expect("lock").iter().any(|p| p == "/token"),
        "no CreateToken call: {out}"
    );
    out.stderr
}

fn leaks(log: &str) -> Vec<&'static str> {
    // The refresh token contains the access token, so look for the RT first.
    let mut found = Vec::new();
    if log.contains(RT) {
        found.push("refresh token");
    } else if log.contains(AT) {
        found.push("access token");
    }
    if log.contains(CS) {
        found.push("client secret");
    }
    found
}

/// Services that echo the request's secrets in their error answers never get them into the
/// log, whatever the class of error (InvalidGrant, InvalidClient, 500, throttling, an
/// unmodelled code, no error header at all) and whatever field carries the text.
#[test]
fn review5_echoed_secrets_never_reach_the_log() {
    let echo = "Invalid refresh token {RT} for client secret {CS}; bearer {AT}";
    let ok_creds: Canned = (
        200,
        vec![],
        json!({"roleCredentials": {"accessKeyId": "ASIAX", "secretAccessKey": "sk-very-secret",
            "sessionToken": "st-very-secret", "expiration": (Utc::now().timestamp() + 3600) * 1000}})
        .to_string(),
    );
    let cases: Vec<(&str, Canned, Canned)> = vec![
        (
            "invalid_grant description",
            (
                400,
                err_type("InvalidGrantException"),
                json!({"error": "invalid_grant", "error_description": echo}).to_string(),
            ),
            ok_creds.clone(),
        ),
        (
            "invalid_client description",
            (
                401,
                err_type("InvalidClientException"),
                json!({"error": "invalid_client", "error_description": echo}).to_string(),
            ),
            ok_creds.clone(),
        ),
        (
            "500 description + message",
            (
                500,
                err_type("InternalServerException"),
                json!({"error": "server_error", "error_description": echo, "message": echo})
                    .to_string(),
            ),
            ok_creds.clone(),
        ),
        (
            "no error header",
            (
                400,
                vec![],
                json!({"error": "invalid_grant", "error_description": echo}).to_string(),
            ),
            ok_creds.clone(),
        ),
        (
            "unmodelled code, message only",
            (
                400,
                err_type("WeirdException"),
                json!({"message": echo}).to_string(),
            ),
            ok_creds.clone(),
        ),
        (
            "secret in the error code header",
            (400, err_type("Bad{RT}"), json!({}).to_string()),
            ok_creds.clone(),
        ),
        (
            "portal 403 echoing the bearer token",
            (500, err_type("InternalServerException"), "{}".to_owned()),
            (
                403,
                vec![(
                    "x-amzn-ErrorType".to_owned(),
                    "ForbiddenException".to_owned(),
                )],
                json!({"message": "No access for bearer {AT}"}).to_string(),
            ),
        ),
        (
            "portal 400 echoing the bearer token",
            (500, err_type("InternalServerException"), "{}".to_owned()),
            (
                400,
                vec![(
                    "x-amzn-ErrorType".to_owned(),
                    "InvalidRequestException".to_owned(),
                )],
                json!({"message": "Bad request with token {AT}"}).to_string(),
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (name, token, creds) in cases {
        let log = run_against(token, creds);
        let leaked = leaks(&log);
        if !leaked.is_empty() || log.contains("very-secret") {
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(AT) || l.contains(CS) || l.contains("very-secret"))
                .collect();
            failures.push(format!("{name}: {leaked:?}\n  {}", lines.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "secrets leaked:\n{}",
        failures.join("\n")
    );
}
