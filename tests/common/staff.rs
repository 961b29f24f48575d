//! Staff helpers: accounts made the way `rectify user add` makes them, and a signed-in client.

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

pub async fn add_user(app: &TestApp, email: &str, role: &str) -> i64 {
    let hash = rectify::web::staff::auth::hash_password(PASSWORD.into())
        .await
        .unwrap();
    rectify::db::users::create(
        &app.db,
        email,
        &email.replace('@', " at "),
        role,
        &hash,
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .id
}

/// A browser-like client with its own cookie jar, signed in as `email`.
pub async fn sign_in(app: &TestApp, email: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let resp = c
        .post(app.url("/login"))
        .form(&[("email", email), ("password", PASSWORD), ("next", "/board")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "sign-in as {email}");
    c
}

/// The CSRF token and version from an incident page.
pub async fn form_tokens(app: &TestApp, c: &reqwest::Client, id: i64) -> (String, String, String) {
    let page = c
        .get(app.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grab = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let i = page
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} on the page"))
            + key.len();
        page[i..].split('"').next().unwrap().to_string()
    };
    (grab("csrf"), grab("version"), page)
}

/// Posts an action form the way the page does.
pub async fn act(
    app: &TestApp,
    c: &reqwest::Client,
    id: i64,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (csrf, version, _) = form_tokens(app, c, id).await;
    let mut form: Vec<(&str, &str)> =
        vec![("csrf", &csrf), ("version", &version), ("action", action)];
    form.extend_from_slice(fields);
    c.post(app.url(&format!("/incidents/{id}/act")))
        .form(&form)
        .send()
        .await
        .unwrap()
}
