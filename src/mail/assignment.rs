//! "Assigned to you": the mail to a member of staff when incidents are assigned to them by
//! someone else, in their language, one mail for the incidents of one request.

use askama::Template;

use super::{Mail, new_message_id};
use crate::config::Settings;
use crate::domain::locale::Locale;
use crate::i18n::staff::{AssignmentTexts, assignment_texts};

/// One assigned incident: its number, title and a link to its page.
pub struct Item {
    pub reference: String,
    pub title: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "mail/assignment.txt")]
struct AssignText<'a> {
    t: &'a AssignmentTexts,
    lead: &'a str,
    service: &'a str,
    items: &'a [Item],
}

#[derive(Template)]
#[template(path = "mail/assignment.html")]
struct AssignHtml<'a> {
    t: &'a AssignmentTexts,
    lead: &'a str,
    service: &'a str,
    items: &'a [Item],
}

/// The mail to `recipient`, naming who assigned, for `incidents` (id, title).
pub fn assignment(
    settings: &Settings,
    locale: Locale,
    recipient: &str,
    assigner: &str,
    incidents: &[(i64, String)],
) -> Result<Mail, askama::Error> {
    let t = assignment_texts(locale);
    let service = settings.public.service_name.as_str();
    let items: Vec<Item> = incidents
        .iter()
        .map(|(id, title)| Item {
            reference: format!("INC-{id}"),
            title: title.clone(),
            link: settings.public_link(&format!("/incidents/{id}")),
        })
        .collect();
    let lead = (t.lead)(assigner, items.len());
    let subject = match items.as_slice() {
        [one] => format!(
            "[{service}] {} {}: {}",
            t.subject_one, one.reference, one.title
        ),
        many => format!("[{service}] {}", (t.subject_many)(many.len())),
    };
    Ok(Mail {
        kind: "assignment",
        recipient: recipient.to_string(),
        locale: locale.as_str().to_string(),
        subject: subject.chars().take(200).collect(),
        text: AssignText {
            t,
            lead: &lead,
            service,
            items: &items,
        }
        .render()?,
        html: Some(
            AssignHtml {
                t,
                lead: &lead,
                service,
                items: &items,
            }
            .render()?,
        ),
        message_id: new_message_id(&settings.server.public_url),
    })
}
