-- wrk script: POST the body template with a fresh fingerprint (and instance label) per request.
-- Environment: BENCH_BODY (file with the JSON template; FPRINT is replaced), BENCH_PATH,
-- BENCH_TOKEN (optional bearer token), BENCH_SEED (makes this run's fingerprints differ from
-- every other run's; without it each wrk run would draw the same prefix again).
local template
local path
local headers = {["Content-Type"] = "application/json"}
local counter = 0
-- a global, not a local: setup() gives each thread its own through thread:set
prefix = 0

local seeded = false

function setup(thread)
  if not seeded then
    math.randomseed(tonumber(os.getenv("BENCH_SEED") or "") or os.time())
    seeded = true
  end
  thread:set("prefix", math.random(1, 2147483647))
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
end

function request()
  counter = counter + 1
  local fingerprint = string.format("%08x%08x", prefix, counter)
  local body = string.gsub(template, "FPRINT", fingerprint)
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, \"connect_errors\": %d, " ..
    "\"read_errors\": %d, \"write_errors\": %d, \"timeouts\": %d, \"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
