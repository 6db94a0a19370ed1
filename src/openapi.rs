//! `GET /openapi.json`: the OpenAPI 3.1 document of every route.
//!
//! Schemas come from the `ToSchema` derives on the wire types themselves (the structs the
//! handlers deserialize and serialize), so a renamed or added field shows up here by itself.
//! Operations are listed once, in [`operations`]. The adapter's single route
//! `POST /v1/adapter/{method}` is documented as one path per method, each with its own body and
//! answer: that is what client generators and fuzzers need. `tests/it/ops.rs` checks that the
//! document and the router serve the same routes.

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, ComponentsBuilder, KnownFormat, ObjectBuilder, OneOfBuilder,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::AppState;
use crate::config::UnknownFields;
use crate::db::DbTime;
use crate::db::time::WireTime;
use crate::error::{PROBLEM_CONTENT_TYPE, Problem};
use crate::handlers::adapter::{self as a, METHODS};
use crate::handlers::input::{Key, MAX_KEY_CHARS, NonEmpty, Text};
use crate::handlers::ops::{Health, Readiness};
use crate::handlers::sessions::{self as s, Deleted};
use crate::models::accounts::Account;
use crate::models::authenticators::Authenticator;
use crate::models::sessions::{Session, SessionInfo, SessionStats, UserSessionStats};
use crate::models::users::User;
use crate::models::verification_tokens::VerificationToken;
use crate::purge::Purged;

const JSON: &str = "application/json";
const BEARER: &str = "bearerAuth";
const REQUEST_ID: &str = "X-Request-Id";
const IGNORED_FIELDS: &str = "AuthBridge-Ignored-Fields";

/// The document for each `--unknown-fields` policy, rendered once.
static DOCUMENTS: LazyLock<[String; 2]> = LazyLock::new(|| {
    [UnknownFields::Drop, UnknownFields::Reject]
        .map(|policy| document_for(policy).to_json().expect("an OpenAPI document always serializes to JSON"))
});

/// `GET /openapi.json`: the document of this server's configuration.
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    let document = match state.settings.unknown_fields {
        UnknownFields::Drop => &DOCUMENTS[0],
        UnknownFields::Reject => &DOCUMENTS[1],
    };
    ([(header::CONTENT_TYPE, JSON)], document.as_str())
}

/// The whole document, for the default `--unknown-fields=drop`.
pub fn document() -> OpenApi {
    document_for(UnknownFields::Drop)
}

/// The whole document for an `--unknown-fields` policy: with `reject`, `user` and `account`
/// objects take no key beyond their columns (and `user.id`, which createUser ignores).
pub fn document_for(policy: UnknownFields) -> OpenApi {
    let mut document = document_dropping_unknown_fields();
    if policy == UnknownFields::Reject {
        let schemas = &mut document.components.as_mut().expect("the document has components").schemas;
        for name in ["UserFields", "AccountFields"] {
            let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(name) else {
                panic!("{name} is an object schema");
            };
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            if name == "UserFields" {
                let ignored = ObjectBuilder::new()
                    .schema_type(SchemaType::AnyValue)
                    .description(Some("Ignored by createUser, whatever it holds; required by updateUser."));
                object.properties.insert("id".into(), ignored.into());
            }
        }
    }
    document
}

fn document_dropping_unknown_fields() -> OpenApi {
    let mut schemas = Schemas(Vec::new());
    let mut paths = Paths::new();
    for op in operations(&mut schemas) {
        let method = op.method.clone();
        let path = op.path.clone();
        paths.add_path_operation(path, vec![method], op.build());
    }
    schemas.add::<Problem<'static>>();
    let mut components = ComponentsBuilder::new().schemas_from_iter(schemas.0).security_scheme(
        BEARER,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "One of the keys given with --api-key / AUTHBRIDGE_API_KEYS or --api-key-file. Without any \
                         configured key (loopback only) no key is needed.",
                ))
                .build(),
        ),
    );
    for problem in PROBLEMS {
        components = components.response(problem.name, problem.response());
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("authbridge")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(env!("CARGO_PKG_DESCRIPTION")))
                .license(Some(
                    LicenseBuilder::new().name("MIT OR Apache-2.0").identifier(Some("MIT OR Apache-2.0")).build(),
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .security(Some([SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, [])]))
        .tags(Some([
            tag("adapter", "The Auth.js adapter contract: one path per method of the Adapter interface."),
            tag(
                "sessions",
                "Session management beyond the adapter: rotation, devices, sign-out everywhere, stats, purge.",
            ),
            tag("operations", "Health checks, metrics and this document."),
        ]))
        .build()
}

fn tag(name: &str, description: &str) -> utoipa::openapi::tag::Tag {
    TagBuilder::new().name(name).description(Some(description)).build()
}

/// The schemas the document refers to, collected while the operations are built.
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// Registers `T` (and every schema it refers to) and returns a reference to it.
    fn add<T: ToSchema>(&mut self) -> RefOr<Schema> {
        self.0.push((T::name().into_owned(), T::schema()));
        T::schemas(&mut self.0);
        Ref::from_schema_name(T::name()).into()
    }
}

fn nullable(schema: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new().item(ObjectBuilder::new().schema_type(Type::Null)).item(schema).into()
}

fn array_of(schema: RefOr<Schema>) -> RefOr<Schema> {
    ArrayBuilder::new().items(schema).into()
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(Type::String)).description(Some(description)).build()
}

fn request_id_header() -> Header {
    string_header("The request's id: the one the client sent in X-Request-Id, or a new UUID.")
}

/// One operation: a method on a path, its body, its answer and the problems it may answer.
struct Op {
    method: HttpMethod,
    path: String,
    id: String,
    tag: &'static str,
    summary: Cow<'static, str>,
    description: &'static str,
    body: Option<RefOr<Schema>>,
    /// The 200 answer's content type and schema.
    answer: (&'static str, RefOr<Schema>),
    problems: Vec<u16>,
    parameters: Vec<Parameter>,
    public: bool,
    reports_ignored_fields: bool,
}

impl Op {
    fn build(self) -> utoipa::openapi::path::Operation {
        let (content_type, schema) = self.answer;
        let mut ok = ResponseBuilder::new()
            .description("Success.")
            .header(REQUEST_ID, request_id_header())
            .content(content_type, ContentBuilder::new().schema(Some(schema)).build());
        if self.reports_ignored_fields {
            ok = ok.header(
                IGNORED_FIELDS,
                string_header(
                    "Keys of `user` / `account` that have no column and were dropped, as comma-separated \
                     `object.key` paths (names only, percent-encoded where needed). Absent when nothing was dropped.",
                ),
            );
        }
        let mut operation = OperationBuilder::new()
            .operation_id(Some(self.id))
            .tag(self.tag)
            .summary(Some(self.summary))
            .description(Some(self.description))
            .parameters(Some(self.parameters))
            .response("200", ok.build());
        if let Some(schema) = self.body {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
                    .build(),
            ));
        }
        // Every route checks the header size; every route but the health checks sheds load.
        let mut problems = self.problems;
        problems.push(431);
        if !self.public {
            problems.push(503);
        }
        problems.sort_unstable();
        problems.dedup();
        for status in problems {
            let problem = PROBLEMS.iter().find(|p| p.status == status).expect("every listed status has a problem");
            operation = operation.response(status.to_string(), Ref::from_response_name(problem.name));
        }
        if self.public {
            operation = operation.securities(Some(Vec::<SecurityRequirement>::new()));
        }
        operation.build()
    }
}

/// A problem answer, shared by the operations as a component response.
struct ProblemAnswer {
    status: u16,
    name: &'static str,
    description: &'static str,
    header: Option<(&'static str, &'static str)>,
}

impl ProblemAnswer {
    fn response(&self) -> utoipa::openapi::Response {
        let mut response =
            ResponseBuilder::new().description(self.description).header(REQUEST_ID, request_id_header()).content(
                PROBLEM_CONTENT_TYPE,
                ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::<'static>::name()))).build(),
            );
        if let Some((name, description)) = self.header {
            response = response.header(name, string_header(description));
        }
        response.build()
    }
}

const PROBLEMS: [ProblemAnswer; 12] = [
    ProblemAnswer {
        status: 400,
        name: "InvalidArgument",
        description: "`invalid_argument`: malformed JSON, a wrong type, an unknown key, a bad date, an empty or \
                      too long string; `field` names the offending field.",
        header: None,
    },
    ProblemAnswer {
        status: 401,
        name: "Unauthenticated",
        description: "`unauthenticated`: the bearer key is missing or wrong.",
        header: Some(("WWW-Authenticate", "`Bearer`.")),
    },
    ProblemAnswer {
        status: 404,
        name: "NotFound",
        description: "`not_found`: the row the call needs does not exist.",
        header: None,
    },
    ProblemAnswer {
        status: 405,
        name: "MethodNotAllowed",
        description: "`method_not_allowed`: this path does not take this HTTP method.",
        header: Some(("Allow", "The methods this path takes.")),
    },
    ProblemAnswer {
        status: 408,
        name: "RequestTimeout",
        description: "`request_timeout`: the request took longer than --request-timeout-ms.",
        header: None,
    },
    ProblemAnswer {
        status: 409,
        name: "AlreadyExists",
        description: "`already_exists`: a unique key clashes (Prisma P2002); `detail` names the constraint, never \
                      the value.",
        header: None,
    },
    ProblemAnswer {
        status: 413,
        name: "PayloadTooLarge",
        description: "`payload_too_large`: the body is larger than --body-limit.",
        header: None,
    },
    ProblemAnswer {
        status: 415,
        name: "UnsupportedMediaType",
        description: "`unsupported_media_type`: the body is not sent as `application/json`.",
        header: None,
    },
    ProblemAnswer {
        status: 431,
        name: "HeadersTooLarge",
        description: "`headers_too_large`: the request line and headers are larger than --max-header-bytes. A \
                      head more than 8 KiB over that limit, or with more than 100 header fields, is refused by \
                      the HTTP parser before routing: 431 with an empty body, and the connection is closed.",
        header: None,
    },
    ProblemAnswer {
        status: 422,
        name: "FailedPrecondition",
        description: "`failed_precondition`: a referenced row is missing, e.g. no user has this `userId` \
                      (Prisma P2003).",
        header: None,
    },
    ProblemAnswer {
        status: 500,
        name: "Internal",
        description: "`internal`: an unexpected error; the details are in the server log only.",
        header: None,
    },
    ProblemAnswer {
        status: 503,
        name: "Unavailable",
        description: "`unavailable`: the database is unreachable or every connection is busy, or more than \
                      --max-concurrent-requests requests are in progress; retry after Retry-After seconds.",
        header: Some(("Retry-After", "Seconds to wait before retrying.")),
    },
];

/// Problems every authenticated JSON call may answer.
const JSON_CALL_PROBLEMS: [u16; 8] = [400, 401, 405, 408, 413, 415, 500, 503];

/// Every operation of the API.
fn operations(schemas: &mut Schemas) -> Vec<Op> {
    let mut ops = vec![
        Op {
            method: HttpMethod::Get,
            path: "/healthz".into(),
            id: "healthz".into(),
            tag: "operations",
            summary: "Liveness".into(),
            description: "200 while the process runs; never touches the database. Needs no key.",
            body: None,
            answer: (JSON, schemas.add::<Health>()),
            problems: vec![405, 500],
            parameters: Vec::new(),
            public: true,
            reports_ignored_fields: false,
        },
        Op {
            method: HttpMethod::Get,
            path: "/readyz".into(),
            id: "readyz".into(),
            tag: "operations",
            summary: "Readiness".into(),
            description: "200 when the database answers and its schema has every table and column authbridge \
                          needs, else 503 with the differences. Needs no key.",
            body: None,
            answer: (JSON, schemas.add::<Readiness>()),
            problems: vec![405, 408, 500, 503],
            parameters: Vec::new(),
            public: true,
            reports_ignored_fields: false,
        },
        Op {
            method: HttpMethod::Get,
            path: "/metrics".into(),
            id: "metrics".into(),
            tag: "operations",
            summary: "Prometheus metrics".into(),
            description: "Prometheus text format: requests by route template and status class, latency \
                          histograms, database pool figures, purge counts and build information.",
            body: None,
            answer: ("text/plain; version=0.0.4", ObjectBuilder::new().schema_type(Type::String).into()),
            problems: vec![401, 405, 408, 500],
            parameters: Vec::new(),
            public: false,
            reports_ignored_fields: false,
        },
        Op {
            method: HttpMethod::Get,
            path: "/openapi.json".into(),
            id: "openapi".into(),
            tag: "operations",
            summary: "This document".into(),
            description: "The OpenAPI 3.1 document of every route.",
            body: None,
            answer: (JSON, ObjectBuilder::new().schema_type(Type::Object).into()),
            problems: vec![401, 405, 408, 500],
            parameters: Vec::new(),
            public: false,
            reports_ignored_fields: false,
        },
    ];
    for method in METHODS {
        ops.push(adapter_op(method, schemas));
    }
    ops.extend(session_ops(schemas));
    ops
}

/// Problems of the management routes that take no body.
const BODILESS_PROBLEMS: [u16; 6] = [400, 401, 405, 408, 500, 503];

/// The session-management routes of API.md.
fn session_ops(schemas: &mut Schemas) -> Vec<Op> {
    let user_id = || path_parameter("userId", "A user's id; an unknown one gives empty answers, not 404.");
    let op = |method: HttpMethod, path: &str, id: &str, summary: &'static str, description: &'static str| Op {
        method,
        path: path.to_owned(),
        id: id.to_owned(),
        tag: "sessions",
        summary: Cow::Borrowed(summary),
        description,
        body: None,
        answer: (JSON, ObjectBuilder::new().into()),
        problems: BODILESS_PROBLEMS.to_vec(),
        parameters: Vec::new(),
        public: false,
        reports_ignored_fields: false,
    };
    vec![
        Op {
            body: Some(schemas.add::<s::RotateArg>()),
            answer: (JSON, nullable(schemas.add::<Session>())),
            problems: JSON_CALL_PROBLEMS.to_vec(),
            ..op(
                HttpMethod::Post,
                "/v1/sessions/rotate",
                "rotateSession",
                "Rotate a session token",
                "A new token (32 random bytes, hex) for the same session id, expiring at now + maxAge; the old \
                 token stops working at once. null when the session is missing or expired.",
            )
        },
        Op {
            answer: (JSON, array_of(schemas.add::<SessionInfo>())),
            parameters: [vec![user_id()], s::ListQuery::into_params(|| Some(ParameterIn::Query))].concat(),
            ..op(
                HttpMethod::Get,
                "/v1/users/{userId}/sessions",
                "listUserSessions",
                "A user's sessions",
                "The user's sessions (never their tokens), newest expiry first.",
            )
        },
        Op {
            answer: (JSON, schemas.add::<Deleted>()),
            parameters: [vec![user_id()], s::SignOutQuery::into_params(|| Some(ParameterIn::Query))].concat(),
            ..op(
                HttpMethod::Delete,
                "/v1/users/{userId}/sessions",
                "deleteUserSessions",
                "Sign out everywhere",
                "Deletes every session of the user, except the one named by `except`; counts every row removed.",
            )
        },
        Op {
            answer: (JSON, nullable(schemas.add::<SessionInfo>())),
            parameters: vec![path_parameter("sessionId", "The session's id (not its token).")],
            ..op(
                HttpMethod::Delete,
                "/v1/sessions/{sessionId}",
                "deleteSessionById",
                "Sign out one device",
                "Deletes the session with this id; answers it, or null when there is none.",
            )
        },
        Op {
            answer: (JSON, schemas.add::<UserSessionStats>()),
            parameters: vec![user_id()],
            ..op(
                HttpMethod::Get,
                "/v1/users/{userId}/session-stats",
                "userSessionStats",
                "A user's session counts",
                "Total, active and expired sessions of the user, and the latest expiry (expired ones included).",
            )
        },
        Op {
            answer: (JSON, schemas.add::<SessionStats>()),
            problems: vec![401, 405, 408, 500, 503],
            ..op(
                HttpMethod::Get,
                "/v1/stats/sessions",
                "sessionStats",
                "Service-wide session counts",
                "Active and expired sessions, users with an active session, sessions expiring within 24 hours.",
            )
        },
        Op {
            body: Some(schemas.add::<s::PurgeArg>()),
            answer: (JSON, schemas.add::<Purged>()),
            problems: JSON_CALL_PROBLEMS.to_vec(),
            ..op(
                HttpMethod::Post,
                "/v1/maintenance/purge-expired",
                "purgeExpired",
                "Purge expired rows",
                "Deletes expired sessions and verification tokens in batches until none is left; answers the \
                 totals.",
            )
        },
    ]
}

fn path_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(Ref::from_schema_name(Key::name())))
        .build()
}

/// One adapter method as its own path.
fn adapter_op(method: &str, s: &mut Schemas) -> Op {
    let user = || -> RefOr<Schema> { Ref::from_schema_name(User::name()).into() };
    let (body, answer, extra, reports_ignored_fields, description): (_, _, &[u16], _, _) = match method {
        "createUser" => (
            s.add::<a::UserArg>(),
            s.add::<User>(),
            &[409],
            true,
            "Creates a user. An incoming `user.id` is ignored: the server generates a cuid. Keys without a column \
             are dropped and named in AuthBridge-Ignored-Fields (or rejected with --unknown-fields=reject).",
        ),
        "getUser" => (s.add::<a::IdArg>(), nullable(s.add::<User>()), &[], false, "The user with this id, or null."),
        "getUserByEmail" => (
            s.add::<a::EmailArg>(),
            nullable(s.add::<User>()),
            &[],
            false,
            "The user with exactly this email (compared as the database compares), or null.",
        ),
        "getUserByAccount" => (
            s.add::<a::ProviderArg>(),
            nullable(s.add::<User>()),
            &[],
            false,
            "The user that linked this provider account, or null.",
        ),
        "updateUser" => (
            update_user_body(s),
            s.add::<User>(),
            &[404, 409],
            true,
            "PATCH semantics: an absent key is left alone, null sets NULL. `user.id` is required; an unknown id is \
             a 404.",
        ),
        "deleteUser" => (
            s.add::<a::UserIdArg>(),
            nullable(user()),
            &[],
            false,
            "Deletes the user with its sessions, accounts and authenticators; answers the deleted user or null.",
        ),
        "linkAccount" => (
            s.add::<a::AccountArg>(),
            s.add::<Account>(),
            &[409, 422],
            true,
            "Links a provider account. Provider extras without a column (refresh_token_expires_in, ...) are dropped \
             and named in AuthBridge-Ignored-Fields.",
        ),
        "unlinkAccount" => (
            s.add::<a::ProviderArg>(),
            nullable(s.add::<Account>()),
            &[],
            false,
            "Deletes the account; answers it, or null when there was none.",
        ),
        "createSession" => (
            s.add::<a::NewSessionArg>(),
            s.add::<Session>(),
            &[409, 422],
            false,
            "Creates a session; without `sessionToken` the server generates one (32 random bytes, lower-case hex).",
        ),
        "getSessionAndUser" => (
            s.add::<a::SessionLookupArg>(),
            nullable(s.add::<a::SessionAndUser>()),
            &[],
            false,
            "The session and its user in one round trip, or null when missing or expired. Slides `expires` to now \
             + maxAge when `expires - maxAge + updateAge <= now` (unless `slide` is false).",
        ),
        "updateSession" => (
            s.add::<a::SessionUpdateArg>(),
            nullable(s.add::<Session>()),
            &[422],
            false,
            "Updates the session with this token; null when there is none.",
        ),
        "deleteSession" => (
            s.add::<a::SessionTokenArg>(),
            nullable(s.add::<Session>()),
            &[],
            false,
            "Signs out: deletes the session and answers it, or null when it was already gone (idempotent).",
        ),
        "createVerificationToken" => (
            s.add::<a::VerificationTokenArg>(),
            s.add::<VerificationToken>(),
            &[409],
            false,
            "Stores a magic-link token.",
        ),
        "useVerificationToken" => (
            s.add::<a::UseVerificationTokenArg>(),
            nullable(s.add::<VerificationToken>()),
            &[],
            false,
            "Atomically deletes and answers the token (even when expired), or null: of concurrent calls exactly \
             one gets it.",
        ),
        "getAccount" => (
            s.add::<a::ProviderArg>(),
            nullable(s.add::<Account>()),
            &[],
            false,
            "The account for this provider and provider account id, or null.",
        ),
        "getAuthenticator" => (
            s.add::<a::CredentialIdArg>(),
            nullable(s.add::<Authenticator>()),
            &[],
            false,
            "The WebAuthn authenticator with this credential id, or null.",
        ),
        "createAuthenticator" => (
            s.add::<a::AuthenticatorArg>(),
            s.add::<Authenticator>(),
            &[409, 422],
            false,
            "Stores a WebAuthn authenticator.",
        ),
        "listAuthenticatorsByUserId" => (
            s.add::<a::UserIdArg>(),
            array_of(s.add::<Authenticator>()),
            &[],
            false,
            "The user's authenticators; [] for an unknown user.",
        ),
        "updateAuthenticatorCounter" => (
            s.add::<a::CounterArg>(),
            s.add::<Authenticator>(),
            &[404],
            false,
            "Sets the signature counter; an unknown credential id is a 404.",
        ),
        other => panic!("adapter method {other} has no OpenAPI description"),
    };
    let mut problems = JSON_CALL_PROBLEMS.to_vec();
    problems.extend_from_slice(extra);
    problems.sort_unstable();
    Op {
        method: HttpMethod::Post,
        path: format!("/v1/adapter/{method}"),
        id: method.to_owned(),
        tag: "adapter",
        summary: Cow::Owned(method.to_owned()),
        description,
        body: Some(body),
        answer: (JSON, answer),
        problems,
        parameters: Vec::new(),
        public: false,
        reports_ignored_fields,
    }
}

/// `updateUser` shares `createUser`'s body, but needs `user.id`.
fn update_user_body(s: &mut Schemas) -> RefOr<Schema> {
    let fields = s.add::<a::UserFields>();
    ObjectBuilder::new()
        .property(
            "user",
            AllOfBuilder::new()
                .item(fields)
                .item(ObjectBuilder::new().property("id", Ref::from_schema_name(Key::name())).required("id")),
        )
        .required("user")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

// The wire's scalar types. Each is a named component, so its rules are written down once.

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
impl ToSchema for Key {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Key")
    }
}

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
impl ToSchema for Text {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Text")
    }
}
