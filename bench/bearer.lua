-- wrk script for bench/run.py: GET one path with a bearer token, count every non-200 answer,
-- and print one machine-readable result line ("BENCH_RESULT {json}") when the run is done.
--
-- Settings come from the environment (run.py sets them for each round):
--   BENCH_TOKEN             one token sent on every request (the "repeated token" mode), or
--   BENCH_TOKEN_FILE        a file of tokens, one per line, all BENCH_TOKEN_WIDTH characters long
--                           (the "first-seen" mode): thread i sends the tokens of lines
--                           BENCH_TOKEN_START + i * per .. + per - 1 (per = BENCH_TOKEN_COUNT / BENCH_THREADS),
--                           each once, so no request repeats a token; if a thread runs out it starts its
--                           block again and counts the wrap, so run.py can flag the round.
--   BENCH_THREADS           wrk's -t (to split the block between threads)

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local function env_number(name)
   return tonumber(os.getenv(name) or "") or 0
end

local tokens = nil
local token_count = 0
local cursor = 0

function init(args)
   non200 = 0
   bad_status = 0
   wrapped = 0
   local token_file = os.getenv("BENCH_TOKEN_FILE")
   if token_file == nil or token_file == "" then
      wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
      return
   end
   local width = env_number("BENCH_TOKEN_WIDTH")
   local per = math.floor(env_number("BENCH_TOKEN_COUNT") / math.max(1, env_number("BENCH_THREADS")))
   local first = env_number("BENCH_TOKEN_START") + id * per
   local file = assert(io.open(token_file, "rb"))
   file:seek("set", first * (width + 1))
   local block = file:read(per * (width + 1)) or ""
   file:close()
   tokens = {}
   local headers = {}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   for token in block:gmatch("[^\n]+") do
      assert(#token == width, "token file lines must all be BENCH_TOKEN_WIDTH long")
      -- Pre-built requests: request() then does a table lookup, nothing more.
      headers["Authorization"] = "Bearer " .. token
      tokens[#tokens + 1] = wrk.format(nil, nil, headers)
   end
   token_count = #tokens
   assert(token_count > 0, "no tokens in this thread's block")
   request = function()
      cursor = cursor + 1
      if cursor > token_count then
         cursor = 1
         wrapped = wrapped + 1
      end
      return tokens[cursor]
   end
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      bad_status = status
   end
end

function done(summary, latency, requests)
   local non200_total, wrapped_total, last_bad = 0, 0, 0
   for _, thread in ipairs(threads) do
      non200_total = non200_total + (thread:get("non200") or 0)
      wrapped_total = wrapped_total + (thread:get("wrapped") or 0)
      if (thread:get("bad_status") or 0) ~= 0 then
         last_bad = thread:get("bad_status")
      end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, '
         .. '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
         .. '"non200": %d, "bad_status": %d, "wrapped": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
      latency.max, e.connect, e.read, e.write, e.status, e.timeout, non200_total, last_bad, wrapped_total))
end
