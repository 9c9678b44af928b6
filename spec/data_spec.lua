-- fm.data.fashion_mnist: the real data (Debian's dataset-fashion-mnist, installed by `make deps`)
-- and the errors a user meets when the files are missing or do not match.
local fm = require "fmclust"

local SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
local NAMES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

local function sh(cmd) assert(os.execute(cmd), "command failed: " .. cmd) end

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function has(msg, plain) assert.truthy(msg:find(plain, 1, true), ("%q not in %q"):format(plain, msg)) end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  sh("mkdir -p '" .. d .. "'")
  return d
end

local function write(p, bytes)
  local f = assert(io.open(p, "wb"))
  f:write(bytes)
  f:close()
end

describe("fm.data.fashion_mnist (real data)", function()
  local Xte, yte, names

  setup(function()
    Xte, yte, names = fm.data.fashion_mnist{split = "test", dir = SYSTEM_DIR}
  end)

  it("loads the test split: 10,000×784 in [0, 1], 1,000 per class, the class names", function()
    assert.are.same({10000, 784}, {Xte:shape()})
    assert.are.equal(10000, #yte)
    local lo, hi = math.huge, -math.huge
    for _, row in ipairs(Xte:to_table()) do
      for j = 1, 784 do
        local v = row[j]
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
    assert.are.equal(0, lo)
    assert.are.equal(1, hi)
    local counts = yte:counts()
    for k = 0, 9 do assert.are.equal(1000, counts[k]) end
    assert.are.same(NAMES, names)
    assert.are.equal("Ankle boot", names[yte[1] + 1])   -- the first test image is an ankle boot
  end)

  it("returns a fresh names table each time", function()
    names[1] = "changed"
    local _, _, again = fm.data.fashion_mnist{split = "test", dir = SYSTEM_DIR}
    assert.are.equal("T-shirt/top", again[1])
  end)

  it("loads all 70,000 images: train then test, 7,000 per class", function()
    local X, y = fm.data.fashion_mnist{split = "all", dir = SYSTEM_DIR}
    assert.are.same({70000, 784}, {X:shape()})
    assert.are.equal(70000, #y)
    local counts = y:counts()
    for k = 0, 9 do assert.are.equal(7000, counts[k]) end
    -- row 60,001 is the first test image
    for j = 1, 784 do assert.are.equal(Xte:get(1, j), X:get(60001, j)) end
    assert.are.equal(yte[1], y[60001])
    assert.are.equal(yte[10000], y[70000])
  end)
end)

describe("fm.data.fashion_mnist (errors)", function()
  local dir

  before_each(function() dir = tmpdir() end)
  after_each(function() if dir:match("^/tmp/") then os.execute("rm -rf '" .. dir .. "'") end end)

  it("names an explicit directory that lacks the files, and says how to get them", function()
    local e = err_of(fm.data.fashion_mnist, {split = "test", dir = dir})
    has(e, dir)
    has(e, "t10k-images-idx3-ubyte.gz")
    has(e, "make data")
    has(e, "apt-get install dataset-fashion-mnist")
  end)

  it("refuses an unknown split and an unknown option", function()
    local e = err_of(fm.data.fashion_mnist, {split = "validation"})
    has(e, "bad argument #1 to 'fashion_mnist'")
    has(e, "split must be one of")
    has(e, "validation")
    has(err_of(fm.data.fashion_mnist, {splt = "test"}), "unknown option 'splt'")
    has(err_of(fm.data.fashion_mnist, "test"), "options table expected")
  end)

  -- crafted 28×28 files in a directory of our own
  local function images(n)
    return string.pack(">I4I4I4I4", 0x803, n, 28, 28) .. ("\7"):rep(n * 784)
  end
  local function labels(t)
    local s = {string.pack(">I4I4", 0x801, #t)}
    for _, v in ipairs(t) do s[#s + 1] = string.char(v) end
    return table.concat(s)
  end

  it("loads uncompressed files from a directory given with dir", function()
    write(dir .. "/t10k-images-idx3-ubyte", images(3))
    write(dir .. "/t10k-labels-idx1-ubyte", labels({1, 2, 3}))
    local X, y = fm.data.fashion_mnist{split = "test", dir = dir}
    assert.are.same({3, 784}, {X:shape()})
    assert.are.near(7 / 255, X:get(3, 784), 1e-7)
    assert.are.same({1, 2, 3}, y:to_table())
    assert.are.equal(dir, fm.data.find_fashion_mnist{split = "test", dir = dir})
    -- "all" also needs the training files
    local none, msg = fm.data.find_fashion_mnist{split = "all", dir = dir}
    assert.is_nil(none)
    has(msg, "train-images-idx3-ubyte.gz")
  end)

  it("names both files when images and labels disagree in number", function()
    write(dir .. "/t10k-images-idx3-ubyte", images(3))
    write(dir .. "/t10k-labels-idx1-ubyte", labels({1, 2, 3, 4}))
    local e = err_of(fm.data.fashion_mnist, {split = "test", dir = dir})
    has(e, dir .. "/t10k-images-idx3-ubyte' holds 3 images")
    has(e, dir .. "/t10k-labels-idx1-ubyte' holds 4 labels")
  end)

  it("passes on the reader's sentence for a damaged file", function()
    write(dir .. "/t10k-images-idx3-ubyte", images(3):sub(1, 1000))
    write(dir .. "/t10k-labels-idx1-ubyte", labels({1, 2, 3}))
    local e = err_of(fm.data.fashion_mnist, {split = "test", dir = dir})
    has(e, "fashion_mnist: '" .. dir .. "/t10k-images-idx3-ubyte' is truncated")
  end)

  it("refuses labels outside 0..9 and images that are not 28×28", function()
    write(dir .. "/t10k-images-idx3-ubyte", images(2))
    write(dir .. "/t10k-labels-idx1-ubyte", labels({1, 12}))
    has(err_of(fm.data.fashion_mnist, {split = "test", dir = dir}), "holds label 12, expected 0..9")
    write(dir .. "/t10k-images-idx3-ubyte", string.pack(">I4I4I4I4", 0x803, 2, 2, 2) .. ("\0"):rep(8))
    write(dir .. "/t10k-labels-idx1-ubyte", labels({1, 2}))
    has(err_of(fm.data.fashion_mnist, {split = "test", dir = dir}), "holds images of 4 pixels, expected 28×28 = 784")
  end)
end)
