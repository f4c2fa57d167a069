//! Before/after tables for the credentials editor.

use super::*;
use chrono::TimeZone;

fn creds(n: u32) -> RoleCredentials {
    RoleCredentials {
        access_key_id: format!("ASIA{n}"),
        secret_access_key: Secret::new(format!("secret{n}")),
        session_token: Secret::new(format!("token{n}")),
        expiration: Utc
            .with_ymd_and_hms(2026, 11, 24, 5, 0, n)
            .single()
            .expect("date"),
    }
}

fn block(n: u32, eol: &str) -> String {
    format!(
        "aws_access_key_id = ASIA{n}{eol}aws_secret_access_key = secret{n}{eol}\
         aws_session_token = token{n}{eol}x_security_token_expires = 2026-11-24T05:00:0{n}Z{eol}"
    )
}

fn edit(old: &str, sections: &[(&str, u32)]) -> Edit {
    let all: Vec<RoleCredentials> = sections.iter().map(|(_, n)| creds(*n)).collect();
    let updates: Vec<Update<'_>> = sections
        .iter()
        .zip(&all)
        .map(|((s, _), c)| Update {
            section: s,
            credentials: c,
            region: None,
        })
        .collect();
    apply(old, &updates)
}

/// (what it shows, old text, sections and credential numbers, new text)
type Case = (&'static str, String, Vec<(&'static str, u32)>, String);

/// Before/after pairs: what is ours changes, everything else stays byte for byte.
#[test]
fn before_after() {
    let b1 = block(1, "\n");
    let b2 = block(2, "\n");
    let table: Vec<Case> = vec![
        ("empty file", String::new(), vec![("dev", 1)], format!("[dev]\n{b1}")),
        (
            "appends after other profiles and keeps comments",
            "# my keys\n[personal]\naws_access_key_id = AKIAX\naws_secret_access_key = s ; kept\n".into(),
            vec![("dev", 1)],
            format!("# my keys\n[personal]\naws_access_key_id = AKIAX\naws_secret_access_key = s ; kept\n\n[dev]\n{b1}"),
        ),
        (
            "replaces in place, keeps order, spacing of others and trailing comment",
            "[a]\nx=1\n\n[dev]\nregion=eu-west-1\naws_session_token=old\n  # mine\naws_access_key_id =old\n\n# tail\n[b]\ny = 2\n".into(),
            vec![("dev", 1)],
            "[a]\nx=1\n\n[dev]\nregion=eu-west-1\naws_session_token = token1\n  # mine\naws_access_key_id = ASIA1\naws_secret_access_key = secret1\nx_security_token_expires = 2026-11-24T05:00:01Z\n\n# tail\n[b]\ny = 2\n".into(),
        ),
        (
            "a second run with the same values changes nothing",
            format!("; top\n[dev]\n{b1}\n[other]\nk = v\n"),
            vec![("dev", 1)],
            format!("; top\n[dev]\n{b1}\n[other]\nk = v\n"),
        ),
        (
            "CRLF files get CRLF lines",
            "[a]\r\nk = v\r\n".into(),
            vec![("dev", 1), ("a", 2)],
            format!("[a]\r\nk = v\r\n{}\r\n[dev]\r\n{}", block(2, "\r\n"), block(1, "\r\n")),
        ),
        (
            "no final newline stays so",
            "[a]\nk = v".into(),
            vec![("dev", 1)],
            format!("[a]\nk = v\n\n[dev]\n{}", b1.trim_end_matches('\n')),
        ),
        (
            "no final newline, key added at the end of the last section",
            "[dev]\nregion = x".into(),
            vec![("dev", 2)],
            format!("[dev]\nregion = x\n{}", b2.trim_end_matches('\n')),
        ),
        (
            "default section",
            "[default]\nregion = us-east-1\n".into(),
            vec![("default", 1)],
            format!("[default]\nregion = us-east-1\n{b1}"),
        ),
        (
            "spaced header is the same section, not a duplicate",
            "[ dev ]\naws_session_token = t\n".into(),
            vec![("dev", 1)],
            format!("[ dev ]\n{}", reorder_token_first(&b1)),
        ),
        (
            "duplicate owned keys collapse to one, continuation lines of owned keys go",
            "[dev]\naws_session_token = a\n  more\naws_session_token = b\nother = 1\n  nested = 2\n".into(),
            vec![("dev", 1)],
            format!("[dev]\naws_session_token = token1\nother = 1\n  nested = 2\n{}", without(&b1, "aws_session_token")),
        ),
        (
            "aws_security_token is kept in step (botocore prefers it)",
            "[dev]\naws_security_token = old\naws_session_token = old\n".into(),
            vec![("dev", 1)],
            format!("[dev]\naws_security_token = token1\naws_session_token = token1\n{}", without(&b1, "aws_session_token")),
        ),
        (
            "keys are matched case-insensitively, as configparser does",
            "[dev]\nAWS_Session_Token = old\n".into(),
            vec![("dev", 1)],
            format!("[dev]\naws_session_token = token1\n{}", without(&b1, "aws_session_token")),
        ),
        (
            "many profiles, one write",
            "".into(),
            vec![("a", 1), ("b", 2)],
            format!("[a]\n{b1}\n[b]\n{b2}"),
        ),
        (
            "a preamble without a section and invalid lines survive",
            "stray line\n[dev]\njunk\n".into(),
            vec![("dev", 1)],
            format!("stray line\n[dev]\njunk\n{b1}"),
        ),
        (
            "sections separated by comments keep them after the new keys",
            "[dev]\nregion = r\n# about next\n[next]\n".into(),
            vec![("dev", 1)],
            format!("[dev]\nregion = r\n{b1}# about next\n[next]\n"),
        ),
    ];
    for (what, old, sections, want) in table {
        let got = edit(&old, &sections);
        assert_eq!(got.refused, vec![], "{what}");
        assert_eq!(got.text, want, "{what}");
    }
}

fn without(block: &str, key: &str) -> String {
    block
        .lines()
        .filter(|l| !l.starts_with(key))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn reorder_token_first(block: &str) -> String {
    let token: String = block
        .lines()
        .filter(|l| l.starts_with("aws_session_token"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{token}{}", without(block, "aws_session_token"))
}

/// Long-term keys and duplicate sections are refused and the file is left as it was.
#[test]
fn refusals() {
    let table: Vec<(&str, &str, Refusal)> = vec![
        (
            "long-term keys",
            "[dev]\naws_access_key_id = AKIA\naws_secret_access_key = s\n",
            Refusal::LongTermKeys,
        ),
        (
            "long-term, key spelled in caps",
            "[dev]\nAWS_ACCESS_KEY_ID = AKIA\n",
            Refusal::LongTermKeys,
        ),
        (
            "duplicate section",
            "[dev]\nk = 1\n[x]\n[dev]\nk = 2\n",
            Refusal::DuplicateSection(vec![1, 4]),
        ),
    ];
    for (what, old, refusal) in table {
        let got = edit(old, &[("dev", 1), ("fine", 2)]);
        assert_eq!(got.refused, vec![("dev".to_owned(), refusal)], "{what}");
        assert!(
            got.text.starts_with(old),
            "{what}: the refused section is untouched"
        );
        assert!(
            got.text.contains("[fine]"),
            "{what}: the other profile is still written"
        );
    }
    let got = edit("", &[("dev", 1), ("dev", 2)]);
    assert_eq!(got.text, "");
    assert_eq!(got.refused.len(), 2);
}

/// `region` is written only when asked, and updated in place when present.
#[test]
fn region_when_asked() {
    let c = creds(1);
    let update = Update {
        section: "dev",
        credentials: &c,
        region: Some("eu-west-1"),
    };
    let got = apply("[dev]\nregion = us-east-1\n", std::slice::from_ref(&update));
    assert!(
        got.text.starts_with("[dev]\nregion = eu-west-1\n"),
        "{}",
        got.text
    );
    let got = apply("", &[update]);
    assert!(got.text.ends_with("region = eu-west-1\n"), "{}", got.text);
    assert!(!edit("", &[("dev", 1)]).text.contains("region"));
}

/// Whatever the input, every byte outside the written sections survives, the result has no
/// duplicate section or owned key, and a second edit is a no-op.
#[test]
fn invariants_over_many_inputs() {
    let pieces = [
        "[dev]",
        "[ dev ]",
        "[other]",
        "[default]",
        "# c",
        "; c",
        "",
        "  ",
        "k = v",
        "aws_session_token = t",
        "aws_access_key_id = a",
        "  cont",
        "junk",
        "region = r",
        "\taws_session_token = tab",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut text = String::new();
        let n = (seed % 9) as usize;
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            text.push_str(if seed.is_multiple_of(5) { "\r\n" } else { "\n" });
        }
        if seed.is_multiple_of(3) {
            text.pop();
        }
        let first = edit(&text, &[("dev", 1), ("default", 2)]);
        let second = apply_again(&first.text);
        if first.refused.is_empty() {
            assert_eq!(second, first.text, "idempotent for {text:?}");
            for section in ["dev", "default"] {
                let headers = ini::lex(&first.text)
                    .iter()
                    .filter(|l| matches!(l.kind, Kind::Section(s) if s.trim() == section))
                    .count();
                assert_eq!(headers, 1, "one [{section}] in {:?}", first.text);
            }
        }
        // Lines of the input that are not in a written section come out in order.
        let kept: Vec<&str> = kept_lines(&text);
        let mut out = first.text.lines();
        for line in kept {
            assert!(
                out.any(|l| l.trim_end_matches('\r') == line),
                "{line:?} lost from {text:?} -> {:?}",
                first.text
            );
        }
    }
}

fn apply_again(text: &str) -> String {
    edit(text, &[("dev", 1), ("default", 2)]).text
}

/// Lines outside the `dev` and `default` sections, which the editor must not touch.
fn kept_lines(text: &str) -> Vec<&str> {
    let mut inside = false;
    let mut kept = Vec::new();
    for line in ini::lex(text) {
        if let Kind::Section(name) = line.kind {
            inside = ["dev", "default"].contains(&name.trim());
        }
        if !inside {
            kept.push(line.text);
        }
    }
    kept
}
