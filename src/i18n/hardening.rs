//! Sentences for when the service cannot do what was asked right now, or the input breaks a
//! rule only the database knows (unknown user, duplicate).

use crate::domain::locale::Locale;

/// 503: storage is busy or failing; nothing was stored.
pub fn unavailable(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "服务暂时繁忙，您提交的内容尚未保存。请稍后重试。",
        Locale::En => {
            "The service is busy for a moment and nothing you sent was stored. Please try again shortly."
        }
    }
}

/// 422 from a database constraint.
pub fn unprocessable(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhCn => "提交的内容引用了不存在的记录，或与已有记录重复；未作任何更改。",
        Locale::En => {
            "The input refers to something that does not exist, or duplicates something that does; nothing was changed."
        }
    }
}
