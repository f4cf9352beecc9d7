/* The report of a fit: the standardization of line and poly (x -> (x - c)/h,
 * y -> (y - my)/sy) and its map back to the user's units, the loss, sse and
 * rms, and the covariance (2 L / dof) H^-1 of the standard errors, H the
 * Hessian of the loss (of the sum of squares for l1, huber and expression
 * losses), all from one evaluation at the final parameters. */
#include <math.h>
#include <string.h>

#include "fit/fit_internal.h"

/* ---- the standardization ---------------------------------------------------- */

tgf_trans tgf_make_trans(const tg_model *m, const tgf_moments *mo)
{
    tgf_trans t = {mo->mx, 1, mo->my, 1};
    double n = mo->n;
    if (m->kind == TG_MODEL_LINE) {
        t.h = sqrt(mo->cxx / n);
        if (!(t.h > 0) || !isfinite(t.h)) t.h = 1;
        t.sy = t.h; /* keeps total least squares invariant */
    } else {
        double mxd = fmax(mo->xmax - mo->mx, mo->mx - mo->xmin);
        t.h = mxd > 0 && isfinite(mxd) ? mxd : 1;
        t.sy = sqrt(mo->cyy / n);
        if (!(t.sy > 0) || !isfinite(t.sy)) t.sy = 1;
    }
    return t;
}

static double binom(int n, int k)
{
    double r = 1;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

/* Index of coefficient k (of x^k) in the parameter vector. */
static int coef_index(const tg_model *m, int k) { return m->kind == TG_MODEL_LINE ? 1 - k : k; }

void tgf_trans_matrix(const tg_model *m, const tgf_trans *t, double *A)
{
    int np = m->np, K = m->K;
    for (int i = 0; i < np * np; i++) A[i] = 0;
    for (int j = 0; j <= K; j++)
        for (int k = j; k <= K; k++)
            A[coef_index(m, j) * np + coef_index(m, k)] = t->sy * pow(t->h, -k) * binom(k, j) * pow(-t->c, k - j);
}

void tgf_to_user(const tg_model *m, const tgf_trans *t, const double *s, double *u)
{
    double A[MAX_PARAMS * MAX_PARAMS];
    int np = m->np;
    tgf_trans_matrix(m, t, A);
    for (int i = 0; i < np; i++) {
        u[i] = 0;
        for (int j = 0; j < np; j++) u[i] += A[i * np + j] * s[j];
    }
    u[coef_index(m, 0)] += t->my;
}

void tgf_to_std(const tg_model *m, const tgf_trans *t, const double *u, double *s)
{
    double A[MAX_PARAMS * MAX_PARAMS];
    int np = m->np, K = m->K;
    tgf_trans_matrix(m, t, A);
    double v[MAX_PARAMS];
    for (int i = 0; i < np; i++) v[i] = u[i];
    v[coef_index(m, 0)] -= t->my;
    for (int j = K; j >= 0; j--) { /* upper triangular in coefficient order */
        int r = coef_index(m, j);
        double acc = v[r];
        for (int k = j + 1; k <= K; k++) acc -= A[r * np + coef_index(m, k)] * s[coef_index(m, k)];
        s[r] = acc / A[r * np + r];
    }
}

/* ---- the covariance ------------------------------------------------------------- */

void tgf_cov_to_user(const tgf_fit *F, const double *C, tg_fit_result *r)
{
    int np = F->model->np;
    double A[MAX_PARAMS * MAX_PARAMS], T[MAX_PARAMS * MAX_PARAMS];
    bool std = F->standardized;
    if (std) tgf_trans_matrix(F->model, &F->tr, A);
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) {
            double v = 0;
            if (std)
                for (int k = 0; k < np; k++) v += A[i * np + k] * C[k * np + j];
            else v = C[i * np + j];
            T[i * np + j] = v;
        }
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) {
            double v = 0;
            if (std)
                for (int k = 0; k < np; k++) v += T[i * np + k] * A[j * np + k];
            else v = T[i * np + j];
            r->cov[i * np + j] = v;
        }
    for (int i = 0; i < np; i++) {
        double v = r->cov[i * np + i];
        r->stderrs[i] = v >= 0 ? sqrt(v) : NAN;
    }
}

void tgf_covariance(const tgf_fit *F, double L, const double *H, int64_t dof, tg_fit_result *r)
{
    int np = F->model->np;
    double Hi[MAX_PARAMS * MAX_PARAMS] = {0};
    bool ok = dof > 0 && isfinite(L) && tgf_sym_inverse(np, H, Hi);
    for (int i = 0; i < np * np; i++) Hi[i] = ok ? 2 * L / (double)dof * Hi[i] : NAN;
    tgf_cov_to_user(F, Hi, r);
    if (!ok)
        for (int i = 0; i < np; i++) r->stderrs[i] = NAN;
}

/* ---- the report ------------------------------------------------------------------ */

tt_status tgf_report(tgf_fit *F, const double *theta, tg_fit_result *r)
{
    tg_loss_kind lk = F->loss.kind;
    bool squared = lk == TG_LOSS_MSE || lk == TG_LOSS_HALF_MSE || lk == TG_LOSS_SSE || lk == TG_LOSS_ORTHOGONAL;
    double th[MAX_PARAMS];
    if (F->standardized) tgf_to_std(F->model, &F->tr, theta, th);
    else memcpy(th, theta, sizeof(double) * (size_t)F->model->np);
    tgf_eval e;
    tt_status st = TT_OK;
    if (F->have_final) e = F->final;
    else if ((st = tgf_evaluate(F, th, lk, squared || F->standardized, &e))) return st;
    double sy = F->standardized ? F->tr.sy : 1;
    r->loss = e.L * (F->standardized ? (lk == TG_LOSS_L1 ? sy : sy * sy) : 1);
    r->sse = e.sse * sy * sy;
    r->rms = sqrt(r->sse / (double)F->n);
    int64_t dof = F->n - F->model->np;
    if (squared) {
        tgf_covariance(F, e.L, e.H, dof, r);
        return TT_OK;
    }
    /* l1, huber, expressions: the Hessian of the sum of squares */
    if (!e.has_G || F->model->kind == TG_MODEL_EXPR) {
        if ((st = tgf_evaluate(F, th, TG_LOSS_SSE, true, &e))) return st;
        tgf_covariance(F, e.L, e.H, dof, r);
        return TT_OK;
    }
    double H[MAX_PARAMS * MAX_PARAMS];
    for (int i = 0; i < F->model->np * F->model->np; i++) H[i] = 2 * e.G[i];
    tgf_covariance(F, e.sse, H, dof, r);
    return TT_OK;
}
