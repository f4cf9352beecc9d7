/* Small dense linear algebra for lib/fit: Cholesky, a symmetric inverse, and
 * Householder QR least squares (the exact polynomial fit). */
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

bool tgf_qr_lstsq(int n, int p, double *M, double *r, double *c)
{
    double scale[p > 0 ? p : 1];
    for (int j = 0; j < p; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += M[i * p + j] * M[i * p + j];
        s = sqrt(s);
        if (!(s > 0)) return false;
        scale[j] = s;
        for (int i = 0; i < n; i++) M[i * p + j] /= s;
    }
    double diag[p > 0 ? p : 1];
    for (int k = 0; k < p; k++) {
        double norm = 0;
        for (int i = k; i < n; i++) norm += M[i * p + k] * M[i * p + k];
        norm = sqrt(norm);
        if (!(norm > 1e-13)) return false;
        double alpha = M[k * p + k] > 0 ? -norm : norm;
        /* v = x - alpha e1, stored in place */
        M[k * p + k] -= alpha;
        double vnorm2 = 0;
        for (int i = k; i < n; i++) vnorm2 += M[i * p + k] * M[i * p + k];
        if (vnorm2 > 0) {
            for (int j = k + 1; j < p; j++) {
                double s = 0;
                for (int i = k; i < n; i++) s += M[i * p + k] * M[i * p + j];
                s = 2 * s / vnorm2;
                for (int i = k; i < n; i++) M[i * p + j] -= s * M[i * p + k];
            }
            double s = 0;
            for (int i = k; i < n; i++) s += M[i * p + k] * r[i];
            s = 2 * s / vnorm2;
            for (int i = k; i < n; i++) r[i] -= s * M[i * p + k];
        }
        diag[k] = alpha;
    }
    for (int k = p - 1; k >= 0; k--) {
        double s = r[k];
        for (int j = k + 1; j < p; j++) s -= M[k * p + j] * c[j];
        c[k] = s / diag[k];
    }
    for (int j = 0; j < p; j++) c[j] /= scale[j];
    return true;
}
