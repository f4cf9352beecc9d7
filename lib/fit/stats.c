/* The report of a fit: the standardization of line and poly (x -> (x - c)/h,
 * y -> (y - my)/sy) and its map back to the user's units, the loss, sse and
 * rms, and the covariance (2 L / dof) H^-1 of the standard errors, H the
 * Hessian of the loss (2 J^T W J for least squares on expression models and
 * for l1), all from one evaluation at the final parameters. */
#include <float.h>
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

/* Eigenvalues lam and eigenvectors (columns of V) of the symmetric p x p
 * matrix A (destroyed), by cyclic Jacobi rotations: small p, full accuracy. */
static void jacobi_eigen(int p, double *A, double *V, double *lam)
{
    for (int i = 0; i < p * p; i++) V[i] = i % (p + 1) == 0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < p; i++) {
            diag += A[i * p + i] * A[i * p + i];
            for (int j = i + 1; j < p; j++) off += A[i * p + j] * A[i * p + j];
        }
        if (!(off > 1e-32 * diag)) break;
        for (int i = 0; i < p; i++)
            for (int j = i + 1; j < p; j++) {
                double aij = A[i * p + j];
                if (aij == 0) continue;
                double th = (A[j * p + j] - A[i * p + i]) / (2 * aij);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1)), c = 1 / sqrt(t * t + 1), sn = t * c;
                for (int k = 0; k < p; k++) { /* A <- A G, then G^T A */
                    double u = A[k * p + i], v = A[k * p + j];
                    A[k * p + i] = c * u - sn * v, A[k * p + j] = sn * u + c * v;
                }
                for (int k = 0; k < p; k++) {
                    double u = A[i * p + k], v = A[j * p + k];
                    A[i * p + k] = c * u - sn * v, A[j * p + k] = sn * u + c * v;
                }
                for (int k = 0; k < p; k++) {
                    double u = V[k * p + i], v = V[k * p + j];
                    V[k * p + i] = c * u - sn * v, V[k * p + j] = sn * u + c * v;
                }
            }
    }
    for (int i = 0; i < p; i++) lam[i] = A[i * p + i];
}

/* An eigenvalue of the column-scaled curvature (unit diagonal) at or below
 * this fraction of the largest is zero: the rounding of a sum of p-term
 * products, the square of numpy lstsq's rcond = eps * max(M, N) on J's
 * singular values, at the precision that J^T J itself carries. */
#define RANK_RCOND(p) (2.0 * (double)(p)*DBL_EPSILON)

void tgf_cov_from_curvature(const tgf_fit *F, const double *H, double factor, tg_fit_result *r)
{
    int np = F->model->np;
    double D[MAX_PARAMS], S[MAX_PARAMS * MAX_PARAMS], V[MAX_PARAMS * MAX_PARAMS], lam[MAX_PARAMS];
    double C[MAX_PARAMS * MAX_PARAMS] = {0}, A[MAX_PARAMS * MAX_PARAMS];
    bool finite = true;
    for (int i = 0; i < np * np; i++) finite &= isfinite(H[i]) != 0;
    /* |H_ii|: away from a minimum the Hessian of the loss may be indefinite;
     * a negative eigenvalue is not a free direction (its variance is NaN) */
    for (int i = 0; i < np; i++) D[i] = finite && H[i * np + i] != 0 ? sqrt(fabs(H[i * np + i])) : 0;
    /* a column of J that vanished in the fit (lm.c) is a zero one: its curvature is rounding */
    for (int i = 0; i < np; i++)
        if (F->lm_vanished[i]) D[i] = 0;
    /* the column-scaled curvature; a parameter of zero curvature is its own null direction */
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) S[i * np + j] = D[i] > 0 && D[j] > 0 ? H[i * np + j] / (D[i] * D[j]) : 0;
    jacobi_eigen(np, S, V, lam);
    double big = 0;
    for (int k = 0; k < np; k++) big = fmax(big, fabs(lam[k]));
    double cut = RANK_RCOND(np) * big;
    /* the pseudo-inverse on the determined directions; the null directions in the user's units */
    double null[MAX_PARAMS][MAX_PARAMS];
    int nnull = 0;
    if (F->standardized) tgf_trans_matrix(F->model, &F->tr, A);
    for (int k = 0; k < np; k++) {
        if (finite && big > 0 && fabs(lam[k]) > cut) {
            for (int i = 0; i < np; i++)
                for (int j = 0; j < np; j++)
                    if (D[i] > 0 && D[j] > 0) C[i * np + j] += V[i * np + k] * V[j * np + k] / lam[k] / (D[i] * D[j]);
            continue;
        }
        double w[MAX_PARAMS]; /* the direction in the working coordinates */
        for (int i = 0; i < np; i++) w[i] = D[i] > 0 ? V[i * np + k] / D[i] : V[i * np + k];
        for (int i = 0; i < np; i++) {
            double u = 0;
            if (F->standardized)
                for (int j = 0; j < np; j++) u += A[i * np + j] * w[j];
            else u = w[i];
            null[nnull][i] = u;
        }
        nnull++;
    }
    for (int i = 0; i < np; i++) r->determined[i] = true;
    for (int k = 0; k < nnull; k++) {
        double m = 0;
        for (int i = 0; i < np; i++) m = fmax(m, fabs(null[k][i]));
        for (int i = 0; i < np; i++)
            if (!(fabs(null[k][i]) <= 1e-9 * m)) r->determined[i] = false;
    }
    r->rank = np - nnull;
    for (int i = 0; i < np * np; i++) C[i] *= factor;
    tgf_cov_to_user(F, C, r);
    for (int i = 0; i < np; i++)
        if (!r->determined[i] || !isfinite(factor)) {
            r->stderrs[i] = NAN;
            for (int j = 0; j < np; j++) r->cov[i * np + j] = r->cov[j * np + i] = NAN;
        }
}

double tgf_cov_factor(const tgf_fit *F, double L, int64_t dof, double norm)
{
    if (F->sp->absolute_sigma) return 2 * norm / (F->standardized ? F->tr.sy * F->tr.sy : 1);
    return dof > 0 && isfinite(L) ? 2 * L / (double)dof : NAN;
}

void tgf_covariance(const tgf_fit *F, double L, const double *H, int64_t dof, double norm, tg_fit_result *r)
{
    tgf_cov_from_curvature(F, H, tgf_cov_factor(F, L, dof, norm), r);
}

/* ---- distributions ------------------------------------------------------------- */

/* The regularized incomplete gamma functions P(a, x) by its series and
 * Q(a, x) by its continued fraction (Lentz), each where it converges fast. */
static double gamma_p_series(double a, double x)
{
    double sum = 1 / a, term = sum;
    for (int n = 1; n < 100000; n++) {
        term *= x / (a + n);
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-17) break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

static double gamma_q_fraction(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-17) break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double tg_chi2_sf(double chi2, double dof)
{
    if (!(dof > 0) || isnan(chi2)) return NAN;
    if (chi2 <= 0) return 1;
    if (isinf(chi2)) return 0;
    double a = dof / 2, x = chi2 / 2;
    return x < a + 1 ? 1 - gamma_p_series(a, x) : gamma_q_fraction(a, x);
}

/* The regularized incomplete beta I_x(a, b) by its continued fraction. */
static double beta_fraction(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m < 100000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-17) break;
    }
    return h;
}

static double beta_reg(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
    return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

/* P(T <= t) for Student's t with dof degrees of freedom; near the median
 * from P(|T| < t) = I_{t^2/(dof+t^2)}(1/2, dof/2), which keeps its digits. */
static double student_t_cdf(double t, double dof)
{
    double t2 = t * t, x = dof / (dof + t2);
    double tail = x > 0.5 ? (1 - beta_reg(0.5, dof / 2, t2 / (dof + t2))) / 2 : beta_reg(dof / 2, 0.5, x) / 2;
    return t >= 0 ? 1 - tail : tail;
}

/* Student's t density. */
static double student_t_pdf(double t, double dof)
{
    const double pi = 3.14159265358979323846;
    return exp(lgamma((dof + 1) / 2) - lgamma(dof / 2) - 0.5 * log(dof * pi) - (dof + 1) / 2 * log1p(t * t / dof));
}

/* Newton's method on the cdf, kept inside a bracket that each step narrows
 * (bisection where Newton would leave it): a handful of cdf evaluations
 * where bisection to the last bit took 60, a tenth of a millisecond, per
 * parameter of every report. */
double tg_student_t_quantile(double p, double dof)
{
    if (!(p > 0 && p < 1) || !(dof > 0)) return NAN;
    if (p < 0.5) return -tg_student_t_quantile(1 - p, dof);
    double lo = 0, hi = 1;
    while (student_t_cdf(hi, dof) < p && hi < 1e300) hi *= 2;
    double t = hi / 2;
    for (int i = 0; i < 200 && hi - lo > 1e-16 * hi; i++) {
        double c = student_t_cdf(t, dof) - p;
        if (c == 0) return t;
        if (c < 0) lo = t;
        else hi = t;
        double next = t - c / student_t_pdf(t, dof);
        if (!(next > lo && next < hi)) next = (lo + hi) / 2;
        if (fabs(next - t) <= 2 * DBL_EPSILON * t) return next;
        t = next;
    }
    return t;
}

void tg_fit_ci(const tg_fit_result *r, int i, double level, double *low, double *high)
{
    double t = r->dof > 0 ? tg_student_t_quantile((1 + level) / 2, (double)r->dof) : NAN;
    double e = r->stderrs[i], v = r->values[i];
    *low = isfinite(t * e) ? v - t * e : NAN;
    *high = isfinite(t * e) ? v + t * e : NAN;
}

void tgf_statistics(const tgf_fit *F, tg_fit_result *r)
{
    double n = (double)r->n, dof = (double)r->dof;
    r->absolute_sigma = F->sp->absolute_sigma;
    r->rms = dof > 0 ? sqrt(r->sse / dof) : NAN;
    r->chi2 = r->sse;
    r->chi2_red = dof > 0 ? r->chi2 / dof : NAN;
    r->p_value = tg_chi2_sf(r->chi2, dof);
    r->sst = F->mo.wcyy;
    r->r2 = r->sst > 0 ? 1 - r->sse / r->sst : NAN;
    r->r2_adj = dof > 0 ? 1 - (1 - r->r2) * (n - 1) / dof : NAN;
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
    int64_t dof = F->n - F->model->np;
    if (F->model->kind == TG_MODEL_EXPR && squared && !F->sp->stderr_hessian && !F->have_final) {
        /* the loss, the sum of squares and J^T W J from one pass */
        double H[MAX_PARAMS * MAX_PARAMS], sse;
        if ((st = tgf_lm_curvature(F, th, H, &sse))) return st;
        r->loss = tgf_loss_norm(lk, F->n) * sse, r->sse = sse, r->stderr_hessian = false;
        tgf_covariance(F, sse, H, dof, 1, r);
        return TT_OK;
    }
    /* The full Hessian of the loss: asked for; a squared loss on line or
     * poly (linear in the parameters: it is 2 norm J^T W J); and any loss
     * outside the least-squares family but l1, whose Hessian is zero (|r|
     * has no curvature), so that it keeps J^T W J below, as does any loss
     * with --stderr jacobian. */
    bool full = F->sp->stderr_hessian || (squared && F->model->kind != TG_MODEL_EXPR) ||
                (!squared && lk != TG_LOSS_L1 && !F->sp->stderr_jacobian);
    if (F->have_final) e = F->final;
    else if ((st = tgf_evaluate(F, th, lk, full || F->standardized, &e))) return st;
    double sy = F->standardized ? F->tr.sy : 1;
    r->loss = e.L * (F->standardized ? (lk == TG_LOSS_L1 ? sy : sy * sy) : 1);
    r->sse = e.sse * sy * sy;
    r->stderr_hessian = full;
    if (full) { /* cov = (2 L / dof) H^-1 */
        tgf_covariance(F, e.L, e.H, dof, tgf_loss_norm(lk, F->n), r);
        return TT_OK;
    }
    /* l1: 2 J^T W J, the Hessian of the sum of squares with the residuals'
     * curvature left out (gnuplot, scipy) */
    if (F->model->kind == TG_MODEL_EXPR) { /* from the R factor of sqrt(W) J: exact, one pass */
        double H[MAX_PARAMS * MAX_PARAMS], sse;
        if ((st = tgf_lm_curvature(F, th, H, &sse))) return st;
        tgf_covariance(F, sse, H, dof, 1, r);
        return TT_OK;
    }
    if (!e.has_G) {
        double sse = e.sse;
        F->gauss_newton = true;
        st = tgf_evaluate(F, th, TG_LOSS_SSE, true, &e);
        F->gauss_newton = false;
        if (st) return st;
        tgf_covariance(F, sse, e.H, dof, 1, r);
        return TT_OK;
    }
    double H[MAX_PARAMS * MAX_PARAMS];
    for (int i = 0; i < F->model->np * F->model->np; i++) H[i] = 2 * e.G[i];
    tgf_covariance(F, e.sse, H, dof, 1, r);
    return TT_OK;
}
