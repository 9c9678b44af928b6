/* io.c — file formats: IDX (raw or gzip), .npy, CSV.
 *
 * Every reader validates sizes before it allocates, so a hostile or damaged header can neither
 * crash it nor make it ask for terabytes; every error is one sentence that names the file.
 */
#include "fm.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define MAX_DATA_BYTES ((uint64_t)1 << 34)   /* 16 GiB of file data: far above any real data set */
#define CHUNK (1 << 18)

static fm_status fail(char *err, fm_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, FM_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return s;
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* size of a regular file, or a failure sentence (missing, unreadable, a directory) */
static fm_status file_size(int64_t *size, const char *path, char *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, FM_STATUS_IO, "cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(err, FM_STATUS_IO, "cannot read '%s': it is a directory", path);
    *size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    return FM_STATUS_OK;
}

/* ======================================================================== IDX */

typedef struct {
    gzFile f;
    const char *path;
    int64_t fsize;   /* bytes on disk, -1 if not a regular file */
} idx_file;

static const char *idx_kind(uint32_t magic)
{
    switch (magic) {
    case 0x00000801: return " (that is the magic of an IDX label file)";
    case 0x00000803: return " (that is the magic of an IDX image file)";
    }
    if ((magic >> 16) == 0x1f8b) return " (a gzip stream inside the gzip stream?)";
    return "";
}

/* The reason a gzread came up short: zlib's own diagnosis, else plain truncation. */
static fm_status idx_short(const idx_file *x, const char *what, int64_t want, int64_t got, char *err)
{
    int zerr = Z_OK;
    const char *zmsg = gzerror(x->f, &zerr);
    switch (zerr) {
    case Z_ERRNO:
        return fail(err, FM_STATUS_IO, "cannot read '%s': %s", x->path, strerror(errno));
    case Z_MEM_ERROR:
        return fail(err, FM_STATUS_NOMEM, "out of memory while decompressing '%s'", x->path);
    case Z_DATA_ERROR:
    case Z_STREAM_ERROR: {
        size_t plen = strlen(x->path);   /* zlib writes "path: reason"; the path is named already */
        if (strncmp(zmsg, x->path, plen) == 0 && strncmp(zmsg + plen, ": ", 2) == 0) zmsg += plen + 2;
        return fail(err, FM_STATUS_FORMAT, "'%s' is a corrupt gzip stream (%s)", x->path, zmsg);
    }
    case Z_BUF_ERROR:   /* gzip stream ended early */
        return fail(err, FM_STATUS_FORMAT,
                    "'%s' is truncated: expected %lld bytes of %s, got %lld (gzip stream ends early)",
                    x->path, (long long)want, what, (long long)got);
    default:
        return fail(err, FM_STATUS_FORMAT, "'%s' is truncated: expected %lld bytes of %s, got %lld",
                    x->path, (long long)want, what, (long long)got);
    }
}

/* read exactly len bytes; *got says how many arrived */
static int gz_read_full(gzFile f, void *buf, int64_t len, int64_t *got)
{
    unsigned char *p = buf;
    int64_t done = 0;
    while (done < len) {
        int64_t want = len - done < (1 << 30) ? len - done : (1 << 30);
        int r = gzread(f, p + done, (unsigned)want);
        if (r <= 0) break;
        done += r;
    }
    *got = done;
    return done == len;
}

/* Open, check the magic (unsigned bytes, ndim dimensions) and read the dimensions. */
static fm_status idx_open(idx_file *x, uint32_t dims[3], const char *path, int ndim, const char *what,
                          char *err)
{
    x->f = NULL;
    x->path = path;
    fm_status s = file_size(&x->fsize, path, err);
    if (s != FM_STATUS_OK) return s;
    errno = 0;
    x->f = gzopen(path, "rb");
    if (!x->f) {
        if (errno == 0) return fail(err, FM_STATUS_NOMEM, "out of memory opening '%s'", path);
        return fail(err, FM_STATUS_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    gzbuffer(x->f, CHUNK);

    unsigned char head[16];
    int64_t hlen = 4 + 4 * (int64_t)ndim, got = 0;
    if (!gz_read_full(x->f, head, 4, &got)) {
        if (got == 0 && x->fsize == 0) return fail(err, FM_STATUS_FORMAT, "'%s' is empty", path);
        return idx_short(x, "IDX header", hlen, got, err);
    }
    uint32_t magic = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    uint32_t expect = 0x00000800u | (uint32_t)ndim;
    if (magic != expect)
        return fail(err, FM_STATUS_FORMAT,
                    "'%s' is not an IDX %s file: magic number 0x%08X, expected 0x%08X%s", path, what,
                    (unsigned)magic, (unsigned)expect, idx_kind(magic));
    if (!gz_read_full(x->f, head + 4, hlen - 4, &got)) return idx_short(x, "IDX header", hlen, got + 4, err);
    for (int k = 0; k < ndim; k++) {
        const unsigned char *b = head + 4 + 4 * k;
        dims[k] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    }
    return FM_STATUS_OK;
}

/* Refuse a header that announces more data than the file can hold, before allocating for it.
 * Deflate expands at most 1032:1, so a small .gz cannot honestly claim gigabytes. */
static fm_status idx_check_size(const idx_file *x, uint64_t bytes, int64_t hlen, const char *what, char *err)
{
    if (bytes > MAX_DATA_BYTES)
        return fail(err, FM_STATUS_FORMAT, "'%s' has absurd dimensions: %llu bytes of %s (limit %llu)",
                    x->path, (unsigned long long)bytes, what, (unsigned long long)MAX_DATA_BYTES);
    if (x->fsize < 0) return FM_STATUS_OK;   /* a pipe: no bound to check */
    int64_t body = x->fsize - hlen;
    if (gzdirect(x->f)) {
        if ((uint64_t)body < bytes)
            return fail(err, FM_STATUS_FORMAT, "'%s' is truncated: expected %llu bytes of %s, got %lld",
                        x->path, (unsigned long long)bytes, what, (long long)(body > 0 ? body : 0));
    } else if ((uint64_t)x->fsize * 1032u + 4096u < bytes) {
        return fail(err, FM_STATUS_FORMAT,
                    "'%s' is truncated: expected %llu bytes of %s, but a %lld-byte gzip file holds at most %llu",
                    x->path, (unsigned long long)bytes, what, (long long)x->fsize,
                    (unsigned long long)x->fsize * 1032u + 4096u);
    }
    return FM_STATUS_OK;
}

/* Stream `count` bytes converted into fout (scaled) or iout; then demand the end of the stream,
 * which is also where gzip's CRC is checked — a damaged file must not pass as valid data. */
static fm_status idx_body(idx_file *x, float *fout, float scale, int32_t *iout, int64_t count,
                          const char *what, char *err)
{
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return fail(err, FM_STATUS_NOMEM, "out of memory reading '%s'", x->path);
    /* one multiply per byte value; a scale of 1/k divides instead, so 1/255 gives exactly the
     * float32 k/255 that numpy's X.astype(np.float32) / 255 gives */
    float lut[256];
    double r = scale != 0 ? nearbyint(1.0 / (double)scale) : 0;
    int recip = r >= 1 && r <= 1e6 && (float)(1.0 / r) == scale;
    for (int k = 0; k < 256; k++) lut[k] = recip ? (float)k / (float)r : (float)k * scale;
    int64_t done = 0;
    fm_status s = FM_STATUS_OK;
    while (done < count) {
        int64_t want = count - done < CHUNK ? count - done : CHUNK, got = 0;
        int complete = gz_read_full(x->f, buf, want, &got);
        if (fout)
            for (int64_t i = 0; i < got; i++) fout[done + i] = lut[buf[i]];
        else
            for (int64_t i = 0; i < got; i++) iout[done + i] = buf[i];
        done += got;
        if (!complete) { s = idx_short(x, what, count, done, err); break; }
    }
    if (s == FM_STATUS_OK) {
        int r = gzread(x->f, buf, CHUNK);
        int zerr = Z_OK;
        gzerror(x->f, &zerr);
        if (r > 0) {
            int64_t extra = r;
            while ((r = gzread(x->f, buf, CHUNK)) > 0) extra += r;
            if (r == 0)
                s = fail(err, FM_STATUS_FORMAT, "'%s' has %lld bytes after the %lld bytes of %s its header announces",
                         x->path, (long long)extra, (long long)count, what);
            else
                s = idx_short(x, what, count, done, err);
        } else if (r < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR)) {
            s = idx_short(x, what, count, done, err);
        } else if (zerr == Z_BUF_ERROR) {   /* all the data, but no gzip trailer: cannot trust the CRC */
            s = fail(err, FM_STATUS_FORMAT, "'%s' is truncated: the gzip stream ends before its checksum", x->path);
        }
    }
    free(buf);
    return s;
}

static void idx_close(idx_file *x)
{
    if (x->f) gzclose(x->f);
    x->f = NULL;
}

fm_status fm_idx_read_images(fm_mat *out, const char *path, float scale, char *err)
{
    out->n = out->d = 0;
    out->data = NULL;
    idx_file x;
    uint32_t dims[3] = {0, 0, 0};
    fm_status s = idx_open(&x, dims, path, 3, "image", err);
    if (s != FM_STATUS_OK) { idx_close(&x); return s; }
    uint64_t n = dims[0], px = (uint64_t)dims[1] * dims[2];   /* u32·u32 fits u64 */
    if (px == 0 || px > MAX_DATA_BYTES || (n != 0 && px > MAX_DATA_BYTES / n)) {
        idx_close(&x);
        return fail(err, FM_STATUS_FORMAT, "'%s' has absurd dimensions %u×%u×%u", path,
                    (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2]);
    }
    s = idx_check_size(&x, n * px, 16, "pixel data", err);
    if (s == FM_STATUS_OK && fm_mat_init(out, (int64_t)n, (int64_t)px) != FM_STATUS_OK)
        s = fail(err, FM_STATUS_NOMEM, "out of memory for %llu×%llu images from '%s'",
                 (unsigned long long)n, (unsigned long long)px, path);
    if (s == FM_STATUS_OK) s = idx_body(&x, out->data, scale, NULL, (int64_t)(n * px), "pixel data", err);
    idx_close(&x);
    if (s != FM_STATUS_OK) fm_mat_free(out);
    return s;
}

fm_status fm_idx_read_labels(int32_t **labels, int64_t *n, const char *path, char *err)
{
    *labels = NULL;
    *n = 0;
    idx_file x;
    uint32_t dims[3] = {0, 0, 0};
    fm_status s = idx_open(&x, dims, path, 1, "label", err);
    if (s != FM_STATUS_OK) { idx_close(&x); return s; }
    uint64_t count = dims[0];
    s = idx_check_size(&x, count, 8, "labels", err);
    int32_t *y = NULL;
    if (s == FM_STATUS_OK && !(y = fm_alloc(count ? count : 1, sizeof *y)))
        s = fail(err, FM_STATUS_NOMEM, "out of memory for %llu labels from '%s'", (unsigned long long)count, path);
    if (s == FM_STATUS_OK) s = idx_body(&x, NULL, 0, y, (int64_t)count, "labels", err);
    idx_close(&x);
    if (s != FM_STATUS_OK) { fm_free(y); return s; }
    *labels = y;
    *n = (int64_t)count;
    return FM_STATUS_OK;
}

/* ======================================================================== .npy */

#define NPY_MAXDIM 8

typedef struct {
    char kind;         /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
    int size;          /* bytes per element */
    int swap;          /* file byte order differs from the host's */
    int ndim;
    int64_t shape[NPY_MAXDIM];
    int64_t count;     /* product of shape */
    int64_t offset;    /* where the data starts */
    char descr[16];
} npy_header;

typedef struct { const char *p, *end; } cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int take(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) { c->p++; return 1; }
    return 0;
}

/* a Python string literal, 'x' or "x", without escapes (numpy's keys and dtypes have none) */
static int parse_str(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q) c->p++;
    if (c->p >= c->end) return 0;
    size_t len = (size_t)(c->p - s);
    c->p++;
    if (len >= cap) len = cap - 1;   /* a long unknown key is only ever compared, never trusted */
    memcpy(out, s, len);
    out[len] = 0;
    return 1;
}

static int starts(cursor *c, const char *word)
{
    size_t n = strlen(word);
    skip_ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) { c->p += n; return 1; }
    return 0;
}

/* (), (n,), (n, d), … ; Python 2 numpy wrote longs as 3L */
static int parse_shape(cursor *c, npy_header *h)
{
    if (!take(c, '(')) return 0;
    h->ndim = 0;
    for (;;) {
        if (take(c, ')')) return 1;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
        if (h->ndim >= NPY_MAXDIM) return 0;
        h->shape[h->ndim++] = v;
        if (take(c, ',')) continue;
        if (take(c, ')')) return 1;
        return 0;
    }
}

/* skip one value of a key we do not use: a string, a word, a number, a tuple/list/dict */
static int skip_value(cursor *c)
{
    skip_ws(c);
    if (c->p >= c->end) return 0;
    if (*c->p == '\'' || *c->p == '"') { char tmp[2]; return parse_str(c, tmp, sizeof tmp); }
    int depth = 0;
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == '(' || ch == '[' || ch == '{') depth++;
        else if (ch == ')' || ch == ']' || ch == '}') { if (depth == 0) return 1; depth--; }
        else if (ch == ',' && depth == 0) return 1;
        else if (ch == '\'' || ch == '"') { char tmp[2]; if (!parse_str(c, tmp, sizeof tmp)) return 0; continue; }
        c->p++;
    }
    return 0;
}

static fm_status parse_descr(npy_header *h, const char *path, char *err)
{
    const char *d = h->descr;
    char order = *d;
    if (order == '<' || order == '>' || order == '|' || order == '=') d++;
    else order = '=';
    char kind = *d++;
    char *endp;
    long size = strtol(d, &endp, 10);
    int ok = *endp == 0 && endp != d;
    if (ok) {
        switch (kind) {
        case 'f': ok = size == 4 || size == 8; break;
        case 'i': case 'u': ok = size == 1 || size == 2 || size == 4 || size == 8; break;
        case 'b': ok = size == 1; break;
        default: ok = 0;
        }
    }
    if (!ok)
        return fail(err, FM_STATUS_FORMAT,
                    "'%s' has dtype '%s'; supported: float32/64 ('<f4', '<f8'), integers ('|u1', '|i1', '<i2', "
                    "'<i4', '<i8', unsigned alike) and bool", path, h->descr);
    h->kind = kind;
    h->size = (int)size;
    int file_le = order == '<' || (order == '=' && host_little_endian());
    h->swap = size > 1 && order != '|' && file_le != host_little_endian();
    return FM_STATUS_OK;
}

static fm_status npy_read_header(npy_header *h, FILE *f, int64_t fsize, const char *path, char *err)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        if (got >= 6 && memcmp(pre, "\x93NUMPY", 6) == 0)
            return fail(err, FM_STATUS_FORMAT, "'%s' is truncated inside its .npy preamble", path);
        return fail(err, FM_STATUS_FORMAT, "'%s' is not a .npy file: it does not start with \"\\x93NUMPY\"", path);
    }
    int major = pre[6], minor = pre[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return fail(err, FM_STATUS_FORMAT, "'%s' is .npy format version %d.%d; supported: 1.0, 2.0, 3.0",
                    path, major, minor);
    uint64_t hlen = pre[8] | (uint64_t)pre[9] << 8;
    int64_t pre_len = 10;
    if (major >= 2) {
        if (fread(pre + 10, 1, 2, f) != 2)
            return fail(err, FM_STATUS_FORMAT, "'%s' is truncated inside its .npy preamble", path);
        hlen |= (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        pre_len = 12;
    }
    if (fsize >= 0 && (int64_t)hlen > fsize - pre_len)
        return fail(err, FM_STATUS_FORMAT, "'%s' is truncated: its .npy header claims %llu bytes, the file has %lld",
                    path, (unsigned long long)hlen, (long long)(fsize - pre_len));
    if (hlen > (1u << 24))
        return fail(err, FM_STATUS_FORMAT, "'%s' has an absurd .npy header length (%llu bytes)", path,
                    (unsigned long long)hlen);
    char *text = malloc(hlen + 1);
    if (!text) return fail(err, FM_STATUS_NOMEM, "out of memory reading the header of '%s'", path);
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return fail(err, FM_STATUS_FORMAT, "'%s' is truncated inside its .npy header", path);
    }
    text[hlen] = 0;
    h->offset = pre_len + (int64_t)hlen;

    /* the header is a Python dict literal; keys may come in any order */
    cursor c = {text, text + hlen};
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0, ok = take(&c, '{');
    while (ok) {
        char key[32];
        if (take(&c, '}')) break;
        if (!parse_str(&c, key, sizeof key) || !take(&c, ':')) { ok = 0; break; }
        if (strcmp(key, "descr") == 0) {
            skip_ws(&c);
            if (c.p < c.end && (*c.p == '[' || *c.p == '(')) {
                free(text);
                return fail(err, FM_STATUS_FORMAT, "'%s' holds a structured array; only plain numeric arrays are supported", path);
            }
            ok = parse_str(&c, h->descr, sizeof h->descr);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (starts(&c, "True")) fortran = 1;
            else if (starts(&c, "False")) fortran = 0;
            else ok = 0;
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            ok = parse_shape(&c, h);
            have_shape = 1;
        } else {
            ok = skip_value(&c);
        }
        if (ok && !take(&c, ',')) { ok = take(&c, '}'); break; }
    }
    free(text);
    if (!ok || !have_descr || !have_order || !have_shape)
        return fail(err, FM_STATUS_FORMAT, "'%s' has a malformed .npy header (%s)", path,
                    !ok ? "not a dict of descr, fortran_order and shape"
                        : !have_descr ? "no 'descr'" : !have_order ? "no 'fortran_order'" : "no 'shape'");
    if (fortran)
        return fail(err, FM_STATUS_FORMAT,
                    "'%s' is stored in Fortran (column-major) order; save it from numpy with "
                    "np.save(path, np.ascontiguousarray(a))", path);
    fm_status s = parse_descr(h, path, err);
    if (s != FM_STATUS_OK) return s;

    /* the product of the nonzero dimensions is bounded too: a (0, 2^40, 2^40) array must not
     * overflow the column count */
    uint64_t count = 1, nonzero = 1;
    for (int k = 0; k < h->ndim; k++) {
        uint64_t v = (uint64_t)h->shape[k];
        if (v != 0 && nonzero > MAX_DATA_BYTES / v)
            return fail(err, FM_STATUS_FORMAT, "'%s' has an absurd shape (more than %llu elements)", path,
                        (unsigned long long)MAX_DATA_BYTES);
        if (v != 0) nonzero *= v;
        count *= v;
    }
    if (count > MAX_DATA_BYTES / (uint64_t)h->size)
        return fail(err, FM_STATUS_FORMAT, "'%s' has an absurd shape (%llu elements of %d bytes)", path,
                    (unsigned long long)count, h->size);
    h->count = (int64_t)count;
    if (fsize >= 0) {
        int64_t want = h->count * h->size, have = fsize - h->offset;
        if (have < want)
            return fail(err, FM_STATUS_FORMAT, "'%s' is truncated: expected %lld bytes of %s data, got %lld",
                        path, (long long)want, h->descr, (long long)have);
        if (have > want)
            return fail(err, FM_STATUS_FORMAT, "'%s' has %lld bytes after the %lld bytes of data its shape announces",
                        path, (long long)(have - want), (long long)want);
    }
    return FM_STATUS_OK;
}

static void swap_bytes(unsigned char *p, int size, int64_t count)
{
    for (int64_t i = 0; i < count; i++, p += size)
        for (int a = 0, b = size - 1; a < b; a++, b--) { unsigned char t = p[a]; p[a] = p[b]; p[b] = t; }
}

/* element i of a chunk as a double (exact for everything but |int64| > 2^53) */
static double npy_elem(const unsigned char *p, const npy_header *h)
{
    switch (h->kind) {
    case 'f': if (h->size == 4) { float v; memcpy(&v, p, 4); return v; } else { double v; memcpy(&v, p, 8); return v; }
    case 'b': return *p != 0;
    case 'u':
        switch (h->size) {
        case 1: return *p;
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
        }
    default:
        switch (h->size) {
        case 1: return (int8_t)*p;
        case 2: { int16_t v; memcpy(&v, p, 2); return v; }
        case 4: { int32_t v; memcpy(&v, p, 4); return v; }
        default: { int64_t v; memcpy(&v, p, 8); return (double)v; }
        }
    }
}

/* an integer element, exactly; 0 if it is not an integer or does not fit int64 */
static int npy_elem_int(int64_t *out, const unsigned char *p, const npy_header *h)
{
    if (h->kind == 'i' && h->size == 8) { memcpy(out, p, 8); return 1; }
    if (h->kind == 'u' && h->size == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        *out = (int64_t)v;
        return v <= INT64_MAX;
    }
    double v = npy_elem(p, h);
    if (!(v == floor(v)) || fabs(v) > 9.2e18) return 0;   /* NaN fails the first test */
    *out = (int64_t)v;
    return 1;
}

/* Stream the data in chunks: either to float (fout) or to int32 (iout, validating each value). */
static fm_status npy_read_data(FILE *f, const npy_header *h, float *fout, int32_t *iout, const char *path, char *err)
{
    if (fout && h->kind == 'f' && h->size == 4 && !h->swap) {   /* the common case: straight in */
        if (fread(fout, 4, (size_t)h->count, f) != (size_t)h->count)
            return fail(err, FM_STATUS_IO, "cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "file shrank");
        return FM_STATUS_OK;
    }
    int64_t per = CHUNK / h->size;
    unsigned char *buf = malloc((size_t)per * h->size);
    if (!buf) return fail(err, FM_STATUS_NOMEM, "out of memory reading '%s'", path);
    fm_status s = FM_STATUS_OK;
    for (int64_t done = 0; done < h->count && s == FM_STATUS_OK; done += per) {
        int64_t k = h->count - done < per ? h->count - done : per;
        if (fread(buf, (size_t)h->size, (size_t)k, f) != (size_t)k) {
            s = fail(err, FM_STATUS_IO, "cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "file shrank");
            break;
        }
        if (h->swap) swap_bytes(buf, h->size, k);
        for (int64_t i = 0; i < k; i++) {
            const unsigned char *p = buf + i * h->size;
            if (fout) { fout[done + i] = (float)npy_elem(p, h); continue; }
            int64_t v;
            if (!npy_elem_int(&v, p, h) || v < INT32_MIN || v > INT32_MAX) {
                s = fail(err, FM_STATUS_FORMAT, "'%s': element %lld (%.17g) is not an integer that fits int32",
                         path, (long long)(done + i + 1), npy_elem(p, h));
                break;
            }
            iout[done + i] = (int32_t)v;
        }
    }
    free(buf);
    return s;
}

static fm_status npy_open(FILE **f, npy_header *h, const char *path, char *err)
{
    int64_t fsize = -1;
    *f = NULL;
    memset(h, 0, sizeof *h);
    fm_status s = file_size(&fsize, path, err);
    if (s != FM_STATUS_OK) return s;
    *f = fopen(path, "rb");
    if (!*f) return fail(err, FM_STATUS_IO, "cannot open '%s': %s", path, strerror(errno));
    s = npy_read_header(h, *f, fsize, path, err);
    if (s != FM_STATUS_OK) { fclose(*f); *f = NULL; }
    return s;
}

fm_status fm_npy_read_mat(fm_mat *out, const char *path, char *err)
{
    out->n = out->d = 0;
    out->data = NULL;
    FILE *f;
    npy_header h;
    fm_status s = npy_open(&f, &h, path, err);
    if (s != FM_STATUS_OK) return s;
    /* (n,) → n×1; (n, d) → n×d; (n, a, b, …) → n×(a·b·…), e.g. a stack of 28×28 images */
    int64_t n = h.ndim >= 1 ? h.shape[0] : 0, d = 1;
    for (int k = 1; k < h.ndim; k++) d *= h.shape[k];
    if (h.ndim == 0)
        s = fail(err, FM_STATUS_FORMAT, "'%s' holds a scalar (shape ()), not a matrix", path);
    else if (fm_mat_init(out, n, d) != FM_STATUS_OK)
        s = fail(err, FM_STATUS_NOMEM, "out of memory for a %lld×%lld matrix from '%s'", (long long)n, (long long)d, path);
    else
        s = npy_read_data(f, &h, out->data, NULL, path, err);
    fclose(f);
    if (s != FM_STATUS_OK) fm_mat_free(out);
    return s;
}

fm_status fm_npy_read_i32(int32_t **out, int64_t *n, const char *path, char *err)
{
    *out = NULL;
    *n = 0;
    FILE *f;
    npy_header h;
    fm_status s = npy_open(&f, &h, path, err);
    if (s != FM_STATUS_OK) return s;
    int32_t *y = NULL;
    /* a vector, or a one-column matrix (a column of labels) */
    if (!(h.ndim == 1 || (h.ndim == 2 && h.shape[1] == 1))) {
        char shape[160] = "(";
        for (int k = 0; k < h.ndim; k++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? ", " : "",
                     (long long)h.shape[k]);
        s = fail(err, FM_STATUS_FORMAT, "'%s' has shape %s); labels need a 1-D array", path, shape);
    }
    else if (!(y = fm_alloc((size_t)(h.count ? h.count : 1), sizeof *y)))
        s = fail(err, FM_STATUS_NOMEM, "out of memory for %lld labels from '%s'", (long long)h.count, path);
    else
        s = npy_read_data(f, &h, NULL, y, path, err);
    fclose(f);
    if (s != FM_STATUS_OK) { fm_free(y); return s; }
    *out = y;
    *n = h.count;
    return FM_STATUS_OK;
}

/* numpy's own layout: a v1.0 header, the dict keys sorted, room for the first axis to grow to
 * 21 digits, padded with spaces and a newline so the data starts at a multiple of 64 bytes. */
static fm_status npy_write(const char *path, const void *x, char kind, int64_t n, int64_t d, int ndim, char *err)
{
    char dict[160], shape[64];
    if (ndim == 1) snprintf(shape, sizeof shape, "(%lld,)", (long long)n);
    else snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)n, (long long)d);
    char nrepr[32];
    int growth = 21 - snprintf(nrepr, sizeof nrepr, "%lld", (long long)n);
    int len = snprintf(dict, sizeof dict, "{'descr': '%c%c4', 'fortran_order': False, 'shape': %s, }%*s",
                       host_little_endian() ? '<' : '>', kind, shape, growth > 0 ? growth : 0, "");
    int pad = 64 - (10 + len + 1) % 64;
    int hlen = len + pad + 1;

    unsigned char head[256];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', (size_t)pad);
    head[10 + len + pad] = '\n';

    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, FM_STATUS_IO, "cannot create '%s': %s", path, strerror(errno));
    size_t count = (size_t)(n * d);
    int ok = fwrite(head, 1, (size_t)(10 + hlen), f) == (size_t)(10 + hlen) &&
             (count == 0 || fwrite(x, 4, count, f) == count);
    int saved = errno;
    if (fclose(f) != 0 && ok) { ok = 0; saved = errno; }
    if (!ok) {
        remove(path);   /* no half-written file left behind to be read later */
        return fail(err, FM_STATUS_IO, "cannot write '%s': %s", path, strerror(saved));
    }
    return FM_STATUS_OK;
}

fm_status fm_npy_write_f32(const char *path, const float *x, int64_t n, int64_t d, int ndim, char *err)
{
    if (n < 0 || d < 0 || (ndim != 1 && ndim != 2) || (ndim == 1 && d != 1))
        return fail(err, FM_STATUS_ARG, "cannot write '%s': bad shape %lld×%lld for ndim %d", path,
                    (long long)n, (long long)d, ndim);
    return npy_write(path, x, 'f', n, d, ndim, err);
}

fm_status fm_npy_write_i32(const char *path, const int32_t *x, int64_t n, char *err)
{
    if (n < 0) return fail(err, FM_STATUS_ARG, "cannot write '%s': negative length", path);
    return npy_write(path, x, 'i', n, 1, 1, err);
}

/* ======================================================================== CSV */

/* Decimal → float, correctly rounded. The fast path computes in double when the digits and the
 * power of ten are both exact (Clinger); that double is then the correctly rounded value unless
 * it sits exactly on a float rounding midpoint, where strtof_l decides. Returns 1 if the whole
 * field [s, e) is a number. */
static int parse_float(float *out, const char *s, const char *e, locale_t loc)
{
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s;
    int neg = 0;
    if (p < e && (*p == '-' || *p == '+')) neg = *p++ == '-';
    uint64_t w = 0;
    int digits = 0, sig = 0, exp10 = 0, fast = 1;
    for (; p < e && *p >= '0' && *p <= '9'; p++, digits++) {
        if (sig || *p != '0') { if (++sig > 19) fast = 0; else w = w * 10 + (uint64_t)(*p - '0'); }
        if (sig > 19) exp10++;
    }
    if (p < e && *p == '.') {
        for (p++; p < e && *p >= '0' && *p <= '9'; p++, digits++) {
            if (sig || *p != '0') { if (++sig > 19) fast = 0; else { w = w * 10 + (uint64_t)(*p - '0'); exp10--; } }
            else exp10--;
        }
    }
    if (digits > 0 && p < e && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        int eneg = 0, ev = 0, edig = 0;
        if (q < e && (*q == '-' || *q == '+')) eneg = *q++ == '-';
        for (; q < e && *q >= '0' && *q <= '9'; q++, edig++)
            if (ev < 100000) ev = ev * 10 + (*q - '0');
        if (edig) { p = q; exp10 += eneg ? -ev : ev; }
    }
    if (digits > 0 && p == e && fast && w <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)w;
        v = exp10 < 0 ? v / p10[-exp10] : v * p10[exp10];
        uint64_t bits;
        memcpy(&bits, &v, 8);
        if ((bits & (((uint64_t)1 << 29) - 1)) != ((uint64_t)1 << 28) && v <= FLT_MAX) {
            *out = (float)(neg ? -v : v);
            return 1;
        }
    }
    /* everything else (many digits, big exponents, inf, nan, hex): the C library, in the C locale */
    char tmp[128];
    size_t len = (size_t)(e - s);
    if (len == 0 || len >= sizeof tmp) {
        if (len == 0) return 0;
        char *big = malloc(len + 1);   /* an absurdly long field: rare enough to allocate for */
        if (!big) return 0;
        memcpy(big, s, len);
        big[len] = 0;
        char *endp;
        *out = strtof_l(big, &endp, loc);
        int ok = endp == big + len;
        free(big);
        return ok;
    }
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *endp;
    *out = strtof_l(tmp, &endp, loc);
    return endp == tmp + len && !(tmp[0] == ' ' || tmp[0] == '\t');
}

typedef struct {
    const char *text, *text_end;   /* the offending field */
    int64_t column;                /* 1-based */
    int64_t fields;                /* fields on the line, when the count is wrong */
    int kind;                      /* 0 ok, 1 empty, 2 not a number, 3 wrong count, 4 bad quotes */
} row_error;

/* One field: optional spaces, optional "quotes", optional spaces. Sets [fs, fe) to its text and
 * returns a pointer at the ',' or the line end, or NULL on a broken quote. */
static const char *field_bounds(const char *p, const char *e, const char **fs, const char **fe)
{
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    if (p < e && *p == '"') {
        const char *q = ++p;
        for (;;) {   /* "" inside quotes is a literal quote (RFC 4180) */
            while (q < e && *q != '"') q++;
            if (q + 1 < e && q[1] == '"') { q += 2; continue; }
            break;
        }
        if (q >= e) return NULL;
        *fs = p;
        *fe = q;
        p = q + 1;
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        if (p < e && *p != ',') return NULL;
        return p;
    }
    *fs = p;
    while (p < e && *p != ',') p++;
    const char *t = p;
    while (t > *fs && (t[-1] == ' ' || t[-1] == '\t')) t--;
    *fe = t;
    return p;
}

static int64_t count_fields(const char *p, const char *e)
{
    int64_t k = 0;
    for (;;) {
        const char *fs, *fe;
        p = field_bounds(p, e, &fs, &fe);
        k++;
        if (!p) {   /* a broken quote: count the rest naively */
            return k;
        }
        if (p >= e) return k;
        p++;
    }
}

/* Parse a line of exactly d numbers into dst; on failure fill re (and stop). */
static int parse_row(float *dst, const char *p, const char *e, int64_t d, locale_t loc, row_error *re)
{
    for (int64_t j = 0;; j++) {
        const char *fs, *fe;
        p = field_bounds(p, e, &fs, &fe);
        if (!p) { re->kind = 4; re->column = j + 1; return 0; }
        if (j >= d) { re->kind = 3; return 0; }
        if (fs == fe) { re->kind = 1; re->column = j + 1; return 0; }
        if (!parse_float(&dst[j], fs, fe, loc)) {
            re->kind = 2; re->column = j + 1; re->text = fs; re->text_end = fe;
            return 0;
        }
        if (p >= e) {
            if (j + 1 != d) { re->kind = 3; return 0; }
            return 1;
        }
        p++;   /* past the comma */
    }
}

/* Could this line be data? Every field a number; empty fields and broken quotes are data
 * errors, not header words, so they count as data and get reported as such. */
static int line_is_numeric(const char *p, const char *e, locale_t loc)
{
    for (;;) {
        const char *fs, *fe;
        float v;
        p = field_bounds(p, e, &fs, &fe);
        if (!p) return 1;
        if (fs != fe && !parse_float(&v, fs, fe, loc)) return 0;
        if (p >= e) return 1;
        p++;
    }
}

typedef struct { int64_t start, end, lineno; } csv_line;

/* the whole file in memory, NUL-terminated */
static fm_status slurp(char **buf, int64_t *len, const char *path, char *err)
{
    int64_t fsize = -1;
    *buf = NULL;
    fm_status s = file_size(&fsize, path, err);
    if (s != FM_STATUS_OK) return s;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, FM_STATUS_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = fsize >= 0 ? (size_t)fsize + 1 : (1 << 20), n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b) { fclose(f); return fail(err, FM_STATUS_NOMEM, "out of memory reading '%s'", path); }
        n += fread(b + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        int c = fgetc(f);
        if (c == EOF) break;
        char *nb = realloc(b, cap * 2);   /* the file grew, or is a pipe */
        if (!nb) free(b);
        b = nb;
        cap *= 2;
        if (b) b[n++] = (char)c;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(b); return fail(err, FM_STATUS_IO, "cannot read '%s': %s", path, strerror(errno)); }
    b[n] = 0;
    *buf = b;
    *len = (int64_t)n;
    return FM_STATUS_OK;
}

fm_status fm_csv_read(fm_mat *out, const char *path, int header, char *err)
{
    out->n = out->d = 0;
    out->data = NULL;
    char *buf;
    int64_t len = 0;
    fm_status s = slurp(&buf, &len, path, err);
    if (s != FM_STATUS_OK) return s;
    if (memchr(buf, 0, (size_t)len)) {
        free(buf);
        return fail(err, FM_STATUS_FORMAT, "'%s' is not a CSV text file (it contains NUL bytes)", path);
    }
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (loc == (locale_t)0) { free(buf); return fail(err, FM_STATUS_NOMEM, "out of memory reading '%s'", path); }

    /* pass 1: the non-blank lines, their extent (without \r\n) and their number in the file */
    int64_t cap = 1024, nl = 0;
    csv_line *lines = malloc((size_t)cap * sizeof *lines);
    int64_t pos = (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;   /* UTF-8 BOM */
    for (int64_t lineno = 1; lines && pos < len; lineno++) {
        const char *nlp = memchr(buf + pos, '\n', (size_t)(len - pos));
        int64_t end = nlp ? nlp - buf : len, next = nlp ? end + 1 : len;
        if (end > pos && buf[end - 1] == '\r') end--;
        int64_t q = pos;
        while (q < end && (buf[q] == ' ' || buf[q] == '\t')) q++;
        if (q < end) {
            if (nl == cap) {
                csv_line *nb = realloc(lines, (size_t)(cap *= 2) * sizeof *lines);
                if (!nb) { free(lines); lines = NULL; break; }
                lines = nb;
            }
            lines[nl++] = (csv_line){pos, end, lineno};
        }
        pos = next;
    }
    if (!lines) { s = fail(err, FM_STATUS_NOMEM, "out of memory reading '%s'", path); goto done; }
    if (nl == 0) { s = fail(err, FM_STATUS_FORMAT, "'%s' holds no data (the file is empty)", path); goto done; }

    const char *h0 = buf + lines[0].start, *h1 = buf + lines[0].end;
    if (header < 0) header = !line_is_numeric(h0, h1, loc);
    int64_t first = header ? 1 : 0, n = nl - first;
    int64_t d = count_fields(h0, h1);
    if (header && n > 0) {
        int64_t d1 = count_fields(buf + lines[1].start, buf + lines[1].end);
        if (d1 != d) {
            s = fail(err, FM_STATUS_FORMAT, "'%s' line %lld has %lld fields but the header (line %lld) has %lld",
                     path, (long long)lines[1].lineno, (long long)d1, (long long)lines[0].lineno, (long long)d);
            goto done;
        }
    }
    if (n == 0) {
        s = fail(err, FM_STATUS_FORMAT, "'%s' holds a header line but no data", path);
        goto done;
    }
    if (fm_mat_init(out, n, d) != FM_STATUS_OK) {
        s = fail(err, FM_STATUS_NOMEM, "out of memory for a %lld×%lld matrix from '%s'", (long long)n, (long long)d, path);
        goto done;
    }

    /* pass 2: rows in parallel; the first bad row (in file order) is reported */
    int64_t bad = n;
    #pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < n; i++) {
        const csv_line *ln = &lines[first + i];
        row_error re = {0};
        if (!parse_row(out->data + i * d, buf + ln->start, buf + ln->end, d, loc, &re)) {
            #pragma omp critical(fm_csv_bad)
            if (i < bad) bad = i;
        }
    }
    if (bad < n) {
        const csv_line *ln = &lines[first + bad];
        const char *p = buf + ln->start, *e = buf + ln->end;
        row_error re = {0};
        float *scratch = malloc((size_t)(d ? d : 1) * sizeof *scratch);
        if (!scratch) { s = fail(err, FM_STATUS_NOMEM, "out of memory reading '%s'", path); goto done; }
        parse_row(scratch, p, e, d, loc, &re);
        free(scratch);
        long long lno = (long long)ln->lineno;
        switch (re.kind) {
        case 1:
            s = fail(err, FM_STATUS_FORMAT, "'%s' line %lld, column %lld: empty field", path, lno, (long long)re.column);
            break;
        case 2: {
            int w = (int)(re.text_end - re.text);
            s = fail(err, FM_STATUS_FORMAT, "'%s' line %lld, column %lld: '%.*s%s' is not a number", path, lno,
                     (long long)re.column, w > 40 ? 40 : w, re.text, w > 40 ? "…" : "");
            break;
        }
        case 4:
            s = fail(err, FM_STATUS_FORMAT, "'%s' line %lld, column %lld: unbalanced quotes", path, lno,
                     (long long)re.column);
            break;
        default:
            s = fail(err, FM_STATUS_FORMAT, "'%s' line %lld has %lld fields, expected %lld (as on line %lld)",
                     path, lno, (long long)count_fields(p, e), (long long)d, (long long)lines[0].lineno);
        }
    }

done:
    if (s != FM_STATUS_OK) fm_mat_free(out);
    free(lines);
    free(buf);
    freelocale(loc);
    return s;
}

static const double pow10_exact[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
                                      1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A float as printf's "%.9g" writes it (9 significant digits: enough to read back the same
 * float), without printf's cost for the usual range. The digits come from one correctly rounded
 * double product whose error is below 1.2e-7 units of the last digit, so rounding it is exact
 * unless the value is within 1e-6 of a tie — those, and the extremes, go to snprintf.
 * Returns the length written (at most 15 characters). */
static int format_float(char *dst, float f)
{
    double a = fabs((double)f);
    if (a == 0) {   /* half of an image is background */
        int len = 0;
        if (signbit(f)) dst[len++] = '-';
        dst[len++] = '0';
        return len;
    }
    if (!isfinite(a)) return snprintf(dst, 24, "%.9g", (double)f);
    int e = (int)floor(log10(a)), k = 8 - e;   /* digits = a·10^k in [1e8, 1e9) */
    double s = 0;
    for (int tries = 0; tries < 2; tries++) {   /* log10 can be one off near powers of ten */
        if (k < -22 || k > 22) return snprintf(dst, 24, "%.9g", (double)f);
        s = k >= 0 ? a * pow10_exact[k] : a / pow10_exact[-k];
        if (s < 1e8) { k++; e--; }
        else if (s >= 1e9) { k--; e++; }
        else break;
    }
    if (s < 1e8 || s >= 1e9 || fabs(s - floor(s) - 0.5) < 1e-6) return snprintf(dst, 24, "%.9g", (double)f);
    uint32_t digits = (uint32_t)nearbyint(s);
    if (digits == 1000000000u) { digits = 100000000u; e++; }
    char dig[9];
    for (int i = 8; i >= 0; i--) { dig[i] = (char)('0' + digits % 10); digits /= 10; }
    int nd = 9;
    while (nd > 1 && dig[nd - 1] == '0') nd--;   /* %g drops trailing zeros */
    int len = 0;
    if (f < 0) dst[len++] = '-';
    if (e < -4 || e >= 9) {   /* d.ddde±XX */
        dst[len++] = dig[0];
        if (nd > 1) { dst[len++] = '.'; memcpy(dst + len, dig + 1, (size_t)nd - 1); len += nd - 1; }
        dst[len++] = 'e';
        dst[len++] = e < 0 ? '-' : '+';
        int x = e < 0 ? -e : e;
        dst[len++] = (char)('0' + x / 10);
        dst[len++] = (char)('0' + x % 10);
    } else if (e >= 0) {   /* ddd.ddd */
        memcpy(dst + len, dig, (size_t)e + 1);
        len += e + 1;
        if (nd > e + 1) { dst[len++] = '.'; memcpy(dst + len, dig + e + 1, (size_t)(nd - e - 1)); len += nd - e - 1; }
    } else {   /* 0.000ddd */
        dst[len++] = '0';
        dst[len++] = '.';
        for (int z = 0; z < -e - 1; z++) dst[len++] = '0';
        memcpy(dst + len, dig, (size_t)nd);
        len += nd;
    }
    return len;
}

#define CSV_BLOCK 1024   /* rows formatted per block, in parallel, then written in order */

fm_status fm_csv_write(const char *path, const float *x, int64_t n, int64_t d, char *err)
{
    if (n < 0 || d < 1) return fail(err, FM_STATUS_ARG, "cannot write '%s': bad shape %lld×%lld", path,
                                    (long long)n, (long long)d);
    const int64_t width = 24;   /* the longest "%.9g" of a float plus a separator, rounded up */
    if (d > (int64_t)(SIZE_MAX / 4) / width / CSV_BLOCK)
        return fail(err, FM_STATUS_ARG, "cannot write '%s': %lld columns is too many", path, (long long)d);
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    char *buf = malloc((size_t)(CSV_BLOCK * d * width));
    int64_t *used = malloc(CSV_BLOCK * sizeof *used);
    if (!loc || !buf || !used) {
        if (loc) freelocale(loc);
        free(buf);
        free(used);
        return fail(err, FM_STATUS_NOMEM, "out of memory writing '%s'", path);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        int saved = errno;
        freelocale(loc);
        free(buf);
        free(used);
        return fail(err, FM_STATUS_IO, "cannot create '%s': %s", path, strerror(saved));
    }
    int ok = 1, saved = 0;
    for (int64_t b0 = 0; b0 < n && ok; b0 += CSV_BLOCK) {
        int64_t rows = n - b0 < CSV_BLOCK ? n - b0 : CSV_BLOCK;
        #pragma omp parallel
        {
            locale_t old = uselocale(loc);   /* "%.9g" must write '.', whatever the process locale */
            #pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                char *o = buf + r * d * width;
                const float *row = x + (b0 + r) * d;
                int64_t len = 0;
                for (int64_t j = 0; j < d; j++) {
                    len += format_float(o + len, row[j]);
                    o[len++] = j + 1 < d ? ',' : '\n';
                }
                used[r] = len;
            }
            uselocale(old);
        }
        for (int64_t r = 0; r < rows && ok; r++)
            if (fwrite(buf + r * d * width, 1, (size_t)used[r], f) != (size_t)used[r]) { ok = 0; saved = errno; }
    }
    if (fclose(f) != 0 && ok) { ok = 0; saved = errno; }
    freelocale(loc);
    free(buf);
    free(used);
    if (!ok) {
        remove(path);
        return fail(err, FM_STATUS_IO, "cannot write '%s': %s", path, strerror(saved));
    }
    return FM_STATUS_OK;
}
