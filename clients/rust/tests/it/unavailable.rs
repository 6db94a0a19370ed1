//! An outage is `Error::Unavailable`, never looks like "signed out", and passes.

use std::time::Duration;

use authbridge_client::{Client, Error, NETWORK_ERROR};

use crate::harness::{Adapter, Ctx, tests, text};

tests![a_database_that_stops_answering_is_unavailable, a_stopped_server_is_unavailable];

/// Short waits so that a database that stops answering gives a 503 quickly (defaults: 2 s, 5 s),
/// and a slide on every read, so that a locked SQLite database stops session reads too (see
/// `Backend::outage`).
pub const OUTAGE_FLAGS: &[&str] = &[
    "--pool-timeout-ms",
    "500",
    "--sqlite-busy-timeout-ms",
    "200",
    "--session-update-age",
    "0",
    "--purge-interval",
    "0",
];

async fn a_database_that_stops_answering_is_unavailable(ctx: Ctx) {
    let server = ctx.start_server(OUTAGE_FLAGS).await;
    let adapter = Adapter::new(&server, ctx.keys());
    let (user, token) = adapter.signed_in().await;
    let client = Client::new(&server.url, &ctx.keys().reader).unwrap();
    let manager = Client::new(&server.url, &ctx.keys().manager).unwrap();
    assert!(client.get_session_and_user(token.as_str()).await.unwrap().is_some());

    let outage = ctx.backend().outage(&server.database_url).await;
    let error = client.with_request_id("rid-outage").get_session_and_user(token.as_str()).await.unwrap_err();
    let managed = manager.revoke_all_sessions("someone-else").await;
    outage.end().await;

    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
    assert!(error.is_unavailable());
    assert_eq!(
        (error.status().map(|s| s.as_u16()), error.code(), error.request_id()),
        (Some(503), "unavailable", Some("rid-outage"))
    );
    assert!(error.failure().retry_after.is_some());
    assert!(!error.to_string().contains(&token) && !format!("{error:?}").contains(&token));
    assert!(matches!(managed, Err(Error::Unavailable(_))), "{managed:?}");
    // The same server answers again once the database does.
    let found = client.get_session_and_user(token.as_str()).await.unwrap().expect("a session");
    assert_eq!(found.user.id, text(&user, "id"));
}

async fn a_stopped_server_is_unavailable(ctx: Ctx) {
    let server = ctx.start_server(&[]).await;
    let adapter = Adapter::new(&server, ctx.keys());
    let (_, token) = adapter.signed_in().await;
    let client =
        Client::builder(&server.url).api_key(&ctx.keys().reader).timeout(Duration::from_secs(5)).build().unwrap();
    assert!(client.get_session_and_user(token.as_str()).await.unwrap().is_some());
    server.stop();
    let error = client.get_session_and_user(token.as_str()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
    assert_eq!((error.status(), error.code()), (None, NETWORK_ERROR));
    assert!(!error.to_string().contains(&token));
}
