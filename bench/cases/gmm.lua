-- Gaussian mixture, full covariance, 10 components on a 10-dimensional embedding of the images
-- (their first 10 principal components by fm.pca; a fixed Gaussian random projection if fm.pca is
-- not available), against scikit-learn's GaussianMixture with the same n_init, max_iter and tol.
-- The embedding is saved as .npy so the peer fits exactly the same floats.
local K, DIM, MAX_ITER, TOL, N_INIT = 10, 10, 100, 1e-3, 1

local function embedding(ctx)
  local fm, data = ctx.fm, ctx.data()
  local ok, Z = false, nil
  if fm.pca then ok, Z = pcall(fm.pca, data.X, {n_components = DIM}) end
  local how = "PCA-10"
  if not ok or not fm.matrix.is_matrix(Z) then
    -- 1/sqrt(784)-scaled Gaussian projection: distances are kept on average
    local P = fm.matrix.random(784, DIM, {seed = 7, distribution = "normal"})
    Z = data.X:matmul(P)
    how = "random projection to 10"
  end
  local path = ("%s/gmm_%s_embed%d.npy"):format(ctx.cache, data.split, DIM)
  Z:save_npy(path)
  return Z, path, how
end

return {
  work = function(ctx)
    return ("GMM full, k=%d, %d×%d embedding, n_init=%d, max_iter=%d"):format(K,
      ctx.quick and 10000 or 70000, DIM, N_INIT, MAX_ITER)
  end,
  run = function(ctx)
    local fm, data = ctx.fm, ctx.data()
    local Z, path, how = embedding(ctx)
    local opts = {n_components = K, covariance_type = "full", max_iter = MAX_ITER, tol = TOL,
                  n_init = N_INIT, seed = 0}
    fm.gmm(Z:slice(1, 2000), {n_components = K})   -- warm up: thread pool, page faults
    local secs, res = ctx.time(fm.gmm, Z, opts)
    local m = fm.metrics.all(data.y, res.labels)
    local peer, out = ctx.peer("gmm.py", {X = path, y = data.y_path, k = K, max_iter = MAX_ITER, tol = TOL,
      n_init = N_INIT, covariance_type = "full", seed = 0})
    if not peer then io.stderr:write("gmm peer failed:\n", out or "", "\n") end
    local function q(ll, ari, ami, it, conv)
      return ("mean log-lik %.4f, ARI %.3f, AMI %.3f, %d iters%s"):format(ll, ari, ami, it,
        conv and "" or " (not converged)")
    end
    return {
      fm_seconds = secs,
      fm_quality = q(res.log_likelihood, m.ari, m.ami, res.n_iter, res.converged) .. " [" .. how .. "]",
      peer = "sklearn GaussianMixture", peer_seconds = peer and peer.seconds,
      peer_quality = peer and q(peer.mean_ll, peer.ari, peer.ami, peer.n_iter, peer.converged),
      target = "≥ 2×",
    }
  end,
}
