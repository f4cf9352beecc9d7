/* The data as a stream: slices read into a buffer of whole blocks, passes
 * over the blocks with their partials combined in a fixed pairwise tree, and
 * the first pass (checks and centred moments). See fit_internal.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

/* ---- reading ----------------------------------------------------------- */

tt_status tgf_stream_open(tgf_stream *s, const tg_fit_data *data, int64_t slice)
{
    memset(s, 0, sizeof *s);
    s->data = data;
    s->n = data->n;
    s->ncols = data->nx + 1 + (data->weighted ? 1 : 0);
    if (data->nx < 1 || s->ncols > 8)
        return tt_set_error(TT_EINVAL, "the data have %d x columns: a fit needs 1 to %d", data->nx, 8 - 2);
    if (!data->read) return tt_set_error(TT_EINVAL, "the data have no read function");
    if (slice <= 0) slice = TG_FIT_SLICE;
    /* Slices of a block or more are read in whole blocks; shorter ones are
     * gathered into one block; a slice as long as the data reads it whole. */
    if (slice >= s->n) s->slice = s->cap = s->n > 0 ? s->n : 1; /* all the points at once */
    else {
        s->slice = slice >= BLOCK ? slice - slice % BLOCK : slice;
        s->cap = slice >= BLOCK ? s->slice : BLOCK < s->n ? BLOCK : s->n;
    }
    s->buf = malloc(sizeof *s->buf * (size_t)s->cap * (size_t)s->ncols);
    if (!s->buf) return tt_set_error(TT_ENOMEM, "out of memory for a slice of %lld points", (long long)s->cap);
    for (int c = 0; c < s->ncols; c++) s->cols[c] = s->buf + (size_t)c * (size_t)s->cap;
    static const char *const defaults[] = {"x", "y", "weights", "sigma"};
    for (int c = 0; c < s->ncols; c++) {
        int role = c < data->nx ? 0 : c == data->nx ? 1 : data->sigma ? 3 : 2;
        s->names[c] = data->names && data->names[c] ? data->names[c] : defaults[role];
    }
    return TT_OK;
}

void tgf_stream_close(tgf_stream *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Points start .. start+count-1 into the buffer at point `at`, in reads of
 * at most s->slice points. */
static tt_status read_into(tgf_stream *s, int64_t start, int64_t count, int64_t at)
{
    if (at == 0 && count > 0 && s->held_count == count && s->held_start == start) return TT_OK;
    s->held_count = 0; /* until this read is whole */
    for (int64_t done = 0; done < count;) {
        int64_t m = count - done < s->slice ? count - done : s->slice;
        double *cols[8];
        for (int c = 0; c < s->ncols; c++) cols[c] = s->cols[c] + at + done;
        tt_clear_error();
        tt_status st = s->data->read(s->data->ctx, start + done, m, cols);
        if (st) {
            if (!tt_last_status())
                tt_set_error(st, "reading points %lld to %lld failed", (long long)(start + done),
                             (long long)(start + done + m - 1));
            return st;
        }
        if (s->data->weighted && s->data->sigma) { /* sigmas to weights 1/sigma^2 */
            double *w = cols[s->ncols - 1];
            for (int64_t i = 0; i < m; i++) {
                double v = w[i];
                if (!(v > 0) || isinf(v)) {
                    long long at = (long long)(start + done + i);
                    return tt_set_error(TT_EINVAL, "%s[%lld] is %g (row %lld): an uncertainty must be positive",
                                        s->names[s->ncols - 1], at, v, at + 1);
                }
                w[i] = 1 / (v * v);
            }
        }
        done += m;
    }
    if (at == 0) s->held_start = start, s->held_count = count;
    return TT_OK;
}

tt_status tgf_stream_read(tgf_stream *s, int64_t start, int64_t count)
{
    if (count > s->cap || start < 0 || start + count > s->n)
        return tt_set_error(TT_EINVAL, "internal error: a read of %lld points at %lld", (long long)count,
                            (long long)start);
    return read_into(s, start, count, 0);
}

/* ---- the pairwise tree --------------------------------------------------- */

#define TREE_ENTRIES 130 /* a prefix of blocks needs 64; a range that starts anywhere, twice that */

tt_status tgf_tree_init(tgf_tree *t, int width, tgf_merge_fn merge, void *ctx)
{
    memset(t, 0, sizeof *t);
    t->width = width, t->merge = merge, t->ctx = ctx;
    t->entries = malloc(sizeof *t->entries * (size_t)width * (TREE_ENTRIES + 1));
    if (!t->entries) return tt_set_error(TT_ENOMEM, "out of memory");
    t->result = t->entries + (size_t)width * TREE_ENTRIES;
    return TT_OK;
}

void tgf_tree_free(tgf_tree *t)
{
    free(t->entries);
    memset(t, 0, sizeof *t);
}

void tgf_tree_push_range(tgf_tree *t, const double *partial, int64_t first, int level)
{
    size_t w = (size_t)t->width;
    memcpy(t->entries + (size_t)t->depth * w, partial, w * sizeof(double));
    t->first[t->depth] = first, t->level[t->depth++] = level;
    /* two siblings (one size, the left one aligned at twice that) make their parent */
    while (t->depth >= 2) {
        int l = t->level[t->depth - 2];
        if (t->level[t->depth - 1] != l || t->first[t->depth - 2] % ((int64_t)2 << l)) break;
        double *left = t->entries + (size_t)(t->depth - 2) * w;
        t->merge(t->ctx, left, left + w);
        t->level[t->depth - 2]++;
        t->depth--;
    }
}

void tgf_tree_push_tree(tgf_tree *t, const tgf_tree *src)
{
    for (int i = 0; i < src->depth; i++)
        tgf_tree_push_range(t, src->entries + (size_t)i * (size_t)src->width, src->first[i], src->level[i]);
}

const double *tgf_tree_result(tgf_tree *t)
{
    if (!t->depth) return NULL;
    size_t w = (size_t)t->width;
    memcpy(t->result, t->entries + (size_t)(t->depth - 1) * w, w * sizeof(double));
    for (int i = t->depth - 2; i >= 0; i--) { /* entry i is left of the rest */
        double tmp[w];
        memcpy(tmp, t->result, w * sizeof(double));
        memcpy(t->result, t->entries + (size_t)i * w, w * sizeof(double));
        t->merge(t->ctx, t->result, tmp);
    }
    return t->result;
}

void tgf_merge_add(void *ctx, double *left, const double *right)
{
    int w = *(const int *)ctx;
    for (int i = 0; i < w; i++) left[i] += right[i];
}

tt_status tgf_pass_range(tgf_stream *s, int64_t start, int64_t end, tgf_tree *tree, tgf_blocks_fn blocks, void *ctx)
{
    if (start % BLOCK || start < 0 || end > s->n)
        return tt_set_error(TT_EINVAL, "internal error: a pass over points %lld to %lld", (long long)start,
                            (long long)end);
    int width = tree->width;
    int64_t per = (s->cap + BLOCK - 1) / BLOCK;
    double *partials = malloc(sizeof *partials * (size_t)per * (size_t)width);
    if (!partials) return tt_set_error(TT_ENOMEM, "out of memory");
    int64_t run = s->cap - s->cap % BLOCK; /* whole blocks per call */
    if (run == 0) run = s->cap;
    tt_status st = TT_OK;
    bool whole = s->n <= s->cap; /* all the points in the buffer: read once, held across passes */
    if (whole) st = read_into(s, 0, s->n, 0);
    for (int64_t at = start; at < end && !st;) {
        int64_t count = end - at < run ? end - at : run;
        double *cols[8];
        for (int c = 0; c < s->ncols; c++) cols[c] = s->cols[c] + (whole ? at : 0);
        if (!(st = whole ? TT_OK : read_into(s, at, count, 0)) && !(st = blocks(ctx, at, count, cols, partials)))
            for (int64_t b = 0; b * BLOCK < count; b++)
                tgf_tree_push_range(tree, partials + b * width, at / BLOCK + b, 0);
        at += count;
    }
    free(partials);
    return st;
}

void tgf_dist_range(int64_t n, int rank, int size, int64_t *start, int64_t *end)
{
    int64_t nblocks = (n + BLOCK - 1) / BLOCK;
    *start = nblocks * rank / size * BLOCK;
    *end = nblocks * (rank + 1) / size * BLOCK;
    if (*end > n) *end = n;
    if (*start > n) *start = n;
}

tt_status tgf_pass(tgf_stream *s, int width, tgf_blocks_fn blocks, tgf_merge_fn merge, void *ctx, double *out)
{
    tgf_tree tree;
    int w = width;
    tt_status st = tgf_tree_init(&tree, width, merge ? merge : tgf_merge_add, merge ? ctx : &w);
    if (st) return st;
    int64_t start = 0, end = s->n;
    if (s->dist) tgf_dist_range(s->n, s->dist->rank, s->dist->size, &start, &end);
    if (start < end) st = tgf_pass_range(s, start, end, &tree, blocks, ctx);
    if (s->dist) st = s->dist->combine(s->dist, &tree, st, start, end);
    if (!st) {
        const double *r = tgf_tree_result(&tree);
        if (r) memcpy(out, r, sizeof *out * (size_t)width);
        else memset(out, 0, sizeof *out * (size_t)width);
    }
    tgf_tree_free(&tree);
    return st;
}

/* ---- the first pass: checks and moments ------------------------------------ */

enum {
    M_N,
    M_MX,
    M_MY,
    M_CXX,
    M_CXY,
    M_CYY,
    M_W,
    M_WMX,
    M_WMY,
    M_WCXX,
    M_WCXY,
    M_WCYY,
    M_XMIN,
    M_XMAX,
    M_XERR32,
    M_YERR32,
    M_WIDTH
};

/* Chan et al.'s pairwise update of count, means and co-moments. */
static void chan(double *a, const double *b)
{
    double na = a[0], nb = b[0], n = na + nb;
    if (nb == 0) return;
    if (na == 0) {
        memcpy(a, b, 6 * sizeof *a);
        return;
    }
    double dx = b[1] - a[1], dy = b[2] - a[2], f = na * nb / n;
    a[1] += dx * (nb / n);
    a[2] += dy * (nb / n);
    a[3] += b[3] + dx * dx * f;
    a[4] += b[4] + dx * dy * f;
    a[5] += b[5] + dy * dy * f;
    a[0] = n;
}

static void merge_moments(void *ctx, double *a, const double *b)
{
    (void)ctx;
    chan(a + M_N, b + M_N);
    chan(a + M_W, b + M_W);
    a[M_XMIN] = fmin(a[M_XMIN], b[M_XMIN]);
    a[M_XMAX] = fmax(a[M_XMAX], b[M_XMAX]);
    a[M_XERR32] = fmax(a[M_XERR32], b[M_XERR32]);
    a[M_YERR32] = fmax(a[M_YERR32], b[M_YERR32]);
}

/* The largest change rounding to float32 makes to the values of a column. */
static double float32_error(const double *v, int64_t m)
{
    double e = 0;
    for (int64_t i = 0; i < m; i++) e = fmax(e, fabs(v[i] - (double)(float)v[i]));
    return e;
}

/* The first bad value of the block (the sums were not finite, or a weight
 * was negative): an error naming it; TT_OK when every value is finite (the
 * sums overflowed). */
static tt_status bad_value(const tgf_stream *s, int64_t start, int64_t m, double *const *cols)
{
    for (int64_t i = 0; i < m; i++)
        for (int c = 0; c < s->ncols; c++) {
            double v = cols[c][i];
            long long at = (long long)(start + i);
            if (!isfinite(v))
                return tt_set_error(TT_EINVAL, "%s[%lld] is %s (row %lld)", s->names[c], at,
                                    isnan(v) ? "NaN"
                                    : v > 0  ? "Inf"
                                             : "-Inf",
                                    at + 1);
            if (c == s->ncols - 1 && s->data->weighted && v < 0)
                return tt_set_error(TT_EINVAL, "%s[%lld] is negative (%g, row %lld)", s->names[c], at, v, at + 1);
        }
    return TT_OK;
}

static tt_status scan_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    const tgf_stream *s = ctx;
    const double *x = cols[0], *y = cols[s->data->nx], *w = s->data->weighted ? cols[s->ncols - 1] : NULL;
    for (int64_t b = 0; b * BLOCK < count; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        double *p = partials + b * M_WIDTH;
        tgf_block_moments(x + off, y + off, w ? w + off : NULL, m, p);
        p[M_XERR32] = float32_error(x + off, m);
        p[M_YERR32] = float32_error(y + off, m);
        bool ok = true;
        for (int k = 0; k < M_WIDTH; k++) ok &= isfinite(p[k]) != 0;
        if (w)
            for (int64_t i = 0; i < m && ok; i++) ok = w[off + i] >= 0;
        if (!ok) {
            double *at[8];
            for (int c = 0; c < s->ncols; c++) at[c] = cols[c] + off;
            tt_status st = bad_value(s, start + off, m, at);
            if (st) return st;
        }
    }
    return TT_OK;
}

tt_status tgf_scan(tgf_stream *s, tgf_moments *mo)
{
    double v[M_WIDTH];
    tt_status st = tgf_pass(s, M_WIDTH, scan_blocks, merge_moments, s, v);
    if (st) return st;
    *mo = (tgf_moments){v[M_N],   v[M_MX],   v[M_MY],   v[M_CXX],  v[M_CXY],  v[M_CYY],  v[M_W],      v[M_WMX],
                        v[M_WMY], v[M_WCXX], v[M_WCXY], v[M_WCYY], v[M_XMIN], v[M_XMAX], v[M_XERR32], v[M_YERR32]};
    return TT_OK;
}
