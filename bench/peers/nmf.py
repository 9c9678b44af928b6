"""NMF peer: scikit-learn NMF with its defaults (Frobenius loss, init 'nndsvda', solver 'cd',
max_iter 200, tol 1e-4) on the same float32 .npy the Lua side uses. Prints one JSON line."""
import json, sys, time, warnings
import numpy as np
from sklearn.decomposition import NMF

args = json.loads(sys.argv[1])
X = np.load(args["X_path"]).astype(np.float32, copy=False)
warnings.simplefilter("ignore")   # ConvergenceWarning when max_iter is reached, as it is here
model = NMF(n_components=args["n_components"], init=args.get("init", "nndsvda"), solver="cd",
            max_iter=args.get("max_iter", 200), random_state=0)
t0 = time.perf_counter()
model.fit_transform(X)
seconds = time.perf_counter() - t0
core = "?"
try:
    from threadpoolctl import threadpool_info
    core = ",".join(i.get("architecture", "?") for i in threadpool_info() if i.get("user_api") == "blas")
except Exception:
    pass
print(json.dumps({"seconds": seconds, "reconstruction_err": float(model.reconstruction_err_),
                  "n_iter": int(model.n_iter_), "core": core}))
