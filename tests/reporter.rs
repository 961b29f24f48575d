//! The reporter's side (issue 17), black-box on SQLite and PostgreSQL with a real SMTP server:
//! a staff message reaching the status page and the reporter's mail (both parts, both
//! languages) and meeting the feedback clock where triage does not; a public summary at
//! containment; a reporter's reply reaching the incident page, the board and the assignee;
//! the status page's confirmation, stage sentences, rejected path and dates.

mod common;

use common::smtp::{Received, SmtpServer};
use common::staff::{act, add_user, sign_in};
use common::{TestApp, backends, clock, submit_form, valid_form, with};
use rectify::config::MailTransport;
use rectify::db::entities::{incident_event, report};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

async fn spawn(backend: common::Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(backend, move |s| {
        s.mail.transport = MailTransport::Smtp;
        s.mail.smtp_url = url;
        s.mail.smtp_timeout_secs = 5;
        s.limits.intake_burst = 0;
        s.escalation.sweep_interval_secs = 0;
        s.public.operator_name = "Example AI Ltd".into();
        s.public.operator_contact = "trust@example.com".into();
    })
    .await
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The messages `smtp` got whose subject contains `needle`, waiting (bounded) for `n`.
async fn mails_with(smtp: &SmtpServer, needle: &str, n: usize) -> Vec<Received> {
    for _ in 0..150 {
        let got: Vec<Received> = smtp
            .messages()
            .into_iter()
            .filter(|m| m.subject.contains(needle))
            .collect();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("expected {n} mail(s) with {needle:?} in the subject");
}

async fn report_id(app: &TestApp, code: &str) -> i64 {
    app.report(code).await.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_message_reaches_the_status_page_and_the_mail_and_meets_the_feedback_clock() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "tri@example.com", "triager").await;
        let staff = sign_in(&app, "tri@example.com").await;

        // Two reporters of the same content: one reads Chinese, one English.
        let zh_form = with(
            with(valid_form(), "email", "li@example.com"),
            "lang",
            "zh-CN",
        );
        let (id, zh_code) = submit_form(&app, &zh_form).await;
        let en_form = with(with(valid_form(), "email", "ada@example.com"), "lang", "en");
        let (id2, en_code) = submit_form(&app, &en_form).await;
        assert_eq!(id, id2, "the same content makes one incident");
        mails_with(&smtp, "", 2).await; // the two acknowledgements

        // Triage tells the reporter nothing: the feedback clock keeps running.
        let r = act(
            &app,
            &staff,
            id,
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "low")],
        )
        .await;
        assert_eq!(r.status(), 303);
        assert_eq!(clock(&app, id, "acknowledge").await.status, "running");

        // A message to every reporter of the incident; markup in it is text.
        let text = "Which app showed this? Please tell us the <b>version</b>.";
        let r = act(
            &app,
            &staff,
            id,
            "message_reporter",
            &[("report_id", "all"), ("text", text)],
        )
        .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let ack = clock(&app, id, "acknowledge").await;
        assert_eq!(ack.status, "met", "a message is feedback");
        assert_eq!(ack.stop_reason.as_deref(), Some("message_reporter"));

        // Both status pages show it, escaped.
        for code in [&zh_code, &en_code] {
            let (status, body) = page(&app, &format!("/status/{code}")).await;
            assert_eq!(status, 200);
            assert!(
                body.contains("Please tell us the &#60;b&#62;version"),
                "the message, escaped, on the status page"
            );
            assert!(!body.contains("<b>version</b>"));
        }

        // Each reporter's mail, in their language, both parts, with the way to answer.
        let zh = mails_with(&smtp, "关于您的举报的消息", 1).await;
        assert_eq!(zh.len(), 1);
        assert_eq!(zh[0].rcpt_to, "li@example.com");
        assert!(zh[0].subject.contains(&zh_code));
        let link = app.url(&format!("/status/{zh_code}"));
        assert!(zh[0].text.contains(text) && zh[0].text.contains(&link));
        assert!(zh[0].text.contains("您可以在举报进度页面查看并回复"));
        assert!(zh[0].text.contains("运营方：Example AI Ltd"));
        let html = zh[0].html.as_deref().expect("an HTML part");
        assert!(html.contains("&#60;b&#62;version") && html.contains(&link));
        assert!(html.contains("trust@example.com"));
        let en = mails_with(&smtp, "A message about your report", 1).await;
        assert_eq!(en[0].rcpt_to, "ada@example.com");
        assert!(en[0].text.contains(text));
        assert!(
            en[0]
                .text
                .contains("Operated by: Example AI Ltd · Contact: trust@example.com")
        );
        assert!(
            en[0]
                .html
                .as_deref()
                .unwrap()
                .contains("You can read it and answer")
        );

        // A message to one reporter reaches only that one.
        let one = report_id(&app, &en_code).await.to_string();
        let r = act(
            &app,
            &staff,
            id,
            "message_reporter",
            &[("report_id", &one), ("text", "Thank you, that helps.")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, en_page) = page(&app, &format!("/status/{en_code}")).await;
        let (_, zh_page) = page(&app, &format!("/status/{zh_code}")).await;
        assert!(en_page.contains("Thank you, that helps."));
        assert!(!zh_page.contains("Thank you, that helps."));

        // The chain holds the messages.
        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            other => panic!("the chain should hold: {other:?}"),
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporter_reply_reaches_the_incident_page_the_board_and_the_assignee() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        let tri = add_user(&app, "tri@example.com", "triager").await;
        let staff = sign_in(&app, "tri@example.com").await;
        let (id, code) = submit_form(&app, &with(valid_form(), "email", "")).await;
        let r = act(
            &app,
            &staff,
            id,
            "assign",
            &[("assignee", &tri.to_string())],
        )
        .await;
        assert_eq!(r.status(), 303);

        // A mistake keeps what was typed: empty, then too long.
        let r = app
            .client
            .post(app.url(&format!("/status/{code}/reply")))
            .form(&[("message", "   ")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let long = format!("<i>x{}", "y".repeat(6000));
        let r = app
            .client
            .post(app.url(&format!("/status/{code}/reply")))
            .form(&[("message", long.as_str()), ("lang", "en")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("At most 5000 characters."));
        assert!(
            body.contains(&format!("&#60;i&#62;x{}", "y".repeat(6000))),
            "the typed text comes back, escaped"
        );

        // A reply without an account: the tracking code is the key.
        let reply = "It was the Android app, version 3.2 <script>alert(1)</script>";
        let r = app
            .client
            .post(app.url(&format!("/status/{code}/reply")))
            .form(&[("message", reply)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let (_, status_page) = page(&app, &format!("/status/{code}")).await;
        assert!(status_page.contains("It was the Android app, version 3.2 &#60;script&#62;"));

        // An unknown code is not a way in.
        let r = app
            .client
            .post(app.url("/status/AAAA-AAAA-AAAA-AAAA/reply"))
            .form(&[("message", "hello")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);

        // The event carries the text's hash, not the text.
        let ev = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::Action.eq("reporter_reply"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .expect("a reporter_reply event");
        assert_eq!(ev.actor, "reporter");
        assert!(!ev.data.contains("Android"));
        assert!(ev.data.contains(&rectify::db::messages::sha256_hex(reply)));

        // The board marks it until someone opens the incident.
        let board = staff
            .get(app.url("/board"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(board.contains("unread reporter mail"));
        let inc_page = staff
            .get(app.url(&format!("/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(inc_page.contains("It was the Android app, version 3.2 &#60;script&#62;"));
        assert!(inc_page.contains("1 new reply"));
        let board = staff
            .get(app.url("/board"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!board.contains("unread reporter mail"), "read once opened");

        // The assignee is told, without the reply's text (personal data stays in the app).
        let notice = mails_with(&smtp, "a reporter replied", 1).await;
        assert_eq!(notice[0].rcpt_to, "tri@example.com");
        assert!(notice[0].subject.contains(&format!("INC-{id}")));
        let link = app.url(&format!("/incidents/{id}"));
        assert!(notice[0].text.contains(&link));
        assert!(notice[0].html.as_deref().unwrap().contains(&link));
        assert!(!notice[0].text.contains("Android"));

        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            other => panic!("the chain should hold: {other:?}"),
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_says_what_each_stage_means() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "tri@example.com", "triager").await;
        add_user(&app, "eng@example.com", "engineer").await;
        let tri = sign_in(&app, "tri@example.com").await;
        let eng = sign_in(&app, "eng@example.com").await;

        // After submitting: the "received" confirmation, once.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT_LANGUAGE,
            "zh-CN,zh;q=0.9".parse().unwrap(),
        );
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .unwrap();
        let r = browser
            .post(app.url("/report"))
            .form(&with(valid_form(), "lang", "zh-CN"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let code = r.url().path().trim_start_matches("/status/").to_owned();
        let body = r.text().await.unwrap();
        assert!(body.contains("我们已收到您的举报"), "received, in Chinese");
        assert!(body.contains("您的举报已保存，正在等待审查。"));
        // Dates as a Chinese reader writes them, and the operator in the footer.
        assert!(body.contains("（北京时间）") && body.contains("年"));
        assert!(!body.contains("(Asia/Shanghai)"));
        assert!(body.contains("运营方：Example AI Ltd"));
        let again = browser
            .get(app.url(&format!("/status/{code}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!again.contains("我们已收到您的举报"), "shown once");

        let id = app.report(code.as_str()).await.incident_id;
        act(
            &app,
            &tri,
            id,
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "medium")],
        )
        .await;
        let (_, body) = page(&app, &format!("/status/{code}?lang=en")).await;
        assert!(body.contains("Our staff are reviewing your report"));
        assert!(
            body.contains("(end of day, Asia/Shanghai time)"),
            "English dates name the zone"
        );

        // Containment with a public summary: the page says what was done, the mail too.
        let r = act(
            &app,
            &eng,
            id,
            "contain",
            &[
                ("filter_rule", "FR-2231 internal-only rule name"),
                ("blocks", "capital-city answers about Australia"),
                (
                    "public_summary",
                    "We now block this wrong answer while the model is corrected.",
                ),
            ],
        )
        .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let (_, body) = page(&app, &format!("/status/{code}?lang=en")).await;
        assert!(body.contains("We now block this wrong answer while the model is corrected."));
        assert!(!body.contains("FR-2231"), "never internal notes");
        let ack = clock(&app, id, "acknowledge").await;
        assert_eq!(ack.status, "met");
        assert_eq!(ack.stop_reason.as_deref(), Some("publish_summary"));
        let acted = mails_with(&smtp, "我们已对您的举报采取措施", 1).await;
        assert!(acted[0].text.contains("We now block this wrong answer"));
        assert!(
            acted[0]
                .html
                .as_deref()
                .unwrap()
                .contains("We now block this wrong answer")
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_report_shows_the_path_it_took_and_promises_nothing_more() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "tri@example.com", "triager").await;
        let tri = sign_in(&app, "tri@example.com").await;
        let (id, code) = submit_form(&app, &valid_form()).await;
        let r = act(
            &app,
            &tri,
            id,
            "reject",
            &[("reasons", "The answer is a correct quotation.")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, body) = page(&app, &format!("/status/{code}?lang=en")).await;
        let tracker = body
            .split("<ol class=\"stages\">")
            .nth(1)
            .unwrap()
            .split("</ol>")
            .next()
            .unwrap();
        assert!(tracker.contains("Closed: no action"));
        assert!(
            !tracker.contains("Action taken"),
            "the rejected path skips action taken"
        );
        assert!(body.contains("The answer is a correct quotation."));
        assert!(
            !body.contains("Feedback due by"),
            "a closed page promises no feedback"
        );
        assert!(!body.contains("within 15 working days"));
        assert!(body.contains("This report is closed."));
        let (_, zh) = page(&app, &format!("/status/{code}?lang=zh-CN")).await;
        assert!(zh.contains("已办结：不予处理"));
        assert!(!zh.contains("反馈期限"));
        let events: Vec<String> = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .order_by_asc(incident_event::Column::Seq)
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(events, ["open", "reject"]);
        assert_eq!(clock(&app, id, "acknowledge").await.status, "met");
        app.stop().await;
    }
}

/// `rectify` itself, on the test's database.
fn rectify_cli(app: &TestApp, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RECTIFY_ENV")
        .env("RECTIFY_DATABASE__URL", &app.test_db.url)
        .env("RECTIFY_MAIL__TRANSPORT", "file")
        .env("RECTIFY_MAIL__DIR", app.mail_dir())
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
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_erases_a_closed_reports_personal_data_and_the_chain_still_holds() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "tri@example.com", "triager").await;
        let tri = sign_in(&app, "tri@example.com").await;

        // The form states the period.
        let (_, form) = page(&app, "/report?lang=en").await;
        assert!(form.contains("erase them 365 days after the report is closed"));

        let (id, code) = submit_form(&app, &with(valid_form(), "name", "Ada Lovelace")).await;
        let reply = "My phone number is 555-0100 if you need it.";
        let r = app
            .client
            .post(app.url(&format!("/status/{code}/reply")))
            .form(&[("message", reply)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        // An open incident's reporter keeps their data whatever the date.
        let far = chrono::Utc::now() + chrono::Duration::days(1000);
        let far_s = far.to_rfc3339();
        let out = rectify_cli(&app, &["retention", "run", "--dry-run", "--now", &far_s]);
        assert!(out.contains(": 0 report(s) would be erased"), "{out}");

        act(
            &app,
            &tri,
            id,
            "reject",
            &[("reasons", "Not generated by us.")],
        )
        .await;
        let closed = chrono::Utc::now();
        let rid = report_id(&app, &code).await;

        // Not yet due a day before the period ends; due after it. A dry run changes nothing.
        let early = (closed + chrono::Duration::days(364)).to_rfc3339();
        let out = rectify_cli(&app, &["retention", "run", "--dry-run", "--now", &early]);
        assert!(out.contains(": 0 report(s)"), "{out}");
        let late = (closed + chrono::Duration::days(366)).to_rfc3339();
        let out = rectify_cli(&app, &["retention", "run", "--dry-run", "--now", &late]);
        assert!(out.contains(": 1 report(s) would be erased"), "{out}");
        assert!(
            out.contains(&format!("WOULD ERASE report {rid} ({code}) of INC-{id}")),
            "{out}"
        );
        assert!(out.contains("name, email, replies:1"), "{out}");
        let r = report::Entity::find_by_id(rid)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.reporter_email.as_deref(), Some("ada@example.com"));

        // The run erases; the event keeps a hash of what was there, not the content.
        let out = rectify_cli(&app, &["retention", "run", "--now", &late]);
        assert!(out.contains(": 1 report(s) erased"), "{out}");
        let r = report::Entity::find_by_id(rid)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((r.reporter_name, r.reporter_email), (None, None));
        assert!(r.erased_at.is_some());
        let (_, status) = page(&app, &format!("/status/{code}?lang=en")).await;
        assert!(!status.contains("555-0100"));
        assert!(status.contains("(removed under our retention policy)"));
        let ev = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::Action.eq("redact"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .expect("a redact event");
        assert_eq!(ev.actor, "system");
        let expected = serde_json::json!({
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "replies": [{"id": 1, "body": reply}],
        });
        let data: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(
            data["sha256"].as_str().unwrap(),
            rectify::db::messages::sha256_hex(&expected.to_string())
        );
        assert!(!ev.data.contains("Ada") && !ev.data.contains("555-0100"));
        let sent_to: Vec<String> = rectify::db::entities::outbox::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.recipient)
            .collect();
        assert!(!sent_to.iter().any(|r| r.contains("ada@")), "{sent_to:?}");
        assert!(sent_to.iter().any(|r| r == "erased@invalid"), "{sent_to:?}");

        // Nothing left to erase; the audit chain still verifies (the CLI says so too).
        let out = rectify_cli(&app, &["retention", "run", "--now", &late]);
        assert!(out.contains(": 0 report(s) erased"), "{out}");
        let out = rectify_cli(&app, &["audit", "verify"]);
        assert!(!out.contains("broken"), "{out}");
        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            other => panic!("the chain should hold after erasure: {other:?}"),
        }

        // The sweep erases too.
        let (id2, code2) =
            submit_form(&app, &with(valid_form(), "output", "Another wrong answer.")).await;
        act(&app, &tri, id2, "reject", &[("reasons", "No.")]).await;
        let later = chrono::Utc::now() + chrono::Duration::days(400);
        let r = rectify::jobs::sweep::sweep(&app.db, &app.settings, later, false)
            .await
            .unwrap();
        assert_eq!(r.redacted.len(), 1, "{r:?}");
        let r2 = report::Entity::find_by_id(report_id(&app, &code2).await)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r2.reporter_email, None);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appeal_is_decided_by_someone_else_and_the_reporter_is_told() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "ann@example.com", "lead").await;
        add_user(&app, "bob@example.com", "lead").await;
        let ann = sign_in(&app, "ann@example.com").await;
        let bob = sign_in(&app, "bob@example.com").await;
        let (id, code) = submit_form(&app, &with(valid_form(), "lang", "zh-CN")).await;

        // Nothing to contest before a decision.
        let (_, body) = page(&app, &format!("/status/{code}?lang=en")).await;
        assert!(!body.contains("Contest this decision"));

        let r = act(
            &app,
            &ann,
            id,
            "reject",
            &[("reasons", "The answer is correct.")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, body) = page(&app, &format!("/status/{code}?lang=en")).await;
        assert!(
            body.contains("Contest this decision"),
            "offered after a rejection"
        );

        // A mistake keeps what was typed; then the appeal is filed.
        let appeal_url = app.url(&format!("/status/{code}/appeal"));
        let r = app
            .client
            .post(&appeal_url)
            .form(&[("reasons", " "), ("lang", "en")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Tell us why the decision should change.")
        );
        let reasons = "Canberra is the capital <b>not</b> Sydney.";
        let r = app
            .client
            .post(&appeal_url)
            .form(&[("reasons", reasons)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let ev = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::Action.eq("appeal"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .expect("an appeal event");
        let data: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(data["contested"], "reject");
        assert!(
            !ev.data.contains("Canberra"),
            "the reasons' hash, not the text"
        );
        assert_eq!(clock(&app, id, "appeal").await.status, "running");
        let (_, body) = page(&app, &format!("/status/{code}?lang=en")).await;
        assert!(body.contains("You contested this decision."));
        assert!(
            !body.contains("Contest the decision</button>"),
            "once per decision"
        );
        let r = app
            .client
            .post(&appeal_url)
            .form(&[("reasons", "again"), ("lang", "en")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        // The leads are told (both parts).
        let notices = mails_with(&smtp, "a reporter contested the decision", 2).await;
        let to: Vec<&str> = notices.iter().map(|m| m.rcpt_to.as_str()).collect();
        assert!(to.contains(&"ann@example.com") && to.contains(&"bob@example.com"));
        assert!(
            notices[0]
                .html
                .as_deref()
                .unwrap()
                .contains(&format!("/incidents/{id}"))
        );

        // The person who rejected may not decide the appeal; someone else may.
        let (_, _, staff_page) = common::staff::form_tokens(&app, &ann, id).await;
        assert!(staff_page.contains("appeal open") && staff_page.contains("act-grant_appeal"));
        let r = act(
            &app,
            &ann,
            id,
            "uphold_appeal",
            &[("reasons", "I stand by it.")],
        )
        .await;
        assert_eq!(r.status(), 422);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("someone other than the person who took the contested decision")
        );
        let r = act(
            &app,
            &bob,
            id,
            "grant_appeal",
            &[("reasons", "The reporter is right; we look again.")],
        )
        .await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let inc = rectify::db::entities::incident::Entity::find_by_id(id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inc.state, "new", "rejected before triage: triaged afresh");
        assert_eq!(clock(&app, id, "appeal").await.status, "met");
        let (_, body) = page(&app, &format!("/status/{code}?lang=zh-CN")).await;
        assert!(body.contains("经复核，我们将重新处理您的举报"));
        assert!(body.contains("The reporter is right; we look again."));
        let told = mails_with(&smtp, "您的申诉处理结果", 1).await;
        assert_eq!(told[0].rcpt_to, "ada@example.com");
        assert!(told[0].text.contains("The reporter is right"));
        assert!(told[0].html.as_deref().unwrap().contains("经复核"));

        // Upheld: the decision stands, with reasons, on the page and by mail (English).
        let (id2, code2) = submit_form(
            &app,
            &with(with(valid_form(), "output", "Other content."), "lang", "en"),
        )
        .await;
        act(
            &app,
            &ann,
            id2,
            "reject",
            &[("reasons", "Not generated by us.")],
        )
        .await;
        let r = app
            .client
            .post(app.url(&format!("/status/{code2}/appeal")))
            .form(&[("reasons", "It was.")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let r = act(
            &app,
            &bob,
            id2,
            "uphold_appeal",
            &[("reasons", "Our logs show no such answer.")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, body) = page(&app, &format!("/status/{code2}?lang=en")).await;
        assert!(body.contains("the decision stands"));
        assert!(body.contains("Our logs show no such answer."));
        let upheld = mails_with(&smtp, "The outcome of your appeal", 1).await;
        assert!(upheld[0].text.contains("Our logs show no such answer."));

        // Too late after public.appeal_days.
        let late = chrono::Utc::now() + chrono::Duration::days(181);
        let code3 = rectify::domain::tracking_code::TrackingCode::parse(&code2).unwrap();
        let verdict = rectify::db::appeals::may_appeal(&app.db.conn, &code3, late, 180)
            .await
            .unwrap();
        assert!(verdict.is_err());

        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            other => panic!("the chain should hold: {other:?}"),
        }
        app.stop().await;
    }
}

/// A JPEG with an EXIF block that carries a location, as a phone camera writes one.
fn jpeg_with_exif() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    let mut payload = b"Exif\0\0MM\0*\0\0\0\x08\0\0\0\0\0\0".to_vec();
    payload.extend_from_slice(b"GPS 48.8584N 2.2945E secret-location");
    let len = (payload.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn report_parts(files: Vec<(&str, Vec<u8>, &str)>) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in valid_form() {
        form = form.text(k, v);
    }
    for (name, bytes, mime) in files {
        form = form.part(
            "screenshots",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str(mime)
                .unwrap(),
        );
    }
    form
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_with_a_report_are_re_encoded_and_only_staff_get_them() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "tri@example.com", "triager").await;
        let staff = sign_in(&app, "tri@example.com").await;
        let original = jpeg_with_exif();
        assert!(original.windows(4).any(|w| w == b"Exif"));

        // Through the form's no-JavaScript flow: multipart with the file.
        let r = app
            .client
            .post(app.url("/report"))
            .multipart(report_parts(vec![(
                "IMG_0001.jpg",
                original.clone(),
                "image/jpeg",
            )]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let code = r.headers()["location"]
            .to_str()
            .unwrap()
            .trim_start_matches("/status/")
            .to_owned();
        let rid = report_id(&app, &code).await;
        let rows = rectify::db::entities::attachment::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].report_id, Some(rid));
        assert_eq!(rows[0].media_type, "image/png");
        let stored = std::fs::read(rectify::db::attachments::path_of(
            &app.settings.attachments.dir,
            &rows[0].sha256,
        ))
        .unwrap();
        assert_eq!(rectify::db::attachments::sha256_of(&stored), rows[0].sha256);
        let decoded = image::load_from_memory(&stored).expect("the stored image decodes");
        assert_eq!((decoded.width(), decoded.height()), (40, 30));
        assert!(!stored.windows(4).any(|w| w == b"Exif"), "EXIF is gone");
        assert!(!stored.windows(15).any(|w| w == b"secret-location"));

        // Staff download it, as an attachment; the public cannot.
        let r = staff
            .get(app.url(&format!("/attachments/{}", rows[0].id)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.bytes().await.unwrap().to_vec(), stored);
        let r = app
            .client
            .get(app.url(&format!("/attachments/{}", rows[0].id)))
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 200, "not for the public");
        let id = report::Entity::find_by_id(rid)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap()
            .incident_id;
        let page = staff
            .get(app.url(&format!("/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(&format!("/attachments/{}", rows[0].id)));

        // A text file named .png is refused by its content; every typed value comes back.
        let r = app
            .client
            .post(app.url("/report"))
            .multipart(report_parts(vec![(
                "photo.png",
                b"<script>alert(1)</script>".to_vec(),
                "image/png",
            )]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("not a PNG, JPEG or WebP image"), "{body}");
        assert!(body.contains("The capital of Australia is Sydney."));
        assert!(body.contains("ada@example.com"));

        // Over the per-file limit: 413, the form back with its values.
        let big = vec![0u8; app.settings.attachments.max_image_bytes + 1];
        let r = app
            .client
            .post(app.url("/report"))
            .multipart(report_parts(vec![("big.png", big, "image/png")]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body = r.text().await.unwrap();
        assert!(body.contains("larger than 5 MiB"));
        assert!(body.contains("The capital is Canberra."));

        // More than three: refused, values kept.
        let png = rectify::media::reencode(&original).unwrap();
        let r = app
            .client
            .post(app.url("/report"))
            .multipart(report_parts(vec![
                ("1.png", png.clone(), "image/png"),
                ("2.png", png.clone(), "image/png"),
                ("3.png", png.clone(), "image/png"),
                ("4.png", png, "image/png"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("At most 3 screenshots"));
        assert_eq!(
            rectify::db::entities::attachment::Entity::find()
                .all(&app.db.conn)
                .await
                .unwrap()
                .len(),
            1,
            "nothing stored from refused forms"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_evidence_is_an_event_carrying_its_hash() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "eng@example.com", "engineer").await;
        let staff = sign_in(&app, "eng@example.com").await;
        let (id, _) = submit_form(&app, &valid_form()).await;
        let (csrf, _, _) = common::staff::form_tokens(&app, &staff, id).await;
        let csv = b"prompt,output,passed\nWhat is the capital?,Canberra,true\n".to_vec();
        let upload = |csrf: Option<&str>, name: &str, bytes: Vec<u8>| {
            let mut form = reqwest::multipart::Form::new();
            if let Some(c) = csrf {
                form = form.text("csrf", c.to_owned());
            }
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
            );
            staff
                .post(app.url(&format!("/incidents/{id}/evidence")))
                .multipart(form)
                .send()
        };
        // Without the CSRF token: refused.
        let r = upload(None, "eval.csv", csv.clone()).await.unwrap();
        assert_eq!(r.status(), 403);
        // A binary that is none of the accepted kinds: refused.
        let r = upload(
            Some(&csrf),
            "tool.exe",
            vec![0x4d, 0x5a, 0x90, 0x00, 0x03, 0xff],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 422);
        let r = upload(Some(&csrf), "eval results.csv", csv.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), 303);

        let ev = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::Action.eq("attach_evidence"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .expect("an attach_evidence event");
        let data: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(data["sha256"], rectify::db::attachments::sha256_of(&csv));
        assert_eq!(data["media_type"], "text/plain");
        assert_eq!(ev.actor, "eng@example.com");
        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            other => panic!("the chain should hold: {other:?}"),
        }
        // Served to staff as bytes to save, never as something to run.
        let aid = data["attachment_id"].as_i64().unwrap();
        let r = staff
            .get(app.url(&format!("/attachments/{aid}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert_eq!(
            r.headers()["content-disposition"],
            "attachment; filename=\"eval_results.csv\""
        );
        assert_eq!(r.bytes().await.unwrap().to_vec(), csv);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_through_the_json_api() {
    use base64::Engine;
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        let b64 = base64::engine::general_purpose::STANDARD.encode(jpeg_with_exif());
        let mut body = serde_json::json!({
            "output": "The capital of Australia is Sydney.",
            "category": "accuracy.inaccurate",
            "description": "It is Canberra.",
            "good_faith": true,
            "screenshots": [format!("data:image/jpeg;base64,{b64}")],
        });
        let r = app
            .client
            .post(app.url("/api/v1/reports"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let rows = rectify::db::entities::attachment::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let stored = std::fs::read(rectify::db::attachments::path_of(
            &app.settings.attachments.dir,
            &rows[0].sha256,
        ))
        .unwrap();
        assert!(image::load_from_memory(&stored).is_ok());
        assert!(!stored.windows(4).any(|w| w == b"Exif"));

        // Refused, naming the field, in the reporter's language: text called an image (by its
        // content), a value that is not a list, a list of something else.
        let gif = base64::engine::general_purpose::STANDARD.encode(b"GIF89a not really");
        for (wrong, lang, says) in [
            (
                serde_json::json!([gif]),
                "en",
                "A file is not a PNG, JPEG or WebP image",
            ),
            (
                serde_json::json!("one picture"),
                "en",
                "Must be a list of base64 strings",
            ),
            (serde_json::json!([42]), "zh-CN", "须为 base64 字符串的列表"),
        ] {
            body["screenshots"] = wrong;
            let r = app
                .client
                .post(app.url(&format!("/api/v1/reports?lang={lang}")))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 422);
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["errors"][0]["field"], "screenshots");
            let message = v["errors"][0]["message"].as_str().unwrap();
            assert!(message.starts_with(says), "{lang}: {message}");
        }
        app.stop().await;
    }
}

fn reply_parts(message: &str, files: Vec<(&str, Vec<u8>)>) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("message", message.to_owned())
        .text("lang", "en");
    for (name, bytes) in files {
        form = form.part(
            "attachment",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    form
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_carries_one_image_that_only_staff_see_and_the_chain_covers() {
    use rectify::db::entities::attachment;
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "tri@example.com", "triager").await;
        let staff = sign_in(&app, "tri@example.com").await;
        let (id, code) = submit_form(&app, &with(valid_form(), "email", "")).await;
        let reply_url = app.url(&format!("/status/{code}/reply"));

        // The no-JavaScript form posts the file with the text.
        let (_, status_page) = page(&app, &format!("/status/{code}")).await;
        assert!(status_page.contains(r#"enctype="multipart/form-data""#));
        assert!(status_page.contains(r#"name="attachment" type="file""#));

        // A text file named .png: refused by its content, the message kept (escaped).
        let typed = "Here is <b>the screen</b> I saw";
        let r = app
            .client
            .post(&reply_url)
            .multipart(reply_parts(
                typed,
                vec![("photo.png", b"<script>alert(1)</script>".to_vec())],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("not a PNG, JPEG or WebP image"), "{body}");
        assert!(body.contains("Here is &#60;b&#62;the screen&#60;/b&#62; I saw"));

        // Over the limit: 413, read no further than the limit, the message kept.
        let big = vec![0u8; app.settings.attachments.max_image_bytes + 1];
        let r = app
            .client
            .post(&reply_url)
            .multipart(reply_parts(typed, vec![("big.jpg", big)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body = r.text().await.unwrap();
        assert!(body.contains("larger than 5 MiB"), "{body}");
        assert!(body.contains("Here is &#60;b&#62;the screen&#60;/b&#62; I saw"));

        // Two files: one image per message.
        let png = rectify::media::reencode(&jpeg_with_exif()).unwrap();
        let r = app
            .client
            .post(&reply_url)
            .multipart(reply_parts(
                typed,
                vec![("1.png", png.clone()), ("2.png", png)],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("One image per message"));
        assert!(
            attachment::Entity::find()
                .all(&app.db.conn)
                .await
                .unwrap()
                .is_empty(),
            "nothing stored from refused replies"
        );

        // An image from a phone: stored re-encoded, without its EXIF block.
        let r = app
            .client
            .post(&reply_url)
            .multipart(reply_parts(
                "The app showed this.",
                vec![("IMG_0002.jpg", jpeg_with_exif())],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let rows = attachment::Entity::find().all(&app.db.conn).await.unwrap();
        assert_eq!(rows.len(), 1);
        let a = &rows[0];
        let rid = report_id(&app, &code).await;
        assert_eq!((a.report_id, a.incident_id), (Some(rid), id));
        assert_eq!(a.media_type, "image/png");
        let stored = std::fs::read(rectify::db::attachments::path_of(
            &app.settings.attachments.dir,
            &a.sha256,
        ))
        .unwrap();
        assert!(image::load_from_memory(&stored).is_ok());
        assert!(!stored.windows(15).any(|w| w == b"secret-location"));

        // Linked to the reply, and the reply's event carries the file's hash.
        let msg = rectify::db::messages::for_report(&app.db, rid)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.body == "The app showed this.")
            .expect("the reply is stored");
        assert_eq!(a.message_id, Some(msg.id));
        let ev = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::Action.eq("reporter_reply"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .expect("a reporter_reply event");
        let data: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(data["attachment_sha256"], a.sha256.as_str());
        assert_eq!(data["attachment_id"], a.id);
        assert_eq!(rectify::db::attachments::sha256_of(&stored), a.sha256);
        match rectify::db::audit::verify_all(&app.db).await.unwrap() {
            rectify::db::audit::Verdict::Holds { .. } => {}
            other => panic!("the chain should hold: {other:?}"),
        }

        // Staff see it with the reply and download it; the public never gets it.
        let inc_page = staff
            .get(app.url(&format!("/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let link = format!("/attachments/{}", a.id);
        let reply_at = inc_page.find("The app showed this.").unwrap();
        let shown = &inc_page[reply_at..];
        assert!(
            shown[..shown.find("</li>").unwrap()].contains(&link),
            "the image is shown with its reply"
        );
        let r = staff.get(app.url(&link)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().to_vec(), stored);
        let r = app.client.get(app.url(&link)).send().await.unwrap();
        assert_ne!(r.status(), 200, "not for the public");
        let (_, status_page) = page(&app, &format!("/status/{code}")).await;
        assert!(status_page.contains("The app showed this."));
        assert!(status_page.contains("With an image (only our staff can see it)."));
        assert!(!status_page.contains("/attachments/"));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_appeal_shows_on_the_board_and_in_the_list() {
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        add_user(&app, "ann@example.com", "lead").await;
        add_user(&app, "bob@example.com", "lead").await;
        let ann = sign_in(&app, "ann@example.com").await;
        let bob = sign_in(&app, "bob@example.com").await;
        let (appealed, code) = submit_form(&app, &valid_form()).await;
        let (other, _) = submit_form(&app, &with(valid_form(), "output", "Other content.")).await;
        for id in [appealed, other] {
            let r = act(&app, &ann, id, "reject", &[("reasons", "Correct.")]).await;
            assert_eq!(r.status(), 303);
        }
        let get = |path: String| {
            let ann = ann.clone();
            let url = app.url(&path);
            async move { ann.get(url).send().await.unwrap().text().await.unwrap() }
        };
        let board = get("/board".into()).await;
        assert!(!board.contains("Open appeals waiting"), "none yet");

        let r = app
            .client
            .post(app.url(&format!("/status/{code}/appeal")))
            .form(&[("reasons", "Canberra is the capital.")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);

        // The board leaves closed incidents out, so it says an appeal waits and links to it.
        let board = get("/board".into()).await;
        assert!(board.contains("Open appeals waiting for a decision: 1."));
        assert!(board.contains(r#"href="/board?appeal=open""#));
        let link = |id: i64| format!(r#"href="/incidents/{id}""#);
        let badge = r#"<span class="flag flag-appeal">appeal open</span>"#;
        let board = get("/board?appeal=open".into()).await;
        assert!(board.contains(&link(appealed)) && board.contains(badge));
        assert!(
            !board.contains(&link(other)),
            "only incidents with an open appeal"
        );
        assert!(board.contains(r#"name="appeal" value="open" checked"#));
        let list = get("/incidents?appeal=open".into()).await;
        assert!(list.contains(&link(appealed)) && list.contains(badge));
        assert!(!list.contains(&link(other)));
        // Without the filter the list marks the row too.
        let list = get("/incidents?state=all".into()).await;
        assert_eq!(list.matches(badge).count(), 1);

        // Decided: no longer an open appeal anywhere.
        let r = act(
            &app,
            &bob,
            appealed,
            "uphold_appeal",
            &[("reasons", "Checked.")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let board = get("/board?appeal=open".into()).await;
        assert!(!board.contains(&link(appealed)) && !board.contains(badge));
        assert!(!get("/board".into()).await.contains("Open appeals waiting"));
        assert!(!get("/incidents?state=all".into()).await.contains(badge));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_never_stored_without_its_screenshots() {
    use sea_orm::{ConnectionTrait, PaginatorTrait};
    for backend in backends() {
        let smtp = SmtpServer::start();
        let app = spawn(backend, &smtp).await;
        let reports = || async { report::Entity::find().count(&app.db.conn).await.unwrap() };
        // The screenshots' rows cannot be written: the report with them must not be stored.
        app.db
            .conn
            .execute_unprepared("DROP TABLE attachments")
            .await
            .unwrap();
        let r = app
            .client
            .post(app.url("/report"))
            .multipart(report_parts(vec![(
                "IMG_0001.jpg",
                jpeg_with_exif(),
                "image/jpeg",
            )]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_server_error(), "{}", r.status());
        assert_eq!(reports().await, 0, "no report without its screenshots");
        // A report without screenshots writes no attachment row, and is stored.
        let r = app
            .client
            .post(app.url("/report"))
            .form(&valid_form())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(reports().await, 1);
        app.stop().await;
    }
}
