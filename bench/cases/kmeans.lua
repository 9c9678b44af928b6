-- K-Means, k = 10, n_init = 10, on the raw pixels (all 784 columns) against scikit-learn's Lloyd.
-- Quality: the inertia (lower is better) and the agreement with the 10 classes (ARI, AMI).
local K, N_INIT = 10, 10

local function quality(inertia, ari, ami)
  return ("inertia %.8g, ARI %.3f, AMI %.3f"):format(inertia, ari, ami)
end

return {
  work = function(ctx)
    return ("k=%d, n_init=%d on %s×784"):format(K, N_INIT, ctx.quick and "10,000" or "70,000")
  end,
  run = function(ctx)
    local fm = ctx.fm
    local D = ctx.data()
    local secs, res = ctx.time(function() return fm.kmeans(D.X, {n_clusters = K, n_init = N_INIT, seed = 0}) end)
    local peer, out = ctx.peer("kmeans.py", {X = D.X_path, y = D.y_path, k = K, n_init = N_INIT, seed = 0})
    return {
      fm_seconds = secs,
      fm_quality = quality(res.inertia, fm.metrics.ari(D.y, res.labels), fm.metrics.ami(D.y, res.labels)),
      peer = "sklearn KMeans(lloyd)",
      peer_seconds = peer and peer.seconds,
      peer_quality = peer and quality(peer.inertia, peer.ari, peer.ami) or ("failed: " .. tostring(out)),
      target = "≥ 5× faster, inertia ≤ peer",
    }
  end,
}
