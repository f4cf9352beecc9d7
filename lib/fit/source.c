/* The data of a fit read from a tensor source (tg/fit.h, tg_fit_source):
 * the reads of tg_fit_data go to the source a slice at a time, so that a fit
 * of a file holds a slice, never the file. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"
#include "tg/expr.h"
#include "tg/io.h"

/* With drop_nan, the raw position of every TG_FIT_BLOCK-th kept point, so
 * that a read anywhere (sgd visits slices out of order) starts near it. */
struct tg_fit_source {
    tt_source *src;
    tg_fit_data data;
    char *names[TG_FIT_MAX_X + 2]; /* the x columns, y, the weights (or sigmas) */
    int ncols, nx;
    bool sigma;
    bool text;
    const char *hint;
    int64_t raw_n; /* points in the source, dropped ones included */
    bool drop;
    int64_t dropped, first_dropped;
    int64_t *marks;                  /* drop: raw index of kept point k * TG_FIT_BLOCK */
    int64_t cursor_kept, cursor_raw; /* drop: where the last read ended */
    double *raw[TG_FIT_MAX_X + 2];   /* drop: raw rows read at a time */
    int64_t raw_cap;
    /* y as an expression over the columns ('log(y)'): the columns it reads */
    tg_program *yprog;
    tg_env *yenv;
    int nyvars;
    char *yvars[TG_MODEL_MAX_PARAMS];
    double *ybuf;
    int64_t ycap;
};

bool tg_fit_source_is_expression(tt_source *src, const char *y)
{
    char *const *names = NULL;
    int n = 0;
    if (!y || tt_source_names(src, &names, &n) != TT_OK) return false;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], y)) return false;
    for (const char *c = y; *c; c++) /* a name as a column or an HDF5 path spells it */
        if (!(isalnum((unsigned char)*c) || strchr("_./", *c))) return true;
    return false;
}

/* Rows start .. start+count-1 of the response expression into dst. */
static tt_status read_response(tg_fit_source *fs, int64_t start, int64_t count, double *dst)
{
    if (count > fs->ycap) {
        double *b = realloc(fs->ybuf, sizeof *b * (size_t)count);
        if (!b) return tt_set_error(TT_ENOMEM, "out of memory");
        fs->ybuf = b, fs->ycap = count;
    }
    tt_status st = TT_OK;
    for (int v = 0; v < fs->nyvars && st == TT_OK; v++) {
        if ((st = tt_source_read_rows(fs->src, fs->yvars[v], start, count, fs->ybuf)) != TT_OK) break;
        tt_tensor *t = tt_from_data(1, &count, TT_F64, fs->ybuf, TT_CPU);
        st = t ? tg_env_set(fs->yenv, fs->yvars[v], t) : tt_last_status();
        tt_release(t);
    }
    if (st != TT_OK) return st;
    tt_tensor *r = tg_program_eval(fs->yenv, fs->yprog);
    if (!r) return tt_set_error(tt_last_status(), "-y '%s': %s", fs->names[fs->nx], tt_last_error());
    tt_tensor *full = tt_numel(r) == 1 ? tt_expand(r, 1, &count) : r;
    if (full && tt_numel(full) == count) st = tt_to_host(full, TT_F64, dst);
    else
        st = tt_set_error(TT_ESHAPE, "-y '%s' gives %lld values for %lld points", fs->names[fs->nx],
                          (long long)tt_numel(r), (long long)count);
    if (full != r) tt_release(full);
    tt_release(r);
    return st;
}

/* The error of a point: "d.h5: y[5000] is NaN", "d.csv: line 7: y is NaN". */
static tt_status bad_point(const tg_fit_source *fs, int c, int64_t raw, double v)
{
    const char *label = tt_source_label(fs->src);
    const char *hint = fs->hint ? fs->hint : "";
    if (isfinite(v) && fs->sigma) { /* a sigma <= 0 */
        if (fs->text)
            return tt_set_error(TT_EINVAL, "%s: line %lld: sigma %s is %g: uncertainties must be positive", label,
                                (long long)tt_source_text_line(fs->src, raw), fs->names[c], v);
        return tt_set_error(TT_EINVAL, "%s: %s[%lld] is %g: uncertainties must be positive", label, fs->names[c],
                            (long long)raw, v);
    }
    if (isfinite(v)) { /* a negative weight */
        if (fs->text)
            return tt_set_error(TT_EINVAL, "%s: line %lld: weight %s is %g: weights are 1/sigma^2 >= 0", label,
                                (long long)tt_source_text_line(fs->src, raw), fs->names[c], v);
        return tt_set_error(TT_EINVAL, "%s: %s[%lld] is %g: weights are 1/sigma^2 >= 0", label, fs->names[c],
                            (long long)raw, v);
    }
    const char *val = isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
    if (fs->text)
        return tt_set_error(TT_EINVAL, "%s: line %lld: %s is %s%s", label, (long long)tt_source_text_line(fs->src, raw),
                            fs->names[c], val, hint);
    return tt_set_error(TT_EINVAL, "%s: %s[%lld] is %s%s", label, fs->names[c], (long long)raw, val, hint);
}

/* The first column of point i that is bad (NaN, Inf, a negative weight, a
 * sigma <= 0), or -1. */
static int bad_column(const tg_fit_source *fs, double *const *cols, int64_t i)
{
    for (int c = 0; c < fs->ncols; c++) {
        double v = cols[c][i];
        if (!isfinite(v) || (c == fs->nx + 1 && (fs->sigma ? !(v > 0) : v < 0))) return c;
    }
    return -1;
}

static tt_status read_raw(tg_fit_source *fs, int64_t start, int64_t count, double *const *cols)
{
    for (int c = 0; c < fs->ncols; c++) {
        tt_status st = c == fs->nx && fs->yprog ? read_response(fs, start, count, cols[c])
                                                : tt_source_read_rows(fs->src, fs->names[c], start, count, cols[c]);
        if (st != TT_OK) return st;
    }
    return TT_OK;
}

/* Kept points start .. start+count-1, skipping the dropped ones. */
static tt_status read_kept(tg_fit_source *fs, int64_t start, int64_t count, double *const *cols)
{
    int64_t kept = start / TG_FIT_BLOCK * TG_FIT_BLOCK, raw = fs->marks[start / TG_FIT_BLOCK];
    if (fs->cursor_kept <= start && fs->cursor_kept > kept) kept = fs->cursor_kept, raw = fs->cursor_raw;
    int64_t done = 0;
    while (done < count) {
        /* No more raw rows than the points still wanted (a short slice must
         * not read a whole buffer): the dropped ones take another round. */
        int64_t m = fs->raw_n - raw < fs->raw_cap ? fs->raw_n - raw : fs->raw_cap;
        int64_t wanted = (kept < start ? start - kept : 0) + count - done;
        if (m > wanted) m = wanted;
        if (m <= 0) return tt_set_error(TT_EINVAL, "%s: the points ended early", tt_source_label(fs->src));
        tt_status st = read_raw(fs, raw, m, fs->raw);
        if (st != TT_OK) return st;
        int64_t i = 0;
        for (; i < m && done < count; i++) {
            int bad = bad_column(fs, fs->raw, i);
            if (bad >= 0 && isfinite(fs->raw[bad][i])) return bad_point(fs, bad, raw + i, fs->raw[bad][i]);
            if (bad >= 0) continue;
            if (kept++ < start) continue;
            for (int c = 0; c < fs->ncols; c++) cols[c][done] = fs->raw[c][i];
            done++;
        }
        raw += i;
    }
    fs->cursor_kept = kept, fs->cursor_raw = raw;
    return TT_OK;
}

/* Whether column c's values v[0 .. n) are all finite (and, for weights, not
 * negative; for sigmas, positive): bad_column's test. A branch-free scan of
 * the bits that the compiler vectorizes: the check per point was half the
 * time of a fit from a file; the point at fault is looked for only when
 * there is one. */
static bool column_clean(const tg_fit_source *fs, int c, const double *v, int64_t n)
{
    const uint64_t exponent = 0x7ff0000000000000u, sign = 0x8000000000000000u;
    bool weights = c == fs->nx + 1;
    uint64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, v + i, sizeof b);
        bad |= (uint64_t)((b & exponent) == exponent);
        if (weights && fs->sigma) bad |= (uint64_t)((b & sign) || !(b & ~sign)); /* not above zero */
        else if (weights) bad |= (uint64_t)((b & sign) && (b & ~sign));          /* below zero; -0 is zero */
    }
    return !bad;
}

static tt_status source_read(void *ctx, int64_t start, int64_t count, double *const *cols)
{
    tg_fit_source *fs = ctx;
    if (fs->drop) return read_kept(fs, start, count, cols);
    tt_status st = read_raw(fs, start, count, cols);
    bool clean = true;
    for (int c = 0; st == TT_OK && c < fs->ncols; c++) clean = clean && column_clean(fs, c, cols[c], count);
    for (int64_t i = 0; st == TT_OK && !clean && i < count; i++) {
        int bad = bad_column(fs, cols, i);
        if (bad >= 0) return bad_point(fs, bad, start + i, cols[bad][i]);
    }
    return st;
}

void tg_fit_source_free(tg_fit_source *fs)
{
    if (!fs) return;
    for (int c = 0; c < TG_FIT_MAX_X + 2; c++) {
        free(fs->names[c]);
        free(fs->raw[c]);
    }
    free(fs->marks);
    for (int v = 0; v < fs->nyvars; v++) free(fs->yvars[v]);
    free(fs->ybuf);
    tg_program_free(fs->yprog);
    tg_env_free(fs->yenv);
    free(fs);
}

/* The length of column c (checked to be a vector of numbers) into *n. */
static tt_status named_length(tg_fit_source *fs, const char *name, int64_t *n, tt_dtype *dt);
static tt_status column_length(tg_fit_source *fs, int c, int64_t *n, tt_dtype *dt)
{
    if (c != fs->nx || !fs->yprog) return named_length(fs, fs->names[c], n, dt);
    /* the response expression: its columns, all of one length */
    tt_status st = TT_OK;
    for (int v = 0; v < fs->nyvars && st == TT_OK; v++) {
        int64_t m;
        st = named_length(fs, fs->yvars[v], &m, dt);
        if (st == TT_OK && v > 0 && m != *n)
            st = tt_set_error(TT_ESHAPE, "%s: -y '%s' reads '%s' (%lld values) and '%s' (%lld values)",
                              tt_source_label(fs->src), fs->names[c], fs->yvars[0], (long long)*n, fs->yvars[v],
                              (long long)m);
        *n = m;
    }
    return st;
}

static tt_status named_length(tg_fit_source *fs, const char *name, int64_t *n, tt_dtype *dt)
{
    const char *label = tt_source_label(fs->src), *what = fs->text ? "column" : "dataset";
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    tt_status st = tt_source_info(fs->src, name, &ndim, shape, dt);
    if (st != TT_OK) return st;
    *n = tt_shape_numel(ndim, shape);
    int longer = 0;
    for (int i = 0; i < ndim; i++) longer += shape[i] > 1;
    if (longer > 1) {
        char s[128];
        return tt_set_error(TT_ESHAPE, "%s: %s '%s' has shape %s: expected a vector of points", label, what, name,
                            tt_shape_str(ndim, shape, s, sizeof s));
    }
    if (*dt == TT_BOOL)
        return tt_set_error(TT_EDTYPE, "%s: %s '%s' holds booleans: expected numbers", label, what, name);
    if (*n == 0) return tt_set_error(TT_EINVAL, "%s: %s '%s' is empty: there is nothing to fit", label, what, name);
    return TT_OK;
}

/* With drop_nan: a first pass counts the kept points and marks every
 * block's start. */
static tt_status count_kept(tg_fit_source *fs)
{
    fs->raw_cap = TG_FIT_SLICE;
    for (int c = 0; c < fs->ncols; c++)
        if (!(fs->raw[c] = malloc((size_t)fs->raw_cap * sizeof(double))))
            return tt_set_error(TT_ENOMEM, "out of memory");
    size_t nmarks = (size_t)(fs->raw_n / TG_FIT_BLOCK) + 2;
    if (!(fs->marks = malloc(nmarks * sizeof *fs->marks))) return tt_set_error(TT_ENOMEM, "out of memory");
    int64_t kept = 0;
    fs->first_dropped = -1;
    for (int64_t at = 0; at < fs->raw_n; at += fs->raw_cap) {
        int64_t m = fs->raw_n - at < fs->raw_cap ? fs->raw_n - at : fs->raw_cap;
        tt_status st = read_raw(fs, at, m, fs->raw);
        if (st != TT_OK) return st;
        for (int64_t i = 0; i < m; i++) {
            int bad = bad_column(fs, fs->raw, i);
            if (bad >= 0 && isfinite(fs->raw[bad][i])) return bad_point(fs, bad, at + i, fs->raw[bad][i]);
            if (bad >= 0) {
                if (fs->first_dropped < 0) fs->first_dropped = at + i;
                fs->dropped++;
                continue;
            }
            if (kept % TG_FIT_BLOCK == 0) fs->marks[kept / TG_FIT_BLOCK] = at + i;
            kept++;
        }
    }
    fs->data.n = kept;
    if (kept == 0)
        return tt_set_error(TT_EINVAL, "%s: no points left after dropping NaN and Inf", tt_source_label(fs->src));
    return TT_OK;
}

tt_status tg_fit_source_open(tt_source *src, const tg_fit_source_spec *spec, tg_fit_source **out)
{
    *out = NULL;
    tg_fit_source *fs = calloc(1, sizeof *fs);
    if (!fs) return tt_set_error(TT_ENOMEM, "out of memory");
    fs->src = src;
    fs->text = tt_source_is_text(src);
    fs->hint = spec->nan_hint;
    fs->nx = spec->nx > 1 ? spec->nx : 1;
    fs->sigma = spec->weights && spec->sigma;
    fs->ncols = fs->nx + (spec->weights ? 2 : 1);
    tt_status st = TT_OK;
    if (fs->nx > TG_FIT_MAX_X)
        st = tt_set_error(TT_EUSAGE, "a fit takes 1 to %d x columns, not %d", TG_FIT_MAX_X, fs->nx);
    for (int c = 0; c < fs->ncols && st == TT_OK; c++) {
        const char *name = c < fs->nx    ? (spec->nx > 1 ? spec->xs[c]
                                            : spec->x    ? spec->x
                                                         : "x")
                           : c == fs->nx ? (spec->y ? spec->y : "y")
                                         : spec->weights;
        if (!(fs->names[c] = strdup(name))) st = tt_set_error(TT_ENOMEM, "out of memory");
    }
    if (st == TT_OK && tg_fit_source_is_expression(src, spec->y)) { /* -y 'log(y)' */
        if (tg_expr_check(spec->y) || !(fs->yprog = tg_program_parse(spec->y)) || !(fs->yenv = tg_env_new()))
            st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
        if (fs->yenv) tg_env_set_dtype(fs->yenv, TT_F64);
        for (int i = 0; st == TT_OK && fs->yprog && i < tg_program_nnames(fs->yprog); i++) {
            double constant;
            const char *name = tg_program_name(fs->yprog, i);
            if (tg_expr_constant(name, &constant)) continue;
            if (fs->nyvars == TG_MODEL_MAX_PARAMS)
                st = tt_set_error(TT_EUSAGE, "-y '%s' reads more than %d columns", spec->y, TG_MODEL_MAX_PARAMS);
            else if (!(fs->yvars[fs->nyvars++] = strdup(name))) st = tt_set_error(TT_ENOMEM, "out of memory");
        }
        if (st == TT_OK && !fs->nyvars)
            st = tt_set_error(TT_EUSAGE, "-y '%s' reads no column (the response is an expression over the columns)",
                              spec->y);
    }
    /* Shapes and lengths first: nothing is read before they agree. */
    int64_t n[TG_FIT_MAX_X + 2] = {0};
    tt_dtype dt[TG_FIT_MAX_X + 2] = {TT_F64};
    for (int c = 0; c < fs->ncols && st == TT_OK; c++) st = column_length(fs, c, &n[c], &dt[c]);
    const char *label = tt_source_label(src), *what = fs->text ? "column" : "dataset";
    int y = fs->nx;
    for (int c = 1; c < fs->nx && st == TT_OK; c++)
        if (n[c] != n[0])
            st = tt_set_error(TT_ESHAPE, "%s: the x columns differ in length: '%s' has %lld points, '%s' has %lld",
                              label, fs->names[0], (long long)n[0], fs->names[c], (long long)n[c]);
    if (st == TT_OK && n[y] != n[0])
        st = tt_set_error(TT_ESHAPE, "%s: x and y differ in length: %s '%s' has %lld points, %s '%s' has %lld", label,
                          what, fs->names[0], (long long)n[0], what, fs->names[y], (long long)n[y]);
    if (st == TT_OK && fs->ncols == y + 2 && n[y + 1] != n[0])
        st = tt_set_error(TT_ESHAPE, "%s: the %s '%s' have %lld values for %lld points", label,
                          fs->sigma ? "sigmas" : "weights", fs->names[y + 1], (long long)n[y + 1], (long long)n[0]);
    fs->raw_n = fs->data.n = n[0];
    fs->data.nx = fs->nx;
    fs->data.weighted = fs->ncols == y + 2;
    fs->data.sigma = fs->sigma;
    fs->data.dtype = tt_dtype_is_floating(dt[0]) ? dt[0] : TT_F64;
    fs->data.read = source_read;
    fs->data.ctx = fs;
    fs->data.names = (const char *const *)fs->names;
    if (st == TT_OK && spec->drop_nan) {
        fs->drop = true;
        st = count_kept(fs);
    }
    if (st != TT_OK) {
        tg_fit_source_free(fs);
        return st;
    }
    *out = fs;
    return TT_OK;
}

const tg_fit_data *tg_fit_source_data(const tg_fit_source *fs) { return &fs->data; }

int64_t tg_fit_source_dropped(const tg_fit_source *fs, int64_t *first)
{
    if (first) *first = fs->first_dropped;
    return fs->dropped;
}

int64_t tg_fit_source_line(const tg_fit_source *fs, int64_t raw) { return tt_source_text_line(fs->src, raw); }

tt_status tg_fit_source_sample_cols(tg_fit_source *fs, int64_t max, double *const *out, int64_t *count, double *xmin,
                                    double *xmax)
{
    const tg_fit_data *d = &fs->data;
    int64_t every = max > 0 && d->n > max ? (d->n + max - 1) / max : 1, slice = TG_FIT_SLICE, k = 0;
    double *buf = malloc((size_t)slice * (size_t)fs->ncols * sizeof *buf);
    if (!buf) return tt_set_error(TT_ENOMEM, "out of memory");
    double *cols[TG_FIT_MAX_X + 2];
    for (int c = 0; c < fs->ncols; c++) cols[c] = buf + (size_t)c * (size_t)slice;
    double lo = INFINITY, hi = -INFINITY;
    tt_status st = TT_OK;
    for (int64_t at = 0; at < d->n && st == TT_OK; at += slice) {
        int64_t m = d->n - at < slice ? d->n - at : slice;
        st = d->read(d->ctx, at, m, cols);
        for (int64_t i = 0; st == TT_OK && i < m; i++) {
            lo = fmin(lo, cols[0][i]), hi = fmax(hi, cols[0][i]);
            if ((at + i) % every == 0 && k < max) {
                for (int c = 0; c < fs->ncols; c++)
                    if (out[c]) out[c][k] = cols[c][i];
                k++;
            }
        }
    }
    free(buf);
    *count = k, *xmin = lo, *xmax = hi;
    return st;
}

tt_status tg_fit_source_sample(tg_fit_source *fs, int64_t max, double *xs, double *ys, int64_t *count, double *xmin,
                               double *xmax)
{
    double *out[TG_FIT_MAX_X + 2] = {NULL};
    out[0] = xs, out[fs->nx] = ys;
    return tg_fit_source_sample_cols(fs, max, out, count, xmin, xmax);
}
