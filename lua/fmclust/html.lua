-- fmclust.html — one self-contained HTML page for a sweep's results directory (fm.report.html).
--
--   local path, info = fm.report.html("results/annexe")          -- writes results/annexe/report.html
--   fm.report.html("results/annexe", {X = X, y = y, names = names, embedding2d = E2, ae = ae})
--   $ fmclust report results/annexe                              -- the same from the shell
--
-- The page holds (no network needed: images are base64 data: URIs, the table sorting is a few
-- lines of inline JavaScript, no CDN):
--   * the results table (every row of rows.jsonl, best ARI first), sortable by any column on click
--   * the study's annexe values beside ours (fmclust.report.compare(rows, "seed")), also sortable
--   * ARI across the sweep (fm.plot.sweep: best ARI per reducer and n_components; per clusterer)
--   * the 2-D scatter coloured by true class and by the best row's clustering
--   * the contingency heat map of the best row (fm.plot.confusion)
--   * pixel maps (fm.plot.pixel_maps), sample images, and autoencoder reconstructions
-- Each figure is drawn only when its inputs are there; the page lists the ones left out and why.
--
-- Inputs (options; all optional):
--   X, y, names      the data, its true classes and their names. When absent, the data is found
--                    when it is Fashion-MNIST: the rows' n (10,000 / 60,000 / 70,000) picks the
--                    split and the rows' data hash must match it (data = false turns this off).
--   data, truth      or load it like a sweep: data = "fashion-mnist[:split]" | "X.npy" | ".csv",
--                    truth = "y.npy"
--   best_labels      the best row's cluster labels. When absent they are recomputed: the best
--                    row's embedding is read from the sweep's cache (<dir>/cache, or X itself for
--                    reducer "none") and clustered again with the row's options and seed, when
--                    that clustering took at most max_seconds (default 30) in the sweep. The
--                    recomputed ARI is checked against the row's; a mismatch is said under the
--                    figures.
--   embedding2d      an n×2 matrix for the scatters. When absent: a 2-D UMAP embedding from the
--                    cache (a sweep row with {"umap", n_components = 2}), else — with X — a 2-D
--                    PCA (cheap; the caption says so), or a 2-D UMAP when umap2d = true (slow).
--   ae               an autoencoder (fm.autoencoder: ae:reconstruct), a path to a saved one, or a
--                    matrix of reconstructions of X's rows. Without it there are no reconstructions
--                    (training one is not cheap).
--   path             the page (default <dir>/report.html); title; compare = "seed" (default) |
--                    another results directory | false; compute = true (false: draw only from
--                    what is given, no data detection, cache reads or re-clustering).
-- Returns path, info = {figures = {{name, drawn = bool, why}}, best = best row, notes = {...}}.
--
-- The page's script records JavaScript errors in #js-errors (data-count) and, once the tables
-- are sortable, adds #report-ready (data-images-ok: figures decoded, once loaded); opened with #selftest in the URL it also sorts the results
-- table by ARI both ways, checks the order and writes data-selftest = "pass" | "fail: ..." on
-- #report-ready. tools/report-check.sh uses these markers in headless Chromium.
local U = require "fmclust.util"
-- fmclust itself on first use: fmclust.report (which exposes this module) loads during fmclust's own load
local fm = setmetatable({}, {__index = function(_, k) return require("fmclust")[k] end})

local M = {}

-- ---------------------------------------------------------------- small helpers

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                                         ["'"] = "&#39;"}))
end
M.escape = esc

-- file and number helpers shared with sweep and report
local exists, read_all, list_dir, num = U.exists, U.read_all, U.list_dir, U.num

local function secs_of(r)
  return type(r.seconds) == "table" and r.seconds.total or r.seconds
end

-- ---------------------------------------------------------------- inputs

local function dirname(p) return p:match("^(.*)/[^/]*$") or "." end

local function rows_path(dir)
  if dir:match("%.jsonl$") then return dir, dirname(dir) end
  return dir .. "/rows.jsonl", dir
end

local function xhash_of(rows)
  for _, r in ipairs(rows) do
    if type(r.data_hash) == "string" then return r.data_hash:match("^(%x+)"), r.n end
  end
  return nil, rows[1] and rows[1].n
end

-- Fashion-MNIST when the rows were computed on it (size and data hash agree)
local function detect_data(rows, notes)
  local sweep = require "fmclust.sweep"
  local xhash, n = xhash_of(rows)
  local split = ({[10000] = "test", [60000] = "train", [70000] = "all"})[n]
  if not xhash or not split then
    notes[#notes + 1] = "the data was not given and is not Fashion-MNIST (pass X and y, or --data/--truth)"
    return nil
  end
  local ok, X, y, names = pcall(fm.data.fashion_mnist, {split = split})
  if not ok then
    notes[#notes + 1] = "Fashion-MNIST is not available here: " .. tostring(X)
    return nil
  end
  if sweep.data_hash(X) ~= xhash then
    notes[#notes + 1] = ("the rows are for other data than Fashion-MNIST %s (the data hash differs)"):format(split)
    return nil
  end
  return X, y, names, ("Fashion-MNIST %s (found by its data hash)"):format(split)
end

-- cache entries (<dir>/cache, or the parent's for a shard directory): {meta, npy}
local function cache_entries(dir, extra)
  local sweep = require "fmclust.sweep"
  local out, seen = {}, {}
  for _, cdir in ipairs{extra or false, dir .. "/cache", dirname(dir) .. "/cache"} do
    if cdir and not seen[cdir] then
      seen[cdir] = true
      for _, name in ipairs(list_dir(cdir, ".json")) do
        local base = cdir .. "/" .. name:sub(1, -6)
        local ok, meta = pcall(sweep.decode, read_all(base .. ".json") or "")
        if ok and type(meta) == "table" and type(meta.reducer) == "table" and exists(base .. ".npy") then
          out[#out + 1] = {meta = meta, npy = base .. ".npy"}
        end
      end
    end
  end
  return out
end

local function same(a, b)
  local sweep = require "fmclust.sweep"
  if a == sweep.null then a = nil end
  if b == sweep.null then b = nil end
  return sweep.canon(a) == sweep.canon(b)
end

local function load_entry(e, n)
  local ok, Z = pcall(fm.matrix.load_npy, e.npy)
  if not ok then return nil end
  local zn = Z:shape()
  if zn ~= n or Z:has_nonfinite() then return nil end
  return Z
end

-- the best row's embedding: X for reducer "none", else its cache entry
local function embedding_of(row, X, entries)
  if row.reducer == "none" and row.reducer_input == nil then return X, X and "the data" end
  for _, e in ipairs(entries) do
    local m = e.meta
    if m.reducer.reducer == row.reducer and same(m.reducer.params, row.reducer_params)
        and same(m.reducer.input, row.reducer_input) and m.data_hash == row.data_hash
        and (m.seed == nil or m.seed == row.seed) then
      local Z = load_entry(e, row.n)
      if Z then return Z, e.npy end
    end
  end
  return nil
end

-- a 2-D embedding from the cache: UMAP first (the best row's seed first), else any other reducer's
local function cached_2d(entries, rows, best)
  local hash = best and best.data_hash or (rows[1] and rows[1].data_hash)
  local n = best and best.n or (rows[1] and rows[1].n)
  local function rank(m)
    return (m.reducer.reducer == "umap" and m.reducer.input == nil and 0 or 2) + (m.seed == best.seed and 0 or 1)
  end
  local pick
  for _, e in ipairs(entries) do
    local m = e.meta
    if m.n_components == 2 and m.data_hash == hash then
      if not pick or rank(m) < rank(pick.meta) then pick = e end
    end
  end
  if pick then
    local Z = load_entry(pick, n)
    if Z then return Z, pick end
  end
  return nil
end

-- ---------------------------------------------------------------- HTML pieces

local function th(text, left) return ("<th%s>%s</th>"):format(left and ' class="l"' or "", esc(text)) end

local function td(text, sortv, left)
  local attr = ""
  if sortv ~= nil and sortv == sortv then attr = (' data-v="%s"'):format(esc(("%.10g"):format(sortv))) end
  return ("<td%s%s>%s</td>"):format(left and ' class="l"' or "", attr, esc(text))
end

local function results_table(rows)
  local report = require "fmclust.report"
  local sorted = report.sort_by_ari(rows)
  local h = {'<table class="sortable" id="results"><thead><tr>',
    th("#"), th("model", true), th("reduction", true), th("n components"), th("ARI"), th("AMI"), th("NMI"),
    th("accuracy"), th("clusters"), th("noise"), th("seconds"), th("seed"), th("parameters", true),
    "</tr></thead><tbody>"}
  for i, r in ipairs(sorted) do
    local secs = secs_of(r)
    local noise = tonumber(r.noise_share) or 0
    h[#h + 1] = table.concat{"<tr>",
      td(tostring(i), i),
      td(r.clusterer_label or r.clusterer or "?", nil, true),
      td(r.reducer_label or r.reducer or "none", nil, true),
      td(r.n_components and tostring(r.n_components) or "", tonumber(r.n_components)),
      td(num(r.ari), tonumber(r.ari)), td(num(r.ami), tonumber(r.ami)), td(num(r.nmi), tonumber(r.nmi)),
      td(num(r.accuracy), tonumber(r.accuracy)),
      td(r.n_clusters and tostring(r.n_clusters) or "", tonumber(r.n_clusters)),
      td(noise > 0 and ("%.1f%%"):format(100 * noise) or "", noise),
      td(num(secs, "%.1f"), tonumber(secs)),
      td(r.seed ~= nil and tostring(r.seed) or "", tonumber(r.seed)),
      td(report.params_of(r), nil, true):gsub('^<td class="l"', '<td class="l p"'),
      "</tr>"}
  end
  h[#h + 1] = "</tbody></table>"
  return table.concat(h, "\n"), sorted
end

local function compare_table(cmp)
  local who = cmp.reference == "study" and "study" or "other"
  local h = {'<table class="sortable" id="compare"><thead><tr>',
    th("model", true), th("reduction", true), th("n components"), th("ARI (ours)"), th("ARI (" .. who .. ")"),
    th("Δ ARI"), th("AMI (ours)"), th("AMI (" .. who .. ")"), th("Δ AMI"), th("status", true),
    "</tr></thead><tbody>"}
  for _, e in ipairs(cmp.rows) do
    local o, t = e.ours or {}, e.theirs or {}
    local nc = e.reduction ~= "none" and e.n_components or nil
    local status = e.status .. ((o.n or 1) > 1 and (" (mean of %d)"):format(o.n) or "")
    h[#h + 1] = table.concat{('<tr class="%s">'):format(esc(e.status:gsub(" ", "-"))),
      td(e.model, nil, true), td(e.reduction, nil, true),
      td(nc and tostring(math.tointeger(nc) or nc) or "", tonumber(nc)),
      td(num(o.ari), o.ari), td(num(t.ari), t.ari),
      td(e.d_ari and ("%+.4f"):format(e.d_ari) or "", e.d_ari),
      td(num(o.ami), o.ami), td(num(t.ami), t.ami),
      td(e.d_ami and ("%+.4f"):format(e.d_ami) or "", e.d_ami),
      td(status, nil, true), "</tr>"}
  end
  h[#h + 1] = "</tbody></table>"
  local s = cmp.summary
  local summary = ("%d of %d %s rows run: %d within %.2f ARI, %d better, %d worse%s; %d rows the %s does not have.")
    :format(s.matched, s.matched + s.not_run, who, s.ok, s.tolerance, s.better, s.worse,
            s.mean_d_ari and (", mean Δ ARI %+.4f"):format(s.mean_d_ari) or "", s.new, who)
  return table.concat(h, "\n"), summary
end

local STYLE = [[
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:1.5em auto;max-width:1280px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
th{cursor:pointer;background:#f3f3f3;position:sticky;top:0;user-select:none;white-space:nowrap}
th,td{padding:3px 8px;border-bottom:1px solid #e6e6e6;text-align:right}
th.l,td.l{text-align:left}td{white-space:nowrap}td.p{white-space:normal;min-width:18em}th.asc::after{content:" \25B2"}th.desc::after{content:" \25BC"}
tr:hover td{background:#fafafa}tr.better td{color:#1a7f37}tr.worse td{color:#b3261e}tr.not-run td{color:#999}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,.note{color:#555;font-size:13px}.wrap{overflow-x:auto;max-height:36em}
]]

-- records errors before anything else runs
local HEAD_SCRIPT = [[
window.__errors=[];
window.onerror=function(msg,src,line){
  window.__errors.push(String(msg)+" (line "+line+")");
  var d=document.getElementById("js-errors");
  if(d){d.textContent=window.__errors.join("\n");d.setAttribute("data-count",String(window.__errors.length));}
};
]]

-- click a header to sort by it (again: the other way); numbers by data-v, empty cells last
local SORT_SCRIPT = [[
(function(){
  function key(td){
    var v=td.getAttribute("data-v");
    if(v!==null&&v!==""&&isFinite(Number(v)))return Number(v);
    var t=td.textContent.trim();
    if(t==="")return null;
    return isFinite(Number(t))?Number(t):t.toLowerCase();
  }
  function sortBy(table,col,asc){
    var tb=table.tBodies[0];
    var rows=Array.prototype.slice.call(tb.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[col]),y=key(b.cells[col]);
      if(x===null||y===null){return x===y?0:(x===null?1:-1);}
      if(typeof x!==typeof y){return typeof x==="number"?-1:1;}
      if(x<y)return asc?-1:1;
      if(x>y)return asc?1:-1;
      return 0;
    });
    for(var i=0;i<rows.length;i++)tb.appendChild(rows[i]);
    var ths=table.tHead.rows[0].cells;
    for(var j=0;j<ths.length;j++){ths[j].classList.remove("asc");ths[j].classList.remove("desc");}
    ths[col].classList.add(asc?"asc":"desc");
  }
  var tables=document.querySelectorAll("table.sortable");
  for(var t=0;t<tables.length;t++){
    (function(table){
      var ths=table.tHead.rows[0].cells;
      for(var c=0;c<ths.length;c++){
        (function(col){
          ths[col].addEventListener("click",function(){sortBy(table,col,!ths[col].classList.contains("asc"));});
        })(c);
      }
    })(tables[t]);
  }
  window.fmSortBy=sortBy;
  var ready=document.createElement("div");
  ready.id="report-ready";
  ready.hidden=true;
  ready.setAttribute("data-tables",String(tables.length));
  ready.setAttribute("data-images",String(document.querySelectorAll("figure img").length));
  if(location.hash==="#selftest"){
    var verdict="pass";
    try{
      var table=document.getElementById("results");
      var ths=table.tHead.rows[0].cells,col=-1;
      for(var c=0;c<ths.length;c++)if(ths[c].textContent.trim()==="ARI")col=c;
      var vals=function(){var out=[];var rs=table.tBodies[0].rows;
        for(var i=0;i<rs.length;i++){var k=key(rs[i].cells[col]);if(k!==null)out.push(k);}return out;};
      ths[col].dispatchEvent(new MouseEvent("click"));
      var up=vals();
      for(var i=1;i<up.length;i++)if(up[i-1]>up[i])verdict="fail: not ascending after one click";
      ths[col].dispatchEvent(new MouseEvent("click"));
      var down=vals();
      for(var i=1;i<down.length;i++)if(down[i-1]<down[i])verdict="fail: not descending after two clicks";
      if(up.length<1)verdict="fail: no ARI values";
    }catch(e){verdict="fail: "+e;}
    ready.setAttribute("data-selftest",verdict);
  }
  document.body.appendChild(ready);
  // once loaded: how many figures decoded to a real picture
  window.addEventListener("load",function(){
    var imgs=document.querySelectorAll("figure img"),ok=0;
    for(var i=0;i<imgs.length;i++)if(imgs[i].complete&&imgs[i].naturalWidth>0)ok++;
    ready.setAttribute("data-images-ok",String(ok));
  });
})();
]]

-- ---------------------------------------------------------------- the page

local SPEC = {
  path = {type = "string"},
  title = {type = "string"},
  X = {type = "matrix"},
  y = {type = "any"},
  names = {type = "table"},
  data = {type = "any"},
  truth = {type = "any"},
  best_labels = {type = "any"},
  embedding2d = {type = "matrix"},
  ae = {type = "any"},
  compare = {type = "any", default = "seed"},
  compute = {type = "boolean", default = true},
  umap2d = {type = "boolean", default = false},
  max_seconds = {type = "number", min = 0, default = 30},
  cache = {type = "string"},
}

local function to_labels(fname, argn, name, v, n)
  if v == nil then return nil end
  if type(v) == "table" and not U.is_labels(v) and not U.is_matrix(v) then
    local ok, y = pcall(fm.labels, v)
    if not ok then U.argerror(fname, argn, name .. " must be labels or a sequence of integers", 4) end
    v = y
  end
  if not U.is_labels(v) then U.argerror(fname, argn, ("%s must be labels, got %s"):format(name, U.describe(v)), 4) end
  if n and #v ~= n then U.argerror(fname, argn, ("%s has %d labels, the rows have n = %d"):format(name, #v, n), 4) end
  return v
end

--- fm.report.html(dir, opts) → path, info (see the header)
function M.html(dir, opts)
  if type(dir) ~= "string" then U.argerror("html", 1, "results directory (or rows.jsonl) expected, got " .. U.describe(dir)) end
  local o = U.options("html", 2, opts, SPEC)
  local sweep = require "fmclust.sweep"
  local report = require "fmclust.report"
  local rpath, rdir = rows_path(dir)
  if not exists(rpath) then U.argerror("html", 1, ("no rows file '%s'"):format(rpath)) end
  local rows, rinfo = sweep.read_rows(rpath)
  if #rows == 0 then U.argerror("html", 1, ("no rows in '%s'"):format(rpath)) end
  local out = o.path or (rdir .. "/report.html")
  local notes, figures = {}, {}
  if rinfo.torn then notes[#notes + 1] = "rows.jsonl ends with a torn line (ignored)" end
  local n_rows = rows[1].n

  -- the data
  local X, y, names, data_desc = o.X, o.y, o.names, nil
  if X then data_desc = "given" end
  if not X and o.data ~= nil and o.data ~= false then
    local spec = o.data
    local split
    if type(spec) == "string" then
      local base, sp = spec:match("^(fashion[-_]mnist):?(%a*)$")
      if base then spec, split = "fashion-mnist", sp ~= "" and sp or nil end
    end
    local ok, Xd, yd, desc = pcall(sweep.load_data, {data = spec, truth = o.truth, split = split})
    if not ok then error(("html: cannot load the data: %s"):format((tostring(Xd):gsub("^.-sweep: ", ""))), 2) end
    X, y, data_desc = Xd, y or yd, desc
    if type(spec) == "string" and spec == "fashion-mnist" then names = names or fm.data.class_names() end
  elseif not X and o.compute and o.data ~= false then
    local Xd, yd, nd, desc = detect_data(rows, notes)
    if Xd then X, y, names, data_desc = Xd, y or yd, names or nd, desc end
  end
  local n = X and (X:shape()) or n_rows
  if X and n_rows and n ~= n_rows then
    U.argerror("html", 2, ("X has %d rows, the sweep's rows have n = %d"):format(n, n_rows))
  end
  y = to_labels("html", 2, "y", y, n)
  local best_labels = to_labels("html", 2, "best_labels", o.best_labels, n)
  if o.embedding2d then
    local en, ed = o.embedding2d:shape()
    if ed ~= 2 or (n and en ~= n) then
      U.argerror("html", 2, ("embedding2d must be %s×2, got %d×%d"):format(tostring(n), en, ed))
    end
  end

  local best = report.sort_by_ari(rows)[1]
  local best_txt = ("%s on %s%s (ARI %.4f)"):format(best.clusterer_label or best.clusterer or "?",
    best.reducer_label or best.reducer or "none",
    (best.reducer ~= "none" and best.n_components) and (" " .. tostring(best.n_components)) or "",
    tonumber(best.ari) or 0 / 0)

  local entries = o.compute and cache_entries(rdir, o.cache) or {}
  -- best labels: recompute when cheap
  local labels_note
  if not best_labels and o.compute then
    local sc = type(best.seconds) == "table" and tonumber(best.seconds.cluster) or nil
    if sc and sc > o.max_seconds then
      notes[#notes + 1] = ("the best row's clustering took %.0f s in the sweep, more than max_seconds = %g: not recomputed (pass best_labels)")
        :format(sc, o.max_seconds)
    else
      local Z, from = embedding_of(best, X, entries)
      if not Z then
        notes[#notes + 1] = "the best row's embedding is neither in the cache nor computable here: pass best_labels"
      else
        local ok, lab = pcall(sweep.cluster, best.clusterer, Z, best.clusterer_params, best.seed)
        if ok then
          best_labels = lab
          labels_note = ("The best row's clusters were recomputed from %s"):format(from)
          if y and tonumber(best.ari) then
            local a = fm.metrics.ari(y, lab)
            if math.abs(a - best.ari) > 1e-9 then
              labels_note = labels_note .. (" — their ARI %.4f differs from the row's %.4f"):format(a, best.ari)
              notes[#notes + 1] = labels_note
            else
              labels_note = labels_note .. " (same ARI as the row)"
            end
          end
        else
          notes[#notes + 1] = "re-clustering the best row failed: " .. tostring(lab)
        end
      end
    end
  end

  -- the 2-D embedding for the scatters
  local E2, e2_desc = o.embedding2d, o.embedding2d and "the 2-D embedding given" or nil
  if not E2 and o.compute then
    local Z, e = cached_2d(entries, rows, best)
    if Z then
      E2 = Z
      local r = e.meta.reducer
      e2_desc = ("2-D %s from the sweep's cache (%s%s)"):format(r.label or r.reducer, sweep.canon(r.params),
        e.meta.seed ~= nil and (", seed " .. tostring(e.meta.seed)) or "")
    elseif X and o.umap2d then
      E2 = fm.umap(X, {n_components = 2, seed = 0})
      e2_desc = "2-D UMAP computed for this page (seed 0)"
    elseif X then
      E2 = fm.pca(X, {n_components = 2})
      e2_desc = "2-D PCA (no 2-D UMAP in the cache: add {\"umap\", n_components = 2} to the sweep, or pass embedding2d)"
    end
  end

  -- figures
  local imgs = {}
  local function add(name, caption, f, why_missing)
    if why_missing then
      figures[#figures + 1] = {name = name, drawn = false, why = why_missing}
      return
    end
    local ok, a, b = pcall(f)
    local fig = (type(a) == "table" and a.png) and a or b
    if not ok or type(fig) ~= "table" or not fig.png then
      figures[#figures + 1] = {name = name, drawn = false, why = "drawing failed: " .. tostring(a)}
      return
    end
    figures[#figures + 1] = {name = name, drawn = true}
    imgs[#imgs + 1] = ('<figure id="fig-%s"><img alt="%s" width="%d" height="%d" src="data:image/png;base64,%s">'
      .. '<figcaption>%s</figcaption></figure>'):format(name:gsub("%W+", "-"), esc(name), fig.width, fig.height,
      fm.core.base64(fig.png), caption)
  end

  add("ARI across the sweep", "Best ARI per reduction and number of components (whiskers: the range over clusterers and seeds).",
    function() return fm.plot.sweep(rows, {x = "n_components", y = "ari", by = "reducer", agg = "max",
      title = "ARI by reduction and dimension (best row)"}) end)
  add("ARI by clusterer", "Best ARI of each clusterer per reduction.",
    function() return fm.plot.sweep(rows, {x = "reducer", y = "ari", by = "clusterer", agg = "max", kind = "bar",
      title = "ARI by clusterer and reduction (best row)"}) end)
  local nomiss2 = not E2 and "no 2-D embedding (none given, none in the cache, no data to compute one)" or nil
  add("scatter by class", esc(e2_desc or "") .. ", coloured by true class.",
    function() return fm.plot.scatter(E2, y, {names = names, title = "2-D embedding, true classes", legend_title = "class"}) end,
    nomiss2 or (not y and "no true classes (y)") or nil)
  add("scatter by best clustering", esc(e2_desc or "") .. ", coloured by the clusters of the best row: " .. esc(best_txt) ..
    (labels_note and (". " .. esc(labels_note) .. ".") or "."),
    function() return fm.plot.scatter(E2, best_labels, {title = "2-D embedding, clusters of the best row", legend_title = "cluster"}) end,
    nomiss2 or (not best_labels and "no labels for the best row (pass best_labels, or see the notes)") or nil)
  add("confusion of the best row", "Contingency table of the best row, " .. esc(best_txt) ..
    ": columns in the order of the Hungarian matching, colour = share of the class, counts in the cells.",
    function() return fm.plot.confusion(y, best_labels, {names = names}) end,
    (not y and "no true classes (y)") or (not best_labels and "no labels for the best row") or nil)
  local d = X and select(2, X:shape()) or 0
  local square = d > 0 and math.floor(math.sqrt(d) + 0.5) ^ 2 == d
  add("pixel maps", "Mean, standard deviation and share of non-zero values of each pixel.",
    function() return fm.plot.pixel_maps(fm.pixel_stats(X)) end,
    (not X and "no data (X)") or (not square and "the rows are not square images") or nil)
  add("sample images", "The first 40 images with their classes.",
    function() return fm.plot.images(X, {rows = 4, cols = 10, labels = y, names = names, cell = 64}) end,
    (not X and "no data (X)") or (not square and "the rows are not square images") or nil)
  local Xhat, ae_why, sel
  if o.ae ~= nil and X and square then
    local idx = {}
    for i = 1, math.min(20, n) do idx[i] = i end
    sel = fm.labels(idx)
    local ok, res = pcall(function()
      local ae = o.ae
      if type(ae) == "string" then ae = fm.autoencoder.load(ae) end
      if U.is_matrix(ae) then
        if (ae:shape()) ~= n then error(("the reconstructions have %d rows, X has %d"):format((ae:shape()), n), 0) end
        return ae:rows(sel)
      end
      return ae:reconstruct(X:rows(sel))
    end)
    if ok then Xhat = res else ae_why = "the autoencoder could not reconstruct: " .. tostring(res) end
  end
  add("autoencoder reconstructions", "Originals (top) and their reconstructions by the autoencoder given.",
    function() return fm.plot.reconstructions(X:rows(sel), Xhat, {rows = 2, cols = 10, cell = 64}) end,
    (not X and "no data (X)") or (not square and "the rows are not square images") or ae_why
      or (not Xhat and "no autoencoder given (ae = model, saved model path, or reconstructions)") or nil)

  -- the page
  local tbl = results_table(rows)
  local cmp_html, cmp_summary = "", nil
  if o.compare then
    local ok, cmp = pcall(report.compare, rows, o.compare)
    if ok then cmp_html, cmp_summary = compare_table(cmp)
    else notes[#notes + 1] = "comparison failed: " .. tostring(cmp) end
  end
  local title = o.title or ("fmclust results: " .. rdir)
  local h = {
    "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    ("<title>%s</title>"):format(esc(title)),
    "<style>" .. STYLE .. "</style>",
    "<script>" .. HEAD_SCRIPT .. "</script>",
    "</head><body>",
    '<div id="js-errors" data-count="0" hidden></div>',
    ("<h1>%s</h1>"):format(esc(title)),
    ('<p class="note">%d rows from <code>%s</code>; data: %s; fmclust %s; written %s. Best row: %s. Click a column heading to sort.</p>')
      :format(#rows, esc(rpath), esc(data_desc or "not available"), esc(fm.version), os.date("!%Y-%m-%d %H:%M UTC"), esc(best_txt)),
    "<h2>Results</h2>", '<div class="wrap">', tbl, "</div>",
  }
  if cmp_summary then
    h[#h + 1] = "<h2>Beside the study's annexe</h2>"
    h[#h + 1] = ('<p class="note">%s Rows match on model, reduction and number of components; ours are means over seeds.</p>'):format(esc(cmp_summary))
    h[#h + 1] = '<div class="wrap">' .. cmp_html .. "</div>"
  end
  h[#h + 1] = "<h2>Figures</h2>"
  for _, s in ipairs(imgs) do h[#h + 1] = s end
  local missing = {}
  for _, f in ipairs(figures) do
    if not f.drawn then missing[#missing + 1] = ("<li>%s: %s</li>"):format(esc(f.name), esc(f.why)) end
  end
  if #missing > 0 or #notes > 0 then
    h[#h + 1] = "<h2>Left out</h2><ul id=\"left-out\">"
    for _, s in ipairs(missing) do h[#h + 1] = s end
    for _, s in ipairs(notes) do h[#h + 1] = ("<li>%s</li>"):format(esc(s)) end
    h[#h + 1] = "</ul>"
  end
  h[#h + 1] = "<script>" .. SORT_SCRIPT .. "</script>"
  h[#h + 1] = "</body></html>\n"
  local text = table.concat(h, "\n")
  local tmp = out .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error(("html: cannot write '%s': %s"):format(out, tostring(err):gsub("^[^:]*: ", "")), 2) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, out)
  if not ok then
    os.remove(tmp)
    error(("html: cannot write '%s': %s"):format(out, tostring(rerr)), 2)
  end
  return out, {figures = figures, best = best, notes = notes, bytes = #text}
end

return M
