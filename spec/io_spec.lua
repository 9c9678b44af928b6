-- File formats: IDX (raw and gzip), .npy, CSV. Every file here is crafted byte by byte, so each
-- failure mode is exercised on purpose; each error must name the file and say what is wrong.
local fm = require "fmclust"
local core = fm.core

local tmp   -- a fresh directory per test

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end

local function path(name) return tmp .. "/" .. name end

local function write(name, bytes)
  local p = path(name)
  local f = assert(io.open(p, "wb"))
  f:write(bytes)
  f:close()
  return p
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function gzip(p)
  sh("gzip -n -f '" .. p .. "'")
  return p .. ".gz"
end

-- the error a call raises, as a string (fails the test if it does not raise)
local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function has(msg, plain) assert.truthy(msg:find(plain, 1, true), ("%q not in %q"):format(plain, msg)) end

-- deterministic pixel values: image i, pixel j (0-based) → byte
local function pixel(i, j) return (i * 31 + j * 7 + (i * j) % 13) % 256 end

local function idx_images(n, rows, cols, magic)
  local t = {string.pack(">I4I4I4I4", magic or 0x803, n, rows, cols)}
  for i = 0, n - 1 do
    local row = {}
    for j = 0, rows * cols - 1 do row[#row + 1] = string.char(pixel(i, j)) end
    t[#t + 1] = table.concat(row)
  end
  return table.concat(t)
end

local function idx_labels(values)
  local t = {string.pack(">I4I4", 0x801, #values)}
  for _, v in ipairs(values) do t[#t + 1] = string.char(v) end
  return table.concat(t)
end

local function f32(x) return (string.unpack("<f", string.pack("<f", x))) end

before_each(function()
  tmp = os.tmpname()
  os.remove(tmp)
  sh("mkdir -p '" .. tmp .. "'")
end)

after_each(function()
  if tmp and tmp:match("^/tmp/") then os.execute("rm -rf '" .. tmp .. "'") end
end)

describe("IDX files", function()
  local function check_images(X, n, d, scale)
    local rn, rd = X:shape()
    assert.are.equal(n, rn)
    assert.are.equal(d, rd)
    for i = 0, n - 1 do
      for j = 0, d - 1 do
        assert.are.equal(f32(pixel(i, j) * scale), X:get(i + 1, j + 1))
      end
    end
  end

  it("reads raw and gzip images with the same values", function()
    local raw = write("img-idx3-ubyte", idx_images(5, 4, 3))
    check_images(core.idx_images(raw), 5, 12, 1)
    check_images(core.idx_images(raw, 2), 5, 12, 2)
    local gz = gzip(write("img2-idx3-ubyte", idx_images(5, 4, 3)))
    check_images(core.idx_images(gz), 5, 12, 1)
  end)

  it("scales by 1/255 into [0, 1], exactly k/255 in float32", function()
    local X = core.idx_images(gzip(write("img", string.pack(">I4I4I4I4", 0x803, 1, 16, 16)
      .. (function() local t = {} for k = 0, 255 do t[#t + 1] = string.char(k) end return table.concat(t) end)())), 1 / 255)
    assert.are.equal(0, X:get(1, 1))
    assert.are.equal(1, X:get(1, 256))
    for k = 0, 255 do assert.are.equal(f32(k / 255), X:get(1, k + 1)) end
  end)

  it("reads raw and gzip labels", function()
    local vals = {9, 0, 0, 3, 255, 7}
    for _, p in ipairs({write("lab-idx1-ubyte", idx_labels(vals)),
                        gzip(write("lab2-idx1-ubyte", idx_labels(vals)))}) do
      local y = core.idx_labels(p)
      assert.are.equal(#vals, #y)
      assert.are.same(vals, y:to_table())
    end
  end)

  it("names the file and both magic numbers when the magic is wrong", function()
    local lab = gzip(write("labels-idx1-ubyte", idx_labels({1, 2, 3})))
    local e = err_of(core.idx_images, lab)
    has(e, lab)
    has(e, "magic number 0x00000801, expected 0x00000803")
    has(e, "IDX label file")
    local img = write("images-idx3-ubyte", idx_images(2, 2, 2))
    e = err_of(core.idx_labels, img)
    has(e, img)
    has(e, "magic number 0x00000803, expected 0x00000801")
    e = err_of(core.idx_images, write("junk", "PK\3\4 this is a zip file, not IDX"))
    has(e, "is not an IDX image file: magic number 0x504B0304")
  end)

  it("reports truncated data with the expected and actual byte counts", function()
    local full = idx_images(3, 2, 3)
    local raw = write("short-idx3-ubyte", full:sub(1, 16 + 2 * 6 + 1))
    local e = err_of(core.idx_images, raw)
    has(e, raw)
    has(e, "truncated: expected 18 bytes of pixel data, got 13")
    -- the same, compressed: the gzip stream itself is complete
    local gz = gzip(write("short2-idx3-ubyte", full:sub(1, 16 + 12)))
    e = err_of(core.idx_images, gz)
    has(e, gz)
    has(e, "expected 18 bytes of pixel data, got 12")
    -- labels
    local lab = write("short-idx1-ubyte", idx_labels({1, 2, 3, 4}):sub(1, 10))
    has(err_of(core.idx_labels, lab), "truncated: expected 4 bytes of labels, got 2")
    -- a header cut short
    has(err_of(core.idx_images, write("hdr", full:sub(1, 9))), "truncated: expected 16 bytes of IDX header, got 9")
    has(err_of(core.idx_images, write("empty", "")), "is empty")
  end)

  it("reports a gzip file cut short", function()
    local gz = gzip(write("cut-idx3-ubyte", idx_images(40, 28, 28)))
    local bytes = read(gz)
    local cut = write("cut2.gz", bytes:sub(1, #bytes // 2))
    local e = err_of(core.idx_images, cut)
    has(e, cut)
    has(e, "truncated")
    -- all the data present but the 8-byte gzip trailer (CRC, size) missing
    local notrailer = write("notrailer.gz", bytes:sub(1, #bytes - 8))
    has(err_of(core.idx_images, notrailer), "truncated")
  end)

  it("reports a corrupt gzip stream (bytes flipped in the middle)", function()
    local gz = gzip(write("corrupt-idx3-ubyte", idx_images(40, 28, 28)))
    local bytes = read(gz)
    local mid = #bytes // 2
    local flipped = {}
    for k = mid, mid + 7 do flipped[#flipped + 1] = string.char(bytes:byte(k) ~ 0xA5) end
    local bad = write("corrupt.gz", bytes:sub(1, mid - 1) .. table.concat(flipped) .. bytes:sub(mid + 8))
    local e = err_of(core.idx_images, bad)
    has(e, bad)
    has(e, "is a corrupt gzip stream (")
    -- data that inflates fine but does not match the stored CRC-32 (the trailer's first 4 bytes):
    -- the reader drains the stream to its end so that zlib checks it
    local at = #bytes - 7
    local crc = write("crc.gz", bytes:sub(1, at - 1) .. string.char(bytes:byte(at) ~ 0x01) .. bytes:sub(at + 1))
    has(err_of(core.idx_images, crc), "is a corrupt gzip stream (incorrect data check)")
  end)

  it("refuses absurd dimensions and headers that promise more than the file holds", function()
    local e = err_of(core.idx_images, write("huge", string.pack(">I4I4I4I4", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF)))
    has(e, "absurd dimensions")
    e = err_of(core.idx_images, write("zero", string.pack(">I4I4I4I4", 0x803, 10, 0, 28)))
    has(e, "absurd dimensions")
    -- a tiny gzip file cannot honestly hold 4 GB: refused before any allocation
    local gz = gzip(write("promise", string.pack(">I4I4I4I4", 0x803, 100000, 200, 200) .. ("\0"):rep(64)))
    e = err_of(core.idx_images, gz)
    has(e, gz)
    has(e, "truncated: expected 4000000000 bytes of pixel data")
    e = err_of(core.idx_labels, write("lab-promise", string.pack(">I4I4", 0x801, 1000) .. "abc"))
    has(e, "expected 1000 bytes of labels, got 3")
  end)

  it("refuses data after what the header announces", function()
    local p = write("long-idx1-ubyte", idx_labels({1, 2}) .. "xyz")
    local e = err_of(core.idx_labels, p)
    has(e, p)
    has(e, "has 3 bytes after the 2 bytes of labels")
  end)

  it("names a missing file and a directory", function()
    local p = path("no-such-file.gz")
    local e = err_of(core.idx_images, p)
    has(e, "cannot open '" .. p .. "'")
    has(e, "No such file or directory")
    has(err_of(core.idx_labels, tmp), "it is a directory")
  end)

  it("loads an empty set (0 images) as a 0×784 matrix", function()
    local X = core.idx_images(write("none", string.pack(">I4I4I4I4", 0x803, 0, 28, 28)))
    assert.are.same({0, 784}, {X:shape()})
  end)
end)

describe(".npy files", function()
  -- a .npy file by hand: version 1.0/2.0/3.0, any header text
  local function npy(header, data, major)
    major = major or 1
    local hlen = major == 1 and string.pack("<I2", #header) or string.pack("<I4", #header)
    return "\x93NUMPY" .. string.char(major, 0) .. hlen .. header .. data
  end

  local function pack_all(fmt, values)
    local t = {}
    for _, v in ipairs(values) do t[#t + 1] = string.pack(fmt, v) end
    return table.concat(t)
  end

  local function rows_of(X)
    local n, d = X:shape()
    local t = {}
    for i = 1, n do for j = 1, d do t[#t + 1] = X:get(i, j) end end
    return t
  end

  it("round-trips a float32 matrix and labels through save_npy", function()
    local X = fm.matrix.random(37, 5, {seed = 3, distribution = "normal"})
    X:set(1, 1, -0.0)
    X:set(2, 2, 3.4028234663852886e38)
    X:set(3, 3, 1e-40)   -- subnormal
    local p = path("x.npy")
    X:save_npy(p)
    local Y = fm.data.load(p)
    assert.are.same({X:shape()}, {Y:shape()})
    assert.are.same(rows_of(X), rows_of(Y))
    assert.are.same(rows_of(X), rows_of(core.npy_load(p)))

    local y = fm.labels({3, -1, 0, 2147483647, -2147483648, 7})
    local q = path("y.npy")
    y:save_npy(q)
    assert.are.same(y:to_table(), fm.data.load_labels(q):to_table())
    assert.are.same(y:to_table(), core.npy_load_labels(q):to_table())
  end)

  it("writes numpy's exact header layout, data aligned on 64 bytes", function()
    local p = path("layout.npy")
    fm.matrix({{1, 2, 3}, {4, 5, 6}}):save_npy(p)
    local bytes = read(p)
    assert.are.equal("\x93NUMPY\1\0", bytes:sub(1, 8))
    local hlen = string.unpack("<I2", bytes, 9)
    assert.are.equal(0, (10 + hlen) % 64)
    local header = bytes:sub(11, 10 + hlen)
    -- numpy ≥ 1.24: sorted keys, room for the first axis to grow to 21 digits, spaces, newline
    local dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" .. (" "):rep(20)
    assert.are.equal(dict, header:sub(1, #dict))
    assert.truthy(header:sub(#dict + 1):match("^ *\n$"))
    assert.are.equal(10 + hlen + 6 * 4, #bytes)
    assert.are.equal(pack_all("<f", {1, 2, 3, 4, 5, 6}), bytes:sub(11 + hlen))

    local q = path("layout_y.npy")
    fm.labels({1, 2, 3}):save_npy(q)
    local yb = read(q)
    local ylen = string.unpack("<I2", yb, 9)
    assert.are.equal(0, (10 + ylen) % 64)
    assert.truthy(yb:find("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 1, true))

    -- when numpy is installed it must read the same numbers back; the layout checks above
    -- stand on their own when it is not
    if os.execute("/usr/bin/python3 -c 'import numpy' 2>/dev/null") then
      local out = io.popen(("/usr/bin/python3 -c \"import numpy as n; a = n.load('%s'); b = n.load('%s'); "
        .. "print(a.dtype, a.shape, a.ravel().tolist(), b.dtype, b.tolist())\""):format(p, q)):read("a")
      assert.are.equal("float32 (2, 3) [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] int32 [1, 2, 3]\n", out)
    end
  end)

  it("reads float64, uint8, int8, int32, int64 and bool, 1-D as one column", function()
    local vals = {1.5, -2.25, 1e-3, 100}
    local X = core.npy_load(write("f8.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }\n",
      pack_all("<d", vals))))
    assert.are.same({2, 2}, {X:shape()})
    assert.are.same({f32(1.5), f32(-2.25), f32(1e-3), 100}, rows_of(X))

    X = core.npy_load(write("u1.npy", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n", "\0\127\255")))
    assert.are.same({3, 1}, {X:shape()})
    assert.are.same({0, 127, 255}, rows_of(X))
    X = core.npy_load(write("u1b.npy", npy("{'descr': '<u1', 'fortran_order': False, 'shape': (1, 2), }\n", "\1\2")))
    assert.are.same({1, 2}, rows_of(X))
    X = core.npy_load(write("i1.npy", npy("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }\n", "\255\128")))
    assert.are.same({-1, -128}, rows_of(X))
    X = core.npy_load(write("b1.npy", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }\n", "\0\1\1")))
    assert.are.same({0, 1, 1}, rows_of(X))

    local i4 = write("i4.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }\n",
      pack_all("<i4", {7, -3, 0, 123456})))
    assert.are.same({7, -3, 0, 123456}, rows_of(core.npy_load(i4)))
    assert.are.same({7, -3, 0, 123456}, core.npy_load_labels(i4):to_table())

    local i8 = write("i8.npy", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }\n",
      pack_all("<i8", {5, -5, 2147483647})))
    assert.are.same({5, -5, 2147483647}, core.npy_load_labels(i8):to_table())
  end)

  it("parses v2.0 and v3.0 headers, keys in any order, other quotes and spacing", function()
    local data = pack_all("<f", {1, 2, 3, 4, 5, 6})
    local v2 = write("v2.npy", npy('{ "shape" : ( 3 , 2 ) ,"fortran_order":False,  "descr":"<f4"}      \n', data, 2))
    local X = core.npy_load(v2)
    assert.are.same({3, 2}, {X:shape()})
    assert.are.same({1, 2, 3, 4, 5, 6}, rows_of(X))
    local v3 = write("v3.npy", npy("{'fortran_order': False, 'shape': (2, 3), 'descr': '<f4', }\n", data, 3))
    assert.are.same({2, 3}, {core.npy_load(v3):shape()})
    -- a 3-D stack of images flattens to one row per image; big-endian data is swapped
    local s3 = write("s3.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 3), }\n", data))
    assert.are.same({2, 3}, {core.npy_load(s3):shape()})
    local be = write("be.npy", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }\n",
      pack_all(">f", {1, 2, 3, 4, 5, 6})))
    assert.are.same({1, 2, 3, 4, 5, 6}, rows_of(core.npy_load(be)))
  end)

  it("refuses Fortran order, truncated data, bad magic, odd dtypes and bad labels", function()
    local data = pack_all("<f", {1, 2, 3, 4})
    local p = write("fortran.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", data))
    local e = err_of(core.npy_load, p)
    has(e, p)
    has(e, "Fortran")

    p = write("trunc.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", data))
    e = err_of(core.npy_load, p)
    has(e, p)
    has(e, "truncated: expected 24 bytes of <f4 data, got 16")

    p = write("long.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", data))
    has(err_of(core.npy_load, p), "4 bytes after the 12 bytes of data")

    p = write("magic.npy", "\x93NUMPZ\1\0" .. string.pack("<I2", 4) .. "{}\n " .. data)
    e = err_of(core.npy_load, p)
    has(e, p)
    has(e, "is not a .npy file")

    p = write("c8.npy", npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", data))
    has(err_of(core.npy_load, p), "dtype '<c8'")
    p = write("struct.npy", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }\n", data))
    has(err_of(core.npy_load, p), "structured array")
    p = write("noshape.npy", npy("{'descr': '<f4', 'fortran_order': False, }\n", data))
    has(err_of(core.npy_load, p), "no 'shape'")
    p = write("ver.npy", "\x93NUMPY\4\0" .. string.pack("<I2", 2) .. "{}")
    has(err_of(core.npy_load, p), "version 4.0")

    p = write("big.npy", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n",
      pack_all("<i8", {1, 2147483648})))
    e = err_of(core.npy_load_labels, p)
    has(e, p)
    has(e, "element 2 (2147483648) is not an integer that fits int32")
    p = write("frac.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", pack_all("<f", {1, 2.5})))
    has(err_of(core.npy_load_labels, p), "element 2 (2.5)")
    p = write("mat.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }\n", pack_all("<i4", {1, 2, 3, 4})))
    has(err_of(core.npy_load_labels, p), "shape (2, 2); labels need a 1-D array")

    has(err_of(core.npy_load, path("missing.npy")), "cannot open '" .. path("missing.npy") .. "'")
  end)
end)

describe("CSV files", function()
  local function rows_of(X)
    local n, d = X:shape()
    local t = {}
    for i = 1, n do
      local r = {}
      for j = 1, d do r[j] = X:get(i, j) end
      t[i] = r
    end
    return t
  end

  it("reads numbers without a header", function()
    local X = core.csv_load(write("a.csv", "1,2,3\n4,5.5,-6e-1\n"))
    assert.are.same({{1, 2, 3}, {4, 5.5, f32(-0.6)}}, rows_of(X))
    -- the very first line counts as data when every field is a number
    assert.are.same({{1, 2}}, rows_of(fm.data.load(write("b.csv", "1,2"))))
  end)

  it("detects a header, and accepts CRLF, spaces, quotes, blank lines and a BOM", function()
    local p = write("h.csv", "\xEF\xBB\xBF\"x\",y, z\r\n 1 , \"2\",3\r\n\r\n4,5,6\r\n")
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, rows_of(core.csv_load(p)))
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, rows_of(fm.data.load(p, {header = true})))
    -- header = true skips a numeric first line; header = false makes a word an error
    assert.are.same({{4, 5, 6}}, rows_of(core.csv_load(write("n.csv", "1,2,3\n4,5,6\n"), true)))
    local e = err_of(core.csv_load, p, false)
    has(e, p)
    has(e, "line 1, column 1: 'x' is not a number")
  end)

  it("names the line and the counts of a ragged row", function()
    local p = write("ragged.csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n")
    local e = err_of(core.csv_load, p)
    has(e, p)
    has(e, "line 4 has 2 fields, expected 3 (as on line 1)")
    p = write("ragged2.csv", "1,2\n3,4,5\n")
    has(err_of(core.csv_load, p), "line 2 has 3 fields, expected 2")
    p = write("ragged3.csv", "x,y,z\n1,2\n")
    has(err_of(core.csv_load, p), "line 2 has 2 fields but the header (line 1) has 3")
  end)

  it("names line and column of a non-number and of an empty field", function()
    local p = write("nan.csv", "1,2,3\n4,five,6\n")
    local e = err_of(core.csv_load, p)
    has(e, p)
    has(e, "line 2, column 2: 'five' is not a number")
    has(err_of(core.csv_load, write("e.csv", "1,2,3\n4,,6\n")), "line 2, column 2: empty field")
    has(err_of(core.csv_load, write("t.csv", "1,2,3\n4,5,\n")), "line 2, column 3: empty field")
    has(err_of(core.csv_load, write("q.csv", "1,\"2,3\n")), "line 1, column 2: unbalanced quotes")
    has(err_of(core.csv_load, write("x.csv", "1,2\n3,4e\n")), "line 2, column 2: '4e' is not a number")
    has(err_of(core.csv_load, write("h1.csv", "x,y\n")), "holds a header line but no data")
    has(err_of(core.csv_load, write("empty.csv", "\n\n")), "holds no data")
    has(err_of(core.csv_load, write("bin.csv", "1,2\n\0\1")), "not a CSV text file")
    has(err_of(core.csv_load, path("nope.csv")), "cannot open '" .. path("nope.csv") .. "'")
  end)

  it("round-trips float32 exactly through save_csv (%.9g)", function()
    local X = fm.matrix.random(200, 7, {seed = 11, distribution = "normal"})
    local specials = {0, -0.0, 1, -1, 1e-30, 3.4028234663852886e38, 1.401298464324817e-45, 123456792, 0.1, 1 / 3}
    for k, v in ipairs(specials) do X:set(k, 1, v) end
    local p = path("rt.csv")
    X:save_csv(p)
    local Y = fm.data.load(p)
    assert.are.same(rows_of(X), rows_of(Y))
    -- the text is printf's: check a line
    local first = read(p):match("^[^\n]*")
    assert.are.equal(("%.9g"):format(X:get(1, 2)), first:match("^0,([^,]*)"))
  end)
end)

describe("fm.data.load", function()
  it("dispatches on the extension and refuses unknown ones", function()
    local p = write("t-images-idx3-ubyte", string.pack(">I4I4I4I4", 0x803, 1, 1, 2) .. "\0\255")
    assert.are.equal(1, fm.data.load(p):get(1, 2))
    assert.are.equal(255, fm.data.load(p, {scale = 1}):get(1, 2))
    local y = fm.data.load_labels(gzip(write("t-labels-idx1-ubyte", idx_labels({4, 2}))))
    assert.are.same({4, 2}, y:to_table())
    local e = err_of(fm.data.load, path("x.parquet"))
    has(e, "bad argument #1 to 'load'")
    has(e, "x.parquet")
    has(err_of(fm.data.load, path("x.csv"), {headr = true}), "unknown option 'headr'")
  end)
end)
