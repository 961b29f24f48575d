//! Test helpers: the real application on port 0 with a fresh database of its own, on SQLite and
//! on PostgreSQL (`RECTIFY_TEST_POSTGRES_URL`, by default the local server on 127.0.0.1:5432; a
//! test fails with the command that starts one when none answers).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rectify::app::Application;
use rectify::config::{MailTransport, Settings};
use rectify::db::Db;
use sea_orm::{ConnectionTrait, Database, Statement};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends every database test runs on: both, always.
pub fn backends() -> Vec<Backend> {
    vec![Backend::Sqlite, Backend::Postgres]
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("RECTIFY_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => TestDb {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("rectify.db").display()
                ),
                backend,
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("rectify_t_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL does not answer at {admin} ({e}): run {} or set \
                         RECTIFY_TEST_POSTGRES_URL to a server that does",
                        record::FIX
                    )
                });
                record::used("postgres");
                conn.execute_raw(Statement::from_string(
                    conn.get_database_backend(),
                    format!("CREATE DATABASE {name}"),
                ))
                .await
                .expect("create test database");
                conn.close().await.ok();
                TestDb {
                    url: replace_db_name(&admin, &name),
                    backend,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Drops a PostgreSQL test database (SQLite files go with the temporary folder).
    pub async fn drop_db(&self) {
        if let Some(name) = &self.pg_name
            && let Ok(conn) = Database::connect(&postgres_admin_url()).await
        {
            let _ = conn
                .execute_raw(Statement::from_string(
                    conn.get_database_backend(),
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ))
                .await;
            conn.close().await.ok();
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("postgres URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// Settings from config/default.toml with the test's database, mail folder and port 0.
pub fn test_settings(db: &TestDb) -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut s = Settings::load_from(&dir, None, false).expect("default settings");
    s.server.addr = "127.0.0.1:0".parse().unwrap();
    s.database.url = db.url.clone();
    s.mail.transport = MailTransport::File;
    s.mail.dir = db.dir().join("mail");
    s.attachments.dir = db.dir().join("attachments");
    s.mail.deliver_interval_secs = 1;
    s
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db: Db,
    pub test_db: TestDb,
    pub settings: Settings,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// The server runs on the test's own runtime. A test that runs the `rectify` binary beside
    /// it (`std::process::Command::output` blocks its thread) must use the multi-thread runtime
    /// (`#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`): on the default
    /// single thread the server stops mid-transaction, say with SQLite's write lock taken by a
    /// `BEGIN IMMEDIATE` whose answer waits for that thread, and the command fails with
    /// "database is locked" after the busy timeout. `serve` itself runs on the multi-thread
    /// runtime.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let test_db = TestDb::new(backend).await;
        let mut settings = test_settings(&test_db);
        tweak(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("build app");
        let addr = app.local_addr();
        let db = app.state().db.clone();
        let settings = (*app.state().settings).clone();
        let server = tokio::spawn(async move {
            app.run_until_stopped().await.expect("server");
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            db,
            test_db,
            settings,
            client: client(),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Posts a body as it is, with the content type given (for bodies a form or JSON helper
    /// would not send).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// The stored report with this tracking code (it must be there).
    pub async fn report(&self, code: &str) -> rectify::db::entities::report::Model {
        use rectify::db::entities::report;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        report::Entity::find()
            .filter(report::Column::TrackingCode.eq(code))
            .one(&self.db.conn)
            .await
            .unwrap()
            .expect("the report is stored")
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.settings.mail.dir.clone()
    }

    pub async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        self.db.conn.clone().close().await.ok();
        self.test_db.drop_db().await;
    }
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The form fields of a valid report, to change one at a time.
pub fn valid_form() -> Vec<(&'static str, String)> {
    vec![
        ("output", "The capital of Australia is Sydney.".into()),
        ("prompt", "What is the capital of Australia?".into()),
        ("model", "demo-chat".into()),
        ("model_version", "2026-11".into()),
        ("url", "conv-1234".into()),
        ("category", "accuracy.inaccurate".into()),
        ("description", "The capital is Canberra.".into()),
        ("name", "Ada".into()),
        ("email", "ada@example.com".into()),
        ("good_faith", "on".into()),
    ]
}

pub fn with(
    mut form: Vec<(&'static str, String)>,
    field: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    form.retain(|(k, _)| *k != field);
    form.push((field, value.to_string()));
    form
}

pub fn without(mut form: Vec<(&'static str, String)>, field: &str) -> Vec<(&'static str, String)> {
    form.retain(|(k, _)| *k != field);
    form
}

/// Waits (bounded) for the outbox worker to write `n` mails into the folder.
pub async fn wait_for_mail(dir: &Path, n: usize) -> Vec<PathBuf> {
    for _ in 0..100 {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if files.len() >= n {
            return files;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("expected {n} mail(s) in {}", dir.display());
}
pub mod record;
pub mod smtp;
pub mod staff;

/// The incident's clock `name`; panics when it has none.
pub async fn clock(
    app: &TestApp,
    incident: i64,
    name: &str,
) -> rectify::db::entities::incident_clock::Model {
    use rectify::db::entities::incident_clock;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    incident_clock::Entity::find()
        .filter(incident_clock::Column::IncidentId.eq(incident))
        .filter(incident_clock::Column::Clock.eq(name))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("incident {incident} has no {name} clock"))
}

/// Posts `form` to the public report form and returns the report's incident id and its
/// tracking code.
pub async fn submit_form(app: &TestApp, form: &[(&'static str, String)]) -> (i64, String) {
    let resp = app
        .client
        .post(app.url("/report"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "the report is accepted");
    let code = resp.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/status/")
        .to_string();
    let incident_id = app.report(&code).await.incident_id;
    (incident_id, code)
}
