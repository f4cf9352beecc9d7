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
#include "tensor/backend.h"

/* Sums over a block run in 8 interleaved accumulators, combined pairwise:
 * an order fixed by this code, not by the vector width, so every build and
 * machine gives the same bits. */
#define LANES 8
static inline double lanes(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* ---- the first pass: a block's centred moments ------------------------------- */

/* Two passes over the block (it is in cache): means, then centred sums. */
VECTOR_CLONES void tgf_block_moments(const double *x, const double *y, const double *s, int64_t m, double *p)
{
    double sx[LANES] = {0}, sy[LANES] = {0}, lo[LANES], hi[LANES];
    for (int j = 0; j < LANES; j++) lo[j] = INFINITY, hi[j] = -INFINITY;
#define MOMENTS_SUMS(i, j)                                            \
    do {                                                              \
        double a = x[i];                                              \
        sx[j] += a, sy[j] += y[i];                                    \
        lo[j] = a < lo[j] ? a : lo[j], hi[j] = a > hi[j] ? a : hi[j]; \
    } while (0)
    int64_t i = 0;
    for (; i + LANES <= m; i += LANES)
        for (int j = 0; j < LANES; j++) MOMENTS_SUMS(i + j, j);
    for (int j = 0; i + j < m; j++) MOMENTS_SUMS(i + j, j);
    double mn = lo[0], mx_ = hi[0];
    for (int j = 1; j < LANES; j++) mn = lo[j] < mn ? lo[j] : mn, mx_ = hi[j] > mx_ ? hi[j] : mx_;
    double mx = lanes(sx) / (double)m, my = lanes(sy) / (double)m;
    double cxx[LANES] = {0}, cxy[LANES] = {0}, cyy[LANES] = {0};
#define MOMENTS_CENTRED(i, j)                                    \
    do {                                                         \
        double dx = x[i] - mx, dy = y[i] - my;                   \
        cxx[j] += dx * dx, cxy[j] += dx * dy, cyy[j] += dy * dy; \
    } while (0)
    for (i = 0; i + LANES <= m; i += LANES)
        for (int j = 0; j < LANES; j++) MOMENTS_CENTRED(i + j, j);
    for (int j = 0; i + j < m; j++) MOMENTS_CENTRED(i + j, j);
    p[0] = (double)m, p[1] = mx, p[2] = my, p[3] = lanes(cxx), p[4] = lanes(cxy), p[5] = lanes(cyy);
    p[12] = mn, p[13] = mx_;
    if (!s) {
        memcpy(p + 6, p, 6 * sizeof *p);
        return;
    }
    double w[LANES] = {0}, wx[LANES] = {0}, wy[LANES] = {0};
    for (i = 0; i + LANES <= m; i += LANES)
        for (int j = 0; j < LANES; j++) w[j] += s[i + j], wx[j] += s[i + j] * x[i + j], wy[j] += s[i + j] * y[i + j];
    for (int j = 0; i + j < m; j++) w[j] += s[i + j], wx[j] += s[i + j] * x[i + j], wy[j] += s[i + j] * y[i + j];
    double W = lanes(w), wmx = W > 0 ? lanes(wx) / W : 0, wmy = W > 0 ? lanes(wy) / W : 0;
    for (int j = 0; j < LANES; j++) cxx[j] = cxy[j] = cyy[j] = 0;
#define MOMENTS_WEIGHTED(i, j)                                                        \
    do {                                                                              \
        double dx = x[i] - wmx, dy = y[i] - wmy;                                      \
        cxx[j] += s[i] * dx * dx, cxy[j] += s[i] * dx * dy, cyy[j] += s[i] * dy * dy; \
    } while (0)
    for (i = 0; i + LANES <= m; i += LANES)
        for (int j = 0; j < LANES; j++) MOMENTS_WEIGHTED(i + j, j);
    for (int j = 0; i + j < m; j++) MOMENTS_WEIGHTED(i + j, j);
    p[6] = W, p[7] = wmx, p[8] = wmy, p[9] = lanes(cxx), p[10] = lanes(cxy), p[11] = lanes(cyy);
}

/* ---- a block's R factor -------------------------------------------------------- */

static inline double dot(const double *a, const double *b, int64_t n)
{
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += a[i + j] * b[i + j];
    return lanes(acc);
}

VECTOR_CLONES void tgf_qr_block(int64_t m, int q, double *A, double *R)
{
    memset(R, 0, sizeof *R * (size_t)(q * q));
    int kmax = m < q ? (int)m : q;
    for (int k = 0; k < kmax; k++) {
        double *a = A + (size_t)k * (size_t)m + k;
        int64_t len = m - k;
        double norm2 = dot(a, a, len), norm = sqrt(norm2);
        if (norm > 0) {
            double alpha = a[0] > 0 ? -norm : norm;
            double vnorm2 = 2 * (norm2 - alpha * a[0]); /* |a - alpha e_k|^2 */
            a[0] -= alpha;                              /* v, in place */
            for (int j = k + 1; j < q; j++) {
                double *c = A + (size_t)j * (size_t)m + k;
                double f = 2 * dot(a, c, len) / vnorm2;
                for (int64_t i = 0; i < len; i++) c[i] -= f * a[i];
            }
            a[0] = alpha;
        }
        for (int j = k; j < q; j++) R[k * q + j] = A[(size_t)j * (size_t)m + (size_t)k];
    }
}

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

/* The line with a squared loss: six sums give everything (sum w r^2, w r u,
 * w r, w u^2, w u, w). */
VECTOR_CLONES static void line_squared_sums(const tgf_lp_ctx *c, const double *x, const double *y, const double *s,
                                            int64_t m, double *out)
{
    double a[6][LANES] = {{0}};
    /* the standardization by reciprocals: no division in the loop */
    const double cx = c->tr.c, ih = 1 / c->tr.h, my = c->tr.my, isy = 1 / c->tr.sy, w0 = c->theta[0], b0 = c->theta[1];
#define LINE_SQUARED(i, j, W)                                      \
    do {                                                           \
        double u = (x[i] - cx) * ih, v = (y[i] - my) * isy, w = W; \
        double r = (w0 * u + b0) - v, wr = w * r;                  \
        a[0][j] += wr * r, a[1][j] += wr * u, a[2][j] += wr;       \
        a[3][j] += w * u * u, a[4][j] += w * u, a[5][j] += w;      \
    } while (0)
#define LINE_SQUARED_LOOP(W)                                                               \
    do {                                                                                   \
        int64_t i = 0;                                                                     \
        for (; i + LANES <= m; i += LANES) {                                               \
            _Pragma("omp simd") for (int j = 0; j < LANES; j++) LINE_SQUARED(i + j, j, W); \
        }                                                                                  \
        for (int j = 0; i + j < m; j++) LINE_SQUARED(i + j, j, W);                         \
    } while (0)
    if (s) LINE_SQUARED_LOOP(s[i + j]);
    else LINE_SQUARED_LOOP(1.0);
    double S[6];
    for (int k = 0; k < 6; k++) S[k] = lanes(a[k]);
    /* L, g[2], H[4], sse, G[4] */
    double G[4] = {S[3], S[4], S[4], S[5]};
    out[0] = S[0], out[1] = 2 * S[1], out[2] = 2 * S[2];
    for (int k = 0; k < 4; k++) out[3 + k] = c->hessian ? 2 * G[k] : 0, out[8 + k] = G[k];
    out[7] = S[0];
}

static void block_sums(const tgf_lp_ctx *c, const double *x, const double *y, const double *s, int64_t m, double *out)
{
    if (c->m->kind == TG_MODEL_LINE &&
        (c->kind == TG_LOSS_MSE || c->kind == TG_LOSS_HALF_MSE || c->kind == TG_LOSS_SSE)) {
        line_squared_sums(c, x, y, s, m, out);
        return;
    }
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
