-- fm.knn: exact (against scikit-learn's brute force) and NN-descent, fm.knn_query, bad input.
local fm = require "fmclust"
local H = require "spec.helper"

local fixture = H.fixture("knn_fmnist_test2000.json")
local X2000 = fm.data.fashion_mnist{split = "test"}:slice(1, 2000)

-- brute force in Lua over a small table of rows: sorted {index, distance} lists
local function brute(rows, q, metric)
  local out = {}
  for j, r in ipairs(rows) do
    local s, na, nb, dot = 0, 0, 0, 0
    for c = 1, #r do
      s = s + (q[c] - r[c]) ^ 2
      na, nb, dot = na + q[c] ^ 2, nb + r[c] ^ 2, dot + q[c] * r[c]
    end
    local d
    if metric == "cosine" then
      d = (na > 0 and nb > 0) and 1 - dot / math.sqrt(na * nb) or 1
    else
      d = math.sqrt(s)
    end
    out[#out + 1] = {j, d}
  end
  table.sort(out, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  return out
end

describe("fm.knn exact", function()
  it("equals scikit-learn's brute force on 2,000 Fashion-MNIST images (indices; distances to 1e-4)", function()
    local g = fm.knn(X2000, {k = 15, method = "exact"})
    assert.are.equal("exact", g.method)
    assert.are.same({2000, 15}, {g.indices:shape()})
    local bad, maxerr = 0, 0
    for i = 1, 2000 do
      for j = 1, 15 do
        if g.indices:get(i, j) ~= fixture.indices[i][j] + 1 then bad = bad + 1 end
        maxerr = math.max(maxerr, math.abs(g.distances:get(i, j) - fixture.distances[i][j]))
      end
    end
    assert.are.equal(0, bad)
    assert.is_true(maxerr < 1e-4)
  end)

  it("matches a brute force for both metrics, never lists the point itself", function()
    local X = fm.matrix.random(60, 5, {seed = 3, distribution = "normal"})
    X:set(7, 1, 0); X:set(7, 2, 0); X:set(7, 3, 0); X:set(7, 4, 0); X:set(7, 5, 0)   -- a zero row
    local rows = X:to_table()
    for _, metric in ipairs{"euclidean", "cosine"} do
      local g = fm.knn(X, {k = 6, metric = metric, method = "exact"})
      for i = 1, 60 do
        local b = brute(rows, rows[i], metric)
        local pos = 1
        for j = 1, 6 do
          if b[pos][1] == i then pos = pos + 1 end
          assert.are.equal(b[pos][1], g.indices:get(i, j))
          assert.is_true(math.abs(b[pos][2] - g.distances:get(i, j)) < 1e-5)
          pos = pos + 1
        end
      end
    end
  end)

  it("handles duplicate points (zero distances, ties broken by index)", function()
    local X = fm.matrix{{1, 1}, {1, 1}, {1, 1}, {5, 5}}
    local g = fm.knn(X, {k = 2, method = "exact"})
    assert.are.same({2, 3}, {g.indices:get(1, 1), g.indices:get(1, 2)})
    assert.are.same({0, 0}, {g.distances:get(1, 1), g.distances:get(1, 2)})
    assert.are.same({1, 2}, {g.indices:get(4, 1), g.indices:get(4, 2)})
  end)
end)

describe("fm.knn nndescent", function()
  it("reaches recall@15 ≥ 0.95 against the exact graph", function()
    local g = fm.knn(X2000, {k = 15, method = "nndescent", seed = 1})
    assert.are.equal("nndescent", g.method)
    local hits = 0
    for i = 1, 2000 do
      local truth = {}
      for j = 1, 15 do truth[fixture.indices[i][j] + 1] = true end
      for j = 1, 15 do if truth[g.indices:get(i, j)] then hits = hits + 1 end end
    end
    assert.is_true(hits / (2000 * 15) >= 0.95, "recall " .. hits / 30000)
    -- rows ascending, self excluded, distances exact for the listed pairs
    for i = 1, 2000, 97 do
      for j = 1, 15 do
        assert.are_not.equal(i, g.indices:get(i, j))
        if j > 1 then assert.is_true(g.distances:get(i, j) >= g.distances:get(i, j - 1)) end
      end
    end
  end)

  it("is the same graph for 1 and 2 threads, and for a repeated seed", function()
    local X = X2000:slice(1, 1500)
    fm.set_threads(1)
    local a = fm.knn(X, {k = 10, method = "nndescent", seed = 5, metric = "cosine"})
    fm.set_threads(2)
    local b = fm.knn(X, {k = 10, method = "nndescent", seed = 5, metric = "cosine"})
    assert.are.same(a.indices:to_table(), b.indices:to_table())
    assert.are.same(a.distances:to_table(), b.distances:to_table())
  end)

  it("works when leaves are tiny and for very small n", function()
    local X = fm.matrix.random(12, 3, {seed = 2})
    local g = fm.knn(X, {k = 11, method = "nndescent", leaf_size = 2, n_trees = 2})
    local e = fm.knn(X, {k = 11, method = "exact"})
    assert.are.equal(1, fm.knn_recall(g.indices, e.indices))
  end)
end)

describe("fm.knn_query", function()
  it("finds the nearest data rows of new points, from the data or a graph", function()
    local X = fm.matrix.random(80, 4, {seed = 8, distribution = "normal"})
    local Q = fm.matrix.random(7, 4, {seed = 9, distribution = "normal"})
    local I, D = fm.knn_query(X, Q, 3)
    local rows, qs = X:to_table(), Q:to_table()
    for i = 1, 7 do
      local b = brute(rows, qs[i], "euclidean")
      for j = 1, 3 do
        assert.are.equal(b[j][1], I:get(i, j))
        assert.is_true(math.abs(b[j][2] - D:get(i, j)) < 1e-5)
      end
    end
    local g = fm.knn(X, {k = 5})
    local I2 = g:query(Q, 3)
    assert.are.same(I:to_table(), I2:to_table())
    local I3 = fm.knn_query(g, Q, 3)
    assert.are.same(I:to_table(), I3:to_table())
  end)
end)

describe("fm.knn bad input", function()
  local X = fm.matrix.random(10, 3, {seed = 1})
  it("rejects k ≥ n, k < 1, unknown options, wrong types", function()
    assert.has_error(function() fm.knn(X, {k = 10}) end,
      "bad argument #2 to 'knn' (k must be ≤ 9 (the number of rows − 1), got 10)")
    assert.has_error(function() fm.knn(X, {k = 0}) end, "bad argument #2 to 'knn' (k must be ≥ 1, got 0)")
    assert.has_error(function() fm.knn(X, {kk = 3}) end, "bad argument #2 to 'knn' (unknown option 'kk')")
    assert.has_error(function() fm.knn(X, {metric = "manhattan"}) end)
    assert.has_error(function() fm.knn({}, {k = 3}) end, "bad argument #1 to 'knn' (matrix expected, got table)")
  end)
  it("rejects NaN/Inf, empty matrices, mismatched queries", function()
    local B = X:copy()
    B:set(2, 2, 0 / 0)
    assert.has_error(function() fm.knn(B, {k = 3}) end, "bad argument #1 to 'knn' (matrix contains NaN or Inf)")
    assert.has_error(function() fm.knn(fm.matrix.zeros(0, 3), {k = 1}) end)
    assert.has_error(function() fm.knn_query(X, fm.matrix.zeros(2, 4), 3) end,
      "bad argument #2 to 'knn_query' (queries have 4 columns, the data has 3)")
    assert.has_error(function() fm.knn_query(X, fm.matrix.zeros(2, 3), 11) end,
      "bad argument #3 to 'knn_query' (k must be in 1..10 (the number of data rows), got 11)")
    local Qn = fm.matrix.zeros(2, 3)
    Qn:set(1, 1, math.huge)
    assert.has_error(function() fm.knn_query(X, Qn, 2) end)
  end)
end)
