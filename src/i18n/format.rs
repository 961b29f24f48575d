//! How instants are shown to people: in a zone, with the zone named.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::locale::Locale;

/// "2026-11-29 08:05 (Asia/Shanghai)"
pub fn local_time(at: DateTime<Utc>, zone: Tz, _locale: Locale) -> String {
    format!(
        "{} ({})",
        at.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
        zone.name()
    )
}

/// The last day of a period that ends at 24:00 local time: "2026-12-18 24:00 (Asia/Shanghai)"
/// reads better than the equivalent "2026-12-19 00:00" for people counting days.
pub fn local_deadline(at: DateTime<Utc>, zone: Tz, locale: Locale) -> String {
    let local = at.with_timezone(&zone);
    if local.format("%H:%M:%S").to_string() == "00:00:00" {
        let day = local.date_naive().pred_opt().unwrap_or(local.date_naive());
        let end = if locale.is_zh() {
            "24:00"
        } else {
            "24:00 (end of day)"
        };
        format!("{} {end} ({})", day.format("%Y-%m-%d"), zone.name())
    } else {
        local_time(at, zone, locale)
    }
}
