//! The incident page's reporter panel (a partial of its own): the public summary the status
//! page shows, and the messages exchanged with each reporter, newest replies marked until
//! someone has opened the page.

use chrono::{DateTime, Utc};

use crate::db::DbError;
use crate::db::entities::report;
use crate::db::messages::{self, FROM_REPORTER};
use crate::domain::locale::Locale;
use crate::i18n::panels::{ReporterPanelTexts, reporter_texts};
use crate::web::AppState;

pub struct MessageView {
    pub from_reporter: bool,
    pub author: String,
    /// "#3 7KQ2-…" or "all reporters (2)".
    pub to: String,
    pub at: String,
    pub body: String,
    pub unread: bool,
    pub redacted: bool,
    /// The image that came with a reporter's reply: (attachment id, label).
    pub attachment: Option<(i64, String)>,
}

pub struct ReporterView {
    /// The panel's words, in the viewer's language.
    pub t: &'static ReporterPanelTexts,
    /// "2 new replies".
    pub unread_text: String,
    pub summary: Option<String>,
    pub messages: Vec<MessageView>,
    pub unread: usize,
    /// The message form's choices: every reporter, or one report.
    pub recipients: Vec<(String, String)>,
    /// A reporter contested the decision and nobody has decided the appeal yet.
    pub appeal_open: bool,
    /// Screenshots with the reports and evidence: (id, "#3 screenshot-1.png (120 KiB, …)").
    pub attachments: Vec<(i64, String)>,
    /// The evidence form is shown: every staff role may attach evidence (the role table);
    /// the upload checks the role again.
    pub can_attach: bool,
}

fn label(r: &report::Model, t: &ReporterPanelTexts) -> String {
    let contact = if r.reporter_email.is_some() {
        t.by_mail
    } else {
        t.page_only
    };
    format!("#{} {} ({contact})", r.id, r.tracking_code)
}

/// Builds the panel and marks the reporters' replies read: the board's "unread reporter mail"
/// mark is for incidents nobody has opened since the reply came.
pub async fn view(
    state: &AppState,
    incident_id: i64,
    reports: &[report::Model],
    now: DateTime<Utc>,
    locale: Locale,
) -> Result<ReporterView, DbError> {
    let db = &state.db;
    let t = reporter_texts(locale);
    let rows = messages::for_incident(db, incident_id).await?;
    let ids: Vec<i64> = reports.iter().map(|r| r.id).collect();
    let files = crate::db::attachments::for_incident(db, incident_id, &ids).await?;
    let attachments: Vec<(i64, String)> = files
        .iter()
        .map(|a| {
            let whose = a
                .report_id
                .map(|r| format!("#{r} "))
                .unwrap_or_else(|| (t.evidence_by)(&a.uploaded_by));
            (
                a.id,
                format!(
                    "{whose}{} ({} KiB, sha256 {}…)",
                    a.filename,
                    (a.size + 1023) / 1024,
                    &a.sha256[..12]
                ),
            )
        })
        .collect();
    // A reply's image is shown with the reply too.
    let with_message = |id: i64| {
        files
            .iter()
            .zip(&attachments)
            .find(|(f, _)| f.message_id == Some(id))
            .map(|(_, shown)| shown.clone())
    };
    let code_of = |id: i64| {
        reports
            .iter()
            .find(|r| r.id == id)
            .map(|r| format!("#{id} {}", r.tracking_code))
            .unwrap_or_else(|| format!("#{id}"))
    };
    let mut views: Vec<MessageView> = Vec::new();
    let mut seen_batches: Vec<(String, usize)> = Vec::new();
    for m in &rows {
        let from_reporter = m.direction == FROM_REPORTER;
        if !from_reporter && let Some((_, i)) = seen_batches.iter().find(|(b, _)| *b == m.batch) {
            // One message to several reporters is one entry.
            let entry = &mut views[*i];
            entry.to = format!("{}, {}", entry.to, code_of(m.report_id));
            continue;
        }
        if !from_reporter {
            seen_batches.push((m.batch.clone(), views.len()));
        }
        views.push(MessageView {
            from_reporter,
            author: if from_reporter {
                (t.reporter_of)(&code_of(m.report_id))
            } else {
                m.author.clone()
            },
            to: if from_reporter {
                String::new()
            } else {
                code_of(m.report_id)
            },
            at: m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            body: m.body.clone(),
            unread: from_reporter && m.read_at.is_none(),
            redacted: m.redacted_at.is_some(),
            attachment: with_message(m.id),
        });
    }
    let unread = views.iter().filter(|v| v.unread).count();
    if unread > 0 {
        messages::mark_read(db, incident_id, now).await?;
    }
    let mut recipients = vec![("all".to_owned(), (t.everyone)(reports.len()))];
    recipients.extend(reports.iter().map(|r| (r.id.to_string(), label(r, t))));
    Ok(ReporterView {
        t,
        unread_text: (t.new_replies)(unread),
        can_attach: true,
        attachments,
        appeal_open: crate::db::appeals::is_open(&db.conn, incident_id).await?,
        summary: messages::public_summary(db, incident_id).await?,
        messages: views,
        unread,
        recipients,
    })
}
