-- fmclust.cli — the `fmclust` command (bin/fmclust runs cli.main(arg)).
--
--   fmclust sweep CONFIG.lua [--shard i/n] [--quick] [--out DIR]   run a sweep, print its table
--   fmclust merge DIR... [--out DIR]                               combine shard outputs
--   fmclust report DIR [--format md|csv|json] [--compare seed]     tables of a results directory,
--                  [--html PATH | --no-html] [--data X --truth Y]   and its HTML page (DIR/report.html)
--   fmclust embed --method umap --n-components 10 --out emb.npy [DATA]
--   fmclust cluster --method ward --n-clusters 10 [--out labels.npy] [--truth y.npy] EMB.npy
--   fmclust score TRUTH.npy LABELS.npy
--   fmclust info
--
-- Exit codes: 0 success, 1 failure (bad data, bad config, an algorithm's error), 2 usage error.
-- Errors go to stderr as "fmclust: <message>"; results to stdout, progress to stderr.
local argparse = require "argparse"

local M = {}

local EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

-- a failure with a message for the user (no traceback)
local Fail = {}
local function fail(fmt, ...) error(setmetatable({msg = fmt:format(...)}, Fail), 0) end

local function clean(msg)
  msg = tostring(msg)
  -- "…/lua/fmclust/sweep.lua:123: sweep: x" → "sweep: x"; keep "bad argument" text as is
  msg = msg:gsub("^[^\n]-%.lua:%d+: ", "")
  return msg
end

local function fm() return require "fmclust" end

-- argparse converter: an integer or nil, message
local function integer(s)
  local n = math.tointeger(tonumber(s))
  if not n then return nil, ("an integer expected, got '%s'"):format(s) end
  return n
end

-- "k=v" → k, typed v (true/false, integers, numbers, else the string)
local function parse_param(s)
  local k, v = s:match("^([%a_][%w_]*)=(.*)$")
  if not k then fail("--param expects name=value, got '%s'", s) end
  if v == "true" then return k, true elseif v == "false" then return k, false end
  local num = math.tointeger(tonumber(v)) or tonumber(v)
  if num then return k, num end
  return k, v
end

-- DATA: a file (.npy, .csv, IDX) or fashion-mnist[:all|train|test]
local function load_data(spec, quick)
  local f = fm()
  spec = spec or "fashion-mnist"
  local ds, split = spec:match("^(fashion[-_]mnist):?(%a*)$")
  if ds then
    split = split ~= "" and split or (quick and "test" or "all")
    if split ~= "all" and split ~= "train" and split ~= "test" then
      fail("unknown split '%s' (all, train or test)", split)
    end
    local X, y = f.data.fashion_mnist{split = split}
    return X, y
  end
  local ok, X = pcall(f.data.load, spec)
  if not ok then fail("cannot read data '%s': %s", spec, clean(X):gsub("^bad argument #%d+ to '[^']*' %((.*)%)$", "%1")) end
  return X
end

local function load_labels(path, what)
  local f = fm()
  local ok, y = pcall(f.data.load_labels, path)
  if not ok then fail("cannot read %s '%s': %s", what, path, clean(y)) end
  return y
end

local function write_file(path, s)
  local fh, err = io.open(path, "wb")
  if not fh then fail("cannot write '%s': %s", path, err) end
  fh:write(s)
  fh:close()
end

-- ---------------------------------------------------------------- commands

-- run a loaded config with the sweep command's options; prints the table (and comparison)
local function run_sweep(cfg, a)
  local sweep = require "fmclust.sweep"
  local report = require "fmclust.report"
  local quick = a.quick or os.getenv("FMCLUST_QUICK") == "1"
  local res = sweep.run(cfg, {quick = quick, shard = a.shard, shard_by = a.shard_by, out = a.out,
                              progress = not a.quiet, fsync = not a.no_fsync})
  local rows = sweep.read_rows(res.dir .. "/rows.jsonl")
  io.stdout:write(report.markdown(rows))
  local compare = a.compare or cfg.compare
  if compare and not (res.plan.shard and res.plan.shard.n > 1) then
    local cmp = report.compare(rows, compare)
    io.stdout:write("\n", cmp:markdown())
    write_file(res.dir .. "/compare.md", cmp:markdown())
  end
  -- the config's html = true (or {options of fm.report.html}): the sweep's HTML page
  if cfg.html and not (res.plan.shard and res.plan.shard.n > 1) and #rows > 0 then
    local opts = type(cfg.html) == "table" and cfg.html or {}
    if type(cfg.html) == "function" then opts = cfg.html(res.dir, {quick = quick}) end
    local ok, out = pcall(require("fmclust.html").html, res.dir, opts)
    io.stderr:write(ok and ("fmclust: wrote %s\n"):format(out) or ("fmclust: no HTML page: %s\n"):format(tostring(out)))
  end
  if res.skipped > 0 then
    io.stderr:write(("fmclust: %d rows not run (algorithms missing from this build: %s)\n")
      :format(res.skipped, table.concat(res.unavailable, "; ")))
  end
  if #res.failed > 0 then
    for _, f in ipairs(res.failed) do io.stderr:write(("fmclust: row failed: %s: %s\n"):format(f.row, f.error)) end
    io.stderr:write(("fmclust: %d rows failed; the others are in %s (rerun to retry)\n"):format(#res.failed, res.dir))
    return EXIT_FAIL
  end
  return EXIT_OK
end

local function cmd_sweep(a)
  local sweep = require "fmclust.sweep"
  local quick = a.quick or os.getenv("FMCLUST_QUICK") == "1"
  return run_sweep(sweep.load_config(a.config, {QUICK = quick}), a)
end

local function cmd_merge(a)
  local sweep = require "fmclust.sweep"
  local report = require "fmclust.report"
  local out = a.out
  if not out then
    -- shards live in OUT/shard-i-of-n: default to their common parent
    local parent
    for _, d in ipairs(a.dirs) do
      local p = d:gsub("/+$", ""):match("^(.*)/shard%-%d+%-of%-%d+$")
      if not p or (parent and p ~= parent) then
        fail("merge: give --out DIR (the directories are not shards of one sweep)")
      end
      parent = p
    end
    out = parent
  end
  local rows = sweep.merge(a.dirs, out, {progress = not a.quiet})
  io.stdout:write(report.markdown(rows))
  return EXIT_OK
end

local function cmd_report(a)
  local sweep = require "fmclust.sweep"
  local report = require "fmclust.report"
  local U = require "fmclust.util"
  local path = a.dir:match("%.jsonl$") and a.dir or (a.dir .. "/rows.jsonl")
  if not U.exists(path) then fail("no rows file '%s'", path) end
  local rows, info = sweep.read_rows(path)
  if info.torn then io.stderr:write(("fmclust: %s: ignored a torn last line\n"):format(path)) end
  local fmt = a.format
  if fmt == "md" then io.stdout:write(report.markdown(rows))
  elseif fmt == "csv" then io.stdout:write(report.csv(rows))
  else io.stdout:write(report.json(rows)) end
  if a.compare then io.stdout:write("\n", report.compare(rows, a.compare):markdown()) end
  -- the HTML page beside rows.jsonl (or at --html), unless --no-html
  -- (an explicit --html that fails is an error; the default page failing is only a warning)
  if not a.no_html and #rows > 0 then
    if a.data == nil and a.truth ~= nil then fail("--truth needs --data") end
    local opts = {path = a.html, data = a.data, truth = a.truth, compare = a.compare or "seed"}
    local ok, out, info = pcall(require("fmclust.html").html, a.dir, opts)
    if ok then
      local drawn = 0
      for _, f in ipairs(info.figures) do if f.drawn then drawn = drawn + 1 end end
      io.stderr:write(("fmclust: wrote %s (%d of %d figures)\n"):format(out, drawn, #info.figures))
    elseif a.html or a.data then
      fail("%s", clean(out))
    else
      io.stderr:write(("fmclust: no HTML page: %s\n"):format(clean(out)))
    end
  end
  return EXIT_OK
end

local REDUCER_METHODS = {"pca", "nmf", "umap", "densmap", "ae", "cae"}
local CLUSTER_METHODS = {"kmeans", "ward", "gmm", "hdbscan", "optics"}
-- the option that sets the number of clusters
local K_OPTION = {kmeans = "n_clusters", ward = "n_clusters", gmm = "n_components"}

local function params_from(a)
  local p = {}
  for _, s in ipairs(a.param or {}) do
    local k, v = parse_param(s)
    p[k] = v
  end
  return p
end

local function cmd_embed(a)
  local sweep = require "fmclust.sweep"
  local p = params_from(a)
  p.n_components = a.n_components
  local name = a.method
  if name == "densmap" then name, p.densmap = "umap", true end
  local ok, why = sweep.available("reducer", name)
  if not ok then fail("%s", why) end
  local X = load_data(a.data, a.quick)
  local t0 = sweep.now()
  local okc, Z = pcall(sweep.reduce, name, X, p, a.seed)
  if not okc then fail("%s", clean(Z)) end
  Z:save_npy(a.out)
  local n, d = Z:shape()
  io.stderr:write(("fmclust: %s embedding %d×%d in %.1f s → %s\n"):format(
    sweep.spec_text({name = name, params = p, label = name}), n, d, sweep.now() - t0, a.out))
  return EXIT_OK
end

local function cmd_cluster(a)
  local f = fm()
  local sweep = require "fmclust.sweep"
  local p = params_from(a)
  local name = a.method
  if a.n_clusters then
    local k = K_OPTION[name]
    if not k then fail("--n-clusters does not apply to %s (it finds the number of clusters)", name) end
    p[k] = a.n_clusters
  end
  local ok, why = sweep.available("clusterer", name)
  if not ok then fail("%s", why) end
  local okl, Z = pcall(f.data.load, a.embedding)
  if not okl then fail("cannot read embedding '%s': %s", a.embedding, clean(Z)) end
  local t0 = sweep.now()
  local okc, labels = pcall(sweep.cluster, name, Z, p, a.seed)
  if not okc then fail("%s", clean(labels)) end
  local secs = sweep.now() - t0
  local counts = labels:counts()
  local k, noise = 0, counts[-1] or 0
  for lab in pairs(counts) do if lab ~= -1 then k = k + 1 end end
  if a.out then labels:save_npy(a.out) end
  local msg = ("%s: %d clusters, %d noise points, %.1f s"):format(name, k, noise, secs)
  if a.truth then
    local y = load_labels(a.truth, "truth")
    if #y ~= #labels then fail("truth has %d labels, the embedding %d rows", #y, #labels) end
    local m = f.metrics.all(y, labels)
    msg = msg .. ("; ARI %.4f AMI %.4f NMI %.4f accuracy %.4f"):format(m.ari, m.ami, m.nmi, m.accuracy)
  end
  io.stdout:write(msg, a.out and (" → " .. a.out) or "", "\n")
  return EXIT_OK
end

local function cmd_score(a)
  local f = fm()
  local y = load_labels(a.truth, "truth")
  local l = load_labels(a.labels, "labels")
  if #y ~= #l then fail("truth has %d labels, labels has %d", #y, #l) end
  local m = f.metrics.all(y, l, {ignore_noise = a.ignore_noise or nil})
  if a.json then
    io.stdout:write(require("fmclust.sweep").encode(m), "\n")
  else
    for _, k in ipairs{"ari", "ami", "nmi", "accuracy", "homogeneity", "completeness", "v_measure"} do
      io.stdout:write(("%-13s %.6f\n"):format(k, m[k]))
    end
    io.stdout:write(("%-13s %d\n%-13s %d\n%-13s %d\n"):format("n", m.n, "n_classes", m.n_classes,
                                                              "n_clusters", m.n_clusters))
    if m.noise_share then io.stdout:write(("%-13s %.6f\n"):format("noise_share", m.noise_share)) end
  end
  return EXIT_OK
end

local function cmd_info()
  local f = fm()
  local sweep = require "fmclust.sweep"
  local i = f.info()
  io.stdout:write(("fmclust %s\n"):format(tostring(i.version)))
  local keys = {}
  for k in pairs(i) do if k ~= "version" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do io.stdout:write(("  %-24s %s\n"):format(k, tostring(i[k]))) end
  for _, kind in ipairs{"reducer", "clusterer"} do
    local names = {}
    for n in pairs(sweep.registry[kind]) do names[#names + 1] = n end
    table.sort(names)
    local have, miss = {}, {}
    for _, n in ipairs(names) do
      if sweep.available(kind, n) then have[#have + 1] = n else miss[#miss + 1] = n end
    end
    io.stdout:write(("%ss: %s%s\n"):format(kind, table.concat(have, ", "),
                    #miss > 0 and ("  (not in this build: " .. table.concat(miss, ", ") .. ")") or ""))
  end
  local dir, why = f.data.find_fashion_mnist{split = "all"}
  io.stdout:write(("Fashion-MNIST: %s\n"):format(dir or ("not found: " .. tostring(why))))
  return EXIT_OK
end

-- ---------------------------------------------------------------- the parser

local function sweep_options(s)
  s:option("--shard", "Run the i-th of n deterministic slices of the grid, like 2/4.")
  s:option("--shard-by", "How shards slice the grid."):choices{"auto", "embedding", "row"}
  s:flag("--quick", "Quick run: the 10,000 test images (also FMCLUST_QUICK=1).")
  s:option("-o --out", "Results directory (default results/<name>[-quick]).")
  s:option("--compare", "Also compare with the study's annexe (seed) or another results directory.")
  s:flag("-q --quiet", "No progress on stderr.")
  s:flag("--no-fsync", "Do not fsync rows.jsonl after each row.")
end

function M.parser()
  local p = argparse("fmclust", "Clustering experiments on image data sets (Fashion-MNIST) from the command line.")
    :epilog("Exit codes: 0 success, 1 failure, 2 usage error. `fmclust <command> --help` for details.")
  p:command_target("command")

  local s = p:command("sweep", "Run a sweep described by a Lua config file; print its table.")
  s:argument("config", "Lua file returning the sweep table (see examples/sweep_small.lua).")
  sweep_options(s)

  local m = p:command("merge", "Combine the rows of shard directories into one table.")
  m:argument("dirs", "Shard directories (or rows.jsonl files)."):args("+")
  m:option("-o --out", "Output directory (default: the shards' common parent).")
  m:flag("-q --quiet", "No notes on stderr.")

  local r = p:command("report", "Print the table of a results directory and write its HTML page (DIR/report.html).")
  r:argument("dir", "Results directory or rows.jsonl.")
  r:option("-f --format", "Output format."):choices{"md", "csv", "json"}:default("md")
  r:option("--compare", "Compare with the study's annexe (seed) or another results directory.")
  r:option("--html", "Where to write the HTML page (default: report.html beside rows.jsonl).")
  r:flag("--no-html", "Do not write the HTML page.")
  r:option("--data", "The data, for the page's figures: fashion-mnist[:all|train|test], X.npy or .csv "
    .. "(default: Fashion-MNIST when the rows' data hash matches it).")
  r:option("--truth", "True labels (.npy) of --data.")

  local e = p:command("embed", "Reduce the dimension of a data set and save the embedding as .npy.")
  e:argument("data", "A .npy/.csv/IDX file, or fashion-mnist[:all|train|test].", "fashion-mnist"):args("?")
  e:option("--method", "Reducer."):choices(REDUCER_METHODS):count(1)
  e:option("--n-components", "Output dimension."):convert(integer):count(1)
  e:option("--out", "Output .npy file."):count(1)
  e:option("--seed", "Random seed."):convert(integer):default("0")
  e:option("--param", "Another option of the method, name=value (repeatable)."):count("*")
  e:flag("--quick", "With fashion-mnist: the 10,000 test images.")

  local c = p:command("cluster", "Cluster an embedding; print the clusters found (and scores with --truth).")
  c:argument("embedding", "A .npy or .csv matrix.")
  c:option("--method", "Clusterer."):choices(CLUSTER_METHODS):count(1)
  c:option("--n-clusters", "Number of clusters (kmeans, ward; gmm's n_components)."):convert(integer)
  c:option("--seed", "Random seed."):convert(integer):default("0")
  c:option("--param", "Another option of the method, name=value (repeatable)."):count("*")
  c:option("--out", "Save the labels as .npy.")
  c:option("--truth", "True labels (.npy or IDX) to score against.")

  local sc = p:command("score", "Score predicted labels against the truth: ARI, AMI, NMI, accuracy, ...")
  sc:argument("truth", "True labels (.npy or IDX).")
  sc:argument("labels", "Predicted labels (.npy).")
  sc:flag("--ignore-noise", "Leave out points labelled -1 (noise).")
  sc:flag("--json", "Print JSON.")

  p:command("info", "Show the build, the BLAS kernel, threads and the algorithms available.")
  return p
end

local COMMANDS = {sweep = cmd_sweep, merge = cmd_merge, report = cmd_report, embed = cmd_embed,
                  cluster = cmd_cluster, score = cmd_score, info = cmd_info}

local function run(parser, list, f)
  local ok, a = parser:pparse(list)
  if not ok then
    io.stderr:write(parser:get_usage(), "\n\nfmclust: ", a, "\n")
    return EXIT_USAGE
  end
  local okr, code = xpcall(f or COMMANDS[a.command], function(err)
    if getmetatable(err) == Fail then return err end
    return setmetatable({msg = clean(err), trace = debug.traceback("", 2)}, Fail)
  end, a)
  if not okr then
    io.stderr:write("fmclust: ", code.msg, "\n")
    if code.trace and os.getenv("FMCLUST_DEBUG") then io.stderr:write(code.trace, "\n") end
    return EXIT_FAIL
  end
  return code or EXIT_OK
end

local function seq(args)
  local list = {}
  for i = 1, #(args or {}) do list[i] = args[i] end
  return list
end

--- cli.main(args) → exit code (args: a sequence of strings, like the interpreter's `arg`)
function M.main(args)
  return run(M.parser(), seq(args))
end

--- cli.run_config(config, args) → exit code: a config file run as a script (`lua5.4 file.lua
--- [--quick] [--shard i/n] ...`) does what `fmclust sweep file.lua ...` does
function M.run_config(config, args)
  local p = argparse(arg and arg[0] or "sweep", "Run this sweep and print its table.")
  sweep_options(p)
  return run(p, seq(args), function(a) return run_sweep(config, a) end)
end

return M
