-- Shared by the scenario scripts: read a file of lines, and a per-thread id set in setup().
local common = {}

function common.lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local next_id = 0
function common.setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

function common.field(body, name)
  return body:match('"' .. name .. '"%s*:%s*"([^"]+)"')
end

return common
