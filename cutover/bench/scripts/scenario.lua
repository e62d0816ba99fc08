-- Every scenario's requests. cutover.bench.scenarios writes the table `scenario` above this script:
--   method, path and body (nil, or parts: a string is literal text, {"n"} the request's number in its
--   thread, {"unique"} a value unique to the request in the run, {i} the next item of lists[i]),
--   headers (name -> value), lists (the dataset's values, already encoded), prefix (unique to the window).
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  headers = {}
  for name, value in pairs(scenario.headers) do headers[name] = value end
  headers["Host"] = wrk.headers["Host"]
  unique = scenario.prefix .. "t" .. (tid or 0) .. "n"
  offset = (tid or 0) * 104729  -- threads start at different items of the lists
  n = 0
end

local function fill(parts)
  local out = {}
  for i, part in ipairs(parts) do
    if type(part) == "string" then
      out[i] = part
    elseif part[1] == "n" then
      out[i] = tostring(n)
    elseif part[1] == "unique" then
      out[i] = unique .. n
    else
      local list = scenario.lists[part[1]]
      out[i] = list[(offset + n) % #list + 1]
    end
  end
  return table.concat(out)
end

function request()
  n = n + 1
  local body = nil
  if scenario.body then body = fill(scenario.body) end
  return wrk.format(scenario.method, fill(scenario.path), headers, body)
end
