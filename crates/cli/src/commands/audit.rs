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
        AuditCommand::Verify { store } => {
            let store = settings::open_existing_store(&store).await?;
            let report = store.verify_chain().await?;
            // The console shows when the chain was last verified, and by whom.
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            if let Err(e) = store
                .record_verification(&report, "cli:warden audit verify", now_ms)
                .await
            {
                tracing::warn!(error = %e, "the verification's outcome was not recorded for the console");
            }
            match &report.first_bad {
                None => {
                    say!("ok: {} records, chain head {}", report.records, report.head);
                    Ok(ExitCode::SUCCESS)
                }
                Some(bad) => {
                    say!(
                        "TAMPERED: first bad record seq={} trace={}: {} ({} records verified before it)",
                        bad.seq,
                        if bad.trace_id.is_empty() {
                            "-"
                        } else {
                            &bad.trace_id
                        },
                        bad.problem,
                        report.records
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
