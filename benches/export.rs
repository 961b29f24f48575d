//! The regression export's memory with size: 1,000,000 cases exported as `dpo` by the
//! `rectify` binary, its peak RSS against the same export of 10,000 cases (the baseline, same
//! run): flat memory means the two peaks are about equal, and the target is under 200 MiB.
//!
//!     cargo bench --bench export
//!
//! Seeds SQLite with `INSERT … SELECT` from a generated series (100 cases per incident, each
//! case's prompt, bad output and desired response distinct, a few hundred characters each).
//! Settings: BENCH_CASES (default 1000000).

use std::process::Command;
use std::time::Instant;

use rectify::config::Settings;
use sea_orm::{ConnectionTrait, Statement};

fn settings(url: &str) -> Settings {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut s = Settings::load_from(&dir, None, false).expect("default settings");
    s.database.url = url.to_owned();
    s
}

async fn seed(url: &str, cases: usize) {
    let db = rectify::app::connect_and_migrate(&settings(url))
        .await
        .unwrap();
    let incidents = cases.div_ceil(100);
    let run = |sql: String| {
        let db = db.clone();
        async move {
            db.conn
                .execute_raw(Statement::from_string(db.backend(), sql))
                .await
                .unwrap();
        }
    };
    run(format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {incidents}) \
         INSERT INTO incidents (id, state, version, category, severity, title, fingerprint, \
         first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, created_at, \
         complaint_at, desired_kind, desired_response) \
         SELECT i, 'fix_planned', 4, 'core_values.violence', 'high', 'incident ' || i, 'fp' || i, \
         '2026-11-01T00:00:00+00:00', 1, 0, '2026-11-01T00:00:00+00:00', 'h', '2026-11-01T00:00:00+00:00', \
         '2026-11-01T00:00:00+00:00', 'refusal', '抱歉，我不能提供这方面的内容。' || i FROM s"
    ))
    .await;
    let pad = "这是一段用于基准测试的模型输出，内容各不相同以免重复。The model said something it should not have. ";
    run(format!(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {cases}) \
         INSERT INTO regression_cases (incident_id, report_id, prompt, bad_output, desired, source, \
         model, model_version, retired, created_at, updated_at) \
         SELECT (i - 1) / 100 + 1, NULL, 'How would someone do thing number ' || i || '? ' || '{pad}', \
         '{pad}' || 'Step ' || i || ': ' || hex(randomblob(24)), \
         CASE WHEN i % 3 = 0 THEN NULL ELSE 'I cannot help with request ' || i || '.' END, 'staff', \
         'demo-chat', '2026-11', 0, '2026-11-02T00:00:00+00:00', '2026-11-02T00:00:00+00:00' FROM s"
    ))
    .await;
    db.conn.clone().close().await.ok();
}

/// Runs the export in a child process; (seconds, peak RSS of that child in MiB, lines).
fn export(url: &str, out: &std::path::Path) -> (f64, f64, usize) {
    let before = max_rss_children();
    let t = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RECTIFY_DATABASE__URL", url)
        .env("RECTIFY_LOG", "warn")
        .args(["export", "regression", "--format", "dpo", "--output"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
    let secs = t.elapsed().as_secs_f64();
    let rss = max_rss_children();
    assert!(rss >= before);
    let lines =
        std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(out).unwrap())).count();
    (secs, rss as f64 / 1024.0, lines)
}

/// The largest peak RSS of any waited-for child so far, in KiB.
fn max_rss_children() -> i64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss
}

#[tokio::main]
async fn main() {
    let cases: usize = std::env::var("BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let small = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("small.db").display()
    );
    let large = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("large.db").display()
    );
    let t = Instant::now();
    seed(&small, 10_000).await;
    seed(&large, cases).await;
    eprintln!(
        "seeded 10,000 and {cases} cases in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The smaller export first: the children's peak only grows, so the larger one's reading
    // is its own when it is larger, and equal to the baseline's when memory stays flat.
    let (s_secs, s_rss, s_lines) = export(&small, &dir.path().join("small.jsonl"));
    let (l_secs, l_rss, l_lines) = export(&large, &dir.path().join("large.jsonl"));
    println!("baseline: 10,000 cases → {s_lines} lines in {s_secs:.2} s, peak RSS {s_rss:.1} MiB");
    println!(
        "export:   {cases} cases → {l_lines} lines in {l_secs:.2} s, peak RSS {l_rss:.1} MiB ({:.0} lines/s)",
        l_lines as f64 / l_secs
    );
    println!(
        "peak RSS ratio (large ÷ baseline): {:.2}; target: under 200 MiB → {}",
        l_rss / s_rss,
        if l_rss < 200.0 { "met" } else { "NOT met" }
    );
}
