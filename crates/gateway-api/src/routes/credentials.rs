//! `/credentials`: store, read, rotate, delete and check one CRM account's credential
//! (docs/operations.md). Secrets go in and never come out.

use std::collections::BTreeMap;

use axum::extract::State;

use crate::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gateway_core::{CredentialId, FieldError, ProviderKind};
use gateway_store::{CredentialPatch, CredentialRecord, Health, NewCredential};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::cursor;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{JsonBody, QueryParams, Tenant};
use crate::pagination::{page_size, PageInfo};
use crate::service::{adapter_for, health_of, load_credential};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/credentials",
            post(create_credential).get(list_credentials),
        )
        .route(
            "/credentials/{id}",
            get(get_credential)
                .patch(update_credential)
                .delete(delete_credential),
        )
        .route("/credentials/{id}/check", post(check_credential))
}

/// Body of `POST /credentials`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialIn {
    /// `bird`, `karia` or `iclosed`.
    #[schema(example = "bird")]
    pub provider: Option<String>,
    /// A name for humans.
    #[schema(example = "Acme's Bird")]
    pub name: Option<String>,
    /// The provider API key. Write-only: never returned, logged or echoed in errors.
    #[schema(value_type = String, write_only)]
    pub secret: Option<SecretString>,
    /// Provider settings, e.g. `{"workspaceId": "…", "baseUrl": "https://api.bird.com"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
    /// Free-form labels for grouping.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
}

/// Body of `PATCH /credentials/{id}`: every field optional; `settings` keys are merged and a
/// `null` value removes a key; a new `secret` rotates the key.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialPatchIn {
    /// New name.
    pub name: Option<String>,
    /// Settings to change.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
    /// Replaces all tags.
    pub tags: Option<BTreeMap<String, String>>,
    /// A new provider key.
    #[schema(value_type = Option<String>, write_only)]
    pub secret: Option<SecretString>,
}

/// A credential as the API shows it: everything but the secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialOut {
    /// `cred_…`.
    pub id: String,
    /// The provider.
    pub provider: ProviderKind,
    /// Name.
    pub name: String,
    /// Provider settings.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Labels.
    pub tags: BTreeMap<String, String>,
    /// `unknown`, `ok`, `needs_reauth`, `unreachable`, `rate_limited`, `misconfigured`.
    pub health: String,
    /// Why, for the last non-ok health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_detail: Option<String>,
    /// When health was last established.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_checked_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<CredentialRecord> for CredentialOut {
    fn from(c: CredentialRecord) -> Self {
        Self {
            id: c.id.to_string(),
            provider: c.provider,
            name: c.name,
            settings: c.settings,
            tags: c.tags,
            health: c.health.as_str().to_owned(),
            health_detail: c.health_detail,
            health_checked_at: c.health_checked_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `{"credential": …}`.
#[derive(Serialize, ToSchema)]
pub struct CredentialEnvelope {
    /// The credential.
    pub credential: CredentialOut,
}

/// A page of credentials.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialList {
    /// This page.
    pub credentials: Vec<CredentialOut>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// Result of a check.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckOut {
    /// `ok`, `needs_reauth`, `unreachable`, `rate_limited` or `misconfigured`.
    pub health: String,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// What the provider said, when not ok.
    pub detail: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Query parameters of the routes that take them.
pub struct VerifyQuery {
    #[serde(default)]
    pub verify: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Query parameters of the routes that take them.
pub struct ListQuery {
    pub page_size: Option<u32>,
    pub cursor: Option<String>,
}

const MAX_NAME: usize = 200;
const MAX_TAGS: usize = 50;

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let len = name.chars().count();
    if name.trim().is_empty() {
        errors.push(FieldError::new(
            "/name",
            "required",
            "name must not be empty",
        ));
    } else if len > MAX_NAME {
        errors.push(FieldError::new(
            "/name",
            "too_long",
            format!("name must be at most {MAX_NAME} characters, got {len}"),
        ));
    }
}

fn check_tags(tags: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if tags.len() > MAX_TAGS {
        errors.push(FieldError::new(
            "/tags",
            "too_many_items",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    for (k, v) in tags {
        let pointer = format!("/tags/{}", gateway_core::validate::pointer_segment(k));
        if k.is_empty() || k.chars().count() > 64 {
            errors.push(FieldError::new(
                &pointer,
                "invalid_key",
                "tag names must be 1–64 characters",
            ));
        }
        if v.chars().count() > 256 {
            errors.push(FieldError::new(
                &pointer,
                "too_long",
                "tag values must be at most 256 characters",
            ));
        }
    }
}

/// Validates settings shape, then the base URL's address (which needs DNS).
async fn check_settings(
    state: &AppState,
    provider: ProviderKind,
    settings: &Value,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    match gateway_adapters::validate_settings(provider, settings) {
        Ok(valid) => {
            if let Some(url) = valid.get("baseUrl").and_then(Value::as_str) {
                if let Err(e) =
                    gateway_transport::check_base_url(url, state.allow_private_base_urls()).await
                {
                    errors.push(FieldError::new(
                        "/settings/baseUrl",
                        "forbidden_url",
                        e.to_string(),
                    ));
                    return None;
                }
            }
            Some(valid)
        }
        Err(mut errs) => {
            errors.append(&mut errs);
            None
        }
    }
}

/// Whether a settings change would send the stored secret to another origin (scheme, host or
/// port of the base URL; docs/operations.md "Secrets and origins"): only allowed with a new secret.
fn moves_secret(provider: ProviderKind, before: &Value, after: &Value, new_secret: bool) -> bool {
    let old_url = gateway_adapters::base_url(provider, before);
    let new_url = gateway_adapters::base_url(provider, after);
    !new_secret && old_url != new_url && !gateway_transport::same_origin(&old_url, &new_url)
}

/// Asks the provider whether the secret works; a refusal is the caller's input problem (422).
async fn verify(
    state: &AppState,
    provider: ProviderKind,
    settings: &Value,
    secret: SecretString,
) -> ApiResult<()> {
    let adapter = state.registry().build(provider, settings, secret)?;
    let refused = |pointer: &str, code: &str, message: String| ApiError::CredentialRefused {
        message: message.clone(),
        errors: vec![crate::error::ProblemItem {
            pointer: Some(pointer.to_owned()),
            parameter: None,
            code: code.to_owned(),
            message,
        }],
    };
    match adapter.health_check().await {
        Ok(()) => Ok(()),
        Err(e) => match health_of(e.kind) {
            Health::NeedsReauth => Err(refused(
                "/secret",
                "credential_rejected",
                format!("the provider refused this secret: {}", e.message),
            )),
            Health::Misconfigured => Err(refused(
                "/settings",
                "misconfigured",
                format!(
                    "the provider account could not be reached with these settings: {}",
                    e.message
                ),
            )),
            _ => Err(ApiError::Adapter(e)),
        },
    }
}

/// Stores a credential.
#[utoipa::path(post, path = "/credentials", tag = "credentials",
    params(("verify" = Option<bool>, Query, description = "check the secret with the provider first; nothing is stored if it is refused")),
    request_body = CredentialIn,
    responses((status = 413, body = Problem, content_type = "application/problem+json"), (status = 201, body = CredentialEnvelope), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn create_credential(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    QueryParams(q): QueryParams<VerifyQuery>,
    JsonBody(body): JsonBody<CredentialIn>,
) -> ApiResult<(StatusCode, Json<CredentialEnvelope>)> {
    let mut errors = Vec::new();
    let provider = match body.provider.as_deref() {
        None => {
            errors.push(FieldError::new(
                "/provider",
                "required",
                "provider is required",
            ));
            None
        }
        Some(p) => match p.parse::<ProviderKind>() {
            Ok(kind) if gateway_adapters::declaration(kind).is_some() => Some(kind),
            Ok(kind) => {
                errors.push(FieldError::new(
                    "/provider",
                    "not_available",
                    format!("provider {kind} is not available in this build"),
                ));
                None
            }
            Err(_) => {
                let known: Vec<String> = gateway_adapters::available_providers()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                errors.push(FieldError::new(
                    "/provider",
                    "unknown_provider",
                    format!("unknown provider {p:?}; known: {}", known.join(", ")),
                ));
                None
            }
        },
    };
    match &body.name {
        None => errors.push(FieldError::new("/name", "required", "name is required")),
        Some(name) => check_name(name, &mut errors),
    }
    match (&body.secret, provider) {
        (None, _) => errors.push(FieldError::new("/secret", "required", "secret is required")),
        (Some(secret), Some(p)) => {
            if let Err(e) = gateway_adapters::validate_secret(p, secret.expose_secret()) {
                errors.push(e);
            }
        }
        (Some(_), None) => {}
    }
    let tags = body.tags.unwrap_or_default();
    check_tags(&tags, &mut errors);
    let settings = body.settings.unwrap_or_else(|| Value::Object(Map::new()));
    let settings = match provider {
        Some(p) => check_settings(&state, p, &settings, &mut errors).await,
        None => None,
    };
    let (Some(provider), Some(name), Some(secret), Some(settings), true) = (
        provider,
        body.name,
        body.secret,
        settings,
        errors.is_empty(),
    ) else {
        return Err(ApiError::validation(errors));
    };

    let mut health = Health::Unknown;
    if q.verify {
        verify(&state, provider, &settings, secret.clone()).await?;
        health = Health::Ok;
    }
    let id = CredentialId::generate();
    let record = state
        .store()
        .create_credential(
            &tenant,
            NewCredential {
                id: id.clone(),
                provider,
                name,
                settings,
                tags,
                secret,
            },
        )
        .await?;
    let record = if health == Health::Ok {
        state
            .store()
            .set_credential_health(&tenant, &id, Health::Ok, None, Utc::now())
            .await?;
        state
            .store()
            .get_credential(&tenant, &id)
            .await?
            .unwrap_or(record)
    } else {
        record
    };
    tracing::info!(credential = %record.id, provider = %record.provider, "credential created");
    Ok((
        StatusCode::CREATED,
        Json(CredentialEnvelope {
            credential: record.into(),
        }),
    ))
}

/// Lists the tenant's credentials.
#[utoipa::path(get, path = "/credentials", tag = "credentials",
    params(("pageSize" = Option<u32>, Query, description = "1–100, default 50"), ("cursor" = Option<String>, Query, description = "opaque, from pageInfo.nextCursor")),
    responses((status = 200, body = CredentialList), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn list_credentials(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<CredentialList>> {
    let size = page_size(q.page_size, state.config().default_page_size)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let decoded: cursor::CredentialCursor = cursor::decode(c)?;
            Some(
                CredentialId::parse(&decoded.after)
                    .map_err(|_| ApiError::bad_parameter("cursor", "invalid cursor"))?,
            )
        }
    };
    let mut rows = state
        .store()
        .list_credentials(&tenant, after.as_ref(), size + 1)
        .await?;
    let has_next = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next_cursor = match (has_next, rows.last()) {
        (true, Some(last)) => Some(cursor::encode(&cursor::CredentialCursor {
            after: last.id.to_string(),
        })),
        _ => None,
    };
    Ok(Json(CredentialList {
        credentials: rows.into_iter().map(Into::into).collect(),
        page_info: PageInfo {
            has_next,
            next_cursor,
        },
    }))
}

/// Reads one credential.
#[utoipa::path(get, path = "/credentials/{id}", tag = "credentials",
    params(("id" = String, Path)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = CredentialEnvelope), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn get_credential(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<CredentialEnvelope>> {
    let cred = load_credential(&state, &tenant, &id).await?;
    Ok(Json(CredentialEnvelope {
        credential: cred.into(),
    }))
}

/// Changes name, tags or settings, or rotates the secret.
#[utoipa::path(patch, path = "/credentials/{id}", tag = "credentials",
    params(("id" = String, Path), ("verify" = Option<bool>, Query, description = "check the (new) secret and settings with the provider first")),
    request_body = CredentialPatchIn,
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 200, body = CredentialEnvelope), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn update_credential(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<VerifyQuery>,
    JsonBody(body): JsonBody<CredentialPatchIn>,
) -> ApiResult<Json<CredentialEnvelope>> {
    let cred = load_credential(&state, &tenant, &id).await?;
    let mut errors = Vec::new();
    if let Some(name) = &body.name {
        check_name(name, &mut errors);
    }
    if let Some(tags) = &body.tags {
        check_tags(tags, &mut errors);
    }
    if let Some(secret) = &body.secret {
        if let Err(e) = gateway_adapters::validate_secret(cred.provider, secret.expose_secret()) {
            errors.push(e);
        }
    }
    let settings = match &body.settings {
        None => None,
        Some(changes) => {
            let mut merged = cred.settings.as_object().cloned().unwrap_or_default();
            for (k, v) in changes {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            let merged = Value::Object(merged);
            if moves_secret(
                cred.provider,
                &cred.settings,
                &merged,
                body.secret.is_some(),
            ) {
                // Checked before anything else touches the new URL: no DNS lookup, no verify
                // call, nothing stored.
                errors.push(FieldError::new(
                    "/secret",
                    "required",
                    "a change of the scheme, host or port of settings.baseUrl must carry the secret for the new origin: a stored secret is only ever sent to the origin it was stored for",
                ));
                None
            } else {
                check_settings(&state, cred.provider, &merged, &mut errors).await
            }
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if q.verify {
        let secret = match &body.secret {
            Some(s) => s.clone(),
            None => state.store().credential_secret(&tenant, &cred.id).await?,
        };
        verify(
            &state,
            cred.provider,
            settings.as_ref().unwrap_or(&cred.settings),
            secret,
        )
        .await?;
    }
    let rotated = body.secret.is_some();
    let settings_changed = settings.is_some();
    let record = state
        .store()
        .update_credential(
            &tenant,
            &cred.id,
            CredentialPatch {
                name: body.name,
                settings,
                tags: body.tags,
                secret: body.secret,
            },
        )
        .await?;
    state.registry().evict(&cred.id);
    // A new secret or new settings make the last check meaningless: say so rather than keep
    // showing "ok" for a key that was never tried.
    if !q.verify && (rotated || settings_changed) {
        state
            .store()
            .set_credential_health(&tenant, &cred.id, Health::Unknown, None, Utc::now())
            .await?;
    }
    if q.verify {
        state
            .store()
            .set_credential_health(&tenant, &cred.id, Health::Ok, None, Utc::now())
            .await?;
    }
    let record = state
        .store()
        .get_credential(&tenant, &cred.id)
        .await?
        .unwrap_or(record);
    tracing::info!(credential = %record.id, rotated, "credential updated");
    Ok(Json(CredentialEnvelope {
        credential: record.into(),
    }))
}

/// Deletes a credential; its secret is destroyed with it.
#[utoipa::path(delete, path = "/credentials/{id}", tag = "credentials",
    params(("id" = String, Path)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 204), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn delete_credential(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let cred = load_credential(&state, &tenant, &id).await?;
    state.store().delete_credential(&tenant, &cred.id).await?;
    state.registry().evict(&cred.id);
    tracing::info!(credential = %cred.id, "credential deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the credential against the provider now and records the result as its health.
#[utoipa::path(post, path = "/credentials/{id}/check", tag = "credentials",
    params(("id" = String, Path)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = CheckOut), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn check_credential(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<CheckOut>> {
    let cred = load_credential(&state, &tenant, &id).await?;
    let adapter = adapter_for(&state, &tenant, &cred).await?;
    // Milliseconds, like every other timestamp the API answers (the store keeps no finer).
    let now = Utc::now();
    let checked_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    let (health, detail) = match adapter.health_check().await {
        Ok(()) => (Health::Ok, None),
        Err(e) => (health_of(e.kind), Some(e.message)),
    };
    state
        .store()
        .set_credential_health(&tenant, &cred.id, health, detail.as_deref(), checked_at)
        .await?;
    Ok(Json(CheckOut {
        health: health.as_str().to_owned(),
        checked_at,
        detail,
    }))
}
