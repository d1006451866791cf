-- wrk script: every request is a new message. Contacts recur every 5000 requests of a
-- thread, so returning contacts are exercised but never write concurrently (that is a
-- burst, measured by the tests, not a throughput figure).
-- Arguments: a run tag, and "numeric" for ManyChat-style integer subscriber ids (push
-- delivery sends the reply to that id through ManyChat's API); the tag must then be digits.
-- Per-thread counters are globals so done() can read them with thread:get().
local threads = {}
counter, sent, skipped, queued, errors = 0, 0, 0, 0, 0
thread_id, run, numeric = 0, "run", false

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  run = args[1] or "run"
  numeric = args[2] == "numeric"
end

function request()
  counter = counter + 1
  local contact
  if numeric then
    contact = string.format("%s%02d%04d", run, thread_id, counter % 5000)
  else
    contact = string.format("bench-%s-%d-%d", run, thread_id, counter % 5000)
  end
  local body = string.format(
    '{"subscriber":{"id":"%s","name":"Bench Fan"},"last_input_text":"message %d from a fan"}',
    contact, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  elseif string.find(body, '"should_send":true', 1, true) then
    sent = sent + 1
  else
    skipped = skipped + 1
    if string.find(body, '"reason":"queued"', 1, true) then
      queued = queued + 1
    end
  end
end

function done(summary, latency, requests)
  local s, k, q, e = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    k = k + t:get("skipped")
    q = q + t:get("queued")
    e = e + t:get("errors")
  end
  io.write(string.format("COUNTS sent=%d skipped=%d errors=%d queued=%d\n", s, k, e, q))
  io.write(string.format("LATENCY p50=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
