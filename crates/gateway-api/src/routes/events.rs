//! `GET /events`: the tenant's change feed — contacts created, updated and deleted through the
//! API, discovered in a provider, found deleted remotely, and restored — in commit order with a
//! stable cursor. Each event is written in the same transaction as the index change that
//! caused it, so the feed and the index never disagree.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gateway_store::{Event, EventType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{QueryParams, Tenant};
use crate::service::load_credential;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(list_events))
}

/// Query of the feed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsQuery {
    credential_id: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// One change.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventOut {
    /// `evt_…`.
    pub id: String,
    /// Position in the feed; strictly increasing in commit order.
    pub sequence: i64,
    /// `contact.created`, `contact.updated`, `contact.deleted`, `contact.discovered`,
    /// `contact.remote_deleted` or `contact.restored`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The credential.
    pub credential_id: String,
    /// The gateway's contact id.
    pub contact_id: Option<String>,
    /// The provider's id.
    pub remote_id: Option<String>,
    /// When the change was committed.
    pub occurred_at: DateTime<Utc>,
    /// Detail, e.g. `{"detectedBy": "diff", "remoteDeletedAt": …, "runId": …, "source": …}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<Event> for EventOut {
    fn from(e: Event) -> Self {
        EventOut {
            id: e.id.to_string(),
            sequence: e.sequence,
            event_type: e.event_type,
            credential_id: e.credential_id.to_string(),
            contact_id: e.contact_id.map(|c| c.to_string()),
            remote_id: e.remote_id.map(|r| r.0),
            occurred_at: e.occurred_at,
            data: e.data,
        }
    }
}

/// A page of the feed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    /// Oldest first.
    pub events: Vec<EventOut>,
    /// Pass as `after` to get what follows: the `sequence` of the last event of this page, a
    /// number like `sequence` itself; the same value as `after` when nothing new came, so a
    /// poller can keep using it.
    #[schema(minimum = 0)]
    pub next_after: i64,
}

/// The tenant's change feed.
#[utoipa::path(get, path = "/events", tag = "events",
    params(("credentialId" = Option<String>, Query, description = "only this credential's events"),
           ("after" = Option<i64>, Query, minimum = 0, description = "nextAfter of the previous page (the sequence of the last event seen); absent: from the start"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1–1000, default 100")),
    responses((status = 200, body = EventList), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    QueryParams(q): QueryParams<EventsQuery>,
) -> ApiResult<Json<EventList>> {
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be between 1 and 1000, got {n}"),
            ))
        }
    };
    let after = match q.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_parameter("after", "pass nextAfter from the previous page unchanged")
            })?,
    };
    let cred = match q.credential_id.as_deref() {
        None => None,
        Some(id) => Some(load_credential(&state, &tenant, id).await?.id),
    };
    let events = state
        .store()
        .events_after(&tenant, cred.as_ref(), after, limit)
        .await?;
    let next_after = events.last().map_or(after, |e| e.sequence);
    Ok(Json(EventList {
        events: events.into_iter().map(EventOut::from).collect(),
        next_after,
    }))
}
