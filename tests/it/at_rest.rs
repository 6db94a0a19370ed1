//! Secrets at rest (docs/security.md): session tokens stored as their SHA-256, the switch from
//! plain storage without signing anyone out, OAuth tokens sealed with rotating keys, and the
//! contract fixtures with both options on.

use authbridge::at_rest::{AtRest, EncryptionKeys, SessionTokenStorage, sha256_hex};
use authbridge::models::{accounts, sessions};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{BACKENDS, Backend, Client, DATABASES, Schema, TestApp, execute, quoted, texts};

crate::harness::tests! {
    async on BACKENDS: a_database_copy_holds_no_raw_token, the_switch_to_sha256_signs_nobody_out,
        hashed_page_views_cost_what_plain_ones_cost,
        oauth_tokens_survive_key_rotation, an_altered_oauth_token_is_a_4xx_without_the_value;
    async on DATABASES: contract_fixtures_pass_with_hashing_and_encryption;
}

const KEY_OLD: &str = "old:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const KEY_NEW: &str = "new:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const FAR: &str = "2099-01-01T00:00:00.000Z";
const ACCESS_TOKEN: &str = "ya29.access-6c1e0f";
const REFRESH_TOKEN: &str = "1//refresh-93b7d2";
const ID_TOKEN: &str = "eyJ.id-token-2a8c4e";

fn keys(list: &str) -> Option<EncryptionKeys> {
    Some(EncryptionKeys::parse(list).expect("test keys parse"))
}

fn hashed_and_sealed() -> AtRest {
    AtRest { session_tokens: SessionTokenStorage::Sha256, encryption_keys: keys(KEY_OLD) }
}

fn storing(session_tokens: SessionTokenStorage) -> AtRest {
    AtRest { session_tokens, encryption_keys: None }
}

/// Every value of every column of every table, as text.
async fn every_value(app: &TestApp) -> Vec<String> {
    let columns_sql = match app.backend {
        Backend::Mysql => {
            "SELECT CONCAT(table_name, '.', column_name) AS value FROM information_schema.columns \
             WHERE table_schema = DATABASE()"
        }
        Backend::Postgres | Backend::PgBouncer => {
            "SELECT table_name || '.' || column_name AS value FROM information_schema.columns \
             WHERE table_schema = current_schema()"
        }
        Backend::Sqlite | Backend::SqliteUnixMs => {
            "SELECT m.name || '.' || p.name AS value FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table'"
        }
    };
    let text_type = if app.backend == Backend::Mysql { "CHAR" } else { "TEXT" };
    let mut values = Vec::new();
    let columns = texts(&app.db, columns_sql).await;
    assert!(columns.len() >= 30, "the scan sees the Prisma tables: {columns:?}");
    for column in columns {
        let (table, column) = column.split_once('.').expect("table.column");
        let sql = format!(r#"SELECT COALESCE(CAST("{column}" AS {text_type}), '') AS value FROM "{table}""#);
        values.extend(texts(&app.db, &quoted(app.backend, &sql)).await);
    }
    values
}

async fn link_account(client: &Client, user_id: &str, provider_account_id: &str) -> Value {
    client
        .ok(
            "linkAccount",
            json!({ "account": { "userId": user_id, "type": "oidc", "provider": "google",
                "providerAccountId": provider_account_id, "access_token": ACCESS_TOKEN,
                "refresh_token": REFRESH_TOKEN, "id_token": ID_TOKEN, "token_type": "bearer" } }),
        )
        .await
}

async fn get_account(client: &Client, provider_account_id: &str) -> crate::support::TestResponse {
    client.call("getAccount", json!({ "provider": "google", "providerAccountId": provider_account_id })).await
}

async fn session_of(client: &Client, token: &str) -> Value {
    client.ok("getSessionAndUser", json!({ "sessionToken": token })).await
}

async fn create_session(client: &Client, user_id: &str, token: Option<&str>) -> String {
    let mut session = json!({ "userId": user_id, "expires": FAR });
    if let Some(token) = token {
        session["sessionToken"] = json!(token);
    }
    let created = client.ok("createSession", json!({ "session": session })).await;
    created["sessionToken"].as_str().expect("the caller gets the raw token").to_owned()
}

/// A whole lifecycle with both options on leaves the live sessions and the account in the
/// database, and no value anywhere is a session token or an OAuth token the callers hold.
async fn a_database_copy_holds_no_raw_token(backend: Backend) {
    let app = TestApp::with_at_rest(backend, Schema::Migrations, Default::default(), hashed_and_sealed()).await;
    let user_id = app.user("ada@example.com").await;
    let account = link_account(&app, &user_id, "1").await;
    assert_eq!((account["access_token"].as_str(), account["id_token"].as_str()), (Some(ACCESS_TOKEN), Some(ID_TOKEN)));
    assert_eq!(get_account(&app, "1").await.json()["refresh_token"], REFRESH_TOKEN);
    let chosen = create_session(&app, &user_id, Some("auth.js-chosen-4f1d")).await;
    assert_eq!(chosen, "auth.js-chosen-4f1d");
    let generated = create_session(&app, &user_id, None).await;
    let slid = app.ok("getSessionAndUser", json!({ "sessionToken": chosen, "maxAge": 7200, "updateAge": 0 })).await;
    assert_eq!(slid["session"]["sessionToken"], chosen.as_str(), "the caller's token comes back");
    let updated = app.ok("updateSession", json!({ "session": { "sessionToken": chosen, "expires": FAR } })).await;
    assert_eq!(updated["sessionToken"], chosen.as_str());
    let rotated = app.post("/v1/sessions/rotate", &json!({ "sessionToken": chosen })).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let rotated = rotated.json()["sessionToken"].as_str().expect("a new token").to_owned();
    // Inside the grace window the old token still reads, through its hash in previousSessionToken.
    assert_eq!(session_of(&app, &chosen).await["session"]["sessionToken"], chosen.as_str());
    assert_eq!(session_of(&app, &rotated).await["user"]["id"], user_id.as_str());
    let doomed = create_session(&app, &user_id, Some("signed-out-7e2b")).await;
    assert_eq!(app.ok("deleteSession", json!({ "sessionToken": doomed })).await["sessionToken"], doomed.as_str());
    assert_eq!(app.ok("deleteSession", json!({ "sessionToken": doomed })).await, Value::Null);

    let values = every_value(&app).await;
    let stored: Vec<String> = [&rotated, &generated].map(|t| sha256_hex(t)).to_vec();
    for hash in &stored {
        assert!(values.contains(hash), "sessionToken holds the SHA-256 of the token");
    }
    for secret in [chosen.as_str(), &generated, &rotated, ACCESS_TOKEN, REFRESH_TOKEN, ID_TOKEN] {
        let found: Vec<&String> = values.iter().filter(|v| v.contains(secret)).collect();
        assert!(found.is_empty(), "{secret} is in the database on {backend:?}: {found:?}");
    }
    assert_eq!(values.iter().filter(|v| v.starts_with("ab:v1:old:")).count(), 3, "three sealed tokens");
}

/// plain → sha256-migrating → `migrate-tokens` → sha256: every session made before the switch
/// keeps working through each step, including two first uses of one token at once.
async fn the_switch_to_sha256_signs_nobody_out(backend: Backend) {
    let app = TestApp::with_at_rest(backend, Schema::Migrations, Default::default(), AtRest::default()).await;
    let user_id = app.user("grace@example.com").await;
    let raced = create_session(&app, &user_id, Some("a2c1f0e4-raced")).await;
    let updated = create_session(&app, &user_id, Some("b9d3-updated")).await;
    let rotated = create_session(&app, &user_id, Some("c7e5-rotated")).await;
    let deleted = create_session(&app, &user_id, Some("d1f7-deleted")).await;
    let unused = create_session(&app, &user_id, Some("e3a9-left-for-the-command")).await;
    // authbridge's own tokens look like hashes: the command cannot tell, first use can.
    let own = create_session(&app, &user_id, None).await;
    assert!(authbridge::at_rest::may_be_hashed(&own));

    let migrating = app.client_with(storing(SessionTokenStorage::Sha256Migrating));
    let races = (0..8).map(|_| {
        let client = migrating.clone();
        let token = raced.clone();
        tokio::spawn(async move { client.call("getSessionAndUser", json!({ "sessionToken": token })).await })
    });
    for answer in futures::future::join_all(races).await {
        let answer = answer.expect("the task ends");
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.json()["session"]["sessionToken"], raced.as_str(), "{}", answer.text);
    }
    let update = json!({ "session": { "sessionToken": updated, "expires": FAR } });
    assert_eq!(migrating.ok("updateSession", update).await["sessionToken"], updated.as_str());
    let answer = migrating.post("/v1/sessions/rotate", &json!({ "sessionToken": rotated })).await;
    let rotated = answer.json()["sessionToken"].as_str().expect("rotated").to_owned();
    assert_eq!(
        migrating.ok("deleteSession", json!({ "sessionToken": deleted })).await["sessionToken"],
        deleted.as_str()
    );
    assert_eq!(session_of(&migrating, &own).await["session"]["sessionToken"], own.as_str());

    let db = &app.db;
    let batch = std::num::NonZeroU32::new(2).expect("2");
    let report = sessions::hash_plain_tokens(db, batch, db.now()).await.expect("migrate-tokens");
    assert_eq!(report.hashed, 1, "only the unused plain token was left: {report:?}");
    assert_eq!(report.ambiguous, 4, "hashes (and raw hex tokens) are left alone: {report:?}");
    assert!(report.ambiguous_until.is_some());
    let again = sessions::hash_plain_tokens(db, batch, db.now()).await.expect("migrate-tokens");
    assert_eq!(again.hashed, 0, "a second run finds nothing plain");

    let hashed = app.client_with(storing(SessionTokenStorage::Sha256));
    for token in [&raced, &updated, &rotated, &unused, &own] {
        assert_eq!(session_of(&hashed, token).await["user"]["id"], user_id.as_str(), "{token} still signs in");
    }
    assert_eq!(session_of(&hashed, &deleted).await, Value::Null);
    assert_eq!(texts(db, "SELECT id AS value FROM sessions").await.len(), 5);
    for token in [&raced, &updated, &rotated, &unused, &own] {
        let found = texts(
            db,
            &quoted(
                backend,
                &format!(r#"SELECT id AS value FROM sessions WHERE "sessionToken" = '{}'"#, sha256_hex(token)),
            ),
        )
        .await;
        assert_eq!(found.len(), 1, "{token} is stored as its hash");
    }
}

/// Tokens sealed under an old key still read after a new key goes first; `reencrypt` moves them
/// (and the tokens written before encryption) to the new key, after which the old key can go.
async fn oauth_tokens_survive_key_rotation(backend: Backend) {
    let app = TestApp::with_at_rest(backend, Schema::Migrations, Default::default(), AtRest::default()).await;
    let user_id = app.user("ada@example.com").await;
    link_account(&app, &user_id, "plain").await;
    let old = app.client_with(AtRest { encryption_keys: keys(KEY_OLD), ..AtRest::default() });
    link_account(&old, &user_id, "sealed").await;
    let rotated_keys = format!("{KEY_NEW},{KEY_OLD}");
    let both = app.client_with(AtRest { encryption_keys: keys(&rotated_keys), ..AtRest::default() });
    link_account(&both, &user_id, "new").await;
    for id in ["plain", "sealed", "new"] {
        let account = get_account(&both, id).await.json();
        assert_eq!(
            (account["access_token"].as_str(), account["refresh_token"].as_str()),
            (Some(ACCESS_TOKEN), Some(REFRESH_TOKEN)),
            "{id}"
        );
        assert_eq!(account["token_type"], "bearer", "other columns are stored as sent");
    }
    assert_eq!(
        get_account(&app, "sealed").await.json()["access_token"].as_str().map(|t| t.starts_with("ab:v1:old:")),
        Some(true),
        "without keys a sealed value is shown sealed, never opened"
    );

    let new_keys = keys(&rotated_keys).expect("keys");
    let batch = std::num::NonZeroU32::new(2).expect("2");
    let done = accounts::reencrypt(&app.db, &new_keys, batch).await.expect("reencrypt");
    assert_eq!((done.rewritten, done.failed), (6, 0), "3 plain and 3 old-key tokens: {done:?}");
    let again = accounts::reencrypt(&app.db, &new_keys, batch).await.expect("reencrypt");
    assert_eq!(again.rewritten, 0);
    let only_new = app.client_with(AtRest { encryption_keys: keys(KEY_NEW), ..AtRest::default() });
    for id in ["plain", "sealed", "new"] {
        assert_eq!(get_account(&only_new, id).await.json()["id_token"], ID_TOKEN, "{id} opens with the new key alone");
    }
}

/// A sealed token altered in the database (or sealed under a key no longer configured) is a 422
/// naming the column, never a 500 and never the value; the other accounts still read.
async fn an_altered_oauth_token_is_a_4xx_without_the_value(backend: Backend) {
    let app = TestApp::with_at_rest(backend, Schema::Migrations, Default::default(), hashed_and_sealed()).await;
    let user_id = app.user("ada@example.com").await;
    link_account(&app, &user_id, "altered").await;
    link_account(&app, &user_id, "intact").await;
    let sealed = texts(
        &app.db,
        &quoted(backend, r#"SELECT refresh_token AS value FROM accounts WHERE "providerAccountId" = 'altered'"#),
    )
    .await
    .remove(0);
    // Another valid value, of another row: moved, it must not open either.
    let moved = texts(
        &app.db,
        &quoted(backend, r#"SELECT refresh_token AS value FROM accounts WHERE "providerAccountId" = 'intact'"#),
    )
    .await
    .remove(0);
    execute(
        &app.db,
        &quoted(
            backend,
            &format!(r#"UPDATE accounts SET refresh_token = '{moved}' WHERE "providerAccountId" = 'altered'"#),
        ),
    )
    .await;
    let answer = get_account(&app, "altered").await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.text);
    assert_eq!(answer.json()["code"], "failed_precondition");
    assert!(answer.text.contains("refresh_token"), "{}", answer.text);
    for secret in [REFRESH_TOKEN, &sealed, &moved] {
        assert!(!answer.text.contains(secret), "{}", answer.text);
    }
    assert_eq!(get_account(&app, "intact").await.json()["refresh_token"], REFRESH_TOKEN);
    let unknown_key = app.client_with(AtRest { encryption_keys: keys(KEY_NEW), ..AtRest::default() });
    assert_eq!(get_account(&unknown_key, "intact").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Every contract fixture, with session tokens hashed and OAuth tokens sealed.
async fn contract_fixtures_pass_with_hashing_and_encryption(backend: Backend) {
    for name in crate::contract::fixtures_on(backend) {
        crate::contract::run_fixture_on(backend, &name, async |settings| {
            TestApp::with_at_rest(backend, Schema::Migrations, settings, hashed_and_sealed()).await
        })
        .await;
    }
}

/// The session read sends the same statements whatever the storage; under `sha256-migrating` only
/// a plain row's first use costs more (the miss and the rewrite).
async fn hashed_page_views_cost_what_plain_ones_cost(backend: Backend) {
    let (app, log) = crate::hot_path::instrumented_on(backend, Schema::Migrations).await;
    let user_id = app.user("ada@example.com").await;
    let token = create_session(&app, &user_id, Some("page-view-token")).await;
    let statements = async |client: &Client| {
        log.lock().unwrap().clear();
        assert_eq!(session_of(client, &token).await["user"]["id"], user_id.as_str());
        // The SQL alone: the bound token differs, the statements must not.
        let sent = log.lock().unwrap().clone();
        sent.iter().map(|s| s.split(" -- binds").next().unwrap_or_default().to_owned()).collect::<Vec<_>>()
    };
    let plain = statements(&app).await;
    let migrating = app.client_with(storing(SessionTokenStorage::Sha256Migrating));
    let first_use = statements(&migrating).await;
    assert!(first_use.len() > plain.len(), "the miss and the rewrite: {first_use:?}");
    assert_eq!(statements(&migrating).await, plain, "then a page view as before");
    assert_eq!(statements(&app.client_with(storing(SessionTokenStorage::Sha256))).await, plain);
}
