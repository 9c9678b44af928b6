-- fmclust.hdbscan — HDBSCAN* with scikit-learn-contrib/hdbscan's options, equal to hdbscan 0.8.43.
--
--   local res = fm.hdbscan(X, {min_cluster_size = 100})
--   res.labels               fm labels, 0..k−1, −1 = noise (with assign_noise = true: no −1 left)
--   res.probabilities        n×1 matrix: strength of membership (0 for noise)
--   res.outlier_scores       n×1 matrix: GLOSH scores (higher = more outlying)
--   res.cluster_persistence  Lua sequence (k): hdbscan's cluster_persistence_
--   res.condensed_tree       rows×4 matrix (parent, child, lambda_val, child_size), hdbscan's
--                            0-based ids: points 0..n−1, root cluster n; res:condensed_tree_table()
--                            gives the same as Lua arrays in double precision
--   res.n_clusters, res.noise (points labelled −1 before assign_noise), res.min_samples, ...
--   res.seconds              {core_distances = s, spanning_tree = s}: wall time of the two costly stages
--   res:approximate_predict(Xnew) → labels, probabilities (hdbscan.approximate_predict)
--   res:reselect{cluster_selection_method=, cluster_selection_epsilon=, allow_single_cluster=,
--                max_cluster_size=, assign_noise=} → a new result from the same tree (no refit)
--   res:core_distances()     n×1 matrix
--
--   local h = fm.HDBSCAN{min_cluster_size = 15}   -- the estimator: h:fit(X) sets labels_,
--   probabilities_, outlier_scores_, cluster_persistence_, condensed_tree_, n_clusters_;
--   h:fit_predict(X); h:approximate_predict(Xnew)
--
-- Options (hdbscan's names and defaults): min_cluster_size = 5, min_samples = min_cluster_size,
-- cluster_selection_method = "eom" | "leaf", cluster_selection_epsilon = 0, allow_single_cluster =
-- false, max_cluster_size = 0 (unlimited), metric = "euclidean", algorithm = "best" |
-- "boruvka_kdtree" | "prims_kdtree", approx_min_span_tree = true, and fmclust's assign_noise =
-- false (every noise point takes the label of its nearest clustered point; its probability stays 0).
--
-- "best" is hdbscan's rule: Borůvka over a kd-tree up to 60 dimensions, Prim above. Above 60
-- dimensions the exact core distances and Prim's tree are found through lower bounds — the data
-- projected on its leading principal axes plus the norm of the rest, and a kd-tree over that —
-- which rule out most distance computations and leave every result bit the same (70,000 × 784
-- Fashion-MNIST: minutes → seconds). The Borůvka is
-- hdbscan's own walk (same kd-tree, same traversal, same approximate bounds when
-- approx_min_span_tree = true, same edge sort), which is what makes the clusters equal to
-- hdbscan's; approx_min_span_tree = false gives the exact minimum spanning tree.
-- The core distance of a point is its distance to the min_samples-th other point (hdbscan's
-- Borůvka: the (min_samples + 1)-th neighbour counting the point itself).
--
-- fm.hdbscan_stages: the stages on plain Lua tables (hdbscan's 0-based ids) —
--   core_distances(X, {min_samples, method}), bound_coords(X, {n_coords}),
--   mst(X, {min_samples, algorithm, bounds}),
--   linkage(edges, n), condense(linkage, n, min_cluster_size), stability(tree),
--   select(tree, {cluster_selection_method, allow_single_cluster, cluster_selection_epsilon,
--   max_cluster_size}), label(tree, selected, {allow_single_cluster, cluster_selection_epsilon}).
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local call = U.call   -- core argument errors read as the public function's

local SELECT = {
  cluster_selection_method = {type = "string", values = {"eom", "leaf"}, default = "eom"},
  cluster_selection_epsilon = {type = "number", min = 0, default = 0},
  allow_single_cluster = {type = "boolean", default = false},
  max_cluster_size = {type = "integer", min = 0, default = 0},
  assign_noise = {type = "boolean", default = false},
}

local SPEC = {
  min_cluster_size = {type = "integer", min = 2, default = 5},
  min_samples = {type = "integer", min = 1},
  metric = {type = "string", values = {"euclidean"}, default = "euclidean"},
  algorithm = {type = "string", values = {"best", "boruvka_kdtree", "prims_kdtree"}, default = "best"},
  approx_min_span_tree = {type = "boolean", default = true},
}
for k, v in pairs(SELECT) do SPEC[k] = v end

local function core_algorithm(o)
  if o.algorithm == "prims_kdtree" then return "prims" end
  if o.algorithm == "boruvka_kdtree" or o.algorithm == "best" then
    if o.algorithm == "best" and o.d > 60 then return "prims" end
    return o.approx_min_span_tree and "boruvka_kdtree" or "boruvka_exact"
  end
end

-- which selection each model currently holds (a result re-applies its own before predicting)
local current = setmetatable({}, {__mode = "k"})

local function sel_key(s)
  return table.concat({s.cluster_selection_method, tostring(s.allow_single_cluster),
    ("%.17g"):format(s.cluster_selection_epsilon), tostring(s.max_cluster_size)}, "|")
end

local function apply_selection(model, s)
  local key = sel_key(s)
  if current[model] ~= key then
    model:reselect(s.cluster_selection_method, s.allow_single_cluster, s.cluster_selection_epsilon,
      s.max_cluster_size)
    current[model] = key
  end
end

local Result = {}
Result.__index = Result

local function make_result(model, o, s)
  apply_selection(model, s)
  local labels = model:labels()
  local k = model:n_clusters()
  local noise = 0
  for i = 1, #labels do if labels[i] < 0 then noise = noise + 1 end end
  local clustered = labels
  local t_core, t_mst = model:timings()
  if s.assign_noise and k > 0 and noise > 0 then labels = model:assign_noise(labels) end
  return setmetatable({
    labels = labels,
    probabilities = model:probabilities(),
    outlier_scores = model:outlier_scores(),
    cluster_persistence = model:persistence(),
    condensed_tree = model:condensed_tree(),
    n_clusters = k,
    noise = noise,
    min_cluster_size = o.min_cluster_size,
    min_samples = o.min_samples,
    cluster_selection_method = s.cluster_selection_method,
    cluster_selection_epsilon = s.cluster_selection_epsilon,
    allow_single_cluster = s.allow_single_cluster,
    max_cluster_size = s.max_cluster_size,
    assign_noise = s.assign_noise,
    seconds = {core_distances = t_core, spanning_tree = t_mst},
    _model = model, _opts = o, _sel = s, _clustered = clustered,
  }, Result)
end

local function fit(fname, X, o)
  local n, d = U.check_matrix(fname, 1, X)
  -- the default min_samples (= min_cluster_size) may exceed a small n: hdbscan then uses n − 1
  o.min_samples = o.min_samples or o.min_cluster_size
  o.d = d
  local model = call(fname, core.hdbscan_fit, X, o.min_cluster_size, o.min_samples, o.cluster_selection_method,
    o.allow_single_cluster, o.cluster_selection_epsilon, o.max_cluster_size, core_algorithm(o))
  current[model] = sel_key(o)
  return make_result(model, o, o)
end

--- fm.hdbscan(X, opts) → result (see the header)
function M.hdbscan(X, opts)
  local o = U.options("hdbscan", 2, opts, SPEC)
  local n = U.check_matrix("hdbscan", 1, X)
  if o.min_samples and o.min_samples > n then
    U.argerror("hdbscan", 2, ("min_samples must be ≤ %d (the number of rows), got %d"):format(n, o.min_samples))
  end
  return fit("hdbscan", X, o)
end

--- res:reselect(opts) → a new result: another flat clustering of the same condensed tree
function Result:reselect(opts)
  local s = U.options("reselect", 1, opts, SELECT)
  return make_result(self._model, self._opts, s)
end

local function predict(fname, self, X)
  local _, d = U.check_matrix(fname, 1, X, {min_rows = 0})
  if d ~= self._opts.d then
    U.argerror(fname, 1, ("matrix has %d columns, the model was fitted on %d"):format(d, self._opts.d), 4)
  end
  apply_selection(self._model, self._sel)
  local labels, prob = call(fname, self._model.predict, self._model, X)
  if self._sel.assign_noise and self.n_clusters > 0 and #labels > 0 then
    local nearest = call(fname, self._model.nearest_labelled, self._model, X, self._clustered)
    local t = labels:to_table()
    for i = 1, #t do if t[i] < 0 then t[i] = nearest[i] end end
    labels = core.labels_from_table(t)
  end
  return labels, prob
end

--- res:approximate_predict(Xnew) → labels, probabilities (n×1 matrix)
function Result:approximate_predict(X)
  return predict("approximate_predict", self, X)
end

--- res:condensed_tree_table() → {parent, child, lambda_val, child_size} Lua arrays (doubles)
function Result:condensed_tree_table()
  return self._model:condensed_tree_table()
end

--- res:core_distances() → n×1 matrix
function Result:core_distances()
  return self._model:core_distances()
end

-- ---------------------------------------------------------------- the estimator

local HDBSCAN = {}
HDBSCAN.__index = HDBSCAN

--- fm.HDBSCAN(opts) → an unfitted estimator (options as fm.hdbscan)
function M.HDBSCAN(opts)
  local o = U.options("HDBSCAN", 1, opts, SPEC)
  return setmetatable({params = o}, HDBSCAN)
end

function HDBSCAN:fit(X)
  if getmetatable(self) ~= HDBSCAN then error("fit: call it as h:fit(X)", 2) end
  local o = {}
  for k, v in pairs(self.params) do o[k] = v end
  local n = U.check_matrix("fit", 1, X)
  if o.min_samples and o.min_samples > n then
    U.argerror("fit", 1, ("matrix has %d rows, fewer than min_samples = %d"):format(n, o.min_samples))
  end
  local res = fit("fit", X, o)
  self.result_ = res
  self.labels_, self.probabilities_, self.outlier_scores_ = res.labels, res.probabilities, res.outlier_scores
  self.cluster_persistence_, self.condensed_tree_, self.n_clusters_ = res.cluster_persistence,
    res.condensed_tree, res.n_clusters
  return self
end

function HDBSCAN:fit_predict(X)
  return self:fit(X).labels_
end

function HDBSCAN:approximate_predict(X)
  if getmetatable(self) ~= HDBSCAN then error("approximate_predict: call it as h:approximate_predict(X)", 2) end
  if not self.result_ then
    error("approximate_predict: the HDBSCAN estimator is not fitted yet (call h:fit(X) first)", 2)
  end
  return predict("approximate_predict", self.result_, X)
end

-- ---------------------------------------------------------------- stages

local stages = {}
M.hdbscan_stages = stages

local function check_ms(fname, X, opts, extra)
  local n = U.check_matrix(fname, 1, X, {min_rows = 2})
  local spec = {min_samples = {type = "integer", min = 1, default = 5}}
  for k, v in pairs(extra or {}) do spec[k] = v end
  local o = U.options(fname, 2, opts, spec)
  if o.min_samples > n - 1 then
    U.argerror(fname, 2, ("min_samples must be ≤ %d (rows − 1), got %d"):format(n - 1, o.min_samples), 4)
  end
  return o
end

--- stages.core_distances(X, {min_samples = 5, method = "kdtree"|"brute"|"bounded"}) → Lua array
--- of n doubles. "kdtree" is hdbscan's (Borůvka, d ≤ 60), "brute" the exact GEMM kNN, "bounded"
--- the exact search through projected bounds that fm.hdbscan uses above 60 dimensions (the same
--- bits as "brute"). brute = true is method = "brute".
function stages.core_distances(X, opts)
  local o = check_ms("core_distances", X, opts, {brute = {type = "boolean", default = false},
    method = {type = "string", values = {"kdtree", "brute", "bounded"}}})
  local method = o.method or (o.brute and "brute" or "kdtree")
  return call("core_distances", core.hdbscan_core_distances, X, o.min_samples, method)
end

--- stages.bound_coords(X, {n_coords = 17}) → z (n rows of n_coords numbers), tol (n): the
--- coordinates on n_coords − 1 principal axes plus the residual norm, ‖z_a − z_b‖ ≤ ‖x_a − x_b‖
--- up to tol_a + tol_b (the rounding allowance the bounds carry)
function stages.bound_coords(X, opts)
  local n, d = U.check_matrix("bound_coords", 1, X, {min_rows = 2})
  local o = U.options("bound_coords", 2, opts, {n_coords = {type = "integer", min = 2, default = math.min(17, d + 1)}})
  if o.n_coords > d + 1 then
    U.argerror("bound_coords", 2, ("n_coords must be ≤ %d (columns + 1), got %d"):format(d + 1, o.n_coords))
  end
  return call("bound_coords", core.hdbscan_bound_coords, X, o.n_coords)
end

--- stages.mst(X, {min_samples = 5, algorithm = "boruvka_kdtree"|"boruvka_exact"|"prims",
--- bounds = true, parallel_min = 65536}) → {a, b, w}: n−1 edges (0-based points), in the order
--- found. bounds = false runs Prim without the projected bounds (slower, the same edges); Prim
--- steps that scan fewer than parallel_min points run on one thread.
function stages.mst(X, opts)
  local o = check_ms("mst", X, opts,
    {algorithm = {type = "string", values = {"boruvka_kdtree", "boruvka_exact", "prims"}, default = "boruvka_kdtree"},
     bounds = {type = "boolean", default = true}, parallel_min = {type = "integer", min = 1, default = 65536}})
  return call("mst", core.hdbscan_mst, X, o.min_samples, o.algorithm, o.bounds, o.parallel_min)
end

--- stages.linkage(edges, n) → n−1 rows {left, right, distance, size} (scipy format)
function stages.linkage(edges, n)
  return call("linkage", core.hdbscan_linkage, edges, n)
end

--- stages.condense(linkage, n, min_cluster_size) → {parent, child, lambda_val, child_size}
function stages.condense(linkage, n, min_cluster_size)
  return call("condense", core.hdbscan_condense, linkage, n, min_cluster_size)
end

--- stages.stability(tree) → {[cluster id] = stability}
function stages.stability(tree)
  return call("stability", core.hdbscan_stability, tree)
end

--- stages.select(tree, opts) → sorted ids of the selected clusters
function stages.select(tree, opts)
  local o = U.options("select", 2, opts, SELECT)
  return call("select", core.hdbscan_select, tree, o.cluster_selection_method, o.allow_single_cluster,
    o.cluster_selection_epsilon, o.max_cluster_size)
end

--- stages.label(tree, selected, opts) → labels (Lua array), probabilities (Lua array)
function stages.label(tree, selected, opts)
  local o = U.options("label", 3, opts, SELECT)
  return call("label", core.hdbscan_label, tree, selected, o.allow_single_cluster, o.cluster_selection_epsilon)
end

return M
