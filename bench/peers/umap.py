"""UMAP peer: umap-learn 0.5.3 on the same .npy, then K-Means(10) (and optionally Ward(10) by
fastcluster) on the embedding, ARI/AMI against the labels; trustworthiness (k=15) of a 2-d
embedding on a 5,000-point sample; transform of held-out rows.

args: {X_path, y_path, n_components = 10, seeds = [0, 1, 2], ward = false, trust = false,
       fm_2d_path = nil (score fmclust's 2-d embedding too), densmap = false, transform = false}
Each seed is passed as random_state, which makes umap-learn run its SGD on one thread (its own
rule: a seed disables the parallel layout, lmcinnes/umap #1001) — the configuration the study used.
Reports the mean fit time (warm: a small fit first compiles numba) and mean scores."""
import json, os, sys, time, warnings
# this file is named like the package it measures: keep its own directory off the import path
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import numpy as np

warnings.filterwarnings("ignore")
args = json.loads(sys.argv[1])
X = np.load(args["X_path"]).astype(np.float32)
y = np.load(args["y_path"])
import umap
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, adjusted_mutual_info_score
from sklearn.manifold import trustworthiness

umap.UMAP(n_components=2, random_state=0, n_epochs=5).fit(X[:2000])   # numba warm-up
dim = args.get("n_components", 10)
seeds = args.get("seeds", [0, 1, 2])
out = {"n_components": dim, "seeds": seeds, "random_state": "seed (single-threaded SGD)"}
secs, ka, km, wa, wm = [], [], [], [], []
for s in seeds:
    t0 = time.perf_counter()
    E = umap.UMAP(n_components=dim, random_state=s, densmap=args.get("densmap", False)).fit_transform(X)
    secs.append(time.perf_counter() - t0)
    lab = KMeans(10, n_init=10, random_state=0).fit_predict(E)
    ka.append(adjusted_rand_score(y, lab)); km.append(adjusted_mutual_info_score(y, lab))
    if args.get("ward"):
        import fastcluster
        from scipy.cluster.hierarchy import fcluster
        Z = fastcluster.linkage_vector(E.astype(np.float64), method="ward")
        lw = fcluster(Z, 10, criterion="maxclust")
        wa.append(adjusted_rand_score(y, lw)); wm.append(adjusted_mutual_info_score(y, lw))
out.update(seconds=float(np.mean(secs)), seconds_each=secs, kmeans_ari=float(np.mean(ka)),
           kmeans_ami=float(np.mean(km)), kmeans_ari_each=ka, kmeans_ami_each=km)
if wa:
    out.update(ward_ari=float(np.mean(wa)), ward_ami=float(np.mean(wm)), ward_ari_each=wa, ward_ami_each=wm)
if args.get("trust") or args.get("fm_2d_path"):
    rng = np.random.default_rng(0)
    idx = rng.choice(len(X), min(5000, len(X)), replace=False)
    if args.get("trust"):
        E2 = umap.UMAP(n_components=2, random_state=seeds[0]).fit_transform(X)
        out["trustworthiness_2d"] = float(trustworthiness(X[idx], E2[idx], n_neighbors=15))
    if args.get("fm_2d_path"):   # the same score for fmclust's 2-d embedding, same sample
        F = np.load(args["fm_2d_path"])
        out["fm_trustworthiness_2d"] = float(trustworthiness(X[idx], F[idx], n_neighbors=15))
if args.get("transform"):
    n_train = args.get("n_train", 60000)
    t0 = time.perf_counter()
    m = umap.UMAP(n_components=dim, random_state=seeds[0]).fit(X[:n_train])
    t1 = time.perf_counter()
    Et = m.transform(X[n_train:])
    t2 = time.perf_counter()
    la = KMeans(10, n_init=10, random_state=0).fit_predict(m.embedding_)
    lb = KMeans(10, n_init=10, random_state=0).fit_predict(Et)
    out.update(transform_seconds=t2 - t1, train_ari=float(adjusted_rand_score(y[:n_train], la)),
               transform_ari=float(adjusted_rand_score(y[n_train:], lb)))
print(json.dumps(out))
