//! Bounded decoders for the encodings commands and requests hide behind: ANSI-C strings,
//! base64 (and PowerShell's UTF-16 flavour), hex, ROT13 and reversed text. Each returns text
//! only when the result reads like text, so random data is never taken for a command.

use base64::Engine;

/// Decoded texts longer than this are cut: the judge reads what matters at the start.
pub const MAX_DECODED: usize = 16 * 1024;

/// The body of `$'...'` with its escapes applied (`\x72`, `\162`, `\u0072`, `\n`, ...).
pub fn ansi_c(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' || i >= chars.len() {
            out.push(c);
            continue;
        }
        let e = chars[i];
        i += 1;
        let digits = |from: usize, max: usize, radix: u32| -> (u32, usize) {
            let mut value = 0u32;
            let mut n = 0;
            while n < max && from + n < chars.len() && chars[from + n].is_digit(radix) {
                value = value * radix + chars[from + n].to_digit(radix).unwrap_or(0);
                n += 1;
            }
            (value, n)
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' | 'b' | 'e' | 'E' | 'f' | 'v' => {}
            'x' => {
                let (v, n) = digits(i, 2, 16);
                i += n;
                out.extend(char::from_u32(v));
            }
            'u' | 'U' => {
                let (v, n) = digits(i, if e == 'u' { 4 } else { 8 }, 16);
                i += n;
                out.extend(char::from_u32(v));
            }
            '0'..='7' => {
                let (v, n) = digits(i - 1, 3, 8);
                i += n - 1;
                out.extend(char::from_u32(v));
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether a decoded string reads as text: valid UTF-8 made mostly of printable characters
/// and with some letters.
pub fn reads_as_text(text: &str) -> bool {
    if text.trim().len() < 2 {
        return false;
    }
    let total = text.chars().count();
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    printable * 100 >= total * 97 && letters * 4 >= total
}

/// Base64 (standard or URL-safe, padded or not, whitespace ignored) that decodes to text.
pub fn base64_text(encoded: &str) -> Option<String> {
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 4 || compact.len() > MAX_DECODED * 2 {
        return None;
    }
    let bytes = base64_bytes(&compact)?;
    let text = String::from_utf8(bytes).ok()?;
    reads_as_text(&text).then_some(text)
}

fn base64_bytes(compact: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = compact.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .ok()
}

/// PowerShell's `-EncodedCommand`: base64 of UTF-16LE text.
pub fn base64_utf16(encoded: &str) -> Option<String> {
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64_bytes(&compact)?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    let text = String::from_utf16(&units).ok()?;
    reads_as_text(&text).then_some(text)
}

/// Hex digits (optionally `\x`- or space-separated) that decode to text.
pub fn hex_text(encoded: &str) -> Option<String> {
    let digits: String = encoded
        .replace("\\x", "")
        .replace("0x", "")
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if digits.len() < 4 || !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..digits.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect();
    let text = String::from_utf8(bytes).ok()?;
    reads_as_text(&text).then_some(text)
}

/// ROT13 of ASCII letters (its own inverse).
pub fn rot13(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a' + 13) % 26) + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A' + 13) % 26) + b'A') as char,
            _ => c,
        })
        .collect()
}

/// The characters in reverse order.
pub fn reversed(text: &str) -> String {
    text.chars().rev().collect()
}

/// What `tr` does with two sets given as ranges (`'a-zA-Z' 'n-za-mN-ZA-M'`), when the sets are
/// simple enough to expand.
pub fn tr(text: &str, from: &str, to: &str) -> Option<String> {
    let expand = |set: &str| -> Option<Vec<char>> {
        let chars: Vec<char> = set.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if i + 2 < chars.len() && chars[i + 1] == '-' {
                let (a, b) = (chars[i] as u32, chars[i + 2] as u32);
                if b < a || b - a > 256 {
                    return None;
                }
                out.extend((a..=b).filter_map(char::from_u32));
                i += 3;
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
        Some(out)
    };
    let (from, to) = (expand(from)?, expand(to)?);
    if from.is_empty() || to.is_empty() {
        return None;
    }
    Some(
        text.chars()
            .map(|c| match from.iter().position(|f| *f == c) {
                Some(i) => to.get(i).or(to.last()).copied().unwrap_or(c),
                None => c,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_c_escapes() {
        assert_eq!(ansi_c(r"\x72\x6d -rf"), "rm -rf");
        assert_eq!(ansi_c(r"\162\155"), "rm");
        assert_eq!(ansi_c(r"\u0072m\n"), "rm\n");
    }

    #[test]
    fn encodings_decode_only_to_text() {
        assert_eq!(base64_text("cm0gLXJmIC8=").as_deref(), Some("rm -rf /"));
        assert_eq!(base64_text("cm0gLXJmIC8").as_deref(), Some("rm -rf /"));
        assert_eq!(base64_text("AAECAwQFBgcICQ"), None);
        assert_eq!(hex_text("726d202d7266").as_deref(), Some("rm -rf"));
        assert_eq!(hex_text(r"\x72\x6d\x20\x2f").as_deref(), Some("rm /"));
        assert_eq!(rot13("ez -es /"), "rm -rf /");
        assert_eq!(reversed("fr- mr"), "rm -rf");
        assert_eq!(tr("ez -es", "a-zA-Z", "n-za-mN-ZA-M").as_deref(), Some("rm -rf"));
        let utf16: Vec<u8> = "Remove-Item C:\\ -Recurse"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(utf16);
        assert_eq!(
            base64_utf16(&encoded).as_deref(),
            Some("Remove-Item C:\\ -Recurse")
        );
    }
}
