//! Typed settings: `config/default.toml` < `config/$RECTIFY_ENV.toml` < `RECTIFY_<SECTION>__<KEY>`.
//!
//! Every section denies unknown keys so that a typo in a file or an environment variable stops
//! start-up with the key's name instead of being silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::deadlines::Policy;
use crate::domain::taxonomy::Taxonomy;

/// The shipped defaults, so the binary also starts where no `config/` folder is at hand.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub mail: MailSettings,
    pub limits: LimitSettings,
    pub public: PublicSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub escalation: EscalationSettings,
    pub taxonomy: Taxonomy,
    pub deadlines: Policy,
    #[serde(default)]
    pub discovery: DiscoverySettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub attachments: AttachmentSettings,
}

/// The `[attachments]` table: where files are kept and how large they may be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentSettings {
    /// Where attachment bytes are stored, by SHA-256 (on PostgreSQL deployments too: a folder
    /// every instance shares).
    pub dir: PathBuf,
    /// Screenshots per report, and the largest each may be.
    pub max_images: usize,
    pub max_image_bytes: usize,
    /// The largest evidence file staff may attach to an incident.
    pub max_evidence_bytes: usize,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        AttachmentSettings {
            dir: PathBuf::from("./data/attachments"),
            max_images: 3,
            max_image_bytes: 5 * 1024 * 1024,
            max_evidence_bytes: 20 * 1024 * 1024,
        }
    }
}

/// The `[retention]` table: how long personal data is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Days after an incident closes (resolved, rejected, duplicate) before its reporters'
    /// names, addresses and reply texts are erased.
    pub reporter_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { reporter_days: 365 }
    }
}

/// The `[discovery]` table: how red-team findings (garak, promptfoo) become reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoverySettings {
    /// garak report files: a detector score at or above it is a finding. `None` takes the
    /// file's own `run.eval_threshold`, else garak's 0.5. (Hit logs list hits already.)
    pub threshold: Option<f64>,
    /// The category of a finding no entry of `categories` matches.
    pub default_category: String,
    /// Probe (garak) or plugin (promptfoo) name prefixes and the category of their findings;
    /// the longest matching prefix wins, compared without regard to case.
    pub categories: Vec<CategoryRule>,
    /// The largest body `POST /api/v1/imports/*` takes (the file), in bytes.
    pub max_body_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    pub prefix: String,
    pub category: String,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            threshold: None,
            default_category: "core_values.other".into(),
            categories: Vec::new(),
            max_body_bytes: 256 << 20,
        }
    }
}

impl DiscoverySettings {
    /// The category for findings of `probe` (the longest matching prefix's, else the default).
    pub fn category_for(&self, probe: Option<&str>) -> &str {
        let probe = probe.unwrap_or("").to_ascii_lowercase();
        self.categories
            .iter()
            .filter(|r| probe.starts_with(&r.prefix.to_ascii_lowercase()))
            .max_by_key(|r| r.prefix.len())
            .map_or(self.default_category.as_str(), |r| r.category.as_str())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    /// The address people reach the service at; links in mail are built from it.
    pub public_url: url::Url,
    /// Superseded by `trusted_proxies` (the leftmost hop it took is the client's to write);
    /// still read so old files start, and warned about at start-up.
    #[serde(default)]
    pub trust_forwarded_for: bool,
    /// Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For entries are believed.
    #[serde(default, deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
    /// Connection limits: see `[server]` in config/default.toml.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u64,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
}

fn default_write_timeout() -> u64 {
    2000
}

fn default_mmap_mib() -> u64 {
    crate::db::MMAP_BYTES >> 20
}

fn default_header_timeout() -> u64 {
    10
}
fn default_body_timeout() -> u64 {
    30
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    10_000
}
fn default_shutdown_grace() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a writer waits for SQLite's lock before giving up.
    pub busy_timeout_ms: u64,
    /// How long a request waits to write (the write gate, then the database's lock) before it
    /// is answered 503 with Retry-After.
    #[serde(default = "default_write_timeout")]
    pub write_timeout_ms: u64,
    /// Largest number of reports committed together by the intake writer.
    pub intake_batch: usize,
    /// SQLite: while reports come faster than this many a second, the intake writer stores
    /// each batch as one row of its inbox and opens the incidents once it has time (0: never).
    #[serde(default = "default_intake_defer_above")]
    pub intake_defer_above: u32,
    /// SQLite: MiB of the file the intake writer maps into memory (0: none); pooled
    /// connections read without a map.
    #[serde(default = "default_mmap_mib")]
    pub mmap_mib: u64,
}

fn default_intake_defer_above() -> u32 {
    2_000
}

impl DatabaseSettings {
    pub fn mmap_bytes(&self) -> u64 {
        self.mmap_mib << 20
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub dir: PathBuf,
    pub smtp_url: String,
    /// SMTP AUTH credentials; when the username is set they replace any in `smtp_url`.
    #[serde(default)]
    pub smtp_username: String,
    #[serde(default)]
    pub smtp_password: String,
    pub smtp_timeout_secs: u64,
    pub from: String,
    /// Seconds between passes of the delivery worker inside `serve`.
    pub deliver_interval_secs: u64,
    pub max_attempts: i32,
    /// The wait after the first failed attempt; each further failure doubles it.
    #[serde(default = "default_retry_base_secs")]
    pub retry_base_secs: u64,
    /// The longest wait between two attempts.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: u64,
}

fn default_retry_base_secs() -> u64 {
    5
}

fn default_retry_max_secs() -> u64 {
    6 * 3600
}

/// The `[escalation]` table: the deadline sweep and who it tells.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationSettings {
    /// Seconds between sweeps inside `serve`; 0 turns the loop off.
    pub sweep_interval_secs: u64,
    /// Clocks handled per transaction.
    pub sweep_batch: u64,
    /// Told along with the `compliance` users.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub compliance_addresses: Vec<String>,
    /// The language of mail to `compliance_addresses`.
    pub compliance_locale: String,
    /// A daily digest of overdue incidents to the leads.
    pub daily_digest: bool,
    /// The hour (in `public.time_zone`) from which the day's digest is sent.
    pub digest_hour: u32,
    /// A repeating overdue step tells a person about a clock at most once in this many hours.
    pub repeat_min_hours: u32,
    /// Incidents an alert mail lists in full (worst first); the rest are counted with links.
    pub max_items_per_mail: usize,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        EscalationSettings {
            sweep_interval_secs: 60,
            sweep_batch: 5000,
            compliance_addresses: Vec::new(),
            compliance_locale: "zh-CN".into(),
            daily_digest: false,
            digest_hour: 9,
            repeat_min_hours: 24,
            max_items_per_mail: 50,
        }
    }
}

/// A list from a file, or a comma-separated string from an environment variable.
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::List(v) => v,
        Raw::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
    }
    .into_iter()
    .map(|x| x.trim().to_owned())
    .filter(|x| !x.is_empty())
    .collect())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub max_body_bytes: usize,
    /// Reports one address may submit in a burst; 0 turns the limit off.
    pub intake_burst: u32,
    /// Reports per minute one address regains after a burst.
    pub intake_per_minute: u32,
    pub output_chars: usize,
    pub prompt_chars: usize,
    pub description_chars: usize,
    pub short_field_chars: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicSettings {
    pub service_name: String,
    pub operator_name: String,
    /// How reporters reach the operator (an address, a phone number, a web page): shown in the
    /// footer of every public page and reporter mail.
    #[serde(default)]
    pub operator_contact: String,
    /// The longest message a reporter may send from the status page, in characters.
    #[serde(default = "default_reply_chars")]
    pub reply_chars: usize,
    /// Days after a rejection or resolution during which the reporter may contest it.
    #[serde(default = "default_appeal_days")]
    pub appeal_days: u32,
    /// The `appeal` clock: working days (the feedback limit's calendar) to decide an appeal.
    #[serde(default = "default_appeal_working_days")]
    pub appeal_working_days: u32,
    /// The feedback time limit we publish; it must match the `acknowledge` clock.
    pub feedback_working_days: u32,
    /// The zone in which dates are shown to the public.
    pub time_zone: chrono_tz::Tz,
    /// The language of pages when the browser asks for neither of ours.
    pub default_locale: String,
}

fn default_reply_chars() -> usize {
    5000
}

fn default_appeal_days() -> u32 {
    180
}

fn default_appeal_working_days() -> u32 {
    15
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a staff session lasts.
    pub session_hours: i64,
    /// No longer read (sign-in limits count failures only, below); accepted so that older
    /// files still start.
    #[serde(default)]
    pub login_burst: u32,
    #[serde(default)]
    pub login_per_minute: u32,
    pub min_password_chars: usize,
    /// Failed sign-ins one account may have in `login_failure_window_secs` before further
    /// attempts are refused (or, from an address it has signed in from before, delayed).
    #[serde(default = "default_account_failures")]
    pub login_account_failures: u32,
    /// Failed sign-ins one client address may have in the window, whatever the accounts.
    #[serde(default = "default_address_failures")]
    pub login_address_failures: u32,
    #[serde(default = "default_failure_window")]
    pub login_failure_window_secs: u64,
    /// The wait before answering a sign-in to an account over its failure limit, from an
    /// address that account has signed in from before.
    #[serde(default = "default_known_delay")]
    pub login_known_address_delay_ms: u64,
}

fn default_account_failures() -> u32 {
    5
}
fn default_address_failures() -> u32 {
    100
}
fn default_failure_window() -> u64 {
    900
}
fn default_known_delay() -> u64 {
    2000
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration error: {0}")]
    Invalid(String),
}

impl Settings {
    /// Load from `config_dir` (default.toml, then `$RECTIFY_ENV.toml`), then the environment.
    pub fn load() -> Result<Self, SettingsError> {
        let dir = std::env::var("RECTIFY_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        let env = std::env::var("RECTIFY_ENV").ok();
        Self::load_from(Path::new(&dir), env.as_deref(), true)
    }

    /// `with_env` = false gives the file settings alone, which tests build on.
    pub fn load_from(dir: &Path, env: Option<&str>, with_env: bool) -> Result<Self, SettingsError> {
        let default_path = dir.join("default.toml");
        let mut builder = config::Config::builder();
        builder = if default_path.exists() {
            builder.add_source(config::File::from(default_path))
        } else {
            builder.add_source(config::File::from_str(
                EMBEDDED_DEFAULTS,
                config::FileFormat::Toml,
            ))
        };
        if let Some(env) = env.filter(|e| !e.is_empty()) {
            let path = dir.join(format!("{env}.toml"));
            if !path.exists() {
                return Err(SettingsError::Invalid(format!(
                    "RECTIFY_ENV={env} but {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path));
        }
        if with_env {
            builder = builder.add_source(
                config::Environment::with_prefix("RECTIFY")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        // The published feedback limit and the `acknowledge` clock are one promise: the public
        // setting is the one people change, so the clock follows it.
        if let Some(ack) = settings
            .deadlines
            .clocks
            .iter_mut()
            .find(|c| c.name == "acknowledge")
        {
            ack.unit = crate::domain::deadlines::Unit::WorkingDays;
            ack.count = settings.public.feedback_working_days;
        }
        // Calendar files the configuration names are read here, relative to its folder, so the
        // domain stays free of IO.
        settings
            .deadlines
            .calendars
            .load_files(|path| {
                std::fs::read_to_string(dir.join(path)).map_err(|e| format!("cannot read it: {e}"))
            })
            .map_err(|e| SettingsError::Invalid(format!("deadlines: {e}")))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return bad(
                "database.url must start with sqlite:, postgres:// or postgresql://".into(),
            );
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections must be at least 1".into());
        }
        if self.database.intake_batch == 0 {
            return bad("database.intake_batch must be at least 1".into());
        }
        // Checked even with the file transport: a wrong URL should not wait to surface until
        // the day someone switches to SMTP.
        crate::mail::transport::check_smtp_url(&self.mail.smtp_url)
            .map_err(|e| SettingsError::Invalid(format!("mail.smtp_url: {e}")))?;
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad(format!(
                "mail.from is not a valid mailbox: {:?}",
                self.mail.from
            ));
        }
        if self.mail.max_attempts < 1 {
            return bad("mail.max_attempts must be at least 1".into());
        }
        if self.mail.retry_base_secs == 0 || self.mail.retry_max_secs < self.mail.retry_base_secs {
            return bad(
                "mail.retry_base_secs must be at least 1 and at most mail.retry_max_secs".into(),
            );
        }
        if self.escalation.sweep_batch == 0 {
            return bad("escalation.sweep_batch must be at least 1".into());
        }
        if self.escalation.digest_hour > 23 {
            return bad("escalation.digest_hour must be 0 to 23".into());
        }
        if crate::domain::locale::Locale::parse(&self.escalation.compliance_locale).is_none() {
            return bad("escalation.compliance_locale must be zh-CN or en".into());
        }
        for a in &self.escalation.compliance_addresses {
            if a.parse::<lettre::Address>().is_err() {
                return bad(format!(
                    "escalation.compliance_addresses: {a:?} is not an email address"
                ));
            }
        }
        if self.limits.max_body_bytes < 1024 {
            return bad("limits.max_body_bytes must be at least 1024".into());
        }
        if crate::domain::locale::Locale::parse(&self.public.default_locale).is_none() {
            return bad("public.default_locale must be zh-CN or en".into());
        }
        if let Err(e) = crate::web::proxy::TrustedProxies::parse(&self.server.trusted_proxies) {
            return bad(format!("server.trusted_proxies: {e}"));
        }
        if self.server.header_timeout_secs == 0
            || self.server.body_timeout_secs == 0
            || self.server.idle_timeout_secs == 0
            || self.server.max_connections == 0
        {
            return bad(
                "server.header_timeout_secs, body_timeout_secs, idle_timeout_secs and \
                 max_connections must be above 0"
                    .into(),
            );
        }
        if !matches!(self.server.public_url.scheme(), "http" | "https") {
            return bad("server.public_url must be an http or https URL".into());
        }
        self.taxonomy
            .validate()
            .map_err(|e| SettingsError::Invalid(format!("taxonomy: {e}")))?;
        self.deadlines
            .validate()
            .map_err(|e| SettingsError::Invalid(format!("deadlines: {e}")))?;
        let d = &self.discovery;
        for c in
            std::iter::once(&d.default_category).chain(d.categories.iter().map(|r| &r.category))
        {
            if self.taxonomy.parse(c).is_none() {
                return bad(format!(
                    "discovery: {c:?} is not a category of the taxonomy"
                ));
            }
        }
        if d.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return bad("discovery.threshold must be between 0 and 1".into());
        }
        if d.max_body_bytes < 1024 {
            return bad("discovery.max_body_bytes must be at least 1024".into());
        }
        // A category filter the taxonomy does not know would never match: the clock would
        // silently never run.
        for rule in &self.deadlines.clocks {
            for c in &rule.categories {
                if self.taxonomy.parse(c).is_none() {
                    return bad(format!(
                        "deadlines: clock {:?}: category {c:?} is not in the taxonomy",
                        rule.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The public link to a page, from the configured public URL.
    pub fn public_link(&self, path: &str) -> String {
        let base = self.server.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }
}
