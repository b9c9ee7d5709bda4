//! The harness for MCP tests: the official Python SDK (`mcp` from PyPI) as the client, and the
//! official reference servers (`@modelcontextprotocol/server-filesystem` and
//! `server-everything` from npm) as the servers.
//!
//! Both are installed under Cargo's target directory on first use, from the pinned
//! `tests/mcp/requirements.txt` and `tests/mcp/package-lock.json`, so `cargo test` needs
//! nothing beforehand but `python3`, `node` (20 or newer), `npm`, and access to PyPI and npm.
//! Each install holds a lock file while it runs (tests call these helpers concurrently, from
//! threads or from separate processes) and is redone only when the pinned files change.
//!
//! The client is `tests/mcp/mcp_client.py`: one JSON line per operation (see its docstring).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mcp_dir() -> PathBuf {
    repo_root().join("tests/mcp")
}

fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// Runs `install` into `dir` unless `dir/installed.stamp` already holds `wanted`. An exclusive
/// lock on `dir.lock` serializes installers across threads and processes; the stamp is removed
/// before and written after a successful install, so a failed or interrupted one is redone.
fn install_once(dir: &Path, wanted: &str, install: impl FnOnce()) {
    std::fs::create_dir_all(target_tmp()).expect("create the target tmp dir");
    let lock_path = dir.with_extension("lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("open the install lock file");
    lock.lock().expect("lock the install lock file");
    let stamp = dir.join("installed.stamp");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted) {
        let _ = std::fs::remove_file(&stamp);
        let started = Instant::now();
        install();
        std::fs::write(&stamp, wanted).expect("write the install stamp");
        eprintln!(
            "mcp_harness: installed {} in {:.1}s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    // The lock is released when `lock` is dropped.
}

/// The python of the venv `target/tmp/<name>` with `requirements` installed, creating it (once,
/// across tests and processes) when the pinned requirements changed.
pub fn python_venv(name: &str, requirements: &Path) -> PathBuf {
    let wanted =
        std::fs::read_to_string(requirements).unwrap_or_else(|e| panic!("{}: {e}", requirements.display()));
    let venv = target_tmp().join(name);
    let python = venv.join("bin/python");
    install_once(&venv, &wanted, || {
        let status = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(status.success(), "cannot create a venv with python3");
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements)
            .status()
            .expect("pip install");
        assert!(
            status.success(),
            "cannot install {} from PyPI",
            requirements.display()
        );
    });
    assert!(python.exists(), "no python in {}", venv.display());
    python
}

/// The venv's python with the pinned MCP SDK installed, creating the venv when needed.
pub fn mcp_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| python_venv("mcp-sdk-venv", &mcp_dir().join("requirements.txt")))
        .clone()
}

/// The directory where `npm ci` installed the pinned reference servers (its `node_modules`).
pub fn mcp_servers() -> PathBuf {
    static SERVERS: OnceLock<PathBuf> = OnceLock::new();
    SERVERS
        .get_or_init(|| {
            let manifest =
                std::fs::read_to_string(mcp_dir().join("package.json")).expect("tests/mcp/package.json");
            let lock = std::fs::read_to_string(mcp_dir().join("package-lock.json"))
                .expect("tests/mcp/package-lock.json");
            let wanted = format!("{manifest}\n{lock}");
            let dir = target_tmp().join("mcp-servers");
            install_once(&dir, &wanted, || {
                std::fs::create_dir_all(&dir).expect("create the servers' dir");
                std::fs::write(dir.join("package.json"), &manifest).expect("copy package.json");
                std::fs::write(dir.join("package-lock.json"), &lock).expect("copy package-lock.json");
                let status = Command::new("npm")
                    .args([
                        "ci",
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        "--ignore-scripts",
                    ])
                    .current_dir(&dir)
                    .status()
                    .expect("npm ci");
                assert!(
                    status.success(),
                    "cannot install the MCP reference servers from npm"
                );
            });
            dir
        })
        .clone()
}

fn server_entry(package: &str) -> PathBuf {
    let entry = mcp_servers()
        .join("node_modules/@modelcontextprotocol")
        .join(package)
        .join("dist/index.js");
    assert!(entry.exists(), "no {}", entry.display());
    entry
}

/// The command that runs the reference filesystem server over stdio, confined to `allowed_dir`.
pub fn filesystem_server_command(allowed_dir: &Path) -> Vec<String> {
    vec![
        "node".to_string(),
        server_entry("server-filesystem").display().to_string(),
        allowed_dir.display().to_string(),
    ]
}

/// Makes any `listen(port)` in the node process bind 127.0.0.1: server-everything calls
/// `app.listen(PORT)`, which would otherwise listen on every interface.
const LOOPBACK_ONLY: &str = "data:text/javascript,import net from 'node:net';\
const listen = net.Server.prototype.listen;\
net.Server.prototype.listen = function (...a) {\
if (typeof a[0] === 'number' || (typeof a[0] === 'string' && /^[0-9]+$/.test(a[0]))) a.splice(1, 0, '127.0.0.1');\
return listen.apply(this, a); };";

/// A reference server running as a child process; killed when dropped.
pub struct ServerGuard {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl ServerGuard {
    /// What the server printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts server-everything in streamable-HTTP mode on a free loopback port and waits until it
/// answers; returns the guard and the URL of its MCP endpoint (`http://127.0.0.1:PORT/mcp`).
pub async fn start_everything_http() -> (ServerGuard, String) {
    let entry = tokio::task::spawn_blocking(|| server_entry("server-everything"))
        .await
        .expect("install the reference servers");
    let http = reqwest::Client::new();
    // The port is free when chosen but could be taken before node binds it: try a few.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let child = Command::new("node")
            .arg("--import")
            .arg(LOOPBACK_ONLY)
            .arg(&entry)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("reopen the log file"))
            .stderr(log.reopen().expect("reopen the log file"))
            .spawn()
            .expect("start server-everything with node");
        let mut guard = ServerGuard { child, log };
        let url = format!("http://127.0.0.1:{port}/mcp");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Any HTTP answer (a GET without a session is a 400) means it is serving.
            if http.get(&url).send().await.is_ok() {
                return (guard, url);
            }
            if guard.child.try_wait().expect("poll the server").is_some() {
                eprintln!("server-everything exited:\n{}", guard.log());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server-everything did not answer on {url} within 20 s:\n{}",
                guard.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("server-everything could not start on a free loopback port");
}

/// Runs `mcp_client.py` with `args` (blocking: from async code use `spawn_blocking`), returning
/// (exit code, stdout, stderr).
pub fn run_client_raw(args: &[String]) -> (i32, String, String) {
    let out = Command::new(mcp_python())
        .arg(mcp_dir().join("mcp_client.py"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mcp_client.py");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn parse_lines(args: &[String]) -> Value {
    let (code, stdout, stderr) = run_client_raw(args);
    assert_eq!(code, 0, "mcp_client.py {args:?} failed:\n{stdout}\n{stderr}");
    let mut lines: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("mcp_client.py printed non-JSON ({e}): {l}\n{stderr}"))
        })
        .collect();
    assert!(
        !lines.is_empty(),
        "mcp_client.py {args:?} printed nothing:\n{stderr}"
    );
    if lines.len() == 1 {
        lines.remove(0)
    } else {
        Value::Array(lines)
    }
}

/// Runs `mcp_client.py URL [--key KEY] ARGS...` over streamable HTTP and returns its JSON line,
/// or an array of them when it printed several (`script`). Panics if the client failed (exit 2):
/// a JSON-RPC error is an answer (`"ok": false`), not a failure. Blocking.
pub fn run_client(url: &str, key: Option<&str>, args: &[&str]) -> Value {
    let mut all = vec![url.to_string()];
    if let Some(key) = key {
        all.extend(["--key".to_string(), key.to_string()]);
    }
    all.extend(args.iter().map(|a| a.to_string()));
    parse_lines(&all)
}

/// Runs `mcp_client.py --stdio -- COMMAND... ARGS...`: the SDK's stdio client spawns the server.
pub fn run_client_stdio(command: &[String], args: &[&str]) -> Value {
    let mut all = vec!["--stdio".to_string(), "--".to_string()];
    all.extend(command.iter().cloned());
    all.extend(args.iter().map(|a| a.to_string()));
    parse_lines(&all)
}

fn tool_names(list: &Value) -> Vec<String> {
    list["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_official_client_reaches_the_reference_servers_directly() {
    // Install both concurrently, as independent tests would.
    let py = tokio::task::spawn_blocking(mcp_python);
    let servers = tokio::task::spawn_blocking(mcp_servers);
    py.await.unwrap();
    servers.await.unwrap();

    let (server, url) = start_everything_http().await;
    let u = url.clone();
    let (list, echo, missing) = tokio::task::spawn_blocking(move || {
        (
            run_client(&u, None, &["list"]),
            run_client(&u, Some("ignored-key"), &["call", "echo", r#"{"message":"hi"}"#]),
            run_client(&u, None, &["call", "no-such-tool", "{}"]),
        )
    })
    .await
    .unwrap();
    let names = tool_names(&list);
    assert!(names.iter().any(|n| n == "echo"), "{names:?}\n{}", server.log());
    assert_eq!(list["server"]["name"], "mcp-servers/everything", "{list}");
    assert_eq!(echo["ok"], true, "{echo}");
    assert_eq!(echo["isError"], false, "{echo}");
    assert_eq!(echo["content"][0]["text"], "Echo: hi", "{echo}");
    // The everything server reports an unknown tool as a failed result, not a JSON-RPC error.
    assert_eq!(missing["ok"], true, "{missing}");
    assert_eq!(missing["isError"], true, "{missing}");

    // One session, several steps, one line each.
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        r#"[{"op":"list"},{"op":"call","tool":"echo","args":{"message":"again"}},
            {"op":"sleep","seconds":0.1},{"op":"notifications"},{"op":"list"}]"#,
    )
    .unwrap();
    let path = script.path().display().to_string();
    let u = url.clone();
    let steps = tokio::task::spawn_blocking(move || run_client(&u, None, &["script", &path]))
        .await
        .unwrap();
    let steps = steps.as_array().expect("one line per step");
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert_eq!(steps[1]["content"][0]["text"], "Echo: again");
    assert!(steps[3]["notifications"].is_array(), "{steps:?}");
    assert_eq!(tool_names(&steps[0]), tool_names(&steps[4]));

    // The filesystem server over stdio, confined to a temporary directory.
    let allowed = tempfile::tempdir().unwrap();
    let allowed_dir = allowed.path().canonicalize().unwrap();
    std::fs::write(allowed_dir.join("a.txt"), "hello\n").unwrap();
    let command = filesystem_server_command(&allowed_dir);
    let inside = allowed_dir.join("a.txt").display().to_string();
    let outside = allowed_dir.with_extension("outside").display().to_string();
    let (list, read, write) = tokio::task::spawn_blocking(move || {
        (
            run_client_stdio(&command, &["list"]),
            run_client_stdio(
                &command,
                &[
                    "call",
                    "read_text_file",
                    &serde_json::json!({ "path": inside }).to_string(),
                ],
            ),
            run_client_stdio(
                &command,
                &[
                    "call",
                    "write_file",
                    &serde_json::json!({ "path": outside, "content": "x" }).to_string(),
                ],
            ),
        )
    })
    .await
    .unwrap();
    let names = tool_names(&list);
    for tool in ["read_text_file", "write_file", "list_directory"] {
        assert!(names.iter().any(|n| n == tool), "{tool} missing: {names:?}");
    }
    assert_eq!(read["ok"], true, "{read}");
    assert_eq!(read["content"][0]["text"], "hello\n", "{read}");
    // Outside the allowed directory: a failed tool result, not a JSON-RPC error.
    assert_eq!(write["ok"], true, "{write}");
    assert_eq!(write["isError"], true, "{write}");
    let text = write["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Access denied"), "{text}");
    assert!(!allowed_dir.with_extension("outside").exists());
}
