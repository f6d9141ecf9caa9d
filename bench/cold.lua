-- wrk script for bench.run: every request is the next line of a list file, so each one is
-- a different customer's page, and a machine-readable JSON summary on the last stdout line.
--
--   wrk ... -s cold.lua <url> -- <list file> <start index> <threads>
--
-- A line is "METHOD<TAB>PATH<TAB>BODY" (BODY empty for a GET; a body is sent as a form).
-- Thread t (0-based) sends lines start+t, start+t+threads, ... so no two threads send the
-- same line, and the summary says where the next run should start so that no run repeats
-- a line of the one before; the requests are built once in init(), as wrk's SCRIPTING advises.
-- Statuses are counted per class here: wrk's own errors.status counts only >= 400, and a
-- 302 to the login page is a failure too.

local threads, next_id = {}, 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local lines = {}
  for line in io.lines(args[1]) do
    if line ~= "" then table.insert(lines, line) end
  end
  start, stride = tonumber(args[2]), tonumber(args[3])
  requests_, sent = {}, 0
  for k = 0, math.ceil(#lines / stride) - 1 do
    local line = lines[(start + tid + k * stride) % #lines + 1]
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t(.*)$")
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    if body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
    table.insert(requests_, wrk.format(method, path, headers, body))
  end
  s2xx, s3xx, s4xx, s5xx = 0, 0, 0, 0
end

function request()
  sent = sent + 1
  return requests_[(sent - 1) % #requests_ + 1]
end

function response(status, headers, body)
  if status < 300 then s2xx = s2xx + 1
  elseif status < 400 then s3xx = s3xx + 1
  elseif status < 500 then s4xx = s4xx + 1
  else s5xx = s5xx + 1 end
end

function done(summary, latency, requests)
  local n, next_start = {s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0}, 0
  for _, t in ipairs(threads) do
    for name, _ in pairs(n) do n[name] = n[name] + (t:get(name) or 0) end
    -- past the last line any thread sent (in flight included): where the next run starts
    next_start = math.max(next_start, t:get("start") + t:get("sent") * t:get("stride"))
  end
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests": %d, "duration_us": %d, "req_per_s": %.2f, ' ..
    '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"next_start": %d, "status": {"2xx": %d, "3xx": %d, "4xx": %d, "5xx": %d}, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, next_start,
    n.s2xx, n.s3xx, n.s4xx, n.s5xx, e.connect, e.read, e.write, e.timeout))
end
