//! botocore judges the credentials editor on many generated files: whatever the input, what
//! botocore reads afterwards is what it read before, except the owned keys of the sections
//! written, which now hold the new credentials; and once those are removed again, botocore
//! reads every other profile exactly as before.

use std::fs;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use serde_json::json;
use ssofresh::files::credfile::{self, Removal, RoleCredentials, SectionState, Update};
use ssofresh::secret::Secret;

use crate::common::botocore_raw_each;

/// Pieces a hand-edited credentials file is made of, the awkward ones included.
const PIECES: &[&str] = &[
    "[dev]",
    "[default]",
    "[other]",
    "  [other]",
    "  [dev]",
    "[ dev ]",
    "# comment",
    "  ; indented comment",
    "",
    "   ",
    "k = v",
    "k: v = w",
    "K = ; not a comment",
    "aws_session_token = t",
    "aws_session_token =",
    "  aws_session_token = indented",
    "aws_access_key_id = ASIAX",
    "aws_access_key_id = AKIAX",
    "aws_secret_access_key = s/+=",
    "  region = eu-west-1",
    "\tregion = tab",
    "x_security_token_expires = old",
    "s3 =",
    "  max_concurrent_requests = 20",
    "\u{1c}output = json",
];

/// Role credentials numbered `n`, as the portal would hand them out.
fn new_creds(n: u32) -> RoleCredentials {
    RoleCredentials {
        access_key_id: format!("ASIANEW{n}"),
        secret_access_key: Secret::new(format!("new-secret-{n}")),
        session_token: Secret::new(format!("new-token-{n}")),
        expiration: Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, n)
            .single()
            .expect("date"),
    }
}

/// 2,000 generated files: each is edited to write `dev` and `default`, and botocore's view of
/// the result must be its view of the input with exactly the owned keys of the written
/// sections replaced.
#[test]
fn botocore_view_changes_only_in_owned_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c1, c2) = (new_creds(1), new_creds(2));
    let updates = [
        Update {
            section: "dev",
            credentials: &c1,
            region: None,
        },
        Update {
            section: "default",
            credentials: &c2,
            region: None,
        },
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut cases = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for i in 0..2000 {
        let eol = ["\n", "\r\n", "\n", "\r"][(next() % 4) as usize];
        let mut text = String::new();
        for _ in 0..next() % 12 {
            text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            text.push_str(eol);
        }
        if next().is_multiple_of(4) {
            text.pop();
        }
        let edit = credfile::apply(&text, &updates);
        let (before, after) = (
            dir.path().join(format!("{i}.before")),
            dir.path().join(format!("{i}.after")),
        );
        fs::write(&before, &text).expect("write");
        fs::write(&after, &edit.text).expect("write");
        paths.extend([before, after]);
        cases.push((text, edit));
    }
    let views = botocore_raw_each(&paths);
    let mut compared = 0;
    for ((text, edit), pair) in cases.iter().zip(views.chunks(2)) {
        let (before, after) = (&pair[0], &pair[1]);
        if before.get("error").is_some() {
            // Unreadable already (a section or key twice): nothing to compare with. The
            // edit may even cure it, by collapsing a duplicated owned key.
            continue;
        }
        let mut expected = before.clone();
        for (section, c) in [("dev", &c1), ("default", &c2)] {
            if edit.refused.iter().any(|(s, _)| s == section) {
                continue;
            }
            let entry = expected
                .as_object_mut()
                .expect("sections")
                .entry(section)
                .or_insert_with(|| json!({}));
            let keys = entry.as_object_mut().expect("keys");
            keys.insert("aws_access_key_id".into(), json!(c.access_key_id));
            keys.insert(
                "aws_secret_access_key".into(),
                json!(c.secret_access_key.expose()),
            );
            keys.insert("aws_session_token".into(), json!(c.session_token.expose()));
            keys.insert(
                "x_security_token_expires".into(),
                json!(c.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            );
        }
        assert_eq!(
            *after, expected,
            "botocore's view changed beyond the owned keys:\n{text:?}\n->\n{:?}",
            edit.text
        );
        compared += 1;
    }
    assert!(
        compared > 200,
        "enough files botocore reads were compared: {compared}"
    );
}

/// 1,000 generated files are written to (`dev`, and `default` with its region) and then have
/// those credentials removed: botocore's view of the result is its view of the input without
/// the keys ssofresh owns in the sections it wrote (a section it created is gone, the region
/// it wrote stays), and every other profile reads exactly as it did.
#[test]
fn botocore_view_after_remove_is_the_original_minus_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c1, c2) = (new_creds(1), new_creds(2));
    let updates = [
        Update {
            section: "dev",
            credentials: &c1,
            region: None,
        },
        Update {
            section: "default",
            credentials: &c2,
            region: Some("eu-west-1"),
        },
    ];
    let removals = [
        Removal {
            section: "dev",
            access_key_id: &c1.access_key_id,
        },
        Removal {
            section: "default",
            access_key_id: &c2.access_key_id,
        },
    ];
    let mut seed: u64 = 0x9e6c_63d0_676a_9a99;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut cases = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    for i in 0..1000 {
        let eol = ["\n", "\r\n", "\n", "\r"][(next() % 4) as usize];
        let mut text = String::new();
        for _ in 0..next() % 12 {
            text.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
            text.push_str(eol);
        }
        if next().is_multiple_of(4) {
            text.pop();
        }
        let written = credfile::apply(&text, &updates);
        let removed = credfile::remove(&written.text, &removals);
        let (before, after) = (
            dir.path().join(format!("{i}.before")),
            dir.path().join(format!("{i}.after")),
        );
        fs::write(&before, &text).expect("write");
        fs::write(&after, &removed.text).expect("write");
        paths.extend([before, after]);
        cases.push((text, written, removed));
    }
    let views = botocore_raw_each(&paths);
    let mut compared = 0;
    let mut others = 0;
    for ((text, written, removed), pair) in cases.iter().zip(views.chunks(2)) {
        let (before, after) = (&pair[0], &pair[1]);
        if before.get("error").is_some() {
            continue;
        }
        let mut expected = before.clone();
        let sections = expected.as_object_mut().expect("sections");
        for section in ["dev", "default"] {
            if written.refused.iter().any(|(s, _)| s == section) {
                continue;
            }
            assert!(
                !removed.refused.iter().any(|(s, _)| s == section),
                "what was written can be removed: {text:?}"
            );
            if credfile::section_key_id(&removed.text, section) == SectionState::Absent {
                sections.remove(section);
                continue;
            }
            let keys = sections
                .entry(section)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("keys");
            for key in credfile::OWNED_KEYS.iter().chain(&["aws_security_token"]) {
                keys.remove(*key);
            }
            if section == "default" {
                // The region written with the credentials is the user's setting: it stays.
                keys.insert("region".into(), json!("eu-west-1"));
            }
        }
        others += sections
            .keys()
            .filter(|s| !["dev", "default"].contains(&s.as_str()))
            .count();
        assert_eq!(
            *after, expected,
            "botocore's view after remove is not the original minus ours:\n{text:?}\n->\n{:?}\n->\n{:?}",
            written.text, removed.text
        );
        compared += 1;
    }
    assert!(
        compared > 200,
        "enough files botocore reads were compared: {compared}"
    );
    assert!(others > 50, "other profiles were compared: {others}");
}
