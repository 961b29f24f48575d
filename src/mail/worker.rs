//! The outbox worker: claims due rows with a lease, delivers them, and records the outcome.
//! A worker that dies after claiming leaves its rows to be retried when the lease runs out.

use chrono::{DateTime, Duration, Utc};

use super::transport::{Transport, build_message};
use crate::db::{Db, DbError, outbox as q};

/// How long a claimed row stays reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::seconds(120);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
}

/// Waits between attempts: 30 s, 1 min, 2 min, ... capped at 6 hours.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    let secs = 30i64.saturating_mul(1i64 << exp.min(12));
    Duration::seconds(secs.min(6 * 3600))
}

/// One delivery pass over every due row.
pub async fn deliver_pending(
    db: &Db,
    transport: &Transport,
    from: &str,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<Pass, DbError> {
    let mut pass = Pass::default();
    loop {
        let claimed = q::claim_due(db, now, now + LEASE, 50).await?;
        if claimed.is_empty() {
            return Ok(pass);
        }
        let mut sent = Vec::with_capacity(claimed.len());
        for row in claimed {
            let result = match build_message(from, &row) {
                Ok(msg) => transport.send(msg).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => sent.push(row.id),
                Err(e) => {
                    let attempts = row.attempts + 1;
                    let dead = attempts >= max_attempts;
                    tracing::warn!(outbox_id = row.id, attempts, dead, error = %e, "mail delivery failed");
                    q::mark_failed(db, row.id, attempts, now + backoff(attempts), &e, dead).await?;
                    if dead {
                        pass.dead += 1;
                    } else {
                        pass.failed += 1;
                    }
                }
            }
        }
        // A crash between sending and this update sends those mails again after the lease:
        // at-least-once, with the same Message-ID so receivers can drop the copy.
        q::mark_sent(db, &sent, Utc::now()).await?;
        pass.sent += sent.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(30), Duration::hours(6));
    }
}
