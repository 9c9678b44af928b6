"""Scatter-plot peer: matplotlib (Agg) draws the same 2-D embedding coloured by class, with a legend,
and saves a PNG of the same size as fmclust's (960×720). Timed from figure creation to the saved file.
  args: E (n×2 .npy), y (labels .npy), out (PNG path), width, height, point_size (pixels), alpha
Prints one JSON line: seconds, bytes, matplotlib (version)."""
import json, os, sys, time
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

args = json.loads(sys.argv[1])
E = np.load(args["E"]).astype(np.float32)
y = np.load(args["y"]).astype(np.int64)
w, h = args.get("width", 960), args.get("height", 720)
size_px = args.get("point_size", 1.8)
alpha = args.get("alpha", 0.55)
dpi = 100
t0 = time.perf_counter()
fig, ax = plt.subplots(figsize=(w / dpi, h / dpi), dpi=dpi)
s = (size_px * 72.0 / dpi) ** 2          # marker area in points²
for k in np.unique(y):
    m = y == k
    ax.scatter(E[m, 0], E[m, 1], s=s, alpha=alpha, linewidths=0, label=str(k), rasterized=True)
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), markerscale=4)
ax.set_xlabel("dimension 1")
ax.set_ylabel("dimension 2")
ax.set_title("scatter")
fig.tight_layout()
fig.savefig(args["out"], dpi=dpi)
plt.close(fig)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "bytes": os.path.getsize(args["out"]), "matplotlib": matplotlib.__version__}))
