//! Health checks for load balancers and orchestrators.

#![allow(unused_qualifications, reason = "`#[utoipa::path]` spells out the paths of the types it is given")]

use super::Json;
use axum::extract::State;
use serde::Serialize;

use crate::AppState;
use crate::db::check;
use crate::error::ApiError;
use crate::openapi::OPERATIONS;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// `postgresql`, `mysql` or `sqlite`.
    backend: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = OPERATIONS, security(), summary = "Liveness",
    description = "200 while the process runs; never touches the database. Needs no key.",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers and its schema has what authbridge needs.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = OPERATIONS, security(), summary = "Readiness",
    description = "200 when the database answers and its schema has every table and column authbridge needs, else \
                   503 with the differences. Needs no key.",
    responses((status = 200, body = Readiness), (status = 408), (status = 503)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    match check::check(&state.db).await {
        Ok(report) if report.is_ok() => Ok(Json(Readiness { status: "ready", backend: state.db.backend_name() })),
        Ok(report) => Err(ApiError::Unavailable(format!("the database schema does not match:\n{report}"))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::Unavailable("the database does not answer".into()))
        }
    }
}
