//! SQLite: the pooled connections' threads (staff pages, searches, the sweep, staff writes) run
//! ahead of the intake writer and the server's runtime.
//!
//! Under a flood at half its rate, with a board and a search asked back to back, the board kept
//! its p95 at every priority tried, but a search's p95 was 212–260 ms with the writer ahead
//! (nice -10) and these threads at 0, and 119–137 ms with the writer at 0 and these at -10
//! (`mixed` bench, four runs alternating; README, "What was tried"). Intake still kept its pace:
//! a report waits in the writer's queue a little longer instead (p50 30–90 ms against 7–10),
//! and a flood with no staff reading is unchanged (no reader thread wants the CPU then).
//!
//! sqlx runs each connection on a thread of its own and offers no hook on it, so the priority
//! is set by a function that the connection runs once when it opens ([`raise`]): SQLite calls
//! it on the thread that executes the statement, which is the connection's.

use std::os::raw::c_int;

use rusqlite::ffi;

use super::sqlite_function::define;

/// The pooled connections' nice value. Lowering it needs CAP_SYS_NICE; without that they stay at
/// the runtime's 0, beside the writer (README, "Configuration").
pub(crate) const NICE: i32 = -10;

const FUNCTION: &std::ffi::CStr = c"rectify_staff_priority";

/// Run on a pooled connection once [`install`]ed: sets its thread's priority.
pub(crate) const RAISE: &str = "SELECT rectify_staff_priority()";

unsafe extern "C" fn raise(
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    crate::nice::set_this_thread(NICE);
    // SAFETY: `ctx` is the context SQLite passed to this call.
    unsafe { ffi::sqlite3_result_null(ctx) };
}

/// Makes [`RAISE`] callable on the connection (until [`remove`]).
pub(crate) fn install(raw: *mut ffi::sqlite3) {
    define(raw, FUNCTION, 0, 0, Some(raise));
}

/// Takes the function away again, so that no other statement can call it.
pub(crate) fn remove(raw: *mut ffi::sqlite3) {
    define(raw, FUNCTION, 0, 0, None);
}
