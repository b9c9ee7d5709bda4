#!/usr/bin/env bash
# Scaling curves: how Warden's cost grows with one input at a time, every row of a curve
# measured in the same run, side by side. See bench/README.md ("Scaling curves").
#
#   bash bench/scaling.sh [CURVE...]      curves: prompt turns concurrency trail policy replicas
#                                         (default: all, in that order)
#
# Prints a markdown report on stdout (progress on stderr): one table per curve and, for each,
# lines saying how the cost grows (flat, linear, ...), computed from the figures.
#
# Every server listens on 127.0.0.1 on a free port; every wrk run is bounded by -d and by
# `timeout`; any non-2xx response or socket error fails the run; every process this script
# starts is stopped on exit (by pid); the temp folder is removed on success (kept on failure
# or with BENCH_KEEP=1). The binaries are copied into the temp folder first, so a rebuild of
# target/release during the run does not change what is measured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/bench"
LUA="$BENCH_DIR/scaling.lua"
ALL_CURVES="prompt turns concurrency trail policy replicas"

# ---- knobs (see bench/README.md) -------------------------------------------------------
DURATION=${BENCH_DURATION:-5s}            # measured part of each wrk run (one row)
WARMUP=${BENCH_WARMUP:-1s}                # unmeasured wrk run before each measured one (0: none)
THREADS=${BENCH_THREADS:-2}               # wrk -t for concurrency above 1
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-10s}     # a slower request counts as an error (and fails the run)
DURABILITY=${BENCH_DURABILITY:-process}   # [store] durability of every Warden started
BIN_DIR=${BENCH_BIN_DIR:-$ROOT/target/release}   # where warden and warden-standin are
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}         # 1: use the binaries in BIN_DIR as they are
KEEP=${BENCH_KEEP:-0}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-120} # seconds for a server to listen (10,000 rules take a while)
PROMPT_KB=${BENCH_PROMPT_KB:-"1 16 128"}
PROMPT_CONC=${BENCH_PROMPT_CONC:-"16 1"}
TURNS=${BENCH_TURNS:-"1 20 200"}
TURNS_CONC=${BENCH_TURNS_CONC:-"16 1"}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16 64 256"}
TRAIL_RECORDS=${BENCH_TRAIL_RECORDS:-2000000}
PAGE_REPEATS=${BENCH_PAGE_REPEATS:-10}
INDEX_TIMEOUT=${BENCH_INDEX_TIMEOUT:-1800} # seconds for the console's index to catch up with the trail
POLICY_RULES=${BENCH_POLICY_RULES:-"10 100 1000 10000"}
POLICY_BASE=${BENCH_POLICY_BASE:-default} # default: generated rules follow policies/default.toml; none: alone
CLASSIFY_LINES=${BENCH_CLASSIFY_LINES:-20000}
PG_SERVER=${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}
UPSTREAM_TOKEN="bench-upstream-token"

log() { printf '[scaling %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

CURVES=${*:-$ALL_CURVES}
for c in $CURVES; do
  [[ " $ALL_CURVES " == *" $c "* ]] || die "unknown curve '$c' (curves: $ALL_CURVES)"
done

# ---- cleanup: stop what we started, by pid ---------------------------------------------
PIDS=()       # every server started, in order
WORK=""
PG_DB=""

stop_pid() { # pid: SIGTERM, wait up to 30 s (Warden drains its audit queue), then SIGKILL
  local pid=$1 i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop on SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  if [[ -n "$PG_DB" ]]; then
    psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if [[ "$KEEP" == 1 || $rc -ne 0 ]]; then
      log "logs, raw wrk output and the stores are kept in $WORK"
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
for tool in wrk curl python3 timeout; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install $tool)"; done
[[ " $CURVES " != *" replicas "* ]] || command -v psql >/dev/null || die "psql is missing (apt-get install postgresql-client)"

to_secs() { # 10s | 2m | 30 -> seconds
  local v=$1
  case "$v" in
    *s) echo "${v%s}" ;;
    *m) echo $((${v%m} * 60)) ;;
    *) echo "$v" ;;
  esac
}
[[ $(to_secs "$DURATION") =~ ^[0-9]+$ && $(to_secs "$DURATION") -gt 0 ]] || die "BENCH_DURATION must look like 5s or 1m (got $DURATION)"
[[ $(to_secs "$WARMUP") =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must look like 1s or 0 (got $WARMUP)"
[[ $TRAIL_RECORDS =~ ^[0-9]+$ ]] || die "BENCH_TRAIL_RECORDS must be a number (got $TRAIL_RECORDS)"

# wrk at c=256 and the servers need a socket each; raise the soft open-file limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
# shellcheck disable=SC2086 # the lists are meant to split
MAX_CONC=$(printf '%s\n' $CONCURRENCY $PROMPT_CONC $TURNS_CONC 16 | sort -n | tail -n 1)
[[ $NOFILE == unlimited ]] || ((NOFILE >= 2 * MAX_CONC + 256)) ||
  die "open-file limit $NOFILE is too low for concurrency $MAX_CONC (raise ulimit -n)"

# ---- build and binaries ----------------------------------------------------------------
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "cargo build --release -p warden -p warden-standin (several minutes when cold on 2 cores)"
  (cd "$ROOT" && cargo build --release -p warden -p warden-standin) >&2
fi
[[ -x "$BIN_DIR/warden" ]] || die "$BIN_DIR/warden is missing (build it, or set BENCH_BIN_DIR)"
[[ -x "$BIN_DIR/warden-standin" ]] || die "$BIN_DIR/warden-standin is missing"

WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/warden-scaling.XXXXXX")
FS_TYPE=$(stat -f -c %T "$WORK")
log "work dir $WORK (filesystem $FS_TYPE)"
mkdir -p "$WORK/bin"
# Copies, so that the other binaries a rebuild puts in BIN_DIR do not change the run midway.
cp "$BIN_DIR/warden" "$BIN_DIR/warden-standin" "$WORK/bin/"
WARDEN="$WORK/bin/warden"
STANDIN="$WORK/bin/warden-standin"
BIN_MTIME=$(date -u -r "$BIN_DIR/warden" +%Y-%m-%dT%H:%M:%SZ)
WARDEN_VERSION=$("$WARDEN" --version 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l || true)
CODE="binaries from $BIN_DIR ($WARDEN_VERSION, built $BIN_MTIME); tree at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
((DIRTY == 0)) || CODE="$CODE with uncommitted changes in $DIRTY files under crates/ or Cargo.*"
[[ "$SKIP_BUILD" != 1 ]] || CODE="$CODE (BENCH_SKIP_BUILD=1: prebuilt, possibly older than the tree)"

unset WARDEN_CONFIG WARDEN_DATABASE_URL WARDEN_LISTEN WARDEN_UPSTREAM RUST_LOG
export WARDEN_LOG=${BENCH_WARDEN_LOG:-info}
export NO_COLOR=1

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
record() { printf '%s\n' "$1" >>"$RESULTS"; } # one JSON object

# ---- servers ---------------------------------------------------------------------------
wait_listening() { # pid logfile name -> prints host:port
  local pid=$1 logfile=$2 name=$3 deadline addr
  deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited before listening (log above: $logfile)"
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

STANDIN_PID=""
start_standin() {
  local logfile="$WORK/standin.log"
  "$STANDIN" --listen 127.0.0.1:0 --token "$UPSTREAM_TOKEN" 2>"$logfile" >/dev/null &
  STANDIN_PID=$!
  PIDS+=("$STANDIN_PID")
  STANDIN_ADDR=$(wait_listening "$STANDIN_PID" "$logfile" warden-standin)
  log "stand-in (pid $STANDIN_PID) on $STANDIN_ADDR"
}

WARDEN_PID=""
WARDEN_ADDR=""
start_warden() { # name config db_url: sets WARDEN_PID and WARDEN_ADDR
  local name=$1 config=$2 url=$3 logfile="$WORK/warden-$1.log"
  (cd "$WORK" && exec env WARDEN_UPSTREAM_TOKEN="$UPSTREAM_TOKEN" "$WARDEN" serve --config "$config" \
    --database-url "$url" --listen 127.0.0.1:0 --upstream "http://$STANDIN_ADDR") 2>"$logfile" >/dev/null &
  WARDEN_PID=$!
  PIDS+=("$WARDEN_PID")
  WARDEN_ADDR=$(wait_listening "$WARDEN_PID" "$logfile" "warden ($name)")
  log "warden $name (pid $WARDEN_PID) on $WARDEN_ADDR"
}

stop_warden() { # pid: graceful, so that it commits every queued record
  stop_pid "$1"
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

write_config() { # file [extra TOML]: the configuration of a Warden of this run
  {
    printf '[store]\ndurability = "%s"\n' "$DURABILITY"
    [[ -z "${2:-}" ]] || printf '%s\n' "$2"
  } >"$1"
}

create_key() { # db_url -> prints a requester key
  local key
  key=$(cd "$WORK" && "$WARDEN" keys create --name bench --role requester --database-url "$1" 2>"$WORK/keys.log") ||
    { cat "$WORK/keys.log" >&2; die "warden keys create failed"; }
  key=$(printf '%s' "$key" | tr -d '[:space:]')
  [[ -n "$key" ]] || die "warden keys create printed no key"
  echo "$key"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# One request with curl first: a 200 with a real completion, and through Warden a green,
# executed one, so the load measures what it claims to.
preflight() { # label url token body_file warden(0|1)
  local label=$1 url=$2 token=$3 body=$4 via=$5 out="$WORK/preflight-$1.txt" hdr="$WORK/preflight-$1.hdr" code
  code=$(curl -sS --max-time 30 -o "$out" -D "$hdr" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" --data-binary "@$body" "$url") || die "$label: curl failed"
  [[ "$code" == 200 ]] || { head -c 2000 "$out" >&2; echo >&2; die "$label: HTTP $code, expected 200"; }
  grep -q '"chat.completion"' "$out" || { head -c 2000 "$out" >&2; die "$label: not a chat.completion"; }
  if [[ $via == 1 ]]; then
    grep -qi '^x-warden-risk: green' "$hdr" || { cat "$hdr" >&2; die "$label: Warden did not judge the request green"; }
    grep -qi '^x-warden-status: executed' "$hdr" || { cat "$hdr" >&2; die "$label: Warden did not execute the request"; }
  fi
}

# ---- load ------------------------------------------------------------------------------
# run_wrk curve x conc target url token body_file [targets]: a warm-up, then a measured run;
# appends one JSON record (req/s, p50, p99, CPU per request of the Wardens in WARDEN_PIDS and
# of the stand-in). Fails on any non-2xx or socket error.
WARDEN_PIDS=()
EXTRA=""   # extra JSON fields for the record, e.g. ',"store":"full"'
run_wrk() {
  local curve=$1 x=$2 conc=$3 target=$4 url=$5 token=$6 body=$7 targets=${8:-}
  local label="$curve-$x-c$conc-$target" threads=1 out guard line
  ((conc > 1)) && threads=$THREADS
  ((threads > conc)) && threads=$conc
  out="$WORK/wrk-$label.txt"
  export BENCH_BODY_FILE=$body BENCH_AUTH=$token BENCH_TARGETS=$targets
  if [[ $(to_secs "$WARMUP") != 0 ]]; then
    guard=$(($(to_secs "$WARMUP") + 30))
    timeout -k 5 "$guard" wrk -t"$threads" -c"$conc" -d"$WARMUP" --timeout "$WRK_TIMEOUT" \
      -s "$LUA" "$url" >"$out.warmup" 2>&1 || { cat "$out.warmup" >&2; die "$label: warm-up wrk failed"; }
    line=$(grep '^BENCH_RESULT ' "$out.warmup" | tail -n 1) || { cat "$out.warmup" >&2; die "$label: no summary"; }
    [[ $line == *" non2xx=0 connect=0 read=0 write=0 timeout=0 "* ]] ||
      { cat "$out.warmup" >&2; die "$label: errors during the warm-up: $line"; }
  fi
  local p w0=0 w1=0 s0 s1
  for p in "${WARDEN_PIDS[@]}"; do w0=$((w0 + $(cpu_ticks "$p"))); done
  s0=$(cpu_ticks "$STANDIN_PID")
  guard=$(($(to_secs "$DURATION") + 30))
  timeout -k 5 "$guard" wrk -t"$threads" -c"$conc" -d"$DURATION" --timeout "$WRK_TIMEOUT" \
    --latency -s "$LUA" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "$label: wrk failed or overran"; }
  for p in "${WARDEN_PIDS[@]}"; do w1=$((w1 + $(cpu_ticks "$p"))); done
  s1=$(cpu_ticks "$STANDIN_PID")
  line=$(grep '^BENCH_RESULT ' "$out" | tail -n 1) || { cat "$out" >&2; die "$label: no summary from scaling.lua"; }
  local requests=0 duration_us=0 non2xx=0 connect=0 read=0 write=0 timeout=0 p50_us=0 p99_us=0 mean_us=0 max_us=0
  eval "$(echo "${line#BENCH_RESULT }" | tr ' ' '\n' | grep -E '^[a-z0-9_]+=[0-9.]+$')"
  ((non2xx == 0)) || { cat "$out" >&2; die "$label: $non2xx responses were not 2xx: a figure measured on errors means nothing"; }
  ((connect + read + write + timeout == 0)) ||
    { cat "$out" >&2; die "$label: socket errors (connect $connect, read $read, write $write, timeout $timeout)"; }
  ((requests > 0)) || die "$label: no requests completed"
  COMPLETED=$((COMPLETED + requests))
  local rps wcpu scpu
  rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", r / (d / 1e6) }')
  wcpu=$(awk -v t=$((w1 - w0)) -v hz="$CLK_TCK" -v r="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
  scpu=$(awk -v t=$((s1 - s0)) -v hz="$CLK_TCK" -v r="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
  record "{\"curve\":\"$curve\",\"kind\":\"wrk\",\"x\":$x,\"conc\":$conc,\"target\":\"$target\",\"rps\":$rps,\"p50\":$p50_us,\"p99\":$p99_us,\"mean\":$mean_us,\"max\":$max_us,\"requests\":$requests,\"wcpu\":$wcpu,\"scpu\":$scpu$EXTRA}"
  log "$label: $rps req/s, p50 $p50_us us, p99 $p99_us us, warden CPU $wcpu us/req ($requests requests)"
}
COMPLETED=0

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
curve_done() { # curve start_SECONDS
  record "{\"curve\":\"$1\",\"kind\":\"time\",\"seconds\":$((SECONDS - $2))}"
  log "curve $1 done in $((SECONDS - $2)) s"
}

# ---- the bodies ------------------------------------------------------------------------
BODIES="$WORK/bodies"
python3 "$BENCH_DIR/scaling.py" bodies --warden "$WARDEN" --prose "$ROOT/crates/policy/benches/common/prose.rs" \
  --out "$BODIES" --prompt-kb "$PROMPT_KB" --turns "$TURNS" >"$WORK/bodies.out" || die "could not make the request bodies"
BASE_BODY="$BODIES/base.json"

# Warden's body limit (server.max_body_bytes, default 2 MiB): raised for the run only if the
# largest body is over it.
BODY_LIMIT_DEFAULT=2097152
LARGEST=$(wc -c <"$(ls -S "$BODIES"/*.json | head -n 1)")
SERVER_TOML=""
if ((LARGEST > BODY_LIMIT_DEFAULT)); then
  SERVER_TOML=$(printf '[server]\nmax_body_bytes = %d' $((LARGEST * 2)))
  BODY_LIMIT_NOTE="Warden's default body limit (server.max_body_bytes, 2 MiB) is below it, so the run's config raises it to $((LARGEST * 2)) bytes."
else
  BODY_LIMIT_NOTE="Warden's default body limit (server.max_body_bytes = 2 MiB) is above it, so the config is left at the default."
fi

LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)
awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }' &&
  log "WARNING: load average is $LOAD_BEFORE: other work shares the CPUs and skews the figures"
RUN_START=$SECONDS
start_standin
DIRECT_URL="http://$STANDIN_ADDR/v1/chat/completions"
preflight direct-base "$DIRECT_URL" "$UPSTREAM_TOKEN" "$BASE_BODY" 0

# A Warden on a fresh SQLite store in the work dir; sets KEY, WARDEN_URL, WARDEN_PIDS.
fresh_warden() { # name [extra TOML]
  local name=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  write_config "$dir/warden.toml" "${2:-}"
  KEY=$(create_key "sqlite://$dir/warden.db")
  start_warden "$name" "$dir/warden.toml" "sqlite://$dir/warden.db"
  WARDEN_URL="http://$WARDEN_ADDR/v1/chat/completions"
  WARDEN_PIDS=("$WARDEN_PID")
}

# ---- curve: prompt size ----------------------------------------------------------------
curve_prompt() {
  local t0=$SECONDS kb conc
  log "curve prompt: $PROMPT_KB KB at c = $PROMPT_CONC"
  fresh_warden prompt "$SERVER_TOML"
  for kb in $PROMPT_KB; do
    preflight "prompt-$kb-direct" "$DIRECT_URL" "$UPSTREAM_TOKEN" "$BODIES/prompt-$kb.json" 0
    preflight "prompt-$kb-warden" "$WARDEN_URL" "$KEY" "$BODIES/prompt-$kb.json" 1
  done
  for conc in $PROMPT_CONC; do
    for kb in $PROMPT_KB; do
      run_wrk prompt "$kb" "$conc" direct "$DIRECT_URL" "$UPSTREAM_TOKEN" "$BODIES/prompt-$kb.json"
      run_wrk prompt "$kb" "$conc" warden "$WARDEN_URL" "$KEY" "$BODIES/prompt-$kb.json"
    done
  done
  stop_warden "$WARDEN_PID"
  curve_done prompt "$t0"
}

# ---- curve: conversation length --------------------------------------------------------
curve_turns() {
  local t0=$SECONDS n conc
  log "curve turns: $TURNS turns at c = $TURNS_CONC"
  fresh_warden turns "$SERVER_TOML"
  for n in $TURNS; do
    preflight "turns-$n-direct" "$DIRECT_URL" "$UPSTREAM_TOKEN" "$BODIES/turns-$n.json" 0
    preflight "turns-$n-warden" "$WARDEN_URL" "$KEY" "$BODIES/turns-$n.json" 1
  done
  for conc in $TURNS_CONC; do
    for n in $TURNS; do
      run_wrk turns "$n" "$conc" direct "$DIRECT_URL" "$UPSTREAM_TOKEN" "$BODIES/turns-$n.json"
      run_wrk turns "$n" "$conc" warden "$WARDEN_URL" "$KEY" "$BODIES/turns-$n.json"
    done
  done
  stop_warden "$WARDEN_PID"
  curve_done turns "$t0"
}

# ---- curve: concurrency ----------------------------------------------------------------
curve_concurrency() {
  local t0=$SECONDS conc
  log "curve concurrency: c = $CONCURRENCY"
  fresh_warden concurrency "$SERVER_TOML"
  preflight concurrency-warden "$WARDEN_URL" "$KEY" "$BASE_BODY" 1
  for conc in $CONCURRENCY; do
    run_wrk concurrency "$conc" "$conc" direct "$DIRECT_URL" "$UPSTREAM_TOKEN" "$BASE_BODY"
    run_wrk concurrency "$conc" "$conc" warden "$WARDEN_URL" "$KEY" "$BASE_BODY"
  done
  stop_warden "$WARDEN_PID"
  curve_done concurrency "$t0"
}

# ---- curve: trail size -----------------------------------------------------------------
sqlite_value() { # db sql -> the first column of the first row ("" for NULL)
  python3 -c 'import sqlite3, sys
v = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print("" if v is None or v[0] is None else v[0])' "$1" "$2"
}
json_get() { # file key... -> a value of a JSON file
  python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"
}

sign_in() { # base jar key: a console session in the cookie jar
  local base=$1 jar=$2 key=$3 csrf code
  csrf=$(curl -s --max-time 10 -c "$jar" "$base/console/sign-in" | grep -m 1 -o 'name="csrf" value="[^"]*"' | head -n 1 | sed 's/.*value="//; s/"$//')
  [[ -n $csrf ]] || die "console sign-in page has no CSRF token"
  code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" "$base/console/sign-in" \
    --data-urlencode "csrf=$csrf" --data-urlencode "key=$key" --data-urlencode "next=/console/policy")
  [[ $code == 303 ]] && grep -q 'warden_console[[:space:]]' "$jar" || die "console sign-in failed (HTTP $code)"
}

time_pages() { # store base jar: each page 2 warm-ups + PAGE_REPEATS timed; one record per page
  local store=$1 base=$2 jar=$3 label path i out tsv="$WORK/pages-$1.tsv"
  : >"$tsv"
  for label in "/console/traces" "/console/traces?risk=red" "/console/overview?range=24h" \
    "/console/overview?range=30d" "/console/approvals" "/console/keys"; do
    path=$label
    for ((i = 0; i < PAGE_REPEATS + 2; i++)); do
      out=$(curl -s -o /dev/null --max-time 30 -b "$jar" -w '%{http_code}\t%header{server-timing}' "$base$path") ||
        die "console page $path: curl failed"
      [[ ${out%%$'\t'*} == 200 ]] || die "console page $path on the $store store: HTTP ${out%%$'\t'*}"
      ((i < 2)) || printf '%s\t%s\n' "$label" "$out" >>"$tsv"
    done
  done
  python3 - "$tsv" "$store" >>"$RESULTS" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    label, code, timing = line.rstrip("\n").split("\t")
    if "dur=" not in timing:
        raise SystemExit(f"no Server-Timing on {label}: {timing!r}")
    ms = float(timing.split("dur=")[1].split(",")[0].split(";")[0])
    rows.setdefault(label, ([], set()))
    rows[label][0].append(ms)
    rows[label][1].add(code)
for label, (xs, codes) in rows.items():
    xs.sort()
    print(json.dumps({"curve": "trail", "kind": "page", "store": sys.argv[2], "page": label,
                      "p50": xs[len(xs) // 2], "max": xs[-1], "n": len(xs), "codes": sorted(codes)}))
PY
}

trail_store() { # store (empty|full): serve, index, pages, load, stop, verify
  local store=$1 dir="$WORK/trail-$1" last indexed t0 key admin out vrc=0
  local db="$dir/warden.db" url="sqlite://$WORK/trail-$1/warden.db"
  write_config "$dir/warden.toml" "$SERVER_TOML"
  last=$(sqlite_value "$db" "SELECT MAX(seq) FROM audit_events")
  last=${last:-0}
  t0=$(now)
  start_warden "trail-$store" "$dir/warden.toml" "$url"
  WARDEN_PIDS=("$WARDEN_PID")
  if ((last > 0)); then
    log "trail $store: waiting for the console's index to reach record $last"
    local deadline=$((SECONDS + INDEX_TIMEOUT))
    while :; do
      indexed=$(sqlite_value "$db" "SELECT indexed_seq FROM audit_index_state WHERE id = 1" 2>/dev/null || true)
      [[ ${indexed:-0} -ge $last ]] && break
      ((SECONDS < deadline)) || die "the console's index reached ${indexed:-0} of $last in ${INDEX_TIMEOUT}s (BENCH_INDEX_TIMEOUT)"
      kill -0 "$WARDEN_PID" 2>/dev/null || die "warden exited while indexing; see $WORK/warden-trail-$store.log"
      sleep 0.5
    done
    record "{\"curve\":\"trail\",\"kind\":\"index\",\"store\":\"$store\",\"records\":$last,\"seconds\":$(since "$t0")}"
    log "trail $store: indexed $last records in $(since "$t0") s"
  fi
  local base="http://$WARDEN_ADDR"
  admin=$(json_get "$dir/keys.json" admin key)
  key=$(json_get "$dir/keys.json" acme-agent-01 key)
  sign_in "$base" "$dir/admin.jar" "$admin"
  log "trail $store: timing console pages"
  time_pages "$store" "$base" "$dir/admin.jar"
  preflight "trail-$store" "$base/v1/chat/completions" "$key" "$BASE_BODY" 1
  EXTRA=",\"store\":\"$store\""
  run_wrk trail "$last" 16 warden "$base/v1/chat/completions" "$key" "$BASE_BODY"
  EXTRA=""
  stop_warden "$WARDEN_PID"
  log "trail $store: warden audit verify"
  t0=$(now)
  out=$("$WARDEN" audit verify --database-url "$url" 2>"$dir/verify.log") || vrc=$?
  local secs
  secs=$(since "$t0")
  ((vrc == 0)) && [[ $out == ok:* ]] || { cat "$dir/verify.log" >&2; die "warden audit verify on the $store store failed: $out"; }
  local n
  n=$(echo "$out" | sed -n 's/^ok: \([0-9]*\) records.*/\1/p')
  record "{\"curve\":\"trail\",\"kind\":\"verify\",\"store\":\"$store\",\"records\":${n:-0},\"seconds\":$secs}"
  log "trail $store: verified $n records in $secs s"
}

curve_trail() {
  local t0=$SECONDS t rss
  log "curve trail: an empty trail vs $TRAIL_RECORDS records"
  mkdir -p "$WORK/trail-empty" "$WORK/trail-full"
  python3 "$BENCH_DIR/console_fill.py" --warden "$WARDEN" --db "$WORK/trail-empty/warden.db" \
    --out "$WORK/trail-empty" --records 0 2>"$WORK/trail-empty/fill.log" >/dev/null ||
    { cat "$WORK/trail-empty/fill.log" >&2; die "console_fill.py (empty store) failed"; }
  log "trail: filling $TRAIL_RECORDS records with console_fill.py (about 1 min per million here)"
  t=$(now)
  /usr/bin/env python3 - "$BENCH_DIR/console_fill.py" "$WARDEN" "$WORK/trail-full" "$TRAIL_RECORDS" \
    2>"$WORK/trail-full/fill.log" >"$WORK/trail-full/fill.rss" <<'PY' ||
import resource, subprocess, sys
fill, warden, out, n = sys.argv[1:]
p = subprocess.run([sys.executable, fill, "--warden", warden, "--db", out + "/warden.db", "--out", out, "--records", n])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
sys.exit(p.returncode)
PY
    { cat "$WORK/trail-full/fill.log" >&2; die "console_fill.py failed"; }
  local secs stats db_mb
  secs=$(since "$t")
  rss=$(cat "$WORK/trail-full/fill.rss")
  stats=$(tail -n 1 "$WORK/trail-full/fill.log")
  db_mb=$(( $(stat -c %s "$WORK/trail-full/warden.db") / 1048576 ))
  record "{\"curve\":\"trail\",\"kind\":\"fill\",\"records\":$TRAIL_RECORDS,\"seconds\":$secs,\"rss_mb\":$rss,\"db_mb\":$db_mb,\"stats\":$(printf '%s' "$stats" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')}"
  log "trail: filled in $secs s ($stats)"
  trail_store empty
  trail_store full
  curve_done trail "$t0"
}

# ---- curve: policy size ----------------------------------------------------------------
curve_policy() {
  local t0=$SECONDS n pack base_arg=() info
  log "curve policy: $POLICY_RULES generated rules ($POLICY_BASE)"
  [[ $POLICY_BASE == none ]] || base_arg=(--base "$ROOT/policies/default.toml")
  # The built-in pack first, as the reference row.
  fresh_warden policy-builtin "$SERVER_TOML"
  preflight policy-builtin "$WARDEN_URL" "$KEY" "$BASE_BODY" 1
  run_wrk policy 0 16 warden "$WARDEN_URL" "$KEY" "$BASE_BODY"
  stop_warden "$WARDEN_PID"
  info=$(python3 "$BENCH_DIR/scaling.py" classify --warden "$WARDEN" --text-file "$BODIES/base-prompt.txt" --lines "$CLASSIFY_LINES")
  record "{\"curve\":\"policy\",\"kind\":\"classify\",\"x\":0,${info#\{}"
  record "{\"curve\":\"policy\",\"kind\":\"pack\",\"x\":0,\"total\":$(grep -c '^\[\[rule\]\]' "$ROOT/policies/default.toml")}"
  for n in $POLICY_RULES; do
    pack="$WORK/policy-$n.toml"
    info=$(python3 "$BENCH_DIR/scaling.py" policy --rules "$n" "${base_arg[@]}" --out "$pack")
    record "{\"curve\":\"policy\",\"kind\":\"pack\",\"x\":$n,${info#\{}"
    info=$(python3 "$BENCH_DIR/scaling.py" classify --warden "$WARDEN" --policy "$pack" \
      --text-file "$BODIES/base-prompt.txt" --lines "$CLASSIFY_LINES")
    [[ $info == *'"risks": ["green"]'* ]] || die "the benchmark prompt is not green under $pack: $info"
    record "{\"curve\":\"policy\",\"kind\":\"classify\",\"x\":$n,${info#\{}"
    fresh_warden "policy-$n" "$(printf '%s\n[policy]\nfile = "%s"' "$SERVER_TOML" "$pack")"
    grep -q "gen.r" "$pack" || die "no generated rules in $pack"
    preflight "policy-$n" "$WARDEN_URL" "$KEY" "$BASE_BODY" 1
    run_wrk policy "$n" 16 warden "$WARDEN_URL" "$KEY" "$BASE_BODY"
    stop_warden "$WARDEN_PID"
  done
  curve_done policy "$t0"
}

# ---- curve: replicas on PostgreSQL -----------------------------------------------------
curve_replicas() {
  local t0=$SECONDS url targets=() replicas t
  log "curve replicas: one vs two Warden replicas on PostgreSQL ($PG_SERVER)"
  PG_DB="warden_scaling_$$"
  psql -X -q -v ON_ERROR_STOP=1 "$PG_SERVER/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null ||
    die "cannot create a database on $PG_SERVER (is PostgreSQL running?)"
  url="$PG_SERVER/$PG_DB"
  mkdir -p "$WORK/replicas"
  write_config "$WORK/replicas/warden.toml" "$SERVER_TOML"
  (cd "$WORK" && "$WARDEN" migrate --config "$WORK/replicas/warden.toml" --database-url "$url" >/dev/null 2>"$WORK/replicas/migrate.log") ||
    { cat "$WORK/replicas/migrate.log" >&2; die "warden migrate on PostgreSQL failed"; }
  KEY=$(create_key "$url")
  WARDEN_PIDS=()
  COMPLETED=0
  for replicas in 1 2; do
    while ((${#WARDEN_PIDS[@]} < replicas)); do
      start_warden "replica-${#WARDEN_PIDS[@]}" "$WORK/replicas/warden.toml" "$url"
      WARDEN_PIDS+=("$WARDEN_PID")
      targets+=("$WARDEN_ADDR")
    done
    for t in "${targets[@]}"; do
      preflight "replica-$t" "http://$t/v1/chat/completions" "$KEY" "$BASE_BODY" 1
      COMPLETED=$((COMPLETED + 1))
    done
    run_wrk replicas "$replicas" 16 warden "http://${targets[0]}/v1/chat/completions" "$KEY" "$BASE_BODY" "${targets[*]}"
  done
  for t in "${WARDEN_PIDS[@]}"; do stop_warden "$t"; done
  WARDEN_PIDS=()
  t=$(now)
  local out decisions
  out=$("$WARDEN" audit verify --database-url "$url" 2>"$WORK/replicas/verify.log") ||
    { cat "$WORK/replicas/verify.log" >&2; die "warden audit verify on PostgreSQL failed"; }
  local secs
  secs=$(since "$t")
  decisions=$(psql -X -At "$url" -c "SELECT COUNT(*) FROM audit_events WHERE stage = 'classification'")
  record "{\"curve\":\"replicas\",\"kind\":\"verify\",\"out\":\"$out\",\"seconds\":$secs,\"decisions\":$decisions,\"completed\":$COMPLETED}"
  ((decisions >= COMPLETED)) || die "the chain holds $decisions decision records, fewer than the $COMPLETED requests completed"
  psql -X -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  PG_DB=""
  curve_done replicas "$t0"
}

for c in $CURVES; do "curve_$c"; done

# ---- report ----------------------------------------------------------------------------
META="$WORK/meta.json"
POLICY_NOTE="Generated rules (the decision benchmark's generator, crates/policy/benches/decision.rs, ported to Python in bench/scaling.py: four two-word terms of made-up words, a \`summarize <made-up word>\` term and a near clause each, alternately red and amber, ids \`gen.rN\`) "
if [[ $POLICY_BASE == none ]]; then
  POLICY_NOTE+="as a standalone pack, so the rules in force are the generated ones only."
else
  POLICY_NOTE+="added after the 16 rules of the default pack (policies/default.toml) in one file given as \`policy.file\`, so the rules in force are 16 + N; none fires on the prompt (each pack is checked green with \`warden classify\` and through Warden)."
fi
POLICY_NOTE+=" Through Warden: wrk -t$THREADS -c16, JSON, run.sh's prompt, one fresh Warden per pack. \`warden classify --policy\` timing: 1 line (start-up: reading and compiling the pack, best of 3) and $CLASSIFY_LINES lines of the same prompt; the difference over $((CLASSIFY_LINES - 1)) lines is one decision (the engine alone plus JSON in and out)."
REPLICAS_NOTE="A fresh PostgreSQL database on $PG_SERVER (dropped afterwards), durability $DURABILITY; one replica, then a second one on the same database; wrk -t$THREADS -c16 JSON (run.sh's prompt), each wrk thread driving one replica (bench/scaling.lua's BENCH_TARGETS). Warden CPU is the sum over the replicas."
TRAIL_NOTE=""
if ((TRAIL_RECORDS < 10000000)); then
  TRAIL_NOTE="Measured with $TRAIL_RECORDS records (BENCH_TRAIL_RECORDS), not 10,000,000: on this 2-core machine console_fill.py filled 10,000,000 records in 10.5 min (about 16k records/s, 3.8 GiB of memory, a 9.5 GiB database), \`warden serve\` then took 10 min more to index them for the console (about 16.5k records/s) and \`warden audit verify\` 70 s to read them (the whole curve: 22 min), so 10M does not fit the run's ~20-minute budget. BENCH_TRAIL_RECORDS=10000000 measures it (10 GiB of disk in the temp folder)."
fi
python3 - "$META" <<PY
import json, sys
json.dump({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "curves": "$CURVES".split(),
  "header": [
    "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r); wrk, the stand-in, Warden (and PostgreSQL) share the CPUs",
    "code: $CODE",
    "load average (1/5/15 min) before: $LOAD_BEFORE; after: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews the figures)",
    "runs: wrk -d $DURATION after a $WARMUP warm-up per row, --timeout $WRK_TIMEOUT; durability $DURABILITY; SQLite stores on $FS_TYPE; open-file limit $NOFILE",
    "command: BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_TRAIL_RECORDS=$TRAIL_RECORDS bash bench/scaling.sh $CURVES",
  ],
  "bodies": json.load(open("$BODIES/bodies.json")),
  "body_limit_note": """$BODY_LIMIT_NOTE""",
  "threads": $THREADS,
  "nofile": "$NOFILE",
  "trail_records": $TRAIL_RECORDS,
  "trail_note": """$TRAIL_NOTE""",
  "page_repeats": $PAGE_REPEATS,
  "policy_note": """$POLICY_NOTE""",
  "replicas_note": """$REPLICAS_NOTE""",
}, open(sys.argv[1], "w"), indent=1)
PY
python3 "$BENCH_DIR/scaling.py" report --results "$RESULTS" --meta "$META"
log "all curves done in $(((SECONDS - RUN_START) / 60)) min $(((SECONDS - RUN_START) % 60)) s"
