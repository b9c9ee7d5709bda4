//! Runs `N` decisions of the default pack on `SIZE` bytes of the benchmark's office prose and
//! nothing else, for counting instructions under `valgrind --tool=callgrind`: a count, unlike a
//! time, repeats exactly on a shared machine. `bench/instructions.sh` compares two builds.
//!
//! `cargo run --release -p warden-policy --example repeat -- SIZE N`

use std::hint::black_box;

use warden_policy::Policy;

#[path = "../benches/common/prose.rs"]
mod prose;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (size, decisions) = (number(1, 4096), number(2, 500));
    let text = prose::text_of(size);
    let policy = Policy::default_pack().unwrap_or_else(|e| panic!("default pack: {e}"));
    for _ in 0..decisions {
        black_box(policy.evaluate(black_box(&text)));
    }
}
