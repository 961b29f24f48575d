//! Intake's inbox (SQLite): under a flood the writer stores each batch of reports as one row
//! (migration 000150), answers their submitters with their tracking codes, and opens their
//! incidents from the row once it has time, in a transaction that deletes the row.
//!
//! Why: storing a distinct report costs the one writer thread some 25 B-tree inserts
//! (150–250 µs here), and the handlers, the client and the writer together then take about
//! three times the CPU of a `/healthz` request per report. A batch as one row is one append.
//! The reports are as safe in the row as in their own tables (the same file, the same
//! commit), and the row is deleted with the commit that stores its reports, so each is stored
//! once, also across `kill -9`. What waits is the incident: the board, the search and the
//! acknowledgement mail see a report once its row is taken, which the writer does while no
//! report has come for a moment, or after each batch once reports come slower than
//! `database.intake_defer_above`. A reporter's status page takes the row holding its code at
//! once ([`crate::db::Db::open_from_inbox`]).
//!
//! Only web and API reports without screenshots go this way: their request waits for nothing
//! else. Imports (whose findings are looked up by tool and id) and reports with files are
//! stored at once, as before.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction};

use super::Submission;
use crate::db::DbError;
use crate::domain::deadlines::Policy;
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, Email, ValidReport};
use crate::domain::taxonomy::Category;
use crate::domain::tracking_code::TrackingCode;
use crate::mail::Mail;

/// The layout's version, first byte of every row.
const VERSION: u8 = 1;

/// Whether `sub` may wait in the inbox: a web or API report, without screenshots, whose
/// submitter is waiting for it.
pub(super) fn deferrable(sub: &Submission) -> bool {
    sub.answer_by.is_some() && sub.files.is_empty() && sub.source.is_none()
}

/// Stores `subs` as one row.
pub(super) fn put(txn: &Transaction<'_>, subs: &[&Submission]) -> Result<(), DbError> {
    txn.prepare_cached("INSERT INTO intake_inbox (reports) VALUES (?)")?
        .execute([encode(subs)])?;
    Ok(())
}

/// Whether any row waits.
pub(crate) fn pending(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM intake_inbox)")?
        .query_row([], |r| r.get(0))?)
}

/// What taking a row did.
pub(super) enum Taken {
    /// No row waits (beyond those left out).
    Nothing,
    /// The row's reports were stored and the row deleted.
    Stored,
}

/// Takes the oldest row not in `left_out`: stores its reports (incidents, clocks, mail, as the
/// writer stores any batch) and deletes it, in one IMMEDIATE transaction. A row that cannot be
/// read or stored for a reason of its own (not a busy or failing disk) is added to
/// `left_out` and logged, and stays for the next start, so that one bad row does not stop
/// the rest.
pub(super) fn take_oldest(
    conn: &mut Connection,
    policy: &Policy,
    left_out: &mut HashSet<i64>,
) -> Result<Taken, DbError> {
    let after = left_out.iter().copied().max().unwrap_or(0);
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT id, reports FROM intake_inbox WHERE id > ? ORDER BY id LIMIT 1")?
        .query_row([after], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, bytes)) = row else {
        return Ok(Taken::Nothing);
    };
    match store_row(conn, policy, id, &bytes) {
        Ok(()) => Ok(Taken::Stored),
        Err(e) if own_fault(&e) => {
            tracing::error!(row = id, error = %e,
                "a batch in intake's inbox could not be stored; it stays there for the next start");
            left_out.insert(id);
            Ok(Taken::Stored)
        }
        Err(e) => Err(e),
    }
}

/// Takes row `id`, if it still waits. Once this returns, its reports are in their tables
/// either way: a row is deleted only by the transaction that stores them (the writer may
/// have taken it in a quiet moment since the status page found it).
pub(super) fn take_row(conn: &mut Connection, policy: &Policy, id: i64) -> Result<(), DbError> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT reports FROM intake_inbox WHERE id = ?")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match bytes {
        Some(bytes) => store_row(conn, policy, id, &bytes),
        None => Ok(()),
    }
}

/// The row holding tracking code `code`, if one waits. Read on a pooled connection, so that a
/// status page asking for an unknown code costs the writer nothing.
pub(crate) async fn row_holding(db: &crate::db::Db, code: &str) -> Result<Option<i64>, DbError> {
    use sea_orm::ConnectionTrait;
    // The code's bytes may also stand in a report's text: each row found is read to be sure.
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            "SELECT id, reports FROM intake_inbox WHERE instr(reports, ?) > 0",
            vec![code.as_bytes().to_vec().into()],
        ))
        .await?;
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        let bytes: Vec<u8> = row.try_get("", "reports")?;
        if decode(&bytes).is_ok_and(|subs| subs.iter().any(|s| s.code.as_str() == code)) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

fn store_row(conn: &mut Connection, policy: &Policy, id: i64, bytes: &[u8]) -> Result<(), DbError> {
    let subs = decode(bytes).map_err(|e| DbError::Setup(format!("inbox row {id}: {e}")))?;
    let subs: Vec<&Submission> = subs.iter().collect();
    super::sqlite::in_transaction(conn, |txn| {
        // Taken already (by a status page's request queued before this step)?
        let deleted = txn
            .prepare_cached("DELETE FROM intake_inbox WHERE id = ?")?
            .execute([id])?;
        if deleted == 1 {
            super::sqlite::store_in(txn, policy, &subs)?;
        }
        Ok(())
    })
}

/// A failure of the row itself, not of the disk or the lock: trying again cannot help.
fn own_fault(e: &DbError) -> bool {
    !matches!(
        e.failure(),
        crate::db::error::Failure::Storage | crate::db::error::Failure::Busy
    ) && !e.is_unavailable()
}

/// Why a row could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable inbox row: {0}")]
pub(super) struct Unreadable(&'static str);

fn encode(subs: &[&Submission]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + subs.len() * 1_024);
    out.push(VERSION);
    out.extend_from_slice(&(subs.len() as u32).to_le_bytes());
    for s in subs {
        let r = &s.report;
        text(&mut out, s.code.as_str());
        let nanos = s.received_at.timestamp_nanos_opt().unwrap_or(i64::MAX);
        out.extend_from_slice(&nanos.to_le_bytes());
        text(&mut out, s.locale.as_str());
        text(&mut out, s.channel.as_str());
        text(&mut out, &r.output);
        maybe(&mut out, r.prompt.as_deref());
        maybe(&mut out, r.model.as_deref());
        maybe(&mut out, r.model_version.as_deref());
        maybe(&mut out, r.url.as_deref());
        text(&mut out, r.category.as_str());
        text(&mut out, &r.description);
        maybe(&mut out, r.name.as_deref());
        maybe(&mut out, r.email.as_ref().map(Email::as_str));
        match &s.ack {
            None => out.push(0),
            Some(m) => {
                out.push(1);
                for part in [m.kind, &m.recipient, &m.locale, &m.subject, &m.text] {
                    text(&mut out, part);
                }
                maybe(&mut out, m.html.as_deref());
                text(&mut out, &m.message_id);
            }
        }
    }
    out
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn maybe(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            text(out, s);
        }
    }
}

/// The mail kinds a row can hold (a [`Mail`]'s kind is a static name).
const ACK_KINDS: [&str; 1] = [crate::mail::render::ACK_KIND];

fn decode(bytes: &[u8]) -> Result<Vec<Submission>, Unreadable> {
    let mut r = Reader(bytes);
    if r.byte()? != VERSION {
        return Err(Unreadable("unknown version"));
    }
    let n = r.u32()? as usize;
    let mut subs = Vec::with_capacity(n.min(4_096));
    for _ in 0..n {
        let code = TrackingCode::parse(r.text()?).map_err(|_| Unreadable("tracking code"))?;
        let received_at: DateTime<Utc> = DateTime::from_timestamp_nanos(r.i64()?);
        let locale = Locale::parse(r.text()?).ok_or(Unreadable("locale"))?;
        let channel = Channel::parse(r.text()?).ok_or(Unreadable("channel"))?;
        let report = ValidReport {
            output: r.text()?.to_owned(),
            prompt: r.maybe()?,
            model: r.maybe()?,
            model_version: r.maybe()?,
            url: r.maybe()?,
            category: Category::accepted_before(r.text()?.to_owned()),
            description: r.text()?.to_owned(),
            name: r.maybe()?,
            email: match r.maybe()? {
                None => None,
                Some(e) => Some(Email::parse(&e).map_err(|_| Unreadable("email"))?),
            },
        };
        let ack = match r.byte()? {
            0 => None,
            _ => {
                let kind = r.text()?;
                let kind = ACK_KINDS
                    .into_iter()
                    .find(|k| *k == kind)
                    .ok_or(Unreadable("mail kind"))?;
                Some(Mail {
                    kind,
                    recipient: r.text()?.to_owned(),
                    locale: r.text()?.to_owned(),
                    subject: r.text()?.to_owned(),
                    text: r.text()?.to_owned(),
                    html: r.maybe()?,
                    message_id: r.text()?.to_owned(),
                })
            }
        };
        subs.push(Submission::new(
            report,
            locale,
            channel,
            code,
            received_at,
            ack,
        ));
    }
    if !r.0.is_empty() {
        return Err(Unreadable("bytes after the last report"));
    }
    Ok(subs)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Unreadable> {
        if self.0.len() < n {
            return Err(Unreadable("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, Unreadable> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Unreadable> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| Unreadable("u32"))?,
        ))
    }

    fn i64(&mut self) -> Result<i64, Unreadable> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| Unreadable("i64"))?,
        ))
    }

    fn text(&mut self) -> Result<&'a str, Unreadable> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| Unreadable("text"))
    }

    fn maybe(&mut self) -> Result<Option<String>, Unreadable> {
        Ok(match self.byte()? {
            0 => None,
            _ => Some(self.text()?.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(n: usize, ack: bool) -> Submission {
        let email = Email::parse(&format!("r{n}@example.com")).unwrap();
        let report = ValidReport {
            output: format!("答案 {n}：这是一段违规的生成内容。\n第二行"),
            prompt: n.is_multiple_of(2).then(|| format!("提示 {n}")),
            model: Some("m-1".into()),
            model_version: n.is_multiple_of(3).then(|| "2026-11".into()),
            url: None,
            category: Category::accepted_before("core_values.terrorism".into()),
            description: format!("description {n} with \"quotes\" and <tags>"),
            name: (n % 2 == 1).then(|| "王小明".into()),
            email: ack.then_some(email),
        };
        let mail = ack.then(|| Mail {
            kind: crate::mail::render::ACK_KIND,
            recipient: format!("r{n}@example.com"),
            locale: "zh-CN".into(),
            subject: "我们已收到您的举报".into(),
            text: "text part".into(),
            html: Some("<p>html</p>".into()),
            message_id: format!("<{n}@example.com>"),
        });
        let received_at = DateTime::from_timestamp_nanos(1_780_000_000_123_456_789 + n as i64);
        Submission::new(
            report,
            if n.is_multiple_of(2) {
                Locale::ZhCn
            } else {
                Locale::En
            },
            if n.is_multiple_of(2) {
                Channel::Api
            } else {
                Channel::WebForm
            },
            TrackingCode::from_bytes([n as u8; 10]),
            received_at,
            mail,
        )
    }

    #[test]
    fn a_row_gives_back_every_field_of_every_report() {
        let subs: Vec<Submission> = (0..5).map(|n| submission(n, n % 2 == 0)).collect();
        let refs: Vec<&Submission> = subs.iter().collect();
        let back = decode(&encode(&refs)).unwrap();
        assert_eq!(back.len(), subs.len());
        for (a, b) in subs.iter().zip(&back) {
            assert_eq!(a.code, b.code);
            assert_eq!(a.received_at, b.received_at);
            assert_eq!(a.locale, b.locale);
            assert_eq!(a.channel, b.channel);
            assert_eq!(a.report, b.report);
            assert_eq!(a.fingerprint, b.fingerprint);
            assert_eq!(a.ack, b.ack);
            assert!(b.answer_by.is_none() && b.files.is_empty() && b.source.is_none());
        }
    }

    async fn count(db: &crate::db::Db, table: &str) -> i64 {
        let table = table.to_owned();
        crate::db::tests::on_pooled(db, move |conn| {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        })
        .await
    }

    async fn put_rows(db: &crate::db::Db, subs: &[Submission], per_row: usize) {
        let rows: Vec<Vec<u8>> = subs
            .chunks(per_row)
            .map(|c| encode(&c.iter().collect::<Vec<_>>()))
            .collect();
        crate::db::tests::on_pooled(db, move |conn| {
            for row in rows {
                conn.execute("INSERT INTO intake_inbox (reports) VALUES (?)", [row])
                    .unwrap();
            }
        })
        .await;
    }

    /// A flood's writer killed after committing its inbox rows: the next start stores every
    /// report once, with its incident and acknowledgement, before it serves; another start
    /// stores nothing again; a status page finds a report still in the inbox at once.
    #[tokio::test]
    async fn reports_a_crash_left_in_the_inbox_are_stored_once_at_the_next_start() {
        use crate::db::intake::{Deferral, IntakeWriter};
        let (_dir, db) = crate::db::tests::file_db(4).await;
        db.migrate().await.unwrap();
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = crate::config::Settings::load_from(&config, None, false).unwrap();
        let policy = std::sync::Arc::new(settings.deadlines.clone());
        let subs: Vec<Submission> = (0..7).map(|n| submission(n, n % 2 == 0)).collect();
        put_rows(&db, &subs, 3).await;
        assert_eq!(count(&db, "intake_inbox").await, 3);

        let first =
            IntakeWriter::start_deferring(db.clone(), policy.clone(), 64, Deferral::Never).unwrap();
        assert_eq!(count(&db, "intake_inbox").await, 0, "stored before serving");
        assert_eq!(count(&db, "reports").await, 7);
        assert_eq!(count(&db, "incidents").await, 7);
        assert_eq!(
            count(&db, "outbox").await,
            4,
            "an acknowledgement per address"
        );
        for s in &subs {
            let view = crate::db::status::lookup(&db, &s.code)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(view.received_at, s.received_at);
        }
        match crate::db::audit::verify_all(&db).await.unwrap() {
            crate::db::audit::Verdict::Holds { incidents, events } => {
                assert_eq!((incidents, events), (7, 7))
            }
            b => panic!("{b:?}"),
        }

        // One more row while the writer runs: the reporter's status page takes it.
        let late = vec![submission(40, true)];
        put_rows(&db, &late, 1).await;
        let view = crate::db::status::lookup(&db, &late[0].code)
            .await
            .unwrap()
            .expect("found from the inbox");
        assert_eq!(view.received_at, late[0].received_at);
        assert_eq!(count(&db, "intake_inbox").await, 0);
        drop(first);

        let _second =
            IntakeWriter::start_deferring(db.clone(), policy, 64, Deferral::Never).unwrap();
        assert_eq!(count(&db, "reports").await, 8, "nothing stored twice");
        assert_eq!(count(&db, "outbox").await, 5);
        assert!(
            crate::db::status::lookup(&db, &TrackingCode::from_bytes([99; 10]))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_damaged_row_is_refused_not_misread() {
        let subs: Vec<Submission> = (0..3).map(|n| submission(n, true)).collect();
        let refs: Vec<&Submission> = subs.iter().collect();
        let bytes = encode(&refs);
        for cut in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut other = bytes;
        other[0] = VERSION + 1;
        assert!(decode(&other).is_err());
    }
}
