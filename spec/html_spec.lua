-- fm.report.html: one self-contained page from a results directory — the sortable results table,
-- the study's values beside ours, PNG figures inlined as data: URIs (each a valid PNG), figures
-- left out (with the reason) when their inputs are missing; and `fmclust report DIR` writing it.
-- (The page's JavaScript runs in headless Chromium in tools/report-check.sh.)
local H = require "spec.helper"
local fm = require "fmclust"
local sweep = require "fmclust.sweep"

local read = require("fmclust.util").read_all   -- the whole file, or nil

-- an independent base64 decoder (RFC 4648 alphabet)
local B64 = {}
do
  local a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, 64 do B64[a:sub(i, i)] = i - 1 end
end
local function unbase64(s)
  local out, bits, nbits = {}, 0, 0
  for ch in s:gmatch("[^=]") do
    bits = (bits << 6) | assert(B64[ch], "bad base64 character " .. ch)
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((bits >> nbits) & 255)
    end
  end
  return table.concat(out)
end

-- 90 "images" of 4×4 pixels in three classes (a bright quarter each, plus noise)
local function tiny_data()
  local R = fm.matrix.random(90, 16, {seed = 4})
  local rows, y = {}, {}
  for i = 1, 90 do
    local c = (i - 1) % 3
    rows[i] = {}
    for j = 1, 16 do
      local quarter = ((j - 1) // 4 < 2 and 0 or 2) + (((j - 1) % 4) < 2 and 0 or 1)
      rows[i][j] = 0.2 * R:get(i, j) + (quarter == c and 0.8 or 0)
    end
    y[i] = c
  end
  return fm.matrix(rows), fm.labels(y)
end

local X, y = tiny_data()
local names = {"top-left", "top-right", "bottom-left"}
local dir = H.tmpdir() .. "/sweep"
sweep.run({name = "html", data = X, truth = y,
  reducers = {{"none"}, {"pca", n_components = {2, 3}}},
  clusterers = {{"kmeans", n_clusters = 3, label = "k<m>"}, {"ward", n_clusters = 3}},
  seeds = {0}}, {out = dir, progress = false, fsync = false})
local rows = sweep.read_rows(dir .. "/rows.jsonl")

local function images_of(page)
  local out = {}
  for b64 in page:gmatch('src="data:image/png;base64,([A-Za-z0-9+/=]+)"') do out[#out + 1] = unbase64(b64) end
  return out
end

local function tbody_rows(page, id)
  local t = page:match('<table class="sortable" id="' .. id .. '">(.-)</table>')
  assert.is_truthy(t, "table " .. id)
  local body = t:match("<tbody>(.-)</tbody>")
  local k = 0
  for _ in body:gmatch("<tr[ >]") do k = k + 1 end
  return k, t
end

describe("fm.report.html", function()
  it("writes the tables and every figure when given the data", function()
    assert.are.equal(6, #rows)
    local path, info = fm.report.html(dir, {X = X, y = y, names = names})
    assert.are.equal(dir .. "/report.html", path)
    local page = read(path)
    assert.matches("^<!DOCTYPE html>", page)
    -- results: one line per row; the study: its 48 rows plus ours it lacks
    local k, results = tbody_rows(page, "results")
    assert.are.equal(#rows, k)
    assert.matches("<th>ARI</th>", results, 1, true)
    local kc = tbody_rows(page, "compare")
    assert.is_true(kc >= 48)
    -- labels are escaped
    assert.matches("k&lt;m&gt;", page, 1, true)
    assert.is_nil(page:find("k<m>", 1, true))
    -- every figure but the reconstructions (no autoencoder given) is drawn, each a valid PNG
    local drawn, left = {}, {}
    for _, f in ipairs(info.figures) do
      if f.drawn then drawn[#drawn + 1] = f.name else left[f.name] = f.why end
    end
    assert.are.same({["autoencoder reconstructions"] = "no autoencoder given (ae = model, saved model path, or reconstructions)"}, left)
    local imgs = images_of(page)
    assert.are.equal(#drawn, #imgs)
    for _, png in ipairs(imgs) do
      assert.are.equal("\137PNG\r\n\26\n", png:sub(1, 8))
      assert.are.equal("IHDR", png:sub(13, 16))
    end
    -- the best row's clusters were recomputed from the cache or X and agree with the row
    assert.are.same({}, info.notes)
    assert.matches("same ARI as the row", page, 1, true)
    -- self-contained: nothing fetched from elsewhere
    assert.is_nil(page:find('src="http', 1, true))
    assert.is_nil(page:find('href="http', 1, true))
    assert.matches('id="js-errors"', page, 1, true)
  end)

  it("draws reconstructions from a matrix and leaves out what it lacks, saying why", function()
    local out = H.tmpdir() .. "/page.html"
    local _, info = fm.report.html(dir, {path = out, X = X, y = y, ae = X:copy()})
    for _, f in ipairs(info.figures) do assert.is_true(f.drawn, f.name) end
    -- nothing given and nothing to find (not Fashion-MNIST): only what the rows and cache allow
    local out2 = H.tmpdir() .. "/bare.html"
    local _, bare = fm.report.html(dir, {path = out2})
    local drawn = {}
    for _, f in ipairs(bare.figures) do drawn[f.name] = f.drawn end
    assert.is_true(drawn["ARI across the sweep"])
    assert.is_true(drawn["scatter by best clustering"] == false)   -- the best row is on X ("none"): not given
    assert.is_false(drawn["scatter by class"])
    assert.is_false(drawn["confusion of the best row"])
    assert.is_false(drawn["pixel maps"])
    local page = read(out2)
    assert.matches('<ul id="left-out">', page, 1, true)
    assert.matches("scatter by class: no true classes (y)", page, 1, true)
    assert.matches("is not Fashion-MNIST", page, 1, true)
    -- compute = false: no cache reads, no re-clustering
    local _, none = fm.report.html(dir, {path = out2, compute = false})
    for _, f in ipairs(none.figures) do
      if f.name:match("scatter") or f.name:match("confusion") then assert.is_false(f.drawn) end
    end
  end)

  it("recomputes the best row's clusters from the sweep's cache", function()
    -- the PCA rows only, with the sweep's cache beside them
    local d3 = H.tmpdir()
    local f = assert(io.open(d3 .. "/rows.jsonl", "w"))
    for line in io.lines(dir .. "/rows.jsonl") do
      if line:find('"reducer":"pca"', 1, true) then f:write(line, "\n") end
    end
    f:close()
    os.execute(("cp -r %s/cache %s/"):format(dir, d3))
    local _, info = fm.report.html(d3, {y = y})
    assert.are.equal("pca", info.best.reducer)
    local drawn = {}
    for _, fg in ipairs(info.figures) do drawn[fg.name] = fg.drawn end
    assert.is_true(drawn["scatter by best clustering"])
    assert.is_true(drawn["confusion of the best row"])
    local page = read(d3 .. "/report.html")
    assert.matches("recomputed from " .. d3 .. "/cache/pca", page, 1, true)
    assert.matches("same ARI as the row", page, 1, true)
    assert.matches("2-D pca from the sweep&#39;s cache", page, 1, true)
  end)

  it("raises clear errors", function()
    assert.has_error(function() fm.report.html(dir .. "/none") end,
      ("bad argument #1 to 'html' (no rows file '%s/none/rows.jsonl')"):format(dir))
    assert.has_error(function() fm.report.html(dir, {colour = 1}) end, "bad argument #2 to 'html' (unknown option 'colour')")
    assert.has_error(function() fm.report.html(dir, {X = X:slice(1, 10)}) end,
      "bad argument #2 to 'html' (X has 10 rows, the sweep's rows have n = 90)")
    assert.has_error(function() fm.report.html(dir, {X = X, y = {0, 1}}) end,
      "bad argument #2 to 'html' (y has 2 labels, the rows have n = 90)")
    local ok, err = pcall(fm.report.html, dir, {path = "/nonexistent-dir/r.html", compute = false})
    assert.is_false(ok)
    assert.matches("html: cannot write '/nonexistent%-dir/r%.html'", err)
  end)

  it("is written by `fmclust report DIR`, unless --no-html", function()
    local d2 = H.tmpdir()
    os.execute(("cp %s/rows.jsonl %s/"):format(dir, d2))
    local p = io.popen(("bin/fmclust report --no-html %s 2>&1"):format(d2))
    local out = p:read("a")
    p:close()
    assert.matches("adjusted rand index", out, 1, true)
    assert.is_nil(read(d2 .. "/report.html"))
    p = io.popen(("bin/fmclust report %s 2>&1"):format(d2))
    out = p:read("a")
    assert.is_true(p:close())
    assert.matches("adjusted rand index", out, 1, true)
    assert.matches("wrote " .. d2 .. "/report.html", out, 1, true)
    assert.matches("^<!DOCTYPE html>", read(d2 .. "/report.html"))
  end)
end)
