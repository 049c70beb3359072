//! `IclosedClient`: one method per iClosed REST call (docs/providers/iclosed.md), wire types in and
//! out. URLs are joined onto the credential's base URL segment by segment and ids travel as
//! integers or query values, so a remote id can never add path segments.

use gateway_core::{AdapterError, ProviderKind};
use gateway_transport::{RawResponse, Transport};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use super::auth::IclosedAuth;
use super::settings::IclosedSettings;
use super::{error, wire};

#[derive(Debug)]
pub(super) struct IclosedClient {
    transport: Transport,
    settings: IclosedSettings,
    auth: IclosedAuth,
}

impl IclosedClient {
    pub(super) fn new(transport: Transport, settings: IclosedSettings, auth: IclosedAuth) -> Self {
        Self {
            transport,
            settings,
            auth,
        }
    }

    /// `{base}/v1/contacts[/…][?query]`.
    fn url(&self, rest: &[&str], query: &[(&str, String)]) -> Result<Url, AdapterError> {
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| error::unusable_base_url())?
            .pop_if_empty()
            .extend(["v1", "contacts"])
            .extend(rest);
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// A path (and query) relative to the base URL, as `?dryRun=true` shows it.
    pub(super) fn relative(&self, rest: &[&str], query: &[(&str, String)]) -> String {
        let base = self.settings.base_url.path().trim_end_matches('/');
        match self.url(rest, query) {
            Ok(url) => {
                let path = url.path().strip_prefix(base).unwrap_or(url.path());
                match url.query() {
                    Some(q) => format!("{path}?{q}"),
                    None => path.to_owned(),
                }
            }
            Err(_) => format!("/v1/contacts/{}", rest.join("/")),
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
        self.transport.send(ProviderKind::Iclosed, req).await
    }

    /// The answer's body as `T` for any 2xx (create is 201 in the docs' status list, 200
    /// elsewhere; docs/providers/iclosed.md), else the classified error.
    fn read<T: DeserializeOwned>(&self, resp: RawResponse) -> Result<T, AdapterError> {
        if !(200..300).contains(&resp.status) {
            return Err(self.failure(&resp));
        }
        serde_json::from_slice(&resp.body).map_err(|e| error::unreadable(resp.status, e))
    }

    fn contact(&self, resp: RawResponse) -> Result<wire::Contact, AdapterError> {
        let status = resp.status;
        self.read::<wire::ContactEnvelope>(resp)?
            .into_contact()
            .map_err(|e| error::unreadable(status, e))
    }

    /// The classified error, with the key removed from the whole body before anything reads
    /// it and again from every string after, then bounded (`AdapterError::scrubbed`).
    fn failure(&self, resp: &RawResponse) -> AdapterError {
        let body = self.auth.redact(&String::from_utf8_lossy(&resp.body));
        error::classify(resp.status, &resp.headers, body.as_bytes())
            .scrubbed(|text| self.auth.redact(text))
    }

    /// `GET /v1/contacts?page=&limit=` (docs/providers/iclosed.md): `page` is zero-based.
    pub(super) async fn list(
        &self,
        page: u64,
        limit: u32,
    ) -> Result<wire::ContactPage, AdapterError> {
        let url = self.url(
            &[],
            &[("page", page.to_string()), ("limit", limit.to_string())],
        )?;
        let resp = self.send::<()>(Method::GET, url, None).await?;
        self.read(resp).map_err(error::collection_path)
    }

    /// `POST /v1/contacts` → `{"data": {"contact": …}}` (seed).
    pub(super) async fn create(
        &self,
        body: &wire::CreateContact,
    ) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send(Method::POST, self.url(&[], &[])?, Some(body))
            .await?;
        self.contact(resp)
    }

    /// `GET /v1/contacts/detail?contactId=` → `{"data": …}` (docs/providers/iclosed.md).
    pub(super) async fn get(&self, id: i64) -> Result<wire::Contact, AdapterError> {
        let url = self.url(&["detail"], &[("contactId", id.to_string())])?;
        let resp = self.send::<()>(Method::GET, url, None).await?;
        self.contact(resp)
    }

    /// `PUT /v1/contacts` with the id in the body → `{"data": …}` (docs/providers/iclosed.md).
    pub(super) async fn update(
        &self,
        body: &wire::UpdateContact,
    ) -> Result<wire::Contact, AdapterError> {
        let resp = self
            .send(Method::PUT, self.url(&[], &[])?, Some(body))
            .await?;
        self.contact(resp)
    }
}
