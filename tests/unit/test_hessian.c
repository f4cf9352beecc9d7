/* tg_hessian / tg_hessian_from_grads against closed forms. */
#include "check.h"
#include "tg/grad.h"

static tt_tensor *param(const double *v, int64_t n)
{
    tt_tensor *t = tt_from_data(1, &n, TT_F64, v, TT_CPU);
    tg_set_requires_grad(t, true);
    return t;
}

/* f = sum(x^2 * w) + x0*w1: d2f/dx2 = diag(2w), d2f/dxdw = diag(2x) + e0 e1^T, d2f/dw2 = 0 */
TEST(two_inputs)
{
    double xv[2] = {1.5, -2}, wv[2] = {0.5, 3};
    tt_tensor *x = param(xv, 2), *w = param(wv, 2);
    tt_tensor *x2 = tg_pow_scalar(x, 2), *t = tg_mul(x2, w), *s = tg_sum(t);
    tt_tensor *x0 = tg_select(x, 0, 0), *w1 = tg_select(w, 0, 1), *c = tg_mul(x0, w1), *f = tg_add(s, c);
    tt_tensor *in[2] = {x, w}, *h[4];
    CHECK(tg_hessian(f, 2, in, h) == TT_OK);
    double hxx[4] = {1, 0, 0, 6}, hxw[4] = {3, 1, 0, -4}, hwx[4] = {3, 0, 1, -4}, hww[4] = {0, 0, 0, 0};
    CHECK_VALUES(h[0], hxx, 4, 1e-12);
    CHECK_VALUES(h[1], hxw, 4, 1e-12);
    CHECK_VALUES(h[2], hwx, 4, 1e-12);
    CHECK_VALUES(h[3], hww, 4, 1e-12);
    CHECK(h[1] && h[1]->ndim == 2 && h[1]->shape[0] == 2 && h[1]->shape[1] == 2);
    for (int i = 0; i < 4; i++) tt_release(h[i]);
    tt_release(x2);
    tt_release(t);
    tt_release(s);
    tt_release(x0);
    tt_release(w1);
    tt_release(c);
    tt_release(f);
    tt_release(x);
    tt_release(w);
}

/* a linear function: the Hessian is zero (first derivatives that do not depend on x) */
TEST(linear_is_zero)
{
    double xv[3] = {1, 2, 3};
    tt_tensor *x = param(xv, 3), *m = tg_mul_scalar(x, 2), *f = tg_sum(m), *h;
    CHECK(tg_hessian(f, 1, &x, &h) == TT_OK);
    double zero[9] = {0};
    CHECK_VALUES(h, zero, 9, 0);
    tt_release(h);
    tt_release(m);
    tt_release(f);
    tt_release(x);
}

TEST(needs_one_element)
{
    double xv[2] = {1, 2};
    tt_tensor *x = param(xv, 2), *y = tg_mul(x, x), *h = NULL;
    CHECK(tg_hessian(y, 1, &x, &h) == TT_EINVAL);
    CHECK_STR(tt_last_error(), "a Hessian needs an output with one element, got shape [2]");
    CHECK(h == NULL);
    tt_release(y);
    tt_release(x);
}

int main(void)
{
    RUN(two_inputs);
    RUN(linear_is_zero);
    RUN(needs_one_element);
    return DONE();
}
