#!/usr/bin/env python3
"""A command-line MCP client built on the official Python SDK (`mcp` on PyPI), for Warden's tests.

Usage:
  mcp_client.py URL [--key KEY] list
  mcp_client.py URL [--key KEY] call TOOL 'JSON_ARGS' [--timing N]
  mcp_client.py URL [--key KEY] script FILE.json
  mcp_client.py --stdio [--cwd DIR] -- COMMAND [ARGS...] (list | call ... | script ...)

Each operation prints one JSON line on stdout:
  list    {"tools": [{"name", "description", "inputSchema"}...], "server": {"name", "version"},
           "protocolVersion", "instructions"}
  call    {"ok": true, "isError", "content", "structuredContent"}, or on a JSON-RPC error
          {"ok": false, "code", "message", "data"}
  --timing N: the call once to warm up, then N times, timed:
          {"ok": true, "n", "p50_ms", "p90_ms", "mean_ms"} (or the error object of the first failure)
  script  a JSON array of steps run in ONE session, one line per step:
          {"op": "list"}, {"op": "call", "tool", "args"}, {"op": "sleep", "seconds"},
          {"op": "notifications"} -> {"notifications": [method, ...]}, the server notifications
          received so far (e.g. "notifications/tools/list_changed").

A JSON-RPC error answering the handshake itself (e.g. a gateway refusing a missing key) prints
the error object with "stage": "initialize" instead of the operation's line(s).

Over HTTP the streamable-HTTP transport is used; --key is sent as `Authorization: Bearer KEY`.
Exit status: 0 when every operation ran (a JSON-RPC error is an answer, not a failure), 2 on
anything else (connection failure, timeout, bad arguments), with the error on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import anyio

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import PaginatedRequestParams

# The bound on every single operation (connecting, initializing, one request).
OP_TIMEOUT = 30.0


def dump(model: Any) -> Any:
    """A pydantic model as the JSON the wire carried (camelCase names, no absent fields)."""
    if model is None:
        return None
    if hasattr(model, "model_dump"):
        return model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return model


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error_line(e: MCPError) -> dict[str, Any]:
    return {"ok": False, "code": e.error.code, "message": e.error.message, "data": e.error.data}


class Driver:
    def __init__(self, session: ClientSession, init: Any) -> None:
        self.session = session
        self.init = init

    async def list(self) -> dict[str, Any]:
        tools: list[dict[str, Any]] = []
        cursor = None
        while True:
            try:
                with anyio.fail_after(OP_TIMEOUT):
                    params = None if cursor is None else PaginatedRequestParams(cursor=cursor)
                    page = await self.session.list_tools(params=params)
            except MCPError as e:
                return error_line(e)
            for t in page.tools:
                tools.append(
                    {"name": t.name, "description": t.description, "inputSchema": t.input_schema}
                )
            cursor = page.next_cursor
            if not cursor:
                break
        info = self.init.server_info
        return {
            "tools": tools,
            "server": {"name": info.name, "version": info.version},
            "protocolVersion": self.init.protocol_version,
            "instructions": self.init.instructions,
        }

    async def call(self, tool: str, args: dict[str, Any] | None) -> dict[str, Any]:
        try:
            with anyio.fail_after(OP_TIMEOUT):
                r = await self.session.call_tool(tool, args, read_timeout_seconds=OP_TIMEOUT)
        except MCPError as e:
            return error_line(e)
        return {
            "ok": True,
            "isError": bool(r.is_error),
            "content": [dump(c) for c in r.content],
            "structuredContent": r.structured_content,
        }

    async def timing(self, tool: str, args: dict[str, Any] | None, n: int) -> dict[str, Any]:
        first = await self.call(tool, args)
        if not first["ok"]:
            return first
        times: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            r = await self.call(tool, args)
            times.append((time.perf_counter() - start) * 1000.0)
            if not r["ok"]:
                return r
        ordered = sorted(times)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

        return {
            "ok": True,
            "n": n,
            "p50_ms": round(statistics.median(ordered), 3),
            "p90_ms": round(pct(0.9), 3),
            "mean_ms": round(statistics.fmean(ordered), 3),
        }


@asynccontextmanager
async def connect(opts: argparse.Namespace, seen: list[str]) -> AsyncIterator[Driver | None]:
    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            return
        method = getattr(message, "method", None)
        if method is None:
            method = getattr(getattr(message, "root", None), "method", None)
        if method:
            seen.append(method)

    if opts.stdio:
        params = StdioServerParameters(command=opts.url, args=opts.command_args, cwd=opts.cwd)
        transport = stdio_client(params)
        http = None
    else:
        headers = {"Authorization": f"Bearer {opts.key}"} if opts.key is not None else None
        http = create_mcp_http_client(headers=headers)
        transport = streamable_http_client(opts.url, http_client=http)

    async with http if http is not None else _null():
        async with transport as (read, write):
            async with ClientSession(
                read, write, read_timeout_seconds=OP_TIMEOUT, message_handler=on_message
            ) as session:
                try:
                    with anyio.fail_after(OP_TIMEOUT):
                        init = await session.initialize()
                except MCPError as e:
                    # Refused at the handshake (e.g. Warden answering 401 without a key): an
                    # answer, printed once like any other, instead of the operation's own line.
                    emit({**error_line(e), "stage": "initialize"})
                    yield None
                    return
                yield Driver(session, init)


@asynccontextmanager
async def _null() -> AsyncIterator[None]:
    yield None


async def run(opts: argparse.Namespace) -> None:
    seen: list[str] = []
    async with connect(opts, seen) as d:
        if d is None:
            return
        if opts.op == "list":
            emit(await d.list())
        elif opts.op == "call":
            args = json.loads(opts.args) if opts.args else None
            if opts.timing:
                emit(await d.timing(opts.tool, args, opts.timing))
            else:
                emit(await d.call(opts.tool, args))
        elif opts.op == "script":
            with open(opts.file, encoding="utf-8") as f:
                steps = json.load(f)
            for step in steps:
                op = step.get("op")
                if op == "list":
                    emit(await d.list())
                elif op == "call":
                    emit(await d.call(step["tool"], step.get("args")))
                elif op == "sleep":
                    await anyio.sleep(float(step.get("seconds", 1)))
                    emit({"ok": True, "slept": step.get("seconds", 1)})
                elif op == "notifications":
                    emit({"notifications": list(seen)})
                else:
                    raise ValueError(f"unknown script op: {op!r}")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--key", default=None, help="sent as Authorization: Bearer KEY")
    p.add_argument("--stdio", action="store_true", help="spawn the server given after -- and talk stdio")
    p.add_argument("--cwd", default=None, help="with --stdio, the server's working directory")
    command: list[str] = []
    if "--" in argv:
        # --stdio [--cwd DIR] -- COMMAND [ARGS...] OP ...: the command ends at the first op word
        # after the program (list, call or script).
        cut = argv.index("--")
        rest = argv[cut + 1 :]
        op_at = next((i for i, a in enumerate(rest) if i > 0 and a in ("list", "call", "script")), None)
        if op_at is None:
            p.error("-- COMMAND [ARGS...] must be followed by an operation (list, call, script)")
        command = rest[:op_at]
        argv = argv[:cut] + [command[0]] + rest[op_at:]
    p.add_argument("url", help="the MCP endpoint's URL (with --stdio: the server's program)")
    sub = p.add_subparsers(dest="op", required=True)
    sub.add_parser("list")
    c = sub.add_parser("call")
    c.add_argument("tool")
    c.add_argument("args", nargs="?", default=None, help="the arguments, a JSON object")
    c.add_argument("--timing", type=int, default=0, help="run the call N times after a warm-up")
    s = sub.add_parser("script")
    s.add_argument("file")
    opts = p.parse_args(argv)
    if opts.stdio and not command:
        p.error("--stdio needs -- COMMAND [ARGS...] before the operation")
    opts.command_args = command[1:]
    return opts


def main() -> int:
    opts = parse(sys.argv[1:])
    try:
        anyio.run(run, opts)
    except BaseException as e:  # noqa: BLE001 - any failure is exit 2 with the reason on stderr
        if isinstance(e, KeyboardInterrupt):
            raise
        if isinstance(e, SystemExit):
            raise
        # Task groups wrap failures; show the innermost ones.
        leaves = list(_leaves(e))
        for leaf in leaves:
            print(f"mcp_client: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        return 2
    return 0


def _leaves(e: BaseException) -> Any:
    if isinstance(e, BaseExceptionGroup):
        for sub in e.exceptions:
            yield from _leaves(sub)
    else:
        yield e


if __name__ == "__main__":
    sys.exit(main())
