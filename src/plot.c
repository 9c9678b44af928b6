/* plot.c — canvases, shapes, text, cells and scatter points on cairo image surfaces. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "DejaVu Sans"

/* ------------------------------------------------------------------ colour maps */

/* 11 evenly spaced stops of each map, linearly interpolated (sRGB, 0..255) */
static const unsigned char STOPS[FM_CMAP_COUNT][11][3] = {
    /* viridis */
    {{68, 1, 84}, {72, 36, 117}, {65, 68, 135}, {53, 95, 141}, {42, 120, 142}, {33, 145, 140},
     {34, 168, 132}, {68, 191, 112}, {122, 209, 81}, {189, 223, 38}, {253, 231, 37}},
    /* gray: black → white */
    {{0, 0, 0}, {25, 25, 25}, {51, 51, 51}, {76, 76, 76}, {102, 102, 102}, {127, 127, 127},
     {153, 153, 153}, {178, 178, 178}, {204, 204, 204}, {229, 229, 229}, {255, 255, 255}},
    /* gray_r: white → black */
    {{255, 255, 255}, {229, 229, 229}, {204, 204, 204}, {178, 178, 178}, {153, 153, 153},
     {127, 127, 127}, {102, 102, 102}, {76, 76, 76}, {51, 51, 51}, {25, 25, 25}, {0, 0, 0}},
    /* blues (ColorBrewer's 9 classes, stretched to 11 stops) */
    {{247, 251, 255}, {225, 237, 248}, {204, 224, 242}, {176, 210, 232}, {137, 190, 220},
     {99, 168, 211}, {70, 146, 199}, {43, 123, 186}, {19, 97, 164}, {8, 72, 138}, {8, 48, 107}},
    /* magma */
    {{0, 0, 4}, {20, 14, 54}, {59, 15, 112}, {100, 26, 128}, {140, 41, 129}, {183, 55, 121},
     {222, 73, 104}, {247, 112, 92}, {254, 159, 109}, {254, 207, 146}, {252, 253, 191}},
};

fm_rgba fm_cmap_color(fm_cmap map, double t)
{
    if ((unsigned)map >= FM_CMAP_COUNT) map = FM_CMAP_VIRIDIS;
    if (!(t > 0)) t = 0;   /* NaN too */
    if (t > 1) t = 1;
    double u = t * 10.0;
    int i = (int)u;
    if (i > 9) i = 9;
    double f = u - i;
    const unsigned char *a = STOPS[map][i], *b = STOPS[map][i + 1];
    return (fm_rgba){((1 - f) * a[0] + f * b[0]) / 255.0, ((1 - f) * a[1] + f * b[1]) / 255.0,
                     ((1 - f) * a[2] + f * b[2]) / 255.0, 1.0};
}

/* ------------------------------------------------------------------ canvas */

static fm_status from_cairo(cairo_status_t s)
{
    if (s == CAIRO_STATUS_SUCCESS) return FM_STATUS_OK;
    if (s == CAIRO_STATUS_NO_MEMORY) return FM_STATUS_NOMEM;
    if (s == CAIRO_STATUS_WRITE_ERROR || s == CAIRO_STATUS_READ_ERROR || s == CAIRO_STATUS_FILE_NOT_FOUND)
        return FM_STATUS_IO;
    if (s == CAIRO_STATUS_INVALID_SIZE) return FM_STATUS_ARG;
    return FM_STATUS_FORMAT;
}

fm_status fm_canvas_init(fm_canvas *c, int width, int height)
{
    c->surface = NULL;
    c->cr = NULL;
    c->width = c->height = 0;
    if (width < 1 || height < 1 || width > FM_CANVAS_MAX || height > FM_CANVAS_MAX) return FM_STATUS_ARG;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    fm_status st = from_cairo(cairo_surface_status(s));
    if (st != FM_STATUS_OK) {
        cairo_surface_destroy(s);
        return st;
    }
    cairo_t *cr = cairo_create(s);
    st = from_cairo(cairo_status(cr));
    if (st != FM_STATUS_OK) {
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        return st;
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    c->surface = s;
    c->cr = cr;
    c->width = width;
    c->height = height;
    return FM_STATUS_OK;
}

fm_status fm_canvas_load_png(fm_canvas *c, const char *path, char *err)
{
    c->surface = NULL;
    c->cr = NULL;
    c->width = c->height = 0;
    FILE *fh = fopen(path, "rb");   /* first, for a precise reason when the file is not there */
    if (!fh) {
        if (err) snprintf(err, FM_ERRLEN, "cannot open '%s': %s", path, strerror(errno));
        return FM_STATUS_IO;
    }
    fclose(fh);
    cairo_surface_t *png = cairo_image_surface_create_from_png(path);
    cairo_status_t cs = cairo_surface_status(png);
    if (cs != CAIRO_STATUS_SUCCESS) {
        if (err) snprintf(err, FM_ERRLEN, "cannot read PNG '%s': %s", path, cairo_status_to_string(cs));
        cairo_surface_destroy(png);
        return cs == CAIRO_STATUS_NO_MEMORY ? FM_STATUS_NOMEM : FM_STATUS_FORMAT;
    }
    int w = cairo_image_surface_get_width(png), h = cairo_image_surface_get_height(png);
    fm_status st = fm_canvas_init(c, w, h);
    if (st == FM_STATUS_OK) {
        /* copy onto a transparent ARGB32 canvas, so pixels read back the same for any PNG format */
        cairo_set_operator(c->cr, CAIRO_OPERATOR_SOURCE);
        cairo_set_source_surface(c->cr, png, 0, 0);
        cairo_paint(c->cr);
        cairo_set_operator(c->cr, CAIRO_OPERATOR_OVER);
        cairo_surface_flush(c->surface);
    } else if (err) {
        snprintf(err, FM_ERRLEN, "cannot hold PNG '%s' (%d×%d)", path, w, h);
    }
    cairo_surface_destroy(png);
    return st;
}

void fm_canvas_free(fm_canvas *c)
{
    if (c->cr) cairo_destroy(c->cr);
    if (c->surface) cairo_surface_destroy(c->surface);
    c->cr = NULL;
    c->surface = NULL;
}

typedef struct { FILE *fh; int err; } file_sink;

static cairo_status_t write_file(void *ud, const unsigned char *data, unsigned int len)
{
    file_sink *s = ud;
    if (fwrite(data, 1, len, s->fh) != len) {
        s->err = errno ? errno : EIO;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

fm_status fm_canvas_write_png(const fm_canvas *c, const char *path, char *err)
{
    if (!c->surface) return FM_STATUS_ARG;
    errno = 0;
    FILE *fh = fopen(path, "wb");
    if (!fh) {
        if (err) snprintf(err, FM_ERRLEN, "cannot write PNG '%s': %s", path, strerror(errno));
        return FM_STATUS_IO;
    }
    file_sink sink = {fh, 0};
    cairo_surface_flush(c->surface);
    cairo_status_t cs = cairo_surface_write_to_png_stream(c->surface, write_file, &sink);
    int close_failed = fclose(fh) != 0;
    if (cs != CAIRO_STATUS_SUCCESS || close_failed) {
        if (err) {
            const char *why = sink.err ? strerror(sink.err)
                            : cs != CAIRO_STATUS_SUCCESS ? cairo_status_to_string(cs) : strerror(errno);
            snprintf(err, FM_ERRLEN, "cannot write PNG '%s': %s", path, why);
        }
        remove(path);   /* no half file left behind */
        return cs == CAIRO_STATUS_NO_MEMORY ? FM_STATUS_NOMEM : FM_STATUS_IO;
    }
    return FM_STATUS_OK;
}

typedef struct { unsigned char *buf; size_t len, cap; } mem_sink;

static cairo_status_t write_mem(void *ud, const unsigned char *data, unsigned int len)
{
    mem_sink *s = ud;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->len + len) cap *= 2;
        unsigned char *b = realloc(s->buf, cap);
        if (!b) return CAIRO_STATUS_NO_MEMORY;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return CAIRO_STATUS_SUCCESS;
}

fm_status fm_canvas_png_bytes(unsigned char **out, size_t *len, const fm_canvas *c)
{
    *out = NULL;
    *len = 0;
    if (!c->surface) return FM_STATUS_ARG;
    mem_sink s = {NULL, 0, 0};
    cairo_surface_flush(c->surface);
    cairo_status_t cs = cairo_surface_write_to_png_stream(c->surface, write_mem, &s);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(s.buf);
        return from_cairo(cs);
    }
    *out = s.buf;
    *len = s.len;
    return FM_STATUS_OK;
}

fm_status fm_canvas_pixel(unsigned char rgba[4], const fm_canvas *c, int x, int y)
{
    if (!c->surface || x < 0 || y < 0 || x >= c->width || y >= c->height) return FM_STATUS_ARG;
    cairo_surface_flush(c->surface);
    const unsigned char *data = cairo_image_surface_get_data(c->surface);
    int stride = cairo_image_surface_get_stride(c->surface);
    uint32_t p;
    memcpy(&p, data + (size_t)y * stride + (size_t)x * 4, 4);
    unsigned a = p >> 24, r = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
    if (a > 0 && a < 255) {   /* un-premultiply, rounded */
        r = (r * 255 + a / 2) / a;
        g = (g * 255 + a / 2) / a;
        b = (b * 255 + a / 2) / a;
    }
    rgba[0] = (unsigned char)r;
    rgba[1] = (unsigned char)g;
    rgba[2] = (unsigned char)b;
    rgba[3] = (unsigned char)a;
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ shapes and text */

static void source(cairo_t *cr, fm_rgba col) { cairo_set_source_rgba(cr, col.r, col.g, col.b, col.a); }

void fm_plot_rect(fm_canvas *c, double x, double y, double w, double h, fm_rgba col, double stroke)
{
    cairo_t *cr = c->cr;
    source(cr, col);
    if (stroke > 0) {
        cairo_set_line_width(cr, stroke);
        cairo_rectangle(cr, x, y, w, h);
        cairo_stroke(cr);
    } else {
        cairo_rectangle(cr, x, y, w, h);
        cairo_fill(cr);
    }
}

void fm_plot_path(fm_canvas *c, const double *xs, const double *ys, int64_t n, fm_rgba col,
                  double width, int fill, double dash)
{
    cairo_t *cr = c->cr;
    int started = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) {   /* a gap, as matplotlib leaves one at NaN */
            if (!fill) started = 0;
            continue;
        }
        if (started) cairo_line_to(cr, xs[i], ys[i]);
        else cairo_move_to(cr, xs[i], ys[i]);
        started = 1;
    }
    source(cr, col);
    if (fill) {
        cairo_close_path(cr);
        cairo_fill(cr);
        return;
    }
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    if (dash > 0) cairo_set_dash(cr, &dash, 1, 0);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

void fm_plot_circle(fm_canvas *c, double x, double y, double radius, fm_rgba col, double stroke)
{
    cairo_t *cr = c->cr;
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, radius, 0, 2 * M_PI);
    source(cr, col);
    if (stroke > 0) {
        cairo_set_line_width(cr, stroke);
        cairo_stroke(cr);
    } else {
        cairo_fill(cr);
    }
}

/* cairo stops drawing for good on invalid UTF-8 (a sticky error on the context): give it a copy
 * with each bad byte replaced by '?'. Returns s itself when valid, else a malloc'ed copy (or NULL). */
static char *valid_utf8(const char *s, int *copied)
{
    *copied = 0;
    size_t n = strlen(s), i = 0;
    int ok = 1;
    while (i < n && ok) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n) { ok = 0; break; }
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] >> 6) != 2) ok = 0;
        i += len;
    }
    if (ok) return (char *)s;
    char *t = malloc(n + 1);
    if (!t) return NULL;
    size_t o = 0;
    for (i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int good = len > 0 && i + len <= n;
        for (size_t k = 1; good && k < len; k++)
            if (((unsigned char)s[i + k] >> 6) != 2) good = 0;
        if (good) {
            memcpy(t + o, s + i, len);
            o += len;
            i += len;
        } else {
            t[o++] = '?';
            i++;
        }
    }
    t[o] = 0;
    *copied = 1;
    return t;
}

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

void fm_plot_text_size(double *w, double *h, fm_canvas *c, const char *s0, double size, int bold)
{
    cairo_t *cr = c->cr;
    int copied;
    char *s = valid_utf8(s0, &copied);
    if (w) *w = 0;
    if (h) *h = 0;
    if (!s) return;
    font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    if (w) *w = te.x_advance;
    if (h) *h = fe.ascent + fe.descent;
    if (copied) free(s);
}

void fm_plot_text(fm_canvas *c, double x, double y, const char *s0, double size, fm_rgba col,
                  double halign, double valign, double angle, int bold)
{
    cairo_t *cr = c->cr;
    int copied;
    char *s = valid_utf8(s0, &copied);
    if (!s) return;
    font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, -angle * M_PI / 180.0);
    cairo_move_to(cr, -halign * te.x_advance, -valign * (fe.ascent + fe.descent) + fe.ascent);
    source(cr, col);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
    cairo_restore(cr);
    if (copied) free(s);
}

/* ------------------------------------------------------------------ cells */

static uint32_t premul(fm_rgba c)
{
    double a = c.a < 0 ? 0 : c.a > 1 ? 1 : c.a;
    uint32_t A = (uint32_t)lround(a * 255);
    uint32_t R = (uint32_t)lround(c.r * a * 255), G = (uint32_t)lround(c.g * a * 255), B = (uint32_t)lround(c.b * a * 255);
    return A << 24 | R << 16 | G << 8 | B;
}

fm_status fm_plot_cells(fm_canvas *c, const float *v, int64_t rows, int64_t cols, double x, double y,
                        double w, double h, fm_cmap map, double vmin, double vmax, fm_rgba nan_col)
{
    if (rows < 1 || cols < 1 || rows > FM_CANVAS_MAX || cols > FM_CANVAS_MAX) return FM_STATUS_ARG;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)cols, (int)rows);
    fm_status st = from_cairo(cairo_surface_status(img));
    if (st != FM_STATUS_OK) {
        cairo_surface_destroy(img);
        return st;
    }
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    double span = vmax - vmin;
    uint32_t nanpx = premul(nan_col);
    for (int64_t i = 0; i < rows; i++) {
        uint32_t *row = (uint32_t *)(data + (size_t)i * stride);
        for (int64_t j = 0; j < cols; j++) {
            double val = v[i * cols + j];
            if (!isfinite(val)) { row[j] = nanpx; continue; }
            double t = span > 0 ? (val - vmin) / span : 0.5;
            row[j] = premul(fm_cmap_color(map, t));
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_t *cr = c->cr;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, w / (double)cols, h / (double)rows);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);   /* no faded border */
    cairo_rectangle(cr, 0, 0, (double)cols, (double)rows);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ scatter points */

/* blend a straight colour (r, g, b in 0..255) with opacity s in [0, 1] over a premultiplied pixel */
static inline void blend(uint32_t *px, double r, double g, double b, double s)
{
    uint32_t p = *px;
    double k = 1.0 - s;
    double A = (p >> 24) * k + 255.0 * s;
    double R = ((p >> 16) & 255) * k + r * s;
    double G = ((p >> 8) & 255) * k + g * s;
    double B = (p & 255) * k + b * s;
    *px = (uint32_t)(A + 0.5) << 24 | (uint32_t)(R + 0.5) << 16 | (uint32_t)(G + 0.5) << 8 | (uint32_t)(B + 0.5);
}

/* index of v in the ascending vals[k], or k when absent */
static int64_t find_val(const int32_t *vals, int64_t k, int32_t v)
{
    int64_t lo = 0, hi = k;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (vals[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return (lo < k && vals[lo] == v) ? lo : k;
}

fm_status fm_plot_points(int64_t *skipped, fm_canvas *c, const fm_plot_frame *f, const float *xs,
                         const float *ys, int64_t stride, const int32_t *labels, int64_t n,
                         const int32_t *vals, const fm_rgba *colors, const unsigned char *layer,
                         int64_t k, double size, double alpha, uint64_t order_seed)
{
    *skipped = 0;
    if (!c->surface || n < 0 || k < 0 || !(size > 0) || !(alpha >= 0 && alpha <= 1)) return FM_STATUS_ARG;
    if (!(f->xmax > f->xmin) || !(f->ymax > f->ymin) || !(f->w > 0) || !(f->h > 0)) return FM_STATUS_ARG;
    if (n == 0) return FM_STATUS_OK;
    int64_t *perm = fm_alloc((size_t)n, sizeof *perm);
    int32_t *col = fm_alloc((size_t)n, sizeof *col);
    if (!perm || !col) {
        fm_free(perm);
        fm_free(col);
        return FM_STATUS_NOMEM;
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = xs[i * stride], y = ys[i * stride];
        if (!isfinite(x) || !isfinite(y)) {
            col[i] = -1;
            bad++;
            continue;
        }
        col[i] = (int32_t)(labels ? find_val(vals, k, labels[i]) : k);
    }
    fm_rng_permutation(perm, n, order_seed, 0);

    cairo_surface_flush(c->surface);
    unsigned char *data = cairo_image_surface_get_data(c->surface);
    int stride_px = cairo_image_surface_get_stride(c->surface);
    /* clip box in pixels: [cx0, cx1) × [cy0, cy1) */
    int cx0 = (int)floor(f->x0), cy0 = (int)floor(f->y0);
    int cx1 = (int)ceil(f->x0 + f->w), cy1 = (int)ceil(f->y0 + f->h);
    if (cx0 < 0) cx0 = 0;
    if (cy0 < 0) cy0 = 0;
    if (cx1 > c->width) cx1 = c->width;
    if (cy1 > c->height) cy1 = c->height;
    double sx = f->w / (f->xmax - f->xmin), sy = f->h / (f->ymax - f->ymin);
    /* a disk smaller than a pixel keeps its area as a fainter pixel-wide dot */
    double r = size / 2, a0 = alpha;
    if (r < 0.5) {
        a0 = alpha * (size * size);
        r = 0.5;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t t = 0; t < n; t++) {
            int64_t i = perm[t];
            int32_t ci = col[i];
            if (ci < 0) continue;
            int lay = layer ? (layer[ci] != 0) : 1;
            if (lay != pass) continue;
            fm_rgba cc = colors[ci];
            double a = a0 * cc.a;
            if (a <= 0) continue;
            double R = cc.r * 255, G = cc.g * 255, B = cc.b * 255;
            double px = f->x0 + ((double)xs[i * stride] - f->xmin) * sx;
            double py = f->y0 + f->h - ((double)ys[i * stride] - f->ymin) * sy;
            /* outside the clip box (or not a number): nothing to draw, and no int overflow below */
            if (!(px > cx0 - r - 1 && px < cx1 + r + 1 && py > cy0 - r - 1 && py < cy1 + r + 1)) continue;
            int i0 = (int)floor(px - r - 0.5), i1 = (int)ceil(px + r + 0.5);
            int j0 = (int)floor(py - r - 0.5), j1 = (int)ceil(py + r + 0.5);
            if (i0 < cx0) i0 = cx0;
            if (j0 < cy0) j0 = cy0;
            if (i1 > cx1) i1 = cx1;
            if (j1 > cy1) j1 = cy1;
            for (int yy = j0; yy < j1; yy++) {
                uint32_t *row = (uint32_t *)(data + (size_t)yy * stride_px);
                double dy = yy + 0.5 - py;
                for (int xx = i0; xx < i1; xx++) {
                    double dx = xx + 0.5 - px;
                    double cov = r + 0.5 - sqrt(dx * dx + dy * dy);   /* linear ramp over one pixel */
                    if (cov <= 0) continue;
                    if (cov > 1) cov = 1;
                    blend(row + xx, R, G, B, a * cov);
                }
            }
        }
    }
    cairo_surface_mark_dirty(c->surface);
    fm_free(perm);
    fm_free(col);
    *skipped = bad;
    return FM_STATUS_OK;
}

fm_status fm_plot_range(double *lo, double *hi, int64_t *finite, const float *x, int64_t n, int64_t d, int64_t col)
{
    *lo = *hi = NAN;
    *finite = 0;
    if (n < 0 || d < 1 || col < 0 || col >= d) return FM_STATUS_ARG;
    double a = INFINITY, b = -INFINITY;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i * d + col];
        if (!isfinite(v)) continue;
        if (v < a) a = v;
        if (v > b) b = v;
        k++;
    }
    if (k > 0) {
        *lo = a;
        *hi = b;
    }
    *finite = k;
    return FM_STATUS_OK;
}

/* ------------------------------------------------------------------ base64 */

size_t fm_base64_encode(char *out, const unsigned char *in, size_t len)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = A[v >> 18];
        out[o++] = A[(v >> 12) & 63];
        out[o++] = A[(v >> 6) & 63];
        out[o++] = A[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = A[v >> 18];
        out[o++] = A[(v >> 12) & 63];
        out[o++] = i + 1 < len ? A[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}
