//! `Authorization: Bearer <key>` (docs/providers/iclosed.md), the key sent exactly as stored. The key
//! stays in a `SecretString` and is exposed only to build that header; nothing here prints it.

use std::fmt;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// The portal and the live service use `iclosed_`; the seed and the older docs `iclosed-`
/// (docs/providers/iclosed.md). Both are accepted and sent unchanged: which one a key has is iClosed's business.
const PREFIXES: [&str; 2] = ["iclosed_", "iclosed-"];

/// One iClosed API key.
pub(super) struct IclosedAuth {
    key: SecretString,
}

impl IclosedAuth {
    /// Refuses a key of the wrong shape (see [`key_shape_ok`]), so the header built per call
    /// below cannot fail later.
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
            HeaderValue::from_str(&format!("Bearer {}", self.key.expose_secret())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Removes the key (and the part after its prefix, which iClosed compares) from text that
    /// came from the provider: a buggy or hostile upstream could echo it into an error body.
    pub(super) fn redact(&self, text: &str) -> String {
        let key = self.key.expose_secret();
        let mut out = text.to_owned();
        if !key.is_empty() && out.contains(key) {
            out = out.replace(key, "[REDACTED]");
        }
        if let Some(rest) = PREFIXES.iter().find_map(|p| key.strip_prefix(p)) {
            // A short remainder would redact ordinary words; only scrub a real-looking one.
            if rest.len() >= 8 && out.contains(rest) {
                out = out.replace(rest, "[REDACTED]");
            }
        }
        out
    }
}

/// `iclosed_` or `iclosed-` then at least one more character, all printable ASCII without
/// spaces: other header bytes are obsolete (RFC 9110, section 5.5) and would reach iClosed as
/// something other than the key the user typed.
pub(super) fn key_shape_ok(key: &str) -> bool {
    PREFIXES
        .iter()
        .any(|p| key.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

impl fmt::Debug for IclosedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IclosedAuth")
            .field("key", &"[REDACTED]")
            .finish()
    }
}
