#!/usr/bin/env python3
"""A scripted OpenAI-compatible model provider for the OpenClaw end-to-end test.

Standard library only. Serves `GET /v1/models` and `POST /v1/chat/completions`, both as one
JSON answer and as Server-Sent Events (`"stream": true`), the way OpenClaw's
`openai-completions` provider client calls it.

The script, decided on the conversation OpenClaw sends (OpenClaw's own context messages,
wrapped in BEGIN_OPENCLAW_INTERNAL_CONTEXT markers, are ignored):
- the last message is a tool result   -> a text answer quoting that result (so the client and
                                          this log see what the tool returned, or why it was
                                          blocked);
- the last user message is OpenClaw's text-only finalization request (sent after a failed or
  blocked tool call)                   -> the same answer, quoting the latest tool result;
- the last user message holds E2E-RED   -> one `exec` tool call running --red-command;
- the last user message holds E2E-AMBER -> one `exec` tool call running --amber-command;
- the last user message holds E2E-PROBE -> one `exec` tool call running --probe-command;
- the last user message holds E2E-PLAN  -> a text answer proposing a payment and asking for a
                                          go-ahead (PLAN below), with no tool call;
- anything else                        -> a plain greeting.
The same marker always gives the identical tool call, so a second chat turn repeats a call
exactly (what an approval in Warden is bound to).

Every request is appended, as one JSON line, to --log (the e2e script reads the tool results
from it to prove whether a tool actually ran).

Usage: mock_model.py --port-file FILE --log FILE [--red-command CMD] [--amber-command CMD]
                     [--probe-command CMD]
It listens on 127.0.0.1 only (port 0: a free port, written to --port-file).
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_ID = "warden-e2e-mock"
RED_MARKER = "E2E-RED"
AMBER_MARKER = "E2E-AMBER"
PROBE_MARKER = "E2E-PROBE"
PLAN_MARKER = "E2E-PLAN"
MCP_RED_MARKER = "E2E-MCP-RED"
MCP_MARKER = "E2E-MCP"
PLAN = ("I can wire $50,000 from the operating account to the new partner's IBAN "
        "DE89 3704 0044 0532 0130 00 right away. Shall I go ahead?")
INTERNAL = "BEGIN_OPENCLAW_INTERNAL_CONTEXT"
FINALIZE = "did not produce a user-visible answer"
OUTCOME = "I asked to run a command. Outcome: "


def text_of(content):
    """The text of a message's content, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text") or part.get("content") or ""))
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return "" if content is None else json.dumps(content)


class Script:
    def __init__(self, red_command, amber_command, probe_command, mcp_read="", mcp_write=""):
        self.mcp_read = mcp_read
        self.mcp_write = mcp_write
        self.red_command = red_command
        self.amber_command = amber_command
        self.probe_command = probe_command
        self.counter = 0
        self.lock = threading.Lock()

    def next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def reply(self, request):
        """Returns ("text", str) or ("tool", name, arguments_dict)."""
        # OpenClaw may append its own context as a user message wrapped in
        # BEGIN_OPENCLAW_INTERNAL_CONTEXT markers, even after a tool result; those are skipped.
        messages = [m for m in (request.get("messages") or [])
                    if not (m.get("role") == "user" and INTERNAL in text_of(m.get("content")))]
        if messages and messages[-1].get("role") in ("tool", "function"):
            return ("text", OUTCOME + text_of(messages[-1].get("content"))[:2000])
        last_user = ""
        for message in reversed(messages):
            if message.get("role") == "user":
                last_user = text_of(message.get("content"))
                break
        if FINALIZE in last_user:
            # After a failed (blocked) tool call OpenClaw does not deliver the model's answer; it
            # asks again, in a text-only pass, for the final answer. Give the tool's outcome.
            for message in reversed(messages):
                if message.get("role") in ("tool", "function"):
                    return ("text", OUTCOME + text_of(message.get("content"))[:2000])
            return ("text", "Nothing to report.")
        # OpenClaw names an MCP server's tools `<server>__<tool>` and offers them behind its Tool
        # Search bridge: the model calls `tool_call` with the tool's name and arguments.
        if MCP_RED_MARKER in last_user and self.mcp_write:
            args = {"path": self.mcp_write, "content": "ssh-ed25519 AAAAC3Nz e2e-attacker"}
            return ("tool", "tool_call", {"id": "files__write_file", "args": args})
        if MCP_MARKER in last_user and self.mcp_read:
            return ("tool", "tool_call", {"id": "files__read_text_file", "args": {"path": self.mcp_read}})
        if RED_MARKER in last_user:
            return ("tool", "exec", {"command": self.red_command})
        if AMBER_MARKER in last_user:
            return ("tool", "exec", {"command": self.amber_command})
        if PLAN_MARKER in last_user:
            return ("text", PLAN)
        if PROBE_MARKER in last_user and self.probe_command:
            return ("tool", "exec", {"command": self.probe_command})
        return ("text", "Hello from the mock model. Nothing to do.")


def make_handler(script, log_path):
    log_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet; the JSON log is the record
            sys.stderr.write("mock_model: " + (fmt % args) + "\n")

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self.send_json(200, {"object": "list", "data": [
                    {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "warden-e2e"}]})
            elif self.path == "/healthz":
                self.send_json(200, {"ok": True})
            else:
                self.send_json(404, {"error": {"message": "not found", "type": "not_found"}})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                self.send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self.send_json(404, {"error": {"message": "not found", "type": "not_found"}})
                return
            answer = script.reply(request)
            with log_lock, open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"time": time.time(), "path": self.path, "request": request,
                                      "answer": list(answer)}) + "\n")
            n = script.next_id()
            completion_id = f"chatcmpl-mock-{n}"
            created = int(time.time())
            model = request.get("model") or MODEL_ID
            usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            if answer[0] == "tool":
                call = {"id": f"call_mock_{n}", "type": "function",
                        "function": {"name": answer[1], "arguments": json.dumps(answer[2])}}
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": answer[1]}
                finish = "stop"
            if not request.get("stream"):
                self.send_json(200, {"id": completion_id, "object": "chat.completion", "created": created,
                                     "model": model, "usage": usage,
                                     "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()

            def event(delta, finish_reason=None, extra=None):
                chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                         "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
                if extra:
                    chunk.update(extra)
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()

            event({"role": "assistant", "content": ""})
            if answer[0] == "tool":
                call = message["tool_calls"][0]
                event({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"], "arguments": ""}}]})
                event({"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]})
            else:
                event({"content": message["content"]})
            event({}, finish)
            if (request.get("stream_options") or {}).get("include_usage"):
                chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                         "model": model, "choices": [], "usage": usage}
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--red-command", default="rm -rf /tmp/warden-e2e-target")
    parser.add_argument("--amber-command", default="ls -la /tmp")
    parser.add_argument("--probe-command", default="")
    parser.add_argument("--mcp-read", default="", help="the file E2E-MCP reads through the MCP server")
    parser.add_argument("--mcp-write", default="", help="the file E2E-MCP-RED tries to write through it")
    args = parser.parse_args()
    script = Script(args.red_command, args.amber_command, args.probe_command, args.mcp_read, args.mcp_write)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(script, args.log))
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    sys.stderr.write(f"mock_model: listening on 127.0.0.1:{server.server_address[1]}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
