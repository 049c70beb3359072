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
    /// Re-seal every stored credential secret under the current master key version (after
    /// adding a new key as CRM_GATEWAY_MASTER_KEY with a higher CRM_GATEWAY_MASTER_KEY_VERSION
    /// and the old one under CRM_GATEWAY_PREVIOUS_MASTER_KEYS__<version>). Prints a JSON summary;
    /// secrets it cannot open are skipped and listed by credential id, and the exit code is 1.
    /// Safe to run again: a second run re-seals nothing.
    RotateMasterKey,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints {"tenantId","keyId","apiKey"} as one JSON line (the key is shown
    /// once) and, on stderr, which database it was written to.
    Create {
        /// The tenant's name.
        name: String,
    },
}

/// An error's message with each cause once: database errors repeat their cause in their own
/// text, so `{:#}` would print the same sentence two or three times.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints a fatal error once: as one JSON log line under `--log-format json` (log shippers
/// read stderr as JSON), as one plain line otherwise.
fn fatal(json: bool, message: &str) {
    use std::io::Write;
    let line = if json {
        serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "fields": {"message": "crm-gateway failed", "error": message},
            "target": "crm_gateway",
        })
        .to_string()
    } else {
        format!("crm-gateway: {message}")
    };
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The format asked for on the command line governs even errors that come before the
    // configuration is read.
    let cli_json = cli.log_format.as_deref() == Some("json");
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            fatal(cli_json, &describe(&e));
            return ExitCode::from(2);
        }
    };
    if let Some(format) = cli.log_format {
        if !matches!(format.as_str(), "text" | "json") {
            fatal(false, "--log-format must be text or json");
            return ExitCode::from(2);
        }
        settings.log.format = format;
    }
    let json = settings.log.format == "json";
    telemetry::init(&settings.log.format, &settings.log.level);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            fatal(json, &format!("could not start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo { data_dir } => gateway_server::demo::run(settings, data_dir).await,
            Command::Serve => gateway_server::serve(settings).await,
            Command::Sandbox => gateway_server::sandbox(settings).await,
            Command::Migrate => gateway_server::migrate(settings).await,
            Command::RotateMasterKey => {
                let (summary, ok) = gateway_server::rotate_master_key(settings).await?;
                println!("{summary}");
                if ok {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "some secrets could not be opened and stay sealed under their old key version (see \"skippedCredentials\" above)"
                    ))
                }
            }
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
            fatal(json, &describe(&e));
            ExitCode::FAILURE
        }
    }
}
