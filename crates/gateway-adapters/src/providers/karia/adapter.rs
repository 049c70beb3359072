//! `KariaAdapter`: the common contact operations on top of [`KariaClient`] and the mapping.
//! Builds no URL and parses no JSON itself.
//!
//! Writes are multi-step (docs/mapping.md): the contact (with its contact methods) first,
//! then one call per address (and, on update, per missing method). Once the contact exists,
//! a failed step no longer fails the write: it is listed in `WriteOutcome::failed_steps`, the
//! remaining steps still run, and the contact is read back so the caller always holds its
//! remote id. Sending the same values again with an update finishes the job without creating
//! anything twice.

use async_trait::async_trait;
use gateway_core::{
    AdapterError, ContactInput, CrmAdapter, FieldError, ListPage, ListRequest, Operation,
    PlannedCall, ProviderDeclaration, ProviderKind, RemoteContact, RemoteId, WriteOutcome,
    WriteStep,
};
use gateway_transport::Transport;

use super::auth::KariaAuth;
use super::client::{KariaClient, CONTACT_ID_PLACEHOLDER};
use super::declare::{self, MAX_PAGE_SIZE};
use super::settings::{KariaConfig, KariaSettings};
use super::{error, mapping, wire};

/// Largest list offset the adapter sends: `i64::MAX`, what a server's signed offset holds.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// Step names in `failed_steps`, after Karia's operation ids (docs/providers/karia.md).
const ADDRESS_STEP: &str = "contact.address.create";
const METHOD_STEP: &str = "contact.method.create";

/// One Karia organisation workspace, bound to one API key.
pub struct KariaAdapter {
    client: KariaClient,
    config: KariaConfig,
    declaration: ProviderDeclaration,
}

impl std::fmt::Debug for KariaAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KariaAdapter")
            .field("client", &self.client)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KariaAdapter {
    pub(super) fn new(
        transport: Transport,
        settings: KariaSettings,
        auth: KariaAuth,
        config: KariaConfig,
    ) -> Self {
        Self {
            client: KariaClient::new(transport, settings, auth),
            config,
            declaration: declare::configured(&config),
        }
    }

    /// The deployment switches this adapter was built with.
    pub fn config(&self) -> KariaConfig {
        self.config
    }

    /// Reads the contact back after a multi-step write; `fallback` when that read fails (the
    /// write itself happened, so the answer must still carry the remote id).
    async fn read_back(
        &self,
        id: &str,
        fallback: Option<wire::Contact>,
    ) -> Result<RemoteContact, AdapterError> {
        match self.client.get(id).await {
            Ok(c) => Ok(RemoteContact::from(c)),
            Err(e) => match fallback {
                Some(c) => {
                    tracing::warn!(kind = %e.kind, "reading the contact back after a write failed; answering with the write's own result");
                    Ok(RemoteContact::from(c))
                }
                None => Err(e),
            },
        }
    }

    /// Runs the address steps (and method steps) after the contact exists; failures are
    /// collected, never returned.
    async fn add_parts(
        &self,
        id: &str,
        methods: &[(String, wire::NewMethod)],
        addresses: &[(usize, wire::NewAddress)],
    ) -> Vec<WriteStep> {
        let mut failed = Vec::new();
        for (pointer, body) in methods {
            if let Err(e) = self.client.add_method(id, body, pointer).await {
                failed.push(failed_step(METHOD_STEP, pointer.clone(), &e));
            }
        }
        for (i, body) in addresses {
            if let Err(e) = self.client.add_address(id, body, *i).await {
                failed.push(failed_step(ADDRESS_STEP, format!("/addresses/{i}"), &e));
            }
        }
        failed
    }
}

fn failed_step(step: &str, pointer: String, e: &AdapterError) -> WriteStep {
    tracing::warn!(step, pointer, kind = %e.kind, status = ?e.provider_status, "a step of a Karia write failed");
    WriteStep {
        step: step.to_owned(),
        pointer: Some(pointer),
        status: "failed".to_owned(),
        error: Some(e.message.clone()),
        provider_status: e.provider_status,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
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
impl CrmAdapter for KariaAdapter {
    fn provider(&self) -> ProviderKind {
        ProviderKind::Karia
    }

    fn declaration(&self) -> &ProviderDeclaration {
        &self.declaration
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
        if !self.declaration.supports(op) {
            return Vec::new();
        }
        let id = remote_id.map_or(CONTACT_ID_PLACEHOLDER, RemoteId::as_str);
        match op {
            Operation::Create => {
                let mut calls = vec![planned(
                    "POST",
                    self.client.relative(&[]),
                    to_json(&wire::CreateContact::from(input)),
                    None,
                )];
                let path = self.client.relative(&[CONTACT_ID_PLACEHOLDER, "address"]);
                for address in input.addresses.iter().flatten() {
                    calls.push(planned(
                        "POST",
                        path.clone(),
                        to_json(&mapping::address_body(address)),
                        Some("after the contact is created, with its id; a failure here is reported in failedSteps and the contact is kept"),
                    ));
                }
                if input.addresses.as_ref().is_some_and(|a| !a.is_empty()) {
                    calls.push(planned(
                        "GET",
                        self.client.relative(&[CONTACT_ID_PLACEHOLDER]),
                        None,
                        Some("reads the contact back with its addresses"),
                    ));
                }
                calls
            }
            Operation::Update => {
                let mut calls = Vec::new();
                let needs_current = mapping::update_needs_current(input);
                if needs_current {
                    calls.push(planned(
                        "GET",
                        self.client.relative(&[id]),
                        None,
                        Some("reads the current contact to find the emails, phones and addresses it lacks"),
                    ));
                }
                let patch = mapping::patch_body(input);
                if !patch.fields.is_empty() {
                    calls.push(planned(
                        "PATCH",
                        self.client.relative(&[id]),
                        to_json(&patch),
                        Some("inferred endpoint: Karia does not document contact updates"),
                    ));
                }
                // Without the current contact every requested value is a candidate.
                let adds = mapping::additions(None, input);
                let note = "sent only if the current contact does not hold this value yet";
                for (_, body) in &adds.methods {
                    calls.push(planned(
                        "POST",
                        self.client.relative(&[id, "method"]),
                        to_json(body),
                        Some(note),
                    ));
                }
                for (_, body) in &adds.addresses {
                    calls.push(planned(
                        "POST",
                        self.client.relative(&[id, "address"]),
                        to_json(body),
                        Some(note),
                    ));
                }
                calls.push(planned(
                    "GET",
                    self.client.relative(&[id]),
                    None,
                    Some("reads the result"),
                ));
                calls
            }
            Operation::Get => vec![planned("GET", self.client.relative(&[id]), None, None)],
            Operation::Delete => vec![planned(
                "DELETE",
                self.client.relative(&[id]),
                None,
                Some("inferred endpoint (soft delete): Karia does not document contact deletion"),
            )],
            Operation::List => vec![planned(
                "GET",
                self.client.relative(&[]),
                None,
                Some("with ?limit=&offset=; inferred endpoint: Karia does not document contact listing"),
            )],
        }
    }

    /// `GET /organisation/{o}/workspace` must list the configured workspace (docs/providers/karia.md). 401 →
    /// the key is refused; 403 → the settings point where the key has no access (docs/providers/karia.md).
    #[tracing::instrument(skip_all, fields(provider = "karia", op = "health_check"))]
    async fn health_check(&self) -> Result<(), AdapterError> {
        let list = self.client.workspaces().await?;
        let wanted = self.client.workspace_id();
        if list.workspaces.iter().any(|w| w.id.text() == wanted) {
            Ok(())
        } else {
            Err(error::workspace_not_listed())
        }
    }

    /// The contact with its methods, then one call per address (docs/providers/karia.md).
    #[tracing::instrument(skip_all, fields(provider = "karia", op = "create_contact"))]
    async fn create_contact(&self, input: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        let problems = declare::check_write(Operation::Create, input);
        if !problems.is_empty() {
            return Err(error::invalid_input(problems));
        }
        let created = self
            .client
            .create(
                &wire::CreateContact::from(input),
                mapping::email_count(input),
            )
            .await?;
        let id = created.id.text();
        let addresses: Vec<(usize, wire::NewAddress)> = input
            .addresses
            .iter()
            .flatten()
            .map(mapping::address_body)
            .enumerate()
            .collect();
        let warnings = mapping::street_warnings(input.addresses.as_deref().unwrap_or_default());
        if addresses.is_empty() {
            return Ok(WriteOutcome {
                contact: RemoteContact::from(created),
                warnings,
                failed_steps: Vec::new(),
            });
        }
        let failed_steps = self.add_parts(&id, &[], &addresses).await;
        let contact = self.read_back(&id, Some(created)).await?;
        Ok(WriteOutcome {
            contact,
            warnings,
            failed_steps,
        })
    }

    #[tracing::instrument(skip_all, fields(provider = "karia", op = "get_contact"))]
    async fn get_contact(&self, id: &RemoteId) -> Result<RemoteContact, AdapterError> {
        self.client.get(id.as_str()).await.map(RemoteContact::from)
    }

    /// Inferred (docs/providers/karia.md): offset paging; the adapter cursor is the offset in decimal, at most
    /// [`MAX_OFFSET`].
    #[tracing::instrument(skip_all, fields(provider = "karia", op = "list_contacts"))]
    async fn list_contacts(&self, req: ListRequest) -> Result<ListPage, AdapterError> {
        if !self.config.list {
            return Err(error::switched_off("listing contacts", "list"));
        }
        let limit = req.page_size.clamp(1, MAX_PAGE_SIZE);
        let offset = match req.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            // Cursors come back from clients and can be forged: an offset past any real
            // listing (or past what servers parse, i64) is refused, never sent or added to.
            Some(c) if c.bytes().all(|b| b.is_ascii_digit()) => c
                .parse::<u64>()
                .ok()
                .filter(|o| *o <= MAX_OFFSET)
                .ok_or_else(error::bad_cursor)?,
            Some(_) => return Err(error::bad_cursor()),
        };
        let mut contacts = self.client.list(limit, offset).await?;
        // More than asked would overflow the caller's page; with offsets, the rest simply
        // comes again on the next page, so trimming loses nothing.
        contacts.truncate(limit as usize);
        let returned = contacts.len() as u64;
        let next = match returned >= u64::from(limit) {
            true => Some(
                offset
                    .checked_add(returned)
                    .ok_or_else(error::bad_cursor)?
                    .to_string(),
            ),
            false => None,
        };
        Ok(ListPage {
            contacts: contacts.into_iter().map(RemoteContact::from).collect(),
            next,
        })
    }

    /// Inferred (docs/providers/karia.md): read the contact when lists are sent, PATCH the scalars, add the
    /// methods and addresses it lacks, read the result.
    #[tracing::instrument(skip_all, fields(provider = "karia", op = "update_contact"))]
    async fn update_contact(
        &self,
        id: &RemoteId,
        input: &ContactInput,
    ) -> Result<WriteOutcome, AdapterError> {
        if !self.config.update {
            return Err(error::switched_off("updating contacts", "update"));
        }
        let problems = declare::check_write(Operation::Update, input);
        if !problems.is_empty() {
            return Err(error::invalid_input(problems));
        }
        let id = id.as_str();
        // Read first: a missing contact fails the update before anything changed.
        let current = if mapping::update_needs_current(input) {
            Some(self.client.get(id).await?)
        } else {
            None
        };
        let patch = mapping::patch_body(input);
        let patched = if patch.fields.is_empty() {
            None
        } else {
            self.client.patch(id, &patch).await?
        };
        let wrote = !patch.fields.is_empty();
        let adds = mapping::additions(current.clone().map(RemoteContact::from).as_ref(), input);
        let failed_steps = self.add_parts(id, &adds.methods, &adds.addresses).await;
        let wrote = wrote || !adds.methods.is_empty() || !adds.addresses.is_empty();
        // The result is read back; when that read fails after something was written, the
        // freshest contact already known answers (the PATCH's own answer, else the read
        // before it) rather than an error that would hide the writes.
        let fallback = if wrote { patched.or(current) } else { None };
        let contact = self.read_back(id, fallback).await?;
        let mut warnings = adds.warnings;
        warnings.extend(mapping::street_warnings(
            input.addresses.as_deref().unwrap_or_default(),
        ));
        Ok(WriteOutcome {
            contact,
            warnings,
            failed_steps,
        })
    }

    /// Inferred (docs/providers/karia.md): a soft delete; `get` then shows `remote_deleted_at`.
    #[tracing::instrument(skip_all, fields(provider = "karia", op = "delete_contact"))]
    async fn delete_contact(&self, id: &RemoteId) -> Result<(), AdapterError> {
        if !self.config.delete {
            return Err(error::switched_off("deleting contacts", "delete"));
        }
        self.client.delete(id.as_str()).await
    }
}
