-- fmclust.report: Markdown in the study's format, CSV, JSON, and the comparison with the study.
local H = require "spec.helper"
local report = require "fmclust.report"
local cjson = require "cjson"

local function row(model, red, nc, ari, extra)
  local r = {
    key = ("%s|%s|%s|%s"):format(model, red, tostring(nc), tostring(extra and extra.seed)),
    clusterer = model == "k-means" and "kmeans" or model, clusterer_label = model,
    reducer = red, reducer_label = red, n_components = nc,
    reducer_params = red ~= "none" and {n_components = nc} or {},
    clusterer_params = {n_clusters = 10},
    seed = 0, n = 1000, n_clusters = 10, noise_share = 0,
    ari = ari, ami = ari + 0.1, nmi = ari + 0.12, accuracy = ari + 0.2,
    seconds = {reduce = 1, cluster = 2, score = 0.01, total = 3.01}, peak_mb = {reduce = 100, cluster = 50},
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function split_lines(s)
  local t = {}
  for l in s:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

-- a small RFC 4180 reader, to check the CSV round-trips
local function csv_parse(s)
  local rows, row, field, i, inq = {}, {}, {}, 1, false
  while i <= #s do
    local c = s:sub(i, i)
    if inq then
      if c == '"' then
        if s:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"' i = i + 1 else inq = false end
      else field[#field + 1] = c end
    elseif c == '"' then inq = true
    elseif c == "," then row[#row + 1] = table.concat(field) field = {}
    elseif c == "\n" then row[#row + 1] = table.concat(field) field = {} rows[#rows + 1] = row row = {}
    else field[#field + 1] = c end
    i = i + 1
  end
  return rows
end

describe("report.seed_rows", function()
  it("holds the study's 48 annexe rows exactly as spec/fixtures/seed_annexe.json", function()
    local fx = H.fixture("seed_annexe.json")
    local seed = report.seed_rows()
    assert.are.equal(48, #seed)
    assert.are.equal(48, #fx.rows)
    for i, r in ipairs(fx.rows) do
      local s = seed[i]
      assert.are.equal(r.model, s.model)
      assert.are.equal(r.reduction, s.reduction)
      if r.n_components == cjson.null then assert.is_nil(s.n_components)
      else assert.are.equal(r.n_components, s.n_components) end
      assert.are.equal(r.ari, s.ari)
      assert.are.equal(r.ami, s.ami)
    end
    -- sorted by ARI, as the study printed it; 16 rows per model
    local per = {}
    for i, s in ipairs(seed) do
      if i > 1 then assert.is_true(seed[i - 1].ari >= s.ari) end
      per[s.model] = (per[s.model] or 0) + 1
    end
    assert.are.same({["k-means"] = 16, ward = 16, hdbscan = 16}, per)
  end)
end)

describe("report.markdown", function()
  local rows = {
    row("ward", "pca", 10, 0.35), row("k-means", "umap", 10, 0.45), row("k-means", "none", 784, 0.40),
    row("hdbscan", "umap", 10, 0.30, {noise_share = 0.1234, n_clusters = 7}),
  }
  it("gives the study's columns, sorted by ARI, best first", function()
    local md = report.markdown(rows)
    local lines = split_lines(md)
    assert.matches("^| model +| dimension reduction | n components | adjusted rand index | adjusted mutual information |", lines[1])
    assert.matches("NMI", lines[1])
    assert.matches("accuracy", lines[1])
    assert.matches("seconds", lines[1])
    assert.matches("^|%-+|%-+|%-+:|", lines[2])
    assert.are.equal(6, #lines)
    assert.matches("^| k%-means +| umap +| +10 | +0%.4500 | +0%.5500 |", lines[3])
    assert.matches("^| k%-means +| none +| +784 | +0%.4000", lines[4])
    assert.matches("^| ward", lines[5])
    assert.matches("^| hdbscan .* 7 | +12%.3%% |", lines[6])
    assert.is_nil(md:find("parameters", 1, true))   -- not needed here
    assert.is_nil(md:find("| seed", 1, true))
  end)

  it("adds a parameters column when rows would look alike, and seeds when they differ", function()
    local r2 = {row("k-means", "umap", 10, 0.45), row("k-means", "umap", 10, 0.40, {clusterer_params = {n_clusters = 12},
                                                                                   key = "other"})}
    local md = report.markdown(r2)
    assert.matches("parameters", md)
    assert.matches("k%-means%(n_clusters=12%)", md)
    local r3 = {row("k-means", "umap", 10, 0.45), row("k-means", "umap", 10, 0.40, {seed = 1, key = "s1"})}
    local md3 = report.markdown(r3)
    assert.matches("| seed |", md3, 1, true)
    assert.is_nil(md3:find("parameters", 1, true))
  end)

  it("handles no rows and missing scores", function()
    assert.are.equal(2, #split_lines(report.markdown({})))
    local md = report.markdown({row("ward", "pca", 10, 0 / 0)})
    assert.matches("| ward", md, 1, true)
  end)
end)

describe("report.csv and report.json", function()
  local rows = {row("ward", "pca", 10, 0.35), row("k-means", "umap", 10, 0.45,
                    {clusterer_params = {n_clusters = 10, init = "k-means++"}, reducer_input = {reducer = "ae",
                     label = "ae", params = {n_components = 10}}, reducer_label = "ae→umap"})}
  it("writes a header and one parsable line per row, sorted by ARI", function()
    local csv = report.csv(rows)
    local t = csv_parse(csv)
    assert.are.equal(3, #t)
    assert.are.equal("model", t[1][1])
    for i = 2, 3 do assert.are.equal(#t[1], #t[i]) end
    local col = {}
    for j, h in ipairs(t[1]) do col[h] = j end
    assert.are.equal("k-means", t[2][col.model])
    assert.are.equal("ae→umap", t[2][col.reduction])
    assert.are.equal("0.45", t[2][col.ari])
    assert.are.equal("10", t[2][col.n_components])
    assert.are.same({n_clusters = 10, init = "k-means++"}, cjson.decode(t[2][col.clusterer_params]))
    assert.matches("ae%(n_components=10%)", t[2][col.parameters])
    assert.are.equal("3.01", t[3][col.seconds_total])
  end)

  it("writes JSON that decodes to the rows, sorted by ARI", function()
    local t = cjson.decode(report.json(rows))
    assert.are.equal(2, #t)
    assert.are.equal(0.45, t[1].ari)
    assert.are.equal("ward", t[2].clusterer_label)
    assert.are.equal("[]\n", report.json({}))
  end)
end)

describe("report.compare", function()
  it("puts the study's values beside ours with the difference and a status", function()
    local rows = {
      row("ward", "umap", 10, 0.48),                           -- study 0.472368: ok
      row("k-means", "umap", 10, 0.60),                        -- study 0.456125: better
      row("ward", "pca", 10, 0.20),                            -- study 0.346739: worse
      row("k-means", "none", 784, 0.40, {seed = 0, key = "a"}), -- study "nan": matched, mean of 2
      row("k-means", "none", 784, 0.42, {seed = 1, key = "b"}),
      row("gmm", "umap", 10, 0.55),                            -- new
      row("hdbscan (tuned)", "umap", 10, 0.50),                -- a tuned variant: new, not matched
    }
    local cmp = report.compare(rows, "seed")
    assert.are.equal(48 + 2, #cmp.rows)
    local function find(model, red, nc)
      for _, e in ipairs(cmp.rows) do
        if e.model == model and e.reduction == red and e.n_components == nc then return e end
      end
    end
    local e = find("ward", "umap", 10)
    assert.are.equal("ok", e.status)
    assert.is_near(0.48 - 0.472368, e.d_ari, 1e-12)
    assert.is_near(0.58 - 0.656989, e.d_ami, 1e-12)
    assert.are.equal(0.472368, e.theirs.ari)
    assert.are.equal("better", find("k-means", "umap", 10).status)
    assert.are.equal("worse", find("ward", "pca", 10).status)
    local none = find("k-means", "none", nil)
    assert.are.equal("ok", none.status)
    assert.is_near(0.41, none.ours.ari, 1e-12)
    assert.are.equal(2, none.ours.n)
    assert.are.equal("not run", find("hdbscan", "ae", 20).status)
    assert.are.equal("new", cmp.rows[49].status)
    assert.are.equal("gmm", cmp.rows[49].model)
    assert.are.equal("hdbscan (tuned)", cmp.rows[50].model)
    local s = cmp.summary
    assert.are.same({4, 2, 1, 1, 44, 2}, {s.matched, s.ok, s.better, s.worse, s.not_run, s.new})
    local md = cmp:markdown()
    assert.are.equal(md, tostring(cmp))
    assert.matches("| ARI (ours) | ARI (study) |   Δ ARI |", md, 1, true)
    assert.matches("| ward +| umap +| +10 | +0%.4800 | +0%.4724 | %+0%.0076 |", md)
    assert.matches("ok %(mean of 2%)", md)
    assert.matches("4 of 48 study rows run: 2 within 0.03 ARI, 1 better, 1 worse", md, 1, true)
  end)

  it("compares with another run's rows or rows.jsonl", function()
    local old = {row("ward", "umap", 10, 0.40), row("k-means", "pca", 20, 0.30)}
    local new = {row("ward", "umap", 10, 0.45)}
    local cmp = report.compare(new, old, {tolerance = 0.01})
    assert.are.equal("better", cmp.rows[1].status)
    assert.are.equal("not run", cmp.rows[2].status)
    local dir = H.tmpdir()
    local f = io.open(dir .. "/rows.jsonl", "w")
    for _, r in ipairs(old) do f:write(cjson.encode(r), "\n") end
    f:close()
    local cmp2 = report.compare(new, dir, {tolerance = 0.1})
    assert.are.equal("ok", cmp2.rows[1].status)
    assert.matches("ARI %(other%)", cmp2:markdown())
    assert.has_error(function() report.compare(new, 42) end)
  end)
end)
