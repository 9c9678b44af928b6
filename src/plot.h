/* plot.h — drawing on cairo image surfaces for fmclust's pictures (fm.plot, the HTML report).
 *
 * A canvas is an ARGB32 image surface with its cairo context. The primitives here draw shapes,
 * text, matrices as coloured cells and, the one loop that must be fast, up to millions of
 * scatter points; lua/fmclust/plot.lua composes axes, legends and layouts from them.
 * Coordinates are pixels, origin top-left, y down. Colours are straight (not premultiplied)
 * RGBA in [0, 1]. Nothing here raises: failures come back as an fm_status (+ a sentence in err).
 */
#ifndef FM_PLOT_H
#define FM_PLOT_H

#include <cairo.h>
#include "fm.h"

#define FM_CANVAS_MAX 16384   /* widest / tallest canvas (cairo's own limit is 32767) */

typedef struct {
    cairo_surface_t *surface;   /* NULL until fm_canvas_init succeeded */
    cairo_t *cr;
    int width, height;
} fm_canvas;

typedef struct { double r, g, b, a; } fm_rgba;

/* colour maps for fm_plot_cells: t in [0, 1] → colour */
typedef enum { FM_CMAP_VIRIDIS = 0, FM_CMAP_GRAY, FM_CMAP_GRAY_R, FM_CMAP_BLUES, FM_CMAP_MAGMA, FM_CMAP_COUNT } fm_cmap;
fm_rgba fm_cmap_color(fm_cmap map, double t);

/* a white width×height canvas */
fm_status fm_canvas_init(fm_canvas *c, int width, int height);
/* a canvas holding a PNG file (ARGB32 whatever the file's format) */
fm_status fm_canvas_load_png(fm_canvas *c, const char *path, char *err);
void fm_canvas_free(fm_canvas *c);   /* idempotent */
/* write the canvas as PNG; err names the path and the reason */
fm_status fm_canvas_write_png(const fm_canvas *c, const char *path, char *err);
/* the PNG in memory: *out is malloc'ed (free() it), *len its size */
fm_status fm_canvas_png_bytes(unsigned char **out, size_t *len, const fm_canvas *c);
/* the straight-alpha RGBA of pixel (x, y), 0-based; FM_STATUS_ARG outside the canvas */
fm_status fm_canvas_pixel(unsigned char rgba[4], const fm_canvas *c, int x, int y);

/* ---- shapes and text (cairo paths; antialiased) ---- */
/* a rectangle: filled when stroke <= 0, else outlined with that line width */
void fm_plot_rect(fm_canvas *c, double x, double y, double w, double h, fm_rgba col, double stroke);
/* a polyline through n points (closed and filled when fill != 0); dash > 0 dashes it */
void fm_plot_path(fm_canvas *c, const double *xs, const double *ys, int64_t n, fm_rgba col,
                  double width, int fill, double dash);
/* a circle: filled when stroke <= 0 */
void fm_plot_circle(fm_canvas *c, double x, double y, double radius, fm_rgba col, double stroke);
/* text (UTF-8; invalid bytes are drawn as '?') with its anchor at (x, y): halign 0 left … 1 right, valign 0 top … 1 baseline-ish
 * bottom; rotated by angle degrees (counter-clockwise) around the anchor */
void fm_plot_text(fm_canvas *c, double x, double y, const char *s, double size, fm_rgba col,
                  double halign, double valign, double angle, int bold);
/* the advance width and the height (ascent + descent) of a text */
void fm_plot_text_size(double *w, double *h, fm_canvas *c, const char *s, double size, int bold);

/* ---- matrices ---- */
/* v (rows×cols, row-major) drawn as cells filling the box (x, y, w, h), value → colour by map
 * over [vmin, vmax] (clamped); NaN cells get nan_col. Cells are sharp (nearest-neighbour). */
fm_status fm_plot_cells(fm_canvas *c, const float *v, int64_t rows, int64_t cols, double x, double y,
                        double w, double h, fm_cmap map, double vmin, double vmax, fm_rgba nan_col);

/* ---- scatter points ---- */
/* The data box [xmin, xmax] × [ymin, ymax] maps onto the pixel box (x0, y0, w, h), y up. */
typedef struct { double x0, y0, w, h, xmin, xmax, ymin, ymax; } fm_plot_frame;

/* Draw n points (xs[i*stride], ys[i*stride]) as antialiased disks of diameter `size` pixels with
 * opacity alpha, blended straight into the surface and clipped to the frame's pixel box.
 * Colour: label[i] looked up in vals (k ascending distinct values) → colors[j]; a label not in
 * vals (or labels == NULL) gets colors[k] (so colors holds k + 1 entries). Colours whose layer
 * is 0 are drawn first, the others over them (noise under the clusters); within a layer the
 * points go in a fixed pseudo-random order (order_seed) so no class always covers another.
 * Non-finite coordinates are skipped and counted in *skipped. */
fm_status fm_plot_points(int64_t *skipped, fm_canvas *c, const fm_plot_frame *f, const float *xs,
                         const float *ys, int64_t stride, const int32_t *labels, int64_t n,
                         const int32_t *vals, const fm_rgba *colors, const unsigned char *layer,
                         int64_t k, double size, double alpha, uint64_t order_seed);

/* the smallest and largest finite value of column col of x (n×d) and how many are finite;
 * *lo = *hi = NaN when none is */
fm_status fm_plot_range(double *lo, double *hi, int64_t *finite, const float *x, int64_t n, int64_t d, int64_t col);

/* ---- base64 (inlining PNGs in HTML) ---- */
/* out must hold 4·⌈len/3⌉ + 1 bytes; NUL-terminated; returns the length written */
size_t fm_base64_encode(char *out, const unsigned char *in, size_t len);

#endif
