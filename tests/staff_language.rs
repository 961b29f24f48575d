//! Staff pages in the reader's language (issue 14 item 8), where the words used to be English
//! only: a refused workflow action's sentence, the sign-in page, and the incident page's
//! retraining and reporter panels.

mod common;

use common::staff::{act, add_user, sign_in};
use common::{TestApp, backends, valid_form, with};

async fn submit(app: &TestApp, output: &str) -> i64 {
    common::submit_form(app, &with(valid_form(), "output", output))
        .await
        .0
}

/// The refusal banner's sentence: the paragraph under its heading.
fn banner(page: &str) -> &str {
    let start = page
        .find("id=\"error-summary\"")
        .unwrap_or_else(|| panic!("no refusal banner: {page}"));
    let p = &page[start..];
    let p = &p[p.find("<p>").unwrap() + 3..];
    &p[..p.find("</p>").unwrap()]
}

/// `plan_fix`, `report_id`: an identifier where a word should be.
fn identifier_in(s: &str) -> Option<&str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.contains('_'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_action_is_said_in_the_members_language() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let lead = add_user(&app, "lead@example.com", "lead").await;
        let triager = add_user(&app, "triager@example.com", "triager").await;
        for id in [lead, triager] {
            rectify::db::users::set_locale(&app.db, id, "zh-CN")
                .await
                .unwrap();
        }
        add_user(&app, "eng@example.com", "engineer").await;
        let lead_c = sign_in(&app, "lead@example.com").await;
        let triager_c = sign_in(&app, "triager@example.com").await;
        let eng_c = sign_in(&app, "eng@example.com").await;
        let id = submit(&app, "澳大利亚的首都是悉尼。").await;
        let triage = [("category", "accuracy.inaccurate"), ("severity", "high")];
        assert_eq!(
            act(&app, &lead_c, id, "triage", &triage).await.status(),
            303
        );

        let plan = [
            ("plan", "重新训练"),
            ("reference_answer", "澳大利亚的首都是堪培拉。"),
        ];
        // The wrong state: which state it is in, and in which it could be done, in words.
        let r = act(&app, &lead_c, id, "plan_fix", &plan).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        let said = banner(&page);
        assert_eq!(
            said,
            "事件处于“已研判”状态时不能制定整改方案（仅在“已遏制”状态时可以）。"
        );
        // Who may: the roles as nouns, never the action's name.
        let r = act(&app, &triager_c, id, "plan_fix", &plan).await;
        assert_eq!(r.status(), 403);
        let page = r.text().await.unwrap();
        let said = banner(&page).to_string();
        assert!(
            said.starts_with("只有") && said.ends_with("可以制定整改方案。"),
            "{said}"
        );
        assert!(said.contains("工程师") && said.contains("组长"), "{said}");
        // A missing field by its name: the statement of reasons, not `reasons`.
        let r = act(&app, &lead_c, id, "reject", &[("reasons", " ")]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert_eq!(banner(&page), "给举报人的理由说明为必填项。");
        // A value that will not do, with the field's name.
        let r = act(&app, &lead_c, id, "merge", &[("target", &id.to_string())]).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert_eq!(banner(&page), "要并入的事件：事件不能并入自身。");
        for sentence in [banner(&page), &said] {
            assert_eq!(identifier_in(sentence), None, "{sentence}");
            assert!(
                !sentence.chars().any(|c| c.is_ascii_alphabetic()),
                "{sentence}"
            );
        }

        // The same refusal to a member of staff who reads English.
        let r = act(&app, &eng_c, id, "plan_fix", &plan).await;
        assert_eq!(r.status(), 422);
        let page = r.text().await.unwrap();
        assert_eq!(
            banner(&page),
            "Cannot plan a fix while the incident is triaged (only when it is contained)."
        );

        // A bulk action's refusals are in the same words.
        let (csrf, _, _) = common::staff::form_tokens(&app, &lead_c, id).await;
        let r = lead_c
            .post(app.url("/incidents/bulk"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("ids", &id.to_string()),
                ("bulk_action", "set_severity"),
                ("severity", "high"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        let refused = body.split("bulk-refused").nth(1).unwrap();
        assert!(
            refused.contains("无需变更：严重程度已是“高”。"),
            "{refused}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_speaks_the_browsers_language() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |s| {
            s.auth.login_account_failures = 1;
        })
        .await;
        add_user(&app, "lead@example.com", "lead").await;
        let c = common::client();
        let get = |lang: Option<&'static str>, path: &'static str| {
            let mut req = c.get(app.url(path));
            if let Some(l) = lang {
                req = req.header("accept-language", l);
            }
            async move { req.send().await.unwrap() }
        };

        let zh = get(Some("zh-CN,zh;q=0.9,en;q=0.5"), "/login?next=/board")
            .await
            .text()
            .await
            .unwrap();
        assert!(zh.contains("<html lang=\"zh-CN\">"), "{zh}");
        for word in ["工作人员登录", "邮箱", "密码", ">登录<"] {
            assert!(zh.contains(word), "{word} on the Chinese sign-in page");
        }
        // The switch to the other language keeps where the person was going.
        assert!(
            zh.contains("href=\"/login?lang=en&#38;next=%2Fboard\""),
            "{zh}"
        );
        assert!(!zh.contains("Sign in") && !zh.contains("Password"));

        for lang in [None, Some("en-GB,en;q=0.8"), Some("fr")] {
            let en = get(lang, "/login").await.text().await.unwrap();
            assert!(en.contains("<html lang=\"en\">"), "{lang:?}");
            assert!(en.contains("Staff sign-in") && en.contains("Password"));
            assert!(en.contains("lang=zh-CN") && en.contains("中文"));
        }
        // An explicit choice wins over the browser's, and is remembered for the post.
        let r = get(Some("en"), "/login?lang=zh-CN").await;
        assert!(
            r.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .starts_with("lang=zh-CN")
        );
        assert!(r.text().await.unwrap().contains("工作人员登录"));

        // The errors, in the page's language.
        let post = |lang: &'static str, password: &'static str| {
            c.post(app.url("/login"))
                .header("accept-language", lang)
                .form(&[("email", "lead@example.com"), ("password", password)])
                .send()
        };
        let r = post("zh-CN", "wrong horse").await.unwrap();
        assert_eq!(r.status(), 401);
        let body = r.text().await.unwrap();
        assert!(body.contains("邮箱或密码错误，或该账号已停用。"), "{body}");
        assert!(
            body.contains("value=\"lead@example.com\""),
            "the email is kept"
        );
        let r = post("zh-CN", "wrong again").await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.text().await.unwrap().contains("登录失败次数过多"));
        let r = post("en", "wrong again").await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Too many failed sign-in attempts")
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retraining_and_reporter_panels_follow_the_members_language() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let lead = add_user(&app, "lead@example.com", "lead").await;
        add_user(&app, "eng@example.com", "engineer").await;
        rectify::db::users::set_locale(&app.db, lead, "zh-CN")
            .await
            .unwrap();
        let zh_c = sign_in(&app, "lead@example.com").await;
        let en_c = sign_in(&app, "eng@example.com").await;
        let id = submit(&app, "澳大利亚的首都是悉尼。").await;
        let page = |c: &reqwest::Client| {
            let req = c.get(app.url(&format!("/incidents/{id}")));
            async move { req.send().await.unwrap().text().await.unwrap() }
        };

        let zh = page(&zh_c).await;
        for heading in [
            "<h2 id=\"retraining-h\">优化训练：回归用例与验证</h2>",
            "<h3>验证运行</h3>",
            "<h3>新增回归用例</h3>",
            "<h2>举报人</h2>",
            "<h3>公开处理说明</h3>",
            "<h3>截图与证据</h3>",
            "<h3>消息</h3>",
        ] {
            assert!(zh.contains(heading), "{heading} on the Chinese page");
        }
        for english in [
            "Retraining",
            "Verification runs",
            "Reporters",
            "Public summary",
            "every reporter of this incident",
            "status page only",
            "not set yet",
        ] {
            assert!(!zh.contains(english), "{english} on the Chinese page");
        }
        assert!(zh.contains("该事件的全部举报人（1）"));

        let en = page(&en_c).await;
        for heading in [
            "<h2 id=\"retraining-h\">Retraining: regression cases and verification</h2>",
            "<h3>Verification runs</h3>",
            "<h2>Reporters</h2>",
            "<h3>Public summary</h3>",
        ] {
            assert!(en.contains(heading), "{heading} on the English page");
        }

        // A case form that comes back with a mistake says it in Chinese too, the field by name.
        let (csrf, _, _) = common::staff::form_tokens(&app, &zh_c, id).await;
        let r = zh_c
            .post(app.url(&format!("/incidents/{id}/cases")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("prompt", ""),
                ("bad_output", "悉尼"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("提示词：此项为必填项。"), "{body}");
        assert!(body.contains("新增回归用例") && body.contains("返回事件"));
        assert!(body.contains(">悉尼</textarea>"), "what was typed is kept");
        app.stop().await;
    }
}
