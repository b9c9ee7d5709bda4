//! Money: amounts with a currency, IBANs with a valid checksum, SWIFT/BIC codes named as such,
//! and crypto addresses. Amounts alone are not risky; rules pair `@money_amount` with a
//! transfer verb in `near`.

use super::{Pattern, Scanner, Validator};

pub(crate) fn patterns() -> Vec<Pattern> {
    vec![
        Pattern {
            detector: "money_amount",
            regex: r"(?i)((\$|€|£|¥|₹|R\$)\s?\d[\d,.]*(\s?(k|m|bn|million|thousand))?(?-u:\b)|(?-u:\b)(usd|eur|gbp|chf|jpy|cny|rmb|brl|mxn|inr|cad|aud|sek|nok|dkk|pln)\s?\d[\d,.]*(?-u:\b)|(?-u:\b)\d[\d,.]*\s?(k|m|bn|million|thousand|mil|mille|millones|milhões|miljoen)?\s?(usd|eur|gbp|chf|jpy|cny|rmb|brl|mxn|inr|cad|aud|sek|nok|dkk|pln|dollars?|euros?|pounds?|bucks|btc|eth|usdt|yuan|yen|reais|reals?|pesos?|rupees?|francs?)(?-u:\b)|(?-u:\b)\d[\d,.]*\s?(k|m|bn|million|thousand|mil|mille|millones|milhões|miljoen|mio)?\s?(€|£|¥|₹))",
            validate: None,
        },
        Pattern {
            detector: "iban",
            regex: r"(?-u:\b)[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?(?-u:\b)",
            validate: Some(iban_checksum),
        },
        Pattern {
            detector: "swift_bic",
            regex: r"(?i)(swift|bic)(\s+code)?\s*[:#]?\s*[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?(?-u:\b)",
            validate: None,
        },
    ]
}

/// Amounts written before a Chinese or Japanese currency (`56,000 元`, `22万円`): found by hand
/// from the currency back, since a regex alternative that may start at every digit slows the
/// one pass all patterns share.
pub(crate) fn scanners() -> Vec<Scanner> {
    vec![Scanner {
        detector: "money_amount",
        min_digits: 1,
        scan: cjk_amounts,
        validate: None,
    }]
}

fn cjk_amounts(text: &str, out: &mut Vec<(usize, usize)>) {
    if text.is_ascii() {
        return;
    }
    const CURRENCIES: [&str; 7] = ["万円", "美元", "欧元", "英镑", "元", "円", "块"];
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let Some(currency) = CURRENCIES.iter().find(|c| rest.starts_with(**c)) else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        // Back over a multiplier, spaces, then the number.
        let mut start = at;
        let before = &text[..at];
        let trimmed = before.trim_end_matches([' ', '\u{3000}']);
        let trimmed = trimmed
            .strip_suffix(['万', '千', '百'])
            .unwrap_or(trimmed)
            .trim_end_matches([' ', '\u{3000}']);
        let number = trimmed.trim_end_matches(|c: char| c.is_ascii_digit() || c == ',' || c == '.');
        if number.len() < trimmed.len() && trimmed[number.len()..].bytes().any(|b| b.is_ascii_digit()) {
            start = number.len();
        }
        let end = at + currency.len();
        if start < at {
            out.push((start, end));
        }
        at = end;
    }
}

pub(crate) fn long_tokens() -> Vec<(&'static str, Validator)> {
    vec![("crypto_address", crypto_address)]
}

/// Bitcoin (base58 or bech32) and Ethereum addresses.
fn crypto_address(word: &str) -> bool {
    let base58 = |c: char| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l');
    let n = word.len();
    (word.starts_with("bc1")
        && (28..=62).contains(&n)
        && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        || ((word.starts_with('1') || word.starts_with('3'))
            && (26..=35).contains(&n)
            && word.chars().all(base58)
            && word.bytes().any(|b| b.is_ascii_uppercase())
            && word.bytes().any(|b| b.is_ascii_lowercase()))
        || (word.starts_with("0x") && n == 42 && word[2..].bytes().all(|b| b.is_ascii_hexdigit()))
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1.
pub(crate) fn iban_checksum(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut remainder: u64 = 0;
    for c in rearranged {
        let value = match c {
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='Z' => c as u64 - 'A' as u64 + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::iban_checksum;
    use crate::detectors::detect;

    #[test]
    fn iban_checksums() {
        assert!(iban_checksum("GB82WEST12345698765432"));
        assert!(iban_checksum("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_checksum("GB82WEST12345698765433"));
    }

    #[test]
    fn finds_money() {
        assert!(detect("send $40,000 today").contains(&"money_amount"));
        assert!(detect("about 2.5k EUR").contains(&"money_amount"));
        assert!(detect("给华信物流公司转账 56,000 元。").contains(&"money_amount"));
        assert!(detect("コンサル費用22万円の請求書").contains(&"money_amount"));
        assert!(!detect("元旦快乐").contains(&"money_amount"));
        // The symbol after the amount, as most of Europe writes it.
        assert!(detect("Überweise bitte 8.750 € an die Müller GmbH").contains(&"money_amount"));
        assert!(detect("virement de 12 000,50 € demain").contains(&"money_amount"));
        assert!(detect("IBAN GB82 WEST 1234 5698 7654 32 please").contains(&"iban"));
        assert!(detect("SWIFT: DEUTDEFF").contains(&"swift_bic"));
        assert!(detect("to 0x52908400098527886E0F7030069857D2E4169EE7").contains(&"crypto_address"));
        assert!(detect("to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").contains(&"crypto_address"));
    }

    #[test]
    fn near_misses_pass() {
        assert!(!detect("GB82WEST12345698765433").contains(&"iban"));
        assert!(!detect("PASSWORD RESET").contains(&"swift_bic"));
        assert!(!detect("version 3.2 of the doc").contains(&"money_amount"));
    }
}
