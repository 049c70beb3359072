//! The crm-gateway process: wiring settings, store, adapters and the API together, and the
//! commands the binary offers. Tests start the same pieces in-process.

pub mod demo;
pub mod http;
pub mod metrics;
pub mod reconcile;
pub mod settings;
pub mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use gateway_adapters::Registry;
use gateway_api::AppState;
use gateway_store::{Cipher, Store};
use gateway_transport::Transport;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use settings::Settings;

/// Opens the database and applies migrations.
pub async fn open_store(settings: &Settings, cipher: Cipher) -> anyhow::Result<Store> {
    let store = Store::connect(settings.database_url.expose_secret(), cipher)
        .await
        .with_context(|| {
            format!(
                "could not open the database {}",
                settings.database_url_redacted()
            )
        })?;
    store.migrate().await.context("database migration failed")?;
    Ok(store)
}

/// Refuses a key ring that does not fit the database (a wrong or missing key for a version the
/// database holds secrets under), naming the version and the variable to fix; then records
/// the current version's canary so a later start with another key is caught even before the
/// first credential exists. `serve` and `reconcile` call it before doing anything else, so a
/// wrong key is an error at start, not a 500 on the first request that needs a secret.
pub async fn check_master_keys(settings: &Settings, store: &Store) -> anyhow::Result<()> {
    let problems = store
        .check_master_keys()
        .await
        .context("could not check the master keys against the database")?;
    if let Some(first) = problems.first() {
        let all: Vec<String> = problems
            .iter()
            .map(|p| format!("{p}; check {}", settings.master_key_var(p.version())))
            .collect();
        anyhow::bail!(
            "refusing to start: master key version {} does not fit this database: {}",
            first.version(),
            all.join("; ")
        );
    }
    store
        .seal_key_canary()
        .await
        .context("could not record the master key canary")?;
    Ok(())
}

/// A gateway serving on a bound listener until told to stop.
pub struct RunningGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The store it uses (tests inspect it).
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    jobs: Option<gateway_jobs::WorkerHandle>,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    metrics: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// This process's heartbeat (it keeps its idempotency claims), and its id.
    heartbeat: JoinHandle<()>,
    instance: String,
}

impl RunningGateway {
    /// Stops accepting, lets in-flight requests finish for up to `grace`, then returns.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(jobs) = self.jobs.take() {
            jobs.shutdown(grace).await;
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(
                    "requests still running after the shutdown grace period; stopping them"
                );
                self.task.abort();
            }
        }
        if let Some((stop, task)) = self.metrics.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(grace, task).await;
        }
        // Every claim of this process is finished or abandoned now: let other processes take
        // the abandoned ones over at once rather than after the heartbeat times out.
        self.heartbeat.abort();
        if let Err(e) = self.store.instance_forget(&self.instance).await {
            tracing::warn!(error = %e, "could not remove the instance heartbeat");
        }
        self.store.close().await;
    }
}

/// Builds the API on `store` and serves it on `listener`.
pub async fn start_gateway(
    settings: &Settings,
    store: Store,
    listener: TcpListener,
) -> anyhow::Result<RunningGateway> {
    // Before anything records a metric: what is recorded without a recorder is lost.
    metrics::handle();
    let metrics = match settings.metrics_listen {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr).await.with_context(|| {
                format!("could not listen for metrics on {addr} (CRM_GATEWAY_METRICS_LISTEN; empty turns it off)")
            })?;
            let bound = listener.local_addr()?;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(metrics::serve(listener, store.clone(), async move {
                let _ = stopped.await;
            }));
            Some((bound, stop, task))
        }
    };
    let transport =
        Transport::new(&settings.transport_config()).context("could not set up the HTTP client")?;
    let state = AppState::new(
        store.clone(),
        Registry::with_settings(transport, settings.adapters, settings.resilience.clone()),
        settings.api.clone(),
        settings.allow_private_base_urls,
        settings.admin_token.clone(),
    );
    let jobs = reconcile::start_worker(
        settings,
        &store,
        state.registry().clone(),
        state.runs_requested().clone(),
    );
    let heartbeat = gateway_api::idempotency::heartbeat(&state);
    let instance = state.instance_id().to_owned();
    let app = gateway_api::router(state);
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = settings.api.connections.clone();
    let task = tokio::spawn(async move {
        http::serve(listener, app, &limits, async move {
            let _ = stopped.await;
        })
        .await;
        Ok(())
    });
    Ok(RunningGateway {
        addr,
        store,
        stop: Some(stop),
        task,
        jobs: Some(jobs),
        metrics_addr: metrics.as_ref().map(|m| m.0),
        metrics: metrics.map(|(_, stop, task)| (stop, task)),
        heartbeat,
        instance,
    })
}

/// Binds `addr`; with `fallback`, an address in use falls back to a free port on the same
/// host (the demo must start even when 8080 is taken).
pub async fn bind(addr: SocketAddr, fallback: bool) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
            let any = SocketAddr::new(addr.ip(), 0);
            TcpListener::bind(any)
                .await
                .with_context(|| format!("could not bind {any}"))
        }
        Err(e) => Err(e).with_context(|| format!("could not listen on {addr}")),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `crm-gateway serve`.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let cipher = settings.cipher()?;
    let store = open_store(&settings, cipher).await?;
    check_master_keys(&settings, &store).await?;
    let listener = bind(settings.listen, false).await?;
    let gateway = start_gateway(&settings, store, listener).await?;
    tracing::info!(listen = %gateway.addr, database = %settings.database_description(), admin_api = settings.admin_token.is_some(), "crm-gateway serving");
    stop_signal().await;
    tracing::info!("stop signal received; draining");
    gateway.shutdown(settings.shutdown.grace).await;
    tracing::info!("stopped");
    Ok(())
}

/// `crm-gateway sandbox`.
pub async fn sandbox(settings: Settings) -> anyhow::Result<()> {
    let listener = bind(settings.sandbox_listen, false).await?;
    let addr = listener.local_addr()?;
    tracing::info!(listen = %addr, "provider sandbox serving: http://{addr}/bird, /karia and /iclosed");
    // The accounts on stdout, where a new user looks: a credential pointed at the sandbox
    // needs exactly these secrets and settings.
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "crm-gateway sandbox on http://{addr}\n\n{}",
            gateway_sandbox::describe_accounts(&format!("http://{addr}"))
        );
        let _ = stdout.flush();
    }
    gateway_sandbox::serve(listener, stop_signal())
        .await
        .context("sandbox failed")?;
    Ok(())
}

/// A cipher for commands that never touch secrets (migrate, tenant create): `Store` always
/// carries one, and a random key cannot decrypt anything by accident.
fn throwaway_cipher() -> anyhow::Result<Cipher> {
    Cipher::from_base64(&Cipher::generate_master_key()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `crm-gateway migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings, throwaway_cipher()?).await?;
    tracing::info!(database = %settings.database_description(), "migrations applied");
    store.close().await;
    Ok(())
}

/// `crm-gateway tenant create NAME`: one JSON line on stdout, the key shown once.
pub async fn tenant_create(settings: Settings, name: &str) -> anyhow::Result<String> {
    if name.trim().is_empty() {
        anyhow::bail!("tenant name must not be empty");
    }
    let store = open_store(&settings, throwaway_cipher()?).await?;
    let (tenant, key) = store.create_tenant(name.trim()).await?;
    store.close().await;
    // On stderr, so stdout stays one JSON line: a key made in the wrong database (the default
    // file in the current folder, not the server's) is a key the server has never seen.
    if settings.database_url.expose_secret() == settings::DEFAULT_DATABASE_URL {
        tracing::warn!(tenant = %tenant.id, key = %key.key_id, database = %settings.database_description(), "tenant created in the built-in default database");
    } else {
        tracing::info!(tenant = %tenant.id, key = %key.key_id, database = %settings.database_description(), "tenant created");
    }
    // A struct keeps the contract's field order (tenantId first); json! would sort the keys.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Created<'a> {
        tenant_id: String,
        key_id: String,
        api_key: &'a str,
    }
    Ok(serde_json::to_string(&Created {
        tenant_id: tenant.id.to_string(),
        key_id: key.key_id.to_string(),
        api_key: key.api_key.expose_secret(),
    })?)
}

/// `crm-gateway rotate-master-key`: re-seals every stored secret under the current master
/// key version. Refuses when the current key does not fit the database (re-sealing under a
/// wrong key would make every secret unreadable with the right one); skips and reports secrets
/// of older versions it cannot open. Answers the JSON summary and whether nothing was skipped.
pub async fn rotate_master_key(settings: Settings) -> anyhow::Result<(String, bool)> {
    let cipher = settings.cipher()?;
    let current = cipher.current_version();
    let store = open_store(&settings, cipher).await?;
    let result = rotate_with_store(&settings, &store, current).await;
    store.close().await;
    result
}

async fn rotate_with_store(
    settings: &Settings,
    store: &Store,
    current: u32,
) -> anyhow::Result<(String, bool)> {
    let problems = store.check_master_keys().await?;
    if let Some(p) = problems.iter().find(|p| p.version() == current) {
        anyhow::bail!(
            "refusing to re-seal: {p}; check {}. Nothing was changed",
            settings.master_key_var(current)
        );
    }
    store
        .seal_key_canary()
        .await
        .context("could not record the master key canary")?;
    let report = store.reseal_stale_secrets(200).await?;
    let remaining = store.secrets_by_key_version().await?;
    tracing::info!(
        database = %settings.database_description(),
        resealed = report.resealed,
        skipped = report.skipped.len(),
        "master key rotation pass finished"
    );
    let ok = report.skipped.is_empty();
    let summary = serde_json::json!({
        "currentKeyVersion": report.current_version,
        "resealed": report.resealed,
        "skipped": report.skipped.len(),
        "skippedCredentials": report.skipped,
        "secretsByKeyVersion": remaining
            .iter()
            .map(|(v, n)| serde_json::json!({"keyVersion": v, "secrets": n}))
            .collect::<Vec<_>>(),
    });
    Ok((summary.to_string(), ok))
}
