-- quickstart: load all 70,000 Fashion-MNIST images, show the machine, the pixel statistics,
-- and score trivial baselines (what any clustering must beat). `make run` runs this.
local fm = require "fmclust"

local t0 = os.time()
local info = fm.info()
print(("fmclust %s · BLAS kernel %s (requested %s) · %d BLAS threads · %d OpenMP threads")
  :format(info.version, info.blas_core, info.coretype_requested, info.blas_threads, info.omp_threads))

local X, y, names = fm.data.fashion_mnist{split = "all"}
local n, d = X:shape()
print(("data: %d images × %d pixels, %d classes"):format(n, d, #names))
local counts = y:counts()
for c = 0, 9 do io.write(("  %d %-12s %d\n"):format(c, names[c + 1], counts[c])) end

local st = fm.pixel_stats(X)
print("pixel statistics (centre = middle 14×14, border = the rest):")
for _, region in ipairs{"centre", "border"} do
  local s = st.summary[region]
  print(("  %-6s mean %.3f  std %.3f  active %.3f  (%d pixels)"):format(region, s.mean, s.std, s.active, s.pixels))
end

-- baselines: one cluster, and ten random clusters (seeded)
local one = {}
for i = 1, n do one[i] = 0 end
local R = fm.matrix.random(n, 1, {seed = 1})
local rnd = {}
for i = 1, n do rnd[i] = math.floor(R:get(i, 1) * 10) end
print("baselines (ARI / AMI / accuracy):")
for _, b in ipairs{{"one cluster", one}, {"random 10", rnd}} do
  local m = fm.metrics.all(y, fm.labels(b[2]))
  print(("  %-12s ARI %.4f  AMI %.4f  ACC %.4f"):format(b[1], m.ari, m.ami, m.accuracy))
end
print(("done in %d s"):format(os.time() - t0))
