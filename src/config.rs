//! Reading `~/.aws/config`: which profiles are SSO profiles, and which login each one uses.
//!
//! The file is read exactly as botocore reads it (see [`crate::ini`]) and never written.
//! A profile that is wrong is reported by name with what to fix, and the others still run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::ini::{self, Kind};

/// The login (cached SSO token) a profile draws on. Its [`cache_key`](Self::cache_key) names
/// the token file: `~/.aws/sso/cache/<sha1(cache_key)>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoginId {
    /// `sso_session = NAME` profiles share the `[sso-session NAME]` login.
    Session(String),
    /// Legacy profiles: the login is keyed by the exact `sso_start_url` string.
    StartUrl(String),
}

impl LoginId {
    /// The string whose SHA-1 names the token file, as the AWS CLI computes it.
    pub fn cache_key(&self) -> &str {
        match self {
            LoginId::Session(name) => name,
            LoginId::StartUrl(url) => url,
        }
    }

    /// The command that renews this login, e.g. `aws sso login --sso-session corp`.
    /// A legacy login is renewed through one of its profiles.
    pub fn login_command(&self, profile: &str) -> String {
        match self {
            LoginId::Session(name) => format!("aws sso login --sso-session {}", shell_word(name)),
            LoginId::StartUrl(_) => format!("aws sso login --profile {}", shell_word(profile)),
        }
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginId::Session(name) => write!(f, "sso-session {name}"),
            LoginId::StartUrl(url) => write!(f, "start URL {url}"),
        }
    }
}

/// Quotes a word for a shell command line when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// An SSO profile that can be turned into role credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoProfile {
    /// The profile's name (`dev` for `[profile dev]`, `default` for `[default]`).
    pub name: String,
    /// The login it uses.
    pub login: LoginId,
    /// `sso_start_url` (from the profile, or from its `[sso-session]`).
    pub start_url: String,
    /// `sso_region`: where the portal and OIDC endpoints are.
    pub sso_region: String,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// The profile's own `region`, written to the credentials file only when asked.
    pub region: Option<String>,
    /// The profile's `ca_bundle`, a PEM file of extra certificate authorities.
    pub ca_bundle: Option<String>,
}

/// A profile that looks like an SSO profile but cannot be used; skipped, the others still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProblem {
    /// The profile's name.
    pub profile: String,
    /// What is wrong and what to do, as one sentence for the user.
    pub message: String,
}

/// The file as a whole cannot be read the way botocore reads it (botocore refuses it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// Everything ssofresh takes from the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    /// Usable SSO profiles, in file order.
    pub sso: Vec<SsoProfile>,
    /// SSO profiles that cannot be used, with the reason.
    pub problems: Vec<ProfileProblem>,
}

/// Reads the text of a config file.
///
/// The file is refused as a whole ([`ParseError`]) exactly when botocore refuses it; otherwise
/// every profile that looks like an SSO profile ends up in [`Profiles::sso`] or
/// [`Profiles::problems`], and the rest are ignored.
pub fn parse(text: &str) -> Result<Profiles, ParseError> {
    let view = raw_view(text)?;
    let mut order: Vec<(&String, &RawSection)> = view.profiles.iter().collect();
    order.sort_by_key(|(_, section)| section.line);
    let mut out = Profiles::default();
    for (name, section) in order {
        match classify(name, section, &view.sso_sessions) {
            None => {}
            Some(Ok(profile)) => out.sso.push(profile),
            Some(Err(message)) => out.problems.push(ProfileProblem {
                profile: name.clone(),
                message,
            }),
        }
    }
    Ok(out)
}

/// A value as botocore hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawValue {
    /// A plain value: the raw text, trimmed; continuation lines are joined with `\n`.
    Text(String),
    /// An indented block under an empty value (`s3 =` then `  key = value` lines), which
    /// botocore turns into a dictionary (keys not lowercased).
    Nested(BTreeMap<String, String>),
}

/// One `[profile …]`, `[default]` or `[sso-session …]` section as botocore sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSection {
    /// The header text between the brackets, e.g. `profile dev`.
    pub header: String,
    /// The 1-based line of that header.
    pub line: usize,
    /// Every setting, `[DEFAULT]` settings included, keys lowercased.
    pub values: BTreeMap<String, RawValue>,
}

/// What botocore's `load_config` gives: profiles and sso-sessions by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawView {
    /// `profiles` (for a name given twice, the section that comes later in the file).
    pub profiles: BTreeMap<String, RawSection>,
    /// `sso_sessions` (likewise).
    pub sso_sessions: BTreeMap<String, RawSection>,
}

/// One option while the file is read: the line it starts on and its pieces.
struct Opt<'a> {
    key: String,
    line: usize,
    parts: Vec<&'a str>,
}

/// One section while the file is read.
struct Sect<'a> {
    header: &'a str,
    line: usize,
    opts: Vec<Opt<'a>>,
}

impl<'a> Sect<'a> {
    /// configparser's joined value for each option: pieces joined by newlines, right-trimmed.
    fn joined(&self) -> impl Iterator<Item = (&str, usize, String)> + '_ {
        self.opts.iter().map(|o| {
            let value = o.parts.join("\n");
            let value = value.trim_end_matches(ini::py_space).to_owned();
            (o.key.as_str(), o.line, value)
        })
    }
}

const REFUSED: &str = "the AWS CLI refuses such a file too";

/// Reads the file as botocore's `load_config` does (`RawConfigParser`, then
/// `build_profile_map`): the profiles and sso-sessions with all their raw settings.
pub fn raw_view(text: &str) -> Result<RawView, ParseError> {
    let mut defaults = Sect {
        header: "DEFAULT",
        line: 0,
        opts: Vec::new(),
    };
    let mut sections: Vec<Sect<'_>> = Vec::new();
    let mut first_line_of: HashMap<&str, usize> = HashMap::new();
    // The section being read: None for [DEFAULT], Some(index) for the others.
    let mut current: Option<Option<usize>> = None;
    // Whether the last option of the current section can still take more lines.
    let mut open_option = false;

    for line in ini::lex(text) {
        let error = |message: String| ParseError {
            line: line.number,
            message,
        };
        match line.kind {
            Kind::Comment => {}
            Kind::Blank | Kind::Continuation(_) => {
                if !open_option {
                    continue;
                }
                let sect = match current {
                    Some(Some(i)) => &mut sections[i],
                    Some(None) => &mut defaults,
                    None => continue,
                };
                if let Some(opt) = sect.opts.last_mut() {
                    opt.parts.push(match line.kind {
                        Kind::Continuation(v) => v,
                        _ => "",
                    });
                }
            }
            Kind::Section(name) => {
                open_option = false;
                if name == "DEFAULT" {
                    current = Some(None);
                } else if let Some(first) = first_line_of.get(name) {
                    return Err(error(format!(
                        "the section [{name}] appears twice (first at line {first}); {REFUSED}"
                    )));
                } else {
                    first_line_of.insert(name, line.number);
                    sections.push(Sect {
                        header: name,
                        line: line.number,
                        opts: Vec::new(),
                    });
                    current = Some(Some(sections.len() - 1));
                }
            }
            Kind::Key { key, value } => {
                let sect = match current {
                    Some(Some(i)) => &mut sections[i],
                    Some(None) => &mut defaults,
                    None => {
                        return Err(error(format!(
                            "a setting before any [section] header; {REFUSED}"
                        )));
                    }
                };
                if let Some(first) = sect.opts.iter().find(|o| o.key == key) {
                    return Err(error(format!(
                        "the setting {key} appears twice in [{}] (first at line {}); {REFUSED}",
                        sect.header, first.line
                    )));
                }
                sect.opts.push(Opt {
                    key,
                    line: line.number,
                    parts: vec![value],
                });
                open_option = true;
            }
            Kind::Invalid(what) => return Err(error(format!("{what}; {REFUSED}"))),
        }
    }

    let default_values: Vec<(&str, usize, String)> = defaults.joined().collect();
    let mut view = RawView::default();
    for sect in &sections {
        let mut values = BTreeMap::new();
        for (key, line, value) in default_values.iter().cloned().chain(sect.joined()) {
            let value = if value.starts_with('\n') {
                RawValue::Nested(nested(&value).ok_or_else(|| ParseError {
                    line,
                    message: format!(
                        "the indented lines under `{key}` must each be `name = value`; {REFUSED}"
                    ),
                })?)
            } else {
                RawValue::Text(value)
            };
            values.insert(key.to_owned(), value);
        }
        let raw = RawSection {
            header: sect.header.to_owned(),
            line: sect.line,
            values,
        };
        let header = sect.header;
        if header.starts_with("profile") {
            if let Some(name) = second_word(header) {
                view.profiles.insert(name, raw);
            }
        } else if header.starts_with("sso-session") {
            if let Some(name) = second_word(header) {
                view.sso_sessions.insert(name, raw);
            }
        } else if header == "default" {
            view.profiles.insert("default".to_owned(), raw);
        }
    }
    Ok(view)
}

/// botocore's `_parse_nested`: each non-blank line of the block is `key = value`.
fn nested(value: &str) -> Option<BTreeMap<String, String>> {
    // Python's str.splitlines() line boundaries.
    let breaks = |c: char| {
        matches!(
            c,
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}'
        ) || c == '\u{2028}'
            || c == '\u{2029}'
    };
    let mut out = BTreeMap::new();
    for line in value.split(breaks) {
        let line = ini::py_trim(line);
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=')?;
        out.insert(ini::py_trim(key).to_owned(), ini::py_trim(value).to_owned());
    }
    Some(out)
}

/// botocore's `_parse_section`: the header split like `shlex.split`; the second word when
/// there are exactly two.
fn second_word(header: &str) -> Option<String> {
    let mut words = shlex_split(header)?;
    (words.len() == 2).then(|| words.swap_remove(1))
}

/// Python's `shlex.split(s)` (POSIX mode, no comments); `None` where it raises `ValueError`.
fn shlex_split(s: &str) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Space,
        Word,
        Quote(char),
        Escape,
        End,
    }
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut chars = s.chars();
    let mut state = State::Space;
    let mut words = Vec::new();
    loop {
        let mut token = String::new();
        let mut quoted = false;
        // Where an escape returns to: a word, or the double quote it was found in.
        let mut back = State::Word;
        loop {
            let next = chars.next();
            match state {
                State::End => break,
                State::Space | State::Word => match next {
                    None => {
                        state = State::End;
                        break;
                    }
                    Some(c) if is_space(c) => {
                        state = State::Space;
                        if !token.is_empty() || quoted {
                            break;
                        }
                    }
                    Some(c @ ('"' | '\'')) => state = State::Quote(c),
                    Some('\\') => {
                        back = State::Word;
                        state = State::Escape;
                    }
                    Some(c) => {
                        token.push(c);
                        state = State::Word;
                    }
                },
                State::Quote(q) => {
                    quoted = true;
                    match next {
                        None => return None, // "No closing quotation"
                        Some(c) if c == q => state = State::Word,
                        Some('\\') if q == '"' => {
                            back = state;
                            state = State::Escape;
                        }
                        Some(c) => token.push(c),
                    }
                }
                State::Escape => {
                    let c = next?; // "No escaped character"
                    if let State::Quote(q) = back
                        && c != '\\'
                        && c != q
                    {
                        token.push('\\');
                    }
                    token.push(c);
                    state = back;
                }
            }
        }
        if token.is_empty() && !quoted {
            return Some(words);
        }
        words.push(token);
    }
}

/// A setting's value, as far as an SSO profile cares.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field<'a> {
    Missing,
    Empty,
    /// Spans lines (continuation lines or an indented block): never a valid SSO value.
    Block,
    Text(&'a str),
}

fn field<'a>(values: &'a BTreeMap<String, RawValue>, key: &str) -> Field<'a> {
    match values.get(key) {
        None => Field::Missing,
        Some(RawValue::Nested(_)) => Field::Block,
        Some(RawValue::Text(t)) if t.is_empty() => Field::Empty,
        Some(RawValue::Text(t)) if t.contains('\n') => Field::Block,
        Some(RawValue::Text(t)) => Field::Text(t),
    }
}

/// Collects what is wrong with a set of settings, one clause per kind of fault.
fn faults<'a>(
    values: &'a BTreeMap<String, RawValue>,
    keys: &[&'static str],
    found: &mut BTreeMap<&'static str, &'a str>,
    missing: &mut Vec<String>,
    other: &mut Vec<String>,
    place: &str,
) {
    for &key in keys {
        match field(values, key) {
            Field::Text(t) => {
                found.insert(key, t);
            }
            Field::Missing => missing.push(key.to_owned()),
            Field::Empty => other.push(format!("{key} is empty in {place}")),
            Field::Block => other.push(format!(
                "{key} in {place} spans several lines (the indented lines below it belong to it); put the value on one line"
            )),
        }
    }
}

/// Decides what a profile is: `None` when it is not an SSO profile for credentials (or a
/// token-only `sso_session` profile), else the usable profile or what is wrong with it.
fn classify(
    name: &str,
    section: &RawSection,
    sessions: &BTreeMap<String, RawSection>,
) -> Option<Result<SsoProfile, String>> {
    let values = &section.values;
    let has = |key: &str| values.contains_key(key);
    if !["sso_session", "sso_start_url", "sso_account_id", "sso_role_name"]
        .iter()
        .any(|k| has(k))
    {
        return None;
    }
    let place = format!("[{}]", section.header);
    let mut found: BTreeMap<&'static str, &str> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut other = Vec::new();
    let login;
    if has("sso_session") {
        if !has("sso_account_id") && !has("sso_role_name") {
            return None; // token-only: used by `aws sso login --sso-session`
        }
        match field(values, "sso_session") {
            Field::Text(session_name) => {
                login = LoginId::Session(session_name.to_owned());
                match sessions.get(session_name) {
                    None => other.push(format!(
                        "sso_session names [sso-session {session_name}], which is not in the config file; add that section or correct the name"
                    )),
                    Some(session) => {
                        // botocore: every setting both sections give must be equal.
                        for (key, value) in &session.values {
                            if let Some(own) = values.get(key)
                                && own != value
                            {
                                other.push(format!(
                                    "{key} differs between profile {name} and sso-session {session_name}; remove it from {place} or make the two equal"
                                ));
                            }
                        }
                        let there = format!("[{}]", session.header);
                        let mut session_missing = Vec::new();
                        faults(
                            &session.values,
                            &["sso_start_url", "sso_region"],
                            &mut found,
                            &mut session_missing,
                            &mut other,
                            &there,
                        );
                        if !session_missing.is_empty() {
                            other.push(format!(
                                "{there} lacks {}; add it there or run `aws configure sso-session`",
                                session_missing.join(" and ")
                            ));
                        }
                    }
                }
            }
            _ => {
                return Some(Err(format!(
                    "sso_session in {place} is empty or spans several lines; set it to the name of an [sso-session] section"
                )));
            }
        }
        faults(
            values,
            &["sso_account_id", "sso_role_name"],
            &mut found,
            &mut missing,
            &mut other,
            &place,
        );
    } else {
        faults(
            values,
            &["sso_start_url", "sso_region", "sso_account_id", "sso_role_name"],
            &mut found,
            &mut missing,
            &mut other,
            &place,
        );
        login = LoginId::StartUrl(
            found
                .get("sso_start_url")
                .copied()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let mut clauses = Vec::new();
    if !missing.is_empty() {
        clauses.push(format!(
            "missing {}; add {} to {place} in ~/.aws/config or run `aws configure sso`",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    clauses.extend(other);
    if !clauses.is_empty() {
        return Some(Err(clauses.join("; ")));
    }
    let get = |key: &str| found.get(key).copied().unwrap_or_default().to_owned();
    let optional = |key: &str| match field(values, key) {
        Field::Text(t) => Some(t.to_owned()),
        _ => None,
    };
    Some(Ok(SsoProfile {
        name: name.to_owned(),
        login,
        start_url: get("sso_start_url"),
        sso_region: get("sso_region"),
        account_id: get("sso_account_id"),
        role_name: get("sso_role_name"),
        region: optional("region"),
        ca_bundle: optional("ca_bundle"),
    }))
}
