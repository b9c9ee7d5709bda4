//! Personal data by format: US social security numbers and payment card numbers that pass the
//! Luhn check.

use super::{Pattern, Scanner, digits};

pub(crate) fn patterns() -> Vec<Pattern> {
    vec![Pattern {
        detector: "ssn",
        regex: r"(?-u:\b)\d{3}-\d{2}-\d{4}(?-u:\b)",
        validate: Some(plausible_ssn),
    }]
}

pub(crate) fn scanners() -> Vec<Scanner> {
    vec![Scanner {
        detector: "card_number",
        scan: card_candidates,
        validate: Some(plausible_card),
    }]
}

/// Runs of digits with single spaces or dashes between them, standing alone as a word.
fn card_candidates(text: &str, out: &mut Vec<(usize, usize)>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < b.len() {
            if b[j].is_ascii_digit() {
                j += 1;
                end = j;
            } else if matches!(b[j], b' ' | b'-') && j + 1 < b.len() && b[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let count = b[start..end].iter().filter(|c| c.is_ascii_digit()).count();
        if (13..=19).contains(&count) && (end == b.len() || !b[end].is_ascii_alphanumeric()) {
            out.push((start, end));
        }
        i = end.max(i + 1);
    }
}

/// Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
fn plausible_ssn(s: &str) -> bool {
    let d = digits(s);
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// 13 to 19 digits, a known network prefix, and a valid Luhn checksum.
fn plausible_card(s: &str) -> bool {
    let d = digits(s);
    if !(13..=19).contains(&d.len()) || !matches!(d[0], 2..=6) {
        return false;
    }
    luhn(&d)
}

pub(crate) fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use crate::detectors::detect;

    #[test]
    fn finds_ssns_and_cards() {
        assert!(detect("SSN 123-45-6789 on file").contains(&"ssn"));
        assert!(detect("card 4111 1111 1111 1111 exp 12/29").contains(&"card_number"));
        assert!(detect("5500-0000-0000-0004").contains(&"card_number"));
        assert!(detect("378282246310005").contains(&"card_number"));
    }

    #[test]
    fn near_misses_pass() {
        assert!(!detect("000-12-3456").contains(&"ssn"));
        assert!(!detect("4111 1111 1111 1112").contains(&"card_number"));
        assert!(!detect("order 1234567890123").contains(&"card_number"));
        assert!(!detect("call 555-867-5309").contains(&"ssn"));
    }
}
