/* Small dense linear algebra for lib/fit: Cholesky, a symmetric inverse, and
 * the merge of two R factors of a tall-skinny QR (the exact polynomial fit)
 * by Givens rotations; a block's own R is a kernel (kernels.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

bool tgf_chol_solve(int p, const double *A, double mu, const double *b, double *x)
{
    double L[p * p > 0 ? p * p : 1];
    memset(L, 0, sizeof L);
    for (int i = 0; i < p; i++) {
        for (int j = 0; j <= i; j++) {
            double s = A[i * p + j] + (i == j ? mu : 0);
            for (int k = 0; k < j; k++) s -= L[i * p + k] * L[j * p + k];
            if (i == j) {
                if (!(s > 0) || !isfinite(s)) return false;
                L[i * p + i] = sqrt(s);
            } else {
                L[i * p + j] = s / L[j * p + j];
            }
        }
    }
    double z[p > 0 ? p : 1];
    for (int i = 0; i < p; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++) s -= L[i * p + k] * z[k];
        z[i] = s / L[i * p + i];
    }
    for (int i = p - 1; i >= 0; i--) {
        double s = z[i];
        for (int k = i + 1; k < p; k++) s -= L[k * p + i] * x[k];
        x[i] = s / L[i * p + i];
    }
    for (int i = 0; i < p; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

bool tgf_sym_inverse(int p, const double *A, double *inv)
{
    int w = 2 * p;
    double *M = malloc(sizeof *M * (size_t)(p * w > 0 ? p * w : 1));
    if (!M) return false;
    double big = 0;
    for (int i = 0; i < p; i++) {
        for (int j = 0; j < p; j++) {
            M[i * w + j] = A[i * p + j];
            M[i * w + p + j] = i == j;
            if (fabs(A[i * p + j]) > big || !isfinite(A[i * p + j])) big = fabs(A[i * p + j]);
        }
    }
    bool ok = big > 0 && isfinite(big);
    for (int c = 0; ok && c < p; c++) {
        int piv = c;
        for (int r = c + 1; r < p; r++)
            if (fabs(M[r * w + c]) > fabs(M[piv * w + c])) piv = r;
        if (!(fabs(M[piv * w + c]) > 1e-12 * big)) {
            ok = false;
            break;
        }
        if (piv != c)
            for (int j = 0; j < w; j++) {
                double t = M[c * w + j];
                M[c * w + j] = M[piv * w + j];
                M[piv * w + j] = t;
            }
        double d = M[c * w + c];
        for (int j = 0; j < w; j++) M[c * w + j] /= d;
        for (int r = 0; r < p; r++) {
            if (r == c || M[r * w + c] == 0) continue;
            double f = M[r * w + c];
            for (int j = 0; j < w; j++) M[r * w + j] -= f * M[c * w + j];
        }
    }
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) inv[i * p + j] = ok ? M[i * w + p + j] : NAN;
    if (ok) /* symmetrize */
        for (int i = 0; i < p; i++)
            for (int j = 0; j < i; j++) inv[i * p + j] = inv[j * p + i] = (inv[i * p + j] + inv[j * p + i]) / 2;
    free(M);
    return ok;
}

void tgf_qr_merge(int q, double *Ra, const double *Rb_in)
{
    double Rb[q * q > 0 ? q * q : 1];
    memcpy(Rb, Rb_in, sizeof Rb);
    for (int i = 0; i < q; i++)       /* row i of Rb, zeroed column by column */
        for (int k = i; k < q; k++) { /* against row k of Ra */
            double b = Rb[i * q + k];
            if (b == 0) continue;
            double a = Ra[k * q + k], r = hypot(a, b), c = a / r, s = b / r;
            for (int j = k; j < q; j++) {
                double u = Ra[k * q + j], v = Rb[i * q + j];
                Ra[k * q + j] = c * u + s * v;
                Rb[i * q + j] = c * v - s * u;
            }
            Rb[i * q + k] = 0;
        }
}
