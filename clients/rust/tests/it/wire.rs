//! Error mapping, request shapes and secrets, against a scripted server on a loopback port and
//! bare sockets (no authbridge).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use authbridge_client::{
    Client, Error, INVALID_RESPONSE, NETWORK_ERROR, Rotation, SessionCheck, SessionContext, SessionFilter, TIMEOUT,
};
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response};
use serde_json::{Value, json};

use crate::harness::local_tests;

local_tests![
    problems_map_to_error_variants,
    a_proxy_error_page_is_unavailable,
    a_non_problem_error_is_invalid_response,
    a_2xx_that_breaks_the_contract_is_invalid_response,
    unknown_fields_and_missing_metadata_are_tolerated,
    requests_carry_key_request_id_and_tokens_only_in_bodies,
    no_token_means_no_request_and_empty_ids_are_refused,
    secrets_stay_out_of_debug_and_messages,
    bad_urls_are_refused,
    a_timeout_is_unavailable,
    a_refused_connection_is_unavailable,
];

const KEY: &str = "key-kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
const TOKEN: &str = "f00df00df00df00df00df00df00df00df00df00df00df00df00df00df00df00d";
const EMAIL: &str = "ada@example.com";

fn session_and_user() -> Value {
    json!({
        "session": { "id": "s1", "sessionToken": TOKEN, "userId": "u1", "expires": "2030-01-02T03:04:05.678Z" },
        "user": { "id": "u1", "name": "Ada", "email": EMAIL, "emailVerified": null, "image": null },
    })
}

/// A request the scripted server received.
struct Seen {
    method: String,
    /// Path and query as sent (still percent-encoded).
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// An answer: status, content type, body, extra headers.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    headers: Vec<(&'static str, &'static str)>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, content_type: "application/json", body: body.to_string(), headers: Vec::new() }
}

fn problem(status: u16, code: &str) -> Value {
    json!({
        "type": format!("https://authbridge.dev/problems/{code}"),
        "title": "t",
        "status": status,
        "detail": format!("detail of {code}"),
        "code": code,
        "requestId": "rid-1",
    })
}

type Script = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

/// A server on a loopback port that answers every request with `script` and keeps what it got.
struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    async fn start(script: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let script: Script = Arc::new(script);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let kept = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let (script, kept) = (Arc::clone(&script), Arc::clone(&kept));
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.expect("a body").to_vec();
                let target = parts.uri.path_and_query().map(ToString::to_string).unwrap_or_default();
                let seen = Seen { method: parts.method.to_string(), target, headers: parts.headers, body };
                let answer = script(&seen);
                kept.lock().expect("the lock").push(seen);
                let mut response =
                    Response::builder().status(answer.status).header("content-type", answer.content_type);
                for (name, value) in answer.headers {
                    response = response.header(name, value);
                }
                response.body(Body::from(answer.body)).expect("a response")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}/prefix/", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn client(&self) -> Client {
        Client::new(&self.url, KEY).expect("a client")
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().expect("the lock")
    }
}

async fn problems_map_to_error_variants() {
    let cases = [
        (400, "invalid_argument"),
        (401, "unauthenticated"),
        (403, "forbidden"),
        (404, "not_found"),
        (409, "already_exists"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        (422, "failed_precondition"),
        (500, "internal"),
        (503, "unavailable"),
    ];
    for (status, code) in cases {
        let server = Scripted::start(move |_| {
            let mut body = problem(status, code);
            if status == 400 {
                body["field"] = json!("sessionToken");
            }
            Answer {
                content_type: "application/problem+json",
                headers: if status == 503 { vec![("retry-after", "1")] } else { Vec::new() },
                ..answer(status, body)
            }
        })
        .await;
        let error = server.client().get_session_and_user(TOKEN).await.unwrap_err();
        let variant_ok = match status {
            401 => matches!(error, Error::Unauthenticated(_)),
            403 => matches!(error, Error::Forbidden(_)),
            503 => matches!(error, Error::Unavailable(_)),
            _ => matches!(error, Error::Other(_)),
        };
        assert!(variant_ok, "{status}: {error:?}");
        let failure = error.failure();
        assert_eq!(
            (
                failure.code.as_str(),
                failure.status.map(|s| s.as_u16()),
                failure.detail.clone(),
                failure.request_id.as_deref()
            ),
            (code, Some(status), Some(format!("detail of {code}")), Some("rid-1"))
        );
        assert_eq!(failure.operation, "getSessionAndUser");
        assert_eq!(failure.field.as_deref(), (status == 400).then_some("sessionToken"));
        assert_eq!(failure.retry_after, (status == 503).then_some(Duration::from_secs(1)));
        let message = error.to_string();
        assert!(
            message.contains(code) && message.contains(&format!("HTTP {status}")) && message.contains("rid-1"),
            "{message}"
        );
    }
}

async fn a_proxy_error_page_is_unavailable() {
    for status in [502, 503, 504] {
        let server = Scripted::start(move |_| Answer {
            status,
            content_type: "text/html",
            body: "<html>Bad Gateway</html>".to_owned(),
            headers: vec![("x-request-id", "lb-7")],
        })
        .await;
        let error = server.client().get_session_and_user(TOKEN).await.unwrap_err();
        assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
        assert_eq!(
            (error.code(), error.status().map(|s| s.as_u16()), error.request_id()),
            ("unavailable", Some(status), Some("lb-7"))
        );
    }
}

async fn a_non_problem_error_is_invalid_response() {
    let server = Scripted::start(|_| Answer {
        status: 418,
        content_type: "text/plain",
        body: "teapot".to_owned(),
        headers: Vec::new(),
    })
    .await;
    let error = server.client().session_stats().await.unwrap_err();
    assert!(matches!(error, Error::Other(_)), "{error:?}");
    assert_eq!((error.code(), error.status().map(|s| s.as_u16())), (INVALID_RESPONSE, Some(418)));
}

async fn a_2xx_that_breaks_the_contract_is_invalid_response() {
    let mut bad_date = session_and_user();
    bad_date["session"]["expires"] = json!("tomorrow");
    let mut no_offset = session_and_user();
    no_offset["session"]["expires"] = json!("2030-01-02T03:04:05");
    let mut token_as_number = session_and_user();
    token_as_number["user"]["id"] = json!(7);
    let bodies = [
        "not json".to_owned(),
        bad_date.to_string(),
        no_offset.to_string(),
        json!({ "session": session_and_user()["session"] }).to_string(),
        token_as_number.to_string(),
        "[1]".to_owned(),
    ];
    for body in bodies {
        let answered = body.clone();
        let server = Scripted::start(move |_| Answer {
            status: 200,
            content_type: "application/json",
            body: answered.clone(),
            headers: vec![("x-request-id", "rid-bad")],
        })
        .await;
        let error = server.client().get_session_and_user(TOKEN).await.unwrap_err();
        assert!(matches!(error, Error::Other(_)), "{body}: {error:?}");
        assert_eq!((error.code(), error.request_id()), (INVALID_RESPONSE, Some("rid-bad")), "{body}");
        assert!(!error.to_string().contains(TOKEN) && !error.to_string().contains(EMAIL), "{error}");
    }
}

async fn unknown_fields_and_missing_metadata_are_tolerated() {
    let listed = json!([
        { "id": "s1", "userId": "u1", "expires": "2030-01-01T00:00:00.000Z", "somethingNew": { "x": 1 } },
        {
            "id": "s2", "userId": "u1", "expires": "2029-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T02:00:00.000+02:00", "updatedAt": null,
            "ipAddress": "203.0.113.9", "userAgent": "Firefox", "rotatedAt": "2026-01-02T00:00:00.000Z",
        },
    ]);
    let server = Scripted::start(move |_| answer(200, listed.clone())).await;
    let sessions = server.client().list_sessions("u1", SessionFilter::default()).await.unwrap();
    assert_eq!(sessions.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["s1", "s2"]);
    assert_eq!((&sessions[0].created_at, &sessions[0].ip_address, &sessions[0].user_agent), (&None, &None, &None));
    assert_eq!(sessions[1].created_at, Some("2026-01-01T00:00:00Z".parse().unwrap()));
    assert_eq!((sessions[0].rotated_at, sessions[1].rotated_at), (None, Some("2026-01-02T00:00:00Z".parse().unwrap())));
    assert_eq!(
        (sessions[1].updated_at, sessions[1].ip_address.as_deref(), sessions[1].user_agent.as_deref()),
        (None, Some("203.0.113.9"), Some("Firefox"))
    );
}

async fn requests_carry_key_request_id_and_tokens_only_in_bodies() {
    let server = Scripted::start(|seen| {
        let path = seen.target.split('?').next().unwrap_or_default();
        let body = if path.ends_with("/getSessionAndUser") {
            session_and_user()
        } else if path.ends_with("/rotate") {
            session_and_user()["session"].clone()
        } else if seen.method == "DELETE" && path.contains("/users/") {
            json!({ "deleted": 2 })
        } else if seen.method == "DELETE" {
            Value::Null
        } else if path.ends_with("/session-stats") {
            json!({ "totalSessions": 3, "activeSessions": 2, "expiredSessions": 1, "latestExpires": null })
        } else if path.ends_with("/stats/sessions") {
            json!({ "activeSessions": 1, "expiredSessions": 0, "usersWithActiveSessions": 1, "expiringWithin24h": 0 })
        } else if path.ends_with("/purge-expired") {
            json!({ "sessionsDeleted": 4, "verificationTokensDeleted": 5 })
        } else {
            json!([])
        };
        answer(200, body)
    })
    .await;
    let client = server.client();
    let odd_user = "user/with?odd#chars%";
    let check = SessionCheck::default().max_age(Duration::from_secs(60)).update_age(Duration::ZERO).slide(false);
    let found = client.with_request_id("req-42").get_session_and_user_with(TOKEN, check).await.unwrap();
    assert_eq!(found.expect("a session").session.session_token, TOKEN);
    assert!(
        client.list_sessions(odd_user, SessionFilter::default().include_expired().limit(5)).await.unwrap().is_empty()
    );
    assert_eq!(client.revoke_session("sess/1").await.unwrap(), None);
    assert_eq!(client.revoke_other_sessions(odd_user, "keep&me").await.unwrap(), 2);
    assert_eq!(client.revoke_all_sessions(odd_user).await.unwrap(), 2);
    let context = SessionContext { ip_address: Some("203.0.113.9".to_owned()), user_agent: Some("UA".to_owned()) };
    let rotation = Rotation::default()
        .max_age(Duration::from_secs(3600))
        .context(context)
        .rotate_after(Duration::from_millis(60_900));
    assert!(client.rotate_session(TOKEN, rotation).await.unwrap().is_some());
    client.rotate_session(TOKEN, Rotation::default()).await.unwrap();
    assert_eq!(client.user_session_stats(odd_user).await.unwrap().total_sessions, 3);
    assert_eq!(client.session_stats().await.unwrap().users_with_active_sessions, 1);
    assert_eq!(client.purge_expired(Some(10)).await.unwrap().verification_tokens_deleted, 5);
    client.purge_expired(None).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 11);
    for request in seen.iter() {
        assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
        assert!(!request.target.contains(TOKEN) && !request.target.contains(KEY), "{}", request.target);
        assert!(request.target.starts_with("/prefix/v1/"), "{}", request.target);
        assert!(request.headers["user-agent"].to_str().unwrap().starts_with("authbridge-rust/"));
    }
    assert_eq!(seen[0].headers["x-request-id"], "req-42");
    assert!(seen[1..].iter().all(|request| !request.headers.contains_key("x-request-id")));
    assert_eq!(seen[0].json(), json!({ "sessionToken": TOKEN, "maxAge": 60, "updateAge": 0, "slide": false }));
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(seen[1].target, "/prefix/v1/users/user%2Fwith%3Fodd%23chars%25/sessions?active=false&limit=5");
    assert_eq!((seen[2].method.as_str(), seen[2].target.as_str()), ("DELETE", "/prefix/v1/sessions/sess%2F1"));
    assert_eq!(
        (seen[3].method.as_str(), seen[3].target.as_str()),
        ("DELETE", "/prefix/v1/users/user%2Fwith%3Fodd%23chars%25/sessions?except=keep%26me")
    );
    assert_eq!(seen[4].target, "/prefix/v1/users/user%2Fwith%3Fodd%23chars%25/sessions");
    assert_eq!(
        seen[5].json(),
        json!({
            "sessionToken": TOKEN, "maxAge": 3600,
            "context": { "ipAddress": "203.0.113.9", "userAgent": "UA" },
            // Whole seconds, rounded down.
            "rotateAfter": 60,
        })
    );
    // No `context` or `rotateAfter` key for servers that predate them.
    assert_eq!(seen[6].json(), json!({ "sessionToken": TOKEN }));
    assert_eq!(seen[7].target, "/prefix/v1/users/user%2Fwith%3Fodd%23chars%25/session-stats");
    assert_eq!((seen[8].method.as_str(), seen[8].target.as_str()), ("GET", "/prefix/v1/stats/sessions"));
    assert_eq!(seen[9].json(), json!({ "batchSize": 10 }));
    assert_eq!(seen[10].json(), json!({}));
}

async fn no_token_means_no_request_and_empty_ids_are_refused() {
    let server = Scripted::start(|_| panic!("no request expected")).await;
    let client = server.client();
    assert_eq!(client.get_session_and_user(None).await.unwrap(), None);
    assert_eq!(client.get_session_and_user("").await.unwrap(), None);
    let refused = [
        client.list_sessions("", SessionFilter::default()).await.unwrap_err(),
        client.revoke_other_sessions("u1", "").await.unwrap_err(),
        client.revoke_session("").await.unwrap_err(),
        client.rotate_session("", Rotation::default()).await.unwrap_err(),
    ];
    for error in refused {
        assert!(matches!(error, Error::Other(_)), "{error:?}");
        assert_eq!((error.code(), error.status()), ("invalid_argument", None));
    }
    assert!(server.seen().is_empty());
}

async fn secrets_stay_out_of_debug_and_messages() {
    let server = Scripted::start(|_| answer(200, session_and_user())).await;
    let client = server.client();
    let found = client.get_session_and_user(TOKEN).await.unwrap().expect("a session");
    for text in
        [format!("{client:?}"), format!("{found:?}"), format!("{:?}", found.session), format!("{:?}", found.user)]
    {
        assert!(!text.contains(TOKEN) && !text.contains(KEY) && !text.contains(EMAIL), "{text}");
    }
    assert!(format!("{:?}", found.session).contains("u1"));

    let failing = Scripted::start(|_| Answer {
        content_type: "application/problem+json",
        ..answer(503, problem(503, "unavailable"))
    })
    .await;
    let error = failing.client().rotate_session(TOKEN, Rotation::default()).await.unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(TOKEN) && !text.contains(KEY), "{text}");
    }
}

async fn bad_urls_are_refused() {
    for url in ["authbridge:7777", "ftp://x", "http://", "not a url"] {
        let error = Client::new(url, KEY).unwrap_err();
        assert_eq!((error.code(), error.failure().field.as_deref()), ("invalid_argument", Some("url")), "{url}");
    }
}

async fn a_timeout_is_unavailable() {
    // A port that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    let client =
        Client::builder(format!("http://{address}")).api_key(KEY).timeout(Duration::from_millis(300)).build().unwrap();
    let error = client.with_request_id("rid-t").get_session_and_user(TOKEN).await.unwrap_err();
    silent.abort();
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
    assert_eq!((error.code(), error.status(), error.request_id()), (TIMEOUT, None, Some("rid-t")));
}

async fn a_refused_connection_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = Client::new(&format!("http://127.0.0.1:{port}"), KEY).unwrap();
    let error = client.get_session_and_user(TOKEN).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
    assert_eq!((error.code(), error.status()), (NETWORK_ERROR, None));
    assert!(!error.to_string().contains(TOKEN) && !error.to_string().contains(&port.to_string()), "{error}");
}
