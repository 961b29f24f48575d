//! Calendars at work: `rectify policy explain`, `rectify calendar check|import`, what `serve`
//! does about calendars at start-up and while it runs (reload after an import elsewhere,
//! recompute, warn while deadlines rest on provisional years), and the compliance notices.

use std::fmt::Write;
use std::time::Duration;

use anyhow::Context as _;

use chrono::{DateTime, SecondsFormat, SubsecRound, TimeDelta, Utc};
use serde_json::json;

use crate::config::Settings;
use crate::db::entities::user;
use crate::db::{Db, DbError, deadlines as q};
use crate::domain::deadlines::{CalendarFile, ClockDue, ClockFacts, Policy};
use crate::domain::locale::Locale;
use crate::domain::severity::{SeriousKind, Severity};
use crate::mail::calendar::{About, Notice, key, notice};

/// Rounds up to the second: a due instant is never printed earlier than it is.
pub fn ceil_secs(at: DateTime<Utc>) -> DateTime<Utc> {
    let down = at.trunc_subsecs(0);
    if down == at {
        at
    } else {
        down + TimeDelta::seconds(1)
    }
}

fn secs(at: DateTime<Utc>) -> String {
    ceil_secs(at).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Loads the imported calendar years when a database is there to read (an SQLite file that
/// exists, or a PostgreSQL server that answers); `policy explain` still works without one.
async fn load_if_there(settings: &Settings) -> Option<String> {
    if let Some(path) = settings
        .database
        .url
        .strip_prefix("sqlite://")
        .or_else(|| settings.database.url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            return None;
        }
    }
    match crate::app::connect_and_migrate(settings).await {
        Ok(db) => match q::load(&db, &settings.deadlines).await {
            Ok(_) => None,
            Err(e) => Some(format!("imported calendar years not read: {e}")),
        },
        Err(e) => Some(format!("imported calendar years not read: {e:#}")),
    }
}

/// `rectify policy explain`: every clock that would apply to an incident first reported at
/// `reported_at`, with its due instant, its calendar and whether it is provisional.
pub async fn explain(
    settings: &Settings,
    reported_at: &str,
    category: Option<&str>,
    severity: Option<&str>,
    serious: Option<&str>,
    json_out: bool,
) -> anyhow::Result<()> {
    let at = DateTime::parse_from_rfc3339(reported_at.trim())
        .map_err(|e| anyhow::anyhow!("--reported-at {reported_at:?} is not RFC 3339: {e}"))?
        .with_timezone(&Utc);
    // Parsed once, here; everything below compares the parsed values.
    let category = category
        .map(|c| {
            settings
                .taxonomy
                .parse(c)
                .ok_or_else(|| anyhow::anyhow!("--category {c:?} is not in the taxonomy"))
        })
        .transpose()?;
    let severity = severity
        .map(|s| s.parse::<Severity>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("--severity: {e}"))?;
    let serious = serious
        .map(|k| k.parse::<SeriousKind>())
        .transpose()
        .map_err(|e| anyhow::anyhow!("--serious: {e}"))?;
    if let Some(warning) = load_if_there(settings).await {
        eprintln!("rectify: {warning}; using the configuration's calendars only");
    }
    let facts = ClockFacts {
        category: category.as_ref().map(|c| c.as_str()),
        severity,
        serious,
    };
    let policy = &settings.deadlines;
    let clocks = policy.clocks_for(&facts, at, Some(at), serious.map(|_| at));
    let out = render_explain(policy, &clocks, at, json_out)?;
    print!("{out}");
    Ok(())
}

fn ends_words(policy: &Policy, name: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    policy.rule(name).map_or((vec![], vec![]), |r| {
        let (met, stopped) = r.endings();
        (
            met.iter().map(|a| a.as_str()).collect(),
            stopped.iter().map(|a| a.as_str()).collect(),
        )
    })
}

fn render_explain(
    policy: &Policy,
    clocks: &[ClockDue],
    at: DateTime<Utc>,
    json_out: bool,
) -> anyhow::Result<String> {
    let starts = |name: &str| policy.rule(name).map_or("", |r| r.starts_on.as_str());
    let unit = |c: &ClockDue| {
        serde_json::to_value(c.unit)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut out = String::new();
    if json_out {
        let items: Vec<serde_json::Value> = clocks
            .iter()
            .map(|c| {
                let (met, stopped) = ends_words(policy, &c.name);
                json!({
                    "name": c.name,
                    "starts_on": starts(&c.name),
                    "start": c.start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    "unit": unit(c),
                    "count": c.count,
                    "zone": c.zone.name(),
                    // Full precision: exactly the stored instant, never earlier.
                    "due_utc": c.due.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    "due_local": c.due.with_timezone(&c.zone).to_rfc3339_opts(SecondsFormat::AutoSi, false),
                    "status": "running",
                    "ends": { "met": met, "stopped": stopped },
                    "calendar": {
                        "name": c.calendar,
                        "provisional": c.provisional(),
                        "provisional_years": c.provisional_years,
                        "covered_through": c.covered_through.map(|d| d.to_string()),
                    },
                })
            })
            .collect();
        out.push_str(&serde_json::to_string_pretty(&items)?);
        out.push('\n');
        return Ok(out);
    }
    // One line per clock on stdout (so scripts can count and cut); the context goes to stderr.
    eprintln!(
        "first report {} ({} clocks apply; triage and the serious flag taken as at the same \
         instant; due instants rounded up to the second)",
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        clocks.len()
    );
    for c in clocks {
        let basis = if c.provisional() {
            let years: Vec<String> = c.provisional_years.iter().map(i32::to_string).collect();
            format!(
                "  provisional ({} {}: statutory rule; official through {})",
                c.calendar,
                years.join(","),
                c.covered_through
                    .map_or_else(|| "no year".to_owned(), |d| d.to_string())
            )
        } else {
            String::new()
        };
        let (met, stopped) = ends_words(policy, &c.name);
        let _ = writeln!(
            out,
            "{:<17} {}  {} {}{basis}  ({} {} from {}; met by {}; stopped by {})",
            c.name,
            secs(c.due),
            ceil_secs(c.due)
                .with_timezone(&c.zone)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            c.zone.name(),
            c.count,
            unit(c),
            starts(&c.name),
            if met.is_empty() {
                "-".into()
            } else {
                met.join(", ")
            },
            if stopped.is_empty() {
                "-".into()
            } else {
                stopped.join(", ")
            },
        );
    }
    Ok(out)
}

/// The calendars worth listing: the configured ones, and the authority's.
fn listed_calendars(policy: &Policy) -> Vec<String> {
    let set = policy.calendar_set();
    let mut names: Vec<String> = set.configured_names().map(str::to_owned).collect();
    if let Some(a) = set.authority_calendar()
        && !names.contains(&a.name)
    {
        names.push(a.name.clone());
    }
    for r in &policy.clocks {
        if let Some(c) = set.get(&r.calendar)
            && !names.contains(&c.name)
        {
            names.push(c.name.clone());
        }
    }
    names
}

/// `rectify calendar check`: each calendar with the years it covers, and every running clock
/// whose due instant rests on a provisional year. Returns the text and whether there is any
/// (exit 1) or none (exit 0). Queues the compliance notice the first time a year is concerned.
pub async fn check(
    db: &Db,
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, bool)> {
    let policy = &settings.deadlines;
    q::load(db, policy).await?;
    let set = policy.calendar_set();
    let imported = q::imported_years(&db.conn).await?;
    let mut out = String::new();
    let _ = writeln!(out, "calendars (revision {}):", set.revision);
    for name in listed_calendars(policy) {
        let Some(c) = set.get(&name) else { continue };
        let authority = set.authority_calendar().is_some_and(|a| a.name == c.name);
        let _ = writeln!(
            out,
            "  {name}: {} ({}){}; official years: {}; covered through {}; other years \
             provisional by rule ({})",
            c.jurisdiction.name(),
            c.zone.name(),
            if authority {
                ", the authority's calendar"
            } else {
                ""
            },
            c.covered_years(),
            c.covered_through()
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            c.jurisdiction.rule_source(),
        );
        for (year, (y, origin)) in &c.official {
            let from = match imported.get(&(name.clone(), *year)) {
                Some((file, when)) => format!(
                    "imported {}{}",
                    when.format("%Y-%m-%d"),
                    file.as_deref()
                        .map(|f| format!(" from {f}"))
                        .unwrap_or_default()
                ),
                None => origin.to_string(),
            };
            let _ = writeln!(out, "    {year}: {} [{from}]", y.source);
        }
        let _ = writeln!(
            out,
            "    next year's arrangement: {}",
            c.jurisdiction.official_source()
        );
    }
    let provisional = q::provisional_running(db, policy).await?;
    if provisional.is_empty() {
        let _ = writeln!(out, "no running clock rests on a provisional year");
    } else {
        let _ = writeln!(
            out,
            "{} running clock(s) rest on a provisional year:",
            provisional.len()
        );
        for p in &provisional {
            let years: Vec<String> = p.years.iter().map(i32::to_string).collect();
            let _ = writeln!(
                out,
                "  INC-{:<6} {:<17} due {}  {} {} provisional  {}",
                p.incident_id,
                p.clock,
                secs(p.due),
                p.calendar,
                years.join(","),
                p.title
            );
        }
    }
    notify(db, settings, now, &[]).await?;
    Ok((out, !provisional.is_empty()))
}

/// `rectify calendar import FILE`: loads the file's years, recomputes every running clock that
/// moves (an event each), and tells compliance.
pub async fn import(
    db: &Db,
    settings: &Settings,
    path: &std::path::Path,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let file =
        CalendarFile::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let policy = &settings.deadlines;
    q::load(db, policy)
        .await
        .context("loading the stored calendars")?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (revision, description) = q::import(db, policy, &file, &name, now)
        .await
        .context("storing the calendar")?;
    let done = q::recompute(db, policy, now)
        .await
        .context("recomputing the running clocks")?;
    let mut out = format!("calendar revision {revision}: {description}\n");
    if done.moved.is_empty() {
        out.push_str("no running clock moved\n");
    } else {
        let _ = writeln!(out, "{} running clock(s) moved:", done.moved.len());
        for m in &done.moved {
            let _ = writeln!(
                out,
                "  INC-{:<6} {:<17} {} -> {}{}",
                m.incident_id,
                m.clock,
                secs(m.old_due),
                secs(m.new_due),
                if m.provisional {
                    "  (still provisional)"
                } else {
                    ""
                }
            );
        }
    }
    if done.rebased > 0 {
        let _ = writeln!(
            out,
            "{} running clock(s) kept their due instant and are no longer provisional",
            done.rebased
        );
    }
    if done.skipped > 0 {
        let _ = writeln!(
            out,
            "{} incident(s) changed meanwhile: run the import again to finish them",
            done.skipped
        );
    }
    notify(db, settings, now, &done.moved)
        .await
        .context("queueing the notices")?;
    Ok(out)
}

/// What `serve` does about calendars before it takes requests: records a change of the
/// configuration's calendars, loads the imported years, recomputes when the calendars changed,
/// warns while running clocks rest on provisional years, and sends the notices due.
pub async fn startup(db: &Db, settings: &Settings, now: DateTime<Utc>) -> Result<(), DbError> {
    let policy = &settings.deadlines;
    let changed = q::record_config(db, policy, now).await?;
    q::load(db, policy).await?;
    if let Some(what) = changed {
        tracing::info!(change = %what, "calendars changed since the last start");
        let done = q::recompute(db, policy, now).await?;
        if !done.moved.is_empty() || done.rebased > 0 {
            tracing::info!(
                moved = done.moved.len(),
                rebased = done.rebased,
                "running clocks recomputed for the calendar change"
            );
        }
        if let Err(e) = notify(db, settings, now, &done.moved).await {
            tracing::warn!(error = %e, "calendar notices not queued");
        }
    } else if let Err(e) = notify(db, settings, now, &[]).await {
        tracing::warn!(error = %e, "calendar notices not queued");
    }
    warn_if_provisional(db).await;
    Ok(())
}

async fn warn_if_provisional(db: &Db) {
    match q::provisional_count(&db.conn).await {
        Ok(0) => {}
        Ok(n) => {
            let pairs = q::provisional_pairs(&db.conn).await.unwrap_or_default();
            let years: Vec<String> = pairs.iter().map(|(c, y)| format!("{c} {y}")).collect();
            tracing::warn!(
                clocks = n,
                years = %years.join(", "),
                "running deadlines rest on provisional calendar years (statutory holidays only): \
                 import the official arrangement (`rectify calendar check` lists them)"
            );
        }
        Err(e) => tracing::warn!(error = %e, "could not count provisional deadlines"),
    }
}

/// Runs inside `serve`: every minute, reloads the calendars when another process changed them
/// (an import) and recomputes; sends the notices due; once a day warns while running clocks
/// rest on provisional years.
pub async fn watch(
    db: Db,
    settings: std::sync::Arc<Settings>,
    mail_ready: std::sync::Arc<tokio::sync::Notify>,
) {
    let every = Duration::from_secs(60);
    let mut last_warning = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let s = &*settings;
        let now = Utc::now();
        match q::current_revision(&db.conn).await {
            Ok(rev) if rev != s.deadlines.calendar_set().revision => {
                match async {
                    q::load(&db, &s.deadlines).await?;
                    q::recompute(&db, &s.deadlines, now).await
                }
                .await
                {
                    Ok(done) => tracing::info!(
                        revision = rev,
                        moved = done.moved.len(),
                        "calendars reloaded after a change elsewhere"
                    ),
                    Err(e) => tracing::warn!(error = %e, "calendar reload failed; retrying"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "calendar revision not read"),
        }
        match notify(&db, s, now, &[]).await {
            Ok(n) if n > 0 => mail_ready.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "calendar notices not queued"),
        }
        if last_warning.elapsed() >= Duration::from_secs(24 * 3600) {
            warn_if_provisional(&db).await;
            last_warning = tokio::time::Instant::now();
        }
    }
}

/// The people a compliance notice goes to: active compliance users in their language, and the
/// configured compliance addresses.
async fn compliance_recipients(
    db: &Db,
    settings: &Settings,
) -> Result<Vec<(String, Locale)>, DbError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let default = Locale::parse(&settings.public.default_locale).unwrap_or_default();
    let mut out: Vec<(String, Locale)> = user::Entity::find()
        .filter(user::Column::Disabled.eq(false))
        .filter(user::Column::Role.eq("compliance"))
        .order_by_asc(user::Column::Id)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|u| (u.email, Locale::parse(&u.locale).unwrap_or(default)))
        .collect();
    let extra = Locale::parse(&settings.escalation.compliance_locale).unwrap_or(default);
    for a in &settings.escalation.compliance_addresses {
        if !out.iter().any(|(e, _)| e.eq_ignore_ascii_case(a)) {
            out.push((a.clone(), extra));
        }
    }
    Ok(out)
}

/// Queues the compliance notices due: "provisional" the first time running clocks rest on a
/// calendar year no official arrangement covers, "official" once that year is loaded. Each goes
/// out once, ever (a record with a unique key, in the same transaction as its mails). Returns
/// how many notices were queued.
pub async fn notify(
    db: &Db,
    settings: &Settings,
    now: DateTime<Utc>,
    moved: &[q::Moved],
) -> Result<usize, DbError> {
    let policy = &settings.deadlines;
    let set = policy.calendar_set();
    let sent = q::notices_sent(&db.conn).await?;
    let pairs = q::provisional_pairs(&db.conn).await?;
    let mut due: Vec<(Notice, String, i32)> = Vec::new();
    for (cal, year) in &pairs {
        let official = set.get(cal).is_some_and(|c| c.is_official(*year));
        if !official && !sent.contains(&key(Notice::Provisional, cal, *year)) {
            due.push((Notice::Provisional, cal.clone(), *year));
        }
    }
    for k in &sent {
        let mut parts = k.splitn(3, ':');
        let (Some("provisional"), Some(cal), Some(year)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(year) = year.parse::<i32>() else {
            continue;
        };
        if set.get(cal).is_some_and(|c| c.is_official(year))
            && !sent.contains(&key(Notice::Official, cal, year))
        {
            due.push((Notice::Official, cal.to_owned(), year));
        }
    }
    if due.is_empty() {
        return Ok(0);
    }
    let recipients = compliance_recipients(db, settings).await?;
    if recipients.is_empty() {
        // Not recorded: the notice goes out once someone is there to read it.
        tracing::warn!(
            "calendar notices due but no compliance user or address to send them to \
             (escalation.compliance_addresses)"
        );
        return Ok(0);
    }
    let provisional = if due.iter().any(|(n, _, _)| *n == Notice::Provisional) {
        q::provisional_running(db, policy).await?
    } else {
        Vec::new()
    };
    let mut queued = 0;
    for (kind, cal, year) in due {
        let Some(c) = set.get(&cal) else { continue };
        // Worded per reader: the clock's name and "due" in the recipient's language.
        let items = |locale: Locale| -> Vec<String> {
            let clock = |name: &str| crate::i18n::words::clock(name, locale);
            match kind {
                Notice::Provisional => provisional
                    .iter()
                    .filter(|p| p.calendar == cal && p.years.contains(&year))
                    .map(|p| {
                        format!(
                            "INC-{} {}: {} {}",
                            p.incident_id,
                            clock(&p.clock),
                            crate::i18n::alert::labels(locale).due,
                            secs(p.due)
                        )
                    })
                    .collect(),
                Notice::Official => moved
                    .iter()
                    .map(|m| {
                        format!(
                            "INC-{} {}: {} → {}",
                            m.incident_id,
                            clock(&m.clock),
                            secs(m.old_due),
                            secs(m.new_due)
                        )
                    })
                    .collect(),
            }
        };
        let mut mails = Vec::new();
        for (to, locale) in &recipients {
            let about = About {
                calendar: &cal,
                jurisdiction: c.jurisdiction,
                year,
                official_source: c.jurisdiction.official_source(),
                items: items(*locale),
            };
            match notice(settings, kind, &about, to, *locale) {
                Ok(m) => mails.push(m),
                Err(e) => tracing::error!(error = %e, "rendering a calendar notice failed"),
            }
        }
        if q::send_notice(
            db,
            &key(kind, &cal, year),
            &cal,
            year,
            kind.as_str(),
            &mails,
            now,
        )
        .await?
        {
            queued += 1;
        }
    }
    Ok(queued)
}
