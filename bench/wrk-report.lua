-- wrk reporting hook for scripts/bench.sh: writes one JSON object with the run's totals and
-- latency percentiles (microseconds) to the file named by $WRK_OUT.
done = function(summary, latency, requests)
  local path = os.getenv("WRK_OUT")
  if path == nil or path == "" then
    return
  end
  local f = assert(io.open(path, "w"))
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f,"stdev":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, latency.stdev))
  f:close()
end
