//! Health checks for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::AppState;
use crate::db::check;
use crate::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// `postgresql` or `sqlite`.
    backend: &'static str,
}

/// 200 while the process runs; never touches the database.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// 200 when the database answers and its schema has what authbridge needs, else 503.
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
