/* gradcheck / gradgradcheck: verdicts, the worst element, both Jacobians and
 * the messages, against PyTorch 1.13's torch.autograd.gradcheck on the same
 * functions and inputs (expected strings and values in the comments come
 * from it). */
#include <stdlib.h>

#include "check.h"
#include "tg/gradcheck.h"

static tt_tensor *vec(int64_t n, const double *v, bool requires_grad)
{
    tt_tensor *t = tt_from_data(1, (int64_t[]){n}, TT_F64, v, TT_CPU);
    if (t && requires_grad) tg_set_requires_grad(t, true);
    return t;
}

/* Seeded N(0,1) f64 input that requires grad (PyTorch's torch.randn(..., dtype=double, requires_grad=True)). */
static tt_tensor *randn(int ndim, const int64_t *shape, uint64_t seed)
{
    tt_generator g = {seed, 0};
    tt_tensor *t = tt_randn(ndim, shape, TT_F64, TT_CPU, &g);
    if (t) tg_set_requires_grad(t, true);
    return t;
}

static double at(const tt_tensor *t, int64_t r, int64_t c)
{
    double v = NAN;
    if (t) tt_get(t, (int64_t[]){r, c}, &v);
    return v;
}

static double item(const tt_tensor *t, int64_t i)
{
    double v = NAN;
    if (t) tt_get(t, (int64_t[]){i}, &v);
    return v;
}

/* ---- the functions ---------------------------------------------------------- */
static tt_tensor *f_exp(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_exp(x[0]);
}
static tt_tensor *f_relu(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_relu(x[0]);
}
static tt_tensor *f_abs(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_abs(x[0]);
}
static tt_tensor *f_tanh(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_tanh(x[0]);
}
static tt_tensor *f_pow(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_pow(x[0], x[1]);
}
static tt_tensor *f_div(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_div(x[0], x[1]);
}
static tt_tensor *f_matmul(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_matmul(x[0], x[1]);
}
static tt_tensor *f_softmax(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_softmax(x[0], 1);
}
static tt_tensor *f_prod(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_prod(x[0]);
}
static tt_tensor *f_t(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_t(x[0]);
}
static tt_tensor *f_add(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_add(x[0], x[1]);
}
static tt_tensor *f_sum1(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_sum_dims(x[0], (int[]){1}, 1, false);
}

/* sin(x) * x */
static tt_tensor *f_xsinx(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *s = tg_sin(x[0]), *y = s ? tg_mul(s, x[0]) : NULL;
    tt_release(s);
    return y;
}

/* Three outputs: exp(x), argmax indices (int64, no grad), sin(x) * x. */
static int f_three(int n, tt_tensor *const *x, tt_tensor **out, void *ctx)
{
    (void)ctx;
    out[0] = tg_exp(x[0]);
    tt_tensor *v = tg_max_dim(x[0], 0, false, &out[1]);
    tt_release(v);
    out[2] = f_xsinx(n, x, NULL);
    return out[0] && out[1] && out[2] ? 3 : -1;
}

/* sum(x^2 * w) */
static tt_tensor *f_sum_x2w(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *sq = tg_pow_scalar(x[0], 2), *p = sq ? tg_mul(sq, x[1]) : NULL, *s = p ? tg_sum(p) : NULL;
    tt_release(sq);
    tt_release(p);
    return s;
}

/* exp(x) + 0.5 x.detach()^2: the value has an x^2/2 term the graph misses. */
static tt_tensor *f_wrong(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *e = tg_exp(x[0]), *d = tg_detach(x[0]), *dd = tt_mul(d, d), *h = tt_mul_scalar(dd, 0.5);
    tt_tensor *y = e && h ? tg_add(e, h) : NULL;
    tt_release(e);
    tt_release(d);
    tt_release(dd);
    tt_release(h);
    return y;
}

/* x * w.detach() + (w * w).detach() + 0 * w: right for x, wrong for w. */
static tt_tensor *f_wrong_w(int n, tt_tensor *const *in, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *wd = tg_detach(in[1]), *a = tg_mul(in[0], wd), *ww = tt_mul(wd, wd);
    tt_tensor *z = tg_mul_scalar(in[1], 0.0), *b = a ? tg_add(a, ww) : NULL, *y = b && z ? tg_add(b, z) : NULL;
    tt_release(wd);
    tt_release(a);
    tt_release(ww);
    tt_release(z);
    tt_release(b);
    return y;
}

/* e * (x - x.detach()) + e with e = exp(x).detach(): the value and the first
 * derivative are exp's, but the gradient does not depend on x in the graph,
 * so the second derivative is lost. */
static tt_tensor *f_detached_grad(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *e = tg_exp(x[0]), *ed = e ? tg_detach(e) : NULL, *xd = tg_detach(x[0]);
    tt_tensor *diff = xd ? tg_sub(x[0], xd) : NULL, *m = diff && ed ? tg_mul(ed, diff) : NULL;
    tt_tensor *y = m ? tg_add(m, ed) : NULL;
    tt_release(e);
    tt_release(ed);
    tt_release(xd);
    tt_release(diff);
    tt_release(m);
    return y;
}

/* c.detach() * 2 and x.detach() * 0: no output requires grad. */
static tt_tensor *f_const2(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *d = tg_detach(x[0]), *y = d ? tt_mul_scalar(d, 2) : NULL;
    tt_release(d);
    return y;
}
static tt_tensor *f_const0(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *d = tg_detach(x[0]), *y = d ? tt_mul_scalar(d, 0) : NULL;
    tt_release(d);
    return y;
}

/* exp(x) * c, c a constant input that does not require grad (inputs: c, x). */
static tt_tensor *f_exp_times_c(int n, tt_tensor *const *in, void *ctx)
{
    (void)n;
    (void)ctx;
    tt_tensor *e = tg_exp(in[1]), *y = e ? tg_mul(e, in[0]) : NULL;
    tt_release(e);
    return y;
}

/* exp(x) with a hook that scales the gradient differently on every backward
 * call: a nondeterministic backward. */
typedef struct {
    int calls;
    double step;
} drift;
static tt_tensor *drift_hook(const tt_tensor *grad, void *ctx)
{
    drift *d = ctx;
    return tg_mul_scalar(grad, 1.0 + d->step * d->calls++);
}
static tt_tensor *f_drift(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    tt_tensor *y = tg_exp(x[0]);
    if (y && tg_register_hook(y, drift_hook, ctx) < 0) {
        tt_release(y);
        return NULL;
    }
    return y;
}

static tt_tensor *f_fails(int n, tt_tensor *const *x, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_matmul(x[0], x[0]); /* 1-D x 1-D of size 3 is fine; 2-D (2,3) x (2,3) is not */
}

/* ---- gradcheck passes ---------------------------------------------------------- */

TEST(exp_passes)
{
    tt_tensor *x = randn(1, (int64_t[]){4}, 1);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_exp, NULL, 1, &x, NULL, &r) == TT_OK);
    CHECK(r && r->passed && !r->message);
    if (r) {
        CHECK(r->ninputs == 1 && r->ndiff_inputs == 1 && r->noutputs == 1 && r->npairs == 1);
        CHECK(r->reentrant && r->zero_grad_ok && r->nondet_max == 0);
        CHECK(r->options.eps == 1e-6 && r->options.atol == 1e-5 && r->options.rtol == 1e-3 &&
              r->options.nondet_tol == 0);
        const tg_gradcheck_pair *p = tg_gradcheck_pair_at(r, 0, 0);
        CHECK(p && p->passed && !p->message && p->input == 0 && p->rows == 4 && p->cols == 4);
        if (p) {
            CHECK(p->numerical->ndim == 2 && p->numerical->shape[0] == 4 && p->numerical->dtype == TT_F64);
            CHECK(p->analytical->ndim == 2 && p->analytical->shape[1] == 4 && p->analytical->dtype == TT_F64);
            for (int i = 0; i < 4; i++) {
                double e = exp(item(x, i));
                CHECK_NEAR(at(p->analytical, i, i), e, 1e-15);
                CHECK_NEAR(at(p->numerical, i, i), e, 1e-8);
                CHECK(at(p->analytical, i, (i + 1) % 4) == 0 && at(p->numerical, i, (i + 1) % 4) == 0);
            }
            CHECK(p->max_abs_err > 0 && p->max_abs_err < 1e-8 && p->max_rel_err < 1e-8);
            CHECK(p->worst_index >= 0 && p->worst_index == p->worst_row * 4 + p->worst_col);
            CHECK(p->worst_abs_err == fabs(p->worst_numerical - p->worst_analytical));
        }
    }
    CHECK(tg_gradcheck_pair_at(r, 1, 0) == NULL && tg_gradcheck_pair_at(r, 0, 1) == NULL);
    tg_gradcheck_report_free(r);
    tt_release(x);
}

TEST(ops_pass)
{
    struct {
        const char *name;
        tg_checked_fn f;
        int n;
        int ndim[2];
        int64_t shape[2][2];
    } cases[] = {
        {"exp", f_exp, 1, {2}, {{2, 3}}},
        {"sin(x)*x", f_xsinx, 1, {1}, {{5}}},
        {"sum(x^2*w)", f_sum_x2w, 2, {2, 1}, {{2, 3}, {3}}},
        {"matmul", f_matmul, 2, {2, 2}, {{2, 3}, {3, 2}}},
        {"softmax", f_softmax, 1, {2}, {{2, 4}}},
        {"prod", f_prod, 1, {1}, {{4}}},
        {"tanh", f_tanh, 1, {2}, {{3, 2}}},
        {"t (a view of the input)", f_t, 1, {2}, {{2, 3}}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        tt_tensor *in[2] = {NULL, NULL};
        for (int i = 0; i < cases[c].n; i++) in[i] = randn(cases[c].ndim[i], cases[c].shape[i], 10 + 7 * c + i);
        tg_gradcheck_report *r = NULL;
        tt_status st = tg_gradcheck(cases[c].f, NULL, cases[c].n, in, NULL, &r);
        if (st != TT_OK || !r || !r->passed)
            FAILF("%s: status %d, %s", cases[c].name, st, r && r->message ? r->message : tt_last_error());
        if (r) CHECK(r->npairs == cases[c].n && r->pairs[cases[c].n - 1].input == cases[c].n - 1);
        tg_gradcheck_report_free(r);
        for (int i = 0; i < cases[c].n; i++) tt_release(in[i]);
    }
}

TEST(matmul_jacobian_layout)
{
    /* y = A @ B, A (2,3), B (3,2): rows are A's elements, columns y's.
     * d y[i,k] / d A[i,j] = B[j,k]; d y[i,k] / d B[j,k] = A[i,j]. */
    tt_tensor *in[2] = {randn(2, (int64_t[]){2, 3}, 3), randn(2, (int64_t[]){3, 2}, 4)};
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_matmul, NULL, 2, in, NULL, &r) == TT_OK && r && r->passed);
    const tg_gradcheck_pair *pa = tg_gradcheck_pair_at(r, 0, 0), *pb = tg_gradcheck_pair_at(r, 0, 1);
    CHECK(pa && pa->rows == 6 && pa->cols == 4 && pb && pb->rows == 6 && pb->cols == 4);
    if (pa && pb) {
        double A[6], B[6];
        tt_to_host(in[0], TT_F64, A);
        tt_to_host(in[1], TT_F64, B);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++) {
                    CHECK_NEAR(at(pa->analytical, i * 3 + j, i * 2 + k), B[j * 2 + k], 1e-15);
                    CHECK_NEAR(at(pa->numerical, i * 3 + j, i * 2 + k), B[j * 2 + k], 1e-8);
                    CHECK_NEAR(at(pb->analytical, j * 2 + k, i * 2 + k), A[i * 3 + j], 1e-15);
                    CHECK(at(pa->analytical, i * 3 + j, (1 - i) * 2 + k) == 0);
                }
    }
    tg_gradcheck_report_free(r);
    tt_release(in[0]);
    tt_release(in[1]);
}

TEST(several_outputs)
{
    /* PyTorch numbers the outputs that require grad: sin(x) * x is "output 1". */
    tt_tensor *x = randn(1, (int64_t[]){3}, 6);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck_n(f_three, NULL, 1, &x, NULL, &r) == TT_OK && r && r->passed);
    CHECK(r && r->noutputs == 2 && r->npairs == 2);
    const tg_gradcheck_pair *p = tg_gradcheck_pair_at(r, 1, 0);
    CHECK(p && p->output == 1 && p->rows == 3 && p->cols == 3);
    for (int i = 0; p && i < 3; i++) {
        double v = item(x, i);
        CHECK_NEAR(at(p->analytical, i, i), sin(v) + v * cos(v), 1e-15);
    }
    tg_gradcheck_report_free(r);
    tt_release(x);
}

TEST(inputs_restored)
{
    tt_tensor *x = randn(2, (int64_t[]){2, 2}, 5);
    double before[4], after[4];
    tt_to_host(x, TT_F64, before);
    uint64_t v = tt_version(x);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_xsinx, NULL, 1, &x, NULL, &r) == TT_OK && r && r->passed);
    tt_to_host(x, TT_F64, after);
    CHECK(!memcmp(before, after, sizeof before)); /* bit for bit */
    CHECK(tt_version(x) == v && tg_requires_grad(x) && tg_is_leaf(x) && !tg_get_grad(x));
    tg_gradcheck_report_free(r);
    tt_release(x);
}

/* ---- gradcheck fails ------------------------------------------------------------------ */

TEST(wrong_backward_reported)
{
    /* x = [0.5, -1, 2]: gradcheck(lambda x: x.exp() + x.detach()**2 / 2, x) raises
     * numerical diag [2.1487212706894354, -0.6321205587855871, 9.389056098818571]
     * vs analytical exp(x); the worst element (largest |a-n| / (atol + rtol |n|)) is (1, 1). */
    tt_tensor *x = vec(3, (double[]){0.5, -1, 2}, true);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_wrong, NULL, 1, &x, NULL, &r) == TT_OK);
    CHECK(r && !r->passed && r->reentrant && r->zero_grad_ok);
    const tg_gradcheck_pair *p = tg_gradcheck_pair_at(r, 0, 0);
    CHECK(p && !p->passed);
    if (p) {
        CHECK(p->output == 0 && p->input == 0 && p->diff_input == 0);
        CHECK(p->worst_row == 1 && p->worst_col == 1 && p->worst_index == 4);
        CHECK_NEAR(p->worst_numerical, -0.6321205587855871, 1e-8);
        CHECK_NEAR(p->worst_analytical, exp(-1.0), 1e-15);
        CHECK_NEAR(p->worst_abs_err, 1.0, 1e-8);
        CHECK_NEAR(p->worst_rel_err, 1.0 / 0.6321205587855871, 1e-8);
        CHECK_NEAR(p->max_abs_err, 2.0, 1e-8);                      /* element (2, 2) */
        CHECK_NEAR(p->max_rel_err, 1.0 / 0.6321205587855871, 1e-8); /* element (1, 1) */
        CHECK_NEAR(at(p->numerical, 0, 0), 2.1487212706894354, 1e-8);
        CHECK_NEAR(at(p->numerical, 2, 2), 9.389056098818571, 1e-8);
        CHECK(at(p->numerical, 0, 1) == 0 && at(p->analytical, 2, 0) == 0);
    }
    const char *want =
        "Jacobian mismatch for output 0 with respect to input 0,\n"
        "numerical:tensor([[ 2.1487,  0.0000,  0.0000],\n"
        "        [ 0.0000, -0.6321,  0.0000],\n"
        "        [ 0.0000,  0.0000,  9.3891]], dtype=torch.float64)\n"
        "analytical:tensor([[1.6487, 0.0000, 0.0000],\n"
        "        [0.0000, 0.3679, 0.0000],\n"
        "        [0.0000, 0.0000, 7.3891]], dtype=torch.float64)\n";
    CHECK_STR(r ? r->message : NULL, want);
    CHECK_STR(p ? p->message : NULL, want);
    tg_gradcheck_report_free(r);
    tt_release(x);
}

TEST(relu_at_zero_fails_abs_passes)
{
    /* relu'(0) is 0 but the central difference is 0.5; abs: both 0. */
    tt_tensor *x = vec(2, (double[]){0, 1}, true);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_relu, NULL, 1, &x, NULL, &r) == TT_OK && r && !r->passed);
    const tg_gradcheck_pair *p = tg_gradcheck_pair_at(r, 0, 0);
    CHECK(p && p->worst_index == 0 && p->worst_numerical == 0.5 && p->worst_analytical == 0);
    CHECK(p && p->max_abs_err == 0.5 && p->max_rel_err == 1.0);
    CHECK_STR(r ? r->message : NULL,
              "Jacobian mismatch for output 0 with respect to input 0,\n"
              "numerical:tensor([[0.5000, 0.0000],\n"
              "        [0.0000, 1.0000]], dtype=torch.float64)\n"
              "analytical:tensor([[0., 0.],\n"
              "        [0., 1.]], dtype=torch.float64)\n");
    tg_gradcheck_report_free(r);

    r = NULL;
    CHECK(tg_gradcheck(f_abs, NULL, 1, &x, NULL, &r) == TT_OK && r && r->passed && !r->message);
    p = tg_gradcheck_pair_at(r, 0, 0);
    CHECK(p && p->passed && at(p->numerical, 0, 0) == 0 && at(p->analytical, 0, 0) == 0);
    tg_gradcheck_report_free(r);
    tt_release(x);
}

TEST(second_input_wrong)
{
    /* x = [0.5, 1], w = [0.3, -1]: f = x * w.detach() + (w * w).detach() + 0 * w.
     * PyTorch: "Jacobian mismatch for output 0 with respect to input 1,\n
     * numerical:tensor([[ 1.1000,  0.0000],\n        [ 0.0000, -1.0000]], dtype=torch.float64)\n
     * analytical:tensor([[0., 0.],\n        [0., 0.]], dtype=torch.float64)\n" */
    tt_tensor *in[2] = {vec(2, (double[]){0.5, 1}, true), vec(2, (double[]){0.3, -1}, true)};
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_wrong_w, NULL, 2, in, NULL, &r) == TT_OK && r && !r->passed);
    const tg_gradcheck_pair *p0 = tg_gradcheck_pair_at(r, 0, 0), *p1 = tg_gradcheck_pair_at(r, 0, 1);
    CHECK(p0 && p0->passed && !p0->message && p0->input == 0);
    CHECK(p1 && !p1->passed && p1->input == 1 && p1->diff_input == 1);
    if (p1) {
        CHECK(p1->worst_row == 0 && p1->worst_col == 0);
        CHECK_NEAR(p1->worst_numerical, 1.1, 1e-8);
        CHECK(p1->worst_analytical == 0);
    }
    CHECK_STR(r ? r->message : NULL,
              "Jacobian mismatch for output 0 with respect to input 1,\n"
              "numerical:tensor([[ 1.1000,  0.0000],\n"
              "        [ 0.0000, -1.0000]], dtype=torch.float64)\n"
              "analytical:tensor([[0., 0.],\n"
              "        [0., 0.]], dtype=torch.float64)\n");
    tg_gradcheck_report_free(r);
    tt_release(in[0]);
    tt_release(in[1]);
}

TEST(inputs_not_requiring_grad_are_skipped)
{
    /* inputs (c, x), only x requires grad: PyTorch numbers x "input 0". */
    tt_tensor *in[2] = {vec(2, (double[]){2, 3}, false), vec(2, (double[]){0.1, 0.2}, true)};
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_exp_times_c, NULL, 2, in, NULL, &r) == TT_OK && r && r->passed);
    CHECK(r && r->ndiff_inputs == 1 && r->npairs == 1 && r->pairs[0].input == 1 && r->pairs[0].diff_input == 0);
    if (r) CHECK_NEAR(at(r->pairs[0].analytical, 1, 1), 3 * exp(0.2), 1e-15);
    tg_gradcheck_report_free(r);
    tt_release(in[0]);
    tt_release(in[1]);
}

TEST(no_differentiable_output)
{
    /* gradcheck(lambda x: x.detach() * 2, x) -> "Numerical gradient for function expected to be zero";
     * x.detach() * 0 -> True. */
    tt_tensor *x = vec(2, (double[]){0, 1}, true);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_const2, NULL, 1, &x, NULL, &r) == TT_OK && r && !r->passed && r->noutputs == 0);
    CHECK_STR(r ? r->message : NULL, "Numerical gradient for function expected to be zero");
    tg_gradcheck_report_free(r);
    r = NULL;
    CHECK(tg_gradcheck(f_const0, NULL, 1, &x, NULL, &r) == TT_OK && r && r->passed && r->npairs == 0);
    tg_gradcheck_report_free(r);
    tt_release(x);
}

TEST(nondeterministic_backward)
{
    /* Every backward scales by 1 + 1e-5 k: both Jacobians match the numerical
     * one within rtol, but not each other. */
    tt_tensor *x = vec(3, (double[]){0.1, 0.2, 0.3}, true);
    drift d = {0, 1e-5};
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_drift, &d, 1, &x, NULL, &r) == TT_OK && r && !r->passed && !r->reentrant);
    CHECK(r && r->nondet_max > 0 && r->pairs[0].passed);
    CHECK_STR(r ? r->message : NULL,
              "Backward is not reentrant, i.e., running backward with same input and grad_output multiple times "
              "gives different values, although analytical gradient matches numerical gradient.The tolerance for "
              "nondeterminism was 0.0.");
    tg_gradcheck_report_free(r);

    tg_gradcheck_options o;
    tg_gradcheck_defaults(&o);
    o.nondet_tol = 1e-7;
    d.calls = 0;
    r = NULL;
    CHECK(tg_gradcheck(f_drift, &d, 1, &x, &o, &r) == TT_OK && r && !r->passed);
    CHECK_STR(r ? r->message : NULL,
              "Backward is not reentrant, i.e., running backward with same input and grad_output multiple times "
              "gives different values, although analytical gradient matches numerical gradient.The tolerance for "
              "nondeterminism was 1e-07.");
    tg_gradcheck_report_free(r);

    o.nondet_tol = 1e-3;
    d.calls = 0;
    r = NULL;
    CHECK(tg_gradcheck(f_drift, &d, 1, &x, &o, &r) == TT_OK && r && r->passed && r->reentrant);
    tg_gradcheck_report_free(r);
    tt_release(x);
}

/* ---- warnings and errors ------------------------------------------------------------- */

static char warned[1024];
static int nwarned;
static void catch_warning(const char *m, void *ctx)
{
    (void)ctx;
    snprintf(warned, sizeof warned, "%s", m);
    nwarned++;
}

TEST(float32_warns)
{
    /* x = [0.5, 1] f32: PyTorch warns and fails, numerical [[1.6689300537109375, 0], [0, 2.6226043701171875]]. */
    tt_tensor *x = tt_from_data(1, (int64_t[]){2}, TT_F32, (float[]){0.5f, 1.0f}, TT_CPU);
    tg_set_requires_grad(x, true);
    tg_set_warning_handler(catch_warning, NULL);
    nwarned = 0;
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_exp, NULL, 1, &x, NULL, &r) == TT_OK && r && !r->passed);
    tg_set_warning_handler(NULL, NULL);
    CHECK(nwarned == 1);
    CHECK_STR(warned,
              "Input #0 requires gradient and is not a double precision floating point. This check will "
              "likely fail if all the inputs are not of double precision floating point.");
    const tg_gradcheck_pair *p = tg_gradcheck_pair_at(r, 0, 0);
    CHECK(p && p->numerical->dtype == TT_F32 && p->analytical->dtype == TT_F32);
    /* the same bits as PyTorch: x -/+ eps and the difference are taken in float32 */
    CHECK(at(p ? p->numerical : NULL, 0, 0) == 1.6689300537109375);
    CHECK(at(p ? p->numerical : NULL, 1, 1) == 2.6226043701171875);
    CHECK(p && p->worst_index == 3 && p->worst_analytical == (double)expf(1.0f));
    CHECK_STR(r ? r->message : NULL,
              "Jacobian mismatch for output 0 with respect to input 0,\n"
              "numerical:tensor([[1.6689, 0.0000],\n"
              "        [0.0000, 2.6226]])\n"
              "analytical:tensor([[1.6487, 0.0000],\n"
              "        [0.0000, 2.7183]])\n");
    tg_gradcheck_report_free(r);
    tt_release(x);
}

TEST(errors)
{
    tt_tensor *c = vec(2, (double[]){1, 2}, false);
    tg_gradcheck_report *r = (tg_gradcheck_report *)1;
    CHECK(tg_gradcheck(f_exp, NULL, 1, &c, NULL, &r) == TT_EINVAL && r == NULL);
    CHECK_STR(tt_last_error(),
              "gradcheck expects at least one input tensor to require gradient, but none of the "
              "them have requires_grad=True.");
    /* stride 0: torch.ones(1).expand(3) */
    tt_tensor *one = vec(1, (double[]){1}, true), *e = tg_expand(one, 1, (int64_t[]){3});
    tt_tensor *ed = e ? tg_detach(e) : NULL;
    if (ed) tg_set_requires_grad(ed, true);
    CHECK(tg_gradcheck(f_exp, NULL, 1, &ed, NULL, &r) == TT_EINVAL && r == NULL);
    CHECK(strstr(tt_last_error(), "The 0th input has a dimension with stride 0. gradcheck only supports inputs"));
    /* the function fails: its error comes back */
    tt_tensor *m = randn(2, (int64_t[]){2, 3}, 9);
    CHECK(tg_gradcheck(f_fails, NULL, 1, &m, NULL, &r) != TT_OK && r == NULL);
    CHECK_STR(tt_last_error(), "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)");
    tt_release(m);
    tt_release(ed);
    tt_release(e);
    tt_release(one);
    tt_release(c);
}

/* ---- gradgradcheck --------------------------------------------------------------------- */

TEST(gradgradcheck_passes)
{
    struct {
        const char *name;
        tg_checked_fn f;
        int n;
    } cases[] = {
        {"tanh", f_tanh, 1},
        {"pow", f_pow, 2},
        {"div", f_div, 2},
        {"exp", f_exp, 1},
        {"sin(x)*x", f_xsinx, 1},
        {"sum(x^2*w)", f_sum_x2w, 2},
        /* their gradients are views of grad_output: it must be read before it is perturbed again */
        {"add", f_add, 2},
        {"t", f_t, 1},
        {"sum(dim 1)", f_sum1, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        /* positive inputs, away from 0, so pow and div are smooth: 1.5 + U[0,1) */
        tt_tensor *in[2] = {NULL, NULL};
        for (int i = 0; i < cases[c].n; i++) {
            tt_generator g = {100 + c * 2 + i, 0};
            int64_t shape[2] = {2, 3};
            bool matrix = cases[c].f == f_t || cases[c].f == f_sum1;
            tt_tensor *u = tt_rand(matrix ? 2 : 1, matrix ? shape : shape + 1, TT_F64, TT_CPU, &g);
            in[i] = u ? tt_add_scalar(u, 1.5) : NULL;
            tt_release(u);
            if (in[i]) tg_set_requires_grad(in[i], true);
        }
        tg_gradcheck_options o;
        tg_gradcheck_defaults(&o);
        o.seed = 42 + c;
        tg_gradcheck_report *r = NULL;
        tt_status st = tg_gradgradcheck(cases[c].f, NULL, cases[c].n, in, NULL, &o, &r);
        if (st != TT_OK || !r || !r->passed)
            FAILF("%s: status %d, %s", cases[c].name, st, r && r->message ? r->message : tt_last_error());
        if (r) {
            /* checked function: (inputs..., grad_output) -> one gradient per input */
            CHECK(r->ninputs == cases[c].n + 1 && r->ngrad_outputs == 1 && r->ndiff_inputs == cases[c].n + 1);
            CHECK(r->noutputs == cases[c].n && r->npairs == cases[c].n * (cases[c].n + 1));
            tt_tensor *go = r->grad_outputs ? r->grad_outputs[0] : NULL;
            CHECK(go && tg_requires_grad(go) && go->dtype == TT_F64);
            double v[6];
            CHECK(go && tt_numel(go) <= 6 && tt_to_host(go, TT_F64, v) == TT_OK);
            for (int64_t i = 0; go && i < tt_numel(go); i++) CHECK(v[i] >= -1 && v[i] < 1 && v[i] != 0);
        }
        tg_gradcheck_report_free(r);
        for (int i = 0; i < cases[c].n; i++) tt_release(in[i]);
    }
}

TEST(gradgradcheck_tanh_values)
{
    /* d/dx (go * tanh'(x)) = go * -2 tanh(x) (1 - tanh(x)^2), on the diagonal; d/dgo = 1 - tanh(x)^2. */
    tt_tensor *x = vec(3, (double[]){0.5, -1, 2}, true);
    tt_tensor *go = vec(3, (double[]){0.25, -0.5, 0.75}, true);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradgradcheck(f_tanh, NULL, 1, &x, &go, NULL, &r) == TT_OK && r && r->passed);
    const tg_gradcheck_pair *px = tg_gradcheck_pair_at(r, 0, 0), *pg = tg_gradcheck_pair_at(r, 0, 1);
    CHECK(px && pg && pg->input == 1 && r->grad_outputs[0] == go);
    double xs[3] = {0.5, -1, 2}, gs[3] = {0.25, -0.5, 0.75};
    for (int i = 0; px && pg && i < 3; i++) {
        double t = tanh(xs[i]);
        CHECK_NEAR(at(px->analytical, i, i), gs[i] * -2 * t * (1 - t * t), 1e-14);
        CHECK_NEAR(at(px->numerical, i, i), gs[i] * -2 * t * (1 - t * t), 1e-8);
        CHECK_NEAR(at(pg->analytical, i, i), 1 - t * t, 1e-14);
        CHECK(at(px->analytical, i, (i + 1) % 3) == 0);
    }
    tg_gradcheck_report_free(r);
    tt_release(x);
    tt_release(go);
}

TEST(gradgradcheck_wrong_second_derivative)
{
    /* f's gradient is right (gradcheck passes) but detached from x:
     * gradgradcheck(f, x, go) with x = [0.5, -1, 2], go = [0.25, -0.5, 0.75] raises
     * "Jacobian mismatch for output 0 with respect to input 0,\nnumerical:tensor([[ 0.4122, ..." */
    tt_tensor *x = vec(3, (double[]){0.5, -1, 2}, true);
    tt_tensor *go = vec(3, (double[]){0.25, -0.5, 0.75}, true);
    tg_gradcheck_report *r = NULL;
    CHECK(tg_gradcheck(f_detached_grad, NULL, 1, &x, NULL, &r) == TT_OK && r && r->passed);
    tg_gradcheck_report_free(r);
    r = NULL;
    CHECK(tg_gradgradcheck(f_detached_grad, NULL, 1, &x, &go, NULL, &r) == TT_OK && r && !r->passed);
    const tg_gradcheck_pair *px = tg_gradcheck_pair_at(r, 0, 0), *pg = tg_gradcheck_pair_at(r, 0, 1);
    CHECK(px && !px->passed && pg && pg->passed);
    if (px) {
        CHECK(px->worst_row == 2 && px->worst_col == 2);
        CHECK_NEAR(px->worst_numerical, 0.75 * exp(2.0), 1e-8);
        CHECK(px->worst_analytical == 0);
    }
    CHECK_STR(r ? r->message : NULL,
              "Jacobian mismatch for output 0 with respect to input 0,\n"
              "numerical:tensor([[ 0.4122,  0.0000,  0.0000],\n"
              "        [ 0.0000, -0.1839,  0.0000],\n"
              "        [ 0.0000,  0.0000,  5.5418]], dtype=torch.float64)\n"
              "analytical:tensor([[0., 0., 0.],\n"
              "        [0., 0., 0.],\n"
              "        [0., 0., 0.]], dtype=torch.float64)\n");
    tg_gradcheck_report_free(r);
    tt_release(x);
    tt_release(go);
}

int main(void)
{
    RUN(exp_passes);
    RUN(ops_pass);
    RUN(matmul_jacobian_layout);
    RUN(several_outputs);
    RUN(inputs_restored);
    RUN(wrong_backward_reported);
    RUN(relu_at_zero_fails_abs_passes);
    RUN(second_input_wrong);
    RUN(inputs_not_requiring_grad_are_skipped);
    RUN(no_differentiable_output);
    RUN(nondeterministic_backward);
    RUN(float32_warns);
    RUN(errors);
    RUN(gradgradcheck_passes);
    RUN(gradgradcheck_tanh_values);
    RUN(gradgradcheck_wrong_second_derivative);
    return DONE();
}
