//! The workflow's vocabulary in words, for staff pages and staff mail: a person reads
//! "Fix planned" or "已制定整改方案", never `fix_planned`.

use std::borrow::Cow;

use crate::domain::locale::Locale;
use crate::domain::severity::{SeriousKind, Severity};
use crate::domain::workflow::{ActionKind, Role, State};

fn pick(locale: Locale, en: &'static str, zh: &'static str) -> &'static str {
    if locale.is_zh() { zh } else { en }
}

/// A state as a column heading or a badge: "Fix planned" / "已制定整改方案".
pub fn state(s: State, locale: Locale) -> &'static str {
    match s {
        State::New => pick(locale, "New", "待研判"),
        State::Triaged => pick(locale, "Triaged", "已研判"),
        State::Contained => pick(locale, "Contained", "已遏制"),
        State::FixPlanned => pick(locale, "Fix planned", "已制定整改方案"),
        State::Retraining => pick(locale, "Retraining", "优化训练中"),
        State::Verifying => pick(locale, "Verifying", "验证中"),
        State::Resolved => pick(locale, "Resolved", "已整改"),
        State::Rejected => pick(locale, "Rejected", "不予处理"),
        State::Duplicate => pick(locale, "Duplicate", "重复（已合并）"),
    }
}

/// An action as a button's caption or a timeline line's verb.
pub fn action(a: ActionKind, locale: Locale) -> &'static str {
    use ActionKind::*;
    match a {
        Triage => pick(locale, "Triage", "研判"),
        Contain => pick(locale, "Record containment", "记录遏制措施"),
        PlanFix => pick(locale, "Plan fix", "制定整改方案"),
        StartRetraining => pick(locale, "Start retraining", "开始优化训练"),
        SubmitForVerification => pick(locale, "Submit for verification", "提交验证"),
        VerifyPass => pick(locale, "Verification passed", "验证通过"),
        VerifyFail => pick(locale, "Verification failed", "验证未通过"),
        Reopen => pick(locale, "Reopen", "重新打开"),
        Reject => pick(locale, "Reject", "不予处理"),
        Merge => pick(locale, "Merge into another incident", "并入其他事件"),
        SplitOut => pick(locale, "Split out a report", "拆分出举报"),
        Assign => pick(locale, "Assign", "指派"),
        SetCategory => pick(locale, "Change category", "修改类别"),
        SetTitle => pick(locale, "Edit title", "修改标题"),
        SetSeverity => pick(locale, "Change severity", "修改严重程度"),
        SetSerious => pick(locale, "Serious incident", "严重事件"),
        SetEvidenceHold => pick(locale, "Evidence hold", "证据保全"),
        RecordAuthorityReport => pick(locale, "Record authority report", "记录向主管机关报告"),
        Comment => pick(locale, "Comment", "评论"),
        AddCase => pick(locale, "Regression case added", "新增回归用例"),
        EditCase => pick(locale, "Regression case edited", "修改回归用例"),
        RetireCase => pick(locale, "Regression case retired", "停用回归用例"),
        RecordVerification => pick(locale, "Verification run recorded", "记录验证运行"),
        Open => pick(locale, "Opened", "创建"),
        AddReport => pick(locale, "Report added", "新增举报"),
        Absorb => pick(
            locale,
            "Merged incident's reports added",
            "并入被合并事件的举报",
        ),
        RecomputeClock => pick(locale, "Deadline recomputed", "期限已重新计算"),
        MessageReporter => pick(locale, "Message to the reporter", "给举报人的消息"),
        PublishSummary => pick(locale, "Public summary", "公开处理说明"),
        ReporterReply => pick(locale, "Reporter replied", "举报人回复"),
        Redact => pick(locale, "Personal data erased", "个人信息已删除"),
        Appeal => pick(locale, "Decision contested (appeal)", "举报人提出申诉"),
        UpholdAppeal => pick(
            locale,
            "Uphold the decision (appeal refused)",
            "维持原决定（驳回申诉）",
        ),
        GrantAppeal => pick(locale, "Reopen on appeal", "申诉成立，重新处理"),
        AttachEvidence => pick(locale, "Evidence attached", "附加证据"),
    }
}

/// A role, as a noun for the person: "compliance officer" / "合规专员".
pub fn role(r: Role, locale: Locale) -> &'static str {
    match r {
        Role::Triager => pick(locale, "triager", "研判员"),
        Role::Engineer => pick(locale, "engineer", "工程师"),
        Role::Lead => pick(locale, "lead", "组长"),
        Role::Compliance => pick(locale, "compliance officer", "合规专员"),
        Role::Admin => pick(locale, "admin", "管理员"),
    }
}

pub fn severity(s: Severity, locale: Locale) -> &'static str {
    match s {
        Severity::Low => pick(locale, "low", "低"),
        Severity::Medium => pick(locale, "medium", "中"),
        Severity::High => pick(locale, "high", "高"),
        Severity::Critical => pick(locale, "critical", "危急"),
    }
}

/// The kind of serious incident (EU AI Act Art. 3(49)).
pub fn serious_kind(k: SeriousKind, locale: Locale) -> &'static str {
    match k {
        SeriousKind::Death => pick(locale, "death of a person", "人员死亡"),
        SeriousKind::Widespread => pick(locale, "widespread infringement", "大范围侵权"),
        SeriousKind::CriticalInfrastructure => pick(
            locale,
            "serious disruption of critical infrastructure",
            "关键基础设施严重中断",
        ),
        SeriousKind::Other => pick(locale, "other serious incident", "其他严重事件"),
    }
}

/// A clock by its configured name; a name this module does not know is shown as configured
/// (a deployment's own clock), with underscores read as spaces.
pub fn clock(name: &str, locale: Locale) -> Cow<'static, str> {
    let known = match name {
        "acknowledge" => pick(locale, "feedback to the reporter", "向举报人反馈"),
        "triage" => pick(locale, "triage", "研判"),
        "contain" => pick(locale, "containment", "遏制（过滤）"),
        "remediate" => pick(locale, "remediation (model fix)", "整改（模型优化）"),
        "authority_report" => pick(locale, "EU authority report", "向欧盟主管机关报告"),
        "appeal" => pick(locale, "appeal decision", "申诉处理"),
        _ => return Cow::Owned(name.replace('_', " ")),
    };
    Cow::Borrowed(known)
}

/// A clock's state, the same word on the board, the incident page, the status page and in
/// `rectify policy explain`: running; met (its work done by the due instant); breached (done
/// late, or still running past the due instant); stopped (the incident ended without the
/// work); no longer applies (cancelled: what selected it changed). `overdue` is whether a running
/// clock's due instant has passed.
pub fn clock_status(status: &str, overdue: bool, locale: Locale) -> &'static str {
    match status {
        "running" if overdue => pick(locale, "breached", "已超期"),
        "running" => pick(locale, "running", "进行中"),
        "met" => pick(locale, "met", "按期完成"),
        "breached" => pick(locale, "breached", "已超期"),
        "stopped" => pick(locale, "stopped", "已终止"),
        "cancelled" => pick(locale, "no longer applies", "不再适用"),
        _ => pick(locale, "unknown", "未知"),
    }
}

/// Why a clock ended, from the action that ended it: "incident rejected", "merged into
/// another incident"…; the action's own caption otherwise.
pub fn stop_reason(a: ActionKind, locale: Locale) -> &'static str {
    match a {
        ActionKind::Reject => pick(locale, "incident rejected", "事件不予处理"),
        ActionKind::Merge => pick(locale, "merged into another incident", "已并入其他事件"),
        ActionKind::VerifyPass => pick(locale, "incident resolved", "事件已整改"),
        ActionKind::SetSeverity | ActionKind::Triage => {
            pick(locale, "severity changed", "严重程度已变更")
        }
        ActionKind::SetSerious => pick(
            locale,
            "serious-incident designation changed",
            "严重事件认定已变更",
        ),
        ActionKind::SetCategory => pick(locale, "category changed", "类别已变更"),
        other => action(other, locale),
    }
}

/// A stored clock's state word and, when it stopped, why: `status` and `stop_reason` as the
/// clock row keeps them; `overdue` whether a running clock's due instant has passed.
pub fn clock_state(
    status: &str,
    reason: Option<&str>,
    overdue: bool,
    locale: Locale,
) -> (&'static str, Option<&'static str>) {
    let word = clock_status(status, status == "running" && overdue, locale);
    let why = match status {
        "stopped" | "cancelled" => reason
            .and_then(|r| r.parse().ok())
            .map(|a| stop_reason(a, locale)),
        _ => None,
    };
    (word, why)
}

/// The mark beside a due instant that rests on a year no official calendar covers yet.
pub fn provisional_deadline(locale: Locale) -> &'static str {
    pick(locale, "provisional deadline", "临时期限")
}

/// Why it is provisional: "2027 counted by statutory rule".
pub fn provisional_why(years: &str, locale: Locale) -> String {
    if locale.is_zh() {
        format!("{years} 年尚无官方安排，按法定节假日临时计算")
    } else {
        format!("{years}: no official arrangement yet, counted on the statutory holidays")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word exists in both languages and no identifier is shown as a word.
    #[test]
    fn every_value_has_words_in_both_languages() {
        for locale in [Locale::En, Locale::ZhCn] {
            let mut all: Vec<(String, &str)> = Vec::new();
            all.extend(State::ALL.map(|s| (state(s, locale).to_owned(), s.as_str())));
            all.extend(ActionKind::ALL.map(|a| (action(a, locale).to_owned(), a.as_str())));
            all.extend(Role::ALL.map(|r| (role(r, locale).to_owned(), r.as_str())));
            all.extend(Severity::ALL.map(|s| (severity(s, locale).to_owned(), s.as_str())));
            all.extend(SeriousKind::ALL.map(|k| (serious_kind(k, locale).to_owned(), k.as_str())));
            for st in ["running", "met", "breached", "stopped", "cancelled"] {
                all.push((clock_status(st, false, locale).to_owned(), st));
                all.push((clock_status(st, true, locale).to_owned(), st));
            }
            all.extend(ActionKind::ALL.map(|a| (stop_reason(a, locale).to_owned(), a.as_str())));
            all.push((provisional_deadline(locale).to_owned(), "provisional"));
            for c in [
                "acknowledge",
                "triage",
                "contain",
                "remediate",
                "authority_report",
            ] {
                all.push((clock(c, locale).into_owned(), c));
            }
            for (word, id) in all {
                assert!(!word.is_empty());
                assert!(
                    !word.contains('_'),
                    "{word:?} for {id} reads like an identifier"
                );
                if locale.is_zh() {
                    assert!(
                        !word.chars().any(|c| c.is_ascii_alphabetic()),
                        "{word:?} for {id} is not Chinese"
                    );
                }
            }
        }
    }
}
