//! Why a workflow action was not taken, as a sentence in the reader's language. The workflow
//! keeps a [`Refusal`] as data (its `Display` is the English of the CLI, the API and the logs);
//! a staff page says it here, with the words of `words` for actions, states and roles and a
//! field's name for a field, so that no identifier like `plan_fix` or `report_id` reaches a
//! person.

use crate::domain::locale::Locale;
use crate::domain::workflow::{
    ActionKind, Problem, Refusal, Role, State, Unchanged, roles_allowed, states_allowing,
};
use crate::i18n::words;

/// The sentence a staff page shows for a refusal.
pub fn sentence(r: &Refusal, locale: Locale) -> String {
    if locale.is_zh() {
        format!("{}。", zh(r))
    } else {
        let s = en(r);
        let mut chars = s.chars();
        match chars.next() {
            Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
            None => s,
        }
    }
}

fn en(r: &Refusal) -> String {
    match r {
        Refusal::NotPermitted { action, .. } if action.is_system() => {
            format!("only the system may {}", action.phrase())
        }
        Refusal::NotPermitted { action, role: None } => format!(
            "the system may not {}: a member of staff must",
            action.phrase()
        ),
        Refusal::NotPermitted { action, .. } => {
            let roles = role_words(*action, Locale::En);
            format!("only {} may {}", a_list(&roles), action.phrase())
        }
        Refusal::WrongState { action, state } => {
            let mut s = format!(
                "cannot {} while the incident is {}",
                action.phrase(),
                state.label()
            );
            let states: Vec<&str> = states_allowing(*action)
                .into_iter()
                .map(State::label)
                .collect();
            if !states.is_empty() {
                s.push_str(&format!(" (only when it is {})", or_list(&states, " or ")));
            }
            s
        }
        Refusal::Missing { field } => format!("{} is required", field_words(field).required),
        Refusal::Invalid { field, problem } => {
            let problem = match problem {
                Problem::UnknownName(e) => format!("{:?} is not one of the choices", e.value),
                p => p.to_string(),
            };
            format!("{}: {problem}", field_words(field).en)
        }
        Refusal::EvidenceHold | Refusal::AlreadyOpen { .. } | Refusal::UnknownAction { .. } => {
            r.to_string()
        }
        Refusal::LastReport => "cannot split out the incident's only report".into(),
        Refusal::NothingToChange { what } => {
            let what = match what {
                Unchanged::Category { .. } => "the incident already has that category".into(),
                Unchanged::Severity { severity } => format!(
                    "the severity is already {}",
                    words::severity(*severity, Locale::En)
                ),
                w => w.to_string(),
            };
            format!("nothing to change: {what}")
        }
        Refusal::NotOpen { action } => {
            format!("cannot {} before the incident is opened", action.phrase())
        }
    }
}

fn zh(r: &Refusal) -> String {
    let zh = Locale::ZhCn;
    match r {
        Refusal::NotPermitted { action, .. } if action.is_system() => {
            format!("只有系统可以{}", zh_phrase(*action))
        }
        Refusal::NotPermitted { action, role: None } => {
            format!("系统不能{}，须由工作人员操作", zh_phrase(*action))
        }
        Refusal::NotPermitted { action, .. } => {
            let roles = role_words(*action, zh);
            format!("只有{}可以{}", or_list(&roles, "或"), zh_phrase(*action))
        }
        Refusal::WrongState { action, state } => {
            let mut s = format!(
                "事件处于“{}”状态时不能{}",
                words::state(*state, zh),
                zh_phrase(*action)
            );
            let states: Vec<String> = states_allowing(*action)
                .into_iter()
                .map(|s| format!("“{}”", words::state(s, zh)))
                .collect();
            if !states.is_empty() {
                let states: Vec<&str> = states.iter().map(String::as_str).collect();
                s.push_str(&format!("（仅在{}状态时可以）", or_list(&states, "或")));
            }
            s
        }
        Refusal::Missing { field } => format!("{}为必填项", field_words(field).zh_required),
        Refusal::Invalid { field, problem } => {
            format!("{}：{}", field_words(field).zh, zh_problem(problem))
        }
        Refusal::EvidenceHold => "证据保全中：该严重事件尚未向主管机关报告，不能开始优化训练\
             （欧盟《人工智能法》第73条第6款）；请先记录向主管机关报告，或由组长或合规专员解除证据保全"
            .into(),
        Refusal::LastReport => "举报：不能拆分出事件唯一的举报".into(),
        Refusal::NothingToChange { what } => format!("无需变更：{}", zh_unchanged(what)),
        Refusal::AlreadyOpen { incident_id } => {
            format!("事件 INC-{incident_id} 已经创建，一个事件只创建一次")
        }
        Refusal::NotOpen { action } => format!("事件尚未创建，不能{}", zh_phrase(*action)),
        Refusal::UnknownAction { name } => format!("没有名为“{name}”的操作"),
    }
}

fn zh_problem(p: &Problem) -> String {
    let zh = Locale::ZhCn;
    match p {
        Problem::ControlCharacters => "含有控制字符（只允许换行符和制表符）".into(),
        Problem::TooLong { max } => format!("超过了 {max} 个字符"),
        Problem::TitleTooLong { max } => format!("最多 {max} 个字符"),
        Problem::NotPositive { value } => format!("{value} 不是有效的编号（须为 1 或更大）"),
        Problem::NotANumber { value } => format!("“{value}”不是数字"),
        Problem::NotOnOrOff { value } => format!("“{value}”既不是开启也不是关闭"),
        Problem::UnknownName(e) => format!("“{}”不是可选的值", e.value),
        Problem::NotInTaxonomy { value } => format!("“{value}”不是分类体系中的类别"),
        Problem::BothDesired => "参考答案和拒答方式只能填写其一".into(),
        Problem::MergeIntoItself => "事件不能并入自身".into(),
        Problem::NoSuchIncident { id } => format!("没有事件 INC-{id}"),
        Problem::MergeIntoDuplicate { id } => {
            format!("事件 INC-{id} 本身是重复事件；请并入它所重复的事件")
        }
        Problem::MergeIntoClosed { id, state } => format!(
            "事件 INC-{id} 处于“{}”状态；只有处理中的事件才能接收合并",
            words::state(*state, zh)
        ),
        Problem::AbsorbItself => "事件不能并入自身".into(),
        Problem::SplitIntoItself => "拆分出的举报必须归入另一个事件".into(),
        Problem::OwnDecision => "申诉须由作出被申诉决定的人以外的人员处理".into(),
        Problem::NoOpenAppeal => "该事件没有待处理的申诉".into(),
        Problem::NotThisIncidentsReport { report_id } => {
            format!("举报 #{report_id} 不属于该事件")
        }
        Problem::CaseRetired { case_id } => format!("用例 #{case_id} 已停用；请新增用例"),
    }
}

fn zh_unchanged(u: &Unchanged) -> String {
    let zh = Locale::ZhCn;
    match u {
        Unchanged::EvidenceHold { on: true } => "证据保全已处于开启状态".into(),
        Unchanged::EvidenceHold { on: false } => "证据保全已处于关闭状态".into(),
        Unchanged::Serious { kind: Some(k) } => {
            format!("已认定为严重事件（{}）", words::serious_kind(*k, zh))
        }
        Unchanged::Serious { kind: None } => "事件未被认定为严重事件".into(),
        Unchanged::Assignee { assigned: true } => "事件已指派给此人".into(),
        Unchanged::Assignee { assigned: false } => "事件未指派给任何人".into(),
        Unchanged::Title => "标题已是该内容".into(),
        Unchanged::Category { .. } => "事件已是该类别".into(),
        Unchanged::Severity { severity } => {
            format!("严重程度已是“{}”", words::severity(*severity, zh))
        }
        Unchanged::MergeTarget => "合并目标".into(),
        Unchanged::CaseText { case_id } => format!("用例 #{case_id} 的内容已是如此"),
        Unchanged::CaseRetired { case_id } => format!("用例 #{case_id} 已经停用"),
    }
}

/// An action as what someone may or may not do, after "只有……可以" / "不能".
fn zh_phrase(a: ActionKind) -> &'static str {
    use ActionKind::*;
    match a {
        Triage => "研判事件",
        Contain => "记录遏制措施",
        PlanFix => "制定整改方案",
        StartRetraining => "开始优化训练",
        SubmitForVerification => "提交整改进行验证",
        VerifyPass => "确认验证通过",
        VerifyFail => "判定验证未通过",
        Reopen => "重新打开事件",
        Reject => "对事件作出不予处理的决定",
        Merge => "将事件并入其他事件",
        SplitOut => "从事件中拆分出举报",
        Assign => "指派事件",
        SetCategory => "修改事件类别",
        SetTitle => "修改事件标题",
        SetSeverity => "修改事件的严重程度",
        SetSerious => "认定严重事件",
        SetEvidenceHold => "设置或解除证据保全",
        RecordAuthorityReport => "记录向主管机关的报告",
        Comment => "评论事件",
        AddCase => "新增回归用例",
        EditCase => "修改回归用例",
        RetireCase => "停用回归用例",
        RecordVerification => "记录验证运行",
        Open => "创建事件",
        AddReport => "向事件添加举报",
        Absorb => "转移被合并事件的举报",
        RecomputeClock => "重新计算期限",
        MessageReporter => "给举报人发送消息",
        PublishSummary => "向举报人公开处理说明",
        ReporterReply => "记录举报人的回复",
        Redact => "删除举报人的个人信息",
        Appeal => "对决定提出申诉",
        UpholdAppeal => "维持被申诉的决定",
        GrantAppeal => "因申诉重新处理事件",
        AttachEvidence => "为事件附加证据",
    }
}

fn role_words(action: ActionKind, locale: Locale) -> Vec<&'static str> {
    roles_allowed(action)
        .into_iter()
        .map(|r: Role| words::role(r, locale))
        .collect()
}

/// "a triager, lead or admin" / "an engineer or admin".
fn a_list(nouns: &[&str]) -> String {
    let list = or_list(nouns, " or ");
    let article = match list.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    };
    format!("{article} {list}")
}

/// "a, b or c" / "甲、乙或丙".
fn or_list(items: &[&str], or: &str) -> String {
    let sep = if or == "或" { "、" } else { ", " };
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{}{or}{last}", init.join(sep)),
    }
}

/// A form field's name as a person reads it: "Fix plan" / "整改方案".
pub fn field_name(field: &str, locale: Locale) -> &'static str {
    let w = field_words(field);
    if locale.is_zh() { w.zh } else { w.en }
}

/// "Prompt: This field is required." / "提示词：此项为必填项。"
pub fn about_field(field: &str, what: &str, locale: Locale) -> String {
    if locale.is_zh() {
        format!("{}：{what}", field_name(field, locale))
    } else {
        format!("{}: {what}", field_name(field, locale))
    }
}

/// A form field as a person calls it.
struct FieldWords {
    /// After "… is required", with its article.
    required: &'static str,
    /// Before ": what is wrong with it".
    en: &'static str,
    zh_required: &'static str,
    zh: &'static str,
}

/// Every field an action reads; one this table does not know is "a value" (never its name).
fn field_words(field: &str) -> FieldWords {
    let (required, en, zh_required, zh) = match field {
        "category" => ("a category", "Category", "类别", "类别"),
        "severity" => ("a severity", "Severity", "严重程度", "严重程度"),
        "reasons" => (
            "a statement of reasons for the reporter",
            "Statement of reasons",
            "给举报人的理由说明",
            "理由说明",
        ),
        "target" => (
            "the incident to merge into",
            "Merge into",
            "要并入的事件编号",
            "要并入的事件",
        ),
        "filter_rule" => (
            "the filter rule",
            "Filter rule",
            "过滤规则编号",
            "过滤规则编号",
        ),
        "blocks" => (
            "what the filter blocks",
            "What it blocks",
            "过滤拦截的内容",
            "拦截的内容",
        ),
        "plan" => ("the fix plan", "Fix plan", "整改方案", "整改方案"),
        "reference_answer" => (
            "the desired behaviour: a reference answer or a refusal style (what the retrained \
             model should say)",
            "Reference answer",
            "期望行为（参考答案或拒答方式，即优化后的模型应当如何回答）",
            "参考答案",
        ),
        "refusal_style" => ("a refusal style", "Refusal style", "拒答方式", "拒答方式"),
        "case_id" => (
            "the regression case",
            "Regression case",
            "回归用例",
            "回归用例",
        ),
        "prompt" => ("the prompt", "Prompt", "提示词", "提示词"),
        "bad_output" => ("the bad output", "Bad output", "问题输出", "问题输出"),
        "desired" => (
            "the desired response",
            "Desired response",
            "期望回答",
            "期望回答",
        ),
        "run_id" => (
            "the verification run",
            "Verification run",
            "验证运行",
            "验证运行",
        ),
        "training_run" => (
            "the training run",
            "Training run",
            "训练任务编号",
            "训练任务编号",
        ),
        "model_version" => (
            "the candidate model version",
            "Candidate model version",
            "候选模型版本",
            "候选模型版本",
        ),
        "prompts" => (
            "the prompts used to verify",
            "Prompts re-run",
            "用于验证的提示词",
            "验证提示词",
        ),
        "outcome" => (
            "the outcome of verification",
            "Outcome",
            "验证结果",
            "验证结果",
        ),
        "reason" => ("a reason", "Reason", "原因", "原因"),
        "reference" => (
            "the authority's reference",
            "Authority report reference",
            "主管机关报告编号",
            "主管机关报告编号",
        ),
        "text" => ("the text", "Text", "正文", "正文"),
        "report_id" => ("the report", "Report", "举报", "举报"),
        "new_incident_id" => ("the new incident", "New incident", "新事件", "新事件"),
        "title" => ("a title", "Title", "标题", "标题"),
        "fingerprint" => ("a fingerprint", "Fingerprint", "内容指纹", "内容指纹"),
        "from_incident" => (
            "the merged incident",
            "Merged incident",
            "被合并的事件",
            "被合并的事件",
        ),
        "assignee" => ("an assignee", "Assignee", "负责人", "负责人"),
        "kind" => (
            "a serious-incident kind",
            "Serious-incident kind",
            "严重事件类型",
            "严重事件类型",
        ),
        "on" => ("on or off", "Evidence hold", "证据保全的开关", "证据保全"),
        "appeal" => ("an appeal", "Appeal", "申诉", "申诉"),
        "public_summary" => (
            "a public summary",
            "Public summary",
            "公开处理说明",
            "公开处理说明",
        ),
        _ => ("a value", "Value", "该项", "该项"),
    };
    FieldWords {
        required,
        en,
        zh_required,
        zh,
    }
}

fn pick(locale: Locale, en: &'static str, zh: &'static str) -> &'static str {
    if locale.is_zh() { zh } else { en }
}

/// Two people acted on the incident at once and the other won.
pub fn conflict(locale: Locale) -> &'static str {
    pick(
        locale,
        "Someone else changed this incident while you were looking at it. Check the timeline \
         below and try again.",
        "在您查看期间，其他人修改了该事件。请查看下方的处理记录后重试。",
    )
}

/// The same, for one incident of a bulk action.
pub fn conflict_in_bulk(locale: Locale) -> &'static str {
    pick(
        locale,
        "Someone else changed this incident at the same moment; try it again.",
        "其他人在同一时刻修改了该事件，请重试。",
    )
}

/// A row the action refers to vanished meanwhile, or would be duplicated.
pub fn constraint(locale: Locale) -> &'static str {
    pick(
        locale,
        "The action refers to something that does not exist (any more), or repeats something \
         that exists; nothing was changed.",
        "该操作引用的内容不存在（或已不存在），或与已有内容重复；未作任何更改。",
    )
}

/// An action form without the incident's version (a stale or hand-made form).
pub fn no_version(locale: Locale) -> &'static str {
    pick(
        locale,
        "The form did not say which version of the incident it was filled in on. Reload the \
         page and try again.",
        "表单未注明填写时事件的版本。请刷新页面后重试。",
    )
}

pub fn no_staff_account(user_id: i64, locale: Locale) -> String {
    if locale.is_zh() {
        format!("没有编号为 {user_id} 的在用工作人员账号，无法指派。")
    } else {
        format!("There is no active staff account number {user_id} to assign to.")
    }
}

pub fn unknown_bulk_action(locale: Locale) -> &'static str {
    pick(locale, "Unknown bulk action.", "未知的批量操作。")
}

pub fn no_such_case(locale: Locale) -> &'static str {
    pick(
        locale,
        "There is no such case on this incident.",
        "该事件没有这个回归用例。",
    )
}

/// The database failed; the person's change is not lost silently.
pub fn not_stored(locale: Locale) -> &'static str {
    pick(
        locale,
        "The change could not be stored; nothing was changed.",
        "无法保存更改；未作任何更改。",
    )
}

pub fn retire_needs_reason(locale: Locale) -> &'static str {
    pick(
        locale,
        "Say why the case is no longer used.",
        "请说明停用该用例的原因。",
    )
}

pub fn too_large(locale: Locale) -> &'static str {
    pick(locale, "The form is too large.", "提交的内容过大。")
}

pub fn malformed_form(locale: Locale) -> &'static str {
    pick(
        locale,
        "The form could not be read.",
        "无法读取提交的表单。",
    )
}

pub fn cross_site(locale: Locale) -> &'static str {
    pick(
        locale,
        "This request came from another site and was refused.",
        "该请求来自其他网站，已被拒绝。",
    )
}

pub fn stale_form(locale: Locale) -> &'static str {
    pick(
        locale,
        "The form's security token is missing or out of date. Reload the page and try again.",
        "表单的安全令牌缺失或已过期。请刷新页面后重试。",
    )
}

/// Evidence uploads.
pub fn upload_unreadable(locale: Locale) -> &'static str {
    pick(
        locale,
        "The upload could not be read; send the file from the incident page's form.",
        "无法读取上传的文件；请通过事件页面的表单上传。",
    )
}

pub fn evidence_too_large(mib: usize, locale: Locale) -> String {
    if locale.is_zh() {
        format!("证据文件最大为 {mib} MiB。")
    } else {
        format!("Evidence files may be at most {mib} MiB.")
    }
}

pub fn choose_file(locale: Locale) -> &'static str {
    pick(locale, "Choose a file to attach.", "请选择要附加的文件。")
}

pub fn evidence_type(locale: Locale) -> &'static str {
    pick(
        locale,
        "Evidence must be an image (PNG, JPEG, WebP), a PDF, JSON, CSV or text file.",
        "证据须为图片（PNG、JPEG、WebP）、PDF、JSON、CSV 或文本文件。",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::severity::{SeriousKind, Severity, UnknownName};

    /// One of every kind of refusal, with every detail a sentence can carry.
    fn every_refusal() -> Vec<Refusal> {
        let mut all = Vec::new();
        for action in ActionKind::ALL {
            for role in Role::ALL.map(Some).into_iter().chain([None]) {
                all.push(Refusal::NotPermitted { action, role });
            }
            for state in State::ALL {
                all.push(Refusal::WrongState { action, state });
            }
            all.push(Refusal::NotOpen { action });
        }
        let fields = [
            "category",
            "severity",
            "reasons",
            "target",
            "filter_rule",
            "blocks",
            "plan",
            "reference_answer",
            "refusal_style",
            "case_id",
            "prompt",
            "bad_output",
            "desired",
            "run_id",
            "training_run",
            "model_version",
            "prompts",
            "outcome",
            "reason",
            "reference",
            "text",
            "report_id",
            "new_incident_id",
            "title",
            "fingerprint",
            "from_incident",
            "assignee",
            "kind",
            "on",
            "appeal",
            "public_summary",
            "no_such_field",
        ];
        let mut problems = vec![
            Problem::ControlCharacters,
            Problem::TooLong { max: 500 },
            Problem::TitleTooLong { max: 200 },
            Problem::NotPositive { value: 0 },
            Problem::NotANumber {
                value: "abc".into(),
            },
            Problem::NotOnOrOff {
                value: "maybe".into(),
            },
            Problem::UnknownName(UnknownName {
                what: "serious-incident kind",
                value: "huge".into(),
                expected: "death, widespread, critical_infrastructure or other",
            }),
            Problem::NotInTaxonomy {
                value: "nonsense".into(),
            },
            Problem::BothDesired,
            Problem::MergeIntoItself,
            Problem::NoSuchIncident { id: 9 },
            Problem::MergeIntoDuplicate { id: 9 },
            Problem::AbsorbItself,
            Problem::SplitIntoItself,
            Problem::OwnDecision,
            Problem::NoOpenAppeal,
            Problem::NotThisIncidentsReport { report_id: 3 },
            Problem::CaseRetired { case_id: 4 },
        ];
        problems.extend(State::ALL.map(|state| Problem::MergeIntoClosed { id: 9, state }));
        for field in fields {
            all.push(Refusal::Missing { field });
            for problem in &problems {
                all.push(Refusal::Invalid {
                    field,
                    problem: problem.clone(),
                });
            }
        }
        let mut unchanged = vec![
            Unchanged::EvidenceHold { on: true },
            Unchanged::EvidenceHold { on: false },
            Unchanged::Serious { kind: None },
            Unchanged::Assignee { assigned: true },
            Unchanged::Assignee { assigned: false },
            Unchanged::Title,
            Unchanged::Category {
                category: "core_values.false_information".into(),
            },
            Unchanged::MergeTarget,
            Unchanged::CaseText { case_id: 2 },
            Unchanged::CaseRetired { case_id: 2 },
        ];
        unchanged.extend(SeriousKind::ALL.map(|k| Unchanged::Serious { kind: Some(k) }));
        unchanged.extend(Severity::ALL.map(|severity| Unchanged::Severity { severity }));
        all.extend(
            unchanged
                .into_iter()
                .map(|what| Refusal::NothingToChange { what }),
        );
        all.extend([
            Refusal::EvidenceHold,
            Refusal::LastReport,
            Refusal::AlreadyOpen { incident_id: 7 },
            Refusal::UnknownAction {
                name: "frobnicate".into(),
            },
        ]);
        all
    }

    /// A word of ASCII letters and digits joined by an underscore: `plan_fix`, `report_id`.
    fn identifier_in(s: &str) -> Option<&str> {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.contains('_'))
    }

    #[test]
    fn every_refusal_reads_in_both_languages_without_identifiers() {
        for r in every_refusal() {
            let en = sentence(&r, Locale::En);
            let zh = sentence(&r, Locale::ZhCn);
            for s in [&en, &zh] {
                assert!(s.chars().count() > 5, "{r:?}: {s:?}");
                assert_eq!(identifier_in(s), None, "{r:?} reads {s:?}");
            }
            assert!(
                en.ends_with('.') && en.starts_with(char::is_uppercase),
                "{en}"
            );
            assert!(zh.ends_with('。'), "{zh}");
            // The Chinese is Chinese: letters only where the person typed them or in a
            // reference (INC-9, EU AI Act's Art. numbers are written in Chinese).
            let latin: String = zh
                .replace("INC-", "")
                .replace("frobnicate", "")
                .replace("abc", "")
                .replace("maybe", "")
                .replace("huge", "")
                .replace("nonsense", "")
                .chars()
                .filter(char::is_ascii_alphabetic)
                .collect();
            assert!(latin.is_empty(), "{r:?} is not Chinese: {zh}");
        }
    }

    #[test]
    fn sentences_name_roles_states_and_fields_in_words() {
        let r = Refusal::NotPermitted {
            action: ActionKind::RecordAuthorityReport,
            role: Some(Role::Triager),
        };
        assert_eq!(
            sentence(&r, Locale::ZhCn),
            "只有合规专员或管理员可以记录向主管机关的报告。"
        );
        assert_eq!(
            sentence(&r, Locale::En),
            "Only a compliance officer or admin may record a report to the authority."
        );
        let r = Refusal::WrongState {
            action: ActionKind::PlanFix,
            state: State::Triaged,
        };
        assert_eq!(
            sentence(&r, Locale::ZhCn),
            "事件处于“已研判”状态时不能制定整改方案（仅在“已遏制”状态时可以）。"
        );
        let r = Refusal::Missing { field: "plan" };
        assert_eq!(sentence(&r, Locale::ZhCn), "整改方案为必填项。");
        assert_eq!(sentence(&r, Locale::En), "The fix plan is required.");
        let r = Refusal::Invalid {
            field: "report_id",
            problem: Problem::NotThisIncidentsReport { report_id: 3 },
        };
        assert_eq!(sentence(&r, Locale::ZhCn), "举报：举报 #3 不属于该事件。");
    }
}
