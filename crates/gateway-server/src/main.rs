//! `crm-gateway`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gateway_server::{settings::Settings, telemetry};

#[derive(Parser)]
#[command(
    name = "crm-gateway",
    version,
    about = "Unified CRM integration gateway"
)]
struct Cli {
    /// A TOML file layered over the defaults (before CRM_GATEWAY_* variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the sandbox and the gateway on loopback with a fresh SQLite database, a demo
    /// tenant and one credential per provider; prints ready-to-paste curl lines.
    Demo {
        /// Folder for the demo database and master key.
        #[arg(long, default_value = "data/demo")]
        data_dir: PathBuf,
    },
    /// Run the gateway API.
    Serve,
    /// Run the provider simulators alone.
    Sandbox,
    /// Apply database migrations and exit.
    Migrate,
    /// Reconcile one credential now, in the foreground, with a progress bar: finds contacts
    /// deleted in the CRM. Prints the run summary as JSON; exits 1 when the run failed or was
    /// held by the mass-deletion brake.
    Reconcile {
        /// The credential's id (cred_…).
        #[arg(long)]
        credential: String,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints {"tenantId","apiKey"} as one JSON line (the key is shown once).
    Create {
        /// The tenant's name.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("crm-gateway: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(format) = cli.log_format {
        if !matches!(format.as_str(), "text" | "json") {
            eprintln!("crm-gateway: --log-format must be text or json");
            return ExitCode::from(2);
        }
        settings.log.format = format;
    }
    telemetry::init(&settings.log.format, &settings.log.level);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crm-gateway: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo { data_dir } => gateway_server::demo::run(settings, data_dir).await,
            Command::Serve => gateway_server::serve(settings).await,
            Command::Sandbox => gateway_server::sandbox(settings).await,
            Command::Migrate => gateway_server::migrate(settings).await,
            Command::Reconcile { credential } => {
                let (summary, ok) =
                    gateway_server::reconcile::run_once(settings, &credential).await?;
                println!("{summary}");
                if ok {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "the reconciliation did not succeed (see \"status\" and \"error\" above)"
                    ))
                }
            }
            Command::Tenant {
                command: TenantCommand::Create { name },
            } => {
                let line = gateway_server::tenant_create(settings, &name).await?;
                println!("{line}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "crm-gateway failed");
            eprintln!("crm-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}
