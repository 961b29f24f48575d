//! The `rectify` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rectify::app::{Application, connect_and_migrate};
use rectify::config::Settings;
use rectify::db::audit::Verdict;
use rectify::jobs::cli::Job;

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
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inspect the deadline policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run the deadline sweep once: fire every escalation step that has come, queue its mail.
    Sweep {
        /// The instant to sweep at (RFC 3339); the current time when absent.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// Print what would fire and which mail would be queued; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Inspect and deliver the mail outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Machine tokens for the API (the training pipeline, red-team jobs).
    #[command(subcommand)]
    Token(rectify::jobs::retraining::TokenCommand),
    /// Export data for training: `export regression`.
    #[command(subcommand)]
    Export(rectify::jobs::retraining::ExportCommand),
    /// Import red-team findings (garak, promptfoo) as discovery reports.
    #[command(subcommand)]
    Import(rectify::jobs::retraining::ImportCommand),
    /// Holiday calendars: what they cover, and loading a year's official arrangement.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Personal data retention: erase reporters' data `retention.reporter_days` after closing.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Erase the name, email and reply texts of every report whose incident closed at least
    /// `retention.reporter_days` ago, each with a `redact` event (the sweep does this too).
    Run {
        /// Print what would be erased; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The instant to run at (RFC 3339); the current time when absent.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// List each calendar with the years it covers, and every running clock whose due instant
    /// rests on a provisional year; exit status 1 when there is one, 0 otherwise.
    Check,
    /// Load a year's official arrangement from a calendar file (README: Calendars) and
    /// recompute every running clock it moves, each with an event in its incident's chain.
    Import {
        /// The calendar file (TOML).
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List outbox rows, newest first.
    List {
        /// Only rows with this status: pending, sent or dead.
        #[arg(long)]
        status: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Run one delivery pass over every pending row (including those waiting out a backoff).
    Deliver,
    /// Queue dead rows again: the given ids, or every dead row.
    Retry { ids: Vec<i64> },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff account. The password is read from standard input when it is not a
    /// terminal; otherwise one is generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// triager, engineer, lead, compliance or admin
        #[arg(long)]
        role: String,
        /// The language of the account's pages and mail: zh-CN or en (default:
        /// public.default_locale)
        #[arg(long)]
        locale: Option<String>,
    },
    /// List staff accounts.
    List,
    /// Disable an account; its sessions end at once.
    Disable { email: String },
    /// Change an account's role.
    SetRole { email: String, role: String },
    /// Change the language of an account's pages and mail: zh-CN or en.
    SetLocale { email: String, locale: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk every incident's hash chain; print the first broken link (exit status 1) or that
    /// all hold.
    Verify,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print every clock that would apply to an incident first reported at the given instant,
    /// with its due instant in UTC and in the clock's legal time zone. Clocks that start at
    /// triage or at a serious-incident flag are computed as if that happened at the same instant.
    Explain {
        /// When the incident was first reported (RFC 3339, e.g. 2026-07-01T09:30:00+08:00).
        #[arg(long, value_name = "RFC3339")]
        reported_at: String,
        /// Category, e.g. core_values or core_values.terrorism.
        #[arg(long)]
        category: Option<String>,
        /// Severity: low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        /// Serious-incident kind: death, widespread, critical_infrastructure or other.
        #[arg(long, value_name = "KIND")]
        serious: Option<String>,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECTIFY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Colours only for a person at a terminal; logs piped to a file or a collector stay plain.
    use std::io::IsTerminal;
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let json = std::env::var("RECTIFY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .event_format(rectify::log_format::Json)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .init();
    }
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
        Command::User(cmd) => user_command(&settings, cmd).await,
        Command::Audit(AuditCommand::Verify) => return audit_verify(&settings).await,
        Command::Sweep { now, dry_run } => job(&settings, Job::Sweep { now, dry_run }).await,
        Command::Retention(RetentionCommand::Run { dry_run, now }) => {
            match connect_and_migrate(&settings).await {
                Ok(db) => {
                    rectify::jobs::retention::command(&db, &settings, now.as_deref(), dry_run)
                        .await
                        .map(|out| print!("{out}"))
                }
                Err(e) => Err(e),
            }
        }
        Command::Outbox(OutboxCommand::List { status, limit }) => {
            job(&settings, Job::OutboxList { status, limit }).await
        }
        Command::Outbox(OutboxCommand::Deliver) => job(&settings, Job::OutboxDeliver).await,
        Command::Outbox(OutboxCommand::Retry { ids }) => {
            job(&settings, Job::OutboxRetry { ids }).await
        }
        Command::Token(cmd) => rectify::jobs::retraining::run(&settings, cmd.into()).await,
        Command::Export(cmd) => rectify::jobs::retraining::run(&settings, cmd.into()).await,
        Command::Import(cmd) => rectify::jobs::retraining::run(&settings, cmd.into()).await,
        Command::Policy(PolicyCommand::Explain {
            reported_at,
            category,
            severity,
            serious,
            json,
        }) => {
            rectify::jobs::calendar::explain(
                &settings,
                &reported_at,
                category.as_deref(),
                severity.as_deref(),
                serious.as_deref(),
                json,
            )
            .await
        }
        Command::Calendar(cmd) => return calendar(&settings, cmd).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rectify: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a `sweep` or `outbox` command (the library's `jobs::cli`) and prints what it says.
async fn job(settings: &Settings, job: Job) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    print!("{}", rectify::jobs::cli::run(&db, settings, job).await?);
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

async fn audit_verify(settings: &Settings) -> ExitCode {
    let db = match connect_and_migrate(settings).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("rectify: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match rectify::db::audit::verify_all(&db).await {
        Ok(Verdict::Holds { incidents, events }) => {
            println!("all chains hold: {incidents} incidents, {events} events");
            ExitCode::SUCCESS
        }
        Ok(Verdict::Broken { incident_id, why }) => {
            println!("BROKEN: incident {incident_id}: {why}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("rectify: {e}");
            ExitCode::from(2)
        }
    }
}

/// `rectify calendar check|import`.
async fn calendar(settings: &Settings, cmd: CalendarCommand) -> ExitCode {
    let run = async {
        let db = connect_and_migrate(settings).await?;
        let now = chrono::Utc::now();
        match cmd {
            CalendarCommand::Check => rectify::jobs::calendar::check(&db, settings, now).await,
            CalendarCommand::Import { file } => {
                rectify::jobs::calendar::import(&db, settings, &file, now)
                    .await
                    .map(|out| (out, false))
            }
        }
    };
    match run.await {
        Ok((out, provisional)) => {
            print!("{out}");
            if provisional {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("rectify: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn user_command(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    use rectify::db::users;
    use rectify::domain::workflow::Role;
    let db = connect_and_migrate(settings).await?;
    let parse_role = |r: &str| {
        r.parse::<Role>().map_err(|_| {
            anyhow::anyhow!("unknown role {r:?}: use triager, engineer, lead, compliance or admin")
        })
    };
    let parse_locale = |l: &str| {
        rectify::domain::locale::Locale::parse(l)
            .ok_or_else(|| anyhow::anyhow!("unknown locale {l:?}: use zh-CN or en"))
    };
    match cmd {
        UserCommand::Add {
            email,
            name,
            role,
            locale,
        } => {
            let role = parse_role(&role)?;
            let locale = match locale {
                Some(l) => parse_locale(&l)?,
                None => rectify::domain::locale::Locale::parse(&settings.public.default_locale)
                    .unwrap_or_default(),
            };
            let email = rectify::domain::report::Email::parse(&email)
                .map_err(|_| anyhow::anyhow!("{email:?} is not an email address"))?;
            if name
                .trim()
                .chars()
                .all(rectify::domain::workflow::is_invisible)
            {
                anyhow::bail!("--name must not be empty");
            }
            if name.chars().any(char::is_control) {
                anyhow::bail!(
                    "--name must not contain control characters (such as terminal escape sequences)"
                );
            }
            if name.chars().count() > 200 {
                anyhow::bail!("--name must be at most 200 characters");
            }
            if users::by_email(&db, email.as_str()).await?.is_some() {
                anyhow::bail!("an account for {email} exists already");
            }
            use std::io::IsTerminal;
            let (password, generated) = if std::io::stdin().is_terminal() {
                (hex::encode(rand::random::<[u8; 12]>()), true)
            } else {
                // Not a terminal: the password must come on standard input. An empty one is an
                // error, not a reason to make one up that a script would never see.
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let p = line.trim_end_matches(['\n', '\r']).to_string();
                if p.is_empty() {
                    anyhow::bail!(
                        "no password on standard input: pipe one in (echo \"$PASSWORD\" | rectify user \
                         add …), or run the command at a terminal to have one generated"
                    );
                }
                (p, false)
            };
            if password.chars().count() < settings.auth.min_password_chars {
                anyhow::bail!(
                    "the password must have at least {} characters",
                    settings.auth.min_password_chars
                );
            }
            let hash = rectify::web::staff::auth::hash_password(password.clone()).await?;
            let u = users::create_with_locale(
                &db,
                email.as_str(),
                name.trim(),
                role.as_str(),
                &hash,
                locale.as_str(),
                chrono::Utc::now(),
            )
            .await?;
            println!(
                "added {} ({}, {}, {}) as user {}",
                u.email, u.name, u.role, u.locale, u.id
            );
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::List => {
            for u in users::list(&db).await? {
                println!(
                    "{:<5} {:<32} {:<24} {:<11} {:<6} {}",
                    u.id,
                    u.email,
                    u.name,
                    u.role,
                    u.locale,
                    if u.disabled { "disabled" } else { "active" }
                );
            }
        }
        UserCommand::Disable { email } => {
            if !users::disable(&db, &email).await? {
                anyhow::bail!("no account for {email}");
            }
            println!("disabled {email}; its sessions have ended");
        }
        UserCommand::SetRole { email, role } => {
            let role = parse_role(&role)?;
            if !users::set_role(&db, &email, role.as_str()).await? {
                anyhow::bail!("no account for {email}");
            }
            println!("{email} is now {}", role.as_str());
        }
        UserCommand::SetLocale { email, locale } => {
            let locale = parse_locale(&locale)?;
            if !users::set_locale_by_email(&db, &email, locale.as_str()).await? {
                anyhow::bail!("no account for {email}");
            }
            println!("{email} now reads pages and mail in {}", locale.as_str());
        }
    }
    Ok(())
}
