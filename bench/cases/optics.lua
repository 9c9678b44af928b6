-- OPTICS (min_samples 10, ξ = 0.05, min_cluster_size 0.05, max_eps = ∞) on the 10-d embedding of
-- bench/cases/embedding.lua. scikit-learn's OPTICS walks in Python with a radius query per point
-- (O(n²) with max_eps = ∞, tens of minutes on 70,000 points), so the timed comparison runs both on
-- the first 10,000 rows; fmclust on all 70,000 is reported in the quality column.
local shared = dofile("bench/cases/embedding.lua")
local SUB = 10000

local function first_rows(Z, m)
  local idx = {}
  for i = 1, m do idx[i] = i end
  return Z:rows(idx)
end

return {
  work = function(ctx)
    return ("min_samples 10, ξ 0.05 on 10,000×10 %s (fmclust also 70,000)"):format(shared.kind(ctx))
  end,
  run = function(ctx)
    local fm = ctx.fm
    local E = shared.embedding(ctx)
    local n = E.Z:shape()
    local m = math.min(SUB, n)
    local Zs = first_rows(E.Z, m)
    local ys = {}
    for i = 1, m do ys[i] = E.y[i] end
    ys = fm.labels(ys)
    local opts = {min_samples = 10, xi = 0.05, min_cluster_size = 0.05}
    local secs, res = ctx.time(function() return fm.optics(Zs, opts) end)
    local q = ("%d clusters, ARI %.3f"):format(res.n_clusters, fm.metrics.ari(ys, res.labels))
    if n > m then
      local s2, r2 = ctx.time(function() return fm.optics(E.Z, opts) end)
      q = q .. ("; all %d rows: %.1f s, peak RSS %.0f MB, %d clusters, ARI %.3f"):format(n, s2,
        (ctx.peak_rss_kb() or 0) / 1024, r2.n_clusters, fm.metrics.ari(E.y, r2.labels))
    end
    local peer, out = ctx.peer("optics.py", {X = E.path, y = E.y_path, rows = m, min_samples = 10, xi = 0.05,
      min_cluster_size = 0.05})
    -- agreement with scikit-learn's labels on the same rows
    if peer and peer.labels then
      q = q .. ("; ARI vs sklearn %.4f"):format(fm.metrics.ari(fm.labels(peer.labels), res.labels))
    end
    return {
      fm_seconds = secs,
      fm_quality = q,
      peer = "sklearn OPTICS",
      peer_seconds = peer and peer.seconds,
      peer_quality = peer and ("%d clusters, ARI %.3f"):format(peer.n_clusters, peer.ari) or ("failed: " .. tostring(out)),
      target = "same labels, faster",
    }
  end,
}
