//! Built-in detectors: what words alone cannot see. Each module lists its patterns; all of them
//! compile into one `RegexSet` run once over the original text, and only the patterns that
//! matched are run again for their spans and checked (Luhn, IBAN checksum, entropy).

mod money;
mod names;
mod paths;
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
    /// The fewest ASCII digits a text needs for this scanner to find anything.
    pub min_digits: usize,
    /// Appends the byte ranges of candidates in the text.
    pub scan: fn(&str, &mut Vec<(usize, usize)>),
    pub validate: Option<Validator>,
}

/// Maximal runs of bytes satisfying `member`, at least `min` long.
pub(crate) fn runs(text: &str, member: fn(u8) -> bool, min: usize, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let min = min.max(1);
    // A run of `min` bytes that starts at `i` or later covers the byte at `i + min - 1`: where
    // that byte is no member, the whole stretch up to it is skipped unread. Prose, whose words
    // are short, is read about one byte in four. Holds: `i` is 0 or follows a non-member.
    let mut i = 0;
    while i + min <= bytes.len() {
        let probe = i + min - 1;
        if !member(bytes[probe]) {
            i = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > i && member(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = probe + 1;
        while end < bytes.len() && member(bytes[end]) {
            end += 1;
        }
        if end - start >= min {
            out.push((start, end));
        }
        i = end + 1;
    }
}

/// The ASCII digits in `bytes`, counted in blocks whose count fits a byte, which the compiler
/// turns into vector adds (a plain filtered count compiles to a byte-at-a-time loop).
fn count_digits(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|block| {
            block
                .iter()
                .fold(0u8, |n, &b| n + u8::from(b.wrapping_sub(b'0') < 10)) as usize
        })
        .sum()
}

fn all_scanners() -> Vec<Scanner> {
    let mut all = Vec::new();
    all.extend(pii::scanners());
    all.extend(money::scanners());
    all.extend(shell::scanners());
    all
}

/// Appends the byte ranges of what a detector finds in a text.
pub(crate) type RangeScan = fn(&str, &mut Vec<(usize, usize)>);

/// Detectors that say something about a text's words rather than find data in it: whose
/// record (`person_name`), which file (`sensitive_path`). The engine runs them only where a rule
/// can use what they find: always for a rule that lists them in `detectors`, and for a near
/// clause only when a word of its other side occurs in the text.
pub(crate) const CONTEXTUAL: &[(&str, RangeScan)] = &[
    ("person_name", names::person_names),
    ("sensitive_path", paths::sensitive_paths),
];

/// The findings of the contextual detector `detector` in `text`.
pub(crate) fn scan_contextual(detector: &'static str, text: &str) -> Vec<Hit> {
    let mut ranges = Vec::new();
    if let Some((_, scan)) = CONTEXTUAL.iter().find(|(name, _)| *name == detector) {
        scan(text, &mut ranges);
    }
    ranges
        .into_iter()
        .map(|(start, end)| Hit { detector, start, end })
        .collect()
}

/// Detectors that judge one long token (26 bytes or more of `[A-Za-z0-9+/_-]`): found in one
/// pass, then each judged by every validator that wants such tokens.
fn long_token_detectors() -> Vec<(&'static str, Validator)> {
    let mut all = Vec::new();
    all.extend(money::long_tokens());
    all.extend(secrets::long_tokens());
    all
}

/// A byte of a long token: base64, base64url, and the `~` of Azure's client secrets
/// (`2MN8Q~j5CY...`).
fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-' | b'~')
}

/// Every built-in pattern, compiled.
#[derive(Clone)]
pub(crate) struct Detectors {
    /// Report placeholders and documented example keys as secrets (`[dlp]
    /// report_placeholders`); by default they are not.
    pub report_placeholders: bool,
    /// Values never reported (`[dlp] allow`).
    pub allow: Vec<String>,
    set: RegexSet,
    regexes: Vec<Regex>,
    names: Vec<&'static str>,
    validators: Vec<Option<Validator>>,
    scanners: std::sync::Arc<Vec<Scanner>>,
    long_tokens: Vec<(&'static str, Validator)>,
    /// Patterns run only where one of their words occurs, found by `gate` in one pass
    /// (`gate_owner`: which pattern each word opens).
    gated: Vec<(Regex, &'static str, Option<Validator>)>,
    /// The gated patterns tried at the names in front of separators.
    at_separators: Vec<usize>,
    /// Gated patterns tried at a separator whose name (and what follows) passes their test.
    at_named_separators: Vec<(usize, secrets::NameTest)>,
    /// The gated patterns tried where an element that `</` closes opens.
    at_elements: Vec<usize>,
    gate: Regex,
    gate_owner: std::collections::HashMap<&'static [u8], Vec<usize>>,
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
        "shell_command" | "destructive_sql" | "money_amount" | "swift_bic" | "person_name" | "sensitive_path"
    )
}

/// Personal data that identifies a way to reach someone rather than who they are: ordinary in
/// a tool's arguments (a commit's author, a message's recipient), so not judged there.
pub(crate) fn is_contact(detector: &str) -> bool {
    matches!(detector, "email" | "phone_number")
}

/// Detectors of secrets written as tokens: a value that only stands for one (`xxxx`,
/// `your-api-key`, a vendor's documented `...EXAMPLE...` key) is not reported.
fn is_token_secret(detector: &str) -> bool {
    matches!(
        detector,
        "aws_access_key"
            | "jwt"
            | "github_token"
            | "slack_token"
            | "stripe_key"
            | "google_api_key"
            | "openai_key"
            | "warden_key"
            | "service_token"
            | "credential_assignment"
            | "high_entropy_token"
    )
}

/// A long token that is something other than a secret by its structure: a hash or integrity
/// string, an SSH public key, the body of a certificate or public key, a `data:` URI, base64
/// of prose, a path.
fn is_structured_non_secret(text: &str, start: usize, end: usize) -> bool {
    let token = &text[start..end];
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let mut from = start.saturating_sub(80).max(line_start);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = text[from..start].to_ascii_lowercase();
    let lower = token.to_ascii_lowercase();
    let prefixes = [
        "sha1-", "sha256-", "sha384-", "sha512-", "sha256:", "sha512:", "md5-", "blake2", "h1:",
    ];
    if prefixes.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    let markers = [
        "ssh-rsa ",
        "ssh-ed25519 ",
        "ssh-dss ",
        "ecdsa-sha2-",
        "sk-ssh-",
        "sk-ecdsa-",
        ";base64,",
        "sha256:",
        "sha512:",
        "sha1-",
        "sha256-",
        "sha384-",
        "sha512-",
        "integrity",
        "checksum",
        "digest",
        "fingerprint",
        "@sha256",
        "hash",
        " h1:",
        "/go.mod h1:",
    ];
    // A JSON Web Key's public parameters (`"x"`, `"y"`, `"n"`, `"e"`) when it holds no private one.
    if text.contains("\"kty\"") && !text.contains("\"d\"") {
        let key = before
            .trim_end()
            .trim_end_matches(['"', ':', ' '])
            .trim_end_matches('"');
        if ["x", "y", "n", "e", "x5c", "x5t", "x5t#s256", "kid"]
            .iter()
            .any(|k| key.ends_with(&format!("\"{k}")))
        {
            return true;
        }
    }
    if markers.iter().any(|m| before.contains(m)) {
        return true;
    }
    // Inside a PEM block that holds no private key.
    if let Some(begin) = text[..start].rfind("-----BEGIN ")
        && !text[begin..start].contains("-----END")
    {
        let label_end = text[begin..].find('\n').map_or(text.len(), |i| begin + i);
        if !text[begin..label_end].contains("PRIVATE") {
            return true;
        }
    }
    if crate::tools::decode::base64_text(token).is_some_and(|t| t.split_whitespace().count() >= 3) {
        return true;
    }
    // An advisory's identifier: `GHSA-rv95-896h-c2vc`, `CVE-2024-29041`.
    let advisory = |s: &str| {
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            ["GHSA" | "ghsa", rest @ ..] => {
                rest.len() == 3
                    && rest
                        .iter()
                        .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
            }
            ["CVE" | "cve", year, number] => {
                year.len() == 4
                    && number.len() >= 4
                    && year.bytes().chain(number.bytes()).all(|b| b.is_ascii_digit())
            }
            _ => false,
        }
    };
    if advisory(token) {
        return true;
    }
    // A path of words: `com/BurntSushi/ripgrep/releases/download/14`.
    let segments: Vec<&str> = token.split('/').filter(|s| !s.is_empty()).collect();
    token.matches('/').count() >= 2
        && segments.iter().all(|s| {
            s.len() <= 3
                || s.bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
                || s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                || advisory(s)
        })
}

/// The value of a `name = value` finding, for each form the detector knows.
fn value_span(text: &str, start: usize, end: usize) -> (usize, usize) {
    let found = &text[start..end];
    let lower = found.to_ascii_lowercase();
    // The byte after the separator found at `at`, which may be a wide space (`\u{3000}`).
    let after = |at: usize| at + found[at..].chars().next().map_or(1, char::len_utf8);
    let skip = |from: usize| {
        let rest = &found[from..];
        from + (rest.len()
            - rest
                .trim_start_matches([':', '=', '>', ' ', '\t', '"', '\'', ','])
                .len())
    };
    let value_from = if lower.starts_with('<') {
        // `<password>value</`: the element's text.
        found.find('>').map(|i| skip(i + 1))
    } else if lower.starts_with("define(") {
        found.rfind(',').map(|i| skip(i + 1))
    } else if lower.starts_with("--") {
        found.find(['=', ' ']).map(|i| skip(i + 1))
    } else if lower.starts_with("-p") {
        Some(skip(2))
    } else if [
        "htpasswd",
        "sshpass",
        "docker",
        "podman",
        "helm",
        "login",
        "redis-cli",
        "mysql",
        "mariadb",
        "new",
        "mysqli",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        let trimmed = found.trim_end_matches(['"', '\'', ')', ';']);
        trimmed
            .rfind(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .map(|i| {
                let v = after(i);
                if found[v..].starts_with("-p") && lower.starts_with("m") {
                    v + 2
                } else {
                    v
                }
            })
    } else if lower.trim_start_matches(['"', '\'']).starts_with("name") && lower.contains("value") {
        // `name: DB_PASSWORD` then `value: …`: the second field's value.
        found.rfind(':').map(skip)
    } else if [
        "auth=",
        "auth =",
        "auth(",
        "httpbasicauth",
        "httpdigestauth",
        "basicauth",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        // `auth=("user", "…")`: the last of the quoted arguments.
        let trimmed = found.trim_end_matches(['"', '\'', ')']);
        trimmed.rfind(['"', '\'']).map(after)
    } else if lower.starts_with("authorization") {
        found.rfind(char::is_whitespace).map(after)
    } else {
        match found.find([':', '=']) {
            Some(i) if !found[..i].contains(char::is_whitespace) || found[..i].trim_end().len() + 1 >= i => {
                Some(skip(i))
            }
            _ => found.rfind(char::is_whitespace).map(|i| skip(after(i))),
        }
    };
    let mut e = found.len();
    if lower.starts_with('<') && found.ends_with("</") {
        e -= 2;
        while e > 0 && matches!(found.as_bytes()[e - 1], b' ' | b'\t') {
            e -= 1;
        }
    }
    while e > 0 && matches!(found.as_bytes()[e - 1], b'"' | b'\'' | b')' | b';' | b',') {
        e -= 1;
    }
    match value_from {
        Some(b) if b < e && found.is_char_boundary(b) => (start + b, start + e),
        _ => (start, end),
    }
}

/// Names a bundle may use in `detectors = [...]` and as `@name` in `near`.
pub(crate) fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all_patterns()
        .iter()
        .map(|p| p.detector)
        .chain(secrets::gated_patterns().iter().map(|(p, _)| p.detector))
        .chain(all_scanners().iter().map(|s| s.detector))
        .chain(long_token_detectors().iter().map(|(name, _)| *name))
        .chain(CONTEXTUAL.iter().map(|(name, _)| *name))
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
        // Gated patterns are tried anchored where they can start: a handful of short attempts
        // instead of a pass over the whole text.
        let mut gated = Vec::new();
        let mut at_separators = Vec::new();
        let mut at_named_separators = Vec::new();
        let mut at_elements = Vec::new();
        let mut gate_owner: std::collections::HashMap<&'static [u8], Vec<usize>> =
            std::collections::HashMap::new();
        for (i, (pattern, trigger)) in secrets::gated_patterns().into_iter().enumerate() {
            let anchored = format!("(?-u)^(?:{})", pattern.regex);
            gated.push((Regex::new(&anchored)?, pattern.detector, pattern.validate));
            match trigger {
                secrets::Trigger::Separator => at_separators.push(i),
                secrets::Trigger::NamedSeparator(test) => at_named_separators.push((i, test)),
                secrets::Trigger::Element => at_elements.push(i),
                secrets::Trigger::Words(list) => {
                    for w in list {
                        gate_owner.entry(w.as_bytes()).or_default().push(i);
                    }
                }
            }
        }
        // One alternation of literals: the regex engine searches it with SIMD (Teddy), as long
        // as the literals stay few and at least three bytes long. Past some eighty, or with a
        // one-byte literal, it falls back to an automaton that costs 5 to 9% of every decision:
        // `gate_keeps_its_simd_search` below holds the line.
        let mut literals: Vec<&[u8]> = gate_owner.keys().copied().collect();
        literals.sort_by_key(|l| std::cmp::Reverse(l.len()));
        let alternation: Vec<String> = literals
            .iter()
            .map(|l| regex::escape(std::str::from_utf8(l).unwrap_or_default()))
            .collect();
        let gate = Regex::new(&alternation.join("|"))?;
        Ok(Detectors {
            gated,
            at_separators,
            at_named_separators,
            at_elements,
            gate,
            gate_owner,
            report_placeholders: false,
            allow: Vec::new(),
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
        // Counted whole: a count the compiler vectorizes beats one that stops early.
        let digits = count_digits(original.as_bytes());
        for scanner in self.scanners.iter() {
            if digits < scanner.min_digits {
                continue;
            }
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
        self.scan_gated(original, &mut hits);
        // Most texts hold no finding: one early-exit pass says so, and the overlapping search
        // that names every matching pattern runs only when there is something to name.
        if !self.set.is_match(original.as_bytes()) {
            self.refine(original, &mut hits);
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
        self.refine(original, &mut hits);
        // The longest finding first where one detector found overlapping spans (a whole key
        // block over its first line).
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        hits.dedup_by(|a, b| a.detector == b.detector && a.start < b.end);
        hits
    }

    /// The gated patterns, tried where they can start in `original`.
    fn scan_gated(&self, original: &str, hits: &mut Vec<Hit>) {
        let bytes = original.as_bytes();
        let name_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
        // The start of the token that holds position `at`: `DB_PASSWORD`, `123456:AA...`.
        let token_start = |mut at: usize| {
            while at > 0 && name_char(bytes[at - 1]) {
                at -= 1;
            }
            at
        };
        let mut tried: Vec<(usize, usize)> = Vec::new();
        let mut attempt = |at: usize, i: usize, hits: &mut Vec<Hit>| {
            if tried.contains(&(at, i)) {
                return;
            }
            tried.push((at, i));
            let (regex, detector, validate) = &self.gated[i];
            let Some(found) = regex.find(&bytes[at..]) else {
                return;
            };
            let (mut start, mut end) = (at + found.start(), at + found.end());
            while !original.is_char_boundary(start) {
                start -= 1;
            }
            while !original.is_char_boundary(end) {
                end += 1;
            }
            if validate.is_none_or(|ok| ok(&original[start..end])) {
                hits.push(Hit { detector, start, end });
            }
        };
        // The name in front of a separator: `name = value`, `name: value`, `define(`, `--flag`.
        for sep in
            memchr::memchr3_iter(b':', b'=', b'(', bytes).chain(memchr::memmem::find_iter(bytes, b"--"))
        {
            let mut end = sep;
            while end > 0 && matches!(bytes[end - 1], b' ' | b'\t' | b'"' | b'\'') {
                end -= 1;
            }
            if end == 0 || !name_char(bytes[end - 1]) && bytes[sep] != b'-' {
                continue;
            }
            let start = if bytes[sep] == b'-' { sep } else { token_start(end) };
            // A quoted name is tried at its quote too.
            let quoted = (start > 0 && matches!(bytes[start - 1], b'"' | b'\'')).then(|| start - 1);
            for &i in &self.at_separators {
                attempt(start, i, hits);
                if let Some(q) = quoted {
                    attempt(q, i, hits);
                }
            }
            // A `--flag` starts at its dashes, past the end of any name before them.
            let name = bytes.get(start..end).unwrap_or_default();
            for &(i, test) in &self.at_named_separators {
                if test(name, &bytes[sep..]) {
                    attempt(start, i, hits);
                    if let Some(q) = quoted {
                        attempt(q, i, hits);
                    }
                }
            }
        }
        if !self.at_elements.is_empty() {
            for close in memchr::memmem::find_iter(bytes, b"</") {
                let from = close.saturating_sub(256);
                if let Some(open) = memchr::memrchr(b'<', &bytes[from..close]) {
                    for &i in &self.at_elements {
                        attempt(from + open, i, hits);
                    }
                }
            }
        }
        for m in self.gate.find_iter(bytes) {
            let from = token_start(m.start());
            let Some(owners) = self.gate_owner.get(m.as_bytes()) else {
                continue;
            };
            // At the literal itself too (`123456:AA...` starts before it), unless the literal
            // only continues a run of letters and digits: `EAAA` inside a base64 image is no
            // token's prefix.
            let inside_a_run = m.start() > 0
                && bytes[m.start() - 1].is_ascii_alphanumeric()
                && bytes[m.start()].is_ascii_alphanumeric();
            for &i in owners {
                attempt(from, i, hits);
                if !inside_a_run {
                    attempt(m.start(), i, hits);
                }
            }
        }
    }

    /// Structure before entropy: assignments are narrowed to their value, and what only stands
    /// for a secret (placeholders, documented examples, the allow list) or is structured data
    /// (hashes, public keys, certificates, `data:` URIs, base64 prose, paths) is dropped.
    fn refine(&self, original: &str, hits: &mut Vec<Hit>) {
        for h in hits.iter_mut() {
            if h.detector == "credential_assignment" {
                (h.start, h.end) = value_span(original, h.start, h.end);
            }
        }
        hits.retain(|h| {
            let value = &original[h.start..h.end];
            if self.allow.iter().any(|a| a == value) {
                return false;
            }
            if h.detector == "high_entropy_token" && is_structured_non_secret(original, h.start, h.end) {
                return false;
            }
            self.report_placeholders
                || !is_token_secret(h.detector)
                || !secrets::looks_like_placeholder(value)
        });
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

/// What a range scanner finds in `text`, as text: for tests.
#[cfg(test)]
pub(crate) fn found_by(scan: RangeScan, text: &str) -> Vec<&str> {
    let mut ranges = Vec::new();
    scan(text, &mut ranges);
    ranges.iter().map(|&(s, e)| &text[s..e]).collect()
}

#[cfg(test)]
mod value_tests {
    #[test]
    fn a_value_after_a_wide_space_is_cut_on_a_character_boundary() {
        let d = super::Detectors::compile().unwrap();
        for text in [
            "the password is abc123\u{3000}xyz789!",
            "password: Ab3$\u{3000}k9z!Qp2",
        ] {
            for h in d.scan(text) {
                assert!(
                    text.is_char_boundary(h.start) && text.is_char_boundary(h.end),
                    "{text:?} {h:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod span_tests {
    /// What is reported (and redacted) of a secret given as a value is the value alone.
    #[test]
    fn a_secret_given_as_a_value_spans_the_value() {
        let d = super::Detectors::compile().unwrap();
        for (text, value) in [
            (
                "env:\n  - name: DD_API_KEY\n          value: \"5dfa02266ff17027b19c7a22b6de8472\"",
                "5dfa02266ff17027b19c7a22b6de8472",
            ),
            (
                "requests.get(url, auth=(\"svc_reports\", \"V5zz_H_oahAlSoc\"))",
                "V5zz_H_oahAlSoc",
            ),
            ("db password = Tr0ub4dor&3x", "Tr0ub4dor&3x"),
        ] {
            let spans: Vec<&str> = d
                .scan(text)
                .iter()
                .filter(|h| h.detector == "credential_assignment")
                .map(|h| &text[h.start..h.end])
                .collect();
            assert_eq!(spans, [value], "{text:?}");
        }
    }
}

#[cfg(test)]
mod gate_tests {
    #[test]
    fn gate_keeps_its_simd_search() {
        let d = super::Detectors::compile().unwrap();
        let literals: Vec<&[u8]> = d.gate_owner.keys().copied().collect();
        assert!(
            literals.len() <= 84,
            "{} gate literals: past some eighty the gate's search is no longer SIMD",
            literals.len()
        );
        assert!(
            literals.iter().all(|l| l.len() >= 3),
            "a gate literal under three bytes turns the gate's search into an automaton"
        );
    }
}

#[cfg(test)]
mod runs_tests {
    /// Every maximal run read byte by byte: what `runs` must find while skipping.
    fn every_run(text: &str, member: fn(u8) -> bool, min: usize) -> Vec<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
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
        out
    }

    #[test]
    fn skipping_finds_every_run() {
        let alphabet = b"ab1 -_/+.x";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..120 {
            for _ in 0..40 {
                let text: String = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly one class, so that long runs occur.
                        let pick = (seed % 23) as usize;
                        alphabet[if pick < 14 {
                            pick % 3
                        } else {
                            pick % alphabet.len()
                        }] as char
                    })
                    .collect();
                for min in [0, 1, 2, 3, 5, 8, 26] {
                    for member in [super::token_byte as fn(u8) -> bool, |b: u8| b.is_ascii_digit()] {
                        let mut found = Vec::new();
                        super::runs(&text, member, min, &mut found);
                        assert_eq!(found, every_run(&text, member, min), "{text:?} {min}");
                    }
                }
                assert_eq!(
                    super::count_digits(text.as_bytes()),
                    text.bytes().filter(u8::is_ascii_digit).count()
                );
            }
        }
        let long = "7".repeat(1000) + &"x9".repeat(300);
        assert_eq!(super::count_digits(long.as_bytes()), 1300);
    }
}
