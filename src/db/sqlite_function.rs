//! Defining the application's own SQLite functions on a connection (`contains`,
//! `staff_priority`, and the tests' probes).

use std::os::raw::c_int;

use rusqlite::ffi;

/// A scalar function as SQLite calls it.
pub(super) type Func =
    unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);

/// Defines (or, with `None`, removes) a UTF-8 scalar function of `args` arguments on the
/// connection; `flags` adds SQLite's `SQLITE_DETERMINISTIC` and the like.
pub(super) fn define(
    raw: *mut ffi::sqlite3,
    name: &std::ffi::CStr,
    args: c_int,
    flags: c_int,
    func: Option<Func>,
) {
    // SAFETY: `raw` is an open connection that the caller holds exclusively (sqlx's locked
    // handle, or a rusqlite connection on its own thread); the name is NUL-terminated and the
    // function keeps no user data.
    unsafe {
        ffi::sqlite3_create_function_v2(
            raw,
            name.as_ptr(),
            args,
            ffi::SQLITE_UTF8 | flags,
            std::ptr::null_mut(),
            func,
            None,
            None,
            None,
        );
    }
}
