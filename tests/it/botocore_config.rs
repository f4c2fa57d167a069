//! Parity with real botocore: every fixture in `tests/fixtures/config/` is read by botocore
//! (`tests/readers/botocore_config.py`) and by [`ssofresh::files::config`], and the two must agree.
//!
//! Needs Python with botocore: `SSOFRESH_TEST_PYTHON` (default `python3`). A missing botocore
//! fails the test rather than skipping it, so parity is never silently unchecked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};
use ssofresh::files::config::{self, LoginId, RawSection, RawValue};

const PROFILE_KEYS: [&str; 7] = [
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "region",
    "ca_bundle",
];
const SESSION_KEYS: [&str; 2] = ["sso_start_url", "sso_region"];
const CREDENTIAL_KEYS: [&str; 4] = [
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
];

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ini"))
        .collect();
    files.sort();
    files
}

/// What botocore makes of one file (the reader's JSON).
fn botocore(path: &Path) -> Value {
    let python = std::env::var("SSOFRESH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/readers/botocore_config.py");
    let help = "this test compares our config reader with real botocore; run the project's test \
                script (it installs botocore), or `python3 -m pip install botocore`, or point \
                SSOFRESH_TEST_PYTHON at a Python that has botocore";
    let out = Command::new(&python)
        .arg(&reader)
        .arg(path)
        .env("PYTHONUTF8", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{python}`: {e}; {help}"));
    if !out.status.success() {
        panic!(
            "`{python} {}` failed ({}): {}; {help}",
            reader.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "botocore reader printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn json_value(value: &RawValue) -> Value {
    match value {
        RawValue::Text(t) => Value::String(t.clone()),
        RawValue::Nested(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    }
}

/// Our raw view in the reader's JSON shape, restricted to the same keys.
fn json_sections(sections: &BTreeMap<String, RawSection>, keys: &[&str]) -> Value {
    let mut out = Map::new();
    for (name, section) in sections {
        let picked: Map<String, Value> = section
            .values
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), json_value(v)))
            .collect();
        out.insert(name.clone(), Value::Object(picked));
    }
    Value::Object(out)
}

/// Checks one fixture; returns what disagrees.
fn compare(path: &Path) -> Vec<String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let bytes = std::fs::read(path).expect("fixture is readable");
    let text = String::from_utf8(bytes).expect("fixture is UTF-8");
    let theirs = botocore(path);
    let mut wrong = Vec::new();

    let view = match (config::raw_view(&text), theirs.get("error")) {
        (Err(_), Some(_)) => return wrong,
        (Err(e), None) => {
            wrong.push(format!(
                "{name}: we refuse the file ({e}), botocore reads it"
            ));
            return wrong;
        }
        (Ok(_), Some(error)) => {
            wrong.push(format!(
                "{name}: botocore refuses the file ({error}), we read it"
            ));
            return wrong;
        }
        (Ok(view), None) => view,
    };
    for (field, ours) in [
        ("profiles", json_sections(&view.profiles, &PROFILE_KEYS)),
        (
            "sso_sessions",
            json_sections(&view.sso_sessions, &SESSION_KEYS),
        ),
    ] {
        if theirs[field] != ours {
            wrong.push(format!(
                "{name}: {field} differ\n  botocore: {}\n  ours:     {ours}",
                theirs[field]
            ));
        }
    }

    // Classification: what parse() decides against what botocore's SSO provider does.
    let parsed = config::parse(&text).expect("raw_view succeeded, so parse must");
    for (profile, section) in &view.profiles {
        let verdict = &theirs["sso"][profile];
        let status = verdict["status"].as_str().unwrap_or("?");
        let usable = parsed.sso.iter().find(|p| &p.name == profile);
        let problem = parsed.problems.iter().find(|p| &p.profile == profile);
        match (usable, problem) {
            (Some(p), None) => {
                let config = &verdict["config"];
                let session = match &p.login {
                    LoginId::Session(s) => Value::String(s.clone()),
                    LoginId::StartUrl(_) | LoginId::Console(_) => Value::Null,
                };
                let same = status == "ok"
                    && config["sso_start_url"] == p.start_url.as_str()
                    && config["sso_region"] == p.sso_region.as_str()
                    && config["sso_account_id"] == p.account_id.as_str()
                    && config["sso_role_name"] == p.role_name.as_str()
                    && config["sso_session"] == session
                    && p.login.cache_key()
                        == config["sso_session"]
                            .as_str()
                            .unwrap_or(p.start_url.as_str());
                if !same {
                    wrong.push(format!(
                        "{name}: profile {profile:?} is usable for us ({p:?}), botocore says {verdict}"
                    ));
                }
            }
            (None, Some(problem)) => {
                // botocore only checks that keys are present, so it accepts empty or
                // multi-line values that can never work; we report those.
                let unusable_value = |values: &BTreeMap<String, RawValue>| {
                    CREDENTIAL_KEYS.iter().any(|k| match values.get(*k) {
                        Some(RawValue::Text(t)) => t.is_empty() || t.contains('\n'),
                        Some(RawValue::Nested(_)) => true,
                        None => false,
                    })
                };
                let session_values = section
                    .values
                    .get("sso_session")
                    .and_then(|s| match s {
                        RawValue::Text(t) => view.sso_sessions.get(t),
                        RawValue::Nested(_) => None,
                    })
                    .map(|s| &s.values);
                let agrees = match status {
                    "error" => true,
                    "ok" => {
                        unusable_value(&section.values)
                            || session_values.is_some_and(unusable_value)
                    }
                    "none" => false,
                    _ => false,
                };
                if !agrees {
                    wrong.push(format!(
                        "{name}: profile {profile:?} has a problem for us ({}), botocore says {verdict}",
                        problem.message
                    ));
                }
            }
            (None, None) => {
                if status != "none" {
                    wrong.push(format!(
                        "{name}: we ignore profile {profile:?}, botocore says {verdict}"
                    ));
                }
            }
            (Some(_), Some(_)) => wrong.push(format!("{name}: profile {profile:?} listed twice")),
        }
    }
    wrong
}

/// Each fixture reads the same in botocore and in ours: refused by both, or the same
/// profiles and sso-sessions with the same raw values, and the same verdict per profile.
#[test]
fn fixtures_agree_with_botocore() {
    let files = fixtures();
    assert!(files.len() >= 12, "expected at least 12 fixtures");
    let wrong: Vec<String> = files.iter().flat_map(|f| compare(f)).collect();
    assert!(
        wrong.is_empty(),
        "{} disagreement(s) with botocore:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
