//! Alert mail: the escalation mail of a sweep and the daily digest, one message per person,
//! built from a [`domain::alert::Alert`](crate::domain::alert::Alert): a short summary, then one
//! entry per incident, worst first, each clock with where it stands at the sweep. The text part
//! wraps at 78 columns and gives each incident at most 8 lines; the HTML part carries the same
//! content with inline styles only (mail clients drop `<style>`), no external asset, and reads
//! on a phone. Which escalation steps fired is metadata (`X-Rectify-Steps`), not text.

use std::collections::HashMap;

use askama::Template;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{Mail, new_message_id};
use crate::config::Settings;
use crate::domain::alert::{Alert, Class, Entry, steps_tag};
use crate::domain::locale::Locale;
use crate::domain::workflow::{ActionKind, State};
use crate::i18n::alert::{self as t, MoreClass};
use crate::i18n::words;

/// Someone a sweep tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    pub email: String,
    /// Empty for a configured address (a shared mailbox).
    pub name: String,
    pub locale: Locale,
}

/// What an entry shows about its incident besides its clocks.
#[derive(Debug, Clone, Default)]
pub struct IncidentInfo {
    pub title: String,
    /// The workflow state (`State::as_str`).
    pub state: String,
    pub severity: Option<String>,
    /// The assignee's name; `None` when nobody (active) holds it.
    pub holder: Option<String>,
}

/// Which alert mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The mail of one sweep: what escalated to the reader.
    Escalation,
    /// The daily digest of every overdue incident, for that local day.
    Digest(NaiveDate),
}

/// Columns of the text part.
pub const WIDTH: usize = 78;
/// Lines of the text part an incident may take, its blank separator included.
pub const ENTRY_LINES: usize = 8;

/// A rendered alert: the mail, and the `X-Rectify-Steps` value that goes with it.
pub struct Rendered {
    pub mail: Mail,
    pub steps: Option<String>,
}

/// Whether `c` takes two columns on a terminal (CJK ideographs, kana, hangul, full-width forms).
fn wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// Display columns of `s`.
pub fn columns(s: &str) -> usize {
    s.chars().map(|c| if wide(c) { 2 } else { 1 }).sum()
}

/// Wraps `line` at `width` columns, continuation lines indented by `indent`: breaks after a
/// space or beside a wide character; a word longer than a line (a URL) stays whole.
fn wrap(line: &str, width: usize, indent: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in line.chars() {
        if wide(c) {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            tokens.push(c.to_string());
        } else {
            cur.push(c);
            if c == ' ' {
                tokens.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut out = Vec::new();
    let mut line = String::new();
    let mut cols = 0;
    for tok in tokens {
        let w = columns(tok.trim_end());
        if cols + w > width && !line.trim().is_empty() {
            out.push(line.trim_end().to_owned());
            line = indent.to_owned();
            cols = columns(indent);
            if tok == " " {
                continue;
            }
        }
        cols += columns(&tok);
        line.push_str(&tok);
    }
    if !line.trim().is_empty() || out.is_empty() {
        out.push(line.trim_end().to_owned());
    }
    out
}

/// `s` cut to `width` columns with an ellipsis.
fn fit(s: &str, width: usize) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if columns(&s) <= width {
        return s;
    }
    let mut out = String::new();
    let mut cols = 0;
    for c in s.chars() {
        let w = if wide(c) { 2 } else { 1 };
        if cols + w > width - 1 {
            break;
        }
        cols += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// "2027-03-01 24:00 Asia/Shanghai": a period that ends at local midnight reads as 24:00 of
/// its last day.
fn due_text(at: DateTime<Utc>, zone: Tz) -> String {
    let local = at.with_timezone(&zone);
    let when = if local.format("%H:%M:%S").to_string() == "00:00:00" {
        let day = (local - TimeDelta::days(1)).date_naive();
        format!("{} 24:00", day.format("%Y-%m-%d"))
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    };
    format!("{when} {}", zone.name())
}

fn color(class: Class) -> &'static str {
    match class {
        Class::OverdueLegal | Class::Overdue => "#b00020",
        Class::DueToday => "#b34700",
        Class::DueSoon => "#1565c0",
        Class::Later => "#555555",
    }
}

/// One clock of an entry, in words.
struct ClockView {
    standing: String,
    clock: String,
    due: String,
    color: &'static str,
}

/// One incident, in words, for both parts.
struct EntryView {
    reference: String,
    title: String,
    link: String,
    color: &'static str,
    clocks: Vec<ClockView>,
    detail: String,
    next: String,
}

struct MoreView {
    text: String,
    link: String,
}

#[derive(Template)]
#[template(path = "mail/escalation.txt")]
struct AlertText<'a> {
    lines: &'a [String],
}

#[derive(Template)]
#[template(path = "mail/escalation.html")]
struct AlertHtml<'a> {
    lang: &'a str,
    subject: &'a str,
    greeting: &'a str,
    summary: &'a [String],
    entries: &'a [EntryView],
    listed: Option<&'a str>,
    more: &'a [MoreView],
    footer: &'a [String],
    due_word: &'a str,
}

fn entry_view(
    settings: &Settings,
    e: &Entry,
    info: Option<&IncidentInfo>,
    locale: Locale,
) -> EntryView {
    let l = t::labels(locale);
    let zh = locale.is_zh();
    let info = info.cloned().unwrap_or_default();
    let clocks = e
        .clocks
        .iter()
        .map(|c| ClockView {
            standing: t::standing(c.standing, locale),
            clock: words::clock(&c.hit.clock, locale).into_owned(),
            due: due_text(c.hit.due_at, c.hit.zone),
            color: color(c.class),
        })
        .collect();
    let mut detail = vec![t::state_word(&info.state, locale)];
    if let Some(sev) = t::severity_word(info.severity.as_deref(), locale) {
        detail.push(format!("{} {sev}", l.severity));
    }
    detail.push(match &info.holder {
        Some(name) => format!("{} {name}", l.held_by),
        None => l.unassigned.to_owned(),
    });
    detail.retain(|d| !d.is_empty());
    let authority = e.clocks.iter().any(|c| {
        settings
            .deadlines
            .rule(&c.hit.clock)
            .is_some_and(|r| r.stops_on.contains(&ActionKind::RecordAuthorityReport))
    });
    let next = t::next_action(info.state.parse::<State>().ok(), authority, locale);
    EntryView {
        reference: t::reference(e.incident_id),
        title: info.title.clone(),
        link: settings.public_link(&format!("/incidents/{}", e.incident_id)),
        color: color(e.class()),
        clocks,
        detail: detail.join(" · "),
        next: if zh {
            format!("{}：{next}", l.next)
        } else {
            format!("{}: {next}", l.next)
        },
    }
}

/// The text lines of an entry: at most [`ENTRY_LINES`] − 1 (a blank line follows). When the
/// full form is longer, due instants are left out, then clocks beyond what fits are counted.
fn entry_lines(v: &EntryView, locale: Locale) -> Vec<String> {
    let l = t::labels(locale);
    let zh = locale.is_zh();
    let sep = if zh { "：" } else { ": " };
    let head = fit(&format!("{}  {}", v.reference, v.title), WIDTH);
    let tail = |out: &mut Vec<String>| {
        out.extend(wrap(&format!("  {}", v.detail), WIDTH, "    "));
        out.extend(wrap(&format!("  {}", v.next), WIDTH, "    "));
        out.push(format!("  {}", v.link));
    };
    // The due instant: always (wrapping), only where the line still fits, or never.
    #[derive(Clone, Copy, PartialEq)]
    enum Due {
        Always,
        WhereItFits,
        Never,
    }
    let clock_line = |c: &ClockView, due: Due| {
        let short = format!("  {}{sep}{}", c.standing, c.clock);
        let long = format!("{short}{}{} {}", if zh { "，" } else { ", " }, l.due, c.due);
        match due {
            Due::Always => wrap(&long, WIDTH, "    "),
            Due::WhereItFits if columns(&long) <= WIDTH => vec![long],
            _ => wrap(&short, WIDTH, "    "),
        }
    };
    let budget = ENTRY_LINES - 1;
    let joined = format!("  {} · {}", v.detail, v.next);
    for (due, join) in [
        (Due::Always, false),
        (Due::WhereItFits, false),
        (Due::Never, false),
        (Due::Never, true),
    ] {
        let mut out = vec![head.clone()];
        for c in &v.clocks {
            out.extend(clock_line(c, due));
        }
        if join {
            out.extend(wrap(&joined, WIDTH, "    "));
            out.push(format!("  {}", v.link));
        } else {
            tail(&mut out);
        }
        if out.len() <= budget {
            return out;
        }
    }
    // Many clocks: as many as fit, and how many more.
    let mut rest = Vec::new();
    tail(&mut rest);
    let room = budget.saturating_sub(1 + rest.len() + 1);
    let mut out = vec![head];
    let mut shown = 0;
    for c in &v.clocks {
        let lines = clock_line(c, Due::Never);
        if out.len() - 1 + lines.len() > room {
            break;
        }
        out.extend(lines);
        shown += 1;
    }
    out.push(format!("  +{} {}", v.clocks.len() - shown, l.more_clocks));
    out.extend(rest);
    out.truncate(budget);
    out
}

/// The Message-ID of the digest of `day` to `email`: the key that makes it once a day.
pub fn digest_message_id(settings: &Settings, day: NaiveDate, email: &str) -> String {
    use sha2::{Digest, Sha256};
    let host = settings.server.public_url.host_str().unwrap_or("localhost");
    let who = hex::encode(&Sha256::digest(email.to_lowercase().as_bytes())[..8]);
    format!("<digest.{day}.{who}@{host}>")
}

/// The alert mail to `to`: `alert` (already for this reader, worst first) with the incidents'
/// details from `info`.
pub fn alert(
    settings: &Settings,
    to: &Addressee,
    kind: Kind,
    alert: &Alert,
    info: &HashMap<i64, IncidentInfo>,
) -> Result<Rendered, askama::Error> {
    let locale = to.locale;
    let l = t::labels(locale);
    let service = settings.public.service_name.as_str();
    let max = settings.escalation.max_items_per_mail.max(1);
    let shown = &alert.entries[..alert.entries.len().min(max)];
    let hidden = &alert.entries[shown.len()..];

    let worst = alert
        .worst()
        .map(|(e, c)| t::worst_item(e.incident_id, &c.hit.clock, c.standing, locale));
    let digest_day = match kind {
        Kind::Digest(day) => Some(day),
        Kind::Escalation => None,
    };
    let subject = t::subject(
        service,
        digest_day,
        &alert.summary,
        worst.as_deref(),
        locale,
    );
    let summary = t::summary(&alert.summary, worst, locale);
    let listed = (!hidden.is_empty()).then(|| t::listed(shown.len(), alert.entries.len(), locale));
    let greeting = t::greeting(&to.name, locale);

    let views: Vec<EntryView> = shown
        .iter()
        .map(|e| entry_view(settings, e, info.get(&e.incident_id), locale))
        .collect();

    let mut more = Vec::new();
    if !hidden.is_empty() {
        let overdue = hidden.iter().filter(|e| e.class().is_overdue()).count();
        if overdue > 0 {
            more.push(MoreView {
                text: t::more(overdue, MoreClass::Overdue, locale),
                link: settings.public_link("/board?overdue=1"),
            });
        }
        if hidden.len() > overdue {
            more.push(MoreView {
                text: t::more(hidden.len() - overdue, MoreClass::Due, locale),
                link: settings.public_link("/board"),
            });
        }
        if !to.name.is_empty() {
            more.push(MoreView {
                text: t::more(0, MoreClass::Mine, locale),
                link: settings.public_link("/board?assignee=mine"),
            });
        }
    }
    let sweep_local = crate::i18n::format::local_time(alert.now, settings.public.time_zone, locale);
    let footer = vec![
        t::sent_at(service, &sweep_local, locale),
        match kind {
            Kind::Escalation => l.why.to_owned(),
            Kind::Digest(_) => l.why_digest.to_owned(),
        },
    ];

    // The text part, line by line.
    let mut lines: Vec<String> = vec![greeting.clone(), String::new()];
    for s in &summary {
        lines.extend(wrap(s, WIDTH, "  "));
    }
    lines.push(String::new());
    for v in &views {
        lines.extend(entry_lines(v, locale));
        lines.push(String::new());
    }
    lines.push("--".into());
    if let Some(l) = &listed {
        lines.extend(wrap(l, WIDTH, ""));
    }
    for m in &more {
        lines.extend(wrap(&format!("{} {}", m.text, m.link), WIDTH, "  "));
    }
    for f in &footer {
        lines.extend(wrap(f, WIDTH, ""));
    }
    let text = AlertText { lines: &lines }.render()?;
    let html = AlertHtml {
        lang: l.lang,
        subject: &subject,
        greeting: &greeting,
        summary: &summary,
        entries: &views,
        listed: listed.as_deref(),
        more: &more,
        footer: &footer,
        due_word: l.due,
    }
    .render()?;

    let steps: Vec<String> = shown
        .iter()
        .flat_map(|e| {
            e.clocks
                .iter()
                .filter(|c| !c.hit.steps.is_empty())
                .map(move |c| {
                    format!(
                        "INC-{} {} {}",
                        e.incident_id,
                        c.hit.clock,
                        steps_tag(&c.hit.steps)
                    )
                })
        })
        .collect();
    let (kind_name, message_id) = match kind {
        Kind::Escalation => ("escalation", new_message_id(&settings.server.public_url)),
        Kind::Digest(day) => ("digest", digest_message_id(settings, day, &to.email)),
    };
    Ok(Rendered {
        mail: Mail {
            kind: kind_name,
            recipient: to.email.clone(),
            locale: locale.as_str().to_owned(),
            subject,
            text,
            html: Some(html),
            message_id,
        },
        steps: (!steps.is_empty()).then(|| steps.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_to_the_width_in_both_scripts() {
        let en = "  4 days overdue: remediation (model fix), due 2027-03-01 24:00 (Asia/Shanghai) and more words here";
        for l in wrap(en, WIDTH, "    ") {
            assert!(columns(&l) <= WIDTH, "{l}");
        }
        let zh = "逾期：25 个事件，27 项时限（法定时限：向欧盟主管机关报告 2，整改（模型优化）25，向举报人反馈 3，遏制（过滤）4）";
        let lines = wrap(zh, WIDTH, "  ");
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(columns(l) <= WIDTH, "{l}");
        }
        assert_eq!(lines.concat().replace(' ', ""), zh.replace(' ', ""));
        assert_eq!(fit("标题".repeat(60).as_str(), 20).chars().count(), 10);
    }
}
