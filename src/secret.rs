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
}
