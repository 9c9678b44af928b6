-- The README's pictures, from a real run: `lua5.4 examples/pictures.lua [outdir]` (default docs/img).
-- A 2-D UMAP of all 70,000 images coloured by class and by Ward(10) on the 10-d UMAP, the pixel
-- maps, the confusion map of that clustering, and dense-autoencoder reconstructions.
local fm = require "fmclust"
local out = arg and arg[1] or "docs/img"
os.execute(("mkdir -p '%s'"):format(out))
local X, y, names = fm.data.fashion_mnist{split = "all"}
local function say(...) io.stderr:write(string.format(...), "\n") end

local E2 = fm.umap(X, {n_components = 2, seed = 0}).embedding
fm.plot.scatter(E2, y, {path = out .. "/umap2d_classes.png", title = "2-D UMAP of 70,000 images, by class",
                        names = names, size = {900, 680}})
local E10 = fm.umap(X, {n_components = 10, seed = 0}).embedding
local wd = fm.ward(E10, {n_clusters = 10})
say("Ward(10) on 10-d UMAP: ARI %.3f, AMI %.3f", fm.metrics.ari(y, wd.labels), fm.metrics.ami(y, wd.labels))
fm.plot.scatter(E2, wd.labels, {path = out .. "/umap2d_ward.png", size = {900, 680},
                                title = "the same points, by Ward(10) cluster on the 10-d UMAP"})
fm.plot.confusion(y, wd.labels, {path = out .. "/confusion_ward_umap10.png", names = names,
                                 title = "classes × Ward(10) clusters on 10-d UMAP"})
fm.plot.pixel_maps(fm.pixel_stats(X), {path = out .. "/pixel_maps.png"})
local ae = fm.autoencoder{kind = "dense", seed = 0}
ae:fit(X, {epochs = 5, seed = 0})
local S = X:slice(1, 16)
fm.plot.reconstructions(S, ae:reconstruct(S), {path = out .. "/ae_reconstructions.png",
                                               title = "dense AE (5 epochs): originals above reconstructions"})
say("pictures in %s", out)
