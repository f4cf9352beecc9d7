/* matmul takes two paths on the CPU: products of up to 4096 multiply-adds
 * run as a plain loop, larger ones through OpenBLAS (opened on first use).
 * Both must give the product, for every layout (transposed operands reach
 * BLAS without a copy), in float32 and float64, against a float64 reference
 * computed here from the same numbers. */
#include <stdlib.h>

#include "check.h"

/* a (m x k) @ b (k x n) with a and b possibly views transposed from
 * contiguous (k x m) / (n x k) tensors, checked element by element. */
static void check_product(int m, int k, int n, bool ta, bool tb, tt_dtype dt)
{
    int64_t sa[2] = {ta ? k : m, ta ? m : k}, sb[2] = {tb ? n : k, tb ? k : n};
    tt_tensor *A0 = tt_randn(2, sa, dt, TT_CPU, NULL), *B0 = tt_randn(2, sb, dt, TT_CPU, NULL);
    tt_tensor *A = ta ? tt_t(A0) : tt_retain(A0), *B = tb ? tt_t(B0) : tt_retain(B0);
    tt_tensor *C = tt_matmul(A, B);
    double *a = malloc(sizeof *a * (size_t)(m * k)), *b = malloc(sizeof *b * (size_t)(k * n)),
           *c = malloc(sizeof *c * (size_t)(m * n));
    tt_tensor *Ac = tt_contiguous(A), *Bc = tt_contiguous(B);
    if (!C || !a || !b || !c || !Ac || !Bc || tt_to_host(Ac, TT_F64, a) || tt_to_host(Bc, TT_F64, b) ||
        tt_to_host(C, TT_F64, c)) {
        FAILF("%dx%d @ %dx%d: %s", m, k, k, n, tt_last_error());
    } else {
        double worst = 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double ref = 0, mag = 0;
                for (int p = 0; p < k; p++)
                    ref += a[i * k + p] * b[p * n + j], mag += fabs(a[i * k + p] * b[p * n + j]);
                double err = fabs(c[i * n + j] - ref) / (mag > 1 ? mag : 1);
                if (err > worst) worst = err;
            }
        double tol = dt == TT_F32 ? 1e-6 * k : 1e-14 * k;
        if (!(worst <= tol))
            FAILF("%dx%d @ %dx%d %s%s %s: worst relative error %.3g > %.3g", m, k, k, n, ta ? "A^T" : "A",
                  tb ? " B^T" : " B", tt_dtype_name(dt), worst, tol);
    }
    free(a), free(b), free(c);
    tt_release(Ac), tt_release(Bc), tt_release(A), tt_release(B), tt_release(A0), tt_release(B0), tt_release(C);
}

TEST(small_products_loop)
{
    const tt_dtype dts[] = {TT_F32, TT_F64};
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < 4; t++) {
            check_product(8, 1, 1, t & 1, t & 2, dts[d]);
            check_product(7, 9, 11, t & 1, t & 2, dts[d]);   /* 693 multiply-adds */
            check_product(16, 16, 16, t & 1, t & 2, dts[d]); /* 4096: the largest loop */
        }
}

TEST(large_products_blas)
{
    const tt_dtype dts[] = {TT_F32, TT_F64};
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < 4; t++) {
            check_product(16, 16, 17, t & 1, t & 2, dts[d]); /* 4352: just over, through BLAS */
            check_product(33, 65, 31, t & 1, t & 2, dts[d]);
        }
}

int main(void)
{
    tt_manual_seed(4);
    RUN(small_products_loop);
    RUN(large_products_blas);
    return DONE();
}
