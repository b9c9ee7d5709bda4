//! Built-in detectors: what words alone cannot see. Each module lists its patterns; all of them
//! compile into one `RegexSet` run once over the original text, and only the patterns that
//! matched are run again for their spans and checked (Luhn, IBAN checksum, entropy).

mod money;
mod pii;
mod secrets;
mod shell;
mod sql;

use regex::{Regex, RegexSet};

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

/// Every built-in pattern, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Detectors {
    set: RegexSet,
    regexes: Vec<Regex>,
    names: Vec<&'static str>,
    validators: Vec<Option<Validator>>,
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

/// Names a bundle may use in `detectors = [...]` and as `@name` in `near`.
pub(crate) fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all_patterns().iter().map(|p| p.detector).collect();
    names.sort_unstable();
    names.dedup();
    names
}

impl Detectors {
    pub fn compile() -> Result<Detectors, regex::Error> {
        let patterns = all_patterns();
        let sources: Vec<&str> = patterns.iter().map(|p| p.regex).collect();
        Ok(Detectors {
            set: RegexSet::new(&sources)?,
            regexes: sources.iter().map(|s| Regex::new(s)).collect::<Result<_, _>>()?,
            names: patterns.iter().map(|p| p.detector).collect(),
            validators: patterns.iter().map(|p| p.validate).collect(),
        })
    }

    /// Every confirmed hit in `original`, in text order.
    pub fn scan(&self, original: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        for i in self.set.matches(original).iter() {
            for m in self.regexes[i].find_iter(original) {
                if self.validators[i].is_none_or(|ok| ok(m.as_str())) {
                    hits.push(Hit {
                        detector: self.names[i],
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        hits.sort_by_key(|h| (h.start, h.end));
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
