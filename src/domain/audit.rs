//! The audit trail's hash chain.
//!
//! Every event of an incident carries the hash of the event before it, so an edited, inserted or
//! deleted event shows when the chain is walked. The hash covers a canonical text of the event
//! that does not depend on how a database happens to store it: keys sorted, no whitespace, and
//! timestamps at microsecond precision (what SQLite and PostgreSQL keep), so an event hashed
//! before it was written hashes the same after it is read back.
//!
//! Sequence numbers start at [`FIRST_SEQ`] and rise by one; an incident's `version` after an
//! event is that event's `seq`.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of an incident's first event.
pub const GENESIS: &str = "";

/// `seq` of an incident's first event (so `seq` equals the incident's version after it).
pub const FIRST_SEQ: i64 = 1;

/// Drops sub-microsecond precision.
///
/// Databases keep microseconds, so anything hashed or compared before a round trip through one
/// must already be at that precision.
pub fn truncate_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// The one text form of an instant used in the audit trail: RFC 3339, UTC, always six
/// fractional digits, `Z`. Truncates (never rounds), like the databases do.
pub fn format_at(at: DateTime<Utc>) -> String {
    truncate_micros(at)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Serde adapter writing a `DateTime<Utc>` with [`format_at`] and reading any RFC 3339 instant
/// back truncated to microseconds, so instants inside event data survive a round trip exactly.
///
/// Use as `#[serde(with = "audit::micros")]`.
pub mod micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_at(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| super::truncate_micros(at.with_timezone(&Utc)))
            .map_err(serde::de::Error::custom)
    }
}

/// Canonical content of an event: a JSON object with sorted keys and no whitespace:
/// `{"action":..,"actor":..,"at":"<RFC 3339 UTC, 6 fractional digits, Z>","data":<data, keys
/// sorted at every depth>,"from":<state or null>,"incident":<id>,"seq":<n>,"to":<state>}`.
///
/// `at` is truncated to microseconds here as well, so a caller that forgot to truncate still
/// gets the hash the stored row will verify against.
// The signature mirrors the stored row's columns one to one, which is what makes it hard to
// misuse; bundling them into a struct would only move the same eight names elsewhere.
#[allow(clippy::too_many_arguments)]
pub fn canonical(
    incident_id: i64,
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    from: Option<&str>,
    to: &str,
    data: &Value,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"action\":");
    write_str(&mut out, action);
    out.push_str(",\"actor\":");
    write_str(&mut out, actor);
    out.push_str(",\"at\":");
    write_str(&mut out, &format_at(at));
    out.push_str(",\"data\":");
    write_value(&mut out, data);
    out.push_str(",\"from\":");
    match from {
        Some(from) => write_str(&mut out, from),
        None => out.push_str("null"),
    }
    out.push_str(",\"incident\":");
    out.push_str(&incident_id.to_string());
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"to\":");
    write_str(&mut out, to);
    out.push('}');
    out
}

/// `hex(SHA-256(prev_hash || "\n" || canonical))`, lowercase.
pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    hex::encode(hasher.finalize())
}

fn write_str(out: &mut String, s: &str) {
    // serde_json's string escaping is fixed (and leaves non-ASCII as UTF-8), so it is canonical.
    out.push_str(&serde_json::to_string(s).expect("serialising a str cannot fail"));
}

// Sorted by hand rather than trusting `Value`'s map order: if any crate in the build enables
// serde_json's `preserve_order` feature, `Map` keeps insertion order for everyone, and the
// hashes would silently depend on how the database returned the JSON.
fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_value(out, value);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::String(s) => write_str(out, s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

/// One event as stored: the row of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub incident_id: i64,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub from: Option<String>,
    pub to: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    /// This event's canonical content (see [`canonical`]).
    pub fn canonical(&self) -> String {
        canonical(
            self.incident_id,
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            self.from.as_deref(),
            &self.to,
            &self.data,
        )
    }

    /// The hash this event's content and `prev_hash` call for; equals `hash` unless tampered.
    pub fn compute_hash(&self) -> String {
        chain_hash(&self.prev_hash, &self.canonical())
    }
}

/// The first broken link of an incident's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The event's content no longer produces its stored hash: it was edited after writing.
    HashMismatch {
        incident_id: i64,
        seq: i64,
        expected: String,
        stored: String,
    },
    /// The event does not point at the hash of the event before it (or, for the first event, at
    /// [`GENESIS`]): the one before it was replaced, or this one's `prev_hash` was edited.
    PrevHashMismatch {
        incident_id: i64,
        seq: i64,
        expected: String,
        stored: String,
    },
    /// The sequence does not continue by one: events were deleted (`found > expected`) or a seq
    /// repeats / runs backwards (`found < expected`).
    SeqMismatch {
        incident_id: i64,
        expected: i64,
        found: i64,
    },
    /// An event of another incident was mixed in.
    WrongIncident { seq: i64, expected: i64, found: i64 },
    /// The chain ends before the incident's version: its latest events were deleted. Only
    /// [`verify_chain_to`] can see this, since a chain cut short is still a valid chain.
    Truncated {
        incident_id: i64,
        expected_last: i64,
        found_last: Option<i64>,
    },
}

impl ChainBreak {
    /// The seq at which the chain breaks (for [`ChainBreak::Truncated`], the first missing one).
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::HashMismatch { seq, .. }
            | ChainBreak::PrevHashMismatch { seq, .. }
            | ChainBreak::WrongIncident { seq, .. } => *seq,
            ChainBreak::SeqMismatch { expected, .. } => *expected,
            ChainBreak::Truncated { found_last, .. } => found_last.map_or(FIRST_SEQ, |s| s + 1),
        }
    }
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainBreak::HashMismatch {
                incident_id, seq, ..
            } => write!(
                f,
                "event {seq} of incident {incident_id} was altered after it was recorded: \
                 its content no longer matches its hash"
            ),
            ChainBreak::PrevHashMismatch {
                incident_id, seq, ..
            } if *seq == FIRST_SEQ => write!(
                f,
                "event {seq} of incident {incident_id} should start the chain but points at \
                 an earlier event: its link was altered"
            ),
            ChainBreak::PrevHashMismatch {
                incident_id, seq, ..
            } => write!(
                f,
                "event {seq} of incident {incident_id} does not link to event {}: one of the \
                 two was altered or replaced",
                seq - 1
            ),
            ChainBreak::SeqMismatch {
                incident_id,
                expected,
                found,
            } if found > expected => {
                if found - expected == 1 {
                    write!(
                        f,
                        "event {expected} of incident {incident_id} is missing: the log goes \
                         on at event {found}"
                    )
                } else {
                    write!(
                        f,
                        "events {expected} to {} of incident {incident_id} are missing: the log \
                         goes on at event {found}",
                        found - 1
                    )
                }
            }
            ChainBreak::SeqMismatch {
                incident_id,
                expected,
                found,
            } => write!(
                f,
                "event {found} of incident {incident_id} appears where event {expected} \
                 should be: an event is repeated or out of order"
            ),
            ChainBreak::WrongIncident {
                seq,
                expected,
                found,
            } => write!(
                f,
                "event {seq} in the log of incident {expected} belongs to incident {found}"
            ),
            ChainBreak::Truncated {
                incident_id,
                expected_last,
                found_last: Some(last),
            } => write!(
                f,
                "the log of incident {incident_id} ends at event {last}, but the incident is \
                 at version {expected_last}: its latest events were deleted"
            ),
            ChainBreak::Truncated {
                incident_id,
                expected_last,
                found_last: None,
            } => write!(
                f,
                "incident {incident_id} has no events, but is at version {expected_last}: \
                 its log was deleted"
            ),
        }
    }
}

impl std::error::Error for ChainBreak {}

/// Walks one incident's events in seq order; `Ok(())` or the first broken link.
///
/// The events must be sorted by `seq` (as `ORDER BY seq` returns them). An empty slice is a
/// valid chain. Deleting the *latest* events leaves a shorter valid chain; to catch that too,
/// use [`verify_chain_to`] with the incident's version.
pub fn verify_chain(events: &[StoredEvent]) -> Result<(), ChainBreak> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let incident_id = first.incident_id;
    let mut expected_prev = GENESIS;
    for (expected_seq, event) in (FIRST_SEQ..).zip(events) {
        if event.incident_id != incident_id {
            return Err(ChainBreak::WrongIncident {
                seq: event.seq,
                expected: incident_id,
                found: event.incident_id,
            });
        }
        if event.seq != expected_seq {
            return Err(ChainBreak::SeqMismatch {
                incident_id,
                expected: expected_seq,
                found: event.seq,
            });
        }
        if event.prev_hash != expected_prev {
            return Err(ChainBreak::PrevHashMismatch {
                incident_id,
                seq: event.seq,
                expected: expected_prev.to_owned(),
                stored: event.prev_hash.clone(),
            });
        }
        let computed = event.compute_hash();
        if computed != event.hash {
            return Err(ChainBreak::HashMismatch {
                incident_id,
                seq: event.seq,
                expected: computed,
                stored: event.hash.clone(),
            });
        }
        expected_prev = &event.hash;
    }
    Ok(())
}

/// [`verify_chain`], and the chain must reach `version` (the incident row's version), so that
/// deleting the latest events shows too.
pub fn verify_chain_to(
    incident_id: i64,
    events: &[StoredEvent],
    version: i64,
) -> Result<(), ChainBreak> {
    if let Some(event) = events.iter().find(|e| e.incident_id != incident_id) {
        return Err(ChainBreak::WrongIncident {
            seq: event.seq,
            expected: incident_id,
            found: event.incident_id,
        });
    }
    verify_chain(events)?;
    let found_last = events.last().map(|e| e.seq);
    if found_last.unwrap_or(FIRST_SEQ - 1) < version {
        return Err(ChainBreak::Truncated {
            incident_id,
            expected_last: version,
            found_last,
        });
    }
    if let Some(last) = found_last.filter(|&last| last > version) {
        // More events than the row admits: the row was rolled back or events were appended
        // behind its back; either way the two disagree.
        return Err(ChainBreak::SeqMismatch {
            incident_id,
            expected: version + 1,
            found: last,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 8, 30, 5).unwrap()
            + chrono::Duration::nanoseconds(nanos as i64)
    }

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_owned();
        (FIRST_SEQ..FIRST_SEQ + n)
            .map(|seq| {
                let mut e = StoredEvent {
                    incident_id: 42,
                    seq,
                    at: at(seq as u32 * 1_000),
                    actor: "lead@example.com".into(),
                    action: "comment".into(),
                    from: Some("triaged".into()),
                    to: "triaged".into(),
                    data: json!({ "text": format!("note {seq}") }),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn canonical_is_key_sorted_compact_and_microsecond() {
        let data = json!({ "zeta": 1, "alpha": { "b": [true, null], "a": "x" }, "mid": "中文" });
        let text = canonical(
            7,
            3,
            at(123_456_789),
            "a@b.c",
            "triage",
            None,
            "triaged",
            &data,
        );
        assert_eq!(
            text,
            r#"{"action":"triage","actor":"a@b.c","at":"2025-03-01T08:30:05.123456Z","data":{"alpha":{"a":"x","b":[true,null]},"mid":"中文","zeta":1},"from":null,"incident":7,"seq":3,"to":"triaged"}"#
        );
        // Same content, different insertion order and sub-microsecond noise: same text.
        let mut map = serde_json::Map::new();
        map.insert("mid".into(), json!("中文"));
        map.insert("alpha".into(), json!({ "a": "x", "b": [true, null] }));
        map.insert("zeta".into(), json!(1));
        let again = canonical(
            7,
            3,
            at(123_456_000),
            "a@b.c",
            "triage",
            None,
            "triaged",
            &Value::Object(map),
        );
        assert_eq!(text, again);
        assert!(!text.contains(' '));
        // printf '\n%s' "$text" | sha256sum   (a first event: prev_hash is GENESIS)
        assert_eq!(
            chain_hash(GENESIS, &text),
            "6cc2f17122b2494fa956e4c8c5d59ce26b5ef5017333b3035eee007f0c126f00"
        );
    }

    #[test]
    fn format_at_always_has_six_digits_and_truncates() {
        assert_eq!(format_at(at(0)), "2025-03-01T08:30:05.000000Z");
        assert_eq!(format_at(at(999_999_999)), "2025-03-01T08:30:05.999999Z");
        assert_eq!(truncate_micros(at(1_999)), at(1_000));
    }

    #[test]
    fn micros_serde_round_trips() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "micros")]
            t: DateTime<Utc>,
        }
        let v = serde_json::to_value(T { t: at(5_000) }).unwrap();
        assert_eq!(v, json!({ "t": "2025-03-01T08:30:05.000005Z" }));
        assert_eq!(serde_json::from_value::<T>(v).unwrap(), T { t: at(5_000) });
        let offset: T =
            serde_json::from_value(json!({ "t": "2025-03-01T16:30:05.0000059+08:00" })).unwrap();
        assert_eq!(offset.t, at(5_000));
    }

    #[test]
    fn chain_hash_known_answer() {
        // printf '%s\n%s' 'abc' '{"a":1}' | sha256sum
        assert_eq!(
            chain_hash("abc", r#"{"a":1}"#),
            "76d60f196e163a815fca6ce112418a550ab4e61e1870c2bfc932fb0f011efb33"
        );
        // printf '\n%s' '{"a":1}' | sha256sum   (GENESIS is empty: the text starts with "\n")
        assert_eq!(
            chain_hash(GENESIS, r#"{"a":1}"#),
            "7395dc66860499cb2b8970e17094ec53ed1ff54e7067ad619f884917096166b0"
        );
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(&[]), Ok(()));
        let events = chain(5);
        assert_eq!(verify_chain(&events), Ok(()));
        assert_eq!(verify_chain_to(42, &events, 5), Ok(()));
        assert_eq!(verify_chain_to(42, &[], 0), Ok(()));
    }

    #[test]
    fn edited_event_is_found() {
        let mut events = chain(5);
        events[2].data = json!({ "text": "rewritten" });
        let err = verify_chain(&events).unwrap_err();
        assert!(
            matches!(err, ChainBreak::HashMismatch { seq: 3, .. }),
            "{err:?}"
        );
        assert_eq!(err.seq(), 3);
        assert!(
            err.to_string()
                .contains("event 3 of incident 42 was altered"),
            "{err}"
        );

        // Re-hashing the edited event moves the break to the next link, it does not hide it.
        events[2].hash = events[2].compute_hash();
        let err = verify_chain(&events).unwrap_err();
        assert!(
            matches!(err, ChainBreak::PrevHashMismatch { seq: 4, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("does not link to event 3"),
            "{err}"
        );
    }

    #[test]
    fn edited_timestamp_below_a_microsecond_is_not_a_change() {
        let mut events = chain(2);
        events[1].at += chrono::Duration::nanoseconds(999);
        assert_eq!(verify_chain(&events), Ok(()));
        events[1].at += chrono::Duration::nanoseconds(1);
        assert!(verify_chain(&events).is_err());
    }

    #[test]
    fn edited_prev_hash_is_found() {
        let mut events = chain(4);
        events[1].prev_hash = "0".repeat(64);
        let err = verify_chain(&events).unwrap_err();
        assert!(
            matches!(err, ChainBreak::PrevHashMismatch { seq: 2, .. }),
            "{err:?}"
        );

        let mut events = chain(4);
        events[0].prev_hash = "f".repeat(64);
        events[0].hash = events[0].compute_hash();
        let err = verify_chain(&events).unwrap_err();
        assert!(
            matches!(err, ChainBreak::PrevHashMismatch { seq: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("should start the chain"), "{err}");
    }

    #[test]
    fn deleted_event_is_found() {
        let mut events = chain(5);
        events.remove(2);
        let err = verify_chain(&events).unwrap_err();
        assert_eq!(
            err,
            ChainBreak::SeqMismatch {
                incident_id: 42,
                expected: 3,
                found: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "event 3 of incident 42 is missing: the log goes on at event 4"
        );

        // Renumbering to close the gap breaks the link instead.
        events[2].seq = 3;
        events[3].seq = 4;
        assert!(matches!(
            verify_chain(&events).unwrap_err(),
            ChainBreak::PrevHashMismatch { seq: 3, .. }
        ));

        let mut events = chain(3);
        events.remove(0);
        assert!(matches!(
            verify_chain(&events).unwrap_err(),
            ChainBreak::SeqMismatch {
                expected: 1,
                found: 2,
                ..
            }
        ));
    }

    #[test]
    fn repeated_and_foreign_events_are_found() {
        let mut events = chain(3);
        let copy = events[1].clone();
        events.insert(2, copy);
        let err = verify_chain(&events).unwrap_err();
        assert!(
            err.to_string().contains("repeated or out of order"),
            "{err}"
        );

        let mut events = chain(3);
        events[1].incident_id = 43;
        let err = verify_chain(&events).unwrap_err();
        assert_eq!(
            err.to_string(),
            "event 2 in the log of incident 42 belongs to incident 43"
        );
    }

    #[test]
    fn truncation_needs_the_version() {
        let events = chain(5);
        assert_eq!(verify_chain(&events[..3]), Ok(()));
        let err = verify_chain_to(42, &events[..3], 5).unwrap_err();
        assert_eq!(
            err,
            ChainBreak::Truncated {
                incident_id: 42,
                expected_last: 5,
                found_last: Some(3)
            }
        );
        assert_eq!(err.seq(), 4);
        assert!(err.to_string().contains("latest events were deleted"));
        assert!(matches!(
            verify_chain_to(42, &[], 2).unwrap_err(),
            ChainBreak::Truncated {
                found_last: None,
                ..
            }
        ));
        assert!(verify_chain_to(42, &events, 4).is_err());
        assert!(verify_chain_to(41, &events, 5).is_err());
    }
}
