//! The staff workspace's own words (board, list, incident page, flash messages), in English and
//! Simplified Chinese. The workflow's vocabulary (states, actions, roles...) is in `words`.

use crate::domain::locale::Locale;
use crate::domain::workflow::ActionKind;

pub struct StaffTexts {
    pub lang: &'static str,
    pub staff: &'static str,
    pub skip: &'static str,
    pub board: &'static str,
    pub list: &'static str,
    pub mine: &'static str,
    pub overdue: &'static str,
    pub outbox: &'static str,
    pub sign_out: &'static str,
    /// The other language's name, in itself: the switch's caption.
    pub other_lang_name: &'static str,
    pub other_lang: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub search_go: &'static str,
    pub category: &'static str,
    pub severity: &'static str,
    pub state: &'static str,
    pub assignee: &'static str,
    pub any: &'static str,
    pub anyone: &'static str,
    pub unassigned: &'static str,
    pub overdue_only: &'static str,
    pub filter: &'static str,
    pub clear: &'static str,
    pub open_states: &'static str,
    pub show_all: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub whole_board: &'static str,
    pub nothing_found: &'static str,
    pub nothing_found_hint: &'static str,
    pub column_empty: &'static str,
    pub show_column: &'static str,
    pub reports: &'static str,
    pub output: &'static str,
    pub prompt: &'static str,
    pub model: &'static str,
    pub seen_at: &'static str,
    pub why_problem: &'static str,
    pub split: &'static str,
    pub assigned_to: &'static str,
    pub nobody: &'static str,
    pub evidence_hold: &'static str,
    /// A card or row whose incident has an undecided appeal.
    pub appeal_badge: &'static str,
    pub appeal_only: &'static str,
    /// The board's line when closed incidents have open appeals: `{n}` of them.
    pub appeals_waiting: &'static str,
    /// A search during a flood: "{n}" reports it could not cover yet.
    pub unsearched: &'static str,
    pub reply_image: &'static str,
    pub serious: &'static str,
    pub overdue_badge: &'static str,
    pub duplicate_of: &'static str,
    pub next_step: &'static str,
    pub no_action: &'static str,
    pub waiting_for: &'static str,
    pub group_details: &'static str,
    pub group_outcomes: &'static str,
    pub group_close: &'static str,
    pub timeline: &'static str,
    pub by: &'static str,
    pub fix_summary: &'static str,
    pub containment: &'static str,
    pub blocks: &'static str,
    pub plan: &'static str,
    pub desired: &'static str,
    pub training_run: &'static str,
    pub candidate: &'static str,
    pub verification: &'static str,
    pub not_yet: &'static str,
    pub refused: &'static str,
    pub go_to_form: &'static str,
    pub technical: &'static str,
    pub system: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub reported: &'static str,
    pub received: &'static str,
    pub choose: &'static str,
    pub not_serious: &'static str,
    pub on: &'static str,
    pub off: &'static str,
    pub new_incident: &'static str,
    pub split_from: &'static str,
    pub merged_from: &'static str,
    pub comment: &'static str,
    pub filters: &'static str,
    pub all_states: &'static str,
    pub col_id: &'static str,
    pub col_title: &'static str,
    pub col_deadline: &'static str,
    pub col_reports: &'static str,
    pub col_last_change: &'static str,
    pub export_csv: &'static str,
    pub export_json: &'static str,
    pub select: &'static str,
    pub select_all: &'static str,
    pub bulk: &'static str,
    pub bulk_action: &'static str,
    pub bulk_apply: &'static str,
    pub bulk_merge_into: &'static str,
    pub bulk_result: &'static str,
    pub bulk_done: &'static str,
    pub bulk_refused: &'static str,
    pub bulk_none: &'static str,
    pub back_to_list: &'static str,
    pub rows: &'static str,
    pub sort_by: &'static str,
    pub edit_title: &'static str,
    pub nothing_waiting: &'static str,
    pub save_title: &'static str,
    pub unread_reporter_mail: &'static str,
    pub outbox_dead: &'static str,
    pub outbox_dead_help: &'static str,
    pub outbox_requeue_all: &'static str,
    pub outbox_requeue: &'static str,
    pub outbox_pending: &'static str,
    pub outbox_created: &'static str,
    pub outbox_kind: &'static str,
    pub outbox_recipient: &'static str,
    pub outbox_subject: &'static str,
    pub outbox_attempts: &'static str,
    pub outbox_next_attempt: &'static str,
    pub outbox_last_error: &'static str,
    pub outbox_admins_only: &'static str,
    pub outbox_bad_id: &'static str,
}

pub static EN: StaffTexts = StaffTexts {
    lang: "en",
    staff: "staff",
    skip: "Skip to the content",
    board: "Board",
    list: "List",
    mine: "Mine",
    overdue: "Overdue",
    outbox: "Outbox",
    sign_out: "Sign out",
    other_lang_name: "中文",
    other_lang: "zh-CN",
    search: "Search",
    search_placeholder: "INC-12, tracking code, email or words",
    search_go: "Search",
    category: "Category",
    severity: "Severity",
    state: "State",
    assignee: "Assignee",
    any: "any",
    anyone: "anyone",
    unassigned: "unassigned",
    overdue_only: "overdue only",
    filter: "Filter",
    clear: "Clear filters",
    open_states: "open (board)",
    show_all: "Show all",
    previous: "← previous",
    next: "next →",
    whole_board: "whole board",
    nothing_found: "No incident matches.",
    nothing_found_hint: "Check the spelling, or clear the filters to search everything.",
    column_empty: "none",
    show_column: "Column",
    reports: "Reports",
    output: "Output",
    prompt: "Prompt",
    model: "Model",
    seen_at: "Seen at",
    why_problem: "Why it is a problem",
    split: "Split into a new incident",
    assigned_to: "Assigned to",
    nobody: "nobody",
    evidence_hold: "evidence hold",
    appeal_badge: "appeal open",
    appeal_only: "open appeals only",
    appeals_waiting: "Open appeals waiting for a decision: {n}.",
    unsearched: "About {n} reports received in the last minutes are not in this search yet: the search index is catching up after a surge of reports. Search again shortly to cover them.",
    reply_image: "Image with this reply:",
    serious: "serious incident",
    overdue_badge: "overdue",
    duplicate_of: "duplicate of",
    next_step: "Next step",
    no_action: "Your role has no action to take on this incident in its current state.",
    waiting_for: "Waiting for",
    group_details: "Change details, assign, comment",
    group_outcomes: "Other outcomes",
    group_close: "Reject or merge",
    timeline: "Timeline",
    by: "by",
    fix_summary: "Fix summary",
    containment: "Containment",
    blocks: "What it blocks",
    plan: "Plan",
    desired: "Desired behaviour",
    training_run: "Training run",
    candidate: "Candidate model version",
    verification: "Verification",
    not_yet: "not yet",
    refused: "Not done",
    go_to_form: "Go to the form",
    technical: "technical details",
    system: "the system",
    not_found_title: "No such incident",
    not_found_text: "There is no incident with this number. Search the board for it.",
    reported: "first reported",
    received: "received",
    choose: "choose…",
    not_serious: "not serious",
    on: "on",
    off: "off",
    new_incident: "new incident",
    split_from: "split out of",
    merged_from: "merged in from",
    comment: "comment",
    filters: "Filters",
    all_states: "every state",
    col_id: "Incident",
    col_title: "Title",
    col_deadline: "Nearest deadline",
    col_reports: "Reports",
    col_last_change: "Last change",
    export_csv: "Export CSV",
    export_json: "Export JSON",
    select: "Select",
    select_all: "Select all on this page",
    bulk: "With the selected incidents",
    bulk_action: "Action",
    bulk_apply: "Apply to the selected",
    bulk_merge_into: "Merge the selected into incident number",
    bulk_result: "Bulk action",
    bulk_done: "Done",
    bulk_refused: "Refused",
    bulk_none: "Select at least one incident.",
    back_to_list: "Back to the list",
    rows: "incidents",
    sort_by: "Sort by",
    edit_title: "Edit the title",
    nothing_waiting: "Nothing is waiting: this incident is closed. The other actions are below.",
    save_title: "Save title",
    unread_reporter_mail: "unread reporter mail",
    outbox_dead: "Dead",
    outbox_dead_help: "Mail that failed every attempt. It is not sent again until someone requeues it: fix the cause (the address, the SMTP settings) first.",
    outbox_requeue_all: "Requeue all dead mail",
    outbox_requeue: "Requeue",
    outbox_pending: "Pending",
    outbox_created: "Created",
    outbox_kind: "Kind",
    outbox_recipient: "Recipient",
    outbox_subject: "Subject",
    outbox_attempts: "Attempts",
    outbox_next_attempt: "Next attempt",
    outbox_last_error: "Last error",
    outbox_admins_only: "Only an admin may see the outbox.",
    outbox_bad_id: "That is not the number of an outbox row.",
};

pub static ZH: StaffTexts = StaffTexts {
    lang: "zh-CN",
    staff: "工作台",
    skip: "跳到正文",
    board: "看板",
    list: "列表",
    mine: "我的",
    overdue: "已超期",
    outbox: "发件箱",
    sign_out: "退出",
    other_lang_name: "English",
    other_lang: "en",
    search: "搜索",
    search_placeholder: "INC-12、查询码、邮箱或关键词",
    search_go: "搜索",
    category: "类别",
    severity: "严重程度",
    state: "状态",
    assignee: "负责人",
    any: "全部",
    anyone: "所有人",
    unassigned: "未指派",
    overdue_only: "仅看已超期",
    filter: "筛选",
    clear: "清除筛选",
    open_states: "处理中（看板）",
    show_all: "查看全部",
    previous: "← 上一页",
    next: "下一页 →",
    whole_board: "返回看板",
    nothing_found: "没有符合条件的事件。",
    nothing_found_hint: "请检查输入，或清除筛选条件后在全部事件中搜索。",
    column_empty: "无",
    show_column: "列",
    reports: "举报",
    output: "生成内容",
    prompt: "提示词",
    model: "模型",
    seen_at: "出现位置",
    why_problem: "问题说明",
    split: "拆分为新事件",
    assigned_to: "负责人",
    nobody: "未指派",
    evidence_hold: "证据保全",
    appeal_badge: "申诉待处理",
    appeal_only: "仅看待处理申诉",
    appeals_waiting: "待决定的申诉：{n} 件。",
    unsearched: "最近几分钟收到的约 {n} 份举报暂未纳入本次搜索：举报激增后，搜索索引正在补建。请稍后再搜索一次。",
    reply_image: "随留言附上的图片：",
    serious: "严重事件",
    overdue_badge: "已超期",
    duplicate_of: "重复于",
    next_step: "下一步",
    no_action: "当前状态下，您的角色无可执行的操作。",
    waiting_for: "等待",
    group_details: "修改信息、指派、评论",
    group_outcomes: "其他结果",
    group_close: "不予处理或合并",
    timeline: "处理记录",
    by: "操作人",
    fix_summary: "整改摘要",
    containment: "遏制措施",
    blocks: "拦截内容",
    plan: "整改方案",
    desired: "期望行为",
    training_run: "训练任务",
    candidate: "候选模型版本",
    verification: "验证",
    not_yet: "尚未进行",
    refused: "未能完成",
    go_to_form: "转到表单",
    technical: "技术细节",
    system: "系统",
    not_found_title: "没有这个事件",
    not_found_text: "没有这个编号的事件。请在看板中搜索。",
    reported: "首次举报",
    received: "收到",
    choose: "请选择…",
    not_serious: "非严重事件",
    on: "开启",
    off: "关闭",
    new_incident: "新事件",
    split_from: "拆分自",
    merged_from: "合并自",
    comment: "评论",
    filters: "筛选条件",
    all_states: "全部状态",
    col_id: "事件",
    col_title: "标题",
    col_deadline: "最近期限",
    col_reports: "举报数",
    col_last_change: "最近变更",
    export_csv: "导出 CSV",
    export_json: "导出 JSON",
    select: "选择",
    select_all: "全选本页",
    bulk: "对所选事件",
    bulk_action: "操作",
    bulk_apply: "应用于所选事件",
    bulk_merge_into: "将所选事件并入事件编号",
    bulk_result: "批量操作",
    bulk_done: "已完成",
    bulk_refused: "未执行",
    bulk_none: "请至少选择一个事件。",
    back_to_list: "返回列表",
    rows: "个事件",
    sort_by: "排序",
    edit_title: "修改标题",
    nothing_waiting: "无待办事项：该事件已结束。其他操作见下方。",
    save_title: "保存标题",
    unread_reporter_mail: "举报人有未读回复",
    outbox_dead: "投递失败",
    outbox_dead_help: "所有尝试均失败的邮件。在有人重新排队之前不会再次发送：请先排除原因（邮箱地址、SMTP 设置）。",
    outbox_requeue_all: "全部重新排队",
    outbox_requeue: "重新排队",
    outbox_pending: "待发送",
    outbox_created: "创建时间",
    outbox_kind: "类型",
    outbox_recipient: "收件人",
    outbox_subject: "主题",
    outbox_attempts: "尝试次数",
    outbox_next_attempt: "下次尝试",
    outbox_last_error: "最近错误",
    outbox_admins_only: "只有管理员可以查看发件箱。",
    outbox_bad_id: "这不是发件箱中的邮件编号。",
};

pub fn staff_texts(locale: Locale) -> &'static StaffTexts {
    if locale.is_zh() { &ZH } else { &EN }
}

fn pick(locale: Locale, en: &'static str, zh: &'static str) -> &'static str {
    if locale.is_zh() { zh } else { en }
}

/// "3 reports" / "3 份举报".
pub fn report_count(n: i64, locale: Locale) -> String {
    match (locale.is_zh(), n) {
        (true, n) => format!("{n} 份举报"),
        (false, 1) => "1 report".into(),
        (false, n) => format!("{n} reports"),
    }
}

/// A countdown: "due in 3 d 4 h" / "3天4小时后到期", "overdue by 2 h" / "已超期2小时".
pub fn countdown(left: chrono::Duration, locale: Locale) -> String {
    let zh = locale.is_zh();
    let span = |d: chrono::Duration| {
        let (days, hours, mins) = (d.num_days(), d.num_hours(), d.num_minutes().max(0));
        match (zh, days > 0, hours > 0) {
            (false, true, _) => format!("{days} d {} h", hours % 24),
            (false, false, true) => format!("{hours} h {} min", mins % 60),
            (false, false, false) => format!("{mins} min"),
            (true, true, _) => format!("{days}天{}小时", hours % 24),
            (true, false, true) => format!("{hours}小时{}分钟", mins % 60),
            (true, false, false) => format!("{mins}分钟"),
        }
    };
    match (left < chrono::Duration::zero(), zh) {
        (true, false) => format!("overdue by {}", span(-left)),
        (true, true) => format!("已超期{}", span(-left)),
        (false, false) => format!("due in {}", span(left)),
        (false, true) => format!("{}后到期", span(left)),
    }
}

pub fn no_deadline(locale: Locale) -> &'static str {
    pick(locale, "no running deadline", "无进行中的期限")
}

/// The flash after an action: "Triaged by you." / "您已完成：研判。".
pub fn done_by_you(what: &str, locale: Locale) -> String {
    if locale.is_zh() {
        format!("您已完成：{what}。")
    } else {
        format!("{what}: done by you.")
    }
}

/// An action form's field label, for the field names `Action::from_form` reads.
pub fn field_label(kind: ActionKind, name: &str, locale: Locale) -> &'static str {
    use ActionKind::*;
    match (kind, name) {
        (Triage, "category") => pick(locale, "Specific risk", "具体风险类别"),
        (_, "category") => pick(locale, "Category", "类别"),
        (_, "severity") => pick(locale, "Severity", "严重程度"),
        (UpholdAppeal, "reasons") => pick(
            locale,
            "Why the decision stands (the reporter reads this)",
            "维持原决定的理由（举报人可见）",
        ),
        (GrantAppeal, "reasons") => pick(
            locale,
            "Why the incident reopens (the reporter reads this)",
            "重新处理的理由（举报人可见）",
        ),
        (_, "reasons") => pick(
            locale,
            "Statement of reasons (the reporter sees this)",
            "理由说明（举报人可见）",
        ),
        (_, "public_summary") => pick(
            locale,
            "Public summary for the reporters: what was done, in public terms, never internal notes (shown on the status page and mailed; meets the feedback clock)",
            "给举报人的公开说明：以公开的措辞说明所做的处理，不含内部记录（显示在进度页面并发送邮件；满足反馈时限）",
        ),
        (MessageReporter, "report_id") => pick(locale, "To", "发给"),
        (MessageReporter, "text") => pick(
            locale,
            "Message to the reporter (sent by mail and shown on the status page)",
            "给举报人的消息（通过邮件发送并显示在进度页面）",
        ),
        (_, "target") => pick(locale, "Merge into incident number", "并入的事件编号"),
        (_, "filter_rule") => pick(locale, "Filter rule reference", "过滤规则编号"),
        (_, "blocks") => pick(locale, "What it blocks", "拦截的内容"),
        (_, "plan") => pick(locale, "The plan", "整改方案"),
        (_, "reference_answer") => pick(
            locale,
            "Desired behaviour: a reference answer (what the model should say), or …",
            "期望行为：参考答案（模型应当如何回答），或……",
        ),
        (_, "refusal_style") => pick(
            locale,
            "… a refusal style (the refusal the model should give). Used for every regression case without its own response",
            "……拒答方式（模型应当如何拒答）。用于没有单独期望回答的所有回归用例",
        ),
        (_, "training_run") => pick(locale, "Training run reference", "训练任务编号"),
        (_, "model_version") => pick(locale, "Candidate model version", "候选模型版本"),
        (_, "prompts") => pick(locale, "Regression prompts re-run", "重新运行的回归提示词"),
        (_, "outcome") => pick(locale, "Outcome", "结果"),
        (_, "reason") => pick(locale, "Reason", "原因"),
        (_, "assignee") => pick(locale, "Assignee", "负责人"),
        (_, "kind") => pick(
            locale,
            "Serious-incident kind (EU AI Act Art. 73)",
            "严重事件类型（欧盟《人工智能法》第73条）",
        ),
        (_, "on") => pick(
            locale,
            "Evidence hold (no change to the system before the authority is informed)",
            "证据保全（通知主管机关前不得变更系统）",
        ),
        (_, "reference") => pick(locale, "Authority report reference", "主管机关报告编号"),
        (_, "text") => pick(locale, "Internal comment", "内部评论"),
        (_, "title") => pick(
            locale,
            "Title (what staff call this incident)",
            "标题（工作人员对该事件的称呼）",
        ),
        _ => pick(locale, "Value", "值"),
    }
}

/// A timeline entry's data key as words.
pub fn data_label(key: &str, locale: Locale) -> Option<&'static str> {
    Some(match key {
        "category" => pick(locale, "category", "类别"),
        "severity" => pick(locale, "severity", "严重程度"),
        "reasons" => pick(locale, "reasons", "理由"),
        "filter_rule" => pick(locale, "filter rule", "过滤规则"),
        "blocks" => pick(locale, "blocks", "拦截内容"),
        "plan" => pick(locale, "plan", "整改方案"),
        "reference_answer" => pick(locale, "reference answer", "参考答案"),
        "refusal_style" => pick(locale, "refusal style", "拒答方式"),
        "training_run" => pick(locale, "training run", "训练任务"),
        "model_version" => pick(locale, "model version", "模型版本"),
        "prompts" => pick(locale, "prompts", "提示词"),
        "outcome" => pick(locale, "outcome", "结果"),
        "run_id" => pick(locale, "verification run", "验证运行"),
        "failed_cases" => pick(locale, "failed cases", "未通过用例"),
        "reason" => pick(locale, "reason", "原因"),
        "on" => pick(locale, "evidence hold", "证据保全"),
        "kind" => pick(locale, "kind", "类型"),
        "reference" => pick(locale, "reference", "编号"),
        "assignee" => pick(locale, "assignee", "负责人"),
        "text" => pick(locale, "text", "内容"),
        "case_id" => pick(locale, "case", "用例"),
        "bad_output" => pick(locale, "bad output", "问题输出"),
        "desired" => pick(locale, "desired response", "期望回答"),
        "cases" => pick(locale, "cases", "用例数"),
        "passed" => pick(locale, "passed", "通过"),
        "failed" => pick(locale, "failed", "未通过"),
        "report_id" => pick(locale, "report", "举报"),
        "new_incident_id" => pick(locale, "new incident", "新事件"),
        "target" => pick(locale, "merged into", "并入"),
        "from_incident" => pick(locale, "merged from", "合并自"),
        "reports" => pick(locale, "reports", "举报数"),
        "title" => pick(locale, "title", "标题"),
        "clock" => pick(locale, "clock", "期限"),
        "old_due" => pick(locale, "was due", "原到期时间"),
        "new_due" => pick(locale, "now due", "新到期时间"),
        "calendar" => pick(locale, "calendar", "日历"),
        "change" => pick(locale, "change", "变更"),
        "provisional" => pick(locale, "provisional", "临时"),
        "first_reported_at" => pick(locale, "first reported", "首次举报"),
        _ => return None,
    })
}

/// Keys kept out of the timeline's words: machine details, shown only on demand.
pub fn is_technical(key: &str) -> bool {
    matches!(key, "fingerprint" | "hash" | "prev_hash" | "token")
}

/// A kind of mail in the outbox, as the admin reads it; a kind this module does not know is
/// shown with its underscores read as spaces.
pub fn mail_kind(kind: &str, locale: Locale) -> std::borrow::Cow<'static, str> {
    let word = match kind {
        "acknowledgement" => pick(locale, "acknowledgement to a reporter", "向举报人确认收到"),
        "assignment" => pick(locale, "assignment", "指派通知"),
        "calendar_notice" => pick(locale, "calendar notice", "日历提醒"),
        "reporter_message" => pick(locale, "message to a reporter", "给举报人的消息"),
        "outcome_rejected" => pick(locale, "decision: rejected", "处理结果：不予处理"),
        "outcome_action_taken" => pick(locale, "what was done", "已采取的措施"),
        "outcome_resolved" => pick(locale, "decision: resolved", "处理结果：已整改"),
        "appeal_filed" => pick(locale, "appeal filed", "收到申诉"),
        "reporter_reply" => pick(locale, "reporter replied", "举报人回复"),
        "appeal_granted" => pick(locale, "appeal granted", "申诉成立"),
        "appeal_upheld" => pick(locale, "appeal refused", "申诉驳回"),
        "escalation" => pick(locale, "deadline escalation", "期限提醒"),
        "digest" => pick(locale, "daily digest", "每日汇总"),
        other => return std::borrow::Cow::Owned(other.replace('_', " ")),
    };
    std::borrow::Cow::Borrowed(word)
}

/// The words of an incident page's table of clocks.
pub struct DeadlineLabels {
    pub heading: &'static str,
    pub clock: &'static str,
    pub status: &'static str,
    pub started: &'static str,
    pub due_local: &'static str,
    pub due_utc: &'static str,
}

impl DeadlineLabels {
    pub fn of(locale: Locale) -> DeadlineLabels {
        if locale.is_zh() {
            DeadlineLabels {
                heading: "期限",
                clock: "期限项",
                status: "状态",
                started: "起算",
                due_local: "截止（法定时区）",
                due_utc: "截止（UTC）",
            }
        } else {
            DeadlineLabels {
                heading: "Clocks",
                clock: "Clock",
                status: "Status",
                started: "Started",
                due_local: "Due (legal zone)",
                due_utc: "Due (UTC)",
            }
        }
    }
}

/// The list export's (CSV) header row, in the reader's language.
pub fn export_headers(l: Locale) -> [&'static str; 11] {
    if l.is_zh() {
        [
            "事件",
            "标题",
            "状态",
            "类别",
            "严重程度",
            "负责人",
            "最近期限",
            "期限项",
            "举报数",
            "最近变更",
            "标记",
        ]
    } else {
        [
            "Incident",
            "Title",
            "State",
            "Category",
            "Severity",
            "Assignee",
            "Nearest deadline",
            "Clock",
            "Reports",
            "Last change",
            "Flags",
        ]
    }
}

/// The sign-in page's words (the page is in the language the browser asks for, or the one
/// chosen with its switch: nobody is signed in yet to have a language of their own).
pub struct LoginTexts {
    pub title: &'static str,
    pub heading: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub submit: &'static str,
    pub wrong: &'static str,
    pub too_many: &'static str,
}

pub static LOGIN_EN: LoginTexts = LoginTexts {
    title: "Sign in",
    heading: "Staff sign-in",
    email: "Email",
    password: "Password",
    submit: "Sign in",
    wrong: "Wrong email address or password, or the account is disabled.",
    too_many: "Too many failed sign-in attempts. Wait a few minutes and try again.",
};

pub static LOGIN_ZH: LoginTexts = LoginTexts {
    title: "登录",
    heading: "工作人员登录",
    email: "邮箱",
    password: "密码",
    submit: "登录",
    wrong: "邮箱或密码错误，或该账号已停用。",
    too_many: "登录失败次数过多。请等几分钟后再试。",
};

pub fn login_texts(locale: Locale) -> &'static LoginTexts {
    if locale.is_zh() { &LOGIN_ZH } else { &LOGIN_EN }
}

/// The words of the "assigned to you" mail to staff.
pub struct AssignmentTexts {
    pub lang: &'static str,
    pub greeting: &'static str,
    pub subject_one: &'static str,
    pub subject_many: fn(usize) -> String,
    /// "{who} assigned {n} incident(s) to you."
    pub lead: fn(&str, usize) -> String,
    pub footer: &'static str,
}

pub static ASSIGN_EN: AssignmentTexts = AssignmentTexts {
    lang: "en",
    greeting: "Hello,",
    subject_one: "Assigned to you:",
    subject_many: |n| format!("{n} incidents assigned to you"),
    lead: |who, n| match n {
        1 => format!("{who} assigned this incident to you:"),
        n => format!("{who} assigned these {n} incidents to you:"),
    },
    footer: "You receive this because an incident was assigned to you in the staff workspace.",
};

pub static ASSIGN_ZH: AssignmentTexts = AssignmentTexts {
    lang: "zh-CN",
    greeting: "您好：",
    subject_one: "指派给您：",
    subject_many: |n| format!("{n} 个事件已指派给您"),
    lead: |who, n| match n {
        1 => format!("{who} 将以下事件指派给您："),
        n => format!("{who} 将以下 {n} 个事件指派给您："),
    },
    footer: "您收到此邮件，是因为工作台中有事件被指派给您。",
};

pub fn assignment_texts(locale: Locale) -> &'static AssignmentTexts {
    if locale.is_zh() {
        &ASSIGN_ZH
    } else {
        &ASSIGN_EN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_as_words() {
        let d = chrono::Duration::hours(50);
        assert_eq!(countdown(d, Locale::En), "due in 2 d 2 h");
        assert_eq!(countdown(d, Locale::ZhCn), "2天2小时后到期");
        assert_eq!(
            countdown(-chrono::Duration::minutes(90), Locale::En),
            "overdue by 1 h 30 min"
        );
        assert_eq!(report_count(1, Locale::En), "1 report");
        assert_eq!(report_count(3, Locale::ZhCn), "3 份举报");
    }

    #[test]
    fn every_form_field_has_words_in_both_languages() {
        for name in [
            "category",
            "severity",
            "reasons",
            "target",
            "filter_rule",
            "blocks",
            "plan",
            "reference_answer",
            "refusal_style",
            "training_run",
            "model_version",
            "prompts",
            "outcome",
            "reason",
            "assignee",
            "kind",
            "on",
            "reference",
            "text",
        ] {
            for l in [Locale::En, Locale::ZhCn] {
                assert_ne!(
                    field_label(ActionKind::Comment, name, l),
                    pick(l, "Value", "值")
                );
                assert!(data_label(name, l).is_some(), "{name}");
            }
        }
    }
}
