//! What the database holds of the secrets that pass through authbridge (docs/security.md).
//!
//! Session tokens are stored as sent (`plain`, what Prisma Client co-tenants look up), or as the
//! lower-case hex SHA-256 of the token (`sha256`): 32 random bytes need no salt or slow hash, and
//! a copy of the table then signs nobody in. The OAuth tokens of `accounts` are sealed with
//! AES-256-GCM under the first of the configured keys, in the text form
//! `ab:v1:<key id>:<base64(nonce || ciphertext || tag)>`; the key id says which key opens it, so
//! keys rotate, and a value without the `ab:v` prefix was written before encryption was switched
//! on and is read as it is.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::ValueEnum;
use rand::RngExt as _;
use sha2::{Digest, Sha256};

/// What the `sessionToken` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SessionTokenStorage {
    /// The token as sent (Prisma Client code that looks sessions up by token needs this).
    #[default]
    Plain,
    /// The lower-case hex SHA-256 of the token.
    Sha256,
    /// As sha256, and sessions stored plain before the switch still sign in: each is rewritten to
    /// its hash on first use.
    Sha256Migrating,
}

impl SessionTokenStorage {
    /// The value the column holds for `token`.
    pub fn stored(self, token: &str) -> Cow<'_, str> {
        match self {
            Self::Plain => Cow::Borrowed(token),
            Self::Sha256 | Self::Sha256Migrating => Cow::Owned(sha256_hex(token)),
        }
    }

    /// Whether a token that matches no hash is looked up as stored plain (and then hashed).
    pub fn upgrades_plain_rows(self) -> bool {
        self == Self::Sha256Migrating
    }
}

pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a stored session token has the form of a hash: 64 lower-case hex characters. Only a
/// value of another form is certainly plain; authbridge's own tokens (32 random bytes in hex)
/// have this form too, so such a value may be either.
pub fn may_be_hashed(stored: &str) -> bool {
    stored.len() == 64 && stored.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every sealed value starts with this; the version follows.
const SEALED: &str = "ab:v";
const V1: &str = "ab:v1:";
const NONCE_LEN: usize = 12;
const KEY_ID_MAX: usize = 32;

/// The keys of `--encryption-keys`: the first seals, every one opens. `Debug` shows the ids only.
#[derive(Clone)]
pub struct EncryptionKeys(Arc<[Key]>);

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// A stored value that does not open: a wrong or missing key, or a value altered in the database.
/// Names the row and the column, never the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the stored {column} of account {account:?} cannot be decrypted: {why}")]
pub struct Undecryptable {
    pub column: &'static str,
    pub account: String,
    pub why: &'static str,
}

impl EncryptionKeys {
    /// `id:base64key` pairs, comma-separated. Errors name the entry, never a key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<Key> = Vec::new();
        for (index, entry) in text.split(',').map(str::trim).enumerate().filter(|(_, e)| !e.is_empty()) {
            let n = index + 1;
            let (id, key) = entry.split_once(':').ok_or_else(|| format!("entry {n} is not `id:base64key`"))?;
            let id_ok = (1..=KEY_ID_MAX).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(format!("entry {n}: a key id is 1 to {KEY_ID_MAX} letters, digits, `-` or `_`"));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(format!("key id {id:?} is given twice"));
            }
            let bytes = STANDARD
                .decode(key)
                .map_err(|_| format!("key {id:?} is not base64 (make one with `openssl rand -base64 32`)"))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| format!("key {id:?} has {} bytes; AES-256 needs 32", bytes.len()))?;
            keys.push(Key { id: id.to_owned(), cipher });
        }
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Self(keys.into()))
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.0[0].id
    }

    /// Whether `stored` is sealed under the current key (nothing for `reencrypt` to do).
    pub fn is_current(&self, stored: &str) -> bool {
        stored.strip_prefix(V1).and_then(|rest| rest.split_once(':')).is_some_and(|(id, _)| id == self.current_id())
    }

    /// Seals `plain` under the current key, bound to its column and row: a sealed value copied to
    /// another account or column does not open.
    pub fn seal(&self, column: &str, account: &str, plain: &str) -> String {
        let key = &self.0[0];
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let aad = associated_data(column, account);
        let sealed = key
            .cipher
            .encrypt(&nonce.into(), Payload { msg: plain.as_bytes(), aad: aad.as_bytes() })
            .expect("AES-GCM seals any value shorter than 64 GiB");
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{V1}{}:{}", key.id, STANDARD.encode(bytes))
    }

    /// The plain value: `stored` itself when it was written before encryption was switched on.
    pub fn open<'a>(
        &self,
        column: &'static str,
        account: &str,
        stored: &'a str,
    ) -> Result<Cow<'a, str>, Undecryptable> {
        if !stored.starts_with(SEALED) {
            return Ok(Cow::Borrowed(stored));
        }
        let fail = |why| Undecryptable { column, account: account.to_owned(), why };
        let (id, body) = stored
            .strip_prefix(V1)
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(|| fail("not in the `ab:v1:<key id>:<base64>` form"))?;
        let key = self.0.iter().find(|k| k.id == id).ok_or_else(|| fail("sealed under a key id not configured"))?;
        let bytes = STANDARD.decode(body).map_err(|_| fail("not base64"))?;
        if bytes.len() < NONCE_LEN {
            return Err(fail("too short"));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| fail("too short"))?;
        let aad = associated_data(column, account);
        let plain = key
            .cipher
            .decrypt(&nonce.into(), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| fail("authentication failed (altered, or moved from another row)"))?;
        String::from_utf8(plain).map(Cow::Owned).map_err(|_| fail("not UTF-8"))
    }
}

fn associated_data(column: &str, account: &str) -> String {
    format!("accounts.{column}.{account}")
}

impl fmt::Debug for EncryptionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|k| &k.id)).finish()
    }
}

/// How the database holds secrets: set once at start-up, read by the models.
#[derive(Debug, Clone, Default)]
pub struct AtRest {
    pub session_tokens: SessionTokenStorage,
    /// `None`: OAuth tokens are stored as sent.
    pub encryption_keys: Option<EncryptionKeys>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "a:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const KEY_B: &str = "b:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    #[test]
    fn sealed_values_open_under_any_configured_key_and_nowhere_else() {
        let old = EncryptionKeys::parse(KEY_A).unwrap();
        let both = EncryptionKeys::parse(&format!("{KEY_B},{KEY_A}")).unwrap();
        let sealed = old.seal("access_token", "acc1", "ya29.secret");
        assert!(sealed.starts_with("ab:v1:a:"), "{sealed}");
        assert!(!sealed.contains("ya29"));
        assert_eq!(both.open("access_token", "acc1", &sealed).unwrap(), "ya29.secret");
        assert!(old.is_current(&sealed) && !both.is_current(&sealed));
        assert_ne!(old.seal("access_token", "acc1", "ya29.secret"), sealed, "a fresh nonce each time");
        assert!(both.open("refresh_token", "acc1", &sealed).is_err(), "bound to its column");
        assert!(both.open("access_token", "acc2", &sealed).is_err(), "bound to its row");
        let only_b = EncryptionKeys::parse(KEY_B).unwrap();
        assert_eq!(
            only_b.open("access_token", "acc1", &sealed).unwrap_err().why,
            "sealed under a key id not configured"
        );
        assert_eq!(only_b.open("access_token", "acc1", "ya29.plain").unwrap(), "ya29.plain");
    }

    #[test]
    fn an_altered_value_is_an_error_that_does_not_quote_it() {
        let keys = EncryptionKeys::parse(KEY_A).unwrap();
        let sealed = keys.seal("id_token", "acc1", "eyJ.secret");
        let mut bytes = STANDARD.decode(sealed.rsplit_once(':').unwrap().1).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("ab:v1:a:{}", STANDARD.encode(&bytes));
        let error = keys.open("id_token", "acc1", &altered).unwrap_err().to_string();
        assert!(error.contains("authentication failed") && !error.contains(&altered[8..]), "{error}");
        for malformed in ["ab:v1:a", "ab:v1:a:***", "ab:v1:a:AAAA", "ab:v2:a:AAAA"] {
            assert!(keys.open("id_token", "acc1", malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn key_lists_are_checked_without_quoting_a_key() {
        for (text, why) in [
            ("", "no key"),
            ("a", "not `id:base64key`"),
            ("a:!!!!", "not base64"),
            ("a:AAAA", "has 3 bytes"),
            ("a b:AAAA", "a key id is"),
            (&format!("{KEY_A},{KEY_A}"), "given twice"),
        ] {
            let error = EncryptionKeys::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
            assert!(!error.contains("AAAA") && !error.contains("!!!!"), "{error}");
        }
        let keys = EncryptionKeys::parse(&format!(" {KEY_B} , {KEY_A} ")).unwrap();
        assert_eq!(keys.current_id(), "b");
        assert_eq!(format!("{keys:?}"), r#"["b", "a"]"#);
    }

    #[test]
    fn hashed_tokens_are_lower_case_hex_sha256() {
        let stored = SessionTokenStorage::Sha256.stored("abc");
        assert_eq!(stored, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(may_be_hashed(&stored) && !may_be_hashed("abc") && !may_be_hashed(&stored.to_uppercase()));
        assert_eq!(SessionTokenStorage::Plain.stored("abc"), "abc");
    }
}
