//! `/crm/contacts`: the unified contact API (docs/mapping.md). Reads and writes go live to the
//! provider; the index keeps the gateway's ids, remote timestamps and deletion state.

use std::sync::Arc;

use axum::extract::State;

use crate::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use gateway_core::model::Contact;
use gateway_core::validate::{prepare_write, WriteMode};
use gateway_core::{
    ContactId, ContactInput, CrmAdapter, ErrorKind, ListRequest, Operation, PlannedCall,
    RemoteContact, TenantId, Warning, WriteOutcome, WriteStep,
};
use gateway_store::{CredentialRecord, DetectedBy, IndexEntry, IndexOrigin, SeenContact};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::cursor::{self, ContactCursor};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{JsonBody, QueryParams, Tenant};
use crate::pagination::{page_size, PageInfo};
use crate::service::{adapter_for, failed, load_credential, observe};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/crm/contacts", get(list_contacts).post(create_contact))
        .route("/crm/contacts/schema", get(contact_schema))
        .route(
            "/crm/contacts/{id}",
            get(get_contact)
                .patch(update_contact)
                .put(replace_contact)
                .delete(delete_contact),
        )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Query parameters of the routes that take them.
pub struct WriteQuery {
    pub credential_id: String,
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Query parameters of the routes that take them.
pub struct OneQuery {
    pub credential_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Query parameters of the routes that take them.
pub struct ListQuery {
    pub credential_id: String,
    pub page_size: Option<u32>,
    pub cursor: Option<String>,
    #[serde(default)]
    pub include_deleted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// Query parameters of the routes that take them.
pub struct SchemaQuery {
    pub credential_id: String,
    pub operation: Option<String>,
}

/// `{"contact": …}`.
#[derive(Serialize, ToSchema)]
pub struct ContactEnvelope {
    /// The contact.
    pub contact: Contact,
}

/// Answer to a write.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactWriteOut {
    /// False when a step of a multi-step write failed after the record was created.
    pub complete: bool,
    /// The contact as the provider now has it.
    pub contact: Contact,
    /// Values that were not written, each with its JSON pointer.
    pub warnings: Vec<Warning>,
    /// Steps of a multi-step write that failed after the record was created; retry them with
    /// a PATCH of this contact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_steps: Vec<WriteStep>,
}

/// The 200 answer of a write, as the OpenAPI document describes it: the written contact, or
/// with `?dryRun=true` the plan. Never built; the handlers answer one or the other.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
pub enum WriteAnswer {
    /// Without `dryRun`.
    Written(ContactWriteOut),
    /// With `dryRun=true`.
    DryRun(DryRunOut),
}

/// Answer to `?dryRun=true`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunOut {
    /// Always true.
    pub dry_run: bool,
    /// What would not be written.
    pub warnings: Vec<Warning>,
    /// The provider calls that would be made.
    pub requests: Vec<PlannedCall>,
}

/// A page of contacts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    /// This page.
    pub contacts: Vec<Contact>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

/// One field as this credential's provider treats it, for one operation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldSchema {
    /// Whether a value sent here is written.
    pub supported: bool,
    /// `stored`, `not_stored` or `read_only`.
    #[schema(value_type = String)]
    pub support: gateway_core::Support,
    /// Everything else the declaration says.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub spec: gateway_core::FieldSpec,
}

/// What a credential's provider accepts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactSchema {
    /// The provider.
    pub provider: gateway_core::ProviderKind,
    /// `create` or `update`.
    pub operation: String,
    /// Whether the operation is offered at all.
    pub operation_supported: bool,
    /// Every declared field.
    pub fields: Vec<FieldSchema>,
}

fn fingerprint(contact: &RemoteContact) -> String {
    let bytes = serde_json::to_vec(contact).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn seen(contact: &RemoteContact) -> SeenContact {
    SeenContact {
        remote_id: contact.remote_id.clone(),
        remote_created_at: contact.remote_created_at,
        remote_updated_at: contact.remote_updated_at,
        remote_deleted_at: contact.remote_deleted_at,
        fingerprint: fingerprint(contact),
    }
}

pub(super) fn output(entry: &IndexEntry, c: RemoteContact) -> Contact {
    Contact {
        id: entry.id.clone(),
        remote_id: entry.remote_id.clone(),
        first_name: c.first_name,
        last_name: c.last_name,
        account: c.account,
        addresses: c.addresses,
        email_addresses: c.email_addresses,
        phone_numbers: c.phone_numbers,
        last_activity_at: c.last_activity_at,
        remote_created_at: c.remote_created_at.or(entry.remote_created_at),
        remote_updated_at: c.remote_updated_at.or(entry.remote_updated_at),
        remote_deleted: entry.remote_deleted,
        remote_deleted_at: entry.remote_deleted_at,
        deletion_detected_by: entry.deletion_detected_by.map(|d| d.as_str().to_owned()),
        last_seen_at: entry.last_seen_at,
        created_at: entry.created_at,
        updated_at: entry.updated_at,
        remote_fields: c.remote_fields,
    }
}

/// What the index alone knows: used for contacts deleted in the provider.
pub(super) fn tombstone(entry: &IndexEntry) -> Contact {
    output(
        entry,
        RemoteContact {
            remote_id: entry.remote_id.clone(),
            ..RemoteContact::default()
        },
    )
}

pub(super) async fn index_one(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    contact: &RemoteContact,
    origin: IndexOrigin,
) -> ApiResult<IndexEntry> {
    let mut entries = state
        .store()
        .index_seen_with(tenant, &cred.id, &[seen(contact)], Utc::now(), &origin)
        .await?
        .entries;
    entries
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("index_seen returned no entry")))
}

async fn context(
    state: &AppState,
    tenant: &TenantId,
    credential_id: &str,
) -> ApiResult<(CredentialRecord, Arc<dyn CrmAdapter>)> {
    let cred = load_credential(state, tenant, credential_id).await?;
    let adapter = adapter_for(state, tenant, &cred).await?;
    Ok((cred, adapter))
}

fn require(adapter: &dyn CrmAdapter, op: Operation) -> ApiResult<()> {
    if adapter.declaration().supports(op) {
        Ok(())
    } else {
        Err(ApiError::Adapter(gateway_core::AdapterError::unsupported(
            adapter.provider(),
            &format!("{} on contacts", op.as_str()),
        )))
    }
}

async fn indexed(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    id: &str,
) -> ApiResult<IndexEntry> {
    let Ok(id) = ContactId::parse(id) else {
        return Err(ApiError::NotFound("contact"));
    };
    state
        .store()
        .index_get(tenant, &cred.id, &id)
        .await?
        .ok_or(ApiError::NotFound("contact"))
}

fn validated(
    adapter: &dyn CrmAdapter,
    mode: WriteMode,
    input: &ContactInput,
    strict: bool,
) -> ApiResult<(ContactInput, Vec<Warning>)> {
    let prepared = prepare_write(adapter.declaration(), mode, input, strict)
        .map_err(|f| ApiError::validation(f.errors))?;
    let op = match mode {
        WriteMode::Create => Operation::Create,
        WriteMode::Update => Operation::Update,
    };
    let extra = adapter.check_write(op, &prepared.input);
    if !extra.is_empty() {
        return Err(ApiError::validation(extra));
    }
    Ok((prepared.input, prepared.warnings))
}

/// A step that failed after the record existed is also a warning at its pointer: clients that
/// already watch `warnings` for values that were not written see it without new code.
fn write_answer(
    entry: &IndexEntry,
    outcome: WriteOutcome,
    mut warnings: Vec<Warning>,
) -> ContactWriteOut {
    warnings.extend(outcome.warnings);
    for step in &outcome.failed_steps {
        let what = step.error.as_deref().unwrap_or("the provider refused it");
        warnings.push(Warning::new(
            step.pointer.clone().unwrap_or_default(),
            "step_failed",
            format!(
                "{} failed ({what}); the contact exists as remoteId {}: send the same values again with PATCH to finish",
                step.step, entry.remote_id
            ),
        ));
    }
    ContactWriteOut {
        complete: outcome.failed_steps.is_empty(),
        contact: output(entry, outcome.contact),
        warnings,
        failed_steps: outcome.failed_steps,
    }
}

/// Creates a contact in the credential's CRM.
#[utoipa::path(post, path = "/crm/contacts", tag = "contacts",
    params(("credentialId" = String, Query), ("strict" = Option<bool>, Query, description = "values the provider cannot store fail the request (422) instead of coming back as warnings"),
           ("dryRun" = Option<bool>, Query, description = "validate and map only; answers the provider calls that would be made")),
    request_body = ContactInput,
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 200, body = WriteAnswer, description = "the contact as written; with ?dryRun=true, what would be sent instead"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 429, body = Problem, content_type = "application/problem+json"), (status = 501, body = Problem, content_type = "application/problem+json"), (status = 502, body = Problem, content_type = "application/problem+json"), (status = 504, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn create_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    key: Option<axum::Extension<crate::idempotency::KeyInUse>>,
    QueryParams(q): QueryParams<WriteQuery>,
    JsonBody(input): JsonBody<ContactInput>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (cred, adapter) = context(&state, &tenant, &q.credential_id).await?;
    require(adapter.as_ref(), Operation::Create)?;
    let (input, warnings) = validated(adapter.as_ref(), WriteMode::Create, &input, q.strict)?;
    if q.dry_run {
        let requests = adapter.plan_write(Operation::Create, None, &input);
        return Ok(Json(DryRunOut {
            dry_run: true,
            warnings,
            requests,
        })
        .into_response());
    }
    let key = key.map(|axum::Extension(k)| k.0);
    if let Some(key) = &key {
        let before = super::recovery::before_create(
            &state,
            &tenant,
            &cred,
            adapter.as_ref(),
            key,
            &input,
            &warnings,
        )
        .await?;
        if let super::recovery::Before::Answer(answer) = before {
            return Ok(answer);
        }
    }
    let result = adapter.create_contact(&input).await;
    if let (Some(key), Err(e)) = (&key, &result) {
        super::recovery::after_failure(&state, &tenant, key, e).await;
    }
    let outcome = observe(&state, &tenant, &cred, result).await?;
    let entry = index_one(
        &state,
        &tenant,
        &cred,
        &outcome.contact,
        IndexOrigin::Created(key),
    )
    .await?;
    tracing::info!(credential = %cred.id, contact = %entry.id, "contact created");
    Ok(Json(write_answer(&entry, outcome, warnings)).into_response())
}

/// Reads one contact, live from the provider.
#[utoipa::path(get, path = "/crm/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ("credentialId" = String, Query)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = ContactEnvelope), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 502, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<OneQuery>,
) -> ApiResult<Json<ContactEnvelope>> {
    let (cred, adapter) = context(&state, &tenant, &q.credential_id).await?;
    let entry = indexed(&state, &tenant, &cred, &id).await?;
    if entry.remote_deleted {
        return Ok(Json(ContactEnvelope {
            contact: tombstone(&entry),
        }));
    }
    match adapter.get_contact(&entry.remote_id).await {
        Ok(remote) => {
            let entry = index_one(&state, &tenant, &cred, &remote, IndexOrigin::Read).await?;
            Ok(Json(ContactEnvelope {
                contact: output(&entry, remote),
            }))
        }
        // The provider says it is gone: flag it now rather than waiting for reconciliation.
        Err(e) if e.is_provider_not_found() => {
            let entry = state
                .store()
                .index_mark_deleted(&tenant, &cred.id, &entry.id, DetectedBy::OnUse, Utc::now())
                .await?;
            tracing::info!(credential = %cred.id, contact = %entry.id, "contact found deleted in the provider");
            Ok(Json(ContactEnvelope {
                contact: tombstone(&entry),
            }))
        }
        Err(e) => Err(failed(&state, &tenant, &cred, e).await),
    }
}

/// Lists contacts, live from the provider, with opaque cursors.
#[utoipa::path(get, path = "/crm/contacts", tag = "contacts",
    params(("credentialId" = String, Query), ("pageSize" = Option<u32>, Query, description = "1–100, default 50"),
           ("cursor" = Option<String>, Query, description = "opaque, from pageInfo.nextCursor"),
           ("includeDeleted" = Option<bool>, Query, description = "after the live contacts, page through the index's remoteDeleted tombstones")),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = ContactList), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 502, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn list_contacts(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<ContactList>> {
    let (cred, adapter) = context(&state, &tenant, &q.credential_id).await?;
    require(adapter.as_ref(), Operation::List)?;
    let size = page_size(q.page_size, state.config().default_page_size)?;
    let position = match q.cursor.as_deref() {
        None => ContactCursor {
            credential: cred.id.to_string(),
            provider: None,
            tombstones: false,
            after_tombstone: None,
            page_size: Some(size),
        },
        Some(text) => {
            let c: ContactCursor = cursor::decode(text)?;
            if c.credential != cred.id.as_str() {
                return Err(ApiError::bad_parameter(
                    "cursor",
                    "this cursor belongs to another credential",
                ));
            }
            c
        }
    };
    // Later pages keep the first page's size (see ContactCursor::page_size).
    let size = match (position.page_size, q.page_size) {
        (Some(s), _) if !(1..=crate::pagination::MAX_PAGE_SIZE).contains(&s) => {
            return Err(ApiError::bad_parameter("cursor", "invalid cursor"));
        }
        (Some(s), Some(asked)) if q.cursor.is_some() && s != asked => {
            return Err(ApiError::bad_parameter(
                "pageSize",
                format!("a listing keeps the page size of its first page ({s}); start again without a cursor to change it"),
            ));
        }
        (Some(s), _) => s,
        (None, _) => size,
    };

    if position.tombstones {
        return tombstone_page(
            &state,
            &tenant,
            &cred,
            size,
            position.after_tombstone.as_deref(),
        )
        .await;
    }

    let page_size = size.min(adapter.declaration().max_page_size);
    let listed = adapter
        .list_contacts(ListRequest {
            page_size,
            cursor: position.provider.clone(),
        })
        .await;
    // An adapter that cannot read its own position was handed a tampered cursor.
    if let Err(e) = &listed {
        if e.kind == ErrorKind::InvalidInput && e.fields.iter().any(|f| f.pointer == "/cursor") {
            return Err(ApiError::bad_parameter("cursor", "invalid cursor"));
        }
    }
    let page = observe(&state, &tenant, &cred, listed).await?;
    let seen: Vec<SeenContact> = page.contacts.iter().map(seen).collect();
    let entries = state
        .store()
        .index_seen(&tenant, &cred.id, &seen, Utc::now())
        .await?;
    let contacts: Vec<Contact> = entries
        .iter()
        .zip(page.contacts)
        .filter(|(entry, _)| q.include_deleted || !entry.remote_deleted)
        .map(|(entry, remote)| output(entry, remote))
        .collect();

    let next = match page.next {
        Some(next) => Some(ContactCursor {
            credential: cred.id.to_string(),
            provider: Some(next),
            tombstones: false,
            after_tombstone: None,
            page_size: Some(size),
        }),
        None if q.include_deleted
            && !state
                .store()
                .index_tombstones(&tenant, &cred.id, None, 1)
                .await?
                .is_empty() =>
        {
            Some(ContactCursor {
                credential: cred.id.to_string(),
                provider: None,
                tombstones: true,
                after_tombstone: None,
                page_size: Some(size),
            })
        }
        None => None,
    };
    Ok(Json(ContactList {
        contacts,
        page_info: PageInfo {
            has_next: next.is_some(),
            next_cursor: next.as_ref().map(cursor::encode),
        },
    }))
}

async fn tombstone_page(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    size: u32,
    after: Option<&str>,
) -> ApiResult<Json<ContactList>> {
    let after = match after {
        None => None,
        Some(a) => Some(
            ContactId::parse(a).map_err(|_| ApiError::bad_parameter("cursor", "invalid cursor"))?,
        ),
    };
    let mut rows = state
        .store()
        .index_tombstones(tenant, &cred.id, after.as_ref(), size + 1)
        .await?;
    let has_next = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next_cursor = match (has_next, rows.last()) {
        (true, Some(last)) => Some(cursor::encode(&ContactCursor {
            credential: cred.id.to_string(),
            provider: None,
            tombstones: true,
            after_tombstone: Some(last.id.to_string()),
            page_size: Some(size),
        })),
        _ => None,
    };
    Ok(Json(ContactList {
        contacts: rows.iter().map(tombstone).collect(),
        page_info: PageInfo {
            has_next,
            next_cursor,
        },
    }))
}

/// Changes only the fields sent (`PUT` is an alias).
#[utoipa::path(patch, path = "/crm/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ("credentialId" = String, Query), ("strict" = Option<bool>, Query), ("dryRun" = Option<bool>, Query)),
    request_body = ContactInput,
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 200, body = WriteAnswer, description = "the contact as written; with ?dryRun=true, what would be sent instead"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 501, body = Problem, content_type = "application/problem+json"), (status = 502, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn update_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<WriteQuery>,
    JsonBody(input): JsonBody<ContactInput>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (cred, adapter) = context(&state, &tenant, &q.credential_id).await?;
    require(adapter.as_ref(), Operation::Update)?;
    let entry = indexed(&state, &tenant, &cred, &id).await?;
    if entry.remote_deleted {
        return Err(ApiError::RemoteDeleted);
    }
    let (input, warnings) = validated(adapter.as_ref(), WriteMode::Update, &input, q.strict)?;
    if q.dry_run {
        let requests = adapter.plan_write(Operation::Update, Some(&entry.remote_id), &input);
        return Ok(Json(DryRunOut {
            dry_run: true,
            warnings,
            requests,
        })
        .into_response());
    }
    match adapter.update_contact(&entry.remote_id, &input).await {
        Ok(outcome) => {
            let entry = index_one(
                &state,
                &tenant,
                &cred,
                &outcome.contact,
                IndexOrigin::Updated,
            )
            .await?;
            tracing::info!(credential = %cred.id, contact = %entry.id, "contact updated");
            Ok(Json(write_answer(&entry, outcome, warnings)).into_response())
        }
        // A 404 from a write endpoint (Karia's are inferred) is only a deletion if a read of
        // the same contact says so too.
        Err(e) if e.kind == ErrorKind::NotFound && gone(adapter.as_ref(), &entry).await => {
            state
                .store()
                .index_mark_deleted(&tenant, &cred.id, &entry.id, DetectedBy::OnUse, Utc::now())
                .await?;
            Err(ApiError::RemoteDeleted)
        }
        Err(e) => Err(failed(&state, &tenant, &cred, e).await),
    }
}

/// `PUT` is an alias of `PATCH`: only the fields sent change (the unified API's clients send
/// PUT, as Alloy's SDKs do).
#[utoipa::path(put, path = "/crm/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ("credentialId" = String, Query), ("strict" = Option<bool>, Query), ("dryRun" = Option<bool>, Query)),
    request_body = ContactInput,
    responses((status = 200, body = WriteAnswer, description = "the contact as written; with ?dryRun=true, what would be sent instead"), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 501, body = Problem, content_type = "application/problem+json"), (status = 502, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn replace_contact(
    state: State<AppState>,
    tenant: Tenant,
    id: Path<String>,
    query: QueryParams<WriteQuery>,
    body: JsonBody<ContactInput>,
) -> ApiResult<axum::response::Response> {
    update_contact(state, tenant, id, query, body).await
}

/// Deletes a contact in the provider; 501 where the provider cannot delete.
#[utoipa::path(delete, path = "/crm/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ("credentialId" = String, Query)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 204), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 501, body = Problem, content_type = "application/problem+json"), (status = 502, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn delete_contact(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<OneQuery>,
) -> ApiResult<StatusCode> {
    let (cred, adapter) = context(&state, &tenant, &q.credential_id).await?;
    let entry = indexed(&state, &tenant, &cred, &id).await?;
    require(adapter.as_ref(), Operation::Delete)?;
    match adapter.delete_contact(&entry.remote_id).await {
        // Already gone in the provider is the state the caller asked for.
        Ok(()) => {}
        Err(e) if e.kind == ErrorKind::NotFound && gone(adapter.as_ref(), &entry).await => {}
        Err(e) => return Err(failed(&state, &tenant, &cred, e).await),
    }
    state
        .store()
        .index_remove(&tenant, &cred.id, &entry.id)
        .await?;
    tracing::info!(credential = %cred.id, contact = %entry.id, "contact deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Whether the provider confirms, on a read, that the contact no longer exists (a 404, or its
/// own tombstone).
async fn gone(adapter: &dyn CrmAdapter, entry: &IndexEntry) -> bool {
    match adapter.get_contact(&entry.remote_id).await {
        Err(e) => e.is_provider_not_found(),
        Ok(remote) => remote.remote_deleted_at.is_some(),
    }
}

/// What this credential's provider accepts, from the same declaration that validation uses.
#[utoipa::path(get, path = "/crm/contacts/schema", tag = "contacts",
    params(("credentialId" = String, Query), ("operation" = Option<String>, Query, description = "create (default) or update")),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = ContactSchema), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn contact_schema(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    QueryParams(q): QueryParams<SchemaQuery>,
) -> ApiResult<Json<ContactSchema>> {
    let cred = load_credential(&state, &tenant, &q.credential_id).await?;
    let update = match q.operation.as_deref().unwrap_or("create") {
        "create" => false,
        "update" => true,
        other => {
            return Err(ApiError::bad_parameter(
                "operation",
                format!("must be create or update, got {other:?}"),
            ))
        }
    };
    let decl = state
        .registry()
        .declaration(cred.provider)
        .ok_or(ApiError::NotFound("provider"))?;
    Ok(Json(schema_for(decl, update)))
}

/// The published schema of one operation.
pub fn schema_for(decl: &gateway_core::ProviderDeclaration, update: bool) -> ContactSchema {
    let fields = decl
        .fields
        .iter()
        .map(|spec| {
            let support = spec.support_for(update);
            FieldSchema {
                supported: support == gateway_core::Support::Stored,
                support,
                spec: spec.clone(),
            }
        })
        .collect();
    ContactSchema {
        provider: decl.provider,
        operation: if update { "update" } else { "create" }.to_owned(),
        operation_supported: if update {
            decl.operations.update
        } else {
            decl.operations.create
        },
        fields,
    }
}
