-- fmclust.data — the Fashion-MNIST loader, and loading matrices/labels from files.
--
--   local X, y, names = fm.data.fashion_mnist{split = "test"}   -- 10,000×784 in [0, 1], labels 0..9
--   local Z = fm.data.load("embedding.npy")                     -- .npy, .csv, IDX (.gz or raw)
--
-- Reading is done in C (io.c); this module finds the files and checks that they agree.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local CLASS_NAMES = {
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

local SPLITS = {
  train = {images = "train-images-idx3-ubyte", labels = "train-labels-idx1-ubyte"},
  test = {images = "t10k-images-idx3-ubyte", labels = "t10k-labels-idx1-ubyte"},
}

local DEFAULT_DIRS = {"./data/fashion-mnist", "/usr/share/datasets/fashion-mnist"}
local HOW_TO_GET = "run `make data` in the fmclust source tree, or `apt-get install dataset-fashion-mnist`"

--- fm.data.class_names() → a fresh array of the 10 Fashion-MNIST class names (label k is entry k+1)
function M.class_names()
  return table.move(CLASS_NAMES, 1, #CLASS_NAMES, 1, {})
end

local function readable(path)
  local f = io.open(path, "rb")
  if not f then return false end
  -- a directory opens on Linux but cannot be read: read(0) fails with a message (an empty
  -- file fails without one, and is left for the reader to report)
  local r, err = f:read(0)
  f:close()
  return r ~= nil or err == nil
end

-- the .gz file, else the uncompressed one, else nil
local function find_in(dir, base)
  for _, name in ipairs({base .. ".gz", base}) do
    local path = dir .. "/" .. name
    if readable(path) then return path end
  end
end

local function needed_files(split)
  local parts = split == "all" and {"train", "test"} or {split}
  local bases = {}
  for _, p in ipairs(parts) do
    bases[#bases + 1] = SPLITS[p].images
    bases[#bases + 1] = SPLITS[p].labels
  end
  return parts, bases
end

-- names of the files missing from dir (empty when it has them all)
local function missing_in(dir, bases)
  local miss = {}
  for _, b in ipairs(bases) do
    if not find_in(dir, b) then miss[#miss + 1] = b .. ".gz" end
  end
  return miss
end

--- fm.data.find_fashion_mnist{split = "train", dir = nil} → directory, or nil and a message.
-- An explicit directory (opts.dir, else $FMCLUST_DATA) is the only one tried: a mistyped path must
-- not quietly fall back to another copy. Otherwise the first default directory holding the files wins.
function M.find_fashion_mnist(opts)
  local o = U.options("find_fashion_mnist", 1, opts, {
    split = {type = "string", values = {"train", "test", "all"}, default = "train"},
    dir = {type = "string"},
  })
  local _, bases = needed_files(o.split)
  local env = os.getenv("FMCLUST_DATA")
  local explicit, origin = o.dir, "the dir option"
  if not explicit and env and env ~= "" then explicit, origin = env, "$FMCLUST_DATA" end
  if explicit then
    local miss = missing_in(explicit, bases)
    if #miss == 0 then return explicit end
    return nil, ("Fashion-MNIST directory '%s' (from %s) lacks %s (the uncompressed names are "
      .. "accepted too); %s"):format(explicit, origin, table.concat(miss, ", "), HOW_TO_GET)
  end
  for _, dir in ipairs(DEFAULT_DIRS) do
    if #missing_in(dir, bases) == 0 then return dir end
  end
  return nil, ("cannot find the Fashion-MNIST files %s (or their uncompressed versions); searched %s; "
    .. "set $FMCLUST_DATA or the dir option to use another directory, or %s"):format(
    table.concat(bases, ".gz, ") .. ".gz", table.concat(DEFAULT_DIRS, ", "), HOW_TO_GET)
end

-- core errors read "idx_images: '<path>' is truncated…"; keep the sentence, name our function.
-- level 1 blames the caller of the function that uses call, 2 the caller of that one
local function call(level, fname, f, ...)
  local ok, res = pcall(f, ...)
  if not ok then error(fname .. ": " .. tostring(res):gsub("^[%w_]+: ", ""), level + 2) end
  return res
end

local function load_part(dir, part)
  local img = find_in(dir, SPLITS[part].images)
  local lab = find_in(dir, SPLITS[part].labels)
  local X = call(2, "fashion_mnist", core.idx_images, img, 1 / 255)
  local y = call(2, "fashion_mnist", core.idx_labels, lab)
  local n, d = X:shape()
  if d ~= 784 then
    error(("fashion_mnist: '%s' holds images of %d pixels, expected 28×28 = 784"):format(img, d), 4)
  end
  if n ~= #y then
    error(("fashion_mnist: '%s' holds %d images but '%s' holds %d labels"):format(img, n, lab, #y), 4)
  end
  for label in pairs(y:counts()) do
    if label < 0 or label > 9 then
      error(("fashion_mnist: '%s' holds label %d, expected 0..9"):format(lab, label), 4)
    end
  end
  return X, y
end

--- fm.data.fashion_mnist{split = "train"|"test"|"all", dir = path} → X, y, names
-- X is n×784 float32 with pixels scaled to [0, 1] (value/255), y the labels 0..9, names the 10
-- class names (names[y[i] + 1] is the class of row i). "all" is the 60,000 training images
-- followed by the 10,000 test images. The directory is opts.dir, else $FMCLUST_DATA, else the
-- first of ./data/fashion-mnist and /usr/share/datasets/fashion-mnist that holds the files.
function M.fashion_mnist(opts)
  local o = U.options("fashion_mnist", 1, opts, {
    split = {type = "string", values = {"train", "test", "all"}, default = "train"},
    dir = {type = "string"},
  })
  local dir, msg = M.find_fashion_mnist(o)
  if not dir then error("fashion_mnist: " .. msg, 2) end
  local parts = needed_files(o.split)
  if #parts == 1 then
    local X, y = load_part(dir, parts[1])
    return X, y, M.class_names()
  end
  local Xtr, ytr = load_part(dir, "train")
  local Xte, yte = load_part(dir, "test")
  local X, y = core.vstack(Xtr, Xte), core.vstack(ytr, yte)
  -- the halves are 220 MB of garbage now: release them without waiting for the collector
  Xtr:close()
  Xte:close()
  return X, y, M.class_names()
end

local function extension(path)
  local lower = path:lower()
  if lower:match("%.npy$") then return "npy" end
  if lower:match("%.csv$") then return "csv" end
  if lower:match("%.gz$") or lower:match("idx%d") or lower:match("%-ubyte$") or lower:match("%.idx$") then
    return "idx"
  end
end

--- fm.data.load(path, {header = nil|true|false, scale = 1/255}) → matrix
-- By extension: .npy (float32/64, integer, bool; 1-D → one column), .csv (numbers, comma
-- separated; header detected unless given), IDX image files (.gz or raw; pixels × scale).
function M.load(path, opts)
  if type(path) ~= "string" then U.argerror("load", 1, "path expected, got " .. U.describe(path)) end
  local o = U.options("load", 2, opts, {
    header = {type = "boolean"},
    scale = {type = "number", default = 1 / 255},
  })
  local kind = extension(path)
  if kind == "npy" then return call(1, "load", core.npy_load, path) end
  if kind == "csv" then return call(1, "load", core.csv_load, path, o.header) end
  if kind == "idx" then return call(1, "load", core.idx_images, path, o.scale) end
  U.argerror("load", 1, ("cannot tell the format of '%s': expected a .npy, .csv, or IDX (.gz, *-idx3-ubyte) file")
    :format(path))
end

--- fm.data.load_labels(path) → labels, from an integer .npy vector or an IDX label file
function M.load_labels(path)
  if type(path) ~= "string" then U.argerror("load_labels", 1, "path expected, got " .. U.describe(path)) end
  local kind = extension(path)
  if kind == "npy" then return call(1, "load_labels", core.npy_load_labels, path) end
  if kind == "idx" then return call(1, "load_labels", core.idx_labels, path) end
  U.argerror("load_labels", 1, ("cannot tell the format of '%s': expected a .npy or IDX label file (.gz, *-idx1-ubyte)")
    :format(path))
end

return M
