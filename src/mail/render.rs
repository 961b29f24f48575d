//! Mail templates (askama): a text and an HTML part for every message.

use askama::Template;
use chrono::{DateTime, Utc};

use super::{Mail, new_message_id};
use crate::config::Settings;
use crate::domain::locale::Locale;
use crate::domain::tracking_code::TrackingCode;
use crate::i18n::{Texts, texts};

#[derive(Template)]
#[template(path = "mail/ack.txt")]
struct AckText<'a> {
    t: &'a Texts,
    service: &'a str,
    code: &'a str,
    link: &'a str,
    feedback_due: &'a str,
}

#[derive(Template)]
#[template(path = "mail/ack.html")]
struct AckHtml<'a> {
    t: &'a Texts,
    service: &'a str,
    code: &'a str,
    link: &'a str,
    feedback_due: &'a str,
}

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
        .map(|d| crate::i18n::format::local_deadline(d, settings.public.time_zone, locale))
        .unwrap_or_default();
    let service = settings.public.service_name.as_str();
    let text = AckText {
        t,
        service,
        code: code.as_str(),
        link: &link,
        feedback_due: &feedback_due,
    }
    .render()?;
    let html = AckHtml {
        t,
        service,
        code: code.as_str(),
        link: &link,
        feedback_due: &feedback_due,
    }
    .render()?;
    Ok(Mail {
        kind: "acknowledgement",
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
    /// The content is filtered and the fixed model verified.
    Resolved,
}

#[derive(Template)]
#[template(path = "mail/outcome.txt")]
struct OutcomeText<'a> {
    t: &'a Texts,
    service: &'a str,
    code: &'a str,
    link: &'a str,
    reasons: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/outcome.html")]
struct OutcomeHtml<'a> {
    t: &'a Texts,
    service: &'a str,
    code: &'a str,
    link: &'a str,
    reasons: Option<&'a str>,
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
    let reasons = match outcome {
        Outcome::Rejected(r) => Some(r.as_str()),
        Outcome::Resolved => None,
    };
    Ok(Mail {
        kind: match outcome {
            Outcome::Rejected(_) => "outcome_rejected",
            Outcome::Resolved => "outcome_resolved",
        },
        recipient: reporter.email.clone(),
        locale: locale.as_str().to_string(),
        subject: format!("[{service}] {} ({code})", t.outcome_subject),
        text: OutcomeText {
            t,
            service,
            code,
            link: &link,
            reasons,
        }
        .render()?,
        html: Some(
            OutcomeHtml {
                t,
                service,
                code,
                link: &link,
                reasons,
            }
            .render()?,
        ),
        message_id: new_message_id(&settings.server.public_url),
    })
}
