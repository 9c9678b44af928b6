-- Shared by the specs: paths, fixtures, and running a Lua snippet in a fresh process
-- (for thread-count and environment checks that must happen before the module loads).
local H = {}

local cjson = require "cjson"

function H.fixture(name)
  local f = assert(io.open("spec/fixtures/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return cjson.decode(s)
end

-- run `code` in a new lua5.4 with extra environment assignments; returns stdout, ok
function H.run_lua(code, env)
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "w"))
  f:write(code)
  f:close()
  local prefix = ""
  for k, v in pairs(env or {}) do prefix = prefix .. ("%s=%q "):format(k, v) end
  local p = io.popen(prefix .. "lua5.4 " .. tmp .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  os.remove(tmp)
  return out, ok
end

function H.tmpdir()
  local base = os.tmpname()
  os.remove(base)
  assert(os.execute("mkdir -p " .. base))
  return base
end

-- Gaussian blobs: n points around each centre (a list of coordinate lists) with standard
-- deviation sd, drawn from fmclust's seeded normal stream. Returns the matrix and its rows as
-- Lua tables (the float32 values the core sees).
function H.blobs(centres, n, sd, seed)
  local fm = require "fmclust"
  local d = #centres[1]
  local Z = fm.matrix.random(n * #centres, d, {seed = seed, distribution = "normal"}):to_table()
  local rows = {}
  for c, mu in ipairs(centres) do
    for i = 1, n do
      local r = Z[(c - 1) * n + i]
      for j = 1, d do r[j] = mu[j] + sd * r[j] end
      rows[#rows + 1] = r
    end
  end
  local X = fm.matrix(rows)
  return X, X:to_table()
end

return H
