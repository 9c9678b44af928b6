-- NMF: X ≈ W·H with the Frobenius loss (fm.nmf, fm.NMF), checked by independent math on small data
-- and against scikit-learn 1.2.1 numbers (spec/fixtures/nmf_sklearn.json).
local fm = require "fmclust"
local H = require "spec.helper"

local function tab(M) return M:to_table() end

local function fro(t)
  local s = 0
  for i = 1, #t do for j = 1, #t[i] do s = s + t[i][j] ^ 2 end end
  return math.sqrt(s)
end

-- ‖X − W·H‖_F in double, from the tables
local function residual(X, W, Hm)
  local x, w, h = tab(X), tab(W), tab(Hm)
  local s = 0
  for i = 1, #x do
    for j = 1, #x[1] do
      local v = x[i][j]
      for t = 1, #h do v = v - w[i][t] * h[t][j] end
      s = s + v * v
    end
  end
  return math.sqrt(s)
end

local function min_entry(M)
  local m = math.huge
  for _, row in ipairs(tab(M)) do for _, v in ipairs(row) do m = math.min(m, v) end end
  return m
end

-- exact non-negative rank-r data: sparse non-negative factors (zeros make the factors identifiable)
local function lowrank(n, d, r, seed)
  local W0 = fm.matrix.random(n, r, {seed = seed})
  local H0 = fm.matrix.random(r, d, {seed = seed + 1})
  for i = 1, n do for j = 1, r do if W0:get(i, j) < 0.5 then W0:set(i, j, 0) end end end
  for i = 1, r do for j = 1, d do if H0:get(i, j) < 0.5 then H0:set(i, j, 0) end end end
  return W0:matmul(H0)
end

-- One-sided Jacobi SVD (Hestenes) of an n×d table with n ≥ d, in double: U (n×d), s (d), V (d×d),
-- singular values descending. Independent of the module's randomized SVD.
local function svd_jacobi(A)
  local n, d = #A, #A[1]
  local U, V = {}, {}
  for i = 1, n do U[i] = {} for j = 1, d do U[i][j] = A[i][j] end end
  for i = 1, d do V[i] = {} for j = 1, d do V[i][j] = i == j and 1 or 0 end end
  for _ = 1, 100 do
    local off = 0
    for p = 1, d - 1 do
      for q = p + 1, d do
        local a, b, g = 0, 0, 0
        for i = 1, n do
          a = a + U[i][p] ^ 2
          b = b + U[i][q] ^ 2
          g = g + U[i][p] * U[i][q]
        end
        if g ~= 0 and math.abs(g) > 1e-15 * math.sqrt(a * b) then
          off = math.max(off, math.abs(g) / math.sqrt(a * b))
          local zeta = (b - a) / (2 * g)
          local t = (zeta >= 0 and 1 or -1) / (math.abs(zeta) + math.sqrt(1 + zeta * zeta))
          local c = 1 / math.sqrt(1 + t * t)
          local s = c * t
          for i = 1, n do
            local up, uq = U[i][p], U[i][q]
            U[i][p], U[i][q] = c * up - s * uq, s * up + c * uq
          end
          for i = 1, d do
            local vp, vq = V[i][p], V[i][q]
            V[i][p], V[i][q] = c * vp - s * vq, s * vp + c * vq
          end
        end
      end
    end
    if off < 1e-14 then break end
  end
  local order, sv = {}, {}
  for j = 1, d do
    local s = 0
    for i = 1, n do s = s + U[i][j] ^ 2 end
    sv[j] = math.sqrt(s)
    order[j] = j
  end
  table.sort(order, function(x, y) return sv[x] > sv[y] end)
  local Uo, so, Vo = {}, {}, {}
  for i = 1, n do Uo[i] = {} end
  for i = 1, d do Vo[i] = {} end
  for jj, j in ipairs(order) do
    so[jj] = sv[j]
    for i = 1, n do Uo[i][jj] = sv[j] > 0 and U[i][j] / sv[j] or 0 end
    for i = 1, d do Vo[i][jj] = V[i][j] end
  end
  return Uo, so, Vo
end

-- NNDSVD by its definition (Boutsidis & Gallopoulos 2008, as scikit-learn writes it), in double
local function nndsvd_reference(X, k)
  local U, s, V = svd_jacobi(tab(X))
  local n, d = #U, #V
  local W, Hh = {}, {}
  for i = 1, n do W[i] = {} end
  for t = 1, k do Hh[t] = {} end
  for i = 1, n do W[i][1] = math.sqrt(s[1]) * math.abs(U[i][1]) end
  for j = 1, d do Hh[1][j] = math.sqrt(s[1]) * math.abs(V[j][1]) end
  for t = 2, k do
    local xp, xn, yp, yn = 0, 0, 0, 0
    for i = 1, n do local v = U[i][t]; if v > 0 then xp = xp + v * v else xn = xn + v * v end end
    for j = 1, d do local v = V[j][t]; if v > 0 then yp = yp + v * v else yn = yn + v * v end end
    xp, xn, yp, yn = math.sqrt(xp), math.sqrt(xn), math.sqrt(yp), math.sqrt(yn)
    local pos = xp * yp > xn * yn
    local sigma = pos and xp * yp or xn * yn
    local lbd = math.sqrt(s[t] * sigma)
    for i = 1, n do
      local v = U[i][t]
      local part = pos and math.max(v, 0) or math.max(-v, 0)
      W[i][t] = lbd * part / (pos and xp or xn)
    end
    for j = 1, d do
      local v = V[j][t]
      local part = pos and math.max(v, 0) or math.max(-v, 0)
      Hh[t][j] = lbd * part / (pos and yp or yn)
    end
  end
  for i = 1, n do for t = 1, k do if W[i][t] < 1e-6 then W[i][t] = 0 end end end
  for t = 1, k do for j = 1, d do if Hh[t][j] < 1e-6 then Hh[t][j] = 0 end end end
  return W, Hh, s
end

local function max_abs_diff(a, b)
  local m = 0
  for i = 1, #a do for j = 1, #a[i] do m = math.max(m, math.abs(a[i][j] - b[i][j])) end end
  return m
end

local function matrix_mean(X)
  local t, s, c = tab(X), 0, 0
  for i = 1, #t do for j = 1, #t[i] do s = s + t[i][j]; c = c + 1 end end
  return s / c
end

describe("fm.nmf", function()
  it("recovers exact non-negative low-rank data X = W0·H0 (cd, every init)", function()
    local X = lowrank(80, 30, 3, 7)
    local nx = fro(tab(X))
    for _, init in ipairs{"nndsvda", "nndsvd", "nndsvdar", "random"} do
      local W, m = fm.nmf(X, {n_components = 3, init = init, max_iter = 1000, tol = 1e-10})
      assert.are.same({80, 3}, {W:shape()})
      assert.are.same({3, 30}, {m.H:shape()})
      assert.is_true(m.reconstruction_err / nx < 1e-4, init .. ": relative error " .. m.reconstruction_err / nx)
    end
    -- multiplicative updates are slower but get there too from a dense start
    local _, m = fm.nmf(X, {n_components = 3, solver = "mu", max_iter = 1000, tol = 1e-10})
    assert.is_true(m.reconstruction_err / nx < 5e-3)
  end)

  it("keeps W, H ≥ 0 and reports reconstruction_err = ‖X − W·H‖_F", function()
    local X = fm.matrix.random(60, 20, {seed = 11})
    for _, solver in ipairs{"cd", "mu"} do
      local W, m = fm.nmf(X, {n_components = 5, solver = solver, max_iter = 50})
      assert.is_true(min_entry(W) >= 0)
      assert.is_true(min_entry(m.H) >= 0)
      assert.are.equal(m.H, m.components)
      assert.are.equal(W, m.W)
      local r = residual(X, W, m.H)
      assert.is_true(math.abs(m.reconstruction_err - r) <= 1e-5 * r, solver)
      assert.is_true(math.abs(fm.core.nmf_residual(X, W, m.H) - r) <= 1e-5 * r)
    end
  end)

  it("never increases the loss from one iteration to the next (cd and mu)", function()
    local X = fm.matrix.random(120, 25, {seed = 5})
    for _, solver in ipairs{"cd", "mu"} do
      local _, m = fm.nmf(X, {n_components = 6, solver = solver, max_iter = 60, tol = 0})
      assert.are.equal(60, #m.loss_history)
      assert.is_false(m.converged)
      for i = 2, #m.loss_history do
        -- the history comes from Gram terms in float: allow rounding, not a real increase
        assert.is_true(m.loss_history[i] <= m.loss_history[i - 1] * (1 + 1e-5),
          ("%s: iteration %d: %.9g > %.9g"):format(solver, i, m.loss_history[i], m.loss_history[i - 1]))
      end
      assert.is_true(math.abs(m.loss_history[60] - m.reconstruction_err) <= 1e-3 * m.reconstruction_err)
    end
  end)

  it("stops by scikit-learn's rule: n_iter < max_iter with converged = true", function()
    local X = lowrank(50, 15, 2, 3)
    local _, m = fm.nmf(X, {n_components = 2, tol = 1e-2})
    assert.is_true(m.converged)
    assert.is_true(m.n_iter < 200)
    assert.are.equal(m.n_iter, #m.loss_history)
  end)

  it("transform of the training X gives a W with the fit's error", function()
    local X = fm.matrix.random(90, 16, {seed = 21})
    for _, solver in ipairs{"cd", "mu"} do
      local _, m = fm.nmf(X, {n_components = 4, solver = solver, max_iter = 400, tol = 1e-6})
      local Wt = m:transform(X)
      assert.are.same({90, 4}, {Wt:shape()})
      assert.is_true(min_entry(Wt) >= 0)
      local et = residual(X, Wt, m.H)
      -- H fixed, W solved for: the least-squares problem in W is convex, so no worse than the fit
      assert.is_true(et <= m.reconstruction_err * 1.01, ("%s: %g vs %g"):format(solver, et, m.reconstruction_err))
      assert.is_true(et >= m.reconstruction_err * 0.9)
    end
  end)

  it("8-bit data (q/255, read as bytes) gives the same answer as general float data", function()
    -- X = q/255 is stored once more as bytes (a quarter of the memory traffic); one entry off the
    -- 1/255 grid sends a copy down the float path: the two fits must agree to float rounding
    local R = fm.matrix.random(240, 30, {seed = 31})
    local Xq = fm.matrix.zeros(240, 30)
    for i = 1, 240 do for j = 1, 30 do Xq:set(i, j, math.floor(R:get(i, j) * 255 + 0.5) / 255) end end
    local Xf = Xq:copy()
    Xf:set(7, 3, Xq:get(7, 3) + 1e-5)
    -- (builds without AVX-512 have no byte path: nmf_byte_scale is then always nil)
    local s = fm.core.nmf_byte_scale(Xq)
    if s then assert.is_true(math.abs(s - 1 / 255) < 1e-9) end
    assert.is_nil(fm.core.nmf_byte_scale(Xf))
    for _, solver in ipairs{"cd", "mu"} do
      local Wq, mq = fm.nmf(Xq, {n_components = 4, solver = solver, max_iter = 30})
      local Wf, mf = fm.nmf(Xf, {n_components = 4, solver = solver, max_iter = 30})
      assert.are.equal(mf.n_iter, mq.n_iter)
      assert.is_true(math.abs(mq.reconstruction_err - mf.reconstruction_err) < 1e-4 * mf.reconstruction_err)
      assert.is_true(max_abs_diff(tab(Wq), tab(Wf)) < 1e-3)
      local tq, tf = tab(mq:transform(Xq)), tab(mf:transform(Xf))
      assert.is_true(max_abs_diff(tq, tf) < 1e-3)
    end
  end)

  it("inverse_transform is W·H", function()
    local X = fm.matrix.random(30, 8, {seed = 2})
    local W, m = fm.nmf(X, {n_components = 3})
    local Xh = tab(m:inverse_transform(W))
    local w, h = tab(W), tab(m.H)
    for i = 1, 30 do
      for j = 1, 8 do
        local v = 0
        for t = 1, 3 do v = v + w[i][t] * h[t][j] end
        assert.is_true(math.abs(Xh[i][j] - v) < 1e-5)
      end
    end
  end)

  it("matches scikit-learn 1.2.1 (err, n_iter and transform) when the SVD is exact", function()
    local fx = H.fixture("nmf_sklearn.json")
    local rows = {}
    for i, r in ipairs(fx.q) do
      rows[i] = {}
      for j, v in ipairs(r) do rows[i][j] = v / 255 end
    end
    local X = fm.matrix(rows)
    for _, c in ipairs(fx.cases) do
      local what = ("%s/%s/k=%d"):format(c.init, c.solver, c.n_components)
      local _, m = fm.nmf(X, {n_components = math.tointeger(c.n_components), init = c.init, solver = c.solver})
      assert.are.equal(c.n_iter, m.n_iter, what)
      assert.is_true(math.abs(m.reconstruction_err - c.reconstruction_err) <= 1e-4 * c.reconstruction_err,
        ("%s: %.8g vs scikit-learn %.8g"):format(what, m.reconstruction_err, c.reconstruction_err))
      local et = fm.core.nmf_residual(X, m:transform(X), m.H)
      assert.is_true(math.abs(et - c.transform_err) <= 1e-4 * c.transform_err,
        ("%s transform: %.8g vs scikit-learn %.8g"):format(what, et, c.transform_err))
    end
  end)
end)

describe("NMF initialisation", function()
  local X = fm.matrix{
    {0.9, 0.1, 0.4, 0.0, 0.7, 0.2},
    {0.3, 0.8, 0.1, 0.6, 0.0, 0.5},
    {0.5, 0.5, 0.9, 0.2, 0.3, 0.1},
    {0.0, 0.2, 0.3, 0.9, 0.8, 0.4},
    {0.7, 0.0, 0.6, 0.1, 0.2, 0.9},
    {0.2, 0.9, 0.0, 0.4, 0.6, 0.3},
    {0.6, 0.3, 0.7, 0.8, 0.1, 0.0},
    {0.1, 0.6, 0.2, 0.3, 0.9, 0.7},
  }

  it("the SVD stage equals a Jacobi SVD on a tiny case", function()
    local _, s = svd_jacobi(tab(X))
    local U, S, Vt = fm.core.nmf_svd(X, 4, 10, 4, 0)
    local st = tab(S)[1]
    for j = 1, 4 do assert.is_true(math.abs(st[j] - s[j]) < 1e-5 * s[1], "singular value " .. j) end
    -- U has orthonormal columns, and U·S·Vt is the best rank-4 approximation
    local u = tab(U)
    for a = 1, 4 do
      for b = 1, 4 do
        local dot = 0
        for i = 1, 8 do dot = dot + u[i][a] * u[i][b] end
        assert.is_true(math.abs(dot - (a == b and 1 or 0)) < 1e-5)
      end
    end
    local Us = fm.matrix(u)
    for i = 1, 8 do for j = 1, 4 do Us:set(i, j, u[i][j] * st[j]) end end
    local tail = math.sqrt(s[5] ^ 2 + s[6] ^ 2)
    assert.is_true(math.abs(residual(X, Us, Vt) - tail) < 1e-5)
  end)

  it("the randomized SVD finds the leading singular values when l < min(n, d)", function()
    -- X = U0·diag(s)·V0ᵀ with orthonormal U0 (200×8), V0 (60×8) by Gram–Schmidt
    local function orthonormal(n, r, seed)
      local A = tab(fm.matrix.random(n, r, {seed = seed, distribution = "normal"}))
      for j = 1, r do
        for p = 1, j - 1 do
          local dot = 0
          for i = 1, n do dot = dot + A[i][j] * A[i][p] end
          for i = 1, n do A[i][j] = A[i][j] - dot * A[i][p] end
        end
        local nrm = 0
        for i = 1, n do nrm = nrm + A[i][j] ^ 2 end
        nrm = math.sqrt(nrm)
        for i = 1, n do A[i][j] = A[i][j] / nrm end
      end
      return A
    end
    local sv = {100, 50, 20, 10, 5, 2, 1, 0.5}
    local U0, V0 = orthonormal(200, 8, 1), orthonormal(60, 8, 2)
    local rows = {}
    for i = 1, 200 do
      rows[i] = {}
      for j = 1, 60 do
        local v = 0
        for t = 1, 8 do v = v + U0[i][t] * sv[t] * V0[j][t] end
        rows[i][j] = v
      end
    end
    local _, S = fm.core.nmf_svd(fm.matrix(rows), 4, 2, 4, 7)
    local st = tab(S)[1]
    for j = 1, 4 do assert.is_true(math.abs(st[j] - sv[j]) < 1e-3 * sv[j], ("σ%d = %g"):format(j, st[j])) end
  end)

  it("nndsvd matches its definition on a tiny case", function()
    local Wr, Hr = nndsvd_reference(X, 3)
    local W, Hm = fm.core.nmf_init(X, 3, "nndsvd", 0)
    assert.is_true(max_abs_diff(tab(W), Wr) < 1e-4)
    assert.is_true(max_abs_diff(tab(Hm), Hr) < 1e-4)
    -- the same through fm.nmf's first iterate: nndsvd keeps exact zeros
    local zeros = 0
    for _, row in ipairs(Wr) do for _, v in ipairs(row) do if v == 0 then zeros = zeros + 1 end end end
    assert.is_true(zeros > 0)
  end)

  it("nndsvda fills NNDSVD's zeros with mean(X), nndsvdar with small random values", function()
    local W0, H0 = fm.core.nmf_init(X, 3, "nndsvd", 0)
    local Wa, Ha = fm.core.nmf_init(X, 3, "nndsvda", 0)
    local Wr, Hr = fm.core.nmf_init(X, 3, "nndsvdar", 0)
    local mean = matrix_mean(X)
    local w0, wa, wr = tab(W0), tab(Wa), tab(Wr)
    for i = 1, 8 do
      for t = 1, 3 do
        if w0[i][t] == 0 then
          assert.is_true(math.abs(wa[i][t] - mean) < 1e-6)
          assert.is_true(wr[i][t] >= 0 and wr[i][t] < mean / 10)
        else
          assert.are.equal(w0[i][t], wa[i][t])
          assert.are.equal(w0[i][t], wr[i][t])
        end
      end
    end
    assert.is_true(min_entry(Ha) > 0)
    assert.is_true(min_entry(Hr) >= 0)
    assert.is_true(min_entry(H0) >= 0)
  end)

  it("random init is avg·|N(0,1)| with avg = sqrt(mean(X)/k)", function()
    local Xb = fm.matrix.random(400, 50, {seed = 9})
    local W, Hm = fm.core.nmf_init(Xb, 5, "random", 3)
    local avg = math.sqrt(matrix_mean(Xb) / 5)
    -- E|N(0,1)| = sqrt(2/π)
    assert.is_true(math.abs(matrix_mean(W) / avg - math.sqrt(2 / math.pi)) < 0.03)
    assert.is_true(math.abs(matrix_mean(Hm) / avg - math.sqrt(2 / math.pi)) < 0.05)
    assert.is_true(min_entry(W) >= 0)
  end)
end)

describe("fm.NMF estimator", function()
  it("fit / fit_transform / transform / inverse_transform agree with fm.nmf", function()
    local X = fm.matrix.random(70, 12, {seed = 4})
    local W, m = fm.nmf(X, {n_components = 3, seed = 1})
    local est = fm.NMF{n_components = 3, seed = 1}
    local We = est:fit_transform(X)
    assert.are.same(tab(W), tab(We))
    assert.are.same(tab(m.H), tab(est.components_))
    assert.are.equal(m.reconstruction_err, est.reconstruction_err_)
    assert.are.equal(m.n_iter, est.n_iter_)
    assert.are.equal(3, est.n_components_)
    assert.are.equal(est, est:fit(X))
    assert.are.same(tab(m:transform(X)), tab(est:transform(X)))
    assert.are.same(tab(m:inverse_transform(W)), tab(est:inverse_transform(W)))
  end)

  it("defaults like scikit-learn: n_components = d, init nndsvda (random when k > min(n, d))", function()
    local X = fm.matrix.random(10, 4, {seed = 8})
    local W, m = fm.nmf(X, {max_iter = 5})
    assert.are.same({10, 4}, {W:shape()})
    assert.are.equal("nndsvda", m.init)
    assert.are.equal("cd", m.solver)
    local Xw = fm.matrix.random(3, 6, {seed = 8})
    local _, m2 = fm.nmf(Xw, {n_components = 5, max_iter = 5})
    assert.are.equal("random", m2.init)
  end)
end)

describe("NMF determinism", function()
  it("gives identical results with 1 and 2 threads", function()
    local code = [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      local fm = require "fmclust"
      local X = fm.matrix.random(3000, 40, {seed = 12})
      local out = {}
      -- Xq: 8-bit data, which takes the byte path
      local Xq = fm.matrix.zeros(3000, 40)
      for i = 1, 3000 do for j = 1, 40 do Xq:set(i, j, math.floor(X:get(i, j) * 255 + 0.5) / 255) end end
      for _, o in ipairs{{init = "nndsvda"}, {init = "random", solver = "mu"}, {init = "nndsvdar", shuffle = true},
                         {init = "nndsvda", q = true}} do
        local data = o.q and Xq or X
        o.q = nil
        o.n_components, o.max_iter, o.seed = 6, 15, 5
        local W, m = fm.nmf(data, o)
        local s = 0
        for i, row in ipairs(W:to_table()) do for j, v in ipairs(row) do s = s + v * (i + j) end end
        for i, row in ipairs(m.H:to_table()) do for j, v in ipairs(row) do s = s + v * (i - j) end end
        local Wt = m:transform(data:slice(1, 500))
        for i, row in ipairs(Wt:to_table()) do for j, v in ipairs(row) do s = s + v * j end end
        out[#out + 1] = ("%a %a %d"):format(s, m.reconstruction_err, m.n_iter)
      end
      print(table.concat(out, " | "))
      io.stdout:flush()
      os.exit(0)   -- skip lua_close: unloading the OpenMP module under live worker threads can crash
    ]]
    local env = {LUA_PATH = package.path, LUA_CPATH = package.cpath}
    env.OMP_NUM_THREADS = "1"
    local one, ok1 = H.run_lua(code, env)
    env.OMP_NUM_THREADS = "2"
    local two, ok2 = H.run_lua(code, env)
    assert.is_truthy(ok1, one)
    assert.is_truthy(ok2, two)
    assert.matches("0x", one)
    assert.are.equal(one, two)
  end)
end)

describe("NMF bad input", function()
  local X = fm.matrix.random(20, 6, {seed = 1})

  it("rejects negative values", function()
    local N = X:copy()
    N:set(3, 2, -0.5)
    assert.has_error(function() fm.nmf(N, {n_components = 2}) end,
      "bad argument #1 to 'nmf' (X has negative values: NMF needs X ≥ 0)")
    local _, m = fm.nmf(X, {n_components = 2, max_iter = 3})
    assert.has_error(function() m:transform(N) end,
      "bad argument #1 to 'transform' (X has negative values: NMF needs X ≥ 0)")
    assert.has_error(function() fm.NMF{n_components = 2}:fit(N) end,
      "bad argument #1 to 'fit' (X has negative values: NMF needs X ≥ 0)")
  end)

  it("rejects non-matrices, empty matrices and NaN/Inf", function()
    assert.has_error(function() fm.nmf({{1, 2}}, {n_components = 1}) end,
      "bad argument #1 to 'nmf' (matrix expected, got table)")
    assert.has_error(function() fm.nmf(fm.matrix.zeros(0, 3), {n_components = 1}) end,
      "bad argument #1 to 'nmf' (matrix has 0 rows, needs at least 1)")
    local B = X:copy()
    B:set(1, 1, 0 / 0)
    assert.has_error(function() fm.nmf(B, {n_components = 2}) end,
      "bad argument #1 to 'nmf' (matrix contains NaN or Inf)")
  end)

  it("checks n_components against the shape", function()
    assert.has_error(function() fm.nmf(X, {n_components = 7}) end,
      "bad argument #2 to 'nmf' (n_components must be ≤ 6 (the number of columns), got 7)")
    assert.has_error(function() fm.nmf(X, {n_components = 0}) end,
      "bad argument #2 to 'nmf' (n_components must be ≥ 1, got 0)")
    local wide = fm.matrix.random(3, 10, {seed = 1})
    assert.has_error(function() fm.nmf(wide, {n_components = 5, init = "nndsvda"}) end,
      "bad argument #2 to 'nmf' (n_components must be ≤ 3 (the number of rows) for init 'nndsvda', got 5)")
    assert.has_error(function() fm.NMF{n_components = 9}:fit(X) end,
      "bad argument #1 to 'fit' (n_components must be ≤ 6 (the number of columns), got 9)")
  end)

  it("rejects unknown options and wrong types", function()
    assert.has_error(function() fm.nmf(X, {n_component = 2}) end, "bad argument #2 to 'nmf' (unknown option 'n_component')")
    assert.has_error(function() fm.nmf(X, {n_components = 2, init = "svd"}) end)
    assert.has_error(function() fm.nmf(X, {n_components = 2, solver = "als"}) end)
    assert.has_error(function() fm.nmf(X, {n_components = 2, max_iter = 0}) end,
      "bad argument #2 to 'nmf' (max_iter must be ≥ 1, got 0)")
    assert.has_error(function() fm.nmf(X, {n_components = 2, tol = -1}) end,
      "bad argument #2 to 'nmf' (tol must be ≥ 0, got -1)")
    assert.has_error(function() fm.nmf(X, {n_components = 2.5}) end,
      "bad argument #2 to 'nmf' (n_components must be an integer, got 2.5)")
    assert.has_error(function() fm.nmf(X, {n_components = 2, seed = "x"}) end)
    assert.has_error(function() fm.nmf(X, "fast") end, "bad argument #2 to 'nmf' (options table expected, got string)")
    assert.has_error(function() fm.NMF{alpha = 1} end, "bad argument #1 to 'NMF' (unknown option 'alpha')")
  end)

  it("checks transform and inverse_transform arguments", function()
    local W, m = fm.nmf(X, {n_components = 2, max_iter = 3})
    assert.has_error(function() m:transform(fm.matrix.random(4, 5)) end,
      "bad argument #1 to 'transform' (X has 5 columns, the model was fitted on 6)")
    assert.has_error(function() m:inverse_transform(fm.matrix.random(4, 3)) end,
      "bad argument #1 to 'inverse_transform' (W has 3 columns, the model has 2 components)")
    assert.has_error(function() m:inverse_transform("W") end,
      "bad argument #1 to 'inverse_transform' (matrix expected, got string)")
    assert.has_error(function() fm.NMF{n_components = 2}:transform(X) end,
      "transform: this NMF is not fitted yet: call fit first")
    assert.are.same({20, 6}, {m:inverse_transform(W):shape()})
  end)

  it("the raw core checks its arguments too", function()
    local core = fm.core
    local N = X:copy()
    N:set(1, 1, -1)
    assert.has_error(function() core.nmf_fit(N, 2, "nndsvda", "cd", 10, 1e-4, 0, false) end)
    assert.has_error(function() core.nmf_fit(X, 9, "nndsvda", "cd", 10, 1e-4, 0, false) end)
    assert.has_error(function() core.nmf_fit(X, 2, "bogus", "cd", 10, 1e-4, 0, false) end)
    assert.has_error(function() core.nmf_fit(X, 2, "nndsvda", "cd", 0, 1e-4, 0, false) end)
    assert.has_error(function() core.nmf_transform(X, fm.matrix.random(2, 5), "cd", 10, 1e-4, 0, false) end)
    assert.has_error(function() core.nmf_svd(X, 7) end)
  end)
end)
