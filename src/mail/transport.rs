//! The configured way mail leaves: `.eml` files, or SMTP through lettre.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailSettings, MailTransport};
use crate::db::entities::outbox;

#[derive(Clone)]
pub enum Transport {
    File(FileWriter),
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
                Ok(Transport::File(FileWriter::start(&s.dir)?))
            }
            MailTransport::Smtp => {
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.smtp_url)
                    .map_err(|e| format!("mail.smtp_url: {e}"))?
                    .timeout(Some(Duration::from_secs(s.smtp_timeout_secs)));
                if !s.smtp_username.is_empty() {
                    b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                        s.smtp_username.clone(),
                        s.smtp_password.clone(),
                    ));
                }
                Ok(Transport::Smtp(b.build()))
            }
        }
    }

    /// Rows a delivery pass claims at a time. SMTP: few enough that a batch is delivered well
    /// within the lease even when every message takes the whole timeout. Files: enough that
    /// claiming and recording cost little per message.
    pub fn claim_batch(&self) -> u64 {
        match self {
            Transport::File(_) => 100,
            Transport::Smtp(_) => 10,
        }
    }

    /// Messages handed to [`Transport::send_in_order`] at a time: a whole batch of files (a hop
    /// per file, each waiting behind the handlers' tasks, kept delivery far behind intake);
    /// SMTP one message at a time, so each delivery is recorded soon after it happens.
    pub fn send_group(&self) -> usize {
        match self {
            Transport::File(_) => usize::MAX,
            Transport::Smtp(_) => 1,
        }
    }

    /// Sends messages in order and returns the outcome of each one tried (a message that could
    /// not be built comes in as its error and goes out the same). Stops after a message the
    /// server could not be reached for, since the rest would fail alike, and (SMTP) before the
    /// next message once `deadline` has passed; files are written all together.
    pub async fn send_in_order(
        &self,
        messages: Vec<Result<Message, SendError>>,
        deadline: std::time::Instant,
    ) -> Vec<Result<(), SendError>> {
        match self {
            Transport::File(files) => files.write(messages).await,
            Transport::Smtp(t) => {
                let mut out = Vec::with_capacity(messages.len());
                for m in messages {
                    if std::time::Instant::now() > deadline {
                        break;
                    }
                    let outcome = match m {
                        Ok(m) => smtp_send(t, m).await,
                        Err(e) => Err(e),
                    };
                    let stop = outcome.as_ref().is_err_and(|e| e.unreachable);
                    out.push(outcome);
                    if stop {
                        break;
                    }
                }
                out
            }
        }
    }
}

/// Writes one message as `<uuid>.eml` in `dir`, whole or not at all: it is written under a
/// hidden temporary name and renamed, so whatever picks mail up from the folder never reads a
/// message half written.
fn write_eml(dir: &std::path::Path, m: &Message) -> std::io::Result<()> {
    let name = uuid::Uuid::new_v4();
    let tmp = dir.join(format!(".{name}.eml.tmp"));
    std::fs::write(&tmp, m.formatted())?;
    std::fs::rename(&tmp, dir.join(format!("{name}.eml")))
}

/// `.eml` files, written by a thread of its own at a low priority. Creating files is costly in
/// the kernel; this way delivery takes the time intake leaves idle rather than time from the
/// reports, and never waits behind the handlers for a thread of the blocking pool.
#[derive(Clone)]
pub struct FileWriter {
    queue: std::sync::mpsc::Sender<FileJob>,
}

type FileJob = (
    Vec<Result<Message, SendError>>,
    tokio::sync::oneshot::Sender<Vec<Result<(), SendError>>>,
);

impl FileWriter {
    /// Starts the thread; it ends when the last handle is dropped.
    fn start(dir: &std::path::Path) -> Result<FileWriter, String> {
        let dir = dir.to_path_buf();
        let (queue, jobs) = std::sync::mpsc::channel::<FileJob>();
        std::thread::Builder::new()
            .name("mail-files".into())
            .spawn(move || {
                crate::nice::set_this_thread(10);
                for (messages, done) in jobs {
                    let written = messages
                        .into_iter()
                        .map(|m| {
                            m.and_then(|m| {
                                write_eml(&dir, &m).map_err(|e| SendError {
                                    message: format!("{}: {e}", dir.display()),
                                    unreachable: false,
                                })
                            })
                        })
                        .collect();
                    let _ = done.send(written);
                }
            })
            .map_err(|e| format!("cannot start the mail file writer: {e}"))?;
        Ok(FileWriter { queue })
    }

    async fn write(&self, messages: Vec<Result<Message, SendError>>) -> Vec<Result<(), SendError>> {
        let n = messages.len();
        let (done, written) = tokio::sync::oneshot::channel();
        let stopped = || {
            let e = SendError {
                message: "the mail file writer has stopped".into(),
                unreachable: true,
            };
            vec![Err(e); n]
        };
        if self.queue.send((messages, done)).is_err() {
            return stopped();
        }
        written.await.unwrap_or_else(|_| stopped())
    }
}

async fn smtp_send(t: &AsyncSmtpTransport<Tokio1Executor>, msg: Message) -> Result<(), SendError> {
    t.send(msg).await.map(|_| ()).map_err(|e| {
        // No SMTP reply at all (refused, reset, timed out, TLS failed), or 421 "service
        // not available": the server is down, not this message wrong.
        let answered = e.is_transient() || e.is_permanent() || e.is_client();
        let unavailable = e.status().is_some_and(|c| c.to_string() == "421");
        SendError {
            message: error_chain(&e),
            unreachable: !answered || unavailable,
        }
    })
}

/// Why a message was not delivered.
#[derive(Debug, Clone)]
pub struct SendError {
    pub message: String,
    /// The server could not be reached (or said it is unavailable): the rest of a delivery pass
    /// would fail the same way, so the pass stops.
    pub unreachable: bool,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An error with its causes ("network error: Connection refused (os error 111)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        source = s.source();
    }
    out
}

/// `X-Rectify-Steps`: which escalation steps an alert mail tells of, for filters and audits; the
/// reader's text says what is true at the sweep instead.
#[derive(Clone)]
struct RectifySteps(String);

impl lettre::message::header::Header for RectifySteps {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("X-Rectify-Steps")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(RectifySteps(s.to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
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
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(row.message_id.clone()));
    if let Some(steps) = row.steps.as_deref().filter(|s| !s.is_empty()) {
        builder = builder.header(RectifySteps(steps.to_owned()));
    }
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
