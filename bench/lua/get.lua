-- GET a path through request(), as the other scenarios build theirs: /healthz, the floor the
-- stateless scenarios are compared with, then costs wrk the same per request as they do.
-- wrk ... -s get.lua URL -- PATH
package.path = package.path .. ";" .. debug.getinfo(1).source:match("@?(.*/)") .. "?.lua"
local common = require("common")
setup = common.setup
local path

function init(args)
  path = args[1]
end

function request()
  return wrk.format("GET", path)
end
