//! Intake throughput and p99 latency at 32 concurrent clients on the default SQLite, against the
//! same server's `GET /healthz` as the baseline, in one run:
//!
//!     cargo bench --bench intake
//!
//! Report content comes from JADE-DB (../shared/data/jade-db, real Chinese prompts and violating
//! answers) when it is there, otherwise from generated text.
//!
//! Each round has three phases: `GET /healthz`; intake of reports without an email address (the
//! form POST answered 303 that the targets are for: see the README); and intake where half the reports give an address, so half the
//! transactions also render and queue an acknowledgement, which the outbox worker delivers (as
//! `.eml` files, the default transport) while intake runs. The run says how many had gone out
//! by the end of that phase, and waits for the rest before the next.
//!
//! The phases alternate, round after round, and the figures are totals over every round: on a
//! shared machine a neighbour's burst then falls on both sides of the ratio instead of on one
//! phase.
//! Settings: BENCH_ROUNDS (default 3), BENCH_SECONDS per phase (default 3), BENCH_CLIENTS
//! (default 32), BENCH_NO_MAIL (set: skip the phase with acknowledgements), BENCH_HEALTHZ_SECONDS (default BENCH_SECONDS; 0 skips
//! the baseline, for profiling intake), BENCH_INTAKE_BATCH (the writer's batch size).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use std::path::Path;

use rectify::app::Application;

struct Sample {
    prompt: String,
    output: String,
}

/// The urlencoded fields every report of a sample shares, encoded once: encoding 2 KB of
/// Chinese per request would spend the load generator's share of the two cores, not the
/// server's.
fn encoded(s: &Sample) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("output", &s.output)
        .append_pair("prompt", &s.prompt)
        .append_pair("model", "demo-chat")
        .append_pair("category", "core_values")
        .append_pair("good_faith", "on")
        .finish()
}

fn samples() -> Vec<Sample> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/jade-db/jade_alignment_zh.jsonl");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let v: Vec<Sample> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|j| {
                Some(Sample {
                    prompt: j["问题"].as_str()?.to_string(),
                    output: j["违规回答"].as_str()?.chars().take(2000).collect(),
                })
            })
            .collect();
        if !v.is_empty() {
            eprintln!(
                "content: {} JADE-DB answers from {}",
                v.len(),
                path.display()
            );
            return v;
        }
    }
    eprintln!("content: generated (../shared/data/jade-db not found)");
    (0..500)
        .map(|i| Sample {
            prompt: format!("生成测试提示 {i}"),
            output: format!("这是第 {i} 条模型生成的违规回答，内容包含虚假信息。").repeat(8),
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Builds the request for the i-th call.
type MakeRequest = Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

fn url(base: &str, path: &str) -> reqwest::Url {
    reqwest::Url::parse(&format!("{base}{path}")).unwrap()
}

async fn load(name: &str, clients: usize, secs: u64, make: MakeRequest, expect: u16) -> Phase {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            while Instant::now() < stop {
                let t = Instant::now();
                let resp = make(&client, i).send().await.expect("request");
                assert_eq!(resp.status().as_u16(), expect, "unexpected status");
                let _ = resp.bytes().await;
                lat.push(t.elapsed());
                i += clients;
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let phase = Phase {
        secs: started.elapsed().as_secs_f64(),
        latencies: all,
    };
    phase.print(name);
    phase
}

/// What one or more phases of a load did.
#[derive(Default)]
struct Phase {
    secs: f64,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rps(&self) -> f64 {
        if self.secs == 0.0 {
            return 0.0;
        }
        self.latencies.len() as f64 / self.secs
    }

    fn add(&mut self, other: Phase) {
        self.secs += other.secs;
        self.latencies.extend(other.latencies);
    }

    fn print(&self, name: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        println!(
            "{name:<14} {:>8} requests  {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            sorted.len(),
            self.rps(),
            percentile(&sorted, 0.5).as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3
        );
    }

    fn p99(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        percentile(&sorted, 0.99)
    }
}

fn main() {
    let secs: u64 = common::env_number("BENCH_SECONDS", 3);
    let rounds: u64 = common::env_number("BENCH_ROUNDS", 3).max(1);
    let clients: usize = common::env_number("BENCH_CLIENTS", 32);
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::sqlite_settings(dir.path());
    s.limits.intake_burst = 0; // one client address sends everything
    if let Some(n) = std::env::var("BENCH_INTAKE_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        s.database.intake_batch = n;
    }
    if let Some(n) = std::env::var("BENCH_DB_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        s.database.max_connections = n;
    }

    // The server gets its own runtime (as `rectify serve` would), the load generator another.
    // Named apart so that a profile of the bench tells the server's threads from the client's.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mail_dir = s.mail.dir.clone();
    let app = server_rt.block_on(Application::build(s)).unwrap();
    let base = format!("http://{}", app.local_addr());
    server_rt.spawn(app.run_until_stopped());

    let samples = samples();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("load")
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        println!(
            "{clients} clients, {rounds} rounds of {secs} s per load, SQLite (WAL) in {}",
            dir.path().display()
        );
        let healthz_url = url(&base, "/healthz");
        let healthz_secs = common::env_number("BENCH_HEALTHZ_SECONDS", secs);
        let report_url = url(&base, "/report");
        let bodies: Arc<Vec<String>> = Arc::new(samples.iter().map(encoded).collect());
        let with_mail = std::env::var("BENCH_NO_MAIL").is_err();
        let queued = Arc::new(AtomicUsize::new(0));
        // Each round's reports are new ones: their descriptions carry a running number.
        let next = Arc::new(AtomicUsize::new(0));
        let intake_load = |with_mail: bool| -> MakeRequest {
            let (bodies, report_url, counted, next) =
                (bodies.clone(), report_url.clone(), queued.clone(), next.clone());
            Arc::new(move |c: &reqwest::Client, _| {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let mut body = format!(
                    "{}&description=%E8%BF%9D%E8%A7%84%E5%86%85%E5%AE%B9+%23{i}",
                    bodies[i % bodies.len()]
                );
                if i % 2 == 0 && with_mail {
                    body.push_str(&format!("&email=r{i}%40example.com"));
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                c.post(report_url.clone())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
            })
        };
        let (mut healthz, mut intake, mut with_acks) =
            (Phase::default(), Phase::default(), Phase::default());
        for round in 1..=rounds {
            let healthz_url = healthz_url.clone();
            healthz.add(
                load(
                    &format!("{round}: healthz"),
                    clients,
                    healthz_secs,
                    Arc::new(move |c: &reqwest::Client, _| c.get(healthz_url.clone())),
                    200,
                )
                .await,
            );
            let label = format!("{round}: intake");
            intake.add(load(&label, clients, secs, intake_load(false), 303).await);
            if !with_mail {
                continue;
            }
            let label = format!("{round}: + acks");
            with_acks.add(load(&label, clients, secs, intake_load(true), 303).await);
            // Delivery runs beside intake; a backlog left here is work the figure did not pay
            // for, so it is shown, and drained before the next phase so that phase does not
            // pay for it either.
            let count = || std::fs::read_dir(&mail_dir).map_or(0, |d| d.count());
            let want = queued.load(Ordering::Relaxed);
            let delivered = count();
            let t = Instant::now();
            while count() < want && t.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            println!(
                "{round}: mail      {delivered} of {want} acknowledgements delivered by the end of the phase, the rest in {:.2} s",
                t.elapsed().as_secs_f64()
            );
        }
        println!("all rounds:");
        healthz.print("healthz");
        intake.print("intake");
        if with_mail {
            with_acks.print("+ acks");
        }
        println!(
            "intake / healthz = {:.3}   (targets: intake >= 3000 req/s, ratio >= 0.2; p99 {:.2} ms)",
            intake.rps() / healthz.rps(),
            intake.p99().as_secs_f64() * 1e3
        );
        if with_mail {
            println!(
                "with acknowledgements: {:.3} of healthz (p99 {:.2} ms)",
                with_acks.rps() / healthz.rps(),
                with_acks.p99().as_secs_f64() * 1e3
            );
        }
    });
}
