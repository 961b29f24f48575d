//! Mail templates (askama): a text and an HTML part for every message.

use askama::Template;
use chrono::{DateTime, Utc};

use super::{Mail, new_message_id};
use crate::config::Settings;
use crate::domain::locale::Locale;
use crate::domain::tracking_code::TrackingCode;
use crate::web::i18n::{Texts, texts};

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
        .map(|d| crate::web::format::local_deadline(d, settings.public.time_zone, locale))
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
