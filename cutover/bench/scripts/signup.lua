-- POST /api/users/ (anonymous sign-up, password hashed by the server): a new username every request.
-- args: a prefix unique to the run, the email domain
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  headers = { ["Content-Type"] = "application/json", ["Host"] = wrk.headers["Host"] }
  prefix = args[1] .. "t" .. (tid or 0) .. "n"
  domain = args[2]
  n = 0
end

function request()
  n = n + 1
  local name = prefix .. n
  local body = '{"username":"' .. name .. '","email":"' .. name .. '@' .. domain ..
    '","password":"Bench-pass-2026!","first_name":"Bench","last_name":"Load"}'
  return wrk.format("POST", "/api/users/", headers, body)
end
