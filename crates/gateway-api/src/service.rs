//! Glue shared by the routes: loading a tenant's credential, building (or reusing) its
//! adapter, and keeping the credential's health in step with what providers answer.

use std::sync::Arc;

use chrono::Utc;
use gateway_core::{AdapterError, CredentialId, CrmAdapter, ErrorKind, TenantId};
use gateway_store::{CredentialRecord, Health};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The tenant's credential, or 404 for unknown ids, malformed ids and other tenants' ids alike.
pub async fn load_credential(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<CredentialRecord> {
    let Ok(id) = CredentialId::parse(id) else {
        return Err(ApiError::NotFound("credential"));
    };
    state
        .store()
        .get_credential(tenant, &id)
        .await?
        .ok_or(ApiError::NotFound("credential"))
}

/// The adapter for a credential, built once per credential version and then reused.
pub async fn adapter_for(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
) -> ApiResult<Arc<dyn CrmAdapter>> {
    if let Some(adapter) = state.registry().cached(&cred.id, cred.updated_at) {
        return Ok(adapter);
    }
    let secret = state.store().credential_secret(tenant, &cred.id).await?;
    let adapter = state
        .registry()
        .build_for(&cred.id, cred.provider, &cred.settings, secret)?;
    state
        .registry()
        .insert(&cred.id, cred.updated_at, adapter.clone());
    Ok(adapter)
}

/// The health a failure implies, if it says something about the credential itself.
pub fn health_of(kind: ErrorKind) -> Health {
    match kind {
        ErrorKind::CredentialRejected => Health::NeedsReauth,
        ErrorKind::Misconfigured | ErrorKind::NotFound => Health::Misconfigured,
        ErrorKind::RateLimited => Health::RateLimited,
        ErrorKind::Unavailable
        | ErrorKind::Timeout
        | ErrorKind::Mapping
        | ErrorKind::CircuitOpen => Health::Unreachable,
        ErrorKind::InvalidInput | ErrorKind::Conflict | ErrorKind::Unsupported => {
            Health::Misconfigured
        }
    }
}

/// Passes a provider result through, recording credential-level failures (a revoked key,
/// a wrong workspace) as the credential's health so operators see them without a check call.
pub async fn observe<T>(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    result: Result<T, AdapterError>,
) -> ApiResult<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(failed(state, tenant, cred, e).await),
    }
}

/// See [`observe`]: records what a failure says about the credential and converts it.
pub async fn failed(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    e: AdapterError,
) -> ApiError {
    if matches!(
        e.kind,
        ErrorKind::CredentialRejected | ErrorKind::Misconfigured
    ) {
        let health = health_of(e.kind);
        if let Err(store_err) = state
            .store()
            .set_credential_health(tenant, &cred.id, health, Some(&e.message), Utc::now())
            .await
        {
            tracing::warn!(error = %store_err, "could not record credential health");
        }
        state.registry().evict(&cred.id);
    }
    ApiError::Adapter(e)
}
