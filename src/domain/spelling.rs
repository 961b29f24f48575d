//! The one spelling rule for every closed set of names people type: severities, kinds of serious
//! incident, states, roles, actions and category keys, wherever they arrive (command line, staff
//! forms, JSON, configuration).
//!
//! A name matches its canonical spelling when, after trimming surrounding whitespace, it is the
//! same but for ASCII case, and with `-` or a space where the canonical name has `_`:
//! `" High "`, `HIGH` and `high` are `high`; `Critical_Infrastructure`,
//! `critical infrastructure` and `critical-infrastructure` are `critical_infrastructure`.
//! Everything downstream compares the parsed value, never the typed text, so two spellings can
//! never select different deadlines.

use std::borrow::Cow;

/// The canonical form of a typed name: trimmed, ASCII-lowercased, `-` and space as `_`.
/// Borrowed when the text already is canonical (the common case: configuration and stored rows).
#[must_use]
pub fn fold(text: &str) -> Cow<'_, str> {
    let t = text.trim();
    if t.bytes()
        .all(|b| !b.is_ascii_uppercase() && b != b'-' && b != b' ')
    {
        return Cow::Borrowed(t);
    }
    Cow::Owned(
        t.chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect(),
    )
}

/// The member of `all` whose name `text` spells, by [`fold`].
pub fn find<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str, text: &str) -> Option<T> {
    let wanted = fold(text);
    all.iter().copied().find(|v| name(*v) == wanted)
}

/// `impl<'de> Deserialize<'de>` through `FromStr`, so JSON and configuration accept exactly the
/// spellings the command line and the forms accept.
#[macro_export]
macro_rules! deserialize_by_spelling {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_surrounding_space_and_separators() {
        assert_eq!(fold(" High "), "high");
        assert_eq!(fold("Critical_Infrastructure"), "critical_infrastructure");
        assert_eq!(fold("critical infrastructure"), "critical_infrastructure");
        assert_eq!(fold("critical-infrastructure"), "critical_infrastructure");
        assert!(matches!(fold("fix_planned"), Cow::Borrowed(_)));
        // Only surrounding space goes; doubled or inner space stays a difference.
        assert_eq!(fold("critical  infrastructure"), "critical__infrastructure");
        assert_eq!(fold("\tother\n"), "other");
    }
}
