-- fmclust.optics — OPTICS as scikit-learn 1.2.1 computes it: the ordering, reachability and core
-- distances, and flat clusters by the ξ method or by a DBSCAN-style cut.
--
--   local res = fm.optics(X, {min_samples = 10, xi = 0.05, min_cluster_size = 0.05})
--   res.labels              fm labels (ξ clusters, or the DBSCAN cut with cluster_method = "dbscan")
--   res.ordering            Lua array: the rows (1-based) in visiting order
--   res.reachability        Lua array (per row, double): math.huge where undefined
--   res.core_distances      Lua array (per row): distance to the min_samples-th nearest point
--                           counting the point itself (math.huge beyond max_eps)
--   res.predecessor         Lua array (per row): the row it was reached from, 0 for none
--   res.cluster_hierarchy   ξ clusters as {first, last} positions (1-based) in the ordering, in
--                           scikit-learn's order (cluster_hierarchy_)
--   res.n_clusters
--   res:cut(eps)            labels of the DBSCAN cut at eps, without recomputing (also
--                           fm.optics_cut(res, eps)); eps ≤ max_eps gives DBSCAN's clusters
--   res:reachability_plot() n×1 matrix of the reachabilities in visiting order (for plotting)
--
-- X is a matrix (float32), or a Lua table of rows whose numbers are kept in double precision
-- (scikit-learn computes in float64: for decimal reference data this reproduces its ordering
-- even where float32 rounding would swap near-ties).
--
-- Options (scikit-learn's names and defaults): min_samples = 5 (an integer ≥ 2, or a fraction of
-- the rows in (0, 1]), max_eps = math.huge, metric = "minkowski"|"euclidean" (p = 2),
-- cluster_method = "xi" | "dbscan", eps (for "dbscan"; default max_eps), xi = 0.05,
-- predecessor_correction = true, min_cluster_size (default min_samples; integer ≥ 2 or a
-- fraction in (0, 1]).
--
-- fm.OPTICS(opts):fit(X) is the estimator: labels_, ordering_, reachability_, core_distances_,
-- predecessor_, cluster_hierarchy_.
--
-- The walk is O(n²·d) time and O(n) memory (scikit-learn's is O(n²) too, in Python); it runs in C,
-- parallel over fixed chunks, with the same result for any thread count.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local call = U.call   -- core argument errors read as the public function's

local SPEC = {
  min_samples = {type = "number", gt = 0, default = 5},
  max_eps = {type = "any", default = math.huge},
  metric = {type = "string", values = {"minkowski", "euclidean"}, default = "minkowski"},
  cluster_method = {type = "string", values = {"xi", "dbscan"}, default = "xi"},
  eps = {type = "number", gt = 0},
  xi = {type = "number", min = 0, max = 1, default = 0.05},
  predecessor_correction = {type = "boolean", default = true},
  min_cluster_size = {type = "number", gt = 0},
}

-- an integer ≥ 2 (at most n), or a fraction in (0, 1] → max(2, floor(f·n)) (scikit-learn's rule)
local function size_option(fname, argn, name, v, n)
  if math.type(v) == "integer" or (v > 1 and v == math.floor(v)) then
    v = math.tointeger(v)
    if v < 2 then U.argerror(fname, argn, ("%s must be ≥ 2 or a fraction in (0, 1], got %d"):format(name, v), 5) end
    if v > n then
      U.argerror(fname, argn, ("%s must be ≤ %d (the number of rows), got %d"):format(name, n, v), 5)
    end
    return v
  end
  if v > 1 then U.argerror(fname, argn, ("%s must be an integer ≥ 2 or a fraction in (0, 1], got %g"):format(name, v), 5) end
  return math.max(2, math.floor(v * n))
end

-- X: a matrix, or a Lua table of rows (kept in double precision, as scikit-learn's float64)
local function check(fname, argn, X, opts)
  local n
  if type(X) == "table" and not U.is_matrix(X) and not U.is_labels(X) then
    n = #X
    if n < 1 or type(X[1]) ~= "table" or #X[1] < 1 then U.argerror(fname, 1, "matrix is empty", 4) end
  else
    n = U.check_matrix(fname, 1, X)
  end
  local o = U.options(fname, argn, opts, SPEC)
  local me = o.max_eps
  if type(me) ~= "number" or me ~= me or me <= 0 then
    U.argerror(fname, argn, "max_eps must be a number > 0 (math.huge for no limit)", 4)
  end
  o.min_samples = size_option(fname, argn, "min_samples", o.min_samples, n)
  o.min_cluster_size = size_option(fname, argn, "min_cluster_size", o.min_cluster_size or o.min_samples, n)
  if o.eps and o.eps > o.max_eps then
    U.argerror(fname, argn, ("eps must be ≤ max_eps (%g), got %g"):format(o.max_eps, o.eps), 4)
  end
  return n, o
end

-- ---------------------------------------------------------------- ξ extraction (scikit-learn's)
-- Tables here are 0-based like the Python they follow: r[0..n] is the reachability plot with
-- +inf appended.

local function extend_region(steep, xward, start, min_samples, n)
  local non_xward, index, stop = 0, start, start
  while index < n do
    if steep[index] then
      non_xward, stop = 0, index
    elseif not xward[index] then
      non_xward = non_xward + 1
      if non_xward > min_samples then break end
    else
      return stop
    end
    index = index + 1
  end
  return stop
end

local function update_filter_sdas(sdas, mib, xic, r)
  if mib == math.huge then return {} end
  local res = {}
  for _, sda in ipairs(sdas) do
    if mib <= r[sda.start] * xic then
      if mib > sda.mib then sda.mib = mib end
      res[#res + 1] = sda
    end
  end
  return res
end

-- ordering0 and pred_plot are 0-based point ids (pred −1 = none, which numpy reads as the last)
local function correct_predecessor(r, pred_plot, ordering0, n, s, e)
  while s < e do
    if r[s] > r[e] then return s, e end
    local pe = pred_plot[e]
    if pe < 0 then pe = pe + n end
    local p_e = ordering0[pe]
    for i = s, e - 1 do
      if p_e == ordering0[i] then return s, e end
    end
    e = e - 1
  end
  return nil, nil
end

local function xi_clusters(r, pred_plot, ordering0, n, xi, min_samples, min_cluster_size, correction)
  local xic = 1 - xi
  local su, sd, down, up = {}, {}, {}, {}
  for i = 0, n - 1 do
    local ratio = r[i] / r[i + 1]   -- inf/inf is nan: every comparison false, as numpy
    su[i] = ratio <= xic
    sd[i] = ratio >= 1 / xic
    down[i] = ratio > 1
    up[i] = ratio < 1
  end
  local sdas, clusters = {}, {}
  local index, mib = 0, 0.0
  for steep = 0, n - 1 do
    if (su[steep] or sd[steep]) and steep >= index then
      for i = index, steep do if r[i] > mib then mib = r[i] end end
      if sd[steep] then
        sdas = update_filter_sdas(sdas, mib, xic, r)
        local d_end = extend_region(sd, up, steep, min_samples, n)
        sdas[#sdas + 1] = {start = steep, ["end"] = d_end, mib = 0.0}
        index = d_end + 1
        mib = r[index]
      else
        sdas = update_filter_sdas(sdas, mib, xic, r)
        local u_start = steep
        local u_end = extend_region(su, down, u_start, min_samples, n)
        index = u_end + 1
        mib = r[index]
        local found = {}
        for _, D in ipairs(sdas) do
          local c_start, c_end = D.start, u_end
          if not (r[c_end + 1] * xic < D.mib) then
            local d_max = r[D.start]
            if d_max * xic >= r[c_end + 1] then
              while r[c_start + 1] > r[c_end + 1] and c_start < D["end"] do c_start = c_start + 1 end
            elseif r[c_end + 1] * xic >= d_max then
              while r[c_end - 1] > d_max and c_end > u_start do c_end = c_end - 1 end
            end
            if correction then
              c_start, c_end = correct_predecessor(r, pred_plot, ordering0, n, c_start, c_end)
            end
            if c_start ~= nil and c_end - c_start + 1 >= min_cluster_size and c_start <= D["end"]
              and c_end >= u_start then
              found[#found + 1] = {c_start, c_end}
            end
          end
        end
        for i = #found, 1, -1 do clusters[#clusters + 1] = found[i] end
      end
    end
  end
  return clusters
end

local function xi_extract(ordering, reach, pred, o)
  local n = #ordering
  local r, pp, ord0 = {}, {}, {}
  for i = 1, n do
    local p = ordering[i]
    ord0[i - 1] = p - 1
    r[i - 1] = reach[p]
    pp[i - 1] = pred[p] - 1
  end
  r[n] = math.huge
  local clusters = xi_clusters(r, pp, ord0, n, o.xi, o.min_samples, o.min_cluster_size, o.predecessor_correction)
  -- labels by position, first come first labelled, then back to rows
  local lp = {}
  for i = 0, n - 1 do lp[i] = -1 end
  local label = 0
  for _, c in ipairs(clusters) do
    local free = true
    for i = c[1], c[2] do if lp[i] ~= -1 then free = false break end end
    if free then
      for i = c[1], c[2] do lp[i] = label end
      label = label + 1
    end
  end
  local labels = {}
  for i = 0, n - 1 do labels[ord0[i] + 1] = lp[i] end
  local hierarchy = {}
  for i, c in ipairs(clusters) do hierarchy[i] = {c[1] + 1, c[2] + 1} end
  return core.labels_from_table(labels), hierarchy, label
end

-- ---------------------------------------------------------------- results

local Result = {}
Result.__index = Result

local function count_clusters(labels)
  local seen, k = {}, 0
  for i = 1, #labels do
    local l = labels[i]
    if l >= 0 and not seen[l] then seen[l] = true; k = k + 1 end
  end
  return k
end

--- fm.optics_cut(res, eps) → labels of the DBSCAN cut at eps (scikit-learn's cluster_optics_dbscan)
function M.optics_cut(res, eps)
  if getmetatable(res) ~= Result then U.argerror("optics_cut", 1, "OPTICS result expected, got " .. U.describe(res)) end
  if type(eps) ~= "number" or eps ~= eps or eps <= 0 then U.argerror("optics_cut", 2, "eps must be a number > 0") end
  return (call("optics_cut", core.optics_cut, res.reachability, res.core_distances, res.ordering, eps))
end

function Result:cut(eps)
  if type(eps) ~= "number" or eps ~= eps or eps <= 0 then U.argerror("cut", 1, "eps must be a number > 0") end
  return (call("cut", core.optics_cut, self.reachability, self.core_distances, self.ordering, eps))
end

function Result:reachability_plot()
  local rows = {}
  for i, p in ipairs(self.ordering) do rows[i] = {self.reachability[p]} end
  return core.matrix_from_table(rows)
end

local function fit(fname, X, o)
  local ordering, reach, cored, pred = call(fname, core.optics_fit, X, o.min_samples, o.max_eps)
  local res = setmetatable({
    ordering = ordering, reachability = reach, core_distances = cored, predecessor = pred,
    cluster_method = o.cluster_method, min_samples = o.min_samples, max_eps = o.max_eps,
  }, Result)
  if o.cluster_method == "xi" then
    res.labels, res.cluster_hierarchy, res.n_clusters = xi_extract(ordering, reach, pred, o)
  else
    res.labels = res:cut(o.eps or o.max_eps)
    res.n_clusters = count_clusters(res.labels)
  end
  return res
end

--- fm.optics(X, opts) → result (see the header)
function M.optics(X, opts)
  local _, o = check("optics", 2, X, opts)
  return fit("optics", X, o)
end

-- ---------------------------------------------------------------- the estimator

local OPTICS = {}
OPTICS.__index = OPTICS

function M.OPTICS(opts)
  U.options("OPTICS", 1, opts, SPEC)
  return setmetatable({params = opts or {}}, OPTICS)
end

function OPTICS:fit(X)
  if getmetatable(self) ~= OPTICS then error("fit: call it as o:fit(X)", 2) end
  local _, o = check("fit", 1, X, self.params)
  local res = fit("fit", X, o)
  self.result_ = res
  self.labels_, self.ordering_, self.reachability_ = res.labels, res.ordering, res.reachability
  self.core_distances_, self.predecessor_, self.cluster_hierarchy_ = res.core_distances, res.predecessor,
    res.cluster_hierarchy
  return self
end

function OPTICS:fit_predict(X)
  return self:fit(X).labels_
end

return M
