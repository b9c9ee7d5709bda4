#!/usr/bin/env bash
# How fast `warden audit verify` walks a long trail: in full, and with `--incremental` after
# 1,000 more records, on a SQLite store of realistic records (bench/console_fill.py: a valid
# hash chain, the gateway's payload shapes, about 650 hashed bytes a record).
#
#   bash bench/verify.sh [RECORDS]        (default 1000000; the fill takes 2-3 minutes)
#
# BENCH_OLD=/path/to/warden also times another build's full verify on a copy of the same trail,
# alternated with this one's (the machine's drift falls on both): an older binary refuses a
# store migrated by a newer one, so its copy is made before this build opens the trail.
# BENCH_ROUNDS (default 3) runs of each; the best and the median are printed.
# BENCH_SKIP_BUILD=1 uses target/release/warden as it is. BENCH_KEEP=1 keeps the temp folder
# (BENCH_TMPDIR, default $TMPDIR or /tmp; put it on the disk under test, not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-1000000}
MORE=1000
ROUNDS=${BENCH_ROUNDS:-3}
OLD=${BENCH_OLD:-}
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -q -p warden
fi
WARDEN=$PWD/target/release/warden
WORK=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/warden-verify.XXXXXX")
cleanup() {
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
DB=$WORK/trail.db
URL=sqlite://$DB

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# With another build to compare, the trail is created with its schema, which this build
# migrates when it first opens it; the other build reads its own copy.
echo "filling $RECORDS records..." >&2
python3 bench/console_fill.py --warden "${OLD:-$WARDEN}" --db "$DB" --out "$WORK/fill" \
    --records "$RECORDS" 2>"$WORK/fill.log" >/dev/null || { cat "$WORK/fill.log" >&2; exit 1; }
python3 - "$DB" <<'EOF'
import sqlite3, sys
sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")
EOF
if [ -n "$OLD" ]; then
    cp "$DB" "$WORK/old.db"
fi
"$WARDEN" migrate --database-url "$URL" >/dev/null

# Runs `warden audit verify ARGS...` on URL; appends "wall user+sys" to FILE; fails unless ok.
timed() {
    local file=$1 bin=$2 url=$3 out
    shift 3
    local start end cpu
    start=$(date +%s.%N)
    out=$( { TIMEFORMAT='%U %S'; time "$bin" audit verify --database-url "$url" "$@" 2>/dev/null; } 2>"$WORK/cpu" ) \
        || { echo "verify failed: $out" >&2; exit 1; }
    end=$(date +%s.%N)
    cpu=$(awk '{print $1 + $2}' "$WORK/cpu")
    awk -v a="$start" -v b="$end" -v c="$cpu" 'BEGIN {printf "%.3f %s\n", b - a, c}' >>"$file"
    echo "$out" >"$file.out"
}

# "best median cpu-of-best" of the walls in FILE.
summary() {
    sort -n "$1" | awk '{w[NR]=$1; c[NR]=$2} END {printf "%.3f %.3f %.3f\n", w[1], w[int((NR+1)/2)], c[1]}'
}

rate() { echo "$1 $2" | awk '{printf "%.0f", $1 / $2}'; }

: >"$WORK/new-full"
: >"$WORK/old-full"
for _ in $(seq "$ROUNDS"); do
    if [ -n "$OLD" ]; then
        timed "$WORK/old-full" "$OLD" "sqlite://$WORK/old.db"
    fi
    timed "$WORK/new-full" "$WARDEN" "$URL"
done
grep -q "^ok: $RECORDS records, chain head " "$WORK/new-full.out" || { cat "$WORK/new-full.out" >&2; exit 1; }

# MORE records after the last, as a gateway appends them: the contents of the last MORE
# records again (fresh times), chained on; the head row follows by its trigger.
python3 - "$DB" "$MORE" <<'EOF'
import datetime, hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
more = int(sys.argv[2])
seq, prev = db.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
rows = db.execute("SELECT trace_id, stage, actor, payload FROM audit_events WHERE seq > ? ORDER BY seq",
                  (seq - more,)).fetchall()
db.execute("BEGIN")
for trace_id, stage, actor, payload in rows:
    seq += 1
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    h = hashlib.sha256(b"warden.audit.v1\0" + struct.pack(">q", seq))
    for field in (prev, trace_id, ts, stage, actor, payload):
        b = field.encode()
        h.update(struct.pack(">Q", len(b)) + b)
    digest = h.hexdigest()
    db.execute("INSERT INTO audit_events (seq, trace_id, ts, stage, actor, payload, prev_hash, hash) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (seq, trace_id, ts, stage, actor, payload, prev, digest))
    prev = digest
db.execute("COMMIT")
EOF

# Each incremental run goes on from the full verify of RECORDS (its recorded outcome is put
# back before each run: a run records its own head, from which the next would walk nothing).
ANCHOR=$(python3 - "$DB" <<'EOF'
import sqlite3, sys
print(*sqlite3.connect(sys.argv[1]).execute(
    "SELECT verified_seq, verified_hash, verified_ms FROM audit_index_state WHERE id = 1").fetchone())
EOF
)
read -r ANCHOR_SEQ ANCHOR_HASH ANCHOR_MS <<<"$ANCHOR"
: >"$WORK/new-incr"
for _ in $(seq "$ROUNDS"); do
    python3 - "$DB" "$ANCHOR_SEQ" "$ANCHOR_HASH" "$ANCHOR_MS" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("UPDATE audit_index_state SET verified_seq = ?, verified_hash = ?, verified_ms = ?, verified_ok = 1, "
           "verify_problem = NULL WHERE id = 1", (int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
EOF
    timed "$WORK/new-incr" "$WARDEN" "$URL" --incremental
done
grep -q "^ok: $MORE records after record $RECORDS (incremental), chain head " "$WORK/new-incr.out" \
    || { cat "$WORK/new-incr.out" >&2; exit 1; }
: >"$WORK/new-full2"
timed "$WORK/new-full2" "$WARDEN" "$URL"

read -r NB NM NC <<<"$(summary "$WORK/new-full")"
read -r IB IM IC <<<"$(summary "$WORK/new-incr")"
read -r FB _ _ <<<"$(summary "$WORK/new-full2")"
echo
echo "## warden audit verify, SQLite, $RECORDS records ($(nproc) cores, best of $ROUNDS, load after: $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| build | walk | records | wall best (s) | wall median (s) | CPU of best (s) | records/s (best) |"
echo "|---|---|---|---|---|---|---|"
if [ -n "$OLD" ]; then
    read -r OB OM OC <<<"$(summary "$WORK/old-full")"
    echo "| $OLD | full | $RECORDS | $OB | $OM | $OC | $(rate "$RECORDS" "$OB") |"
fi
echo "| $WARDEN | full | $RECORDS | $NB | $NM | $NC | $(rate "$RECORDS" "$NB") |"
echo "| $WARDEN | --incremental after $MORE more | $MORE | $IB | $IM | $IC | $(rate "$MORE" "$IB") |"
echo "| $WARDEN | full, after the $MORE | $((RECORDS + MORE)) | $FB | | | $(rate "$((RECORDS + MORE))" "$FB") |"
echo
echo "Walls are whole runs of the command (start, open the store, walk, record the outcome)."
echo "Last incremental: $(cat "$WORK/new-incr.out")"
