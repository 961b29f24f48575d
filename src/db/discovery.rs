//! Importing red-team findings: each line (garak) or result (promptfoo) read into findings,
//! each finding submitted to the intake writer as a discovery report, so it is grouped, opens
//! or joins an incident, starts its clocks and becomes a regression case exactly as a
//! complaint does, and is stored once per tool id. Lines that cannot be read are counted and
//! reported by number; the import goes on.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::intake::{DiscoverySource, IntakeWriter, Queued, Submission};
use crate::config::Settings;
use crate::domain::discovery::{Finding, garak, promptfoo};
use crate::domain::locale::Locale;
use crate::domain::report::{Channel, ValidReport};
use crate::domain::tracking_code::TrackingCode;

/// Which tool's output a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Garak,
    Promptfoo,
}

/// What an import did, for the summary line and the API's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Lines read (garak), or results read (promptfoo).
    pub lines: u64,
    /// Findings, each a report (now or before).
    pub reports: u64,
    /// Of `reports`, those a former import had stored already.
    pub already_imported: u64,
    /// Incidents the findings belong to.
    pub incidents: u64,
    /// Of `incidents`, those this import opened.
    pub opened: u64,
    pub bad_lines: u64,
    /// The first bad lines (up to 100): line (or result) number and why.
    pub errors: Vec<BadLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    /// The file, when several were read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line's number in its file (a promptfoo result's number in the export).
    pub line: u64,
    pub error: String,
}

impl Summary {
    /// `read N lines: R reports (D already imported), I incidents (O opened), B bad lines`
    pub fn line(&self) -> String {
        format!(
            "read {} lines: {} reports ({} already imported), {} incidents ({} opened), {} bad lines",
            self.lines,
            self.reports,
            self.already_imported,
            self.incidents,
            self.opened,
            self.bad_lines
        )
    }
}

const MAX_ERRORS: usize = 100;
/// Findings submitted and not yet answered: enough for the writer to fill its batches.
const IN_FLIGHT: usize = 1024;

/// Called with the summary so far.
type Progress = Box<dyn FnMut(&Summary) + Send>;

/// One import's state: the submissions under way and what came back.
pub struct Importer {
    intake: IntakeWriter,
    settings: Arc<Settings>,
    locale: Locale,
    threshold: Option<f64>,
    /// Queued in file order, answered in that order.
    pending: std::collections::VecDeque<Queued>,
    incidents: HashSet<i64>,
    opened: HashSet<i64>,
    pub summary: Summary,
    /// Called after each line with the summary so far (a progress bar).
    progress: Option<Progress>,
}

impl Importer {
    pub fn new(intake: IntakeWriter, settings: Arc<Settings>, threshold: Option<f64>) -> Importer {
        let locale = Locale::parse(&settings.public.default_locale).unwrap_or_default();
        Importer {
            intake,
            threshold: threshold.or(settings.discovery.threshold),
            settings,
            locale,
            pending: Default::default(),
            incidents: HashSet::new(),
            opened: HashSet::new(),
            summary: Summary::default(),
            progress: None,
        }
    }

    pub fn on_progress(&mut self, f: impl FnMut(&Summary) + Send + 'static) {
        self.progress = Some(Box::new(f));
    }

    fn bad(&mut self, file: Option<&str>, line: u64, error: String) {
        self.summary.bad_lines += 1;
        if self.summary.errors.len() < MAX_ERRORS {
            self.summary.errors.push(BadLine {
                file: file.map(str::to_owned),
                line,
                error,
            });
        }
    }

    fn report_of(&self, f: &Finding) -> anyhow::Result<ValidReport> {
        let s = &self.settings;
        let tax = &s.taxonomy;
        let category = tax
            .parse(s.discovery.category_for(f.probe.as_deref()))
            .ok_or_else(|| anyhow::anyhow!("the discovery categories are not in the taxonomy"))?;
        let cut = |t: &str, max: usize| -> String {
            if t.chars().count() <= max {
                t.to_owned()
            } else {
                let mut c: String = t.chars().take(max.saturating_sub(1)).collect();
                c.push('…');
                c
            }
        };
        let l = &s.limits;
        Ok(ValidReport {
            // Kept as the tool wrote it (control characters included: an ANSI escape may be the
            // finding); pages escape what they show.
            output: cut(&f.output, l.output_chars),
            prompt: f.prompt.as_deref().map(|p| cut(p, l.prompt_chars)),
            model: f.model.as_deref().map(|m| cut(m, l.short_field_chars)),
            model_version: None,
            url: None,
            category,
            description: cut(&f.description(), l.description_chars),
            name: None,
            email: None,
        })
    }

    async fn submit(&mut self, f: Finding) -> anyhow::Result<()> {
        self.summary.reports += 1;
        let report = self.report_of(&f)?;
        let now = crate::domain::audit::truncate_micros(Utc::now());
        let sub = Submission::new(
            report,
            self.locale,
            Channel::Discovery,
            TrackingCode::from_bytes(rand::random()),
            now,
            None,
        )
        .with_source(DiscoverySource {
            tool: f.tool.to_owned(),
            source_id: f.source_id,
            probe: f.probe,
            detector: f.detector,
            score: f.score,
            run_id: f.run_id,
            model: f.model,
        });
        while self.pending.len() >= IN_FLIGHT {
            self.settle_one().await?;
        }
        let queued = self.intake.enqueue(sub).await?;
        self.pending.push_back(queued);
        Ok(())
    }

    async fn settle_one(&mut self) -> anyhow::Result<()> {
        if let Some(queued) = self.pending.pop_front() {
            let stored = queued.stored().await?;
            self.incidents.insert(stored.incident_id);
            if stored.already {
                self.summary.already_imported += 1;
            } else if !stored.joined {
                self.opened.insert(stored.incident_id);
            }
            self.summary.incidents = self.incidents.len() as u64;
            self.summary.opened = self.opened.len() as u64;
        }
        Ok(())
    }

    /// Waits for every finding submitted; the summary is then final.
    pub async fn finish(&mut self) -> anyhow::Result<&Summary> {
        while !self.pending.is_empty() {
            self.settle_one().await?;
        }
        if let Some(p) = self.progress.as_mut() {
            p(&self.summary);
        }
        Ok(&self.summary)
    }

    fn tick(&mut self) {
        if let Some(p) = self.progress.as_mut() {
            p(&self.summary);
        }
    }

    /// Reads a garak report file or hit log (or both concatenated) line by line as it arrives;
    /// `file` names it in the bad lines' list.
    pub async fn garak<R: AsyncBufRead + Unpin>(
        &mut self,
        mut input: R,
        file: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut reader = garak::Reader::new(self.threshold);
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf).await? == 0 {
                break;
            }
            self.summary.lines += 1;
            n += 1;
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t,
                Err(e) => {
                    self.bad(file, n, format!("not UTF-8: {e}"));
                    continue;
                }
            };
            match reader.line(text) {
                Ok(findings) => {
                    for f in findings {
                        self.submit(f).await?;
                    }
                }
                Err(e) => self.bad(file, n, e),
            }
            self.tick();
        }
        Ok(())
    }

    /// Reads a promptfoo results export (a file: its JSON is parsed as a stream on a thread of
    /// its own, result by result).
    pub async fn promptfoo(&mut self, file: std::fs::File) -> anyhow::Result<()> {
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(usize, Result<Option<Finding>, String>)>(256);
        let parse = tokio::task::spawn_blocking(move || {
            let mut each = |n: usize, v: &serde_json::Value, eval: Option<&str>| {
                let _ = tx.blocking_send((n, promptfoo::finding(v, eval)));
            };
            promptfoo::read(std::io::BufReader::new(file), &mut each)
        });
        while let Some((n, r)) = rx.recv().await {
            self.summary.lines = n as u64;
            match r {
                Ok(Some(f)) => self.submit(f).await?,
                Ok(None) => {}
                Err(e) => self.bad(None, n as u64, e),
            }
            self.tick();
        }
        parse.await?.map_err(anyhow::Error::msg)?;
        Ok(())
    }
}
