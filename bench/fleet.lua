-- wrk script for bench/fleet.sh: post.lua's request and summary, with wrk's threads spread
-- over the replicas named in BENCH_TARGETS ("127.0.0.1:PORT 127.0.0.1:PORT"), thread i
-- sending to replica i mod n. wrk runs setup() once per thread before the run.
dofile(os.getenv("BENCH_LUA_DIR") .. "/post.lua")

local targets = {}
for target in string.gmatch(os.getenv("BENCH_TARGETS") or "", "%S+") do
  table.insert(targets, target)
end
if #targets == 0 then
  error("fleet.lua: BENCH_TARGETS is not set")
end

local threads = 0
function setup(thread)
  local host, port = targets[(threads % #targets) + 1]:match("^(.+):(%d+)$")
  thread.addr = wrk.lookup(host, port)[1]
  threads = threads + 1
end
