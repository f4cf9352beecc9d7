/* One evaluation at theta, by one pass over the data, in float64: the loss,
 * its gradient and Hessian, and the sum of squared residuals. Line and poly
 * with built-in losses run the standardized kernels (kernels.c); any other
 * model or loss builds its libgrad graph on each block, the gradient with
 * create_graph and the Hessian from it (tg_hessian_from_grads), and the
 * blocks' sums are added in the fixed tree. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

typedef struct {
    tgf_fit *F;
    tg_loss_kind kind;
    const double *theta;
    bool hessian;
} graph_ctx;

/* Block tensors from the stream's columns (float64 on the CPU). */
static tt_status block_tensors(const tgf_fit *F, double *const *cols, int64_t off, int64_t m, tgf_block *d,
                               tgf_arena *ar)
{
    int nx = F->stream.data->nx;
    d->n = m;
    for (int j = 0; j < nx; j++)
        if (!(d->xs[j] = tgf_keep(ar, tt_from_data(1, &m, TT_F64, cols[j] + off, TT_CPU)))) return tt_last_status();
    d->x = d->xs[0];
    d->y = tgf_keep(ar, tt_from_data(1, &m, TT_F64, cols[nx] + off, TT_CPU));
    d->s = F->weighted ? tgf_keep(ar, tt_from_data(1, &m, TT_F64, cols[F->stream.ncols - 1] + off, TT_CPU)) : NULL;
    return d->x && d->y && (!F->weighted || d->s) ? TT_OK : tt_last_status() ? tt_last_status() : TT_ENOMEM;
}

/* The sum of s (pred - y)^2 over the block, no graph. */
static tt_status block_sse(tgf_fit *F, const tgf_block *d, tt_tensor *const *P, double *sse, tgf_arena *ar)
{
    bool prev = tg_set_grad_enabled(false);
    tt_tensor *pred = tgf_model_graph(F->model, F->menv, d, P, ar);
    tt_tensor *r = pred ? tgf_keep(ar, tt_sub(pred, d->y)) : NULL;
    tt_tensor *r2 = r ? tgf_keep(ar, tt_mul(r, r)) : NULL;
    tt_tensor *w = r2 && d->s ? tgf_keep(ar, tt_mul(r2, d->s)) : r2;
    tt_tensor *s = w ? tgf_keep(ar, tt_sum(w)) : NULL;
    tg_set_grad_enabled(prev);
    return s ? tt_item(s, sse) : tt_last_status() ? tt_last_status() : TT_ERUNTIME;
}

static tt_status graph_block(graph_ctx *c, const tgf_block *d_in, double *out)
{
    tgf_fit *F = c->F;
    int np = F->model->np;
    tt_tensor *P[MAX_PARAMS] = {0}, *G[MAX_PARAMS] = {0};
    tgf_arena ar = {0};
    tt_status st = TT_OK;
    tgf_block gn = *d_in;
    const tgf_block *d = d_in;
    memset(out, 0, sizeof(double) * (size_t)tgf_eval_width(np));
    for (int i = 0; i < np && !st; i++)
        if (!(P[i] = tt_scalar(c->theta[i], TT_F64, TT_CPU)) || tg_set_requires_grad(P[i], true))
            st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
    if (!st && F->gauss_newton) { /* y := the predictions at theta, constants: the residuals vanish there */
        bool prev = tg_set_grad_enabled(false);
        gn.y = tgf_model_graph(F->model, F->menv, d_in, P, &ar);
        tg_set_grad_enabled(prev);
        if (!gn.y) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
        d = &gn;
    }
    double total = F->n > BLOCK ? (double)F->n : 0;
    bool prev = tg_set_grad_enabled(true);
    tt_tensor *loss = st ? NULL : tgf_loss_graph(F->model, &F->loss, c->kind, F->menv, F->lenv, d, P, total, &ar);
    if (!st && !loss) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    if (!st) st = tt_item(loss, &out[0]);
    if (!st && isfinite(out[0]) && tg_requires_grad(loss)) {
        st = tg_autograd_grad(1, &loss, NULL, np, P, true, c->hessian, true, G);
        for (int i = 0; i < np && !st; i++)
            if (G[i]) st = tt_item(G[i], &out[1 + i]);
        if (!st && c->hessian) {
            tt_tensor *B[MAX_PARAMS * MAX_PARAMS];
            if (!(st = tg_hessian_from_grads(np, G, P, B))) {
                for (int k = 0; k < np * np; k++) {
                    if (!st) st = tt_item(B[k], &out[1 + np + k]);
                    tt_release(B[k]);
                }
            }
        }
    }
    tg_set_grad_enabled(prev);
    if (!st) st = block_sse(F, d, P, &out[1 + np + np * np], &ar);
    for (int i = 0; i < np; i++) tt_release(G[i]), tt_release(P[i]);
    tgf_arena_free(&ar);
    return st;
}

static tt_status graph_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    (void)start;
    graph_ctx *c = ctx;
    int width = tgf_eval_width(c->F->model->np);
    for (int64_t b = 0; b * BLOCK < count; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        tgf_arena ar = {0};
        tgf_block d;
        tt_status st = block_tensors(c->F, cols, off, m, &d, &ar);
        if (!st) st = graph_block(c, &d, partials + b * width);
        tgf_arena_free(&ar);
        if (st) return st;
    }
    return TT_OK;
}

tt_status tgf_evaluate(tgf_fit *F, const double *theta, tg_loss_kind kind, bool hessian, tgf_eval *e)
{
    int np = F->model->np, width = tgf_eval_width(np);
    double *v = malloc(sizeof *v * (size_t)width);
    if (!v) return tt_set_error(TT_ENOMEM, "out of memory");
    tt_status st;
    int nx = F->stream.data->nx;
    if (F->standardized) {
        tgf_lp_ctx c = {F->model,
                        kind,
                        F->loss.delta / F->tr.sy,
                        F->tr,
                        theta,
                        hessian,
                        nx,
                        F->weighted ? F->stream.ncols - 1 : -1};
        st = tgf_pass(&F->stream, width, tgf_lp_blocks(), NULL, &c, v);
    } else {
        graph_ctx c = {F, kind, theta, hessian};
        st = tgf_pass(&F->stream, width, graph_blocks, NULL, &c, v);
    }
    F->passes++;
    if (!st) {
        tgf_eval_unpack(np, v, e);
        e->has_G = F->standardized;
        double norm = tgf_loss_norm(kind, F->n);
        e->L *= norm;
        for (int i = 0; i < np; i++) e->g[i] *= norm;
        for (int i = 0; i < np * np; i++) e->H[i] *= norm;
        for (int i = 0; i < np; i++) /* symmetrize */
            for (int j = 0; j < i; j++) e->H[i * np + j] = e->H[j * np + i] = (e->H[i * np + j] + e->H[j * np + i]) / 2;
    }
    free(v);
    return st;
}
