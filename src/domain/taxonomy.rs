//! The category taxonomy: groups and their specific risks, from configuration.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub key: String,
    pub en: String,
    pub zh: String,
    #[serde(default)]
    pub risks: Vec<Risk>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    pub key: String,
    pub en: String,
    pub zh: String,
}

/// A category the taxonomy knows: a group (`core_values`) or a specific risk
/// (`core_values.terrorism`). It cannot be built for a key the taxonomy lacks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Category(String);

impl Category {
    /// A category the taxonomy knew when its report was received and validated: a report
    /// waiting in intake's inbox keeps it though the configuration changed before the report
    /// was stored, as a stored report keeps its category.
    pub fn accepted_before(key: String) -> Category {
        Category(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn group(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Taxonomy {
    pub fn validate(&self) -> Result<(), String> {
        if self.groups.is_empty() {
            return Err("at least one group is needed".into());
        }
        let mut seen = std::collections::HashSet::new();
        for g in &self.groups {
            if !valid_key(&g.key) {
                return Err(format!(
                    "group key {:?} must be lowercase letters, digits or _",
                    g.key
                ));
            }
            if !seen.insert(g.key.clone()) {
                return Err(format!("group {:?} appears twice", g.key));
            }
            let mut risks = std::collections::HashSet::new();
            for r in &g.risks {
                if !valid_key(&r.key) {
                    return Err(format!(
                        "risk key {:?} in {:?} must be lowercase letters, digits or _",
                        r.key, g.key
                    ));
                }
                if !risks.insert(&r.key) {
                    return Err(format!("risk {:?} appears twice in {:?}", r.key, g.key));
                }
            }
        }
        Ok(())
    }

    /// The category `value` names, by the one spelling rule ([`super::spelling`]) applied to
    /// the group and to the risk (`Rights.Privacy` is `rights.privacy`). The result is always
    /// the canonical key, whatever was typed.
    pub fn parse(&self, value: &str) -> Option<Category> {
        let value = super::spelling::fold(value);
        let (group, risk) = match value.split_once('.') {
            Some((g, r)) => (g, Some(r)),
            None => (&*value, None),
        };
        let g = self.groups.iter().find(|g| g.key == group)?;
        match risk {
            None => Some(Category(g.key.clone())),
            Some(r) => {
                let r = g.risks.iter().find(|x| x.key == r)?;
                Some(Category(format!("{}.{}", g.key, r.key)))
            }
        }
    }

    /// The label of a category in a language (`zh` for Chinese, otherwise English),
    /// "group — risk" for a specific risk.
    pub fn label(&self, category: &str, zh: bool) -> String {
        let (group, risk) = match category.split_once('.') {
            Some((g, r)) => (g, Some(r)),
            None => (category, None),
        };
        let Some(g) = self.groups.iter().find(|g| g.key == group) else {
            return category.to_string();
        };
        let gl = if zh { &g.zh } else { &g.en };
        match risk.and_then(|r| g.risks.iter().find(|x| x.key == r)) {
            Some(r) => format!("{gl} — {}", if zh { &r.zh } else { &r.en }),
            None => gl.clone(),
        }
    }

    /// Every selectable category in order: each group, then its risks.
    pub fn options(&self, zh: bool) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for g in &self.groups {
            out.push((
                g.key.clone(),
                if zh { g.zh.clone() } else { g.en.clone() },
                true,
            ));
            for r in &g.risks {
                out.push((
                    format!("{}.{}", g.key, r.key),
                    if zh { r.zh.clone() } else { r.en.clone() },
                    false,
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tax() -> Taxonomy {
        Taxonomy {
            groups: vec![Group {
                key: "rights".into(),
                en: "Rights".into(),
                zh: "权益".into(),
                risks: vec![Risk {
                    key: "privacy".into(),
                    en: "Privacy".into(),
                    zh: "隐私".into(),
                }],
            }],
        }
    }

    #[test]
    fn parses_groups_and_risks_only_when_known() {
        let t = tax();
        assert_eq!(t.parse("rights").unwrap().as_str(), "rights");
        assert_eq!(t.parse("rights.privacy").unwrap().group(), "rights");
        assert!(t.parse("rights.nope").is_none());
        assert!(t.parse("nope").is_none());
        assert!(t.parse("").is_none());
        assert_eq!(
            t.parse(" Rights.Privacy ").unwrap().as_str(),
            "rights.privacy"
        );
        assert_eq!(t.parse("RIGHTS").unwrap().as_str(), "rights");
        assert_eq!(t.label("rights.privacy", true), "权益 — 隐私");
    }
}
