-- fmclust.nmf — non-negative matrix factorisation X ≈ W·H with the Frobenius loss, like
-- scikit-learn 1.2's NMF (beta_loss = "frobenius", no regularisation).
--
--   local W, model = fm.nmf(X, {n_components = 20})          -- W: n×20 embedding
--   model.H, model.reconstruction_err, model.n_iter
--   local Wnew = model:transform(Xnew)                        -- H fixed, solve for W
--   local Xhat = model:inverse_transform(W)                   -- W·H
--
--   local est = fm.NMF{n_components = 20}                     -- scikit-learn-style estimator
--   local W = est:fit_transform(X); est.components_, est.reconstruction_err_, est.n_iter_
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

-- scikit-learn's names and defaults. init = nil picks like scikit-learn: "nndsvda" when
-- n_components ≤ min(n, d), else "random". n_components = nil keeps all d features.
local SPEC = {
  n_components = {type = "integer", min = 1},
  init = {type = "string", values = {"random", "nndsvd", "nndsvda", "nndsvdar"}},
  solver = {type = "string", values = {"cd", "mu"}, default = "cd"},
  max_iter = {type = "integer", min = 1, default = 200},
  tol = {type = "number", min = 0, default = 1e-4},
  shuffle = {type = "boolean", default = false},
  seed = {type = "integer", default = 0},
}

-- X must also be non-negative (U.check_matrix has checked it is a finite, non-empty matrix).
-- Error levels here and below: 1 the helper, 2 the public function, 3 the user's call.
local function check_nonneg(fname, argn, X)
  if core.nmf_first_negative(X) then
    error(("bad argument #%d to '%s' (X has negative values: NMF needs X ≥ 0)"):format(argn, fname), 3)
  end
end

-- resolve the defaults that depend on X's shape and check n_components against it
local function resolve(fname, argn, o, n, d)
  local k = o.n_components or d
  if k > d then
    U.argerror(fname, argn, ("n_components must be ≤ %d (the number of columns), got %d"):format(d, k), 4)
  end
  local init = o.init or (k <= math.min(n, d) and "nndsvda" or "random")
  if init ~= "random" and k > n then
    U.argerror(fname, argn, ("n_components must be ≤ %d (the number of rows) for init '%s', got %d")
      :format(n, init, k), 4)
  end
  return k, init
end

local Model = {}
Model.__index = Model

local function fit(X, o, n, d, k, init)
  local W, H, err, n_iter, converged, history =
    core.nmf_fit(X, k, init, o.solver, o.max_iter, o.tol, o.seed, o.shuffle)
  local model = setmetatable({
    W = W, H = H, components = H,
    reconstruction_err = err,   -- ‖X − W·H‖_F, as scikit-learn's reconstruction_err_
    n_iter = n_iter, converged = converged,
    loss_history = history,     -- ‖X − W·H‖_F after each iteration (from Gram terms, float-rounded)
    n_components = k, n_features = d, init = init,
    solver = o.solver, max_iter = o.max_iter, tol = o.tol, seed = o.seed, shuffle = o.shuffle,
  }, Model)
  return W, model
end

--- fm.nmf(X, {n_components, init, solver = "cd"|"mu", max_iter = 200, tol = 1e-4, shuffle = false,
---   seed = 0}) → W (n×k), model {W, H = components (k×d), reconstruction_err, n_iter, converged,
---   loss_history, n_components, init, ...; model:transform(Xnew), model:inverse_transform(W)}
function M.nmf(X, opts)
  local n, d = U.check_matrix("nmf", 1, X)
  check_nonneg("nmf", 1, X)
  local o = U.options("nmf", 2, opts, SPEC)
  local k, init = resolve("nmf", 2, o, n, d)
  return fit(X, o, n, d, k, init)
end

--- model:transform(Xnew) → W for new rows with H fixed (scikit-learn's transform: cd starts at W = 0)
function Model:transform(X)
  local _, d = U.check_matrix("transform", 1, X)
  check_nonneg("transform", 1, X)
  if d ~= self.n_features then
    U.argerror("transform", 1, ("X has %d columns, the model was fitted on %d"):format(d, self.n_features))
  end
  local W = core.nmf_transform(X, self.H, self.solver, self.max_iter, self.tol, self.seed, self.shuffle)
  return W
end

--- model:inverse_transform(W) → W·H (n×d)
function Model:inverse_transform(W)
  if not U.is_matrix(W) then U.argerror("inverse_transform", 1, "matrix expected, got " .. U.describe(W)) end
  local _, k = W:shape()
  if k ~= self.n_components then
    U.argerror("inverse_transform", 1, ("W has %d columns, the model has %d components"):format(k, self.n_components))
  end
  return W:matmul(self.H)
end

-- ---------------------------------------------------------------- estimator

local NMF = {}
NMF.__index = NMF

--- fm.NMF(opts) → estimator with :fit(X), :fit_transform(X), :transform(X), :inverse_transform(W);
--- after fit: components_, reconstruction_err_, n_iter_, n_components_, model
function M.NMF(opts)
  local o = U.options("NMF", 1, opts, SPEC)
  return setmetatable({params = o}, NMF)
end

local function keep(self, W, model)
  self.model = model
  self.components_ = model.H
  self.reconstruction_err_ = model.reconstruction_err
  self.n_iter_ = model.n_iter
  self.n_components_ = model.n_components
  return W
end

function NMF:fit(X)
  local n, d = U.check_matrix("fit", 1, X)
  check_nonneg("fit", 1, X)
  local k, init = resolve("fit", 1, self.params, n, d)
  keep(self, fit(X, self.params, n, d, k, init))
  return self
end

function NMF:fit_transform(X)
  local n, d = U.check_matrix("fit_transform", 1, X)
  check_nonneg("fit_transform", 1, X)
  local k, init = resolve("fit_transform", 1, self.params, n, d)
  return keep(self, fit(X, self.params, n, d, k, init))
end

local function fitted(self, fname)
  if not self.model then error(("%s: this NMF is not fitted yet: call fit first"):format(fname), 3) end
  return self.model
end

function NMF:transform(X) return fitted(self, "transform"):transform(X) end
function NMF:inverse_transform(W) return fitted(self, "inverse_transform"):inverse_transform(W) end

return M
