//! Calendars on a real database: clocks that rest on a provisional year, `rectify calendar
//! check` and `import`, the recompute events in the hash chain, the compliance notices, and how
//! clocks end. Expected due instants are worked out from the rules in the comments.

mod common;

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{Backend, TestApp, backends, clock, valid_form};
use rectify::db::entities::{incident, incident_clock, incident_event, outbox};
use rectify::db::intake::{IntakeWriter, Submission};
use rectify::db::workflow::{act, no_mail};
use rectify::domain::locale::Locale;
use rectify::domain::report::{Channel, ReportForm, validate};
use rectify::domain::severity::Severity;
use rectify::domain::tracking_code::TrackingCode;
use rectify::domain::workflow::{Action, Actor, MergeTarget, Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A test arrangement for 2027 (not the real notice, which comes in the autumn): 元旦 Fri 1 –
/// Sun 3 Jan; 春节 Fri 5 – Thu 11 Feb; make-up Sundays 31 Jan and 21 Feb.
const TEST_2027: &str = r#"# 2027 arrangement for the tests
calendar = "cn"
year = 2027
source = "test arrangement for 2027 (not the official notice)"
holidays = [
  "2027-01-01", "2027-01-02", "2027-01-03",
  "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11",
]
workdays = ["2027-01-31", "2027-02-21"]
"#;

/// Stores a report received at `at`, through the intake writer as the web form does.
async fn report_at(app: &TestApp, writer: &IntakeWriter, output: &str, at: &str) -> i64 {
    report_with(&app.settings, writer, output, at).await
}

async fn report_with(
    settings: &rectify::config::Settings,
    writer: &IntakeWriter,
    output: &str,
    at: &str,
) -> i64 {
    let mut form = ReportForm::default();
    for (k, v) in valid_form() {
        form.set(k, v);
    }
    form.output = output.to_owned();
    form.good_faith = true;
    let valid = validate(
        &form,
        &settings.taxonomy,
        rectify::web::public::limits(settings),
    )
    .unwrap();
    let code = TrackingCode::from_bytes(rand::random());
    writer
        .submit(Submission::new(
            valid,
            Locale::En,
            Channel::WebForm,
            code,
            utc(at),
            None,
        ))
        .await
        .unwrap()
        .incident_id
}

async fn calendar_notices(app: &TestApp) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::Kind.eq("calendar_notice"))
        .order_by_asc(outbox::Column::Id)
        .all(&app.db.conn)
        .await
        .unwrap()
}

fn writer(app: &TestApp) -> IntakeWriter {
    IntakeWriter::start(app.db.clone(), Arc::new(app.settings.deadlines.clone()), 4).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_2027_recomputes_running_clocks_once_with_events_the_audit_accepts() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        common::staff::add_user(&app, "compliance@example.com", "compliance").await;
        let w = writer(&app);
        // 5 Nov 2026 10:00 CST + 3 months = Fri 5 Feb 2027 = 除夕 by rule; Sat 6 – Mon 8 春节
        // → Tue 9 Feb, 24:00 CST = 2027-02-09T16:00Z, provisional.
        let eve = report_at(&app, &w, "answer one", "2026-11-05T02:00:00Z").await;
        // 1 Oct 2026 09:00 CST + 3 months = Fri 1 Jan 2027, New Year's Day by rule → Mon 4 Jan.
        let new_year = report_at(&app, &w, "answer two", "2026-10-01T01:00:00Z").await;
        // 1 Jun 2026 10:00 CST + 3 months = Tue 1 Sep 2026: official, a working day.
        let summer = report_at(&app, &w, "answer three", "2026-06-01T02:00:00Z").await;

        let r = clock(&app, eve, "remediate").await;
        assert_eq!(r.due_at, utc("2027-02-09T16:00:00Z"), "{backend:?}");
        assert!(r.provisional);
        assert_eq!(r.provisional_years.as_deref(), Some("2027"));
        assert_eq!(r.calendar.as_deref(), Some("cn"));
        assert_eq!(
            clock(&app, new_year, "remediate").await.due_at,
            utc("2027-01-04T16:00:00Z")
        );
        let s = clock(&app, summer, "remediate").await;
        assert_eq!(s.due_at, utc("2026-09-01T16:00:00Z"));
        assert!(!s.provisional);

        let now = utc("2026-12-01T00:00:00Z");
        let (text, provisional) = rectify::jobs::calendar::check(&app.db, &app.settings, now)
            .await
            .unwrap();
        assert!(provisional, "{text}");
        assert!(text.contains(&format!("INC-{eve} ")), "{text}");
        assert!(text.contains(&format!("INC-{new_year} ")), "{text}");
        assert!(!text.contains(&format!("INC-{summer} ")), "{text}");
        assert!(
            text.contains("cn: China (Asia/Shanghai)") && text.contains("official years: 2026"),
            "{text}"
        );
        // One notice to compliance, whatever the number of clocks or checks.
        rectify::jobs::calendar::check(&app.db, &app.settings, now)
            .await
            .unwrap();
        let notices = calendar_notices(&app).await;
        assert_eq!(notices.len(), 1, "{backend:?}");
        assert_eq!(notices[0].recipient, "compliance@example.com");
        assert!(
            notices[0].subject.contains("cn 2027"),
            "{}",
            notices[0].subject
        );
        assert!(
            notices[0]
                .body_text
                .contains(&format!("INC-{eve} remediation (model fix): due "))
        );
        let events_before = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(eve))
            .all(&app.db.conn)
            .await
            .unwrap()
            .len();

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cn-2027.toml");
        std::fs::write(&file, TEST_2027).unwrap();
        let out = rectify::jobs::calendar::import(&app.db, &app.settings, &file, now)
            .await
            .unwrap();
        // 除夕 5 Feb to 11 Feb off in the arrangement → Fri 12 Feb, 24:00 CST = 16:00Z.
        assert!(
            out.contains(&format!(
                "INC-{eve:<6} remediate         2027-02-09T16:00:00Z -> 2027-02-12T16:00:00Z"
            )),
            "{out}"
        );
        // New Year's Day 1–3 Jan as the rule had it: 4 Jan stays, now official, no event.
        assert!(!out.contains(&format!("INC-{new_year} ")), "{out}");
        let r = clock(&app, eve, "remediate").await;
        assert_eq!(r.due_at, utc("2027-02-12T16:00:00Z"));
        assert!(!r.provisional);
        assert_eq!(r.provisional_years, None);
        // The ladder follows: its first step, 30 days before the new due instant.
        assert_eq!(r.next_fire_at, Some(utc("2027-01-13T16:00:00Z")));
        let n = clock(&app, new_year, "remediate").await;
        assert_eq!(n.due_at, utc("2027-01-04T16:00:00Z"));
        assert!(!n.provisional, "rebased on the official year");

        let events = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(eve))
            .order_by_asc(incident_event::Column::Seq)
            .all(&app.db.conn)
            .await
            .unwrap();
        assert_eq!(events.len(), events_before + 1);
        let last = events.last().unwrap();
        assert_eq!(last.action, "recompute_clock");
        let data: serde_json::Value = serde_json::from_str(&last.data).unwrap();
        assert_eq!(data["clock"], "remediate");
        assert_eq!(data["old_due"], "2027-02-09T16:00:00.000000Z");
        assert_eq!(data["new_due"], "2027-02-12T16:00:00.000000Z");
        assert_eq!(data["calendar"], "cn");
        assert_eq!(data["provisional"], false);
        let change = data["change"].as_str().unwrap();
        assert!(change.contains("import of cn-2027.toml"), "{change}");
        assert!(
            change.contains("cn 2027 official arrangement loaded"),
            "{change}"
        );
        let row = incident::Entity::find_by_id(eve)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.version, last.seq);
        assert_eq!(row.last_event_hash, last.hash);
        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            v => panic!("{backend:?}: {v:?}"),
        }

        // Again: nothing moves, no event.
        let again = rectify::db::deadlines::recompute(&app.db, &app.settings.deadlines, now)
            .await
            .unwrap();
        assert!(again.moved.is_empty() && again.rebased == 0, "{again:?}");
        let (text, provisional) = rectify::jobs::calendar::check(&app.db, &app.settings, now)
            .await
            .unwrap();
        assert!(!provisional, "{text}");
        assert!(text.contains("official years: 2026–2027"), "{text}");
        // The second notice: the official arrangement is loaded; and never a third.
        let notices = calendar_notices(&app).await;
        assert_eq!(notices.len(), 2, "{backend:?}");
        assert!(
            notices[1]
                .subject
                .contains("Official calendar loaded: cn 2027")
        );
        assert!(notices[1].body_text.contains(&format!(
            "INC-{eve} remediation (model fix): 2027-02-09T16:00:00Z → 2027-02-12T16:00:00Z"
        )));
        rectify::jobs::calendar::import(&app.db, &app.settings, &file, now)
            .await
            .unwrap();
        assert_eq!(calendar_notices(&app).await.len(), 2);
        app.stop().await;
    }
}

fn lead() -> Actor {
    Actor::user(1, "lead@example.com", Role::Lead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_merged_incidents_stop_their_clocks_and_a_reopen_resumes_them() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let policy = app.settings.deadlines.clone();
        let w = writer(&app);
        let rejected = report_at(&app, &w, "reject me", "2026-06-01T02:00:00Z").await;
        let merged = report_at(&app, &w, "merge me", "2026-06-01T03:00:00Z").await;
        let target = report_at(&app, &w, "keep me", "2026-06-01T04:00:00Z").await;
        // Late: after every due instant, so a "met or breached" rule would say breached.
        let late = utc("2026-12-01T00:00:00Z");
        act(
            &app.db,
            &policy,
            rejected,
            None,
            &Action::Reject {
                reasons: "not generated content".into(),
            },
            &lead(),
            late,
            &no_mail,
        )
        .await
        .unwrap();
        // The statement of reasons is the feedback the complaint clock promises (issue 17):
        // given late, it is breached rather than stopped.
        let ack = clock(&app, rejected, "acknowledge").await;
        assert_eq!(ack.status, "breached", "{backend:?} acknowledge");
        assert_eq!(ack.stop_reason.as_deref(), Some("reject"));
        for name in ["triage", "remediate"] {
            let c = clock(&app, rejected, name).await;
            assert_eq!(c.status, "stopped", "{backend:?} {name}");
            assert_eq!(c.stop_reason.as_deref(), Some("reject"));
            assert_eq!(c.next_fire_at, None);
        }
        act(
            &app.db,
            &policy,
            merged,
            None,
            &Action::Merge {
                target: MergeTarget {
                    id: target,
                    state: None,
                },
            },
            &lead(),
            late,
            &no_mail,
        )
        .await
        .unwrap();
        let m = clock(&app, merged, "remediate").await;
        assert_eq!(
            (m.status.as_str(), m.stop_reason.as_deref()),
            ("stopped", Some("merge"))
        );
        // The target took the earlier first report; its clocks run.
        assert_eq!(clock(&app, target, "remediate").await.status, "running");

        // Reopening the rejection resumes what the rejection stopped, against the same due.
        let before = clock(&app, rejected, "remediate").await;
        act(
            &app.db,
            &policy,
            rejected,
            None,
            &Action::Reopen {
                reason: "appeal upheld".into(),
            },
            &lead(),
            late,
            &no_mail,
        )
        .await
        .unwrap();
        let after = clock(&app, rejected, "remediate").await;
        assert_eq!(after.status, "running");
        assert_eq!(after.stop_reason, None);
        assert_eq!(after.due_at, before.due_at);

        // Triage met in time stays met through a later rejection and reopen.
        let t = report_at(&app, &w, "triage me", "2026-06-02T02:00:00Z").await;
        let triaged = utc("2026-06-02T03:00:00Z");
        act(
            &app.db,
            &policy,
            t,
            None,
            &Action::Triage {
                category: "accuracy.inaccurate".into(),
                severity: Severity::Low,
            },
            &lead(),
            triaged,
            &no_mail,
        )
        .await
        .unwrap();
        let tc = clock(&app, t, "triage").await;
        assert_eq!(
            (tc.status.as_str(), tc.stop_reason.as_deref()),
            ("met", Some("triage"))
        );
        for a in [
            Action::Reject {
                reasons: "out of scope".into(),
            },
            Action::Reopen {
                reason: "appeal".into(),
            },
        ] {
            act(&app.db, &policy, t, None, &a, &lead(), late, &no_mail)
                .await
                .unwrap();
        }
        assert_eq!(clock(&app, t, "triage").await.status, "met");
        assert_eq!(clock(&app, t, "remediate").await.status, "running");
        app.stop().await;
    }
}

fn rectify_cli(db_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rectify"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("RECTIFY_ENV");
    c.env("RECTIFY_DATABASE__URL", db_url);
    c.env("NO_COLOR", "1");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_check_exits_1_while_clocks_rest_on_2027_and_0_after_the_import() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let url = app.test_db.url.clone();
        let run = |args: &[&str]| {
            let out = rectify_cli(&url).args(args).output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, out, err) = run(&["calendar", "check"]);
        assert_eq!(code, Some(0), "{backend:?} fresh: {out}{err}");
        assert!(
            out.contains("no running clock rests on a provisional year"),
            "{out}"
        );

        let w = writer(&app);
        let id = report_at(&app, &w, "into 2027", "2026-11-05T02:00:00Z").await;
        let (code, out, _) = run(&["calendar", "check"]);
        assert_eq!(code, Some(1), "{backend:?}: {out}");
        assert!(
            out.contains(&format!("INC-{id} ")) && out.contains("remediate"),
            "{out}"
        );
        assert!(
            out.contains("2027-02-09T16:00:00Z") && out.contains("cn 2027 provisional"),
            "{out}"
        );

        // `policy explain` says the same, and marks it.
        let (code, out, _) = run(&["policy", "explain", "--reported-at", "2026-11-05T02:00:00Z"]);
        assert_eq!(code, Some(0));
        let line = out.lines().find(|l| l.starts_with("remediate")).unwrap();
        assert!(
            line.contains("2027-02-09T16:00:00Z") && line.contains("provisional"),
            "{line}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cn-2027.toml");
        std::fs::write(&file, TEST_2027).unwrap();
        let t0 = std::time::Instant::now();
        let (code, out, err) = run(&["calendar", "import", file.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{out}{err} after {:?}", t0.elapsed());
        assert!(out.contains("1 running clock(s) moved"), "{out}");
        let (code, out, _) = run(&["calendar", "check"]);
        assert_eq!(code, Some(0), "{out}");
        let (code, out, _) = run(&["audit", "verify"]);
        assert_eq!(code, Some(0), "{out}");
        // The imported year counts for `policy explain` too, as official.
        let (_, out, _) = run(&[
            "policy",
            "explain",
            "--reported-at",
            "2026-11-05T02:00:00Z",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let rem = v
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "remediate")
            .unwrap();
        assert_eq!(rem["due_utc"], "2027-02-12T16:00:00Z");
        assert_eq!(rem["calendar"]["provisional"], false);
        assert_eq!(rem["calendar"]["covered_through"], "2027-12-31");

        // A file with a mistake is refused, naming it, and changes nothing.
        std::fs::write(&file, TEST_2027.replace("2027-01-31", "2027-02-01")).unwrap();
        let (code, _, err) = run(&["calendar", "import", file.to_str().unwrap()]);
        assert_eq!(code, Some(2));
        assert!(
            err.contains("workday 2027-02-01 is not a Saturday or Sunday"),
            "{err}"
        );
        app.stop().await;
    }
}

#[test]
fn policy_explain_json_marks_the_2027_remediate_clock_provisional() {
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RECTIFY_ENV")
        // No database: the configuration's calendars alone.
        .env("RECTIFY_DATABASE__URL", "sqlite:/nonexistent/none.db")
        .args([
            "policy",
            "explain",
            "--reported-at",
            "2026-10-01T01:00:00Z",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rem = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "remediate")
        .unwrap();
    // + 3 months = Fri 1 Jan 2027 (New Year's Day), weekend → Mon 4 Jan, 24:00 CST.
    assert_eq!(rem["due_utc"], "2027-01-04T16:00:00Z");
    assert_eq!(rem["due_local"], "2027-01-05T00:00:00+08:00");
    assert_eq!(
        rem["calendar"],
        serde_json::json!({"name": "cn", "provisional": true, "provisional_years": [2027], "covered_through": "2026-12-31"})
    );
    assert_eq!(rem["ends"]["met"], serde_json::json!(["verify_pass"]));
    let ack = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "acknowledge")
        .unwrap();
    assert_eq!(ack["calendar"]["provisional"], false);
}

#[test]
fn policy_explain_accepts_every_spelling_and_keeps_the_clocks() {
    let run = |sev: &str, kind: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("RECTIFY_ENV")
            .env("RECTIFY_DATABASE__URL", "sqlite:/nonexistent/none.db")
            .args([
                "policy",
                "explain",
                "--reported-at",
                "2026-07-01T15:59:59.999Z",
            ])
            .args([
                "--severity",
                sev,
                "--serious",
                kind,
                "--category",
                "Accuracy.Inaccurate",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let canonical = run("high", "critical_infrastructure");
    for (sev, kind) in [
        ("HIGH", "Critical_Infrastructure"),
        (" high", "critical infrastructure"),
        ("High", "CRITICAL-INFRASTRUCTURE"),
    ] {
        assert_eq!(run(sev, kind), canonical, "{sev:?} {kind:?}");
    }
    assert!(canonical.contains("contain") && canonical.contains("authority_report"));
    // 15:59:59.999Z + 48 h: printed rounded up, never as 15:59:59Z.
    let contain = canonical
        .lines()
        .find(|l| l.starts_with("contain"))
        .unwrap();
    assert!(contain.contains("2026-07-03T16:00:00Z"), "{contain}");
    let _ = Backend::Sqlite;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_the_state_words_and_the_provisional_mark() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        common::staff::add_user(&app, "lead@example.com", "lead").await;
        let staff = common::staff::sign_in(&app, "lead@example.com").await;
        let w = writer(&app);
        // Far in the future, so every clock runs when the pages are looked at: due in 2051,
        // no official year → provisional.
        let future = report_at(&app, &w, "future answer", "2050-11-05T02:00:00Z").await;
        let rejected = report_at(&app, &w, "rejected answer", "2050-11-06T02:00:00Z").await;
        act(
            &app.db,
            &app.settings.deadlines,
            rejected,
            None,
            &Action::Reject {
                reasons: "no generated content".into(),
            },
            &lead(),
            utc("2050-11-06T03:00:00Z"),
            &no_mail,
        )
        .await
        .unwrap();
        let page = staff
            .get(app.url(&format!("/incidents/{future}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("provisional deadline"), "{backend:?}");
        assert!(page.contains("remediation (model fix)"));
        assert!(page.contains(">running<"));
        let page = staff
            .get(app.url(&format!("/incidents/{rejected}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(">stopped<") && page.contains("(incident rejected)"),
            "{page}"
        );
        // Only the feedback clock may show met: the rejection's reasons are feedback (issue 17).
        assert_eq!(
            page.matches(">met<").count(),
            usize::from(page.contains("feedback to the reporter")),
            "a rejected incident's work clocks never show met"
        );
        let board = staff
            .get(app.url("/board"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            board.contains(
                "provisional deadline: triage, feedback to the reporter, remediation (model fix)"
            ),
            "{board}"
        );
        // The reporter's status page, both languages.
        let code = rectify::db::entities::report::Entity::find()
            .filter(rectify::db::entities::report::Column::IncidentId.eq(rejected))
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap()
            .tracking_code;
        let en = app
            .client
            .get(app.url(&format!("/status/{code}?lang=en")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // A closed report's page promises no more feedback (issue 17): the decision instead.
        assert!(
            en.contains("Closed: no action") && !en.contains("Feedback due by"),
            "{en}"
        );
        let zh = app
            .client
            .get(app.url(&format!("/status/{code}?lang=zh-CN")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            zh.contains("已办结：不予处理") && !zh.contains("反馈期限"),
            "{zh}"
        );
        let code = rectify::db::entities::report::Entity::find()
            .filter(rectify::db::entities::report::Column::IncidentId.eq(future))
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap()
            .tracking_code;
        let zh = app
            .client
            .get(app.url(&format!("/status/{code}?lang=zh-CN")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(zh.contains("进行中 · 临时期限"), "{zh}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_form_in_any_spelling_starts_the_same_clocks() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        common::staff::add_user(&app, "lead@example.com", "lead").await;
        let staff = common::staff::sign_in(&app, "lead@example.com").await;
        let (id, _) = common::submit_form(&app, &valid_form()).await;
        let (csrf, version, _) = common::staff::form_tokens(&app, &staff, id).await;
        let resp = staff
            .post(app.url(&format!("/incidents/{id}/act")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("version", version.as_str()),
                ("action", " Triage "),
                ("category", " Accuracy.Inaccurate "),
                ("severity", "HIGH"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{backend:?}");
        let row = incident::Entity::find_by_id(id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.category, "accuracy.inaccurate",
            "stored as the canonical key"
        );
        assert_eq!(row.severity.as_deref(), Some("high"));
        assert_eq!(
            clock(&app, id, "contain").await.status,
            "running",
            "contain starts for HIGH"
        );
        // The board's filters read the same spellings.
        let board = staff
            .get(app.url("/board?severity=High&category=ACCURACY&state=Triaged"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(board.contains(&format!("INC-{id}<")), "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_added_to_the_configuration_is_recomputed_at_the_next_start() {
    #[derive(serde::Deserialize)]
    struct Wrap {
        deadlines: rectify::domain::deadlines::Policy,
    }
    for backend in backends() {
        let test_db = common::TestDb::new(backend).await;
        let settings = common::test_settings(&test_db);
        let first = rectify::app::Application::build(settings.clone())
            .await
            .unwrap();
        let id = report_with(
            &settings,
            &first.state().intake,
            "into 2027",
            "2026-11-05T02:00:00Z",
        )
        .await;
        let db = first.state().db.clone();
        drop(first);
        let remediate = |db: rectify::db::Db| async move {
            incident_clock::Entity::find()
                .filter(incident_clock::Column::IncidentId.eq(id))
                .filter(incident_clock::Column::Clock.eq("remediate"))
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap()
        };
        assert_eq!(
            remediate(db.clone()).await.due_at,
            utc("2027-02-09T16:00:00Z")
        );

        // The same database, started with the 2027 arrangement in the configuration.
        let year = TEST_2027
            .replace("calendar = \"cn\"\n", "")
            .replace("# 2027 arrangement for the tests\n", "");
        let text = format!(
            "{}\n[[deadlines.calendars.cn.years]]\n{year}",
            include_str!("../config/default.toml")
        );
        let mut second_settings = settings.clone();
        second_settings.deadlines = toml::from_str::<Wrap>(&text).unwrap().deadlines;
        second_settings.deadlines.validate().unwrap();
        let second = rectify::app::Application::build(second_settings.clone())
            .await
            .unwrap();
        let db = second.state().db.clone();
        let r = remediate(db.clone()).await;
        assert_eq!(r.due_at, utc("2027-02-12T16:00:00Z"), "{backend:?}");
        assert!(!r.provisional);
        let last = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .order_by_desc(incident_event::Column::Seq)
            .one(&db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last.action, "recompute_clock");
        assert!(
            last.data
                .contains("configuration: cn 2027 official arrangement added"),
            "{}",
            last.data
        );
        drop(second);
        // A third start with the same configuration changes nothing.
        let third = rectify::app::Application::build(second_settings)
            .await
            .unwrap();
        let again = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .order_by_desc(incident_event::Column::Seq)
            .one(&third.state().db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.seq, last.seq);
        assert!(matches!(
            rectify::db::audit::verify_all(&third.state().db)
                .await
                .unwrap(),
            rectify::db::audit::Verdict::Holds { .. }
        ));
        drop(third);
        test_db.drop_db().await;
    }
}
