#!/usr/bin/env bash
# How long the operators' console takes to make its pages, side by side in one run: the same
# pages on an empty store (keys only) and on a store whose audit trail holds RECORDS records.
# The figure is the gateway's own `Server-Timing: app;dur=<ms>` header (the requirement: every
# page under 50 ms server-side with 1 million records); curl's time_total is shown beside it.
#
#   bash bench/console.sh [RECORDS] [REPEATS]     (defaults 1000000 and 30; about 2-3 minutes after the build)
#
# The full store is written straight into SQLite by bench/console_fill.py (the real schema and
# keys from `warden migrate` / `warden keys create`, a valid hash chain, the gateway's payload
# shapes, approvals with ~200 pending), checked with `warden audit verify` (timed), then served
# by `warden serve`, whose background indexer builds the console's index from the trail (timed,
# until `audit_index_state.indexed_seq` reaches the last record). Each page: 2 warm-ups, then
# REPEATS requests one after another, signed in as the admin (or the acme auditor or approver),
# with curl.
# Prints a markdown table (p50 / p90 / max of Server-Timing in ms, empty and full; curl's p50 on
# full; HTTP codes) and the other figures. Everything listens on 127.0.0.1; every process is
# stopped and the temp folder removed at the end (BENCH_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-1000000}
REPEATS=${2:-30}
ROOT=$PWD
INDEX_TIMEOUT=${BENCH_INDEX_TIMEOUT:-420}
cargo build --release -q -p warden
WARDEN=$ROOT/target/release/warden
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
json_get() { # json_get FILE KEY...: a value of a JSON file, "" when missing
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v.get(k, "") if isinstance(v, dict) else ""
print(v)' "$@"
}
sql() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$@"; }
log() { echo "[console.sh] $*" >&2; }

cat >"$WORK/warden.toml" <<'TOML'
[console]

[upstream]
url = "http://127.0.0.1:9"
TOML
# The token only quiets serve's warning: nothing listens upstream, and console pages never go there.
export WARDEN_UPSTREAM_TOKEN=x WARDEN_LOG=${BENCH_WARDEN_LOG:-warn}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- The stores.
mkdir -p "$WORK/empty" "$WORK/full"
python3 bench/console_fill.py --warden "$WARDEN" --db "$WORK/empty/warden.db" --out "$WORK/empty" --records 0 2>/dev/null
log "generating $RECORDS records..."
T0=$(now)
python3 bench/console_fill.py --warden "$WARDEN" --db "$WORK/full/warden.db" --out "$WORK/full" --records "$RECORDS" 2>"$WORK/fill.json"
FILL_S=$(since "$T0")
log "generated in ${FILL_S}s: $(tail -1 "$WORK/fill.json")"
T0=$(now)
VERIFY_OUT=$("$WARDEN" audit verify --database-url "sqlite://$WORK/full/warden.db" 2>&1 | tail -1)
VERIFY_S=$(since "$T0")
[[ $VERIFY_OUT == ok:* ]] || { echo "audit verify failed: $VERIFY_OUT" >&2; exit 1; }
log "verified in ${VERIFY_S}s: $VERIFY_OUT"
DB_MB=$(python3 -c 'import os,sys; print(round(os.path.getsize(sys.argv[1]) / 2**20))' "$WORK/full/warden.db")

# ---- Serving.
WPID=
BASE=
serve() { # serve STORE: starts warden on STORE's database, waits for /healthz
    local port
    port=$(free_port)
    (cd "$WORK" && exec "$WARDEN" serve --listen "127.0.0.1:$port" --database-url "sqlite://$WORK/$1/warden.db" \
        --config "$WORK/warden.toml" >"$WORK/$1/serve.log" 2>&1) &
    WPID=$!
    PIDS+=("$WPID")
    BASE=http://127.0.0.1:$port
    for _ in $(seq 300); do
        curl -s -o /dev/null --max-time 1 "$BASE/healthz" && return 0
        kill -0 "$WPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "warden serve did not start:" >&2
    tail -20 "$WORK/$1/serve.log" >&2
    exit 1
}
stop() {
    kill "$WPID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$WPID" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$WPID" 2>/dev/null || true
}
sign_in() { # sign_in JAR KEY: a console session in cookie jar JAR
    local csrf code
    csrf=$(curl -s --max-time 10 -c "$1" "$BASE/console/sign-in" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -b "$1" -c "$1" "$BASE/console/sign-in" \
        --data-urlencode "csrf=$csrf" --data-urlencode "key=$2" --data-urlencode "next=/console/policy")
    [[ $code == 303 ]] && grep -q 'warden_console[[:space:]]' "$1" || { echo "sign-in failed ($code)" >&2; exit 1; }
}
csrf_of() { # the session's CSRF token, from a signed-in page
    curl -s --max-time 10 -b "$1" "$BASE/console/policy" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'
}
time_page() { # time_page STORE JAR LABEL PATH [curl args...]: 2 warm-ups, REPEATS timed
    local store=$1 jar=$2 label=$3 path=$4 i out
    shift 4
    for i in $(seq $((REPEATS + 2))); do
        out=$(curl -s -o /dev/null --max-time 30 -b "$jar" -w '%{http_code}\t%header{server-timing}\t%{time_total}' "$@" "$BASE$path")
        ((i > 2)) && printf '%s\t%s\t%s\n' "$store" "$label" "$out" >>"$WORK/times.tsv"
    done
    return 0
}
pages() { # pages STORE: every page, as the admin and as the acme auditor
    local store=$1 admin=$WORK/$1/admin.jar auditor=$WORK/$1/auditor.jar approver=$WORK/$1/approver.jar csrf
    sign_in "$admin" "$(json_get "$WORK/$store/keys.json" admin key)"
    sign_in "$auditor" "$(json_get "$WORK/$store/keys.json" auditor-acme key)"
    sign_in "$approver" "$(json_get "$WORK/$store/keys.json" approver-acme key)"
    csrf=$(csrf_of "$admin")
    time_page "$store" "$admin" "/console/approvals" "/console/approvals"
    time_page "$store" "$admin" "/console/approvals/{pending id}" "/console/approvals/$PENDING"
    time_page "$store" "$admin" "/console/traces" "/console/traces"
    time_page "$store" "$admin" "/console/traces?risk=red" "/console/traces?risk=red"
    time_page "$store" "$admin" "/console/traces?status=blocked&rule=$RULE" "/console/traces?status=blocked&rule=$RULE"
    time_page "$store" "$admin" "/console/traces?key=$KEYNAME" "/console/traces?key=$KEYNAME"
    time_page "$store" "$admin" "/console/traces?tool=exec" "/console/traces?tool=exec"
    time_page "$store" "$admin" "/console/traces?trace={id}" "/console/traces?trace=$TRACE"
    time_page "$store" "$admin" "/console/traces?before={cursor}" "$OLDER"
    time_page "$store" "$admin" "/console/traces/{id}" "/console/traces/$TRACE"
    time_page "$store" "$admin" "/console/overview?range=24h" "/console/overview?range=24h"
    time_page "$store" "$admin" "/console/overview?range=7d" "/console/overview?range=7d"
    time_page "$store" "$admin" "/console/overview?range=30d" "/console/overview?range=30d"
    time_page "$store" "$admin" "/console/policy" "/console/policy"
    time_page "$store" "$admin" "/console/keys" "/console/keys"
    time_page "$store" "$admin" "POST /console/policy (playground)" "/console/policy" \
        --data-urlencode "csrf=$csrf" --data-urlencode "text=Send the Q3 revenue report to the board and transfer 5000 EUR to the vendor."
    time_page "$store" "$admin" "/console/traces/export?format=csv&trace={id}" "/console/traces/export?format=csv&trace=$TRACE"
    time_page "$store" "$auditor" "auditor: /console/traces?risk=amber" "/console/traces?risk=amber"
    time_page "$store" "$auditor" "auditor: /console/overview?range=30d" "/console/overview?range=30d"
    time_page "$store" "$approver" "approver: /console/approvals" "/console/approvals"
    time_page "$store" "$approver" "approver: /console/approvals?status=all" "/console/approvals?status=all"
}

PENDING=$(json_get "$WORK/full/samples.json" pending_approval)
TRACE=$(json_get "$WORK/full/samples.json" trace)
RULE=$(json_get "$WORK/full/samples.json" rule)
KEYNAME=$(json_get "$WORK/full/samples.json" key)

# Full store first: the indexer's catch-up is timed from the start of `warden serve`.
LAST=$(sql "$WORK/full/warden.db" "SELECT MAX(seq) FROM audit_events")
T0=$(now)
serve full
log "warden serve up after $(since "$T0")s; waiting for the indexer to reach record $LAST"
INDEXED=0
for _ in $(seq $((INDEX_TIMEOUT * 2))); do
    INDEXED=$(sql "$WORK/full/warden.db" "SELECT indexed_seq FROM audit_index_state WHERE id = 1")
    ((INDEXED >= LAST)) && break
    sleep 0.5
done
INDEX_S=$(since "$T0")
((INDEXED >= LAST)) || { echo "the indexer reached only $INDEXED of $LAST in ${INDEX_S}s" >&2; exit 1; }
TRACES=$(sql "$WORK/full/warden.db" "SELECT COUNT(*) FROM audit_traces")
ROLLUP=$(sql "$WORK/full/warden.db" "SELECT COUNT(*) FROM audit_rollup")
log "indexed $LAST records ($TRACES traces, $ROLLUP hourly counts) in ${INDEX_S}s"
sign_in "$WORK/full/probe.jar" "$(json_get "$WORK/full/keys.json" admin key)"
OLDER=$(curl -s --max-time 30 -b "$WORK/full/probe.jar" "$BASE/console/traces" | grep -o 'id="older" href="[^"]*"' | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
[[ -n $OLDER ]] || { echo "no 'Older traces' link on the full store's first page" >&2; exit 1; }
log "timing pages on the full store..."
pages full
stop

serve empty
log "timing pages on the empty store..."
pages empty
stop

# ---- The report.
python3 - "$WORK/times.tsv" "$RECORDS" "$REPEATS" "$WORK/fill.json" "$FILL_S" "$INDEX_S" "$LAST" "$TRACES" \
    "$ROLLUP" "$VERIFY_S" "$VERIFY_OUT" "$DB_MB" "$(nproc)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (uncommitted changes in crates/)')" <<'PY'
import json, sys, time
(times, records, repeats, fill, fill_s, index_s, last, traces, rollup, verify_s, verify_out, db_mb, cores, load0,
 load, rev) = sys.argv[1:]
rows, order = {}, []
for line in open(times):
    store, label, code, timing, total = line.rstrip("\n").split("\t")
    ms = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
    if label not in rows:
        rows[label] = {"empty": [], "full": []}
        order.append(label)
    rows[label][store].append((ms, float(total) * 1000, code))

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))] if xs else float("nan")

stats = json.loads(open(fill).read().strip().splitlines()[-1])
date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
print(f"## Console pages, {int(records):,} records vs empty, {repeats} requests each")
print()
print(f"Code {rev}; {cores} cores; load average {load0} at the start, {load} at the end; {date}.")
print()
print("Server-Timing (ms, the gateway's own time to make the page), curl time_total p50 (ms) on full:")
print()
print("| page | empty p50 | p90 | max | full p50 | p90 | max | full curl p50 | HTTP empty / full |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
over = {"p50": [], "p90": [], "max": []}
for label in order:
    e, f = rows[label]["empty"], rows[label]["full"]
    es, fs = [x[0] for x in e], [x[0] for x in f]
    codes = lambda xs: ",".join(sorted({x[2] for x in xs})) or "-"
    print(f"| `{label}` | {pct(es, .5):.2f} | {pct(es, .9):.2f} | {max(es, default=float('nan')):.2f} | "
          f"{pct(fs, .5):.2f} | {pct(fs, .9):.2f} | {max(fs, default=float('nan')):.2f} | "
          f"{pct([x[1] for x in f], .5):.2f} | {codes(e)} / {codes(f)} |")
    for name, v in (("p50", pct(fs, .5)), ("p90", pct(fs, .9)), ("max", max(fs, default=0))):
        if v >= 50:
            over[name].append(f"`{label}` ({v:.1f} ms)")
print()
print("On the empty store the approval and trace ids (taken from the full store) name nothing: those pages are its 404 page.")
print()
n = int(last)
print(f"- Generating the full store (bench/console_fill.py: migrate, keys, {stats['records']:,} records in "
      f"{stats.get('traces', 0):,} traces, approvals {stats.get('approvals')}, one transaction): {float(fill_s):.1f} s "
      f"({stats['records'] / float(fill_s):,.0f} records/s; the fill's own count, keys excluded: "
      f"{stats.get('records_per_s', 0):,} records/s). Database {db_mb} MiB.")
print(f"- Warden's background indexer, from the start of `warden serve` until `indexed_seq` = {n:,}: "
      f"{float(index_s):.1f} s ({n / float(index_s):,.0f} records/s) -> {int(traces):,} rows in audit_traces, "
      f"{int(rollup):,} in audit_rollup.")
print(f"- `warden audit verify` on the full trail: {float(verify_s):.1f} s ({verify_out}).")
for name in ("p50", "p90", "max"):
    print(f"- Pages at or over 50 ms on the full store at {name}: " + (", ".join(over[name]) or "none") + ".")
PY
