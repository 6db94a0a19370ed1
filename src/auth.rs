//! API keys: named, scoped, kept as SHA-256 digests and checked in constant time.
//!
//! A presented key is hashed once and its digest compared with the digest of every configured
//! key, all of them, with `subtle`'s constant-time equality; which key matched is picked with a
//! constant-time select, not a branch. Digests have one length, so the time a check takes
//! depends neither on the presented key (its length, or how many of its leading bytes are right)
//! nor on which configured key, if any, matched. Comparing the keys themselves would stop early
//! on a length mismatch, and `==` on the first differing byte.
//!
//! Only the digests stay in memory, so no `Debug` print of the settings can show a key.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

type KeyDigest = [u8; 32];

/// What a key may do. Each route declares the scopes that let a key call it, as the security
/// requirement of its `#[utoipa::path]` (so the OpenAPI document shows them too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::EnumIter)]
pub enum Scope {
    /// The Auth.js adapter's methods.
    #[strum(serialize = "adapter")]
    Adapter,
    /// `getSessionAndUser` only: for back ends that only check a session cookie.
    #[strum(serialize = "session:read")]
    SessionRead,
    /// Listing, revoking and rotating sessions, and their statistics.
    #[strum(serialize = "sessions:manage")]
    SessionsManage,
    /// The purge of expired rows.
    #[strum(serialize = "maintenance")]
    Maintenance,
    /// `/metrics` and `/openapi.json`.
    #[strum(serialize = "ops")]
    Ops,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        <Scope as strum::IntoEnumIterator>::iter().collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether this set holds any of `wanted`.
    pub fn allows(self, wanted: &[Scope]) -> bool {
        wanted.iter().any(|scope| self.contains(*scope))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        Self(scopes.into_iter().fold(0, |set, scope| set | scope.bit()))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = <Scope as strum::IntoEnumIterator>::iter().filter(|s| self.contains(*s)).map(Scope::as_str);
        f.debug_set().entries(names).finish()
    }
}

/// The name of a key given without one (the old one-key-per-line form, or the environment).
pub const UNNAMED: &str = "unnamed";

/// Who a valid key is: its name (for logs and metrics, in place of the key) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIdentity {
    pub name: String,
    pub scopes: Scopes,
}

/// The name of the key a request came with, in the request's and the response's extensions: the
/// handlers' audit lines, the request log line and the metrics name it in place of the key.
#[derive(Debug, Clone)]
pub struct CallerKey(pub String);

impl CallerKey {
    /// The name logged when the request carried no valid key or none was needed.
    pub const NONE: &str = "-";

    /// The name in these extensions, or [`Self::NONE`].
    pub fn name_in(extensions: &axum::http::Extensions) -> &str {
        extensions.get::<Self>().map_or(Self::NONE, |key| key.0.as_str())
    }
}

/// One configured key.
#[derive(Clone)]
pub struct ApiKey {
    identity: KeyIdentity,
    digest: KeyDigest,
}

impl ApiKey {
    /// A key with every scope, named [`UNNAMED`].
    pub fn unscoped(key: &str) -> Self {
        Self::named(UNNAMED, Scopes::all(), key)
    }

    pub fn named(name: &str, scopes: Scopes, key: &str) -> Self {
        Self { identity: KeyIdentity { name: name.to_owned(), scopes }, digest: digest(key.as_bytes()) }
    }
}

/// One line of a key file: `<key>` (every scope) or `<name> <scope>[,<scope>…] <key>`. Errors
/// never quote the line: it holds a key.
impl FromStr for ApiKey {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, String> {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [key] => Ok(Self::unscoped(key)),
            [name, scopes, key] => {
                let name_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !name_ok {
                    return Err("a key name may only hold ASCII letters, digits, '-', '_' and '.'".into());
                }
                let scopes = scopes
                    .split(',')
                    .map(|scope| {
                        Scope::from_str(scope).map_err(|_| {
                            let known: Vec<&str> =
                                <Scope as strum::IntoEnumIterator>::iter().map(Scope::as_str).collect();
                            format!("unknown scope {scope:?} (known: {})", known.join(", "))
                        })
                    })
                    .collect::<Result<Scopes, String>>()?;
                Ok(Self::named(name, scopes, key))
            }
            _ => Err("expected `<key>` or `<name> <scopes> <key>`".into()),
        }
    }
}

/// The accepted bearer keys; several at once while a key is being rotated.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<ApiKey>);

impl ApiKeys {
    /// Unnamed keys with every scope; empty ones are skipped.
    pub fn new<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) -> Self {
        Self(keys.into_iter().filter(|k| !k.as_ref().is_empty()).map(|k| ApiKey::unscoped(k.as_ref())).collect())
    }

    /// No key configured: the service then only listens on loopback and asks for none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The key `presented` is, found in time independent of its value.
    pub fn verify(&self, presented: &[u8]) -> Option<&KeyIdentity> {
        let (matched, index, _) = self.compare_all(presented);
        let index = usize::try_from(index).expect("a key index fits in usize");
        bool::from(matched).then(|| &self.0[index].identity)
    }

    /// Compares the presented key's digest with every key's; returns whether one matched, which
    /// one, and how many comparisons ran, so a test can see that a match does not end the loop.
    fn compare_all(&self, presented: &[u8]) -> (Choice, u64, usize) {
        let presented = digest(presented);
        self.0.iter().fold((Choice::from(0), 0, 0), |(matched, index, compared), key| {
            let this = key.digest.as_slice().ct_eq(presented.as_slice());
            let position = compared as u64;
            (matched | this, u64::conditional_select(&index, &position, this), compared + 1)
        })
    }
}

impl FromIterator<ApiKey> for ApiKeys {
    fn from_iter<I: IntoIterator<Item = ApiKey>>(keys: I) -> Self {
        Self(keys.into_iter().collect())
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

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey").field("identity", &self.identity).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_key_is_accepted_and_nothing_else() {
        let keys = ApiKeys::new(["old-key-0123456789", "new-key-abcdefghij"]);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.verify(b"old-key-0123456789").map(|k| k.scopes), Some(Scopes::all()));
        assert!(keys.verify(b"new-key-abcdefghij").is_some());
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
            assert!(keys.verify(wrong).is_none(), "{:?}", String::from_utf8_lossy(wrong));
        }
        assert!(ApiKeys::new([""]).is_empty(), "an empty key is no key");
        assert!(ApiKeys::default().verify(b"").is_none(), "no keys accept nothing (the router asks for none then)");
    }

    #[test]
    fn every_key_is_compared_whatever_matches() {
        let keys = ApiKeys::new(["first", "second", "third"]);
        for presented in [&b"first"[..], b"second", b"third", b"none", b"", &[b'x'; 10_000]] {
            let (_, _, compared) = keys.compare_all(presented);
            assert_eq!(compared, 3, "{:?}", String::from_utf8_lossy(&presented[..presented.len().min(8)]));
        }
        // What is compared has one length, whatever the lengths of the keys and of the input.
        assert!(keys.0.iter().all(|k| k.digest.len() == 32));
        assert_eq!(digest(b"").len(), digest(&[0; 10_000]).len());
    }

    #[test]
    fn debug_never_shows_a_key() {
        let shown = format!("{:?}", ApiKeys::new(["SECRET-key"]));
        assert_eq!(shown, "ApiKeys(1 configured)");
        let shown = format!("{:?}", "checker session:read SECRET-key".parse::<ApiKey>().unwrap());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("checker") && shown.contains("session:read"), "{shown}");
    }

    #[test]
    fn the_matching_key_is_the_one_found() {
        let keys: ApiKeys = ["first-key", "checker session:read second-key", "ops ops,maintenance third-key"]
            .iter()
            .map(|line| line.parse::<ApiKey>().unwrap())
            .collect();
        let first = keys.verify(b"first-key").unwrap();
        assert_eq!((first.name.as_str(), first.scopes), (UNNAMED, Scopes::all()));
        let second = keys.verify(b"second-key").unwrap();
        assert_eq!((second.name.as_str(), second.scopes), ("checker", [Scope::SessionRead].into_iter().collect()));
        let third = keys.verify(b"third-key").unwrap();
        assert!(third.scopes.contains(Scope::Ops) && third.scopes.contains(Scope::Maintenance));
        assert!(!third.scopes.allows(&[Scope::Adapter, Scope::SessionRead]));
        assert!(keys.verify(b"fourth-key").is_none());
    }

    #[test]
    fn a_bad_key_line_is_refused_without_quoting_the_key() {
        for line in ["a b", "a b c d", "name nope SECRET", "name adapter, SECRET", "na/me adapter SECRET"] {
            let error = line.parse::<ApiKey>().unwrap_err();
            assert!(!error.contains("SECRET"), "{line}: {error}");
        }
        assert!("name nope SECRET".parse::<ApiKey>().unwrap_err().contains("session:read"));
    }
}
