"""Autoencoder peer: PyTorch (Debian python3-torch) with the same architecture as fmclust's
fm.autoencoder, batch 256, Adam(lr=1e-3), MSE, shuffled, one timed epoch on the same .npy data.
  args: X (path), kind ("dense" | "conv"; conv: channels, hidden, latent), weight_decay (default 0), threads (default 1: faster than 2 on this machine),
        epochs (default 1; seconds is the mean per epoch), seed
Prints one JSON line: seconds (per epoch), loss (mean per pixel of the last epoch), threads, torch."""
import json, sys, time
import numpy as np
import torch
from torch import nn

args = json.loads(sys.argv[1])
threads = int(args.get("threads", 1))
torch.set_num_threads(threads)
torch.manual_seed(args.get("seed", 0))
X = torch.from_numpy(np.load(args["X"]).astype(np.float32))
n, d = X.shape
kind = args.get("kind", "dense")

def dense_stack(sizes, relu_last):
    """Linear layers through sizes with ReLU between them (and after the last when relu_last),
    then the mirror back: (encoder, decoder) lists; the decoder ends in ReLU when relu_last."""
    def chain(s, last):
        out = []
        for i in range(len(s) - 1):
            out.append(nn.Linear(s[i], s[i + 1]))
            if i < len(s) - 2 or last:
                out.append(nn.ReLU())
        return out
    return chain(sizes, False), chain(sizes[::-1], relu_last)


if kind == "dense":
    enc, dec = dense_stack(args.get("layers", [784, 500, 500, 2000, 10]), False)
    model = nn.Sequential(*enc, *dec)
    shape = (d,)
else:
    c1, c2 = args.get("channels", [32, 64])
    latent = args.get("latent", 10)
    # the dense ReLU layers around the latent (fmclust's hidden; default none); the decoder's
    # last dense layer feeds the transposed convs through a ReLU
    enc, dec = dense_stack([c2 * 49] + list(args.get("hidden", [])) + [latent], True)
    model = nn.Sequential(
        nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), *enc, *dec, nn.Unflatten(1, (c2, 7, 7)),
        nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1),
        nn.Flatten())
    shape = (1, 28, 28)

opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=float(args.get("weight_decay", 0)))
lossf = nn.MSELoss()
B = int(args.get("batch_size", 256))
epochs = int(args.get("epochs", 1))
Xs = X.view(n, *shape)
t0 = time.perf_counter()
for e in range(epochs):
    perm = torch.randperm(n)
    tot = 0.0
    for s in range(0, n, B):
        idx = perm[s:s + B]
        xb = Xs[idx]
        out = model(xb)
        loss = lossf(out, xb.view(len(idx), -1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += loss.item() * len(idx)
seconds = (time.perf_counter() - t0) / epochs
print(json.dumps({"seconds": seconds, "loss": tot / n, "threads": threads, "torch": torch.__version__,
                  "n_params": sum(p.numel() for p in model.parameters())}))
