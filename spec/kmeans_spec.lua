-- K-Means: quality against scikit-learn on Fashion-MNIST, brute-force checks on small data,
-- empty clusters, thread-count determinism, the estimator, and every bad input.
local fm = require "fmclust"
local H = require "spec.helper"

-- n points around each of the given centres (Gaussian, sd), rows in cluster order
local blobs = H.blobs

local function sqdist(a, b)
  local s = 0
  for j = 1, #a do s = s + (a[j] - b[j]) ^ 2 end
  return s
end

local function has_nan(M)
  for _, r in ipairs(M:to_table()) do
    for _, v in ipairs(r) do if v ~= v then return true end end
  end
  return false
end

-- labels are the argmin of the distances to the centers (up to float ties), the inertia is the
-- recomputed sum, and (when asked) each center is the mean of its points
local function brute_force_check(X, res, check_means)
  local x, c = X:to_table(), res.centers:to_table()
  local k = #c
  local total = 0
  local sums, counts = {}, {}
  for j = 1, k do sums[j] = {}; counts[j] = 0; for t = 1, #x[1] do sums[j][t] = 0 end end
  for i, xi in ipairs(x) do
    local l = res.labels[i]
    assert.is_true(l >= 0 and l < k)
    local dl = sqdist(xi, c[l + 1])
    local dmin = math.huge
    for j = 1, k do dmin = math.min(dmin, sqdist(xi, c[j])) end
    assert.is_true(dl <= dmin * (1 + 1e-5) + 1e-6, ("row %d: label %d at %g, nearest at %g"):format(i, l, dl, dmin))
    total = total + dl
    counts[l + 1] = counts[l + 1] + 1
    for t, v in ipairs(xi) do sums[l + 1][t] = sums[l + 1][t] + v end
  end
  assert.is_true(math.abs(total - res.inertia) <= 1e-9 * math.max(1, total),
    ("inertia %.17g, recomputed %.17g"):format(res.inertia, total))
  if check_means then
    for j = 1, k do
      assert.is_true(counts[j] > 0, "cluster " .. (j - 1) .. " is empty")
      for t = 1, #x[1] do
        local mean = sums[j][t] / counts[j]
        assert.is_true(math.abs(c[j][t] - mean) <= 1e-5 * math.max(1, math.abs(mean)),
          ("center %d column %d: %g, mean %g"):format(j - 1, t, c[j][t], mean))
      end
    end
  end
end

describe("fm.kmeans", function()
  it("matches scikit-learn's best inertia on the 10,000 Fashion-MNIST test images", function()
    local fx = H.fixture("kmeans_fmnist_test.json")
    local X, y = fm.data.fashion_mnist{split = "test"}
    local res = fm.kmeans(X, {n_clusters = 10, n_init = 10, seed = 0})
    assert.is_true(res.inertia <= 1.005 * fx.inertia,
      ("inertia %.1f, scikit-learn %.1f"):format(res.inertia, fx.inertia))
    assert.are.equal(10000, #res.labels)
    assert.are.same({10, 784}, {res.centers:shape()})
    assert.is_true(res.n_iter >= 1 and res.n_iter <= 300)
    -- agreement with the classes is in scikit-learn's range (same inertia, maybe another optimum)
    assert.is_true(math.abs(fm.metrics.ari(y, res.labels) - fx.ari) < 0.05)
  end)

  it("gives labels that are the argmin, the recomputed inertia, and centers that are means", function()
    local X = blobs({{0, 0, 0, 0}, {3, 0, 1, 0}, {0, 4, 0, 1}, {5, 5, 5, 5}, {-3, 2, -1, 0}}, 60, 1.0, 11)
    -- tol = 0 runs to strict convergence, where each center is exactly the mean of its points
    local res = fm.kmeans(X, {n_clusters = 5, n_init = 3, tol = 0, seed = 4})
    brute_force_check(X, res, true)
    -- a larger case through several row blocks and chunks, stopped on the default tolerance
    local Y = fm.matrix.random(5000, 12, {seed = 2, distribution = "normal"})
    local r2 = fm.kmeans(Y, {n_clusters = 9, n_init = 2, seed = 1})
    brute_force_check(Y, r2, false)
    assert.are.equal(r2.inertia, fm.core.kmeans_inertia(Y, r2.centers, r2.labels))
  end)

  it("with k = 1 finds the mean, with k = n puts every point on its own center", function()
    local X = fm.matrix{{1, 2}, {3, 4}, {5, 0}, {7, 2}}
    local r1 = fm.kmeans(X, {n_clusters = 1})
    assert.are.same({{4, 2}}, r1.centers:to_table())
    assert.is_true(math.abs(r1.inertia - (9 + 0 + 1 + 4 + 1 + 4 + 9 + 0)) < 1e-9)
    local r4 = fm.kmeans(X, {n_clusters = 4})
    assert.are.equal(0, r4.inertia)
    local seen = {}
    for i = 1, 4 do seen[r4.labels[i]] = true end
    for j = 0, 3 do assert.is_true(seen[j]) end
  end)

  it("re-seeds an empty cluster with the farthest point instead of leaving NaN", function()
    local X = blobs({{0, 0}, {10, 10}}, 40, 0.5, 3)
    local init = fm.matrix{{0, 0}, {10, 10}, {1000, 1000}}   -- the third center attracts nobody
    local res = fm.kmeans(X, {n_clusters = 3, init = init})
    assert.is_false(has_nan(res.centers))
    local counts = res.labels:counts()
    for j = 0, 2 do assert.is_true((counts[j] or 0) > 0, "cluster " .. j .. " is empty") end
    brute_force_check(X, res, false)
  end)

  it("survives more clusters than distinct points (duplicates)", function()
    local rows = {}
    for _ = 1, 4 do
      rows[#rows + 1] = {1, 1}
      rows[#rows + 1] = {5, 1}
      rows[#rows + 1] = {1, 9}
    end
    local X = fm.matrix(rows)
    for _, init in ipairs{"k-means++", "random"} do
      local res = fm.kmeans(X, {n_clusters = 5, init = init, n_init = 3, seed = 2})
      assert.is_false(has_nan(res.centers))
      assert.is_true(res.inertia == res.inertia)
      for i = 1, #X do assert.is_true(res.labels[i] >= 0 and res.labels[i] < 5) end
      if init == "k-means++" then assert.are.equal(0, res.inertia) end
      brute_force_check(X, res, false)
    end
    -- all rows identical: the variance is 0, so is the tolerance
    local same = fm.kmeans(fm.matrix{{2, 2}, {2, 2}, {2, 2}}, {n_clusters = 2})
    assert.are.equal(0, same.inertia)
    assert.is_false(has_nan(same.centers))
  end)

  it("random init and given init work, and more runs never do worse", function()
    local X = blobs({{0, 0, 0}, {6, 0, 0}, {0, 6, 0}, {0, 0, 6}}, 50, 1.0, 5)
    local r = fm.kmeans(X, {n_clusters = 4, init = "random", seed = 3})
    brute_force_check(X, r, false)
    local one = fm.kmeans(X, {n_clusters = 4, init = "random", n_init = 1, seed = 3})
    assert.is_true(r.inertia <= one.inertia)   -- run 0 of the 10 is the same run
    local given = fm.kmeans(X, {n_clusters = 4, init = r.centers})
    assert.is_true(math.abs(given.inertia - r.inertia) <= 1e-9 * r.inertia)
    assert.are.equal(1, given.n_iter)   -- already converged: strict convergence on the first check
  end)

  it("predicts the nearest center of new rows", function()
    local X = blobs({{0, 0}, {8, 0}, {0, 8}}, 30, 1.0, 9)
    local res = fm.kmeans(X, {n_clusters = 3, seed = 1})
    local p = res:predict(X)
    for i = 1, #X do assert.are.equal(res.labels[i], p[i]) end
    local new = fm.matrix{{0.5, 0.2}, {7.5, -0.4}, {-0.3, 9}, {100, 100}}
    local q = res:predict(new)
    local c = res.centers:to_table()
    for i, xi in ipairs(new:to_table()) do
      local best, arg = math.huge, nil
      for j = 1, 3 do
        local v = sqdist(xi, c[j])
        if v < best then best, arg = v, j - 1 end
      end
      assert.are.equal(arg, q[i])
    end
    assert.are.equal(0, #res:predict(fm.matrix.zeros(0, 2)))
  end)

  it("is the same for 1 and 2 threads", function()
    local code = [[
      local fm = require "fmclust"
      local X = fm.matrix.random(6000, 16, {seed = 7, distribution = "normal"})
      local out = {}
      for _, init in ipairs{"k-means++", "random"} do
        local r = fm.kmeans(X, {n_clusters = 7, n_init = 3, seed = 5, init = init})
        out[#out + 1] = ("%.17g %d"):format(r.inertia, r.n_iter)
        out[#out + 1] = table.concat(r.labels:to_table(), ",")
        for _, row in ipairs(r.centers:to_table()) do
          for _, v in ipairs(row) do out[#out + 1] = ("%a"):format(v) end
        end
      end
      io.write(fm.info().omp_threads, " ", table.concat(out, " "), "\n")
      io.stdout:flush()
    ]]
    -- only the first line: anything a process prints while exiting is not the result
    local o1 = H.run_lua(code, {OMP_NUM_THREADS = "1"}):match("^[^\n]*")
    local o2 = H.run_lua(code, {OMP_NUM_THREADS = "2"}):match("^[^\n]*")
    assert.matches("^1 %d", o1)
    assert.matches("^2 %d", o2)
    assert.is_true(o1:sub(3) == o2:sub(3), "results differ between 1 and 2 threads")
  end)

  it("depends on the seed, and only on the seed", function()
    local X = fm.matrix.random(500, 5, {seed = 1})
    local a = fm.kmeans(X, {n_clusters = 6, n_init = 1, seed = 1})
    local b = fm.kmeans(X, {n_clusters = 6, n_init = 1, seed = 1})
    local c = fm.kmeans(X, {n_clusters = 6, n_init = 1, seed = 2})
    assert.are.same(a.centers:to_table(), b.centers:to_table())
    assert.are_not.same(a.centers:to_table(), c.centers:to_table())
  end)

  it("rejects bad input with errors naming the argument", function()
    local X = fm.matrix.random(100, 3, {seed = 1})
    assert.has_error(function() fm.kmeans(X, {n_clusters = 200}) end,
      "bad argument #2 to 'kmeans' (n_clusters must be ≤ 100 (the number of rows), got 200)")
    assert.has_error(function() fm.kmeans(X, {n_clusters = 0}) end,
      "bad argument #2 to 'kmeans' (n_clusters must be ≥ 1, got 0)")
    assert.has_error(function() fm.kmeans(X, {n_clusters = 2.5}) end,
      "bad argument #2 to 'kmeans' (n_clusters must be an integer, got 2.5)")
    assert.has_error(function() fm.kmeans(X, {n_clusters = "3"}) end,
      "bad argument #2 to 'kmeans' (n_clusters must be an integer, got string)")
    assert.has_error(function() fm.kmeans(X, {n_cluster = 3}) end,
      "bad argument #2 to 'kmeans' (unknown option 'n_cluster')")
    assert.has_error(function() fm.kmeans(X, {n_init = 0}) end,
      "bad argument #2 to 'kmeans' (n_init must be ≥ 1, got 0)")
    assert.has_error(function() fm.kmeans(X, {max_iter = 0}) end,
      "bad argument #2 to 'kmeans' (max_iter must be ≥ 1, got 0)")
    assert.has_error(function() fm.kmeans(X, {tol = -1}) end,
      "bad argument #2 to 'kmeans' (tol must be ≥ 0, got -1)")
    assert.has_error(function() fm.kmeans(X, {tol = 0 / 0}) end)
    assert.has_error(function() fm.kmeans(X, {seed = 1.5}) end,
      "bad argument #2 to 'kmeans' (seed must be an integer, got 1.5)")
    assert.has_error(function() fm.kmeans(X, {init = "kmeans++"}) end,
      "bad argument #2 to 'kmeans' (init must be one of \"k-means++\", \"random\" or a matrix, got 'kmeans++')")
    assert.has_error(function() fm.kmeans(X, {init = 3}) end,
      "bad argument #2 to 'kmeans' (init must be one of \"k-means++\", \"random\" or a matrix, got number)")
    assert.has_error(function() fm.kmeans(X, {n_clusters = 2, init = fm.matrix.zeros(3, 3)}) end,
      "bad argument #2 to 'kmeans' (init must be a 2×3 matrix (n_clusters × columns), got 3×3)")
    local bad_init = fm.matrix.zeros(2, 3)
    bad_init:set(1, 1, 0 / 0)
    assert.has_error(function() fm.kmeans(X, {n_clusters = 2, init = bad_init}) end,
      "bad argument #2 to 'kmeans' (init contains NaN or Inf)")
    assert.has_error(function() fm.kmeans(X, 5) end,
      "bad argument #2 to 'kmeans' (options table expected, got number)")
    assert.has_error(function() fm.kmeans({{1, 2}}) end,
      "bad argument #1 to 'kmeans' (matrix expected, got table)")
    assert.has_error(function() fm.kmeans(nil) end, "bad argument #1 to 'kmeans' (matrix expected, got nil)")
    assert.has_error(function() fm.kmeans(fm.matrix.zeros(0, 3), {n_clusters = 1}) end,
      "bad argument #1 to 'kmeans' (matrix has 0 rows, needs at least 1)")
    local N = X:copy()
    N:set(5, 2, 0 / 0)
    assert.has_error(function() fm.kmeans(N, {n_clusters = 2}) end,
      "bad argument #1 to 'kmeans' (matrix contains NaN or Inf)")
    N:set(5, 2, math.huge)
    assert.has_error(function() fm.kmeans(N, {n_clusters = 2}) end,
      "bad argument #1 to 'kmeans' (matrix contains NaN or Inf)")
    local res = fm.kmeans(X, {n_clusters = 2})
    assert.has_error(function() res:predict(fm.matrix.zeros(4, 5)) end,
      "bad argument #1 to 'predict' (matrix has 5 columns, the centers have 3)")
    assert.has_error(function() res:predict("x") end,
      "bad argument #1 to 'predict' (matrix expected, got string)")
    -- the raw core checks too (a backstop for callers that skip the Lua layer)
    assert.has_error(function() fm.core.kmeans_fit(X, 101, 1, 10, 1e-4, "k-means++", 0) end)
    assert.has_error(function() fm.core.kmeans_fit(X, 2, 0, 10, 1e-4, "k-means++", 0) end)
    assert.has_error(function() fm.core.kmeans_fit(X, 2, 1, 10, 1e-4, "nope", 0) end)
  end)
end)

describe("fm.KMeans", function()
  it("fits, predicts and fit_predicts like the function", function()
    local X = blobs({{0, 0}, {8, 0}, {0, 8}}, 30, 1.0, 9)
    local km = fm.KMeans{n_clusters = 3, seed = 1}
    assert.is_nil(km.labels)
    assert.has_error(function() km:predict(X) end)
    assert.are.equal(km, km:fit(X))
    local res = fm.kmeans(X, {n_clusters = 3, seed = 1})
    assert.are.equal(res.inertia, km.inertia)
    assert.are.same(res.centers:to_table(), km.centers:to_table())
    assert.are.same(res.labels:to_table(), km:predict(X):to_table())
    assert.are.same(res.labels:to_table(), fm.KMeans{n_clusters = 3, seed = 1}:fit_predict(X):to_table())
    assert.are.equal(3, km.n_clusters)
    assert.is_true(km.n_iter >= 1)
  end)

  it("checks its options when built and its data when fitted", function()
    assert.has_error(function() fm.KMeans{n_clusters = 0} end,
      "bad argument #1 to 'KMeans' (n_clusters must be ≥ 1, got 0)")
    assert.has_error(function() fm.KMeans{bogus = 1} end, "bad argument #1 to 'KMeans' (unknown option 'bogus')")
    local km = fm.KMeans{n_clusters = 5}
    assert.has_error(function() km:fit(fm.matrix.zeros(3, 2)) end,
      "bad argument #1 to 'fit' (matrix has 3 rows, fewer than n_clusters = 5)")
    assert.has_error(function() km:fit("x") end, "bad argument #1 to 'fit' (matrix expected, got string)")
    assert.has_error(function() km.fit(nil, fm.matrix.zeros(9, 2)) end)
  end)
end)
