//! The `rectify` binary as a newcomer runs it: start-up, settings errors, migrate, and that a
//! report answered 303 survives `kill -9` of the server right after.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestDb, backends, client, valid_form};

fn rectify() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rectify"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("RECTIFY_ENV");
    c
}

/// Starts `rectify serve` on port 0 and reads the address it logs.
fn start(db: &TestDb) -> (Child, String) {
    let mut child = rectify()
        .env("RECTIFY_SERVER__ADDR", "127.0.0.1:0")
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
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server logs its address");
    (child, format!("http://{addr}"))
}

#[tokio::test]
async fn a_report_answered_303_survives_kill_9() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let (mut child, base) = start(&db);
        let c = client();
        let mut codes = Vec::new();
        for i in 0..20 {
            let form: Vec<(&str, String)> = valid_form()
                .into_iter()
                .map(|(k, v)| {
                    if k == "output" {
                        (k, format!("{v} #{i}"))
                    } else {
                        (k, v)
                    }
                })
                .collect();
            let resp = c
                .post(format!("{base}/report"))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 303);
            codes.push(resp.headers()["location"].to_str().unwrap().to_string());
        }
        // SIGKILL: no shutdown hook, no flush.
        child.kill().unwrap();
        child.wait().unwrap();
        let (mut child, base) = start(&db);
        for loc in &codes {
            let resp = c.get(format!("{base}{loc}")).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{backend:?}: {loc} lost after kill -9");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        db.drop_db().await;
    }
}

#[test]
fn a_bad_setting_stops_start_up_naming_it() {
    for (key, value, named) in [
        ("RECTIFY_SERVER__ADDR", "not-an-address", "addr"),
        ("RECTIFY_MAIL__TRANSPORT", "pigeon", "transport"),
        ("RECTIFY_DATABASE__URL", "mysql://x", "database.url"),
        ("RECTIFY_LIMITS__MAX_BODY_BYTES", "lots", "max_body_bytes"),
        ("RECTIFY_PUBLIC__DEFAULT_LOCALE", "fr", "default_locale"),
        ("RECTIFY_MAIL__SMTP_URL", "ftp://mail.example", "smtp_url"),
        ("RECTIFY_SERVER__NO_SUCH_KEY", "1", "no_such_key"),
    ] {
        let out = rectify().arg("serve").env(key, value).output().unwrap();
        assert!(!out.status.success(), "{key}={value} must stop start-up");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(named),
            "{key}: message should name {named}: {err}"
        );
    }
}

#[test]
fn migrate_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let out = rectify()
        .arg("migrate")
        .env("RECTIFY_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("m.db").exists());
    // Migrating again is a no-op.
    assert!(
        rectify()
            .arg("migrate")
            .env("RECTIFY_DATABASE__URL", &url)
            .output()
            .unwrap()
            .status
            .success()
    );
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
    ] {
        let out = rectify().args(&args).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn the_shipped_environment_files_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for env in [None, Some("test"), Some("production.example")] {
        let s = rectify::config::Settings::load_from(&dir, env, false)
            .unwrap_or_else(|e| panic!("{env:?}: {e}"));
        assert_eq!(s.public.feedback_working_days, 15);
    }
    let prod =
        rectify::config::Settings::load_from(&dir, Some("production.example"), false).unwrap();
    assert_eq!(prod.server.public_url.scheme(), "https");
    assert!(rectify::config::Settings::load_from(&dir, Some("no-such-env"), false).is_err());
}
