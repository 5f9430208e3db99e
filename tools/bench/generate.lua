-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- wrk script for tools/bench_tracer.sh: POST /generate with a small SGLang
-- native body and a unique x-request-id per request, "wrk<tag>-<thread>-<n>".
-- Environment: BENCH_TAG (phase tag in the ids), BENCH_DELAY_MS (pause per
-- connection between requests: a paced, lighter load), BENCH_SAME_PROMPT=1
-- (every request carries the same prompt; by default the prompt varies),
-- BENCH_STREAM=1 (ask for a streamed answer), BENCH_PROMPT_BYTES=N (pad the
-- prompt with words to about N bytes, a JSON "\n" escape every 40 words as
-- in chat text: LLM prompts run to KiBs, and the collector reads each).

local nthreads = 0
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local same_prompt = os.getenv("BENCH_SAME_PROMPT") == "1"
local stream = os.getenv("BENCH_STREAM") == "1" and ',"stream":true' or ''
local pad = ""
local pad_bytes = tonumber(os.getenv("BENCH_PROMPT_BYTES") or "0")
if pad_bytes > 0 then
	local words = { "the", "capital", "of", "France", "is", "a", "city", "that", "has", "many" }
	local parts, len, w = {}, 0, 0
	while len < pad_bytes do
		w = w + 1
		local sep = w % 40 == 0 and "\\n" or " "
		parts[#parts + 1] = sep .. words[(w - 1) % #words + 1]
		len = len + #sep + #words[(w - 1) % #words + 1]
	end
	pad = table.concat(parts)
end


function setup(thread)
	thread:set("tid", nthreads)
	nthreads = nthreads + 1
end

function init(args)
	n = 0
	prefix = "wrk" .. (os.getenv("BENCH_TAG") or "0") .. "-" .. tid .. "-"
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
end

local function body(id)
	local prompt = "The capital of France is a city that" .. pad
	if not same_prompt then
		prompt = prompt .. " " .. id
	end
	return '{"text":"' .. prompt .. '","sampling_params":{"max_new_tokens":8,"temperature":0}' .. stream .. '}'
end

function request()
	n = n + 1
	local id = prefix .. n
	wrk.headers["x-request-id"] = id
	return wrk.format(nil, "/generate", nil, body(id))
end

if delay_ms > 0 then
	function delay()
		return delay_ms
	end
end

-- No response() function: wrk then skips handing bodies to Lua; non-2xx
-- answers are counted in summary.errors.status.
-- Machine-readable lines for the bench script.
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests %d\n", summary.requests))
	io.write(string.format("BENCH duration_us %d\n", summary.duration))
	io.write(string.format("BENCH non2xx %d\n", e.status))
	io.write(string.format("BENCH sock_errors %d\n", e.connect + e.read + e.write + e.timeout))
	io.write(string.format("BENCH p50_us %d\n", latency:percentile(50)))
	io.write(string.format("BENCH p99_us %d\n", latency:percentile(99)))
end
