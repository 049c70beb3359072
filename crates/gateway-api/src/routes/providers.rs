//! `/providers`: each provider's operations, field support and limits: the very declarations
//! the adapters enforce.

use axum::extract::State;

use crate::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use gateway_core::{ProviderDeclaration, ProviderKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Tenant;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/providers", get(list_providers))
        .route("/providers/{provider}", get(get_provider))
}

/// Every available provider.
#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    /// Declarations.
    #[schema(value_type = Vec<Object>)]
    pub providers: Vec<ProviderDeclaration>,
}

/// Lists providers.
#[utoipa::path(get, path = "/providers", tag = "providers", responses((status = 200, body = ProviderList), (status = 401, body = Problem, content_type = "application/problem+json")), security(("apiKey" = [])))]
pub async fn list_providers(State(state): State<AppState>, _tenant: Tenant) -> Json<ProviderList> {
    // The deployment's view: operations switched off in config show as unsupported.
    let providers = gateway_adapters::available_providers()
        .into_iter()
        .filter_map(|kind| state.registry().declaration(kind))
        .cloned()
        .collect();
    Json(ProviderList { providers })
}

/// One provider's declaration.
#[utoipa::path(get, path = "/providers/{provider}", tag = "providers", params(("provider" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")), security(("apiKey" = [])))]
pub async fn get_provider(
    State(state): State<AppState>,
    _tenant: Tenant,
    Path(provider): Path<String>,
) -> ApiResult<Json<ProviderDeclaration>> {
    let kind: ProviderKind = provider
        .parse()
        .map_err(|_| ApiError::NotFound("provider"))?;
    state
        .registry()
        .declaration(kind)
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound("provider"))
}
