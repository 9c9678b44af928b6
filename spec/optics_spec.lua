-- OPTICS: equal to scikit-learn 1.2.1 on optics_blobs.json (ordering, reachability, core
-- distances, ξ labels, the DBSCAN cut), the walk checked by brute force on small data, max_eps,
-- the estimator, threads, and bad input.
local fm = require "fmclust"
local H = require "spec.helper"

local function same_labels(a, b)
  assert.are.equal(#a, #b)
  for i = 1, #a do assert.are.equal(a[i], b[i], "row " .. i) end
end

local function dist(a, b)
  local s = 0
  for j = 1, #a do s = s + (a[j] - b[j]) ^ 2 end
  return math.sqrt(s)
end

describe("fm.optics", function()
  local fx = H.fixture("optics_blobs.json")
  local res = fm.optics(fm.matrix(fx.X), {min_samples = 10, xi = 0.05, min_cluster_size = 0.05})

  it("has scikit-learn's reachability and core distances (to 1e-5)", function()
    for i = 1, #fx.X do
      local want, got = fx.reachability[i], res.reachability[i]
      if want < 0 then
        assert.are.equal(math.huge, got)
      else
        assert.is_true(math.abs(got - want) <= 1e-5, ("row %d: %.9f, scikit-learn %.9f"):format(i, got, want))
      end
      assert.is_true(math.abs(res.core_distances[i] - fx.core_distances[i]) <= 1e-5)
    end
  end)

  it("has scikit-learn's ordering, up to one near-tie below the fixture's 6-decimal rounding", function()
    -- The fixture's X is rounded to 6 decimals after scikit-learn ran on the full-precision data:
    -- at one step two candidates are 3e-7 apart (less than that rounding moves them), and the
    -- walk visits a block of 6 points in another order. Everything else is the same sequence.
    local mism, first, last = 0, nil, nil
    for i = 1, #fx.ordering do
      if res.ordering[i] - 1 ~= fx.ordering[i] then
        mism = mism + 1
        first = first or i
        last = i
      end
    end
    assert.is_true(mism <= 6, mism .. " positions differ")
    if mism > 0 then
      -- the differing positions hold the same points, and they start at a near-tie
      local a, b = {}, {}
      for i = first, last do a[#a + 1] = res.ordering[i] - 1; b[#b + 1] = math.tointeger(fx.ordering[i]) end
      table.sort(a)
      table.sort(b)
      assert.are.same(b, a)
      local p, q = res.ordering[first], fx.ordering[first] + 1
      assert.is_true(math.abs(res.reachability[p] - res.reachability[q]) < 1e-6)
    end
  end)

  it("extracts scikit-learn's ξ clusters and its DBSCAN cut", function()
    for i = 1, #fx.X do assert.are.equal(fx.labels_xi[i], res.labels[i], "ξ label of row " .. i) end
    assert.are.equal(3, res.n_clusters)
    local cut = fm.optics_cut(res, 0.5)
    for i = 1, #fx.X do assert.are.equal(fx.labels_dbscan_eps05[i], cut[i], "DBSCAN label of row " .. i) end
    same_labels(cut, res:cut(0.5))
    local d = fm.optics(fm.matrix(fx.X), {min_samples = 10, cluster_method = "dbscan", eps = 0.5})
    same_labels(cut, d.labels)
    assert.is_true(#res.cluster_hierarchy >= 3)
    local plot = res:reachability_plot()
    assert.are.same({#fx.X, 1}, {plot:shape()})
  end)

  it("walks like OPTICS on small data (brute force)", function()
    local X = fm.matrix.random(60, 3, {seed = 5, distribution = "normal"})
    local x = X:to_table()
    local ms = 4
    local r = fm.optics(X, {min_samples = ms})
    local n = #x
    -- core distance: the ms-th nearest counting the point itself
    local core = {}
    for i = 1, n do
      local ds = {}
      for j = 1, n do ds[#ds + 1] = dist(x[i], x[j]) end
      table.sort(ds)
      core[i] = ds[ms]
      assert.is_true(math.abs(r.core_distances[i] - core[i]) <= 1e-12 * (1 + core[i]))
    end
    -- replay the walk with the same ordering: each reachability is the best seen so far
    local reach, done = {}, {}
    for i = 1, n do reach[i] = math.huge end
    for k, p in ipairs(r.ordering) do
      if k > 1 then
        -- p has the smallest reachability among the unprocessed (ties: smallest row)
        for j = 1, n do
          if not done[j] then
            assert.is_true(reach[p] < reach[j] or (reach[p] == reach[j] and p <= j) or math.abs(reach[p] - reach[j]) < 1e-12)
          end
        end
      end
      assert.is_true(reach[p] == r.reachability[p] or math.abs(reach[p] - r.reachability[p]) < 1e-12)
      done[p] = true
      for j = 1, n do
        if not done[j] then
          local rd = math.max(dist(x[p], x[j]), core[p])
          if rd < reach[j] then reach[j] = rd end
        end
      end
    end
    assert.are.equal(0, r.predecessor[r.ordering[1]])
  end)

  it("leaves points beyond max_eps unreachable", function()
    local X = fm.matrix{{0, 0}, {0.1, 0}, {0.2, 0}, {0, 0.1}, {10, 10}, {10.1, 10}, {10, 10.1}, {10.1, 10.1}}
    local r = fm.optics(X, {min_samples = 2, max_eps = 1})
    local inf = 0
    for i = 1, 8 do if r.reachability[i] == math.huge then inf = inf + 1 end end
    assert.are.equal(2, inf)   -- the first point of each group
    assert.are.equal(math.huge, r.reachability[1])
    local cut = r:cut(0.5)
    local seen, k = {}, 0
    for i = 1, 8 do
      if cut[i] >= 0 and not seen[cut[i]] then seen[cut[i]] = true; k = k + 1 end
    end
    assert.are.equal(2, k)
  end)

  it("has the estimator fm.OPTICS", function()
    local o = fm.OPTICS{min_samples = 10, min_cluster_size = 0.05}
    local labels = o:fit_predict(fm.matrix(fx.X))
    same_labels(res.labels, labels)
    assert.are.equal(#fx.X, #o.ordering_)
  end)

  it("gives the same result with 1 and 2 threads", function()
    local code = [==[
      local fm = require "fmclust"
      local X = fm.matrix.random(2500, 4, {seed = 8, distribution = "normal"})
      local r = fm.optics(X, {min_samples = 7})
      local s = {}
      for i = 1, #r.ordering, 7 do s[#s + 1] = r.ordering[i] .. ":" .. ("%.17g"):format(r.reachability[r.ordering[i]]) end
      print(table.concat(s, ","))
    ]==]
    local env = {LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or ""}
    env.OMP_NUM_THREADS = "1"
    local a, ok1 = H.run_lua(code, env)
    env.OMP_NUM_THREADS = "2"
    local b, ok2 = H.run_lua(code, env)
    assert.is_true(ok1 and ok2, a .. b)
    assert.are.equal(a, b)
  end)

  describe("bad input", function()
    local X = fm.matrix.random(30, 2, {seed = 1})
    it("rejects bad options with clear errors", function()
      assert.has_error(function() fm.optics(X, {min_samples = 1}) end,
        "bad argument #2 to 'optics' (min_samples must be ≥ 2 or a fraction in (0, 1], got 1)")
      assert.has_error(function() fm.optics(X, {min_samples = 31}) end,
        "bad argument #2 to 'optics' (min_samples must be ≤ 30 (the number of rows), got 31)")
      assert.has_error(function() fm.optics(X, {min_samples = 0}) end)
      assert.has_error(function() fm.optics(X, {xi = 2}) end)
      assert.has_error(function() fm.optics(X, {cluster_method = "hdbscan"}) end)
      assert.has_error(function() fm.optics(X, {max_eps = -1}) end)
      assert.has_error(function() fm.optics(X, {cluster_method = "dbscan", eps = 2, max_eps = 1}) end)
      assert.has_error(function() fm.optics(X, {min_sample = 5}) end,
        "bad argument #2 to 'optics' (unknown option 'min_sample')")
      assert.has_error(function() fm.optics("X") end)
      assert.has_error(function() fm.optics_cut({}, 0.5) end)
      assert.has_error(function() fm.optics_cut(fm.optics(X), -1) end)
    end)
    it("rejects NaN and Inf", function()
      local t = X:to_table()
      t[4][1] = 0 / 0
      assert.has_error(function() fm.optics(fm.matrix(t)) end, "bad argument #1 to 'optics' (matrix contains NaN or Inf)")
    end)
    it("gives defined results for identical points", function()
      local r = fm.optics(fm.matrix.zeros(20, 2), {min_samples = 3})
      assert.are.equal(20, #r.ordering)
      local cut = r:cut(0.5)
      for i = 1, 20 do assert.are.equal(0, cut[i]) end
    end)
  end)
end)
