#!/usr/bin/env python3
"""Small JSON helpers for tests/e2e/openclaw.sh (standard library only).

Subcommands (each exits 0 when the condition holds, 1 when not, printing what it found):

  free-port
      Print a free TCP port on 127.0.0.1.
  openclaw-config --out FILE --port N --token-file F --mock-port N --workspace DIR [--mcp-url U --mcp-key-file F]
                  --plugin-dir DIR --warden-url URL --key-file F --log-file F
      Write the OpenClaw configuration used by the test.
  json-get FILE PATH
      Print the value at a dotted PATH (list indexes allowed) of a JSON file.
  trail-blocked TRAIL --tool NAME --args-contains TEXT
      The exported audit trail has a `blocked` record whose trace's classification came
      `via: before_tool_call` for tool NAME with arguments containing TEXT.
  trail-approval TRAIL --approval-id ID
      The trail has an `approval_used` and an `allowed` record for approval ID, in one trace
      whose classification came via before_tool_call.
  pending-approval APPROVALS_JSON
      `warden approvals list --json` shows a pending tool approval; prints its id.
  approval-status APPROVAL_JSON --approval-id ID --status S [--command CMD]
      `warden approvals show ID` has that status (and, with --command, is an exec of CMD).
  mock-tool-result MOCK_LOG --contains TEXT [--since-line N]
      A request to the mock model carried a tool result containing TEXT.
  chat-content RESPONSE_JSON [--max N]
      Print the assistant message content of a chat completion (at most N characters).
  responses-text RESPONSE [--max N]
      Print the output text of a Responses API answer: a JSON response, or the typed events
      of a streamed one (the deltas joined).
  trail-front-door TRAIL --trace T
      The trail has an `allowed` record from OpenClaw's hook that passed on the grant made
      when trace T forwarded its call through /tools/invoke.
"""

import argparse
import json
import socket
import sys


def load_jsonl(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else json.dumps(content)


def cmd_free_port(_args):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def cmd_openclaw_config(args):
    token = open(args.token_file, encoding="utf-8").read().strip()
    config = {
        "gateway": {
            "mode": "local",
            "port": args.port,
            "bind": "loopback",
            "auth": {"mode": "token", "token": token},
            "http": {"endpoints": {"chatCompletions": {"enabled": True}, "responses": {"enabled": True}}},
        },
        "logging": {"file": args.log_file},
        "models": {
            "providers": {
                "mock": {
                    "baseUrl": f"http://127.0.0.1:{args.mock_port}/v1",
                    "apiKey": "mock-provider-key",
                    "api": "openai-completions",
                    "models": [{
                        "id": "warden-e2e-mock",
                        "name": "Warden e2e mock model",
                        "reasoning": False,
                        "input": ["text"],
                        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                        "contextWindow": 1000000,
                        "maxTokens": 8192,
                    }],
                }
            }
        },
        "agents": {"defaults": {"model": {"primary": "mock/warden-e2e-mock"}, "workspace": args.workspace}},
        "plugins": {
            "load": {"paths": [args.plugin_dir]},
            "entries": {
                "warden": {
                    "enabled": True,
                    "hooks": {"allowConversationAccess": True},
                    "config": {"url": args.warden_url, "apiKeyFile": args.key_file, "timeoutMs": 5000},
                }
            },
        },
    }
    if args.mcp_url:
        # The agent's MCP server, reached through Warden's governed endpoint with a Warden key.
        key = open(args.mcp_key_file, encoding="utf-8").read().strip()
        config["mcp"] = {"servers": {"files": {
            "url": args.mcp_url,
            "transport": "streamable-http",
            "headers": {"Authorization": "Bearer " + key},
        }}}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    return 0


def cmd_json_get(args):
    value = json.load(open(args.file, encoding="utf-8"))
    for part in args.path.split("."):
        if part == "":
            continue
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            value = None
        if value is None:
            break
    if value is None:
        return 1
    print(value if isinstance(value, str) else json.dumps(value))
    return 0


def hook_classifications(records):
    """trace_id -> the `tool` part of classification records made via before_tool_call."""
    out = {}
    for r in records:
        tool = (r.get("payload") or {}).get("tool") or {}
        if r.get("stage") == "classification" and tool.get("via") == "before_tool_call":
            out[r["trace_id"]] = tool
    return out


def cmd_trail_blocked(args):
    records = load_jsonl(args.trail)
    hooks = hook_classifications(records)
    for r in records:
        if r.get("stage") != "blocked" or r["trace_id"] not in hooks:
            continue
        tool = hooks[r["trace_id"]]
        if tool.get("name") == args.tool and args.args_contains in str(tool.get("args")):
            print(f"blocked: trace {r['trace_id']} seq {r['seq']} tool {tool.get('name')} args {tool.get('args')}"
                  f" reason {(r.get('payload') or {}).get('reason', '')[:120]!r}")
            return 0
    print(f"no blocked before_tool_call record for {args.tool} with {args.args_contains!r}"
          f" ({len(hooks)} hook classifications, {len(records)} records)")
    return 1


def cmd_trail_approval(args):
    records = load_jsonl(args.trail)
    hooks = hook_classifications(records)
    by_trace = {}
    for r in records:
        payload = r.get("payload") or {}
        if payload.get("approval_id") == args.approval_id and r.get("stage") in ("approval_used", "allowed"):
            by_trace.setdefault(r["trace_id"], set()).add(r["stage"])
    for trace, stages in by_trace.items():
        if stages == {"approval_used", "allowed"} and trace in hooks:
            print(f"approval_used + allowed: trace {trace} tool {hooks[trace].get('name')} args {hooks[trace].get('args')}")
            return 0
    print(f"no trace with approval_used and allowed for {args.approval_id}: {by_trace}")
    return 1


def cmd_pending_approval(args):
    approvals = json.load(open(args.file, encoding="utf-8"))
    for a in approvals:
        if a.get("status") == "pending" and a.get("kind") == "tool":
            print(a["id"])
            return 0
    print(f"no pending tool approval among {len(approvals)}", file=sys.stderr)
    return 1


def cmd_approval_status(args):
    approval = json.load(open(args.file, encoding="utf-8"))
    request = approval.get("request") or {}
    ok = approval.get("id") == args.approval_id and approval.get("status") == args.status
    if args.command is not None:
        ok = ok and request.get("toolName") == "exec" and (request.get("params") or {}).get("command") == args.command
    print(f"approval {approval.get('id')} status {approval.get('status')} request {json.dumps(request)[:200]}")
    return 0 if ok else 1


def cmd_mock_tool_result(args):
    lines = open(args.log, encoding="utf-8").read().splitlines()[args.since_line:]
    for line in lines:
        if not line.strip():
            continue
        request = json.loads(line).get("request") or {}
        for m in request.get("messages") or []:
            if m.get("role") in ("tool", "function") and args.contains in text_of(m.get("content")):
                print(f"tool result: {text_of(m.get('content'))[:160]!r}")
                return 0
    print(f"no tool result containing {args.contains!r} in {len(lines)} model requests")
    return 1


def cmd_chat_content(args):
    try:
        body = json.load(open(args.file, encoding="utf-8"))
        content = body["choices"][0]["message"]["content"] or ""
        print(content[: args.max] if args.max else content)
        return 0
    except (ValueError, KeyError, IndexError, TypeError):
        return 1


def cmd_responses_text(args):
    raw = open(args.file, encoding="utf-8").read()
    text = ""
    try:
        body = json.loads(raw)
        for item in body.get("output") or []:
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    text += part.get("text", "")
    except ValueError:
        # A stream: `event: ...` / `data: {...}` pairs.
        for line in raw.splitlines():
            if line.startswith("data:"):
                try:
                    event = json.loads(line[5:].strip())
                except ValueError:
                    continue
                if event.get("type") == "response.output_text.delta":
                    text += event.get("delta", "")
    if not text:
        return 1
    print(text[: args.max] if args.max else text)
    return 0


def cmd_trail_front_door(args):
    records = load_jsonl(args.trail)
    for r in records:
        payload = r.get("payload") or {}
        if r.get("stage") == "allowed" and payload.get("via_front_door") and payload.get("granted_by_trace") == args.trace:
            print(f"allowed on the front door's grant: hook trace {r['trace_id']} for {args.trace}")
            return 0
    print(f"no hook decision allowed on the grant of {args.trace} ({len(records)} records)")
    return 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port")
    p = sub.add_parser("openclaw-config")
    for name in ("out", "token-file", "workspace", "plugin-dir", "warden-url", "key-file", "log-file"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mock-port", type=int, required=True)
    p.add_argument("--mcp-url", default="")
    p.add_argument("--mcp-key-file", default="")
    p = sub.add_parser("json-get")
    p.add_argument("file")
    p.add_argument("path")
    p = sub.add_parser("trail-blocked")
    p.add_argument("trail")
    p.add_argument("--tool", required=True)
    p.add_argument("--args-contains", required=True)
    p = sub.add_parser("trail-approval")
    p.add_argument("trail")
    p.add_argument("--approval-id", required=True)
    p = sub.add_parser("pending-approval")
    p.add_argument("file")
    p = sub.add_parser("approval-status")
    p.add_argument("file")
    p.add_argument("--approval-id", required=True)
    p.add_argument("--status", required=True)
    p.add_argument("--command")
    p = sub.add_parser("mock-tool-result")
    p.add_argument("log")
    p.add_argument("--contains", required=True)
    p.add_argument("--since-line", type=int, default=0)
    p = sub.add_parser("chat-content")
    p.add_argument("file")
    p.add_argument("--max", type=int, default=0)
    p = sub.add_parser("responses-text")
    p.add_argument("file")
    p.add_argument("--max", type=int, default=0)
    p = sub.add_parser("trail-front-door")
    p.add_argument("trail")
    p.add_argument("--trace", required=True)
    args = parser.parse_args()
    handler = globals()["cmd_" + args.cmd.replace("-", "_")]
    sys.exit(handler(args))


if __name__ == "__main__":
    main()
