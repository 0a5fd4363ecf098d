-- POST JSON bodies as clients behind a trusted proxy: each request carries an
-- X-Forwarded-For address from a file, round-robin, so one wrk plays many client addresses.
-- wrk ... -s post_from.lua URL -- PATH BODIES_FILE ADDRESSES_FILE
package.path = package.path .. ";" .. debug.getinfo(1).source:match("@?(.*/)") .. "?.lua"
local common = require("common")
setup = common.setup
local bodies, addresses, path, i, j

function init(args)
  path, bodies, addresses = args[1], common.lines(args[2]), common.lines(args[3])
  i = thread_id or 1
  j = (thread_id or 1) * 7
end

function request()
  i = i % #bodies + 1
  j = j % #addresses + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = addresses[j],
  }, bodies[i])
end
