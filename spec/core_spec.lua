-- The matrix and labels types, random streams, threads and the BLAS kernel.
local fm = require "fmclust"
local H = require "spec.helper"

describe("fm.matrix", function()
  it("builds from rows and answers shape, #, get, set", function()
    local X = fm.matrix{{1, 2, 3}, {4, 5, 6}}
    local n, d = X:shape()
    assert.are.equal(2, n)
    assert.are.equal(3, d)
    assert.are.equal(2, #X)
    assert.are.equal(6, X:get(2, 3))
    X:set(1, 2, 7.5)
    assert.are.equal(7.5, X:get(1, 2))
    assert.are.same({{1, 7.5, 3}, {4, 5, 6}}, X:to_table())
    assert.matches("fmclust.matrix 2×3", tostring(X))
  end)

  it("zeros, copy, reshape, cols", function()
    local Z = fm.matrix.zeros(3, 4)
    assert.are.same({{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}, Z:to_table())
    local X = fm.matrix{{1, 2}, {3, 4}, {5, 6}}
    local C = X:copy()
    C:set(1, 1, 9)
    assert.are.equal(1, X:get(1, 1))
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, X:reshape(2, 3):to_table())
    assert.are.same({{2}, {4}, {6}}, X:cols(2):to_table())
    assert.has_error(function() X:reshape(4, 2) end)
  end)

  it("selects rows by 1-based indices, by labels, and slices", function()
    local X = fm.matrix{{1}, {2}, {3}, {4}}
    assert.are.same({{3}, {1}}, X:rows{3, 1}:to_table())
    assert.are.same({{4}, {4}}, X:rows(fm.labels{4, 4}):to_table())
    local y = fm.labels{0, 1, 0, 1}
    assert.are.same({{2}, {4}}, X:rows(y, 1):to_table())
    assert.are.same({{2}, {3}}, X:slice(2, 3):to_table())
    assert.are.same({{3}, {4}}, X:slice(-2):to_table())
    assert.are.equal(0, #X:slice(3, 2))
    assert.has_error(function() X:rows{0} end)
    assert.has_error(function() X:rows{5} end)
    assert.has_error(function() X:slice(6) end)
  end)

  it("column means and stds match direct sums", function()
    local X = fm.matrix.random(1000, 5, {seed = 3})
    local m, s = X:col_means(), X:col_stds()
    local t = X:to_table()
    for j = 1, 5 do
      local sum, sum2 = 0, 0
      for i = 1, 1000 do sum = sum + t[i][j] end
      local mean = sum / 1000
      for i = 1, 1000 do sum2 = sum2 + (t[i][j] - mean) ^ 2 end
      assert.is_true(math.abs(m:get(1, j) - mean) < 1e-6)
      assert.is_true(math.abs(s:get(1, j) - math.sqrt(sum2 / 1000)) < 1e-6)
    end
  end)

  it("matmul equals the triple loop, with transposes", function()
    local A = fm.matrix.random(7, 5, {seed = 1, distribution = "normal"})
    local B = fm.matrix.random(5, 3, {seed = 2, distribution = "normal"})
    local C = A:matmul(B)
    local a, b = A:to_table(), B:to_table()
    for i = 1, 7 do
      for j = 1, 3 do
        local s = 0
        for k = 1, 5 do s = s + a[i][k] * b[k][j] end
        assert.is_true(math.abs(C:get(i, j) - s) < 1e-4)
      end
    end
    local Ct = A:matmul(A, true, false)   -- AᵀA is 5×5 and symmetric
    assert.are.same({5, 5}, {Ct:shape()})
    assert.is_true(math.abs(Ct:get(2, 4) - Ct:get(4, 2)) < 1e-5)
    assert.has_error(function() A:matmul(A) end)
  end)

  it("is freed by close and by to-be-closed variables", function()
    local X = fm.matrix.zeros(10, 10)
    X:close()
    X:close()   -- idempotent
    assert.has_error(function() X:shape() end, "calling 'shape' on bad self (matrix is closed)")
    assert.matches("closed", tostring(X))
    do
      local Y <close> = fm.matrix.zeros(2, 2)
      assert.are.equal(2, #Y)
    end
  end)

  it("rejects bad input with errors naming the argument", function()
    assert.has_error(function() fm.matrix(5) end, "bad argument #1 to 'matrix' (table of rows expected, got number)")
    assert.has_error(function() fm.matrix{{1, 2}, {3}} end)
    assert.has_error(function() fm.matrix{{1, "x"}} end)
    assert.has_error(function() fm.matrix.zeros(-1, 2) end)
    local X = fm.matrix{{1, 2}}
    assert.has_error(function() X:get(2, 1) end, "bad argument #1 to 'get' (row index 2 out of range 1..1)")
    assert.has_error(function() X:get(1, 3) end)
  end)

  it("detects NaN and Inf", function()
    local X = fm.matrix{{1, 2}, {3, 4}}
    assert.is_false(X:has_nonfinite())
    X:set(2, 1, 0 / 0)
    assert.is_true(X:has_nonfinite())
    X:set(2, 1, math.huge)
    assert.is_true(X:has_nonfinite())
  end)
end)

describe("fm.labels", function()
  it("indexes 1-based, counts, converts", function()
    local y = fm.labels{3, -1, 3, 0}
    assert.are.equal(4, #y)
    assert.are.equal(3, y[1])
    assert.are.equal(-1, y[2])
    assert.is_nil(y[5])
    y[4] = 7
    assert.are.same({3, -1, 3, 7}, y:to_table())
    assert.are.same({[3] = 2, [-1] = 1, [7] = 1}, y:counts())
    assert.matches("fmclust.labels 4", tostring(y))
  end)

  it("rejects non-integers and out-of-range writes", function()
    assert.has_error(function() fm.labels{1, 2.5} end)
    assert.has_error(function() fm.labels{1, "a"} end)
    assert.has_error(function() fm.labels{2 ^ 40} end)
    local y = fm.labels{1}
    assert.has_error(function() y[2] = 1 end)
    assert.has_error(function() y[1] = 2.5 end)
  end)
end)

describe("random streams", function()
  it("uniform values lie in [0, 1) with the right mean and variance", function()
    local X = fm.matrix.random(20000, 5, {seed = 11})
    local m, s = X:col_means(), X:col_stds()
    for j = 1, 5 do
      assert.is_true(math.abs(m:get(1, j) - 0.5) < 0.01)
      assert.is_true(math.abs(s:get(1, j) - math.sqrt(1 / 12)) < 0.01)
    end
    local t = X:slice(1, 1000):to_table()
    for i = 1, 1000 do for j = 1, 5 do assert.is_true(t[i][j] >= 0 and t[i][j] < 1) end end
  end)

  it("normal values have mean 0 and sd 1", function()
    local X = fm.matrix.random(50000, 2, {seed = 5, distribution = "normal"})
    local m, s = X:col_means(), X:col_stds()
    for j = 1, 2 do
      assert.is_true(math.abs(m:get(1, j)) < 0.02)
      assert.is_true(math.abs(s:get(1, j) - 1) < 0.02)
    end
  end)

  it("the same seed gives the same numbers, another seed others", function()
    local a = fm.matrix.random(100, 3, {seed = 9}):to_table()
    local b = fm.matrix.random(100, 3, {seed = 9}):to_table()
    local c = fm.matrix.random(100, 3, {seed = 10}):to_table()
    assert.are.same(a, b)
    assert.are_not.same(a, c)
  end)

  it("is identical with 1 and 2 threads (in process and with OMP_NUM_THREADS)", function()
    fm.set_threads(1)
    local one = fm.matrix.random(30000, 3, {seed = 4, distribution = "normal"}):slice(29990):to_table()
    fm.set_threads(2)
    local two = fm.matrix.random(30000, 3, {seed = 4, distribution = "normal"}):slice(29990):to_table()
    assert.are.same(one, two)
    local code = [[
      local fm = require "fmclust"
      local X = fm.matrix.random(30000, 3, {seed = 4, distribution = "normal"})
      local p = fm.permutation(1000, {seed = 2})
      io.write(fm.info().omp_threads, " ", ("%.9g"):format(X:get(29999, 2)), " ", p[1], " ", p[1000])
    ]]
    local o1 = H.run_lua(code, {OMP_NUM_THREADS = "1"})
    local o2 = H.run_lua(code, {OMP_NUM_THREADS = "2"})
    assert.matches("^1 ", o1)
    assert.matches("^2 ", o2)
    assert.are.equal(o1:sub(3), o2:sub(3))
  end)

  it("permutations hold each of 1..n once", function()
    local p = fm.permutation(1000, {seed = 1})
    local seen = {}
    for i = 1, 1000 do
      assert.is_nil(seen[p[i]])
      seen[p[i]] = true
    end
    for i = 1, 1000 do assert.is_true(seen[i]) end
  end)
end)

describe("threads and BLAS", function()
  it("info reports the kernel and thread counts", function()
    local info = fm.info()
    assert.are.equal(fm.version, info.version)
    assert.is_string(info.blas_core)
    assert.is_true(info.omp_threads >= 1)
    assert.is_true(info.blas_threads >= 1)
    fm.set_threads(1)
    assert.are.equal(1, fm.info().omp_threads)
    assert.are.equal(1, fm.info().blas_threads)
    fm.set_threads(2)
    assert.are.equal(2, fm.info().omp_threads)
    assert.has_error(function() fm.set_threads(0) end)
  end)

  it("picks the AVX-512 kernel by itself, and a user's OPENBLAS_CORETYPE wins", function()
    local f = io.open("/proc/cpuinfo")
    local cpu = f and f:read("a") or ""
    if f then f:close() end
    local code = [[local fm = require "fmclust"; io.write(fm.info().blas_core)]]
    local auto = H.run_lua(code, {OPENBLAS_CORETYPE = ""})
    if cpu:find(" avx512f ") and cpu:find(" avx512bw ") and cpu:find(" avx512vl ") and cpu:find(" avx512dq ") then
      assert.are.equal("SkylakeX", auto)
    else
      assert.is_true(#auto > 0)
    end
    assert.are.equal("Prescott", H.run_lua(code, {OPENBLAS_CORETYPE = "Prescott"}))
  end)
end)
