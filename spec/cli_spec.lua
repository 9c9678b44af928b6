-- The `fmclust` command (bin/fmclust → fmclust.cli): each subcommand, --help, exit codes, errors on
-- stderr, sharded sweeps merged, and the GNU parallel path (when `parallel` is installed).
local H = require "spec.helper"
local fm = require "fmclust"
local sweep = require "fmclust.sweep"
local cjson = require "cjson"

local BIN = "bin/fmclust"

local read = require("fmclust.util").read_all   -- the whole file, or nil

-- run a shell command line; returns stdout, stderr, exit code
local tmpbase = H.tmpdir()
local function sh(cmd)
  local o, e = tmpbase .. "/out", tmpbase .. "/err"
  local p = io.popen(("%s >%s 2>%s; echo $?"):format(cmd, o, e))
  local code = tonumber(p:read("a"))
  p:close()
  return read(o), read(e), code
end
local function fmclust(args) return sh(BIN .. " " .. args) end

-- three blobs, 30 points each, saved as .npy with their labels
local dir = H.tmpdir()
local Xpath, ypath = dir .. "/X.npy", dir .. "/y.npy"
do
  local R = fm.matrix.random(90, 6, {seed = 3, distribution = "normal"})
  local rows, y = {}, {}
  for i = 1, 90 do
    local c = (i - 1) // 30
    rows[i] = {}
    for j = 1, 6 do rows[i][j] = R:get(i, j) * 0.5 + (j == c + 1 and 4 or 0) end
    y[i] = c
  end
  fm.matrix(rows):save_npy(Xpath)
  fm.labels(y):save_npy(ypath)
end

local function write_config(path, extra)
  local f = assert(io.open(path, "w"))
  f:write(([[
    return {name = "cli", data = %q, truth = %q,
            reducers = {{"none"}, {"pca", n_components = {2, 3}}},
            clusterers = {{"kmeans", n_clusters = {2, 3}}, {"ward", n_clusters = 3}},
            seeds = {0, 1}, %s}
  ]]):format(Xpath, ypath, extra or ""))
  f:close()
  return path
end

describe("fmclust command", function()
  it("prints help for the command and each subcommand, exit 0", function()
    local out, _, code = fmclust("--help")
    assert.are.equal(0, code)
    for _, c in ipairs{"sweep", "merge", "report", "embed", "cluster", "score", "info"} do
      assert.matches("\n   " .. c .. " ", out, 1, true)
    end
    for _, c in ipairs{"sweep", "merge", "report", "embed", "cluster", "score", "info"} do
      local o, _, rc = fmclust(c .. " --help")
      assert.are.equal(0, rc, c)
      assert.matches("Usage: fmclust " .. c, o, 1, true)
    end
    local o = fmclust("sweep --help")
    assert.matches("--shard", o, 1, true)
    assert.matches("--quick", o, 1, true)
  end)

  it("exits 2 on usage errors, with the message on stderr", function()
    local out, err, code = fmclust("bogus")
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.matches("fmclust: unknown command 'bogus'", err, 1, true)
    _, err, code = fmclust("embed --n-components 3 --out x.npy")
    assert.are.equal(2, code)
    assert.matches("fmclust: missing option '--method'", err, 1, true)
    _, err, code = fmclust("cluster --method kmeans --n-clusters ten " .. Xpath)
    assert.are.equal(2, code)
    assert.matches("an integer expected, got 'ten'", err, 1, true)
    _, err, code = fmclust("cluster --method dbscan " .. Xpath)
    assert.are.equal(2, code)
    _, _, code = fmclust("")
    assert.are.equal(2, code)
  end)

  it("info lists the build and the algorithms", function()
    local out, _, code = fmclust("info")
    assert.are.equal(0, code)
    assert.matches("^fmclust %d", out)
    assert.matches("reducers: [^\n]*pca", out)
    assert.matches("clusterers: [^\n]*kmeans", out)
  end)

  it("score prints the metrics of fm.metrics.all", function()
    local lab = dir .. "/lab.npy"
    local pred = {}
    for i = 1, 90 do pred[i] = (i * 7) % 4 end
    fm.labels(pred):save_npy(lab)
    local out, _, code = fmclust(("score %s %s"):format(ypath, lab))
    assert.are.equal(0, code)
    local m = fm.metrics.all(fm.labels.load_npy(ypath), pred)
    assert.matches(("ari +%.6f"):format(m.ari):gsub("%-", "%%-"), out)
    local js = fmclust(("score --json %s %s"):format(ypath, lab))
    local t = cjson.decode(js)
    assert.is_near(m.ami, t.ami, 1e-12)
    -- errors: exit 1, message on stderr
    local o, err, c = fmclust(("score %s %s"):format(ypath, dir .. "/missing.npy"))
    assert.are.equal(1, c)
    assert.are.equal("", o)
    assert.matches("^fmclust: cannot read labels '.*missing.npy'", err)
    fm.labels({0, 1, 2}):save_npy(dir .. "/short.npy")
    _, err, c = fmclust(("score %s %s"):format(ypath, dir .. "/short.npy"))
    assert.are.equal(1, c)
    assert.matches("fmclust: truth has 90 labels, labels has 3", err, 1, true)
  end)

  it("embed and cluster give what fm.pca and fm.kmeans give", function()
    local emb, lab = dir .. "/emb.npy", dir .. "/km.npy"
    local _, err, code = fmclust(("embed --method pca --n-components 3 --seed 0 --out %s %s"):format(emb, Xpath))
    assert.are.equal(0, code, err)
    assert.matches("pca%(n_components=3%) embedding 90×3", err)
    local Z = fm.matrix.load_npy(emb)
    local Zref = fm.pca(fm.matrix.load_npy(Xpath), {n_components = 3, seed = 0})
    for i = 1, 90, 11 do for j = 1, 3 do assert.are.equal(Zref:get(i, j), Z:get(i, j)) end end
    local out
    out, err, code = fmclust(("cluster --method kmeans --n-clusters 3 --param n_init=2 --out %s --truth %s %s")
                               :format(lab, ypath, emb))
    assert.are.equal(0, code, err)
    local res = fm.kmeans(Zref, {n_clusters = 3, n_init = 2, seed = 0})
    local m = fm.metrics.all(fm.labels.load_npy(ypath), res.labels)
    assert.matches(("kmeans: 3 clusters, 0 noise points, [%%d.]+ s; ARI %.4f"):format(m.ari), out)
    local l = fm.labels.load_npy(lab)
    for i = 1, 90 do assert.are.equal(res.labels[i], l[i]) end
    -- the algorithm's own errors: exit 1
    out, err, code = fmclust(("cluster --method ward --n-clusters 500 %s"):format(emb))
    assert.are.equal(1, code)
    assert.matches("^fmclust: bad argument #2 to 'ward' %(n_clusters", err)
    _, err, code = fmclust(("cluster --method hdbscan --n-clusters 3 %s"):format(emb))
    assert.are.equal(1, code)
    assert.matches("--n-clusters does not apply to hdbscan", err, 1, true)
    _, err, code = fmclust(("cluster --method kmeans --param n_clusterz=3 %s"):format(emb))
    assert.are.equal(1, code)
    assert.matches("unknown option 'n_clusterz'", err, 1, true)
    _, err, code = fmclust(("cluster --method kmeans --param oops %s"):format(emb))
    assert.are.equal(1, code)
    assert.matches("--param expects name=value, got 'oops'", err, 1, true)
    -- an autoencoder through the same registry as the sweep
    _, err, code = fmclust(("embed --method ae --n-components 2 --param epochs=1 --out %s %s"):format(dir .. "/ae.npy", Xpath))
    assert.are.equal(0, code, err)
    assert.are.same({90, 2}, {fm.matrix.load_npy(dir .. "/ae.npy"):shape()})
    _, err, code = fmclust(("embed --method pca --n-components 3 --out %s %s"):format(emb, dir .. "/nope.npy"))
    assert.are.equal(1, code)
    assert.matches("cannot read data", err, 1, true)
  end)

  it("sweep runs a config, prints the table, and a rerun computes nothing", function()
    local cfg = write_config(dir .. "/cfg.lua")
    local out_dir = dir .. "/sweep1"
    local out, err, code = fmclust(("sweep %s --out %s --no-fsync"):format(cfg, out_dir))
    assert.are.equal(0, code, err)
    assert.matches("| model ", out, 1, true)
    assert.matches("row 1/17", err, 1, true)
    local rows = sweep.read_rows(out_dir .. "/rows.jsonl")
    assert.are.equal(17, #rows)
    local _, err2, code2 = fmclust(("sweep %s --out %s -q"):format(cfg, out_dir))
    assert.are.equal(0, code2)
    assert.are.equal("", err2)
    assert.are.equal(17, #sweep.read_rows(out_dir .. "/rows.jsonl"))
    -- report: md, csv, json
    local md = fmclust("report " .. out_dir)
    assert.matches("adjusted rand index", md, 1, true)
    local csv = fmclust("report --format csv " .. out_dir)
    assert.are.equal(18, select(2, csv:gsub("\n", "")))
    local js = fmclust("report -f json " .. out_dir)
    assert.are.equal(17, #cjson.decode(js))
    local _, rerr, rc = fmclust("report " .. dir .. "/nothing")
    assert.are.equal(1, rc)
    assert.matches("no rows file", rerr, 1, true)
    local cmp = fmclust("report --compare seed " .. out_dir)
    assert.matches("ARI (study)", cmp, 1, true)
  end)

  it("sweep reports bad configs and shard specs clearly, exit 1", function()
    local bad = dir .. "/bad.lua"
    io.open(bad, "w"):write('return {data = "x.npy", clusterers = {{"kmenas"}}}'):close()
    local out, err, code = fmclust("sweep " .. bad)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("unknown clusterer 'kmenas'", err, 1, true)
    local cfg = write_config(dir .. "/cfg2.lua")
    for _, s in ipairs{"0/3", "4/3", "x"} do
      _, err, code = fmclust(("sweep %s --shard %s --out %s"):format(cfg, s, dir .. "/bad_shard"))
      assert.are.equal(1, code)
      assert.matches("shard must be i/n with 1 ≤ i ≤ n", err, 1, true)
    end
    _, err, code = fmclust("sweep " .. dir .. "/missing.lua")
    assert.are.equal(1, code)
    assert.matches("cannot load config", err, 1, true)
    _, err, code = fmclust(("sweep %s --shard-by columns"):format(cfg))
    assert.are.equal(2, code)
  end)

  it("runs shards and merges them into the unsharded table", function()
    local cfg = write_config(dir .. "/cfg3.lua")
    local whole = dir .. "/whole"
    assert.are.equal(0, select(3, fmclust(("sweep %s --out %s -q --no-fsync"):format(cfg, whole))))
    local sharded = dir .. "/sharded"
    for i = 1, 2 do
      local _, err, code = fmclust(("sweep %s --out %s --shard %d/2 -q --no-fsync"):format(cfg, sharded, i))
      assert.are.equal(0, code, err)
    end
    local out, err, code = fmclust(("merge %s/shard-1-of-2 %s/shard-2-of-2"):format(sharded, sharded))
    assert.are.equal(0, code, err)
    assert.matches("17 rows from 2 directories", err, 1, true)
    assert.matches("| model ", out, 1, true)
    local a, b = {}, sweep.read_rows(sharded .. "/rows.jsonl")
    for _, r in ipairs(sweep.read_rows(whole .. "/rows.jsonl")) do a[r.key] = r end
    assert.are.equal(17, #b)
    for _, r in ipairs(b) do assert.are.equal(a[r.key].ari, r.ari) end
    _, err, code = fmclust(("merge %s %s"):format(whole, sharded))
    assert.are.equal(1, code)
    assert.matches("give --out DIR", err, 1, true)
  end)

  it("runs examples/sweep_small.lua, as a config and as a script", function()
    local out_dir = dir .. "/small"
    local out, err, code = sh(("FMCLUST_SMALL_N=300 %s sweep examples/sweep_small.lua --out %s -q --no-fsync")
                                :format(BIN, out_dir))
    assert.are.equal(0, code, err)
    assert.matches("ARI (study)", out, 1, true)
    assert.are.equal(13, #sweep.read_rows(out_dir .. "/rows.jsonl"))
    assert.truthy(read(out_dir .. "/compare.md"))
    out, err, code = sh(("FMCLUST_SMALL_N=300 lua5.4 examples/sweep_small.lua --out %s -q"):format(out_dir))
    assert.are.equal(0, code, err)
    assert.matches("| model ", out, 1, true)
    _, err, code = sh("lua5.4 examples/sweep_small.lua --shard 5/2 -q")
    assert.are.equal(1, code)
    assert.matches("shard must be i/n", err, 1, true)
  end)

  it("runs the shards with GNU parallel (examples/shards/parallel.sh)", function()
    assert.is_true(os.execute("command -v parallel >/dev/null 2>&1"), "GNU parallel is missing: make deps installs it")
    local cfg = write_config(dir .. "/cfg4.lua")
    local out_dir = dir .. "/par"
    local _, err, code = sh(("FMCLUST=%s SHARDS=3 JOBS=2 sh examples/shards/parallel.sh %s %s")
                              :format(BIN, cfg, out_dir))
    assert.are.equal(0, code, err)
    local rows = sweep.read_rows(out_dir .. "/rows.jsonl")
    assert.are.equal(17, #rows)
    local keys = {}
    for _, r in ipairs(rows) do keys[r.key] = true end
    local n = 0
    for _ in pairs(keys) do n = n + 1 end
    assert.are.equal(17, n)
    for i = 1, 3 do
      assert.truthy(read(("%s/shard-%d-of-3/rows.jsonl"):format(out_dir, i)))
    end
  end)
end)
