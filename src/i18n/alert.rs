//! The words of alert mail (escalations and the daily digest), in English and Simplified
//! Chinese: where a clock stands, the summary, the greeting, what to do next. No step code,
//! enum name or action identifier reaches the reader; those go to the mail's metadata.

use chrono::TimeDelta;

use crate::domain::alert::{Standing, Summary};
use crate::domain::locale::Locale;
use crate::domain::workflow::State;

use super::words;

fn zh(locale: Locale) -> bool {
    locale.is_zh()
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "4 days", "5 hours", "20 minutes": days when a day or more, hours under a day.
fn span(d: TimeDelta, locale: Locale) -> String {
    let (n, en1, en, cn) = if d >= TimeDelta::days(1) {
        (d.num_days(), "day", "days", "天")
    } else if d >= TimeDelta::hours(1) {
        (d.num_hours(), "hour", "hours", "小时")
    } else {
        (d.num_minutes().max(1), "minute", "minutes", "分钟")
    };
    if zh(locale) {
        format!("{n} {cn}")
    } else {
        plural(n, en1, en)
    }
}

/// Where a clock stands: "4 days overdue", "due now", "due today, in 5 hours", "due tomorrow",
/// "due in 6 days".
pub fn standing(s: Standing, locale: Locale) -> String {
    match (s, zh(locale)) {
        (Standing::Overdue(d), false) if d > TimeDelta::zero() => {
            format!("{} overdue", span(d, locale))
        }
        (Standing::Overdue(d), true) if d > TimeDelta::zero() => {
            format!("已逾期 {}", span(d, locale))
        }
        (Standing::Overdue(_), false) => "due now".into(),
        (Standing::Overdue(_), true) => "此刻到期".into(),
        (Standing::DueToday(d), false) => format!("due today, in {}", span(d, locale)),
        (Standing::DueToday(d), true) => format!("今天到期，还剩 {}", span(d, locale)),
        (Standing::DueInDays(1), false) => "due tomorrow".into(),
        (Standing::DueInDays(1), true) => "明天到期".into(),
        (Standing::DueInDays(n), false) => format!("due in {n} days"),
        (Standing::DueInDays(n), true) => format!("{n} 天后到期"),
    }
}

/// The same, as the summary and subject name the worst item: "59 days late" (a word other than
/// the clock lines' "overdue", so counting those counts the overdue clocks).
pub fn worst_standing(s: Standing, locale: Locale) -> String {
    match (s, zh(locale)) {
        (Standing::Overdue(d), false) if d > TimeDelta::zero() => {
            format!("{} late", span(d, locale))
        }
        (Standing::Overdue(d), true) if d > TimeDelta::zero() => {
            format!("超期 {}", span(d, locale))
        }
        _ => standing(s, locale),
    }
}

/// "Hello Lee Lead," — or a neutral greeting for a shared mailbox with no name.
pub fn greeting(name: &str, locale: Locale) -> String {
    match (name.trim().is_empty(), zh(locale)) {
        (true, false) => "Hello,".into(),
        (true, true) => "您好：".into(),
        (false, false) => format!("Hello {},", name.trim()),
        (false, true) => format!("{}，您好：", name.trim()),
    }
}

/// "INC-30"
pub fn reference(id: i64) -> String {
    format!("INC-{id}")
}

/// The summary at the top of the mail: at most four lines (the caller may add one about what is
/// not listed in full). Lines with a zero count are left out.
pub fn summary(s: &Summary, worst: Option<String>, locale: Locale) -> Vec<String> {
    let mut out = Vec::new();
    if s.overdue_incidents > 0 {
        let legal: Vec<String> = s
            .overdue_legal
            .iter()
            .map(|(clock, n)| format!("{} {n}", words::clock(clock, locale)))
            .collect();
        out.push(if zh(locale) {
            let mut l = format!(
                "超期：{} 个事件，{} 项时限",
                s.overdue_incidents, s.overdue_clocks
            );
            if !legal.is_empty() {
                l.push_str(&format!("（法定时限：{}）", legal.join("，")));
            }
            l
        } else {
            let mut l = format!(
                "Late: {}, {}",
                plural(s.overdue_incidents as i64, "incident", "incidents"),
                plural(s.overdue_clocks as i64, "clock", "clocks")
            );
            if !legal.is_empty() {
                l.push_str(&format!(" (legal: {})", legal.join(", ")));
            }
            l
        });
    }
    if s.due_today > 0 {
        out.push(if zh(locale) {
            format!("今天到期：{} 个事件", s.due_today)
        } else {
            format!(
                "Due today: {}",
                plural(s.due_today as i64, "incident", "incidents")
            )
        });
    }
    if s.due_soon > 0 {
        out.push(if zh(locale) {
            format!("7 天内到期：{} 个事件", s.due_soon)
        } else {
            format!(
                "Due within 7 days: {}",
                plural(s.due_soon as i64, "incident", "incidents")
            )
        });
    }
    if s.later > 0 && out.is_empty() {
        out.push(if zh(locale) {
            format!("期限临近：{} 个事件", s.later)
        } else {
            format!(
                "Deadline approaching: {}",
                plural(s.later as i64, "incident", "incidents")
            )
        });
    }
    if let Some(w) = worst {
        out.push(if zh(locale) {
            format!("最紧急：{w}")
        } else {
            format!("Worst: {w}")
        });
    }
    out
}

/// "INC-30: EU authority report 59 days late"
pub fn worst_item(id: i64, clock: &str, s: Standing, locale: Locale) -> String {
    if zh(locale) {
        format!(
            "{}：{}，{}",
            reference(id),
            words::clock(clock, locale),
            worst_standing(s, locale)
        )
    } else {
        format!(
            "{}: {} {}",
            reference(id),
            words::clock(clock, locale),
            worst_standing(s, locale)
        )
    }
}

/// The subject: every overdue clock counted, the worst named, the same figures as the summary.
pub fn subject(
    service: &str,
    digest: Option<chrono::NaiveDate>,
    s: &Summary,
    worst: Option<&str>,
    locale: Locale,
) -> String {
    let mut out = match (digest, zh(locale)) {
        (Some(day), false) => format!("[{service}] Daily digest {day}: "),
        (Some(day), true) => format!("[{service}] 每日摘要 {day}："),
        (None, false) => format!("[{service}] "),
        (None, true) => format!("[{service}] 期限提醒："),
    };
    let zh = zh(locale);
    if s.overdue_clocks > 0 {
        out.push_str(&if zh {
            format!(
                "{} 项时限逾期（{} 个事件）",
                s.overdue_clocks, s.overdue_incidents
            )
        } else {
            format!(
                "{} overdue on {}",
                plural(s.overdue_clocks as i64, "clock", "clocks"),
                plural(s.overdue_incidents as i64, "incident", "incidents")
            )
        });
    } else if zh {
        out.push_str(&format!("{} 个事件", s.incidents));
    } else {
        out.push_str(&plural(s.incidents as i64, "incident", "incidents"));
    }
    if let Some(w) = worst {
        out.push_str(if zh { "；最紧急：" } else { "; worst: " });
        out.push_str(w);
    }
    out
}

/// What moves the incident on, in words: the authority report when that clock is among the
/// incident's, otherwise the workflow's next step from its state.
pub fn next_action(state: Option<State>, authority: bool, locale: Locale) -> &'static str {
    let z = zh(locale);
    let pick = |en: &'static str, cn: &'static str| if z { cn } else { en };
    if authority {
        return pick(
            "report to the authority and record it",
            "向主管机关报告并记录",
        );
    }
    match state {
        Some(State::New) => pick(
            "triage it, or reject it with reasons",
            "研判，或附理由不予处理",
        ),
        Some(State::Triaged) => pick("contain it: put a filter in place", "遏制：部署过滤规则"),
        Some(State::Contained) => pick("plan the fix", "制定整改方案"),
        Some(State::FixPlanned) => pick("start retraining", "开始优化训练"),
        Some(State::Retraining) => pick(
            "submit the retrained model for verification",
            "提交优化后的模型进行验证",
        ),
        Some(State::Verifying) => pick("decide the verification", "完成验证"),
        _ => pick("check the incident", "查看事件"),
    }
}

/// Fixed labels and sentences.
pub struct Labels {
    pub lang: &'static str,
    pub due: &'static str,
    pub severity: &'static str,
    pub held_by: &'static str,
    pub unassigned: &'static str,
    pub next: &'static str,
    pub why: &'static str,
    pub why_digest: &'static str,
    pub more_clocks: &'static str,
}

static EN: Labels = Labels {
    lang: "en",
    due: "due",
    severity: "severity",
    held_by: "held by",
    unassigned: "nobody assigned",
    next: "Next",
    why: "You get this as the incidents' assignee, a lead or compliance.",
    why_digest: "The daily digest goes to the leads.",
    more_clocks: "more clocks",
};

static ZH: Labels = Labels {
    lang: "zh-CN",
    due: "期限",
    severity: "严重程度",
    held_by: "负责人",
    unassigned: "未指派",
    next: "下一步",
    why: "您作为事件负责人、组长或合规人员收到此邮件。",
    why_digest: "每日摘要发送给各组长。",
    more_clocks: "项其他时限",
};

pub fn labels(locale: Locale) -> &'static Labels {
    if zh(locale) { &ZH } else { &EN }
}

/// "Sent by the Rectify deadline sweep at 2027-03-06 08:00 (Asia/Shanghai)."
pub fn sent_at(service: &str, when: &str, locale: Locale) -> String {
    if zh(locale) {
        format!("由 {service} 期限扫描于 {when} 发出。")
    } else {
        format!("Sent by the {service} deadline sweep at {when}.")
    }
}

/// What a mail does not list in full, by class, with the board view that shows them.
pub fn more(n: usize, class: MoreClass, locale: Locale) -> String {
    match (class, zh(locale)) {
        (MoreClass::Overdue, false) => format!(
            "{n} more late {}:",
            if n == 1 { "incident" } else { "incidents" }
        ),
        (MoreClass::Overdue, true) => format!("另有 {n} 个超期事件："),
        (MoreClass::Due, false) => format!(
            "{n} more {} due soon or later:",
            if n == 1 { "incident" } else { "incidents" }
        ),
        (MoreClass::Due, true) => format!("另有 {n} 个即将到期的事件："),
        (MoreClass::Mine, false) => "Those assigned to you:".into(),
        (MoreClass::Mine, true) => "指派给您的事件：".into(),
    }
}

/// The line that says how many incidents the mail lists in full.
pub fn listed(shown: usize, total: usize, locale: Locale) -> String {
    if zh(locale) {
        format!("本邮件详列最紧急的 {shown} 个，共 {total} 个事件；其余见文末链接。")
    } else {
        format!(
            "Listed in full: the {shown} worst of {total} incidents; the rest are linked at the end."
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoreClass {
    Overdue,
    Due,
    Mine,
}

/// The state and severity as words, for an entry's detail line.
pub fn state_word(state: &str, locale: Locale) -> String {
    match state.parse::<State>() {
        Ok(s) => words::state(s, locale).to_owned(),
        Err(_) => String::new(),
    }
}

pub fn severity_word(severity: Option<&str>, locale: Locale) -> Option<&'static str> {
    severity
        .and_then(|s| s.parse::<crate::domain::severity::Severity>().ok())
        .map(|s| words::severity(s, locale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standings_read_as_words() {
        let en = Locale::En;
        let zh = Locale::ZhCn;
        let d = TimeDelta::days(4) + TimeDelta::hours(3);
        assert_eq!(standing(Standing::Overdue(d), en), "4 days overdue");
        assert_eq!(standing(Standing::Overdue(d), zh), "已逾期 4 天");
        assert_eq!(
            standing(Standing::Overdue(TimeDelta::hours(5)), en),
            "5 hours overdue"
        );
        assert_eq!(
            standing(Standing::Overdue(TimeDelta::days(1)), en),
            "1 day overdue"
        );
        assert_eq!(
            standing(Standing::Overdue(TimeDelta::zero()), en),
            "due now"
        );
        assert_eq!(standing(Standing::DueInDays(6), en), "due in 6 days");
        assert_eq!(
            standing(Standing::DueToday(TimeDelta::hours(3)), en),
            "due today, in 3 hours"
        );
        assert_eq!(
            worst_item(
                30,
                "authority_report",
                Standing::Overdue(TimeDelta::days(59)),
                en
            ),
            "INC-30: EU authority report 59 days late"
        );
    }

    #[test]
    fn a_mailbox_without_a_name_gets_a_neutral_greeting() {
        assert_eq!(greeting("", Locale::ZhCn), "您好：");
        assert_eq!(greeting("  ", Locale::En), "Hello,");
        assert_eq!(greeting("张合规", Locale::ZhCn), "张合规，您好：");
    }

    #[test]
    fn chinese_words_carry_no_identifiers() {
        let z = Locale::ZhCn;
        let mut all = vec![
            next_action(None, true, z).to_owned(),
            standing(Standing::DueInDays(3), z),
            standing(Standing::Overdue(TimeDelta::days(3)), z),
        ];
        for s in State::ALL {
            all.push(next_action(Some(s), false, z).to_owned());
        }
        for w in all {
            assert!(!w.chars().any(|c| c.is_ascii_alphabetic()), "{w}");
        }
    }
}
