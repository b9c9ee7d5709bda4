//! Warden's gateway: the governance core every surface goes through, the surfaces themselves,
//! Warden's own API, the upstream client with its streaming tee and answer governance, and the
//! router and listener that put them on the network.
//!
//! Modules depend downwards only: `router` on `surfaces` and `api`; those on `upstream` and
//! `governance`; `upstream` on `governance`; everything on the leaves (`config`, `auth`,
//! `error`, `clock`, `secret`, `hex`). `tests/layout.rs` checks there is no cycle.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod console;
pub mod error;
pub mod governance;
pub mod hex;
pub mod listener;
pub mod mcp;
pub mod metrics;
pub mod router;
pub mod secret;
pub mod server;
pub mod signals;
pub mod state;
pub mod surfaces;
pub mod telemetry;
pub mod upstream;

pub use config::{Config, Overrides, RawConfig};
pub use server::{Gateway, StartError, load_policy};
pub use signals::shutdown_signal;
