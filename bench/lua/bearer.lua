-- GET a path with a bearer token, round-robin over a file of access tokens.
-- wrk ... -s bearer.lua URL -- PATH TOKENS_FILE
package.path = package.path .. ";" .. debug.getinfo(1).source:match("@?(.*/)") .. "?.lua"
local common = require("common")
setup = common.setup
local tokens, path, i

function init(args)
  path, tokens = args[1], common.lines(args[2])
  i = thread_id or 1
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[i] })
end
