//! Phone-number normalisation to E.164.

/// What a raw number string normalises to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Number {
    /// `+` followed by 7 to 15 digits, the first not 0.
    E164(String),
    /// A withheld or unavailable caller (`anonymous`, `restricted`, ...): stored as NULL.
    Withheld,
}

/// Tokens switches write instead of a number when the caller is withheld or unknown.
const WITHHELD: &[&str] = &[
    "anonymous",
    "restricted",
    "private",
    "unavailable",
    "unknown",
    "withheld",
];

/// Normalises a number as switches write it: `+1 (212) 555-0100`, `12125550100`,
/// `2125550100` (NANP national), `0044 20 7946 0000` or `011 44 20 7946 0000` (international
/// prefixes), `tel:+12125550100`, `sip:+12125550100@host;user=phone`.
///
/// Returns an error message naming what is wrong; the caller adds file, row and column.
pub fn normalize(raw: &str) -> Result<Number, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || WITHHELD.iter().any(|w| trimmed.eq_ignore_ascii_case(w)) {
        return Ok(Number::Withheld);
    }
    let mut s = trimmed;
    for scheme in ["tel:", "sip:", "sips:"] {
        if s.len() >= scheme.len() && s[..scheme.len()].eq_ignore_ascii_case(scheme) {
            s = &s[scheme.len()..];
        }
    }
    // sip:+12125550100@host;user=phone -> the user part.
    if let Some(at) = s.find(['@', ';']) {
        s = &s[..at];
    }
    let plus = s.starts_with('+');
    let mut digits = String::with_capacity(16);
    for (i, ch) in s.char_indices() {
        match ch {
            '0'..='9' => digits.push(ch),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            '+' if i == 0 => {}
            _ => return Err(format!("'{raw}' is not a phone number: unexpected '{ch}'")),
        }
    }
    if digits.is_empty() {
        return Err(format!("'{raw}' is not a phone number: no digits"));
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("011") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if digits.len() == 10 && !digits.starts_with(['0', '1']) {
        format!("1{digits}")
    } else if digits.len() == 11 && digits.starts_with('1') {
        digits
    } else {
        return Err(format!(
            "'{raw}' is not an E.164 number: no '+' or international prefix, and not a 10-digit NANP number"
        ));
    };
    if international.starts_with('0') {
        return Err(format!(
            "'{raw}' is not an E.164 number: country code cannot start with 0"
        ));
    }
    if !(7..=15).contains(&international.len()) {
        return Err(format!(
            "'{raw}' is not an E.164 number: {} digits (E.164 allows 7 to 15)",
            international.len()
        ));
    }
    Ok(Number::E164(format!("+{international}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match normalize(raw) {
            Ok(Number::E164(s)) => s,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn formats_switches_write() {
        assert_eq!(ok("+12125550100"), "+12125550100");
        assert_eq!(ok("+1 (212) 555-0100"), "+12125550100");
        assert_eq!(ok("2125550100"), "+12125550100");
        assert_eq!(ok("12125550100"), "+12125550100");
        assert_eq!(ok("0044 20 7946 0000"), "+442079460000");
        assert_eq!(ok("011 44 20 7946 0000"), "+442079460000");
        assert_eq!(ok("tel:+14165550100"), "+14165550100");
        assert_eq!(
            ok("sip:+14165550100@example.com;user=phone"),
            "+14165550100"
        );
    }

    #[test]
    fn withheld_callers_are_null() {
        for w in ["anonymous", "Restricted", " ", "", "UNAVAILABLE"] {
            assert_eq!(normalize(w), Ok(Number::Withheld), "{w:?}");
        }
    }

    #[test]
    fn rejects_non_numbers_with_the_reason() {
        assert!(normalize("abc").unwrap_err().contains("unexpected 'a'"));
        assert!(normalize("12345").unwrap_err().contains("10-digit NANP"));
        assert!(normalize("+1234").unwrap_err().contains("4 digits"));
        assert!(
            normalize("+1234567890123456")
                .unwrap_err()
                .contains("16 digits")
        );
        assert!(
            normalize("+0123456789")
                .unwrap_err()
                .contains("cannot start with 0")
        );
        assert!(normalize("+1-800-FLOWERS").is_err());
    }
}
