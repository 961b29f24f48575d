//! The staff list view's queries: one row per incident under the board's filters, in any
//! state, sorted by any shown column; the same rows feed the CSV and JSON export.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use super::board::{Filters, condition};
use super::entities::incident::{self, Column};
use super::search::Access;
use super::{Db, DbError};

/// The columns a list can be sorted by, as the URL names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    Id,
    Title,
    State,
    Category,
    Severity,
    Assignee,
    #[default]
    Deadline,
    Reports,
    LastChange,
}

impl Sort {
    pub const ALL: [Sort; 9] = [
        Sort::Id,
        Sort::Title,
        Sort::State,
        Sort::Category,
        Sort::Severity,
        Sort::Assignee,
        Sort::Deadline,
        Sort::Reports,
        Sort::LastChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Id => "id",
            Sort::Title => "title",
            Sort::State => "state",
            Sort::Category => "category",
            Sort::Severity => "severity",
            Sort::Assignee => "assignee",
            Sort::Deadline => "deadline",
            Sort::Reports => "reports",
            Sort::LastChange => "last_change",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Which states a list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum States {
    Open,
    All,
    One(String),
}

#[derive(Debug, Clone, FromQueryResult, serde::Serialize)]
pub struct Row {
    pub id: i64,
    pub state: String,
    pub title: String,
    pub category: String,
    pub severity: Option<String>,
    pub report_count: i32,
    pub assignee_id: Option<i64>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub next_due_clock: Option<String>,
    pub last_event_at: DateTime<Utc>,
    pub serious: Option<String>,
    pub evidence_hold: bool,
}

fn base(
    postgres: bool,
    states: &States,
    f: &Filters,
    now: DateTime<Utc>,
) -> sea_orm::Select<incident::Entity> {
    let q = incident::Entity::find().filter(condition(f, now, postgres, Access::ById));
    match names(states) {
        Some(names) => q.filter(Column::State.is_in(names)),
        None => q,
    }
}

/// The states a list of `states` holds by name, unless it holds them all.
fn names(states: &States) -> Option<Vec<&str>> {
    match states {
        States::Open => Some(
            crate::domain::workflow::State::ALL
                .iter()
                .filter(|s| s.is_open())
                .map(|s| s.as_str())
                .collect(),
        ),
        States::All => None,
        States::One(s) => Some(vec![s.as_str()]),
    }
}

pub async fn count(
    db: &Db,
    states: &States,
    f: &Filters,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    if let Some(n) = count_of_search(states, f) {
        return Ok(n);
    }
    let n: Option<i64> = count_query(db.is_postgres(), states, f, now)
        .into_tuple()
        .one(&f.conn(db))
        .await?;
    Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
}

/// [`count`]'s statement where the search's own count does not do: one row, `n`.
fn count_query(
    postgres: bool,
    states: &States,
    f: &Filters,
    now: DateTime<Utc>,
) -> sea_orm::Select<incident::Entity> {
    base(postgres, states, f, now)
        .select_only()
        .column_as(Expr::cust("count(*)"), "n")
}

/// The count when it is the search's own: every incident a search matched exists (found
/// through its own rows), so with no other filter there is no need to look 20,000 incidents up
/// again.
fn count_of_search(states: &States, f: &Filters) -> Option<u64> {
    match (states, &f.matched) {
        (States::All, Some(m)) if f.only_searching() => Some(m.len() as u64),
        _ => None,
    }
}

/// What a list row shows.
const ROW_COLUMNS: [Column; 12] = [
    Column::Id,
    Column::State,
    Column::Title,
    Column::Category,
    Column::Severity,
    Column::ReportCount,
    Column::AssigneeId,
    Column::NextDueAt,
    Column::NextDueClock,
    Column::LastEventAt,
    Column::Serious,
    Column::EvidenceHold,
];

/// How deep into a search's list, by deadline, the rows are read state by state in the
/// board's index order (each state's first `offset + limit`); deeper pages sort every match.
const IN_ORDER_DEPTH: u64 = 1_000;

/// A search's rows of open incidents by deadline, on SQLite, when it matched many: each
/// state's nearest deadlines read in the board's (state, deadline) index, keeping the matches,
/// then merged. Sorting every match by its deadline read each of them in the table: 24 ms for
/// 17,800 matches of a common word at 100,000 incidents (`mixed` bench), 9-11 ms this way.
async fn by_deadline_in_order(
    db: &Db,
    states: &States,
    f: &Filters,
    desc: bool,
    now: DateTime<Utc>,
    (limit, offset): (u64, u64),
) -> Result<Option<Vec<Row>>, DbError> {
    let Some(queries) = in_order_queries(db.is_postgres(), states, f, desc, now, (limit, offset))
    else {
        return Ok(None);
    };
    let queries = queries
        .into_iter()
        .map(|q| {
            let q = q.into_model::<Row>();
            async move { Ok(q.all(&f.conn(db)).await?) }
        })
        .collect();
    let rows = f.each(queries).await?.into_iter().flatten().collect();
    Ok(Some(merged(rows, desc, (limit, offset))))
}

/// [`by_deadline_in_order`]'s query for each state, where it applies.
fn in_order_queries(
    postgres: bool,
    states: &States,
    f: &Filters,
    desc: bool,
    now: DateTime<Utc>,
    (limit, offset): (u64, u64),
) -> Option<Vec<sea_orm::Select<incident::Entity>>> {
    let many = f
        .matched
        .as_ref()
        .is_some_and(|m| m.len() >= super::search::IN_ORDER_FROM);
    // Closed incidents have no deadline; the general query sorts them last.
    let all_open = match states {
        States::Open => true,
        States::All => false,
        States::One(s) => s
            .parse::<crate::domain::workflow::State>()
            .is_ok_and(|s| s.is_open()),
    };
    if postgres || !many || !all_open || offset + limit > IN_ORDER_DEPTH {
        return None;
    }
    let order = if desc { Order::Desc } else { Order::Asc };
    Some(
        names(states)
            .unwrap_or_default()
            .into_iter()
            .map(|state| {
                super::board::by_deadline(postgres, state, f, now, order.clone())
                    .select_only()
                    .columns(ROW_COLUMNS)
                    .limit(offset + limit)
            })
            .collect(),
    )
}

/// Each state's rows of [`in_order_queries`] as one page.
fn merged(mut rows: Vec<Row>, desc: bool, (limit, offset): (u64, u64)) -> Vec<Row> {
    rows.sort_by_key(|r| (r.next_due_at, r.id));
    if desc {
        rows.reverse();
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    rows.into_iter().skip(skip).take(take).collect()
}

pub async fn rows(
    db: &Db,
    states: &States,
    f: &Filters,
    (sort, desc): (Sort, bool),
    now: DateTime<Utc>,
    (limit, offset): (u64, u64),
) -> Result<Vec<Row>, DbError> {
    if sort == Sort::Deadline
        && let Some(rows) = by_deadline_in_order(db, states, f, desc, now, (limit, offset)).await?
    {
        return Ok(rows);
    }
    Ok(rows_query(
        db.is_postgres(),
        states,
        f,
        (sort, desc),
        now,
        (limit, offset),
    )
    .into_model::<Row>()
    .all(&f.conn(db))
    .await?)
}

/// [`rows`]' query where it does not read in the board's order; its columns are [`Row`]'s
/// fields, in order.
fn rows_query(
    postgres: bool,
    states: &States,
    f: &Filters,
    (sort, desc): (Sort, bool),
    now: DateTime<Utc>,
    (limit, offset): (u64, u64),
) -> sea_orm::Select<incident::Entity> {
    let order = if desc { Order::Desc } else { Order::Asc };
    let q = base(postgres, states, f, now)
        .select_only()
        .columns(ROW_COLUMNS);
    let q = match sort {
        Sort::Id => q,
        Sort::Title => q.order_by(Column::Title, order.clone()),
        Sort::State => q.order_by(Column::State, order.clone()),
        Sort::Category => q.order_by(Column::Category, order.clone()),
        // By weight, not spelling; untriaged last either way.
        Sort::Severity => q
            .order_by(Expr::cust("incidents.severity IS NULL"), Order::Asc)
            .order_by(
                Expr::cust(
                    "CASE incidents.severity WHEN 'low' THEN 1 WHEN 'medium' THEN 2 \
                     WHEN 'high' THEN 3 WHEN 'critical' THEN 4 ELSE 0 END",
                ),
                order.clone(),
            ),
        Sort::Assignee => q
            .order_by(Expr::cust("incidents.assignee_id IS NULL"), Order::Asc)
            .order_by(
                Expr::cust("(SELECT u.name FROM users u WHERE u.id = incidents.assignee_id)"),
                order.clone(),
            ),
        // Incidents without a running clock (closed ones) last either way.
        Sort::Deadline => q
            .order_by(Expr::cust("incidents.next_due_at IS NULL"), Order::Asc)
            .order_by(Column::NextDueAt, order.clone()),
        Sort::Reports => q.order_by(Column::ReportCount, order.clone()),
        Sort::LastChange => q.order_by(Column::LastEventAt, order.clone()),
    };
    q.order_by(Column::Id, order).limit(limit).offset(offset)
}

impl Row {
    /// A row of [`rows_query`] or [`in_order_queries`], read on a rusqlite connection.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            state: r.get(1)?,
            title: r.get(2)?,
            category: r.get(3)?,
            severity: r.get(4)?,
            report_count: r.get(5)?,
            assignee_id: r.get(6)?,
            next_due_at: super::raw::maybe_instant(r, 7)?,
            next_due_clock: r.get(8)?,
            last_event_at: super::raw::instant_at(r, 9)?,
            serious: r.get(10)?,
            evidence_hold: r.get(11)?,
        })
    }
}

/// What a list page shows, read at once (see [`read_page`]).
pub struct Page {
    /// How many rows the list holds in all.
    pub total: u64,
    pub rows: Vec<Row>,
    pub users: Vec<super::entities::user::Model>,
    /// The rows' incidents with an undecided appeal.
    pub appealed: Vec<i64>,
}

/// A list page's data under `f`, unresolved: on SQLite at once on a reader thread
/// ([`read_page`]: through the pool a search's queries share its transaction, one trip to the
/// runtime after another), elsewhere through the pool ([`read_pooled`]). Answers the filters
/// with their search run.
pub async fn page(
    db: &Db,
    states: &States,
    f: Filters,
    sort: (Sort, bool),
    now: DateTime<Utc>,
    window: (u64, u64),
) -> Result<(Page, Filters), DbError> {
    let st = states.clone();
    let at_once = move |conn: &_, f: &_| read_page(conn, &st, f, sort, now, window);
    if let Some(read) = f.read_at_once(db, at_once).await {
        return read;
    }
    let f = f.resolve(db).await?;
    Ok((read_pooled(db, states, &f, sort, now, window).await?, f))
}

/// A list page through the pool, under resolved filters.
pub async fn read_pooled(
    db: &Db,
    states: &States,
    f: &Filters,
    sort: (Sort, bool),
    now: DateTime<Utc>,
    window: (u64, u64),
) -> Result<Page, DbError> {
    let users = super::users::list(db).await?;
    let total = count(db, states, f, now).await?;
    let rows = rows(db, states, f, sort, now, window).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let appealed = super::appeals::open_among(&db.conn, &ids).await?;
    Ok(Page {
        total,
        rows,
        users,
        appealed,
    })
}

/// SQLite: a list page, every statement in one read transaction on a reader thread
/// (`Db::on_reader`), a search's matches in its connection's table (see
/// `search::matching_ids_on`): the same statements the pool's path asks one by one.
pub(crate) fn read_page(
    conn: &rusqlite::Connection,
    states: &States,
    f: &Filters,
    (sort, desc): (Sort, bool),
    now: DateTime<Utc>,
    (limit, offset): (u64, u64),
) -> Result<Page, DbError> {
    use super::raw::rows;
    use sea_orm::QueryTrait;
    const SQLITE: sea_orm::DbBackend = sea_orm::DbBackend::Sqlite;
    let users = super::raw::query(conn, &super::users::list_query().build(SQLITE))?;
    let total = match count_of_search(states, f) {
        Some(n) => n,
        None => {
            let q = count_query(false, states, f, now).build(SQLITE);
            let n = rows(conn, &q, |r| r.get::<_, i64>(0))?;
            u64::try_from(n.first().copied().unwrap_or(0)).unwrap_or(0)
        }
    };
    let in_order = if sort == Sort::Deadline {
        in_order_queries(false, states, f, desc, now, (limit, offset))
    } else {
        None
    };
    let page = match in_order {
        Some(queries) => {
            let mut all = Vec::new();
            for q in queries {
                all.extend(rows(conn, &q.build(SQLITE), Row::read)?);
            }
            merged(all, desc, (limit, offset))
        }
        None => rows(
            conn,
            &rows_query(false, states, f, (sort, desc), now, (limit, offset)).build(SQLITE),
            Row::read,
        )?,
    };
    let ids: Vec<i64> = page.iter().map(|r| r.id).collect();
    let appealed = if ids.is_empty() {
        Vec::new()
    } else {
        let q = super::appeals::open_among_query(&ids).build(SQLITE);
        super::appeals::still_open(rows(conn, &q, |r| Ok((r.get(0)?, r.get(1)?)))?)
    };
    Ok(Page {
        total,
        rows: page,
        users,
        appealed,
    })
}
