//! One module per `warden` command.

/// `println!` for a command's report: a closed pipe (`warden policy explain … | head`) ends the
/// output quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Prints a secret shown once (a new key). Unlike a report, failing to show it is an error: the
/// key exists but nobody has it, so the caller is told to revoke it.
pub fn show_once(secret: &str, name: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{secret}")
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("key `{name}` was created but could not be shown ({e}); revoke it with `warden keys revoke {name}`"))
}

pub mod approvals;
pub mod audit;
pub mod classify;
pub mod demo;
pub mod doctor;
pub mod eval;
pub mod init;
pub mod keys;
pub mod mcp;
pub mod policy;
pub mod remote;
pub mod replay;
pub mod serve;
pub mod usage;
