-- fmclust.sweep — hyperparameter sweeps: reducers × dimensions × clusterers × parameters × seeds,
-- scored against the true classes, cached, resumable and shardable.
--
--   local sweep = require "fmclust.sweep"            -- also fm.sweep; fm.sweep{...} = sweep.run{...}
--   local res = sweep.run{
--     name = "demo",                                  -- results go to results/demo/ (or out = dir)
--     data = X, truth = y,                            -- or data = "fashion-mnist", split = "test"
--     reducers = {{"none"}, {"pca", n_components = {10, 20}}, {"umap", n_components = 10, min_dist = 0}},
--     clusterers = {{"kmeans", n_clusters = 10, n_init = 10}, {"ward", n_clusters = 10}},
--     seeds = {0, 1},
--   }
--   res.rows   -- every finished row (this run's and earlier runs'), see "Rows" below
--
-- Grid entries. An entry is {"<algorithm>", option = value, ...}; an option given as a list
-- ({10, 20, 80}) expands to one entry per value, and several lists to their Cartesian product.
-- Option names and defaults are the algorithm's own (fm.pca, fm.umap, fm.kmeans, ...); a wrong
-- name is reported before any work starts. Special keys:
--   label = "..."       the name shown in tables (default: the registry's, e.g. "k-means",
--                       "densmap" for umap with densmap = true); rows are matched to the study's
--                       annexe by label, so a tuned variant should get its own label
--   input = {reducer}   (reducers) a pipeline: embed the input reducer's embedding, e.g.
--                       {"umap", n_components = 10, input = {"ae", n_components = 10}}
-- An option whose value is itself a list is wrapped: hidden = sweep.value{500, 500, 2000} (a list
-- of lists, {{500}, {256, 128}}, sweeps over the inner lists).
-- Seeds are set with the sweep's `seeds` list (default {0}), never in an entry: each row's seed
-- goes to every seeded stage; a row whose stages are all deterministic (ward on raw pixels) runs
-- once whatever the seeds.
-- Several grids: `grids = {{reducers = ..., clusterers = ...}, ...}` (each its own product; a row
-- in two grids runs once). `reducers`/`clusterers` at the top level are one more grid.
--
-- Algorithms. Reducers: none, pca, nmf, umap (densMAP: densmap = true; mutual kNN graph:
-- graph = "mutual"), ae, cae. Clusterers: kmeans, ward, gmm, hdbscan, optics. Each calls the public
-- function of the same role (fm.pca, fm.kmeans, ...) by name; when this build lacks one (a module
-- not compiled in yet) its rows are skipped with a note and run on a later resume.
-- sweep.register("reducer" | "clusterer", name, def) adds your own (see the registry below).
--
-- Data: data = matrix (+ truth = labels or a Lua sequence), or data = "fashion-mnist" with
-- split = "all" | "train" | "test" (quick runs use "test"), or data = "path.npy"/".csv" with
-- truth = "labels.npy", or data = function(ctx) → X, truth (ctx.quick tells a quick run).
--
-- Caching. Each embedding is saved in <cache>/ (default <out>/cache) as .npy plus a JSON of its
-- algorithm, options, seed, input, a hash of the data, the fmclust version and its shape; the next
-- run — or another clusterer of this run, or a pipeline using it as input — loads it instead of
-- recomputing. An entry that does not match exactly (wrong key or data hash, truncated .npy, wrong
-- shape, non-finite values) is reported and recomputed, never trusted. Files are written under a
-- temporary name and renamed, the JSON last, so a killed run leaves no half entry.
--
-- Rows. Each finished row is appended to <out>/rows.jsonl as one JSON line (one write, flushed,
-- then fsync'd with `sync`), so a killed sweep loses at most the row it was computing. A rerun
-- skips the rows already there (matched by key); a torn last line (a write cut by power loss) is
-- reported, saved to rows.jsonl.torn and dropped. A row holds: key, sweep, reducer, reducer_label,
-- reducer_params, reducer_input (pipelines), n_components (columns of the embedding), clusterer,
-- clusterer_label, clusterer_params, seed (nil when no stage is seeded), n (points), n_clusters
-- (found, noise excluded), noise_share, ari, ami, nmi, accuracy, homogeneity, completeness,
-- v_measure (all points; -1 noise counts as a cluster, as scikit-learn), ari_clustered and
-- ami_clustered (noise left out; only when there is noise), seconds = {reduce, cluster, score,
-- total} (reduce is the embedding's own compute time even when it came from the cache),
-- reduce_cached, peak_mb = {reduce, cluster} (VmHWM, reset before each stage when the kernel
-- allows), data_hash, threads, host, version (fmclust's), finished (UTC time).
--
-- Sharding: shard = "i/n" (or {i, n}) runs the i-th of n deterministic slices of the rows into
-- <out>/shard-i-of-n/ (the embedding cache stays shared in <out>/cache); sweep.merge(dirs, out)
-- combines shard directories. Slices are whole embedding groups (every row that uses the same
-- embedding goes to the same shard, so no embedding is computed twice) dealt round-robin; when
-- there are fewer groups than shards, rows are dealt round-robin instead (shard_by = "auto", or
-- force "embedding" | "row").
--
-- Failures: a row whose algorithm raises (or whose embedding does) is reported on stderr and in
-- the result's `failed`, and left out of rows.jsonl, so the next run retries it; the other rows
-- go on. Ctrl-C stops the run (finished rows are kept). One sweep at a time writes a results
-- directory (a lock, <dir>/.lock; one left by a killed process on this host is taken over).
--
-- Progress on stderr (progress = false to silence): row i/N, the stage, elapsed time and ETA.
--
-- Also: sweep.plan(config) (the expanded, checked grid), sweep.read_rows(path), sweep.merge(dirs,
-- out), sweep.load_config(path), sweep.reduce(name, X, params, seed) and sweep.cluster(name, X,
-- params, seed) (one registry algorithm on its own), sweep.data_hash(X).
local fm = require "fmclust"
local U = require "fmclust.util"
local cjson = require("cjson").new()

local M = {}

cjson.encode_sparse_array(true)
cjson.encode_number_precision(14)   -- the most lua-cjson allows

-- ---------------------------------------------------------------- small helpers

local function errorf(level, fmt, ...) error(("sweep: " .. fmt):format(...), level + 1) end

-- wall-clock seconds: the core's clock when it has one, else /proc/uptime (10 ms), else os.time
local function now()
  if fm.core.wtime then return fm.core.wtime() end
  local f = io.open("/proc/uptime")
  if f then
    local t = f:read("n")
    f:close()
    if t then return t end
  end
  return os.time()
end
M.now = now

local function fmt_duration(s)
  if s == nil or s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%ds"):format(s)
end
M.fmt_duration = fmt_duration

-- 64-bit FNV-1a over a string (integer arithmetic wraps in Lua 5.4)
local FNV_OFFSET, FNV_PRIME = -3750763034362895579, 1099511628211   -- 0xcbf29ce484222325, 0x100000001b3
local function fnv(s, h)
  h = h or FNV_OFFSET
  for i = 1, #s do h = (h ~ s:byte(i)) * FNV_PRIME end
  return h
end
local function hex64(h) return ("%016x"):format(h) end
function M.hash_string(s) return hex64(fnv(s)) end

-- A stable text for a value: sorted keys, integral floats written as integers (10 == 10.0, as
-- the option checker treats them), other floats with 17 digits. Keys are built from it.
local function canon(v)
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return tostring(math.tointeger(v)) end
    for digits = 15, 16 do   -- the shortest that reads back the same: 0.04, not 0.040000000000000001
      local t = ("%." .. digits .. "g"):format(v)
      if tonumber(t) == v then return t end
    end
    return ("%.17g"):format(v)
  elseif t == "string" then return ("%q"):format(v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "nil" then return "nil"
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
      return type(a) < type(b)
    end)
    local parts = {}
    if #keys > 0 and #keys == #v then   -- a sequence: {1, 2, 3}
      for i = 1, #v do parts[i] = canon(v[i]) end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    for _, k in ipairs(keys) do
      local ks = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or canon(k)
      parts[#parts + 1] = ks .. "=" .. canon(v[k])
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error(("sweep: option values must be numbers, strings, booleans or tables of them, got %s")
        :format(fm.matrix.is_matrix(v) and "a matrix" or t), 0)
end
M.canon = canon

-- file helpers shared with html
local shell_quote, read_all, exists = U.shell_quote, U.read_all, U.exists

-- U.mkdir_p only reports; raise as before: "sweep: ...", blaming the caller of our caller
local function mkdir_p(dir)
  local ok, err = U.mkdir_p(dir)
  if not ok then errorf(2, "%s", err) end
end

local PID
local function pid()
  if not PID then
    local s = read_all("/proc/self/stat")
    PID = s and s:match("^(%d+)") or tostring(math.random(1, 1e9))
  end
  return PID
end

-- write a whole file under a temporary name, then rename it into place (atomic on POSIX)
local function atomic_write(path, s)
  local tmp = ("%s.tmp.%s"):format(path, pid())
  local f, err = io.open(tmp, "wb")
  if not f then errorf(2, "cannot write '%s': %s", tmp, err) end
  f:write(s)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then os.remove(tmp) errorf(2, "cannot rename '%s' to '%s': %s", tmp, path, rerr) end
end

local function fsync(path)
  -- coreutils sync FILE fsyncs that file only; a missing `sync` just loses the power-loss guarantee
  os.execute("sync -d " .. shell_quote(path) .. " 2>/dev/null")
end

-- JSON without NaN/Inf (they are not JSON): those become null
local function sanitize(v)
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return cjson.null end
    return v
  elseif type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = sanitize(x) end
    return out
  end
  return v
end
-- lua-cjson reads every number as a float: give integral ones back their integer type (so
-- n_components prints as 10, and option tables decoded from JSON compare equal to the config's)
local function integers(v)
  if type(v) == "number" then
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return math.tointeger(v) end
  elseif type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
  end
  return v
end
function M.encode(v) return cjson.encode(sanitize(v)) end
function M.decode(s) return integers(cjson.decode(s)) end
M.null = cjson.null

-- peak resident memory (VmHWM) in MB; reset_peak() restarts it from the current size where
-- /proc/self/clear_refs accepts "5" (Linux ≥ 4.0), so each stage gets its own peak
local function peak_mb()
  local s = read_all("/proc/self/status")
  local kb = s and tonumber(s:match("VmHWM:%s*(%d+)"))
  return kb and math.floor(kb / 1024 * 10 + 0.5) / 10
end
local function reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then f:write("5") f:close() end
end
M.peak_mb = peak_mb

local HOST
local function hostname()
  if not HOST then
    local s = read_all("/proc/sys/kernel/hostname")
    HOST = s and s:gsub("%s+$", "") or os.getenv("HOSTNAME") or "?"
  end
  return HOST
end

-- ---------------------------------------------------------------- data hash

--- sweep.data_hash(X) → 16 hex digits from the shape, the column means (a pass in C over every
--- value) and 4,096 values at fixed positions: cheap for 70,000×784, and any change of rows,
--- order or scale changes it.
function M.data_hash(X)
  local n, d = X:shape()
  local h = fnv(string.pack("<i8i8", n, d))
  if n > 0 and d > 0 then
    local means = X:col_means()
    for j = 1, d do h = fnv(string.pack("<f", means:get(1, j)), h) end
    local total, samples = n * d, math.min(n * d, 4096)
    for k = 0, samples - 1 do
      local idx = k * total // samples
      h = fnv(string.pack("<f", X:get(idx // d + 1, idx % d + 1)), h)
    end
  end
  return hex64(h)
end

local function labels_hash(y)
  local n = #y
  local parts = {}
  for i = 1, n do parts[i] = y[i] end
  return hex64(fnv(table.concat(parts, ",")))
end

-- ---------------------------------------------------------------- the registry
--
-- def fields: fn = name of the public function (fm[fn]); seeded = passes the row's seed as
-- option `seed`; fixed = options always set; label = string or function(params) → string;
-- run = function(X, params) → result (instead of fm[fn]; for custom algorithms); a reducer's
-- result becomes its embedding (the first matrix returned, or result.embedding), a clusterer's
-- its labels (labels returned, or result.labels); cache = false for reducers not worth caching;
-- key_extra = function(params) → text added to the embedding's cache key (what the machine decides).

local function generic_embedding(a, b)
  if fm.matrix.is_matrix(a) then return a end
  if type(a) == "table" then
    if fm.matrix.is_matrix(a.embedding) then return a.embedding end
    if fm.matrix.is_matrix(a.Z) then return a.Z end
  end
  if fm.matrix.is_matrix(b) then return b end
  return nil
end

local function generic_labels(a)
  if fm.labels.is_labels(a) then return a end
  if type(a) == "table" then
    if fm.labels.is_labels(a.labels) then return a.labels end
    if fm.labels.is_labels(a.labels_) then return a.labels_ end
    if type(a.labels) == "table" then return fm.labels(a.labels) end
    if a[1] ~= nil and math.type(a[1]) == "integer" then return fm.labels(a) end
  end
  return nil
end

local function umap_label(p)
  if p.densmap and p.graph == "mutual" then return "densmap-mutual" end
  if p.densmap then return "densmap" end
  if p.graph == "mutual" then return "umap-mutual" end
  return "umap"
end

-- The autoencoders (lua/fmclust/ae.lua): a model is built (its seed draws the initial weights),
-- trained, then encodes the data.
--   fm.autoencoder{kind = "dense", layers = {d, hidden..., k}, output, seed}
--   fm.autoencoder{kind = "conv", channels, hidden, latent = k, input_shape, output, seed}
--   ae:fit(X, {epochs, batch_size, learning_rate, optimizer, momentum, loss, weight_decay, shuffle})
--   ae:encode(X) → n×k
-- In a sweep: {"ae", n_components = 10, hidden = sweep.value{500, 500, 2000}, epochs = 10, ...};
-- hidden (dense: default 500, 500, 2000; conv: the dense layers around the latent, default none),
-- channels and input_shape (conv), output shape the model,
-- every other option goes to fit. A probe checks both option tables before any work.
local AE_MODEL = {hidden = true, channels = true, input_shape = true, output = true, seed = true}
local function ae_parts(kind, d, p)
  local model, fit = {kind = kind, seed = p.seed, output = p.output}, {}
  for key, v in pairs(p) do
    if not AE_MODEL[key] and key ~= "n_components" then fit[key] = v end
  end
  local k = p.n_components or 10
  local function list(t) return t and table.move(t, 1, #t, 1, {}) or nil end
  if kind == "dense" then
    local layers = {d}
    for _, h in ipairs(p.hidden or {500, 500, 2000}) do layers[#layers + 1] = h end
    layers[#layers + 1] = k
    model.layers = layers
    if p.channels ~= nil or p.input_shape ~= nil then model.channels = list(p.channels) end   -- let it say why
  else
    model.channels, model.input_shape, model.latent = list(p.channels), list(p.input_shape), k
    model.hidden = list(p.hidden)
  end
  return model, fit
end

local function ae_runner(kind)
  return function(X, p)
    local model, fit = ae_parts(kind, select(2, X:shape()), p)
    local ae = fm.autoencoder(model)
    ae:fit(X, fit)
    return ae:encode(X), ae
  end
end

-- option check without training: build the model (cheap), then fit on `false` (options first)
local function ae_probe(kind)
  return function(p)
    local model, fit = ae_parts(kind, 784, p)
    local ok, err = pcall(fm.autoencoder, model)
    if not ok then return err end
    -- one epoch on one blank image: fit checks its options before training
    if math.type(fit.epochs) == "integer" and fit.epochs >= 1 then fit.epochs = 1 end
    fit.verbose = nil
    local ok2, err2 = pcall(err.fit, err, fm.matrix.zeros(1, 784), fit)
    if not ok2 and type(err2) == "string" and err2:find("bad argument #2", 1, true) then return err2 end
  end
end

-- the embedding depends on the precision training ran in, which "auto" leaves to the machine
local function ae_key_extra(p) return "precision=" .. fm.autoencoder.resolve_precision(p.precision) end
-- and the conv model on the defaults the options leave open (the dense layers around the latent,
-- fit's weight decay)
local function cae_key_extra(p)
  local model = ae_parts("conv", 784, p)
  local ok, ae = pcall(fm.autoencoder, model)
  local wd = p.weight_decay == nil and (" | weight_decay=%g"):format(require("fmclust.ae").default_weight_decay.conv) or ""
  return ae_key_extra(p) .. (ok and (" | " .. tostring(ae):match("%((.-), %d+ parameters%)$")) or "") .. wd
end

M.registry = {
  reducer = {
    none = {seeded = false, cache = false, label = "none", run = function(X) return X end},
    pca = {fn = "pca", seeded = true, label = "pca"},
    nmf = {fn = "nmf", seeded = true, label = "nmf"},
    umap = {fn = "umap", seeded = true, label = umap_label},
    ae = {requires = "autoencoder", seeded = true, label = "ae", run = ae_runner("dense"), probe = ae_probe("dense"),
          save_model = function(ae, path) ae:save(path) end, key_extra = ae_key_extra},
    cae = {requires = "autoencoder", seeded = true, label = "cae", run = ae_runner("conv"), probe = ae_probe("conv"),
           save_model = function(ae, path) ae:save(path) end, key_extra = cae_key_extra},
  },
  clusterer = {
    kmeans = {fn = "kmeans", seeded = true, label = "k-means"},
    ward = {fn = "ward", seeded = false, label = "ward"},
    gmm = {fn = "gmm", seeded = true, label = "gmm"},
    hdbscan = {fn = "hdbscan", seeded = false, label = "hdbscan"},
    optics = {fn = "optics", seeded = false, label = "optics"},
  },
}

-- a list option that is one value, not a list of values to sweep: hidden = sweep.value{500, 500}
local VALUE_MT = {__name = "fmclust.sweep.value"}
function M.value(t)
  if type(t) ~= "table" then errorf(2, "value: table expected, got %s", type(t)) end
  return setmetatable(t, VALUE_MT)
end

--- sweep.register(kind, name, def): add or replace an algorithm ("reducer" | "clusterer"); def as
--- above (requires = "name": run needs fm[name], else the algorithm is unavailable), e.g. sweep.register("clusterer", "kmeans5", {run = function(X, p) return fm.kmeans(X,
--- {n_clusters = 5, seed = p.seed}) end, seeded = true})
function M.register(kind, name, def)
  if kind ~= "reducer" and kind ~= "clusterer" then
    errorf(2, "register: kind must be \"reducer\" or \"clusterer\", got %s", tostring(kind))
  end
  if type(name) ~= "string" or name == "" then errorf(2, "register: name must be a string") end
  if type(def) ~= "table" or (def.fn == nil and def.run == nil) then
    errorf(2, "register: def needs fn (a public function name) or run (a function)")
  end
  M.registry[kind][name] = def
end

local function known_names(kind)
  local t = {}
  for k in pairs(M.registry[kind]) do t[#t + 1] = k end
  table.sort(t)
  return table.concat(t, ", ")
end

--- sweep.available(kind, name) → true, or false and why ("reducer 'umap' is not available in this
--- build (fm.umap is missing)"); unknown names raise
function M.available(kind, name)
  local def = M.registry[kind][name]
  if not def then errorf(2, "unknown %s '%s' (known: %s)", kind, tostring(name), known_names(kind)) end
  local needs = def.requires or (not def.run and def.fn)
  if needs and fm[needs] == nil then
    return false, ("%s '%s' is not available in this build (fm.%s is missing)"):format(kind, name, needs)
  end
  return true
end

-- call the algorithm: fixed options, then the entry's, then the seed
local function call_algorithm(kind, spec, X, seed)
  local def = M.registry[kind][spec.name]
  local p = {}
  for k, v in pairs(def.fixed or {}) do p[k] = v end
  for k, v in pairs(spec.params) do p[k] = v end
  if def.seeded and seed ~= nil then p.seed = seed end
  if def.run then return def.run(X, p) end
  local f = fm[def.fn]
  if type(f) ~= "function" then error(select(2, M.available(kind, spec.name)), 0) end
  return f(X, p)
end

--- sweep.reduce(name, X, params [, seed]) → embedding matrix; sweep.cluster(name, X, params [, seed])
--- → labels: one registry algorithm on its own (the `fmclust embed` / `cluster` commands use them)
function M.reduce(name, X, params, seed)
  if not M.registry.reducer[name] then errorf(2, "unknown reducer '%s' (known: %s)", tostring(name), known_names("reducer")) end
  local ok, why = M.available("reducer", name)
  if not ok then error(why, 2) end
  local def = M.registry.reducer[name]
  local Z = (def.embed or generic_embedding)(call_algorithm("reducer", {name = name, params = params or {}}, X, seed))
  if not fm.matrix.is_matrix(Z) then errorf(2, "reducer '%s' returned no embedding matrix", name) end
  return Z
end

function M.cluster(name, X, params, seed)
  if not M.registry.clusterer[name] then errorf(2, "unknown clusterer '%s' (known: %s)", tostring(name), known_names("clusterer")) end
  local ok, why = M.available("clusterer", name)
  if not ok then error(why, 2) end
  local def = M.registry.clusterer[name]
  local labels = (def.labels or generic_labels)(call_algorithm("clusterer", {name = name, params = params or {}}, X, seed))
  if not fm.labels.is_labels(labels) then errorf(2, "clusterer '%s' returned no labels", name) end
  return labels
end

-- ---------------------------------------------------------------- grid expansion

local RESERVED = {label = true, input = true}

local function is_list(v)
  if type(v) ~= "table" or getmetatable(v) ~= nil then return false end
  local n = #v
  if n == 0 then return false end
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  return count == n
end

-- entry → list of specs {name, params, label, input, key}
local function expand_entry(kind, entry, where)
  if type(entry) ~= "table" then errorf(3, "%s: %s entry must be a table like {\"name\", option = value}, got %s",
                                       where, kind, type(entry)) end
  local name = entry[1]
  if type(name) ~= "string" then
    errorf(3, "%s: %s entry needs the algorithm name first, like {\"kmeans\", n_clusters = 10}", where, kind)
  end
  local def = M.registry[kind][name]
  if not def then errorf(3, "%s: unknown %s '%s' (known: %s)", where, kind, name, known_names(kind)) end
  if entry[2] ~= nil then errorf(3, "%s: %s '%s': options must be named (option = value)", where, kind, name) end
  if entry.input ~= nil and kind ~= "reducer" then errorf(3, "%s: input is for reducers only", where) end
  if entry.label ~= nil and type(entry.label) ~= "string" then errorf(3, "%s: label must be a string", where) end
  local names = {}
  for k in pairs(entry) do
    if k ~= 1 and not RESERVED[k] then
      if type(k) ~= "string" then errorf(3, "%s: %s '%s': option names must be strings", where, kind, name) end
      if k == "seed" then
        errorf(3, "%s: %s '%s': set seeds with the sweep's seeds list, not in an entry", where, kind, name)
      end
      names[#names + 1] = k
    end
  end
  table.sort(names)
  local inputs = {false}
  if entry.input ~= nil then inputs = expand_entry("reducer", entry.input, where .. " input") end
  local combos = {{}}
  for _, k in ipairs(names) do
    local v = entry[k]
    local values = is_list(v) and v or {v}
    local nxt = {}
    for _, c in ipairs(combos) do
      for _, x in ipairs(values) do
        local c2 = {}
        for kk, vv in pairs(c) do c2[kk] = vv end
        c2[k] = x
        nxt[#nxt + 1] = c2
      end
    end
    combos = nxt
  end
  local out = {}
  for _, input in ipairs(inputs) do
    for _, params in ipairs(combos) do
      local label = entry.label
      if not label then
        label = type(def.label) == "function" and def.label(params) or def.label or name
        if input then label = input.label .. "→" .. label end
      end
      local spec = {name = name, params = params, label = label, input = input or nil}
      spec.key = name .. canon(params) .. (input and ("<" .. input.key) or "")
      spec.seeded = def.seeded and true or false
      if input and input.seeded then spec.seeded = true end
      out[#out + 1] = spec
    end
  end
  return out
end

local function expand_list(kind, list, where)
  if type(list) ~= "table" then errorf(3, "%s: %ss must be a list of entries", where, kind) end
  if #list == 0 then errorf(3, "%s: no %ss", where, kind) end
  local out = {}
  for i, e in ipairs(list) do
    for _, s in ipairs(expand_entry(kind, e, ("%s %ss[%d]"):format(where, kind, i))) do out[#out + 1] = s end
  end
  return out
end

-- Ask the public function to check the option names and types before any real work: call it
-- on `false` (most fmclust functions check options before data, and stop there), else on a
-- 2×2 matrix (a trivial fit). Only name and type errors count: range errors may be about the
-- probe's tiny size.
local PROBE_X
local OPTION_ERRORS = {"unknown option", "must be an? %a+, got", "must be one of"}
local function option_error(err)
  if type(err) ~= "string" then return nil end
  local msg = err:match("bad argument #2 to '[^']*' %((.*)%)$")
  if not msg then return nil end
  for _, pat in ipairs(OPTION_ERRORS) do if msg:find(pat) then return msg end end
  return nil
end

local function probe(kind, spec)
  local def = M.registry[kind][spec.name]
  if spec.input then probe("reducer", spec.input) end
  if not M.available(kind, spec.name) or (def.run and not def.probe) then return end
  local p = {}
  for k, v in pairs(def.fixed or {}) do p[k] = v end
  for k, v in pairs(spec.params) do p[k] = v end
  if def.seeded then p.seed = 0 end
  if def.probe then
    local err = def.probe(p)
    if err then
      local msg = tostring(err):gsub("^[^\n]-%.lua:%d+: ", "")
      errorf(4, "%s '%s' {%s}: %s", kind, spec.name, canon(spec.params):sub(2, -2), msg)
    end
    return
  end
  local ok, err = pcall(fm[def.fn], false, p)
  if not ok and type(err) == "string" and err:match("bad argument #1 to") then
    PROBE_X = PROBE_X or fm.matrix{{0, 1}, {1, 0}}
    ok, err = pcall(fm[def.fn], PROBE_X, p)
  end
  local msg = not ok and option_error(err)
  if msg then errorf(4, "%s '%s' {%s}: %s", kind, spec.name, canon(spec.params):sub(2, -2), msg) end
end

local function parse_shard(s)
  if s == nil then return nil end
  local i, n
  if type(s) == "table" then i, n = s[1], s[2]
  elseif type(s) == "string" then
    local a, b = s:match("^%s*(%-?%d+)%s*/%s*(%-?%d+)%s*$")
    i, n = tonumber(a), tonumber(b)
  end
  if math.type(i) ~= "integer" or math.type(n) ~= "integer" or n < 1 or i < 1 or i > n then
    errorf(3, "shard must be i/n with 1 ≤ i ≤ n (like 2/4), got %s",
           type(s) == "table" and canon(s) or tostring(s))
  end
  return {i = i, n = n}
end
M.parse_shard = function(s) return parse_shard(s) end

--- sweep.plan(config [, opts]) → {rows = {{key, reducer = spec, clusterer = spec, seed}, ...},
--- groups = {{key, reducer, seed, rows = {...}}, ...}, unavailable = {notes}}: the grid, expanded
--- and checked (unknown algorithms and options raise here, before any work). opts.shard = "i/n"
--- keeps that slice.
function M.plan(config, opts)
  opts = opts or {}
  if type(config) ~= "table" then errorf(2, "config must be a table, got %s", type(config)) end
  local seeds = config.seeds or {0}
  if type(seeds) == "number" then seeds = {seeds} end
  if not is_list(seeds) then errorf(2, "seeds must be a list of integers") end
  for _, s in ipairs(seeds) do
    if math.type(s) ~= "integer" then errorf(2, "seeds must be integers, got %s", tostring(s)) end
  end
  local grids = {}
  if config.grids ~= nil then
    if type(config.grids) ~= "table" then errorf(2, "grids must be a list of {reducers, clusterers}") end
    for i, g in ipairs(config.grids) do grids[#grids + 1] = {g, ("grids[%d]"):format(i)} end
  end
  if config.reducers ~= nil or config.clusterers ~= nil then
    grids[#grids + 1] = {{reducers = config.reducers, clusterers = config.clusterers}, "config"}
  end
  if #grids == 0 then errorf(2, "config has no reducers/clusterers (or grids)") end

  local rows, seen, groups, group_of = {}, {}, {}, {}
  local unavailable, note_seen = {}, {}
  local probed = {}
  local function note_missing(kind, spec)
    local ok, why = M.available(kind, spec.name)
    if spec.input and ok then return note_missing("reducer", spec.input) end
    if not ok and not note_seen[why] then
      note_seen[why] = true
      unavailable[#unavailable + 1] = why
    end
    return ok
  end
  for _, gw in ipairs(grids) do
    local g, where = gw[1], gw[2]
    if type(g) ~= "table" then errorf(2, "%s must be a table with reducers and clusterers", where) end
    local rs = expand_list("reducer", g.reducers or {{"none"}}, where)
    local cs = expand_list("clusterer", g.clusterers, where)
    for _, s in ipairs(rs) do if not probed[s.key] then probed[s.key] = true probe("reducer", s) end end
    for _, s in ipairs(cs) do if not probed["c" .. s.key] then probed["c" .. s.key] = true probe("clusterer", s) end end
    for _, seed in ipairs(g.seeds or seeds) do
      for _, r in ipairs(rs) do
        for _, c in ipairs(cs) do
          local s = (r.seeded or c.seeded) and seed or nil
          local key = ("%s | %s | seed=%s"):format(r.key, c.key, s == nil and "-" or tostring(s))
          if not seen[key] then
            seen[key] = true
            local row = {key = key, reducer = r, clusterer = c, seed = s}
            row.available = note_missing("reducer", r) and note_missing("clusterer", c)
            rows[#rows + 1] = row
            local gk = r.key .. ((r.seeded and s ~= nil) and (" seed=" .. s) or "")
            local grp = group_of[gk]
            if not grp then
              grp = {key = gk, reducer = r, seed = r.seeded and s or nil, rows = {}}
              group_of[gk] = grp
              groups[#groups + 1] = grp
            end
            grp.rows[#grp.rows + 1] = row
          end
        end
      end
    end
  end

  local shard = parse_shard(opts.shard or config.shard)
  local plan = {rows = rows, groups = groups, unavailable = unavailable, shard = shard, n_total = #rows}
  if shard and shard.n > 1 then
    local by = opts.shard_by or config.shard_by or "auto"
    if by ~= "auto" and by ~= "embedding" and by ~= "row" then
      errorf(2, "shard_by must be \"auto\", \"embedding\" or \"row\", got %s", tostring(by))
    end
    if by == "auto" then by = #groups >= shard.n and "embedding" or "row" end
    local keep_rows, keep_groups = {}, {}
    if by == "embedding" then
      for gi, grp in ipairs(groups) do
        if (gi - 1) % shard.n + 1 == shard.i then
          keep_groups[#keep_groups + 1] = grp
          for _, r in ipairs(grp.rows) do keep_rows[#keep_rows + 1] = r end
        end
      end
    else
      local keep = {}
      for ri, r in ipairs(rows) do
        if (ri - 1) % shard.n + 1 == shard.i then keep_rows[#keep_rows + 1] = r keep[r] = true end
      end
      for _, grp in ipairs(groups) do
        local sub = {}
        for _, r in ipairs(grp.rows) do if keep[r] then sub[#sub + 1] = r end end
        if #sub > 0 then
          keep_groups[#keep_groups + 1] = {key = grp.key, reducer = grp.reducer, seed = grp.seed, rows = sub}
        end
      end
    end
    plan.rows, plan.groups, plan.shard_by = keep_rows, keep_groups, by
  end
  return plan
end

-- ---------------------------------------------------------------- rows files

--- sweep.read_rows(path) → rows, info {torn = text of a torn last line or nil, bad = {line
--- numbers of unreadable lines before the last}, n_lines}; a missing file gives no rows
function M.read_rows(path)
  local s = read_all(path)
  local info = {bad = {}, n_lines = 0}
  if not s or s == "" then return {}, info end
  local rows = {}
  local lines = {}
  for line in s:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local tail = s:match("([^\n]*)$")
  local last_complete = #lines
  if tail ~= "" then lines[#lines + 1] = tail end
  info.n_lines = #lines
  for i, line in ipairs(lines) do
    if line:match("%S") then
      local ok, row = pcall(M.decode, line)
      local good = ok and type(row) == "table" and type(row.key) == "string"
      -- a line is whole only with its newline: a parsable line without one was cut too
      if good and i > last_complete then good = false end
      if good then
        rows[#rows + 1] = row
      elseif i >= #lines then
        info.torn = line
      else
        info.bad[#info.bad + 1] = i
      end
    end
  end
  return rows, info
end

-- move a torn last line out of the way (into rows.jsonl.torn) so appends start on a fresh line
local function repair_rows_file(path, info)
  if not info.torn then return end
  local s = read_all(path)
  local keep = s:sub(1, #s - #info.torn)
  local f = io.open(path .. ".torn", "ab")
  if f then f:write(info.torn, "\n") f:close() end
  atomic_write(path, keep)
end

local function open_rows(path, fsync_each)
  local f, err = io.open(path, "ab")
  if not f then errorf(3, "cannot open '%s' for appending: %s", path, err) end
  f:setvbuf("full", 1 << 20)
  return {
    append = function(row)
      -- one write of the whole line, flushed at once: a reader never sees half a row, and a
      -- kill leaves either the full line or nothing
      f:write(M.encode(row) .. "\n")
      f:flush()
      if fsync_each then fsync(path) end
    end,
    close = function() f:close() end,
  }
end

-- ---------------------------------------------------------------- data

local function to_labels(y, where)
  if fm.labels.is_labels(y) then return y end
  if type(y) == "table" then return fm.labels(y) end
  if type(y) == "string" then return fm.data.load_labels(y) end
  errorf(3, "%s must be labels, a sequence of integers or a .npy path, got %s", where, type(y))
end

--- sweep.load_data(config, quick) → X, truth (labels), description
function M.load_data(config, quick)
  local data, X, y, desc = config.data, nil, nil, nil
  if type(data) == "function" then
    X, y = data({quick = quick, config = config})
    desc = "data function"
  elseif data == "fashion-mnist" or data == "fashion_mnist" then
    local split = quick and "test" or (config.split or "all")
    X, y = fm.data.fashion_mnist{split = split}
    desc = ("Fashion-MNIST %s"):format(split)
  elseif type(data) == "string" then
    X = fm.data.load(data)
    desc = data
  elseif fm.matrix.is_matrix(data) then
    X = data
    desc = "matrix"
  else
    errorf(2, "data must be a matrix, \"fashion-mnist\", a file path or a function, got %s", type(data))
  end
  if not fm.matrix.is_matrix(X) then
    errorf(2, "data did not give a matrix%s", type(y) == "string" and (": " .. y) or "")
  end
  if config.truth ~= nil then y = config.truth end
  if y == nil then errorf(2, "no truth labels (truth = labels, a sequence or a .npy path)") end
  y = to_labels(y, "truth")
  local n, d = X:shape()
  if #y ~= n then errorf(2, "truth has %d labels, data has %d rows", #y, n) end
  if X:has_nonfinite() then errorf(2, "data contains NaN or Inf") end
  return X, y, ("%s (%d×%d)"):format(desc, n, d)
end

-- ---------------------------------------------------------------- embeddings and their cache

local function safe_name(s) return (s:gsub("[^%w%-_.]+", "_")) end

-- the fmclust version is part of the key: a new release recomputes embeddings (rows are kept)
-- key_extra(params) adds what a reducer resolves from the machine (the autoencoders' precision)
local function embed_key(spec, seed, data_hash)
  local def = M.registry.reducer[spec.name]
  local extra = def and def.key_extra and (" | " .. def.key_extra(spec.params)) or ""
  return ("%s | seed=%s | data=%s | fmclust %s%s"):format(spec.key, (spec.seeded and seed ~= nil) and tostring(seed) or "-",
                                                   data_hash, tostring(fm.version), extra)
end

-- try the cache entry; returns Z, meta or nil, reason (nil reason when there is no entry)
local function load_cached(base, key, n)
  local js = read_all(base .. ".json")
  if not js then return nil end
  local ok, meta = pcall(M.decode, js)
  if not ok or type(meta) ~= "table" then return nil, "unreadable JSON" end
  if meta.key ~= key then return nil, "its key is for other options or data" end
  local okz, Z = pcall(fm.matrix.load_npy, base .. ".npy")
  if not okz then return nil, tostring(Z):gsub("^.-npy_load: ", "") end
  local zn, zd = Z:shape()
  if zn ~= n or zd ~= meta.n_components then
    return nil, ("shape %d×%d, expected %d×%s"):format(zn, zd, n, tostring(meta.n_components))
  end
  if Z:has_nonfinite() then return nil, "it holds NaN or Inf" end
  return Z, meta
end

local function save_cached(base, Z, meta)
  local tmp = ("%s.tmp.%s.npy"):format(base, pid())
  Z:save_npy(tmp)
  local ok, err = os.rename(tmp, base .. ".npy")
  if not ok then os.remove(tmp) errorf(2, "cannot rename '%s': %s", tmp, tostring(err)) end
  atomic_write(base .. ".json", M.encode(meta) .. "\n")   -- last: the entry exists once this lands
end

-- ---------------------------------------------------------------- running

local function params_text(p)
  local t = canon(p):sub(2, -2)
  return t
end

local function spec_text(spec)
  local t = spec.label
  local p = params_text(spec.params)
  if p ~= "" then t = t .. "(" .. p .. ")" end
  if spec.input then t = spec_text(spec.input) .. " → " .. t end
  return t
end
M.spec_text = spec_text

local function spec_json(spec)
  local t = {reducer = spec.name, params = spec.params, label = spec.label}
  if spec.input then t.input = spec_json(spec.input) end
  return t
end

-- One sweep at a time per results directory: a second process appending the same rows would
-- duplicate work and rows. The lock is a directory (mkdir is atomic) holding "host pid"; a lock
-- left by a killed process on this host is taken over.
local function acquire_lock(dir)
  local lock = dir .. "/.lock"
  for _ = 1, 2 do
    if os.execute("mkdir " .. shell_quote(lock) .. " 2>/dev/null") then
      atomic_write(lock .. "/owner", hostname() .. " " .. pid() .. "\n")
      return function()
        os.remove(lock .. "/owner")
        os.remove(lock)
      end
    end
    local owner = (read_all(lock .. "/owner") or ""):gsub("%s+$", "")
    local host, opid = owner:match("^(%S+) (%d+)$")
    -- gone, or a zombie (killed, not reaped yet): /proc/<pid>/stat says "pid (comm) Z ..."
    local stat = opid and read_all("/proc/" .. opid .. "/stat")
    local alive = stat and not stat:match("%)%s+[ZX]%s")
    if host == hostname() and not alive then
      os.remove(lock .. "/owner")   -- its process is gone: stale
      os.remove(lock)
    else
      errorf(3, "another sweep is writing to %s (%s); if none is, remove %s", dir,
             host and ("pid %s on %s"):format(opid, host) or "owner unknown", lock)
    end
  end
  errorf(3, "cannot lock %s", dir)
end

local run_impl

--- sweep.run(config [, opts]) → {rows, new, skipped, unavailable, failed = {{key, row, error}},
--- out, dir, plan, torn}. A row whose algorithm raises an error is reported in failed and on stderr
--- and not written (the next run retries it); the other rows go on.
--- opts (override the config's): quick, shard, shard_by, out, progress, fsync, tables
function M.run(config, opts)
  local state = {}
  local ok, res = pcall(run_impl, config, opts, state)
  if state.release then state.release() end
  if not ok then error(res, 0) end
  return res
end

function run_impl(config, opts, state)
  opts = opts or {}
  local plan = M.plan(config, opts)
  local quick = opts.quick or false
  local name = config.name or "sweep"
  if type(name) ~= "string" or name:match("[/\\]") then errorf(2, "name must be a plain string") end
  local out = opts.out or config.out or ("results/" .. name .. (quick and "-quick" or ""))
  local dir = out
  if plan.shard and plan.shard.n > 1 then dir = ("%s/shard-%d-of-%d"):format(out, plan.shard.i, plan.shard.n) end
  local cache_dir = config.cache or (out .. "/cache")
  local progress = opts.progress
  if progress == nil then progress = config.progress ~= false end
  local do_fsync = opts.fsync
  if do_fsync == nil then do_fsync = config.fsync ~= false end
  local log = function(fmt, ...)
    if progress then io.stderr:write(("[sweep] " .. fmt .. "\n"):format(...)) io.stderr:flush() end
  end
  for _, why in ipairs(plan.unavailable) do log("skipping: %s — its rows run on a later resume", why) end

  mkdir_p(dir)
  state.release = acquire_lock(dir)
  mkdir_p(cache_dir)
  local rows_path = dir .. "/rows.jsonl"
  local old, info = M.read_rows(rows_path)
  if info.torn then
    log("%s: ignored a torn last line (%d bytes, saved to rows.jsonl.torn); %d earlier rows kept",
        rows_path, #info.torn, #old)
    repair_rows_file(rows_path, info)
  end
  if #info.bad > 0 then
    log("%s: %d unreadable line(s) (line %s) left in place and ignored", rows_path, #info.bad,
        table.concat(info.bad, ", "))
  end

  local X, y, desc = M.load_data(config, quick)
  local n = X:shape()
  local dhash = M.data_hash(X) .. "-" .. labels_hash(y)
  local done = {}
  for _, r in ipairs(old) do
    if r.data_hash and r.data_hash ~= dhash then
      errorf(2, "%s holds rows computed on other data (hash %s, now %s): use another out directory",
             rows_path, r.data_hash, dhash)
    end
    done[r.key] = r
  end

  local todo, skipped = 0, 0
  for _, r in ipairs(plan.rows) do
    if not done[r.key] then
      if r.available then todo = todo + 1 else skipped = skipped + 1 end
    end
  end
  local shard_txt = plan.shard and plan.shard.n > 1 and (" (shard %d/%d by %s)"):format(plan.shard.i,
                    plan.shard.n, plan.shard_by) or ""
  log("%s: %d rows%s on %s; %d done before, %d to run, %d unavailable → %s", name, #plan.rows,
      shard_txt, desc, #plan.rows - todo - skipped, todo, skipped, rows_path)

  local threads = (fm.info() or {}).omp_threads
  local writer = open_rows(rows_path, do_fsync)
  local t_start, n_new = now(), 0
  local rows_by_key = {}
  for k, r in pairs(done) do rows_by_key[k] = r end

  local function eta()
    if n_new == 0 then return "?" end
    return fmt_duration((now() - t_start) / n_new * (todo - n_new))
  end
  local function stage(i, what)
    log("row %d/%d [%s] %s (elapsed %s, ETA %s)", i, todo, what.row, what.stage,
        fmt_duration(now() - t_start), eta())
  end

  -- embeddings of this run, in memory while their group runs; pipeline inputs come from the cache
  local function embed(spec, seed, ctx)
    if spec.name == "none" and not spec.input then
      return X, {seconds = 0, peak_mb = nil, cached = false}
    end
    local def = M.registry.reducer[spec.name]
    local key = embed_key(spec, seed, dhash)
    local nc = math.tointeger(spec.params.n_components)
    local base = ("%s/%s%s-%s"):format(cache_dir, safe_name(spec.label), nc and ("-" .. nc) or "",
                                       M.hash_string(key))
    local use_cache = def.cache ~= false
    if use_cache then
      local Z, meta = load_cached(base, key, n)
      if Z then return Z, {seconds = meta.seconds, peak_mb = meta.peak_mb, cached = true} end
      if meta then log("cache entry %s.npy unusable (%s): recomputing", base, meta) end
    end
    local Xin = X
    if spec.input then Xin = embed(spec.input, seed, ctx) end
    if ctx then stage(ctx.i, {row = ctx.row, stage = "reducing: " .. spec_text(spec)}) end
    collectgarbage()
    reset_peak()
    local t0 = now()
    local ok, r1, r2 = pcall(call_algorithm, "reducer", spec, Xin, seed)
    if not ok then error(r1, 0) end
    local Z = (def.embed or generic_embedding)(r1, r2)
    if not fm.matrix.is_matrix(Z) then
      errorf(1, "reducer '%s' returned no embedding matrix", spec.name)
    end
    local secs, peak = now() - t0, peak_mb()
    local zn, zd = Z:shape()
    if zn ~= n then errorf(1, "reducer '%s' returned %d rows for %d points", spec.name, zn, n) end
    if use_cache then
      save_cached(base, Z, {key = key, reducer = spec_json(spec), seed = spec.seeded and seed or nil,
                            data_hash = dhash, n = zn, n_components = zd, seconds = secs, peak_mb = peak,
                            created = os.date("!%Y-%m-%dT%H:%M:%SZ")})
      -- the trained model beside its embedding (the autoencoders: the HTML report draws its
      -- reconstructions); a failure here costs only that picture
      if def.save_model and r2 ~= nil then
        local okm, err = pcall(def.save_model, r2, base .. ".model")
        if not okm then log("could not save the model beside %s.npy: %s", base, tostring(err)) end
      end
    end
    return Z, {seconds = secs, peak_mb = peak, cached = false}
  end

  -- one row: cluster the embedding, score, append; errors go up to the caller's pcall
  local function run_row(r, Z, zinfo, i, rowtxt)
    stage(i, {row = rowtxt, stage = "clustering"})
    collectgarbage()
    reset_peak()
    local t0 = now()
    local res = call_algorithm("clusterer", r.clusterer, Z, r.seed)
    local labels = (M.registry.clusterer[r.clusterer.name].labels or generic_labels)(res)
    if not fm.labels.is_labels(labels) or #labels ~= n then
      errorf(1, "clusterer '%s' returned no labels for the %d points", r.clusterer.name, n)
    end
    local t_cluster, peak_cluster = now() - t0, peak_mb()
    local t1 = now()
    local m = fm.metrics.all(y, labels)
    local counts = labels:counts()
    local k, noise = 0, counts[-1] or 0
    for lab in pairs(counts) do if lab ~= -1 then k = k + 1 end end
    local row = {
      key = r.key, sweep = name,
      reducer = r.reducer.name, reducer_label = r.reducer.label, reducer_params = r.reducer.params,
      reducer_input = r.reducer.input and spec_json(r.reducer.input) or nil,
      n_components = select(2, Z:shape()),
      clusterer = r.clusterer.name, clusterer_label = r.clusterer.label,
      clusterer_params = r.clusterer.params,
      seed = r.seed, n = n, n_clusters = k, noise_share = noise / n,
      ari = m.ari, ami = m.ami, nmi = m.nmi, accuracy = m.accuracy,
      homogeneity = m.homogeneity, completeness = m.completeness, v_measure = m.v_measure,
    }
    if noise > 0 and noise < n then
      local mc = fm.metrics.all(y, labels, {ignore_noise = true})
      row.ari_clustered, row.ami_clustered = mc.ari, mc.ami
    end
    local t_score = now() - t1
    row.seconds = {reduce = zinfo.seconds, cluster = t_cluster, score = t_score,
                   total = (zinfo.seconds or 0) + t_cluster + t_score}
    row.reduce_cached = zinfo.cached
    row.peak_mb = {reduce = zinfo.peak_mb, cluster = peak_cluster}
    row.data_hash, row.threads, row.host, row.version = dhash, threads, hostname(), fm.version
    row.finished = os.date("!%Y-%m-%dT%H:%M:%SZ")
    writer.append(row)
    n_new = n_new + 1
    rows_by_key[r.key] = M.decode(M.encode(row))   -- as a reader of rows.jsonl sees it
    log("row %d/%d done: %s ARI %.4f AMI %.4f, %d clusters%s, %s (elapsed %s, ETA %s)", i, todo, rowtxt,
        m.ari, m.ami, k, noise > 0 and (", noise %.1f%%"):format(100 * noise / n) or "",
        fmt_duration(row.seconds.total), fmt_duration(now() - t_start), eta())
  end

  -- A failing row (an algorithm's error) is reported and left out of rows.jsonl, so the next run
  -- retries it; the other rows go on. Ctrl-C (and errors of the sweep itself) stop the run.
  local failed = {}
  local function guard(f, ...)
    local ok, err = pcall(f, ...)
    if ok then return true end
    local msg = tostring(err)
    if msg:find("interrupted!", 1, true) or (type(err) == "string" and err:match("^sweep: cannot")) then
      error(err, 0)
    end
    return false, (msg:gsub("^[^\n]-%.lua:%d+: ", ""))
  end

  local i = 0
  for _, grp in ipairs(plan.groups) do
    local pending = {}
    for _, r in ipairs(grp.rows) do
      if not done[r.key] and r.available then pending[#pending + 1] = r end
    end
    local Z, zinfo, zerr
    for _, r in ipairs(pending) do
      i = i + 1
      local rowtxt = spec_text(r.reducer) .. " → " .. spec_text(r.clusterer) ..
                     (r.seed ~= nil and (" seed " .. r.seed) or "")
      if not Z and not zerr then
        local ok, err = guard(function() Z, zinfo = embed(r.reducer, r.seed, {i = i, row = rowtxt}) end)
        if not ok then zerr = "embedding failed: " .. err end
      end
      local ok, err = true, zerr
      if not zerr then ok, err = guard(run_row, r, Z, zinfo, i, rowtxt) end
      if not ok or zerr then
        failed[#failed + 1] = {key = r.key, row = rowtxt, error = err}
        log("row %d/%d FAILED: %s: %s", i, todo, rowtxt, err)
      end
    end
    Z = nil
    collectgarbage()
  end
  writer.close()

  -- the rows of this plan, in plan order (finished ones only)
  local rows = {}
  for _, r in ipairs(plan.rows) do
    if rows_by_key[r.key] then rows[#rows + 1] = rows_by_key[r.key] end
  end
  local result = {rows = rows, new = n_new, skipped = skipped, unavailable = plan.unavailable, failed = failed,
                  out = out, dir = dir, plan = plan, torn = info.torn, data = desc,
                  seconds = now() - t_start}
  if opts.tables ~= false and config.tables ~= false then
    M.write_tables(dir, M.read_rows(rows_path))
  end
  log("%s: %d new rows in %s, %d in the table%s; %s", name, n_new, fmt_duration(result.seconds), #rows,
      #failed > 0 and (", %d FAILED (rerun to retry)"):format(#failed) or "", dir)
  return result
end

--- sweep.write_tables(dir, rows): table.md, table.csv and rows.json beside rows.jsonl
function M.write_tables(dir, rows)
  local report = require "fmclust.report"
  atomic_write(dir .. "/table.md", report.markdown(rows))
  atomic_write(dir .. "/table.csv", report.csv(rows))
end

--- sweep.merge(dirs, out) → rows: the union (by key) of the rows.jsonl of each directory, and
--- of out/rows.jsonl if it exists, written to out/rows.jsonl (atomically) with its tables.
--- Rows from different data (data hash) are refused; the same key twice keeps the first.
function M.merge(dirs, out, opts)
  opts = opts or {}
  if type(dirs) ~= "table" or #dirs == 0 then errorf(2, "merge: no directories given") end
  if type(out) ~= "string" then errorf(2, "merge: out directory expected") end
  local log = function(fmt, ...)
    if opts.progress ~= false then io.stderr:write(("[merge] " .. fmt .. "\n"):format(...)) end
  end
  local rows, seen, hash = {}, {}, nil
  local sources = {out .. "/rows.jsonl"}
  for _, d in ipairs(dirs) do
    local p = d:match("%.jsonl$") and d or (d .. "/rows.jsonl")
    if not exists(p) then errorf(2, "merge: '%s' not found", p) end
    sources[#sources + 1] = p
  end
  mkdir_p(out)
  -- a sweep appending to out/rows.jsonl meanwhile would lose its rows to the rename: lock, then
  -- read and write
  local release = acquire_lock(out)
  local dup = 0
  local ok, err = pcall(function()
    for si, p in ipairs(sources) do
      local rs, info = M.read_rows(p)
      if info.torn then log("%s: ignored a torn last line (%d bytes)", p, #info.torn) end
      if #info.bad > 0 then log("%s: ignored %d unreadable line(s)", p, #info.bad) end
      for _, r in ipairs(rs) do
        if r.data_hash then
          if hash and r.data_hash ~= hash then
            errorf(2, "merge: %s holds rows of other data (hash %s, others %s)", p, r.data_hash, hash)
          end
          hash = hash or r.data_hash
        end
        if not seen[r.key] then
          seen[r.key] = true
          rows[#rows + 1] = r
        elseif si > 1 then
          dup = dup + 1
        end
      end
    end
    local lines = {}
    for i, r in ipairs(rows) do lines[i] = M.encode(r) end
    atomic_write(out .. "/rows.jsonl", #lines > 0 and (table.concat(lines, "\n") .. "\n") or "")
    M.write_tables(out, rows)
  end)
  release()
  if not ok then error(err, 0) end
  log("%d rows from %d director%s into %s%s", #rows, #dirs, #dirs == 1 and "y" or "ies", out,
      dup > 0 and (" (%d duplicate rows dropped)"):format(dup) or "")
  return rows
end

--- sweep.load_config(path, env) → config table: runs the Lua file (it returns the table) with
--- `fm`, `sweep` and QUICK visible; "--as-config" is passed as its first argument
function M.load_config(path, env)
  local e = setmetatable({fm = fm, sweep = M}, {__index = _G})
  for k, v in pairs(env or {}) do e[k] = v end
  local chunk, err = loadfile(path, "t", e)
  if not chunk then errorf(2, "cannot load config: %s", err) end
  local cfg = chunk("--as-config")
  if type(cfg) ~= "table" then errorf(2, "config '%s' must return a table, got %s", path, type(cfg)) end
  return cfg
end

-- fm.sweep{...} is sweep.run{...}
return setmetatable(M, {__call = function(_, config, opts) return M.run(config, opts) end})
