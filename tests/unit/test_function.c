/* Custom functions (tg_function: torch.autograd.Function): seed 000's
 * MultiplyAdd and Sigmoid, the graph they record, and PyTorch's errors for
 * wrong backwards, modified saved tensors, freed buffers and
 * once-differentiable double backward. Expected texts and values are those
 * of PyTorch 1.13 running the same Functions (quoted in the comments). */
#include <stdlib.h>

#include "check.h"
#include "tg/function.h"
#include "tg/gradcheck.h"

static tt_tensor *vec(tt_dtype dt, int n, const double *v)
{
    tt_tensor *d = tt_from_data(1, (int64_t[]){n}, TT_F64, v, TT_CPU);
    if (!d || dt == TT_F64) return d;
    tt_tensor *c = tg_cast(d, dt);
    tt_release(d);
    return c;
}

static tt_tensor *leaf(tt_tensor *t)
{
    if (t && tg_set_requires_grad(t, true) != TT_OK) {
        tt_release(t);
        return NULL;
    }
    return t;
}

static tt_tensor *randn(int64_t n) { return tt_randn(1, (int64_t[]){n}, TT_F64, TT_CPU, NULL); }

static double host(const tt_tensor *t, int64_t i)
{
    double v[64] = {0};
    if (!t || tt_numel(t) > 64 || tt_to_host(t, TT_F64, v) != TT_OK) return NAN;
    return v[i];
}

static bool same_values(const tt_tensor *a, const tt_tensor *b, double tol)
{
    if (!a || !b || tt_numel(a) != tt_numel(b) || tt_numel(a) > 64) return false;
    for (int64_t i = 0; i < tt_numel(a); i++)
        if (fabs(host(a, i) - host(b, i)) > tol * (1 + fabs(host(b, i)))) return false;
    return true;
}

static const char *MODIFIED =
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: ";
static const char *HINT =
    "Hint: enable anomaly detection to find the operation that failed to compute its gradient, "
    "with torch.autograd.set_detect_anomaly(True).";

/* ---- seed 000's MultiplyAdd: forward w*x + b; backward grad*x, grad*w, grad ---- */
static bool fwd_grad_mode, fwd_tracked, fwd_needs[3], bwd_needs[3];
static int fwd_saved_seen;

static tt_tensor *ma_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    fwd_grad_mode = tg_is_grad_enabled();
    for (int i = 0; i < 3; i++) fwd_needs[i] = tg_ctx_needs_input_grad(ctx, i);
    tt_tensor *wx = tg_mul(in[0], in[1]);
    fwd_tracked = wx && tg_grad_fn(wx) != NULL;
    tt_tensor *out = tg_add(wx, in[2]);
    tt_release(wx);
    if (out && tg_ctx_save_for_backward(ctx, 2, in) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    fwd_saved_seen = tg_ctx_num_saved(ctx);
    return out;
}

/* As in the seed: every gradient is computed, needed or not. */
static int ma_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    for (int i = 0; i < 3; i++) bwd_needs[i] = tg_ctx_needs_input_grad(ctx, i);
    tt_tensor *w = tg_ctx_saved(ctx, 0), *x = tg_ctx_saved(ctx, 1);
    gi[0] = tg_mul(g, x);
    gi[1] = tg_mul(g, w);
    gi[2] = tg_mul_scalar(g, 1);
    return gi[0] && gi[1] && gi[2] ? 3 : -1;
}

/* The deliberate mistake: grad*w and grad*x swapped. */
static int ma_wrong_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    tt_tensor *w = tg_ctx_saved(ctx, 0), *x = tg_ctx_saved(ctx, 1);
    gi[0] = tg_mul(g, w);
    gi[1] = tg_mul(g, x);
    gi[2] = tt_retain((tt_tensor *)g);
    return gi[0] && gi[1] ? 3 : -1;
}

static int ma_two_grads(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)ctx, (void)max_grads;
    gi[0] = tt_retain((tt_tensor *)g);
    gi[1] = tt_retain((tt_tensor *)g);
    return 2;
}

static int ma_four_null(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    if (ma_backward(ctx, g, gi, max_grads) < 0) return -1;
    return 4; /* gi[3] stays NULL: PyTorch drops trailing Nones */
}

static int ma_four_grads(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    if (ma_backward(ctx, g, gi, max_grads) < 0) return -1;
    gi[3] = tt_retain((tt_tensor *)g);
    return 4;
}

static int ma_bad_shape(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)ctx, (void)max_grads;
    gi[0] = tt_retain((tt_tensor *)g);
    gi[1] = tt_ones(1, (int64_t[]){3}, g->dtype, TT_CPU);
    gi[2] = tt_retain((tt_tensor *)g);
    return 3;
}

static int ma_broadcast(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)ctx, (void)max_grads;
    gi[0] = tt_retain((tt_tensor *)g);
    gi[1] = tt_retain((tt_tensor *)g);
    gi[2] = tt_ones(2, (int64_t[]){2, 2}, g->dtype, TT_CPU); /* sums back to [2, 2] for b of shape [2] */
    return 3;
}

static int ma_failing(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)ctx, (void)max_grads;
    gi[0] = tt_retain((tt_tensor *)g); /* released for us */
    tt_set_error(TT_ERUNTIME, "custom failure in backward");
    return -1;
}

static const tg_function MultiplyAdd = {"MultiplyAdd", ma_forward, ma_backward, false};
static const tg_function WrongMultiplyAdd = {"MultiplyAdd", ma_forward, ma_wrong_backward, false};

static tt_tensor *apply3(const tg_function *f, tt_tensor *w, tt_tensor *x, tt_tensor *b)
{
    return tg_function_apply(f, 3, (tt_tensor *[]){w, x, b}, NULL);
}

/* ---- seed 000's Sigmoid: forward 1/(1+exp(-x)) saving the output; backward grad*out*(1-out) ---- */
static int data_frees;
static void count_free(void *p)
{
    (void)p;
    data_frees++;
}
static bool bwd_grad_mode;

static tt_tensor *sig_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *nx = tg_neg(in[0]), *e = tg_exp(nx), *d = tg_add_scalar(e, 1);
    tt_tensor *out = tg_scalar_binary(TT_DIV, 1, d);
    tt_release(nx);
    tt_release(e);
    tt_release(d);
    if (out && tg_ctx_save_for_backward(ctx, 1, &out) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    tg_ctx_set_data(ctx, &data_frees, count_free); /* tells when the node is freed */
    return out;
}

static int sig_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    bwd_grad_mode = tg_is_grad_enabled();
    tt_tensor *o = tg_ctx_saved(ctx, 0);
    if (!o) return -1;
    tt_tensor *one_minus = tg_scalar_binary(TT_SUB, 1, o), *d = tg_mul(o, one_minus);
    gi[0] = tg_mul(d, g);
    tt_release(one_minus);
    tt_release(d);
    return gi[0] ? 1 : -1;
}

static const tg_function Sigmoid = {"Sigmoid", sig_forward, sig_backward, false};
static const tg_function OnceSigmoid = {"OnceSigmoid", sig_forward, sig_backward, true};

/* ---- the graph -------------------------------------------------------------- */
TEST(records_node_like_pytorch)
{
    /* x = ones(2); w, b = rand(2) requiring grad; z = MultiplyAdd.apply(w, x, b)
     * z.grad_fn.name() == 'MultiplyAddBackward'; next_functions ((AccumulateGrad, 0), (None, 0), (AccumulateGrad, 0))
     * needs_input_grad (True, False, True) in forward and backward; forward runs with grad mode off */
    tt_tensor *w = leaf(vec(TT_F64, 2, (double[]){0.5, 0.25})), *x = vec(TT_F64, 2, (double[]){1, 1});
    tt_tensor *b = leaf(vec(TT_F64, 2, (double[]){0.1, 0.2}));
    tt_tensor *z = apply3(&MultiplyAdd, w, x, b);
    CHECK(z && tg_requires_grad(z) && !tg_is_leaf(z));
    CHECK(!fwd_grad_mode && !fwd_tracked && fwd_saved_seen == 2);
    CHECK(fwd_needs[0] && !fwd_needs[1] && fwd_needs[2]);
    tg_node *n = z ? tg_grad_fn(z) : NULL;
    CHECK(n != NULL);
    if (n) {
        CHECK_STR(tg_node_name(n), "MultiplyAddBackward");
        CHECK(tg_node_num_next(n) == 3);
        int nr = -1;
        tg_node *a0 = tg_node_next(n, 0, &nr);
        CHECK(a0 && !strcmp(tg_node_name(a0), "AccumulateGrad") && tg_node_variable(a0) == w && nr == 0);
        CHECK(tg_node_next(n, 1, NULL) == NULL);
        tg_node *a2 = tg_node_next(n, 2, &nr);
        CHECK(a2 && tg_node_variable(a2) == b);
        CHECK(tg_node_num_saved(n) == 2);
        tt_tensor *s0 = tg_node_saved(n, 0, NULL);
        CHECK(s0 == w);
        tt_release(s0);
        char *txt = tg_format(z);
        CHECK(txt && strstr(txt, "grad_fn=<MultiplyAddBackward>"));
        free(txt);
    }
    tt_tensor *s = tg_sum(z);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK(bwd_needs[0] && !bwd_needs[1] && bwd_needs[2]);
    /* w.grad = x = [1, 1]; b.grad = [1, 1]; x.grad None: the seed's gradient for x is dropped */
    CHECK_VALUES(tg_get_grad(w), ((double[]){1, 1}), 2, 0);
    CHECK_VALUES(tg_get_grad(b), ((double[]){1, 1}), 2, 0);
    CHECK(tg_get_grad(x) == NULL);
    tt_release(s);
    tt_release(z);
    tt_release(w);
    tt_release(x);
    tt_release(b);
}

TEST(grad_fn_follows_non_leaf_inputs)
{
    tt_tensor *a = leaf(vec(TT_F64, 2, (double[]){1, 2})), *w = tg_mul_scalar(a, 3);
    tt_tensor *x = vec(TT_F64, 2, (double[]){4, 5}), *b = vec(TT_F64, 2, (double[]){0, 0});
    tt_tensor *z = apply3(&MultiplyAdd, w, x, b);
    tg_node *n = z ? tg_grad_fn(z) : NULL;
    CHECK(n && tg_node_next(n, 0, NULL) == tg_grad_fn(w));
    CHECK(n && !tg_node_next(n, 1, NULL) && !tg_node_next(n, 2, NULL));
    tt_tensor *s = tg_sum(z);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(a), ((double[]){12, 15}), 2, 0); /* 3 * x */
    tt_release(s);
    tt_release(z);
    tt_release(a);
    tt_release(w);
    tt_release(x);
    tt_release(b);
}

TEST(no_record_without_grad)
{
    tt_tensor *w = leaf(vec(TT_F64, 2, (double[]){1, 2})), *x = vec(TT_F64, 2, (double[]){3, 4});
    tt_tensor *b = vec(TT_F64, 2, (double[]){1, 1});
    tt_tensor *z = NULL;
    TG_NO_GRAD { z = apply3(&MultiplyAdd, w, x, b); }
    CHECK(z && !tg_requires_grad(z) && tg_is_leaf(z));
    CHECK(!fwd_needs[0] && !fwd_needs[1] && !fwd_needs[2]); /* needs_input_grad (False, False, False) */
    CHECK_VALUES(z, ((double[]){4, 9}), 2, 0);
    tt_release(z);
    z = apply3(&MultiplyAdd, x, x, b); /* no input requires grad */
    CHECK(z && !tg_requires_grad(z) && !tg_grad_fn(z));
    CHECK(tg_is_grad_enabled());
    tt_release(z);
    tt_release(w);
    tt_release(x);
    tt_release(b);
}

/* ---- gradients match the composed ops; a wrong backward does not ----------------- */
TEST(multiply_add_matches_composed_ops)
{
    tt_manual_seed(7);
    tt_tensor *w = leaf(randn(4)), *x = leaf(randn(4)), *b = leaf(randn(4));
    tt_tensor *gw = NULL, *gx = NULL, *gb = NULL;
    tt_tensor *wx = tg_mul(w, x), *z0 = tg_add(wx, b), *s0 = tg_sum(z0);
    CHECK(s0 && tg_backward(s0, NULL, false, false) == TT_OK);
    gw = tt_clone(tg_get_grad(w));
    gx = tt_clone(tg_get_grad(x));
    gb = tt_clone(tg_get_grad(b));
    tg_set_grad(w, NULL);
    tg_set_grad(x, NULL);
    tg_set_grad(b, NULL);

    tt_tensor *z1 = apply3(&MultiplyAdd, w, x, b), *s1 = tg_sum(z1);
    CHECK(same_values(z1, z0, 1e-15));
    CHECK(s1 && tg_backward(s1, NULL, false, false) == TT_OK);
    CHECK(same_values(tg_get_grad(w), gw, 1e-15));
    CHECK(same_values(tg_get_grad(x), gx, 1e-15));
    CHECK(same_values(tg_get_grad(b), gb, 1e-15));
    tg_set_grad(w, NULL);
    tg_set_grad(x, NULL);
    tg_set_grad(b, NULL);

    tt_tensor *z2 = apply3(&WrongMultiplyAdd, w, x, b), *s2 = tg_sum(z2);
    CHECK(s2 && tg_backward(s2, NULL, false, false) == TT_OK);
    CHECK(!same_values(tg_get_grad(w), gw, 1e-6)); /* got w, want x */
    CHECK(!same_values(tg_get_grad(x), gx, 1e-6));
    CHECK(same_values(tg_get_grad(b), gb, 1e-15));
    tt_tensor *all[] = {w, x, b, gw, gx, gb, wx, z0, s0, z1, s1, z2, s2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
}

TEST(sigmoid_matches_builtin_and_composed)
{
    tt_manual_seed(3);
    tt_tensor *x = leaf(tt_randn(2, (int64_t[]){3, 4}, TT_F64, TT_CPU, NULL));
    tt_tensor *ones = tt_ones(2, (int64_t[]){3, 4}, TT_F64, TT_CPU);
    /* f_sigmoid: y = Sigmoid.apply(x); y.backward(ones) */
    tt_tensor *y = tg_function_apply(&Sigmoid, 1, &x, NULL);
    CHECK(y && tg_grad_fn(y) && !strcmp(tg_node_name(tg_grad_fn(y)), "SigmoidBackward"));
    CHECK(y && tg_backward(y, ones, false, false) == TT_OK);
    tt_tensor *g1 = tt_clone(tg_get_grad(x));
    tg_set_grad(x, NULL);
    /* f_th: torch.sigmoid */
    tt_tensor *y2 = tg_sigmoid(x);
    CHECK(same_values(y, y2, 1e-15));
    CHECK(y2 && tg_backward(y2, ones, false, false) == TT_OK);
    CHECK(same_values(g1, tg_get_grad(x), 1e-14));
    tg_set_grad(x, NULL);
    /* f_naive: 1/(1+exp(-x)) */
    tt_tensor *nx = tg_neg(x), *e = tg_exp(nx), *d = tg_add_scalar(e, 1), *y3 = tg_scalar_binary(TT_DIV, 1, d);
    CHECK(y3 && tg_backward(y3, ones, false, false) == TT_OK);
    CHECK(same_values(g1, tg_get_grad(x), 1e-14));
    tt_tensor *all[] = {x, ones, y, g1, y2, nx, e, d, y3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
}

/* ---- wrong backwards ------------------------------------------------------------- */
TEST(incorrect_number_of_gradients)
{
    tt_tensor *w = leaf(vec(TT_F32, 2, (double[]){1, 2})), *x = vec(TT_F32, 2, (double[]){1, 1});
    tt_tensor *b = leaf(vec(TT_F32, 2, (double[]){0, 0}));
    const tg_function two = {"MultiplyAdd", ma_forward, ma_two_grads, false};
    tt_tensor *z = apply3(&two, w, x, b), *s = tg_sum(z);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME,
              "function MultiplyAddBackward returned an incorrect number of gradients (expected 3, got 2)");
    CHECK(!strcmp(tt_last_error(),
                  "function MultiplyAddBackward returned an incorrect number of gradients (expected 3, got 2)"));
    CHECK(tg_get_grad(w) == NULL);
    tt_release(s);
    tt_release(z);
    /* backward returning (gw, gx, gb, None) is fine; (gw, gx, gb, g) is not */
    const tg_function four_null = {"MultiplyAdd", ma_forward, ma_four_null, false};
    z = apply3(&four_null, w, x, b);
    s = tg_sum(z);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(w), ((double[]){1, 1}), 2, 0);
    tt_release(s);
    tt_release(z);
    const tg_function four = {"MultiplyAdd", ma_forward, ma_four_grads, false};
    z = apply3(&four, w, x, b);
    s = tg_sum(z);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME,
              "function MultiplyAddBackward returned an incorrect number of gradients (expected 3, got 4)");
    tt_release(s);
    tt_release(z);
    /* a backward that fails keeps its own message */
    const tg_function failing = {"MultiplyAdd", ma_forward, ma_failing, false};
    z = apply3(&failing, w, x, b);
    s = tg_sum(z);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME, "custom failure in backward");
    tt_release(s);
    tt_release(z);
    tt_release(w);
    tt_release(x);
    tt_release(b);
}

TEST(invalid_gradient_shape_and_broadcast)
{
    tt_tensor *w = leaf(vec(TT_F32, 2, (double[]){1, 2})), *x = leaf(vec(TT_F32, 2, (double[]){1, 1}));
    tt_tensor *b = leaf(vec(TT_F32, 2, (double[]){0, 0}));
    const tg_function bad = {"MultiplyAdd", ma_forward, ma_bad_shape, false};
    tt_tensor *z = apply3(&bad, w, x, b), *s = tg_sum(z);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME,
              "Function MultiplyAddBackward returned an invalid gradient at index 1 - got [3] but expected shape "
              "compatible with [2]");
    tt_release(s);
    tt_release(z);
    /* the same wrong shape for an input that needs no grad is ignored, as in PyTorch */
    tt_tensor *xc = vec(TT_F32, 2, (double[]){1, 1});
    z = apply3(&bad, w, xc, b);
    s = tg_sum(z);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    tt_release(s);
    tt_release(z);
    tg_set_grad(b, NULL);
    /* a gradient that broadcasts to the input is summed back: ones(2,2) -> b.grad = [2, 2] */
    const tg_function bc = {"Bc", ma_forward, ma_broadcast, false};
    z = apply3(&bc, w, x, b);
    s = tg_sum(z);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(b), ((double[]){2, 2}), 2, 0);
    CHECK(tg_get_grad(b) && tg_get_grad(b)->ndim == 1 && tg_get_grad(b)->dtype == TT_F32);
    tt_release(s);
    tt_release(z);
    tt_release(w);
    tt_release(x);
    tt_release(xc);
    tt_release(b);
}

/* ---- non-tensor inputs: NULL entries get no gradient ------------------------------ */
static tt_tensor *scale_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    return tg_mul_scalar(in[0], *(double *)tg_ctx_user_data(ctx));
}
static int scale_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    gi[0] = tg_mul_scalar(g, *(double *)tg_ctx_user_data(ctx));
    return gi[0] ? 2 : -1;
}
static int scale_backward_bad(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    if (scale_backward(ctx, g, gi, max_grads) < 0) return -1;
    gi[1] = tt_retain((tt_tensor *)g);
    return 2;
}

TEST(null_inputs_and_user_data)
{
    double k = 3;
    tt_tensor *x = leaf(vec(TT_F64, 2, (double[]){1, 2}));
    const tg_function scale = {"Scale", scale_forward, scale_backward, false};
    tt_tensor *y = tg_function_apply(&scale, 2, (tt_tensor *[]){x, NULL}, &k), *s = tg_sum(y);
    CHECK(y && tg_node_num_next(tg_grad_fn(y)) == 2 && !tg_node_next(tg_grad_fn(y), 1, NULL));
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), ((double[]){3, 3}), 2, 0);
    tt_release(s);
    tt_release(y);
    /* F.apply(x, 3.0) whose backward returns (g, g):
     * "function FBackward returned a gradient different than None at position 2, but the corresponding forward
     * input was not a Variable" */
    const tg_function f = {"F", scale_forward, scale_backward_bad, false};
    y = tg_function_apply(&f, 2, (tt_tensor *[]){x, NULL}, &k);
    s = tg_sum(y);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME,
              "function FBackward returned a gradient different than None at position 2, but the corresponding "
              "forward input was not a Variable");
    tt_release(s);
    tt_release(y);
    tt_release(x);
}

/* ---- outputs: an input returned as is, an integer output -------------------------- */
static tt_tensor *identity_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)ctx, (void)n;
    return tt_retain(in[0]);
}
static int identity_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)ctx, (void)max_grads;
    gi[0] = tt_retain((tt_tensor *)g);
    return 1;
}
static tt_tensor *to_long_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)ctx, (void)n;
    return tg_cast(in[0], TT_I64);
}

TEST(outputs_input_and_integer)
{
    /* y = Ret.apply(x): y is not x; y.grad_fn RetBackward; x stays a leaf */
    tt_tensor *x = leaf(vec(TT_F64, 2, (double[]){1, 2}));
    const tg_function ret = {"Ret", identity_forward, identity_backward, false};
    tt_tensor *y = tg_function_apply(&ret, 1, &x, NULL);
    CHECK(y && y != x && y->storage == x->storage);
    CHECK(tg_is_leaf(x) && !tg_grad_fn(x));
    CHECK(y && tg_grad_fn(y) && !strcmp(tg_node_name(tg_grad_fn(y)), "RetBackward"));
    tt_tensor *s = tg_sum(y);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), ((double[]){1, 1}), 2, 0);
    tt_release(s);
    tt_release(y);
    /* under no_grad the returned input is a detached alias: requires_grad False */
    TG_NO_GRAD { y = tg_function_apply(&ret, 1, &x, NULL); }
    CHECK(y && y != x && !tg_requires_grad(y) && tg_requires_grad(x));
    tt_release(y);
    /* an integer output gets no history: G.apply(x) with x.long() -> requires_grad False */
    const tg_function g = {"G", to_long_forward, identity_backward, false};
    y = tg_function_apply(&g, 1, &x, NULL);
    CHECK(y && y->dtype == TT_I64 && !tg_requires_grad(y) && !tg_grad_fn(y));
    tt_release(y);
    tt_release(x);
}

/* ---- saved tensors ------------------------------------------------------------------ */
TEST(saved_input_modified_in_place)
{
    tt_tensor *w = leaf(vec(TT_F32, 2, (double[]){0.5, 0.5})), *x = vec(TT_F32, 2, (double[]){1, 1});
    tt_tensor *b = leaf(vec(TT_F32, 2, (double[]){0, 0})), *one = vec(TT_F32, 2, (double[]){1, 1});
    char want[512];
    /* x2 = ones(2); z = MultiplyAdd.apply(w, x2, b); x2.add_(1); z.sum().backward() */
    tt_tensor *z = apply3(&MultiplyAdd, w, x, b), *s = tg_sum(z);
    CHECK(tt_add_(x, one) == TT_OK);
    snprintf(want, sizeof want, "%s[torch.FloatTensor [2]] is at version 1; expected version 0 instead. %s", MODIFIED,
             HINT);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME, want);
    CHECK(!strcmp(tt_last_error(), want));
    tt_release(s);
    tt_release(z);
    /* a = ones(2, requires_grad); h = a*2; z = MultiplyAdd.apply(w, h, b); h.add_(1) */
    tt_tensor *a = leaf(vec(TT_F32, 2, (double[]){1, 1})), *h = tg_mul_scalar(a, 2);
    z = apply3(&MultiplyAdd, w, h, b);
    s = tg_sum(z);
    CHECK(tg_add_(h, one) == TT_OK);
    snprintf(want, sizeof want,
             "%s[torch.FloatTensor [2]], which is output 0 of AddBackward0, is at version 1; "
             "expected version 0 instead. %s",
             MODIFIED, HINT);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME, want);
    tt_release(s);
    tt_release(z);
    tt_release(a);
    tt_release(h);
    tt_release(w);
    tt_release(x);
    tt_release(b);
    tt_release(one);
}

TEST(saved_output_modified_in_place)
{
    /* y = Sigmoid.apply(x); y.add_(1); y.sum().backward() */
    tt_tensor *x = leaf(vec(TT_F32, 3, (double[]){-1, 0, 1})), *one = vec(TT_F32, 3, (double[]){1, 1, 1});
    tt_tensor *y = tg_function_apply(&Sigmoid, 1, &x, NULL);
    CHECK(y && tg_add_(y, one) == TT_OK);
    tt_tensor *s = tg_sum(y);
    char want[512];
    snprintf(want, sizeof want,
             "%s[torch.FloatTensor [3]], which is output 0 of SigmoidBackward, is at version 1; "
             "expected version 0 instead. %s",
             MODIFIED, HINT);
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME, want);
    tt_release(s);
    tt_release(y);
    tt_release(x);
    tt_release(one);
}

TEST(retain_graph)
{
    tt_tensor *w = leaf(vec(TT_F64, 2, (double[]){1, 2})), *x = vec(TT_F64, 2, (double[]){3, 4});
    tt_tensor *b = leaf(vec(TT_F64, 2, (double[]){0, 0}));
    tt_tensor *z = apply3(&MultiplyAdd, w, x, b), *s = tg_sum(z);
    CHECK(s && tg_backward(s, NULL, true, false) == TT_OK);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(w), ((double[]){6, 8}), 2, 0); /* x then 2x */
    CHECK_ERR(tg_backward(s, NULL, false, false), TT_ERUNTIME,
              "Trying to backward through the graph a second time (or directly access saved tensors after they "
              "have already been freed). Saved intermediate values of the graph are freed when you call "
              ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
              "graph a second time or if you need to access saved tensors after calling backward.");
    tt_tensor *freed = tg_node_saved(tg_grad_fn(z), 0, NULL);
    CHECK(freed == NULL && strstr(tt_last_error(), "Trying to backward through the graph a second time"));
    tt_release(s);
    tt_release(z);
    tt_release(w);
    tt_release(x);
    tt_release(b);
}

TEST(saving_output_makes_no_cycle)
{
    /* the ctx's data is freed with the node: released without backward, after
     * backward, and after a create_graph backward whose graph holds the node */
    tt_tensor *x = leaf(randn(3));
    data_frees = 0;
    tt_tensor *y = tg_function_apply(&Sigmoid, 1, &x, NULL), *s = tg_sum(y);
    CHECK(y && tg_node_num_saved(tg_grad_fn(y)) == 1);
    tt_release(s);
    tt_release(y);
    CHECK(data_frees == 1);
    y = tg_function_apply(&Sigmoid, 1, &x, NULL);
    s = tg_sum(y);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    tt_release(s);
    tt_release(y);
    CHECK(data_frees == 2);
    y = tg_function_apply(&Sigmoid, 1, &x, NULL);
    s = tg_sum(y);
    CHECK(s && tg_backward(s, NULL, false, true) == TT_OK);
    tt_release(s);
    tt_release(y);
    CHECK(data_frees == 2); /* x.grad's graph still holds the node */
    CHECK(tg_set_grad(x, NULL) == TT_OK);
    CHECK(data_frees == 3);
    tt_release(x);
}

/* ---- ctx misuse ------------------------------------------------------------------------ */
static tt_tensor *misuse_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    CHECK_ERR(tg_ctx_saved(ctx, 0), TT_ERUNTIME, "saved tensors can only be read in backward");
    CHECK_ERR(tg_ctx_save_for_backward(ctx, 5, (tt_tensor *[]){in[0], in[0], in[0], in[0], in[0]}), TT_EINVAL,
              "saves at most 4 tensors");
    CHECK_ERR(tg_ctx_save_for_backward(ctx, 1, (tt_tensor *[]){NULL}), TT_EINVAL, "tensor 0 is NULL");
    CHECK(tg_ctx_save_for_backward(ctx, 2, (tt_tensor *[]){in[0], in[0]}) == TT_OK);
    CHECK(tg_ctx_save_for_backward(ctx, 1, in) == TT_OK); /* replaces the set */
    CHECK(tg_ctx_num_saved(ctx) == 1 && tg_ctx_num_inputs(ctx) == 1);
    tg_ctx_set_data(ctx, malloc(16), free);
    tg_ctx_set_data(ctx, malloc(32), free); /* the first is freed */
    return tg_mul_scalar(in[0], 2);
}
static int misuse_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    CHECK(max_grads > 1 && tg_ctx_data(ctx) != NULL && tg_ctx_num_saved(ctx) == 1);
    CHECK_ERR(tg_ctx_saved(ctx, 1), TT_EINVAL, "out of range");
    CHECK_ERR(tg_ctx_save_for_backward(ctx, 0, NULL), TT_ERUNTIME, "only be called from forward");
    gi[0] = tg_mul_scalar(g, 2);
    return 1;
}
static tt_tensor *null_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)ctx, (void)n, (void)in;
    return NULL;
}

TEST(ctx_misuse)
{
    tt_tensor *x = leaf(vec(TT_F64, 2, (double[]){1, 2}));
    const tg_function f = {"Misuse", misuse_forward, misuse_backward, false};
    tt_tensor *y = tg_function_apply(&f, 1, &x, NULL), *s = tg_sum(y);
    CHECK(s && tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), ((double[]){2, 2}), 2, 0);
    tt_release(s);
    tt_release(y);
    const tg_function nf = {"Null", null_forward, misuse_backward, false};
    CHECK_ERR(tg_function_apply(&nf, 1, &x, NULL), TT_ERUNTIME, "Null: forward returned no tensor");
    const tg_function nameless = {NULL, misuse_forward, misuse_backward, false};
    CHECK_ERR(tg_function_apply(&nameless, 1, &x, NULL), TT_EINVAL, "needs a name");
    CHECK(tg_is_grad_enabled());
    tt_release(x);
}

/* ---- higher derivatives --------------------------------------------------------------- */
TEST(create_graph_second_derivative)
{
    /* d/dx sum(sigmoid(x)) = s(1-s); d/dx sum(s(1-s)) = s(1-s)(1-2s) */
    tt_manual_seed(11);
    tt_tensor *x = leaf(randn(5)), *y = tg_function_apply(&Sigmoid, 1, &x, NULL), *s = tg_sum(y);
    tt_tensor *gx = NULL, *ggx = NULL;
    CHECK(s && tg_autograd_grad(1, &s, NULL, 1, &x, true, true, false, &gx) == TT_OK);
    CHECK(bwd_grad_mode);
    CHECK(gx && tg_requires_grad(gx));
    tt_tensor *sum_gx = tg_sum(gx);
    CHECK(sum_gx && tg_autograd_grad(1, &sum_gx, NULL, 1, &x, false, false, false, &ggx) == TT_OK);
    double want1[5], want2[5];
    for (int i = 0; i < 5; i++) {
        double v = 1 / (1 + exp(-host(x, i)));
        want1[i] = v * (1 - v);
        want2[i] = v * (1 - v) * (1 - 2 * v);
    }
    CHECK_VALUES(gx, want1, 5, 1e-12);
    CHECK_VALUES(ggx, want2, 5, 1e-12);
    tt_tensor *all[] = {x, y, s, gx, ggx, sum_gx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
}

TEST(once_differentiable)
{
    tt_manual_seed(5);
    tt_tensor *x = leaf(randn(3));
    /* y = OSig.apply(x); gx = grad((y*y).sum(), x, create_graph=True): gx.grad_fn is <Error> over AccumulateGrad */
    tt_tensor *y = tg_function_apply(&OnceSigmoid, 1, &x, NULL), *yy = tg_mul(y, y), *s = tg_sum(yy);
    tt_tensor *gx = NULL;
    bwd_grad_mode = true;
    CHECK(s && tg_autograd_grad(1, &s, NULL, 1, &x, true, true, false, &gx) == TT_OK);
    CHECK(!bwd_grad_mode); /* the backward ran with grad mode off */
    CHECK(gx && tg_requires_grad(gx) && tg_grad_fn(gx));
    if (gx && tg_grad_fn(gx)) {
        tg_node *e = tg_grad_fn(gx);
        CHECK_STR(tg_node_name(e), "Error");
        CHECK(tg_node_num_next(e) == 1 && tg_node_next(e, 0, NULL) &&
              !strcmp(tg_node_name(tg_node_next(e, 0, NULL)), "AccumulateGrad"));
    }
    double want[3];
    for (int i = 0; i < 3; i++) {
        double v = 1 / (1 + exp(-host(x, i)));
        want[i] = 2 * v * v * (1 - v);
    }
    CHECK_VALUES(gx, want, 3, 1e-12);
    /* gx.sum().backward(): "trying to differentiate twice a function that was marked with @once_differentiable" */
    tt_tensor *s2 = tg_sum(gx);
    CHECK_ERR(tg_backward(s2, NULL, false, false), TT_ERUNTIME,
              "trying to differentiate twice a function that was marked with @once_differentiable");
    /* grad(gx.sum(), x): x is not in gx's graph, as in PyTorch */
    tt_tensor *ggx = NULL;
    CHECK_ERR(tg_autograd_grad(1, &s2, NULL, 1, &x, false, false, false, &ggx), TT_ERUNTIME,
              "One of the differentiated Tensors appears to not have been used in the graph");
    tt_release(s2);
    tt_release(gx);
    /* when the incoming gradient does not require grad, the result is plain */
    tt_tensor *s3 = tg_sum(y);
    CHECK(s3 && tg_autograd_grad(1, &s3, NULL, 1, &x, false, true, false, &gx) == TT_OK);
    CHECK(gx && !tg_requires_grad(gx));
    /* and a plain backward works */
    tt_release(gx);
    tt_release(s3);
    tt_release(s);
    tt_release(yy);
    tt_tensor *s4 = tg_sum(y);
    CHECK(s4 && tg_backward(s4, NULL, false, false) == TT_OK);
    for (int i = 0; i < 3; i++) {
        double v = 1 / (1 + exp(-host(x, i)));
        want[i] = v * (1 - v);
    }
    CHECK_VALUES(tg_get_grad(x), want, 3, 1e-12);
    tt_release(s4);
    tt_release(y);
    tt_release(x);
}

/* ---- gradcheck (seed 000: MultiplyAdd and Sigmoid pass, a wrong backward fails) ---- */
static tt_tensor *apply_fn(int ninputs, tt_tensor *const *inputs, void *fn)
{
    return tg_function_apply(fn, ninputs, inputs, NULL);
}

static int warnings_seen;
static void count_warning(const char *message, void *ctx)
{
    (void)ctx;
    if (strstr(message, "double precision")) warnings_seen++;
}

TEST(gradcheck_multiply_add)
{
    tt_manual_seed(21);
    tt_tensor *in[3] = {leaf(randn(4)), leaf(randn(4)), leaf(randn(4))};
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(apply_fn, (void *)&MultiplyAdd, 3, in, NULL, &r) == TT_OK);
    CHECK(r && r->passed && !r->message && r->ndiff_inputs == 3);
    tg_gradcheck_report_free(r);
    /* the swapped backward: "Jacobian mismatch for output 0 with respect to input 0," */
    r = NULL;
    CHECK(tg_gradcheck(apply_fn, (void *)&WrongMultiplyAdd, 3, in, NULL, &r) == TT_OK);
    CHECK(r && !r->passed && r->message &&
          !strncmp(r->message, "Jacobian mismatch for output 0 with respect to input 0,\nnumerical:", 66));
    const tg_gradcheck_pair *p0 = r ? tg_gradcheck_pair_at(r, 0, 0) : NULL,
                            *p2 = r ? tg_gradcheck_pair_at(r, 0, 2) : NULL;
    CHECK(p0 && !p0->passed && p2 && p2->passed); /* w and x wrong, b right */
    tg_gradcheck_report_free(r);
    /* and gradgradcheck: the backward is written with tg_ ops */
    r = NULL;
    CHECK(tg_gradgradcheck(apply_fn, (void *)&MultiplyAdd, 3, in, NULL, NULL, &r) == TT_OK);
    CHECK(r && r->passed);
    tg_gradcheck_report_free(r);
    for (int i = 0; i < 3; i++) tt_release(in[i]);
}

TEST(gradcheck_sigmoid)
{
    /* seed 000: gradcheck(Sigmoid.apply, (randn(3,4, requires_grad=True),), eps=1e-3) -> True (float32, with
     * PyTorch's double-precision warning) */
    tt_manual_seed(1);
    tt_tensor *x = leaf(tt_randn(2, (int64_t[]){3, 4}, TT_F32, TT_CPU, NULL));
    tg_gradcheck_options o;
    tg_gradcheck_defaults(&o);
    o.eps = 1e-3;
    tg_gradcheck_report *r = NULL;
    warnings_seen = 0;
    tg_set_warning_handler(count_warning, NULL);
    CHECK(tg_gradcheck(apply_fn, (void *)&Sigmoid, 1, &x, &o, &r) == TT_OK);
    tg_set_warning_handler(NULL, NULL);
    CHECK(r && r->passed);
    CHECK(warnings_seen == 1);
    tg_gradcheck_report_free(r);
    tt_release(x);
    /* in double precision with the defaults, gradcheck and gradgradcheck pass */
    x = leaf(tt_randn(2, (int64_t[]){3, 4}, TT_F64, TT_CPU, NULL));
    r = NULL;
    CHECK(tg_gradcheck(apply_fn, (void *)&Sigmoid, 1, &x, NULL, &r) == TT_OK);
    CHECK(r && r->passed);
    tg_gradcheck_report_free(r);
    r = NULL;
    CHECK(tg_gradgradcheck(apply_fn, (void *)&Sigmoid, 1, &x, NULL, NULL, &r) == TT_OK);
    CHECK(r && r->passed);
    tg_gradcheck_report_free(r);
    /* once-differentiable: gradcheck passes; gradgradcheck does not (PyTorch: "Jacobian mismatch for output 0
     * with respect to input 0,": the Error node does not lead back to x) */
    r = NULL;
    CHECK(tg_gradcheck(apply_fn, (void *)&OnceSigmoid, 1, &x, NULL, &r) == TT_OK);
    CHECK(r && r->passed);
    tg_gradcheck_report_free(r);
    r = NULL;
    tt_status st = tg_gradgradcheck(apply_fn, (void *)&OnceSigmoid, 1, &x, NULL, NULL, &r);
    CHECK(st == TT_OK && r && !r->passed && r->message &&
          !strncmp(r->message, "Jacobian mismatch for output 0 with respect to input 0,", 55));
    if (st != TT_OK) printf("#   gradgradcheck error: %s\n", tt_last_error());
    tg_gradcheck_report_free(r);
    tt_release(x);
}

int main(void)
{
    tg_set_warning_handler(NULL, NULL);
    RUN(records_node_like_pytorch);
    RUN(grad_fn_follows_non_leaf_inputs);
    RUN(no_record_without_grad);
    RUN(multiply_add_matches_composed_ops);
    RUN(sigmoid_matches_builtin_and_composed);
    RUN(incorrect_number_of_gradients);
    RUN(invalid_gradient_shape_and_broadcast);
    RUN(null_inputs_and_user_data);
    RUN(outputs_input_and_integer);
    RUN(saved_input_modified_in_place);
    RUN(saved_output_modified_in_place);
    RUN(retain_graph);
    RUN(saving_output_makes_no_cycle);
    RUN(ctx_misuse);
    RUN(create_graph_second_derivative);
    RUN(once_differentiable);
    RUN(gradcheck_multiply_add);
    RUN(gradcheck_sigmoid);
    return DONE();
}
