//! Personal data: e-mail addresses, phone numbers, US social security numbers, payment card
//! numbers that pass the Luhn check, and passport numbers and dates of birth named as such.
//! Formats that are only personal data in context (a 9-digit SSN, a national phone number, a
//! passport number) are found only after a word that says what they are, in the languages
//! people write.

use std::sync::LazyLock;

use regex::Regex;

use super::{Pattern, Scanner, digits};

pub(crate) fn patterns() -> Vec<Pattern> {
    vec![
        Pattern {
            detector: "ssn",
            regex: r"(?-u:\b)\d{3}-\d{2}-\d{4}(?-u:\b)",
            validate: Some(plausible_ssn),
        },
        Pattern {
            detector: "email",
            regex: r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}(?-u:\b)",
            validate: Some(real_email),
        },
    ]
}

pub(crate) fn scanners() -> Vec<Scanner> {
    vec![
        Scanner {
            detector: "card_number",
            min_digits: 13,
            scan: card_candidates,
            validate: Some(plausible_card),
        },
        Scanner {
            detector: "phone_number",
            min_digits: 7,
            scan: phone_candidates,
            validate: None,
        },
        Scanner {
            detector: "ssn",
            min_digits: 9,
            scan: ssn_in_context,
            validate: Some(plausible_ssn),
        },
        Scanner {
            detector: "ssn",
            min_digits: 9,
            scan: ssn_columns,
            validate: Some(plausible_ssn),
        },
        Scanner {
            detector: "national_id",
            min_digits: 7,
            scan: national_ids,
            validate: None,
        },
        Scanner {
            detector: "passport_number",
            min_digits: 1,
            scan: passport_in_context,
            validate: None,
        },
        Scanner {
            detector: "date_of_birth",
            min_digits: 4,
            scan: birth_date_in_context,
            validate: None,
        },
    ]
}

/// Whether `text` holds at least `n` ASCII digits. The scanners' `min_digits` already keeps
/// texts with too few from them; this tells the stricter formats inside one scanner apart.
fn has_digits(text: &str, n: usize) -> bool {
    text.bytes().filter(u8::is_ascii_digit).count() >= n
}

/// A case-insensitive search for words that give a number its meaning, in one pass.
fn context_finder(words: &[&str]) -> aho_corasick::AhoCorasick {
    #[allow(clippy::expect_used)]
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .expect("built-in context words build")
}

use crate::built_in_regex as re;

/// An address at a real domain: not the documentation's `example.com`, not a placeholder, not
/// a Git remote (`git@github.com`).
fn real_email(address: &str) -> bool {
    let lower = address.to_ascii_lowercase();
    let (local, domain) = lower.split_once('@').unwrap_or(("", ""));
    let example_domain = [
        "example.com",
        "example.org",
        "example.net",
        "example.edu",
        "test.com",
        "domain.com",
        "email.com",
        "yourcompany.com",
        "company.com",
        "acme.test",
        "localhost",
    ]
    .iter()
    .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        || domain.ends_with(".example")
        || domain.ends_with(".test")
        || domain.ends_with(".invalid")
        || domain.ends_with(".local");
    let placeholder = [
        "you",
        "your.email",
        "your-email",
        "youremail",
        "user",
        "username",
        "name",
        "email",
        "someone",
        "foo",
        "bar",
        "test",
        "xxx",
        "firstname.lastname",
        "first.last",
    ]
    .contains(&local);
    let not_a_person = local == "git"
        || domain.ends_with(".png")
        || domain.ends_with(".jpg")
        || domain.ends_with(".svg")
        || domain.ends_with(".js");
    !(example_domain || placeholder || not_a_person)
}

/// Words that say a number is a phone number, in the languages people write.
static PHONE_WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    context_finder(&[
        "phone",
        "tel.",
        "tel:",
        "tel ",
        "telephone",
        "mobile",
        "cell",
        "call",
        "ring",
        "fax",
        "whatsapp",
        "sms",
        "text me",
        "reach me",
        "reach him",
        "reach her",
        "reach them",
        "contact",
        "numéro",
        "téléphone",
        "portable",
        "telefon",
        "handy",
        "rufnummer",
        "teléfono",
        "móvil",
        "celular",
        "telefone",
        "telemóvel",
        "telefono",
        "cellulare",
        "telefoonnummer",
        "mobiel",
        "bel ",
        "电话",
        "手机",
        "電話",
        "携帯",
        "問い合わせ",
        "連絡",
        "联系",
        "contacto",
        "kontakt",
    ])
});

/// International numbers (`+44 20 7946 0958`), North American ones (`(415) 555-0132`) and,
/// after a word that says so, national ones (`06 12 34 56 78`).
fn phone_candidates(text: &str, out: &mut Vec<(usize, usize)>) {
    static INTERNATIONAL: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?:^|[^\w+])(\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4})\b")
    });
    static NANP: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?:^|[^\w-])(\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})\b"));
    static NATIONAL: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?:^|[^\w-])(0\d{1,4}(?:[\s.-]?\d{2,4}){2,4})\b"));
    let digit_count = |s: &str| s.bytes().filter(u8::is_ascii_digit).count();
    let plus = text.contains('+');
    for c in INTERNATIONAL.captures_iter(if plus { text } else { "" }) {
        if let Some(m) = c.get(1)
            && (8..=15).contains(&digit_count(m.as_str()))
        {
            out.push((m.start(), m.end()));
        }
    }
    let nanp_possible = has_digits(text, 10);
    for c in NANP.captures_iter(if nanp_possible { text } else { "" }) {
        if let Some(m) = c.get(1) {
            out.push((m.start(), m.end()));
        }
    }
    // `090-8745-4741`, `0612-345-678`: three dash-separated groups after a trunk zero read as a
    // phone number without a word to say so.
    static DASHED: LazyLock<Regex> = LazyLock::new(|| re(r"^0\d{1,4}-\d{2,4}-\d{3,4}$"));
    let national_possible = has_digits(text, 9) && (PHONE_WORDS.is_match(text) || text.contains('-'));
    for c in NATIONAL.captures_iter(if national_possible { text } else { "" }) {
        if let Some(m) = c.get(1)
            && (9..=12).contains(&digit_count(m.as_str()))
            && (in_context(text, m.start(), &PHONE_WORDS, 40) || DASHED.is_match(m.as_str()))
            && !m.as_str().contains('.')
        {
            out.push((m.start(), m.end()));
        }
    }
    // Chinese mobile numbers, as written in groups after a word that says so (`手机 138 0013 7792`).
    static CHINESE_MOBILE: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?:^|[^\d])(1[3-9]\d[\s-]?\d{4}[\s-]?\d{4})(?:[^\d]|$)"));
    let mobile_possible = has_digits(text, 11) && !text.is_ascii();
    for c in CHINESE_MOBILE.captures_iter(if mobile_possible { text } else { "" }) {
        if let Some(m) = c.get(1)
            && in_context(text, m.start(), &PHONE_WORDS, 40)
        {
            out.push((m.start(), m.end()));
        }
    }
    out.sort_unstable();
    out.dedup_by(|b, a| b.0 < a.1);
}

/// Whether a word matching `context` ends at most `window` bytes before `at`, on its line.
fn in_context(text: &str, at: usize, context: &aho_corasick::AhoCorasick, window: usize) -> bool {
    let mut from = at.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let before = &text[from..at];
    let before = before.rsplit('\n').next().unwrap_or(before);
    context.is_match(before)
}

/// Nine digits, with spaces or none, after `SSN` or `social security`.
fn ssn_in_context(text: &str, out: &mut Vec<(usize, usize)>) {
    static NINE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{3}[ ]?\d{2}[ ]?\d{4})\b"));
    static WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        context_finder(&[
            "ssn",
            "social security",
            "social_security",
            "social-security",
            "soc sec",
            "soc. sec",
            "sozialversicherungs",
            "sécurité sociale",
            "seguridad social",
            "tax id",
            "taxpayer",
        ])
    });
    if !WORDS.is_match(text) {
        return;
    }
    for c in NINE.captures_iter(text) {
        if let Some(m) = c.get(1)
            && in_context(text, m.start(), &WORDS, 64)
        {
            out.push((m.start(), m.end()));
        }
    }
}

/// A table whose header names social security numbers: the fields of that column below it
/// (`applicant_name,social_security_number,state` then `Maria Gonzalez,287459163,TX`).
fn ssn_columns(text: &str, out: &mut Vec<(usize, usize)>) {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return;
    };
    let separator = if header.contains('\t') { '\t' } else { ',' };
    let column = header.split(separator).position(|name| {
        let name = name.trim().trim_matches('"').to_ascii_lowercase();
        name == "ssn" || name.contains("social_security") || name.contains("social security")
    });
    let Some(column) = column else {
        return;
    };
    let base = text.as_ptr() as usize;
    for line in lines {
        let Some(field) = line.split(separator).nth(column) else {
            continue;
        };
        let value = field.trim().trim_matches('"');
        let digits_only: String = value.chars().filter(|c| *c != '-' && *c != ' ').collect();
        if digits_only.len() == 9 && digits_only.bytes().all(|b| b.is_ascii_digit()) {
            // Offsets from the slices' addresses: `lines` and `split` hand out parts of `text`.
            let start = value.as_ptr() as usize - base;
            out.push((start, start + value.len()));
        }
    }
}

/// National identity numbers whose format carries its own check: China's resident identity
/// number (17 digits, a birth date inside, and an ISO 7064 check character) and Spain's DNI
/// and NIE (8 digits, or X/Y/Z and 7, and the letter their remainder by 23 names).
fn national_ids(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if !starts_word {
            i += 1;
            continue;
        }
        let run = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if run == 0 {
            i += 1;
            continue;
        }
        // An ASCII letter or digit starts a character: the slice is on boundaries.
        let word = &text[i..i + run];
        if chinese_resident_id(word) || spanish_dni(word) {
            out.push((i, i + run));
        }
        i += run.max(1);
    }
}

fn chinese_resident_id(word: &str) -> bool {
    let b = word.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = |from: usize, to: usize| word[from..to].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(6, 10), number(10, 12), number(12, 14));
    if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    b[17].to_ascii_uppercase() == check
}

fn spanish_dni(word: &str) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let b = word.as_bytes();
    if b.len() != 9 || !b[8].is_ascii_uppercase() {
        return false;
    }
    // An NIE's X, Y or Z stands for a leading 0, 1 or 2.
    let lead = match b[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        d if d.is_ascii_digit() => u32::from(d - b'0'),
        _ => return false,
    };
    if !b[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = b[1..8].iter().fold(lead, |n, d| n * 10 + u32::from(d - b'0'));
    LETTERS[(n % 23) as usize] == b[8]
}

/// A passport number (letters and digits, 6 to 9) after the word.
fn passport_in_context(text: &str, out: &mut Vec<(usize, usize)>) {
    static PASSPORT: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i:passport|passeport|reisepass|pasaporte|passaporte|passaporto|paspoort|护照|旅券|パスポート)[^\n]{0,30}?\b([A-Z0-9]{6,9})\b",
        )
    });
    static WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        context_finder(&[
            "passport",
            "passeport",
            "reisepass",
            "pasaporte",
            "passaporte",
            "passaporto",
            "paspoort",
            "护照",
            "旅券",
            "パスポート",
        ])
    });
    if !WORDS.is_match(text) {
        return;
    }
    for c in PASSPORT.captures_iter(text) {
        if let Some(m) = c.get(1)
            && m.as_str().bytes().any(|b| b.is_ascii_digit())
            && m.as_str()
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            out.push((m.start(), m.end()));
        }
    }
}

/// A date after `born`, `DOB`, `date of birth` and their translations.
fn birth_date_in_context(text: &str, out: &mut Vec<(usize, usize)>) {
    static BIRTH: LazyLock<Regex> = LazyLock::new(|| {
        re(concat!(
            r"(?i)(born|\bdob\b|d\.o\.b|date of birth|birth ?date|birthday|né le|née le|né en|date de naissance|geboren|geburtsdatum|",
            r"fecha de nacimiento|nacid[oa]|nascid[oa]|data de nascimento|nat[oa] il|data di nascita|geboortedatum|生年月日|出生日期)",
            r"[^\n]{0,24}?(\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}\.?\s+[a-zéû]{3,9}\.?\s+\d{4}|",
            r"[a-z]{3,9}\.?\s+\d{1,2},?\s+\d{4}|\d{4}年\d{1,2}月\d{1,2}日)"
        ))
    });
    static WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        context_finder(&[
            "born",
            "dob",
            "d.o.b",
            "birth",
            "né le",
            "née le",
            "né en",
            "naissance",
            "geboren",
            "geburtsdatum",
            "nacimiento",
            "nacid",
            "nascid",
            "nascimento",
            "nato il",
            "nata il",
            "nascita",
            "geboortedatum",
            "生年月日",
            "出生日期",
        ])
    });
    if !WORDS.is_match(text) {
        return;
    }
    for c in BIRTH.captures_iter(text) {
        if let Some(m) = c.get(2) {
            out.push((m.start(), m.end()));
        }
    }
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
        assert!(detect("social security number for the background check is 287 54 1190").contains(&"ssn"));
        assert!(
            detect("applicant_name,social_security_number,state\nMaria Gonzalez,287459163,TX\n")
                .contains(&"ssn")
        );
        assert!(detect("姓名 陈晓东，身份证号 110105198803143726，请帮忙").contains(&"national_id"));
        assert!(detect("Sergio Palacios Ruiz, DNI 99660677K, Valencia").contains(&"national_id"));
        assert!(detect("NIE X1234567L").contains(&"national_id"));
        assert!(detect("请联系张经理，手机 138 0013 7792。").contains(&"phone_number"));
        assert!(detect("card 4111 1111 1111 1111 exp 12/29").contains(&"card_number"));
        assert!(detect("5500-0000-0000-0004").contains(&"card_number"));
        assert!(detect("378282246310005").contains(&"card_number"));
    }

    #[test]
    fn near_misses_pass() {
        assert!(!detect("110105198803143727").contains(&"national_id"));
        assert!(!detect("DNI 99660677A").contains(&"national_id"));
        assert!(!detect("name,zip\nMaria,287459163").contains(&"ssn"));
        assert!(!detect("000-12-3456").contains(&"ssn"));
        assert!(!detect("4111 1111 1111 1112").contains(&"card_number"));
        assert!(!detect("order 1234567890123").contains(&"card_number"));
        assert!(!detect("call 555-867-5309").contains(&"ssn"));
    }
}
