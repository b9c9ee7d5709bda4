//! The matching copy of a text: case-folded, compatibility-normalized (full-width and styled
//! letters), accents, invisible characters removed and look-alike Cyrillic and Greek letters
//! folded to Latin, with every character mapped back to its place in the original.
//!
//! The normalized copy is only ever used for matching; the original is what gets forwarded.

use unicode_normalization::UnicodeNormalization;

/// A normalized copy of a text with a map back to the original's byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    text: String,
    /// For each byte of `text`, the original byte range of the character it came from; empty
    /// when the text was ASCII, where byte offsets are the same in both.
    origin: Vec<(u32, u32)>,
}

impl Normalized {
    /// Normalizes `original` for matching.
    pub fn new(original: &str) -> Normalized {
        mapped(original, true, |c| {
            std::iter::once(c)
                .nfkd()
                .filter(|&d| !is_combining_mark(d) && !is_ignorable(d))
                .flat_map(char::to_lowercase)
                // Lowercasing can itself emit a combining mark (`İ` -> `i̇`).
                .filter(|&f| !is_combining_mark(f))
                .map(|f| confusable(f).unwrap_or(f))
        })
    }

    /// A copy for the detectors: invisible characters removed and compatibility forms
    /// composed (full-width `ｓｋ-` to `sk-`), case and letters kept, so that a key format is
    /// found however it was disguised. Spans map back as for `new`.
    pub fn revealed(original: &str) -> Normalized {
        mapped(original, false, |c| std::iter::once(c).nfkc())
    }

    /// The normalized text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Maps a byte range of the normalized text back to a byte range of the original.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        if self.origin.is_empty() {
            return if start < end && end <= self.text.len() {
                (start, end)
            } else {
                (0, 0)
            };
        }
        if start >= end || end > self.origin.len() {
            return (0, 0);
        }
        (self.origin[start].0 as usize, self.origin[end - 1].1 as usize)
    }
}

/// `original` with invisible characters dropped, ASCII kept (lower-cased when `fold_case`)
/// and every other character replaced by what `expand` makes of it, each output byte mapped
/// back to the character it came from.
fn mapped<I: Iterator<Item = char>>(
    original: &str,
    fold_case: bool,
    expand: impl Fn(char) -> I,
) -> Normalized {
    if original.is_ascii() {
        // The common case costs one pass: nothing to strip, decompose or fold but case.
        let mut text = original.to_string();
        if fold_case {
            text.make_ascii_lowercase();
        }
        return Normalized {
            text,
            origin: Vec::new(),
        };
    }
    let mut text = String::with_capacity(original.len());
    let mut origin = Vec::with_capacity(original.len());
    for (start, c) in original.char_indices() {
        if is_ignorable(c) {
            continue;
        }
        let range = (start as u32, (start + c.len_utf8()) as u32);
        if c.is_ascii() {
            text.push(if fold_case { c.to_ascii_lowercase() } else { c });
            origin.push(range);
            continue;
        }
        for out in expand(c) {
            text.push(out);
            origin.extend(std::iter::repeat_n(range, out.len_utf8()));
        }
    }
    Normalized { text, origin }
}

/// Characters that render as nothing and so can hide inside a word: zero-width spaces and
/// joiners, the soft hyphen, bidi controls, the BOM and variation selectors.
fn is_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Lowercase Cyrillic and Greek letters that render like Latin ones, and the Latin letter
/// they pass for (the subset of Unicode's confusables that spells English words).
fn confusable(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'п' => 'n',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' => 't',
        'ц' | 'υ' => 'u',
        'ѵ' | 'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'ᴢ' => 'z',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ϲ' => 'c',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'μ' => 'u',
        'ο' | 'σ' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        // Latin look-alikes outside ASCII
        'ı' => 'i',
        'ł' => 'l',
        'ø' => 'o',
        'ß' => 's',
        'ƅ' => 'b',
        'ɡ' => 'g',
        _ => return None,
    })
}

/// Combining diacritical marks: dropped so that `délete` matches `delete`.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_width_accents_and_invisibles() {
        let n = Normalized::new("DE\u{200B}LETE ｆｉｌｅ café");
        assert_eq!(n.as_str(), "delete file cafe");
    }

    #[test]
    fn maps_ranges_back_to_the_original() {
        let original = "Please ｗｉｐｅ it";
        let n = Normalized::new(original);
        let at = n.as_str().find("wipe").unwrap_or(usize::MAX);
        let (s, e) = n.original_range(at, at + 4);
        assert_eq!(&original[s..e], "ｗｉｐｅ");
    }

    #[test]
    fn revealing_drops_invisibles_and_width_but_keeps_case() {
        let original = "key ｓｋ-\u{200B}Live\u{200D}X";
        let r = Normalized::revealed(original);
        assert_eq!(r.as_str(), "key sk-LiveX");
        let at = r.as_str().find("sk-LiveX").unwrap_or(usize::MAX);
        let (s, e) = r.original_range(at, at + "sk-LiveX".len());
        assert_eq!(&original[s..e], "ｓｋ-\u{200B}Live\u{200D}X");
    }

    #[test]
    fn folds_cyrillic_and_greek_look_alikes() {
        // Cyrillic е and о, Greek ρ.
        assert_eq!(
            Normalized::new("d\u{0435}l\u{0435}te ρassw\u{043E}rd").as_str(),
            "delete password"
        );
    }

    #[test]
    fn normalizing_twice_equals_normalizing_once() {
        for s in ["Ｓｕｄｏ rm", "e\u{301}t\u{200d}a", "ÅNGSTRÖM ﬁle", "İstanbul"] {
            let once = Normalized::new(s);
            let twice = Normalized::new(once.as_str());
            assert_eq!(once.as_str(), twice.as_str(), "input {s:?}");
        }
    }
}
