//! Secret values (tokens, keys, client secrets) that must never be printed.
//!
//! [`Secret`] wraps a `String`; its `Debug` and `Display` print `** redacted **`, so a secret
//! that ends up in a log line, an error or a panic message shows nothing. The only way to the
//! value is [`Secret::expose`], which is greppable and used where the value leaves the process
//! for its rightful destination (an HTTP header, the credentials file, the token cache).

use std::fmt;

/// A string that is never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: call only where it goes to its rightful destination.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

const REDACTED: &str = "** redacted **";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Blanks out every one of `secrets` in ssofresh's own message `text`, which is kept whole
/// (its advice is at the end).
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        if !value.is_empty() {
            text = text.replace(value, REDACTED);
        }
    }
    text
}

/// The most of a text from a service (an error message or description) that is shown.
pub const MAX_SHOWN: usize = 200;

/// A service-provided text made fit for a log line: control characters replaced, cut to
/// [`MAX_SHOWN`] characters, and any of `secrets` blanked out.
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        if !value.is_empty() {
            text = text.replace(value, "** redacted **");
        }
    }
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SHOWN)
        .collect();
    if text.chars().count() > MAX_SHOWN {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither formatting trait reveals the value, not even nested in a struct's Debug.
    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("AQoDYXdzEJr-very-secret");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{s}"), REDACTED);
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let shown = format!("{:?}", Holder { token: s.clone() });
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(s.expose(), "AQoDYXdzEJr-very-secret");
    }

    /// Regression (review 6): ssofresh's own messages are redacted, never cut: the advice at
    /// the end of a long one (what to check) survives; service texts are cut and cleaned.
    #[test]
    fn redact_keeps_the_whole_message_and_scrub_cuts_service_text() {
        let token = Secret::new("aoaAAAAAGk3example-access-token");
        let advice = "; check sso_region in the profile, or AWS_ENDPOINT_URL_SSO_OIDC";
        let long = format!(
            "{} with aoaAAAAAGk3example-access-token{advice}",
            "x".repeat(300)
        );
        let shown = redact(&long, &[&token]);
        assert!(shown.ends_with(advice), "{shown}");
        assert!(!shown.contains("example-access-token"), "{shown}");
        assert_eq!(redact("fine", &[&Secret::new("")]), "fine");
        let service = scrub(&format!("{long}\nforged line"), &[&token]);
        assert_eq!(service.chars().count(), MAX_SHOWN + 1);
        assert!(!service.contains('\n'), "{service}");
    }
}
