/* gradcheck with opts.replay: the numerical Jacobian's evaluations replayed
 * from one captured call give the same report, bit for bit, as calls; the
 * function is called twice instead of 1 + 2 x (input elements) times; and the
 * cases replay cannot take (a refused capture, a guard that changes, random
 * draws, a write outside the function) fall back to calls with the same
 * bits. */
#include <stdlib.h>

#include "check.h"
#include "tg/function.h"
#include "tg/gradcheck.h"

/* Each function counts its calls in its ctx. */
typedef struct {
    int calls;
    tt_tensor *shared; /* f_writes_outside: a tensor made outside the function */
    int backwards;     /* custom ops: calls of the backward */
} counter;

static tt_tensor *input(int ndim, const int64_t *shape, uint64_t seed, tt_dtype dt)
{
    tt_generator g = {seed, 0};
    tt_tensor *r = tt_randn(ndim, shape, TT_F64, TT_CPU, &g), *t = r ? tt_cast(r, dt) : NULL;
    tt_release(r);
    if (t) tg_set_requires_grad(t, true);
    return t;
}

/* tanh(x * y) + exp(x) */
static tt_tensor *f_mix(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    tt_tensor *p = tg_mul(x[0], x[1]), *t = p ? tg_tanh(p) : NULL, *e = t ? tg_exp(x[0]) : NULL;
    tt_tensor *y = e ? tg_add(t, e) : NULL;
    tt_release(p);
    tt_release(t);
    tt_release(e);
    return y;
}

/* log_softmax(x @ w, 1) */
static tt_tensor *f_matmul_softmax(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    tt_tensor *m = tg_matmul(x[0], x[1]), *y = m ? tg_log_softmax(m, 1) : NULL;
    tt_release(m);
    return y;
}

/* x.t(): no kernel at all, the output is a view of the input. */
static tt_tensor *f_view(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    return tg_t(x[0]);
}

/* x * 2 when x[0] > 0, else x * 3: a branch on a value read to the host,
 * which the capture keeps as a guard; the next evaluation reads another x[0]. */
static tt_tensor *f_branch(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    double first = 0;
    tt_tensor *e = tt_select(x[0], 0, 0);
    tt_status st = e ? tt_item(e, &first) : tt_last_status();
    tt_release(e);
    return st == TT_OK ? tg_mul_scalar(x[0], first > 0 ? 2 : 3) : NULL;
}

/* x[nonzero(c)] * x[nonzero(c)], c a constant input: nonzero's size depends on
 * the data, so its capture is refused. */
static tt_tensor *f_nonzero(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    tt_tensor *nz = tt_nonzero(x[1]);
    tt_tensor *idx = nz ? tt_reshape(nz, 1, (int64_t[]){nz->shape[0]}) : NULL;
    tt_tensor *s = idx ? tg_index_select(x[0], 0, idx) : NULL, *y = s ? tg_mul(s, s) : NULL;
    tt_release(nz);
    tt_release(idx);
    tt_release(s);
    return y;
}

/* x * noise, the noise drawn from a generator the function makes and frees
 * (as an expression's environment does): the capture must not read it once
 * gone, and a replay would draw from it, so the function is called instead. */
static tt_tensor *f_random(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    tt_generator *g = malloc(sizeof *g);
    if (!g) return NULL;
    *g = (tt_generator){7, 0};
    tt_tensor *r = tt_rand(x[0]->ndim, x[0]->shape, x[0]->dtype, TT_CPU, g), *y = r ? tg_mul(x[0], r) : NULL;
    free(g);
    tt_release(r);
    return y;
}

/* shared += 1; x * shared: writes a tensor made outside the function (and
 * multiplies by a copy, which the backward keeps as it was). */
static tt_tensor *f_writes_outside(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    counter *c = ctx;
    c->calls++;
    tt_tensor *one = tt_scalar(1, TT_F64, TT_CPU);
    tt_status st = one ? tt_add_(c->shared, one) : tt_last_status();
    tt_tensor *now = st == TT_OK ? tt_clone(c->shared) : NULL, *y = now ? tg_mul(x[0], now) : NULL;
    tt_release(one);
    tt_release(now);
    return y;
}

/* A custom op: w * tanh(x) + b; its backward (g tanh(x), g w (1 - tanh(x)^2),
 * g) recomputes tanh(x) with tg ops, so that it is differentiable. */
static tt_tensor *wtb_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *t = tg_tanh(in[1]), *wt = t ? tg_mul(in[0], t) : NULL, *out = wt ? tg_add(wt, in[2]) : NULL;
    if (out && tg_ctx_save_for_backward(ctx, 2, in) != TT_OK) {
        tt_release(out);
        out = NULL;
    }
    tt_release(t);
    tt_release(wt);
    return out;
}
static int wtb_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    ((counter *)tg_ctx_user_data(ctx))->backwards++;
    tt_tensor *t = tg_tanh(tg_ctx_saved(ctx, 1)), *t2 = t ? tg_mul(t, t) : NULL;
    tt_tensor *slope = t2 ? tg_scalar_binary(TT_SUB, 1, t2) : NULL,
              *gw = slope ? tg_mul(g, tg_ctx_saved(ctx, 0)) : NULL;
    gi[0] = t ? tg_mul(g, t) : NULL;
    gi[1] = gw ? tg_mul(gw, slope) : NULL;
    gi[2] = tt_retain((tt_tensor *)g);
    tt_release(t);
    tt_release(t2);
    tt_release(slope);
    tt_release(gw);
    return gi[0] && gi[1] ? 3 : -1;
}
static const tg_function WTanhB = {"WTanhB", wtb_forward, wtb_backward, false};
static tt_tensor *f_custom(int n, tt_tensor *const *x, void *ctx)
{
    ((counter *)ctx)->calls++;
    return tg_function_apply(&WTanhB, n, x, ctx);
}

/* A custom op: Double, 2 x, whose backward branches on grad_output[0] (read
 * to the host: a guard), computing 2 g either way. */
static tt_tensor *double_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)ctx;
    (void)n;
    return tg_mul_scalar(in[0], 2);
}
static int double_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    ((counter *)tg_ctx_user_data(ctx))->backwards++;
    double first = 0;
    tt_tensor *e = tt_select(g, 0, 0);
    if (!e || tt_item(e, &first) != TT_OK) return tt_release(e), -1;
    tt_release(e);
    gi[0] = first > 0.5 ? tg_mul_scalar(g, 2) : tg_add(g, g);
    return gi[0] ? 1 : -1;
}
static const tg_function Double = {"Double", double_forward, double_backward, false};
static tt_tensor *f_double(int n, tt_tensor *const *x, void *ctx)
{
    ((counter *)ctx)->calls++;
    return tg_function_apply(&Double, n, x, ctx);
}

/* Three outputs: exp(x), argmax (int64, no grad), sin(x) * x. */
static int f_three(int n, tt_tensor *const *x, tt_tensor **out, void *ctx)
{
    (void)n;
    ((counter *)ctx)->calls++;
    tt_tensor *s = tg_sin(x[0]);
    out[0] = tg_exp(x[0]);
    out[1] = tt_argmax(x[0], 0, false);
    out[2] = s ? tg_mul(s, x[0]) : NULL;
    tt_release(s);
    return 3;
}

/* ---- running both ways ---------------------------------------------------- */

typedef struct {
    tg_checked_fn f;
    void *ctx;
} one_output;
static int as_n(int n, tt_tensor *const *x, tt_tensor **out, void *ctx)
{
    one_output *o = ctx;
    out[0] = o->f(n, x, o->ctx);
    return out[0] ? 1 : -1;
}

/* t's bytes in its dtype (the Jacobians' values, exactly). */
static bool same_bits(const tt_tensor *a, const tt_tensor *b)
{
    if (!a || !b) return a == b;
    if (a->dtype != b->dtype || a->ndim != b->ndim || tt_numel(a) != tt_numel(b)) return false;
    size_t n = (size_t)tt_numel(a) * tt_dtype_size(a->dtype);
    char *x = malloc(n + 1), *y = malloc(n + 1);
    bool same =
        x && y && tt_to_host(a, a->dtype, x) == TT_OK && tt_to_host(b, b->dtype, y) == TT_OK && !memcmp(x, y, n);
    free(x);
    free(y);
    return same;
}

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static bool same_report(const tg_gradcheck_report *a, const tg_gradcheck_report *b)
{
    if (!a || !b) return false;
    bool same = a->passed == b->passed && same_str(a->message, b->message) && a->npairs == b->npairs &&
                a->noutputs == b->noutputs && a->reentrant == b->reentrant && a->zero_grad_ok == b->zero_grad_ok;
    for (int i = 0; same && i < a->npairs; i++) {
        const tg_gradcheck_pair *p = &a->pairs[i], *q = &b->pairs[i];
        same = p->passed == q->passed && same_bits(p->numerical, q->numerical) &&
               same_bits(p->analytical, q->analytical) && same_str(p->message, q->message) &&
               !memcmp(&p->max_abs_err, &q->max_abs_err, sizeof(double)) && p->worst_index == q->worst_index;
    }
    return same;
}

/* gradcheck (or gradgradcheck when second) of f without, then with replay:
 * whether both ran and their reports are equal bit for bit; the calls each
 * made (c counts them: f's ctx, or the ctx of f inside as_n). */
typedef struct {
    bool same, passed;
    int calls[2], backwards[2];
} both;

static both run_both(tg_checked_fn_n f, void *ctx, counter *c, int n, tt_tensor *const *in, bool second)
{
    tg_gradcheck_options o;
    tg_gradcheck_defaults(&o);
    if (in[0]->dtype == TT_F32) o.eps = 1e-3, o.atol = 1e-2, o.rtol = 1e-2;
    tg_gradcheck_report *r[2] = {NULL, NULL};
    both res = {false, false, {0, 0}, {0, 0}};
    double shared0 = 0;
    if (c->shared) tt_item(c->shared, &shared0);
    bool ran = true;
    for (int replay = 0; replay < 2; replay++) {
        o.replay = replay;
        c->calls = c->backwards = 0;
        if (c->shared) tt_fill_(c->shared, shared0); /* both runs start from the same state */
        tt_status st = second ? tg_gradgradcheck_n(f, ctx, n, in, NULL, &o, &r[replay])
                              : tg_gradcheck_n(f, ctx, n, in, &o, &r[replay]);
        if (st != TT_OK) printf("# replay=%d: %s\n", replay, tt_last_error());
        ran &= st == TT_OK;
        res.calls[replay] = c->calls;
        res.backwards[replay] = c->backwards;
    }
    res.same = ran && same_report(r[0], r[1]);
    res.passed = ran && r[0]->passed;
    tg_gradcheck_report_free(r[0]);
    tg_gradcheck_report_free(r[1]);
    return res;
}

static both run_both1(tg_checked_fn f, counter *c, int n, tt_tensor *const *in, bool second)
{
    one_output o = {f, c};
    return run_both(as_n, &o, c, n, in, second);
}

/* ---- the tests --------------------------------------------------------------- */

static const struct {
    const char *name;
    tg_checked_fn f;
    int ninputs, ndim[3];
    int64_t shape[3][2];
} replayed[] = {
    {"tanh(x*y)+exp(x)", f_mix, 2, {2, 2}, {{3, 4}, {3, 4}}},
    {"log_softmax(x@w)", f_matmul_softmax, 2, {2, 2}, {{2, 3}, {3, 4}}},
    {"x.t()", f_view, 1, {2}, {{2, 3}}},
    {"w*tanh(x)+b (custom)", f_custom, 3, {1, 1, 1}, {{4}, {4}, {4}}},
};

/* Makes case k's inputs of dtype dt; their element count. */
static int64_t make_inputs(size_t k, tt_dtype dt, tt_tensor **in)
{
    int64_t numel = 0;
    for (int i = 0; i < replayed[k].ninputs; i++) {
        in[i] = input(replayed[k].ndim[i], replayed[k].shape[i], 10 + (uint64_t)i, dt);
        numel += tt_numel(in[i]);
    }
    return numel;
}

TEST(replayed_ops_same_bits)
{
    for (size_t k = 0; k < sizeof replayed / sizeof *replayed; k++)
        for (int f32 = 0; f32 < 2; f32++) {
            tt_tensor *in[3] = {NULL, NULL, NULL};
            int64_t numel = make_inputs(k, f32 ? TT_F32 : TT_F64, in);
            counter c = {0};
            both r = run_both1(replayed[k].f, &c, replayed[k].ninputs, in, false);
            if (!r.same || !r.passed) printf("# %s %s\n", replayed[k].name, f32 ? "f32" : "f64");
            CHECK(r.same);
            CHECK(r.passed);
            /* the reference call and two per input element; with replay, the
             * reference and the captured one */
            CHECK(r.calls[0] == 1 + 2 * (int)numel);
            CHECK(r.calls[1] == 2);
            for (int i = 0; i < replayed[k].ninputs; i++) tt_release(in[i]);
        }
}

TEST(gradgradcheck_replayed_same_bits)
{
    for (size_t k = 0; k < sizeof replayed / sizeof *replayed; k++) {
        tt_tensor *in[3] = {NULL, NULL, NULL};
        make_inputs(k, TT_F64, in);
        counter c = {0};
        both r = run_both1(replayed[k].f, &c, replayed[k].ninputs, in, true);
        if (!r.same || !r.passed) printf("# %s\n", replayed[k].name);
        CHECK(r.same);
        CHECK(r.passed);
        CHECK(r.calls[1] < r.calls[0]);
        for (int i = 0; i < replayed[k].ninputs; i++) tt_release(in[i]);
    }
}

TEST(several_outputs_replayed)
{
    tt_tensor *x = input(1, (int64_t[]){5}, 3, TT_F64);
    counter c = {0};
    both r = run_both(f_three, &c, &c, 1, &x, false);
    CHECK(r.same);
    CHECK(r.passed);
    CHECK(r.calls[0] == 11 && r.calls[1] == 2);
    tt_release(x);
}

/* The backwards of the analytical Jacobian (one per output element, twice)
 * are replayed too: the custom op's backward runs once per capture. */
TEST(backwards_replayed)
{
    tt_tensor *in[3] = {NULL, NULL, NULL};
    make_inputs(3, TT_F64, in);
    counter c = {0};
    both r = run_both1(f_custom, &c, 3, in, false);
    CHECK(r.same);
    CHECK(r.passed);
    /* 4 output elements: 2 x 4 one-hot backwards and the zero grad_output's */
    CHECK(r.backwards[0] == 9);
    CHECK(r.backwards[1] == 3);
    for (int i = 0; i < 3; i++) tt_release(in[i]);
}

/* A backward whose guard changes (it reads grad_output[0]): calls from the
 * first replay on, the same bits. */
TEST(backward_guard_falls_back)
{
    tt_tensor *x = input(1, (int64_t[]){3}, 4, TT_F64);
    counter c = {0};
    both r = run_both1(f_double, &c, 1, &x, false);
    CHECK(r.same);
    CHECK(r.passed);
    CHECK(r.calls[0] == 7 && r.calls[1] == 2);
    CHECK(r.backwards[0] == 7 && r.backwards[1] == 7);
    tt_release(x);
}

/* A guard that changes: the first replay fails and every evaluation from it
 * is a call; the Jacobian is the calls' (2 on the diagonal: x[0] stays > 0). */
TEST(changed_guard_falls_back)
{
    tt_tensor *x = tt_from_data(1, (int64_t[]){3}, TT_F64, (double[]){0.5, -1, 2}, TT_CPU);
    tg_set_requires_grad(x, true);
    counter c = {0};
    both r = run_both1(f_branch, &c, 1, &x, false);
    CHECK(r.same);
    CHECK(r.passed);
    CHECK(r.calls[0] == 7 && r.calls[1] == 7);
    tt_release(x);
}

/* nonzero cannot be captured: the captured call fails, and is made again. */
TEST(refused_capture_falls_back)
{
    tt_tensor *in[2] = {input(1, (int64_t[]){4}, 5, TT_F64),
                        tt_from_data(1, (int64_t[]){4}, TT_F64, (double[]){1, 0, 3, 0}, TT_CPU)};
    counter c = {0};
    both r = run_both1(f_nonzero, &c, 2, in, false);
    CHECK(r.same);
    CHECK(r.passed);
    CHECK(r.calls[0] == 9 && r.calls[1] == 10);
    tt_release(in[0]);
    tt_release(in[1]);
}

/* Random draws and a write to a tensor from outside: calls throughout (the
 * captured call's result is a call's). */
TEST(draws_and_outside_writes_fall_back)
{
    tt_tensor *x = input(2, (int64_t[]){2, 3}, 8, TT_F64);
    counter c = {0};
    both r = run_both1(f_random, &c, 1, &x, false);
    CHECK(r.same);
    CHECK(r.passed);
    CHECK(r.calls[0] == 13 && r.calls[1] == 13);

    counter w = {.shared = tt_zeros(0, NULL, TT_F64, TT_CPU)};
    r = run_both1(f_writes_outside, &w, 1, &x, false);
    CHECK(r.same);
    CHECK(!r.passed); /* the function changes with every call: its numerical Jacobian is not its gradient */
    CHECK(r.calls[0] == 13 && r.calls[1] == 13);
    tt_release(w.shared);
    tt_release(x);
}

static void quiet(const char *m, void *ctx)
{
    (void)m;
    (void)ctx;
}

int main(void)
{
    tg_set_warning_handler(quiet, NULL); /* float32 inputs: PyTorch's warning, expected */
    RUN(replayed_ops_same_bits);
    RUN(gradgradcheck_replayed_same_bits);
    RUN(several_outputs_replayed);
    RUN(backwards_replayed);
    RUN(backward_guard_falls_back);
    RUN(changed_guard_falls_back);
    RUN(refused_capture_falls_back);
    RUN(draws_and_outside_writes_fall_back);
    return DONE();
}
