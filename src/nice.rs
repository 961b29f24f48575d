//! Thread priorities, for the threads whose turn matters more or less than a request's.

/// Sets the calling thread's nice value (Linux; elsewhere nothing happens). Lowering it below
/// zero needs CAP_SYS_NICE; without that the thread keeps its priority, which is only slower.
pub fn set_this_thread(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
        let done = unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) == 0
        };
        if !done {
            tracing::debug!(
                nice,
                "thread priority unchanged: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}
