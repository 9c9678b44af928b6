-- Ward and single linkage without a distance matrix: scipy's heights and cuts, brute-force
-- references written here in Lua, re-cuts, thresholds, thread-count independence, bad input.
local fm = require "fmclust"
local H = require "spec.helper"

local function lcg(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

-- n×d matrix of small-integer-ish values (quantised = true makes many exact ties)
local function random_matrix(n, d, seed, quantised)
  local r, rows = lcg(seed), {}
  for i = 1, n do
    local row = {}
    for j = 1, d do
      local v = r() * 10 - 5
      row[j] = quantised and math.floor(v) or v
    end
    rows[i] = row
  end
  return fm.matrix(rows)
end

-- Ward by Lance–Williams on the full distance matrix: the textbook O(n³) greedy algorithm.
-- Returns the merge heights in merge order (non-decreasing for Ward) and the members of each cluster.
local function brute_ward(rows)
  local n = #rows
  local D, size, alive = {}, {}, {}
  for i = 1, n do
    D[i] = {}
    size[i], alive[i] = 1, true
    for j = 1, n do
      local s = 0
      for k = 1, #rows[i] do s = s + (rows[i][k] - rows[j][k]) ^ 2 end
      D[i][j] = math.sqrt(s)
    end
  end
  local heights = {}
  for _ = 1, n - 1 do
    local bi, bj, best = nil, nil, math.huge
    for i = 1, n do
      if alive[i] then
        for j = i + 1, n do
          if alive[j] and D[i][j] < best then bi, bj, best = i, j, D[i][j] end
        end
      end
    end
    heights[#heights + 1] = best
    local ni, nj = size[bi], size[bj]
    for k = 1, n do
      if alive[k] and k ~= bi and k ~= bj then
        local nk = size[k]
        local v = ((nk + ni) * D[k][bi] ^ 2 + (nk + nj) * D[k][bj] ^ 2 - nk * best ^ 2) / (nk + ni + nj)
        D[k][bi] = math.sqrt(math.max(v, 0))
        D[bi][k] = D[k][bi]
      end
    end
    size[bi] = ni + nj
    alive[bj] = false
  end
  return heights
end

-- minimum spanning tree weights by Prim on the full distance matrix, sorted
local function brute_mst(rows)
  local n = #rows
  local function dist(i, j)
    local s = 0
    for k = 1, #rows[i] do s = s + (rows[i][k] - rows[j][k]) ^ 2 end
    return math.sqrt(s)
  end
  local intree, best, w = {[1] = true}, {}, {}
  for i = 2, n do best[i] = dist(1, i) end
  for _ = 2, n do
    local bi, bd = nil, math.huge
    for i = 2, n do
      if not intree[i] and best[i] < bd then bi, bd = i, best[i] end
    end
    intree[bi] = true
    w[#w + 1] = bd
    for i = 2, n do
      if not intree[i] then best[i] = math.min(best[i], dist(bi, i)) end
    end
  end
  table.sort(w)
  return w
end

-- Ward by Lance–Williams on squared distances (no square roots until the end), for the
-- high-dimensional cases: returns the heights in merge order and the merges as pairs of
-- 1-based representatives (the cluster lives on at the first).
local function brute_ward_sq(rows)
  local n, d = #rows, #rows[1]
  local D, size, alive = {}, {}, {}
  for i = 1, n do D[i], size[i], alive[i] = {}, 1, true end
  for i = 1, n do
    local ri = rows[i]
    for j = i + 1, n do
      local rj, s = rows[j], 0
      for k = 1, d do local v = ri[k] - rj[k]; s = s + v * v end
      D[i][j], D[j][i] = s, s
    end
  end
  local heights, merges = {}, {}
  for _ = 1, n - 1 do
    local bi, bj, best = nil, nil, math.huge
    for i = 1, n do
      if alive[i] then
        local Di = D[i]
        for j = i + 1, n do
          if alive[j] and Di[j] < best then bi, bj, best = i, j, Di[j] end
        end
      end
    end
    heights[#heights + 1] = math.sqrt(math.max(best, 0))
    merges[#merges + 1] = {bi, bj}
    local ni, nj = size[bi], size[bj]
    for k = 1, n do
      if alive[k] and k ~= bi and k ~= bj then
        local nk = size[k]
        local v = ((nk + ni) * D[k][bi] + (nk + nj) * D[k][bj] - nk * best) / (nk + ni + nj)
        D[k][bi], D[bi][k] = v, v
      end
    end
    size[bi], alive[bj] = ni + nj, false
  end
  return heights, merges
end

-- the partition (a table of representatives by row) after the first n − k brute-force merges
local function brute_cut(n, merges, k)
  local up = {}
  for i = 1, n do up[i] = i end
  local function find(i) while up[i] ~= i do i = up[i] end return i end
  for r = 1, n - k do up[find(merges[r][2])] = find(merges[r][1]) end
  local out = {}
  for i = 1, n do out[i] = find(i) end
  return out
end

local function close(a, b, rel)
  return math.abs(a - b) <= rel * math.max(math.abs(a), math.abs(b), 1e-300)
end

-- the number of distinct values of a labels userdata, and that they are 0..k−1
local function count_clusters(labels)
  local seen, k, maxv = {}, 0, -1
  for _, v in ipairs(labels:to_table()) do
    if not seen[v] then seen[v], k = true, k + 1 end
    if v > maxv then maxv = v end
  end
  return k, maxv
end

-- two labelings are the same partition (a bijection between their values)
local function same_partition(a, b)
  local ta, tb = a.to_table and a:to_table() or a, b.to_table and b:to_table() or b
  if #ta ~= #tb then return false end
  local ab, ba = {}, {}
  for i = 1, #ta do
    if ab[ta[i]] == nil then ab[ta[i]] = tb[i] elseif ab[ta[i]] ~= tb[i] then return false end
    if ba[tb[i]] == nil then ba[tb[i]] = ta[i] elseif ba[tb[i]] ~= ta[i] then return false end
  end
  return true
end

describe("fm.ward", function()
  local fx = H.fixture("ward_blobs.json")
  local X = fm.matrix(fx.X)

  it("gives scipy's Ward heights and 10-cluster partition on the fixture", function()
    local res = fm.ward(X, {n_clusters = 10})
    assert.are.equal(#fx.heights, #res.heights)
    for i, h in ipairs(fx.heights) do
      assert.is_true(close(res.heights[i], h, 1e-4), ("height %d: %g vs scipy %g"):format(i, res.heights[i], h))
    end
    assert.are.equal(1.0, fm.metrics.ari(fx.labels10, res.labels))
    assert.is_true(same_partition(fx.labels10, res.labels))
    assert.are.equal(10, res.n_clusters)
    assert.are.equal(#fx.X, res.n_leaves)
    assert.are.equal("ward", res.method)
  end)

  it("returns scipy's linkage format: ids, sizes, sorted heights", function()
    local res = fm.ward(X, {n_clusters = 3})
    local Z, n = res.linkage, #fx.X
    assert.are.same({n - 1, 4}, {Z:shape()})
    local size, used = {}, {}
    for i = 0, n - 1 do size[i] = 1 end
    local prev = -math.huge
    for r = 1, n - 1 do
      local a, b, h, s = Z:get(r, 1), Z:get(r, 2), Z:get(r, 3), Z:get(r, 4)
      assert.is_true(a < b and b < n + r - 1, "ids in range, a < b")
      assert.is_nil(used[a]); assert.is_nil(used[b])
      used[a], used[b] = true, true
      assert.are.equal(size[a] + size[b], s)
      size[n + r - 1] = s
      assert.is_true(h >= prev)
      prev = h
      assert.is_true(close(h, res.heights[r], 1e-6))
    end
    assert.are.equal(n, Z:get(n - 1, 4))
  end)

  it("numbers clusters by their smallest row", function()
    local res = fm.ward(X, {n_clusters = 10})
    local t, nextv = res.labels:to_table(), 0
    for i = 1, #t do
      if t[i] == nextv then nextv = nextv + 1 else assert.is_true(t[i] < nextv) end
    end
    assert.are.equal(10, nextv)
    local k, maxv = count_clusters(res.labels)
    assert.are.equal(10, k)
    assert.are.equal(9, maxv)
  end)

  it("equals a brute-force Lance–Williams Ward on small random data", function()
    -- d ≤ 48: the tree holds all principal coordinates (d = 1: a one-coordinate tree); d = 49
    -- and 60: 48 of them and the residual norm; n = 300 spans three leaves, so whole subtrees
    -- are pruned
    for _, case in ipairs{{n = 40, d = 3, seed = 1}, {n = 50, d = 7, seed = 2}, {n = 30, d = 20, seed = 3},
                          {n = 35, d = 2, seed = 4}, {n = 300, d = 6, seed = 5}, {n = 300, d = 40, seed = 6},
                          {n = 60, d = 1, seed = 8}, {n = 200, d = 49, seed = 9},
                          {n = 300, d = 60, seed = 10}} do
      local Xr = random_matrix(case.n, case.d, case.seed)
      local ref = brute_ward(Xr:to_table())   -- the float32 values the core sees
      table.sort(ref)
      local res = fm.ward(Xr, {n_clusters = 1})
      for i = 1, case.n - 1 do
        assert.is_true(close(res.heights[i], ref[i], 1e-9),
          ("n=%d d=%d height %d: %.12g vs %.12g"):format(case.n, case.d, i, res.heights[i], ref[i]))
      end
    end
  end)

  it("gives a valid Ward hierarchy under exact ties (duplicates, grid data)", function()
    -- with ties several hierarchies are optimal; the heights of all of them are the brute force's
    -- only when the tie-breaks agree, so check what must hold: each merge is a global minimum
    local Xr = random_matrix(40, 2, 7, true)
    local rows = Xr:to_table()
    local res = fm.ward(Xr, {n_clusters = 1})
    local cent, size = {}, {}
    for i = 1, #rows do cent[i - 1], size[i - 1] = rows[i], 1 end
    local Z = res.linkage
    for r = 1, #rows - 1 do
      local best = math.huge
      for a, ca in pairs(cent) do
        for b, cb in pairs(cent) do
          if a < b then
            local s = 0
            for j = 1, #ca do s = s + (ca[j] - cb[j]) ^ 2 end
            best = math.min(best, math.sqrt(2 * size[a] * size[b] / (size[a] + size[b]) * s))
          end
        end
      end
      assert.is_true(close(res.heights[r], best, 1e-9), ("merge %d at %g, minimum %g"):format(r, res.heights[r], best))
      local a, b = Z:get(r, 1), Z:get(r, 2)
      local na, nb, c = size[a], size[b], {}
      for j = 1, #cent[a] do c[j] = (na * cent[a][j] + nb * cent[b][j]) / (na + nb) end
      cent[a], cent[b], size[a], size[b] = nil, nil, nil, nil
      cent[#rows + r - 1], size[#rows + r - 1] = c, na + nb
    end
  end)

  -- High-dimensional data go through the bounds that matter for images: a tree on 48 principal
  -- coordinates plus the norm of the residual outside them (d > 48), and a second bound on
  -- min(192, d/2) principal coordinates plus their residual norm (d ≥ 98). A bound that ever
  -- excluded a true nearest neighbour would change a merge, so the heights and cuts are compared
  -- with the Lance–Williams brute force on the same float32 values.
  -- ties: the number of leading zero-height merges, whose order (and so cuts among them) is free
  local function check_against_brute(Xr, label, ties)
    local rows = Xr:to_table()
    local n = #rows
    local ref, merges = brute_ward_sq(rows)
    local res = fm.ward(Xr, {n_clusters = 1})
    local sorted = {}
    for i, h in ipairs(ref) do sorted[i] = h end
    table.sort(sorted)
    for i = 1, n - 1 do
      assert.is_true(close(res.heights[i], sorted[i], 1e-9),
        ("%s: height %d: %.15g vs brute force %.15g"):format(label, i, res.heights[i], sorted[i]))
    end
    for _, k in ipairs{2, 3, 7, 20, n // 4, n // 2, n - (ties or 1)} do
      assert.is_true(same_partition(brute_cut(n, merges, k), fm.cut(res.linkage, k)),
        ("%s: the %d-cluster cut differs from the brute force's"):format(label, k))
    end
    return res
  end

  it("equals the brute force on 400 real images (784-d: both bounds)", function()
    local Xt = fm.data.fashion_mnist{split = "test"}
    local idx = {}
    for i = 1, 400 do idx[i] = 17 * i end   -- spread over the file: all ten classes
    check_against_brute(Xt:rows(idx), "images")
  end)

  it("equals the brute force on random data, with and without the second bound", function()
    -- d = 90: tree on 48 principal coordinates and the residual norm, then the exact distance;
    -- d = 200 and 300: also the bound on 100 and 150 coordinates. A flat spectrum makes the
    -- residuals large and the bounds weak, so most candidates reach the later stages.
    check_against_brute(fm.matrix.random(300, 90, {seed = 30, distribution = "normal"}), "normal 300x90")
    check_against_brute(fm.matrix.random(300, 200, {seed = 31, distribution = "normal"}), "normal 300x200")
    check_against_brute(random_matrix(300, 300, 32), "uniform 300x300")
  end)

  it("equals the brute force far from the origin and with duplicate rows in high dimension", function()
    -- an offset of 1000 tests the centring of the principal coordinates (a residual computed
    -- from uncentred sums would lose its digits); duplicates make exact zero-height ties, which
    -- leave the same clusters in any order, so the heights after them are unique again
    local rows = random_matrix(240, 300, 33):to_table()
    for i = 1, 60 do rows[#rows + 1] = {table.unpack(rows[(i * 7) % 240 + 1])} end
    for _, r in ipairs(rows) do for j = 1, #r do r[j] = r[j] + 1000 end end
    local res = check_against_brute(fm.matrix(rows), "offset, duplicates", 60)
    local zeros = 0
    for _, h in ipairs(res.heights) do if h == 0 then zeros = zeros + 1 end end
    assert.are.equal(60, zeros)
  end)

  it("cut(linkage, k) re-cuts without recomputing and matches the direct labels", function()
    local res = fm.ward(X, {n_clusters = 10})
    for _, k in ipairs{1, 2, 5, 10, 37, #fx.X} do
      local direct = fm.ward(X, {n_clusters = k})
      local labels, kk = fm.cut(res.linkage, k)
      assert.are.equal(k, kk)
      assert.are.same(direct.labels:to_table(), labels:to_table())
      assert.are.equal(k, (count_clusters(labels)))
      assert.are.same(labels:to_table(), res:cut(k):to_table())
      assert.are.same(labels:to_table(), fm.cut(res.linkage, {n_clusters = k}):to_table())
    end
  end)

  it("distance_threshold merges while the height is below it, like scikit-learn", function()
    local res = fm.ward(X, {n_clusters = 1})
    local h = res.heights
    for _, i in ipairs{1, 100, 1490, #h} do
      local t = h[i]   -- a threshold equal to a height stops before that merge
      local expect = 1
      for _, v in ipairs(h) do if v >= t then expect = expect + 1 end end
      local by_t = fm.ward(X, {distance_threshold = t})
      assert.are.equal(expect, by_t.n_clusters)
      assert.are.same(fm.cut(res.linkage, expect):to_table(), by_t.labels:to_table())
      local recut, k = res:cut{distance_threshold = t}
      assert.are.equal(expect, k)
      assert.are.same(by_t.labels:to_table(), recut:to_table())
    end
    assert.are.equal(#fx.X, fm.ward(X, {distance_threshold = 0}).n_clusters)
    assert.are.equal(1, fm.ward(X, {distance_threshold = 1e9}).n_clusters)
  end)

  it("single linkage heights equal a brute-force minimum spanning tree", function()
    for _, case in ipairs{{n = 60, d = 4, seed = 11}, {n = 45, d = 12, seed = 12}, {n = 50, d = 2, seed = 13, q = true}} do
      local Xr = random_matrix(case.n, case.d, case.seed, case.q)
      local ref = brute_mst(Xr:to_table())
      local res = fm.ward(Xr, {n_clusters = 4, linkage = "single"})
      assert.are.equal("single", res.method)
      for i = 1, case.n - 1 do
        assert.is_true(close(res.heights[i], ref[i], 1e-9), ("edge %d: %g vs %g"):format(i, res.heights[i], ref[i]))
      end
      assert.are.equal(4, (count_clusters(res.labels)))
    end
  end)

  it("single linkage cuts are the connected components below the cut height", function()
    local Xr = random_matrix(80, 3, 21)
    local rows = Xr:to_table()
    local res = fm.ward(Xr, {n_clusters = 6, linkage = "single"})
    -- components of the graph with edges shorter than the 6-cluster cut height
    local t = res.heights[#rows - 6 + 1]
    local comp = {}
    local function find(i) while comp[i] ~= i do i = comp[i] end return i end
    for i = 1, #rows do comp[i] = i end
    for i = 1, #rows do
      for j = i + 1, #rows do
        local s = 0
        for k = 1, 3 do s = s + (rows[i][k] - rows[j][k]) ^ 2 end
        if math.sqrt(s) < t then comp[find(i)] = find(j) end
      end
    end
    local cc = {}
    for i = 1, #rows do cc[i] = find(i) end
    assert.is_true(same_partition(cc, res.labels))
  end)

  it("handles one and two points", function()
    local one = fm.ward(fm.matrix{{1, 2}}, {n_clusters = 1})
    assert.are.same({0}, one.labels:to_table())
    assert.are.same({0, 4}, {one.linkage:shape()})
    local two = fm.ward(fm.matrix{{0, 0}, {3, 4}}, {n_clusters = 1})
    assert.are.same({{0, 1, 5, 2}}, two.linkage:to_table())
    assert.are.same({0, 1}, fm.ward(fm.matrix{{0, 0}, {3, 4}}, {n_clusters = 2}).labels:to_table())
    assert.are.same({0, 1}, fm.ward(fm.matrix{{0, 0}, {3, 4}}, {n_clusters = 2, linkage = "single"}).labels:to_table())
  end)

  it("gives the same linkage with 1 and 2 threads", function()
    local code = [[
      local fm = require "fmclust"
      local X = fm.matrix.random(6000, 10, {seed = 5, distribution = "normal"})
      for _, m in ipairs{"ward", "single"} do
        local Z = fm.ward(X, {n_clusters = 10, linkage = m}).linkage
        local t = Z:to_table()
        local s = {}
        for i = 1, #t, 97 do s[#s + 1] = ("%d,%d,%.9g,%d"):format(t[i][1], t[i][2], t[i][3], t[i][4]) end
        local sum = 0
        for i = 1, #t do sum = (sum * 31 + t[i][1] + 7 * t[i][2]) % 1000000007 end
        print(m, sum, table.concat(s, ";"))
      end
      -- 784-d images: the principal coordinates (BLAS), the bounds and the parallel queries
      local idx = {}
      for i = 1, 3000 do idx[i] = 3 * i end
      local t = fm.ward(fm.data.fashion_mnist{split = "test"}:rows(idx), {n_clusters = 10}).linkage:to_table()
      local sum = 0
      for i = 1, #t do sum = (sum * 31 + t[i][1] + 7 * t[i][2]) % 1000000007 end
      print("images", sum, ("%.9g %.9g"):format(t[1500][3], t[#t][3]))
    ]]
    local out1, ok1 = H.run_lua(code, {OMP_NUM_THREADS = "1"})
    local out2, ok2 = H.run_lua(code, {OMP_NUM_THREADS = "2"})
    assert.is_truthy(ok1, out1)
    assert.is_truthy(ok2, out2)
    assert.are.equal(out1, out2)
  end)

  it("rejects bad input with errors naming the argument", function()
    local Y = fm.matrix{{1, 2}, {3, 4}, {5, 6}}
    assert.has_error(function() fm.ward(Y, {n_clusters = 4}) end,
      "bad argument #2 to 'ward' (n_clusters must be ≤ 3 (the number of rows), got 4)")
    assert.has_error(function() fm.ward(Y, {n_clusters = 0}) end)
    assert.has_error(function() fm.ward(Y, {n_clusters = 1.5}) end)
    assert.has_error(function() fm.ward(Y, {n_clusters = 2, distance_threshold = 1}) end,
      "bad argument #2 to 'ward' (exactly one of n_clusters and distance_threshold must be set)")
    assert.has_error(function() fm.ward(Y, {}) end,
      "bad argument #2 to 'ward' (exactly one of n_clusters and distance_threshold must be set)")
    assert.has_error(function() fm.ward(Y) end)
    assert.has_error(function() fm.ward(Y, {distance_threshold = -1}) end)
    assert.has_error(function() fm.ward(Y, {n_clusters = 2, linkage = "average"}) end)
    assert.has_error(function() fm.ward(Y, {n_clusters = 2, n_cluster = 3}) end,
      "bad argument #2 to 'ward' (unknown option 'n_cluster')")
    assert.has_error(function() fm.ward({{1, 2}}, {n_clusters = 1}) end)
    assert.has_error(function() fm.ward(fm.matrix.zeros(0, 3), {n_clusters = 1}) end)
    local bad = Y:copy()
    bad:set(2, 1, 0 / 0)
    assert.has_error(function() fm.ward(bad, {n_clusters = 1}) end,
      "bad argument #1 to 'ward' (matrix contains NaN or Inf)")
    bad:set(2, 1, math.huge)
    assert.has_error(function() fm.ward(bad, {n_clusters = 1}) end)
  end)

  it("cut rejects bad linkages and bad k", function()
    local Z = fm.ward(fm.matrix{{0}, {1}, {5}}, {n_clusters = 1}).linkage
    assert.has_error(function() fm.cut(Z, 4) end,
      "bad argument #2 to 'cut' (n_clusters must be ≤ 3 (the number of rows), got 4)")
    assert.has_error(function() fm.cut(Z, 0) end)
    assert.has_error(function() fm.cut(Z, {}) end)
    assert.has_error(function() fm.cut(Z, {n_clusters = 2, distance_threshold = 1}) end)
    assert.has_error(function() fm.cut(Z, {k = 2}) end, "bad argument #2 to 'cut' (unknown option 'k')")
    assert.has_error(function() fm.cut(fm.matrix{{0, 1, 1}}, 1) end)
    assert.has_error(function() fm.cut("Z", 1) end)
    local reuse = fm.matrix{{0, 1, 1, 2}, {0, 2, 2, 2}}    -- cluster 0 used twice
    assert.has_error(function() fm.cut(reuse, 1) end,
      "bad argument #1 to 'cut' (not a valid linkage matrix (scipy format: a, b, height, size per row))")
    local early = fm.matrix{{0, 3, 1, 2}, {1, 2, 2, 3}}   -- cluster 3 used before it is made
    assert.has_error(function() fm.cut(early, 1) end)
    local badsize = fm.matrix{{0, 1, 1, 2}, {2, 3, 2, 4}}
    assert.has_error(function() fm.cut(badsize, 1) end)
    -- a hand-made valid linkage cuts as expected
    local ok = fm.matrix{{0, 1, 1, 2}, {2, 3, 2, 3}}
    assert.are.same({0, 0, 1}, fm.cut(ok, 2):to_table())
  end)
end)

describe("fm.linkage from spanning-tree edges", function()
  it("sorts edges stably and numbers clusters like scipy", function()
    -- path 0-1-2-3 with weights 3, 1, 2: merges (1,2)@1, (2∪1,3)@2, (0, …)@3
    local Z = fm.core.ward_linkage_from_mst({0, 1, 2}, {1, 2, 3}, {3, 1, 2})
    assert.are.same({{1, 2, 1, 2}, {3, 4, 2, 3}, {0, 5, 3, 4}}, Z:to_table())
    local tie = fm.core.ward_linkage_from_mst({2, 0, 1}, {3, 1, 2}, {1, 1, 5})
    assert.are.same({{2, 3, 1, 2}, {0, 1, 1, 2}, {4, 5, 5, 4}}, tie:to_table())
    assert.has_error(function() fm.core.ward_linkage_from_mst({0, 1}, {1, 0}, {1, 1}) end)   -- a cycle
    assert.has_error(function() fm.core.ward_linkage_from_mst({0}, {5}, {1}) end)            -- out of range
  end)
end)

describe("fm.AgglomerativeClustering", function()
  local X = fm.matrix(H.fixture("ward_blobs.json").X)

  it("fit_predict equals fm.ward and sets scikit-learn's attributes", function()
    local est = fm.AgglomerativeClustering{n_clusters = 10}
    local labels = est:fit_predict(X)
    assert.are.same(fm.ward(X, {n_clusters = 10}).labels:to_table(), labels:to_table())
    assert.are.equal(10, est.n_clusters_)
    assert.are.equal(#X, est.n_leaves_)
    assert.are.same({#X - 1, 2}, {est.children_:shape()})
    assert.are.same({#X - 1, 1}, {est.distances_:shape()})
    assert.are.equal(est.linkage_:get(7, 3), est.distances_:get(7, 1))
    assert.are.equal(est, est:fit(X))
  end)

  it("defaults to 2 clusters, takes a threshold or single linkage, rejects bad options", function()
    assert.are.equal(2, fm.AgglomerativeClustering():fit(X).n_clusters_)
    local t = fm.AgglomerativeClustering{distance_threshold = 20}:fit(X)
    assert.are.equal(fm.ward(X, {distance_threshold = 20}).n_clusters, t.n_clusters_)
    local s = fm.AgglomerativeClustering{n_clusters = 3, linkage = "single"}:fit(X)
    assert.are.same(fm.ward(X, {n_clusters = 3, linkage = "single"}).labels:to_table(), s.labels_:to_table())
    assert.has_error(function() fm.AgglomerativeClustering{n_clusters = 2, distance_threshold = 1} end)
    assert.has_error(function() fm.AgglomerativeClustering{affinity = "euclidean"} end)
    assert.has_error(function() fm.AgglomerativeClustering{n_clusters = 5000}:fit(X) end)
  end)
end)
