"""PCA peer: scikit-learn PCA(n_components) with its default svd_solver="auto" (randomized for
PCA-80 of 70,000×784) on the same .npy data; fit_transform, best of 2 after a warm-up.
Prints one JSON line: seconds, evr_sum (sum of explained_variance_ratio_), solver, singular values."""
import json, sys, time
import numpy as np
from sklearn.decomposition import PCA

args = json.loads(sys.argv[1])
X = np.load(args["X"])
k = args["n_components"]
PCA(n_components=k, random_state=0).fit_transform(X[:2000])   # warm-up
best, pca = float("inf"), None
for _ in range(2):
    pca = PCA(n_components=k, random_state=0)
    t0 = time.perf_counter()
    pca.fit_transform(X)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({
    "seconds": best,
    "evr_sum": float(pca.explained_variance_ratio_.sum()),
    "solver": pca._fit_svd_solver,
    "singular_values": [float(s) for s in pca.singular_values_[:5]],
}))
