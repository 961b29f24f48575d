//! The staff side over HTTP: sign-in, sessions, roles, CSRF, every workflow action through the
//! incident page's forms, merge and split, and the board's filters.

mod common;

use common::staff::{PASSWORD, act, add_user, form_tokens, sign_in};
use common::{Backend, TestApp, backends, valid_form, wait_for_mail, with};
use rectify::db::entities::{incident, outbox, report};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

async fn submit(app: &TestApp, output: &str) -> (i64, String) {
    common::submit_form(app, &with(valid_form(), "output", output)).await
}

async fn stage(app: &TestApp, code: &str) -> String {
    app.client
        .get(app.url(&format!("/status/{code}?lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn state_of(app: &TestApp, id: i64) -> String {
    incident::Entity::find_by_id(id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_out() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "lead@example.com", "lead").await;
    let resp = app.client.get(app.url("/board")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=%2Fboard")
    );

    let wrong = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "lead@example.com"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let body = wrong.text().await.unwrap();
    assert!(
        body.contains("Wrong email address or password")
            && body.contains("value=\"lead@example.com\"")
    );

    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let ok = c
        .post(app.url("/login"))
        .form(&[
            ("email", "LEAD@example.com"),
            ("password", PASSWORD),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/board", "no open redirect");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    assert_eq!(c.get(app.url("/board")).send().await.unwrap().status(), 200);
    // The session lives in the database, not in the cookie.
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_string();
    let stored = rectify::db::entities::session::Entity::find()
        .all(&app.db.conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].id, token, "only a hash of the token is stored");

    let page = c
        .get(app.url("/board"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let out = c
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        c.get(app.url("/board")).send().await.unwrap().status(),
        303,
        "signed out"
    );
    assert_eq!(
        rectify::db::entities::session::Entity::find()
            .count(&app.db.conn)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limits_count_failures_per_account_and_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.auth.login_account_failures = 3;
        s.auth.login_address_failures = 6;
        s.auth.login_known_address_delay_ms = 300;
    })
    .await;
    add_user(&app, "a@example.com", "lead").await;
    add_user(&app, "b@example.com", "lead").await;
    let from = |addr: &str| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(addr.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (home, attacker, elsewhere) = (from("127.0.0.2"), from("127.0.0.3"), from("127.0.0.4"));
    let try_login = |c: reqwest::Client, email: &'static str, pw: &'static str| {
        let url = app.url("/login");
        async move {
            c.post(url)
                .form(&[("email", email), ("password", pw)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        try_login(home.clone(), "a@example.com", PASSWORD).await,
        303
    );
    for _ in 0..3 {
        assert_eq!(
            try_login(attacker.clone(), "a@example.com", "wrong").await,
            401
        );
    }
    assert_eq!(
        try_login(attacker.clone(), "a@example.com", PASSWORD).await,
        429,
        "over the account's failures, the right password from a new address waits too"
    );
    assert_eq!(
        try_login(elsewhere.clone(), "a@example.com", PASSWORD).await,
        429,
        "per account, whatever the address"
    );
    let t = std::time::Instant::now();
    assert_eq!(
        try_login(home.clone(), "a@example.com", PASSWORD).await,
        303,
        "the owner, from an address that signed in before, is delayed, not locked out"
    );
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(
        try_login(attacker.clone(), "b@example.com", PASSWORD).await,
        303,
        "another account from the attacker's address: 3 failures are under the address limit"
    );
    for _ in 0..3 {
        assert_eq!(
            try_login(attacker.clone(), "nobody@example.com", "x").await,
            401
        );
    }
    assert_eq!(
        try_login(attacker.clone(), "b@example.com", PASSWORD).await,
        429,
        "per address, whatever the account"
    );
    assert_eq!(
        try_login(elsewhere.clone(), "b@example.com", PASSWORD).await,
        303
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_correct_sign_ins_from_one_address_all_succeed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let office = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.5".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    // One hash for all fifty (hashing is what takes time here, not what is tested).
    let hash = rectify::web::staff::auth::hash_password(PASSWORD.into())
        .await
        .unwrap();
    let mut who = Vec::new();
    for n in 0..50 {
        let email = format!("staff{n}@example.com");
        rectify::db::users::create(
            &app.db,
            &email,
            "Staff",
            "triager",
            &hash,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        who.push(email);
    }
    let attempts = who.iter().map(|email| {
        let c = office.clone();
        let url = app.url("/login");
        async move {
            c.post(url)
                .form(&[("email", email.as_str()), ("password", PASSWORD)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_sessions_end_at_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "t@example.com", "triager").await;
    let c = sign_in(&app, "t@example.com").await;
    assert_eq!(c.get(app.url("/board")).send().await.unwrap().status(), 200);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["user", "disable", "t@example.com"])
        .env("RECTIFY_DATABASE__URL", &app.test_db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.get(app.url("/board")).send().await.unwrap().status(),
        303,
        "session ended"
    );
    let again = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "t@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_and_may_take_only_its_actions() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "t@example.com", "triager").await;
    add_user(&app, "e@example.com", "engineer").await;
    add_user(&app, "c@example.com", "compliance").await;
    let (id, _) = submit(&app, "role test").await;
    let triager = sign_in(&app, "t@example.com").await;
    let engineer = sign_in(&app, "e@example.com").await;
    let compliance = sign_in(&app, "c@example.com").await;

    let (_, _, page) = form_tokens(&app, &triager, id).await;
    assert!(
        page.contains("id=\"act-triage\"")
            && page.contains("id=\"act-reject\"")
            && !page.contains("id=\"act-contain\"")
    );
    let (_, _, page) = form_tokens(&app, &engineer, id).await;
    assert!(
        !page.contains("id=\"act-triage\""),
        "an engineer is not offered triage"
    );

    let refused = act(
        &app,
        &engineer,
        id,
        "triage",
        &[("category", "accuracy"), ("severity", "low")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused.text().await.unwrap().contains("may triage"),
        "the engine's reason is shown"
    );
    assert_eq!(state_of(&app, id).await, "new", "nothing changed");

    assert_eq!(
        act(
            &app,
            &triager,
            id,
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "high")]
        )
        .await
        .status(),
        303
    );
    let (_, _, page) = form_tokens(&app, &engineer, id).await;
    assert!(
        page.contains("id=\"act-contain\""),
        "now the engineer may contain"
    );
    assert_eq!(
        act(
            &app,
            &triager,
            id,
            "contain",
            &[("filter_rule", "r"), ("blocks", "b")]
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        act(
            &app,
            &compliance,
            id,
            "contain",
            &[("filter_rule", "r"), ("blocks", "b")]
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        act(
            &app,
            &engineer,
            id,
            "contain",
            &[("filter_rule", "r"), ("blocks", "b")]
        )
        .await
        .status(),
        303
    );
    assert_eq!(state_of(&app, id).await, "contained");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_protection_refuses_forged_requests() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "t@example.com", "triager").await;
    let (id, _) = submit(&app, "csrf test").await;
    let c = sign_in(&app, "t@example.com").await;
    let (csrf, version, _) = form_tokens(&app, &c, id).await;
    let url = app.url(&format!("/incidents/{id}/act"));
    let base = vec![
        ("version", version.as_str()),
        ("action", "comment"),
        ("text", "hello"),
    ];
    let no_token = c.post(&url).form(&base).send().await.unwrap();
    assert_eq!(no_token.status(), 403);
    let mut wrong = base.clone();
    wrong.push(("csrf", "0000"));
    assert_eq!(
        c.post(&url).form(&wrong).send().await.unwrap().status(),
        403
    );
    let mut good = base.clone();
    good.push(("csrf", csrf.as_str()));
    let cross = c
        .post(&url)
        .header("origin", "https://evil.example")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403, "right token, wrong origin");
    let cross = c
        .post(&url)
        .header("sec-fetch-site", "cross-site")
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let login_elsewhere = app
        .client
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("email", "t@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login_elsewhere.status(), 403, "login CSRF");
    assert_eq!(
        incident::Entity::find_by_id(id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap()
            .version,
        1,
        "nothing happened"
    );
    assert_eq!(
        c.post(&url)
            .header("origin", app.base.clone())
            .form(&good)
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workflow_step_through_the_page_and_the_reporter_follows() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "t@example.com", "triager").await;
        add_user(&app, "e@example.com", "engineer").await;
        add_user(&app, "l@example.com", "lead").await;
        add_user(&app, "c@example.com", "compliance").await;
        let (t, e, l, c) = (
            sign_in(&app, "t@example.com").await,
            sign_in(&app, "e@example.com").await,
            sign_in(&app, "l@example.com").await,
            sign_in(&app, "c@example.com").await,
        );
        let (id, code) = submit(&app, "The capital of Australia is Sydney.").await;
        assert!(stage(&app, &code).await.contains("Received"));
        // (who, action, fields, state after, public stage after)
        type Step<'a> = (
            &'a reqwest::Client,
            &'a str,
            Vec<(&'a str, &'a str)>,
            &'a str,
            &'a str,
        );
        let steps: Vec<Step> = vec![
            (&l, "assign", vec![("assignee", "2")], "new", "Received"),
            (
                &t,
                "comment",
                vec![("text", "looks real")],
                "new",
                "Received",
            ),
            (
                &t,
                "triage",
                vec![("category", "accuracy.inaccurate"), ("severity", "high")],
                "triaged",
                "Under review",
            ),
            (
                &t,
                "set_severity",
                vec![("severity", "critical")],
                "triaged",
                "Under review",
            ),
            (
                &e,
                "contain",
                vec![("filter_rule", "rule-9"), ("blocks", "Sydney as capital")],
                "contained",
                "Action taken",
            ),
            (
                &l,
                "set_serious",
                vec![("kind", "other")],
                "contained",
                "Action taken",
            ),
            (
                &c,
                "record_authority_report",
                vec![("reference", "MSA-1")],
                "contained",
                "Action taken",
            ),
            (
                &e,
                "plan_fix",
                vec![
                    ("plan", "retrain"),
                    ("refusal_style", "I can't help with that."),
                ],
                "fix_planned",
                "Action taken",
            ),
            (
                &e,
                "start_retraining",
                vec![("training_run", "run-1")],
                "retraining",
                "Action taken",
            ),
            (
                &e,
                "submit_for_verification",
                vec![("model_version", "v2")],
                "verifying",
                "Action taken",
            ),
            (
                &l,
                "verify_fail",
                vec![("prompts", "p"), ("outcome", "still wrong")],
                "retraining",
                "Action taken",
            ),
            (
                &e,
                "submit_for_verification",
                vec![("model_version", "v3")],
                "verifying",
                "Action taken",
            ),
            (
                &l,
                "verify_pass",
                vec![("prompts", "p"), ("outcome", "fixed")],
                "resolved",
                "Closed",
            ),
            (
                &l,
                "reopen",
                vec![("reason", "came back")],
                "triaged",
                "Under review",
            ),
        ];
        for (client, action, fields, state, public) in steps {
            let resp = act(&app, client, id, action, &fields).await;
            assert_eq!(
                resp.status(),
                303,
                "{backend:?} {action}: {}",
                resp.text().await.unwrap_or_default()
            );
            assert_eq!(state_of(&app, id).await, state, "after {action}");
            assert!(
                stage(&app, &code).await.contains(public),
                "status page after {action}: {public}"
            );
        }
        // The reporter got the acknowledgement and the resolution notice, through the outbox
        // (beside them, the mail telling the engineer of the assignment).
        let kinds: Vec<String> = outbox::Entity::find()
            .order_by_asc(outbox::Column::Id)
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.kind)
            .filter(|k| k != "assignment")
            .collect();
        assert_eq!(kinds, vec!["acknowledgement", "outcome_resolved"]);
        wait_for_mail(&app.mail_dir(), 2).await;

        // Rejection: the statement of reasons reaches the status page and the reporter.
        let (id2, code2) = submit(&app, "Not really a problem").await;
        let reasons = "The answer is <b>correct</b>: see the census.";
        assert_eq!(
            act(&app, &t, id2, "reject", &[("reasons", reasons)])
                .await
                .status(),
            303
        );
        let page = stage(&app, &code2).await;
        assert!(
            page.contains("Closed")
                && page.contains("The answer is &#60;b&#62;correct&#60;/b&#62;: see the census.")
        );
        let mail = outbox::Entity::find()
            .filter(outbox::Column::Kind.eq("outcome_rejected"))
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert!(mail.body_text.contains(reasons), "reasons in the mail");
        assert!(mail.body_text.contains(&code2));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_keep_what_was_typed_and_stale_pages_conflict() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "l@example.com", "lead").await;
    let l = sign_in(&app, "l@example.com").await;
    let (id, _) = submit(&app, "hold test").await;
    for (a, f) in [
        (
            "triage",
            vec![("category", "rights.health"), ("severity", "high")],
        ),
        ("contain", vec![("filter_rule", "r"), ("blocks", "b")]),
        (
            "plan_fix",
            vec![("plan", "p"), ("reference_answer", "the right answer")],
        ),
        ("set_serious", vec![("kind", "death")]),
    ] {
        assert_eq!(act(&app, &l, id, a, &f).await.status(), 303, "{a}");
    }
    let refused = act(&app, &l, id, "reject", &[("reasons", "   ")]).await;
    assert_eq!(refused.status(), 422);
    let refused = act(&app, &l, id, "comment", &[("text", "")]).await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(body.contains("required"), "the reason is shown");
    // The evidence hold hides start_retraining; posting it anyway is refused with the reason,
    // and what was typed is kept in the form.
    let refused = act(
        &app,
        &l,
        id,
        "set_category",
        &[("category", "no_such_group")],
    )
    .await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(body.contains("act-set_category"));
    let refused = act(
        &app,
        &l,
        id,
        "record_authority_report",
        &[("reference", "")],
    )
    .await;
    assert_eq!(
        refused.status(),
        403,
        "a lead may not record the authority report"
    );
    let refused = act(
        &app,
        &l,
        id,
        "start_retraining",
        &[("training_run", "run-<42>")],
    )
    .await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(body.contains("Art. 73(6)"), "evidence hold reason");
    // A stale version (the page was open while someone else acted) is a conflict.
    let (csrf, version, _) = form_tokens(&app, &l, id).await;
    assert_eq!(
        act(&app, &l, id, "comment", &[("text", "first")])
            .await
            .status(),
        303
    );
    let stale = l
        .post(app.url(&format!("/incidents/{id}/act")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("action", "comment"),
            ("text", "my words"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let body = stale.text().await.unwrap();
    assert!(
        body.contains("Someone else changed this incident") && body.contains("my words"),
        "typed text kept"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_split_through_the_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "t@example.com", "triager").await;
    let t = sign_in(&app, "t@example.com").await;
    let (a, code_a) = submit(&app, "same thing said one way").await;
    let (b, _) = submit(&app, "same thing said another way").await;
    let target = b.to_string();
    assert_eq!(
        act(&app, &t, a, "merge", &[("target", target.as_str())])
            .await
            .status(),
        303
    );
    assert_eq!(state_of(&app, a).await, "duplicate");
    assert!(
        stage(&app, &code_a).await.contains("Received"),
        "the reporter follows the incident it was merged into"
    );
    let (_, _, page) = form_tokens(&app, &t, b).await;
    assert!(
        page.contains("same thing said one way") && page.contains("same thing said another way"),
        "both reports side by side"
    );
    assert!(page.contains("reports several"));
    let moved = app.report(code_a.as_str()).await;
    let rid = moved.id.to_string();
    assert_eq!(
        act(&app, &t, b, "split_out", &[("report_id", rid.as_str())])
            .await
            .status(),
        303
    );
    let moved = report::Entity::find_by_id(moved.id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(
        moved.incident_id != a && moved.incident_id != b,
        "a new incident"
    );
    assert_eq!(state_of(&app, moved.incident_id).await, "new");
    let bad = act(&app, &t, b, "merge", &[("target", "99999")]).await;
    assert_eq!(bad.status(), 422);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_orders_by_deadline_and_filters_in_the_url() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let me = add_user(&app, "l@example.com", "lead").await;
    let l = sign_in(&app, "l@example.com").await;
    let (x, _) = submit(&app, "alpha <script>alert(1)</script>").await;
    let (y, _) = submit(&app, "bravo answer").await;
    let (z, _) = submit(&app, "charlie answer").await;
    // y's nearest deadline is made the most urgent (overdue); z is assigned to me.
    use sea_orm::{ActiveModelTrait, Set};
    let mut ym: incident::ActiveModel = incident::Entity::find_by_id(y)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .into();
    ym.next_due_at = Set(Some(chrono::Utc::now() - chrono::Duration::hours(1)));
    ym.update(&app.db.conn).await.unwrap();
    let me_s = me.to_string();
    assert_eq!(
        act(&app, &l, z, "assign", &[("assignee", me_s.as_str())])
            .await
            .status(),
        303
    );
    assert_eq!(
        act(
            &app,
            &l,
            x,
            "triage",
            &[("category", "rights.privacy"), ("severity", "critical")]
        )
        .await
        .status(),
        303
    );

    let board = l
        .get(app.url("/board"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        board.contains("&#60;script&#62;") && !board.contains("<script>alert"),
        "titles escaped"
    );
    let new_col = board
        .split("data-state=\"new\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    let pos = |id: i64| new_col.find(&format!("INC-{id}<")).unwrap_or(usize::MAX);
    assert!(pos(y) < pos(z), "overdue first");
    assert!(new_col.contains("urgency-overdue"));
    assert!(
        !new_col.contains(&format!("INC-{x}<")),
        "x moved to triaged"
    );
    let get = |q: &str| {
        let c = l.clone();
        let url = app.url(&format!("/board?{q}"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let mine = get("assignee=mine").await;
    assert!(mine.contains(&format!("INC-{z}<")) && !mine.contains(&format!("INC-{y}<")));
    let unassigned = get("assignee=unassigned").await;
    assert!(
        !unassigned.contains(&format!("INC-{z}<")) && unassigned.contains(&format!("INC-{y}<"))
    );
    let overdue = get("overdue=1").await;
    assert!(overdue.contains(&format!("INC-{y}<")) && !overdue.contains(&format!("INC-{z}<")));
    let sev = get("severity=critical").await;
    assert!(sev.contains(&format!("INC-{x}<")) && !sev.contains(&format!("INC-{y}<")));
    let cat = get("category=rights").await;
    assert!(
        cat.contains(&format!("INC-{x}<")) && !cat.contains(&format!("INC-{z}<")),
        "a group matches its risks"
    );
    let text = get("q=BRAVO").await;
    let new_col = text
        .split("data-state=\"new\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        new_col.contains("<span class=\"count\">1</span>"),
        "the count follows the search: {new_col}"
    );
    assert!(text.contains(&format!("INC-{y}<")) && !text.contains(&format!("INC-{z}<")));
    // A reference that names one incident goes straight to it.
    let by_ref = l
        .get(app.url(&format!("/board?q=INC-{z}")))
        .send()
        .await
        .unwrap();
    assert_eq!(by_ref.status(), 303);
    assert_eq!(
        by_ref.headers()["location"].to_str().unwrap(),
        format!("/incidents/{z}")
    );
    assert!(
        sev.contains("value=\"critical\" selected"),
        "the filter state is shown from the URL"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_show_fifty_and_a_way_to_see_more() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.limits.intake_burst = 0).await;
    add_user(&app, "l@example.com", "lead").await;
    let l = sign_in(&app, "l@example.com").await;
    for i in 0..55 {
        let body = serde_json::json!({"output": format!("bulk {i}"), "category": "accuracy", "description": "d", "good_faith": true});
        assert_eq!(
            app.client
                .post(app.url("/api/v1/reports"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
            201
        );
    }
    let board = l
        .get(app.url("/board"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let col = board
        .split("data-state=\"new\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert_eq!(col.matches("<article class=\"card").count(), 50);
    assert!(col.contains(">55<"), "the count");
    let more = col
        .split("<p class=\"more\"><a href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let all = l
        .get(app.url(&more))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(all.matches("<article class=\"card").count(), 50);
    let next = all
        .split("<a href=\"")
        .find(|s| s.contains("page=2"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let page2 = l
        .get(app.url(&next))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page2.matches("<article class=\"card").count(), 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_dead_mail_and_can_requeue_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    add_user(&app, "admin@example.com", "admin").await;
    add_user(&app, "l@example.com", "lead").await;
    submit(&app, "mail test").await;
    // Let the worker finish with the acknowledgement, then pretend it could never be delivered.
    wait_for_mail(&app.mail_dir(), 1).await;
    let mut row = outbox::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    for _ in 0..50 {
        if row.status == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        row = outbox::Entity::find_by_id(row.id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
    }
    use sea_orm::{ActiveModelTrait, Set};
    let mut dead: outbox::ActiveModel = row.clone().into();
    dead.status = Set("dead".into());
    dead.attempts = Set(20);
    dead.last_error = Set(Some("550 <mailbox> unavailable".into()));
    dead.update(&app.db.conn).await.unwrap();

    let lead = sign_in(&app, "l@example.com").await;
    assert_eq!(
        lead.get(app.url("/admin/outbox"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let admin = sign_in(&app, "admin@example.com").await;
    let page = admin
        .get(app.url("/admin/outbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Dead (1)")
            && page.contains("550 &#60;mailbox&#62; unavailable")
            && page.contains("ada@example.com"),
        "{page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let id = row.id.to_string();
    let resp = lead
        .post(app.url("/admin/outbox/retry"))
        .form(&[("csrf", csrf.as_str()), ("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "not for a lead");
    let resp = admin
        .post(app.url("/admin/outbox/retry"))
        .form(&[("csrf", csrf.as_str()), ("id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let again = outbox::Entity::find_by_id(row.id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(again.status, "dead", "requeued");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_from_the_command_line() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rectify = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .env("RECTIFY_DATABASE__URL", &app.test_db.url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = rectify(
        &[
            "user",
            "add",
            "--email",
            "Eng@Example.com",
            "--name",
            "Eve Engineer",
            "--role",
            "engineer",
        ],
        "s3cret-pass\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("s3cret-pass"),
        "a given password is never printed"
    );
    let short = rectify(
        &[
            "user",
            "add",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--role",
            "lead",
        ],
        "short\n",
    );
    assert!(!short.status.success());
    let bad_role = rectify(
        &[
            "user",
            "add",
            "--email",
            "y@example.com",
            "--name",
            "Y",
            "--role",
            "boss",
        ],
        "long enough\n",
    );
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
    // Not at a terminal, an empty standard input is an error: no password is made up that a
    // script would never see (README: generated only at a terminal).
    let empty = rectify(
        &[
            "user",
            "add",
            "--email",
            "lead@example.com",
            "--name",
            "Lee",
            "--role",
            "lead",
        ],
        "",
    );
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no password on standard input"));
    // At a terminal (script(1) gives the command one), a password is generated and shown once.
    let cmd = format!(
        "{} user add --email lead@example.com --name Lee --role lead",
        env!("CARGO_BIN_EXE_rectify")
    );
    let generated = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RECTIFY_DATABASE__URL", &app.settings.database.url)
        .env_remove("RECTIFY_ENV")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stdout)
    );
    let text = String::from_utf8_lossy(&generated.stdout).to_string();
    let password = text
        .split("password (shown once): ")
        .nth(1)
        .expect("generated password printed")
        .trim()
        .to_string();

    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let ok = c
        .post(app.url("/login"))
        .form(&[
            ("email", "lead@example.com"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303, "the generated password works");
    let ok = c
        .post(app.url("/login"))
        .form(&[("email", "eng@example.com"), ("password", "s3cret-pass")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status(),
        303,
        "the piped password works; emails are case-insensitive"
    );

    let list = rectify(&["user", "list"], "");
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        list.contains("eng@example.com")
            && list.contains("engineer")
            && list.contains("lead@example.com")
    );
    assert!(
        rectify(&["user", "set-role", "eng@example.com", "lead"], "")
            .status
            .success()
    );
    let list = String::from_utf8_lossy(&rectify(&["user", "list"], "").stdout).to_string();
    assert!(!list.contains("engineer"), "{list}");
    assert!(
        !rectify(&["user", "disable", "nobody@example.com"], "")
            .status
            .success()
    );
    app.stop().await;
}

/// The board's column counts follow intake, triage, merge and split (on SQLite they are kept
/// by triggers as incidents change, not counted at each board).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boards_counts_follow_every_change() {
    use sea_orm::{ConnectionTrait, Statement};
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "l@example.com", "lead").await;
        let l = sign_in(&app, "l@example.com").await;
        let (a, code_a) = submit(&app, "counted one").await;
        let (b, _) = submit(&app, "counted two").await;
        let (c, _) = submit(&app, "counted three").await;
        let (again, _) = submit(&app, "counted three").await;
        assert_eq!(again, c, "a repeat joins its incident");
        let triage = [("category", "rights.privacy"), ("severity", "high")];
        assert_eq!(act(&app, &l, c, "triage", &triage).await.status(), 303);
        let target = b.to_string();
        let merge = [("target", target.as_str())];
        assert_eq!(act(&app, &l, a, "merge", &merge).await.status(), 303);
        let rid = app.report(code_a.as_str()).await.id.to_string();
        let split = [("report_id", rid.as_str())];
        assert_eq!(act(&app, &l, b, "split_out", &split).await.status(), 303);

        let db = &app.db;
        let by_state = |sql: &'static str| async move {
            db.conn
                .query_all_raw(Statement::from_string(db.backend(), sql))
                .await
                .unwrap()
                .iter()
                .map(|r| (r.try_get("", "state").unwrap(), r.try_get("", "n").unwrap()))
                .collect::<std::collections::HashMap<String, i64>>()
        };
        let stored = by_state("SELECT state, count(*) AS n FROM incidents GROUP BY state").await;
        assert_eq!(
            stored.get("new"),
            Some(&2),
            "{backend:?}: b and the split-out one"
        );
        assert_eq!(stored.get("triaged"), Some(&1), "{backend:?}");
        assert_eq!(stored.get("duplicate"), Some(&1), "{backend:?}");
        let board = l
            .get(app.url("/board"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for state in [
            "new",
            "triaged",
            "contained",
            "fix_planned",
            "retraining",
            "verifying",
        ] {
            let shown: i64 = board
                .split(&format!("data-state=\"{state}\""))
                .nth(1)
                .unwrap()
                .split("<span class=\"count\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                shown,
                stored.get(state).copied().unwrap_or(0),
                "{backend:?}: the {state} column's count"
            );
        }
        if backend == Backend::Sqlite {
            let kept = by_state("SELECT state, n FROM incident_state_counts WHERE n <> 0").await;
            assert_eq!(kept, stored, "every state's kept count, closed ones too");
        }
        app.stop().await;
    }
}
