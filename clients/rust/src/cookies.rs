//! Finding the Auth.js session token among a request's cookies.
//!
//! With database sessions the session cookie holds the session token itself (64 hex characters),
//! which [`Client::get_session_and_user`](crate::Client::get_session_and_user) looks up. Its name
//! depends on the Auth.js major version and on whether the site runs on HTTPS
//! (`useSecureCookies`, on by default for `https://` URLs):
//!
//! | Auth.js v5 (`@auth/core`)         | next-auth v4                          |
//! |-----------------------------------|---------------------------------------|
//! | `__Secure-authjs.session-token`   | `__Secure-next-auth.session-token`    |
//! | `authjs.session-token`            | `next-auth.session-token`             |
//!
//! `__Host-` is the prefix Auth.js gives its CSRF cookie (`__Host-authjs.csrf-token`), never the
//! session cookie, so it is not looked for.
//!
//! Auth.js splits a value too large for one cookie (about 4 KB) into chunks `name.0`, `name.1`,
//! ... (the session store of `@auth/core`); they are joined in numeric order. Database-session
//! cookies are small and never chunked in practice, but a JWT-sized value would be.

use std::collections::HashMap;

use http::HeaderMap;
use http::header::COOKIE;
use percent_encoding::percent_decode_str;

/// The names looked for, in this order: the first one present wins. `__Secure-` first (a site
/// that moved to HTTPS may still carry a stale plain cookie), then v5 before v4 (an app upgraded
/// from next-auth 4 may still carry the old cookie until it expires).
pub const SESSION_COOKIE_NAMES: [&str; 4] = [
    "__Secure-authjs.session-token",
    "authjs.session-token",
    "__Secure-next-auth.session-token",
    "next-auth.session-token",
];

/// A `Cookie` header as a map, the way browsers and Auth.js read it.
///
/// Pairs are split on `;`, names and values are trimmed, a value in double quotes loses them and
/// percent-escapes are decoded (Auth.js writes values with `encodeURIComponent`). When a name
/// appears twice, the first one wins (browsers send the cookie with the longest path first).
/// Parts without `=` are skipped.
pub fn parse_cookie_header(header: &str) -> HashMap<String, String> {
    let mut cookies = HashMap::new();
    for part in header.split(';') {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || cookies.contains_key(name) {
            continue;
        }
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(value);
        cookies.insert(name.to_owned(), percent_decode_str(value).decode_utf8_lossy().into_owned());
    }
    cookies
}

/// The session token in a raw `Cookie` header, or `None` when there is none; looks for
/// [`SESSION_COOKIE_NAMES`].
pub fn session_token_from_cookies(header: &str) -> Option<String> {
    session_token_from_cookies_named(header, &SESSION_COOKIE_NAMES)
}

/// [`session_token_from_cookies`] for an app that named its cookie itself
/// (`cookies.sessionToken.name` in its Auth.js config): `names` in the order of preference.
///
/// For each name, in order: the whole cookie if present and not empty, else its chunks
/// `name.0`, `name.1`, ... joined, up to the first missing index.
pub fn session_token_from_cookies_named<S: AsRef<str>>(header: &str, names: &[S]) -> Option<String> {
    token_in(&parse_cookie_header(header), names)
}

/// The session token among a request's headers: every `Cookie` field counts (HTTP/2 may carry
/// the cookies in several, RFC 9113 8.2.3).
pub fn session_token_from_headers<S: AsRef<str>>(headers: &HeaderMap, names: &[S]) -> Option<String> {
    let joined = headers.get_all(COOKIE).iter().filter_map(|value| value.to_str().ok()).collect::<Vec<_>>().join("; ");
    session_token_from_cookies_named(&joined, names)
}

fn token_in<S: AsRef<str>>(jar: &HashMap<String, String>, names: &[S]) -> Option<String> {
    names.iter().map(AsRef::as_ref).find_map(|name| {
        if let Some(whole) = jar.get(name).filter(|value| !value.is_empty()) {
            return Some(whole.clone());
        }
        let joined: String = (0..).map_while(|index| jar.get(&format!("{name}.{index}"))).map(String::as_str).collect();
        (!joined.is_empty()).then_some(joined)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1a3f1";

    fn header(pairs: &[(&str, &str)]) -> String {
        pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn each_name_is_found() {
        for name in SESSION_COOKIE_NAMES {
            let cookie = format!("theme=dark; {name}={TOKEN}; csrf=1");
            assert_eq!(session_token_from_cookies(&cookie).as_deref(), Some(TOKEN), "{name}");
        }
    }

    #[test]
    fn the_names_are_auth_js_v5_and_next_auth_v4() {
        assert_eq!(
            SESSION_COOKIE_NAMES,
            [
                "__Secure-authjs.session-token",
                "authjs.session-token",
                "__Secure-next-auth.session-token",
                "next-auth.session-token",
            ]
        );
    }

    #[test]
    fn preference_order_whatever_the_order_in_the_header() {
        let cases = [
            (("authjs.session-token", "plain"), ("__Secure-authjs.session-token", "secure"), "secure"),
            (("next-auth.session-token", "plain"), ("__Secure-next-auth.session-token", "secure"), "secure"),
            (("next-auth.session-token", "v4"), ("authjs.session-token", "v5"), "v5"),
            (("__Secure-next-auth.session-token", "v4-secure"), ("authjs.session-token", "v5-plain"), "v5-plain"),
        ];
        for (first, second, expected) in cases {
            for pairs in [[first, second], [second, first]] {
                assert_eq!(session_token_from_cookies(&header(&pairs)).as_deref(), Some(expected));
            }
        }
    }

    #[test]
    fn chunks_are_joined_in_numeric_order() {
        // 13 chunks: ".10" sorts before ".2" as text.
        let chunks: Vec<&str> = TOKEN.as_bytes().chunks(5).map(|c| std::str::from_utf8(c).unwrap()).collect();
        assert!(chunks.len() > 10);
        for name in SESSION_COOKIE_NAMES {
            let names: Vec<String> = (0..chunks.len()).map(|i| format!("{name}.{i}")).collect();
            let mut pairs: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(chunks.iter().copied()).collect();
            pairs.reverse();
            assert_eq!(session_token_from_cookies(&header(&pairs)).as_deref(), Some(TOKEN), "{name}");
        }
    }

    #[test]
    fn chunks_stop_at_the_first_missing_index() {
        let gap = header(&[("authjs.session-token.0", "ab"), ("authjs.session-token.2", "cd")]);
        assert_eq!(session_token_from_cookies(&gap).as_deref(), Some("ab"));
        assert_eq!(session_token_from_cookies("authjs.session-token.1=cd"), None);
    }

    #[test]
    fn a_whole_cookie_wins_over_chunks_of_the_same_name() {
        let cookie = header(&[("authjs.session-token.0", "chunk"), ("authjs.session-token", "whole")]);
        assert_eq!(session_token_from_cookies(&cookie).as_deref(), Some("whole"));
    }

    #[test]
    fn a_chunked_secure_cookie_wins_over_a_whole_plain_one() {
        let cookie = header(&[
            ("authjs.session-token", "plain"),
            ("__Secure-authjs.session-token.0", "sec"),
            ("__Secure-authjs.session-token.1", "ure"),
        ]);
        assert_eq!(session_token_from_cookies(&cookie).as_deref(), Some("secure"));
    }

    #[test]
    fn the_host_prefix_is_the_csrf_cookie_not_the_session() {
        let cookie = format!("__Host-authjs.session-token={TOKEN}; __Host-authjs.csrf-token=c");
        assert_eq!(session_token_from_cookies(&cookie), None);
    }

    #[test]
    fn no_session_cookie() {
        assert_eq!(session_token_from_cookies(""), None);
        assert_eq!(session_token_from_cookies("authjs.callback-url=%2F; authjs.csrf-token=abc"), None);
        // An empty value is no session; the next name is tried.
        let cookie = "__Secure-authjs.session-token=; next-auth.session-token=v4";
        assert_eq!(session_token_from_cookies(cookie).as_deref(), Some("v4"));
    }

    #[test]
    fn custom_names_replace_the_defaults() {
        let cookie = "my-app.session=mine; authjs.session-token=default";
        assert_eq!(session_token_from_cookies_named(cookie, &["my-app.session"]).as_deref(), Some("mine"));
        assert_eq!(session_token_from_cookies_named("authjs.session-token=x", &["my-app.session"]), None);
    }

    #[test]
    fn every_cookie_header_field_counts() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "theme=dark".parse().unwrap());
        headers.append(COOKIE, format!("authjs.session-token={TOKEN}").parse().unwrap());
        assert_eq!(session_token_from_headers(&headers, &SESSION_COOKIE_NAMES).as_deref(), Some(TOKEN));
        assert_eq!(session_token_from_headers(&HeaderMap::new(), &SESSION_COOKIE_NAMES), None);
    }

    #[test]
    fn header_parsing() {
        let parsed = parse_cookie_header(r#" a = 1 ;b="quoted";  c=%41%2Fx; flag; =nameless; a=second; d=; e=x=y "#);
        let expected: HashMap<String, String> = [("a", "1"), ("b", "quoted"), ("c", "A/x"), ("d", ""), ("e", "x=y")]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        assert_eq!(parsed, expected);
    }
}
