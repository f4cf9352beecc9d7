/* The closed forms of --method exact, with their reports:
 *  - the line: from the first pass's weighted centred moments (merged
 *    pairwise: no precision lost to an offset in x), least squares or the
 *    total-least-squares line; its loss, sse and covariance from the same
 *    sums, so the whole fit is one pass;
 *  - poly:K: a second pass, a tall-skinny QR of the standardized, weighted
 *    Vandermonde matrix with y as a last column: each block's R factor by
 *    Householder reflections, merged pairwise by Givens rotations; the
 *    coefficients by back substitution, the residual from the last diagonal
 *    entry, the covariance from R^-1 (never the normal equations). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

static void loss_from_sse(const tgf_fit *F, double sse, double sse_orth, tg_fit_result *r)
{
    double n = (double)F->n;
    r->sse = sse;
    switch (F->loss.kind) {
    case TG_LOSS_SSE: r->loss = sse; break;
    case TG_LOSS_HALF_MSE: r->loss = sse / (2 * n); break;
    case TG_LOSS_ORTHOGONAL: r->loss = sse_orth / (2 * n); break;
    default: r->loss = sse / n; break;
    }
}

static tt_status exact_line(tgf_fit *F, double *theta, tg_fit_result *r)
{
    const tgf_moments *m = &F->mo;
    if (!(m->w > 0)) return tt_set_error(TT_EINVAL, "every weight is zero");
    double mx = m->wmx, my = m->wmy, Sxx = m->wcxx, Sxy = m->wcxy, Syy = m->wcyy, a;
    bool orth = F->loss.kind == TG_LOSS_ORTHOGONAL;
    if (orth) {
        if (Sxy == 0) {
            if (Syy > Sxx)
                return tt_set_error(TT_ERUNTIME,
                                    "the total-least-squares line is vertical (x and y uncorrelated, "
                                    "y spread wider than x)");
            a = 0;
        } else {
            double dd = Syy - Sxx;
            a = (dd + sqrt(dd * dd + 4 * Sxy * Sxy)) / (2 * Sxy);
        }
    } else if (!(Sxx > 0)) { /* the slope is free: tg_fit_stream refuses it unless allowed */
        a = 0;
    } else {
        a = Sxy / Sxx;
    }
    theta[0] = a;
    theta[1] = my - a * mx;
    /* the residual a dx - dy around the weighted centroid */
    double sse = fmax(0, a * a * Sxx - 2 * a * Sxy + Syy), S = a * a + 1;
    loss_from_sse(F, sse, sse / S, r);
    /* The Hessian of the summed loss in (a, b at the centroid) is diagonal
     * there; cov = 2 F / dof H^-1, then b = b_c - a mx. */
    double Fsum, Haa, Hbb;
    if (orth) {
        double st2 = sse, stx = a * Sxx - Sxy;
        Fsum = sse / S;
        Haa = 2 * Sxx / S - 8 * a * stx / (S * S) + (8 * a * a / (S * S * S) - 2 / (S * S)) * st2;
        Hbb = 2 * m->w / S;
    } else {
        Fsum = sse, Haa = 2 * Sxx, Hbb = 2 * m->w;
    }
    /* The rank analysis on the curvature in the standardized coordinates
     * (s_w, s_b) of F->tr, from the one in (a, b_c) at the centroid, which is
     * diagonal: a = sy/h s_w, b_c = sy s_b + sy (mx - c)/h s_w + my. */
    const tgf_trans *t = &F->tr;
    double M00 = t->sy / t->h, M10 = t->sy * (mx - t->c) / t->h, M11 = t->sy, haa = Haa > 0 ? Haa : 0;
    double H[4] = {M00 * M00 * haa + M10 * M10 * Hbb, M10 * M11 * Hbb, M10 * M11 * Hbb, M11 * M11 * Hbb};
    double factor = F->sp->absolute_sigma ? 2 : F->n > 2 && isfinite(Fsum) ? 2 * Fsum / (double)(F->n - 2) : NAN;
    tgf_cov_from_curvature(F, H, factor, r);
    if (r->rank == 2 && isfinite(factor)) { /* the centred form, free of the cancellation in H[0] */
        double caa = factor / Haa, cbb = factor / Hbb;
        r->cov[0] = caa;
        r->cov[1] = r->cov[2] = -mx * caa;
        r->cov[3] = mx * mx * caa + cbb;
        r->stderrs[0] = sqrt(r->cov[0]);
        r->stderrs[1] = sqrt(r->cov[3]);
    }
    return TT_OK;
}

/* ---- poly:K by TSQR ------------------------------------------------------- */

typedef struct {
    const tgf_fit *F;
    int q;     /* columns: K + 1 powers and y */
    double *A; /* one block, column-major */
} tsqr_ctx;

static void merge_r(void *ctx, double *Ra, const double *Rb) { tgf_qr_merge(((tsqr_ctx *)ctx)->q, Ra, Rb); }

static tt_status tsqr_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    (void)start;
    tsqr_ctx *c = ctx;
    const tgf_fit *F = c->F;
    const tgf_trans *t = &F->tr;
    int q = c->q, nx = F->stream.data->nx;
    bool multi = F->model->kind == TG_MODEL_LINE; /* the columns x..., 1, y as they are */
    const double *s = F->weighted ? cols[F->stream.ncols - 1] : NULL;
    for (int64_t b = 0; b * BLOCK < count; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        for (int64_t i = 0; i < m; i++) {
            double w = s ? sqrt(s[off + i]) : 1, y = cols[nx][off + i];
            if (multi) {
                for (int k = 0; k < nx; k++) c->A[(size_t)k * (size_t)m + (size_t)i] = w * cols[k][off + i];
                c->A[(size_t)nx * (size_t)m + (size_t)i] = w;
                c->A[(size_t)(q - 1) * (size_t)m + (size_t)i] = w * y;
                continue;
            }
            double u = (cols[0][off + i] - t->c) / t->h, pw = 1;
            for (int k = 0; k < q - 1; k++, pw *= u) c->A[(size_t)k * (size_t)m + (size_t)i] = w * pw;
            c->A[(size_t)(q - 1) * (size_t)m + (size_t)i] = w * (y - t->my) / t->sy;
        }
        tgf_qr_block(m, q, c->A, partials + b * q * q);
    }
    return TT_OK;
}

/* poly:K on standardized x, or the line in several x columns as they are
 * (QR keeps the digits that the normal equations would lose). */
static tt_status exact_poly(tgf_fit *F, double *theta, tg_fit_result *r)
{
    int p = F->model->np, q = p + 1;
    tsqr_ctx c = {F, q, malloc(sizeof(double) * (size_t)BLOCK * (size_t)q)};
    double *R = malloc(sizeof(double) * (size_t)(q * q));
    tt_status st = c.A && R ? TT_OK : tt_set_error(TT_ENOMEM, "out of memory");
    if (!st) st = tgf_pass(&F->stream, q * q, tsqr_blocks, merge_r, &c, R);
    F->passes++;
    free(c.A);
    if (st) {
        free(R);
        return st;
    }
    /* the rank: each column's own part against its norm */
    bool ok = true;
    for (int k = 0; k < p && ok; k++) {
        double norm = 0;
        for (int i = 0; i <= k; i++) norm += R[i * q + k] * R[i * q + k];
        ok = norm > 0 && fabs(R[k * q + k]) > 1e-13 * sqrt(norm);
    }
    if (!ok) { /* which coefficients are free: the rank analysis of R^T R */
        double H[MAX_PARAMS * MAX_PARAMS];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) {
                double acc = 0;
                for (int k = 0; k <= (i < j ? i : j); k++) acc += R[k * q + i] * R[k * q + j];
                H[i * p + j] = acc;
            }
        tgf_cov_from_curvature(F, H, NAN, r);
        free(R);
        if (r->rank == p) r->rank = p - 1, r->determined[p - 1] = false;
        return TT_OK;
    }
    double cs[MAX_PARAMS];
    for (int k = p - 1; k >= 0; k--) {
        double acc = R[k * q + p];
        for (int j = k + 1; j < p; j++) acc -= R[k * q + j] * cs[j];
        cs[k] = acc / R[k * q + k];
    }
    bool multi = F->model->kind == TG_MODEL_LINE;
    if (multi) memcpy(theta, cs, sizeof(double) * (size_t)p);
    else tgf_to_user(F->model, &F->tr, cs, theta);
    double sse_std = R[p * q + p] * R[p * q + p], sy2 = multi ? 1 : F->tr.sy * F->tr.sy;
    loss_from_sse(F, sse_std * sy2, 0, r);
    /* cov_std = sse / dof (R^T R)^-1 = sse / dof R^-1 R^-T */
    int64_t dof = F->n - p;
    bool absolute = F->sp->absolute_sigma;
    if (dof > 0 || absolute) {
        double Ri[MAX_PARAMS * MAX_PARAMS] = {0}, C[MAX_PARAMS * MAX_PARAMS];
        for (int j = 0; j < p; j++) { /* column j of R^-1 */
            Ri[j * p + j] = 1 / R[j * q + j];
            for (int i = j - 1; i >= 0; i--) {
                double acc = 0;
                for (int k = i + 1; k <= j; k++) acc += R[i * q + k] * Ri[k * p + j];
                Ri[i * p + j] = -acc / R[i * q + i];
            }
        }
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) {
                double acc = 0;
                for (int k = (i > j ? i : j); k < p; k++) acc += Ri[i * p + k] * Ri[j * p + k];
                C[i * p + j] = absolute ? acc / sy2 : acc * sse_std / (double)dof;
            }
        tgf_cov_to_user(F, C, r);
    } else {
        for (int i = 0; i < p * p; i++) r->cov[i] = NAN;
        for (int i = 0; i < p; i++) r->stderrs[i] = NAN;
    }
    r->rank = p;
    for (int i = 0; i < p; i++) r->determined[i] = true;
    free(R);
    return TT_OK;
}

tt_status tgf_exact(tgf_fit *F, double *theta, tg_fit_result *r)
{
    return F->model->kind == TG_MODEL_LINE && F->model->nx == 1 ? exact_line(F, theta, r) : exact_poly(F, theta, r);
}
