"""OPTICS peer: scikit-learn OPTICS on the first `rows` rows of the same .npy embedding.
Prints one JSON line: seconds, n_clusters, ari, labels."""
import json, sys, time
import numpy as np
from sklearn.cluster import OPTICS
from sklearn.metrics import adjusted_rand_score

args = json.loads(sys.argv[1])
m = args["rows"]
X = np.load(args["X"])[:m].astype(np.float64)
y = np.load(args["y"])[:m]
o = OPTICS(min_samples=args["min_samples"], xi=args["xi"], min_cluster_size=args["min_cluster_size"])
t0 = time.perf_counter()
o.fit(X)
seconds = time.perf_counter() - t0
labels = o.labels_
print(json.dumps({
    "seconds": seconds,
    "n_clusters": int(labels.max() + 1),
    "ari": float(adjusted_rand_score(y, labels)),
    "labels": [int(v) for v in labels],
}))
