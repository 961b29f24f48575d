//! Red-team findings from the tools that produce them (garak, promptfoo), read line by line
//! (or result by result) into [`Finding`]s: content "found in operation" that becomes a
//! discovery report. Pure: the readers take text and give values.

pub mod garak;
pub mod promptfoo;

use serde_json::Value;

/// One problem a tool found: a prompt that drew bad output from the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `garak` or `promptfoo`.
    pub tool: &'static str,
    /// The tool's id for the finding; the same finding read again has the same id.
    pub source_id: String,
    pub prompt: Option<String>,
    pub output: String,
    /// garak's probe, promptfoo's red-team plugin.
    pub probe: Option<String>,
    pub detector: Option<String>,
    pub score: Option<f64>,
    pub run_id: Option<String>,
    pub model: Option<String>,
    /// What the probe tried to make the model do (garak's goal, promptfoo's reason).
    pub goal: Option<String>,
}

impl Finding {
    /// The report's description: what found it, for the staff who triage it.
    pub fn description(&self) -> String {
        let mut d = format!("Found by {}", self.tool);
        if let Some(p) = &self.probe {
            d.push_str(&format!(" ({p})"));
        }
        if let Some(det) = &self.detector {
            d.push_str(&format!(", detector {det}"));
        }
        if let Some(s) = self.score {
            d.push_str(&format!(", score {s:.2}"));
        }
        if let Some(r) = &self.run_id {
            d.push_str(&format!(", run {r}"));
        }
        if let Some(m) = &self.model {
            d.push_str(&format!(", against {m}"));
        }
        d.push('.');
        if let Some(g) = self.goal.as_deref().filter(|g| !g.trim().is_empty()) {
            d.push_str(&format!(" Goal: {}", g.trim()));
        }
        d
    }
}

/// The text of a message as the tools write it: a string, or an object with `text` (garak
/// 0.13 on) or `content`.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m
            .get("text")
            .and_then(Value::as_str)
            .or_else(|| m.get("content").and_then(Value::as_str))
            .map(str::to_owned),
        _ => None,
    }
}

/// A prompt as the tools write it: a string (garak before 0.13), or a conversation
/// `{"turns": [{"role", "content": {"text"}}]}` (garak 0.13 on), or a list of chat messages
/// (promptfoo). One user turn is its text; several turns are written out one per paragraph
/// with their roles, so a multi-turn attack keeps its context.
fn prompt_of(v: &Value) -> Option<String> {
    let turns = match v {
        Value::String(s) => return Some(s.clone()),
        Value::Object(m) => m.get("turns")?.as_array()?,
        Value::Array(a) => a,
        _ => return None,
    };
    let parts: Vec<(String, String)> = turns
        .iter()
        .filter_map(|t| {
            let role = t.get("role").and_then(Value::as_str).unwrap_or("user");
            let content = t.get("content").and_then(text_of)?;
            Some((role.to_owned(), content))
        })
        .collect();
    match parts.as_slice() {
        [] => None,
        [(role, text)] if role == "user" => Some(text.clone()),
        _ => Some(
            parts
                .iter()
                .map(|(r, t)| format!("[{r}] {t}"))
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}
