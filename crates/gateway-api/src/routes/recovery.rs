//! Creates whose outcome is unknown (docs/operations.md, "Writes whose outcome is unknown").
//! A create sent under an `Idempotency-Key` records an intent before the provider call. If the
//! attempt ends without a contact in the index — the process died, the provider timed out, or
//! it failed after it may have written — a retry with the same key must not simply create
//! again: it waits for a reconciliation pass, which either finds the contact (the retry answers
//! with it) or proves it was never made (the retry creates it).

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use gateway_core::{
    AdapterError, ContactId, ContactInput, CreateMatch, CrmAdapter, ErrorKind, Operation, RemoteId,
    TenantId, Warning,
};
use gateway_store::{CredentialRecord, DetectedBy, Intent, IntentState, RunTrigger};

use super::contacts::{index_one, output, tombstone, ContactWriteOut};
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{as_chrono, DoNotStore};
use crate::service::failed;
use crate::state::AppState;
use gateway_store::IndexOrigin;

/// What a create under a key does before calling the provider.
pub(super) enum Before {
    /// Send it; the intent is recorded.
    Send,
    /// Answer this instead (the earlier attempt's contact, or "still checking").
    Answer(Response),
}

/// Looks at what earlier attempts with `key` left, then records this attempt's intent.
/// Providers that cannot list are left out: nothing could resolve their intents.
pub(super) async fn before_create(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    adapter: &dyn CrmAdapter,
    key: &str,
    input: &ContactInput,
    warnings: &[Warning],
) -> ApiResult<Before> {
    if !adapter.declaration().supports(Operation::List) {
        return Ok(Before::Send);
    }
    let matcher = CreateMatch::of_input(cred.id.as_str(), input);
    if let Some(mut intent) = state.store().intent_get(tenant, key, Utc::now()).await? {
        // An intent left by an earlier, expired use of the key is not this request's.
        if intent.credential_id == cred.id && intent.matcher == matcher {
            if intent.state == IntentState::Open {
                // Settling soon: wait here for the recovery pass rather than send the client
                // away for another round trip.
                match settled_inline(state, tenant, cred, key, &intent).await? {
                    Some(settled) => intent = settled,
                    None => return pending(state, tenant, cred, &intent).await,
                }
            }
            match &intent.state {
                IntentState::Adopted {
                    contact_id,
                    remote_id,
                } => {
                    let answer = adopted(
                        state, tenant, cred, adapter, contact_id, remote_id, input, warnings,
                    )
                    .await?;
                    return Ok(Before::Answer(answer));
                }
                IntentState::Open => return pending(state, tenant, cred, &intent).await,
                IntentState::Absent => {}
            }
        }
    }
    let cfg = &state.config().idempotency;
    let now = Utc::now();
    state
        .store()
        .intent_open(
            tenant,
            key,
            &cred.id,
            &matcher,
            now,
            now + as_chrono(cfg.settle_after),
            now + as_chrono(cfg.window),
        )
        .await?;
    Ok(Before::Send)
}

/// After a create failed: a refusal made nothing (forget the intent); an answer lost on the way
/// back or a provider failure after sending leaves it open, to be settled by a reconciliation.
pub(super) async fn after_failure(
    state: &AppState,
    tenant: &TenantId,
    key: &str,
    e: &AdapterError,
) {
    let store = state.store();
    let refused = e.not_applied
        || matches!(
            e.kind,
            ErrorKind::InvalidInput
                | ErrorKind::Conflict
                | ErrorKind::NotFound
                | ErrorKind::CredentialRejected
                | ErrorKind::Misconfigured
                | ErrorKind::RateLimited
                | ErrorKind::Unsupported
                | ErrorKind::CircuitOpen
        );
    let result = if refused {
        store.intent_delete(tenant, key).await
    } else if e.kind == ErrorKind::Timeout || e.provider_status.is_none() {
        // The request may still be running at the provider.
        let settle = as_chrono(state.config().idempotency.settle_after);
        store
            .intent_settle_at(tenant, key, Utc::now() + settle)
            .await
    } else {
        // The provider answered: whatever it did is done.
        store.intent_settle_at(tenant, key, Utc::now()).await
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not record the outcome of a failed create");
    }
}

/// How long a retry waits in place for an interrupted create to be settled (the settle time
/// still to run, then the recovery pass) before it answers 409 with `Retry-After` instead.
const INLINE_WAIT: Duration = Duration::from_secs(10);
/// What a recovery pass is allowed in a `Retry-After`: the worker's pick-up and one listing.
const PASS_ALLOWANCE: Duration = Duration::from_secs(3);

/// An open intent that settles within [`INLINE_WAIT`]: waits until the provider can no longer
/// apply the create, asks for the recovery pass, and waits for it to adopt the contact or
/// prove it absent. `None` when that does not happen in time (the caller answers 409).
async fn settled_inline(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    key: &str,
    intent: &Intent,
) -> ApiResult<Option<Intent>> {
    let started = tokio::time::Instant::now();
    let until_settled = (intent.settle_at - Utc::now()).to_std().unwrap_or_default();
    if until_settled > INLINE_WAIT {
        return Ok(None);
    }
    // This request waits for background work: it must not hold that work back.
    let _aside = gateway_jobs::gate::global().stand_aside(cred.id.as_str());
    tokio::time::sleep(until_settled).await;
    let run = ask_for_recovery(state, tenant, &cred.id).await?;
    while started.elapsed() < INLINE_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match state.store().intent_get(tenant, key, Utc::now()).await? {
            Some(now) if now.state != IntentState::Open => return Ok(Some(now)),
            Some(_) => {}
            // Gone (expired or another attempt finished it): let the caller look again.
            None => return Ok(None),
        }
        // The pass ended without settling it (it failed, say, on a provider fault): waiting
        // longer changes nothing; the client gets its 409 and comes back.
        let ended = state.store().run_by_id(&run).await?;
        if ended.is_none_or(|r| r.status.is_terminal()) {
            return match state.store().intent_get(tenant, key, Utc::now()).await? {
                Some(now) if now.state != IntentState::Open => Ok(Some(now)),
                _ => Ok(None),
            };
        }
    }
    Ok(None)
}

/// Asks for a recovery pass of the credential (or joins the one already asked for) and wakes
/// this process's scheduler, so it starts now rather than at the next tick. Answers its run id.
async fn ask_for_recovery(
    state: &AppState,
    tenant: &TenantId,
    cred: &gateway_core::CredentialId,
) -> ApiResult<gateway_core::RunId> {
    let run = state
        .store()
        .run_request(tenant, cred, RunTrigger::Recovery)
        .await?;
    state.runs_requested().notify_one();
    tracing::info!(credential = %cred, run = %run.id, "checking an interrupted create");
    Ok(run.id)
}

/// An earlier attempt's outcome is not known yet: ask for a reconciliation once the provider can
/// no longer apply it (now, or from a timer at the settle time), and tell the client when the
/// answer can be there. Not stored for the key.
async fn pending(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    intent: &Intent,
) -> ApiResult<Before> {
    let now = Utc::now();
    let (wait, run) = if intent.settle_at > now {
        let wait = (intent.settle_at - now).to_std().unwrap_or_default();
        // The pass must not wait for the periodic schedule: ask for it at the settle time. A
        // process that dies before then loses only the timer; the next retry asks again.
        let (state, tenant, cred_id) = (state.clone(), tenant.clone(), cred.id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Err(e) = ask_for_recovery(&state, &tenant, &cred_id).await {
                tracing::warn!(error = %e, "could not ask for a recovery pass");
            }
        });
        (
            wait + PASS_ALLOWANCE,
            "(starts at the settle time)".to_owned(),
        )
    } else {
        let run = ask_for_recovery(state, tenant, &cred.id).await?;
        (PASS_ALLOWANCE, run.to_string())
    };
    let mut response = ApiError::WriteOutcomePending {
        retry_after: wait,
        run,
    }
    .into_response();
    response.extensions_mut().insert(DoNotStore);
    Ok(Before::Answer(response))
}

/// The earlier attempt made `remote_id`: answer as its create would have.
#[allow(clippy::too_many_arguments)]
async fn adopted(
    state: &AppState,
    tenant: &TenantId,
    cred: &CredentialRecord,
    adapter: &dyn CrmAdapter,
    contact_id: &ContactId,
    remote_id: &RemoteId,
    input: &ContactInput,
    warnings: &[Warning],
) -> ApiResult<Response> {
    let mut warnings = warnings.to_vec();
    warnings.push(Warning::new(
        "",
        "recovered",
        format!(
            "an earlier attempt with this Idempotency-Key made this contact (remoteId {remote_id}) but its answer was lost; \
             reconciliation found it. Values a create writes after its first provider call (addresses, further emails \
             or phones) may be missing: read the contact and PATCH what is"
        ),
    ));
    let single_step = adapter.plan_write(Operation::Create, None, input).len() <= 1;
    let contact = match adapter.get_contact(remote_id).await {
        Ok(remote) => {
            let entry = index_one(state, tenant, cred, &remote, IndexOrigin::Read).await?;
            output(&entry, remote)
        }
        Err(e) if e.is_provider_not_found() => {
            let entry = state
                .store()
                .index_mark_deleted(tenant, &cred.id, contact_id, DetectedBy::OnUse, Utc::now())
                .await?;
            tombstone(&entry)
        }
        Err(e) => return Err(failed(state, tenant, cred, e).await),
    };
    tracing::info!(credential = %cred.id, contact = %contact_id, "interrupted create answered with the contact it made");
    Ok((
        StatusCode::OK,
        Json(ContactWriteOut {
            complete: single_step,
            contact,
            warnings,
            failed_steps: Vec::new(),
        }),
    )
        .into_response())
}
