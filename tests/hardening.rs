//! Hardening (issue 15), black-box: slow and idle clients, the connection cap, SIGTERM with a
//! slow client, a database locked by another process, unwritable database files, spoofed
//! X-Forwarded-For, request ids, and staff input that used to give 500.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::staff::{PASSWORD, add_user, form_tokens, sign_in};
use common::{Backend, TestApp, TestDb, backends, submit_form, valid_form, with};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, Statement, TransactionTrait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `limit` passes); returns what it sent and
/// whether it closed in time.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

async fn healthz_quickly(addr: SocketAddr) {
    let t = Instant::now();
    let r = common::client()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_while_a_normal_client_is_served() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.server.header_timeout_secs = 1;
        s.server.body_timeout_secs = 2;
        s.server.idle_timeout_secs = 2;
    })
    .await;
    let addr = app.addr;
    let connect = || async move { TcpStream::connect(addr).await.unwrap() };

    // Sends nothing.
    let mut silent = connect().await;
    // Half a request line.
    let mut half = connect().await;
    half.write_all(b"GET /heal").await.unwrap();
    // Headers one byte at a time, slower than the header timeout allows in total.
    let mut dribble = connect().await;
    let dribbler = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n\r\n" {
            if dribble.write_all(&[*b]).await.is_err() {
                return (dribble, true);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        (dribble, false)
    });
    // A body at one byte per 300 ms: 40 bytes take 12 s, over the 2 s body timeout.
    let mut slow_body = connect().await;
    slow_body
        .write_all(
            b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n",
        )
        .await
        .unwrap();
    let body_dribbler = tokio::spawn(async move {
        for _ in 0..40 {
            if slow_body.write_all(b"a").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        slow_body
    });
    // An idle keep-alive connection after one request.
    let mut idle = connect().await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).ends_with("\r\n\r\nok") {
        let mut buf = [0u8; 512];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the first answer: {:?}",
            String::from_utf8_lossy(&first)
        );
        first.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&first).starts_with("HTTP/1.1 200"));

    // Meanwhile a normal client is served at once.
    healthz_quickly(addr).await;

    let t = Instant::now();
    let (said, closed) = closed_within(&mut silent, Duration::from_secs(4)).await;
    assert!(
        closed && said.is_empty(),
        "a silent connection is closed: {said:?}"
    );
    let (_, closed) = closed_within(&mut half, Duration::from_secs(4)).await;
    assert!(closed, "half a request line is cut off");
    let (_, cut) = tokio::time::timeout(Duration::from_secs(8), dribbler)
        .await
        .expect("the dribbling client is cut off before it finishes")
        .unwrap();
    assert!(cut, "slow headers are cut off");
    let (said, closed) = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(
        closed && said.is_empty(),
        "an idle keep-alive connection is closed: {said:?}"
    );
    let mut slow_body = tokio::time::timeout(Duration::from_secs(15), body_dribbler)
        .await
        .unwrap()
        .unwrap();
    let (said, closed) = closed_within(&mut slow_body, Duration::from_secs(1)).await;
    assert!(closed, "a slow body ends its connection");
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 4"),
        "a slow body is answered 4xx or not at all: {said:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(16));
    healthz_quickly(addr).await;
    assert_eq!(
        rectify::db::entities::report::Entity::find()
            .count(&app.db.conn)
            .await
            .unwrap(),
        0,
        "nothing half-sent was stored"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_once_and_served_again_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.server.max_connections = 3;
        s.server.header_timeout_secs = 30;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Let the server accept those three first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let (said, closed) = closed_within(&mut extra, Duration::from_secs(2)).await;
    assert!(closed, "refused, not left waiting");
    assert!(said.starts_with("HTTP/1.1 503"), "{said:?}");
    assert!(said.contains("Retry-After: 1"), "{said:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    drop(held);
    // The slots come back as the held connections close.
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(r) = app.client.get(app.url("/healthz")).send().await
            && r.status() == 200
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "served again once connections closed");
    app.stop().await;
}

fn rectify() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rectify"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("RECTIFY_ENV");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_grace_period_with_a_slow_client_connected() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut child = rectify()
        .env("RECTIFY_SERVER__ADDR", "127.0.0.1:0")
        .env("RECTIFY_SERVER__SHUTDOWN_GRACE_SECS", "2")
        .env("RECTIFY_SERVER__BODY_TIMEOUT_SECS", "600")
        .env("RECTIFY_DATABASE__URL", &db.url)
        .env("RECTIFY_MAIL__DIR", db.dir().join("mail"))
        .env("RECTIFY_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let addr: String = line[i + "listening on http://".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(addr);
            }
        }
    });
    let addr: SocketAddr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server logs its address")
        .parse()
        .unwrap();
    // A slow client in the middle of a body the server waits for.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /report HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\noutput=a",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t.elapsed() > Duration::from_secs(10) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let Some(exit) = exited else {
        let _ = child.kill();
        panic!("still running 10 s after SIGTERM with a slow client connected");
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "exits within the 2 s grace (and a margin): {:?}",
        t.elapsed()
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// Holds the database's write lock from another connection, as another process would.
enum Holder {
    Sqlite(rusqlite::Connection),
    Postgres(sea_orm::DatabaseTransaction),
}

async fn hold_lock(app: &TestApp) -> Holder {
    match app.test_db.backend {
        Backend::Sqlite => {
            let path = app.db.sqlite_file().unwrap();
            let c = rusqlite::Connection::open(path).unwrap();
            c.execute_batch(
                "BEGIN EXCLUSIVE; INSERT INTO ready_probe (id, probes) VALUES (99, 0);",
            )
            .unwrap();
            Holder::Sqlite(c)
        }
        Backend::Postgres => {
            let conn = sea_orm::Database::connect(&app.test_db.url).await.unwrap();
            let txn = conn.begin().await.unwrap();
            for table in ["reports", "incidents", "ready_probe"] {
                txn.execute_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"),
                ))
                .await
                .unwrap();
            }
            Holder::Postgres(txn)
        }
    }
}

async fn release(h: Holder) {
    match h {
        Holder::Sqlite(c) => c.execute_batch("ROLLBACK").unwrap(),
        Holder::Postgres(t) => t.rollback().await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_answers_503_with_retry_after_within_the_write_timeout() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |s| {
            s.database.write_timeout_ms = 1000;
            s.limits.intake_burst = 0;
        })
        .await;
        let (_, before) = submit_form(&app, &valid_form()).await;
        let lock = hold_lock(&app).await;
        let t = Instant::now();
        let page = app
            .client
            .post(app.url("/report"))
            .form(&with(valid_form(), "output", "locked out, form"))
            .send()
            .await
            .unwrap();
        let took = t.elapsed();
        assert_eq!(
            page.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{backend:?}"
        );
        assert!(page.headers().contains_key("retry-after"));
        assert!(
            took < Duration::from_secs(4),
            "{backend:?}: answered in {took:?}"
        );
        let text = page.text().await.unwrap();
        assert!(text.contains("try again"), "{text}");
        let api = app
            .client
            .post(app.url("/api/v1/reports"))
            .json(&serde_json::json!({
                "output": "locked out, api", "category": "accuracy.inaccurate",
                "description": "x", "good_faith": true
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(api.headers().contains_key("retry-after"));
        let json: serde_json::Value = api.json().await.unwrap();
        assert_eq!(json["error"], "unavailable");
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(
            ready.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{backend:?}"
        );
        release(lock).await;

        // Served again, and what was acknowledged is there; what was answered 503 is not.
        let (_, after) = submit_form(&app, &with(valid_form(), "output", "after the lock")).await;
        let codes: Vec<String> = rectify::db::entities::report::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.tracking_code)
            .collect();
        assert_eq!(codes.len(), 2, "{backend:?}: {codes:?}");
        assert!(codes.contains(&before) && codes.contains(&after));
        let mut ready_again = false;
        for _ in 0..40 {
            if app
                .client
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                == 200
            {
                ready_again = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready_again, "{backend:?}: ready once the lock is gone");
        app.stop().await;
    }
}

/// `chattr +i` (immutable: not writable even by root, as the tests run), undone on drop.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &std::path::Path) -> Immutable {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Not root: permissions do it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        Immutable(path.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o644));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_database_file_stops_start_up_naming_its_path() {
    for suffix in ["-shm", "-wal", ""] {
        let db = TestDb::new(Backend::Sqlite).await;
        let settings = common::test_settings(&db);
        // Closed before the files are looked at: a dropped pool closes in the background, and
        // its last connection removes the -wal and -shm files whenever it gets to it.
        rectify::app::connect_and_migrate(&settings)
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
        let file = db.dir().join(format!("rectify.db{suffix}"));
        if !file.exists() {
            std::fs::write(&file, b"").unwrap();
        }
        let _ro = Immutable::set(&file);
        let err = match rectify::app::Application::build(settings).await {
            Ok(_) => panic!("started with {} unwritable", file.display()),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains(&file.display().to_string()) && err.contains("not writable"),
            "{suffix}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_the_wal_is_unwritable_and_intake_answers_503_then_recovers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    submit_form(&app, &valid_form()).await;
    let ready = |app: &TestApp| {
        let c = app.client.clone();
        let url = app.url("/readyz");
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&app).await, 200);
    let wal = app.test_db.dir().join("rectify.db-wal");
    assert!(wal.exists());
    let ro = Immutable::set(&wal);
    let mut saw = 0;
    for _ in 0..40 {
        saw = ready(&app).await;
        if saw == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(saw, 503, "not ready while the WAL cannot be written");
    let resp = app
        .client
        .post(app.url("/report"))
        .form(&with(valid_form(), "output", "while the disk fails"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    drop(ro);
    for _ in 0..40 {
        saw = ready(&app).await;
        if saw == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if saw != 200 {
        let body = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!("not ready again once the file is writable: {body}");
    }
    submit_form(
        &app,
        &with(valid_form(), "output", "after the disk is back"),
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_forwarded_for_headers_resolve_to_the_real_client() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.0/8".into()];
        s.limits.intake_burst = 2;
        s.limits.intake_per_minute = 1;
    })
    .await;
    let post = |xff: String| {
        let c = app.client.clone();
        let url = app.url("/report");
        async move {
            c.post(url)
                .header("x-forwarded-for", xff)
                .form(&valid_form())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A fresh spoofed first hop each time does not make a new client.
    for n in 0..2 {
        assert_eq!(post(format!("6.6.6.{n}, 203.0.113.9, 10.1.2.3")).await, 303);
    }
    assert_eq!(post("6.6.6.77, 203.0.113.9, 10.1.2.3".into()).await, 429);
    assert_eq!(
        post("203.0.113.9".into()).await,
        429,
        "the same client without a chain"
    );
    assert_eq!(
        post("203.0.113.10, 10.1.2.3".into()).await,
        303,
        "another client"
    );
    app.stop().await;

    // Without trusted proxies the header is ignored: the socket's peer is the client.
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.intake_burst = 1;
        s.limits.intake_per_minute = 1;
    })
    .await;
    let c = app.client.clone();
    let mut statuses = Vec::new();
    for n in 0..2 {
        statuses.push(
            c.post(app.url("/report"))
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .form(&valid_form())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![303, 429]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id_and_only_a_trusted_proxy_may_set_it() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.server.trusted_proxies = vec!["127.0.0.2".into()];
    })
    .await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.len() >= 16, "{id}");
    let r = app
        .client
        .get(app.url("/"))
        .header("x-request-id", "spoofed-id")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "spoofed-id");
    let proxy = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = proxy
        .get(app.url("/"))
        .header("x-request-id", "edge-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "edge-42");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_input_that_gave_500_gets_its_4xx() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "lead@example.com", "lead").await;
        add_user(&app, "admin@example.com", "admin").await;
        let (id, _) = submit_form(&app, &valid_form()).await;
        let c = sign_in(&app, "lead@example.com").await;
        let (csrf, version, _) = form_tokens(&app, &c, id).await;
        let post = |fields: Vec<(&'static str, String)>| {
            let c = c.clone();
            let url = app.url(&format!("/incidents/{id}/act"));
            async move { c.post(url).form(&fields).send().await.unwrap() }
        };
        let base = |action: &str| {
            vec![
                ("csrf", csrf.clone()),
                ("version", version.clone()),
                ("action", action.to_string()),
            ]
        };

        // Unknown assignee: 422 with a sentence, not a foreign-key 500.
        let mut f = base("assign");
        f.push(("assignee", "99999".into()));
        let r = post(f).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("no active staff account number 99999")
        );

        // No version, or not a number: 400, the stale-page check is not skipped.
        for v in [None, Some("abc")] {
            let mut f: Vec<(&str, String)> = base("comment")
                .into_iter()
                .filter(|(k, _)| *k != "version")
                .collect();
            if let Some(v) = v {
                f.push(("version", v.into()));
            }
            f.push(("text", "hello".into()));
            assert_eq!(post(f).await.status(), StatusCode::BAD_REQUEST, "{v:?}");
        }

        // Free text: control characters, length, invisible-only.
        for (text, why) in [
            ("bad \u{0}\u{1b}[31m".to_string(), "control characters"),
            ("x".repeat(300_000), "longer than"),
            ("\u{200b}\u{feff} \u{3164}".to_string(), "required"),
        ] {
            let mut f = base("reject");
            f.push(("reasons", text));
            let r = post(f).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
            let page = r.text().await.unwrap();
            assert!(page.to_lowercase().contains(why), "{why}");
        }

        // Malformed ids.
        let r = c
            .post(app.url("/incidents/abc/act"))
            .form(&base("comment"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let admin = sign_in(&app, "admin@example.com").await;
        let page = admin
            .get(app.url(&format!("/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let key = "name=\"csrf\" value=\"";
        let i = page.find(key).unwrap() + key.len();
        let admin_csrf = page[i..].split('"').next().unwrap().to_string();
        let r = admin
            .post(app.url("/admin/outbox/retry"))
            .form(&[("csrf", admin_csrf.as_str()), ("id", "abc")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::BAD_REQUEST,
            "id=abc does not requeue all"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_next_value_is_a_same_site_path_or_the_board() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "a@example.com", "lead").await;
    let form = app
        .client
        .get(app.url("/login?next=/%0A"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("value=\"/board\""));
    for (next, want) in [
        ("/\n", "/board"),
        ("/\t/evil.example", "/board"),
        ("//evil.example", "/board"),
        ("/\\evil.example", "/board"),
        ("https://evil.example/", "/board"),
        ("/incidents/1?x=1", "/incidents/1?x=1"),
        ("/board?q=数据", "/board?q=%E6%95%B0%E6%8D%AE"),
    ] {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = c
            .post(app.url("/login"))
            .form(&[
                ("email", "a@example.com"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(r.headers()["location"], want, "{next:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_the_mailer_cannot_use_are_refused_at_intake() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let long = format!("a@{}.com", "x".repeat(64));
    for bad in [
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "a@-example.com",
        long.as_str(),
        "张三@example.com",
    ] {
        let r = app
            .client
            .post(app.url("/report"))
            .form(&with(valid_form(), "email", bad))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let page = r.text().await.unwrap();
        assert!(
            page.contains("ada@example.com") || page.contains("Ada"),
            "typed values kept"
        );
        if bad.starts_with('张') {
            assert!(page.contains("before the @"), "a clear message for {bad}");
        }
    }
    // A Unicode domain is accepted and stored as punycode, so the mail can be sent.
    let (_, code) = submit_form(&app, &with(valid_form(), "email", "zhang@例子.中国")).await;
    let r = app.report(code.as_str()).await;
    assert_eq!(
        r.reporter_email.as_deref(),
        Some("zhang@xn--fsqu00a.xn--fiqs8s")
    );
    app.stop().await;
}

#[test]
fn user_add_needs_a_password_on_stdin_and_refuses_control_characters_in_names() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    let run = |name: &str, stdin: &str| {
        let mut child = rectify()
            .env("RECTIFY_DATABASE__URL", &url)
            .args([
                "user",
                "add",
                "--email",
                "x@example.com",
                "--role",
                "lead",
                "--name",
                name,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("Ada", "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no password on standard input"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password (shown once)"));
    let out = run("Ada\u{1b}[2J", "a long enough password\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("control characters"));
    let out = run("Ada", "a long enough password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unopenable_database_names_its_path_and_an_unreachable_server_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let bad = blocker.join("sub").join("r.db");
    let out = rectify()
        .env(
            "RECTIFY_DATABASE__URL",
            format!("sqlite://{}?mode=rwc", bad.display()),
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&blocker.display().to_string()), "{err}");
    let t = Instant::now();
    let out = rectify()
        .env(
            "RECTIFY_DATABASE__URL",
            "postgres://rectify@127.0.0.1:1/rectify",
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("127.0.0.1:1") && err.to_lowercase().contains("refused"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(15));
}

/// A seeded, bounded random walk over the public and staff routes, as the fuzzing that found
/// no 5xx did: every answer must be below 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_over_public_and_staff_routes_give_no_5xx() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.intake_burst = 0;
    })
    .await;
    add_user(&app, "lead@example.com", "lead").await;
    let (id, code) = submit_form(&app, &valid_form()).await;
    let staff = sign_in(&app, "lead@example.com").await;
    let (csrf, version, _) = form_tokens(&app, &staff, id).await;
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let nasty = [
        "",
        " ",
        "\u{0}",
        "\u{1b}[2J",
        "%00",
        "%ZZ",
        "<script>alert(1)</script>",
        "'; DROP TABLE reports; --",
        "../../etc/passwd",
        "\u{202e}",
        "\u{200b}",
        "数据",
        "-1",
        "0",
        "9223372036854775808",
        "1e999",
        "NaN",
        "abc",
        "/%0A",
        "//evil.example",
        "\\",
        "a@b",
        ".a@example.com",
    ];
    let paths = [
        "/".to_string(),
        "/report".into(),
        "/status".into(),
        format!("/status/{code}"),
        "/status/XXXX".into(),
        "/login".into(),
        "/board".into(),
        format!("/incidents/{id}"),
        format!("/incidents/{id}/act"),
        "/incidents/abc".into(),
        "/admin/outbox".into(),
        "/admin/outbox/retry".into(),
        "/api/v1/reports".into(),
        "/readyz".into(),
        "/healthz".into(),
        "/nope".into(),
        format!("/incidents/{id}/cases"),
    ];
    let fields = [
        "output",
        "prompt",
        "category",
        "description",
        "email",
        "good_faith",
        "action",
        "version",
        "reasons",
        "assignee",
        "target",
        "text",
        "next",
        "code",
        "id",
        "csrf",
        "severity",
        "kind",
        "on",
        "lang",
    ];
    let actions = [
        "triage", "reject", "merge", "assign", "comment", "contain", "x", "",
    ];
    let mut fives = Vec::new();
    for n in 0..2500 {
        let path = &paths[rng.random_range(0..paths.len())];
        let mut form: Vec<(String, String)> = Vec::new();
        for _ in 0..rng.random_range(0..6) {
            let k = fields[rng.random_range(0..fields.len())];
            let v = match k {
                "action" => actions[rng.random_range(0..actions.len())].to_string(),
                "csrf" if rng.random_bool(0.8) => csrf.clone(),
                "version" if rng.random_bool(0.5) => version.clone(),
                _ => {
                    let mut v = nasty[rng.random_range(0..nasty.len())].to_string();
                    if rng.random_bool(0.1) {
                        v = v.repeat(rng.random_range(1..5000));
                    }
                    v
                }
            };
            form.push((k.to_string(), v));
        }
        let client = if rng.random_bool(0.5) {
            &staff
        } else {
            &app.client
        };
        let q = if rng.random_bool(0.2) {
            format!(
                "?lang={}&next={}",
                nasty[rng.random_range(0..nasty.len())],
                "%0A"
            )
        } else {
            String::new()
        };
        let url = app.url(&format!("{path}{q}"));
        let req = match rng.random_range(0..4) {
            0 => client.get(url),
            1 => client.post(url).form(&form),
            2 => client.post(url).json(
                &form
                    .iter()
                    .cloned()
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
            _ => client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    (0..rng.random_range(0..200))
                        .map(|_| rng.random::<u8>())
                        .collect::<Vec<u8>>(),
                ),
        };
        let status = req.send().await.unwrap().status();
        if status.is_server_error() {
            fives.push((n, path.clone(), status));
        }
    }
    assert!(fives.is_empty(), "5xx answers: {fives:?}");
    app.stop().await;
}
