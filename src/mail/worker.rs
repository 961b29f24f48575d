//! The outbox worker: claims due rows with a lease, delivers them, and records the outcome.
//! A worker that dies after claiming leaves its rows to be retried when the lease runs out.

use chrono::{DateTime, Duration, Utc};

use super::transport::{SendError, Transport, build_message};
use crate::db::{Db, DbError, outbox as q};

/// How long a claimed row stays reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::seconds(120);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
    /// The pass stopped early because the server could not be reached.
    pub unreachable: bool,
}

/// How failed deliveries are retried: exponential backoff, then dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub max_attempts: i32,
    pub base: Duration,
    pub max: Duration,
}

impl Retry {
    pub fn from_settings(s: &crate::config::MailSettings) -> Retry {
        let secs = |v: u64| Duration::seconds(i64::try_from(v).unwrap_or(i64::MAX / 1000));
        Retry {
            max_attempts: s.max_attempts.max(1),
            base: secs(s.retry_base_secs.max(1)),
            max: secs(s.retry_max_secs.max(1)),
        }
    }

    /// The wait after `attempts` failed attempts: base, 2 × base, 4 × base, … capped at max.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exp = (attempts.clamp(1, 40) - 1) as u32;
        let factor = 1i32.checked_shl(exp.min(30)).unwrap_or(i32::MAX);
        self.base
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            max_attempts: 20,
            base: Duration::seconds(5),
            max: Duration::hours(6),
        }
    }
}

/// Which pending rows a pass takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rows never tried, and rows whose backoff has run out: the worker inside `serve`.
    Due,
    /// Every pending row nobody holds a lease on, backoff or not: an operator's
    /// `rectify outbox deliver` once the mail server is back.
    All,
}

/// The least time between two writes that record deliveries. Files are recorded a claimed batch
/// at a time; SMTP deliveries as each is accepted, unless the last record is more recent than
/// this, when they wait for the next message or the end of the batch. So a slow server gets a
/// write per message, a fast one a write per 100 ms: a write per message, each waiting its turn
/// at SQLite's single writer behind a batch of reports, held delivery to a few hundred mails a
/// second while intake ran at thousands. What it costs: a crash re-sends the messages sent
/// since the last record, each with its Message-ID, so a receiver can drop the copy.
const RECORD_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// One delivery pass: claims pending rows in order with a lease (on PostgreSQL `FOR UPDATE SKIP
/// LOCKED`, so several instances never take the same row), sends them, and records the outcome
/// of each (failures at once, deliveries as [`RECORD_EVERY`] says). A row is tried at most once
/// per pass. When the server cannot be reached the pass stops and gives its remaining rows
/// back, so an outage costs each mail one attempt per backoff period rather than the whole
/// queue an attempt per pass.
pub async fn deliver_pending(
    db: &Db,
    transport: &Transport,
    from: &str,
    retry: &Retry,
    now: DateTime<Utc>,
    mode: Mode,
) -> Result<Pass, DbError> {
    let mut pass = Pass::default();
    let mut after_id = 0;
    let mut sent = Sent::default();
    loop {
        let claimed = q::claim_due(
            db,
            now,
            now + LEASE,
            transport.claim_batch(),
            after_id,
            mode == Mode::All,
        )
        .await?;
        // Never send on a lease that may have run out: another worker may hold the row now.
        let deadline = std::time::Instant::now() + (LEASE / 2).to_std().unwrap_or_default();
        let Some(last) = claimed.last() else {
            return Ok(pass);
        };
        after_id = last.id;
        let mut rows = claimed.as_slice();
        while !rows.is_empty() {
            let (group, rest) = rows.split_at(transport.send_group().min(rows.len()));
            rows = rest;
            let messages = group
                .iter()
                .map(|row| {
                    build_message(from, row).map_err(|message| SendError {
                        message,
                        unreachable: false,
                    })
                })
                .collect();
            let outcomes = transport.send_in_order(messages, deadline).await;
            let tried = outcomes.len();
            for (row, outcome) in group.iter().zip(outcomes) {
                match outcome {
                    Ok(()) => {
                        sent.push(row.id);
                        pass.sent += 1;
                    }
                    Err(e) => {
                        let attempts = row.attempts + 1;
                        let dead = attempts >= retry.max_attempts;
                        tracing::warn!(outbox_id = row.id, attempts, dead, error = %e, "mail delivery failed");
                        q::mark_failed(
                            db,
                            row.id,
                            attempts,
                            now + retry.backoff(attempts),
                            &e.message,
                            dead,
                        )
                        .await?;
                        if dead {
                            pass.dead += 1;
                        } else {
                            pass.failed += 1;
                        }
                        pass.unreachable |= e.unreachable;
                    }
                }
            }
            if tried < group.len() || pass.unreachable {
                // Stopped early: the server is down, or the lease is half gone.
                sent.record(db).await?;
                let untried: Vec<i64> = group[tried..].iter().chain(rows).map(|r| r.id).collect();
                q::release(db, &untried).await?;
                if pass.unreachable {
                    return Ok(pass);
                }
                tracing::warn!(
                    "mail delivery is slow; the rest of the batch goes back to the queue"
                );
                break;
            }
            // (Files come as one group per claimed batch, recorded below.)
            if sent.due() {
                sent.record(db).await?;
            }
        }
        sent.record(db).await?;
    }
}

/// Deliveries not yet recorded, and when deliveries were last recorded.
#[derive(Default)]
struct Sent {
    ids: Vec<i64>,
    recorded: Option<std::time::Instant>,
}

impl Sent {
    fn push(&mut self, id: i64) {
        self.ids.push(id);
    }

    fn due(&self) -> bool {
        self.recorded.is_none_or(|t| t.elapsed() >= RECORD_EVERY)
    }

    async fn record(&mut self, db: &Db) -> Result<(), DbError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        q::mark_sent(db, &self.ids, Utc::now()).await?;
        self.ids.clear();
        self.recorded = Some(std::time::Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = Retry {
            max_attempts: 8,
            base: Duration::seconds(30),
            max: Duration::hours(6),
        };
        assert_eq!(r.backoff(1), Duration::seconds(30));
        assert_eq!(r.backoff(2), Duration::seconds(60));
        assert_eq!(r.backoff(3), Duration::seconds(120));
        assert_eq!(r.backoff(30), Duration::hours(6));
        assert_eq!(r.backoff(i32::MAX), Duration::hours(6));
        let d = Retry::default();
        assert_eq!(d.backoff(1), Duration::seconds(5));
        assert_eq!(d.backoff(4), Duration::seconds(40));
    }
}
