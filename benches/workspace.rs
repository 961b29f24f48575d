//! The staff workspace's search and list view at 100,000 incidents and 1,000,000 reports on
//! SQLite:
//!
//!     cargo bench --bench workspace
//!
//! Seeds 100,000 incidents (70% open over the six open states, 30% resolved, rejected or
//! duplicate) with ten distinct reports each, then indexed for search as the intake writer does. Report texts are JADE-DB and Flames
//! sentences from ../shared/data when present (each made distinct by its number), generated
//! Chinese otherwise. Then times, sequentially over HTTP, signed in (BENCH_REQUESTS, default 100):
//! the board, the list view sorted by deadline, a Chinese word search, a tracking-code search
//! (a redirect to the incident), and a two-character Chinese word (shorter than a trigram: found
//! through the index's vocabulary). Target: p95 <= 50 ms each on a 2-core machine.
//!
//! Under load instead of one at a time (with the server from `cargo run --release` on a copy of
//! the seeded database and a session cookie):
//!
//!     wrk -t2 -c8 -d30s -H "Cookie: rectify_session=…" "http://127.0.0.1:8080/incidents?sort=deadline"

use std::time::Instant;

use chrono::Utc;
mod common;

use rectify::app::Application;
use rectify::domain::tracking_code::TrackingCode;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

const INCIDENTS: usize = 100_000;
const REPORTS_PER: usize = 10;

fn texts() -> (Vec<String>, Vec<String>) {
    let dir = common::data_dir();
    let read = |f: &str, keys: &[&str]| -> Vec<String> {
        std::fs::read_to_string(dir.join(f))
            .map(|t| {
                t.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .flat_map(|v| {
                        keys.iter()
                            .filter_map(|k| v.get(*k).and_then(|x| x.as_str()).map(str::to_string))
                            .collect::<Vec<_>>()
                    })
                    .map(|s| s.chars().take(160).collect())
                    .collect()
            })
            .unwrap_or_default()
    };
    let outputs = read("jade-db/jade_alignment_zh.jsonl", &["违规回答"]);
    let prompts = [
        read("jade-db/jade_alignment_zh.jsonl", &["问题"]),
        read("flames/Flames_1k_Chinese.jsonl", &["prompt"]),
    ]
    .concat();
    if outputs.is_empty() || prompts.is_empty() {
        println!("../shared/data not found: generated Chinese text instead");
        let words = [
            "模型", "生成", "虚假", "信息", "隐私", "泄露", "歧视", "内容", "首都", "答案",
        ];
        let make = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| (0..12).map(|k| words[(i * 7 + k * 3) % 10]).collect())
                .collect()
        };
        return (make(650), make(1650));
    }
    println!(
        "report texts from ../shared/data: {} outputs, {} prompts",
        outputs.len(),
        prompts.len()
    );
    (outputs, prompts)
}

fn q(s: &str) -> String {
    s.replace('\'', "''")
}

async fn seed(app: &Application) {
    let db = &app.state().db;
    let now = Utc::now();
    common::create_staff(
        db,
        &["lead", "triager", "engineer", "engineer", "compliance"],
        now,
    )
    .await;
    let (outputs, prompts) = texts();
    let states = [
        "new",
        "triaged",
        "contained",
        "fix_planned",
        "retraining",
        "verifying",
        "new",
        "resolved",
        "rejected",
        "duplicate",
    ];
    let cats = [
        "accuracy.inaccurate",
        "rights.privacy",
        "core_values.false_information",
        "discrimination.gender",
    ];
    let sevs = ["'low'", "'medium'", "'high'", "'critical'"];
    let first = (now - chrono::Duration::days(30))
        .format("%Y-%m-%d %H:%M:%S%.6f+00:00")
        .to_string();
    let txn = db.conn.begin().await.unwrap();
    for chunk in 0..INCIDENTS / 500 {
        let mut inc = Vec::with_capacity(500);
        let mut rep = Vec::with_capacity(500 * REPORTS_PER);
        for k in 0..500 {
            let i = chunk * 500 + k;
            let id = i + 1;
            let state = states[i % states.len()];
            let open = !matches!(state, "resolved" | "rejected" | "duplicate");
            let sev = if state == "new" { "NULL" } else { sevs[i % 4] };
            let assignee = if i % 3 == 0 {
                "NULL".to_string()
            } else {
                (1 + i % 5).to_string()
            };
            let due = if open {
                let d = now
                    + chrono::Duration::minutes(
                        ((i * 7919) % (110 * 24 * 60)) as i64 - 20 * 24 * 60,
                    );
                format!("'{}'", d.format("%Y-%m-%d %H:%M:%S%.6f+00:00"))
            } else {
                "NULL".into()
            };
            let title: String = outputs[i % outputs.len()].chars().take(80).collect();
            inc.push(format!(
                "({id}, '{state}', 1, '{cat}', {sev}, {assignee}, '{title}', 'fp{id}', '{first}', {REPORTS_PER}, false, '{first}', '', {due}, {clock}, '{first}')",
                cat = cats[i % cats.len()],
                title = q(&title),
                clock = if open { "'remediate'" } else { "NULL" },
            ));
            for r in 0..REPORTS_PER {
                let rid = i * REPORTS_PER + r + 1;
                let code = code_of(rid);
                let output = format!("{} （{rid}）", outputs[(i + r * 37) % outputs.len()]);
                let prompt = &prompts[(i * 3 + r) % prompts.len()];
                rep.push(format!(
                    "('{code}', {id}, '{first}', 'zh-CN', 'web', '{output}', '{prompt}', 'demo-chat', '2026-{m:02}', '{cat}', '{desc}', 'r{rid}@example.com', 'fp{id}')",
                    output = q(&output),
                    prompt = q(prompt),
                    m = 1 + r % 12,
                    cat = cats[i % cats.len()],
                    desc = q(&format!("这段回答有问题，第 {rid} 份举报")),
                ));
            }
        }
        txn.execute_raw(Statement::from_string(
            db.backend(),
            format!(
                "INSERT INTO incidents (id, state, version, category, severity, assignee_id, title, fingerprint, first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, next_due_at, next_due_clock, created_at) VALUES {}",
                inc.join(",")
            ),
        ))
        .await
        .unwrap();
        for part in rep.chunks(500) {
            txn.execute_raw(Statement::from_string(
                db.backend(),
                format!(
                    "INSERT INTO reports (tracking_code, incident_id, received_at, locale, channel, output, prompt, model, model_version, category, description, reporter_email, fingerprint) VALUES {}",
                    part.join(",")
                ),
            ))
            .await
            .unwrap();
        }
    }
    txn.commit().await.unwrap();
    // Written around the intake writer: index it all now, as the writer would have.
    db.index_search_now().await.unwrap();
    db.conn.execute_unprepared("ANALYZE").await.unwrap();
}

/// The tracking code of the report numbered `rid`: made up from the number, so that a kept
/// database's codes are known without reading it.
fn code_of(rid: usize) -> String {
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(
        &(rid as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .to_be_bytes(),
    );
    TrackingCode::from_bytes(bytes).as_str().to_string()
}

fn main() {
    let n: usize = common::env_number("BENCH_REQUESTS", 100);
    let dir = tempfile::tempdir().unwrap();
    // BENCH_KEEP=1 leaves the seeded database behind, to study its queries afterwards;
    // BENCH_KEEP=<that folder> times it again without seeding.
    let reuse = std::env::var("BENCH_KEEP")
        .ok()
        .map(std::path::PathBuf::from)
        .filter(|p| p.join("rectify.db").is_file());
    let dir_path = match (reuse.clone(), std::env::var_os("BENCH_KEEP")) {
        (Some(p), _) => p,
        (None, Some(_)) => {
            let kept = dir.keep();
            println!("database kept in {}", kept.display());
            kept
        }
        (None, None) => dir.path().to_path_buf(),
    };
    let s = common::sqlite_settings(&dir_path);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = Application::build(s).await.unwrap();
        let t = Instant::now();
        if reuse.is_none() {
            seed(&app).await;
            println!(
                "seeded and indexed {INCIDENTS} incidents and {} reports in {:.1} s",
                INCIDENTS * REPORTS_PER,
                t.elapsed().as_secs_f64()
            );
        }
        let code = code_of(123_457);
        let base = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until_stopped());
        let c = common::signed_in(&base).await;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let cases = [
            ("board", "/board".to_string(), 200, n),
            (
                "list, sorted by deadline",
                "/incidents?sort=deadline".to_string(),
                200,
                n,
            ),
            (
                "list, every state, by last change",
                "/incidents?state=all&sort=last_change".to_string(),
                200,
                n,
            ),
            (
                "word search 摄像头 (board)",
                format!("/board?q={}", enc("摄像头")),
                200,
                n,
            ),
            (
                "word search 摄像头 (list)",
                format!("/incidents?state=all&q={}", enc("摄像头")),
                200,
                n,
            ),
            (
                "tracking-code search",
                format!("/board?q={}", enc(&code.to_lowercase().replace('-', ""))),
                303,
                n,
            ),
            ("INC-n search", "/board?q=INC-54321".to_string(), 303, n),
            (
                "2-char word 隐私 (board)",
                format!("/board?q={}", enc("隐私")),
                200,
                n,
            ),
            (
                "2-char word 隐私 (list)",
                format!("/incidents?state=all&q={}", enc("隐私")),
                200,
                n,
            ),
        ];
        for (name, path, status, rounds) in cases {
            let url = format!("{base}{path}");
            for _ in 0..3 {
                c.get(&url).send().await.unwrap().bytes().await.unwrap();
            }
            let mut times = Vec::with_capacity(rounds);
            let mut bytes = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                let resp = c.get(&url).send().await.unwrap();
                assert_eq!(resp.status().as_u16(), status, "{name}");
                bytes = resp.bytes().await.unwrap().len();
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "{name:<36} {rounds:>4} requests  p50 {:>7.2} ms  p95 {:>7.2} ms  ({} KiB)",
                common::pct_ms(&times, 0.5),
                common::pct_ms(&times, 0.95),
                bytes / 1024
            );
        }
    });
}
