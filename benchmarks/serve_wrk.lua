-- wrk script of benchmarks/serve.py: posts the prepared requests (one per line: "token<TAB>JSON"),
-- thread k taking lines k, k + T, ...; CLICKME_WRK_DELAY_MS > 0 waits about that long between a
-- connection's posts (each connection is one participant posting a trial a second).
local file = os.getenv("CLICKME_WRK_REQUESTS")
local path = os.getenv("CLICKME_WRK_PATH")
local threads_n = tonumber(os.getenv("CLICKME_WRK_THREADS"))
local think = tonumber(os.getenv("CLICKME_WRK_DELAY_MS") or "0")
local counter, threads = 0, {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  lines, idx, s201, s200, s4xx, s5xx, wrapped = {}, 0, 0, 0, 0, 0, 0
  local n = 0
  for line in io.lines(file) do
    if n % threads_n == id then table.insert(lines, line) end
    n = n + 1
  end
  math.randomseed(1000 + id)
end

function delay()
  if think <= 0 then return 0 end
  return math.random(math.floor(think / 2), math.floor(think * 3 / 2))
end

function request()
  idx = idx + 1
  if idx > #lines then idx, wrapped = 1, wrapped + 1 end
  local line = lines[idx]
  local tab = string.find(line, "\t", 1, true)
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. string.sub(line, 1, tab - 1)}, string.sub(line, tab + 1))
end

function response(status, headers, body)
  if status == 201 then s201 = s201 + 1 elseif status == 200 then s200 = s200 + 1
  elseif status >= 500 then s5xx = s5xx + 1 else s4xx = s4xx + 1 end
end

function done(summary, latency, requests)
  local t = {s201 = 0, s200 = 0, s4xx = 0, s5xx = 0, wrapped = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format('CLICKME {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d, "timeouts": %d, "s201": %d, "s200": %d, "s4xx": %d, "s5xx": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status,
    summary.errors.timeout, t.s201, t.s200, t.s4xx, t.s5xx, t.wrapped))
end
