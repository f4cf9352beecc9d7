/* The default method for expression models with least-squares losses (mse,
 * half-mse, sse, weighted or not): Levenberg-Marquardt as MINPACK's lmder
 * does it (Moré, "The Levenberg-Marquardt algorithm: implementation and
 * theory", 1978): a trust region of radius delta on the parameters scaled
 * by D (the Jacobian's column norms, never decreasing), the LM parameter
 * found from the radius (lmpar), the radius updated from the ratio of the
 * actual to the predicted reduction of the sum of squares.
 *
 * The Jacobian is exact (libgrad: the parameters as vectors of one value per
 * point, so that one backward pass gives every row of an elementwise model;
 * np + 1 by the double-backward trick otherwise), and never forms J^T J: each block gives
 * the R factor of [sqrt(w) J, sqrt(w) r] (Householder), and the blocks' R
 * are merged in the stream's fixed pairwise tree (Givens), so that one pass
 * per iteration gives R and Q^T r for any n, the same bits for any slice.
 * The damped steps are solved from R by a QR of [R; sqrt(par) D] (qrsolv),
 * so nothing is squared. A trial step costs a pass of predictions only.
 *
 * Stopping (MINPACK's ftol, xtol, gtol, at tol; the default near machine
 * precision, so the last iterations are full Gauss-Newton steps polishing the
 * answer): the actual and predicted relative reductions of the sum of
 * squares both at or below ftol, the trust radius at or below xtol times the
 * scaled parameters, or the cosine between the residuals and every column of
 * J at or below gtol. A run out of its budget stops on TG_STOP_STEPS; one
 * that can make no progress while the gradient is not small is a stall. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

#define Q (MAX_PARAMS + 1)

bool tgf_lm_covers(const tgf_fit *F)
{
    tg_loss_kind k = F->loss.kind;
    return F->model->kind == TG_MODEL_EXPR && (k == TG_LOSS_MSE || k == TG_LOSS_HALF_MSE || k == TG_LOSS_SSE);
}

/* ---- one pass: R of [sqrt(w) J, sqrt(w) r] and the sum of squares ------ */

typedef struct {
    tgf_fit *F;
    const double *theta;
    bool jacobian; /* false: the sum of squares only */
    int q;         /* np + 1 */
} jac_ctx;

/* The partial: q*q entries of R, then sum w r^2. ctx: the pass's jac_ctx. */
static void merge_r(void *ctx, double *left, const double *right)
{
    int q = ((const jac_ctx *)ctx)->q;
    tgf_qr_merge(q, left, right);
    left[q * q] += right[q * q];
}

/* Predictions (and J, column-major m x np, when J != NULL) on block d. */
static tt_status block_jacobian(tgf_fit *F, const tgf_block *d, const double *theta, double *pred, double *J)
{
    const tg_model *m = F->model;
    int np = m->np;
    int64_t n = d->n;
    tt_tensor *P[MAX_PARAMS] = {0}, *G[MAX_PARAMS] = {0};
    tgf_arena ar = {0};
    tt_status st = TT_OK;
    /* one value per point: d pred_k / d P_i[k] is J[k][i] when the model
     * reads its parameters elementwise too */
    bool rows = J && m->params_elementwise;
    for (int i = 0; i < np && !st; i++) {
        P[i] = rows ? tt_full(1, &n, theta[i], TT_F64, TT_CPU) : tt_scalar(theta[i], TT_F64, TT_CPU);
        if (!P[i] || (J && tg_set_requires_grad(P[i], true))) st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
    }
    bool prev = tg_set_grad_enabled(J != NULL);
    tt_tensor *p = st ? NULL : tgf_model_graph(m, F->menv, d, P, &ar);
    tt_tensor *full = p ? tgf_keep(&ar, tg_expand(p, 1, &n)) : NULL; /* a constant model gives one value */
    if (!st && !full) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    if (!st) st = tt_to_host(full, TT_F64, pred);
    if (!st && J) {
        memset(J, 0, sizeof *J * (size_t)n * (size_t)np);
        if (!tg_requires_grad(full)) {
            /* no parameter reaches the predictions: J = 0 */
        } else if (rows) {
            tt_tensor *s = tgf_keep(&ar, tg_sum(full));
            st = s ? tg_autograd_grad(1, &s, NULL, np, P, false, false, true, G) : tt_last_status();
            for (int i = 0; i < np && !st; i++) {
                if (!G[i]) continue;
                tt_tensor *g = tgf_keep(&ar, tt_expand(G[i], 1, &n));
                st = g ? tt_to_host(g, TT_F64, J + (size_t)i * (size_t)n) : tt_last_status();
            }
        } else { /* J's columns by the double-backward trick: g(u) = d(u . pred)/d theta
                  * is linear in u and d g_i / d u is column i: np + 1 backward passes */
            tt_tensor *u = tgf_keep(&ar, tt_ones(1, &n, TT_F64, TT_CPU));
            if (!u || tg_set_requires_grad(u, true)) st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
            tt_tensor *up = st ? NULL : tgf_keep(&ar, tg_mul(u, full));
            tt_tensor *s = up ? tgf_keep(&ar, tg_sum(up)) : NULL;
            if (!st && !s) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
            if (!st) st = tg_autograd_grad(1, &s, NULL, np, P, true, true, true, G);
            for (int i = 0; i < np && !st; i++) {
                if (!G[i] || !tg_requires_grad(G[i])) continue; /* pred does not depend on it */
                tt_tensor *col = NULL;
                st = tg_autograd_grad(1, &G[i], NULL, 1, &u, true, false, true, &col);
                tt_tensor *c = !st && col ? tgf_keep(&ar, tt_expand(col, 1, &n)) : NULL;
                if (!st && c) st = tt_to_host(c, TT_F64, J + (size_t)i * (size_t)n);
                tt_release(col);
            }
        }
    }
    tg_set_grad_enabled(prev);
    for (int i = 0; i < np; i++) tt_release(G[i]), tt_release(P[i]);
    tgf_arena_free(&ar);
    return st;
}

static tt_status jac_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    (void)start;
    jac_ctx *c = ctx;
    tgf_fit *F = c->F;
    int np = F->model->np, q = c->q, nx = F->stream.data->nx;
    int width = q * q + 1;
    int64_t mb = count < BLOCK ? count : BLOCK;
    double *A = malloc(sizeof *A * (size_t)mb * (size_t)(q + 1));
    if (!A) return tt_set_error(TT_ENOMEM, "out of memory");
    tt_status st = TT_OK;
    for (int64_t b = 0; b * BLOCK < count && !st; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        double *pred = A + (size_t)m * (size_t)q, *out = partials + b * width;
        tgf_arena ar = {0};
        tgf_block d = {.n = m};
        for (int j = 0; j < nx && !st; j++)
            if (!(d.xs[j] = tgf_keep(&ar, tt_from_data(1, &m, TT_F64, cols[j] + off, TT_CPU)))) st = tt_last_status();
        d.x = d.xs[0];
        if (!st) st = block_jacobian(F, &d, c->theta, pred, c->jacobian ? A : NULL);
        tgf_arena_free(&ar);
        if (st) break;
        const double *y = cols[nx] + off, *w = F->weighted ? cols[F->stream.ncols - 1] + off : NULL;
        double *r = A + (size_t)m * (size_t)np, sse = 0;
        for (int64_t k = 0; k < m; k++) {
            double res = pred[k] - y[k], sw = w ? sqrt(w[k]) : 1;
            sse += (w ? w[k] : 1) * res * res;
            if (!c->jacobian) continue;
            r[k] = sw * res;
            for (int i = 0; i < np; i++) A[(size_t)i * (size_t)m + (size_t)k] *= sw;
        }
        if (c->jacobian) tgf_qr_block(m, q, A, out);
        else memset(out, 0, sizeof *out * (size_t)(q * q));
        out[q * q] = sse;
    }
    free(A);
    return st;
}

/* R (q x q) of [sqrt(w) J, sqrt(w) r] at theta (when R != NULL) and the sum of squares. */
static tt_status lm_pass(tgf_fit *F, const double *theta, double *R, double *sse)
{
    int q = F->model->np + 1, width = q * q + 1;
    double v[Q * Q + 1];
    jac_ctx c = {F, theta, R != NULL, q};
    tt_status st = tgf_pass(&F->stream, width, jac_blocks, merge_r, &c, v);
    F->passes++;
    if (st) return st;
    if (R) memcpy(R, v, sizeof *R * (size_t)(q * q));
    *sse = v[q * q];
    return TT_OK;
}

tt_status tgf_lm_curvature(tgf_fit *F, const double *theta, double *H, double *sse)
{
    int np = F->model->np, q = np + 1;
    double R[Q * Q];
    tt_status st = lm_pass(F, theta, R, sse);
    if (st) return st;
    for (int i = 0; i < np; i++) /* 2 R^T R: the Hessian of the sum of squares less the residuals' curvature */
        for (int j = 0; j < np; j++) {
            double s = 0;
            for (int k = 0; k <= (i < j ? i : j); k++) s += R[k * q + i] * R[k * q + j];
            H[i * np + j] = 2 * s;
        }
    return TT_OK;
}

/* ---- the step --------------------------------------------------------------------- */

static double enorm(int n, const double *v) { return tgf_norm2(n, v); }

/* p minimizing |R p + qtr|^2 + par |D p|^2, by the QR of [R, -qtr; sqrt(par) D, 0]
 * (MINPACK's qrsolv); S: that QR's triangle (np x np, row-major). False when
 * S is singular. */
static bool solve_damped(int np, const double *R, int q, const double *qtr, const double *D, double par, double *p,
                         double *S)
{
    int rows = 2 * np, cols = np + 1;
    double A[2 * MAX_PARAMS * (MAX_PARAMS + 1)], T[Q * Q];
    memset(A, 0, sizeof *A * (size_t)(rows * cols)); /* the used part: A is sized for MAX_PARAMS */
    for (int i = 0; i < np; i++) {
        for (int j = i; j < np; j++) A[j * rows + i] = R[i * q + j];
        A[np * rows + i] = -qtr[i];
        A[i * rows + np + i] = sqrt(par) * D[i];
    }
    tgf_qr_block(rows, cols, A, T);
    double big = 0;
    for (int i = 0; i < np; i++) big = fmax(big, fabs(T[i * cols + i]));
    for (int i = np - 1; i >= 0; i--) {
        if (!(fabs(T[i * cols + i]) > 4 * DBL_EPSILON * np * big)) return false;
        double s = T[i * cols + np];
        for (int k = i + 1; k < np; k++) s -= T[i * cols + k] * p[k];
        p[i] = s / T[i * cols + i];
    }
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) S[i * np + j] = T[i * cols + j];
    for (int i = 0; i < np; i++)
        if (!isfinite(p[i])) return false;
    return true;
}

/* |z| for S^T z = D (D p) / |D p| (S upper triangular): phi'(par) of lmpar, up to a factor. */
static double dphi_norm(int np, const double *S, const double *D, const double *p, double dxnorm)
{
    double z[MAX_PARAMS];
    for (int i = 0; i < np; i++) {
        double s = D[i] * D[i] * p[i] / dxnorm;
        for (int k = 0; k < i; k++) s -= S[k * np + i] * z[k];
        z[i] = s / S[i * np + i];
    }
    return enorm(np, z);
}

/* MINPACK's lmpar: the LM parameter par for which |D p| is within 10% of
 * delta (par = 0 when the Gauss-Newton step is inside), and its step p. */
static double lm_parameter(int np, const double *R, int q, const double *qtr, const double *D, double delta, double par,
                           double *p)
{
    double S[MAX_PARAMS * MAX_PARAMS], Dp[MAX_PARAMS];
    bool full = solve_damped(np, R, q, qtr, D, 0, p, S);
    double dxnorm = 0, fp = 0, parl = 0;
    if (full) {
        for (int i = 0; i < np; i++) Dp[i] = D[i] * p[i];
        dxnorm = enorm(np, Dp), fp = dxnorm - delta;
        if (fp <= 0.1 * delta) return 0;
        double t = dphi_norm(np, S, D, p, dxnorm);
        parl = fp / delta / t / t;
    }
    double g[MAX_PARAMS]; /* D^-1 R^T qtr: the scaled gradient */
    for (int j = 0; j < np; j++) {
        double s = 0;
        for (int k = 0; k <= j; k++) s += R[k * q + j] * qtr[k];
        g[j] = s / D[j];
    }
    double gnorm = enorm(np, g), paru = gnorm / delta;
    if (paru == 0) paru = DBL_MIN / fmin(delta, 0.1);
    par = fmax(par, parl), par = fmin(par, paru);
    if (par == 0) par = full && dxnorm > 0 ? gnorm / dxnorm : 0;
    for (int iter = 1; iter <= 10; iter++) {
        if (par == 0) par = fmax(DBL_MIN, 0.001 * paru);
        if (!solve_damped(np, R, q, qtr, D, par, p, S)) {
            par = fmax(par * 10, DBL_MIN); /* S singular: more damping */
            continue;
        }
        for (int i = 0; i < np; i++) Dp[i] = D[i] * p[i];
        dxnorm = enorm(np, Dp);
        double prev = fp;
        fp = dxnorm - delta;
        if (fabs(fp) <= 0.1 * delta || (parl == 0 && fp <= prev && prev < 0) || iter == 10) break;
        double t = dphi_norm(np, S, D, p, dxnorm), parc = fp / delta / t / t;
        if (fp > 0) parl = fmax(parl, par);
        if (fp < 0) paru = fmin(paru, par);
        par = fmax(parl, par + parc);
    }
    return par;
}

/* Where the tests above stop, the sum of squares changes by its own rounding
 * from one candidate to the next and no longer ranks them: in an ill-
 * conditioned valley (Bennett5) the parameters may still be off in their 7th
 * digit there, while the Gauss-Newton step, solved from R by QR, still points
 * at the minimum. So full Gauss-Newton steps are taken while each is at most
 * half the last (Newton's contraction near a minimum) and the sum of squares
 * stays within its rounding: each residual pred - y carries eps (|pred| +
 * |y|), so the sum 2 eps (|pred| + |y|) . |r|, at most about 4 eps |y| |r|
 * (ynorm: |sqrt(W) y|). A few steps at most, each counted as an iteration.
 * R_end: R at theta with its sum of squares *sse when the caller has them
 * (the last trial was refused), else NULL and a pass makes them. */
static tt_status polish(tgf_fit *F, double *theta, const double *R_end, const double *D, double ynorm, int64_t maxsteps,
                        double *sse)
{
    int np = F->model->np, q = np + 1;
    double R[Q * Q], R1[Q * Q], qtr[MAX_PARAMS], p[MAX_PARAMS], S[MAX_PARAMS * MAX_PARAMS], trial[MAX_PARAMS];
    double Dp[MAX_PARAMS], s0 = *sse, s1, last = INFINITY;
    tt_status st;
    if (R_end) memcpy(R, R_end, sizeof R);
    else if ((st = lm_pass(F, theta, R, &s0))) return st;
    for (int k = 0; k < 8 && F->steps < maxsteps; k++) {
        for (int i = 0; i < np; i++) qtr[i] = R[i * q + np];
        if (!solve_damped(np, R, q, qtr, D, 0, p, S)) break;
        for (int j = 0; j < np; j++) trial[j] = theta[j] + p[j], Dp[j] = D[j] * p[j];
        double pn = enorm(np, Dp);
        if (!(pn <= 0.5 * last)) break;
        if ((st = lm_pass(F, trial, R1, &s1))) return st;
        if (!(s1 <= s0 + 4 * DBL_EPSILON * ynorm * sqrt(s0))) break;
        memcpy(theta, trial, sizeof *theta * (size_t)np);
        memcpy(R, R1, sizeof R);
        s0 = s1, last = pn;
        F->steps++;
    }
    *sse = s0;
    return TT_OK;
}

/* ---- the iteration ------------------------------------------------------------------ */

/* |sqrt(W) y|, from the first pass's moments. */
static double response_norm(const tgf_fit *F)
{
    const tgf_moments *mo = &F->mo;
    return F->weighted ? sqrt(mo->wcyy + mo->w * mo->wmy * mo->wmy) : sqrt(mo->cyy + mo->n * mo->my * mo->my);
}

/* Parameter j's column of J has vanished when it fell below the rounding
 * of its largest norm in the run (|J_j| <= eps max |J_j|) and changing the
 * parameter by its own size moves the predictions by less than their
 * rounding (|theta_j| |J_j| <= eps (|sqrt(W) y| + |sqrt(W) r|), `scale`).
 * Both are free of the units of theta_j and y; the first spares a
 * parameter whose optimum is near zero, the second one whose derivative
 * was merely huge at the start. */
static void vanished_columns(int np, const double *theta, const double *cn, const double *cmax, double scale,
                             bool *vanished)
{
    for (int j = 0; j < np; j++)
        vanished[j] = cmax[j] > 0 && cn[j] <= DBL_EPSILON * cmax[j] && fabs(theta[j]) * cn[j] <= DBL_EPSILON * scale;
}

/* One run of the method from theta, its iterations numbered from first + 1
 * to at most maxsteps, the first trust radius `factor` times |D theta|
 * (MINPACK's factor). vanished[j]: at the end, parameter j's column of J had
 * vanished (vanished_columns). */
static tt_status lm_attempt(tgf_fit *F, double *theta, int64_t first, int64_t maxsteps, double tol, double factor,
                            bool *vanished)
{
    int np = F->model->np, q = np + 1;
    double norm = tgf_loss_norm(F->loss.kind, F->n);
    double ftol = tol, xtol = tol, gtol = 0;
    double R[Q * Q], qtr[MAX_PARAMS], D[MAX_PARAMS] = {0}, p[MAX_PARAMS], trial[MAX_PARAMS], before[MAX_PARAMS];
    double cn[MAX_PARAMS], cmax[MAX_PARAMS] = {0}; /* column norms of J: now, the largest so far */
    double sse, delta = 0, xnorm = 0, par = 0;
    double ynorm = response_norm(F);
    memset(vanished, 0, sizeof *vanished * (size_t)np);
    F->lm_stalled = false;
    tt_status st = lm_pass(F, theta, R, &sse);
    if (st) return st;
    F->have_final = false;
    for (int64_t step = first + 1;; step++) {
        double L = norm * sse, fnorm = sqrt(sse);
        if (!isfinite(L)) {
            tgf_diverged(F, step, L);
            return TT_OK;
        }
        if (step > maxsteps) break;
        memcpy(before, theta, sizeof before);
        if (tgf_after_step(F, step, L, before, L, 0, 0)) return TT_OK;
        for (int i = 0; i < np; i++) qtr[i] = R[i * q + np];
        double gnorm = 0; /* the largest cosine of r with a column of J */
        for (int j = 0; j < np; j++) {
            double s = 0, g = 0;
            for (int k = 0; k <= j; k++) s += R[k * q + j] * R[k * q + j], g += R[k * q + j] * qtr[k];
            cn[j] = sqrt(s);
            if (cn[j] > 0 && fnorm > 0) gnorm = fmax(gnorm, fabs(g / fnorm) / cn[j]);
        }
        if (step == first + 1) {
            for (int j = 0; j < np; j++) D[j] = cn[j] > 0 ? cn[j] : 1;
            for (int j = 0; j < np; j++) p[j] = D[j] * theta[j];
            xnorm = enorm(np, p);
            delta = xnorm > 0 ? factor * xnorm : factor;
        }
        for (int j = 0; j < np; j++) D[j] = fmax(D[j], cn[j]), cmax[j] = fmax(cmax[j], cn[j]);
        if (gnorm <= gtol || fnorm == 0) {
            F->stop = TG_STOP_TOL;
            return TT_OK;
        }
        /* trial steps until one reduces the sum of squares enough */
        for (int tries = 1;; tries++) {
            par = lm_parameter(np, R, q, qtr, D, delta, par, p);
            double Dp[MAX_PARAMS], Jp[MAX_PARAMS];
            for (int j = 0; j < np; j++) Dp[j] = D[j] * p[j], trial[j] = theta[j] + p[j];
            double pnorm = enorm(np, Dp);
            if (step == first + 1) delta = fmin(delta, pnorm);
            double sse1;
            if ((st = lm_pass(F, trial, NULL, &sse1))) return st;
            double fnorm1 = isfinite(sse1) ? sqrt(sse1) : INFINITY;
            double actred = 0.1 * fnorm1 < fnorm ? 1 - (fnorm1 / fnorm) * (fnorm1 / fnorm) : -1;
            for (int i = 0; i < np; i++) {
                double s = 0;
                for (int k = i; k < np; k++) s += R[i * q + k] * p[k];
                Jp[i] = s;
            }
            double t1 = enorm(np, Jp) / fnorm, t2 = sqrt(par) * pnorm / fnorm;
            double prered = t1 * t1 + 2 * t2 * t2, dirder = -(t1 * t1 + t2 * t2);
            double ratio = prered != 0 ? actred / prered : 0;
            if (ratio <= 0.25) {
                double t = actred >= 0 ? 0.5 : 0.5 * dirder / (dirder + 0.5 * actred);
                if (0.1 * fnorm1 >= fnorm || t < 0.1) t = 0.1;
                delta = t * fmin(delta, pnorm / 0.1);
                par /= t;
            } else if (par == 0 || ratio >= 0.75) {
                delta = pnorm / 0.5;
                par *= 0.5;
            }
            bool accepted = ratio >= 1e-4;
            if (accepted) {
                memcpy(theta, trial, sizeof(double) * (size_t)np);
                for (int j = 0; j < np; j++) Dp[j] = D[j] * theta[j];
                xnorm = enorm(np, Dp);
                F->last_change = (sse - sse1) / fmax(sse1, DBL_MIN);
            }
            /* the model reproduces y to its rounding: nothing is left to fit */
            bool exact = accepted && sqrt(sse1) <= 16 * DBL_EPSILON * ynorm;
            bool small_f = (fabs(actred) <= ftol && prered <= ftol && 0.5 * ratio <= 1) || exact;
            bool small_x = delta <= xtol * xnorm;
            bool machine = (fabs(actred) <= DBL_EPSILON && prered <= DBL_EPSILON && 0.5 * ratio <= 1) ||
                           delta <= DBL_EPSILON * xnorm || gnorm <= DBL_EPSILON;
            if (small_f || small_x || machine || (!accepted && tries == 100)) {
                F->stop = TG_STOP_TOL;
                /* at machine precision without a small gradient: stalled, not converged */
                F->lm_stalled = !small_f && !small_x && gnorm > 1e-6;
                F->steps = step;
                F->lm_end_sse = accepted ? sse1 : sse;
                if (!F->lm_stalled && !exact &&
                    (st = polish(F, theta, accepted ? NULL : R, D, ynorm, maxsteps, &F->lm_end_sse)))
                    return st;
                vanished_columns(np, theta, cn, cmax, ynorm + sqrt(F->lm_end_sse), vanished);
                return TT_OK;
            }
            if (accepted) break;
        }
        if ((st = lm_pass(F, theta, R, &sse))) return st;
    }
    F->stop = TG_STOP_STEPS;
    return TT_OK;
}

/* MINPACK's factor for the first trust radius: 100, "a generally recommended
 * value" (lmder's documentation: "in most cases factor should lie in the
 * interval (.1,100.)"). A first step that long can carry a parameter to
 * where the model no longer depends on it (k of a*(1-exp(-k*x)) from 1 to
 * 110: exp(-110 x) is below every prediction's rounding), a plateau where
 * the gradient vanishes without a minimum. An end where a column of J has
 * vanished is therefore never taken as the answer while a shorter first
 * step is untried: the method starts again from the initial values with
 * factor 1, then 0.1 (the bottom of that interval), in the same budget of
 * iterations. The first end without a vanished column is the answer; if
 * every try ends on a plateau, the lowest is, and the report names its
 * vanished parameters as undetermined. */
static const double lm_factors[] = {100, 1, 0.1};

tt_status tgf_lm(tgf_fit *F, double *theta, int64_t maxsteps, double tol)
{
    int np = F->model->np;
    double start[MAX_PARAMS], best[MAX_PARAMS];
    bool vanished[MAX_PARAMS], best_vanished[MAX_PARAMS];
    double best_sse = INFINITY;
    bool best_stalled = false;
    memcpy(start, theta, sizeof start);
    memset(F->lm_vanished, 0, sizeof F->lm_vanished);
    for (size_t a = 0; a < sizeof lm_factors / sizeof *lm_factors; a++) {
        int64_t first = F->steps;
        if (a > 0) memcpy(theta, start, sizeof start);
        tt_status st = lm_attempt(F, theta, first, maxsteps, tol, lm_factors[a], vanished);
        if (st) return st;
        bool plateau = false;
        for (int j = 0; j < np; j++) plateau |= vanished[j];
        if (F->stop != TG_STOP_TOL || !plateau) return TT_OK; /* an answer, or the budget's honest end */
        double sse = F->lm_end_sse;
        if (sse < best_sse) {
            best_sse = sse, best_stalled = F->lm_stalled;
            memcpy(best, theta, sizeof best);
            memcpy(best_vanished, vanished, sizeof best_vanished);
        }
        if (F->steps >= maxsteps) break;
    }
    memcpy(theta, best, sizeof best);
    memcpy(F->lm_vanished, best_vanished, sizeof best_vanished);
    F->lm_stalled = best_stalled;
    F->stop = TG_STOP_TOL;
    F->have_final = false;
    return TT_OK;
}
