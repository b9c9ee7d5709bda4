"""Where a profile's CPU went: a folded-stack file (inferno-collapse-perf) summed by thread
and by part of Warden's request path. Each sample counts once, under the first part (in the
order below) any frame of its stack belongs to. Used by bench/profile.sh."""

import collections
import sys

# (part, substrings of a frame that put a sample in it), first match wins.
PARTS = [
    ("console index (background)", ["index_trail"]),
    ("audit writer: SQLite", ["sqlite3", "sqlx_sqlite::connection::worker"]),
    ("audit writer: batching, chaining, hashing", ["warden_store::audit"]),
    ("policy: classification and DLP", ["warden_policy::"]),
    ("upstream client (hyper)", ["hyper_util::client", "hyper::client", "reqwest::"]),
    ("records and governance JSON", ["governance::records", "classification_facts", "into_event"]),
    ("JSON parse and serialise", ["serde_json"]),
    ("server (hyper, axum)", ["hyper::proto", "hyper::server", "hyper_util::server", "axum::"]),
    ("metrics, traces, logs", ["warden_gateway::metrics", "telemetry", "tracing_subscriber", "tracing_core"]),
    ("tokio scheduling and wake-ups", ["tokio::runtime", "futex", "schedule", "flume"]),
]


def main(path: str) -> None:
    threads: collections.Counter = collections.Counter()
    parts: collections.Counter = collections.Counter()
    total = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        threads[frames[0]] += n
        for part, keys in PARTS:
            if any(k in stack for k in keys):
                parts[part] += n
                break
        else:
            parts["other (allocation, copying, kernel, ...)"] += n
    if total == 0:
        print("no samples")
        return
    print(f"samples: {total}")
    print("by thread:")
    for name, n in threads.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("by part (first match in the order listed in profile_summary.py):")
    for name, n in parts.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main(sys.argv[1])
