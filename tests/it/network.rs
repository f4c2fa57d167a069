//! The network paths of `ssofresh --once`: an HTTPS portal behind a private certificate
//! authority (`AWS_CA_BUNDLE`, `ca_bundle`, `SSL_CERT_FILE`), and forward proxies
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;

use crate::common::{
    ConnectProxy, Outcome, Portal, TestHome, TestPki, TlsFront, run, ssofresh, token_json,
};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const HOUR: Duration = Duration::from_secs(3600);

/// A HOME with one sso-session profile `dev` and a valid login, a portal that grants the
/// role, a TLS front for the portal signed by a private CA, and that CA's PEM in HOME.
struct Net {
    home: TestHome,
    portal: Portal,
    front: TlsFront,
    ca: PathBuf,
}

fn config(extra: &str) -> String {
    format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n{extra}\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
    )
}

fn setup() -> Net {
    let home = TestHome::new();
    home.write_config(&config(""));
    home.write_token(
        "corp",
        token_json("tok-corp", Utc::now() + chrono::Duration::hours(8)),
    );
    let portal = Portal::start();
    portal.grant("tok-corp", "111111111111", "Dev", HOUR);
    let pki = TestPki::generate();
    let front = TlsFront::start(&pki, portal.addr());
    let ca = pki.write_ca(&home);
    Net {
        home,
        portal,
        front,
        ca,
    }
}

impl Net {
    /// `ssofresh --once` with the SSO endpoint at the HTTPS front.
    fn once(&self) -> Command {
        let mut cmd = ssofresh(&self.home, &self.portal);
        cmd.env("AWS_ENDPOINT_URL_SSO", self.front.url())
            .arg("--once");
        cmd
    }

    /// Panics unless the run wrote `dev` with the keys the portal issued.
    #[track_caller]
    fn assert_written(&self, out: &Outcome) {
        out.assert_success();
        let issued = self
            .portal
            .last_issued("111111111111", "Dev")
            .unwrap_or_else(|| panic!("the portal issued nothing; {out}"));
        let text = self.home.read_credentials();
        assert!(text.contains("[dev]"), "{text}");
        assert!(
            text.contains(&format!("aws_access_key_id = {}", issued.access_key_id)),
            "{text}"
        );
    }
}

/// Without any CA setting, a portal certificate from a private CA is refused: the profile
/// fails at once (no retry, nothing reaches the portal), and the message names the problem
/// and the setting that fixes it.
#[test]
fn untrusted_certificate_is_explained() {
    let net = setup();
    let out = run(net.once());
    out.assert_status(2);
    assert!(out.stderr.contains("dev"), "{out}");
    assert!(out.stderr.contains("is not trusted"), "{out}");
    assert!(out.stderr.contains("UnknownIssuer"), "{out}");
    assert!(out.stderr.contains("AWS_CA_BUNDLE"), "{out}");
    assert!(out.stderr.contains("ca_bundle"), "{out}");
    assert!(!out.stderr.contains("retrying"), "not retried: {out}");
    assert!(net.portal.requests().is_empty(), "{out}");
    assert!(!net.home.credentials_path().exists(), "{out}");
}

/// `AWS_CA_BUNDLE` makes the private CA trusted.
#[test]
fn aws_ca_bundle_is_trusted() {
    let net = setup();
    let mut cmd = net.once();
    cmd.env("AWS_CA_BUNDLE", &net.ca);
    net.assert_written(&run(cmd));
}

/// `ca_bundle` in the profile makes the private CA trusted.
#[test]
fn profile_ca_bundle_is_trusted() {
    let net = setup();
    net.home
        .write_config(&config(&format!("ca_bundle = {}", net.ca.display())));
    net.assert_written(&run(net.once()));
}

/// `SSL_CERT_FILE` replaces the system store, so a CA in it is trusted.
#[test]
fn ssl_cert_file_is_trusted() {
    let net = setup();
    let mut cmd = net.once();
    cmd.env("SSL_CERT_FILE", &net.ca);
    net.assert_written(&run(cmd));
}

/// An `AWS_CA_BUNDLE` that does not exist fails the profile with a message naming the file.
#[test]
fn missing_ca_bundle_is_named() {
    let net = setup();
    let missing = net.home.path().join("no-such-ca.pem");
    let mut cmd = net.once();
    cmd.env("AWS_CA_BUNDLE", &missing);
    let out = run(cmd);
    out.assert_status(2);
    assert!(out.stderr.contains(&missing.display().to_string()), "{out}");
    assert!(net.portal.requests().is_empty(), "{out}");
}

/// A malformed `AWS_CA_BUNDLE` fails the profile with a message naming the file; it never
/// reaches the HTTP client, which would panic on it (regression).
#[test]
fn malformed_ca_bundle_is_named_not_a_panic() {
    let net = setup();
    let bad = net.home.path().join("bad-ca.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let mut cmd = net.once();
    cmd.env("AWS_CA_BUNDLE", &bad);
    let out = run(cmd);
    out.assert_status(2);
    assert!(out.stderr.contains(&bad.display().to_string()), "{out}");
    assert!(out.stderr.contains("not a valid PEM file"), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
}

/// `HTTPS_PROXY` carries the HTTPS call through a `CONNECT` tunnel to the portal's host:port.
#[test]
fn https_proxy_tunnels_with_connect() {
    let net = setup();
    let proxy = ConnectProxy::start();
    let mut cmd = net.once();
    cmd.env("AWS_CA_BUNDLE", &net.ca)
        .env("HTTPS_PROXY", proxy.url());
    net.assert_written(&run(cmd));
    let requests = proxy.requests();
    assert!(!requests.is_empty(), "the proxy was not used");
    let front = net.front.addr().to_string();
    for r in &requests {
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("CONNECT", front.as_str())
        );
    }
}

/// `NO_PROXY` naming the portal's host bypasses `HTTPS_PROXY`.
#[test]
fn no_proxy_bypasses_the_proxy() {
    let net = setup();
    let proxy = ConnectProxy::start();
    let mut cmd = net.once();
    cmd.env("AWS_CA_BUNDLE", &net.ca)
        .env("HTTPS_PROXY", proxy.url())
        .env("NO_PROXY", "127.0.0.1");
    net.assert_written(&run(cmd));
    assert_eq!(proxy.requests(), Vec::new(), "the proxy was used");
}

/// `HTTP_PROXY` carries a plain-HTTP call as an absolute-form request.
#[test]
fn http_proxy_gets_absolute_form() {
    let net = setup();
    let proxy = ConnectProxy::start();
    let mut cmd = ssofresh(&net.home, &net.portal);
    cmd.arg("--once").env("HTTP_PROXY", proxy.url());
    net.assert_written(&run(cmd));
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "GET");
    assert!(
        requests[0]
            .target
            .starts_with(&format!("{}/federation/credentials?", net.portal.url())),
        "{requests:?}"
    );
    assert_eq!(net.portal.credential_requests().len(), 1);
}

/// `NO_PROXY=localhost` bypasses `HTTPS_PROXY` for an endpoint named `localhost`.
#[test]
fn no_proxy_localhost_bypasses_the_proxy() {
    let net = setup();
    let proxy = ConnectProxy::start();
    let mut cmd = net.once();
    cmd.env("AWS_ENDPOINT_URL_SSO", net.front.localhost_url())
        .env("AWS_CA_BUNDLE", &net.ca)
        .env("HTTPS_PROXY", proxy.url())
        .env("NO_PROXY", "localhost");
    net.assert_written(&run(cmd));
    assert_eq!(proxy.requests(), Vec::new(), "the proxy was used");
}
