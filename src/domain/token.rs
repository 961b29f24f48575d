//! Machine tokens: what a token is called, what it may do (its scopes), and how its secret is
//! written and recognised. The secret's randomness comes from the caller, so this stays pure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::severity::UnknownName;

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read the regression export.
    Export,
    /// Post verification runs (and so pass or fail incidents at verification).
    Verify,
    /// Import red-team findings.
    Import,
    /// Add, edit and retire regression cases.
    Cases,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Export, Scope::Verify, Scope::Import, Scope::Cases];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Export => "export",
            Scope::Verify => "verify",
            Scope::Import => "import",
            Scope::Cases => "cases",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Scope::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownName {
                what: "scope",
                value: s.to_owned(),
                expected: "export, verify, import or cases",
            })
    }
}

/// A token's scopes: at least one, each once, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Reads `export,verify,import` (commas, spaces, any case).
    pub fn parse(input: &str) -> Result<Scopes, String> {
        let mut scopes = Vec::new();
        for part in input.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
            let s: Scope = part.parse().map_err(|e: UnknownName| e.to_string())?;
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        if scopes.is_empty() {
            return Err("give at least one scope: export, verify, import or cases".into());
        }
        scopes.sort();
        Ok(Scopes(scopes))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

/// A token's name: what logs and the event log show for it. 1 to 64 of letters, digits, `.`,
/// `_` and `-`, so it reads the same in a log line, a URL and a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(input: &str) -> Result<TokenName, String> {
        let s = input.trim();
        if s.is_empty() || s.chars().count() > 64 {
            return Err("a token name has 1 to 64 characters".into());
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!(
                "{s:?}: a token name may hold only letters, digits, '.', '_' and '-'"
            ));
        }
        Ok(TokenName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The actor events record for an action taken with this token.
    pub fn actor_label(&self) -> String {
        actor_label(&self.0)
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `token:NAME`: how the event log names a token as an actor, apart from people (their email)
/// and the system.
pub fn actor_label(name: &str) -> String {
    format!("token:{name}")
}

/// What every secret starts with, so one pasted into the wrong place is recognisable.
pub const SECRET_PREFIX: &str = "rct_";

/// The secret for 32 random bytes (256 bits): `rct_` and 64 hex digits.
pub fn secret_from_bytes(bytes: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// What is stored of a secret: hex SHA-256. The secret has 256 random bits, so a fast hash is
/// enough (nothing to guess), and it lets a request find its token with one indexed look-up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_once_each_in_order() {
        let s = Scopes::parse("import, Export,verify,export").unwrap();
        assert_eq!(s.to_string(), "export,verify,import");
        assert!(s.contains(Scope::Verify) && !s.contains(Scope::Cases));
        assert!(Scopes::parse("").is_err());
        assert!(Scopes::parse("export,admin").unwrap_err().contains("admin"));
    }

    #[test]
    fn names_are_plain() {
        assert_eq!(
            TokenName::parse(" ci-pipeline.v2 ").unwrap().as_str(),
            "ci-pipeline.v2"
        );
        for bad in ["", "a b", "x".repeat(65).as_str(), "名字", "a/b"] {
            assert!(TokenName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TokenName::parse("ci").unwrap().actor_label(), "token:ci");
    }

    #[test]
    fn secrets_have_256_bits_and_hash_stably() {
        let s = secret_from_bytes([7; 32]);
        assert_eq!(s.len(), 4 + 64);
        assert!(s.starts_with("rct_"));
        assert_eq!(hash_secret(&s), hash_secret(&s.clone()));
        assert_ne!(hash_secret(&s), hash_secret(&secret_from_bytes([8; 32])));
    }
}
