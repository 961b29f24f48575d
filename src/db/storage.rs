//! Whether the database can be written: checked at start-up (every file SQLite will write,
//! and their folder) and by `/readyz` at run time (a real committed write, cached briefly).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};

use super::{Db, DbError};

/// Refuses to start on an SQLite database that cannot be written: the database file, its
/// folder, and its `-wal` and `-shm` files where they exist. A read-only `-shm` would be mapped
/// into memory and the first write to it kill the process with SIGBUS and no log line; a
/// read-only `-wal` or main file fails every write with "disk I/O error" later.
pub fn check_writable(db_file: &Path) -> Result<(), DbError> {
    let dir = match db_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let probe = dir.join(format!(".rectify-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => return Err(unwritable(&dir, "folder", e)),
    }
    let mut files = vec![(db_file.to_path_buf(), "database file")];
    for (suffix, what) in [("-wal", "write-ahead log"), ("-shm", "shared-memory file")] {
        let mut p = db_file.as_os_str().to_owned();
        p.push(suffix);
        files.push((PathBuf::from(p), what));
    }
    for (path, what) in files {
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unwritable(&path, what, e)),
        }
    }
    Ok(())
}

fn unwritable(path: &Path, what: &str, e: std::io::Error) -> DbError {
    DbError::Setup(format!(
        "the SQLite {what} {} is not writable ({e}); fix its permissions (or attributes, e.g. \
         chattr -i) and start again",
        path.display()
    ))
}

/// `/readyz`'s write probe: one committed write through the same path every write takes,
/// at most once per `every`; the answers in between are the last one's.
pub struct ReadyProbe {
    every: Duration,
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    /// One probe at a time; others meanwhile take the last answer.
    running: tokio::sync::Mutex<()>,
}

impl ReadyProbe {
    pub fn new(every: Duration) -> ReadyProbe {
        ReadyProbe {
            every,
            last: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, now: Instant) -> Option<Result<(), String>> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(at, _)| now.duration_since(*at) < self.every)
            .map(|(_, r)| r.clone())
    }

    pub async fn check(&self, db: &Db) -> Result<(), String> {
        if let Some(r) = self.cached(Instant::now()) {
            return r;
        }
        let _one = self.running.lock().await;
        if let Some(r) = self.cached(Instant::now()) {
            return r;
        }
        // Bounded: a probe stuck behind a lock is an answer too.
        let r = match tokio::time::timeout(db.write_timeout() * 2, write_probe(db)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the write probe did not finish within the write timeout".into()),
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), r.clone()));
        r
    }
}

const PROBE_SQL: &str = "INSERT INTO ready_probe (id, probes) VALUES (1, 1) \
    ON CONFLICT (id) DO UPDATE SET probes = ready_probe.probes + 1";

async fn write_probe(db: &Db) -> Result<(), DbError> {
    if !db.is_postgres() {
        // Through the writer thread when it runs: a writer that stopped is not ready either.
        if let Some(r) = db
            .on_writer(|txn| {
                txn.execute(PROBE_SQL, [])?;
                Ok(())
            })
            .await
        {
            return r;
        }
    }
    let backend = db.backend();
    db.write(move |txn| {
        Box::pin(async move {
            txn.execute_raw(Statement::from_string(backend, PROBE_SQL))
                .await?;
            Ok(())
        })
    })
    .await
}
