//! Interop with the official OpenAI Python SDK (`openai` from PyPI): a completion, a streamed
//! completion, and refusals surfacing as the SDK's own exception types.
//!
//! The SDK lives in a venv under Cargo's target directory, created on first run from
//! `tests/interop/requirements.txt`, so `cargo test` needs nothing installed beforehand but
//! `python3` and access to PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

use warden_standin::StandIn;

use crate::support::{UPSTREAM_TOKEN, gateway};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, creating the venv and installing the pinned SDK when needed.
fn sdk_python() -> PathBuf {
    crate::mcp_harness::python_venv(
        "openai-sdk-venv",
        &repo_root().join("tests/interop/requirements.txt"),
    )
}

#[tokio::test]
async fn openai_python_sdk() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let agent = StandIn::new()
        .token(UPSTREAM_TOKEN)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g = gateway(&agent.url()).start();
    let script = repo_root().join("tests/interop/test_openai_sdk.py");
    let base = g.url("/v1");
    let key = g.requester.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("WARDEN_BASE_URL", base)
            .env("WARDEN_API_KEY", key)
            .output()
            .expect("run the SDK script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}\nwarden's log:\n{}",
        g.logs()
    );
    assert!(stdout.contains("8 passed, 0 failed"), "{stdout}");
    // What reached the agent: the completion, the stream, the two turns built on the SDK's own
    // answer, and the Responses call and stream; every refusal stayed in Warden.
    assert_eq!(agent.received().len(), 6);
}
