-- wrk script for bench/central_bench.py. Arguments after `--`: METHOD BODY_FILE PATHS_FILE
-- ("-" for none). With a paths file, each request takes the next path (one tray session per
-- infer call). `done` prints one line, `BENCH_JSON {...}`, with the figures the runner reads.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  method = args[1] or "GET"
  body = nil
  if args[2] and args[2] ~= "-" then
    local f = assert(io.open(args[2], "rb"))
    body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/json"
  end
  paths, count, index, wrapped = nil, 0, 0, 0
  if args[3] and args[3] ~= "-" then
    paths = {}
    for line in io.lines(args[3]) do
      count = count + 1
      paths[count] = line
    end
  end
end

function request()
  local path = nil
  if paths then
    index = index + 1
    if index > count then
      index, wrapped = 1, wrapped + 1
    end
    path = paths[index]
  end
  return wrk.format(method, path, nil, body)
end

function done(summary, latency, requests)
  local wrapped_total = 0
  for _, thread in ipairs(threads) do
    wrapped_total = wrapped_total + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"wrapped":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout, wrapped_total))
end
