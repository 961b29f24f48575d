//! The deadline sweep and escalation mail against a real database and a real SMTP server
//! (aiosmtpd): the remediation ladder over three months through `rectify sweep --now`, exactly
//! once under repeated and backward sweeps, stopped clocks, an SMTP outage, a crash in the middle
//! of a sweep, two workers racing, dead mail, and the digest.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::process::{Command, Output};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::smtp::{Received, SmtpServer};
use common::{TestApp, backends, clock, valid_form, with, without};
use rectify::config::{MailTransport, Settings};
use rectify::db::entities::{escalation, incident_clock, outbox, user};
use rectify::db::escalation::{clocks_unchanged, clocks_unchanged_on_writer};
use rectify::db::workflow::{act, no_mail};
use rectify::domain::severity::Severity;
use rectify::domain::workflow::{Action, Actor, Role};
use rectify::jobs::sweep::{SweepReport, sweep};
use rectify::mail::transport::Transport;
use rectify::mail::worker::{LEASE, Mode, Pass, Retry, deliver_pending};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait, QueryOrder};

fn admin() -> Actor {
    Actor::user(1, "admin@example.com", Role::Admin)
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The app with mail going to `smtp`, the sweep loop off (the tests sweep at chosen instants),
/// and a configured compliance mailbox. Its own delivery worker runs when `app_delivers`;
/// otherwise the test delivers (the worker then wakes only for acknowledgements, and the tests
/// that use it submit reports without an address).
async fn spawn(backend: common::Backend, smtp: &SmtpServer, app_delivers: bool) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(backend, move |s| {
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp_url = url;
        s.mail.smtp_timeout_secs = 5;
        if !app_delivers {
            s.mail.deliver_interval_secs = 1_000_000;
        }
        s.limits.intake_burst = 0;
        s.escalation.sweep_interval_secs = 0;
        s.escalation.compliance_addresses = vec!["audit@example.com".into()];
    })
    .await
}

async fn add_user(app: &TestApp, email: &str, name: &str, role: &str, locale: &str) -> i64 {
    user::ActiveModel {
        email: Set(email.into()),
        name: Set(name.into()),
        role: Set(role.into()),
        password_hash: Set("-".into()),
        disabled: Set(false),
        locale: Set(locale.into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db.conn)
    .await
    .unwrap()
    .id
}

async fn disable(app: &TestApp, id: i64) {
    let mut u: user::ActiveModel = user::Entity::find_by_id(id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .into();
    u.disabled = Set(true);
    u.update(&app.db.conn).await.unwrap();
}

/// Submits a report through the public form; returns its incident's id.
async fn submit(app: &TestApp, output: &str, with_email: bool) -> i64 {
    let form = with(valid_form(), "output", output);
    let form = if with_email {
        form
    } else {
        without(form, "email")
    };
    common::submit_form(app, &form).await.0
}

async fn take(app: &TestApp, id: i64, action: Action, at: DateTime<Utc>) {
    act(
        &app.db,
        &app.settings.deadlines,
        id,
        None,
        &action,
        &admin(),
        at,
        &no_mail,
    )
    .await
    .unwrap();
}

/// Triage at low severity and a message to the reporter: the triage clock stops, the feedback
/// clock is met by the message (triage alone does not meet it: issue 17), no contain clock
/// starts, and only `remediate` runs on.
async fn triage(app: &TestApp, id: i64) {
    take(
        app,
        id,
        Action::Triage {
            category: "accuracy.inaccurate".into(),
            severity: Severity::Low,
        },
        Utc::now(),
    )
    .await;
    take(
        app,
        id,
        Action::MessageReporter {
            report_id: None,
            text: "We are looking into your report.".into(),
        },
        Utc::now(),
    )
    .await;
}

async fn fired(app: &TestApp) -> Vec<(i64, String, String)> {
    escalation::Entity::find()
        .order_by_asc(escalation::Column::Id)
        .all(&app.db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.incident_id, e.clock, e.step))
        .collect()
}

async fn outbox_count(app: &TestApp) -> u64 {
    outbox::Entity::find().count(&app.db.conn).await.unwrap()
}

async fn sweep_at(app: &TestApp, now: DateTime<Utc>) -> SweepReport {
    sweep(&app.db, &app.settings, now, false).await.unwrap()
}

async fn deliver(app: &TestApp, settings: &Settings, now: DateTime<Utc>, mode: Mode) -> Pass {
    let transport = Transport::from_settings(&settings.mail).unwrap();
    deliver_pending(
        &app.db,
        &transport,
        &settings.mail.from,
        &Retry::from_settings(&settings.mail),
        now,
        mode,
    )
    .await
    .unwrap()
}

/// The `rectify` binary on the test's database and SMTP server.
fn rectify(app: &TestApp, smtp_url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RECTIFY_ENV")
        .env("RECTIFY_DATABASE__URL", &app.test_db.url)
        .env("RECTIFY_MAIL__TRANSPORT", "smtp")
        .env("RECTIFY_MAIL__SMTP_URL", smtp_url)
        .env(
            "RECTIFY_SERVER__PUBLIC_URL",
            app.settings.server.public_url.as_str(),
        )
        .env(
            "RECTIFY_ESCALATION__COMPLIANCE_ADDRESSES",
            "audit@example.com",
        )
        // Every incident in full, so a test can find each fired step's incident in its mail.
        .env("RECTIFY_ESCALATION__MAX_ITEMS_PER_MAIL", "1000")
        .env("RECTIFY_LOG", "warn")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rectify {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Everything a delivered escalation mail must be: MIME structure, headers, the UTF-8 subject,
/// the link to each incident page in both parts.
fn check_escalation_mail(m: &Received, public_url: &str, incidents: &[i64]) {
    assert_eq!(
        m.content_type,
        "multipart/alternative",
        "{}",
        m.raw_headers()
    );
    assert!(m.html.is_some(), "an HTML part");
    assert!(m.from.contains("rectify@localhost"), "{}", m.from);
    assert!(
        m.message_id.starts_with('<') && m.message_id.ends_with('>') && m.message_id.contains('@'),
        "Message-ID {:?}",
        m.message_id
    );
    assert!(
        m.to.to_lowercase().contains(&m.rcpt_to.to_lowercase()),
        "To {} vs envelope {}",
        m.to,
        m.rcpt_to
    );
    let html = m.html.as_deref().unwrap();
    for id in incidents {
        let link = format!("{}/incidents/{id}", public_url.trim_end_matches('/'));
        assert!(m.text.contains(&link), "text lacks {link}:\n{}", m.text);
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "html lacks {link}"
        );
    }
    let raw = m.raw_headers();
    assert!(raw.is_ascii(), "headers are 7-bit: {raw}");
    if !m.subject.is_ascii() {
        let line = raw
            .lines()
            .skip_while(|l| !l.to_lowercase().starts_with("subject:"))
            .take_while(|l| l.to_lowercase().starts_with("subject:") || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            line.to_lowercase().contains("=?utf-8?"),
            "a non-ASCII subject is RFC 2047 encoded: {raw}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remediation_ladder_end_to_end_over_three_months() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp, true).await;
        let eng = add_user(&app, "eng@example.com", "Erin Engineer", "engineer", "en").await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        add_user(&app, "comp@example.com", "张合规", "compliance", "zh-CN").await;
        let gone = add_user(&app, "gone@example.com", "Gone Lead", "lead", "en").await;
        disable(&app, gone).await;

        let id = submit(&app, "The capital of Australia is Sydney. Really.", true).await;
        let acks = smtp.wait_for(1).await;
        assert_eq!(acks[0].rcpt_to, "ada@example.com", "the acknowledgement");
        triage(&app, id).await;
        take(
            &app,
            id,
            Action::Assign {
                assignee: Some(eng),
            },
            Utc::now(),
        )
        .await;
        let rem = clock(&app, id, "remediate").await;
        let due = rem.due_at;
        assert_eq!(
            rem.next_fire_at,
            Some(due - Duration::days(30)),
            "the next fire time is stored at intake"
        );
        assert!(
            clock(&app, id, "triage").await.next_fire_at.is_none(),
            "a stopped clock has nothing left to fire"
        );

        let public = app.settings.server.public_url.to_string();
        let all = [
            "audit@example.com",
            "comp@example.com",
            "eng@example.com",
            "lead@example.com",
        ];
        let ladder: [(DateTime<Utc>, &str, &[&str]); 6] = [
            (due - Duration::days(30), "before_30d", &["eng@example.com"]),
            (
                due - Duration::days(14),
                "before_14d",
                &["eng@example.com", "lead@example.com"],
            ),
            (due - Duration::days(7), "before_7d", &all),
            (due, "at_due", &all),
            (due + Duration::days(7), "overdue_1w", &all),
            (due + Duration::days(14), "overdue_2w", &all),
        ];
        let mut seen = 1;
        let mut message_ids = HashSet::new();
        for (at, step, who) in ladder {
            let before = stdout(&rectify(
                &app,
                &smtp.url(),
                &["sweep", "--now", &rfc(at - Duration::seconds(1))],
            ));
            assert!(before.contains(" 0 step(s) fired"), "{before}");
            let out = stdout(&rectify(&app, &smtp.url(), &["sweep", "--now", &rfc(at)]));
            assert!(
                out.contains(&format!("FIRED incident {id} remediate {step} ")),
                "{out}"
            );
            assert!(out.contains(" 1 step(s) fired"), "{out}");
            // The server's own worker delivers what the sweep queued; `outbox deliver` may race
            // it, and each row still goes out once.
            rectify(&app, &smtp.url(), &["outbox", "deliver"]);
            let msgs = smtp.wait_for(seen + who.len()).await;
            let new = &msgs[seen..];
            assert_eq!(new.len(), who.len(), "one mail per person: {step}");
            let got: BTreeSet<&str> = new.iter().map(|m| m.rcpt_to.as_str()).collect();
            let want: BTreeSet<&str> = who.iter().copied().collect();
            assert_eq!(got, want, "recipients of {step}");
            for m in new {
                check_escalation_mail(m, &public, &[id]);
                assert!(message_ids.insert(m.message_id.clone()), "a new Message-ID");
                // The step that fired is metadata; the text says where the clock stands.
                assert!(
                    m.raw_headers().contains(&format!("remediate {step}")),
                    "{step} in X-Rectify-Steps:\n{}",
                    m.raw_headers()
                );
                assert!(
                    !m.text.contains(step),
                    "no step code in the text:\n{}",
                    m.text
                );
                assert!(m.text.contains("24:00 Asia/Shanghai"), "{}", m.text);
                // The compliance user reads Chinese, and so does the configured compliance
                // mailbox (escalation.compliance_locale).
                let zh = ["comp@example.com", "audit@example.com"].contains(&m.rcpt_to.as_str());
                let days = (due - at).num_days();
                if zh {
                    assert!(m.subject.contains("期限提醒"), "{}", m.subject);
                    assert!(m.subject.contains("1 个事件"), "{}", m.subject);
                    if m.rcpt_to == "audit@example.com" {
                        assert_eq!(m.text.lines().next(), Some("您好："), "{}", m.text);
                    }
                } else {
                    assert!(m.subject.contains("1 incident"), "{}", m.subject);
                    assert!(m.text.contains("Next: "), "{}", m.text);
                }
                // The period ends at 24:00 of its last day: counted from the sweep's local date,
                // that day is one less than the step's whole days away.
                let (en, cn) = if at < due {
                    (
                        format!("due in {} days", days - 1),
                        format!("{} 天后到期", days - 1),
                    )
                } else if at == due {
                    ("due now".to_owned(), "此刻到期".to_owned())
                } else {
                    (
                        format!("{} days overdue", -days),
                        format!("已逾期 {} 天", -days),
                    )
                };
                let want = if zh { &cn } else { &en };
                assert!(m.text.contains(want.as_str()), "{want}:\n{}", m.text);
                if at > due {
                    let n = if zh {
                        "1 项时限逾期"
                    } else {
                        "1 clock overdue"
                    };
                    assert!(m.subject.contains(n), "{}", m.subject);
                }
            }
            seen += who.len();
        }
        let steps: Vec<String> = fired(&app).await.into_iter().map(|(_, _, s)| s).collect();
        assert_eq!(
            steps,
            [
                "before_30d",
                "before_14d",
                "before_7d",
                "at_due",
                "overdue_1w",
                "overdue_2w"
            ]
        );
        // The same instant again, and an earlier one: nothing new.
        for at in [due + Duration::days(14), due - Duration::days(20)] {
            let out = stdout(&rectify(&app, &smtp.url(), &["sweep", "--now", &rfc(at)]));
            assert!(out.contains(" 0 step(s) fired"), "{out}");
        }
        rectify(&app, &smtp.url(), &["outbox", "deliver"]);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(smtp.raw_messages().len(), seen, "nothing sent twice");
        let list = stdout(&rectify(
            &app,
            &smtp.url(),
            &["outbox", "list", "--status", "sent"],
        ));
        assert!(list.contains(&format!("{} row(s)", seen)), "{list}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_backward_and_dry_run_sweeps_fire_nothing_twice() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        let a = submit(&app, "answer one", false).await;
        let b = submit(&app, "answer two", false).await;
        for id in [a, b] {
            triage(&app, id).await;
        }
        let due = clock(&app, a, "remediate").await.due_at;
        let t = due - Duration::days(10); // past before_30d and before_14d

        // Dry run: says what would fire, changes nothing.
        let dry = stdout(&rectify(
            &app,
            &smtp.url(),
            &["sweep", "--dry-run", "--now", &rfc(t)],
        ));
        assert!(dry.contains("dry run: nothing changed"), "{dry}");
        assert!(
            dry.contains(&format!("WOULD FIRE incident {a} remediate before_30d")),
            "{dry}"
        );
        assert!(dry.contains(&format!("WOULD FIRE incident {b} remediate before_14d")));
        assert!(
            dry.contains("WOULD MAIL escalation to lead@example.com"),
            "{dry}"
        );
        assert!(fired(&app).await.is_empty());
        assert_eq!(outbox_count(&app).await, 0);
        assert_eq!(
            clock(&app, a, "remediate").await.next_fire_at,
            Some(due - Duration::days(30))
        );

        // The catch-up fires both missed steps of both incidents; the unassigned incidents go
        // to the leads, in one mail listing both.
        let r = sweep_at(&app, t).await;
        assert_eq!(r.fired.len(), 4, "{r:?}");
        assert_eq!(r.mails.len(), 1, "one mail per person per sweep: {r:?}");
        assert_eq!(r.mails[0].incidents, 2);
        assert_eq!(
            clock(&app, a, "remediate").await.next_fire_at,
            Some(due - Duration::days(7))
        );
        for again in [
            t,
            t - Duration::days(5),
            t + Duration::hours(1),
            t - Duration::days(200),
        ] {
            let r = sweep_at(&app, again).await;
            assert!(r.fired.is_empty() && r.mails.is_empty(), "{again}: {r:?}");
        }
        assert_eq!(fired(&app).await.len(), 4);
        assert_eq!(outbox_count(&app).await, 1);

        // A duplicate merged in: its clocks stop, nothing fires for it.
        let c = submit(&app, "answer three", false).await;
        take(
            &app,
            c,
            Action::Merge {
                target: rectify::domain::workflow::MergeTarget { id: a, state: None },
            },
            Utc::now(),
        )
        .await;
        let r = sweep_at(&app, t).await;
        assert!(r.fired.is_empty(), "{r:?}");

        deliver(&app, &app.settings, Utc::now(), Mode::Due).await;
        let msgs = smtp.wait_for(1).await;
        assert_eq!(msgs.len(), 1);
        check_escalation_mail(&msgs[0], app.settings.server.public_url.as_str(), &[a, b]);
        assert!(
            msgs[0].subject.contains("2 incidents"),
            "{}",
            msgs[0].subject
        );
        // One mail lists the catch-up: each incident once, where its clock stands now ("due
        // in 9 days": the last day, 2027-03-02, counted from the sweep's local date; not the 30
        // days of the first step it caught up on); the steps are in
        // the mail's metadata.
        assert!(msgs[0].text.contains("due in 9 days"), "{}", msgs[0].text);
        assert!(!msgs[0].text.contains("before_"), "{}", msgs[0].text);
        let steps = msgs[0].raw_headers();
        assert!(
            steps.contains(&format!("INC-{a} remediate before_30d,before_14d")),
            "{steps}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stopped_before_the_sweep_does_not_fire_and_a_reopen_resumes_it() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        let id = submit(&app, "a rejected answer", false).await;
        let due = clock(&app, id, "remediate").await.due_at;
        take(
            &app,
            id,
            Action::Reject {
                reasons: "not our model".into(),
            },
            Utc::now(),
        )
        .await;
        for name in ["remediate", "acknowledge", "triage"] {
            let c = clock(&app, id, name).await;
            assert_ne!(c.status, "running");
            assert!(c.next_fire_at.is_none(), "{name}");
        }
        let r = sweep_at(&app, due + Duration::days(30)).await;
        assert!(r.fired.is_empty(), "{r:?}");

        // Reopened after its deadline: the legal clock runs on against the same due instant, and
        // every step not fired yet is due at once.
        let reopened_at = due + Duration::days(8);
        take(
            &app,
            id,
            Action::Reopen {
                reason: "appeal upheld".into(),
            },
            reopened_at,
        )
        .await;
        let rem = clock(&app, id, "remediate").await;
        assert_eq!(rem.status, "running");
        assert_eq!(rem.due_at, due);
        assert_eq!(rem.next_fire_at, Some(due - Duration::days(30)));
        let r = sweep_at(&app, reopened_at).await;
        let names: Vec<&str> = r
            .fired
            .iter()
            .filter(|f| f.clock == "remediate")
            .map(|f| f.step.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "before_30d",
                "before_14d",
                "before_7d",
                "at_due",
                "overdue_1w"
            ]
        );

        // A clock a workflow step starts gets its next fire time then: contain, 48 hours from a
        // high-severity triage, first escalates at half time.
        let other = submit(&app, "a severe answer", false).await;
        let triaged_at = rectify::domain::audit::truncate_micros(Utc::now());
        take(
            &app,
            other,
            Action::Triage {
                category: "accuracy.inaccurate".into(),
                severity: Severity::High,
            },
            triaged_at,
        )
        .await;
        let contain = clock(&app, other, "contain").await;
        assert_eq!(contain.due_at, triaged_at + Duration::hours(48));
        assert_eq!(contain.next_fire_at, Some(triaged_at + Duration::hours(24)));
        app.stop().await;
    }
}

/// On SQLite a sweep chunk is planned on a snapshot and written only if its clocks are still as
/// read when the write lock is held: a workflow action in between (here a reject, which stops
/// the incident's clocks) must make that check fail, so the chunk is planned again. In `serve`
/// the check runs on the intake writer's connection, which must read a clock exactly as the
/// pool read it for the plan (or every chunk would be planned twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_chunk_planned_before_a_clock_changed_is_not_written_as_planned() {
    for backend in backends() {
        let smtp = SmtpServer::down();
        let app = spawn(backend, &smtp, false).await;
        let stopped = submit(&app, "an answer rejected meanwhile", false).await;
        let running = submit(&app, "an answer still open", false).await;
        let read = vec![
            clock(&app, stopped, "remediate").await,
            clock(&app, running, "remediate").await,
        ];
        let on_writer = |read: &[incident_clock::Model]| {
            let (db, read) = (app.db.clone(), read.to_vec());
            async move {
                clocks_unchanged_on_writer(&db, read)
                    .await
                    .map(|r| r.unwrap())
            }
        };
        let sqlite = !app.db.is_postgres();
        assert!(clocks_unchanged(&app.db.conn, &read).await.unwrap());
        assert_eq!(on_writer(&read).await, sqlite.then_some(true));
        take(
            &app,
            stopped,
            Action::Reject {
                reasons: "not our model".into(),
            },
            Utc::now(),
        )
        .await;
        assert!(!clocks_unchanged(&app.db.conn, &read).await.unwrap());
        assert!(clocks_unchanged(&app.db.conn, &read[1..]).await.unwrap());
        assert_eq!(on_writer(&read).await, sqlite.then_some(false));
        assert_eq!(on_writer(&read[1..]).await, sqlite.then_some(true));
        // A clock whose next fire time another sweep moved is a change too.
        let mut moved = read[1].clone();
        moved.next_fire_at = Some(
            moved.next_fire_at.expect("a running clock has a next step") - Duration::minutes(1),
        );
        assert!(
            !clocks_unchanged(&app.db.conn, std::slice::from_ref(&moved))
                .await
                .unwrap()
        );
        assert_eq!(on_writer(&[moved]).await, sqlite.then_some(false));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_during_a_sweep_loses_nothing_and_sends_each_mail_once() {
    for backend in backends() {
        let mut smtp = SmtpServer::start();
        let app = spawn(backend, &smtp, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        add_user(&app, "comp@example.com", "Cleo", "compliance", "en").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let id = submit(&app, &format!("outage answer {i}"), false).await;
            triage(&app, id).await;
            ids.push(id);
        }
        let due = clock(&app, ids[0], "remediate").await.due_at;

        smtp.stop();
        let r = sweep_at(&app, due).await;
        assert_eq!(
            r.mails.len(),
            3,
            "lead, compliance user, compliance address"
        );
        // The worker inside the app tries, and fails: nothing is lost.
        let pass = deliver(&app, &app.settings, Utc::now(), Mode::Due).await;
        assert_eq!(pass.sent, 0);
        let rows = outbox::Entity::find().all(&app.db.conn).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.status == "pending"), "{rows:?}");
        assert!(
            rows.iter()
                .any(|r| r.attempts == 1 && r.last_error.is_some()),
            "{rows:?}"
        );

        smtp.restart();
        // Once the backoff has run out, every pending mail goes out, each once.
        let later = Utc::now() + Duration::minutes(10);
        let mut total = 0;
        for _ in 0..3 {
            total += deliver(&app, &app.settings, later, Mode::Due).await.sent;
        }
        // The app's own worker (real time) may deliver some of them too.
        let msgs = smtp.wait_for(3).await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let msgs_after = smtp.messages();
        assert_eq!(msgs_after.len(), 3, "each mail exactly once");
        assert!(total <= 3);
        let mids: HashSet<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(mids.len(), 3);
        for m in &msgs {
            check_escalation_mail(m, app.settings.server.public_url.as_str(), &ids);
            assert!(
                m.subject.contains("3 incidents") || m.subject.contains("3 个事件"),
                "{}",
                m.subject
            );
        }
        let rows = outbox::Entity::find().all(&app.db.conn).await.unwrap();
        assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_max_attempts_a_mail_is_dead_listed_and_can_be_retried() {
    for backend in backends() {
        let down = SmtpServer::down();
        let app = spawn(backend, &down, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        let id = submit(&app, "dead letter", false).await;
        triage(&app, id).await;
        let due = clock(&app, id, "remediate").await.due_at;
        let mut s = app.settings.clone();
        s.escalation.compliance_addresses.clear(); // one mail: to the lead
        s.mail.max_attempts = 3;
        assert_eq!(sweep(&app.db, &s, due, false).await.unwrap().mails.len(), 1);
        let mut now = Utc::now();
        let mut attempts = 0;
        while attempts < 3 {
            let p = deliver(&app, &s, now, Mode::Due).await;
            assert_eq!(p.sent, 0);
            assert!(p.unreachable);
            attempts += 1;
            let row = outbox::Entity::find()
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.attempts, attempts);
            if attempts < 3 {
                assert_eq!(row.status, "pending");
                // Backoff: not retried before its time...
                assert_eq!(deliver(&app, &s, now, Mode::Due).await, Pass::default());
                assert!(row.next_attempt_at > now);
                now = row.next_attempt_at;
            } else {
                assert_eq!(row.status, "dead");
            }
        }
        let dead = stdout(&rectify(
            &app,
            &down.url(),
            &["outbox", "list", "--status", "dead"],
        ));
        assert!(
            dead.contains("dead") && dead.contains("lead@example.com"),
            "{dead}"
        );
        assert!(dead.contains("1 row(s)"), "{dead}");
        let admin_rows = rectify::db::outbox::outbox_admin_rows(&app.db)
            .await
            .unwrap();
        assert_eq!(admin_rows.len(), 1);
        assert_eq!(admin_rows[0].status, "dead");
        assert!(admin_rows[0].last_error.is_some());

        // The server is back: an operator queues it again and delivers.
        let smtp = SmtpServer::start();
        let out = stdout(&rectify(&app, &smtp.url(), &["outbox", "retry"]));
        assert!(out.contains("1 dead row(s) queued again"), "{out}");
        let out = stdout(&rectify(&app, &smtp.url(), &["outbox", "deliver"]));
        assert!(out.contains("delivered 1"), "{out}");
        assert_eq!(smtp.wait_for(1).await.len(), 1);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_send_every_row_once_and_a_dead_workers_lease_runs_out() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp, false).await;
        // Rows to race for, queued as the sweep would: 40 leads and the compliance mailbox.
        for i in 0..40 {
            add_user(&app, &format!("lead{i}@example.com"), "Lead", "lead", "en").await;
        }
        let id = submit(&app, "race answer", false).await;
        triage(&app, id).await;
        let due = clock(&app, id, "remediate").await.due_at;
        assert_eq!(sweep_at(&app, due).await.mails.len(), 41);

        // Two instances: separate connection pools on the same database.
        let other =
            rectify::db::Db::connect(&app.test_db.url, 4, std::time::Duration::from_millis(5000))
                .await
                .unwrap();
        let transport = Transport::from_settings(&app.settings.mail).unwrap();
        let retry = Retry::from_settings(&app.settings.mail);
        let now = Utc::now();
        let from = app.settings.mail.from.clone();
        let (p1, p2) = tokio::join!(
            deliver_pending(&app.db, &transport, &from, &retry, now, Mode::All),
            deliver_pending(&other, &transport, &from, &retry, now, Mode::All),
        );
        let (p1, p2) = (p1.unwrap(), p2.unwrap());
        let msgs = smtp.wait_for(41).await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let msgs_after = smtp.messages();
        assert_eq!(msgs_after.len(), 41, "no row sent twice");
        assert_eq!(p1.sent + p2.sent, 41);
        let mids: HashSet<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(mids.len(), 41);
        if backend == common::Backend::Postgres {
            assert!(
                p1.sent > 0 && p2.sent > 0,
                "both workers took rows: {p1:?} {p2:?}"
            );
        }

        // A worker that claims and dies: its rows wait out the lease, then go.
        let t = sweep_at(&app, due + Duration::days(7)).await;
        assert_eq!(t.mails.len(), 41);
        let claimed = rectify::db::outbox::claim_due(&other, now, now + LEASE, 100, 0, false)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 41);
        drop(claimed); // the worker dies here
        assert_eq!(
            deliver_pending(&app.db, &transport, &from, &retry, now, Mode::Due)
                .await
                .unwrap()
                .sent,
            0,
            "leased rows are not taken"
        );
        let after_lease = now + LEASE + Duration::seconds(1);
        let p = deliver_pending(&app.db, &transport, &from, &retry, after_lease, Mode::Due)
            .await
            .unwrap();
        assert_eq!(p.sent, 41);
        assert_eq!(smtp.wait_for(82).await.len(), 82);
        other.conn.close().await.ok();
        app.stop().await;
    }
}

/// Two sweeps at once on one database (two instances of `serve`): every step fires once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sweeps_fire_each_step_once() {
    for backend in backends() {
        let smtp = SmtpServer::down();
        let app = spawn(backend, &smtp, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(submit(&app, &format!("concurrent {i}"), false).await);
        }
        let due = clock(&app, ids[0], "remediate").await.due_at;
        let other =
            rectify::db::Db::connect(&app.test_db.url, 4, std::time::Duration::from_millis(5000))
                .await
                .unwrap();
        let mut settings = app.settings.clone();
        settings.escalation.sweep_batch = 7;
        let now = due + Duration::days(1);
        let (a, b) = tokio::join!(
            sweep(&app.db, &settings, now, false),
            sweep(&other, &settings, now, false)
        );
        // A sweep that lost a race may fail as a whole (nothing of it is kept); the next one
        // finishes the work.
        let mut fired_now =
            a.map(|r| r.fired.len()).unwrap_or(0) + b.map(|r| r.fired.len()).unwrap_or(0);
        fired_now += sweep(&app.db, &settings, now, false)
            .await
            .unwrap()
            .fired
            .len();
        let rows = fired(&app).await;
        let unique: HashSet<&(i64, String, String)> = rows.iter().collect();
        assert_eq!(unique.len(), rows.len());
        assert_eq!(rows.len(), fired_now, "every fired step has its row");
        // Every clock of every incident: acknowledge and triage (50%, 75%, due) and remediate
        // (every step up to one day overdue).
        // (Compared on remediate, whose steps a day's difference in intake cannot change here.)
        let per_incident: HashMap<i64, usize> =
            rows.iter()
                .filter(|r| r.1 == "remediate")
                .fold(HashMap::new(), |mut m, r| {
                    *m.entry(r.0).or_default() += 1;
                    m
                });
        assert_eq!(per_incident.len(), 30);
        let expected = per_incident[&ids[0]];
        assert!(
            per_incident.values().all(|&n| n == expected),
            "{per_incident:?}"
        );
        assert!(rows.iter().any(|r| r.2 == "at_due" && r.1 == "remediate"));
        other.conn.close().await.ok();
        app.stop().await;
    }
}

/// `kill -9` of `rectify sweep` at any moment: the next sweep fires exactly what was left, and
/// every fired step has its mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_killed_at_any_point_fires_every_step_exactly_once_after_restart() {
    for backend in backends() {
        let smtp = SmtpServer::down();
        let app = spawn(backend, &smtp, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        let n = 120;
        let mut ids = Vec::new();
        for i in 0..n {
            let id = submit(&app, &format!("crash answer {i}"), false).await;
            ids.push(id);
        }
        let due = clock(&app, ids[0], "remediate").await.due_at;
        let now = rfc(due + Duration::days(1));
        // Small chunks, so a kill lands between, and inside, chunk transactions.
        for delay_ms in [5u64, 40, 120, 300] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env_remove("RECTIFY_ENV")
                .env("RECTIFY_DATABASE__URL", &app.test_db.url)
                .env("RECTIFY_ESCALATION__MAX_ITEMS_PER_MAIL", "1000")
                .env("RECTIFY_ESCALATION__SWEEP_BATCH", "5")
                .env("RECTIFY_LOG", "warn")
                .args(["sweep", "--now", &now])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
        let out = stdout(&rectify(&app, &smtp.url(), &["sweep", "--now", &now]));
        assert!(out.starts_with("sweep at"), "{out}");
        let rows = escalation::Entity::find().all(&app.db.conn).await.unwrap();
        let keys: HashSet<(i64, String, String)> = rows
            .iter()
            .map(|e| (e.incident_id, e.clock.clone(), e.step.clone()))
            .collect();
        assert_eq!(keys.len(), rows.len());
        // What a single uninterrupted sweep fires on one incident, on every incident.
        let mut per: HashMap<i64, BTreeSet<(String, String)>> = HashMap::new();
        for (i, c, s) in keys.iter().filter(|k| k.1 == "remediate") {
            per.entry(*i).or_default().insert((c.clone(), s.clone()));
        }
        assert_eq!(per.len(), n);
        let first = per[&ids[0]].clone();
        assert!(first.contains(&("remediate".into(), "at_due".into())));
        assert!(per.values().all(|v| *v == first));
        // Every fired step points at a queued mail that lists its incident.
        let mails: HashMap<i64, outbox::Model> = outbox::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        for e in &rows {
            let m = &mails[&e.outbox_id.expect("a mail for every fired step")];
            assert!(
                m.body_text
                    .contains(&format!("/incidents/{}", e.incident_id)),
                "mail {} lacks incident {}",
                m.id,
                e.incident_id
            );
        }
        // No clock is left due.
        let again = sweep_at(&app, due + Duration::days(1)).await;
        assert!(again.fired.is_empty());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_goes_to_the_leads_once_a_day() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp, false).await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        add_user(&app, "lead2@example.com", "李组长", "lead", "zh-CN").await;
        let id = submit(&app, "digest answer", false).await;
        triage(&app, id).await;
        let due = clock(&app, id, "remediate").await.due_at;
        let mut s = app.settings.clone();
        s.escalation.daily_digest = true;
        s.escalation.digest_hour = 9;
        // Two days after the deadline, 08:00 and 10:00 in Shanghai.
        let day = (due + Duration::days(2)).with_timezone(&chrono_tz::Asia::Shanghai);
        let at = |h: u32| {
            day.date_naive()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_local_timezone(chrono_tz::Asia::Shanghai)
                .unwrap()
                .with_timezone(&Utc)
        };
        let r = sweep(&app.db, &s, at(8), false).await.unwrap();
        assert!(
            r.mails.iter().all(|m| m.kind != "digest"),
            "before digest_hour"
        );
        let r = sweep(&app.db, &s, at(10), false).await.unwrap();
        let digests: Vec<_> = r.mails.iter().filter(|m| m.kind == "digest").collect();
        assert_eq!(digests.len(), 2, "{r:?}");
        let r = sweep(&app.db, &s, at(15), false).await.unwrap();
        assert!(r.mails.is_empty(), "once a day: {r:?}");
        let r = sweep(&app.db, &s, at(10) + Duration::days(1), false)
            .await
            .unwrap();
        assert_eq!(r.mails.iter().filter(|m| m.kind == "digest").count(), 2);
        // Off: none.
        let r = sweep_at(&app, at(10) + Duration::days(2)).await;
        assert!(r.mails.iter().all(|m| m.kind != "digest"));

        deliver(&app, &app.settings, Utc::now(), Mode::All).await;
        let msgs = smtp.wait_for(4 + 2).await;
        let digests: Vec<&Received> = msgs
            .iter()
            .filter(|m| m.subject.contains("Daily digest") || m.subject.contains("每日摘要"))
            .collect();
        assert_eq!(digests.len(), 4);
        for m in digests {
            check_escalation_mail(m, app.settings.server.public_url.as_str(), &[id]);
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rectify_serve_sweeps_on_its_interval() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let url = smtp.url();
        let app = TestApp::spawn_with(backend, move |s| {
            s.mail.transport = MailTransport::Smtp;
            s.mail.smtp_url = url;
            s.escalation.sweep_interval_secs = 1;
        })
        .await;
        add_user(&app, "lead@example.com", "Lee Lead", "lead", "en").await;
        let id = submit(&app, "an answer found late", false).await;
        triage(&app, id).await;
        // As if first reported 80 days ago and due in 10: before_30d and before_14d have come.
        let now = rectify::domain::audit::truncate_micros(Utc::now());
        let mut c: incident_clock::ActiveModel = clock(&app, id, "remediate").await.into();
        c.started_at = Set(now - Duration::days(80));
        c.due_at = Set(now + Duration::days(10));
        c.next_fire_at = Set(Some(now - Duration::days(20)));
        c.update(&app.db.conn).await.unwrap();

        let msgs = smtp.wait_for(1).await;
        assert_eq!(msgs[0].rcpt_to, "lead@example.com");
        check_escalation_mail(&msgs[0], app.settings.server.public_url.as_str(), &[id]);
        let steps: Vec<String> = fired(&app).await.into_iter().map(|(_, _, s)| s).collect();
        assert_eq!(steps, ["before_30d", "before_14d"]);
        assert_eq!(
            clock(&app, id, "remediate").await.next_fire_at,
            Some(now + Duration::days(3)),
            "next: before_7d"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        assert_eq!(smtp.raw_messages().len(), 1, "later ticks send nothing new");
        app.stop().await;
    }
}
