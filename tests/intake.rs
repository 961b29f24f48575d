//! The public channel, driven over HTTP against the real application, on every backend.

mod common;

use common::{Backend, TestApp, backends, valid_form, wait_for_mail, with, without};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, LOCATION};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use rectify::db::entities::{incident, incident_event, outbox, report};

async fn post_form(app: &TestApp, form: &[(&str, String)], lang: &str) -> reqwest::Response {
    app.client
        .post(app.url("/report"))
        .header(ACCEPT_LANGUAGE, lang)
        .form(form)
        .send()
        .await
        .unwrap()
}

fn code_from(resp: &reqwest::Response) -> String {
    let loc = resp.headers()[LOCATION].to_str().unwrap();
    loc.strip_prefix("/status/")
        .expect("redirect to /status/{code}")
        .to_string()
}

#[tokio::test]
async fn form_round_trip_in_both_languages() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;

        let page = app
            .client
            .get(app.url("/report"))
            .header(ACCEPT_LANGUAGE, "en-GB,en;q=0.9")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        assert!(
            body.contains("The generated content"),
            "{backend:?}: English form"
        );
        for field in [
            "output",
            "prompt",
            "model",
            "model_version",
            "url",
            "category",
            "description",
            "name",
            "email",
            "good_faith",
        ] {
            assert!(
                body.contains(&format!("name=\"{field}\"")),
                "form has field {field}"
            );
        }

        let zh = app
            .client
            .get(app.url("/report?lang=zh-CN"))
            .header(ACCEPT_LANGUAGE, "en")
            .send()
            .await
            .unwrap();
        let zh_body = zh.text().await.unwrap();
        assert!(
            zh_body.contains("生成的内容") && zh_body.contains("lang=\"zh-CN\""),
            "?lang= overrides Accept-Language"
        );

        for (lang, stage) in [("en", "Received"), ("zh-CN", "已受理")] {
            let resp = post_form(&app, &valid_form(), lang).await;
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{backend:?} {lang}");
            let code = code_from(&resp);
            assert_eq!(code.len(), 19);
            let status = app
                .client
                .get(app.url(&format!("/status/{code}")))
                .header(ACCEPT_LANGUAGE, lang)
                .send()
                .await
                .unwrap();
            assert_eq!(status.status(), 200);
            let text = status.text().await.unwrap();
            assert!(text.contains(&code), "status page shows the code");
            assert!(text.contains(stage), "{lang}: stage {stage} shown");
            assert!(text.contains("15"), "feedback limit shown");
            let stored = app.report(code.as_str()).await;
            assert_eq!(stored.locale, lang);
            assert_eq!(stored.channel, "web_form");
            assert_eq!(stored.description, "The capital is Canberra.");
            // Every field as typed, on both databases.
            assert_eq!(
                (
                    stored.output.as_str(),
                    stored.prompt.as_deref(),
                    stored.model.as_deref(),
                    stored.model_version.as_deref(),
                    stored.url.as_deref(),
                    stored.category.as_str(),
                    stored.reporter_name.as_deref(),
                    stored.reporter_email.as_deref(),
                    stored.erased_at,
                ),
                (
                    "The capital of Australia is Sydney.",
                    Some("What is the capital of Australia?"),
                    Some("demo-chat"),
                    Some("2026-11"),
                    Some("conv-1234"),
                    "accuracy.inaccurate",
                    Some("Ada"),
                    Some("ada@example.com"),
                    None,
                ),
                "{backend:?} {lang}"
            );
        }

        // Multipart works the same as urlencoded.
        let mut mp = reqwest::multipart::Form::new();
        for (k, v) in with(valid_form(), "output", "multipart content") {
            mp = mp.text(k, v);
        }
        let resp = app
            .client
            .post(app.url("/report"))
            .multipart(mp)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_form_with_mistakes_comes_back_with_every_value() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let form = without(
            with(
                with(valid_form(), "email", "not an address"),
                "prompt",
                "<b>kept & escaped</b>",
            ),
            "description",
        );
        let form = without(form, "good_faith");
        let resp = post_form(&app, &form, "en").await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("The capital of Australia is Sydney."),
            "output kept"
        );
        assert!(
            body.contains("&#60;b&#62;kept &#38; escaped&#60;/b&#62;"),
            "prompt kept, escaped: {body}"
        );
        assert!(!body.contains("<b>kept"), "never rendered raw");
        assert!(body.contains("value=\"not an address\""), "email kept");
        assert!(body.contains("value=\"demo-chat\""), "model kept");
        assert!(
            body.contains("value=\"accuracy.inaccurate\" selected"),
            "category kept"
        );
        assert!(
            body.contains("This field is required."),
            "description message"
        );
        assert!(
            body.contains("This is not a valid email address."),
            "email message"
        );
        assert!(body.contains("Please confirm"), "good faith message");
        assert_eq!(
            report::Entity::find().count(&app.db.conn).await.unwrap(),
            0,
            "nothing stored"
        );

        let zh = post_form(&app, &without(valid_form(), "output"), "zh-CN").await;
        assert_eq!(zh.status(), 422);
        assert!(zh.text().await.unwrap().contains("此项为必填项"));

        let unknown = post_form(&app, &with(valid_form(), "category", "made_up"), "en").await;
        assert_eq!(unknown.status(), 422, "unknown category");
        assert!(
            unknown
                .text()
                .await
                .unwrap()
                .contains("Choose a category from the list.")
        );

        let long = post_form(
            &app,
            &with(valid_form(), "output", &"违".repeat(20_001)),
            "en",
        )
        .await;
        assert_eq!(long.status(), 422, "20,001 characters is one too many");
        let ok = post_form(
            &app,
            &with(valid_form(), "output", &"违".repeat(20_000)),
            "en",
        )
        .await;
        assert_eq!(ok.status(), 303, "20,000 Chinese characters are accepted");

        let ctl = post_form(&app, &with(valid_form(), "description", "bell\u{7}"), "en").await;
        assert_eq!(ctl.status(), 422, "control characters");
        assert!(ctl.text().await.unwrap().contains("control characters"));
        app.stop().await;
    }
}

#[tokio::test]
async fn the_json_channel() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let body = serde_json::json!({
            "output": "模型生成了虚假信息",
            "prompt": "问题",
            "model": "demo-chat",
            "category": "core_values.false_information",
            "description": "这是虚假信息",
            "email": "reporter@example.com",
            "good_faith": true,
        });
        let resp = app
            .client
            .post(app.url("/api/v1/reports"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let json: serde_json::Value = resp.json().await.unwrap();
        let code = json["tracking_code"].as_str().unwrap().to_string();
        let status_url = json["status_url"].as_str().unwrap();
        assert_eq!(status_url, app.url(&format!("/status/{code}")));
        assert_eq!(
            app.client.get(status_url).send().await.unwrap().status(),
            200
        );
        let stored = app.report(code.as_str()).await;
        assert_eq!(stored.channel, "api");

        let mut bad = body.clone();
        bad["good_faith"] = serde_json::json!(false);
        bad["category"] = serde_json::json!("nope");
        bad.as_object_mut().unwrap().remove("description");
        let resp = app
            .client
            .post(app.url("/api/v1/reports"))
            .header(ACCEPT_LANGUAGE, "en")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422);
        let errs: serde_json::Value = resp.json().await.unwrap();
        let fields: Vec<&str> = errs["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["category", "description", "good_faith"]);
        assert!(errs["errors"][0]["message"].as_str().unwrap().len() > 5);

        let wrong_type = app
            .client
            .post(app.url("/api/v1/reports"))
            .json(&serde_json::json!({"output": 5, "good_faith": "yes"}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong_type.status(), 422);
        let errs: serde_json::Value = wrong_type.json().await.unwrap();
        assert_eq!(errs["errors"][0]["field"], "output");
        assert_eq!(errs["errors"][1]["field"], "good_faith");

        let text = app
            .post_raw("/api/v1/reports", "text/plain", "output=x")
            .await;
        assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let junk = app
            .post_raw("/api/v1/reports", "application/json", "{not json")
            .await;
        assert_eq!(junk.status(), 400);
        let bad_utf8 = app
            .post_raw(
                "/api/v1/reports",
                "application/json",
                vec![b'"', 0xff, 0xfe, b'"'],
            )
            .await;
        assert_eq!(bad_utf8.status(), 400);
        app.stop().await;
    }
}

#[tokio::test]
async fn status_pages_and_lookup() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let resp = post_form(&app, &valid_form(), "en").await;
        let code = code_from(&resp);

        assert_eq!(
            app.client
                .get(app.url("/status/ABCD-EFGH-JKMN-PQRS"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            app.client
                .get(app.url("/status/not-a-code"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        let lookup = app.client.get(app.url("/status")).send().await.unwrap();
        assert_eq!(lookup.status(), 200);
        assert!(lookup.text().await.unwrap().contains("name=\"code\""));
        // People type codes in lower case with spaces; the lookup finds the canonical page.
        let typed = code.to_lowercase().replace('-', " ");
        let found = app
            .client
            .get(app.url("/status"))
            .query(&[("code", typed.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(found.status(), 303);
        assert_eq!(found.headers()[LOCATION], format!("/status/{code}"));
        let bad = app
            .client
            .get(app.url("/status"))
            .query(&[("code", "<script>")])
            .header(ACCEPT_LANGUAGE, "en")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        let text = bad.text().await.unwrap();
        assert!(text.contains("&#60;script&#62;") && !text.contains("<script>"));

        // A rejected incident shows its statement of reasons on the status page.
        let rep = report::Entity::find()
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        let mut inc: incident::ActiveModel = incident::Entity::find_by_id(rep.incident_id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap()
            .into();
        use sea_orm::{ActiveModelTrait, Set};
        inc.state = Set("rejected".into());
        inc.rejection_reasons = Set(Some("Not generated by our service <img src=x>".into()));
        inc.update(&app.db.conn).await.unwrap();
        let page = app
            .client
            .get(app.url(&format!("/status/{code}")))
            .header(ACCEPT_LANGUAGE, "en")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Closed"));
        assert!(
            page.contains("Not generated by our service &#60;img src=x&#62;"),
            "reasons shown escaped"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn reports_of_the_same_content_group_into_one_incident() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let a = post_form(
            &app,
            &with(
                valid_form(),
                "output",
                "The capital of Australia is Sydney.",
            ),
            "en",
        )
        .await;
        let b = post_form(
            &app,
            &with(
                with(
                    valid_form(),
                    "output",
                    "  the CAPITAL of australia is sydney!! ",
                ),
                "model",
                "Demo Chat",
            ),
            "zh-CN",
        )
        .await;
        let c = post_form(&app, &with(valid_form(), "model", "other-model"), "en").await;
        let (a, b, c) = (code_from(&a), code_from(&b), code_from(&c));
        let find = |code: String| {
            let conn = app.db.conn.clone();
            async move {
                report::Entity::find()
                    .filter(report::Column::TrackingCode.eq(code))
                    .one(&conn)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let (ra, rb, rc) = (find(a).await, find(b).await, find(c).await);
        assert_eq!(
            ra.incident_id, rb.incident_id,
            "{backend:?}: same content joins"
        );
        assert_ne!(
            ra.incident_id, rc.incident_id,
            "another model is another incident"
        );
        let inc = incident::Entity::find_by_id(ra.incident_id)
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inc.report_count, 2);
        assert_eq!(inc.state, "new");
        assert_eq!(
            inc.first_reported_at, ra.received_at,
            "clocks start at the first report"
        );
        let events = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(inc.id))
            .order_by_asc(incident_event::Column::Seq)
            .all(&app.db.conn)
            .await
            .unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, vec!["open", "add_report"]);
        assert_eq!(events[1].prev_hash, events[0].hash, "the chain links");
        assert_eq!(inc.last_event_hash, events[1].hash);

        // A closed incident is not joined: the same content reported again opens a new one.
        use sea_orm::{ActiveModelTrait, Set};
        let mut closed: incident::ActiveModel = inc.clone().into();
        closed.state = Set("resolved".into());
        closed.update(&app.db.conn).await.unwrap();
        let d = post_form(&app, &valid_form(), "en").await;
        let rd = find(code_from(&d)).await;
        assert_ne!(rd.incident_id, ra.incident_id);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_acknowledgement_mail() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let resp = post_form(&app, &valid_form(), "zh-CN").await;
        let code = code_from(&resp);
        let files = wait_for_mail(&app.mail_dir(), 1).await;
        let raw = std::fs::read(&files[0]).unwrap();
        let mail = mailparse::parse_mail(&raw).unwrap();
        let h = |name: &str| {
            mail.headers
                .iter()
                .find(|x| x.get_key().eq_ignore_ascii_case(name))
                .map(|x| x.get_value())
                .unwrap_or_default()
        };
        assert_eq!(h("To"), "ada@example.com");
        assert!(h("From").contains("rectify@localhost"));
        assert!(
            h("Subject").contains("我们已收到您的举报"),
            "UTF-8 subject decoded: {}",
            h("Subject")
        );
        assert!(h("Subject").contains(&code));
        assert!(h("Message-ID").starts_with('<'));
        assert_eq!(mail.ctype.mimetype, "multipart/alternative");
        assert_eq!(mail.subparts.len(), 2);
        let text = mail.subparts[0].get_body().unwrap();
        let html = mail.subparts[1].get_body().unwrap();
        assert_eq!(mail.subparts[0].ctype.mimetype, "text/plain");
        assert_eq!(mail.subparts[1].ctype.mimetype, "text/html");
        let link = app.url(&format!("/status/{code}"));
        assert!(
            text.contains(&link) && html.contains(&link),
            "both parts carry the status link"
        );
        assert!(text.contains("感谢您举报"));
        assert_eq!(
            app.client.get(&link).send().await.unwrap().status(),
            200,
            "the link works"
        );

        let row = outbox::Entity::find()
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.kind, "acknowledgement");
        assert_eq!(row.locale, "zh-CN");
        // Delivered once: the worker marks the row sent.
        for _ in 0..50 {
            let row = outbox::Entity::find_by_id(row.id)
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap();
            if row.status == "sent" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            outbox::Entity::find_by_id(row.id)
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap()
                .status,
            "sent"
        );

        // No address, no mail.
        post_form(&app, &without(valid_form(), "email"), "en").await;
        assert_eq!(outbox::Entity::find().count(&app.db.conn).await.unwrap(), 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_input_never_yields_a_500() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.limits.max_body_bytes = 64 * 1024).await;
    let huge = "x".repeat(100 * 1024);
    let resp = app
        .client
        .post(app.url("/report"))
        .form(&[("output", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "declared length over the limit"
    );
    // Without a Content-Length (chunked), the body is cut off as it streams in.
    let stream = futures_stream(huge.clone().into_bytes());
    let resp = app
        .post_raw(
            "/report",
            "application/x-www-form-urlencoded",
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "chunked body over the limit"
    );
    let api = app
        .post_raw(
            "/api/v1/reports",
            "application/json",
            format!("{{\"output\":\"{huge}\"}}"),
        )
        .await;
    assert_eq!(api.status(), 413);

    for body in [
        &b"output=%ZZ"[..],
        b"output=%E8%BF",
        b"%",
        b"&&&=",
        b"output=\xff\xfe",
    ] {
        let resp = app
            .post_raw(
                "/report",
                "application/x-www-form-urlencoded",
                body.to_vec(),
            )
            .await;
        assert!(
            resp.status().is_client_error(),
            "{:?} gave {}",
            String::from_utf8_lossy(body),
            resp.status()
        );
    }
    let resp = app
        .post_raw("/report", "multipart/form-data; boundary=x", "garbage")
        .await;
    assert!(resp.status().is_client_error());
    let resp = app.post_raw("/report", "text/plain", "hello").await;
    assert_eq!(resp.status(), 415);
    let resp = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}

fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn a_flood_from_one_address_is_refused_while_others_are_served() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.intake_burst = 5;
        s.limits.intake_per_minute = 1;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(post_form(&app, &valid_form(), "en").await.status().as_u16());
    }
    assert_eq!(statuses, vec![303, 303, 303, 303, 303, 429, 429, 429]);
    let api = app
        .client
        .post(app.url("/api/v1/reports"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 429, "the API shares the address's budget");
    assert!(api.headers().contains_key("retry-after"));
    // Another loopback address still gets through.
    let other = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let resp = other
        .post(app.url("/report"))
        .form(&valid_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "other addresses are still served");
    // Reading pages is not limited.
    assert_eq!(
        app.client
            .get(app.url("/report"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn the_honeypot_drops_bots_quietly() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = post_form(
        &app,
        &with(valid_form(), "website", "http://spam.example"),
        "en",
    )
    .await;
    assert_eq!(resp.status(), 303, "looks accepted to the bot");
    assert_eq!(
        report::Entity::find().count(&app.db.conn).await.unwrap(),
        0,
        "nothing stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app
        .client
        .post(app.url("/report"))
        .header("origin", "https://evil.example")
        .form(&valid_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = app
        .client
        .post(app.url("/report"))
        .header("sec-fetch-site", "cross-site")
        .form(&valid_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = app
        .client
        .post(app.url("/report"))
        .header("origin", app.base.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&valid_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(report::Entity::find().count(&app.db.conn).await.unwrap(), 1);
    app.stop().await;
}

#[tokio::test]
async fn every_page_carries_strict_security_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let code = code_from(&post_form(&app, &valid_form(), "en").await);
    for path in [
        "/",
        "/report",
        "/status",
        &format!("/status/{code}"),
        "/nope",
        "/healthz",
        "/static/app.css",
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("<script>") && !body.contains("style=\""),
            "{path}: no inline script or style"
        );
        assert!(
            !body.contains("http://") || path == "/static/app.css" || !body.contains("src=\"http"),
            "{path}: nothing from elsewhere"
        );
    }
    app.stop().await;
}

/// Posts `bodies` to the JSON API all at once (so that they share batches) and returns the
/// tracking code each was given, in order.
async fn post_together(app: &TestApp, bodies: Vec<serde_json::Value>) -> Vec<String> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let c = app.client.clone();
            let url = app.url("/api/v1/reports");
            tokio::spawn(async move {
                let resp = c.post(url).json(&body).send().await.unwrap();
                assert_eq!(resp.status(), 201);
                resp.json::<serde_json::Value>().await.unwrap()["tracking_code"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        })
        .collect();
    let mut codes = Vec::with_capacity(tasks.len());
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes
}

#[tokio::test]
async fn reports_stored_together_keep_what_each_left_out() {
    // PostgreSQL stores a batch's rows as one array per column, a nullable column with a
    // second array saying which rows are NULL: reports with and without the optional fields,
    // committed together, must each come back exactly as sent.
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |s| s.limits.intake_burst = 0).await;
        let bodies = (0..40)
            .map(|i| {
                let mut body = serde_json::json!({
                    "output": format!("Answer number {i} said something it should not"),
                    "category": "accuracy",
                    "description": format!("report {i}"),
                    "good_faith": true,
                });
                if i % 2 == 0 {
                    let extra = serde_json::json!({
                        "prompt": format!("prompt {i}"),
                        "model": "demo-chat",
                        "model_version": format!("v{i}"),
                        "url": format!("https://chat.example.com/c/{i}"),
                        "name": format!("Reporter {i}"),
                        "email": format!("r{i}@example.com"),
                    });
                    for (k, v) in extra.as_object().unwrap() {
                        body[k] = v.clone();
                    }
                }
                body
            })
            .collect();
        for (i, code) in post_together(&app, bodies).await.into_iter().enumerate() {
            let r = app.report(code.as_str()).await;
            assert_eq!(r.description, format!("report {i}"), "{backend:?}");
            let full = i % 2 == 0;
            let want = |s: String| full.then_some(s);
            assert_eq!(r.prompt, want(format!("prompt {i}")), "{backend:?} {i}");
            assert_eq!(r.model, want("demo-chat".into()), "{backend:?} {i}");
            assert_eq!(r.model_version, want(format!("v{i}")), "{backend:?} {i}");
            assert_eq!(
                r.url,
                want(format!("https://chat.example.com/c/{i}")),
                "{backend:?} {i}"
            );
            assert_eq!(
                r.reporter_name,
                want(format!("Reporter {i}")),
                "{backend:?} {i}"
            );
            assert_eq!(
                r.reporter_email,
                want(format!("r{i}@example.com")),
                "{backend:?} {i}"
            );
            assert_eq!(r.erased_at, None);
            let inc = incident::Entity::find_by_id(r.incident_id)
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (inc.assignee_id, inc.duplicate_of, inc.severity),
                (None, None, None)
            );
            assert_eq!(inc.report_count, 1);
        }
        let mails = outbox::Entity::find().count(&app.db.conn).await.unwrap();
        assert_eq!(
            mails, 20,
            "{backend:?}: an acknowledgement for each report with an address"
        );
        app.stop().await;
    }
}

/// Sixty reports over twenty contents (`{prefix} {n}`), each with an address.
fn sixty_over_twenty_contents(prefix: &str) -> Vec<serde_json::Value> {
    (0..60)
        .map(|i| {
            serde_json::json!({
                "output": format!("{prefix} {}", i % 20),
                "model": "demo-chat",
                "category": "accuracy",
                "description": format!("report {i}"),
                "email": format!("r{i}@example.com"),
                "good_faith": true,
            })
        })
        .collect()
}

/// Sixty reports over twenty contents, each stored once: three to an incident, an
/// acknowledgement each, every chain whole.
async fn sixty_stored_three_to_an_incident(app: &TestApp, backend: Backend) {
    assert_eq!(
        report::Entity::find().count(&app.db.conn).await.unwrap(),
        60,
        "{backend:?}"
    );
    assert_eq!(
        incident::Entity::find().count(&app.db.conn).await.unwrap(),
        20
    );
    for inc in incident::Entity::find().all(&app.db.conn).await.unwrap() {
        assert_eq!(
            inc.report_count, 3,
            "incident {} has its three reports",
            inc.id
        );
        assert_eq!(inc.version, 3);
    }
    assert_eq!(
        outbox::Entity::find().count(&app.db.conn).await.unwrap(),
        60,
        "one acknowledgement each"
    );
    match rectify::db::audit::verify_all(&app.db).await.unwrap() {
        rectify::db::audit::Verdict::Holds { incidents, events } => {
            assert_eq!((incidents, events), (20, 60))
        }
        b => panic!("{b:?}"),
    }
}

#[tokio::test]
async fn reports_arriving_together_are_all_stored_and_grouped() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |s| s.limits.intake_burst = 0).await;
        // 60 reports at once over 20 distinct contents: they are committed in shared batches,
        // and every one must land, in the right incident, with an intact chain.
        let codes = post_together(&app, sixty_over_twenty_contents("Same content number")).await;
        sixty_stored_three_to_an_incident(&app, backend).await;
        for code in codes {
            let r = app
                .client
                .get(app.url(&format!("/status/{code}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_flood_taken_into_the_inbox_is_stored_once_and_found_at_once() {
    // Under a flood SQLite's writer stores each batch as one inbox row and answers at once;
    // the incidents follow. A rate limit of 1 a second makes every report go that way (on
    // PostgreSQL, which has no inbox, the same must hold as ever).
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |s| {
            s.limits.intake_burst = 0;
            s.database.intake_defer_above = 1;
        })
        .await;
        let codes = post_together(&app, sixty_over_twenty_contents("Flooded content number")).await;
        // Each reporter's status page at once, whether its report is still in the inbox or not.
        for code in &codes {
            let r = app
                .client
                .get(app.url(&format!("/status/{code}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{backend:?} {code}");
        }
        if app.db.is_postgres() {
            // No inbox to wait for.
        } else {
            // The writer stores what is left once no report has come for a moment.
            let t = std::time::Instant::now();
            loop {
                let row = app
                    .db
                    .conn
                    .query_one_raw(sea_orm::Statement::from_string(
                        app.db.backend(),
                        "SELECT COUNT(*) AS n FROM intake_inbox",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                if row.try_get::<i64>("", "n").unwrap() == 0 {
                    break;
                }
                assert!(
                    t.elapsed() < std::time::Duration::from_secs(30),
                    "inbox emptied"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        sixty_stored_three_to_an_incident(&app, backend).await;
        for (i, code) in codes.iter().enumerate() {
            assert_eq!(app.report(code).await.description, format!("report {i}"));
        }
        app.stop().await;
    }
}
