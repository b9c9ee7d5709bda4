#!/usr/bin/env bash
# Fleet benchmark: one, then two `warden serve` replicas on one fresh PostgreSQL database, in
# front of the stand-in agent, under the same wrk load (-t2 -c16 JSON; with two replicas each
# wrk thread drives one). Reports throughput and latency per replica count side by side, then
# verifies the one chain both replicas wrote and compares its decision records with the
# requests wrk completed. See bench/README.md.
#
# Every server listens on 127.0.0.1 only; every wrk run is bounded by -d and by `timeout`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
MODE=${BENCH_MODES:-fsync}               # warden durability for every replica
PG_SERVER=${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
# Emulates a slower WAL disk (networked storage): each flush first waits this many µs
# (PostgreSQL's commit_delay with commit_siblings = 0, set on the benchmark's database only).
COMMIT_DELAY_US=${BENCH_PG_COMMIT_DELAY_US:-0}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
UPSTREAM_TOKEN="bench-upstream-token"
BODY='{"model":"openclaw","messages":[{"role":"user","content":"Summarize our AI governance policy for internal use."}]}'

log() { printf '[fleet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in wrk curl psql timeout; do command -v "$tool" >/dev/null || die "$tool is missing"; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/warden-fleet.XXXXXX")
PIDS=()
PG_DB="warden_fleet_$$"
cleanup() {
  local rc=$?
  trap - EXIT
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  if ((rc == 0)); then rm -rf "$WORK"; else log "logs kept in $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

if [[ $SKIP_BUILD != 1 ]]; then
  log "cargo build --release -p warden -p warden-standin"
  (cd "$ROOT" && cargo build --release --quiet -p warden -p warden-standin)
fi
WARDEN="$TARGET_DIR/release/warden"
STANDIN="$TARGET_DIR/release/warden-standin"

wait_listening() { # pid logfile -> host:port
  local pid=$1 logfile=$2 addr i
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2; die "process $pid exited"; }
    addr=$(sed 's/\x1b\[[0-9;]*m//g' "$logfile" | grep -o 'listening on 127\.0\.0\.1:[0-9]\+' | tail -n 1 | sed 's/^listening on //' || true)
    [[ -n "$addr" ]] && { echo "$addr"; return 0; }
    sleep 0.1
  done
  die "process $pid did not listen"
}

psql -X -q -v ON_ERROR_STOP=1 "$PG_SERVER/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null ||
  die "cannot create a database on $PG_SERVER"
DB_URL="$PG_SERVER/$PG_DB"
if ((COMMIT_DELAY_US > 0)); then
  psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" -c "ALTER DATABASE $PG_DB SET commit_delay = $COMMIT_DELAY_US" \
    -c "ALTER DATABASE $PG_DB SET commit_siblings = 0" >/dev/null
fi
printf '[store]\ndurability = "%s"\n' "$MODE" >"$WORK/warden.toml"

"$STANDIN" --listen 127.0.0.1:0 --token "$UPSTREAM_TOKEN" 2>"$WORK/standin.log" >/dev/null &
PIDS+=($!)
STANDIN_ADDR=$(wait_listening "${PIDS[-1]}" "$WORK/standin.log")
# Every process started from here on is stopped at exit, replicas included.
"$WARDEN" migrate --database-url "$DB_URL" >/dev/null
KEY=$("$WARDEN" keys create --name bench --role requester --database-url "$DB_URL" 2>/dev/null)

start_replica() { # index; appends its address to TARGETS (in this shell, so its pid is kept)
  local i=$1
  WARDEN_UPSTREAM_TOKEN="$UPSTREAM_TOKEN" WARDEN_LOG=warn,warden=info "$WARDEN" serve --config "$WORK/warden.toml" \
    --database-url "$DB_URL" --listen 127.0.0.1:0 --upstream "http://$STANDIN_ADDR" \
    2>"$WORK/warden-$i.log" >/dev/null &
  PIDS+=($!)
  TARGETS+=("$(wait_listening "$!" "$WORK/warden-$i.log")")
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
TOTAL_REQUESTS=0
export BENCH_BODY="$BODY" BENCH_AUTH="$KEY" BENCH_LUA_DIR="$ROOT/bench"
TARGETS=()
for replicas in 1 2; do
  while ((${#TARGETS[@]} < replicas)); do start_replica ${#TARGETS[@]}; done
  for t in "${TARGETS[@]}"; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' --data-binary "$BODY" "http://$t/v1/chat/completions")
    [[ $code == 200 ]] || die "replica $t answered $code"
    TOTAL_REQUESTS=$((TOTAL_REQUESTS + 1))
  done
  export BENCH_TARGETS="${TARGETS[*]}"
  for phase in warmup measured; do
    d=$([[ $phase == warmup ]] && echo "$WARMUP" || echo "$DURATION")
    out="$WORK/wrk-$replicas-$phase.txt"
    timeout -k 5 120 wrk -t2 -c16 -d"$d" --timeout 5s --latency -s "$ROOT/bench/fleet.lua" \
      "http://${TARGETS[0]}/v1/chat/completions" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
    line=$(grep '^BENCH_RESULT ' "$out" | tail -n 1)
    requests=0 duration_us=0 non2xx=0 connect=0 read=0 write=0 timeout=0 p50_us=0 p99_us=0 mean_us=0 max_us=0
    eval "$(echo "${line#BENCH_RESULT }" | tr ' ' '\n' | grep -E '^[a-z0-9_]+=[0-9.]+$')"
    ((non2xx + connect + read + write + timeout == 0)) || { cat "$out" >&2; die "errors during the run"; }
    TOTAL_REQUESTS=$((TOTAL_REQUESTS + requests))
    if [[ $phase == measured ]]; then
      rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
      printf '%s\t%s\t%s\t%s\n' "$replicas" "$rps" "$p50_us" "$p99_us" >>"$RESULTS"
      log "$replicas replica(s): $rps req/s, p50 $p50_us us, p99 $p99_us us"
    fi
  done
done

# Stop the replicas gracefully (they commit what they queued), then check the chain.
for pid in "${PIDS[@]:1}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]:1}"; do wait "$pid" || true; done
PIDS=("${PIDS[0]}")
VERIFY=$("$WARDEN" audit verify --database-url "$DB_URL")
DECISIONS=$(psql -X -At "$DB_URL" -c "SELECT COUNT(*) FROM audit_events WHERE stage = 'classification'")

echo "## Fleet benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "- machine: $(nproc) CPUs; PostgreSQL, the replicas, the stand-in and wrk share them"
echo "- code: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet || echo ' + uncommitted edits')"
echo "- durability: $MODE; WAL flush delayed by ${COMMIT_DELAY_US} µs (commit_delay); wrk -t2 -c16 -d $DURATION after a $WARMUP warm-up, JSON"
echo
echo "| replicas | req/s | p50 ms | p99 ms | req/s vs one replica |"
echo "|---:|---:|---:|---:|---:|"
awk -F'\t' 'NR == 1 { base = $2 } { printf "| %s | %s | %.3f | %.3f | %.2f |\n", $1, $2, $3 / 1000, $4 / 1000, $2 / base }' "$RESULTS"
echo
echo "- chain: $VERIFY"
echo "- decision records: $DECISIONS; requests wrk and the preflights completed: $TOTAL_REQUESTS"
echo "- warden processes still running after the replicas were stopped: $(pgrep -fc "$WORK/warden.toml" || true)"
[[ $DECISIONS -ge $TOTAL_REQUESTS ]] || die "fewer decision records than completed requests"
