//! Rectify: complaint intake and remediation tracking for generative-AI services.
//! See DESIGN.md for the domain; `main.rs` is only the command line over this library.

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod jobs;
pub mod mail;
pub mod nice;
pub mod web;
