-- fm.umap / fm.UMAP: the stages one by one, the fit, determinism across thread counts,
-- transform, save/load, densMAP, the mutual-kNN graph, progress output and bad input.
local fm = require "fmclust"
local H = require "spec.helper"

local S = fm.umap_stages
local Xall, yall = fm.data.fashion_mnist{split = "test"}
local X1k = Xall:slice(1, 1000)

-- share of each point's 10 nearest embedded neighbours carrying its label
local function knn_purity(E, y, offset)
  local g = fm.knn(E, {k = 10, method = "exact"})
  local n = #E
  local same = 0
  for i = 1, n do
    for j = 1, 10 do
      if y[g.indices:get(i, j) + (offset or 0)] == y[i + (offset or 0)] then same = same + 1 end
    end
  end
  return same / (10 * n)
end

describe("UMAP stages", function()
  it("find_ab matches umap-learn's curve fit (min_dist 0.1, spread 1)", function()
    local a, b = S.find_ab(1.0, 0.1)
    assert.is_true(math.abs(a - 1.5769434603113077) < 1e-3, a)
    assert.is_true(math.abs(b - 0.8950608779109733) < 1e-3, b)
    local a2, b2 = S.find_ab(1.0, 0.0)   -- umap-learn 0.5.3: 1.93281, 0.79049
    assert.is_true(math.abs(a2 - 1.93281) < 1e-3 and math.abs(b2 - 0.79049) < 1e-3, a2 .. " " .. b2)
    local a3, b3 = S.find_ab(2.0, 0.5)   -- 0.25888, 1.05750
    assert.is_true(math.abs(a3 - 0.25888) < 1e-3 and math.abs(b3 - 1.05750) < 1e-3, a3 .. " " .. b3)
  end)

  it("knn_lists: the point itself first at distance 0, then its nearest by brute force", function()
    local X = fm.matrix.random(120, 5, {seed = 4, distribution = "normal"})
    local x = X:to_table()
    local I, D = S.knn_lists(X, 6, {seed = 0})
    assert.are.same({120, 6}, {I:shape()})
    for i = 1, 120 do
      local ds = {}
      for j = 1, 120 do
        if j ~= i then
          local s = 0
          for c = 1, 5 do s = s + (x[i][c] - x[j][c]) ^ 2 end
          ds[#ds + 1] = {j = j, d = math.sqrt(s)}
        end
      end
      table.sort(ds, function(a, b) return a.d < b.d end)
      assert.are.equal(i, I:get(i, 1))
      assert.are.equal(0, D:get(i, 1))
      for r = 1, 5 do
        assert.are.equal(ds[r].j, I:get(i, r + 1))
        assert.is_true(math.abs(D:get(i, r + 1) - ds[r].d) <= 1e-4 * (1 + ds[r].d))
      end
    end
    assert.has_error(function() S.knn_lists(X, 1) end)
  end)

  it("smooth_knn_dist: rho is the nearest nonzero distance and the memberships sum to log2 k", function()
    local D = fm.matrix{{0, 0.5, 0.7, 1.0, 1.2, 2.0}, {0, 0, 0.3, 0.4, 0.9, 1.0}}
    local sigma, rho = S.smooth_knn_dist(D, 6, 1, 1)
    assert.is_true(math.abs(rho:get(1, 1) - 0.5) < 1e-7)
    assert.is_true(math.abs(rho:get(2, 1) - 0.3) < 1e-7)
    for i = 1, 2 do
      local s = 0
      for j = 2, 6 do
        local d = D:get(i, j) - rho:get(i, 1)
        s = s + (d > 0 and math.exp(-d / sigma:get(i, 1)) or 1)
      end
      assert.is_true(math.abs(s - math.log(6, 2)) < 1e-4, s)
    end
    -- local_connectivity 2: rho is the second nonzero distance
    local _, rho2 = S.smooth_knn_dist(D, 6, 2, 1)
    assert.is_true(math.abs(rho2:get(1, 1) - 0.7) < 1e-7)
  end)

  it("membership strengths: 0 for the point itself, 1 for the nearest, decreasing", function()
    local I = fm.matrix{{1, 2, 3}, {2, 1, 3}, {3, 2, 1}}
    local D = fm.matrix{{0, 1, 2}, {0, 1, 1.5}, {0, 1.5, 2}}
    local sigma, rho = S.smooth_knn_dist(D, 3, 1, 1)
    local V = S.membership_strengths(I, D, sigma, rho)
    for i = 1, 3 do
      assert.are.equal(0, V:get(i, 1))
      assert.are.equal(1, V:get(i, 2))
      assert.is_true(V:get(i, 3) < 1 and V:get(i, 3) > 0)
    end
  end)

  it("fuzzy union is P + Pᵀ − P∘Pᵀ (mix 1), P∘Pᵀ (mix 0), symmetric", function()
    local I = fm.matrix{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}
    local V = fm.matrix{{0, 0.8, 0.2}, {0, 0.5, 0.6}, {0, 1.0, 0.3}}
    local W = S.fuzzy_union(I, V, 1.0)
    local P = {{0, 0.8, 0.2}, {0.6, 0, 0.5}, {1.0, 0.3, 0}}
    for i = 1, 3 do
      for j = 1, 3 do
        local p, t = P[i][j], P[j][i]
        assert.is_true(math.abs(W:get(i, j) - (p + t - p * t)) < 1e-6)
        assert.are.equal(W:get(i, j), W:get(j, i))
      end
    end
    local W0 = S.fuzzy_union(I, V, 0.0)
    assert.is_true(math.abs(W0:get(1, 2) - 0.8 * 0.6) < 1e-6)
    assert.are.equal(0, W0:get(1, 1))
  end)

  it("spectral init: Lanczos agrees with the dense eigensolver on a 2,000-point graph", function()
    local X = Xall:slice(1, 2000)
    local g = fm.knn(X, {k = 14, method = "exact"})
    -- kNN lists with the point itself first, weights from the membership stage
    local I = fm.matrix.zeros(2000, 15)
    local D = fm.matrix.zeros(2000, 15)
    for i = 1, 2000 do
      I:set(i, 1, i)
      for j = 1, 14 do I:set(i, j + 1, g.indices:get(i, j)); D:set(i, j + 1, g.distances:get(i, j)) end
    end
    local sigma, rho = S.smooth_knn_dist(D, 15, 1, 1)
    local V = S.membership_strengths(I, D, sigma, rho)
    local El, conv, ncomp = S.spectral(I, V, 2, 0, "lanczos")
    local Ed = S.spectral(I, V, 2, 0, "dense")
    assert.is_true(conv)
    assert.are.equal(1, ncomp)
    for c = 1, 2 do
      local dot, nl, nd = 0, 0, 0
      for i = 1, 2000 do
        dot = dot + El:get(i, c) * Ed:get(i, c)
        nl, nd = nl + El:get(i, c) ^ 2, nd + Ed:get(i, c) ^ 2
      end
      assert.is_true(math.abs(dot) / math.sqrt(nl * nd) > 0.99, "column " .. c)
    end
  end)

  it("mutual kNN keeps only mutual pairs, ties isolated points, re-ranks by path length", function()
    -- mutual pairs: 1–2, 1–4, 4–5; nobody lists 3, so 3 is tied to its nearest (2)
    local I = fm.matrix{{1, 2, 4}, {2, 1, 4}, {3, 2, 1}, {4, 5, 1}, {5, 4, 2}}
    local D = fm.matrix{{0, 1, 2}, {0, 1, 3}, {0, 2, 3}, {0, 1, 2}, {0, 1, 3}}
    local I2, D2, iso = S.mutual_knn(I, D)
    assert.are.equal(1, iso)
    assert.are.same({1, 2, 4}, I2:to_table()[1])
    assert.are.equal(2, D2:get(1, 3))
    assert.are.same({3, 2, 1}, I2:to_table()[3])   -- 1 reached through 2: 2 + 1
    assert.are.equal(3, D2:get(3, 3))
    assert.are.same({5, 4, 1}, I2:to_table()[5])   -- 2–4 and 2–5 are not mutual
    assert.are.equal(3, D2:get(5, 3))
    local I3 = S.mutual_knn(I, D, "nearest")
    assert.are.same(I2:to_table(), I3:to_table())
  end)

  it("mutual kNN: min_tree joins mutual components that nearest leaves apart", function()
    -- mutual pairs 1–2 and 3–4, no isolated point; the shortest one-way edge is 1 → 3 (5)
    local I = fm.matrix{{1, 2, 3}, {2, 1, 4}, {3, 4, 2}, {4, 3, 1}}
    local D = fm.matrix{{0, 1, 5}, {0, 1, 7}, {0, 1, 6}, {0, 1, 8}}
    local In, _, iso = S.mutual_knn(I, D, "nearest")
    assert.are.equal(0, iso)
    assert.are.same({1, 2, 0}, In:to_table()[1])     -- padded: 3 and 4 are out of reach
    local Im, Dm = S.mutual_knn(I, D, "min_tree")
    assert.are.same({1, 2, 3}, Im:to_table()[1])
    assert.are.equal(5, Dm:get(1, 3))
    assert.are.same({3, 4, 1}, Im:to_table()[3])
  end)
end)

describe("fm.umap", function()
  local y = {}
  for i = 1, 1000 do y[i] = yall[i] end

  it("embeds 1,000 images with neighbourhoods that keep the classes together", function()
    local m = fm.umap(X1k, {n_components = 2, seed = 3, n_epochs = 200})
    assert.are.same({1000, 2}, {m.embedding:shape()})
    assert.is_false(m.embedding:has_nonfinite())
    assert.are.equal("spectral", m.init_used)
    assert.is_true(math.abs(m.a - 1.577) < 1e-2)
    local p = knn_purity(m.embedding, y)
    assert.is_true(p > 0.6, p)   -- umap-learn 0.5.3 on these 1,000 images: 0.628–0.632
  end)

  it("is bit-identical with 1 and 2 threads, and the same for the same seed", function()
    local X = Xall:slice(1, 1800)   -- > 1,500: the Lanczos path
    local opts = {n_components = 3, seed = 11, n_epochs = 60, knn_method = "nndescent"}
    fm.set_threads(1)
    local a = fm.umap(X, opts).embedding:to_table()
    fm.set_threads(2)
    local b = fm.umap(X, opts).embedding:to_table()
    assert.are.same(a, b)
    local c = fm.umap(X, {n_components = 3, seed = 12, n_epochs = 60, knn_method = "nndescent"}).embedding:to_table()
    assert.are_not.same(a, c)
    -- and with OMP_NUM_THREADS in a fresh process
    local code = [[
      local fm = require "fmclust"
      local X = fm.data.fashion_mnist{split = "test"}:slice(1, 600)
      local E = fm.umap(X, {n_components = 2, seed = 4, n_epochs = 40}).embedding
      local t = {}
      for i = 1, 600, 37 do t[#t + 1] = ("%a %a"):format(E:get(i, 1), E:get(i, 2)) end
      io.write(fm.info().omp_threads, " ", table.concat(t, ","))
    ]]
    local o1 = H.run_lua(code, {OMP_NUM_THREADS = "1"})
    local o2 = H.run_lua(code, {OMP_NUM_THREADS = "2"})
    assert.matches("^1 ", o1)
    assert.matches("^2 ", o2)
    assert.are.equal(o1:sub(3), o2:sub(3))
  end)

  it("transform places held-out points near their class; save/load transforms identically", function()
    local Xtr, Xte = Xall:slice(1, 1200), Xall:slice(1201, 1500)
    local est = fm.UMAP{n_components = 2, seed = 2, n_epochs = 150}
    local E = est:fit_transform(Xtr)
    local Z = est:transform(Xte)
    assert.are.same({300, 2}, {Z:shape()})
    assert.is_false(Z:has_nonfinite())
    -- label of each transformed point's nearest training embedding
    local I = fm.knn_query(E, Z, 5)
    local ok = 0
    for i = 1, 300 do
      local votes = {}
      for j = 1, 5 do
        local l = yall[I:get(i, j)]
        votes[l] = (votes[l] or 0) + 1
      end
      local best, bl = -1, nil
      for l, v in pairs(votes) do if v > best then best, bl = v, l end end
      if bl == yall[1200 + i] then ok = ok + 1 end
    end
    assert.is_true(ok / 300 > 0.6, ok / 300)
    local path = os.tmpname()
    est:save(path)
    local m2 = assert(fm.UMAP.load(path))
    os.remove(path)
    assert.are.same(est.embedding:to_table(), m2.embedding:to_table())
    assert.are.equal(est.a, m2.a)
    assert.are.same(Z:to_table(), m2:transform(Xte):to_table())
    assert.is_nil((fm.UMAP.load("/nonexistent/model.fmu")))
  end)

  it("densMAP runs and its embedded radii follow the data's", function()
    local m = fm.umap(X1k, {n_components = 2, seed = 1, n_epochs = 150, densmap = true, output_dens = true})
    assert.is_false(m.embedding:has_nonfinite())
    local ro, re = m.rad_orig:to_table(), m.rad_emb:to_table()
    local n, sx, sy, sxx, syy, sxy = #ro, 0, 0, 0, 0, 0
    for i = 1, n do
      local a, b = ro[i][1], re[i][1]
      sx, sy, sxx, syy, sxy = sx + a, sy + b, sxx + a * a, syy + b * b, sxy + a * b
    end
    local r = (n * sxy - sx * sy) / math.sqrt((n * sxx - sx ^ 2) * (n * syy - sy ^ 2))
    assert.is_true(r > 0.3, "correlation " .. r)
  end)

  it("the mutual-kNN graph gives a finite, class-preserving embedding", function()
    local m = fm.umap(X1k, {n_components = 2, seed = 1, n_epochs = 150, graph = "mutual"})
    assert.is_false(m.embedding:has_nonfinite())
    assert.is_true(m.n_isolated >= 0)
    assert.is_true(knn_purity(m.embedding, y) > 0.6)
  end)

  it("reports progress on stderr with verbose = true", function()
    local out = H.run_lua([[
      local fm = require "fmclust"
      local X = fm.matrix.random(200, 5, {seed = 1})
      fm.umap(X, {n_epochs = 20, verbose = true})
    ]])
    assert.matches("%[umap%]%s+[%d.]+s%s+exact 15%-NN graph", out)
    assert.matches("epoch 20/20", out)
  end)

  it("the cosine metric and the exact/nndescent kNN choices work", function()
    local X = X1k:slice(1, 400)
    local m = fm.umap(X, {metric = "cosine", n_epochs = 50, knn_method = "nndescent", seed = 2})
    assert.are.equal("nndescent", m.knn_method)
    assert.is_false(m.embedding:has_nonfinite())
    local m2 = fm.umap(X, {metric = "cosine", n_epochs = 50, knn_method = "exact", seed = 2})
    assert.are.equal("exact", m2.knn_method)
    assert.is_false(m2.embedding:has_nonfinite())
  end)

  it("pca and random inits work", function()
    for _, init in ipairs{"pca", "random"} do
      local m = fm.umap(X1k:slice(1, 300), {init = init, n_epochs = 50})
      assert.are.equal(init, m.init_used)
      assert.is_false(m.embedding:has_nonfinite())
    end
  end)
end)

describe("fm.umap bad input", function()
  local X = fm.matrix.random(30, 4, {seed = 1})
  it("rejects NaN/Inf, bad sizes, unknown options", function()
    local B = X:copy()
    B:set(3, 3, 0 / 0)
    assert.has_error(function() fm.umap(B) end, "bad argument #1 to 'umap' (matrix contains NaN or Inf)")
    assert.has_error(function() fm.umap(X, {n_neighbors = 1}) end,
      "bad argument #2 to 'umap' (n_neighbors must be ≥ 2, got 1)")
    assert.has_error(function() fm.umap(X, {n_neighbors = 30}) end,
      "bad argument #2 to 'umap' (n_neighbors must be < 30 (the number of rows), got 30)")
    assert.has_error(function() fm.umap(X, {n_components = 0}) end,
      "bad argument #2 to 'umap' (n_components must be ≥ 1, got 0)")
    assert.has_error(function() fm.umap(X, {n_components = 29}) end,
      "bad argument #2 to 'umap' (n_components must be ≤ 28 (the number of rows − 2), got 29)")
    assert.has_error(function() fm.umap(X, {n_neighbours = 5}) end,
      "bad argument #2 to 'umap' (unknown option 'n_neighbours')")
    assert.has_error(function() fm.umap(X, {init = "tsne"}) end)
    assert.has_error(function() fm.umap(X, {min_dist = "small"}) end)
    assert.has_error(function() fm.umap("X") end, "bad argument #1 to 'umap' (matrix expected, got string)")
    assert.has_error(function() fm.UMAP{}:transform(X) end)
  end)

  it("n smaller than the default k is an error naming it, not a crash", function()
    assert.has_error(function() fm.umap(fm.matrix.random(10, 3, {seed = 1})) end,
      "bad argument #2 to 'umap' (n_neighbors must be < 10 (the number of rows), got 15)")
  end)

  it("duplicate points (zero distances) give a finite embedding", function()
    local rows = {}
    for i = 1, 60 do rows[i] = {i % 3, (i % 3) * 2, 1} end   -- three points, 20 copies each
    local m = fm.umap(fm.matrix(rows), {n_neighbors = 5, n_epochs = 50})
    assert.is_false(m.embedding:has_nonfinite())
  end)

  it("a disconnected graph falls back to PCA initialisation and stays finite", function()
    local rows = {}
    for i = 1, 80 do
      local off = i <= 40 and 0 or 1000
      rows[i] = {off + math.sin(i), off + math.cos(i * 1.3), off + (i % 7) / 7}
    end
    local m = fm.umap(fm.matrix(rows), {n_neighbors = 5, n_epochs = 50})
    assert.is_true(m.n_graph_components >= 2)
    assert.are.equal("pca", m.init_used)
    assert.is_false(m.embedding:has_nonfinite())
  end)
end)
