-- Autoencoder quality over seeds, on all 70,000 images: `lua5.4 examples/ae_seeds.lua [kind] [seeds]`
-- (kind "conv" (default) or "dense"; seeds a comma list, default 0,1,2). Each seed builds the default
-- model of that kind, trains it with fit's defaults (20 epochs), and scores K-Means(10) (n_init 10)
-- and Ward(10) on its 10-d code against the labels. The issue's bar is the study's best row for the
-- kind: CAE Ward 0.427 on 10-d, AE Ward 0.380 on 80-d (K-Means on 10-d: 0.387 CAE, 0.323 AE).
local fm = require "fmclust"
local kind = arg and arg[1] or "conv"
local seeds = {}
for s in ((arg and arg[2]) or "0,1,2"):gmatch("[^,]+") do seeds[#seeds + 1] = math.tointeger(tonumber(s)) end
local X, y = fm.data.fashion_mnist{split = "all"}
local sum = {0, 0, 0, 0}
for _, seed in ipairs(seeds) do
  local ae = fm.autoencoder{kind = kind, seed = seed}
  local t0 = os.time()
  local h = ae:fit(X, {seed = seed})
  local Z = ae:encode(X)
  local km = fm.kmeans(Z, {n_clusters = 10, n_init = 10, seed = 0}).labels
  local wd = fm.ward(Z, {n_clusters = 10}).labels
  local r = {fm.metrics.ari(y, km), fm.metrics.ami(y, km), fm.metrics.ari(y, wd), fm.metrics.ami(y, wd)}
  for i = 1, 4 do sum[i] = sum[i] + r[i] end
  print(("%s seed %d: %d epochs (weight decay %g), loss %.5f, K-Means ARI %.3f AMI %.3f, Ward ARI %.3f AMI %.3f (%d s)")
    :format(kind, seed, h.epochs, h.weight_decay, h.loss[#h.loss], r[1], r[2], r[3], r[4], os.time() - t0))
  io.stdout:flush()
end
local n = #seeds
print(("%s mean of %d seeds: K-Means ARI %.4f AMI %.4f, Ward ARI %.4f AMI %.4f")
  :format(kind, n, sum[1] / n, sum[2] / n, sum[3] / n, sum[4] / n))
