-- Autoencoders against PyTorch (python3-torch, 1 thread: faster than 2 here), same architecture,
-- batch 256, Adam(1e-3), MSE. Speed: one epoch over the data, timed for fmclust's two training
-- precisions back to back — float32 products (OpenBLAS SGEMM) and bfloat16 products with float32
-- sums (src/gemm_bf16.c, AVX512-BF16); "fmclust s" is the default (precision = "auto": bfloat16
-- where the CPU has it). Quality: K-Means(10) on the 10-d embedding after the default schedule
-- (20 epochs in the default precision; FMCLUST_AE_EPOCHS to change; quick: 2), against the study's
-- AE rows (K-Means on the 10-d AE: ARI 0.323, its best Ward on 80-d 0.380; CAE: Ward 0.427 on
-- 10-d). Ward(10) on the embedding is reported too.
-- The conv row is bench/cases/ae_conv.lua, which calls this file's run with kind = "conv".
local M = {}

local ARCH = {
  dense = {desc = "dense AE 784-500-500-2000-10 (mirrored)", opts = {kind = "dense", seed = 0},
           target = "≤ 7 s/epoch (torch 13.6 s, 1 thread)"},
  conv = {desc = "conv AE 32-64 → 10 (3×3 stride 2, mirrored)", opts = {kind = "conv", seed = 0},
          target = "≤ 8 s/epoch (torch 24.2 s, 1 thread)"},
}

function M.work_of(kind)
  return function(ctx)
    return ("%s, 1 epoch of %s images, batch 256, Adam (fmclust s: precision auto)"):format(ARCH[kind].desc,
      ctx.quick and "10,000" or "70,000")
  end
end

function M.run_of(kind)
  return function(ctx)
    local fm = ctx.fm
    local D = ctx.data()
    local epochs = ctx.quick and 2 or tonumber(os.getenv("FMCLUST_AE_EPOCHS") or "20")
    -- one epoch per precision from the same initial weights, back to back; the float32 model is
    -- then dropped and the default one trains on
    local secs, loss1 = {}, {}
    local ae
    local precisions = fm.core.bf16_available() and {"float32", "bfloat16"} or {"float32"}
    for _, precision in ipairs(precisions) do
      local m = fm.autoencoder(ARCH[kind].opts)
      local s, h = ctx.time(function() return m:fit(D.X, {epochs = 1, seed = 0, precision = precision}) end)
      secs[precision], loss1[precision] = s, h.loss[1]
      ae = m
    end
    local default = precisions[#precisions]   -- what "auto" picks on this CPU
    local rss = ctx.peak_rss_kb()
    local more = epochs > 1 and ae:fit(D.X, {epochs = epochs - 1, seed = 0, precision = default}) or nil
    local Z = ae:encode(D.X)
    local km = fm.kmeans(Z, {n_clusters = 10, n_init = 10, seed = 0})
    local ari, ami = fm.metrics.ari(D.y, km.labels), fm.metrics.ami(D.y, km.labels)
    local wd = fm.ward(Z, {n_clusters = 10})   -- the study's CAE row is Ward on the 10-d embedding
    local wari, wami = fm.metrics.ari(D.y, wd.labels), fm.metrics.ami(D.y, wd.labels)
    local peer, out = ctx.peer("ae.py", {X = D.X_path, kind = kind, threads = 1, seed = 0, hidden = ae.hidden,
      weight_decay = require("fmclust.ae").default_weight_decay[kind]})   -- fit's default, as fmclust trained
    local per = {}
    for _, p in ipairs(precisions) do
      per[#per + 1] = ("%s %.2f s (epoch-1 loss %.5f)"):format(p, secs[p], loss1[p])
    end
    return {
      fm_seconds = secs[default],
      fm_quality = ("epoch seconds: %s; after %d epochs (%s) loss %.5f, on the 10-d embedding K-Means(10) ARI %.3f AMI %.3f, Ward(10) ARI %.3f AMI %.3f; peak RSS %d MB"):format(
        table.concat(per, ", "), epochs, default, more and more.loss[#more.loss] or loss1[default], ari, ami, wari,
        wami, (rss or 0) // 1024),
      peer = "PyTorch " .. (peer and peer.torch or "") .. " (1 thread)",
      peer_seconds = peer and peer.seconds,
      peer_quality = peer and ("epoch-1 loss %.5f"):format(peer.loss) or ("failed: " .. tostring(out)),
      target = ARCH[kind].target,
    }
  end
end

M.work = M.work_of("dense")
M.run = M.run_of("dense")
return M
