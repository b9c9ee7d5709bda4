#!/usr/bin/env bash
# Warden overhead benchmark: direct calls to the stand-in agent vs. the same calls through
# Warden, JSON and SSE, at concurrency 1 and 16, with Warden's audit trail in durability
# "process" and then "fsync". Also measures the disk's own fsync latency in the same folder,
# and verifies the audit trail written during the runs. See bench/README.md.
# With BENCH_PEER=litellm, LiteLLM's proxy (pinned, in a venv of its own) is measured in front
# of the same stand-in in the same loop, as a third target.
#
# Every server listens on 127.0.0.1 only; every load run is bounded by wrk's -d and by
# `timeout`. Every process this script starts is stopped when it exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
LUA="$BENCH_DIR/post.lua"

# ---- knobs (see bench/README.md) -------------------------------------------------------
DURATION=${BENCH_DURATION:-10s}          # measured part of each wrk run
WARMUP=${BENCH_WARMUP:-2s}               # unmeasured wrk run before each measured one
MODES=${BENCH_MODES:-"process fsync"}    # warden durability modes, in order
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16"} # wrk -c values; threads: 1 for c=1, else BENCH_THREADS
THREADS=${BENCH_THREADS:-2}              # wrk -t for concurrency > 1
STREAMS=${BENCH_STREAMS:-"json sse"}
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-5s}     # a request slower than this counts as an error
FSYNC_SAMPLES=${BENCH_FSYNC_SAMPLES:-500}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-60} # seconds to wait for a server to listen
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
KEEP=${BENCH_KEEP:-0}                    # 1: keep the temp dir (logs, raw wrk output, db)
STANDIN_PORT=${BENCH_STANDIN_PORT:-0}    # 0: pick a free port
WARDEN_PORT=${BENCH_WARDEN_PORT:-0}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_REV=${BENCH_REV:-}                 # build this commit (clean export) instead of the tree
STORE=${BENCH_STORE:-sqlite}             # sqlite: a file in the work dir; postgres: a fresh database
PG_SERVER=${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}  # where BENCH_STORE=postgres makes it
PEER=${BENCH_PEER:-}                     # litellm: also measure LiteLLM's proxy as a third target
PEER_VENV=${BENCH_PEER_VENV:-$TARGET_DIR/bench-venv-litellm}  # venv the script makes for it
PEER_PORT=${BENCH_PEER_PORT:-0}          # 0: pick a free port
PEER_WRK_TIMEOUT=${BENCH_PEER_WRK_TIMEOUT:-30s} # wrk --timeout for the peer (it is slow at c=16)
PEER_LOG=${BENCH_PEER_LOG:-}             # LITELLM_LOG for the peer; empty: LiteLLM's default
LITELLM_VERSION=1.106.2                  # pinned: litellm[proxy]==$LITELLM_VERSION

PROMPT="Summarize our AI governance policy for internal use."
UPSTREAM_TOKEN="bench-upstream-token"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- cleanup: stop what we started, by pid ---------------------------------------------
STANDIN_PID=""
WARDEN_PID=""
PEER_PID=""
WORK=""
PG_DB=""

stop_pid() { # pid name: SIGTERM, wait up to 15 s, then SIGKILL
  local pid=$1 name=$2 i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop on SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PEER_PID" litellm
  stop_pid "$WARDEN_PID" warden
  stop_pid "$STANDIN_PID" warden-standin
  if [[ -n "$PG_DB" && "$KEEP" != 1 ]]; then
    psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if [[ "$KEEP" == 1 || $rc -ne 0 ]]; then
      log "logs, raw wrk output and the database are kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools -----------------------------------------------------------------------------
APT_UPDATED=0
apt_install() { # package...
  [[ $(id -u) -eq 0 ]] || die "need root to apt-get install $*; install it and re-run"
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl
command -v python3 >/dev/null || apt_install python3
command -v timeout >/dev/null || die "timeout (coreutils) is missing"

to_secs() { # 10s | 2m | 1h | 30  ->  seconds
  local v=$1
  case "$v" in
    *s) echo "${v%s}" ;;
    *m) echo $(( ${v%m} * 60 )) ;;
    *h) echo $(( ${v%h} * 3600 )) ;;
    *) echo "$v" ;;
  esac
}
[[ $(to_secs "$DURATION") =~ ^[0-9]+$ ]] || die "BENCH_DURATION must look like 10s, 2m or 30 (got $DURATION)"
[[ $(to_secs "$WARMUP") =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must look like 2s or 0 (got $WARMUP)"
case "$PEER" in
  "" | litellm) ;;
  *) die "BENCH_PEER must be empty or litellm (got $PEER)" ;;
esac
[[ -z "$PEER" || $(to_secs "$PEER_WRK_TIMEOUT") =~ ^[0-9]+$ ]] ||
  die "BENCH_PEER_WRK_TIMEOUT must look like 30s or 1m (got $PEER_WRK_TIMEOUT)"

# ---- work dir --------------------------------------------------------------------------
WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/warden-bench.XXXXXX")
DB="$WORK/bench.db"
case "$STORE" in
  sqlite) DB_URL="sqlite://$DB" ;;
  postgres)
    command -v psql >/dev/null || apt_install postgresql-client
    PG_DB="warden_bench_$$"
    psql -X -q -v ON_ERROR_STOP=1 "$PG_SERVER/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null ||
      die "cannot create a database on $PG_SERVER (is PostgreSQL running?)"
    DB_URL="$PG_SERVER/$PG_DB"
    log "store: PostgreSQL database $PG_DB"
    ;;
  *) die "BENCH_STORE must be sqlite or postgres (got $STORE)" ;;
esac
RESULTS="$WORK/results.tsv"
FSYNC_JSON="$WORK/fsync.json"
: >"$RESULTS"
FS_TYPE=$(stat -f -c %T "$WORK")
log "work dir $WORK (filesystem $FS_TYPE)"
[[ "$FS_TYPE" != tmpfs && "$FS_TYPE" != ramfs ]] ||
  log "WARNING: $WORK is on $FS_TYPE: fsync costs nothing there; set BENCH_TMPDIR to a folder on a real disk"

# ---- build -----------------------------------------------------------------------------
# By default the checked-out tree is built, as it is (uncommitted edits included). With
# BENCH_REV, that commit is exported (git archive) into the work dir and built there, into
# its own target folder, so the figures belong to one commit.
SRC="$ROOT"
if [[ -n "$BENCH_REV" ]]; then
  REV=$(git -C "$ROOT" rev-parse --verify "$BENCH_REV^{commit}") || die "BENCH_REV=$BENCH_REV is not a commit"
  SRC="$WORK/src"
  TARGET_DIR="$TARGET_DIR/bench-rev"
  mkdir -p "$SRC"
  git -C "$ROOT" archive "$REV" | tar -x -C "$SRC"
  CODE="commit $(git -C "$ROOT" rev-parse --short "$REV") (clean export of BENCH_REV=$BENCH_REV)"
else
  DIRTY=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l || true)
  CODE="working tree at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  ((DIRTY == 0)) || CODE="$CODE, with uncommitted changes in $DIRTY files under crates/ or Cargo.*"
fi
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "cargo build --release -p warden -p warden-standin in $SRC (several minutes when cold on 2 cores)"
  (cd "$SRC" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -p warden -p warden-standin) >&2
fi
[[ "$SKIP_BUILD" != 1 ]] || CODE="$CODE (BENCH_SKIP_BUILD=1: prebuilt binaries, which may be older)"
WARDEN="$TARGET_DIR/release/warden"
STANDIN="$TARGET_DIR/release/warden-standin"
[[ -x "$WARDEN" ]] || die "$WARDEN is missing (build failed, or BENCH_SKIP_BUILD=1 without a build)"
[[ -x "$STANDIN" ]] || die "$STANDIN is missing"
log "benchmarking the $CODE"

# Keep the environment from steering warden elsewhere; run it from the work dir so that no
# ./warden.toml is picked up.
unset WARDEN_CONFIG WARDEN_DATABASE_URL WARDEN_LISTEN WARDEN_UPSTREAM RUST_LOG
export WARDEN_LOG=${BENCH_WARDEN_LOG:-info}
export NO_COLOR=1

# ---- servers ---------------------------------------------------------------------------
wait_listening() { # pid logfile name -> prints host:port
  local pid=$1 logfile=$2 name=$3 deadline addr
  deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before listening; its log:"
      tail -n 30 "$logfile" >&2 || true
      die "$name did not start"
    fi
    addr=$(sed 's/\x1b\[[0-9;]*m//g' "$logfile" | grep -o 'listening on 127\.0\.0\.1:[0-9]\+' | tail -n 1 | sed 's/^listening on //' || true)
    if [[ -n "$addr" ]] && (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; then
      echo "$addr"
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$logfile" >&2 || true
  die "$name did not listen within ${READY_TIMEOUT}s"
}

start_standin() {
  local logfile="$WORK/standin.log"
  "$STANDIN" --listen "127.0.0.1:$STANDIN_PORT" --token "$UPSTREAM_TOKEN" 2>"$logfile" >/dev/null &
  STANDIN_PID=$!
  STANDIN_ADDR=$(wait_listening "$STANDIN_PID" "$logfile" warden-standin)
  log "stand-in (pid $STANDIN_PID) listening on $STANDIN_ADDR"
}

start_warden() { # durability mode
  local mode=$1 config="$WORK/warden-$1.toml" logfile="$WORK/warden-$1.log"
  printf '[store]\ndurability = "%s"\n' "$mode" >"$config"
  (cd "$WORK" && exec env WARDEN_UPSTREAM_TOKEN="$UPSTREAM_TOKEN" "$WARDEN" serve \
    --config "$config" --database-url "$DB_URL" \
    --listen "127.0.0.1:$WARDEN_PORT" --upstream "http://$STANDIN_ADDR") 2>"$logfile" >/dev/null &
  WARDEN_PID=$!
  WARDEN_ADDR=$(wait_listening "$WARDEN_PID" "$logfile" warden)
  grep -Eq "durability=\"?$mode" "$logfile" ||
    die "warden's log does not confirm durability $mode; see $logfile"
  log "warden (pid $WARDEN_PID, durability $mode) listening on $WARDEN_ADDR"
}

stop_warden() {
  stop_pid "$WARDEN_PID" warden
  WARDEN_PID=""
}

# ---- the peer: LiteLLM's proxy (BENCH_PEER=litellm) -----------------------------------
peer_version() { # -> the LiteLLM version in the venv (with its proxy extra), or nothing
  [[ -x "$PEER_VENV/bin/python" && -x "$PEER_VENV/bin/litellm" ]] || return 0
  "$PEER_VENV/bin/python" - 2>/dev/null <<'PY' || true
import importlib.metadata as m
for dist in ("uvicorn", "fastapi", "backoff", "orjson", "apscheduler"):  # from litellm[proxy]
    m.version(dist)
print(m.version("litellm"))
PY
}

install_peer() { # a venv with litellm[proxy]==LITELLM_VERSION, reused when it has it
  local have pylog="$WORK/peer-pip.log"
  have=$(peer_version)
  if [[ "$have" == "$LITELLM_VERSION" ]]; then
    log "peer: reusing LiteLLM $have in $PEER_VENV"
    return 0
  fi
  if [[ ! -x "$PEER_VENV/bin/python" ]]; then
    if [[ -e "$PEER_VENV" && ! -f "$PEER_VENV/pyvenv.cfg" && -n "$(ls -A "$PEER_VENV" 2>/dev/null)" ]]; then
      die "BENCH_PEER_VENV=$PEER_VENV exists and is not a venv; point it at an empty or new folder"
    fi
    python3 -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 15)))' ||
      die "LiteLLM $LITELLM_VERSION needs Python >=3.10,<3.15; python3 is $(python3 -V 2>&1)"
    log "peer: creating the venv $PEER_VENV"
    if ! python3 -m venv "$PEER_VENV" >"$pylog" 2>&1; then
      apt_install python3-venv # Debian's python3 has no ensurepip without it
      python3 -m venv --clear "$PEER_VENV" >"$pylog" 2>&1 ||
        { cat "$pylog" >&2; die "peer: python3 -m venv $PEER_VENV failed"; }
    fi
  fi
  log "peer: pip install litellm[proxy]==$LITELLM_VERSION into $PEER_VENV (a minute or two)"
  timeout -k 10 1200 env PIP_DISABLE_PIP_VERSION_CHECK=1 "$PEER_VENV/bin/python" -m pip install \
    --no-input "litellm[proxy]==$LITELLM_VERSION" >"$pylog" 2>&1 ||
    { tail -n 30 "$pylog" >&2; die "peer: pip install litellm[proxy]==$LITELLM_VERSION failed (or took over 20 min)"; }
  have=$(peer_version)
  [[ "$have" == "$LITELLM_VERSION" ]] ||
    die "peer: the venv has LiteLLM '${have:-none}' after pip install, not $LITELLM_VERSION"
}

# LiteLLM's proxy in front of the stand-in: one uvicorn worker on 127.0.0.1, a config with
# one model and no callbacks, no database, and an environment of its own (env -i), so that
# nothing in ours (DATABASE_URL, OPENAI_API_KEY, proxies, LITELLM_*) steers it.
start_peer() {
  local config="$WORK/peer-litellm.yaml" logfile="$WORK/peer-litellm.log" port=$PEER_PORT deadline
  if [[ $port == 0 ]]; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  PEER_KEY="sk-bench-peer-$RANDOM$RANDOM"
  cat >"$config" <<YAML
# written by bench/run.sh (BENCH_PEER=litellm)
model_list:
  - model_name: openclaw
    litellm_params:
      model: openai/openclaw          # OpenAI-compatible provider
      api_base: http://$STANDIN_ADDR/v1
      api_key: $UPSTREAM_TOKEN
litellm_settings:
  callbacks: []
  success_callback: []
  failure_callback: []
  cache: false
router_settings:
  num_retries: 0                      # an upstream error shows as an error, not a silent retry
general_settings:
  master_key: $PEER_KEY               # requests authenticate, as they do at warden
  disable_spend_logs: true
  store_model_in_db: false
YAML
  mkdir -p "$WORK/peer-home"
  # LITELLM_LOCAL_MODEL_COST_MAP: the cost map bundled in the package, not a download at
  # start-up. LiteLLM's default log writes one access line per request, as warden's info does.
  local envs=(PATH=/usr/bin:/bin HOME="$WORK/peer-home" LANG=C.UTF-8 PYTHONUNBUFFERED=1
    LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1
    "NO_PROXY=127.0.0.1,localhost" "no_proxy=127.0.0.1,localhost")
  [[ -z "$PEER_LOG" ]] || envs+=(LITELLM_LOG="$PEER_LOG")
  env -i "${envs[@]}" \
    "$PEER_VENV/bin/litellm" --config "$config" --host 127.0.0.1 --port "$port" --num_workers 1 \
    >"$logfile" 2>&1 </dev/null &
  PEER_PID=$!
  PEER_ADDR="127.0.0.1:$port"
  deadline=$((SECONDS + READY_TIMEOUT))
  until curl -sf -o /dev/null --max-time 2 "http://$PEER_ADDR/health/liveliness"; do
    if ! kill -0 "$PEER_PID" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "litellm exited before answering on $PEER_ADDR (its log is above)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$logfile" >&2 || true
      die "litellm did not answer on $PEER_ADDR within ${READY_TIMEOUT}s (BENCH_READY_TIMEOUT): slow to start on a busy machine, or a start-up step waiting on the network (only loopback and the package registries are reachable); its log is above"
    fi
    sleep 0.2
  done
  if command -v ss >/dev/null; then # it must listen on 127.0.0.1 only
    local socks
    socks=$(ss -Hltnp 2>/dev/null | grep "pid=$PEER_PID," | awk '{ print $4 }' | sort -u | tr '\n' ' ' || true)
    [[ " $socks" == *" $PEER_ADDR "* ]] ||
      die "litellm (pid $PEER_PID) does not listen on $PEER_ADDR (it listens on: ${socks:-nothing})"
    [[ -z $(printf '%s' "$socks" | tr ' ' '\n' | grep -v -e '^$' -e '^127\.0\.0\.1:' || true) ]] ||
      die "litellm listens beyond 127.0.0.1: $socks"
  fi
  [[ -z $(ps -o pid= --ppid "$PEER_PID" 2>/dev/null || true) ]] ||
    log "WARNING: litellm (pid $PEER_PID) has child processes; its CPU figures count the parent only"
  log "litellm $LITELLM_VERSION (pid $PEER_PID, 1 worker) listening on $PEER_ADDR"
}

stop_peer() {
  stop_pid "$PEER_PID" litellm
  PEER_PID=""
}

cpu_ticks() { # pid -> utime+stime in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
CLK_TCK=$(getconf CLK_TCK)

# ---- bodies ----------------------------------------------------------------------------
body_for() { # json|sse
  if [[ $1 == sse ]]; then
    printf '{"model":"openclaw","messages":[{"role":"user","content":"%s"}],"stream":true}' "$PROMPT"
  else
    printf '{"model":"openclaw","messages":[{"role":"user","content":"%s"}]}' "$PROMPT"
  fi
}

# One request with curl before the load: the status must be 200 and the body must be a real
# completion (JSON) or a finished stream (SSE), so the load runs measure the right thing.
preflight() { # label url token stream [max seconds] [text the reply must carry]
  local label=$1 url=$2 token=$3 stream=$4 max=${5:-10} expect=${6:-} out="$WORK/preflight-$1.txt" code
  code=$(curl -sS --max-time "$max" -o "$out" -w '%{http_code}' \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    --data-binary "$(body_for "$stream")" "$url") || die "$label: curl failed"
  [[ "$code" == 200 ]] || { cat "$out" >&2; die "$label: HTTP $code, expected 200"; }
  if [[ $stream == sse ]]; then
    grep -q '^data: \[DONE\]' "$out" || { cat "$out" >&2; die "$label: stream did not end with [DONE]"; }
    grep -q '"content"' "$out" || { cat "$out" >&2; die "$label: stream carried no content"; }
  else
    grep -q '"chat.completion"' "$out" || { cat "$out" >&2; die "$label: not a chat.completion"; }
  fi
  [[ -z "$expect" ]] || grep -qF "$expect" "$out" ||
    { cat "$out" >&2; die "$label: the reply does not carry \"$expect\" (not the stand-in's answer)"; }
}

# ---- load ------------------------------------------------------------------------------
run_wrk() { # mode stream conc target url token
  local mode=$1 stream=$2 conc=$3 target=$4 url=$5 token=$6
  local label="$mode-$stream-c$conc-$target" threads=1 out line guard
  # The gateway whose CPU is counted: litellm's for its rows, else warden's (reported for
  # warden rows only). The peer has its own wrk timeout: it is slow at c=16.
  local gw_pid=$WARDEN_PID wrk_timeout=$WRK_TIMEOUT
  if [[ $target == litellm ]]; then
    gw_pid=$PEER_PID
    wrk_timeout=$PEER_WRK_TIMEOUT
  fi
  ((conc > 1)) && threads=$THREADS
  ((threads > conc)) && threads=$conc
  out="$WORK/wrk-$label.txt"
  export BENCH_BODY BENCH_AUTH
  BENCH_BODY=$(body_for "$stream")
  BENCH_AUTH=$token

  if [[ $(to_secs "$WARMUP") != 0 ]]; then
    guard=$(($(to_secs "$WARMUP") + 30 + $(to_secs "$wrk_timeout")))
    timeout -k 5 "$guard" wrk -t"$threads" -c"$conc" -d"$WARMUP" --timeout "$wrk_timeout" \
      -s "$LUA" "$url" >"$WORK/wrk-$label.warmup.txt" 2>&1 ||
      { cat "$WORK/wrk-$label.warmup.txt" >&2; die "$label: warm-up wrk failed"; }
  fi

  local w0 s0 w1 s1 p0=0 p1=0
  w0=$(cpu_ticks "$gw_pid")
  s0=$(cpu_ticks "$STANDIN_PID")
  [[ -z "$PEER_PID" || $target == litellm ]] || p0=$(cpu_ticks "$PEER_PID")
  guard=$(($(to_secs "$DURATION") + 30 + $(to_secs "$wrk_timeout")))
  timeout -k 5 "$guard" wrk -t"$threads" -c"$conc" -d"$DURATION" --timeout "$wrk_timeout" \
    --latency -s "$LUA" "$url" >"$out" 2>&1 ||
    { cat "$out" >&2; die "$label: wrk failed or overran"; }
  w1=$(cpu_ticks "$gw_pid")
  s1=$(cpu_ticks "$STANDIN_PID")
  [[ -z "$PEER_PID" || $target == litellm ]] || p1=$(cpu_ticks "$PEER_PID")

  line=$(grep '^BENCH_RESULT ' "$out" | tail -n 1) || { cat "$out" >&2; die "$label: no summary from post.lua"; }
  # The summary's key=value pairs (numbers only) become local variables.
  # shellcheck disable=SC2034 # mean_us and max_us are parsed but not reported
  local requests=0 duration_us=0 non2xx=0 connect=0 read=0 write=0 timeout=0 p50_us=0 p99_us=0 mean_us=0 max_us=0
  eval "$(echo "${line#BENCH_RESULT }" | tr ' ' '\n' | grep -E '^[a-z0-9_]+=[0-9.]+$')"
  if ((non2xx + connect + read + write + timeout > 0)) && [[ $target == litellm ]]; then
    log "$label: the last lines of litellm's log ($WORK/peer-litellm.log):"
    tail -n 40 "$WORK/peer-litellm.log" >&2 || true
  fi
  if ((non2xx > 0)); then
    cat "$out" >&2
    die "$label: $non2xx responses were not 2xx: a benchmark of error responses means nothing"
  fi
  if ((connect + read + write + timeout > 0)); then
    cat "$out" >&2
    die "$label: socket errors (connect $connect, read $read, write $write, timeout $timeout; wrk --timeout $wrk_timeout)"
  fi
  ((requests > 0)) || die "$label: no requests completed"
  local rps
  rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", r / (d / 1e6) }')
  # CPU each server used per request during the measured run (warden's is only meaningful
  # for warden runs; the stand-in serves both).
  local wcpu scpu
  wcpu=$(awk -v t=$((w1 - w0)) -v hz="$CLK_TCK" -v r="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
  scpu=$(awk -v t=$((s1 - s0)) -v hz="$CLK_TCK" -v r="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$mode" "$stream" "$conc" "$target" "$rps" "$p50_us" "$p99_us" "$requests" "$mean_us" "$wcpu" "$scpu" >>"$RESULTS"
  # LiteLLM idles beside the direct and warden runs it shares the machine with: its CPU then.
  [[ -z "$PEER_PID" || $target == litellm ]] ||
    printf '%s\t%s\n' $((p1 - p0)) "$duration_us" >>"$WORK/peer-idle.tsv"
  log "$label: $rps req/s, p50 ${p50_us} us, p99 ${p99_us} us ($requests requests)"
}

# ---- the disk's own fsync latency, in the same folder as the database ------------------
measure_fsync() {
  log "fsync latency: $FSYNC_SAMPLES x (write 4 KiB + fsync) in $WORK"
  python3 - "$WORK" "$FSYNC_SAMPLES" >"$FSYNC_JSON" <<'PY'
import json, os, statistics, sys, time
folder, n = sys.argv[1], int(sys.argv[2])
block = os.urandom(4096)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]

def run(name, sync, append):
    path = os.path.join(folder, f"fsync-probe-{name}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, block)
        os.fsync(fd)
        samples = []
        for i in range(n):
            t = time.perf_counter()
            os.pwrite(fd, block, (i + 1) * 4096 if append else 0)
            sync(fd)
            samples.append((time.perf_counter() - t) * 1e3)
    finally:
        os.close(fd)
        os.unlink(path)
    return {"name": name, "samples": n, "p50_ms": pct(samples, 50), "p99_ms": pct(samples, 99),
            "mean_ms": statistics.fmean(samples), "max_ms": max(samples)}

print(json.dumps([
    run("append 4 KiB + fsync", os.fsync, True),
    run("overwrite 4 KiB + fdatasync", os.fdatasync, False),
]))
PY
}

# ---- main ------------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }' &&
  log "WARNING: load average is $LOAD_BEFORE before the runs: other work shares the CPUs and skews the figures"
[[ -z "$PEER" ]] || install_peer
measure_fsync

log "creating an API key"
API_KEY=$(cd "$WORK" && "$WARDEN" keys create --name bench --role requester --database-url "$DB_URL" 2>"$WORK/keys.log") ||
  { cat "$WORK/keys.log" >&2; die "warden keys create failed"; }
API_KEY=$(printf '%s' "$API_KEY" | tr -d '[:space:]')
[[ -n "$API_KEY" ]] || die "warden keys create printed no key"

start_standin
DIRECT_URL="http://$STANDIN_ADDR/v1/chat/completions"

# The peer (LiteLLM has no durability modes) runs in the first mode only, beside warden.
PEER_MODE=""
PEER_DONE=0
for mode in $MODES; do
  [[ $mode == process || $mode == fsync ]] || die "unknown durability mode $mode"
  start_warden "$mode"
  WARDEN_URL="http://$WARDEN_ADDR/v1/chat/completions"
  peer_now=0
  if [[ -n "$PEER" && $PEER_DONE == 0 ]]; then
    peer_now=1
    PEER_DONE=1
    PEER_MODE=$mode
    start_peer
    PEER_URL="http://$PEER_ADDR/v1/chat/completions"
  fi
  for stream in $STREAMS; do
    preflight "$mode-$stream-direct" "$DIRECT_URL" "$UPSTREAM_TOKEN" "$stream"
    preflight "$mode-$stream-warden" "$WARDEN_URL" "$API_KEY" "$stream"
    if ((peer_now)); then # its first requests import code lazily: a longer curl bound
      preflight "$mode-$stream-litellm" "$PEER_URL" "$PEER_KEY" "$stream" 60 "[stand-in agent]"
    fi
  done
  for stream in $STREAMS; do
    for conc in $CONCURRENCY; do
      run_wrk "$mode" "$stream" "$conc" direct "$DIRECT_URL" "$UPSTREAM_TOKEN"
      run_wrk "$mode" "$stream" "$conc" warden "$WARDEN_URL" "$API_KEY"
      ((peer_now == 0)) || run_wrk "$mode" "$stream" "$conc" litellm "$PEER_URL" "$PEER_KEY"
    done
  done
  ((peer_now == 0)) || stop_peer
  stop_warden # graceful: drains and commits every queued audit record
done

log "verifying the audit trail"
VERIFY_RC=0
VERIFY_OUT=$(cd "$WORK" && "$WARDEN" audit verify --database-url "$DB_URL" 2>"$WORK/verify.log") || VERIFY_RC=$?
if ((VERIFY_RC != 0)); then cat "$WORK/verify.log" >&2; fi

# ---- report ----------------------------------------------------------------------------
echo "## Warden benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "- store: $STORE"
echo "- machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
echo "- rustc: $(rustc --version 2>/dev/null || echo unknown); wrk: $(wrk -v 2>&1 | head -n 1 || true)"
echo "- code: $CODE"
echo "- load average (1/5/15 min) before the runs: $LOAD_BEFORE; after: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo "- runs: wrk -d $DURATION after a $WARMUP warm-up; -t1 -c1 and -t$THREADS -c16; work dir on $FS_TYPE"
REPORT_ARGS=("$RESULTS" "$FSYNC_JSON")
if [[ -n "$PEER" ]]; then
  echo "- peer: LiteLLM $LITELLM_VERSION (\`litellm[proxy]==$LITELLM_VERSION\`, $("$PEER_VENV/bin/python" -V 2>&1)): one uvicorn worker on 127.0.0.1, no database, no callbacks, master-key auth, model \`openai/openclaw\` routed to the same stand-in; measured in the $PEER_MODE pass only (LiteLLM has no durability modes), right after warden at each stream and concurrency; wrk --timeout $PEER_WRK_TIMEOUT for it ($WRK_TIMEOUT for the others)"
  REPORT_ARGS+=("$PEER_MODE" "$WORK/peer-idle.tsv")
fi
echo
python3 - "${REPORT_ARGS[@]}" <<'PY'
import csv, json, os, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
fsync = json.load(open(sys.argv[2]))
peer_mode = sys.argv[3] if len(sys.argv) > 3 else None
R = {}
for mode, stream, conc, target, rps, p50, p99, n, mean, wcpu, scpu in rows:
    R[(mode, stream, conc, target)] = dict(rps=float(rps), p50=float(p50), p99=float(p99), n=int(n),
                                           wcpu=float(wcpu), scpu=float(scpu))
ms = lambda us: f"{us / 1000:.3f}"
def signed(us): return f"{'+' if us >= 0 else ''}{us / 1000:.3f}"

print("| mode | stream | conc | target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|")
for mode, stream, conc, target, *_ in rows:
    r = R[(mode, stream, conc, target)]
    added = ("", "")
    if target in ("warden", "litellm") and (mode, stream, conc, "direct") in R:
        d = R[(mode, stream, conc, "direct")]
        added = (signed(r["p50"] - d["p50"]), signed(r["p99"] - d["p99"]))
    shown = "-" if target == "litellm" else mode
    print(f"| {shown} | {stream} | {conc} | {target} | {r['rps']:.0f} | {ms(r['p50'])} | {ms(r['p99'])} | {added[0]} | {added[1]} |")
peer_rows = [k for k in R if k[3] == "litellm"]
if peer_rows:
    print()
    print(f"The litellm rows (mode `-`: LiteLLM has no durability modes) were measured in the {peer_mode} pass, "
          f"right after its direct and warden runs; their \"added\" is over that pass's direct run.")

print()
print("Disk fsync latency in the same folder:")
print()
print("| probe | samples | p50 ms | p99 ms | mean ms | max ms |")
print("|---|---:|---:|---:|---:|---:|")
for f in fsync:
    print(f"| {f['name']} | {f['samples']} | {f['p50_ms']:.3f} | {f['p99_ms']:.3f} | {f['mean_ms']:.3f} | {f['max_ms']:.3f} |")

streams = sorted({k[1] for k in R}, key=["json", "sse"].index)
if any(k[0] == "fsync" for k in R) and any(k[0] == "process" for k in R):
    print()
    print("Throughput fsync / process at concurrency 16:")
    print()
    for stream in streams:
        for target in ("warden", "direct"):
            f, p = R.get(("fsync", stream, "16", target)), R.get(("process", stream, "16", target))
            if f and p:
                print(f"- {target} {stream}: {f['rps']:.0f} / {p['rps']:.0f} = {f['rps'] / p['rps']:.2f}")

if peer_rows:
    print()
    print(f"Throughput warden / litellm, measured in the same run ({peer_mode} pass), and the gateway's CPU per request:")
    print()
    for stream in streams:
        for conc in sorted({k[2] for k in peer_rows}, key=int):
            w, l = R.get((peer_mode, stream, conc, "warden")), R.get((peer_mode, stream, conc, "litellm"))
            if w and l:
                print(f"- {stream} c={conc}: {w['rps']:.0f} / {l['rps']:.0f} req/s = {w['rps'] / l['rps']:.1f}x; "
                      f"CPU per request warden {w['wcpu']:.0f} us, litellm {l['wcpu']:.0f} us")
    idle = [line.split() for line in open(sys.argv[4])] if os.path.exists(sys.argv[4]) else []
    secs = sum(int(us) for _, us in idle) / 1e6
    if secs > 0:
        ticks = sum(int(t) for t, _ in idle)
        hz = os.sysconf("SC_CLK_TCK")
        print(f"- LiteLLM, idle beside the direct and warden runs of that pass, used {ticks / hz * 1e3 / secs:.1f} ms of CPU per second")

print()
print("CPU time per request during the measured runs (from /proc, 10 ms tick resolution):")
print()
if peer_rows:
    print("| mode | stream | conc | target | gateway CPU us/req (warden or litellm) | stand-in CPU us/req |")
else:
    print("| mode | stream | conc | target | warden CPU us/req | stand-in CPU us/req |")
print("|---|---|---:|---|---:|---:|")
for mode, stream, conc, target, *_ in rows:
    r = R[(mode, stream, conc, target)]
    w = f"{r['wcpu']:.0f}" if target in ("warden", "litellm") else "-"
    shown = "-" if target == "litellm" else mode
    print(f"| {shown} | {stream} | {conc} | {target} | {w} | {r['scpu']:.0f} |")
PY
echo
echo "Audit trail after the runs (\`warden audit verify\`):"
echo
echo '```'
echo "$VERIFY_OUT"
echo '```'
((VERIFY_RC == 0)) || die "warden audit verify failed (exit $VERIFY_RC)"
