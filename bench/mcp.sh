#!/usr/bin/env bash
# The latency Warden adds to an MCP tools/call, measured side by side in one run: the same call
# made by the official Python SDK client directly to the server, then through Warden's
# /mcp/{server}, for an HTTP server (server-everything's `echo`) and a stdio server
# (server-filesystem's `read_text_file`). Each row: one session, one warm-up call, then N calls
# timed one after another (p50, p90, mean).
#
#   bash bench/mcp.sh [N]        (default N=300; bounded: 4 rows of N calls)
#
# Uses the venv and servers the MCP tests install under target/tmp (it installs them the same
# way if they are missing). Every process listens on 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
ROOT=$PWD
TMP=$ROOT/target/tmp
VENV=$TMP/mcp-sdk-venv
SERVERS=$TMP/mcp-servers
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r tests/mcp/requirements.txt
fi
if [[ ! -d $SERVERS/node_modules/@modelcontextprotocol/server-everything ]]; then
    mkdir -p "$SERVERS"
    cp tests/mcp/package.json tests/mcp/package-lock.json "$SERVERS/"
    (cd "$SERVERS" && npm ci --silent --no-audit --no-fund)
fi
cargo build --release -q -p warden
WARDEN=$ROOT/target/release/warden
PY=$VENV/bin/python
CLIENT=$ROOT/tests/mcp/mcp_client.py
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# server-everything over streamable HTTP, bound to loopback (it calls listen(PORT) without a host).
cat >"$WORK/loopback.mjs" <<'JS'
import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) {
    if (typeof a[0] === 'number' || (typeof a[0] === 'string' && /^[0-9]+$/.test(a[0]))) a.splice(1, 0, '127.0.0.1');
    return listen.apply(this, a);
};
JS
LOOPBACK=file://$WORK/loopback.mjs
EVERY_PORT=$(free_port)
PORT=$EVERY_PORT node --import "$LOOPBACK" "$SERVERS/node_modules/@modelcontextprotocol/server-everything/dist/index.js" streamableHttp >"$WORK/everything.log" 2>&1 &
PIDS+=($!)
EVERY_URL=http://127.0.0.1:$EVERY_PORT/mcp
mkdir -p "$WORK/files"
echo "the meeting moved to Thursday" >"$WORK/files/notes.txt"
FS_ENTRY=$SERVERS/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js
cat >"$WORK/warden.toml" <<TOML
[[mcp.servers]]
name = "everything"
url = "$EVERY_URL"
[[mcp.servers]]
name = "files"
command = ["node", "$FS_ENTRY", "$WORK/files"]
TOML
DB=sqlite://$WORK/warden.db
"$WARDEN" keys create --name root --role admin --database-url "$DB" >"$WORK/admin.key" 2>/dev/null
"$WARDEN" keys create --name dev --role requester --database-url "$DB" >"$WORK/dev.key" 2>/dev/null
WPORT=$(free_port)
"$WARDEN" serve --listen 127.0.0.1:$WPORT --database-url "$DB" --upstream http://127.0.0.1:9 --config "$WORK/warden.toml" >"$WORK/warden.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$WPORT/healthz" && curl -s -o /dev/null "$EVERY_URL" && break
    sleep 0.1
done
export WARDEN_URL=http://127.0.0.1:$WPORT WARDEN_API_KEY
WARDEN_API_KEY=$(cat "$WORK/admin.key")
"$WARDEN" mcp approve everything >/dev/null
"$WARDEN" mcp approve files >/dev/null
DEV=$(cat "$WORK/dev.key")

row() { # row LABEL ARGS...: prints "LABEL p50 p90 mean"
    local label=$1
    shift
    local out
    out=$("$PY" "$CLIENT" "$@")
    python3 -c 'import json,sys; d=json.loads(sys.argv[2]); assert d.get("ok"), d; print("%-34s %8.2f %8.2f %8.2f" % (sys.argv[1], d["p50_ms"], d["p90_ms"], d["mean_ms"]))' "$label" "$out"
}
echo "MCP tools/call latency, $N calls per row, $(date -u +%FT%TZ), $(git rev-parse --short HEAD)"
printf '%-34s %8s %8s %8s\n' "row" "p50 ms" "p90 ms" "mean ms"
row "everything echo, direct (HTTP)" "$EVERY_URL" call echo '{"message":"hello"}' --timing "$N"
row "everything echo, via Warden" "http://127.0.0.1:$WPORT/mcp/everything" --key "$DEV" call echo '{"message":"hello"}' --timing "$N"
row "files read_text_file, direct (stdio)" --stdio -- node "$FS_ENTRY" "$WORK/files" call read_text_file "{\"path\":\"$WORK/files/notes.txt\"}" --timing "$N"
row "files read_text_file, via Warden" "http://127.0.0.1:$WPORT/mcp/files" --key "$DEV" call read_text_file "{\"path\":\"$WORK/files/notes.txt\"}" --timing "$N"
"$WARDEN" audit verify --database-url "$DB" | tail -1
