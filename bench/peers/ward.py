"""Ward peer: fastcluster.linkage_vector(method="ward") — O(n·d) memory like fmclust (scipy's and
scikit-learn's ward need the n² distance matrix: 19.6 GB at n = 70,000). Cut at k clusters with
scipy's fcluster; quality against the labels. Memory: ru_maxrss (peak RSS) after loading the data
and after the linkage, so the difference is the linkage's own peak increase."""
import json, resource, sys, time
import numpy as np

args = json.loads(sys.argv[1])
X = np.load(args["X"]).astype(np.float64)   # linkage_vector works in double; the copy counts as input
y = np.load(args["y"])
k = args.get("k", 10)
import fastcluster
from scipy.cluster.hierarchy import fcluster
from sklearn.metrics import adjusted_rand_score, adjusted_mutual_info_score

rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
Z = fastcluster.linkage_vector(X, method=args.get("method", "ward"))
secs = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
labels = fcluster(Z, k, criterion="maxclust")
print(json.dumps({
    "seconds": secs, "rss_before_kb": rss0, "rss_peak_kb": rss1,
    "ari": adjusted_rand_score(y, labels), "ami": adjusted_mutual_info_score(y, labels),
    "top_height": float(Z[-1, 2]), "k": int(len(set(labels))),
}))
