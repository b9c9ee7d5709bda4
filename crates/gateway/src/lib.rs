//! Warden's gateway: the OpenAI-compatible front door, the governance pipeline, the upstream
//! client with its streaming tee, and the audit records of every stage.

pub mod approvals;
pub mod approve;
pub mod auth;
pub mod classify;
pub mod clock;
pub mod config;
pub mod dlp;
pub mod error;
pub mod execute;
pub mod hold;
pub mod pipeline;
pub mod policy_reload;
pub mod request;
pub mod response;
pub mod routes;
pub mod secret;
pub mod server;
pub mod state;
pub mod stream;
pub mod tools;
pub mod trail;
pub mod upstream;

pub use config::{Config, Overrides, RawConfig};
pub use server::{Gateway, StartError, load_policy, shutdown_signal};
