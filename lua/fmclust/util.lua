-- fmclust.util — argument and option checking shared by the public API, and the small file and
-- formatting helpers of the Lua-only modules (sweep, html, report, plot, cli).
-- Errors read like lauxlib's: "bad argument #2 to 'umap' (n_neighbors must be ≥ 2)".
local core = require "fmclust.core"

local U = {}

local MATRIX_MT = core.matrix_mt
local LABELS_MT = core.labels_mt

function U.is_matrix(x) return getmetatable(x) == MATRIX_MT end
function U.is_labels(x) return getmetatable(x) == LABELS_MT end

-- raise at the user's call site: level 1 is argerror itself, 2 the public function, 3 its caller
function U.argerror(fname, argn, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(argn, fname, msg), level or 3)
end

local function describe(v)
  if U.is_matrix(v) then return "matrix" elseif U.is_labels(v) then return "labels" end
  return type(v)
end
U.describe = describe

local function fmt(v)
  if math.type(v) == "float" then return ("%g"):format(v) end
  return tostring(v)
end

-- Check one option value against its spec; returns an error message or nil.
-- spec fields: type ("integer"|"number"|"boolean"|"string"|"table"|"matrix"|"labels"|"function"|"any"),
-- values (allowed strings), min, max, gt (strictly greater), lt, nullable.
local function check_value(name, v, s)
  local t = s.type or "any"
  if t == "integer" then
    if math.type(v) ~= "integer" then
      if type(v) == "number" and v == math.floor(v) and v == v and math.abs(v) < 2^53 then
        v = math.tointeger(v)
      else
        return nil, ("%s must be an integer, got %s"):format(name, type(v) == "number" and fmt(v) or type(v))
      end
    end
  elseif t == "number" then
    if type(v) ~= "number" then return nil, ("%s must be a number, got %s"):format(name, describe(v)) end
    if v ~= v or v == math.huge or v == -math.huge then
      return nil, ("%s must be finite, got %s"):format(name, fmt(v))
    end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return nil, ("%s must be a boolean, got %s"):format(name, describe(v)) end
  elseif t == "string" then
    if type(v) ~= "string" then return nil, ("%s must be a string, got %s"):format(name, describe(v)) end
    if s.values then
      local ok = false
      for _, a in ipairs(s.values) do if a == v then ok = true break end end
      if not ok then
        return nil, ("%s must be one of %s, got '%s'"):format(name, '"' .. table.concat(s.values, '", "') .. '"', v)
      end
    end
  elseif t == "matrix" then
    if not U.is_matrix(v) then return nil, ("%s must be a matrix, got %s"):format(name, describe(v)) end
  elseif t == "labels" then
    if not U.is_labels(v) then return nil, ("%s must be labels, got %s"):format(name, describe(v)) end
  elseif t ~= "any" and type(v) ~= t then
    return nil, ("%s must be a %s, got %s"):format(name, t, describe(v))
  end
  if type(v) == "number" then
    if s.min and v < s.min then return nil, ("%s must be ≥ %s, got %s"):format(name, fmt(s.min), fmt(v)) end
    if s.max and v > s.max then return nil, ("%s must be ≤ %s, got %s"):format(name, fmt(s.max), fmt(v)) end
    if s.gt and v <= s.gt then return nil, ("%s must be > %s, got %s"):format(name, fmt(s.gt), fmt(v)) end
    if s.lt and v >= s.lt then return nil, ("%s must be < %s, got %s"):format(name, fmt(s.lt), fmt(v)) end
  end
  return v
end

-- Validate an options table against spec = {name = {type=..., default=...}, ...}.
-- Unknown keys are an error (a typo must not silently run the default). Returns a new table with
-- defaults filled in (a default may be a function of the options seen so far).
function U.options(fname, argn, opts, spec)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" or U.is_matrix(opts) or U.is_labels(opts) then
    U.argerror(fname, argn, "options table expected, got " .. describe(opts), 4)
  end
  for k in pairs(opts) do
    if spec[k] == nil then
      U.argerror(fname, argn, ("unknown option '%s'"):format(tostring(k)), 4)
    end
  end
  local out = {}
  for name, s in pairs(spec) do
    local v = opts[name]
    if v ~= nil then
      local ok, msg = check_value(name, v, s)
      if ok == nil then U.argerror(fname, argn, msg, 4) end
      out[name] = ok
    end
  end
  for name, s in pairs(spec) do
    if out[name] == nil then
      local d = s.default
      if type(d) == "function" then d = d(out) end
      out[name] = d
    end
  end
  return out
end

-- Check a data matrix argument: a live matrix with rows, finite unless allow_nonfinite.
function U.check_matrix(fname, argn, X, opt)
  opt = opt or {}
  if not U.is_matrix(X) then U.argerror(fname, argn, "matrix expected, got " .. describe(X), 4) end
  local n, d = X:shape()
  local min_rows = opt.min_rows or 1
  if n < min_rows then
    U.argerror(fname, argn, ("matrix has %d rows, needs at least %d"):format(n, min_rows), 4)
  end
  if d < 1 then U.argerror(fname, argn, "matrix has no columns", 4) end
  if not opt.allow_nonfinite and X:has_nonfinite() then
    U.argerror(fname, argn, "matrix contains NaN or Inf", 4)
  end
  return n, d
end

-- Call a raw core function so that its argument errors read as the public function's, at the
-- user's call site: "file:line: bad argument #2 to 'ari' (...)". (Called through pcall, a C
-- function has no name of its own, so lauxlib names it after its place in package.loaded.)
-- level: 3 = the caller of the public function that called U.call.
function U.call(fname, f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    local msg = r[2]
    if type(msg) == "string" then
      msg = msg:gsub("^bad argument #(%d+) to '[^']*'", "bad argument #%1 to '" .. fname .. "'")
    end
    error(msg, 3)
  end
  return table.unpack(r, 2, r.n)
end

-- A seed: nil → 0 (documented default), else an integer.
function U.seed(fname, argn, seed)
  if seed == nil then return 0 end
  if math.type(seed) ~= "integer" then
    U.argerror(fname, argn, "seed must be an integer, got " .. describe(seed), 4)
  end
  return seed
end

-- ---------------------------------------------------------------- files and text

-- s inside single quotes for /bin/sh (each ' written '\'')
function U.shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function U.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- the whole file, or nil when it cannot be opened
function U.read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- true, or nil and a message: the caller raises it with its own prefix and level
function U.mkdir_p(dir)
  local ok = os.execute("mkdir -p " .. U.shell_quote(dir))
  if not ok then return nil, ("cannot create directory '%s'"):format(dir) end
  return true
end

-- the names in dir ending in suffix, sorted (none when dir cannot be listed)
function U.list_dir(dir, suffix)
  local out = {}
  local p = io.popen("ls -1 " .. U.shell_quote(dir) .. " 2>/dev/null")
  if not p then return out end
  for name in p:lines() do
    if name:sub(-#suffix) == suffix then out[#out + 1] = name end
  end
  p:close()
  table.sort(out)
  return out
end

-- a number for a table cell (default "%.4f"); "" for NaN or a non-number
function U.num(v, f)
  if type(v) ~= "number" or v ~= v then return "" end
  return (f or "%.4f"):format(v)
end

return U
