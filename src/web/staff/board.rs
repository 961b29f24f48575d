//! `GET /board`: one column per open state, cards by nearest deadline, filters in the URL.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::auth::Staff;
use super::{reference, urgency};
use crate::db::board::{self, AssigneeFilter, Filters};
use crate::db::users;
use crate::domain::workflow::State as WfState;
use crate::web::AppState;
use crate::web::error::WebError;

pub const PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    category: Option<String>,
    severity: Option<String>,
    assignee: Option<String>,
    overdue: Option<String>,
    q: Option<String>,
    /// Show one column alone, a page at a time.
    state: Option<String>,
    page: Option<u64>,
}

pub struct CardView {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub category: String,
    pub severity: String,
    pub reports: i32,
    pub assignee: String,
    pub urgency: &'static str,
    pub countdown: String,
    pub clock: String,
    /// "provisional deadline: …" when a running clock rests on a provisional year.
    pub provisional: String,
    /// A reporter replied and nobody has opened the incident since.
    pub unread_reply: bool,
}

pub struct ColumnView {
    pub state: &'static str,
    pub label: &'static str,
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
    users: Vec<(String, String)>,
    f_category: String,
    f_severity: String,
    f_assignee: String,
    f_overdue: bool,
    f_q: String,
    single: bool,
    prev_link: Option<String>,
    next_link: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The filter part of a board URL, so links keep the view.
fn filter_query(q: &BoardQuery) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (k, v) in [
        ("category", &q.category),
        ("severity", &q.severity),
        ("assignee", &q.assignee),
        ("overdue", &q.overdue),
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
    match render(&state, &staff, &q).await {
        Ok(r) => r,
        Err(e) => WebError::internal(Default::default(), false, e).into_response(),
    }
}

async fn render(state: &AppState, staff: &Staff, q: &BoardQuery) -> anyhow::Result<Response> {
    let now = Utc::now();
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
    let filters = Filters {
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
    };
    let open: Vec<WfState> = WfState::ALL
        .iter()
        .copied()
        .filter(|s| s.is_open())
        .collect();
    let single = nonempty(&q.state)
        .and_then(|st| st.parse::<WfState>().ok())
        .filter(|st| st.is_open());
    let shown: Vec<WfState> = match single {
        Some(s) => vec![s],
        None => open.clone(),
    };
    let names: Vec<&str> = shown.iter().map(|s| s.as_str()).collect();
    let counts = board::counts(&state.db, &names, &filters, now).await?;
    let all_users = users::list(&state.db).await?;
    let user_names: HashMap<i64, String> =
        all_users.iter().map(|u| (u.id, u.name.clone())).collect();
    let page = q.page.unwrap_or(1).max(1);
    let offset = if single.is_some() {
        (page - 1) * PAGE
    } else {
        0
    };
    let mut columns = Vec::new();
    for st in &shown {
        let cards = board::column(&state.db, st.as_str(), &filters, now, PAGE, offset).await?;
        let ids: Vec<i64> = cards.iter().map(|c| c.id).collect();
        let provisional =
            crate::db::deadlines::provisional_by_incident(&state.db.conn, &ids).await?;
        let unread = crate::db::messages::unread_among(&state.db, &ids).await?;
        let count = counts.get(st.as_str()).copied().unwrap_or(0);
        let cards = cards
            .into_iter()
            .map(|c| {
                let (urg, countdown) = urgency(c.next_due_at, now);
                CardView {
                    id: c.id,
                    reference: reference(c.id),
                    title: c.title,
                    category: s.taxonomy.label(&c.category, false),
                    severity: c.severity.unwrap_or_default(),
                    reports: c.report_count,
                    assignee: c
                        .assignee_id
                        .and_then(|id| user_names.get(&id).cloned())
                        .unwrap_or_default(),
                    urgency: urg,
                    countdown,
                    clock: c.next_due_clock.unwrap_or_default(),
                    provisional: super::deadlines::card_mark(
                        provisional.get(&c.id),
                        crate::domain::locale::Locale::En,
                    ),
                    unread_reply: unread.contains(&c.id),
                }
            })
            .collect::<Vec<_>>();
        let more_link = (single.is_none() && count > PAGE).then(|| link(q, st.as_str(), 1));
        columns.push(ColumnView {
            state: st.as_str(),
            label: st.label(),
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
    let page = BoardPage {
        service: &s.public.service_name,
        staff,
        columns,
        categories: s.taxonomy.options(false),
        users: all_users
            .iter()
            .filter(|u| !u.disabled)
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect(),
        f_category: filters.category.clone().unwrap_or_default(),
        f_severity: filters.severity.clone().unwrap_or_default(),
        f_assignee: nonempty(&q.assignee).unwrap_or_default(),
        f_overdue: filters.overdue,
        f_q: nonempty(&q.q).unwrap_or_default(),
        single: single.is_some(),
        prev_link,
        next_link,
    };
    Ok((StatusCode::OK, Html(page.render()?)).into_response())
}
