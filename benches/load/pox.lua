-- wrk script: POST an Outlook Autodiscover request, as Outlook does (run from the repo root).
local file = assert(io.open("benches/load/pox-request.xml", "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"
wrk.body = file:read("*a")
file:close()
