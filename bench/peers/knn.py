"""kNN peer: pynndescent (as umap-learn calls it: n_trees = min(64, 5 + round(sqrt(n)/20)),
n_iters = max(5, round(log2 n)), max_candidates = 60) for the k-NN graph of X with itself; recall
against the exact neighbours of a sample of rows (scikit-learn brute force), seconds (warm: a small
run compiles numba first).

args: {X_path, k = 15, sample = 2000, seed = 0}"""
import json, os, sys, time, warnings
# this file is named like the package it measures: keep its own directory off the import path
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import numpy as np

warnings.filterwarnings("ignore")
args = json.loads(sys.argv[1])
X = np.load(args["X_path"]).astype(np.float32)
k = args.get("k", 15)
from pynndescent import NNDescent
from sklearn.neighbors import NearestNeighbors

n = X.shape[0]
NNDescent(X[:2000], n_neighbors=k + 1, random_state=0)           # numba warm-up
t0 = time.perf_counter()
nnd = NNDescent(X, n_neighbors=k + 1, random_state=args.get("seed", 0),
                n_trees=min(64, 5 + int(round(n ** 0.5 / 20.0))),
                n_iters=max(5, int(round(np.log2(n)))), max_candidates=60, low_memory=True)
ind, _ = nnd.neighbor_graph
secs = time.perf_counter() - t0
rng = np.random.default_rng(1)
rows = rng.choice(n, min(args.get("sample", 2000), n), replace=False)
truth = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(X).kneighbors(X[rows], return_distance=False)
hits = 0
for a, r in enumerate(rows):
    t = [j for j in truth[a] if j != r][:k]
    got = [j for j in ind[r] if j != r][:k]
    hits += len(set(t) & set(got))
print(json.dumps({"seconds": secs, "recall": hits / (len(rows) * k), "k": k, "sample": len(rows)}))
