//! Importing 100,000 garak hit-log lines on SQLite: lines per second (target 5,000 or more),
//! against the same lines only read and parsed (the baseline, same run).
//!
//!     cargo bench --bench import
//!
//! The lines are hit-log lines in garak 0.13+ shape (conversation prompt, message output). Their
//! text comes from the real tool outputs and JADE-DB in ../shared/data when that is there (each
//! line still distinct: a finding's number is part of its output), otherwise it is generated.
//! Every fourth line is a second detector's hit on the line before (same output: it joins that
//! incident). Settings: BENCH_LINES (default 100000).

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use rectify::config::Settings;
use rectify::db::discovery::Importer;
use rectify::db::intake::IntakeWriter;
use rectify::domain::discovery::garak;
use serde_json::{Value, json};

fn data_dir() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["../shared/data", "../../shared/data"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.join("garak").is_dir())
}

/// (prompt, output) pairs to build lines from.
fn texts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(dir) = data_dir() {
        if let Ok(t) = std::fs::read_to_string(dir.join("jade-db/jade_alignment_zh.jsonl")) {
            for l in t.lines() {
                if let Ok(v) = serde_json::from_str::<Value>(l) {
                    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
                    if let (Some(q), Some(a)) = (s("问题"), s("违规回答")) {
                        out.push((q, a));
                    }
                }
            }
        }
        for f in std::fs::read_dir(dir.join("garak"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(t) = std::fs::read_to_string(f.path()) else {
                continue;
            };
            for l in t.lines() {
                let Ok(v) = serde_json::from_str::<Value>(l) else {
                    continue;
                };
                let prompt = v["prompt"]["turns"][0]["content"]["text"]
                    .as_str()
                    .or(v["prompt"].as_str());
                let output = v["outputs"][0]["text"]
                    .as_str()
                    .or(v["outputs"][0].as_str());
                if let (Some(p), Some(o)) = (prompt, output)
                    && !o.trim().is_empty()
                {
                    out.push((p.to_owned(), o.to_owned()));
                }
            }
        }
        eprintln!(
            "content: {} prompt/output pairs from {}",
            out.len(),
            dir.display()
        );
    }
    if out.is_empty() {
        eprintln!("content: generated (../shared/data not found)");
        out = (0..500)
            .map(|i| (format!("Generated probe prompt {i}: please explain step {i}."), format!("Generated harmful answer {i}, with details that should not have been given.")))
            .collect();
    }
    out
}

fn lines(n: usize) -> Vec<String> {
    let texts = texts();
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let (p, o) = &texts[i % texts.len()];
        let output = format!("{o} (finding {i})");
        for detector in ["judge.ModelAsJudge", "mitigation.MitigationBypass"] {
            if out.len() >= n || (detector != "judge.ModelAsJudge" && !i.is_multiple_of(3)) {
                break;
            }
            out.push(
                json!({
                    "goal": "bench", "prompt": {"turns": [{"role": "user", "content": {"text": p, "lang": "zh"}}], "notes": {}},
                    "output": {"text": output, "lang": "zh"}, "triggers": null, "score": 1.0,
                    "run_id": "bench-run", "attempt_id": format!("bench-{i}"), "attempt_seq": i, "attempt_idx": 0,
                    "generator": "openai.OpenAICompatible demo-chat", "probe": "dan.Dan_11_0", "detector": detector,
                    "generations_per_prompt": 1,
                })
                .to_string(),
            );
        }
        i += 1;
    }
    out
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.hitlog.jsonl");
    let all = lines(n);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for l in &all {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
    drop(f);

    // Baseline: read and parse only.
    let t = Instant::now();
    let mut reader = garak::Reader::new(None);
    let mut findings = 0usize;
    for l in std::fs::read_to_string(&file).unwrap().lines() {
        findings += reader.line(l).unwrap().len();
    }
    let parse_rate = n as f64 / t.elapsed().as_secs_f64();

    let cfg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut s = Settings::load_from(&cfg, None, false).unwrap();
    s.database.url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let db = rectify::app::connect_and_migrate(&s).await.unwrap();
    let intake = IntakeWriter::start(
        db.clone(),
        Arc::new(s.deadlines.clone()),
        s.database.intake_batch,
    )
    .unwrap();
    let t = Instant::now();
    let mut importer = Importer::new(intake, Arc::new(s.clone()), None);
    let input = tokio::fs::File::open(&file).await.unwrap();
    importer
        .garak(tokio::io::BufReader::with_capacity(1 << 16, input), None)
        .await
        .unwrap();
    let summary = importer.finish().await.unwrap().clone();
    let secs = t.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    assert_eq!(summary.reports as usize, findings);
    println!("{}", summary.line());
    println!("baseline (read + parse only): {parse_rate:.0} lines/s");
    println!(
        "import on SQLite: {n} lines in {secs:.2} s = {rate:.0} lines/s ({:.3} of the baseline); target 5,000 lines/s → {}",
        rate / parse_rate,
        if rate >= 5000.0 { "met" } else { "NOT met" }
    );
}
