-- wrk script for bench/run.sh: POSTs one fixed JSON body with a bearer token, and prints
-- one machine-readable summary line at the end.
--
-- Environment (read once per wrk thread):
--   BENCH_BODY   the request body (JSON text)
--   BENCH_AUTH   the bearer token to send (optional)

local body = os.getenv("BENCH_BODY")
if body == nil or body == "" then
  error("post.lua: BENCH_BODY is not set")
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"

local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. auth
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
