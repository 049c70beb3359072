//! Opaque list cursors: base64url JSON that callers must not parse. Each cursor is bound to
//! what it pages, so a cursor from one credential cannot be replayed against another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Position in `GET /credentials`.
#[derive(Serialize, Deserialize)]
pub struct CredentialCursor {
    /// Last id of the previous page.
    #[serde(rename = "a")]
    pub after: String,
}

/// Position in a list ordered by id (`GET /admin/tenants`, `GET /admin/tenants/{id}/keys`).
#[derive(Serialize, Deserialize)]
pub struct AfterId {
    /// Last id of the previous page.
    #[serde(rename = "a")]
    pub after: String,
}

/// Position in `GET /crm/contacts`: first the provider's own listing, then (with
/// `includeDeleted=true`) the index's tombstones.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct ContactCursor {
    /// The credential this cursor belongs to.
    #[serde(rename = "c")]
    pub credential: String,
    /// The adapter's position in the provider listing.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Paging tombstones now.
    #[serde(rename = "d", default)]
    pub tombstones: bool,
    /// Last tombstone id returned.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub after_tombstone: Option<String>,
    /// The page size of the first page: offset- and page-number-based providers would skip
    /// or repeat contacts if it changed mid-listing, so later pages keep it.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// Encodes a cursor.
pub fn encode<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// Decodes a cursor; anything tampered with is a 400 naming `cursor`.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_parameter(
                "cursor",
                "invalid cursor; pass pageInfo.nextCursor from the previous page unchanged",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = ContactCursor {
            credential: "cred_x".into(),
            provider: Some("tok".into()),
            tombstones: false,
            after_tombstone: None,
            page_size: Some(7),
        };
        let text = encode(&c);
        assert_eq!(decode::<ContactCursor>(&text).ok(), Some(c));
        assert!(decode::<ContactCursor>("not-a-cursor!").is_err());
        assert!(decode::<ContactCursor>(&encode(&serde_json::json!({"x": 1}))).is_err());
    }
}
