rockspec_format = "3.0"
package = "fmclust"
version = "scm-1"
source = {
   url = "git+file:///dev/null",  -- install from a checkout: luarocks make rockspec/fmclust-scm-1.rockspec
}
description = {
   summary = "Fast clustering of image data sets (Fashion-MNIST) from Lua: UMAP, PCA, NMF, K-Means, GMM, Ward, HDBSCAN, OPTICS, autoencoders",
   detailed = [[
      A native Lua 5.4 module in C11 + OpenMP on OpenBLAS/LAPACKE. Needs the Debian packages
      libopenblas-openmp-dev, liblapacke-dev and zlib1g-dev, and the Lua modules lua-cjson and
      lua-argparse from Debian (`make deps` installs them all). They are not listed as rock
      dependencies so that the install works offline against Debian's packages.
   ]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4",
}
build = {
   type = "make",
   build_variables = {
      LUA_INC = "-I$(LUA_INCDIR)",
   },
   install_variables = {
      LIBDIR = "$(LIBDIR)",
      LUADIR = "$(LUADIR)",
      BINDIR = "$(BINDIR)",
   },
}
test = {
   type = "busted",
}
