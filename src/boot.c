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
    /* GOMP_SPINCOUNT is left alone: a short spin (30,000) made each dense-AE epoch 40% slower
     * (11.5 s against 8.0 s), the thousands of small GEMMs per epoch paying a futex wake each. */
    lua_createtable(L, 0, 2);
    lua_pushstring(L, core ? core : "auto");
    lua_setfield(L, -2, "coretype");
    lua_pushboolean(L, set_by_us);
    lua_setfield(L, -2, "coretype_set_by_fmclust");
    return 1;
}
