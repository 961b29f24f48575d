//! Statements built by sea-orm, run on a rusqlite connection (the SQLite writer's thread):
//! values bound as sqlx binds them and rows read as sea-orm reads them, so what one side writes
//! the other reads back unchanged.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use rusqlite::{Row, Transaction};
use sea_orm::{
    ActiveModelTrait, ActiveValue, EntityName, EntityTrait, IdenStatic, Iterable, Statement, Value,
};

use super::DbError;
use super::entities::{incident, incident_clock, outbox, session, user};

/// Runs a statement; returns how many rows it changed.
pub fn execute(conn: &rusqlite::Connection, s: &Statement) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(&s.sql)?
        .execute(rusqlite::params_from_iter(params(s)))?)
}

/// Inserts a row. The values are bound where they lie and the statement comes from the
/// connection's cache: built by sea-query, each insert wrote its SQL again and copied every
/// value (a report's text included) into the statement first.
pub fn insert<A: ActiveModelTrait>(txn: &Transaction<'_>, mut row: A) -> Result<(), DbError> {
    let mut sql = String::with_capacity(256);
    let mut values: Vec<Value> = Vec::new();
    sql.push_str("INSERT INTO \"");
    sql.push_str(<A::Entity as Default>::default().table_name());
    sql.push_str("\" (");
    for c in <A::Entity as EntityTrait>::Column::iter() {
        if let ActiveValue::Set(v) | ActiveValue::Unchanged(v) = row.take(c) {
            if !values.is_empty() {
                sql.push_str(", ");
            }
            sql.push('"');
            sql.push_str(c.as_str());
            sql.push('"');
            values.push(v);
        }
    }
    if values.is_empty() {
        sql.truncate(sql.len() - 2);
        sql.push_str(" DEFAULT VALUES");
    } else {
        sql.push_str(") VALUES (");
        for i in 0..values.len() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
        }
        sql.push(')');
    }
    txn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values.iter().map(Bind)))?;
    Ok(())
}

/// The rows of a `SELECT` or `… RETURNING *` that sea-orm built for `M`'s entity.
pub fn query<M: FromRow>(conn: &rusqlite::Connection, s: &Statement) -> Result<Vec<M>, DbError> {
    let mut st = conn.prepare_cached(&s.sql)?;
    // Each column's position is looked up once per query: looked up by name for every value,
    // rusqlite compares the name with every column's, which showed in the writer's profile.
    let at = <M::Entity as EntityTrait>::Column::iter()
        .map(|c| st.column_index(c.as_str()))
        .collect::<Result<Vec<usize>, _>>()?;
    let rows = st.query_map(rusqlite::params_from_iter(params(s)), |r| {
        M::read(&mut Columns {
            row: r,
            at: at.iter(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The rows of a statement sea-orm built, each read by `read` from its columns in the order
/// they were selected (a `select_only`, a tuple, a count).
pub fn rows<T>(
    conn: &rusqlite::Connection,
    s: &Statement,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, DbError> {
    let mut st = conn.prepare_cached(&s.sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(params(s)), read)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Column `i`'s instant, or None for NULL.
pub fn maybe_instant(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        _ => instant_at(r, i).map(Some),
    }
}

fn params(s: &Statement) -> impl Iterator<Item = Bind<'_>> {
    s.values.iter().flat_map(|v| v.0.iter()).map(Bind)
}

/// A model that can be read from a rusqlite row.
pub trait FromRow: Sized {
    type Entity: EntityTrait;
    /// Reads the fields in the order of the entity's columns (the order of the model's fields).
    fn read(c: &mut Columns<'_, '_>) -> rusqlite::Result<Self>;
}

/// A row's values in the order of its entity's columns.
pub struct Columns<'r, 's> {
    row: &'r Row<'s>,
    at: std::slice::Iter<'r, usize>,
}

impl Columns<'_, '_> {
    fn position(&mut self) -> rusqlite::Result<usize> {
        self.at
            .next()
            .copied()
            .ok_or(rusqlite::Error::InvalidColumnIndex(usize::MAX))
    }

    /// The next column's value.
    pub fn next<T: rusqlite::types::FromSql>(&mut self) -> rusqlite::Result<T> {
        let i = self.position()?;
        self.row.get(i)
    }

    /// The next column's instant (RFC 3339 text, as sqlx writes it).
    pub fn instant(&mut self) -> rusqlite::Result<DateTime<Utc>> {
        let i = self.position()?;
        instant_at(self.row, i)
    }

    pub fn maybe_instant(&mut self) -> rusqlite::Result<Option<DateTime<Utc>>> {
        let i = self.position()?;
        maybe_instant(self.row, i)
    }
}

pub fn instant_at(r: &Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = r.get(column)?;
    parse_instant(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("not an instant: {text:?}").into(),
        )
    })
}

/// RFC 3339 (what sqlx writes), or SQLite's own `YYYY-MM-DD HH:MM:SS` taken as UTC.
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f")
        .ok()
        .map(|t| t.and_utc())
}

impl FromRow for incident::Model {
    type Entity = incident::Entity;
    fn read(c: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
        Ok(incident::Model {
            id: c.next()?,
            state: c.next()?,
            version: c.next()?,
            category: c.next()?,
            severity: c.next()?,
            assignee_id: c.next()?,
            title: c.next()?,
            fingerprint: c.next()?,
            first_reported_at: c.instant()?,
            report_count: c.next()?,
            evidence_hold: c.next()?,
            serious: c.next()?,
            serious_at: c.maybe_instant()?,
            authority_reported_at: c.maybe_instant()?,
            triaged_at: c.maybe_instant()?,
            duplicate_of: c.next()?,
            rejection_reasons: c.next()?,
            filter_rule: c.next()?,
            fix_plan: c.next()?,
            training_run: c.next()?,
            candidate_model_version: c.next()?,
            resolved_at: c.maybe_instant()?,
            last_event_at: c.instant()?,
            last_event_hash: c.next()?,
            next_due_at: c.maybe_instant()?,
            next_due_clock: c.next()?,
            created_at: c.instant()?,
            complaint_at: c.maybe_instant()?,
            desired_kind: c.next()?,
            desired_response: c.next()?,
        })
    }
}

impl FromRow for incident_clock::Model {
    type Entity = incident_clock::Entity;
    fn read(c: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
        Ok(incident_clock::Model {
            id: c.next()?,
            incident_id: c.next()?,
            clock: c.next()?,
            started_at: c.instant()?,
            due_at: c.instant()?,
            stopped_at: c.maybe_instant()?,
            status: c.next()?,
            next_fire_at: c.maybe_instant()?,
            calendar: c.next()?,
            provisional: c.next()?,
            provisional_years: c.next()?,
            calendar_revision: c.next()?,
            stop_reason: c.next()?,
        })
    }
}

impl FromRow for user::Model {
    type Entity = user::Entity;
    fn read(c: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
        Ok(user::Model {
            id: c.next()?,
            email: c.next()?,
            name: c.next()?,
            role: c.next()?,
            password_hash: c.next()?,
            disabled: c.next()?,
            locale: c.next()?,
            created_at: c.instant()?,
        })
    }
}

impl FromRow for session::Model {
    type Entity = session::Entity;
    fn read(c: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
        Ok(session::Model {
            id: c.next()?,
            user_id: c.next()?,
            csrf_token: c.next()?,
            created_at: c.instant()?,
            expires_at: c.instant()?,
        })
    }
}

impl FromRow for outbox::Model {
    type Entity = outbox::Entity;
    fn read(c: &mut Columns<'_, '_>) -> rusqlite::Result<Self> {
        Ok(outbox::Model {
            id: c.next()?,
            created_at: c.instant()?,
            kind: c.next()?,
            recipient: c.next()?,
            locale: c.next()?,
            subject: c.next()?,
            body_text: c.next()?,
            body_html: c.next()?,
            status: c.next()?,
            attempts: c.next()?,
            next_attempt_at: c.instant()?,
            lease_until: c.maybe_instant()?,
            last_error: c.next()?,
            sent_at: c.maybe_instant()?,
            message_id: c.next()?,
            incident_id: c.next()?,
            report_id: c.next()?,
            steps: c.next()?,
        })
    }
}

/// A value bound as sqlx would have bound it, so rows written here read back through sea-orm
/// the same as any other: instants as RFC 3339 text, booleans as 0/1. Text is bound in place.
struct Bind<'a>(&'a Value);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        fn or_null<'a, T>(
            v: &'a Option<T>,
            f: impl FnOnce(&'a T) -> ToSqlOutput<'a>,
        ) -> ToSqlOutput<'a> {
            v.as_ref().map_or(ToSqlOutput::Owned(Sql::Null), f)
        }
        let int = |i: i64| ToSqlOutput::Owned(Sql::Integer(i));
        Ok(match self.0 {
            Value::Bool(b) => or_null(b, |b| int(i64::from(*b))),
            Value::TinyInt(i) => or_null(i, |i| int(i64::from(*i))),
            Value::SmallInt(i) => or_null(i, |i| int(i64::from(*i))),
            Value::Int(i) => or_null(i, |i| int(i64::from(*i))),
            Value::BigInt(i) => or_null(i, |i| int(*i)),
            Value::TinyUnsigned(i) => or_null(i, |i| int(i64::from(*i))),
            Value::SmallUnsigned(i) => or_null(i, |i| int(i64::from(*i))),
            Value::Unsigned(i) => or_null(i, |i| int(i64::from(*i))),
            // A LIMIT, say; SQLite's integers are signed, so one past i64 cannot be stored.
            Value::BigUnsigned(Some(i)) => int(i64::try_from(*i).map_err(|_| {
                rusqlite::Error::ToSqlConversionFailure(format!("{i} is too large").into())
            })?),
            Value::BigUnsigned(None) => ToSqlOutput::Owned(Sql::Null),
            Value::Float(f) => or_null(f, |f| ToSqlOutput::Owned(Sql::Real(f64::from(*f)))),
            Value::Double(f) => or_null(f, |f| ToSqlOutput::Owned(Sql::Real(*f))),
            Value::String(s) => or_null(s, |s| ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))),
            Value::Char(c) => or_null(c, |c| ToSqlOutput::Owned(Sql::Text(c.to_string()))),
            Value::Bytes(b) => or_null(b, |b| ToSqlOutput::Borrowed(ValueRef::Blob(b))),
            Value::Json(j) => or_null(j, |j| ToSqlOutput::Owned(Sql::Text(j.to_string()))),
            Value::ChronoDateTimeUtc(t) => or_null(t, |t| {
                ToSqlOutput::Owned(Sql::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
            }),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("the SQLite writer cannot store {other:?}").into(),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    fn bound(v: Value) -> Sql {
        match Bind(&v).to_sql().unwrap() {
            ToSqlOutput::Owned(v) => v,
            ToSqlOutput::Borrowed(v) => v.into(),
            _ => panic!("an unexpected binding"),
        }
    }

    #[test]
    fn instants_are_written_as_sqlx_writes_them_and_read_back() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T02:26:30.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let Sql::Text(text) = bound(Value::ChronoDateTimeUtc(Some(t))) else {
            panic!("an instant is text");
        };
        assert_eq!(text, "2026-11-29T02:26:30.123456+00:00");
        assert_eq!(parse_instant(&text), Some(t));
        assert_eq!(
            parse_instant("2026-11-29 02:26:30"),
            Some(t.with_nanosecond(0).unwrap())
        );
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn nulls_booleans_and_text_bind_as_sqlx_binds_them() {
        assert_eq!(bound(Value::Bool(Some(true))), Sql::Integer(1));
        assert_eq!(bound(Value::String(None)), Sql::Null);
        assert_eq!(
            bound(Value::String(Some("违规".into()))),
            Sql::Text("违规".into())
        );
        assert_eq!(bound(Value::ChronoDateTimeUtc(None)), Sql::Null);
        assert_eq!(bound(Value::BigUnsigned(Some(10))), Sql::Integer(10));
        assert!(Bind(&Value::BigUnsigned(Some(u64::MAX))).to_sql().is_err());
    }

    /// Writes `row` through sea-orm, then reads its table back through sea-orm and through
    /// [`query`]: both must give the row as written. Then writes it again through [`insert`]
    /// instead, and sea-orm must read that back the same.
    async fn round_trip<M>(row: M)
    where
        M: FromRow + Clone + PartialEq + std::fmt::Debug,
        M::Entity: EntityTrait<Model = M>,
        <M::Entity as EntityTrait>::ActiveModel: From<M>,
    {
        use sea_orm::{DbBackend, QueryTrait};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let url = format!("sqlite:{}?mode=rwc", file.display());
        let db = crate::db::Db::connect(&url, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        <M as FromRow>::Entity::insert(<<M as FromRow>::Entity as EntityTrait>::ActiveModel::from(
            row.clone(),
        ))
        .exec(db.write_conn())
        .await
        .unwrap();
        let via_sea_orm = <M as FromRow>::Entity::find().all(&db.conn).await.unwrap();
        let mut conn = rusqlite::Connection::open(&file).unwrap();
        let txn = conn.transaction().unwrap();
        let select = <M as FromRow>::Entity::find().build(DbBackend::Sqlite);
        let via_raw: Vec<M> = query(&txn, &select).unwrap();
        assert_eq!(via_sea_orm, vec![row.clone()]);
        assert_eq!(via_raw, vec![row.clone()]);

        let table = <M as FromRow>::Entity::default().table_name().to_string();
        txn.execute(&format!("DELETE FROM \"{table}\""), [])
            .unwrap();
        insert(
            &txn,
            <<M as FromRow>::Entity as EntityTrait>::ActiveModel::from(row.clone()),
        )
        .unwrap();
        txn.commit().unwrap();
        let written_raw = <M as FromRow>::Entity::find().all(&db.conn).await.unwrap();
        assert_eq!(written_raw, vec![row]);
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T02:26:30.123456Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::seconds(s)
    }

    /// Every field set and distinct, so a reader that took two columns in the wrong order fails.
    #[tokio::test]
    async fn incident_rows_read_back_as_sea_orm_reads_them() {
        round_trip(incident::Model {
            id: 7,
            state: "triaged".into(),
            version: 3,
            category: "core_values".into(),
            severity: Some("high".into()),
            assignee_id: None,
            title: "标题".into(),
            fingerprint: "fp".into(),
            first_reported_at: at(1),
            report_count: 4,
            evidence_hold: true,
            serious: Some("death".into()),
            serious_at: Some(at(2)),
            authority_reported_at: Some(at(3)),
            triaged_at: Some(at(4)),
            duplicate_of: Some(7),
            rejection_reasons: Some("reasons".into()),
            filter_rule: Some("rule".into()),
            fix_plan: Some("plan".into()),
            training_run: Some("run".into()),
            candidate_model_version: Some("v2".into()),
            resolved_at: Some(at(5)),
            last_event_at: at(6),
            last_event_hash: "hash".into(),
            next_due_at: Some(at(7)),
            next_due_clock: Some("contain".into()),
            created_at: at(8),
            complaint_at: Some(at(9)),
            desired_kind: Some("refusal".into()),
            desired_response: Some("不能提供。".into()),
        })
        .await;
    }

    #[tokio::test]
    async fn outbox_rows_read_back_as_sea_orm_reads_them() {
        round_trip(outbox::Model {
            id: 9,
            created_at: at(1),
            kind: "ack".into(),
            recipient: "r@example.com".into(),
            locale: "zh-CN".into(),
            subject: "已收到".into(),
            body_text: "text".into(),
            body_html: Some("<p>html</p>".into()),
            status: "pending".into(),
            attempts: 2,
            next_attempt_at: at(2),
            lease_until: Some(at(3)),
            last_error: Some("refused".into()),
            sent_at: Some(at(4)),
            message_id: "<m@rectify>".into(),
            incident_id: Some(5),
            report_id: Some(6),
            steps: Some("INC-5 remediate overdue_1w".into()),
        })
        .await;
    }
}
