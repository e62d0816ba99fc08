-- GET /api/users/?page=N&search=TERM with token auth; pages cycle over the search's result pages.
-- args: token, search term (URL-safe), number of pages
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  headers = { ["Authorization"] = "Token " .. args[1], ["Host"] = wrk.headers["Host"] }
  term = args[2]
  pages = tonumber(args[3])
  n = (tid or 0) * 7
end

function request()
  n = n + 1
  return wrk.format("GET", "/api/users/?page=" .. (1 + n % pages) .. "&search=" .. term, headers)
end
