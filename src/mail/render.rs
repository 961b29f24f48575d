//! Mail templates (askama): a text and an HTML part for every message.

use askama::Template;
use chrono::{DateTime, Utc};

use super::{Mail, new_message_id};
use crate::config::Settings;
use crate::domain::locale::Locale;
use crate::domain::tracking_code::TrackingCode;
use crate::i18n::reporter::{ReporterTexts, reporter_texts};
use crate::i18n::{Texts, texts};

#[derive(Template)]
#[template(path = "mail/ack.txt")]
struct AckText<'a> {
    t: &'a Texts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    feedback_due: &'a str,
}

#[derive(Template)]
#[template(path = "mail/ack.html")]
struct AckHtml<'a> {
    t: &'a Texts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    feedback_due: &'a str,
}

/// The kind of the acknowledgement mail (the outbox's `kind`).
pub const ACK_KIND: &str = "acknowledgement";

/// The acknowledgement to a reporter: the tracking code and the status link, in their language.
pub fn acknowledgement(
    settings: &Settings,
    locale: Locale,
    recipient: &str,
    code: &TrackingCode,
    feedback_due: Option<DateTime<Utc>>,
) -> Result<Mail, askama::Error> {
    let t = texts(locale);
    let link = settings.public_link(&format!("/status/{code}"));
    let feedback_due = feedback_due
        .map(|d| crate::i18n::dates::reader_deadline(d, settings.public.time_zone, locale))
        .unwrap_or_default();
    let service = settings.public.service_name.as_str();
    let operator = operator_line(settings, locale);
    let text = AckText {
        t,
        service,
        operator: &operator,
        code: code.as_str(),
        link: &link,
        feedback_due: &feedback_due,
    }
    .render()?;
    let html = AckHtml {
        t,
        service,
        operator: &operator,
        code: code.as_str(),
        link: &link,
        feedback_due: &feedback_due,
    }
    .render()?;
    Ok(Mail {
        kind: ACK_KIND,
        recipient: recipient.to_string(),
        locale: locale.as_str().to_string(),
        subject: format!("[{service}] {} ({code})", t.ack_subject),
        text,
        html: Some(html),
        message_id: new_message_id(&settings.server.public_url),
    })
}

/// What happened to the reporter's incident.
pub enum Outcome {
    /// Rejected, with the statement of reasons (EU DSA Art. 17).
    Rejected(String),
    /// Action taken: what was done, in public terms (the public summary staff wrote).
    ActionTaken(String),
    /// The content is filtered and the fixed model verified; with the public summary when
    /// staff wrote one.
    Resolved(Option<String>),
}

/// "Operated by X · Contact: Y": the footer line of every public page and reporter mail.
pub fn operator_line(settings: &Settings, locale: Locale) -> String {
    let rt = crate::i18n::reporter::reporter_texts(locale);
    let p = &settings.public;
    let sep = if locale.is_zh() { "：" } else { ": " };
    let mut line = format!("{}{sep}{}", rt.operated_by, p.operator_name);
    if !p.operator_contact.trim().is_empty() {
        line.push_str(&format!(
            " · {}{sep}{}",
            rt.contact,
            p.operator_contact.trim()
        ));
    }
    line
}

#[derive(Template)]
#[template(path = "mail/outcome.txt")]
struct OutcomeText<'a> {
    t: &'a Texts,
    rt: &'a ReporterTexts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    reasons: Option<&'a str>,
    /// Action taken (not yet resolved).
    acted: bool,
    summary: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/outcome.html")]
struct OutcomeHtml<'a> {
    t: &'a Texts,
    rt: &'a ReporterTexts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    reasons: Option<&'a str>,
    acted: bool,
    summary: Option<&'a str>,
}

/// The outcome notice to one reporter, in the report's language.
pub fn outcome(
    settings: &Settings,
    locale: Locale,
    reporter: &crate::db::workflow::Reporter,
    outcome: &Outcome,
) -> Result<Mail, askama::Error> {
    let t = texts(locale);
    let code = reporter.tracking_code.as_str();
    let link = settings.public_link(&format!("/status/{code}"));
    let service = settings.public.service_name.as_str();
    let rt = reporter_texts(locale);
    let operator = operator_line(settings, locale);
    let (reasons, acted, summary) = match outcome {
        Outcome::Rejected(r) => (Some(r.as_str()), false, None),
        Outcome::ActionTaken(s) => (None, true, Some(s.as_str())),
        Outcome::Resolved(s) => (None, false, s.as_deref()),
    };
    let subject = if acted {
        rt.action_subject
    } else {
        t.outcome_subject
    };
    Ok(Mail {
        kind: match outcome {
            Outcome::Rejected(_) => "outcome_rejected",
            Outcome::ActionTaken(_) => "outcome_action_taken",
            Outcome::Resolved(_) => "outcome_resolved",
        },
        recipient: reporter.email.clone(),
        locale: locale.as_str().to_string(),
        subject: format!("[{service}] {subject} ({code})"),
        text: OutcomeText {
            t,
            rt,
            service,
            operator: &operator,
            code,
            link: &link,
            reasons,
            acted,
            summary,
        }
        .render()?,
        html: Some(
            OutcomeHtml {
                t,
                rt,
                service,
                operator: &operator,
                code,
                link: &link,
                reasons,
                acted,
                summary,
            }
            .render()?,
        ),
        message_id: new_message_id(&settings.server.public_url),
    })
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct MessageText<'a> {
    t: &'a Texts,
    rt: &'a ReporterTexts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    text: &'a str,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct MessageHtml<'a> {
    t: &'a Texts,
    rt: &'a ReporterTexts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    text: &'a str,
}

/// A staff message to one reporter, in the report's language, with the status page to answer on.
pub fn message(
    settings: &Settings,
    locale: Locale,
    recipient: &str,
    code: &str,
    text: &str,
) -> Result<Mail, askama::Error> {
    let t = texts(locale);
    let rt = reporter_texts(locale);
    let link = settings.public_link(&format!("/status/{code}"));
    let service = settings.public.service_name.as_str();
    let operator = operator_line(settings, locale);
    Ok(Mail {
        kind: "reporter_message",
        recipient: recipient.to_string(),
        locale: locale.as_str().to_string(),
        subject: format!("[{service}] {} ({code})", rt.message_subject),
        text: MessageText {
            t,
            rt,
            service,
            operator: &operator,
            code,
            link: &link,
            text,
        }
        .render()?,
        html: Some(
            MessageHtml {
                t,
                rt,
                service,
                operator: &operator,
                code,
                link: &link,
                text,
            }
            .render()?,
        ),
        message_id: new_message_id(&settings.server.public_url),
    })
}

#[derive(Template)]
#[template(path = "mail/reply_notice.txt")]
struct NoticeText<'a> {
    rt: &'a ReporterTexts,
    body: &'a str,
    service: &'a str,
    reference: &'a str,
    title: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "mail/reply_notice.html")]
struct NoticeHtml<'a> {
    rt: &'a ReporterTexts,
    body: &'a str,
    lang: &'a str,
    service: &'a str,
    reference: &'a str,
    title: &'a str,
    link: &'a str,
}

/// Tells a member of staff (in their language) that a reporter replied. The reply itself stays
/// on the incident page: mail would keep personal data beyond the retention policy's reach.
pub fn reply_notice(
    settings: &Settings,
    locale: Locale,
    recipient: &str,
    incident_id: i64,
    title: &str,
    appeal: bool,
) -> Result<Mail, askama::Error> {
    let rt = reporter_texts(locale);
    let (subject, body) = if appeal {
        (rt.appeal_notice_subject, rt.appeal_notice_body)
    } else {
        (rt.notice_subject, rt.notice_body)
    };
    let reference = format!("INC-{incident_id}");
    let link = settings.public_link(&format!("/incidents/{incident_id}"));
    let service = settings.public.service_name.as_str();
    Ok(Mail {
        kind: if appeal {
            "appeal_filed"
        } else {
            "reporter_reply"
        },
        recipient: recipient.to_string(),
        locale: locale.as_str().to_string(),
        subject: format!("[{service}] {reference}: {subject}"),
        text: NoticeText {
            rt,
            body,
            service,
            reference: &reference,
            title,
            link: &link,
        }
        .render()?,
        html: Some(
            NoticeHtml {
                rt,
                body,
                lang: locale.as_str(),
                service,
                reference: &reference,
                title,
                link: &link,
            }
            .render()?,
        ),
        message_id: new_message_id(&settings.server.public_url),
    })
}

#[derive(Template)]
#[template(path = "mail/appeal.txt")]
struct AppealText<'a> {
    t: &'a Texts,
    rt: &'a ReporterTexts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    granted: bool,
    reasons: &'a str,
}

#[derive(Template)]
#[template(path = "mail/appeal.html")]
struct AppealHtml<'a> {
    t: &'a Texts,
    rt: &'a ReporterTexts,
    service: &'a str,
    operator: &'a str,
    code: &'a str,
    link: &'a str,
    granted: bool,
    reasons: &'a str,
}

/// The decision on a reporter's appeal, in the report's language.
pub fn appeal_outcome(
    settings: &Settings,
    locale: Locale,
    reporter: &crate::db::workflow::Reporter,
    granted: bool,
    reasons: &str,
) -> Result<Mail, askama::Error> {
    let t = texts(locale);
    let rt = reporter_texts(locale);
    let code = reporter.tracking_code.as_str();
    let link = settings.public_link(&format!("/status/{code}"));
    let service = settings.public.service_name.as_str();
    let operator = operator_line(settings, locale);
    Ok(Mail {
        kind: if granted {
            "appeal_granted"
        } else {
            "appeal_upheld"
        },
        recipient: reporter.email.clone(),
        locale: locale.as_str().to_string(),
        subject: format!("[{service}] {} ({code})", rt.appeal_subject),
        text: AppealText {
            t,
            rt,
            service,
            operator: &operator,
            code,
            link: &link,
            granted,
            reasons,
        }
        .render()?,
        html: Some(
            AppealHtml {
                t,
                rt,
                service,
                operator: &operator,
                code,
                link: &link,
                granted,
                reasons,
            }
            .render()?,
        ),
        message_id: new_message_id(&settings.server.public_url),
    })
}
