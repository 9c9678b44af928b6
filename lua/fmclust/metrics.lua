-- fmclust.metrics — how well predicted cluster labels agree with the true classes.
--
--   local m = fm.metrics.all(truth, pred)            -- {ari, ami, nmi, homogeneity, ...}
--   local a = fm.metrics.ari(truth, pred)
--   local m = fm.metrics.all(truth, pred, {ignore_noise = true})   -- + noise_share
--
-- truth and pred are labels (fm.labels{...}) or Lua sequences of integers of equal, non-zero
-- length; label values are arbitrary integers (-1 is HDBSCAN's noise). The values equal
-- scikit-learn 1.2.1's adjusted_rand_score, adjusted_mutual_info_score and
-- normalized_mutual_info_score (average_method = "arithmetic"), homogeneity_score,
-- completeness_score, v_measure_score and mutual_info_score (nats), including their special
-- cases (one cluster on both sides scores 1). accuracy is the share of points on an optimal
-- one-to-one matching of clusters to classes (the Hungarian method, as scipy's
-- linear_sum_assignment); clusters beyond the number of classes match nothing.
--
-- Option (every function): ignore_noise = false. By default a pred label of -1 is a cluster like
-- any other, as in scikit-learn. With ignore_noise = true only the points whose pred label is not
-- -1 are scored, and all() adds noise_share, the share of points left out. If every point is
-- noise there is nothing to score: the scores are NaN and n is 0.
local core = require "fmclust.core"
local U = require "fmclust.util"

local M = {}

local OPTIONS = {ignore_noise = {type = "boolean", default = false}}

local call = U.call   -- core argument errors read as the public function's

local function scorer(name)
  return function(truth, pred, opts)
    local o = U.options(name, 3, opts, OPTIONS)   -- checked before any work
    return (call(name, core.metrics_score, truth, pred, name, o.ignore_noise))
  end
end

--- fm.metrics.ari(truth, pred [, opts]): adjusted Rand index, 1 for identical partitions,
--- about 0 for independent ones, down to -0.5
M.ari = scorer("ari")
--- fm.metrics.ami(truth, pred [, opts]): mutual information adjusted for chance (exact expected
--- mutual information under the hypergeometric model), arithmetic-mean normalisation
M.ami = scorer("ami")
--- fm.metrics.nmi(truth, pred [, opts]): mutual information over the mean of the two entropies
M.nmi = scorer("nmi")
--- fm.metrics.homogeneity(truth, pred [, opts]): 1 when each cluster holds a single class
M.homogeneity = scorer("homogeneity")
--- fm.metrics.completeness(truth, pred [, opts]): 1 when each class sits in a single cluster
M.completeness = scorer("completeness")
--- fm.metrics.v_measure(truth, pred [, opts]): harmonic mean of homogeneity and completeness
M.v_measure = scorer("v_measure")
--- fm.metrics.accuracy(truth, pred [, opts]): share of points on the best one-to-one matching
M.accuracy = scorer("accuracy")
--- fm.metrics.mutual_info(truth, pred [, opts]): mutual information in nats
M.mutual_info = scorer("mutual_info")

--- fm.metrics.all(truth, pred [, opts]) → {ari, ami, nmi, homogeneity, completeness, v_measure,
--- accuracy, mutual_info, n, n_classes, n_clusters [, noise_share]}; n is the number of points
--- scored, n_classes and n_clusters count the distinct labels among them
function M.all(truth, pred, opts)
  local o = U.options("all", 3, opts, OPTIONS)
  return (call("all", core.metrics_scores, truth, pred, o.ignore_noise))
end

--- fm.metrics.contingency(truth, pred [, opts]) → {table = {{count, ...}, ...}, rows = {truth
--- values}, cols = {pred values}}: table[i][j] counts the points of class rows[i] in cluster
--- cols[j]; values ascending
function M.contingency(truth, pred, opts)
  local o = U.options("contingency", 3, opts, OPTIONS)
  return (call("contingency", core.metrics_contingency, truth, pred, o.ignore_noise))
end

--- fm.metrics.matching(truth, pred [, opts]) → {[pred value] = truth value}, matched: the
--- optimal matching behind accuracy, and the number of points on it (accuracy = matched / n)
function M.matching(truth, pred, opts)
  local o = U.options("matching", 3, opts, OPTIONS)
  local map, matched = call("matching", core.metrics_matching, truth, pred, o.ignore_noise)
  return map, matched
end

return M
