//! Stamps the binary with the commit it was built from, for `warden --version`: the source
//! checkout's short hash, `WARDEN_COMMIT` when a packager sets it, or `unknown` outside a git
//! checkout. (Uncommitted changes are not detected: watching the index would rebuild the binary
//! on every `git add`.)

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=WARDEN_COMMIT");
    // A new commit or a checkout moves HEAD or the ref it names.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    let commit = std::env::var("WARDEN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    println!(
        "cargo:rustc-env=WARDEN_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
