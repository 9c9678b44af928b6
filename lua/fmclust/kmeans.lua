-- fmclust.kmeans — K-Means with scikit-learn's options and defaults.
--
--   local res = fm.kmeans(X, {n_clusters = 10, n_init = 10, seed = 0})
--   res.labels        -- fm labels, 0-based cluster of each row
--   res.centers       -- n_clusters×d matrix
--   res.inertia       -- Σ ‖x − center‖² over the rows (double)
--   res.n_iter        -- Lloyd iterations of the best run
--   res:predict(Xnew) -- the nearest center of each new row (labels)
--
--   local km = fm.KMeans{n_clusters = 10}   -- the estimator: km:fit(X), km:predict(X), km:fit_predict(X)
--
-- Options: n_clusters = 8, n_init = 10, max_iter = 300, tol = 1e-4 (times the mean variance of the
-- columns, against the summed squared shift of the centers), init = "k-means++" | "random" | a
-- n_clusters×d matrix of starting centers (then one run), seed = 0.
-- Each of the n_init runs draws from its own random stream (seed, run), and the lowest inertia
-- wins; the result is the same for any number of threads.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local SPEC = {
  n_clusters = {type = "integer", min = 1, default = 8},
  n_init = {type = "integer", min = 1, default = 10},
  max_iter = {type = "integer", min = 1, default = 300},
  tol = {type = "number", min = 0, default = 1e-4},
  init = {type = "any", default = "k-means++"},
  seed = {type = "integer", default = 0},
}

local call = U.call   -- core argument errors read as the public function's

-- The checks U.options and U.check_matrix cannot do. Raises at level 4: the caller of the public
-- function that called this (U.* must be called from the public function itself for the same).
local function check_rest(fname, n, d, o, argn_opts)
  if o.n_clusters > n then
    U.argerror(fname, argn_opts, ("n_clusters must be ≤ %d (the number of rows), got %d"):format(n, o.n_clusters), 4)
  end
  local init = o.init
  if type(init) == "string" then
    if init ~= "k-means++" and init ~= "random" then
      U.argerror(fname, argn_opts, ('init must be one of "k-means++", "random" or a matrix, got \'%s\''):format(init), 4)
    end
  elseif U.is_matrix(init) then
    local k, dc = init:shape()
    if k ~= o.n_clusters or dc ~= d then
      U.argerror(fname, argn_opts, ("init must be a %d×%d matrix (n_clusters × columns), got %d×%d"):format(
        o.n_clusters, d, k, dc), 4)
    end
    if init:has_nonfinite() then U.argerror(fname, argn_opts, "init contains NaN or Inf", 4) end
  else
    U.argerror(fname, argn_opts, ('init must be one of "k-means++", "random" or a matrix, got %s'):format(
      U.describe(init)), 4)
  end
end

local function check_columns(fname, centers, d)
  local _, dc = centers:shape()
  if d ~= dc then U.argerror(fname, 1, ("matrix has %d columns, the centers have %d"):format(d, dc), 4) end
end

-- methods of a result table
local Result = {}
Result.__index = Result

--- res:predict(Xnew) → labels of the nearest center of each row
function Result:predict(X)
  local _, d = U.check_matrix("predict", 1, X, {min_rows = 0})
  check_columns("predict", self.centers, d)
  return (call("predict", core.kmeans_predict, X, self.centers))
end

--- fm.kmeans(X, opts) → {labels, centers, inertia, n_iter, n_clusters} with :predict(Xnew)
function M.kmeans(X, opts)
  local n, d = U.check_matrix("kmeans", 1, X)
  local o = U.options("kmeans", 2, opts, SPEC)
  check_rest("kmeans", n, d, o, 2)
  local labels, centers, inertia, n_iter = call("kmeans", core.kmeans_fit, X, o.n_clusters, o.n_init,
    o.max_iter, o.tol, o.init, o.seed)
  return setmetatable({
    labels = labels, centers = centers, inertia = inertia, n_iter = n_iter, n_clusters = o.n_clusters,
  }, Result)
end

-- ---------------------------------------------------------------- the estimator

local KMeans = {}
KMeans.__index = KMeans

--- fm.KMeans(opts) → an unfitted estimator; options as fm.kmeans, checked now and again at fit
function M.KMeans(opts)
  local o = U.options("KMeans", 1, opts, SPEC)
  local self = setmetatable({params = o}, KMeans)
  return self
end

--- km:fit(X) → km, with km.labels, km.centers, km.inertia, km.n_iter set
function KMeans:fit(X)
  if getmetatable(self) ~= KMeans then error("fit: call it as km:fit(X)", 2) end
  local n, d = U.check_matrix("fit", 1, X)
  local o = self.params
  if o.n_clusters > n then
    U.argerror("fit", 1, ("matrix has %d rows, fewer than n_clusters = %d"):format(n, o.n_clusters))
  end
  check_rest("fit", n, d, o, 1)
  local labels, centers, inertia, n_iter = call("fit", core.kmeans_fit, X, o.n_clusters, o.n_init,
    o.max_iter, o.tol, o.init, o.seed)
  self.labels, self.centers, self.inertia, self.n_iter = labels, centers, inertia, n_iter
  self.n_clusters = o.n_clusters
  return self
end

--- km:predict(Xnew) → labels
function KMeans:predict(X)
  if getmetatable(self) ~= KMeans then error("predict: call it as km:predict(X)", 2) end
  if not self.centers then error("predict: the KMeans estimator is not fitted yet (call km:fit(X) first)", 2) end
  local _, d = U.check_matrix("predict", 1, X, {min_rows = 0})
  check_columns("predict", self.centers, d)
  return (call("predict", core.kmeans_predict, X, self.centers))
end

--- km:fit_predict(X) → labels of X
function KMeans:fit_predict(X)
  return self:fit(X).labels
end

return M
