//! `dmp-bare-relay`: a WebSocket relay without auth or storage, the baseline
//! of the load generator. Prints `listening on http://ADDR` and serves until
//! SIGINT or SIGTERM.

use clap::Parser;
use dmp_tests::relay;
use std::io::Write;

/// Bare WebSocket relay: ws://ADDR/pair/{i}/{patient|medecin}.
#[derive(Parser, Debug)]
#[command(name = "dmp-bare-relay", version)]
struct Cli {
    #[command(flatten)]
    args: relay::RelayArgs,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse().args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: relay::RelayArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    relay::serve_with(
        listener,
        args.send_queue,
        args.read_buffer,
        shutdown_signal(),
    )
    .await
}
