//! Typed identifiers: the gateway's own prefixed ids, the provider kind, and the opaque remote id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a prefixed, uuid-v7-based id type (`cred_0192…`): ids sort by creation time and the
/// prefix makes a misplaced id obvious in logs and support tickets.
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this type starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Parses an id, checking its prefix and the 32 hex digits after it.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let rest = s.strip_prefix($prefix).ok_or(InvalidId(stringify!($name)))?;
                if rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(InvalidId(stringify!($name)))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

prefixed_id!(
    /// A tenant: one SaaS product using the gateway.
    TenantId,
    "ten_"
);
prefixed_id!(
    /// One API key of a tenant (the key's public half; the secret half is never stored).
    ApiKeyId,
    "key_"
);
prefixed_id!(
    /// One stored credential for one CRM account.
    CredentialId,
    "cred_"
);
prefixed_id!(
    /// The gateway's own stable id for a contact, independent of the provider's id.
    ContactId,
    "con_"
);
prefixed_id!(
    /// One reconciliation run of one credential.
    RunId,
    "run_"
);
prefixed_id!(
    /// One entry of the change feed (`GET /events`).
    EventId,
    "evt_"
);

/// A string that is not a valid id of the named type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0}")]
pub struct InvalidId(pub &'static str);

/// The provider's own id for a record. Always a string: Bird uses uuids, Karia and iClosed
/// integers, and callers must never do arithmetic on them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RemoteId(pub String);

impl RemoteId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RemoteId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for RemoteId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// The CRM a credential is bound to. Adding a provider adds a variant here, and the compiler
/// then points at every exhaustive `match` that must learn about it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Bird workspace Contacts API.
    Bird,
    /// Karia organisation/workspace CRM.
    Karia,
    /// iClosed public API v1.
    Iclosed,
}

impl ProviderKind {
    /// Every provider, in a stable order.
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Bird,
        ProviderKind::Karia,
        ProviderKind::Iclosed,
    ];

    /// The provider's name as used in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bird => "bird",
            ProviderKind::Karia => "karia",
            ProviderKind::Iclosed => "iclosed",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name the gateway does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bird" => Ok(ProviderKind::Bird),
            "karia" => Ok(ProviderKind::Karia),
            "iclosed" => Ok(ProviderKind::Iclosed),
            other => Err(UnknownProvider(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_reject_other_prefixes() {
        let id = CredentialId::generate();
        assert!(id.as_str().starts_with("cred_"));
        assert_eq!(CredentialId::parse(id.as_str()), Ok(id.clone()));
        assert!(TenantId::parse(id.as_str()).is_err());
        assert!(CredentialId::parse("cred_123").is_err());
        assert!(CredentialId::parse("cred_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_err());
    }

    #[test]
    fn provider_names_round_trip() {
        for p in ProviderKind::ALL {
            assert_eq!(p.as_str().parse::<ProviderKind>(), Ok(p));
        }
        assert!("hubspot".parse::<ProviderKind>().is_err());
    }
}
