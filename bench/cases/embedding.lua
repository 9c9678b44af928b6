-- The 10-d embedding shared by the density-clustering benches (hdbscan, optics): fmclust's UMAP
-- (n_components = 10, seed 42) of the bench data, computed once and cached as .npy next to the
-- data so the Python peers read the same floats. Falls back to PCA-10 if UMAP fails.
local M = {}

local function exists(p) local f = io.open(p) if f then f:close() return true end return false end

function M.kind(ctx)
  return M.cached_kind or "UMAP-10"
end

function M.embedding(ctx)
  local fm = ctx.fm
  local D = ctx.data()
  local path = ("%s/umap10_%s.npy"):format(ctx.cache, D.split)
  local pca_path = ("%s/pca10_%s.npy"):format(ctx.cache, D.split)
  if exists(path) then
    M.cached_kind = "UMAP-10"
    return {Z = fm.matrix.load_npy(path), path = path, y = D.y, y_path = D.y_path, kind = "UMAP-10"}
  end
  local ok, res = pcall(fm.umap, D.X, {n_components = 10, seed = 42})
  if ok then
    res.embedding:save_npy(path)
    M.cached_kind = "UMAP-10"
    return {Z = res.embedding, path = path, y = D.y, y_path = D.y_path, kind = "UMAP-10"}
  end
  io.stderr:write("  UMAP failed (" .. tostring(res) .. "), using PCA-10\n")
  local Z = exists(pca_path) and fm.matrix.load_npy(pca_path) or fm.pca(D.X, {n_components = 10})
  if not exists(pca_path) then Z:save_npy(pca_path) end
  M.cached_kind = "PCA-10"
  return {Z = Z, path = pca_path, y = D.y, y_path = D.y_path, kind = "PCA-10"}
end

return M
