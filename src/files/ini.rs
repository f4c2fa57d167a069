//! A line-level reader for AWS's INI dialect, faithful to Python's `configparser`.
//!
//! botocore reads `~/.aws/config` and `~/.aws/credentials` with `configparser.RawConfigParser`,
//! so that is the dialect we follow, rule for rule:
//! - a line whose stripped text starts with `#` or `;` is a comment (no inline comments:
//!   `key = x ; y` has the value `x ; y`);
//! - a line indented deeper than the key above it continues that key's value (this is how
//!   `s3 =` blocks nest), comments and blank lines in between do not end the value;
//! - `[name]` opens a section; the name runs to the *last* `]` of the line and is not trimmed;
//! - `key = value` or `key: value`, split at the first `=` or `:`; keys are lowercased;
//! - quotes and backslashes are plain characters.
//!
//! [`lex`] classifies every line and keeps its exact text and line ending, so the credentials
//! editor can copy untouched lines byte for byte and the config reader can see what botocore
//! sees. rust-ini is not used for either job: it drops comments, unquotes and unescapes values
//! and flattens indented sub-settings, all of which change what botocore reads.

/// One physical line of an INI file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    /// The line's text without its line ending.
    pub text: &'a str,
    /// The line ending: `"\n"`, `"\r\n"`, `"\r"` (Python's universal newlines end a line at a
    /// lone carriage return too) or `""` for a last line without one.
    pub eol: &'a str,
    /// What the line is.
    pub kind: Kind<'a>,
}

/// What a line is, as `configparser` would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// Only white space.
    Blank,
    /// A full-line `#` or `;` comment.
    Comment,
    /// `[name]`: the text between the first `[` and the last `]`, untrimmed.
    Section(&'a str),
    /// `key = value`: key lowercased and trimmed, value trimmed.
    Key { key: String, value: &'a str },
    /// An indented line that continues the value of the key above (trimmed).
    Continuation(&'a str),
    /// A line configparser rejects (a key before any section, no `=` or `:`, empty key).
    Invalid(&'static str),
}

/// Splits `text` into classified lines. Every byte of `text` is in exactly one line's
/// `text` or `eol`, so concatenating them gives `text` back.
pub fn lex(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut in_section = false;
    // Indentation of the key whose value may continue, when there is one.
    let mut key_indent: Option<usize> = None;
    for (index, (body, eol)) in split_lines(text).into_iter().enumerate() {
        let trimmed = py_trim(body);
        // Python measures indentation in characters (`re.search(r"\S", line).start()`).
        let indent = body.chars().take_while(|&c| py_space(c)).count();
        let kind = if trimmed.is_empty() {
            Kind::Blank
        } else if trimmed.starts_with('#') || trimmed.starts_with(';') {
            Kind::Comment
        } else if key_indent.is_some_and(|k| indent > k) {
            Kind::Continuation(trimmed)
        } else if let Some(name) = section_name(trimmed) {
            in_section = true;
            key_indent = None;
            Kind::Section(name)
        } else if !in_section {
            Kind::Invalid("a setting before any [section] header")
        } else {
            match split_key(trimmed) {
                Some((key, value)) => {
                    key_indent = Some(indent);
                    Kind::Key { key, value }
                }
                None => Kind::Invalid("a line that is neither `[section]` nor `key = value`"),
            }
        };
        out.push(Line {
            number: index + 1,
            text: body,
            eol,
            kind,
        });
    }
    out
}

/// The name of a `[section]` header, or `None` when `trimmed` is not one.
fn section_name(trimmed: &str) -> Option<&str> {
    let rest = trimmed.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Splits `key = value` at the first `=` or `:`; the key is lowercased as configparser does.
fn split_key(trimmed: &str) -> Option<(String, &str)> {
    let at = trimmed.find(['=', ':'])?;
    let key = trimmed[..at].trim_end_matches(py_space);
    if key.is_empty() {
        return None;
    }
    Some((key.to_lowercase(), py_trim(&trimmed[at + 1..])))
}

/// Python's idea of white space (`str.isspace`, `re`'s `\s`): Unicode `White_Space` plus the
/// four information separators U+001C..U+001F, which Rust's `char::is_whitespace` leaves out.
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_trim(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// Splits text into (line, ending) pairs the way Python's text-mode files do (universal
/// newlines: `\n`, `\r\n` or a lone `\r` ends a line); a final line without an ending is kept.
fn split_lines(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(at) => {
                let eol_len = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                out.push((&rest[..at], &rest[at..at + eol_len]));
                rest = &rest[at + eol_len..];
            }
            None => {
                out.push((rest, ""));
                rest = "";
            }
        }
    }
    out
}

/// The line ending a file mostly uses (LF, CRLF or a lone CR), LF when there is none.
pub fn dominant_eol(lines: &[Line<'_>]) -> &'static str {
    let count = |eol: &str| lines.iter().filter(|l| l.eol == eol).count();
    let (lf, crlf, cr) = (count("\n"), count("\r\n"), count("\r"));
    if crlf > lf && crlf >= cr {
        "\r\n"
    } else if cr > lf && cr > crlf {
        "\r"
    } else {
        "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind<'_>> {
        lex(text).into_iter().map(|l| l.kind).collect()
    }

    /// Concatenating every line's text and ending gives the input back, byte for byte.
    #[test]
    fn lossless() {
        for text in [
            "",
            "\n",
            "[a]\nk=v",
            "[a]\r\nk = v\r\n\r\n# c\r\n",
            "[a]\n k = v\n\tmore\n",
            "no newline at all",
            "\r\n\r\n",
            "[a]\rk=v\n",
        ] {
            let back: String = lex(text)
                .iter()
                .map(|l| format!("{}{}", l.text, l.eol))
                .collect();
            assert_eq!(back, text);
        }
    }

    /// Each rule of configparser's reader, one row each.
    #[test]
    fn classification() {
        use Kind::*;
        let key = |k: &str, v| Key {
            key: k.to_owned(),
            value: v,
        };
        let table: Vec<(&str, Vec<Kind<'_>>)> = vec![
            ("[dev]\n", vec![Section("dev")]),
            ("[ dev ]\n", vec![Section(" dev ")]),
            ("[dev] # note\n", vec![Section("dev")]),
            ("[a]b]\n", vec![Section("a]b")]),
            (
                "[]\n",
                vec![Invalid("a setting before any [section] header")],
            ),
            ("[s]\nKey = V\n", vec![Section("s"), key("key", "V")]),
            ("[s]\nk: v = w\n", vec![Section("s"), key("k", "v = w")]),
            (
                "[s]\nk = x ; not a comment\n",
                vec![Section("s"), key("k", "x ; not a comment")],
            ),
            (
                "[s]\nk = \"q\\t\"\n",
                vec![Section("s"), key("k", "\"q\\t\"")],
            ),
            ("[s]\n  ; c\n# c\n", vec![Section("s"), Comment, Comment]),
            (
                "[s]\ns3 =\n  max = 20\n\n  # c\n  style = path\nk = v\n",
                vec![
                    Section("s"),
                    key("s3", ""),
                    Continuation("max = 20"),
                    Blank,
                    Comment,
                    Continuation("style = path"),
                    key("k", "v"),
                ],
            ),
            ("[s]\n  [t]\n", vec![Section("s"), Section("t")]),
            (
                "[s]\nk = v\n  [t]\n",
                vec![Section("s"), key("k", "v"), Continuation("[t]")],
            ),
            (
                "k = v\n",
                vec![Invalid("a setting before any [section] header")],
            ),
            (
                "[s]\njunk\n",
                vec![
                    Section("s"),
                    Invalid("a line that is neither `[section]` nor `key = value`"),
                ],
            ),
            (
                "[s]\n= v\n",
                vec![
                    Section("s"),
                    Invalid("a line that is neither `[section]` nor `key = value`"),
                ],
            ),
        ];
        for (text, want) in table {
            assert_eq!(kinds(text), want, "input: {text:?}");
        }
    }

    /// Python reads files with universal newlines: a lone `\r` ends a line too.
    #[test]
    fn lone_carriage_return_ends_a_line() {
        let lines = lex("[a]\rk = v\r\nx = y\r");
        let eols: Vec<&str> = lines.iter().map(|l| l.eol).collect();
        assert_eq!(eols, ["\r", "\r\n", "\r"]);
        assert_eq!(lines[0].kind, Kind::Section("a"));
        assert_eq!(
            lines[1].kind,
            Kind::Key {
                key: "k".to_owned(),
                value: "v"
            }
        );
    }

    /// White space is Python's (U+001C..U+001F count), and indentation is counted in
    /// characters, not bytes, as `configparser` does.
    #[test]
    fn python_white_space_and_indent() {
        use Kind::*;
        assert_eq!(
            kinds("\u{1c}[a]\u{1f}\nk\u{1d} = v\u{1e}\n"),
            vec![
                Section("a"),
                Key {
                    key: "k".to_owned(),
                    value: "v"
                }
            ]
        );
        // U+3000 is one character (three bytes): two spaces are deeper.
        assert_eq!(
            kinds("[s]\n\u{3000}k = v\n  more\n"),
            vec![
                Section("s"),
                Key {
                    key: "k".to_owned(),
                    value: "v"
                },
                Continuation("more")
            ]
        );
    }

    /// CRLF files are recognised, so added lines can match them.
    #[test]
    fn eol_detection() {
        assert_eq!(dominant_eol(&lex("[a]\r\nk=v\r\n")), "\r\n");
        assert_eq!(dominant_eol(&lex("[a]\nk=v")), "\n");
        assert_eq!(dominant_eol(&lex("")), "\n");
        assert_eq!(dominant_eol(&lex("[a]\rk=v\r")), "\r");
    }
}
