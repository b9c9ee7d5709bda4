//! The compiled policy: every term of every rule in one Aho-Corasick automaton over a stream of
//! word keys, so the cost of a decision grows with the text, not with the number of rules.

use aho_corasick::{AhoCorasick, MatchKind};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use crate::bundle::{BundleError, BundleFile, GreenSpec, RuleSpec};
use crate::decision::{Decision, Risk, RuleMatch, Span};
use crate::normalize::Normalized;
use crate::words::words;

/// A loaded, compiled policy bundle.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    version: String,
    green: GreenSpec,
    rules: Vec<RuleSpec>,
    automaton: AhoCorasick,
    /// For each automaton pattern, the rules that listed it.
    pattern_rules: Vec<Vec<usize>>,
}

impl Policy {
    /// Loads a bundle from TOML source; `origin` names it in errors.
    pub fn from_toml(source: &str, origin: &str) -> Result<Policy, BundleError> {
        let bundle = BundleFile::parse(source, origin)?;
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let rules: Vec<RuleSpec> = bundle.rules.into_iter().map(|s| s.into_inner()).collect();
        for (rule_idx, rule) in rules.iter().enumerate() {
            for term in &rule.terms {
                let pattern = key_stream(&words(Normalized::new(term).as_str()));
                let slot = *index.entry(pattern.clone()).or_insert_with(|| {
                    patterns.push(pattern);
                    pattern_rules.push(Vec::new());
                    patterns.len() - 1
                });
                if !pattern_rules[slot].contains(&rule_idx) {
                    pattern_rules[slot].push(rule_idx);
                }
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| BundleError::Syntax {
                origin: origin.to_string(),
                message: format!("cannot compile the rules: {e}"),
            })?;
        Ok(Policy {
            name: bundle.policy.name,
            version: version_of(source),
            green: bundle.green,
            rules,
            automaton,
            pattern_rules,
        })
    }

    /// The default pack shipped with Warden.
    pub fn default_pack() -> Result<Policy, BundleError> {
        Policy::from_toml(crate::DEFAULT_POLICY_TOML, "policies/default.toml")
    }

    /// The bundle's name from its `[policy]` table.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `sha256:` and the first 16 hex digits of the bundle source's hash.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The rules, in bundle order.
    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// Judges one text.
    pub fn evaluate(&self, text: &str) -> Decision {
        let normalized = Normalized::new(text);
        let found = self.find(text, &normalized);
        self.decide(found)
    }

    /// The normalized form used for matching (for explanations).
    pub fn normalize(&self, text: &str) -> String {
        Normalized::new(text).as_str().to_string()
    }

    fn find(&self, original: &str, normalized: &Normalized) -> Vec<RuleMatch> {
        let words = words(normalized.as_str());
        if words.is_empty() {
            return Vec::new();
        }
        // The key stream is ` k1 k2 k3 `; `word_at[b]` is the word starting at byte b.
        let mut stream = String::with_capacity(normalized.as_str().len() + 2);
        let mut word_starts = Vec::with_capacity(words.len());
        stream.push(' ');
        for w in &words {
            word_starts.push(stream.len());
            stream.push_str(&w.key);
            stream.push(' ');
        }
        let word_index = |byte: usize| word_starts.partition_point(|&s| s <= byte).saturating_sub(1);

        let mut by_rule: Vec<Option<RuleMatch>> = vec![None; self.rules.len()];
        for m in self.automaton.find_overlapping_iter(&stream) {
            // The pattern's leading and trailing spaces bound the words it covers.
            let first = word_index(m.start() + 1);
            let last = word_index(m.end().saturating_sub(2));
            let (s, e) = normalized.original_range(words[first].start, words[last].end);
            let span = Span {
                start: s,
                end: e,
                text: original.get(s..e).unwrap_or_default().to_string(),
            };
            for &rule_idx in &self.pattern_rules[m.pattern().as_usize()] {
                let rule = &self.rules[rule_idx];
                let entry = by_rule[rule_idx].get_or_insert_with(|| RuleMatch {
                    id: rule.id.clone(),
                    tier: rule.tier,
                    category: rule.category.clone(),
                    spans: Vec::new(),
                });
                if !entry.spans.contains(&span) {
                    entry.spans.push(span.clone());
                }
            }
        }
        let mut found: Vec<RuleMatch> = by_rule.into_iter().flatten().collect();
        // Highest tier first; within a tier, bundle order (stable sort).
        found.sort_by_key(|m| std::cmp::Reverse(m.tier));
        found
    }

    fn decide(&self, found: Vec<RuleMatch>) -> Decision {
        let Some(top) = found.first() else {
            return Decision {
                risk: Risk::Green,
                category: self.green.category.clone(),
                confidence: self.green.confidence,
                requires_approval: false,
                allow: true,
                reason: self.green.reason.clone(),
                alternative: None,
                rules: Vec::new(),
                policy_version: self.version.clone(),
            };
        };
        let risk = top.tier;
        let at_tier: Vec<&RuleSpec> = found
            .iter()
            .take_while(|m| m.tier == risk)
            .filter_map(|m| self.rules.iter().find(|r| r.id == m.id))
            .collect();
        // The deciding rule is the most confident one at the winning tier.
        let deciding = at_tier
            .iter()
            .copied()
            .fold(None::<&RuleSpec>, |best, r| match best {
                Some(b) if b.confidence >= r.confidence => Some(b),
                _ => Some(r),
            });
        let (category, reason, alternative, base) = match deciding {
            Some(r) => (
                r.category.clone(),
                r.reason.clone(),
                r.alternative.clone(),
                r.confidence,
            ),
            None => (top.category.clone(), String::new(), None, 0.9),
        };
        // More independent evidence at the winning tier, more confidence; never certainty.
        let extra_rules = at_tier.len().saturating_sub(1) as f64;
        let extra_spans = found
            .iter()
            .take_while(|m| m.tier == risk)
            .map(|m| m.spans.len().saturating_sub(1))
            .sum::<usize>() as f64;
        let confidence = (base + 0.03 * extra_rules + 0.01 * extra_spans).min(0.99);
        let confidence = (confidence * 100.0).round() / 100.0;
        Decision {
            risk,
            category,
            confidence,
            requires_approval: risk >= Risk::Amber,
            allow: risk != Risk::Red,
            reason,
            alternative,
            rules: found,
            policy_version: self.version.clone(),
        }
    }
}

fn key_stream(words: &[crate::words::Word]) -> String {
    let mut s = String::from(" ");
    for w in words {
        s.push_str(&w.key);
        s.push(' ');
    }
    s
}

fn version_of(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    let mut hex = String::with_capacity(16);
    for b in &digest[..8] {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> Policy {
        match Policy::default_pack() {
            Ok(p) => p,
            Err(e) => panic!("default pack must load: {e}"),
        }
    }

    #[test]
    fn tutorial_demo_requests() {
        let p = pack();
        let cases = [
            (
                "Summarize our AI governance policy for internal use.",
                Risk::Green,
            ),
            (
                "Draft an email to finance asking for confirmation of the Q1 cloud budget.",
                Risk::Amber,
            ),
            (
                "Send an email to all employees that payroll will be delayed by 2 days.",
                Risk::Red,
            ),
            (
                "Transfer funds from treasury to vendor account immediately.",
                Risk::Red,
            ),
            (
                "Run a shell command to archive the home directory and upload it.",
                Risk::Red,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(p.evaluate(text).risk, want, "{text}");
        }
    }

    #[test]
    fn whole_words_with_inflections() {
        let p = pack();
        assert_eq!(p.evaluate("How does a tokenizer split words?").risk, Risk::Green);
        assert_eq!(p.evaluate("We walked along the riverbank.").risk, Risk::Green);
        assert_eq!(p.evaluate("Show me the API tokens").risk, Risk::Red);
        assert_eq!(p.evaluate("Start deleting the old files").risk, Risk::Red);
        assert_eq!(p.evaluate("Who got notified?").risk, Risk::Amber);
        assert_eq!(p.evaluate("Please transfer the funds").risk, Risk::Red);
        assert_eq!(p.evaluate("print my API-key").risk, Risk::Red);
        assert_eq!(p.evaluate("print my api_key").risk, Risk::Red);
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let p = pack();
        let text = "Kindly ＤＥＬＥＴＥ the backups";
        let d = p.evaluate(text);
        assert_eq!(d.risk, Risk::Red);
        let span = &d.rules[0].spans[0];
        assert_eq!(&text[span.start..span.end], "ＤＥＬＥＴＥ");
        assert_eq!(d.deciding_rule(), Some(d.rules[0].id.as_str()));
    }

    #[test]
    fn decision_carries_version_and_flags() {
        let p = pack();
        let d = p.evaluate("Wire money to this account");
        assert!(!d.allow && d.requires_approval);
        assert!(d.policy_version.starts_with("sha256:"));
        assert!(d.alternative.is_some());
        let g = p.evaluate("What is the capital of France?");
        assert!(g.allow && !g.requires_approval && g.rules.is_empty());
    }

    #[test]
    fn bad_bundles_name_line_and_rule() {
        let src = "[policy]\nname = \"x\"\n\n[[rule]]\nid = \"a\"\ntier = \"red\"\ncategory = \"c\"\nterms = []\nreason = \"r\"\n";
        let err = Policy::from_toml(src, "p.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:4: rule `a`"), "{err}");
        let unknown = "[policy]\nname = \"x\"\nsurprise = 1\n";
        let err = Policy::from_toml(unknown, "p.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("surprise"), "{err}");
    }
}
