"""First content byte of a slow stream, through Warden and straight from the agent.

Starts the stand-in agent streaming its reply four words a chunk, one chunk every
--chunk-delay-ms (default 50 ms), and Warden in front of it (SQLite, default policy, answer
governance on), both on 127.0.0.1. Sends --requests streamed chat requests one after another
to each and times, per request, the first byte of answer text (the first `"content"` delta
that is not empty) and the end of the stream. Prints p50/p90 of both and what Warden adds.

    python3 bench/first_byte.py [--bin target/release] [--requests 40] [--chunk-delay-ms 50]
"""

import argparse
import http.client
import json
import re
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPLY = (
    "Here is the summary of the governance policy you asked for. It covers who approves "
    "what, how long approvals last, and where the audit trail is kept. Ask if anything is unclear."
)
TOKEN = "first-byte-upstream-token"
# A delta that carries text (not the empty first chunk some agents send).
TEXT = re.compile(rb'"content":"[^"]')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, name: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not listen on {port}")


def one(port: int, key: str) -> tuple[float, float]:
    body = json.dumps({
        "model": "openclaw",
        "stream": True,
        "messages": [{"role": "user", "content": "Summarize our AI governance policy for internal use."}],
    })
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key}",
    })
    response = conn.getresponse()
    if response.status != 200:
        sys.exit(f"HTTP {response.status}: {response.read()[:300]!r}")
    first = None
    seen = b""
    while True:
        piece = response.read1(65536)
        if not piece:
            break
        seen += piece
        if first is None and TEXT.search(seen):
            first = time.perf_counter() - start
    end = time.perf_counter() - start
    conn.close()
    if b"[DONE]" not in seen or first is None:
        sys.exit(f"the stream did not carry text and end: {seen[-300:]!r}")
    return first * 1000, end * 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(root, "target", "release"))
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--chunk-delay-ms", type=int, default=50)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="warden-first-byte.")
    db = f"sqlite://{work}/w.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["WARDEN_LOG"] = "warn"
    key = subprocess.run(
        [f"{args.bin}/warden", "keys", "create", "--name", "fb", "--role", "requester", "--database-url", db],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()
    agent_port, warden_port = free_port(), free_port()
    procs = []
    try:
        agent = subprocess.Popen(
            [f"{args.bin}/warden-standin", "--listen", f"127.0.0.1:{agent_port}", "--token", TOKEN,
             "--chunk-delay-ms", str(args.chunk_delay_ms), "--reply", REPLY],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )
        procs.append(agent)
        warden = subprocess.Popen(
            [f"{args.bin}/warden", "serve", "--database-url", db, "--listen", f"127.0.0.1:{warden_port}",
             "--upstream", f"http://127.0.0.1:{agent_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
            env={**env, "WARDEN_UPSTREAM_TOKEN": TOKEN},
        )
        procs.append(warden)
        wait_port(agent_port, agent, "warden-standin")
        wait_port(warden_port, warden, "warden")
        rows = {}
        for name, port, auth in (("direct", agent_port, TOKEN), ("warden", warden_port, key)):
            one(port, auth)  # warm-up
            rows[name] = [one(port, auth) for _ in range(args.requests)]
        print(f"Slow stream: {len(REPLY.split())} words, 4 a chunk, one chunk every {args.chunk_delay_ms} ms; "
              f"{args.requests} requests each, one at a time")
        print()
        print("| target | first text byte p50 ms | p90 ms | stream end p50 ms | p90 ms |")
        print("|---|---:|---:|---:|---:|")
        for name, xs in rows.items():
            firsts, ends = [f for f, _ in xs], [e for _, e in xs]
            print(f"| {name} | {pct(firsts, 50):.2f} | {pct(firsts, 90):.2f} | {pct(ends, 50):.2f} | {pct(ends, 90):.2f} |")
        d = [f for f, _ in rows["direct"]]
        w = [f for f, _ in rows["warden"]]
        print()
        print(f"Added to the first text byte: p50 +{pct(w, 50) - pct(d, 50):.2f} ms, "
              f"mean +{statistics.fmean(w) - statistics.fmean(d):.2f} ms")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    main()
