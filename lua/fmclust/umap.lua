-- fmclust.umap — UMAP (McInnes, Healy & Melville 2018) as umap-learn 0.5 computes it, seeded,
-- parallel, and bit-identical for a seed at any thread count.
--
--   local model = fm.umap(X, {n_components = 10, seed = 42})   -- fit
--   model.embedding                                            -- n×10 matrix
--   local Znew = model:transform(Xnew)                         -- embed new points
--   model:save("umap.fmu"); local m2 = fm.UMAP.load("umap.fmu")
--
--   local est = fm.UMAP{n_neighbors = 30, min_dist = 0.0}      -- the estimator
--   local Z = est:fit_transform(X)                             -- or est:fit(X); est.embedding
--
-- Options (umap-learn's names and defaults; unknown keys are errors):
--   n_neighbors = 15         neighbourhood size, including the point itself (2 ≤ n_neighbors < n)
--   n_components = 2         output dimension (1 ≤ n_components ≤ n − 2)
--   metric = "euclidean" | "cosine"
--   min_dist = 0.1, spread = 1.0   fit a, b of 1/(1 + a·d^2b) (or give a and b)
--   n_epochs                 default 500 up to 10,000 points, else 200 (+200 with densMAP)
--   learning_rate = 1.0, negative_sample_rate = 5, repulsion_strength = 1.0
--   init = "spectral" | "pca" | "random"   spectral: Lanczos on the normalised Laplacian; on a
--                            disconnected graph or no convergence it falls back to PCA (umap-learn
--                            lays out components separately, or falls back to random)
--   local_connectivity = 1, set_op_mix_ratio = 1.0
--   seed = 0                 every random draw (same seed → same embedding, any thread count)
--   graph = "fuzzy" | "mutual"   "mutual": Dalmia & Sia (2021) — keep mutual neighbours only,
--                            reconnect (connectivity), then take each point's n_neighbors nearest
--                            along shortest paths of that graph ("path neighbours")
--   connectivity = "min_tree" | "nearest"   mutual graph: "min_tree" adds the fewest edges of the
--                            kNN graph's minimum spanning tree that join its components (the
--                            paper's MST-min); "nearest" ties isolated points to their nearest
--                            neighbour (NN; components may stay apart)
--   knn_method = "auto" | "exact" | "nndescent"   auto: exact below 20,000 points
--   densmap = false, dens_lambda = 2.0, dens_frac = 0.3, dens_var_shift = 0.1   densMAP
--   output_dens = false      also return the log local radii rad_orig, rad_emb (n×1 matrices)
--   verbose = false          stages and epochs on stderr with elapsed time
--
-- Differences from umap-learn, on purpose: the SGD moves only the head of each edge, heads in fixed
-- slices of 2,048 vertices, each slice's heads in parallel against a copy of their own slice (see
-- src/umap.h) — deterministic at any thread count, where umap-learn must run single-threaded for
-- a seed; the negative samples of an edge are all taken at the head's position after its attraction
-- and applied together (umap-learn applies each before the next: 1.4× faster SGD here, each moves
-- the head by at most 4·learning_rate); the kNN graph is fmclust's (exact or NN-descent), not pynndescent's; a spectral
-- initialisation that cannot be used (disconnected graph, no convergence) falls back to PCA
-- (umap-learn: a per-component layout, or random).
--
-- The fitted model holds: embedding (n×n_components), a, b, n_epochs, init_used, n_edges,
-- n_graph_components, n_isolated (mutual graph), knn_method, rad_orig, rad_emb (output_dens),
-- the options, and the training data X (transform needs it: neighbours of new points are
-- searched exactly in X). save() stores the options, a, b, X and the embedding; load() restores a
-- model that transforms identically.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local OPTIONS = {
  n_neighbors = {type = "integer", default = 15},
  n_components = {type = "integer", default = 2},
  metric = {type = "string", values = {"euclidean", "cosine"}, default = "euclidean"},
  min_dist = {type = "number", min = 0, default = 0.1},
  spread = {type = "number", gt = 0, default = 1.0},
  n_epochs = {type = "integer", min = 0},
  learning_rate = {type = "number", gt = 0, default = 1.0},
  init = {type = "string", values = {"spectral", "pca", "random"}, default = "spectral"},
  negative_sample_rate = {type = "number", min = 0, default = 5},
  repulsion_strength = {type = "number", min = 0, default = 1.0},
  local_connectivity = {type = "number", min = 0, default = 1.0},
  set_op_mix_ratio = {type = "number", min = 0, max = 1, default = 1.0},
  seed = {type = "integer", default = 0},
  graph = {type = "string", values = {"fuzzy", "mutual"}, default = "fuzzy"},
  connectivity = {type = "string", values = {"min_tree", "nearest"}, default = "min_tree"},
  knn_method = {type = "string", values = {"auto", "exact", "nndescent"}, default = "auto"},
  densmap = {type = "boolean", default = false},
  dens_lambda = {type = "number", min = 0, default = 2.0},
  dens_frac = {type = "number", min = 0, max = 1, default = 0.3},
  dens_var_shift = {type = "number", min = 0, default = 0.1},
  output_dens = {type = "boolean", default = false},
  a = {type = "number", gt = 0},
  b = {type = "number", gt = 0},
  verbose = {type = "boolean", default = false},
}

local function check_sizes(fname, argn, o, n)
  if o.n_neighbors < 2 then
    U.argerror(fname, argn, ("n_neighbors must be ≥ 2, got %d"):format(o.n_neighbors), 4)
  end
  if o.n_neighbors >= n then
    U.argerror(fname, argn, ("n_neighbors must be < %d (the number of rows), got %d"):format(n, o.n_neighbors), 4)
  end
  if o.n_components < 1 then
    U.argerror(fname, argn, ("n_components must be ≥ 1, got %d"):format(o.n_components), 4)
  end
  if o.n_components > n - 2 then
    U.argerror(fname, argn, ("n_components must be ≤ %d (the number of rows − 2), got %d"):format(
      n - 2, o.n_components), 4)
  end
  if (o.a == nil) ~= (o.b == nil) then U.argerror(fname, argn, "give both a and b, or neither", 4) end
end

local UMAP = {}
UMAP.__index = UMAP
M.UMAP = setmetatable({}, {
  __index = UMAP,
  __call = function(_, opts)
    local o = U.options("UMAP", 1, opts, OPTIONS)
    return setmetatable({options = o}, UMAP)
  end,
})

local function fit(self, fname, X)
  local n = U.check_matrix(fname, 1, X, {min_rows = 4})
  check_sizes(fname, 1, self.options, n)
  local E, info, ro, re = core.umap_fit(X, self.options)
  self.embedding = E
  for k, v in pairs(info) do self[k] = v end
  self.rad_orig, self.rad_emb = ro, re
  self.X = X
  self.n_samples, self.n_features = X:shape()
  return self
end

--- est:fit(X) → est (fitted: est.embedding, est.a, est.b, ...)
function UMAP:fit(X) return fit(self, "fit", X) end

--- est:fit_transform(X) → the embedding
function UMAP:fit_transform(X) return fit(self, "fit_transform", X).embedding end

--- model:transform(Xnew) → m×n_components embedding of new points against the fitted one
function UMAP:transform(Q)
  if not self.embedding then error("transform: the model is not fitted (call fit first)", 2) end
  if not U.is_matrix(Q) then U.argerror("transform", 1, "matrix expected, got " .. U.describe(Q)) end
  local m, d = Q:shape()
  if d ~= self.n_features then
    U.argerror("transform", 1, ("new points have %d columns, the model was fitted on %d"):format(d, self.n_features))
  end
  if Q:has_nonfinite() then U.argerror("transform", 1, "matrix contains NaN or Inf") end
  if m == 0 then return core.matrix_zeros(0, self.options.n_components) end
  local o = {}
  for k, v in pairs(self.options) do o[k] = v end
  o.a, o.b = self.a, self.b
  return core.umap_transform(self.X, self.embedding, Q, o)
end

-- a flat "key=value" header: numbers as %.17g, strings quoted with %q, booleans as words
local SAVED = {"a", "b", "n_epochs", "init_used", "n_edges", "n_graph_components", "n_isolated", "knn_method"}

local function ser(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if math.type(v) == "integer" then return ("%d"):format(v) end
  if type(v) == "number" then return ("%.17g"):format(v) end
  return tostring(v)
end

--- model:save(path): options, a, b, training data and embedding in one binary file
function UMAP:save(path)
  if type(path) ~= "string" then U.argerror("save", 1, "path expected, got " .. U.describe(path)) end
  if not self.embedding then error("save: the model is not fitted", 2) end
  local lines = {}
  local keys = {}
  for k in pairs(self.options) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do lines[#lines + 1] = "options." .. k .. "=" .. ser(self.options[k]) end
  for _, k in ipairs(SAVED) do
    if self[k] ~= nil then lines[#lines + 1] = k .. "=" .. ser(self[k]) end
  end
  core.umap_save(path, table.concat(lines, "\n"), self.X, self.embedding)
  return self
end

local function deser(s)
  if s == "true" then return true elseif s == "false" then return false end
  if s:sub(1, 1) == '"' then return (load("return " .. s, "=umap-header", "t", {}))() end
  return math.tointeger(tonumber(s)) or tonumber(s)
end

--- fm.UMAP.load(path) → a fitted model; nil, message if the file is missing or not a model
function UMAP.load(path)
  if type(path) ~= "string" then U.argerror("load", 1, "path expected, got " .. U.describe(path)) end
  local hdr, X, E = core.umap_load(path)
  if not hdr then return nil, X end
  local self = setmetatable({options = {}}, UMAP)
  for line in hdr:gmatch("[^\n]+") do
    local k, v = line:match("^([%w_%.]+)=(.*)$")
    if k then
      local opt = k:match("^options%.(.*)$")
      if opt then self.options[opt] = deser(v) else self[k] = deser(v) end
    end
  end
  self.X, self.embedding = X, E
  self.n_samples, self.n_features = X:shape()
  return self
end

--- fm.umap(X, opts) → fitted model (see the header)
function M.umap(X, opts)
  local o = U.options("umap", 2, opts, OPTIONS)
  local n = U.check_matrix("umap", 1, X, {min_rows = 4})
  check_sizes("umap", 2, o, n)
  local self = setmetatable({options = o}, UMAP)
  local E, info, ro, re = core.umap_fit(X, o)
  self.embedding = E
  for k, v in pairs(info) do self[k] = v end
  self.rad_orig, self.rad_emb = ro, re
  self.X = X
  self.n_samples, self.n_features = X:shape()
  return self
end

-- the stages, for tests and for users who build their own graphs (kNN indices are 1-based
-- matrices as fm.knn returns them, column 1 the point itself)
M.umap_stages = {
  -- knn_lists(X, n_neighbors [, {metric, seed}]) → I, D (n×n_neighbors): fm.knn's n_neighbors − 1
  -- neighbours after the point itself at distance 0, umap-learn's layout
  knn_lists = function(X, n_neighbors, opts)
    opts = opts or {}
    if math.type(n_neighbors) ~= "integer" or n_neighbors < 2 then
      U.argerror("knn_lists", 2, "n_neighbors must be an integer ≥ 2")
    end
    local g = require("fmclust.knn").knn(X, {k = n_neighbors - 1, metric = opts.metric, seed = opts.seed})
    local n = X:shape()
    local I, D = core.matrix_zeros(n, n_neighbors), core.matrix_zeros(n, n_neighbors)
    local gi, gd = g.indices, g.distances
    for i = 1, n do
      I:set(i, 1, i)
      for j = 1, n_neighbors - 1 do
        I:set(i, j + 1, gi:get(i, j))
        D:set(i, j + 1, gd:get(i, j))
      end
    end
    return I, D
  end,
  smooth_knn_dist = function(D, k_target, local_connectivity, bandwidth)
    return core.umap_smooth_knn_dist(D, k_target, local_connectivity, bandwidth)
  end,
  membership_strengths = core.umap_membership,
  fuzzy_union = core.umap_fuzzy_union,
  find_ab = core.umap_find_ab,
  spectral = core.umap_spectral,
  mutual_knn = core.umap_mutual_knn,
}

return M
