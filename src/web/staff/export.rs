//! The list view as a file: CSV (UTF-8 with a BOM, so that Excel opens Chinese correctly) and
//! JSON, the rows and columns the list shows.

use axum::response::Response;

use super::list::{RowView, download};
use crate::domain::locale::Locale;

/// One CSV cell: quoted when needed, and a leading `=`, `+`, `-` or `@` defused so that a
/// spreadsheet does not run a reporter's text as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn csv_text(rows: &[RowView], l: Locale) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&crate::i18n::staff::export_headers(l).map(cell).join(","));
    out.push_str("\r\n");
    for r in rows {
        let flags: Vec<&str> = r.flags.iter().map(|f| f.1.as_str()).collect();
        let reports = r.reports.to_string();
        let line = [
            r.reference.as_str(),
            &r.title,
            r.state_word,
            &r.category,
            &r.severity_word,
            &r.assignee,
            &r.deadline_at,
            &r.clock,
            &reports,
            &r.last_change,
            &flags.join("; "),
        ]
        .map(cell)
        .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out
}

pub fn csv(rows: &[RowView], l: Locale) -> Response {
    download(
        "text/csv; charset=utf-8",
        "incidents.csv",
        csv_text(rows, l).into_bytes(),
    )
}

pub fn json(rows: &[RowView]) -> Response {
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "reference": r.reference,
                "title": r.title,
                "state": r.state,
                "state_words": r.state_word,
                "category_words": r.category,
                "severity": if r.severity.is_empty() { None } else { Some(&r.severity) },
                "assignee": if r.assignee.is_empty() { None } else { Some(&r.assignee) },
                "next_due_at": if r.deadline_at.is_empty() { None } else { Some(&r.deadline_at) },
                "next_due_clock": if r.clock.is_empty() { None } else { Some(&r.clock) },
                "report_count": r.reports,
                "last_change": r.last_change,
                "flags": r.flags.iter().map(|f| f.0).collect::<Vec<_>>(),
            })
        })
        .collect();
    download(
        "application/json",
        "incidents.json",
        serde_json::to_vec_pretty(&items).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("悉尼"), "悉尼");
    }
}
