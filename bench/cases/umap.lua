-- UMAP 784 → 10 on all images (kNN graph included in the time), then K-Means(10) and Ward(10) on
-- the embedding: ARI/AMI against the classes, averaged over 3 seeds (1 in quick runs), against umap-learn 0.5.3 on the same .npy
-- (seeded, so umap-learn runs its SGD on one thread — its own rule). Also reported: densMAP and
-- transform times, and trustworthiness (k = 15, 5,000-point sample) of a 2-d embedding computed
-- by the peer's scikit-learn on both embeddings.
local SEEDS_FULL, SEEDS_QUICK = {0, 1, 2}, {0}   -- quick runs (make bench QUICK=1) keep to one seed
local SEEDS = SEEDS_FULL

local function mean(t)
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return s / #t
end

return {
  work = function(ctx)
    SEEDS = ctx.quick and SEEDS_QUICK or SEEDS_FULL
    return ("fit 784→10 on %s images, K-Means(10), %d seeds"):format(ctx.quick and "10,000" or "70,000", #SEEDS)
  end,
  run = function(ctx)
    local fm = ctx.fm
    local D = ctx.data()
    fm.umap(D.X:slice(1, 1000), {n_epochs = 10})   -- warm-up
    local secs, aris, amis, waris, wamis = {}, {}, {}, {}, {}
    for _, s in ipairs(SEEDS) do
      local t, m = ctx.time(function() return fm.umap(D.X, {n_components = 10, seed = s}) end)
      local km = fm.kmeans(m.embedding, {n_clusters = 10, n_init = 10, seed = 0})
      secs[#secs + 1] = t
      aris[#aris + 1] = fm.metrics.ari(D.y, km.labels)
      amis[#amis + 1] = fm.metrics.ami(D.y, km.labels)
      local ok, wd = pcall(fm.ward, m.embedding, {n_clusters = 10})   -- Ward(10) on the same embedding
      if ok then
        waris[#waris + 1] = fm.metrics.ari(D.y, wd.labels)
        wamis[#wamis + 1] = fm.metrics.ami(D.y, wd.labels)
      end
    end
    local extra = {}
    if #waris > 0 then extra[#extra + 1] = ("Ward ARI %.3f, AMI %.3f"):format(mean(waris), mean(wamis)) end
    if not ctx.quick then
      local td = ctx.time(function() return fm.umap(D.X, {n_components = 10, seed = 0, densmap = true}) end)
      extra[#extra + 1] = ("densMAP %.1f s"):format(td)
      -- transform: fit on the 60k train images, embed the 10k test images, per seed (the peer: the
      -- first seed only, its transform takes half a minute); the criterion compares the means
      local Xtr, Xte = D.X:slice(1, 60000), D.X:slice(60001, 70000)
      local ytr, yte = {}, {}
      for i = 1, 60000 do ytr[i] = D.y[i] end
      for i = 1, 10000 do yte[i] = D.y[60000 + i] end
      ytr, yte = fm.labels(ytr), fm.labels(yte)
      local tts, a1s, a2s = {}, {}, {}
      for _, s in ipairs(SEEDS) do
        local est = fm.UMAP{n_components = 10, seed = s}
        est:fit(Xtr)
        local tt, Z = ctx.time(function() return est:transform(Xte) end)
        tts[#tts + 1] = tt
        a1s[#a1s + 1] = fm.metrics.ari(ytr, fm.kmeans(est.embedding, {n_clusters = 10, n_init = 10, seed = 0}).labels)
        a2s[#a2s + 1] = fm.metrics.ari(yte, fm.kmeans(Z, {n_clusters = 10, n_init = 10, seed = 0}).labels)
      end
      local per = {}
      for i = 1, #a1s do per[i] = ("%.3f/%.3f"):format(a1s[i], a2s[i]) end
      extra[#extra + 1] = ("transform 10k %.1f s (ARI train %.3f, test %.3f over %d seeds; train/test by seed %s)"):format(
        mean(tts), mean(a1s), mean(a2s), #SEEDS, table.concat(per, ", "))
    end
    -- a 2-d embedding for trustworthiness, scored by the peer's scikit-learn on the same sample
    local f2 = ctx.cache .. "/umap_fm_2d.npy"
    fm.umap(D.X, {n_components = 2, seed = 0}).embedding:save_npy(f2)
    local peer, out = ctx.peer("umap.py", {X_path = D.X_path, y_path = D.y_path, n_components = 10,
                                          seeds = SEEDS, transform = not ctx.quick, trust = true, ward = true,
                                          fm_2d_path = f2})
    if peer and peer.fm_trustworthiness_2d then
      extra[#extra + 1] = ("trustworthiness 2-d %.4f"):format(peer.fm_trustworthiness_2d)
    end
    local pq
    if peer then
      pq = ("ARI %.3f, AMI %.3f (K-Means; ARI by seed %s)"):format(peer.kmeans_ari, peer.kmeans_ami,
        table.concat((function() local t = {} for i, v in ipairs(peer.kmeans_ari_each) do t[i] = ("%.3f"):format(v) end return t end)(), "/"))
      if peer.ward_ari then pq = pq .. ("; Ward ARI %.3f, AMI %.3f"):format(peer.ward_ari, peer.ward_ami) end
      if peer.trustworthiness_2d then pq = pq .. ("; trustworthiness 2-d %.4f"):format(peer.trustworthiness_2d) end
      if peer.transform_seconds then
        pq = pq .. ("; transform %.1f s (seed 0: ARI train %.3f, test %.3f)"):format(peer.transform_seconds,
          peer.train_ari, peer.transform_ari)
      end
    else
      pq = "failed: " .. tostring(out)
    end
    local by = {}
    for i, v in ipairs(aris) do by[i] = ("%.3f"):format(v) end
    return {
      fm_seconds = mean(secs),
      fm_quality = ("ARI %.3f, AMI %.3f (K-Means; ARI by seed %s)%s"):format(mean(aris), mean(amis),
        table.concat(by, "/"), #extra > 0 and ("; " .. table.concat(extra, "; ")) or ""),
      peer = "umap-learn 0.5.3 (seeded)",
      peer_seconds = peer and peer.seconds,
      peer_quality = pq,
      target = "≥ 5× faster, ARI/AMI within 0.02",
    }
  end,
}
