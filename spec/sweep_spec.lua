-- fmclust.sweep: grid expansion, rows, caching, resume after kill -9, torn lines, shards, merge.
-- Small synthetic data (90 points) and the algorithms that exist now; the whole file runs in seconds.
local H = require "spec.helper"
local fm = require "fmclust"
local sweep = require "fmclust.sweep"

-- three Gaussian blobs in 6 dimensions, 30 points each; truth 0, 1, 2
local function blobs(n_per, seed)
  n_per = n_per or 30
  local R = fm.matrix.random(3 * n_per, 6, {seed = seed or 7, distribution = "normal"})
  local rows, y = {}, {}
  for i = 1, 3 * n_per do
    local c = (i - 1) // n_per
    local r = {}
    for j = 1, 6 do r[j] = R:get(i, j) * 0.5 + (j == c + 1 and 4 or 0) end
    rows[i], y[i] = r, c
  end
  return fm.matrix(rows), y
end

local function lines_of(path)
  local t = {}
  local f = io.open(path, "rb")
  if not f then return t end
  for l in f:lines() do t[#t + 1] = l end
  f:close()
  return t
end

local function by_key(rows)
  local t = {}
  for _, r in ipairs(rows) do t[r.key] = r end
  return t
end

local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end

local X, y = blobs()
local QUIET = {progress = false, fsync = false}

local function config(out, extra)
  local c = {
    name = "t", out = out, data = X, truth = y,
    reducers = {{"none"}, {"pca", n_components = {2, 3}}},
    clusterers = {{"kmeans", n_clusters = 3, n_init = 2}, {"ward", n_clusters = 3}},
    seeds = {0, 1},
  }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

describe("sweep.plan", function()
  it("expands lists into the Cartesian product, in a fixed order", function()
    local p = sweep.plan{reducers = {{"pca", n_components = {2, 3}, whiten = {false, true}}},
                         clusterers = {{"kmeans", n_clusters = {2, 3}}}}
    assert.are.equal(8, #p.rows)
    assert.are.equal(4, #p.groups)
    local p2 = sweep.plan{reducers = {{"pca", n_components = {2, 3}, whiten = {false, true}}},
                          clusterers = {{"kmeans", n_clusters = {2, 3}}}}
    for i = 1, 8 do assert.are.equal(p.rows[i].key, p2.rows[i].key) end
    assert.are.same({n_components = 2, whiten = false}, p.rows[1].reducer.params)
  end)

  it("runs a row once when no stage uses the seed, and once per seed otherwise", function()
    local p = sweep.plan(config("/nonexistent"))
    -- none+kmeans × 2 seeds, none+ward once, pca(2,3) × (kmeans, ward) × 2 seeds
    assert.are.equal(2 + 1 + 2 * 2 * 2, #p.rows)
    local ward_none = 0
    for _, r in ipairs(p.rows) do
      if r.reducer.name == "none" and r.clusterer.name == "ward" then
        ward_none = ward_none + 1
        assert.is_nil(r.seed)
      end
    end
    assert.are.equal(1, ward_none)
  end)

  it("runs a row listed in two grids once", function()
    local p = sweep.plan{grids = {
      {reducers = {{"pca", n_components = 2}}, clusterers = {{"kmeans", n_clusters = 3}}},
      {reducers = {{"pca", n_components = {2, 3}}}, clusterers = {{"kmeans", n_clusters = 3}}},
    }}
    assert.are.equal(2, #p.rows)
  end)

  it("labels rows like the study, with variants for densMAP and the mutual graph", function()
    local p = sweep.plan{reducers = {{"umap", n_components = 2, densmap = {false, true}},
                                     {"umap", n_components = 2, graph = "mutual"}, {"none"}},
                         clusterers = {{"kmeans"}}}
    local labels = {}
    for _, r in ipairs(p.rows) do labels[#labels + 1] = r.reducer.label .. "/" .. r.clusterer.label end
    assert.are.same({"umap/k-means", "densmap/k-means", "umap-mutual/k-means", "none/k-means"}, labels)
    local p2 = sweep.plan{reducers = {{"pca", n_components = 2, label = "pca-tuned"}},
                          clusterers = {{"ward", label = "ward (tuned)"}}}
    assert.are.equal("pca-tuned", p2.rows[1].reducer.label)
    assert.are.equal("ward (tuned)", p2.rows[1].clusterer.label)
  end)

  it("builds pipelines from input = {reducer}", function()
    local p = sweep.plan{reducers = {{"pca", n_components = 2, input = {"pca", n_components = {4, 5}}}},
                         clusterers = {{"kmeans"}}}
    assert.are.equal(2, #p.rows)
    assert.are.equal("pca→pca", p.rows[1].reducer.label)
    assert.are_not.equal(p.rows[1].key, p.rows[2].key)
  end)

  it("rejects unknown algorithms and options before any work", function()
    assert.has_error(function() sweep.plan{clusterers = {{"kmenas"}}} end,
      "sweep: config clusterers[1]: unknown clusterer 'kmenas' (known: gmm, hdbscan, kmeans, optics, ward)")
    local ok, err = pcall(sweep.plan, {clusterers = {{"kmeans", n_clusterz = 3}}})
    assert.is_false(ok)
    assert.matches("clusterer 'kmeans' {n_clusterz=3}: unknown option 'n_clusterz'", err, 1, true)
    ok, err = pcall(sweep.plan, {reducers = {{"pca", n_components = "ten"}}, clusterers = {{"kmeans"}}})
    assert.is_false(ok)
    assert.matches("reducer 'pca'", err, 1, true)
    assert.has_error(function() sweep.plan{clusterers = {{"kmeans", seed = 3}}} end)
    ok, err = pcall(sweep.plan, {clusterers = {{"kmeans", seed = 3}}})
    assert.matches("set seeds with the sweep's seeds list", err, 1, true)
    ok, err = pcall(sweep.plan, {clusterers = {{n_clusters = 3}}})
    assert.matches("needs the algorithm name first", err, 1, true)
    ok, err = pcall(sweep.plan, {clusterers = {}})
    assert.matches("no clusterers", err, 1, true)
  end)

  it("notes an algorithm this build lacks instead of failing", function()
    sweep.register("reducer", "ghost", {fn = "ghost_reducer_not_built", seeded = true})
    local p = sweep.plan{reducers = {{"ghost", n_components = 2}, {"none"}}, clusterers = {{"kmeans"}}}
    assert.are.same({"reducer 'ghost' is not available in this build (fm.ghost_reducer_not_built is missing)"},
                    p.unavailable)
    assert.is_false(p.rows[1].available)
    assert.is_true(p.rows[2].available)
    local ok, why = sweep.available("reducer", "ghost")
    assert.is_false(ok)
    assert.matches("not available in this build", why)
    sweep.registry.reducer.ghost = nil
  end)

  it("checks shard specs", function()
    for _, bad in ipairs{"0/3", "4/3", "1/0", "a/b", "2", "-1/3"} do
      local ok, err = pcall(sweep.plan, config("/x"), {shard = bad})
      assert.is_false(ok, bad)
      assert.matches("shard must be i/n with 1 ≤ i ≤ n", err, 1, true)
    end
  end)

  it("splits the rows into disjoint, deterministic shards that cover the grid", function()
    local all = sweep.plan(config("/x"))
    for _, n in ipairs{2, 3, 7, 20} do
      local seen, total = {}, 0
      for i = 1, n do
        local p = sweep.plan(config("/x"), {shard = ("%d/%d"):format(i, n)})
        local again = sweep.plan(config("/x"), {shard = {i, n}})
        assert.are.equal(#p.rows, #again.rows)
        for j, r in ipairs(p.rows) do
          assert.are.equal(r.key, again.rows[j].key)
          assert.is_nil(seen[r.key])
          seen[r.key] = true
          total = total + 1
        end
        -- by embedding: every row of a group lands in the same shard
        if p.shard_by == "embedding" then
          for _, g in ipairs(p.groups) do
            for _, r in ipairs(g.rows) do assert.is_true(seen[r.key]) end
          end
        end
      end
      assert.are.equal(#all.rows, total)
    end
    assert.are.equal("embedding", sweep.plan(config("/x"), {shard = "1/2"}).shard_by)
    assert.are.equal("row", sweep.plan(config("/x"), {shard = "1/20"}).shard_by)
  end)
end)

describe("sweep.run", function()
  it("writes one scored row per grid point, with every field", function()
    local dir = H.tmpdir()
    local res = sweep.run(config(dir), QUIET)
    assert.are.equal(11, #res.rows)
    assert.are.equal(11, res.new)
    assert.are.equal(11, #lines_of(dir .. "/rows.jsonl"))
    for _, r in ipairs(res.rows) do
      for _, f in ipairs{"key", "reducer", "reducer_label", "reducer_params", "n_components", "clusterer",
                         "clusterer_label", "clusterer_params", "n", "n_clusters", "noise_share", "ari", "ami",
                         "nmi", "accuracy", "seconds", "peak_mb", "data_hash", "finished"} do
        assert.is_not_nil(r[f], f)
      end
      assert.are.equal(90, r.n)
      assert.are.equal(r.reducer == "none" and 6 or r.reducer_params.n_components, r.n_components)
      assert.is_number(r.seconds.cluster)
      assert.is_number(r.peak_mb.cluster)
    end
    -- the scores are those of calling fm directly
    local Z = fm.pca(X, {n_components = 2, seed = 1})
    local labels = fm.kmeans(Z, {n_clusters = 3, n_init = 2, seed = 1}).labels
    local m = fm.metrics.all(y, labels)
    local found
    for _, r in ipairs(res.rows) do
      if r.reducer == "pca" and r.n_components == 2 and r.clusterer == "kmeans" and r.seed == 1 then found = r end
    end
    assert.is_not_nil(found)
    assert.is_near(m.ari, found.ari, 1e-12)
    assert.is_near(m.ami, found.ami, 1e-12)
    assert.is_near(m.accuracy, found.accuracy, 1e-12)
    assert.are.equal("k-means", found.clusterer_label)
    -- tables beside the rows
    assert.truthy(io.open(dir .. "/table.md"))
    assert.truthy(io.open(dir .. "/table.csv"))
  end)

  it("reuses cached embeddings and finished rows: a second run computes nothing", function()
    local dir = H.tmpdir()
    local calls = 0
    sweep.register("reducer", "counted", {seeded = true, run = function(Z, p)
      calls = calls + 1
      return (fm.pca(Z, p))
    end})
    local cfg = config(dir, {reducers = {{"counted", n_components = {2, 3}}}})
    local res = sweep.run(cfg, QUIET)
    assert.are.equal(8, res.new)
    assert.are.equal(4, calls)   -- one per (n_components, seed), shared by both clusterers
    local r2 = sweep.run(cfg, QUIET)
    assert.are.equal(0, r2.new)
    assert.are.equal(4, calls)
    assert.are.equal(8, #r2.rows)
    -- rows lost but embeddings cached: the rows are recomputed from the cache
    os.remove(dir .. "/rows.jsonl")
    local r3 = sweep.run(cfg, QUIET)
    assert.are.equal(8, r3.new)
    assert.are.equal(4, calls)
    for _, r in ipairs(r3.rows) do assert.is_true(r.reduce_cached) end
    local a, b = by_key(res.rows), by_key(r3.rows)
    for k, r in pairs(a) do assert.are.equal(r.ari, b[k].ari) end
    sweep.registry.reducer.counted = nil
  end)

  it("recomputes an embedding when what the machine decides (key_extra) changes", function()
    local dir = H.tmpdir()
    local calls, mode = 0, "a"
    sweep.register("reducer", "machine_dep", {seeded = true, key_extra = function() return "mode=" .. mode end,
      run = function(Z, p) calls = calls + 1; return (fm.pca(Z, p)) end})
    local cfg = config(dir, {reducers = {{"machine_dep", n_components = 2}}, seeds = {0}})
    sweep.run(cfg, QUIET)
    assert.are.equal(1, calls)
    os.remove(dir .. "/rows.jsonl")
    sweep.run(cfg, QUIET)
    assert.are.equal(1, calls)   -- same machine: the cached embedding
    os.remove(dir .. "/rows.jsonl")
    mode = "b"
    sweep.run(cfg, QUIET)
    assert.are.equal(2, calls)   -- another precision, say: not the cached one
    sweep.registry.reducer.machine_dep = nil
  end)

  it("keys autoencoder embeddings by the precision auto resolves to", function()
    local extra = sweep.registry.reducer.ae.key_extra
    assert.are.equal("precision=float32", extra({precision = "float32"}))
    assert.are.equal("precision=" .. fm.autoencoder.resolve_precision("auto"), extra({}))
    assert.is_truthy(({float32 = true, bfloat16 = true})[fm.autoencoder.resolve_precision(nil)])
  end)

  it("never trusts a bad cache entry: truncated, wrong shape, other key", function()
    local dir = H.tmpdir()
    local cfg = config(dir, {reducers = {{"pca", n_components = 2}}, clusterers = {{"kmeans", n_clusters = 3}},
                             seeds = {0}})
    local first = sweep.run(cfg, QUIET)
    local npy = io.popen("ls " .. dir .. "/cache/*.npy"):read("l")
    local json = npy:gsub("%.npy$", ".json")
    local function rerun()
      os.remove(dir .. "/rows.jsonl")
      local res = sweep.run(cfg, QUIET)
      assert.are.equal(1, res.new)
      assert.are.equal(first.rows[1].ari, res.rows[1].ari)
      return res.rows[1]
    end
    assert.is_true(rerun().reduce_cached)
    -- truncated .npy
    local s = io.open(npy, "rb"):read("a")
    io.open(npy, "wb"):write(s:sub(1, #s - 10)):close()
    assert.is_false(rerun().reduce_cached)
    -- wrong shape: a 90×3 matrix under the 90×2 entry's name
    fm.matrix.random(90, 3):save_npy(npy)
    assert.is_false(rerun().reduce_cached)
    -- the JSON of another key
    local meta = sweep.decode(io.open(json):read("a"))
    meta.key = meta.key .. "x"
    io.open(json, "w"):write(sweep.encode(meta)):close()
    assert.is_false(rerun().reduce_cached)
    -- garbage JSON
    io.open(json, "w"):write("{not json"):close()
    assert.is_false(rerun().reduce_cached)
    assert.is_true(rerun().reduce_cached)
  end)

  it("keys embeddings and rows by a hash of the data", function()
    local h1 = sweep.data_hash(X)
    assert.matches("^%x+$", h1)
    assert.are.equal(h1, sweep.data_hash(X:copy()))
    local X2 = X:copy()
    X2:set(45, 3, X2:get(45, 3) + 1)
    assert.are_not.equal(h1, sweep.data_hash(X2))
    assert.are_not.equal(h1, sweep.data_hash(X:slice(1, 89)))
    local dir = H.tmpdir()
    sweep.run(config(dir, {seeds = {0}}), QUIET)
    local ok, err = pcall(sweep.run, config(dir, {seeds = {0}, data = X2}), QUIET)
    assert.is_false(ok)
    assert.matches("holds rows computed on other data", err, 1, true)
  end)

  it("ignores and reports a torn last line, keeping the earlier rows", function()
    local dir = H.tmpdir()
    local cfg = config(dir)
    local full = sweep.run(cfg, QUIET)
    local lines = lines_of(dir .. "/rows.jsonl")
    -- drop the last two rows and leave half of one of them without its newline
    local f = io.open(dir .. "/rows.jsonl", "wb")
    for i = 1, #lines - 2 do f:write(lines[i], "\n") end
    f:write(lines[#lines - 1]:sub(1, 40))
    f:close()
    local rows, info = sweep.read_rows(dir .. "/rows.jsonl")
    assert.are.equal(#lines - 2, #rows)
    assert.are.equal(lines[#lines - 1]:sub(1, 40), info.torn)
    -- a whole JSON object without its newline is torn too (the write may have stopped there)
    local tmp = dir .. "/x.jsonl"
    io.open(tmp, "wb"):write(lines[1], "\n", lines[2]):close()
    local r2, i2 = sweep.read_rows(tmp)
    assert.are.equal(1, #r2)
    assert.are.equal(lines[2], i2.torn)

    -- the rerun reports it, keeps it aside in rows.jsonl.torn, and recomputes the two rows
    X:save_npy(dir .. "/X.npy")
    fm.labels(y):save_npy(dir .. "/y.npy")
    local out = H.run_lua(([[
      local sweep = require "fmclust.sweep"
      local res = sweep.run({name = "t", out = %q, data = %q, truth = %q,
        reducers = {{"none"}, {"pca", n_components = {2, 3}}},
        clusterers = {{"kmeans", n_clusters = 3, n_init = 2}, {"ward", n_clusters = 3}}, seeds = {0, 1}},
        {fsync = false})
      print("NEW " .. res.new .. " ROWS " .. #res.rows)
    ]]):format(dir, dir .. "/X.npy", dir .. "/y.npy"), {})
    assert.matches("ignored a torn last line %(40 bytes, saved to rows.jsonl.torn%); 9 earlier rows kept", out)
    assert.matches("NEW 2 ROWS 11", out, 1, true)
    local final, finfo = sweep.read_rows(dir .. "/rows.jsonl")
    assert.are.equal(11, #final)
    assert.is_nil(finfo.torn)
    assert.are.equal(lines[#lines - 1]:sub(1, 40), lines_of(dir .. "/rows.jsonl.torn")[1])
    local a = by_key(full.rows)
    for _, r in ipairs(final) do assert.are.equal(a[r.key].ari, r.ari) end
  end)

  it("resumes after kill -9 and loses no finished row", function()
    local dir = H.tmpdir()
    X:save_npy(dir .. "/X.npy")
    fm.labels(y):save_npy(dir .. "/y.npy")
    local cfg_path = dir .. "/slow.lua"
    io.open(cfg_path, "w"):write(([[
      -- a clusterer that takes a while, so the kill lands mid-sweep
      sweep.register("clusterer", "slow_kmeans", {seeded = true, label = "k-means", run = function(Z, p)
        os.execute("sleep 0.15")
        return fm.kmeans(Z, p)
      end})
      return {name = "kill", out = %q, data = %q, truth = %q,
              reducers = {{"none"}, {"pca", n_components = {2, 3}}},
              clusterers = {{"slow_kmeans", n_clusters = {2, 3, 4}}}, seeds = {0, 1}}
    ]]):format(dir .. "/out", dir .. "/X.npy", dir .. "/y.npy")):close()
    local runner = dir .. "/run.lua"
    io.open(runner, "w"):write(([[
      local sweep = require "fmclust.sweep"
      local res = sweep.run(sweep.load_config(%q), {progress = false})
      print("NEW " .. res.new .. " ROWS " .. #res.rows)
    ]]):format(cfg_path)):close()
    -- start it in the background, wait for a few rows, kill -9
    local pid = io.popen(("lua5.4 %s >/dev/null 2>&1 & echo $!"):format(runner)):read("l")
    assert.matches("^%d+$", pid)
    local rows_path = dir .. "/out/rows.jsonl"
    for _ = 1, 600 do   -- up to 30 s on a busy machine
      if #lines_of(rows_path) >= 3 then break end
      os.execute("sleep 0.05")
    end
    os.execute("kill -9 " .. pid)
    os.execute("sleep 0.1")
    local before = lines_of(rows_path)
    assert.is_true(#before >= 3 and #before < 18, "rows before the kill: " .. #before)
    local rows_before = sweep.read_rows(rows_path)
    -- resume in a fresh process
    local out = io.popen(("lua5.4 %s 2>/dev/null"):format(runner)):read("a")
    local new, total = out:match("NEW (%d+) ROWS (%d+)")
    assert.are.equal(18, tonumber(total))
    assert.are.equal(18 - #rows_before, tonumber(new))
    local all = sweep.read_rows(rows_path)
    assert.are.equal(18, #all)
    assert.are.equal(18, count(by_key(all)))   -- no duplicates
    -- the rows kept from before the kill are untouched, and match a clean run
    local after = by_key(all)
    for _, r in ipairs(rows_before) do assert.are.equal(r.ari, after[r.key].ari) end
    sweep.register("clusterer", "slow_kmeans", {seeded = true, label = "k-means",
                                                run = function(Z, p) return fm.kmeans(Z, p) end})
    local clean = sweep.run({name = "clean", out = dir .. "/clean", data = X, truth = y,
                             reducers = {{"none"}, {"pca", n_components = {2, 3}}},
                             clusterers = {{"slow_kmeans", n_clusters = {2, 3, 4}}}, seeds = {0, 1}}, QUIET)
    for _, r in ipairs(clean.rows) do
      assert.is_not_nil(after[r.key])
      assert.are.equal(r.ari, after[r.key].ari)
    end
    sweep.registry.clusterer.slow_kmeans = nil
  end)

  it("refuses a second sweep writing to the same directory, and takes over a stale lock", function()
    local dir = H.tmpdir()
    local cfg = config(dir, {reducers = {{"pca", n_components = 2}}, clusterers = {{"kmeans", n_clusters = 3}},
                             seeds = {0}})
    os.execute("mkdir -p " .. dir .. "/.lock")
    local host = io.open("/proc/sys/kernel/hostname"):read("l")
    -- held by a live process (this shell's parent: pid 1 always exists)
    io.open(dir .. "/.lock/owner", "w"):write(host .. " 1\n"):close()
    local ok, err = pcall(sweep.run, cfg, QUIET)
    assert.is_false(ok)
    assert.matches("another sweep is writing to " .. dir .. " (pid 1 on " .. host .. ")", err, 1, true)
    -- held by a process that is gone
    io.open(dir .. "/.lock/owner", "w"):write(host .. " 999999999\n"):close()
    assert.are.equal(1, sweep.run(cfg, QUIET).new)
    assert.is_nil(io.open(dir .. "/.lock/owner"))   -- released
  end)

  it("skips rows of a missing algorithm and runs them on a later resume", function()
    local dir = H.tmpdir()
    sweep.register("clusterer", "later", {fn = "later_not_yet_built", seeded = true})
    local cfg = config(dir, {reducers = {{"pca", n_components = 2}}, clusterers = {{"kmeans", n_clusters = 3},
                             {"later", n_clusters = 3}}, seeds = {0}})
    local res = sweep.run(cfg, QUIET)
    assert.are.equal(1, res.new)
    assert.are.equal(1, res.skipped)
    assert.matches("clusterer 'later' is not available in this build", res.unavailable[1], 1, true)
    fm.later_not_yet_built = fm.kmeans   -- the module lands
    local r2 = sweep.run(cfg, QUIET)
    assert.are.equal(1, r2.new)
    assert.are.equal(2, #r2.rows)
    fm.later_not_yet_built = nil
    sweep.registry.clusterer.later = nil
  end)

  it("reports a failing row, keeps going, and retries it on the next run", function()
    local dir = H.tmpdir()
    local broken = true
    sweep.register("clusterer", "flaky", {seeded = false, run = function(Z, p)
      if broken then error("flaky: out of luck") end
      return fm.kmeans(Z, {n_clusters = p.n_clusters})
    end})
    sweep.register("reducer", "bad_reducer", {seeded = false, run = function() error("no embedding today") end})
    local cfg = config(dir, {reducers = {{"pca", n_components = 2}, {"bad_reducer"}},
                             clusterers = {{"flaky", n_clusters = 3}, {"kmeans", n_clusters = 3}}, seeds = {0}})
    local res = sweep.run(cfg, QUIET)
    assert.are.equal(1, res.new)   -- pca → kmeans
    assert.are.equal(3, #res.failed)
    local msgs = {}
    for _, f in ipairs(res.failed) do msgs[#msgs + 1] = f.error end
    table.sort(msgs)
    assert.matches("^embedding failed: no embedding today", msgs[1])
    assert.matches("^embedding failed: no embedding today", msgs[2])
    assert.matches("flaky: out of luck", msgs[3], 1, true)
    broken = false
    local r2 = sweep.run(cfg, QUIET)
    assert.are.equal(1, r2.new)
    assert.are.equal(2, #r2.failed)
    assert.are.equal(2, #r2.rows)
    sweep.registry.clusterer.flaky = nil
    sweep.registry.reducer.bad_reducer = nil
  end)

  it("runs pipelines and caches each step", function()
    local dir = H.tmpdir()
    local res = sweep.run(config(dir, {reducers = {{"pca", n_components = 2, input = {"pca", n_components = 4}}},
                                       clusterers = {{"kmeans", n_clusters = 3}}, seeds = {0}}), QUIET)
    assert.are.equal(1, #res.rows)
    assert.are.equal("pca→pca", res.rows[1].reducer_label)
    assert.are.equal(4, res.rows[1].reducer_input.params.n_components)
    assert.are.equal(2, res.rows[1].n_components)
    local n = 0
    for _ in io.popen("ls " .. dir .. "/cache/*.json"):lines() do n = n + 1 end
    assert.are.equal(2, n)
  end)

  it("reports progress on stderr: row i/N, stage, elapsed, ETA", function()
    local dir = H.tmpdir()
    X:save_npy(dir .. "/X.npy")
    fm.labels(y):save_npy(dir .. "/y.npy")
    local out = H.run_lua(([[
      local sweep = require "fmclust.sweep"
      sweep.run({name = "p", out = %q, data = %q, truth = %q, reducers = {{"pca", n_components = 2}},
                 clusterers = {{"kmeans", n_clusters = {2, 3}}}}, {fsync = false})
    ]]):format(dir .. "/out", dir .. "/X.npy", dir .. "/y.npy"), {})
    assert.matches("row 1/2 %[pca%(n_components=2%) → k%-means%(n_clusters=2%) seed 0%] reducing", out)
    assert.matches("row 2/2 done: .* ARI %d%.%d+ AMI %d%.%d+, %d+ clusters", out)
    assert.matches("elapsed %d+s, ETA", out)
  end)

  it("merges shard directories into the same rows as an unsharded run", function()
    local dir = H.tmpdir()
    local whole = sweep.run(config(dir .. "/whole"), QUIET)
    local shard_dirs = {}
    for i = 1, 3 do
      local r = sweep.run(config(dir .. "/sharded"), {shard = ("%d/3"):format(i), progress = false, fsync = false})
      assert.are.equal(dir .. "/sharded/shard-" .. i .. "-of-3", r.dir)
      shard_dirs[i] = r.dir
    end
    local merged = sweep.merge(shard_dirs, dir .. "/sharded", {progress = false})
    assert.are.equal(#whole.rows, #merged)
    local a = by_key(whole.rows)
    for _, r in ipairs(merged) do assert.are.equal(a[r.key].ari, r.ari) end
    assert.are.equal(#whole.rows, #lines_of(dir .. "/sharded/rows.jsonl"))
    -- merging again changes nothing
    assert.are.equal(#whole.rows, #sweep.merge(shard_dirs, dir .. "/sharded", {progress = false}))
    assert.has_error(function() sweep.merge({dir .. "/nope"}, dir .. "/m", {progress = false}) end)
    -- rows of other data are refused, nothing written
    local X2 = X:copy()
    X2:set(1, 1, 9)
    sweep.run(config(dir .. "/other", {data = X2, seeds = {0}}), QUIET)
    local ok, err = pcall(sweep.merge, {dir .. "/whole", dir .. "/other"}, dir .. "/mixed", {progress = false})
    assert.is_false(ok)
    assert.matches("holds rows of other data", err, 1, true)
    assert.is_nil(io.open(dir .. "/mixed/rows.jsonl"))
  end)
end)

describe("examples/annexe.lua", function()
  it("plans the study's 48 rows, one per annexe line, and the new rows", function()
    local report = require "fmclust.report"
    local cfg = sweep.load_config("examples/annexe.lua", {QUICK = true})
    local p = sweep.plan(cfg)
    local count = {}
    for _, r in ipairs(p.rows) do
      local nc = r.reducer.name ~= "none" and r.reducer.params.n_components or nil
      local k = ("%s|%s|%s"):format(r.clusterer.label, r.reducer.label, tostring(nc))
      count[k] = (count[k] or 0) + 1
    end
    for _, s in ipairs(report.seed_rows()) do
      local red = s.reduction == "nan" and "none" or s.reduction
      local k = ("%s|%s|%s"):format(s.model, red, tostring(s.n_components))
      assert.are.equal(1, count[k], k)
    end
    local labels = {}
    for _, r in ipairs(p.rows) do labels[r.reducer.label .. " " .. r.clusterer.label] = true end
    for _, want in ipairs{"umap gmm", "umap optics", "densmap k-means", "umap-mutual ward",
                          "umap-nn30-md0 hdbscan (tuned)", "n2d (ae→umap) gmm"} do
      assert.is_true(labels[want], want)
    end
    assert.is_true(#p.rows > 48)
  end)
end)
