//! `BirdClient`: one method per Bird REST call (docs/providers/bird.md), wire types in and out.
//! URLs are joined onto the credential's base URL segment by segment, so a remote id can
//! never add path segments or a query.

use gateway_core::{AdapterError, ProviderKind};
use gateway_transport::{RawResponse, Transport};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::auth::BirdAuth;
use super::settings::BirdSettings;
use super::{error, wire};

#[derive(Debug)]
pub(super) struct BirdClient {
    transport: Transport,
    settings: BirdSettings,
    auth: BirdAuth,
}

impl BirdClient {
    pub(super) fn new(transport: Transport, settings: BirdSettings, auth: BirdAuth) -> Self {
        Self {
            transport,
            settings,
            auth,
        }
    }

    /// `{base}/workspaces/{ws}/contacts[/…]`.
    pub(super) fn contacts_url(&self, rest: &[&str]) -> Result<Url, AdapterError> {
        if rest.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
            return Err(error::impossible_id());
        }
        let mut url = self.settings.base_url.clone();
        let workspace = self.settings.workspace_id.hyphenated().to_string();
        url.path_segments_mut()
            .map_err(|()| error::unusable_base_url())?
            .pop_if_empty()
            .extend(["workspaces", workspace.as_str(), "contacts"])
            .extend(rest);
        Ok(url)
    }

    /// A path relative to the base URL, as `?dryRun=true` shows it.
    pub(super) fn relative(&self, rest: &[&str]) -> String {
        let base = self.settings.base_url.path().trim_end_matches('/');
        match self.contacts_url(rest) {
            Ok(url) => url
                .path()
                .strip_prefix(base)
                .unwrap_or(url.path())
                .to_owned(),
            Err(_) => format!(
                "/workspaces/{}/contacts/{}",
                self.settings.workspace_id,
                rest.join("/")
            ),
        }
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<RawResponse, AdapterError> {
        let auth = self.auth.header().ok_or_else(error::bad_secret)?;
        let mut req = self
            .transport
            .client()
            .request(method, url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(body) = body {
            req = req.json(body);
        }
        self.transport.send(ProviderKind::Bird, req).await
    }

    /// The answer's body as `T` when its status is one of `ok`, else the classified error.
    fn read<T: DeserializeOwned>(&self, resp: RawResponse, ok: &[u16]) -> Result<T, AdapterError> {
        if !ok.contains(&resp.status) {
            return Err(self.failure(&resp));
        }
        serde_json::from_slice(&resp.body).map_err(|e| error::unreadable(resp.status, e))
    }

    /// The classified error, with the key removed from the whole body before anything reads
    /// it and again from every string after, then bounded (`AdapterError::scrubbed`).
    fn failure(&self, resp: &RawResponse) -> AdapterError {
        let body = self.auth.redact(&String::from_utf8_lossy(&resp.body));
        error::classify(resp.status, &resp.headers, body.as_bytes())
            .scrubbed(|text| self.auth.redact(text))
    }

    /// `GET /contacts?limit=&pageToken=` (docs/providers/bird.md).
    pub(super) async fn list(
        &self,
        limit: u32,
        page_token: Option<&str>,
    ) -> Result<wire::ContactPage, AdapterError> {
        let mut url = self.contacts_url(&[])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            if let Some(token) = page_token {
                q.append_pair("pageToken", token);
            }
        }
        let resp = self.send::<()>(Method::GET, url, None).await?;
        self.read(resp, &[200]).map_err(error::workspace_path)
    }

    /// `POST /contacts`; 201 per the schema, 200 per the doc examples (docs/providers/bird.md).
    pub(super) async fn create(
        &self,
        body: &wire::CreateContact,
    ) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send(Method::POST, self.contacts_url(&[])?, Some(body))
            .await?;
        self.read(resp, &[200, 201])
    }

    /// `GET /contacts/{id}`.
    pub(super) async fn get(&self, id: &str) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send::<()>(Method::GET, self.contacts_url(&[id])?, None)
            .await?;
        self.read(resp, &[200])
    }

    /// `PATCH /contacts/{id}` (docs/providers/bird.md).
    pub(super) async fn patch(
        &self,
        id: &str,
        body: &wire::PatchContact,
    ) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send(Method::PATCH, self.contacts_url(&[id])?, Some(body))
            .await?;
        self.read(resp, &[200])
    }

    /// `DELETE /contacts/{id}`: 204, hard delete (docs/providers/bird.md).
    pub(super) async fn delete(&self, id: &str) -> Result<(), AdapterError> {
        let resp = self
            .send::<()>(Method::DELETE, self.contacts_url(&[id])?, None)
            .await?;
        match resp.status {
            200 | 204 => Ok(()),
            _ => Err(self.failure(&resp)),
        }
    }

    /// `POST /contacts/{id}/identifiers` → 201 (docs/providers/bird.md). The answer's body is not needed.
    pub(super) async fn add_identifier(
        &self,
        id: &str,
        identifier: &wire::Identifier,
    ) -> Result<(), AdapterError> {
        let resp = self
            .send(
                Method::POST,
                self.contacts_url(&[id, "identifiers"])?,
                Some(identifier),
            )
            .await?;
        match resp.status {
            200 | 201 => Ok(()),
            _ => Err(self.failure(&resp)),
        }
    }

    /// `DELETE /contacts/{id}/identifiers` with body `{key, value}` → 204 (docs/providers/bird.md). Already
    /// gone (404) is what was wanted.
    pub(super) async fn remove_identifier(
        &self,
        id: &str,
        identifier: &wire::Identifier,
    ) -> Result<(), AdapterError> {
        let resp = self
            .send(
                Method::DELETE,
                self.contacts_url(&[id, "identifiers"])?,
                Some(identifier),
            )
            .await?;
        match resp.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(self.failure(&resp)),
        }
    }
}
