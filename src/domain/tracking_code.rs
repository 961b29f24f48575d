//! Tracking codes: 80 random bits as 16 Crockford base32 symbols in four groups of four,
//! so a person can read one out over the phone and type it back without ambiguity.

use std::fmt;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SYMBOLS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tracking code: expected 16 letters and digits, like 7KQ2-9XHD-M3P8-VW4T")]
pub struct BadTrackingCode;

impl TrackingCode {
    /// A new code from 10 random bytes (the caller supplies the randomness so this stays pure).
    pub fn from_bytes(bytes: [u8; 10]) -> Self {
        let mut bits: u128 = 0;
        for b in bytes {
            bits = (bits << 8) | u128::from(b);
        }
        let mut out = String::with_capacity(19);
        for i in 0..SYMBOLS {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            let shift = 5 * (SYMBOLS - 1 - i);
            out.push(ALPHABET[((bits >> shift) & 31) as usize] as char);
        }
        TrackingCode(out)
    }

    /// Accepts what people type: any case, spaces or hyphens anywhere, and the Crockford
    /// look-alikes (O for 0, I and L for 1).
    pub fn parse(input: &str) -> Result<Self, BadTrackingCode> {
        let mut symbols = String::with_capacity(SYMBOLS);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(BadTrackingCode),
            };
            if symbols.len() == SYMBOLS {
                return Err(BadTrackingCode);
            }
            symbols.push(c);
        }
        if symbols.len() != SYMBOLS {
            return Err(BadTrackingCode);
        }
        let grouped: Vec<&str> = (0..4).map(|i| &symbols[i * 4..i * 4 + 4]).collect();
        Ok(TrackingCode(grouped.join("-")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_through_what_people_type(bytes in any::<[u8; 10]>()) {
            let code = TrackingCode::from_bytes(bytes);
            prop_assert_eq!(code.as_str().len(), 19);
            let typed = code.as_str().to_lowercase().replace('-', " ").replace('0', "o").replace('1', "l");
            prop_assert_eq!(TrackingCode::parse(&typed).unwrap(), code);
        }

        #[test]
        fn distinct_bytes_give_distinct_codes(a in any::<[u8; 10]>(), b in any::<[u8; 10]>()) {
            prop_assume!(a != b);
            prop_assert_ne!(TrackingCode::from_bytes(a), TrackingCode::from_bytes(b));
        }
    }

    #[test]
    fn refuses_wrong_length_and_symbols() {
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQR").is_err());
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQRST").is_err());
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQRU").is_err()); // U is not Crockford
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQR<").is_err());
        assert!(TrackingCode::parse("").is_err());
    }
}
