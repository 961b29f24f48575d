//! The triage board's queries: one column per open state, cards by nearest deadline, filters
//! that work on the indexed columns so the board stays fast with many open incidents.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
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
        if let Some(text) = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            self.matched = Some(std::sync::Arc::new(
                super::search::matching_ids(db, text).await?,
            ));
        }
        Ok(self)
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

/// What a card shows.
#[derive(Debug, Clone, FromQueryResult)]
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
    db: &Db,
    state: &str,
    f: &Filters,
    now: DateTime<Utc>,
    order: sea_orm::Order,
) -> sea_orm::Select<incident::Entity> {
    incident::Entity::find()
        .filter(Column::State.eq(state))
        .filter(condition(f, now, db.is_postgres(), Access::InOrder))
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
    Ok(by_deadline(db, state, f, now, sea_orm::Order::Asc)
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
        .into_model::<Card>()
        .all(&f.conn(db))
        .await?)
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
        let conn = f.conn(db);
        let rows = if !db.is_postgres() && f.only_searching() {
            // Each match's state read in a narrow index by its id (migration 000090): half the
            // cost of reading it in the table, for tens of thousands of matches.
            let placeholders = vec!["?"; states.len()].join(", ");
            Count::find_by_statement(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                format!(
                    "SELECT i.state AS state, count(*) AS n FROM temp.search_hits AS h \
                     CROSS JOIN incidents AS i INDEXED BY incidents_id_state ON i.id = h.id \
                     WHERE +i.state IN ({placeholders}) GROUP BY i.state"
                ),
                states.iter().map(|s| sea_orm::Value::from(*s)),
            ))
            .all(&conn)
            .await?
        } else {
            incident::Entity::find()
                .select_only()
                .column(Column::State)
                .column_as(Expr::col(Column::Id).count(), "n")
                .filter(Column::State.is_in(states.iter().copied()))
                // The board's (state, deadline) index holds all a count needs.
                .filter(condition(f, now, db.is_postgres(), Access::InOrder))
                .group_by(Column::State)
                .into_model::<Count>()
                .all(&conn)
                .await?
        };
        for r in rows {
            out.insert(r.state, u64::try_from(r.n).unwrap_or(0));
        }
        return Ok(out);
    }
    if f.none() && !db.is_postgres() {
        // Kept by triggers as incidents change (migration 000120): six rows, where counting
        // read every open incident's index entry (7 ms at 100,000, four times that beside a
        // flood).
        #[derive(FromQueryResult)]
        struct Kept {
            state: String,
            n: i64,
        }
        let placeholders = vec!["?"; states.len()].join(", ");
        let rows = Kept::find_by_statement(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            format!("SELECT state, n FROM incident_state_counts WHERE state IN ({placeholders})"),
            states.iter().map(|s| sea_orm::Value::from(*s)),
        ))
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
                    let query = incident::Entity::find()
                        .filter(Column::State.eq(*state))
                        .filter(condition(f, now, db.is_postgres(), Access::InOrder));
                    async move { Ok(query.count(&f.conn(db)).await?) }
                })
                .collect(),
        )
        .await?;
    out.extend(states.iter().map(|s| (*s).to_string()).zip(ns));
    Ok(out)
}
