//! One `aws login` refresh round trip against the local Sign-In stand-in, next to floors
//! measured in the same run: what it costs ssofresh to re-read the session file, sign a DPoP
//! proof, call CreateOAuth2Token through aws-sdk-signin and write the rotated file back,
//! beside the bare call, the proof alone, and `curl` posting the same request.
//!
//! Run with `cargo bench --bench signin`. It prints figures; it asserts nothing about speed.

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use ssofresh::login::console;
use ssofresh::login::dpop::{DpopKey, generate_pem};
use ssofresh::login::portal::{CallPolicy, Endpoint, Route};
use ssofresh::login::signin::SignIn;

use common::Portal;
use common::signin::{SAME_DEVICE, login_cache_json};

const RUNS: usize = 200;
const ARN: &str = "arn:aws:iam::012345678901:user/Admin";

fn main() {
    let portal = Portal::start();
    let dir = tempfile::tempdir().expect("dir");
    let pem = generate_pem(true);
    portal.add_signin_session("ASOR-bench-0", SAME_DEVICE, &pem);
    let path = console::session_path(dir.path(), ARN);
    std::fs::write(
        &path,
        login_cache_json(
            "ASIACLI",
            Utc::now() + TimeDelta::minutes(3),
            "ASOR-bench-0",
            &pem,
        ),
    )
    .expect("session file");
    let route = Route {
        region: "us-east-1".into(),
        ca_bundle: None,
    };
    let client = SignIn::new(
        [route.clone()],
        &Endpoint(Some(portal.url())),
        CallPolicy::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // The whole refresh as the daemon does it: re-read, call, write back over the token used.
    let full = times(|| {
        let old = std::fs::read(&path).expect("read");
        let session = console::parse(&old).expect("parse");
        let new = rt
            .block_on(client.refresh(&route, &session, |_, _, _| {}))
            .expect("refresh");
        let contents = console::refreshed(&old, &new, Utc::now()).expect("contents");
        assert!(
            console::write_if_unchanged(&path, &contents, &session.refresh_token).expect("write")
        );
    });
    // The call alone, the file's read and write outside the timing.
    let mut call = Vec::new();
    for run in 0..RUNS + 3 {
        let old = std::fs::read(&path).expect("read");
        let session = console::parse(&old).expect("parse");
        let start = Instant::now();
        let new = rt
            .block_on(client.refresh(&route, &session, |_, _, _| {}))
            .expect("refresh");
        if run >= 3 {
            call.push(start.elapsed());
        }
        let contents = console::refreshed(&old, &new, Utc::now()).expect("contents");
        std::fs::write(&path, contents).expect("write");
    }
    call.sort();
    // Floor 1: one proof, signed in process.
    let key = DpopKey::from_pem(&pem).expect("key");
    let url = format!("{}/v1/token", portal.url());
    let proof = times(|| {
        key.proof(&url, Utc::now()).expect("proof");
    });
    // Floor 2: curl posting the same request (a fresh proof each; the stand-in answers 400
    // for the spent token, which costs it the same checks).
    let curl = times(|| {
        let p = key.proof(&url, Utc::now()).expect("proof");
        let status = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-X", "POST", "-H", "Content-Type: application/json"])
            .arg("-H")
            .arg(format!("DPoP: {}", p.expose()))
            .arg("--data")
            .arg(format!(
                "{{\"clientId\":\"{SAME_DEVICE}\",\"grantType\":\"refresh_token\",\"refreshToken\":\"ASOR-bench-0\"}}"
            ))
            .arg(&url)
            .stdin(Stdio::null())
            .status()
            .expect("run curl");
        assert!(status.success());
    });
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
    println!("aws login refresh against the local Sign-In, {RUNS} runs each");
    println!("{:<58} {:>10} {:>10} {:>10}", "", "median", "p90", "max");
    for (name, t) in [
        (
            "ssofresh: re-read + proof + CreateOAuth2Token + write-back",
            &full,
        ),
        ("ssofresh: proof + CreateOAuth2Token (in process)", &call),
        ("floor: curl process posting the same request", &curl),
        ("floor: one DPoP proof (ES256, aws-lc-rs)", &proof),
    ] {
        println!(
            "{name:<58} {:>10} {:>10} {:>10}",
            us(t[t.len() / 2]),
            us(t[t.len() * 9 / 10]),
            us(t[t.len() - 1])
        );
    }
}

/// Sorted durations of [`RUNS`] runs of `f`, after a few warm-up runs.
fn times(mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}
