//! `/admin/*`: tenant and API-key management for the operator (docs/operations.md). Off unless
//! `CRM_GATEWAY_ADMIN_TOKEN` is set.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gateway_core::{ApiKeyId, CredentialId, TenantId};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cursor;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Admin, JsonBody, Path, QueryParams};
use crate::pagination::{page_size, PageInfo};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/tenants", post(create_tenant).get(list_tenants))
        .route("/admin/tenants/{id}", delete(delete_tenant))
        .route("/admin/tenants/{id}/keys", post(create_key).get(list_keys))
        .route("/admin/tenants/{id}/keys/{key_id}", delete(revoke_key))
}

/// An answer that carries an API key must not be kept by any cache between the operator and
/// the gateway (a proxy, a browser's disk cache).
const NO_STORE: [(header::HeaderName, HeaderValue); 1] =
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];

/// Query of the admin lists.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminListQuery {
    /// 1–100.
    pub page_size: Option<u32>,
    /// From `pageInfo.nextCursor`.
    pub cursor: Option<String>,
}

impl AdminListQuery {
    /// The page size and the id after which the page starts; a cursor that does not decode,
    /// or whose id is not of type `parse`, is a 400 naming `cursor`.
    fn page<T>(
        &self,
        default: u32,
        parse: impl Fn(&str) -> Option<T>,
    ) -> ApiResult<(u32, Option<T>)> {
        let size = page_size(self.page_size, default)?;
        let after = match self.cursor.as_deref() {
            None => None,
            Some(c) => {
                let decoded: cursor::AfterId = cursor::decode(c)?;
                Some(
                    parse(&decoded.after)
                        .ok_or_else(|| ApiError::bad_parameter("cursor", "invalid cursor"))?,
                )
            }
        };
        Ok((size, after))
    }
}

/// The page info after fetching one row more than `size` (which is then dropped).
fn page_info<T>(rows: &mut Vec<T>, size: u32, id: impl Fn(&T) -> String) -> PageInfo {
    let has_next = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next_cursor = match (has_next, rows.last()) {
        (true, Some(last)) => Some(cursor::encode(&cursor::AfterId { after: id(last) })),
        _ => None,
    };
    PageInfo {
        has_next,
        next_cursor,
    }
}

/// A tenant as the admin API lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantOut {
    /// `ten_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A page of tenants, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantList {
    /// The tenants of this page.
    pub tenants: Vec<TenantOut>,
    /// Whether and how to get the next page.
    pub page_info: PageInfo,
}

/// One of a tenant's API keys: never the key itself, which is shown only when issued.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyOut {
    /// `key_…`, the id `DELETE /admin/tenants/{id}/keys/{keyId}` takes.
    pub key_id: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request (to the minute); `null` if never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; `null` while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A page of a tenant's keys, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// The keys of this page.
    pub keys: Vec<KeyOut>,
    /// Whether and how to get the next page.
    pub page_info: PageInfo,
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
    responses((status = 413, body = Problem, content_type = "application/problem+json"), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 201, body = TenantCreated, headers(("Cache-Control" = String, description = "`no-store`: the answer carries an API key"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "the admin API is off (`CRM_GATEWAY_ADMIN_TOKEN` unset or empty)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    JsonBody(body): JsonBody<TenantIn>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, HeaderValue); 1],
    Json<TenantCreated>,
)> {
    let name = body.name.unwrap_or_default();
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_admin(
            "/name",
            "invalid",
            "name is required, 1–200 characters",
        ));
    }
    let (tenant, key) = state.store().create_tenant(name.trim()).await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    Ok((
        StatusCode::CREATED,
        NO_STORE,
        Json(TenantCreated {
            tenant_id: tenant.id.to_string(),
            api_key: key.api_key.expose_secret().to_owned(),
            key_id: key.key_id.to_string(),
        }),
    ))
}

/// Issues another key for a tenant (for rotation without downtime).
#[utoipa::path(post, path = "/admin/tenants/{id}/keys", tag = "admin", params(("id" = String, Path, description = "the tenant's id (`ten_…`)")),
    responses((status = 201, body = KeyCreated, headers(("Cache-Control" = String, description = "`no-store`: the answer carries an API key"))),
        (status = 400, description = "a malformed path", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant, or the admin API is off", body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, HeaderValue); 1],
    Json<KeyCreated>,
)> {
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
        NO_STORE,
        Json(KeyCreated {
            key_id: key.key_id.to_string(),
            api_key: key.api_key.expose_secret().to_owned(),
        }),
    ))
}

/// Revokes a key; requests with it fail with 401 from now on.
#[utoipa::path(delete, path = "/admin/tenants/{id}/keys/{keyId}", tag = "admin", params(("id" = String, Path, description = "the tenant's id (`ten_…`)"), ("keyId" = String, Path, description = "the key's id (`key_…`)")),
    responses((status = 204), (status = 400, description = "a malformed path", body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, description = "no such tenant or key, or the admin API is off", body = Problem, content_type = "application/problem+json")),
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

/// Lists the tenants, oldest first.
#[utoipa::path(get, path = "/admin/tenants", tag = "admin",
    params(("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default `api.default_page_size` (50)"),
           ("cursor" = Option<String>, Query, description = "opaque, from pageInfo.nextCursor")),
    responses((status = 200, body = TenantList),
        (status = 400, description = "a bad `pageSize` or `cursor`, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "the admin API is off", body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    _admin: Admin,
    QueryParams(q): QueryParams<AdminListQuery>,
) -> ApiResult<Json<TenantList>> {
    let (size, after) = q.page(state.config().default_page_size, |s| {
        TenantId::parse(s).ok()
    })?;
    let mut rows = state.store().list_tenants(after.as_ref(), size + 1).await?;
    let page_info = page_info(&mut rows, size, |t| t.id.to_string());
    Ok(Json(TenantList {
        tenants: rows
            .into_iter()
            .map(|t| TenantOut {
                id: t.id.to_string(),
                name: t.name,
                created_at: t.created_at,
            })
            .collect(),
        page_info,
    }))
}

/// Lists a tenant's API keys (revoked ones too), oldest first: ids and times, never a key.
#[utoipa::path(get, path = "/admin/tenants/{id}/keys", tag = "admin",
    params(("id" = String, Path, description = "the tenant's id (`ten_…`)"),
           ("pageSize" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1–100, default `api.default_page_size` (50)"),
           ("cursor" = Option<String>, Query, description = "opaque, from pageInfo.nextCursor")),
    responses((status = 200, body = KeyList),
        (status = 400, description = "a bad `pageSize` or `cursor`, an unknown parameter, or a malformed path", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant, or the admin API is off", body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<AdminListQuery>,
) -> ApiResult<Json<KeyList>> {
    let tenant = TenantId::parse(&id).map_err(|_| ApiError::NotFound("tenant"))?;
    let (size, after) = q.page(state.config().default_page_size, |s| {
        ApiKeyId::parse(s).ok()
    })?;
    let mut rows = state
        .store()
        .list_api_keys(&tenant, after.as_ref(), size + 1)
        .await
        .map_err(|e| match e {
            gateway_store::StoreError::NotFound => ApiError::NotFound("tenant"),
            other => other.into(),
        })?;
    let page_info = page_info(&mut rows, size, |k| k.id.to_string());
    Ok(Json(KeyList {
        keys: rows
            .into_iter()
            .map(|k| KeyOut {
                key_id: k.id.to_string(),
                created_at: k.created_at,
                last_used_at: k.last_used_at,
                revoked_at: k.revoked_at,
            })
            .collect(),
        page_info,
    }))
}

/// Deletes a tenant with everything of it, in one transaction: its API keys (requests with
/// them answer 401 from now on), credentials (their secrets destroyed), contact index,
/// reconciliation runs, events and idempotency records. Nothing is deleted at any provider.
#[utoipa::path(delete, path = "/admin/tenants/{id}", tag = "admin",
    params(("id" = String, Path, description = "the tenant's id (`ten_…`)")),
    responses((status = 204, description = "deleted"),
        (status = 400, description = "a malformed path", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such tenant, or the admin API is off", body = Problem, content_type = "application/problem+json")),
    security(("adminToken" = [])))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let tenant = TenantId::parse(&id).map_err(|_| ApiError::NotFound("tenant"))?;
    // The credential ids first, to drop this process's cached adapters (which hold decrypted
    // secrets) once the rows are gone.
    let mut credentials: Vec<CredentialId> = Vec::new();
    loop {
        let page = state
            .store()
            .list_credentials(&tenant, credentials.last(), 500)
            .await?;
        let done = page.len() < 500;
        credentials.extend(page.into_iter().map(|c| c.id));
        if done {
            break;
        }
    }
    state
        .store()
        .delete_tenant(&tenant)
        .await
        .map_err(|e| match e {
            gateway_store::StoreError::NotFound => ApiError::NotFound("tenant"),
            other => other.into(),
        })?;
    for cred in &credentials {
        state.registry().evict(cred);
    }
    tracing::info!(tenant = %tenant, credentials = credentials.len(), "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}
