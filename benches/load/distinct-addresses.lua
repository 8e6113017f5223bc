-- wrk script: GET /mobileconfig for a new address on every request, so no two requests ask
-- for the same profile and every one costs a fresh signature (run from the repo root).
-- Addresses carry the run's start time in nanoseconds, so a second run against the same
-- server does not hit the signatures the first one cached.
local run = string.format("%d", os.time()) .. string.format("%06d", math.floor(os.clock() * 1e6))
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", run .. "t" .. threads .. "n")
end

local sent = 0
function request()
  sent = sent + 1
  return wrk.format("GET", "/mobileconfig?emailaddress=u" .. prefix .. sent
    .. "%40example.com&name=Load+Test")
end
