//! Karia API keys. The reference documents `x-api-key: <key>`, the seed guide labels every
//! call "Bearer API key" (docs/providers/karia.md); both headers carry the same key until the
//! production docs settle it, which works under either reading. The key stays in a
//! `SecretString` and is exposed only to build those headers; nothing here prints it.

use std::fmt;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// One Karia API key.
pub(super) struct KariaAuth {
    key: SecretString,
}

impl KariaAuth {
    /// Refuses a key that cannot travel in a header as-is (see [`key_shape_ok`]), so the
    /// headers built per call below cannot fail later.
    pub(super) fn new(key: SecretString) -> Option<Self> {
        if !key_shape_ok(key.expose_secret()) {
            return None;
        }
        let auth = Self { key };
        auth.headers().map(|_| auth)
    }

    /// `(x-api-key, Authorization)` values, marked sensitive so HTTP-level debug output hides
    /// them.
    pub(super) fn headers(&self) -> Option<(HeaderValue, HeaderValue)> {
        let key = self.key.expose_secret();
        let mut api_key = HeaderValue::from_str(key).ok()?;
        api_key.set_sensitive(true);
        let mut bearer = HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
        bearer.set_sensitive(true);
        Some((api_key, bearer))
    }

    /// Removes the key from text that came from the provider: a buggy or hostile upstream
    /// could echo a request header into an error body.
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
/// would reach Karia as something other than the key the user copied from the portal.
pub(super) fn key_shape_ok(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

impl fmt::Debug for KariaAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KariaAuth")
            .field("key", &"[REDACTED]")
            .finish()
    }
}
