-- A small sweep, for trying the engine and the `fmclust` command in a few seconds:
--
--   bin/fmclust sweep examples/sweep_small.lua                # → results/small/
--   bin/fmclust sweep examples/sweep_small.lua --shard 1/2    # half of it, in results/small/shard-1-of-2
--   lua5.4 examples/sweep_small.lua                           # the same without the command
--
-- The first 2,000 Fashion-MNIST test images; raw pixels and PCA to 10 and 20 dimensions; K-Means,
-- Ward and a Gaussian mixture; two seeds. A second run reads everything from results/small/.
local fm = fm or require "fmclust"

local N = tonumber(os.getenv("FMCLUST_SMALL_N")) or 2000

local config = {
  name = "small",
  data = function()
    local X, y = fm.data.fashion_mnist{split = "test"}
    local labels = y:to_table()
    return X:slice(1, N), table.move(labels, 1, N, 1, {})
  end,
  grids = {
    {
      reducers = {{"none"}, {"pca", n_components = {10, 20}}},
      clusterers = {{"kmeans", n_clusters = 10, n_init = 4}, {"ward", n_clusters = 10}},
    },
    {   -- a full-covariance mixture is slow in 784 dimensions: on PCA only
      reducers = {{"pca", n_components = 10}},
      clusterers = {{"gmm", n_components = 10, covariance_type = "full"}},
    },
  },
  seeds = {0, 1},
  compare = "seed",   -- print the study's values beside ours (few rows match at this size)
}

if ... == "--as-config" then return config end
-- run as a script: the command line's sweep, with this file's config
os.exit(require("fmclust.cli").run_config(config, {...}))
