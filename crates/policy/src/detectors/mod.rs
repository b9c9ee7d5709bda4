//! Built-in detectors: what words alone cannot see. Each module lists its patterns; all of them
//! compile into one `RegexSet` run once over the original text, and only the patterns that
//! matched are run again for their spans and checked (Luhn, IBAN checksum, entropy).

mod money;
mod pii;
mod secrets;
mod shell;
mod sql;

use regex::bytes::{Regex, RegexSet};

/// Confirms a regex match, or refuses it (a card number whose Luhn sum is wrong, say).
pub(crate) type Validator = fn(&str) -> bool;

/// One pattern of one detector.
pub(crate) struct Pattern {
    pub detector: &'static str,
    pub regex: &'static str,
    pub validate: Option<Validator>,
}

/// A detector's finding: which detector, and where in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub detector: &'static str,
    pub start: usize,
    pub end: usize,
}

/// A detector that scans by hand what a regex would have to count: long runs of a character
/// class (`[A-Za-z0-9+/]{32,}`, 13 to 19 digits) blow up a lazy DFA's states when every
/// position may start one.
pub(crate) struct Scanner {
    pub detector: &'static str,
    /// Appends the byte ranges of candidates in the text.
    pub scan: fn(&str, &mut Vec<(usize, usize)>),
    pub validate: Option<Validator>,
}

/// Maximal runs of bytes satisfying `member`, at least `min` long.
pub(crate) fn runs(text: &str, member: fn(u8) -> bool, min: usize, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if member(bytes[i]) {
            let start = i;
            while i < bytes.len() && member(bytes[i]) {
                i += 1;
            }
            if i - start >= min {
                out.push((start, i));
            }
        } else {
            i += 1;
        }
    }
}

fn all_scanners() -> Vec<Scanner> {
    let mut all = Vec::new();
    all.extend(pii::scanners());
    all
}

/// Detectors that judge one long token (26 bytes or more of `[A-Za-z0-9+/_-]`): found in one
/// pass, then each judged by every validator that wants such tokens.
fn long_token_detectors() -> Vec<(&'static str, Validator)> {
    let mut all = Vec::new();
    all.extend(money::long_tokens());
    all.extend(secrets::long_tokens());
    all
}

fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-')
}

/// Every built-in pattern, compiled.
#[derive(Clone)]
pub(crate) struct Detectors {
    set: RegexSet,
    regexes: Vec<Regex>,
    names: Vec<&'static str>,
    validators: Vec<Option<Validator>>,
    scanners: std::sync::Arc<Vec<Scanner>>,
    long_tokens: Vec<(&'static str, Validator)>,
}

impl std::fmt::Debug for Detectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detectors")
            .field("patterns", &self.names.len())
            .finish()
    }
}

/// Every detector's patterns.
fn all_patterns() -> Vec<Pattern> {
    let mut all = Vec::new();
    all.extend(shell::patterns());
    all.extend(sql::patterns());
    all.extend(money::patterns());
    all.extend(secrets::patterns());
    all.extend(pii::patterns());
    all
}

/// Detectors whose findings are secrets or personal data: reported by name, never by value.
pub(crate) fn is_sensitive(detector: &str) -> bool {
    !matches!(
        detector,
        "shell_command" | "destructive_sql" | "money_amount" | "swift_bic"
    )
}

/// Names a bundle may use in `detectors = [...]` and as `@name` in `near`.
pub(crate) fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all_patterns()
        .iter()
        .map(|p| p.detector)
        .chain(all_scanners().iter().map(|s| s.detector))
        .chain(long_token_detectors().iter().map(|(name, _)| *name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

impl Detectors {
    pub fn compile() -> Result<Detectors, regex::Error> {
        let patterns = all_patterns();
        // ASCII semantics throughout (`\d`, `\s`, case folding): every format here is ASCII,
        // and ASCII classes keep the DFA small enough to stay fast.
        let sources: Vec<String> = patterns.iter().map(|p| format!("(?-u){}", p.regex)).collect();
        Ok(Detectors {
            set: RegexSet::new(&sources)?,
            regexes: sources.iter().map(|s| Regex::new(s)).collect::<Result<_, _>>()?,
            names: patterns.iter().map(|p| p.detector).collect(),
            validators: patterns.iter().map(|p| p.validate).collect(),
            scanners: std::sync::Arc::new(all_scanners()),
            long_tokens: long_token_detectors(),
        })
    }

    /// Every confirmed hit in `original`, in text order.
    /// `scan` over the revealed copy of `original` (invisible characters dropped, full-width
    /// forms composed), with every finding placed back on `original`: a key with a zero-width
    /// space inside is still a key.
    pub fn scan_revealed(&self, original: &str) -> Vec<Hit> {
        if original.is_ascii() {
            return self.scan(original);
        }
        let revealed = crate::normalize::Normalized::revealed(original);
        if revealed.as_str() == original {
            return self.scan(original);
        }
        let mut hits: Vec<Hit> = self
            .scan(revealed.as_str())
            .into_iter()
            .filter_map(|h| {
                let (start, end) = revealed.original_range(h.start, h.end);
                (start < end).then_some(Hit {
                    detector: h.detector,
                    start,
                    end,
                })
            })
            .collect();
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        hits
    }

    pub fn scan(&self, original: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut candidates = Vec::new();
        runs(original, token_byte, 26, &mut candidates);
        for &(start, end) in &candidates {
            let token = &original[start..end];
            for (detector, validate) in &self.long_tokens {
                if validate(token) {
                    hits.push(Hit { detector, start, end });
                }
            }
        }
        for scanner in self.scanners.iter() {
            candidates.clear();
            (scanner.scan)(original, &mut candidates);
            for &(start, end) in &candidates {
                if scanner.validate.is_none_or(|ok| ok(&original[start..end])) {
                    hits.push(Hit {
                        detector: scanner.detector,
                        start,
                        end,
                    });
                }
            }
        }
        // Most texts hold no finding: one early-exit pass says so, and the overlapping search
        // that names every matching pattern runs only when there is something to name.
        if !self.set.is_match(original.as_bytes()) {
            hits.sort_by_key(|h| (h.start, h.end));
            return hits;
        }
        for i in self.set.matches(original.as_bytes()).iter() {
            for m in self.regexes[i].find_iter(original.as_bytes()) {
                // A byte class may stop inside a multi-byte character: widen to whole ones.
                let (mut start, mut end) = (m.start(), m.end());
                while !original.is_char_boundary(start) {
                    start -= 1;
                }
                while !original.is_char_boundary(end) {
                    end += 1;
                }
                if self.validators[i].is_none_or(|ok| ok(&original[start..end])) {
                    hits.push(Hit {
                        detector: self.names[i],
                        start,
                        end,
                    });
                }
            }
        }
        // The longest finding first where one detector found overlapping spans (a whole key
        // block over its first line).
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        hits.dedup_by(|a, b| a.detector == b.detector && a.start < b.end);
        hits
    }
}

/// Digits of `s`, ignoring spaces and dashes.
pub(crate) fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

#[cfg(test)]
pub(crate) fn detect(text: &str) -> Vec<&'static str> {
    let d = Detectors::compile().unwrap();
    d.scan(text).into_iter().map(|h| h.detector).collect()
}
