//! `dmp-server`: parses arguments, loads the configuration, and runs one
//! subcommand of the companion server's admin CLI.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dmp_protocol::UserType;
use dmp_server::clock::SystemClock;
use dmp_server::{admin, demo, Config};
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// mimalloc instead of glibc's malloc: per-thread free lists suit the
/// server's many small, short-lived buffers (docs/performance.md, "Allocator").
/// The `system-allocator` feature keeps the C library's, for heap profilers
/// that hook `malloc` (heaptrack).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// DMP secure messaging companion server and its admin commands.
///
/// Configuration: built-in defaults, then --config FILE (TOML), then DMP_*
/// environment variables (DMP_BIND, DMP_DATA_DIR, DMP_RATE_LIMIT__SEND_PER_SECOND…),
/// then command-line flags.
#[derive(Parser, Debug)]
#[command(name = "dmp-server", version)]
struct Cli {
    /// Data directory (database, signing key, attachments).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: REST + WebSocket over HTTPS on --bind; prints `listening on https://ADDR`
    /// (`http://ADDR` with DMP_INSECURE_HTTP=true, loopback only).
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Add or update users and contexts from a JSON file; an inconsistent file writes nothing.
    Import {
        /// {"users":[{id,type,name,username,password}],"contexts":[{type,id,title,date,patientId,doctorId,summary}]}
        file: PathBuf,
    },
    /// Load the built-in demo dataset (French patients, doctors, ordonnances, examens), create a
    /// local CA and server certificate unless present, and print the credentials and the CA file.
    Demo,
    /// TLS certificates.
    Tls {
        #[command(subcommand)]
        action: TlsAction,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Show the audit trail, or verify its hash chain with --verify.
    Audit {
        /// Only rows at or after this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only rows of this actor (user id).
        #[arg(long)]
        user: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Verify the hash chain and its keyed checkpoints instead of printing; exits 1 when broken.
        #[arg(long)]
        verify: bool,
        /// Most rows to print.
        #[arg(long, default_value_t = 10_000)]
        limit: u32,
    },
    /// Write a consistent copy of the database while the server runs.
    Backup {
        /// New file to write.
        file: PathBuf,
    },
    /// Replace the database with a backup (stop the server first; the old database is kept beside it).
    Restore {
        /// Backup file made by `backup`.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TlsAction {
    /// Create a local CA and a server certificate signed by it (valid for localhost, 127.0.0.1,
    /// ::1 and each --hostname) at tls.cert_file / tls.key_file; prints the CA file clients pin.
    Init {
        /// Another name or IP address the server is reached by (repeatable).
        #[arg(long = "hostname", value_name = "NAME")]
        hostnames: Vec<String>,
        /// Replace an existing certificate and key.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create an account; the password is read from standard input.
    Add {
        /// patient_…, medecin_… or admin_….
        #[arg(long)]
        id: String,
        /// patient, medecin or admin.
        #[arg(long = "type")]
        kind: UserType,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// Disable an account (ends its sessions at once), or re-enable it with --enable.
    Disable {
        /// User id.
        id: String,
        /// Re-enable instead.
        #[arg(long)]
        enable: bool,
    },
    /// Set a new password read from standard input; ends every session of the user.
    Passwd {
        /// User id.
        id: String,
    },
    /// Set the address a doctor's urgent-message e-mail goes to (`[mail]`
    /// in the configuration), or remove it with --clear.
    Email {
        /// User id (medecin_…).
        id: String,
        /// The address.
        #[arg(required_unless_present = "clear")]
        address: Option<String>,
        /// Remove the address: no more e-mail for this user.
        #[arg(long, conflicts_with = "address")]
        clear: bool,
    },
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (min. 10 characters): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn parse_since(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .context("--since must be RFC 3339 or YYYY-MM-DD")?;
    Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

fn init_logs() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("DMP_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// After a directory change: the cluster's nodes apply it at once.
async fn wake_nodes(config: &Config) {
    if let Err(e) = dmp_server::cluster::wake_nodes(config).await {
        eprintln!("warning: {e}");
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let env = std::env::vars().filter(|(k, _)| k.starts_with("DMP_") && k != "DMP_LOG_FORMAT");
    let mut config = Config::load(cli.config.as_deref(), env)?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    let ok = std::process::ExitCode::SUCCESS;
    // Accounts made here with a clear password are zero-knowledge from creation.
    let kdf = config.login.new_account_kdf();
    match cli.command {
        Command::Serve { bind } => {
            if let Some(b) = bind {
                config.bind = b;
            }
            let server = dmp_server::start(config, Arc::new(SystemClock)).await?;
            println!("listening on {}", server.url());
            if let Some(m) = server.metrics_addr {
                tracing::info!("metrics on http://{m}/metrics");
            }
            let _ = std::io::stdout().flush();
            shutdown_signal().await;
            tracing::info!("shutting down");
            server.shutdown().await;
        }
        Command::Import { file } => {
            let store = dmp_server::app::open_store(&config)?;
            let summary = admin::import(&store, admin::read_import_file(&file)?, kdf).await?;
            wake_nodes(&config).await;
            println!(
                "imported {} users and {} contexts",
                summary.users, summary.contexts
            );
        }
        Command::Demo => {
            let store = dmp_server::app::open_store(&config)?;
            let data = demo::dataset();
            let logins: Vec<(String, String, String)> = data
                .users
                .iter()
                .map(|u| (u.kind.clone(), u.name.clone(), u.username.clone()))
                .collect();
            let summary = admin::import_with(&store, data, false, kdf).await?;
            wake_nodes(&config).await;
            println!(
                "demo data loaded in {}: {} users, {} contexts",
                config.data_dir.display(),
                summary.users,
                summary.contexts
            );
            println!("demo credentials (username / password):");
            for (kind, name, username) in logins {
                let pw = match kind.as_str() {
                    "patient" => demo::PATIENT_PASSWORD,
                    "medecin" => demo::DOCTOR_PASSWORD,
                    _ => demo::ADMIN_PASSWORD,
                };
                println!("  {kind:<8} {name:<22} {username:<15} {pw}");
            }
            let ca = dmp_server::tls::ensure_local_ca(&config, &[], chrono::Utc::now(), false)?;
            if ca.ca_file.exists() {
                println!(
                    "TLS: clients trust the local CA {} (dmp --ca-file, DMP_CA_FILE)",
                    ca.ca_file.display()
                );
            }
        }
        Command::Tls {
            action: TlsAction::Init { hostnames, force },
        } => {
            let cert = config.tls_cert_path();
            if !force && (cert.exists() || config.tls_key_path().exists()) {
                anyhow::bail!(
                    "{} already exists; pass --force to replace it",
                    cert.display()
                );
            }
            let ca =
                dmp_server::tls::ensure_local_ca(&config, &hostnames, chrono::Utc::now(), true)?;
            println!(
                "certificate written to {} (key {}); clients trust the local CA {}",
                cert.display(),
                config.tls_key_path().display(),
                ca.ca_file.display()
            );
        }
        Command::User { action } => {
            let store = dmp_server::app::open_store(&config)?;
            match action {
                UserAction::Add {
                    id,
                    kind,
                    name,
                    username,
                } => {
                    let pw = read_password()?;
                    admin::user_add(&store, &id, kind, &name, &username, &pw, kdf).await?;
                    wake_nodes(&config).await;
                    println!("user {id} added");
                }
                UserAction::Email { id, address, clear } => {
                    admin::user_email(&store, &id, if clear { None } else { address }).await?;
                    println!(
                        "user {id}: e-mail address {}",
                        if clear { "removed" } else { "set" }
                    );
                }
                UserAction::Disable { id, enable } => {
                    admin::user_disable(&store, &id, !enable).await?;
                    wake_nodes(&config).await;
                    println!(
                        "user {id} {}",
                        if enable {
                            "enabled"
                        } else {
                            "disabled; its sessions are revoked"
                        }
                    );
                }
                UserAction::Passwd { id } => {
                    let pw = read_password()?;
                    admin::user_passwd(&store, &id, &pw, kdf).await?;
                    wake_nodes(&config).await;
                    println!("password of {id} changed; its sessions are revoked");
                }
            }
        }
        Command::Audit {
            since,
            user,
            json,
            verify,
            limit,
        } => {
            let store = dmp_server::app::open_store(&config)?;
            if verify {
                let intact =
                    admin::audit_verify_report(&store, &mut std::io::stdout().lock()).await?;
                return Ok(if intact {
                    ok
                } else {
                    std::process::ExitCode::from(1)
                });
            }
            let since = since.as_deref().map(parse_since).transpose()?;
            admin::audit_print(
                &store,
                since,
                user,
                json,
                limit,
                &mut std::io::stdout().lock(),
            )
            .await?;
        }
        Command::Backup { file } => {
            let store = dmp_server::app::open_store(&config)?;
            admin::backup(&store, &file).await?;
            println!(
                "backup written to {} (attachments stay in {})",
                file.display(),
                config.attachments_dir().display()
            );
        }
        Command::Restore { file } => {
            let kept = admin::restore(&config, &file).await?;
            println!(
                "database restored from {}; the previous one is kept as {}",
                file.display(),
                kept.display()
            );
        }
    }
    Ok(ok)
}

async fn shutdown_signal() {
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
        _ = ctrl_c => {},
        _ = term => {},
    }
}
