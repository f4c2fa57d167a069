//! The portal and SSO OIDC failing in every way a network can fail, through the real binary
//! (`--once` and the daemon) at the highest verbosity: each fault costs a bounded number of
//! calls (counted at the stand-in), ends in the right state with a message that names the
//! profile and says what to do, leaves the other profiles written, and never puts a secret in
//! the output.
//!
//! Cases that other files already cover are not repeated here: 401, 403, a 500/429/503 that
//! recovers, three 500s, a hang (`once.rs`, `daemon.rs`), an untrusted certificate
//! (`network.rs`), a hanging CreateToken (`daemon.rs`), and secrets echoed in error bodies
//! (`secrets_echoed.rs`). The endpoint faults (TLS, DNS) go through `AWS_ENDPOINT_URL_SSO`,
//! which every profile shares, so they meet one profile alone.

use std::time::Duration;

use chrono::Utc;

use crate::common::{Daemon, Outcome, Portal, Reply, TestHome, run, ssofresh, token_json};
use crate::daemon::{assert_no_secrets, finish};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const HOUR: Duration = Duration::from_secs(3600);
const HTML: &str = "<html><body><h1>Sign in to the guest network</h1></body></html>";

/// One fault: the profile that meets it, the replies its role gets (in order, then
/// [`Reply::Ok`]), how many calls it costs in one `--once` run (three attempts for what may
/// pass, one for what will not), and what its line of the report must say.
struct Fault {
    profile: &'static str,
    replies: Vec<Reply>,
    calls: usize,
    says: &'static str,
}

/// Every fault of a portal answer, each on its own profile, plus `ok`, which always works.
fn faults() -> Vec<Fault> {
    let three = |r: Reply| vec![r.clone(), r.clone(), r];
    vec![
        Fault {
            profile: "bad-request",
            replies: vec![Reply::Status(400)],
            calls: 1,
            says: "GetRoleCredentials failed: HTTP 400 InvalidRequestException",
        },
        Fault {
            profile: "not-found",
            replies: vec![Reply::Status(404)],
            calls: 1,
            says: "no access to account 100000000001 as role R (ResourceNotFoundException",
        },
        Fault {
            profile: "throttled",
            replies: three(Reply::Status(429)),
            calls: 3,
            says: "is throttling calls",
        },
        Fault {
            profile: "unavailable",
            replies: three(Reply::Status(503)),
            calls: 3,
            says: "failed (HTTP 503",
        },
        Fault {
            profile: "reset",
            replies: three(Reply::ResetMidBody),
            calls: 3,
            says: "did not answer (the connection broke off mid-answer: Connection reset by peer",
        },
        Fault {
            profile: "truncated",
            replies: three(Reply::Truncated),
            calls: 3,
            says: "did not answer (the connection broke off mid-answer",
        },
        Fault {
            profile: "html",
            replies: three(Reply::Raw(200, HTML.to_owned())),
            calls: 3,
            says: "a captive portal or a proxy may be in the way); check your network or proxy settings",
        },
    ]
}

/// The account of the `i`-th profile.
fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

/// HOME with one sso-session profile per fault on login `corp` (account
/// [`account`]`(i)`, role `R`), and a last profile `ok` on its own login `other`; both
/// logins are valid (`tok-corp`, `tok-other`, eight hours left); the portal grants every role
/// and answers each faulty one with its fault's replies.
fn setup(faults: &[Fault]) -> (TestHome, Portal) {
    let home = TestHome::new();
    let portal = Portal::start();
    let mut config = String::new();
    for session in ["corp", "other"] {
        config.push_str(&format!(
            "[sso-session {session}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\n"
        ));
        home.write_token(
            session,
            token_json(
                &format!("tok-{session}"),
                Utc::now() + chrono::Duration::hours(8),
            ),
        );
    }
    let names = faults.iter().map(|f| f.profile).chain(["ok"]);
    for (i, name) in names.enumerate() {
        let (session, fault) = match faults.get(i) {
            Some(fault) => ("corp", Some(fault)),
            None => ("other", None),
        };
        config.push_str(&format!(
            "[profile {name}]\nsso_session = {session}\nsso_account_id = {}\nsso_role_name = R\n\n",
            account(i)
        ));
        portal.grant(&format!("tok-{session}"), &account(i), "R", HOUR);
        if let Some(fault) = fault {
            portal.script(&account(i), "R", fault.replies.clone());
        }
    }
    home.write_config(&config);
    (home, portal)
}

/// `ssofresh --once -vv` with `RUST_LOG=trace` and `extra` arguments.
fn once_verbose(home: &TestHome, portal: &Portal, extra: &[&str]) -> Outcome {
    let mut cmd = ssofresh(home, portal);
    cmd.args(["--once", "-vv", "--timeout", "2s"])
        .args(extra)
        .env("RUST_LOG", "trace");
    run(cmd)
}

/// The line of the closing report that names `profile` (`  a, b: what happened`).
fn line_of<'a>(out: &'a Outcome, profile: &str) -> &'a str {
    out.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once(": "))
        .find(|(names, _)| names.split(", ").any(|n| n == profile))
        .map(|(_, what)| what)
        .unwrap_or_else(|| panic!("no report line for {profile}: {out}"))
}

/// `--once` meets every fault at once, each on its own profile: each costs at most its bound
/// of calls, its profile is reported by name with what happened and what to do, the run
/// exits 2 (some profiles not written), the profile `ok` is written, and no secret is in
/// the output.
#[test]
fn once_reports_each_fault_and_writes_the_rest() {
    let faults = faults();
    let (home, portal) = setup(&faults);
    let out = once_verbose(&home, &portal, &[]);
    out.assert_status(2);
    for (i, fault) in faults.iter().enumerate() {
        let calls = portal.count(&account(i), "R");
        assert_eq!(calls, fault.calls, "calls for {}: {out}", fault.profile);
        let line = line_of(&out, fault.profile);
        assert!(line.contains(fault.says), "{}: {line:?}", fault.profile);
    }
    let text = home.read_credentials();
    assert!(text.contains("[ok]"), "{text}");
    assert_eq!(portal.count(&account(faults.len()), "R"), 1);
    for fault in &faults {
        assert!(!text.contains(&format!("[{}]", fault.profile)), "{text}");
    }
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert_no_secrets(&out, &portal, &["tok-corp", "tok-other"]);
}

/// Runs `--once -vv` (with `RUST_LOG=trace`) for profile `ok` against `url` as
/// `AWS_ENDPOINT_URL_SSO`: it exits 2, makes no GetRoleCredentials request that reaches the
/// stand-in, writes nothing, does not panic and shows no secret. Returns the report line of
/// `ok` and the connections the stand-in accepted.
fn endpoint_fault(url: &str) -> (String, u64) {
    let (home, portal) = setup(&[]);
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "-vv", "--timeout", "2s"])
        .env("RUST_LOG", "trace")
        .env("AWS_ENDPOINT_URL_SSO", url);
    let out = run(cmd);
    out.assert_status(2);
    assert!(portal.credential_requests().is_empty(), "{out}");
    assert!(!home.credentials_path().exists(), "nothing written: {out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert_no_secrets(&out, &portal, &["tok-corp", "tok-other"]);
    (line_of(&out, "ok").to_owned(), portal.connections())
}

/// HTTPS to an endpoint that speaks plain HTTP (the TLS handshake fails): three attempts,
/// one connection each (counted at the stand-in), and the line says the portal did not answer
/// and to check the network or proxy settings.
#[test]
fn tls_handshake_failure_is_explained() {
    let portal = Portal::start();
    let (line, _) = endpoint_fault(&format!("https://{}", portal.addr()));
    assert_eq!(portal.connections(), 3, "three attempts: {line}");
    assert!(
        line.contains(&format!(
            "the SSO portal at https://{} did not answer (tls handshake",
            portal.addr()
        )) && line.contains("check your network or proxy settings"),
        "{line}"
    );
}

/// A host name that does not resolve: no connection anywhere, and the line says so and
/// points at sso_region and AWS_ENDPOINT_URL_SSO (final at once); where the resolver cannot
/// tell (no DNS server reachable: "Temporary failure"), it says to check the network.
#[test]
fn dns_failure_is_explained() {
    let (line, connections) = endpoint_fault("http://ssofresh-test.invalid");
    assert_eq!(connections, 0, "{line}");
    let final_answer = line.contains(
        "the host name of the SSO portal at http://ssofresh-test.invalid does not resolve",
    ) && line
        .contains("check sso_region in the config file, or AWS_ENDPOINT_URL_SSO");
    let unsure = line.contains("Temporary failure in name resolution")
        && line.contains("check your network");
    assert!(final_answer || unsure, "{line}");
}

/// The daemon meets every fault at once (each fault repeats for ten calls, more than the
/// test can see): `ok`, on another login, is written at once; over eight seconds a final
/// fault (400, 404) costs one call, one that may pass costs at most two rounds of three
/// attempts (the per-login backoff holds the rest); each faulty profile is logged by name
/// with what happened and when it is tried again; the daemon keeps running, stops cleanly on
/// SIGTERM and logs no secret at `-vv` with `RUST_LOG=trace`.
#[test]
fn daemon_backs_off_each_fault_and_serves_the_rest() {
    let mut faults = faults();
    for fault in &mut faults {
        if fault.calls > 1 {
            fault.replies = vec![fault.replies[0].clone(); 10];
        }
    }
    let (home, portal) = setup(&faults);
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["-vv", "--timeout", "2s"])
        .env("RUST_LOG", "trace");
    let d = Daemon::spawn(cmd);
    d.wait_for("ok written", Duration::from_secs(10), || {
        std::fs::read_to_string(home.credentials_path()).is_ok_and(|t| t.contains("[ok]"))
    });
    d.stays_up(Duration::from_secs(8));
    let log = d.log();
    for (i, fault) in faults.iter().enumerate() {
        let calls = portal.count(&account(i), "R");
        let most = if fault.calls == 1 { 1 } else { 6 };
        assert!(
            (1..=most).contains(&calls),
            "{}: {calls} calls, at most {most}\n{log}",
            fault.profile
        );
        let logged = log.lines().any(|l| {
            l.contains(&format!("{}: ", fault.profile))
                && l.contains(fault.says)
                && l.contains("trying again at")
        });
        assert!(
            logged,
            "{} not logged with {:?}\n{log}",
            fault.profile, fault.says
        );
    }
    assert_eq!(portal.count(&account(faults.len()), "R"), 1, "{log}");
    finish(d, &portal, &["tok-corp", "tok-other"]);
}

/// HOME with profile `dev` on login `corp`, whose access token (`tok-corp`) ends in ten
/// minutes, so the daemon refreshes it at once; its refresh token is valid at the portal.
fn refresh_setup() -> (TestHome, Portal) {
    let home = TestHome::new();
    home.write_config(&format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = {}\nsso_role_name = R\n\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n",
        account(0)
    ));
    home.write_token(
        "corp",
        token_json("tok-corp", Utc::now() + chrono::Duration::minutes(10)),
    );
    let portal = Portal::start();
    portal.grant("tok-corp", &account(0), "R", HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    (home, portal)
}

/// What [`refresh_fault`] expects of the daemon's log line for a failed refresh.
const REFUSED: (&str, &str) = (
    "the token of sso-session corp cannot be refreshed (",
    "then run `aws sso login --sso-session corp`",
);
const MAY_PASS: (&str, &str) = (
    "refreshing the token of sso-session corp failed (",
    "trying again at",
);

/// SSO OIDC answers every refresh with `reply`: `dev` is still written with the token in
/// hand; the refresh costs at most `most` calls in six seconds (a refusal one, a failure
/// that may pass one more after the backoff); a line for `dev` says `says.0` and then
/// `says.1`; the token file is left as it was; and no secret is logged (the tokens of a
/// refresh whose answer was cut off included: the stand-in rotated them before the cut).
fn refresh_fault(reply: Reply, most: usize, says: (&str, &str)) {
    let (home, portal) = refresh_setup();
    portal.script_create_token(vec![reply.clone(); 10]);
    let token_before = std::fs::read(home.token_path("corp")).expect("token file");
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["-vv"]).env("RUST_LOG", "trace");
    let d = Daemon::spawn(cmd);
    d.wait_for("dev written", Duration::from_secs(10), || {
        std::fs::read_to_string(home.credentials_path()).is_ok_and(|t| t.contains("[dev]"))
    });
    d.wait_for("the refresh tried", Duration::from_secs(10), || {
        !portal.create_token_requests().is_empty()
    });
    d.stays_up(Duration::from_secs(6));
    let log = d.log();
    let calls = portal.create_token_requests().len();
    assert!(
        (1..=most).contains(&calls),
        "{reply:?}: {calls} calls\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("dev: ") && l.contains(says.0) && l.contains(says.1)),
        "{reply:?}: no line with {says:?}\n{log}"
    );
    assert_eq!(
        std::fs::read(home.token_path("corp")).expect("token file"),
        token_before,
        "{reply:?}: the token file is left alone"
    );
    finish(d, &portal, &["tok-corp"]);
}

/// 400 `invalid_grant`: the refresh token is refused once, and the log says when the login
/// ends and which `aws sso login` to run.
#[test]
fn token_refresh_invalid_grant() {
    refresh_fault(Reply::Status(400), 1, REFUSED);
}

/// 401 `invalid_client` (the client registration is gone): refused once, with the command.
#[test]
fn token_refresh_invalid_client() {
    refresh_fault(Reply::Status(401), 1, REFUSED);
}

/// 500: tried again after the backoff.
#[test]
fn token_refresh_server_error() {
    refresh_fault(Reply::Status(500), 2, MAY_PASS);
}

/// 429 `slow_down`: tried again after the backoff.
#[test]
fn token_refresh_throttled() {
    refresh_fault(Reply::Status(429), 2, MAY_PASS);
}

/// The answer cut off by a reset: tried again after the backoff, and the line says the
/// connection broke off.
#[test]
fn token_refresh_reset_mid_body() {
    refresh_fault(
        Reply::ResetMidBody,
        2,
        (
            "SSO OIDC could not be reached or failed (the connection broke off mid-answer",
            MAY_PASS.1,
        ),
    );
}
