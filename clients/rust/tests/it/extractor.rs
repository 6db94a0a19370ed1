//! The axum extractor through `tower::ServiceExt::oneshot`, against the real binary.

use authbridge_client::axum::PROBLEM_CONTENT_TYPE;
use authbridge_client::{AuthSession, Client, SESSION_COOKIE_NAMES};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::get;
use chrono::TimeDelta;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::harness::{Adapter, Ctx, now, random_hex, tests, text};
use crate::session_check::{cookie_header, reader};
use crate::unavailable::OUTAGE_FLAGS;

tests![
    the_extractor_gives_the_session_for_every_cookie_name,
    no_unknown_expired_or_deleted_sessions_are_401_problems,
    the_optional_extractor_gives_none_without_a_session,
    an_outage_is_a_503_problem_with_retry_after,
    one_call_per_request_with_the_request_id_passed_on,
    a_wrong_key_is_a_500_problem_without_secrets,
];

async fn me(AuthSession(found): AuthSession) -> axum::Json<Value> {
    axum::Json(json!({ "userId": found.user.id, "expires": found.session.expires }))
}

async fn home(session: Option<AuthSession>) -> &'static str {
    if session.is_some() { "signed in" } else { "signed out" }
}

/// Two extractors of the session in one handler.
async fn both(session: AuthSession, again: Option<AuthSession>) -> String {
    assert_eq!(again.map(|again| again.session.id.clone()), Some(session.session.id.clone()));
    session.user.id.clone()
}

fn app(client: Client) -> Router {
    Router::new().route("/me", get(me)).route("/", get(home)).route("/both", get(both)).with_state(client)
}

/// Status, headers and body of `GET path` with these request headers.
async fn get_with(app: Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn problem(headers: &HeaderMap, body: &[u8]) -> Value {
    assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_CONTENT_TYPE);
    serde_json::from_slice(body).expect("a JSON problem")
}

async fn the_extractor_gives_the_session_for_every_cookie_name(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    for name in SESSION_COOKIE_NAMES {
        for chunks in [1, 2] {
            let created = adapter.create_session(&user).await;
            let cookie = cookie_header(name, text(&created, "sessionToken"), chunks);
            let (status, _, body) = get_with(app(reader(&ctx)), "/me", &[("cookie", &cookie)]).await;
            assert_eq!(status, StatusCode::OK, "{name} in {chunks} chunk(s): {}", String::from_utf8_lossy(&body));
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["userId"], user["id"]);
            assert_eq!(
                body["expires"].as_str().map(|date| date.parse::<chrono::DateTime<chrono::Utc>>().is_ok()),
                Some(true)
            );
        }
    }
}

async fn no_unknown_expired_or_deleted_sessions_are_401_problems(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let expired = adapter.create_session_until(&user, now() - TimeDelta::seconds(1)).await;
    let doomed_user = adapter.create_user(json!({})).await;
    let doomed = adapter.create_session(&doomed_user).await;
    adapter.call("deleteUser", json!({ "userId": doomed_user["id"] })).await;
    let cookies = [
        "theme=dark".to_owned(),
        format!("authjs.session-token={}", random_hex(32)),
        format!("authjs.session-token={}", text(&expired, "sessionToken")),
        format!("__Secure-next-auth.session-token={}", text(&doomed, "sessionToken")),
    ];
    for cookie in &cookies {
        let (status, headers, body) =
            get_with(app(reader(&ctx)), "/me", &[("cookie", cookie), ("x-request-id", "rid-401")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{cookie}");
        let problem = problem(&headers, &body);
        assert_eq!(
            (&problem["status"], &problem["code"], &problem["requestId"], &problem["type"]),
            (
                &json!(401),
                &json!("unauthenticated"),
                &json!("rid-401"),
                &json!("https://authbridge.dev/problems/unauthenticated")
            )
        );
        assert!(problem["title"].is_string() && problem["detail"].is_string());
    }
    let (status, _, _) = get_with(app(reader(&ctx)), "/me", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn the_optional_extractor_gives_none_without_a_session(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let signed_in = format!("authjs.session-token={}", text(&created, "sessionToken"));
    let unknown = format!("authjs.session-token={}", random_hex(32));
    for (cookie, expected) in [(signed_in.as_str(), "signed in"), (unknown.as_str(), "signed out"), ("", "signed out")]
    {
        let (status, _, body) = get_with(app(reader(&ctx)), "/", &[("cookie", cookie)]).await;
        assert_eq!((status, String::from_utf8(body).unwrap().as_str()), (StatusCode::OK, expected));
    }
}

async fn an_outage_is_a_503_problem_with_retry_after(ctx: Ctx) {
    let server = ctx.start_server(OUTAGE_FLAGS).await;
    let adapter = Adapter::new(&server, ctx.keys());
    let (_, token) = adapter.signed_in().await;
    let client = Client::new(&server.url, &ctx.keys().reader).unwrap();
    let cookie = format!("__Secure-authjs.session-token={token}");
    assert_eq!(get_with(app(client.clone()), "/me", &[("cookie", &cookie)]).await.0, StatusCode::OK);

    let outage = ctx.backend().outage(&server.database_url).await;
    let required = get_with(app(client.clone()), "/me", &[("cookie", &cookie), ("x-request-id", "rid-503")]).await;
    let optional = get_with(app(client.clone()), "/", &[("cookie", &cookie)]).await;
    outage.end().await;

    for (status, headers, body) in [&required, &optional] {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(body));
        let retry_after: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1);
        let problem = problem(headers, body);
        assert_eq!((&problem["status"], &problem["code"]), (&json!(503), &json!("unavailable")));
        assert!(!String::from_utf8_lossy(body).contains(&token));
    }
    assert_eq!(problem(&required.1, &required.2)["requestId"], "rid-503");
    assert_eq!(get_with(app(client), "/me", &[("cookie", &cookie)]).await.0, StatusCode::OK);
}

async fn one_call_per_request_with_the_request_id_passed_on(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let cookie = format!("next-auth.session-token={}", text(&created, "sessionToken"));
    let request_id = format!("rs-extractor-{}", random_hex(8));

    let (status, _, body) =
        get_with(app(reader(&ctx)), "/both", &[("cookie", &cookie), ("x-request-id", &request_id)]).await;

    assert_eq!((status, String::from_utf8(body).unwrap()), (StatusCode::OK, text(&user, "id").to_owned()));
    let line = format!(r#""request_id":"{request_id}""#);
    assert!(ctx.server().logged(&line).await);
    assert_eq!(ctx.server().log().matches(&line).count(), 1, "one call for two extractors");
}

async fn a_wrong_key_is_a_500_problem_without_secrets(ctx: Ctx) {
    let adapter = ctx.adapter();
    let (_, token) = adapter.signed_in().await;
    let key = format!("wrong-key-{}", random_hex(8));
    let client = Client::new(&ctx.server().url, &key).unwrap();

    let cookie = format!("authjs.session-token={token}");
    let (status, headers, body) =
        get_with(app(client), "/me", &[("cookie", &cookie), ("x-request-id", "rid-500")]).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let problem = problem(&headers, &body);
    assert_eq!((&problem["code"], &problem["requestId"]), (&json!("internal"), &json!("rid-500")));
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains(&key) && !text.contains(&token));
}
