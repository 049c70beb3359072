//! Envelope for credential secrets: AES-256-GCM under a versioned master key ring, a fresh
//! random nonce per encryption, and caller-chosen associated data (the credential id).

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::error::{Result, StoreError};

/// The environment variable that holds the master key; named in errors so an operator knows
/// what to fix.
pub const MASTER_KEY_VAR: &str = "CRM_GATEWAY_MASTER_KEY";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// The master key ring: one AES-256-GCM key per version, and the version new encryptions use.
/// Older versions stay so secrets sealed before a rotation still open.
#[derive(Clone)]
pub struct Cipher {
    current: u32,
    keys: BTreeMap<u32, Aes256Gcm>,
}

/// One sealed secret as stored: which master key sealed it, the nonce, and the ciphertext with
/// its authentication tag. Holds nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The master key version that sealed it.
    pub key_version: u32,
    /// The 96-bit nonce, fresh for every encryption.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte GCM tag.
    pub ciphertext: Vec<u8>,
}

impl Cipher {
    /// A key ring from raw 32-byte keys. `current_version` must be one of them.
    pub fn new(current_version: u32, keys: Vec<(u32, SecretSlice<u8>)>) -> Result<Cipher> {
        let mut ring = BTreeMap::new();
        for (version, key) in keys {
            let bytes = key.expose_secret();
            if bytes.len() != KEY_LEN {
                return Err(StoreError::Crypto(format!(
                    "master key version {version} must be {KEY_LEN} bytes, got {}",
                    bytes.len()
                )));
            }
            let aead = Aes256Gcm::new_from_slice(bytes).map_err(|_| {
                StoreError::Crypto(format!("master key version {version} is unusable"))
            })?;
            if ring.insert(version, aead).is_some() {
                return Err(StoreError::Crypto(format!(
                    "master key version {version} is given twice"
                )));
            }
        }
        if !ring.contains_key(&current_version) {
            return Err(StoreError::Crypto(format!(
                "no master key for the current version {current_version}"
            )));
        }
        Ok(Cipher {
            current: current_version,
            keys: ring,
        })
    }

    /// The key ring of a single master key, as given in `CRM_GATEWAY_MASTER_KEY`: base64
    /// (standard or URL-safe, padding optional) of exactly 32 bytes, becoming version 1.
    pub fn from_base64(master_key_b64: &SecretString) -> Result<Cipher> {
        Cipher::new(
            1,
            vec![(1, decode_master_key(MASTER_KEY_VAR, master_key_b64)?)],
        )
    }

    /// A fresh random master key in the form `from_base64` accepts, for `demo` and tests.
    pub fn generate_master_key() -> SecretString {
        let mut bytes = secrecy::zeroize::Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        SecretString::from(STANDARD.encode(bytes.as_ref()))
    }

    /// The version new encryptions use.
    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Every version this ring can open, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Seals `plaintext` under the current key with a fresh random nonce, binding `aad` so the
    /// result only opens for the same associated data.
    pub fn encrypt(&self, aad: &str, plaintext: &[u8]) -> Result<Sealed> {
        let aead = self
            .keys
            .get(&self.current)
            .ok_or_else(|| StoreError::Crypto("current master key missing".into()))?;
        // Random 96-bit nonces: the collision bound (2^32 encryptions per key) is far beyond
        // what credential writes reach, and key rotation resets it.
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
        Ok(Sealed {
            key_version: self.current,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a sealed secret. Unknown key version, other associated data or any tampering all
    /// fail with `StoreError::Crypto`.
    pub fn decrypt(&self, aad: &str, sealed: &Sealed) -> Result<Vec<u8>> {
        let aead = self.keys.get(&sealed.key_version).ok_or_else(|| {
            StoreError::Crypto(format!("no master key for version {}", sealed.key_version))
        })?;
        if sealed.nonce.len() != NONCE_LEN {
            return Err(StoreError::Crypto(format!(
                "nonce must be {NONCE_LEN} bytes"
            )));
        }
        aead.decrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| {
            StoreError::Crypto(
                "decryption failed: wrong master key, wrong associated data or tampered ciphertext"
                    .into(),
            )
        })
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field("current_version", &self.current)
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

/// Decodes a master key as every reader of one accepts it: base64, standard or URL-safe, with
/// or without padding, of exactly 32 bytes; surrounding whitespace is ignored. `name` (the
/// setting or variable it came from) is named in errors, the key never is.
pub fn decode_master_key(name: &str, b64: &SecretString) -> Result<SecretSlice<u8>> {
    // A key pasted from a file often ends in a newline; that is not an operator error.
    let text = b64.expose_secret().trim();
    let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(SecretSlice::from)
        .ok_or_else(|| {
            StoreError::Crypto(format!(
                "{name} is not valid base64 (expected base64 of {KEY_LEN} bytes)"
            ))
        })?;
    let len = decoded.expose_secret().len();
    if len != KEY_LEN {
        return Err(StoreError::Crypto(format!(
            "{name} must be base64 of exactly {KEY_LEN} bytes, but it decodes to {len} bytes"
        )));
    }
    Ok(decoded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretSlice<u8> {
        SecretSlice::from(vec![byte; KEY_LEN])
    }

    #[test]
    fn round_trips_and_binds_associated_data() {
        let c = Cipher::new(1, vec![(1, key(7))]).unwrap();
        let sealed = c.encrypt("cred_a", b"hunter2").unwrap();
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(c.decrypt("cred_a", &sealed).unwrap(), b"hunter2");
        assert!(matches!(
            c.decrypt("cred_b", &sealed),
            Err(StoreError::Crypto(_))
        ));
    }

    #[test]
    fn rejects_bad_key_rings() {
        assert!(Cipher::new(1, vec![(1, SecretSlice::from(vec![0u8; 16]))]).is_err());
        assert!(Cipher::new(2, vec![(1, key(1))]).is_err());
        assert!(Cipher::new(1, vec![(1, key(1)), (1, key(2))]).is_err());
    }

    #[test]
    fn generated_master_keys_are_accepted() {
        let k = Cipher::generate_master_key();
        assert_eq!(Cipher::from_base64(&k).unwrap().current_version(), 1);
    }
}
