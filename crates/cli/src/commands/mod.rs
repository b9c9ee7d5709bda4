//! One module per `warden` command.

pub mod approvals;
pub mod audit;
pub mod classify;
pub mod demo;
pub mod doctor;
pub mod eval;
pub mod init;
pub mod keys;
pub mod policy;
pub mod serve;
