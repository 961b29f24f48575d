//! Staff accounts and their server-side sessions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

use super::entities::{session, user};
use super::{Db, DbError};

pub async fn create(
    db: &Db,
    email: &str,
    name: &str,
    role: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, DbError> {
    create_with_locale(db, email, name, role, password_hash, "en", now).await
}

/// A staff account reading pages and mail in `locale` (`en` or `zh-CN`).
pub async fn create_with_locale(
    db: &Db,
    email: &str,
    name: &str,
    role: &str,
    password_hash: &str,
    locale: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, DbError> {
    let txn = db.begin_write().await?;
    let u = user::ActiveModel {
        email: Set(email.to_lowercase()),
        name: Set(name.to_string()),
        role: Set(role.to_string()),
        password_hash: Set(password_hash.to_string()),
        disabled: Set(false),
        locale: Set(locale.to_string()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok(u)
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<user::Model>, DbError> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(&db.conn)
        .await?)
}

pub async fn list(db: &Db) -> Result<Vec<user::Model>, DbError> {
    Ok(list_query().all(&db.conn).await?)
}

/// Every account, by address ([`list`]'s query, for a page read at once: `Db::on_reader`).
pub(crate) fn list_query() -> sea_orm::Select<user::Entity> {
    user::Entity::find().order_by_asc(user::Column::Email)
}

/// Disables an account and ends every session it has, at once.
pub async fn disable(db: &Db, email: &str) -> Result<bool, DbError> {
    let Some(u) = by_email(db, email).await? else {
        return Ok(false);
    };
    let txn = db.begin_write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(true))
        .filter(user::Column::Id.eq(u.id))
        .exec(&*txn)
        .await?;
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(u.id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

pub async fn set_role(db: &Db, email: &str, role: &str) -> Result<bool, DbError> {
    let txn = db.begin_write().await?;
    let res = user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(role))
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected == 1)
}

/// Sets the language of an account's pages and mail by its address; false when there is none.
pub async fn set_locale_by_email(db: &Db, email: &str, locale: &str) -> Result<bool, DbError> {
    let txn = db.begin_write().await?;
    let res = user::Entity::update_many()
        .col_expr(user::Column::Locale, Expr::value(locale))
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected == 1)
}

pub async fn set_locale(db: &Db, id: i64, locale: &str) -> Result<(), DbError> {
    let txn = db.begin_write().await?;
    user::Entity::update_many()
        .col_expr(user::Column::Locale, Expr::value(locale))
        .filter(user::Column::Id.eq(id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The session table stores a hash of the cookie's token, so reading the table does not give
/// anyone a way in.
pub fn token_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a session; returns the token for the cookie (never stored as such).
pub async fn start_session(
    db: &Db,
    user_id: i64,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<String, DbError> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let txn = db.begin_write().await?;
    // Expired sessions are useless; sweeping them at each sign-in keeps the table small.
    session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(&*txn)
        .await?;
    session::ActiveModel {
        id: Set(token_id(&token)),
        user_id: Set(user_id),
        csrf_token: Set(csrf_token.to_string()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// The live session and its user for a cookie token: not expired, user not disabled.
pub async fn session_user(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(session::Model, user::Model)>, DbError> {
    let id = token_id(token);
    // SQLite: on a reader thread, the page's own after it. Through the pool the lookup was the
    // one query of a staff page still asked there, and its answer waited for the runtime
    // behind intake's requests before the page itself was asked.
    let found = match db
        .on_reader({
            let id = id.clone();
            move |conn| session_user_on(conn, &id)
        })
        .await
    {
        Some(found) => found?,
        None => session_user_pooled(db, id).await?,
    };
    let Some((s, u)) = found else {
        return Ok(None);
    };
    if s.expires_at <= now {
        return Ok(None);
    }
    if u.disabled {
        return Ok(None);
    }
    Ok(Some((s, u)))
}

/// The session and its user, read through the pool.
async fn session_user_pooled(
    db: &Db,
    id: String,
) -> Result<Option<(session::Model, user::Model)>, DbError> {
    // One query for both: every staff page asks it first, and beside a flood each query waits
    // for a core.
    Ok(session::Entity::find_by_id(id)
        .find_also_related(user::Entity)
        .one(&db.conn)
        .await?
        .and_then(|(s, u)| Some((s, u?))))
}

/// The session and its user, read on a SQLite reader thread's connection.
fn session_user_on(
    conn: &rusqlite::Connection,
    id: &str,
) -> Result<Option<(session::Model, user::Model)>, DbError> {
    use sea_orm::QueryTrait;
    const SQLITE: sea_orm::DbBackend = sea_orm::DbBackend::Sqlite;
    let Some(s) = super::raw::query::<session::Model>(
        conn,
        &session::Entity::find_by_id(id.to_owned()).build(SQLITE),
    )?
    .pop() else {
        return Ok(None);
    };
    let u =
        super::raw::query::<user::Model>(conn, &user::Entity::find_by_id(s.user_id).build(SQLITE))?
            .pop();
    Ok(u.map(|u| (s, u)))
}

pub async fn end_session(db: &Db, token: &str) -> Result<(), DbError> {
    let txn = db.begin_write().await?;
    session::Entity::delete_by_id(token_id(token))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    /// The session row and its user as a reader thread reads them, checked against the pool's
    /// reading of the same row; then what a staff page is answered at `at`.
    async fn read(
        db: &Db,
        token: &str,
        at: DateTime<Utc>,
    ) -> (
        Option<(session::Model, user::Model)>,
        Option<(session::Model, user::Model)>,
    ) {
        let id = token_id(token);
        let on_reader = db
            .on_reader({
                let id = id.clone();
                move |conn| session_user_on(conn, &id)
            })
            .await
            .expect("a database in a file has reader threads")
            .unwrap();
        assert_eq!(on_reader, session_user_pooled(db, id).await.unwrap());
        (on_reader, session_user(db, token, at).await.unwrap())
    }

    /// A staff page's sign-in check, read on a reader thread, answers as the pool's reading
    /// does: the session and its user while both hold; nothing once it expired, its user was
    /// disabled, or it ended.
    #[tokio::test]
    async fn a_session_read_on_a_reader_thread_is_the_pools_answer() {
        let (_dir, db) = crate::db::tests::file_db(2).await;
        db.migrate().await.unwrap();
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let until = now + TimeDelta::hours(8);
        let u = create(&db, "t@example.com", "T", "triager", "x", now)
            .await
            .unwrap();
        let token = start_session(&db, u.id, "csrf", now, until).await.unwrap();

        let (row, answer) = read(&db, &token, now).await;
        let (s, user) = row.expect("the session is there");
        assert_eq!(
            (s.csrf_token.as_str(), user.email.as_str(), s.expires_at),
            ("csrf", "t@example.com", until)
        );
        assert_eq!(answer, Some((s, user)));

        let (row, answer) = read(&db, &token, until).await;
        assert!(row.is_some() && answer.is_none(), "expired");
        assert_eq!(read(&db, "no such token", now).await, (None, None));

        let other = start_session(&db, u.id, "csrf", now, until).await.unwrap();
        end_session(&db, &other).await.unwrap();
        assert_eq!(read(&db, &other, now).await, (None, None), "ended");

        assert!(disable(&db, "t@example.com").await.unwrap());
        assert_eq!(read(&db, &token, now).await, (None, None), "disabled");
    }
}
