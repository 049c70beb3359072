//! The crm-gateway process: wiring settings, store, adapters and the API together, and the
//! commands the binary offers. Tests start the same pieces in-process.

pub mod demo;
pub mod http;
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
                "could not open the database at {}",
                settings.database_url_redacted()
            )
        })?;
    store.migrate().await.context("database migration failed")?;
    Ok(store)
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
        self.store.close().await;
    }
}

/// Builds the API on `store` and serves it on `listener`.
pub async fn start_gateway(
    settings: &Settings,
    store: Store,
    listener: TcpListener,
) -> anyhow::Result<RunningGateway> {
    let transport =
        Transport::new(&settings.transport_config()).context("could not set up the HTTP client")?;
    let state = AppState::new(
        store.clone(),
        Registry::with_settings(transport, settings.adapters, settings.resilience.clone()),
        settings.api.clone(),
        settings.allow_private_base_urls,
        settings.admin_token.clone(),
    );
    let jobs = reconcile::start_worker(settings, &store, state.registry().clone());
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
    let listener = bind(settings.listen, false).await?;
    let gateway = start_gateway(&settings, store, listener).await?;
    tracing::info!(listen = %gateway.addr, database = %settings.database_url_redacted(), admin_api = settings.admin_token.is_some(), "crm-gateway serving");
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
    tracing::info!(listen = %addr, "provider sandbox serving: http://{addr}/bird");
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
    tracing::info!(database = %settings.database_url_redacted(), "migrations applied");
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
    // A struct keeps the contract's field order (tenantId first); json! would sort the keys.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Created<'a> {
        tenant_id: String,
        api_key: &'a str,
    }
    Ok(serde_json::to_string(&Created {
        tenant_id: tenant.id.to_string(),
        api_key: key.api_key.expose_secret(),
    })?)
}
