//! The engine driven by tables and a fake clock: no files, no network, no tokio.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::files::config::{LoginKind, Profiles, SsoProfile};
use crate::login::token::RefreshGrant;
use crate::secret::Secret;

const CORP: &str = "corp";
const URL: &str = "https://d-1.awsapps.com/start";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .expect("a valid date")
}

/// A time as messages show it (local time).
fn local(rfc3339: &str) -> String {
    crate::time::format_local(rfc3339.parse().expect("an RFC 3339 time"))
}

fn mins(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

fn corp() -> LoginId {
    LoginId::Session(CORP.into())
}

fn legacy() -> LoginId {
    LoginId::StartUrl(URL.into())
}

fn profile(name: &str, login: LoginId, account: &str) -> SsoProfile {
    SsoProfile {
        name: name.into(),
        login,
        start_url: URL.into(),
        sso_region: "us-east-1".into(),
        account_id: account.into(),
        role_name: "Dev".into(),
        region: Some("eu-west-1".into()),
        ca_bundle: None,
    }
}

/// `dev` and `prod` on the `corp` session, `old` on a legacy login.
fn config() -> Profiles {
    Profiles {
        sso: vec![
            profile("dev", corp(), "111111111111"),
            profile("prod", corp(), "222222222222"),
            profile("old", legacy(), "333333333333"),
        ],
        problems: Vec::new(),
        console: Vec::new(),
    }
}

/// A token valid until `expires`; refreshable (registration valid for 90 days) if asked.
fn token(access: &str, expires: DateTime<Utc>, refreshable: bool) -> Token {
    Token {
        access_token: Secret::new(access),
        expires_at: expires,
        region: Some("us-east-1".into()),
        start_url: Some(URL.into()),
        refresh: refreshable.then(|| RefreshGrant {
            refresh_token: Secret::new(format!("refresh-{access}")),
            client_id: "client".into(),
            client_secret: Secret::new("client-secret"),
            registration_expires_at: t0() + TimeDelta::days(90),
        }),
    }
}

fn creds(id: &str, expires: DateTime<Utc>) -> RoleCredentials {
    RoleCredentials {
        access_key_id: id.into(),
        secret_access_key: Secret::new(format!("secret-{id}")),
        session_token: Secret::new(format!("session-{id}")),
        expiration: expires,
    }
}

fn settings(once: bool) -> Settings {
    Settings {
        refresh_margin: mins(10),
        selection: Selection::default(),
        with_region: false,
        once,
    }
}

/// An engine with the config read, `corp` holding `tok` (8 h, refreshable) and the legacy
/// login holding `old-tok` (8 h).
fn started(once: bool) -> Engine {
    let mut e = Engine::new(settings(once), 7);
    let now = t0();
    e.handle(Event::Config(Ok(config())), now);
    e.handle(login(corp(), token("tok", now + mins(480), true)), now);
    e.handle(
        login(legacy(), token("old-tok", now + mins(480), false)),
        now,
    );
    e
}

fn login(id: LoginId, token: Token) -> Event {
    Event::Login {
        login: id,
        seen: Seen::Token(token),
    }
}

/// Profile names of the fetches among `actions`, in order.
fn fetched(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch { target, .. } => Some(target.name().to_owned()),
            _ => None,
        })
        .collect()
}

/// The fetch's token version, for the `Fetched` event that answers it.
fn version_of(actions: &[Action], name: &str) -> u64 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Fetch {
                target, version, ..
            } if target.name() == name => Some(*version),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fetch for {name} in {actions:?}"))
}

fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(_, line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn writes(actions: &[Action]) -> Vec<(Vec<String>, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Write { puts, removals } => Some((
                puts.iter().map(|p| p.section.clone()).collect(),
                removals.iter().map(|r| r.section.clone()).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn ok(name: &str, version: u64, id: &str, expires: DateTime<Utc>) -> Event {
    Event::Fetched {
        profile: name.into(),
        token: version,
        result: Ok(creds(id, expires)),
    }
}

fn err(name: &str, version: u64, error: CallError) -> Event {
    Event::Fetched {
        profile: name.into(),
        token: version,
        result: Err(error),
    }
}

fn wrote(text: &str) -> Event {
    Event::Wrote(WriteResult::Done {
        refused: Vec::new(),
        text: text.into(),
    })
}

/// Runs the first round: every profile fetched and written with 1-hour credentials.
/// Returns the version of each login's token as used.
fn written(e: &mut Engine, now: DateTime<Utc>) -> (u64, u64) {
    let a = e.decide(now);
    assert_eq!(fetched(&a), ["dev", "prod", "old"]);
    let (v, vl) = (version_of(&a, "dev"), version_of(&a, "old"));
    e.handle(ok("dev", v, "AK-dev-1", now + mins(60)), now);
    e.handle(ok("prod", v, "AK-prod-1", now + mins(60)), now);
    e.handle(ok("old", vl, "AK-old-1", now + mins(60)), now);
    let a = e.decide(now);
    assert_eq!(
        writes(&a),
        [(vec!["dev".into(), "prod".into(), "old".into()], vec![])],
        "one write for all three"
    );
    let a = e.handle(wrote("[dev]\n…"), now);
    assert_eq!(logs(&a).len(), 3, "one line per profile written: {a:?}");
    (v, vl)
}

/// Start: every profile with a login is fetched once, the results are written in one write,
/// and nothing more happens until the renewal time, which is `margin` (less jitter) before
/// expiry.
#[test]
fn start_then_renew_before_expiry() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    assert!(e.decide(now).is_empty(), "nothing more to do now");
    let wake = e.next_wake(now).expect("a renewal is scheduled");
    assert!(
        wake <= now + mins(50) && wake >= now + mins(50) - MAX_JITTER,
        "renewal at {wake}"
    );
    assert!(fetched(&e.decide(now + mins(49))).is_empty());
    let a = e.decide(now + mins(50));
    assert_eq!(fetched(&a), ["dev", "prod", "old"]);
}

/// After a suspend (the clock jumps hours ahead), everything overdue is renewed on the first
/// wake, each profile once: no storm of repeated calls while they are in flight.
#[test]
fn resume_after_suspend_renews_once() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let later = now + mins(200);
    let a = e.decide(later);
    assert_eq!(fetched(&a), ["dev", "prod", "old"]);
    assert!(fetched(&e.decide(later)).is_empty(), "in flight: not again");
    assert!(fetched(&e.decide(later + mins(1))).is_empty());
}

/// 401: the login needs `aws sso login`, said once for all its profiles, and nothing is sent
/// with that token again, however long it waits; a new token file brings it back.
#[test]
fn unauthorized_waits_for_a_new_login() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let said = e.handle(err("dev", v, CallError::Unauthorized), now);
    let said = logs(&said);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("aws sso login --sso-session corp"),
        "{said:?}"
    );
    assert!(said[0].starts_with("dev, prod:"), "{said:?}");
    let again = e.handle(err("prod", v, CallError::Unauthorized), now);
    assert!(logs(&again).is_empty(), "said once: {again:?}");
    for m in [1, 30, 300] {
        let a = e.decide(now + mins(m));
        assert!(!fetched(&a).contains(&"dev".to_owned()), "{m} min: {a:?}");
        assert!(!fetched(&a).contains(&"prod".to_owned()), "{m} min: {a:?}");
    }
    let same = e.handle(
        login(corp(), token("tok", now + mins(480), true)),
        now + mins(301),
    );
    assert!(same.is_empty(), "the same file again changes nothing");
    assert!(
        fetched(&e.decide(now + mins(302)))
            .iter()
            .all(|n| n == "old")
    );
    e.handle(
        login(corp(), token("tok-2", now + mins(490), true)),
        now + mins(303),
    );
    assert_eq!(fetched(&e.decide(now + mins(303))), ["dev", "prod"]);
}

/// 403/404: reported once and tried again only hourly; the login's other profiles carry on.
#[test]
fn no_access_is_retried_rarely() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let no = || CallError::NoAccess {
        code: "ForbiddenException".into(),
        message: "No access".into(),
    };
    let said = e.handle(err("dev", v, no()), now);
    assert_eq!(logs(&said).len(), 1);
    e.handle(ok("prod", v, "AK-prod", now + mins(60)), now);
    assert!(writes(&e.decide(now)).is_empty(), "prod waits for `old`");
    let now = now + WRITE_HOLD;
    assert_eq!(writes(&e.decide(now)).len(), 1, "prod is written");
    e.handle(wrote("x"), now);
    assert!(fetched(&e.decide(now + mins(30))).is_empty());
    let a = e.decide(now + mins(61));
    assert_eq!(
        fetched(&a),
        ["dev", "prod"],
        "dev's hour is up; prod's renewal is due"
    );
    let said = e.handle(err("dev", v, no()), now + mins(61));
    assert!(logs(&said).is_empty(), "the same problem is not said again");
}

/// 429/5xx/no answer: per-login exponential backoff with jitter, capped; the login's other
/// profiles wait too, other logins do not; a success resets it.
#[test]
fn transient_failures_back_off_per_login() {
    let mut e = started(false);
    let mut now = t0();
    let a = e.decide(now);
    let (v, vl) = (version_of(&a, "dev"), version_of(&a, "old"));
    e.handle(ok("old", vl, "AK-old", now + mins(60)), now);
    e.handle(ok("prod", v, "AK-prod", now + mins(60)), now);
    let mut delays = Vec::new();
    for _ in 0..9 {
        let said = e.handle(
            err(
                "dev",
                v,
                CallError::Transient {
                    detail: "HTTP 500".into(),
                },
            ),
            now,
        );
        assert_eq!(logs(&said).len(), 1, "each retry is a decision, said once");
        let a = e.decide(now);
        assert!(!fetched(&a).contains(&"dev".to_owned()), "not at once");
        if !writes(&a).is_empty() {
            e.handle(wrote("x"), now);
        }
        let next = e.next_wake(now).expect("a retry is scheduled");
        delays.push((next - now).num_seconds());
        now = next;
        assert_eq!(fetched(&e.decide(now)), ["dev"]);
    }
    assert!((5..=7).contains(&delays[0]), "{delays:?}");
    assert!((10..=13).contains(&delays[1]), "{delays:?}");
    assert!(delays.windows(2).all(|w| w[1] >= w[0] - 75), "{delays:?}");
    assert!(
        delays[6..].iter().all(|d| (300..=375).contains(d)),
        "capped at 5 minutes plus jitter: {delays:?}"
    );
    e.handle(ok("dev", v, "AK-dev", now + mins(60)), now);
    e.decide(now);
    e.handle(wrote("y"), now);
    assert!(
        !fetched(&e.decide(now + mins(5))).contains(&"dev".to_owned()),
        "dev is back on its normal schedule"
    );
    // The success reset the backoff: the next failure waits 5 s again, not 5 minutes.
    let a = e.decide(now + mins(50));
    let v = version_of(&a, "dev");
    let said = e.handle(
        err(
            "dev",
            v,
            CallError::Throttled {
                detail: "429".into(),
            },
        ),
        now + mins(50),
    );
    assert!(logs(&said)[0].contains("throttling"), "{said:?}");
    let retry = e.next_wake(now + mins(50)).expect("retry");
    assert!(retry <= now + mins(50) + TimeDelta::seconds(7), "{retry}");
}

/// An sso-session login with a refresh token is refreshed 20 minutes before its access token
/// expires, and that own refresh does not renew the credentials again. A legacy login is
/// never refreshed; its end is announced once instead.
#[test]
fn token_refresh_ahead_of_the_cli() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let lead = now + mins(480) - TOKEN_REFRESH_LEAD;
    assert!(e.next_wake(now).is_some_and(|w| w <= lead));
    let before = e.decide(lead - mins(1));
    assert!(!before.iter().any(|a| matches!(a, Action::Refresh { .. })));
    let a = e.decide(lead);
    let refreshes: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Refresh { login, version, .. } => Some((login.clone(), *version)),
            _ => None,
        })
        .collect();
    assert_eq!(refreshes.len(), 1, "{a:?}");
    assert_eq!(
        refreshes[0].0,
        corp(),
        "the legacy login is never refreshed"
    );
    assert!(
        !e.decide(lead)
            .iter()
            .any(|a| matches!(a, Action::Refresh { .. })),
        "one refresh in flight at a time"
    );
    let new = token("tok-2", lead + mins(480), true);
    let said = e.handle(
        Event::Refreshed {
            login: corp(),
            from: refreshes[0].1,
            result: Refresh::Done(new.clone()),
        },
        lead,
    );
    assert!(logs(&said)[0].contains("refreshed the token of sso-session corp"));
    // The file now holds what ssofresh wrote: reading it back changes nothing.
    assert!(e.handle(login(corp(), new), lead).is_empty());
    assert!(
        fetched(&e.decide(lead)).is_empty(),
        "own refresh: no renewal"
    );
}

/// The legacy login's end is announced once per token, with the command to run then.
#[test]
fn legacy_login_end_is_announced_once() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let said: Vec<String> = logs(&a)
        .into_iter()
        .filter(|l| l.contains("ends at"))
        .collect();
    assert_eq!(said.len(), 1, "{a:?}");
    assert!(said[0].contains("aws sso login --profile old"), "{said:?}");
    assert!(said[0].contains(&local("2026-11-23T17:00:00Z")), "{said:?}");
    assert!(
        logs(&e.decide(now + mins(1)))
            .iter()
            .all(|l| !l.contains("ends at"))
    );
}

/// A refused refresh (InvalidGrant, not fixed by another program) is not tried again for that
/// token, and the user is told when the login ends; a transient failure is retried later.
#[test]
fn refresh_failures() {
    let mut e = started(false);
    let now = t0() + mins(470);
    let a = e.decide(now);
    let v = refresh_of(&a).expect("refresh due");
    let said = e.handle(
        Event::Refreshed {
            login: corp(),
            from: v,
            result: Refresh::Transient("HTTP 500".into()),
        },
        now,
    );
    assert!(logs(&said)[0].contains("trying again"));
    assert!(refresh_of(&e.decide(now)).is_none(), "backing off");
    let retry = e.next_wake(now).expect("retry");
    assert!(retry <= now + TimeDelta::seconds(7), "{retry}");
    let v = refresh_of(&e.decide(retry)).expect("retried");
    let said = e.handle(
        Event::Refreshed {
            login: corp(),
            from: v,
            result: Refresh::Rejected("Invalid refresh token provided".into()),
        },
        retry,
    );
    let said = logs(&said);
    assert!(
        said[0].contains(&format!("ends at {}", local("2026-11-23T17:00:00Z"))),
        "{said:?}"
    );
    assert_eq!(said.len(), 1, "said once, not again as 'cannot be renewed'");
    assert!(
        logs(&e.decide(retry + mins(1)))
            .iter()
            .all(|l| !l.contains("ends at")),
        "no second line for the same refusal"
    );
    assert!(
        said[0].contains("aws sso login --sso-session corp"),
        "{said:?}"
    );
    for m in [1, 5, 9] {
        assert!(refresh_of(&e.decide(retry + mins(m))).is_none(), "{m}");
    }
}

/// An expired login that cannot be refreshed is reported once; its profiles are not called.
#[test]
fn expired_login_is_reported_once() {
    let mut e = Engine::new(settings(false), 1);
    let now = t0();
    e.handle(Event::Config(Ok(config())), now);
    e.handle(login(legacy(), token("old-tok", now - mins(1), false)), now);
    let a = e.decide(now);
    assert!(fetched(&a).is_empty());
    let expired: Vec<_> = logs(&a)
        .into_iter()
        .filter(|l| l.contains("expired"))
        .collect();
    assert_eq!(expired.len(), 1, "{a:?}");
    assert!(expired[0].contains("aws sso login --profile old"));
    assert!(logs(&e.decide(now + mins(1))).is_empty());
}

/// Logout (the token file deleted): the sections written for that login are removed, the
/// other login's stay, and nothing more is called for it.
#[test]
fn logout_removes_what_was_written() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let a = e.handle(
        Event::Login {
            login: corp(),
            seen: Seen::Missing,
        },
        now + mins(5),
    );
    assert!(
        logs(&a)
            .iter()
            .any(|l| l.contains("signed out of sso-session corp"))
    );
    let a = e.decide(now + mins(5));
    assert_eq!(
        writes(&a),
        [(vec![], vec!["dev".to_owned(), "prod".to_owned()])]
    );
    let removal = a.iter().find_map(|a| match a {
        Action::Write { removals, .. } => Some(removals.clone()),
        _ => None,
    });
    assert_eq!(
        removal.expect("removals")[0].access_key_id,
        "AK-dev-1",
        "only what ssofresh wrote is removed"
    );
    e.handle(wrote(""), now + mins(5));
    assert_eq!(fetched(&e.decide(now + mins(55))), ["old"]);
}

/// A managed section dropped by another program is put back with the credentials held; the
/// file as ssofresh wrote it coming back is not work.
#[test]
fn other_writers_dropping_a_section() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let (dev, prod, old) = (
        creds("AK-dev-1", now + mins(60)),
        creds("AK-prod-1", now + mins(60)),
        creds("AK-old-1", now + mins(60)),
    );
    let update = |section, credentials| credfile::Update {
        section,
        credentials,
        region: None,
    };
    let ours = credfile::apply(
        "# mine\n",
        &[
            update("dev", &dev),
            update("prod", &prod),
            update("old", &old),
        ],
    )
    .text;
    assert!(
        e.handle(Event::CredentialsFile(Secret::new(ours.clone())), now)
            .is_empty()
    );
    assert!(e.decide(now).is_empty(), "the file as written is not work");
    // Another program drops [dev] and changes [prod]'s session token.
    let theirs = credfile::apply("[other]\naws_access_key_id = X\n", &[update("old", &old)]).text
        + "[prod]\naws_access_key_id = AK-prod-1\naws_secret_access_key = secret-AK-prod-1\n\
           aws_session_token = tampered\n";
    let said = e.handle(Event::CredentialsFile(Secret::new(theirs)), now + mins(1));
    assert!(
        logs(&said)[0].starts_with("[dev], [prod] changed"),
        "{said:?}"
    );
    let a = e.decide(now + mins(1));
    assert_eq!(
        writes(&a),
        [(vec!["dev".to_owned(), "prod".to_owned()], vec![])]
    );
    assert!(
        fetched(&a).is_empty(),
        "put back from what is held, no call"
    );
}

/// A changed config: a new profile is fetched, a removed one is no longer renewed and its
/// late answer is dropped, an unchanged one keeps its schedule.
#[test]
fn config_reload() {
    let mut e = started(false);
    let now = t0();
    let (v, _) = written(&mut e, now);
    let mut next = config();
    next.sso.retain(|p| p.name != "prod");
    next.sso.push(profile("ops", corp(), "444444444444"));
    let said = e.handle(Event::Config(Ok(next)), now + mins(1));
    let said = logs(&said);
    assert!(said.iter().any(|l| l.starts_with("ops: new")), "{said:?}");
    assert!(
        said.iter().any(|l| l.starts_with("prod: no longer")),
        "{said:?}"
    );
    assert_eq!(fetched(&e.decide(now + mins(1))), ["ops"]);
    e.handle(ok("prod", v, "AK-late", now + mins(60)), now + mins(1));
    assert!(writes(&e.decide(now + mins(1))).is_empty(), "prod is gone");
    let a = e.decide(now + mins(51));
    assert_eq!(fetched(&a), ["dev", "old"], "ops is in flight, prod gone");
    let broken = e.handle(
        Event::Config(Err("config: line 3: bad".into())),
        now + mins(52),
    );
    assert!(
        logs(&broken)[0].contains("keeping the profiles"),
        "{broken:?}"
    );
}

/// A token file caught half-written is "not yet": nothing reported for a while, read again
/// soon; when it completes, the profiles are fetched. If it stays broken it is reported.
#[test]
fn half_written_token_file() {
    let mut e = Engine::new(settings(false), 1);
    let now = t0();
    e.handle(Event::Config(Ok(config())), now);
    let half = || Event::Login {
        login: corp(),
        seen: Seen::NotYet("/c/x.json is not valid JSON".into()),
    };
    assert!(e.handle(half(), now).is_empty());
    assert!(
        e.next_wake(now)
            .is_some_and(|w| w <= now + TimeDelta::seconds(1)),
        "read again soon"
    );
    e.handle(login(corp(), token("tok", now + mins(480), true)), now);
    assert_eq!(fetched(&e.decide(now)), ["dev", "prod"]);

    let mut e = Engine::new(settings(false), 1);
    e.handle(Event::Config(Ok(config())), now);
    assert!(e.handle(half(), now).is_empty());
    let later = now + NOT_YET_PATIENCE;
    let said = e.handle(half(), later);
    assert!(logs(&said)[0].contains("not valid JSON"), "{said:?}");
}

/// A second login while a call with the first token is in flight: the late answer is
/// dropped and the profile is called again with the new token.
#[test]
fn new_login_during_a_call() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    e.handle(login(corp(), token("tok-2", now + mins(480), true)), now);
    e.handle(ok("dev", v, "AK-old-token", now + mins(60)), now);
    let a = e.decide(now);
    assert_eq!(fetched(&a), ["dev"]);
    assert!(
        writes(&a).is_empty(),
        "the answer for the old token is dropped"
    );
    assert_ne!(version_of(&a, "dev"), v);
}

/// `--once`: one attempt each, a token refresh when the daemon would refresh (tried once), no
/// backoff; settled when every profile has an outcome and the refresh has ended; outcomes in
/// config order.
#[test]
fn once_settles() {
    let mut e = started(true);
    let now = t0() + mins(470);
    let a = e.decide(now);
    let refresh = refresh_of(&a);
    let refresh = refresh.expect("the token is refreshed as the daemon would");
    assert!(!e.settled());
    e.handle(
        Event::Refreshed {
            login: corp(),
            from: refresh,
            result: Refresh::Transient("HTTP 500".into()),
        },
        now,
    );
    assert!(
        !e.decide(now)
            .iter()
            .any(|a| matches!(a, Action::Refresh { .. })),
        "tried once"
    );
    let (v, vl) = (version_of(&a, "dev"), version_of(&a, "old"));
    e.handle(ok("prod", v, "AK-prod", now + mins(60)), now);
    e.handle(
        err(
            "dev",
            v,
            CallError::Transient {
                detail: "HTTP 500".into(),
            },
        ),
        now,
    );
    e.handle(ok("old", vl, "AK-old", now + mins(60)), now);
    assert!(!e.settled(), "waiting for the write");
    let a = e.decide(now);
    assert!(fetched(&a).is_empty(), "no second attempt under --once");
    assert_eq!(writes(&a).len(), 1);
    e.handle(wrote("x"), now);
    assert!(e.settled());
    let names: Vec<_> = e
        .outcomes()
        .into_iter()
        .map(|(n, o)| (n, o.is_written()))
        .collect();
    assert_eq!(
        names,
        [
            ("dev".to_owned(), false),
            ("prod".to_owned(), true),
            ("old".to_owned(), true)
        ]
    );
}

/// Renewal times: margin before expiry less a bounded jitter; halfway for credentials that
/// live less than the margin; never sooner than the minimum gap.
#[test]
fn renewal_times() {
    let now = t0();
    let mut rng = fastrand::Rng::with_seed(3);
    let table = [
        // (lifetime, margin, earliest, latest) in seconds from now
        (3600, 600, 2970, 3000),
        (43200, 600, 42570, 42600),
        (20, 10, 9, 10),
        (8, 10, 5, 5),
        (2, 10, 5, 5),
        (60, 600, 30, 30),
    ];
    for (life, margin, lo, hi) in table {
        for _ in 0..50 {
            let at = renewal_time(
                now,
                now + TimeDelta::seconds(life),
                TimeDelta::seconds(margin),
                &mut rng,
            );
            let s = (at - now).num_milliseconds() as f64 / 1000.0;
            assert!(
                s >= lo as f64 && s <= hi as f64,
                "life {life} margin {margin}: {s}"
            );
        }
    }
}

/// Backoff doubles from 5 s, is capped at 5 minutes, and adds at most a quarter of jitter.
#[test]
fn backoff_table() {
    let mut rng = fastrand::Rng::with_seed(5);
    for (failures, lo, hi) in [
        (1, 5, 7),
        (2, 10, 13),
        (3, 20, 25),
        (7, 300, 375),
        (40, 300, 375),
    ] {
        for _ in 0..50 {
            let d = backoff(failures, &mut rng).num_milliseconds();
            assert!(d >= lo * 1000 && d <= hi * 1000, "{failures}: {d}");
        }
    }
}

/// A write that fails (say, a credentials file with a byte-order mark) is said once and tried
/// again later or as soon as the file changes, with the credentials in hand: no new calls.
#[test]
fn failed_write_is_retried_without_calls() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    e.handle(ok("dev", v, "AK-dev-1", now + mins(60)), now);
    assert_eq!(writes(&e.decide(now + WRITE_HOLD)).len(), 1);
    let failed = || Event::Wrote(WriteResult::Failed("credentials starts with a BOM".into()));
    let said = e.handle(failed(), now);
    assert_eq!(logs(&said).len(), 1, "{said:?}");
    assert!(logs(&said)[0].starts_with("dev: credentials starts with a BOM"));
    let a = e.decide(now + TimeDelta::seconds(10));
    assert!(a.is_empty(), "not yet: {a:?}");
    let retry = now + WRITE_RETRY;
    assert!(e.next_wake(now).is_some_and(|w| w <= retry));
    let a = e.decide(retry);
    assert_eq!(writes(&a), [(vec!["dev".to_owned()], vec![])]);
    assert!(
        fetched(&a).is_empty(),
        "the credentials in hand are written"
    );
    assert!(logs(&e.handle(failed(), retry)).is_empty(), "said once");
    // The user fixes the file: written at once.
    e.handle(
        Event::CredentialsFile(Secret::new("# fixed\n")),
        retry + TimeDelta::seconds(1),
    );
    let a = e.decide(retry + TimeDelta::seconds(1));
    assert_eq!(writes(&a), [(vec!["dev".to_owned()], vec![])]);
    e.handle(wrote("ok"), retry + TimeDelta::seconds(1));
    assert!(
        e.outcomes()
            .iter()
            .any(|(n, o)| n == "dev" && o.is_written())
    );
}

fn refreshes(a: &[Action]) -> usize {
    a.iter()
        .filter(|a| matches!(a, Action::Refresh { .. }))
        .count()
}

/// Runs `e` like the shell does for `span`, answering every fetch at once with credentials
/// that expire at `expiry(now)` and every write with `write`; returns (fetches, error logs).
fn simulate(
    e: &mut Engine,
    from: DateTime<Utc>,
    span: TimeDelta,
    expiry: impl Fn(DateTime<Utc>) -> DateTime<Utc>,
    write: impl Fn() -> WriteResult,
) -> (usize, usize) {
    let (mut fetches, mut errors, mut now) = (0, 0, from);
    let mut n = 0;
    while now < from + span {
        let mut queue = e.decide(now);
        while let Some(a) = queue.pop() {
            match a {
                Action::Fetch {
                    target, version, ..
                } => {
                    fetches += 1;
                    n += 1;
                    let ev = ok(target.name(), version, &format!("AK-{n}"), expiry(now));
                    queue.extend(e.handle(ev, now));
                    queue.extend(e.decide(now));
                }
                Action::Write { .. } => queue.extend(e.handle(Event::Wrote(write()), now)),
                Action::Log(Level::Error, _) => errors += 1,
                _ => {}
            }
        }
        now = e
            .next_wake(now)
            .unwrap_or(now + TimeDelta::seconds(30))
            .min(now + TimeDelta::seconds(30));
    }
    (fetches, errors)
}

/// Regression (review 3): a write that keeps failing (a BOM, a read-only file) should retry the write with
/// the credentials in hand and back off; instead every profile is fetched again every 30 s
/// and an error is logged every 30 s.
#[test]
fn review_failing_write_refetches_every_30_seconds() {
    let mut e = started(false);
    let (fetches, errors) = simulate(
        &mut e,
        t0(),
        mins(60),
        |now| now + mins(60),
        || WriteResult::Failed("~/.aws/credentials starts with a byte-order mark".into()),
    );
    assert!(
        fetches <= 3 * 6,
        "{fetches} GetRoleCredentials calls and {errors} error lines in an hour"
    );
}

/// Regression (review 3): credentials that arrive already expired by the local clock (a clock ahead of
/// AWS by more than their lifetime) are fetched again every 5 s, forever.
#[test]
fn review_expired_on_arrival_is_fetched_every_5_seconds() {
    let mut e = started(false);
    let (fetches, _) = simulate(
        &mut e,
        t0(),
        mins(60),
        |now| now - mins(60),
        || wrote("x").clone_result(),
    );
    assert!(
        fetches <= 3 * 12,
        "{fetches} GetRoleCredentials calls in an hour"
    );
}

impl Event {
    fn clone_result(self) -> WriteResult {
        match self {
            Event::Wrote(r) => r,
            _ => unreachable!(),
        }
    }
}

/// Regression (review 3): a token file that stays unparsable wakes the loop every 250 ms forever.
#[test]
fn review_unparsable_token_file_polls_forever() {
    let mut e = Engine::new(settings(false), 1);
    let now = t0();
    e.handle(Event::Config(Ok(config())), now);
    let half = || Event::Login {
        login: corp(),
        seen: Seen::NotYet("/c/x.json is not valid JSON".into()),
    };
    e.handle(half(), now);
    e.handle(half(), now + NOT_YET_PATIENCE);
    let later = now + mins(60);
    e.handle(half(), later);
    let wake = e.next_wake(later);
    assert!(
        wake.is_none_or(|w| w - later > TimeDelta::seconds(1)),
        "still polling: next wake at {wake:?}"
    );
}

/// Regression (review 3): a logout whose removal write fails never removes the sections: the removals are
/// dropped with the held credentials.
#[test]
fn review_logout_removal_lost_when_the_write_fails() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let a = e.handle(
        Event::Login {
            login: corp(),
            seen: Seen::Missing,
        },
        now,
    );
    assert!(logs(&a)[0].contains("signed out"), "{a:?}");
    assert_eq!(writes(&e.decide(now)).len(), 1);
    e.handle(Event::Wrote(WriteResult::Failed("busy".into())), now);
    let mut retried = false;
    for m in [1, 5, 30] {
        retried |= writes(&e.decide(now + mins(m)))
            .iter()
            .any(|(_, r)| !r.is_empty());
    }
    assert!(retried, "the removal of [dev], [prod] is never tried again");
}

/// Regression (review 3): after `Refresh::Changed` the engine still holds the old token and decides the
/// same refresh again at once; the shell loops (spawn, read, Changed, ...) until a scan.
#[test]
fn review_refresh_changed_is_retried_at_once() {
    let mut e = started(false);
    let now = t0() + mins(470);
    let a = e.decide(now);
    let v = refresh_of(&a).expect("refresh due");
    e.handle(
        Event::Refreshed {
            login: corp(),
            from: v,
            result: Refresh::Changed,
        },
        now,
    );
    assert_eq!(
        refreshes(&e.decide(now)),
        0,
        "refresh decided again at once"
    );
}

/// Regression (review 3): a refreshed token that lives less than TOKEN_REFRESH_LEAD is refreshed again at once.
#[test]
fn review_short_refreshed_token_is_refreshed_again_at_once() {
    let mut e = started(false);
    let now = t0() + mins(470);
    let a = e.decide(now);
    let v = refresh_of(&a).expect("refresh due");
    let new = token("tok-2", now + mins(15), true);
    e.handle(
        Event::Refreshed {
            login: corp(),
            from: v,
            result: Refresh::Done(new),
        },
        now,
    );
    assert_eq!(
        refreshes(&e.decide(now)),
        0,
        "CreateToken again, immediately"
    );
}

/// Regression (reviews 3 and 4): the loop writes a refreshed token file itself and tells the
/// engine at once, so a token read while a refresh runs is always someone else's: a login
/// that lands during a slow refresh is taken at once, and the refresh, which then finds the
/// file changed, renews nothing more.
#[test]
fn login_during_a_refresh_is_taken_at_once() {
    let mut e = started(false);
    let lead = t0() + mins(480) - TOKEN_REFRESH_LEAD;
    written(&mut e, lead - mins(1));
    let a = e.decide(lead);
    assert!(fetched(&a).is_empty());
    let v = refresh_of(&a).expect("refresh due");
    let landed = token("tok-login", lead + mins(480), true);
    e.handle(login(corp(), landed), lead);
    assert_eq!(fetched(&e.decide(lead)), ["dev", "prod"], "taken at once");
    e.handle(
        Event::Refreshed {
            login: corp(),
            from: v,
            result: Refresh::Changed,
        },
        lead,
    );
    assert!(fetched(&e.decide(lead)).is_empty(), "nothing more");
}

/// Regression (review 3): one failed round (every profile of a login answering 500 once) should back the
/// login off by BACKOFF_BASE; each profile's failure counts as one more failure in a row, so
/// a login with 8 profiles is at the 5-minute cap after a single blip, and each log line
/// names a retry time that is not the real one.
#[test]
fn review_one_failed_round_backs_off_once() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let mut said = Vec::new();
    for name in ["dev", "prod"] {
        let ev = err(
            name,
            v,
            CallError::Transient {
                detail: "HTTP 500".into(),
            },
        );
        said.extend(logs(&e.handle(ev, now)));
    }
    let retry = e
        .logins
        .get(&corp())
        .and_then(|l| l.not_before)
        .expect("backing off");
    assert!(
        retry - now <= TimeDelta::seconds(7),
        "retry after {} for one failed round; said: {said:?}",
        retry - now
    );
}

/// Regression (bench): credentials fetched with the token that ssofresh's own refresh just
/// replaced are still good: they are written, not thrown away and fetched again.
#[test]
fn answers_with_the_token_our_refresh_replaced_are_kept() {
    let mut e = started(false);
    let now = t0() + mins(470);
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let from = refresh_of(&a).expect("a refresh is due");
    e.handle(
        Event::Refreshed {
            login: corp(),
            from,
            result: Refresh::Done(token("tok-2", now + mins(480), true)),
        },
        now,
    );
    e.handle(ok("dev", v, "AK-dev", now + mins(60)), now);
    let a = e.decide(now + WRITE_HOLD);
    assert!(!fetched(&a).contains(&"dev".to_owned()), "{a:?}");
    assert_eq!(writes(&a).len(), 1, "{a:?}");
}

/// Regression (review 4): `dev` changes role in the config while a call for the old role is
/// in flight. Its late answer is dropped, never written into `[dev]`, and the new role is
/// called then; no second call for `dev` goes out while the first is in flight.
#[test]
fn review4_late_answer_for_the_old_role_is_written() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let mut next = config();
    next.sso[0].role_name = "ReadOnly".into();
    e.handle(Event::Config(Ok(next)), now);
    assert!(fetched(&e.decide(now)).is_empty(), "one call at a time");
    e.handle(ok("prod", v, "AK-prod", now + mins(60)), now);
    e.handle(ok("dev", v, "AK-OLD-ROLE", now + mins(60)), now);
    e.handle(
        ok("old", version_of(&a, "old"), "AK-old", now + mins(60)),
        now,
    );
    // The new role's call is out: what is in hand is written a second later without it.
    let now = now + WRITE_HOLD;
    let a = e.decide(now);
    let calls: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Fetch { target, .. } => target.profile.sso().map(|p| p.role_name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["ReadOnly"], "the new role is called: {a:?}");
    let dev_put = |a: &[Action]| {
        a.iter().find_map(|a| match a {
            Action::Write { puts, .. } => puts
                .iter()
                .find(|p| p.section == "dev")
                .map(|p| p.credentials.access_key_id.clone()),
            _ => None,
        })
    };
    assert_eq!(
        dev_put(&a),
        None,
        "the old role's answer is not written: {a:?}"
    );
    e.handle(wrote("x"), now);
    e.handle(ok("dev", v, "AK-new-role", now + mins(60)), now);
    assert_eq!(dev_put(&e.decide(now)).as_deref(), Some("AK-new-role"));
}

/// Regression (review 4): the clock was 2 h fast (an RTC kept in local time, a VM restored) when a call
/// failed with a 500; NTP then steps it back. The login's backoff was set in the fast clock,
/// so after the step nothing is called for 2 hours, though the backoff is at most ~6 min.
#[test]
fn review4_clock_stepped_back_stretches_the_backoff() {
    let mut e = started(false);
    let fast = t0();
    let a = e.decide(fast);
    let v = version_of(&a, "dev");
    for name in ["dev", "prod"] {
        let ev = err(
            name,
            v,
            CallError::Transient {
                detail: "HTTP 500".into(),
            },
        );
        e.handle(ev, fast);
    }
    let stepped = fast - TimeDelta::hours(2);
    let mut calls = 0;
    for m in 0..=10 {
        calls += fetched(&e.decide(stepped + mins(m))).len();
    }
    assert!(
        calls > 0,
        "no call for 10 min after the clock stepped back 2 h"
    );
}

/// Regression (review 4): `[dev]` holds credentials from the `corp` login; the user then edits dev's role
/// (a typo: 403) and signs out. The section written with corp's credentials must go with the
/// logout, but the config change made the engine forget it wrote it.
#[test]
fn review4_logout_after_a_config_change_keeps_the_old_section() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let mut next = config();
    next.sso[0].role_name = "Typo".into();
    e.handle(Event::Config(Ok(next)), now + mins(1));
    let a = e.decide(now + mins(1));
    let v = version_of(&a, "dev");
    let denied = CallError::NoAccess {
        code: "ForbiddenException".into(),
        message: "No access".into(),
    };
    e.handle(err("dev", v, denied), now + mins(1));
    e.handle(
        Event::Login {
            login: corp(),
            seen: Seen::Missing,
        },
        now + mins(2),
    );
    let w = writes(&e.decide(now + mins(2)));
    assert_eq!(
        w,
        [(vec![], vec!["dev".to_owned(), "prod".to_owned()])],
        "signing out should remove [dev] too"
    );
}

/// Regression (review 6): `dev` is dropped from the config while a call for it is in flight (an editor or
/// `aws configure set` caught mid-save), then comes back with another role. The late answer
/// for the old role must not be written into `[dev]`, and only one call for `dev` may be out.
#[test]
fn review6_removed_then_readded_takes_the_old_roles_answer() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let mut without = config();
    without.sso.remove(0);
    e.handle(Event::Config(Ok(without)), now);
    let mut back = config();
    back.sso[0].role_name = "ReadOnly".into();
    e.handle(Event::Config(Ok(back)), now);
    let again = fetched(&e.decide(now));
    e.handle(ok("dev", v, "AK-OLD-ROLE", now + mins(60)), now);
    let a = e.decide(now);
    let put = a.iter().find_map(|a| match a {
        Action::Write { puts, .. } => puts
            .iter()
            .find(|p| p.section == "dev")
            .map(|p| p.credentials.access_key_id.clone()),
        _ => None,
    });
    assert_eq!(
        (put, again.contains(&"dev".to_owned())),
        (None, false),
        "(old role's key written into [dev], second call for dev while the first is out)"
    );
}

/// `n` profiles `p0`… on the `corp` session, which holds `tok` (8 h, not refreshable).
fn many(n: usize, once: bool) -> Engine {
    let mut e = Engine::new(settings(once), 11);
    let sso = (0..n)
        .map(|i| profile(&format!("p{i}"), corp(), &format!("{:012}", 100_000 + i)))
        .collect();
    e.handle(
        Event::Config(Ok(Profiles {
            sso,
            ..Profiles::default()
        })),
        t0(),
    );
    e.handle(login(corp(), token("tok", t0() + mins(480), false)), t0());
    e
}

/// How a call of [`drive`] is answered: after `ms` milliseconds, with credentials or an error.
#[derive(Clone)]
struct Answer {
    ms: i64,
    result: Result<(), CallError>,
}

fn after(ms: i64) -> Answer {
    Answer { ms, result: Ok(()) }
}

fn failing(ms: i64, error: CallError) -> Answer {
    Answer {
        ms,
        result: Err(error),
    }
}

/// An answer not yet given: when, to which profile, for which token version, and what.
type Pending = (DateTime<Utc>, String, u64, Result<(), CallError>);

/// Runs `e` as the shell does from `start` for `span`: the calls `decide` makes are answered
/// as `answer(profile index)` says (1-hour credentials), every wake the engine asks for is
/// taken, and every write succeeds. Returns each write as (ms after `start`, sections).
fn drive(
    e: &mut Engine,
    start: DateTime<Utc>,
    span: TimeDelta,
    answer: impl Fn(usize) -> Answer,
) -> Vec<(i64, usize)> {
    let mut writes = Vec::new();
    let mut out: Vec<Pending> = Vec::new();
    let mut now = start;
    let mut n = 0;
    loop {
        let mut queue: std::collections::VecDeque<Action> = e.decide(now).into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Fetch {
                    target, version, ..
                } => {
                    let name = target.name().to_owned();
                    let i: usize = name[1..].parse().expect("profile p<i>");
                    let a = answer(i);
                    out.push((now + TimeDelta::milliseconds(a.ms), name, version, a.result));
                }
                Action::Write { puts, removals } => {
                    writes.push((
                        (now - start).num_milliseconds(),
                        puts.len() + removals.len(),
                    ));
                    queue.extend(e.handle(wrote("…"), now));
                }
                _ => {}
            }
        }
        let next_answer = out.iter().map(|(t, ..)| *t).min();
        let next = [next_answer, e.next_wake(now)].into_iter().flatten().min();
        let Some(next) = next.filter(|t| *t < start + span) else {
            return writes;
        };
        now = next;
        let (due, later): (Vec<_>, Vec<_>) = out.drain(..).partition(|(t, ..)| *t <= now);
        out = later;
        for (_, name, version, result) in due {
            n += 1;
            let result = result.map(|()| creds(&format!("AK-{n}"), now + mins(60)));
            e.handle(
                Event::Fetched {
                    profile: name,
                    token: version,
                    result,
                },
                now,
            );
        }
    }
}

/// Every tenth profile (`p3`, `p13`, …) fails with `error` after `ms`; the others answer
/// after 30 ms.
fn tenth_fails(i: usize, ms: i64, error: CallError) -> Answer {
    if i % 10 == 3 {
        failing(ms, error)
    } else {
        after(30)
    }
}

fn transient() -> CallError {
    CallError::Transient {
        detail: "HTTP 503".into(),
    }
}

/// One write per pass. A login of many profiles makes one write once every call is answered;
/// a call still out a second after the latest answer follows in a second write, without
/// holding the others back longer than that (`--once` waits for it: one write per run); answers
/// that keep coming are written at least every 5 s; calls that fail add no write; nothing to
/// write, no write.
#[test]
fn one_write_per_batch() {
    let secs = TimeDelta::seconds;
    // (what, --once, profiles, answer of profile i, writes as (ms after the login, sections))
    type Case = (
        &'static str,
        bool,
        usize,
        fn(usize) -> Answer,
        Vec<(i64, usize)>,
    );
    let cases: Vec<Case> = vec![
        (
            "100 answers within 0.9 s",
            false,
            100,
            |i| after(9 * i as i64),
            vec![(891, 100)],
        ),
        (
            "the same, --once",
            true,
            100,
            |i| after(9 * i as i64),
            vec![(891, 100)],
        ),
        (
            "400 at once, --once",
            true,
            400,
            |_| after(50),
            vec![(50, 400)],
        ),
        (
            "one call takes 5 s",
            false,
            100,
            |i| after(if i == 7 { 5000 } else { 100 + i as i64 }),
            vec![(1199, 99), (5000, 1)],
        ),
        (
            "one call takes 5 s, --once",
            true,
            100,
            |i| after(if i == 7 { 5000 } else { 100 + i as i64 }),
            vec![(5000, 100)],
        ),
        (
            "answers 0.4 s apart: they keep coming, one write",
            false,
            5,
            |i| after(400 * i as i64),
            vec![(1600, 5)],
        ),
        (
            "answers 1.5 s apart: a second without one, written",
            false,
            3,
            |i| after(1500 * i as i64),
            vec![(1000, 1), (2500, 1), (3000, 1)],
        ),
        (
            "a steady trickle for 12 s: a write every 5 s",
            false,
            30,
            |i| after(400 * i as i64),
            vec![(5000, 13), (10200, 13), (11600, 4)],
        ),
        (
            "10 fail, 90 answer",
            false,
            100,
            |i| tenth_fails(i, 20, transient()),
            // A success lifts the login's backoff: the 10 are tried again at once (and fail
            // again at 50 ms); the 90 wait for that, still one write.
            vec![(50, 90)],
        ),
        (
            "10 without access, 90 answer",
            false,
            100,
            |i| {
                let no = CallError::NoAccess {
                    code: "ForbiddenException".into(),
                    message: "no".into(),
                };
                tenth_fails(i, 20, no)
            },
            vec![(30, 90)],
        ),
        (
            "10 fail, 90 answer, --once",
            true,
            100,
            |i| tenth_fails(i, 700, transient()),
            vec![(700, 90)],
        ),
        (
            "every call fails",
            true,
            50,
            |_| failing(10, CallError::Unauthorized),
            vec![],
        ),
    ];
    for (what, once, n, answer, want) in cases {
        let mut e = many(n, once);
        let got = drive(&mut e, t0(), secs(20), answer);
        assert_eq!(got, want, "{what}");
        if once {
            assert!(e.settled(), "{what}: the pass ends");
        }
    }
}

/// Renewals of credentials written together fall due together, spread only by jitter (up to
/// a tenth of the margin, at most 30 s): the first to fall due takes the others along, so each
/// round is one batch of calls and one write, for any margin. Over 6 hours of 1-hour
/// credentials, 100 profiles are renewed every `60 min - margin` (or a little sooner), each
/// round one write of all 100.
#[test]
fn due_renewals_are_written_together() {
    let span = TimeDelta::hours(6);
    for margin in [mins(10), mins(1), TimeDelta::seconds(20), mins(40)] {
        let mut e = many(100, false);
        e.settings.refresh_margin = margin;
        let got = drive(&mut e, t0(), span, |i| after(5 + i as i64));
        assert!(
            got.iter().all(|(_, sections)| *sections == 100),
            "margin {margin}: {got:?}"
        );
        let period = |early: TimeDelta| (mins(60) - margin - early).num_seconds();
        let rounds = 1 + span.num_seconds() / period(TimeDelta::zero());
        let most = 1 + span.num_seconds() / period(gather_window(margin));
        assert!(
            (rounds..=most).contains(&(got.len() as i64)),
            "margin {margin}: {} writes, {rounds}..={most} expected: {got:?}",
            got.len()
        );
    }
}

/// The gathering window follows the jitter: it is what spreads a batch's renewals over time.
#[test]
fn gather_window_covers_the_jitter() {
    for (margin, want) in [
        (mins(10), TimeDelta::seconds(40)),
        (mins(1), TimeDelta::seconds(16)),
        (TimeDelta::zero(), GATHER_SLACK),
    ] {
        assert_eq!(gather_window(margin), want, "margin {margin}");
    }
}

/// Self-repair: whatever broke an owned section (dropped, a key cut, a value changed, a line
/// cut half-way, the header gone), reading the file puts it back from the credentials in hand:
/// one write with exactly the broken sections, no call.
#[test]
fn broken_sections_are_put_back() {
    let now = t0();
    let update = |section, credentials| credfile::Update {
        section,
        credentials,
        region: None,
    };
    let (dev, prod, old) = (
        creds("AK-dev-1", now + mins(60)),
        creds("AK-prod-1", now + mins(60)),
        creds("AK-old-1", now + mins(60)),
    );
    let ours = credfile::apply(
        "# mine\n",
        &[
            update("dev", &dev),
            update("prod", &prod),
            update("old", &old),
        ],
    )
    .text;
    let dev_block = "[dev]\naws_access_key_id = AK-dev-1\naws_secret_access_key = secret-AK-dev-1\n\
                     aws_session_token = session-AK-dev-1\n";
    assert!(ours.contains(dev_block), "{ours}");
    let cases: [(&str, String, &[&str]); 6] = [
        ("as written", ours.clone(), &[]),
        ("dropped", ours.replace(dev_block, ""), &["dev"]),
        (
            "a key cut",
            ours.replace("aws_session_token = session-AK-dev-1\n", ""),
            &["dev"],
        ),
        (
            "a value changed",
            ours.replace("session-AK-prod-1", "tampered"),
            &["prod"],
        ),
        (
            "cut half-way",
            ours[..ours
                .find("aws_secret_access_key = secret-AK-old-1")
                .expect("old")]
                .to_owned()
                + "aws_secre",
            &["old"],
        ),
        (
            "the header gone, two broken",
            ours.replace("[dev]\n", "").replace("session-AK-old-1", "x"),
            &["dev", "old"],
        ),
    ];
    for (what, text, want) in cases {
        let mut e = started(false);
        written(&mut e, now);
        e.handle(Event::CredentialsFile(Secret::new(ours.clone())), now);
        let said = e.handle(Event::CredentialsFile(Secret::new(text)), now + mins(1));
        assert_eq!(
            logs(&said).len(),
            usize::from(!want.is_empty()),
            "{what}: {said:?}"
        );
        let a = e.decide(now + mins(1));
        let sections: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        let expect = if want.is_empty() {
            vec![]
        } else {
            vec![(sections, vec![])]
        };
        assert_eq!(writes(&a), expect, "{what}");
        assert!(fetched(&a).is_empty(), "{what}: from what is held, no call");
    }
}

/// Self-repair when the file did not change since it was last read: a section broken while
/// its renewal was in flight (so not put back then), whose renewal then failed, is put back
/// by the next periodic re-read of the same text, not left broken until a later renewal.
#[test]
fn broken_while_renewing_is_put_back_by_the_next_reread() {
    let mut e = started(false);
    let now = t0();
    written(&mut e, now);
    let update = |section, credentials| credfile::Update {
        section,
        credentials,
        region: None,
    };
    let held = [
        creds("AK-dev-1", now + mins(60)),
        creds("AK-prod-1", now + mins(60)),
        creds("AK-old-1", now + mins(60)),
    ];
    let ours = credfile::apply(
        "",
        &[
            update("dev", &held[0]),
            update("prod", &held[1]),
            update("old", &held[2]),
        ],
    )
    .text;
    e.handle(Event::CredentialsFile(Secret::new(ours.clone())), now);
    // A new login renews every profile of `corp`.
    let renew = now + mins(1);
    e.handle(login(corp(), token("tok-2", now + mins(480), true)), renew);
    let a = e.decide(renew);
    assert_eq!(fetched(&a), ["dev", "prod"]);
    let v = version_of(&a, "dev");
    let broken = ours.replace("session-AK-dev-1", "cut");
    assert!(
        logs(&e.handle(Event::CredentialsFile(Secret::new(broken.clone())), renew)).is_empty(),
        "dev's renewal is under way"
    );
    for name in ["dev", "prod"] {
        e.handle(err(name, v, transient()), renew);
    }
    assert!(writes(&e.decide(renew)).is_empty(), "nothing new to write");
    // The next re-read of the same text, while the login backs off (no call to wait for).
    let later = renew + TimeDelta::seconds(2);
    let said = e.handle(Event::CredentialsFile(Secret::new(broken)), later);
    assert!(logs(&said)[0].starts_with("[dev] changed"), "{said:?}");
    let a = e.decide(later);
    assert_eq!(writes(&a), [(vec!["dev".to_owned()], vec![])], "{a:?}");
}

/// Stopping (SIGTERM) writes what is in hand at once, without waiting for the calls still
/// out: results are not dropped for want of a second.
#[test]
fn stop_writes_what_is_held() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    e.handle(
        ok("dev", version_of(&a, "dev"), "AK-dev-1", now + mins(60)),
        now,
    );
    assert!(writes(&e.decide(now)).is_empty(), "waits for prod and old");
    assert_eq!(writes(&e.flush()), [(vec!["dev".to_owned()], vec![])]);
    assert!(e.flush().is_empty(), "one write at a time");
}

/// The token version of the refresh among `actions`, if there is one.
fn refresh_of(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Refresh { version, .. } => Some(*version),
        _ => None,
    })
}

/// The notices among `actions`: (login, event, profiles).
fn notices(actions: &[Action]) -> Vec<(LoginId, NoticeEvent, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(n) => Some((n.login.clone(), n.event, n.profiles.clone())),
            _ => None,
        })
        .collect()
}

/// A legacy login is announced once when it comes within --notify-before of its end and once
/// when it has ended, with the command to run; the sso-session login, renewable, is not; the
/// daemon wakes in time for the first notice.
#[test]
fn login_needed_is_notified_once_per_event() {
    let mut e = started(false);
    e.set_notify_before(mins(15));
    let now = t0();
    written(&mut e, now);
    assert!(notices(&e.decide(now + mins(100))).is_empty(), "not yet");
    let ending = t0() + mins(480 - 15);
    assert!(
        e.next_wake(now + mins(460)).is_some_and(|t| t <= ending),
        "wakes for the notice"
    );
    let a = e.decide(ending);
    assert_eq!(
        notices(&a),
        [(legacy(), NoticeEvent::Ending, vec!["old".to_owned()])]
    );
    let Some(Action::Notify(n)) = a.iter().find(|a| matches!(a, Action::Notify(_))) else {
        unreachable!()
    };
    assert_eq!(n.fix, "aws sso login --profile old");
    assert_eq!(n.expires_at, t0() + mins(480));
    assert!(notices(&e.decide(ending + mins(5))).is_empty(), "said once");
    let ended = t0() + mins(481);
    let a = e.decide(ended);
    let ended_notices: Vec<_> = notices(&a)
        .into_iter()
        .filter(|(l, _, _)| *l == legacy())
        .collect();
    assert_eq!(
        ended_notices,
        [(legacy(), NoticeEvent::Ended, vec!["old".to_owned()])]
    );
    assert!(
        notices(&e.decide(ended + mins(1)))
            .iter()
            .all(|(l, _, _)| *l != legacy()),
        "said once"
    );
}

/// A 401 for both profiles of a login is one "ended" notice; `--once` never notifies.
#[test]
fn rejected_login_is_notified_once() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    let mut said = e.handle(err("dev", v, CallError::Unauthorized), now);
    said.extend(e.handle(err("prod", v, CallError::Unauthorized), now));
    assert_eq!(
        notices(&said),
        [(
            corp(),
            NoticeEvent::Ended,
            vec!["dev".to_owned(), "prod".to_owned()]
        )]
    );
    let mut once = started(true);
    let a = once.decide(now);
    let v = version_of(&a, "dev");
    assert!(notices(&once.handle(err("dev", v, CallError::Unauthorized), now)).is_empty());
}

/// `--once` with an expired access token and a live refresh token refreshes it (the daemon's
/// path) and fetches with the new token; a refused refresh means "needs login", a failed one
/// says so, each ending the pass.
#[test]
fn once_refreshes_an_expired_token() {
    let expired = t0() + mins(481);
    let start = |once| {
        let mut e = Engine::new(settings(once), 7);
        e.handle(Event::Config(Ok(config())), expired);
        e.handle(login(corp(), token("tok", t0() + mins(480), true)), expired);
        e.handle(
            Event::Login {
                login: legacy(),
                seen: Seen::Missing,
            },
            expired,
        );
        e
    };
    let mut e = start(true);
    let a = e.decide(expired);
    let from = refresh_of(&a).expect("refresh");
    assert!(fetched(&a).is_empty(), "the expired token is never sent");
    assert!(!e.settled());
    let new = token("tok-2", expired + mins(480), true);
    e.handle(
        Event::Refreshed {
            login: corp(),
            from,
            result: Refresh::Done(new.clone()),
        },
        expired,
    );
    let a = e.decide(expired);
    assert_eq!(fetched(&a), ["dev", "prod"]);
    assert_eq!(version_of(&a, "dev"), version(&new));

    for (result, want) in [
        (Refresh::Rejected("no".into()), State::NeedsLogin),
        (Refresh::Transient("HTTP 500".into()), State::Waiting),
        (Refresh::Failed("boom".into()), State::Error),
    ] {
        let mut e = start(true);
        e.decide(expired);
        e.handle(
            Event::Refreshed {
                login: corp(),
                from,
                result,
            },
            expired,
        );
        e.decide(expired);
        assert!(e.settled(), "{want:?}");
        let states: Vec<State> = e
            .view()
            .into_iter()
            .filter(|v| v.login.as_deref() == Some(CORP))
            .map(|v| v.state)
            .collect();
        assert_eq!(states, [want, want]);
    }
}

/// The view: fresh with the renewal time after a write, renewing while a call is out,
/// needs_login with the fix after a 401, no_access after a 403.
#[test]
fn view_states() {
    let mut e = started(false);
    let now = t0();
    let a = e.decide(now);
    let state = |e: &Engine, name: &str| {
        e.view()
            .into_iter()
            .find(|v| v.profile == name)
            .expect("profile in the view")
    };
    assert_eq!(state(&e, "dev").state, State::Renewing);
    let (v, vl) = (version_of(&a, "dev"), version_of(&a, "old"));
    e.handle(ok("dev", v, "AK-dev", now + mins(60)), now);
    e.handle(
        err(
            "prod",
            v,
            CallError::NoAccess {
                code: "ForbiddenException".into(),
                message: String::new(),
            },
        ),
        now,
    );
    e.handle(err("old", vl, CallError::Unauthorized), now);
    e.decide(now);
    e.handle(wrote("x"), now);
    let dev = state(&e, "dev");
    assert_eq!(dev.state, State::Fresh);
    assert_eq!(dev.credentials_expire_at, Some(now + mins(60)));
    assert!(dev.next_action_at.is_some_and(|t| t < now + mins(60)));
    assert_eq!(dev.login.as_deref(), Some(CORP));
    assert_eq!(state(&e, "prod").state, State::NoAccess);
    let old = state(&e, "old");
    assert_eq!(old.state, State::NeedsLogin);
    assert_eq!(old.fix.as_deref(), Some("aws sso login --profile old"));
    assert_eq!(
        e.written(),
        [(corp(), "dev".to_owned(), "AK-dev".to_owned())]
    );
}

/// A section recorded by an earlier run is removed when its login's token file is gone,
/// though this run never wrote it.
#[test]
fn restored_record_is_removed_at_logout() {
    let mut e = Engine::new(settings(false), 7);
    let now = t0();
    e.restore_written(corp(), "dev".into(), "AK-earlier".into());
    e.handle(Event::Config(Ok(config())), now);
    assert!(e.logins().contains(&corp()));
    let a = e.handle(
        Event::Login {
            login: corp(),
            seen: Seen::Missing,
        },
        now,
    );
    assert!(
        logs(&a).iter().any(|l| l.contains("removing [dev]")),
        "{a:?}"
    );
    let a = e.decide(now);
    assert_eq!(writes(&a), [(vec![], vec!["dev".to_owned()])]);
}

// ---- `aws login` sessions: the second kind of login ----

const ARN: &str = "arn:aws:iam::012345678901:user/Admin";

fn console() -> LoginId {
    LoginId::Console(ARN.into())
}

/// `cons` on an `aws login` session, `dev` on the `corp` SSO session.
fn mixed_config() -> Profiles {
    Profiles {
        sso: vec![profile("dev", corp(), "111111111111")],
        problems: Vec::new(),
        console: vec![crate::files::config::ConsoleProfile {
            name: "cons".into(),
            login_session: ARN.into(),
            region: Some("eu-west-1".into()),
            ca_bundle: None,
        }],
    }
}

/// Only the `aws login` profile `cons`.
fn console_config() -> Profiles {
    Profiles {
        sso: Vec::new(),
        ..mixed_config()
    }
}

/// The session as read from its file: credentials `id` until `expires`, refresh token `rt`.
fn session(id: &str, expires: DateTime<Utc>, rt: &str) -> Session {
    let credentials = creds(id, expires);
    Session {
        version: session_version(&Secret::new(rt), &credentials),
        credentials,
    }
}

fn seen_session(s: Session) -> Event {
    Event::Login {
        login: console(),
        seen: Seen::Session(s),
    }
}

/// The version the refresh among `actions` starts from, if there is one.
fn session_refresh_of(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Refresh { login, version, .. } if *login == console() => Some(*version),
        _ => None,
    })
}

fn renewed(from: u64, result: Refresh) -> Event {
    Event::Refreshed {
        login: console(),
        from,
        result,
    }
}

/// The puts of the first write among `actions`: (section, access key id).
fn put_keys(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Write { puts, .. } => Some(
                puts.iter()
                    .map(|p| (p.section.clone(), p.credentials.access_key_id.clone()))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// An engine serving `cons` from a session with credentials until `expires`.
fn console_engine(once: bool, expires: DateTime<Utc>) -> (Engine, Session) {
    let mut e = Engine::new(settings(once), 7);
    e.handle(Event::Config(Ok(console_config())), t0());
    let s = session("ASIA-1", expires, "rt-1");
    e.handle(seen_session(s.clone()), t0());
    (e, s)
}

/// The lead of a session's refresh stays above the SDKs' 5 minutes and below the credentials'
/// 15-minute life, whatever `--refresh-margin` says.
#[test]
fn session_lead_is_clamped() {
    assert_eq!(session_lead(mins(1)), mins(6));
    assert_eq!(session_lead(mins(10)), mins(10));
    assert_eq!(session_lead(mins(60)), mins(12));
}

/// A fresh session's credentials go straight to the profile's section, with no call; the
/// session is refreshed through Sign-In `lead` before they end, and the new credentials are
/// written in one write once the refresh answered.
#[test]
fn session_written_without_a_call_then_refreshed() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(15));
    let a = e.decide(now);
    assert!(fetched(&a).is_empty(), "{a:?}");
    assert_eq!(session_refresh_of(&a), None, "not due yet: {a:?}");
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-1".to_owned())]);
    e.handle(wrote("[cons]\n"), now);
    let view = e.view();
    assert_eq!(view[0].kind, Some(LoginKind::Console));
    assert_eq!(view[0].state, State::Fresh);
    assert_eq!(view[0].next_action_at, Some(now + mins(5)), "{view:?}");
    assert_eq!(e.next_wake(now), Some(now + mins(5)));
    assert!(e.decide(now + mins(4)).is_empty());
    let at = now + mins(5);
    let a = e.decide(at);
    assert_eq!(session_refresh_of(&a), Some(s.version), "{a:?}");
    assert!(writes(&a).is_empty());
    assert!(e.decide(at).is_empty(), "one refresh at a time");
    let new = session("ASIA-2", at + mins(15), "rt-2");
    e.handle(renewed(s.version, Refresh::Renewed(new.clone())), at);
    let a = e.decide(at);
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-2".to_owned())]);
    e.handle(wrote("[cons]\n"), at);
    // Its own write read back: nothing new.
    assert!(e.handle(seen_session(new), at).is_empty());
    assert_eq!(e.view()[0].next_action_at, Some(at + mins(5)));
}

/// A session found with its credentials inside the lead is refreshed before anything is
/// written: one write, with the new credentials; if the refresh fails for a while, the
/// credentials in hand are written meanwhile.
#[test]
fn session_due_at_start_is_refreshed_before_the_write() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(3));
    let a = e.decide(now);
    assert_eq!(session_refresh_of(&a), Some(s.version));
    assert!(
        writes(&a).is_empty(),
        "the write waits for the refresh: {a:?}"
    );
    e.handle(
        renewed(s.version, Refresh::Transient("HTTP 503".into())),
        now,
    );
    let a = e.decide(now);
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-1".to_owned())]);
    assert_eq!(session_refresh_of(&a), None, "backing off");
    e.handle(wrote("[cons]\n"), now);
    let retry = e.next_wake(now).expect("a retry");
    assert!(retry > now && retry <= now + mins(1), "{retry}");
    let a = e.decide(retry);
    assert_eq!(
        session_refresh_of(&a),
        Some(s.version),
        "tried again: {a:?}"
    );
}

/// A session Sign-In says has ended is said once, with `aws login --profile NAME`, notified
/// once, never called again for that file; its section stays while its credentials last and
/// is then taken back (the AWS CLI would read expired keys before its own session).
#[test]
fn ended_session_said_once_then_taken_back_at_expiry() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(8));
    let a = e.decide(now);
    let v = session_refresh_of(&a).expect("due");
    let a = e.handle(
        renewed(
            v,
            Refresh::Rejected("the sign-in session has ended (TOKEN_EXPIRED)".into()),
        ),
        now,
    );
    let lines = logs(&a);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("aws login --profile cons") && lines[0].contains("TOKEN_EXPIRED"),
        "{lines:?}"
    );
    assert_eq!(
        notices(&a),
        [(console(), NoticeEvent::Ended, vec!["cons".into()])]
    );
    let a = e.decide(now);
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-1".to_owned())]);
    e.handle(wrote("[cons]\n"), now);
    assert_eq!(e.view()[0].state, State::NeedsLogin);
    for m in 1..8 {
        let a = e.decide(now + mins(m));
        assert!(a.is_empty(), "nothing until the end: {a:?}");
    }
    let end = s.credentials.expiration;
    let a = e.decide(end);
    assert_eq!(writes(&a), [(vec![], vec!["cons".into()])], "{a:?}");
    assert!(
        logs(&a).iter().any(|l| l.contains("removing [cons]")),
        "{a:?}"
    );
    assert!(notices(&a).is_empty(), "told once");
    e.handle(wrote(""), end);
    assert!(
        e.decide(end + mins(30))
            .iter()
            .all(|a| !matches!(a, Action::Write { .. } | Action::Refresh { .. }))
    );
    // A new `aws login` starts afresh.
    let fresh = session("ASIA-9", end + mins(45), "rt-9");
    e.handle(seen_session(fresh), end + mins(30));
    let a = e.decide(end + mins(30));
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-9".to_owned())]);
}

/// INSUFFICIENT_PERMISSIONS: no access, said with why another login will not help, retried
/// hourly, not every few seconds.
#[test]
fn session_not_permitted_is_retried_hourly() {
    let now = t0();
    let (mut e, _) = console_engine(false, now + mins(3));
    let v = session_refresh_of(&e.decide(now)).expect("due");
    let a = e.handle(
        renewed(
            v,
            Refresh::NotPermitted("another `aws login` will not help".into()),
        ),
        now,
    );
    assert!(
        logs(&a).iter().any(|l| l.contains("will not help")),
        "{a:?}"
    );
    assert_eq!(e.view()[0].state, State::NoAccess);
    assert_eq!(session_refresh_of(&e.decide(now + mins(30))), None);
    assert_eq!(session_refresh_of(&e.decide(now + mins(61))), Some(v));
}

/// `aws logout` (the file gone) takes the section back, as for SSO.
#[test]
fn session_logout_removes_the_section() {
    let now = t0();
    let (mut e, _) = console_engine(false, now + mins(15));
    e.decide(now);
    e.handle(wrote("[cons]\n"), now);
    e.handle(
        Event::Login {
            login: console(),
            seen: Seen::Missing,
        },
        now,
    );
    let a = e.decide(now);
    assert_eq!(writes(&a), [(vec![], vec!["cons".into()])]);
}

/// A clean stop takes back the sections of `aws login` sessions and only those: nothing
/// renews them once the daemon is gone, and the AWS CLI reads them before its own session.
#[test]
fn stop_takes_back_session_sections_only() {
    let now = t0();
    let mut e = Engine::new(settings(false), 7);
    e.handle(Event::Config(Ok(mixed_config())), now);
    e.handle(login(corp(), token("tok", now + mins(480), true)), now);
    e.handle(seen_session(session("ASIA-1", now + mins(15), "rt-1")), now);
    let a = e.decide(now);
    let v = version_of(&a, "dev");
    e.handle(ok("dev", v, "AK-dev-1", now + mins(60)), now);
    let a = e.decide(now);
    assert_eq!(
        writes(&a),
        [(vec!["dev".into(), "cons".into()], vec![])],
        "one write for both kinds"
    );
    e.handle(wrote("[dev]\n[cons]\n"), now);
    let a = e.flush();
    assert_eq!(writes(&a), [(vec![], vec!["cons".into()])]);
    assert!(logs(&a).iter().any(|l| l.contains("removing [cons]")));
}

/// A profile dropped from the config takes its session's section with it (nothing renews
/// it); at start the record of an earlier run does the same for a session no profile uses.
#[test]
fn unused_session_sections_are_taken_back() {
    let now = t0();
    let mut e = Engine::new(settings(false), 7);
    e.restore_written(console(), "cons".into(), "ASIA-0".into());
    e.handle(
        Event::Config(Ok(Profiles {
            console: Vec::new(),
            ..mixed_config()
        })),
        now,
    );
    let a = e.decide(now);
    assert!(
        writes(&a).iter().any(|(_, r)| r == &["cons".to_owned()]),
        "{a:?}"
    );
}

/// `--once`: a fresh session is written with no call; one due is refreshed once, and when
/// that fails the credentials in hand are written while they last; when none are left, the
/// outcome says what to do.
#[test]
fn once_with_sessions() {
    let now = t0();
    let (mut e, _) = console_engine(true, now + mins(15));
    let a = e.decide(now);
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-1".to_owned())]);
    e.handle(wrote("[cons]\n"), now);
    assert!(e.settled());
    assert_eq!(
        e.session_sections(),
        [("cons".to_owned(), "cons".to_owned(), now + mins(15))]
    );

    let (mut e, s) = console_engine(true, now + mins(3));
    let a = e.decide(now);
    assert_eq!(session_refresh_of(&a), Some(s.version));
    e.handle(
        renewed(s.version, Refresh::Transient("HTTP 503".into())),
        now,
    );
    let a = e.decide(now);
    assert_eq!(session_refresh_of(&a), None, "one attempt");
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-1".to_owned())]);
    e.handle(wrote("[cons]\n"), now);
    assert!(e.settled());

    let (mut e, s) = console_engine(true, now - mins(1));
    e.decide(now);
    e.handle(
        renewed(s.version, Refresh::Rejected("TOKEN_EXPIRED".into())),
        now,
    );
    let a = e.decide(now);
    assert!(writes(&a).is_empty(), "{a:?}");
    assert!(e.settled());
    let outcomes = e.outcomes();
    assert!(
        outcomes[0].1.message().contains("aws login --profile cons"),
        "{outcomes:?}"
    );
}

/// A session file that turns unusable: the section written from it stays while its
/// credentials last and is then taken back; a section an earlier run wrote from it (no
/// credentials held now) is taken back at once.
#[test]
fn unusable_session_file_sections_are_taken_back() {
    let now = t0();
    let (mut e, _) = console_engine(false, now + mins(15));
    e.decide(now);
    e.handle(wrote("[cons]\n"), now);
    let broken = Event::Login {
        login: console(),
        seen: Seen::Unusable("the file is not a session".into()),
    };
    e.handle(broken.clone(), now);
    assert!(writes(&e.decide(now + mins(1))).is_empty(), "still valid");
    let wake = e.next_wake(now + mins(1)).expect("a wake before the end");
    assert!(wake <= now + mins(15), "{wake}");
    let a = e.decide(now + mins(15));
    assert_eq!(writes(&a), [(vec![], vec!["cons".into()])], "{a:?}");

    let mut e = Engine::new(settings(false), 7);
    e.restore_written(console(), "cons".into(), "ASIA-0".into());
    e.handle(Event::Config(Ok(console_config())), now);
    e.handle(broken, now);
    let a = e.decide(now);
    assert_eq!(writes(&a), [(vec![], vec!["cons".into()])], "{a:?}");
}

/// While a refresh is out, the credentials a new `aws login` brought wait for its answer at
/// most [`WRITE_HOLD_MAX`], then are written without it.
#[test]
fn slow_refresh_holds_a_new_login_briefly() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(3));
    assert_eq!(session_refresh_of(&e.decide(now)), Some(s.version));
    e.handle(
        seen_session(session("ASIA-NEW", now + mins(15), "rt-new")),
        now,
    );
    assert!(writes(&e.decide(now + TimeDelta::seconds(1))).is_empty());
    assert_eq!(
        e.next_wake(now + TimeDelta::seconds(1)),
        Some(now + WRITE_HOLD_MAX)
    );
    let a = e.decide(now + WRITE_HOLD_MAX);
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-NEW".to_owned())]);
}

/// What Sign-In said of a session the file no longer holds (a new `aws login` landed while
/// the call was out) is dropped: the new session is not declared over, nobody is notified.
#[test]
fn answer_for_a_replaced_session_is_dropped() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(3));
    assert_eq!(session_refresh_of(&e.decide(now)), Some(s.version));
    e.handle(
        seen_session(session("ASIA-NEW", now + mins(15), "rt-new")),
        now,
    );
    let a = e.handle(
        renewed(s.version, Refresh::Rejected("TOKEN_EXPIRED".into())),
        now,
    );
    assert!(notices(&a).is_empty(), "{a:?}");
    assert!(logs(&a).iter().all(|l| !l.contains("aws login")), "{a:?}");
    let a = e.decide(now);
    assert_eq!(put_keys(&a), [("cons".to_owned(), "ASIA-NEW".to_owned())]);
    e.handle(wrote("[cons]\n"), now);
    assert_eq!(e.view()[0].state, State::Fresh);
}

/// A profile added for a session that has ended, or whose file is gone, says so at once
/// rather than show "renewing" for ever.
#[test]
fn profile_added_for_an_ended_session_says_so() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(3));
    e.decide(now);
    e.handle(
        renewed(s.version, Refresh::Rejected("TOKEN_EXPIRED".into())),
        now,
    );
    let mut more = console_config();
    let mut second = more.console[0].clone();
    second.name = "cons2".into();
    more.console.push(second);
    e.handle(Event::Config(Ok(more)), now);
    let view = e.view();
    assert_eq!(view.len(), 2);
    assert!(
        view.iter().all(|v| v.state == State::NeedsLogin),
        "{view:?}"
    );
    assert_eq!(
        view[1].fix.as_deref(),
        Some("aws login --profile cons2"),
        "{view:?}"
    );
}

/// One of two profiles on one session taken out of the config: its section is taken back
/// (nothing renews it), the other's stays.
#[test]
fn one_of_two_session_profiles_removed_takes_its_section_back() {
    let now = t0();
    let mut two = console_config();
    let mut second = two.console[0].clone();
    second.name = "cons2".into();
    two.console.push(second);
    let mut e = Engine::new(settings(false), 7);
    e.handle(Event::Config(Ok(two)), now);
    e.handle(seen_session(session("ASIA-1", now + mins(15), "rt-1")), now);
    let a = e.decide(now);
    assert_eq!(put_keys(&a).len(), 2);
    e.handle(wrote("[cons]\n[cons2]\n"), now);
    e.handle(Event::Config(Ok(console_config())), now);
    let a = e.decide(now);
    assert_eq!(writes(&a), [(vec![], vec!["cons2".into()])], "{a:?}");
}

/// `--once`: a refresh that finds the file unchanged but not refreshable by it (Changed)
/// ends the pass rather than wait for ever.
#[test]
fn once_settles_after_an_unchanged_session() {
    let now = t0();
    let (mut e, s) = console_engine(true, now - mins(1));
    assert_eq!(session_refresh_of(&e.decide(now)), Some(s.version));
    e.handle(renewed(s.version, Refresh::Changed), now);
    e.handle(seen_session(s), now);
    let a = e.decide(now);
    assert_eq!(session_refresh_of(&a), None, "one attempt: {a:?}");
    assert!(e.settled(), "{:?}", e.outcomes());
}

/// The only profile of an ended session changed in the config (a new section): rebuilt, it
/// still says the session has ended, and how, rather than "renewing" for ever.
#[test]
fn changed_profile_of_an_ended_session_says_so() {
    let now = t0();
    let (mut e, s) = console_engine(false, now + mins(3));
    e.decide(now);
    e.handle(
        renewed(s.version, Refresh::Rejected("TOKEN_EXPIRED".into())),
        now,
    );
    let mut changed = console_config();
    changed.console[0].region = Some("us-west-2".into());
    e.handle(Event::Config(Ok(changed)), now);
    let view = e.view();
    assert_eq!(view[0].state, State::NeedsLogin, "{view:?}");
    assert!(
        view[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("TOKEN_EXPIRED")),
        "{view:?}"
    );
}
