/* Printing tensors exactly as PyTorch 1.13 does (torch/_tensor_str.py with the
 * default print options: precision 4, threshold 1000, edgeitems 3, linewidth 80).
 *
 * The values are fetched with tt_to_host only, so any device and any strides
 * work. When the tensor is summarized only the shown edge elements are fetched
 * (a "compact" copy with at most 6 entries along each summarized dim), which is
 * also exactly the set PyTorch's _Formatter sees (get_summarized_data). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/print.h"

enum { PRECISION = 4, THRESHOLD = 1000, EDGE = 3, LINEWIDTH = 80 };
static const char PREFIX[] = "tensor(";
#define INDENT ((int)sizeof PREFIX - 1)

/* ---- a growing string; remembers allocation failure ------------------- */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_putn(sbuf *s, const char *str, size_t n)
{
    if (s->oom) return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->len + n + 1) cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) {
            s->oom = true;
            return;
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, str, n);
    s->len += n;
    s->p[s->len] = '\0';
}
static void sb_puts(sbuf *s, const char *str) { sb_putn(s, str, strlen(str)); }
static void sb_repeat(sbuf *s, char c, int n)
{
    for (int i = 0; i < n; i++) sb_putn(s, &c, 1);
}

/* ---- the shown elements, row-major in a compact shape ------------------ */
typedef struct {
    int ndim;
    int64_t shape[TT_MAX_DIMS];  /* compact: 2*EDGE along a split dim */
    int64_t stride[TT_MAX_DIMS]; /* of the compact buffer */
    bool split[TT_MAX_DIMS];     /* "..." goes between entries EDGE-1 and EDGE */
    bool floating;
    void *vals; /* double (floating) or int64_t (int64, bool) */
    int64_t n;
} shown;

static double fval(const shown *g, int64_t k) { return ((const double *)g->vals)[k]; }
static int64_t ival(const shown *g, int64_t k) { return ((const int64_t *)g->vals)[k]; }

/* Copies one block of the compact buffer: along every split dim either the
 * first or the last EDGE entries (bit i of mask set = the last, for the i-th
 * split dim). */
static tt_status fetch_block(const tt_tensor *t, shown *g, unsigned mask, void *tmp)
{
    tt_dtype host = g->floating ? TT_F64 : TT_I64;
    int64_t bshape[TT_MAX_DIMS], base[TT_MAX_DIMS], bn = 1;
    const tt_tensor *cur = t;
    tt_tensor *owned = NULL;
    int bit = 0;
    for (int d = 0; d < g->ndim; d++) {
        bshape[d] = g->split[d] ? EDGE : g->shape[d];
        base[d] = 0;
        bn *= bshape[d];
        if (!g->split[d]) continue;
        bool last = mask >> bit++ & 1;
        int64_t start = last ? t->shape[d] - EDGE : 0;
        base[d] = last ? EDGE : 0;
        tt_tensor *v = tt_slice(cur, d, start, start + EDGE, 1);
        tt_release(owned);
        if (!v) return tt_last_status();
        cur = owned = v;
    }
    tt_status st = tt_to_host(cur, host, tmp);
    tt_release(owned);
    if (st != TT_OK) return st;

    /* Scatter the block (row-major in bshape) into the compact buffer. */
    int64_t idx[TT_MAX_DIMS] = {0};
    for (int64_t k = 0; k < bn; k++) {
        int64_t off = 0;
        for (int d = 0; d < g->ndim; d++) off += (base[d] + idx[d]) * g->stride[d];
        memcpy((char *)g->vals + off * 8, (const char *)tmp + k * 8, 8);
        for (int d = g->ndim - 1; d >= 0 && ++idx[d] == bshape[d]; d--) idx[d] = 0;
    }
    return TT_OK;
}

static tt_status gather(const tt_tensor *t, bool summarize, shown *g)
{
    int nsplit = 0;
    g->ndim = t->ndim;
    g->floating = tt_dtype_is_floating(t->dtype);
    g->n = 1;
    for (int d = 0; d < t->ndim; d++) {
        g->split[d] = summarize && t->shape[d] > 2 * EDGE;
        g->shape[d] = g->split[d] ? 2 * EDGE : t->shape[d];
        g->n *= g->shape[d];
        nsplit += g->split[d];
    }
    for (int d = t->ndim - 1, s = 1; d >= 0; d--) {
        g->stride[d] = s;
        s *= g->shape[d];
    }
    g->vals = malloc((size_t)g->n * 8);
    if (!g->vals) return tt_set_error(TT_ENOMEM, "tt_format: out of memory");
    if (nsplit == 0) return tt_to_host(t, g->floating ? TT_F64 : TT_I64, g->vals);

    void *tmp = malloc((size_t)(g->n >> nsplit) * 8); /* one block */
    if (!tmp) return tt_set_error(TT_ENOMEM, "tt_format: out of memory");
    tt_status st = TT_OK;
    for (unsigned mask = 0; st == TT_OK && mask < 1u << nsplit; mask++) st = fetch_block(t, g, mask, tmp);
    free(tmp);
    return st;
}

/* ---- PyTorch's _Formatter --------------------------------------------- */
typedef struct {
    tt_dtype dtype;
    bool int_mode, sci_mode;
    int width;
} formatter;

/* A value as Python's format() writes it, without padding. */
static int format_raw(const formatter *f, const shown *g, int64_t k, char *buf, size_t cap)
{
    if (!g->floating) {
        if (f->dtype == TT_BOOL) return snprintf(buf, cap, "%s", ival(g, k) ? "True" : "False");
        return snprintf(buf, cap, "%lld", (long long)ival(g, k));
    }
    double v = fval(g, k);
    if (isnan(v)) return snprintf(buf, cap, "nan"); /* Python drops a NaN's sign */
    if (isinf(v)) return snprintf(buf, cap, "%s", v < 0 ? "-inf" : "inf");
    if (f->sci_mode) return snprintf(buf, cap, "%.*e", PRECISION, v);
    if (f->int_mode) return snprintf(buf, cap, "%.0f.", v);
    return snprintf(buf, cap, "%.*f", PRECISION, v);
}

static void formatter_init(formatter *f, tt_dtype dtype, const shown *g)
{
    char buf[64];
    *f = (formatter){dtype, true, false, 1};
    if (!g->floating) {
        for (int64_t k = 0; k < g->n; k++) {
            int w = format_raw(f, g, k, buf, sizeof buf);
            if (w > f->width) f->width = w;
        }
        return;
    }
    /* Modes and width come from the nonzero finite values only. */
    double lo = INFINITY, hi = 0;
    bool any = false;
    for (int64_t k = 0; k < g->n; k++) {
        double v = fval(g, k);
        if (!isfinite(v) || v == 0) continue;
        any = true;
        if (fabs(v) < lo) lo = fabs(v);
        if (fabs(v) > hi) hi = fabs(v);
        if (v != ceil(v)) f->int_mode = false;
    }
    if (!any) return;
    f->sci_mode = hi / lo > 1000.0 || hi > 1.0e8 || (!f->int_mode && lo < 1.0e-4);
    for (int64_t k = 0; k < g->n; k++) {
        double v = fval(g, k);
        if (!isfinite(v) || v == 0) continue;
        /* In int mode the width counts the "." that format_raw appends. */
        int w = format_raw(f, g, k, buf, sizeof buf);
        if (w > f->width) f->width = w;
    }
}

static void put_value(sbuf *s, const formatter *f, const shown *g, int64_t k)
{
    char buf[64];
    int n = format_raw(f, g, k, buf, sizeof buf);
    sb_repeat(s, ' ', f->width - n);
    sb_putn(s, buf, (size_t)n);
}

/* ---- _tensor_str_with_formatter ---------------------------------------- */
static void put_vector(sbuf *s, const formatter *f, const shown *g, int d, int64_t base, int indent)
{
    int per_line = (LINEWIDTH - indent) / (f->width + 2);
    if (per_line < 1) per_line = 1;
    sb_puts(s, "[");
    int item = 0; /* the " ..." of a summarized row counts as an item */
    for (int64_t j = 0; j < g->shape[d]; j++) {
        for (int dots = g->split[d] && j == EDGE; dots >= 0; dots--) {
            if (item > 0) {
                if (item % per_line == 0) {
                    sb_puts(s, ",\n");
                    sb_repeat(s, ' ', indent + 1);
                } else {
                    sb_puts(s, ", ");
                }
            }
            item++;
            if (dots) sb_puts(s, " ...");
            else put_value(s, f, g, base + j * g->stride[d]);
        }
    }
    sb_puts(s, "]");
}

static void put_tensor(sbuf *s, const formatter *f, const shown *g, int d, int64_t base, int indent)
{
    if (d == g->ndim - 1) {
        put_vector(s, f, g, d, base, indent);
        return;
    }
    /* Sub-tensors are separated by a comma, one newline per remaining dim
     * beyond the last, and indentation. */
    int newlines = g->ndim - d - 1;
    sb_puts(s, "[");
    for (int64_t j = 0; j < g->shape[d]; j++) {
        for (int dots = g->split[d] && j == EDGE; dots >= 0; dots--) {
            if (j > 0) {
                sb_puts(s, ",");
                sb_repeat(s, '\n', newlines);
                sb_repeat(s, ' ', indent + 1);
            }
            if (dots) sb_puts(s, "...");
            else put_tensor(s, f, g, d + 1, base + j * g->stride[d], indent + 1);
        }
    }
    sb_puts(s, "]");
}

/* ---- _str_intern / _add_suffixes --------------------------------------- */
static void add_suffixes(sbuf *s, const char *const *suffixes, int n)
{
    if (s->oom) return;
    const char *nl = strrchr(s->p, '\n');
    /* PyTorch's count: len(str) - str.rfind("\n") + 1, two more than the
     * last line's length; kept so the wrapping matches. */
    long last = (long)s->len - (nl ? (long)(nl - s->p) : -1) + 1;
    for (int i = 0; i < n; i++) {
        long len = (long)strlen(suffixes[i]);
        if (last + len + 2 > LINEWIDTH) {
            sb_puts(s, ",\n");
            sb_repeat(s, ' ', INDENT);
            last = INDENT + len;
        } else {
            sb_puts(s, ", ");
            last += len + 2;
        }
        sb_puts(s, suffixes[i]);
    }
}

char *tt_format_with_suffix(const tt_tensor *t, const char *suffix)
{
    if (!t) {
        tt_set_error(TT_EINVAL, "tt_format: tensor is NULL");
        return NULL;
    }
    sbuf s = {0};
    const char *suffixes[4];
    int ns = 0;
    char device[64], size[TT_MAX_DIMS * 24 + 16], dtype[48];

    tt_device dev = tt_device_of(t);
    if (dev.type != TT_DEVICE_CPU) {
        snprintf(device, sizeof device, "device='%s'", tt_device_name(dev));
        suffixes[ns++] = device;
    }
    snprintf(dtype, sizeof dtype, "dtype=torch.%s", tt_dtype_name(t->dtype));

    sb_puts(&s, PREFIX);
    if (tt_numel(t) == 0) {
        /* Nothing to infer the dtype from, so every non-float32 dtype shows;
         * the shape shows unless it is (0,). */
        if (t->ndim != 1) {
            int n = snprintf(size, sizeof size, "size=(");
            for (int d = 0; d < t->ndim; d++)
                n += snprintf(size + n, sizeof size - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            snprintf(size + n, sizeof size - (size_t)n, ")");
            suffixes[ns++] = size;
        }
        if (t->dtype != TT_F32) suffixes[ns++] = dtype;
        sb_puts(&s, "[]");
    } else {
        /* float32 (default), int64 and bool are recognizable from the values. */
        if (t->dtype == TT_F64) suffixes[ns++] = dtype;
        shown g = {0};
        formatter f;
        tt_status st = gather(t, tt_numel(t) > THRESHOLD, &g);
        if (st != TT_OK) {
            free(g.vals);
            free(s.p);
            return NULL;
        }
        formatter_init(&f, t->dtype, &g);
        if (g.ndim == 0) put_value(&s, &f, &g, 0);
        else put_tensor(&s, &f, &g, 0, 0, INDENT);
        free(g.vals);
    }
    if (suffix && *suffix) suffixes[ns++] = suffix;
    add_suffixes(&s, suffixes, ns);
    sb_puts(&s, ")");
    if (s.oom) {
        free(s.p);
        tt_set_error(TT_ENOMEM, "tt_format: out of memory");
        return NULL;
    }
    return s.p;
}

char *tt_format(const tt_tensor *t) { return tt_format_with_suffix(t, NULL); }

tt_status tt_print(const tt_tensor *t, FILE *f)
{
    if (!f) return tt_set_error(TT_EINVAL, "tt_print: stream is NULL");
    char *str = tt_format(t);
    if (!str) return tt_last_status();
    int bad = fputs(str, f) == EOF || fputc('\n', f) == EOF;
    free(str);
    if (bad) return tt_set_error(TT_EIO, "tt_print: write failed");
    return TT_OK;
}
