//! The `rectify` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rectify::app::{Application, connect_and_migrate};
use rectify::config::Settings;

#[derive(Parser)]
#[command(
    name = "rectify",
    version,
    about = "Complaint intake and remediation tracker for generative-AI services",
    long_about = "Complaint intake and remediation tracker for generative-AI services.\n\n\
        Settings come from config/default.toml, then config/$RECTIFY_ENV.toml, then \
        RECTIFY_<SECTION>__<KEY> environment variables. Without a command, `serve` runs."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web application and run its background workers (the default).
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECTIFY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rectify: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => connect_and_migrate(&settings).await.map(|_| {
            println!("database is up to date");
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rectify: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}
