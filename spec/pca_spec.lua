-- PCA: scikit-learn's numbers on Fashion-MNIST, the linear algebra on small random data, the
-- estimator, determinism across thread counts, and bad input.
local fm = require "fmclust"
local H = require "spec.helper"

-- n×d normal data with column j scaled by 1/j (distinct variances) and shifted by j (a mean to
-- remove); with k_rank, column j copies (up to scale) latent column (j − 1) % k_rank + 1.
-- Built as [G | 1]·M so that large sets cost no Lua loops over entries.
local function make_data(n, d, seed, k_rank)
  local r = k_rank or d
  local G = fm.matrix.random(n, r + 1, {seed = seed, distribution = "normal"})
  for i = 1, n do G:set(i, r + 1, 1) end
  local M = {}
  for a = 1, r + 1 do
    M[a] = {}
    for j = 1, d do
      if a == r + 1 then M[a][j] = j
      else M[a][j] = (a == (j - 1) % r + 1) and 1 / j or 0 end
    end
  end
  return G:matmul(fm.matrix(M))
end

-- n×d values k·scale with k uniform in 0..255 (8-bit "pixels"), plus a few stronger directions
local function make_u8(n, d, seed, scale)
  local U = fm.matrix.random(n, d + 2, {seed = seed}):to_table()
  local rows = {}
  for i = 1, n do
    local r, a, b = {}, U[i][d + 1], U[i][d + 2]
    for j = 1, d do
      local v = 0.5 * U[i][j] + (j % 3 == 0 and a or j % 3 == 1 and b or 0.25)
      r[j] = math.floor(v / 1.5 * 255) * scale   -- v < 1.5, so k ≤ 254
    end
    rows[i] = r
  end
  return fm.matrix(rows)
end

local function col_means(t, n, d)
  local m = {}
  for j = 1, d do
    local s = 0
    for i = 1, n do s = s + t[i][j] end
    m[j] = s / n
  end
  return m
end

local function col_vars(t, n, d)   -- ddof = 1
  local m, v = col_means(t, n, d), {}
  for j = 1, d do
    local s = 0
    for i = 1, n do s = s + (t[i][j] - m[j]) ^ 2 end
    v[j] = s / (n - 1)
  end
  return v
end

local function max_abs_diff(a, b)
  local worst = 0
  for i = 1, #a do
    if type(a[i]) == "table" then
      worst = math.max(worst, max_abs_diff(a[i], b[i]))
    else
      worst = math.max(worst, math.abs(a[i] - b[i]))
    end
  end
  return worst
end

local function sum(t, i1)
  local s = 0
  for i = 1, i1 or #t do s = s + t[i] end
  return s
end

describe("fm.pca on Fashion-MNIST", function()
  local fx = H.fixture("pca_fmnist_test.json")
  local X = fm.data.fashion_mnist{split = "test"}

  for _, solver in ipairs{"covariance", "randomized"} do
    it("matches scikit-learn's full SVD on the 10,000 test images (" .. solver .. ")", function()
      local Z, m = fm.pca(X, {n_components = 20, svd_solver = solver})
      assert.are.same({10000, 20}, {Z:shape()})
      assert.are.same({20, 784}, {m.components:shape()})
      assert.are.equal(solver, m.svd_solver)
      for j = 1, 20 do
        assert.is_true(math.abs(m.explained_variance_ratio[j] - fx.explained_variance_ratio[j]) < 1e-4,
          ("ratio %d: %g vs %g"):format(j, m.explained_variance_ratio[j], fx.explained_variance_ratio[j]))
        assert.is_true(math.abs(m.singular_values[j] / fx.singular_values[j] - 1) < 1e-3,
          ("singular value %d: %g vs %g"):format(j, m.singular_values[j], fx.singular_values[j]))
      end
    end)
  end

  it("uses the exact 8-bit kernel on the images when the CPU has AVX-512 VNNI", function()
    local _, m = fm.pca(X, {n_components = 5, svd_solver = "covariance"})
    assert.are.equal(fm.core.pca_u8_supported(), m.exact_8bit)
    local _, r = fm.pca(X, {n_components = 5, svd_solver = "randomized"})
    assert.is_false(r.exact_8bit)
  end)

  it("auto picks the covariance solver for 10,000×784 and 20 components", function()
    local _, m = fm.pca(X, {n_components = 20})
    assert.are.equal("covariance", m.svd_solver)
    assert.are.equal(0, m.n_iter)
  end)
end)

describe("fm.pca, the linear algebra", function()
  local n, d = 300, 12
  local X = make_data(n, d, 7)
  local xt = X:to_table()

  it("has orthonormal components", function()
    for _, solver in ipairs{"covariance", "randomized"} do
      local _, m = fm.pca(X, {n_components = 6, svd_solver = solver})
      local CCt = m.components:matmul(m.components, false, true):to_table()
      for a = 1, 6 do
        for b = 1, 6 do
          assert.is_true(math.abs(CCt[a][b] - (a == b and 1 or 0)) < 1e-5)
        end
      end
    end
  end)

  it("scores are (X − mean)·componentsᵀ, with the column means as mean", function()
    local Z, m = fm.pca(X, {n_components = 5})
    local mean, C, zt = m.mean:to_table()[1], m.components:to_table(), Z:to_table()
    local want = col_means(xt, n, d)
    assert.is_true(max_abs_diff(mean, want) < 1e-5)
    for i = 1, n, 7 do
      for j = 1, 5 do
        local s = 0
        for a = 1, d do s = s + (xt[i][a] - mean[a]) * C[j][a] end
        assert.is_true(math.abs(zt[i][j] - s) < 1e-4)
      end
    end
    assert.is_true(max_abs_diff(m:transform(X):to_table(), zt) < 1e-6)
  end)

  it("explained variance is the variance of the score columns; ratio and singular values follow", function()
    local Z, m = fm.pca(X, {n_components = d})
    local zv, xv = col_vars(Z:to_table(), n, d), col_vars(xt, n, d)
    local total = sum(xv)
    assert.is_true(math.abs(m.total_variance / total - 1) < 1e-6)
    for j = 1, d do
      assert.is_true(math.abs(m.explained_variance[j] / zv[j] - 1) < 1e-4)
      assert.is_true(math.abs(m.explained_variance_ratio[j] - m.explained_variance[j] / m.total_variance) < 1e-12)
      assert.is_true(math.abs(m.singular_values[j] - math.sqrt(m.explained_variance[j] * (n - 1))) < 1e-9)
      if j > 1 then assert.is_true(m.explained_variance[j] <= m.explained_variance[j - 1]) end
    end
    assert.is_true(math.abs(sum(m.explained_variance_ratio) - 1) < 1e-6)
    assert.are.equal(0, m.noise_variance)
  end)

  it("reconstructs X with all d components, and projects with fewer", function()
    local Z, m = fm.pca(X, {n_components = d})
    assert.is_true(max_abs_diff(m:inverse_transform(Z):to_table(), xt) < 1e-4)
    local Z3, m3 = fm.pca(X, {n_components = 3})
    local P = m3:inverse_transform(Z3)
    assert.is_true(max_abs_diff(m3:transform(P):to_table(), Z3:to_table()) < 1e-4)   -- a projection
    -- the residual's variance is the variance left out
    local pt, res = P:to_table(), {}
    for i = 1, n do
      res[i] = {}
      for a = 1, d do res[i][a] = xt[i][a] - pt[i][a] end
    end
    local left = sum(col_vars(res, n, d))
    assert.is_true(math.abs(left / (m.total_variance - sum(m3.explained_variance)) - 1) < 1e-3)
    assert.is_true(math.abs(m3.noise_variance - left / (d - 3)) < 1e-3 * m3.noise_variance)
  end)

  it("signs follow svd_flip: each score column's largest-magnitude entry is positive", function()
    for _, solver in ipairs{"covariance", "randomized"} do
      local Z = fm.pca(X, {n_components = 6, svd_solver = solver})
      local zt = Z:to_table()
      for j = 1, 6 do
        local best = 0
        for i = 1, n do if math.abs(zt[i][j]) > math.abs(best) then best = zt[i][j] end end
        assert.is_true(best > 0)
      end
    end
  end)

  it("the two solvers agree", function()
    local W = make_data(400, 60, 4)
    local Zc, c = fm.pca(W, {n_components = 3, svd_solver = "covariance"})
    local Zr, r = fm.pca(W, {n_components = 3, svd_solver = "randomized", seed = 3})
    assert.are.equal(7, r.n_iter)   -- scikit-learn's rule: 3 < 0.1·min(400, 60)
    for j = 1, 3 do assert.is_true(math.abs(r.explained_variance[j] / c.explained_variance[j] - 1) < 1e-4) end
    assert.is_true(max_abs_diff(r.components:to_table(), c.components:to_table()) < 1e-3)
    assert.is_true(max_abs_diff(Zr:to_table(), Zc:to_table()) < 1e-3)
    -- a sketch as wide as min(n, d) spans everything: exact without power iterations
    local _, f = fm.pca(X, {n_components = 4, svd_solver = "randomized"})
    local _, g = fm.pca(X, {n_components = 4, svd_solver = "covariance"})
    assert.are.equal(0, f.n_iter)
    assert.is_true(max_abs_diff(f.components:to_table(), g.components:to_table()) < 1e-4)
  end)

  it("whitening gives unit-variance scores and inverts", function()
    local Zw, mw = fm.pca(X, {n_components = 4, whiten = true})
    local Z, m = fm.pca(X, {n_components = 4})
    for _, v in ipairs(col_vars(Zw:to_table(), n, 4)) do assert.is_true(math.abs(v - 1) < 1e-4) end
    assert.is_true(mw.whiten)
    assert.is_true(max_abs_diff(mw:transform(X):to_table(), Zw:to_table()) < 1e-5)
    assert.is_true(max_abs_diff(mw:inverse_transform(Zw):to_table(), m:inverse_transform(Z):to_table()) < 1e-4)
    assert.is_true(max_abs_diff(mw.components:to_table(), m.components:to_table()) < 1e-6)
  end)

  it("a fraction keeps the fewest components that explain more than it", function()
    local _, full = fm.pca(X, {n_components = d})
    for _, f in ipairs{0.3, 0.5, 0.9, 0.999} do
      local _, m = fm.pca(X, {n_components = f})
      local k = m.n_components
      assert.is_true(sum(full.explained_variance_ratio, k) > f)
      assert.is_true(k == 1 or sum(full.explained_variance_ratio, k - 1) <= f)
      assert.are.equal(k, #m.explained_variance)
      assert.are.same({k, d}, {m.components:shape()})
    end
  end)

  it("handles fewer rows than columns, rank-deficient and constant data", function()
    local W = make_data(10, 30, 2)     -- centred rank 9
    for _, solver in ipairs{"covariance", "randomized"} do
      local Z, m = fm.pca(W, {n_components = 10, svd_solver = solver})
      assert.is_true(max_abs_diff(m:inverse_transform(Z):to_table(), W:to_table()) < 1e-4)
      assert.is_true(m.explained_variance[10] < 1e-6 * m.explained_variance[1])
    end
    local R = make_data(200, 20, 5, 2)  -- 2 directions in 20 columns: Cholesky QR must fall back
    local Zc, c = fm.pca(R, {n_components = 5, svd_solver = "covariance"})
    local Zr, r = fm.pca(R, {n_components = 5, svd_solver = "randomized"})
    for j = 1, 2 do assert.is_true(math.abs(r.explained_variance[j] / c.explained_variance[j] - 1) < 1e-4) end
    assert.is_true(max_abs_diff(Zr:to_table(), Zc:to_table()) < 1e-3 * math.sqrt(c.explained_variance[1]))
    local CCt = r.components:matmul(r.components, false, true):to_table()
    for a = 1, 5 do assert.is_true(math.abs(CCt[a][a] - 1) < 1e-4) end
    local K = fm.matrix.zeros(5, 3)
    local Zk, k = fm.pca(K, {n_components = 2, whiten = true})
    assert.are.same({0, 0}, k.explained_variance)
    assert.are.same({0, 0}, k.explained_variance_ratio)
    assert.are.same({{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}}, Zk:to_table())
  end)
end)

describe("fm.pca on 8-bit data", function()
  it("the exact 8-bit kernel agrees with the float one (pixels/255, raw pixels, other scales)", function()
    local n, d = 700, 30
    local P = make_u8(n, d, 4, 1 / 255)   -- pixels/255
    local R = make_u8(n, d, 4, 1)         -- raw pixels 0..255
    local H2 = make_u8(n, d, 4, 1 / 510)  -- k/510: not 8-bit at scale 1/255, so the float path
    local _, p = fm.pca(P, {n_components = 6, svd_solver = "covariance"})
    local _, r = fm.pca(R, {n_components = 6, svd_solver = "covariance"})
    local _, h = fm.pca(H2, {n_components = 6, svd_solver = "covariance"})
    local u8 = fm.core.pca_u8_supported()
    assert.are.equal(u8, p.exact_8bit)
    assert.are.equal(u8, r.exact_8bit)
    assert.is_false(h.exact_8bit)
    for j = 1, 6 do
      assert.is_true(math.abs(r.explained_variance[j] / (255 ^ 2 * p.explained_variance[j]) - 1) < 1e-6)
      assert.is_true(math.abs(h.explained_variance[j] / (p.explained_variance[j] / 4) - 1) < 1e-5)
      assert.is_true(math.abs(p.explained_variance_ratio[j] - h.explained_variance_ratio[j]) < 1e-6)
    end
    assert.is_true(max_abs_diff(p.components:to_table(), h.components:to_table()) < 1e-4)
    assert.is_true(max_abs_diff(p.mean:to_table(), P:col_means():to_table()) < 1e-6)
    -- the float path on the same values (nudged off the 8-bit grid by far less than their spread)
    local Q = P:copy()
    Q:set(1, 1, Q:get(1, 1) + 1e-4)
    local _, q = fm.pca(Q, {n_components = 6, svd_solver = "covariance"})
    assert.is_false(q.exact_8bit)
    for j = 1, 6 do assert.is_true(math.abs(q.explained_variance[j] / p.explained_variance[j] - 1) < 1e-4) end
  end)

  it("keeps the algebra: orthonormal components, score variances, reconstruction", function()
    local n, d = 400, 20
    local P = make_u8(n, d, 8, 1 / 255)
    local Z, m = fm.pca(P, {n_components = d, svd_solver = "covariance"})
    local zv = col_vars(Z:to_table(), n, d)
    for j = 1, d do assert.is_true(math.abs(m.explained_variance[j] / zv[j] - 1) < 1e-4) end
    assert.is_true(max_abs_diff(m:inverse_transform(Z):to_table(), P:to_table()) < 1e-5)
    assert.is_true(math.abs(m.total_variance / sum(col_vars(P:to_table(), n, d)) - 1) < 1e-6)
  end)
end)

describe("fm.PCA, the estimator", function()
  local X = make_data(200, 10, 11)

  it("fit sets the model's fields; transform, fit_transform and inverse_transform agree with fm.pca", function()
    local Z, m = fm.pca(X, {n_components = 3, whiten = true})
    local est = fm.PCA{n_components = 3, whiten = true}
    assert.matches("not fitted", tostring(est))
    assert.are.equal(est, est:fit(X))
    for _, key in ipairs{"explained_variance", "explained_variance_ratio", "singular_values"} do
      assert.are.same(m[key], est[key])
    end
    assert.are.same(m.components:to_table(), est.components:to_table())
    assert.are.same(m.mean:to_table(), est.mean:to_table())
    assert.are.equal(3, est.n_components)
    assert.are.equal(200, est.n_samples)
    assert.are.equal(10, est.n_features)
    assert.are.same(Z:to_table(), est:transform(X):to_table())
    local est2 = fm.PCA{n_components = 3, whiten = true}
    assert.are.same(Z:to_table(), est2:fit_transform(X):to_table())
    assert.are.same(m:inverse_transform(Z):to_table(), est2:inverse_transform(Z):to_table())
    assert.matches("3 components of 10 features", tostring(est2))
    assert.are.same({n_components = 3, whiten = true, svd_solver = "auto", seed = 0,
                     iterated_power = "auto", n_oversamples = 10}, est:get_params())
  end)

  it("refuses transform before fit, and checks options when built", function()
    local est = fm.PCA{n_components = 2}
    assert.has_error(function() est:transform(X) end, "transform: this PCA is not fitted yet; call est:fit(X) first")
    assert.has_error(function() fm.PCA{n_components = 2, solver = "x"} end,
      "bad argument #1 to 'PCA' (unknown option 'solver')")
    assert.has_error(function() fm.PCA{n_components = 50}:fit(X) end,
      "bad argument #1 to 'fit' (n_components must be ≤ 10 (min(n_samples, n_features) = min(200, 10)), got 50)")
  end)
end)

describe("fm.pca determinism", function()
  it("gives the same bits with 1 and 2 threads, in process and with OMP_NUM_THREADS", function()
    local X = make_data(20000, 40, 3)
    local P = make_u8(5000, 40, 3, 1 / 255)   -- the exact 8-bit kernel, where the CPU has it
    local function run()
      local out = {}
      for _, solver in ipairs{"covariance", "randomized"} do
        local Z, m = fm.pca(X, {n_components = 8, svd_solver = solver, seed = 5})
        out[#out + 1] = {m.explained_variance, m.components:to_table(), Z:slice(19990):to_table()}
      end
      local Z, m = fm.pca(P, {n_components = 8, svd_solver = "covariance"})
      out[#out + 1] = {m.explained_variance, m.components:to_table(), Z:slice(4990):to_table()}
      return out
    end
    fm.set_threads(1)
    local one = run()
    fm.set_threads(2)
    local two = run()
    assert.are.same(one, two)
    local code = [[
      local fm = require "fmclust"
      local X = fm.matrix.random(30000, 60, {seed = 9, distribution = "normal"})
      local parts = {tostring(fm.info().omp_threads)}
      for _, solver in ipairs{"covariance", "randomized"} do
        local Z, m = fm.pca(X, {n_components = 10, svd_solver = solver})
        for j = 1, 10 do parts[#parts + 1] = ("%.17g"):format(m.explained_variance[j]) end
        for j = 1, 60, 7 do parts[#parts + 1] = ("%.9g"):format(m.components:get(10, j)) end
        for i = 1, 30000, 2999 do parts[#parts + 1] = ("%.9g"):format(Z:get(i, 10)) end
      end
      io.write("RESULT ", table.concat(parts, " "), "\n")
      io.stdout:flush()   -- before lua_close: the process may not exit cleanly
    ]]
    local o1 = H.run_lua(code, {OMP_NUM_THREADS = "1"}):match("RESULT ([^\n]*)")
    local o2 = H.run_lua(code, {OMP_NUM_THREADS = "2"}):match("RESULT ([^\n]*)")
    assert.matches("^1 ", o1)
    assert.matches("^2 ", o2)
    assert.are.equal(o1:sub(3), o2:sub(3))
  end)
end)

describe("fm.pca bad input", function()
  local X = make_data(20, 5, 1)

  it("rejects bad n_components", function()
    assert.has_error(function() fm.pca(X, {n_components = 6}) end,
      "bad argument #2 to 'pca' (n_components must be ≤ 5 (min(n_samples, n_features) = min(20, 5)), got 6)")
    assert.has_error(function() fm.pca(X:slice(1, 3), {n_components = 4}) end,
      "bad argument #2 to 'pca' (n_components must be ≤ 3 (min(n_samples, n_features) = min(3, 5)), got 4)")
    assert.has_error(function() fm.pca(X, {n_components = 0}) end,
      "bad argument #2 to 'pca' (n_components must be ≥ 1, got 0)")
    assert.has_error(function() fm.pca(X, {n_components = -2}) end,
      "bad argument #2 to 'pca' (n_components must be ≥ 1, got -2)")
    assert.has_error(function() fm.pca(X, {n_components = 1.5}) end,
      "bad argument #2 to 'pca' (n_components must be an integer ≥ 1 or a fraction in (0, 1), got 1.5)")
    assert.has_error(function() fm.pca(X, {n_components = 0.5, svd_solver = "randomized"}) end,
      "bad argument #2 to 'pca' (n_components as a fraction needs svd_solver \"covariance\" or \"auto\")")
    assert.has_error(function() fm.pca(X, {n_components = "3"}) end,
      "bad argument #2 to 'pca' (n_components must be a number, got string)")
    local _, m = fm.pca(X, {n_components = 2.0})   -- an integral float is that integer
    assert.are.equal(2, m.n_components)
  end)

  it("rejects NaN, Inf, empty and too small matrices, and non-matrices", function()
    local B = X:copy()
    B:set(3, 2, 0 / 0)
    assert.has_error(function() fm.pca(B) end, "bad argument #1 to 'pca' (matrix contains NaN or Inf)")
    B:set(3, 2, -math.huge)
    assert.has_error(function() fm.pca(B) end, "bad argument #1 to 'pca' (matrix contains NaN or Inf)")
    assert.has_error(function() fm.pca(fm.matrix.zeros(0, 5)) end,
      "bad argument #1 to 'pca' (matrix has 0 rows, needs at least 2)")
    assert.has_error(function() fm.pca(fm.matrix.zeros(1, 5)) end,
      "bad argument #1 to 'pca' (matrix has 1 rows, needs at least 2)")
    assert.has_error(function() fm.pca(fm.matrix.zeros(4, 0)) end,
      "bad argument #1 to 'pca' (matrix has no columns)")
    assert.has_error(function() fm.pca({{1, 2}, {3, 4}}) end,
      "bad argument #1 to 'pca' (matrix expected, got table)")
    assert.has_error(function() fm.pca() end, "bad argument #1 to 'pca' (matrix expected, got nil)")
  end)

  it("rejects unknown options and wrong types", function()
    assert.has_error(function() fm.pca(X, {n_component = 2}) end,
      "bad argument #2 to 'pca' (unknown option 'n_component')")
    assert.has_error(function() fm.pca(X, 3) end, "bad argument #2 to 'pca' (options table expected, got number)")
    assert.has_error(function() fm.pca(X, {whiten = 1}) end,
      "bad argument #2 to 'pca' (whiten must be a boolean, got number)")
    assert.has_error(function() fm.pca(X, {svd_solver = "full"}) end,
      "bad argument #2 to 'pca' (svd_solver must be one of \"auto\", \"covariance\", \"randomized\", got 'full')")
    assert.has_error(function() fm.pca(X, {seed = 1.5}) end,
      "bad argument #2 to 'pca' (seed must be an integer, got 1.5)")
    assert.has_error(function() fm.pca(X, {iterated_power = -1}) end,
      "bad argument #2 to 'pca' (iterated_power must be \"auto\" or an integer ≥ 0, got -1)")
    assert.has_error(function() fm.pca(X, {iterated_power = "many"}) end,
      "bad argument #2 to 'pca' (iterated_power must be \"auto\" or an integer ≥ 0, got string)")
    assert.has_error(function() fm.pca(X, {n_oversamples = 0}) end,
      "bad argument #2 to 'pca' (n_oversamples must be ≥ 1, got 0)")
  end)

  it("checks transform and inverse_transform arguments", function()
    local Z, m = fm.pca(X, {n_components = 2})
    assert.has_error(function() m:transform(fm.matrix.zeros(3, 4)) end,
      "bad argument #1 to 'transform' (matrix has 4 columns, the model was fitted on 5)")
    assert.has_error(function() m:inverse_transform(X) end,
      "bad argument #1 to 'inverse_transform' (matrix has 5 columns, the model has 2 components)")
    local B = X:copy()
    B:set(1, 1, 0 / 0)
    assert.has_error(function() m:transform(B) end, "bad argument #1 to 'transform' (matrix contains NaN or Inf)")
    assert.has_error(function() m:transform("x") end, "bad argument #1 to 'transform' (matrix expected, got string)")
    assert.are.same({1, 2}, {m:transform(X:slice(1, 1)):shape()})
    assert.are.same({20, 5}, {m:inverse_transform(Z):shape()})
  end)
end)
