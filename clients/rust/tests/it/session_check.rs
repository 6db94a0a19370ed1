//! `get_session_and_user` against the real binary, on each backend.

use std::time::Duration;

use authbridge_client::{Client, Error, SESSION_COOKIE_NAMES, SessionCheck, SessionFilter, session_token_from_cookies};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::harness::{Ctx, SCOPED_KEYS, now, random_hex, tests, text};

tests![
    a_valid_session_gives_session_and_user_with_utc_datetimes,
    a_read_that_is_due_slides_the_expiry,
    unknown_and_expired_sessions_are_none,
    a_signed_out_session_is_none,
    a_deleted_user_has_no_session,
    every_cookie_name_whole_and_chunked,
    the_secure_cookie_wins_over_a_stale_plain_one,
    the_request_id_reaches_the_server_and_tokens_stay_out_of_its_log,
    a_wrong_key_is_unauthenticated,
    each_key_can_do_only_its_part,
    one_client_serves_many_tasks,
];

/// The server's default `--session-max-age`.
const MAX_AGE: TimeDelta = TimeDelta::days(30);

pub fn reader(ctx: &Ctx) -> Client {
    Client::new(&ctx.server().url, &ctx.keys().reader).expect("a client")
}

fn date(value: &serde_json::Value) -> DateTime<Utc> {
    value.as_str().and_then(|text| text.parse().ok()).expect("a date")
}

async fn a_valid_session_gives_session_and_user_with_utc_datetimes(ctx: Ctx) {
    let adapter = ctx.adapter();
    let verified = now() - TimeDelta::days(3);
    let user = adapter
        .create_user(json!({
            "name": "Ada Lovelace",
            "emailVerified": crate::harness::wire_date(verified),
            "image": "https://example.com/ada.png",
        }))
        .await;
    // Due to slide only in 23 hours: the read returns the stored expiry unchanged.
    let expires = now() + MAX_AGE - TimeDelta::hours(1);
    let created = adapter.create_session_until(&user, expires).await;

    let found = reader(&ctx).get_session_and_user(text(&created, "sessionToken")).await.unwrap().expect("a session");

    assert_eq!(found.session.id, text(&created, "id"));
    assert_eq!(found.session.user_id, text(&user, "id"));
    assert_eq!(found.session.session_token, text(&created, "sessionToken"));
    assert_eq!(found.session.expires, expires);
    assert_eq!(found.user.id, text(&user, "id"));
    assert_eq!(found.user.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(found.user.email.as_deref(), Some(text(&user, "email")));
    assert_eq!(found.user.image.as_deref(), Some("https://example.com/ada.png"));
    assert_eq!(found.user.email_verified, Some(verified));
}

async fn a_read_that_is_due_slides_the_expiry(ctx: Ctx) {
    let adapter = ctx.adapter();
    let client = reader(&ctx);
    let user = adapter.create_user(json!({ "emailVerified": null })).await;
    let created = adapter.create_session_until(&user, now() + TimeDelta::hours(1)).await;
    let token = text(&created, "sessionToken");
    let read = client.get_session_and_user_with(token, SessionCheck::read_only()).await.unwrap().expect("a session");
    assert_eq!(read.session.expires, date(&created["expires"]));

    let before = now();
    let found = client.get_session_and_user(token).await.unwrap().expect("a session");
    let after = now();

    assert_eq!((found.user.email_verified, found.user.name), (None, None));
    assert!(before + MAX_AGE <= found.session.expires && found.session.expires <= after + MAX_AGE);
    // A longer maxAge with updateAge 0 (slide on every read): the expiry moves to now + 60 days.
    let before = now();
    let check = SessionCheck::default().max_age(Duration::from_secs(60 * 86_400)).update_age(Duration::ZERO);
    let again = client.get_session_and_user_with(token, check).await.unwrap().expect("a session");
    assert!(again.session.expires >= before + TimeDelta::days(60));
}

async fn unknown_and_expired_sessions_are_none(ctx: Ctx) {
    let client = reader(&ctx);
    assert_eq!(client.get_session_and_user(random_hex(32).as_str()).await.unwrap(), None);
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let expired = adapter.create_session_until(&user, now() - TimeDelta::seconds(1)).await;
    assert_eq!(client.get_session_and_user(text(&expired, "sessionToken")).await.unwrap(), None);
    // A cookie header without a session cookie in it: no call, no session.
    let token = session_token_from_cookies("theme=dark");
    assert_eq!(client.get_session_and_user(token.as_deref()).await.unwrap(), None);
}

async fn a_signed_out_session_is_none(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (_, token) = adapter.signed_in().await;
    assert!(reader(&ctx).get_session_and_user(token.as_str()).await.unwrap().is_some());
    adapter.call("deleteSession", json!({ "sessionToken": token })).await;
    assert_eq!(reader(&ctx).get_session_and_user(token.as_str()).await.unwrap(), None);
}

async fn a_deleted_user_has_no_session(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (user, token) = adapter.signed_in().await;
    assert!(reader(&ctx).get_session_and_user(token.as_str()).await.unwrap().is_some());
    adapter.call("deleteUser", json!({ "userId": user["id"] })).await;
    assert_eq!(reader(&ctx).get_session_and_user(token.as_str()).await.unwrap(), None);
}

/// The cookie header a browser sends for `token` under `name`, whole or in `chunks` chunks, with
/// other cookies around it in an order a browser might use.
pub fn cookie_header(name: &str, token: &str, chunks: usize) -> String {
    let mut parts = if chunks == 1 {
        vec![format!("{name}={token}")]
    } else {
        let size = token.len().div_ceil(chunks);
        (0..chunks).map(|i| format!("{name}.{i}={}", &token[i * size..((i + 1) * size).min(token.len())])).collect()
    };
    parts.reverse();
    parts.insert(0, "authjs.csrf-token=abc%7Cdef".to_owned());
    parts.push("authjs.callback-url=http%3A%2F%2Flocalhost".to_owned());
    parts.join("; ")
}

async fn every_cookie_name_whole_and_chunked(ctx: Ctx) {
    let adapter = ctx.adapter();
    let client = reader(&ctx);
    let user = adapter.create_user(json!({})).await;
    for name in SESSION_COOKIE_NAMES {
        for chunks in 1..=3 {
            let created = adapter.create_session(&user).await;
            let header = cookie_header(name, text(&created, "sessionToken"), chunks);
            let token = session_token_from_cookies(&header);
            let found = client.get_session_and_user(token.as_deref()).await.unwrap();
            let found = found.unwrap_or_else(|| panic!("no session for {name} in {chunks} chunk(s)"));
            assert_eq!((found.session.id.as_str(), found.user.id.as_str()), (text(&created, "id"), text(&user, "id")));
        }
    }
}

async fn the_secure_cookie_wins_over_a_stale_plain_one(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let live = adapter.create_session(&user).await;
    let stale = adapter.create_session_until(&user, now() - TimeDelta::days(1)).await;
    let header = format!(
        "authjs.session-token={}; __Secure-authjs.session-token={}",
        text(&stale, "sessionToken"),
        text(&live, "sessionToken")
    );
    let token = session_token_from_cookies(&header);
    let found = reader(&ctx).get_session_and_user(token.as_deref()).await.unwrap().expect("a session");
    assert_eq!(found.session.id, text(&live, "id"));
}

async fn the_request_id_reaches_the_server_and_tokens_stay_out_of_its_log(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");
    let request_id = format!("rs-{}", random_hex(8));

    let client = reader(&ctx).with_request_id(&request_id);
    assert!(client.get_session_and_user(token).await.unwrap().is_some());
    let manager = Client::new(&ctx.server().url, &ctx.keys().manager).unwrap().with_request_id(&request_id);
    let rotated = manager.rotate_session(token, Default::default()).await.unwrap().expect("rotated");
    assert!(reader(&ctx).get_session_and_user(rotated.session_token.as_str()).await.unwrap().is_some());

    assert!(ctx.server().logged(&format!(r#""request_id":"{request_id}""#)).await, "{}", ctx.server().log());
    let log = ctx.server().log();
    let lines = |target: &str| {
        log.lines()
            .filter(|line| line.contains(&request_id) && line.contains(&format!(r#""target":"{target}""#)))
            .count()
    };
    assert_eq!(lines("authbridge::request"), 2, "one request log line per call");
    assert_eq!(lines("authbridge::audit"), 1, "the rotation's audit line");
    assert!(!log.contains(token) && !log.contains(&rotated.session_token));
}

async fn a_wrong_key_is_unauthenticated(ctx: Ctx) {
    let client = Client::new(&ctx.server().url, format!("not-a-key-{}", random_hex(8))).unwrap();
    let error =
        client.with_request_id("rid-wrong-key").get_session_and_user(random_hex(32).as_str()).await.unwrap_err();
    assert!(matches!(error, Error::Unauthenticated(_)), "{error:?}");
    assert_eq!(
        (error.status().map(|s| s.as_u16()), error.code(), error.request_id()),
        (Some(401), "unauthenticated", Some("rid-wrong-key"))
    );
}

/// With [`SCOPED_KEYS`] each key can do only its part; until then every key has every scope,
/// and this test checks that (so that it fails, and is switched, when the server changes).
async fn each_key_can_do_only_its_part(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");
    let reader = reader(&ctx);
    let manager = Client::new(&ctx.server().url, &ctx.keys().manager).unwrap();
    let maintenance = Client::new(&ctx.server().url, &ctx.keys().maintenance).unwrap();
    assert!(reader.get_session_and_user(token).await.unwrap().is_some());

    let refused = [
        reader.list_sessions(text(&user, "id"), SessionFilter::default()).await.err(),
        reader.rotate_session(token, Default::default()).await.err(),
        manager.get_session_and_user_with(token, SessionCheck::read_only()).await.err(),
        maintenance.session_stats().await.err(),
        maintenance.user_session_stats(text(&user, "id")).await.err(),
    ];
    for (index, error) in refused.into_iter().enumerate() {
        if SCOPED_KEYS {
            let error = error.unwrap_or_else(|| panic!("call {index} was allowed"));
            assert!(matches!(error, Error::Forbidden(_)), "call {index}: {error:?}");
            assert_eq!((error.status().map(|s| s.as_u16()), error.code()), (Some(403), "forbidden"));
        } else {
            assert!(error.is_none(), "call {index}: {error:?}");
        }
    }
}

async fn one_client_serves_many_tasks(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(text(&adapter.create_session(&user).await, "sessionToken").to_owned());
    }
    let client = reader(&ctx);
    let checks: Vec<_> = (0..80)
        .map(|i| {
            let client = client.clone();
            let token = if i % 5 == 0 { random_hex(32) } else { tokens[i % 4].clone() };
            tokio::spawn(async move {
                client.get_session_and_user(token.as_str()).await.unwrap().map(|found| found.user.id)
            })
        })
        .collect();
    for (i, check) in checks.into_iter().enumerate() {
        let expected = (i % 5 != 0).then(|| text(&user, "id").to_owned());
        assert_eq!(check.await.unwrap(), expected, "check {i}");
    }
}
