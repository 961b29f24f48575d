//! Rectify: complaint intake and remediation tracking for generative-AI services.
//! See DESIGN.md for the domain; `main.rs` is only the command line over this library.

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod i18n;
pub mod jobs;
pub mod log_format;
pub mod mail;
pub mod media;
pub mod nice;
pub mod web;

// Intake allocates a report's strings on a handler's thread and frees them on the SQLite
// writer's; glibc's malloc spent about 7% of intake's CPU on that (arena locks, consolidation).
// Measured with `cargo bench --bench intake`: 7% less CPU per report, 6% more reports/s. Set in
// the library so the benches and tests run the allocator `rectify serve` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
