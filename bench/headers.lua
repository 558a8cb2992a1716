-- wrk script for bench/run.py (wrk -t1): each request sends the next line of the file BENCH_HEADERS, an
-- Authorization header value and optionally a tab and a DPoP header value; past the last line it starts
-- again and counts a wrap. Answers other than BENCH_EXPECT are counted; done() prints BENCH_RESULT {json}.

local lines, cursor, threads = {}, 0, {}
local expected = tonumber(os.getenv("BENCH_EXPECT"))
unexpected, wraps = 0, 0

function setup(thread) threads[#threads + 1] = thread end

function init(args)
   for line in io.lines(os.getenv("BENCH_HEADERS")) do
      local authorization, proof = line:match("^([^\t]+)\t?(.*)$")
      local headers = { Authorization = authorization, DPoP = proof ~= "" and proof or nil }
      lines[#lines + 1] = wrk.format(nil, nil, headers)
   end
end

function request()
   cursor = cursor + 1
   if cursor > #lines then
      cursor, wraps = 1, wraps + 1
   end
   return lines[cursor]
end

function response(status)
   if status ~= expected then
      unexpected = unexpected + 1
   end
end

function done(summary, latency)
   local thread, e = threads[1], summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "errors": %d, '
         .. '"unexpected": %d, "wraps": %d}\n',
      summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.timeout, thread:get("unexpected"), thread:get("wraps")))
end
