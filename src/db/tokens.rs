//! Machine tokens as stored: made with a secret shown once, listed, revoked, and recognised
//! from a request's secret.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::entities::machine_token;
use super::{Db, DbError};
use crate::domain::token::{Scopes, TokenName, hash_secret, secret_from_bytes};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named {0} exists already (revoke it, or choose another name)")]
    NameTaken(String),
    #[error("no token is named {0}")]
    Unknown(String),
    #[error("the token {0} was revoked already")]
    AlreadyRevoked(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sea_orm::DbErr> for TokenError {
    fn from(e: sea_orm::DbErr) -> Self {
        TokenError::Db(DbError::Db(e))
    }
}

/// Makes a token; returns it and its secret (which nothing keeps).
pub async fn create(
    db: &Db,
    name: &TokenName,
    scopes: &Scopes,
    now: DateTime<Utc>,
) -> Result<(machine_token::Model, String), TokenError> {
    let secret = secret_from_bytes(rand::random());
    let txn = db.begin_write().await?;
    if machine_token::Entity::find()
        .filter(machine_token::Column::Name.eq(name.as_str()))
        .one(&*txn)
        .await?
        .is_some()
    {
        return Err(TokenError::NameTaken(name.to_string()));
    }
    let row = machine_token::ActiveModel {
        name: Set(name.as_str().to_owned()),
        scopes: Set(scopes.to_string()),
        token_hash: Set(hash_secret(&secret)),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok((row, secret))
}

/// Every token, oldest first.
pub async fn list(db: &Db) -> Result<Vec<machine_token::Model>, DbError> {
    Ok(machine_token::Entity::find()
        .order_by_asc(machine_token::Column::Id)
        .all(&db.conn)
        .await?)
}

/// Revokes a token: from now on it gets 401. Its row stays, so the event log's actor stays
/// explained.
pub async fn revoke(db: &Db, name: &str, now: DateTime<Utc>) -> Result<(), TokenError> {
    let txn = db.begin_write().await?;
    let row = machine_token::Entity::find()
        .filter(machine_token::Column::Name.eq(name))
        .one(&*txn)
        .await?
        .ok_or_else(|| TokenError::Unknown(name.to_owned()))?;
    if row.revoked_at.is_some() {
        return Err(TokenError::AlreadyRevoked(name.to_owned()));
    }
    let mut a: machine_token::ActiveModel = row.into();
    a.revoked_at = Set(Some(now));
    a.update(&*txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The token a secret belongs to, if it exists and is not revoked; records its use.
pub async fn authenticate(
    db: &Db,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<machine_token::Model>, DbError> {
    let hash = hash_secret(secret);
    let Some(row) = machine_token::Entity::find()
        .filter(machine_token::Column::TokenHash.eq(hash))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    if row.revoked_at.is_some() {
        return Ok(None);
    }
    // A use a second after the last adds nothing a person reads in "last used", and a
    // pipeline posting in a loop would otherwise write once per request.
    if row
        .last_used_at
        .is_none_or(|t| now - t >= chrono::Duration::seconds(1))
    {
        let id = row.id;
        db.write(move |txn| {
            Box::pin(async move {
                machine_token::Entity::update_many()
                    .col_expr(
                        machine_token::Column::LastUsedAt,
                        sea_orm::sea_query::Expr::value(Some(now)),
                    )
                    .filter(machine_token::Column::Id.eq(id))
                    .exec(txn)
                    .await?;
                Ok(())
            })
        })
        .await?;
    }
    Ok(Some(row))
}
