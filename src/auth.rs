//! API keys: kept as SHA-256 digests and checked in constant time.
//!
//! A presented key is hashed once and its digest compared with the digest of every configured
//! key, all of them, with `subtle`'s constant-time equality. Digests have one length, so the time
//! a check takes depends neither on the presented key (its length, or how many of its leading
//! bytes are right) nor on which configured key, if any, matched. Comparing the keys themselves
//! would stop early on a length mismatch, and `==` on the first differing byte.
//!
//! Only the digests stay in memory, so no `Debug` print of the settings can show a key.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type KeyDigest = [u8; 32];

/// The accepted bearer keys; several at once while a key is being rotated.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<KeyDigest>);

impl ApiKeys {
    /// Keys as configured; empty ones are skipped.
    pub fn new<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Self {
        Self(keys.into_iter().filter(|k| !k.as_ref().is_empty()).map(|k| digest(k.as_ref())).collect())
    }

    /// No key configured: the service then only listens on loopback and asks for none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `presented` is one of the keys, in time independent of its value.
    pub fn verify(&self, presented: &[u8]) -> bool {
        bool::from(self.compare_all(presented).0)
    }

    /// Compares the presented key's digest with every key's; also returns how many comparisons
    /// ran, so a test can see that a match does not end the loop.
    fn compare_all(&self, presented: &[u8]) -> (Choice, usize) {
        let presented = digest(presented);
        self.0.iter().fold((Choice::from(0), 0), |(matched, compared), key| {
            (matched | key.as_slice().ct_eq(presented.as_slice()), compared + 1)
        })
    }
}

fn digest(key: &[u8]) -> KeyDigest {
    Sha256::digest(key).into()
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} configured)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_key_is_accepted_and_nothing_else() {
        let keys = ApiKeys::new(["old-key-0123456789", "new-key-abcdefghij"]);
        assert_eq!(keys.len(), 2);
        assert!(keys.verify(b"old-key-0123456789"));
        assert!(keys.verify(b"new-key-abcdefghij"));
        for wrong in [
            &b""[..],
            b"old-key",
            b"old-key-012345678",
            b"old-key-01234567890",
            b"xold-key-0123456789",
            b"OLD-KEY-0123456789",
            b"old-key-0123456789\0",
            b"third-key",
        ] {
            assert!(!keys.verify(wrong), "{:?}", String::from_utf8_lossy(wrong));
        }
        assert!(ApiKeys::new([""]).is_empty(), "an empty key is no key");
        assert!(!ApiKeys::default().verify(b""), "no keys accept nothing (the router asks for none then)");
    }

    #[test]
    fn every_key_is_compared_whatever_matches() {
        let keys = ApiKeys::new(["first", "second", "third"]);
        for presented in [&b"first"[..], b"second", b"third", b"none", b"", &[b'x'; 10_000]] {
            let (_, compared) = keys.compare_all(presented);
            assert_eq!(compared, 3, "{:?}", String::from_utf8_lossy(&presented[..presented.len().min(8)]));
        }
        // What is compared has one length, whatever the lengths of the keys and of the input.
        assert!(keys.0.iter().all(|d| d.len() == 32));
        assert_eq!(digest(b"").len(), digest(&[0; 10_000]).len());
    }

    #[test]
    fn debug_never_shows_a_key() {
        let shown = format!("{:?}", ApiKeys::new(["SECRET-key"]));
        assert_eq!(shown, "ApiKeys(1 configured)");
    }
}
