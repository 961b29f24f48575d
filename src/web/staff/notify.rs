//! Who an assignment tells: the new assignee, by mail through the outbox, in their language,
//! unless they assigned themselves (or their account is disabled).

use crate::db::entities::user;
use crate::db::{DbError, outbox, users};
use crate::domain::locale::Locale;
use crate::domain::workflow::Action;
use crate::mail::Mail;
use crate::web::AppState;

use super::auth::Staff;

/// The account an assignment should tell, if any.
pub async fn assignee_to_tell(
    state: &AppState,
    staff: &Staff,
    action: &Action,
) -> Result<Option<user::Model>, DbError> {
    let Action::Assign { assignee: Some(id) } = action else {
        return Ok(None);
    };
    if *id == staff.user.id {
        return Ok(None);
    }
    Ok(users::list(&state.db)
        .await?
        .into_iter()
        .find(|u| u.id == *id && !u.disabled))
}

/// The mail for `incidents` (id, title) assigned to `to` by `staff`.
pub fn mail(
    state: &AppState,
    staff: &Staff,
    to: &user::Model,
    incidents: &[(i64, String)],
) -> Option<Mail> {
    let locale = Locale::parse(&to.locale).unwrap_or_default();
    crate::mail::assignment::assignment(
        &state.settings,
        locale,
        &to.email,
        &staff.user.name,
        incidents,
    )
    .map_err(|e| tracing::error!(error = %e, "rendering an assignment mail failed"))
    .ok()
}

/// One mail for the incidents a bulk assignment gave `to`, written to the outbox.
pub async fn tell_grouped(
    state: &AppState,
    staff: &Staff,
    to: &user::Model,
    incidents: &[(i64, String)],
) -> Result<(), DbError> {
    if incidents.is_empty() {
        return Ok(());
    }
    let Some(m) = mail(state, staff, to, incidents) else {
        return Ok(());
    };
    let txn = state.db.begin_write().await?;
    let single = (incidents.len() == 1).then(|| incidents[0].0);
    outbox::enqueue(&*txn, &m, chrono::Utc::now(), single, None).await?;
    txn.commit().await?;
    state.mail_ready.notify_one();
    Ok(())
}
