-- fmclust.ward — agglomerative clustering on all the data: exact Ward linkage (or single linkage)
-- in O(n·d) memory, never an n×n distance matrix. Ward on all 70,000 Fashion-MNIST images as raw
-- 784-d pixels takes ~25 CPU-seconds (split over the cores) and ~300 MB besides X.
--
--   local res = fm.ward(X, {n_clusters = 10})                 -- or {distance_threshold = 50}
--   res.labels          labels 0..k−1 (fm labels), numbered by their smallest row: the cluster of
--                       row 1 is 0, the next new cluster met going down the rows is 1, …
--   res.linkage         (n−1)×4 matrix in scipy's format: row i joins clusters a < b (0-based ids,
--                       0..n−1 the rows, n+i−1 the cluster made by row i) at height h into a
--                       cluster of `size` points; rows sorted by height. Heights are scipy's:
--                       sqrt(2·|A|·|B|/(|A|+|B|))·‖c_A − c_B‖ for Ward, the MST edge for single.
--   res.heights         the n−1 heights as a Lua sequence of doubles (the matrix holds float32)
--   res.n_clusters, res.n_leaves, res.method ("ward" | "single"), res.distance_threshold
--   res:cut(k)          labels of another cut without recomputing; res:cut{distance_threshold = t}
--   fm.cut(linkage, k)  the same for any scipy-format linkage matrix
--
-- The cut into k clusters applies the first n−k rows of the linkage (scikit-learn undoes the last
-- k−1 merges: the same partition). distance_threshold applies the rows while their height is
-- below the threshold, like scikit-learn (merges with height < threshold). scikit-learn and
-- scipy's fcluster number clusters differently from each other and from fmclust; the partitions
-- are the same.
--
-- fm.AgglomerativeClustering{n_clusters = 2, linkage = "ward", distance_threshold = nil} is the
-- scikit-learn-style estimator: :fit(X) sets labels_, n_clusters_, n_leaves_, linkage_,
-- children_ ((n−1)×2 matrix), distances_ ((n−1)×1 matrix) and returns itself; :fit_predict(X)
-- returns labels_.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local OPTIONS = {
  n_clusters = {type = "integer", min = 1},
  distance_threshold = {type = "number", min = 0},
  linkage = {type = "string", values = {"ward", "single"}, default = "ward"},
}

-- exactly one of n_clusters / distance_threshold, and n_clusters ≤ n
local function check_target(fname, argn, o, n)
  if (o.n_clusters == nil) == (o.distance_threshold == nil) then
    U.argerror(fname, argn, "exactly one of n_clusters and distance_threshold must be set", 4)
  end
  if o.n_clusters and o.n_clusters > n then
    U.argerror(fname, argn, ("n_clusters must be ≤ %d (the number of rows), got %d"):format(n, o.n_clusters), 4)
  end
end

local Result = {}
Result.__index = Result

--- res:cut(k) or res:cut{n_clusters = k} or res:cut{distance_threshold = t} → labels, k
-- (a threshold is compared with the double-precision heights, exactly as fm.ward does)
function Result:cut(target)
  if type(target) == "table" and target.distance_threshold ~= nil and target.n_clusters == nil then
    local o = U.options("cut", 1, target, {distance_threshold = {type = "number", min = 0}})
    local h, r = self.heights, 0
    while r < #h and h[r + 1] < o.distance_threshold do r = r + 1 end
    return M.cut(self.linkage, self.n_leaves - r)
  end
  return M.cut(self.linkage, target)
end

-- the result table from ward_fit's outputs
local function result(n, o, labels, Z, k, heights)
  return setmetatable({
    labels = labels, linkage = Z, heights = heights, n_clusters = k, n_leaves = n,
    method = o.linkage, distance_threshold = o.distance_threshold,
  }, Result)
end

--- fm.ward(X, {n_clusters = k | distance_threshold = t, linkage = "ward"|"single"}) → result
function M.ward(X, opts)
  local n = U.check_matrix("ward", 1, X)
  local o = U.options("ward", 2, opts, OPTIONS)
  check_target("ward", 2, o, n)
  local res = result(n, o, U.call("ward", core.ward_fit, X, o.linkage, o.n_clusters, o.distance_threshold))
  return res
end

--- fm.cut(linkage, k | {n_clusters = k} | {distance_threshold = t}) → labels, k
-- The matrix holds float32 heights: a threshold is rounded to float32 before the comparison.
function M.cut(Z, target)
  if not U.is_matrix(Z) then U.argerror("cut", 1, "linkage matrix expected, got " .. U.describe(Z)) end
  local nr, d = Z:shape()
  if d ~= 4 then U.argerror("cut", 1, ("linkage must have 4 columns, got %d"):format(d)) end
  local n = nr + 1
  local o
  if type(target) == "number" then
    o = U.options("cut", 2, {n_clusters = target}, {n_clusters = {type = "integer", min = 1}})
  else
    o = U.options("cut", 2, target, {n_clusters = {type = "integer", min = 1},
                                     distance_threshold = {type = "number", min = 0}})
  end
  check_target("cut", 2, o, n)
  local labels, k = U.call("cut", core.ward_cut, Z, o.n_clusters, o.distance_threshold)
  return labels, k
end

-- ---------------------------------------------------------------- scikit-learn-style estimator

local Agglo = {}
Agglo.__index = Agglo

--- fm.AgglomerativeClustering{n_clusters = 2, linkage = "ward", distance_threshold = nil}
function M.AgglomerativeClustering(opts)
  local o = U.options("AgglomerativeClustering", 1, opts, OPTIONS)
  if o.n_clusters and o.distance_threshold then
    U.argerror("AgglomerativeClustering", 1, "exactly one of n_clusters and distance_threshold must be set")
  end
  if not o.distance_threshold and not o.n_clusters then o.n_clusters = 2 end   -- scikit-learn's default
  return setmetatable({n_clusters = o.n_clusters, distance_threshold = o.distance_threshold,
                       linkage = o.linkage}, Agglo)
end

--- est:fit(X) → est, with labels_, n_clusters_, n_leaves_, linkage_, children_, distances_
function Agglo:fit(X)
  local n = U.check_matrix("fit", 1, X)
  local o = {n_clusters = self.n_clusters, distance_threshold = self.distance_threshold, linkage = self.linkage}
  check_target("fit", 1, o, n)
  local res = result(n, o, U.call("fit", core.ward_fit, X, o.linkage, o.n_clusters, o.distance_threshold))
  self.labels_, self.n_clusters_, self.n_leaves_ = res.labels, res.n_clusters, res.n_leaves
  self.linkage_ = res.linkage
  self.children_, self.distances_ = res.linkage:cols(1, 2), res.linkage:cols(3, 3)
  self.result_ = res
  return self
end

--- est:fit_predict(X) → labels
function Agglo:fit_predict(X)
  return self:fit(X).labels_
end

return M
