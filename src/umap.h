/* umap.h — UMAP (McInnes, Healy & Melville 2018) as umap-learn 0.5 does it, in stages:
 *
 *   kNN graph (knn.c) → fm_umap_smooth_knn_dist (ρ, σ) → fm_umap_membership → fm_umap_fuzzy_union
 *   (or fm_umap_mutual_knn first: Dalmia & Sia 2021) → fm_umap_prune → init (fm_umap_spectral_init,
 *   PCA or random, then fm_umap_scale_init) → fm_umap_optimize (SGD with epochs_per_sample,
 *   negative sampling, learning-rate decay, gradient clipping at 4, optional densMAP term).
 *   fm_umap_find_ab fits the curve 1/(1 + a·d^2b) to min_dist/spread.
 *
 * Determinism with threads: in the SGD every vertex moves itself as the head of its edges. Heads
 * go in fixed slices of 2,048 vertices, one slice after the other; inside a slice they run in
 * parallel, reading the vertices of other slices live (nobody writes them meanwhile) and those of
 * their own slice from a copy taken when the slice started. Like umap-learn (move_other), a
 * sampled edge also pulls its tail, by the opposite of the head's step: those moves are written
 * per edge, summed per tail vertex in edge order when the slice ends (each thread owns a band of
 * vertices), and added to the layout when the epoch ends. Negative samples come from a stream
 * keyed by (seed, epoch, vertex). A vertex's result therefore does not depend on which thread ran
 * it or when: the embedding is bit-identical for any thread count while both cores work.
 * Moving the tails matters: with heads alone, Ward(10) on the 70,000-image 10-d layout scored AMI
 * 0.629 (seeds 0–5) against umap-learn's 0.648; pulling the head twice instead was worse (0.612);
 * with the tails moved it is 0.645–0.651, and K-Means' ARI/AMI 0.461/0.637 equal umap-learn's.
 * An edge's attraction and its negative samples are all taken at the head's position before the
 * edge (umap-learn moves the head after each): the SGD's critical path is a third as long.
 */
#ifndef FM_UMAP_H
#define FM_UMAP_H

#include "fm.h"

/* a sparse symmetric graph in CSR form: row i's edges are col/val[rowptr[i] .. rowptr[i+1]-1],
 * columns ascending. Arrays are fm_alloc'ed (fm_umap_graph_free). */
typedef struct {
    int64_t n, nnz;
    int64_t *rowptr;   /* n + 1 */
    int32_t *col;      /* nnz */
    float *val;        /* nnz */
} fm_umap_graph;

void fm_umap_graph_free(fm_umap_graph *g);

/* ---- the fuzzy simplicial set ---- */

/* sigma, rho (n) from dist (n×k, each row ascending; umap-learn's layout: column 0 is the point
 * itself at distance 0 when the graph came from the data itself). target = log2(k_target) ·
 * bandwidth; binary search of 64 steps to tolerance 1e-5; sigma floored at 1e-3 × the mean
 * distance (of the row if rho > 0, of the whole matrix otherwise). */
fm_status fm_umap_smooth_knn_dist(float *sigma, float *rho, const float *dist, int64_t n, int64_t k,
                                  double k_target, double local_connectivity, double bandwidth);

/* val (n×k) = exp(−(dist − rho)/sigma), 1 where dist ≤ rho or sigma = 0, 0 for the point itself
 * (idx == row, when self_in_rows) and for idx < 0. idx is 0-based (n×k). */
fm_status fm_umap_membership(float *val, const int32_t *idx, const float *dist, const float *sigma,
                             const float *rho, int64_t n, int64_t k, int self_in_rows);

/* g = mix·(P + Pᵀ − P∘Pᵀ) + (1 − mix)·(P∘Pᵀ) with P the n×n sparse matrix of val at (i, idx);
 * zeros dropped. */
fm_status fm_umap_fuzzy_union(fm_umap_graph *g, const int32_t *idx, const float *val, int64_t n,
                              int64_t k, double set_op_mix_ratio);

/* Dalmia & Sia's mutual-kNN graph: keep the edges i–j with j among i's neighbours and i among j's,
 * then reconnect: FM_UMAP_CONNECT_NEAREST ties each point left with no mutual neighbour to its
 * nearest neighbour (the paper's "NN"); FM_UMAP_CONNECT_MIN_TREE adds the fewest edges of the kNN
 * graph's minimum spanning tree that join the mutual graph's components ("MST-min": Kruskal by
 * distance from those components). Then each point's new
 * neighbour list is the k − 1 points nearest along shortest paths of that graph (Dijkstra,
 * path length = sum of edge distances), with the point itself first at distance 0 — umap-learn's
 * layout, ready for fm_umap_smooth_knn_dist. Lists shorter than k are padded with idx −1 and
 * dist = the row's last distance. idx/dist (n×k) in, out_idx/out_dist (n×k) out; column 0 of the
 * input is the point itself. n_isolated (may be NULL): points that had no mutual neighbour. */
enum { FM_UMAP_CONNECT_NEAREST = 0, FM_UMAP_CONNECT_MIN_TREE = 1 };
fm_status fm_umap_mutual_knn(int32_t *out_idx, float *out_dist, const int32_t *idx, const float *dist,
                             int64_t n, int64_t k, int connectivity, int64_t *n_isolated);

/* out = g without the edges of weight < threshold (umap-learn: max weight / n_epochs) */
fm_status fm_umap_prune(fm_umap_graph *out, const fm_umap_graph *g, float threshold);

/* a, b of 1/(1 + a·x^(2b)) fitted by least squares (Levenberg–Marquardt) to
 * 1 for x < min_dist, exp(−(x − min_dist)/spread) beyond, at 300 points on [0, 3·spread] */
fm_status fm_umap_find_ab(double *a, double *b, double spread, double min_dist);

/* ---- initialisation ---- */

/* comp (n) = connected component of each vertex (0-based, in order of first vertex); *ncomp */
fm_status fm_umap_components(int32_t *comp, int64_t *ncomp, const fm_umap_graph *g);

/* emb (n×dim): eigenvectors 2..dim+1 (by decreasing eigenvalue) of D^-½·W·D^-½, i.e. the
 * smallest nontrivial ones of the normalised Laplacian, by thick-restart Lanczos in double with
 * deterministic (fixed-chunk) reductions; tol on the relative residual as umap-learn's eigsh (1e-4).
 * *converged = 0 when the restarts ran out (emb then holds the best Ritz vectors). Needs a
 * connected graph with n > dim + 1. solver: 0 auto (dense LAPACK up to 1,500 vertices, else
 * Lanczos), 1 dense, 2 Lanczos. */
fm_status fm_umap_spectral_init(float *emb, int *converged, const fm_umap_graph *g, int64_t dim,
                                uint64_t seed, int solver, int verbose);

/* emb (n×dim) ← emb · 10/max|emb| + N(0, 1e-4) noise (stream of seed), then each column scaled
 * to [0, 10] (umap-learn's spectral path followed by simplicial_set_embedding's rescale) */
fm_status fm_umap_scale_init(float *emb, int64_t n, int64_t dim, uint64_t seed);

/* ---- the layout ---- */

typedef struct {
    int n_epochs;
    double a, b;
    double gamma;                 /* repulsion_strength */
    double initial_alpha;         /* learning_rate */
    double negative_sample_rate;
    uint64_t seed;
    int verbose;
    /* densMAP (fit only): the term is on in the last dens_frac of the epochs */
    int densmap;
    double dens_lambda, dens_frac, dens_var_shift;
    const float *dens_R;          /* n: standardised log local radius in the data */
    const float *dens_mu_sum;     /* n: sum of the memberships at each vertex (both directions) */
} fm_umap_sgd_options;

/* Optimise emb (nh×dim) in place over the edges (rowptr (nh+1), col, w): heads are the rows.
 * tail == NULL: fit — the tails are the vertices of emb itself (read from a per-slice snapshot),
 *               each directed edge moving its head and, at the epoch's end, its tail (see the
 *               header comment);
 * tail != NULL: transform — tails are rows of the fixed tail (nt×dim), one pull per edge.
 * Edges of weight 0 are never sampled. */
fm_status fm_umap_optimize(float *emb, const float *tail, int64_t nh, int64_t nt, int64_t dim,
                           const int64_t *rowptr, const int32_t *col, const float *w,
                           const fm_umap_sgd_options *opt);

/* densMAP's log local radii: rad (n) = log(1e-8 + Σ w·d² / Σ w) over each vertex's edges, with
 * d the data-space distance of the edge (edist, aligned with g's entries) or, when edist is NULL,
 * the embedding distance with memberships 1/(1 + a·d^2b) (umap-learn's rad_emb) */
fm_status fm_umap_local_radii(float *rad, const fm_umap_graph *g, const float *edist, const float *emb,
                              int64_t dim, double a, double b);

/* for transform: emb (m×dim) = the membership-weighted mean (weights normalised per row) of the
 * training embedding rows idx (m×k) */
fm_status fm_umap_init_transform(float *emb, const int32_t *idx, const float *w, const float *train,
                                 int64_t m, int64_t k, int64_t dim);

/* ---- the whole fit and transform (umap_fit.c) ---- */

typedef enum { FM_UMAP_INIT_SPECTRAL = 0, FM_UMAP_INIT_PCA, FM_UMAP_INIT_RANDOM } fm_umap_init;
typedef enum { FM_UMAP_KNN_AUTO = 0, FM_UMAP_KNN_EXACT, FM_UMAP_KNN_NNDESCENT } fm_umap_knn_method;

typedef struct {
    int64_t n_neighbors;          /* 15 */
    int64_t n_components;         /* 2 */
    int metric;                   /* fm_knn_metric: euclidean */
    double min_dist, spread;      /* 0.1, 1.0 */
    int n_epochs;                 /* ≤ 0: 500 up to 10,000 points, else 200 (+200 with densMAP) */
    double learning_rate;         /* 1.0 */
    int init;                     /* fm_umap_init */
    double negative_sample_rate;  /* 5 */
    double repulsion_strength;    /* 1.0 */
    double local_connectivity;    /* 1.0 */
    double set_op_mix_ratio;      /* 1.0 */
    uint64_t seed;
    int mutual;                   /* Dalmia & Sia's mutual-kNN graph instead of the fuzzy union's kNN */
    int connectivity;             /* mutual graph: FM_UMAP_CONNECT_MIN_TREE (default) or _NEAREST */
    int knn_method;               /* fm_umap_knn_method: auto = exact below 20,000 points */
    int densmap;                  /* densMAP term */
    double dens_lambda, dens_frac, dens_var_shift;   /* 2.0, 0.3, 0.1 */
    int output_dens;              /* fill rad_orig / rad_emb */
    double a, b;                  /* NaN: fitted from min_dist and spread */
    int verbose;
} fm_umap_options;

void fm_umap_defaults(fm_umap_options *o);

typedef struct {
    fm_mat embedding;             /* n × n_components */
    float *rad_orig, *rad_emb;    /* n each, with output_dens (else NULL) */
    double a, b;
    int n_epochs;
    int init_used;                /* fm_umap_init actually used (spectral falls back to PCA) */
    int spectral_converged;
    int64_t n_graph_components;   /* connected components of the graph */
    int64_t n_isolated;           /* mutual graph: points with no mutual neighbour */
    int64_t n_edges;              /* directed edges optimised */
    int knn_method_used;
} fm_umap_result;

void fm_umap_result_free(fm_umap_result *r);

/* x (n×d, finite). n > n_neighbors ≥ 2 and n − 1 > n_components ≥ 1 (the binding checks).
 * err (FM_ERRLEN, may be NULL) gets a sentence on failure. */
fm_status fm_umap_fit(fm_umap_result *res, const float *x, int64_t n, int64_t d, const fm_umap_options *o,
                      char *err);

/* out (m×dim): new points q (m×d) embedded against a fit: x (n×d) its data, emb (n×dim) its
 * embedding. As umap-learn: neighbours in x, memberships with local_connectivity − 1, the
 * weighted-mean start, then SGD with emb fixed for n_epochs/3 epochs (≤ 0 in o: 100 up to 10,000
 * points, else 30) at learning_rate/4. o->a, o->b must be set. */
fm_status fm_umap_transform(float *out, const float *x, const float *emb, const float *q, int64_t n,
                            int64_t m, int64_t d, int64_t dim, const fm_umap_options *o);

#endif
