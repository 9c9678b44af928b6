/* lfm.h — helpers shared by the Lua binding files (the only files that include lua.h). */
#ifndef LFM_H
#define LFM_H

#include <lua.h>
#include <lauxlib.h>
#include "fm.h"

#define LFM_MATRIX "fmclust.matrix"
#define LFM_LABELS "fmclust.labels"

/* the matrix userdata: data == NULL until allocated (and after __close) */
typedef struct { fm_mat m; } lfm_matrix;
/* the labels userdata: an int32 vector, -1 = noise */
typedef struct { int64_t n; int32_t *data; } lfm_labels;

/* check argument idx is a live matrix / labels (raises a lauxlib argument error otherwise) */
lfm_matrix *lfm_checkmatrix(lua_State *L, int idx);
lfm_labels *lfm_checklabels(lua_State *L, int idx);
lfm_matrix *lfm_tomatrix(lua_State *L, int idx);   /* NULL if not a matrix */
/* push a new zeroed n×d matrix / n-vector, built in the safe order (metatable before memory) */
lfm_matrix *lfm_newmatrix(lua_State *L, int64_t n, int64_t d);
lfm_labels *lfm_newlabels(lua_State *L, int64_t n);
/* push a matrix / labels that takes ownership of an fm_alloc'ed buffer (freed on failure) */
lfm_matrix *lfm_pushmat(lua_State *L, fm_mat m);
lfm_labels *lfm_pushlabels(lua_State *L, int32_t *data, int64_t n);
/* argument idx as int32 labels: a labels userdata or a Lua sequence of integers.
 * A table is converted into a temporary labels userdata pushed on the stack. */
const int32_t *lfm_checklabelarg(lua_State *L, int idx, int64_t *n);

/* raise "<what>: <err or status string>" */
int lfm_status_error(lua_State *L, fm_status s, const char *what, const char *err);

/* add fns to the table at the top of the stack */
void lfm_setfuncs(lua_State *L, const luaL_Reg *fns);

/* each binding file registers its functions into the core module table at the top of the stack */
void lfm_open_matrix(lua_State *L);
void lfm_open_labels(lua_State *L);
void lfm_open_io(lua_State *L);
void lfm_open_metrics(lua_State *L);
void lfm_open_pca(lua_State *L);
void lfm_open_nmf(lua_State *L);
void lfm_open_kmeans(lua_State *L);
void lfm_open_gmm(lua_State *L);
void lfm_open_ward(lua_State *L);
void lfm_open_knn(lua_State *L);
void lfm_open_umap(lua_State *L);
void lfm_open_hdbscan(lua_State *L);
void lfm_open_optics(lua_State *L);
void lfm_open_ae(lua_State *L);
void lfm_open_plot(lua_State *L);

#endif
