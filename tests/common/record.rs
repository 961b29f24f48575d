//! Where the tests need a real part (PostgreSQL, an SMTP server, Chromium), they find it or fail
//! with the one command that provides it, and note that they used it, so `./test.sh` can say at
//! the end how many tests each part served: nothing is skipped and counted as passed.

use std::io::Write;

/// The command that installs and starts every part the tests need.
pub const FIX: &str = "./test.sh (it installs and starts what the tests need)";

/// Notes that the running test used `part` (`postgres`, `smtp`, `browser`), when `./test.sh`
/// asked for a record (`RECTIFY_TEST_RECORD`, a folder).
pub fn used(part: &str) {
    let Some(dir) = std::env::var_os("RECTIFY_TEST_RECORD") else {
        return;
    };
    // libtest names each test's thread after the test; the binary tells tests of the same name
    // in different files apart.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| {
            s.rsplit_once('-')
                .map(|(name, _)| name.to_owned())
                .unwrap_or(s)
        })
        .unwrap_or_default();
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::path::Path::new(&dir).join(part))
    {
        let _ = writeln!(f, "{binary}::{test}");
    }
}
