/* The CPU backend's own kernels: the vectorised f32 exp / sigmoid / tanh
 * against double-precision libm over a sweep of all float bit patterns, and
 * the fast paths (dense, threaded, blocked sums) against the slow ones
 * (strided views, small sizes) and against thread counts of 1 and 3. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

/* The spacing of floats at |f| (subnormal spacing below FLT_MIN). */
static double ulp_of(float f)
{
    f = fabsf(f);
    double u = (double)nextafterf(f, INFINITY) - (double)f;
    return u < 0x1p-149 ? 0x1p-149 : u;
}

static double ref_exp(double x) { return exp(x); }
static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }

/* Max ulp error of op over xs; -1 when an inf, NaN or zero class differs. */
static double max_ulp(tt_tensor *(*op)(const tt_tensor *), double (*ref)(double), const float *xs, int64_t n,
                      float *worst)
{
    int64_t shape[1] = {n};
    tt_tensor *x = tt_from_data(1, shape, TT_F32, xs, TT_CPU), *y = x ? op(x) : NULL;
    float *got = malloc((size_t)n * sizeof *got);
    double maxe = 0;
    if (!y || !got || tt_to_host(y, TT_F32, got) != TT_OK) maxe = -1;
    for (int64_t i = 0; maxe >= 0 && i < n; i++) {
        double r = ref((double)xs[i]);
        float rf = (float)r;
        if (isnan(rf) || isinf(rf) || isnan(got[i]) || isinf(got[i]) || rf == 0) {
            bool same = (isnan(rf) && isnan(got[i])) || rf == got[i];
            if (rf == 0 && !isnan(got[i]) && fabs(got[i]) <= 0x1p-149) same = true; /* a subnormal ulp off 0 */
            if (!same) {
                maxe = -1;
                *worst = xs[i];
            }
            continue;
        }
        double e = fabs((double)got[i] - r) / ulp_of(rf);
        if (e > maxe) {
            maxe = e;
            *worst = xs[i];
        }
    }
    free(got);
    tt_release(x);
    tt_release(y);
    return maxe;
}

/* Every STEP-th float bit pattern, and the edge cases. */
static float *sweep(int64_t *n)
{
    static const float edges[] = {0.0f,
                                  -0.0f,
                                  0x1p-149f,
                                  -0x1p-149f,
                                  0x1p-130f,
                                  -0x1p-126f,
                                  1e-30f,
                                  -1e-8f,
                                  88.72283172607421875f,
                                  88.72283935546875f,
                                  88.7228469848632812f,
                                  -87.3365478515625f,
                                  -88.7228393554687f,
                                  -103.27892303466797f,
                                  -103.97207641601562f,
                                  -103.972084045410156f,
                                  -104.5f,
                                  89.5f,
                                  0.625f,
                                  -0.625f,
                                  0.62499994f,
                                  9.0f,
                                  -9.0f,
                                  20.0f,
                                  1e30f,
                                  -1e30f,
                                  INFINITY,
                                  -INFINITY,
                                  NAN,
                                  -NAN};
    uint32_t step = RUNNING_ON_VALGRIND ? 65521 : 251;
    int64_t cap = (int64_t)(((uint64_t)1 << 32) / step) + 2 + (int64_t)(sizeof edges / sizeof *edges), k = 0;
    float *xs = malloc((size_t)cap * sizeof *xs);
    if (!xs) return NULL;
    for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += step) {
        uint32_t u = (uint32_t)b;
        memcpy(&xs[k++], &u, sizeof u);
    }
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) xs[k++] = edges[i];
    *n = k;
    return xs;
}

TEST(exp_sigmoid_tanh_f32_within_ulps_of_libm)
{
    int64_t n;
    float *xs = sweep(&n), worst = 0;
    CHECK(xs != NULL);
    if (!xs) return;
    double e;
    if ((e = max_ulp(tt_exp, ref_exp, xs, n, &worst)) < 0 || e > 1.5) FAILF("exp: %g ulp at %a", e, worst);
    if ((e = max_ulp(tt_sigmoid, ref_sigmoid, xs, n, &worst)) < 0 || e > 3) FAILF("sigmoid: %g ulp at %a", e, worst);
    if ((e = max_ulp(tt_tanh, ref_tanh, xs, n, &worst)) < 0 || e > 2) FAILF("tanh: %g ulp at %a", e, worst);
    free(xs);
}

/* The exact values at the edges: signed zeros, overflow to inf, underflow to 0, NaN. */
TEST(exp_sigmoid_tanh_f32_edges)
{
    const float x[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.72283935546875f, -104.0f, -100.0f, 100.0f};
    int64_t shape[1] = {9};
    tt_tensor *t = tt_from_data(1, shape, TT_F32, x, TT_CPU);
    tt_tensor *e = tt_exp(t), *s = tt_sigmoid(t), *h = tt_tanh(t);
    float ge[9], gs[9], gh[9];
    CHECK(e && s && h && tt_to_host(e, TT_F32, ge) == TT_OK && tt_to_host(s, TT_F32, gs) == TT_OK &&
          tt_to_host(h, TT_F32, gh) == TT_OK);
    CHECK(ge[0] == 1 && ge[1] == 1 && isinf(ge[2]) && ge[3] == 0 && !signbit(ge[3]) && isnan(ge[4]));
    CHECK(isinf(ge[5]) && ge[6] == 0 && ge[7] > 0 && ge[7] == (float)exp(-100.0));
    CHECK(gs[0] == 0.5f && gs[1] == 0.5f && gs[2] == 1 && gs[3] == 0 && isnan(gs[4]));
    CHECK(gs[7] > 0 && fabs(gs[7] - 3.7835058e-44) <= 0x1p-149 && gs[8] == 1); /* e^-100, not 0 */
    CHECK(gh[0] == 0 && !signbit(gh[0]) && gh[1] == 0 && signbit(gh[1]) && gh[2] == 1 && gh[3] == -1 && isnan(gh[4]) &&
          gh[8] == 1 && gh[7] == -1);
    tt_release(t);
    tt_release(e);
    tt_release(s);
    tt_release(h);
}

/* A pseudo-random f32 tensor (no dependence on the library's generator). */
static tt_tensor *noise(int ndim, const int64_t *shape, uint32_t seed)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((double)(s >> 8) / (1 << 24) * 4 - 1.5);
    }
    tt_tensor *t = tt_from_data(ndim, shape, TT_F32, v, TT_CPU);
    free(v);
    return t;
}

static bool same_bits(const tt_tensor *a, const tt_tensor *b)
{
    if (!a || !b || tt_numel(a) != tt_numel(b)) return false;
    int64_t n = tt_numel(a);
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    bool same = x && y && tt_to_host(a, TT_F32, x) == TT_OK && tt_to_host(b, TT_F32, y) == TT_OK &&
                memcmp(x, y, (size_t)n * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

/* Large (threaded, dense) elementwise ops give bit for bit what the same ops
 * give on a transposed (strided) view and element by element. */
TEST(elementwise_threaded_dense_equals_strided)
{
    int64_t shape[2] = {700, 300}; /* 210000 elements: over the threading threshold */
    tt_tensor *a = noise(2, shape, 1), *b = noise(2, shape, 2);
    tt_tensor *at = tt_transpose(a, 0, 1), *bt = tt_transpose(b, 0, 1);
    tt_tensor *atc = tt_contiguous(at), *btc = tt_contiguous(bt); /* dense copies of the transposes */
    tt_tensor *r1 = tt_mul(at, bt), *r2 = tt_mul(atc, btc);
    CHECK(same_bits(r1, r2));
    tt_tensor *s1 = tt_sigmoid(at), *s2 = tt_sigmoid(atc), *e1 = tt_exp(bt), *e2 = tt_exp(btc);
    CHECK(same_bits(s1, s2));
    CHECK(same_bits(e1, e2));
    /* a small slice (one thread, short rows) agrees with the big result */
    tt_tensor *sl = tt_slice(atc, 0, 5, 7, 1), *sm = sl ? tt_sigmoid(sl) : NULL, *ref = tt_slice(s2, 0, 5, 7, 1);
    CHECK(same_bits(sm, ref));
    /* in place (no copy) equals out of place */
    tt_tensor *c = tt_contiguous(atc);
    tt_tensor *cc = c ? tt_mul_scalar(c, 1) : NULL; /* a fresh buffer */
    CHECK(cc && tt_add_(cc, btc) == TT_OK);
    tt_tensor *sum = tt_add(atc, btc);
    CHECK(same_bits(cc, sum));
    /* in place with y aliasing x: x += x */
    CHECK(tt_add_(cc, cc) == TT_OK);
    tt_tensor *dbl = tt_add(sum, sum);
    CHECK(same_bits(cc, dbl));
    tt_tensor *all[] = {a, b, at, bt, atc, btc, r1, r2, s1, s2, e1, e2, sl, sm, ref, c, cc, sum, dbl};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
}

/* A sum of 10^6 elements against a double reference, and the same sum over a
 * strided view (the same blocks, so the same bits). */
TEST(sum_large_against_double_reference)
{
    int64_t n = 1000000, shape[1] = {n}, shape2[2] = {n, 2};
    tt_tensor *x = noise(1, shape, 7), *wide = noise(2, shape2, 7);
    float *v = malloc((size_t)n * sizeof *v);
    CHECK(x && v && tt_to_host(x, TT_F32, v) == TT_OK);
    double ref = 0;
    for (int64_t i = 0; v && i < n; i++) ref += v[i];
    double got, mean;
    tt_tensor *s = tt_sum(x), *m = tt_mean(x);
    CHECK(s && m && tt_item(s, &got) == TT_OK && tt_item(m, &mean) == TT_OK);
    CHECK(fabs(got - ref) <= 1e-6 * fabs(ref) + 1e-3);
    CHECK(fabs(mean - ref / (double)n) <= 1e-6 * fabs(ref / (double)n) + 1e-9);
    /* column 0 of an (n, 2) tensor: stride 2 */
    tt_tensor *col = tt_slice(wide, 1, 0, 1, 1), *colc = col ? tt_contiguous(col) : NULL;
    tt_tensor *s1 = col ? tt_sum(col) : NULL, *s2 = colc ? tt_sum(colc) : NULL;
    CHECK(same_bits(s1, s2));
    /* sum over a dim: each of the 2 outputs against its own double sum */
    int dims[1] = {0};
    tt_tensor *sd = tt_sum_dims(wide, dims, 1, false);
    float *w = malloc((size_t)n * 2 * sizeof *w), sdv[2] = {0};
    CHECK(sd && w && tt_to_host(wide, TT_F32, w) == TT_OK && tt_to_host(sd, TT_F32, sdv) == TT_OK);
    for (int j = 0; w && j < 2; j++) {
        double r = 0;
        for (int64_t i = 0; i < n; i++) r += w[2 * i + j];
        CHECK_NEAR(sdv[j], r, 1e-6);
    }
    tt_tensor *all[] = {x, wide, s, m, col, colc, s1, s2, sd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tt_release(all[i]);
    free(v);
    free(w);
}

/* The documented order of a floating sum (lib/backend/cpu.c): blocks of
 * 8192, each in 16 interleaved double accumulators added pairwise, the block
 * sums in order. Written here element by element, it must give the bits of
 * whichever vector clone (AVX-512, AVX2, plain) the machine runs. */
static double sum_in_documented_order(const double *x, int64_t n)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += 8192) {
        double a[16] = {0};
        for (int64_t i = b; i < n && i < b + 8192; i++) a[(i - b) % 16] += x[i];
        double h[2];
        for (int k = 0; k < 2; k++) {
            const double *l = a + 8 * k;
            h[k] = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        }
        total += h[0] + h[1];
    }
    return total;
}

TEST(sum_order_fixed_by_code_not_vector_width)
{
    int64_t lens[] = {1, 7, 8, 9, 15, 16, 17, 1000, 8192, 8193, 20011};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        int64_t n = lens[k], shape[1] = {n};
        double *v = malloc((size_t)n * sizeof *v);
        for (int64_t i = 0; v && i < n; i++) v[i] = sin((double)i * 0.7) * pow(10, (double)(i % 13) - 6);
        tt_tensor *x = v ? tt_from_data(1, shape, TT_F64, v, TT_CPU) : NULL, *s = x ? tt_sum(x) : NULL;
        double got = 0, want = v ? sum_in_documented_order(v, n) : 1;
        CHECK(s && tt_item(s, &got) == TT_OK);
        CHECK(memcmp(&got, &want, sizeof got) == 0);
        tt_release(x);
        tt_release(s);
        free(v);
    }
}

/* The bits of a threaded sum and a threaded elementwise op, computed in a
 * child with OMP_NUM_THREADS=threads (read once, at the first big op). */
static bool bits_with_threads(const char *threads, uint32_t out[2])
{
    int fd[2];
    if (pipe(fd) != 0) return false;
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        close(fd[0]);
        setenv("OMP_NUM_THREADS", threads, 1);
        int64_t shape[1] = {3000001};
        tt_tensor *x = noise(1, shape, 11), *s = x ? tt_sum(x) : NULL, *e = x ? tt_exp(x) : NULL;
        float r[2] = {0, 0};
        if (s) tt_to_host(s, TT_F32, &r[0]);
        if (e) {
            float *v = malloc((size_t)shape[0] * sizeof *v);
            if (v && tt_to_host(e, TT_F32, v) == TT_OK)
                for (int64_t i = 0; i < shape[0]; i++) r[1] += v[i] * (float)(i % 7); /* a checksum */
            free(v);
        }
        ssize_t w = write(fd[1], r, sizeof r);
        int code = w == (ssize_t)sizeof r && s && e ? 0 : 1;
        tt_release(x); /* leak checkers look at the child too */
        tt_release(s);
        tt_release(e);
        _exit(code);
    }
    close(fd[1]);
    float r[2];
    bool ok = read(fd[0], r, sizeof r) == (ssize_t)sizeof r;
    close(fd[0]);
    int status;
    ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
    memcpy(out, r, sizeof r);
    return ok;
}

TEST(results_independent_of_thread_count)
{
    uint32_t one[2], two[2], three[2];
    CHECK(bits_with_threads("1", one));
    CHECK(bits_with_threads("2", two));
    CHECK(bits_with_threads("3", three));
    CHECK(one[0] == two[0] && one[0] == three[0]);
    CHECK(one[1] == two[1] && one[1] == three[1]);
}

int main(void)
{
    RUN(results_independent_of_thread_count); /* first: the children must start their own threads */
    RUN(exp_sigmoid_tanh_f32_within_ulps_of_libm);
    RUN(exp_sigmoid_tanh_f32_edges);
    RUN(elementwise_threaded_dense_equals_strided);
    RUN(sum_large_against_double_reference);
    RUN(sum_order_fixed_by_code_not_vector_width);
    return DONE();
}
