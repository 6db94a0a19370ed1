//! The audit trail, against the real binary logging JSON: every management and destructive action
//! leaves exactly one `authbridge::audit` line with the key's name, the action, the ids, the rows
//! and the answer's request id; a failed action and a plain read or write leave none; the purge
//! command and the background purge leave theirs; and no line holds a token, an email or a key.

use serde_json::{Value, json};

use authbridge::audit::{Action, Actor, TARGET};

use crate::binary::{Server, database, output_within};
use crate::support::{Backend, DATABASES};

crate::harness::tests! {
    sync on DATABASES: every_action_leaves_one_line_and_no_secret;
    sync: the_action_names_are_the_operation_ids;
}

const ADAPTER_KEY: &str = "apikeyADAPTER-8d1e55c3f0";
const ADMIN_KEY: &str = "apikeyADMIN-27b90a4e6c";
const OLD_FORM_KEY: &str = "apikeyOLDFORM-f3c81d2a97";
const EMAIL: &str = "grace.hopper+a51@mailbox-x9.example";
const TOKENS: [&str; 6] = [
    "audtok-1-5e0c9b7a3d",
    "audtok-2-a84f2c61e9",
    "audtok-3-0d7b3e95c2",
    "audtok-4-c19a6f04b8",
    "audtok-5-7f2e8d13a6",
    "audtok-6-b35c07e94f",
];
const UNKNOWN_TOKEN: &str = "audtok-unknown-4c8e2b";
/// Rotated, then presented after the grace window.
const REUSED_TOKEN: &str = "audtok-reused-9b3d6e01a4";
/// `--rotation-grace` of the server: long enough for the immediate second rotation of
/// `TOKENS[1]` to fall inside it, short enough to wait out once.
const GRACE: std::time::Duration = std::time::Duration::from_secs(3);
const VERIFICATION_TOKEN: &str = "audverif-92ad4c7e1b";
const ACCESS_TOKEN: &str = "ya29.audaccess-6c2d9e";
const REFRESH_TOKEN: &str = "1//audrefresh-b07f3a";
const ID_TOKEN: &str = "eyJaud.e30.sig-5d81c4";

/// The audit line a test expects.
#[derive(Clone)]
struct Expected {
    key: &'static str,
    action: Action,
    user_id: Option<String>,
    session_id: Option<String>,
    rows: u64,
    /// `None` for the command and the background task.
    request_id: Option<String>,
}

/// The server, the audit lines it should have written, and the secrets the run made.
struct Run<'a> {
    server: &'a Server,
    expected: Vec<Expected>,
    generated: Vec<String>,
}

impl Run<'_> {
    /// One request with `key`; asserts the status, returns the JSON answer and the request id.
    fn send(&self, key: &str, method: &str, path: &str, body: &Value, status: u16) -> (Value, String) {
        let authorization = format!("Bearer {key}");
        let headers = [("Authorization", authorization.as_str()), ("Content-Type", "application/json")];
        let text = if body.is_null() { String::new() } else { body.to_string() };
        let (got, answer, request_id) = self.server.exchange(method, path, &headers, &text);
        assert_eq!(got, status, "{method} {path}: {answer}");
        (serde_json::from_str(&answer).unwrap_or(Value::Null), request_id)
    }

    fn adapter(&self, method: &str, body: Value) -> (Value, String) {
        self.send(ADAPTER_KEY, "POST", &format!("/v1/adapter/{method}"), &body, 200)
    }

    /// Adds the line the last request should have written.
    fn expect(
        &mut self,
        key: &'static str,
        action: Action,
        ids: (Option<&str>, Option<&str>),
        rows: u64,
        request_id: String,
    ) {
        let (user_id, session_id) = (ids.0.map(str::to_owned), ids.1.map(str::to_owned));
        self.expected.push(Expected { key, action, user_id, session_id, rows, request_id: Some(request_id) });
    }

    fn create_session(&self, token: &str, user_id: &str, expires: &str) -> (String, String) {
        let session = json!({ "session": { "sessionToken": token, "userId": user_id, "expires": expires } });
        let (answer, request_id) = self.adapter("createSession", session);
        (answer["id"].as_str().unwrap().to_owned(), request_id)
    }
}

/// Every action, each once with an effect and (but purge) once with none, with the three keys.
fn actions(run: &mut Run) {
    let user = json!({ "user": { "email": EMAIL, "name": "Grace" } });
    let (user, _) = run.adapter("createUser", user);
    let user_id = user["id"].as_str().unwrap().to_owned();
    let uid = Some(user_id.as_str());
    let account = json!({ "account": { "userId": user_id, "type": "oidc", "provider": "google",
        "providerAccountId": "1906", "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
        "id_token": ID_TOKEN } });
    run.adapter("linkAccount", account);

    // --max-sessions-per-user 2: the third sign-in deletes the session that expires first.
    run.create_session(TOKENS[0], &user_id, "2098-01-01T00:00:00.000Z");
    let (second, _) = run.create_session(TOKENS[1], &user_id, "2099-01-01T00:00:00.000Z");
    let (third, request_id) = run.create_session(TOKENS[2], &user_id, "2099-06-01T00:00:00.000Z");
    run.expect("nextjs", Action::EvictSessions, (uid, None), 1, request_id);
    run.adapter("getSessionAndUser", json!({ "sessionToken": TOKENS[2] }));

    // Rotation keeps the id; the new token is a secret too.
    let (rotated, request_id) =
        run.send(ADMIN_KEY, "POST", "/v1/sessions/rotate", &json!({ "sessionToken": TOKENS[1] }), 200);
    assert_eq!(rotated["id"], second.as_str());
    run.generated.push(rotated["sessionToken"].as_str().unwrap().to_owned());
    run.expect("admin", Action::RotateSession, (uid, Some(&second)), 1, request_id);
    let (none, request_id) =
        run.send(ADMIN_KEY, "POST", "/v1/sessions/rotate", &json!({ "sessionToken": TOKENS[1] }), 200);
    assert_eq!(none, Value::Null);
    run.expect("admin", Action::RotateSession, (None, None), 0, request_id);

    // One device by id.
    let path = format!("/v1/sessions/{third}");
    let (_, request_id) = run.send(ADMIN_KEY, "DELETE", &path, &Value::Null, 200);
    run.expect("admin", Action::DeleteSessionById, (uid, Some(&third)), 1, request_id);
    let (_, request_id) = run.send(ADMIN_KEY, "DELETE", &path, &Value::Null, 200);
    // What matched nothing is the client's text, which is not logged: it could be anything.
    run.expect("admin", Action::DeleteSessionById, (None, None), 0, request_id);

    // Sign-out by token: the line names the row's id, never the token.
    let (fourth, _) = run.create_session(TOKENS[3], &user_id, "2099-01-01T00:00:00.000Z");
    let (_, request_id) = run.adapter("deleteSession", json!({ "sessionToken": TOKENS[3] }));
    run.expect("nextjs", Action::DeleteSession, (uid, Some(&fourth)), 1, request_id);
    let (_, request_id) = run.adapter("deleteSession", json!({ "sessionToken": UNKNOWN_TOKEN }));
    run.expect("nextjs", Action::DeleteSession, (None, None), 0, request_id);

    // Sign out everywhere but the rotated session, then everywhere.
    run.create_session(TOKENS[4], &user_id, "2099-01-01T00:00:00.000Z");
    let path = format!("/v1/users/{user_id}/sessions");
    let (answer, request_id) = run.send(ADMIN_KEY, "DELETE", &format!("{path}?except={second}"), &Value::Null, 200);
    assert_eq!(answer["deleted"], 1);
    run.expect("admin", Action::DeleteUserSessions, (uid, None), 1, request_id);
    let (_, request_id) = run.send(ADMIN_KEY, "DELETE", &path, &Value::Null, 200);
    run.expect("admin", Action::DeleteUserSessions, (uid, None), 1, request_id);
    let (_, request_id) = run.send(ADMIN_KEY, "DELETE", &path, &Value::Null, 200);
    run.expect("admin", Action::DeleteUserSessions, (None, None), 0, request_id);

    // The purge over the route: an expired session and an expired verification token.
    run.create_session(TOKENS[5], &user_id, "2001-01-01T00:00:00.000Z");
    let verification = json!({ "verificationToken": { "identifier": EMAIL, "token": VERIFICATION_TOKEN,
        "expires": "2001-01-01T00:00:00.000Z" } });
    run.adapter("createVerificationToken", verification);
    let (purged, request_id) = run.send(ADMIN_KEY, "POST", "/v1/maintenance/purge-expired", &json!({}), 200);
    assert_eq!(purged, json!({ "sessionsDeleted": 1, "verificationTokensDeleted": 1 }));
    run.expect("admin", Action::PurgeExpired, (None, None), 2, request_id);

    // Failed actions leave no line: bad input, a key without the scope.
    run.send(ADMIN_KEY, "POST", "/v1/sessions/rotate", &json!({ "sessionToken": TOKENS[0], "maxAge": -1 }), 400);
    run.send(ADAPTER_KEY, "DELETE", &path, &Value::Null, 403);
    run.send(ADMIN_KEY, "POST", "/v1/maintenance/purge-expired", &json!({ "batchSize": 0 }), 400);

    // A rotated-out token presented after the grace window: reuse, the session is revoked.
    let (reused, _) = run.create_session(REUSED_TOKEN, &user_id, "2099-01-01T00:00:00.000Z");
    let (rotated, request_id) =
        run.send(ADMIN_KEY, "POST", "/v1/sessions/rotate", &json!({ "sessionToken": REUSED_TOKEN }), 200);
    run.generated.push(rotated["sessionToken"].as_str().unwrap().to_owned());
    run.expect("admin", Action::RotateSession, (uid, Some(&reused)), 1, request_id);
    std::thread::sleep(GRACE + std::time::Duration::from_millis(100));
    let (none, request_id) = run.adapter("getSessionAndUser", json!({ "sessionToken": REUSED_TOKEN }));
    assert_eq!(none, Value::Null);
    run.expect("nextjs", Action::SessionTokenReuse, (uid, Some(&reused)), 1, request_id);

    let provider = json!({ "provider": "google", "providerAccountId": "1906" });
    let (unlinked, request_id) = run.adapter("unlinkAccount", provider.clone());
    assert_eq!(unlinked["access_token"], ACCESS_TOKEN);
    run.expect("nextjs", Action::UnlinkAccount, (uid, None), 1, request_id);
    let (_, request_id) = run.adapter("unlinkAccount", provider);
    run.expect("nextjs", Action::UnlinkAccount, (None, None), 0, request_id);

    // The old-form key is named `unnamed`.
    let body = json!({ "userId": user_id });
    let (_, request_id) = run.send(OLD_FORM_KEY, "POST", "/v1/adapter/deleteUser", &body, 200);
    run.expect(authbridge::auth::UNNAMED, Action::DeleteUser, (uid, None), 1, request_id);
    let (_, request_id) = run.send(OLD_FORM_KEY, "POST", "/v1/adapter/deleteUser", &body, 200);
    run.expect(authbridge::auth::UNNAMED, Action::DeleteUser, (None, None), 0, request_id);
}

/// A user with one expired session, for the purges outside a request.
fn expired_session(server: &Server, token: &str) {
    let run = Run { server, expected: Vec::new(), generated: Vec::new() };
    let (user, _) = run.adapter("createUser", json!({ "user": { "name": "Expired" } }));
    run.create_session(token, user["id"].as_str().unwrap(), "2001-01-01T00:00:00.000Z");
}

/// The audit lines of a JSON log, parsed.
fn audit_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["target"] == TARGET)
        .collect()
}

/// The fields of an audit line as the test expects them.
fn line_of(expected: &Expected) -> Value {
    let mut line = json!({ "key": expected.key, "action": expected.action.as_str(), "rows": expected.rows });
    for (field, value) in
        [("user_id", &expected.user_id), ("session_id", &expected.session_id), ("request_id", &expected.request_id)]
    {
        if let Some(value) = value {
            line[field] = json!(value);
        }
    }
    line
}

/// The line without what every event has (time, level, target, message).
fn fields(line: &Value) -> Value {
    let mut fields = line.clone();
    let object = fields.as_object_mut().expect("a JSON object");
    for common in ["timestamp", "level", "target", "message", "threadName", "threadId"] {
        object.remove(common);
    }
    fields
}

fn every_action_leaves_one_line_and_no_secret(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (_scratch, _user, url) = database(backend, dir.path());
    let key_file = dir.path().join("keys");
    let keys = format!("nextjs adapter {ADAPTER_KEY}\nadmin sessions:manage,maintenance {ADMIN_KEY}\n{OLD_FORM_KEY}\n");
    std::fs::write(&key_file, keys).unwrap();
    let key_file = key_file.to_str().unwrap();
    let grace = format!("{}s", GRACE.as_secs());
    let args = [
        "--api-key-file",
        key_file,
        "--log-format",
        "json",
        "--max-sessions-per-user",
        "2",
        "--rotation-grace",
        &grace,
    ];
    let env = [("DATABASE_URL", url.as_str())];

    let server = Server::start_with(dir.path(), &args, &env);
    let mut run = Run { server: &server, expected: Vec::new(), generated: Vec::new() };
    actions(&mut run);
    let (mut expected, mut generated) = (run.expected, run.generated);
    expired_session(&server, "audtok-cli-e83b0f5d27");
    generated.push("audtok-cli-e83b0f5d27".into());
    let mut log = server.stop();
    let lines = audit_lines(&log);
    assert_eq!(lines.len(), expected.len(), "one line per action on {backend:?}:\n{log}");
    for (line, expected) in lines.iter().zip(&expected) {
        assert_eq!(fields(line), line_of(expected), "on {backend:?}");
        assert_eq!(line["level"], "INFO");
    }

    // `authbridge purge-expired`: key `cli`, no request id.
    let mut command = crate::binary::command(&["purge-expired", "--log-format", "json"]);
    command.current_dir(dir.path()).env("DATABASE_URL", &url);
    let output = output_within(&mut command, std::time::Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "purge-expired:\n{stderr}");
    let lines = audit_lines(&stderr);
    let cli = Expected {
        key: Actor::COMMAND,
        action: Action::PurgeExpired,
        user_id: None,
        session_id: None,
        rows: 1,
        request_id: None,
    };
    assert_eq!(lines.iter().map(fields).collect::<Vec<_>>(), [line_of(&cli)], "{stderr}");
    log.push_str(&stderr);
    expected.push(cli.clone());

    // The background purge: key `background`, one line per run, no request id.
    let args = [&args[..], &["--purge-interval", "1s"]].concat();
    let server = Server::start_with(dir.path(), &args, &env);
    expired_session(&server, "audtok-bg-41d9c6a07e");
    generated.push("audtok-bg-41d9c6a07e".into());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let purged_by_background = |log: &str| audit_lines(log).iter().any(|line| line["rows"] == 1);
    while !purged_by_background(&server.log()) {
        assert!(std::time::Instant::now() < deadline, "no background purge within a minute:\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let background = server.stop();
    let lines = audit_lines(&background);
    let empty = Expected { rows: 0, key: Actor::BACKGROUND, ..cli };
    for line in &lines {
        let rows = line["rows"].as_u64().expect("rows");
        assert!(rows <= 1, "{line}");
        assert_eq!(fields(line), line_of(&Expected { rows, ..empty.clone() }), "{background}");
    }
    log.push_str(&background);

    // No secret in any audit line (nor, as tests/it/secrets.rs checks at trace level, elsewhere).
    let audit: String = audit_lines(&log).iter().map(|line| format!("{line}\n")).collect();
    assert!(audit.lines().count() > expected.len(), "{audit}");
    let mut secrets = vec![
        ADAPTER_KEY,
        ADMIN_KEY,
        OLD_FORM_KEY,
        EMAIL,
        UNKNOWN_TOKEN,
        VERIFICATION_TOKEN,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        ID_TOKEN,
    ];
    secrets.extend(TOKENS);
    secrets.push(REUSED_TOKEN);
    secrets.extend(generated.iter().map(String::as_str));
    let local_part = EMAIL.split('@').next().unwrap();
    for secret in secrets.into_iter().chain([local_part]) {
        assert!(!audit.contains(secret), "{secret} is in an audit line on {backend:?}:\n{audit}");
        assert!(!log.contains(secret), "{secret} is in the log on {backend:?}:\n{log}");
    }
}

/// Each action but the evictions and reuse detection is named after the route that does it, by its
/// operation id.
fn the_action_names_are_the_operation_ids() {
    use strum::IntoEnumIterator;
    let (_, document) = authbridge::router::api().split_for_parts();
    let operation_ids: Vec<String> = document
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.get, &item.put, &item.post, &item.delete, &item.patch])
        .flatten()
        .filter_map(|operation| operation.operation_id.clone())
        .collect();
    for action in Action::iter() {
        let is_route = operation_ids.iter().any(|id| id == action.as_str());
        let named_otherwise = [Action::EvictSessions, Action::SessionTokenReuse];
        assert_eq!(is_route, !named_otherwise.contains(&action), "{action:?}: {operation_ids:?}");
    }
}
