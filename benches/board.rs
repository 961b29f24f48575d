//! The board's render time with 100,000 open incidents on SQLite:
//!
//!     cargo bench --bench board
//!
//! Seeds 100,000 open incidents spread over the six open states (with categories, severities,
//! assignees and due instants spread out), signs in, and times `GET /board` end to end over
//! HTTP, sequentially (BENCH_REQUESTS, default 200), plus a few filtered views. Reports p50 and
//! p95. Target: p95 <= 50 ms on a 2-core machine.

use std::time::Instant;

use chrono::Utc;
mod common;

use rectify::app::Application;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

const INCIDENTS: usize = 100_000;

async fn seed(app: &Application) {
    let db = &app.state().db;
    let now = Utc::now();
    common::create_staff(
        db,
        &["lead", "triager", "engineer", "engineer", "compliance"],
        now,
    )
    .await;
    let states = [
        "new",
        "triaged",
        "contained",
        "fix_planned",
        "retraining",
        "verifying",
    ];
    let cats = [
        "accuracy",
        "accuracy.inaccurate",
        "rights.privacy",
        "core_values.false_information",
        "discrimination.gender",
        "commercial.ip_infringement",
    ];
    let sevs = ["NULL", "'low'", "'medium'", "'high'", "'critical'"];
    let words = [
        "模型", "生成", "虚假", "信息", "answer", "capital", "privacy", "leak", "歧视", "内容",
    ];
    let txn = db.conn.begin().await.unwrap();
    for chunk in 0..INCIDENTS / 500 {
        let mut values = Vec::with_capacity(500);
        for k in 0..500 {
            let i = chunk * 500 + k;
            let state = states[i % states.len()];
            let sev = if state == "new" {
                "NULL"
            } else {
                sevs[1 + i % 4]
            };
            let assignee = if i % 3 == 0 {
                "NULL".to_string()
            } else {
                (1 + i % 5).to_string()
            };
            // Due instants from 20 days overdue to 90 days ahead.
            let due = now
                + chrono::Duration::minutes(((i * 7919) % (110 * 24 * 60)) as i64 - 20 * 24 * 60);
            let title = format!(
                "{} {} {} #{i}",
                words[i % 10],
                words[(i / 10) % 10],
                words[(i / 100) % 10]
            );
            values.push(format!(
                "({id}, '{state}', 1, '{cat}', {sev}, {assignee}, '{title}', 'fp{id}', '{first}', 1, false, '{first}', '', '{due}', 'remediate', '{first}')",
                id = i + 1,
                cat = cats[i % cats.len()],
                first = (now - chrono::Duration::days(30)).format("%Y-%m-%d %H:%M:%S%.6f+00:00"),
                due = due.format("%Y-%m-%d %H:%M:%S%.6f+00:00"),
            ));
        }
        txn.execute_raw(Statement::from_string(
            db.backend(),
            format!(
                "INSERT INTO incidents (id, state, version, category, severity, assignee_id, title, fingerprint, first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, next_due_at, next_due_clock, created_at) VALUES {}",
                values.join(",")
            ),
        ))
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
    db.conn.execute_unprepared("ANALYZE").await.unwrap();
}

fn main() {
    let n: usize = common::env_number("BENCH_REQUESTS", 200);
    let dir = tempfile::tempdir().unwrap();
    let s = common::sqlite_settings(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = Application::build(s).await.unwrap();
        let t = Instant::now();
        seed(&app).await;
        println!(
            "seeded {INCIDENTS} open incidents in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let base = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until_stopped());
        let c = common::signed_in(&base).await;
        for (name, query) in [
            ("whole board", ""),
            ("category=rights", "?category=rights"),
            ("assignee=mine", "?assignee=mine"),
            ("overdue=1&severity=high", "?overdue=1&severity=high"),
            ("q=privacy (text search)", "?q=privacy"),
            ("one column, page 3", "?state=triaged&page=3"),
        ] {
            let url = format!("{base}/board{query}");
            for _ in 0..5 {
                c.get(&url).send().await.unwrap().bytes().await.unwrap();
            }
            let rounds = if query.is_empty() { n } else { n / 4 };
            let mut times = Vec::with_capacity(rounds);
            let mut bytes = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                let resp = c.get(&url).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                bytes = resp.bytes().await.unwrap().len();
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "{name:<26} {rounds:>4} requests  p50 {:>6.2} ms  p95 {:>6.2} ms  ({} KiB)",
                common::pct_ms(&times, 0.5),
                common::pct_ms(&times, 0.95),
                bytes / 1024
            );
        }
    });
}
