/* OpenBLAS is opened on the first matrix product instead of being linked:
 * its 14 000 symbol relocations (a DYNAMIC_ARCH build) and its thread pool
 * cost every process some 4 ms at start-up, most of what a small command
 * like `tg-gen line -n 500` takes, whether or not it multiplies matrices.
 * The first library in `candidates` that loads and has cblas_sgemm and
 * cblas_dgemm is used. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "backend/blas.h"

typedef __typeof__(cblas_sgemm) sgemm_fn;
typedef __typeof__(cblas_dgemm) dgemm_fn;

static const char *const candidates[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn *sgemm;
static dgemm_fn *dgemm;
static char load_error[512];

static void load(void)
{
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        void *h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            if (i == 0) snprintf(load_error, sizeof load_error, "%s", dlerror());
            continue;
        }
        /* POSIX's way to turn a dlsym result into a function pointer */
        *(void **)&sgemm = dlsym(h, "cblas_sgemm");
        *(void **)&dgemm = dlsym(h, "cblas_dgemm");
        if (sgemm && dgemm) return; /* kept open for the life of the process */
        snprintf(load_error, sizeof load_error, "%s has no cblas_sgemm and cblas_dgemm", candidates[i]);
        sgemm = NULL, dgemm = NULL;
        dlclose(h);
    }
}

/* Products this small cost less as a plain loop than as a BLAS call (whose
 * entry checks and dispatch take ~3000 instructions: an 8x1 @ 1x1 step of
 * the seeds' regression). Sums in double, rounded once. */
#define SMALL_GEMM 4096

/* A column times a scalar (k == n == 1) and a dot product (m == n == 1), the
 * shapes of a batch's matrix-vector products, skip the general loop's set-up
 * per element, with the same sums: 0 + the products in order of p (the 0
 * makes a -0 product +0, as the general loop does). */
#define SMALL_LOOP(T)                                                                                       \
    if (k == 1 && n == 1) {                                                                                 \
        const double b0 = (double)B[0];                                                                     \
        for (int i = 0; i < m; i++) C[(int64_t)i * ldc] = (T)(0.0 + (double)A[i * ai] * b0);                \
    } else if (m == 1 && n == 1) {                                                                          \
        double acc = 0;                                                                                     \
        for (int p = 0; p < k; p++) acc += (double)A[p * ap] * (double)B[p * bp];                           \
        C[0] = (T)acc;                                                                                      \
    } else                                                                                                  \
        for (int i = 0; i < m; i++)                                                                         \
            for (int j = 0; j < n; j++) {                                                                   \
                double acc = 0;                                                                             \
                for (int p = 0; p < k; p++) acc += (double)A[i * ai + p * ap] * (double)B[p * bp + j * bj]; \
                C[(int64_t)i * ldc + j] = (T)acc;                                                           \
            }

static void small_gemm(tt_dtype dt, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const void *a, int lda,
                       const void *b, int ldb, void *c, int ldc)
{
    /* element strides of a(i, p) and b(p, j) for either layout */
    int64_t ai = ta == CblasNoTrans ? lda : 1, ap = ta == CblasNoTrans ? 1 : lda;
    int64_t bp = tb == CblasNoTrans ? ldb : 1, bj = tb == CblasNoTrans ? 1 : ldb;
    if (dt == TT_F32) {
        const float *A = a, *B = b;
        float *C = c;
        SMALL_LOOP(float)
    } else {
        const double *A = a, *B = b;
        double *C = c;
        SMALL_LOOP(double)
    }
}

tt_status tt__gemm(tt_dtype dt, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const void *a, int lda,
                   const void *b, int ldb, void *c, int ldc)
{
    if ((int64_t)m * n * k <= SMALL_GEMM) {
        small_gemm(dt, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
        return TT_OK;
    }
    pthread_once(&once, load);
    if (!sgemm)
        return tt_set_error(TT_ERUNTIME,
                            "matmul needs OpenBLAS and could not load it (%s; Debian package "
                            "libopenblas0)",
                            load_error);
    if (dt == TT_F32) sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    else dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
    return TT_OK;
}
