/* libgrad's autograd semantics (SPEC §4) and the seeds' acceptance examples
 * (SPEC §6), from C. Every expected value, message and printed string is
 * PyTorch 1.13's for the same Python, quoted in the comments; the one
 * deliberate difference is the spec's capitalised "Only Tensors of floating
 * point dtype can require gradients". */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tg/grad.h"

/* ---- helpers ------------------------------------------------------------- */
static tt_tensor *mk(tt_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    tt_tensor *d = tt_from_data(ndim, shape, TT_F64, v, TT_CPU);
    tt_tensor *t = d ? tt_cast(d, dt) : NULL;
    tt_release(d);
    return t;
}
#define V32(...) mk(TT_F32, 1, (int64_t[]){sizeof((double[]){__VA_ARGS__}) / sizeof(double)}, (double[]){__VA_ARGS__})
#define V64(...) mk(TT_F64, 1, (int64_t[]){sizeof((double[]){__VA_ARGS__}) / sizeof(double)}, (double[]){__VA_ARGS__})

/* A leaf that requires grad. */
static tt_tensor *param(tt_tensor *t)
{
    if (t && tg_set_requires_grad(t, true) != TT_OK) {
        tt_release(t);
        return NULL;
    }
    return t;
}

static double item(const tt_tensor *t)
{
    double v = NAN;
    if (!t || tt_item(t, &v) != TT_OK) return NAN;
    return v;
}

#define CHECK_FMT(t, want)                    \
    do {                                      \
        const tt_tensor *t_ = (t);            \
        char *s_ = t_ ? tg_format(t_) : NULL; \
        CHECK_STR(s_, want);                  \
        free(s_);                             \
    } while (0)
#define CHECK_NODE(n, name) CHECK_STR((n) ? tg_node_name(n) : "(no node)", name)
/* The last error must be exactly PyTorch's sentence. */
#define CHECK_MSG(status_expr, want)                                                  \
    do {                                                                              \
        tt_status st_ = (status_expr);                                                \
        if (st_ == TT_OK) FAILF("%s succeeded; expected \"%s\"", #status_expr, want); \
        else CHECK_STR(tt_last_error(), want);                                        \
    } while (0)
#define CHECK_NULL_MSG(expr, want)                               \
    do {                                                         \
        tt_tensor *r_ = (expr);                                  \
        if (r_) {                                                \
            FAILF("%s succeeded; expected \"%s\"", #expr, want); \
            tt_release(r_);                                      \
        } else CHECK_STR(tt_last_error(), want);                 \
    } while (0)

/* Warnings are captured, not printed. */
static int nwarn;
static char last_warn[2048];
static void on_warning(const char *message, void *ctx)
{
    (void)ctx;
    nwarn++;
    snprintf(last_warn, sizeof last_warn, "%s", message);
}

static const char NONLEAF_GRAD_WARNING[] =
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't be "
    "populated during autograd.backward(). If you indeed want the .grad field to be populated for a non-leaf "
    "Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure "
    "you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more informations.";
static const char SECOND_TIME[] =
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if "
    "you need to access saved tensors after calling backward.";
static const char LEAF_INPLACE[] = "a leaf Variable that requires grad is being used in an in-place operation.";
#define VERSION_MSG(what, where)                                                                                       \
    "one of the variables needed for gradient computation has been modified by an inplace operation: [" what "]" where \
    " is at version 1; expected version 0 instead. Hint: enable anomaly detection to find the operation "              \
    "that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True)."

/* ---- §4.1 only floating tensors require grad ----------------------------- */
TEST(only_floating_requires_grad)
{
    tt_tensor *i = tt_arange(0, 3, 1, TT_I64, TT_CPU), *b = tt_ones(1, (int64_t[]){2}, TT_BOOL, TT_CPU);
    /* torch.arange(3).requires_grad_() */
    CHECK_MSG(tg_set_requires_grad(i, true), "Only Tensors of floating point dtype can require gradients");
    CHECK(tt_last_status() == TT_ERUNTIME);
    CHECK_MSG(tg_set_requires_grad(b, true), "Only Tensors of floating point dtype can require gradients");
    CHECK(!tg_requires_grad(i) && !tg_requires_grad(b));
    CHECK(tg_set_requires_grad(i, false) == TT_OK); /* requires_grad_(False) is fine */
    tt_tensor *f = tt_ones(1, (int64_t[]){2}, TT_F32, TT_CPU), *d = tt_ones(1, (int64_t[]){2}, TT_F64, TT_CPU);
    CHECK(!tg_requires_grad(f)); /* default False */
    CHECK(tg_set_requires_grad(f, true) == TT_OK && tg_requires_grad(f));
    CHECK(tg_set_requires_grad(d, true) == TT_OK && tg_requires_grad(d));
    CHECK(tg_set_requires_grad(f, false) == TT_OK && !tg_requires_grad(f)); /* a leaf may be switched off */
    tt_release(i);
    tt_release(b);
    tt_release(f);
    tt_release(d);
}

/* ---- §4.2/4.3 propagation, leaves, no_grad ---------------------------------- */
TEST(requires_grad_propagation)
{
    tt_tensor *a = param(V32(1, 2)), *b = V32(3, 4);
    tt_tensor *c = tg_add(a, b), *bb = tg_mul(b, b), *cc = tg_mul(c, bb);
    CHECK(tg_requires_grad(c) && !tg_is_leaf(c) && tg_grad_fn(c));
    CHECK(!tg_requires_grad(bb) && tg_is_leaf(bb) && !tg_grad_fn(bb));
    CHECK(tg_requires_grad(cc));
    /* comparisons are never recorded: (a > b).requires_grad == False */
    tt_tensor *gt = tg_binary(TT_GT, a, b);
    CHECK(gt && gt->dtype == TT_BOOL && !tg_requires_grad(gt) && !tg_grad_fn(gt));
    tt_release(a);
    tt_release(b);
    tt_release(c);
    tt_release(bb);
    tt_release(cc);
    tt_release(gt);
}

TEST(no_grad_scopes)
{
    tt_tensor *a = param(V32(1, 2)), *y = NULL, *z = NULL, *w = NULL, *u = NULL;
    CHECK(tg_is_grad_enabled());
    TG_NO_GRAD
    {
        CHECK(!tg_is_grad_enabled());
        y = tg_mul_scalar(a, 2);                     /* with torch.no_grad(): y = x * 2 -> y.requires_grad False */
        TG_NO_GRAD { CHECK(!tg_is_grad_enabled()); } /* nested: still off afterwards */
        CHECK(!tg_is_grad_enabled());
        TG_ENABLE_GRAD
        {
            CHECK(tg_is_grad_enabled());
            z = tg_mul_scalar(a, 2);
        }
        CHECK(!tg_is_grad_enabled());
        w = tg_exp(a);
    }
    CHECK(tg_is_grad_enabled());
    u = tg_mul_scalar(a, 2);
    CHECK(y && !tg_requires_grad(y) && tg_is_leaf(y) && !tg_grad_fn(y));
    CHECK(z && tg_requires_grad(z) && tg_grad_fn(z));
    CHECK(w && !tg_requires_grad(w));
    CHECK(u && tg_requires_grad(u));
    CHECK_FMT(y, "tensor([2., 4.])");
    CHECK_FMT(z, "tensor([2., 4.], grad_fn=<MulBackward0>)");
    /* tg_set_grad_enabled returns the previous mode */
    CHECK(tg_set_grad_enabled(false) == true);
    CHECK(tg_set_grad_enabled(false) == false);
    CHECK(tg_set_grad_enabled(true) == false);
    CHECK(tg_is_grad_enabled());
    tt_release(a);
    tt_release(y);
    tt_release(z);
    tt_release(w);
    tt_release(u);
}

/* ---- §6 seed 000: a = ones(3,4), b = zeros(3,4), c = a + b, d = c.sum() ---------- */
TEST(seed000_add_sum)
{
    int64_t s[2] = {3, 4};
    tt_tensor *a = param(tt_ones(2, s, TT_F32, TT_CPU)), *b = tt_zeros(2, s, TT_F32, TT_CPU);
    CHECK_FMT(a,
              "tensor([[1., 1., 1., 1.],\n        [1., 1., 1., 1.],\n        [1., 1., 1., 1.]], requires_grad=True)");
    CHECK_FMT(b, "tensor([[0., 0., 0., 0.],\n        [0., 0., 0., 0.],\n        [0., 0., 0., 0.]])");
    tt_tensor *c = tg_add(a, b);
    CHECK_FMT(
        c, "tensor([[1., 1., 1., 1.],\n        [1., 1., 1., 1.],\n        [1., 1., 1., 1.]], grad_fn=<AddBackward0>)");
    tt_tensor *d = tg_sum(c);
    /* c.data.sum(), c.sum() -> (tensor(12.), tensor(12., grad_fn=<SumBackward0>)) */
    tt_tensor *cd = tg_data(c), *cds = tg_sum(cd);
    CHECK_FMT(cds, "tensor(12.)");
    CHECK_FMT(d, "tensor(12., grad_fn=<SumBackward0>)");
    CHECK(tg_backward(d, NULL, false, false) == TT_OK);
    double ones[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_VALUES(tg_get_grad(a), ones, 12, 0);
    CHECK_FMT(tg_get_grad(a), "tensor([[1., 1., 1., 1.],\n        [1., 1., 1., 1.],\n        [1., 1., 1., 1.]])");
    CHECK(tg_requires_grad(a) && !tg_requires_grad(b) && tg_requires_grad(c)); /* (True, False, True) */
    CHECK(tg_is_leaf(a) && tg_is_leaf(b) && !tg_is_leaf(c));                   /* (True, True, False) */
    /* c.grad is None, with PyTorch's UserWarning */
    nwarn = 0;
    CHECK(tg_get_grad(c) == NULL);
    CHECK(nwarn == 1);
    CHECK_STR(last_warn, NONLEAF_GRAD_WARNING);
    nwarn = 0;
    CHECK(tg_get_grad(b) == NULL && tg_get_grad(a) != NULL && nwarn == 0); /* leaves never warn */
    tt_release(a);
    tt_release(b);
    tt_release(c);
    tt_release(d);
    tt_release(cd);
    tt_release(cds);
}

/* Tensors made in a test are kept here and released after it (RUNK). */
static tt_tensor *kept[1 << 14];
static int nkept;
static tt_tensor *K(tt_tensor *t)
{
    if (t && nkept < (int)(sizeof kept / sizeof *kept)) kept[nkept++] = t;
    return t;
}
static void release_kept(void)
{
    while (nkept) tt_release(kept[--nkept]);
}
#define RUNK(name)      \
    do {                \
        RUN(name);      \
        release_kept(); \
    } while (0)

/* y = x**2 * t.exp(x) on randn(3,4); y.backward(t.ones(y.size())) == 2*x*exp(x) + x**2*exp(x) */
TEST(seed000_x2_exp)
{
    tt_manual_seed(1000);
    tt_tensor *x = K(param(tt_randn(2, (int64_t[]){3, 4}, TT_F32, TT_CPU, NULL)));
    tt_tensor *y = K(tg_mul(K(tg_pow_scalar(x, 2)), K(tg_exp(x))));
    CHECK_NODE(tg_grad_fn(y), "MulBackward0");
    CHECK(tg_backward(y, K(tt_ones_like(y)), false, false) == TT_OK);
    /* gradf(x) = 2*x*exp(x) + x**2*exp(x), computed without autograd */
    tt_tensor *e = K(tt_exp(x));
    tt_tensor *want = K(tt_add(K(tt_mul(K(tt_mul_scalar(x, 2)), e)), K(tt_mul(K(tt_pow_scalar(x, 2)), e))));
    double w[12];
    CHECK(want && tt_to_host(want, TT_F64, w) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), w, 12, 1e-6);
    /* gradf(x) on tensors that require grad is itself tracked: grad_fn=<AddBackward0> */
    tt_tensor *gf =
        K(tg_add(K(tg_mul(K(tg_mul_scalar(x, 2)), K(tg_exp(x)))), K(tg_mul(K(tg_pow_scalar(x, 2)), K(tg_exp(x))))));
    CHECK_NODE(tg_grad_fn(gf), "AddBackward0");
    CHECK_VALUES(gf, w, 12, 1e-6);
}

/* x = ones(1); b, w = rand(1) requiring grad; y = w * x; z = y + b */
TEST(seed000_graph_wx_b)
{
    tt_manual_seed(7);
    tt_tensor *x = K(tt_ones(1, (int64_t[]){1}, TT_F32, TT_CPU));
    tt_tensor *b = K(param(tt_rand(1, (int64_t[]){1}, TT_F32, TT_CPU, NULL)));
    tt_tensor *w = K(param(tt_rand(1, (int64_t[]){1}, TT_F32, TT_CPU, NULL)));
    tt_tensor *y = K(tg_mul(w, x)), *z = K(tg_add(y, b));
    CHECK(!tg_requires_grad(x) && tg_requires_grad(b) && tg_requires_grad(w)); /* (False, True, True) */
    CHECK(tg_requires_grad(y));
    CHECK(tg_is_leaf(x) && tg_is_leaf(b) && tg_is_leaf(w));
    CHECK(!tg_is_leaf(y) && !tg_is_leaf(z));
    tg_node *zf = tg_grad_fn(z), *yf = tg_grad_fn(y);
    CHECK_NODE(zf, "AddBackward0");
    int nr = -1;
    /* ((<MulBackward0>, 0), (<AccumulateGrad>, 0)) */
    CHECK(zf && tg_node_num_next(zf) == 2);
    if (zf) {
        CHECK_NODE(tg_node_next(zf, 0, &nr), "MulBackward0");
        CHECK(nr == 0);
        CHECK(tg_node_next(zf, 0, NULL) == yf); /* z.grad_fn.next_functions[0][0] == y.grad_fn */
        CHECK_NODE(tg_node_next(zf, 1, &nr), "AccumulateGrad");
        CHECK(nr == 0 && tg_node_variable(tg_node_next(zf, 1, NULL)) == b);
    }
    /* ((<AccumulateGrad>, 0), (None, 0)) */
    CHECK(yf && tg_node_num_next(yf) == 2);
    if (yf) {
        CHECK_NODE(tg_node_next(yf, 0, &nr), "AccumulateGrad");
        CHECK(nr == 0 && tg_node_variable(tg_node_next(yf, 0, NULL)) == w);
        nr = -1;
        CHECK(tg_node_next(yf, 1, &nr) == NULL && nr == 0);
        /* MulBackward0 saved x (as "other") to compute w's gradient */
        CHECK(tg_node_num_saved(yf) >= 1);
    }
    CHECK(tg_grad_fn(w) == NULL && tg_grad_fn(x) == NULL); /* (None, None) */
    /* z.backward(retain_graph=True); w.grad -> tensor([1.]); z.backward(); w.grad -> tensor([2.]) */
    CHECK(tg_backward(z, NULL, true, false) == TT_OK);
    CHECK_FMT(tg_get_grad(w), "tensor([1.])");
    CHECK(tg_backward(z, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(w), "tensor([2.])");
    CHECK_FMT(tg_get_grad(b), "tensor([2.])");
    /* a third time: MulBackward0's saved x is gone */
    CHECK_MSG(tg_backward(z, NULL, false, false), SECOND_TIME);
    CHECK_FMT(tg_get_grad(w), "tensor([2.])");
    if (yf) {
        const char *name = NULL;
        CHECK_NULL_MSG(tg_node_saved(yf, 0, &name), SECOND_TIME); /* y.grad_fn._saved_other */
    }
}

/* def abs(x): return x if x.data[0] > 0 else -x: the graph follows C control flow */
static tt_tensor *dyn_abs(tt_tensor *x) { return item(x) > 0 ? tt_retain(x) : tg_neg(x); }
TEST(seed000_dynamic_abs)
{
    tt_tensor *x = K(param(V32(1)));
    tt_tensor *y = K(dyn_abs(x));
    CHECK(tg_backward(y, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([1.])");
    tt_tensor *x2 = K(param(V32(-1)));
    tt_tensor *y2 = K(dyn_abs(x2));
    CHECK_NODE(tg_grad_fn(y2), "NegBackward0");
    CHECK(tg_backward(y2, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x2), "tensor([-1.])");
}

/* f(x): result = 1; for ii in x: if ii.data > 0: result = ii * result
 * x = arange(-2, 4).float() -> x.grad == [0, 0, 0, 6, 3, 2] */
TEST(seed000_prod_of_positives)
{
    tt_tensor *xi = K(tt_arange(-2, 4, 1, TT_I64, TT_CPU));
    CHECK_MSG(tg_set_requires_grad(xi, true), "Only Tensors of floating point dtype can require gradients");
    tt_tensor *x = K(param(tt_cast(xi, TT_F32)));
    tt_tensor *result = K(tt_scalar(1, TT_F32, TT_CPU));
    for (int64_t i = 0; i < 6; i++) {
        tt_tensor *ii = K(tg_select(x, 0, i));
        if (item(ii) > 0) result = K(tg_mul(ii, result));
    }
    CHECK_FMT(result, "tensor(6., grad_fn=<MulBackward0>)");
    CHECK(tg_backward(result, NULL, false, false) == TT_OK);
    double want[] = {0, 0, 0, 6, 3, 2};
    CHECK_VALUES(tg_get_grad(x), want, 6, 0);
    CHECK_FMT(tg_get_grad(x), "tensor([0., 0., 0., 6., 3., 2.])");
    /* the same with where: torch.where(x > 0, x, ones(6)).prod() */
    tt_tensor *x2 = K(param(tt_cast(xi, TT_F32)));
    tt_tensor *zero = K(tt_scalar(0, TT_F32, TT_CPU));
    tt_tensor *p = K(tg_prod(K(tg_where(K(tg_binary(TT_GT, x2, zero)), x2, K(tt_ones_like(x2))))));
    CHECK_FMT(p, "tensor(6., grad_fn=<ProdBackward0>)");
    CHECK(tg_backward(p, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x2), want, 6, 0);
}

/* x = ones(3), w = rand(3) requiring grad; y = x * w; z = y.sum() */
TEST(seed000_intermediate_grads)
{
    tt_manual_seed(3);
    tt_tensor *x = K(param(tt_ones(1, (int64_t[]){3}, TT_F32, TT_CPU)));
    tt_tensor *w = K(param(tt_rand(1, (int64_t[]){3}, TT_F32, TT_CPU, NULL)));
    tt_tensor *y = K(tg_mul(x, w)), *z = K(tg_sum(y));
    CHECK(tg_requires_grad(x) && tg_requires_grad(w) && tg_requires_grad(y));
    /* t.autograd.grad(z, y) -> (tensor([1., 1., 1.]),) */
    tt_tensor *gy = NULL;
    CHECK(tg_autograd_grad(1, &z, NULL, 1, &y, true, false, false, &gy) == TT_OK);
    K(gy);
    CHECK_FMT(gy, "tensor([1., 1., 1.])");
    CHECK(tg_get_grad(x) == NULL && tg_get_grad(w) == NULL); /* autograd.grad leaves .grad alone */
    /* z.backward(): x.grad == w, w.grad == x, y.grad is None */
    CHECK(tg_backward(z, NULL, false, false) == TT_OK);
    double wv[3];
    CHECK(tt_to_host(w, TT_F64, wv) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), wv, 3, 0);
    CHECK_VALUES(tg_get_grad(w), ((double[]){1, 1, 1}), 3, 0);
    nwarn = 0;
    CHECK(tg_get_grad(y) == NULL && nwarn == 1);
}

/* hook = y.register_hook(variable_hook): prints y's gradient tensor([1., 1., 1.]) */
static int hook_calls;
static double hook_seen[8];
static tt_tensor *record_hook(const tt_tensor *grad, void *ctx)
{
    (void)ctx;
    hook_calls++;
    int64_t n = tt_numel(grad);
    if (n <= 8) tt_to_host(grad, TT_F64, hook_seen);
    return NULL;
}
static tt_tensor *times10_hook(const tt_tensor *grad, void *ctx)
{
    (void)ctx;
    hook_calls++;
    return tt_mul_scalar(grad, 10);
}
static tt_tensor *sevens_hook(const tt_tensor *grad, void *ctx)
{
    (void)ctx;
    hook_calls++;
    return tt_full_like(grad, 7);
}

TEST(seed000_hook_on_intermediate)
{
    tt_manual_seed(3);
    tt_tensor *x = K(param(tt_ones(1, (int64_t[]){3}, TT_F32, TT_CPU)));
    tt_tensor *w = K(param(tt_rand(1, (int64_t[]){3}, TT_F32, TT_CPU, NULL)));
    tt_tensor *y = K(tg_mul(x, w));
    int h = tg_register_hook(y, record_hook, NULL);
    CHECK(h >= 0);
    tt_tensor *z = K(tg_sum(y));
    hook_calls = 0;
    CHECK(tg_backward(z, NULL, false, false) == TT_OK);
    CHECK(hook_calls == 1);
    CHECK(hook_seen[0] == 1 && hook_seen[1] == 1 && hook_seen[2] == 1);
    CHECK(tg_remove_hook(y, h) == TT_OK); /* hook_handle.remove() */
    CHECK(tg_remove_hook(y, h) != TT_OK); /* already gone */
}

/* x = arange(0,3).float(); y = x**2 + x*2; z = y.sum(); z.backward() -> [2, 4, 6];
 * y.backward(Tensor([1,1,1])) gives the same */
TEST(seed000_grad_variables)
{
    double want[] = {2, 4, 6};
    tt_tensor *x = K(param(tt_arange(0, 3, 1, TT_F32, TT_CPU)));
    tt_tensor *y = K(tg_add(K(tg_pow_scalar(x, 2)), K(tg_mul_scalar(x, 2))));
    tt_tensor *z = K(tg_sum(y));
    CHECK(tg_backward(z, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), want, 3, 0);
    CHECK_FMT(tg_get_grad(x), "tensor([2., 4., 6.])");
    tt_tensor *x2 = K(param(tt_arange(0, 3, 1, TT_F32, TT_CPU)));
    tt_tensor *y2 = K(tg_add(K(tg_pow_scalar(x2, 2)), K(tg_mul_scalar(x2, 2))));
    CHECK(tg_backward(y2, K(V32(1, 1, 1)), false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x2), want, 3, 0);
}

/* x = Tensor([5]) requiring grad; y = x**2;
 * grad_x = autograd.grad(y, x, create_graph=True) -> (tensor([10.], grad_fn=<MulBackward0>),)
 * autograd.grad(grad_x[0], x) -> (tensor([2.]),) */
TEST(seed000_double_grad)
{
    tt_tensor *x = K(param(V32(5)));
    tt_tensor *y = K(tg_pow_scalar(x, 2));
    CHECK_NODE(tg_grad_fn(y), "PowBackward0");
    tt_tensor *gx = NULL, *ggx = NULL;
    CHECK(tg_autograd_grad(1, &y, NULL, 1, &x, false, true, false, &gx) == TT_OK);
    K(gx);
    CHECK_FMT(gx, "tensor([10.], grad_fn=<MulBackward0>)");
    CHECK(tg_autograd_grad(1, &gx, NULL, 1, &x, false, false, false, &ggx) == TT_OK);
    K(ggx);
    CHECK_FMT(ggx, "tensor([2.])");
    CHECK(tg_get_grad(x) == NULL);
}

/* seed 001: x = ones(2,2) requiring grad; y = x + 1; z = y*y*2; out = z.mean(); out.backward() */
TEST(seed001_mean)
{
    tt_tensor *x = K(param(tt_ones(2, (int64_t[]){2, 2}, TT_F32, TT_CPU)));
    CHECK_FMT(x, "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)");
    tt_tensor *y = K(tg_add_scalar(x, 1));
    CHECK_FMT(y, "tensor([[2., 2.],\n        [2., 2.]], grad_fn=<AddBackward0>)");
    tt_tensor *z = K(tg_mul_scalar(K(tg_mul(y, y)), 2));
    CHECK_FMT(z, "tensor([[8., 8.],\n        [8., 8.]], grad_fn=<MulBackward0>)");
    tt_tensor *out = K(tg_mean(z));
    CHECK_FMT(out, "tensor(8., grad_fn=<MeanBackward0>)");
    CHECK(tg_backward(out, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([[2., 2.],\n        [2., 2.]])"); /* d/dx mean(2(x+1)^2) = x + 1 */
}

/* seed 001: a = randn(2,2); a = ((a*3)/(a-1)); a.requires_grad = True; b = (a*a).sum();
 * with torch.no_grad(): c = (a*a).sum() -> no grad_fn */
TEST(seed001_requires_grad_switch)
{
    tt_manual_seed(11);
    tt_tensor *a0 = K(tt_randn(2, (int64_t[]){2, 2}, TT_F32, TT_CPU, NULL));
    tt_tensor *a = K(tg_div(K(tg_mul_scalar(a0, 3)), K(tg_add_scalar(a0, -1))));
    CHECK(!tg_requires_grad(a) && tg_is_leaf(a));
    CHECK(tg_set_requires_grad(a, true) == TT_OK && tg_requires_grad(a));
    tt_tensor *b = K(tg_sum(K(tg_mul(a, a))));
    CHECK_NODE(tg_grad_fn(b), "SumBackward0");
    tt_tensor *c = NULL;
    TG_NO_GRAD { c = K(tg_sum(K(tg_mul(a, a)))); }
    CHECK(c && !tg_grad_fn(c) && !tg_requires_grad(c));
    CHECK_NEAR(item(c), item(b), 1e-6);
    /* tensor.data == tensor values, and detach() shares them */
    tt_tensor *d = K(tg_detach(a));
    CHECK(d && d->storage == a->storage && !tg_requires_grad(d));
}

/* seed 003: w.data -= lr * w.grad keeps w a leaf (same tensor, same storage),
 * w.grad.zero_() between steps; y = 2x + randn, x = rand(20,1)*5, lr 0.01,
 * stop at loss <= 0.1 or 100 epochs. */
TEST(seed003_data_update_loop)
{
    tt_manual_seed(2021);
    tt_tensor *x = K(tt_mul_scalar(K(tt_rand(2, (int64_t[]){20, 1}, TT_F32, TT_CPU, NULL)), 5));
    tt_tensor *y = K(tt_add(K(tt_mul_scalar(x, 2)), K(tt_randn(2, (int64_t[]){20, 1}, TT_F32, TT_CPU, NULL))));
    tt_tensor *w = K(param(V32(1))), *b = K(param(V32(1)));
    tt_storage *ws = w->storage;
    double first = NAN, loss_v = NAN;
    int epochs = 0;
    for (int i = 0; i < 100; i++, epochs++) {
        size_t mark = (size_t)nkept;
        tt_tensor *yp = K(tg_add(K(tg_mul(w, x)), b));
        tt_tensor *loss = K(tg_mean(K(tg_mul_scalar(K(tg_pow_scalar(K(tg_sub(y, yp)), 2)), 0.5))));
        loss_v = item(loss);
        if (i == 0) first = loss_v;
        CHECK(tg_backward(loss, NULL, false, false) == TT_OK);
        tt_tensor *wd = tg_data(w), *bd = tg_data(b);
        tt_tensor *uw = tt_mul_scalar(tg_get_grad(w), 0.01), *ub = tt_mul_scalar(tg_get_grad(b), 0.01);
        CHECK(tt_sub_(wd, uw) == TT_OK && tt_sub_(bd, ub) == TT_OK);
        tt_release(wd);
        tt_release(bd);
        tt_release(uw);
        tt_release(ub);
        CHECK(tg_zero_grad(w) == TT_OK && tg_zero_grad(b) == TT_OK);
        while ((size_t)nkept > mark) tt_release(kept[--nkept]);
        if (loss_v <= 0.1) break;
    }
    CHECK(tg_is_leaf(w) && tg_is_leaf(b) && tg_requires_grad(w) && !tg_grad_fn(w) && w->storage == ws);
    CHECK(tt_version(w) == 0); /* .data writes are invisible to autograd */
    CHECK(loss_v < first / 4);
    CHECK_NEAR(item(tg_get_grad(w)), 0, 0);
}

/* seed 003's trap: w = w - lr * w.grad makes w a non-leaf whose .grad stays empty
 * (and reading it warns); w -= lr * w.grad fails on the leaf; under no_grad it works. */
TEST(seed003_trap)
{
    tt_tensor *x = K(V32(1, 2, 3));
    tt_tensor *w = K(param(V32(1)));
    tt_tensor *loss = K(tg_sum(K(tg_mul(w, x))));
    CHECK(tg_backward(loss, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(w), "tensor([6.])");
    /* w -= lr * w.grad: RuntimeError */
    tt_tensor *step = K(tt_mul_scalar(tg_get_grad(w), 0.1));
    CHECK_MSG(tg_sub_(w, step), LEAF_INPLACE);
    CHECK_FMT(w, "tensor([1.], requires_grad=True)"); /* unchanged */
    /* w = w - lr * w.grad -> tensor([0.4000], grad_fn=<SubBackward0>), w.is_leaf False */
    tt_tensor *w2 = K(tg_sub(w, K(tg_mul_scalar(tg_get_grad(w), 0.1))));
    CHECK_FMT(w2, "tensor([0.4000], grad_fn=<SubBackward0>)");
    CHECK(!tg_is_leaf(w2) && tg_requires_grad(w2));
    tt_tensor *loss2 = K(tg_sum(K(tg_mul(w2, x))));
    CHECK(tg_backward(loss2, NULL, false, false) == TT_OK);
    nwarn = 0;
    CHECK(tg_get_grad(w2) == NULL); /* the seed's NoneType error comes from here */
    CHECK(nwarn == 1);
    CHECK_STR(last_warn, NONLEAF_GRAD_WARNING);
    CHECK_FMT(tg_get_grad(w), "tensor([12.])"); /* the gradient went to the old leaf */
    /* with torch.no_grad(): w -= lr * w.grad  (seed 002's update) */
    uint64_t v0 = tt_version(w);
    tt_status st = TT_EINVAL;
    TG_NO_GRAD { st = tg_sub_(w, K(tt_mul_scalar(tg_get_grad(w), 0.1))); }
    CHECK(st == TT_OK);
    CHECK_NEAR(item(w), 1 - 1.2, 1e-6);
    CHECK(tg_is_leaf(w) && tg_requires_grad(w) && tt_version(w) == v0 + 1);
}

/* ---- §4.5 backward ------------------------------------------------------------- */
TEST(leaf_grads_accumulate)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    for (int i = 0; i < 3; i++) {
        tt_tensor *y = tg_sum(K(tg_mul(x, x)));
        CHECK(tg_backward(y, NULL, false, false) == TT_OK);
        tt_release(y);
    }
    CHECK_VALUES(tg_get_grad(x), ((double[]){6, 12, 18}), 3, 0);
    tt_tensor *g = tg_get_grad(x);
    CHECK(tg_zero_grad(x) == TT_OK && tg_get_grad(x) == g); /* zeroed in place */
    CHECK_FMT(tg_get_grad(x), "tensor([0., 0., 0.])");
    tt_tensor *y = K(tg_sum(x));
    CHECK(tg_backward(y, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([1., 1., 1.])");
    /* x.grad = None, then set explicitly */
    CHECK(tg_set_grad(x, NULL) == TT_OK && tg_get_grad(x) == NULL);
    CHECK(tg_zero_grad(x) == TT_OK); /* no-op without a grad */
    tt_tensor *g2 = K(V32(5, 5, 5));
    CHECK(tg_set_grad(x, g2) == TT_OK && tg_get_grad(x) == g2);
    CHECK(tg_backward(y, NULL, false, false) == TT_OK); /* SumBackward0 saved nothing: runs again */
    CHECK_FMT(tg_get_grad(x), "tensor([6., 6., 6.])");
    /* x.grad = torch.ones(2): assigned grad has data of a different size */
    CHECK(tg_set_grad(x, K(V32(1, 1))) != TT_OK);
}

TEST(retain_grad)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    tt_tensor *y = K(tg_mul_scalar(x, 2));
    CHECK(!tg_retains_grad(y));
    CHECK(tg_retain_grad(y) == TT_OK && tg_retains_grad(y));
    tt_tensor *z = K(tg_sum(K(tg_mul(y, y))));
    CHECK(tg_backward(z, NULL, true, false) == TT_OK);
    nwarn = 0;
    CHECK_FMT(tg_get_grad(y), "tensor([ 4.,  8., 12.])");
    CHECK(nwarn == 0);
    CHECK_FMT(tg_get_grad(x), "tensor([ 8., 16., 24.])");
    CHECK(tg_backward(z, NULL, false, false) == TT_OK); /* retained grads accumulate too */
    CHECK_FMT(tg_get_grad(y), "tensor([ 8., 16., 24.])");
    /* leaves: a no-op; tensors without grad: torch's error */
    CHECK(tg_retain_grad(x) == TT_OK);
    CHECK_MSG(tg_retain_grad(K(V32(1))), "can't retain_grad on Tensor that has requires_grad=False");
    CHECK_MSG(tg_register_hook(K(V32(1)), record_hook, NULL) < 0 ? tt_last_status() : TT_OK,
              "cannot register a hook on a tensor that doesn't require gradient");
}

/* backward with a non-scalar root needs a grad_output of the root's shape */
TEST(backward_errors)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    tt_tensor *y = K(tg_mul_scalar(x, 2));
    CHECK_MSG(tg_backward(y, NULL, false, false), "grad can be implicitly created only for scalar outputs");
    CHECK_MSG(tg_backward(y, K(V32(1, 1)), false, false),
              "Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has a shape of "
              "torch.Size([3]).");
    /* torch.ones(3).sum().backward() */
    tt_tensor *s = K(tg_sum(K(V32(1, 1, 1))));
    CHECK_MSG(tg_backward(s, NULL, false, false),
              "element 0 of tensors does not require grad and does not have a grad_fn");
    CHECK(tg_get_grad(x) == NULL); /* nothing ran */
    /* a one-element non-0-d root is fine: y[0:1].backward() */
    tt_tensor *one = K(tg_slice(y, 0, 0, 1, 1));
    CHECK(tg_backward(one, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([2., 0., 0.])");
    /* backward on a leaf itself: x.sum() of nothing but x */
    tt_tensor *l = K(param(V32(4)));
    CHECK(tg_backward(l, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(l), "tensor([1.])");
}

/* only nodes that saved tensors refuse a second backward */
TEST(second_backward)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    tt_tensor *z = K(tg_sum(K(tg_mul(x, x))));
    CHECK(tg_backward(z, NULL, false, false) == TT_OK);
    CHECK_MSG(tg_backward(z, NULL, false, false), SECOND_TIME);
    /* z = (x + x).sum(): nothing saved, backward twice works -> x.grad = [6, 8, 10] */
    tt_tensor *z2 = K(tg_sum(K(tg_add(x, x))));
    CHECK(tg_backward(z2, NULL, false, false) == TT_OK);
    CHECK(tg_backward(z2, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([ 6.,  8., 10.])");
    /* retain_graph keeps the buffers */
    tt_tensor *z3 = K(tg_sum(K(tg_exp(x))));
    CHECK(tg_backward(z3, NULL, true, false) == TT_OK);
    CHECK(tg_backward(z3, NULL, true, false) == TT_OK);
    CHECK(tg_backward(z3, NULL, false, false) == TT_OK);
    CHECK_MSG(tg_backward(z3, NULL, false, false), SECOND_TIME);
    /* autograd.grad frees buffers as well */
    tt_tensor *z4 = K(tg_sum(K(tg_exp(x)))), *g = NULL;
    CHECK(tg_autograd_grad(1, &z4, NULL, 1, &x, false, false, false, &g) == TT_OK);
    K(g);
    CHECK_MSG(tg_autograd_grad(1, &z4, NULL, 1, &x, false, false, false, &g), SECOND_TIME);
    CHECK(g == NULL);
}

/* ---- §4.6 autograd.grad --------------------------------------------------------- */
TEST(autograd_grad)
{
    tt_tensor *x = K(param(V32(1, 2, 3))), *w = K(param(V32(4, 5, 6))), *c = K(V32(1, 1, 1));
    tt_tensor *y = K(tg_sum(K(tg_mul_scalar(x, 2))));
    tt_tensor *in[2] = {x, w}, *g[2] = {NULL, NULL};
    /* torch.autograd.grad((x*2).sum(), [x, w]) */
    CHECK_MSG(tg_autograd_grad(1, &y, NULL, 2, in, true, false, false, g),
              "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True "
              "if this is the desired behavior.");
    CHECK(g[0] == NULL && g[1] == NULL);
    /* allow_unused=True -> (tensor([2., 2., 2.]), None) */
    CHECK(tg_autograd_grad(1, &y, NULL, 2, in, true, false, true, g) == TT_OK);
    K(g[0]);
    CHECK_FMT(g[0], "tensor([2., 2., 2.])");
    CHECK(g[1] == NULL);
    /* torch.autograd.grad(y, torch.ones(3)) */
    CHECK_MSG(tg_autograd_grad(1, &y, NULL, 1, &c, true, false, false, g),
              "One of the differentiated Tensors does not require grad");
    CHECK(tg_get_grad(x) == NULL && tg_get_grad(w) == NULL);
    /* two outputs, explicit grad_outputs: grad([x*w, x.sum()], [x, w], [ones*2, None]) */
    tt_tensor *o1 = K(tg_mul(x, w)), *o2 = K(tg_sum(x));
    tt_tensor *outs[2] = {o1, o2}, *gos[2] = {K(V32(2, 2, 2)), NULL};
    CHECK(tg_autograd_grad(2, outs, gos, 2, in, true, false, false, g) == TT_OK);
    K(g[0]);
    K(g[1]);
    CHECK_FMT(g[0], "tensor([ 9., 11., 13.])"); /* 2w + 1 */
    CHECK_FMT(g[1], "tensor([2., 4., 6.])");    /* 2x */
    /* gradient of an intermediate and of a leaf in one call; the same tensor twice */
    tt_tensor *in2[3] = {o1, x, x};
    tt_tensor *g3[3] = {NULL, NULL, NULL};
    tt_tensor *s = K(tg_sum(K(tg_mul(o1, o1))));
    CHECK(tg_autograd_grad(1, &s, NULL, 3, in2, true, false, false, g3) == TT_OK);
    K(g3[0]);
    K(g3[1]);
    K(g3[2]);
    CHECK_FMT(g3[0], "tensor([ 8., 20., 36.])");    /* 2 x w */
    CHECK_FMT(g3[1], "tensor([ 32., 100., 216.])"); /* 2 x w^2 */
    CHECK_FMT(g3[2], "tensor([ 32., 100., 216.])");
    CHECK(tg_get_grad(x) == NULL && tg_get_grad(w) == NULL);
    /* the error for a root without grad applies to autograd.grad too */
    tt_tensor *plain = K(tg_sum(c));
    CHECK_MSG(tg_autograd_grad(1, &plain, NULL, 1, &x, true, false, false, g),
              "element 0 of tensors does not require grad and does not have a grad_fn");
    CHECK_MSG(tg_autograd_grad(1, &o1, NULL, 1, &x, true, false, false, g),
              "grad can be implicitly created only for scalar outputs");
}

/* ---- §4.7 hooks ------------------------------------------------------------------ */
TEST(hooks)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    /* y = x*2; y.register_hook(record); (y + y*3).sum().backward(): one call with 4s; x.grad = 8 */
    tt_tensor *y = K(tg_mul_scalar(x, 2));
    int h = tg_register_hook(y, record_hook, NULL);
    hook_calls = 0;
    CHECK(tg_backward(K(tg_sum(K(tg_add(y, K(tg_mul_scalar(y, 3)))))), NULL, false, false) == TT_OK);
    CHECK(hook_calls == 1 && hook_seen[0] == 4 && hook_seen[1] == 4 && hook_seen[2] == 4);
    CHECK_FMT(tg_get_grad(x), "tensor([8., 8., 8.])");
    CHECK(tg_remove_hook(y, h) == TT_OK);
    /* a replacing hook on a fresh y: x.grad = 80 */
    CHECK(tg_set_grad(x, NULL) == TT_OK);
    tt_tensor *y2 = K(tg_mul_scalar(x, 2));
    CHECK(tg_register_hook(y2, times10_hook, NULL) >= 0);
    hook_calls = 0;
    CHECK(tg_backward(K(tg_sum(K(tg_add(y2, K(tg_mul_scalar(y2, 3)))))), NULL, false, false) == TT_OK);
    CHECK(hook_calls == 1);
    CHECK_FMT(tg_get_grad(x), "tensor([80., 80., 80.])");
    /* a removed hook is not called */
    CHECK(tg_set_grad(x, NULL) == TT_OK);
    tt_tensor *y3 = K(tg_mul_scalar(x, 2));
    int h3 = tg_register_hook(y3, times10_hook, NULL);
    CHECK(tg_remove_hook(y3, h3) == TT_OK);
    hook_calls = 0;
    CHECK(tg_backward(K(tg_sum(y3)), NULL, false, false) == TT_OK);
    CHECK(hook_calls == 0);
    CHECK_FMT(tg_get_grad(x), "tensor([2., 2., 2.])");
    /* leaf hooks: x used twice, called once with the sum (5s); a replacing one sets x.grad */
    CHECK(tg_set_grad(x, NULL) == TT_OK);
    int hl = tg_register_hook(x, record_hook, NULL);
    hook_calls = 0;
    CHECK(tg_backward(K(tg_sum(K(tg_add(K(tg_mul_scalar(x, 2)), K(tg_mul_scalar(x, 3)))))), NULL, false, false) ==
          TT_OK);
    CHECK(hook_calls == 1 && hook_seen[0] == 5 && hook_seen[2] == 5);
    CHECK_FMT(tg_get_grad(x), "tensor([5., 5., 5.])");
    CHECK(tg_remove_hook(x, hl) == TT_OK);
    CHECK(tg_set_grad(x, NULL) == TT_OK);
    int h7 = tg_register_hook(x, sevens_hook, NULL);
    CHECK(tg_backward(K(tg_sum(K(tg_add(K(tg_mul_scalar(x, 2)), K(tg_mul_scalar(x, 3)))))), NULL, false, false) ==
          TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([7., 7., 7.])");
    CHECK(tg_remove_hook(x, h7) == TT_OK);
    /* hooks run in registration order: y.register_hook(g*10); y.retain_grad() -> y.grad = [40, 80, 120] */
    tt_tensor *x2 = K(param(V32(1, 2, 3)));
    tt_tensor *y4 = K(tg_mul_scalar(x2, 2));
    CHECK(tg_register_hook(y4, times10_hook, NULL) >= 0);
    CHECK(tg_register_hook(y4, record_hook, NULL) >= 0);
    CHECK(tg_retain_grad(y4) == TT_OK);
    hook_calls = 0;
    CHECK(tg_backward(K(tg_sum(K(tg_mul(y4, y4)))), NULL, false, false) == TT_OK);
    CHECK(hook_calls == 2 && hook_seen[0] == 40 && hook_seen[2] == 120);
    CHECK_FMT(tg_get_grad(y4), "tensor([ 40.,  80., 120.])");
    CHECK_FMT(tg_get_grad(x2), "tensor([ 80., 160., 240.])");
    /* hooks also run for autograd.grad */
    tt_tensor *x3 = K(param(V32(1, 2)));
    tt_tensor *y5 = K(tg_mul_scalar(x3, 3)), *gx = NULL;
    CHECK(tg_register_hook(y5, times10_hook, NULL) >= 0);
    tt_tensor *s5 = K(tg_sum(y5));
    CHECK(tg_autograd_grad(1, &s5, NULL, 1, &x3, false, false, false, &gx) == TT_OK);
    K(gx);
    CHECK_FMT(gx, "tensor([30., 30.])");
}

/* ---- §4.8 detach and .data --------------------------------------------------------- */
TEST(detach_and_data)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    tt_tensor *y = K(tg_mul_scalar(x, 2));
    tt_tensor *d = K(tg_detach(y));
    CHECK(d && d->storage == y->storage && !tg_requires_grad(d) && tg_is_leaf(d) && !tg_grad_fn(d));
    CHECK_FMT(d, "tensor([2., 4., 6.])");
    tt_tensor *dd = K(tg_mul(d, d));
    CHECK(!tg_requires_grad(dd)); /* not tracked */
    /* writes through the detached tensor show in y */
    CHECK(tt_fill_(d, 1) == TT_OK);
    CHECK_FMT(y, "tensor([1., 1., 1.], grad_fn=<MulBackward0>)");
    /* .data of a leaf: same storage, not tracked, in-place writes keep the version */
    tt_tensor *xd = K(tg_data(x));
    CHECK(xd && xd->storage == x->storage && !tg_requires_grad(xd));
    CHECK_FMT(xd, "tensor([1., 2., 3.])");
    uint64_t v = tt_version(x);
    CHECK(tt_add_(xd, K(V32(1, 1, 1))) == TT_OK); /* x.data += 1 */
    CHECK(tt_version(x) == v);
    CHECK_FMT(x, "tensor([2., 3., 4.], requires_grad=True)");
    CHECK(tg_is_leaf(x));
}

/* w.data -= 1 after a graph saved w: backward still runs (no version bump) and
 * uses the new values: y = (w*w).sum(); w.data -= 1; y.backward() -> [0, 2, 4] */
TEST(data_update_keeps_saved_graph)
{
    tt_tensor *w = K(param(V32(1, 2, 3)));
    tt_tensor *y = K(tg_sum(K(tg_mul(w, w))));
    tt_tensor *wd = K(tg_data(w));
    CHECK(tt_sub_(wd, K(V32(1, 1, 1))) == TT_OK);
    CHECK(tt_version(w) == 0 && tg_is_leaf(w));
    CHECK(tg_backward(y, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(w), "tensor([0., 2., 4.])");
}

/* ---- §4.9 in place and version counters ---------------------------------------------- */
TEST(inplace_on_leaf)
{
    tt_tensor *x = K(param(V32(1, 2, 3))), *one = K(V32(1, 1, 1));
    CHECK_MSG(tg_add_(x, one), LEAF_INPLACE);
    CHECK_MSG(tg_mul_(x, one), LEAF_INPLACE);
    CHECK_MSG(tg_fill_(x, 0), LEAF_INPLACE);
    CHECK_MSG(tg_zero_(x), LEAF_INPLACE);
    CHECK_MSG(tg_copy_(x, one), LEAF_INPLACE);
    CHECK_FMT(x, "tensor([1., 2., 3.], requires_grad=True)");
    CHECK(tt_version(x) == 0);
    /* with torch.no_grad(): x.add_(1) -> tensor([2., 3., 4.], requires_grad=True) */
    tt_status st = TT_EINVAL;
    TG_NO_GRAD { st = tg_add_(x, one); }
    CHECK(st == TT_OK && tt_version(x) == 1);
    CHECK_FMT(x, "tensor([2., 3., 4.], requires_grad=True)");
    CHECK(tg_is_leaf(x) && tg_requires_grad(x));
    /* a leaf that does not require grad may be changed in place */
    tt_tensor *c = K(V32(1, 2));
    CHECK(tg_add_(c, K(V32(1, 1))) == TT_OK);
    CHECK_FMT(c, "tensor([2., 3.])");
}

TEST(version_counter)
{
    /* x = tensor([1,2,3], float64) requiring grad; y = x.exp(); with no_grad: y.add_(1) */
    tt_tensor *x = K(param(V64(1, 2, 3))), *one = K(V64(1, 1, 1));
    tt_tensor *y = K(tg_exp(x));
    tt_status st = TT_EINVAL;
    TG_NO_GRAD { st = tg_add_(y, one); }
    CHECK(st == TT_OK && tt_version(y) == 1);
    CHECK_MSG(tg_backward(K(tg_sum(y)), NULL, false, false),
              VERSION_MSG("torch.DoubleTensor [3]", ", which is output 0 of ExpBackward0,"));
    /* the same through libtensor's tt_add_ */
    tt_tensor *y2 = K(tg_exp(x));
    CHECK(tt_add_(y2, one) == TT_OK);
    CHECK_MSG(tg_backward(K(tg_sum(y2)), NULL, false, false),
              VERSION_MSG("torch.DoubleTensor [3]", ", which is output 0 of ExpBackward0,"));
    /* in grad mode: y.add_(1) joins the history (grad_fn=<AddBackward0>), ExpBackward0 still fails */
    tt_tensor *x32 = K(param(V32(1, 2, 3)));
    tt_tensor *y3 = K(tg_exp(x32));
    CHECK(tg_add_(y3, K(V32(1, 1, 1))) == TT_OK);
    CHECK_FMT(y3, "tensor([ 3.7183,  8.3891, 21.0855], grad_fn=<AddBackward0>)");
    CHECK_MSG(tg_backward(K(tg_sum(y3)), NULL, false, false),
              VERSION_MSG("torch.FloatTensor [3]", ", which is output 0 of ExpBackward0,"));
    /* a saved leaf modified under no_grad: (x*w).sum(); w.add_(1) */
    tt_tensor *w = K(param(V32(4, 5, 6)));
    tt_tensor *l = K(tg_sum(K(tg_mul(x32, w))));
    TG_NO_GRAD { st = tg_add_(w, K(V32(1, 1, 1))); }
    CHECK(st == TT_OK);
    CHECK_MSG(tg_backward(l, NULL, false, false), VERSION_MSG("torch.FloatTensor [3]", ""));
    /* a saved non-leaf: a = x*2; b = (a*a).sum(); with no_grad: a.add_(1) */
    tt_tensor *a = K(tg_mul_scalar(x32, 2));
    tt_tensor *b = K(tg_sum(K(tg_mul(a, a))));
    TG_NO_GRAD { st = tg_add_(a, K(V32(1, 1, 1))); }
    CHECK_MSG(tg_backward(b, NULL, false, false),
              VERSION_MSG("torch.FloatTensor [3]", ", which is output 0 of MulBackward0,"));
    /* through a detached alias: y = x.exp(); y.detach().add_(1) */
    tt_tensor *y4 = K(tg_exp(x32));
    tt_tensor *d4 = K(tg_detach(y4));
    CHECK(tt_add_(d4, K(V32(1, 1, 1))) == TT_OK);
    CHECK_MSG(tg_backward(K(tg_sum(y4)), NULL, false, false),
              VERSION_MSG("torch.FloatTensor [3]", ", which is output 0 of ExpBackward0,"));
    /* an op that saved nothing is not affected: y = x + 1; y.add_(1) under no_grad; backward fine */
    tt_tensor *y5 = K(tg_add_scalar(x32, 1));
    TG_NO_GRAD { st = tg_add_(y5, K(V32(1, 1, 1))); }
    CHECK(tg_backward(K(tg_sum(y5)), NULL, false, false) == TT_OK);
}

/* In place on a non-leaf in grad mode keeps it in the graph (PyTorch:
 * y = x*2; y.zero_() -> grad_fn=<ZeroBackward0>; y.fill_(3) -> FillBackward2;
 * y.copy_(ones(3)) -> CopyBackwards); backward through it gives zeros. */
TEST(inplace_on_nonleaf)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    tt_tensor *y = K(tg_mul_scalar(x, 2));
    CHECK(tg_mul_(y, K(V32(3, 3, 3))) == TT_OK);
    CHECK_FMT(y, "tensor([ 6., 12., 18.], grad_fn=<MulBackward0>)");
    CHECK(tg_backward(K(tg_sum(y)), NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([6., 6., 6.])");
    tt_tensor *z = K(tg_mul_scalar(x, 2));
    CHECK(tg_zero_(z) == TT_OK);
    CHECK(tg_requires_grad(z)); /* tensor([0., 0., 0.], grad_fn=<ZeroBackward0>), requires_grad True */
    CHECK(tg_set_grad(x, NULL) == TT_OK);
    CHECK(tg_backward(K(tg_sum(z)), NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([0., 0., 0.])");
    tt_tensor *c = K(tg_mul_scalar(x, 2));
    CHECK(tg_copy_(c, K(V32(1, 1, 1))) == TT_OK);
    CHECK(tg_requires_grad(c)); /* tensor([1., 1., 1.], grad_fn=<CopyBackwards>) */
}

/* y.requires_grad_(False) on a non-leaf */
TEST(requires_grad_of_nonleaf)
{
    tt_tensor *x = K(param(V32(1, 2, 3)));
    tt_tensor *y = K(tg_mul_scalar(x, 2));
    CHECK_MSG(tg_set_requires_grad(y, false),
              "you can only change requires_grad flags of leaf variables. If you want to use a computed variable "
              "in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
    CHECK(tg_requires_grad(y));
    CHECK(tg_set_requires_grad(y, true) == TT_OK); /* requires_grad_(True) on it is allowed */
}

/* ---- §4.10 create_graph: higher derivatives --------------------------------------------- */
/* f = x**3 + 2*x**2 at 2: f' = 20, f'' = 16, f''' = 6 (grad_fn=<AddBackward0> for the first two) */
TEST(higher_order)
{
    tt_tensor *x = K(param(tt_scalar(2, TT_F32, TT_CPU)));
    tt_tensor *f = K(tg_add(K(tg_pow_scalar(x, 3)), K(tg_mul_scalar(K(tg_pow_scalar(x, 2)), 2))));
    tt_tensor *g1 = NULL, *g2 = NULL, *g3 = NULL, *g4 = NULL;
    CHECK(tg_autograd_grad(1, &f, NULL, 1, &x, true, true, false, &g1) == TT_OK);
    K(g1);
    CHECK_FMT(g1, "tensor(20., grad_fn=<AddBackward0>)");
    CHECK(tg_autograd_grad(1, &g1, NULL, 1, &x, true, true, false, &g2) == TT_OK);
    K(g2);
    CHECK_FMT(g2, "tensor(16., grad_fn=<AddBackward0>)");
    CHECK(tg_autograd_grad(1, &g2, NULL, 1, &x, true, false, false, &g3) == TT_OK);
    K(g3);
    CHECK_FMT(g3, "tensor(6.)");
    /* backward(create_graph=True) puts a differentiable grad in .grad: PyTorch's AccumulateGrad
     * clones it (clone_obey_contract), hence CopyBackwards */
    tt_tensor *y = K(tg_pow_scalar(x, 3));
    CHECK(tg_backward(y, NULL, false, true) == TT_OK);
    tt_tensor *gx = tg_get_grad(x);
    CHECK_FMT(gx, "tensor(12., grad_fn=<CopyBackwards>)");
    CHECK(gx && tg_autograd_grad(1, &gx, NULL, 1, &x, false, false, false, &g4) == TT_OK);
    K(g4);
    CHECK_FMT(g4, "tensor(12.)");         /* d(3x^2)/dx = 6x */
    CHECK(tg_set_grad(x, NULL) == TT_OK); /* breaks the x -> grad -> graph -> x cycle */
    /* second derivative of exp(sin(x)) through a vector: d2/dx2 = e^sin (cos^2 - sin) */
    tt_tensor *v = K(param(V64(0.5, -1.0)));
    tt_tensor *e = K(tg_sum(K(tg_exp(K(tg_sin(v))))));
    tt_tensor *d1 = NULL, *d2 = NULL;
    CHECK(tg_autograd_grad(1, &e, NULL, 1, &v, false, true, false, &d1) == TT_OK);
    K(d1);
    tt_tensor *sd1 = K(tg_sum(d1));
    CHECK(tg_autograd_grad(1, &sd1, NULL, 1, &v, false, false, false, &d2) == TT_OK);
    K(d2);
    double want[2];
    for (int i = 0; i < 2; i++) {
        double t = i ? -1.0 : 0.5;
        want[i] = exp(sin(t)) * (cos(t) * cos(t) - sin(t));
    }
    CHECK_VALUES(d2, want, 2, 1e-12);
}

/* ---- memory: long chains, freeing the graph ----------------------------------------------- */
TEST(long_chain)
{
    long n = RUNNING_ON_VALGRIND ? 20000 : 1000000;
    tt_tensor *x = param(V64(1));
    tt_tensor *y = tt_retain(x);
    for (long i = 0; i < n && y; i++) {
        tt_tensor *next = tg_mul_scalar(y, 1.0); /* MulBackward0 chain */
        tt_release(y);
        y = next;
    }
    CHECK(y != NULL);
    tt_tensor *s = tg_sum(y);
    CHECK(tg_backward(s, NULL, false, false) == TT_OK);
    CHECK_FMT(tg_get_grad(x), "tensor([1.], dtype=torch.float64)");
    tt_release(s);
    tt_release(y); /* frees the whole chain without recursion */
    CHECK(x->refcount == 1);
    tt_release(x);
}

/* A graph holds its leaves through AccumulateGrad; releasing the output frees it all
 * (valgrind checks that nothing else stays behind). */
TEST(graph_freed_with_output)
{
    tt_tensor *x = param(V32(1, 2, 3)), *w = param(V32(4, 5, 6));
    CHECK(x->refcount == 1 && w->refcount == 1);
    tt_tensor *a = tg_mul(x, w), *b = tg_exp(a), *c = tg_sum(b);
    tt_release(a);
    tt_release(b);
    /* held by their AccumulateGrad nodes and by MulBackward0's saved self/other */
    CHECK(x->refcount == 3 && w->refcount == 3);
    tg_node *n = tg_node_retain(tg_grad_fn(c));
    tt_release(c);
    CHECK(x->refcount == 3); /* a retained node keeps the graph */
    tg_node_release(n);
    CHECK(x->refcount == 1 && w->refcount == 1);
    /* the same after a backward with retain_graph */
    a = tg_mul(x, w);
    c = tg_sum(a);
    tt_release(a);
    CHECK(tg_backward(c, NULL, true, false) == TT_OK);
    tt_release(c);
    CHECK(x->refcount == 1 && w->refcount == 1);
    CHECK_FMT(tg_get_grad(x), "tensor([4., 5., 6.])");
    /* a training loop keeps nothing between steps */
    for (int i = 0; i < 1000; i++) {
        tt_tensor *l = tg_sum(K(tg_pow_scalar(K(tg_sub(K(tg_mul(x, w)), K(V32(1, 1, 1)))), 2)));
        CHECK(tg_backward(l, NULL, false, false) == TT_OK);
        tt_release(l);
        release_kept();
    }
    CHECK(x->refcount == 1 && w->refcount == 1);
    tt_release(x);
    tt_release(w);
}

/* ---- printing -------------------------------------------------------------------------- */
TEST(format)
{
    tt_tensor *a = K(param(tt_ones(2, (int64_t[]){2, 2}, TT_F32, TT_CPU)));
    CHECK_FMT(a, "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)");
    CHECK_FMT(K(tg_mul_scalar(a, 2)), "tensor([[2., 2.],\n        [2., 2.]], grad_fn=<MulBackward0>)");
    CHECK_FMT(K(tg_sum(K(tg_mul_scalar(a, 2)))), "tensor(8., grad_fn=<SumBackward0>)");
    CHECK_FMT(K(tg_mean(K(tg_mul_scalar(a, 2)))), "tensor(2., grad_fn=<MeanBackward0>)");
    tt_tensor *d = K(param(V64(1, 2)));
    CHECK_FMT(d, "tensor([1., 2.], dtype=torch.float64, requires_grad=True)");
    CHECK_FMT(K(tg_mul_scalar(d, 2)), "tensor([2., 4.], dtype=torch.float64, grad_fn=<MulBackward0>)");
    CHECK_FMT(K(param(tt_scalar(3, TT_F32, TT_CPU))), "tensor(3., requires_grad=True)");
    CHECK_FMT(K(param(tt_zeros(1, (int64_t[]){0}, TT_F32, TT_CPU))), "tensor([], requires_grad=True)");
    tt_tensor *p = K(param(V32(1, -2, 0.5)));
    tt_tensor *zero = K(tt_scalar(0, TT_F32, TT_CPU));
    CHECK_FMT(K(tg_where(K(tg_binary(TT_GT, p, zero)), p, K(tt_ones_like(p)))),
              "tensor([1.0000, 1.0000, 0.5000], grad_fn=<WhereBackward0>)");
    /* names of common nodes */
    CHECK_FMT(K(tg_sub(p, p)), "tensor([0., 0., 0.], grad_fn=<SubBackward0>)");
    CHECK_FMT(K(tg_scalar_binary(TT_SUB, 1, p)), "tensor([0.0000, 3.0000, 0.5000], grad_fn=<RsubBackward1>)");
    CHECK_FMT(K(tg_div(p, K(V32(2, 2, 2)))), "tensor([ 0.5000, -1.0000,  0.2500], grad_fn=<DivBackward0>)");
    int64_t s21[2] = {2, 1};
    tt_tensor *m = K(param(tt_ones(2, s21, TT_F32, TT_CPU)));
    CHECK_FMT(K(tg_mm(K(tt_ones(2, (int64_t[]){1, 2}, TT_F32, TT_CPU)), m)), "tensor([[2.]], grad_fn=<MmBackward0>)");
    CHECK_FMT(K(tg_expand(m, 2, (int64_t[]){2, 3})),
              "tensor([[1., 1., 1.],\n        [1., 1., 1.]], grad_fn=<ExpandBackward0>)");
    /* tg_print = tg_format + newline */
    FILE *f = tmpfile();
    char buf[256] = "";
    CHECK(f && tg_print(p, f) == TT_OK);
    if (f) {
        rewind(f);
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        buf[len] = 0;
        fclose(f);
    }
    CHECK_STR(buf, "tensor([ 1.0000, -2.0000,  0.5000], requires_grad=True)\n");
}

/* ---- §6 fits by gradient descent ------------------------------------------------------ */
/* seed 000: get_fake_data(8): x = rand(8,1)*20, y = x*2 + (1 + randn(8,1))*3;
 * w = rand(1,1), b = zeros(1,1); lr 0.001; 8000 steps of
 * loss = (0.5*(x.mm(w) + b.expand_as(y) - y)**2).sum(); w.data.sub_(lr*w.grad.data); ... -> w ~ 2, b ~ 3 */
TEST(seed000_linear_regression)
{
    tt_manual_seed(1000);
    int64_t s11[2] = {1, 1}, s81[2] = {8, 1};
    tt_tensor *w = K(param(tt_rand(2, s11, TT_F32, TT_CPU, NULL))), *b = K(param(tt_zeros(2, s11, TT_F32, TT_CPU)));
    tt_tensor *wd = K(tg_data(w)), *bd = K(tg_data(b));
    for (int ii = 0; ii < 8000; ii++) {
        int mark = nkept;
        tt_tensor *x = K(tt_mul_scalar(K(tt_rand(2, s81, TT_F32, TT_CPU, NULL)), 20));
        tt_tensor *y = K(tt_add(K(tt_mul_scalar(x, 2)),
                                K(tt_mul_scalar(K(tt_add_scalar(K(tt_randn(2, s81, TT_F32, TT_CPU, NULL)), 1)), 3))));
        tt_tensor *yp = K(tg_add(K(tg_mm(x, w)), K(tg_expand(b, 2, y->shape))));
        tt_tensor *loss = K(tg_sum(K(tg_mul_scalar(K(tg_pow_scalar(K(tg_sub(yp, y)), 2)), 0.5))));
        if (tg_backward(loss, NULL, false, false) != TT_OK) {
            CHECK(0);
            break;
        }
        tt_sub_(wd, K(tt_mul_scalar(tg_get_grad(w), 0.001)));
        tt_sub_(bd, K(tt_mul_scalar(tg_get_grad(b), 0.001)));
        tg_zero_grad(w);
        tg_zero_grad(b);
        while (nkept > mark) tt_release(kept[--nkept]);
    }
    CHECK(fabs(item(w) - 2) < 0.15);
    CHECK(fabs(item(b) - 3) < 0.6);
    CHECK(tg_is_leaf(w) && tg_is_leaf(b));
}

/* seed 001: x = rand(500,1); y = 3x + 0.8; w = rand(1,1), b = tensor(0., float64); lr 0.01;
 * 2000 steps of loss = (y - (x @ w + b))**2 .mean(), w.data = w.data - lr*w.grad -> ~ (3, 0.8) */
TEST(seed001_linear_regression)
{
    tt_manual_seed(1);
    int64_t s[2] = {500, 1}, s11[2] = {1, 1};
    tt_tensor *x = K(tt_rand(2, s, TT_F32, TT_CPU, NULL));
    tt_tensor *y = K(tt_add_scalar(K(tt_mul_scalar(x, 3)), 0.8));
    tt_tensor *w = K(param(tt_rand(2, s11, TT_F32, TT_CPU, NULL)));
    tt_tensor *b = K(param(tt_scalar(0, TT_F64, TT_CPU)));
    double loss_v = NAN;
    for (int i = 0; i < 2000; i++) {
        int mark = nkept;
        tt_tensor *yp = K(tg_add(K(tg_matmul(x, w)), b)); /* float32 + float64 0-d: float32 */
        tt_tensor *loss = K(tg_mean(K(tg_pow_scalar(K(tg_sub(y, yp)), 2))));
        loss_v = item(loss);
        tg_zero_grad(w);
        tg_zero_grad(b);
        if (tg_backward(loss, NULL, false, false) != TT_OK) {
            CHECK(0);
            break;
        }
        /* w.data = w.data - lr * w.grad: copy the new values into w's storage */
        tt_tensor *wd = K(tg_data(w)), *bd = K(tg_data(b));
        tt_copy_(wd, K(tt_sub(wd, K(tt_mul_scalar(tg_get_grad(w), 0.01)))));
        tt_copy_(bd, K(tt_sub(bd, K(tt_mul_scalar(tg_get_grad(b), 0.01)))));
        while (nkept > mark) tt_release(kept[--nkept]);
    }
    CHECK(tg_get_grad(w) && tg_get_grad(w)->dtype == TT_F32);
    CHECK(tg_get_grad(b) && tg_get_grad(b)->dtype == TT_F64);
    CHECK(fabs(item(w) - 3) < 0.2);
    CHECK(fabs(item(b) - 0.8) < 0.12);
    CHECK(loss_v < 0.01);
}

/* seed 002: total least squares, loss = mean((a*X - Y + b)**2 / (a**2 + 1)), X = linspace(0,100,100),
 * Y = 2.5X + 1, noise N(0,2) on both; lr 1e-5, 1000 epochs, with torch.no_grad(): a -= lr*a.grad -> a ~ 2.5 */
TEST(seed002_orthogonal_regression)
{
    tt_manual_seed(2);
    int64_t n = 100;
    tt_tensor *X0 = K(tt_linspace(0, 100, n, TT_F32, TT_CPU));
    tt_tensor *Y0 = K(tt_add_scalar(K(tt_mul_scalar(X0, 2.5)), 1));
    tt_tensor *X = K(tt_add(X0, K(tt_mul_scalar(K(tt_randn(1, &n, TT_F32, TT_CPU, NULL)), 2))));
    tt_tensor *Y = K(tt_add(Y0, K(tt_mul_scalar(K(tt_randn(1, &n, TT_F32, TT_CPU, NULL)), 2))));
    tt_tensor *a = K(param(V32(0))), *b = K(param(V32(0)));
    double best = INFINITY, best_a = 0, first = NAN;
    for (int e = 0; e < 1000; e++) {
        int mark = nkept;
        tt_tensor *r = K(tg_add(K(tg_sub(K(tg_mul(a, X)), Y)), b));
        tt_tensor *loss = K(tg_mean(K(tg_div(K(tg_pow_scalar(r, 2)), K(tg_add_scalar(K(tg_pow_scalar(a, 2)), 1))))));
        if (tg_backward(loss, NULL, false, false) != TT_OK) {
            CHECK(0);
            break;
        }
        TG_NO_GRAD
        {
            tg_sub_(a, K(tt_mul_scalar(tg_get_grad(a), 1e-5)));
            tg_sub_(b, K(tt_mul_scalar(tg_get_grad(b), 1e-5)));
        }
        tg_zero_grad(a);
        tg_zero_grad(b);
        double l = item(loss);
        if (e == 0) first = l;
        if (l < best) {
            best = l;
            best_a = item(a);
        }
        while (nkept > mark) tt_release(kept[--nkept]);
    }
    CHECK(tg_is_leaf(a) && tg_requires_grad(a));
    CHECK(fabs(best_a - 2.5) < 0.1);
    CHECK(best < first / 100);
}

int main(void)
{
    tg_set_warning_handler(on_warning, NULL);
    RUNK(only_floating_requires_grad);
    RUNK(requires_grad_propagation);
    RUNK(no_grad_scopes);
    RUNK(seed000_add_sum);
    RUNK(seed000_x2_exp);
    RUNK(seed000_graph_wx_b);
    RUNK(seed000_dynamic_abs);
    RUNK(seed000_prod_of_positives);
    RUNK(seed000_intermediate_grads);
    RUNK(seed000_hook_on_intermediate);
    RUNK(seed000_grad_variables);
    RUNK(seed000_double_grad);
    RUNK(seed001_mean);
    RUNK(seed001_requires_grad_switch);
    RUNK(seed003_data_update_loop);
    RUNK(seed003_trap);
    RUNK(leaf_grads_accumulate);
    RUNK(retain_grad);
    RUNK(backward_errors);
    RUNK(second_backward);
    RUNK(autograd_grad);
    RUNK(hooks);
    RUNK(detach_and_data);
    RUNK(data_update_keeps_saved_graph);
    RUNK(inplace_on_leaf);
    RUNK(version_counter);
    RUNK(inplace_on_nonleaf);
    RUNK(requires_grad_of_nonleaf);
    RUNK(higher_order);
    RUNK(long_chain);
    RUNK(graph_freed_with_output);
    RUNK(format);
    RUNK(seed000_linear_regression);
    RUNK(seed001_linear_regression);
    RUNK(seed002_orthogonal_regression);
    tg_set_warning_handler(NULL, NULL);
    return DONE();
}
