//! `warden`: the governance gateway's one binary. This file holds the command-line contract
//! (DESIGN.md §4) and dispatches to one module per command.

mod commands;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "warden",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("WARDEN_COMMIT"), ")"),
    about = "A governance gateway for AI agents",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How logs are written on stderr: `text` (default) or `json` (one object a line, for log
    /// shippers). WARDEN_LOG sets which.
    #[arg(long, env = "WARDEN_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// What `warden usage` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageBy {
    Key,
    Tenant,
    Model,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where the configuration and the store are; shared by every command that touches them.
#[derive(Args, Clone, Debug, Default)]
pub struct StoreArgs {
    /// Configuration file (TOML). Default: ./warden.toml when it exists.
    #[arg(long, env = "WARDEN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Database URL, e.g. sqlite://warden.db.
    #[arg(long, env = "WARDEN_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, env = "WARDEN_LISTEN")]
        listen: Option<String>,
        /// Root URL of the upstream agent, e.g. http://127.0.0.1:18789.
        #[arg(long, env = "WARDEN_UPSTREAM")]
        upstream: Option<String>,
        /// Approve amber and reject red requests automatically, as reviewer `policy:auto`.
        #[arg(long)]
        auto_approve: bool,
    },
    /// Run the whole governed flow, self-contained, and print the tutorial's report.
    Demo {
        /// Where to write the exported CSV trail.
        #[arg(long, default_value = "warden-demo-traces.csv")]
        csv: PathBuf,
    },
    /// Write a commented starter config and create an admin key.
    Init {
        #[command(flatten)]
        store: StoreArgs,
        /// Overwrite an existing config file.
        #[arg(long)]
        force: bool,
    },
    /// Apply pending database migrations.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check the configuration, the store and the upstream.
    Doctor {
        #[command(flatten)]
        store: StoreArgs,
        /// Create the database and apply migrations if needed.
        #[arg(long)]
        fix: bool,
    },
    /// Classify JSONL `{"id","text"}` from stdin into JSONL decisions on stdout.
    Classify {
        /// Policy bundle (default: the built-in pack).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Work with policy bundles.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The approver's side of the approval queue, against a running gateway.
    Approvals {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// The admin's side of MCP governance, against a running gateway: list the governed
    /// servers, diff their tools against what was approved, approve (pin) them.
    Mcp {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        command: McpCommand,
    },
    /// Verify or export the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The model's token usage of executed requests over a period, by key, tenant or model,
    /// with its cost where `[pricing]` names the model's price.
    Usage {
        /// From this date (2026-12-01) or RFC 3339 time; default: the first of this month.
        #[arg(long)]
        since: Option<String>,
        /// Up to (not including) this date or time; default: now.
        #[arg(long)]
        until: Option<String>,
        /// How to group the requests.
        #[arg(long, value_enum, default_value_t = UsageBy::Key)]
        by: UsageBy,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print a shell completion script: `warden completions bash > /etc/bash_completion.d/warden`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Run a file of test cases; non-zero exit on any mismatch.
    Test {
        /// A TOML file of `[[case]]` tables (text, expect).
        file: PathBuf,
        /// Policy bundle (default: the built-in pack).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Measure a policy on an evaluation set: accuracy, per-tier precision and recall, confusion.
    Eval {
        /// A directory of TOML files of `[[case]]` tables (text, expect, kind).
        #[arg(default_value = "policies/eval")]
        dir: PathBuf,
        /// Policy bundle (default: the built-in pack).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Exit non-zero unless accuracy >= 0.97, no red case is judged green and the green
        /// false-positive rate is <= 0.02.
        #[arg(long)]
        check: bool,
        /// List every misjudged case.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Judge the recorded trail again under a candidate bundle and show what would change:
    /// counts by tier transition and the changed traces.
    Replay {
        /// The candidate bundle.
        #[arg(long)]
        candidate: PathBuf,
        /// Read the records from this JSONL file (`warden audit export`) instead of the store.
        #[arg(long)]
        from: Option<PathBuf>,
        /// List at most this many changed traces.
        #[arg(long, default_value_t = 50)]
        show: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show which rules match where, and the normalized text.
    Explain {
        /// The text to judge.
        text: String,
        /// Policy bundle (default: the built-in pack).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, alone, on stdout.
    Create {
        /// The key's name, unique among active keys: how it appears on the trail.
        #[arg(long)]
        name: String,
        /// requester, approver, auditor or admin; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The tenant the key belongs to: what it sees of the trail and the queue.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Approver group; repeat for several (`--group finance --group security`).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id or name.
    Revoke {
        /// The key's id or name.
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the gateway is and which key to call it with.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// The gateway's root URL. Default: the listen address of the configuration
    /// (`--config`, WARDEN_CONFIG or ./warden.toml), else http://127.0.0.1:8787.
    #[arg(long, env = "WARDEN_URL", global = true)]
    pub url: Option<String>,
    /// Configuration file whose `server.listen` names the gateway when --url is not given.
    #[arg(long, env = "WARDEN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// A file holding the API key; otherwise WARDEN_API_KEY. Keys never go on the command line.
    #[arg(long, global = true)]
    pub key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests (pending by default).
    List {
        /// pending, approved, rejected, expired, cancelled, used or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only this requester's (key name or id).
        #[arg(long)]
        requester: Option<String>,
        /// Only those flagged by this rule id.
        #[arg(long)]
        rule: Option<String>,
        /// At most this many (default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one request: the exact request, the matched rules and the votes.
    Show {
        /// The approval request's id.
        id: String,
    },
    /// Approve a request.
    Approve {
        /// The approval request's id.
        id: String,
        /// Why: recorded with the vote.
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a request.
    Reject {
        /// The approval request's id.
        id: String,
        /// Why: recorded with the vote, and shown to the requester.
        #[arg(long)]
        note: Option<String>,
    },
    /// Withdraw your own pending request.
    Cancel {
        /// The approval request's id.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum McpCommand {
    /// Each governed MCP server, how it is reached, and its tools' states.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// What an approval of the server would pin: new tools, changed definitions (field by
    /// field), descriptions that address the model. Exit 1 when something awaits approval.
    Diff {
        /// The server's name (`[[mcp.servers]] name`).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pin the server's tool definitions as shown (refused if they change meanwhile).
    Approve {
        /// The server's name (`[[mcp.servers]] name`).
        name: String,
        /// Why: recorded with the pin.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain, whole or from an anchor on; non-zero exit naming the first bad record.
    Verify {
        /// Go on from the last good verification recorded in the database: check that its
        /// head record still carries its hash, then walk only the records after it (the whole
        /// chain when none is recorded). Someone who can rewrite the trail can rewrite that
        /// record too: a full walk, or `--from` with a head kept elsewhere, is the strong check.
        #[arg(long, conflicts_with = "from")]
        incremental: bool,
        /// Go on from a chain head kept outside the database, as SEQ:HASH (the seq and hash an
        /// earlier `audit verify` printed): check that record SEQ still carries HASH, then walk
        /// only the records after it.
        #[arg(long, value_name = "SEQ:HASH")]
        from: Option<warden_store::Anchor>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Export the trail.
    Export {
        /// `jsonl` (one record a line) or `csv`.
        #[arg(long, value_parser = ["jsonl", "csv"], default_value = "jsonl")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's report is the output; its gateway logs only what goes wrong.
    init_tracing(
        if matches!(cli.command, Command::Demo { .. }) {
            "warn"
        } else {
            "info"
        },
        cli.log_format,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warden: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                store,
                listen,
                upstream,
                auto_approve,
            } => commands::serve::run(store, listen, upstream, auto_approve).await,
            Command::Demo { csv } => commands::demo::run(csv).await,
            Command::Init { store, force } => commands::init::run(store, force).await,
            Command::Migrate { store } => commands::doctor::migrate(store).await,
            Command::Doctor { store, fix } => commands::doctor::run(store, fix).await,
            Command::Classify { policy } => commands::classify::run(policy),
            Command::Policy { command } => commands::policy::run(command).await,
            Command::Keys { command } => commands::keys::run(command).await,
            Command::Audit { command } => commands::audit::run(command).await,
            Command::Approvals { server, command } => commands::approvals::run(server, command).await,
            Command::Mcp { server, command } => commands::mcp::run(server, command).await,
            Command::Usage {
                since,
                until,
                by,
                json,
                store,
            } => commands::usage::run(store, since, until, by, json).await,
            Command::Completions { shell } => {
                // Written whole to a buffer first: the generator panics on a failed write (a
                // closed pipe), and no panic reaches a user.
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "warden", &mut script);
                let mut out = std::io::stdout().lock();
                match std::io::Write::write_all(&mut out, &script)
                    .and_then(|()| std::io::Write::flush(&mut out))
                {
                    Ok(()) => Ok(ExitCode::SUCCESS),
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                    Err(e) => Err(e.into()),
                }
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warden: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, as text or JSON; `WARDEN_LOG` (or `RUST_LOG`) sets the filter.
fn init_tracing(default: &str, format: LogFormat) {
    let filter = std::env::var("WARDEN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One object a line, the event's fields at the top level where shippers look.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and argument of every command says what it is for in `--help`.
    #[test]
    fn every_option_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no description)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "warden", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
        Cli::command().debug_assert();
    }
}
