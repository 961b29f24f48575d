//! The HTTP server: accepts connections and serves each with hyper, with the limits a public
//! service needs against slow and idle clients.
//!
//! - headers: a client has `header_timeout` from the first byte of a request (or from connect)
//!   to the end of its headers; sending nothing, half a request line or a header a byte at a
//!   time ends the connection then.
//! - idle: a kept-alive connection with no new request for `idle_timeout` is closed.
//! - body: a request body must arrive within `body_timeout` (for the large imports: no silence
//!   longer than that); otherwise the request fails and the connection closes.
//! - a cap on connections served at once; one more is answered 503 at once and closed, rather
//!   than left in the accept queue where it would hold a file descriptor and wait.
//! - shutdown: stop accepting, let requests finish for at most `shutdown_grace`, then return.
//!
//! axum's own `serve` has none of the timeouts, which is why this exists.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// The limits, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Limits {
    pub fn from_settings(s: &crate::config::ServerSettings) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(s.header_timeout_secs),
            body_timeout: Duration::from_secs(s.body_timeout_secs),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs),
            max_connections: s.max_connections,
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
        }
    }
}

/// Routes whose bodies are large streams (imports): silence, not total time, is limited.
pub type LargeBody = fn(&str) -> bool;

/// Serves `app` on `listener` until `shutdown` completes, then drains for at most the grace.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    large_body: LargeBody,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let limits = Limits {
        max_connections: fit_to_file_limit(limits.max_connections),
        ..limits
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors (EMFILE) and the like: wait a moment instead of
                    // spinning; connections that end free some.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let conn_state = Arc::new(ConnState::new());
            let io = TokioIo::new(Watched::new(stream, conn_state.clone(), limits));
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    let conn_state = conn_state.clone();
                    async move {
                        conn_state.request_started();
                        let (mut parts, body) = req.into_parts();
                        parts.extensions.insert(ConnectInfo(peer));
                        let (body, read) =
                            TimedBody::new(body, &limits, large_body(parts.uri.path()));
                        let req = axum::http::Request::from_parts(parts, Body::new(body));
                        let mut resp = app
                            .oneshot(req)
                            .await
                            .unwrap_or_else(|e: Infallible| match e {});
                        // Answered without reading the whole body (a refusal before the form was
                        // read): hyper will close the connection rather than read the rest, so
                        // say so, or the client reuses it and its next request meets the close.
                        if !read.load(Ordering::Relaxed) {
                            resp.headers_mut().insert(
                                axum::http::header::CONNECTION,
                                axum::http::HeaderValue::from_static("close"),
                            );
                        }
                        let resp = resp.map(|b| {
                            Body::new(DoneBody {
                                inner: b,
                                conn: Some(conn_state),
                            })
                        });
                        Ok::<_, Infallible>(resp)
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(io, svc)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    match tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await {
        Ok(_) => tracing::info!("every connection has finished"),
        Err(_) => tracing::warn!(
            left = limits.max_connections - slots.available_permits(),
            "shutdown grace over; closing the connections still open"
        ),
    }
    Ok(())
}

/// Raises the open-file limit to what the system allows, and keeps the cap below it: each
/// connection is a file descriptor, and a server out of them cannot accept, answer `/healthz`
/// or open its database files (`accept error: Too many open files`). Some descriptors stay for
/// the database, mail and refusals over the cap.
fn fit_to_file_limit(wanted: usize) -> usize {
    #[cfg(target_os = "linux")]
    {
        const SPARE: u64 = 128;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return wanted;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        let room = lim.rlim_cur.saturating_sub(SPARE).max(1);
        if (wanted as u64) > room {
            tracing::warn!(
                max_connections = wanted,
                open_file_limit = lim.rlim_cur,
                "server.max_connections is above what the open-file limit allows; serving at most {room} at once"
            );
            return room as usize;
        }
        wanted
    }
    #[cfg(not(target_os = "linux"))]
    wanted
}

/// Over the cap: say so and close, without reading the request.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Length: 33\r\nConnection: close\r\n\r\n\
        Too many connections; try again.\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(BUSY).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// What the connection's reader needs to know of its requests: whether one is being served,
/// and since when it has been waiting for (the rest of) the next one.
struct ConnState {
    epoch: Instant,
    in_request: AtomicBool,
    /// Bytes of the next request have arrived (its headers are being read).
    got_bytes: AtomicBool,
    /// No request has been served yet.
    first: AtomicBool,
    /// Milliseconds since `epoch` when the current wait began.
    since_ms: AtomicU64,
    /// The reader, parked while a request was served: woken when the response is done so
    /// that it starts the idle timer (hyper may already wait for the next request then).
    reader: std::sync::Mutex<Option<std::task::Waker>>,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            epoch: Instant::now(),
            in_request: AtomicBool::new(false),
            got_bytes: AtomicBool::new(false),
            first: AtomicBool::new(true),
            since_ms: AtomicU64::new(0),
            reader: std::sync::Mutex::new(None),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn request_started(&self) {
        self.in_request.store(true, Ordering::Release);
        self.got_bytes.store(false, Ordering::Release);
    }

    fn response_done(&self) {
        self.first.store(false, Ordering::Release);
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.in_request.store(false, Ordering::Release);
        let waker = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// When the connection must have made progress by, while no request is being served.
    fn deadline(&self, limits: &Limits) -> Instant {
        let since = self.epoch + Duration::from_millis(self.since_ms.load(Ordering::Acquire));
        let wait = if self.got_bytes.load(Ordering::Acquire) || self.first.load(Ordering::Acquire) {
            limits.header_timeout
        } else {
            limits.idle_timeout
        };
        since + wait
    }
}

/// The socket, with the header and idle timeouts enforced where hyper reads.
struct Watched {
    io: TcpStream,
    conn: Arc<ConnState>,
    limits: Limits,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Watched {
    fn new(io: TcpStream, conn: Arc<ConnState>, limits: Limits) -> Watched {
        Watched {
            io,
            conn,
            limits,
            sleep: Box::pin(tokio::time::sleep(limits.header_timeout)),
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        let serving = this.conn.in_request.load(Ordering::Acquire);
        if serving {
            // The body has its own limit (TimedBody); a handler at work is not the client's
            // delay.
            if r.is_pending() {
                *this.conn.reader.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(cx.waker().clone());
            }
            return r;
        }
        if buf.filled().len() > before && !this.conn.got_bytes.swap(true, Ordering::AcqRel) {
            // The next request starts: its headers have the header timeout from now.
            this.conn
                .since_ms
                .store(this.conn.now_ms(), Ordering::Release);
        }
        if r.is_pending() {
            let deadline = this.conn.deadline(&this.limits);
            if Instant::now() >= deadline {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client too slow or idle",
                )));
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            if this.sleep.deadline() != deadline {
                this.sleep.as_mut().reset(deadline);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client too slow or idle",
                )));
            }
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A request body with a time limit: in all (`total`), or per silence between two frames.
struct TimedBody {
    inner: hyper::body::Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// Per frame: the deadline moves on with every frame.
    silence: Option<Duration>,
    /// Set once the body has been read to its end (at once for a request without one).
    read: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(
        inner: hyper::body::Incoming,
        limits: &Limits,
        large: bool,
    ) -> (TimedBody, Arc<AtomicBool>) {
        let read = Arc::new(AtomicBool::new(inner.is_end_stream()));
        let body = TimedBody {
            inner,
            sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
            silence: large.then_some(limits.body_timeout),
            read: read.clone(),
        };
        (body, read)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if frame.is_none() || this.inner.is_end_stream() {
                this.read.store(true, Ordering::Relaxed);
            }
            if let Some(gap) = this.silence {
                this.sleep.as_mut().reset(tokio::time::Instant::now() + gap);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(this.sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(BodyTimeout.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that tells the connection when it is done (written or dropped): from then
/// on the connection is idle.
struct DoneBody {
    inner: Body,
    conn: Option<Arc<ConnState>>,
}

impl HttpBody for DoneBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = r
            && let Some(c) = self.conn.take()
        {
            c.response_done();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for DoneBody {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.response_done();
        }
    }
}
