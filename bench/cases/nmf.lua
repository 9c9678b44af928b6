-- NMF on all of Fashion-MNIST (quick: the 10,000 test images): the study's n_components = 20 with
-- scikit-learn's defaults (init "nndsvda", solver "cd", max_iter 200, tol 1e-4), fmclust vs
-- scikit-learn 1.2 NMF on the same float32 data. Quality: ‖X − W·H‖_F and iterations run.
-- FMCLUST_NMF_K=10 (or 80) benches another of the study's sizes.
local K = tonumber(os.getenv("FMCLUST_NMF_K") or "") or 20
local MAX_ITER = 200

return {
  work = function(ctx)
    return ("NMF k=%d, nndsvda + cd, max_iter %d, %s"):format(K, MAX_ITER, ctx.quick and "10,000×784" or "70,000×784")
  end,
  run = function(ctx)
    local fm = ctx.fm
    local data = ctx.data()
    local secs, _, model = ctx.time(fm.nmf, data.X, {n_components = K, init = "nndsvda", max_iter = MAX_ITER})
    local peer, out = ctx.peer("nmf.py", {X_path = data.X_path, n_components = K, max_iter = MAX_ITER})
    if not peer then io.stderr:write("nmf peer failed:\n", out or "", "\n") end
    local function q(err, n_iter) return ("err %.2f, %d iter"):format(err, n_iter) end
    local rel = peer and (model.reconstruction_err / peer.reconstruction_err - 1) * 100
    return {
      fm_seconds = secs,
      fm_quality = q(model.reconstruction_err, model.n_iter) .. (rel and (" (%+.2f %%)"):format(rel) or ""),
      peer = "sklearn NMF", peer_seconds = peer and peer.seconds,
      peer_quality = peer and q(peer.reconstruction_err, peer.n_iter),
      target = "≥ 2× faster, err within 2 %",
    }
  end,
}
