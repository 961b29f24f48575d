//! Attachments: bytes stored once per content (SHA-256) under `attachments.dir`, written to a
//! temporary name and renamed so a reader never sees half a file; a row per use.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

use super::entities::attachment;
use super::{Db, DbError};

/// A file ready to store.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub filename: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

pub fn sha256_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the bytes of `sha256` live.
pub fn path_of(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(&sha256[..2]).join(sha256)
}

/// Writes the bytes under their hash (once: the same content is stored once).
pub fn write_content(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let sha = sha256_of(bytes);
    let path = path_of(dir, &sha);
    if !path.exists() {
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(sha)
}

/// A file whose bytes are on disk under their hash, ready for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub sha256: String,
    pub media_type: String,
    pub size: i64,
    pub filename: String,
}

/// Writes each file's bytes under their hash, before the transaction that records them: the
/// store is content-addressed, so a crash (or a refused transaction) after this leaves at most
/// an orphan file nobody points to, harmless and never served, while the rows commit together
/// with whatever they belong to.
pub fn write_files(dir: &Path, files: &[NewFile]) -> Result<Vec<WrittenFile>, DbError> {
    files
        .iter()
        .map(|f| {
            let sha = write_content(dir, &f.bytes)
                .map_err(|e| DbError::Setup(format!("attachments: {e}")))?;
            Ok(WrittenFile {
                sha256: sha,
                media_type: f.media_type.clone(),
                size: f.bytes.len() as i64,
                filename: f.filename.clone(),
            })
        })
        .collect()
}

/// The row of a file a reporter sent, with their report (or, with `message_id`, their reply).
pub fn reporter_row(
    f: &WrittenFile,
    report_id: i64,
    incident_id: i64,
    message_id: Option<i64>,
    now: DateTime<Utc>,
) -> attachment::ActiveModel {
    attachment::ActiveModel {
        sha256: Set(f.sha256.clone()),
        media_type: Set(f.media_type.clone()),
        size: Set(f.size),
        filename: Set(f.filename.clone()),
        report_id: Set(Some(report_id)),
        message_id: Set(message_id),
        incident_id: Set(incident_id),
        uploaded_by: Set("reporter".into()),
        created_at: Set(now),
        ..Default::default()
    }
}

/// The attachments of an incident's reports and of the incident itself, oldest first.
pub async fn for_incident(
    db: &Db,
    incident_id: i64,
    report_ids: &[i64],
) -> Result<Vec<attachment::Model>, DbError> {
    let cond = sea_orm::Condition::any()
        .add(attachment::Column::IncidentId.eq(incident_id))
        .add(attachment::Column::ReportId.is_in(report_ids.to_vec()));
    Ok(attachment::Entity::find()
        .filter(cond)
        .order_by_asc(attachment::Column::Id)
        .all(&db.conn)
        .await?)
}

/// The replies of a report that came with a file (their message ids).
pub async fn replies_with_files(db: &Db, report_id: i64) -> Result<Vec<i64>, DbError> {
    Ok(attachment::Entity::find()
        .filter(attachment::Column::ReportId.eq(report_id))
        .filter(attachment::Column::MessageId.is_not_null())
        .all(&db.conn)
        .await?
        .into_iter()
        .filter_map(|a| a.message_id)
        .collect())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<attachment::Model>, DbError> {
    Ok(attachment::Entity::find_by_id(id).one(&db.conn).await?)
}

/// Attaches a file to an incident as evidence: the bytes stored by hash, the row, and an
/// `attach_evidence` event carrying the SHA-256 (so the audit chain covers the file), together.
#[allow(clippy::too_many_arguments)]
pub async fn add_evidence(
    db: &Db,
    policy: &crate::domain::deadlines::Policy,
    dir: &Path,
    incident_id: i64,
    file: &NewFile,
    actor: &crate::domain::workflow::Actor,
    now: DateTime<Utc>,
) -> Result<attachment::Model, super::workflow::ActError> {
    let sha =
        write_content(dir, &file.bytes).map_err(|e| DbError::Setup(format!("attachments: {e}")))?;
    let txn = db.begin_write().await?;
    let row = attachment::ActiveModel {
        sha256: Set(sha.clone()),
        media_type: Set(file.media_type.clone()),
        size: Set(file.bytes.len() as i64),
        filename: Set(file.filename.clone()),
        report_id: Set(None),
        incident_id: Set(incident_id),
        uploaded_by: Set(actor.label.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let action = crate::domain::workflow::Action::AttachEvidence {
        attachment_id: row.id,
        sha256: sha,
        filename: file.filename.clone(),
        media_type: file.media_type.clone(),
        size: row.size,
    };
    super::workflow::act_in(
        &txn,
        db,
        policy,
        incident_id,
        None,
        &action,
        actor,
        now,
        &super::workflow::no_mail,
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}
