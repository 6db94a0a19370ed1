//! `POST /v1/adapter/{method}`: the Auth.js adapter contract, one function per method.

use std::num::NonZeroU32;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use rand::RngExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::input::{Key, NonEmpty, Text, entity, parse_body, patch, whole, whole_opt};
use crate::AppState;
use crate::db::time::WireTime;
use crate::error::ApiError;
use crate::models::accounts::{self, Account};
use crate::models::authenticators::{self, Authenticator};
use crate::models::sessions::{self, Session, SessionChanges, Slide};
use crate::models::users::{self, User, UserChanges};
use crate::models::verification_tokens::{self, VerificationToken};

pub const IGNORED_FIELDS_HEADER: &str = "authbridge-ignored-fields";

/// The 19 methods of the Auth.js `Adapter` interface.
pub const METHODS: [&str; 19] = [
    "createUser",
    "getUser",
    "getUserByEmail",
    "getUserByAccount",
    "updateUser",
    "deleteUser",
    "linkAccount",
    "unlinkAccount",
    "createSession",
    "getSessionAndUser",
    "updateSession",
    "deleteSession",
    "createVerificationToken",
    "useVerificationToken",
    "getAccount",
    "getAuthenticator",
    "createAuthenticator",
    "listAuthenticatorsByUserId",
    "updateAuthenticatorCounter",
];

/// A method's JSON answer plus the entity keys that were dropped.
pub struct Reply {
    body: Vec<u8>,
    ignored: Vec<String>,
}

impl Reply {
    fn json<T: Serialize>(value: &T) -> Result<Self, ApiError> {
        Self::with_ignored(value, Vec::new())
    }

    fn with_ignored<T: Serialize>(value: &T, ignored: Vec<String>) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value).map_err(|e| {
            tracing::error!(error = %e, "cannot serialize a response");
            ApiError::Internal
        })?;
        Ok(Self { body, ignored })
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], self.body).into_response();
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
                response.headers_mut().insert(IGNORED_FIELDS_HEADER, value);
            }
        }
        response
    }
}

const HEADER_UNSAFE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b',').add(b'%').add(b'"').add(0x7f);

pub async fn call(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let args = Args { state: &state, headers: &headers, body: &body };
    match method.as_str() {
        "createUser" => create_user(args).await,
        "getUser" => get_user(args).await,
        "getUserByEmail" => get_user_by_email(args).await,
        "getUserByAccount" => get_user_by_account(args).await,
        "updateUser" => update_user(args).await,
        "deleteUser" => delete_user(args).await,
        "linkAccount" => link_account(args).await,
        "unlinkAccount" => unlink_account(args).await,
        "createSession" => create_session(args).await,
        "getSessionAndUser" => get_session_and_user(args).await,
        "updateSession" => update_session(args).await,
        "deleteSession" => delete_session(args).await,
        "createVerificationToken" => create_verification_token(args).await,
        "useVerificationToken" => use_verification_token(args).await,
        "getAccount" => get_account(args).await,
        "getAuthenticator" => get_authenticator(args).await,
        "createAuthenticator" => create_authenticator(args).await,
        "listAuthenticatorsByUserId" => list_authenticators_by_user_id(args).await,
        "updateAuthenticatorCounter" => update_authenticator_counter(args).await,
        _ => Err(ApiError::NotFound(format!(
            "unknown adapter method {:?}; the methods are: {}",
            method.chars().take(64).collect::<String>(),
            METHODS.join(", ")
        ))),
    }
}

#[derive(Clone, Copy)]
struct Args<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

impl Args<'_> {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_body(self.headers, self.body)
    }
}

// ---------------------------------------------------------------------------------------------
// Users

/// The columns of `users` as they arrive in a `user` object. `id` is only read by `updateUser`;
/// the `id` Auth.js core sends to `createUser` is expected and ignored, whatever it holds (the
/// server makes a cuid). Other keys without a column are dropped and reported.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserFields {
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
pub(crate) struct UserArg {
    #[schema(value_type = UserFields)]
    user: Map<String, Value>,
}

async fn create_user(args: Args<'_>) -> Result<Reply, ApiError> {
    let UserArg { user } = args.parse()?;
    // Auth.js core always sends the `id` it generated; Prisma's adapter drops it unread, so do we.
    let (fields, ignored): (UserFields, _) = entity("user", user, args.state.settings.unknown_fields, &["id"])?;
    let db = &args.state.db;
    let new = User {
        id: cuid::cuid1(),
        name: fields.name.flatten().map(|t| t.0),
        email: fields.email.flatten().map(|k| k.0),
        email_verified: fields.email_verified.flatten().map(|t| db.time(t.0)),
        image: fields.image.flatten().map(|t| t.0),
    };
    Reply::with_ignored(&users::create(db, new).await?, ignored)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdArg {
    id: Key,
}

async fn get_user(args: Args<'_>) -> Result<Reply, ApiError> {
    let IdArg { id } = args.parse()?;
    Reply::json(&users::find(&args.state.db, &id.0).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailArg {
    email: Key,
}

async fn get_user_by_email(args: Args<'_>) -> Result<Reply, ApiError> {
    let EmailArg { email } = args.parse()?;
    Reply::json(&users::find_by_email(&args.state.db, &email.0).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ProviderArg {
    provider: Key,
    provider_account_id: Key,
}

async fn get_user_by_account(args: Args<'_>) -> Result<Reply, ApiError> {
    let ProviderArg { provider, provider_account_id } = args.parse()?;
    Reply::json(&users::find_by_account(&args.state.db, &provider.0, &provider_account_id.0).await?)
}

async fn update_user(args: Args<'_>) -> Result<Reply, ApiError> {
    let UserArg { user } = args.parse()?;
    let (fields, ignored): (UserFields, _) = entity("user", user, args.state.settings.unknown_fields, &[])?;
    let id = fields.id.ok_or_else(|| ApiError::invalid("user.id", "invalid `user.id`: missing field `id`"))?;
    let db = &args.state.db;
    let changes = UserChanges {
        name: fields.name.map(|v| v.map(|t| t.0)),
        email: fields.email.map(|v| v.map(|k| k.0)),
        email_verified: fields.email_verified.map(|v| v.map(|t| db.time(t.0))),
        image: fields.image.map(|v| v.map(|t| t.0)),
    };
    match users::update(db, &id.0, changes).await? {
        Some(user) => Reply::with_ignored(&user, ignored),
        None => Err(ApiError::NotFound("no user has this id".into())),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UserIdArg {
    user_id: Key,
}

async fn delete_user(args: Args<'_>) -> Result<Reply, ApiError> {
    let UserIdArg { user_id } = args.parse()?;
    Reply::json(&users::delete(&args.state.db, &user_id.0).await?)
}

// ---------------------------------------------------------------------------------------------
// Accounts

#[derive(Deserialize, ToSchema)]
pub(crate) struct AccountFields {
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
pub(crate) struct AccountArg {
    #[schema(value_type = AccountFields)]
    account: Map<String, Value>,
}

async fn link_account(args: Args<'_>) -> Result<Reply, ApiError> {
    let AccountArg { account } = args.parse()?;
    let (f, ignored): (AccountFields, _) = entity("account", account, args.state.settings.unknown_fields, &[])?;
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
    Reply::with_ignored(&accounts::link(&args.state.db, account).await?, ignored)
}

async fn unlink_account(args: Args<'_>) -> Result<Reply, ApiError> {
    let ProviderArg { provider, provider_account_id } = args.parse()?;
    Reply::json(&accounts::unlink(&args.state.db, &provider.0, &provider_account_id.0).await?)
}

async fn get_account(args: Args<'_>) -> Result<Reply, ApiError> {
    let ProviderArg { provider, provider_account_id } = args.parse()?;
    Reply::json(&accounts::find(&args.state.db, &provider.0, &provider_account_id.0).await?)
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewSessionFields {
    #[serde(default)]
    session_token: Option<Key>,
    user_id: Key,
    expires: WireTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSessionArg {
    session: NewSessionFields,
}

/// 32 random bytes from the OS-seeded CSPRNG, lower-case hex (what Auth.js core generates).
pub fn new_session_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

async fn create_session(args: Args<'_>) -> Result<Reply, ApiError> {
    let NewSessionArg { session } = args.parse()?;
    let db = &args.state.db;
    let session = Session {
        id: cuid::cuid1(),
        session_token: session.session_token.map_or_else(new_session_token, |t| t.0),
        user_id: session.user_id.0,
        expires: db.time(session.expires.0),
    };
    let keep_at_most = NonZeroU32::new(args.state.settings.max_sessions_per_user);
    Reply::json(&sessions::create(db, session, keep_at_most).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SessionLookupArg {
    session_token: Key,
    /// Seconds a session lives after a slide (default: --session-max-age); at most 100 years.
    #[serde(default, deserialize_with = "whole_opt")]
    #[schema(maximum = 3_153_600_000_u64)]
    max_age: Option<u64>,
    /// Seconds between slides (default: --session-update-age); not greater than `maxAge`.
    #[serde(default, deserialize_with = "whole_opt")]
    #[schema(maximum = 3_153_600_000_u64)]
    update_age: Option<u64>,
    /// `false` only reads, never slides.
    #[serde(default)]
    slide: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SessionAndUser {
    session: Session,
    user: User,
}

/// Sessions cannot last longer than this (100 years); it keeps `now + maxAge` representable.
const MAX_AGE_LIMIT: u64 = 100 * 365 * 24 * 60 * 60;

pub(super) fn checked_max_age(max_age: u64) -> Result<u64, ApiError> {
    if max_age > MAX_AGE_LIMIT {
        return Err(ApiError::invalid("maxAge", format!("invalid `maxAge`: must be at most {MAX_AGE_LIMIT} seconds")));
    }
    Ok(max_age)
}

async fn get_session_and_user(args: Args<'_>) -> Result<Reply, ApiError> {
    let arg: SessionLookupArg = args.parse()?;
    let settings = &args.state.settings;
    let max_age = checked_max_age(arg.max_age.unwrap_or(settings.session_max_age))?;
    let update_age = match arg.update_age {
        Some(update_age) if update_age > max_age => {
            return Err(ApiError::invalid("updateAge", "invalid `updateAge`: must not be greater than maxAge"));
        }
        Some(update_age) => update_age,
        // The configured default may exceed an explicit, shorter maxAge: clamp it, never a 400.
        None => settings.session_update_age.min(max_age),
    };
    let db = &args.state.db;
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
    let found = sessions::find_with_user(db, &arg.session_token.0, now, slide).await?;
    Reply::json(&found.map(|(session, user)| SessionAndUser { session, user }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SessionUpdateFields {
    session_token: Key,
    #[serde(default)]
    expires: Option<WireTime>,
    #[serde(default)]
    user_id: Option<Key>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionUpdateArg {
    session: SessionUpdateFields,
}

async fn update_session(args: Args<'_>) -> Result<Reply, ApiError> {
    let SessionUpdateArg { session } = args.parse()?;
    let db = &args.state.db;
    let changes =
        SessionChanges { expires: session.expires.map(|t| db.time(t.0)), user_id: session.user_id.map(|k| k.0) };
    Reply::json(&sessions::update(db, &session.session_token.0, changes).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SessionTokenArg {
    session_token: Key,
}

async fn delete_session(args: Args<'_>) -> Result<Reply, ApiError> {
    let SessionTokenArg { session_token } = args.parse()?;
    Reply::json(&sessions::delete(&args.state.db, &session_token.0).await?)
}

// ---------------------------------------------------------------------------------------------
// Verification tokens

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerificationTokenFields {
    identifier: Key,
    token: Key,
    expires: WireTime,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VerificationTokenArg {
    verification_token: VerificationTokenFields,
}

async fn create_verification_token(args: Args<'_>) -> Result<Reply, ApiError> {
    let VerificationTokenArg { verification_token: v } = args.parse()?;
    let db = &args.state.db;
    let token = VerificationToken { identifier: v.identifier.0, token: v.token.0, expires: db.time(v.expires.0) };
    Reply::json(&verification_tokens::create(db, token).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UseVerificationTokenArg {
    identifier: Key,
    token: Key,
}

async fn use_verification_token(args: Args<'_>) -> Result<Reply, ApiError> {
    let UseVerificationTokenArg { identifier, token } = args.parse()?;
    Reply::json(&verification_tokens::use_token(&args.state.db, &identifier.0, &token.0).await?)
}

// ---------------------------------------------------------------------------------------------
// Authenticators (WebAuthn)

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuthenticatorFields {
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
pub(crate) struct AuthenticatorArg {
    authenticator: AuthenticatorFields,
}

async fn create_authenticator(args: Args<'_>) -> Result<Reply, ApiError> {
    let AuthenticatorArg { authenticator: a } = args.parse()?;
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
    Reply::json(&authenticators::create(&args.state.db, authenticator).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialIdArg {
    #[serde(rename = "credentialID")]
    credential_id: Key,
}

async fn get_authenticator(args: Args<'_>) -> Result<Reply, ApiError> {
    let CredentialIdArg { credential_id } = args.parse()?;
    Reply::json(&authenticators::find(&args.state.db, &credential_id.0).await?)
}

async fn list_authenticators_by_user_id(args: Args<'_>) -> Result<Reply, ApiError> {
    let UserIdArg { user_id } = args.parse()?;
    Reply::json(&authenticators::list_by_user(&args.state.db, &user_id.0).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CounterArg {
    #[serde(rename = "credentialID")]
    credential_id: Key,
    #[serde(deserialize_with = "whole")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    counter: i32,
}

async fn update_authenticator_counter(args: Args<'_>) -> Result<Reply, ApiError> {
    let CounterArg { credential_id, counter } = args.parse()?;
    match authenticators::update_counter(&args.state.db, &credential_id.0, counter).await? {
        Some(authenticator) => Reply::json(&authenticator),
        None => Err(ApiError::NotFound("no authenticator has this credentialID".into())),
    }
}
