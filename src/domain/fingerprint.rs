//! The grouping fingerprint: reports of the same content by the same model land in one incident
//! even when people copy it with different case, spacing or punctuation.

use sha2::{Digest, Sha256};

/// Folds case, white space, punctuation and full-width forms, keeping letters (any script) and
/// digits, so "Hello, World!" and "ｈｅｌｌｏ world" compare equal.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(fold_width) {
        match c {
            // What reports are mostly made of, ASCII and CJK ideographs (letters without case),
            // skips the Unicode tables; `fast_paths_fold_as_the_general_rule` checks every char.
            'a'..='z' | '0'..='9' | '\u{4E00}'..='\u{9FFF}' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            c if c.is_ascii() => {}
            c => general(c, &mut out),
        }
    }
    out
}

/// The rule itself: keep letters and digits of any script, lower-cased.
fn general(c: char, out: &mut String) {
    if c.is_alphanumeric() {
        out.extend(c.to_lowercase());
    }
}

fn fold_width(c: char) -> char {
    match c {
        // Full-width ASCII variants (Ｕ+FF01..FF5E) are what Chinese input methods often produce.
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Hex SHA-256 of the normalised model name and output.
pub fn fingerprint(model: &str, output: &str) -> String {
    let mut h = Sha256::new();
    h.update(normalise(model).as_bytes());
    h.update([0x1f]);
    h.update(normalise(output).as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_space_punctuation_and_width() {
        assert_eq!(
            fingerprint("GPT-4o", "Hello, World!"),
            fingerprint("gpt 4o", "  hello world ")
        );
        assert_eq!(
            fingerprint("m", "ｈｅｌｌｏ，世界。"),
            fingerprint("M", "Hello 世界")
        );
        assert_ne!(fingerprint("a", "hello"), fingerprint("b", "hello"));
        assert_ne!(fingerprint("a", "hello"), fingerprint("a", "hullo"));
    }

    #[test]
    fn fast_paths_fold_as_the_general_rule() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut expected = String::new();
            general(fold_width(c), &mut expected);
            assert_eq!(normalise(c.encode_utf8(&mut [0; 4])), expected, "{c:?}");
        }
    }

    #[test]
    fn model_and_output_do_not_run_together() {
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
    }
}
