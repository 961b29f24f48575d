//! The staff workspace over HTTP: search of every kind over open and closed incidents, the
//! board's state filter, the flash after an action, reload after a refusal, staff 404s, and
//! pages in the member of staff's language.

mod common;

use common::staff::{act, add_user, sign_in};
use common::{TestApp, backends, valid_form, with};

async fn submit(app: &TestApp, fields: &[(&'static str, &str)]) -> (i64, String) {
    let mut form = valid_form();
    for (k, v) in fields {
        form = with(form, k, v);
    }
    common::submit_form(app, &form).await
}

async fn get(app: &TestApp, c: &reqwest::Client, path: &str) -> reqwest::Response {
    c.get(app.url(path)).send().await.unwrap()
}

async fn text(app: &TestApp, c: &reqwest::Client, path: &str) -> String {
    get(app, c, path).await.text().await.unwrap()
}

fn shows(page: &str, id: i64) -> bool {
    page.contains(&format!(">INC-{id}<"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_search_box_finds_open_and_closed_incidents_every_way() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "lead@example.com", "lead").await;
        let c = sign_in(&app, "lead@example.com").await;
        let (open, open_code) = submit(
            &app,
            &[
                ("output", "澳大利亚的首都是悉尼。"),
                ("prompt", "澳大利亚的首都是哪里？"),
                ("description", "首都是堪培拉，不是悉尼。"),
                ("email", "Zhang.Wei@Example.com"),
                ("model", "qwen-chat"),
            ],
        )
        .await;
        let (closed, closed_code) = submit(
            &app,
            &[
                ("output", "The tallest mountain is K2, said the model."),
                ("prompt", "Which mountain is the tallest?"),
                ("description", "Everest is taller than K2."),
                ("email", "li.na@example.org"),
                ("model_version", "v-zeta-7"),
            ],
        )
        .await;
        let (other, _) = submit(
            &app,
            &[("output", "Bananas are blue."), ("description", "No.")],
        )
        .await;
        assert_eq!(
            act(
                &app,
                &c,
                closed,
                "reject",
                &[("reasons", "不属于生成内容问题。")]
            )
            .await
            .status(),
            303
        );
        assert_eq!(
            act(&app, &c, other, "comment", &[("text", "与珠穆朗玛峰无关")])
                .await
                .status(),
            303
        );

        // Exact references and codes go straight to the one incident, open or closed, in any
        // spelling people type.
        for (q, id) in [
            (format!("INC-{closed}"), closed),
            (format!("inc-{open}"), open),
            (closed_code.to_lowercase(), closed),
            (open_code.replace('-', ""), open),
            (open_code.replace('-', "").to_lowercase(), open),
        ] {
            let r = get(&app, &c, &format!("/board?q={}", urlencode(&q))).await;
            assert_eq!(r.status(), 303, "{backend:?} {q}");
            assert_eq!(
                r.headers()["location"].to_str().unwrap(),
                format!("/incidents/{id}"),
                "{backend:?} {q}"
            );
        }
        // Email and words: a board of what matched, closed columns included.
        for (q, want, not) in [
            ("zhang.wei@example.com", open, closed),
            ("LI.NA@example.org", closed, open),
            ("堪培拉", open, closed),
            ("首都", open, closed),
            ("EVEREST", closed, open),
            ("k2 tallest", closed, open),
            ("qwen", open, closed),
            ("v-zeta", closed, open),
            ("珠穆朗玛", other, closed),
            // Words too short for a trigram: two characters (most Chinese words), the last two
            // of a comment included, two ASCII letters in another case, and one character.
            ("悉尼", open, closed),
            ("无关", other, closed),
            ("k2", closed, open),
            ("峰", other, open),
        ] {
            let page = text(&app, &c, &format!("/board?q={}", urlencode(q))).await;
            assert!(
                shows(&page, want) && !shows(&page, not),
                "{backend:?} {q}: INC-{want} and not INC-{not}: {}",
                page.split("class=\"board").nth(1).unwrap_or(&page)
            );
        }
        let page = text(&app, &c, "/board?q=EVEREST").await;
        assert!(
            page.contains("data-state=\"rejected\""),
            "a closed column appears for a closed match"
        );
        // Nothing found says so and offers to clear.
        let none = text(&app, &c, "/board?q=nothing-like-this").await;
        assert!(none.contains("No incident matches.") && none.contains("Clear filters"));
        // state= works for every state, the closed ones included.
        let rejected = text(&app, &c, "/board?state=rejected").await;
        assert!(shows(&rejected, closed) && !shows(&rejected, open));
        let new = text(&app, &c, "/board?state=new").await;
        assert!(shows(&new, open) && !shows(&new, closed));
        // A word search of a closed incident's reasons of rejection is not what the box
        // searches; its texts are (title, output, prompt, description, comments, model).
        let fb = get(&app, &c, "/board?q=%25").await;
        assert_eq!(fb.status(), 200, "LIKE wildcards are literal");
        app.stop().await;
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The list view of every state for a search, as staff see it.
async fn search_all(app: &TestApp, c: &reqwest::Client, q: &str) -> String {
    text(app, c, &format!("/incidents?state=all&q={}", urlencode(q))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_confirm_refusals_reload_and_unknown_incidents_are_staff_pages() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "lead@example.com", "lead").await;
        let c = sign_in(&app, "lead@example.com").await;
        let (id, _) = submit(&app, &[("output", "flash test")]).await;
        let r = act(
            &app,
            &c,
            id,
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "high")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(to, format!("/incidents/{id}?done=triage"));
        let page = text(&app, &c, &to).await;
        assert!(
            page.contains("class=\"flash\"") && page.contains("Triage: done by you."),
            "{backend:?}: the flash confirms the action"
        );
        // Someone else's action is not "done by you".
        let page = text(&app, &c, &format!("/incidents/{id}?done=contain")).await;
        assert!(!page.contains("class=\"flash\""));
        // The next step is the one primary action.
        let next = page.split("id=\"next\"").nth(1).unwrap();
        let next = next.split("</section>").next().unwrap();
        assert!(
            next.contains("id=\"act-contain\""),
            "contain is the next step"
        );

        // A refusal comes back at the top, with the typed values kept, the field marked.
        let r = act(
            &app,
            &c,
            id,
            "contain",
            &[("filter_rule", "rule-<7>"), ("blocks", "")],
        )
        .await;
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        let summary = body.find("error-summary").unwrap();
        assert!(
            summary < body.find("id=\"next\"").unwrap(),
            "the refusal is at the top"
        );
        assert!(
            body.contains("rule-&#60;7&#62;"),
            "typed value kept, escaped"
        );
        assert!(
            body.contains("href=\"#contain-blocks\""),
            "the summary links to the field"
        );
        assert!(body.contains("aria-invalid=\"true\" aria-describedby=\"act-contain-error\""));
        // Reloading the refused post's URL lands on the page, not on an empty 405.
        let r = get(&app, &c, &format!("/incidents/{id}/act")).await;
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("/incidents/{id}")
        );
        // A staff 404 is a staff page.
        for path in [
            "/incidents/999999",
            "/incidents/INC-999999",
            "/incidents/nonsense",
        ] {
            let r = get(&app, &c, path).await;
            assert_eq!(r.status(), 404, "{path}");
            let body = r.text().await.unwrap();
            assert!(
                body.contains("No such incident") && body.contains("action=\"/logout\""),
                "{path}: a staff page"
            );
            assert!(
                !body.contains("We know no report"),
                "not the public wording"
            );
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_pages_follow_the_members_language() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    add_user(&app, "lead@example.com", "lead").await;
    let c = sign_in(&app, "lead@example.com").await;
    let (id, _) = submit(
        &app,
        &[
            ("output", "澳大利亚的首都是悉尼。"),
            ("description", "首都是堪培拉。"),
        ],
    )
    .await;
    assert_eq!(
        act(
            &app,
            &c,
            id,
            "triage",
            &[("category", "accuracy.inaccurate"), ("severity", "high")]
        )
        .await
        .status(),
        303
    );
    let en = text(&app, &c, &format!("/incidents/{id}")).await;
    assert!(en.contains("<html lang=\"en\">") && en.contains("Next step"));
    assert!(
        en.contains("lang=\"zh-CN\""),
        "Chinese report text is tagged"
    );
    // Switch to Chinese: kept on the account, back to the same page.
    let (csrf, _, _) = common::staff::form_tokens(&app, &c, id).await;
    let r = c
        .post(app.url("/account/locale"))
        .header("referer", app.url(&format!("/incidents/{id}")))
        .form(&[("csrf", csrf.as_str()), ("locale", "zh-CN")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/incidents/{id}")
    );
    let user = rectify::db::users::by_email(&app.db, "lead@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.locale, "zh-CN");
    let zh = text(&app, &c, &format!("/incidents/{id}")).await;
    assert!(zh.contains("<html lang=\"zh-CN\">"));
    for word in [
        "下一步",
        "已研判",
        "记录遏制措施",
        "处理记录",
        "整改摘要",
        "高",
    ] {
        assert!(zh.contains(word), "{word} on the Chinese page");
    }
    // No identifier where a word should be.
    let visible = strip_tags(&zh);
    for id_word in [
        "triaged",
        "accuracy.inaccurate",
        ">high<",
        "fix_planned",
        "plan_fix",
    ] {
        assert!(!visible.contains(id_word), "{id_word} shown to a person");
    }
    let board = text(&app, &c, "/board").await;
    assert!(board.contains("待研判") && board.contains("已研判") && board.contains("看板"));
    // A switch without CSRF is refused.
    let r = c
        .post(app.url("/account/locale"))
        .form(&[("locale", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

/// The text a person sees (roughly): tags, and attribute values with them, removed.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push('<');
            }
            '>' => {
                in_tag = false;
                out.push('>');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_view_sorts_filters_and_exports_what_it_shows() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "lead@example.com", "lead").await;
        let c = sign_in(&app, "lead@example.com").await;
        let (a, _) = submit(&app, &[("output", "甲：澳大利亚的首都是悉尼。")]).await;
        let (b, _) = submit(
            &app,
            &[("output", "=HYPERLINK(\"http://x\") b, \"quoted\"")],
        )
        .await;
        let (z, _) = submit(&app, &[("output", "zulu answer")]).await;
        for (id, sev) in [(a, "low"), (b, "critical")] {
            assert_eq!(
                act(
                    &app,
                    &c,
                    id,
                    "triage",
                    &[("category", "accuracy.inaccurate"), ("severity", sev)]
                )
                .await
                .status(),
                303
            );
        }
        assert_eq!(
            act(&app, &c, z, "reject", &[("reasons", "不是问题")])
                .await
                .status(),
            303
        );
        let pos = |page: &str, id: i64| page.find(&format!(">INC-{id}<")).unwrap_or(usize::MAX);
        // Open incidents by default; every state on request.
        let open = text(&app, &c, "/incidents").await;
        assert!(pos(&open, a) < usize::MAX && pos(&open, z) == usize::MAX);
        let all = text(&app, &c, "/incidents?state=all").await;
        assert!(
            pos(&all, z) < usize::MAX,
            "{backend:?}: closed incidents in the list"
        );
        // Sorted by severity by weight, both ways.
        let desc = text(&app, &c, "/incidents?sort=severity&dir=desc").await;
        assert!(pos(&desc, b) < pos(&desc, a), "critical before low");
        assert!(desc.contains("aria-sort=\"descending\""));
        let asc = text(&app, &c, "/incidents?sort=severity&dir=asc").await;
        assert!(pos(&asc, a) < pos(&asc, b), "low before critical");
        for col in [
            "id",
            "title",
            "state",
            "category",
            "assignee",
            "deadline",
            "reports",
            "last_change",
        ] {
            let r = get(
                &app,
                &c,
                &format!("/incidents?state=all&sort={col}&dir=desc"),
            )
            .await;
            assert_eq!(r.status(), 200, "{backend:?} sort by {col}");
        }
        // Filters are the board's.
        let crit = text(&app, &c, "/incidents?severity=critical").await;
        assert!(pos(&crit, b) < usize::MAX && pos(&crit, a) == usize::MAX);
        let none = text(&app, &c, "/incidents?q=nothing-like-it").await;
        assert!(none.contains("No incident matches."));
        // CSV: UTF-8 with a BOM, the list's columns, Chinese intact, formulas defused.
        let r = get(&app, &c, "/incidents?state=all&sort=id&dir=asc&format=csv").await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("incidents.csv")
        );
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "BOM");
        let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "Incident,Title,State,Category,Severity,Assignee,Nearest deadline,Clock,Reports,Last change,Flags"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].starts_with(&format!("INC-{a},甲：澳大利亚的首都是悉尼。,Triaged,")));
        assert!(rows[0].contains(",low,"));
        assert!(
            rows[1].contains("\"'=HYPERLINK(\"\"http://x\"\") b, \"\"quoted\"\"\""),
            "{}",
            rows[1]
        );
        assert!(rows[2].contains(",Rejected,"));
        // JSON: the same rows.
        let r = get(&app, &c, "/incidents?state=all&sort=id&dir=asc&format=json").await;
        let items: Vec<serde_json::Value> = r.json().await.unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1]["severity"], "critical");
        assert_eq!(items[2]["state"], "rejected");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_apply_per_incident_and_say_what_was_refused() {
    use rectify::db::entities::{incident, incident_event};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "lead@example.com", "lead").await;
        let other = add_user(&app, "eng@example.com", "engineer").await;
        let c = sign_in(&app, "lead@example.com").await;
        let mut ids = Vec::new();
        for o in ["one thing", "another thing", "a third thing"] {
            ids.push(submit(&app, &[("output", o)]).await.0);
        }
        assert_eq!(
            act(&app, &c, ids[2], "reject", &[("reasons", "no")])
                .await
                .status(),
            303
        );
        let (csrf, _, _) = common::staff::form_tokens(&app, &c, ids[0]).await;
        let post = |fields: Vec<(&'static str, String)>| {
            let c = c.clone();
            let url = app.url("/incidents/bulk");
            let csrf = csrf.clone();
            async move {
                let mut form = vec![("csrf", csrf)];
                form.extend(fields);
                c.post(url).form(&form).send().await.unwrap()
            }
        };
        let idv = |i: usize| ("ids", ids[i].to_string());
        // Severity for all three: the rejected one is refused, with the reason.
        let r = post(vec![
            idv(0),
            idv(1),
            idv(2),
            ("bulk_action", "set_severity".into()),
            ("severity", "high".into()),
        ])
        .await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(
            body.contains("Done (2)") && body.contains("Refused (1)"),
            "{body}"
        );
        let refused = body.split("bulk-refused").nth(1).unwrap();
        assert!(refused.contains(&format!("INC-{}", ids[2])) && refused.contains("rejected"));
        for id in &ids[..2] {
            let m = incident::Entity::find_by_id(*id)
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.severity.as_deref(), Some("high"), "{backend:?}");
            let events = incident_event::Entity::find()
                .filter(incident_event::Column::IncidentId.eq(*id))
                .filter(incident_event::Column::Action.eq("set_severity"))
                .count(&app.db.conn)
                .await
                .unwrap();
            assert_eq!(events, 1, "one event per incident");
        }
        // Assign two to someone else.
        let r = post(vec![
            idv(0),
            idv(1),
            ("bulk_action", "assign".into()),
            ("assignee", other.to_string()),
        ])
        .await;
        assert_eq!(r.status(), 200);
        for id in &ids[..2] {
            let m = incident::Entity::find_by_id(*id)
                .one(&app.db.conn)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.assignee_id, Some(other));
        }
        // Merge the first into the second.
        let r = post(vec![
            idv(0),
            idv(1),
            ("bulk_action", "merge".into()),
            ("target", ids[1].to_string()),
        ])
        .await;
        assert_eq!(r.status(), 200);
        let m = incident::Entity::find_by_id(ids[0])
            .one(&app.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.state, "duplicate");
        assert_eq!(m.duplicate_of, Some(ids[1]));
        // Nothing selected, a missing reason, a forged post: clear answers.
        let r = post(vec![
            ("bulk_action", "comment".into()),
            ("text", "x".into()),
        ])
        .await;
        assert_eq!(r.status(), 422);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Select at least one incident.")
        );
        let r = post(vec![
            idv(1),
            ("bulk_action", "reject".into()),
            ("reasons", " ".into()),
        ])
        .await;
        assert_eq!(r.status(), 422);
        let forged = c
            .post(app.url("/incidents/bulk"))
            .form(&[
                ("ids", ids[1].to_string()),
                ("bulk_action", "comment".into()),
                ("text", "x".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        // Reloading the result's URL lands on the list.
        assert_eq!(get(&app, &c, "/incidents/bulk").await.status(), 303);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_tells_the_assignee_in_their_language_grouped_not_when_self() {
    use common::smtp::SmtpServer;
    use rectify::config::MailTransport;
    for backend in backends() {
        let smtp = SmtpServer::start();
        let url = smtp.url();
        let app = TestApp::spawn_with(backend, move |s| {
            s.mail.transport = MailTransport::Smtp;
            s.mail.smtp_url = url;
            s.mail.smtp_timeout_secs = 5;
            s.limits.intake_burst = 0;
        })
        .await;
        let lead = add_user(&app, "lead@example.com", "lead").await;
        let eng = add_user(&app, "eng@example.com", "engineer").await;
        rectify::db::users::set_locale(&app.db, eng, "zh-CN")
            .await
            .unwrap();
        let c = sign_in(&app, "lead@example.com").await;
        let mut ids = Vec::new();
        for o in [
            "澳大利亚的首都是悉尼。",
            "second <b>answer</b>",
            "third answer",
        ] {
            ids.push(submit(&app, &[("output", o), ("email", "")]).await.0);
        }
        // Assigning oneself tells nobody; assigning someone else tells them, in Chinese.
        let me = lead.to_string();
        assert_eq!(
            act(&app, &c, ids[0], "assign", &[("assignee", me.as_str())])
                .await
                .status(),
            303
        );
        let e = eng.to_string();
        assert_eq!(
            act(&app, &c, ids[0], "assign", &[("assignee", e.as_str())])
                .await
                .status(),
            303
        );
        let got = smtp.wait_for(1).await;
        assert_eq!(
            got.len(),
            1,
            "{backend:?}: one mail, not one for the self-assignment"
        );
        let m = &got[0];
        assert_eq!(m.rcpt_to, "eng@example.com");
        assert!(
            m.subject.contains("指派给您") && m.subject.contains(&format!("INC-{}", ids[0])),
            "{}",
            m.subject
        );
        assert!(
            m.text.contains("lead at example.com 将以下事件指派给您"),
            "{}",
            m.text
        );
        assert!(m.text.contains(&format!("/incidents/{}", ids[0])));
        let html = m.html.as_deref().unwrap();
        assert!(html.contains("lang=\"zh-CN\"") && html.contains("澳大利亚的首都是悉尼。"));
        // A bulk assignment of two is one mail naming both, escaped in HTML.
        let (csrf, _, _) = common::staff::form_tokens(&app, &c, ids[1]).await;
        let r = c
            .post(app.url("/incidents/bulk"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("ids", &ids[1].to_string()),
                ("ids", &ids[2].to_string()),
                ("bulk_action", "assign"),
                ("assignee", e.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let got = smtp.wait_for(2).await;
        assert_eq!(got.len(), 2, "{backend:?}: grouped into one mail");
        let m = &got[1];
        assert!(m.subject.contains("2 个事件已指派给您"), "{}", m.subject);
        assert!(
            m.text.contains(&format!("INC-{}", ids[1]))
                && m.text.contains(&format!("INC-{}", ids[2]))
        );
        let html = m.html.as_deref().unwrap();
        assert!(html.contains("&#60;b&#62;answer") && !html.contains("<b>answer"));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_give_an_incident_its_title_as_an_event() {
    use rectify::db::entities::incident_event;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "t@example.com", "triager").await;
        add_user(&app, "e@example.com", "engineer").await;
        let t = sign_in(&app, "t@example.com").await;
        let e = sign_in(&app, "e@example.com").await;
        let (id, _) = submit(
            &app,
            &[("output", "a long harmful output that makes a poor title")],
        )
        .await;
        let r = act(
            &app,
            &t,
            id,
            "set_title",
            &[("title", "  Capital of Australia \u{202e}wrong ")],
        )
        .await;
        assert_eq!(r.status(), 303, "{backend:?}");
        let page = text(&app, &t, &format!("/incidents/{id}")).await;
        assert!(
            page.contains("<bdi class=\"title\">Capital of Australia \u{202e}wrong</bdi>"),
            "isolated"
        );
        let ev = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.eq(id))
            .filter(incident_event::Column::Action.eq("set_title"))
            .one(&app.db.conn)
            .await
            .unwrap();
        assert!(ev.is_some(), "an event");
        let found = text(&app, &t, "/board?q=capital%20australia").await;
        assert!(shows(&found, id));
        assert_eq!(
            act(&app, &e, id, "set_title", &[("title", "x")])
                .await
                .status(),
            403
        );
        let long = "字".repeat(201);
        assert_eq!(
            act(&app, &t, id, "set_title", &[("title", long.as_str())])
                .await
                .status(),
            422
        );
        app.stop().await;
    }
}

/// SQLite: the intake writer indexes new reports and titles when no report waits;
/// PostgreSQL: the indexing task, while the writers leave it time. A search finds a report
/// before that (reading what waits directly) and after; an edited title replaces the indexed
/// one, inside the edit's transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_reports_before_and_after_the_writer_indexes_them() {
    use sea_orm::{ConnectionTrait, Statement};
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "t@example.com", "triager").await;
        let t = sign_in(&app, "t@example.com").await;
        let (id, _) = submit(
            &app,
            &[
                ("output", "独角兽工厂生产了会飞的摩托车。"),
                ("description", "回答不实"),
            ],
        )
        .await;
        let (a, signed) = (&app, &t);
        let finds_it = move |how: &'static str| async move {
            for q in ["独角兽工厂", "不实", "摩托"] {
                let page = search_all(a, signed, q).await;
                assert!(shows(&page, id), "{backend:?} {q}: {how}");
            }
        };
        finds_it("found at once").await;
        let mut titled = false;
        let one = |sql: &str| {
            let sql = sql.to_owned();
            let db = app.db.clone();
            async move {
                db.conn
                    .query_one_raw(Statement::from_string(db.backend(), sql))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get_by_index::<i64>(0)
                    .unwrap()
            }
        };
        // The server indexes on its own once intake is quiet (SQLite's writer, PostgreSQL's
        // task): waiting on a worker here, not on a deadline.
        let indexed = |sql: &'static str| async move {
            let started = std::time::Instant::now();
            while one(sql).await == 0 {
                assert!(started.elapsed().as_secs() < 10, "{backend:?}: {sql}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        if backend == common::Backend::Postgres {
            indexed(
                "SELECT COUNT(*) FROM (SELECT 1) AS x \
                 WHERE NOT EXISTS (SELECT 1 FROM report_texts_queue) \
                   AND NOT EXISTS (SELECT 1 FROM incident_titles_queue)",
            )
            .await;
            assert_eq!(
                one("SELECT COUNT(*) FROM report_texts WHERE body LIKE '%独角兽%'").await,
                1,
                "indexed once"
            );
        } else {
            indexed("SELECT (SELECT indexed_to FROM search_marks WHERE tbl = 'reports') >= (SELECT MAX(id) FROM reports)").await;
            // The report opened the incident: its texts are indexed in the incident's row
            // (migration 000140), once.
            assert_eq!(
                one(&format!(
                    "SELECT COUNT(*) FROM incident_search WHERE incident_search MATCH 'output : \"独角兽\"' AND rowid = {id}"
                ))
                .await,
                1
            );
            assert_eq!(
                one("SELECT COUNT(*) FROM report_search WHERE report_search MATCH '\"独角兽\"'")
                    .await,
                0
            );
        }
        finds_it("found through the index").await;
        if backend == common::Backend::Sqlite {
            let r = act(&app, &t, id, "set_title", &[("title", "彩虹桥上的摩托车")]).await;
            assert_eq!(r.status(), 303);
            titled = true;
            assert_eq!(
                one(&format!(
                    "SELECT COUNT(*) FROM incident_search WHERE incident_search MATCH 'title : \"彩虹桥\"' AND rowid = {id}"
                ))
                .await,
                1
            );
            assert_eq!(
                one(&format!(
                    "SELECT COUNT(*) FROM incident_search WHERE incident_search MATCH 'title : \"独角兽\"' AND rowid = {id}"
                ))
                .await,
                0,
                "the old title left the index"
            );
            assert_eq!(
                one(&format!(
                    "SELECT COUNT(*) FROM incident_search WHERE incident_search MATCH 'output : \"独角兽\"' AND rowid = {id}"
                ))
                .await,
                1,
                "the report's texts stay in the incident's row with the new title"
            );
        }
        if !titled {
            let r = act(&app, &t, id, "set_title", &[("title", "彩虹桥上的摩托车")]).await;
            assert_eq!(r.status(), 303);
        }
        let page = search_all(&app, &t, "彩虹桥").await;
        assert!(shows(&page, id), "{backend:?}: the new title is found");
        if backend == common::Backend::Postgres {
            // A staff edit stores no report: the idle task finds it when it next looks.
            indexed(
                "SELECT COUNT(*) FROM (SELECT 1) AS x \
                 WHERE NOT EXISTS (SELECT 1 FROM incident_titles_queue)",
            )
            .await;
            assert_eq!(
                one(&format!(
                    "SELECT COUNT(*) FROM incident_titles WHERE incident_id = {id} \
                     AND title = '彩虹桥上的摩托车'"
                ))
                .await,
                1,
                "the edited title replaced the indexed one"
            );
            let page = search_all(&app, &t, "彩虹桥").await;
            assert!(shows(&page, id), "the new title is found through the index");
        }
        app.stop().await;
    }
}

/// A report's words find the incident it belongs to now: merged into another incident after it
/// was indexed, its words find that incident, whose own title has none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_reports_words_find_the_incident_it_joined() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        add_user(&app, "t@example.com", "triager").await;
        let t = sign_in(&app, "t@example.com").await;
        let (dup, _) = submit(&app, &[("output", "麒麟骑着滑板穿过沙漠。")]).await;
        let (target, _) = submit(&app, &[("output", "海豚在图书馆里借书。")]).await;
        app.db.index_search_now().await.unwrap();
        let target_s = target.to_string();
        let merge = [("target", target_s.as_str())];
        assert_eq!(act(&app, &t, dup, "merge", &merge).await.status(), 303);
        // A phrase (trigrams) and a two-character word (the trigrams it begins); the duplicate
        // keeps its title, and is found by that.
        for q in ["麒麟骑着", "滑板"] {
            let page = search_all(&app, &t, q).await;
            assert!(
                shows(&page, target),
                "{backend:?} {q}: the incident it joined"
            );
        }
        app.stop().await;
    }
}

/// Both databases index report texts off the write path: SQLite's intake writer once intake
/// pauses, PostgreSQL's indexing task (`db::search_queue`) while the writers leave it time.
/// In a flood the index falls behind, and a search reads only the newest reports not yet
/// indexed, and says about how many it could not cover; once indexed, all are found.
#[tokio::test]
async fn a_search_behind_a_flood_reads_the_newest_reports_and_says_how_many_it_misses() {
    use rectify::db::search::{READ_UNINDEXED, matching_ids};
    use sea_orm::ConnectionTrait;
    for backend in backends() {
        let tdb = common::TestDb::new(backend).await;
        // No intake writer runs on this connection, so nothing indexes what is written here.
        let db = rectify::db::Db::connect(&tdb.url, 4, std::time::Duration::from_millis(5000))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let waiting = READ_UNINDEXED + 500;
        let numbers = if backend == common::Backend::Sqlite {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {waiting})"
            )
        } else {
            format!("WITH n(i) AS (SELECT generate_series(1, {waiting}))")
        };
        // One incident per report; report n's output names it, and every output holds 摩托车.
        db.conn
            .execute_unprepared(&format!(
                "{numbers} \
                 INSERT INTO incidents (id, state, version, category, title, fingerprint, \
                   first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, \
                   created_at) \
                 SELECT i, 'new', 1, 'accuracy.inaccurate', '标题' || i, 'fp' || i, \
                   '2026-12-01 00:00:00+00:00', 1, false, '2026-12-01 00:00:00+00:00', '', \
                   '2026-12-01 00:00:00+00:00' FROM n; \
                 {numbers} \
                 INSERT INTO reports (tracking_code, incident_id, received_at, locale, channel, \
                   output, prompt, model, model_version, description, category, fingerprint) \
                 SELECT 'CODE-' || i, i, '2026-12-01 00:00:00+00:00', 'zh-CN', 'web', \
                   '会飞的摩托车 编号' || i || '号', '', '', '', '', 'accuracy.inaccurate', 'fp' || i FROM n;"
            ))
            .await
            .unwrap();
        let m = matching_ids(&db, "摩托车").await.unwrap();
        assert_eq!(
            m.len(),
            READ_UNINDEXED as usize,
            "{backend:?}: the newest reports not yet indexed are read directly"
        );
        assert_eq!(
            m.unsearched(),
            500,
            "{backend:?}: and the rest are counted as not covered"
        );
        drop(m);
        let newest = matching_ids(&db, &format!("编号{waiting}号"))
            .await
            .unwrap();
        assert_eq!(newest.len(), 1, "{backend:?}: the newest report is found");
        assert_eq!(
            matching_ids(&db, "编号1号").await.unwrap().len(),
            0,
            "{backend:?}: the oldest waits for the index"
        );
        if backend == common::Backend::Postgres {
            let moved = rectify::db::search_queue::catch_up(&db).await.unwrap();
            assert_eq!(
                (moved.reports, moved.titles),
                (waiting as u64, waiting as u64),
                "every queued report and title indexed once"
            );
            assert_eq!(
                matching_ids(&db, "标题17").await.unwrap().len(),
                111,
                "titles through their index: 标题17, 标题170–179 and 标题1700–1799"
            );
            let m = matching_ids(&db, "摩托车").await.unwrap();
            assert_eq!(m.len(), waiting as usize, "all found through the index");
            assert_eq!(m.unsearched(), 0);
            assert_eq!(matching_ids(&db, "编号1号").await.unwrap().len(), 1);
            assert_eq!(
                matching_ids(&db, "编号12号").await.unwrap().len(),
                1,
                "a report's own text, not a neighbour's (编号120号 is another)"
            );
        }
        tdb.drop_db().await;
    }
}

/// A search that matches many incidents lists them by deadline as a full sort would, on every
/// page and in both directions, and counts them right (SQLite reads each state's nearest
/// deadlines in the board's index and merges them once a search matches 1,000 or more).
#[tokio::test]
async fn a_search_with_many_matches_lists_them_by_deadline_on_every_page() {
    use chrono::TimeZone;
    use rectify::db::board::Filters;
    use rectify::db::list::{Sort, States};
    use sea_orm::ConnectionTrait;
    let states = [
        "new",
        "triaged",
        "contained",
        "fix_planned",
        "retraining",
        "verifying",
        "resolved",
    ];
    let base = chrono::Utc.with_ymd_and_hms(2027, 1, 4, 0, 0, 0).unwrap();
    for backend in backends() {
        let tdb = common::TestDb::new(backend).await;
        let db = rectify::db::Db::connect(&tdb.url, 4, std::time::Duration::from_millis(5000))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let n = 1_400;
        // (id, state, deadline): open ones with deadlines in a scrambled order, some of them
        // equal (so the id decides); every tenth another title, every seventh closed.
        let mut expected: Vec<(i64, &str, Option<chrono::DateTime<chrono::Utc>>)> = Vec::new();
        let mut rows = Vec::new();
        for i in 1..=n {
            let state = states[i as usize % states.len()];
            let due =
                (state != "resolved").then(|| base + chrono::Duration::minutes((i * 7919) % 700));
            let title = if i % 10 == 0 {
                "另一件事"
            } else {
                "共同的词语"
            };
            rows.push(format!(
                "({i}, '{state}', 1, 'accuracy.inaccurate', '{title} {i}', 'fp{i}', \
                 '2026-12-01 00:00:00+00:00', 1, false, '2026-12-01 00:00:00+00:00', '', {due}, \
                 '2026-12-01 00:00:00+00:00')",
                due = due
                    .map(|d| format!("'{}'", d.format("%Y-%m-%d %H:%M:%S%.6f+00:00")))
                    .unwrap_or_else(|| "NULL".into()),
            ));
            if i % 10 != 0 {
                expected.push((i, state, due));
            }
        }
        db.conn
            .execute_unprepared(&format!(
                "INSERT INTO incidents (id, state, version, category, title, fingerprint, \
                   first_reported_at, report_count, evidence_hold, last_event_at, last_event_hash, \
                   next_due_at, created_at) VALUES {}",
                rows.join(", ")
            ))
            .await
            .unwrap();
        let now = base - chrono::Duration::days(1);
        let f = Filters {
            text: Some("共同的词语".into()),
            ..Filters::default()
        }
        .resolve(&db)
        .await
        .unwrap();
        assert_eq!(
            f.matched.as_ref().unwrap().len(),
            expected.len(),
            "{backend:?}"
        );
        let mut open: Vec<_> = expected
            .iter()
            .filter(|(_, s, _)| *s != "resolved")
            .map(|(id, _, due)| (due.unwrap(), *id))
            .collect();
        open.sort();
        assert_eq!(
            rectify::db::list::count(&db, &States::Open, &f, now)
                .await
                .unwrap(),
            open.len() as u64,
            "{backend:?}: the open matches"
        );
        for desc in [false, true] {
            let want: Vec<i64> = if desc {
                open.iter().rev().map(|(_, id)| *id).collect()
            } else {
                open.iter().map(|(_, id)| *id).collect()
            };
            for (limit, offset) in [(50, 0), (50, 100), (50, 950), (50, 1_150)] {
                let got: Vec<i64> = rectify::db::list::rows(
                    &db,
                    &States::Open,
                    &f,
                    (Sort::Deadline, desc),
                    now,
                    (limit, offset),
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect();
                let from = (offset as usize).min(want.len());
                let to = (from + limit as usize).min(want.len());
                assert_eq!(
                    got,
                    want[from..to],
                    "{backend:?}: by deadline (desc {desc}), {limit} from {offset}"
                );
            }
        }
        let triaged: Vec<i64> = rectify::db::list::rows(
            &db,
            &States::One("triaged".into()),
            &f,
            (Sort::Deadline, false),
            now,
            (50, 0),
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
        let mut want: Vec<_> = expected
            .iter()
            .filter(|(_, s, _)| *s == "triaged")
            .map(|(id, _, due)| (due.unwrap(), *id))
            .collect();
        want.sort();
        let want: Vec<i64> = want.iter().take(50).map(|(_, id)| *id).collect();
        assert_eq!(triaged, want, "{backend:?}: one state");
        drop(f);
        tdb.drop_db().await;
    }
}

/// A person's own board ("mine") lists their incidents nearest deadline first, and each column
/// reads them from the assignee index in that order (migration 000130), not by walking the
/// state's deadline index and reading every incident to find the person's: without planner
/// statistics (a Rectify database has none) and with them (an operator's ANALYZE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_own_column_is_read_in_deadline_order_with_or_without_statistics() {
    use rectify::db::entities::incident;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let lead = add_user(&app, "lead@example.com", "lead").await;
        let other = add_user(&app, "other@example.com", "triager").await;
        let c = sign_in(&app, "lead@example.com").await;
        let mut ids = Vec::new();
        for n in 0..5 {
            let (id, _) = submit(&app, &[("output", &format!("分配给我的第{n}个回答"))]).await;
            ids.push(id);
        }
        for (i, id) in ids.iter().enumerate() {
            let who = if i == 3 { other } else { lead }.to_string();
            let r = act(&app, &c, *id, "assign", &[("assignee", who.as_str())]).await;
            assert_eq!(r.status(), 303);
        }
        // Deadlines out of the order the incidents came in: the column must sort by them.
        let db = &app.db;
        for (id, hours) in [(ids[0], 30), (ids[1], 10), (ids[2], 20), (ids[4], 5)] {
            let due = chrono::Utc::now() + chrono::Duration::hours(hours);
            incident::Entity::update_many()
                .col_expr(incident::Column::NextDueAt, Expr::value(due))
                .filter(incident::Column::Id.eq(id))
                .exec(&db.conn)
                .await
                .unwrap();
        }
        let mine = text(&app, &c, "/board?assignee=mine").await;
        let pos = |id: i64| mine.find(&format!(">INC-{id}<"));
        assert!(
            pos(ids[3]).is_none(),
            "another person's incident is not mine"
        );
        let order: Vec<usize> = [ids[4], ids[1], ids[2], ids[0]]
            .iter()
            .map(|id| pos(*id).expect("each of mine is shown"))
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "nearest deadline first: {order:?}"
        );

        if db.is_postgres() {
            // Its planner keeps statistics of its own (autovacuum); the plan below is SQLite's.
            app.stop().await;
            continue;
        }
        // Enough incidents over enough people that reading one person's in the wrong index
        // and sorting them would be the planner's choice if it were the only way.
        db.conn
            .execute_unprepared(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
                 INSERT INTO incidents (state, version, category, severity, assignee_id, title, \
                   fingerprint, first_reported_at, report_count, evidence_hold, last_event_at, \
                   last_event_hash, next_due_at, next_due_clock, created_at) \
                 SELECT CASE i % 3 WHEN 0 THEN 'new' WHEN 1 THEN 'triaged' ELSE 'contained' END, \
                   1, 'core_values.false_information', 'medium', \
                   CASE (i / 3) % 3 WHEN 0 THEN NULL WHEN 1 THEN {lead} ELSE {other} END, \
                   'seeded ' || i, 'seedfp' || i, \
                   '2026-12-01 00:00:00.000000+00:00', 1, false, \
                   '2026-12-01 00:00:00.000000+00:00', '', \
                   strftime('%Y-%m-%d %H:%M:%f+00:00', '2027-01-01', '+' || (i * 7919 % 5000) || ' minutes'), \
                   'remediate', '2026-12-01 00:00:00.000000+00:00' FROM n"
            ))
            .await
            .unwrap();
        let plan = || async {
            db.conn
                .query_all_raw(Statement::from_string(
                    db.backend(),
                    format!(
                        "EXPLAIN QUERY PLAN SELECT id, title FROM incidents \
                         WHERE state = 'triaged' AND assignee_id = {lead} \
                         ORDER BY next_due_at, id LIMIT 50"
                    ),
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String>("", "detail").unwrap())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let ordered = |p: &str| p.contains("incidents_assignee") && !p.contains("TEMP B-TREE");
        let before = plan().await;
        assert!(ordered(&before), "without statistics: {before}");
        db.conn.execute_unprepared("ANALYZE").await.unwrap();
        let analysed = db
            .conn
            .query_all_raw(Statement::from_string(
                db.backend(),
                "SELECT idx FROM sqlite_stat1 WHERE tbl = 'incidents'",
            ))
            .await
            .unwrap()
            .len();
        assert!(analysed > 0, "ANALYZE gathered statistics of incidents");
        let after = plan().await;
        assert!(ordered(&after), "with statistics: {after}");
        let mine_again = text(&app, &c, "/board?assignee=mine").await;
        assert!(mine_again.contains(&format!(">INC-{}<", ids[4])));
        app.stop().await;
    }
}
