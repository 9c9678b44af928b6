"""HDBSCAN peer: scikit-learn-contrib/hdbscan on the same .npy embedding, if it is installed.
It is not (not in Debian, and scikit-learn 1.2.1 has no HDBSCAN): then this prints
{"unavailable": ...} and the bench row quotes the issue's measurement instead.
Prints one JSON line: seconds, n_clusters, noise_share, ari, ami, version."""
import json, sys, time

args = json.loads(sys.argv[1])
try:
    import hdbscan
except Exception as e:  # not installed here
    print(json.dumps({"unavailable": "hdbscan not installed: %s" % e}))
    sys.exit(0)
import numpy as np
from sklearn.metrics import adjusted_rand_score, adjusted_mutual_info_score

X = np.load(args["X"]).astype(np.float64)
y = np.load(args["y"])
t0 = time.perf_counter()
labels = hdbscan.HDBSCAN(min_cluster_size=args["min_cluster_size"]).fit_predict(X)
seconds = time.perf_counter() - t0
print(json.dumps({
    "seconds": seconds,
    "version": getattr(hdbscan, "__version__", "?"),
    "n_clusters": int(labels.max() + 1),
    "noise_share": float((labels < 0).mean()),
    "ari": float(adjusted_rand_score(y, labels)),
    "ami": float(adjusted_mutual_info_score(y, labels)),
}))
