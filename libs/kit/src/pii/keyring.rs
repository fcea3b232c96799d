//! Sealing at rest: AES-256-GCM with a random nonce per value, each sealed value stored
//! with the id of the key that sealed it. The active key seals; every configured key opens,
//! so keys rotate by adding a new active key and keeping the old one until its values are
//! re-sealed.

use std::{collections::BTreeMap, fmt};

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, AeadCore, OsRng, Payload},
};
use anyhow::{Context, anyhow, bail};
use uuid::Uuid;

use crate::config::PiiSettings;

/// Bytes of an AES-GCM nonce, stored in front of the ciphertext.
const NONCE_BYTES: usize = 12;

/// A sealed value: the id of the key that sealed it and `nonce ‖ ciphertext ‖ tag`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

/// The configured encryption keys.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl Keyring {
    /// Reads the keys (64 hex digits each) and checks that the active one is among them.
    pub fn new(settings: &PiiSettings) -> anyhow::Result<Self> {
        let mut keys = BTreeMap::new();
        for (id, key) in &settings.encryption_keys {
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!(
                    "pii.encryption_keys: key id {id:?} may hold only letters, digits, '-' and '_'"
                );
            }
            let bytes = hex::decode(key.expose().trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    anyhow!("pii.encryption_keys.{id} must be 64 hex digits (32 bytes)")
                })?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| anyhow!("pii.encryption_keys.{id}: not an AES-256 key"))?;
            keys.insert(id.clone(), cipher);
        }
        if !keys.contains_key(&settings.active_key_id) {
            bail!(
                "pii.active_key_id {:?} is not one of pii.encryption_keys",
                settings.active_key_id
            );
        }
        Ok(Self {
            active: settings.active_key_id.clone(),
            keys,
        })
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Seals `plaintext` with the active key. The tenant is authenticated with it, so a value
    /// copied into another tenant's row does not open.
    pub fn seal(&self, tenant: Uuid, plaintext: &str) -> anyhow::Result<Sealed> {
        let cipher = &self.keys[&self.active];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: tenant.as_bytes(),
        };
        let ciphertext = cipher
            .encrypt(&nonce, payload)
            .map_err(|_| anyhow!("sealing failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(ciphertext);
        Ok(Sealed {
            key_id: self.active.clone(),
            bytes,
        })
    }

    /// Opens a value sealed with any configured key for the same tenant.
    pub fn open(&self, tenant: Uuid, sealed: &Sealed) -> anyhow::Result<String> {
        let cipher = self.keys.get(&sealed.key_id).ok_or_else(|| {
            anyhow!(
                "sealed with key {:?}, which is not configured",
                sealed.key_id
            )
        })?;
        if sealed.bytes.len() < NONCE_BYTES {
            bail!("sealed value too short");
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into()?;
        let payload = Payload {
            msg: ciphertext,
            aad: tenant.as_bytes(),
        };
        let plaintext = cipher
            .decrypt(&nonce.into(), payload)
            .map_err(|_| anyhow!("sealed value does not open with key {:?}", sealed.key_id))?;
        String::from_utf8(plaintext).context("sealed value is not text")
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn ring(active: &str, keys: &[(&str, &str)]) -> anyhow::Result<Keyring> {
        Keyring::new(&PiiSettings {
            encryption_keys: keys
                .iter()
                .map(|(id, key)| (id.to_string(), Secret::new(*key)))
                .collect(),
            active_key_id: active.into(),
            ..PiiSettings::default()
        })
    }

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn a_value_opens_with_its_key_and_tenant_only() {
        let tenant = Uuid::from_u128(7);
        let keyring = ring("k1", &[("k1", K1)]).unwrap();
        let sealed = keyring.seal(tenant, "44030119900101123X").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.bytes.windows(18).any(|w| w == b"44030119900101123X"));
        assert_eq!(keyring.open(tenant, &sealed).unwrap(), "44030119900101123X");
        // A fresh nonce every time: equal numbers do not give equal ciphertexts.
        assert_ne!(keyring.seal(tenant, "44030119900101123X").unwrap(), sealed);
        assert!(keyring.open(Uuid::from_u128(8), &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.bytes.last_mut().unwrap() ^= 1;
        assert!(keyring.open(tenant, &tampered).is_err());
    }

    #[test]
    fn the_active_key_seals_and_every_configured_key_opens() {
        let tenant = Uuid::from_u128(7);
        let old = ring("k1", &[("k1", K1)]).unwrap();
        let sealed_before = old.seal(tenant, "110101199001011234").unwrap();
        let rotated = ring("k2", &[("k1", K1), ("k2", K2)]).unwrap();
        assert_eq!(
            rotated.open(tenant, &sealed_before).unwrap(),
            "110101199001011234"
        );
        let sealed_after = rotated.seal(tenant, "110101199001011234").unwrap();
        assert_eq!(sealed_after.key_id, "k2");
        let err = old.open(tenant, &sealed_after).unwrap_err();
        assert!(err.to_string().contains("not configured"), "{err}");
    }

    #[test]
    fn bad_keys_are_refused_and_never_printed() {
        assert!(ring("k1", &[("k1", "abcd")]).is_err());
        assert!(ring("k9", &[("k1", K1)]).is_err());
        assert!(ring("k 1", &[("k 1", K1)]).is_err());
        let keyring = ring("k1", &[("k1", K1)]).unwrap();
        assert!(!format!("{keyring:?}").contains(K1));
    }
}
