/* gd, sgd, momentum and adam: the seeds' raw loop in spec->dtype, one pass
 * over the data per step (sgd: one batch per step).
 *
 * A step evaluates the loss and its gradient at the parameters (rounded to
 * the dtype), block by block: a line with mse, half-mse or sse on the CPU
 * through the backend's fused line_sums kernel (one pass over x and y, no
 * graph), anything else as a libgrad graph on each block (the loss summed
 * over the block, its gradient by reverse mode), the blocks' sums added in
 * the fixed tree and divided as the loss says (mean: by n). Then
 * p.data -= lr * p.grad (or momentum / adam), rounded to the dtype as the
 * tensor ops would.
 *
 * sgd's batches: the data's slices are visited in an order drawn from the
 * seed (a new order each pass over the slices); in each visit,
 * ceil(points / batch) batches are drawn from the slice by a partial
 * Fisher-Yates shuffle of its points (the seed's Philox stream, one draw per
 * batch element, continuing across steps). Data that fits in one slice is
 * read once, and its shuffle carries over from visit to visit: the batches
 * of a fit in memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"
#include "tensor/backend.h"
#include "tg/plan.h"

/* Slices are visited in an order from their own Philox stream, apart from
 * the batch draws. */
#define SLICE_ORDER_KEY 0x9e3779b97f4a7c15ull

static double in_dtype(tt_dtype dt, double v) { return dt == TT_F32 ? (double)(float)v : v; }

/* The new value of a parameter after momentum or adam (state in vel, m1, m2), in double. */
static double adaptive_step(const tg_fit_spec *sp, double before, double g, double lr_t, int64_t step, double *vel,
                            double *m1, double *m2)
{
    if (sp->optimizer == TG_OPT_MOMENTUM) {
        *vel = sp->momentum * *vel + g;
        return before - lr_t * *vel;
    }
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    *m1 = b1 * *m1 + (1 - b1) * g;
    *m2 = b2 * *m2 + (1 - b2) * g * g;
    double mh = *m1 / (1 - pow(b1, (double)step)), vh = *m2 / (1 - pow(b2, (double)step));
    return before - lr_t * mh / (sqrt(vh) + eps);
}

/* The next batch: a partial Fisher-Yates shuffle of perm[0..n). */
static void draw_batch(uint64_t seed, int64_t *perm, int64_t n, int64_t batch, uint64_t *draws)
{
    for (int64_t j = 0; j < batch; j++) {
        double u = tt_philox_uniform(seed, (*draws)++);
        int64_t r = j + (int64_t)(u * (double)(n - j));
        if (r >= n) r = n - 1;
        int64_t t = perm[j];
        perm[j] = perm[r];
        perm[r] = t;
    }
}

typedef struct block_plan block_plan;
typedef struct {
    tgf_fit *F;
    tt_dtype dt;
    tt_device dev;
    const double *theta;
    const tt_backend *fused; /* the backend with line_sums, or NULL: libgrad */
    double total;            /* mean() of an expression loss over the whole data: n; one block: 0 */
    block_plan *plans;       /* per block, when the steps replay (data held whole), else NULL */
} step_ctx;

/* Tensors of m points (dtype and device of the descent) from the columns
 * in the stream's order (x..., y, weights), each from point off. */
static tt_status make_block(const step_ctx *c, double *const *cols, int64_t off, int64_t m, tgf_block *d, tgf_arena *ar)
{
    const tgf_fit *F = c->F;
    int nx = F->stream.data->nx, ncols = F->stream.ncols;
    tt_tensor *t[TGF_MAX_X + 2] = {0};
    for (int k = 0; k < ncols; k++) {
        const double *src = cols[k] + off;
        tt_tensor *h = tt_from_data(1, &m, TT_F64, src, TT_CPU);
        tt_tensor *cast = h ? tt_cast(h, c->dt) : NULL;
        tt_release(h);
        t[k] = cast && c->dev.type != TT_DEVICE_CPU ? tt_to_device(cast, c->dev) : cast ? tt_retain(cast) : NULL;
        tt_release(cast);
        if (!tgf_keep(ar, t[k])) return tt_last_status() ? tt_last_status() : TT_ENOMEM;
    }
    *d = (tgf_block){.n = m, .x = t[0], .y = t[nx], .s = F->weighted ? t[ncols - 1] : NULL};
    for (int j = 0; j < nx; j++) d->xs[j] = t[j];
    return TT_OK;
}

/* Loss summed over m points and its gradient (out: 1 + np doubles), by libgrad. */
static tt_status graph_sums(const step_ctx *c, double *const *cols, int64_t off, int64_t m, double total, double *out)
{
    tgf_fit *F = c->F;
    int np = F->model->np;
    tt_tensor *P[MAX_PARAMS] = {0}, *G[MAX_PARAMS] = {0};
    tgf_arena ar = {0};
    tgf_block d;
    tt_status st = make_block(c, cols, off, m, &d, &ar);
    for (int i = 0; i < np && !st; i++)
        if (!(P[i] = tt_scalar(c->theta[i], c->dt, c->dev)) || tg_set_requires_grad(P[i], true))
            st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
    memset(out, 0, sizeof(double) * (size_t)(1 + np));
    bool prev = tg_set_grad_enabled(true);
    tt_tensor *loss = st ? NULL : tgf_loss_graph(F->model, &F->loss, F->loss.kind, F->menv, F->lenv, &d, P, total, &ar);
    if (!st && !loss) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    if (!st) st = tt_item(loss, &out[0]);
    if (!st && isfinite(out[0]) && tg_requires_grad(loss)) {
        st = tg_autograd_grad(1, &loss, NULL, np, P, false, false, true, G);
        for (int i = 0; i < np && !st; i++)
            if (G[i]) st = tt_item(G[i], &out[1 + i]);
    }
    tg_set_grad_enabled(prev);
    for (int i = 0; i < np; i++) tt_release(G[i]), tt_release(P[i]);
    tgf_arena_free(&ar);
    return st;
}

/* A block's loss and gradient as a plan (tg/plan.h): every full-batch step
 * of a fit whose data the stream holds whole builds the same graph on the
 * same points with other parameter values, so the first step captures it and
 * the others replay its kernels with the parameters bound; the loss and the
 * gradients are read after each replay, outside the plan. */
struct block_plan {
    tg_plan *plan;
    tt_tensor *P[MAX_PARAMS]; /* inputs: the parameters */
    bool bound[MAX_PARAMS];   /* used by the graph (an unused one is no input) */
    tt_tensor *loss, *G[MAX_PARAMS];
    const step_ctx *c; /* the capture's arguments, kept for a re-capture */
    double *cols[TGF_MAX_X + 2];
    int64_t off, m;
    double total;
};

/* The captured step: the block's tensors, the loss graph and its gradient, kept in b. */
static tt_status block_graph(void *ctx)
{
    block_plan *b = ctx;
    tgf_fit *F = b->c->F;
    int np = F->model->np;
    tgf_arena ar = {0};
    tgf_block d;
    tt_status st = make_block(b->c, b->cols, b->off, b->m, &d, &ar);
    bool prev = tg_set_grad_enabled(true);
    tt_tensor *loss =
        st ? NULL : tgf_loss_graph(F->model, &F->loss, F->loss.kind, F->menv, F->lenv, &d, b->P, b->total, &ar);
    if (!st && !loss) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    tt_tensor *G[MAX_PARAMS] = {0};
    if (!st && tg_requires_grad(loss)) st = tg_autograd_grad(1, &loss, NULL, np, b->P, false, false, true, G);
    tg_set_grad_enabled(prev);
    tt_release(b->loss);
    b->loss = st ? NULL : tt_retain(loss);
    for (int i = 0; i < np; i++) tt_release(b->G[i]), b->G[i] = G[i];
    tgf_arena_free(&ar);
    return st;
}

static void block_plan_free(block_plan *b, int np)
{
    tg_plan_free(b->plan);
    tt_release(b->loss);
    for (int i = 0; i < np; i++) tt_release(b->P[i]), tt_release(b->G[i]);
}

/* graph_sums' numbers for block k of a full-batch pass, by replay. */
static tt_status replayed_sums(const step_ctx *c, block_plan *b, double *const *cols, int64_t off, int64_t m,
                               double total, double *out)
{
    int np = c->F->model->np;
    tt_status st = TT_OK;
    if (!b->plan) {
        *b = (block_plan){.c = c, .off = off, .m = m, .total = total};
        for (int k = 0; k < c->F->stream.ncols; k++) b->cols[k] = cols[k];
        for (int i = 0; i < np && !st; i++) /* as graph_sums makes them */
            if (!(b->P[i] = tt_scalar(c->theta[i], c->dt, c->dev)) || tg_set_requires_grad(b->P[i], true))
                st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
        if (!st && !(b->plan = tg_plan_capture(block_graph, b))) st = tt_last_status();
        for (int i = 0; i < np && !st; i++) {
            char name[16];
            snprintf(name, sizeof name, "p%d", i);
            b->bound[i] = tg_plan_input(b->plan, name, b->P[i]) == TT_OK;
            tt_clear_error();
        }
        if (!st) tg_plan_set_recapture(b->plan, true); /* a host read that differs: the step runs eagerly */
    } else {
        for (int i = 0; i < np && !st; i++) {
            if (!b->bound[i]) continue;
            char name[16];
            double v64 = c->theta[i];
            float v32 = (float)v64; /* the fill of tt_scalar rounds so */
            snprintf(name, sizeof name, "p%d", i);
            st = c->dt == TT_F32 ? tg_plan_bind_data(b->plan, name, &v32, sizeof v32)
                                 : tg_plan_bind_data(b->plan, name, &v64, sizeof v64);
        }
        if (!st) st = tg_plan_run(b->plan);
    }
    memset(out, 0, sizeof(double) * (size_t)(1 + np));
    if (!st) st = tt_item(b->loss, &out[0]);
    if (!st && isfinite(out[0]))
        for (int i = 0; i < np && !st; i++)
            if (b->G[i]) st = tt_item(b->G[i], &out[1 + i]);
    return st;
}

/* The loss's sum and its gradient for m points as the fused kernel gives
 * them, per block of `block` points: q, rx, r1 -> sum, dsum/dw, dsum/db. */
static tt_status fused_sums(const step_ctx *c, const double *x, const double *y, const double *s, int64_t m,
                            int64_t block, double *out)
{
    return c->fused->line_sums(c->dt, x, y, s, m, block, c->theta[0], c->theta[1], out);
}

/* sums (q, rx, r1) -> (sum of r^2, d/dw, d/db) of the squared loss */
static void fused_to_loss(double *v)
{
    double q = v[0], rx = v[1], r1 = v[2];
    v[0] = q, v[1] = 2 * rx, v[2] = 2 * r1;
}

static tt_status step_blocks(void *ctx, int64_t start, int64_t count, double *const *cols, double *partials)
{
    const step_ctx *c = ctx;
    const tgf_fit *F = c->F;
    int nx = F->stream.data->nx, np = F->model->np;
    const double *s = F->weighted ? cols[F->stream.ncols - 1] : NULL;
    if (c->fused) {
        tt_status st = fused_sums(c, cols[0], cols[nx], s, count, BLOCK, partials);
        for (int64_t b = 0; !st && b * BLOCK < count; b++) fused_to_loss(partials + 3 * b);
        return st;
    }
    for (int64_t b = 0; b * BLOCK < count; b++) {
        int64_t off = b * BLOCK, m = count - off < BLOCK ? count - off : BLOCK;
        tt_status st = c->plans ? replayed_sums(c, &c->plans[(start + off) / BLOCK], cols, off, m, c->total,
                                                partials + b * (1 + np))
                                : graph_sums(c, cols, off, m, c->total, partials + b * (1 + np));
        if (st) return st;
    }
    return TT_OK;
}

/* sgd's walk through the data (see the top of the file). */
typedef struct {
    int64_t batch, slice_len, nslices, slice_at, visit_left;
    int64_t *perm, *order;
    uint64_t draws, order_draws;
    int64_t order_pos;
    bool whole; /* the data is one slice, read once */
    double *bx; /* a batch: the stream's columns (x..., y, s), batch values each */
    double *bcols[TGF_MAX_X + 2];
} sgd_walk;

static tt_status sgd_open(tgf_fit *F, sgd_walk *w, int64_t batch)
{
    tgf_stream *s = &F->stream;
    memset(w, 0, sizeof *w);
    w->batch = batch;
    w->whole = F->n <= s->slice;
    w->slice_len = w->whole ? F->n : s->slice;
    w->nslices = (F->n + w->slice_len - 1) / w->slice_len;
    w->perm = malloc(sizeof *w->perm * (size_t)w->slice_len);
    w->order = malloc(sizeof *w->order * (size_t)w->nslices);
    w->bx = malloc(sizeof *w->bx * (size_t)batch * (size_t)s->ncols);
    if (!w->perm || !w->order || !w->bx) return tt_set_error(TT_ENOMEM, "out of memory");
    for (int k = 0; k < s->ncols; k++) w->bcols[k] = w->bx + (size_t)k * (size_t)batch;
    w->order_pos = w->nslices; /* a new order first */
    if (w->whole) {
        for (int64_t i = 0; i < F->n; i++) w->perm[i] = i;
        return tgf_stream_read(s, 0, F->n);
    }
    return TT_OK;
}

static void sgd_close(sgd_walk *w)
{
    free(w->perm);
    free(w->order);
    free(w->bx);
}

/* The next batch into w->bx (x, y, s); *m its points. */
static tt_status sgd_next(tgf_fit *F, sgd_walk *w, uint64_t seed, int64_t *m)
{
    tgf_stream *s = &F->stream;
    int64_t len = w->whole ? F->n : 0;
    if (!w->whole) {
        int64_t k = w->slice_at;
        if (w->visit_left == 0) {
            if (w->order_pos == w->nslices) { /* a new order of the slices */
                for (int64_t i = 0; i < w->nslices; i++) w->order[i] = i;
                for (int64_t i = 0; i + 1 < w->nslices; i++) {
                    double u = tt_philox_uniform(seed ^ SLICE_ORDER_KEY, w->order_draws++);
                    int64_t r = i + (int64_t)(u * (double)(w->nslices - i));
                    if (r >= w->nslices) r = w->nslices - 1;
                    int64_t t = w->order[i];
                    w->order[i] = w->order[r];
                    w->order[r] = t;
                }
                w->order_pos = 0;
            }
            k = w->slice_at = w->order[w->order_pos++];
            len = F->n - k * w->slice_len < w->slice_len ? F->n - k * w->slice_len : w->slice_len;
            tt_status st = tgf_stream_read(s, k * w->slice_len, len);
            if (st) return st;
            for (int64_t i = 0; i < len; i++) w->perm[i] = i;
            w->visit_left = (len + w->batch - 1) / w->batch;
        }
        len = F->n - k * w->slice_len < w->slice_len ? F->n - k * w->slice_len : w->slice_len;
        w->visit_left--;
    }
    int64_t b = w->batch < len ? w->batch : len;
    draw_batch(seed, w->perm, len, b, &w->draws);
    for (int64_t j = 0; j < b; j++)
        for (int k = 0; k < s->ncols; k++) w->bcols[k][j] = s->cols[k][w->perm[j]];
    *m = b;
    return TT_OK;
}

int64_t tgf_descent_steps(tgf_fit *F, int64_t batch)
{
    tgf_stream *s = &F->stream;
    int64_t slice_len = F->n <= s->slice ? F->n : s->slice, total = 0;
    for (int64_t at = 0; at < F->n; at += slice_len) {
        int64_t len = F->n - at < slice_len ? F->n - at : slice_len;
        total += (len + batch - 1) / batch;
    }
    return total;
}

tt_status tgf_descend(tgf_fit *F, double *theta, double lr, int64_t maxsteps, double tol)
{
    const tg_fit_spec *sp = F->sp;
    tt_dtype dt = sp->dtype;
    int np = F->model->np;
    tg_loss_kind lk = F->loss.kind;
    const tt_backend *cpu = tt_backend_for(TT_DEVICE_CPU);
    tt_status st = TT_OK;
    bool squared = lk == TG_LOSS_MSE || lk == TG_LOSS_HALF_MSE || lk == TG_LOSS_SSE;
    bool fusable = F->model->kind == TG_MODEL_LINE && F->model->nx == 1 && squared &&
                   sp->device.type == TT_DEVICE_CPU && !sp->autograd_only && cpu && cpu->line_sums;
    int64_t batch = sp->optimizer == TG_OPT_SGD && sp->batch > 0 && sp->batch < F->n ? sp->batch : F->n;
    double p[MAX_PARAMS];
    for (int i = 0; i < np; i++) p[i] = in_dtype(dt, theta[i]);
    step_ctx c = {F, dt, sp->device, p, fusable ? cpu : NULL, F->n > BLOCK ? (double)F->n : 0, NULL};
    int width = fusable ? 3 : 1 + np;
    sgd_walk w = {0};
    /* full-batch steps over data held whole replay their graphs (same bits, less work) */
    int64_t nblocks = (F->n + BLOCK - 1) / BLOCK;
    if (!fusable && batch == F->n && F->n <= F->stream.cap && !(c.plans = calloc((size_t)nblocks, sizeof *c.plans))) {
        st = tt_set_error(TT_ENOMEM, "out of memory");
        goto out;
    }

    if (batch < F->n && (st = sgd_open(F, &w, batch))) goto out;
    double vel[MAX_PARAMS] = {0}, m1[MAX_PARAMS] = {0}, m2[MAX_PARAMS] = {0}, Lprev = NAN, sums[1 + MAX_PARAMS];
    F->stop = TG_STOP_STEPS;
    for (int64_t step = 1; step <= maxsteps; step++) {
        double lr_t = lr / (1 + sp->lr_decay * (double)(step - 1));
        int64_t m = F->n;
        if (batch < F->n) { /* one batch, evaluated whole */
            if ((st = sgd_next(F, &w, sp->seed, &m))) break;
            const double *bs = F->weighted ? w.bcols[F->stream.ncols - 1] : NULL;
            if (fusable) {
                st = fused_sums(&c, w.bcols[0], w.bcols[1], bs, m, m, sums);
                fused_to_loss(sums);
            } else {
                st = graph_sums(&c, w.bcols, 0, m, 0, sums);
            }
        } else {
            st = tgf_pass(&F->stream, width, step_blocks, NULL, &c, sums);
            F->passes++;
        }
        if (st) break;
        double norm = tgf_loss_norm(lk, m), L = in_dtype(dt, sums[0] * norm), g[MAX_PARAMS], before[MAX_PARAMS];
        for (int i = 0; i < np; i++) g[i] = in_dtype(dt, sums[1 + i] * norm), before[i] = p[i];
        if (!isfinite(L)) {
            tgf_diverged(F, step, L);
            break;
        }
        for (int i = 0; i < np; i++)
            p[i] = sp->optimizer == TG_OPT_MOMENTUM || sp->optimizer == TG_OPT_ADAM
                       ? in_dtype(dt, adaptive_step(sp, before[i], g[i], lr_t, step, &vel[i], &m1[i], &m2[i]))
                       : in_dtype(dt, before[i] - in_dtype(dt, g[i] * in_dtype(dt, lr_t))); /* p.data -= lr * p.grad */
        bool stop = tgf_after_step(F, step, L, before, Lprev, tgf_norm2(np, g), tol);
        Lprev = L;
        if (stop) break;
    }
    memcpy(theta, p, sizeof(double) * (size_t)np);
out:
    for (int64_t k = 0; c.plans && k < nblocks; k++) block_plan_free(&c.plans[k], np);
    free(c.plans);
    sgd_close(&w);
    return st;
}
