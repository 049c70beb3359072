//! Reconciliation in the binary: the background scheduler `serve` and `demo` run, and
//! `crm-gateway reconcile --credential ID`, one pass in the foreground with a progress bar.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::Utc;
use gateway_adapters::Registry;
use gateway_core::CredentialId;
use gateway_jobs::{Reconciler, WorkerHandle};
use gateway_store::{RunPhase, RunStatus, RunTrigger, Store};
use gateway_transport::Transport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{open_store, Settings};

/// Starts this process's reconciliation scheduler (periodic runs when `reconcile.enabled`,
/// runs asked for through the API in any case).
pub fn start_worker(
    settings: &Settings,
    store: &Store,
    registry: Registry,
    requested: Arc<tokio::sync::Notify>,
) -> WorkerHandle {
    let reconciler = Reconciler::new(
        store.clone(),
        registry,
        Arc::new(settings.reconcile.clone()),
    );
    gateway_jobs::spawn_woken(reconciler, requested)
}

/// `crm-gateway reconcile --credential ID`: claims the credential's lease (refusing while
/// another process holds it), runs one pass in the foreground, and answers the run summary
/// (JSON) and whether it succeeded.
pub async fn run_once(settings: Settings, credential: &str) -> anyhow::Result<(String, bool)> {
    let cred = CredentialId::parse(credential)
        .map_err(|_| anyhow::anyhow!("{credential:?} is not a credential id (cred_…)"))?;
    let cipher = settings.cipher()?;
    let store = open_store(&settings, cipher).await?;
    if let Err(e) = crate::check_master_keys(&settings, &store).await {
        store.close().await;
        return Err(e);
    }
    tracing::info!(database = %settings.database_description(), credential = %cred, "reconciling one credential in the foreground");
    let result = run_with_store(&settings, &store, &cred).await;
    store.close().await;
    result
}

async fn run_with_store(
    settings: &Settings,
    store: &Store,
    cred: &CredentialId,
) -> anyhow::Result<(String, bool)> {
    let Some(tenant) = store.credential_tenant(cred).await? else {
        bail!("no credential {cred} in this database");
    };
    let transport =
        Transport::new(&settings.transport_config()).context("could not set up the HTTP client")?;
    // Command-line runs are the operator's own: pacing comes from the configuration as in the
    // background (0 there means unpaced).
    let reconciler = Reconciler::new(
        store.clone(),
        Registry::with_config(transport, settings.adapters),
        Arc::new(settings.reconcile.clone()),
    );
    let owner = format!("cli:{}", gateway_jobs::owner_name());
    store.schedule_ensure(&tenant, cred).await?;
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(settings.reconcile.lease_ttl)
        .unwrap_or(chrono::Duration::seconds(60));
    if !store
        .schedule_claim(cred, &owner, now, now + ttl, false)
        .await?
    {
        bail!("credential {cred} is being reconciled by another process right now; see GET /credentials/{cred}/reconciliations");
    }

    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        // `wide_msg` is cut to the terminal's width: a message that wraps leaves a stale
        // line behind on every redraw.
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(format!("reconciling {cred}: starting"));
    // Log lines (a slow provider's warnings, retries) are printed above the bar, not into it.
    crate::telemetry::set_progress_bar(&bar);
    bar.enable_steady_tick(Duration::from_millis(200));
    let progress_bar = bar.clone();
    let progress = move |phase: RunPhase, c: &gateway_store::RunCounters| {
        let msg = match phase {
            RunPhase::Listing => format!(
                "listing: {} pages, {} contacts seen, {} discovered, {} restored",
                c.pages_fetched, c.contacts_seen, c.discovered, c.restored
            ),
            RunPhase::Confirming => format!(
                "confirming: {} candidates, {} flagged, {} lookups failed ({} pages, {} contacts seen)",
                c.candidates, c.flagged, c.confirm_errors, c.pages_fetched, c.contacts_seen
            ),
        };
        progress_bar.set_message(msg);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            crate::stop_signal().await;
            stop.store(true, Ordering::Release);
        })
    };
    let ended = reconciler
        .run_leased(
            &tenant,
            cred,
            &owner,
            RunTrigger::Cli,
            stop,
            Some(&progress),
        )
        .await;
    ctrl_c.abort();
    // The bar's last state is the outcome, left on screen above the JSON summary.
    bar.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let outcome = match &ended {
        Ok(Some(run)) => {
            let c = &run.counters;
            format!(
                "{}: {} pages, {} contacts seen, {} discovered, {} flagged, {} restored",
                run.status.as_str(),
                c.pages_fetched,
                c.contacts_seen,
                c.discovered,
                c.flagged,
                c.restored
            )
        }
        Ok(None) => "interrupted; the run stays resumable".to_owned(),
        Err(_) => "failed".to_owned(),
    };
    bar.finish_with_message(outcome);
    if !bar.is_hidden() {
        // The finished bar keeps its line; the summary on stdout starts on the next one.
        eprintln!();
    }
    crate::telemetry::clear_progress_bar();
    let Some(run) = ended? else {
        bail!("the run was interrupted before it finished; it stays resumable (the next worker that takes the credential continues it)");
    };
    let ok = run.status == RunStatus::Succeeded;
    Ok((gateway_jobs::summary(&run).to_string(), ok))
}
