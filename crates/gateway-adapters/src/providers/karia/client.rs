//! `KariaClient`: one method per Karia REST call (docs/providers/karia.md), wire types in and
//! out. URLs are joined onto the credential's base URL segment by segment, so an id can never
//! add path segments or a query. Every read accepts the body wrapped in `{"response": …}`
//! (guide) or bare (reference) (docs/providers/karia.md), and any 2xx on writes (docs/providers/karia.md: create statuses are not
//! documented).
//!
//! The calls are in two sections: **documented** (seed guide and reference pages) and
//! **inferred** (docs/providers/karia.md: list, update, delete are not documented; the paths and shapes follow
//! Karia's `resource.verb` operation ids and the simulator). Correct the second section when
//! Karia publishes those endpoints.

use gateway_core::{AdapterError, ErrorKind, ProviderKind};
use gateway_transport::{RawResponse, Transport};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::auth::KariaAuth;
use super::error::{self, Scope};
use super::settings::KariaSettings;
use super::wire;

/// The reference's auth header (docs/providers/karia.md).
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// Placeholder for a contact id that does not exist yet, in dry-run paths.
pub(super) const CONTACT_ID_PLACEHOLDER: &str = "{contactId}";

#[derive(Debug)]
pub(super) struct KariaClient {
    transport: Transport,
    settings: KariaSettings,
    auth: KariaAuth,
}

/// Takes the body out of `{"response": …}` when it is wrapped (docs/providers/karia.md). A bare contact has an
/// `id` and no `response` key, so the two forms cannot be confused.
pub(super) fn unwrap_envelope(value: Value) -> Value {
    match value {
        Value::Object(mut map)
            if !map.contains_key("id")
                && matches!(
                    map.get("response"),
                    Some(Value::Object(_) | Value::Array(_))
                ) =>
        {
            map.remove("response").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// Parses a 2xx body, wrapped or bare.
pub(super) fn parse_body<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, AdapterError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| error::unreadable(status, e))?;
    serde_json::from_value(unwrap_envelope(value)).map_err(|e| error::unreadable(status, e))
}

impl KariaClient {
    pub(super) fn new(transport: Transport, settings: KariaSettings, auth: KariaAuth) -> Self {
        Self {
            transport,
            settings,
            auth,
        }
    }

    /// The configured workspace id.
    pub(super) fn workspace_id(&self) -> &str {
        &self.settings.workspace_id
    }

    /// `{base}/organisation/{o}/…`.
    fn url(&self, rest: &[&str]) -> Result<Url, AdapterError> {
        if rest.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
            return Err(error::impossible_id());
        }
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| error::unusable_base_url())?
            .pop_if_empty()
            .extend(["organisation", self.settings.organisation_id.as_str()])
            .extend(rest);
        Ok(url)
    }

    /// `{base}/organisation/{o}/workspace/{w}/contact[/…]`.
    fn contact_url(&self, rest: &[&str]) -> Result<Url, AdapterError> {
        let mut path = vec!["workspace", self.settings.workspace_id.as_str(), "contact"];
        path.extend_from_slice(rest);
        self.url(&path)
    }

    /// A contact path relative to the base URL, as `?dryRun=true` shows it.
    pub(super) fn relative(&self, rest: &[&str]) -> String {
        let base = self.settings.base_url.path().trim_end_matches('/');
        let path = match self.contact_url(rest) {
            Ok(url) => url
                .path()
                .strip_prefix(base)
                .unwrap_or(url.path())
                .to_owned(),
            Err(_) => format!(
                "/organisation/{}/workspace/{}/contact/{}",
                self.settings.organisation_id,
                self.settings.workspace_id,
                rest.join("/")
            ),
        };
        path.replace("%7BcontactId%7D", CONTACT_ID_PLACEHOLDER)
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<RawResponse, AdapterError> {
        let (api_key, bearer) = self.auth.headers().ok_or_else(error::bad_secret)?;
        let mut req = self
            .transport
            .client()
            .request(method, url)
            .header(X_API_KEY, api_key)
            .header(AUTHORIZATION, bearer)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = body {
            req = req.json(body);
        }
        self.transport.send(ProviderKind::Karia, req).await
    }

    /// The body of a 2xx answer as `T`, else the classified error.
    fn read<T: DeserializeOwned>(
        &self,
        resp: &RawResponse,
        scope: Scope<'_>,
    ) -> Result<T, AdapterError> {
        if !(200..300).contains(&resp.status) {
            return Err(self.failure(resp, scope));
        }
        parse_body(resp.status, &resp.body)
    }

    /// Any 2xx is done; the body is not needed.
    fn done(&self, resp: &RawResponse, scope: Scope<'_>) -> Result<(), AdapterError> {
        if (200..300).contains(&resp.status) {
            Ok(())
        } else {
            Err(self.failure(resp, scope))
        }
    }

    /// The classified error, with the key removed from the whole body before anything reads
    /// it and again from every string after, then bounded (`AdapterError::scrubbed`).
    fn failure(&self, resp: &RawResponse, scope: Scope<'_>) -> AdapterError {
        let body = self.auth.redact(&String::from_utf8_lossy(&resp.body));
        error::classify_in(resp.status, &resp.headers, body.as_bytes(), scope)
            .scrubbed(|text| self.auth.redact(text))
    }

    // ----- Documented calls (docs/providers/karia.md) -----

    /// `GET /organisation/{o}/workspace` (`workspace.list`, seed).
    pub(super) async fn workspaces(&self) -> Result<wire::WorkspaceList, AdapterError> {
        let resp = self
            .send::<()>(Method::GET, self.url(&["workspace"])?, None)
            .await?;
        self.read(&resp, Scope::Read)
            .map_err(error::organisation_path)
    }

    /// `POST …/contact` (`contact.create`, seed).
    pub(super) async fn create(
        &self,
        body: &wire::CreateContact,
        emails: usize,
    ) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send(Method::POST, self.contact_url(&[])?, Some(body))
            .await?;
        self.read(&resp, Scope::Contact { emails })
    }

    /// `GET …/contact/{id}` (`contact.get`, reference); `id` may also be a `referenceId`.
    pub(super) async fn get(&self, id: &str) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send::<()>(Method::GET, self.contact_url(&[id])?, None)
            .await?;
        self.read(&resp, Scope::Read)
    }

    /// `POST …/contact/{id}/address` (`contact.address.create`, seed) for `/addresses/{index}`.
    pub(super) async fn add_address(
        &self,
        id: &str,
        body: &wire::NewAddress,
        index: usize,
    ) -> Result<(), AdapterError> {
        let resp = self
            .send(
                Method::POST,
                self.contact_url(&[id, "address"])?,
                Some(body),
            )
            .await?;
        self.done(&resp, Scope::Address(index))
    }

    /// `POST …/contact/{id}/method` (`contact.method.create`, seed) for the item at `pointer`.
    pub(super) async fn add_method(
        &self,
        id: &str,
        body: &wire::NewMethod,
        pointer: &str,
    ) -> Result<(), AdapterError> {
        let resp = self
            .send(Method::POST, self.contact_url(&[id, "method"])?, Some(body))
            .await?;
        self.done(&resp, Scope::Method(pointer))
    }

    // ----- Inferred calls (docs/providers/karia.md): NOT documented by Karia -----
    //
    // Paths follow the `resource.verb` operation ids (`contact.list`, `contact.update`,
    // `contact.delete`); shapes follow `organisation.list`/`workspace.list` and the simulator.
    // Each can be switched off per deployment: `[adapters.karia] list/update/delete = false`.

    /// `GET …/contact?limit=&offset=` → `{"contacts": […]}`, ordered by id, soft-deleted
    /// contacts left out; the end is a page shorter than `limit`. A bare array is accepted
    /// too.
    pub(super) async fn list(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<wire::Contact>, AdapterError> {
        let mut url = self.contact_url(&[])?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string());
        let resp = self.send::<()>(Method::GET, url, None).await?;
        if !(200..300).contains(&resp.status) {
            let err = self.failure(&resp, Scope::Read);
            return Err(if err.kind == ErrorKind::NotFound {
                AdapterError {
                    kind: ErrorKind::Misconfigured,
                    message: format!(
                        "the contact list answered 404: the organisation or workspace in the settings is wrong, or this Karia API lacks the (undocumented) list endpoint, which [adapters.karia] list = false switches off ({})",
                        err.message
                    ),
                    ..err
                }
            } else {
                err
            });
        }
        match parse_body::<Value>(resp.status, &resp.body)? {
            Value::Array(items) => serde_json::from_value(Value::Array(items))
                .map_err(|e| error::unreadable(resp.status, e)),
            other => serde_json::from_value::<wire::ContactList>(other)
                .map(|l| l.contacts)
                .map_err(|e| error::unreadable(resp.status, e)),
        }
    }

    /// `PATCH …/contact/{id}`: partial update of scalar fields, `null` clears; answers the
    /// contact. The answer is returned when it reads as a contact (`None` otherwise: the
    /// adapter reads the contact afterwards anyway).
    pub(super) async fn patch(
        &self,
        id: &str,
        body: &wire::PatchContact,
    ) -> Result<Option<wire::Contact>, AdapterError> {
        let resp = self
            .send(Method::PATCH, self.contact_url(&[id])?, Some(body))
            .await?;
        self.done(&resp, Scope::Contact { emails: 0 })?;
        Ok(parse_body(resp.status, &resp.body).ok())
    }

    /// `DELETE …/contact/{id}`: a soft delete (sets `deletedAt`); any 2xx is done.
    pub(super) async fn delete(&self, id: &str) -> Result<(), AdapterError> {
        let resp = self
            .send::<()>(Method::DELETE, self.contact_url(&[id])?, None)
            .await?;
        self.done(&resp, Scope::Read)
    }
}
