//! Instants as a reporter reads them, in the reader's convention: "2026年12月23日 24:00（北京时间）"
//! for a Chinese reader of a page kept in China's time, "23 December 2026, 24:00 (end of day,
//! Asia/Shanghai time)" for an English one. Staff pages keep the ISO-like form of `format`.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use crate::domain::locale::Locale;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn zone_zh(zone: Tz) -> String {
    // Every zone that keeps China's standard time is "Beijing time" to a Chinese reader.
    match zone {
        Tz::Asia__Shanghai | Tz::Asia__Chongqing | Tz::Asia__Harbin | Tz::PRC => "北京时间".into(),
        z => z.name().to_owned(),
    }
}

fn day(d: NaiveDate, locale: Locale) -> String {
    if locale.is_zh() {
        format!("{}年{}月{}日", d.year(), d.month(), d.day())
    } else {
        format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
    }
}

fn with_zone(text: String, zone: Tz, locale: Locale, end_of_day: bool) -> String {
    if locale.is_zh() {
        format!("{text}（{}）", zone_zh(zone))
    } else if end_of_day {
        format!("{text} (end of day, {} time)", zone.name())
    } else {
        format!("{text} ({} time)", zone.name())
    }
}

/// "2026年11月29日 08:05（北京时间）" / "29 November 2026, 08:05 (Asia/Shanghai time)"
pub fn reader_time(at: DateTime<Utc>, zone: Tz, locale: Locale) -> String {
    let local = at.with_timezone(&zone);
    let sep = if locale.is_zh() { " " } else { ", " };
    let text = format!(
        "{}{sep}{:02}:{:02}",
        day(local.date_naive(), locale),
        local.hour(),
        local.minute()
    );
    with_zone(text, zone, locale, false)
}

/// A period ending at local midnight reads as 24:00 of its last day, as people count days.
pub fn reader_deadline(at: DateTime<Utc>, zone: Tz, locale: Locale) -> String {
    let local = at.with_timezone(&zone);
    if (
        local.hour(),
        local.minute(),
        local.second(),
        local.nanosecond(),
    ) == (0, 0, 0, 0)
    {
        let last = local.date_naive().pred_opt().unwrap_or(local.date_naive());
        let sep = if locale.is_zh() { " " } else { ", " };
        with_zone(
            format!("{}{sep}24:00", day(last, locale)),
            zone,
            locale,
            true,
        )
    } else {
        reader_time(at, zone, locale)
    }
}

/// "2026年12月23日" / "23 December 2026"
pub fn reader_day(at: DateTime<Utc>, zone: Tz, locale: Locale) -> String {
    day(at.with_timezone(&zone).date_naive(), locale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn chinese_readers_get_chinese_dates_and_beijing_time() {
        let z = chrono_tz::Asia::Shanghai;
        assert_eq!(
            reader_deadline(utc("2026-12-23T16:00:00Z"), z, Locale::ZhCn),
            "2026年12月23日 24:00（北京时间）"
        );
        assert_eq!(
            reader_time(utc("2026-11-29T00:05:00Z"), z, Locale::ZhCn),
            "2026年11月29日 08:05（北京时间）"
        );
        assert_eq!(
            reader_time(
                utc("2026-11-29T00:05:00Z"),
                chrono_tz::Europe::Berlin,
                Locale::ZhCn
            ),
            "2026年11月29日 01:05（Europe/Berlin）"
        );
    }

    #[test]
    fn english_readers_get_the_zone_named() {
        let z = chrono_tz::Asia::Shanghai;
        assert_eq!(
            reader_deadline(utc("2026-12-23T16:00:00Z"), z, Locale::En),
            "23 December 2026, 24:00 (end of day, Asia/Shanghai time)"
        );
        assert_eq!(
            reader_time(utc("2026-11-29T00:05:00Z"), z, Locale::En),
            "29 November 2026, 08:05 (Asia/Shanghai time)"
        );
    }
}
