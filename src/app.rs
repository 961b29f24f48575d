//! Builds the application (database, workers, router) and runs it until stopped.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::db::Db;
use crate::db::intake::{Deferral, IntakeWriter};
use crate::mail::transport::Transport;
use crate::mail::worker::{Mode, Retry, deliver_pending};
use crate::web::proxy::TrustedProxies;
use crate::web::staff::signin_limits::SigninLimits;
use crate::web::{self, AppState, Shared, ratelimit::RateLimiter};

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    transport: Transport,
}

/// Connects to the configured database and brings its schema up to date.
pub async fn connect_and_migrate(s: &Settings) -> anyhow::Result<Db> {
    let busy = Duration::from_millis(s.database.busy_timeout_ms);
    let db = Db::connect_with(
        &s.database.url,
        s.database.max_connections,
        busy,
        busy,
        s.database.mmap_bytes(),
    )
    .await
    .context("opening the database")?;
    db.migrate()
        .await
        .context("bringing the schema up to date")?;
    Ok(db)
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.server.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.addr))?;
        let addr = listener.local_addr()?;
        // On port 0 with a loopback public URL (tests, local trials), links must point at the
        // port actually bound or they would lead nowhere.
        if settings.server.addr.port() == 0
            && matches!(
                settings.server.public_url.host_str(),
                Some("127.0.0.1" | "localhost" | "[::1]")
            )
        {
            let _ = settings.server.public_url.set_port(Some(addr.port()));
        }
        // Requests wait at most the write timeout for the database (then 503); commands run
        // from a shell wait the busy timeout.
        let db = Db::connect_with(
            &settings.database.url,
            settings.database.max_connections,
            Duration::from_millis(settings.database.busy_timeout_ms),
            Duration::from_millis(settings.database.write_timeout_ms),
            settings.database.mmap_bytes(),
        )
        .await?;
        db.migrate().await?;
        crate::jobs::calendar::startup(&db, &settings, Utc::now()).await?;
        let transport = Transport::from_settings(&settings.mail).map_err(anyhow::Error::msg)?;
        if settings.server.trust_forwarded_for && settings.server.trusted_proxies.is_empty() {
            tracing::warn!(
                "server.trust_forwarded_for is ignored (its leftmost X-Forwarded-For hop is the \
                 client's to write): list the proxies in server.trusted_proxies instead"
            );
        }
        let settings = Arc::new(settings);
        let intake = IntakeWriter::start_deferring(
            db.clone(),
            Arc::new(settings.deadlines.clone()),
            settings.database.intake_batch,
            Deferral::from_setting(settings.database.intake_defer_above),
        )?;
        let state = AppState::new(Shared {
            limiter: Arc::new(RateLimiter::new(
                settings.limits.intake_burst,
                settings.limits.intake_per_minute,
            )),
            signins: Arc::new(SigninLimits::new(&settings.auth)),
            proxies: TrustedProxies::parse(&settings.server.trusted_proxies)
                .map_err(anyhow::Error::msg)?,
            settings,
            db,
            intake,
            mail_ready: Arc::new(tokio::sync::Notify::new()),
            ready: Arc::new(crate::db::storage::ReadyProbe::new(Duration::from_secs(1))),
        });
        Ok(Application {
            listener,
            addr,
            state,
            transport,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves HTTP and runs the background workers until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state.clone();
        tracing::info!(
            "rectify listening on http://{} (public URL {})",
            self.addr,
            state.settings.server.public_url
        );
        let worker = tokio::spawn(outbox_loop(state.clone(), self.transport.clone()));
        let sweeper = tokio::spawn(sweep_loop(state.clone()));
        let calendars = tokio::spawn(crate::jobs::calendar::watch(
            state.db.clone(),
            state.settings.clone(),
            state.mail_ready.clone(),
        ));
        let limits = web::server::Limits::from_settings(&state.settings.server);
        let app = web::router(state);
        let result = web::server::serve(
            self.listener,
            app,
            limits,
            web::retraining::takes_large_bodies,
            shutdown_signal(),
        )
        .await;
        worker.abort();
        sweeper.abort();
        calendars.abort();
        result.map_err(Into::into)
    }
}

/// Delivers pending mail on every tick, and at once when a request wrote some.
async fn outbox_loop(state: AppState, transport: Transport) {
    let s = state.settings.clone();
    let every = Duration::from_secs(s.mail.deliver_interval_secs.max(1));
    loop {
        match deliver_pending(
            &state.db,
            &transport,
            &s.mail.from,
            &Retry::from_settings(&s.mail),
            Utc::now(),
            Mode::Due,
        )
        .await
        {
            Ok(pass) if pass.sent + pass.failed + pass.dead > 0 => {
                tracing::info!(
                    sent = pass.sent,
                    failed = pass.failed,
                    dead = pass.dead,
                    "outbox pass"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = state.mail_ready.notified() => {}
        }
    }
}

/// Sweeps deadlines every `escalation.sweep_interval_secs` (0: never; `rectify sweep` from cron
/// instead), and wakes the outbox worker when a sweep queued mail. Several instances may sweep
/// one PostgreSQL database at once: each step still fires once.
async fn sweep_loop(state: AppState) {
    let s = state.settings.clone();
    if s.escalation.sweep_interval_secs == 0 {
        return;
    }
    let every = Duration::from_secs(s.escalation.sweep_interval_secs);
    loop {
        match crate::jobs::sweep::sweep(&state.db, &s, Utc::now(), false).await {
            Ok(r) => {
                if !r.fired.is_empty() || !r.mails.is_empty() {
                    tracing::info!(
                        fired = r.fired.len(),
                        mails = r.mails.len(),
                        "deadline sweep"
                    );
                }
                if !r.mails.is_empty() {
                    state.mail_ready.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "deadline sweep failed; retrying at the next tick")
            }
        }
        tokio::time::sleep(every).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
