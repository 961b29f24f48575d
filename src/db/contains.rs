//! SQLite: `rectify_contains(text, word)`, whether the word occurs in the text, for the staff
//! search's reading of texts that are not indexed yet (`search::scan`).
//!
//! During a flood the search reads the newest 2,000 reports' five texts directly. With
//! `LIKE '%隐私%' ESCAPE '\'` that was 12% of a search's CPU (SQLite's pattern matcher decodes
//! and compares the text a character at a time); `instr` was little quicker. This finds the
//! bytes with `memchr`'s vectorised search. It compares bytes as they are, so it stands in for
//! `LIKE` only where LIKE's one liberty, ignoring the case of ASCII letters, cannot matter: a
//! word without ASCII letters (`search::scan` decides).

use std::os::raw::c_int;

use rusqlite::ffi;

const FUNCTION: &std::ffi::CStr = c"rectify_contains";

/// The text of argument `i`, or None for NULL.
///
/// # Safety
/// `argv` holds at least `i + 1` values, as SQLite passed them to the function.
unsafe fn text<'a>(argv: *mut *mut ffi::sqlite3_value, i: usize) -> Option<&'a [u8]> {
    // SAFETY: per the caller; the text pointer is read before the length, as SQLite asks, and
    // stays valid until the function returns.
    unsafe {
        let value = *argv.add(i);
        let p = ffi::sqlite3_value_text(value);
        if p.is_null() {
            return None;
        }
        let n = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
        Some(std::slice::from_raw_parts(p, n))
    }
}

unsafe extern "C" fn contains(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: the function is defined with two arguments, so SQLite passes two.
    let (hay, word) = unsafe { (text(argv, 0), text(argv, 1)) };
    // SAFETY: `ctx` is the context SQLite passed to this call.
    unsafe {
        match (hay, word) {
            // As LIKE: a NULL on either side is no answer.
            (None, _) | (_, None) => ffi::sqlite3_result_null(ctx),
            (Some(hay), Some(word)) => {
                ffi::sqlite3_result_int(ctx, c_int::from(memchr::memmem::find(hay, word).is_some()))
            }
        }
    }
}

/// Makes `rectify_contains` callable on the connection.
pub(crate) fn install(raw: *mut ffi::sqlite3) {
    super::sqlite_function::define(
        raw,
        FUNCTION,
        2,
        ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
        Some(contains),
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_a_word_where_like_would() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        // SAFETY: the connection is open and used by this thread alone.
        super::install(unsafe { conn.handle() });
        let ask = |text: Option<&str>, word: &str| -> Option<i64> {
            conn.query_row("SELECT rectify_contains(?1, ?2)", (text, word), |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(ask(Some("请保护用户隐私。"), "隐私"), Some(1));
        assert_eq!(ask(Some("请保护用户隐秘。"), "隐私"), Some(0));
        // Taken literally, as an escaped LIKE pattern takes them.
        assert_eq!(ask(Some("百分之百"), "%"), Some(0));
        assert_eq!(ask(Some("100% 确定"), "%"), Some(1));
        assert_eq!(ask(Some("a_b"), "_"), Some(1));
        assert_eq!(ask(Some("ab"), "_"), Some(0));
        assert_eq!(ask(Some("任何文本"), ""), Some(1));
        assert_eq!(ask(None, "隐私"), None);
    }
}
