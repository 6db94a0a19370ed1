-- wrk script: getSessionAndUser with a random valid token per request, over keep-alive.
--
--   BENCH_TOKENS=tokens.txt wrk -t2 -c32 -d15s --latency -s bench/session-read.lua http://127.0.0.1:7801
--
-- BENCH_TOKENS  file with one session token per line (required)
-- BENCH_PATH    request path (default /v1/adapter/getSessionAndUser)
-- BENCH_API_KEY sent as `Authorization: Bearer ...` when set
-- BENCH_CHECK=1 also counts non-200 answers and `null` bodies (wrk then reads every body in Lua,
--               which costs throughput: use it for warm-ups and smoke runs, not measurements)
--
-- done() prints one line `BENCH_JSON {...}` with the totals and latency percentiles (µs).

local tokens_file = os.getenv("BENCH_TOKENS")
local path = os.getenv("BENCH_PATH") or "/v1/adapter/getSessionAndUser"
local api_key = os.getenv("BENCH_API_KEY")
local check = os.getenv("BENCH_CHECK") == "1"

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
  table.insert(threads, thread)
end

local requests_pool = {}
local pool_size = 0

function init(args)
  assert(tokens_file, "set BENCH_TOKENS to a file of session tokens")
  local headers = { ["Content-Type"] = "application/json" }
  if api_key and api_key ~= "" then headers["Authorization"] = "Bearer " .. api_key end
  -- Every request is formatted once here, so the load generator spends its CPU on sending.
  for token in io.lines(tokens_file) do
    if token ~= "" then
      pool_size = pool_size + 1
      requests_pool[pool_size] = wrk.format("POST", path, headers, '{"sessionToken":"' .. token .. '"}')
    end
  end
  assert(pool_size > 0, "no token in " .. tokens_file)
  math.randomseed(os.time() * 1000 + (id or 0))
  non200 = 0
  nulls = 0
end

function request()
  return requests_pool[math.random(pool_size)]
end

if check then
  function response(status, headers, body)
    if status ~= 200 then
      non200 = non200 + 1
    elseif body == "null" then
      nulls = nulls + 1
    end
  end
end

function done(summary, latency, requests)
  local non200_total, nulls_total = 0, 0
  for _, thread in ipairs(threads) do
    non200_total = non200_total + (thread:get("non200") or 0)
    nulls_total = nulls_total + (thread:get("nulls") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"checked":%s,"non200":%d,"nulls":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    tostring(check), non200_total, nulls_total,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
