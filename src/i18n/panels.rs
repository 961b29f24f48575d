//! The words of the incident page's own panels, in English and Simplified Chinese: the
//! retraining panel (desired behaviour, regression cases, verification runs, and the case
//! form that comes back with a mistake) and the reporter panel (public summary, evidence,
//! messages with the reporters).

use crate::domain::cases::DesiredKind;
use crate::domain::locale::Locale;

pub struct RetrainingTexts {
    pub heading: &'static str,
    pub desired_behaviour: &'static str,
    pub desired_not_set: &'static str,
    pub cases: &'static str,
    /// "{active} active of {total}".
    pub active_of: fn(usize, usize) -> String,
    pub case: &'static str,
    pub retired: &'static str,
    pub prompt: &'static str,
    pub bad_output: &'static str,
    pub desired_response: &'static str,
    pub inherits: &'static str,
    pub no_desired: &'static str,
    pub edit_or_retire: &'static str,
    pub desired_blank: &'static str,
    pub save_case: &'static str,
    pub why_retire: &'static str,
    pub retire_case: &'static str,
    pub add_heading: &'static str,
    pub edit_heading: &'static str,
    pub retire_heading: &'static str,
    pub add_case: &'static str,
    pub back: &'static str,
    pub runs: &'static str,
    pub no_runs: &'static str,
    pub model: &'static str,
    /// "{passed} of {total} passed".
    pub passed_of: fn(usize, usize) -> String,
    pub by: &'static str,
    pub new_output: &'static str,
    pub result: &'static str,
    pub passed: &'static str,
    pub failed: &'static str,
    pub score: &'static str,
}

pub static RETRAINING_EN: RetrainingTexts = RetrainingTexts {
    heading: "Retraining: regression cases and verification",
    desired_behaviour: "Desired behaviour",
    desired_not_set: "not set yet: “Plan fix” sets it (a reference answer or a refusal style), \
                      used for every case without a response of its own",
    cases: "Cases",
    active_of: |active, total| format!("{active} active of {total}"),
    case: "Case",
    retired: "retired",
    prompt: "Prompt",
    bad_output: "Bad output",
    desired_response: "Desired response",
    inherits: "the incident's desired behaviour",
    no_desired: "none yet: left out of training exports",
    edit_or_retire: "Edit or retire case",
    desired_blank: "Desired response (blank: the incident's)",
    save_case: "Save case",
    why_retire: "Why retire it",
    retire_case: "Retire case",
    add_heading: "Add a regression case",
    edit_heading: "Edit a regression case",
    retire_heading: "Retire a regression case",
    add_case: "Add case",
    back: "Back to the incident",
    runs: "Verification runs",
    no_runs: "No verification run has been posted for this incident's cases.",
    model: "model",
    passed_of: |passed, total| format!("{passed} of {total} passed"),
    by: "by",
    new_output: "New output",
    result: "Result",
    passed: "passed",
    failed: "failed",
    score: "score",
};

pub static RETRAINING_ZH: RetrainingTexts = RetrainingTexts {
    heading: "优化训练：回归用例与验证",
    desired_behaviour: "期望行为",
    desired_not_set: "尚未设置：由“制定整改方案”设置（参考答案或拒答方式），\
                      用于所有没有单独期望回答的用例",
    cases: "用例",
    active_of: |active, total| format!("共 {total} 个，{active} 个在用"),
    case: "用例",
    retired: "已停用",
    prompt: "提示词",
    bad_output: "问题输出",
    desired_response: "期望回答",
    inherits: "使用事件的期望行为",
    no_desired: "尚无：不纳入训练导出",
    edit_or_retire: "修改或停用用例",
    desired_blank: "期望回答（留空则使用事件的期望行为）",
    save_case: "保存用例",
    why_retire: "停用原因",
    retire_case: "停用用例",
    add_heading: "新增回归用例",
    edit_heading: "修改回归用例",
    retire_heading: "停用回归用例",
    add_case: "新增用例",
    back: "返回事件",
    runs: "验证运行",
    no_runs: "尚无针对该事件用例的验证运行。",
    model: "模型",
    passed_of: |passed, total| format!("{total} 个中通过 {passed} 个"),
    by: "操作人",
    new_output: "新输出",
    result: "结果",
    passed: "通过",
    failed: "未通过",
    score: "得分",
};

pub fn retraining_texts(locale: Locale) -> &'static RetrainingTexts {
    if locale.is_zh() {
        &RETRAINING_ZH
    } else {
        &RETRAINING_EN
    }
}

/// Where a regression case came from, by its stored `source`.
pub fn case_source(source: &str, locale: Locale) -> &'static str {
    match (source, locale.is_zh()) {
        ("report", false) => "from a report",
        ("report", true) => "来自举报",
        ("import", false) => "from a red-team import",
        ("import", true) => "来自红队测试导入",
        (_, false) => "added by staff",
        (_, true) => "由工作人员添加",
    }
}

/// The kind of desired behaviour a fix plan set.
pub fn desired_kind(kind: DesiredKind, locale: Locale) -> &'static str {
    match (kind, locale.is_zh()) {
        (DesiredKind::Reference, false) => "Reference answer",
        (DesiredKind::Reference, true) => "参考答案",
        (DesiredKind::Refusal, false) => "Refusal",
        (DesiredKind::Refusal, true) => "拒答",
    }
}

/// The sentence on the automated evidence: a pipeline run covering every active case.
pub fn evidence_passed(run: &str, model: &str, active: usize, locale: Locale) -> String {
    if locale.is_zh() {
        format!("自动验证证据：模型 {model} 的验证运行 {run} 通过了全部 {active} 个在用用例。")
    } else {
        format!("Automated evidence: run {run} of {model} passed all {active} active cases.")
    }
}

pub fn evidence_failed(
    run: &str,
    model: &str,
    failed: usize,
    active: usize,
    which: &str,
    locale: Locale,
) -> String {
    if locale.is_zh() {
        format!(
            "自动验证证据：模型 {model} 的验证运行 {run} 在 {active} 个在用用例中有 {failed} 个未通过（{which}）。"
        )
    } else {
        format!(
            "Automated evidence: run {run} of {model} failed {failed} of {active} active cases ({which})."
        )
    }
}

pub fn no_evidence(locale: Locale) -> &'static str {
    if locale.is_zh() {
        "尚无自动验证证据：流水线提交的验证运行均未覆盖全部在用用例。人工验证以填写的提示词和结果为依据。"
    } else {
        "No automated evidence: no verification run posted by the pipeline covers every active \
         case. A verification by hand rests on the prompts and outcome typed."
    }
}

pub struct ReporterPanelTexts {
    pub heading: &'static str,
    pub appeal_open: &'static str,
    /// "{n} new replies".
    pub new_replies: fn(usize) -> String,
    pub public_summary: &'static str,
    pub no_summary: &'static str,
    pub evidence: &'static str,
    pub no_evidence: &'static str,
    pub attach_label: &'static str,
    pub attach: &'static str,
    pub messages: &'static str,
    pub no_messages: &'static str,
    pub new: &'static str,
    pub erased: &'static str,
    /// A recipient with an address gets mail and the status page; without, the page only.
    pub by_mail: &'static str,
    pub page_only: &'static str,
    /// "every reporter of this incident ({n})".
    pub everyone: fn(usize) -> String,
    /// "reporter of #3 7KQ2-…".
    pub reporter_of: fn(&str) -> String,
    /// "evidence by ann@example.org: ".
    pub evidence_by: fn(&str) -> String,
}

pub static REPORTER_EN: ReporterPanelTexts = ReporterPanelTexts {
    heading: "Reporters",
    appeal_open: "appeal open",
    new_replies: |n| match n {
        1 => "1 new reply".into(),
        n => format!("{n} new replies"),
    },
    public_summary: "Public summary",
    no_summary: "None yet. The status page shows the stage's general sentence until staff \
                 write one (with a containment, a verified fix, or the “Public summary” action).",
    evidence: "Screenshots and evidence",
    no_evidence: "No screenshots came with the reports and no evidence is attached.",
    attach_label: "Attach evidence (image, PDF, JSON, CSV or text; at most 20 MiB; its SHA-256 \
                   goes into the audit chain)",
    attach: "Attach",
    messages: "Messages",
    no_messages: "No messages with the reporters yet. Send one with “Message to the reporter” \
                  below; a reporter answers on their status page.",
    new: "new",
    erased: "(erased under the retention policy)",
    by_mail: "mail + status page",
    page_only: "status page only",
    everyone: |n| format!("every reporter of this incident ({n})"),
    reporter_of: |code| format!("reporter of {code}"),
    evidence_by: |who| format!("evidence by {who}: "),
};

pub static REPORTER_ZH: ReporterPanelTexts = ReporterPanelTexts {
    heading: "举报人",
    appeal_open: "申诉待处理",
    new_replies: |n| format!("{n} 条新回复"),
    public_summary: "公开处理说明",
    no_summary: "尚无。在工作人员撰写之前（记录遏制措施、确认整改验证通过或使用“公开处理说明”操作时），\
                 进度页面显示当前阶段的通用说明。",
    evidence: "截图与证据",
    no_evidence: "举报未附截图，也未附加证据。",
    attach_label: "附加证据（图片、PDF、JSON、CSV 或文本；最大 20 MiB；其 SHA-256 记入审计链）",
    attach: "附加",
    messages: "消息",
    no_messages: "尚无与举报人的消息。可用下方的“给举报人的消息”发送；举报人在其进度页面回复。",
    new: "新",
    erased: "（已按保留政策删除）",
    by_mail: "邮件及进度页面",
    page_only: "仅进度页面",
    everyone: |n| format!("该事件的全部举报人（{n}）"),
    reporter_of: |code| format!("{code} 的举报人"),
    evidence_by: |who| format!("{who} 上传的证据："),
};

pub fn reporter_texts(locale: Locale) -> &'static ReporterPanelTexts {
    if locale.is_zh() {
        &REPORTER_ZH
    } else {
        &REPORTER_EN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chinese_panels_are_chinese() {
        let t = retraining_texts(Locale::ZhCn);
        for s in [t.heading, t.cases, t.prompt, t.runs, t.result, t.no_runs] {
            assert!(!s.chars().any(|c| c.is_ascii_alphabetic()), "{s}");
        }
        let r = reporter_texts(Locale::ZhCn);
        for s in [
            r.heading,
            r.public_summary,
            r.messages,
            r.no_messages,
            r.erased,
        ] {
            assert!(!s.chars().any(|c| c.is_ascii_alphabetic()), "{s}");
        }
        for src in ["report", "import", "staff"] {
            assert!(!case_source(src, Locale::ZhCn).is_ascii());
        }
        assert_eq!((r.new_replies)(2), "2 条新回复");
        assert_eq!((REPORTER_EN.new_replies)(1), "1 new reply");
    }
}
