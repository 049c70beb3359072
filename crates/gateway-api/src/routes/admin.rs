//! `/admin/*`: tenant and API-key management for the operator (CONTRACT §3). Off unless
//! `CRM_GATEWAY_ADMIN_TOKEN` is set.

use axum::extract::State;

use crate::extract::Path;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use gateway_core::{ApiKeyId, TenantId};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Admin, JsonBody};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/tenants", post(create_tenant))
        .route("/admin/tenants/{id}/keys", post(create_key))
        .route("/admin/tenants/{id}/keys/{key_id}", delete(revoke_key))
}

/// Body of `POST /admin/tenants`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    /// A name for humans.
    pub name: Option<String>,
}

/// A new tenant and its first key, shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    /// `ten_…`.
    pub tenant_id: String,
    /// The API key; store it now, it cannot be shown again.
    pub api_key: String,
    /// The key's id, for revocation.
    pub key_id: String,
}

/// A new key, shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyCreated {
    /// The key's id, for revocation.
    pub key_id: String,
    /// The API key; store it now, it cannot be shown again.
    pub api_key: String,
}

/// Creates a tenant with one API key.
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", request_body = TenantIn,
    responses((status = 413, body = Problem, content_type = "application/problem+json"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 201, body = TenantCreated), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(body): JsonBody<TenantIn>,
) -> ApiResult<(StatusCode, Json<TenantCreated>)> {
    let name = body.name.unwrap_or_default();
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid(
            "/name",
            "invalid",
            "name is required, 1–200 characters",
        ));
    }
    let (tenant, key) = state.store().create_tenant(name.trim()).await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    Ok((
        StatusCode::CREATED,
        Json(TenantCreated {
            tenant_id: tenant.id.to_string(),
            api_key: key.api_key.expose_secret().to_owned(),
            key_id: key.key_id.to_string(),
        }),
    ))
}

/// Issues another key for a tenant (for rotation without downtime).
#[utoipa::path(post, path = "/admin/tenants/{id}/keys", tag = "admin", params(("id" = String, Path)),
    responses((status = 201, body = KeyCreated), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<KeyCreated>)> {
    let tenant = TenantId::parse(&id).map_err(|_| ApiError::NotFound("tenant"))?;
    let key = state
        .store()
        .create_api_key(&tenant)
        .await
        .map_err(|e| match e {
            gateway_store::StoreError::NotFound => ApiError::NotFound("tenant"),
            other => other.into(),
        })?;
    tracing::info!(tenant = %tenant, key = %key.key_id, "api key issued");
    Ok((
        StatusCode::CREATED,
        Json(KeyCreated {
            key_id: key.key_id.to_string(),
            api_key: key.api_key.expose_secret().to_owned(),
        }),
    ))
}

/// Revokes a key; requests with it fail with 401 from now on.
#[utoipa::path(delete, path = "/admin/tenants/{id}/keys/{keyId}", tag = "admin", params(("id" = String, Path), ("keyId" = String, Path)),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = TenantId::parse(&id).map_err(|_| ApiError::NotFound("tenant"))?;
    let key = ApiKeyId::parse(&key_id).map_err(|_| ApiError::NotFound("key"))?;
    state
        .store()
        .revoke_api_key(&tenant, &key)
        .await
        .map_err(|e| match e {
            gateway_store::StoreError::NotFound => ApiError::NotFound("key"),
            other => other.into(),
        })?;
    tracing::info!(tenant = %tenant, key = %key, "api key revoked");
    Ok(StatusCode::NO_CONTENT)
}
