//! `GET /openapi.json`: the OpenAPI 3.1 document of every route.
//!
//! Paths, operations, bodies and answers come from the `#[utoipa::path]` declarations on the
//! handlers, collected by the router (`crate::router::api`) that also serves them, and schemas
//! from the `ToSchema` derives on the wire types. This module adds only what those cannot say:
//! the document's info, tags and security scheme, the problem answers (one per [`ApiError`]
//! variant) and which of them each operation may give, and the `--unknown-fields=reject` variant.
//! `tests/it/ops.rs` checks that the document and the router serve the same routes.

#![allow(unused_qualifications, reason = "`#[utoipa::path]` spells out the paths of the types it is given")]

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ComponentsBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{OpenApi, OpenApiBuilder, Ref, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::AppState;
use crate::config::UnknownFields;
use crate::error::{ApiError, Problem};
use crate::headers::{JSON, PROBLEM_JSON, REQUEST_ID};

/// The tags that group the operations, with what each holds.
pub const ADAPTER: &str = "adapter";
pub const SESSIONS: &str = "sessions";
pub const OPERATIONS: &str = "operations";
const TAGS: [(&str, &str); 3] = [
    (ADAPTER, "The Auth.js adapter contract: one path per method of the Adapter interface."),
    (SESSIONS, "Session management beyond the adapter: rotation, devices, sign-out everywhere, stats, purge."),
    (OPERATIONS, "Health checks, metrics and this document."),
];

const BEARER: &str = "bearerAuth";

/// Problems any route may answer: wrong method, oversized head, a bug.
const EVERY_ROUTE: [u16; 3] = [405, 431, 500];
/// Problems of the routes behind the API key: no key, a key without the route's scope, the request timeout, load shedding (the
/// health checks are neither keyed nor shed, and say themselves what else they answer).
const KEYED: [u16; 4] = [401, 403, 408, 503];
/// Problems of a JSON body: malformed, too large, not JSON.
const WITH_BODY: [u16; 3] = [400, 413, 415];
/// A bad path or query parameter.
const WITH_PARAMETERS: [u16; 1] = [400];

/// The document for each `--unknown-fields` policy, rendered once.
#[derive(Clone)]
pub struct Documents([String; 2]);

impl Documents {
    /// From what the router's declarations say (`derived`).
    pub fn new(derived: &OpenApi) -> Self {
        Self([UnknownFields::Drop, UnknownFields::Reject].map(|policy| {
            document_for(derived.clone(), policy).to_json().expect("an OpenAPI document always serializes to JSON")
        }))
    }
}

/// The document of this server's `--unknown-fields` policy.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = OPERATIONS, security(("bearerAuth" = ["ops"])), summary = "This document",
    description = "The OpenAPI 3.1 document of every route.", responses((status = 200, body = Object)))]
pub async fn serve(
    State(state): State<AppState>,
    Extension(documents): Extension<&'static Documents>,
) -> impl IntoResponse {
    let document = match state.settings.unknown_fields {
        UnknownFields::Drop => &documents.0[0],
        UnknownFields::Reject => &documents.0[1],
    };
    ([(header::CONTENT_TYPE, JSON)], document.as_str())
}

/// The whole document for an `--unknown-fields` policy: with `reject`, `user` and `account`
/// objects take no key beyond their columns (and `user.id`, which createUser ignores).
pub fn document_for(derived: OpenApi, policy: UnknownFields) -> OpenApi {
    let mut document = base();
    document.merge(derived);
    document.paths.paths.values_mut().for_each(complete);
    let components = document.components.as_mut().expect("the base document has components");
    if policy == UnknownFields::Reject {
        for name in ["UserFields", "AccountFields"] {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) else {
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

/// What the routes cannot declare: info, tags, the security scheme and the problem answers.
fn base() -> OpenApi {
    let mut components = ComponentsBuilder::new().schema(Problem::name(), problem_schema()).security_scheme(
        BEARER,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "One of the keys given with --api-key / AUTHBRIDGE_API_KEYS or --api-key-file. Without \
                         any configured key (loopback only) no key is needed. Each operation's security \
                         requirements list the key scopes that let a key call it (any one of them).",
                ))
                .build(),
        ),
    );
    for kind in ApiError::catalogue() {
        let mut response = ResponseBuilder::new()
            .description(kind.description)
            .header(REQUEST_ID, request_id_header())
            .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::name()))).build());
        if let Some((name, description)) = kind.header {
            response = response.header(name, string_header(description));
        }
        components = components.response(kind.name, response.build());
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
        .components(Some(components.build()))
        .security(Some([SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, [])]))
        .tags(Some(TAGS.map(|(name, description)| TagBuilder::new().name(name).description(Some(description)).build())))
        .build()
}

/// The problem document, whose `code` is one of the catalogue's codes.
fn problem_schema() -> RefOr<Schema> {
    let mut schema = Problem::schema();
    let codes: Vec<String> = ApiError::catalogue().map(|kind| format!("`{}`", kind.code)).collect();
    let (last, others) = codes.split_last().expect("ApiError has variants");
    if let RefOr::T(Schema::Object(problem)) = &mut schema
        && let Some(RefOr::T(Schema::Object(code))) = problem.properties.get_mut("code")
    {
        code.description = Some(format!("{} or {last}.", others.join(", ")));
    }
    schema
}

/// Adds to each operation of `item` the problems it may answer (those it declares, and those
/// that follow from its key, body and parameters) and the request id of its 200 answer.
fn complete(item: &mut PathItem) {
    let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
    for operation in operations.into_iter().flatten() {
        let public = operation.security.as_ref().is_some_and(Vec::is_empty);
        let mut statuses: Vec<u16> = declared_problems(operation);
        statuses.extend(EVERY_ROUTE);
        if !public {
            statuses.extend(KEYED);
        }
        if operation.request_body.is_some() {
            statuses.extend(WITH_BODY);
        }
        if operation.parameters.as_ref().is_some_and(|parameters| !parameters.is_empty()) {
            statuses.extend(WITH_PARAMETERS);
        }
        for status in statuses {
            let kind = ApiError::catalogue().find(|kind| kind.status == status);
            let kind = kind.unwrap_or_else(|| panic!("no ApiError answers {status}"));
            operation.responses.responses.insert(status.to_string(), Ref::from_response_name(kind.name).into());
        }
        if let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") {
            ok.description = "Success.".into();
            ok.headers.insert(REQUEST_ID.into(), request_id_header());
        }
    }
}

/// The 4xx and 5xx statuses an operation declares itself.
fn declared_problems(operation: &Operation) -> Vec<u16> {
    operation.responses.responses.keys().filter_map(|status| status.parse().ok()).filter(|&s| s >= 400).collect()
}

pub(crate) fn string_header(description: &str) -> Header {
    HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(Type::String)).description(Some(description)).build()
}

fn request_id_header() -> Header {
    string_header(&format!("The request's id: the one the client sent in {REQUEST_ID}, or a new UUID."))
}
