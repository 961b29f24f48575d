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
    pub matched: Option<std::sync::Arc<Vec<i64>>>,
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

pub(crate) fn condition(f: &Filters, now: DateTime<Utc>, postgres: bool) -> Condition {
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
    if let Some(ids) = &f.matched {
        c = c.add(super::search::among(ids, postgres));
    }
    c
}

/// One column's cards, nearest deadline first (open incidents always have a running
/// remediation clock, so the nearest deadline is set), then oldest first.
pub async fn column(
    db: &Db,
    state: &str,
    f: &Filters,
    now: DateTime<Utc>,
    limit: u64,
    offset: u64,
) -> Result<Vec<Card>, DbError> {
    Ok(incident::Entity::find()
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
        .filter(Column::State.eq(state))
        .filter(condition(f, now, db.is_postgres()))
        .order_by_asc(Column::NextDueAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .offset(offset)
        .into_model::<Card>()
        .all(&db.conn)
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
        let rows = incident::Entity::find()
            .select_only()
            .column(Column::State)
            .column_as(Expr::col(Column::Id).count(), "n")
            .filter(Column::State.is_in(states.iter().copied()))
            .filter(condition(f, now, db.is_postgres()))
            .group_by(Column::State)
            .into_model::<Count>()
            .all(&db.conn)
            .await?;
        for st in states {
            out.insert((*st).to_string(), 0);
        }
        for r in rows {
            out.insert(r.state, u64::try_from(r.n).unwrap_or(0));
        }
        return Ok(out);
    }
    for state in states {
        let n = incident::Entity::find()
            .filter(Column::State.eq(*state))
            .filter(condition(f, now, db.is_postgres()))
            .count(&db.conn)
            .await?;
        out.insert((*state).to_string(), n);
    }
    Ok(out)
}
