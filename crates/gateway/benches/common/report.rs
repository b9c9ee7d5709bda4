//! The one way the gateway's benches report a run: mean and tail percentiles of per-request
//! times, in microseconds.

/// Prints `label` with the mean, p50, p99 and p99.9 of `samples` (nanoseconds).
pub fn report(label: &str, mut samples: Vec<u64>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize] as f64 / 1000.0;
    let mean = samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64 / 1000.0;
    println!(
        "{label} ({} requests): mean {mean:.2} µs, p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs",
        samples.len(),
        at(0.5),
        at(0.99),
        at(0.999)
    );
}
