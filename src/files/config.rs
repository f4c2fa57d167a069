//! Reading `~/.aws/config`: which profiles are SSO profiles, and which login each one uses;
//! which are `aws login` (console session) profiles, and which session each one uses.
//!
//! The file is read exactly as botocore reads it (see [`crate::files::ini`]) and never written.
//! A profile that is wrong is reported by name with what to fix, and the others still run.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::files::ini::{self, Kind};

/// The login a profile draws on, of either kind. Its [`cache_key`](Self::cache_key) names the
/// file that holds it: an SSO token in `~/.aws/sso/cache/<sha1(cache_key)>.json`, an
/// `aws login` session in `~/.aws/login/cache/<sha256(cache_key)>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoginId {
    /// `sso_session = NAME` profiles share the `[sso-session NAME]` login.
    Session(String),
    /// Legacy profiles: the login is keyed by the exact `sso_start_url` string.
    StartUrl(String),
    /// `login_session = ARN` profiles (`aws login`) share the console session of that ARN.
    Console(String),
}

/// The two kinds of login: an IAM Identity Center token, turned into role credentials per
/// profile by the portal, or an `aws login` console session, which holds the credentials
/// itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    Sso,
    Console,
}

impl LoginKind {
    /// The name used in `status` output and its JSON.
    pub fn name(self) -> &'static str {
        match self {
            LoginKind::Sso => "sso",
            LoginKind::Console => "login",
        }
    }
}

impl LoginId {
    /// The string whose digest names the login's file, as the AWS CLI computes it.
    pub fn cache_key(&self) -> &str {
        match self {
            LoginId::Session(name) => name,
            LoginId::StartUrl(url) => url,
            LoginId::Console(arn) => arn,
        }
    }

    /// Which kind of login this is.
    pub fn kind(&self) -> LoginKind {
        match self {
            LoginId::Session(_) | LoginId::StartUrl(_) => LoginKind::Sso,
            LoginId::Console(_) => LoginKind::Console,
        }
    }

    /// The command that renews this login, e.g. `aws sso login --sso-session corp`.
    /// A legacy login and a console session are renewed through one of their profiles.
    pub fn login_command(&self, profile: &str) -> String {
        match self {
            LoginId::Session(name) => format!("aws sso login --sso-session {}", shell_word(name)),
            LoginId::StartUrl(_) => format!("aws sso login --profile {}", shell_word(profile)),
            LoginId::Console(_) => format!("aws login --profile {}", shell_word(profile)),
        }
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginId::Session(name) => write!(f, "sso-session {name}"),
            LoginId::StartUrl(url) => write!(f, "start URL {url}"),
            LoginId::Console(arn) => write!(f, "`aws login` session {arn}"),
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

/// An `aws login` profile: `login_session = <ARN>` names the console session whose cache file
/// (`<sha256(ARN)>.json` in the login cache) holds its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleProfile {
    /// The profile's name.
    pub name: String,
    /// `login_session`, as botocore hands it over (blanks around it already dropped).
    pub login_session: String,
    /// The profile's `region`: the Sign-In region unless the session or
    /// `AWS_DEFAULT_REGION` says otherwise, and written to the credentials file when asked.
    pub region: Option<String>,
    /// The profile's `ca_bundle`.
    pub ca_bundle: Option<String>,
}

impl ConsoleProfile {
    /// The session it draws on.
    pub fn login(&self) -> LoginId {
        LoginId::Console(self.login_session.clone())
    }
}

/// A profile ssofresh serves, of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// Role credentials from the SSO portal.
    Sso(SsoProfile),
    /// Credentials from an `aws login` session.
    Console(ConsoleProfile),
}

impl Profile {
    /// The profile's name.
    pub fn name(&self) -> &str {
        match self {
            Profile::Sso(p) => &p.name,
            Profile::Console(p) => &p.name,
        }
    }

    /// The login it draws on.
    pub fn login(&self) -> LoginId {
        match self {
            Profile::Sso(p) => p.login.clone(),
            Profile::Console(p) => p.login(),
        }
    }

    /// The profile's own `region`.
    pub fn region(&self) -> Option<&str> {
        match self {
            Profile::Sso(p) => p.region.as_deref(),
            Profile::Console(p) => p.region.as_deref(),
        }
    }

    /// The profile's `ca_bundle`.
    pub fn ca_bundle(&self) -> Option<&str> {
        match self {
            Profile::Sso(p) => p.ca_bundle.as_deref(),
            Profile::Console(p) => p.ca_bundle.as_deref(),
        }
    }

    /// The SSO profile, if it is one.
    pub fn sso(&self) -> Option<&SsoProfile> {
        match self {
            Profile::Sso(p) => Some(p),
            Profile::Console(_) => None,
        }
    }
}

/// The settings that make a profile an SSO profile; none may sit beside `login_session`.
const SSO_KEYS: [&str; 5] = [
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
];

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
    /// SSO and `aws login` profiles that cannot be used, with the reason.
    pub problems: Vec<ProfileProblem>,
    /// Usable `aws login` profiles, in file order.
    pub console: Vec<ConsoleProfile>,
}

impl Profiles {
    /// Every usable profile: the SSO ones in file order, then the `aws login` ones.
    pub fn usable(&self) -> Vec<Profile> {
        self.sso
            .iter()
            .cloned()
            .map(Profile::Sso)
            .chain(self.console.iter().cloned().map(Profile::Console))
            .collect()
    }

    /// True when the file has no profile ssofresh could serve, usable or not.
    pub fn is_empty(&self) -> bool {
        self.sso.is_empty() && self.console.is_empty() && self.problems.is_empty()
    }
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
        if section.values.contains_key("login_session") {
            match classify_console(name, section) {
                Ok(profile) => out.console.push(profile),
                Err(message) => out.problems.push(ProfileProblem {
                    profile: name.clone(),
                    message,
                }),
            }
            continue;
        }
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
    /// The line of each key, to find a duplicate without a scan (sections can be huge).
    lines_of: HashMap<String, usize>,
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
        lines_of: HashMap::new(),
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
                        lines_of: HashMap::new(),
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
                if let Some(first) = sect.lines_of.get(&key) {
                    return Err(error(format!(
                        "the setting {key} appears twice in [{}] (first at line {first}); {REFUSED}",
                        sect.header
                    )));
                }
                sect.lines_of.insert(key.clone(), line.number);
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

/// Reads an `aws login` profile. One that also holds SSO settings is reported, not guessed:
/// botocore would pick SSO, the Rust SDK would pick SSO too, and `aws login` refuses such a
/// profile, so the user must say which is meant.
fn classify_console(name: &str, section: &RawSection) -> Result<ConsoleProfile, String> {
    let place = format!("[{}]", section.header);
    let mixed: Vec<&str> = SSO_KEYS
        .into_iter()
        .filter(|k| section.values.contains_key(*k))
        .collect();
    if !mixed.is_empty() {
        return Err(format!(
            "{place} has login_session (an `aws login` session) and SSO settings ({}); keep one kind: remove login_session, or the SSO settings",
            mixed.join(", ")
        ));
    }
    let login_session = match field(&section.values, "login_session") {
        Field::Text(t) => t.to_owned(),
        Field::Missing | Field::Empty => {
            return Err(format!(
                "login_session is empty in {place}; run `aws login --profile {}` to set it",
                shell_word(name)
            ));
        }
        Field::Block => {
            return Err(format!(
                "login_session in {place} spans several lines (the indented lines below it belong to it); put the value on one line"
            ));
        }
    };
    let optional = |key: &str| match field(&section.values, key) {
        Field::Text(t) => Some(t.to_owned()),
        _ => None,
    };
    Ok(ConsoleProfile {
        name: name.to_owned(),
        login_session,
        region: optional("region"),
        ca_bundle: optional("ca_bundle"),
    })
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
    // As in botocore, a profile is for SSO credentials when it names an account or a role.
    // One with only sso_session (or only a start URL and region) is a login-only profile,
    // used by `aws sso login`: nothing to write for it, and nothing wrong with it.
    if !has("sso_account_id") && !has("sso_role_name") {
        return None;
    }
    let place = format!("[{}]", section.header);
    let mut found: BTreeMap<&'static str, &str> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut other = Vec::new();
    let login;
    let mut session_values = None;
    if has("sso_session") {
        match field(values, "sso_session") {
            Field::Text(session_name) => {
                login = LoginId::Session(session_name.to_owned());
                match sessions.get(session_name) {
                    None => other.push(format!(
                        "sso_session names [sso-session {session_name}], which is not in the config file; add that section or correct the name"
                    )),
                    Some(session) => {
                        session_values = Some(&session.values);
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
        // botocore copies every sso-session setting into the profile, so the account or
        // the role may come from the session (the profile itself must name one of them).
        let (own, inherited): (Vec<&'static str>, Vec<&'static str>) =
            ["sso_account_id", "sso_role_name"]
                .into_iter()
                .partition(|k| {
                    has(k) || !session_values.is_some_and(|s: &BTreeMap<_, _>| s.contains_key(*k))
                });
        faults(values, &own, &mut found, &mut missing, &mut other, &place);
        if let Some(session) = session_values {
            faults(
                session,
                &inherited,
                &mut found,
                &mut missing,
                &mut other,
                &place,
            );
        }
    } else {
        faults(
            values,
            &[
                "sso_start_url",
                "sso_region",
                "sso_account_id",
                "sso_role_name",
            ],
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
    // The region names a host (portal.sso.REGION.amazonaws.com): anything else can only fail.
    if let Some(region) = found.get("sso_region")
        && !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        other.push(format!(
            "sso_region {region:?} is not a region name (like us-east-1); correct it in the config file"
        ));
    }
    let mut clauses = Vec::new();
    if !missing.is_empty() {
        clauses.push(format!(
            "missing {}; add {} to {place} in the config file or run `aws configure sso`",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SESSION: &str = "[sso-session corp]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = us-east-1\n";

    fn ok(text: &str) -> Profiles {
        parse(text).unwrap_or_else(|e| panic!("{e} in {text:?}"))
    }

    fn names(p: &Profiles) -> Vec<&str> {
        p.sso.iter().map(|p| p.name.as_str()).collect()
    }

    fn problem<'a>(p: &'a Profiles, name: &str) -> &'a str {
        match p.problems.iter().find(|x| x.profile == name) {
            Some(x) => &x.message,
            None => panic!("no problem for {name}: {p:?}"),
        }
    }

    /// A legacy profile gives a start-URL login with all four settings.
    #[test]
    fn legacy_form() {
        let p = ok(
            "[profile old]\nsso_start_url = https://d-1.awsapps.com/start/\nsso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = Dev\nregion = eu-west-1\nca_bundle = /etc/ca.pem\n",
        );
        assert_eq!(
            p.sso,
            vec![SsoProfile {
                name: "old".into(),
                login: LoginId::StartUrl("https://d-1.awsapps.com/start/".into()),
                start_url: "https://d-1.awsapps.com/start/".into(),
                sso_region: "us-east-1".into(),
                account_id: "111122223333".into(),
                role_name: "Dev".into(),
                region: Some("eu-west-1".into()),
                ca_bundle: Some("/etc/ca.pem".into()),
            }]
        );
        assert!(p.problems.is_empty());
    }

    /// An `sso_session` profile takes start URL and SSO region from its session.
    #[test]
    fn session_form() {
        let p = ok(&format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = Dev\n{SESSION}"
        ));
        assert_eq!(p.sso.len(), 1, "{p:?}");
        let dev = &p.sso[0];
        assert_eq!(dev.login, LoginId::Session("corp".into()));
        assert_eq!(dev.start_url, "https://d-1.awsapps.com/start");
        assert_eq!(dev.sso_region, "us-east-1");
        assert_eq!(dev.region, None);
    }

    /// `[default]` and `[profile default]` are one profile; the later section wins, as in
    /// botocore, and the profile sits where the winning section is.
    #[test]
    fn default_and_profile_default() {
        let a =
            "[default]\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = A\n";
        let b = "[profile default]\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = B\n";
        let mid = "[profile mid]\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = M\n";
        let p = ok(&format!("{a}{mid}{b}"));
        assert_eq!(names(&p), ["mid", "default"]);
        assert_eq!(p.sso[1].role_name, "B");
        let p = ok(&format!("{b}{mid}{a}"));
        assert_eq!(names(&p), ["mid", "default"]);
        assert_eq!(p.sso[1].role_name, "A");
        // A later [default] without SSO settings hides an earlier [profile default].
        let p = ok(&format!("{b}[default]\nregion = x\n"));
        assert!(p.sso.is_empty() && p.problems.is_empty(), "{p:?}");
    }

    /// Headers are split like `shlex.split`: quotes and backslashes group words; a header that
    /// is not exactly two words, or does not split, is not a profile.
    #[test]
    fn header_names() {
        let body = "\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = R\n";
        let p = ok(&[
            "[profile \"my name\"]",
            "[profile 'single q']",
            "[profile back\\ slash]",
            "[profile \"unbalanced]",
            "[profile three words here]",
            "[profile]",
            "[profiles plural]",
            "[ profile lead]",
            "[bare]",
            "[profile  spaced\t]",
        ]
        .map(|h| format!("{h}{body}"))
        .concat());
        assert_eq!(
            names(&p),
            ["my name", "single q", "back slash", "plural", "spaced"]
        );
    }

    /// Python's `shlex.split`, case by case (expected values printed by Python 3.11).
    #[test]
    fn shlex_matches_python() {
        let table: [(&str, Option<&[&str]>); 13] = [
            ("profile dev", Some(&["profile", "dev"])),
            ("profile \"my name\"", Some(&["profile", "my name"])),
            ("profile 'a b'", Some(&["profile", "a b"])),
            ("profile a\\ b", Some(&["profile", "a b"])),
            ("profile \"a\\\"b\\c\"", Some(&["profile", "a\"b\\c"])),
            ("profile \"\"", Some(&["profile", ""])),
            ("profile \"unbalanced", None),
            ("profile x\\", None),
            ("a\"b c\"d", Some(&["ab cd"])),
            ("'it\\'s'", None),
            ("  \t ", Some(&[])),
            ("\"\"\"\"", Some(&[""])),
            ("profile #x", Some(&["profile", "#x"])),
        ];
        for (input, want) in table {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(shlex_split(input), want, "input: {input:?}");
        }
    }

    /// Missing or empty settings are reported by name with what to do; the others still run.
    #[test]
    fn missing_keys() {
        let p = ok(
            "[profile a]\nsso_start_url = u\nsso_account_id = 1\n[profile b]\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name =\n[profile c]\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = R\n",
        );
        assert_eq!(names(&p), ["c"]);
        assert_eq!(
            problem(&p, "a"),
            "missing sso_region, sso_role_name; add them to [profile a] in the config file or run `aws configure sso`"
        );
        assert_eq!(problem(&p, "b"), "sso_role_name is empty in [profile b]");
    }

    /// A profile naming an sso-session that does not exist is a problem.
    #[test]
    fn unknown_session() {
        let p = ok(&format!(
            "[profile dev]\nsso_session = crop\nsso_account_id = 1\nsso_role_name = R\n{SESSION}"
        ));
        assert!(p.sso.is_empty());
        assert!(
            problem(&p, "dev").starts_with(
                "sso_session names [sso-session crop], which is not in the config file"
            ),
            "{p:?}"
        );
    }

    /// A start URL (or any setting) in both profile and session must be equal (botocore's
    /// rule); equal values, trailing slash included, are fine.
    #[test]
    fn conflicting_start_url() {
        let p = ok(&format!(
            "[profile same]\nsso_session = corp\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n\
             [profile slash]\nsso_session = corp\nsso_start_url = https://d-1.awsapps.com/start/\nsso_account_id = 1\nsso_role_name = R\n{SESSION}"
        ));
        assert_eq!(names(&p), ["same"]);
        assert!(
            problem(&p, "slash")
                .starts_with("sso_start_url differs between profile slash and sso-session corp"),
            "{p:?}"
        );
    }

    /// An `sso_session` profile with neither account nor role is only for `aws sso login`.
    #[test]
    fn token_only_profile_is_skipped() {
        let p = ok(&format!("[profile login]\nsso_session = corp\n{SESSION}"));
        assert_eq!(p, Profiles::default());
    }

    /// Non-SSO profiles are ignored silently.
    #[test]
    fn non_sso_profiles_ignored() {
        let p = ok(
            "[default]\nregion = x\n[profile keys]\naws_access_key_id = A\n[services s]\nsso_role_name = R\n",
        );
        assert_eq!(p, Profiles::default());
    }

    /// A duplicate section or key refuses the whole file, naming both lines.
    #[test]
    fn duplicates_refuse_the_file() {
        let e = parse("[profile dev]\nregion = a\n\n[profile dev]\nregion = b\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(
            e.message,
            "the section [profile dev] appears twice (first at line 1); the AWS CLI refuses such a file too"
        );
        let e = parse("[profile dev]\nRegion = a\nregion = b\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message
                .contains("region appears twice in [profile dev] (first at line 2)")
        );
        // `[profile dev]` and `[profile "dev"]` are different sections for configparser.
        assert!(parse("[profile dev]\n[profile \"dev\"]\n").is_ok());
    }

    /// Lines configparser rejects refuse the file too.
    #[test]
    fn invalid_lines_refuse_the_file() {
        assert_eq!(parse("region = x\n[default]\n").unwrap_err().line, 1);
        assert_eq!(parse("[default]\njunk\n").unwrap_err().line, 2);
        assert_eq!(
            parse("[default]\ns3 =\n  junk\n").unwrap_err().line,
            2,
            "a nested block line without `=` (botocore's _parse_nested)"
        );
    }

    /// Full-line comments (`#`, `;`, indented) are skipped, also inside values; an inline
    /// `;` or `#` is part of the value.
    #[test]
    fn comments() {
        let p = ok(
            "# top\n; top\n[profile dev] # after header\n  # indented\nsso_start_url = u ; kept\n\t; tab\nsso_region = r\nsso_account_id = 1\n   ; c\nsso_role_name = R # kept\n",
        );
        assert_eq!(p.sso[0].start_url, "u ; kept");
        assert_eq!(p.sso[0].sso_region, "r");
        assert_eq!(p.sso[0].role_name, "R # kept");
    }

    /// Quotes and backslashes in values are kept literally.
    #[test]
    fn values_are_raw() {
        let p = ok(
            "[profile w]\nsso_start_url = \"u\"\nsso_region = r\nsso_account_id = '1'\nsso_role_name = a\\tb\nca_bundle = C:\\certs\\ca.pem\n",
        );
        let w = &p.sso[0];
        assert_eq!(w.login, LoginId::StartUrl("\"u\"".into()));
        assert_eq!(w.account_id, "'1'");
        assert_eq!(w.role_name, "a\\tb");
        assert_eq!(w.ca_bundle.as_deref(), Some("C:\\certs\\ca.pem"));
    }

    /// A region that cannot be part of a host name is a problem, named.
    #[test]
    fn bad_region() {
        let p = ok(
            "[profile a]\nsso_start_url = https://x\nsso_region = us east 1\nsso_account_id = 1\nsso_role_name = r\n",
        );
        assert!(p.sso.is_empty());
        assert!(
            p.problems[0]
                .message
                .contains("sso_region \"us east 1\" is not a region name"),
            "{:?}",
            p.problems
        );
    }

    /// The account or the role may come from the sso-session section, as botocore copies
    /// every session setting into the profile.
    #[test]
    fn account_or_role_from_session() {
        let p = ok(&format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 1\n{SESSION}sso_role_name = Admin\n"
        ));
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.sso[0].role_name, "Admin");
        let p = ok(&format!(
            "[profile dev]\nsso_session = corp\n{SESSION}sso_role_name = Admin\nsso_account_id = 1\n"
        ));
        assert!(
            p.sso.is_empty() && p.problems.is_empty(),
            "neither in the profile: login-only"
        );
    }

    /// CRLF, lone CR and a missing final newline read the same as LF.
    #[test]
    fn line_endings() {
        let lf = format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n{SESSION}"
        );
        let want = ok(&lf);
        assert_eq!(want.sso.len(), 1);
        assert_eq!(ok(&lf.replace('\n', "\r\n")), want);
        assert_eq!(ok(&lf.replace('\n', "\r")), want);
        assert_eq!(ok(lf.trim_end()), want);
    }

    /// Indented sub-settings (`s3 =` blocks) belong to their key and do not disturb the
    /// profile; an SSO setting written as a block, or continued on a second line, is a problem.
    #[test]
    fn nested_blocks() {
        let p = ok(
            "[profile a]\nsso_start_url = u\nsso_region = r\ns3 =\n  max_concurrent_requests = 20\n\n  addressing_style = path\nsso_account_id = 1\nsso_role_name = R\n\
                    [profile b]\nsso_start_url = u\nsso_region =\n  us-east-1 = x\nsso_account_id = 1\nsso_role_name = R\n\
                    [profile c]\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = R\n  more\n",
        );
        assert_eq!(names(&p), ["a"]);
        assert!(problem(&p, "b").contains("sso_region in [profile b] spans several lines"));
        assert!(problem(&p, "c").contains("sso_role_name in [profile c] spans several lines"));
        let view = raw_view("[profile a]\ns3 =\n  max = 20\n  Style = path\n").unwrap();
        assert_eq!(
            view.profiles["a"].values["s3"],
            RawValue::Nested(BTreeMap::from([
                ("max".into(), "20".into()),
                ("Style".into(), "path".into())
            ]))
        );
    }

    /// `[DEFAULT]` settings are inherited by every section (sessions too) that does not set
    /// them; `[DEFAULT]` itself is not a profile and may appear more than once.
    #[test]
    fn default_section() {
        let p = ok("[DEFAULT]\nsso_region = eu-west-1\nregion = eu-west-1\n\
                    [sso-session corp]\nsso_start_url = u\n\
                    [profile dev]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n\
                    [DEFAULT]\nca_bundle = /ca.pem\n\
                    [profile own]\nsso_start_url = u\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\nregion = us-east-2\n");
        assert_eq!(names(&p), ["dev", "own"]);
        assert_eq!(p.sso[0].sso_region, "eu-west-1");
        assert_eq!(p.sso[0].ca_bundle.as_deref(), Some("/ca.pem"));
        assert_eq!(p.sso[1].sso_region, "us-east-1");
        assert_eq!(p.sso[1].region.as_deref(), Some("us-east-2"));
        // Duplicate keys across two [DEFAULT] blocks are still duplicates.
        assert!(parse("[DEFAULT]\na = 1\n[DEFAULT]\na = 2\n").is_err());
    }

    /// `aws login` profiles are read with their session ARN (blanks dropped), region and CA
    /// bundle; `[default]` counts; a profile mixing login_session with SSO settings, or with an
    /// empty login_session, is reported by name with what to do, and the others still run.
    #[test]
    fn console_profiles() {
        let p = ok(&format!(
            "[profile console]\nlogin_session =  arn:aws:iam::012345678901:user/Admin \nregion = eu-west-1\n\
             [default]\nlogin_session = arn:aws:sts::012345678910:assumed-role/Admin/admin\n\
             [profile mixed]\nlogin_session = arn:aws:iam::1:user/a\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n\
             [profile blank]\nlogin_session =\n\
             [profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n{SESSION}"
        ));
        assert_eq!(
            p.console,
            [
                ConsoleProfile {
                    name: "console".into(),
                    login_session: "arn:aws:iam::012345678901:user/Admin".into(),
                    region: Some("eu-west-1".into()),
                    ca_bundle: None,
                },
                ConsoleProfile {
                    name: "default".into(),
                    login_session: "arn:aws:sts::012345678910:assumed-role/Admin/admin".into(),
                    region: None,
                    ca_bundle: None,
                },
            ]
        );
        assert_eq!(
            names(&p),
            ["dev"],
            "the mixed profile is not served as SSO either"
        );
        let mixed = problem(&p, "mixed");
        assert!(mixed.contains("[profile mixed]"), "{mixed}");
        assert!(
            mixed.contains("sso_session, sso_account_id, sso_role_name"),
            "{mixed}"
        );
        assert!(mixed.contains("keep one kind"), "{mixed}");
        assert!(problem(&p, "blank").contains("aws login --profile blank"));
    }

    /// Profiles come out in file order.
    #[test]
    fn file_order() {
        let body = "\nsso_start_url = u\nsso_region = r\nsso_account_id = 1\nsso_role_name = R\n";
        let p = ok(&["zeta", "alpha", "mid"]
            .map(|n| format!("[profile {n}]{body}"))
            .concat());
        assert_eq!(names(&p), ["zeta", "alpha", "mid"]);
    }

    /// No input makes the reader panic: every prefix of a realistic file, every line dropped,
    /// and odd characters spliced in everywhere.
    #[test]
    fn never_panics() {
        let base = format!(
            "# c\n[default]\nregion = x\n[profile \"a b\"]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\ns3 =\n  k = v\n\r\n[DEFAULT]\nx = 1\n[profile l]\r\nsso_start_url = u/\nsso_region = r\nsso_account_id = 1\nsso_role_name = \"R\\\"\n  cont\n[profile 'é 開']\nsso_session = corp\n{SESSION}"
        );
        let mut inputs: Vec<String> = Vec::new();
        for (i, _) in base.char_indices() {
            inputs.push(base[..i].to_owned());
            for odd in [
                "[", "]", "\"", "'", "\\", "=", ":", "\n ", "\r", "\u{3000}", "\u{1c}", "#", ";",
            ] {
                inputs.push(format!("{}{odd}{}", &base[..i], &base[i..]));
            }
        }
        let lines: Vec<&str> = base.lines().collect();
        for skip in 0..lines.len() {
            let mut l = lines.clone();
            l.remove(skip);
            inputs.push(l.join("\n"));
        }
        for input in &inputs {
            let _ = parse(input);
        }
    }
}
