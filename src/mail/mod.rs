//! Mail: rendering messages from templates, the transports, and the outbox worker that
//! delivers what the rest of the application wrote to the outbox.

pub mod assignment;
pub mod calendar;
pub mod escalation;
pub mod render;
pub mod transport;
pub mod worker;

/// A rendered message, ready to be written to the outbox in the caller's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub kind: &'static str,
    pub recipient: String,
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Stable across retries: `<uuid@host>`.
    pub message_id: String,
}

/// A Message-ID under the public host name, so receivers can thread and de-duplicate.
pub fn new_message_id(public_url: &url::Url) -> String {
    let host = public_url.host_str().unwrap_or("localhost");
    format!("<{}@{}>", uuid::Uuid::now_v7(), host)
}
