//! `dmp-loadgen`: writes the import file of the synthetic users, or drives
//! traffic against a running dmp-server (or dmp-bare-relay) and prints one
//! JSON line of results on stdout; progress goes to stderr.

use clap::{Parser, Subcommand};
use dmp_tests::{loadgen, users};

/// Load generator for dmp-server.
#[derive(Parser, Debug)]
#[command(name = "dmp-loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write an import file of N patient/doctor pairs for `dmp-server import`.
    Users(users::UsersArgs),
    /// Log in, connect, send, and print one JSON line of results.
    Run(loadgen::RunArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Users(args) => {
            users::write_import_file(&args)?;
            eprintln!(
                "[loadgen] wrote {} pairs to {}",
                args.pairs,
                args.out.display()
            );
        }
        Command::Run(args) => {
            let report = loadgen::run(args).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}
