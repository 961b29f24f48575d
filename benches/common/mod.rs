//! What the benchmarks share: settings for a server on port 0 with a fresh SQLite database,
//! numbers from the environment, and signed-in staff.
#![allow(dead_code)]

pub mod content;

use std::path::Path;

use rectify::config::Settings;

/// The shipped defaults, with the server on a free port and its database and mail in `dir`.
pub fn sqlite_settings(dir: &Path) -> Settings {
    let mut s = Settings::load_from(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        None,
        false,
    )
    .expect("config/default.toml loads");
    s.server.addr = "127.0.0.1:0".parse().unwrap();
    s.database.url = format!("sqlite://{}?mode=rwc", dir.join("rectify.db").display());
    s.mail.dir = dir.join("mail");
    s
}

/// ../shared/data beside the repository (or beside the worktrees' folder): real text for
/// benchmark content.
pub fn data_dir() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [root.join("../shared/data"), root.join("../../shared/data")]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| root.join("../shared/data"))
}

/// The p-quantile (0..=1) of sorted latencies; zero for none.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// [`percentile`] in milliseconds.
pub fn pct_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    percentile(sorted, p).as_secs_f64() * 1e3
}

/// A number from the environment, or the default.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits until the server has indexed every report for search (at most ten minutes); how long
/// that took.
pub async fn index_caught_up(db: &rectify::db::Db) -> std::time::Duration {
    let t = std::time::Instant::now();
    while (inbox_waits(db).await || index_backlog(db).await > 0)
        && t.elapsed() < std::time::Duration::from_secs(600)
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    t.elapsed()
}

/// Waits until SQLite's intake inbox is empty; returns how long that took.
pub async fn inbox_emptied(db: &rectify::db::Db) -> std::time::Duration {
    let t = std::time::Instant::now();
    while inbox_waits(db).await && t.elapsed() < std::time::Duration::from_secs(600) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    t.elapsed()
}

/// SQLite: whether any row waits in intake's inbox. The waits poll this, not a count of the
/// inbox's reports: that read every row (hundreds of MiB after a flood) and took long enough
/// that, polled every 100 ms, one read overlapped the next, and the WAL, which cannot start
/// over while a reader is on it, grew to 1.9 GiB while the inbox was stored. The benches count
/// the reports waiting as acknowledged less stored ([`reports_stored`]).
pub async fn inbox_waits(db: &rectify::db::Db) -> bool {
    !db.is_postgres() && scalar(db, "SELECT EXISTS (SELECT 1 FROM intake_inbox)").await != 0
}

/// How many reports are stored: the highest id, as reports are never deleted during a bench
/// (a count would read the whole table).
pub async fn reports_stored(db: &rectify::db::Db) -> i64 {
    scalar(db, "SELECT COALESCE(MAX(id), 0) FROM reports").await
}

/// SQLite: how many reports the intake writer has not indexed for search yet.
pub async fn index_backlog(db: &rectify::db::Db) -> i64 {
    let sql = if db.is_postgres() {
        "SELECT COUNT(*) FROM report_texts_queue"
    } else {
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM reports) - \
         (SELECT indexed_to FROM search_marks WHERE tbl = 'reports')"
    };
    scalar(db, sql).await
}

/// The one integer a query returns.
async fn scalar(db: &rectify::db::Db, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    db.conn
        .query_one_raw(sea_orm::Statement::from_string(db.backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// The staff accounts' password (`u{i}@example.com`).
pub const STAFF_PASSWORD: &str = "benchmark password";

/// One staff account per role, `u0@example.com` first.
pub async fn create_staff(
    db: &rectify::db::Db,
    roles: &[&str],
    now: chrono::DateTime<chrono::Utc>,
) {
    let hash = rectify::web::staff::auth::hash_password(STAFF_PASSWORD.into())
        .await
        .unwrap();
    for (i, role) in roles.iter().enumerate() {
        rectify::db::users::create(
            db,
            &format!("u{i}@example.com"),
            &format!("User {i}"),
            role,
            &hash,
            now,
        )
        .await
        .unwrap();
    }
}

/// A client signed in as `u0@example.com` at the server at `base`.
pub async fn signed_in(base: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[("email", "u0@example.com"), ("password", STAFF_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in");
    c
}

/// CPU time of this process's threads, grouped by name (digits and a trailing `-` dropped, so
/// `sqlx-sqlite-worker-3` counts as `sqlx-sqlite-worker`): a bench that runs the server
/// in-process can say where a phase's CPU went without a profiler. Read from the scheduler's
/// own account (`/proc/self/task/*/schedstat`, nanoseconds on a core); Linux only, and empty
/// elsewhere.
#[derive(Debug, Clone, Default)]
pub struct ThreadCpu(std::collections::BTreeMap<String, u64>);

impl ThreadCpu {
    pub fn now() -> ThreadCpu {
        let mut by_name = std::collections::BTreeMap::new();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return ThreadCpu(by_name);
        };
        for task in tasks.flatten() {
            let path = task.path();
            let (Ok(comm), Ok(stat)) = (
                std::fs::read_to_string(path.join("comm")),
                std::fs::read_to_string(path.join("schedstat")),
            ) else {
                continue;
            };
            let ns: u64 = stat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let name = comm
                .trim()
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .trim_end_matches('-')
                .to_owned();
            *by_name.entry(name).or_insert(0) += ns;
        }
        ThreadCpu(by_name)
    }

    /// What each group used since `earlier`, as a share of one core over `secs`, largest
    /// first (threads that ended meanwhile are not counted).
    pub fn since(&self, earlier: &ThreadCpu, secs: f64) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .0
            .iter()
            .map(|(name, &ns)| {
                let before = earlier.0.get(name).copied().unwrap_or(0);
                (name.clone(), ns.saturating_sub(before) as f64 / 1e9 / secs)
            })
            .filter(|(_, share)| *share >= 0.005)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// Shares from [`ThreadCpu::since`] on one line: `name 0.62, other 0.31 (sum 0.93 cores)`.
    pub fn line(shares: &[(String, f64)]) -> String {
        let total: f64 = shares.iter().map(|(_, s)| s).sum();
        let parts: Vec<String> = shares.iter().map(|(n, s)| format!("{n} {s:.2}")).collect();
        format!("{} (sum {total:.2} cores)", parts.join(", "))
    }
}
