/* Internals of the fitting library (lib/fit): small dense linear algebra. */
#ifndef TG_FIT_INTERNAL_H
#define TG_FIT_INTERNAL_H

#include <stdbool.h>

/* Solves (A + mu I) x = b for symmetric A (p x p, row-major) by Cholesky.
 * Returns false when the matrix is not positive definite. */
bool tgf_chol_solve(int p, const double *A, double mu, const double *b, double *x);
/* Inverse of a symmetric matrix by Gauss-Jordan with partial pivoting; false
 * (and NaN everywhere) when a pivot is below 1e-12 of the largest entry. */
bool tgf_sym_inverse(int p, const double *A, double *inv);
/* Least squares min |M c - r| for M (n x p, row-major, n >= p) by Householder
 * QR on unit-norm columns. M and r are overwritten. false when rank-deficient. */
bool tgf_qr_lstsq(int n, int p, double *M, double *r, double *c);

#endif
