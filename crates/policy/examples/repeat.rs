//! Runs `N` decisions of the default pack on `SIZE` bytes of the benchmark's office prose and
//! nothing else, for counting instructions under `valgrind --tool=callgrind`: a count, unlike a
//! time, repeats exactly on a shared machine. `bench/instructions.sh` compares two builds.
//!
//! `cargo run --release -p warden-policy --example repeat -- SIZE N`

use std::hint::black_box;

use warden_policy::Policy;

/// The sentences of `benches/decision.rs`, so that counts and timings describe the same text.
const SENTENCES: &[&str] = &[
    "Please summarize the attached quarterly report for the leadership offsite next week.",
    "The migration plan covers the staging cluster first and production after the freeze.",
    "Can you explain how our tokenizer handles emoji and right-to-left scripts?",
    "We walked along the riverbank after the workshop and talked about the roadmap.",
    "Draft a short note for the team about the new expense tool, nothing urgent.",
    "The changelog lists forty fixes, most of them in the exchange rate service.",
    "Compare the two vendor proposals on price, support hours and data residency.",
    "Translate the onboarding checklist into French and keep the formatting intact.",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (size, decisions) = (number(1, 4096), number(2, 500));
    let mut text = String::with_capacity(size + 100);
    for sentence in SENTENCES.iter().cycle() {
        if text.len() >= size {
            break;
        }
        text.push_str(sentence);
        text.push(' ');
    }
    text.truncate(size);
    let policy = Policy::default_pack().unwrap_or_else(|e| panic!("default pack: {e}"));
    for _ in 0..decisions {
        black_box(policy.evaluate(black_box(&text)));
    }
}
