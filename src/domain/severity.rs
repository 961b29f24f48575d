//! How bad an incident is, and whether it is a serious incident in the EU AI Act's sense.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::spelling;

/// A value that is not one of a closed set of names; says which names would do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what} ({expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Triage's judgement of urgency. Ordered by urgency, so `max()` of a set is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Least to most urgent.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = UnknownName;

    /// By the one spelling rule ([`spelling`]), as serde does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        spelling::find(&Severity::ALL, Severity::as_str, s).ok_or_else(|| UnknownName {
            what: "severity",
            value: s.to_owned(),
            expected: "low, medium, high or critical",
        })
    }
}

/// Which kind of serious incident (EU AI Act Art. 3(49), Art. 73): the kind decides the
/// authority-report deadline (2 days for widespread / critical infrastructure, 10 for a death,
/// 15 otherwise), which is why it is kept apart from [`Severity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriousKind {
    Death,
    Widespread,
    CriticalInfrastructure,
    Other,
}

impl SeriousKind {
    pub const ALL: [SeriousKind; 4] = [
        SeriousKind::Death,
        SeriousKind::Widespread,
        SeriousKind::CriticalInfrastructure,
        SeriousKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SeriousKind::Death => "death",
            SeriousKind::Widespread => "widespread",
            SeriousKind::CriticalInfrastructure => "critical_infrastructure",
            SeriousKind::Other => "other",
        }
    }

    /// Words for a page or an email.
    pub fn label(self) -> &'static str {
        match self {
            SeriousKind::Death => "death of a person",
            SeriousKind::Widespread => "widespread infringement",
            SeriousKind::CriticalInfrastructure => "serious disruption of critical infrastructure",
            SeriousKind::Other => "other serious incident",
        }
    }
}

impl fmt::Display for SeriousKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SeriousKind {
    type Err = UnknownName;

    /// By the one spelling rule ([`spelling`]), as serde does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        spelling::find(&SeriousKind::ALL, SeriousKind::as_str, s).ok_or_else(|| UnknownName {
            what: "kind of serious incident",
            value: s.to_owned(),
            expected: "death, widespread, critical_infrastructure or other",
        })
    }
}

crate::deserialize_by_spelling!(Severity);
crate::deserialize_by_spelling!(SeriousKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_by_urgency() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::Medium < Severity::High);
        assert!(Severity::High < Severity::Critical);
        assert_eq!(Severity::ALL.iter().max(), Some(&Severity::Critical));
    }

    #[test]
    fn severity_names_round_trip() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
            assert_eq!(
                serde_json::from_value::<Severity>(s.as_str().into()).unwrap(),
                s
            );
        }
        assert_eq!(" High ".parse::<Severity>(), Ok(Severity::High));
        let err = "urgent".parse::<Severity>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"urgent\" is not a severity (low, medium, high or critical)"
        );
        // JSON and configuration follow the same rule as the command line and forms.
        assert_eq!(
            serde_json::from_value::<Severity>("High".into()).unwrap(),
            Severity::High
        );
    }

    #[test]
    fn serious_kind_names_round_trip() {
        for k in SeriousKind::ALL {
            assert_eq!(k.as_str().parse::<SeriousKind>(), Ok(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
            assert!(!k.label().is_empty());
        }
        assert_eq!(
            "critical_infrastructure".parse::<SeriousKind>(),
            Ok(SeriousKind::CriticalInfrastructure)
        );
        assert_eq!(
            "Critical infrastructure".parse::<SeriousKind>(),
            Ok(SeriousKind::CriticalInfrastructure)
        );
        assert!("critical__infrastructure".parse::<SeriousKind>().is_err());
        assert!("".parse::<SeriousKind>().is_err());
    }
}
