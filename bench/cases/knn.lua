-- The k = 15 nearest-neighbour graph of all images: NN-descent (timed; recall@15 against exact
-- neighbours of 2,000 sampled rows) and exact tiled-GEMM search, against pynndescent as umap-learn
-- configures it.
local K, SAMPLE = 15, 2000

-- recall of graph indices G (n×K) on the sampled rows against exact neighbours (queried K + 1,
-- the row itself dropped)
local function sampled_recall(fm, X, G, rows)
  local I = fm.knn_query(X, X:rows(rows), K + 1)
  local hits = 0
  for a, r in ipairs(rows) do
    local truth, c = {}, 0
    for j = 1, K + 1 do
      local v = I:get(a, j)
      if v ~= r and c < K then truth[v] = true; c = c + 1 end
    end
    for j = 1, K do if truth[G:get(r, j)] then hits = hits + 1 end end
  end
  return hits / (#rows * K)
end

return {
  work = function(ctx) return ("k=%d graph of %s×784"):format(K, ctx.quick and "10,000" or "70,000") end,
  run = function(ctx)
    local fm = ctx.fm
    local D = ctx.data()
    local n = #D.X
    local perm = fm.permutation(n, {seed = 1})
    local rows = {}
    for i = 1, math.min(SAMPLE, n) do rows[i] = perm[i] end
    fm.knn(D.X:slice(1, 2000), {k = K, method = "nndescent"})   -- warm-up: thread pool, pages
    local secs, g = ctx.time(function() return fm.knn(D.X, {k = K, method = "nndescent", seed = 0}) end)
    local recall = sampled_recall(fm, D.X, g.indices, rows)
    local esecs, ge = ctx.time(function() return fm.knn(D.X, {k = K, method = "exact"}) end)
    local erecall = sampled_recall(fm, D.X, ge.indices, rows)
    local peer, out = ctx.peer("knn.py", {X_path = D.X_path, k = K, sample = SAMPLE})
    return {
      fm_seconds = secs,
      fm_quality = ("NN-descent recall@15 %.4f (%d rounds); exact %.1f s, recall %.4f"):format(
        recall, g.n_iter or 0, esecs, erecall),
      peer = "pynndescent",
      peer_seconds = peer and peer.seconds,
      peer_quality = peer and ("recall@15 %.4f"):format(peer.recall) or ("failed: " .. tostring(out)),
      target = "recall ≥ 0.95, faster than pynndescent",
    }
  end,
}
