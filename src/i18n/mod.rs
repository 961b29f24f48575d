//! Everything people read, in English and Simplified Chinese, shared by the web pages and the
//! mail (neither owns it): the public pages' and reporter mail's texts, the staff vocabulary
//! (states, actions, roles, severities, clocks), and how instants are written.

pub mod alert;
pub mod dates;
pub mod format;
pub mod hardening;
pub mod panels;
mod public;
pub mod refusal;
pub mod reporter;
pub mod staff;
pub mod words;

pub use public::{EN, Texts, ZH, problem_message, stage_name, texts};
