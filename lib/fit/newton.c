/* The default method: damped Newton (Levenberg-Marquardt on the Hessian) in
 * float64, one pass over the data per evaluation. Each evaluation gives the
 * loss, gradient and Hessian at once, so a trial step that is accepted has
 * already paid for the next iteration: an iteration costs one pass, plus one
 * per rejected trial.
 *
 * It stops (TG_STOP_TOL) before trying a full Newton step when that step
 * would change little: the decrease the quadratic model predicts is below
 * tol relative to the loss, or the step is below tol relative to the
 * parameters (both scaled by the curvature). The second test needs no nonzero loss, so data that a model
 * fits exactly converges in two or three passes; line-searching rounding
 * noise would only burn passes. */
#include <math.h>
#include <string.h>

#include "fit/fit_internal.h"

/* |D d| <= tol (|D theta| + tol), D = sqrt(diag H): the step and the
 * parameters each measured by the loss's curvature (MINPACK's scaling), so
 * that a parameter much smaller than the others still counts. */
static bool small_step(int np, const double *d, const double *theta, const double *H, double tol)
{
    double dd = 0, tt = 0;
    for (int i = 0; i < np; i++) {
        double D = sqrt(fabs(H[i * np + i]));
        if (!(D > 0)) D = 1;
        dd += D * d[i] * D * d[i], tt += D * theta[i] * D * theta[i];
    }
    return sqrt(dd) <= tol * (sqrt(tt) + tol);
}

tt_status tgf_newton(tgf_fit *F, double *theta, int64_t maxsteps, double tol)
{
    int np = F->model->np;
    tg_loss_kind kind = F->loss.kind;
    double dlt[MAX_PARAMS], trial[MAX_PARAMS], mu = 0;
    tgf_eval e, et;
    tt_status st = tgf_evaluate(F, theta, kind, true, &e);
    if (st) return st;
    F->have_final = true, F->final = e;
    for (int64_t step = 1; step <= maxsteps; step++) {
        double L = e.L;
        if (!isfinite(L)) {
            tgf_diverged(F, step, L);
            F->have_final = false;
            return TT_OK;
        }
        double scale = 0;
        for (int i = 0; i < np; i++) scale = fmax(scale, fabs(e.H[i * np + i]));
        if (!(scale > 0)) scale = fmax(tgf_norm2(np, e.g), 1e-300);
        double Lnew = L, before[MAX_PARAMS];
        bool accepted = false, full = false, converged = false;
        memcpy(before, theta, sizeof(double) * (size_t)np);
        if (tgf_norm2(np, e.g) > 0) {
            /* mu grows 4x per rejected try: 30 tries span 18 orders of magnitude */
            for (int tries = 0; tries < 30 && !accepted; tries++) {
                double ng[MAX_PARAMS];
                for (int i = 0; i < np; i++) ng[i] = -e.g[i];
                if (!tgf_chol_solve(np, e.H, mu, ng, dlt)) {
                    mu = fmax(mu * 4, 1e-9 * scale);
                    continue;
                }
                double predicted = 0;
                for (int i = 0; i < np; i++) predicted -= e.g[i] * dlt[i] / 2;
                if (mu == 0 && tol > 0 && (predicted <= tol * fabs(L) || small_step(np, dlt, theta, e.H, tol))) {
                    converged = true;
                    break;
                }
                for (int i = 0; i < np; i++) trial[i] = theta[i] + dlt[i];
                if ((st = tgf_evaluate(F, trial, kind, true, &et))) return st;
                if (isfinite(et.L) && et.L < L) {
                    accepted = true, full = mu == 0, Lnew = et.L;
                    memcpy(theta, trial, sizeof(double) * (size_t)np);
                    e = et;
                    F->final = e;
                    mu /= 4;
                    if (mu < 1e-12 * scale) mu = 0;
                } else {
                    mu = fmax(mu * 4, 1e-9 * scale);
                }
            }
        }
        /* the step's loss is the one at the start of the step (as the seeds print it) */
        if (tgf_after_step(F, step, L, before, L, tgf_norm2(np, e.g), 0)) return TT_OK;
        F->last_change = accepted ? fabs(L - Lnew) / fmax(fabs(Lnew), 1e-300) : 0;
        if (converged || !accepted) {
            F->stop = TG_STOP_TOL;
            return TT_OK;
        }
        if (tol > 0 && full && fabs(L - Lnew) <= tol * fabs(Lnew)) {
            F->stop = TG_STOP_TOL;
            return TT_OK;
        }
    }
    F->stop = TG_STOP_STEPS;
    return TT_OK;
}
