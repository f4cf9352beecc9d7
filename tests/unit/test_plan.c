/* Capture and replay (tg/plan.h): a replayed loop gives the eager loop's bits
 * (the seeds' training loops, random op chains; on the CPU and on Vulkan),
 * each guard fires on its change with its message, a plan keeps its buffers
 * past the tensors of the step, and an op whose result's size depends on the
 * data is refused.
 *
 * Every loop is a step function over a state; run_loop runs it eagerly for
 * every step, or eagerly once, captured once and replayed for the rest, with
 * the same C around it (fresh inputs, a stop test on the loss read after the
 * step). The parameters at the end must be equal bit for bit. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "tg/plan.h"
#include "backend/vulkan.h"

static tt_device DEV; /* the device of the loops being run */
static char no_vk[400];

static bool same_bits(const tt_tensor *a, const tt_tensor *b)
{
    if (!a || !b || tt_numel(a) != tt_numel(b) || a->dtype != b->dtype) return false;
    size_t n = (size_t)tt_numel(a) * tt_dtype_size(a->dtype);
    char *x = malloc(n + 1), *y = malloc(n + 1);
    bool same = x && y && !tt_to_host(a, a->dtype, x) && !tt_to_host(b, b->dtype, y) && !memcmp(x, y, n);
    free(x);
    free(y);
    return same;
}

/* ---- a loop's state and the driver ------------------------------------------------- */
typedef struct loop loop;
struct loop {
    tt_tensor *p[4];  /* parameters (leaves that require grad) */
    tt_tensor *pd[4]; /* their .data */
    int np;
    tt_tensor *in[2]; /* inputs made before the capture, refilled by the loop */
    const char *in_name[2];
    int nin;
    tt_tensor *loss; /* the last step's loss (kept by the step) */
    double lr;
    uint64_t seed;
    int op[16]; /* random chains: the ops */
    int nop;
    /* fresh data for input k at step i (NULL: the step draws or has fixed data) */
    void (*fill)(loop *L, int k, long i, float *host);
};

typedef tt_status (*step_fn)(void *ctx);

static void keep_loss(loop *L, tt_tensor *loss)
{
    tt_release(L->loss);
    L->loss = loss;
}

static void loop_free(loop *L)
{
    for (int i = 0; i < L->np; i++) tt_release(L->pd[i]), tt_release(L->p[i]);
    for (int i = 0; i < 2; i++) tt_release(L->in[i]);
    tt_release(L->loss);
    memset(L, 0, sizeof *L);
}

static void add_param(loop *L, tt_tensor *t)
{
    tg_set_requires_grad(t, true);
    L->pd[L->np] = tg_data(t);
    L->p[L->np++] = t;
}

/* Runs `steps` steps of step over L: all eager, or (replay) step 0 eager, step
 * 1 captured, the rest replayed. Inputs get fresh data before each step; when
 * stop_below is positive the loop ends after the step whose loss is under it
 * (a read outside the step, the same in both). Returns the steps run, -1 on
 * an error (reported). */
static long run_loop(loop *L, step_fn step, long steps, bool replay, double stop_below, int *kernels)
{
    tg_plan *plan = NULL;
    long i = 0;
    float host[1024];
    for (; i < steps; i++) {
        for (int k = 0; k < L->nin && L->fill; k++) {
            int64_t n = tt_numel(L->in[k]);
            L->fill(L, k, i, host);
            if (plan) {
                if (tg_plan_bind_data(plan, L->in_name[k], host, sizeof(float) * (size_t)n)) goto fail;
            } else {
                tt_tensor *v = tt_from_data(L->in[k]->ndim, L->in[k]->shape, TT_F32, host, DEV), *d = tg_data(L->in[k]);
                tt_status st = v && d ? tt_copy_(d, v) : TT_ERUNTIME;
                tt_release(v);
                tt_release(d);
                if (st) goto fail;
            }
        }
        if (!replay || i == 0) {
            if (step(L)) goto fail;
        } else if (!plan) {
            if (!(plan = tg_plan_capture(step, L))) goto fail;
            for (int k = 0; k < L->nin; k++)
                if (tg_plan_input(plan, L->in_name[k], L->in[k])) goto fail;
            if (kernels) *kernels = tg_plan_num_kernels(plan);
        } else if (tg_plan_run(plan)) goto fail;
        double loss;
        if (stop_below > 0 && (tt_item(L->loss, &loss) || loss < stop_below)) break;
    }
    tg_plan_free(plan);
    return i;
fail:
    FAILF("step %ld: %s", i, tt_last_error());
    tg_plan_free(plan);
    return -1;
}

/* The same loop, eager and replayed, from the same start: the same bits. */
static void check_replay_equals_eager(void (*init)(loop *), step_fn step, long steps, double stop_below,
                                      int min_kernels)
{
    loop E = {0}, R = {0};
    tt_manual_seed(7);
    init(&E);
    long ne = run_loop(&E, step, steps, false, stop_below, NULL);
    tt_manual_seed(7);
    init(&R);
    int kernels = 0;
    long nr = run_loop(&R, step, steps, true, stop_below, &kernels);
    CHECK(ne > 2 && ne == nr);
    CHECK(kernels >= min_kernels);
    for (int i = 0; i < E.np; i++)
        if (!same_bits(E.p[i], R.p[i])) {
            double a = NAN, b = NAN;
            if (tt_numel(E.p[i]) == 1) tt_item(E.p[i], &a), tt_item(R.p[i], &b);
            FAILF("parameter %d differs: eager %.17g, replayed %.17g", i, a, b);
        }
    CHECK(same_bits(E.loss, R.loss));
    if (E.np && tt_device_of(R.p[0]).type != DEV.type) FAILF("the parameters left their device");
    loop_free(&E);
    loop_free(&R);
}

/* tt_release for the step's temporaries */
static void release_all(tt_tensor **t, int n)
{
    for (int i = 0; i < n; i++) tt_release(t[i]);
}
#define RELEASE(...) \
    release_all((tt_tensor *[]){__VA_ARGS__}, (int)(sizeof((tt_tensor *[]){__VA_ARGS__}) / sizeof(void *)))
#define OK_OR(x) ((x) ? TT_OK : tt_last_status())

/* ---- seed 000: batch 8 of fresh random data each step, x.mm(w) + b --------------------- */
static void init000(loop *L)
{
    int64_t s11[2] = {1, 1};
    add_param(L, tt_rand(2, s11, TT_F32, DEV, NULL));
    add_param(L, tt_zeros(2, s11, TT_F32, DEV));
    L->lr = 0.001;
}
static tt_status step000(void *ctx)
{
    loop *L = ctx;
    int64_t s81[2] = {8, 1};
    tt_tensor *u = tt_rand(2, s81, TT_F32, DEV, NULL), *x = tt_mul_scalar(u, 20);
    tt_tensor *n = tt_randn(2, s81, TT_F32, DEV, NULL), *n1 = tt_add_scalar(n, 1), *n3 = tt_mul_scalar(n1, 3);
    tt_tensor *x2 = tt_mul_scalar(x, 2), *y = tt_add(x2, n3);
    tt_tensor *xw = tg_mm(x, L->p[0]), *be = tg_expand(L->p[1], 2, s81), *yp = tg_add(xw, be);
    tt_tensor *d = tg_sub(yp, y), *d2 = tg_pow_scalar(d, 2), *h = tg_mul_scalar(d2, 0.5), *loss = tg_sum(h);
    tt_status st = loss ? tg_backward(loss, NULL, false, false) : tt_last_status();
    tt_tensor *gw = st ? NULL : tt_mul_scalar(tg_get_grad(L->p[0]), L->lr);
    tt_tensor *gb = st ? NULL : tt_mul_scalar(tg_get_grad(L->p[1]), L->lr);
    if (!st) st = gw && gb ? TT_OK : tt_last_status();
    if (!st) st = tt_sub_(L->pd[0], gw);
    if (!st) st = tt_sub_(L->pd[1], gb);
    if (!st) st = tg_zero_grad(L->p[0]);
    if (!st) st = tg_zero_grad(L->p[1]);
    keep_loss(L, loss);
    RELEASE(u, x, n, n1, n3, x2, y, xw, be, yp, d, d2, h, gw, gb);
    return st;
}
/* Shorter loops under valgrind (lavapipe is slow there); the same checks. */
#define STEPS(n) (RUNNING_ON_VALGRIND ? (n) / 20 + 3 : (n))
TEST(seed000_loop) { check_replay_equals_eager(init000, step000, STEPS(300), 0, 10); }

/* ---- seed 001: 500 fixed points, b a float64 scalar, w.data = w.data - lr * w.grad ----- */
static void init001(loop *L)
{
    int64_t s[2] = {500, 1}, s11[2] = {1, 1};
    tt_tensor *x = tt_rand(2, s, TT_F32, DEV, NULL), *x3 = tt_mul_scalar(x, 3), *y = tt_add_scalar(x3, 0.8);
    L->in[0] = x, L->in[1] = y, L->nin = 0; /* fixed data: held, not refilled */
    tt_release(x3);
    add_param(L, tt_rand(2, s11, TT_F32, DEV, NULL));
    add_param(L, tt_scalar(0, TT_F64, DEV));
    L->lr = 0.01;
}
static tt_status step001(void *ctx)
{
    loop *L = ctx;
    tt_tensor *xw = tg_matmul(L->in[0], L->p[0]), *yp = tg_add(xw, L->p[1]);
    tt_tensor *d = tg_sub(L->in[1], yp), *d2 = tg_pow_scalar(d, 2), *loss = tg_mean(d2);
    tt_status st = OK_OR(loss);
    for (int i = 0; i < 2 && !st; i++) /* "if w.grad is not None: w.grad.data.zero_()" */
        if (tg_get_grad(L->p[i])) st = tg_zero_grad(L->p[i]);
    if (!st) st = tg_backward(loss, NULL, false, false);
    for (int i = 0; i < 2 && !st; i++) { /* w.data = w.data - lr * w.grad */
        tt_tensor *g = tt_mul_scalar(tg_get_grad(L->p[i]), L->lr), *nw = g ? tt_sub(L->pd[i], g) : NULL;
        st = nw ? tt_copy_(L->pd[i], nw) : tt_last_status();
        RELEASE(g, nw);
    }
    keep_loss(L, loss);
    RELEASE(xw, yp, d, d2);
    return st;
}
TEST(seed001_loop) { check_replay_equals_eager(init001, step001, STEPS(200), 0, 8); }

/* ---- seed 002: loss = mean((a X - Y + b)^2 / (a^2 + 1)), updates under no_grad -------- */
static void fill002(loop *L, int k, long i, float *host)
{
    (void)L;
    for (int j = 0; j < 100; j++) { /* the noisy line, a new noise draw per step (k = 0: X, 1: Y) */
        double x = j, noise = sin(1e3 * (double)(i * 131 + j * 7 + k)) * 2;
        host[j] = (float)(k == 0 ? x + noise : 2.5 * x + 1 + noise);
    }
}
static void init002(loop *L)
{
    int64_t n = 100;
    L->in[0] = tt_zeros(1, &n, TT_F32, DEV), L->in[1] = tt_zeros(1, &n, TT_F32, DEV);
    L->in_name[0] = "X", L->in_name[1] = "Y";
    L->nin = 2;
    L->fill = fill002;
    int64_t one = 1;
    add_param(L, tt_zeros(1, &one, TT_F32, DEV));
    add_param(L, tt_zeros(1, &one, TT_F32, DEV));
    L->lr = 1e-5;
}
static tt_status step002(void *ctx)
{
    loop *L = ctx;
    tt_tensor *ax = tg_mul(L->p[0], L->in[0]), *r = tg_sub(ax, L->in[1]), *r2 = tg_add(r, L->p[1]);
    tt_tensor *num = tg_pow_scalar(r2, 2), *a2 = tg_pow_scalar(L->p[0], 2), *den = tg_add_scalar(a2, 1);
    tt_tensor *q = tg_div(num, den), *loss = tg_mean(q);
    tt_status st = loss ? tg_backward(loss, NULL, false, false) : tt_last_status();
    bool prev = tg_set_grad_enabled(false); /* with torch.no_grad(): iA -= lr * iA.grad */
    for (int i = 0; i < 2 && !st; i++) {
        tt_tensor *g = tt_mul_scalar(tg_get_grad(L->p[i]), L->lr);
        st = g ? tg_sub_(L->p[i], g) : tt_last_status();
        tt_release(g);
        if (!st) st = tg_zero_grad(L->p[i]);
    }
    tg_set_grad_enabled(prev);
    keep_loss(L, loss);
    RELEASE(ax, r, r2, num, a2, den, q);
    return st;
}
TEST(seed002_loop) { check_replay_equals_eager(init002, step002, STEPS(300), 0, 12); }

/* ---- seed 003: y = 2x + (5 + randn(20, 1)), stop when the loss is small ---------------- */
static void init003(loop *L)
{
    int64_t s[2] = {20, 1}, one = 1;
    tt_tensor *x0 = tt_rand(2, s, TT_F32, DEV, NULL), *x = tt_mul_scalar(x0, 5), *n = tt_randn(2, s, TT_F32, DEV, NULL);
    tt_tensor *n5 = tt_add_scalar(n, 5), *x2 = tt_mul_scalar(x, 2), *y = tt_add(x2, n5);
    L->in[0] = x, L->in[1] = y; /* fixed data, held */
    RELEASE(x0, n, n5, x2);
    add_param(L, tt_ones(1, &one, TT_F32, DEV));
    add_param(L, tt_ones(1, &one, TT_F32, DEV));
    L->lr = 0.01;
}
static tt_status step003(void *ctx)
{
    loop *L = ctx;
    tt_tensor *xw = tg_mul(L->in[0], L->p[0]), *yp = tg_add(xw, L->p[1]);
    tt_tensor *d = tg_sub(yp, L->in[1]), *d2 = tg_pow_scalar(d, 2), *loss = tg_mean(d2);
    tt_status st = loss ? tg_backward(loss, NULL, false, false) : tt_last_status();
    for (int i = 0; i < 2 && !st; i++) { /* w.data -= lr * w.grad; w.grad.data.zero_() */
        tt_tensor *g = tt_mul_scalar(tg_get_grad(L->p[i]), L->lr);
        st = g ? tt_sub_(L->pd[i], g) : tt_last_status();
        tt_release(g);
        if (!st) st = tg_zero_grad(L->p[i]);
    }
    keep_loss(L, loss);
    RELEASE(xw, yp, d, d2);
    return st;
}
TEST(seed003_loop_with_stop) { check_replay_equals_eager(init003, step003, RUNNING_ON_VALGRIND ? 40 : 5000, 1.2, 8); }

/* ---- draws from two generators, float32 and float64, whole and partial blocks ------------ */
static tt_generator own_gen; /* besides the thread's default */
static void init_draws(loop *L)
{
    int64_t s34[2] = {3, 4}, s5 = 5;
    own_gen = (tt_generator){11, 3};
    add_param(L, tt_rand(2, s34, TT_F32, DEV, NULL));
    add_param(L, tt_rand(1, &s5, TT_F64, DEV, &own_gen));
    L->lr = 0.01;
}
static tt_status step_draws(void *ctx)
{
    loop *L = ctx;
    int64_t s34[2] = {3, 4}, s5 = 5;
    /* the second draw of own_gen starts 12 past its offset at the step's start, the default's 5 past */
    tt_tensor *a = tt_rand(2, s34, TT_F32, DEV, &own_gen), *b = tt_randn(1, &s5, TT_F64, DEV, NULL);
    tt_tensor *c = tt_randn(2, s34, TT_F32, DEV, &own_gen), *d = tt_randn(2, s34, TT_F32, DEV, NULL);
    tt_tensor *e = tt_rand(1, &s5, TT_F64, DEV, NULL);
    tt_tensor *ac = a && c ? tt_mul(a, c) : NULL, *acd = ac && d ? tt_add(ac, d) : NULL;
    tt_tensor *h = acd ? tg_mul(L->p[0], acd) : NULL, *be = b && e ? tt_sub(b, e) : NULL;
    tt_tensor *k = be ? tg_mul(L->p[1], be) : NULL;
    tt_tensor *l0 = h ? tg_mean(h) : NULL, *l1 = k ? tg_sum(k) : NULL, *l0d = l0 ? tg_cast(l0, TT_F64) : NULL;
    tt_tensor *loss = l0d && l1 ? tg_add(l0d, l1) : NULL;
    tt_status st = loss ? tg_backward(loss, NULL, false, false) : tt_last_status();
    for (int i = 0; i < 2 && !st; i++) {
        tt_tensor *gl = tt_mul_scalar(tg_get_grad(L->p[i]), L->lr);
        st = gl ? tt_sub_(L->pd[i], gl) : tt_last_status();
        tt_release(gl);
        if (!st) st = tg_zero_grad(L->p[i]);
    }
    RELEASE(a, b, c, d, e, ac, acd, h, be, k, l0, l1, l0d);
    keep_loss(L, loss);
    return st;
}
TEST(draws_from_two_generators)
{
    check_replay_equals_eager(init_draws, step_draws, STEPS(50), 0, 5);
    tt_generator after_replay = own_gen;
    CHECK(after_replay.seed == 11 && after_replay.offset == 3 + 5 + (uint64_t)STEPS(50) * 24);
}

/* ---- random op chains: a fixed random graph over a fresh input each step --------------- */
static uint64_t lcg;
static uint32_t next_rand(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg >> 33);
}
static void fill_chain(loop *L, int k, long i, float *host)
{
    (void)L, (void)k;
    for (int j = 0; j < 12; j++) host[j] = (float)sin((double)(i * 12 + j) * 0.7) * 1.5f;
}
static int chain_seed;
static void init_chain(loop *L)
{
    int64_t s34[2] = {3, 4}, s4 = 4;
    lcg = (uint64_t)chain_seed * 2654435761u + 1;
    L->in[0] = tt_zeros(2, s34, TT_F32, DEV);
    L->in_name[0] = "x";
    L->nin = 1;
    L->fill = fill_chain;
    tt_tensor *a = tt_rand(2, s34, TT_F32, DEV, NULL), *b = tt_rand(1, &s4, TT_F32, DEV, NULL);
    add_param(L, a);
    add_param(L, b);
    L->nop = 6 + (int)(next_rand() % 8);
    bool uses_param = false;
    for (int i = 0; i < L->nop; i++) {
        L->op[i] = (int)(next_rand() % 14);
        uses_param |= L->op[i] == 0 || L->op[i] == 1 || L->op[i] == 6 || L->op[i] == 8;
    }
    if (!uses_param) L->op[L->nop - 1] = 1; /* a loss that depends on a parameter */
    L->lr = 0.01;
}
static tt_status step_chain(void *ctx)
{
    loop *L = ctx;
    tt_tensor *h = tt_retain(L->in[0]), *first = NULL; /* the first intermediate, read again by op 12 */
    for (int i = 0; i < L->nop && h; i++) {
        tt_tensor *n = NULL;
        switch (L->op[i]) {
        case 0: n = tg_mul(h, L->p[0]); break;
        case 1: n = tg_add(h, L->p[1]); break; /* broadcast over rows */
        case 2: n = tg_tanh(h); break;
        case 3: n = tg_sigmoid(h); break;
        case 4: n = tg_sin(h); break;
        case 5: n = tg_mul_scalar(h, 0.5); break;
        case 6: n = tg_sub(L->p[0], h); break;
        case 7: n = tg_exp(h); break;
        case 8: n = tg_div(h, L->p[0]); break;
        case 9: n = tg_pow_scalar(h, 2); break;
        case 10: {
            int dim = 0;
            tt_tensor *s = tg_sum_dims(h, &dim, 1, true); /* [1, 4], broadcast back */
            n = s ? tg_mul(h, s) : NULL;
            tt_release(s);
            break;
        }
        case 11: n = tg_clamp(h, -1, 1); break;
        case 12: n = tg_mul(h, first ? first : h); break; /* an earlier intermediate, read later */
        case 13: {                                        /* one column of an intermediate, broadcast */
            tt_tensor *col = tg_slice(h, 1, 2, 3, 1);
            n = col ? tg_sub(h, col) : NULL;
            tt_release(col);
            break;
        }
        }
        if (!first && n) first = tt_retain(n);
        tt_release(h);
        h = n;
    }
    tt_tensor *loss = h ? tg_mean(h) : NULL;
    tt_release(h);
    tt_release(first);
    tt_status st = loss ? tg_backward(loss, NULL, false, false) : tt_last_status();
    for (int i = 0; i < 2 && !st; i++) {
        tt_tensor *g = tg_get_grad(L->p[i]);
        if (!g) continue; /* a parameter the chain did not use */
        tt_tensor *gl = tt_mul_scalar(g, L->lr);
        st = gl ? tt_sub_(L->pd[i], gl) : tt_last_status();
        tt_release(gl);
        if (!st) st = tg_zero_grad(L->p[i]);
    }
    keep_loss(L, loss);
    return st;
}
TEST(random_op_chains)
{
    int chains = RUNNING_ON_VALGRIND ? 3 : 24; /* fewer under valgrind: lavapipe is slow there */
    for (chain_seed = 1; chain_seed <= chains && !check_failed_here; chain_seed++) {
        check_replay_equals_eager(init_chain, step_chain, RUNNING_ON_VALGRIND ? 8 : 40, 0, 3);
        if (check_failed_here) printf("#   chain seed %d\n", chain_seed);
    }
}

/* Seed 000's step captured after one eager step (a steady state); NULL, the
 * loop freed, when the capture failed. */
static tg_plan *capture000(loop *L)
{
    tt_manual_seed(5);
    init000(L);
    CHECK(step000(L) == TT_OK);
    tg_plan *p = tg_plan_capture(step000, L);
    CHECK(p != NULL);
    if (!p) loop_free(L);
    return p;
}

/* ---- fusion ------------------------------------------------------------------------ */
/* On the CPU, runs of consecutive elementwise calls replay fused (fewer
 * dispatches than calls); on Vulkan every call stays a dispatch of its own. */
TEST(fusion_happens)
{
    loop L = {0};
    tg_plan *p = capture000(&L);
    if (!p) return;
    int k = tg_plan_num_kernels(p), d = tg_plan_num_dispatches(p);
    if (DEV.type == TT_DEVICE_CPU && !(d < k / 2)) FAILF("%d dispatches for %d kernel calls: not fused", d, k);
    if (DEV.type != TT_DEVICE_CPU && d != k) FAILF("%d dispatches for %d kernel calls on %s", d, k, "vulkan");
    tg_plan_free(p);
    loop_free(&L);
}

/* Long elementwise chains (3000 elements: fused block by block on the CPU)
 * over a fresh input each step: intermediates read again later, an in-place
 * update, a broadcast of one element of an intermediate and shifted views
 * (which a block-by-block run would read before they are written). Every
 * result is compared bit for bit with the eager step's, after every step. */
typedef struct {
    tt_tensor *x, *out[4];
} long_chain;
static tt_status step_long_chain(void *ctx)
{
    long_chain *C = ctx;
    int64_t n = tt_numel(C->x);
    tt_tensor *a = tt_mul_scalar(C->x, 2), *b = a ? tt_add_scalar(a, 1) : NULL, *c = b ? tt_mul(b, a) : NULL;
    tt_status st = c ? tt_sub_(c, C->x) : tt_last_status(); /* in place */
    tt_tensor *first = st ? NULL : tt_slice(c, 0, 0, 1, 1); /* in place, minus its own first element */
    if (!st) st = first ? tt_sub_(c, first) : tt_last_status();
    tt_tensor *last = st ? NULL : tt_slice(c, 0, n - 1, n, 1), *e = last ? tt_div(c, last) : NULL;
    tt_tensor *lo = e ? tt_slice(e, 0, 0, n - 1, 1) : NULL, *hi = e ? tt_slice(e, 0, 1, n, 1) : NULL;
    tt_tensor *f = lo && hi ? tt_sub(hi, lo) : NULL, *f0 = f ? tt_slice(f, 0, n - 2, n - 1, 1) : NULL;
    tt_tensor *g = f0 ? tt_mul(f, f0) : NULL, *g2 = g ? tt_pow_scalar(g, 2) : NULL;
    tt_tensor *h = g2 ? tt_tanh(g2) : NULL;
    if (!st && !h) st = tt_last_status();
    tt_tensor *keep[4] = {a, c, e, h ? tt_sub(h, g) : NULL};
    for (int i = 0; i < 4; i++) {
        tt_release(C->out[i]);
        C->out[i] = tt_retain(keep[i]);
    }
    if (!st && !keep[3]) st = tt_last_status();
    RELEASE(a, b, c, first, last, e, lo, hi, f, f0, g, g2, h, keep[3]);
    return st;
}
TEST(long_chains_fused)
{
    int64_t n = 3000;
    long_chain E = {tt_zeros(1, &n, TT_F32, DEV), {0}}, R = {tt_zeros(1, &n, TT_F32, DEV), {0}};
    float host[3000];
    tg_plan *p = NULL;
    for (int step = 0; step < 6 && !check_failed_here; step++) {
        for (int j = 0; j < n; j++) host[j] = (float)sin((double)(step * n + j) * 0.013) * 0.9f;
        tt_tensor *v = tt_from_data(1, &n, TT_F32, host, DEV);
        CHECK(v && tt_copy_(E.x, v) == TT_OK);
        if (!p) CHECK(tt_copy_(R.x, v) == TT_OK);
        else CHECK(tg_plan_bind_data(p, "x", host, sizeof host) == TT_OK);
        tt_release(v);
        CHECK(step_long_chain(&E) == TT_OK);
        if (step == 0) CHECK(step_long_chain(&R) == TT_OK);
        else if (!p) {
            p = tg_plan_capture(step_long_chain, &R);
            CHECK(p && tg_plan_input(p, "x", R.x) == TT_OK);
            if (!p) break;
            if (DEV.type == TT_DEVICE_CPU && tg_plan_num_dispatches(p) >= tg_plan_num_kernels(p))
                FAILF("%d dispatches for %d kernel calls: not fused", tg_plan_num_dispatches(p),
                      tg_plan_num_kernels(p));
        } else CHECK(tg_plan_run(p) == TT_OK);
        for (int i = 0; i < 4; i++)
            if (!same_bits(E.out[i], R.out[i])) FAILF("step %d: result %d differs from the eager step's", step, i);
    }
    tg_plan_free(p);
    RELEASE(E.x, R.x, E.out[0], E.out[1], E.out[2], E.out[3], R.out[0], R.out[1], R.out[2], R.out[3]);
}

/* ---- guards ------------------------------------------------------------------------ */
/* A step that reads a value back and branches on it: y = x * 2 when sum(x) > 0, else x - 1. */
typedef struct {
    tt_tensor *x, *y;
    int eager_steps;
} branchy;
static tt_status step_branch(void *ctx)
{
    branchy *B = ctx;
    double s;
    tt_tensor *sum = tt_sum(B->x);
    tt_status st = sum ? tt_item(sum, &s) : tt_last_status();
    tt_release(sum);
    if (st) return st;
    tt_tensor *y = s > 0 ? tt_mul_scalar(B->x, 2) : tt_add_scalar(B->x, -1);
    if (!y) return tt_last_status();
    tt_release(B->y);
    B->y = y;
    B->eager_steps++;
    return TT_OK;
}

TEST(guard_shape_dtype_device)
{
    int64_t s3 = 3, s4 = 4;
    branchy B = {tt_ones(1, &s3, TT_F32, DEV), NULL, 0};
    tg_plan *p = tg_plan_capture(step_branch, &B);
    CHECK(p && tg_plan_input(p, "x", B.x) == TT_OK);
    if (!p) return;
    tt_tensor *v4 = tt_ones(1, &s4, TT_F32, DEV), *v64 = tt_ones(1, &s3, TT_F64, DEV);
    CHECK_ERR(tg_plan_bind(p, "x", v4), TT_ESHAPE,
              "input 'x' was captured with shape [3], cannot bind a value of shape [4]");
    CHECK_ERR(tg_plan_bind(p, "x", v64), TT_EDTYPE,
              "input 'x' was captured as float32, cannot bind a value of dtype float64");
    CHECK_ERR(tg_plan_bind_data(p, "x", (float[4]){0}, 16), TT_ESHAPE, "input 'x' holds 12 bytes, cannot bind 16");
    CHECK_ERR(tg_plan_bind(p, "z", v4), TT_EINVAL, "the plan has no input named 'z'");
    CHECK_ERR(tg_plan_input(p, "x", B.x), TT_EINVAL, "the plan already has an input named 'x'");
    CHECK_ERR(tg_plan_input(p, "v", v4), TT_EINVAL, "input 'v': the captured step did not use this tensor");
    CHECK_ERR(tg_plan_input(p, "y", B.y), TT_EINVAL, "input 'y': the captured step itself writes this tensor (mul)");
    if (!no_vk[0] && DEV.type == TT_DEVICE_CPU) {
        tt_tensor *vk = tt_ones(1, &s3, TT_F32, (tt_device){TT_DEVICE_VULKAN, 0});
        CHECK_ERR(tg_plan_bind(p, "x", vk), TT_EDEVICE,
                  "input 'x' was captured on cpu, cannot bind a value on vulkan:0");
        tt_release(vk);
    }
    /* a good bind, then a replay on it: y = 2 x (the same sum as captured: the guard passes) */
    tt_tensor *v = tt_from_data(1, &s3, TT_F32, (float[]){0.5f, 1, 1.5f}, DEV);
    CHECK(tg_plan_bind(p, "x", v) == TT_OK && tg_plan_run(p) == TT_OK);
    CHECK_VALUES(B.y, ((double[]){1, 2, 3}), 3, 0);
    CHECK(tg_plan_bind_tensor(p, B.x, v4) == TT_ESHAPE);
    RELEASE(v4, v64, v);
    tg_plan_free(p);
    RELEASE(B.x, B.y);
}

TEST(guard_branch_read_back)
{
    int64_t s3 = 3;
    branchy B = {tt_ones(1, &s3, TT_F32, DEV), NULL, 0};
    tg_plan *p = tg_plan_capture(step_branch, &B);
    CHECK(p && tg_plan_input(p, "x", B.x) == TT_OK);
    if (!p) return;
    CHECK(tg_plan_run(p) == TT_OK); /* same data: the same read */
    CHECK(tg_plan_bind_data(p, "x", (float[]){-1, -2, 0}, 12) == TT_OK);
    CHECK_ERR(tg_plan_run(p), TT_ERUNTIME,
              "the replayed step reads -3 where the captured step read 3 (host read 1 of the step, after kernel ");
    CHECK(strstr(tt_last_error(), "capture it again") != NULL);
    CHECK_VALUES(B.y, ((double[]){2, 2, 2}), 3, 0); /* the failed replay wrote nothing the caller sees */
    /* on request, the step runs eagerly and is captured again, on the other branch */
    tg_plan_set_recapture(p, true);
    CHECK(tg_plan_run(p) == TT_OK);
    CHECK(tg_plan_num_captures(p) == 2 && B.eager_steps == 2);
    CHECK_VALUES(B.y, ((double[]){-2, -3, -1}), 3, 0);
    CHECK(tg_plan_bind_data(p, "x", (float[]){-3, 0, 0}, 12) == TT_OK && tg_plan_run(p) == TT_OK);
    CHECK(B.eager_steps == 2); /* the same sum, -3: replayed */
    CHECK_VALUES(B.y, ((double[]){-4, -1, -1}), 3, 0);
    /* another sum: the guard fires again and the step is captured a third time */
    CHECK(tg_plan_bind_data(p, "x", (float[]){1, 0, 0}, 12) == TT_OK && tg_plan_run(p) == TT_OK);
    CHECK(B.eager_steps == 3 && tg_plan_num_captures(p) == 3);
    CHECK_VALUES(B.y, ((double[]){2, 0, 0}), 3, 0);
    tg_plan_free(p);
    RELEASE(B.x, B.y);
}

/* A read inside tg: x[index] checks the index's bounds on the host. */
typedef struct {
    tt_tensor *w, *idx, *out;
} indexed;
static tt_status step_index(void *ctx)
{
    indexed *I = ctx;
    tt_tensor *o = tt_index(I->w, 0, I->idx);
    if (!o) return tt_last_status();
    tt_release(I->out);
    I->out = o;
    return TT_OK;
}
TEST(guard_index_bounds_inside_tg)
{
    int64_t s5 = 5, s2 = 2;
    indexed I = {tt_arange(0, 5, 1, TT_F32, DEV), tt_from_data(1, &s2, TT_I64, (int64_t[]){1, 3}, DEV), NULL};
    (void)s5;
    tg_plan *p = tg_plan_capture(step_index, &I);
    CHECK(p && tg_plan_input(p, "idx", I.idx) == TT_OK);
    if (!p) return;
    CHECK(tg_plan_bind_data(p, "idx", (int64_t[]){3, 1}, 16) == TT_OK && tg_plan_run(p) == TT_OK);
    CHECK_VALUES(I.out, ((double[]){3, 1}), 2, 0); /* the same min and max: the same path */
    CHECK(tg_plan_bind_data(p, "idx", (int64_t[]){4, 1}, 16) == TT_OK);
    CHECK_ERR(tg_plan_run(p), TT_ERUNTIME, "the replayed step reads 4 where the captured step read 3");
    tg_plan_free(p);
    RELEASE(I.w, I.idx, I.out);
}

/* A read after the step wrote outside its own buffers cannot be redone. */
typedef struct {
    tt_tensor *w, *wd;
} late_read;
static tt_status step_late_read(void *ctx)
{
    late_read *S = ctx;
    double v;
    tt_status st = tt_add_(S->wd, S->wd);
    return st ? st : tt_item(S->w, &v);
}
TEST(guard_not_restartable)
{
    late_read S = {tt_ones(0, NULL, TT_F32, DEV), NULL};
    S.wd = tg_data(S.w);
    tg_plan *p = tg_plan_capture(step_late_read, &S);
    CHECK(p != NULL);
    if (!p) return;
    tg_plan_set_recapture(p, true);
    CHECK_ERR(tg_plan_run(p), TT_ERUNTIME, "it cannot be re-captured here, because the replay had already written");
    tg_plan_free(p);
    RELEASE(S.w, S.wd);
}

/* ---- capture refusals and errors --------------------------------------------------------- */
static tt_status step_nonzero(void *ctx)
{
    tt_tensor *nz = tt_nonzero(ctx);
    tt_release(nz);
    return nz ? TT_OK : tt_last_status();
}
static tt_status step_fails(void *ctx)
{
    (void)ctx;
    int64_t s2 = 2, s3 = 3;
    tt_tensor *a = tt_ones(1, &s2, TT_F32, DEV), *b = tt_ones(1, &s3, TT_F32, DEV), *c = tt_add(a, b);
    RELEASE(a, b, c);
    return c ? TT_OK : tt_last_status();
}
static tt_status step_nested(void *ctx)
{
    (void)ctx;
    tg_plan *inner = tg_plan_capture(step_fails, NULL);
    tg_plan_free(inner);
    return inner ? TT_OK : tt_last_status();
}
static tt_status step_runs_a_plan(void *ctx) { return tg_plan_run(ctx); }
TEST(capture_refusals)
{
    int64_t s4 = 4;
    tt_tensor *x = tt_from_data(1, &s4, TT_F32, (float[]){0, 2, 0, 3}, DEV);
    tt_tensor *nz = tt_nonzero(x); /* eagerly: fine */
    CHECK_VALUES(nz, ((double[]){1, 3}), 2, 0);
    CHECK(nz && nz->ndim == 2 && nz->shape[0] == 2 && nz->shape[1] == 1 && nz->dtype == TT_I64);
    CHECK_ERR(tg_plan_capture(step_nonzero, x), TT_EUSAGE,
              "nonzero cannot be captured: its result's size depends on the data");
    CHECK_ERR(tg_plan_capture(step_fails, NULL), TT_ESHAPE, "must match the size of tensor b");
    CHECK_ERR(tg_plan_capture(step_nested, NULL), TT_EINVAL, "a capture is already in progress on this thread");
    tg_capture_begin();
    tt_tensor *two = tt_mul_scalar(x, 2);
    tg_plan *inner = tg_capture_end(two != NULL);
    CHECK(inner != NULL);
    CHECK_ERR(tg_plan_capture(step_runs_a_plan, inner), TT_EINVAL,
              "a plan cannot be replayed while a step is being captured");
    tg_plan_free(inner);
    tt_release(two);
    CHECK(tg_capture_end(true) == NULL); /* nothing open after the failures */
    CHECK_ERR(tg_capture_end(true), TT_EINVAL, "no capture is in progress on this thread");
    RELEASE(x, nz);
}

/* ---- lifetime: the plan keeps the buffers of tensors the caller released ----------------- */
TEST(plan_outlives_tensors)
{
    loop L = {0};
    tt_manual_seed(3);
    init000(&L);
    CHECK(step000(&L) == TT_OK);
    /* the scope form */
    CHECK(tg_capture_begin() == TT_OK);
    tt_status st = step000(&L);
    tg_plan *p = tg_capture_end(st == TT_OK);
    CHECK(p != NULL);
    if (!p) return loop_free(&L);
    double w0;
    tt_item(L.p[0], &w0);
    tt_tensor *w = tt_retain(L.p[0]);
    loop_free(&L); /* every tensor of the state, parameters included: only w is kept */
    for (int i = 0; i < 50; i++) CHECK(tg_plan_run(p) == TT_OK);
    double w1;
    CHECK(tt_item(w, &w1) == TT_OK && w1 != w0); /* the replays went on updating w */
    tg_plan_free(p);
    tt_release(w);
}

/* On Vulkan a replay records every kernel into one command buffer: one
 * submission (at the next read or sync) for a step with no host reads. */
TEST(vulkan_replay_is_one_submission)
{
    loop L = {0};
    tg_plan *p = capture000(&L);
    if (!p) return;
    long d0, s0, d1, s1;
    CHECK(tt_vulkan_sync(0) == TT_OK);
    tt_vulkan_counters(&d0, &s0);
    CHECK(tg_plan_run(p) == TT_OK);
    CHECK(tt_vulkan_sync(0) == TT_OK);
    tt_vulkan_counters(&d1, &s1);
    if (s1 - s0 != 1) FAILF("a replay made %ld submissions", s1 - s0);
    if (d1 - d0 < tg_plan_num_kernels(p) - 2) FAILF("%ld dispatches for %d kernels", d1 - d0, tg_plan_num_kernels(p));
    tg_plan_free(p);
    loop_free(&L);
}

static void run_all(void)
{
    RUN(seed000_loop);
    RUN(seed001_loop);
    RUN(seed002_loop);
    RUN(seed003_loop_with_stop);
    RUN(draws_from_two_generators);
    RUN(random_op_chains);
    RUN(fusion_happens);
    RUN(long_chains_fused);
    RUN(guard_shape_dtype_device);
    RUN(guard_branch_read_back);
    RUN(guard_index_bounds_inside_tg);
    RUN(guard_not_restartable);
    RUN(capture_refusals);
    RUN(plan_outlives_tensors);
}

int main(void)
{
    setenv("TG_VULKAN_DEVICE", "lavapipe", 0);
    if (!tt_vulkan_available(0)) snprintf(no_vk, sizeof no_vk, "no Vulkan device: %s", tt_last_error());
    tt_clear_error();
    DEV = TT_CPU;
    printf("# cpu\n");
    run_all();
    if (no_vk[0]) {
        printf("# vulkan: skipped (%s)\n", no_vk);
        return DONE();
    }
    DEV = (tt_device){TT_DEVICE_VULKAN, 0};
    printf("# vulkan:0\n");
    run_all();
    RUN(vulkan_replay_is_one_submission);
    return DONE();
}
