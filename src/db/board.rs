//! The triage board's queries: one column per open state, cards by nearest deadline, filters
//! that work on the indexed columns so the board stays fast with many open incidents.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};

use super::entities::incident::{self, Column};
use super::search::Access;
use super::{Db, DbError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AssigneeFilter {
    #[default]
    Anyone,
    Unassigned,
    User(i64),
}

#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub category: Option<String>,
    pub severity: Option<String>,
    pub assignee: AssigneeFilter,
    pub overdue: bool,
    pub text: Option<String>,
    /// What `text` matched, resolved once with [`Filters::resolve`] before the queries.
    pub matched: Option<std::sync::Arc<super::search::Matched>>,
    /// Only incidents with an undecided appeal (`appeal=open`).
    pub appeal_open: bool,
}

impl Filters {
    /// Runs the search once, so that every query of the page filters by its ids.
    pub async fn resolve(mut self, db: &Db) -> Result<Self, DbError> {
        if let Some(text) = self.search_text() {
            self.matched = Some(std::sync::Arc::new(
                super::search::matching_ids(db, text).await?,
            ));
        }
        Ok(self)
    }

    /// SQLite: the search run and then `read` on a reader thread, in one read transaction
    /// (`Db::on_reader`; the matches wait in that connection's own table for the page's
    /// statements). Answers what `read` did with the resolved filters, or `None` where pages
    /// are read through the pool ([`Filters::resolve`]).
    pub(crate) async fn read_at_once<R: Send + 'static>(
        &self,
        db: &Db,
        read: impl FnOnce(&rusqlite::Connection, &Filters) -> Result<R, DbError> + Send + 'static,
    ) -> Option<Result<(R, Filters), DbError>> {
        let mut f = self.clone();
        db.on_reader(move |conn| {
            if let Some(text) = f.search_text() {
                f.matched = Some(std::sync::Arc::new(super::search::matching_ids_on(
                    conn, text,
                )?));
            }
            Ok((read(conn, &f)?, f))
        })
        .await
    }

    /// The words searched for, if any.
    fn search_text(&self) -> Option<&str> {
        self.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    fn searching(&self) -> bool {
        self.matched.is_some()
    }

    /// Where the queries under these filters run: a search's transaction, where it made one.
    pub(crate) fn conn<'a>(&'a self, db: &'a Db) -> sea_orm::DatabaseExecutor<'a> {
        match &self.matched {
            Some(m) => m.conn(db),
            None => sea_orm::DatabaseExecutor::Connection(&db.conn),
        }
    }

    /// Runs a page's queries under these filters: at once, each on a connection of the pool,
    /// unless they must share a search's transaction (one connection), then one after another.
    /// Under intake each query waits for a core; a dozen in a row waited a dozen times.
    pub async fn each<T, Q>(&self, queries: Vec<Q>) -> Result<Vec<T>, DbError>
    where
        Q: std::future::Future<Output = Result<T, DbError>>,
    {
        if !self.matched.as_ref().is_some_and(|m| m.holds_transaction()) {
            return futures_util::future::try_join_all(queries).await;
        }
        let mut out = Vec::new();
        for q in queries {
            out.push(q.await?);
        }
        Ok(out)
    }

    /// No filter and no search: every incident of the states asked for.
    fn none(&self) -> bool {
        !self.searching()
            && self.category.is_none()
            && self.severity.is_none()
            && self.assignee == AssigneeFilter::Anyone
            && !self.overdue
            && !self.appeal_open
    }

    /// A search and no other filter.
    pub(crate) fn only_searching(&self) -> bool {
        self.searching()
            && self.category.is_none()
            && self.severity.is_none()
            && self.assignee == AssigneeFilter::Anyone
            && !self.overdue
            && !self.appeal_open
    }
}

/// A search's counts by state, in one grouped statement over its matches: rows (`state`, `n`).
fn search_counts_query(
    states: &[&str],
    f: &Filters,
    now: DateTime<Utc>,
    postgres: bool,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait;
    if !postgres && f.only_searching() {
        // Each match's state read in a narrow index by its id (migration 000090): half the
        // cost of reading it in the table, for tens of thousands of matches.
        let placeholders = vec!["?"; states.len()].join(", ");
        return sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            format!(
                "SELECT i.state AS state, count(*) AS n FROM temp.search_hits AS h \
                 CROSS JOIN incidents AS i INDEXED BY incidents_id_state ON i.id = h.id \
                 WHERE +i.state IN ({placeholders}) GROUP BY i.state"
            ),
            states.iter().map(|s| sea_orm::Value::from(*s)),
        );
    }
    incident::Entity::find()
        .select_only()
        .column(Column::State)
        .column_as(Expr::col(Column::Id).count(), "n")
        .filter(Column::State.is_in(states.iter().copied()))
        // The board's (state, deadline) index holds all a count needs.
        .filter(condition(f, now, postgres, Access::InOrder))
        .group_by(Column::State)
        .build(if postgres {
            sea_orm::DbBackend::Postgres
        } else {
            sea_orm::DbBackend::Sqlite
        })
}

/// The counts kept by triggers as incidents change (migration 000120; SQLite): rows (`state`,
/// `n`). With no filter, six rows, where counting read every open incident's index entry (7 ms
/// at 100,000, four times that beside a flood).
fn kept_counts_query(states: &[&str]) -> sea_orm::Statement {
    let placeholders = vec!["?"; states.len()].join(", ");
    sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Sqlite,
        format!("SELECT state, n FROM incident_state_counts WHERE state IN ({placeholders})"),
        states.iter().map(|s| sea_orm::Value::from(*s)),
    )
}

/// One state's count under the filters: one row, `n`.
fn state_count_query(
    state: &str,
    f: &Filters,
    now: DateTime<Utc>,
    postgres: bool,
) -> sea_orm::Select<incident::Entity> {
    incident::Entity::find()
        .select_only()
        .column_as(Expr::cust("count(*)"), "n")
        .filter(Column::State.eq(state))
        .filter(condition(f, now, postgres, Access::InOrder))
}

/// What a card shows.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Card {
    pub id: i64,
    pub state: String,
    pub title: String,
    pub category: String,
    pub severity: Option<String>,
    pub report_count: i32,
    pub assignee_id: Option<i64>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub next_due_clock: Option<String>,
    pub serious: Option<String>,
    pub evidence_hold: bool,
}

/// The filters as one condition on `incidents`; `access` says how the query around it reads a
/// search's matches (see [`super::search::Access`]).
pub(crate) fn condition(
    f: &Filters,
    now: DateTime<Utc>,
    postgres: bool,
    access: super::search::Access,
) -> Condition {
    let mut c = Condition::all();
    if let Some(cat) = &f.category {
        // A group matches its specific risks too: keys are [a-z0-9_] and '/' sorts right after
        // '.', so ["rights", "rights/") holds exactly "rights" and "rights.*", as an index range.
        c = c.add(Column::Category.gte(cat.as_str()));
        c = c.add(Column::Category.lt(format!("{cat}/")));
    }
    if let Some(sev) = &f.severity {
        c = c.add(Column::Severity.eq(sev.as_str()));
    }
    match f.assignee {
        AssigneeFilter::Anyone => {}
        AssigneeFilter::Unassigned => c = c.add(Column::AssigneeId.is_null()),
        AssigneeFilter::User(id) => c = c.add(Column::AssigneeId.eq(id)),
    }
    if f.overdue {
        c = c.add(Column::NextDueAt.lt(now));
    }
    if f.appeal_open {
        c = c.add(super::appeals::open_condition());
    }
    if let Some(m) = &f.matched {
        c = c.add(super::search::among(m, postgres, access));
    }
    c
}

/// One state's incidents under the filters in the `(state, deadline)` index's order: by
/// deadline, then by id, each way (open incidents always have a running remediation clock, so
/// the nearest deadline is set). A search's matches are kept as the index is walked.
pub(crate) fn by_deadline(
    postgres: bool,
    state: &str,
    f: &Filters,
    now: DateTime<Utc>,
    order: sea_orm::Order,
) -> sea_orm::Select<incident::Entity> {
    incident::Entity::find()
        .filter(Column::State.eq(state))
        .filter(condition(f, now, postgres, Access::InOrder))
        .order_by(Column::NextDueAt, order.clone())
        .order_by(Column::Id, order)
}

/// One column's cards, nearest deadline first, then oldest first.
pub async fn column(
    db: &Db,
    state: &str,
    f: &Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> Result<Vec<Card>, DbError> {
    Ok(column_query(db.is_postgres(), state, f, now, limit, offset)
        .into_model::<Card>()
        .all(&f.conn(db))
        .await?)
}

/// [`column`]'s query; its columns are [`Card`]'s fields, in order.
fn column_query(
    postgres: bool,
    state: &str,
    f: &Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> sea_orm::Select<incident::Entity> {
    by_deadline(postgres, state, f, now, sea_orm::Order::Asc)
        .select_only()
        .columns([
            Column::Id,
            Column::State,
            Column::Title,
            Column::Category,
            Column::Severity,
            Column::ReportCount,
            Column::AssigneeId,
            Column::NextDueAt,
            Column::NextDueClock,
            Column::Serious,
            Column::EvidenceHold,
        ])
        .limit(limit)
        .offset(offset)
}

impl Card {
    /// A row of [`column_query`], read on a rusqlite connection.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Card> {
        Ok(Card {
            id: r.get(0)?,
            state: r.get(1)?,
            title: r.get(2)?,
            category: r.get(3)?,
            severity: r.get(4)?,
            report_count: r.get(5)?,
            assignee_id: r.get(6)?,
            next_due_at: super::raw::maybe_instant(r, 7)?,
            next_due_clock: r.get(8)?,
            serious: r.get(9)?,
            evidence_hold: r.get(10)?,
        })
    }
}

/// What a board page shows, read at once (see [`read_page`]).
pub struct Page {
    pub counts: HashMap<String, u64>,
    pub users: Vec<super::entities::user::Model>,
    /// The cards of each state asked for, in the order asked.
    pub columns: Vec<Vec<Card>>,
    /// Incidents with an undecided appeal, on the board or not.
    pub appeals_open: u64,
    /// Incidents with a reporter's reply nobody has read, sorted.
    pub unread: Vec<i64>,
    /// Each card's provisional running clocks.
    pub provisional: HashMap<i64, Vec<String>>,
    /// The cards' incidents with an undecided appeal.
    pub appealed: Vec<i64>,
}

/// A board page's data for `states` (in order) under `f`, unresolved: on SQLite at once on a
/// reader thread ([`read_page`]), elsewhere through the pool ([`read_pooled`]). Answers the
/// filters with their search run, for what the page says about it.
pub async fn page(
    db: &Db,
    states: Vec<&'static str>,
    f: Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> Result<(Page, Filters), DbError> {
    let names = states.clone();
    let at_once = move |conn: &_, f: &_| read_page(conn, &names, f, now, limit, offset);
    if let Some(read) = f.read_at_once(db, at_once).await {
        return read;
    }
    let f = f.resolve(db).await?;
    Ok((read_pooled(db, &states, &f, now, limit, offset).await?, f))
}

/// A board page through the pool, under resolved filters: every query at once, each on a
/// connection of the pool, except a search's, whose counts come first (a state it found
/// nothing in needs no column) and whose queries share its transaction (SQLite).
pub async fn read_pooled(
    db: &Db,
    states: &[&str],
    f: &Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> Result<Page, DbError> {
    let others = || {
        futures_util::future::try_join3(
            super::users::list(db),
            super::appeals::open_count(db),
            super::messages::with_unread_replies(db),
        )
    };
    let (counts, columns, (users, appeals_open, unread)) = if f.searching() {
        let counts = counts(db, states, f, now).await?;
        let found = |st: &&str| counts.get(*st).is_some_and(|n| *n > 0);
        let wanted: Vec<&str> = states.iter().copied().filter(found).collect();
        let mut fetched = columns(db, &wanted, f, now, limit, offset)
            .await?
            .into_iter();
        let columns = states
            .iter()
            .map(|st| {
                if found(st) {
                    fetched.next().unwrap_or_default()
                } else {
                    Vec::new()
                }
            })
            .collect();
        (counts, columns, others().await?)
    } else {
        // Beside a flood each query waits for a core, and in a row the waits added up (six
        // rounds: board p50 113 ms, `mixed`).
        futures_util::try_join!(
            counts(db, states, f, now),
            columns(db, states, f, now, limit, offset),
            others()
        )?
    };
    // What the cards show beside their row, asked once for every column's cards.
    let ids: Vec<i64> = columns.iter().flatten().map(|c| c.id).collect();
    let (provisional, appealed) = futures_util::try_join!(
        super::deadlines::provisional_by_incident(&db.conn, &ids),
        super::appeals::open_among(&db.conn, &ids),
    )?;
    Ok(Page {
        counts,
        users,
        columns,
        appeals_open,
        unread,
        provisional,
        appealed,
    })
}

/// The columns of `states` through the pool, at once unless a search's transaction holds them.
async fn columns(
    db: &Db,
    states: &[&str],
    f: &Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> Result<Vec<Vec<Card>>, DbError> {
    f.each(
        states
            .iter()
            .map(|st| column(db, st, f, now, limit, offset))
            .collect(),
    )
    .await
}

/// SQLite: a board page, every statement in one read transaction on a reader thread
/// (`Db::on_reader`), a search's matches in its connection's table (see
/// `search::matching_ids_on`): the same statements the pool's path asks one by one.
pub(crate) fn read_page(
    conn: &rusqlite::Connection,
    states: &[&str],
    f: &Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> Result<Page, DbError> {
    use super::raw::rows;
    use sea_orm::QueryTrait;
    const SQLITE: sea_orm::DbBackend = sea_orm::DbBackend::Sqlite;
    let count = |r: &rusqlite::Row<'_>| count_at(r, 0);
    let mut counts: HashMap<String, u64> = states.iter().map(|s| ((*s).to_string(), 0)).collect();
    if f.searching() {
        if !f.matched.as_ref().is_some_and(|m| m.is_empty()) {
            let q = search_counts_query(states, f, now, false);
            for (state, n) in rows(conn, &q, |r| Ok((r.get::<_, String>(0)?, count_at(r, 1)?)))? {
                counts.insert(state, n);
            }
        }
    } else if f.none() {
        let kept = kept_counts_query(states);
        for (state, n) in rows(conn, &kept, |r| {
            Ok((r.get::<_, String>(0)?, count_at(r, 1)?))
        })? {
            counts.insert(state, n);
        }
    } else {
        for state in states {
            let q = state_count_query(state, f, now, false).build(SQLITE);
            let n = rows(conn, &q, count)?.into_iter().next().unwrap_or(0);
            counts.insert((*state).to_string(), n);
        }
    }
    let users = super::raw::query(conn, &super::users::list_query().build(SQLITE))?;
    let mut columns = Vec::with_capacity(states.len());
    for state in states {
        let q = column_query(false, state, f, now, limit, offset).build(SQLITE);
        columns.push(rows(conn, &q, Card::read)?);
    }
    let appeals_open = rows(
        conn,
        &super::appeals::open_count_query().build(SQLITE),
        count,
    )?
    .into_iter()
    .next()
    .unwrap_or(0);
    let id_of = |r: &rusqlite::Row<'_>| r.get::<_, i64>(0);
    let mut unread = rows(
        conn,
        &super::messages::unread_replies_query().build(SQLITE),
        id_of,
    )?;
    unread.sort_unstable();
    unread.dedup();
    let ids: Vec<i64> = columns.iter().flatten().map(|c| c.id).collect();
    let mut provisional: HashMap<i64, Vec<String>> = HashMap::new();
    let mut appealed = Vec::new();
    if !ids.is_empty() {
        let pair = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?));
        let q = super::deadlines::provisional_query(&ids).build(SQLITE);
        for (id, clock) in rows(conn, &q, pair)? {
            provisional.entry(id).or_default().push(clock);
        }
        let q = super::appeals::open_among_query(&ids).build(SQLITE);
        appealed = super::appeals::still_open(rows(conn, &q, pair)?);
    }
    Ok(Page {
        counts,
        users,
        columns,
        appeals_open,
        unread,
        provisional,
        appealed,
    })
}

fn count_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
}

/// How many incidents each column holds under the filters.
pub async fn counts(
    db: &Db,
    states: &[&str],
    f: &Filters,
    now: DateTime<Utc>,
) -> Result<HashMap<String, u64>, DbError> {
    let mut out = HashMap::new();
    if f.searching() {
        // A search names its incidents: one grouped count over them, by their ids, instead of
        // one count per column.
        #[derive(FromQueryResult)]
        struct Count {
            state: String,
            n: i64,
        }
        for st in states {
            out.insert((*st).to_string(), 0);
        }
        if f.matched.as_ref().is_some_and(|m| m.is_empty()) {
            return Ok(out);
        }
        let rows = Count::find_by_statement(search_counts_query(states, f, now, db.is_postgres()))
            .all(&f.conn(db))
            .await?;
        for r in rows {
            out.insert(r.state, u64::try_from(r.n).unwrap_or(0));
        }
        return Ok(out);
    }
    if f.none() && !db.is_postgres() {
        #[derive(FromQueryResult)]
        struct Kept {
            state: String,
            n: i64,
        }
        let rows = Kept::find_by_statement(kept_counts_query(states))
            .all(&db.conn)
            .await?;
        out.extend(states.iter().map(|s| ((*s).to_string(), 0)));
        out.extend(
            rows.into_iter()
                .map(|r| (r.state, u64::try_from(r.n).unwrap_or(0))),
        );
        return Ok(out);
    }
    let ns = f
        .each(
            states
                .iter()
                .map(|state| {
                    let query = state_count_query(state, f, now, db.is_postgres());
                    async move {
                        let n: Option<i64> = query.into_tuple().one(&f.conn(db)).await?;
                        Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
                    }
                })
                .collect(),
        )
        .await?;
    out.extend(states.iter().map(|s| (*s).to_string()).zip(ns));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;
    use crate::domain::workflow::State;

    fn incident(id: i64, state: &str, category: &str, more: &str) -> String {
        // `more`: (severity, assignee_id, next_due_at, evidence_hold, serious)
        format!(
            "INSERT INTO incidents (id, state, version, category, title, fingerprint, \
               first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, \
               created_at, severity, assignee_id, next_due_at, next_due_clock, serious) \
             VALUES ({id}, '{state}', 1, '{category}', '{}标题 <{id}>', 'fp{id}', \
               '2026-12-01T00:00:00+00:00', {id} % 4 + 1, {hold}, '2026-12-01T00:00:00+00:00', '', \
               '2026-12-01T00:00:00+00:00', {more});",
            ["麒麟", "海豚", ""][usize::try_from(id % 3).unwrap()],
            hold = id % 5 == 0,
        )
    }

    /// Incidents seeded by [`seed`]: enough that a search's common word reads in the board's
    /// order (`search::IN_ORDER_FROM`).
    const INCIDENTS: i64 = 1_500;

    /// A database with incidents in every state under every filter, appeals, provisional
    /// clocks and replies; answers the instant to read them at.
    pub(crate) async fn seed(db: &Db) -> DateTime<Utc> {
        let mut sql = String::from(
            "INSERT INTO users (id, email, name, role, password_hash, disabled, locale, created_at) \
             VALUES (1, 'b@example.com', '李四', 'triage', 'x', false, 'zh-CN', '2026-12-01T00:00:00+00:00'), \
                    (2, 'a@example.com', 'Ann', 'lead', 'x', true, 'en', '2026-12-01T00:00:00+00:00');",
        );
        let severities = ["NULL", "'low'", "'high'", "'critical'"];
        let categories = [
            "accuracy.inaccurate",
            "rights.privacy",
            "rights",
            "core_values.violence",
        ];
        for id in 1..=INCIDENTS {
            let state = State::ALL[usize::try_from(id).unwrap() % State::ALL.len()];
            let due = if state.is_open() {
                // Some overdue at `now` below, and ties on the deadline broken by id.
                format!("'2026-12-{:02}T00:00:00+00:00', 'remediate'", 1 + id % 9)
            } else {
                "NULL, NULL".into()
            };
            let more = format!(
                "{}, {}, {due}, {}",
                severities[usize::try_from(id % 4).unwrap()],
                match id % 3 {
                    0 => "NULL",
                    1 => "1",
                    _ => "2",
                },
                if id % 7 == 0 { "'death'" } else { "NULL" },
            );
            sql += &incident(
                id,
                state.as_str(),
                categories[usize::try_from(id % 4).unwrap()],
                &more,
            );
        }
        // Appeals: 3 open, 4 decided, 5 decided then appealed again.
        for (n, (id, action)) in [
            (3, "appeal"),
            (4, "appeal"),
            (4, "uphold_appeal"),
            (5, "appeal"),
            (5, "grant_appeal"),
            (5, "appeal"),
        ]
        .into_iter()
        .enumerate()
        {
            sql += &format!(
                "INSERT INTO incident_events (incident_id, seq, at, actor, action, to_state, data, \
                   prev_hash, hash) VALUES ({id}, {n}, '2026-12-01T00:00:00+00:00', 'x', \
                   '{action}', 'resolved', '{{}}', '', 'h{n}');"
            );
        }
        // Provisional clocks on two cards, one running and one met.
        for (id, status, clock) in [
            (10, "running", "remediate"),
            (10, "running", "contain"),
            (11, "met", "remediate"),
        ] {
            sql += &format!(
                "INSERT INTO incident_clocks (incident_id, clock, started_at, due_at, status, \
                   provisional) VALUES ({id}, '{clock}', '2026-12-01T00:00:00+00:00', \
                   '2027-03-01T00:00:00+00:00', '{status}', true);"
            );
        }
        // A reporter's unread reply on incident 12 and a read one on 13.
        for (id, read) in [(12, "NULL"), (13, "'2026-12-02T00:00:00+00:00'")] {
            sql += &format!(
                "INSERT INTO reports (id, tracking_code, incident_id, received_at, locale, channel, \
                   output, category, description, fingerprint) VALUES ({id}, 'CODE-{id}', {id}, \
                   '2026-12-01T00:00:00+00:00', 'zh-CN', 'web', 'o', 'rights', '', 'fp{id}'); \
                 INSERT INTO reporter_messages (report_id, incident_id, direction, batch, body, \
                   author, created_at, read_at) VALUES ({id}, {id}, 'reporter', 'b', 'hi', 'r', \
                   '2026-12-01T00:00:00+00:00', {read});"
            );
        }
        db.conn.execute_unprepared(&sql).await.unwrap();
        DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Runs a search as the pool's path does.
    pub(crate) async fn resolved(db: &Db, f: &Filters) -> Filters {
        f.clone().resolve(db).await.unwrap()
    }

    /// Runs `f` with `filters`' search resolved on the reader's connection, as a page does.
    pub(crate) async fn at_once<R: Send + 'static>(
        db: &Db,
        filters: &Filters,
        f: impl FnOnce(&rusqlite::Connection, &Filters) -> Result<R, DbError> + Send + 'static,
    ) -> R {
        filters
            .read_at_once(db, f)
            .await
            .expect("SQLite reads at once")
            .unwrap()
            .0
    }

    /// A board page read at once on a reader thread shows what the pool's path (PostgreSQL's)
    /// shows, under every filter, a search, and a page further on.
    #[tokio::test]
    async fn a_page_read_at_once_is_what_the_pool_reads() {
        let (_dir, db) = super::super::tests::file_db(4).await;
        db.migrate().await.unwrap();
        let now = seed(&db).await;
        let open: Vec<&str> = State::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        let every: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
        let filters = [
            Filters::default(),
            Filters {
                category: Some("rights".into()),
                ..Filters::default()
            },
            Filters {
                severity: Some("high".into()),
                assignee: AssigneeFilter::User(1),
                ..Filters::default()
            },
            Filters {
                assignee: AssigneeFilter::Unassigned,
                overdue: true,
                ..Filters::default()
            },
            Filters {
                appeal_open: true,
                ..Filters::default()
            },
            Filters {
                text: Some("麒麟".into()),
                ..Filters::default()
            },
            Filters {
                text: Some("麒".into()),
                severity: Some("low".into()),
                ..Filters::default()
            },
            Filters {
                text: Some("no-such-word".into()),
                ..Filters::default()
            },
            Filters {
                text: Some("标题".into()),
                ..Filters::default()
            },
        ];
        for f in filters {
            for states in [&open, &every] {
                for page in [(5, 0), (5, 5), (50, 0)] {
                    let expected =
                        read_pooled(&db, states, &resolved(&db, &f).await, now, page.0, page.1)
                            .await
                            .unwrap();
                    let st = states.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
                    let got = at_once(&db, &f, move |conn, f| {
                        let st: Vec<&str> = st.iter().map(String::as_str).collect();
                        read_page(conn, &st, f, now, page.0, page.1)
                    })
                    .await;
                    let case = format!("{f:?} {states:?} {page:?}");
                    assert!(
                        got.columns.iter().flatten().count() > 0
                            || page.1 > 0
                            || f.text.as_deref() == Some("no-such-word"),
                        "{case}: the case shows cards"
                    );
                    assert_eq!(got.counts, expected.counts, "{case}");
                    assert_eq!(got.columns, expected.columns, "{case}");
                    assert_eq!(got.users, expected.users, "{case}");
                    assert_eq!(got.appeals_open, expected.appeals_open, "{case}");
                    assert_eq!(got.unread, expected.unread, "{case}");
                    assert_eq!(got.provisional, expected.provisional, "{case}");
                    assert_eq!(got.appealed, expected.appealed, "{case}");
                }
            }
        }
        let expected = read_pooled(&db, &open, &Filters::default(), now, 50, 0)
            .await
            .unwrap();
        assert_eq!(expected.appeals_open, 2, "incidents 3 and 5");
        assert_eq!(expected.unread, vec![12]);
        assert_eq!(expected.provisional.get(&10).map(Vec::len), Some(2));
    }

    /// A list page read at once shows what the pool's path shows: every sort each way, with
    /// and without a search (one common enough to read in the board's order), a page further on.
    #[tokio::test]
    async fn a_list_read_at_once_is_what_the_pool_reads() {
        use super::super::list::{self, Sort, States};
        let (_dir, db) = super::super::tests::file_db(4).await;
        db.migrate().await.unwrap();
        let now = seed(&db).await;
        for text in [None, Some("标题"), Some("麒")] {
            let mut shown = 0;
            let f = Filters {
                text: text.map(str::to_owned),
                ..Filters::default()
            };
            for states in [States::Open, States::All, States::One("triaged".into())] {
                for sort in Sort::ALL {
                    for (desc, window) in [(false, (100, 0)), (true, (100, 100))] {
                        let pool = resolved(&db, &f).await;
                        let expected =
                            list::read_pooled(&db, &states, &pool, (sort, desc), now, window)
                                .await
                                .unwrap();
                        drop(pool);
                        let st = states.clone();
                        let got = at_once(&db, &f, move |conn, f| {
                            list::read_page(conn, &st, f, (sort, desc), now, window)
                        })
                        .await;
                        let case = format!("{text:?} {states:?} {sort:?} {desc} {window:?}");
                        shown += got.rows.len();
                        assert_eq!(got.total, expected.total, "{case}");
                        assert_eq!(
                            got.rows
                                .iter()
                                .map(|r| format!("{r:?}"))
                                .collect::<Vec<_>>(),
                            expected
                                .rows
                                .iter()
                                .map(|r| format!("{r:?}"))
                                .collect::<Vec<_>>(),
                            "{case}"
                        );
                        assert_eq!(got.users, expected.users, "{case}");
                        assert_eq!(got.appealed, expected.appealed, "{case}");
                    }
                }
            }
            assert!(shown > 1_000, "{text:?}: the cases show rows");
        }
    }
}
