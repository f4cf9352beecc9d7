/* Per-block sums of the line and poly fits with built-in losses, on
 * standardized data (u = (x - c)/h, v = (y - my)/sy, computed per point as
 * the points stream by): the loss's sum over points, its gradient and
 * Hessian from the per-point derivatives of the loss and the model's
 * Jacobian row J (line: (u, 1); poly: u^k), the sum of squared residuals and
 * sum s J J^T. One pass gives a Newton iteration everything it needs, and the
 * report its loss, sse and the Hessian of the standard errors. */
#include <math.h>
#include <string.h>

#include "fit/fit_internal.h"

int tgf_eval_width(int np) { return 2 + np + 2 * np * np; }

void tgf_eval_unpack(int np, const double *v, tgf_eval *e)
{
    e->np = np;
    e->L = v[0];
    memcpy(e->g, v + 1, sizeof(double) * (size_t)np);
    memcpy(e->H, v + 1 + np, sizeof(double) * (size_t)(np * np));
    e->sse = v[1 + np + np * np];
    memcpy(e->G, v + 2 + np + np * np, sizeof(double) * (size_t)(np * np));
    e->has_G = true;
}

/* rho(r), rho'(r), rho''(r) of a built-in loss (orthogonal apart). */
static inline void rho(tg_loss_kind kind, double delta, double r, double *f, double *d1, double *d2)
{
    switch (kind) {
    case TG_LOSS_L1: *f = fabs(r), *d1 = r > 0 ? 1 : r < 0 ? -1 : 0, *d2 = 0; return;
    case TG_LOSS_HUBER: {
        double a = fabs(r);
        if (a <= delta) *f = 0.5 * r * r, *d1 = r, *d2 = 1;
        else *f = 0.5 * delta * delta + delta * (a - delta), *d1 = r > 0 ? delta : -delta, *d2 = 0;
        return;
    }
    default: *f = r * r, *d1 = 2 * r, *d2 = 2; return;
    }
}

static void block_sums(const tgf_lp_ctx *c, const double *x, const double *y, const double *s, int64_t m, double *out)
{
    const tg_model *mod = c->m;
    int np = mod->np, K = mod->K;
    bool line = mod->kind == TG_MODEL_LINE,
         squared = c->kind != TG_LOSS_L1 && c->kind != TG_LOSS_HUBER && c->kind != TG_LOSS_ORTHOGONAL;
    const double *th = c->theta;
    double L = 0, sse = 0, g[MAX_PARAMS] = {0}, H[MAX_PARAMS * MAX_PARAMS], G[MAX_PARAMS * MAX_PARAMS];
    memset(H, 0, sizeof(double) * (size_t)(np * np));
    memset(G, 0, sizeof(double) * (size_t)(np * np));
    double S = line ? th[0] * th[0] + 1 : 1;
    for (int64_t i = 0; i < m; i++) {
        double u = (x[i] - c->tr.c) / c->tr.h, v = (y[i] - c->tr.my) / c->tr.sy, w = s ? s[i] : 1;
        double J[MAX_PARAMS], pred;
        if (line) {
            J[0] = u, J[1] = 1;
            pred = th[0] * u + th[1];
        } else {
            double pw = 1;
            pred = 0;
            for (int k = 0; k <= K; k++, pw *= u) J[k] = pw, pred += th[k] * pw;
        }
        double r = pred - v, f, d1, d2;
        sse += w * r * r;
        for (int a = 0; a < np; a++)
            for (int b = a; b < np; b++) G[a * np + b] += w * J[a] * J[b];
        if (c->kind == TG_LOSS_ORTHOGONAL) { /* t = w u - v + b over S = w^2 + 1 */
            double t = r, a0 = th[0];
            L += w * t * t / S;
            g[0] += w * (2 * t * u / S - 2 * a0 * t * t / (S * S));
            g[1] += w * 2 * t / S;
            if (c->hessian) {
                H[0] += w * (2 * u * u / S - 8 * a0 * t * u / (S * S) - 2 * t * t / (S * S) +
                             8 * a0 * a0 * t * t / (S * S * S));
                H[1] += w * (2 * u / S - 4 * a0 * t / (S * S));
                H[3] += w * 2 / S;
            }
            continue;
        }
        rho(c->kind, c->delta, r, &f, &d1, &d2);
        L += w * f;
        for (int a = 0; a < np; a++) g[a] += w * d1 * J[a];
        if (c->hessian && !squared && d2 != 0)
            for (int a = 0; a < np; a++)
                for (int b = a; b < np; b++) H[a * np + b] += w * d2 * J[a] * J[b];
    }
    if (c->hessian && squared)
        for (int k = 0; k < np * np; k++) H[k] = 2 * G[k];
    for (int a = 0; a < np; a++) /* the lower triangles */
        for (int b = 0; b < a; b++) H[a * np + b] = H[b * np + a], G[a * np + b] = G[b * np + a];
    out[0] = L;
    memcpy(out + 1, g, sizeof(double) * (size_t)np);
    memcpy(out + 1 + np, H, sizeof(double) * (size_t)(np * np));
    out[1 + np + np * np] = sse;
    memcpy(out + 2 + np + np * np, G, sizeof(double) * (size_t)(np * np));
}

static tt_status lp_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    (void)start;
    const tgf_lp_ctx *c = ctx;
    int width = tgf_eval_width(c->m->np);
    const double *s = c->weights_col >= 0 ? cols[c->weights_col] : NULL;
    for (int64_t b = 0; b * BLOCK < count; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        block_sums(c, cols[0] + off, cols[c->y_col] + off, s ? s + off : NULL, m, partials + b * width);
    }
    return TT_OK;
}

tgf_blocks_fn tgf_lp_blocks(void) { return lp_blocks; }
