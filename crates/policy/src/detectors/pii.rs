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
            detector: "national_id",
            min_digits: 9,
            scan: formatted_national_ids,
            validate: None,
        },
        Scanner {
            detector: "national_id",
            min_digits: 6,
            scan: named_national_ids,
            validate: None,
        },
        Scanner {
            detector: "national_id",
            min_digits: 6,
            scan: national_insurance_numbers,
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
        Scanner {
            detector: "date_of_birth",
            min_digits: 4,
            scan: birth_date_columns,
            validate: None,
        },
        Scanner {
            detector: "passport_number",
            min_digits: 10,
            scan: passport_mrz,
            validate: None,
        },
        Scanner {
            detector: "service_token",
            min_digits: 1,
            scan: super::secrets::azure_client_secrets,
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

/// Calling back, said as a verb (`me rappeler au …`, `ruf mich unter … an`): read only just
/// before a number, not over the whole text as the words above are.
static CALL_BACK_WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    context_finder(&[
        "appel",
        "rappel",
        "joindre",
        "anruf",
        "ruf ",
        "rufen",
        "erreichbar",
        "llam",
        "ligar",
        "liga-me",
        "chiama",
        "richiam",
        "bellen",
        "bel me",
        "拨打",
        "致电",
        "打给",
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
    // `06 82 20 49 76`: France's ten digits in pairs are a phone number wherever they stand.
    static DASHED: LazyLock<Regex> = LazyLock::new(|| re(r"^(0\d{1,4}-\d{2,4}-\d{3,4}|0[1-9]( \d{2}){4})$"));
    let national_possible =
        has_digits(text, 9) && (PHONE_WORDS.is_match(text) || text.contains('-') || text.contains(" 0"));
    for c in NATIONAL.captures_iter(if national_possible { text } else { "" }) {
        if let Some(m) = c.get(1)
            && (9..=12).contains(&digit_count(m.as_str()))
            && (in_context(text, m.start(), &PHONE_WORDS, 40)
                || in_context(text, m.start(), &CALL_BACK_WORDS, 40)
                || DASHED.is_match(m.as_str()))
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
            && (in_context(text, m.start(), &PHONE_WORDS, 40)
                || in_context(text, m.start(), &CALL_BACK_WORDS, 40))
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

/// SSNs in a table whose header names the column (`ssn`, `social_security_number`).
fn ssn_columns(text: &str, out: &mut Vec<(usize, usize)>) {
    static HEADER_WORDS: LazyLock<aho_corasick::AhoCorasick> =
        LazyLock::new(|| context_finder(&["ssn", "social"]));
    if !HEADER_WORDS.is_match(text) {
        return;
    }
    columns_named(
        text,
        |name| name == "ssn" || name.contains("social_security") || name.contains("social security"),
        |value| {
            let digits = value
                .bytes()
                .filter(|b| !matches!(b, b'-' | b' '))
                .collect::<Vec<u8>>();
            digits.len() == 9 && digits.iter().all(u8::is_ascii_digit)
        },
        out,
    );
}

/// Dates of birth in a table whose header names the column (`dob`, `date_of_birth`,
/// `Geburtsdatum`, `生年月日`): the rows are people, so a date there is a birth date.
fn birth_date_columns(text: &str, out: &mut Vec<(usize, usize)>) {
    static HEADER_WORDS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        context_finder(&[
            "dob",
            "birth",
            "geburt",
            "geboorte",
            "naissance",
            "nacimiento",
            "nascimento",
            "nascita",
            "生年月日",
            "出生",
        ])
    });
    if !HEADER_WORDS.is_match(text) {
        return;
    }
    columns_named(
        text,
        |name| {
            let squeezed: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
            matches!(
                squeezed.as_str(),
                "dob"
                    | "dateofbirth"
                    | "birthdate"
                    | "birthday"
                    | "geburtsdatum"
                    | "geboortedatum"
                    | "datedenaissance"
                    | "datenaissance"
                    | "fechadenacimiento"
                    | "fechanacimiento"
                    | "datadenascimento"
                    | "datanascimento"
                    | "datadinascita"
                    | "datanascita"
                    | "生年月日"
                    | "出生日期"
                    | "出生年月日"
            )
        },
        looks_like_date,
        out,
    );
}

/// A calendar date written with digits: `1947-11-03`, `03/11/1947`, `3.11.1947`.
fn looks_like_date(value: &str) -> bool {
    let parts: Vec<&str> = value.split(['-', '/', '.']).collect();
    let [a, b, c] = parts[..] else {
        return false;
    };
    // `parse` alone would take a sign: digits only, at most four.
    let number =
        |p: &str| (p.len() <= 4 && p.bytes().all(|d| d.is_ascii_digit())).then(|| p.parse::<u32>().ok())?;
    let (Some(x), Some(y), Some(z)) = (number(a), number(b), number(c)) else {
        return false;
    };
    let plausible_year = |year: u32, digits: usize| digits == 2 || (1880..=2100).contains(&year);
    let day_and_month = |p: u32, q: u32| {
        (1..=31).contains(&p) && (1..=12).contains(&q) || (1..=12).contains(&p) && (1..=31).contains(&q)
    };
    if a.len() == 4 {
        plausible_year(x, 4) && (1..=12).contains(&y) && (1..=31).contains(&z)
    } else {
        (c.len() == 4 || c.len() == 2) && plausible_year(z, c.len()) && day_and_month(x, y)
    }
}

/// Calls `value_ok` on each field of a CSV or TSV table under a header column that `is_name`
/// accepts, and reports the fields it accepts. The header may follow a line of prose; rows
/// end at the first line without the separator.
fn columns_named(
    text: &str,
    is_name: impl Fn(&str) -> bool,
    value_ok: impl Fn(&str) -> bool,
    out: &mut Vec<(usize, usize)>,
) {
    let base = text.as_ptr() as usize;
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let separator = if header.contains('\t') { '\t' } else { ',' };
        if !header.contains(separator) {
            continue;
        }
        let column = header
            .split(separator)
            .position(|name| is_name(&name.trim().trim_matches('"').to_lowercase()));
        let Some(column) = column else {
            continue;
        };
        for line in lines.by_ref() {
            if !line.contains(separator) {
                break;
            }
            let Some(field) = line.split(separator).nth(column) else {
                continue;
            };
            let value = field.trim().trim_matches('"');
            if value_ok(value) {
                // Offsets from the slices' addresses: `lines` and `split` hand out parts of `text`.
                let start = value.as_ptr() as usize - base;
                out.push((start, start + value.len()));
            }
        }
        return;
    }
}

/// National identity numbers whose format carries its own check: China's resident identity
/// number (17 digits, a birth date inside, and an ISO 7064 check character), Spain's DNI
/// and NIE (8 digits, or X/Y/Z and 7, and the letter their remainder by 23 names) and Italy's
/// codice fiscale (16 letters and digits, the last a check letter).
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
        if chinese_resident_id(word) || spanish_dni(word) || codice_fiscale(word) {
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

/// Italy's codice fiscale: surname and name letters, birth year, month letter, day (plus 40
/// for women), place code and a check letter over the fifteen before it. Digits may be
/// replaced by letters (`omocodia`) when two people would share a code.
fn codice_fiscale(word: &str) -> bool {
    const ODD: [u8; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
    ];
    const MONTHS: &[u8] = b"ABCDEHLMPRST";
    const OMOCODIA: &[u8] = b"LMNPQRSTUV";
    let b = word.as_bytes();
    if b.len() != 16 || !b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return false;
    }
    let letter = |i: usize| b[i].is_ascii_uppercase();
    let digit_like = |i: usize| b[i].is_ascii_digit() || OMOCODIA.contains(&b[i]);
    let shape = (0..6).all(letter)
        && [6, 7, 9, 10, 12, 13, 14].into_iter().all(digit_like)
        && MONTHS.contains(&b[8])
        && letter(11)
        && letter(15)
        // A real code has digits: a word of capitals alone is an acronym or a shout.
        && b.iter().filter(|c| c.is_ascii_digit()).count() >= 3;
    if !shape {
        return false;
    }
    let value = |c: u8| usize::from(if c.is_ascii_digit() { c - b'0' } else { c - b'A' });
    let sum: usize = b[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i % 2 == 0 {
                usize::from(ODD[value(c)])
            } else {
                value(c)
            }
        })
        .sum();
    b[15] == b'A' + (sum % 26) as u8
}

/// The UK's National Insurance number (`JT 86 39 30 B`: two letters, six digits, a suffix A to
/// D; some letter pairs are never issued), after a word that names it: its shape alone is a
/// product code as often.
fn national_insurance_numbers(text: &str, out: &mut Vec<(usize, usize)>) {
    static NINO: LazyLock<Regex> =
        LazyLock::new(|| re(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"));
    static WORDS: LazyLock<aho_corasick::AhoCorasick> =
        LazyLock::new(|| context_finder(&["national insurance", "ni number", "ni no", "nino", "nat ins"]));
    if !WORDS.is_match(text) {
        return;
    }
    for m in NINO.find_iter(text) {
        if in_context(text, m.start(), &WORDS, 64) {
            out.push((m.start(), m.end()));
        }
    }
}

/// National numbers written in their own layout, which with their check leaves no doubt:
/// Brazil's CPF (`123.456.789-09`, two check digits) and France's NIR (`2 51 03 14 775 412 84`:
/// sex, year, month, place, order and a key of 97 minus the number modulo 97).
fn formatted_national_ids(text: &str, out: &mut Vec<(usize, usize)>) {
    static CPF: LazyLock<Regex> = LazyLock::new(|| re(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b"));
    static NIR: LazyLock<Regex> = LazyLock::new(|| {
        re(r"\b[1278] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b")
    });
    for m in CPF.find_iter(text) {
        if brazilian_cpf(&digits(m.as_str())) {
            out.push((m.start(), m.end()));
        }
    }
    for m in NIR.find_iter(text) {
        if french_nir(m.as_str()) {
            out.push((m.start(), m.end()));
        }
    }
}

fn brazilian_cpf(d: &[u32]) -> bool {
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: usize = d[..n]
            .iter()
            .enumerate()
            .map(|(i, &x)| x as usize * (n + 1 - i))
            .sum();
        (sum * 10 % 11 % 10) as u32
    };
    check(9) == d[9] && check(10) == d[10]
}

fn french_nir(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 15 {
        return false;
    }
    // Corsica's departments 2A and 2B count as 19 and 18.
    let number = compact[..13].replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(key)) = (number.parse::<u64>(), compact[13..].parse::<u64>()) else {
        return false;
    };
    (1..=97).contains(&key) && 97 - n % 97 == key
}

/// A national number that only its name makes one, and the check it must pass.
struct NamedId {
    /// The words that name it, matched case-insensitively; acronyms of four letters or fewer
    /// must be written in capitals.
    names: &'static [&'static str],
    /// How many digits it has.
    digits: std::ops::RangeInclusive<usize>,
    check: fn(&[u32]) -> bool,
}

/// National numbers too short or plain to be told from other numbers by their check alone:
/// a word before them names them.
const NAMED_IDS: &[NamedId] = &[
    // The Netherlands' burgerservicenummer: the eleven test.
    NamedId {
        names: &[
            "bsn",
            "burgerservicenummer",
            "burgerservice nummer",
            "sofinummer",
            "sofi-nummer",
        ],
        digits: 8..=9,
        check: dutch_bsn,
    },
    NamedId {
        names: &["cpf"],
        digits: 11..=11,
        check: brazilian_cpf,
    },
    // Switzerland's AHV/AVS number: 756, then ten digits, the last an EAN-13 check digit.
    NamedId {
        names: &[
            "ahv",
            "ahv-nr",
            "ahv-nummer",
            "avs",
            "no avs",
            "numéro avs",
            "sozialversicherungsnummer",
        ],
        digits: 13..=13,
        check: swiss_ahv,
    },
    // Japan's My Number: twelve digits, the last a check digit.
    NamedId {
        names: &["マイナンバー", "個人番号", "my number", "mynumber"],
        digits: 12..=12,
        check: japanese_my_number,
    },
    // Germany's tax identification number: eleven digits, ISO 7064 MOD 11,10.
    NamedId {
        names: &[
            "steuer-id",
            "steuerid",
            "steuer-identifikationsnummer",
            "steueridentifikationsnummer",
            "identifikationsnummer",
            "steuer-idnr",
            "idnr",
        ],
        digits: 11..=11,
        check: german_tax_id,
    },
    // Portugal's NIF and Spain's NIF of a person are checked elsewhere (the DNI); Portugal's
    // nine digits end in a check digit modulo 11.
    NamedId {
        names: &[
            "nif",
            "número de contribuinte",
            "numero de contribuinte",
            "contribuinte",
        ],
        digits: 9..=9,
        check: portuguese_nif,
    },
    // Canada's social insurance number: nine digits, Luhn.
    NamedId {
        names: &["sin", "social insurance", "numéro d'assurance sociale"],
        digits: 9..=9,
        check: luhn,
    },
    // Numbers any country's identity document carries, named as such.
    NamedId {
        names: &[
            "national id",
            "national identity",
            "identity number",
            "id card number",
            "identity card",
            "numéro d'identité",
            "carte d'identité",
            "carte nationale d'identité",
            "personalausweis",
            "ausweisnummer",
            "documento de identidad",
            "número de identidad",
            "cédula",
            "cedula",
            "bilhete de identidade",
            "cartão de cidadão",
            "carta d'identità",
            "carta di identità",
            "identiteitskaart",
            "identiteitsbewijs",
            "身份证",
            "身分証",
            "住民票コード",
        ],
        digits: 6..=20,
        check: |_| true,
    },
];

fn dutch_bsn(d: &[u32]) -> bool {
    // Eight digits are nine with a leading zero, which weighs nothing.
    let (body, check) = d.split_at(d.len() - 1);
    let sum: u32 = body.iter().rev().zip(2..).map(|(&x, w)| x * w).sum();
    d.iter().any(|&x| x != 0) && sum % 11 == check[0] % 11
}

fn japanese_my_number(d: &[u32]) -> bool {
    // Weights from the right, the check digit aside: 2..=7, then 2..=6.
    let sum: u32 = (1..=11)
        .map(|n| d[11 - n] * if n <= 6 { n as u32 + 1 } else { n as u32 - 5 })
        .sum();
    let remainder = sum % 11;
    let check = if remainder <= 1 { 0 } else { 11 - remainder };
    d[11] == check
}

fn german_tax_id(d: &[u32]) -> bool {
    if d[0] == 0 {
        return false;
    }
    let mut product = 10u32;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = 2 * sum % 11;
    }
    let check = (11 - product) % 10;
    d[10] == check
}

fn portuguese_nif(d: &[u32]) -> bool {
    let sum: u32 = d[..8].iter().zip((2..=9).rev()).map(|(&x, w)| x * w).sum();
    let remainder = sum % 11;
    let check = if remainder < 2 { 0 } else { 11 - remainder };
    d[8] == check
}

fn swiss_ahv(digits: &[u32]) -> bool {
    if digits.len() != 13 || digits[..3] != [7, 5, 6] {
        return false;
    }
    let sum: u32 = digits[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    (10 - sum % 10) % 10 == digits[12]
}

/// Numbers named as national identity numbers (`BSN 569244377`, `CPF 94546668945`,
/// `マイナンバー：1234 5678 9012`) that pass their country's check: the first group of digits on
/// the same line within 40 bytes after the name.
fn named_national_ids(text: &str, out: &mut Vec<(usize, usize)>) {
    static NAMES: LazyLock<(aho_corasick::AhoCorasick, Vec<usize>)> = LazyLock::new(|| {
        let mut words = Vec::new();
        let mut owners = Vec::new();
        for (i, id) in NAMED_IDS.iter().enumerate() {
            for name in id.names {
                words.push(*name);
                owners.push(i);
            }
        }
        (context_finder(&words), owners)
    });
    let (finder, owners) = &*NAMES;
    let bytes = text.as_bytes();
    for m in finder.find_iter(text) {
        let named = &text[m.start()..m.end()];
        let bounded = (m.start() == 0 || !bytes[m.start() - 1].is_ascii_alphanumeric())
            && (m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphanumeric());
        let acronym_in_capitals =
            named.len() > 4 || !named.is_ascii() || named.bytes().all(|b| b.is_ascii_uppercase());
        if !bounded || !acronym_in_capitals {
            continue;
        }
        let id = &NAMED_IDS[owners[m.pattern().as_usize()]];
        let line_end = memchr::memchr(b'\n', &bytes[m.end()..]).map_or(bytes.len(), |i| m.end() + i);
        // The number may come a few words on (`Identifikationsnummer. … lautet sie 166…`): each
        // group of digits in reach is tried, and the country's check keeps chance numbers out.
        let window_end = line_end.min(m.end() + 80);
        let mut from = m.end();
        while let Some(start) = (from..window_end).find(|&i| bytes[i].is_ascii_digit()) {
            // Digits in groups: a single space, dot or dash between two digits joins them.
            let mut end = start;
            while end < bytes.len()
                && (bytes[end].is_ascii_digit()
                    || (matches!(bytes[end], b' ' | b'.' | b'-')
                        && end + 1 < bytes.len()
                        && bytes[end + 1].is_ascii_digit()
                        && end > start))
            {
                end += 1;
            }
            from = end;
            if end < bytes.len() && bytes[end].is_ascii_alphabetic()
                || start > 0 && bytes[start - 1].is_ascii_alphabetic()
            {
                continue;
            }
            let digits = digits(&text[start..end]);
            if id.digits.contains(&digits.len()) && (id.check)(&digits) {
                out.push((start, end));
                break;
            }
        }
    }
}

/// A passport's machine-readable zone (ICAO 9303, two lines of 44): `P<GBR…` then the line
/// that opens with the document number and its check digit, which must hold.
fn passport_mrz(text: &str, out: &mut Vec<(usize, usize)>) {
    // The zone's first line holds `P<` (or a country filler `<`): one SIMD search says whether
    // any line could open one.
    if memchr::memmem::find(text.as_bytes(), b"<<").is_none() {
        return;
    }
    let base = text.as_ptr() as usize;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let first = line.trim();
        let opens_mrz = first.len() == 44
            && first.starts_with('P')
            && first.bytes().all(|b| b.is_ascii_uppercase() || b == b'<');
        if !opens_mrz {
            continue;
        }
        let Some(second) = lines.peek().map(|l| l.trim()) else {
            return;
        };
        let b = second.as_bytes();
        if b.len() != 44
            || !b
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'<')
        {
            continue;
        }
        let value = |c: u8| match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => 0,
        };
        let check: u32 = b[..9]
            .iter()
            .zip([7, 3, 1].iter().cycle())
            .map(|(&c, w)| value(c) * w)
            .sum();
        if b[9].is_ascii_digit() && check % 10 == u32::from(b[9] - b'0') {
            let start = second.as_ptr() as usize - base;
            out.push((start, start + 9));
        }
    }
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
            r"(?i)(born|\bdob\b|d\.o\.b|date[ _]of[ _]birth|birth[ _]?date|birthday|né le|née le|né en|date de naissance|geboren|(?-u:\b)geb\.|geburtsdatum|",
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
            "geb.",
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
            "生まれ",
            "出生",
            "生于",
            "日生",
        ])
    });
    // Chinese and Japanese may say it after the date: `1975年4月3日生まれ`, `1988年2月9日出生`.
    static BORN_AFTER: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(\d{4}年\d{1,2}月\d{1,2}日)\s?(生まれ|出生|生)|生于\s?(\d{4}年\d{1,2}月\d{1,2}日)")
    });
    if !WORDS.is_match(text) {
        return;
    }
    for c in BIRTH.captures_iter(text) {
        if let Some(m) = c.get(2) {
            out.push((m.start(), m.end()));
        }
    }
    if text.contains('年') {
        for c in BORN_AFTER.captures_iter(text) {
            if let Some(m) = c.get(1).or_else(|| c.get(3)) {
                out.push((m.start(), m.end()));
            }
        }
    }
}

/// Runs of digits with single spaces or dashes between them, standing alone as a word: not the
/// tail of a hyphenated identifier (`build-e2e-21352-58932575`, `ord_4111...`), which is a name
/// that happens to end in digits.
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
        let joined_to_a_name =
            start >= 2 && matches!(b[start - 1], b'-' | b'_' | b'.') && b[start - 2].is_ascii_alphanumeric();
        let count = b[start..end].iter().filter(|c| c.is_ascii_digit()).count();
        if (13..=19).contains(&count)
            && !joined_to_a_name
            && (end == b.len() || !b[end].is_ascii_alphanumeric())
        {
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

/// A number a card network issues: a length that network uses for that prefix, grouped as cards
/// are printed (or not grouped at all), and a valid Luhn checksum. A tenth of all random digit
/// runs pass Luhn alone, so the prefix, length and grouping are what keep order numbers, build
/// ids and timestamps out.
fn plausible_card(s: &str) -> bool {
    let d = digits(s);
    network_length(&d) && printed_grouping(s) && luhn(&d)
}

/// Whether the issuer identification number at the front allows this many digits.
fn network_length(d: &[u32]) -> bool {
    let n = d.len();
    let prefix = |k: usize| d.iter().take(k).fold(0u32, |acc, &x| acc * 10 + x);
    let (p2, p3, p4) = (prefix(2), prefix(3), prefix(4));
    match d.first() {
        // Visa.
        Some(4) => matches!(n, 13 | 16 | 19),
        // Mastercard's 2-series, and Mir.
        Some(2) => {
            ((2221..=2720).contains(&p4) && n == 16)
                || ((2200..=2204).contains(&p4) && (16..=19).contains(&n))
        }
        // American Express; Diners Club; JCB.
        Some(3) => {
            (matches!(p2, 34 | 37) && n == 15)
                || (((300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39))
                    && (14..=19).contains(&n))
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
        }
        // Mastercard; Maestro.
        Some(5) => {
            ((51..=55).contains(&p2) && n == 16) || (matches!(p2, 50 | 56..=58) && (13..=19).contains(&n))
        }
        // Discover, UnionPay, RuPay, Maestro.
        Some(6) => (16..=19).contains(&n) || (matches!(p2, 63 | 67) && (13..=19).contains(&n)),
        _ => false,
    }
}

/// Digits written as a card prints them: in one run, or in groups of four with a shorter last
/// group (`4111 1111 1111 1111`, `4222 2222 2222 2`), or American Express's and Diners Club's
/// 4-6-5 and 4-6-4, with one kind of separator throughout.
fn printed_grouping(s: &str) -> bool {
    let separators = s.bytes().filter(|c| !c.is_ascii_digit());
    let mut kinds = separators.clone();
    let Some(first) = kinds.next() else {
        return true;
    };
    if kinds.any(|c| c != first) {
        return false;
    }
    let groups: Vec<usize> = s.split(first as char).map(str::len).collect();
    let (last, rest) = match groups.split_last() {
        Some(split) => split,
        None => return false,
    };
    let fours = rest.iter().all(|&g| g == 4) && (1..=4).contains(last);
    fours || matches!(groups.as_slice(), [4, 6, 5] | [4, 6, 4])
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
        assert!(detect("codice fiscale RSSMRA85T10A562S, residente a Roma").contains(&"national_id"));
        assert!(detect("Numéro de sécurité sociale : 2 89 02 75 773 800 14").contains(&"national_id"));
        assert!(detect("CPF 945.466.689-45").contains(&"national_id"));
        assert!(detect("Nieuwe medewerker, BSN 569244377, start maandag").contains(&"national_id"));
        assert!(detect("Burgerservicenummer: 967797184").contains(&"national_id"));
        // Numbers their name makes national ids, each with its check: documented examples.
        assert!(detect("BSN 12345672 (acht cijfers)").contains(&"national_id"));
        assert!(detect("CPF 94546668945").contains(&"national_id"));
        assert!(detect("マイナンバー：1234 5678 9018").contains(&"national_id"));
        assert!(detect("Steuer-ID 86095742719").contains(&"national_id"));
        assert!(detect("AHV-Nummer: 756.1962.1495.18").contains(&"national_id"));
        let mrz =
            "P<GBRHARGREAVES<<EMILY<ROSE<<<<<<<<<<<<<<<<<\n4741887182GBR9004182F3202115<<<<<<<<<<<<<<02";
        assert!(detect(mrz).contains(&"passport_number"));
        assert!(!detect(&mrz.replace("4741887182", "4741887183")).contains(&"passport_number"));
        assert!(!detect("AHV-Nummer: 756.1962.1495.17").contains(&"national_id"));
        assert!(
            detect(
                "Ihre steuerliche Identifikationsnummer. Laut Ihrem Schreiben lautet sie 16682945363 – bitte"
            )
            .contains(&"national_id")
        );
        assert!(detect("NIF 123456789").contains(&"national_id"));
        assert!(detect("SIN 046 454 286").contains(&"national_id"));
        assert!(detect("National Insurance No: JT 86 39 30 B").contains(&"national_id"));
        assert!(detect("numéro de carte d'identité : 880692310285").contains(&"national_id"));
        assert!(detect("employee=Anna Keller; date_of_birth=1987-03-14").contains(&"date_of_birth"));
        assert!(detect("Bewerberin: Katrin Vogt, geb. 03.09.1990 in Kassel").contains(&"date_of_birth"));
        assert!(
            detect("patient_name,dob,ward\nMargaret Ellis,1947-11-03,Cardiology 2")
                .contains(&"date_of_birth")
        );
        assert!(
            detect("Export below.\nname\tGeburtsdatum\nJonas Weber\t03.09.1990").contains(&"date_of_birth")
        );
        assert!(!detect("release,date\nv2.1,2024-03-01").contains(&"date_of_birth"));
        assert!(detect("患者の山本健一さん（1975年4月3日生まれ）の検査結果").contains(&"date_of_birth"));
        assert!(detect("员工李明，1988年2月9日出生，入职三年").contains(&"date_of_birth"));
        assert!(!detect("会议定于2025年3月1日举行").contains(&"date_of_birth"));
        assert!(detect("请联系张经理，手机 138 0013 7792。").contains(&"phone_number"));
        assert!(detect("Pouvez-vous me rappeler au 06 82 20 49 76 pour le taxi ?").contains(&"phone_number"));
        assert!(detect("Ruf mich bitte unter 0171 2345678 an.").contains(&"phone_number"));
        assert!(!detect("Chapitres 01 02 03 et 04 du rapport").contains(&"phone_number"));
        assert!(detect("card 4111 1111 1111 1111 exp 12/29").contains(&"card_number"));
        assert!(detect("5500-0000-0000-0004").contains(&"card_number"));
        assert!(detect("378282246310005").contains(&"card_number"));
    }

    #[test]
    fn near_misses_pass() {
        assert!(!detect("110105198803143727").contains(&"national_id"));
        assert!(!detect("DNI 99660677A").contains(&"national_id"));
        // Checks that fail, and numbers nothing names.
        assert!(!detect("codice fiscale RSSMRA85T10A562T").contains(&"national_id"));
        assert!(!detect("Numéro de sécurité sociale : 2 89 02 75 773 800 15").contains(&"national_id"));
        assert!(!detect("BSN 569244378").contains(&"national_id"));
        assert!(!detect("order 569244377 shipped").contains(&"national_id"));
        assert!(!detect("sin 569244377").contains(&"national_id"));
        assert!(!detect("マイナンバー：1234 5678 9017").contains(&"national_id"));
        assert!(!detect("Steuer-ID 86095742718").contains(&"national_id"));
        assert!(!detect("NIF 123456788").contains(&"national_id"));
        assert!(!detect("SIN 046 454 287").contains(&"national_id"));
        // A NINO's shape without its name, and a never-issued prefix.
        assert!(!detect("part number JT863930B in stock").contains(&"national_id"));
        assert!(!detect("NI number: QQ 12 34 56 C").contains(&"national_id"));
        assert!(!detect("CPF 94546668946").contains(&"national_id"));
        assert!(!detect("name,zip\nMaria,287459163").contains(&"ssn"));
        assert!(!detect("000-12-3456").contains(&"ssn"));
        assert!(!detect("4111 1111 1111 1112").contains(&"card_number"));
        assert!(!detect("order 1234567890123").contains(&"card_number"));
        // Luhn passes a tenth of random runs: the network's lengths, the printed grouping and a
        // run that is not the tail of an identifier keep ids out.
        assert!(!detect("sentinel-warden-e2e-21352-58932575").contains(&"card_number"));
        assert!(!detect("ticket 21352-58932575 closed").contains(&"card_number"));
        assert!(!detect("ref 9111111111111111").contains(&"card_number"));
        assert!(detect("Amex 3782 822463 10005 on file").contains(&"card_number"));
        assert!(detect("Visa 4222 2222 2222 2 (old 13-digit)").contains(&"card_number"));
        assert!(detect("Discover 6011-1111-1111-1117").contains(&"card_number"));
        assert!(!detect("call 555-867-5309").contains(&"ssn"));
    }
}
