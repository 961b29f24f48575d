//! The compliance notices about calendar years: running clocks came to rest on a year only the
//! statutory rule covers (provisional), and that year's official arrangement was loaded.

use askama::Template;

use super::Mail;
use crate::config::Settings;
use crate::domain::locale::Locale;

#[derive(Template)]
#[template(path = "mail/calendar_notice.txt")]
struct NoticeText<'a> {
    greeting: &'a str,
    intro: &'a str,
    items: &'a [String],
    action: &'a str,
    service: &'a str,
}

#[derive(Template)]
#[template(path = "mail/calendar_notice.html")]
struct NoticeHtml<'a> {
    lang: &'a str,
    subject: &'a str,
    greeting: &'a str,
    intro: &'a str,
    items: &'a [String],
    action: &'a str,
    service: &'a str,
}

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Provisional,
    Official,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Provisional => "provisional",
            Notice::Official => "official",
        }
    }
}

/// What a notice is about.
pub struct About<'a> {
    pub calendar: &'a str,
    pub jurisdiction: crate::domain::deadlines::Jurisdiction,
    pub year: i32,
    /// Where the official arrangement is published.
    pub official_source: &'a str,
    /// The clocks concerned, one line each (already worded).
    pub items: Vec<String>,
}

/// The same key for every recipient of one notice, and a Message-ID derived from it, so a
/// notice that were queued twice would still thread as one message.
pub fn key(notice: Notice, calendar: &str, year: i32) -> String {
    format!("{}:{calendar}:{year}", notice.as_str())
}

fn message_id(settings: &Settings, key: &str, recipient: &str) -> String {
    use sha2::{Digest, Sha256};
    let host = settings.server.public_url.host_str().unwrap_or("localhost");
    let digest = hex::encode(Sha256::digest(format!("{key}\n{recipient}").as_bytes()));
    format!("<calendar-{}@{host}>", &digest[..32])
}

/// The notice to one recipient, in their language.
pub fn notice(
    settings: &Settings,
    notice: Notice,
    about: &About<'_>,
    recipient: &str,
    locale: Locale,
) -> Result<Mail, askama::Error> {
    let service = settings.public.service_name.as_str();
    let zh = locale.is_zh();
    let (cal, year, n) = (about.calendar, about.year, about.items.len());
    let (subject, greeting, intro, action) = match (notice, zh) {
        (Notice::Provisional, false) => (
            format!("[{service}] Deadlines rest on a provisional calendar: {cal} {year}"),
            "Hello,".to_owned(),
            format!(
                "{n} running deadline(s) now depend on {year} in the calendar \"{cal}\" ({}), \
                 which no official arrangement covers yet. Until one is loaded they are counted \
                 on the statutory holidays alone (provisional): bridge days and make-up working \
                 days are not known, so the official due instant may differ.",
                about.jurisdiction.name()
            ),
            format!(
                "When the official arrangement for {year} is published ({}), write it in a \
                 calendar file and run `rectify calendar import FILE` (README: Calendars). Every \
                 running deadline that moves is recomputed and recorded in its incident's \
                 timeline; you will get a second mail then. `rectify calendar check` lists the \
                 deadlines that are provisional now.",
                about.official_source
            ),
        ),
        (Notice::Provisional, true) => (
            format!("[{service}] 期限依据临时日历：{cal} {year}年"),
            "您好：".to_owned(),
            format!(
                "有 {n} 个进行中的期限取决于日历“{cal}”（{}）的 {year} 年，而该年尚无官方安排。\
                 在导入官方安排之前，这些期限仅按法定节假日计算（临时）：调休放假和补班日未知，\
                 正式期限可能不同。",
                about.jurisdiction.name_zh()
            ),
            format!(
                "{year} 年官方安排发布后（{}），请按日历文件格式录入并运行 \
                 `rectify calendar import 文件`（见 README：Calendars）。所有变动的期限都会重新计算，\
                 并记录在相应事件的时间线中；届时您会再收到一封邮件。`rectify calendar check` \
                 列出当前依据临时日历的期限。",
                about.official_source
            ),
        ),
        (Notice::Official, false) => (
            format!("[{service}] Official calendar loaded: {cal} {year}"),
            "Hello,".to_owned(),
            format!(
                "The official arrangement for {year} is now loaded into the calendar \"{cal}\" \
                 ({}). Deadlines that rested on the provisional rule for {year} are recomputed; \
                 each one that moved is recorded in its incident's timeline.",
                about.jurisdiction.name()
            ),
            if n == 0 {
                "No running deadline moved.".to_owned()
            } else {
                format!("{n} running deadline(s) moved, listed above.")
            },
        ),
        (Notice::Official, true) => (
            format!("[{service}] 官方日历已导入：{cal} {year}年"),
            "您好：".to_owned(),
            format!(
                "日历“{cal}”（{}）的 {year} 年官方安排已导入。此前依据 {year} 年临时规则计算的期限\
                 已重新计算；每个变动的期限都记录在相应事件的时间线中。",
                about.jurisdiction.name_zh()
            ),
            if n == 0 {
                "没有进行中的期限发生变动。".to_owned()
            } else {
                format!("有 {n} 个进行中的期限发生变动，见上。")
            },
        ),
    };
    let k = key(notice, cal, year);
    let text = NoticeText {
        greeting: &greeting,
        intro: &intro,
        items: &about.items,
        action: &action,
        service,
    }
    .render()?;
    let html = NoticeHtml {
        lang: locale.as_str(),
        subject: &subject,
        greeting: &greeting,
        intro: &intro,
        items: &about.items,
        action: &action,
        service,
    }
    .render()?;
    Ok(Mail {
        kind: "calendar_notice",
        recipient: recipient.to_owned(),
        locale: locale.as_str().to_owned(),
        subject,
        text,
        html: Some(html),
        message_id: message_id(settings, &k, recipient),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        Settings::load_from(&dir, None, false).unwrap()
    }

    #[test]
    fn both_notices_in_both_languages_with_both_parts() {
        let s = settings();
        let about = About {
            calendar: "cn",
            jurisdiction: crate::domain::deadlines::Jurisdiction::Cn,
            year: 2027,
            official_source: "国务院办公厅关于部分节假日安排的通知",
            items: vec!["INC-7 remediate: due 2027-02-09T16:00:00Z <b>".into()],
        };
        for (kind, locale, subject, says) in [
            (
                Notice::Provisional,
                Locale::En,
                "Deadlines rest on a provisional calendar: cn 2027",
                "rectify calendar import FILE",
            ),
            (
                Notice::Provisional,
                Locale::ZhCn,
                "期限依据临时日历：cn 2027年",
                "rectify calendar import 文件",
            ),
            (
                Notice::Official,
                Locale::En,
                "Official calendar loaded: cn 2027",
                "1 running deadline(s) moved",
            ),
            (
                Notice::Official,
                Locale::ZhCn,
                "官方日历已导入：cn 2027年",
                "有 1 个进行中的期限发生变动",
            ),
        ] {
            let m = notice(&s, kind, &about, "c@example.com", locale).unwrap();
            assert!(m.subject.contains(subject), "{}", m.subject);
            assert!(m.text.contains(says), "{}", m.text);
            assert!(m.text.contains("INC-7 remediate"), "{}", m.text);
            let html = m.html.unwrap();
            assert!(
                html.contains(says) && html.contains("&#60;b&#62;"),
                "{html}"
            );
            assert!(m.message_id.starts_with("<calendar-"));
            // The same notice to the same person always has the same Message-ID.
            let again = notice(&s, kind, &about, "c@example.com", locale).unwrap();
            assert_eq!(again.message_id, m.message_id);
            if std::env::var_os("SHOW_MAIL").is_some() {
                println!("--- {}\n{}\n{html}", m.subject, m.text);
            }
        }
    }
}
