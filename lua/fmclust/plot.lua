-- fmclust.plot — the study's pictures as PNG files, drawn with cairo (no Python, no display).
--
--   local skipped = fm.plot.scatter(E, y, {path = "umap.png", title = "UMAP", names = names})
--   fm.plot.scatter3(E3, labels, {path = "umap3d.png"})            -- the three pairwise views
--   fm.plot.pixel_maps(fm.pixel_stats(X), {path = "pixels.png"})
--   fm.plot.confusion(y, labels, {path = "confusion.png", names = names})
--   fm.plot.images(X, {path = "samples.png", rows = 4, cols = 10, labels = y, names = names})
--   fm.plot.reconstructions(X, ae:reconstruct(X), {path = "ae.png"})
--   fm.plot.sweep("results/annexe", {path = "ari.png", x = "n_components", y = "ari", by = "reducer"})
--   fm.plot.condensed_tree(fm.hdbscan(Z, {min_cluster_size = 100}), {path = "tree.png"})
--
-- Every function takes an options table with path (the PNG to write), title and size = {width,
-- height} in pixels (each has its own default), checks its arguments before drawing (unknown
-- options are errors), and returns fig = {path, width, height} — or, without path, fig.png holding
-- the PNG bytes (the HTML report inlines those). fig.boxes says where the panels are, in pixels
-- from the top-left corner: {name, x, y, w, h} plus the data ranges (xmin, xmax, ymin, ymax) of
-- plots, so a data point (u, v) sits at pixel (x + (u − xmin)/(xmax − xmin)·w, y + h − (v −
-- ymin)/(ymax − ymin)·h). scatter and scatter3 return `skipped, fig`: points with a NaN or ±Inf
-- coordinate are left out and counted, never drawn; confusion, sweep and condensed_tree return
-- `fig, info` (see each). An unwritable path raises "<function>: cannot write PNG '<path>': <reason>".
-- Text is cairo's "toy" API in DejaVu Sans; invalid UTF-8 bytes are drawn as '?'.
--
-- The C side (src/plot.c, bindings in src/l_plot.c) is a canvas — an ARGB32 cairo image surface
-- — with shapes, text, matrices as coloured cells and the scatter loop, which blends antialiased
-- disks straight into the pixels (one pass over the points, no cairo path: 70,000 points take
-- ~0.03 s); this file lays out axes, ticks, legends and panels. fm.core.canvas(w, h) is there for
-- pictures of your own (see src/l_plot.c for its methods).
--
-- Colours: a fixed palette of 20 (M.palette: Tableau's 10 with its grey swapped for indigo, then
-- their light variants), given to the distinct label values in ascending order (so classes 0..9
-- get the first 10); label -1 (HDBSCAN/OPTICS noise) is light grey and drawn under the others.
-- Labels beyond 20 reuse the palette. names = {...} names label v as names[v + 1] (as
-- fm.data.fashion_mnist returns them).
--
-- Pictures are deterministic: the same inputs give the same bytes (points are drawn in a fixed
-- pseudo-random order, seed option, so no class is always painted over another).
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

M.palette = {
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#17becf",
  "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#637939", "#dbdb8d", "#9edae5",
}
M.noise_color = "#bdbdbd"

local INK, SOFT, GRID, FRAME = "#222222", "#555555", "#ebebeb", "#888888"

-- ---------------------------------------------------------------- option helpers

local COMMON = {
  path = {type = "string"},
  title = {type = "string"},
  size = {type = "table"},
}

local function spec_with(extra)
  local s = {}
  for k, v in pairs(COMMON) do s[k] = v end
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

-- size = {width, height} or {width = w, height = h}
local function canvas_size(fname, argn, size, dw, dh)
  if size == nil then return dw, dh end
  local w, h = size.width or size[1], size.height or size[2]
  for _, v in ipairs{w or false, h or false} do
    if math.type(v) ~= "integer" or v < 64 or v > 16384 then
      U.argerror(fname, argn, "size must be {width, height}, integers in 64..16384", 4)
    end
  end
  return w, h
end

local function check_names(fname, argn, names)
  if names == nil then return nil end
  for k, v in pairs(names) do
    if math.type(k) ~= "integer" or type(v) ~= "string" then
      U.argerror(fname, argn, "names must be a list of strings (names[v + 1] names label v)", 4)
    end
  end
  return names
end

-- labels (fm.labels or a Lua sequence of integers) of n points, or nil
local function check_labels(fname, argn, labels, n, what)
  if labels == nil then return nil end
  if type(labels) == "table" and not U.is_matrix(labels) and not U.is_labels(labels) then
    local ok, y = pcall(core.labels_from_table, labels)
    if not ok then
      U.argerror(fname, argn, (tostring(y):gsub("^.-%((.*)%)$", "%1")), 4)
    end
    labels = y
  end
  if not U.is_labels(labels) then
    U.argerror(fname, argn, ("labels or a sequence of integers expected, got %s"):format(U.describe(labels)), 4)
  end
  if #labels ~= n then
    U.argerror(fname, argn, ("%s has %d labels, %s"):format(what or "labels", #labels, n == nil and "?" or
      ("the data has %d rows"):format(n)), 4)
  end
  return labels
end

local function write(fname, cv, o, boxes)
  local w, h = cv:size()
  local fig = {width = w, height = h, boxes = boxes or {}}
  if o.path then
    local ok, err = pcall(cv.write_png, cv, o.path)
    cv:close()
    if not ok then error(("%s: %s"):format(fname, (tostring(err):gsub("^write_png: ", ""))), 3) end
    fig.path = o.path
  else
    fig.png = cv:png()
    cv:close()
  end
  return fig
end

-- ---------------------------------------------------------------- numbers and axes

local function nice_step(span, target)
  local raw = span / math.max(target, 1)
  local mag = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs{1, 2, 2.5, 5, 10} do
    if m * mag >= raw then return m * mag end
  end
  return 10 * mag
end

local function ticks(lo, hi, target)
  if not (hi > lo) then return {lo}, 1 end
  local step = nice_step(hi - lo, target or 6)
  local t = {}
  local k0 = math.ceil(lo / step - 1e-9)
  for k = k0, k0 + 1000 do
    local v = k * step
    if v > hi + step * 1e-9 then break end
    t[#t + 1] = math.abs(v) < step * 1e-9 and 0 or v
  end
  return t, step
end
M._ticks = ticks

local function fmt_num(v, step)
  if v ~= v then return "nan" end
  local a = math.abs(v)
  if a ~= 0 and (a >= 1e6 or a < 1e-4) then return ("%.3g"):format(v) end
  local dec = 0
  if step and step > 0 then dec = math.max(0, math.ceil(-math.log(step, 10) - 1e-9)) end
  if step and step > 0 and math.abs(step * 10 ^ dec - math.floor(step * 10 ^ dec + 0.5)) > 1e-6 then dec = dec + 1 end
  if not step then
    if math.type(v) == "integer" or v == math.floor(v) then return ("%d"):format(v) end
    return ("%.4g"):format(v)
  end
  return ("%." .. dec .. "f"):format(v)
end

local function fmt_count(c)
  local s = tostring(math.tointeger(c) or c)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end
M._fmt_count = fmt_count

-- pad a data range so points do not sit on the frame; a single value gets a unit-ish range
local function padded(lo, hi, frac)
  if lo ~= lo or hi ~= hi then return -1, 1 end
  local d = hi > lo and (hi - lo) * (frac or 0.04) or math.max(math.abs(lo) * 0.1, 0.5)
  if lo - d == -math.huge or hi + d == math.huge then   -- near float's end: no room to pad
    if hi > lo then return lo, hi end
    return lo > 0 and lo * 0.5 or lo * 2 - 1, hi > 0 and hi * 2 + 1 or hi * 0.5
  end
  return lo - d, hi + d
end

-- frame, grid, ticks and labels of a data box; returns the mapping functions
-- box = {x, y, w, h}; xr = {lo, hi}; yr = {lo, hi}; a = {xlabel, ylabel, title, xticks = {{v, text}},
-- yticks = ..., xlog = bool, fs = font size, no_xticks}
local function axes(cv, box, xr, yr, a)
  a = a or {}
  local fs = a.fs or 12
  local function X(v)
    if a.xlog then return box.x + (math.log(v) - math.log(xr[1])) / (math.log(xr[2]) - math.log(xr[1])) * box.w end
    return box.x + (v - xr[1]) / (xr[2] - xr[1]) * box.w
  end
  local function Y(v) return box.y + box.h - (v - yr[1]) / (yr[2] - yr[1]) * box.h end
  local xt = a.xticks
  if not xt and not a.no_xticks then
    local t, step = ticks(xr[1], xr[2], math.max(2, math.floor(box.w / 90)))
    xt = {}
    for i, v in ipairs(t) do xt[i] = {v, fmt_num(v, step)} end
  end
  local yt = a.yticks
  if not yt and not a.no_yticks then
    local t, step = ticks(yr[1], yr[2], math.max(2, math.floor(box.h / 60)))
    yt = {}
    for i, v in ipairs(t) do yt[i] = {v, fmt_num(v, step)} end
  end
  if a.grid ~= false then
    for _, t in ipairs(yt or {}) do
      local y = Y(t[1])
      cv:path({box.x, box.x + box.w}, {y, y}, GRID, 1)
    end
    for _, t in ipairs(xt or {}) do
      local x = X(t[1])
      cv:path({x, x}, {box.y, box.y + box.h}, GRID, 1)
    end
  end
  cv:rect(box.x, box.y, box.w, box.h, FRAME, 1)
  for _, t in ipairs(xt or {}) do
    local x = X(t[1])
    cv:path({x, x}, {box.y + box.h, box.y + box.h + 4}, FRAME, 1)
    cv:text(x, box.y + box.h + 6, t[2], fs - 1, SOFT, 0.5, 0)
  end
  local ytw = 0
  for _, t in ipairs(yt or {}) do
    local y = Y(t[1])
    cv:path({box.x - 4, box.x}, {y, y}, FRAME, 1)
    cv:text(box.x - 7, y, t[2], fs - 1, SOFT, 1, 0.5)
    ytw = math.max(ytw, (cv:text_size(t[2], fs - 1)))
  end
  if a.xlabel then cv:text(box.x + box.w / 2, box.y + box.h + 8 + fs + 4, a.xlabel, fs, INK, 0.5, 0) end
  if a.ylabel then cv:text(box.x - ytw - 14, box.y + box.h / 2, a.ylabel, fs, INK, 0.5, 1, 90) end
  if a.title then cv:text(box.x + box.w / 2, box.y - 8, a.title, fs + 1, INK, 0.5, 1, 0, true) end
  return X, Y
end

local function figure_title(cv, W, title)
  if title then cv:text(W / 2, 12, title, 17, INK, 0.5, 0, 0, true) end
  return title and 40 or 14
end

-- legend entries {color, text, noise}; returns its width
local function legend_width(cv, entries, fs)
  local w = 0
  for _, e in ipairs(entries) do w = math.max(w, (cv:text_size(e.text, fs))) end
  return w + 24
end

local function legend(cv, x, y, entries, fs, heading)
  local lh = math.floor(fs * 1.55)
  if heading then
    cv:text(x, y, heading, fs, INK, 0, 0, 0, true)
    y = y + lh
  end
  for i, e in ipairs(entries) do
    local cy = y + (i - 1) * lh + lh / 2
    if e.color then cv:circle(x + 6, cy, 5, e.color) end
    cv:text(x + 18, cy, e.text, fs, e.color and INK or SOFT, 0, 0.5)
  end
end

-- vertical colour bar at (x, y, w, h) for [vmin, vmax]
local function colorbar(cv, x, y, w, h, cmap, vmin, vmax, fs)
  local steps = 128
  local rows = {}
  for i = 1, steps do rows[i] = {vmax - (i - 1) / (steps - 1) * (vmax - vmin)} end
  cv:cells(core.matrix_from_table(rows), x, y, w, h, cmap, math.min(vmin, vmax), math.max(vmin, vmax) > vmin and vmax or vmin + 1)
  cv:rect(x, y, w, h, FRAME, 1)
  local t, step = ticks(vmin, vmax, math.max(2, math.floor(h / 45)))
  for _, v in ipairs(t) do
    local yy = y + h - (v - vmin) / ((vmax - vmin) ~= 0 and (vmax - vmin) or 1) * h
    cv:path({x + w, x + w + 3}, {yy, yy}, FRAME, 1)
    cv:text(x + w + 5, yy, fmt_num(v, step), fs or 10, SOFT, 0, 0.5)
  end
end

-- ---------------------------------------------------------------- scatter

local SCATTER = spec_with{
  names = {type = "table"},
  alpha = {type = "number", min = 0, max = 1},
  point_size = {type = "number", gt = 0, max = 100},
  xlabel = {type = "string"},
  ylabel = {type = "string"},
  legend = {type = "boolean", default = true},
  legend_title = {type = "string"},
  seed = {type = "integer", min = 0, default = 0},
  dims = {type = "table"},
}

-- colours of the label values; legend entries with counts and names
local function label_style(labels, o)
  local style = {vals = {}, colors = {}, layers = {}, seed = o.seed}
  local entries = {}
  if labels then
    local counts = labels:counts()
    local vals = {}
    for v in pairs(counts) do vals[#vals + 1] = v end
    table.sort(vals)
    local rank = 0
    local noise
    for i, v in ipairs(vals) do
      style.vals[i] = v
      local name = (o.names and o.names[v + 1]) or tostring(v)
      if v == -1 then
        style.colors[i], style.layers[i] = M.noise_color, 0
        noise = {color = M.noise_color, text = ("noise (%s)"):format(fmt_count(counts[v]))}
      else
        style.colors[i], style.layers[i] = M.palette[rank % #M.palette + 1], 1
        rank = rank + 1
        entries[#entries + 1] = {color = style.colors[i], text = ("%s (%s)"):format(name, fmt_count(counts[v]))}
      end
    end
    local MAX = 20
    if #entries > MAX then
      local more = #entries - (MAX - 1)
      for i = #entries, MAX, -1 do entries[i] = nil end
      entries[#entries + 1] = {text = ("… %d more"):format(more)}
    end
    if noise then entries[#entries + 1] = noise end
  end
  style.colors[#style.vals + 1] = M.palette[1]   -- no labels: one colour
  style.layers[#style.vals + 1] = 1
  return style, entries
end

-- auto point size and opacity: dense clouds need small, translucent dots
local function auto_look(n, o, box_area)
  local size = o.point_size
  if not size then
    local per = box_area / math.max(n, 1)   -- pixels per point
    size = per > 400 and 5 or per > 100 and 3.5 or per > 20 and 2.5 or 1.8
  end
  local alpha = o.alpha or (n > 20000 and 0.55 or n > 2000 and 0.75 or 0.9)
  return size, alpha
end

local function check_embedding(fname, E, mincols)
  if not U.is_matrix(E) then U.argerror(fname, 1, "matrix expected, got " .. U.describe(E), 4) end
  local n, d = E:shape()
  if n < 1 then U.argerror(fname, 1, "matrix has no rows", 4) end
  if d < mincols then U.argerror(fname, 1, ("matrix has %d column%s, needs %d"):format(d, d == 1 and "" or "s", mincols), 4) end
  return n, d
end

local function check_dims(fname, dims, d, k)
  if dims == nil then
    local t = {}
    for j = 1, k do t[j] = j end
    return t
  end
  if #dims ~= k then U.argerror(fname, 3, ("dims must list %d columns"):format(k), 4) end
  for _, c in ipairs(dims) do
    if math.type(c) ~= "integer" or c < 1 or c > d then
      U.argerror(fname, 3, ("dims must be column numbers in 1..%d"):format(d), 4)
    end
  end
  return dims
end

-- one scatter panel of columns a, b of P (already NaN-masked) in box
local function scatter_panel(cv, P, a, b, labels, style, box, ax, look)
  local xlo, xhi = core.plot_range(P, a)
  local ylo, yhi = core.plot_range(P, b)
  xlo, xhi = padded(xlo, xhi)
  ylo, yhi = padded(ylo, yhi)
  axes(cv, box, {xlo, xhi}, {ylo, yhi}, ax)
  style.size, style.alpha = look[1], look[2]
  cv:points(P, a, b, labels, style,
    {x0 = box.x, y0 = box.y, w = box.w, h = box.h, xmin = xlo, xmax = xhi, ymin = ylo, ymax = yhi})
  return {x = box.x, y = box.y, w = box.w, h = box.h, xmin = xlo, xmax = xhi, ymin = ylo, ymax = yhi}
end

--- fm.plot.scatter(E, labels, opts) → skipped, fig: columns 1 and 2 of E (or dims = {i, j}),
--- coloured by labels (nil: one colour), legend from names; opts path, title, names, size
--- (default {960, 720}), alpha, point_size (pixels; both chosen from the density when absent),
--- xlabel, ylabel, legend = true, legend_title, seed (drawing order).
-- what scatter and scatter3 share: the checks, the chosen columns (P, NaN-masked), the canvas
-- with its title, the label colours and the legend's width
local function scatter_setup(fname, E, labels, opts, ndims, W0, H0)
  local o = U.options(fname, 3, opts, SCATTER)
  local n, d = check_embedding(fname, E, ndims)
  labels = check_labels(fname, 2, labels, n)
  check_names(fname, 3, o.names)
  local dims = check_dims(fname, o.dims, d, ndims)
  local W, H = canvas_size(fname, 3, o.size, W0, H0)
  local P, skipped = core.plot_columns(E, dims)
  local cv = core.canvas(W, H)
  local style, entries = label_style(labels, o)
  local top = figure_title(cv, W, o.title)
  local lw = (o.legend and #entries > 0) and legend_width(cv, entries, 12) + 16 or 0
  return {o = o, n = n, labels = labels, dims = dims, W = W, H = H, P = P, skipped = skipped, cv = cv,
          style = style, entries = entries, top = top, lw = lw}
end

local function skipped_note(f)
  if f.skipped > 0 then
    f.cv:text(f.W - 8, f.H - 6, ("%s point%s with NaN/Inf left out"):format(fmt_count(f.skipped),
      f.skipped == 1 and "" or "s"), 10, SOFT, 1, 1)
  end
end

function M.scatter(E, labels, opts)
  local f = scatter_setup("scatter", E, labels, opts, 2, 960, 720)
  local o, n, dims, W, H, P, skipped, cv = f.o, f.n, f.dims, f.W, f.H, f.P, f.skipped, f.cv
  local style, entries, top, lw = f.style, f.entries, f.top, f.lw
  labels = f.labels
  local box = {x = 78, y = top + 6, w = W - 78 - 24 - lw, h = H - top - 6 - 62}
  if box.w < 40 or box.h < 40 then U.argerror("scatter", 3, "size is too small for the plot", 3) end
  local look = {auto_look(n, o, box.w * box.h)}
  local fbox = scatter_panel(cv, P, 1, 2, labels, style, box, {
    xlabel = o.xlabel or ("dimension " .. dims[1]), ylabel = o.ylabel or ("dimension " .. dims[2])}, look)
  if lw > 0 then legend(cv, box.x + box.w + 20, box.y, entries, 12, o.legend_title) end
  skipped_note(f)
  fbox.name = "plot"
  return skipped, write("scatter", cv, o, {fbox})
end

--- fm.plot.scatter3(E, labels, opts) → skipped, fig: a 3-D embedding as its three pairwise
--- projections side by side (1–2, 1–3, 2–3; or dims = {i, j, k}); a point with NaN/Inf in any of
--- the three columns is left out of every view. Options as scatter (size default {1500, 560}).
function M.scatter3(E, labels, opts)
  local f = scatter_setup("scatter3", E, labels, opts, 3, 1500, 560)
  local o, n, dims, W, H, P, skipped, cv = f.o, f.n, f.dims, f.W, f.H, f.P, f.skipped, f.cv
  local style, entries, top, lw = f.style, f.entries, f.top, f.lw
  labels = f.labels
  local gap = 74
  local pw = math.floor((W - gap - lw - 20 - 2 * gap) / 3)
  local ph = H - top - 30 - 62
  if pw < 40 or ph < 40 then U.argerror("scatter3", 3, "size is too small for the plot", 3) end
  local look = {auto_look(n, o, pw * ph)}
  local pairs3 = {{1, 2}, {1, 3}, {2, 3}}
  local boxes = {}
  for p, ab in ipairs(pairs3) do
    local box = {x = gap + (p - 1) * (pw + gap), y = top + 30, w = pw, h = ph}
    boxes[p] = scatter_panel(cv, P, ab[1], ab[2], labels, style, box, {
      xlabel = ("dimension %d"):format(dims[ab[1]]), ylabel = ("dimension %d"):format(dims[ab[2]]),
      title = ("dimensions %d and %d"):format(dims[ab[1]], dims[ab[2]]), fs = 11}, look)
    boxes[p].name = ("%d-%d"):format(dims[ab[1]], dims[ab[2]])
  end
  if lw > 0 then legend(cv, W - lw - 4, top + 30, entries, 12, o.legend_title) end
  skipped_note(f)
  return skipped, write("scatter3", cv, o, boxes)
end

-- ---------------------------------------------------------------- pixel maps

local function matrix_range(Mx)
  local n, d = Mx:shape()
  return core.plot_range(Mx:reshape(n * d, 1), 1)
end

--- fm.plot.pixel_maps(stats, opts) → fig: the mean, standard deviation and activation frequency
--- maps of fm.pixel_stats(X) (stats.mean, stats.std, stats.active: h×w matrices), each with its
--- colour bar (viridis; cmap = "magma" | "gray" | ...), and the centre-versus-border summary
--- when stats.summary is there. opts: path, title, size (default {1260, 470}), cmap.
function M.pixel_maps(stats, opts)
  local o = U.options("pixel_maps", 2, opts, spec_with{
    cmap = {type = "string", values = {"viridis", "magma", "gray", "gray_r", "blues"}, default = "viridis"},
  })
  if type(stats) ~= "table" or U.is_matrix(stats) then
    U.argerror("pixel_maps", 1, "pixel statistics expected (fm.pixel_stats(X)), got " .. U.describe(stats))
  end
  local maps = {{"mean", "mean"}, {"std", "standard deviation"}, {"active", "activation frequency (share > 0)"}}
  local h, w
  for _, m in ipairs(maps) do
    local Mx = stats[m[1]]
    if not U.is_matrix(Mx) then
      U.argerror("pixel_maps", 1, ("stats.%s must be a matrix (fm.pixel_stats(X) gives one)"):format(m[1]))
    end
    local r, c = Mx:shape()
    if r < 1 or c < 1 then U.argerror("pixel_maps", 1, ("stats.%s is empty"):format(m[1])) end
    if h and (r ~= h or c ~= w) then U.argerror("pixel_maps", 1, "stats.mean, std and active differ in shape") end
    h, w = r, c
  end
  local W, H = canvas_size("pixel_maps", 2, o.size, 1260, 470)
  local cv = core.canvas(W, H)
  local top = figure_title(cv, W, o.title or ("pixel statistics (%d×%d)"):format(h, w))
  local foot = stats.summary and 40 or 14
  local slot = W / 3
  local side = math.min(slot - 110, H - top - 30 - foot)
  if side < 30 then U.argerror("pixel_maps", 2, "size is too small for the plot") end
  local pw, ph = side, side * h / w
  if ph > H - top - 30 - foot then ph = H - top - 30 - foot; pw = ph * w / h end
  local boxes = {}
  for i, m in ipairs(maps) do
    local Mx = stats[m[1]]
    local lo, hi = matrix_range(Mx)
    if lo ~= lo then lo, hi = 0, 1 end
    if hi <= lo then hi = lo + 1 end
    local x = (i - 1) * slot + (slot - pw - 70) / 2
    local y = top + 26
    cv:text(x + pw / 2, y - 8, m[2], 13, INK, 0.5, 1, 0, true)
    cv:cells(Mx, x, y, pw, ph, o.cmap, lo, hi)
    boxes[i] = {name = m[1], x = x, y = y, w = pw, h = ph, vmin = lo, vmax = hi}
    cv:rect(x, y, pw, ph, FRAME, 1)
    colorbar(cv, x + pw + 10, y, 14, ph, o.cmap, lo, hi, 10)
  end
  if stats.summary and stats.summary.centre and stats.summary.border then
    local c, b = stats.summary.centre, stats.summary.border
    cv:text(W / 2, H - 14, ("centre (middle half): mean %.3f, std %.3f, active %.3f  ·  border: mean %.3f, std %.3f, active %.3f")
      :format(c.mean, c.std, c.active, b.mean, b.std, b.active), 12, SOFT, 0.5, 1)
  end
  return write("pixel_maps", cv, o, boxes)
end

-- ---------------------------------------------------------------- confusion (contingency) map

--- fm.plot.confusion(truth, pred, opts) → fig, info: the contingency table as a heat map, one row
--- per true class and one column per cluster; columns in the order of the Hungarian matching
--- (fm.metrics.matching: the cluster matched to class 1 first, ...), then the unmatched clusters
--- by size, noise (-1) last. Colour = share of the row (the class) in the cell, the counts written
--- in the cells, matched cells outlined. More than max_cols clusters: the smallest are summed
--- into one "other" column. opts: path, title, names, size (default from the table), max_cols =
--- 40, normalize = "row" | "none" | "column". info = {columns = {cluster values in order},
--- matched, accuracy}.
function M.confusion(truth, pred, opts)
  local o = U.options("confusion", 3, opts, spec_with{
    names = {type = "table"},
    max_cols = {type = "integer", min = 2, default = 40},
    normalize = {type = "string", values = {"row", "none", "column"}, default = "row"},
  })
  check_names("confusion", 3, o.names)
  local metrics = require "fmclust.metrics"
  local nt = (U.is_labels(truth) or type(truth) == "table") and #truth or nil
  if nt == nil then U.argerror("confusion", 1, "labels or a sequence of integers expected, got " .. U.describe(truth)) end
  if nt == 0 then U.argerror("confusion", 1, "truth has no labels") end
  truth = check_labels("confusion", 1, truth, nt, "truth")
  pred = check_labels("confusion", 2, pred, nt, "pred")
  local ct = metrics.contingency(truth, pred)
  local map, matched = metrics.matching(truth, pred)
  local r, c = #ct.rows, #ct.cols
  local row_of = {}
  for i, v in ipairs(ct.rows) do row_of[v] = i end
  local col_tot = {}
  for j = 1, c do
    local s = 0
    for i = 1, r do s = s + ct.table[i][j] end
    col_tot[j] = s
  end
  -- matched columns by their class's row, then the rest by size (noise last)
  local order, rest = {}, {}
  local matched_row = {}
  for j, v in ipairs(ct.cols) do
    local t = map[v]
    if t ~= nil and v ~= -1 then
      matched_row[j] = row_of[t]
      order[#order + 1] = j
    else
      rest[#rest + 1] = j
    end
  end
  table.sort(order, function(a, b) return matched_row[a] < matched_row[b] end)
  table.sort(rest, function(a, b)
    local na, nb = ct.cols[a] == -1, ct.cols[b] == -1
    if na ~= nb then return nb end
    if col_tot[a] ~= col_tot[b] then return col_tot[a] > col_tot[b] end
    return ct.cols[a] < ct.cols[b]
  end)
  for _, j in ipairs(rest) do order[#order + 1] = j end
  -- too many columns: keep the first max_cols − 1, sum the others
  local cols, other = {}, nil
  for k, j in ipairs(order) do
    if k < o.max_cols or #order <= o.max_cols then cols[#cols + 1] = j
    else other = other or {}; other[#other + 1] = j end
  end
  local nc = #cols + (other and 1 or 0)
  local counts = {}
  for i = 1, r do
    counts[i] = {}
    for k, j in ipairs(cols) do counts[i][k] = ct.table[i][j] end
    if other then
      local s = 0
      for _, j in ipairs(other) do s = s + ct.table[i][j] end
      counts[i][nc] = s
    end
  end
  local row_tot, ctot = {}, {}
  for i = 1, r do
    local s = 0
    for k = 1, nc do s = s + counts[i][k] end
    row_tot[i] = s
  end
  for k = 1, nc do
    local s = 0
    for i = 1, r do s = s + counts[i][k] end
    ctot[k] = s
  end
  local shares = {}
  for i = 1, r do
    shares[i] = {}
    for k = 1, nc do
      local den = o.normalize == "row" and row_tot[i] or o.normalize == "column" and ctot[k] or 1
      shares[i][k] = den > 0 and counts[i][k] / den or 0
    end
  end
  local vmax = 1
  if o.normalize == "none" then
    vmax = 0
    for i = 1, r do for k = 1, nc do vmax = math.max(vmax, shares[i][k]) end end
    if vmax == 0 then vmax = 1 end
  end
  -- column headings: cluster values ("other (k)" for the sum); rotated when wider than a cell
  local col_text = {}
  for k = 1, nc do
    if k <= #cols then
      local v = ct.cols[cols[k]]
      col_text[k] = v == -1 and "noise" or tostring(v)
    else
      col_text[k] = ("other (%d)"):format(#other)
    end
  end
  -- layout: cells of 22..64 px; row names on the left, column headings on top
  local probe = core.canvas(64, 64)
  local namew, headw = 0, 0
  local row_names = {}
  for i, v in ipairs(ct.rows) do
    row_names[i] = (o.names and o.names[v + 1]) or tostring(v)
    namew = math.max(namew, (probe:text_size(row_names[i], 12)))
  end
  for k = 1, nc do headw = math.max(headw, (probe:text_size(col_text[k], 11))) end
  probe:close()
  local cell = math.max(22, math.min(64, math.floor(900 / math.max(nc, r))))
  local rotate = headw > cell - 4
  local left, topm = math.ceil(namew) + 70, 50 + (rotate and math.ceil(headw * 0.87) or 16)
  local dW, dH = math.max(520, left + nc * cell + 90), math.max(300, topm + r * cell + 50)
  local W, H = canvas_size("confusion", 3, o.size, math.min(dW, 16384), math.min(dH, 16384))
  local cw = math.min((W - left - 80) / nc, (H - topm - 50) / r)
  if cw < 2 then U.argerror("confusion", 3, "size is too small for the table") end
  local cv = core.canvas(W, H)
  local n = #truth
  local acc = matched / n
  cv:text(W / 2, 12, o.title or ("contingency table (accuracy %.3f on the matching)"):format(acc), 16, INK, 0.5, 0, 0, true)
  local gx, gy = left, topm
  cv:cells(core.matrix_from_table(shares), gx, gy, cw * nc, cw * r, "blues", 0, vmax)
  local fs = math.min(12, cw * 0.42)
  for i = 1, r do
    for k = 1, nc do
      local cnt = counts[i][k]
      if fs >= 6 and cnt > 0 then
        local txt = cnt >= 10000 and ("%.0fk"):format(cnt / 1000) or tostring(cnt)
        local tw = cv:text_size(txt, fs)
        local f2 = tw > cw - 2 and fs * (cw - 2) / tw or fs
        if f2 >= 5 then
          cv:text(gx + (k - 0.5) * cw, gy + (i - 0.5) * cw, txt, f2,
            shares[i][k] / vmax > 0.55 and "#ffffff" or INK, 0.5, 0.5)
        end
      end
    end
  end
  -- matched cells outlined
  for k, j in ipairs(cols) do
    if matched_row[j] then cv:rect(gx + (k - 1) * cw + 1, gy + (matched_row[j] - 1) * cw + 1, cw - 2, cw - 2, "#d62728", 1.5) end
  end
  cv:rect(gx, gy, cw * nc, cw * r, FRAME, 1)
  for i = 1, r do cv:text(gx - 8, gy + (i - 0.5) * cw, row_names[i], 12, INK, 1, 0.5) end
  local columns = {}
  for k = 1, nc do
    columns[k] = k <= #cols and ct.cols[cols[k]] or "other"
    local fsz = math.min(11, math.max(7, cw * 0.45))
    if rotate then
      cv:text(gx + (k - 0.5) * cw, gy - 6, col_text[k], fsz, INK, 0, 0.5, 60)
    else
      cv:text(gx + (k - 0.5) * cw, gy - 5, col_text[k], fsz, INK, 0.5, 1)
    end
  end
  cv:text(gx + cw * nc / 2, gy + cw * r + 12, "cluster (columns ordered by the matching; matched cells outlined)", 12, SOFT, 0.5, 0)
  cv:text(18, gy + cw * r / 2, "true class", 12, SOFT, 0.5, 1, 90)
  colorbar(cv, gx + cw * nc + 16, gy, 12, cw * r, "blues", 0, vmax, 10)
  local fig = write("confusion", cv, o, {{name = "table", x = gx, y = gy, w = cw * nc, h = cw * r, rows = r, cols = nc}})
  return fig, {columns = columns, matched = matched, accuracy = acc}
end

-- ---------------------------------------------------------------- image grids

local IMAGES = spec_with{
  rows = {type = "integer", min = 1, max = 100},
  cols = {type = "integer", min = 1, max = 100},
  labels = {type = "any"},
  names = {type = "table"},
  indices = {type = "table"},
  image_width = {type = "integer", min = 1},
  cmap = {type = "string", values = {"gray", "gray_r", "viridis", "magma", "blues"}, default = "gray"},
  vmin = {type = "number", default = 0},
  vmax = {type = "number", default = 1},
  cell = {type = "integer", min = 8, max = 512, default = 72},
}

local function image_shape(fname, argn, d, width)
  local w = width or math.tointeger(math.floor(math.sqrt(d) + 0.5))
  if d % w ~= 0 then
    U.argerror(fname, argn, ("image_width %d does not divide the %d columns"):format(w, d), 4)
  end
  return d // w, w
end

local function pick_rows(fname, argn, n, count, indices)
  local idx = {}
  if indices then
    for i, v in ipairs(indices) do
      if math.type(v) ~= "integer" or v < 1 or v > n then
        U.argerror(fname, argn, ("indices[%d] must be a row number in 1..%d"):format(i, n), 4)
      end
      idx[i] = v
    end
    if #idx == 0 then U.argerror(fname, argn, "indices is empty", 4) end
  else
    for i = 1, math.min(count, n) do idx[i] = i end
  end
  return idx
end

local function draw_image(cv, X, i, h, w, x, y, side, o)
  local img = X:rows({i}):reshape(h, w)
  cv:cells(img, x, y, side, side * h / w, o.cmap, o.vmin, o.vmax)
  img:close()
end

--- fm.plot.images(X, opts) → fig: a grid of images (rows of X reshaped to h×w, w = image_width or
--- √d), the first rows·cols rows or the given indices; with labels, each image is captioned by its
--- label's name. opts: path, title, rows = 4, cols = 10, labels, names, indices, image_width, cmap
--- = "gray", vmin = 0, vmax = 1, cell = 72 (pixels per image), size.
function M.images(X, opts)
  local o = U.options("images", 2, opts, IMAGES)
  local n, d = check_embedding("images", X, 1)
  local h, w = image_shape("images", 2, d, o.image_width)
  local labels = check_labels("images", 2, o.labels, n, "labels")
  check_names("images", 2, o.names)
  local rows, cols = o.rows, o.cols or 10
  local idx = pick_rows("images", 2, n, (rows or 4) * cols, o.indices)
  rows = rows or math.ceil(#idx / cols)
  if #idx > rows * cols then rows = math.ceil(#idx / cols) end
  local cap = labels and 16 or 0
  local side = o.cell
  local ih = side * h / w
  local top = o.title and 40 or 10
  local W, H = canvas_size("images", 2, o.size, cols * (side + 6) + 14, top + rows * (ih + 6 + cap) + 10)
  local cv = core.canvas(W, H)
  figure_title(cv, W, o.title)
  local s = math.min((W - 14) / cols - 6, ((H - top - 10) / rows - 6 - cap) * w / h)
  if s < 4 then U.argerror("images", 2, "size is too small for the grid") end
  local sh = s * h / w
  local boxes = {}
  for k, i in ipairs(idx) do
    local rr, cc = (k - 1) // cols, (k - 1) % cols
    local x, y = 10 + cc * (s + 6), top + rr * (sh + 6 + cap)
    draw_image(cv, X, i, h, w, x, y, s, o)
    boxes[k] = {name = "row " .. i, row = i, x = x, y = y, w = s, h = sh}
    if labels then
      local v = labels[i]
      local name = (o.names and o.names[v + 1]) or tostring(v)
      cv:text(x + s / 2, y + sh + 2, name, math.min(11, s / 6), SOFT, 0.5, 0)
    end
  end
  return write("images", cv, o, boxes)
end

--- fm.plot.reconstructions(X, Xhat, opts) → fig: originals above their reconstructions (e.g.
--- ae:reconstruct(X)), `rows` pairs of rows of `cols` images; the title gives the mean squared
--- error of the images shown. opts as images (rows = 2 pairs, cols = 10), without labels.
function M.reconstructions(X, Xhat, opts)
  local o = U.options("reconstructions", 3, opts, IMAGES)
  if o.labels ~= nil then U.argerror("reconstructions", 3, "unknown option 'labels'") end
  local n, d = check_embedding("reconstructions", X, 1)
  if not U.is_matrix(Xhat) then U.argerror("reconstructions", 2, "matrix expected, got " .. U.describe(Xhat)) end
  local n2, d2 = Xhat:shape()
  if n2 ~= n or d2 ~= d then
    U.argerror("reconstructions", 2, ("reconstructions are %d×%d, the originals %d×%d"):format(n2, d2, n, d))
  end
  local h, w = image_shape("reconstructions", 3, d, o.image_width)
  local rows, cols = o.rows or 2, o.cols or 10
  local idx = pick_rows("reconstructions", 3, n, rows * cols, o.indices)
  rows = math.ceil(#idx / cols)
  local side = o.cell
  local ih = side * h / w
  local top = 40
  local left = 110
  local W, H = canvas_size("reconstructions", 3, o.size, left + cols * (side + 6) + 10, top + rows * (2 * (ih + 4) + 14) + 10)
  local s = math.min((W - left - 10) / cols - 6, ((H - top - 10) / rows - 14 - 8) / 2 * w / h)
  if s < 4 then U.argerror("reconstructions", 3, "size is too small for the grid") end
  local sh = s * h / w
  -- mean squared error over the images shown (their rows only)
  local sel = core.labels_from_table(idx)
  local At, Bt = X:rows(sel):to_table(), Xhat:rows(sel):to_table()
  local se, cnt = 0, 0
  for i = 1, #At do
    local a, b = At[i], Bt[i]
    for j = 1, #a do
      local e = a[j] - b[j]
      if e == e then se, cnt = se + e * e, cnt + 1 end
    end
  end
  local cv = core.canvas(W, H)
  local boxes = {}
  figure_title(cv, W, o.title or ("originals and reconstructions (MSE %.4f on these images)"):format(cnt > 0 and se / cnt or 0 / 0))
  for k, i in ipairs(idx) do
    local rr, cc = (k - 1) // cols, (k - 1) % cols
    local x = left + cc * (s + 6)
    local y = top + rr * (2 * (sh + 4) + 14)
    draw_image(cv, X, i, h, w, x, y, s, o)
    draw_image(cv, Xhat, i, h, w, x, y + sh + 4, s, o)
    boxes[#boxes + 1] = {name = "original " .. i, row = i, x = x, y = y, w = s, h = sh}
    boxes[#boxes + 1] = {name = "reconstruction " .. i, row = i, x = x, y = y + sh + 4, w = s, h = sh}
    if cc == 0 then
      cv:text(left - 10, y + sh / 2, "original", 12, INK, 1, 0.5)
      cv:text(left - 10, y + sh + 4 + sh / 2, "reconstruction", 12, INK, 1, 0.5)
    end
  end
  return write("reconstructions", cv, o, boxes)
end

-- ---------------------------------------------------------------- sweep chart

-- a row's field: dotted paths ("seconds.total"); reducer/clusterer prefer their labels
local function field(row, name)
  if name == "reducer" then return row.reducer_label or row.reducer end
  if name == "clusterer" or name == "model" then return row.clusterer_label or row.clusterer end
  local v = row
  for part in name:gmatch("[^%.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end
M._field = field

--- fm.plot.sweep(rows, opts) → fig, series: a metric across a sweep. rows: the rows of a sweep
--- (fmclust.sweep; a list, or a results directory / rows.jsonl path). opts: x = "n_components",
--- y = "ari", by = "reducer" (one line or bar colour per value; "reducer" and "clusterer" use
--- their labels; any row field, dotted for nested ones: "seconds.total"; by = false: one series),
--- agg = "mean" | "max" | "min" over the rows that share (by, x) — seeds, other clusterers —
--- with their min–max range drawn as a whisker, kind = "auto" (lines for numeric x, bars
--- otherwise) | "line" | "bar", xlog (default: when numeric x spans more than 20×), filter =
--- function(row) → keep, path, title, xlabel, ylabel, size (default {960, 600}).
--- series = {{name, points = {{x, y, lo, hi, n}}}} as drawn.
function M.sweep(rows, opts)
  local o = U.options("sweep", 2, opts, spec_with{
    x = {type = "string", default = "n_components"},
    y = {type = "string", default = "ari"},
    by = {type = "any", default = "reducer"},
    agg = {type = "string", values = {"mean", "max", "min"}, default = "mean"},
    kind = {type = "string", values = {"auto", "line", "bar"}, default = "auto"},
    xlog = {type = "boolean"},
    filter = {type = "function"},
    xlabel = {type = "string"},
    ylabel = {type = "string"},
  })
  if o.by ~= false and type(o.by) ~= "string" then U.argerror("sweep", 2, "by must be a field name or false") end
  if type(rows) == "string" then
    local sweep = require "fmclust.sweep"
    local p = rows:match("%.jsonl$") and rows or (rows .. "/rows.jsonl")
    if not U.exists(p) then U.argerror("sweep", 1, ("no rows file '%s'"):format(p)) end
    rows = sweep.read_rows(p)
  end
  if type(rows) ~= "table" or U.is_matrix(rows) or U.is_labels(rows) then
    U.argerror("sweep", 1, "rows (a list of sweep rows) or a results directory expected, got " .. U.describe(rows))
  end
  if #rows == 0 then U.argerror("sweep", 1, "no rows") end
  -- group: series name → x key → values
  local groups, gorder = {}, {}
  local numeric_x, xs_seen, xorder = true, {}, {}
  local used = 0
  for i, r in ipairs(rows) do
    if type(r) ~= "table" then U.argerror("sweep", 1, ("row %d is not a table"):format(i)) end
    if not o.filter or o.filter(r) then
      local xv, yv = field(r, o.x), field(r, o.y)
      if yv ~= nil and type(yv) ~= "number" then
        U.argerror("sweep", 2, ("y field '%s' is not a number (row %d: %s)"):format(o.y, i, type(yv)))
      end
      if xv ~= nil and yv ~= nil and yv == yv then
        if type(xv) ~= "number" then numeric_x = false end
        local g = o.by and tostring(field(r, o.by) or "?") or o.y
        if not groups[g] then groups[g] = {}; gorder[#gorder + 1] = g end
        local xk = xv
        if not xs_seen[xk] then xs_seen[xk] = true; xorder[#xorder + 1] = xk end
        local cell = groups[g][xk]
        if not cell then cell = {}; groups[g][xk] = cell end
        cell[#cell + 1] = yv
        used = used + 1
      end
    end
  end
  if used == 0 then
    U.argerror("sweep", 1, ("no row has both '%s' and a numeric '%s'"):format(o.x, o.y))
  end
  table.sort(gorder)
  if numeric_x then table.sort(xorder) else
    table.sort(xorder, function(a, b) return tostring(a) < tostring(b) end)
  end
  local series = {}
  local ylo, yhi = math.huge, -math.huge
  for gi, g in ipairs(gorder) do
    local s = {name = g, points = {}, color = M.palette[(gi - 1) % #M.palette + 1]}
    for _, xk in ipairs(xorder) do
      local vals = groups[g][xk]
      if vals then
        local sum, lo, hi = 0, math.huge, -math.huge
        for _, v in ipairs(vals) do sum = sum + v; lo = math.min(lo, v); hi = math.max(hi, v) end
        local y = o.agg == "mean" and sum / #vals or o.agg == "max" and hi or lo
        s.points[#s.points + 1] = {x = xk, y = y, lo = lo, hi = hi, n = #vals}
        ylo, yhi = math.min(ylo, lo), math.max(yhi, hi)
      end
    end
    series[#series + 1] = s
  end
  local kind = o.kind
  if kind == "auto" then kind = (numeric_x and #xorder > 1) and "line" or "bar" end
  if kind == "line" and not numeric_x then U.argerror("sweep", 2, ("kind = \"line\" needs a numeric x, '%s' is not"):format(o.x)) end
  local xlog = o.xlog
  if kind == "line" and xlog == nil then xlog = xorder[1] > 0 and xorder[#xorder] / xorder[1] > 20 end
  if xlog and kind == "line" and xorder[1] <= 0 then U.argerror("sweep", 2, "xlog needs x > 0") end

  local W, H = canvas_size("sweep", 2, o.size, 960, 600)
  local cv = core.canvas(W, H)
  local top = figure_title(cv, W, o.title or ("%s by %s%s"):format(o.y, o.x, o.by and (" and " .. o.by) or ""))
  local entries = {}
  for _, s in ipairs(series) do entries[#entries + 1] = {color = s.color, text = s.name} end
  local lw = (#series > 1 or o.by) and legend_width(cv, entries, 12) + 16 or 0
  local box = {x = 80, y = top + 6, w = W - 80 - 24 - lw, h = H - top - 6 - 62}
  if box.w < 40 or box.h < 40 then U.argerror("sweep", 2, "size is too small for the chart") end
  if ylo > 0 and ylo < 0.25 * yhi then ylo = 0 end   -- start at zero when it does not squash the data
  local y0, y1 = padded(ylo, yhi, 0.06)
  if ylo >= 0 and y0 < 0 then y0 = 0 end
  local labels = {xlabel = o.xlabel or o.x, ylabel = o.ylabel or o.y}
  if kind == "line" then
    local x0, x1
    if xlog then
      x0, x1 = xorder[1] / 1.15, xorder[#xorder] * 1.15
    else
      x0, x1 = padded(xorder[1], xorder[#xorder], 0.05)
    end
    if #xorder <= 12 then
      labels.xticks = {}
      for i, v in ipairs(xorder) do labels.xticks[i] = {v, fmt_num(v)} end
    end
    labels.xlog = xlog
    local X, Y = axes(cv, box, {x0, x1}, {y0, y1}, labels)
    for _, s in ipairs(series) do
      local px, py = {}, {}
      for i, p in ipairs(s.points) do
        px[i], py[i] = X(p.x), Y(p.y)
        if p.n > 1 and p.hi > p.lo then
          cv:path({px[i], px[i]}, {Y(p.lo), Y(p.hi)}, s.color, 1.2)
          cv:path({px[i] - 4, px[i] + 4}, {Y(p.lo), Y(p.lo)}, s.color, 1.2)
          cv:path({px[i] - 4, px[i] + 4}, {Y(p.hi), Y(p.hi)}, s.color, 1.2)
        end
      end
      if #px > 1 then cv:path(px, py, s.color, 2.2) end
      for i = 1, #px do
        cv:circle(px[i], py[i], 4.5, s.color)
        cv:circle(px[i], py[i], 4.5, "#ffffff", 1)
      end
    end
  else
    local ncat, ns = #xorder, #series
    local xt = {}
    for i, v in ipairs(xorder) do xt[i] = {i, tostring(v)} end
    local X, Y = axes(cv, box, {0.5, ncat + 0.5}, {y0, y1}, {xlabel = labels.xlabel, ylabel = labels.ylabel, xticks = xt})
    local slot = box.w / ncat
    local bw = slot * 0.8 / ns
    local base = Y(math.max(y0, math.min(0, y1)))
    for si, s in ipairs(series) do
      for _, p in ipairs(s.points) do
        local ci
        for i, v in ipairs(xorder) do if v == p.x then ci = i break end end
        local x = X(ci) - slot * 0.4 + (si - 1) * bw
        local yv = Y(p.y)
        cv:rect(x + 1, math.min(yv, base), bw - 2, math.abs(base - yv), s.color)
        if p.n > 1 and p.hi > p.lo then
          local cx = x + bw / 2
          cv:path({cx, cx}, {Y(p.lo), Y(p.hi)}, INK, 1)
        end
      end
    end
  end
  if lw > 0 then legend(cv, box.x + box.w + 20, box.y, entries, 12, type(o.by) == "string" and o.by or nil) end
  cv:text(W - 8, H - 6, ("%s over %d row%s; whiskers: min–max"):format(o.agg, used, used == 1 and "" or "s"), 10, SOFT, 1, 1)
  local fig = write("sweep", cv, o, {{name = "plot", x = box.x, y = box.y, w = box.w, h = box.h, ymin = y0, ymax = y1}})
  for _, s in ipairs(series) do s.color = nil end
  return fig, series
end

-- ---------------------------------------------------------------- condensed tree

local function tree_of(fname, h)
  if type(h) == "table" and type(h.condensed_tree_table) == "function" then
    return h:condensed_tree_table(), h
  end
  if type(h) == "table" and type(h.parent) == "table" and type(h.child) == "table"
      and type(h.lambda_val) == "table" and type(h.child_size) == "table" then
    return h, nil
  end
  U.argerror(fname, 1, "an fm.hdbscan result or a condensed tree {parent, child, lambda_val, child_size} expected, got " ..
    U.describe(h), 4)
end

--- fm.plot.condensed_tree(h, opts) → fig, info: HDBSCAN's condensed tree as an icicle plot — each
--- cluster a bar from the λ (= 1/distance) where it splits off its parent down to the λ where it
--- splits or vanishes, as wide as the points it still holds; the selected clusters filled in the
--- scatter palette's colours (label k = colour k) and numbered. h: an fm.hdbscan result or a
--- condensed tree table {parent, child, lambda_val, child_size} (hdbscan's 0-based ids).
--- opts: path, title, size (default {1000, 640}), select = true (mark the selected clusters;
--- with a bare tree: eom selection), log_size = false (bar width ∝ log(1 + points)).
--- info = {n, n_clusters (in the tree), selected = {cluster ids}, lambda_max}.
function M.condensed_tree(h, opts)
  local o = U.options("condensed_tree", 2, opts, spec_with{
    select = {type = "boolean", default = true},
    log_size = {type = "boolean", default = false},
  })
  local T, res = tree_of("condensed_tree", h)
  local m = #T.parent
  if m == 0 or #T.child ~= m or #T.lambda_val ~= m or #T.child_size ~= m then
    U.argerror("condensed_tree", 1, "the condensed tree is empty or its columns differ in length")
  end
  local root = math.huge
  for i = 1, m do
    local p = T.parent[i]
    if type(p) ~= "number" or type(T.child[i]) ~= "number" or type(T.lambda_val[i]) ~= "number" then
      U.argerror("condensed_tree", 1, ("row %d of the condensed tree is not numeric"):format(i))
    end
    if p < root then root = p end
  end
  root = math.tointeger(root) or root
  local n = root
  -- clusters: birth λ, size, children, point departures
  local C = {[root] = {birth = 0, size = 0, kids = {}, dep = {}}}
  local lmax = 0
  for i = 1, m do
    local l = T.lambda_val[i]
    if l == l and l < math.huge and l > lmax then lmax = l end
  end
  if lmax <= 0 then lmax = 1 end
  local function lam(l) return (l ~= l or l >= math.huge) and lmax or l end
  for i = 1, m do
    local c, sz = math.tointeger(T.child[i]) or T.child[i], T.child_size[i]
    if c >= n then
      C[c] = C[c] or {kids = {}, dep = {}}
      C[c].birth, C[c].size = lam(T.lambda_val[i]), sz
    end
  end
  for i = 1, m do
    local p, c, l = math.tointeger(T.parent[i]) or T.parent[i], math.tointeger(T.child[i]) or T.child[i], lam(T.lambda_val[i])
    local P = C[p]
    if not P then
      U.argerror("condensed_tree", 1, ("row %d: parent %s is not a cluster of the tree"):format(i, tostring(p)))
    end
    if c >= n then
      P.kids[#P.kids + 1] = c
      P.dep[#P.dep + 1] = {l, T.child_size[i]}
    else
      P.dep[#P.dep + 1] = {l, T.child_size[i]}
    end
    if p == root then C[root].size = C[root].size + T.child_size[i] end
  end
  local ids = {}
  for id in pairs(C) do ids[#ids + 1] = id end
  table.sort(ids)
  -- selected clusters
  local selected = {}
  if o.select then
    local S = require("fmclust.hdbscan").hdbscan_stages
    local so = {}
    if res then
      so = {cluster_selection_method = res.cluster_selection_method, allow_single_cluster = res.allow_single_cluster,
            cluster_selection_epsilon = res.cluster_selection_epsilon, max_cluster_size = res.max_cluster_size}
    end
    local ok, sel = pcall(S.select, T, so)
    if ok then selected = sel end
  end
  local label_of = {}
  local sorted_sel = table.move(selected, 1, #selected, 1, {})
  table.sort(sorted_sel)
  for k, id in ipairs(sorted_sel) do label_of[id] = k - 1 end

  local W, H = canvas_size("condensed_tree", 2, o.size, 1000, 640)
  local cv = core.canvas(W, H)
  local top = figure_title(cv, W, o.title or ("HDBSCAN condensed tree (%s points, %d clusters in the tree, %d selected)")
    :format(fmt_count(n), #ids, #selected))
  local box = {x = 80, y = top + 10, w = W - 80 - 30, h = H - top - 10 - 40}
  if box.w < 40 or box.h < 40 then U.argerror("condensed_tree", 2, "size is too small for the tree") end
  local Ymap = function(l) return box.y + l / lmax * box.h end
  -- y axis: λ downwards
  local t, step = ticks(0, lmax, math.max(2, math.floor(box.h / 60)))
  for _, v in ipairs(t) do
    local y = Ymap(v)
    cv:path({box.x, box.x + box.w}, {y, y}, GRID, 1)
    cv:path({box.x - 4, box.x}, {y, y}, FRAME, 1)
    cv:text(box.x - 7, y, fmt_num(v, step), 11, SOFT, 1, 0.5)
  end
  cv:path({box.x, box.x}, {box.y, box.y + box.h}, FRAME, 1)
  cv:text(22, box.y + box.h / 2, "λ = 1 / distance", 12, INK, 0.5, 1, 90)
  local function width_of(k)
    if o.log_size then return math.log(1 + k) / math.log(1 + n) * box.w end
    return k / n * box.w
  end
  -- horizontal extents: children side by side inside the parent's extent, centred
  local extent = {[root] = {0, box.w}}
  local order = {root}
  local qi = 1
  while qi <= #order do
    local id = order[qi]
    qi = qi + 1
    local c = C[id]
    table.sort(c.kids)
    local lo, hi = extent[id][1], extent[id][2]
    local total = 0
    for _, k in ipairs(c.kids) do total = total + width_of(C[k].size) end
    local scale = total > (hi - lo) and (hi - lo) / total or 1
    local x = lo + ((hi - lo) - total * scale) / 2
    for _, k in ipairs(c.kids) do
      local wk = width_of(C[k].size) * scale
      extent[k] = {x, x + wk}
      x = x + wk
      order[#order + 1] = k
    end
  end
  -- bars: for each cluster a polygon whose width follows the points it still holds
  for _, id in ipairs(order) do
    local c = C[id]
    table.sort(c.dep, function(a, b) return a[1] < b[1] end)
    local cx = box.x + (extent[id][1] + extent[id][2]) / 2
    local maxw = extent[id][2] - extent[id][1]
    local full = width_of(c.size)
    local sc = full > 0 and maxw / full or 1
    local ys, ws = {Ymap(c.birth)}, {math.max(1, full * sc)}
    local left = c.size
    local death = c.birth
    local last_y = ys[1]
    for _, dp in ipairs(c.dep) do
      left = left - dp[2]
      death = math.max(death, dp[1])
      local y = Ymap(dp[1])
      local wv = math.max(left > 0 and 1 or 0, width_of(math.max(left, 0)) * sc)
      if y - last_y >= 0.75 or #ys == 1 then
        ys[#ys + 1], ws[#ws + 1] = y, ws[#ws]   -- step down at y
        ys[#ys + 1], ws[#ws + 1] = y, wv
        last_y = y
      else
        ws[#ws] = wv
      end
    end
    local xs, yy = {}, {}
    for i = 1, #ys do xs[#xs + 1], yy[#yy + 1] = cx + math.max(ws[i], 1) / 2, ys[i] end
    for i = #ys, 1, -1 do xs[#xs + 1], yy[#yy + 1] = cx - math.max(ws[i], 1) / 2, ys[i] end
    local lab = label_of[id]
    local col = lab and M.palette[lab % #M.palette + 1] or "#7f97b5"
    cv:path(xs, yy, col, 1, true)
    c.cx, c.death = cx, death
    if lab then
      local yb = Ymap(c.birth)
      local w0 = math.max(full * sc, 8)
      cv:rect(cx - w0 / 2 - 3, yb - 3, w0 + 6, math.max(Ymap(death) - yb, 2) + 6, col, 1.5)
      cv:text(cx, yb - 5, tostring(lab), 11, INK, 0.5, 1, 0, true)
    end
  end
  -- the splits: a line from the first to the last child at the parent's death
  for _, id in ipairs(order) do
    local c = C[id]
    if #c.kids > 1 then
      local a, b = C[c.kids[1]].cx, C[c.kids[#c.kids]].cx
      local y = Ymap(C[c.kids[1]].birth)
      cv:path({a, b}, {y, y}, "#444444", 1)
    end
  end
  cv:text(box.x + box.w / 2, H - 12, ("bar width: points still in the cluster%s; selected clusters outlined and numbered by label")
    :format(o.log_size and " (log scale)" or ""), 11, SOFT, 0.5, 1)
  local fig = write("condensed_tree", cv, o, {{name = "tree", x = box.x, y = box.y, w = box.w, h = box.h, ymin = 0, ymax = lmax}})
  return fig, {n = n, n_clusters = #ids, selected = sorted_sel, lambda_max = lmax}
end

return M
