//! End-to-end tests: the real `warden` binary against a real mock upstream, over HTTP.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod approvals;
mod audit;
mod auth;
mod browser_smoke;
mod bypasses;
mod chat;
mod cli;
mod console;
mod errors;
mod fleet;
mod governance;
mod guard;
mod interop;
mod lifecycle;
mod mcp;
mod mcp_harness;
mod operations;
mod policy;
mod responses;
mod routes;
mod sessions;
mod streaming;
mod support;
mod tools;
mod webdriver;
