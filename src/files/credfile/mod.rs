//! The credentials-file editor: a pure function from (old text, changes) to new text.
//!
//! It touches only the sections it is asked to write, and in those only the keys it owns
//! ([`OWNED_KEYS`], `region` when asked, and `aws_security_token` when the user has one, since
//! botocore prefers it to `aws_session_token`). Every other byte — comments, blank lines,
//! spacing, order, CRLF endings, a missing final newline, other profiles — comes out as it went
//! in. A section that holds long-term keys (an access key with no session token) is never
//! overwritten (unless its access key id is the very one being written: then it holds the same
//! temporary credentials, cut short, and is made whole), and a section that appears twice is left alone: both are reported as
//! [`Refusal`]s. The result never has a duplicate section or key, which botocore refuses.
//!
//! [`remove`] undoes [`apply`] when a login ends: it takes out the keys ssofresh owns from the
//! sections that still hold the access key id it wrote, and the section's header too once
//! nothing else is left in it, so the file reads as if ssofresh had never written there.
//! [`section_key_id`] tells what a section holds now, so a caller can see whether it is still
//! what ssofresh wrote.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::files::config;
use crate::files::ini::{self, Kind, Line};
use crate::secret::Secret;
use crate::time::format_time;

/// Short-term role credentials, as GetRoleCredentials returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    /// `aws_access_key_id` (an identifier, not a secret, but never logged either).
    pub access_key_id: String,
    /// `aws_secret_access_key`.
    pub secret_access_key: Secret,
    /// `aws_session_token`.
    pub session_token: Secret,
    /// When the credentials stop working.
    pub expiration: DateTime<Utc>,
}

/// The keys ssofresh writes in every section it manages.
pub const OWNED_KEYS: [&str; 4] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "x_security_token_expires",
];

/// One section to write.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// The section name (`dev` for `[dev]`).
    pub section: &'a str,
    /// The credentials to put there.
    pub credentials: &'a RoleCredentials,
    /// `region = …` too, when the user asked for it.
    pub region: Option<&'a str>,
}

/// Why a section was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The section has an access key but no session token: someone's long-term keys.
    LongTermKeys,
    /// `[name]` appears more than once (at these lines); botocore refuses such a file.
    DuplicateSection(Vec<usize>),
    /// Two updates name the same section.
    TargetedTwice,
    /// An owned key's value spans several lines; readers disagree on what those lines are.
    MultiLineValue(&'static str),
    /// A `[DEFAULT]` section sets a credential key, which botocore copies into every section.
    DefaultSetsKey(String),
    /// A `[DEFAULT]` section holds a value botocore cannot read once there is a section to
    /// copy it into (the problem, with its line): adding one would make the file unreadable.
    DefaultUnreadable(String),
    /// The name cannot be a section every reader agrees on (the reason).
    UnusableName(&'static str),
    /// The section holds another access key id than the one ssofresh wrote (or none beside
    /// other credential keys): the user or another program put credentials there.
    NotOurs,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::LongTermKeys => f.write_str(
                "the section holds long-term keys (an access key without a session token); \
                 ssofresh never overwrites them: write to another section with --profile NAME:SECTION",
            ),
            Refusal::DuplicateSection(lines) => {
                let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "the section appears more than once (lines {}), which the AWS CLI refuses too; \
                     remove the extra copies",
                    lines.join(", ")
                )
            }
            Refusal::TargetedTwice => f.write_str("two profiles are set to write this same section"),
            Refusal::MultiLineValue(key) => write!(
                f,
                "its {key} continues on indented lines, which botocore and the JavaScript SDK \
                 read differently; remove those lines"
            ),
            Refusal::DefaultSetsKey(key) => write!(
                f,
                "the file's [DEFAULT] section sets {key}, which botocore copies into every \
                 profile; remove it from [DEFAULT]"
            ),
            Refusal::DefaultUnreadable(problem) => write!(
                f,
                "the file's [DEFAULT] section would make botocore refuse the whole file once it \
                 has a section ({problem}); fix or remove [DEFAULT]"
            ),
            Refusal::UnusableName(why) => {
                write!(f, "{why}; choose another section with --profile NAME:SECTION")
            }
            Refusal::NotOurs => f.write_str(
                "the section now holds other credentials than the ones ssofresh wrote \
                 (you or another program changed them), so ssofresh leaves it alone; \
                 delete those keys yourself if they should go",
            ),
        }
    }
}

/// The outcome of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text of the file.
    pub text: String,
    /// Sections that were not written, and why.
    pub refused: Vec<(String, Refusal)>,
}

/// One output line: its text and its line ending, borrowed from the old text unless changed
/// (a 1 MiB file is tens of thousands of lines: copying each would dominate the edit).
type Out<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Applies `updates` to the credentials file text `old`.
pub fn apply(old: &str, updates: &[Update<'_>]) -> Edit {
    let lines = ini::lex(old);
    let eol = ini::dominant_eol(&lines);
    let mut out: Vec<Out<'_>> = lines
        .iter()
        .map(|l| (Cow::Borrowed(l.text), Cow::Borrowed(l.eol)))
        .collect();
    // Lines to drop and lines to insert after a given index, applied at the end so that
    // indices into `lines` stay valid while each update is planned.
    let mut dropped = vec![false; lines.len()];
    let mut inserted: Vec<Vec<Out<'_>>> = vec![Vec::new(); lines.len() + 1];
    let mut appended: Vec<Out<'_>> = Vec::new();
    let mut refused = Vec::new();

    let default_key = default_section_key(&lines);
    // Indexed once, so that an edit of many sections stays linear in the file's size.
    let spans = section_spans(&lines);
    let mut targeted: HashMap<&str, usize> = HashMap::new();
    for update in updates {
        *targeted.entry(update.section).or_default() += 1;
    }
    for update in updates {
        if let Some(why) = unusable_section_name(update.section) {
            refused.push((update.section.to_owned(), Refusal::UnusableName(why)));
            continue;
        }
        if let Some(key) = &default_key {
            refused.push((
                update.section.to_owned(),
                Refusal::DefaultSetsKey(key.clone()),
            ));
            continue;
        }
        if targeted.get(update.section).is_some_and(|n| *n > 1) {
            refused.push((update.section.to_owned(), Refusal::TargetedTwice));
            continue;
        }
        let spans = spans.get(update.section).map_or(&[][..], Vec::as_slice);
        match spans {
            [] => {
                if !appended.is_empty() || !ends_in_blank(&lines) {
                    appended.push((Cow::Borrowed(""), Cow::Borrowed(eol)));
                }
                appended.push((format!("[{}]", update.section).into(), eol.into()));
                appended.extend(
                    wanted(update)
                        .into_iter()
                        .map(|(k, v)| (format!("{k} = {v}").into(), eol.into())),
                );
            }
            [span] => {
                if let Err(refusal) = plan_section(
                    &lines,
                    span.clone(),
                    update,
                    eol,
                    &mut out,
                    &mut dropped,
                    &mut inserted,
                ) {
                    refused.push((update.section.to_owned(), refusal));
                }
            }
            many => {
                let numbers = many.iter().map(|s| lines[s.start].number).collect();
                refused.push((
                    update.section.to_owned(),
                    Refusal::DuplicateSection(numbers),
                ));
            }
        }
    }

    let mut result: Vec<Out<'_>> = Vec::with_capacity(out.len() + appended.len());
    result.append(&mut inserted[0]);
    for (i, line) in out.into_iter().enumerate() {
        if !dropped[i] {
            result.push(line);
        }
        result.append(&mut inserted[i + 1]);
    }
    result.extend(appended);
    let text = join(result, old, eol);
    // botocore copies [DEFAULT]'s values into every section, and reads them only then: a
    // file with no section but [DEFAULT] may read fine and break once a section is added.
    let sectionless = !lines
        .iter()
        .any(|l| matches!(l.kind, Kind::Section(n) if n != "DEFAULT"));
    if sectionless
        && text != old
        && let (Ok(_), Err(e)) = (config::raw_view(old), config::raw_view(&text))
    {
        for update in updates {
            if !refused.iter().any(|(s, _)| s == update.section) {
                let refusal = Refusal::DefaultUnreadable(e.to_string());
                refused.push((update.section.to_owned(), refusal));
            }
        }
        return Edit {
            text: old.to_owned(),
            refused,
        };
    }
    Edit { text, refused }
}

/// Joins output lines. Every line gets an ending except the last, which keeps the original
/// file's choice: a file that ended without a newline still does.
fn join(mut lines: Vec<Out<'_>>, old: &str, eol: &'static str) -> String {
    let final_newline = old.is_empty() || old.ends_with(['\n', '\r']);
    let count = lines.len();
    for (i, line) in lines.iter_mut().enumerate() {
        if i + 1 < count && line.1.is_empty() {
            line.1 = Cow::Borrowed(eol);
        }
    }
    if let Some(last) = lines.last_mut() {
        if final_newline && last.1.is_empty() {
            last.1 = Cow::Borrowed(eol);
        } else if !final_newline {
            last.1 = Cow::Borrowed("");
        }
    }
    lines.into_iter().flat_map(|(t, e)| [t, e]).collect()
}

/// The (key, value) pairs an update writes, in the order a new section lists them.
fn wanted(update: &Update<'_>) -> Vec<(&'static str, String)> {
    let c = update.credentials;
    let values = [
        c.access_key_id.clone(),
        c.secret_access_key.expose().to_owned(),
        c.session_token.expose().to_owned(),
        format_time(c.expiration),
    ];
    let mut pairs: Vec<(&'static str, String)> = OWNED_KEYS.into_iter().zip(values).collect();
    if let Some(region) = update.region {
        pairs.push(("region", region.to_owned()));
    }
    pairs
}

/// Plans the edit of an existing section, or says why it must not be touched.
fn plan_section(
    lines: &[Line<'_>],
    span: std::ops::Range<usize>,
    update: &Update<'_>,
    eol: &'static str,
    out: &mut [Out<'_>],
    dropped: &mut [bool],
    inserted: &mut [Vec<Out<'_>>],
) -> Result<(), Refusal> {
    let section = &lines[span.clone()];
    let has = |name: &str| {
        section
            .iter()
            .any(|l| key_of(l).is_some_and(|(k, _)| k == name))
    };
    // A token key counts only with a value: `aws_session_token =` guards nothing.
    let has_value = |name: &str| {
        section
            .iter()
            .any(|l| key_of(l).is_some_and(|(k, v)| k == name && !v.is_empty()))
    };
    // AKIA is the prefix of long-term access keys; role credentials are ASIA.
    let long_term_id = section
        .iter()
        .any(|l| key_of(l).is_some_and(|(k, v)| k == "aws_access_key_id" && v.starts_with("AKIA")));
    let temporary = has_value("aws_session_token") || has_value("aws_security_token");
    // An access key id names one set of credentials: a section holding the very (temporary)
    // key id being written holds these same credentials, cut short, and is put back whole.
    let same_id = section.iter().any(|l| {
        key_of(l).is_some_and(|(k, v)| {
            k == "aws_access_key_id" && v == update.credentials.access_key_id.as_str()
        })
    });
    if long_term_id || (has("aws_access_key_id") && !temporary && !same_id) {
        return Err(Refusal::LongTermKeys);
    }
    let mut pairs = wanted(update);
    if has("aws_security_token") {
        pairs.push((
            "aws_security_token",
            update.credentials.session_token.expose().to_owned(),
        ));
    }
    // The last line that belongs to the section's content: new keys go after it, before
    // any blank lines and comments that separate it from the next section.
    let mut last_content = span.start;
    let mut seen: Vec<&str> = Vec::new();
    let mut owner: Option<&'static str> = None; // The owned key whose lines may continue.
    // Planned first and applied only when the whole section is fine, so that a refusal
    // leaves every line of it as it was.
    let mut rewrites: Vec<(usize, String)> = Vec::new();
    let mut drops: Vec<usize> = Vec::new();
    for i in span.clone().skip(1) {
        let line = &lines[i];
        match &line.kind {
            Kind::Key { key, .. } => {
                last_content = i;
                owner = None;
                if let Some((name, value)) = pairs.iter().find(|(k, _)| k == key) {
                    owner = Some(name);
                    if seen.contains(name) {
                        drops.push(i);
                    } else {
                        seen.push(name);
                        // Keep the indentation: an indented key rewritten at column 0 would
                        // turn the indented siblings below it into its continuation lines.
                        rewrites.push((i, format!("{}{name} = {value}", indentation(line.text))));
                    }
                }
            }
            Kind::Continuation(_) => {
                last_content = i;
                if let Some(key) = owner {
                    return Err(Refusal::MultiLineValue(key));
                }
            }
            Kind::Invalid(_) => last_content = i,
            Kind::Blank | Kind::Comment | Kind::Section(_) => {}
        }
    }
    // New keys take the indentation of the next header (none at the end of the file): never
    // deeper than the key above, so not its continuation, and never shallower than the
    // header, so the header does not become theirs.
    let pad = lines.get(span.end).map_or("", |l| indentation(l.text));
    for (i, text) in rewrites {
        out[i].0 = text.into();
    }
    for i in drops {
        dropped[i] = true;
    }
    let missing = pairs.iter().filter(|(k, _)| !seen.contains(k));
    inserted[last_content + 1]
        .extend(missing.map(|(k, v)| (format!("{pad}{k} = {v}").into(), eol.into())));
    Ok(())
}

/// A line's leading white space, as Python counts it.
fn indentation(text: &str) -> &str {
    &text[..text.len() - text.trim_start_matches(ini::py_space).len()]
}

/// Why `name` cannot be a section of the credentials file, if it cannot. configparser
/// treats `[DEFAULT]` as defaults for every section; the JavaScript SDK v2 strips `#` or `;`
/// after white space as a comment (so the header would vanish) and fails on `__proto__`.
pub fn unusable_section_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.contains(['[', ']', '\n', '\r']) {
        return Some("a section name must be one line without '[' or ']'");
    }
    if name == "DEFAULT" {
        return Some("[DEFAULT] is not a profile: botocore copies its keys into every section");
    }
    let chars: Vec<char> = name.chars().collect();
    if chars
        .windows(2)
        .any(|w| w[0].is_whitespace() && (w[1] == '#' || w[1] == ';'))
        || name.starts_with(['#', ';'])
    {
        return Some("the JavaScript SDK reads '#' or ';' after a space as the start of a comment");
    }
    if name.split_whitespace().any(|w| w == "__proto__") {
        return Some("the JavaScript SDK cannot read a section named __proto__");
    }
    None
}

/// The key a line sets and its value, if it is a key line.
fn key_of<'l>(line: &'l Line<'_>) -> Option<(&'l str, &'l str)> {
    match &line.kind {
        Kind::Key { key, value } => Some((key, value)),
        _ => None,
    }
}

/// Every section's line ranges (header to the next header, header included), by name, in file
/// order. Like configparser, which does not trim section names, `[ dev ]` is another section
/// than `[dev]`.
fn section_spans<'a>(lines: &[Line<'a>]) -> HashMap<&'a str, Vec<std::ops::Range<usize>>> {
    let headers: Vec<(usize, &'a str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l.kind {
            Kind::Section(name) => Some((i, name)),
            _ => None,
        })
        .collect();
    let mut spans: HashMap<&'a str, Vec<std::ops::Range<usize>>> = HashMap::new();
    for (k, (i, name)) in headers.iter().enumerate() {
        let end = headers.get(k + 1).map_or(lines.len(), |(next, _)| *next);
        spans.entry(name).or_default().push(*i..end);
    }
    spans
}

/// The line ranges of every section named exactly `name` (see [`section_spans`]).
fn sections_named(lines: &[Line<'_>], name: &str) -> Vec<std::ops::Range<usize>> {
    section_spans(lines).remove(name).unwrap_or_default()
}

/// The keys that make up credentials for botocore.
const CREDENTIAL_KEYS: [&str; 4] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
];

/// A credential key that a `[DEFAULT]` section sets, if any: botocore would mix it into every
/// section ssofresh writes.
fn default_section_key(lines: &[Line<'_>]) -> Option<String> {
    let mut inside = false;
    for line in lines {
        match &line.kind {
            Kind::Section(name) => inside = *name == "DEFAULT",
            Kind::Key { key, .. } if inside && CREDENTIAL_KEYS.contains(&key.as_str()) => {
                return Some(key.clone());
            }
            _ => {}
        }
    }
    None
}

/// True when the file is empty or its last line is blank (no separator needed).
fn ends_in_blank(lines: &[Line<'_>]) -> bool {
    lines.last().is_none_or(|l| matches!(l.kind, Kind::Blank))
}

/// What a section of the credentials file holds now, as far as ssofresh cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionState {
    /// No section has this name.
    Absent,
    /// The section appears more than once, which botocore refuses.
    Duplicate,
    /// One section of this name.
    Holds {
        /// The value of its `aws_access_key_id` as configparser reads it (continuation lines
        /// joined with newlines), the first one if the key appears twice; `None` without one.
        access_key_id: Option<String>,
    },
}

/// What section `section` of the credentials file `text` holds now. Names are matched
/// exactly, as in [`apply`]; a `[DEFAULT]` section's keys are not counted.
pub fn section_key_id(text: &str, section: &str) -> SectionState {
    let lines = ini::lex(text);
    match sections_named(&lines, section).as_slice() {
        [] => SectionState::Absent,
        [span] => SectionState::Holds {
            access_key_id: access_key_ids(&lines, span.clone()).into_iter().next(),
        },
        _ => SectionState::Duplicate,
    }
}

/// The access key id in section `section` of `text` when the section holds session
/// credentials as ssofresh writes them: one section of that name, one `aws_access_key_id`
/// that is not a long-term key (`AKIA…`), a session token with a value, and
/// `x_security_token_expires`. `None` otherwise (long-term keys, keys pasted by hand).
pub fn session_key_id(text: &str, section: &str) -> Option<String> {
    let lines = ini::lex(text);
    let spans = sections_named(&lines, section);
    let [span] = spans.as_slice() else {
        return None;
    };
    let body = &lines[span.clone()];
    let has_value = |names: &[&str]| {
        body.iter()
            .any(|l| key_of(l).is_some_and(|(k, v)| names.contains(&k) && !v.is_empty()))
    };
    let session = has_value(&["aws_session_token", "aws_security_token"])
        && has_value(&["x_security_token_expires"]);
    match access_key_ids(&lines, span.clone()).as_slice() {
        [id] if session && !id.is_empty() && !id.starts_with("AKIA") => Some(id.clone()),
        _ => None,
    }
}

/// When the credentials in section `section` of `text` expire, as ssofresh wrote it
/// (`x_security_token_expires`); `None` without one section holding a readable time.
pub fn section_expiry(text: &str, section: &str) -> Option<DateTime<Utc>> {
    let lines = ini::lex(text);
    let [span] = sections_named(&lines, section).try_into().ok()?;
    let (_, value) = lines[span]
        .iter()
        .filter_map(key_of)
        .find(|(k, _)| *k == "x_security_token_expires")?;
    DateTime::parse_from_rfc3339(ini::py_trim(value))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One section whose credentials ssofresh wrote and now takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal<'a> {
    /// The section name (`dev` for `[dev]`).
    pub section: &'a str,
    /// The access key id ssofresh wrote there: the section is emptied only if it still holds it.
    pub access_key_id: &'a str,
}

/// The keys [`remove`] takes out: the owned ones and `aws_security_token`, which [`apply`]
/// keeps equal to the session token. `region` stays: it may be the user's.
const REMOVED_KEYS: [&str; 5] = [
    OWNED_KEYS[0],
    OWNED_KEYS[1],
    OWNED_KEYS[2],
    OWNED_KEYS[3],
    "aws_security_token",
];

/// Removes what ssofresh wrote. For each removal whose section holds exactly that access key
/// id, its [`OWNED_KEYS`] and `aws_security_token` go; every other key (`region` too) and
/// comment stays. A section left with
/// nothing but blank lines loses its header too, with the blank lines that separated it, so
/// the file reads as if it had never been written (a file holding only that section becomes
/// empty). An absent section, or one without credential keys, is left as it is; a section
/// holding another key id, a duplicate section, or an owned key continued on indented lines is
/// left alone and reported. Every other byte of `old` comes out as it went in.
pub fn remove(old: &str, removals: &[Removal<'_>]) -> Edit {
    let mut text = old.to_owned();
    let mut refused = Vec::new();
    for (index, removal) in removals.iter().enumerate() {
        if let Some(why) = unusable_section_name(removal.section) {
            refused.push((removal.section.to_owned(), Refusal::UnusableName(why)));
            continue;
        }
        if removals[..index]
            .iter()
            .chain(&removals[index + 1..])
            .any(|r| r.section == removal.section)
        {
            refused.push((removal.section.to_owned(), Refusal::TargetedTwice));
            continue;
        }
        // One removal at a time on the text so far: where a section's neighbour was removed
        // before it, its separators are judged against what is really left.
        match remove_one(&text, removal) {
            Ok(Some(new)) => text = new,
            Ok(None) => {}
            Err(refusal) => refused.push((removal.section.to_owned(), refusal)),
        }
    }
    Edit { text, refused }
}

/// Removes one section's credentials from `text`: the new text, `None` when there is nothing
/// to remove, or why the section must be left alone.
fn remove_one(text: &str, removal: &Removal<'_>) -> Result<Option<String>, Refusal> {
    let lines = ini::lex(text);
    let span = match sections_named(&lines, removal.section).as_slice() {
        [] => return Ok(None),
        [span] => span.clone(),
        many => {
            let numbers = many.iter().map(|s| lines[s.start].number).collect();
            return Err(Refusal::DuplicateSection(numbers));
        }
    };
    let span = span.start..own_end(&lines, span);
    let body = span.start + 1..span.end;
    let removed_key =
        |l: &Line<'_>| key_of(l).and_then(|(k, _)| REMOVED_KEYS.iter().copied().find(|r| *r == k));
    if !lines[body.clone()].iter().any(|l| removed_key(l).is_some()) {
        return Ok(None);
    }
    let ids = access_key_ids(&lines, span.clone());
    if ids.is_empty() || ids.iter().any(|id| id != removal.access_key_id) {
        return Err(Refusal::NotOurs);
    }
    let mut dropped = vec![false; lines.len()];
    for i in body.clone() {
        if let Some(key) = removed_key(&lines[i]) {
            // Its continuation lines would fall to the key above, or stand alone.
            if continues(&lines, i) {
                return Err(Refusal::MultiLineValue(key));
            }
            dropped[i] = true;
        }
    }
    let empty = body
        .clone()
        .all(|i| dropped[i] || matches!(lines[i].kind, Kind::Blank));
    if empty && header_may_go(&lines, span.clone()) {
        drop_section(&lines, span, &mut dropped);
    }
    let eol = ini::dominant_eol(&lines);
    let kept: Vec<Out<'_>> = lines
        .iter()
        .zip(&dropped)
        .filter(|(_, d)| !**d)
        .map(|(l, _)| (Cow::Borrowed(l.text), Cow::Borrowed(l.eol)))
        .collect();
    Ok(Some(join(kept, text, eol)))
}

/// Where a section's own lines end: comments after its last blank line that run straight into
/// the next header introduce that header (`\n# work accounts\n[tail]`), so they are not the
/// section's and do not keep its header from going.
fn own_end(lines: &[Line<'_>], span: std::ops::Range<usize>) -> usize {
    if span.end >= lines.len() {
        return span.end;
    }
    let comments_from = (span.start + 1..span.end)
        .rev()
        .take_while(|&i| matches!(lines[i].kind, Kind::Comment))
        .last()
        .unwrap_or(span.end);
    if comments_from < span.end
        && comments_from > span.start + 1
        && matches!(lines[comments_from - 1].kind, Kind::Blank)
    {
        comments_from
    } else {
        span.end
    }
}

/// Drops the header and the blank body of an emptied section, with the blank lines that
/// separated it, keeping one separator where there is content on both sides: the section's
/// own trailing blank lines if it has any, else the ones before it. Blank lines at the top of
/// a file stay: they separated the section from nothing.
fn drop_section(lines: &[Line<'_>], span: std::ops::Range<usize>, dropped: &mut [bool]) {
    let blank = |i: usize| matches!(lines[i].kind, Kind::Blank);
    let before_start = (0..span.start)
        .rev()
        .take_while(|&i| blank(i))
        .last()
        .unwrap_or(span.start);
    let content_before = (0..before_start).any(|i| !blank(i));
    let content_after = span.end < lines.len();
    let trailing_start = (span.start + 1..span.end)
        .rev()
        .take_while(|&i| blank(i))
        .last()
        .unwrap_or(span.end);
    let has_trailing = trailing_start < span.end;
    let keep_trailing = content_before && content_after && has_trailing;
    let drop_before = content_before && (has_trailing || !content_after);
    let drop_to = if keep_trailing {
        trailing_start
    } else {
        span.end
    };
    let drop_from = if drop_before {
        before_start
    } else {
        span.start
    };
    for d in &mut dropped[drop_from..drop_to] {
        *d = true;
    }
}

/// Whether an emptied section's header can go without changing how the next header reads: a
/// header indented deeper than the last key above the section would continue that key's value.
fn header_may_go(lines: &[Line<'_>], span: std::ops::Range<usize>) -> bool {
    // The next line that can continue a value: blank lines and comments between do not end it.
    let Some(next) = lines[span.end..]
        .iter()
        .find(|l| !matches!(l.kind, Kind::Blank | Kind::Comment))
    else {
        return true;
    };
    let key_above = lines[..span.start]
        .iter()
        .rev()
        .take_while(|l| !matches!(l.kind, Kind::Section(_)))
        .find(|l| matches!(l.kind, Kind::Key { .. }));
    // configparser measures indentation in characters.
    let depth = |l: &Line<'_>| indentation(l.text).chars().count();
    key_above.is_none_or(|key| depth(next) <= depth(key))
}

/// Whether the key at line `at` continues on indented lines: only the next key or header ends
/// its value (blank lines, comments and invalid lines between do not).
fn continues(lines: &[Line<'_>], at: usize) -> bool {
    lines[at + 1..]
        .iter()
        .take_while(|l| !matches!(l.kind, Kind::Key { .. } | Kind::Section(_)))
        .any(|l| matches!(l.kind, Kind::Continuation(_)))
}

/// The values of every `aws_access_key_id` in the section at `span`, as configparser reads
/// them: continuation lines joined with newlines (a blank line among them adds an empty one),
/// trailing white space stripped.
fn access_key_ids(lines: &[Line<'_>], span: std::ops::Range<usize>) -> Vec<String> {
    let mut ids = Vec::new();
    for i in span.clone() {
        let Kind::Key { key, value } = &lines[i].kind else {
            continue;
        };
        if key != "aws_access_key_id" {
            continue;
        }
        let mut parts: Vec<&str> = vec![value];
        for line in &lines[i + 1..span.end] {
            match line.kind {
                Kind::Blank => parts.push(""),
                Kind::Comment | Kind::Invalid(_) => {}
                Kind::Continuation(more) => parts.push(more),
                Kind::Key { .. } | Kind::Section(_) => break,
            }
        }
        ids.push(parts.join("\n").trim_end_matches(ini::py_space).to_owned());
    }
    ids
}

#[cfg(test)]
mod tests;
