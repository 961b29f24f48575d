//! Regression cases and what is built from them: the desired behaviour an incident's fix aims
//! at, the lines of the training export, and the decision a verification run leads to. Pure
//! functions of values; `db` stores, `web` and `jobs` call.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::report::Problem;
use super::severity::UnknownName;
use super::workflow::State;

/// How the desired response of `plan_fix` is meant: the answer the model should give, or the
/// way it should refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredKind {
    /// A reference answer (for content that was wrong: the right answer).
    Reference,
    /// A refusal, written as the model should say it (for content that must not be generated).
    Refusal,
}

impl DesiredKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredKind::Reference => "reference",
            DesiredKind::Refusal => "refusal",
        }
    }
}

impl FromStr for DesiredKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reference" => Ok(DesiredKind::Reference),
            "refusal" => Ok(DesiredKind::Refusal),
            _ => Err(UnknownName {
                what: "kind of desired behaviour",
                value: s.to_owned(),
                expected: "reference or refusal",
            }),
        }
    }
}

impl fmt::Display for DesiredKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the incident's fix should make the model do, for every case without a response of
/// its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredBehaviour {
    pub kind: DesiredKind,
    pub text: String,
}

/// Where a case came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseSource {
    /// A report from the public, with a prompt.
    Report,
    /// Typed by staff (or posted with a `cases` token).
    Staff,
    /// A red-team finding (a discovery report).
    Import,
}

impl CaseSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseSource::Report => "report",
            CaseSource::Staff => "staff",
            CaseSource::Import => "import",
        }
    }
}

/// The text of a case as staff type it, checked: a prompt and a bad output are required, the
/// desired response is optional (blank: the incident's desired behaviour applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseText {
    pub prompt: String,
    pub bad_output: String,
    pub desired: Option<String>,
}

/// A field of a case that will not do, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseProblem {
    pub field: &'static str,
    pub problem: Problem,
}

impl CaseProblem {
    /// The English that follows the field's name, for the API: "is required".
    pub fn message(&self) -> String {
        match &self.problem {
            Problem::ControlCharacters => "contains control characters".into(),
            Problem::TooLong { max } => format!("is longer than {max} characters"),
            _ => "is required".into(),
        }
    }
}

impl CaseText {
    /// `max_chars` bounds each field (the report form's limit for outputs).
    pub fn parse(
        prompt: &str,
        bad_output: &str,
        desired: &str,
        max_chars: usize,
    ) -> Result<CaseText, Vec<CaseProblem>> {
        let mut problems = Vec::new();
        let mut check = |field: &'static str, value: &str, required: bool| -> Option<String> {
            let v = value.trim();
            if v.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                problems.push(CaseProblem {
                    field,
                    problem: Problem::ControlCharacters,
                });
                return None;
            }
            if v.chars().count() > max_chars {
                problems.push(CaseProblem {
                    field,
                    problem: Problem::TooLong { max: max_chars },
                });
                return None;
            }
            if v.is_empty() {
                if required {
                    problems.push(CaseProblem {
                        field,
                        problem: Problem::Required,
                    });
                }
                return None;
            }
            Some(v.to_owned())
        };
        let prompt = check("prompt", prompt, true);
        let bad_output = check("bad_output", bad_output, true);
        let desired = check("desired", desired, false);
        match (prompt, bad_output) {
            (Some(prompt), Some(bad_output)) if problems.is_empty() => Ok(CaseText {
                prompt,
                bad_output,
                desired,
            }),
            _ => Err(problems),
        }
    }
}

/// The training export's formats (`--format`, `?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TRL's standard preference format: `prompt`, `chosen`, `rejected` as text.
    Dpo,
    /// TRL's conversational preference format: the same as lists of messages.
    DpoChat,
    /// Supervised fine-tuning: `messages` (the prompt and the desired response).
    Sft,
    /// Every field, with the incident's state and the verification history.
    Raw,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Dpo => "dpo",
            Format::DpoChat => "dpo-chat",
            Format::Sft => "sft",
            Format::Raw => "raw",
        }
    }

    /// Whether a case needs a desired response to make a line.
    pub fn needs_desired(self) -> bool {
        self != Format::Raw
    }
}

impl FromStr for Format {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "dpo" => Ok(Format::Dpo),
            "dpo-chat" => Ok(Format::DpoChat),
            "sft" => Ok(Format::Sft),
            "raw" => Ok(Format::Raw),
            _ => Err(UnknownName {
                what: "format",
                value: s.to_owned(),
                expected: "dpo, dpo-chat, sft or raw",
            }),
        }
    }
}

/// The states whose incidents are confirmed (triaged or later, and neither rejected nor a
/// duplicate): the only ones whose cases leave Rectify as training data.
pub const CONFIRMED: [State; 6] = [
    State::Triaged,
    State::Contained,
    State::FixPlanned,
    State::Retraining,
    State::Verifying,
    State::Resolved,
];

pub fn is_confirmed(state: State) -> bool {
    CONFIRMED.contains(&state)
}

/// One case's result in an earlier verification run, for the `raw` export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastResult {
    pub run_id: String,
    pub model_version: String,
    pub received_at: DateTime<Utc>,
    pub output: String,
    pub passed: bool,
    pub score: Option<f64>,
    pub detector: Option<String>,
}

/// A case with what the export says about it and its incident.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportCase {
    pub case_id: i64,
    pub incident_id: i64,
    pub incident_state: String,
    pub incident_title: String,
    pub category: String,
    pub severity: Option<String>,
    pub model: Option<String>,
    pub model_version: Option<String>,
    pub first_reported_at: DateTime<Utc>,
    pub prompt: String,
    pub bad_output: String,
    /// The case's own desired response.
    pub desired: Option<String>,
    pub incident_desired: Option<DesiredBehaviour>,
    pub source: String,
    pub report_id: Option<i64>,
    pub retired: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub verifications: Vec<PastResult>,
}

impl ExportCase {
    /// The response training should prefer: the case's own, else the incident's.
    pub fn effective_desired(&self) -> Option<&str> {
        self.desired
            .as_deref()
            .or(self.incident_desired.as_ref().map(|d| d.text.as_str()))
    }
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn metadata(c: &ExportCase) -> Value {
    json!({
        "incident": c.incident_id,
        "case_id": c.case_id,
        "category": c.category,
        "severity": c.severity,
        "model": c.model,
        "model_version": c.model_version,
        "first_reported_at": instant(c.first_reported_at),
    })
}

/// The export line of a case, or `None` when the format needs a desired response and the case
/// has none (the caller counts those as skipped). Retired cases are the caller's to leave out.
pub fn export_line(format: Format, c: &ExportCase) -> Option<Value> {
    let desired = c.effective_desired();
    let user = |text: &str| json!({ "role": "user", "content": text });
    let assistant = |text: &str| json!({ "role": "assistant", "content": text });
    Some(match format {
        Format::Dpo => json!({
            "prompt": c.prompt,
            "chosen": desired?,
            "rejected": c.bad_output,
            "metadata": metadata(c),
        }),
        Format::DpoChat => json!({
            "prompt": [user(&c.prompt)],
            "chosen": [assistant(desired?)],
            "rejected": [assistant(&c.bad_output)],
            "metadata": metadata(c),
        }),
        Format::Sft => json!({
            "messages": [user(&c.prompt), assistant(desired?)],
            "metadata": metadata(c),
        }),
        Format::Raw => json!({
            "case_id": c.case_id,
            "incident": c.incident_id,
            "incident_state": c.incident_state,
            "incident_title": c.incident_title,
            "category": c.category,
            "severity": c.severity,
            "model": c.model,
            "model_version": c.model_version,
            "first_reported_at": instant(c.first_reported_at),
            "prompt": c.prompt,
            "bad_output": c.bad_output,
            "desired": c.desired,
            "desired_effective": desired,
            "incident_desired_kind": c.incident_desired.as_ref().map(|d| d.kind.as_str()),
            "incident_desired": c.incident_desired.as_ref().map(|d| d.text.as_str()),
            "source": c.source,
            "report_id": c.report_id,
            "retired": c.retired,
            "created_at": instant(c.created_at),
            "updated_at": instant(c.updated_at),
            "verifications": c.verifications.iter().map(|v| json!({
                "run_id": v.run_id,
                "model_version": v.model_version,
                "received_at": instant(v.received_at),
                "output": v.output,
                "passed": v.passed,
                "score": v.score,
                "detector": v.detector,
            })).collect::<Vec<_>>(),
        }),
    })
}

/// What a verification run means for one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// In verification, every active case covered and passed: `verify_pass`.
    Pass,
    /// In verification, every active case covered, these failed: `verify_fail`.
    Fail { failed: Vec<i64> },
    /// In verification but the run covers only some active cases: evidence, no transition.
    Partial { missing: Vec<i64> },
    /// Not in verification: evidence, no transition.
    NotVerifying { state: State },
    /// In verification without an active case (all retired): nothing to decide on.
    NoCases,
}

/// Decides for an incident in `state` with `active` (not retired) cases, given the run's
/// results by case id (`true` = passed). Results for retired cases are evidence only.
pub fn decide(state: State, active: &BTreeSet<i64>, results: &BTreeMap<i64, bool>) -> Decision {
    if state != State::Verifying {
        return Decision::NotVerifying { state };
    }
    if active.is_empty() {
        return Decision::NoCases;
    }
    let missing: Vec<i64> = active
        .iter()
        .filter(|id| !results.contains_key(id))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Decision::Partial { missing };
    }
    let failed: Vec<i64> = active
        .iter()
        .filter(|id| results.get(id) == Some(&false))
        .copied()
        .collect();
    if failed.is_empty() {
        Decision::Pass
    } else {
        Decision::Fail { failed }
    }
}

/// A list of case ids for a sentence: "#3, #7 and #9".
pub fn case_list(ids: &[i64]) -> String {
    let items: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// JSON text with object keys sorted at every depth and no whitespace: two bodies that mean
/// the same (keys in another order, other spacing) read the same, for idempotency.
pub fn canonical_json(value: &Value) -> String {
    fn write(out: &mut String, v: &Value) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(out, v);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, item);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn case(desired: Option<&str>, incident: Option<(DesiredKind, &str)>) -> ExportCase {
        ExportCase {
            case_id: 5,
            incident_id: 2,
            incident_state: "retraining".into(),
            incident_title: "t".into(),
            category: "accuracy.inaccurate".into(),
            severity: Some("high".into()),
            model: Some("demo-chat".into()),
            model_version: None,
            first_reported_at: at("2026-11-30T08:00:00Z"),
            prompt: "What is the capital of Australia?".into(),
            bad_output: "Sydney.".into(),
            desired: desired.map(str::to_owned),
            incident_desired: incident.map(|(kind, text)| DesiredBehaviour {
                kind,
                text: text.into(),
            }),
            source: "report".into(),
            report_id: Some(9),
            retired: false,
            created_at: at("2026-11-30T08:00:00Z"),
            updated_at: at("2026-12-01T08:00:00Z"),
            verifications: vec![],
        }
    }

    #[test]
    fn dpo_lines_prefer_the_cases_own_response() {
        let c = case(
            Some("Canberra."),
            Some((DesiredKind::Refusal, "I can't help.")),
        );
        let l = export_line(Format::Dpo, &c).unwrap();
        assert_eq!(l["chosen"], "Canberra.");
        assert_eq!(l["rejected"], "Sydney.");
        assert_eq!(l["metadata"]["case_id"], 5);
        assert_eq!(l["metadata"]["first_reported_at"], "2026-11-30T08:00:00Z");
        let c = case(None, Some((DesiredKind::Refusal, "I can't help.")));
        assert_eq!(
            export_line(Format::Dpo, &c).unwrap()["chosen"],
            "I can't help."
        );
    }

    #[test]
    fn a_case_without_any_desired_response_has_no_training_line() {
        let c = case(None, None);
        for f in [Format::Dpo, Format::DpoChat, Format::Sft] {
            assert!(export_line(f, &c).is_none(), "{f:?}");
        }
        let raw = export_line(Format::Raw, &c).unwrap();
        assert!(raw["desired_effective"].is_null());
    }

    #[test]
    fn chat_formats_are_messages() {
        let c = case(Some("Canberra."), None);
        let l = export_line(Format::DpoChat, &c).unwrap();
        assert_eq!(l["prompt"][0]["role"], "user");
        assert_eq!(l["chosen"][0]["role"], "assistant");
        assert_eq!(l["rejected"][0]["content"], "Sydney.");
        let l = export_line(Format::Sft, &c).unwrap();
        assert_eq!(l["messages"][1]["content"], "Canberra.");
    }

    #[test]
    fn decisions_follow_coverage_and_results() {
        let active: BTreeSet<i64> = [1, 2, 3].into();
        let all =
            |p: [bool; 3]| -> BTreeMap<i64, bool> { [(1, p[0]), (2, p[1]), (3, p[2])].into() };
        assert_eq!(
            decide(State::Verifying, &active, &all([true; 3])),
            Decision::Pass
        );
        assert_eq!(
            decide(State::Verifying, &active, &all([true, false, false])),
            Decision::Fail { failed: vec![2, 3] }
        );
        let partial: BTreeMap<i64, bool> = [(1, true), (9, false)].into();
        assert_eq!(
            decide(State::Verifying, &active, &partial),
            Decision::Partial {
                missing: vec![2, 3]
            }
        );
        assert_eq!(
            decide(State::Retraining, &active, &all([true; 3])),
            Decision::NotVerifying {
                state: State::Retraining
            }
        );
        assert_eq!(
            decide(State::Verifying, &BTreeSet::new(), &partial),
            Decision::NoCases
        );
    }

    #[test]
    fn case_text_requires_prompt_and_output() {
        let e = CaseText::parse(" ", "x", "", 10).unwrap_err();
        assert_eq!(e[0].field, "prompt");
        let ok = CaseText::parse(" p ", "o", "  ", 10).unwrap();
        assert_eq!((ok.prompt.as_str(), ok.desired), ("p", None));
        assert!(CaseText::parse("p", &"x".repeat(11), "", 10).is_err());
    }

    #[test]
    fn case_lists_read_as_english() {
        assert_eq!(case_list(&[3]), "#3");
        assert_eq!(case_list(&[3, 7, 9]), "#3, #7 and #9");
    }
}
