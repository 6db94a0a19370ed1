//! The session-management calls end to end, on each backend.

use std::time::Duration;

use authbridge_client::{Client, Error, Rotation, SessionFilter};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::harness::{Adapter, Ctx, now, random_hex, tests, text};
use crate::session_check::reader;

tests![
    list_sessions,
    a_bad_argument_names_its_field,
    revoke_one_session,
    sign_out_everywhere_else_and_everywhere,
    rotate_session,
    the_previous_token_reads_the_session_inside_the_grace_window,
    rotate_after_rotates_only_a_token_that_old,
    the_previous_token_after_the_window_revokes_the_session,
    user_session_stats,
    global_stats_and_purge,
];

fn manager(ctx: &Ctx) -> Client {
    Client::new(&ctx.server().url, &ctx.keys().manager).expect("a client")
}

/// Sessions of `user` expiring in `days` days each (negative: expired).
async fn sessions_of(adapter: &Adapter, user: &Value, days: &[f64]) -> Vec<Value> {
    let mut sessions = Vec::new();
    for &day in days {
        let expires = now() + TimeDelta::seconds((day * 86_400.0) as i64);
        sessions.push(adapter.create_session_until(user, expires).await);
    }
    sessions
}

fn ids<'v>(sessions: impl IntoIterator<Item = &'v Value>) -> Vec<String> {
    sessions.into_iter().map(|session| text(session, "id").to_owned()).collect()
}

async fn list_sessions(ctx: Ctx) {
    let adapter = ctx.adapter();
    let manager = manager(&ctx);
    let user = adapter.create_user(json!({})).await;
    let user_id = text(&user, "id");
    let created = sessions_of(&adapter, &user, &[1.0, 5.0, 20.0, -1.0]).await;
    let (soon, later, latest, gone) = (&created[0], &created[1], &created[2], &created[3]);

    let active = manager.list_sessions(user_id, SessionFilter::default()).await.unwrap();
    let listed: Vec<String> = active.iter().map(|s| s.id.clone()).collect();
    assert_eq!(listed, ids([latest, later, soon]));
    let first = &active[0];
    assert_eq!(first.user_id, user_id);
    assert!((first.expires - (now() + TimeDelta::days(20))).abs() < TimeDelta::minutes(1));

    let all = manager.list_sessions(user_id, SessionFilter::default().include_expired()).await.unwrap();
    assert_eq!(all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids([latest, later, soon, gone]));
    let two = manager.list_sessions(user_id, SessionFilter::default().limit(2)).await.unwrap();
    assert_eq!(two.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids([latest, later]));
    let nobody = format!("no-such-user-{}", random_hex(4));
    assert!(manager.list_sessions(&nobody, SessionFilter::default()).await.unwrap().is_empty());
}

async fn a_bad_argument_names_its_field(ctx: Ctx) {
    let error = manager(&ctx)
        .with_request_id("rid-limit")
        .list_sessions("someone", SessionFilter::default().limit(0))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Other(_)), "{error:?}");
    let failure = error.failure();
    assert_eq!(
        (
            failure.status.map(|s| s.as_u16()),
            failure.code.as_str(),
            failure.field.as_deref(),
            failure.request_id.as_deref()
        ),
        (Some(400), "invalid_argument", Some("limit"), Some("rid-limit"))
    );
    assert!(failure.detail.as_deref().is_some_and(|detail| detail.contains("limit")));
}

async fn revoke_one_session(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (manager, reader) = (manager(&ctx), reader(&ctx));
    let user = adapter.create_user(json!({})).await;
    let created = sessions_of(&adapter, &user, &[10.0, 10.0]).await;
    let (keep, drop) = (&created[0], &created[1]);

    let revoked = manager.revoke_session(text(drop, "id")).await.unwrap().expect("revoked");

    assert_eq!((revoked.id.as_str(), revoked.user_id.as_str()), (text(drop, "id"), text(&user, "id")));
    assert_eq!(reader.get_session_and_user(text(drop, "sessionToken")).await.unwrap(), None);
    assert!(reader.get_session_and_user(text(keep, "sessionToken")).await.unwrap().is_some());
    assert_eq!(manager.revoke_session(text(drop, "id")).await.unwrap(), None);
}

async fn sign_out_everywhere_else_and_everywhere(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (manager, reader) = (manager(&ctx), reader(&ctx));
    let user = adapter.create_user(json!({})).await;
    let user_id = text(&user, "id");
    let created = sessions_of(&adapter, &user, &[3.0, 4.0, 5.0, -2.0]).await;
    let (here, others) = created.split_first().unwrap();

    // The expired one counts too.
    assert_eq!(manager.revoke_other_sessions(user_id, text(here, "id")).await.unwrap(), 3);
    let left = manager.list_sessions(user_id, SessionFilter::default().include_expired()).await.unwrap();
    assert_eq!(left.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), ids([here]));
    for other in others {
        assert_eq!(reader.get_session_and_user(text(other, "sessionToken")).await.unwrap(), None);
    }
    assert!(reader.get_session_and_user(text(here, "sessionToken")).await.unwrap().is_some());

    sessions_of(&adapter, &user, &[1.0, -1.0]).await;
    assert_eq!(manager.revoke_all_sessions(user_id).await.unwrap(), 3);
    assert!(manager.list_sessions(user_id, SessionFilter::default().include_expired()).await.unwrap().is_empty());
    assert_eq!(reader.get_session_and_user(text(here, "sessionToken")).await.unwrap(), None);
    assert_eq!(manager.revoke_all_sessions(user_id).await.unwrap(), 0);
}

async fn rotate_session(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (manager, reader) = (manager(&ctx), reader(&ctx));
    let user = adapter.create_user(json!({})).await;
    let user_id = text(&user, "id");
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");
    let listed = manager.list_sessions(user_id, SessionFilter::default()).await.unwrap();
    assert_eq!(listed[0].rotated_at, None, "never rotated");

    let before = now();
    let rotation = Rotation::default().max_age(Duration::from_secs(3600));
    let rotated = manager.rotate_session(token, rotation).await.unwrap().expect("rotated");
    let after = now();

    assert_eq!((rotated.id.as_str(), rotated.user_id.as_str()), (text(&created, "id"), user_id));
    assert!(rotated.session_token != token && rotated.session_token.len() == 64);
    assert!(before + TimeDelta::hours(1) <= rotated.expires && rotated.expires <= after + TimeDelta::hours(1));
    let listed = manager.list_sessions(user_id, SessionFilter::default()).await.unwrap();
    let rotated_at = listed[0].rotated_at.expect("rotated_at after a rotation");
    // A second either way: the database may round the rotation's time to its millisecond.
    assert!(before - TimeDelta::seconds(1) <= rotated_at && rotated_at <= after + TimeDelta::seconds(1));
    let found = reader.get_session_and_user(rotated.session_token.as_str()).await.unwrap().expect("a session");
    assert_eq!(found.session.id, text(&created, "id"));
    // Inside the grace window (the server's default, far longer than this test) an unconditional
    // rotation with the previous token is refused: only a browser's conditional one is answered.
    assert_eq!(manager.rotate_session(token, Rotation::default()).await.unwrap(), None);
    let expired = adapter.create_session_until(&user, now() - TimeDelta::minutes(1)).await;
    assert_eq!(manager.rotate_session(text(&expired, "sessionToken"), Rotation::default()).await.unwrap(), None);
}

async fn the_previous_token_reads_the_session_inside_the_grace_window(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (manager, reader) = (manager(&ctx), reader(&ctx));
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");
    let rotated = manager.rotate_session(token, Rotation::default()).await.unwrap().expect("rotated");

    // A request the browser sent before it took the new cookie: the session, with the token sent
    // (never the new one).
    let by_old = reader.get_session_and_user(token).await.unwrap().expect("read inside the window");
    assert_eq!((by_old.session.id.as_str(), by_old.user.id.as_str()), (text(&created, "id"), text(&user, "id")));
    assert_eq!(by_old.session.session_token, token);
    // A conditional rotation with it is answered unchanged: not rotated, so no cookie to set.
    let again = manager.rotate_session(token, Rotation::default().rotate_after(Duration::ZERO)).await.unwrap();
    let again = again.expect("the session, unchanged");
    assert_eq!((again.id.as_str(), again.session_token.as_str()), (text(&created, "id"), token));
    let by_new = reader.get_session_and_user(rotated.session_token.as_str()).await.unwrap().expect("a session");
    assert_eq!(by_new.session.id, text(&created, "id"));
}

async fn rotate_after_rotates_only_a_token_that_old(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (manager, reader) = (manager(&ctx), reader(&ctx));
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");
    let hour = Duration::from_secs(3600);

    // Created just now: not due, the session unchanged with the same token.
    let kept = manager.rotate_session(token, Rotation::default().rotate_after(hour)).await.unwrap().expect("kept");
    assert_eq!((kept.id.as_str(), kept.session_token.as_str()), (text(&created, "id"), token));
    let listed = manager.list_sessions(text(&user, "id"), SessionFilter::default()).await.unwrap();
    assert_eq!(listed[0].rotated_at, None);
    assert!(reader.get_session_and_user(token).await.unwrap().is_some());

    // Due (zero: any age): a new token.
    let due = Rotation::default().rotate_after(Duration::ZERO).max_age(2 * hour);
    let rotated = manager.rotate_session(token, due).await.unwrap().expect("rotated");
    assert!(rotated.id == text(&created, "id") && rotated.session_token != token);
    assert!((rotated.expires - (now() + TimeDelta::hours(2))).abs() < TimeDelta::minutes(1));
    // The age counts from the last rotation now: the new token is not due for an hour.
    let new = rotated.session_token.as_str();
    let kept = manager.rotate_session(new, Rotation::default().rotate_after(hour)).await.unwrap().expect("kept");
    assert_eq!(kept.session_token, new);
    let unknown = format!("no-such-token-{}", random_hex(8));
    let none = manager.rotate_session(&unknown, Rotation::default().rotate_after(Duration::ZERO)).await.unwrap();
    assert_eq!(none, None);
}

async fn the_previous_token_after_the_window_revokes_the_session(ctx: Ctx) {
    // A server of its own with a one-second window, waited out.
    let server = ctx.start_server(&["--rotation-grace", "1s"]).await;
    let adapter = Adapter::new(&server, ctx.keys());
    let manager = Client::new(&server.url, &ctx.keys().manager).unwrap();
    let reader = Client::new(&server.url, &ctx.keys().reader).unwrap();
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");
    let rotated = manager.rotate_session(token, Rotation::default()).await.unwrap().expect("rotated");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Two parties hold the session (whoever sent the old token did not take the new cookie).
    assert_eq!(reader.get_session_and_user(token).await.unwrap(), None);
    assert_eq!(reader.get_session_and_user(rotated.session_token.as_str()).await.unwrap(), None);
    let left = manager.list_sessions(text(&user, "id"), SessionFilter::default().include_expired()).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

async fn user_session_stats(ctx: Ctx) {
    let adapter = ctx.adapter();
    let manager = manager(&ctx);
    let user = adapter.create_user(json!({})).await;
    sessions_of(&adapter, &user, &[2.0, 7.0, -1.0, -3.0]).await;

    let stats = manager.user_session_stats(text(&user, "id")).await.unwrap();

    assert_eq!((stats.total_sessions, stats.active_sessions, stats.expired_sessions), (4, 2, 2));
    let latest = stats.latest_expires.expect("a latest expiry");
    assert!((latest - (now() + TimeDelta::days(7))).abs() < TimeDelta::minutes(1));
    let empty = manager.user_session_stats(&format!("no-such-user-{}", random_hex(4))).await.unwrap();
    assert_eq!(
        (empty.total_sessions, empty.active_sessions, empty.expired_sessions, empty.latest_expires),
        (0, 0, 0, None)
    );
}

async fn global_stats_and_purge(ctx: Ctx) {
    // A server of its own: these numbers count every session in the database.
    let server = ctx.start_server(&["--purge-interval", "0"]).await;
    let adapter = Adapter::new(&server, ctx.keys());
    let (first, second) = (adapter.create_user(json!({})).await, adapter.create_user(json!({})).await);
    sessions_of(&adapter, &first, &[0.5, 3.0, -1.0, -2.0]).await;
    sessions_of(&adapter, &second, &[4.0, -5.0]).await;
    let token = json!({ "identifier": "a@example.com", "token": random_hex(16), "expires": "2001-01-01T00:00:00Z" });
    adapter.call("createVerificationToken", json!({ "verificationToken": token })).await;
    let manager = Client::new(&server.url, &ctx.keys().manager).unwrap();
    let maintenance = Client::new(&server.url, &ctx.keys().maintenance).unwrap();

    let stats = manager.session_stats().await.unwrap();
    assert_eq!(
        (stats.active_sessions, stats.expired_sessions, stats.users_with_active_sessions, stats.expiring_within_24h),
        (3, 3, 2, 1)
    );
    let purged = maintenance.purge_expired(Some(2)).await.unwrap();
    assert_eq!((purged.sessions_deleted, purged.verification_tokens_deleted), (3, 1));
    assert_eq!(maintenance.purge_expired(None).await.unwrap().sessions_deleted, 0);
    let after = manager.session_stats().await.unwrap();
    assert_eq!((after.active_sessions, after.expired_sessions), (3, 0));
}
