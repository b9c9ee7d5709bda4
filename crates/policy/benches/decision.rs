//! Decision latency: `cargo bench -p warden-policy`.
//!
//! Percentiles, not means, because the gateway's budget is a tail budget. Text length varies
//! (1, 4, 16 KB) with the default pack, and rule count varies (10, 100, 1,000 generated rules)
//! at 4 KB, to show that cost follows the text and not the rules.

use std::hint::black_box;
use std::time::{Duration, Instant};

use warden_policy::Policy;

#[path = "common/prose.rs"]
mod prose;
use prose::text_of;

/// A deterministic pack of `n` rules over made-up words, with terms and a near clause each.
fn generated_pack(n: usize) -> Policy {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut word = || {
        let mut w = String::new();
        for _ in 0..7 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            w.push((b'a' + (state % 26) as u8) as char);
        }
        w
    };
    let mut toml = String::from("[policy]\nname = \"generated\"\n");
    for i in 0..n {
        let terms: Vec<String> = (0..4).map(|_| format!("\"{} {}\"", word(), word())).collect();
        let near_a: Vec<String> = (0..3).map(|_| format!("\"{}\"", word())).collect();
        let near_b: Vec<String> = (0..3).map(|_| format!("\"{}\"", word())).collect();
        toml.push_str(&format!(
            "\n[[rule]]\nid = \"r{i}\"\ntier = \"{}\"\ncategory = \"c\"\nterms = [{}, \"summarize {}\"]\nnear = [{{ words = [{}], with = [{}] }}]\nreason = \"r\"\n",
            if i % 2 == 0 { "red" } else { "amber" },
            terms.join(", "),
            word(),
            near_a.join(", "),
            near_b.join(", "),
        ));
    }
    Policy::from_toml(&toml, "generated").unwrap_or_else(|e| panic!("generated pack: {e}"))
}

fn measure(policy: &Policy, text: &str) -> (Duration, Duration, Duration) {
    percentiles(|| {
        black_box(policy.evaluate(black_box(text)));
    })
}

fn percentiles(mut decide: impl FnMut()) -> (Duration, Duration, Duration) {
    // Enough iterations for a stable p99, bounded in time.
    let budget = Duration::from_millis(1500);
    for _ in 0..200 {
        decide();
    }
    let mut samples = Vec::with_capacity(20_000);
    let start = Instant::now();
    while samples.len() < 20_000 && start.elapsed() < budget {
        let t = Instant::now();
        decide();
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.99), at(0.999))
}

fn main() {
    let default = Policy::default_pack().unwrap_or_else(|e| panic!("default pack: {e}"));
    println!(
        "decision latency (one thread), default pack: {} rules",
        default.rules().len()
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10}",
        "case", "p50 µs", "p99 µs", "p99.9 µs"
    );
    let row = |name: &str, (p50, p99, p999): (Duration, Duration, Duration)| {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{name:<22} {:>10.2} {:>10.2} {:>10.2}",
            us(p50),
            us(p99),
            us(p999)
        );
    };
    for kb in [1, 4, 16] {
        row(
            &format!("default, {kb} KB"),
            measure(&default, &text_of(kb * 1024)),
        );
    }
    let four = text_of(4 * 1024);
    for n in [10, 100, 1000] {
        row(&format!("{n} rules, 4 KB"), measure(&generated_pack(n), &four));
    }
    // Requests in another language go through detection and a lexicon.
    let french =
        "Pourriez-vous résumer le rapport trimestriel pour la réunion de la semaine prochaine ? ".repeat(12);
    row("default, 1 KB French", measure(&default, &french));
    // Tool calls: the command analyser and the path catalogue.
    let context = warden_policy::Context {
        tool: Some("exec"),
        ..Default::default()
    };
    let short = serde_json::json!({"command": "git status --short && ls -la src | grep -v target"});
    row(
        "tool call, short",
        percentiles(|| {
            black_box(default.judge_tool_call("exec", black_box(&short), &context));
        }),
    );
    let script =
        "cd /srv/app && git pull --ff-only && npm ci && npm run build && rm -rf dist/cache\n".repeat(50);
    let long = serde_json::json!({"command": script});
    row(
        "tool call, 4 KB script",
        percentiles(|| {
            black_box(default.judge_tool_call("exec", black_box(&long), &context));
        }),
    );
}
