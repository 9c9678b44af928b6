"""K-Means peer: scikit-learn KMeans(n_clusters, n_init, algorithm="lloyd") on the same .npy data.
Prints one JSON line: seconds (fit), inertia, ari, ami, n_iter."""
import json, sys, time
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, adjusted_mutual_info_score

args = json.loads(sys.argv[1])
X = np.load(args["X"])
y = np.load(args["y"])
km = KMeans(n_clusters=args["k"], n_init=args["n_init"], algorithm="lloyd", random_state=args.get("seed", 0))
t0 = time.perf_counter()
km.fit(X)
seconds = time.perf_counter() - t0
print(json.dumps({
    "seconds": seconds,
    "inertia": float(km.inertia_),
    "n_iter": int(km.n_iter_),
    "ari": float(adjusted_rand_score(y, km.labels_)),
    "ami": float(adjusted_mutual_info_score(y, km.labels_)),
}))
