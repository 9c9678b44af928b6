-- make bench: fmclust and its Python peer on the same data in one run, one row per kernel.
--   lua5.4 bench/run.lua [--quick] [--only name1,name2]
-- Writes bench/results.md (quick runs: bench/results-quick.md). Peers run with /usr/bin/python3
-- and the fast OpenBLAS kernel, like fmclust, so the ratio is honest.
local fm = require "fmclust"
local cjson = require "cjson"

local args = {quick = false, only = nil}
local i = 1
while arg[i] do
  if arg[i] == "--quick" then args.quick = true
  elseif arg[i] == "--only" then i = i + 1; args.only = {}
    for name in arg[i]:gmatch("[^,]+") do args.only[name] = true end
  else error("usage: bench/run.lua [--quick] [--only name,...]") end
  i = i + 1
end

-- every case, in the order the table is printed; each file returns {name, work, run(ctx) → row}
local CASES = {"sgemm", "pca", "kmeans", "nmf", "gmm", "ward", "knn", "umap", "hdbscan", "optics", "ae", "ae_conv", "plot"}

local cache = "bench/results/cache"
os.execute("mkdir -p " .. cache)

local ctx = {fm = fm, quick = args.quick, cache = cache}

function ctx.clock() return os.clock() end

-- wall-clock seconds of f() (os.clock counts CPU time of all threads)
local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end
ctx.now = now

function ctx.time(f, ...)
  collectgarbage()
  local t0 = now()
  local r = table.pack(f(...))
  return now() - t0, table.unpack(r, 1, r.n)
end

-- peak RSS of this process so far (kB) — VmHWM
function ctx.peak_rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end

-- The Fashion-MNIST data of the run: all 70,000 (quick: the 10,000 test images), cached as .npy
-- so the peers read exactly the same floats.
local data
function ctx.data()
  if data then return data end
  local split = args.quick and "test" or "all"
  local X, y = fm.data.fashion_mnist{split = split}
  local xp, yp = ("%s/fmnist_%s_X.npy"):format(cache, split), ("%s/fmnist_%s_y.npy"):format(cache, split)
  local f = io.open(xp)
  if f then f:close() else X:save_npy(xp); y:save_npy(yp) end
  data = {X = X, y = y, X_path = xp, y_path = yp, split = split}
  return data
end

-- Run a peer script: /usr/bin/python3 bench/peers/<script> '<json args>'; its last stdout line is a
-- JSON object (seconds, quality, ...). Returns the decoded table, or nil and the output on failure.
function ctx.peer(script, pargs)
  local json = cjson.encode(pargs or {})
  local cmd = ("OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/peers/%s '%s' 2>&1"):format(script, json)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local last = out:match("([^\n]*)\n?$")
  local ok, res = pcall(cjson.decode, last or "")
  if ok and type(res) == "table" then return res end
  return nil, out
end

local function fmt_s(x) return x and ("%.2f"):format(x) or "–" end

local rows = {}
io.stderr:write(("fmclust %s, BLAS %s, %d threads, %s\n"):format(fm.version, fm.info().blas_core,
  fm.info().omp_threads, args.quick and "quick (10,000 test images)" or "full (70,000 images)"))
for _, name in ipairs(CASES) do
  if not args.only or args.only[name] then
    local path = "bench/cases/" .. name .. ".lua"
    local fh = io.open(path)
    if not fh then
      io.stderr:write(("bench %s: no case file %s, skipped\n"):format(name, path))
      goto continue
    end
    fh:close()
    local case = dofile(path)
    io.stderr:write(("bench %s: %s …\n"):format(name, case.work(ctx)))
    local ok, row = pcall(case.run, ctx)
    if not ok then row = {fm_quality = "error: " .. tostring(row)} end
    row.name, row.work = name, case.work(ctx)
    if row.fm_seconds and row.peer_seconds then row.ratio = row.peer_seconds / row.fm_seconds end
    rows[#rows + 1] = row
    io.stderr:write(("  fmclust %s s, %s %s s, ratio %s\n"):format(fmt_s(row.fm_seconds), row.peer or "peer",
      fmt_s(row.peer_seconds), row.ratio and ("%.1f×"):format(row.ratio) or "–"))
  end
  ::continue::
end

-- rows are kept per case in bench/results/rows[-quick].json, so `--only x` updates its own row and
-- keeps the others' last results
local store_path = args.quick and "bench/results/rows-quick.json" or "bench/results/rows.json"
local store = {}
do
  local fh = io.open(store_path)
  if fh then
    local ok, t = pcall(cjson.decode, fh:read("a"))
    fh:close()
    if ok and type(t) == "table" then store = t end
  end
end
local stamp = ("%s · BLAS %s · %d threads"):format(os.date("!%Y-%m-%d %H:%M UTC"), fm.info().blas_core,
  fm.info().omp_threads)
for _, r in ipairs(rows) do
  r.when = stamp
  store[r.name] = r
end
do
  local fh = assert(io.open(store_path, "w"))
  fh:write(cjson.encode(store))
  fh:close()
end

local lines = {
  ("# fmclust benchmarks (%s)"):format(args.quick and "quick: 10,000 test images" or "all 70,000 images"),
  "",
  ("fmclust %s; each row says when it ran. Ratio = peer seconds / fmclust seconds."):format(fm.version),
  "",
  "| kernel | work | fmclust s | peer | peer s | ratio | target | fmclust quality | peer quality | run |",
  "|---|---|---|---|---|---|---|---|---|---|",
}
for _, name in ipairs(CASES) do
  local r = store[name]
  if r then
    lines[#lines + 1] = ("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(r.name, r.work,
      fmt_s(r.fm_seconds), r.peer or "–", fmt_s(r.peer_seconds), r.ratio and ("%.1f×"):format(r.ratio) or "–",
      r.target or "", r.fm_quality or "", r.peer_quality or "", r.when or "")
  end
end
local text = table.concat(lines, "\n") .. "\n"
io.write(text)
local out = args.quick and "bench/results-quick.md" or "bench/results.md"
local f = assert(io.open(out, "w"))
f:write(text)
f:close()
io.stderr:write("wrote " .. out .. "\n")
