//! Walking every incident's event chain: the check behind `rectify audit verify`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::{incident, incident_event};
use super::{Db, DbError};
use crate::domain::audit::{StoredEvent, verify_chain_to};

#[derive(Debug)]
pub enum Verdict {
    /// Every chain holds: how many incidents and events were checked.
    Holds { incidents: u64, events: u64 },
    /// The first broken link found, as a sentence.
    Broken { incident_id: i64, why: String },
}

fn stored(e: incident_event::Model) -> Result<StoredEvent, String> {
    let data = serde_json::from_str(&e.data).map_err(|err| {
        format!(
            "event {} of incident {}: data is not JSON: {err}",
            e.seq, e.incident_id
        )
    })?;
    Ok(StoredEvent {
        incident_id: e.incident_id,
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        from: e.from_state,
        to: e.to_state,
        data,
        prev_hash: e.prev_hash,
        hash: e.hash,
    })
}

/// Checks incidents in id order, a page at a time, and stops at the first break.
pub async fn verify_all(db: &Db) -> Result<Verdict, DbError> {
    const PAGE: u64 = 500;
    let (mut incidents, mut events, mut after) = (0u64, 0u64, 0i64);
    loop {
        let page = incident::Entity::find()
            .filter(incident::Column::Id.gt(after))
            .order_by_asc(incident::Column::Id)
            .limit(PAGE)
            .all(&db.conn)
            .await?;
        let Some(last) = page.last() else {
            return Ok(Verdict::Holds { incidents, events });
        };
        after = last.id;
        let ids: Vec<i64> = page.iter().map(|i| i.id).collect();
        let rows = incident_event::Entity::find()
            .filter(incident_event::Column::IncidentId.is_in(ids))
            .order_by_asc(incident_event::Column::IncidentId)
            .order_by_asc(incident_event::Column::Seq)
            .all(&db.conn)
            .await?;
        let mut by_incident: std::collections::HashMap<i64, Vec<StoredEvent>> = Default::default();
        for r in rows {
            let id = r.incident_id;
            match stored(r) {
                Ok(e) => by_incident.entry(id).or_default().push(e),
                Err(why) => {
                    return Ok(Verdict::Broken {
                        incident_id: id,
                        why,
                    });
                }
            }
        }
        for inc in &page {
            let chain = by_incident.remove(&inc.id).unwrap_or_default();
            if let Err(b) = verify_chain_to(inc.id, &chain, inc.version) {
                return Ok(Verdict::Broken {
                    incident_id: inc.id,
                    why: b.to_string(),
                });
            }
            let head = chain.last().map(|e| e.hash.as_str()).unwrap_or("");
            if head != inc.last_event_hash {
                return Ok(Verdict::Broken {
                    incident_id: inc.id,
                    why: format!(
                        "incident {}: the row's last_event_hash does not match its last event (seq {})",
                        inc.id,
                        chain.last().map_or(0, |e| e.seq)
                    ),
                });
            }
            incidents += 1;
            events += chain.len() as u64;
        }
    }
}
