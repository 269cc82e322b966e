-- wrk script for bench/intake/storm.py, scenario 1 (single-alert requests).
-- Like fresh.lua (a fresh fingerprint per request), and in addition it counts the answers
-- by status, counts the 503s by their "stored" field, and writes the fingerprint of every
-- 2xx answer to BENCH_OUT.<prefix>, one a line, so that storm.py can check each against
-- the database. Environment: BENCH_BODY, BENCH_PATH, BENCH_TOKEN, BENCH_SEED, BENCH_OUT.
local template
local path
local headers = {["Content-Type"] = "application/json"}
local counter = 0
local out
-- globals, read back in done() through thread:get
prefix = 0
sent = 0
ok = 0
ok_alerts = 0
unavailable = 0
maybe_stored = 0
other = 0

local threads = {}
local seeded = false

function setup(thread)
  if not seeded then
    math.randomseed(tonumber(os.getenv("BENCH_SEED") or "") or os.time())
    seeded = true
  end
  thread:set("prefix", math.random(1, 2147483647))
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("BENCH_BODY"), "r"))
  template = file:read("*a")
  file:close()
  path = os.getenv("BENCH_PATH")
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  out = assert(io.open(os.getenv("BENCH_OUT") .. "." .. prefix, "w"))
  out:setvbuf("full")
end

function request()
  counter = counter + 1
  sent = counter
  local fingerprint = string.format("%08x%08x", prefix, counter)
  local body = string.gsub(template, "FPRINT", fingerprint)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    local found = false
    for fingerprint in string.gmatch(body, '"fingerprint"%s*:%s*"([^"]+)"') do
      out:write(fingerprint, "\n")
      ok_alerts = ok_alerts + 1
      found = true
    end
    if not found then
      -- the empty endpoint answers {"status": "ok", "alerts": 1}
      ok_alerts = ok_alerts + (tonumber(string.match(body, '"alerts"%s*:%s*(%d+)')) or 0)
    end
    if ok % 512 == 0 then
      out:flush()
    end
  elseif status == 503 then
    unavailable = unavailable + 1
    if string.find(body, '"stored"%s*:%s*"maybe"') then
      maybe_stored = maybe_stored + 1
    end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local t = {sent = 0, ok = 0, ok_alerts = 0, unavailable = 0, maybe_stored = 0, other = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(t) do
      t[name] = t[name] + thread:get(name)
    end
  end
  io.write(string.format(
    "RESULT {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, \"connect_errors\": %d, " ..
    "\"read_errors\": %d, \"write_errors\": %d, \"timeouts\": %d, \"p50_us\": %d, \"p90_us\": %d, " ..
    "\"p99_us\": %d, \"max_us\": %d, \"sent\": %d, \"ok\": %d, \"ok_alerts\": %d, \"unavailable\": %d, " ..
    "\"maybe_stored\": %d, \"other\": %d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    t.sent, t.ok, t.ok_alerts, t.unavailable, t.maybe_stored, t.other))
end
