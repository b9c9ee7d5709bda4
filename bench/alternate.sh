#!/usr/bin/env bash
# Two builds of Warden, alternated on one harness: for a small difference in CPU per request
# that a single side-by-side run of bench/run.sh cannot tell from the machine's own drift.
#
#   bash bench/alternate.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [ROUNDS] [SECONDS]
#
# Each directory holds a `warden` and a `warden-standin` (e.g. target/release, or the
# target/bench-rev/release that `BENCH_REV=… bench/run.sh` builds). Each round runs the old
# build, then the new one: a fresh trail (durability "process"), a 2 s warm-up, then `wrk`
# for SECONDS at BENCH_THREADS/BENCH_CONCURRENCY (default 2/16) on a JSON chat request.
# Prints requests per second and the gateway's CPU per request (user + system, from /proc).
# BENCH_BODY replaces the request body; BENCH_OLD_CONFIG and BENCH_NEW_CONFIG add TOML to each
# side's configuration (to compare two settings of one build, pass the same directory twice).
# Servers listen on 127.0.0.1 only and are stopped when the script exits.
set -euo pipefail

OLD=${1:?usage: alternate.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [ROUNDS] [SECONDS]}
NEW=${2:?usage: alternate.sh OLD_RELEASE_DIR NEW_RELEASE_DIR [ROUNDS] [SECONDS]}
ROUNDS=${3:-3}
SECONDS_EACH=${4:-8}
THREADS=${BENCH_THREADS:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-16}
STANDIN_PORT=${BENCH_STANDIN_PORT:-18801}
WARDEN_PORT=${BENCH_WARDEN_PORT:-18802}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "alternate.sh: wrk is not installed" >&2; exit 1; }
TICK=$(getconf CLK_TCK)

wait_for_port() {
  for _ in $(seq 1 100); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "alternate.sh: nothing listens on $1" >&2
  exit 1
}

one_run() {
  local bin=$1 db="$WORK/w.db"
  rm -f "$db"*
  "$bin/warden-standin" --listen "127.0.0.1:$STANDIN_PORT" --token tok >"$WORK/standin.log" 2>&1 &
  local standin=$!
  PIDS+=("$standin")
  printf '[store]\ndurability = "process"\n%b\n' "$3" >"$WORK/w.toml"
  local key
  key=$("$bin/warden" keys create --name bench --role requester --database-url "sqlite://$db")
  WARDEN_UPSTREAM_TOKEN=tok WARDEN_LOG=warn "$bin/warden" serve --listen "127.0.0.1:$WARDEN_PORT" \
    --database-url "sqlite://$db" --upstream "http://127.0.0.1:$STANDIN_PORT" \
    --config "$WORK/w.toml" >"$WORK/warden.log" 2>&1 &
  local warden=$!
  PIDS+=("$warden")
  wait_for_port "$STANDIN_PORT"
  wait_for_port "$WARDEN_PORT"
  export BENCH_AUTH=$key
  export BENCH_BODY=${BENCH_BODY:-'{"model":"openclaw","stream":false,"messages":[{"role":"user","content":"Summarize our AI governance policy for internal use."}]}'}
  local url="http://127.0.0.1:$WARDEN_PORT/v1/chat/completions"
  timeout 30 wrk -t"$THREADS" -c"$CONCURRENCY" -d2s -s "$ROOT/bench/post.lua" "$url" >/dev/null
  local before after rps
  before=$(awk '{print $14 + $15}' "/proc/$warden/stat")
  rps=$(timeout $((SECONDS_EACH + 30)) wrk -t"$THREADS" -c"$CONCURRENCY" -d"${SECONDS_EACH}s" \
    -s "$ROOT/bench/post.lua" "$url" | awk '/Requests\/sec/ {print $2}')
  after=$(awk '{print $14 + $15}' "/proc/$warden/stat")
  kill "$warden" "$standin"
  wait "$warden" "$standin" 2>/dev/null || true
  PIDS=()
  awk -v rps="$rps" -v ticks=$((after - before)) -v hz="$TICK" -v s="$SECONDS_EACH" -v name="$2" \
    'BEGIN { printf "%-4s %9.0f req/s %7.1f us CPU/req\n", name, rps, ticks * 1e6 / hz / (rps * s) }'
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  one_run "$OLD" old "${BENCH_OLD_CONFIG:-}"
  one_run "$NEW" new "${BENCH_NEW_CONFIG:-}"
done
