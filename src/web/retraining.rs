//! The API a training pipeline and red-team jobs use, with machine tokens: the regression
//! export (scope `export`), verification runs (`verify`), red-team imports (`import`) and
//! regression cases (`cases`).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use http_body::Frame;
use serde_json::{Value, json};

use super::AppState;
use super::machine::{Machine, authorize, json_error};
use crate::db::cases::{self, CaseError};
use crate::db::discovery::Importer;
use crate::db::entities::regression_case;
use crate::db::export::{self, Filter, Pages};
use crate::db::verification::{self, CaseResult, Posted, RunError, RunPost};
use crate::db::workflow::{ActError, Reporter};
use crate::domain::cases::{CaseText, Format, export_line, is_confirmed};
use crate::domain::locale::Locale;
use crate::domain::token::Scope;
use crate::domain::workflow::{Incident, Refusal, State as IncidentState};
use crate::mail::Mail;

pub const EXPORT_PATH: &str = "/api/v1/exports/regression.jsonl";
pub const VERIFICATIONS_PATH: &str = "/api/v1/verifications";
pub const IMPORTS_PREFIX: &str = "/api/v1/imports/";

/// The header (and trailer) that counts the cases a training format left out.
pub const SKIPPED: &str = "x-rectify-skipped";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(EXPORT_PATH, get(export_jsonl))
        .route(VERIFICATIONS_PATH, post(post_verification))
        .route("/api/v1/imports/garak", post(import_garak))
        .route("/api/v1/imports/promptfoo", post(import_promptfoo))
        .route(
            "/api/v1/incidents/{id}/cases",
            get(list_cases).post(add_case),
        )
        .route("/api/v1/cases/{id}", patch(edit_case))
        .route("/api/v1/cases/{id}/retire", post(retire_case))
}

/// Whether a path takes bodies up to `discovery.max_body_bytes` (files, runs with every
/// case's output) rather than the general limit.
pub fn takes_large_bodies(path: &str) -> bool {
    path.starts_with(IMPORTS_PREFIX) || path == VERIFICATIONS_PATH
}

fn bad_request(message: impl Into<String>) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn unprocessable(errors: Vec<Value>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": "unprocessable", "errors": errors })),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display + 'static) -> Response {
    super::error::WebError::internal(Locale::En, true, e).into_response()
}

// ---------------------------------------------------------------------------------------------
// The export.

/// Reads `format`, `since` and `state` (repeatable) from the query.
pub fn export_filter(query: Option<&str>) -> Result<Filter, String> {
    let mut filter = Filter {
        format: Format::Dpo,
        since: None,
        states: Vec::new(),
    };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "format" => filter.format = v.parse().map_err(|e| format!("format: {e}"))?,
            "since" => {
                filter.since = Some(
                    DateTime::parse_from_rfc3339(&v)
                        .map_err(|e| format!("since: {v:?} is not RFC 3339 ({e})"))?
                        .with_timezone(&Utc),
                )
            }
            "state" => filter.states.push(confirmed_state(&v)?),
            _ => {}
        }
    }
    Ok(filter)
}

/// A state the export may be restricted to: only confirmed ones have cases to export.
pub fn confirmed_state(s: &str) -> Result<IncidentState, String> {
    let state: IncidentState = s.parse().map_err(|e| format!("state: {e}"))?;
    if !is_confirmed(state) {
        return Err(format!(
            "state: {state} incidents are not confirmed; the export covers triaged, contained, \
             fix_planned, retraining, verifying and resolved ones"
        ));
    }
    Ok(state)
}

/// The response body: frames handed over by the task that reads the pages.
struct Frames(tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

async fn export_jsonl(State(state): State<AppState>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Export, "export").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let filter = match export_filter(req.uri().query()) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let skipped = match export::count_without_desired(&state.db, &filter).await {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    tracing::info!(token = %machine.name, format = filter.format.as_str(), "regression export");
    // A page of lines at a time: the channel's bound keeps memory flat however slowly the
    // client reads.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let db = state.db.clone();
    tokio::spawn(async move {
        let format = filter.format;
        let mut pages = Pages::new(db, filter);
        let mut left_out = 0u64;
        loop {
            match pages.next().await {
                Ok(Some(page)) => {
                    let mut buf = Vec::with_capacity(page.len() * 512);
                    for c in &page {
                        match export_line(format, c) {
                            Some(line) => {
                                if serde_json::to_writer(&mut buf, &line).is_err() {
                                    return;
                                }
                                buf.push(b'\n');
                            }
                            None => left_out += 1,
                        }
                    }
                    if tx.send(Ok(Frame::data(Bytes::from(buf)))).await.is_err() {
                        return; // the client went away
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "the regression export failed midway");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        let mut trailers = HeaderMap::new();
        trailers.insert(
            HeaderName::from_static(SKIPPED),
            HeaderValue::from(left_out),
        );
        let _ = tx.send(Ok(Frame::trailers(trailers))).await;
    });
    let mut resp = Response::new(Body::new(Frames(rx)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jsonl; charset=utf-8"),
    );
    h.insert(HeaderName::from_static(SKIPPED), HeaderValue::from(skipped));
    h.insert(header::TRAILER, HeaderValue::from_static(SKIPPED));
    resp
}

// ---------------------------------------------------------------------------------------------
// Verification runs.

/// Reads a run's body: `{"run_id", "model_version", "results": [{"case_id", "output",
/// "passed", "score"?, "detector"?}]}`; every problem named by its field.
pub fn parse_run(body: Value) -> Result<RunPost, Vec<Value>> {
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<Value>, field: String, message: &str| {
        errors.push(json!({ "field": field, "message": message }));
    };
    let Value::Object(m) = &body else {
        return Err(vec![
            json!({ "field": "", "message": "the body must be a JSON object" }),
        ]);
    };
    let text = |errors: &mut Vec<Value>, field: &str, max: usize| -> String {
        match m.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                s.trim().to_owned()
            }
            Some(Value::String(s)) if !s.trim().is_empty() => {
                err(
                    errors,
                    field.into(),
                    &format!("must have at most {max} characters"),
                );
                String::new()
            }
            _ => {
                err(errors, field.into(), "is required (a non-empty string)");
                String::new()
            }
        }
    };
    let run_id = text(&mut errors, "run_id", 200);
    let model_version = text(&mut errors, "model_version", 500);
    let mut results = Vec::new();
    match m.get("results") {
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut seen = std::collections::HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let f = |name: &str| format!("results[{i}].{name}");
                let case_id = item
                    .get("case_id")
                    .and_then(Value::as_i64)
                    .filter(|&n| n > 0);
                let output = item.get("output").and_then(Value::as_str);
                let passed = item.get("passed").and_then(Value::as_bool);
                let score = match item.get("score") {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => v.as_f64().map(Some).ok_or(()),
                };
                let detector = match item.get("detector") {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(()),
                };
                if case_id.is_none() {
                    err(
                        &mut errors,
                        f("case_id"),
                        "must be a case id (a positive integer)",
                    );
                }
                if output.is_none() {
                    err(
                        &mut errors,
                        f("output"),
                        "must be the model's output (a string)",
                    );
                }
                if passed.is_none() {
                    err(&mut errors, f("passed"), "must be true or false");
                }
                if score.is_err() {
                    err(&mut errors, f("score"), "must be a number when given");
                }
                if detector.is_err() {
                    err(&mut errors, f("detector"), "must be a string when given");
                }
                if let Some(id) = case_id
                    && !seen.insert(id)
                {
                    err(
                        &mut errors,
                        f("case_id"),
                        "names a case that an earlier result names too",
                    );
                }
                if let (Some(case_id), Some(output), Some(passed), Ok(score), Ok(detector)) =
                    (case_id, output, passed, score, detector)
                {
                    results.push(CaseResult {
                        case_id,
                        output: output.to_owned(),
                        passed,
                        score,
                        detector,
                    });
                }
            }
        }
        _ => err(
            &mut errors,
            "results".into(),
            "must be a non-empty list of case results",
        ),
    }
    if errors.is_empty() {
        Ok(RunPost {
            run_id,
            model_version,
            results,
            body,
        })
    } else {
        Err(errors)
    }
}

/// Reporter mail for a fix verified by a run, as when a lead verifies it.
fn resolved_mail(state: &AppState) -> impl Fn(&Incident, &[Reporter]) -> Vec<Mail> + Sync + '_ {
    move |inc, reporters| {
        if inc.state != IncidentState::Resolved {
            return Vec::new();
        }
        reporters
            .iter()
            .filter_map(|r| {
                let locale = Locale::parse(&r.locale).unwrap_or_default();
                crate::mail::render::outcome(
                    &state.settings,
                    locale,
                    r,
                    &crate::mail::render::Outcome::Resolved(None),
                )
                .map_err(|e| tracing::error!(error = %e, "rendering an outcome mail failed"))
                .ok()
            })
            .collect()
    }
}

async fn read_body(req: Request, limit: u64) -> Result<Bytes, Response> {
    axum::body::to_bytes(req.into_body(), limit as usize)
        .await
        .map_err(|_| {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body is larger than {limit} bytes"),
            )
        })
}

async fn post_verification(State(state): State<AppState>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Verify, "verifications").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let body = match read_body(req, state.settings.discovery.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("the body is not valid JSON: {e}")),
    };
    let run = match parse_run(value) {
        Ok(r) => r,
        Err(errors) => return unprocessable(errors),
    };
    let mails = resolved_mail(&state);
    let actor = machine.actor();
    match verification::post(
        &state.db,
        &state.settings.deadlines,
        &run,
        &actor,
        Utc::now(),
        &mails,
    )
    .await
    {
        Ok(Posted::New(answer)) => {
            state.mail_ready.notify_one();
            (StatusCode::OK, Json(answer)).into_response()
        }
        Ok(Posted::Replay(answer)) => (StatusCode::OK, Json(answer)).into_response(),
        Err(RunError::Conflict(id)) => json_error(
            StatusCode::CONFLICT,
            "conflict",
            format!("run {id} was posted before with a different body; a run id names one run"),
        ),
        Err(e @ RunError::UnknownCases(_)) => unprocessable(vec![
            json!({ "field": "results", "message": e.to_string() }),
        ]),
        Err(RunError::Db(e)) => internal(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Imports.

fn too_large(limit: u64) -> std::io::Error {
    std::io::Error::other(format!("the body is larger than {limit} bytes"))
}

/// The request body as a stream of bytes, cut off past `limit`.
fn limited_stream(
    req: Request,
    limit: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let mut total = 0u64;
    req.into_body()
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk: Bytes| {
            total += chunk.len() as u64;
            futures_util::future::ready(if total > limit {
                Err(too_large(limit))
            } else {
                Ok(chunk)
            })
        })
}

fn summary_answer(importer: &Importer) -> Response {
    let s = &importer.summary;
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["summary"] = json!(s.line());
    (StatusCode::OK, Json(v)).into_response()
}

fn import_failed(importer: &Importer, e: anyhow::Error) -> Response {
    let message = e.to_string();
    let status = if message.contains("the body is larger than") {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if e.downcast_ref::<std::io::Error>().is_some() {
        StatusCode::BAD_REQUEST
    } else {
        tracing::error!(error = %e, "import failed");
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut v = serde_json::to_value(&importer.summary).unwrap_or_default();
    v["error"] = json!(if status == StatusCode::INTERNAL_SERVER_ERROR {
        "internal"
    } else {
        "bad_request"
    });
    v["message"] = json!(format!(
        "{message}; what was read before was imported ({}), and importing the file again adds nothing twice",
        importer.summary.line()
    ));
    (status, Json(v)).into_response()
}

async fn import_garak(State(state): State<AppState>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Import, "imports/garak").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let limit = state.settings.discovery.max_body_bytes;
    let reader = tokio_util::io::StreamReader::new(limited_stream(req, limit));
    let mut importer = Importer::new(state.intake.clone(), state.settings.clone(), None);
    let result = importer
        .garak(tokio::io::BufReader::new(reader), None)
        .await;
    let finished = importer.finish().await.map(|_| ());
    log_import(&machine, "garak", &importer);
    match result.and(finished) {
        Ok(()) => summary_answer(&importer),
        Err(e) => import_failed(&importer, e),
    }
}

async fn import_promptfoo(State(state): State<AppState>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Import, "imports/promptfoo").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let limit = state.settings.discovery.max_body_bytes;
    // The export is one JSON document: it is spooled to a file as it arrives, then parsed as
    // a stream from there.
    let path = std::env::temp_dir().join(format!(
        "rectify-promptfoo-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    let spooled = async {
        let mut file = tokio::fs::File::create(&path).await?;
        let mut reader = tokio_util::io::StreamReader::new(limited_stream(req, limit));
        tokio::io::copy(&mut reader, &mut file).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        std::fs::File::open(&path)
    }
    .await;
    let mut importer = Importer::new(state.intake.clone(), state.settings.clone(), None);
    let result = match spooled {
        Ok(file) => importer.promptfoo(file).await,
        Err(e) => Err(e.into()),
    };
    let _ = tokio::fs::remove_file(&path).await;
    let finished = importer.finish().await.map(|_| ());
    log_import(&machine, "promptfoo", &importer);
    match result.and(finished) {
        Ok(()) => summary_answer(&importer),
        Err(e) if e.to_string().starts_with("not a promptfoo") => {
            let mut r = import_failed(&importer, e);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
        Err(e) => import_failed(&importer, e),
    }
}

fn log_import(machine: &Machine, tool: &str, importer: &Importer) {
    tracing::info!(token = %machine.name, tool, summary = %importer.summary.line(), "import");
}

// ---------------------------------------------------------------------------------------------
// Regression cases.

pub fn case_json(c: &regression_case::Model) -> Value {
    json!({
        "id": c.id,
        "incident": c.incident_id,
        "report_id": c.report_id,
        "prompt": c.prompt,
        "bad_output": c.bad_output,
        "desired": c.desired,
        "source": c.source,
        "model": c.model,
        "model_version": c.model_version,
        "retired": c.retired,
        "created_at": c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "updated_at": c.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

fn case_failed(e: CaseError) -> Response {
    match e {
        CaseError::NotFound | CaseError::Act(ActError::NotFound) => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such incident or case",
        ),
        CaseError::Act(ActError::Refused(r)) => {
            let status = if matches!(r, Refusal::NotPermitted { .. }) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            json_error(status, "refused", r.reason())
        }
        CaseError::Act(ActError::Conflict) => json_error(
            StatusCode::CONFLICT,
            "conflict",
            "the incident changed meanwhile; try again",
        ),
        CaseError::Act(ActError::Db(e)) => internal(e),
    }
}

async fn json_object(
    state: &AppState,
    req: Request,
) -> Result<serde_json::Map<String, Value>, Response> {
    let body = read_body(req, state.settings.limits.max_body_bytes as u64).await?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("the body must be a JSON object")),
        Err(e) => Err(bad_request(format!("the body is not valid JSON: {e}"))),
    }
}

fn case_text(
    state: &AppState,
    m: &serde_json::Map<String, Value>,
    current: Option<&regression_case::Model>,
) -> Result<CaseText, Box<Response>> {
    let field = |name: &str, now: Option<&str>| -> Result<String, Box<Response>> {
        match m.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) => Ok(String::new()),
            None => Ok(now.unwrap_or("").to_owned()),
            Some(_) => Err(Box::new(unprocessable(vec![
                json!({ "field": name, "message": "must be a string" }),
            ]))),
        }
    };
    let prompt = field("prompt", current.map(|c| c.prompt.as_str()))?;
    let bad = field("bad_output", current.map(|c| c.bad_output.as_str()))?;
    let desired = field("desired", current.and_then(|c| c.desired.as_deref()))?;
    CaseText::parse(&prompt, &bad, &desired, state.settings.limits.output_chars).map_err(|ps| {
        Box::new(unprocessable(
            ps.into_iter()
                .map(|p| json!({ "field": p.field, "message": format!("{} {}", p.field, p.message()) }))
                .collect(),
        ))
    })
}

async fn list_cases(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&state, &headers, Scope::Cases, "cases").await {
        return r;
    }
    match cases::list(&state.db, id).await {
        Ok(list) => {
            Json(json!({ "incident": id, "cases": list.iter().map(case_json).collect::<Vec<_>>() }))
                .into_response()
        }
        Err(e) => internal(e),
    }
}

async fn add_case(State(state): State<AppState>, Path(id): Path<i64>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Cases, "cases").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let m = match json_object(&state, req).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let text = match case_text(&state, &m, None) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match cases::add(
        &state.db,
        &state.settings.deadlines,
        id,
        &text,
        &machine.actor(),
        Utc::now(),
    )
    .await
    {
        Ok(c) => (StatusCode::CREATED, Json(case_json(&c))).into_response(),
        Err(e) => case_failed(e),
    }
}

async fn edit_case(State(state): State<AppState>, Path(id): Path<i64>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Cases, "cases").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let m = match json_object(&state, req).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let current = match cases::get(&state.db, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return case_failed(CaseError::NotFound),
        Err(e) => return internal(e),
    };
    let text = match case_text(&state, &m, Some(&current)) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match cases::edit(
        &state.db,
        &state.settings.deadlines,
        id,
        &text,
        &machine.actor(),
        Utc::now(),
    )
    .await
    {
        Ok(c) => Json(case_json(&c)).into_response(),
        Err(e) => case_failed(e),
    }
}

async fn retire_case(State(state): State<AppState>, Path(id): Path<i64>, req: Request) -> Response {
    let machine = match authorize(&state, req.headers(), Scope::Cases, "cases").await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let m = match json_object(&state, req).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let reason = m
        .get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let Some(reason) = reason else {
        return unprocessable(vec![
            json!({ "field": "reason", "message": "reason is required: why the case is no longer used" }),
        ]);
    };
    match cases::retire(
        &state.db,
        &state.settings.deadlines,
        id,
        reason,
        &machine.actor(),
        Utc::now(),
    )
    .await
    {
        Ok(c) => Json(case_json(&c)).into_response(),
        Err(e) => case_failed(e),
    }
}
