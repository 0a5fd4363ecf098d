-- POST a JSON body, round-robin over a file of bodies (one JSON document per line).
-- wrk ... -s post.lua URL -- PATH BODIES_FILE
package.path = package.path .. ";" .. debug.getinfo(1).source:match("@?(.*/)") .. "?.lua"
local common = require("common")
setup = common.setup
local bodies, path, i

function init(args)
  path, bodies = args[1], common.lines(args[2])
  i = thread_id or 1
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, bodies[i])
end
