-- wrk `done` hook shared by the bench scripts: one line `WRK_JSON {...}` with req/s, latency
-- percentiles (microseconds), request and error counts (non-2xx/3xx answers count as errors).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
