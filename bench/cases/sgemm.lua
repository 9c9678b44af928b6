-- SGEMM through the module: the ceiling every GEMM-shaped kernel here works under.
return {
  work = function(ctx) return ctx.quick and "SGEMM 2048³" or "SGEMM 4096³" end,
  run = function(ctx)
    local fm = ctx.fm
    local n = ctx.quick and 2048 or 4096
    local A = fm.matrix.random(n, n, {seed = 1})
    local B = fm.matrix.random(n, n, {seed = 2})
    A:matmul(B)   -- warm up: thread pool, page faults
    local best = math.huge
    for _ = 1, 3 do
      local t = ctx.time(function() return A:matmul(B) end)
      best = math.min(best, t)
    end
    local peer = ctx.peer("sgemm.py", {n = n})
    local gf = 2 * n ^ 3 / best / 1e9
    return {
      fm_seconds = best, fm_quality = ("%.0f GFLOP/s (%s)"):format(gf, fm.info().blas_core),
      peer = "numpy", peer_seconds = peer and peer.seconds,
      peer_quality = peer and ("%.0f GFLOP/s (%s)"):format(2 * n ^ 3 / peer.seconds / 1e9, peer.core or "?"),
      target = "≈230 GFLOP/s",
    }
  end,
}
