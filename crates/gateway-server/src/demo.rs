//! `crm-gateway demo`: the first-run experience. Sandbox and gateway on loopback, a fresh
//! SQLite database, a demo tenant, one verified credential per provider, and the exact curl
//! lines to make a first call.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use gateway_core::ProviderKind;
use gateway_store::Cipher;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::{bind, open_store, start_gateway, stop_signal, Settings};

/// The sandbox account of a provider (`gateway_sandbox::accounts`): secret and settings, given
/// the provider's base URL inside the sandbox. `None` for a provider the sandbox does not
/// simulate.
pub fn sandbox_credential(provider: ProviderKind, base_url: &str) -> Option<(String, Value)> {
    let account = gateway_sandbox::accounts("")
        .into_iter()
        .find(|a| a.provider == provider.as_str())?;
    let mut settings = account.settings_json();
    settings["baseUrl"] = json!(base_url);
    Some((account.secret.to_owned(), settings))
}

fn master_key(data_dir: &Path) -> anyhow::Result<SecretString> {
    let path = data_dir.join("master.key");
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    let key = Cipher::generate_master_key();
    write_private(&path, key.expose_secret())?;
    Ok(key)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the demo until Ctrl-C.
pub async fn run(mut settings: Settings, data_dir: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("could not create {}", data_dir.display()))?;
    let key = master_key(&data_dir)?;
    // A fresh database each run: the sandbox starts empty too, and API keys can only be shown
    // when they are created.
    let db = data_dir.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    settings.database_url = SecretString::from(format!("sqlite://{}?mode=rwc", db.display()));
    settings.master_key = Some(key);
    settings.allow_private_base_urls = true;
    let admin_token = random_token();
    settings.admin_token = Some(SecretString::from(admin_token.clone()));

    let sandbox_listener = bind(settings.sandbox_listen, true).await?;
    let sandbox_addr = sandbox_listener.local_addr()?;
    let sandbox = tokio::spawn(gateway_sandbox::serve(sandbox_listener, stop_signal()));

    let store = open_store(&settings, settings.cipher()?).await?;
    let listener = bind(settings.listen, true).await?;
    // The demo must start even when another process holds the metrics port.
    if let Some(addr) = settings.metrics_listen {
        if std::net::TcpListener::bind(addr).is_err() {
            settings.metrics_listen = Some(std::net::SocketAddr::new(addr.ip(), 0));
        }
    }
    let gateway = start_gateway(&settings, store.clone(), listener).await?;
    let api = format!("http://{}", gateway.addr);

    let (tenant, issued) = store.create_tenant("demo").await?;
    let api_key = issued.api_key.expose_secret().to_owned();
    let http = reqwest::Client::new();

    let mut credentials = Vec::new();
    for provider in gateway_adapters::available_providers() {
        let base = format!("http://{sandbox_addr}/{provider}");
        let Some((secret, settings_json)) = sandbox_credential(provider, &base) else {
            continue;
        };
        let resp = http
            .post(format!("{api}/credentials?verify=true"))
            .bearer_auth(&api_key)
            .json(&json!({"provider": provider, "name": format!("Demo {provider}"), "secret": secret, "settings": settings_json, "tags": {"env": "demo"}}))
            .send()
            .await
            .context("demo: creating a credential failed")?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("demo: creating the {provider} credential answered {status}: {body}");
        }
        let id = body["credential"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        credentials.push((provider, id));
    }

    // One contact through the gateway so that the first GET has something to show.
    let mut example_contact = None;
    if let Some((_, cred)) = credentials.first() {
        let resp = http
            .post(format!("{api}/crm/contacts?credentialId={cred}"))
            .bearer_auth(&api_key)
            .json(&json!({"firstName": "Jane", "lastName": "Citizen", "emailAddresses": [{"emailAddress": "jane.citizen@example.com"}], "phoneNumbers": [{"phoneNumber": "+61 400 111 222"}]}))
            .send()
            .await?;
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        example_contact = body["contact"]["id"].as_str().map(str::to_owned);
    }

    print_banner(
        &api,
        &sandbox_addr.to_string(),
        tenant.id.as_str(),
        &api_key,
        &admin_token,
        &credentials,
        example_contact.as_deref(),
        &data_dir,
    );

    stop_signal().await;
    eprintln!("\nstopping…");
    gateway.shutdown(settings.shutdown.grace).await;
    sandbox.abort();
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn print_banner(
    api: &str,
    sandbox: &str,
    tenant: &str,
    api_key: &str,
    admin_token: &str,
    credentials: &[(ProviderKind, String)],
    contact: Option<&str>,
    data_dir: &Path,
) {
    let first = credentials
        .first()
        .map(|(_, id)| id.as_str())
        .unwrap_or("CREDENTIAL_ID");
    let mut out = String::new();
    out.push_str("\n================ crm-gateway demo ================\n");
    out.push_str(&format!(
        "Gateway API:   {api}   (OpenAPI: {api}/openapi.json)\n"
    ));
    out.push_str(&format!(
        "Sandbox:       http://{sandbox}   (provider simulators)\n"
    ));
    out.push_str(&format!(
        "Database:      {}\n",
        data_dir.join("demo.db").display()
    ));
    out.push_str(&format!("Tenant:        {tenant}\n"));
    out.push_str(&format!("API key:       {api_key}\n"));
    out.push_str(&format!("Admin token:   {admin_token}\n"));
    for (provider, id) in credentials {
        out.push_str(&format!("Credential:    {id}   ({provider}, sandbox)\n"));
    }
    out.push('\n');
    out.push_str(&gateway_sandbox::describe_accounts(&format!(
        "http://{sandbox}"
    )));
    out.push_str("\nPaste these into another terminal:\n\n");
    out.push_str(&format!("export API={api} KEY={api_key} CRED={first}\n\n"));
    out.push_str("# create a contact\n");
    out.push_str("curl -s -X POST \"$API/crm/contacts?credentialId=$CRED\" -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n");
    out.push_str("  -d '{\"firstName\":\"Ada\",\"lastName\":\"Lovelace\",\"emailAddresses\":[{\"emailAddress\":\"ada@example.com\"}]}'\n\n");
    out.push_str("# list contacts\n");
    out.push_str("curl -s \"$API/crm/contacts?credentialId=$CRED&pageSize=10\" -H \"Authorization: Bearer $KEY\"\n\n");
    if let Some(contact) = contact {
        out.push_str("# read, change and delete one\n");
        out.push_str(&format!("curl -s \"$API/crm/contacts/{contact}?credentialId=$CRED\" -H \"Authorization: Bearer $KEY\"\n"));
        out.push_str(&format!(
            "curl -s -X PATCH \"$API/crm/contacts/{contact}?credentialId=$CRED\" -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' -d '{{\"firstName\":\"Janet\"}}'\n"
        ));
        out.push_str(&format!("curl -s -X DELETE \"$API/crm/contacts/{contact}?credentialId=$CRED\" -H \"Authorization: Bearer $KEY\" -i\n\n"));
    }
    out.push_str(
        "# contacts deleted in the CRM: reconcile now, watch the run, read the change feed\n",
    );
    out.push_str("curl -s -X POST \"$API/credentials/$CRED/reconciliations\" -H \"Authorization: Bearer $KEY\"\n");
    out.push_str(
        "curl -s \"$API/credentials/$CRED/reconciliations\" -H \"Authorization: Bearer $KEY\"\n",
    );
    out.push_str(
        "curl -s \"$API/events?credentialId=$CRED\" -H \"Authorization: Bearer $KEY\"\n\n",
    );
    out.push_str("# what this provider accepts, and what happens to values it cannot store\n");
    out.push_str("curl -s \"$API/crm/contacts/schema?credentialId=$CRED&operation=create\" -H \"Authorization: Bearer $KEY\"\n");
    out.push_str("curl -s -X POST \"$API/crm/contacts?credentialId=$CRED&dryRun=true\" -H \"Authorization: Bearer $KEY\" -d '{\"lastName\":\"Doe\",\"account\":\"Acme\"}'\n\n");
    out.push_str("Press Ctrl-C to stop.\n==================================================\n");
    // One write, and a closed stdout (a reader that stopped after the banner) is not worth
    // a panic: `println!` would abort the demo on EPIPE.
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}
