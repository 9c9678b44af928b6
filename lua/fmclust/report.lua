-- fmclust.report — result tables of a sweep: Markdown in the study's format, CSV, JSON, and the
-- comparison with the study's own annexe.
--
--   local report = require "fmclust.report"          -- also fm.report
--   local rows = require("fmclust.sweep").read_rows("results/annexe/rows.jsonl")
--   print(report.markdown(rows))                     -- sorted by ARI, best first
--   report.csv(rows), report.json(rows)              -- strings
--   local cmp = report.compare(rows, "seed")          -- ours beside the study's 48 annexe rows
--   print(cmp:markdown()); cmp.summary.worse           -- rows more than 0.03 ARI below the study
--
-- Rows are those of fmclust.sweep (rows.jsonl): clusterer_label ("k-means", "ward", ...),
-- reducer_label ("none", "pca", "umap", "densmap", "ae→umap", ...), n_components, ari, ami, nmi,
-- accuracy, n_clusters, noise_share, seconds = {reduce, cluster, score, total}, seed, params.
local cjson = require("cjson").new()
local U = require "fmclust.util"

local M = {}

-- The study's annexe ("Annexe: Detailed Scoring"): model, dimension reduction, n components
-- (nil: no reduction, "nan" in the study), ARI, AMI — in its order (by ARI). Generated from the
-- study's README (spec/fixtures/seed_annexe.json; spec/report_spec.lua checks they agree).
local SEED = {
  {"ward", "umap", 10, 0.472368, 0.656989},
  {"ward", "umap", 20, 0.471, 0.630971},
  {"k-means", "umap", 10, 0.456125, 0.622112},
  {"k-means", "umap", 80, 0.45436, 0.633524},
  {"k-means", "umap", 20, 0.454139, 0.633707},
  {"ward", "umap", 80, 0.433626, 0.622254},
  {"ward", "cae", 10, 0.4266, 0.592642},
  {"ward", "cae", 20, 0.420423, 0.605746},
  {"k-means", "nan", nil, 0.404701, 0.542046},
  {"k-means", "cae", 80, 0.395398, 0.57013},
  {"k-means", "pca", 80, 0.390737, 0.523687},
  {"k-means", "cae", 10, 0.386969, 0.562585},
  {"ward", "ae", 80, 0.380241, 0.545681},
  {"ward", "nan", nil, 0.378539, 0.587801},
  {"ward", "cae", 80, 0.373973, 0.5708},
  {"k-means", "cae", 20, 0.3645, 0.554621},
  {"ward", "pca", 20, 0.363729, 0.537645},
  {"ward", "pca", 80, 0.351579, 0.516891},
  {"k-means", "pca", 20, 0.347294, 0.507024},
  {"ward", "pca", 10, 0.346739, 0.525471},
  {"k-means", "pca", 10, 0.338712, 0.488058},
  {"ward", "ae", 20, 0.326728, 0.505584},
  {"k-means", "ae", 10, 0.322634, 0.480481},
  {"k-means", "ae", 80, 0.311023, 0.493711},
  {"ward", "ae", 10, 0.298334, 0.499861},
  {"hdbscan", "umap", 20, 0.297362, 0.615279},
  {"hdbscan", "umap", 80, 0.297342, 0.614638},
  {"hdbscan", "umap", 10, 0.297293, 0.615377},
  {"k-means", "ae", 20, 0.281184, 0.469104},
  {"ward", "nmf", 20, 0.268024, 0.410812},
  {"k-means", "nmf", 20, 0.256232, 0.406255},
  {"ward", "nmf", 10, 0.243654, 0.440881},
  {"k-means", "nmf", 10, 0.232076, 0.43449},
  {"ward", "nmf", 80, 0.222787, 0.37582},
  {"k-means", "nmf", 80, 0.209876, 0.363655},
  {"hdbscan", "cae", 10, 0.163063, 0.399031},
  {"hdbscan", "cae", 80, 0.15188, 0.326022},
  {"hdbscan", "cae", 20, 0.151005, 0.327555},
  {"hdbscan", "nmf", 80, 0.077794, 0.214393},
  {"hdbscan", "ae", 10, 0.0463159, 0.304774},
  {"hdbscan", "nan", nil, 0.0436502, 0.113009},
  {"hdbscan", "nmf", 20, 0.0347136, 0.274219},
  {"hdbscan", "nmf", 10, 0.0334821, 0.299475},
  {"hdbscan", "ae", 80, 0.0241169, 0.0566632},
  {"hdbscan", "pca", 20, 0.0201702, 0.0854661},
  {"hdbscan", "pca", 80, 0.0189481, 0.0814599},
  {"hdbscan", "pca", 10, 0.0170953, 0.0926293},
  {"hdbscan", "ae", 20, 0.00506183, 0.0209042},
}

--- report.seed_rows() → the study's 48 annexe rows as {rank, model, reduction, n_components, ari, ami}
function M.seed_rows()
  local out = {}
  for i, r in ipairs(SEED) do
    out[i] = {rank = i, model = r[1], reduction = r[2], n_components = r[3], ari = r[4], ami = r[5]}
  end
  return out
end

-- ---------------------------------------------------------------- formatting helpers

local num = U.num   -- shared with html

local function canon_params(p)
  if type(p) ~= "table" then return "" end
  local keys = {}
  for k in pairs(p) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = p[k]
    if type(v) == "table" then v = cjson.encode(v) end
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then v = math.tointeger(v) end
    parts[#parts + 1] = ("%s=%s"):format(k, tostring(v))
  end
  return table.concat(parts, " ")
end
M.params_text = canon_params

local function model_of(r) return r.clusterer_label or r.clusterer or r.model or "?" end
local function reduction_of(r) return r.reducer_label or r.reducer or r.reduction or "none" end
local function is_none(red) return red == nil or red == "none" or red == "nan" or red == "" end

local function params_of(r)
  local t = {}
  if r.reducer_input then
    local inp = canon_params(r.reducer_input.params)
    t[#t + 1] = (r.reducer_input.label or r.reducer_input.reducer or "input") .. (inp ~= "" and ("(" .. inp .. ")") or "")
  end
  local rp, cp = canon_params(r.reducer_params), canon_params(r.clusterer_params)
  if rp ~= "" then t[#t + 1] = reduction_of(r) .. "(" .. rp .. ")" end
  if cp ~= "" then t[#t + 1] = model_of(r) .. "(" .. cp .. ")" end
  return table.concat(t, " ")
end
M.params_of = params_of

local function by_ari(rows)
  local s = table.move(rows, 1, #rows, 1, {})
  table.sort(s, function(a, b)
    local x, y = tonumber(a.ari) or -math.huge, tonumber(b.ari) or -math.huge
    if x ~= y then return x > y end
    return tostring(a.key) < tostring(b.key)
  end)
  return s
end
M.sort_by_ari = by_ari

local function md_table(header, align, body)
  local w = {}
  for j, h in ipairs(header) do w[j] = #h end
  for _, row in ipairs(body) do
    for j, c in ipairs(row) do w[j] = math.max(w[j], utf8.len(c) or #c) end
  end
  local function line(cells)
    local t = {}
    for j, c in ipairs(cells) do
      local pad = (" "):rep(w[j] - (utf8.len(c) or #c))
      t[j] = align[j] == "r" and (pad .. c) or (c .. pad)
    end
    return "| " .. table.concat(t, " | ") .. " |"
  end
  local out = {line(header)}
  local sep = {}
  for j = 1, #header do sep[j] = ("-"):rep(w[j] + 1) .. (align[j] == "r" and ":" or "-") end
  out[2] = "|" .. table.concat(sep, "|") .. "|"
  for _, row in ipairs(body) do out[#out + 1] = line(row) end
  return table.concat(out, "\n") .. "\n"
end

-- ---------------------------------------------------------------- Markdown, CSV, JSON

--- report.markdown(rows [, {params = "auto"|true|false, seeds = "auto"|true|false}]) → Markdown
--- table in the study's format (model, dimension reduction, n components, adjusted rand index,
--- adjusted mutual information) plus NMI, accuracy, clusters found, noise share and seconds,
--- sorted by ARI. A parameters column appears when two rows would otherwise look alike, a seed
--- column when rows have different seeds.
function M.markdown(rows, opts)
  opts = opts or {}
  local sorted = by_ari(rows)
  local show_params, show_seed = opts.params, opts.seeds
  if show_params == nil or show_params == "auto" then
    show_params = false
    local seen = {}
    for _, r in ipairs(sorted) do
      local k = table.concat({model_of(r), reduction_of(r), tostring(r.n_components), tostring(r.seed)}, "|")
      if seen[k] and seen[k] ~= params_of(r) then show_params = true end
      seen[k] = seen[k] or params_of(r)
    end
  end
  if show_seed == nil or show_seed == "auto" then
    show_seed = false
    for _, r in ipairs(sorted) do if r.seed ~= sorted[1].seed then show_seed = true end end
  end
  local header = {"model", "dimension reduction", "n components", "adjusted rand index",
                  "adjusted mutual information", "NMI", "accuracy", "clusters", "noise", "seconds"}
  local align = {"l", "l", "r", "r", "r", "r", "r", "r", "r", "r"}
  if show_seed then header[#header + 1] = "seed" align[#align + 1] = "r" end
  if show_params then header[#header + 1] = "parameters" align[#align + 1] = "l" end
  local body = {}
  for _, r in ipairs(sorted) do
    local secs = type(r.seconds) == "table" and r.seconds.total or r.seconds
    local cells = {
      model_of(r), reduction_of(r), tostring(r.n_components or ""), num(r.ari), num(r.ami), num(r.nmi),
      num(r.accuracy), tostring(r.n_clusters or ""),
      (tonumber(r.noise_share) or 0) > 0 and ("%.1f%%"):format(100 * r.noise_share) or "",
      num(secs, "%.1f"),
    }
    if show_seed then cells[#cells + 1] = r.seed ~= nil and tostring(r.seed) or "" end
    if show_params then cells[#cells + 1] = params_of(r) end
    body[#body + 1] = cells
  end
  return md_table(header, align, body)
end

local CSV_COLUMNS = {
  "model", "reduction", "n_components", "parameters", "seed", "n", "n_clusters", "noise_share",
  "ari", "ami", "nmi", "accuracy", "homogeneity", "completeness", "v_measure", "ari_clustered",
  "ami_clustered", "seconds_reduce", "seconds_cluster", "seconds_score", "seconds_total",
  "reduce_cached", "peak_mb_reduce", "peak_mb_cluster", "reducer", "reducer_params", "clusterer",
  "clusterer_params", "key",
}

local function csv_field(v)
  if v == nil or v == cjson.null then return "" end
  if type(v) == "table" then v = cjson.encode(v) end
  if math.type(v) == "float" then
    if v ~= v then return "" end
    v = ("%.10g"):format(v)
  end
  v = tostring(v)
  if v:find('[,"\n\r]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

--- report.csv(rows) → CSV text (header line first), sorted by ARI; parameters as JSON objects
function M.csv(rows)
  local out = {table.concat(CSV_COLUMNS, ",")}
  for _, r in ipairs(by_ari(rows)) do
    local s = type(r.seconds) == "table" and r.seconds or {total = r.seconds}
    local pk = type(r.peak_mb) == "table" and r.peak_mb or {}
    local vals = {
      model = model_of(r), reduction = reduction_of(r), n_components = r.n_components,
      parameters = params_of(r), seed = r.seed, n = r.n, n_clusters = r.n_clusters,
      noise_share = r.noise_share, ari = r.ari, ami = r.ami, nmi = r.nmi, accuracy = r.accuracy,
      homogeneity = r.homogeneity, completeness = r.completeness, v_measure = r.v_measure,
      ari_clustered = r.ari_clustered, ami_clustered = r.ami_clustered,
      seconds_reduce = s.reduce, seconds_cluster = s.cluster, seconds_score = s.score,
      seconds_total = s.total, reduce_cached = r.reduce_cached, peak_mb_reduce = pk.reduce,
      peak_mb_cluster = pk.cluster, reducer = r.reducer, reducer_params = r.reducer_params,
      clusterer = r.clusterer, clusterer_params = r.clusterer_params, key = r.key,
    }
    local cells = {}
    for j, c in ipairs(CSV_COLUMNS) do cells[j] = csv_field(vals[c]) end
    out[#out + 1] = table.concat(cells, ",")
  end
  return table.concat(out, "\n") .. "\n"
end

--- report.json(rows) → a JSON array of the rows, sorted by ARI
function M.json(rows)
  cjson.encode_sparse_array(true)
  local sorted = by_ari(rows)
  if #sorted == 0 then return "[]\n" end
  return cjson.encode(sorted) .. "\n"
end

-- ---------------------------------------------------------------- comparison

local function norm_model(m) return (tostring(m):lower():gsub("[^%w]", "")) end
local function match_key(model, red, nc)
  if is_none(red) then return norm_model(model) .. "|none|" end
  return norm_model(model) .. "|" .. tostring(red):lower() .. "|" .. tostring(math.tointeger(nc) or nc)
end

-- other rows in either format → {model, reduction, n_components, ari, ami}
local function reference_rows(other)
  if other == "seed" then return M.seed_rows(), "study" end
  if type(other) == "string" then
    local sweep = require "fmclust.sweep"
    local p = other:match("%.jsonl$") and other or (other .. "/rows.jsonl")
    local rows = sweep.read_rows(p)
    if #rows == 0 then error(("compare: no rows in '%s'"):format(p), 3) end
    other = rows
  end
  if type(other) ~= "table" then error("compare: other must be \"seed\", rows or a rows.jsonl path", 3) end
  local out = {}
  for i, r in ipairs(by_ari(other)) do
    out[i] = {rank = i, model = model_of(r), reduction = reduction_of(r), n_components = r.n_components,
              ari = r.ari, ami = r.ami}
  end
  return out, "other"
end

local Cmp = {}
Cmp.__index = Cmp

--- report.compare(rows, "seed" | other_rows | "dir/rows.jsonl" [, {tolerance = 0.03}]) → cmp
--- cmp.rows: one per reference row (in its order), then our rows it lacks (by ARI): {model,
--- reduction, n_components, ours = {ari, ami, n (rows averaged: seeds)} or nil, theirs = {ari,
--- ami} or nil, d_ari, d_ami (ours − theirs), status = "better" | "ok" | "worse" | "not run" |
--- "new"}. A row matches on model, reduction and n components (labels: give tuned variants their
--- own label); "ok" is within tolerance, "better" above it, "worse" more than tolerance below.
--- cmp.summary = {matched, ok, better, worse, not_run, new, mean_d_ari, tolerance};
--- cmp:markdown() (also tostring(cmp)) the table.
function M.compare(rows, other, opts)
  opts = opts or {}
  local tol = opts.tolerance or 0.03
  local ref = reference_rows(other)
  local ours, order = {}, {}
  for _, r in ipairs(rows) do
    local k = match_key(model_of(r), reduction_of(r), r.n_components)
    local g = ours[k]
    if not g then
      g = {model = model_of(r), reduction = reduction_of(r), n_components = r.n_components,
           ari = 0, ami = 0, n = 0, best = -math.huge}
      ours[k] = g
      order[#order + 1] = k
    end
    if tonumber(r.ari) then
      g.ari, g.ami, g.n = g.ari + r.ari, g.ami + (tonumber(r.ami) or 0), g.n + 1
    end
  end
  local out, used = {}, {}
  local sum = {matched = 0, ok = 0, better = 0, worse = 0, not_run = 0, new = 0, tolerance = tol}
  local dsum = 0
  for _, t in ipairs(ref) do
    local k = match_key(t.model, t.reduction, t.n_components)
    local g = ours[k]
    local e = {model = t.model, reduction = is_none(t.reduction) and "none" or t.reduction,
               n_components = t.n_components,
               theirs = {ari = t.ari, ami = t.ami, rank = t.rank}}
    if g and g.n > 0 then
      used[k] = true
      e.ours = {ari = g.ari / g.n, ami = g.ami / g.n, n = g.n}
      e.d_ari, e.d_ami = e.ours.ari - t.ari, e.ours.ami - t.ami
      e.status = e.d_ari > tol and "better" or (e.d_ari < -tol and "worse" or "ok")
      sum.matched = sum.matched + 1
      sum[e.status] = sum[e.status] + 1
      dsum = dsum + e.d_ari
    else
      e.status = "not run"
      sum.not_run = sum.not_run + 1
    end
    out[#out + 1] = e
  end
  local extra = {}
  for _, k in ipairs(order) do
    local g = ours[k]
    if not used[k] and g.n > 0 then
      extra[#extra + 1] = {model = g.model, reduction = g.reduction, n_components = g.n_components,
                           ours = {ari = g.ari / g.n, ami = g.ami / g.n, n = g.n}, status = "new"}
    end
  end
  table.sort(extra, function(a, b) return a.ours.ari > b.ours.ari end)
  for _, e in ipairs(extra) do out[#out + 1] = e end
  sum.new = #extra
  sum.mean_d_ari = sum.matched > 0 and dsum / sum.matched or nil
  return setmetatable({rows = out, summary = sum, reference = other == "seed" and "study" or "other"}, Cmp)
end

local function signed(v) return type(v) == "number" and ("%+.4f"):format(v) or "" end

function Cmp:markdown()
  local who = self.reference == "study" and "study" or "other"
  local header = {"model", "dimension reduction", "n components", "ARI (ours)", "ARI (" .. who .. ")", "Δ ARI",
                  "AMI (ours)", "AMI (" .. who .. ")", "Δ AMI", ""}
  local align = {"l", "l", "r", "r", "r", "r", "r", "r", "r", "l"}
  local body = {}
  for _, e in ipairs(self.rows) do
    local o, t = e.ours or {}, e.theirs or {}
    body[#body + 1] = {
      e.model, e.reduction, is_none(e.reduction) and "" or tostring(math.tointeger(e.n_components) or e.n_components or ""),
      num(o.ari), num(t.ari), signed(e.d_ari), num(o.ami), num(t.ami), signed(e.d_ami),
      e.status .. ((o.n or 1) > 1 and (" (mean of %d)"):format(o.n) or ""),
    }
  end
  local s = self.summary
  local text = md_table(header, align, body)
  text = text .. ("\n%d of %d %s rows run: %d within %.2f ARI, %d better, %d worse%s; %d new rows.\n")
    :format(s.matched, s.matched + s.not_run, who, s.ok, s.tolerance, s.better, s.worse,
            s.mean_d_ari and (", mean Δ ARI %+.4f"):format(s.mean_d_ari) or "", s.new)
  return text
end
Cmp.__tostring = Cmp.markdown

M.html = function(...) return require("fmclust.html").html(...) end   -- the HTML page (fmclust/html.lua), loaded on first use

return M
