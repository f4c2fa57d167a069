//! Properties of the credentials editor and of the config and token-file parsers, checked on
//! generated inputs with proptest (shrunk to a minimal case when one fails).
//!
//! The editor, on random files (comments, CRLF and CR, odd spacing, no final newline,
//! duplicate-looking headers, unicode line breaks and text) and random updates: every byte
//! outside the sections it writes comes out identical and in order, the result parses
//! wherever the input did (as botocore's configparser would), each written section is there
//! once with the new key, applying the update again changes nothing, and removing what was
//! written restores the file. A sample is judged by real botocore too. The parsers: no panic
//! on any input (bytes, invalid UTF-8 through the binary, huge lines, deep nesting).
//!
//! Case counts are modest by default; `SSOFRESH_STRESS=1` multiplies them by 50.

use std::fs;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use ssofresh::files::credfile::{self, Removal, RoleCredentials, SectionState, Update};
use ssofresh::files::{config, ini};
use ssofresh::login::token;
use ssofresh::secret::Secret;

use crate::common::{Portal, TestHome, botocore_raw_pairs, run, ssofresh as ssofresh_cmd};

/// True under `SSOFRESH_STRESS=1`.
fn stress() -> bool {
    std::env::var_os("SSOFRESH_STRESS").is_some_and(|v| v == "1")
}

/// `default` cases, or fifty times as many under `SSOFRESH_STRESS=1`.
fn cases(default: u32) -> u32 {
    if stress() { default * 50 } else { default }
}

fn config_with(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        // Failures are reported with their minimal input; no files are left behind.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Section names the updates aim at.
const TARGETS: [&str; 4] = ["dev", "default", "prod x", "ünï"];

/// A section name: a target, a near miss of one, or random text.
fn section_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TARGETS.to_vec()).prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "Dev", " dev", "dev ", "profile dev", "DEFAULT", "other", "a]b", "[dev", "dev\u{a0}",
        ])
        .prop_map(str::to_owned),
        1 => "[^\\]\\[\\r\\n]{1,8}",
    ]
}

/// A value: one of ours, a long-term key, empty, or random unicode.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ASIA1",
            "AKIAEXAMPLE",
            "",
            "t",
            "a = b",
            "; not a comment"
        ])
        .prop_map(str::to_owned),
        "\\PC{0,10}",
    ]
}

/// One line of a hand-edited credentials file, the awkward ones included.
fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_security_token",
            "x_security_token_expires",
            "region",
            "AWS_Session_Token",
            "output",
            "s3",
        ])
        .prop_map(str::to_owned),
        "[a-z_ü]{1,6}",
    ];
    let indent = prop::sample::select(vec!["", "", "", " ", "  ", "\t"]);
    let sep = prop::sample::select(vec![" = ", "=", ": ", " : ", "  =  ", " =", "= "]);
    prop_oneof![
        3 => (indent.clone(), section_name(), prop::sample::select(vec!["", "", " # c", "x"]))
            .prop_map(|(i, n, tail)| format!("{i}[{n}]{tail}")),
        6 => (indent.clone(), key, sep, value()).prop_map(|(i, k, s, v)| format!("{i}{k}{s}{v}")),
        2 => (indent, prop::sample::select(vec!["#", ";"]), "\\PC{0,12}")
            .prop_map(|(i, c, t)| format!("{i}{c}{t}")),
        2 => prop::sample::select(vec!["", "", " ", "\t", "\u{c}"]).prop_map(str::to_owned),
        1 => "  \\PC{1,10}",
        1 => prop::sample::select(vec![
            "junk", "\u{1c}output = json", "k = a\u{85}b", "k = a\u{2028}b", "=v", "\u{feff}k = v",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,16}",
    ]
}

/// A whole file: lines with a dominant line ending and now and then another one, with or
/// without a final line ending.
fn file() -> impl Strategy<Value = String> {
    let eol = prop::sample::select(vec!["\n", "\r\n", "\r"]);
    (
        eol,
        prop::collection::vec((line(), prop::bool::weighted(0.1)), 0..16),
        any::<bool>(),
    )
        .prop_map(|(eol, lines, final_eol)| {
            let mut text = String::new();
            for (i, (line, odd)) in lines.iter().enumerate() {
                text.push_str(line);
                if i + 1 < lines.len() || final_eol {
                    text.push_str(if *odd { "\n" } else { eol });
                }
            }
            text
        })
}

/// Credentials numbered `n`.
fn creds(n: u32) -> RoleCredentials {
    RoleCredentials {
        access_key_id: format!("ASIAPROP{n}"),
        secret_access_key: Secret::new(format!("prop-secret-{n}")),
        session_token: Secret::new(format!("prop-token-{n}")),
        expiration: Utc
            .with_ymd_and_hms(2031, 2, 3, 4, 5, n % 60)
            .single()
            .expect("date"),
    }
}

/// Updates: a non-empty set of target sections, each with its credentials and maybe a region.
fn updates() -> impl Strategy<Value = Vec<(String, RoleCredentials, Option<String>)>> {
    prop::sample::subsequence(TARGETS.to_vec(), 1..=TARGETS.len()).prop_flat_map(|names| {
        let n = names.len();
        (
            Just(names),
            prop::collection::vec((0u32..1000, prop::option::of("[a-z]{2}-[a-z]{4}-[1-9]")), n),
        )
            .prop_map(|(names, picks)| {
                names
                    .into_iter()
                    .zip(picks)
                    .map(|(name, (n, region))| (name.to_owned(), creds(n), region))
                    .collect()
            })
    })
}

fn as_updates(u: &[(String, RoleCredentials, Option<String>)]) -> Vec<Update<'_>> {
    u.iter()
        .map(|(section, credentials, region)| Update {
            section,
            credentials,
            region: region.as_deref(),
        })
        .collect()
}

/// The file cut at its section headers, as configparser sees them: (header name, bytes of
/// the header line and every line up to the next header), the part before any header first.
fn segments(text: &str) -> Vec<(Option<&str>, String)> {
    let mut out: Vec<(Option<&str>, String)> = vec![(None, String::new())];
    for line in ini::lex(text) {
        if let ini::Kind::Section(name) = line.kind {
            out.push((Some(name), String::new()));
        }
        let last = out.last_mut().expect("one segment at least");
        last.1.push_str(line.text);
        last.1.push_str(line.eol);
    }
    out
}

/// The value of `key` in the one `[section]` of `text`, as configparser reads it.
fn value_in(text: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    let mut found = None;
    for line in ini::lex(text) {
        match line.kind {
            ini::Kind::Section(name) => inside = name == section,
            ini::Kind::Key { key: k, value } if inside && k == key => {
                found = Some(value.to_owned());
            }
            _ => {}
        }
    }
    found
}

/// Checks every property of one edit; `Err` names the broken one.
fn check_edit(
    old: &str,
    u: &[(String, RoleCredentials, Option<String>)],
) -> Result<(), TestCaseError> {
    let updates = as_updates(u);
    let edit = credfile::apply(old, &updates);
    let refused: Vec<&str> = edit.refused.iter().map(|(s, _)| s.as_str()).collect();
    let written: Vec<&str> = u
        .iter()
        .map(|(s, _, _)| s.as_str())
        .filter(|s| !refused.contains(s))
        .collect();
    let new = &edit.text;

    // Bytes outside the written sections: identical, in order.
    let mut from = 0;
    for (name, bytes) in segments(old) {
        if name.is_some_and(|n| written.contains(&n)) {
            continue;
        }
        let at = new[from..].find(&bytes).map(|i| from + i);
        prop_assert!(at.is_some(), "{bytes:?} is not in the result, in order");
        from = at.unwrap_or(from) + bytes.len();
    }

    // Parses wherever the input did, the way botocore reads a file.
    if config::raw_view(old).is_ok() {
        prop_assert!(
            config::raw_view(new).is_ok(),
            "the result no longer parses: {:?}",
            config::raw_view(new).err()
        );
    }

    // Each written section once, holding the new keys.
    for (section, c, _) in u.iter().filter(|(s, _, _)| written.contains(&s.as_str())) {
        let headers = ini::lex(new)
            .iter()
            .filter(|l| l.kind == ini::Kind::Section(section))
            .count();
        prop_assert_eq!(headers, 1, "[{}] once", section);
        prop_assert_eq!(
            value_in(new, section, "aws_access_key_id"),
            Some(c.access_key_id.clone())
        );
        prop_assert_eq!(
            value_in(new, section, "aws_session_token"),
            Some(c.session_token.expose().to_owned())
        );
    }

    // Idempotent.
    let again = credfile::apply(new, &updates);
    prop_assert_eq!(&again.text, new, "a second apply changed the file");

    // Removal restores a file that had none of the sections (a region written stays: it may
    // be the user's, so only updates without one are undone whole).
    let absent = u
        .iter()
        .all(|(s, _, _)| credfile::section_key_id(old, s) == SectionState::Absent);
    let regions = u.iter().any(|(_, _, r)| r.is_some());
    if absent && refused.is_empty() && !regions {
        let removals: Vec<Removal<'_>> = u
            .iter()
            .map(|(section, c, _)| Removal {
                section,
                access_key_id: &c.access_key_id,
            })
            .collect();
        let back = credfile::remove(new, &removals);
        prop_assert!(back.refused.is_empty(), "refused: {:?}", back.refused);
        prop_assert_eq!(
            restored(old, &back.text),
            true,
            "not restored: {:?}",
            back.text
        );
        prop_assert_eq!(
            &credfile::remove(&back.text, &removals).text,
            &back.text,
            "a second removal changed the file"
        );
    }
    Ok(())
}

/// True if `back` is `old` again. Two endings are ambiguous after an append and its removal,
/// as `credfile`'s own tests document: white space at the very end of a file whose last line
/// is blank, and a last line ending in a lone CR in a file of LF lines (the separator the
/// append added turns it into CRLF).
fn restored(old: &str, back: &str) -> bool {
    if back == old {
        return true;
    }
    let lines = ini::lex(old);
    let trim = |t: &str| t.trim_end_matches(ini::py_space).to_owned();
    let ends_blank = lines.last().is_some_and(|l| l.kind == ini::Kind::Blank);
    let cr_then_lf = old.ends_with('\r') && ini::dominant_eol(&lines) == "\n";
    (ends_blank && trim(back) == trim(old)) || (cr_then_lf && back == format!("{old}\n"))
}

proptest! {
    #![proptest_config(config_with(512))]

    /// The credentials editor on random files and random updates: bytes outside its sections
    /// identical and in order, the result parses wherever the input did, each written
    /// section once with the new keys, idempotent, and removal restores the file.
    #[test]
    fn editor_properties(old in file(), u in updates()) {
        check_edit(&old, &u)?;
    }

    /// The token-file parser never panics, whatever the bytes (invalid UTF-8 included).
    #[test]
    fn token_parser_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = token::parse(&bytes);
    }

    /// The token-file parser never panics on JSON objects with token-like fields of any type
    /// and odd `expiresAt` forms; whatever it answers, its error or the token's `Debug`, never
    /// shows the access token, refresh token or client secret; and it gives a refresh grant
    /// only with a refresh token.
    #[test]
    fn token_parser_takes_any_token_shape(
        fields in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "accessToken", "expiresAt", "region", "startUrl", "refreshToken",
                    "clientId", "clientSecret", "registrationExpiresAt", "other",
                ]),
                prop_oneof![
                    "\\PC{0,24}".prop_map(serde_json::Value::from),
                    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{0,12}(Z|UTC|[+-][0-9:]{0,5})?"
                        .prop_map(serde_json::Value::from),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<f64>().prop_map(|f| serde_json::json!(f)),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!({"a": [1, {"b": null}]})),
                ],
            ),
            0..10,
        ),
        secrets in prop::collection::vec("SECRET[A-Za-z0-9/+=]{4,20}", 3),
    ) {
        let mut map: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        for (key, secret) in ["accessToken", "refreshToken", "clientSecret"].iter().zip(&secrets) {
            // Now and then a secret field keeps its generated (odd) value instead.
            if !map.contains_key(*key) || secret.len() % 3 != 0 {
                map.insert((*key).to_owned(), serde_json::Value::from(secret.as_str()));
            }
        }
        let bytes = serde_json::to_vec(&map).expect("serialize");
        let shown = match token::parse(&bytes) {
            Ok(t) => {
                prop_assert!(t.refresh.is_none() || map.contains_key("refreshToken"));
                format!("{t:?}")
            }
            Err(problem) => format!("{problem} {problem:?}"),
        };
        prop_assert!(!shown.contains("SECRET"), "a secret shown: {}", shown);
    }

    /// `expiresAt` parsing never panics, whatever the text.
    #[test]
    fn expires_at_takes_any_text(text in "\\PC{0,40}|[0-9T:.Z+ -]{0,40}") {
        let _ = token::parse_expires_at(&text);
    }

    /// The config reader never panics, whatever the text, and the line lexer it stands on
    /// gives every byte back.
    #[test]
    fn config_parser_takes_any_text(text in prop_oneof![file(), "\\PC{0,200}", any::<String>()]) {
        let _ = config::parse(&text);
        let lines = ini::lex(&text);
        let joined: String = lines.iter().flat_map(|l| [l.text, l.eol]).collect();
        prop_assert_eq!(joined, text);
    }
}

/// A sample of generated edits judged by real botocore (`raw_config_parse`): wherever it
/// read the input, it reads the result; each written section holds the new key id and
/// session token; every section not written reads exactly as before.
#[test]
fn botocore_reads_generated_edits() {
    let mut runner = TestRunner::new(Config {
        cases: cases(150),
        ..Config::default()
    });
    // Most random files start with a key before any section, which botocore refuses; a
    // header first makes most of them readable, so that botocore has something to judge.
    let strategy = (file().prop_map(|f| format!("[base]\n{f}")), updates());
    let cases_seen: Vec<_> = (0..cases(150))
        .map(|_| {
            let (old, u) = strategy
                .new_tree(&mut runner)
                .expect("generate a case")
                .current();
            let edit = credfile::apply(&old, &as_updates(&u));
            (old, u, edit)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = cases_seen
        .iter()
        .map(|(old, _, edit)| (old.as_str(), edit.text.as_str()))
        .collect();
    let views = botocore_raw_pairs(&pairs);
    let mut judged = 0;
    for ((old, u, edit), (before, after)) in cases_seen.iter().zip(&views) {
        if before.get("error").is_some() {
            continue;
        }
        assert!(
            after.get("error").is_none(),
            "botocore read {old:?} but not {:?}: {after}",
            edit.text
        );
        let written: Vec<&str> = u
            .iter()
            .map(|(s, _, _)| s.as_str())
            .filter(|s| !edit.refused.iter().any(|(r, _)| r == s))
            .collect();
        for (section, c, _) in u.iter().filter(|(s, _, _)| written.contains(&s.as_str())) {
            assert_eq!(
                after[section]["aws_access_key_id"], c.access_key_id,
                "{old:?} -> {:?}",
                edit.text
            );
            assert_eq!(
                after[section]["aws_session_token"],
                c.session_token.expose(),
                "{old:?} -> {:?}",
                edit.text
            );
        }
        for (section, view) in before.as_object().expect("sections") {
            if !written.contains(&section.as_str()) {
                assert_eq!(&after[section], view, "[{section}] of {old:?} changed");
            }
        }
        judged += 1;
    }
    assert!(judged > 50, "botocore read enough inputs: {judged}");
}

/// Huge and deep inputs: an 8 MB line (50 MB under `SSOFRESH_STRESS=1`; the lexer takes
/// about 0.4 s per MB in a debug build) in the config file and in a token file, 100,000
/// sections, 100,000 continuation lines, and JSON nested 100,000 deep: each parser answers
/// (no panic, no stack overflow) and the config parser still finds the profile.
#[test]
fn parsers_survive_huge_and_deep_inputs() {
    let sso = "[profile p]\nsso_session = s\nsso_account_id = 111111111111\nsso_role_name = R\n\
               [sso-session s]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n";
    let long = "x".repeat(if stress() { 50 } else { 8 } * 1024 * 1024);
    let huge = [
        format!("{sso}[profile big]\nk = {long}\n"),
        format!(
            "{sso}{}",
            "[s]\n".repeat(100_000).replace("[s]", "[profile q]")
        ),
        format!("{sso}[profile c]\ns3 =\n{}", "  k = v\n".repeat(100_000)),
    ];
    for (i, text) in huge.iter().enumerate() {
        match config::parse(text) {
            Ok(profiles) => assert!(
                profiles.sso.iter().any(|p| p.name == "p"),
                "case {i}: the profile is found"
            ),
            // A section repeated is refused, as botocore refuses it; that is an answer.
            Err(e) => assert!(i == 1, "case {i}: {e:?}"),
        }
    }
    let token_long =
        format!("{{\"accessToken\": \"{long}\", \"expiresAt\": \"2030-01-01T00:00:00Z\"}}");
    assert!(token::parse(token_long.as_bytes()).is_ok());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(token::parse(deep.as_bytes()).is_err());
    let deep_object = format!(
        "{{\"accessToken\": \"t\", \"x\": {}1{}}}",
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    assert!(token::parse(deep_object.as_bytes()).is_err());
}

/// Invalid UTF-8 in the config file and in a token file, through the real binary: the config
/// file is refused by path, the token file is reported by path for its profile; no panic.
#[test]
fn invalid_utf8_files_are_named() {
    let home = TestHome::new();
    let portal = Portal::start();
    fs::create_dir_all(home.aws_dir()).expect("mkdir");
    fs::write(home.config_path(), b"[profile dev]\nregion = \xff\xfe\n").expect("write");
    let mut cmd = ssofresh_cmd(&home, &portal);
    cmd.arg("--once");
    let out = run(cmd);
    out.assert_status(1);
    assert!(
        out.stderr
            .contains(&home.config_path().display().to_string()),
        "{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");

    home.write_config(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = R\n\
         [sso-session corp]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n",
    );
    let path = home.token_path("corp");
    fs::create_dir_all(home.cache_dir()).expect("mkdir");
    fs::write(
        &path,
        b"{\"accessToken\": \"\xff\xfe\", \"expiresAt\": \"2030-01-01T00:00:00Z\"}",
    )
    .expect("write");
    let mut cmd = ssofresh_cmd(&home, &portal);
    cmd.arg("--once");
    let out = run(cmd);
    out.assert_status(2);
    assert!(out.stderr.contains("dev: "), "{out}");
    assert!(out.stderr.contains(&path.display().to_string()), "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert!(portal.requests().is_empty(), "{out}");
}
