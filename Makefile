# fmclust — build, test, run, bench.  `make deps` installs the Debian packages it needs.
LUA        ?= lua5.4
LUA_INC    ?= $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
CC         ?= gcc
OPT        ?= -O3 -march=native
SAN        ?=
override CFLAGS += -std=c11 $(OPT) $(SAN) -fPIC -fopenmp -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE $(LUA_INC)
# -z nodelete: lua_close unloads core.so while idle libgomp workers may still sit in it
LINK        = -shared -fopenmp -Wl,-z,nodelete $(SAN) $(LDFLAGS)
# Link Debian's OpenMP build of OpenBLAS by path (an rpath, applied to transitive loads too), so
# the alternatives system switching libopenblas.so.0 to the pthreads build cannot oversubscribe.
MULTIARCH  ?= $(shell $(CC) -print-multiarch)
OPENBLAS_DIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
OPENBLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp
override CFLAGS += -I$(OPENBLAS_INC) $(shell pkg-config --cflags cairo 2>/dev/null)
LIBS        = -L$(OPENBLAS_DIR) -Wl,--disable-new-dtags,-rpath,$(OPENBLAS_DIR) -lopenblas -llapacke -lcairo -lz -lm
BUILD      ?= build
SRC_CORE    = $(filter-out src/boot.c,$(wildcard src/*.c))
OBJ_CORE    = $(SRC_CORE:src/%.c=$(BUILD)/obj/%.o)
HDRS        = $(wildcard src/*.h)

# install locations (luarocks passes LIBDIR/LUADIR; PREFIX for a plain `make install`)
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib/lua/5.4
LUADIR     ?= $(PREFIX)/share/lua/5.4
BINDIR     ?= $(PREFIX)/bin

RUN_ENV     = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;"
BUSTED      = $(LUA) /usr/bin/busted

DEB_PKGS    = build-essential pkg-config lua5.4 liblua5.4-dev lua-busted luarocks lua-cjson lua-argparse \
              libopenblas-openmp-dev liblapacke-dev libcairo2-dev zlib1g-dev dataset-fashion-mnist parallel
BENCH_PKGS  = python3-sklearn umap-learn python3-fastcluster python3-torch python3-pynndescent \
              python3-threadpoolctl

.PHONY: all test test-asan run quickstart best report-check bench bench-deps data deps install clean

all: $(BUILD)/fmclust/core.so $(BUILD)/fmclust/boot.so

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/fmclust/core.so: $(OBJ_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(LINK) -o $@ $^ $(LIBS)

# boot.so links no BLAS: it picks the OpenBLAS kernel before core.so loads libopenblas
$(BUILD)/fmclust/boot.so: src/boot.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LINK) -o $@ $<

test: deps all
	@$(RUN_ENV) $(BUSTED) --output=spec/output.lua spec

test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -march=native" \
	        SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 FMCLUST_ASAN=1 \
	  LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" LUA_CPATH="$(CURDIR)/build-asan/?.so;;" \
	  $(BUSTED) --output=spec/output.lua spec

run: deps all
	$(RUN_ENV) $(LUA) examples/annexe.lua $(if $(QUICK),--quick)

quickstart: all
	$(RUN_ENV) $(LUA) examples/quickstart.lua

# the pipeline of docs/beyond.md, raw pixels → labels (SEED=n picks the seed)
best: deps all
	$(RUN_ENV) $(LUA) examples/best.lua $(if $(SEED),--seed $(SEED))

# opens a small sweep's HTML report in headless Chromium (installs Debian's chromium if missing)
report-check: all
	$(RUN_ENV) sh tools/report-check.sh

bench: all
	$(RUN_ENV) $(LUA) bench/run.lua $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

data:
	@sh data/fetch.sh

deps:
	@sh .ci/deps.sh $(DEB_PKGS)

bench-deps:
	@sh .ci/deps.sh $(BENCH_PKGS)

install: all
	install -d $(DESTDIR)$(LIBDIR)/fmclust $(DESTDIR)$(LUADIR)/fmclust
	install -m 755 $(BUILD)/fmclust/core.so $(BUILD)/fmclust/boot.so $(DESTDIR)$(LIBDIR)/fmclust/
	install -m 644 lua/fmclust/*.lua $(DESTDIR)$(LUADIR)/fmclust/
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 bin/fmclust $(DESTDIR)$(BINDIR)/

clean:
	rm -rf build build-asan
