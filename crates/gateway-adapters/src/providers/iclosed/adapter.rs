//! `IclosedAdapter`: the common contact operations on top of [`IclosedClient`] and the
//! mapping. Builds no URL and parses no JSON itself. Delete keeps the trait's default
//! (`Unsupported`, the API's 501): iClosed has no public contact delete (docs/providers/iclosed.md).

use async_trait::async_trait;
use gateway_core::{
    AdapterError, ContactInput, CrmAdapter, FieldError, ListPage, ListRequest, Operation,
    PlannedCall, ProviderDeclaration, ProviderKind, RemoteContact, RemoteId, WriteOutcome,
    WriteStep,
};
use gateway_transport::Transport;
use serde_json::Value;

use super::auth::IclosedAuth;
use super::client::IclosedClient;
use super::declare::{self, MAX_PAGE_SIZE};
use super::mapping::{self, SECONDARY_STEP};
use super::settings::IclosedSettings;
use super::{error, wire};

/// One iClosed account, bound to one API key.
#[derive(Debug)]
pub struct IclosedAdapter {
    client: IclosedClient,
}

impl IclosedAdapter {
    pub(super) fn new(transport: Transport, settings: IclosedSettings, auth: IclosedAuth) -> Self {
        Self {
            client: IclosedClient::new(transport, settings, auth),
        }
    }
}

const ID_PLACEHOLDER: &str = "{contactId}";

fn planned(method: &str, path: String, body: Option<Value>, note: Option<&str>) -> PlannedCall {
    PlannedCall {
        method: method.to_owned(),
        path,
        body,
        note: note.map(str::to_owned),
    }
}

/// An update body as JSON, with the id shown as a placeholder when it is not known yet.
fn update_json(body: &wire::UpdateContact, known: bool) -> Option<Value> {
    let mut value = serde_json::to_value(body).ok()?;
    if !known {
        if let Some(obj) = value.as_object_mut() {
            obj.insert("id".into(), Value::String(ID_PLACEHOLDER.to_owned()));
        }
    }
    Some(value)
}

#[async_trait]
impl CrmAdapter for IclosedAdapter {
    fn provider(&self) -> ProviderKind {
        ProviderKind::Iclosed
    }

    fn declaration(&self) -> &ProviderDeclaration {
        declare::declaration()
    }

    fn check_write(&self, op: Operation, input: &ContactInput) -> Vec<FieldError> {
        declare::check_write(op, input)
    }

    fn plan_write(
        &self,
        op: Operation,
        remote_id: Option<&RemoteId>,
        input: &ContactInput,
    ) -> Vec<PlannedCall> {
        let contacts = || self.client.relative(&[], &[]);
        let id = remote_id.and_then(mapping::contact_id);
        match op {
            Operation::Create => {
                let body = serde_json::to_value(wire::CreateContact::from(input)).ok();
                let mut calls = vec![planned("POST", contacts(), body, None)];
                if let Some((second, _)) = mapping::secondary_update(0, input) {
                    calls.push(planned(
                        "PUT",
                        contacts(),
                        update_json(&second, false),
                        Some("after the create, with the id it answers: the create body has no secondary_email or secondary_phoneNumber; if this call fails the contact exists and the answer lists it in failedSteps"),
                    ));
                }
                calls
            }
            Operation::Update => {
                let (body, _) = mapping::update_body(id.unwrap_or_default(), input);
                if body.is_empty() {
                    let query = [(
                        "contactId",
                        id.map_or_else(|| ID_PLACEHOLDER.to_owned(), |i| i.to_string()),
                    )];
                    vec![planned(
                        "GET",
                        self.client.relative(&["detail"], &query),
                        None,
                        Some("nothing iClosed can store changes; the contact is read instead"),
                    )]
                } else {
                    vec![planned(
                        "PUT",
                        contacts(),
                        update_json(&body, id.is_some()),
                        None,
                    )]
                }
            }
            Operation::Get => {
                let query = [(
                    "contactId",
                    id.map_or_else(|| ID_PLACEHOLDER.to_owned(), |i| i.to_string()),
                )];
                vec![planned(
                    "GET",
                    self.client.relative(&["detail"], &query),
                    None,
                    None,
                )]
            }
            Operation::List => vec![planned(
                "GET",
                contacts(),
                None,
                Some("with ?page=&limit= (page is zero-based, limit at most 100)"),
            )],
            // No public delete (docs/providers/iclosed.md): nothing would be sent.
            Operation::Delete => Vec::new(),
        }
    }

    #[tracing::instrument(skip_all, fields(provider = "iclosed", op = "health_check"))]
    async fn health_check(&self) -> Result<(), AdapterError> {
        self.client.list(0, 1).await.map(|_| ())
    }

    /// A create with a second email or phone is two calls (docs/providers/iclosed.md): the create, then a
    /// `PUT` with `secondary_email`/`secondary_phoneNumber`. If the second fails, the contact
    /// exists: the answer is the contact as created plus the failed step, never an error
    /// that would leave the caller without the id.
    #[tracing::instrument(skip_all, fields(provider = "iclosed", op = "create_contact"))]
    async fn create_contact(&self, input: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        let problems = declare::check_write(Operation::Create, input);
        if !problems.is_empty() {
            return Err(error::invalid_input(problems));
        }
        let created = RemoteContact::from(
            self.client
                .create(&wire::CreateContact::from(input))
                .await?,
        );
        let Some(id) = mapping::contact_id(&created.remote_id) else {
            let outcome = WriteOutcome::complete(created);
            return Ok(match mapping::secondary_update(0, input) {
                Some((_, pointers)) => failed(
                    outcome,
                    &pointers,
                    "iClosed answered an id that is not an integer, so the second email or phone could not be written",
                    None,
                ),
                None => outcome,
            });
        };
        let Some((second, pointers)) = mapping::secondary_update(id, input) else {
            return Ok(WriteOutcome::complete(created));
        };
        match self.client.update(&second).await {
            Ok(updated) => Ok(WriteOutcome::complete(RemoteContact::from(updated))),
            Err(e) => {
                tracing::warn!(kind = %e.kind, status = ?e.provider_status, "iclosed secondary email/phone step failed after create");
                Ok(failed(
                    WriteOutcome::complete(created),
                    &pointers,
                    &e.message,
                    e.provider_status,
                ))
            }
        }
    }

    #[tracing::instrument(skip_all, fields(provider = "iclosed", op = "get_contact"))]
    async fn get_contact(&self, id: &RemoteId) -> Result<RemoteContact, AdapterError> {
        let id = mapping::contact_id(id).ok_or_else(error::impossible_id)?;
        self.client.get(id).await.map(RemoteContact::from)
    }

    /// Zero-based pages; the adapter cursor is the next page number. `count` is the total
    /// (docs/providers/iclosed.md), so the listing ends once `(page + 1) * limit` reaches it or a page is empty.
    #[tracing::instrument(skip_all, fields(provider = "iclosed", op = "list_contacts"))]
    async fn list_contacts(&self, req: ListRequest) -> Result<ListPage, AdapterError> {
        let limit = req.page_size.clamp(1, MAX_PAGE_SIZE);
        let page = match req
            .cursor
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => 0,
            Some(c) if c.bytes().all(|b| b.is_ascii_digit()) => {
                c.parse::<u64>().map_err(|_| error::bad_cursor())?
            }
            Some(_) => return Err(error::bad_cursor()),
        };
        let answer = self.client.list(page, limit).await?.data;
        let seen = page.saturating_add(1).saturating_mul(u64::from(limit));
        let more = match answer.count {
            Some(total) => seen < total,
            // Without a total, only a full page can have a successor.
            None => answer.contacts.len() >= limit as usize,
        };
        let next =
            (more && !answer.contacts.is_empty()).then(|| page.saturating_add(1).to_string());
        Ok(ListPage {
            contacts: answer
                .contacts
                .into_iter()
                .map(RemoteContact::from)
                .collect(),
            next,
        })
    }

    /// One `PUT /v1/contacts` with the id in the body and only what was sent (docs/providers/iclosed.md). Clearing
    /// is not documented, so a cleared field is a warning, not an invented value; when
    /// nothing writable remains, the contact is read instead of written.
    #[tracing::instrument(skip_all, fields(provider = "iclosed", op = "update_contact"))]
    async fn update_contact(
        &self,
        id: &RemoteId,
        input: &ContactInput,
    ) -> Result<WriteOutcome, AdapterError> {
        let id = mapping::contact_id(id).ok_or_else(error::impossible_id)?;
        let problems = declare::check_write(Operation::Update, input);
        if !problems.is_empty() {
            return Err(error::invalid_input(problems));
        }
        let (body, mut warnings) = mapping::update_body(id, input);
        let contact = RemoteContact::from(if body.is_empty() {
            self.client.get(id).await?
        } else {
            self.client.update(&body).await?
        });
        warnings.extend(mapping::kept_secondaries(input, &contact));
        Ok(WriteOutcome {
            contact,
            warnings,
            failed_steps: Vec::new(),
        })
    }
}

/// The contact as created, plus one failed step per value the follow-up could not write.
fn failed(
    mut outcome: WriteOutcome,
    pointers: &[&str],
    why: &str,
    provider_status: Option<u16>,
) -> WriteOutcome {
    outcome.failed_steps = pointers
        .iter()
        .map(|p| WriteStep {
            step: SECONDARY_STEP.to_owned(),
            pointer: Some((*p).to_owned()),
            status: "failed".to_owned(),
            error: Some(why.to_owned()),
            provider_status,
        })
        .collect();
    outcome
}
