//! `BirdAdapter`: the common contact operations on top of [`BirdClient`] and the mapping.
//! Builds no URL and parses no JSON itself.

use async_trait::async_trait;
use gateway_core::{
    AdapterError, ContactInput, CrmAdapter, FieldError, ListPage, ListRequest, Operation,
    PlannedCall, ProviderDeclaration, ProviderKind, RemoteContact, RemoteId, WriteOutcome,
};
use gateway_transport::Transport;

use super::auth::BirdAuth;
use super::client::BirdClient;
use super::declare::{self, MAX_PAGE_SIZE};
use super::settings::BirdSettings;
use super::{error, mapping, wire};

/// One Bird workspace, bound to one access key.
#[derive(Debug)]
pub struct BirdAdapter {
    client: BirdClient,
}

impl BirdAdapter {
    pub(super) fn new(transport: Transport, settings: BirdSettings, auth: BirdAuth) -> Self {
        Self {
            client: BirdClient::new(transport, settings, auth),
        }
    }
}

fn planned(
    method: &str,
    path: String,
    body: Option<serde_json::Value>,
    note: Option<&str>,
) -> PlannedCall {
    PlannedCall {
        method: method.to_owned(),
        path,
        body,
        note: note.map(str::to_owned),
    }
}

#[async_trait]
impl CrmAdapter for BirdAdapter {
    fn provider(&self) -> ProviderKind {
        ProviderKind::Bird
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
        let id = remote_id.map_or("{contactId}", RemoteId::as_str);
        match op {
            Operation::Create => {
                let body = serde_json::to_value(wire::CreateContact::from(input)).ok();
                vec![planned("POST", self.client.relative(&[]), body, None)]
            }
            Operation::Update => {
                let mut calls = Vec::new();
                let needs_current = mapping::update_needs_current(input);
                if needs_current {
                    calls.push(planned(
                        "GET",
                        self.client.relative(&[id]),
                        None,
                        Some("reads the current contact to work out identifier changes and the display name"),
                    ));
                }
                let identifiers = self.client.relative(&[id, "identifiers"]);
                // Without the current contact every requested identifier is a candidate add.
                for (_, ident) in mapping::identifier_changes(None, input).add {
                    calls.push(planned(
                        "POST",
                        identifiers.clone(),
                        serde_json::to_value(ident).ok(),
                        Some("depends on the current contact: sent only if it does not hold this identifier yet; adds run before removals"),
                    ));
                }
                if input.email_addresses.is_some() || input.phone_numbers.is_some() {
                    calls.push(planned(
                        "DELETE",
                        identifiers,
                        None,
                        Some("one call with body {key, value} per current emailaddress/phonenumber identifier not in the request; depends on the current contact"),
                    ));
                }
                let rebuilt_name = needs_current
                    && (input.first_name.is_some() || input.last_name.is_some())
                    && !input
                        .remote_fields
                        .as_ref()
                        .is_some_and(|m| m.contains_key("displayName"));
                let note = rebuilt_name.then_some(
                    "plus a displayName attribute rebuilt from the sent name and the contact's current other name",
                );
                let body = mapping::patch_body(input, None).ok().and_then(|mut b| {
                    // Without the current contact the rebuilt name would be wrong; the note says it.
                    if rebuilt_name {
                        b.attributes.remove("displayName");
                    }
                    serde_json::to_value(b).ok()
                });
                calls.push(planned("PATCH", self.client.relative(&[id]), body, note));
                calls
            }
            Operation::Get => vec![planned("GET", self.client.relative(&[id]), None, None)],
            Operation::Delete => vec![planned("DELETE", self.client.relative(&[id]), None, None)],
            Operation::List => vec![planned(
                "GET",
                self.client.relative(&[]),
                None,
                Some("with ?limit=&pageToken="),
            )],
        }
    }

    #[tracing::instrument(skip_all, fields(provider = "bird", op = "health_check"))]
    async fn health_check(&self) -> Result<(), AdapterError> {
        self.client.list(1, None).await.map(|_| ())
    }

    #[tracing::instrument(skip_all, fields(provider = "bird", op = "create_contact"))]
    async fn create_contact(&self, input: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        let problems = declare::check_write(Operation::Create, input);
        if !problems.is_empty() {
            return Err(error::invalid_input(problems));
        }
        let created = self
            .client
            .create(&wire::CreateContact::from(input))
            .await?;
        Ok(WriteOutcome::complete(RemoteContact::from(created)))
    }

    #[tracing::instrument(skip_all, fields(provider = "bird", op = "get_contact"))]
    async fn get_contact(&self, id: &RemoteId) -> Result<RemoteContact, AdapterError> {
        self.client.get(id.as_str()).await.map(RemoteContact::from)
    }

    #[tracing::instrument(skip_all, fields(provider = "bird", op = "list_contacts"))]
    async fn list_contacts(&self, req: ListRequest) -> Result<ListPage, AdapterError> {
        let limit = req.page_size.clamp(1, MAX_PAGE_SIZE);
        let page = self
            .client
            .list(limit, req.cursor.as_deref().filter(|c| !c.is_empty()))
            .await?;
        Ok(ListPage {
            contacts: page.results.into_iter().map(RemoteContact::from).collect(),
            next: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// Identifiers change only through their own endpoints (docs/providers/bird.md), so an update is up to
    /// four kinds of call: read, add identifiers, remove identifiers, then the PATCH whose
    /// answer is the result.
    #[tracing::instrument(skip_all, fields(provider = "bird", op = "update_contact"))]
    async fn update_contact(
        &self,
        id: &RemoteId,
        input: &ContactInput,
    ) -> Result<WriteOutcome, AdapterError> {
        let problems = declare::check_write(Operation::Update, input);
        if !problems.is_empty() {
            return Err(error::invalid_input(problems));
        }
        let id = id.as_str();
        let current = if mapping::update_needs_current(input) {
            Some(self.client.get(id).await?)
        } else {
            None
        };
        // Built before any write so a display name that is too long changes nothing.
        let body = mapping::patch_body(input, current.as_ref()).map_err(error::invalid_input)?;
        let changes = mapping::identifier_changes(current.as_ref(), input);
        let mut done = 0;
        for (pointer, ident) in &changes.add {
            self.client.add_identifier(id, ident).await.map_err(|e| {
                error::step_failed(
                    e,
                    &format!("adding the {} identifier from {pointer}", ident.key),
                    Some(pointer),
                    done,
                )
            })?;
            done += 1;
        }
        for ident in &changes.remove {
            self.client
                .remove_identifier(id, ident)
                .await
                .map_err(|e| {
                    let list = if ident.key == declare::EMAIL_KEY {
                        "emailAddresses"
                    } else {
                        "phoneNumbers"
                    };
                    error::step_failed(
                        e,
                        &format!("removing a {} identifier no longer in {list}", ident.key),
                        None,
                        done,
                    )
                })?;
            done += 1;
        }
        let updated = self.client.patch(id, &body).await.map_err(|e| {
            if done == 0 {
                e
            } else {
                error::step_failed(e, "updating the contact fields", None, done)
            }
        })?;
        Ok(WriteOutcome::complete(RemoteContact::from(updated)))
    }

    #[tracing::instrument(skip_all, fields(provider = "bird", op = "delete_contact"))]
    async fn delete_contact(&self, id: &RemoteId) -> Result<(), AdapterError> {
        self.client.delete(id.as_str()).await
    }
}
