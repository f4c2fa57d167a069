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
            "a spaced header is another section, as in configparser",
            "[ dev ]\naws_session_token = t\n".into(),
            vec![("dev", 1)],
            format!("[ dev ]\naws_session_token = t\n\n[dev]\n{b1}"),
        ),
        (
            "indented keys keep their indentation, so indented siblings stay siblings",
            "[dev]\n  region = eu-west-1\n  aws_session_token = t\n  output = json\n".into(),
            vec![("dev", 1)],
            format!(
                "[dev]\n  region = eu-west-1\n  aws_session_token = token1\n  output = json\n{}",
                without(&b1, "aws_session_token")
            ),
        ),
        (
            "colon separators are keys too",
            "[dev]\naws_session_token: old\nfoo: bar\n".into(),
            vec![("dev", 1)],
            format!("[dev]\naws_session_token = token1\nfoo: bar\n{}", without(&b1, "aws_session_token")),
        ),
        (
            "a CR-only file gets CR lines and keeps its final CR",
            "[a]\rk = v\r".into(),
            vec![("dev", 1)],
            format!("[a]\rk = v\r\r[dev]\r{}", block(1, "\r")),
        ),
        (
            "a renamed target leaves the profile's own section alone",
            "[dev]\naws_access_key_id = AKIALONG\naws_secret_access_key = keep\n".into(),
            vec![("dev-sso", 1)],
            format!("[dev]\naws_access_key_id = AKIALONG\naws_secret_access_key = keep\n\n[dev-sso]\n{b1}"),
        ),
        (
            "new keys take the indentation of an indented next header, which stays a header",
            "[dev]\n  aws_session_token = old\n  [prod]\n  region = eu-west-1\n".into(),
            vec![("dev", 1)],
            format!(
                "[dev]\n  aws_session_token = token1\n{}  [prod]\n  region = eu-west-1\n",
                without(&b1, "aws_session_token")
                    .lines()
                    .map(|l| format!("  {l}\n"))
                    .collect::<String>()
            ),
        ),
        (
            "an indented file throughout stays readable",
            "  [dev]\n  [prod]\naws_access_key_id = AKIAPROD\n".into(),
            vec![("dev", 1)],
            format!(
                "  [dev]\n{}  [prod]\naws_access_key_id = AKIAPROD\n",
                b1.lines().map(|l| format!("  {l}\n")).collect::<String>()
            ),
        ),
        (
            "indentation made of Python-only white space is kept",
            "[dev]\n\u{1c}  aws_session_token = old\n region = eu-west-1\n".into(),
            vec![("dev", 1)],
            format!(
                "[dev]\n\u{1c}  aws_session_token = token1\n region = eu-west-1\n{}",
                without(&b1, "aws_session_token")
            ),
        ),
        (
            "a last line that is a header gets its keys",
            "[other]\nk = v\n[dev]".into(),
            vec![("dev", 1)],
            format!("[other]\nk = v\n[dev]\n{}", b1.trim_end_matches('\n')),
        ),
        (
            "duplicate owned keys collapse to one; foreign nested blocks stay",
            "[dev]\naws_session_token = a\naws_session_token = b\nother = 1\n  nested = 2\n".into(),
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
            "a section of these very credentials, cut short, is made whole",
            "[dev]\naws_access_key_id = ASIA1\naws_secret_access_key = secret1\n".into(),
            vec![("dev", 1)],
            format!("[dev]\n{b1}"),
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
            "an empty session token guards nothing",
            "[dev]\naws_access_key_id = ASIAX\naws_secret_access_key = s\naws_session_token =\n",
            Refusal::LongTermKeys,
        ),
        (
            "an AKIA key is long-term even beside a token",
            "[dev]\naws_access_key_id = AKIAX\naws_secret_access_key = s\naws_session_token = t\n",
            Refusal::LongTermKeys,
        ),
        (
            "an owned key continued on indented lines",
            "[dev]\naws_session_token = a\n  [prod]\nregion = x\n",
            Refusal::MultiLineValue("aws_session_token"),
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

/// A `[DEFAULT]` section with a credential key refuses every update: botocore would mix
/// its stale token into each section written.
#[test]
fn default_section_with_credentials() {
    let old = "[DEFAULT]\naws_security_token = stale\n[dev]\n";
    let got = edit(old, &[("dev", 1), ("new", 2)]);
    assert_eq!(got.text, old);
    let key = Refusal::DefaultSetsKey("aws_security_token".into());
    assert_eq!(
        got.refused,
        vec![("dev".to_owned(), key.clone()), ("new".to_owned(), key)]
    );
    assert!(
        edit("[DEFAULT]\nregion = x\n", &[("dev", 1)])
            .refused
            .is_empty()
    );
}

/// Regression (found by `tests/it/props.rs` under SSOFRESH_STRESS=1): a file with only a
/// `[DEFAULT]` section whose nested value botocore cannot parse reads fine (botocore parses
/// [DEFAULT]'s values only when it copies them into a section), and adding a section would
/// make botocore refuse the whole file. The edit is refused and the file left alone; a
/// readable [DEFAULT] with a nested block is still written to.
#[test]
fn default_section_that_breaks_once_a_section_exists() {
    let old = "[DEFAULT]\nü = \n aws_access_key_id: ASIA1";
    assert!(config::raw_view(old).is_ok());
    let got = edit(old, &[("dev", 1)]);
    assert_eq!(got.text, old);
    assert!(
        matches!(got.refused.as_slice(), [(s, Refusal::DefaultUnreadable(why))]
            if s == "dev" && why.contains("line 2")),
        "{:?}",
        got.refused
    );
    let fine = "[DEFAULT]\ns3 =\n  max_concurrent_requests = 20\n";
    let got = edit(fine, &[("dev", 1)]);
    assert!(got.refused.is_empty(), "{:?}", got.refused);
    assert!(config::raw_view(&got.text).is_ok());
}

/// Names no reader agrees on are refused by the editor too, not only by the planner.
#[test]
fn unusable_names() {
    for name in ["DEFAULT", "team #1", "x ;y", "__proto__", "a]b", ""] {
        let got = edit("", &[(name, 1)]);
        assert!(
            matches!(got.refused[..], [(_, Refusal::UnusableName(_))]),
            "{name:?}"
        );
        assert_eq!(got.text, "");
    }
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

/// Whatever the input, every line outside the written sections survives in order, every
/// setting that is not ours reads the same afterwards (as configparser would read it), the
/// result has exactly one of each written section, and a second edit is a no-op.
#[test]
fn invariants_over_many_inputs() {
    let pieces = [
        "[dev]",
        "[ dev ]",
        "[other]",
        "[default]",
        "  [other]",
        "  [dev]",
        "[DEFAULT]",
        "\u{1c}region = r",
        "# c",
        "; c",
        "",
        "  ",
        "k = v",
        "k: v2",
        "aws_session_token = t",
        "aws_session_token =",
        "aws_access_key_id = a",
        "aws_access_key_id = AKIAX",
        "  cont",
        "  region = r",
        "  aws_session_token = t2",
        "junk",
        "region = r",
        "\taws_session_token = tab",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut written = 0;
    for _ in 0..5000 {
        let eol = ["\n", "\r\n", "\r"][(next() % 3) as usize];
        let mut text = String::new();
        for _ in 0..next() % 10 {
            text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            text.push_str(if next().is_multiple_of(7) { "\n" } else { eol });
        }
        if next().is_multiple_of(3) {
            text.pop();
        }
        let first = edit(&text, &[("dev", 1), ("default", 2)]);
        let written_sections: Vec<&str> = ["dev", "default"]
            .into_iter()
            .filter(|s| !first.refused.iter().any(|(r, _)| r == s))
            .collect();
        if first.refused.is_empty() {
            written += 1;
            assert_eq!(
                apply_again(&first.text),
                first.text,
                "idempotent for {text:?}"
            );
            for section in ["dev", "default"] {
                let headers = ini::lex(&first.text)
                    .iter()
                    .filter(|l| l.kind == Kind::Section(section))
                    .count();
                assert_eq!(headers, 1, "one [{section}] in {:?}", first.text);
            }
        }
        assert_eq!(
            foreign_settings(&first.text, &written_sections),
            foreign_settings(&text, &written_sections),
            "settings that are not ours changed: {text:?} -> {:?}",
            first.text
        );
        let kept = kept_lines(&text, &written_sections);
        let out = ini::lex(&first.text);
        let mut out = out.iter().map(|l| l.text);
        for line in kept {
            assert!(
                out.any(|l| l == line),
                "{line:?} lost from {text:?} -> {:?}",
                first.text
            );
        }
    }
    assert!(written > 1000, "the generator exercised writes: {written}");
}

fn apply_again(text: &str) -> String {
    edit(text, &[("dev", 1), ("default", 2)]).text
}

/// Every (section, key, value) as configparser reads it, continuation lines joined, except the
/// keys ssofresh owns in the sections it wrote.
fn foreign_settings(text: &str, written: &[&str]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut section = String::new();
    for line in ini::lex(text) {
        match line.kind {
            Kind::Section(name) => section = name.to_owned(),
            Kind::Key { key, value } => out.push((section.clone(), key, value.to_owned())),
            Kind::Continuation(more) => {
                if let Some(last) = out.last_mut() {
                    last.2.push('\n');
                    last.2.push_str(more);
                }
            }
            _ => {}
        }
    }
    out.retain(|(s, k, _)| {
        let ours = OWNED_KEYS.contains(&k.as_str()) || k == "aws_security_token";
        !(written.contains(&s.as_str()) && ours)
    });
    out
}

/// Lines outside the sections written, which the editor must not touch.
fn kept_lines<'t>(text: &'t str, written: &[&str]) -> Vec<&'t str> {
    let mut inside = false;
    let mut kept = Vec::new();
    for line in ini::lex(text) {
        if let Kind::Section(name) = line.kind {
            inside = written.contains(&name);
        }
        if !inside {
            kept.push(line.text);
        }
    }
    kept
}

fn take_back(old: &str, sections: &[(&str, u32)]) -> Edit {
    let ids: Vec<String> = sections.iter().map(|(_, n)| format!("ASIA{n}")).collect();
    let removals: Vec<Removal<'_>> = sections
        .iter()
        .zip(&ids)
        .map(|((s, _), id)| Removal {
            section: s,
            access_key_id: id,
        })
        .collect();
    remove(old, &removals)
}

/// Before/after pairs for `remove`: what ssofresh wrote goes, with the header once nothing is
/// left under it; every other byte stays.
#[test]
fn remove_before_after() {
    let b1 = block(1, "\n");
    let b2 = block(2, "\n");
    let table: Vec<Case> = vec![
        (
            "the only section leaves an empty file",
            format!("[dev]\n{b1}"),
            vec![("dev", 1)],
            String::new(),
        ),
        (
            "the last section goes with the blank line before it",
            format!("# my keys\n[a]\nk = v\n\n[dev]\n{b1}"),
            vec![("dev", 1)],
            "# my keys\n[a]\nk = v\n".into(),
        ),
        (
            "a section between two others leaves one blank line between them",
            format!("[a]\nk = v\n\n[dev]\n{b1}\n[b]\ny = 2\n"),
            vec![("dev", 1)],
            "[a]\nk = v\n\n[b]\ny = 2\n".into(),
        ),
        (
            "between two others with no blank line after it, the one before stays",
            format!("[a]\nk = v\n\n[dev]\n{b1}[b]\ny = 2\n"),
            vec![("dev", 1)],
            "[a]\nk = v\n\n[b]\ny = 2\n".into(),
        ),
        (
            "the first section goes with the blank lines after it",
            format!("[dev]\n{b1}\n[b]\ny = 2\n"),
            vec![("dev", 1)],
            "[b]\ny = 2\n".into(),
        ),
        (
            "a comment above the first section stays, and so does the blank line after it",
            format!("# top\n\n[dev]\n{b1}\n[b]\n"),
            vec![("dev", 1)],
            "# top\n\n[b]\n".into(),
        ),
        (
            "blank lines at the top of the file stay",
            format!("\n[dev]\n{b1}"),
            vec![("dev", 1)],
            "\n".into(),
        ),
        (
            "a user comment inside keeps the header and the comment",
            format!("[dev]\n# work account\n{b1}"),
            vec![("dev", 1)],
            "[dev]\n# work account\n".into(),
        ),
        (
            "region and the user's other keys stay, in place",
            format!("[a]\n\n[dev]\nregion = eu-west-1\n{b1}output = json\n\n[b]\n"),
            vec![("dev", 1)],
            "[a]\n\n[dev]\nregion = eu-west-1\noutput = json\n\n[b]\n".into(),
        ),
        (
            "aws_security_token goes too; keys in any case and indentation",
            "[dev]\n  AWS_Security_Token = t\n  aws_access_key_id: ASIA1\n  region = r\n".into(),
            vec![("dev", 1)],
            "[dev]\n  region = r\n".into(),
        ),
        (
            "a duplicated owned key goes twice",
            format!("[dev]\naws_session_token = a\n{b1}k = v\n"),
            vec![("dev", 1)],
            "[dev]\nk = v\n".into(),
        ),
        (
            "CRLF survives",
            format!(
                "[a]\r\nk = v\r\n\r\n[dev]\r\n{}\r\n[b]\r\n",
                block(1, "\r\n")
            ),
            vec![("dev", 1)],
            "[a]\r\nk = v\r\n\r\n[b]\r\n".into(),
        ),
        (
            "CR-only survives",
            format!("[a]\rk = v\r\r[dev]\r{}", block(1, "\r")),
            vec![("dev", 1)],
            "[a]\rk = v\r".into(),
        ),
        (
            "no final newline stays so",
            format!("[a]\nk = v\n\n[dev]\n{}", b1.trim_end_matches('\n')),
            vec![("dev", 1)],
            "[a]\nk = v".into(),
        ),
        (
            "no final newline, our keys in the middle",
            format!("[dev]\n{b1}region = r"),
            vec![("dev", 1)],
            "[dev]\nregion = r".into(),
        ),
        (
            "two sections, one after the other",
            format!("[a]\nk = v\n\n[dev]\n{b1}\n[default]\n{b2}"),
            vec![("dev", 1), ("default", 2)],
            "[a]\nk = v\n".into(),
        ),
        (
            "two sections, removed in the other order, with a section after them",
            format!("[default]\n{b2}\n[dev]\n{b1}\n[b]\n"),
            vec![("dev", 1), ("default", 2)],
            "[b]\n".into(),
        ),
        (
            "an absent section changes nothing",
            "[a]\nk = v\n".into(),
            vec![("dev", 1)],
            "[a]\nk = v\n".into(),
        ),
        (
            "a section without credential keys is not ours to tidy, even empty",
            "[dev]\n\n[a]\n[x]\nregion = r\n".into(),
            vec![("dev", 1), ("x", 2)],
            "[dev]\n\n[a]\n[x]\nregion = r\n".into(),
        ),
        (
            "a spaced header is another section",
            format!("[ dev ]\n{b1}"),
            vec![("dev", 1)],
            format!("[ dev ]\n{b1}"),
        ),
        (
            "a junk line inside keeps the header",
            format!("[dev]\njunk\n{b1}"),
            vec![("dev", 1)],
            "[dev]\njunk\n".into(),
        ),
        (
            "a user's nested block stays, and the lines after our key do not join it",
            format!("[dev]\ns3 =\n  max = 20\n{b1}"),
            vec![("dev", 1)],
            "[dev]\ns3 =\n  max = 20\n".into(),
        ),
        (
            "the header stays when the next header would continue the key above",
            "[a]\nk = v\n[dev]\n  aws_access_key_id = ASIA1\n  [b]\n".into(),
            vec![("dev", 1)],
            "[a]\nk = v\n[dev]\n  [b]\n".into(),
        ),
        (
            "an indented next header that would not continue anything lets the header go",
            "[a]\n  k = v\n[dev]\n  aws_access_key_id = ASIA1\n  [b]\n".into(),
            vec![("dev", 1)],
            "[a]\n  k = v\n  [b]\n".into(),
        ),
    ];
    for (what, old, sections, want) in table {
        let got = take_back(&old, &sections);
        assert_eq!(got.refused, vec![], "{what}");
        assert_eq!(got.text, want, "{what}");
    }
}

/// Sections that hold something else than what ssofresh wrote, or that botocore cannot read,
/// are left byte for byte and reported; the other removals still happen.
#[test]
fn remove_refusals() {
    let b1 = block(1, "\n");
    let table: Vec<(&str, String, Refusal)> = vec![
        (
            "another access key id",
            "[dev]\naws_access_key_id = ASIAOTHER\naws_secret_access_key = s\naws_session_token = t\n".into(),
            Refusal::NotOurs,
        ),
        (
            "long-term keys of the user",
            "[dev]\naws_access_key_id = AKIAX\naws_secret_access_key = s\n".into(),
            Refusal::NotOurs,
        ),
        (
            "credential keys but no access key id",
            "[dev]\naws_session_token = t\n".into(),
            Refusal::NotOurs,
        ),
        (
            "our id and another one",
            format!("[dev]\n{b1}aws_access_key_id = ASIAOTHER\n"),
            Refusal::NotOurs,
        ),
        (
            "our id continued on another line is another value",
            "[dev]\naws_access_key_id = ASIA1\n  more\n".into(),
            Refusal::NotOurs,
        ),
        (
            "duplicate section",
            format!("[dev]\n{b1}[x]\n[dev]\n{b1}"),
            Refusal::DuplicateSection(vec![1, 7]),
        ),
        (
            "an owned key continued on indented lines",
            format!("[dev]\n{b1}aws_session_token = t\n\n  # c\n  more\n"),
            Refusal::MultiLineValue("aws_session_token"),
        ),
    ];
    let b2 = block(2, "\n");
    for (what, dev, refusal) in table {
        let old = format!("{dev}\n[fine]\n{b2}");
        let got = take_back(&old, &[("dev", 1), ("fine", 2)]);
        assert_eq!(got.refused, vec![("dev".to_owned(), refusal)], "{what}");
        assert_eq!(got.text, dev, "{what}: only the other section went");
    }
    let old = format!("[dev]\n{b1}");
    let got = take_back(&old, &[("dev", 1), ("dev", 1)]);
    assert_eq!(got.text, old);
    assert_eq!(
        got.refused,
        vec![
            ("dev".to_owned(), Refusal::TargetedTwice),
            ("dev".to_owned(), Refusal::TargetedTwice)
        ]
    );
    let got = take_back("[DEFAULT]\naws_access_key_id = ASIA1\n", &[("DEFAULT", 1)]);
    assert!(matches!(got.refused[..], [(_, Refusal::UnusableName(_))]));
    assert_eq!(got.text, "[DEFAULT]\naws_access_key_id = ASIA1\n");
}

/// `section_key_id` tells apart an absent, a duplicated and a present section, and reads the
/// key id as configparser does.
#[test]
fn section_key_id_table() {
    let holds = |id: Option<&str>| SectionState::Holds {
        access_key_id: id.map(str::to_owned),
    };
    let table: Vec<(&str, &str, SectionState)> = vec![
        ("", "dev", SectionState::Absent),
        (
            "[ dev ]\naws_access_key_id = A\n",
            "dev",
            SectionState::Absent,
        ),
        ("[dev]\n[dev]\n", "dev", SectionState::Duplicate),
        ("[dev]\nregion = r\n", "dev", holds(None)),
        ("[dev]\n", "dev", holds(None)),
        (
            "[dev]\nAWS_ACCESS_KEY_ID: ASIA1 \n",
            "dev",
            holds(Some("ASIA1")),
        ),
        ("[a]\naws_access_key_id = X\n[dev]\n", "dev", holds(None)),
        (
            "[DEFAULT]\naws_access_key_id = X\n[dev]\n",
            "dev",
            holds(None),
        ),
        (
            "[dev]\naws_access_key_id = A\naws_access_key_id = B\n",
            "dev",
            holds(Some("A")),
        ),
        (
            "[dev]\naws_access_key_id = A\n  b\n\n  # c\n  d\n\nk = v\n",
            "dev",
            holds(Some("A\nb\n\nd")),
        ),
        ("[dev]\r\naws_access_key_id =\r\n", "dev", holds(Some(""))),
    ];
    for (text, section, want) in table {
        assert_eq!(section_key_id(text, section), want, "{text:?}");
    }
}

/// Writing then removing gives back the original text for every generated file without the
/// written sections (up to blank lines at its end, where apply's separator is ambiguous); for
/// every file, settings that are not ours read the same as before the write, the lines
/// outside the written sections survive, and a second removal changes nothing.
#[test]
fn apply_then_remove_over_many_inputs() {
    let pieces = [
        "[dev]",
        "[ dev ]",
        "[other]",
        "[default]",
        "  [other]",
        "  [dev]",
        "# c",
        "; c",
        "",
        "  ",
        "k = v",
        "k: v2",
        "aws_session_token = t",
        "aws_access_key_id = a",
        "aws_access_key_id = AKIAX",
        "  cont",
        "  region = r",
        "  aws_session_token = t2",
        "junk",
        "region = r",
        "\taws_security_token = tab",
    ];
    let mut seed: u64 = 0x0123_4567_89ab_cdef;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut exact, mut written) = (0, 0);
    for _ in 0..5000 {
        let eol = ["\n", "\r\n", "\r"][(next() % 3) as usize];
        let mut text = String::new();
        for _ in 0..next() % 10 {
            text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
            text.push_str(if next().is_multiple_of(7) { "\n" } else { eol });
        }
        if next().is_multiple_of(3) {
            text.pop();
        }
        let first = edit(&text, &[("dev", 1), ("default", 2)]);
        let written_sections: Vec<&str> = ["dev", "default"]
            .into_iter()
            .filter(|s| !first.refused.iter().any(|(r, _)| r == s))
            .collect();
        let back = take_back(&first.text, &[("dev", 1), ("default", 2)]);
        if !written_sections.is_empty() {
            written += 1;
        }
        for section in &written_sections {
            assert!(
                !back.refused.iter().any(|(s, _)| s == section),
                "what was written can be removed: {text:?} -> {:?}",
                first.text
            );
            assert!(
                matches!(
                    section_key_id(&back.text, section),
                    SectionState::Absent
                        | SectionState::Holds {
                            access_key_id: None
                        }
                ),
                "no key id left in [{section}]: {:?}",
                back.text
            );
        }
        let absent = ["dev", "default"]
            .iter()
            .all(|s| section_key_id(&text, s) == SectionState::Absent);
        if absent && first.refused.is_empty() {
            let ends_blank = ini::lex(&text)
                .last()
                .is_some_and(|l| l.kind == Kind::Blank);
            // A last line ending in a lone CR in a file of LF lines: apply's LF separator
            // joins it into a CRLF ending, which is all that is left of it afterwards.
            let cr_then_lf = text.ends_with('\r') && ini::dominant_eol(&ini::lex(&text)) == "\n";
            if ends_blank {
                let trim = |t: &str| t.trim_end_matches(ini::py_space).to_owned();
                assert_eq!(trim(&back.text), trim(&text), "round trip of {text:?}");
            } else if cr_then_lf {
                assert_eq!(back.text, format!("{text}\n"), "round trip of {text:?}");
            } else {
                exact += 1;
                assert_eq!(back.text, text, "round trip of {text:?}");
            }
        }
        assert_eq!(
            foreign_settings(&back.text, &written_sections),
            foreign_settings(&text, &written_sections),
            "settings that are not ours changed: {text:?} -> {:?}",
            back.text
        );
        let out = ini::lex(&back.text);
        let mut out = out.iter().map(|l| l.text);
        for line in kept_lines(&text, &written_sections) {
            if py_blank(line) {
                continue;
            }
            assert!(
                out.any(|l| l == line),
                "{line:?} lost from {text:?} -> {:?}",
                back.text
            );
        }
        assert_eq!(
            take_back(&back.text, &[("dev", 1), ("default", 2)]).text,
            back.text,
            "a second removal changes nothing: {:?}",
            back.text
        );
    }
    assert!(exact > 500, "the generator exercised round trips: {exact}");
    assert!(written > 1000, "the generator exercised writes: {written}");
}

fn py_blank(line: &str) -> bool {
    ini::py_trim(line).is_empty()
}

/// `remove` on generated files holding our key id, another id or none: settings that are not
/// ours read the same afterwards in every section, ours go only from the sections not
/// refused, and the lines outside those sections survive.
#[test]
fn remove_over_many_inputs() {
    let pieces = [
        "[dev]\naws_access_key_id = ASIA1\naws_session_token = t",
        "[dev]\nregion = r\naws_access_key_id = ASIA1",
        "[dev]",
        "[other]",
        "  [dev]",
        "[dev ]",
        "# c",
        "",
        "k = v",
        "aws_access_key_id = ASIA1",
        "aws_access_key_id = ASIA9",
        "  aws_access_key_id = ASIA1",
        "aws_session_token = t",
        "aws_security_token = t",
        "x_security_token_expires = e",
        "  cont",
        "region = r",
        "junk",
    ];
    let mut seed: u64 = 0x5851_f42d_4c95_7f2d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut removed = 0;
    for _ in 0..5000 {
        let eol = ["\n", "\r\n"][(next() % 2) as usize];
        let mut text = String::new();
        for _ in 0..next() % 10 {
            let piece = pieces[(next() % pieces.len() as u64) as usize];
            text.push_str(&piece.replace('\n', eol));
            text.push_str(eol);
        }
        let got = take_back(&text, &[("dev", 1)]);
        let touched: Vec<&str> = if got.refused.is_empty() {
            vec!["dev"]
        } else {
            assert_eq!(got.text, text, "a refusal leaves the file alone");
            vec![]
        };
        if got.text != text {
            removed += 1;
        }
        assert_eq!(
            foreign_settings(&got.text, &touched),
            foreign_settings(&text, &touched),
            "{text:?} -> {:?}",
            got.text
        );
        let out = ini::lex(&got.text);
        let mut out = out.iter().map(|l| l.text);
        for line in kept_lines(&text, &touched) {
            if !py_blank(line) {
                assert!(out.any(|l| l == line), "{line:?} lost: {text:?}");
            }
        }
    }
    assert!(removed > 500, "the generator exercised removals: {removed}");
}

/// Regression (review 5): a comment the user added (with a new section) after ssofresh's last
/// section introduces that new section: a logout removes `[dev]` whole, the comment stays.
#[test]
fn review5_logout_leaves_empty_header_before_user_comment() {
    let c = creds(1);
    let put = apply(
        "[a]\nx = 1\n",
        &[Update {
            section: "dev",
            credentials: &c,
            region: None,
        }],
    );
    let edited = format!(
        "{}\n# added by hand later\n[tail]\nregion = eu-west-1\n",
        put.text
    );
    let back = remove(
        &edited,
        &[Removal {
            section: "dev",
            access_key_id: "ASIA1",
        }],
    );
    assert_eq!(
        back.text,
        "[a]\nx = 1\n\n# added by hand later\n[tail]\nregion = eu-west-1\n"
    );
}

/// Regression (review 6): the header of an emptied section stays when the next header is indented deeper
/// than the key above it (it would continue that key) — also when a comment block introduces
/// the next header. Without it, `[b]` becomes part of `k`'s value and botocore loses `[b]`.
#[test]
fn review6_comment_before_an_indented_header_lets_it_fall_into_a_value() {
    let old = "[a]\nk = v\n[dev]\n  aws_access_key_id = ASIA1\n\n# team b\n  [b]\n  region = x\n";
    let got = remove(
        old,
        &[Removal {
            section: "dev",
            access_key_id: "ASIA1",
        }],
    );
    let sections = |t: &str| -> Vec<String> {
        crate::files::ini::lex(t)
            .iter()
            .filter_map(|l| match l.kind {
                crate::files::ini::Kind::Section(n) => Some(n.to_owned()),
                _ => None,
            })
            .collect()
    };
    assert!(
        sections(&got.text).contains(&"b".to_owned()),
        "[b] is no longer a section: {:?}",
        got.text
    );
}

/// `session_key_id` finds the key id only in a section holding session credentials as
/// ssofresh writes them; long-term keys, keys pasted by hand (no expiry key), an empty token
/// and duplicated sections give none.
#[test]
fn session_key_id_only_for_written_sessions() {
    let written = "[dev]\naws_access_key_id = ASIA1\naws_secret_access_key = s\n\
                   aws_session_token = t\nx_security_token_expires = 2026-01-01T00:00:00Z\n";
    assert_eq!(session_key_id(written, "dev").as_deref(), Some("ASIA1"));
    assert_eq!(session_key_id(written, "prod"), None);
    let cases = [
        written.replace("ASIA1", "AKIA1"),
        written.replace("x_security_token_expires", "x_other"),
        written.replace("aws_session_token = t", "aws_session_token ="),
        format!("{written}{written}"),
    ];
    for text in cases {
        assert_eq!(session_key_id(&text, "dev"), None, "{text}");
    }
}

/// `section_expiry` reads the expiry ssofresh wrote in one section, and nothing from an absent,
/// duplicated or unreadable one.
#[test]
fn section_expiry_table() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T04:04:20Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let text = "[dev]\naws_access_key_id = A\nx_security_token_expires = 2026-11-24T04:04:20Z\n\
                [dup]\nx_security_token_expires = 2026-11-24T04:04:20Z\n[dup]\n[bad]\n\
                x_security_token_expires = soon\n";
    assert_eq!(section_expiry(text, "dev"), Some(at));
    for section in ["dup", "bad", "absent"] {
        assert_eq!(section_expiry(text, section), None, "{section}");
    }
}
