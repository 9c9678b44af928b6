-- fmclust.pca — principal component analysis, like scikit-learn's PCA.
--
--   local Z, model = fm.pca(X, {n_components = 50})     -- Z: n×50 scores, model: the fit
--   model.explained_variance_ratio[1]                   -- share of the variance on axis 1
--   local Znew = model:transform(Xnew)                  -- (Xnew − mean)·componentsᵀ
--   local Xhat = model:inverse_transform(Znew)          -- back to pixel space
--
--   local est = fm.PCA{n_components = 50, whiten = true}   -- the scikit-learn-style estimator
--   local Z = est:fit_transform(X)                         -- or est:fit(X); est:transform(X)
--
-- Options (scikit-learn's names and defaults; unknown keys are errors):
--   n_components    integer in 1..min(n, d) (default min(n, d)), or a number in (0, 1): keep the
--                   fewest components whose explained variance ratios add up to more than it
--                   (covariance solver only, as scikit-learn's full solver)
--   whiten = false  divide the scores by sqrt(explained_variance): unit-variance columns
--   svd_solver = "auto" | "covariance" | "randomized"
--       covariance  C = X̃ᵀX̃, then the top-k eigenpairs by LAPACK dsyevr. When every value is
--                   k/255 or k for an integer k in 0..255 (8-bit images, as fm.data gives them)
--                   and the CPU has AVX-512 VNNI, XᵀX is summed exactly in integers (vpdpbusd:
--                   4× the float rate); otherwise float32 SYRK on centred row chunks, chunks
--                   summed in double.
--       randomized  Halko et al.'s randomized SVD with power iterations, each re-orthonormalised
--                   by Householder QR, as scikit-learn's randomized solver (which it picks for
--                   PCA-80 of Fashion-MNIST).
--       auto        the one a cost model (src/pca.c, calibrated here) predicts faster, covariance
--                   on near-ties since it is exact: covariance unless d is large against n and k
--                   (Fashion-MNIST 70,000×784, k = 80: covariance, ~4× faster than randomized);
--                   always covariance for a fraction, randomized when d×d doubles exceed 1 GiB.
--   seed = 0            the randomized solver's Gaussian test matrix (same result for any thread count)
--   iterated_power = "auto"  randomized power iterations ("auto": 7 if k < 0.1·min(n, d), else 4)
--   n_oversamples = 10       randomized sketch width k + n_oversamples
--
-- The model (and a fitted estimator) holds:
--   components               k×d matrix, orthonormal rows, by decreasing variance
--   mean                     1×d matrix of column means
--   explained_variance       Lua array of k numbers (variance of each score column, ddof = 1)
--   explained_variance_ratio Lua array: explained_variance / total_variance
--   singular_values          Lua array: sqrt(explained_variance · (n − 1))
--   total_variance           sum of the column variances of X (ddof = 1)
--   noise_variance           mean variance of the discarded directions (probabilistic PCA; 0 if none)
--   n_components, n_samples, n_features, whiten, svd_solver (the one used), n_iter (power iterations run)
--   exact_8bit               true when the covariance came from the exact 8-bit kernel (below)
-- Signs follow scikit-learn's svd_flip: in each score column the entry of largest magnitude is
-- positive, so components match scikit-learn's (full or randomized solver) up to rounding.
-- With whiten, a direction of zero variance gets scores 0 (scikit-learn would divide by 0).
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local SOLVERS = {"auto", "covariance", "randomized"}

local OPTIONS = {
  n_components = {type = "number"},
  whiten = {type = "boolean", default = false},
  svd_solver = {type = "string", values = SOLVERS, default = "auto"},
  seed = {type = "integer", default = 0},
  iterated_power = {type = "any", default = "auto"},
  n_oversamples = {type = "integer", min = 1, default = 10},
}

-- Checks of the options U.options cannot express; called by the public function itself, so level 4
-- (argerror → this → the public function → its caller) blames the user's line.
local function check_options(fname, argn, o)
  local p = o.iterated_power
  if p ~= "auto" and not (math.type(p) == "integer" and p >= 0) then
    U.argerror(fname, argn, ('iterated_power must be "auto" or an integer ≥ 0, got %s'):format(
      type(p) == "number" and ("%g"):format(p) or U.describe(p)), 4)
  end
  local k = o.n_components
  if k ~= nil and math.type(k) == "float" and k == math.floor(k) then
    o.n_components = math.tointeger(k)   -- 80.0 means 80
  elseif k ~= nil and math.type(k) == "float" then
    if not (k > 0 and k < 1) then
      U.argerror(fname, argn, ("n_components must be an integer ≥ 1 or a fraction in (0, 1), got %g"):format(k), 4)
    end
    if o.svd_solver == "randomized" then
      U.argerror(fname, argn, 'n_components as a fraction needs svd_solver "covariance" or "auto"', 4)
    end
  end
  if math.type(o.n_components) == "integer" and o.n_components < 1 then
    U.argerror(fname, argn, ("n_components must be ≥ 1, got %d"):format(o.n_components), 4)
  end
  return o
end

-- n_components against the data (level 4: argerror → this → the public function → its caller)
local function check_k(fname, argn, o, n, d)
  local k, kmax = o.n_components, math.min(n, d)
  if k == nil then return kmax end
  if math.type(k) == "integer" and k > kmax then
    U.argerror(fname, argn, ("n_components must be ≤ %d (min(n_samples, n_features) = min(%d, %d)), got %d")
      :format(kmax, n, d, k), 4)
  end
  return k
end

local call = U.call   -- core argument errors read as the public function's

-- ---------------------------------------------------------------- the model

local Model = {}
Model.__index = Model
Model.__name = "fmclust.pca_model"

function Model.__tostring(m)
  local share = 0
  for _, r in ipairs(m.explained_variance_ratio) do share = share + r end
  return ("PCA model: %d components of %d features, %.1f%% of the variance (%s solver)"):format(
    m.n_components, m.n_features, 100 * share, m.svd_solver)
end

local function whiten_scale(m, inverse)
  if not m.whiten then return nil end
  local s = {}
  for j, v in ipairs(m.explained_variance) do
    if inverse then s[j] = math.sqrt(v) else s[j] = v > 0 and 1 / math.sqrt(v) or 0 end
  end
  return s
end

-- shared by the model and the fitted estimator (they hold the same fields)
local function transform(self, X, fname)
  local _, d = U.check_matrix(fname, 1, X)
  if d ~= self.n_features then
    U.argerror(fname, 1, ("matrix has %d columns, the model was fitted on %d"):format(d, self.n_features), 3)
  end
  return (call(fname, core.pca_transform, X, self.components, self.mean, whiten_scale(self, false)))
end

local function inverse_transform(self, Z, fname)
  local _, k = U.check_matrix(fname, 1, Z)
  if k ~= self.n_components then
    U.argerror(fname, 1, ("matrix has %d columns, the model has %d components"):format(k, self.n_components), 3)
  end
  return (call(fname, core.pca_inverse_transform, Z, self.components, self.mean, whiten_scale(self, true)))
end

--- model:transform(Xnew) → n×k scores (Xnew − mean)·componentsᵀ (whitened if the model is)
function Model:transform(X) return transform(self, X, "transform") end
--- model:inverse_transform(Z) → n×d: Z·components + mean (undoing whitening first)
function Model:inverse_transform(Z) return inverse_transform(self, Z, "inverse_transform") end

-- fit and build the model table; X and the options are already checked
local function fit(fname, X, o, n, d, k, want_z)
  local iter = o.iterated_power == "auto" and -1 or o.iterated_power
  local r, Z = call(fname, core.pca_fit, X, k, o.svd_solver, o.whiten, o.seed, o.n_oversamples, iter, want_z)
  local ev = r.explained_variance
  local kk = #ev
  local ratio, sv, kept = {}, {}, 0
  for j = 1, kk do
    ratio[j] = r.total_variance > 0 and ev[j] / r.total_variance or 0
    sv[j] = math.sqrt(ev[j] * (n - 1))
    kept = kept + ev[j]
  end
  local rest = math.min(n, d) - kk
  local model = setmetatable({
    components = r.components, mean = r.mean,
    explained_variance = ev, explained_variance_ratio = ratio, singular_values = sv,
    total_variance = r.total_variance,
    noise_variance = rest > 0 and math.max(0, (r.total_variance - kept) / rest) or 0,
    n_components = kk, n_samples = n, n_features = d,
    whiten = o.whiten, svd_solver = r.svd_solver, n_iter = r.n_iter, exact_8bit = r.exact_8bit,
  }, Model)
  return Z, model
end

--- fm.pca(X, opts) → Z (n×k scores), model
function M.pca(X, opts)
  local n, d = U.check_matrix("pca", 1, X, {min_rows = 2})
  local o = check_options("pca", 2, U.options("pca", 2, opts, OPTIONS))
  local k = check_k("pca", 2, o, n, d)
  return fit("pca", X, o, n, d, k, true)
end

-- ---------------------------------------------------------------- the estimator

local Estimator = {}
Estimator.__index = Estimator
Estimator.__name = "fmclust.PCA"

function Estimator.__tostring(e)
  if not e.components then return "PCA (not fitted)" end
  return Model.__tostring(e)
end

local function adopt(est, model)
  for key, v in pairs(model) do est[key] = v end
  return est
end

--- est:fit(X) → est, with the model's fields (components, mean, explained_variance, ...) set
function Estimator:fit(X)
  local n, d = U.check_matrix("fit", 1, X, {min_rows = 2})
  local k = check_k("fit", 1, self.params, n, d)
  local _, model = fit("fit", X, self.params, n, d, k, false)
  return adopt(self, model)
end

--- est:fit_transform(X) → Z (and est is fitted)
function Estimator:fit_transform(X)
  local n, d = U.check_matrix("fit_transform", 1, X, {min_rows = 2})
  local k = check_k("fit_transform", 1, self.params, n, d)
  local Z, model = fit("fit_transform", X, self.params, n, d, k, true)
  adopt(self, model)
  return Z
end

local function fitted(self, fname)
  if not self.components then error(("%s: this PCA is not fitted yet; call est:fit(X) first"):format(fname), 3) end
end

--- est:transform(X), est:inverse_transform(Z): as the model's
function Estimator:transform(X)
  fitted(self, "transform")
  return transform(self, X, "transform")
end

function Estimator:inverse_transform(Z)
  fitted(self, "inverse_transform")
  return inverse_transform(self, Z, "inverse_transform")
end

--- est:get_params() → a copy of the options (defaults filled in)
function Estimator:get_params()
  local t = {}
  for key, v in pairs(self.params) do t[key] = v end
  return t
end

--- fm.PCA(opts) → an unfitted estimator; the options are checked here
function M.PCA(opts)
  local o = U.options("PCA", 1, opts, OPTIONS)
  return setmetatable({params = check_options("PCA", 1, o)}, Estimator)
end

return M
