//! Personal data under China's PIPL: identity numbers compared by a keyed hash, sealed at
//! rest, and phone numbers masked for whoever does not need them.
//!
//! PIPL art. 51 asks for encryption and de-identification of personal data; art. 6 limits
//! processing (showing a number included) to what the purpose needs. An identity number has
//! a known structure (region, birth date, sequence, check digit), so an unkeyed hash of it is
//! reversed by enumeration: the hash here is keyed, and the key never leaves configuration.

mod keyring;

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

pub use keyring::{Keyring, Sealed};

use crate::config::PiiSettings;

/// The form an identity number is compared in: no surrounding spaces, letters upper case
/// (the check character `X` is written either way on forms).
pub fn normalise_id_number(id_number: &str) -> String {
    id_number.trim().to_ascii_uppercase()
}

/// The keyed hash that identity numbers are compared and looked up by. Every service that
/// compares identities holds the same key, so a hash computed by one matches in another.
#[derive(Clone)]
pub struct IdentityKey(Hmac<Sha256>);

impl IdentityKey {
    pub fn new(settings: &PiiSettings) -> Self {
        // HMAC takes a key of any length; validation requires at least 32 bytes.
        let mac = Hmac::<Sha256>::new_from_slice(settings.hmac_key.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("hmac accepts keys of every length"));
        Self(mac)
    }

    /// HMAC-SHA256 (hex) of "<tenant>:<normalised number>": bound to the tenant, so one
    /// tenant's hashes say nothing about another's buyers.
    pub fn hmac(&self, tenant: Uuid, id_number: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(tenant.as_bytes());
        mac.update(b":");
        mac.update(normalise_id_number(id_number).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey(***)")
    }
}

/// A phone number with its middle hidden, `138****8000`: the first three and last four
/// digits stay when at least four remain hidden, as Chinese services print them.
pub fn mask_phone(phone: &str) -> String {
    const HIDDEN_AT_LEAST: usize = 4;
    let chars: Vec<char> = phone.chars().collect();
    let len = chars.len();
    let head = 3.min(len.saturating_sub(HIDDEN_AT_LEAST + 4));
    let tail = 4.min(len.saturating_sub(head + HIDDEN_AT_LEAST));
    let mut masked: String = chars[..head].iter().collect();
    masked.extend(std::iter::repeat_n('*', len - head - tail));
    masked.extend(&chars[len - tail..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings(hmac_key: &str) -> PiiSettings {
        PiiSettings {
            hmac_key: Secret::new(hmac_key),
            ..PiiSettings::default()
        }
    }

    #[test]
    fn the_identity_hash_is_keyed_tenant_bound_and_ignores_case_and_spaces() {
        let tenant = Uuid::from_u128(1);
        let key = IdentityKey::new(&settings("a-key-of-at-least-thirty-two-bytes!!"));
        let hash = key.hmac(tenant, "44030119900101123X");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, key.hmac(tenant, " 44030119900101123x "));
        assert_ne!(hash, key.hmac(Uuid::from_u128(2), "44030119900101123X"));
        let other = IdentityKey::new(&settings("another-key-of-at-least-thirty-two-bytes"));
        assert_ne!(hash, other.hmac(tenant, "44030119900101123X"));
        // Not the unkeyed SHA-256 it replaces.
        use sha2::Digest;
        let unkeyed = hex::encode(Sha256::digest(format!("{tenant}:44030119900101123X")));
        assert_ne!(hash, unkeyed);
        assert_eq!(format!("{key:?}"), "IdentityKey(***)");
    }

    #[test]
    fn phones_keep_only_their_ends() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("8613800138000"), "861******8000");
        assert_eq!(mask_phone("12345678"), "****5678");
        assert_eq!(mask_phone("1234567"), "****567");
        assert_eq!(mask_phone(""), "");
    }
}
