/* boot.c — loaded before the BLAS-linked core. Debian's OpenBLAS 0.3.21 does not know newer
 * AVX-512 CPUs and falls back to the "Prescott" kernel (5× slower SGEMM). The kernel is chosen
 * when libopenblas is loaded, so the choice must be made here, before fmclust.core is required.
 * A value the user set wins. This file links no BLAS and includes lua.h only for the entry point. */
#include <lua.h>
#include <lauxlib.h>
#include <stdlib.h>

static const char *pick_core(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

int luaopen_fmclust_boot(lua_State *L)
{
    const char *user = getenv("OPENBLAS_CORETYPE");
    const char *core = NULL;
    int set_by_us = 0;
    if (user && *user) {
        core = user;
    } else if ((core = pick_core()) != NULL) {
        setenv("OPENBLAS_CORETYPE", core, 1);   /* unset or empty here */
        set_by_us = 1;
    }
    /* libgomp spins 300,000 rounds before a waiting thread sleeps: on a busy machine the
     * spinning threads steal the cores others need (an autoencoder epoch went from 8 s to 130 s
     * under load). 30,000 rounds measured as fast on an idle machine. boot.so links no libgomp,
     * so this is read when core.so loads it. The user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. */
    const char *wait = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    int spin_set_by_us = 0;
    if (!(wait && *wait) && !(spin && *spin)) {
        setenv("GOMP_SPINCOUNT", "30000", 1);
        spin_set_by_us = 1;
    }
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, spin_set_by_us);
    lua_setfield(L, -2, "spincount_set_by_fmclust");
    lua_pushstring(L, core ? core : "auto");
    lua_setfield(L, -2, "coretype");
    lua_pushboolean(L, set_by_us);
    lua_setfield(L, -2, "coretype_set_by_fmclust");
    return 1;
}
