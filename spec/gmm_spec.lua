-- Gaussian mixtures: the scikit-learn fixture, the log-likelihood against a direct computation,
-- EM's monotone lower bound, every covariance type and initialisation, BIC/AIC parameter counts,
-- thread-count independence, and bad input.
local fm = require "fmclust"
local H = require "spec.helper"

-- n points around `centers` (a table of d-vectors) with per-cluster scale, reproducible
local function blobs(n, centers, scale, seed)
  local d = #centers[1]
  local E = fm.matrix.random(n, d, {seed = seed or 1, distribution = "normal"})
  local t = E:to_table()
  for i = 1, n do
    local c = centers[(i - 1) % #centers + 1]
    local s = type(scale) == "table" and scale[(i - 1) % #centers + 1] or scale
    for j = 1, d do t[i][j] = c[j] + s * t[i][j] * (1 + 0.3 * (j % 2)) end
  end
  return fm.matrix(t)
end

-- ---- small dense linear algebra in plain Lua (the independent side of the checks) ----

-- log det and inverse of a symmetric positive definite matrix by Gauss–Jordan elimination
local function inv_logdet(A)
  local d = #A
  local M, I = {}, {}
  for i = 1, d do
    M[i], I[i] = {}, {}
    for j = 1, d do M[i][j] = A[i][j]; I[i][j] = i == j and 1 or 0 end
  end
  local logdet = 0
  for c = 1, d do
    local p = c
    for r = c + 1, d do if math.abs(M[r][c]) > math.abs(M[p][c]) then p = r end end
    M[c], M[p] = M[p], M[c]
    I[c], I[p] = I[p], I[c]
    local piv = M[c][c]
    logdet = logdet + math.log(math.abs(piv))
    for j = 1, d do M[c][j] = M[c][j] / piv; I[c][j] = I[c][j] / piv end
    for r = 1, d do
      if r ~= c then
        local f = M[r][c]
        if f ~= 0 then
          for j = 1, d do M[r][j] = M[r][j] - f * M[c][j]; I[r][j] = I[r][j] - f * I[c][j] end
        end
      end
    end
  end
  return I, logdet
end

-- the full d×d covariance of component c in the result, whatever the covariance type
local function cov_of(res, c, d)
  local t = res.covariance_type
  local S = {}
  for i = 1, d do
    S[i] = {}
    for j = 1, d do
      if t == "full" then S[i][j] = res.covariances[c]:get(i, j)
      elseif t == "tied" then S[i][j] = res.covariances:get(i, j)
      elseif t == "diag" then S[i][j] = i == j and res.covariances:get(c, i) or 0
      else S[i][j] = i == j and res.covariances[c] or 0 end
    end
  end
  return S
end

-- per-sample log Σ_c w_c N(x | μ_c, Σ_c) and posteriors, computed directly
local function direct(res, X)
  local n, d = X:shape()
  local k = #res.weights
  local x, mu = X:to_table(), res.means:to_table()
  local comps = {}
  for c = 1, k do
    local P, ld = inv_logdet(cov_of(res, c, d))
    comps[c] = {P = P, ld = ld}
  end
  local ll, post = {}, {}
  for i = 1, n do
    local lp = {}
    for c = 1, k do
      local diff = {}
      for j = 1, d do diff[j] = x[i][j] - mu[c][j] end
      local q = 0
      for a = 1, d do
        local s = 0
        for b = 1, d do s = s + comps[c].P[a][b] * diff[b] end
        q = q + diff[a] * s
      end
      lp[c] = math.log(res.weights[c]) - 0.5 * (d * math.log(2 * math.pi) + comps[c].ld + q)
    end
    local mx = -math.huge
    for c = 1, k do mx = math.max(mx, lp[c]) end
    local s = 0
    for c = 1, k do s = s + math.exp(lp[c] - mx) end
    ll[i] = mx + math.log(s)
    post[i] = {}
    for c = 1, k do post[i][c] = math.exp(lp[c] - ll[i]) end
  end
  return ll, post
end

local function mean(t)
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return s / #t
end

local CENTERS3 = {{0, 0, 0}, {6, 1, -2}, {-3, 7, 4}}

describe("fm.gmm", function()
  it("reaches scikit-learn's log-likelihood on the blobs fixture (k = 10, full, n_init = 3)", function()
    local W = H.fixture("ward_blobs.json")
    local G = H.fixture("gmm_blobs.json")
    local X = fm.matrix(W.X)
    local res = fm.gmm(X, {n_components = 10, covariance_type = "full", n_init = 3, seed = 0})
    assert.is_true(res.log_likelihood >= G.mean_log_likelihood - 0.01,
      ("mean log-likelihood %.6f, scikit-learn %.6f"):format(res.log_likelihood, G.mean_log_likelihood))
    assert.are.equal(10 * 10 * 11 / 2 + 10 * 10 + 9, res.n_parameters)
    -- BIC follows from the log-likelihood: within 2·n·0.01 of scikit-learn's
    assert.is_true(res:bic() <= G.bic + 2 * 1500 * 0.01)
    assert.is_true(res.converged)
    assert.is_true(fm.metrics.ari(W.labels10, res.labels) > 0.9)
  end)

  for _, ct in ipairs{"full", "tied", "diag", "spherical"} do
    it(("%s: the log-likelihood and posteriors equal a direct computation"):format(ct), function()
      local X = blobs(60, CENTERS3, {1, 0.5, 2}, 3)
      local res = fm.gmm(X, {n_components = 3, covariance_type = ct, seed = 1})
      assert.are.equal(ct, res.covariance_type)
      local ll, post = direct(res, X)
      assert.is_true(math.abs(mean(ll) - res.log_likelihood) < 1e-6,
        ("direct %.8f, fmclust %.8f"):format(mean(ll), res.log_likelihood))
      assert.is_true(math.abs(res:score(X) - res.log_likelihood) < 1e-9)
      local ss = res:score_samples(X)
      for i = 1, 60 do
        assert.is_true(math.abs(ss:get(i, 1) - ll[i]) < 1e-3)
        for c = 1, 3 do assert.is_true(math.abs(res.probabilities:get(i, c) - post[i][c]) < 1e-4) end
      end
    end)
  end

  it("uses the GEMM path for d > 32 and still equals the direct computation", function()
    local centers = {{}, {}}
    for j = 1, 40 do centers[1][j] = 0; centers[2][j] = (j % 3) * 2 end
    local X = blobs(200, centers, 1, 5)
    for _, ct in ipairs{"full", "tied"} do
      local res = fm.gmm(X, {n_components = 2, covariance_type = ct, seed = 2})
      local ll = direct(res, X)
      assert.is_true(math.abs(mean(ll) - res.log_likelihood) < 1e-5,
        ("%s: direct %.8f, fmclust %.8f"):format(ct, mean(ll), res.log_likelihood))
    end
  end)

  it("responsibilities sum to 1, labels are their argmax and agree with predict", function()
    local X = blobs(300, CENTERS3, 1.5, 7)
    local res = fm.gmm(X, {n_components = 4, seed = 3})
    local P = res.probabilities
    assert.are.same({300, 4}, {P:shape()})
    for i = 1, 300 do
      local s, best = 0, 1
      for c = 1, 4 do
        local p = P:get(i, c)
        assert.is_true(p >= 0 and p <= 1)
        s = s + p
        if p > P:get(i, best) then best = c end
      end
      assert.is_true(math.abs(s - 1) < 1e-5)
      assert.are.equal(best - 1, res.labels[i])
    end
    assert.are.same(res.labels:to_table(), res:predict(X):to_table())
    local Q = res:predict_proba(X)
    for i = 1, 300, 37 do
      for c = 1, 4 do assert.is_true(math.abs(Q:get(i, c) - P:get(i, c)) < 1e-6) end
    end
    local s = 0
    for c = 1, 4 do s = s + res.weights[c] end
    assert.is_true(math.abs(s - 1) < 1e-12)
  end)

  it("EM never decreases the lower bound", function()
    local X = blobs(400, CENTERS3, {1, 2, 3}, 11)
    for _, ct in ipairs{"full", "tied", "diag", "spherical"} do
      for _, init in ipairs{"random", "kmeans"} do
        local res = fm.gmm(X, {n_components = 5, covariance_type = ct, init = init, tol = 0,
                               max_iter = 60, seed = 4})
        local lb = res.lower_bounds
        assert.are.equal(res.n_iter, #lb)
        assert.are.equal(lb[#lb], res.lower_bound)
        for i = 2, #lb do
          assert.is_true(lb[i] >= lb[i - 1] - 1e-6 * math.abs(lb[i - 1]),
            ("%s/%s: iteration %d: %.10f < %.10f"):format(ct, init, i, lb[i], lb[i - 1]))
        end
      end
    end
  end)

  it("each covariance type has scikit-learn's shapes and parameter count in BIC and AIC", function()
    local X = blobs(150, CENTERS3, 1, 13)
    local n, d, k = 150, 3, 3
    local count = {
      full = k * d * (d + 1) / 2 + k * d + k - 1,
      tied = d * (d + 1) / 2 + k * d + k - 1,
      diag = k * d + k * d + k - 1,
      spherical = k + k * d + k - 1,
    }
    for ct, p in pairs(count) do
      local res = fm.gmm(X, {n_components = k, covariance_type = ct})
      assert.are.equal(p, res.n_parameters)
      local ll = res.log_likelihood
      assert.is_true(math.abs(res:bic() - (-2 * ll * n + p * math.log(n))) < 1e-6)
      assert.is_true(math.abs(res:aic() - (-2 * ll * n + 2 * p)) < 1e-6)
      assert.is_true(math.abs(res:bic(X) - res:bic()) < 1e-6)
      assert.are.same({k, d}, {res.means:shape()})
      if ct == "full" then
        assert.are.equal(k, #res.covariances)
        assert.are.same({d, d}, {res.covariances[1]:shape()})
        assert.are.same({d, d}, {res.precisions_cholesky[2]:shape()})
        assert.are.equal(0, res.precisions_cholesky[1]:get(2, 1))   -- upper triangular
      elseif ct == "tied" then
        assert.are.same({d, d}, {res.covariances:shape()})
      elseif ct == "diag" then
        assert.are.same({k, d}, {res.covariances:shape()})
      else
        assert.are.equal(k, #res.covariances)
        assert.is_number(res.covariances[1])
      end
    end
  end)

  it("runs every initialisation; init_params is accepted as an alias", function()
    local X = blobs(300, CENTERS3, 0.5, 17)
    for _, init in ipairs{"kmeans", "k-means++", "random", "random_from_data"} do
      local res = fm.gmm(X, {n_components = 3, init = init, n_init = 2, seed = 5})
      assert.is_true(res.log_likelihood > -10, init)
      assert.is_true(res.best_init == 1 or res.best_init == 2)
    end
    local a = fm.gmm(X, {n_components = 3, init = "random", seed = 5})
    local b = fm.gmm(X, {n_components = 3, init_params = "random", seed = 5})
    assert.are.equal(a.log_likelihood, b.log_likelihood)
    -- well-separated blobs: k-means initialisation finds them
    local res = fm.gmm(X, {n_components = 3})
    local truth = {}
    for i = 1, 300 do truth[i] = (i - 1) % 3 end
    assert.are.equal(1, fm.metrics.ari(truth, res.labels))
  end)

  it("max_iter = 0 keeps the initial parameters", function()
    local X = blobs(90, CENTERS3, 1, 19)
    local res = fm.gmm(X, {n_components = 3, max_iter = 0})
    assert.are.equal(0, res.n_iter)
    assert.is_false(res.converged)
    assert.are.equal(-math.huge, res.lower_bound)
    assert.is_true(res.log_likelihood > -math.huge)
  end)

  it("the same seed gives the same fit with 1 and 2 threads", function()
    local X = blobs(3000, CENTERS3, {1, 2, 3}, 23)
    local function run()
      local out = {}
      for _, ct in ipairs{"full", "diag"} do
        for _, init in ipairs{"kmeans", "random"} do
          local r = fm.gmm(X, {n_components = 6, covariance_type = ct, init = init, n_init = 2, seed = 9})
          out[#out + 1] = ("%.17g %d %s"):format(r.log_likelihood, r.n_iter,
            table.concat(r.labels:to_table(), "", 1, 300))
          out[#out + 1] = ("%.9g %.9g"):format(r.means:get(2, 3), r.probabilities:get(77, 2))
        end
      end
      return table.concat(out, "\n")
    end
    fm.set_threads(1)
    local one = run()
    fm.set_threads(2)
    local two = run()
    assert.are.equal(one, two)
    local code = [[
      local fm = require "fmclust"
      local X = fm.matrix.random(20000, 4, {seed = 3, distribution = "normal"})
      local r = fm.gmm(X, {n_components = 5, n_init = 2, seed = 1})
      local h = 0
      for i = 1, #r.labels do h = (h * 31 + r.labels[i]) % 1000000007 end
      io.write(fm.info().omp_threads, " ", ("%.17g %d %d"):format(r.log_likelihood, r.n_iter, h))
      io.stdout:flush()
      -- leave without lua_close: unloading the module while OpenMP workers spin can crash at exit
      os.exit(0, false)
    ]]
    local o1 = H.run_lua(code, {OMP_NUM_THREADS = "1"})
    local o2 = H.run_lua(code, {OMP_NUM_THREADS = "2"})
    assert.matches("^1 ", o1)
    assert.matches("^2 ", o2)
    assert.are.equal(o1:sub(3), o2:sub(3))
  end)

  it("rejects bad input with errors naming the argument", function()
    local X = blobs(20, CENTERS3, 1, 29)
    assert.has_error(function() fm.gmm(X, {n_components = 21}) end,
      "bad argument #2 to 'gmm' (n_components must be ≤ 20 (the number of rows), got 21)")
    assert.has_error(function() fm.gmm(X, {n_components = 0}) end,
      "bad argument #2 to 'gmm' (n_components must be ≥ 1, got 0)")
    assert.has_error(function() fm.gmm(X, {reg_covar = -1e-6}) end,
      "bad argument #2 to 'gmm' (reg_covar must be ≥ 0, got -1e-06)")
    assert.has_error(function() fm.gmm(X, {tol = -1}) end, "bad argument #2 to 'gmm' (tol must be ≥ 0, got -1)")
    assert.has_error(function() fm.gmm(X, {covariance_type = "ful"}) end,
      'bad argument #2 to \'gmm\' (covariance_type must be one of "full", "tied", "diag", "spherical", got \'ful\')')
    assert.has_error(function() fm.gmm(X, {init = "kmeans++"}) end)
    assert.has_error(function() fm.gmm(X, {init = "random", init_params = "kmeans"}) end,
      "bad argument #2 to 'gmm' (init and init_params disagree)")
    assert.has_error(function() fm.gmm(X, {n_component = 2}) end,
      "bad argument #2 to 'gmm' (unknown option 'n_component')")
    assert.has_error(function() fm.gmm(X, {n_init = 0}) end)
    assert.has_error(function() fm.gmm(X, {max_iter = 1.5}) end)
    assert.has_error(function() fm.gmm(X, {seed = "x"}) end)
    assert.has_error(function() fm.gmm({{1, 2}}, {}) end, "bad argument #1 to 'gmm' (matrix expected, got table)")
    assert.has_error(function() fm.gmm(fm.matrix.zeros(0, 3)) end,
      "bad argument #1 to 'gmm' (matrix has no rows)")
    local Y = X:copy()
    Y:set(3, 2, 0 / 0)
    assert.has_error(function() fm.gmm(Y, {n_components = 2}) end,
      "bad argument #1 to 'gmm' (matrix contains NaN or Inf)")
    Y:set(3, 2, math.huge)
    assert.has_error(function() fm.gmm(Y, {n_components = 2}) end)
    -- collapsed samples without regularisation: scikit-learn's advice in the message
    local D = fm.matrix{{1, 1}, {1, 1}, {1, 1}, {5, 5}, {5, 5}, {5, 5}}
    local ok, err = pcall(fm.gmm, D, {n_components = 2, reg_covar = 0})
    assert.is_false(ok)
    assert.matches("ill%-defined empirical covariance", err)
    assert.matches("reg_covar", err)
    assert.is_true(pcall(fm.gmm, D, {n_components = 2}))   -- the default reg_covar copes
    -- predicting on another width
    local res = fm.gmm(X, {n_components = 2})
    assert.has_error(function() res:predict(fm.matrix.zeros(3, 2)) end,
      "bad argument #1 to 'predict' (matrix has 2 columns, the model was fitted on 3)")
    assert.has_error(function() res:score("x") end, "bad argument #1 to 'score' (matrix expected, got string)")
    assert.has_error(function() res:predict_proba(Y) end,
      "bad argument #1 to 'predict_proba' (matrix contains NaN or Inf)")
  end)
end)

describe("fm.GaussianMixture", function()
  it("fits like fm.gmm and predicts, scores, and gives BIC/AIC on new data", function()
    local X = blobs(300, CENTERS3, {1, 0.5, 2}, 31)
    local gm = fm.GaussianMixture{n_components = 3, covariance_type = "diag", seed = 2}
    assert.has_error(function() gm:predict(X) end)
    assert.are.equal(gm, gm:fit(X))
    local res = fm.gmm(X, {n_components = 3, covariance_type = "diag", seed = 2})
    assert.are.equal(res.log_likelihood, gm:score(X))
    assert.are.same(res.labels:to_table(), gm:predict(X):to_table())
    assert.are.same(res.labels:to_table(), gm.labels_:to_table())
    assert.are.equal(res.lower_bound, gm.lower_bound_)
    assert.are.equal(res.n_iter, gm.n_iter_)
    assert.are.equal(res.converged, gm.converged_)
    assert.are.same({3, 3}, {gm.means_:shape()})
    assert.are.equal(3, #gm.weights_)
    assert.is_true(math.abs(gm:bic(X) - res:bic()) < 1e-6)
    assert.is_true(math.abs(gm:aic(X) - res:aic()) < 1e-6)
    local P = gm:predict_proba(X:slice(1, 5))
    assert.are.same({5, 3}, {P:shape()})
    assert.are.same({5, 1}, {gm:score_samples(X:slice(1, 5)):shape()})
    assert.are.same(res.labels:to_table(), gm:fit_predict(X):to_table())
    assert.are.equal(3, gm:get_params().n_components)
  end)

  it("rejects bad options at construction and bad data at fit", function()
    assert.has_error(function() fm.GaussianMixture{covariance_type = "none"} end)
    assert.has_error(function() fm.GaussianMixture{n_components = 2, foo = 1} end,
      "bad argument #1 to 'GaussianMixture' (unknown option 'foo')")
    local gm = fm.GaussianMixture{n_components = 5}
    assert.has_error(function() gm:fit(fm.matrix.zeros(3, 2)) end,
      "bad argument #1 to 'fit' (n_components must be ≤ 3 (the number of rows), got 5)")
    assert.has_error(function() gm:score(fm.matrix.zeros(3, 2)) end,
      "score: this GaussianMixture is not fitted yet; call gm:fit(X) first")
  end)
end)
