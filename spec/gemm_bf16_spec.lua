-- The bfloat16 GEMM (src/gemm_bf16.c) through fm.core.gemm_bf16(A, B, ta, tb, alpha, beta, C):
-- against double-precision products computed here (of the float32 inputs, and of the inputs
-- rounded to bfloat16 by round-to-nearest-even), on shapes that miss the 12×32 tile and the
-- 2048-deep K blocks, and narrow ones (n ≤ 16, computed as their transpose); the rounding rule itself on ties; beta = 0 not reading C; the same bits with
-- 1 and 2 threads; the float32 fallback without AVX512-BF16; bad arguments.
local fm = require "fmclust"
local H = require "spec.helper"
local core = fm.core

-- x (a float32 value) rounded to bfloat16, round to nearest, ties to even — as VCVTNE2PS2BF16
local function bf16(x)
  local u = string.unpack("<I4", string.pack("<f", x))
  local lsb = (u >> 16) & 1
  u = (u + 0x7FFF + lsb) & 0xFFFF0000
  return (string.unpack("<f", string.pack("<I4", u)))
end

-- op(A) element (i, k) of a Lua table matrix
local function op(T, tr, i, k) if tr then return T[k][i] else return T[i][k] end end

-- checks C = alpha·op(A)·op(B) + beta·C0 element by element:
--   against the exact product: |err| ≤ (2^-7 + (K+4)·2^-23)·(|alpha|·Σ|a·b| + |beta·c0|)
--     (bfloat16 keeps 8 significant bits: each factor's rounding is ≤ 2^-8 relative, so each
--     product's ≤ 2^-7 + 2^-16; then float32 sums)
--   against the product of the bfloat16-rounded inputs (when the CPU has AVX512-BF16):
--     |err| ≤ (K+4)·2^-23·(|alpha|·Σ|â·b̂| + |beta·c0|) — float32 summation only
-- without AVX512-BF16 the call runs float32 SGEMM: then the first bound with 2^-7 dropped.
local function check(m, n, k, ta, tb, alpha, beta, seed)
  local A = fm.matrix.random(ta and k or m, ta and m or k, {seed = seed, distribution = "normal"})
  local B = fm.matrix.random(tb and n or k, tb and k or n, {seed = seed + 1, distribution = "normal"})
  local C = fm.matrix.random(m, n, {seed = seed + 2, distribution = "normal"})
  local At, Bt, C0 = A:to_table(), B:to_table(), C:to_table()
  local function rounded(T)
    local R = {}
    for i, r in ipairs(T) do R[i] = {} for j, v in ipairs(r) do R[i][j] = bf16(v) end end
    return R
  end
  local Ab, Bb = rounded(At), rounded(Bt)
  local out = core.gemm_bf16(A, B, ta, tb, alpha, beta, C)
  assert.are.equal(C, out)   -- in place, and returned
  local Ct = C:to_table()
  local has = core.bf16_available()
  local what = ("%d×%d×%d ta=%s tb=%s alpha=%g beta=%g"):format(m, n, k, ta, tb, alpha, beta)
  local worst, worst_b = 0, 0
  for i = 1, m do
    for j = 1, n do
      local s, sa, sb, sba = 0, 0, 0, 0
      for p = 1, k do
        local a, b = op(At, ta, i, p), op(Bt, tb, p, j)
        s, sa = s + a * b, sa + math.abs(a * b)
        local ab = op(Ab, ta, i, p) * op(Bb, tb, p, j)
        sb, sba = sb + ab, sba + math.abs(ab)
      end
      local c0 = C0[i][j]
      local got = Ct[i][j]
      local scale = math.abs(alpha) * sa + math.abs(beta * c0)
      local tol = ((has and 2 ^ -7 or 0) + (k + 4) * 2 ^ -23) * scale
      local err = math.abs(got - (alpha * s + beta * c0))
      assert.is_true(err <= tol, ("%s: C[%d][%d] = %.9g, exact %.9g, err %.3g > %.3g"):format(what, i, j, got,
        alpha * s + beta * c0, err, tol))
      worst = math.max(worst, err / scale)
      if has then
        local tol_b = (k + 4) * 2 ^ -23 * (math.abs(alpha) * sba + math.abs(beta * c0))
        local err_b = math.abs(got - (alpha * sb + beta * c0))
        assert.is_true(err_b <= tol_b, ("%s: C[%d][%d] = %.9g, bfloat16 product %.9g, err %.3g > %.3g"):format(
          what, i, j, got, alpha * sb + beta * c0, err_b, tol_b))
        worst_b = math.max(worst_b, err_b / scale)
      end
    end
  end
  return worst, worst_b
end

describe("fm.core.gemm_bf16", function()
  it("matches double-precision products on shapes off the 12×32 tile, odd K, all transposes", function()
    local shapes = {
      {1, 1, 1}, {1, 1, 2}, {12, 32, 2}, {13, 33, 3}, {7, 5, 17}, {25, 70, 31}, {3, 100, 64}, {40, 9, 129},
      {17, 16, 64}, {50, 1, 65},
    }
    local seed = 10
    for _, s in ipairs(shapes) do
      for _, t in ipairs{{false, false}, {false, true}, {true, false}, {true, true}} do
        check(s[1], s[2], s[3], t[1], t[2], 1, 0, seed)
        seed = seed + 3
      end
    end
  end)

  it("sums long K in blocks (K > 2048, odd) and applies alpha and beta", function()
    for _, c in ipairs{{7, 37, 2051, false, true, 1, 1}, {13, 5, 4097, true, false, -0.5, 0.7},
                       {31, 12, 513, true, true, 2, -1}, {5, 65, 1025, false, false, 0.25, 0.5}} do
      check(c[1], c[2], c[3], c[4], c[5], c[6], c[7], 100 + c[3])
    end
  end)

  it("is as accurate as bfloat16 inputs allow: random sums within ~2^-8 of the exact ones", function()
    -- Frobenius-relative error of a 64×64×256 product with random signs, against the exact one
    local A = fm.matrix.random(64, 256, {seed = 7, distribution = "normal"})
    local B = fm.matrix.random(256, 64, {seed = 8, distribution = "normal"})
    local C = core.gemm_bf16(A, B)
    local At, Bt, Ct = A:to_table(), B:to_table(), C:to_table()
    local e2, r2 = 0, 0
    for i = 1, 64 do
      for j = 1, 64 do
        local s = 0
        for p = 1, 256 do s = s + At[i][p] * Bt[p][j] end
        e2, r2 = e2 + (Ct[i][j] - s) ^ 2, r2 + s ^ 2
      end
    end
    local rel = math.sqrt(e2 / r2)
    if core.bf16_available() then
      -- each term carries two independent roundings of ≤ 2^-8 (rms ~2^-8/√3·0.75 each), and with
      -- random signs the sum's relative error stays at the terms' rms (~2^-8.6 expected): far
      -- above float32's ~1e-7, far below a wrong layout's ~1
      assert.is_true(rel < 2 ^ -7 and rel > 2 ^ -11, "relative error " .. rel)
    else
      assert.is_true(rel < 1e-6, "relative error " .. rel)
    end
  end)

  it("rounds to nearest, ties to even (not truncation)", function()
    -- 1 + 2^-8 lies halfway between the bfloat16 values 1 and 1 + 2^-7: the even one is 1;
    -- 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: the even one is 1 + 2^-6;
    -- 1 + 2^-8 + 2^-16 is above the halfway point: 1 + 2^-7 (truncation would give 1)
    local A = fm.matrix{{1 + 2 ^ -8}, {1 + 3 * 2 ^ -8}, {1 + 2 ^ -8 + 2 ^ -16}, {-(1 + 3 * 2 ^ -8)}}
    local C = core.gemm_bf16(A, fm.matrix{{1}})
    if core.bf16_available() then
      assert.are.same({{1}, {1 + 2 ^ -6}, {1 + 2 ^ -7}, {-(1 + 2 ^ -6)}}, C:to_table())
    else
      assert.are.same(A:to_table(), C:to_table())
    end
  end)

  it("does not read C when beta = 0 (NaN there stays out), and K = 0 gives beta·C", function()
    local A = fm.matrix.random(20, 40, {seed = 1})
    local B = fm.matrix.random(40, 50, {seed = 2})
    local C = fm.matrix.zeros(20, 50)
    for i = 1, 20 do for j = 1, 50 do C:set(i, j, 0 / 0) end end
    core.gemm_bf16(A, B, false, false, 1, 0, C)
    assert.is_false(C:has_nonfinite())
    local R = core.gemm_bf16(A, B)
    assert.are.same(R:to_table(), C:to_table())
    -- K = 0: an empty inner dimension
    local E1, E2 = fm.matrix.zeros(3, 0), fm.matrix.zeros(0, 4)
    local D = fm.matrix{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}}
    core.gemm_bf16(E1, E2, false, false, 1, 0.5, D)
    assert.are.same({{0.5, 1, 1.5, 2}, {2.5, 3, 3.5, 4}, {4.5, 5, 5.5, 6}}, D:to_table())
  end)

  it("adds a bias to every row and applies ReLU in its epilogue, as a separate pass would", function()
    local f32 = function(x) return (string.unpack("<f", string.pack("<f", x))) end
    -- (the 10-column case runs as its transpose and applies bias and ReLU on the way back)
    for _, c in ipairs{{13, 45, 70, false, true, 0}, {30, 33, 2100, true, false, 0.5}, {60, 10, 300, false, true, 0.5}} do
      local m, n, k, ta, tb, beta = table.unpack(c)
      local A = fm.matrix.random(ta and k or m, ta and m or k, {seed = 3, distribution = "normal"})
      local B = fm.matrix.random(tb and n or k, tb and k or n, {seed = 4, distribution = "normal"})
      local C0 = fm.matrix.random(m, n, {seed = 5, distribution = "normal"})
      local bias = fm.matrix.random(1, n, {seed = 6, distribution = "normal"})
      local plain = core.gemm_bf16(A, B, ta, tb, 1, beta, C0:copy()):to_table()
      local withb = core.gemm_bf16(A, B, ta, tb, 1, beta, C0:copy(), bias):to_table()
      local fused = core.gemm_bf16(A, B, ta, tb, 1, beta, C0:copy(), bias, true):to_table()
      local bt, negative = bias:to_table()[1], 0
      for i = 1, m do
        for j = 1, n do
          local z = f32(plain[i][j] + bt[j])   -- float32 addition (the exact sum fits a double)
          assert.are.equal(z, withb[i][j])
          assert.are.equal(z > 0 and z or 0, fused[i][j])
          if z < 0 then negative = negative + 1 end
        end
      end
      assert.is_true(negative > m * n / 4)   -- ReLU had work to do
    end
    assert.has_error(function() core.gemm_bf16(fm.matrix.zeros(2, 3), fm.matrix.zeros(3, 4), false, false, 1, 0, nil,
      fm.matrix.zeros(1, 3)) end, "bad argument #8 to 'gemm_bf16' (bias must be 1×4, got 1×3)")
  end)

  it("gives the same bits with OMP_NUM_THREADS=1 and 2", function()
    -- shapes big enough to run in parallel (≥ 2^21 multiply-adds), several K blocks, ragged edges
    local code = [[
      local fm = require "fmclust"
      local out = {}
      for _, s in ipairs{{300, 200, 1100, false, true}, {257, 531, 700, true, false}, {40, 2000, 256, true, true},
                         {3000, 45, 300, false, false}, {64, 290, 5001, true, false}, {2000, 10, 2000, false, true}} do
        local m, n, k, ta, tb = table.unpack(s)
        local A = fm.matrix.random(ta and k or m, ta and m or k, {seed = m, distribution = "normal"})
        local B = fm.matrix.random(tb and n or k, tb and k or n, {seed = n, distribution = "normal"})
        local C = fm.matrix.random(m, n, {seed = k})
        fm.core.gemm_bf16(A, B, ta, tb, 0.5, 0.25, C)
        local h = 0
        for _, r in ipairs(C:to_table()) do
          for _, v in ipairs(r) do h = (h * 33 + string.unpack("<I4", string.pack("<f", v))) % 4294967291 end
        end
        out[#out + 1] = h
      end
      print(fm.info().omp_threads, table.concat(out, " "))
    ]]
    local one, ok1 = H.run_lua(code, {OMP_NUM_THREADS = "1"})
    local two, ok2 = H.run_lua(code, {OMP_NUM_THREADS = "2"})
    assert.is_truthy(ok1, one)
    assert.is_truthy(ok2, two)
    assert.are.equal("1", one:match("^(%d+)"))
    assert.are.equal("2", two:match("^(%d+)"))
    assert.are.equal(one:match("%s(.*)$"), two:match("%s(.*)$"))
  end)

  it("falls back to float32 products without AVX512-BF16 (FMCLUST_NO_BF16 set)", function()
    local out, ok = H.run_lua([[
      local fm = require "fmclust"
      local A = fm.matrix.random(30, 300, {seed = 1, distribution = "normal"})
      local B = fm.matrix.random(300, 20, {seed = 2, distribution = "normal"})
      local C, At, Bt = fm.core.gemm_bf16(A, B):to_table(), A:to_table(), B:to_table()
      local worst = 0
      for i = 1, 30 do for j = 1, 20 do
        local s, sa = 0, 0
        for p = 1, 300 do s, sa = s + At[i][p] * Bt[p][j], sa + math.abs(At[i][p] * Bt[p][j]) end
        worst = math.max(worst, math.abs(C[i][j] - s) / sa)
      end end
      print(tostring(fm.core.bf16_available()), worst < 1e-5)
    ]], {FMCLUST_NO_BF16 = "1"})
    assert.is_truthy(ok, out)
    assert.are.same({"false", "true"}, {out:match("^(%S+)%s+(%S+)")})
  end)

  it("rejects mismatched shapes and non-matrices", function()
    local A, B = fm.matrix.zeros(3, 4), fm.matrix.zeros(5, 2)
    assert.has_error(function() core.gemm_bf16(A, B) end, "bad argument #2 to 'gemm_bf16' (inner sizes differ (4 and 5))")
    assert.has_error(function() core.gemm_bf16(A, fm.matrix.zeros(4, 2), false, false, 1, 0, fm.matrix.zeros(2, 2)) end,
      "bad argument #7 to 'gemm_bf16' (C is 2×2, the product is 3×2)")
    assert.has_error(function() core.gemm_bf16(A, "B") end)
    assert.has_error(function() core.gemm_bf16(A, fm.matrix.zeros(4, 2), false, false, 0 / 0) end,
      "bad argument #5 to 'gemm_bf16' (alpha must be finite)")
    local S = fm.matrix.zeros(4, 4)
    assert.has_error(function() core.gemm_bf16(S, fm.matrix.zeros(4, 4), false, false, 1, 1, S) end,
      "bad argument #7 to 'gemm_bf16' (C must not be A or B)")
  end)
end)
