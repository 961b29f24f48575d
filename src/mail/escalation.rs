//! Escalation and digest mail: one message per person per sweep, listing every incident that
//! escalated to them, in their language, with a text and an HTML part.

use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::{Mail, new_message_id};
use crate::config::Settings;
use crate::domain::escalation::{Phase, describe};
use crate::domain::locale::Locale;
use crate::domain::workflow::State;
use crate::i18n::format::local_deadline;

/// Someone a sweep tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    pub email: String,
    /// Empty for a configured address.
    pub name: String,
    pub locale: Locale,
}

/// One incident's clock, as an escalation mail lists it.
#[derive(Debug, Clone)]
pub struct Item {
    pub incident_id: i64,
    pub title: String,
    /// The workflow state (`State::as_str`).
    pub state: String,
    pub severity: Option<String>,
    pub clock: String,
    /// The step firing now (the latest, when a sweep catches up on several).
    pub step: String,
    pub phase: Phase,
    /// Earlier steps of the same clock that fired in the same sweep.
    pub also_fired: Vec<String>,
    pub due_at: DateTime<Utc>,
    /// The clock's legal time zone.
    pub zone: Tz,
    /// Workflow events that stop the clock.
    pub stops_on: Vec<String>,
    /// The clock's next step, if nothing changes.
    pub next_step: Option<(String, DateTime<Utc>)>,
}

/// One overdue clock, as the daily digest lists it.
#[derive(Debug, Clone)]
pub struct DigestItem {
    pub incident_id: i64,
    pub title: String,
    pub state: String,
    pub clock: String,
    pub due_at: DateTime<Utc>,
    pub zone: Tz,
}

struct Words {
    lang: &'static str,
    greeting: &'static str,
    intro: &'static str,
    clock: &'static str,
    step: &'static str,
    due: &'static str,
    state: &'static str,
    severity: &'static str,
    expected: &'static str,
    next: &'static str,
    no_next: &'static str,
    also: &'static str,
    open: &'static str,
    footer: &'static str,
    digest_intro: &'static str,
    overdue_by: &'static str,
}

static EN: Words = Words {
    lang: "en",
    greeting: "Hello",
    intro: "These incidents have reached a step of their escalation ladder. Each deadline is shown in its legal time zone and in UTC.",
    clock: "Clock",
    step: "Step",
    due: "Due",
    state: "State",
    severity: "severity",
    expected: "Expected next",
    next: "Next escalation if nothing changes",
    no_next: "none",
    also: "also reached in this sweep",
    open: "Open the incident",
    footer: "Sent by the deadline sweep. You receive it as the incident's assignee, as a lead or as compliance.",
    digest_intro: "Every incident with an overdue clock, as of this morning's sweep.",
    overdue_by: "overdue by",
};

static ZH: Words = Words {
    lang: "zh-CN",
    greeting: "您好",
    intro: "以下事件已到达升级阶梯中的某一步。每个期限均以其法定时区和 UTC 显示。",
    clock: "时限",
    step: "阶段",
    due: "期限",
    state: "状态",
    severity: "严重程度",
    expected: "下一步应当",
    next: "若无变化，下次升级",
    no_next: "无",
    also: "本次扫描中一并到达",
    open: "打开事件",
    footer: "本邮件由期限扫描发出。您作为事件负责人、组长或合规人员收到此邮件。",
    digest_intro: "截至今天扫描时，所有时限已逾期的事件。",
    overdue_by: "已逾期",
};

fn words(locale: Locale) -> &'static Words {
    if locale.is_zh() { &ZH } else { &EN }
}

fn clock_label(clock: &str, zh: bool) -> String {
    let (en, cn) = match clock {
        "acknowledge" => ("feedback to the reporter", "向举报人反馈"),
        "triage" => ("triage", "分诊"),
        "contain" => ("containment", "控制（过滤）"),
        "remediate" => ("remediation (fix verified)", "整改（验证通过）"),
        "authority_report" => ("report to the authority", "向主管机关报告"),
        other => return other.to_owned(),
    };
    format!("{} ({clock})", if zh { cn } else { en })
}

fn state_label(state: &str, zh: bool) -> String {
    let Ok(s) = state.parse::<State>() else {
        return state.to_owned();
    };
    if !zh {
        return s.label().to_owned();
    }
    match s {
        State::New => "新建",
        State::Triaged => "已分诊",
        State::Contained => "已控制",
        State::FixPlanned => "已制定整改方案",
        State::Retraining => "重新训练中",
        State::Verifying => "验证中",
        State::Resolved => "已解决",
        State::Rejected => "已驳回",
        State::Duplicate => "重复",
    }
    .to_owned()
}

/// What the clock needs: the workflow step that moves the incident on, in words.
fn expected(state: &str, stops_on: &[String], zh: bool) -> String {
    if stops_on.iter().any(|s| s == "record_authority_report") {
        return if zh {
            "向主管机关报告（可先提交不完整的初次报告）并记录（record_authority_report）"
        } else {
            "report to the authority (an incomplete initial report is allowed) and record it (record_authority_report)"
        }
        .to_owned();
    }
    let (en, cn, action) = match state.parse::<State>() {
        Ok(State::New) => (
            "triage it, or reject it with reasons",
            "分诊，或附理由驳回",
            "triage",
        ),
        Ok(State::Triaged) => (
            "contain it: put a filter in place",
            "控制：部署过滤规则",
            "contain",
        ),
        Ok(State::Contained) => ("plan the fix", "制定整改方案", "plan_fix"),
        Ok(State::FixPlanned) => ("start retraining", "开始重新训练", "start_retraining"),
        Ok(State::Retraining) => (
            "submit the retrained model for verification",
            "提交重新训练的模型进行验证",
            "submit_for_verification",
        ),
        Ok(State::Verifying) => ("verify the fix", "验证整改", "verify_pass"),
        _ => return String::new(),
    };
    let stops = stops_on.join(", ");
    if zh {
        format!("{cn}（{action}）；该时限在 {stops} 时停止")
    } else {
        format!("{en} ({action}); this clock stops at {stops}")
    }
}

/// A long catch-up list shortened: "elapsed_50pct, elapsed_75pct, at_due … overdue_13w (96 steps)".
fn compact(names: &[String], zh: bool) -> String {
    if names.len() <= 6 {
        return names.join(", ");
    }
    let n = names.len();
    format!(
        "{} … {} ({n} {})",
        names[..3].join(", "),
        names[n - 1],
        if zh { "步" } else { "steps" }
    )
}

fn when(at: DateTime<Utc>, zone: Tz, locale: Locale) -> (String, String) {
    (
        local_deadline(at, zone, locale),
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// An item ready for the templates: every string in the reader's language.
struct View {
    id: i64,
    title: String,
    link: String,
    clock: String,
    step: String,
    step_text: String,
    also: String,
    due_local: String,
    due_utc: String,
    state: String,
    severity: String,
    expected: String,
    next: String,
    phase: &'static str,
}

#[derive(Template)]
#[template(path = "mail/escalation.txt")]
struct EscalationText<'a> {
    w: &'a Words,
    name: &'a str,
    service: &'a str,
    intro: &'a str,
    items: &'a [View],
}

#[derive(Template)]
#[template(path = "mail/escalation.html")]
struct EscalationHtml<'a> {
    w: &'a Words,
    name: &'a str,
    service: &'a str,
    subject: &'a str,
    intro: &'a str,
    items: &'a [View],
}

fn worst_words(worst: Phase, zh: bool) -> &'static str {
    match (worst, zh) {
        (Phase::Overdue, false) => "overdue",
        (Phase::AtDue, false) => "due now",
        (Phase::Before, false) => "deadline approaching",
        (Phase::Overdue, true) => "已逾期",
        (Phase::AtDue, true) => "今日到期",
        (Phase::Before, true) => "期限临近",
    }
}

/// The subject: how many incidents and the worst state among them.
pub fn escalation_subject(service: &str, locale: Locale, items: &[Item]) -> String {
    let n = items
        .iter()
        .map(|i| i.incident_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let worst = items.iter().map(|i| i.phase).max().unwrap_or(Phase::Before);
    let overdue = items
        .iter()
        .filter(|i| i.phase == Phase::Overdue)
        .map(|i| i.incident_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if locale.is_zh() {
        let mut s = format!(
            "[{service}] 升级提醒：{n} 个事件，最严重：{}",
            worst_words(worst, true)
        );
        if overdue > 0 {
            s.push_str(&format!("（{overdue} 个已逾期）"));
        }
        s
    } else {
        let mut s = format!(
            "[{service}] Escalation: {n} incident{}, worst: {}",
            if n == 1 { "" } else { "s" },
            worst_words(worst, false)
        );
        if overdue > 0 {
            s.push_str(&format!(" ({overdue} overdue)"));
        }
        s
    }
}

/// The escalation mail to one person listing `items` (most urgent first).
pub fn escalation(
    settings: &Settings,
    to: &Addressee,
    items: &[Item],
) -> Result<Mail, askama::Error> {
    let locale = to.locale;
    let zh = locale.is_zh();
    let w = words(locale);
    let mut items: Vec<&Item> = items.iter().collect();
    items.sort_by(|a, b| {
        b.phase
            .cmp(&a.phase)
            .then(a.due_at.cmp(&b.due_at))
            .then(a.incident_id.cmp(&b.incident_id))
    });
    let views: Vec<View> = items
        .iter()
        .map(|i| {
            let (due_local, due_utc) = when(i.due_at, i.zone, locale);
            View {
                id: i.incident_id,
                title: i.title.clone(),
                link: settings.public_link(&format!("/incidents/{}", i.incident_id)),
                clock: clock_label(&i.clock, zh),
                step: i.step.clone(),
                step_text: describe(&i.step, zh),
                also: compact(&i.also_fired, zh),
                due_local,
                due_utc,
                state: state_label(&i.state, zh),
                severity: i.severity.clone().unwrap_or_default(),
                expected: expected(&i.state, &i.stops_on, zh),
                next: match &i.next_step {
                    Some((name, at)) => {
                        let (l, u) = when(*at, i.zone, locale);
                        format!("{name} ({}): {l} = {u}", describe(name, zh))
                    }
                    None => w.no_next.to_owned(),
                },
                phase: i.phase.as_str(),
            }
        })
        .collect();
    let owned: Vec<Item> = items.into_iter().cloned().collect();
    let service = settings.public.service_name.as_str();
    let subject = escalation_subject(service, locale, &owned);
    let message_id = new_message_id(&settings.server.public_url);
    render_mail(
        "escalation",
        to,
        locale,
        w,
        service,
        subject,
        w.intro,
        &views,
        message_id,
    )
}

/// The Message-ID of the digest of `day` to `email`: the key that makes it once a day.
pub fn digest_message_id(settings: &Settings, day: chrono::NaiveDate, email: &str) -> String {
    use sha2::{Digest, Sha256};
    let host = settings.server.public_url.host_str().unwrap_or("localhost");
    let who = hex::encode(&Sha256::digest(email.to_lowercase().as_bytes())[..8]);
    format!("<digest.{day}.{who}@{host}>")
}

/// The daily digest of overdue incidents to one lead.
pub fn digest(
    settings: &Settings,
    to: &Addressee,
    day: chrono::NaiveDate,
    now: DateTime<Utc>,
    items: &[DigestItem],
) -> Result<Mail, askama::Error> {
    let locale = to.locale;
    let zh = locale.is_zh();
    let w = words(locale);
    let mut items: Vec<&DigestItem> = items.iter().collect();
    items.sort_by(|a, b| {
        a.due_at
            .cmp(&b.due_at)
            .then(a.incident_id.cmp(&b.incident_id))
    });
    let views: Vec<View> = items
        .iter()
        .map(|i| {
            let (due_local, due_utc) = when(i.due_at, i.zone, locale);
            let days = (now - i.due_at).num_hours() as f64 / 24.0;
            View {
                id: i.incident_id,
                title: i.title.clone(),
                link: settings.public_link(&format!("/incidents/{}", i.incident_id)),
                clock: clock_label(&i.clock, zh),
                step: String::new(),
                step_text: if zh {
                    format!("{} {days:.1} 天", w.overdue_by)
                } else {
                    format!("{} {days:.1} days", w.overdue_by)
                },
                also: String::new(),
                due_local,
                due_utc,
                state: state_label(&i.state, zh),
                severity: String::new(),
                expected: String::new(),
                next: String::new(),
                phase: "overdue",
            }
        })
        .collect();
    let service = settings.public.service_name.as_str();
    let n = items
        .iter()
        .map(|i| i.incident_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let subject = if zh {
        format!("[{service}] 每日摘要 {day}：{n} 个事件已逾期")
    } else {
        format!(
            "[{service}] Daily digest {day}: {n} overdue incident{}",
            if n == 1 { "" } else { "s" }
        )
    };
    let message_id = digest_message_id(settings, day, &to.email);
    render_mail(
        "digest",
        to,
        locale,
        w,
        service,
        subject,
        w.digest_intro,
        &views,
        message_id,
    )
}

/// The text and HTML parts of an escalation or digest mail to `to`.
#[allow(clippy::too_many_arguments)]
fn render_mail(
    kind: &'static str,
    to: &Addressee,
    locale: Locale,
    w: &Words,
    service: &str,
    subject: String,
    intro: &str,
    views: &[View],
    message_id: String,
) -> Result<Mail, askama::Error> {
    let name = if to.name.is_empty() {
        to.email.as_str()
    } else {
        to.name.as_str()
    };
    let text = EscalationText {
        w,
        name,
        service,
        intro,
        items: views,
    }
    .render()?;
    let html = EscalationHtml {
        w,
        name,
        service,
        subject: &subject,
        intro,
        items: views,
    }
    .render()?;
    Ok(Mail {
        kind,
        recipient: to.email.clone(),
        locale: locale.as_str().to_owned(),
        subject,
        text,
        html: Some(html),
        message_id,
    })
}
