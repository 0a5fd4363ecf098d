-- A SPA-like session, per thread (one connection each: -t N -c N): log in, 20 x who-am-I,
-- refresh, 20 x who-am-I, log out; then the next user. Uses the Django/simplejwt paths, which
-- authd answers too.
-- wrk ... -s session.lua URL -- USERS_FILE PASSWORD
package.path = package.path .. ";" .. debug.getinfo(1).source:match("@?(.*/)") .. "?.lua"
local common = require("common")
setup = common.setup
local users, password, user, step, access, refresh

function init(args)
  users, password = common.lines(args[1]), args[2]
  user, step = thread_id % #users + 1, 0
end

local json = { ["Content-Type"] = "application/json" }

function request()
  if step == 0 then
    return wrk.format("POST", "/api/auth/token/", json,
      '{"username":"' .. users[user] .. '","password":"' .. password .. '"}')
  elseif step == 21 then
    return wrk.format("POST", "/api/auth/token/refresh/", json, '{"refresh":"' .. refresh .. '"}')
  elseif step == 42 then
    return wrk.format("POST", "/api/auth/logout/",
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. access },
      '{"refresh":"' .. refresh .. '"}')
  end
  return wrk.format("GET", "/api/auth/user/", { ["Authorization"] = "Bearer " .. access })
end

function response(status, headers, body)
  if step == 0 or step == 21 then
    if status ~= 200 then step = 0; return end
    access = common.field(body, "access")
    refresh = common.field(body, "refresh") or refresh
  end
  step = step + 1
  if step > 42 then
    step = 0
    user = user % #users + 1
  end
end
