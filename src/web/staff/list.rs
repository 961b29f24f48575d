//! `GET /incidents`: the list view (one row per incident, any state, sorted by any column,
//! the board's filters in the URL), and its export as CSV or JSON (`format=csv|json`).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::auth::Staff;
use super::board::{BoardQuery, filter_query, nonempty, parse_filters};
use super::{reference, urgency};
use crate::db::list::{self, Row, Sort, States};
use crate::db::users;
use crate::domain::locale::Locale;
use crate::domain::severity::Severity;
use crate::domain::workflow::{ActionKind, State as WfState};
use crate::i18n::staff::{StaffTexts, report_count};
use crate::i18n::words;
use crate::web::AppState;
use crate::web::error::WebError;

pub const PAGE: u64 = 100;
/// An export holds at most this many rows (the filters narrow it further).
pub const EXPORT_MAX: u64 = 50_000;

pub struct RowView {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub state: String,
    pub state_word: &'static str,
    pub category: String,
    pub severity: String,
    pub severity_word: String,
    pub assignee: String,
    pub urgency: &'static str,
    pub deadline: String,
    pub deadline_at: String,
    pub clock: String,
    pub reports: i32,
    pub reports_text: String,
    pub last_change: String,
    pub flags: Vec<(&'static str, String)>,
}

/// A sortable column heading: its caption, the link that sorts by it, and `aria-sort`.
pub struct Heading {
    pub caption: &'static str,
    pub link: String,
    pub aria: &'static str,
}

#[derive(Template)]
#[template(path = "staff/list.html")]
struct ListPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    rows: Vec<RowView>,
    headings: Vec<Heading>,
    total: u64,
    categories: Vec<(String, String, bool)>,
    severities: Vec<(String, String)>,
    states: Vec<(String, String)>,
    users: Vec<(String, String)>,
    f_state: String,
    f_category: String,
    f_severity: String,
    f_assignee: String,
    f_overdue: bool,
    f_appeal: bool,
    f_q: String,
    sort: String,
    dir: String,
    filtered: bool,
    /// A search during a flood: how many reports it does not cover yet, in words.
    unsearched: Option<String>,
    prev_link: Option<String>,
    next_link: Option<String>,
    csv_link: String,
    json_link: String,
    board_link: String,
    bulk_actions: Vec<(&'static str, &'static str)>,
    comment_label: &'static str,
    reasons_label: &'static str,
}

fn states_of(q: &BoardQuery) -> States {
    match nonempty(&q.state).as_deref() {
        Some("all") => States::All,
        // Most appeals contest a closing decision: they are looked for in every state.
        None if super::board::appeal_filter(q) => States::All,
        Some(s) => match s.parse::<WfState>() {
            Ok(st) => States::One(st.as_str().to_string()),
            Err(_) => States::Open,
        },
        None => States::Open,
    }
}

/// The list URL for these filters with another sort, page or format.
fn link(q: &BoardQuery, sort: Sort, desc: bool, page: u64, format: Option<&str>) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filter_query(q) {
        ser.append_pair(k, &v);
    }
    if let Some(s) = nonempty(&q.state) {
        ser.append_pair("state", &s);
    }
    ser.append_pair("sort", sort.as_str());
    ser.append_pair("dir", if desc { "desc" } else { "asc" });
    if page > 1 {
        ser.append_pair("page", &page.to_string());
    }
    if let Some(f) = format {
        ser.append_pair("format", f);
    }
    format!("/incidents?{}", ser.finish())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<BoardQuery>,
    Query(f): Query<FormatQuery>,
) -> Response {
    match render(&state, &staff, &q, f.format.as_deref()).await {
        Ok(r) => r,
        Err(e) => WebError::internal(staff.locale, false, e).into_response(),
    }
}

fn view(
    state: &AppState,
    l: Locale,
    t: &StaffTexts,
    names: &HashMap<i64, String>,
    r: Row,
    now: DateTime<Utc>,
) -> RowView {
    let zh = l.is_zh();
    let (urg, deadline) = match r.next_due_at {
        Some(_) => urgency(r.next_due_at, now, l),
        None => ("none", String::new()),
    };
    let mut flags = Vec::new();
    if let Some(k) = r.serious.as_deref().and_then(|k| k.parse().ok()) {
        flags.push(("serious", words::serious_kind(k, l).to_string()));
    }
    if r.evidence_hold {
        flags.push(("hold", t.evidence_hold.to_string()));
    }
    RowView {
        id: r.id,
        reference: reference(r.id),
        state_word: r
            .state
            .parse::<WfState>()
            .map(|s| words::state(s, l))
            .unwrap_or(""),
        state: r.state,
        title: r.title,
        category: state.settings.taxonomy.label(&r.category, zh),
        severity_word: r
            .severity
            .as_deref()
            .and_then(|v| v.parse::<Severity>().ok())
            .map(|v| words::severity(v, l).to_string())
            .unwrap_or_default(),
        severity: r.severity.unwrap_or_default(),
        assignee: r
            .assignee_id
            .and_then(|a| names.get(&a).cloned())
            .unwrap_or_default(),
        urgency: urg,
        deadline,
        deadline_at: r
            .next_due_at
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default(),
        clock: r
            .next_due_clock
            .map(|c| words::clock(&c, l).into_owned())
            .unwrap_or_default(),
        reports: r.report_count,
        reports_text: report_count(i64::from(r.report_count), l),
        last_change: r.last_event_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        flags,
    }
}

async fn render(
    state: &AppState,
    staff: &Staff,
    q: &BoardQuery,
    format: Option<&str>,
) -> anyhow::Result<Response> {
    let now = Utc::now();
    let f = parse_filters(state, staff, q);
    let states = states_of(q);
    let sort = nonempty(&q.sort)
        .and_then(|v| Sort::parse(&v))
        .unwrap_or_default();
    // Nearest deadline first, otherwise the newest first unless asked.
    let desc = match nonempty(&q.dir).as_deref() {
        Some("desc") => true,
        Some("asc") => false,
        _ => !matches!(
            sort,
            Sort::Deadline | Sort::Title | Sort::Category | Sort::State | Sort::Assignee
        ),
    };
    let page = q.page.unwrap_or(1).max(1);
    let window = (PAGE, (page - 1) * PAGE);
    if let Some(format) = format.filter(|f| matches!(*f, "csv" | "json")) {
        let f = f.resolve(&state.db).await?;
        let names: HashMap<i64, String> = users::list(&state.db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
        let rows = list::rows(&state.db, &states, &f, (sort, desc), now, (EXPORT_MAX, 0)).await?;
        let views: Vec<RowView> = rows
            .into_iter()
            .map(|r| view(state, staff.locale, staff.t(), &names, r, now))
            .collect();
        return Ok(if format == "csv" {
            super::export::csv(&views, staff.locale)
        } else {
            super::export::json(&views)
        });
    }
    // SQLite reads it at once on a reader thread (see `db::readers`).
    let (data, f) = list::page(&state.db, &states, f, (sort, desc), now, window).await?;
    let html = page_html(state, staff, q, &f, (sort, desc), page, now, data)?;
    Ok((StatusCode::OK, Html(html)).into_response())
}

/// The list page's HTML from what was read.
#[allow(clippy::too_many_arguments)]
fn page_html(
    state: &AppState,
    staff: &Staff,
    q: &BoardQuery,
    f: &crate::db::board::Filters,
    (sort, desc): (Sort, bool),
    page: u64,
    now: DateTime<Utc>,
    data: list::Page,
) -> anyhow::Result<String> {
    let l = staff.locale;
    let t = staff.t();
    let s = &state.settings;
    let list::Page {
        total,
        rows,
        users: all_users,
        appealed,
    } = data;
    let names: HashMap<i64, String> = all_users.iter().map(|u| (u.id, u.name.clone())).collect();
    let rows: Vec<RowView> = rows
        .into_iter()
        .map(|r| {
            let mut v = view(state, l, t, &names, r, now);
            if appealed.contains(&v.id) {
                v.flags.push(("appeal", t.appeal_badge.to_string()));
            }
            v
        })
        .collect();
    let captions = [
        (Sort::Id, t.col_id),
        (Sort::Title, t.col_title),
        (Sort::State, t.state),
        (Sort::Category, t.category),
        (Sort::Severity, t.severity),
        (Sort::Assignee, t.assignee),
        (Sort::Deadline, t.col_deadline),
        (Sort::Reports, t.col_reports),
        (Sort::LastChange, t.col_last_change),
    ];
    let headings = captions
        .into_iter()
        .map(|(col, caption)| Heading {
            caption,
            // A second click on the sorted column turns the order round.
            link: link(q, col, if col == sort { !desc } else { desc }, 1, None),
            aria: match (col == sort, desc) {
                (false, _) => "none",
                (true, true) => "descending",
                (true, false) => "ascending",
            },
        })
        .collect();
    let mut board_q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filter_query(q) {
        board_q.append_pair(k, &v);
    }
    if let Some(st) = nonempty(&q.state) {
        board_q.append_pair("state", &st);
    }
    let page_view = ListPage {
        service: &s.public.service_name,
        staff,
        rows,
        headings,
        total,
        categories: s.taxonomy.options(l.is_zh()),
        severities: Severity::ALL
            .iter()
            .map(|v| (v.as_str().to_string(), words::severity(*v, l).to_string()))
            .collect(),
        states: WfState::ALL
            .iter()
            .map(|v| (v.as_str().to_string(), words::state(*v, l).to_string()))
            .collect(),
        users: all_users
            .iter()
            .filter(|u| !u.disabled)
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect(),
        f_state: nonempty(&q.state).unwrap_or_default(),
        f_category: f.category.clone().unwrap_or_default(),
        f_severity: f.severity.clone().unwrap_or_default(),
        f_assignee: nonempty(&q.assignee).unwrap_or_default(),
        f_overdue: f.overdue,
        f_appeal: f.appeal_open,
        f_q: nonempty(&q.q).unwrap_or_default(),
        sort: sort.as_str().into(),
        dir: if desc { "desc" } else { "asc" }.into(),
        filtered: !filter_query(q).is_empty() || nonempty(&q.state).is_some(),
        unsearched: super::board::unsearched_notice(f, staff),
        prev_link: (page > 1).then(|| link(q, sort, desc, page - 1, None)),
        next_link: (page * PAGE < total).then(|| link(q, sort, desc, page + 1, None)),
        csv_link: link(q, sort, desc, 1, Some("csv")),
        json_link: link(q, sort, desc, 1, Some("json")),
        board_link: format!("/board?{}", board_q.finish()),
        bulk_actions: super::bulk::KINDS
            .iter()
            .map(|k| (k.as_str(), words::action(*k, l)))
            .collect(),
        comment_label: crate::i18n::staff::field_label(ActionKind::Comment, "text", l),
        reasons_label: crate::i18n::staff::field_label(ActionKind::Reject, "reasons", l),
    };
    Ok(page_view.render()?)
}

/// Headers for a download.
pub fn download(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}
