/* Fitting models to (x, y) by gradient descent through libgrad — the seeds'
 * linear regression as a library call — plus the closed forms to compare with,
 * on data of any size: the points come as a stream of slices (tg_fit_data),
 * and memory is bounded by the slice, not by the number of points.
 *
 * Models (tg_model): "line" (y = w*x + b; parameters w, b), "poly:K" (c0 + c1 x
 * + ... + cK x^K; c0..cK), or an expression over x and named parameters
 * ("a*exp(k*x)", parameters from the init list; see tg/expr.h).
 * Losses over residuals r = pred - y, each term optionally weighted by
 * s_i = 1/sigma_i^2:
 *   mse        mean(s r^2)            half-mse  mean(s r^2) / 2     sse  sum(s r^2)
 *   l1         mean(s |r|)            huber[:D] mean(s huber_D(r)), D = 1 by default
 *   orthogonal mean(s (w*x - y + b)^2 / (w^2 + 1)) / 2   (line only, w and b its
 *              parameters: seed 002's total-least-squares loss)
 *   or an expression over pred, y, x (and the parameters): "mean((pred-y)^2)".
 *
 * Methods:
 *  - exact (TG_METHOD_EXACT): one pass for the line (per-block centred sums
 *    merged pairwise, Chan et al.; the total-least-squares line from the same
 *    sums); poly:K takes a first pass for x's centre and range, then a
 *    streamed Householder QR (TSQR: each block's R factor, merged pairwise);
 *  - the default (TG_OPT_AUTO): damped Newton (Levenberg-Marquardt) in float64,
 *    one pass per iteration for the loss, gradient and Hessian, summed block
 *    by block; line and poly with built-in losses on internally standardized
 *    data (x centred and divided by its spread, y likewise), results in the
 *    user's units; it stops (TG_STOP_TOL) when the predicted decrease is below
 *    tol relative to the loss or the step below tol relative to the parameters,
 *    so zero-residual data converges in two or three passes;
 *  - gd, momentum, adam: one pass per step (the seeds' raw loop: the loss, its
 *    gradient, p.data -= lr * p.grad, in spec->dtype); sgd: see spec->batch.
 *
 * Determinism: every sum over points is accumulated in fixed blocks of
 * TG_FIT_BLOCK points (block k holds points k*TG_FIT_BLOCK onwards, whatever
 * the slices), and the block partials are combined in a fixed pairwise tree
 * over block indices, so a fit gives the same bits for any slice size.
 *
 * Standard errors come from the Hessian of the loss at the optimum: cov =
 * (2 L / dof) H^-1 for the squared losses (equal to numpy.polyfit(cov=True) /
 * scipy's linregress for lines and polynomials); l1 and huber use the Hessian
 * of the sum of squared residuals instead.
 */
#ifndef TG_FIT_H
#define TG_FIT_H

#include "expr.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TG_OPT_AUTO, TG_OPT_GD, TG_OPT_SGD, TG_OPT_MOMENTUM, TG_OPT_ADAM } tg_optimizer;
typedef enum { TG_METHOD_DESCENT, TG_METHOD_EXACT } tg_fit_method;
typedef enum {
    TG_STOP_STEPS,      /* ran the requested steps / epochs */
    TG_STOP_TOL,        /* relative loss change or gradient norm below tol */
    TG_STOP_LOSS_BELOW, /* loss <= loss_below */
    TG_STOP_CALLBACK,   /* on_step asked to stop */
    TG_STOP_EXACT,      /* closed form, no steps */
    TG_STOP_DIVERGED    /* the loss became NaN or Inf (tg_fit returns TT_ERUNTIME) */
} tg_stop_reason;
const char *tg_stop_reason_name(tg_stop_reason r); /* "steps", "tol", "loss-below", ... */

typedef struct {
    const char *model; /* "line" (default when NULL), "poly:K", or an expression */
    const char *loss;  /* "mse" (default when NULL), "half-mse", ..., or an expression */
    int ninit;         /* initial values by name (expression models need all of theirs) */
    const char *const *init_names;
    const double *init_values;
    tg_fit_method method;
    tg_optimizer optimizer;
    double lr;       /* <= 0: the optimizer's default */
    double lr_decay; /* lr_t = lr / (1 + lr_decay * t) */
    double momentum; /* momentum: default 0.9 */
    int64_t batch;   /* sgd: batch size (0: full batch); a fresh random batch each step (see slice) */
    int64_t steps;   /* maximum steps (0: default) */
    int64_t epochs;  /* or passes over the data (0: unused) */
    double tol;      /* < 0: off; 0: default */
    bool has_loss_below;
    double loss_below;
    bool keep_best; /* report the parameters of the lowest loss seen */
    /* A problem whose data do not determine every parameter (rank-deficient
     * curvature: fewer points than parameters, every x the same, collinear
     * regressors) is an error naming them; true fits it anyway, their
     * standard errors undetermined (tg_fit_result.determined). */
    bool allow_undetermined;
    /* The weights are 1/sigma^2 of known sigmas: the covariance is (J^T W J)^-1,
     * not rescaled by the reduced chi-square (curve_fit's absolute_sigma). */
    bool absolute_sigma;
    /* Standard errors from the full Hessian of the loss (its residuals'
     * curvature included) rather than from J^T W J; or, stderr_jacobian,
     * from J^T W J. Neither: J^T W J for least squares and l1, the Hessian
     * for huber and expression losses. */
    bool stderr_hessian, stderr_jacobian;
    /* The x columns' names (nx of them; 0 and NULL: one column, x). With
     * several, the line fits y = w_A*A + w_B*B + ... + b (multiple linear
     * regression; a coefficient's name is w_ and the column's name with every
     * character outside [A-Za-z0-9_] replaced by _), and an expression model
     * reads each name as its column: its other names are parameters. */
    int nx;
    const char *const *x_names;
    uint64_t seed; /* batch order and random initial values */
    /* Points per slice read from the data (0: TG_FIT_SLICE). Slices at least
     * a block long are read in whole blocks (the slice rounded down to a
     * multiple of TG_FIT_BLOCK); shorter ones are gathered into a block. sgd
     * draws its batches within a slice: the slices of the data are visited in
     * an order drawn from the seed, and in each, ceil(points / batch) batches
     * are drawn as from the whole data (a partial shuffle of the slice's
     * points); data that fits in one slice gives the batches of a fit in memory. */
    int64_t slice;
    tt_dtype dtype;
    tt_device device;
    /* Descent of a line with mse, half-mse or sse on the CPU computes each
     * step's loss and gradient in one fused pass over the data (the same
     * per-point arithmetic, sums in double); true runs it through libgrad
     * like every other model, e.g. to check one against the other. */
    bool autograd_only;
    /* Called after every step with the loss; return false to stop. */
    bool (*on_step)(int64_t step, double loss, void *ctx);
    void *ctx;
} tg_fit_spec;

void tg_fit_spec_defaults(tg_fit_spec *spec);

/* The most x columns a fit takes (several regressors). */
#define TG_FIT_MAX_X 6

/* Points per accumulation block, and the default slice (both powers of two). */
#define TG_FIT_BLOCK 8192
#define TG_FIT_SLICE 65536

/* The data of a fit as a stream: n and the columns are known before any
 * point is read, and the points are read in slices, as doubles.
 * Columns, in this order: x (nx of them; one today, several with multiple
 * regression), y, then the weights 1/sigma^2 when `weighted`. */
typedef struct {
    int64_t n;      /* points */
    int nx;         /* x columns (the model's: tg_fit_spec.nx, 1 by default) */
    bool weighted;  /* a weight column follows y */
    tt_dtype dtype; /* the data's own floating type (the fit runs in spec->dtype) */
    /* Fills cols[c][0 .. count) with the values of column c at points start ..
     * start + count - 1 (start + count <= n, count <= the slice). Slices are
     * read in order, except by sgd (see tg_fit_spec.slice), and a method reads
     * the data as many times as it makes passes. Returns TT_OK, or an error
     * status with the message set (naming the file or source). */
    tt_status (*read)(void *ctx, int64_t start, int64_t count, double *const *cols);
    void *ctx;
    /* The columns' names for messages ("x[5000] is NaN"); NULL: x, y, weights. */
    const char *const *names;
    bool sigma; /* with weighted: that column holds sigmas (weights 1/sigma^2, each > 0) */
} tg_fit_data;

/* ---- models --------------------------------------------------------------- */
/* A model compiled once: its kind, parameters (for an expression, the free
 * names of the parsed expression other than x), formula and predictions. */
typedef struct tg_model tg_model;
typedef enum { TG_MODEL_LINE, TG_MODEL_POLY, TG_MODEL_EXPR } tg_model_kind;
#define TG_MODEL_MAX_POLY 30
#define TG_MODEL_MAX_PARAMS 64

/* "line" (also when NULL), "poly:K" or an expression; TT_EUSAGE naming an
 * unknown name or a bad degree, the parser's error for an expression. */
tt_status tg_model_new(const char *model, tg_model **out);
/* The same over the data columns x_names[0 .. nx) (see tg_fit_spec.x_names). */
tt_status tg_model_new_with_data(const char *model, int nx, const char *const *x_names, tg_model **out);
int tg_model_nx(const tg_model *m);
const char *tg_model_x_name(const tg_model *m, int j);
void tg_model_free(tg_model *m);
tg_model_kind tg_model_get_kind(const tg_model *m);
const char *tg_model_text(const tg_model *m); /* as given ("line" for NULL) */
int tg_model_degree(const tg_model *m);       /* K for poly:K, 1 for the line, 0 for an expression */
int tg_model_nparams(const tg_model *m);
const char *tg_model_param(const tg_model *m, int i);
int tg_model_param_index(const tg_model *m, const char *name); /* -1 when not a parameter */
/* "y = w*x + b", "y = c0 + c1*x + c2*x^2", "y = a*exp(k*x)" (into buf). */
const char *tg_model_formula(const tg_model *m, char *buf, size_t len);
/* pred[i] = model(x[i]) for the parameters theta (in parameter order), in
 * float64, for any chunk of points. */
tt_status tg_model_predict(const tg_model *m, const double *theta, const double *x, int64_t n, double *pred);
/* The same for a model of several x columns: xs[j][i] is column j at point i. */
tt_status tg_model_predict_cols(const tg_model *m, const double *theta, const double *const *xs, int64_t n,
                                double *pred);
/* The built-in model names, NULL-terminated ("line", "poly:K"). */
const char *const *tg_model_names(void);

/* ---- losses --------------------------------------------------------------- */
typedef enum {
    TG_LOSS_MSE,
    TG_LOSS_HALF_MSE,
    TG_LOSS_SSE,
    TG_LOSS_L1,
    TG_LOSS_HUBER,
    TG_LOSS_ORTHOGONAL,
    TG_LOSS_EXPR
} tg_loss_kind;
/* The built-in loss names, NULL-terminated ("mse", ..., "huber", "orthogonal"). */
const char *const *tg_loss_names(void);
/* A loss: a built-in name (huber:DELTA sets *delta, else 1) or an expression
 * (TG_LOSS_EXPR, not parsed here); TT_EUSAGE for an unknown name or a bad DELTA. */
tt_status tg_loss_parse(const char *loss, tg_loss_kind *kind, double *delta);
/* Whether a loss works with a model (orthogonal needs the line: TT_EUSAGE
 * saying so), and whether the exact method covers the pair (least squares
 * for line and poly:K, orthogonal for the line). */
tt_status tg_loss_check_model(tg_loss_kind kind, const tg_model *m);
bool tg_fit_exact_covers(const tg_model *m, tg_loss_kind kind);

typedef struct {
    int nparams;
    char **names;
    double *values; /* in the user's units */
    double *stderrs;
    double *cov;    /* nparams x nparams, row-major */
    double loss;    /* the final (or best) loss; after TG_STOP_LOSS_BELOW the loss that stopped it */
    double sse;     /* sum of (weighted) squared residuals: gnuplot's WSSR, the chi-square */
    double rms;     /* sqrt(sse / dof): gnuplot's "rms of residuals" (FIT_STDFIT); NaN when dof <= 0 */
    int64_t n, dof; /* points, n - nparams (gnuplot's ndf) */
    /* The statistics (gnuplot, scipy): chi2 = sse; chi2_red = chi2 / dof;
     * p_value = Q(chi2; dof), the chance of a chi-square at least this large
     * (gnuplot's FIT_P); r2 = 1 - sse / sst, sst the (weighted) sum of
     * squares of y about its (weighted) mean; r2_adj = 1 - (1 - r2)(n - 1)/dof. */
    double chi2, chi2_red, p_value, r2, r2_adj, sst;
    bool absolute_sigma; /* cov = (J^T W J)^-1, not times chi2_red */
    /* The covariance's curvature: the full Hessian of the loss (the squared
     * losses of line and poly, where it is 2 J^T W J, the default for huber
     * and expression losses, or --stderr hessian), or else 2 J^T W J, the
     * Hessian of the sum of squares less the residuals' curvature (gnuplot,
     * scipy). */
    bool stderr_hessian;
    /* The default method stopped without progress while the gradient was not
     * small (a stall: converged is false). */
    bool stalled;
    /* The rank of the column-scaled curvature (J^T W J, or the Hessian of
     * the loss) with a relative threshold, as MINPACK and numpy's lstsq judge
     * it; determined[i] false for a parameter the data leave free (its
     * standard error and covariance are NaN). */
    int rank;
    bool *determined;
    /* Convergence: `tested` when the method has a convergence test (the
     * default method; gd & co. with tol); `converged` when it passed (or the
     * closed form, or --loss-below reached). A fixed-budget descent (no tol)
     * of a model with a closed form is compared with it: `implausible` when
     * parameter far_param lies far_sigmas (> 3) of its own standard errors
     * from the closed form's far_exact; converged is then false, else true. */
    bool tested, converged, implausible;
    int far_param;
    double far_exact, far_sigmas;
    double last_change; /* the relative loss change of the last step */
    /* A float32 fit of float64 data whose column precision_col (0: x, 1: y)
     * lost precision when rounded to float32: rounding errors up to
     * precision_err against a spread (standard deviation) of precision_spread. */
    bool precision_lost;
    int precision_col;
    double precision_err, precision_spread;
    int64_t steps;
    int64_t max_steps; /* the step limit that applied (0 for the exact method) */
    double lr;         /* the learning rate that ran (0 for the default method and the exact one) */
    tg_stop_reason stop;
    int64_t nhistory; /* loss after each step */
    double *history;
} tg_fit_result;

/* Fits y ~ model(x) on tensors (1-D or (N, 1) columns; a thin wrapper of
 * tg_fit_stream reading slices of them); weights may be NULL. Returns TT_OK and *out, or an error
 * naming what is wrong (lengths differ, fewer points than parameters, a
 * NaN/Inf value naming its row, an unknown model/loss/parameter, lr <= 0, an
 * expression's syntax error). On divergence returns TT_ERUNTIME with
 * "loss became NaN at step K" and still fills *out (stop = TG_STOP_DIVERGED)
 * so a caller can add its own hint. */
tt_status tg_fit(const tt_tensor *x, const tt_tensor *y, const tt_tensor *weights, const tg_fit_spec *spec,
                 tg_fit_result **out);
/* The same on a stream: data->read is called for slices of spec->slice
 * points; every method keeps memory bounded by the slice. Bad data is found
 * as it is read ("y[5000] is NaN (row 5001)"); any error of data->read is
 * returned as it is. */
tt_status tg_fit_stream(const tg_fit_data *data, const tg_fit_spec *spec, tg_fit_result **out);
void tg_fit_result_free(tg_fit_result *r);
/* The confidence interval of parameter i at `level` (0 < level < 1):
 * value -/+ t * stderr, t Student's quantile at (1 + level)/2 with the
 * fit's dof, as gnuplot and scipy compute it (NaN when dof <= 0 or the
 * standard error is not defined). */
void tg_fit_ci(const tg_fit_result *r, int i, double level, double *low, double *high);
/* Q(chi2; dof) = 1 - the chi-square distribution's CDF (gnuplot's FIT_P). */
double tg_chi2_sf(double chi2, double dof);
/* Student's t: the quantile at probability p (0 < p < 1) with dof degrees of freedom. */
double tg_student_t_quantile(double p, double dof);

/* ---- data from a tensor source (tg/io.h) -------------------------------------- */
/* x, y and optional weights, vectors (1-D, (N, 1) or (1, N)) of numbers in a
 * file or stream, as a tg_fit_data whose reads go to the source a slice at
 * a time (an HDF5 file is never read whole; text keeps its parsed columns).
 * Their shapes and lengths are checked before any point is read. A point
 * holding NaN or Inf is an error naming it ("d.h5: y[5000] is NaN", for text
 * "d.csv: line 7: y is NaN") followed by nan_hint, found when its slice is
 * read; with drop_nan such points are skipped instead, after a first pass
 * that counts them. A negative weight is always an error. */
typedef struct {
    const char *x, *y, *weights; /* names in the source (NULL: "x", "y", no weights) */
    bool drop_nan;
    const char *nan_hint; /* appended to the message of a NaN or Inf, e.g. " (--drop-nan drops such rows)" */
    bool sigma;           /* the weights column holds sigmas (tg_fit_data.sigma): each must be > 0 */
    /* Several x columns (nx > 1, at most TG_FIT_MAX_X): their names, x unused. */
    int nx;
    const char *const *xs;
} tg_fit_source_spec;
typedef struct tg_fit_source tg_fit_source;
/* src must outlive the result. Errors name the source and the dataset (column). */
tt_status tg_fit_source_open(tt_source *src, const tg_fit_source_spec *spec, tg_fit_source **out);
void tg_fit_source_free(tg_fit_source *fs);
const tg_fit_data *tg_fit_source_data(const tg_fit_source *fs);
/* Whether spec.y is an expression over the columns (a response such as
 * 'log(y)'): no column has that name, and it is more than a name. */
bool tg_fit_source_is_expression(tt_source *src, const char *y);
/* drop_nan: the points dropped, and the source index of the first (-1: none). */
int64_t tg_fit_source_dropped(const tg_fit_source *fs, int64_t *first);
/* Text: the file line of the point at a source index; 0 for HDF5. */
int64_t tg_fit_source_line(const tg_fit_source *fs, int64_t index);
/* One more pass: x's range over every point, and at most max points (every
 * k-th one, evenly spread) into xs, ys, for a plot of any number of points. */
tt_status tg_fit_source_sample(tg_fit_source *fs, int64_t max, double *xs, double *ys, int64_t *count, double *xmin,
                               double *xmax);
/* The same for every column of tg_fit_source_data's (the x columns, y, the
 * weights or sigmas as stored): out[c] receives column c, or NULL to skip it. */
tt_status tg_fit_source_sample_cols(tg_fit_source *fs, int64_t max, double *const *out, int64_t *count, double *xmin,
                                    double *xmax);
/* The checks of tg_fit that need no data (model and loss, their syntax and
 * functions first, the initial values, the options), so that a program can
 * refuse a bad request before it reads anything: TT_OK or tg_fit's error.
 * Errors in the text of an expression are TT_ESYNTAX, with a caret line. */
tt_status tg_fit_check(const tg_fit_spec *spec);

#ifdef __cplusplus
}
#endif
#endif
