//! The Auth.js adapter contract: one route `POST /v1/adapter/<method>` per method of the
//! `Adapter` interface, each declared (and so documented) by its `#[utoipa::path]`.

#![allow(unused_qualifications, reason = "`#[utoipa::path]` spells out the paths of the types it is given")]

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use super::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, AllOfBuilder, Object, ObjectBuilder};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use super::input::{
    ApiJson, Key, MaxAge, NonEmpty, SessionContext, Text, UpdateAge, entity, optional_seconds, patch, whole, whole_opt,
};
use crate::AppState;
use crate::audit::{Action, Actor, Subject};
use crate::cache::{self, Change};
use crate::db::time::WireTime;
use crate::error::ApiError;
use crate::headers::{IGNORED_FIELDS, JSON, header_name};
use crate::models::accounts::{self, Account};
use crate::models::authenticators::{self, Authenticator};
use crate::models::sessions::{self, Session, SessionChanges, Slide, new_session_token};
use crate::models::users::{self, User, UserChanges};
use crate::models::verification_tokens::{self, VerificationToken};
use crate::openapi::{ADAPTER, string_header};
use crate::rotation;

/// The prefix of every adapter method's path.
pub const PREFIX: &str = "/v1/adapter/";

/// An answer made from an entity object, plus the keys of that object that have no column and
/// were dropped: they are named in the `AuthBridge-Ignored-Fields` header.
pub struct Dropping<T> {
    value: T,
    ignored: Vec<String>,
}

impl<T: Serialize> IntoResponse for Dropping<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.value).into_response();
        if !self.ignored.is_empty() {
            // Keys are client-chosen names; percent-encode anything a header cannot carry. The log
            // gets the same encoded list: a raw key could hold a newline and forge a log line.
            let encoded: Vec<String> = self
                .ignored
                .iter()
                .map(|k| percent_encoding::utf8_percent_encode(k, HEADER_UNSAFE).to_string())
                .collect();
            let encoded = encoded.join(", ");
            tracing::warn!(fields = %encoded, "dropped fields that have no column");
            if let Ok(value) = HeaderValue::from_str(&encoded) {
                response.headers_mut().insert(header_name(IGNORED_FIELDS), value);
            }
        }
        response
    }
}

impl<T: ToSchema> IntoResponses for Dropping<T> {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let header = string_header(
            "Keys of `user` / `account` that have no column and were dropped, as comma-separated `object.key` \
             paths (names only, percent-encoded where needed). Absent when nothing was dropped.",
        );
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(T::name()))).build();
        let ok = ResponseBuilder::new().header(IGNORED_FIELDS, header).content(JSON, content).build();
        BTreeMap::from([("200".to_owned(), ok.into())])
    }
}

const HEADER_UNSAFE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b',').add(b'%').add(b'"').add(0x7f);

/// The answer of an unknown method: 404, naming the methods there are.
pub fn unknown_method(method: &str, methods: &[String]) -> ApiError {
    ApiError::NotFound(format!(
        "unknown adapter method {:?}; the methods are: {}",
        method.chars().take(64).collect::<String>(),
        methods.join(", ")
    ))
}

type Answer<T> = Result<Json<T>, ApiError>;

// ---------------------------------------------------------------------------------------------
// Users

/// The columns of `users` as they arrive in a `user` object. `id` is only read by `updateUser`;
/// the `id` Auth.js core sends to `createUser` is expected and ignored, whatever it holds (the
/// server makes a cuid). Other keys without a column are dropped and reported.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserFields {
    /// Described by `updateUser`'s body only: `createUser` never reads it.
    #[serde(default)]
    #[schema(ignore)]
    id: Option<Key>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Text>)]
    name: Option<Option<Text>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Key>)]
    email: Option<Option<Key>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<WireTime>)]
    email_verified: Option<Option<WireTime>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Text>)]
    image: Option<Option<Text>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserArg {
    #[schema(value_type = UserFields)]
    user: Map<String, Value>,
}

#[utoipa::path(post, path = "/v1/adapter/createUser", operation_id = "createUser", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "createUser",
    description = "Creates a user. An incoming `user.id` is ignored: the server generates a cuid. Keys without \
                   a column are dropped and named in AuthBridge-Ignored-Fields (or rejected with \
                   --unknown-fields=reject).",
    request_body = UserArg, responses(Dropping<User>, (status = 409)))]
pub async fn create_user(
    State(state): State<AppState>,
    ApiJson(UserArg { user }): ApiJson<UserArg>,
) -> Result<Dropping<User>, ApiError> {
    // Auth.js core always sends the `id` it generated; Prisma's adapter drops it unread, so do we.
    let (fields, ignored): (UserFields, _) = entity("user", user, state.settings.unknown_fields, &["id"])?;
    let db = &state.db;
    let new = User {
        id: cuid::cuid1(),
        name: fields.name.flatten().map(|t| t.0),
        email: fields.email.flatten().map(|k| k.0),
        email_verified: fields.email_verified.flatten().map(|t| db.time(t.0)),
        image: fields.image.flatten().map(|t| t.0),
    };
    Ok(Dropping { value: users::create(db, new).await?, ignored })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdArg {
    id: Key,
}

#[utoipa::path(post, path = "/v1/adapter/getUser", operation_id = "getUser", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "getUser",
    description = "The user with this id, or null.",
    request_body = IdArg, responses((status = 200, body = Option<User>)))]
pub async fn get_user(State(state): State<AppState>, ApiJson(IdArg { id }): ApiJson<IdArg>) -> Answer<Option<User>> {
    Ok(Json(users::find(&state.db, &id.0).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailArg {
    email: Key,
}

#[utoipa::path(post, path = "/v1/adapter/getUserByEmail", operation_id = "getUserByEmail", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "getUserByEmail",
    description = "The user with exactly this email (compared as the database compares), or null.",
    request_body = EmailArg, responses((status = 200, body = Option<User>)))]
pub async fn get_user_by_email(
    State(state): State<AppState>,
    ApiJson(EmailArg { email }): ApiJson<EmailArg>,
) -> Answer<Option<User>> {
    Ok(Json(users::find_by_email(&state.db, &email.0).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderArg {
    provider: Key,
    provider_account_id: Key,
}

#[utoipa::path(post, path = "/v1/adapter/getUserByAccount", operation_id = "getUserByAccount", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "getUserByAccount",
    description = "The user that linked this provider account, or null.",
    request_body = ProviderArg, responses((status = 200, body = Option<User>)))]
pub async fn get_user_by_account(
    State(state): State<AppState>,
    ApiJson(ProviderArg { provider, provider_account_id }): ApiJson<ProviderArg>,
) -> Answer<Option<User>> {
    Ok(Json(users::find_by_account(&state.db, &provider.0, &provider_account_id.0).await?))
}

/// `updateUser`'s body, for the document: `createUser`'s, with `user.id` required. The handler
/// reads a [`UserArg`].
pub struct UpdateUserArg;

impl PartialSchema for UpdateUserArg {
    fn schema() -> RefOr<Schema> {
        let id = ObjectBuilder::new().property("id", Ref::from_schema_name(Key::name())).required("id");
        ObjectBuilder::new()
            .property("user", AllOfBuilder::new().item(Ref::from_schema_name(UserFields::name())).item(id))
            .required("user")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}
impl ToSchema for UpdateUserArg {}

#[utoipa::path(post, path = "/v1/adapter/updateUser", operation_id = "updateUser", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "updateUser",
    description = "PATCH semantics: an absent key is left alone, null sets NULL. `user.id` is required; an \
                   unknown id is a 404.",
    request_body(content = inline(UpdateUserArg)), responses(Dropping<User>, (status = 404), (status = 409)))]
pub async fn update_user(
    State(state): State<AppState>,
    ApiJson(UserArg { user }): ApiJson<UserArg>,
) -> Result<Dropping<User>, ApiError> {
    let (fields, ignored): (UserFields, _) = entity("user", user, state.settings.unknown_fields, &[])?;
    let id = fields.id.ok_or_else(|| ApiError::invalid("user.id", "invalid `user.id`: missing field `id`"))?;
    let db = &state.db;
    let changes = UserChanges {
        name: fields.name.map(|v| v.map(|t| t.0)),
        email: fields.email.map(|v| v.map(|k| k.0)),
        email_verified: fields.email_verified.map(|v| v.map(|t| db.time(t.0))),
        image: fields.image.map(|v| v.map(|t| t.0)),
    };
    match users::update(db, &id.0, changes).await? {
        Some(user) => {
            state.written(&[Change::User(user.id.clone())]);
            Ok(Dropping { value: user, ignored })
        }
        None => Err(ApiError::NotFound("no user has this id".into())),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserIdArg {
    user_id: Key,
}

#[utoipa::path(post, path = "/v1/adapter/deleteUser", operation_id = "deleteUser", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "deleteUser",
    description = "Deletes the user with its sessions, accounts and authenticators; answers the deleted user \
                   or null.",
    request_body = UserIdArg, responses((status = 200, body = Option<User>)))]
pub async fn delete_user(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(UserIdArg { user_id }): ApiJson<UserIdArg>,
) -> Answer<Option<User>> {
    let deleted = users::delete(&state.db, &user_id.0).await?;
    let deleted_id = deleted.as_ref().map(|user| user.id.as_str());
    actor.record(Action::DeleteUser, Subject::user(deleted_id), u64::from(deleted.is_some()));
    state.written(&[Change::User(user_id.0)]);
    Ok(Json(deleted))
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[derive(Deserialize, ToSchema)]
pub struct AccountFields {
    #[serde(rename = "userId")]
    user_id: Key,
    #[serde(rename = "type")]
    type_: NonEmpty,
    provider: Key,
    #[serde(rename = "providerAccountId")]
    provider_account_id: Key,
    #[serde(default)]
    refresh_token: Option<Text>,
    #[serde(default)]
    access_token: Option<Text>,
    #[serde(default, deserialize_with = "whole_opt")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    expires_at: Option<i32>,
    #[serde(default)]
    token_type: Option<Text>,
    #[serde(default)]
    scope: Option<Text>,
    #[serde(default)]
    id_token: Option<Text>,
    #[serde(default)]
    session_state: Option<Text>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountArg {
    #[schema(value_type = AccountFields)]
    account: Map<String, Value>,
}

#[utoipa::path(post, path = "/v1/adapter/linkAccount", operation_id = "linkAccount", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "linkAccount",
    description = "Links a provider account. Provider extras without a column (refresh_token_expires_in, ...) \
                   are dropped and named in AuthBridge-Ignored-Fields.",
    request_body = AccountArg, responses(Dropping<Account>, (status = 409), (status = 422)))]
pub async fn link_account(
    State(state): State<AppState>,
    ApiJson(AccountArg { account }): ApiJson<AccountArg>,
) -> Result<Dropping<Account>, ApiError> {
    let (f, ignored): (AccountFields, _) = entity("account", account, state.settings.unknown_fields, &[])?;
    let text = |t: Option<Text>| t.map(|t| t.0);
    let account = Account {
        id: cuid::cuid1(),
        user_id: f.user_id.0,
        type_: f.type_.0,
        provider: f.provider.0,
        provider_account_id: f.provider_account_id.0,
        refresh_token: text(f.refresh_token),
        access_token: text(f.access_token),
        expires_at: f.expires_at,
        token_type: text(f.token_type),
        scope: text(f.scope),
        id_token: text(f.id_token),
        session_state: text(f.session_state),
    };
    Ok(Dropping { value: accounts::link(&state.db, account).await?, ignored })
}

#[utoipa::path(post, path = "/v1/adapter/unlinkAccount", operation_id = "unlinkAccount", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "unlinkAccount",
    description = "Deletes the account; answers it, or null when there was none.",
    request_body = ProviderArg, responses((status = 200, body = Option<Account>), (status = 422)))]
pub async fn unlink_account(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(ProviderArg { provider, provider_account_id }): ApiJson<ProviderArg>,
) -> Answer<Option<Account>> {
    let db = &state.db;
    let deleted = accounts::unlink(db, &provider.0, &provider_account_id.0).await?;
    let user_id = deleted.as_ref().map(|account| account.user_id.as_str());
    actor.record(Action::UnlinkAccount, Subject::user(user_id), u64::from(deleted.is_some()));
    // Opened after the line: the row is gone even when a token does not open.
    Ok(Json(deleted.map(|account| accounts::opened(db, account)).transpose()?))
}

#[utoipa::path(post, path = "/v1/adapter/getAccount", operation_id = "getAccount", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "getAccount",
    description = "The account for this provider and provider account id, or null.",
    request_body = ProviderArg, responses((status = 200, body = Option<Account>), (status = 422)))]
pub async fn get_account(
    State(state): State<AppState>,
    ApiJson(ProviderArg { provider, provider_account_id }): ApiJson<ProviderArg>,
) -> Answer<Option<Account>> {
    Ok(Json(accounts::find(&state.db, &provider.0, &provider_account_id.0).await?))
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewSessionFields {
    #[serde(default)]
    session_token: Option<Key>,
    user_id: Key,
    expires: WireTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionArg {
    session: NewSessionFields,
    /// The device signing in, for the optional `Session` columns (see the session metadata).
    #[serde(default)]
    context: Option<SessionContext>,
}

#[utoipa::path(post, path = "/v1/adapter/createSession", operation_id = "createSession", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "createSession",
    description = "Creates a session; without `sessionToken` the server generates one (32 random bytes, \
                   lower-case hex).",
    request_body = NewSessionArg, responses((status = 200, body = Session), (status = 409), (status = 422)))]
pub async fn create_session(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(NewSessionArg { session, context }): ApiJson<NewSessionArg>,
) -> Answer<Session> {
    let db = &state.db;
    let device = context.unwrap_or_default().device(db)?;
    let session = Session {
        id: cuid::cuid1(),
        session_token: session.session_token.map_or_else(new_session_token, |t| t.0),
        user_id: session.user_id.0,
        expires: db.time(session.expires.0),
    };
    let keep_at_most = NonZeroU32::new(state.settings.max_sessions_per_user);
    let (created, evicted) = sessions::create(db, session, &device, keep_at_most).await?;
    if evicted > 0 {
        actor.record(Action::EvictSessions, Subject::user(Some(&created.user_id)), evicted as u64);
        state.written(&[Change::User(created.user_id.clone())]);
    }
    Ok(Json(created))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionLookupArg {
    session_token: Key,
    #[serde(default)]
    #[schema(schema_with = lookup_max_age)]
    max_age: Option<MaxAge>,
    #[serde(default)]
    #[schema(schema_with = lookup_update_age)]
    update_age: Option<UpdateAge>,
    /// `false` only reads, never slides.
    #[serde(default)]
    slide: Option<bool>,
}

fn lookup_max_age() -> Object {
    optional_seconds("Seconds a session lives after a slide (default: --session-max-age); at most 100 years.")
}

fn lookup_update_age() -> Object {
    optional_seconds("Seconds between slides (default: --session-update-age); not greater than `maxAge`.")
}

#[derive(Serialize, ToSchema)]
pub struct SessionAndUser {
    session: Session,
    user: User,
}

#[utoipa::path(post, path = "/v1/adapter/getSessionAndUser", operation_id = "getSessionAndUser", tag = ADAPTER, security(("bearerAuth" = ["adapter"]), ("bearerAuth" = ["session:read"])), summary = "getSessionAndUser",
    description = "The session and its user in one round trip, or null when missing or expired. Slides \
                   `expires` to now + maxAge when `expires - maxAge + updateAge <= now` (unless `slide` is \
                   false). Where the schema keeps previous tokens, a token rotated out less than \
                   --rotation-grace ago answers the session (with that token, never the new one) and \
                   user, unslid; presented later it answers null and revokes the session \
                   (--rotation-reuse).",
    request_body = SessionLookupArg, responses((status = 200, body = Option<SessionAndUser>)))]
pub async fn get_session_and_user(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(arg): ApiJson<SessionLookupArg>,
) -> Answer<Option<SessionAndUser>> {
    let settings = &state.settings;
    let max_age = arg.max_age.map_or_else(|| MaxAge::new(settings.session_max_age), Ok)?;
    let update_age = UpdateAge::within(arg.update_age, settings.session_update_age, max_age)?;
    let max_age = max_age.seconds();
    let db = &state.db;
    let now = db.now();
    let slide = if arg.slide.unwrap_or(true) {
        let ahead = |secs: u64| now.checked_add(TimeDelta::seconds(secs as i64));
        let (Some(new_expires), Some(due_before)) = (ahead(max_age), ahead(max_age - update_age)) else {
            return Err(ApiError::invalid("maxAge", "invalid `maxAge`: too large"));
        };
        Some(Slide { due_before, new_expires })
    } else {
        None
    };
    let token = &arg.session_token.0;
    let found = match cache::find_with_user(state.session_cache(), db, token, now, slide).await? {
        Some(found) => Some(found),
        // Not cached, and never slid: the current token's reads do that.
        None => rotation::previous_token(&state, &actor, token, now).await?,
    };
    Ok(Json(found.map(|(session, user)| SessionAndUser { session, user })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionUpdateFields {
    session_token: Key,
    #[serde(default)]
    expires: Option<WireTime>,
    #[serde(default)]
    user_id: Option<Key>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionUpdateArg {
    session: SessionUpdateFields,
}

#[utoipa::path(post, path = "/v1/adapter/updateSession", operation_id = "updateSession", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "updateSession",
    description = "Updates the session with this token; null when there is none.",
    request_body = SessionUpdateArg, responses((status = 200, body = Option<Session>), (status = 422)))]
pub async fn update_session(
    State(state): State<AppState>,
    ApiJson(SessionUpdateArg { session }): ApiJson<SessionUpdateArg>,
) -> Answer<Option<Session>> {
    let db = &state.db;
    let changes = SessionChanges {
        expires: session.expires.map(|t| db.time(t.0)),
        user_id: session.user_id.map(|k| k.0),
        updated_at: None,
    };
    let updated = sessions::update(db, &session.session_token.0, changes).await?;
    state.written(&token_changes(session.session_token.0, updated.as_ref()));
    Ok(Json(updated))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionTokenArg {
    session_token: Key,
}

#[utoipa::path(post, path = "/v1/adapter/deleteSession", operation_id = "deleteSession", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "deleteSession",
    description = "Signs out: deletes the session and answers it, or null when it was already gone \
                   (idempotent). A token rotated out less than --rotation-grace ago signs its session out too.",
    request_body = SessionTokenArg, responses((status = 200, body = Option<Session>)))]
pub async fn delete_session(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(SessionTokenArg { session_token }): ApiJson<SessionTokenArg>,
) -> Answer<Option<Session>> {
    let db = &state.db;
    let mut deleted = sessions::delete(db, &session_token.0).await?;
    if deleted.is_none() {
        // A sign-out sent with the cookie a rotation has just replaced (the rotating request's
        // answer had not reached the browser yet): the user wants out, so inside the window it
        // signs the session out; after it, it is a reuse like any other.
        if let Some((session, _)) = rotation::previous_token(&state, &actor, &session_token.0, db.now()).await? {
            deleted = sessions::delete_by_id(db, &session.id).await?.map(|_| session);
        }
    }
    let subject =
        deleted.as_ref().map_or_else(Subject::none, |session| Subject::session(&session.user_id, &session.id));
    actor.record(Action::DeleteSession, subject, u64::from(deleted.is_some()));
    state.written(&token_changes(session_token.0, deleted.as_ref()));
    Ok(Json(deleted))
}

/// What a write by token changed: the token's own entry, and the session it names (by id, which
/// is what other instances are told).
pub fn token_changes(token: String, session: Option<&Session>) -> Vec<Change> {
    let mut changes = vec![Change::Token(token)];
    changes.extend(session.map(|s| Change::Session(s.id.clone())));
    changes
}

// ---------------------------------------------------------------------------------------------
// Verification tokens

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationTokenFields {
    identifier: Key,
    token: Key,
    expires: WireTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerificationTokenArg {
    verification_token: VerificationTokenFields,
}

#[utoipa::path(post, path = "/v1/adapter/createVerificationToken", operation_id = "createVerificationToken", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "createVerificationToken",
    description = "Stores a magic-link token.",
    request_body = VerificationTokenArg, responses((status = 200, body = VerificationToken), (status = 409)))]
pub async fn create_verification_token(
    State(state): State<AppState>,
    ApiJson(VerificationTokenArg { verification_token: v }): ApiJson<VerificationTokenArg>,
) -> Answer<VerificationToken> {
    let db = &state.db;
    let token = VerificationToken { identifier: v.identifier.0, token: v.token.0, expires: db.time(v.expires.0) };
    Ok(Json(verification_tokens::create(db, token).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseVerificationTokenArg {
    identifier: Key,
    token: Key,
}

#[utoipa::path(post, path = "/v1/adapter/useVerificationToken", operation_id = "useVerificationToken", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "useVerificationToken",
    description = "Atomically deletes and answers the token (even when expired), or null: of concurrent calls \
                   exactly one gets it.",
    request_body = UseVerificationTokenArg, responses((status = 200, body = Option<VerificationToken>)))]
pub async fn use_verification_token(
    State(state): State<AppState>,
    ApiJson(UseVerificationTokenArg { identifier, token }): ApiJson<UseVerificationTokenArg>,
) -> Answer<Option<VerificationToken>> {
    Ok(Json(verification_tokens::use_token(&state.db, &identifier.0, &token.0).await?))
}

// ---------------------------------------------------------------------------------------------
// Authenticators (WebAuthn)

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthenticatorFields {
    #[serde(rename = "credentialID")]
    credential_id: Key,
    user_id: Key,
    provider_account_id: Key,
    credential_public_key: NonEmpty,
    #[serde(deserialize_with = "whole")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    counter: i32,
    credential_device_type: NonEmpty,
    credential_backed_up: bool,
    #[serde(default)]
    transports: Option<Text>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorArg {
    authenticator: AuthenticatorFields,
}

#[utoipa::path(post, path = "/v1/adapter/createAuthenticator", operation_id = "createAuthenticator", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "createAuthenticator",
    description = "Stores a WebAuthn authenticator.",
    request_body = AuthenticatorArg, responses((status = 200, body = Authenticator), (status = 409), (status = 422)))]
pub async fn create_authenticator(
    State(state): State<AppState>,
    ApiJson(AuthenticatorArg { authenticator: a }): ApiJson<AuthenticatorArg>,
) -> Answer<Authenticator> {
    let authenticator = Authenticator {
        credential_id: a.credential_id.0,
        user_id: a.user_id.0,
        provider_account_id: a.provider_account_id.0,
        credential_public_key: a.credential_public_key.0,
        counter: a.counter,
        credential_device_type: a.credential_device_type.0,
        credential_backed_up: a.credential_backed_up,
        transports: a.transports.map(|t| t.0),
    };
    Ok(Json(authenticators::create(&state.db, authenticator).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialIdArg {
    #[serde(rename = "credentialID")]
    credential_id: Key,
}

#[utoipa::path(post, path = "/v1/adapter/getAuthenticator", operation_id = "getAuthenticator", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "getAuthenticator",
    description = "The WebAuthn authenticator with this credential id, or null.",
    request_body = CredentialIdArg, responses((status = 200, body = Option<Authenticator>)))]
pub async fn get_authenticator(
    State(state): State<AppState>,
    ApiJson(CredentialIdArg { credential_id }): ApiJson<CredentialIdArg>,
) -> Answer<Option<Authenticator>> {
    Ok(Json(authenticators::find(&state.db, &credential_id.0).await?))
}

#[utoipa::path(post, path = "/v1/adapter/listAuthenticatorsByUserId", operation_id = "listAuthenticatorsByUserId", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "listAuthenticatorsByUserId",
    description = "The user's authenticators; [] for an unknown user.",
    request_body = UserIdArg, responses((status = 200, body = Vec<Authenticator>)))]
pub async fn list_authenticators_by_user_id(
    State(state): State<AppState>,
    ApiJson(UserIdArg { user_id }): ApiJson<UserIdArg>,
) -> Answer<Vec<Authenticator>> {
    Ok(Json(authenticators::list_by_user(&state.db, &user_id.0).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterArg {
    #[serde(rename = "credentialID")]
    credential_id: Key,
    #[serde(deserialize_with = "whole")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    counter: i32,
}

#[utoipa::path(post, path = "/v1/adapter/updateAuthenticatorCounter", operation_id = "updateAuthenticatorCounter", tag = ADAPTER, security(("bearerAuth" = ["adapter"])), summary = "updateAuthenticatorCounter",
    description = "Sets the signature counter; an unknown credential id is a 404.",
    request_body = CounterArg, responses((status = 200, body = Authenticator), (status = 404)))]
pub async fn update_authenticator_counter(
    State(state): State<AppState>,
    ApiJson(CounterArg { credential_id, counter }): ApiJson<CounterArg>,
) -> Answer<Authenticator> {
    match authenticators::update_counter(&state.db, &credential_id.0, counter).await? {
        Some(authenticator) => Ok(Json(authenticator)),
        None => Err(ApiError::NotFound("no authenticator has this credentialID".into())),
    }
}
