//! A real SMTP server for the tests: `python -m aiosmtpd` (from PyPI; `./test.sh` puts it in a
//! virtual environment under target/test-venv) writing every message it accepts into a Maildir,
//! started and stopped as a child process.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A free port on the loopback interface (the OS picks it; we let it go at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Python that has aiosmtpd: `RECTIFY_TEST_PYTHON`, else the project's test environment that
/// `./test.sh` makes, else `python3`. Panics with the command that provides it when none does.
fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
        let candidates = std::env::var("RECTIFY_TEST_PYTHON")
            .ok()
            .filter(|s| !s.is_empty())
            .into_iter()
            .chain(venv.exists().then(|| venv.display().to_string()))
            .chain(["python3".to_owned()]);
        for python in candidates {
            let has_it = Command::new(&python)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if has_it {
                return python;
            }
        }
        panic!(
            "no Python with aiosmtpd for the mail tests' SMTP server: run {}",
            super::record::FIX
        )
    })
}

impl SmtpServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> SmtpServer {
        super::record::used("smtp");
        let mut s = SmtpServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        s.restart();
        s
    }

    /// An address where nothing listens (a server that is down from the start).
    pub fn down() -> SmtpServer {
        SmtpServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    /// Starts (again) on the same port and Maildir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is running already");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} -m aiosmtpd: {e}", python()));
        self.child = Some(child);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("aiosmtpd exited with {status}: {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aiosmtpd did not start listening on {addr}");
    }

    /// Stops the server (SIGKILL: an outage, not a goodbye).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The port is closed once the process is gone.
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until
            && TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message received so far, as raw bytes, oldest first.
    pub fn raw_messages(&self) -> Vec<Vec<u8>> {
        read_maildir(&self.maildir())
    }

    /// Every message received so far, parsed.
    pub fn messages(&self) -> Vec<Received> {
        self.raw_messages()
            .into_iter()
            .map(Received::parse)
            .collect()
    }

    /// Waits (bounded) until at least `n` messages have arrived, then returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.raw_messages();
            if got.len() >= n {
                return got.into_iter().map(Received::parse).collect();
            }
            if Instant::now() > until {
                panic!("expected {n} message(s), the SMTP server has {}", got.len());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_maildir(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<(std::time::SystemTime, String, PathBuf)> = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                let p = e.path();
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                files.push((t, e.file_name().to_string_lossy().into_owned(), p));
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|(_, _, p)| std::fs::read(p).ok())
        .collect()
}

/// A delivered message, parsed with `mailparse`: its headers (decoded) and its parts.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: Vec<u8>,
    pub subject: String,
    pub to: String,
    pub from: String,
    pub message_id: String,
    /// The envelope recipient, as aiosmtpd recorded it.
    pub rcpt_to: String,
    pub content_type: String,
    /// The text/plain part, decoded.
    pub text: String,
    /// The text/html part, decoded, if any.
    pub html: Option<String>,
}

impl Received {
    pub fn parse(raw: Vec<u8>) -> Received {
        use mailparse::MailHeaderMap;
        let m = mailparse::parse_mail(&raw).expect("a message mailparse can read");
        let h = |name: &str| m.headers.get_first_value(name).unwrap_or_default();
        let mut text = String::new();
        let mut html = None;
        if m.subparts.is_empty() {
            text = m.get_body().expect("body");
        } else {
            for p in &m.subparts {
                match p.ctype.mimetype.as_str() {
                    "text/plain" => text = p.get_body().expect("text part"),
                    "text/html" => html = Some(p.get_body().expect("html part")),
                    other => panic!("unexpected part {other}"),
                }
            }
        }
        Received {
            subject: h("Subject"),
            to: h("To"),
            from: h("From"),
            message_id: h("Message-ID"),
            rcpt_to: h("X-RcptTo"),
            content_type: m.ctype.mimetype.clone(),
            text,
            html,
            raw,
        }
    }

    /// The raw header block, as sent (to check encodings).
    pub fn raw_headers(&self) -> String {
        let s = String::from_utf8_lossy(&self.raw);
        s.split("\r\n\r\n")
            .next()
            .unwrap_or("")
            .split("\n\n")
            .next()
            .unwrap_or("")
            .to_owned()
    }
}
