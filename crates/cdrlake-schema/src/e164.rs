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

/// How numbers are dialled in a country: what `normalize_in` needs to turn a national number
/// into E.164.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialing<'a> {
    /// The ITU country calling code, digits only (`1`, `44`).
    pub calling_code: &'a str,
    /// The trunk prefix dialled before a national number (`0` in most of Europe, `1` in the
    /// NANP, empty where there is none).
    pub national_prefix: &'a str,
    /// The usual international (exit) prefix (`00`, `011`, `0011`).
    pub international_prefix: &'a str,
}

/// The NANP's dialling rules: the default of [`normalize`].
pub const NANP: Dialing<'static> = Dialing {
    calling_code: "1",
    national_prefix: "1",
    international_prefix: "011",
};

/// Normalises a number as switches write it: `+1 (212) 555-0100`, `12125550100`,
/// `2125550100` (NANP national), `0044 20 7946 0000` or `011 44 20 7946 0000` (international
/// prefixes), `tel:+12125550100`, `sip:+12125550100@host;user=phone`.
///
/// Returns an error message naming what is wrong; the caller adds file, row and column.
pub fn normalize(raw: &str) -> Result<Number, String> {
    normalize_in(raw, None)
}

/// Like [`normalize`], but a number without `+` is read as dialled in `country`: its
/// international prefix introduces a country code, its trunk prefix introduces a national
/// number (`020 7946 0000` in GB is `+442079460000`). `None` keeps the NANP-only reading of
/// [`normalize`], which also accepts `00` and `011` as international prefixes.
pub fn normalize_in(raw: &str, country: Option<&Dialing<'_>>) -> Result<Number, String> {
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
    } else if let Some(c) = country.filter(|c| c.calling_code != "1") {
        national_in(raw, &digits, c)?
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

/// A number dialled without `+` in a country outside the NANP.
fn national_in(raw: &str, digits: &str, c: &Dialing<'_>) -> Result<String, String> {
    if !c.international_prefix.is_empty()
        && let Some(rest) = digits.strip_prefix(c.international_prefix)
    {
        return Ok(rest.to_string());
    }
    if !c.national_prefix.is_empty() {
        if let Some(rest) = digits.strip_prefix(c.national_prefix) {
            return Ok(format!("{}{rest}", c.calling_code));
        }
        return Err(format!(
            "'{raw}' is not an E.164 number: no '+', international prefix '{}' or trunk prefix '{}'",
            c.international_prefix, c.national_prefix
        ));
    }
    Ok(format!("{}{digits}", c.calling_code))
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
    fn national_numbers_in_a_default_country() {
        let gb = Dialing {
            calling_code: "44",
            national_prefix: "0",
            international_prefix: "00",
        };
        let it = Dialing {
            calling_code: "39",
            national_prefix: "",
            international_prefix: "00",
        };
        let n = |raw: &str, c: &Dialing<'_>| normalize_in(raw, Some(c));
        assert_eq!(
            n("020 7946 0000", &gb),
            Ok(Number::E164("+442079460000".into()))
        );
        assert_eq!(
            n("00 1 212 555 0100", &gb),
            Ok(Number::E164("+12125550100".into()))
        );
        assert_eq!(
            n("+33 1 23 45 67 89", &gb),
            Ok(Number::E164("+33123456789".into()))
        );
        assert!(
            n("7946 0000", &gb)
                .unwrap_err()
                .contains("trunk prefix '0'")
        );
        assert_eq!(
            n("06 1234 5678", &it),
            Ok(Number::E164("+390612345678".into()))
        );
        assert_eq!(
            normalize_in("(212) 555-0100", Some(&NANP)),
            Ok(Number::E164("+12125550100".into()))
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
