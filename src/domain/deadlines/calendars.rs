//! Calendars as configured and imported: each year an official arrangement covers (with its
//! source named), the provisional rule for every other year, and the working days both make.
//!
//! A calendar is built from three places, in this order of precedence for the same year:
//! a year imported into the database (`rectify calendar import`), a file the configuration names
//! (`files`), the configuration itself (`years`). Every year no official arrangement covers is
//! filled from the jurisdiction's statutory rule ([`Jurisdiction::statutory`]) and is
//! *provisional*: any due instant that depends on such a year says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, RwLock};

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};

use super::calendar::{HolidayCalendar, is_weekend};
use super::jurisdiction::{Jurisdiction, RULE_YEARS};

/// The name a clock gives to mean "the calendar of `[deadlines.authority]`".
pub const AUTHORITY: &str = "authority";

/// One year's official arrangement: its public holidays (and rest days moved next to them) and
/// its make-up working days, with the document it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficialYear {
    pub year: i32,
    /// The official document, named so a reader can find it (title, number, date).
    pub source: String,
    /// Days off: statutory holidays and the rest days of the arrangement (放假).
    #[serde(default, alias = "off", deserialize_with = "date_set")]
    pub holidays: BTreeSet<NaiveDate>,
    /// Saturdays and Sundays worked to make up for a bridged holiday (调休上班).
    #[serde(default, deserialize_with = "date_set")]
    pub workdays: BTreeSet<NaiveDate>,
}

impl OfficialYear {
    /// Every problem with the year, each naming the date or field.
    pub fn problems(&self) -> Vec<String> {
        let y = self.year;
        let mut out = Vec::new();
        if !RULE_YEARS.contains(&y) {
            out.push(format!(
                "year {y} is outside {}–{}",
                RULE_YEARS.start(),
                RULE_YEARS.end()
            ));
            return out;
        }
        if self.source.trim().is_empty() {
            out.push(format!(
                "year {y}: `source` must name the official document"
            ));
        }
        // A notice for year Y may reach back into late December of Y-1 (元旦 2024 began on
        // 2023-12-30); anything else is a date typed into the wrong year.
        let first = NaiveDate::from_ymd_opt(y - 1, 12, 1).expect("valid");
        let last = NaiveDate::from_ymd_opt(y, 12, 31).expect("valid");
        for d in self.holidays.iter().chain(&self.workdays) {
            if *d < first || *d > last {
                out.push(format!("year {y}: {d} is outside the year"));
            }
        }
        for d in self.holidays.intersection(&self.workdays) {
            out.push(format!("year {y}: {d} is both a holiday and a workday"));
        }
        for d in self.workdays.iter().filter(|d| !is_weekend(**d)) {
            // Make-up days are Saturdays or Sundays; a weekday here is almost certainly a date
            // typed wrong.
            out.push(format!("year {y}: workday {d} is not a Saturday or Sunday"));
        }
        out
    }
}

/// Dates as `"YYYY-MM-DD"` strings (the configuration loader hands TOML date literals over as
/// such strings too).
fn date_set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<NaiveDate>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|e| {
                serde::de::Error::custom(format!("{s:?} is not a date YYYY-MM-DD: {e}"))
            })
        })
        .collect()
}

/// Where an official year came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `[[deadlines.calendars.NAME.years]]`.
    Config,
    /// A file named by the configuration's `files`.
    File(String),
    /// `rectify calendar import`, at revision `revision`.
    Imported { revision: i64 },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Config => f.write_str("configuration"),
            Origin::File(p) => write!(f, "file {p}"),
            Origin::Imported { revision } => write!(f, "imported (calendar revision {revision})"),
        }
    }
}

/// `[deadlines.calendars.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Whose statutory holidays fill the years no official arrangement covers.
    pub jurisdiction: Jurisdiction,
    /// The zone of the calendar's dates; the jurisdiction's when absent.
    #[serde(default)]
    pub zone: Option<Tz>,
    #[serde(default)]
    pub years: Vec<OfficialYear>,
    /// Calendar files (the `rectify calendar import` format), relative to the configuration
    /// folder.
    #[serde(default)]
    pub files: Vec<String>,
    /// The layout before calendars knew their years; refused with directions.
    #[serde(default)]
    pub off: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub workdays: Option<serde::de::IgnoredAny>,
}

/// `[deadlines.authority]`: whose calendar and zone count for reports to the market
/// surveillance authority (EU AI Act Art. 73).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    pub jurisdiction: Jurisdiction,
}

impl Default for Authority {
    fn default() -> Self {
        Authority {
            jurisdiction: Jurisdiction::Eu,
        }
    }
}

/// A calendar file, as `rectify calendar import` reads it: one year at the top level, or
/// several as `[[years]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFileRaw {
    calendar: String,
    year: Option<i32>,
    source: Option<String>,
    #[serde(default, alias = "off", deserialize_with = "date_set")]
    holidays: BTreeSet<NaiveDate>,
    #[serde(default, deserialize_with = "date_set")]
    workdays: BTreeSet<NaiveDate>,
    #[serde(default)]
    years: Vec<OfficialYear>,
}

/// A parsed calendar file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFile {
    pub calendar: String,
    pub years: Vec<OfficialYear>,
}

impl CalendarFile {
    /// Reads a calendar file's text (TOML). Every problem is named, with the line where the
    /// TOML reader can tell it.
    pub fn parse(text: &str) -> Result<CalendarFile, String> {
        // TOML date literals (2027-01-01 without quotes) are what people type; read them as the
        // date strings the rest expects.
        let mut value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        dates_to_strings(&mut value);
        let raw = CalendarFileRaw::deserialize(value).map_err(|e| e.to_string())?;
        let mut years = raw.years;
        match (raw.year, raw.source) {
            (Some(year), Some(source)) => years.insert(
                0,
                OfficialYear {
                    year,
                    source,
                    holidays: raw.holidays,
                    workdays: raw.workdays,
                },
            ),
            (Some(year), None) => {
                return Err(format!(
                    "year {year}: `source` must name the official document"
                ));
            }
            (None, _) if !raw.holidays.is_empty() || !raw.workdays.is_empty() => {
                return Err("`holidays` and `workdays` need a `year`".into());
            }
            (None, Some(_)) => return Err("`source` needs a `year`".into()),
            (None, None) => {}
        }
        if years.is_empty() {
            return Err(
                "the file holds no year (give `year`, `source`, `holidays`, `workdays`)".into(),
            );
        }
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        for y in &years {
            if !seen.insert(y.year) {
                problems.push(format!("year {} appears twice", y.year));
            }
            problems.extend(y.problems());
        }
        if problems.is_empty() {
            Ok(CalendarFile {
                calendar: raw.calendar.trim().to_owned(),
                years,
            })
        } else {
            Err(problems.join("; "))
        }
    }
}

fn dates_to_strings(v: &mut toml::Value) {
    match v {
        toml::Value::Datetime(d) => *v = toml::Value::String(d.to_string()),
        toml::Value::Array(a) => a.iter_mut().for_each(dates_to_strings),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| dates_to_strings(v)),
        _ => {}
    }
}

/// One calendar, built: official years with their origin, and the working days of every year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub name: String,
    pub jurisdiction: Jurisdiction,
    pub zone: Tz,
    pub official: BTreeMap<i32, (OfficialYear, Origin)>,
    /// Working days: the official years, and the statutory rule for the rest.
    pub days: HolidayCalendar,
}

impl Calendar {
    pub fn build(
        name: &str,
        jurisdiction: Jurisdiction,
        zone: Tz,
        official: BTreeMap<i32, (OfficialYear, Origin)>,
    ) -> Calendar {
        let mut days = HolidayCalendar::default();
        for year in RULE_YEARS.filter(|y| !official.contains_key(y)) {
            days.off
                .extend(jurisdiction.statutory(year).into_iter().map(|(d, _)| d));
        }
        // A notice may reach into late December of the year before; what it says there is
        // official and wins over the rule.
        for (y, _) in official.values() {
            for d in &y.workdays {
                days.off.remove(d);
            }
        }
        for (y, _) in official.values() {
            days.off.extend(y.holidays.iter().copied());
            days.workdays.extend(y.workdays.iter().copied());
        }
        Calendar {
            name: name.to_owned(),
            jurisdiction,
            zone,
            official,
            days,
        }
    }

    /// Whether an official arrangement covers `year`.
    pub fn is_official(&self, year: i32) -> bool {
        self.official.contains_key(&year)
    }

    /// The last day of the unbroken run of official years that starts at the first one; `None`
    /// without any official year.
    pub fn covered_through(&self) -> Option<NaiveDate> {
        let mut years = self.official.keys().copied();
        let mut last = years.next()?;
        for y in years {
            if y != last + 1 {
                break;
            }
            last = y;
        }
        NaiveDate::from_ymd_opt(last, 12, 31)
    }

    /// The years from `from` to `to` (inclusive) that no official arrangement covers.
    pub fn provisional_years(&self, from: NaiveDate, to: NaiveDate) -> Vec<i32> {
        (from.year()..=to.year())
            .filter(|y| !self.is_official(*y))
            .collect()
    }

    /// The years with an official arrangement, e.g. "2025–2026, 2028".
    pub fn covered_years(&self) -> String {
        let years: Vec<i32> = self.official.keys().copied().collect();
        let mut parts = Vec::new();
        let mut i = 0;
        while i < years.len() {
            let start = years[i];
            let mut end = start;
            while i + 1 < years.len() && years[i + 1] == end + 1 {
                i += 1;
                end = years[i];
            }
            parts.push(if start == end {
                start.to_string()
            } else {
                format!("{start}–{end}")
            });
            i += 1;
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A year imported into the database, as loaded at start-up or after an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedYear {
    pub calendar: String,
    pub year: OfficialYear,
    pub revision: i64,
}

/// Every calendar the policy can name, as of one calendar revision.
#[derive(Debug, Clone)]
pub struct CalendarSet {
    /// The database's calendar revision these were built from; 0 before any was read.
    pub revision: i64,
    pub authority: Jurisdiction,
    pub calendars: BTreeMap<String, Calendar>,
    configured: BTreeMap<String, CalendarConfig>,
    file_years: BTreeMap<String, Vec<(OfficialYear, String)>>,
    imported: Vec<ImportedYear>,
}

impl CalendarSet {
    fn build(
        configured: BTreeMap<String, CalendarConfig>,
        file_years: BTreeMap<String, Vec<(OfficialYear, String)>>,
        imported: Vec<ImportedYear>,
        authority: Jurisdiction,
        revision: i64,
    ) -> CalendarSet {
        let mut calendars = BTreeMap::new();
        for (name, cfg) in &configured {
            let mut official: BTreeMap<i32, (OfficialYear, Origin)> = BTreeMap::new();
            for y in &cfg.years {
                official.insert(y.year, (y.clone(), Origin::Config));
            }
            for (y, file) in file_years.get(name).into_iter().flatten() {
                official.insert(y.year, (y.clone(), Origin::File(file.clone())));
            }
            for i in imported.iter().filter(|i| &i.calendar == name) {
                official.insert(
                    i.year.year,
                    (
                        i.year.clone(),
                        Origin::Imported {
                            revision: i.revision,
                        },
                    ),
                );
            }
            let zone = cfg.zone.unwrap_or_else(|| cfg.jurisdiction.zone());
            calendars.insert(
                name.clone(),
                Calendar::build(name, cfg.jurisdiction, zone, official),
            );
        }
        // Every jurisdiction is there to be named (`calendar = "de"`, or through the
        // authority), by rule alone where nothing official was given.
        for j in Jurisdiction::ALL {
            let name = j.code().to_ascii_lowercase();
            if calendars.contains_key(&name) {
                continue;
            }
            let official = imported
                .iter()
                .filter(|i| i.calendar == name)
                .map(|i| {
                    (
                        i.year.year,
                        (
                            i.year.clone(),
                            Origin::Imported {
                                revision: i.revision,
                            },
                        ),
                    )
                })
                .collect();
            calendars.insert(name.clone(), Calendar::build(&name, j, j.zone(), official));
        }
        CalendarSet {
            revision,
            authority,
            calendars,
            configured,
            file_years,
            imported,
        }
    }

    /// The calendar a clock's `calendar` names: a configured or built-in name, or
    /// [`AUTHORITY`].
    pub fn get(&self, name: &str) -> Option<&Calendar> {
        if name == AUTHORITY {
            return self.authority_calendar();
        }
        self.calendars
            .get(name)
            .or_else(|| self.calendars.get(&name.to_ascii_lowercase()))
    }

    /// The authority's calendar: the first configured one of its jurisdiction, else the
    /// built-in one.
    pub fn authority_calendar(&self) -> Option<&Calendar> {
        let j = self.authority;
        self.configured
            .iter()
            .find(|(_, c)| c.jurisdiction == j)
            .and_then(|(n, _)| self.calendars.get(n))
            .or_else(|| self.calendars.get(&j.code().to_ascii_lowercase()))
    }

    /// The configured calendars' names, in order.
    pub fn configured_names(&self) -> impl Iterator<Item = &str> {
        self.configured.keys().map(String::as_str)
    }

    /// The same calendars with the database's imported years, as of `revision`.
    pub fn with_imported(&self, imported: Vec<ImportedYear>, revision: i64) -> CalendarSet {
        CalendarSet::build(
            self.configured.clone(),
            self.file_years.clone(),
            imported,
            self.authority,
            revision,
        )
    }

    /// A stable text of what the configuration (and its files) declares, for noticing at
    /// start-up that it changed.
    pub fn config_text(&self) -> String {
        let mut out = String::new();
        for (name, cal) in &self.configured {
            out.push_str(&format!(
                "[{name}] {} {}\n",
                cal.jurisdiction,
                cal.zone.map_or("", |z| z.name())
            ));
            let mut years: Vec<&OfficialYear> = cal.years.iter().collect();
            years.extend(
                self.file_years
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|(y, _)| y),
            );
            years.sort_by_key(|y| y.year);
            for y in years {
                out.push_str(&year_text(y));
            }
        }
        out.push_str(&format!("authority {}\n", self.authority));
        out
    }

    /// Each configured official year as one line, keyed by (calendar, year), for describing
    /// what changed between two configurations.
    pub fn config_years(&self) -> BTreeMap<(String, i32), (String, String)> {
        let mut out = BTreeMap::new();
        for (name, cal) in &self.configured {
            for y in &cal.years {
                out.insert((name.clone(), y.year), (year_text(y), y.source.clone()));
            }
            for (y, _) in self.file_years.get(name).into_iter().flatten() {
                out.insert((name.clone(), y.year), (year_text(y), y.source.clone()));
            }
        }
        out
    }

    /// Problems with the calendars as configured.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, cfg) in &self.configured {
            if name == AUTHORITY {
                out.push(format!(
                    "calendar {name:?}: the name is reserved for [deadlines.authority]"
                ));
            }
            if cfg.off.is_some() || cfg.workdays.is_some() {
                out.push(format!(
                    "calendar {name:?}: `off` and `workdays` now belong to a year: write \
                     [[deadlines.calendars.{name}.years]] with year, source, holidays and \
                     workdays (README: Calendars)"
                ));
            }
            let mut seen = BTreeSet::new();
            let file_years = self
                .file_years
                .get(name)
                .into_iter()
                .flatten()
                .map(|(y, _)| y);
            for y in cfg.years.iter().chain(file_years) {
                if !seen.insert(y.year) {
                    out.push(format!("calendar {name:?}: year {} is given twice", y.year));
                }
                for p in y.problems() {
                    out.push(format!("calendar {name:?}: {p}"));
                }
            }
        }
        for (name, cal) in &self.calendars {
            for d in cal.days.off.intersection(&cal.days.workdays) {
                out.push(format!(
                    "calendar {name:?}: {d} is both a holiday and a workday"
                ));
            }
        }
        out
    }
}

fn year_text(y: &OfficialYear) -> String {
    let dates = |s: &BTreeSet<NaiveDate>| {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{} {:?} off[{}] work[{}]\n",
        y.year,
        y.source.trim(),
        dates(&y.holidays),
        dates(&y.workdays)
    )
}

/// The calendars a policy uses, shared by every copy of the policy (the web handlers, the
/// intake writer, the sweep) so that loading a year reaches all of them at once.
#[derive(Clone)]
pub struct Calendars(Arc<RwLock<Arc<CalendarSet>>>);

impl Calendars {
    pub fn new(configured: BTreeMap<String, CalendarConfig>, authority: Jurisdiction) -> Calendars {
        Calendars(Arc::new(RwLock::new(Arc::new(CalendarSet::build(
            configured,
            BTreeMap::new(),
            Vec::new(),
            authority,
            0,
        )))))
    }

    /// The calendars as they are now; a computation uses one snapshot throughout.
    pub fn snapshot(&self) -> Arc<CalendarSet> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the calendars for every holder of the policy.
    pub fn replace(&self, set: CalendarSet) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
    }

    /// Adds the years of the files the configuration names, read by `read` (IO stays with the
    /// caller).
    ///
    /// # Errors
    ///
    /// A file that cannot be read or parsed, or that names another calendar.
    pub fn load_files(&self, read: impl Fn(&str) -> Result<String, String>) -> Result<(), String> {
        let set = self.snapshot();
        let mut file_years: BTreeMap<String, Vec<(OfficialYear, String)>> = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, cfg) in &set.configured {
            for path in &cfg.files {
                let parsed = read(path).and_then(|text| CalendarFile::parse(&text));
                match parsed {
                    Ok(f) if f.calendar != *name => errors.push(format!(
                        "calendar {name:?}: file {path} is for calendar {:?}",
                        f.calendar
                    )),
                    Ok(f) => file_years
                        .entry(name.clone())
                        .or_default()
                        .extend(f.years.into_iter().map(|y| (y, path.clone()))),
                    Err(e) => errors.push(format!("calendar {name:?}: file {path}: {e}")),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        self.replace(CalendarSet::build(
            set.configured.clone(),
            file_years,
            set.imported.clone(),
            set.authority,
            set.revision,
        ));
        Ok(())
    }
}

impl fmt::Debug for Calendars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.snapshot();
        f.debug_struct("Calendars")
            .field("revision", &s.revision)
            .field("calendars", &s.calendars.keys().collect::<Vec<_>>())
            .finish()
    }
}
