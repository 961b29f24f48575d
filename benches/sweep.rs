//! The deadline sweep at scale: 1,000,000 incidents with a running clock each, 1,000 of them with
//! an escalation step due now, on SQLite and (when RECTIFY_TEST_POSTGRES_URL is set) PostgreSQL:
//!
//!     cargo bench --bench sweep
//!     RECTIFY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench sweep
//!
//! Seeds with multi-row `INSERT … SELECT` from a generated series in one transaction, analyzes,
//! then times one sweep pass (1,000 steps fire: 1,000 escalation rows, the mail to each lead
//! about all 1,000 incidents, listing `escalation.max_items_per_mail` of them in full, 1,000 next
//! fire times), a second pass with nothing due, and a dry run. The target is one second or less
//! for the first; it prints the largest mail's size, which must stay under 100 KiB.
//! Settings: BENCH_INCIDENTS (default 1000000), BENCH_DUE (default 1000).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rectify::config::Settings;
use rectify::db::Db;
use rectify::jobs::sweep::sweep;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait, Value};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(url: &str) -> Settings {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut s = Settings::load_from(&dir, None, false).expect("default settings");
    s.database.url = url.to_owned();
    s
}

fn series(backend: DbBackend, n: &str) -> (String, String) {
    match backend {
        DbBackend::Postgres => (String::new(), format!("generate_series(1, {n}) AS s(i)")),
        _ => (
            format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
            ),
            "s".to_owned(),
        ),
    }
}

/// Placeholders in order: `$1, $2, …` on PostgreSQL, `?` on SQLite.
fn p(backend: DbBackend, n: usize) -> String {
    if backend == DbBackend::Postgres {
        format!("${n}")
    } else {
        "?".into()
    }
}

async fn seed(db: &Db, incidents: usize, due: usize, now: DateTime<Utc>) {
    let b = db.backend();
    let started = Instant::now();
    let txn = db.conn.begin().await.unwrap();
    for (email, name, role) in [
        ("lead1@example.com", "Lead One", "lead"),
        ("lead2@example.com", "Lead Two", "lead"),
        ("compliance@example.com", "Compliance", "compliance"),
    ] {
        txn.execute_raw(Statement::from_sql_and_values(
            b,
            format!(
                "INSERT INTO users (email, name, role, password_hash, disabled, locale, created_at) \
                 VALUES ({}, {}, {}, '-', false, 'en', {})",
                p(b, 1),
                p(b, 2),
                p(b, 3),
                p(b, 4)
            ),
            [email.into(), name.into(), role.into(), Value::from(now)],
        ))
        .await
        .unwrap();
    }
    let n = incidents.to_string();
    let (with, from) = series(b, &n);
    let reported = now - chrono::Duration::days(60);
    // Every incident first reported 60 days ago; an incident the 1-in-(incidents/due) ones have
    // their remediation due in 30 days (so `before_30d` falls now), the others much later.
    txn.execute_raw(Statement::from_sql_and_values(
        b,
        format!(
            "{with}INSERT INTO incidents (id, state, version, category, title, fingerprint, \
             first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, created_at) \
             SELECT i, 'triaged', 2, 'accuracy.inaccurate', 'Seeded incident ' || i, 'fp-' || i, \
             {r}, 1, false, {r2}, 'seed', {r3} FROM {from}",
            r = p(b, 1),
            r2 = p(b, 2),
            r3 = p(b, 3),
        ),
        [Value::from(reported), Value::from(reported), Value::from(reported)],
    ))
    .await
    .unwrap();
    let every = (incidents / due.max(1)).max(1);
    let due_soon = now + chrono::Duration::days(30);
    let due_late = now + chrono::Duration::days(3650);
    let fire_late = due_late - chrono::Duration::days(30);
    txn.execute_raw(Statement::from_sql_and_values(
        b,
        format!(
            "{with}INSERT INTO incident_clocks (incident_id, clock, started_at, due_at, status, next_fire_at) \
             SELECT i, 'remediate', {p1}, CASE WHEN i % {every} = 0 THEN {p2} ELSE {p3} END, 'running', \
             CASE WHEN i % {every} = 0 THEN {p4} ELSE {p5} END FROM {from}",
            p1 = p(b, 1),
            p2 = p(b, 2),
            p3 = p(b, 3),
            p4 = p(b, 4),
            p5 = p(b, 5),
        ),
        [
            Value::from(reported),
            Value::from(due_soon),
            Value::from(due_late),
            Value::from(now),
            Value::from(fire_late),
        ],
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    db.conn.execute_unprepared("ANALYZE").await.unwrap();
    eprintln!(
        "  seeded {incidents} incidents and clocks ({} due) in {:.1?}",
        incidents / every,
        started.elapsed()
    );
}

async fn run(label: &str, url: &str, incidents: usize, due: usize) {
    eprintln!("{label}:");
    let s = settings(url);
    let db = Db::connect(url, 8, Duration::from_millis(5000))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let now = rectify::domain::audit::truncate_micros(Utc::now());
    seed(&db, incidents, due, now).await;

    let t = Instant::now();
    let dry = sweep(&db, &s, now, true).await.unwrap();
    let dry_time = t.elapsed();

    let t = Instant::now();
    let r = sweep(&db, &s, now, false).await.unwrap();
    let first = t.elapsed();

    let t = Instant::now();
    let again = sweep(&db, &s, now, false).await.unwrap();
    let second = t.elapsed();

    // Each mail's size: its text and HTML parts.
    let sizes: Vec<usize> = {
        let rows = db
            .conn
            .query_all_raw(Statement::from_string(
                db.backend(),
                "SELECT body_text, body_html FROM outbox",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                r.try_get::<String>("", "body_text").map_or(0, |s| s.len())
                    + r.try_get::<Option<String>>("", "body_html")
                        .ok()
                        .flatten()
                        .map_or(0, |s| s.len())
            })
            .collect()
    };
    let mail_bytes: usize = sizes.iter().sum();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    println!(
        "{label}: {incidents} incidents, {} due: sweep {:.0} ms ({} steps fired, {} mails, {} KiB of mail, largest mail {:.1} KiB); \
         again with nothing due {:.1} ms ({} fired); dry run {:.0} ms",
        dry.fired.len(),
        first.as_secs_f64() * 1000.0,
        r.fired.len(),
        r.mails.len(),
        mail_bytes / 1024,
        largest as f64 / 1024.0,
        second.as_secs_f64() * 1000.0,
        again.fired.len(),
        dry_time.as_secs_f64() * 1000.0,
    );
    assert_eq!(r.fired.len(), incidents / (incidents / due.max(1)).max(1));
    assert!(again.fired.is_empty());
    assert!(
        largest < 100 * 1024,
        "the largest mail is {largest} bytes: over 100 KiB"
    );
    db.conn.close().await.ok();
}

#[tokio::main]
async fn main() {
    let incidents = env_usize("BENCH_INCIDENTS", 1_000_000);
    let due = env_usize("BENCH_DUE", 1_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    run("SQLite", &url, incidents, due).await;

    if let Some(admin) = std::env::var("RECTIFY_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
    {
        let name = format!("rectify_bench_{}", uuid::Uuid::new_v4().simple());
        let conn = Database::connect(&admin).await.unwrap();
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut u = url::Url::parse(&admin).unwrap();
        u.set_path(&format!("/{name}"));
        run("PostgreSQL", u.as_str(), incidents, due).await;
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .ok();
        conn.close().await.ok();
    } else {
        eprintln!("PostgreSQL: skipped (set RECTIFY_TEST_POSTGRES_URL)");
    }
}
