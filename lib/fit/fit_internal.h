/* Internals of the fitting library (lib/fit), by part:
 *   model.c   tg_model: the model vocabulary, parameters, formula, predictions
 *             and the model as a libgrad graph on a block of points;
 *   loss.c    the loss vocabulary, per-point derivatives of the built-in
 *             losses, expression losses, the loss as a libgrad graph;
 *   stream.c  slices read into whole blocks, the pairwise tree that combines
 *             block partials, and the first pass (checks and moments);
 *   kernels.c per-block sums: the first pass's moments, a block's R factor,
 *             the line/poly losses' sums (Newton and the report);
 *   eval.c    one evaluation at theta by one pass (the kernels, or libgrad
 *             graphs block by block for other models and losses);
 *   exact.c   the closed forms (moments for the line, TSQR for poly:K);
 *   newton.c  the default method (damped Newton, one pass per iteration);
 *   descent.c gd, sgd, momentum, adam (one pass per step);
 *   stats.c   the report: loss, sse, rms and the covariance;
 *   fit.c     tg_fit_stream and tg_fit: the spec, the data, the methods in turn;
 *   linalg.c  small dense linear algebra.
 * The fused line kernel of the descents is the backend's line_sums. */
#ifndef TG_FIT_INTERNAL_H
#define TG_FIT_INTERNAL_H

#include <stdbool.h>

#include "tg/fit.h"

#define MAX_PARAMS TG_MODEL_MAX_PARAMS
#define BLOCK ((int64_t)TG_FIT_BLOCK)

/* ---- linalg.c ----------------------------------------------------------- */
/* Solves (A + mu I) x = b for symmetric A (p x p, row-major) by Cholesky.
 * Returns false when the matrix is not positive definite. */
bool tgf_chol_solve(int p, const double *A, double mu, const double *b, double *x);
/* Inverse of a symmetric matrix by Gauss-Jordan with partial pivoting; false
 * (and NaN everywhere) when a pivot is below 1e-12 of the largest entry. */
bool tgf_sym_inverse(int p, const double *A, double *inv);
/* R of the QR of [Ra; Rb] (both q x q upper triangular) into Ra, by Givens
 * rotations: the merge of two R factors of a tall-skinny QR. */
void tgf_qr_merge(int q, double *Ra, const double *Rb);

/* ---- model.c ------------------------------------------------------------ */
/* A word, not an expression ("quadratic", "half-mse"): a name to look up. */
bool tgf_is_plain_name(const char *s);
/* The most x columns a fit takes (the stream's columns: x..., y, weights). */
#define TGF_MAX_X TG_FIT_MAX_X
struct tg_model {
    tg_model_kind kind;
    int K; /* poly degree (1 for the line) */
    int np;
    char *text;
    char *names[MAX_PARAMS];
    int nx;                  /* the data columns the model reads: x, or several regressors */
    char *xnames[TGF_MAX_X]; /* their names ("x" for one unnamed column) */
    tg_program *prog;        /* an expression model, parsed once */
    bool elementwise;        /* an expression model: each prediction depends on its own x only */
    bool params_elementwise; /* ... and on its own element of parameters given one value per point */
};

/* Tensors of a block of points (or a batch): x (the first x column), y,
 * weights s (may be NULL), and every x column in xs (xs[0] == x). */
typedef struct {
    int64_t n;
    tt_tensor *x, *y, *s;
    tt_tensor *xs[TGF_MAX_X];
} tgf_block;

/* Tensors made while building a graph, released together. */
typedef struct {
    tt_tensor **t;
    int n, cap;
} tgf_arena;
tt_tensor *tgf_keep(tgf_arena *a, tt_tensor *t); /* t, or NULL (t released) when out of memory */
void tgf_arena_clear(tgf_arena *a);
void tgf_arena_free(tgf_arena *a);

/* The model's prediction on block d for the parameter tensors P, in env
 * (the expression model's environment; NULL for line and poly). */
tt_tensor *tgf_model_graph(const tg_model *m, tg_env *env, const tgf_block *d, tt_tensor *const *P, tgf_arena *ar);
/* "model: " or "loss: " before the current error. */
tt_status tgf_prefix_error(const char *prefix);

/* ---- loss.c ------------------------------------------------------------- */
typedef struct {
    tg_loss_kind kind;
    double delta;     /* huber */
    const char *text; /* as given */
    tg_program *prog; /* an expression loss */
    bool additive;    /* an expression loss that sums over blocks */
} tgf_loss;

tt_status tgf_loss_init(tgf_loss *l, const char *text, const tg_model *m);
void tgf_loss_free(tgf_loss *l);
/* The factor from the loss's sum over points to the loss: 1/n for the means,
 * 1/(2n) for half-mse and orthogonal, 1 for sse. */
double tgf_loss_norm(tg_loss_kind kind, int64_t n);
/* The loss of kind `kind` (l's expression or huber delta) summed over block
 * d; an expression loss is its value on the block, with mean() dividing by
 * `total` when total > 0. */
tt_tensor *tgf_loss_graph(const tg_model *m, const tgf_loss *l, tg_loss_kind kind, tg_env *menv, tg_env *lenv,
                          const tgf_block *d, tt_tensor *const *P, double total, tgf_arena *ar);

/* ---- stream.c ----------------------------------------------------------- */
typedef struct tgf_tree tgf_tree;
/* A fit spread over processes (fit_mpi.c, built with TG_MPI only): each pass
 * sums this rank's blocks (tgf_dist_range) into its own tree, then `combine`
 * pushes the entries of every rank in rank order (on rank 0) and leaves the
 * tree holding their result, the same on every rank, with the bits of one
 * process. `st`
 * is this rank's status so far: when any rank failed, every rank returns the
 * error of the lowest failing one (its message, naming its slice). */
typedef struct tgf_dist {
    int rank, size;
    tt_status (*combine)(const struct tgf_dist *d, tgf_tree *tree, tt_status st, int64_t start, int64_t end);
    void *ctx;
} tgf_dist;
/* This rank's points [*start, *end) of n: whole blocks, split as evenly as blocks allow. */
void tgf_dist_range(int64_t n, int rank, int size, int64_t *start, int64_t *end);

/* The data read slice by slice into a buffer that always holds whole blocks. */
typedef struct {
    const tgf_dist *dist; /* NULL: one process */
    const tg_fit_data *data;
    int ncols;
    int64_t n, slice; /* points per read */
    int64_t cap;      /* points the buffer holds */
    double *buf;
    double *cols[8];
    const char *names[8];
    /* the points the buffer holds from its start (count 0: none yet); a read
     * of exactly those is skipped: data that fit in the buffer are read once,
     * not once per pass */
    int64_t held_start, held_count;
} tgf_stream;

tt_status tgf_stream_open(tgf_stream *s, const tg_fit_data *data, int64_t slice);
void tgf_stream_close(tgf_stream *s);
/* Reads points start .. start+count-1 (count <= cap) into s->cols. */
tt_status tgf_stream_read(tgf_stream *s, int64_t start, int64_t count);

/* Block partials of `width` doubles, combined in a fixed pairwise tree over
 * global block indices: an entry holds the combination of 2^level blocks
 * from an aligned first block (a multiple of 2^level); entries are pushed in
 * block order, and two siblings (one size, the left aligned at twice it)
 * merge into their parent as soon as both are there (left (+) right); the
 * result folds what is left from the last entry back to the first. The tree
 * depends on the number of blocks only, so a pass gives the same bits for
 * any slice; and a process that owns a range of blocks computes its entries
 * (tgf_pass_range into its own tree), which combine into the same tree when
 * pushed in order after the ranges before them (MPI ranks do, tgf_dist). */
typedef void (*tgf_merge_fn)(void *ctx, double *left, const double *right); /* left = left (+) right */
struct tgf_tree {
    int width;
    tgf_merge_fn merge;
    void *ctx;
    int depth;
    int level[130];
    int64_t first[130];
    double *entries;
    double *result;
};

tt_status tgf_tree_init(tgf_tree *t, int width, tgf_merge_fn merge, void *ctx);
void tgf_tree_free(tgf_tree *t);
/* Combines the partial of 2^level blocks from block `first` (aligned) into the tree. */
void tgf_tree_push_range(tgf_tree *t, const double *partial, int64_t first, int level);
/* Pushes src's entries (a range of blocks just after t's) into t. */
void tgf_tree_push_tree(tgf_tree *t, const tgf_tree *src);
/* The combination of everything pushed (NULL when nothing was). */
const double *tgf_tree_result(tgf_tree *t);
void tgf_merge_add(void *ctx, double *left, const double *right); /* ctx: the width as (int *) */

/* blocks(ctx, start, count, cols, partials) gets runs of whole blocks (start
 * a multiple of BLOCK; the last block may be short) and writes one partial of
 * `width` doubles per block. */
typedef tt_status (*tgf_blocks_fn)(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials);
/* The partials of the blocks of points start .. end-1 (start a multiple of
 * BLOCK) pushed into tree. */
tt_status tgf_pass_range(tgf_stream *s, int64_t start, int64_t end, tgf_tree *tree, tgf_blocks_fn blocks, void *ctx);
/* One pass over all the points, combined by `merge` (NULL: added) into out[width]. */
tt_status tgf_pass(tgf_stream *s, int width, tgf_blocks_fn blocks, tgf_merge_fn merge, void *ctx, double *out);

/* The first pass: checks every value (finite, weights >= 0; the error names
 * the first bad point) and gathers centred moments, merged pairwise (Chan
 * et al.), unweighted and weighted. */
typedef struct {
    double n, mx, my, cxx, cxy, cyy;      /* unweighted: count, means, centred co-moments */
    double w, wmx, wmy, wcxx, wcxy, wcyy; /* weighted by s */
    double xmin, xmax;
    double xerr32, yerr32; /* the largest change rounding x, y to float32 makes */
} tgf_moments;
tt_status tgf_scan(tgf_stream *s, tgf_moments *m);

/* ---- the standardization of line and poly ------------------------------ */
/* x -> (x - c)/h, y -> (y - my)/sy. */
typedef struct {
    double c, h, my, sy;
} tgf_trans;
tgf_trans tgf_make_trans(const tg_model *m, const tgf_moments *mo);
/* user = A std + my e0, in parameter order. */
void tgf_trans_matrix(const tg_model *m, const tgf_trans *t, double *A);
void tgf_to_user(const tg_model *m, const tgf_trans *t, const double *s, double *u);
void tgf_to_std(const tg_model *m, const tgf_trans *t, const double *u, double *s);

/* ---- kernels.c: per-block sums ------------------------------------------ */
/* The first pass's partial of one block: count, means, centred co-moments,
 * the same weighted by s (NULL: copied), x's min and max (tgf_moments order). */
void tgf_block_moments(const double *x, const double *y, const double *s, int64_t m, double *p);
/* R (q x q upper triangular, row-major) of the QR of A (m x q, column-major,
 * overwritten) by Householder reflections; rows of R below m stay zero. */
void tgf_qr_block(int64_t m, int q, double *A, double *R);
/* Line and poly with built-in losses, standardized: */
/* At theta (standardized), per block: the loss's sum over points, its
 * gradient and Hessian, the sum of squared residuals and sum s J J^T. */
typedef struct {
    const tg_model *m;
    tg_loss_kind kind;
    double delta; /* huber, standardized */
    tgf_trans tr;
    const double *theta;
    bool hessian;
    int y_col, weights_col; /* weights_col -1: none */
} tgf_lp_ctx;
/* Layout of an evaluation (also of the libgrad evaluation of other models). */
typedef struct {
    int np;
    double L; /* the loss's sum over points (times the loss's norm: the loss) */
    double g[MAX_PARAMS];
    double H[MAX_PARAMS * MAX_PARAMS];
    double sse;                        /* sum s (pred - y)^2 */
    double G[MAX_PARAMS * MAX_PARAMS]; /* sum s J J^T: the Hessian of sse / 2 (linear models) */
    bool has_G;
} tgf_eval;
int tgf_eval_width(int np); /* doubles per block partial */
void tgf_eval_unpack(int np, const double *v, tgf_eval *e);
tgf_blocks_fn tgf_lp_blocks(void);

/* ---- evaluation at theta, by pass ------------------------------------- */
typedef struct tgf_fit tgf_fit;
/* The loss (with its norm), gradient, Hessian (when `hessian`), sse and
 * G at theta, in the method's coordinates (standardized for line and poly
 * with built-in losses, raw otherwise), in float64, by one pass. */
tt_status tgf_evaluate(tgf_fit *F, const double *theta, tg_loss_kind kind, bool hessian, tgf_eval *e);

/* ---- the state of a fit ------------------------------------------------ */
typedef struct {
    double *v;
    int64_t n, cap;
} tgf_dvec;
bool tgf_dvec_push(tgf_dvec *h, double v);

struct tgf_fit {
    const tg_fit_spec *sp;
    tg_model *model;
    tgf_loss loss;
    tgf_stream stream;
    int64_t n;
    bool weighted;
    tt_dtype data_dtype;
    tgf_moments mo;
    tgf_trans tr;
    bool standardized; /* line/poly with a built-in loss: std coordinates */
    /* evaluations (graph path) with y replaced by the predictions at theta:
     * the Hessian of the sum of squares is then 2 J^T W J (Gauss-Newton) */
    bool gauss_newton;
    tg_env *menv, *lenv;
    /* the run */
    tgf_dvec hist;
    double best_loss, best[MAX_PARAMS];
    bool have_best;
    int64_t steps, diverged_at;
    double diverged_loss;
    double last_change; /* |L - Lprev| / |L| of the last step */
    double stop_loss;   /* --loss-below: the loss that stopped it */
    tg_stop_reason stop;
    bool lm_stalled; /* lm.c: stopped without progress while the gradient is not small */
    /* lm.c: the parameters whose column of J vanished at the end (the
     * report takes them as undetermined), the end's sum of squares */
    bool lm_vanished[MAX_PARAMS];
    double lm_end_sse;
    /* the last evaluation, when it is at the final parameters */
    bool have_final;
    tgf_eval final;
    int64_t passes;
};

/* Bookkeeping after a step with loss L evaluated at theta_before; true: stop. */
bool tgf_after_step(tgf_fit *F, int64_t step, double L, const double *theta_before, double Lprev, double gnorm,
                    double tol);
void tgf_diverged(tgf_fit *F, int64_t step, double L);
double tgf_norm2(int n, const double *g);

/* exact.c, newton.c, descent.c, stats.c */
tt_status tgf_exact(tgf_fit *F, double *theta, tg_fit_result *r);
/* tg_fit_stream over the processes of dist (NULL: this one alone). */
tt_status tgf_fit_run(const tg_fit_data *data, const tg_fit_spec *spec, const tgf_dist *dist, tg_fit_result **out);
tt_status tgf_newton(tgf_fit *F, double *theta, int64_t maxsteps, double tol);
/* lm.c: Levenberg-Marquardt for expression models with least-squares losses
 * (those tgf_lm_covers), raw coordinates; and 2 J^T W J (by the R factor of
 * sqrt(W) J, one pass) with the sum of squares at theta. */
bool tgf_lm_covers(const tgf_fit *F);
tt_status tgf_lm(tgf_fit *F, double *theta, int64_t maxsteps, double tol);
tt_status tgf_lm_curvature(tgf_fit *F, const double *theta, double *H, double *sse);
tt_status tgf_descend(tgf_fit *F, double *theta, double lr, int64_t maxsteps, double tol);
/* Steps in one pass over the data by batches of `batch` (sgd's epoch). */
int64_t tgf_descent_steps(tgf_fit *F, int64_t batch);
/* Loss, sse, rms and covariance at theta (user units) into r. */
tt_status tgf_report(tgf_fit *F, const double *theta, tg_fit_result *r);
void tgf_cov_to_user(const tgf_fit *F, const double *C, tg_fit_result *r); /* C: the covariance, standardized */
/* cov = factor H^+ (the pseudo-inverse of the curvature H, in the method's
 * coordinates), mapped to the user's units, with the rank analysis: r->rank
 * and r->determined from the column-scaled H; undetermined parameters get
 * NaN standard errors and covariances. */
void tgf_cov_from_curvature(const tgf_fit *F, const double *H, double factor, tg_fit_result *r);
/* The factor: 2 L / dof (the covariance rescaled by the reduced chi-square,
 * L the loss whose Hessian H is, norm its tgf_loss_norm), or with
 * absolute_sigma 2 norm (in the user's units): (J^T W J)^-1. */
double tgf_cov_factor(const tgf_fit *F, double L, int64_t dof, double norm);
void tgf_covariance(const tgf_fit *F, double L, const double *H, int64_t dof, double norm, tg_fit_result *r);
/* chi2, p-value, R^2 and rms from r->sse, r->n, r->dof and the moments. */
void tgf_statistics(const tgf_fit *F, tg_fit_result *r);

#endif
