//! The configured way mail leaves: `.eml` files, or SMTP through lettre.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailSettings, MailTransport};
use crate::db::entities::outbox;

#[derive(Clone)]
pub enum Transport {
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Parses an SMTP URL the way the transport will, without connecting.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Transport {
    pub fn from_settings(s: &MailSettings) -> Result<Transport, String> {
        match s.transport {
            MailTransport::File => {
                std::fs::create_dir_all(&s.dir)
                    .map_err(|e| format!("mail.dir {}: {e}", s.dir.display()))?;
                Ok(Transport::File(AsyncFileTransport::new(&s.dir)))
            }
            MailTransport::Smtp => {
                let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.smtp_url)
                    .map_err(|e| format!("mail.smtp_url: {e}"))?
                    .timeout(Some(Duration::from_secs(s.smtp_timeout_secs)))
                    .build();
                Ok(Transport::Smtp(t))
            }
        }
    }

    pub async fn send(&self, msg: Message) -> Result<(), String> {
        match self {
            Transport::File(t) => t.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Transport::Smtp(t) => t.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// The message for an outbox row: text and (when there is one) HTML alternatives, UTF-8
/// subject encoded by lettre, and the row's stable Message-ID.
pub fn build_message(from: &str, row: &outbox::Model) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("mail.from: {e}"))?;
    let to: Mailbox = row
        .recipient
        .parse()
        .map_err(|e| format!("recipient {:?}: {e}", row.recipient))?;
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(row.message_id.clone()));
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(row.body_text.clone());
    let msg = match &row.body_html {
        Some(html) => builder.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        ),
        None => builder.singlepart(text),
    };
    msg.map_err(|e| e.to_string())
}
