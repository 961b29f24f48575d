//! End to end in headless Chromium (Debian's chromium + chromium-driver): a report through the
//! public form, then staff sign in and take the incident from new to resolved on the incident
//! page, checking the board and the reporter's status page at each step. Screenshots of the
//! board and the incident page are saved under target/e2e/ for people to look at.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::staff::{PASSWORD, add_user};
use common::{Backend, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> (Driver, Client, tempfile::TempDir) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "chromedriver: {e}; the end-to-end test needs Debian's chromium, chromium-driver \
                 and fonts-noto-cjk: run {}",
                common::record::FIX
            )
        });
    common::record::used("browser");
    let driver = Driver(driver);
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1600,1100",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return (driver, c, profile);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "could not start a Chromium session through chromedriver (is /usr/bin/chromium there?): run {}",
        common::record::FIX
    );
}

/// The page's text; empty while a navigation is under way (callers poll for what they expect).
async fn text_of(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn fill(c: &Client, id: &str, value: &str) {
    let el = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no #{id}"));
    if el.tag_name().await.unwrap() == "select" {
        el.select_by_value(value).await.unwrap();
    } else {
        el.clear().await.ok();
        el.send_keys(value).await.unwrap();
    }
}

/// Fills and submits the action form `kind` on the incident page, accepting the confirmation
/// the page's script asks for on consequential actions.
async fn take(c: &Client, kind: &str, fields: &[(&str, &str)]) {
    // The incident page folds the actions other than the next step into groups: open the one
    // that holds this form, as a person would.
    c.execute(
        "const f = document.getElementById('act-' + arguments[0]); \
         for (let d = f && f.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;",
        vec![serde_json::json!(kind)],
    )
    .await
    .unwrap();
    for (name, value) in fields {
        fill(c, &format!("{kind}-{name}"), value).await;
    }
    c.find(Locator::Css(&format!("#act-{kind} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if matches!(kind, "reject" | "verify_pass" | "merge") {
        for _ in 0..20 {
            if c.accept_alert().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for _ in 0..50 {
        if c.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/incidents/")
            && c.find(Locator::Css("h1")).await.is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until the browser is on a page whose path starts with `prefix`.
async fn wait_for_path(c: &Client, prefix: &str) -> url::Url {
    for _ in 0..200 {
        let url = c.current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "never reached {prefix}: still on {}",
        c.current_url().await.unwrap()
    );
}

async fn column_of(c: &Client, base: &str, reference: &str) -> Option<String> {
    c.goto(&format!("{base}/board")).await.unwrap();
    for col in c.find_all(Locator::Css("section.column")).await.unwrap() {
        if col.text().await.unwrap().contains(reference) {
            return col.attr("data-state").await.unwrap();
        }
    }
    None
}

#[tokio::test]
async fn a_report_from_the_public_form_to_resolved_in_the_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "admin@example.com", "admin").await;
    let (_driver, c, _profile) = browser().await;
    let base = app.base.clone();

    // The reporter, in Chinese.
    c.goto(&format!("{base}/report?lang=zh-CN")).await.unwrap();
    fill(&c, "output", "澳大利亚的首都是悉尼。").await;
    fill(&c, "prompt", "澳大利亚的首都是哪里？").await;
    fill(&c, "model", "demo-chat").await;
    fill(&c, "category", "accuracy.inaccurate").await;
    fill(&c, "description", "首都是堪培拉，不是悉尼。").await;
    fill(&c, "email", "reporter@example.com").await;
    c.find(Locator::Id("good_faith"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status_url = wait_for_path(&c, "/status/").await;
    let mut shown = false;
    for _ in 0..100 {
        if text_of(&c).await.contains("已受理") {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(shown, "the status page says received, in Chinese");
    let status_url = status_url.to_string();

    // Staff sign in.
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "email", "admin@example.com").await;
    fill(&c, "password", PASSWORD).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/board").await;
    assert_eq!(column_of(&c, &base, "INC-1").await.as_deref(), Some("new"));
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e")).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e/board.png"),
        png,
    )
    .unwrap();

    // (action, fields, state after, the reporter's stage after)
    type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let steps: &[Step] = &[
        (
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "high")],
            "triaged",
            "审核中",
        ),
        (
            "contain",
            &[
                ("filter_rule", "filter-rule-42"),
                ("blocks", "answers naming Sydney as the capital"),
            ],
            "contained",
            "已处置",
        ),
        (
            "plan_fix",
            &[
                ("plan", "add 200 counterexamples to the SFT set"),
                ("reference_answer", "The capital of Australia is Canberra."),
            ],
            "fix_planned",
            "已处置",
        ),
        (
            "start_retraining",
            &[("training_run", "run-2026-11-29")],
            "retraining",
            "已处置",
        ),
        (
            "submit_for_verification",
            &[("model_version", "demo-chat 2026-12")],
            "verifying",
            "已处置",
        ),
        (
            "verify_pass",
            &[
                ("prompts", "capital-city regression set, 40 prompts"),
                ("outcome", "40/40 correct"),
            ],
            "resolved",
            "已办结",
        ),
    ];
    for (kind, fields, state, public) in steps {
        c.goto(&format!("{base}/incidents/1")).await.unwrap();
        take(&c, kind, fields).await;
        // The form posts and the page comes back (303) showing the new state, in words.
        let word = rectify::i18n::words::state(state.parse().unwrap(), Default::default());
        let mut page = String::new();
        for _ in 0..200 {
            page = text_of(&c).await;
            if page.contains(&word.to_uppercase()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            page.contains(&word.to_uppercase()),
            "{kind}: incident page shows {word}"
        );
        let column = column_of(&c, &base, "INC-1").await;
        if *state == "resolved" {
            assert_eq!(column, None, "a resolved incident leaves the board");
        } else {
            assert_eq!(column.as_deref(), Some(*state), "{kind}: board column");
        }
        c.goto(&status_url).await.unwrap();
        assert!(
            text_of(&c).await.contains(public),
            "{kind}: the reporter sees {public}"
        );
    }
    c.goto(&format!("{base}/incidents/1")).await.unwrap();
    let page = text_of(&c).await;
    assert!(page.contains("Verification passed") && page.contains("澳大利亚的首都是悉尼。"));
    let png = c.screenshot().await.unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e/incident.png"),
        png,
    )
    .unwrap();
    c.close().await.unwrap();
    app.stop().await;
}

/// The clock states and the provisional-deadline mark as people see them: the incident page
/// and the board at 1366 and 390 px, the status page in both languages. No sideways scrolling.
#[tokio::test]
async fn clock_states_and_provisional_marks_in_the_browser() {
    use rectify::db::intake::{IntakeWriter, Submission};
    use rectify::domain::report::{Channel, ReportForm, validate};
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "lead@example.com", "lead").await;
    let w = IntakeWriter::start(
        app.db.clone(),
        std::sync::Arc::new(app.settings.deadlines.clone()),
        4,
    )
    .unwrap();
    let mut ids = Vec::new();
    for (output, at) in [
        (
            "The capital of Australia is Sydney.",
            "2050-11-05T02:00:00Z",
        ),
        ("Canberra was founded in 1066.", "2050-11-06T02:00:00Z"),
    ] {
        let mut form = ReportForm::default();
        for (k, v) in common::valid_form() {
            form.set(k, v);
        }
        form.output = output.into();
        form.good_faith = true;
        let valid = validate(
            &form,
            &app.settings.taxonomy,
            rectify::web::public::limits(&app.settings),
        )
        .unwrap();
        let stored = w
            .submit(Submission::new(
                valid,
                rectify::domain::locale::Locale::ZhCn,
                Channel::WebForm,
                rectify::domain::tracking_code::TrackingCode::from_bytes(rand::random()),
                at.parse().unwrap(),
                None,
            ))
            .await
            .unwrap();
        ids.push((stored.incident_id, stored.code.to_string()));
    }
    rectify::db::workflow::act(
        &app.db,
        &app.settings.deadlines,
        ids[1].0,
        None,
        &rectify::domain::workflow::Action::Reject {
            reasons: "Not about generated content.".into(),
        },
        &rectify::domain::workflow::Actor::user(
            1,
            "lead@example.com",
            rectify::domain::workflow::Role::Lead,
        ),
        "2050-11-06T03:00:00Z".parse().unwrap(),
        &rectify::db::workflow::no_mail,
    )
    .await
    .unwrap();
    let (_driver, c, _profile) = browser().await;
    let base = app.base.clone();
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "email", "lead@example.com").await;
    fill(&c, "password", PASSWORD).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/board").await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e");
    std::fs::create_dir_all(dir).unwrap();
    let pages = [
        (
            format!("{base}/incidents/{}", ids[0].0),
            "clocks-provisional",
            "provisional deadline",
            "table.clocks",
        ),
        (
            format!("{base}/incidents/{}", ids[1].0),
            "clocks-stopped",
            "incident rejected",
            "table.clocks",
        ),
        (
            format!("{base}/board"),
            "board-provisional",
            "provisional deadline",
            "article.card",
        ),
        (
            format!("{base}/status/{}?lang=zh-CN", ids[0].1),
            "status-provisional-zh",
            "临时期限",
            "dl.dates",
        ),
        (
            format!("{base}/status/{}?lang=en", ids[1].1),
            "status-stopped-en",
            "Closed: no action",
            "ol.stages",
        ),
        (
            format!("{base}/status/{}?lang=zh-CN", ids[1].1),
            "status-stopped-zh",
            "已办结：不予处理",
            "ol.stages",
        ),
    ];
    for (width, height) in [(1366u32, 900u32), (390, 844)] {
        c.set_window_size(width, height).await.unwrap();
        for (url, name, expect, part) in &pages {
            c.goto(url).await.unwrap();
            let mut seen = false;
            for _ in 0..100 {
                if text_of(&c).await.contains(expect) {
                    seen = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(seen, "{name}: {expect:?} shown");
            let scroll = c
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                scroll.as_i64().unwrap_or(0) <= 0 || !name.starts_with("status"),
                "{name} at {width}px scrolls sideways by {scroll}"
            );
            let png = c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/{name}-{width}.png"), png).unwrap();
            // The part itself, scrolled into view.
            let el = c.find(Locator::Css(part)).await.unwrap();
            let png = el.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/{name}-{width}-part.png"), png).unwrap();
        }
    }
    c.close().await.ok();
    app.stop().await;
}

/// The incident page's retraining panel (cases, a verification run with the bad output beside
/// the new one) at a desktop and a phone width: no sideways scrolling; screenshots under
/// target/e2e/retraining-*.png.
#[tokio::test]
async fn the_retraining_panel_fits_desktop_and_phone_widths() {
    use rectify::domain::severity::Severity;
    use rectify::domain::workflow::{Action, Actor, Role};
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "admin@example.com", "admin").await;
    let form = common::with(
        common::with(
            common::valid_form(),
            "output",
            "悉尼是澳大利亚的首都，这一点毫无疑问。Sydney is the capital.",
        ),
        "prompt",
        "澳大利亚的首都是哪里？What is the capital of Australia?",
    );
    let (id, _) = common::submit_form(&app, &form).await;
    let lead = Actor::user(1, "admin@example.com", Role::Admin);
    for a in [
        Action::Triage {
            category: "accuracy.inaccurate".into(),
            severity: Severity::High,
        },
        Action::Contain {
            filter_rule: "rule-1".into(),
            blocks: "b".into(),
        },
        Action::PlanFix {
            plan: "retrain".into(),
            reference_answer: Some("澳大利亚的首都是堪培拉。The capital is Canberra.".into()),
            refusal_style: None,
        },
        Action::StartRetraining {
            training_run: "run-1".into(),
        },
        Action::SubmitForVerification {
            model_version: "demo-chat 2026-12".into(),
        },
    ] {
        rectify::db::workflow::act(
            &app.db,
            &app.settings.deadlines,
            id,
            None,
            &a,
            &lead,
            chrono::Utc::now(),
            &rectify::db::workflow::no_mail,
        )
        .await
        .unwrap();
    }
    let (_, secret) = rectify::db::tokens::create(
        &app.db,
        &rectify::domain::token::TokenName::parse("pipeline").unwrap(),
        &rectify::domain::token::Scopes::parse("verify").unwrap(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let case = rectify::db::cases::list(&app.db, id).await.unwrap()[0].id;
    let long = "The capital of Australia is Canberra, a planned city chosen as a compromise between Sydney and Melbourne; ".repeat(4);
    let resp = app
        .client
        .post(app.url("/api/v1/verifications"))
        .bearer_auth(secret)
        .json(&serde_json::json!({ "run_id": "eval-2026-12-01-averyveryverylongrunidentifierwithoutspaces", "model_version": "demo-chat 2026-12", "results": [{ "case_id": case, "output": long, "passed": true, "score": 0.01, "detector": "judge.Accuracy" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let (_driver, c, _profile) = browser().await;
    let base = app.base.clone();
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "email", "admin@example.com").await;
    fill(&c, "password", PASSWORD).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/board").await;
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e")).unwrap();
    for (w, h) in [(1366u32, 900u32), (390, 844)] {
        c.set_window_size(w, h).await.unwrap();
        c.goto(&format!("{base}/incidents/{id}#cases"))
            .await
            .unwrap();
        let text = text_of(&c).await;
        assert!(
            text.contains("Automated evidence: run eval-2026-12-01"),
            "{text}"
        );
        assert!(text.contains("1 of 1 passed (100%)"));
        // What of the panel reaches past the viewport's right edge (the rest of the page is
        // i14's redesign).
        let overflow = c
            .execute(
                "const vw = document.documentElement.clientWidth; \
                 const out = Array.from(document.querySelectorAll('#cases *')) \
                   .filter(x => x.getBoundingClientRect().right > vw + 1 && !x.closest('.table-wrap table')) \
                   .map(x => x.tagName + '.' + x.className); \
                 const page = Array.from(document.querySelectorAll('main > *')) \
                   .filter(x => x.getBoundingClientRect().right > vw + 1).map(x => x.tagName + '.' + x.className); \
                 return [out.slice(0, 5), page.slice(0, 5)];",
                vec![],
            )
            .await
            .unwrap();
        eprintln!(
            "{w} px: beyond the viewport: panel {}, page {}",
            overflow[0], overflow[1]
        );
        assert_eq!(
            overflow[0],
            serde_json::json!([]),
            "{w} px: the panel scrolls sideways"
        );
        let png = c
            .find(Locator::Id("cases"))
            .await
            .unwrap()
            .screenshot()
            .await
            .unwrap();
        std::fs::write(
            format!(
                "{}/target/e2e/retraining-{w}.png",
                env!("CARGO_MANIFEST_DIR")
            ),
            png,
        )
        .unwrap();
    }
    app.stop().await;
}

/// The HTML part of an alert mail (issue 13) in Chromium, in English and Chinese, at a desktop
/// and a phone width: no sideways scrolling, worst first; screenshots under
/// target/e2e/alert-mail-{en,zh}-{1366,390}.png.
#[tokio::test]
async fn the_alert_mail_reads_on_desktop_and_phone() {
    use chrono::{Duration as Days, Utc};
    use rectify::db::entities::{outbox, user};
    use rectify::domain::severity::{SeriousKind, Severity};
    use rectify::domain::workflow::{Action, Actor, Role};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.escalation.sweep_interval_secs = 0;
        s.escalation.compliance_addresses = vec!["compliance-team@example.cn".into()];
        s.limits.intake_burst = 0;
    })
    .await;
    for (email, name, locale) in [
        ("lead@example.com", "Lee Lead", "en"),
        ("lead2@example.com", "李组长", "zh-CN"),
    ] {
        user::ActiveModel {
            email: Set(email.into()),
            name: Set(name.into()),
            role: Set("lead".into()),
            password_hash: Set("-".into()),
            disabled: Set(false),
            locale: Set(locale.into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&app.db.conn)
        .await
        .unwrap();
    }
    let t0 = Utc::now();
    let admin = Actor::user(1, "admin@example.com", Role::Admin);
    let outputs = [
        "The model described how to build a weapon in detail",
        "模型输出了带有地域歧视的内容，并且给出了一个非常长的标题用来检查在手机宽度下是否会换行而不是横向滚动",
        "Averyveryverylongwordwithoutanyspacesthatmustwrapratherthanscrollsidewaysonaphone_1234567890",
        "The capital of Australia is Sydney",
        "A fabricated quote attributed to a real person",
    ];
    for (i, output) in outputs.iter().enumerate() {
        let form = common::without(
            common::with(common::valid_form(), "output", output),
            "email",
        );
        let (id, _) = common::submit_form(&app, &form).await;
        let act = |a: Action| {
            let app = &app;
            let admin = admin.clone();
            async move {
                rectify::db::workflow::act(
                    &app.db,
                    &app.settings.deadlines,
                    id,
                    None,
                    &a,
                    &admin,
                    t0,
                    &rectify::db::workflow::no_mail,
                )
                .await
                .unwrap();
            }
        };
        if i < 4 {
            act(Action::Triage {
                category: "core_values.violence".into(),
                severity: if i == 3 {
                    Severity::Low
                } else {
                    Severity::High
                },
            })
            .await;
        }
        if i == 0 {
            act(Action::SetSerious {
                kind: Some(SeriousKind::Other),
            })
            .await;
        }
    }
    rectify::jobs::sweep::sweep(&app.db, &app.settings, t0 + Days::days(95), false)
        .await
        .unwrap();
    let (driver, c, _profile) = browser().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e");
    std::fs::create_dir_all(dir).unwrap();
    for (who, lang, first_words) in [
        ("lead@example.com", "en", "EU authority report"),
        ("lead2@example.com", "zh", "向欧盟主管机关报告"),
    ] {
        let row = outbox::Entity::find()
            .filter(outbox::Column::Recipient.eq(who))
            .filter(outbox::Column::Kind.eq("escalation"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .expect("an alert mail");
        let file = format!("{dir}/alert-mail-{lang}.html");
        std::fs::write(&file, row.body_html.unwrap()).unwrap();
        for (width, height) in [(1366u32, 900u32), (390, 844)] {
            c.set_window_size(width, height).await.unwrap();
            c.goto(&format!("file://{file}")).await.unwrap();
            let text = text_of(&c).await;
            assert!(text.contains(first_words), "{lang}: {text}");
            let first = c
                .find(Locator::Css("[data-incident]"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(first.contains(first_words), "worst first: {first}");
            let scroll = c
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                scroll.as_i64().unwrap_or(0) <= 0,
                "alert mail ({lang}) at {width}px scrolls sideways by {scroll}"
            );
            let png = c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/alert-mail-{lang}-{width}.png"), png).unwrap();
        }
    }
    c.close().await.ok();
    drop(driver);
    app.stop().await;
}

/// Whether the page scrolls sideways (the check: scrollWidth <= innerWidth).
async fn scrolls_sideways(c: &Client) -> Option<String> {
    let r = c
        .execute(
            "const vw = window.innerWidth; \
             if (document.documentElement.scrollWidth <= vw) return null; \
             return Array.from(document.querySelectorAll('body *')) \
               .filter(x => x.getBoundingClientRect().right > vw + 1) \
               .slice(0, 6).map(x => x.tagName + '.' + x.className + '#' + x.id).join(', ');",
            vec![],
        )
        .await
        .unwrap();
    r.as_str().map(str::to_string)
}

async fn wait_text(c: &Client, expect: &str) -> String {
    let mut page = String::new();
    for _ in 0..200 {
        page = text_of(c).await;
        if page.contains(expect) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{expect:?} never shown: {page}");
}

/// The whole workflow from the incident page's primary action alone, at a desktop width in
/// English and at 390 px in Chinese; then every staff page at both widths in both languages,
/// with no sideways scrolling. Screenshots: target/e2e/workspace-*.png.
#[tokio::test]
async fn the_workflow_from_the_primary_action_alone_on_desktop_and_phone_in_both_languages() {
    use rectify::domain::locale::Locale;
    use rectify::domain::workflow::State;
    use rectify::i18n::words;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = add_user(&app, "admin@example.com", "admin").await;
    let mut ids = Vec::new();
    for output in [
        "澳大利亚的首都是悉尼。这是一个很长的回答，用来检查标题在窄屏上是否会换行而不是撑宽页面。",
        "The capital of Australia is Sydney, said the model with great confidence and no doubt at all.",
    ] {
        let form = common::with(common::valid_form(), "output", output);
        ids.push(common::submit_form(&app, &form).await.0);
    }
    let (_driver, c, _profile) = browser().await;
    let base = app.base.clone();
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "email", "admin@example.com").await;
    fill(&c, "password", PASSWORD).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/board").await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e");
    std::fs::create_dir_all(dir).unwrap();
    let shot = |name: String| {
        let c = c.clone();
        async move {
            let png = c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/workspace-{name}.png"), png).unwrap();
        }
    };
    type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], State);
    let steps: &[Step] = &[
        (
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "high")],
            State::Triaged,
        ),
        (
            "contain",
            &[
                ("filter_rule", "filter-rule-42"),
                ("blocks", "悉尼作为首都的回答"),
            ],
            State::Contained,
        ),
        (
            "plan_fix",
            &[
                ("plan", "补充200条反例"),
                ("reference_answer", "澳大利亚的首都是堪培拉。"),
            ],
            State::FixPlanned,
        ),
        (
            "start_retraining",
            &[("training_run", "run-2026-11-29")],
            State::Retraining,
        ),
        (
            "submit_for_verification",
            &[("model_version", "demo-chat 2026-12")],
            State::Verifying,
        ),
        (
            "verify_pass",
            &[("prompts", "40 prompts"), ("outcome", "40/40")],
            State::Resolved,
        ),
    ];
    for (run, (locale, width, id)) in [(Locale::En, 1366u32, ids[0]), (Locale::ZhCn, 390, ids[1])]
        .into_iter()
        .enumerate()
    {
        rectify::db::users::set_locale(&app.db, admin, locale.as_str())
            .await
            .unwrap();
        c.set_window_size(width, 900).await.unwrap();
        let lang = locale.as_str();
        for (kind, fields, after) in steps {
            c.goto(&format!("{base}/incidents/{id}")).await.unwrap();
            wait_text(&c, &format!("INC-{id}")).await;
            // The primary action is the step; nothing else is needed to walk the workflow.
            let primary = c
                .find(Locator::Css("#next form.action"))
                .await
                .unwrap_or_else(|_| panic!("{lang}: no primary action before {kind}"));
            assert_eq!(
                primary.attr("id").await.unwrap().as_deref(),
                Some(format!("act-{kind}").as_str()),
                "{lang}: the next step"
            );
            if let Some(what) = scrolls_sideways(&c).await {
                panic!("{lang} {width}px incident page before {kind} scrolls sideways: {what}");
            }
            if *kind == "triage" || *kind == "verify_pass" {
                shot(format!("incident-{kind}-{lang}-{width}")).await;
            }
            for (name, value) in fields.iter() {
                fill(&c, &format!("{kind}-{name}"), value).await;
            }
            c.find(Locator::Css("#next button[type=submit]"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            if *kind == "verify_pass" {
                for _ in 0..20 {
                    if c.accept_alert().await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            let word = words::state(*after, locale);
            let page = wait_text(
                &c,
                &rectify::i18n::staff::done_by_you(
                    words::action(kind.parse().unwrap(), locale),
                    locale,
                ),
            )
            .await;
            assert!(
                page.to_lowercase().contains(&word.to_lowercase()),
                "{lang} {kind}: the page shows {word}"
            );
        }
        // The fix summary names each part.
        let page = text_of(&c).await;
        assert!(page.contains("filter-rule-42") && page.contains("demo-chat 2026-12"));
        assert!(
            run == 0 || page.contains("整改摘要"),
            "the Chinese page is in Chinese"
        );
        shot(format!("incident-resolved-{lang}-{width}")).await;
        for (part, css) in [("fix", "section.fix-summary"), ("timeline", "ol.timeline")] {
            let png = c
                .find(Locator::Css(css))
                .await
                .unwrap()
                .screenshot()
                .await
                .unwrap();
            std::fs::write(format!("{dir}/workspace-{part}-{lang}-{width}.png"), png).unwrap();
        }
    }
    // Every staff page, at both widths, in both languages: no sideways scrolling.
    for locale in [Locale::En, Locale::ZhCn] {
        rectify::db::users::set_locale(&app.db, admin, locale.as_str())
            .await
            .unwrap();
        let lang = locale.as_str();
        let pages = [
            ("board", "/board".to_string()),
            ("search", "/board?q=%E6%82%89%E5%B0%BC".to_string()),
            ("resolved", "/board?state=resolved".to_string()),
            ("empty", "/board?q=nothing-at-all".to_string()),
            ("incident", format!("/incidents/{}", ids[1])),
            ("not-found", "/incidents/99999".to_string()),
            (
                "list",
                "/incidents?state=all&sort=severity&dir=desc".to_string(),
            ),
            ("list-empty", "/incidents?q=nothing-at-all".to_string()),
        ];
        for width in [1366u32, 390] {
            c.set_window_size(width, 900).await.unwrap();
            for (name, path) in &pages {
                c.goto(&format!("{base}{path}")).await.unwrap();
                wait_text(&c, if locale.is_zh() { "工作台" } else { "staff" }).await;
                let html_lang = c
                    .find(Locator::Css("html"))
                    .await
                    .unwrap()
                    .attr("lang")
                    .await
                    .unwrap();
                assert_eq!(html_lang.as_deref(), Some(lang), "{name}");
                if let Some(what) = scrolls_sideways(&c).await {
                    panic!("{lang} {width}px {name} scrolls sideways: {what}");
                }
                shot(format!("{name}-{lang}-{width}")).await;
            }
        }
    }
    c.close().await.ok();
    app.stop().await;
}

/// The reporter's side in the browser: the "received" confirmation after sending a report in
/// Chinese, a staff message on the status page, the reporter's reply, and the reply on the
/// incident page; status pages at 1366 and 390 px in both languages without sideways scrolling.
/// Screenshots under target/e2e/reporter-*.png.
#[tokio::test]
async fn the_reporter_hears_back_and_answers_in_the_browser() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.public.operator_name = "示例智能科技有限公司".into();
        s.public.operator_contact = "trust@example.com".into();
    })
    .await;
    add_user(&app, "admin@example.com", "admin").await;
    let (_driver, c, _profile) = browser().await;
    let base = app.base.clone();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e");
    std::fs::create_dir_all(dir).unwrap();
    let shot = |name: String| {
        let c = c.clone();
        async move {
            let png = c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
        }
    };
    let wait_text = |expect: &'static str| {
        let c = c.clone();
        async move {
            for _ in 0..200 {
                if text_of(&c).await.contains(expect) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{expect:?} never shown; page: {}", text_of(&c).await);
        }
    };
    let no_sideways = |name: String| {
        let c = c.clone();
        async move {
            let scroll = c
                .execute(
                    "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                scroll.as_i64().unwrap_or(0) <= 0,
                "{name} scrolls sideways by {scroll}"
            );
        }
    };

    // The reporter, in Chinese, on a phone.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/report?lang=zh-CN")).await.unwrap();
    fill(&c, "output", "澳大利亚的首都是悉尼。").await;
    fill(&c, "category", "accuracy.inaccurate").await;
    fill(&c, "description", "首都是堪培拉，不是悉尼。").await;
    fill(&c, "email", "reporter@example.com").await;
    // A screenshot from the phone, through the file input (the form posts multipart).
    let shot_dir = tempfile::tempdir().unwrap();
    let shot_path = shot_dir.path().join("截图.png");
    image::RgbImage::from_fn(320, 200, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 160])
    })
    .save(&shot_path)
    .unwrap();
    c.find(Locator::Id("screenshots"))
        .await
        .unwrap()
        .send_keys(&shot_path.display().to_string())
        .await
        .unwrap();
    c.find(Locator::Id("good_faith"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status_url = wait_for_path(&c, "/status/").await.to_string();
    wait_text("我们已收到您的举报").await;
    let page = text_of(&c).await;
    assert!(page.contains("北京时间") && page.contains("运营方：示例智能科技有限公司"));
    no_sideways("received-390".into()).await;
    shot("reporter-received-zh-390".into()).await;

    // Staff send a message from the incident page.
    c.set_window_size(1366, 900).await.unwrap();
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(&c, "email", "admin@example.com").await;
    fill(&c, "password", PASSWORD).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/board").await;
    c.goto(&format!("{base}/incidents/1")).await.unwrap();
    take(
        &c,
        "message_reporter",
        &[("text", "请问您是在哪个应用、哪个版本中看到这段内容的？")],
    )
    .await;
    wait_text("请问您是在哪个应用").await;

    // The reporter reads it and answers, in both languages and widths.
    c.goto(&status_url).await.unwrap();
    wait_text("请问您是在哪个应用").await;
    fill(&c, "message", "安卓应用 3.2 版，2026年12月1日。").await;
    // With the same image again, through the reply form's file input (multipart, no script).
    c.find(Locator::Id("attachment"))
        .await
        .unwrap()
        .send_keys(&shot_path.display().to_string())
        .await
        .unwrap();
    c.find(Locator::Css("form.reply button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text("留言已发送").await;
    assert!(text_of(&c).await.contains("安卓应用 3.2 版"));
    for (width, height) in [(1366u32, 900u32), (390, 844)] {
        c.set_window_size(width, height).await.unwrap();
        for lang in ["zh-CN", "en"] {
            c.goto(&format!("{status_url}?lang={lang}")).await.unwrap();
            wait_text(if lang == "en" {
                "You wrote"
            } else {
                "您的留言"
            })
            .await;
            no_sideways(format!("status {lang} {width}")).await;
            shot(format!("reporter-thread-{lang}-{width}")).await;
            let el = c.find(Locator::Css("section.messages")).await.unwrap();
            let png = el.screenshot().await.unwrap();
            std::fs::write(
                format!("{dir}/reporter-thread-{lang}-{width}-part.png"),
                png,
            )
            .unwrap();
        }
    }

    // A reply with nothing in it comes back with the mistake named.
    c.goto(&format!("{status_url}?lang=en")).await.unwrap();
    wait_text("Answer us").await;
    c.find(Locator::Css("form.reply button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text("Write a message first.").await;
    shot("reporter-reply-error-en-390".into()).await;

    // The reply on the incident page.
    c.set_window_size(1366, 900).await.unwrap();
    c.goto(&format!("{base}/incidents/1")).await.unwrap();
    wait_text("安卓应用 3.2 版").await;
    let el = c
        .find(Locator::Css("section.reporter-panel"))
        .await
        .unwrap();
    assert!(
        el.text().await.unwrap().contains("screenshot-1.png"),
        "the screenshot is on the incident page"
    );
    assert!(
        el.text().await.unwrap().contains("reply.png"),
        "the reply's image is shown with the reply"
    );
    let png = el.screenshot().await.unwrap();
    std::fs::write(format!("{dir}/reporter-panel-1366.png"), png).unwrap();

    // Rejected: the reporter contests the decision from the status page.
    take(
        &c,
        "reject",
        &[("reasons", "该回答引用的是历史资料，并非错误。")],
    )
    .await;
    wait_text("REJECTED").await;
    c.goto(&format!("{status_url}?lang=zh-CN")).await.unwrap();
    wait_text("对处理决定提出申诉").await;
    fill(&c, "reasons", "资料中的说法已经过时，首都是堪培拉。").await;
    c.find(Locator::Css("form.appeal button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text("我们已收到您的申诉").await;
    for (width, height) in [(1366u32, 900u32), (390, 844)] {
        c.set_window_size(width, height).await.unwrap();
        for lang in ["zh-CN", "en"] {
            c.goto(&format!("{status_url}?lang={lang}")).await.unwrap();
            wait_text(if lang == "en" {
                "You contested this decision"
            } else {
                "您已对此决定提出申诉"
            })
            .await;
            no_sideways(format!("appeal {lang} {width}")).await;
            shot(format!("reporter-appeal-{lang}-{width}")).await;
        }
    }
    // The admin took the decision: the appeal is someone else's to decide.
    c.set_window_size(1366, 900).await.unwrap();
    c.goto(&format!("{base}/incidents/1")).await.unwrap();
    wait_text("appeal open").await;
    take(&c, "uphold_appeal", &[("reasons", "维持原决定。")]).await;
    wait_text("someone other than the person who took the contested decision").await;
    shot("reporter-appeal-self-review-refused-1366".into()).await;
    c.close().await.ok();
    app.stop().await;
}
