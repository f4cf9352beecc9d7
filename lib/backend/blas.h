/* Matrix products through a CBLAS library that is opened on first use. */
#ifndef TG_BLAS_H
#define TG_BLAS_H

#include <cblas.h>
#include "tg/tensor.h"

/* c = a @ b (row-major, alpha 1, beta 0) in float32 or float64 (dt); an
 * error, not a crash, when no CBLAS library can be loaded. */
tt_status tt__gemm(tt_dtype dt, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const void *a, int lda,
                   const void *b, int ldb, void *c, int ldc);

#endif
