-- Autoencoders: architectures, float64 finite-difference checks of every layer type, activation and
-- loss, overfitting a small set (float32 and bfloat16 products), bfloat16 training against float32,
-- encode/decode/reconstruct, save/load (and corrupt files, version-1 files), thread-count
-- determinism, verbose progress, and every bad input.
local fm = require "fmclust"
local H = require "spec.helper"

local X_test
local function images(n)
  X_test = X_test or fm.data.fashion_mnist{split = "test"}
  return X_test:slice(1, n)
end

-- the parameters (or any small matrix) as one byte string, for bit-exact comparisons
local function bytes(M)
  local parts = {}
  for _, r in ipairs(M:to_table()) do
    for _, v in ipairs(r) do parts[#parts + 1] = string.pack("<f", v) end
  end
  return table.concat(parts)
end

local function shape(M) return table.pack(M:shape()) end

local BF16 = fm.core.bf16_available()

-- FNV-1a 64 of a string (the model file's checksum), in Lua's wrapping 64-bit integers
local function fnv1a(s)
  local h = 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
  return h
end

-- FD tolerance: the check runs in float64 (the layer kernels are compiled for double too), central
-- differences with h = 1e-5; the issue asks for relative error ≤ 1e-3, we see ≤ 1e-6.
local TOL = 1e-3
local function check_grads(ae, loss, seed, B)
  local g = fm.core.ae_gradcheck(ae._net, loss, seed, B)
  local layers = ae:info().layers
  for l = 1, #layers do
    local what = ("layer %d (%s, %s), loss %s"):format(l, layers[l].kind, layers[l].activation, loss)
    assert.is_true(g.w[l] <= TOL, what .. ": weight gradient relative error " .. g.w[l])
    assert.is_true(g.b[l] <= TOL, what .. ": bias gradient relative error " .. g.b[l])
  end
  assert.is_true(g.x <= TOL, "input gradient relative error " .. g.x)
  return g
end

describe("fm.autoencoder architectures", function()
  it("builds the DEC/N2D dense autoencoder by default, decoder mirrored", function()
    local ae = fm.autoencoder{}
    assert.are.same({784, 500, 500, 2000, 10}, ae.layers)
    assert.are.equal("dense", ae.kind)
    assert.are.equal(10, ae.latent)
    local info = ae:info()
    assert.are.equal(8, info.n_layers)
    assert.are.equal(4, info.n_enc)
    local want = {{784, 500, "relu"}, {500, 500, "relu"}, {500, 2000, "relu"}, {2000, 10, "linear"},
                  {10, 2000, "relu"}, {2000, 500, "relu"}, {500, 500, "relu"}, {500, 784, "linear"}}
    local count = 0
    for l, w in ipairs(want) do
      local L = info.layers[l]
      assert.are.same({"dense", w[1], w[2], w[3]}, {L.kind, L.in_c, L.out_c, L.activation})
      count = count + w[1] * w[2] + w[2]
    end
    assert.are.equal(count, ae.n_params)
  end)

  local function check_layers(ae, want)
    local L = ae:info().layers
    assert.are.equal(#want, #L)
    local count = 0
    for l, w in ipairs(want) do
      assert.are.same(w, {L[l].kind, L[l].in_h, L[l].in_w, L[l].in_c, L[l].out_h, L[l].out_w, L[l].out_c,
        L[l].activation})
      -- weights and biases: dense in×out, conv 3·3·in_c per output channel, deconv 3·3·out_c per input channel
      local n_in, n_out = w[2] * w[3] * w[4], w[5] * w[6] * w[7]
      count = count + (w[1] == "dense" and n_in * n_out + n_out or 9 * w[4] * w[7] + w[7])
    end
    assert.are.equal(count, ae.n_params)
  end

  it("builds the conv autoencoder: 28→14→7 with ReLU, dense bottleneck, transposed convs back", function()
    local ae = fm.autoencoder{kind = "conv", channels = {32, 64}, hidden = {}, latent = 10, output = "sigmoid"}
    check_layers(ae, {
      {"conv", 28, 28, 1, 14, 14, 32, "relu"}, {"conv", 14, 14, 32, 7, 7, 64, "relu"},
      {"dense", 1, 1, 3136, 1, 1, 10, "linear"}, {"dense", 1, 1, 10, 1, 1, 3136, "relu"},
      {"deconv", 7, 7, 64, 14, 14, 32, "relu"}, {"deconv", 14, 14, 32, 28, 28, 1, "sigmoid"},
    })
    assert.are.same({32, 64}, ae.channels)
    assert.are.same({}, ae.hidden)
    assert.are.same({28, 28}, ae.input_shape)
  end)

  it("conv with hidden = {256}: a dense ReLU layer of 256 on each side of the latent", function()
    local ae = fm.autoencoder{kind = "conv", hidden = {256}}
    check_layers(ae, {
      {"conv", 28, 28, 1, 14, 14, 32, "relu"}, {"conv", 14, 14, 32, 7, 7, 64, "relu"},
      {"dense", 1, 1, 3136, 1, 1, 256, "relu"}, {"dense", 1, 1, 256, 1, 1, 10, "linear"},
      {"dense", 1, 1, 10, 1, 1, 256, "relu"}, {"dense", 1, 1, 256, 1, 1, 3136, "relu"},
      {"deconv", 7, 7, 64, 14, 14, 32, "relu"}, {"deconv", 14, 14, 32, 28, 28, 1, "linear"},
    })
    assert.are.same({32, 64}, ae.channels)
    assert.are.same({256}, ae.hidden)
    assert.are.equal(10, ae.latent)
    assert.are.same({}, fm.autoencoder{kind = "conv"}.hidden)   -- the default: none
    local two = fm.autoencoder{kind = "conv", channels = {4}, hidden = {12, 6}, latent = 3, input_shape = {4, 4}}
    check_layers(two, {
      {"conv", 4, 4, 1, 2, 2, 4, "relu"}, {"dense", 1, 1, 16, 1, 1, 12, "relu"}, {"dense", 1, 1, 12, 1, 1, 6, "relu"},
      {"dense", 1, 1, 6, 1, 1, 3, "linear"}, {"dense", 1, 1, 3, 1, 1, 6, "relu"}, {"dense", 1, 1, 6, 1, 1, 12, "relu"},
      {"dense", 1, 1, 12, 1, 1, 16, "relu"}, {"deconv", 2, 2, 4, 4, 4, 1, "linear"},
    })
  end)

  it("initialises from the seed: same seed same weights, another seed other weights", function()
    local a = fm.autoencoder{layers = {20, 8, 3}, seed = 5}
    local b = fm.autoencoder{layers = {20, 8, 3}, seed = 5}
    local c = fm.autoencoder{layers = {20, 8, 3}, seed = 6}
    assert.are.equal(bytes(a:parameters()), bytes(b:parameters()))
    assert.are_not.equal(bytes(a:parameters()), bytes(c:parameters()))
  end)
end)

describe("autoencoder gradients (float64 central differences)", function()
  it("dense layers, ReLU, linear output, MSE", function()
    check_grads(fm.autoencoder{layers = {7, 6, 5, 3}}, "mse", 1, 4)
  end)
  it("dense layers, sigmoid output, MSE", function()
    check_grads(fm.autoencoder{layers = {6, 5, 3}, output = "sigmoid"}, "mse", 2, 3)
  end)
  it("dense layers, sigmoid output, BCE", function()
    check_grads(fm.autoencoder{layers = {6, 5, 3}, output = "sigmoid"}, "bce", 3, 3)
  end)
  it("conv and transposed conv layers (stride 2, padding 1), linear output, MSE", function()
    check_grads(fm.autoencoder{kind = "conv", channels = {2, 3}, hidden = {}, latent = 2, input_shape = {8, 8}}, "mse", 4, 2)
  end)
  it("conv layers with dense hidden layers around the latent, linear output, MSE", function()
    check_grads(fm.autoencoder{kind = "conv", channels = {2}, hidden = {5, 4}, latent = 2, input_shape = {4, 4}},
      "mse", 6, 2)
  end)
  it("conv and transposed conv layers on a non-square image, sigmoid output, BCE", function()
    check_grads(fm.autoencoder{kind = "conv", channels = {3}, hidden = {4}, latent = 3, input_shape = {4, 6}, output = "sigmoid"},
      "bce", 5, 3)
  end)
end)

describe("autoencoder training", function()
  it("overfits 256 images: the dense loss falls ≥ 10×, in float32 and in bfloat16 products", function()
    local X = images(256)
    for _, precision in ipairs{"float32", "bfloat16"} do
      local ae = fm.autoencoder{layers = {784, 256, 32}, seed = 1}
      local before = ae:loss(X)
      local fit = function()
        return ae:fit(X, {epochs = 30, batch_size = 64, learning_rate = 3e-3, seed = 1, precision = precision})
      end
      if precision == "bfloat16" and not BF16 then   -- this CPU: the option must say why it cannot
        assert.has_error(fit, 'bad argument #2 to \'fit\' (precision "bfloat16" needs a CPU with AVX512-BF16 (use "auto" or "float32"))')
      else
        local hist = fit()
        assert.are.equal(30, #hist.loss)
        assert.are.equal(precision, hist.precision)
        assert.are.equal(precision, ae.precision)
        local after = ae:loss(X)
        assert.is_true(after * 10 <= before, ("%s: loss %g → %g"):format(precision, before, after))
        assert.is_true(hist.loss[30] < hist.loss[1])
      end
    end
  end)

  it("overfits 256 images: the conv loss falls ≥ 10× (auto precision)", function()
    local X = images(256)
    local ae = fm.autoencoder{kind = "conv", channels = {8, 16}, latent = 32, seed = 1}
    local before = ae:loss(X)
    local hist = ae:fit(X, {epochs = 30, batch_size = 64, learning_rate = 3e-3, seed = 1})
    assert.are.equal(BF16 and "bfloat16" or "float32", hist.precision)
    local after = ae:loss(X)
    assert.is_true(after * 10 <= before, ("loss %g → %g"):format(before, after))
  end)

  it("bfloat16 products train like float32: same loss curve within a few %", function()
    -- same seed, data and schedule; only the products' inputs are rounded. The curves must agree
    -- to 3 % at every epoch (bfloat16's 2^-8 rounding is far below the gradient noise of
    -- mini-batches; we see 0.5 %), and the float32 evaluation of both models too.
    local X = images(512)
    local curves = {}
    for _, precision in ipairs{"float32", BF16 and "bfloat16" or "auto"} do
      local ae = fm.autoencoder{layers = {784, 256, 256, 10}, seed = 2}
      local hist = ae:fit(X, {epochs = 5, batch_size = 64, seed = 2, precision = precision})
      curves[#curves + 1] = {loss = hist.loss, eval = ae:loss(X), precision = hist.precision}
    end
    local f32, mixed = curves[1], curves[2]
    assert.are.equal(BF16 and "bfloat16" or "float32", mixed.precision)
    for e = 1, 5 do
      local rel = math.abs(mixed.loss[e] - f32.loss[e]) / f32.loss[e]
      assert.is_true(rel < 0.03, ("epoch %d: loss %g (%s) against %g (float32)"):format(e, mixed.loss[e],
        mixed.precision, f32.loss[e]))
    end
    assert.is_true(f32.loss[5] < 0.4 * f32.loss[1])   -- the curves did move
    assert.is_true(math.abs(mixed.eval - f32.eval) / f32.eval < 0.03, ("%g against %g"):format(mixed.eval, f32.eval))
  end)

  it("trains with SGD + momentum, BCE, weight decay and a validation set", function()
    local X = images(300)
    local ae = fm.autoencoder{layers = {784, 64, 8}, output = "sigmoid"}
    local before = ae:loss(X, {loss = "bce"})
    local hist = ae:fit(X:slice(1, 256), {epochs = 5, optimizer = "sgd", learning_rate = 0.5, momentum = 0.9,
      loss = "bce", weight_decay = 1e-5, batch_size = 64, validation = X:slice(257, 300)})
    assert.are.equal(5, #hist.val_loss)
    assert.is_true(ae:loss(X, {loss = "bce"}) < before)
    assert.are.equal(5, ae.epochs_trained)
  end)

  it("denoising: the network sees corrupted inputs and is scored against the clean ones", function()
    -- uniform (0, 1) data: predicting the column means costs 1/12 per value, and nothing can do
    -- much better from inputs that are 99 % zeros. Had the corrupted input been the target, the
    -- loss would be ~0.01 · E[x²] = 0.003.
    local X = fm.matrix.random(256, 16, {seed = 9})
    local ae = fm.autoencoder{layers = {16, 8, 4}, seed = 1}
    local hist = ae:fit(X, {epochs = 30, batch_size = 32, learning_rate = 1e-2, noise = 0.99})
    assert.is_true(hist.loss[30] > 0.06, ("loss %g"):format(hist.loss[30]))
    -- Gaussian noise: a different run from the clean one, with the same seed and shuffles
    local a = fm.autoencoder{layers = {16, 8, 4}, seed = 1}
    local b = fm.autoencoder{layers = {16, 8, 4}, seed = 1}
    local c = fm.autoencoder{layers = {16, 8, 4}, seed = 1}
    a:fit(X, {epochs = 1})
    b:fit(X, {epochs = 1, noise = 0.1, noise_type = "gaussian"})
    c:fit(X, {epochs = 1, noise = 0.1, noise_type = "gaussian"})
    assert.are_not.equal(bytes(a:parameters()), bytes(b:parameters()))
    assert.are.equal(bytes(b:parameters()), bytes(c:parameters()))
    assert.has_error(function() a:fit(X, {noise = 1}) end,
      'bad argument #2 to \'fit\' (noise must be below 1 for noise_type "mask", got 1)')
    assert.has_error(function() a:fit(X, {noise = -0.1}) end)
    assert.has_error(function() a:fit(X, {noise_type = "salt"}) end)
  end)

  it("cosine learning-rate schedule: epoch e of E at lr·½(1 + cos(π(e − 1)/E))", function()
    local X = images(128)
    local a = fm.autoencoder{layers = {784, 16, 4}, seed = 2}
    local b = fm.autoencoder{layers = {784, 16, 4}, seed = 2}
    local hist = a:fit(X, {epochs = 3, learning_rate = 0.01, lr_schedule = "cosine", seed = 5})
    for e = 1, 3 do
      local lr = 0.01 * 0.5 * (1 + math.cos(math.pi * (e - 1) / 3))
      assert.is_true(math.abs(hist.learning_rate[e] - lr) < 1e-15)
      -- the same run as one-epoch fits at the formula's rates (the optimiser state carries over)
      b:fit(X, {epochs = 1, learning_rate = lr, seed = 5})
    end
    assert.are.equal(bytes(a:parameters()), bytes(b:parameters()))
    local c = fm.autoencoder{layers = {784, 16, 4}, seed = 2}
    local hc = c:fit(X, {epochs = 2, learning_rate = 0.01, seed = 5})
    assert.are.same({0.01, 0.01}, hc.learning_rate)
    assert.has_error(function() c:fit(X, {lr_schedule = "step"}) end)
  end)

  it("weight decay defaults to 5e-5 for conv and 0 for dense", function()
    local X = images(64)
    local a = fm.autoencoder{kind = "conv", channels = {4, 8}, latent = 3, seed = 1}
    local b = fm.autoencoder{kind = "conv", channels = {4, 8}, latent = 3, seed = 1}
    local c = fm.autoencoder{kind = "conv", channels = {4, 8}, latent = 3, seed = 1}
    assert.are.equal(5e-5, a:fit(X, {epochs = 1}).weight_decay)
    b:fit(X, {epochs = 1, weight_decay = 5e-5})
    c:fit(X, {epochs = 1, weight_decay = 0})
    assert.are.equal(bytes(a:parameters()), bytes(b:parameters()))
    assert.are_not.equal(bytes(a:parameters()), bytes(c:parameters()))
    local d = fm.autoencoder{layers = {784, 8, 3}}
    assert.are.equal(0, d:fit(X, {epochs = 1}).weight_decay)
  end)

  it("continues training on a second fit and keeps the history", function()
    local X = images(64)
    local ae = fm.autoencoder{layers = {784, 16, 4}}
    ae:fit(X, {epochs = 2})
    ae:fit(X, {epochs = 3, shuffle = false})
    assert.are.equal(5, #ae.history.loss)
    assert.are.equal(5, ae.epochs_trained)
  end)

  it("same seed → identical weights after an epoch with OMP_NUM_THREADS=1 and 2 (float32, bfloat16)", function()
    local code = [[
      local fm = require "fmclust"
      local X = fm.data.fashion_mnist{split = "test"}:slice(1, 600)
      local out = {}
      -- batch 100 for the conv: rows = 100·196 pixels, so thread blocks fall off the 64-row grid
      for _, precision in ipairs(fm.core.bf16_available() and {"float32", "bfloat16"} or {"float32"}) do
      -- and the corruption of denoising, drawn per sample
      for _, case in ipairs{{fm.autoencoder{layers = {784, 300, 500, 10}, seed = 3}, 256, 0.1, "gaussian"},
                            {fm.autoencoder{kind = "conv", channels = {4, 8}, latent = 10, seed = 3}, 100, 0.25, "mask"}} do
        local ae = case[1]
        ae:fit(X, {epochs = 1, batch_size = case[2], seed = 7, precision = precision, noise = case[3],
          noise_type = case[4]})
        local h = 0
        for _, v in ipairs(ae:parameters():to_table()[1]) do
          h = (h * 33 + string.unpack("<I4", string.pack("<f", v))) % 4294967291
        end
        local e = ae:encode(X:slice(1, 5)):to_table()
        out[#out + 1] = ("%s %d %.9g"):format(precision, h, e[5][10])
      end
      end
      print(table.concat(out, " | "))
    ]]
    local one, ok1 = H.run_lua(code, {OMP_NUM_THREADS = "1"})
    local two, ok2 = H.run_lua(code, {OMP_NUM_THREADS = "2"})
    assert.is_truthy(ok1, one)
    assert.is_truthy(ok2, two)
    assert.are.equal(one, two)
    -- and the two precisions really are different computations
    local w = {}
    for p, h in one:gmatch("(%a+%d*) (%d+)") do w[#w + 1] = {p, h} end
    assert.are.equal(BF16 and 4 or 2, #w)
    if BF16 then   -- the dense model's weight hash, float32 against bfloat16
      assert.are.same({"float32", "bfloat16"}, {w[1][1], w[3][1]})
      assert.are_not.equal(w[1][2], w[3][2])
    end
  end)

  it("auto precision without AVX512-BF16 (FMCLUST_NO_BF16 set) is float32; bfloat16 is an error", function()
    local out, ok = H.run_lua([[
      local fm = require "fmclust"
      local X = fm.matrix.random(40, 12, {seed = 1})
      local ae = fm.autoencoder{layers = {12, 6, 2}}
      local h = ae:fit(X, {epochs = 1})
      local ok, err = pcall(ae.fit, ae, X, {precision = "bfloat16"})
      print(tostring(fm.core.bf16_available()), h.precision, ae.precision, ok, err)
    ]], {FMCLUST_NO_BF16 = "1"})
    assert.is_truthy(ok, out)
    assert.matches('^false%s+float32%s+float32%s+false%s+.*bad argument #2 to \'fit\' %(precision "bfloat16" needs a CPU with AVX512%-BF16 %(use "auto" or "float32"%)%)', out)
  end)

  it("prints epoch, loss, validation loss, seconds and ETA on stderr with verbose", function()
    local out, ok = H.run_lua([[
      local fm = require "fmclust"
      local X = fm.matrix.random(40, 12, {seed = 1})
      local ae = fm.autoencoder{layers = {12, 6, 2}}
      ae:fit(X, {epochs = 2, verbose = true, validation = X, batch_size = 16})
      io.stdout:write("done\n")
    ]])
    assert.is_truthy(ok, out)
    assert.matches("epoch 1/2  loss [%d.]+  val_loss [%d.]+  [%d.]+ s  ETA %d+s", out)
    assert.matches("epoch 2/2", out)
  end)
end)

describe("autoencoder encode, decode, reconstruct", function()
  local X = fm.matrix.random(300, 36, {seed = 2})

  it("gives the right shapes and reconstruct = decode ∘ encode", function()
    local ae = fm.autoencoder{layers = {36, 20, 5}}
    ae:fit(X, {epochs = 2})
    local Z = ae:encode(X)
    assert.are.same({300, 5, n = 2}, shape(Z))
    local R = ae:decode(Z)
    assert.are.same({300, 36, n = 2}, shape(R))
    assert.are.equal(bytes(R), bytes(ae:reconstruct(X)))
  end)

  it("conv: encodes 28×28 images to the latent size, sigmoid output in (0, 1)", function()
    local ae = fm.autoencoder{kind = "conv", channels = {4, 8}, latent = 6, output = "sigmoid"}
    local Xi = images(10)
    local Z = ae:encode(Xi)
    assert.are.same({10, 6, n = 2}, shape(Z))
    local R = ae:reconstruct(Xi)
    assert.are.same({10, 784, n = 2}, shape(R))
    for _, r in ipairs(R:to_table()) do
      for _, v in ipairs(r) do assert.is_true(v > 0 and v < 1) end
    end
    assert.are.equal(bytes(R), bytes(ae:decode(Z)))
  end)
end)

describe("autoencoder save and load", function()
  local dir = H.tmpdir()
  local X = fm.matrix.random(50, 16, {seed = 3})

  local function read(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end
  local function write(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
  end

  it("a reloaded dense model encodes identically and keeps its architecture", function()
    local ae = fm.autoencoder{layers = {16, 9, 3}, output = "sigmoid"}
    ae:fit(X, {epochs = 3})
    local path = dir .. "/dense.fmae"
    ae:save(path)
    local b = fm.autoencoder.load(path)
    assert.are.same(ae.layers, b.layers)
    assert.are.equal("sigmoid", b.output)
    assert.are.equal(3, b:info().epochs)
    assert.are.equal(bytes(ae:parameters()), bytes(b:parameters()))
    assert.are.equal(bytes(ae:encode(X)), bytes(b:encode(X)))
    assert.are.equal(bytes(ae:reconstruct(X)), bytes(b:reconstruct(X)))
  end)

  it("keeps the training precision; reads version-1 files (float32) and rejects bad precision fields", function()
    local ae = fm.autoencoder{layers = {16, 9, 3}}
    assert.is_nil(ae.precision)   -- not trained yet
    local want = BF16 and "bfloat16" or "float32"
    ae:fit(X, {epochs = 1, precision = want})
    local path = dir .. "/prec.fmae"
    ae:save(path)
    local b = fm.autoencoder.load(path)
    assert.are.equal(want, b.precision)
    assert.are.equal(want, b:info().precision)
    -- the same model as a version-1 file: version 1 at offset 4, 0 at offset 20, a new checksum
    local good = read(path)
    local body = good:sub(1, 4) .. string.pack("<I4", 1) .. good:sub(9, 20) .. string.pack("<I4", 0) ..
      good:sub(25, #good - 8)
    local v1 = dir .. "/v1.fmae"
    write(v1, body .. string.pack("<i8", fnv1a(body)))
    local c = fm.autoencoder.load(v1)
    assert.are.equal("float32", c.precision)
    assert.are.equal(1, c:info().epochs)
    assert.are.equal(bytes(ae:parameters()), bytes(c:parameters()))
    -- a precision other than 0 in a version-1 file, or beyond 1 in version 2: corrupt
    for _, hdr in ipairs{{1, 1}, {2, 2}} do
      local bad = good:sub(1, 4) .. string.pack("<I4", hdr[1]) .. good:sub(9, 20) .. string.pack("<I4", hdr[2]) ..
        good:sub(25, #good - 8)
      write(v1, bad .. string.pack("<i8", fnv1a(bad)))
      assert.has_error(function() fm.autoencoder.load(v1) end, "load: '" .. v1 .. "' has a corrupt header")
    end
  end)

  it("a reloaded conv model encodes identically", function()
    local ae = fm.autoencoder{kind = "conv", channels = {2, 4}, hidden = {7, 5}, latent = 3, input_shape = {4, 4}}
    ae:fit(X, {epochs = 1})
    local path = dir .. "/conv.fmae"
    ae:save(path)
    local b = fm.autoencoder.load(path)
    assert.are.same({2, 4}, b.channels)
    assert.are.same({7, 5}, b.hidden)
    assert.are.same({4, 4}, b.input_shape)
    assert.are.equal(bytes(ae:encode(X)), bytes(b:encode(X)))
  end)

  it("reads version-2 conv files (no dense hidden layers)", function()
    local ae = fm.autoencoder{kind = "conv", channels = {2, 4}, hidden = {}, latent = 3, input_shape = {4, 4}}
    ae:fit(X, {epochs = 1})
    local path = dir .. "/conv2.fmae"
    ae:save(path)
    -- version 3 stores the hidden count (here 0) after channels (2), height, width and latent;
    -- version 2 ends the sizes at the latent
    local good = read(path)
    local at = 24 + 5 * 8
    assert.are.equal(0, string.unpack("<i8", good, at + 1))
    local body = good:sub(1, 4) .. string.pack("<I4", 2) .. good:sub(9, at) .. good:sub(at + 9, #good - 8)
    local v2 = dir .. "/v2conv.fmae"
    write(v2, body .. string.pack("<i8", fnv1a(body)))
    local b = fm.autoencoder.load(v2)
    assert.are.same({2, 4}, b.channels)
    assert.are.same({}, b.hidden)
    assert.are.equal(bytes(ae:encode(X)), bytes(b:encode(X)))
    -- a negative hidden count is corrupt
    local neg = good:sub(1, at) .. string.pack("<i8", -1) .. good:sub(at + 9, #good - 8)
    write(v2, neg .. string.pack("<i8", fnv1a(neg)))
    assert.has_error(function() fm.autoencoder.load(v2) end, "load: '" .. v2 .. "' has corrupt layer sizes")
  end)

  it("rejects corrupt, truncated and foreign files with a clear error", function()
    local ae = fm.autoencoder{layers = {16, 9, 3}}
    local path = dir .. "/m.fmae"
    ae:save(path)
    local good = read(path)
    local bad = dir .. "/bad.fmae"
    -- a flipped byte in the parameters
    local i = #good - 20
    write(bad, good:sub(1, i - 1) .. string.char((good:byte(i) + 1) % 256) .. good:sub(i + 1))
    assert.has_error(function() fm.autoencoder.load(bad) end, "load: '" .. bad .. "' is corrupt (checksum mismatch)")
    -- truncated in the parameters, in the header, and empty
    write(bad, good:sub(1, 100))
    assert.has_error(function() fm.autoencoder.load(bad) end, "load: '" .. bad .. "' is truncated (ends in the parameters)")
    write(bad, good:sub(1, 10))
    assert.has_error(function() fm.autoencoder.load(bad) end, "load: '" .. bad .. "' is truncated (ends in the header)")
    write(bad, "")
    assert.has_error(function() fm.autoencoder.load(bad) end, "load: '" .. bad .. "' is truncated (ends in the magic)")
    -- trailing bytes, another file type, another version, an impossible parameter count
    write(bad, good .. "x")
    assert.has_error(function() fm.autoencoder.load(bad) end, "load: '" .. bad .. "' has 1 unexpected bytes at the end")
    write(bad, "\x93NUMPY" .. good:sub(7))
    assert.has_error(function() fm.autoencoder.load(bad) end,
      "load: '" .. bad .. "' is not an fmclust autoencoder file (bad magic)")
    write(bad, good:sub(1, 4) .. string.pack("<I4", 9) .. good:sub(9))
    assert.has_error(function() fm.autoencoder.load(bad) end,
      "load: '" .. bad .. "' has format version 9, this fmclust reads versions 1 to 3")
    write(bad, good:sub(1, 24) .. string.pack("<i8", 17) .. good:sub(33))
    assert.has_error(function() fm.autoencoder.load(bad) end)
    assert.has_error(function() fm.autoencoder.load(dir .. "/missing.fmae") end,
      "load: cannot open '" .. dir .. "/missing.fmae'")
    assert.has_error(function() fm.autoencoder.load(42) end, "bad argument #1 to 'load' (path expected, got number)")
  end)
end)

describe("autoencoder bad input", function()
  local X = fm.matrix.random(20, 16, {seed = 4})

  it("rejects layer lists that do not start at the data width", function()
    local ae = fm.autoencoder{layers = {784, 32, 10}}
    assert.has_error(function() ae:fit(X) end,
      "bad argument #1 to 'fit' (matrix has 16 columns, the autoencoder's input layer has 784 (layers[1]))")
    assert.has_error(function() ae:encode(X) end)
  end)

  it("rejects a latent size < 1 and malformed layer lists", function()
    assert.has_error(function() fm.autoencoder{layers = {16, 8, 0}} end,
      "bad argument #1 to 'autoencoder' (layers[3] must be ≥ 1, got 0)")
    assert.has_error(function() fm.autoencoder{layers = {16}} end,
      "bad argument #1 to 'autoencoder' (layers must hold at least 2 sizes, got 1)")
    assert.has_error(function() fm.autoencoder{layers = {16, 2.5}} end,
      "bad argument #1 to 'autoencoder' (layers[2] must be an integer, got 2.5)")
    assert.has_error(function() fm.autoencoder{layers = "784-10"} end,
      "bad argument #1 to 'autoencoder' (layers must be a table, got string)")
    assert.has_error(function() fm.autoencoder{kind = "conv", latent = 0} end,
      "bad argument #1 to 'autoencoder' (latent must be ≥ 1, got 0)")
    assert.has_error(function() fm.autoencoder{kind = "conv", layers = {784, 10}} end)
    assert.has_error(function() fm.autoencoder{kind = "dense", channels = {8}} end)
    assert.has_error(function() fm.autoencoder{kind = "conv", hidden = {64, 0}} end,
      "bad argument #1 to 'autoencoder' (hidden[2] must be ≥ 1, got 0)")
    assert.has_error(function() fm.autoencoder{kind = "dense", hidden = {8}} end,
      'bad argument #1 to \'autoencoder\' (channels, hidden, latent and input_shape are options of kind = "conv" (dense: give layers))')
  end)

  it("rejects conv data that is not 28×28 and shapes the strides cannot halve", function()
    local ae = fm.autoencoder{kind = "conv", channels = {2}, latent = 2}
    assert.has_error(function() ae:fit(X) end,
      "bad argument #1 to 'fit' (matrix has 16 columns, the conv autoencoder expects 28×28 = 784 pixels (see input_shape))")
    assert.has_error(function() fm.autoencoder{kind = "conv", channels = {2, 2, 2}, input_shape = {28, 28}} end,
      "bad argument #1 to 'autoencoder' (input_shape 28×28: both sides must be divisible by 8 (2^3, one halving per conv layer))")
  end)

  it("rejects NaN in the data, the validation set and the codes", function()
    local ae = fm.autoencoder{layers = {16, 4}}
    local Xn = X:copy()
    Xn:set(3, 4, 0 / 0)
    assert.has_error(function() ae:fit(Xn) end, "bad argument #1 to 'fit' (matrix contains NaN or Inf)")
    assert.has_error(function() ae:fit(X, {validation = Xn}) end,
      "bad argument #2 to 'fit' (matrix contains NaN or Inf)")
    assert.has_error(function() ae:encode(Xn) end, "bad argument #1 to 'encode' (matrix contains NaN or Inf)")
    local Z = fm.matrix.zeros(2, 4)
    Z:set(1, 1, math.huge)
    assert.has_error(function() ae:decode(Z) end, "bad argument #1 to 'decode' (matrix contains NaN or Inf)")
  end)

  it("rejects bad fit options", function()
    local ae = fm.autoencoder{layers = {16, 4}}
    assert.has_error(function() ae:fit(X, {batch_size = 0}) end, "bad argument #2 to 'fit' (batch_size must be ≥ 1, got 0)")
    assert.has_error(function() ae:fit(X, {epochs = 0}) end, "bad argument #2 to 'fit' (epochs must be ≥ 1, got 0)")
    assert.has_error(function() ae:fit(X, {learning_rate = 0}) end,
      "bad argument #2 to 'fit' (learning_rate must be > 0, got 0)")
    assert.has_error(function() ae:fit(X, {epoch = 3}) end, "bad argument #2 to 'fit' (unknown option 'epoch')")
    assert.has_error(function() ae:fit(X, {optimizer = "rmsprop"}) end,
      "bad argument #2 to 'fit' (optimizer must be one of \"adam\", \"sgd\", got 'rmsprop')")
    assert.has_error(function() ae:fit(X, {loss = "bce"}) end,
      "bad argument #2 to 'fit' (loss \"bce\" needs an autoencoder built with output = \"sigmoid\")")
    assert.has_error(function() ae:fit(X, {validation = fm.matrix.zeros(3, 5)}) end,
      "bad argument #2 to 'fit' (validation has 5 columns, the autoencoder expects 16)")
    assert.has_error(function() ae:fit(X, {seed = 1.5}) end)
    assert.has_error(function() ae:fit(X, {precision = "float16"}) end,
      "bad argument #2 to 'fit' (precision must be one of \"auto\", \"float32\", \"bfloat16\", got 'float16')")
    assert.has_error(function() ae:fit(X, {precision = 16}) end,
      "bad argument #2 to 'fit' (precision must be a string, got number)")
    assert.has_error(function() ae:fit("X") end, "bad argument #1 to 'fit' (matrix expected, got string)")
    assert.has_error(function() ae:fit(fm.matrix.zeros(0, 16)) end)
    assert.has_error(function() ae.fit(X) end)
  end)

  it("rejects unknown constructor options and wrong types", function()
    assert.has_error(function() fm.autoencoder{kind = "dense", layer = {16, 4}} end,
      "bad argument #1 to 'autoencoder' (unknown option 'layer')")
    assert.has_error(function() fm.autoencoder{kind = "rnn"} end,
      "bad argument #1 to 'autoencoder' (kind must be one of \"dense\", \"conv\", got 'rnn')")
    assert.has_error(function() fm.autoencoder{output = "tanh"} end)
    assert.has_error(function() fm.autoencoder(5) end, "bad argument #1 to 'autoencoder' (options table expected, got number)")
  end)

  it("rejects codes of the wrong width", function()
    local ae = fm.autoencoder{layers = {16, 4}}
    assert.has_error(function() ae:decode(fm.matrix.zeros(2, 5)) end,
      "bad argument #1 to 'decode' (matrix has 5 columns, the latent size is 4)")
  end)
end)
