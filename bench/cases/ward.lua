-- Ward on all the data, against fastcluster.linkage_vector(method = "ward") — the only peer that
-- runs at n = 70,000 (scipy's and scikit-learn's Ward need the n² distance matrix, 19.6 GB).
--
-- Data: the images projected on 10 Gaussian random directions, X · R with
-- R = fm.matrix.random(784, 10, {seed = 1, distribution = "normal"}), saved as .npy so the peer
-- clusters exactly the same floats. Both sides run in their own process with only the 10-d
-- matrix loaded, so the peak RSS says something: each reports its peak RSS after loading the data
-- and after the linkage, and the difference is the linkage's own increase.
-- Quality: ARI / AMI of the 10-cluster cut against the classes.
--
-- It also runs fmclust's Ward on the raw 784 pixels (20–60 s on 2 cores at 70,000 images; no
-- peer: at the 10-d speed ratio fastcluster would take about an hour) and adds its time, memory
-- and quality to the quality column; FMCLUST_BENCH_WARD784=0 skips it.
local K, DIM = 10, 10

local RUNNER = [=[
local fm = require "fmclust"
local cjson = require "cjson"
local a = cjson.decode(arg[1])
local function status(key)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end
local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end
local X = fm.matrix.load_npy(a.X)
local y = fm.labels.load_npy(a.y)
collectgarbage()
local rss0 = status("VmHWM")
local t0 = now()
local res = fm.ward(X, {n_clusters = a.k})
local secs = now() - t0
local rss1 = status("VmHWM")
print(cjson.encode{seconds = secs, rss_before_kb = rss0, rss_peak_kb = rss1,
  ari = fm.metrics.ari(y, res.labels), ami = fm.metrics.ami(y, res.labels),
  top_height = res.heights[#res.heights], threads = fm.info().omp_threads})
]=]

-- run the fmclust side in a fresh lua5.4 (same LUA_PATH / LUA_CPATH as this process)
local function run_fm(ctx, pargs)
  local path = ctx.cache .. "/ward_runner.lua"
  local f = assert(io.open(path, "w"))
  f:write(RUNNER)
  f:close()
  local cjson = require "cjson"
  local p = io.popen(("lua5.4 %s '%s' 2>&1"):format(path, cjson.encode(pargs)))
  local out = p:read("a")
  p:close()
  local ok, res = pcall(cjson.decode, out:match("([^\n]*)\n?$") or "")
  if ok and type(res) == "table" then return res end
  return nil, out
end

local function mb(kb) return kb and ("%.0f MB"):format(kb / 1024) or "?" end

local function quality(r)
  return ("ARI %.3f, AMI %.3f; peak RSS %s − %s data = %s"):format(r.ari, r.ami, mb(r.rss_peak_kb),
    mb(r.rss_before_kb), mb(r.rss_peak_kb - r.rss_before_kb))
end

return {
  work = function(ctx)
    return ("Ward, %s×%d (random projection), cut at k=%d"):format(ctx.quick and "10,000" or "70,000", DIM, K)
  end,
  run = function(ctx)
    local fm = ctx.fm
    local D = ctx.data()
    local path = ("%s/fmnist_%s_rproj%d.npy"):format(ctx.cache, D.split, DIM)
    local f = io.open(path)
    if f then f:close() else
      local R = fm.matrix.random(784, DIM, {seed = 1, distribution = "normal"})
      D.X:matmul(R):save_npy(path)
    end
    local args = {X = path, y = D.y_path, k = K}
    local mine, err = run_fm(ctx, args)
    local peer, perr = ctx.peer("ward.py", args)
    local row = {
      fm_seconds = mine and mine.seconds,
      fm_quality = mine and quality(mine) or ("failed: " .. tostring(err)),
      peer = "fastcluster linkage_vector(ward)",
      peer_seconds = peer and peer.seconds,
      peer_quality = peer and quality(peer) or ("failed: " .. tostring(perr)),
      target = "≥ 10× faster, Ward's own RSS ≤ 200 MB",
    }
    if os.getenv("FMCLUST_BENCH_WARD784") ~= "0" then
      local raw, rerr = run_fm(ctx, {X = D.X_path, y = D.y_path, k = K})
      row.fm_quality = row.fm_quality .. (raw and ("; raw 784 pixels: %.0f s, %s"):format(raw.seconds, quality(raw))
        or ("; raw 784 failed: " .. tostring(rerr)))
    end
    return row
  end,
}
