-- wrk script for bench/http.sh: each connection sends DEPTH requests at once (HTTP/1.1
-- pipelining, like TechEmpower's plaintext test) and waits for the DEPTH responses before the
-- next batch.
--
--   wrk -t1 -c256 -d5s --latency -s pipeline.lua http://127.0.0.1:PORT/plaintext -- 16
--
-- wrk counts every response in Requests/sec; its latency is per batch (first request sent to
-- last response read). The p99 lines come from latency.lua beside this file.
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "latency.lua")
