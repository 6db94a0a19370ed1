//! [`Client`]: authbridge's session check and session management over reqwest.
//!
//! Each call is described once, as a [`Call`] (route, query, body), and sent by one function.
//! Session tokens travel in JSON bodies only; ids that go into a path are percent-encoded as one
//! segment.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use reqwest::Url;
use reqwest::header::{ACCEPT, USER_AGENT};
use rustls_platform_verifier::BuilderVerifierExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::REQUEST_ID;
use crate::cookies::{SESSION_COOKIE_NAMES, session_token_from_headers};
use crate::error::{Error, Failure, INVALID_RESPONSE, NETWORK_ERROR};
use crate::models::{
    Deleted, PurgeResult, Session, SessionAndUser, SessionContext, SessionInfo, SessionStats, UserSessionStats,
};

/// How long a call may take as a whole before it fails with [`Error::Unavailable`] (`timeout`).
/// authbridge itself answers 503 after its pool timeout (2 s by default), well within this.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

const CLIENT_NAME: &str = concat!("authbridge-rust/", env!("CARGO_PKG_VERSION"));

/// A client of one authbridge server. Cloning is cheap and clones share connections: build one
/// per process and hand out clones (it is `Send + Sync`).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    request_id: Option<Arc<str>>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
    timeout: Duration,
    cookie_names: Vec<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Client").field("url", &self.url()).finish_non_exhaustive()
    }
}

/// Options of [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    url: String,
    api_key: Option<String>,
    timeout: Duration,
    http: Option<reqwest::Client>,
    cookie_names: Vec<String>,
}

impl ClientBuilder {
    /// Sent as `Authorization: Bearer`: for cookie checks a key with only the `session:read`
    /// scope; for the management calls one with `sessions:manage` (`purge_expired`:
    /// `maintenance`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// For every call as a whole, also with a client given to [`http_client`](Self::http_client);
    /// [`DEFAULT_TIMEOUT`] unless set.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A reqwest client to send through (proxies, TLS settings, middleware). Without one, the
    /// client builds its own: rustls with the ring provider and the platform's certificates.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The session cookie names [`Client::session_token`] and the axum extractor look for, in
    /// the order of preference, when the app named its cookie itself
    /// (`cookies.sessionToken.name` in its Auth.js config); [`SESSION_COOKIE_NAMES`] unless set.
    pub fn cookie_names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.cookie_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// The client; fails when the URL is not an `http://` or `https://` URL.
    pub fn build(self) -> Result<Client, Error> {
        const OPERATION: &str = "Client::build";
        let base = Url::parse(&self.url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                Error::invalid_argument(
                    OPERATION,
                    "url",
                    "must be an http:// or https:// URL, e.g. http://authbridge.internal:7777",
                )
            })?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .tls_backend_preconfigured(tls_config().map_err(|error| {
                    Error::Other(Box::new(Failure {
                        detail: Some(format!("TLS setup: {error}")),
                        ..Failure::new(OPERATION, NETWORK_ERROR)
                    }))
                })?)
                .build()
                .map_err(|error| Error::from_transport(OPERATION, error, None))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                api_key: self.api_key.filter(|key| !key.is_empty()),
                timeout: self.timeout,
                cookie_names: self.cookie_names,
            }),
            request_id: None,
        })
    }
}

fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth())
}

/// Options of [`Client::get_session_and_user_with`]; without them the server's configured
/// values apply, as they do for the Next.js side.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SessionCheck {
    /// The session's lifetime (whole seconds) the expiry slides to.
    pub max_age: Option<Duration>,
    /// How old the last slide must be before the next (whole seconds; zero: every read).
    pub update_age: Option<Duration>,
    /// `Some(false)`: read without pushing the expiry forward.
    pub slide: Option<bool>,
}

impl SessionCheck {
    /// Read without pushing the expiry forward.
    pub fn read_only() -> Self {
        Self::default().slide(false)
    }

    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    pub fn update_age(mut self, update_age: Duration) -> Self {
        self.update_age = Some(update_age);
        self
    }

    pub fn slide(mut self, slide: bool) -> Self {
        self.slide = Some(slide);
        self
    }
}

/// Which sessions [`Client::list_sessions`] lists; the default: the live ones, all of them.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SessionFilter {
    /// Expired sessions too.
    pub include_expired: bool,
    /// At most this many.
    pub limit: Option<u32>,
}

impl SessionFilter {
    pub fn include_expired(mut self) -> Self {
        self.include_expired = true;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Options of [`Client::rotate_session`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Rotation {
    /// The new expiry is now plus this (whole seconds); the server's default unless set.
    pub max_age: Option<Duration>,
    /// Stored by servers that keep session metadata.
    pub context: Option<SessionContext>,
    /// Rotate only a token at least this old (whole seconds); see [`Rotation::rotate_after`].
    pub rotate_after: Option<Duration>,
}

impl Rotation {
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    pub fn context(mut self, context: SessionContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Rotate only a token at least this old (whole seconds; since its last rotation, else since
    /// the session's creation). A younger token, or a previous token inside its grace window, is
    /// answered unchanged, with the token sent: not rotated. Needs the optional rotation columns
    /// (`previousSessionToken`, `rotatedAt`); without them the server answers 422, an
    /// [`Error::Other`] with code `failed_precondition`.
    pub fn rotate_after(mut self, rotate_after: Duration) -> Self {
        self.rotate_after = Some(rotate_after);
        self
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionCheckBody<'a> {
    session_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_age: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slide: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RotationBody<'a> {
    session_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a SessionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotate_after: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PurgeBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<u32>,
}

/// One request: the route's segments after the base URL, its query, its JSON body.
struct Call<'a> {
    operation: &'static str,
    method: Method,
    path: &'a [&'a str],
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
}

impl<'a> Call<'a> {
    fn new(operation: &'static str, method: Method, path: &'a [&'a str]) -> Self {
        Self { operation, method, path, query: Vec::new(), body: None }
    }

    fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    fn body(mut self, body: impl Serialize) -> Self {
        // Serializing these plain structs cannot fail; `null` would be refused by the server.
        self.body = serde_json::to_value(body).ok();
        self
    }
}

fn nonempty<'v>(operation: &'static str, field: &str, value: &'v str) -> Result<&'v str, Error> {
    if value.is_empty() {
        return Err(Error::invalid_argument(operation, field, "must not be empty"));
    }
    Ok(value)
}

impl Client {
    /// A client of the authbridge at `url` (e.g. `http://authbridge.internal:7777`; a path
    /// prefix is kept) with this API key and the defaults; see [`Client::builder`] for the rest.
    pub fn new(url: &str, api_key: impl Into<String>) -> Result<Self, Error> {
        Self::builder(url).api_key(api_key).build()
    }

    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            http: None,
            cookie_names: SESSION_COOKIE_NAMES.map(str::to_owned).to_vec(),
        }
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The same client, sending `X-Request-Id: request_id` with every call, so the calls can be
    /// found in authbridge's log (the axum extractor passes the incoming request's id on).
    pub fn with_request_id(&self, request_id: impl Into<String>) -> Self {
        Self { inner: Arc::clone(&self.inner), request_id: Some(request_id.into().into()) }
    }

    /// The session token in a request's `Cookie` headers, under the names this client looks
    /// for (see [`ClientBuilder::cookie_names`]).
    pub fn session_token(&self, headers: &HeaderMap) -> Option<String> {
        session_token_from_headers(headers, &self.inner.cookie_names)
    }

    /// The live session of this cookie value and its user, or `None` (unknown, expired, signed
    /// out, deleted user). No token (or an empty one) answers `None` without a request.
    ///
    /// The expiry slides as Auth.js would, with the server's configured ages. An outage is
    /// never `None`: it is [`Error::Unavailable`].
    pub async fn get_session_and_user<'t>(
        &self,
        session_token: impl Into<Option<&'t str>>,
    ) -> Result<Option<SessionAndUser>, Error> {
        self.get_session_and_user_with(session_token, SessionCheck::default()).await
    }

    /// [`get_session_and_user`](Self::get_session_and_user) with other ages, or read-only.
    pub async fn get_session_and_user_with<'t>(
        &self,
        session_token: impl Into<Option<&'t str>>,
        check: SessionCheck,
    ) -> Result<Option<SessionAndUser>, Error> {
        let Some(token) = session_token.into().filter(|token| !token.is_empty()) else {
            return Ok(None);
        };
        let call = Call::new("getSessionAndUser", Method::POST, &["v1", "adapter", "getSessionAndUser"]);
        let body = SessionCheckBody {
            session_token: token,
            max_age: check.max_age.map(|age| age.as_secs()),
            update_age: check.update_age.map(|age| age.as_secs()),
            slide: check.slide,
        };
        self.send(call.body(body)).await
    }

    /// The user's sessions, newest expiry first (`[]` for an unknown user).
    pub async fn list_sessions(&self, user_id: &str, filter: SessionFilter) -> Result<Vec<SessionInfo>, Error> {
        const OPERATION: &str = "listSessions";
        let path = ["v1", "users", nonempty(OPERATION, "user_id", user_id)?, "sessions"];
        let mut call = Call::new(OPERATION, Method::GET, &path).query("active", !filter.include_expired);
        if let Some(limit) = filter.limit {
            call = call.query("limit", limit);
        }
        self.send(call).await
    }

    /// Signs one device out by session id: the deleted session, or `None` when it was already
    /// gone.
    pub async fn revoke_session(&self, session_id: &str) -> Result<Option<SessionInfo>, Error> {
        const OPERATION: &str = "revokeSession";
        let path = ["v1", "sessions", nonempty(OPERATION, "session_id", session_id)?];
        self.send(Call::new(OPERATION, Method::DELETE, &path)).await
    }

    /// Signs the user out everywhere but `keep_session_id` ("sign out everywhere else"); returns
    /// how many sessions were deleted (expired ones too).
    pub async fn revoke_other_sessions(&self, user_id: &str, keep_session_id: &str) -> Result<u64, Error> {
        const OPERATION: &str = "revokeOtherSessions";
        let keep = nonempty(OPERATION, "keep_session_id", keep_session_id)?;
        let path = ["v1", "users", nonempty(OPERATION, "user_id", user_id)?, "sessions"];
        let call = Call::new(OPERATION, Method::DELETE, &path).query("except", keep);
        Ok(self.send::<Deleted>(call).await?.deleted)
    }

    /// Signs the user out everywhere; returns how many sessions were deleted (expired ones too).
    pub async fn revoke_all_sessions(&self, user_id: &str) -> Result<u64, Error> {
        const OPERATION: &str = "revokeAllSessions";
        let path = ["v1", "users", nonempty(OPERATION, "user_id", user_id)?, "sessions"];
        let call = Call::new(OPERATION, Method::DELETE, &path);
        Ok(self.send::<Deleted>(call).await?.deleted)
    }

    /// A new token and a fresh expiry for the same session. Rotated if and only if the answer's
    /// `session_token` differs from the one sent: set the cookie only then (setting an old token
    /// again would, after the grace window, look like a stolen token).
    ///
    /// Where the schema has the optional `previousSessionToken` and `rotatedAt` columns, the old
    /// token still reads the session for the server's `--rotation-grace` (the browser's requests
    /// already in flight carry it; docs/session-management.md); presented after that window it
    /// revokes the session (`--rotation-reuse`). Without those columns the old token stops
    /// working at once. [`Rotation::rotate_after`] rotates only a token that old.
    ///
    /// `None` when the session is missing or expired, after a reuse, and for a previous token
    /// sent without `rotate_after`.
    pub async fn rotate_session(&self, session_token: &str, rotation: Rotation) -> Result<Option<Session>, Error> {
        const OPERATION: &str = "rotateSession";
        let body = RotationBody {
            session_token: nonempty(OPERATION, "session_token", session_token)?,
            max_age: rotation.max_age.map(|age| age.as_secs()),
            context: rotation.context.as_ref(),
            rotate_after: rotation.rotate_after.map(|age| age.as_secs()),
        };
        let call = Call::new(OPERATION, Method::POST, &["v1", "sessions", "rotate"]);
        self.send(call.body(body)).await
    }

    /// Counts of one user's sessions (zeros for an unknown user).
    pub async fn user_session_stats(&self, user_id: &str) -> Result<UserSessionStats, Error> {
        const OPERATION: &str = "userSessionStats";
        let path = ["v1", "users", nonempty(OPERATION, "user_id", user_id)?, "session-stats"];
        self.send(Call::new(OPERATION, Method::GET, &path)).await
    }

    /// Counts over every session, for dashboards.
    pub async fn session_stats(&self) -> Result<SessionStats, Error> {
        let call = Call::new("sessionStats", Method::GET, &["v1", "stats", "sessions"]);
        self.send(call).await
    }

    /// Deletes expired sessions and verification tokens, `batch_size` rows at a time (the
    /// server's default unless given), and returns the totals. Needs a `maintenance` key.
    pub async fn purge_expired(&self, batch_size: Option<u32>) -> Result<PurgeResult, Error> {
        let path = ["v1", "maintenance", "purge-expired"];
        let call = Call::new("purgeExpired", Method::POST, &path);
        self.send(call.body(PurgeBody { batch_size })).await
    }

    async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        let Call { operation, method, path, query, body } = call;
        let mut url = self.inner.base.clone();
        url.path_segments_mut().expect("an http(s) URL has a path").pop_if_empty().extend(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(&query);
        }
        let mut request = self
            .inner
            .http
            .request(method, url)
            .timeout(self.inner.timeout)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, CLIENT_NAME);
        if let Some(key) = &self.inner.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(request_id) = &self.request_id {
            request = request.header(REQUEST_ID, request_id.as_ref());
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let request_id = self.request_id.as_deref();
        let response = request.send().await.map_err(|error| Error::from_transport(operation, error, request_id))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|error| Error::from_transport(operation, error, request_id))?;
        if !status.is_success() {
            return Err(Error::from_response(operation, status, &headers, &bytes));
        }
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut json).map_err(|error| {
            let detail = if error.inner().is_syntax() || error.inner().is_eof() {
                "the body is not JSON".to_owned()
            } else {
                // The path only: the message may quote a value, and values may be secrets.
                format!("`{}` is not what the contract says", error.path())
            };
            Error::Other(Box::new(Failure {
                status: Some(status),
                detail: Some(detail),
                request_id: headers.get(REQUEST_ID).and_then(|value| value.to_str().ok()).map(str::to_owned),
                ..Failure::new(operation, INVALID_RESPONSE)
            }))
        })
    }
}
