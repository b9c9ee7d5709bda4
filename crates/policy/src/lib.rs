//! Warden's policy engine: judges a request's text against a rule bundle and returns a `Decision`.
//!
//! Pure by design: no I/O, no async, no clocks. The gateway, the CLI and the benchmarks all
//! call the same `Policy::evaluate`, so what `warden policy explain` shows is exactly what the
//! gateway enforces.

mod bundle;
mod conversation;
mod decision;
mod detectors;
mod engine;
mod hanzi;
mod hidden;
pub mod injection;
mod intent;
mod languages;
mod normalize;
pub mod tools;
mod words;

pub use bundle::{ApprovalSpec, BundleError, NearSpec, Questions, RuleSpec, Scope};
pub use conversation::{Speaker, Turn, is_continuation};
pub use decision::{Decision, Risk, RuleMatch, Span};
pub use engine::{Context, DlpAction, DlpFinding, Policy};
pub use normalize::Normalized;
pub use words::inflection_key;

/// A pattern compiled into the binary. Every built-in pattern is compiled by the unit tests of
/// the module that holds it, so this cannot fail in a released build.
pub(crate) fn built_in_regex(pattern: &str) -> regex::Regex {
    #[allow(clippy::expect_used)]
    regex::Regex::new(pattern).expect("a built-in pattern compiles")
}

/// The default policy pack shipped with Warden (`policies/default.toml`).
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../../policies/default.toml");
