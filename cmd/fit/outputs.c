/* tg-fit's outputs drawn from the data (see fit.h): --residuals, a pass of
 * its own written slice by slice (under MPI by every rank, as HDF5), and
 * --plot's SVG. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mpi.h"
#include "../plot.h"
#include "fit.h"
#ifdef TG_MPI
#include "tg/fit_mpi.h"
#endif

/* res[i] = y[i] - fit[i] at n points of the x columns xs (false when the
 * model cannot be evaluated). */
static bool residuals_at(const fit_opts *o, const tg_fit_result *r, const double *const *xs, const double *y, int64_t n,
                         double *fit, double *res)
{
    if (tg_model_predict_cols(o->compiled, r->values, xs, n, fit) != TT_OK) return false;
    for (int64_t i = 0; i < n; i++) res[i] = y[i] - fit[i];
    return true;
}

/* The columns of --residuals: the x columns, y, fit, residual, then with
 * --sigma sigma and residual/sigma; rows of them a slice at a time. */
enum { RES_MAX_COLS = TG_FIT_MAX_X + 5 };
typedef struct {
    int ncols;
    const char *names[RES_MAX_COLS];
    double *cols[RES_MAX_COLS], *weights; /* weights: a weight column that is not --sigma */
} residual_rows;

static void residual_rows_init(residual_rows *rr, const fit_data *d, int64_t cap)
{
    int nx = d->nx;
    memset(rr, 0, sizeof *rr);
    rr->ncols = d->sigma ? nx + 5 : nx + 3;
    for (int j = 0; j < nx; j++) rr->names[j] = d->xnames[j];
    rr->names[nx] = d->yname, rr->names[nx + 1] = "fit", rr->names[nx + 2] = "residual";
    rr->names[nx + 3] = "sigma", rr->names[nx + 4] = "normalized";
    for (int c = 0; c < rr->ncols; c++) rr->cols[c] = cmd_xcalloc((size_t)cap, sizeof *rr->cols[c]);
    if (d->weighted && !d->sigma) rr->weights = cmd_xcalloc((size_t)cap, sizeof *rr->weights);
}

static void residual_rows_free(residual_rows *rr)
{
    for (int c = 0; c < rr->ncols; c++) free(rr->cols[c]);
    free(rr->weights);
}

/* Reads points [at, at + m) and fills the columns' rows [0, m); an error
 * (with its message) when the data cannot be read or the model evaluated. */
static tt_status residual_rows_fill(residual_rows *rr, const fit_opts *o, const fit_data *d, const tg_fit_result *r,
                                    int64_t at, int64_t m)
{
    const tg_fit_data *fd = tg_fit_source_data(d->fs);
    int nx = d->nx;
    double **cols = rr->cols, *read[TG_FIT_MAX_X + 2];
    for (int c = 0; c <= nx; c++) read[c] = cols[c];
    if (d->weighted) read[nx + 1] = d->sigma ? cols[nx + 3] : rr->weights;
    if (fd->read(fd->ctx, at, m, read) != TT_OK) return tt_last_status();
    if (!residuals_at(o, r, (const double *const *)cols, cols[nx], m, cols[nx + 1], cols[nx + 2])) {
        char why[512];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_set_error(tt_last_status(), "--residuals: cannot evaluate the model: %s", why);
    }
    for (int64_t i = 0; d->sigma && i < m; i++) cols[nx + 4][i] = cols[nx + 2][i] / cols[nx + 3][i];
    return TT_OK;
}

/* Rows [0, m) of the columns, as a tensor set. */
static tt_tensor_set *residual_piece(const residual_rows *rr, int64_t m)
{
    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail("out of memory");
    for (int c = 0; c < rr->ncols; c++) fit_put_f64(set, rr->names[c], 1, &m, rr->cols[c]);
    return set;
}

/* x, y, fit, residual (and sigma, residual/sigma) per point, as gnuplot's
 * residuals and scipy's y - f(x, *popt), in a pass of its own over the data,
 * written a slice at a time (text or HDF5) to a temporary file renamed at
 * the end: memory bounded by the slice. */
void fit_write_residuals(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    bool h5 = o->residuals_fmt == TT_FMT_H5;
    int64_t n = d->n, cap = n < TG_FIT_SLICE ? n : TG_FIT_SLICE;
    residual_rows rr;
    residual_rows_init(&rr, d, cap);
    cmd_text *text = NULL;
    cmd_h5_out *h5out = NULL;
    tt_h5_writer *w = NULL;
    int ids[RES_MAX_COLS];
    if (h5) {
        h5out = cmd_h5_open(o->residuals, (uint64_t)n * (uint64_t)rr.ncols * sizeof(double));
        w = cmd_h5_writer(h5out);
        for (int c = 0; c < rr.ncols; c++)
            if ((ids[c] = tt_h5_writer_add(w, rr.names[c], TT_F64, 1, &n, NULL)) < 0) cmd_fail_lib(NULL);
    } else {
        text = cmd_text_open(o->residuals, o->residuals_fmt);
    }
    for (int64_t at = 0; at < n; at += cap) {
        int64_t m = n - at < cap ? n - at : cap;
        if (residual_rows_fill(&rr, o, d, r, at, m) != TT_OK) cmd_fail_lib(NULL);
        tt_tensor_set *piece = residual_piece(&rr, m);
        if (!h5) cmd_text_put(text, piece);
        for (int c = 0; h5 && c < rr.ncols; c++)
            if (tt_h5_writer_put(w, ids[c], at, piece->tensors[c]) != TT_OK) cmd_fail_lib(NULL);
        tt_set_free(piece);
    }
    if (h5) {
        tt_tensor_set *attrs = tt_set_new();
        if (!attrs) cmd_fail("out of memory");
        cmd_provenance(attrs);
        if (tt_h5_writer_attrs(w, attrs) != TT_OK) cmd_fail_lib(NULL);
        tt_set_free(attrs);
        cmd_h5_close(h5out);
    } else {
        cmd_text_close(text);
    }
    residual_rows_free(&rr);
}

#ifdef TG_MPI
/* --residuals as HDF5 under MPI: every rank makes the rows of the points it
 * fitted (tg_fit_mpi_range) and writes them into its own slice of one file
 * with collective writes, a slice at a time; the file is rank 0's temporary
 * file, renamed when every rank has written its rows. The datasets are those
 * of one process. */
void fit_write_residuals_mpi(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    int64_t n = d->n, cap = n < TG_FIT_SLICE ? n : TG_FIT_SLICE, first, end;
    tg_fit_mpi_range(n, cmd_mpi_rank, cmd_mpi_size, &first, &end);
    residual_rows rr;
    residual_rows_init(&rr, d, cap > 0 ? cap : 1);
    tt_tensor_set *attrs = tt_set_new();
    if (!attrs) cmd_fail("out of memory");
    cmd_provenance(attrs);
    cmd_mpi_h5 *h = cmd_mpi_h5_open(o->residuals, "--residuals", attrs);
    tt_set_free(attrs);
    tt_h5_par *f = cmd_mpi_h5_file(h);
    bool ok = true;
    for (int c = 0; ok && c < rr.ncols; c++) ok = tt_h5_par_dataset(f, rr.names[c], TT_F64, n, NULL) == TT_OK;
    cmd_mpi_agree(ok);
    int64_t rounds = (end - first + cap - 1) / (cap > 0 ? cap : 1), most;
    MPI_Allreduce(&rounds, &most, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    for (int64_t i = 0; i < most; i++) {
        int64_t at = first + i * cap, m = end - at < cap ? end - at : cap;
        if (ok && m > 0 && residual_rows_fill(&rr, o, d, r, at, m) != TT_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", tt_last_error());
            tt_set_error(tt_last_status(), "rank %d of %d (points %lld to %lld): %s", cmd_mpi_rank, cmd_mpi_size,
                         (long long)first, (long long)end - 1, why);
            ok = false;
        }
        tt_tensor_set *piece = ok && m > 0 ? residual_piece(&rr, m) : NULL;
        /* every rank makes every call (they are collective), with rows or none */
        for (int c = 0; c < rr.ncols; c++)
            if (tt_h5_par_write(f, rr.names[c], at, piece ? piece->tensors[c] : NULL) != TT_OK) ok = false;
        tt_set_free(piece);
    }
    cmd_mpi_h5_close(h, ok);
    residual_rows_free(&rr);
}
#endif

/* ---- the plot --------------------------------------------------------------- */

/* y of the fitted model at xs (NULL when it cannot be evaluated). */
static double *model_values(const fit_opts *o, const tg_fit_result *r, const double *xs, int64_t n)
{
    double *ys = cmd_xcalloc((size_t)n, sizeof *ys);
    if (tg_model_predict(o->compiled, r->values, xs, n, ys) != TT_OK) {
        free(ys);
        return NULL;
    }
    return ys;
}

/* The data points a plot draws at most: every k-th point of more (an SVG of
 * 10^8 circles would be gigabytes). */
#define PLOT_POINTS 20000

void fit_write_plot(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    /* A sample of the points (every column: the residuals need every x), in a pass of its own. */
    int64_t np = d->n < PLOT_POINTS ? d->n : PLOT_POINTS, shown = 0;
    int nx = d->nx;
    double *sample[TG_FIT_MAX_X + 2] = {NULL};
    for (int c = 0; c <= nx; c++) sample[c] = cmd_xcalloc((size_t)(np ? np : 1), sizeof *sample[c]);
    if (d->sigma) sample[nx + 1] = cmd_xcalloc((size_t)(np ? np : 1), sizeof *sample[nx + 1]);
    double lo, hi;
    if (tg_fit_source_sample_cols(d->fs, np, sample, &shown, &lo, &hi) != TT_OK) cmd_fail_lib(NULL);
    int64_t nc = 400;
    double *cx = cmd_xcalloc((size_t)nc, sizeof *cx);
    for (int64_t i = 0; i < nc; i++) cx[i] = lo + (hi - lo) * (double)i / (double)(nc - 1);
    double *cy = d->nx == 1 ? model_values(o, r, cx, nc) : NULL; /* several x: no curve over the first */
    if (!cy && d->nx == 1) cmd_warn("--plot: cannot evaluate the model for the curve: %s", tt_last_error());

    char title[256], curve[160], data[96], losst[160], pb[64];
    const char *m = tg_model_text(o->compiled);
    if (tg_model_get_kind(o->compiled) == TG_MODEL_LINE) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.5g", r->values[0]);
        snprintf(b, sizeof b, "%.5g", fabs(r->values[1]));
        snprintf(title, sizeof title, "y = %s x %s %s", a, r->values[1] < 0 ? "-" : "+", b);
    } else {
        int len = snprintf(title, sizeof title, "%s:", strlen(m) > 40 ? "model" : m);
        for (int i = 0; i < r->nparams && len < (int)sizeof title - 40; i++)
            len += snprintf(title + len, sizeof title - (size_t)len, " %s=%.4g", r->names[i], r->values[i]);
    }
    if (shown < d->n) snprintf(data, sizeof data, "data (%lld of %lld points)", (long long)shown, (long long)d->n);
    else snprintf(data, sizeof data, "data (%lld points)", (long long)d->n);
    snprintf(curve, sizeof curve, "fit (%s)", o->method == TG_METHOD_EXACT ? "exact" : "descent");
    const char *lossname = o->loss ? o->loss : "mse";
    if (strlen(lossname) > 40) lossname = "expression";
    if (o->method == TG_METHOD_EXACT) snprintf(losst, sizeof losst, "loss (%s)", lossname);
    else
        snprintf(losst, sizeof losst, "loss (%s), %lld steps, stop: %s", lossname, (long long)r->steps,
                 fit_stop_name(r));
    snprintf(pb, sizeof pb, "closed form: no descent steps");
    double *fit = cmd_xcalloc((size_t)(shown ? shown : 1), sizeof *fit);
    double *res = cmd_xcalloc((size_t)(shown ? shown : 1), sizeof *res);
    if (!residuals_at(o, r, (const double *const *)sample, sample[nx], shown, fit, res)) {
        free(res);
        res = NULL;
    }
    plot_fit pf = {
        .sigma = sample[nx + 1],
        .resid = res,
        .x = sample[0],
        .y = sample[nx],
        .n = shown,
        .cx = cx,
        .cy = cy,
        .ncurve = cy ? nc : 0,
        .title = title,
        .xlabel = d->xname,
        .ylabel = d->yname,
        .data_label = data,
        .curve_label = curve,
        .loss = r->history,
        .nloss = r->nhistory,
        .loss_title = losst,
        .loss_note = pb,
    };
    size_t len = 0;
    char *svg = plot_fit_svg(&pf, &len);
    if (!svg) cmd_fail("out of memory drawing --plot");
    cmd_write_bytes(o->plot, svg, len);
    free(svg);
    free(res);
    free(fit);
    for (int c = 0; c < nx + 2; c++) free(sample[c]);
    free(cx);
    free(cy);
}
