-- Rotation: each thread (one connection each: run with -t N -c N) starts from its own refresh
-- token and always sends the one the last answer gave it, so each token is used once.
-- wrk ... -s refresh.lua URL -- PATH TOKENS_FILE
package.path = package.path .. ";" .. debug.getinfo(1).source:match("@?(.*/)") .. "?.lua"
local common = require("common")
setup = common.setup
local path, current

function init(args)
  path = args[1]
  current = common.lines(args[2])[thread_id]
end

function request()
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, '{"refresh":"' .. current .. '"}')
end

function response(status, headers, body)
  if status == 200 then current = common.field(body, "refresh") or current end
end
