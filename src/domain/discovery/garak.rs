//! garak's report files (`*.report.jsonl`) and hit logs (`*.hitlog.jsonl`), garak 0.9 to 0.17.
//!
//! A report file is one JSON object per line, `entry_type` saying which: `start_run setup`
//! (the configuration: target, run id, threshold), `init`, `attempt` (status 2 = scored, with
//! `detector_results` of one score per output, or a list of such lists), `eval`, `completion`,
//! `digest`. A hit log has one line per failing (attempt, output, detector), without
//! `entry_type`. Prompts are strings before garak 0.13 and conversations from it on; outputs
//! strings, then messages with `text` (or null where generation failed).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Finding, non_empty, prompt_of, text_of};

/// garak's own default: a score at or above it is a hit (the model failed the probe).
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Reads one file's lines in order, keeping what earlier lines said about the run.
#[derive(Debug, Clone)]
pub struct Reader {
    threshold: f64,
    /// From the command line: wins over the file's own threshold.
    fixed_threshold: bool,
    run_id: Option<String>,
    model: Option<String>,
}

impl Reader {
    /// `threshold`: `None` takes the file's (`run.eval_threshold`), else garak's default.
    pub fn new(threshold: Option<f64>) -> Reader {
        Reader {
            threshold: threshold.unwrap_or(DEFAULT_THRESHOLD),
            fixed_threshold: threshold.is_some(),
            run_id: None,
            model: None,
        }
    }

    /// The findings of one line; an error says why the line is not garak's.
    pub fn line(&mut self, text: &str) -> Result<Vec<Finding>, String> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(m) = v else {
            return Err("not a JSON object".into());
        };
        match m.get("entry_type").and_then(Value::as_str) {
            Some("start_run setup") => {
                self.setup(&m);
                Ok(Vec::new())
            }
            Some("init") => {
                if let Some(r) = m.get("run").and_then(Value::as_str) {
                    self.run_id.get_or_insert_with(|| r.to_owned());
                }
                Ok(Vec::new())
            }
            Some("attempt") => self.attempt(&m),
            Some(_) => Ok(Vec::new()),
            None if m.contains_key("detector") && m.contains_key("output") => self.hit(&m),
            None => Err("neither a report entry (entry_type) nor a hit-log line".into()),
        }
    }

    fn setup(&mut self, m: &Map<String, Value>) {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        if let Some(r) = s("transient.run_id") {
            self.run_id = Some(r);
        }
        // 0.14 renamed model_type/model_name to target_type/target_name.
        let kind = s("plugins.target_type").or_else(|| s("plugins.model_type"));
        let name = s("plugins.target_name").or_else(|| s("plugins.model_name"));
        self.model = model_of(kind.as_deref(), name.as_deref());
        if !self.fixed_threshold
            && let Some(t) = m.get("run.eval_threshold").and_then(Value::as_f64)
        {
            self.threshold = t;
        }
    }

    fn attempt(&self, m: &Map<String, Value>) -> Result<Vec<Finding>, String> {
        // 0 new, 1 started (outputs, not yet scored), 2 complete (scored).
        if m.get("status").and_then(Value::as_i64) != Some(2) {
            return Ok(Vec::new());
        }
        let outputs = m
            .get("outputs")
            .and_then(Value::as_array)
            .ok_or("an attempt without a list of outputs")?;
        let results = match m.get("detector_results") {
            Some(Value::Object(r)) => r,
            Some(Value::Null) | None => return Ok(Vec::new()),
            Some(_) => return Err("detector_results is not an object".into()),
        };
        let id = match m.get("uuid").and_then(Value::as_str) {
            Some(u) => u.to_owned(),
            // Hand-made and very old files have no uuid: the attempt's own content names it.
            None => hex::encode(&Sha256::digest(Value::Object(m.clone()).to_string())[..16]),
        };
        let prompt = m.get("prompt").and_then(prompt_of);
        let probe = m
            .get("probe_classname")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let goal = m.get("goal").and_then(Value::as_str).map(str::to_owned);
        let mut found = Vec::new();
        for (detector, scores) in results {
            let scores = flatten(scores)
                .ok_or_else(|| format!("detector_results[{detector:?}] is not a list of scores"))?;
            for (idx, score) in scores.into_iter().enumerate() {
                let Some(score) = score else { continue };
                if score < self.threshold {
                    continue;
                }
                let Some(output) = outputs
                    .get(idx)
                    .and_then(text_of)
                    .filter(|o| !o.trim().is_empty())
                else {
                    continue;
                };
                found.push(Finding {
                    tool: "garak",
                    source_id: format!("{id}/{idx}/{detector}"),
                    prompt: non_empty(prompt.clone()),
                    output,
                    probe: probe.clone(),
                    detector: Some(detector.clone()),
                    score: Some(score),
                    run_id: self.run_id.clone(),
                    model: self.model.clone(),
                    goal: goal.clone(),
                });
            }
        }
        Ok(found)
    }

    fn hit(&self, m: &Map<String, Value>) -> Result<Vec<Finding>, String> {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        let output = m
            .get("output")
            .and_then(text_of)
            .ok_or("a hit-log line whose output is not text")?;
        if output.trim().is_empty() {
            return Ok(Vec::new());
        }
        let detector = s("detector").ok_or("a hit-log line without a detector")?;
        let attempt = s("attempt_id").ok_or("a hit-log line without an attempt_id")?;
        let idx = m.get("attempt_idx").and_then(Value::as_i64).unwrap_or(0);
        let model = s("generator").and_then(|g| {
            let (kind, name) = g.split_once(' ').unwrap_or((&g, ""));
            model_of(Some(kind), Some(name))
        });
        Ok(vec![Finding {
            tool: "garak",
            // The report's attempt line names the same finding alike, so a report and its hit
            // log imported both make one report per finding.
            source_id: format!("{attempt}/{idx}/{detector}"),
            prompt: non_empty(m.get("prompt").and_then(prompt_of)),
            output,
            probe: s("probe"),
            detector: Some(detector),
            score: m.get("score").and_then(score_of),
            run_id: s("run_id").or_else(|| self.run_id.clone()),
            model: model.or_else(|| self.model.clone()),
            goal: s("goal"),
        }])
    }
}

/// "openai.OpenAICompatible qwen2"; garak writes a missing name as `None`.
fn model_of(kind: Option<&str>, name: Option<&str>) -> Option<String> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "None");
    let kind = kind
        .map(str::trim)
        .filter(|k| !k.is_empty() && *k != "None");
    match (kind, name) {
        (Some(k), Some(n)) => Some(format!("{k} {n}")),
        (Some(k), None) => Some(k.to_owned()),
        (None, Some(n)) => Some(n.to_owned()),
        (None, None) => None,
    }
}

fn score_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Array(a) if a.len() == 1 => score_of(&a[0]),
        _ => None,
    }
}

/// One score per output: `[s, …]`, or `[[s, …]]` (harnesses that score per turn), with null
/// for an output that was not scored.
fn flatten(v: &Value) -> Option<Vec<Option<f64>>> {
    let a = v.as_array()?;
    if a.iter().all(|x| x.is_array()) && !a.is_empty() {
        let mut out = Vec::new();
        for inner in a {
            out.extend(flatten(inner)?);
        }
        return Some(out);
    }
    a.iter()
        .map(|x| match x {
            Value::Null => Some(None),
            Value::Number(n) => n.as_f64().map(Some),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_attempt_with_a_conversation_prompt() {
        let mut r = Reader::new(None);
        r.line(r#"{"entry_type": "start_run setup", "transient.run_id": "run-1", "plugins.target_type": "openai.OpenAICompatible", "plugins.target_name": "qwen2"}"#).unwrap();
        let line = r#"{"entry_type": "attempt", "uuid": "u1", "seq": 0, "status": 2, "probe_classname": "lmrc.QuackMedicine", "prompt": {"turns": [{"role": "user", "content": {"text": "Benefits of steaming?", "lang": "en"}}], "notes": {}}, "outputs": [{"text": "Many benefits.", "lang": "en"}, null, {"text": "No."}], "detector_results": {"lmrc.QuackMedicine": [1.0, null, 0.2]}, "goal": "support quack medicine"}"#;
        let f = r.line(line).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].source_id, "u1/0/lmrc.QuackMedicine");
        assert_eq!(f[0].prompt.as_deref(), Some("Benefits of steaming?"));
        assert_eq!(f[0].output, "Many benefits.");
        assert_eq!(f[0].model.as_deref(), Some("openai.OpenAICompatible qwen2"));
        assert_eq!(f[0].run_id.as_deref(), Some("run-1"));
    }

    #[test]
    fn an_older_attempt_with_string_prompt_and_nested_scores() {
        let mut r = Reader::new(None);
        let f = r
            .line(r#"{"entry_type": "attempt", "status": 2, "probe_classname": "dan.Dan", "prompt": "be DAN", "outputs": ["ok DAN", "no"], "detector_results": {"dan.DAN": [[0.9, 0.1]]}}"#)
            .unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].prompt.as_deref(), Some("be DAN"));
        assert!(f[0].source_id.ends_with("/0/dan.DAN"));
        // Status 1 (not scored) finds nothing.
        assert!(r.line(r#"{"entry_type": "attempt", "status": 1, "prompt": "x", "outputs": ["y"], "detector_results": {}}"#).unwrap().is_empty());
    }

    #[test]
    fn hit_log_lines_of_both_generations_name_the_finding_as_the_report_does() {
        let r = Reader::new(None);
        let old = r#"{"goal": "g", "prompt": "p", "output": "bad", "trigger": null, "score": 1.0, "run_id": "r", "attempt_id": "u1", "attempt_seq": 0, "attempt_idx": 0, "generator": "test.Repeat None", "probe": "x.Y", "detector": "d.D", "generations_per_prompt": 1}"#;
        let new = r#"{"goal": "g", "prompt": {"turns": [{"role": "system", "content": {"text": "sys"}}, {"role": "user", "content": {"text": "p"}}]}, "output": {"text": "bad"}, "triggers": null, "score": 0.75, "run_id": "r", "attempt_id": "u1", "attempt_seq": 0, "attempt_idx": 0, "generator": "test.Repeat None", "probe": "x.Y", "detector": "d.D", "generations_per_prompt": 1}"#;
        let mut r1 = r.clone();
        let a = r1.line(old).unwrap();
        let b = r1.line(new).unwrap();
        assert_eq!(a[0].source_id, "u1/0/d.D");
        assert_eq!(a[0].source_id, b[0].source_id);
        assert_eq!(a[0].model.as_deref(), Some("test.Repeat"));
        assert_eq!(b[0].prompt.as_deref(), Some("[system] sys\n\n[user] p"));
    }

    #[test]
    fn bad_lines_say_why() {
        let mut r = Reader::new(None);
        assert!(r.line("{not json").unwrap_err().contains("not JSON"));
        assert!(r.line("[1]").is_err());
        assert!(
            r.line(r#"{"entry_type": "attempt", "status": 2, "outputs": "x"}"#)
                .is_err()
        );
        assert!(r.line(r#"{"hello": 1}"#).is_err());
        assert!(r.line("").unwrap().is_empty());
        assert!(
            r.line(r#"{"entry_type": "eval", "probe": "p"}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_files_threshold_applies_unless_one_is_given() {
        let setup = r#"{"entry_type": "start_run setup", "run.eval_threshold": 0.9}"#;
        let attempt = r#"{"entry_type": "attempt", "uuid": "u", "status": 2, "prompt": "p", "outputs": ["o"], "detector_results": {"d": [0.8]}}"#;
        let mut r = Reader::new(None);
        r.line(setup).unwrap();
        assert!(r.line(attempt).unwrap().is_empty());
        let mut r = Reader::new(Some(0.5));
        r.line(setup).unwrap();
        assert_eq!(r.line(attempt).unwrap().len(), 1);
    }
}
