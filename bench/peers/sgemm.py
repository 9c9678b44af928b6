"""SGEMM peer: numpy float32 matmul, best of 3."""
import json, sys, time
import numpy as np

args = json.loads(sys.argv[1])
n = args["n"]
rng = np.random.default_rng(0)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
core = "?"
try:
    from threadpoolctl import threadpool_info
    core = ",".join(i.get("architecture", "?") for i in threadpool_info() if i.get("user_api") == "blas")
except Exception:
    pass
print(json.dumps({"seconds": best, "core": core}))
