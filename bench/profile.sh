#!/usr/bin/env bash
# Profiles the release `warden` binary under load: starts the stand-in agent and Warden on
# loopback, drives JSON (or SSE) requests at concurrency 16 with wrk, samples Warden with
# `perf record` (DWARF call graphs) in the middle of the run, and writes a flame graph (SVG,
# inferno) plus a summary of where the CPU went, by thread and by part of the request path.
#
#   bash bench/profile.sh NAME                 # -> bench/flamegraphs/NAME.svg and NAME.txt
#   PROFILE_STREAM=sse bash bench/profile.sh NAME-sse
#
# Knobs: PROFILE_STREAM (json|sse), PROFILE_CONC (16), PROFILE_SECONDS (sampled, 6),
# PROFILE_FREQ (Hz, 499), PROFILE_DURABILITY (process|fsync), PROFILE_CONFIG (extra TOML
# appended to Warden's config), BENCH_SKIP_BUILD=1 (use the binaries in target/release),
# PROFILE_BIN_DIR (profile the binaries in that folder instead, e.g. an older build; no build),
# PROFILE_LABEL (the build's name in the title; default the checkout's commit).
# Every server listens on 127.0.0.1; the load is bounded by wrk's -d; everything started here
# is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=${1:?usage: bench/profile.sh NAME}
STREAM=${PROFILE_STREAM:-json}
CONC=${PROFILE_CONC:-16}
SECONDS_SAMPLED=${PROFILE_SECONDS:-6}
FREQ=${PROFILE_FREQ:-499}
DURABILITY=${PROFILE_DURABILITY:-process}
OUT_DIR="$ROOT/bench/flamegraphs"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN_DIR=${PROFILE_BIN_DIR:-$TARGET_DIR/release}
WARDEN="$BIN_DIR/warden"
STANDIN="$BIN_DIR/warden-standin"
TOKEN="profile-upstream-token"

log() { printf '[profile %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v perf >/dev/null || die "perf is missing (apt-get install linux-perf)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
if ! command -v inferno-flamegraph >/dev/null; then
  log "cargo install inferno (flame graphs)"
  cargo install --locked inferno >&2
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 && -z "${PROFILE_BIN_DIR:-}" ]]; then
  log "cargo build --release -p warden"
  (cd "$ROOT" && cargo build --release -p warden) >&2
fi

WORK=$(mktemp -d /tmp/warden-profile.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -eq 0 ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on port $1"
}

unset WARDEN_CONFIG WARDEN_DATABASE_URL WARDEN_LISTEN WARDEN_UPSTREAM RUST_LOG
export WARDEN_LOG=info NO_COLOR=1
KEY=$("$WARDEN" keys create --name profile --role requester --database-url "sqlite://$WORK/w.db" 2>/dev/null | tr -d '[:space:]')
STANDIN_PORT=$(free_port)
"$STANDIN" --listen "127.0.0.1:$STANDIN_PORT" --token "$TOKEN" >/dev/null 2>"$WORK/standin.log" &
PIDS+=($!)
printf '[store]\ndurability = "%s"\n%s\n' "$DURABILITY" "${PROFILE_CONFIG:-}" >"$WORK/warden.toml"
WARDEN_PORT=$(free_port)
WARDEN_UPSTREAM_TOKEN=$TOKEN "$WARDEN" serve --config "$WORK/warden.toml" \
  --database-url "sqlite://$WORK/w.db" --listen "127.0.0.1:$WARDEN_PORT" \
  --upstream "http://127.0.0.1:$STANDIN_PORT" >/dev/null 2>"$WORK/warden.log" &
WARDEN_PID=$!
PIDS+=("$WARDEN_PID")
wait_port "$STANDIN_PORT"
wait_port "$WARDEN_PORT"

PROMPT="Summarize our AI governance policy for internal use."
if [[ $STREAM == sse ]]; then
  BENCH_BODY="{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}],\"stream\":true}"
else
  BENCH_BODY="{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}]}"
fi
export BENCH_BODY BENCH_AUTH=$KEY
URL="http://127.0.0.1:$WARDEN_PORT/v1/chat/completions"
threads=2
((CONC < 2)) && threads=1

log "warm-up"
timeout 30 wrk -t"$threads" -c"$CONC" -d2s -s "$ROOT/bench/post.lua" "$URL" >/dev/null
LOAD_SECONDS=$((SECONDS_SAMPLED + 4))
log "load for ${LOAD_SECONDS}s at c=$CONC ($STREAM), perf for ${SECONDS_SAMPLED}s at ${FREQ} Hz"
timeout $((LOAD_SECONDS + 30)) wrk -t"$threads" -c"$CONC" -d"${LOAD_SECONDS}s" -s "$ROOT/bench/post.lua" "$URL" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
sleep 2
ticks0=$(awk '{ print $14 + $15 }' "/proc/$WARDEN_PID/stat")
perf record -q -F "$FREQ" --call-graph dwarf,16384 -p "$WARDEN_PID" -o "$WORK/perf.data" -- sleep "$SECONDS_SAMPLED" 2>"$WORK/perf.log" || true
ticks1=$(awk '{ print $14 + $15 }' "/proc/$WARDEN_PID/stat")
wait "$WRK_PID" || die "wrk failed: $(cat "$WORK/wrk.txt")"
grep -q 'non2xx=0 connect=0 read=0 write=0 timeout=0' "$WORK/wrk.txt" ||
  die "errors during the load: $(grep BENCH_RESULT "$WORK/wrk.txt")"

mkdir -p "$OUT_DIR"
FOLDED="$TARGET_DIR/profile/$NAME.folded"
mkdir -p "$(dirname "$FOLDED")"
perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf >"$FOLDED"
# Frames narrower than half a pixel are left out: the SVG stays small enough to commit.
LABEL=${PROFILE_LABEL:-$(git -C "$ROOT" rev-parse --short HEAD)}
inferno-flamegraph --minwidth 0.5 --title "warden, $STREAM, c=$CONC, $LABEL" \
  <"$FOLDED" >"$OUT_DIR/$NAME.svg"
{
  echo "# $NAME: $STREAM at c=$CONC, durability $DURABILITY, build $LABEL"
  echo "# load: $(grep -E 'Requests/sec' "$WORK/wrk.txt" | tr -s ' ')"
  echo "# warden CPU while sampled (perf's own cost included): $(( (ticks1 - ticks0) * 10 )) ms over ${SECONDS_SAMPLED}s"
  python3 "$ROOT/bench/profile_summary.py" "$FOLDED"
} | tee "$OUT_DIR/$NAME.txt"
log "flame graph: $OUT_DIR/$NAME.svg (folded stacks: $FOLDED)"
