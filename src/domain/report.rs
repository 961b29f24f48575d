//! A report as the public submits it, and the rules that make it acceptable.
//!
//! `ReportForm` holds exactly what was typed (so a form with a mistake can be shown again);
//! `ValidReport` can only be built by `validate`, so the storage layer never sees an unchecked one.

use std::fmt;

use super::taxonomy::{Category, Taxonomy};

/// Field limits, in characters (from configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub output: usize,
    pub prompt: usize,
    pub description: usize,
    pub short: usize,
}

/// The submitted fields, as typed. Field names are the public contract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportForm {
    pub output: String,
    pub prompt: String,
    pub model: String,
    pub model_version: String,
    pub url: String,
    pub category: String,
    pub description: String,
    pub name: String,
    pub email: String,
    pub good_faith: bool,
}

impl ReportForm {
    /// Set a field by its public name; unknown names are ignored so that extra form fields
    /// (the submit button, the honeypot) do not matter here.
    pub fn set(&mut self, field: &str, value: String) {
        match field {
            "output" => self.output = value,
            "prompt" => self.prompt = value,
            "model" => self.model = value,
            "model_version" => self.model_version = value,
            "url" => self.url = value,
            "category" => self.category = value,
            "description" => self.description = value,
            "name" => self.name = value,
            "email" => self.email = value,
            "good_faith" => self.good_faith = matches!(value.as_str(), "on" | "true" | "1" | "yes"),
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    WebForm,
    Api,
    Internal,
    /// A finding of the provider's own red-teaming, imported from a tool (garak, promptfoo):
    /// content "found in operation" rather than a complaint.
    Discovery,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WebForm => "web_form",
            Channel::Api => "api",
            Channel::Internal => "internal",
            Channel::Discovery => "discovery",
        }
    }

    /// The channel [`Channel::as_str`] names.
    pub fn parse(name: &str) -> Option<Channel> {
        [
            Channel::WebForm,
            Channel::Api,
            Channel::Internal,
            Channel::Discovery,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }

    /// A report someone made to us, whom the published feedback limit is promised to.
    pub fn is_complaint(self) -> bool {
        self != Channel::Discovery
    }
}

/// The clock that answers complaints (the published feedback limit, CN Interim Measures
/// Art. 15): it runs from the first complaint, so not for an incident only discovery reports
/// make up. Every other clock applies to discovery reports as to complaints.
pub const COMPLAINT_CLOCK: &str = "acknowledge";

/// Whether the clock `name` applies to an incident with (`complaint`) or without a complaint.
pub fn clock_applies(name: &str, complaint: bool) -> bool {
    complaint || name != COMPLAINT_CLOCK
}

/// What is wrong with one field. The web layer words it in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Required,
    TooLong {
        max: usize,
    },
    ControlCharacters,
    UnknownCategory,
    InvalidEmail,
    /// The part before `@` has characters outside ASCII: deliverable only over SMTPUTF8,
    /// which the mailer does not use, so the reporter is asked for another address.
    EmailLocalNotAscii,
    MustConfirm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

/// An email address we can deliver to: a dot-atom local part in ASCII, and a domain of at least
/// two labels whose Unicode form is kept as its punycode (IDNA), each label of letters, digits
/// and inner hyphens, at most 63 long; and what the mail library's own parser accepts. Every
/// address accepted here can be written in a `To:` header and an SMTP envelope as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, Problem> {
        let s = input.trim();
        let (local, domain) = s.rsplit_once('@').ok_or(Problem::InvalidEmail)?;
        let bad_char =
            |c: char| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c);
        if local.is_empty() || local.chars().any(bad_char) {
            return Err(Problem::InvalidEmail);
        }
        if !local.is_ascii() {
            return Err(Problem::EmailLocalNotAscii);
        }
        if local.len() > 64
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(Problem::InvalidEmail);
        }
        let domain = ascii_domain(domain).ok_or(Problem::InvalidEmail)?;
        let address = format!("{local}@{domain}");
        if address.len() > 254 || lettre::Address::new(local, &domain).is_err() {
            return Err(Problem::InvalidEmail);
        }
        Ok(Email(address))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The domain in ASCII (punycode for a Unicode one), lower-cased, when every label is a
/// hostname label: 1 to 63 letters, digits and hyphens, no hyphen first or last; at least two
/// labels, the last not all digits (no bare IP addresses).
fn ascii_domain(domain: &str) -> Option<String> {
    if domain.is_empty() || domain.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let ascii = idna::domain_to_ascii(domain).ok()?.to_ascii_lowercase();
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (ascii.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && !labels.last()?.bytes().all(|b| b.is_ascii_digit()))
    .then_some(ascii)
}

/// A report that passed every rule. Optional text fields are `None` when left empty.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidReport {
    pub output: String,
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub model_version: Option<String>,
    pub url: Option<String>,
    pub category: Category,
    pub description: String,
    pub name: Option<String>,
    pub email: Option<Email>,
}

/// Control characters other than tab and line breaks have no place in a report; they are how
/// terminal escapes and invisible-text tricks ride along.
fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn check_text(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Option<String> {
    let trimmed = value.trim();
    if has_control(value) {
        errors.push(FieldError {
            field,
            problem: Problem::ControlCharacters,
        });
        return None;
    }
    if trimmed.chars().count() > max {
        errors.push(FieldError {
            field,
            problem: Problem::TooLong { max },
        });
        return None;
    }
    // Zero-width spaces, a BOM or fillers alone are no text either.
    if trimmed.chars().all(super::text::is_invisible) {
        if required {
            errors.push(FieldError {
                field,
                problem: Problem::Required,
            });
        }
        return None;
    }
    Some(trimmed.to_string())
}

pub fn validate(
    form: &ReportForm,
    taxonomy: &Taxonomy,
    limits: Limits,
) -> Result<ValidReport, Vec<FieldError>> {
    let mut errors = Vec::new();
    let output = check_text(&mut errors, "output", &form.output, limits.output, true);
    let prompt = check_text(&mut errors, "prompt", &form.prompt, limits.prompt, false);
    let model = check_text(&mut errors, "model", &form.model, limits.short, false);
    let model_version = check_text(
        &mut errors,
        "model_version",
        &form.model_version,
        limits.short,
        false,
    );
    let url = check_text(&mut errors, "url", &form.url, limits.short * 4, false);
    let category_text = check_text(&mut errors, "category", &form.category, 200, true);
    let category = match category_text {
        Some(c) => match taxonomy.parse(&c) {
            Some(cat) => Some(cat),
            None => {
                errors.push(FieldError {
                    field: "category",
                    problem: Problem::UnknownCategory,
                });
                None
            }
        },
        None => None,
    };
    let description = check_text(
        &mut errors,
        "description",
        &form.description,
        limits.description,
        true,
    );
    let name = check_text(&mut errors, "name", &form.name, limits.short, false);
    let email = match check_text(&mut errors, "email", &form.email, 254, false) {
        Some(e) => match Email::parse(&e) {
            Ok(e) => Some(e),
            Err(problem) => {
                errors.push(FieldError {
                    field: "email",
                    problem,
                });
                None
            }
        },
        None => None,
    };
    if !form.good_faith {
        errors.push(FieldError {
            field: "good_faith",
            problem: Problem::MustConfirm,
        });
    }
    match (output, category, description) {
        (Some(output), Some(category), Some(description)) if errors.is_empty() => Ok(ValidReport {
            output,
            prompt,
            model,
            model_version,
            url,
            category,
            description,
            name,
            email,
        }),
        _ => Err(errors),
    }
}

/// The first words of the content, for board cards and mail subjects.
pub fn title_of(output: &str, max_chars: usize) -> String {
    let flat: String = output.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let mut t: String = flat.chars().take(max_chars).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::taxonomy::{Group, Taxonomy};

    fn tax() -> Taxonomy {
        Taxonomy {
            groups: vec![Group {
                key: "accuracy".into(),
                en: "Accuracy".into(),
                zh: "准确".into(),
                risks: vec![],
            }],
        }
    }

    const LIMITS: Limits = Limits {
        output: 20,
        prompt: 20,
        description: 10,
        short: 10,
    };

    fn good() -> ReportForm {
        ReportForm {
            output: "bad answer".into(),
            category: "accuracy".into(),
            description: "wrong".into(),
            good_faith: true,
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_minimal_report() {
        let v = validate(&good(), &tax(), LIMITS).unwrap();
        assert_eq!(v.output, "bad answer");
        assert!(v.email.is_none() && v.prompt.is_none());
    }

    #[test]
    fn names_every_bad_field() {
        let form = ReportForm {
            output: "x".repeat(21),
            category: "nope".into(),
            description: " ".into(),
            email: "not-an-address".into(),
            prompt: "a\u{1b}[31m".into(),
            ..Default::default()
        };
        let errs = validate(&form, &tax(), LIMITS).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| (e.field, e.problem.clone())).collect();
        assert_eq!(
            fields,
            vec![
                ("output", Problem::TooLong { max: 20 }),
                ("prompt", Problem::ControlCharacters),
                ("category", Problem::UnknownCategory),
                ("description", Problem::Required),
                ("email", Problem::InvalidEmail),
                ("good_faith", Problem::MustConfirm),
            ]
        );
    }

    #[test]
    fn invisible_characters_alone_are_no_text() {
        let mut f = good();
        f.description = "\u{200b}\u{feff}\u{3164} ".into();
        let errs = validate(&f, &tax(), LIMITS).unwrap_err();
        assert_eq!(errs[0].field, "description");
        assert_eq!(errs[0].problem, Problem::Required);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let mut f = good();
        f.output = "违".repeat(20);
        assert!(validate(&f, &tax(), LIMITS).is_ok());
    }

    #[test]
    fn email_rules() {
        assert!(Email::parse("a@example.com").is_ok());
        assert_eq!(
            Email::parse("zhang@例子.中国").unwrap().as_str(),
            "zhang@xn--fsqu00a.xn--fiqs8s",
            "a Unicode domain is kept as punycode"
        );
        assert_eq!(
            Email::parse("张三@例子.中国"),
            Err(Problem::EmailLocalNotAscii)
        );
        let long_label = format!("a@{}.com", "x".repeat(64));
        for bad in [
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@example..com",
            "<a@x.com>",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example-.com",
            "a@192.168.0.1",
            "a@[127.0.0.1]",
            long_label.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn titles_are_the_first_words() {
        assert_eq!(title_of("  one\n two   three ", 9), "one two t…");
        assert_eq!(title_of("short", 9), "short");
    }
}
