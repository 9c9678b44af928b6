-- fmclust.gmm — Gaussian mixture models fitted by EM, as scikit-learn 1.2's GaussianMixture.
--
--   local res = fm.gmm(X, {n_components = 10, covariance_type = "full", n_init = 3, seed = 1})
--   res.labels, res.probabilities, res.means, res.covariances, res.weights
--   res:predict(Xnew), res:predict_proba(Xnew), res:score(Xnew), res:bic(), res:aic()
--
--   local gm = fm.GaussianMixture{n_components = 10}:fit(X)   -- scikit-learn style
--   gm:predict(X), gm.means_, gm.lower_bound_, gm:bic(X)
--
-- Options (scikit-learn's names and defaults):
--   n_components = 1        components k (≤ the number of rows)
--   covariance_type = "full" | "tied" | "diag" | "spherical"
--   max_iter = 100          EM iterations per initialisation (0: the initialisation only)
--   tol = 1e-3              stop when the mean log-likelihood changes by less than tol
--   reg_covar = 1e-6        added to the diagonal of every covariance (keeps them invertible)
--   n_init = 1              initialisations; the one with the highest lower bound is kept
--   init = "kmeans"         initial responsibilities: "kmeans" (one-hot labels of a k-means++
--                           seeded Lloyd run, like KMeans(n_init=1)), "k-means++" or
--                           "random_from_data" (responsibility 1 on k seed points only, as
--                           scikit-learn), "random" (uniform random, rows normalised).
--                           scikit-learn's name init_params is accepted too.
--   seed = 0                the same seed gives the same result with any number of threads
--
-- The result (a table):
--   labels            fm labels, 0-based component of each row (argmax of probabilities)
--   probabilities     n×k matrix of responsibilities (rows sum to 1)
--   means             k×d matrix
--   weights           array of k mixing weights (sum 1)
--   covariances       full: array of k d×d matrices; tied: d×d matrix; diag: k×d matrix;
--                     spherical: array of k variances (scikit-learn's shapes)
--   precisions_cholesky  the same shapes: L with L·Lᵀ = Σ⁻¹ (upper triangular for full/tied)
--   converged, n_iter the best initialisation's
--   lower_bound       its last mean log-likelihood (scikit-learn's lower_bound_)
--   lower_bounds      the mean log-likelihood at each EM iteration of that initialisation
--   log_likelihood    mean log-likelihood of X under the fitted model (= res:score())
--   n_parameters      free parameters (for BIC/AIC)
--   best_init         which initialisation won (1-based)
--   methods: predict(X), predict_proba(X), score(X) (mean log-likelihood), score_samples(X)
--   (n×1 matrix of log-likelihoods), bic(X), aic(X); score, bic and aic without X are those of
--   the training data.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local COV_TYPES = {"full", "tied", "diag", "spherical"}
local INITS = {"kmeans", "k-means++", "random", "random_from_data"}

local OPTIONS = {
  n_components = {type = "integer", min = 1, default = 1},
  covariance_type = {type = "string", values = COV_TYPES, default = "full"},
  max_iter = {type = "integer", min = 0, max = 2 ^ 31 - 1, default = 100},
  tol = {type = "number", min = 0, default = 1e-3},
  reg_covar = {type = "number", min = 0, default = 1e-6},
  n_init = {type = "integer", min = 1, max = 2 ^ 31 - 1, default = 1},
  init = {type = "string", values = INITS},
  init_params = {type = "string", values = INITS},
  seed = {type = "integer", default = 0},
}

-- init and its scikit-learn alias init_params; level: where the caller's call site is
local function resolve_init(fname, argn, o, level)
  if o.init and o.init_params and o.init ~= o.init_params then
    U.argerror(fname, argn, "init and init_params disagree", level + 2)
  end
  o.init = o.init or o.init_params or "kmeans"
  o.init_params = nil
  return o
end

-- `level` in the helpers below is the level of the user's call site as seen from the helper's
-- caller (2 for a public function), so messages point at the user's line.

-- a data matrix: live, with rows and columns, finite
local function check_X(fname, argn, X, level)
  if not U.is_matrix(X) then U.argerror(fname, argn, "matrix expected, got " .. U.describe(X), level + 2) end
  local n, d = X:shape()
  if n < 1 then U.argerror(fname, argn, "matrix has no rows", level + 2) end
  if d < 1 then U.argerror(fname, argn, "matrix has no columns", level + 2) end
  if X:has_nonfinite() then U.argerror(fname, argn, "matrix contains NaN or Inf", level + 2) end
  return n, d
end

-- call a raw core function; its errors are raised again at the user's call site
local function call(level, f, ...)
  local ok, r = pcall(f, ...)
  if not ok then error(r, level + 1) end
  return r
end

-- ---------------------------------------------------------------- the fitted model

local Result = {}
Result.__index = Result

local function check_new(self, fname, X, level)
  local _, d = check_X(fname, 1, X, level + 1)
  if d ~= self._d then
    U.argerror(fname, 1, ("matrix has %d columns, the model was fitted on %d"):format(d, self._d), level + 2)
  end
end

local function predict_raw(self, fname, X, what, level)
  check_new(self, fname, X, level + 1)
  return call(level + 1, core.gmm_predict, X, self.covariance_type, self.weights, self.means,
    self.precisions_packed, what)
end

--- res:predict(X) → labels (0-based component of highest posterior probability)
function Result:predict(X) return predict_raw(self, "predict", X, "labels", 2) end
--- res:predict_proba(X) → n×k matrix of posterior probabilities
function Result:predict_proba(X) return predict_raw(self, "predict_proba", X, "proba", 2) end
--- res:score_samples(X) → n×1 matrix of log p(x)
function Result:score_samples(X) return predict_raw(self, "score_samples", X, "score_samples", 2) end
--- res:score([X]) → mean log-likelihood of X (the training data when X is nil)
function Result:score(X)
  if X == nil then return self.log_likelihood end
  return predict_raw(self, "score", X, "score", 2)
end

local function criterion(self, fname, X, penalty)
  local n, ll = self._n, self.log_likelihood
  if X ~= nil then
    ll = predict_raw(self, fname, X, "score", 3)
    n = X:shape()
  end
  return -2 * ll * n + penalty(n) * self.n_parameters
end

--- res:bic([X]) → -2·n·score(X) + n_parameters·ln n (Bayesian information criterion)
function Result:bic(X)
  if X ~= nil and not U.is_matrix(X) then U.argerror("bic", 1, "matrix expected, got " .. U.describe(X)) end
  return criterion(self, "bic", X, function(n) return math.log(n) end)
end

--- res:aic([X]) → -2·n·score(X) + 2·n_parameters (Akaike information criterion)
function Result:aic(X)
  if X ~= nil and not U.is_matrix(X) then U.argerror("aic", 1, "matrix expected, got " .. U.describe(X)) end
  return criterion(self, "aic", X, function() return 2 end)
end

-- fit with validated options o; argument errors point `level` frames up
local function fit(fname, X, o, level)
  local n, d = check_X(fname, 1, X, level + 1)
  if o.n_components > n then
    U.argerror(fname, fname == "gmm" and 2 or 1,
      ("n_components must be ≤ %d (the number of rows), got %d"):format(n, o.n_components), level + 2)
  end
  local res = call(level + 1, core.gmm_fit, X, o.n_components, o.covariance_type, o.init, o.max_iter,
    o.n_init, o.tol, o.reg_covar, o.seed)
  res.covariance_type = o.covariance_type
  res._n, res._d = n, d
  return setmetatable(res, Result)
end

--- fm.gmm(X, opts) → result (see the top of this file)
function M.gmm(X, opts)
  local o = U.options("gmm", 2, opts, OPTIONS)
  resolve_init("gmm", 2, o, 2)
  return fit("gmm", X, o, 2)
end

-- ---------------------------------------------------------------- scikit-learn style estimator

local GM = {}
GM.__index = GM
GM.__name = "fmclust.GaussianMixture"

--- fm.GaussianMixture(opts) → an unfitted estimator with the options of fm.gmm
function M.GaussianMixture(opts)
  local o = U.options("GaussianMixture", 1, opts, OPTIONS)
  resolve_init("GaussianMixture", 1, o, 2)
  return setmetatable({params = o}, GM)
end

function GM:get_params()
  local t = {}
  for k, v in pairs(self.params) do t[k] = v end
  return t
end

--- gm:fit(X) → gm, with weights_, means_, covariances_, precisions_cholesky_, converged_,
--- n_iter_, lower_bound_, labels_, n_features_in_ and result (the fm.gmm table)
function GM:fit(X)
  if getmetatable(self) ~= GM then error("fit: call it as gm:fit(X)", 2) end
  local res = fit("fit", X, self.params, 2)
  self.result = res
  self.weights_, self.means_, self.covariances_ = res.weights, res.means, res.covariances
  self.precisions_cholesky_ = res.precisions_cholesky
  self.converged_, self.n_iter_, self.lower_bound_ = res.converged, res.n_iter, res.lower_bound
  self.labels_, self.n_features_in_ = res.labels, res._d
  return self
end

--- gm:fit_predict(X) → labels of the fitted model on X
function GM:fit_predict(X)
  if getmetatable(self) ~= GM then error("fit_predict: call it as gm:fit_predict(X)", 2) end
  return fit("fit_predict", X, self.params, 2).labels
end

local function fitted(self, fname)
  if getmetatable(self) ~= GM then error(fname .. ": call it as gm:" .. fname .. "(X)", 3) end
  if not self.result then
    error(("%s: this GaussianMixture is not fitted yet; call gm:fit(X) first"):format(fname), 3)
  end
  return self.result
end

-- each method checks its own arguments so errors name it and point at the caller
function GM:predict(X) return predict_raw(fitted(self, "predict"), "predict", X, "labels", 2) end
function GM:predict_proba(X) return predict_raw(fitted(self, "predict_proba"), "predict_proba", X, "proba", 2) end
function GM:score_samples(X)
  return predict_raw(fitted(self, "score_samples"), "score_samples", X, "score_samples", 2)
end
function GM:score(X) return predict_raw(fitted(self, "score"), "score", X, "score", 2) end
function GM:bic(X)
  local r = fitted(self, "bic")
  if not U.is_matrix(X) then U.argerror("bic", 1, "matrix expected, got " .. U.describe(X)) end
  return criterion(r, "bic", X, function(n) return math.log(n) end)
end
function GM:aic(X)
  local r = fitted(self, "aic")
  if not U.is_matrix(X) then U.argerror("aic", 1, "matrix expected, got " .. U.describe(X)) end
  return criterion(r, "aic", X, function() return 2 end)
end

return M
