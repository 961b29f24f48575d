-- The intake benchmark's mix for wrk: 9 reports in 10 with an output nobody reported before
-- (7 sentences of real violating answers, picked at random), 1 in 10 repeating one of 65
-- popular answers; every description numbered, so no two reports are the same.
--
-- The pieces come from the benchmark (urlencoded once):
--   BENCH_WRITE_CONTENT=target/wrk-content.txt cargo bench --bench intake
-- then, against `cargo run --release` started with RECTIFY_LIMITS__INTAKE_BURST=0 (one address
-- sends everything):
--   wrk -t1 -c32 -d30s --latency -s benches/wrk/intake.lua http://127.0.0.1:8080/report
--   wrk -t1 -c32 -d30s --latency http://127.0.0.1:8080/healthz      (the baseline)
-- WRK_CONTENT names another file.

local sections = { sentences = {}, popular = {}, prompts = {} }
local path = os.getenv("WRK_CONTENT") or "target/wrk-content.txt"
local current
for line in io.lines(path) do
  if line:sub(1, 1) == "#" then
    current = sections[line:sub(2)]
  elseif current then
    current[#current + 1] = line
  end
end
assert(#sections.sentences > 0, "no content in " .. path)

local counter = 0
local thread_no = 0
local threads = 0

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(1000 + thread_no)
end

function request()
  counter = counter + 1
  -- Numbers stay apart across threads.
  local n = counter * 64 + thread_no
  local output
  if counter % 10 == 0 then
    output = sections.popular[math.random(#sections.popular)]
  else
    local parts = {}
    for k = 1, 7 do
      parts[k] = sections.sentences[math.random(#sections.sentences)]
    end
    output = table.concat(parts)
  end
  local body = "model=demo-chat&category=core_values&good_faith=on&prompt="
    .. sections.prompts[math.random(#sections.prompts)]
    .. "&description=%E8%BF%9D%E8%A7%84%E5%86%85%E5%AE%B9+%23" .. n
    .. "&output=" .. output
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  if status ~= 303 then
    print("unexpected status " .. status)
  end
end
