-- wrk script for bench/scaling.sh: POSTs one fixed JSON body with a bearer token, spreads
-- wrk's threads over one or more servers, and prints one machine-readable summary line.
--
-- Environment (read once per wrk thread):
--   BENCH_BODY_FILE  a file holding the request body (JSON). A file, not a variable: Linux
--                    refuses an environment string over 128 KiB, and the 128 KB prompt is one.
--   BENCH_AUTH       the bearer token to send (optional)
--   BENCH_TARGETS    optional "127.0.0.1:PORT 127.0.0.1:PORT ...": thread i sends to target
--                    i mod n (the URL given to wrk then only names the path)

local path = os.getenv("BENCH_BODY_FILE")
if path == nil or path == "" then
  error("scaling.lua: BENCH_BODY_FILE is not set")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()
if body == nil or body == "" then
  error("scaling.lua: " .. path .. " is empty")
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
end

local targets = {}
for target in string.gmatch(os.getenv("BENCH_TARGETS") or "", "%S+") do
  table.insert(targets, target)
end

local threads = 0
function setup(thread)
  if #targets > 0 then
    local host, port = targets[(threads % #targets) + 1]:match("^(.+):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
  threads = threads + 1
end

-- Called once, after the run, with the totals of every thread. Latencies are in microseconds.
-- `errors.status` counts responses whose status was not 2xx or 3xx.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%.0f p99_us=%.0f mean_us=%.0f max_us=%.0f\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
