//! The retraining loop's commands: `token create|list|revoke`, `export regression` and
//! `import garak|promptfoo`. `main.rs` parses them (the enums are here) and dispatches.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;

use crate::config::Settings;
use crate::db::Db;
use crate::db::discovery::{Importer, Summary};
use crate::db::export::{self, Filter};
use crate::db::intake::IntakeWriter;
use crate::db::tokens;
use crate::domain::cases::Format;
use crate::domain::token::{Scopes, TokenName};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for the API and print it once (only its hash is kept).
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: export, verify, import, cases.
        #[arg(long)]
        scopes: String,
    },
    /// Every token: name, scopes, created, last used, revoked.
    List,
    /// Revoke a token: from now on the API answers it 401.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The regression cases of confirmed incidents as JSON lines, for training.
    Regression {
        /// dpo (TRL preference), dpo-chat (TRL conversational preference), sft (messages) or
        /// raw (every field, with the incident's state and the verification history).
        #[arg(long, default_value = "dpo")]
        format: String,
        /// Only cases added or changed at or after this instant.
        #[arg(long, value_name = "RFC3339")]
        since: Option<String>,
        /// Only incidents in this state (repeat for several); all confirmed ones by default.
        #[arg(long = "state", value_name = "S")]
        states: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// garak report files (*.report.jsonl) and hit logs (*.hitlog.jsonl), garak 0.9 to 0.17.
    Garak {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// A detector score at or above this is a finding (report files; default: the file's
        /// own threshold, else 0.5).
        #[arg(long)]
        threshold: Option<f64>,
    },
    /// A promptfoo results export (`promptfoo eval -o results.json`): its failed results.
    Promptfoo { file: std::path::PathBuf },
}

/// One of the loop's commands.
#[derive(Debug)]
pub enum Command {
    Token(TokenCommand),
    Export(ExportCommand),
    Import(ImportCommand),
}

impl From<TokenCommand> for Command {
    fn from(c: TokenCommand) -> Self {
        Command::Token(c)
    }
}

impl From<ExportCommand> for Command {
    fn from(c: ExportCommand) -> Self {
        Command::Export(c)
    }
}

impl From<ImportCommand> for Command {
    fn from(c: ImportCommand) -> Self {
        Command::Import(c)
    }
}

/// Runs a command on the configured database (migrated first).
pub async fn run(settings: &Settings, cmd: Command) -> anyhow::Result<()> {
    // An export reads every case once, through pooled connections, which map nothing: through
    // memory maps each page read stayed in the process's RSS once per connection (measured:
    // 823 MiB for 1,000,000 cases).
    let db = crate::app::connect_and_migrate(settings).await?;
    match cmd {
        Command::Token(c) => token(&db, c).await,
        Command::Export(c) => export(&db, c).await,
        Command::Import(c) => import(&db, settings, c).await,
    }
}

/// `rectify token …`
pub async fn token(db: &Db, cmd: TokenCommand) -> anyhow::Result<()> {
    let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
    match cmd {
        TokenCommand::Create { name, scopes } => {
            let name = TokenName::parse(&name).map_err(anyhow::Error::msg)?;
            let scopes = Scopes::parse(&scopes).map_err(anyhow::Error::msg)?;
            let (row, secret) = tokens::create(db, &name, &scopes, Utc::now()).await?;
            eprintln!(
                "token {} created with scopes {}; it is shown once, here (keep it in the pipeline's secrets):",
                row.name, row.scopes
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:<24} {:<28} {:<20} {:<20} revoked",
                "name", "scopes", "created", "last used"
            );
            for r in tokens::list(db).await? {
                println!(
                    "{:<24} {:<28} {:<20} {:<20} {}",
                    r.name,
                    r.scopes,
                    t(r.created_at),
                    r.last_used_at.map(t).unwrap_or_else(|| "never".into()),
                    r.revoked_at.map(t).unwrap_or_else(|| "no".into())
                );
            }
        }
        TokenCommand::Revoke { name } => {
            tokens::revoke(db, &name, Utc::now()).await?;
            println!("revoked {name}; the API now refuses it");
        }
    }
    Ok(())
}

/// `rectify export regression …`
pub async fn export(db: &Db, cmd: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Regression {
        format,
        since,
        states,
        output,
    } = cmd;
    let format: Format = format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let since = since
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| anyhow::anyhow!("--since {s:?} is not RFC 3339: {e}"))
        })
        .transpose()?;
    let states = states
        .iter()
        .map(|s| crate::web::retraining::confirmed_state(s).map_err(|e| anyhow::anyhow!("--{e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = Filter {
        format,
        since,
        states,
    };
    let (written, skipped) = match output {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            export::write_all(db, filter, &mut out).await?
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            export::write_all(db, filter, &mut out).await?
        }
    };
    eprintln!(
        "exported {written} cases ({}); skipped {skipped} cases without a desired response",
        format.as_str()
    );
    Ok(())
}

/// A one-line progress bar on standard error, redrawn at most ten times a second.
fn progress_bar() -> impl FnMut(&Summary) + Send + 'static {
    let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
    move |s: &Summary| {
        if last.elapsed() < std::time::Duration::from_millis(100) {
            return;
        }
        last = std::time::Instant::now();
        let spin = ['|', '/', '-', '\\'][(s.lines / 100 % 4) as usize];
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{spin} {} lines read · {} reports · {} incidents opened · {} bad lines\x1b[K",
            s.lines, s.reports, s.opened, s.bad_lines
        );
        let _ = err.flush();
    }
}

/// `rectify import garak|promptfoo …`: prints bad lines and the summary line.
pub async fn import(db: &Db, settings: &Settings, cmd: ImportCommand) -> anyhow::Result<()> {
    let settings = Arc::new(settings.clone());
    let intake = IntakeWriter::start(
        db.clone(),
        Arc::new(settings.deadlines.clone()),
        settings.database.intake_batch,
    )?;
    let (threshold, tool) = match &cmd {
        ImportCommand::Garak { threshold, .. } => (*threshold, "garak"),
        ImportCommand::Promptfoo { .. } => (None, "promptfoo"),
    };
    if threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        anyhow::bail!("--threshold must be between 0 and 1");
    }
    let mut importer = Importer::new(intake, settings, threshold);
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        importer.on_progress(progress_bar());
    }
    let result = match cmd {
        ImportCommand::Garak { files, .. } => {
            let mut r = Ok(());
            let several = files.len() > 1;
            for path in files {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                let name = path.display().to_string();
                r = importer
                    .garak(
                        tokio::io::BufReader::with_capacity(1 << 16, file),
                        several.then_some(name.as_str()),
                    )
                    .await;
                if r.is_err() {
                    break;
                }
            }
            r
        }
        ImportCommand::Promptfoo { file } => {
            let f = std::fs::File::open(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            importer.promptfoo(f).await
        }
    };
    let finished = importer.finish().await.cloned();
    if terminal {
        eprint!("\r\x1b[K");
    }
    let summary = finished?;
    for b in &summary.errors {
        let file = b
            .file
            .as_deref()
            .map(|f| format!("{f}: "))
            .unwrap_or_default();
        let what = if tool == "promptfoo" {
            "result"
        } else {
            "line"
        };
        eprintln!("{tool}: {file}{what} {}: {} (skipped)", b.line, b.error);
    }
    if summary.bad_lines > summary.errors.len() as u64 {
        eprintln!(
            "{tool}: … and {} more bad lines",
            summary.bad_lines - summary.errors.len() as u64
        );
    }
    println!("{}", summary.line());
    result
}
