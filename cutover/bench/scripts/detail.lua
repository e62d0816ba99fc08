-- GET /api/users/{id}/ with token auth; ids spread over the seeded range.
-- args: token, lowest id, highest id
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  headers = { ["Authorization"] = "Token " .. args[1], ["Host"] = wrk.headers["Host"] }
  lo = tonumber(args[2])
  span = tonumber(args[3]) - lo + 1
  n = (tid or 0) * 104729
end

function request()
  n = n + 1
  return wrk.format("GET", "/api/users/" .. (lo + (n * 7919) % span) .. "/", headers)
end
