-- The conv autoencoder row (see bench/cases/ae.lua).
local ae = dofile("bench/cases/ae.lua")
return {work = ae.work_of("conv"), run = ae.run_of("conv")}
