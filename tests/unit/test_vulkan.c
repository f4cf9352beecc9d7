/* The Vulkan backend against the CPU backend (the oracle). Skipped, with its
 * reason, when no Vulkan device can be made. Run with TG_VULKAN_VALIDATION=1
 * the last test fails on any validation-layer warning or error. */
#include <stdlib.h>
#include "check.h"
#include "backend/vulkan.h"

static const tt_device VK = {TT_DEVICE_VULKAN, 0};

/* t (any device) read back in its own dtype as doubles. */
static double *values(const tt_tensor *t)
{
    int64_t n = tt_numel(t);
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (v && tt_to_host(t, TT_F64, v) != TT_OK) { free(v); return NULL; }
    return v;
}

/* Elementwise |g - w| <= atol + rtol |w|, NaN equal to NaN, same shape. */
static int close_to(const tt_tensor *got, const tt_tensor *want, double atol, double rtol, const char *what, int line)
{
    if (!got || !want) { printf("#   line %d: %s: NULL: %s\n", line, what, tt_last_error()); return 0; }
    if (tt_numel(got) != tt_numel(want) || got->dtype != want->dtype) {
        printf("#   line %d: %s: shape or dtype differs\n", line, what);
        return 0;
    }
    double *g = values(got), *w = values(want);
    int ok = g && w;
    if (!ok) printf("#   line %d: %s: %s\n", line, what, tt_last_error());
    for (int64_t i = 0; ok && i < tt_numel(got); i++) {
        if (isnan(g[i]) && isnan(w[i])) continue;
        if (g[i] == w[i]) continue;
        if (!(fabs(g[i] - w[i]) <= atol + rtol * fabs(w[i]))) {
            printf("#   line %d: %s[%lld] = %.17g, cpu %.17g\n", line, what, (long long)i, g[i], w[i]);
            ok = 0;
        }
    }
    free(g);
    free(w);
    return ok;
}
#define CLOSE(got, want, atol, rtol, what) do { if (!close_to((got), (want), (atol), (rtol), (what), __LINE__)) \
    check_failed_here = 1; } while (0)

/* Uniform in [lo, hi) on the CPU, seeded. */
static tt_tensor *cpu_random(int ndim, const int64_t *shape, tt_dtype dt, double lo, double hi, uint64_t seed)
{
    tt_generator gen = {seed, 0};
    tt_tensor *u = tt_rand(ndim, shape, TT_F64, TT_CPU, &gen);
    tt_tensor *a = tt_binary_scalar(TT_MUL, u, hi - lo), *b = tt_binary_scalar(TT_ADD, a, lo), *c = tt_cast(b, dt);
    tt_release(u);
    tt_release(a);
    tt_release(b);
    return c;
}

static int bytes_equal(const tt_tensor *a, const tt_tensor *b)
{
    int64_t n = tt_numel(a);
    size_t es = tt_dtype_size(a->dtype);
    char *x = malloc((size_t)n * es + 1), *y = malloc((size_t)n * es + 1);
    int ok = x && y && tt_numel(b) == n && a->dtype == b->dtype && tt_to_host(a, a->dtype, x) == TT_OK &&
             tt_to_host(b, b->dtype, y) == TT_OK && memcmp(x, y, (size_t)n * es) == 0;
    free(x);
    free(y);
    return ok;
}

TEST(round_trip)
{
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64, TT_BOOL};
    int64_t shape[] = {3, 7, 5};
    for (int k = 0; k < 4; k++) {
        tt_tensor *c = cpu_random(3, shape, dts[k], -50, 50, 10 + (uint64_t)k);
        tt_tensor *v = tt_to_device(c, VK), *back = v ? tt_to_device(v, TT_CPU) : NULL;
        CHECK(v && tt_device_of(v).type == TT_DEVICE_VULKAN);
        CHECK(back && bytes_equal(back, c));
        tt_release(c);
        tt_release(v);
        tt_release(back);
    }
}

TEST(fill)
{
    int64_t shape[] = {4, 33};
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64, TT_BOOL};
    for (int k = 0; k < 4; k++) {
        tt_tensor *v = tt_full(2, shape, 2.75, dts[k], VK), *c = tt_full(2, shape, 2.75, dts[k], TT_CPU);
        CLOSE(v, c, 0, 0, "full");
        /* fill a strided slice in place: every other column */
        tt_tensor *vs = tt_slice(v, 1, 1, 33, 2), *cs = tt_slice(c, 1, 1, 33, 2);
        CHECK(tt_fill_(vs, -1.5) == TT_OK && tt_fill_(cs, -1.5) == TT_OK);
        CLOSE(v, c, 0, 0, "strided fill");
        tt_release(vs); tt_release(cs); tt_release(v); tt_release(c);
    }
    tt_tensor *z = tt_zeros(1, (int64_t[]){0}, TT_F32, VK);
    CHECK(z && tt_numel(z) == 0);
    tt_release(z);
}

TEST(copy_casts_strided)
{
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64, TT_BOOL};
    int64_t shape[] = {6, 9};
    for (int a = 0; a < 4; a++) {
        tt_tensor *c = cpu_random(2, shape, dts[a], -20, 20, 30 + (uint64_t)a), *v = tt_to_device(c, VK);
        tt_tensor *ct = tt_transpose(c, 0, 1), *vt = tt_transpose(v, 0, 1);
        for (int b = 0; b < 4; b++) {
            tt_tensor *cc = tt_cast(ct, dts[b]), *vc = tt_cast(vt, dts[b]);
            tt_tensor *ccc = tt_contiguous(cc), *vcc = tt_contiguous(vc);
            char what[64];
            snprintf(what, sizeof what, "%s -> %s", tt_dtype_name(dts[a]), tt_dtype_name(dts[b]));
            CLOSE(vcc, ccc, 0, 0, what);
            tt_release(cc); tt_release(vc); tt_release(ccc); tt_release(vcc);
        }
        tt_release(c); tt_release(v); tt_release(ct); tt_release(vt);
    }
}

TEST(unary_all_ops)
{
    const tt_dtype dts[] = {TT_F32, TT_F64};
    int64_t shape[] = {5, 4, 3};
    for (int k = 0; k < 2; k++) {
        tt_tensor *c = cpu_random(3, shape, dts[k], -6, 6, 50 + (uint64_t)k), *v = tt_to_device(c, VK);
        tt_tensor *ct = tt_transpose(c, 0, 2), *vt = tt_transpose(v, 0, 2);
        double tol = dts[k] == TT_F32 ? 2e-6 : 1e-13;
        for (int op = 0; op < TT_NUM_UNARY; op++) {
            for (int strided = 0; strided < 2; strided++) {
                tt_tensor *w = tt_unary((tt_unary_op)op, strided ? ct : c), *g = tt_unary((tt_unary_op)op, strided ? vt : v);
                char what[64];
                snprintf(what, sizeof what, "%s %s%s", tt_unary_name((tt_unary_op)op), tt_dtype_name(dts[k]),
                         strided ? " strided" : "");
                CLOSE(g, w, tol, tol, what);
                tt_release(w); tt_release(g);
            }
        }
        tt_release(c); tt_release(v); tt_release(ct); tt_release(vt);
    }
}

TEST(binary_all_ops_broadcast)
{
    const tt_dtype dts[] = {TT_F32, TT_F64};
    int64_t sa[] = {3, 1, 5}, sb[] = {4, 5};
    for (int k = 0; k < 2; k++) {
        tt_tensor *ca = cpu_random(3, sa, dts[k], -3, 3, 70 + (uint64_t)k), *cb = cpu_random(2, sb, dts[k], -3, 3, 80);
        tt_tensor *va = tt_to_device(ca, VK), *vb = tt_to_device(cb, VK);
        double tol = dts[k] == TT_F32 ? 2e-6 : 1e-12;
        for (int op = 0; op < TT_NUM_BINARY; op++) {
            tt_tensor *w = tt_binary((tt_binary_op)op, ca, cb), *g = tt_binary((tt_binary_op)op, va, vb);
            tt_tensor *w2 = tt_binary((tt_binary_op)op, ca, ca), *g2 = tt_binary((tt_binary_op)op, va, va);
            tt_tensor *w3 = tt_binary_scalar((tt_binary_op)op, ca, 2.0), *g3 = tt_binary_scalar((tt_binary_op)op, va, 2.0);
            char what[64];
            snprintf(what, sizeof what, "%s %s", tt_binary_name((tt_binary_op)op), tt_dtype_name(dts[k]));
            CLOSE(g, w, tol, tol, what);
            CLOSE(g2, w2, tol, tol, what);
            CLOSE(g3, w3, tol, tol, what);
            tt_release(w); tt_release(g); tt_release(w2); tt_release(g2); tt_release(w3); tt_release(g3);
        }
        tt_release(ca); tt_release(cb); tt_release(va); tt_release(vb);
    }
}

TEST(rng_matches_cpu)
{
    int64_t shape[] = {1001};
    const tt_dtype dts[] = {TT_F32, TT_F64};
    for (int k = 0; k < 2; k++) {
        tt_generator gc = {12345678901ull, 77}, gv = gc;
        tt_tensor *c = tt_rand(1, shape, dts[k], TT_CPU, &gc), *v = tt_rand(1, shape, dts[k], VK, &gv);
        CHECK(v && bytes_equal(v, c));
        CHECK(gc.offset == gv.offset);
        tt_tensor *cn = tt_randn(1, shape, dts[k], TT_CPU, &gc), *vn = tt_randn(1, shape, dts[k], VK, &gv);
        CLOSE(vn, cn, 1e-6, 1e-6, "randn");
        tt_release(c); tt_release(v); tt_release(cn); tt_release(vn);
    }
}

TEST(ranges)
{
    tt_tensor *c = tt_arange(-3, 7, 0.5, TT_F32, TT_CPU), *v = tt_arange(-3, 7, 0.5, TT_F32, VK);
    CLOSE(v, c, 0, 0, "arange");
    tt_tensor *cl = tt_linspace(-1, 2, 17, TT_F64, TT_CPU), *vl = tt_linspace(-1, 2, 17, TT_F64, VK);
    CLOSE(vl, cl, 0, 0, "linspace");
    tt_release(c); tt_release(v); tt_release(cl); tt_release(vl);
}

/* 300 dependent ops are recorded and submitted together, not one by one. */
TEST(many_ops_one_submit)
{
    int64_t shape[] = {1000};
    tt_tensor *c = cpu_random(1, shape, TT_F32, -1, 1, 90), *v = tt_to_device(c, VK);
    long d0, s0, d1, s1;
    tt_vulkan_counters(&d0, &s0);
    for (int i = 0; i < 100; i++) {
        tt_tensor *c2 = tt_binary_scalar(TT_MUL, c, 1.001), *v2 = tt_binary_scalar(TT_MUL, v, 1.001);
        tt_tensor *c3 = tt_unary(TT_SIN, c2), *v3 = tt_unary(TT_SIN, v2);
        tt_release(c); tt_release(v); tt_release(c2); tt_release(v2);
        c = tt_binary_scalar(TT_ADD, c3, 0.25);
        v = tt_binary_scalar(TT_ADD, v3, 0.25);
        tt_release(c3); tt_release(v3);
    }
    tt_vulkan_counters(&d1, &s1);
    CHECK(d1 - d0 >= 300);
    /* frees of buffers in use flush too: allow a handful, never one per op */
    if (s1 - s0 > 5) FAILF("%ld submits for %ld dispatches", s1 - s0, d1 - d0);
    CLOSE(v, c, 1e-4, 1e-4, "chain");
    tt_release(c); tt_release(v);
}

TEST(missing_kernel_is_an_error)
{
    tt_tensor *v = tt_ones(1, (int64_t[]){4}, TT_F32, VK);
    CHECK_ERR(tt_sum(v), TT_EDEVICE, "no kernel");
    tt_release(v);
    tt_clear_error();
}

TEST(no_validation_messages)
{
    CHECK(tt_vulkan_sync(0) == TT_OK);
    long n = tt_vulkan_validation_messages();
    if (n) FAILF("%ld validation messages (see stderr)", n);
    if (!getenv("TG_VULKAN_VALIDATION")) printf("# validation layer not enabled (TG_VULKAN_VALIDATION unset)\n");
}

int main(void)
{
    setenv("TG_VULKAN_DEVICE", "lavapipe", 0); /* this test is meant for lavapipe; a set value wins */
    if (!tt_vulkan_available(0)) {
        printf("1..0 # SKIP no Vulkan device: %s\n", tt_last_error());
        return 0;
    }
    RUN(round_trip);
    RUN(fill);
    RUN(copy_casts_strided);
    RUN(unary_all_ops);
    RUN(binary_all_ops_broadcast);
    RUN(rng_matches_cpu);
    RUN(ranges);
    RUN(many_ops_one_submit);
    RUN(missing_kernel_is_an_error);
    tt_vulkan_shutdown(); /* reports leaked objects through the layer */
    RUN(no_validation_messages);
    return DONE();
}
