//! A whole Auth.js lifecycle against the real binary logging at trace level for every target
//! (`RUST_LOG=trace`: axum, the database drivers, ours), with errors provoked on purpose by bad input
//! full of secrets. No session token, verification token, OAuth token, email, API key or
//! database password may appear in stdout, stderr or the body of any error response; nor, with
//! secrets at rest, an encryption key, also not in the output of `reencrypt` and `migrate-tokens`.

use serde_json::{Value, json};

use crate::binary::{Server, database};
use crate::support::{Backend, DATABASES};

crate::harness::tests! {
    sync on DATABASES: a_full_lifecycle_at_trace_level_leaks_no_secret, with_secrets_at_rest_nothing_leaks_either;
    sync: dropped_key_names_cannot_forge_log_lines;
}

const OLD_KEY: &str = "apikeyOLD-6b1d93c0a7e4";
const NEW_KEY: &str = "apikeyNEW-f28c51e9d04b";
const WRONG_KEY: &str = "apikeyWRONG-3e7a0c5d19";
const EMAIL: &str = "ada.lovelace+z81@mailbox-q7.example";
const NEW_EMAIL: &str = "countess.l+k22@mailbox-w3.example";
const SESSION_TOKEN: &str = "sesstok-9a4f0b7c2e61d853";
const SECOND_TOKEN: &str = "sesstok-c0ffee1234abcd99";
const VERIFICATION_TOKEN: &str = "verif-5d2e8a1f93b07c46";
const ACCESS_TOKEN: &str = "ya29.accesstok-71c3e9b2";
const REFRESH_TOKEN: &str = "1//refreshtok-4be0a6d8";
const ID_TOKEN: &str = "eyJidtok.e30.sig-83f1c2";
const NEW_ACCESS_TOKEN: &str = "ya29.accesstok-new-5f7d";
/// `--encryption-keys` entries; the base64 text is the secret.
const ENCRYPTION_KEY: &str = "k1:U0VDUkVULWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzISE=";
const ROTATED_KEY: &str = "k2:U0VDUkVULXJvdGF0ZWQta2V5LW9mLTMyLWJ5dGVzISE=";

/// What the lifecycle saw: the bodies of error answers, and the secrets the server generated.
struct Run<'a> {
    server: &'a Server,
    errors: Vec<String>,
    generated: Vec<String>,
    requests: usize,
}

impl Run<'_> {
    /// Sends a request with the given authorization; keeps the body when it is an error.
    fn raw(&mut self, method: &str, path: &str, auth: Option<&str>, content_type: &str, body: &str) -> (u16, String) {
        let authorization = auth.map(|key| format!("Bearer {key}"));
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(value) = &authorization {
            headers.push(("Authorization", value));
        }
        let (status, text) = self.server.request(method, path, &headers, body);
        self.requests += 1;
        if !(200..300).contains(&status) {
            self.errors.push(text.clone());
        }
        (status, text)
    }

    /// An adapter call with the old key; asserts the status and returns the JSON answer.
    fn call(&mut self, method: &str, body: Value, expected: u16) -> Value {
        let text = self.expect("POST", &format!("/v1/adapter/{method}"), Some(OLD_KEY), &body.to_string(), expected);
        json_of(&text)
    }

    /// Asserts the status; returns the body, a problem document unless the status is 200.
    fn expect(&mut self, method: &str, path: &str, auth: Option<&str>, body: &str, expected: u16) -> String {
        let (status, text) = self.raw(method, path, auth, "application/json", body);
        assert_eq!(status, expected, "{method} {path} {body}: {text}");
        if expected != 200 {
            assert!(json_of(&text)["code"].is_string(), "{method} {path}: a problem document: {text}");
        }
        text
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn lifecycle(run: &mut Run) {
    let far = "2099-01-01T00:00:00.000Z";
    // Sign-up through an OAuth provider: user, account (with every token), session.
    let user = run.call(
        "createUser",
        json!({ "user": { "id": "core-generated", "name": "Ada", "email": EMAIL, "emailVerified": null,
                          "image": "https://img.example/a.png", "refresh_token_expires_in": 5 } }),
        200,
    );
    let user_id = user["id"].as_str().unwrap().to_owned();
    run.call("getUser", json!({ "id": user_id }), 200);
    assert_eq!(run.call("getUserByEmail", json!({ "email": EMAIL }), 200)["id"], user_id.as_str());
    let account = json!({ "account": { "userId": user_id, "type": "oidc", "provider": "google",
        "providerAccountId": "1077", "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
        "id_token": ID_TOKEN, "expires_at": 1_900_000_000, "token_type": "bearer", "scope": "openid email",
        "session_state": "st-1", "ext_expires_in": 3599, "not-before-policy": 0 } });
    assert_eq!(run.call("linkAccount", account.clone(), 200)["access_token"], ACCESS_TOKEN);
    run.call("getUserByAccount", json!({ "provider": "google", "providerAccountId": "1077" }), 200);
    run.call("getAccount", json!({ "provider": "google", "providerAccountId": "1077" }), 200);
    run.call(
        "createSession",
        json!({ "session": { "sessionToken": SESSION_TOKEN, "userId": user_id, "expires": far } }),
        200,
    );
    let generated = run.call("createSession", json!({ "session": { "userId": user_id, "expires": far } }), 200);
    let generated_token = generated["sessionToken"].as_str().unwrap().to_owned();
    run.generated.push(generated_token.clone());

    // Page views, a slide, an update, a rotation.
    run.call("getSessionAndUser", json!({ "sessionToken": SESSION_TOKEN }), 200);
    run.call("getSessionAndUser", json!({ "sessionToken": SESSION_TOKEN, "maxAge": 3600, "updateAge": 0 }), 200);
    run.call("updateSession", json!({ "session": { "sessionToken": SESSION_TOKEN, "expires": far } }), 200);
    let rotated = json_of(&run.expect(
        "POST",
        "/v1/sessions/rotate",
        Some(NEW_KEY),
        &json!({ "sessionToken": SESSION_TOKEN }).to_string(),
        200,
    ));
    let rotated_token = rotated["sessionToken"].as_str().unwrap().to_owned();
    run.generated.push(rotated_token.clone());
    // Inside the grace window the old token reads the session, never revealing the new token.
    let by_old = run.call("getSessionAndUser", json!({ "sessionToken": SESSION_TOKEN }), 200);
    assert_eq!(by_old["session"]["sessionToken"], SESSION_TOKEN);
    run.call("getSessionAndUser", json!({ "sessionToken": rotated_token }), 200);

    // A magic link: created, used once, then gone.
    let verification =
        json!({ "verificationToken": { "identifier": EMAIL, "token": VERIFICATION_TOKEN, "expires": far } });
    run.call("createVerificationToken", verification.clone(), 200);
    run.call("useVerificationToken", json!({ "identifier": EMAIL, "token": VERIFICATION_TOKEN }), 200);
    assert_eq!(
        run.call("useVerificationToken", json!({ "identifier": EMAIL, "token": VERIFICATION_TOKEN }), 200),
        Value::Null
    );
    run.call("createVerificationToken", verification.clone(), 200);

    // Passkeys, a profile change.
    let authenticator = json!({ "authenticator": { "credentialID": "cred-1", "userId": user_id,
        "providerAccountId": "cred-1", "credentialPublicKey": "pk", "counter": 0,
        "credentialDeviceType": "multiDevice", "credentialBackedUp": true, "transports": "internal" } });
    run.call("createAuthenticator", authenticator.clone(), 200);
    run.call("getAuthenticator", json!({ "credentialID": "cred-1" }), 200);
    run.call("listAuthenticatorsByUserId", json!({ "userId": user_id }), 200);
    run.call("updateAuthenticatorCounter", json!({ "credentialID": "cred-1", "counter": 7 }), 200);
    run.call("updateUser", json!({ "user": { "id": user_id, "email": NEW_EMAIL, "emailVerified": far } }), 200);

    // Session management.
    let key = Some(OLD_KEY);
    let sessions = json_of(&run.expect("GET", &format!("/v1/users/{user_id}/sessions"), key, "", 200));
    let session_id = sessions[0]["id"].as_str().unwrap().to_owned();
    run.expect("GET", &format!("/v1/users/{user_id}/session-stats"), key, "", 200);
    run.expect("GET", "/v1/stats/sessions", key, "", 200);
    run.expect("GET", "/metrics", key, "", 200);
    run.expect("GET", "/openapi.json", key, "", 200);
    run.expect("POST", "/v1/maintenance/purge-expired", key, "{}", 200);

    // Errors provoked on purpose, each with secrets in the input.
    run.call("createUser", json!({ "user": { "email": NEW_EMAIL } }), 409);
    run.call("linkAccount", account, 409);
    run.call("createVerificationToken", verification, 409);
    run.call(
        "createSession",
        json!({ "session": { "sessionToken": rotated_token, "userId": user_id, "expires": far } }),
        409,
    );
    run.call(
        "createSession",
        json!({ "session": { "sessionToken": SECOND_TOKEN, "userId": "no-such-user", "expires": far } }),
        422,
    );
    run.call(
        "linkAccount",
        json!({ "account": { "userId": "no-such-user", "type": "oauth", "provider": "github",
            "providerAccountId": "9", "access_token": NEW_ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN } }),
        422,
    );
    let long = "x".repeat(300);
    run.call("getUserByEmail", json!({ "email": format!("{NEW_EMAIL}{long}") }), 400);
    run.call("getSessionAndUser", json!({ "sessionToken": format!("{SECOND_TOKEN}{long}") }), 400);
    run.call("getSessionAndUser", json!({ "sessionToken": format!("{SECOND_TOKEN}\u{0}") }), 400);
    run.call("getSessionAndUser", json!({ "sessionToken": SECOND_TOKEN, "maxAge": SECOND_TOKEN }), 400);
    run.call("getSessionAndUser", json!({ "sessionToken": [SECOND_TOKEN] }), 400);
    run.call("getUserByEmail", json!({ "email": { "address": NEW_EMAIL } }), 400);
    run.call("useVerificationToken", json!({ "identifier": NEW_EMAIL, "token": 5, "x": VERIFICATION_TOKEN }), 400);
    run.call("updateSession", json!({ "session": { "sessionToken": rotated_token, "expires": SECOND_TOKEN } }), 400);
    run.call("linkAccount", json!({ "account": { "userId": user_id, "access_token": NEW_ACCESS_TOKEN } }), 400);
    run.call(
        "linkAccount",
        json!({ "account": { "userId": user_id, "type": "oauth", "provider": "p", "providerAccountId": "1",
            "access_token": NEW_ACCESS_TOKEN, "expires_at": NEW_ACCESS_TOKEN } }),
        400,
    );
    for malformed in [
        format!(r#"{{"sessionToken": "{SECOND_TOKEN}""#),
        format!(r#"{{"sessionToken": "{SECOND_TOKEN}",}}"#),
        format!(r#"{{"sessionToken": {SECOND_TOKEN}}}"#),
        format!(r#"{{"sessionToken": "{SECOND_TOKEN}\x"}}"#),
        format!("{{\"sessionToken\": \"{SECOND_TOKEN}\u{1}\"}}"),
        format!(r#"{{"email": "{NEW_EMAIL}"}} {{"email": "{NEW_EMAIL}"}}"#),
    ] {
        run.expect("POST", "/v1/adapter/getSessionAndUser", key, &malformed, 400);
    }
    let (status, _) = run.raw("POST", "/v1/adapter/getSessionAndUser", key, "text/plain", SECOND_TOKEN);
    assert_eq!(status, 415);
    let huge = json!({ "sessionToken": SECOND_TOKEN, "pad": NEW_EMAIL.repeat(3000) }).to_string();
    let (status, _) = run.raw("POST", "/v1/adapter/getSessionAndUser", key, "application/json", &huge);
    assert_eq!(status, 413);
    // Unknown rows answer null, not an error that could quote them.
    assert_eq!(run.call("getSessionAndUser", json!({ "sessionToken": SECOND_TOKEN }), 200), Value::Null);
    assert_eq!(run.call("updateSession", json!({ "session": { "sessionToken": SECOND_TOKEN } }), 200), Value::Null);
    assert_eq!(run.call("deleteSession", json!({ "sessionToken": SECOND_TOKEN }), 200), Value::Null);
    assert_eq!(run.call("getUserByEmail", json!({ "email": EMAIL }), 200), Value::Null);
    run.call("updateAuthenticatorCounter", json!({ "credentialID": "cred-404", "counter": 1 }), 404);
    // Secrets where they never belong: in a URL, in a wrong key. (Names of unknown keys and query
    // parameters are quoted back on purpose: a 400 names what it refuses. Values never are.)
    run.expect("DELETE", &format!("/v1/users/{SECOND_TOKEN}/sessions?except={VERIFICATION_TOKEN}"), key, "", 200);
    run.expect("GET", &format!("/v1/{SECOND_TOKEN}"), key, "", 404);
    run.expect("GET", &format!("/v1/users/{user_id}/sessions?api_key={OLD_KEY}"), key, "", 400);
    run.expect("POST", "/v1/adapter/getUser", Some(WRONG_KEY), r#"{"id": "x"}"#, 401);
    run.expect("POST", "/v1/adapter/getUser", Some(&OLD_KEY[..10]), r#"{"id": "x"}"#, 401);
    run.expect("GET", &format!("/v1/users/{user_id}/sessions"), Some(&format!("{NEW_KEY}x")), "", 401);
    run.expect("GET", &format!("/metrics?key={NEW_KEY}"), None, "", 401);

    // Sign-out and account deletion.
    run.expect("DELETE", &format!("/v1/sessions/{session_id}"), key, "", 200);
    run.expect("DELETE", &format!("/v1/users/{user_id}/sessions"), key, "", 200);
    run.call("deleteSession", json!({ "sessionToken": generated_token }), 200);
    run.call("unlinkAccount", json!({ "provider": "google", "providerAccountId": "1077" }), 200);
    run.call("deleteUser", json!({ "userId": user_id }), 200);
    assert_eq!(run.call("getUser", json!({ "id": user_id }), 200), Value::Null);
}

/// Every way a secret could be written: as sent, JSON-escaped is the same for these, and the
/// parts of an email (a log could print the domain or the local part alone).
fn needles(secrets: &[String]) -> Vec<String> {
    let mut needles = Vec::new();
    for secret in secrets {
        needles.push(secret.clone());
        if let Some((local, domain)) = secret.split_once('@') {
            needles.push(local.to_owned());
            needles.push(domain.to_owned());
        }
    }
    needles
}

/// With secrets at rest: an OAuth token altered in the database is answered 422 and logged
/// without its value.
fn altered_oauth_token(run: &mut Run, backend: Backend, url: &str) {
    let user = run.call("createUser", json!({ "user": { "email": EMAIL } }), 200);
    let account = json!({ "account": { "userId": user["id"], "type": "oidc", "provider": "google",
        "providerAccountId": "2077", "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
        "id_token": ID_TOKEN } });
    run.call("linkAccount", account, 200);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = crate::support::new_db(url, &crate::support::pool_options());
        let sql = r#"UPDATE accounts SET access_token = 'ab:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
                     WHERE "providerAccountId" = '2077'"#;
        crate::support::execute(&db, &crate::support::quoted(backend, sql)).await;
    });
    run.call("getAccount", json!({ "provider": "google", "providerAccountId": "2077" }), 422);
}

/// `reencrypt` (which meets the altered token: exit 1) and `migrate-tokens` on the server's
/// database; their output, for the scan.
fn at_rest_commands(dir: &std::path::Path, url: &str) -> String {
    let run = |command: &str, variable: &str, value: &str, code: i32| {
        let mut process = crate::binary::command(&[command]);
        process.current_dir(dir).env("DATABASE_URL", url).env("RUST_LOG", "trace").env(variable, value);
        let result = crate::binary::output_within(&mut process, std::time::Duration::from_secs(60));
        let text = format!("{}{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
        assert_eq!(result.status.code(), Some(code), "{command}:\n{text}");
        text
    };
    let keys = format!("{ROTATED_KEY},{ENCRYPTION_KEY}");
    let output = run("reencrypt", "AUTHBRIDGE_ENCRYPTION_KEYS", &keys, 1)
        + &run("migrate-tokens", "AUTHBRIDGE_SESSION_TOKEN_STORAGE", "sha256-migrating", 0);
    assert!(output.contains(r#"{"rewritten":2,"failed":1}"#), "reencrypt's counts:\n{output}");
    assert!(output.contains(r#""hashed":0"#), "migrate-tokens' counts:\n{output}");
    output
}

fn lifecycle_leaks_nothing(backend: Backend, format: &str, at_rest: bool) {
    let dir = tempfile::tempdir().unwrap();
    // On PostgreSQL the URL carries a password (trust authentication ignores it).
    let (_scratch, _user, url) = database(backend, dir.path());
    let keys = format!("{OLD_KEY},{NEW_KEY}");
    let mut env = vec![("AUTHBRIDGE_API_KEYS", keys.as_str()), ("RUST_LOG", "trace"), ("DATABASE_URL", url.as_str())];
    if at_rest {
        env.extend([("AUTHBRIDGE_SESSION_TOKEN_STORAGE", "sha256"), ("AUTHBRIDGE_ENCRYPTION_KEYS", ENCRYPTION_KEY)]);
    }
    let server = Server::start_with(dir.path(), &["--log-format", format], &env);
    let mut run = Run { server: &server, errors: Vec::new(), generated: Vec::new(), requests: 0 };
    lifecycle(&mut run);
    if at_rest {
        altered_oauth_token(&mut run, backend, &url);
    }
    let (errors, generated, requests) = (run.errors, run.generated, run.requests);
    let mut log = server.stop();
    if at_rest {
        assert!(log.contains("does not open with --encryption-keys"), "the altered token is logged:\n{log}");
        log.push_str(&at_rest_commands(dir.path(), &url));
    }
    let stdout = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();

    // The capture is real: trace events (the server's, one per connection), one request line each.
    let traces = log.lines().filter(|l| l.contains("TRACE")).count();
    assert!(traces >= requests, "{traces} trace lines for {requests} requests:\n{log}");
    for target in ["authbridge::server", "authbridge::request"] {
        assert!(log.contains(target), "{target} events are captured:\n{log}");
    }
    assert!(errors.len() >= 30, "{} error responses", errors.len());

    let mut secrets: Vec<String> = [
        OLD_KEY,
        NEW_KEY,
        WRONG_KEY,
        EMAIL,
        NEW_EMAIL,
        SESSION_TOKEN,
        SECOND_TOKEN,
        VERIFICATION_TOKEN,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        ID_TOKEN,
        NEW_ACCESS_TOKEN,
        &ENCRYPTION_KEY[3..],
        &ROTATED_KEY[3..],
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.extend(generated);
    if matches!(backend, Backend::Postgres | Backend::Mysql) {
        secrets.push(url::Url::parse(&url).unwrap().password().expect("the URL has a password").to_owned());
    }
    let errors = errors.join("\n");
    for needle in needles(&secrets) {
        assert!(!log.contains(&needle), "{needle} reached the {format} log on {backend:?}:\n{log}");
        assert!(!stdout.contains(&needle), "{needle} reached stdout on {backend:?}:\n{stdout}");
        assert!(!errors.contains(&needle), "{needle} reached an error body on {backend:?}:\n{errors}");
    }
}

fn a_full_lifecycle_at_trace_level_leaks_no_secret(backend: Backend) {
    lifecycle_leaks_nothing(backend, "text", false);
    lifecycle_leaks_nothing(backend, "json", false);
}

/// The same with session tokens hashed and OAuth tokens encrypted, an altered token on top, and
/// the `reencrypt` and `migrate-tokens` commands.
fn with_secrets_at_rest_nothing_leaks_either(backend: Backend) {
    lifecycle_leaks_nothing(backend, "text", true);
}

/// A dropped key's name is the client's text; it reaches the log percent-encoded, as in the
/// `AuthBridge-Ignored-Fields` header, so a newline in it cannot forge a log line. (Found by the
/// fuzzer: names with control characters were logged raw.)
fn dropped_key_names_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("AUTHBRIDGE_API_KEYS", OLD_KEY)]);
    let forged = "x\n2026-01-01T00:00:00.000000Z  INFO authbridge::request: forged\u{1b}[31m";
    let body = json!({ "user": { "email": "forge@example.com", forged: 1 } }).to_string();
    let authorization = format!("Bearer {OLD_KEY}");
    let headers = [("Authorization", authorization.as_str()), ("Content-Type", "application/json")];
    let (status, text) = server.request("POST", "/v1/adapter/createUser", &headers, &body);
    assert_eq!(status, 200, "{text}");
    let log = server.stop();
    assert!(!log.lines().any(|l| l.contains("forged") && !l.contains("dropped fields")), "a forged line:\n{log}");
    assert!(!log.contains('\u{1b}'), "no escape sequence from the client:\n{log}");
    assert!(log.contains("user.x%0A2026-01-01T00:00:00.000000Z%20%20INFO"), "the name is logged encoded:\n{log}");
}
