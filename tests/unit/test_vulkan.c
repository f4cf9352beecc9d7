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
    if (v && tt_to_host(t, TT_F64, v) != TT_OK) {
        free(v);
        return NULL;
    }
    return v;
}

/* Elementwise |g - w| <= atol + rtol |w|, NaN equal to NaN, same shape. */
static int close_to(const tt_tensor *got, const tt_tensor *want, double atol, double rtol, const char *what, int line)
{
    if (!got || !want) {
        printf("#   line %d: %s: NULL: %s\n", line, what, tt_last_error());
        return 0;
    }
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
#define CLOSE(got, want, atol, rtol, what)                                                     \
    do {                                                                                       \
        if (!close_to((got), (want), (atol), (rtol), (what), __LINE__)) check_failed_here = 1; \
    } while (0)

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
        tt_release(vs);
        tt_release(cs);
        tt_release(v);
        tt_release(c);
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
            tt_release(cc);
            tt_release(vc);
            tt_release(ccc);
            tt_release(vcc);
        }
        tt_release(c);
        tt_release(v);
        tt_release(ct);
        tt_release(vt);
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
                tt_tensor *w = tt_unary((tt_unary_op)op, strided ? ct : c),
                          *g = tt_unary((tt_unary_op)op, strided ? vt : v);
                char what[64];
                snprintf(what, sizeof what, "%s %s%s", tt_unary_name((tt_unary_op)op), tt_dtype_name(dts[k]),
                         strided ? " strided" : "");
                CLOSE(g, w, tol, tol, what);
                tt_release(w);
                tt_release(g);
            }
        }
        tt_release(c);
        tt_release(v);
        tt_release(ct);
        tt_release(vt);
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
            tt_tensor *w3 = tt_binary_scalar((tt_binary_op)op, ca, 2.0),
                      *g3 = tt_binary_scalar((tt_binary_op)op, va, 2.0);
            char what[64];
            snprintf(what, sizeof what, "%s %s", tt_binary_name((tt_binary_op)op), tt_dtype_name(dts[k]));
            CLOSE(g, w, tol, tol, what);
            CLOSE(g2, w2, tol, tol, what);
            CLOSE(g3, w3, tol, tol, what);
            tt_release(w);
            tt_release(g);
            tt_release(w2);
            tt_release(g2);
            tt_release(w3);
            tt_release(g3);
        }
        tt_release(ca);
        tt_release(cb);
        tt_release(va);
        tt_release(vb);
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
        tt_release(c);
        tt_release(v);
        tt_release(cn);
        tt_release(vn);
    }
}

TEST(ranges)
{
    tt_tensor *c = tt_arange(-3, 7, 0.5, TT_F32, TT_CPU), *v = tt_arange(-3, 7, 0.5, TT_F32, VK);
    CLOSE(v, c, 0, 0, "arange");
    tt_tensor *cl = tt_linspace(-1, 2, 17, TT_F64, TT_CPU), *vl = tt_linspace(-1, 2, 17, TT_F64, VK);
    CLOSE(vl, cl, 0, 0, "linspace");
    tt_release(c);
    tt_release(v);
    tt_release(cl);
    tt_release(vl);
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
        tt_release(c);
        tt_release(v);
        tt_release(c2);
        tt_release(v2);
        c = tt_binary_scalar(TT_ADD, c3, 0.25);
        v = tt_binary_scalar(TT_ADD, v3, 0.25);
        tt_release(c3);
        tt_release(v3);
    }
    tt_vulkan_counters(&d1, &s1);
    CHECK(d1 - d0 >= 300);
    /* frees of buffers in use flush too: allow a handful, never one per op */
    if (s1 - s0 > 5) FAILF("%ld submits for %ld dispatches", s1 - s0, d1 - d0);
    CLOSE(v, c, 1e-4, 1e-4, "chain");
    tt_release(c);
    tt_release(v);
}

/* cpu tensor c and its copy on the device */
#define PAIR(c, v, expr) tt_tensor *c = (expr), *v = tt_to_device(c, VK)
#define REL2(a, b)     \
    do {               \
        tt_release(a); \
        tt_release(b); \
    } while (0)

TEST(where_all_dtypes_broadcast)
{
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64, TT_BOOL};
    int64_t sc[] = {4, 1, 6}, sa[] = {5, 6}, sb[] = {4, 5, 1};
    PAIR(cc0, vc0, cpu_random(3, sc, TT_F32, -1, 1, 200));
    tt_tensor *cc = tt_binary_scalar(TT_GT, cc0, 0), *vc = tt_binary_scalar(TT_GT, vc0, 0);
    for (int k = 0; k < 4; k++) {
        PAIR(ca, va, cpu_random(2, sa, dts[k], -9, 9, 210 + (uint64_t)k));
        PAIR(cb, vb, cpu_random(3, sb, dts[k], -9, 9, 220 + (uint64_t)k));
        tt_tensor *w = tt_where(cc, ca, cb), *g = tt_where(vc, va, vb);
        CLOSE(g, w, 0, 0, tt_dtype_name(dts[k]));
        tt_tensor *cat = tt_transpose(ca, 0, 1), *vat = tt_transpose(va, 0, 1), *cct = tt_transpose(cc, 1, 2),
                  *vct = tt_transpose(vc, 1, 2);
        tt_tensor *w2 = tt_where(cct, cat, cat), *g2 = tt_where(vct, vat, vat);
        CLOSE(g2, w2, 0, 0, "where strided");
        REL2(cat, vat);
        REL2(cct, vct);
        REL2(w2, g2);
        REL2(ca, va);
        REL2(cb, vb);
        REL2(w, g);
    }
    REL2(cc0, vc0);
    REL2(cc, vc);
}

TEST(clamp_bounds_and_nan)
{
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64};
    const double bounds[][2] = {{-2, 3}, {NAN, 1.5}, {-0.5, NAN}, {4, -4}, {-1, -1}, {2, NAN}};
    int64_t shape[] = {7, 9};
    for (int k = 0; k < 3; k++) {
        PAIR(c0, v0, cpu_random(2, shape, dts[k], -6, 6, 230 + (uint64_t)k));
        tt_tensor *c = tt_transpose(c0, 0, 1), *v = tt_transpose(v0, 0, 1);
        if (dts[k] != TT_I64) { /* a NaN inside stays NaN */
            tt_tensor *cn = tt_slice(c0, 1, 2, 3, 1), *vn = tt_slice(v0, 1, 2, 3, 1);
            CHECK(tt_fill_(cn, NAN) == TT_OK && tt_fill_(vn, NAN) == TT_OK);
            REL2(cn, vn);
        }
        for (int b = 0; b < 6; b++) {
            tt_tensor *w = tt_clamp(c, bounds[b][0], bounds[b][1]), *g = tt_clamp(v, bounds[b][0], bounds[b][1]);
            char what[64];
            snprintf(what, sizeof what, "clamp %s [%g, %g]", tt_dtype_name(dts[k]), bounds[b][0], bounds[b][1]);
            CLOSE(g, w, 0, 0, what);
            REL2(w, g);
        }
        REL2(c0, v0);
        REL2(c, v);
    }
}

TEST(int64_and_bool_ops)
{
    int64_t sa[] = {3, 1, 5}, sb[] = {4, 5};
    PAIR(ca, va, cpu_random(3, sa, TT_I64, -40, 40, 240));
    PAIR(cb, vb, cpu_random(2, sb, TT_I64, -40, 40, 241));
    PAIR(ce, ve, cpu_random(2, sb, TT_I64, 0, 12, 242));
    const tt_unary_op uops[] = {TT_NEG, TT_ABS, TT_SIGN, TT_RELU};
    for (int i = 0; i < 4; i++) {
        tt_tensor *at = tt_transpose(ca, 0, 2), *avt = tt_transpose(va, 0, 2);
        tt_tensor *w = tt_unary(uops[i], at), *g = tt_unary(uops[i], avt);
        CLOSE(g, w, 0, 0, tt_unary_name(uops[i]));
        REL2(w, g);
        REL2(at, avt);
    }
    const tt_binary_op bops[] = {TT_ADD, TT_SUB, TT_MUL, TT_MAXIMUM, TT_MINIMUM, TT_EQ,
                                 TT_NE,  TT_LT,  TT_LE,  TT_GT,      TT_GE};
    for (int i = 0; i < 11; i++) {
        tt_tensor *w = tt_binary(bops[i], ca, cb), *g = tt_binary(bops[i], va, vb);
        CLOSE(g, w, 0, 0, tt_binary_name(bops[i]));
        REL2(w, g);
    }
    tt_tensor *w = tt_binary(TT_POW, ca, ce), *g = tt_binary(TT_POW, va, ve);
    CLOSE(g, w, 0, 0, "pow int64");
    REL2(w, g);
    CHECK_ERR(tt_binary(TT_POW, va, vb), TT_EINVAL, "Integers to negative integer powers are not allowed.");
    tt_clear_error();
    /* bool comparisons */
    tt_tensor *cx = tt_binary_scalar(TT_GT, ca, 0), *vx = tt_binary_scalar(TT_GT, va, 0);
    tt_tensor *cy = tt_binary_scalar(TT_LT, cb, 5), *vy = tt_binary_scalar(TT_LT, vb, 5);
    for (int op = TT_EQ; op <= TT_GE; op++) {
        tt_tensor *w2 = tt_binary((tt_binary_op)op, cx, cy), *g2 = tt_binary((tt_binary_op)op, vx, vy);
        CLOSE(g2, w2, 0, 0, "bool compare");
        REL2(w2, g2);
    }
    REL2(cx, vx);
    REL2(cy, vy);
    REL2(ca, va);
    REL2(cb, vb);
    REL2(ce, ve);
}

/* every subset of dims of several shapes, every op, f32 f64 i64 (and bool max/min) */
TEST(reductions_match_cpu)
{
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {2, 300, 3}, {1, 1000, 1}, {65, 1, 129}, {4, 0, 3}};
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64, TT_BOOL};
    for (int si = 0; si < 6; si++)
        for (int k = 0; k < 4; k++) {
            tt_tensor *c0 = cpu_random(3, shapes[si], dts[k] == TT_BOOL ? TT_F32 : dts[k], k == 2 ? -5 : 0.5,
                                       k == 2 ? 5 : 1.5, 250 + (uint64_t)si);
            if (dts[k] == TT_BOOL) {
                tt_tensor *b = tt_binary_scalar(TT_GT, c0, 1.3);
                tt_release(c0);
                c0 = b;
            }
            tt_tensor *v0 = tt_to_device(c0, VK);
            tt_tensor *c = tt_transpose(c0, 0, 2), *v = tt_transpose(v0, 0, 2); /* strided */
            double tol = dts[k] == TT_F32 ? 1e-5 : dts[k] == TT_F64 ? 1e-12 : 0;
            for (int op = 0; op < TT_NUM_REDUCE; op++) {
                if (dts[k] >= TT_I64 && op == TT_MEAN) continue;
                if (dts[k] == TT_BOOL && op != TT_MAX && op != TT_MIN) continue;
                for (int mask = 0; mask < 8; mask++) {
                    int dims[3], nd = 0;
                    for (int dd = 0; dd < 3; dd++)
                        if (mask & (1 << dd)) dims[nd++] = dd;
                    if ((op == TT_MAX || op == TT_MIN) && tt_numel(c) == 0) continue;
                    tt_tensor *w = tt_reduce((tt_reduce_op)op, c, dims, nd, mask & 1),
                              *g = tt_reduce((tt_reduce_op)op, v, dims, nd, mask & 1);
                    char what[96];
                    snprintf(what, sizeof what, "reduce %d %s shape %d mask %d", op, tt_dtype_name(dts[k]), si, mask);
                    /* prod in f32 of 1000 values in [0.5, 1.5) needs a looser bound */
                    CLOSE(g, w, tol * 10, op == TT_PROD ? tol * 100 : tol, what);
                    REL2(w, g);
                }
            }
            REL2(c0, v0);
            REL2(c, v);
        }
}

TEST(max_min_dim_indices)
{
    /* ties keep the first index, NaN wins */
    float data[] = {1, 3, 3, 2, NAN, 5, 5, NAN, 0, 0, 0, 0, -1, -7, -7, 2};
    int64_t shape[] = {4, 4};
    PAIR(c, v, tt_from_data(2, shape, TT_F32, data, TT_CPU));
    for (int dim = 0; dim < 2; dim++)
        for (int op = TT_MAX; op <= TT_MIN; op++) {
            tt_tensor *wi = NULL, *gi = NULL;
            tt_tensor *w = op == TT_MAX ? tt_max_dim(c, dim, false, &wi) : tt_min_dim(c, dim, false, &wi);
            tt_tensor *g = op == TT_MAX ? tt_max_dim(v, dim, false, &gi) : tt_min_dim(v, dim, false, &gi);
            CLOSE(g, w, 0, 0, "values");
            CLOSE(gi, wi, 0, 0, "indices");
            REL2(w, g);
            REL2(wi, gi);
        }
    /* random, long rows (the workgroup tree), strided, every dtype */
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64};
    int64_t s2[] = {700, 6};
    for (int k = 0; k < 3; k++) {
        PAIR(c2, v2, cpu_random(2, s2, dts[k], -20, 20, 260 + (uint64_t)k));
        for (int dim = 0; dim < 2; dim++) {
            tt_tensor *wi = NULL, *gi = NULL, *w = tt_max_dim(c2, dim, true, &wi), *g = tt_max_dim(v2, dim, true, &gi);
            CLOSE(g, w, 0, 0, "max values");
            CLOSE(gi, wi, 0, 0, "max indices");
            REL2(w, g);
            REL2(wi, gi);
            tt_tensor *wa = tt_argmin(c2, dim, false), *ga = tt_argmin(v2, dim, false);
            CLOSE(ga, wa, 0, 0, "argmin");
            REL2(wa, ga);
        }
        REL2(c2, v2);
    }
    REL2(c, v);
}

TEST(softmax_match_cpu)
{
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {2, 1000, 3}, {1, 1, 257}};
    const tt_dtype dts[] = {TT_F32, TT_F64};
    for (int si = 0; si < 4; si++)
        for (int k = 0; k < 2; k++) {
            PAIR(c0, v0, cpu_random(3, shapes[si], dts[k], -30, 30, 270 + (uint64_t)si));
            tt_tensor *c = tt_transpose(c0, 0, 1), *v = tt_transpose(v0, 0, 1);
            double tol = dts[k] == TT_F32 ? 1e-5 : 1e-12;
            for (int dim = 0; dim < 3; dim++)
                for (int lg = 0; lg < 2; lg++) {
                    tt_tensor *w = lg ? tt_log_softmax(c, dim) : tt_softmax(c, dim);
                    tt_tensor *g = lg ? tt_log_softmax(v, dim) : tt_softmax(v, dim);
                    char what[64];
                    snprintf(what, sizeof what, "%ssoftmax %s shape %d dim %d", lg ? "log_" : "", tt_dtype_name(dts[k]),
                             si, dim);
                    CLOSE(g, w, tol, tol, what);
                    REL2(w, g);
                }
            REL2(c0, v0);
            REL2(c, v);
        }
    float data[] = {1, NAN, 2, -INFINITY, 0, 3};
    PAIR(c, v, tt_from_data(2, (int64_t[]){2, 3}, TT_F32, data, TT_CPU));
    tt_tensor *w = tt_softmax(c, 1), *g = tt_softmax(v, 1);
    CLOSE(g, w, 1e-6, 1e-6, "softmax nan/inf");
    REL2(w, g);
    REL2(c, v);
}

TEST(matmul_match_cpu)
{
    const int64_t sizes[][4] = {{1, 1, 1, 1},       {1, 3, 5, 7},   {1, 65, 33, 17},
                                {1, 128, 128, 128}, {3, 20, 70, 9}, {2, 1, 100, 1}};
    const tt_dtype dts[] = {TT_F32, TT_F64};
    for (int si = 0; si < 6; si++)
        for (int k = 0; k < 2; k++) {
            int64_t B = sizes[si][0], M = sizes[si][1], K = sizes[si][2], N = sizes[si][3];
            int64_t sa[] = {B, M, K}, sb[] = {B, K, N}, sat[] = {B, K, M}, sbt[] = {B, N, K};
            PAIR(ca, va, cpu_random(3, sa, dts[k], -1, 1, 280 + (uint64_t)si));
            PAIR(cb, vb, cpu_random(3, sb, dts[k], -1, 1, 290 + (uint64_t)si));
            double tol = dts[k] == TT_F32 ? 1e-5 : 1e-12;
            tt_tensor *w = tt_matmul(ca, cb), *g = tt_matmul(va, vb);
            char what[64];
            snprintf(what, sizeof what, "matmul %s %lldx%lldx%lldx%lld", tt_dtype_name(dts[k]), (long long)B,
                     (long long)M, (long long)K, (long long)N);
            CLOSE(g, w, tol * 10, tol, what);
            REL2(w, g);
            /* transposed operands */
            PAIR(cat0, vat0, cpu_random(3, sat, dts[k], -1, 1, 300 + (uint64_t)si));
            PAIR(cbt0, vbt0, cpu_random(3, sbt, dts[k], -1, 1, 310 + (uint64_t)si));
            tt_tensor *cat = tt_transpose(cat0, 1, 2), *vat = tt_transpose(vat0, 1, 2);
            tt_tensor *cbt = tt_transpose(cbt0, 1, 2), *vbt = tt_transpose(vbt0, 1, 2);
            w = tt_matmul(cat, cbt);
            g = tt_matmul(vat, vbt);
            CLOSE(g, w, tol * 10, tol, what);
            REL2(w, g);
            /* a broadcast batch: b shared by every batch (stride 0) */
            tt_tensor *cb1 = tt_slice(cb, 0, 0, 1, 1), *vb1 = tt_slice(vb, 0, 0, 1, 1);
            tt_tensor *cb2 = tt_view(cb1, 2, (int64_t[]){K, N}), *vb2 = tt_view(vb1, 2, (int64_t[]){K, N});
            w = tt_matmul(cat, cb2);
            g = tt_matmul(vat, vb2);
            CLOSE(g, w, tol * 10, tol, what);
            REL2(w, g);
            REL2(cb1, vb1);
            REL2(cb2, vb2);
            REL2(ca, va);
            REL2(cb, vb);
            REL2(cat0, vat0);
            REL2(cbt0, vbt0);
            REL2(cat, vat);
            REL2(cbt, vbt);
        }
}

/* v (float32, n elements) against c elementwise (|v - c| <= atol + rtol |c|,
 * NaN equal to NaN) and in sum, read back whole. */
static int big_close(const tt_tensor *v, const tt_tensor *c, double atol, double rtol, const char *what, int line)
{
    int64_t n = tt_numel(c);
    float *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
    int ok = v && x && y && tt_numel(v) == n && tt_to_host(v, TT_F32, x) == TT_OK && tt_to_host(c, TT_F32, y) == TT_OK;
    if (!ok) printf("#   line %d: %s: %s\n", line, what, tt_last_error());
    double sx = 0, sy = 0;
    for (int64_t i = 0; ok && i < n; i++) {
        if (isnan(x[i]) && isnan(y[i])) continue;
        sx += x[i];
        sy += y[i];
        if (!(fabs((double)x[i] - y[i]) <= atol + rtol * fabs((double)y[i]))) {
            printf("#   line %d: %s[%lld] = %.9g, cpu %.9g\n", line, what, (long long)i, x[i], y[i]);
            ok = 0;
        }
    }
    if (ok && !(fabs(sx - sy) <= 1e-6 * (1 + fabs(sy)))) {
        printf("#   line %d: %s: sum %.17g, cpu %.17g\n", line, what, sx, sy);
        ok = 0;
    }
    free(x);
    free(y);
    return ok;
}
#define BIG_CLOSE(v, c, tol, what) BIG_CLOSE2(v, c, tol, tol, what)
#define BIG_CLOSE2(v, c, atol, rtol, what)                                                 \
    do {                                                                                   \
        if (!big_close((v), (c), (atol), (rtol), (what), __LINE__)) check_failed_here = 1; \
    } while (0)

/* A float32 tensor of 40M elements (160 MiB) is over lavapipe's 128 MiB
 * maxStorageBufferRange: elementwise kernels split it into bound chunks. */
TEST(large_tensor_split)
{
    int64_t n = 40000000, shape[] = {n};
    tt_tensor *vf = tt_full(1, shape, 1.25, TT_F32, VK);
    CHECK(vf != NULL);
    if (!vf) {
        printf("#   %s\n", tt_last_error());
        return;
    }
    tt_tensor *cf = tt_full(1, shape, 1.25, TT_F32, TT_CPU);
    BIG_CLOSE(vf, cf, 0, "full");
    tt_generator gc = {987654321ull, 5}, gv = gc;
    tt_tensor *cr = tt_rand(1, shape, TT_F32, TT_CPU, &gc), *vr = tt_rand(1, shape, TT_F32, VK, &gv);
    BIG_CLOSE(vr, cr, 0, "rand");
    tt_tensor *ce = tt_unary(TT_EXP, cr), *ve = tt_unary(TT_EXP, vr);
    BIG_CLOSE(ve, ce, 1e-6, "exp");
    tt_tensor *ca = tt_binary(TT_ADD, ce, cr), *va = tt_binary(TT_ADD, ve, vr);
    BIG_CLOSE(va, ca, 1e-6, "add");
    tt_release(ca);
    tt_release(va);
    /* broadcast: a one-element operand of stride 0 */
    tt_tensor *c1 = tt_full(1, (int64_t[]){1}, -0.5, TT_F32, TT_CPU), *v1 = tt_to_device(c1, VK);
    ca = tt_binary(TT_MUL, cr, c1);
    va = tt_binary(TT_MUL, vr, v1);
    BIG_CLOSE(va, ca, 0, "broadcast mul");
    tt_release(ca);
    tt_release(va);
    tt_release(c1);
    tt_release(v1);
    /* strided: the transpose of a (n/2, 2) view made contiguous */
    tt_tensor *cm = tt_reshape(cr, 2, (int64_t[]){n / 2, 2}), *vm = tt_reshape(vr, 2, (int64_t[]){n / 2, 2});
    tt_tensor *ct = tt_transpose(cm, 0, 1), *vt = tt_transpose(vm, 0, 1);
    tt_tensor *cc = tt_contiguous(ct), *vc = tt_contiguous(vt);
    BIG_CLOSE(vc, cc, 0, "transposed copy");
    tt_release(cm);
    tt_release(vm);
    tt_release(ct);
    tt_release(vt);
    tt_release(cc);
    tt_release(vc);
    /* clamp, and a copy to the CPU */
    tt_tensor *cl = tt_clamp(cr, 0.25, 0.75), *vl = tt_clamp(vr, 0.25, 0.75),
              *back = vl ? tt_to_device(vl, TT_CPU) : NULL;
    BIG_CLOSE(back, cl, 0, "clamp, copied to the cpu");
    tt_release(cl);
    tt_release(vl);
    tt_release(back);
    tt_release(ce);
    tt_release(ve);
    tt_release(cr);
    tt_release(vr);
    tt_release(cf);
    tt_release(vf);
}

/* Over lavapipe's 128 MiB maxStorageBufferRange, reductions split: a kept dim
 * halved (sum over rows of 4000 x 10000), or the reduced dim chunked into a
 * temporary that is reduced again (over 40M elements; for sums also over
 * 4000 rows, plain and transposed). Values near 1 keep the products finite. */
TEST(large_reductions)
{
    int64_t n = 40000000, s2[] = {4000, 10000};
    tt_tensor *c1 = cpu_random(1, &n, TT_F32, 0.9999, 1.0001, 400), *v1 = tt_to_device(c1, VK);
    CHECK(v1 != NULL);
    if (!v1) {
        tt_release(c1);
        return;
    }
    tt_tensor *c2 = tt_reshape(c1, 2, s2), *v2 = tt_reshape(v1, 2, s2);
    tt_tensor *c2t = tt_transpose(c2, 0, 1), *v2t = tt_transpose(v2, 0, 1);
    for (int op = 0; op < TT_NUM_REDUCE; op++) {
        char what[64];
        int all = 0, d0 = 0, d1 = 1;
        tt_tensor *w = tt_reduce((tt_reduce_op)op, c1, &all, 1, false),
                  *g = tt_reduce((tt_reduce_op)op, v1, &all, 1, false);
        snprintf(what, sizeof what, "reduce %d of 40M", op);
        CLOSE(g, w, 0, 1e-6, what);
        REL2(w, g);
        const tt_tensor *cs[] = {c2, c2, c2t}, *vs[] = {v2, v2, v2t};
        const int *dims[] = {&d1, &d0, &d1};
        for (int k = 0; k < (op == TT_SUM ? 3 : 1); k++) { /* lavapipe is slow: every op on one case */
            w = tt_reduce((tt_reduce_op)op, cs[k], dims[k], 1, true);
            g = tt_reduce((tt_reduce_op)op, vs[k], dims[k], 1, true);
            snprintf(what, sizeof what, "reduce %d of 4000x10000, case %d", op, k);
            CLOSE(g, w, 0, 1e-6, what);
            REL2(w, g);
        }
    }
    REL2(c2t, v2t);
    REL2(c2, v2);
    REL2(c1, v1);
}

/* max/min with indices over 40M elements: planted maxima and minima on both
 * sides of chunk boundaries (the first one wins), then NaNs (the first NaN
 * wins over everything). Known positions, and the CPU's answer. */
TEST(large_max_min_indices)
{
    int64_t n = 40000000;
    float *x = malloc(sizeof *x * (size_t)n);
    CHECK(x != NULL);
    if (!x) return;
    for (int64_t i = 0; i < n; i++) x[i] = (float)((uint64_t)i * 2654435761u % 1000003) / 1000003.0f;
    const int64_t hi[] = {39999999, 13333334, 13333333, 30000000}, lo[] = {39999998, 26666668, 26666667 + 2};
    for (int k = 0; k < 4; k++) x[hi[k]] = 5;
    for (int k = 0; k < 3; k++) x[lo[k]] = -5;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            x[26666670] = NAN;
            x[20000000] = NAN;
            x[20000001] = NAN;
        }
        tt_tensor *c = tt_from_data(1, &n, TT_F32, x, TT_CPU), *v = c ? tt_to_device(c, VK) : NULL;
        CHECK(v != NULL);
        for (int op = TT_MAX; op <= TT_MIN && v; op++) {
            tt_tensor *wi = NULL, *gi = NULL;
            tt_tensor *w = op == TT_MAX ? tt_max_dim(c, 0, false, &wi) : tt_min_dim(c, 0, false, &wi);
            tt_tensor *g = op == TT_MAX ? tt_max_dim(v, 0, false, &gi) : tt_min_dim(v, 0, false, &gi);
            double want_v = pass           ? NAN
                            : op == TT_MAX ? 5
                                           : -5,
                   want_i = pass           ? 20000000
                            : op == TT_MAX ? 13333333
                                           : 26666668;
            double got_v = NAN, got_i = -1;
            CHECK(g && gi && tt_to_host(g, TT_F64, &got_v) == TT_OK && tt_to_host(gi, TT_F64, &got_i) == TT_OK);
            if (!(got_i == want_i && (got_v == want_v || (isnan(got_v) && isnan(want_v)))))
                FAILF("pass %d op %d: value %g index %.0f, expected %g at %.0f", pass, op, got_v, got_i, want_v,
                      want_i);
            CLOSE(g, w, 0, 0, "value, cpu");
            CLOSE(gi, wi, 0, 0, "index, cpu");
            REL2(w, g);
            REL2(wi, gi);
        }
        REL2(c, v);
    }
    free(x);
}

/* softmax and log_softmax over 160 MB: rows of 10000 (the rows split), and
 * one row of 40M (composed from max, exp, sum and div / log). */
TEST(large_softmax)
{
    int64_t n = 40000000, s2[] = {4000, 10000}, s1[] = {1, n};
    tt_tensor *c1 = cpu_random(2, s1, TT_F32, -10, 10, 410), *v1 = tt_to_device(c1, VK);
    CHECK(v1 != NULL);
    if (!v1) {
        tt_release(c1);
        return;
    }
    tt_tensor *c2 = tt_reshape(c1, 2, s2), *v2 = tt_reshape(v1, 2, s2);
    for (int lg = 0; lg < 2; lg++) {
        tt_tensor *w = lg ? tt_log_softmax(c2, 1) : tt_softmax(c2, 1),
                  *g = lg ? tt_log_softmax(v2, 1) : tt_softmax(v2, 1);
        BIG_CLOSE2(g, w, 0, 1e-5, lg ? "log_softmax, rows split" : "softmax, rows split");
        REL2(w, g);
        w = lg ? tt_log_softmax(c1, 1) : tt_softmax(c1, 1);
        g = lg ? tt_log_softmax(v1, 1) : tt_softmax(v1, 1);
        BIG_CLOSE2(g, w, 0, 1e-5, lg ? "log_softmax, one long row" : "softmax, one long row");
        REL2(w, g);
    }
    REL2(c2, v2);
    REL2(c1, v1);
}

/* a @ b of random float32 operands (ndim-dim shapes sa, sb) against the CPU. */
static int random_matmul(int ndim, const int64_t *sa, const int64_t *sb, uint64_t seed, const char *what, int line)
{
    PAIR(ca, va, cpu_random(ndim, sa, TT_F32, -1, 1, seed));
    PAIR(cb, vb, cpu_random(ndim, sb, TT_F32, -1, 1, seed + 1));
    tt_tensor *w = tt_matmul(ca, cb), *g = tt_matmul(va, vb);
    int ok = big_close(g, w, 1e-5, 1e-5, what, line);
    REL2(w, g);
    REL2(ca, va);
    REL2(cb, vb);
    return ok;
}
#define RANDOM_MATMUL(ndim, sa, sb, seed, what)                                                  \
    do {                                                                                         \
        if (!random_matmul((ndim), (sa), (sb), (seed), (what), __LINE__)) check_failed_here = 1; \
    } while (0)

/* matmul with an operand over 128 MiB: a of 8M x 5 (rows split), b of
 * 20M x 2 (K chunked; 0/1 values: exact sums in float), a batched a of
 * 4 x 2M x 5, and an output of 5000 x 7000 (the 64x64-tile kernel, split). */
TEST(large_matmul)
{
    RANDOM_MATMUL(2, ((int64_t[]){8000000, 5}), ((int64_t[]){5, 3}), 420, "8M x 5 @ 5 x 3");
    RANDOM_MATMUL(3, ((int64_t[]){4, 2000000, 5}), ((int64_t[]){4, 5, 3}), 422, "batched 4 x 2M x 5 @ 4 x 5 x 3");
    RANDOM_MATMUL(2, ((int64_t[]){5000, 2}), ((int64_t[]){2, 7000}), 424, "5000 x 2 @ 2 x 7000");
    int64_t sk[] = {2, 20000000}, sk2[] = {20000000, 2};
    tt_tensor *u = cpu_random(2, sk, TT_F32, 0, 1, 426), *u2 = cpu_random(2, sk2, TT_F32, 0, 1, 427);
    tt_tensor *ub = tt_binary_scalar(TT_GT, u, 0.5), *ub2 = tt_binary_scalar(TT_GT, u2, 0.5);
    PAIR(ck, vk, tt_cast(ub, TT_F32));
    PAIR(ck2, vk2, tt_cast(ub2, TT_F32));
    tt_tensor *w = tt_matmul(ck, ck2), *g = tt_matmul(vk, vk2);
    CLOSE(g, w, 0, 0, "2 x 20M @ 20M x 2");
    REL2(w, g);
    REL2(ck, vk);
    REL2(ck2, vk2);
    REL2(u, u2);
    REL2(ub, ub2);
}

/* Reductions in group mode (R > 64: a workgroup per output) on both paths of
 * reduce.glsl: subgroup shuffles (when the device has them) and the
 * shared-memory tree (TG_VULKAN_SUBGROUPS=0), each against the CPU. The
 * variable is read when the device is made: shut down, set, run again. Ties
 * (small integers) and NaNs land in many lanes and subgroups; the first wins. */
static void reductions_both_paths_case(void)
{
    const tt_dtype dts[] = {TT_F32, TT_F64, TT_I64};
    const int64_t shapes[][2] = {{3, 1000}, {1, 100000}, {2, 257}};
    for (int k = 0; k < 3; k++)
        for (int si = 0; si < 3; si++) {
            /* integers -2..3 (truncated): many ties; then values near 1 (0 or 1 as int64) */
            tt_tensor *u = cpu_random(2, shapes[si], TT_F64, -3, 4, 430 + (uint64_t)(3 * k + si));
            tt_tensor *fl = tt_cast(u, TT_I64);
            tt_tensor *r = cpu_random(2, shapes[si], dts[k], 0.999, 1.001, 440 + (uint64_t)(3 * k + si));
            tt_tensor *cs[2] = {tt_cast(fl, dts[k]), r}, *vs[2] = {NULL, NULL};
            for (int j = 0; j < 2; j++) vs[j] = tt_to_device(cs[j], VK);
            double tol = dts[k] == TT_F32 ? 1e-5 : dts[k] == TT_F64 ? 1e-12 : 0;
            for (int j = 0; j < 2; j++)
                for (int op = 0; op < TT_NUM_REDUCE; op++) {
                    /* a product of integers overflows (to inf, then NaN at a 0) in an order-dependent way */
                    if ((dts[k] == TT_I64 && op == TT_MEAN) || (op == TT_PROD && j == 0)) continue;
                    int dim = 1;
                    char what[96];
                    tt_tensor *w = tt_reduce((tt_reduce_op)op, cs[j], &dim, 1, false),
                              *g = tt_reduce((tt_reduce_op)op, vs[j], &dim, 1, false);
                    snprintf(what, sizeof what, "reduce %d %s shape %d data %d", op, tt_dtype_name(dts[k]), si, j);
                    CLOSE(g, w, op == TT_MAX || op == TT_MIN ? 0 : tol * 10, op == TT_MAX || op == TT_MIN ? 0 : tol,
                          what);
                    REL2(w, g);
                }
            for (int j = 0; j < 2; j++) {
                tt_tensor *wi = NULL, *gi = NULL, *w = tt_max_dim(cs[j], 1, false, &wi),
                          *g = tt_max_dim(vs[j], 1, false, &gi);
                CLOSE(g, w, 0, 0, "max values");
                CLOSE(gi, wi, 0, 0, "max indices");
                REL2(w, g);
                REL2(wi, gi);
                tt_tensor *wa = tt_argmin(cs[j], 1, false), *ga = tt_argmin(vs[j], 1, false);
                CLOSE(ga, wa, 0, 0, "argmin");
                REL2(wa, ga);
            }
            REL2(u, fl);
            REL2(r, cs[0]);
            REL2(vs[0], vs[1]);
        }
    /* NaNs at lanes 3 and 200 of row 0, 77 of row 1, none in row 2: argmax
     * and argmin give the first NaN; row 2 has ties of its maximum */
    int64_t s[] = {3, 300};
    float x[900];
    for (int i = 0; i < 900; i++) x[i] = (float)(i * 37 % 11);
    x[200] = NAN;
    x[3] = NAN;
    x[300 + 77] = NAN;
    PAIR(c, v, tt_from_data(2, s, TT_F32, x, TT_CPU));
    for (int op = TT_MAX; op <= TT_MIN; op++) {
        tt_tensor *wi = NULL, *gi = NULL;
        tt_tensor *w = op == TT_MAX ? tt_max_dim(c, 1, false, &wi) : tt_min_dim(c, 1, false, &wi);
        tt_tensor *g = op == TT_MAX ? tt_max_dim(v, 1, false, &gi) : tt_min_dim(v, 1, false, &gi);
        double want_i[] = {3, 77, op == TT_MAX ? 2 : 5}; /* 602 * 37 % 11 = 10, 605 * 37 % 11 = 0 */
        CHECK_VALUES(gi, want_i, 3, 0);
        CLOSE(g, w, 0, 0, "NaN values");
        CLOSE(gi, wi, 0, 0, "NaN indices");
        REL2(w, g);
        REL2(wi, gi);
    }
    REL2(c, v);
}

TEST(reductions_subgroups_on_and_off)
{
    const char *was = getenv("TG_VULKAN_SUBGROUPS");
    char saved[32] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    int size_default = tt_vulkan_subgroup_size(0);
    for (int pass = 0; pass < 2; pass++) {
        CHECK(tt_vulkan_sync(0) == TT_OK);
        tt_vulkan_shutdown(); /* no Vulkan tensor is alive here */
        setenv("TG_VULKAN_SUBGROUPS", pass ? "1" : "0", 1);
        CHECK(tt_vulkan_available(0));
        int size = tt_vulkan_subgroup_size(0);
        printf("# TG_VULKAN_SUBGROUPS=%d: %s (subgroup size %d)\n", pass,
               size ? "subgroup reductions" : "shared-memory reductions", size);
        if (pass == 0 && size != 0) FAILF("TG_VULKAN_SUBGROUPS=0 left subgroup size %d", size);
        if (pass == 1 && size != size_default && !(was && !strcmp(saved, "0")))
            FAILF("subgroup size %d, by default %d", size, size_default);
        reductions_both_paths_case();
    }
    CHECK(tt_vulkan_sync(0) == TT_OK);
    tt_vulkan_shutdown(); /* the later tests get the device as the environment set it */
    if (was) setenv("TG_VULKAN_SUBGROUPS", saved, 1);
    else unsetenv("TG_VULKAN_SUBGROUPS");
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
    int sg = tt_vulkan_subgroup_size(0);
    if (sg) printf("# reductions use subgroup operations (subgroup size %d)\n", sg);
    else printf("# reductions use the shared-memory path (no usable subgroups, or TG_VULKAN_SUBGROUPS=0)\n");
    RUN(round_trip);
    RUN(fill);
    RUN(copy_casts_strided);
    RUN(unary_all_ops);
    RUN(binary_all_ops_broadcast);
    RUN(rng_matches_cpu);
    RUN(ranges);
    RUN(many_ops_one_submit);
    RUN(where_all_dtypes_broadcast);
    RUN(clamp_bounds_and_nan);
    RUN(int64_and_bool_ops);
    RUN(reductions_match_cpu);
    RUN(max_min_dim_indices);
    RUN(reductions_subgroups_on_and_off);
    RUN(softmax_match_cpu);
    RUN(matmul_match_cpu);
    RUN(large_tensor_split);
    if (!RUNNING_ON_VALGRIND) { /* minutes each under valgrind's emulation of lavapipe's JIT code */
        RUN(large_reductions);
        RUN(large_max_min_indices);
        RUN(large_softmax);
        RUN(large_matmul);
    }
    tt_vulkan_shutdown(); /* reports leaked objects through the layer */
    RUN(no_validation_messages);
    return DONE();
}
