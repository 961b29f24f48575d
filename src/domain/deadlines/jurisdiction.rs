//! Whose public holidays count, and the statutory rule that gives them for a year no official
//! arrangement covers yet (the provisional calendar).
//!
//! China: the National Annual Holidays Measures (全国年节及纪念日放假办法), in the version in
//! force that year, from the Chinese lunisolar calendar (the `tyme4rs` crate; see the test
//! against the published dates). The EU side: the fixed-date and Easter-based public holidays
//! of each member state's list, and the EU institutions' own list.
//!
//! A rule knows only the statutory days. What the official yearly arrangement adds (bridge days
//! moved next to a holiday, make-up working Saturdays, a substitute Monday) cannot be known by
//! rule, which is why a year that only the rule covers is marked provisional wherever a due
//! instant depends on it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use super::super::severity::UnknownName;
use super::super::spelling;

/// The years the rules are built for. The lunisolar calendar is checked against published
/// dates inside this range; a clock reaching outside it counts weekends only, as provisional.
pub const RULE_YEARS: std::ops::RangeInclusive<i32> = 1950..=2100;

/// A jurisdiction whose public holidays a calendar follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Jurisdiction {
    /// People's Republic of China (State Council arrangement each year).
    #[serde(rename = "CN")]
    Cn,
    /// The EU institutions (the Commission's list, Brussels).
    #[serde(rename = "EU")]
    Eu,
    #[serde(rename = "BE")]
    Be,
    /// Germany: the nationwide days only (Länder add their own).
    #[serde(rename = "DE")]
    De,
    #[serde(rename = "FR")]
    Fr,
    #[serde(rename = "IE")]
    Ie,
    #[serde(rename = "NL")]
    Nl,
    #[serde(rename = "IT")]
    It,
    /// Spain: the national days only (the autonomous communities add their own).
    #[serde(rename = "ES")]
    Es,
}

impl Jurisdiction {
    pub const ALL: [Jurisdiction; 9] = [
        Jurisdiction::Cn,
        Jurisdiction::Eu,
        Jurisdiction::Be,
        Jurisdiction::De,
        Jurisdiction::Fr,
        Jurisdiction::Ie,
        Jurisdiction::Nl,
        Jurisdiction::It,
        Jurisdiction::Es,
    ];

    /// The code as configured: `CN`, `EU`, `BE`, …
    pub fn code(self) -> &'static str {
        match self {
            Jurisdiction::Cn => "CN",
            Jurisdiction::Eu => "EU",
            Jurisdiction::Be => "BE",
            Jurisdiction::De => "DE",
            Jurisdiction::Fr => "FR",
            Jurisdiction::Ie => "IE",
            Jurisdiction::Nl => "NL",
            Jurisdiction::It => "IT",
            Jurisdiction::Es => "ES",
        }
    }

    fn folded(self) -> &'static str {
        match self {
            Jurisdiction::Cn => "cn",
            Jurisdiction::Eu => "eu",
            Jurisdiction::Be => "be",
            Jurisdiction::De => "de",
            Jurisdiction::Fr => "fr",
            Jurisdiction::Ie => "ie",
            Jurisdiction::Nl => "nl",
            Jurisdiction::It => "it",
            Jurisdiction::Es => "es",
        }
    }

    /// The time zone whose local dates count (mainland Spain's for ES).
    pub fn zone(self) -> Tz {
        match self {
            Jurisdiction::Cn => Tz::Asia__Shanghai,
            Jurisdiction::Eu | Jurisdiction::Be => Tz::Europe__Brussels,
            Jurisdiction::De => Tz::Europe__Berlin,
            Jurisdiction::Fr => Tz::Europe__Paris,
            Jurisdiction::Ie => Tz::Europe__Dublin,
            Jurisdiction::Nl => Tz::Europe__Amsterdam,
            Jurisdiction::It => Tz::Europe__Rome,
            Jurisdiction::Es => Tz::Europe__Madrid,
        }
    }

    /// A name for people.
    pub fn name(self) -> &'static str {
        match self {
            Jurisdiction::Cn => "China",
            Jurisdiction::Eu => "EU institutions",
            Jurisdiction::Be => "Belgium",
            Jurisdiction::De => "Germany (national days)",
            Jurisdiction::Fr => "France",
            Jurisdiction::Ie => "Ireland",
            Jurisdiction::Nl => "Netherlands",
            Jurisdiction::It => "Italy",
            Jurisdiction::Es => "Spain (national days)",
        }
    }

    /// A name for people reading Chinese.
    pub fn name_zh(self) -> &'static str {
        match self {
            Jurisdiction::Cn => "中国",
            Jurisdiction::Eu => "欧盟机构",
            Jurisdiction::Be => "比利时",
            Jurisdiction::De => "德国（全国性节日）",
            Jurisdiction::Fr => "法国",
            Jurisdiction::Ie => "爱尔兰",
            Jurisdiction::Nl => "荷兰",
            Jurisdiction::It => "意大利",
            Jurisdiction::Es => "西班牙（全国性节日）",
        }
    }

    /// The law the provisional rule follows.
    pub fn rule_source(self) -> &'static str {
        match self {
            Jurisdiction::Cn => {
                "全国年节及纪念日放假办法 (National Annual Holidays Measures), as amended 2024, \
                 and the versions in force before 2025"
            }
            Jurisdiction::Eu => {
                "public holidays of the EU institutions (fixed dates, Easter-based days, \
                 24-31 December closure)"
            }
            Jurisdiction::Be => "Belgian public holidays (loi du 4 janvier 1974)",
            Jurisdiction::De => "German nationwide public holidays (Einigungsvertrag, Länder laws)",
            Jurisdiction::Fr => "Code du travail, art. L3133-1",
            Jurisdiction::Ie => "Organisation of Working Time Act 1997, Schedule 2",
            Jurisdiction::Nl => "Algemene termijnenwet, art. 3",
            Jurisdiction::It => "Legge 27 maggio 1949, n. 260 (4 October from 2026)",
            Jurisdiction::Es => "Estatuto de los Trabajadores, art. 37.2 (national days)",
        }
    }

    /// Where each year's official arrangement is published: what to import every year.
    pub fn official_source(self) -> &'static str {
        match self {
            Jurisdiction::Cn => {
                "国务院办公厅关于部分节假日安排的通知 (State Council General Office notice, \
                 published each autumn for the next year)"
            }
            Jurisdiction::Eu => {
                "the Commission's list of public holidays of the EU institutions, and the \
                 Official Journal's yearly list of public holidays (Reg. 1182/71 Art. 2)"
            }
            Jurisdiction::Be => "Moniteur belge / Belgisch Staatsblad; the OJ yearly list",
            Jurisdiction::De => "the Länder holiday laws; the OJ yearly list",
            Jurisdiction::Fr => "Légifrance (Code du travail); the OJ yearly list",
            Jurisdiction::Ie => "Iris Oifigiúil; the OJ yearly list",
            Jurisdiction::Nl => "Staatscourant; the OJ yearly list",
            Jurisdiction::It => "Gazzetta Ufficiale; the OJ yearly list",
            Jurisdiction::Es => {
                "BOE: Resolución de la Dirección General de Trabajo (fiestas laborales), each \
                 autumn; the OJ yearly list"
            }
        }
    }

    /// The statutory public holidays of `year`, by rule, with their names. Empty outside
    /// [`RULE_YEARS`].
    pub fn statutory(self, year: i32) -> Vec<(NaiveDate, &'static str)> {
        if !RULE_YEARS.contains(&year) {
            return Vec::new();
        }
        match self {
            Jurisdiction::Cn => china(year),
            _ => europe(self, year),
        }
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Jurisdiction {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        spelling::find(&Jurisdiction::ALL, Jurisdiction::folded, s).ok_or_else(|| UnknownName {
            what: "jurisdiction",
            value: s.to_owned(),
            expected: "CN, EU, BE, DE, FR, IE, NL, IT or ES",
        })
    }
}

crate::deserialize_by_spelling!(Jurisdiction);

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid fixed holiday date")
}

// ---------------------------------------------------------------------------
// China
// ---------------------------------------------------------------------------

/// The lunisolar and solar-term dates the Chinese rule needs, for one Gregorian year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LunarDates {
    /// 除夕: the last day of the twelfth month of the previous lunar year.
    pub new_years_eve: NaiveDate,
    /// 正月初一.
    pub new_year: NaiveDate,
    /// 清明: the day of the Qingming solar term (Beijing time).
    pub qingming: NaiveDate,
    /// 五月初五.
    pub dragon_boat: NaiveDate,
    /// 八月十五.
    pub mid_autumn: NaiveDate,
}

static LUNAR: LazyLock<BTreeMap<i32, LunarDates>> = LazyLock::new(|| {
    RULE_YEARS
        .filter_map(|y| lunar_dates_of(y).map(|d| (y, d)))
        .collect()
});

fn lunar_dates_of(year: i32) -> Option<LunarDates> {
    use tyme4rs::tyme::Tyme;
    use tyme4rs::tyme::lunar::LunarDay;
    use tyme4rs::tyme::solar::{SolarDay, SolarTerm};
    let y = isize::try_from(year).ok()?;
    let to_date = |d: SolarDay| {
        NaiveDate::from_ymd_opt(
            i32::try_from(d.get_year()).ok()?,
            u32::try_from(d.get_month()).ok()?,
            u32::try_from(d.get_day()).ok()?,
        )
    };
    let lunar = |m: isize, d: usize| LunarDay::new(y, m, d).ok().map(|l| l.get_solar_day());
    let first = LunarDay::new(y, 1, 1).ok()?;
    Some(LunarDates {
        new_years_eve: to_date(first.next(-1).get_solar_day())?,
        new_year: to_date(first.get_solar_day())?,
        qingming: to_date(SolarTerm::new(y, "清明").ok()?.get_solar_day())?,
        dragon_boat: to_date(lunar(5, 5)?)?,
        mid_autumn: to_date(lunar(8, 15)?)?,
    })
}

/// The lunisolar dates of `year`, within [`RULE_YEARS`].
pub fn lunar_dates(year: i32) -> Option<LunarDates> {
    LUNAR.get(&year).copied()
}

/// The statutory days of the Measures in the version in force in `year`: 1949 (to 1998), the
/// 1999 amendment (three days at National Day, then at Labour Day), 2007 (effective 2008:
/// Qingming, Dragon Boat, Mid-Autumn; Spring Festival from New Year's Eve), 2013 (effective
/// 2014: Spring Festival from the first day) and 2024 (effective 2025: New Year's Eve again,
/// and 2 May).
fn china(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut out = vec![(ymd(year, 1, 1), "元旦 New Year's Day")];
    let Some(l) = lunar_dates(year) else {
        return out;
    };
    let day = |d: NaiveDate, n: u64| d.checked_add_days(Days::new(n)).expect("in range");
    let spring = "春节 Spring Festival";
    match year {
        2025.. | 2008..=2013 => out.push((l.new_years_eve, spring)),
        _ => {}
    }
    out.push((l.new_year, spring));
    out.push((day(l.new_year, 1), spring));
    if !(2008..=2013).contains(&year) {
        out.push((day(l.new_year, 2), spring));
    }
    if year >= 2008 {
        out.push((l.qingming, "清明节 Qingming"));
    }
    let labour = "劳动节 Labour Day";
    out.push((ymd(year, 5, 1), labour));
    match year {
        2025.. => out.push((ymd(year, 5, 2), labour)),
        2000..=2007 => {
            out.push((ymd(year, 5, 2), labour));
            out.push((ymd(year, 5, 3), labour));
        }
        _ => {}
    }
    if year >= 2008 {
        out.push((l.dragon_boat, "端午节 Dragon Boat Festival"));
        out.push((l.mid_autumn, "中秋节 Mid-Autumn Festival"));
    }
    let national = "国庆节 National Day";
    out.push((ymd(year, 10, 1), national));
    out.push((ymd(year, 10, 2), national));
    if year >= 1999 {
        out.push((ymd(year, 10, 3), national));
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Europe
// ---------------------------------------------------------------------------

/// Easter Sunday in the Gregorian calendar (the anonymous algorithm, Meeus/Jones/Butcher).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// The `n`-th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).expect("exists")
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
        .unwrap_or_else(|| nth_weekday(year, month, weekday, 4))
}

fn europe(j: Jurisdiction, year: i32) -> Vec<(NaiveDate, &'static str)> {
    let e = easter(year);
    let easter_plus = |n: i64| e + chrono::TimeDelta::days(n);
    let fixed = |m, d| ymd(year, m, d);
    let mut out: Vec<(NaiveDate, &'static str)> = vec![(fixed(1, 1), "New Year's Day")];
    let mut add = |d: NaiveDate, name: &'static str| out.push((d, name));
    match j {
        Jurisdiction::Cn => unreachable!("China has its own rule"),
        Jurisdiction::Eu => {
            add(fixed(1, 2), "Day after New Year's Day");
            add(easter_plus(-3), "Maundy Thursday");
            add(easter_plus(-2), "Good Friday");
            add(easter_plus(1), "Easter Monday");
            add(fixed(5, 1), "Labour Day");
            add(fixed(5, 9), "Schuman Declaration anniversary");
            add(easter_plus(39), "Ascension Day");
            add(easter_plus(40), "Day after Ascension Day");
            add(easter_plus(50), "Whit Monday");
            add(fixed(7, 21), "Belgian National Day");
            add(fixed(8, 15), "Assumption");
            add(fixed(11, 1), "All Saints' Day");
            add(fixed(11, 2), "All Souls' Day");
            for d in 24..=31 {
                add(fixed(12, d), "End-of-year closure");
            }
        }
        Jurisdiction::Be => {
            add(easter_plus(1), "Easter Monday");
            add(fixed(5, 1), "Labour Day");
            add(easter_plus(39), "Ascension Day");
            add(easter_plus(50), "Whit Monday");
            add(fixed(7, 21), "National Day");
            add(fixed(8, 15), "Assumption");
            add(fixed(11, 1), "All Saints' Day");
            add(fixed(11, 11), "Armistice Day");
            add(fixed(12, 25), "Christmas Day");
        }
        Jurisdiction::De => {
            add(easter_plus(-2), "Karfreitag");
            add(easter_plus(1), "Ostermontag");
            add(fixed(5, 1), "Tag der Arbeit");
            add(easter_plus(39), "Christi Himmelfahrt");
            add(easter_plus(50), "Pfingstmontag");
            add(fixed(10, 3), "Tag der Deutschen Einheit");
            add(fixed(12, 25), "1. Weihnachtstag");
            add(fixed(12, 26), "2. Weihnachtstag");
        }
        Jurisdiction::Fr => {
            add(easter_plus(1), "Lundi de Pâques");
            add(fixed(5, 1), "Fête du Travail");
            add(fixed(5, 8), "Victoire 1945");
            add(easter_plus(39), "Ascension");
            add(easter_plus(50), "Lundi de Pentecôte");
            add(fixed(7, 14), "Fête nationale");
            add(fixed(8, 15), "Assomption");
            add(fixed(11, 1), "Toussaint");
            add(fixed(11, 11), "Armistice");
            add(fixed(12, 25), "Noël");
        }
        Jurisdiction::Ie => {
            if year >= 2023 {
                // The first Monday of February, or 1 February when that is a Friday.
                let first = fixed(2, 1);
                let brigid = if first.weekday() == Weekday::Fri {
                    first
                } else {
                    nth_weekday(year, 2, Weekday::Mon, 1)
                };
                add(brigid, "St Brigid's Day");
            }
            add(fixed(3, 17), "St Patrick's Day");
            add(easter_plus(1), "Easter Monday");
            add(nth_weekday(year, 5, Weekday::Mon, 1), "May Day");
            add(nth_weekday(year, 6, Weekday::Mon, 1), "June Bank Holiday");
            add(nth_weekday(year, 8, Weekday::Mon, 1), "August Bank Holiday");
            add(last_weekday(year, 10, Weekday::Mon), "October Bank Holiday");
            add(fixed(12, 25), "Christmas Day");
            add(fixed(12, 26), "St Stephen's Day");
        }
        Jurisdiction::Nl => {
            add(easter_plus(1), "Tweede Paasdag");
            // King's Day (from 2014; Queen's Day on 30 April before), a day earlier when it
            // falls on a Sunday.
            let (m, d) = if year >= 2014 { (4, 27) } else { (4, 30) };
            let kings = fixed(m, d);
            let kings = if kings.weekday() == Weekday::Sun {
                kings.pred_opt().expect("in range")
            } else {
                kings
            };
            add(kings, "Koningsdag");
            add(fixed(5, 5), "Bevrijdingsdag");
            add(easter_plus(39), "Hemelvaartsdag");
            add(easter_plus(50), "Tweede Pinksterdag");
            add(fixed(12, 25), "Eerste Kerstdag");
            add(fixed(12, 26), "Tweede Kerstdag");
        }
        Jurisdiction::It => {
            add(fixed(1, 6), "Epifania");
            add(easter_plus(1), "Lunedì dell'Angelo");
            add(fixed(4, 25), "Festa della Liberazione");
            add(fixed(5, 1), "Festa del Lavoro");
            add(fixed(6, 2), "Festa della Repubblica");
            add(fixed(8, 15), "Ferragosto");
            if year >= 2026 {
                add(fixed(10, 4), "San Francesco d'Assisi");
            }
            add(fixed(11, 1), "Ognissanti");
            add(fixed(12, 8), "Immacolata Concezione");
            add(fixed(12, 25), "Natale");
            add(fixed(12, 26), "Santo Stefano");
        }
        Jurisdiction::Es => {
            add(fixed(1, 6), "Epifanía del Señor");
            add(easter_plus(-2), "Viernes Santo");
            add(fixed(5, 1), "Fiesta del Trabajo");
            add(fixed(8, 15), "Asunción de la Virgen");
            add(fixed(10, 12), "Fiesta Nacional de España");
            add(fixed(11, 1), "Todos los Santos");
            add(fixed(12, 6), "Día de la Constitución");
            add(fixed(12, 8), "Inmaculada Concepción");
            add(fixed(12, 25), "Natividad del Señor");
        }
    }
    out.sort();
    out.dedup_by_key(|(d, _)| *d);
    out
}
