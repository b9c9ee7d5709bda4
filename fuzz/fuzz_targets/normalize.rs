//! Fuzz target: any text. Normalizing is idempotent, evaluation never panics, and every span
//! lies within the original text.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_policy::{Normalized, Policy};

static POLICY: LazyLock<Policy> =
    LazyLock::new(|| Policy::default_pack().unwrap_or_else(|e| panic!("default pack: {e}")));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = Normalized::new(&text);
    let twice = Normalized::new(once.as_str());
    assert_eq!(once.as_str(), twice.as_str());
    let decision = POLICY.evaluate(&text);
    for m in decision.rules.iter().chain(&decision.suppressed) {
        for s in &m.spans {
            // Secrets are reported by detector name (`[aws_access_key]`), never by value.
            assert!(text[s.start..s.end] == s.text || (s.text.starts_with('[') && s.text.ends_with(']')));
        }
    }
});
