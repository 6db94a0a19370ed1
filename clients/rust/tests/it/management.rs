//! The session-management calls end to end, on each backend.

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
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");

    let before = now();
    let rotation = Rotation::default().max_age(std::time::Duration::from_secs(3600));
    let rotated = manager.rotate_session(token, rotation).await.unwrap().expect("rotated");
    let after = now();

    assert_eq!((rotated.id.as_str(), rotated.user_id.as_str()), (text(&created, "id"), text(&user, "id")));
    assert!(rotated.session_token != token && rotated.session_token.len() == 64);
    assert!(before + TimeDelta::hours(1) <= rotated.expires && rotated.expires <= after + TimeDelta::hours(1));
    assert_eq!(reader.get_session_and_user(token).await.unwrap(), None);
    let found = reader.get_session_and_user(rotated.session_token.as_str()).await.unwrap().expect("a session");
    assert_eq!(found.session.id, text(&created, "id"));
    assert_eq!(manager.rotate_session(token, Rotation::default()).await.unwrap(), None);
    let expired = adapter.create_session_until(&user, now() - TimeDelta::minutes(1)).await;
    assert_eq!(manager.rotate_session(text(&expired, "sessionToken"), Rotation::default()).await.unwrap(), None);
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
