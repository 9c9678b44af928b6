-- fmclust — clustering of image data sets from Lua 5.4, with the heavy loops in C + OpenMP.
--
--   local fm = require "fmclust"
--   local X, y, names = fm.data.fashion_mnist{split = "all"}
--
-- The boot module runs first: it picks the OpenBLAS kernel (OPENBLAS_CORETYPE) before the
-- BLAS-linked core is loaded, because OpenBLAS reads that choice only once, at load time.
local boot = require "fmclust.boot"
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {
  version = core.version,
  core = core,   -- the raw bindings, for tests and advanced use
}

-- ---------------------------------------------------------------- matrices and labels

local matrix = {}
M.matrix = setmetatable(matrix, {
  __call = function(_, rows)
    if type(rows) ~= "table" then U.argerror("matrix", 1, "table of rows expected, got " .. U.describe(rows)) end
    return core.matrix_from_table(rows)
  end,
})

--- fm.matrix.zeros(n, d)
function matrix.zeros(n, d)
  if math.type(n) ~= "integer" or n < 0 then U.argerror("zeros", 1, "n must be an integer ≥ 0") end
  if math.type(d) ~= "integer" or d < 0 then U.argerror("zeros", 2, "d must be an integer ≥ 0") end
  return core.matrix_zeros(n, d)
end

--- fm.matrix.random(n, d, {seed = 0, distribution = "uniform"|"normal"}): identical for any thread count
function matrix.random(n, d, opts)
  if math.type(n) ~= "integer" or n < 0 then U.argerror("random", 1, "n must be an integer ≥ 0") end
  if math.type(d) ~= "integer" or d < 0 then U.argerror("random", 2, "d must be an integer ≥ 0") end
  local o = U.options("random", 3, opts, {
    seed = {type = "integer", default = 0},
    distribution = {type = "string", values = {"uniform", "normal"}, default = "uniform"},
  })
  return core.random_fill(n, d, o.seed, o.distribution == "normal" and 1 or 0)
end

--- fm.matrix.load_npy(path) / fm.matrix.load_csv(path, {header = nil|true|false})
function matrix.load_npy(path)
  if type(path) ~= "string" then U.argerror("load_npy", 1, "path expected, got " .. U.describe(path)) end
  return core.npy_load(path)
end

function matrix.load_csv(path, opts)
  if type(path) ~= "string" then U.argerror("load_csv", 1, "path expected, got " .. U.describe(path)) end
  local o = U.options("load_csv", 2, opts, {header = {type = "boolean"}})
  return core.csv_load(path, o.header)
end

matrix.is_matrix = U.is_matrix

local labels = {}
M.labels = setmetatable(labels, {
  __call = function(_, t)
    if type(t) ~= "table" then U.argerror("labels", 1, "table of integers expected, got " .. U.describe(t)) end
    return core.labels_from_table(t)
  end,
})

--- fm.labels.load_npy(path): an integer .npy vector
function labels.load_npy(path)
  if type(path) ~= "string" then U.argerror("load_npy", 1, "path expected, got " .. U.describe(path)) end
  return core.npy_load_labels(path)
end

labels.is_labels = U.is_labels

--- fm.permutation(n, {seed}) → labels holding 1..n in random order (1-based row numbers for X:rows)
function M.permutation(n, opts)
  if math.type(n) ~= "integer" or n < 0 then U.argerror("permutation", 1, "n must be an integer ≥ 0") end
  local o = U.options("permutation", 2, opts, {seed = {type = "integer", default = 0}})
  return core.permutation(n, o.seed)
end

-- ---------------------------------------------------------------- machine

--- fm.info() → {version, blas_core, blas_config, blas_threads, omp_threads, coretype_requested, ...}
function M.info()
  local t = core.info()
  t.coretype_requested = boot.coretype
  t.coretype_set_by_fmclust = boot.coretype_set_by_fmclust
  t.gomp_spincount = os.getenv("GOMP_SPINCOUNT")
  t.omp_wait_policy = os.getenv("OMP_WAIT_POLICY")
  return t
end

--- fm.set_threads(n): threads for both OpenBLAS and fmclust's own OpenMP loops
function M.set_threads(n)
  if math.type(n) ~= "integer" or n < 1 then U.argerror("set_threads", 1, "n must be an integer ≥ 1") end
  core.set_threads(n)
end

-- ---------------------------------------------------------------- image statistics

--- fm.pixel_stats(X, {width = 28}) → {mean, std, active} as height×width matrices, plus a summary
-- comparing the centre (middle half of each side) with the border.
function M.pixel_stats(X, opts)
  local _, d = U.check_matrix("pixel_stats", 1, X)
  local o = U.options("pixel_stats", 2, opts, {width = {type = "integer", min = 1}})
  local w = o.width or math.tointeger(math.floor(math.sqrt(d) + 0.5))
  if d % w ~= 0 then U.argerror("pixel_stats", 2, ("width %d does not divide %d columns"):format(w, d)) end
  local h = d // w
  local mean, std, active = core.pixel_stats(X)
  local res = {mean = mean:reshape(h, w), std = std:reshape(h, w), active = active:reshape(h, w)}
  local sums = {centre = {0, 0, 0, 0}, border = {0, 0, 0, 0}}
  for r = 1, h do
    for c = 1, w do
      local inside = r > h / 4 and r <= h - h / 4 and c > w / 4 and c <= w - w / 4
      local s = inside and sums.centre or sums.border
      s[1] = s[1] + res.mean:get(r, c)
      s[2] = s[2] + res.std:get(r, c)
      s[3] = s[3] + res.active:get(r, c)
      s[4] = s[4] + 1
    end
  end
  res.summary = {}
  for region, s in pairs(sums) do
    res.summary[region] = {mean = s[1] / s[4], std = s[2] / s[4], active = s[3] / s[4], pixels = s[4]}
  end
  return res
end

M.metrics = require "fmclust.metrics"
M.data = require "fmclust.data"

-- one module per algorithm; each returns its public functions (fm.pca, fm.PCA, ...)
for _, name in ipairs{"pca", "nmf", "kmeans", "gmm", "ward", "knn", "umap", "hdbscan", "optics", "ae"} do
  for k, v in pairs(require("fmclust." .. name)) do
    assert(M[k] == nil, "fmclust: two modules export " .. k)
    M[k] = v
  end
end

-- orchestration: sweeps and result tables. They require "fmclust" themselves, so the module is
-- registered first (Lua would otherwise load this file again, without end).
package.loaded["fmclust"] = M
M.sweep = require "fmclust.sweep"
M.report = require "fmclust.report"
M.plot = require "fmclust.plot"

return M
