//! `Authorization: AccessKey <key>` (docs/providers/bird.md). The key stays in a `SecretString`
//! and is exposed only to build that header; nothing here prints it.

use std::fmt;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// One Bird access key.
pub(super) struct BirdAuth {
    key: SecretString,
}

impl BirdAuth {
    /// Refuses a key that cannot travel in a header as-is (see [`key_shape_ok`]), so the
    /// header built per call below cannot fail later.
    pub(super) fn new(key: SecretString) -> Option<Self> {
        if !key_shape_ok(key.expose_secret()) {
            return None;
        }
        let auth = Self { key };
        auth.header().map(|_| auth)
    }

    /// The header value, marked sensitive so HTTP-level debug output hides it.
    pub(super) fn header(&self) -> Option<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("AccessKey {}", self.key.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Removes the key from text that came from the provider: a buggy or hostile upstream
    /// could echo the Authorization header into an error body.
    pub(super) fn redact(&self, text: &str) -> String {
        let key = self.key.expose_secret();
        if key.is_empty() || !text.contains(key) {
            text.to_owned()
        } else {
            text.replace(key, "[REDACTED]")
        }
    }
}

/// Printable ASCII without spaces: header bytes outside it are obsolete (RFC 9110, section 5.5) and
/// would reach Bird as something other than the key the user typed.
pub(super) fn key_shape_ok(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

impl fmt::Debug for BirdAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BirdAuth")
            .field("key", &"[REDACTED]")
            .finish()
    }
}
