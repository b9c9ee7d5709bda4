//! `warden audit verify|export`: the hash-chained trail, checked or written out.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use warden_store::ExportFormat;

use crate::AuditCommand;
use crate::settings;

pub async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            incremental,
            from,
            store,
        } => {
            let store = settings::open_existing_store(&store).await?;
            // Where the walk starts: the genesis, the last good verification recorded, or the
            // anchor given; and what the outcome says of it.
            let (anchor, how, by) = if let Some(anchor) = from {
                (
                    Some(anchor),
                    "from the given anchor",
                    "cli:warden audit verify --from",
                )
            } else if incremental {
                let recorded = store.last_verification().await?.and_then(|v| v.anchor());
                if recorded.is_none() {
                    eprintln!(
                        "no good verification with its chain head is recorded: verifying the whole chain"
                    );
                }
                (recorded, "incremental", "cli:warden audit verify --incremental")
            } else {
                (None, "", "cli:warden audit verify")
            };
            let report = match &anchor {
                Some(anchor) => store.verify_chain_from(anchor).await?,
                None => store.verify_chain().await?,
            };
            // The console shows when the chain was last verified, and by whom.
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            if let Err(e) = store.record_verification(&report, by, now_ms).await {
                tracing::warn!(error = %e, "the verification's outcome was not recorded for the console");
            }
            // Records walked: all of them, or those after the anchor.
            let walked = match &anchor {
                Some(a) if a.seq > 0 => format!("{} records after record {} ({how})", report.records, a.seq),
                _ => format!("{} records", report.records),
            };
            match &report.first_bad {
                None => {
                    say!("ok: {walked}, chain head {}", report.head);
                    Ok(ExitCode::SUCCESS)
                }
                Some(bad) => {
                    say!(
                        "TAMPERED: first bad record seq={} trace={}: {} ({walked} verified before it)",
                        bad.seq,
                        if bad.trace_id.is_empty() {
                            "-"
                        } else {
                            &bad.trace_id
                        },
                        bad.problem,
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Export {
            format,
            output,
            store,
        } => {
            let store = settings::open_existing_store(&store).await?;
            let format = if format == "csv" {
                ExportFormat::Csv
            } else {
                ExportFormat::Jsonl
            };
            let count = match output {
                Some(path) => {
                    let file =
                        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
                    let mut out = BufWriter::new(file);
                    let n = store.export(format, &mut out).await?;
                    out.flush()?;
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut out = BufWriter::new(stdout.lock());
                    store.export(format, &mut out).await?
                }
            };
            eprintln!("exported {count} records");
            Ok(ExitCode::SUCCESS)
        }
    }
}
