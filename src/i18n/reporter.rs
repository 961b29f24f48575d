//! The words of the reporter's side of issue 17, in English and Simplified Chinese: the status
//! page's confirmation, stage sentences, decisions and messages, the reply form, the footer,
//! and the mails that tell a reporter something (a message, what was done) or tell staff that
//! a reporter replied.

use crate::domain::locale::Locale;

pub struct ReporterTexts {
    pub received_title: &'static str,
    pub received_text: &'static str,
    /// What each stage means, by [`crate::domain::stage::Stage`] index; the last is a rejection.
    pub stage_texts: [&'static str; 5],
    /// The path a rejected report really took.
    pub rejected_stages: [&'static str; 3],
    pub summary_title: &'static str,
    pub closed_text: &'static str,
    pub messages_title: &'static str,
    pub from_us: &'static str,
    pub from_you: &'static str,
    pub reply_title: &'static str,
    pub reply_label: &'static str,
    pub reply_help: &'static str,
    pub reply_submit: &'static str,
    pub reply_sent: &'static str,
    pub reply_required: &'static str,
    /// "{n}" is the limit.
    pub reply_too_long: &'static str,
    pub reply_redacted: &'static str,
    pub operated_by: &'static str,
    /// "{n}" is `retention.reporter_days`.
    pub privacy_notice: &'static str,
    pub contact: &'static str,
    pub message_subject: &'static str,
    pub message_intro: &'static str,
    pub message_reply_hint: &'static str,
    pub action_subject: &'static str,
    pub action_intro: &'static str,
    pub resolved_summary: &'static str,
    pub notice_subject: &'static str,
    pub notice_body: &'static str,
    pub notice_link: &'static str,
}

pub static EN: ReporterTexts = ReporterTexts {
    received_title: "We received your report",
    received_text: "Thank you. Your report is stored and a person will review it. Keep the tracking code below: with it you can follow the handling here and answer our questions.",
    stage_texts: [
        "Your report is stored and waiting for review.",
        "Our staff are reviewing your report to decide whether the content breaks the rules.",
        "The content breaks the rules: we have acted to stop it being generated and are correcting the model.",
        "Handling is complete: the content is filtered and the corrected model has been verified.",
        "We reviewed your report and decided not to act on it; the reasons are below.",
    ],
    rejected_stages: ["Received", "Under review", "Closed: no action"],
    summary_title: "What we did",
    closed_text: "This report is closed. We will not send further feedback unless you write to us below.",
    messages_title: "Messages",
    from_us: "From us",
    from_you: "You wrote",
    reply_title: "Answer us",
    reply_label: "Your message",
    reply_help: "Answer a question of ours or add something we should know. We read every message.",
    reply_submit: "Send message",
    reply_sent: "Your message was sent. It is shown below.",
    reply_required: "Write a message first.",
    reply_too_long: "At most {n} characters.",
    reply_redacted: "(removed under our retention policy)",
    operated_by: "Operated by",
    privacy_notice: "Privacy: we keep your name, email address and any messages you send us only to handle this report, and erase them {n} days after the report is closed.",
    contact: "Contact",
    message_subject: "A message about your report",
    message_intro: "We have a message for you about your report:",
    message_reply_hint: "You can read it and answer on your report's status page",
    action_subject: "We have acted on your report",
    action_intro: "Your report was right: we have acted on the content. What we did:",
    resolved_summary: "What we did:",
    notice_subject: "a reporter replied",
    notice_body: "A reporter sent a message about this incident.",
    notice_link: "Read it on the incident page",
};

pub static ZH: ReporterTexts = ReporterTexts {
    received_title: "我们已收到您的举报",
    received_text: "感谢您的举报。举报已保存，将由专人审查。请保存下方的查询码：凭此码可在本页查看处理进度并回复我们的问题。",
    stage_texts: [
        "您的举报已保存，正在等待审查。",
        "工作人员正在审查您的举报，判断该内容是否违规。",
        "经审查该内容违规：我们已采取措施阻止其生成，并正在对模型进行整改。",
        "处理已完成：相关内容已被过滤，整改后的模型已通过验证。",
        "经审查，我们决定不予处理，理由见下文。",
    ],
    rejected_stages: ["已受理", "审核中", "已办结：不予处理"],
    summary_title: "处置情况",
    closed_text: "此举报已办结。除非您在下方给我们留言，我们不会再发送反馈。",
    messages_title: "消息",
    from_us: "我们的消息",
    from_you: "您的留言",
    reply_title: "回复我们",
    reply_label: "留言内容",
    reply_help: "回答我们的问题，或补充我们需要了解的情况。每条留言都有专人阅读。",
    reply_submit: "发送留言",
    reply_sent: "留言已发送，显示在下方。",
    reply_required: "请先填写留言内容。",
    reply_too_long: "最多 {n} 个字符。",
    reply_redacted: "（已按保存期限规定删除）",
    operated_by: "运营方",
    privacy_notice: "个人信息保护：您的姓名、邮箱地址及发给我们的留言仅用于处理本举报，并在举报办结 {n} 天后删除。",
    contact: "联系方式",
    message_subject: "关于您的举报的消息",
    message_intro: "关于您的举报，我们有一条消息：",
    message_reply_hint: "您可以在举报进度页面查看并回复",
    action_subject: "我们已对您的举报采取措施",
    action_intro: "经审查您举报的内容确属违规，我们已采取措施。处置情况：",
    resolved_summary: "处置情况：",
    notice_subject: "举报人回复",
    notice_body: "举报人就此事件发来了一条消息。",
    notice_link: "请在事件页面查看",
};

pub fn reporter_texts(locale: Locale) -> &'static ReporterTexts {
    match locale {
        Locale::En => &EN,
        Locale::ZhCn => &ZH,
    }
}
