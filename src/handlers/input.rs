//! Turning request bodies into typed arguments, with a 400 that names the offending field.

use std::borrow::Cow;
use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use diesel::Column as _;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::config::UnknownFields;
use crate::db::Db;
use crate::db::DbTime;
use crate::db::schema::sessions;
use crate::db::tables::SESSIONS;
use crate::db::time::WireTime;
use crate::error::ApiError;
use crate::headers::JSON;
use crate::models::sessions::Device;

/// Unique and primary-key columns are B-tree indexed; PostgreSQL refuses index entries over
/// ~2.7 kB, so longer keys are rejected up front instead of failing in the database. The limit
/// counts characters (Unicode scalar values), as JSON Schema's `maxLength` does, so the OpenAPI
/// document and the server agree on every string; 256 characters are at most 1024 bytes of UTF-8,
/// so even a two-column key (`provider` + `providerAccountId`) fits PostgreSQL's index limit.
pub const MAX_KEY_CHARS: usize = 256;

/// A string that must not be empty, must not hold NUL (PostgreSQL TEXT cannot store it) and is
/// short enough to be an index key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(pub String);

/// A required string that is not indexed (a public key, an account type): non-empty, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(pub String);

/// Any string without NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

fn no_nul<E: serde::de::Error>(s: &str) -> Result<(), E> {
    if s.contains('\0') { Err(E::custom("must not contain NUL characters")) } else { Ok(()) }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let NonEmpty(s) = NonEmpty::deserialize(d)?;
        if s.chars().count() > MAX_KEY_CHARS {
            return Err(D::Error::custom(format_args!("must be at most {MAX_KEY_CHARS} characters long")));
        }
        Ok(Key(s))
    }
}

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(D::Error::custom("must not be empty"));
        }
        no_nul(&s)?;
        Ok(NonEmpty(s))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        no_nul(&s)?;
        Ok(Text(s))
    }
}

/// The longest `context.ipAddress` accepted: an IPv6 address with a zone index fits.
pub const MAX_IP_ADDRESS_CHARS: usize = 64;
/// The longest `context.userAgent` accepted (a MySQL `String` column holds only 191).
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// Where a session is used from, as the caller saw the request: the `context` of `createSession`
/// and of a rotation, stored where the `Session` model has the optional columns. Never logged.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    #[schema(schema_with = ip_address_schema)]
    ip_address: Option<Text>,
    #[serde(default)]
    #[schema(schema_with = user_agent_schema)]
    user_agent: Option<Text>,
}

/// A context member: a string or `null`, at most `max` characters, no NUL.
fn context_member(description: &str, max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(max))
        .pattern(Some(NO_NUL))
        .description(Some(format!("{description} At most {max} characters; null or empty: unknown.")))
        .build()
}

fn ip_address_schema() -> Object {
    context_member("The client's IP address, as the application determined it.", MAX_IP_ADDRESS_CHARS)
}

fn user_agent_schema() -> Object {
    context_member("The client's User-Agent header.", MAX_USER_AGENT_CHARS)
}

impl SessionContext {
    /// The device to store, or a 400 naming the field that is too long (for the server's bound
    /// or for the column: a MySQL `String` holds 191 characters). An empty value is unknown.
    pub fn device(self, db: &Db) -> Result<Device, ApiError> {
        let bounded = |field: &str, value: Option<Text>, max: usize| match value {
            Some(Text(v)) if v.chars().count() > max => Err(ApiError::invalid(
                format!("context.{field}"),
                format!("`context.{field}` is too long: at most {max} characters"),
            )),
            Some(Text(v)) if !v.is_empty() => Ok(Some(v)),
            _ => Ok(None),
        };
        let device = Device {
            ip_address: bounded("ipAddress", self.ip_address, MAX_IP_ADDRESS_CHARS)?,
            user_agent: bounded("userAgent", self.user_agent, MAX_USER_AGENT_CHARS)?,
        };
        db.check_lengths(
            &SESSIONS,
            &[
                (sessions::ip_address::NAME, device.ip_address.as_deref()),
                (sessions::user_agent::NAME, device.user_agent.as_deref()),
            ],
        )
        .map_err(|e| {
            ApiError::invalid(
                format!("context.{}", e.column),
                format!("`context.{}` is too long: the column holds at most {} {}", e.column, e.max, e.unit),
            )
        })?;
        Ok(device)
    }
}

/// Distinguishes an absent key (`None`) from `null` (`Some(None)`), for PATCH semantics.
pub fn patch<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An integer field. JSON Schema (and so the OpenAPI document) counts `5.0` as the integer 5,
/// while serde refuses a number written with a fraction for an integer type: accept any number
/// with a zero fraction that fits `T`, and refuse the rest with one message.
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    let number = serde_json::Number::deserialize(d)?;
    let value = number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
        // 2^100 bounds the cast; every T here is far smaller, so the range check below decides.
        .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 2f64.powi(100)).map(|f| f as i128));
    let Some(value) = value else {
        return Err(D::Error::custom(format_args!("expected an integer, found {number}")));
    };
    T::try_from(value).map_err(|_| D::Error::custom(format_args!("integer {number} is out of range")))
}

/// [`whole`] for an optional field: absent or `null` is `None`.
pub fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<i128>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<Whole<T>>::deserialize(d)?.map(|Whole(value)| value))
}

/// `application/json`, optionally with parameters such as `charset=utf-8`.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some(JSON) => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// A JSON request body read into `T`; every failure is a problem answer that names the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = axum::response::Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The content type is read before the body takes the request (copying the request's head
        // to keep it cost about 1,600 instructions per call), but the body is checked first: one
        // over the limit is a 413 whatever its content type.
        let json = require_json(request.headers());
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        json.map_err(IntoResponse::into_response)?;
        parse_json(&body).map(Self).map_err(IntoResponse::into_response)
    }
}

fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidArgument { detail: format!("malformed JSON: {e}"), field: None })?;
    reject_arrays(&json, "")?;
    serde_path_to_error::deserialize(json).map_err(|e| invalid_at("", e))
}

/// Parses a query string into `T`, whose fields read strings (`Key`, [`QueryFlag`], ...).
/// Unknown and repeated parameters are a 400 naming the parameter.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    let mut params = Map::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let name = name.into_owned();
        if params.contains_key(&name) {
            return Err(ApiError::invalid(name.clone(), format!("invalid `{name}`: given more than once")));
        }
        params.insert(name, Value::String(value.into_owned()));
    }
    serde_path_to_error::deserialize(Value::Object(params)).map_err(|e| invalid_at("", e))
}

/// A path segment naming a row obeys the rules of a [`Key`] in a body.
pub fn path_key(field: &str, value: String) -> Result<String, ApiError> {
    Key::deserialize(Value::String(value))
        .map(|Key(key)| key)
        .map_err(|e| ApiError::invalid(field, format!("invalid `{field}`: {e}")))
}

/// Seconds a session lives: at most 100 years, which keeps `now + maxAge` representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAge(u64);

/// Seconds between slides of a session's expiry: within the same cap, and never longer than the
/// [`MaxAge`] it goes with ([`UpdateAge::within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateAge(u64);

impl MaxAge {
    pub const LIMIT: u64 = 100 * 365 * 24 * 60 * 60;

    /// `seconds` (a request's or the configured default), or a 400 naming `maxAge`.
    pub fn new(seconds: u64) -> Result<Self, ApiError> {
        capped(seconds).map(Self).map_err(|e| ApiError::invalid("maxAge", format!("invalid `maxAge`: {e}")))
    }

    pub fn seconds(self) -> u64 {
        self.0
    }
}

impl UpdateAge {
    /// The request's `updateAge`, which may not exceed `max_age`; without one the configured
    /// `default`, clamped to `max_age` (a default never makes a request fail).
    pub fn within(requested: Option<Self>, default: u64, max_age: MaxAge) -> Result<u64, ApiError> {
        match requested {
            Some(Self(update_age)) if update_age > max_age.0 => {
                Err(ApiError::invalid("updateAge", "invalid `updateAge`: must not be greater than maxAge"))
            }
            Some(Self(update_age)) => Ok(update_age),
            None => Ok(default.min(max_age.0)),
        }
    }
}

fn capped(seconds: u64) -> Result<u64, String> {
    if seconds > MaxAge::LIMIT {
        return Err(format!("must be at most {} seconds", MaxAge::LIMIT));
    }
    Ok(seconds)
}

impl<'de> Deserialize<'de> for MaxAge {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        capped(whole(d)?).map(Self).map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for UpdateAge {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        capped(whole(d)?).map(Self).map_err(D::Error::custom)
    }
}

/// `true` or `false` in a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryFlag(pub bool);

impl<'de> Deserialize<'de> for QueryFlag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "true" => Ok(Self(true)),
            "false" => Ok(Self(false)),
            _ => Err(D::Error::custom("expected `true` or `false`")),
        }
    }
}

/// A non-negative integer in a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryNumber(pub u32);

impl<'de> Deserialize<'de> for QueryNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Self).map_err(|_| D::Error::custom("expected a non-negative integer"))
    }
}

/// The objects whose unknown keys are dropped: [`entity`] checks what is kept, so a dropped key
/// may hold anything, arrays included.
const ENTITY_OBJECTS: [&str; 2] = ["user", "account"];

/// No argument of the API is an array, but serde would read `["id"]` into a struct by
/// position: arguments go by name only.
fn reject_arrays(value: &Value, path: &str) -> Result<(), ApiError> {
    match value {
        Value::Array(_) => Err(match path {
            "" => ApiError::InvalidArgument { detail: "the request body must be a JSON object".into(), field: None },
            _ => ApiError::invalid(path, format!("invalid `{path}`: expected an object or a scalar, found an array")),
        }),
        Value::Object(_) if ENTITY_OBJECTS.contains(&path) => Ok(()),
        Value::Object(map) => map.iter().try_for_each(|(key, value)| {
            let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            reject_arrays(value, &path)
        }),
        _ => Ok(()),
    }
}

/// Splits an entity object (`user`, `account`) into the keys `T` knows and the rest, which are
/// dropped and reported as `object.key` (or rejected, by configuration). Keys in `silent` are
/// dropped unread, whatever they hold, and not reported.
pub fn entity<T: DeserializeOwned>(
    object: &str,
    fields: Map<String, Value>,
    policy: UnknownFields,
    silent: &[&str],
) -> Result<(T, Vec<String>), ApiError> {
    let known = serde_aux::serde_introspection::serde_introspect::<T>();
    let mut kept = Map::new();
    let mut ignored = Vec::new();
    for (key, value) in fields {
        if silent.contains(&key.as_str()) {
            continue;
        }
        if known.contains(&key.as_str()) {
            kept.insert(key, value);
        } else {
            ignored.push(format!("{object}.{key}"));
        }
    }
    if policy == UnknownFields::Reject
        && let Some(first) = ignored.first()
    {
        return Err(ApiError::invalid(first.clone(), format!("`{first}` is not a known field")));
    }
    kept.iter().try_for_each(|(key, value)| reject_arrays(value, &format!("{object}.{key}")))?;
    let value = serde_path_to_error::deserialize(Value::Object(kept)).map_err(|e| invalid_at(object, e))?;
    Ok((value, ignored))
}

/// A 400 naming the field: serde reports missing and unknown fields at the enclosing object,
/// so the field name is taken from the message and appended to the path.
fn invalid_at<E: fmt::Display>(prefix: &str, err: serde_path_to_error::Error<E>) -> ApiError {
    let message = redact_strings(&err.inner().to_string());
    let mut path: Vec<String> = Vec::new();
    if !prefix.is_empty() {
        path.push(prefix.to_owned());
    }
    let inner = err.path().to_string();
    // "." is the root; "?" is where serde_json stopped inside malformed JSON.
    if inner != "." && inner != "?" {
        path.push(inner);
    }
    // serde reports a missing field at the enclosing object; an unknown one is already in the path.
    if let Some((name, _)) = message.strip_prefix("missing field `").and_then(|rest| rest.split_once('`')) {
        path.push(name.to_owned());
    }
    let field = path.join(".");
    if field.is_empty() {
        ApiError::InvalidArgument { detail: format!("invalid request body: {message}"), field: None }
    } else {
        ApiError::InvalidArgument { detail: format!("invalid `{field}`: {message}"), field: Some(field) }
    }
}

/// serde quotes the offending value (`invalid type: string "tok_...", expected u64`); a value
/// may be a token or an email, so it never reaches a response or a log.
fn redact_strings(message: &str) -> String {
    const MARKER: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(MARKER) {
        out.push_str(&rest[..start]);
        out.push_str("a string");
        let mut escaped = false;
        let body = &rest[start + MARKER.len()..];
        let end = body
            .char_indices()
            .find(|&(_, c)| {
                let close = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            })
            .map_or(body.len(), |(i, _)| i + 1);
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

// The wire's scalar types as OpenAPI schemas. Each is a named component, so its rules are
// written down once.

/// The schema of an optional [`MaxAge`] or [`UpdateAge`] field, for `#[schema(schema_with)]`
/// (which takes no description from the field's doc comment).
pub fn optional_seconds(description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(description))
        .maximum(Some(MaxAge::LIMIT))
        .minimum(Some(0))
        .build()
}

fn date_time() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "RFC 3339. Output: UTC with three fractional digits and Z (2026-01-02T03:04:05.678Z). Input: any offset, \
             years 0000-9999, truncated to milliseconds.",
        ))
        .into()
}

impl PartialSchema for WireTime {
    fn schema() -> RefOr<Schema> {
        date_time()
    }
}
impl ToSchema for WireTime {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DateTime")
    }
}

impl PartialSchema for DbTime {
    fn schema() -> RefOr<Schema> {
        date_time()
    }
}
impl ToSchema for DbTime {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DateTime")
    }
}

/// No string may hold NUL: PostgreSQL cannot store it in TEXT. Written as a pattern so that
/// generated clients and fuzzers know it, not only readers of the description.
const NO_NUL: &str = "^[^\\u0000]*$";

impl PartialSchema for Key {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_CHARS))
            .pattern(Some(NO_NUL))
            .description(Some(format!(
                "An id, email, token or other unique key: not empty, at most {MAX_KEY_CHARS} characters (Unicode code \
                 points, as maxLength counts them), no NUL character."
            )))
            .into()
    }
}
impl ToSchema for Key {}

impl PartialSchema for NonEmpty {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .pattern(Some(NO_NUL))
            .description(Some("A required string: not empty, no NUL character."))
            .into()
    }
}
impl ToSchema for NonEmpty {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NonEmptyString")
    }
}

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NO_NUL))
            .description(Some("Any string without a NUL character."))
            .into()
    }
}
impl ToSchema for Text {}

#[cfg(test)]
mod tests {
    use super::redact_strings;

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact_strings(r#"invalid type: string "tok \"x\" 1", expected u64 at line 1"#),
            "invalid type: a string, expected u64 at line 1"
        );
        assert_eq!(redact_strings("missing field `id`"), "missing field `id`");
    }
}
