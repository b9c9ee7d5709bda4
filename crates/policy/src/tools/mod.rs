//! Tool calls judged by what they do: the catalogue of the tools agents call (OpenClaw's own
//! and their common aliases) says which argument is a command, a path read or written, a URL,
//! a message, an instruction to another agent, or plain data; the command analyser and the
//! sensitive-path catalogue then say what the call does.

pub mod code;
pub mod commands;
pub mod decode;
pub mod effects;
pub mod paths;
pub mod shell;
pub mod windows;

use serde_json::Value;

pub use effects::{Effect, Finding};
use paths::PathClass;

/// What a tool call was read as.
#[derive(Debug, Default)]
pub struct Reading {
    /// What the call does.
    pub findings: Vec<Finding>,
    /// Texts that instruct an agent (a sub-agent's task, a scheduled prompt), judged as
    /// requests by every rule.
    pub prose: Vec<String>,
    /// Every string of the arguments, scanned for secrets only: a dangerous phrase given as
    /// data (a search, a file's content, a grep pattern) is not the act.
    pub data: Vec<String>,
    /// The tool is not in the catalogue: every string is judged as a request, as before
    /// (`prose` then holds them, and `data` is empty).
    pub unknown: bool,
}

impl Reading {
    fn find(&mut self, effect: Effect, evidence: impl Into<String>) {
        self.findings.push(Finding::new(effect, evidence));
    }

    /// The worst effect, if the call was understood.
    pub fn worst(&self) -> Option<&Finding> {
        self.findings.iter().max_by_key(|f| f.effect)
    }
}

/// The first string among `keys` (objects and arrays of strings are joined with spaces).
fn field<'a>(args: &'a Value, keys: &[&str]) -> Option<std::borrow::Cow<'a, str>> {
    for k in keys {
        match args.get(*k) {
            Some(Value::String(s)) => return Some(std::borrow::Cow::Borrowed(s.as_str())),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) && !items.is_empty() => {
                let words: Vec<String> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|w| {
                        if w.contains(' ') || w.is_empty() {
                            format!("'{}'", w.replace('\'', "'\\''"))
                        } else {
                            w.to_string()
                        }
                    })
                    .collect();
                return Some(std::borrow::Cow::Owned(words.join(" ")));
            }
            _ => {}
        }
    }
    None
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

const COMMAND_KEYS: [&str; 5] = ["command", "cmd", "script", "commandLine", "code"];
const PATH_KEYS: [&str; 6] = ["path", "file_path", "filePath", "file", "filename", "target_file"];

/// Reads one tool call: `tool` is the folded name.
pub fn read_call(tool: &str, args: &Value) -> Reading {
    let mut r = Reading::default();
    strings(args, &mut r.data);
    let action = field(args, &["action", "op", "operation"])
        .map(|a| a.to_ascii_lowercase())
        .unwrap_or_default();
    match tool {
        "exec" | "bash" | "shell" | "terminal" | "spawn" | "run_command" | "run_shell_command"
        | "execute_command" | "powershell" | "cmd" => {
            match field(args, &COMMAND_KEYS) {
                Some(command) => {
                    let text = if tool == "powershell" {
                        format!("powershell -Command {command}")
                    } else {
                        command.into_owned()
                    };
                    r.findings.extend(commands::analyse(&text));
                }
                None => r.find(Effect::Unrecognised, format!("`{tool}` without a command")),
            }
            if args.get("elevated").and_then(Value::as_bool) == Some(true) {
                r.find(Effect::PrivilegeChange, "runs elevated");
            }
            let security = field(args, &["security"])
                .unwrap_or_default()
                .to_ascii_lowercase();
            let ask = field(args, &["ask"]).unwrap_or_default().to_ascii_lowercase();
            if security == "full" || ask == "off" {
                r.find(Effect::PrivilegeChange, "asks to run without the exec approvals");
            }
        }
        "process" => match action.as_str() {
            "list" | "poll" | "log" | "status" | "" => r.find(Effect::ReadOnly, format!("process {action}")),
            "write" | "send-keys" | "send_keys" | "submit" | "paste" => {
                let input = field(args, &["data", "keys", "text", "input"])
                    .unwrap_or_default()
                    .into_owned();
                r.findings.extend(commands::analyse(&input));
                r.find(
                    Effect::WorkspaceChange,
                    format!("types into a running process: {input}"),
                );
            }
            // A process started with a command runs that command.
            "start" | "spawn" | "run" | "exec" | "launch" => {
                let command = field(args, &["command", "cmd", "argv", "script"]).unwrap_or_default();
                r.findings.extend(commands::analyse(&command));
                r.find(Effect::WorkspaceChange, format!("process {action}: {command}"));
            }
            _ => r.find(Effect::WorkspaceChange, format!("process {action}")),
        },
        "read" | "fs_read" | "read_file" | "view" | "cat" | "memory_get" | "open_file" | "get_file"
        | "read_text_file" | "read_media_file" => {
            let path = field(args, &PATH_KEYS).unwrap_or_default();
            read_path(&mut r, &path);
        }
        // The MCP reference filesystem server's batch read.
        "read_multiple_files" => {
            let paths: Vec<&str> = args
                .get("paths")
                .and_then(Value::as_array)
                .map(|p| p.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if paths.is_empty() {
                r.find(Effect::ReadOnly, "reads no file");
            }
            for path in paths {
                read_path(&mut r, path);
            }
        }
        "create_directory" | "mkdir" | "make_directory" => {
            let path = field(args, &PATH_KEYS).unwrap_or_default();
            write_path(&mut r, &path, tool);
        }
        "write" | "fs_write" | "write_file" | "create_file" | "edit" | "fs_edit" | "edit_file"
        | "str_replace" | "multi_edit" | "str_replace_editor" | "notebook_edit" => {
            let path = field(args, &PATH_KEYS).unwrap_or_default();
            write_path(&mut r, &path, tool);
        }
        "apply_patch" | "patch" => {
            let patch = field(args, &["input", "patch", "diff"]).unwrap_or_default();
            let paths = patch_paths(&patch);
            if paths.is_empty() {
                r.find(Effect::WorkspaceChange, "applies a patch");
            }
            for (path, deletes) in paths {
                if deletes && !matches!(paths::classify(&path), PathClass::Ordinary | PathClass::Scratch) {
                    r.find(Effect::Destructive, format!("the patch deletes {path}"));
                } else {
                    write_path(&mut r, &path, "apply_patch");
                }
            }
        }
        "fs_delete" | "delete_file" | "remove_file" | "delete" => {
            let path = field(args, &PATH_KEYS).unwrap_or_default();
            let recursive = args.get("recursive").and_then(Value::as_bool) == Some(true);
            let flag = if recursive { "-r " } else { "" };
            r.findings.extend(commands::analyse(&format!(
                "rm {flag}'{}'",
                path.replace('\'', "")
            )));
        }
        "fs_move" | "move_file" | "rename_file" | "move" => {
            let from = field(args, &["from", "source", "src", "path", "oldPath"])
                .unwrap_or_default()
                .into_owned();
            let to = field(args, &["to", "destination", "dest", "newPath", "target"])
                .unwrap_or_default()
                .into_owned();
            read_path(&mut r, &from);
            write_path(&mut r, &to, tool);
        }
        "browser" | "browser_use" | "playwright" => browser(&mut r, args, &action),
        "web_search" | "search" | "google_search" | "brave_search" | "memory_search" | "image_search" => {
            r.find(Effect::ReadOnly, "searches");
        }
        "web_fetch" | "fetch" | "http_get" | "read_url" | "fetch_url" => {
            let url = field(args, &["url", "href", "uri", "targetUrl"]).unwrap_or_default();
            match effects::classify_host(&url) {
                effects::Host::Metadata => r.find(
                    Effect::CredentialAccess,
                    format!("fetches the cloud's credential endpoint {url}"),
                ),
                _ => r.find(Effect::ReadOnly, format!("fetches {url}")),
            }
        }
        "message" | "send_message" | "slack" | "email" | "send_email" | "discord" | "telegram"
        | "whatsapp" | "sms" => message(&mut r, args, &action),
        "sessions_send" | "conversations_send" | "conversations_turn" | "session_send" => {
            if let Some(text) = field(args, &["message", "text", "content", "prompt"]) {
                r.prose.push(text.into_owned());
            }
            r.find(Effect::Outbound, "sends a message to another session");
        }
        "sessions_spawn" | "spawn_agent" | "subagent" | "task" | "agent" => {
            if let Some(text) = field(
                args,
                &["task", "prompt", "message", "instructions", "description"],
            ) {
                r.prose.push(text.into_owned());
            }
            r.find(Effect::WorkspaceChange, "starts another agent on a task");
        }
        "cron" | "automations" | "schedule" | "scheduler" => match action.as_str() {
            "status" | "list" | "runs" | "get" => r.find(Effect::ReadOnly, format!("cron {action}")),
            _ => {
                let mut texts = Vec::new();
                for key in ["job", "patch", "payload", "task"] {
                    if let Some(v) = args.get(key) {
                        strings(v, &mut texts);
                    }
                }
                for t in texts.iter().filter(|t| t.contains(' ')) {
                    r.prose.push(t.clone());
                }
                if let Some(command) = args
                    .pointer("/job/payload/command")
                    .or_else(|| args.pointer("/job/command"))
                    .or_else(|| args.get("command"))
                    .and_then(Value::as_str)
                {
                    r.findings.extend(commands::analyse(command));
                }
                r.find(Effect::WorkspaceChange, format!("cron {action}"));
            }
        },
        "gateway" | "openclaw" | "config" => gateway(&mut r, args, &action),
        "nodes" | "node" => match action.as_str() {
            "status" | "describe" | "list" | "pending" | "" => {
                r.find(Effect::ReadOnly, format!("nodes {action}"))
            }
            "run" | "invoke" | "exec" => {
                let command = field(args, &["command", "cmd", "argv"]).unwrap_or_default();
                r.findings.extend(commands::analyse(&command));
                r.find(Effect::WorkspaceChange, format!("runs on a device: {command}"));
            }
            "notify" => r.find(Effect::Outbound, "notifies a device"),
            _ => r.find(Effect::WorkspaceChange, format!("nodes {action}: uses a device")),
        },
        "canvas" => match action.as_str() {
            "eval" | "a2ui_push" | "a2ui_reset" => {
                r.find(Effect::WorkspaceChange, format!("canvas {action}"))
            }
            _ => r.find(Effect::ReadOnly, format!("canvas {action}")),
        },
        "plugins" => {
            let raw = args.to_string().to_ascii_lowercase();
            if weakens_governance(&raw)
                || (raw.contains("warden")
                    && (raw.contains("disable") || raw.contains("uninstall") || raw.contains("remove")))
            {
                r.find(Effect::PrivilegeChange, "switches off a governance plugin");
            } else if matches!(action.as_str(), "list" | "info" | "status") {
                r.find(Effect::ReadOnly, format!("plugins {action}"));
            } else {
                r.find(Effect::WorkspaceChange, format!("plugins {action}"));
            }
        }
        "computer" | "mobile_ui" | "computer_use" => r.find(Effect::WorkspaceChange, "controls a machine"),
        // OpenClaw's Tool Search bridge calls another tool by name; an MCP server's tools are
        // named `<server>__<tool>`. The call is what the named tool does with its arguments.
        "tool_call" if args.get("id").is_some_and(Value::is_string) => {
            let named = args["id"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let inner = named.rsplit_once("__").map_or(named.as_str(), |(_, tool)| tool);
            let inner_args = args.get("args").cloned().unwrap_or(Value::Null);
            if inner == "tool_call" || inner.is_empty() {
                r.find(Effect::Unrecognised, format!("tool_call of {named}"));
            } else {
                let reading = read_call(inner, &inner_args);
                r.findings = reading.findings;
                r.prose = reading.prose;
                r.unknown = reading.unknown;
                if !reading.unknown {
                    r.data = reading.data;
                }
            }
        }
        "sessions_list"
        | "sessions_history"
        | "session_status"
        | "agents_list"
        | "image"
        | "tts"
        | "whoami"
        | "list_files"
        | "ls"
        | "glob"
        | "grep"
        | "find"
        | "search_files"
        | "list_directory"
        | "list_directory_with_sizes"
        | "directory_tree"
        | "get_file_info"
        | "list_allowed_directories" => {
            if let Some(path) = field(args, &PATH_KEYS) {
                read_path(&mut r, &path);
            } else {
                r.find(Effect::ReadOnly, tool.to_string());
            }
        }
        _ => {
            // Judged as a request by every rule, detectors of secrets included: the strings
            // need no second reading as data.
            r.unknown = true;
            r.prose = std::mem::take(&mut r.data);
        }
    }
    r
}

fn read_path(r: &mut Reading, path: &str) {
    match paths::classify(path) {
        PathClass::Credential | PathClass::AgentConfig => {
            r.find(Effect::CredentialAccess, format!("reads {path}"))
        }
        _ if path.starts_with("/proc/") && path.ends_with("/environ") => {
            r.find(Effect::CredentialAccess, format!("reads {path}"))
        }
        _ => r.find(Effect::ReadOnly, format!("reads {path}")),
    }
}

fn write_path(r: &mut Reading, path: &str, by: &str) {
    match paths::classify(path) {
        PathClass::Device | PathClass::Root => r.find(Effect::Destructive, format!("{by} writes {path}")),
        PathClass::System | PathClass::AccessControl | PathClass::AgentConfig => {
            r.find(Effect::PrivilegeChange, format!("{by} writes {path}"))
        }
        _ => r.find(Effect::WorkspaceChange, format!("{by} writes {path}")),
    }
}

/// The files a patch touches: (path, whether it deletes it). Reads both OpenClaw's
/// `*** Update File:` envelope and unified diffs.
fn patch_paths(patch: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for line in patch.lines() {
        let l = line.trim_start();
        for (prefix, deletes) in [
            ("*** Add File:", false),
            ("*** Update File:", false),
            ("*** Delete File:", true),
            ("*** Move to:", false),
            ("+++ ", false),
        ] {
            if let Some(rest) = l.strip_prefix(prefix) {
                let path = rest.trim().trim_start_matches("b/").to_string();
                if path != "/dev/null" && !path.is_empty() {
                    out.push((path, deletes));
                }
            }
        }
    }
    out
}

fn browser(r: &mut Reading, args: &Value, action: &str) {
    let url = field(args, &["targetUrl", "url"]).unwrap_or_default();
    if effects::classify_host(&url) == effects::Host::Metadata {
        r.find(
            Effect::CredentialAccess,
            format!("opens the cloud's credential endpoint {url}"),
        );
        return;
    }
    match action {
        // `act` with a request, or the interaction named as the action itself
        // (`{"action": "click", "ref": "e12"}`), as other browser tools write it.
        "act" | "click" | "type" | "fill" | "press" | "select" | "submit" | "drag" | "check" | "uncheck"
        | "dblclick" | "tap" => {
            let request = args.get("request").unwrap_or(args);
            let kind = if action == "act" {
                field(request, &["kind", "type"])
                    .map(|k| k.to_ascii_lowercase())
                    .unwrap_or_default()
            } else {
                action.to_string()
            };
            match kind.as_str() {
                "hover" | "wait" | "resize" | "scroll" | "close" => {
                    r.find(Effect::ReadOnly, format!("browser {kind}"))
                }
                "evaluate" => {
                    let code = field(request, &["fn", "function", "expression", "script", "code"])
                        .unwrap_or_default();
                    let lower = code.to_ascii_lowercase();
                    if lower.contains("document.cookie")
                        || lower.contains("localstorage")
                        || lower.contains("sessionstorage")
                    {
                        r.find(Effect::CredentialAccess, "reads the page's cookies or storage");
                    }
                    r.findings.extend(
                        code::analyse("node", &code, 1)
                            .into_iter()
                            .filter(|f| f.effect.tier() == crate::Risk::Red),
                    );
                    r.find(Effect::WorkspaceChange, "runs script in the page");
                }
                _ => {
                    // A password typed into a page is a credential in the call's arguments.
                    let fields = request
                        .get("fields")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let password = fields.iter().chain(std::iter::once(request)).any(|f| {
                        let kind = field(f, &["type", "name", "ref", "label"])
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        (kind.contains("password") || kind.contains("passwd") || kind == "pin")
                            && field(f, &["value", "text"]).is_some_and(|v| !v.is_empty())
                    });
                    if password {
                        r.find(Effect::CredentialAccess, "types a password into a page");
                    }
                    r.find(Effect::WorkspaceChange, format!("browser {kind}: acts on a page"));
                }
            }
        }
        "upload" => {
            let mut files = Vec::new();
            for key in ["paths", "path", "files", "file"] {
                if let Some(v) = args.get(key) {
                    strings(v, &mut files);
                }
            }
            for f in &files {
                match paths::classify(f) {
                    PathClass::Credential | PathClass::AgentConfig => {
                        r.find(Effect::Exfiltration, format!("uploads {f}"))
                    }
                    _ if paths::names_a_data_dump(f) => r.find(Effect::Exfiltration, format!("uploads {f}")),
                    _ => r.find(Effect::WorkspaceChange, format!("uploads {f}")),
                }
            }
            if files.is_empty() {
                r.find(Effect::WorkspaceChange, "uploads a file");
            }
        }
        "dialog" => r.find(Effect::WorkspaceChange, "answers a dialog"),
        _ => r.find(Effect::ReadOnly, format!("browser {action}")),
    }
}

fn message(r: &mut Reading, args: &Value, action: &str) {
    match action {
        "read" | "search" | "list" | "info" | "channel-info" | "channel-list" | "member-info"
        | "permissions" | "emoji-list" | "sticker-search" | "thread-list" | "pins" | "list-pins"
        | "reactions" => r.find(Effect::ReadOnly, format!("message {action}")),
        _ => {
            let mut files = Vec::new();
            for key in [
                "filePath",
                "media",
                "path",
                "attachments",
                "attachment",
                "files",
                "file",
                "buffer",
            ] {
                if let Some(v) = args.get(key) {
                    strings(v, &mut files);
                }
            }
            for f in &files {
                if matches!(paths::classify(f), PathClass::Credential | PathClass::AgentConfig)
                    || paths::names_a_data_dump(f)
                {
                    r.find(Effect::Exfiltration, format!("sends {f}"));
                }
            }
            let verb = if action.is_empty() { "send" } else { action };
            r.find(Effect::Outbound, format!("message {verb}"));
        }
    }
}

fn gateway(r: &mut Reading, args: &Value, action: &str) {
    match action {
        "config.get" | "config.schema" | "status" | "health" | ""
            if !args.get("raw").is_some_and(Value::is_string) =>
        {
            r.find(Effect::ReadOnly, format!("gateway {action}"))
        }
        "restart" | "update.run" | "update" => r.find(Effect::WorkspaceChange, format!("gateway {action}")),
        _ => {
            let raw = args.to_string().to_ascii_lowercase();
            if weakens_governance(&raw) {
                r.find(
                    Effect::PrivilegeChange,
                    format!("gateway {action} weakens the agent's governance"),
                );
            } else {
                r.find(Effect::WorkspaceChange, format!("gateway {action}"));
            }
        }
    }
}

/// Whether a configuration change turns off the agent's governance: the Warden plugin, exec
/// approvals, the sandbox, authentication, or anything OpenClaw calls dangerous.
pub fn weakens_governance(raw: &str) -> bool {
    use std::sync::LazyLock;
    static WEAKENS: LazyLock<regex::Regex> = LazyLock::new(|| {
        crate::built_in_regex(
            r#"(?s)(warden|approval|approvals|audit|security|sandbox|guard|hooks?|before_tool_call|auth|policy|allowlist)\W{0,40}([a-z_]+\W{0,6}){0,6}?(false|off|disabled?|none|full|never|\ballow\b|0\b)|dangerously|elevated\W{0,12}(true|on|enabled|full)|\bbind\W{0,6}(lan|0\.0\.0\.0)"#,
        )
    });
    WEAKENS.is_match(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn worst(tool: &str, args: Value) -> Effect {
        read_call(tool, &args)
            .worst()
            .map_or(Effect::Unrecognised, |f| f.effect)
    }

    #[test]
    fn the_catalogue_reads_each_tool_by_its_arguments() {
        assert_eq!(worst("exec", json!({"command": "git status"})), Effect::ReadOnly);
        assert_eq!(
            worst("exec", json!({"command": "rm -rf /srv"})),
            Effect::Destructive
        );
        assert_eq!(
            worst("read", json!({"path": "~/.ssh/id_rsa"})),
            Effect::CredentialAccess
        );
        assert_eq!(worst("read", json!({"path": "src/main.rs"})), Effect::ReadOnly);
        // The MCP reference filesystem server's tools.
        assert_eq!(
            worst("read_text_file", json!({"path": "/srv/notes/creds.txt"})),
            Effect::ReadOnly
        );
        assert_eq!(
            worst(
                "read_multiple_files",
                json!({"paths": ["a.txt", "/home/a/.aws/credentials"]})
            ),
            Effect::CredentialAccess
        );
        assert_eq!(worst("directory_tree", json!({"path": "/srv"})), Effect::ReadOnly);
        assert_eq!(
            worst("create_directory", json!({"path": "/srv/new"})),
            Effect::WorkspaceChange
        );
        // Through OpenClaw's Tool Search bridge, by the named tool (an MCP tool's server prefix
        // dropped).
        assert_eq!(
            worst(
                "tool_call",
                json!({"id": "files__write_file", "args": {"path": "/h/.ssh/authorized_keys", "content": "k"}})
            ),
            Effect::PrivilegeChange
        );
        assert_eq!(
            worst(
                "tool_call",
                json!({"id": "files__read_text_file", "args": {"path": "notes.txt"}})
            ),
            Effect::ReadOnly
        );
        assert_eq!(
            worst("write", json!({"path": "src/lib.rs", "content": "rm -rf /"})),
            Effect::WorkspaceChange
        );
        assert_eq!(
            worst(
                "write",
                json!({"path": "/home/a/.ssh/authorized_keys", "content": "ssh-ed25519 AAAA"})
            ),
            Effect::PrivilegeChange
        );
        assert_eq!(
            worst(
                "edit",
                json!({"path": "/etc/hosts", "oldText": "a", "newText": "b"})
            ),
            Effect::PrivilegeChange
        );
        assert_eq!(
            worst(
                "web_search",
                json!({"query": "how do I rotate an API token safely"})
            ),
            Effect::ReadOnly
        );
        assert_eq!(worst("browser", json!({"action": "snapshot"})), Effect::ReadOnly);
        assert_eq!(
            worst(
                "browser",
                json!({"action": "act", "request": {"kind": "click", "ref": "e12"}})
            ),
            Effect::WorkspaceChange
        );
        assert_eq!(
            worst(
                "gateway",
                json!({"action": "config.patch", "raw": "{ plugins: { entries: { warden: { enabled: false } } } }"})
            ),
            Effect::PrivilegeChange
        );
        assert_eq!(
            worst(
                "gateway",
                json!({"action": "config.patch", "raw": "{ agents: { defaults: { model: \"gpt-5\" } } }"})
            ),
            Effect::WorkspaceChange
        );
        assert_eq!(
            worst(
                "message",
                json!({"action": "send", "to": "#ops", "message": "deploy done"})
            ),
            Effect::Outbound
        );
        assert!(read_call("notes_append", &json!({"text": "x"})).unknown);
    }

    #[test]
    fn patches_name_their_files() {
        let p = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Delete File: /etc/sudoers\n*** End Patch";
        assert_eq!(
            patch_paths(p),
            vec![
                ("src/a.rs".to_string(), false),
                ("/etc/sudoers".to_string(), true)
            ]
        );
    }
}
