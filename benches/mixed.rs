//! Mixed load on SQLite: while intake runs at half the rate it reaches alone, the staff work
//! goes on beside it. One run, four figures:
//!
//!     cargo bench --bench mixed
//!
//! Seeds 100,000 open incidents (one report each, real Chinese text as in the intake bench),
//! each with its `open` event and a running remediation clock; 1,000 of them have an escalation step due at an
//! instant an hour ahead (so the server's own sweep leaves them alone; it is off here anyway).
//! Then measures the board and the search alone for BENCH_ALONE_SECONDS (5) each (the
//! baseline), intake alone for BENCH_PROBE_SECONDS (5) at 32 clients (the same content mix as
//! `intake`: 9 in 10 distinct), and for BENCH_SECONDS (20) paces intake at half that rate
//! while one signed-in client reads the board (`/board`, 100,000 open incidents) over and
//! over, another searches (a Chinese word, `/incidents?q=…`), and half-way a sweep at that
//! instant fires the 1,000 escalations (mail to the leads included), timed alone.
//! BENCH_PACE=N paces intake at N reports/s instead, to compare two builds at the same load.
//! The paced client keeps the connections it opens (BENCH_PACED_POOL, 2,000: at most that many
//! idle), as a load generator on fixed connections does; it prints how many were opened.
//! Targets: board p95 <= 50 ms, search p95 <= 100 ms, sweep <= 1 s, intake keeping its pace.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

mod common;

use common::content::Content;
use rectify::app::Application;

const INCIDENTS: usize = 100_000;
const DUE: usize = 1_000;

fn q(s: &str) -> String {
    s.replace('\'', "''")
}

fn ts(t: chrono::DateTime<Utc>) -> String {
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00:00"))
}

/// The incidents, their reports and clocks, and the staff; returns the sweep's instant.
async fn seed(app: &Application, content: &Content) -> chrono::DateTime<Utc> {
    let db = &app.state().db;
    let now = rectify::domain::audit::truncate_micros(Utc::now());
    common::create_staff(db, &["lead", "triager", "lead", "compliance"], now).await;
    let sweep_at = now + chrono::Duration::hours(1);
    let first = now - chrono::Duration::days(30);
    let states = [
        "new",
        "triaged",
        "contained",
        "fix_planned",
        "retraining",
        "verifying",
    ];
    let decode = |s: String| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let txn = db.conn.begin().await.unwrap();
    for chunk in 0..INCIDENTS / 500 {
        let (mut inc, mut rep, mut clk, mut ev) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for k in 0..500 {
            let i = chunk * 500 + k;
            let id = i + 1;
            // Content numbers far from the ones intake sends during the run.
            let output = decode(content.output(1_000_000_000 + i * 10));
            let title: String = output.chars().take(80).collect();
            let due_fires = i % (INCIDENTS / DUE) == 0;
            let due = if due_fires {
                sweep_at + chrono::Duration::days(30)
            } else {
                now + chrono::Duration::minutes(
                    ((i * 7919) % (110 * 24 * 60)) as i64 + 60 * 24 * 40,
                )
            };
            let fire = if due_fires {
                sweep_at
            } else {
                due - chrono::Duration::days(30)
            };
            let state = states[i % states.len()];
            let sev = if state == "new" { "NULL" } else { "'medium'" };
            inc.push(format!(
                "({id}, '{state}', 1, 'core_values.false_information', {sev}, NULL, '{title}', 'seedfp{id}', '{first}', 1, false, '{first}', '', {due}, 'remediate', '{first}')",
                title = q(&title),
                first = first.format("%Y-%m-%d %H:%M:%S%.6f+00:00"),
                due = ts(due),
            ));
            let code = rectify::domain::tracking_code::TrackingCode::from_bytes({
                let mut b = [0u8; 10];
                b[..8].copy_from_slice(
                    &(id as u64)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .to_be_bytes(),
                );
                b[9] = 0x5a;
                b
            });
            rep.push(format!(
                "('{code}', {id}, '{first}', 'zh-CN', 'web', '{output}', NULL, 'demo-chat', NULL, 'core_values.false_information', '', NULL, 'seedfp{id}')",
                code = code.as_str(),
                first = first.format("%Y-%m-%d %H:%M:%S%.6f+00:00"),
                output = q(&output),
            ));
            // Its `open` event, as every incident has (the log's size is what the board's
            // event lookups must not depend on); the chain's hashes are not checked here.
            ev.push(format!(
                "({id}, 1, {first}, 'system', NULL, 'open', NULL, 'new', '{{}}', '', 'seed{id}')",
                first = ts(first),
            ));
            clk.push(format!(
                "({id}, 'remediate', {started}, {due}, 'running', {fire})",
                started = ts(first),
                due = ts(due),
                fire = ts(fire),
            ));
        }
        for (sql, rows) in [
            (
                "INSERT INTO incidents (id, state, version, category, severity, assignee_id, title, fingerprint, first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, next_due_at, next_due_clock, created_at) VALUES ",
                inc,
            ),
            (
                "INSERT INTO reports (tracking_code, incident_id, received_at, locale, channel, output, prompt, model, model_version, category, description, reporter_email, fingerprint) VALUES ",
                rep,
            ),
            (
                "INSERT INTO incident_clocks (incident_id, clock, started_at, due_at, status, next_fire_at) VALUES ",
                clk,
            ),
            (
                "INSERT INTO incident_events (incident_id, seq, at, actor, actor_id, action, from_state, to_state, data, prev_hash, hash) VALUES ",
                ev,
            ),
        ] {
            txn.execute_raw(Statement::from_string(
                db.backend(),
                format!("{sql}{}", rows.join(",")),
            ))
            .await
            .unwrap();
        }
    }
    txn.commit().await.unwrap();
    db.index_search_now().await.unwrap();
    db.conn.execute_unprepared("ANALYZE").await.unwrap();
    sweep_at
}

/// Sends GETs to `url` one after another until `stop`; their latencies.
async fn reader(c: reqwest::Client, url: String, stop: Instant) -> Vec<Duration> {
    let pause = Duration::from_millis(common::env_number("BENCH_READER_PAUSE_MS", 0));
    let mut lat = Vec::new();
    while Instant::now() < stop {
        tokio::time::sleep(pause).await;
        let t = Instant::now();
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        r.bytes().await.unwrap();
        lat.push(t.elapsed());
    }
    lat
}

fn main() {
    let probe_secs: u64 = common::env_number("BENCH_PROBE_SECONDS", 5);
    let secs: u64 = common::env_number("BENCH_SECONDS", 20);
    let alone_secs: u64 = common::env_number("BENCH_ALONE_SECONDS", 5);
    let clients: usize = common::env_number("BENCH_CLIENTS", 32);
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::sqlite_settings(dir.path());
    let wal = dir.path().join("rectify.db-wal");
    s.limits.intake_burst = 0;
    s.escalation.sweep_interval_secs = 0;
    let settings = s.clone();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let content = Arc::new(Content::load());
    let app = server_rt.block_on(Application::build(s)).unwrap();
    let t = Instant::now();
    let sweep_at = server_rt.block_on(seed(&app, &content));
    println!(
        "seeded {INCIDENTS} open incidents with a report and a clock each ({DUE} with a step due) in {:.1} s; content: {}",
        t.elapsed().as_secs_f64(),
        content.source
    );
    let db = app.state().db.clone();
    let base = format!("http://{}", app.local_addr());
    server_rt.spawn(app.run_until_stopped());

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("load")
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The two staff readers get a client thread of their own: a browser on someone's desk does
    // not wait behind the flood's client tasks, and here it would (the client shares the cores).
    let readers_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("readers")
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let readers = readers_rt.handle().clone();
    client_rt.block_on(async {
        let plain = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(clients)
            .build()
            .unwrap();
        let report_url = format!("{base}/report");
        let next = Arc::new(AtomicUsize::new(0));
        let report = sender(plain.clone(), content.clone(), next.clone(), report_url.clone());

        // Staff, signed in.
        let staff = {
            let base = base.clone();
            readers
                .spawn(async move { common::signed_in(&base).await })
                .await
                .unwrap()
        };

        // The same two readers alone first: the baseline the figures under intake compare with.
        let word = url::form_urlencoded::byte_serialize("隐私".as_bytes()).collect::<String>();
        let board_url = format!("{base}/board");
        let search_url = format!("{base}/incidents?q={word}");
        let alone = |url: &String| {
            let until = Instant::now() + Duration::from_secs(alone_secs);
            readers.spawn(reader(staff.clone(), url.clone(), until))
        };
        let mut board_alone = alone(&board_url).await.unwrap();
        let mut search_alone = alone(&search_url).await.unwrap();
        board_alone.sort();
        search_alone.sort();

        // Intake alone, as fast as it goes.
        let stored_before = common::reports_stored(&db).await;
        let cpu_alone = common::ThreadCpu::now();
        let stop = Instant::now() + Duration::from_secs(probe_secs);
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (report, done) = (report.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < stop {
                    assert_eq!(report().send().await.unwrap().status(), 303);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let alone_cpu = common::ThreadCpu::now().since(&cpu_alone, probe_secs as f64);
        let max_rate = done.load(Ordering::Relaxed) as f64 / probe_secs as f64;
        // A fixed pace for comparing two builds: half the probe moves with the machine's
        // moment (3,000 to 5,500 reports/s within an hour), and the readers' figures with it.
        let pace: u64 = common::env_number("BENCH_PACE", 0);
        let rate = if pace > 0 {
            pace as f64
        } else {
            max_rate / 2.0
        };
        println!(
            "intake alone: {max_rate:.0} reports/s; paced at {}: {rate:.0} reports/s for {secs} s",
            if pace > 0 { "BENCH_PACE" } else { "half" }
        );

        // Paced intake: one request every 1/rate seconds, each on its own task, so a slow
        // answer does not slow the pace (what a flood of independent people does). A server
        // that falls behind would pile up connections until the client ran out of files; past
        // `MAX_WAITING` requests waiting, a tick sends nothing and is counted instead.
        const MAX_WAITING: usize = 2_000;
        // Its own client, which keeps every connection it opens: with the probe's pool (32 idle
        // at most) each answer past the 32nd closed its connection and the next request opened
        // another, 900–1,900 a second at 6,500 reports/s, work for the server's runtime and the
        // client on the same two cores that a load generator on fixed connections (wrk2 -R)
        // does not make.
        let paced = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(common::env_number("BENCH_PACED_POOL", MAX_WAITING))
            .build()
            .unwrap();
        // Its connections are open before its clock starts, as a load generator on fixed
        // connections opens its own before it measures: opened as the first requests went out,
        // hundreds at once right after the probe's flood, they stalled the first second (the
        // `NOT KEPT` of a run fell at 0.6 s, not at the sweep).
        let warm: usize = common::env_number("BENCH_PACED_WARM", 512);
        let opening: Vec<_> = (0..warm)
            .map(|_| tokio::spawn(paced.get(format!("{base}/healthz")).send()))
            .collect();
        for o in opening {
            assert_eq!(o.await.unwrap().unwrap().status(), 200);
        }
        let opened_before = tcp_active_opens();
        let cpu_paced = common::ThreadCpu::now();
        let started = Instant::now();
        let stop = started + Duration::from_secs(secs);
        let pacer = {
            let report = sender(paced, content.clone(), next.clone(), report_url.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let waiting = Arc::new(tokio::sync::Semaphore::new(MAX_WAITING));
                let mut inflight = Vec::new();
                let mut not_sent = 0usize;
                let mut dropped: Option<(Instant, Instant)> = None;
                while Instant::now() < stop {
                    tick.tick().await;
                    let Ok(permit) = waiting.clone().try_acquire_owned() else {
                        not_sent += 1;
                        let now = Instant::now();
                        dropped = Some(dropped.map_or((now, now), |(first, _)| (first, now)));
                        continue;
                    };
                    let report = report.clone();
                    inflight.push(tokio::spawn(async move {
                        let t = Instant::now();
                        assert_eq!(report().send().await.unwrap().status(), 303);
                        drop(permit);
                        (t, t.elapsed())
                    }));
                }
                let mut lat: Vec<(Instant, Duration)> = Vec::new();
                for t in inflight {
                    lat.push(t.await.unwrap());
                }
                (lat, not_sent, dropped)
            })
        };
        let board = readers.spawn(reader(staff.clone(), board_url, stop));
        let search = readers.spawn(reader(staff.clone(), search_url, stop));
        tokio::time::sleep(Duration::from_secs(secs / 2)).await;
        let t = Instant::now();
        let fired = rectify::jobs::sweep::sweep(&db, &settings, sweep_at, false)
            .await
            .unwrap();
        let sweep_time = t.elapsed();
        let (sent, not_sent, dropped) = pacer.await.unwrap();
        // Where the slow answers fell: a stall shows as a run of them around one moment.
        let at = |i: Instant| i.saturating_duration_since(started).as_secs_f64();
        let slow: Vec<f64> = sent
            .iter()
            .filter(|(_, l)| *l > Duration::from_millis(50))
            .map(|(t, _)| at(*t))
            .collect();
        let mut intake: Vec<Duration> = sent.iter().map(|(_, l)| *l).collect();
        let elapsed = started.elapsed().as_secs_f64();
        let opened = tcp_active_opens()
            .zip(opened_before)
            .map(|(a, b)| a.saturating_sub(b));
        let wal_mib = std::fs::metadata(wal.as_path()).map_or(0.0, |m| m.len() as f64 / 1048576.0);
        let paced_cpu = common::ThreadCpu::now().since(&cpu_paced, elapsed);
        let mut board = board.await.unwrap();
        let mut search = search.await.unwrap();
        intake.sort();
        board.sort();
        search.sort();
        println!(
            "intake paced:     {} reports in {elapsed:.1} s ({:.0}/s)  p50 {:.2} ms  p99 {:.2} ms",
            intake.len(),
            intake.len() as f64 / elapsed,
            common::pct_ms(&intake, 0.5),
            common::pct_ms(&intake, 0.99)
        );
        if let Some(n) = opened {
            println!("intake paced: {n} connections opened meanwhile (the readers' and the paced client's)");
        }
        let sweep_span = format!("{:.2} s to {:.2} s", at(t), at(t + sweep_time));
        if let (Some(first), Some(last)) = (
            slow.iter().copied().reduce(f64::min),
            slow.iter().copied().reduce(f64::max),
        ) {
            let mut seconds: Vec<u64> = slow.iter().map(|s| *s as u64).collect();
            seconds.sort_unstable();
            seconds.dedup();
            println!(
                "intake paced: {} answers over 50 ms, sent from {first:.2} s to {last:.2} s, in seconds {seconds:?} (the sweep ran from {sweep_span})",
                slow.len()
            );
        }
        if let Some((first, last)) = dropped {
            // When, against the sweep: a stall that the sweep's write causes shows as ticks
            // dropped from a little after it starts to a little after it ends.
            println!(
                "intake paced: NOT KEPT: {not_sent} reports due were not sent, {MAX_WAITING} already waiting for their answers (from {:.2} s to {:.2} s; the sweep ran from {sweep_span})",
                at(first),
                at(last),
            );
        }
        println!(
            "board (/board):   {} requests  p50 {:.1} ms  p95 {:.1} ms   (target p95 <= 50 ms); alone: p50 {:.1} ms  p95 {:.1} ms",
            board.len(),
            common::pct_ms(&board, 0.5),
            common::pct_ms(&board, 0.95),
            common::pct_ms(&board_alone, 0.5),
            common::pct_ms(&board_alone, 0.95)
        );
        println!(
            "search (隐私):    {} requests  p50 {:.1} ms  p95 {:.1} ms   (target p95 <= 100 ms); alone: p50 {:.1} ms  p95 {:.1} ms",
            search.len(),
            common::pct_ms(&search, 0.5),
            common::pct_ms(&search, 0.95),
            common::pct_ms(&search_alone, 0.5),
            common::pct_ms(&search_alone, 0.95)
        );
        println!(
            "sweep:            {} escalations fired in {:.0} ms   (target <= 1000 ms)",
            fired.fired.len(),
            sweep_time.as_secs_f64() * 1e3
        );
        assert_eq!(fired.fired.len(), DUE, "every due step fired");
        // Where the CPU went (cores used by each group of threads), and the intake writer's
        // time per report: at half rate its batches are small, so it costs more per report.
        let writer_us = |cpu: &[(String, f64)], secs: f64, reports: f64| {
            cpu.iter()
                .find(|(n, _)| n == "sqlite-intake")
                .map_or(0.0, |(_, share)| share * secs / reports * 1e6)
        };
        let alone_reports = max_rate * probe_secs as f64;
        println!(
            "CPU, intake alone: {}; writer {:.0} µs per report",
            common::ThreadCpu::line(&alone_cpu),
            writer_us(&alone_cpu, probe_secs as f64, alone_reports)
        );
        println!(
            "CPU, at half with the readers: {}; writer {:.0} µs per report",
            common::ThreadCpu::line(&paced_cpu),
            writer_us(&paced_cpu, elapsed, intake.len() as f64)
        );
        println!("WAL at the end of the paced intake: {wal_mib:.0} MiB");
        // Reports acknowledged from the inbox have no incident on the board until the writer
        // stores them: how many, and how long it took once the readers stopped.
        // Acknowledged less stored: reading every inbox row for the count (GiBs) would keep
        // the WAL from starting over while the writer stores them (see `intake`).
        let acknowledged = done.load(Ordering::Relaxed) + intake.len();
        let waiting = stored_before + acknowledged as i64 - common::reports_stored(&db).await;
        let took = common::inbox_emptied(&db).await;
        println!(
            "inbox: {waiting} reports waiting for their incidents at the end of the paced intake; all stored {:.1} s later",
            took.as_secs_f64()
        );
        let backlog = common::index_backlog(&db).await;
        println!("search index: {backlog} reports waiting to be indexed at the end (read directly meanwhile)");
        // A copy of the database as the readers last saw it, to look into afterwards.
        if let Ok(keep) = std::env::var("BENCH_KEEP_DB") {
            db.conn
                .execute_unprepared(&format!("VACUUM INTO '{}'", q(&keep)))
                .await
                .unwrap();
            println!("database copied to {keep}");
        }
    });
}

/// The request for the next report of the mix (9 in 10 distinct), numbered by `next`, as a web form.
fn sender(
    client: reqwest::Client,
    content: Arc<Content>,
    next: Arc<AtomicUsize>,
    url: String,
) -> impl Fn() -> reqwest::RequestBuilder + Clone {
    move || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(content.body(i, false))
    }
}

/// Connections this machine opened so far (Linux's `Tcp: ActiveOpens`), where it can be read.
fn tcp_active_opens() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let at = names.split_whitespace().position(|n| n == "ActiveOpens")?;
    values.split_whitespace().nth(at)?.parse().ok()
}
