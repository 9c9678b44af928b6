-- HDBSCAN: equal to hdbscan 0.8.43 on the 9 fixture cases, each stage on its own (core distances
-- against brute force, spanning trees against each other, condensing/stability/selection/labels on
-- a tree worked out by hand), GLOSH, persistence, prediction, assign_noise, threads, bad input.
local fm = require "fmclust"
local H = require "spec.helper"
local S = fm.hdbscan_stages

-- n points around each centre (Gaussian, sd), rows in cluster order
local blobs = H.blobs

local function dist(a, b)
  local s = 0
  for j = 1, #a do s = s + (a[j] - b[j]) ^ 2 end
  return math.sqrt(s)
end

local function count(labels, v)
  local c = 0
  for i = 1, #labels do if labels[i] == v then c = c + 1 end end
  return c
end

describe("fm.hdbscan", function()
  it("equals hdbscan 0.8.43 on all 9 fixture cases (labels up to permutation, probabilities to 1e-4)", function()
    local fx = H.fixture("hdbscan_cases.json")
    assert.are.equal(9, #fx.cases)
    for ci, c in ipairs(fx.cases) do
      local X = fm.matrix(c.X)
      local res = fm.hdbscan(X, {min_cluster_size = math.tointeger(c.min_cluster_size),
        min_samples = math.tointeger(c.min_samples), cluster_selection_method = c.method})
      local what = ("case %d (%s, mcs %d, ms %d, %s)"):format(ci, c.name, c.min_cluster_size, c.min_samples, c.method)
      assert.are.equal(c.n_clusters, res.n_clusters, what)
      assert.are.equal(c.noise, res.noise, what)
      assert.are.equal(1.0, fm.metrics.ari(fm.labels(c.labels), res.labels), what)
      -- the same points are noise, and the permutation of cluster ids is one-to-one
      local map = {}
      for i = 1, #c.labels do
        local r, m = c.labels[i], res.labels[i]
        assert.are.equal(r < 0, m < 0, what .. ": noise differs at row " .. i)
        if r >= 0 then
          if map[m] == nil then map[m] = r end
          assert.are.equal(map[m], r, what)
        end
        assert.is_true(math.abs(res.probabilities:get(i, 1) - c.probabilities[i]) <= 1e-4,
          ("%s: probability of row %d is %.6f, hdbscan %.6f"):format(what, i, res.probabilities:get(i, 1), c.probabilities[i]))
      end
    end
  end)

  it("returns GLOSH scores, persistence, the condensed tree and core distances", function()
    local X = blobs({{0, 0}, {10, 0}, {0, 10}}, 60, 1.0, 3)
    local res = fm.hdbscan(X, {min_cluster_size = 10})
    assert.are.equal(3, res.n_clusters)
    assert.are.same({180, 1}, {res.outlier_scores:shape()})
    local clustered, noisy, nc, nn = 0, 0, 0, 0
    for i = 1, 180 do
      local s = res.outlier_scores:get(i, 1)
      assert.is_true(s >= 0 and s <= 1)
      if res.labels[i] < 0 then noisy, nn = noisy + s, nn + 1 else clustered, nc = clustered + s, nc + 1 end
    end
    if nn > 0 then assert.is_true(noisy / nn > clustered / nc) end
    assert.are.equal(3, #res.cluster_persistence)
    for _, p in ipairs(res.cluster_persistence) do assert.is_true(p >= 0 and p <= 1) end
    local rows, cols = res.condensed_tree:shape()
    assert.are.equal(4, cols)
    local t = res:condensed_tree_table()
    assert.are.equal(rows, #t.parent)
    local points = 0
    for r = 1, rows do
      assert.is_true(t.parent[r] >= 180 and t.parent[r] < t.child[r] or t.child[r] < 180)
      if t.child[r] < 180 then points = points + 1 end
    end
    assert.are.equal(180, points)   -- every point leaves exactly once
    local core = res:core_distances()
    assert.are.same({180, 1}, {core:shape()})
  end)

  it("takes a new flat clustering from the same tree (reselect) and assigns noise on request", function()
    local X = blobs({{0, 0}, {8, 0}, {0, 8}, {8, 8}}, 50, 1.2, 5)
    local res = fm.hdbscan(X, {min_cluster_size = 10})
    local leaf = res:reselect{cluster_selection_method = "leaf"}
    assert.is_true(leaf.n_clusters >= res.n_clusters)
    local again = leaf:reselect{}
    assert.are.equal(1.0, fm.metrics.ari(res.labels, again.labels))
    local an = res:reselect{assign_noise = true}
    assert.are.equal(0, count(an.labels, -1))
    for i = 1, #res.labels do
      if res.labels[i] >= 0 then assert.are.equal(res.labels[i], an.labels[i]) end
    end
    -- a noise point gets the label of its nearest clustered point
    local x = X:to_table()
    for i = 1, #res.labels do
      if res.labels[i] < 0 then
        local best, bl = math.huge, nil
        for j = 1, #res.labels do
          if res.labels[j] >= 0 and dist(x[i], x[j]) < best then best, bl = dist(x[i], x[j]), res.labels[j] end
        end
        assert.are.equal(bl, an.labels[i])
      end
    end
    -- epsilon merges clusters split below it; a huge epsilon leaves one cluster per root child
    local eps = res:reselect{cluster_selection_epsilon = 100}
    assert.is_true(eps.n_clusters <= res.n_clusters)
  end)

  it("predicts new points like hdbscan's approximate_predict", function()
    local X = blobs({{0, 0}, {10, 0}, {0, 10}}, 80, 1.0, 7)
    local res = fm.hdbscan(X, {min_cluster_size = 15})
    assert.are.equal(3, res.n_clusters)
    local labels, prob = res:approximate_predict(X)
    local same = 0
    for i = 1, #labels do if labels[i] == res.labels[i] then same = same + 1 end end
    assert.is_true(same >= 0.97 * #labels)
    -- points at the centres join the cluster of that blob, far points are noise
    local Q = fm.matrix{{0, 0}, {10, 0}, {0, 10}, {60, 60}}
    local l, p = res:approximate_predict(Q)
    assert.are.equal(res.labels[1], l[1])
    assert.are.equal(res.labels[81], l[2])
    assert.are.equal(res.labels[161], l[3])
    assert.are.equal(-1, l[4])
    assert.are.equal(0, p:get(4, 1))
    assert.is_true(p:get(1, 1) > 0.5)
    -- with assign_noise the far point takes its nearest cluster
    local an = res:reselect{assign_noise = true}
    local l2 = an:approximate_predict(Q)
    assert.are.equal(res.labels[161] >= 0 and l2[4] >= 0, true)
    assert.has_error(function() res:approximate_predict(fm.matrix{{1, 2, 3}}) end,
      "bad argument #1 to 'approximate_predict' (matrix has 3 columns, the model was fitted on 2)")
  end)

  it("uses Prim's tree above 60 dimensions and agrees with the exact Borůvka tree", function()
    local c1, c2 = {}, {}
    for j = 1, 70 do c1[j] = 0; c2[j] = (j % 2) * 3 end
    local X = blobs({c1, c2}, 60, 1.0, 11)
    local res = fm.hdbscan(X, {min_cluster_size = 10})
    assert.are.equal(2, res.n_clusters)
    local e1 = S.mst(X, {min_samples = 5, algorithm = "prims"})
    local e2 = S.mst(X, {min_samples = 5, algorithm = "boruvka_exact"})
    local w1, w2 = 0, 0
    for i = 1, #e1.w do w1, w2 = w1 + e1.w[i], w2 + e2.w[i] end
    assert.is_true(math.abs(w1 - w2) <= 1e-9 * w1)
  end)

  it("gives the same result with 1 and 2 threads", function()
    local code = [[
      local fm = require "fmclust"
      local Z = fm.matrix.random(3000, 3, {seed = 4, distribution = "normal"})
      local res = fm.hdbscan(Z, {min_cluster_size = 20, min_samples = 7})
      local s = {}
      for i = 1, #res.labels do s[#s + 1] = res.labels[i] end
      print(res.n_clusters, table.concat(s, ","):len(), table.concat(s, ""):sub(1, 200), res.probabilities:get(17, 1))
    ]]
    local env = {LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or ""}
    env.OMP_NUM_THREADS = "1"
    local a, ok1 = H.run_lua(code, env)
    env.OMP_NUM_THREADS = "2"
    local b, ok2 = H.run_lua(code, env)
    assert.is_true(ok1 and ok2, a .. b)
    assert.are.equal(a, b)
  end)

  it("has the estimator fm.HDBSCAN", function()
    local X = blobs({{0, 0}, {10, 0}}, 40, 1.0, 2)
    local h = fm.HDBSCAN{min_cluster_size = 10}
    assert.has_error(function() h:approximate_predict(X) end)
    local labels = h:fit_predict(X)
    assert.are.equal(2, h.n_clusters_)
    assert.are.equal(1.0, fm.metrics.ari(labels, h.labels_))
    local l = h:approximate_predict(fm.matrix{{0, 0}})
    assert.are.equal(h.labels_[1], l[1])
    assert.has_error(function() fm.HDBSCAN{min_cluster_size = 1} end)
  end)

  describe("bad input", function()
    local X = blobs({{0, 0}, {5, 5}}, 20, 1.0, 1)
    it("rejects bad options with clear errors", function()
      assert.has_error(function() fm.hdbscan(X, {min_cluster_size = 1}) end,
        "bad argument #2 to 'hdbscan' (min_cluster_size must be ≥ 2, got 1)")
      assert.has_error(function() fm.hdbscan(X, {min_samples = 0}) end,
        "bad argument #2 to 'hdbscan' (min_samples must be ≥ 1, got 0)")
      assert.has_error(function() fm.hdbscan(X, {min_samples = 41}) end,
        "bad argument #2 to 'hdbscan' (min_samples must be ≤ 40 (the number of rows), got 41)")
      assert.has_error(function() fm.hdbscan(X, {min_cluster_sise = 5}) end,
        "bad argument #2 to 'hdbscan' (unknown option 'min_cluster_sise')")
      assert.has_error(function() fm.hdbscan(X, {cluster_selection_method = "mean"}) end)
      assert.has_error(function() fm.hdbscan(X, {cluster_selection_epsilon = -1}) end)
      assert.has_error(function() fm.hdbscan(X, {metric = "cosine"}) end)
      assert.has_error(function() fm.hdbscan(X, {allow_single_cluster = 1}) end)
      assert.has_error(function() fm.hdbscan({{1, 2}}, {}) end, "bad argument #1 to 'hdbscan' (matrix expected, got table)")
      assert.has_error(function() fm.hdbscan(fm.matrix.zeros(0, 2), {}) end)
    end)
    it("rejects NaN and Inf", function()
      local t = X:to_table()
      t[3][2] = 0 / 0
      assert.has_error(function() fm.hdbscan(fm.matrix(t)) end, "bad argument #1 to 'hdbscan' (matrix contains NaN or Inf)")
      t[3][2] = math.huge
      assert.has_error(function() fm.hdbscan(fm.matrix(t)) end, "bad argument #1 to 'hdbscan' (matrix contains NaN or Inf)")
    end)
    it("gives defined results for identical points and tiny inputs", function()
      local Z = fm.matrix.zeros(30, 3)
      local r = fm.hdbscan(Z, {min_cluster_size = 5})
      assert.are.equal(0, r.n_clusters)
      assert.are.equal(30, count(r.labels, -1))
      local r1 = fm.hdbscan(Z, {min_cluster_size = 5, allow_single_cluster = true})
      assert.are.equal(1, r1.n_clusters)
      assert.are.equal(30, count(r1.labels, 0))
      local small = fm.matrix{{0, 0}, {1, 0}, {0, 3}}
      local r2 = fm.hdbscan(small, {min_cluster_size = 5})
      assert.are.equal(0, r2.n_clusters)
      assert.are.equal(3, count(r2.labels, -1))
      local one = fm.hdbscan(fm.matrix{{1, 2}}, {min_cluster_size = 2})
      assert.are.equal(0, one.n_clusters)
      assert.are.equal(-1, one.labels[1])
    end)
  end)
end)

describe("HDBSCAN stages", function()
  local X, rows = blobs({{0, 0, 0}, {6, 0, 0}}, 40, 1.0, 9)

  it("core distance = distance to the min_samples-th other point (kd-tree and brute force)", function()
    local kd = S.core_distances(X, {min_samples = 5})
    local br = S.core_distances(X, {min_samples = 5, brute = true})
    for i = 1, #rows do
      local ds = {}
      for j = 1, #rows do if j ~= i then ds[#ds + 1] = dist(rows[i], rows[j]) end end
      table.sort(ds)
      assert.is_true(math.abs(kd[i] - ds[5]) <= 1e-6 * ds[5])
      assert.is_true(math.abs(br[i] - ds[5]) <= 1e-6 * ds[5])
    end
  end)

  it("builds spanning trees of the mutual-reachability graph (Borůvka approx ≥ exact = Prim)", function()
    local core = S.core_distances(X, {min_samples = 5})
    local n = #rows
    local totals = {}
    for _, algo in ipairs{"boruvka_kdtree", "boruvka_exact", "prims"} do
      local e = S.mst(X, {min_samples = 5, algorithm = algo})
      assert.are.equal(n - 1, #e.a)
      local parent = {}
      local function find(x) while parent[x] do x = parent[x] end return x end
      local total = 0
      for i = 1, n - 1 do
        local a, b = e.a[i], e.b[i]
        local mr = math.max(dist(rows[a + 1], rows[b + 1]), core[a + 1], core[b + 1])
        assert.is_true(math.abs(e.w[i] - mr) <= 1e-9 * mr, algo)
        local ra, rb = find(a), find(b)
        assert.are_not.equal(ra, rb)   -- no cycle: n − 1 edges span the points
        parent[ra] = rb
        total = total + e.w[i]
      end
      totals[algo] = total
    end
    assert.is_true(math.abs(totals.boruvka_exact - totals.prims) <= 1e-9 * totals.prims)
    assert.is_true(totals.boruvka_kdtree >= totals.prims * (1 - 1e-12))
  end)

  it("makes scipy's single-linkage tree from the edges", function()
    local e = S.mst(X, {min_samples = 5})
    local Z = S.linkage(e, #rows)
    assert.are.equal(#rows - 1, #Z)
    for i = 2, #Z do assert.is_true(Z[i][3] >= Z[i - 1][3]) end
    assert.are.equal(#rows, Z[#Z][4])
  end)

  -- a tree worked out by hand: 6 points, pairs {0,1} {2,3} at 1, {4,5} at 2, {0..3} at 4, all at 8
  local Z = {{0, 1, 1, 2}, {2, 3, 1, 2}, {4, 5, 2, 2}, {6, 7, 4, 4}, {8, 9, 8, 6}}
  local tree = {
    parent = {6, 6, 7, 7, 8, 8, 9, 9, 10, 10},
    child = {7, 8, 4, 5, 9, 10, 0, 1, 2, 3},
    lambda_val = {0.125, 0.125, 0.5, 0.5, 0.25, 0.25, 1, 1, 1, 1},
    child_size = {2, 4, 1, 1, 2, 2, 1, 1, 1, 1},
  }

  it("condenses the single-linkage tree", function()
    assert.are.same(tree, S.condense(Z, 6, 2))
    -- with min_cluster_size 3 only the {0..3} group is a cluster, the others fall out
    local t3 = S.condense(Z, 6, 3)
    assert.are.same({6, 6, 6, 6, 6, 6}, t3.parent)
  end)

  it("computes stabilities", function()
    local st = S.stability(tree)
    local want = {[6] = 0.75, [7] = 0.75, [8] = 0.5, [9] = 1.5, [10] = 1.5}
    for id, v in pairs(want) do assert.is_true(math.abs(st[id] - v) < 1e-12, "cluster " .. id) end
  end)

  it("selects clusters by excess of mass, leaves, epsilon and maximum size", function()
    assert.are.same({7, 9, 10}, S.select(tree, {}))
    assert.are.same({7, 9, 10}, S.select(tree, {cluster_selection_method = "leaf"}))
    assert.are.same({7, 9, 10}, S.select(tree, {allow_single_cluster = true}))
    assert.are.same({7, 8}, S.select(tree, {cluster_selection_epsilon = 5}))
    assert.are.same({7, 8}, S.select(tree, {cluster_selection_method = "leaf", cluster_selection_epsilon = 5}))
    assert.are.same({}, S.select(tree, {max_cluster_size = 1}))
  end)

  it("labels points and gives membership probabilities", function()
    local labels, prob = S.label(tree, {7, 9, 10})
    assert.are.same({1, 1, 2, 2, 0, 0}, labels)
    assert.are.same({1, 1, 1, 1, 1, 1}, prob)
    local l2, p2 = S.label(tree, {7, 8})
    assert.are.same({1, 1, 1, 1, 0, 0}, l2)
    assert.are.same({1, 1, 1, 1, 1, 1}, p2)
    local l3 = S.label(tree, {})
    assert.are.same({-1, -1, -1, -1, -1, -1}, l3)
  end)
end)

-- Above 60 dimensions fm.hdbscan finds the exact core distances and Prim's tree through lower
-- bounds (the data on a few principal axes plus the norm of the rest). Everything here is checked
-- against brute force in Lua on the mutual-reachability matrix, and against the C paths without
-- bounds, which must give the very same bits.
describe("HDBSCAN in high dimensions (bounded search)", function()
  local function sqd(a, b)
    local s = 0
    for j = 1, #a do
      local t = a[j] - b[j]
      s = s + t * t
    end
    return s
  end

  -- the distance matrix (1-based), once per data set
  local dmat = setmetatable({}, {__mode = "k"})
  local function distances(rows)
    if dmat[rows] then return dmat[rows] end
    local n = #rows
    local D = {}
    for i = 1, n do D[i] = {} end
    for i = 1, n do
      D[i][i] = 0
      for j = i + 1, n do
        local v = math.sqrt(sqd(rows[i], rows[j]))
        D[i][j], D[j][i] = v, v
      end
    end
    dmat[rows] = D
    return D
  end

  -- the distance matrix and the core distances (to the ms-th other point)
  local function brute(rows, ms)
    local n = #rows
    local D = distances(rows)
    local core = {}
    for i = 1, n do
      local ds = {}
      for j = 1, n do if j ~= i then ds[#ds + 1] = D[i][j] end end
      table.sort(ds)
      core[i] = ds[ms]
    end
    return D, core
  end

  -- Prim on the mutual-reachability matrix from point 1: {a, b, w} with 0-based points
  local function brute_prim(D, core)
    local n = #D
    local intree, best, src = {[1] = true}, {}, {}
    for i = 1, n do best[i], src[i] = math.huge, 1 end
    local e, cur = {a = {}, b = {}, w = {}}, 1
    for k = 1, n - 1 do
      local bv, bj = math.huge, n + 1
      for j = 1, n do
        if not intree[j] then
          local mr = math.max(D[cur][j], core[cur], core[j])
          if mr < best[j] then best[j], src[j] = mr, cur end
          if best[j] < bv or (best[j] == bv and j < bj) then bv, bj = best[j], j end
        end
      end
      intree[bj] = true
      e.a[k], e.b[k], e.w[k] = src[bj] - 1, bj - 1, bv
      cur = bj
    end
    return e
  end

  local function sorted(t)
    local c = {}
    for i = 1, #t do c[i] = t[i] end
    table.sort(c)
    return c
  end

  local function first_rows(X, n)
    local idx = {}
    for i = 1, n do idx[i] = i end
    return X:rows(idx)
  end

  local images = first_rows(fm.data.fashion_mnist{split = "test"}, 300)
  local blobs100 = blobs({(function() local c = {} for j = 1, 100 do c[j] = 0 end return c end)(),
    (function() local c = {} for j = 1, 100 do c[j] = (j % 3) * 1.5 end return c end)(),
    (function() local c = {} for j = 1, 100 do c[j] = -(j % 2) * 2 end return c end)()}, 100, 1.0, 21)
  local noise100 = fm.matrix.random(300, 100, {seed = 5, distribution = "normal"})
  local cases = {
    {"300×784 Fashion-MNIST images", images, images:to_table()},
    {"300×100 blobs", blobs100, blobs100:to_table()},
    {"300×100 Gaussian noise", noise100, noise100:to_table()},
  }

  it("bounds never exceed the distance (up to their stated allowance) and are tight on images", function()
    for _, c in ipairs(cases) do
      local X = c[2]
      local rows = X:to_table()
      for _, q in ipairs{2, 17, 49} do
        local z, tol = S.bound_coords(X, {n_coords = q})
        assert.are.equal(#rows, #z)
        assert.are.equal(q, #z[1])
        local ratio, pairs = 0, 0
        for i = 1, #rows, 7 do
          for j = i + 1, #rows, 5 do
            local dx, dz = math.sqrt(sqd(rows[i], rows[j])), math.sqrt(sqd(z[i], z[j]))
            assert.is_true(dz <= dx * (1 + 1e-5) + tol[i] + tol[j], ("%s q %d: bound %.9g > distance %.9g"):format(c[1], q, dz, dx))
            ratio, pairs = ratio + dz / dx, pairs + 1
          end
        end
        -- 48 principal axes of images hold most of the variance: the bound is close
        if c[2] == images and q == 49 then assert.is_true(ratio / pairs > 0.9, ratio / pairs) end
      end
      -- all axes: the bound is the distance itself
      local d = select(2, X:shape())
      local z = S.bound_coords(X, {n_coords = d + 1})
      for i = 1, 20 do
        local dx, dz = math.sqrt(sqd(rows[i], rows[i + 1])), math.sqrt(sqd(z[i], z[i + 1]))
        assert.is_true(math.abs(dx - dz) <= 1e-4 * dx, c[1])
      end
    end
    assert.has_error(function() S.bound_coords(noise100, {n_coords = 102}) end,
      "bad argument #2 to 'bound_coords' (n_coords must be ≤ 101 (columns + 1), got 102)")
    assert.has_error(function() S.bound_coords(noise100, {n_coords = 1}) end)
  end)

  it("core distances: the bounded search gives the same bits as the GEMM kNN, and brute force", function()
    for _, c in ipairs(cases) do
      local rows = c[3]
      for _, ms in ipairs{1, 5, 50} do
        local D, want = brute(rows, ms)
        local bounded = S.core_distances(c[2], {min_samples = ms, method = "bounded"})
        local gemm = S.core_distances(c[2], {min_samples = ms, brute = true})
        for i = 1, #rows do
          assert.are.equal(gemm[i], bounded[i])
          assert.is_true(math.abs(bounded[i] - want[i]) <= 1e-12 * want[i], ("%s ms %d row %d"):format(c[1], ms, i))
        end
      end
    end
  end)

  it("Prim's tree with bounds is Prim's tree without them, and the brute-force tree", function()
    for _, c in ipairs(cases) do
      local rows = c[3]
      for _, ms in ipairs{1, 5, 25} do
        local what = ("%s, min_samples %d"):format(c[1], ms)
        local e = S.mst(c[2], {min_samples = ms, algorithm = "prims"})
        local plain = S.mst(c[2], {min_samples = ms, algorithm = "prims", bounds = false})
        assert.are.same(plain, e, what)   -- same edges, same order, same weights
        local D, core = brute(rows, ms)
        local ref = brute_prim(D, core)
        local we, wr = sorted(e.w), sorted(ref.w)
        local te, tr = 0, 0
        for i = 1, #we do
          assert.is_true(math.abs(we[i] - wr[i]) <= 1e-9 * wr[i], what)
          te, tr = te + we[i], tr + wr[i]
        end
        assert.is_true(math.abs(te - tr) <= 1e-9 * tr, what)
        -- the labels of the brute-force tree are fm.hdbscan's
        for _, mcs in ipairs{5, 20} do
          local tree = S.condense(S.linkage(ref, #rows), #rows, mcs)
          local labels = S.label(tree, S.select(tree, {}))
          local res = fm.hdbscan(c[2], {min_cluster_size = mcs, min_samples = ms})
          for i = 1, #rows do assert.are.equal(labels[i], res.labels[i], what .. ", mcs " .. mcs) end
        end
      end
    end
  end)

  it("stays defined for identical points, duplicates, tiny inputs and huge scales", function()
    local Z = fm.matrix.zeros(200, 100)
    local r = fm.hdbscan(Z, {min_cluster_size = 5})
    assert.are.equal(0, r.n_clusters)
    assert.are.equal(200, count(r.labels, -1))
    assert.are.equal(1, fm.hdbscan(Z, {min_cluster_size = 5, allow_single_cluster = true}).n_clusters)
    local e = S.mst(Z, {min_samples = 5, algorithm = "prims"})
    for i = 1, #e.w do assert.are.equal(0, e.w[i]) end
    -- every point twice: zero distances everywhere in the tree, ties in every core distance
    local t = noise100:to_table()
    local dup = {}
    for i = 1, 150 do dup[2 * i - 1], dup[2 * i] = t[i], t[i] end
    local Xd = fm.matrix(dup)
    local D, core = brute(Xd:to_table(), 3)
    local ref = brute_prim(D, core)
    local got = S.mst(Xd, {min_samples = 3, algorithm = "prims"})
    assert.are.same(S.mst(Xd, {min_samples = 3, algorithm = "prims", bounds = false}), got)
    local wg, wr = sorted(got.w), sorted(ref.w)
    for i = 1, #wg do assert.is_true(math.abs(wg[i] - wr[i]) <= 1e-9 * wr[i]) end
    assert.are.same(S.core_distances(Xd, {min_samples = 3, brute = true}),
      S.core_distances(Xd, {min_samples = 3, method = "bounded"}))
    -- fewer points than min_samples (hdbscan uses n − 1), and two points
    local small = first_rows(noise100, 4)
    local rs = fm.hdbscan(small, {min_cluster_size = 5})
    assert.are.equal(0, rs.n_clusters)
    assert.are.equal(4, count(rs.labels, -1))
    local two = fm.hdbscan(first_rows(images, 2), {min_cluster_size = 2, min_samples = 1})
    assert.are.equal(2, #two.labels)
    -- 1e15 × the data: beyond what the bounds allow (float squares), so no bounds; same clusters
    local big = {}
    local b = blobs100:to_table()
    for i = 1, #b do
      big[i] = {}
      for j = 1, #b[i] do big[i][j] = b[i][j] * 1e15 end
    end
    local r1 = fm.hdbscan(blobs100, {min_cluster_size = 20})
    local r2 = fm.hdbscan(fm.matrix(big), {min_cluster_size = 20})
    assert.are.equal(r1.n_clusters, r2.n_clusters)
    assert.are.equal(1.0, fm.metrics.ari(r1.labels, r2.labels))
    -- 1e-20 × the data: squared distances in float are subnormal, where rounding is not relative;
    -- the search must notice and still be exact
    local tiny = {}
    for i = 1, 120 do
      tiny[i] = {}
      for j = 1, #b[i] do tiny[i][j] = b[i][j] * 1e-20 end
    end
    local Xt = fm.matrix(tiny)
    local rt = Xt:to_table()
    local Dt, ct = brute(rt, 5)
    local bt = S.core_distances(Xt, {min_samples = 5, method = "bounded"})
    for i = 1, #rt do assert.is_true(math.abs(bt[i] - ct[i]) <= 1e-9 * ct[i], "tiny row " .. i) end
    local et = S.mst(Xt, {min_samples = 5, algorithm = "prims"})
    assert.are.same(S.mst(Xt, {min_samples = 5, algorithm = "prims", bounds = false}), et)
    local wt, wr2 = sorted(et.w), sorted(brute_prim(Dt, ct).w)
    for i = 1, #wt do assert.is_true(math.abs(wt[i] - wr2[i]) <= 1e-9 * wr2[i], "tiny edge " .. i) end
  end)

  it("gives the same result with 1 and 2 threads (parallel leaves and Prim steps)", function()
    local code = [[
      local fm = require "fmclust"
      local X = fm.data.fashion_mnist{split = "train"}
      local idx = {}
      for i = 1, 12000 do idx[i] = i end
      -- 80 PCA dimensions keep it short
      local Z = fm.pca(X:rows(idx), {n_components = 80})
      local res = fm.hdbscan(Z, {min_cluster_size = 50, min_samples = 10})
      local core = fm.hdbscan_stages.core_distances(Z, {min_samples = 10, method = "bounded"})
      -- every Prim step on both threads
      local e = fm.hdbscan_stages.mst(Z:rows(fm.permutation(3000, {seed = 1})), {min_samples = 10,
        algorithm = "prims", parallel_min = 1})
      local w = 0
      for i = 1, #e.w do w = w + e.w[i] * (e.a[i] + 2 * e.b[i]) end
      local s = {}
      for i = 1, #res.labels do s[#s + 1] = res.labels[i] end
      local c = 0
      for i = 1, #core do c = c + core[i] * i end
      print(res.n_clusters, res.noise, table.concat(s, ""):sub(1, 300), ("%.17g"):format(c),
        ("%.17g"):format(res.probabilities:get(17, 1)), ("%.17g"):format(w))
    ]]
    local env = {LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or ""}
    env.OMP_NUM_THREADS = "1"
    local a, ok1 = H.run_lua(code, env)
    env.OMP_NUM_THREADS = "2"
    local b, ok2 = H.run_lua(code, env)
    assert.is_true(ok1 and ok2, a .. b)
    assert.are.equal(a, b)
  end)
end)
