/* Fitting models to (x, y) by gradient descent through libgrad — the seeds'
 * linear regression as a library call — plus the closed forms to compare with.
 *
 * Models: "line" (y = w*x + b; parameters w, b), "poly:K" (c0 + c1 x + ... +
 * cK x^K; c0..cK), or an expression over x and named parameters
 * ("a*exp(k*x)", parameters from the init list; see tg/expr.h).
 * Losses over residuals r = pred - y, each term optionally weighted by
 * s_i = 1/sigma_i^2:
 *   mse        mean(s r^2)            half-mse  mean(s r^2) / 2     sse  sum(s r^2)
 *   l1         mean(s |r|)            huber[:D] mean(s huber_D(r)), D = 1 by default
 *   orthogonal mean(s (w*x - y + b)^2 / (w^2 + 1)) / 2   (line only, w and b its
 *              parameters: seed 002's total-least-squares loss)
 *   or an expression over pred, y, x (and the parameters): "mean((pred-y)^2)".
 *
 * Descent: each step evaluates the loss with tg_ ops, runs backward, and
 * updates every parameter with the seeds' untracked in-place update
 * (p.data -= lr * p.grad for gd/sgd), then zeroes the grads; memory stays flat.
 * With TG_OPT_AUTO (no optimizer options) line and poly fits run on
 * internally standardized data (x and y centred and divided by x's standard
 * deviation, which keeps total least squares invariant) so any line converges
 * in few steps; results are reported in the user's units. Explicit optimizer
 * settings reproduce the seeds' raw behaviour exactly.
 *
 * Standard errors come from the Hessian of the loss at the optimum (libgrad
 * second derivatives): cov = (2 L / dof) H^-1 for the squared losses (equal to
 * numpy.polyfit(cov=True) / scipy's linregress for lines and polynomials);
 * l1 and huber use the Hessian of the sum of squared residuals instead.
 */
#ifndef TG_FIT_H
#define TG_FIT_H

#include "expr.h"

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
    int64_t batch;   /* sgd: batch size (0: full batch); a fresh random batch each step */
    int64_t steps;   /* maximum steps (0: default) */
    int64_t epochs;  /* or passes over the data (0: unused) */
    double tol;      /* < 0: off; 0: default */
    bool has_loss_below;
    double loss_below;
    bool keep_best; /* report the parameters of the lowest loss seen */
    uint64_t seed;  /* batch order and random initial values */
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

typedef struct {
    int nparams;
    char **names;
    double *values; /* in the user's units */
    double *stderrs;
    double *cov;    /* nparams x nparams, row-major */
    double loss;    /* the final (or best) loss */
    double sse;     /* sum of (weighted) squared residuals */
    double rms;     /* sqrt(sse / n) */
    int64_t n, dof; /* points, n - nparams */
    int64_t steps;
    int64_t max_steps; /* the step limit that applied (0 for the exact method) */
    double lr;         /* the learning rate that ran (0 for the default method and the exact one) */
    tg_stop_reason stop;
    int64_t nhistory; /* loss after each step */
    double *history;
} tg_fit_result;

/* Fits y ~ model(x); weights may be NULL. Returns TT_OK and *out, or an error
 * naming what is wrong (lengths differ, fewer points than parameters, a
 * NaN/Inf value naming its row, an unknown model/loss/parameter, lr <= 0, an
 * expression's syntax error). On divergence returns TT_ERUNTIME with
 * "loss became NaN at step K" and still fills *out (stop = TG_STOP_DIVERGED)
 * so a caller can add its own hint. */
tt_status tg_fit(const tt_tensor *x, const tt_tensor *y, const tt_tensor *weights, const tg_fit_spec *spec,
                 tg_fit_result **out);
void tg_fit_result_free(tg_fit_result *r);
/* The checks of tg_fit that need no data (model and loss, their syntax and
 * functions first, the initial values, the options), so that a program can
 * refuse a bad request before it reads anything: TT_OK or tg_fit's error.
 * Errors in the text of an expression are TT_ESYNTAX, with a caret line. */
tt_status tg_fit_check(const tg_fit_spec *spec);

#ifdef __cplusplus
}
#endif
#endif
