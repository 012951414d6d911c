-- wrk script for bench/http.sh: prints, after wrk's own report, the 99th percentile latency as
--
--   p99_wrk_us X    wrk's own (latency:percentile(99), what --latency prints)
--   p99_seen_us Y   the 99th percentile of the samples wrk's percentile walk sees
--
-- wrk 4.1's coordinated-omission correction adds synthetic samples that can fall below the
-- minimum its percentile walk starts from (wg/wrk#354); once they are over 1% of the count,
-- percentile(99) is 0. The fraction the walk sees is the highest q with percentile(q) > 0; the
-- 99th percentile of what it sees is then percentile(0.99 q). Without the bug, Y = X.
-- Loaded by pipeline.lua too; on its own it leaves wrk's requests alone (no request()).
done = function(summary, latency, requests)
  local p99 = latency:percentile(99)
  io.write(string.format("p99_wrk_us %d\n", p99))
  if p99 > 0 then
    io.write(string.format("p99_seen_us %d\n", p99))
    return
  end
  local lo, hi = 0, 99
  for _ = 1, 60 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) > 0 then lo = mid else hi = mid end
  end
  io.write(string.format("p99_seen_us %d\n", latency:percentile(0.99 * lo)))
end
