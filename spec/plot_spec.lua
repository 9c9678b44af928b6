-- fm.plot: each picture is a valid PNG of the asked size; pixels read back (cairo's PNG reader)
-- have the colours the data calls for; bad input raises clear errors; NaN points are counted.
local H = require "spec.helper"
local fm = require "fmclust"
local core = fm.core

local dir = H.tmpdir()
local PNG_SIG = "\137PNG\r\n\26\n"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- the PNG signature and the IHDR chunk's width and height (PNG spec: bytes 9..16 length + "IHDR")
local function png_size(bytes)
  assert.are.equal(PNG_SIG, bytes:sub(1, 8))
  assert.are.equal("IHDR", bytes:sub(13, 16))
  local w, h = string.unpack(">I4I4", bytes, 17)
  return w, h
end

-- the r, g, b of a pixel (alpha left out)
local function rgb(cv, x, y)
  local r, g, b = cv:pixel(x, y)
  return {r, g, b}
end

local function hex_rgb(h)
  return tonumber(h:sub(2, 3), 16), tonumber(h:sub(4, 5), 16), tonumber(h:sub(6, 7), 16)
end

-- pixel of a data point in a scatter box
local function to_pixel(box, x, y)
  return math.floor(box.x + (x - box.xmin) / (box.xmax - box.xmin) * box.w),
         math.floor(box.y + box.h - (y - box.ymin) / (box.ymax - box.ymin) * box.h)
end

local function count_colour(cv, r, g, b, x0, y0, x1, y1)
  local W, Ht = cv:size()
  x0, y0, x1, y1 = x0 or 0, y0 or 0, x1 or W - 1, y1 or Ht - 1
  local k = 0
  for y = y0, y1 do
    for x = x0, x1 do
      local pr, pg, pb = cv:pixel(x, y)
      if pr == r and pg == g and pb == b then k = k + 1 end
    end
  end
  return k
end

local function near(a, b, tol) return math.abs(a - b) <= (tol or 1) end

describe("canvas (the C core)", function()
  it("writes a PNG that cairo reads back with the same pixels", function()
    local cv = core.canvas(120, 80)
    cv:rect(10, 10, 30, 20, "#ff8000")
    cv:rect(60, 40, 20, 20, {0, 0.5, 1, 1})
    local path = dir .. "/canvas.png"
    cv:write_png(path)
    local w, h = png_size(read(path))
    assert.are.same({120, 80}, {w, h})
    local back = assert(core.canvas_load_png(path))
    assert.are.same({120, 80}, {back:size()})
    assert.are.same({255, 128, 0, 255}, {back:pixel(20, 20)})
    assert.are.same({0, 128, 255, 255}, {back:pixel(70, 50)})
    assert.are.same({255, 255, 255, 255}, {back:pixel(0, 0)})   -- the white background
    -- cv:png() gives the same bytes as the file
    assert.are.equal(read(path), cv:png())
  end)

  it("reports missing and broken PNG files as nil, message", function()
    local c, err = core.canvas_load_png(dir .. "/none.png")
    assert.is_nil(c)
    assert.matches("cannot open '.*none%.png'", err)
    local f = io.open(dir .. "/bad.png", "wb")
    f:write("not a png at all")
    f:close()
    c, err = core.canvas_load_png(dir .. "/bad.png")
    assert.is_nil(c)
    assert.matches("cannot read PNG", err, 1, true)
  end)

  it("checks its arguments", function()
    assert.has_error(function() core.canvas(0, 10) end, "bad argument #1 to 'canvas' (width must be in 1..16384)")
    local cv = core.canvas(10, 10)
    assert.has_error(function() cv:rect(0, 0, 1, 1, "#12345") end)
    assert.has_error(function() cv:rect(0, 0, 1, 1, {2, 0, 0}) end)
    assert.has_error(function() cv:pixel(10, 0) end)
    cv:close()
    assert.has_error(function() cv:size() end)
  end)

  it("draws invalid UTF-8 as '?' and keeps drawing after it", function()
    local cv = core.canvas(100, 40)
    local w1 = cv:text_size("a?b", 12)
    assert.are.equal(w1, (cv:text_size("a\255b", 12)))
    cv:text(2, 2, "a\255b\192", 12, "#000000")
    cv:rect(60, 10, 20, 20, "#00ff00")   -- a cairo context in error would ignore this
    assert.are.same({0, 255, 0}, rgb(cv, 70, 20))
  end)

  it("base64 encodes as RFC 4648's test vectors", function()
    local v = {[""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=",
               foobar = "Zm9vYmFy"}
    for k, e in pairs(v) do assert.are.equal(e, core.base64(k)) end
  end)
end)

describe("fm.plot.scatter", function()
  it("draws each point in its class colour where the axes put it", function()
    local E = fm.matrix{{0, 0}, {10, 0}, {0, 10}, {10, 10}}
    local path = dir .. "/sc.png"
    local skipped, fig = fm.plot.scatter(E, {0, 1, 2, 2}, {path = path, point_size = 12, alpha = 1,
      size = {500, 400}, title = "four points", names = {"a", "b", "c"}})
    assert.are.equal(0, skipped)
    assert.are.equal(path, fig.path)
    assert.are.same({500, 400}, {png_size(read(path))})
    local cv = assert(core.canvas_load_png(path))
    local box = fig.boxes[1]
    local pts = {{0, 0, 1}, {10, 0, 2}, {0, 10, 3}, {10, 10, 3}}
    for _, p in ipairs(pts) do
      local x, y = to_pixel(box, p[1], p[2])
      local r, g, b = cv:pixel(x, y)
      assert.are.same({hex_rgb(fm.plot.palette[p[3]])}, {r, g, b})
    end
    -- the middle of the plot is empty (white, or a grey grid line)
    local c = rgb(cv, to_pixel(box, 5, 5))
    assert.is_true(c[1] == c[2] and c[2] == c[3] and c[1] >= 200)
  end)

  it("blends with alpha over white and draws noise under the clusters", function()
    local E = fm.matrix{{0, 0}, {0, 0}, {4, 4}}
    for _, lab in ipairs{{-1, 0, 0}, {0, -1, 0}} do
      local _, fig = fm.plot.scatter(E, lab, {point_size = 16, alpha = 1, size = {300, 300}})
      local f = dir .. "/noise.png"
      local fh = io.open(f, "wb")
      fh:write(fig.png)
      fh:close()
      local cv = core.canvas_load_png(f)
      local x, y = to_pixel(fig.boxes[1], 0, 0)
      assert.are.same({hex_rgb(fm.plot.palette[1])}, rgb(cv, x, y))
    end
    -- (off the grid lines: ticks fall on round numbers)
    local _, fig = fm.plot.scatter(fm.matrix{{1.13, 1.37}, {1.91, 1.53}}, nil, {point_size = 16, alpha = 0.5, size = {300, 300}})
    local f = dir .. "/alpha.png"
    local fh = io.open(f, "wb")
    fh:write(fig.png)
    fh:close()
    local cv = core.canvas_load_png(f)
    local r, g, b = cv:pixel(to_pixel(fig.boxes[1], 1.13, 1.37))
    local er, eg, eb = hex_rgb(fm.plot.palette[1])
    assert.is_true(near(r, (255 + er) / 2) and near(g, (255 + eg) / 2) and near(b, (255 + eb) / 2))
  end)

  it("skips and counts NaN/Inf points", function()
    local nan = 0 / 0
    local E = fm.matrix{{0, 0}, {nan, 1}, {1, math.huge}, {1, 1}}
    local skipped, fig = fm.plot.scatter(E, {0, 0, 0, 0}, {point_size = 10, alpha = 1, size = {300, 300}})
    assert.are.equal(2, skipped)
    -- the range comes from the finite points only: they sit inside the frame
    local box = fig.boxes[1]
    assert.is_true(box.xmin < 0 and box.xmax > 1 and box.xmax < 2)
    -- all NaN: nothing to draw, still a picture, every point counted
    local s2 = fm.plot.scatter(fm.matrix{{nan, nan}, {nan, 0}}, nil, {size = {200, 200}})
    assert.are.equal(2, s2)
  end)

  it("draws 70,000 points in under 2 seconds", function()
    local E = fm.matrix.random(70000, 2, {seed = 1, distribution = "normal"})
    local y = {}
    for i = 1, 70000 do y[i] = i % 10 end
    local labels = fm.labels(y)
    local t0 = os.clock()
    local skipped, fig = fm.plot.scatter(E, labels, {path = dir .. "/big.png", names = fm.data.class_names()})
    local cpu = os.clock() - t0
    assert.are.equal(0, skipped)
    assert.is_true(cpu < 2, ("%.2f s"):format(cpu))
    assert.are.same({960, 720}, {png_size(read(fig.path))})
  end)

  it("gives identical bytes for identical input", function()
    local E = fm.matrix.random(500, 2, {seed = 2})
    local y = fm.labels((function() local t = {} for i = 1, 500 do t[i] = i % 3 end return t end)())
    local _, a = fm.plot.scatter(E, y)
    local _, b = fm.plot.scatter(E, y)
    assert.are.equal(a.png, b.png)
  end)

  it("raises clear errors on bad input", function()
    local E = fm.matrix{{0, 0}, {1, 1}, {2, 2}}
    assert.has_error(function() fm.plot.scatter(E, {0, 1}) end,
      "bad argument #2 to 'scatter' (labels has 2 labels, the data has 3 rows)")
    assert.has_error(function() fm.plot.scatter(fm.matrix.zeros(0, 2), nil) end,
      "bad argument #1 to 'scatter' (matrix has no rows)")
    assert.has_error(function() fm.plot.scatter(fm.matrix{{1}, {2}}, nil) end,
      "bad argument #1 to 'scatter' (matrix has 1 column, needs 2)")
    assert.has_error(function() fm.plot.scatter({{1, 2}}, nil) end,
      "bad argument #1 to 'scatter' (matrix expected, got table)")
    assert.has_error(function() fm.plot.scatter(E, {0, 1.5, 2}) end)
    assert.has_error(function() fm.plot.scatter(E, nil, {colour = "red"}) end,
      "bad argument #3 to 'scatter' (unknown option 'colour')")
    assert.has_error(function() fm.plot.scatter(E, nil, {alpha = 2}) end,
      "bad argument #3 to 'scatter' (alpha must be ≤ 1, got 2)")
    assert.has_error(function() fm.plot.scatter(E, nil, {names = {1, 2}}) end)
    local ok, err = pcall(fm.plot.scatter, E, nil, {path = "/nonexistent-dir/x.png"})
    assert.is_false(ok)
    assert.matches("scatter: cannot write PNG '/nonexistent%-dir/x%.png': No such file or directory", err)
  end)
end)

describe("fm.plot.scatter3", function()
  it("draws the three pairwise views and skips a row with NaN in any column", function()
    local E = fm.matrix{{0, 0, 0}, {1, 2, 3}, {2, 1, 0 / 0}, {3, 3, 3}}
    local path = dir .. "/sc3.png"
    local skipped, fig = fm.plot.scatter3(E, {0, 1, 1, 2}, {path = path, point_size = 10, alpha = 1})
    assert.are.equal(1, skipped)
    assert.are.same({1500, 560}, {png_size(read(path))})
    assert.are.equal(3, #fig.boxes)
    local cv = core.canvas_load_png(path)
    local cols = {{1, 2}, {1, 3}, {2, 3}}
    local rowv = {{0, 0, 0}, {1, 2, 3}, {2, 1, 0}, {3, 3, 3}}
    for p, ab in ipairs(cols) do
      local box = fig.boxes[p]
      assert.are.equal(("%d-%d"):format(ab[1], ab[2]), box.name)
      -- row 2 (label 1 → palette[2]) is drawn in every view
      local r, g, b = cv:pixel(to_pixel(box, rowv[2][ab[1]], rowv[2][ab[2]]))
      assert.are.same({hex_rgb(fm.plot.palette[2])}, {r, g, b})
    end
    -- row 3 is in no view, even the one without its NaN column (1-2): its pixel stays white
    local c = rgb(cv, to_pixel(fig.boxes[1], 2, 1))
    assert.is_true(c[1] == c[2] and c[2] == c[3] and c[1] >= 200)
    assert.has_error(function() fm.plot.scatter3(fm.matrix{{1, 2}}, nil) end,
      "bad argument #1 to 'scatter3' (matrix has 2 columns, needs 3)")
  end)
end)

describe("fm.plot.pixel_maps", function()
  it("draws the three maps with the colour map's ends at each map's min and max", function()
    -- 4×4 images: pixel 1 always 1, pixel 16 always 0, the rest half the time
    local rows = {}
    for i = 1, 4 do
      rows[i] = {}
      for j = 1, 16 do rows[i][j] = j == 1 and 1 or j == 16 and 0 or (i % 2) end
    end
    local stats = fm.pixel_stats(fm.matrix(rows))
    local path = dir .. "/pix.png"
    local fig = fm.plot.pixel_maps(stats, {path = path})
    assert.are.same({1260, 470}, {png_size(read(path))})
    local cv = core.canvas_load_png(path)
    local mean = fig.boxes[1]
    assert.are.equal("mean", mean.name)
    assert.are.equal(0, mean.vmin)
    assert.are.equal(1, mean.vmax)
    local cell = mean.w / 4
    -- mean map: pixel 1 (top-left cell) = 1 → viridis's top (#fde725), pixel 16 = 0 → its bottom (#440154)
    assert.are.same({253, 231, 37}, rgb(cv, math.floor(mean.x + cell / 2), math.floor(mean.y + cell / 2)))
    assert.are.same({68, 1, 84}, rgb(cv, math.floor(mean.x + 3.5 * cell), math.floor(mean.y + 3.5 * cell)))
    assert.has_error(function() fm.plot.pixel_maps({mean = 1}) end)
    assert.has_error(function() fm.plot.pixel_maps(stats, {cmap = "jet"}) end)
  end)
end)

describe("fm.plot.confusion", function()
  -- 3 classes; cluster 7 holds class 2, cluster 5 class 0, cluster 9 class 1 (plus some mixing)
  local truth = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2}
  local pred  = {5, 5, 5, 9, 9, 9, 9, 7, 7, 7, 7, 7, 5}

  it("orders the columns by the matching and colours each cell by its share of the row", function()
    local path = dir .. "/conf.png"
    local fig, info = fm.plot.confusion(truth, pred, {path = path, names = {"zero", "one", "two"}})
    assert.are.same({5, 9, 7}, info.columns)
    -- matched points by brute force over the 6 one-to-one maps
    local best = 0
    for _, perm in ipairs{{5, 9, 7}, {5, 7, 9}, {9, 5, 7}, {9, 7, 5}, {7, 5, 9}, {7, 9, 5}} do
      local k = 0
      for i = 1, #truth do if pred[i] == perm[truth[i] + 1] then k = k + 1 end end
      best = math.max(best, k)
    end
    assert.are.equal(best, info.matched)
    assert.are.equal(best / #truth, info.accuracy)
    local cv = core.canvas_load_png(path)
    local t = fig.boxes[1]
    assert.are.same({3, 3}, {t.rows, t.cols})
    local cw = t.w / 3
    -- row "zero": 3 of 4 in cluster 5 → share 0.75; 0 of 4 in cluster 7 → white end of "blues"
    local function cell_px(i, k) return cv:pixel(math.floor(t.x + (k - 1) * cw + 4), math.floor(t.y + (i - 1) * cw + 4)) end
    local wr, wg, wb = cell_px(1, 3)
    assert.are.same({247, 251, 255}, {wr, wg, wb})
    local r1, g1, b1 = cell_px(1, 1)
    local r2 = cell_px(2, 2)          -- 3 of 4: same share, same colour
    assert.are.equal(r1, r2)
    local r3 = cell_px(3, 3)          -- 4 of 5 = 0.8: darker than 0.75
    assert.is_true(r3 < r1 and b1 > r1 and g1 > r1)
  end)

  it("sums the smallest clusters into one column beyond max_cols and checks lengths", function()
    local t, p = {}, {}
    for i = 1, 60 do t[i] = i % 2; p[i] = i % 12 end
    local _, info = fm.plot.confusion(t, p, {max_cols = 5})
    assert.are.equal(5, #info.columns)
    assert.are.equal("other", info.columns[5])
    assert.has_error(function() fm.plot.confusion({0, 1}, {0}) end,
      "bad argument #2 to 'confusion' (pred has 1 labels, the data has 2 rows)")
    assert.has_error(function() fm.plot.confusion({}, {}) end, "bad argument #1 to 'confusion' (truth has no labels)")
  end)
end)

describe("fm.plot.images and reconstructions", function()
  -- two 2×2 images: all white, all black
  local X = fm.matrix{{1, 1, 1, 1}, {0, 0, 0, 0}}

  it("draws each image in its tile, grey levels from the values", function()
    local path = dir .. "/img.png"
    local fig = fm.plot.images(X, {path = path, rows = 1, cols = 2, labels = {3, 4}, title = "two"})
    local cv = core.canvas_load_png(path)
    local w, h = png_size(read(path))
    assert.are.same({fig.width, fig.height}, {w, h})
    local a, b = fig.boxes[1], fig.boxes[2]
    assert.are.same({255, 255, 255}, rgb(cv, math.floor(a.x + a.w / 2), math.floor(a.y + a.h / 2)))
    assert.are.same({0, 0, 0}, rgb(cv, math.floor(b.x + b.w / 2), math.floor(b.y + b.h / 2)))
    assert.has_error(function() fm.plot.images(X, {image_width = 3}) end,
      "bad argument #2 to 'images' (image_width 3 does not divide the 4 columns)")
    assert.has_error(function() fm.plot.images(X, {indices = {3}}) end,
      "bad argument #2 to 'images' (indices[1] must be a row number in 1..2)")
  end)

  it("puts each original above its reconstruction", function()
    local Xhat = fm.matrix{{0, 0, 0, 0}, {1, 1, 1, 1}}
    local path = dir .. "/rec.png"
    local fig = fm.plot.reconstructions(X, Xhat, {path = path, cols = 2})
    local cv = core.canvas_load_png(path)
    assert.are.equal(4, #fig.boxes)
    for _, bx in ipairs(fig.boxes) do
      local white = (bx.name == "original 1") or (bx.name == "reconstruction 2")
      local v = white and 255 or 0
      assert.are.same({v, v, v}, rgb(cv, math.floor(bx.x + bx.w / 2), math.floor(bx.y + bx.h / 2)))
    end
    assert.is_true(fig.boxes[2].y > fig.boxes[1].y)   -- below
    assert.has_error(function() fm.plot.reconstructions(X, fm.matrix{{1, 1, 1, 1}}) end,
      "bad argument #2 to 'reconstructions' (reconstructions are 1×4, the originals 2×4)")
  end)
end)

describe("fm.plot.sweep", function()
  local rows = {
    {key = "a", reducer = "pca", reducer_label = "pca", n_components = 10, ari = 0.3, seed = 0},
    {key = "b", reducer = "pca", reducer_label = "pca", n_components = 10, ari = 0.5, seed = 1},
    {key = "c", reducer = "pca", reducer_label = "pca", n_components = 20, ari = 0.6, seed = 0},
    {key = "d", reducer = "umap", reducer_label = "umap", n_components = 10, ari = 0.7, seed = 0},
    {key = "e", reducer = "umap", reducer_label = "umap", n_components = 20, ari = 0.2, seed = 0},
    {key = "f", reducer = "umap", reducer_label = "densmap", n_components = 20, ari = 0.9, seed = 0},
  }

  it("aggregates the rows per series and x, as lines or bars", function()
    local path = dir .. "/sweep.png"
    local fig, series = fm.plot.sweep(rows, {path = path})
    assert.are.same({960, 600}, {png_size(read(path))})
    local got = {}
    for _, s in ipairs(series) do
      got[s.name] = {}
      for _, p in ipairs(s.points) do got[s.name][p.x] = {p.y, p.lo, p.hi, p.n} end
    end
    assert.are.same({densmap = {[20] = {0.9, 0.9, 0.9, 1}},
                     pca = {[10] = {0.4, 0.3, 0.5, 2}, [20] = {0.6, 0.6, 0.6, 1}},
                     umap = {[10] = {0.7, 0.7, 0.7, 1}, [20] = {0.2, 0.2, 0.2, 1}}}, got)
    local _, s2 = fm.plot.sweep(rows, {x = "reducer", by = false, agg = "max"})
    assert.are.equal(1, #s2)
    local best = {}
    for _, p in ipairs(s2[1].points) do best[p.x] = p.y end
    assert.are.same({pca = 0.6, umap = 0.7, densmap = 0.9}, best)
  end)

  it("reads a results directory and rejects what it cannot draw", function()
    local d = H.tmpdir()
    local f = io.open(d .. "/rows.jsonl", "w")
    for _, r in ipairs(rows) do f:write(require("cjson").encode(r), "\n") end
    f:close()
    local _, series = fm.plot.sweep(d, {y = "ari", by = "reducer"})
    assert.are.equal(3, #series)
    assert.has_error(function() fm.plot.sweep({}) end, "bad argument #1 to 'sweep' (no rows)")
    assert.has_error(function() fm.plot.sweep(rows, {y = "nope"}) end,
      "bad argument #1 to 'sweep' (no row has both 'n_components' and a numeric 'nope')")
    assert.has_error(function() fm.plot.sweep(rows, {x = "reducer", kind = "line"}) end,
      "bad argument #2 to 'sweep' (kind = \"line\" needs a numeric x, 'reducer' is not)")
    assert.has_error(function() fm.plot.sweep(d .. "/none") end)
  end)
end)

describe("fm.plot.condensed_tree", function()
  it("draws HDBSCAN's tree with the selected clusters in the palette's colours", function()
    local X = H.blobs({{0, 0}, {8, 0}, {0, 8}}, 60, 0.8, 5)
    local res = fm.hdbscan(X, {min_cluster_size = 20})
    assert.are.equal(3, res.n_clusters)
    local path = dir .. "/tree.png"
    local fig, info = fm.plot.condensed_tree(res, {path = path})
    assert.are.equal(180, info.n)
    assert.are.equal(3, #info.selected)
    assert.are.same({1000, 640}, {png_size(read(path))})
    local cv = core.canvas_load_png(path)
    for k = 1, 3 do
      assert.is_true(count_colour(cv, hex_rgb(fm.plot.palette[k])) > 20, "cluster " .. k)
    end
    assert.are.equal(0, count_colour(cv, hex_rgb(fm.plot.palette[4])))
    -- the bare tree works too (eom selection), and junk is refused
    local _, info2 = fm.plot.condensed_tree(res:condensed_tree_table())
    assert.are.same(info.selected, info2.selected)
    assert.has_error(function() fm.plot.condensed_tree({1, 2, 3}) end)
  end)
end)
