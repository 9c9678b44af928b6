-- Clustering metrics: scikit-learn 1.2.1 reference values, then checks from first principles
-- (pair counting, direct entropy sums, the hypergeometric law, brute-force matchings).
local fm = require "fmclust"
local cjson = require "cjson"

local M = fm.metrics
local NAMES = {"ari", "ami", "nmi", "homogeneity", "completeness", "v_measure", "accuracy"}

local function fixture(name)
  local f = assert(io.open("spec/fixtures/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return cjson.decode(s)
end

local function near(expected, got, tol, what)
  if math.abs(expected - got) > tol then
    error(("%s: expected %.12g, got %.12g"):format(what or "value", expected, got), 2)
  end
end

-- k-valued random labelling of n points (Lua's generator, fixed seed per test)
local function random_labels(n, k, offset)
  local t = {}
  for i = 1, n do t[i] = math.random(0, k - 1) + (offset or 0) end
  return t
end

-- ---------------------------------------------------------------- independent definitions

-- pair counts by looking at every pair: together in both, truth only, pred only, neither
local function pair_counts(t, p)
  local both, tonly, ponly, neither = 0, 0, 0, 0
  for i = 1, #t - 1 do
    for j = i + 1, #t do
      local st, sp = t[i] == t[j], p[i] == p[j]
      if st and sp then both = both + 1
      elseif st then tonly = tonly + 1
      elseif sp then ponly = ponly + 1
      else neither = neither + 1 end
    end
  end
  return both, tonly, ponly, neither
end

-- Hubert & Arabie: (index − expected index) / (max index − expected index), from pair counts
local function ari_by_pairs(t, p)
  local both, tonly, ponly, neither = pair_counts(t, p)
  local pairs_n = both + tonly + ponly + neither
  local sum_t, sum_p = both + tonly, both + ponly   -- pairs together in truth / in pred
  local expected = sum_t * sum_p / pairs_n
  local max = (sum_t + sum_p) / 2
  return (both - expected) / (max - expected)
end

-- counts of each value, of each (truth, pred) pair
local function tally(t, p)
  local ct, cp, cj = {}, {}, {}
  for i = 1, #t do
    ct[t[i]] = (ct[t[i]] or 0) + 1
    cp[p[i]] = (cp[p[i]] or 0) + 1
    local key = t[i] .. "," .. p[i]
    cj[key] = (cj[key] or 0) + 1
  end
  return ct, cp, cj
end

local function entropy(counts, n)
  local h = 0
  for _, c in pairs(counts) do h = h - c / n * math.log(c / n) end
  return h
end

local function mutual_info(t, p)
  local n = #t
  local ct, cp, cj = tally(t, p)
  local mi = 0
  for key, c in pairs(cj) do
    local a, b = key:match("^(-?%d+),(-?%d+)$")
    local pa, pb = ct[tonumber(a)] / n, cp[tonumber(b)] / n
    mi = mi + c / n * math.log((c / n) / (pa * pb))
  end
  return mi, entropy(ct, n), entropy(cp, n)
end

-- C(n, k) as a float: exact for the small n used here
local function choose(n, k)
  if k < 0 or k > n then return 0 end
  local c = 1
  for i = 1, k do c = c * (n - k + i) / i end
  return c
end

-- E[MI] summing the hypergeometric probabilities themselves (not their logarithms)
local function emi_direct(t, p)
  local n = #t
  local ct, cp = tally(t, p)
  local emi = 0
  for _, a in pairs(ct) do
    for _, b in pairs(cp) do
      for k = math.max(1, a + b - n), math.min(a, b) do
        local prob = choose(a, k) * choose(n - a, b - k) / choose(n, b)
        emi = emi + prob * k / n * math.log(n * k / (a * b))
      end
    end
  end
  return emi
end

-- the best one-to-one matching by trying every injective map of the smaller side
local function best_matching(t, p)
  local _, _, cj = tally(t, p)
  local rows, cols = {}, {}
  local seen_r, seen_c = {}, {}
  for i = 1, #t do
    if not seen_r[t[i]] then seen_r[t[i]] = true; rows[#rows + 1] = t[i] end
    if not seen_c[p[i]] then seen_c[p[i]] = true; cols[#cols + 1] = p[i] end
  end
  local swap = #rows > #cols
  if swap then rows, cols = cols, rows end
  local function count(r, c)
    return cj[(swap and c or r) .. "," .. (swap and r or c)] or 0
  end
  local used, best = {}, 0
  local function go(i, acc)
    if i > #rows then best = math.max(best, acc) return end
    for j = 1, #cols do
      if not used[j] then
        used[j] = true
        go(i + 1, acc + count(rows[i], cols[j]))
        used[j] = false
      end
    end
  end
  go(1, 0)
  return best
end

-- ---------------------------------------------------------------- reference values

describe("fm.metrics against scikit-learn 1.2.1", function()
  local fx = fixture("metrics.json")

  it("has the reference cases", function()
    assert.is_true(#fx.cases >= 8)
  end)

  for ci, case in ipairs(fx.cases) do
    it(("case %d (%d points): every metric through all() and one by one"):format(ci, #case.truth), function()
      local s = M.all(case.truth, case.pred)
      assert.are.equal(#case.truth, s.n)
      for _, name in ipairs(NAMES) do
        near(case[name], s[name], 1e-6, ("case %d %s (all)"):format(ci, name))
        near(case[name], M[name](case.truth, case.pred), 1e-6, ("case %d %s"):format(ci, name))
      end
    end)
  end

  it("gives the same values for labels userdata and tables", function()
    local case = fx.cases[3]
    local a = M.all(case.truth, case.pred)
    local b = M.all(fm.labels(case.truth), fm.labels(case.pred))
    local c = M.all(fm.labels(case.truth), case.pred)
    for _, name in ipairs(NAMES) do
      assert.are.equal(a[name], b[name])
      assert.are.equal(a[name], c[name])
    end
  end)
end)

-- ---------------------------------------------------------------- first principles

describe("fm.metrics from first principles", function()
  it("ARI equals the pair-counting definition on random labelings", function()
    math.randomseed(11)
    for _ = 1, 40 do
      local n = math.random(10, 80)
      local t = random_labels(n, math.random(2, 6))
      local p = random_labels(n, math.random(2, 7), -1)   -- includes -1
      near(ari_by_pairs(t, p), M.ari(t, p), 1e-12, "ari")
    end
  end)

  it("MI, NMI, homogeneity, completeness and V-measure equal the entropy sums", function()
    math.randomseed(12)
    for _ = 1, 30 do
      local n = math.random(20, 200)
      local t = random_labels(n, math.random(2, 6))
      local p = random_labels(n, math.random(2, 8))
      local mi, ht, hp = mutual_info(t, p)
      local s = M.all(t, p)
      near(mi, s.mutual_info, 1e-12, "mutual_info")
      near(mi / ((ht + hp) / 2), s.nmi, 1e-10, "nmi")
      near(mi / ht, s.homogeneity, 1e-10, "homogeneity")
      near(mi / hp, s.completeness, 1e-10, "completeness")
      local h, c = mi / ht, mi / hp
      near(2 * h * c / (h + c), s.v_measure, 1e-10, "v_measure")
    end
  end)

  it("AMI equals the hypergeometric expectation summed directly", function()
    math.randomseed(13)
    for _ = 1, 25 do
      local n = math.random(8, 40)
      local t = random_labels(n, math.random(2, 5))
      local p = random_labels(n, math.random(2, 5))
      local mi, ht, hp = mutual_info(t, p)
      local emi = emi_direct(t, p)
      near((mi - emi) / ((ht + hp) / 2 - emi), M.ami(t, p), 1e-9, "ami")
    end
  end)

  it("accuracy equals the best matching found by trying them all", function()
    math.randomseed(14)
    for _ = 1, 30 do
      local n = math.random(5, 60)
      local t = random_labels(n, math.random(1, 5))
      local p = random_labels(n, math.random(1, 6))
      local best = best_matching(t, p)
      near(best / n, M.accuracy(t, p), 1e-15, "accuracy")
      local map, matched = M.matching(t, p)
      assert.are.equal(best, matched)
      -- a one-to-one map: no class used twice, every class a real one
      local used, ct = {}, tally(t, p)
      for _, class in pairs(map) do
        assert.is_nil(used[class])
        assert.is_not_nil(ct[class])
        used[class] = true
      end
    end
  end)

  it("does not depend on label values or point order", function()
    math.randomseed(15)
    local n = 300
    local t = random_labels(n, 5)
    local p = random_labels(n, 7)
    for i = 1, n do if p[i] == t[i] then p[i] = t[i] + 1 end end   -- some structure
    local base = M.all(t, p)
    -- new label values: bijections onto arbitrary int32s, including negatives and the extremes
    local tv = {[0] = 2147483647, -2147483648, -1, 40, 3}
    local pv = {[0] = -7, 1000000, 0, -1, 5, 2147483647, -2147483648, 17}
    local t2, p2 = {}, {}
    for i = 1, n do t2[i], p2[i] = tv[t[i]], pv[p[i]] end
    -- a shuffle of the points, the same for both sides
    local order = {}
    for i = 1, n do order[i] = i end
    for i = n, 2, -1 do
      local j = math.random(i)
      order[i], order[j] = order[j], order[i]
    end
    local t3, p3 = {}, {}
    for i = 1, n do t3[i], p3[i] = t2[order[i]], p2[order[i]] end
    local s = M.all(t3, p3)
    for _, name in ipairs(NAMES) do near(base[name], s[name], 1e-12, name) end
    -- swapping the sides keeps the symmetric scores and swaps homogeneity and completeness
    local w = M.all(p, t)
    for _, name in ipairs{"ari", "ami", "nmi", "v_measure", "accuracy"} do near(base[name], w[name], 1e-12, name) end
    near(base.homogeneity, w.completeness, 1e-12, "homogeneity ↔ completeness")
  end)

  it("scores identical labelings 1, whatever the values", function()
    math.randomseed(16)
    local t = random_labels(500, 9)
    local p = {}
    for i = 1, #t do p[i] = 100 - 3 * t[i] end
    local s = M.all(t, p)
    for _, name in ipairs(NAMES) do near(1, s[name], 1e-12, name) end
  end)
end)

-- ---------------------------------------------------------------- special cases

describe("fm.metrics special cases (as scikit-learn)", function()
  it("one cluster on both sides is a perfect match", function()
    local s = M.all({4, 4, 4, 4}, {-1, -1, -1, -1})
    for _, name in ipairs(NAMES) do assert.are.equal(1, s[name]) end
    s = M.all({3}, {9})
    for _, name in ipairs(NAMES) do assert.are.equal(1, s[name]) end
  end)

  it("every point its own cluster on both sides is a perfect match", function()
    local t, p = {}, {}
    for i = 1, 50 do t[i], p[i] = i, 51 - i end
    local s = M.all(t, p)
    for _, name in ipairs(NAMES) do near(1, s[name], 1e-12, name) end
  end)

  it("one side a single cluster: no information, homogeneity or completeness 1", function()
    local s = M.all({0, 0, 0, 0}, {0, 1, 2, 3})
    assert.are.equal(0, s.ari)
    assert.are.equal(0, s.ami)
    assert.are.equal(0, s.nmi)
    assert.are.equal(1, s.homogeneity)
    assert.are.equal(0, s.completeness)
    assert.are.equal(0, s.v_measure)
    assert.are.equal(0.25, s.accuracy)
    s = M.all({0, 1, 2, 3}, {5, 5, 5, 5})
    assert.are.equal(0, s.homogeneity)
    assert.are.equal(1, s.completeness)
  end)

  it("matches scikit-learn's documented examples", function()
    near(0.57, M.ari({0, 0, 1, 2}, {0, 0, 1, 1}), 0.01)
    assert.are.equal(-0.5, M.ari({0, 0, 1, 1}, {0, 1, 0, 1}))
    near(0.056, M.mutual_info({0, 1, 1, 0, 1, 0}, {0, 1, 0, 0, 1, 1}), 0.001)
  end)
end)

-- ---------------------------------------------------------------- contingency, noise

describe("fm.metrics.contingency and ignore_noise", function()
  it("builds the table with sorted values, -1 and extremes included", function()
    local c = M.contingency({0, 0, 1, 1, -1, -2147483648}, {5, 5, 5, -1, -1, 2147483647})
    assert.are.same({-2147483648, -1, 0, 1}, c.rows)
    assert.are.same({-1, 5, 2147483647}, c.cols)
    assert.are.same({{0, 0, 1}, {1, 0, 0}, {0, 2, 0}, {1, 1, 0}}, c.table)
  end)

  it("counts noise as a cluster by default, and leaves it out with ignore_noise", function()
    math.randomseed(17)
    local n = 400
    local t = random_labels(n, 4)
    local p = random_labels(n, 5, -1)
    local kept_t, kept_p, relabel, noise = {}, {}, {}, 0
    for i = 1, n do
      relabel[i] = p[i] == -1 and 99 or p[i]
      if p[i] == -1 then noise = noise + 1
      else kept_t[#kept_t + 1], kept_p[#kept_p + 1] = t[i], p[i] end
    end
    assert.is_true(noise > 0)
    local default, as_cluster = M.all(t, p), M.all(t, relabel)
    local ignored, subset = M.all(t, p, {ignore_noise = true}), M.all(kept_t, kept_p)
    for _, name in ipairs(NAMES) do
      -- (a value other than -1 moves the noise column, so sums run in another order)
      near(as_cluster[name], default[name], 1e-12, name)
      assert.are.equal(subset[name], ignored[name])
      assert.are.equal(subset[name], M[name](t, p, {ignore_noise = true}))
    end
    assert.is_nil(default.noise_share)
    near(noise / n, ignored.noise_share, 1e-15, "noise_share")
    assert.are.equal(n - noise, ignored.n)
    assert.are.same(M.contingency(kept_t, kept_p), M.contingency(t, p, {ignore_noise = true}))
  end)

  it("scores nothing (NaN, n = 0) when every point is noise", function()
    local s = M.all({1, 2, 3}, {-1, -1, -1}, {ignore_noise = true})
    assert.are.equal(0, s.n)
    assert.are.equal(1, s.noise_share)
    assert.is_true(s.ari ~= s.ari)
  end)
end)

-- ---------------------------------------------------------------- errors

describe("fm.metrics argument errors", function()
  local function fails(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    assert.matches(pattern, tostring(err), 1, true)
  end

  it("names the argument and the function", function()
    for _, name in ipairs{"ari", "ami", "nmi", "homogeneity", "completeness", "v_measure", "accuracy",
                          "all", "contingency", "matching"} do
      local f = M[name]
      fails(("bad argument #2 to '%s' (pred has 6 labels, truth has 5)"):format(name),
            f, {1, 2, 3, 4, 5}, {1, 2, 3, 4, 5, 6})
      fails(("bad argument #1 to '%s'"):format(name), f, {}, {})
      fails(("bad argument #1 to '%s'"):format(name), f, "abc", {1})
      fails(("bad argument #2 to '%s'"):format(name), f, {1, 2}, {1, 2.5})
      fails(("bad argument #2 to '%s'"):format(name), f, {1, 2}, {1, "x"})
      fails(("bad argument #2 to '%s'"):format(name), f, {1, 2})
      fails(("bad argument #3 to '%s' (unknown option 'ignore_nosie')"):format(name),
            f, {1, 2}, {1, 2}, {ignore_nosie = true})
      fails(("bad argument #3 to '%s'"):format(name), f, {1, 2}, {1, 2}, {ignore_noise = "yes"})
      fails(("bad argument #3 to '%s'"):format(name), f, {1, 2}, {1, 2}, 42)
    end
    fails("bad argument #2 to 'ari' (pred has 3 labels, truth has 2)", M.ari, fm.labels{1, 2}, fm.labels{1, 2, 3})
  end)

  it("reports the caller's line", function()
    local ok, err = pcall(function() local v = M.ari({1}, {1, 2}); return v end)
    assert.is_false(ok)
    assert.matches("metrics_spec.lua:%d+: bad argument #2 to 'ari'", err)
  end)
end)

-- ---------------------------------------------------------------- size

describe("fm.metrics at data-set size", function()
  it("scores 70,000 points, 10 classes × 12 clusters, quickly", function()
    local n = 70000
    local t, p = {}, {}
    local x = 12345
    for i = 1, n do
      x = (x * 1103515245 + 12345) % 2147483648   -- a fixed LCG, no global state
      t[i] = i % 10
      p[i] = (x >> 16) % 10 < 6 and t[i] or (x >> 8) % 12
    end
    local clock = os.clock()
    local s = M.all(fm.labels(t), fm.labels(p))
    local seconds = os.clock() - clock
    assert.are.equal(n, s.n)
    assert.are.equal(10, s.n_classes)
    assert.are.equal(12, s.n_clusters)
    for _, name in ipairs(NAMES) do
      assert.is_true(s[name] >= 0 and s[name] <= 1, name)
    end
    assert.is_true(s.ari > 0.2 and s.ami > 0.2, "correlated labels score above chance")
    assert.is_true(seconds < 1, ("all() took %.3f s"):format(seconds))
  end)
end)
