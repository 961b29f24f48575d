//! `GET /board`: one column per open state, cards by nearest deadline, filters in the URL.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::auth::Staff;
use super::{reference, urgency};
use crate::db::board::{self, AssigneeFilter, Filters};
use crate::domain::workflow::State as WfState;
use crate::i18n::words;
use crate::web::AppState;
use crate::web::error::WebError;

pub const PAGE: u64 = 50;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BoardQuery {
    pub category: Option<String>,
    pub severity: Option<String>,
    pub assignee: Option<String>,
    pub overdue: Option<String>,
    pub q: Option<String>,
    /// Show one column alone, a page at a time (`all`: every state).
    pub state: Option<String>,
    pub page: Option<u64>,
    /// The list view's sorting (the board ignores them).
    pub sort: Option<String>,
    pub dir: Option<String>,
    /// `open`: only incidents with an undecided appeal (closed ones included).
    pub appeal: Option<String>,
}

pub struct CardView {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub category: String,
    pub severity: String,
    pub severity_word: String,
    pub reports: i32,
    pub reports_text: String,
    pub assignee: String,
    pub urgency: &'static str,
    pub countdown: String,
    pub clock: String,
    /// "provisional deadline: …" when a running clock rests on a provisional year.
    pub provisional: String,
    /// Serious incident, evidence hold: (css key, words).
    pub flags: Vec<(&'static str, String)>,
    /// A reporter replied and nobody has opened the incident since.
    pub unread_reply: bool,
}

pub struct ColumnView {
    pub state: &'static str,
    pub label: &'static str,
    pub open: bool,
    pub count: u64,
    pub cards: Vec<CardView>,
    pub more_link: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/board.html")]
struct BoardPage<'a> {
    service: &'a str,
    staff: &'a Staff,
    columns: Vec<ColumnView>,
    categories: Vec<(String, String, bool)>,
    severities: Vec<(String, String)>,
    states: Vec<(String, String)>,
    f_state: String,
    users: Vec<(String, String)>,
    f_category: String,
    f_severity: String,
    f_assignee: String,
    f_overdue: bool,
    f_appeal: bool,
    /// "Open appeals waiting for a decision: 2." with its link, unless already filtered so.
    appeals_waiting: Option<String>,
    /// A search during a flood: how many reports it does not cover yet, in words.
    unsearched: Option<String>,
    f_q: String,
    single: bool,
    prev_link: Option<String>,
    next_link: Option<String>,
    /// Nothing matched at all: say so and offer to clear the filters.
    empty: bool,
    filtered: bool,
}

pub fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The filter part of a board URL, so links keep the view.
pub fn filter_query(q: &BoardQuery) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (k, v) in [
        ("category", &q.category),
        ("severity", &q.severity),
        ("assignee", &q.assignee),
        ("overdue", &q.overdue),
        ("appeal", &q.appeal),
        ("q", &q.q),
    ] {
        if let Some(v) = nonempty(v) {
            out.push((k, v));
        }
    }
    out
}

fn link(q: &BoardQuery, state: &str, page: u64) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filter_query(q) {
        ser.append_pair(k, &v);
    }
    ser.append_pair("state", state);
    if page > 1 {
        ser.append_pair("page", &page.to_string());
    }
    format!("/board?{}", ser.finish())
}

pub async fn board(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<BoardQuery>,
) -> Response {
    // A reference or tracking code that names exactly one incident goes straight to it.
    if let Some(text) = nonempty(&q.q) {
        match crate::db::search::find_exact(&state.db, &text).await {
            Ok(Some(id)) => return Redirect::to(&format!("/incidents/{id}")).into_response(),
            Ok(None) => {}
            Err(e) => return WebError::internal(staff.locale, false, e).into_response(),
        }
    }
    match render(&state, &staff, &q).await {
        Ok(r) => r,
        Err(e) => WebError::internal(staff.locale, false, e).into_response(),
    }
}

/// The filters a board or list URL asks for, parsed once into the names the rows hold; the
/// search is run where the page is read (`Filters::resolve`, or `read_at_once` on a reader thread).
pub fn parse_filters(state: &AppState, staff: &Staff, q: &BoardQuery) -> Filters {
    let s = &state.settings;
    let assignee = match nonempty(&q.assignee).as_deref() {
        None => AssigneeFilter::Anyone,
        Some("mine") => AssigneeFilter::User(staff.user.id),
        Some("unassigned") => AssigneeFilter::Unassigned,
        Some(id) => match id.parse() {
            Ok(id) => AssigneeFilter::User(id),
            Err(_) => AssigneeFilter::Anyone,
        },
    };
    Filters {
        // Parsed once into the canonical names the rows hold, whatever the URL's spelling.
        category: nonempty(&q.category)
            .and_then(|c| s.taxonomy.parse(&c))
            .map(|c| c.as_str().to_owned()),
        severity: nonempty(&q.severity)
            .and_then(|v| v.parse::<crate::domain::severity::Severity>().ok())
            .map(|v| v.as_str().to_owned()),
        assignee,
        overdue: q
            .overdue
            .as_deref()
            .is_some_and(|v| matches!(v, "1" | "on" | "true")),
        text: nonempty(&q.q),
        matched: None,
        appeal_open: appeal_filter(q),
    }
}

/// What a search says when the index is behind a flood of reports (see `db::search`).
pub fn unsearched_notice(f: &board::Filters, staff: &Staff) -> Option<String> {
    match f.matched.as_ref().map(|m| m.unsearched()) {
        None | Some(0) => None,
        Some(n) => Some(staff.t().unsearched.replace("{n}", &grouped(n))),
    }
}

/// 270352 as "270,352": a count people read at a glance (the same in Chinese text).
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether the URL asks for open appeals only (`appeal=open`).
pub fn appeal_filter(q: &BoardQuery) -> bool {
    nonempty(&q.appeal).as_deref() == Some("open")
}

/// Which columns a board URL shows, and from where.
struct Layout {
    /// The columns asked for (the view leaves out closed ones a search found nothing in).
    shown: Vec<WfState>,
    /// One column alone (`state=`), a page at a time.
    single: Option<WfState>,
    /// `state=all`.
    every: bool,
    /// Whether every state is looked through (a search, `state=all`, open appeals).
    searching: bool,
    page: u64,
    offset: u64,
}

impl Layout {
    fn new(q: &BoardQuery, filters: &Filters) -> Layout {
        // Any state may be asked for alone, the closed ones included.
        let single = nonempty(&q.state).and_then(|st| st.parse::<WfState>().ok());
        let every = nonempty(&q.state).as_deref() == Some("all");
        // A search, and the open appeals (most are on closed incidents), look through every
        // state.
        let searching = filters.text.is_some() || every || filters.appeal_open;
        let shown: Vec<WfState> = match single {
            Some(s) => vec![s],
            None if searching => WfState::ALL.to_vec(),
            None => WfState::ALL
                .iter()
                .copied()
                .filter(|s| s.is_open())
                .collect(),
        };
        let page = q.page.unwrap_or(1).max(1);
        let offset = if single.is_some() {
            (page - 1) * PAGE
        } else {
            0
        };
        Layout {
            shown,
            single,
            every,
            searching,
            page,
            offset,
        }
    }

    fn names(&self) -> Vec<&'static str> {
        self.shown.iter().map(|s| s.as_str()).collect()
    }
}

async fn render(state: &AppState, staff: &Staff, q: &BoardQuery) -> anyhow::Result<Response> {
    let now = Utc::now();
    let filters = parse_filters(state, staff, q);
    let layout = Layout::new(q, &filters);
    // SQLite reads it at once on a reader thread (see `db::readers`): beside a flood each trip
    // back to the runtime waited behind intake.
    let (data, filters) =
        board::page(&state.db, layout.names(), filters, now, PAGE, layout.offset).await?;
    let html = view(state, staff, q, &filters, &layout, now, data)?;
    Ok((StatusCode::OK, Html(html)).into_response())
}

/// The page's HTML from what was read: `layout.shown` names `data.columns`' states, in order;
/// looking through every state, a closed one with nothing found shows no column.
fn view(
    state: &AppState,
    staff: &Staff,
    q: &BoardQuery,
    filters: &Filters,
    layout: &Layout,
    now: chrono::DateTime<Utc>,
    data: board::Page,
) -> anyhow::Result<String> {
    let s = &state.settings;
    let l = staff.locale;
    let zh = l.is_zh();
    let (single, every, page) = (layout.single, layout.every, layout.page);
    let board::Page {
        counts,
        users: all_users,
        columns: fetched,
        appeals_open,
        unread,
        provisional,
        appealed,
    } = data;
    // Appeals are mostly on closed incidents, which the board leaves out: it says how many
    // wait for a decision and links to them (not when it shows only those).
    let appeals_open = if filters.appeal_open { 0 } else { appeals_open };
    let shown = &layout.shown;
    let user_names: HashMap<i64, String> =
        all_users.iter().map(|u| (u.id, u.name.clone())).collect();
    let mut columns = Vec::new();
    for (st, cards) in shown.iter().zip(fetched) {
        let count = counts.get(st.as_str()).copied().unwrap_or(0);
        // Looking through every state, a closed column shows only where something was found.
        if layout.searching && single.is_none() && !st.is_open() && count == 0 {
            continue;
        }
        let cards = cards
            .into_iter()
            .map(|c| {
                let (urg, countdown) = urgency(c.next_due_at, now, l);
                let mut flags = Vec::new();
                if let Some(k) = c.serious.as_deref().and_then(|k| k.parse().ok()) {
                    flags.push(("serious", words::serious_kind(k, l).to_string()));
                }
                if c.evidence_hold {
                    flags.push(("hold", staff.t().evidence_hold.to_string()));
                }
                if appealed.contains(&c.id) {
                    flags.push(("appeal", staff.t().appeal_badge.to_string()));
                }
                CardView {
                    id: c.id,
                    reference: reference(c.id),
                    title: c.title,
                    category: s.taxonomy.label(&c.category, zh),
                    severity_word: c
                        .severity
                        .as_deref()
                        .and_then(|v| v.parse().ok())
                        .map(|v| words::severity(v, l).to_string())
                        .unwrap_or_default(),
                    severity: c.severity.unwrap_or_default(),
                    reports_text: crate::i18n::staff::report_count(i64::from(c.report_count), l),
                    reports: c.report_count,
                    assignee: c
                        .assignee_id
                        .and_then(|id| user_names.get(&id).cloned())
                        .unwrap_or_default(),
                    urgency: urg,
                    countdown,
                    clock: c
                        .next_due_clock
                        .map(|k| words::clock(&k, l).into_owned())
                        .unwrap_or_default(),
                    provisional: super::deadlines::card_mark(provisional.get(&c.id), l),
                    flags,
                    unread_reply: unread.binary_search(&c.id).is_ok(),
                }
            })
            .collect::<Vec<_>>();
        let more_link = (single.is_none() && count > PAGE).then(|| link(q, st.as_str(), 1));
        columns.push(ColumnView {
            state: st.as_str(),
            label: words::state(*st, l),
            open: st.is_open(),
            count,
            cards,
            more_link,
        });
    }
    let (prev_link, next_link) = match single {
        Some(st) => {
            let count = counts.get(st.as_str()).copied().unwrap_or(0);
            (
                (page > 1).then(|| link(q, st.as_str(), page - 1)),
                (page * PAGE < count).then(|| link(q, st.as_str(), page + 1)),
            )
        }
        None => (None, None),
    };
    let total: u64 = counts.values().sum();
    let appeals_waiting = match appeals_open {
        0 => None,
        n => Some(staff.t().appeals_waiting.replace("{n}", &n.to_string())),
    };
    let page = BoardPage {
        service: &s.public.service_name,
        staff,
        columns,
        categories: s.taxonomy.options(zh),
        severities: crate::domain::severity::Severity::ALL
            .iter()
            .map(|v| (v.as_str().to_string(), words::severity(*v, l).to_string()))
            .collect(),
        states: WfState::ALL
            .iter()
            .map(|v| (v.as_str().to_string(), words::state(*v, l).to_string()))
            .collect(),
        f_state: match single {
            Some(s) => s.as_str().to_string(),
            None if every => "all".into(),
            None => String::new(),
        },
        users: all_users
            .iter()
            .filter(|u| !u.disabled)
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect(),
        f_category: filters.category.clone().unwrap_or_default(),
        f_severity: filters.severity.clone().unwrap_or_default(),
        f_assignee: nonempty(&q.assignee).unwrap_or_default(),
        f_overdue: filters.overdue,
        f_appeal: filters.appeal_open,
        appeals_waiting,
        unsearched: unsearched_notice(filters, staff),
        f_q: nonempty(&q.q).unwrap_or_default(),
        single: single.is_some(),
        prev_link,
        next_link,
        empty: total == 0,
        filtered: !filter_query(q).is_empty() || single.is_some(),
    };
    Ok(page.render()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(super::grouped(7), "7");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(270_352), "270,352");
        assert_eq!(super::grouped(1_234_567), "1,234,567");
    }
}
