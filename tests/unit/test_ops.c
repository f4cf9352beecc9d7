/* Every forward op of libtensor against PyTorch 1.13.
 *
 * The table tests/fixtures/op_cases.h (made by tests/fixtures/make_op_fixtures.py)
 * holds each case's inputs, parameters and torch's result or torch's error;
 * this file drives it through the C API, one TAP line per case, and then runs a
 * few hand-written tests (creation helpers, *_like, version counters, ...).
 *
 * Tolerances, relative as |got - want| <= tol * (1 + |want|):
 *   float64 1e-12; float32 1e-6; int64 and bool exact.
 *   Looser, where the math demands (set per case in the generator):
 *   - pow and log_softmax in float64: 1e-10 (pow(a, b) = exp(b log a) amplifies
 *     the rounding of log a by |b log a|; log_softmax subtracts two nearly equal
 *     terms, max + log(sum exp)).
 *   - prod over a dimension in float64: 1e-10 (up to 24 factors, each
 *     multiplication rounds, and the library may multiply in another order).
 *   float32 cases use 1e-6 throughout, sums over 1000 elements and matmul
 *   included (PyTorch's float32 reference rounds in its own order; 1e-6 leaves
 *   about 8 ulp of room, which these sizes stay within).
 *
 * Every case then runs a second time on vulkan:0 (a TAP line "vulkan: NAME"):
 * the inputs are moved there with tt_to_device (views made on the device
 * tensor, so kernels see the same strides), the op runs there, and each result
 * is compared with the CPU result of the same case, the oracle (see vk_tol for
 * the tolerances per op). Error cases must fail with the same status and the
 * same message on both backends. A case whose kernel is missing (TT_EDEVICE
 * "the vulkan backend has no kernel for X yet") is skipped with that reason.
 * The last line fails on any validation-layer message (TG_VULKAN_VALIDATION=1,
 * set by tests/run). No Vulkan device: the Vulkan lines are skipped.
 */
#include <stdlib.h>

#include "check.h"
#include "backend/vulkan.h"
#include "../fixtures/op_cases.h"

typedef tt_tensor *(*unary_fn)(const tt_tensor *);
typedef tt_tensor *(*binary_fn)(const tt_tensor *, const tt_tensor *);
/* The wrappers and names the op table makes (tg/ops.def), by op. */
static const unary_fn unary_fns[] = {
#define TT_UNARY_OP(ENUM, name, ...) [TT_##ENUM] = tt_##name,
#include "tg/ops.def"
};
static const char *const unary_names[] = {
#define TT_UNARY_OP(ENUM, name, ...) [TT_##ENUM] = #name,
#include "tg/ops.def"
};
static const binary_fn binary_fns[] = {
#define TT_BINARY_OP(ENUM, name, ...) [TT_##ENUM] = tt_##name,
#define TT_COMPARE_OP(ENUM, name) [TT_##ENUM] = tt_##name,
#include "tg/ops.def"
};
static const char *const binary_names[] = {
#define TT_BINARY_OP(ENUM, name, ...) [TT_##ENUM] = #name,
#define TT_COMPARE_OP(ENUM, name) [TT_##ENUM] = #name,
#include "tg/ops.def"
};

static const op_case *cur; /* the case being run, for messages */

/* The pass being run: the CPU against the fixture (recording every result), or
 * Vulkan against the recorded CPU results. */
static tt_device dev = {TT_DEVICE_CPU, 0};
static bool vk_pass;
typedef struct {
    tt_tensor *t; /* the CPU result, or NULL when the call failed */
    tt_status st; /* then its status and message */
    char msg[512];
} oc_rec;
enum { MAX_RECS = 16 };
static oc_rec recs[MAX_RECS];
static int nrecs, irec;
static char vk_skip[300]; /* why this Vulkan case was skipped ("" when it was not) */

#define CFAIL(...)                              \
    do {                                        \
        printf("#   case \"%s\": ", cur->name); \
        printf(__VA_ARGS__);                    \
        printf("\n");                           \
        check_failed_here = 1;                  \
    } while (0)

/* Builds an input: its base from the values, then the view the case asks for. */
static tt_tensor *make_input(const oc_input *in)
{
    int64_t n = tt_shape_numel(in->ndim, in->shape);
    size_t sz = tt_dtype_size(in->dtype);
    unsigned char *buf = malloc((size_t)(n > 0 ? n : 1) * (sz ? sz : 8));
    for (int64_t i = 0; i < n; i++) {
        switch (in->dtype) {
        case TT_F32: ((float *)buf)[i] = (float)in->v[i]; break;
        case TT_F64: ((double *)buf)[i] = in->v[i]; break;
        case TT_I64: ((int64_t *)buf)[i] = (int64_t)in->v[i]; break;
        case TT_BOOL: ((bool *)buf)[i] = in->v[i] != 0; break;
        }
    }
    tt_tensor *base = tt_from_data(in->ndim, in->shape, in->dtype, buf, TT_CPU);
    free(buf);
    if (!base) {
        CFAIL("tt_from_data failed: %s", tt_last_error());
        return NULL;
    }
    if (dev.type != TT_DEVICE_CPU) {
        tt_tensor *d = tt_to_device(base, dev);
        tt_release(base);
        if (!d) {
            CFAIL("tt_to_device failed: %s", tt_last_error());
            return NULL;
        }
        base = d;
    }
    if (in->xform == OC_PLAIN) return base;
    tt_tensor *v = in->xform == OC_TRANSPOSE ? tt_transpose(base, in->d0, in->d1)
                                             : tt_slice(base, in->d0, in->start, in->end, in->step);
    if (!v) CFAIL("making the input view failed: %s", tt_last_error());
    tt_release(base); /* the view keeps the storage alive */
    return v;
}

static int close_enough(double got, double want, double tol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * (1 + fabs(want));
}

/* Checks t's dtype, shape and values against an expected array. */
static int check_result(const tt_tensor *t, const char *what, tt_dtype dt, int ndim, const int64_t *shape,
                        const double *want, double tol)
{
    if (!t) {
        CFAIL("%s is NULL: status %d, \"%s\"", what, tt_last_status(), tt_last_error());
        return 0;
    }
    int ok = 1;
    if (t->dtype != dt) {
        CFAIL("%s dtype %s, expected %s", what, tt_dtype_name(t->dtype), tt_dtype_name(dt));
        ok = 0;
    }
    int same_shape = t->ndim == ndim;
    for (int d = 0; same_shape && d < ndim; d++) same_shape = t->shape[d] == shape[d];
    if (!same_shape) {
        char g[128] = "", w[128] = "";
        for (int d = 0; d < t->ndim; d++)
            snprintf(g + strlen(g), sizeof g - strlen(g), "%s%lld", d ? "," : "", (long long)t->shape[d]);
        for (int d = 0; d < ndim; d++)
            snprintf(w + strlen(w), sizeof w - strlen(w), "%s%lld", d ? "," : "", (long long)shape[d]);
        CFAIL("%s shape (%s), expected (%s)", what, g, w);
        return 0;
    }
    int64_t n = tt_shape_numel(ndim, shape);
    double *got = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (tt_to_host(t, TT_F64, got) != TT_OK) {
        CFAIL("%s: tt_to_host failed: %s", what, tt_last_error());
        free(got);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!close_enough(got[i], want[i], tol)) {
            CFAIL("%s[%lld] = %.17g, expected %.17g (tol %g)", what, (long long)i, got[i], want[i], tol);
            ok = 0;
            break;
        }
    }
    free(got);
    return ok;
}

static int check_out(const tt_tensor *t, const char *what)
{
    return check_result(t, what, cur->out_dtype, cur->out_ndim, cur->out_shape, cur->out, cur->tol);
}

/* An error case: the call returned r (a tensor or NULL) and/or status st. */
static void check_error(const void *r, tt_status st, int returns_status)
{
    if (returns_status ? st == TT_OK : r != NULL) {
        CFAIL("succeeded, expected status %d with \"%s\"", cur->status, cur->msg);
        return;
    }
    tt_status got = tt_last_status();
    if (returns_status && st != got) CFAIL("returned status %d but tt_last_status() is %d", st, got);
    if (got != (tt_status)cur->status && (cur->status_alt < 0 || got != (tt_status)cur->status_alt))
        CFAIL("status %d, expected %d (\"%s\")", got, cur->status, tt_last_error());
    if (!strstr(tt_last_error(), cur->msg))
        CFAIL("message \"%s\", expected to contain PyTorch's \"%s\"", tt_last_error(), cur->msg);
}

static bool is_error_case(void) { return cur->status != TT_OK; }

/* ---- the Vulkan pass ---------------------------------------------------- */

/* A kernel the Vulkan backend does not have yet: TT_EDEVICE "the vulkan
 * backend has no kernel for X yet". The backend's first unary and binary
 * kernels say "X is not implemented for int64 on vulkan yet" with TT_EDTYPE
 * instead; taken as missing too (the skip reason names the status). */
static bool vk_missing(tt_status st, const char *msg)
{
    return (st == TT_EDEVICE && strstr(msg, "has no kernel")) || strstr(msg, "on vulkan yet");
}

static bool exact_binary(int op) /* maximum, minimum, comparisons */
{
    return op == TT_MAXIMUM || op == TT_MINIMUM || tt_is_comparison((tt_binary_op)op);
}
static bool exact_unary(int op) { return op == TT_NEG || op == TT_RELU || op == TT_ABS || op == TT_SIGN; }

/* The tolerance of a Vulkan result against the CPU's, relative as
 * |vk - cpu| <= tol * (1 + |cpu|): exact for copies, casts, views, fills,
 * arange, eye, where, clamp, selections (max, min, argmax, relu, abs, sign,
 * maximum, ...) and comparisons, and for every int64 or bool result; else
 * float32 1e-6 for arithmetic (+ - * /, linspace) and 1e-5 for transcendental
 * functions, pow, reductions, matmul and softmax; float64 1e-12 and 1e-10;
 * never tighter than the case's own tolerance against PyTorch. */
static double vk_tol(const op_case *c, tt_dtype dt)
{
    if (dt == TT_I64 || dt == TT_BOOL) return 0;
    int arith = 0; /* 0 exact, 1 arithmetic, 2 transcendental */
    switch (c->kind) {
    case OC_UNARY: arith = exact_unary(c->op) ? 0 : 2; break;
    case OC_BINARY:
    case OC_BSCALAR:
    case OC_SBINARY:
    case OC_INPLACE: arith = exact_binary(c->op) ? 0 : c->op == TT_POW ? 2 : 1; break;
    case OC_ADD_SCALAR:
    case OC_MUL_SCALAR:
    case OC_LINSPACE:
    case OC_CUMSUM: arith = 1; break;
    case OC_POW_SCALAR:
    case OC_MATMUL:
    case OC_MM:
    case OC_MV:
    case OC_BMM:
    case OC_SOFTMAX:
    case OC_LOG_SOFTMAX: arith = 2; break;
    case OC_REDUCE: arith = c->op == TT_MAX || c->op == TT_MIN ? 0 : 2; break;
    default: arith = 0; /* arange, eye, full, where, clamp, cast, max/min over a dim, copy_, views */
    }
    if (!arith) return 0;
    double t = dt == TT_F32 ? (arith == 1 ? 1e-6 : 1e-5) : (arith == 1 ? 1e-12 : 1e-10);
    return cur->tol > t ? cur->tol : t;
}

/* Compares a Vulkan result (r, or the failed call's status) with the CPU's. */
static void vk_compare(const tt_tensor *r, const char *what)
{
    if (irec >= nrecs) {
        CFAIL("%s: more results on vulkan than on the CPU", what);
        return;
    }
    const oc_rec *w = &recs[irec++];
    if (!r) {
        tt_status st = tt_last_status();
        const char *m = tt_last_error();
        if (vk_missing(st, m)) {
            if (!vk_skip[0])
                snprintf(vk_skip, sizeof vk_skip, "%s%s", st == TT_EDEVICE ? "" : "(status TT_EDTYPE) ", m);
        } else if (w->t) {
            CFAIL("%s failed on vulkan (status %d \"%s\") but not on the CPU", what, st, m);
        } else if (st != w->st || strcmp(m, w->msg)) {
            CFAIL("%s: vulkan failed with status %d \"%s\", the CPU with status %d \"%s\"", what, st, m, w->st, w->msg);
        }
        return;
    }
    if (!w->t) {
        CFAIL("%s succeeded on vulkan, the CPU failed with status %d \"%s\"", what, w->st, w->msg);
        return;
    }
    if (tt_device_of(r).type != TT_DEVICE_VULKAN)
        CFAIL("%s is on %s, expected vulkan", what, tt_device_name(tt_device_of(r)));
    const tt_tensor *c = w->t;
    int64_t n = tt_numel(c);
    double *want = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (tt_to_host(c, TT_F64, want) != TT_OK) CFAIL("%s: reading the CPU result: %s", what, tt_last_error());
    else check_result(r, what, c->dtype, c->ndim, c->shape, want, vk_tol(cur, c->dtype));
    free(want);
}

/* The CPU pass: keeps r (or the failed call's status) for the Vulkan pass. */
static void record(const tt_tensor *r)
{
    if (nrecs >= MAX_RECS) {
        CFAIL("more than %d results in one case", MAX_RECS);
        return;
    }
    oc_rec *w = &recs[nrecs++];
    w->t = r ? tt_retain((tt_tensor *)r) : NULL;
    w->st = r ? TT_OK : tt_last_status();
    snprintf(w->msg, sizeof w->msg, "%s", r ? "" : tt_last_error());
}

static void clear_records(void)
{
    for (int i = 0; i < nrecs; i++) tt_release(recs[i].t);
    nrecs = irec = 0;
}

/* Checks an op result: on the CPU against the fixture, on Vulkan against the CPU. */
static void expect(tt_tensor *r, const char *what)
{
    if (vk_pass) {
        vk_compare(r, what);
    } else {
        if (is_error_case()) check_error(r, TT_OK, 0);
        else check_out(r, what);
        record(r);
    }
    tt_release(r);
}

static void run_case(const op_case *c)
{
    tt_tensor *in[3] = {NULL, NULL, NULL};
    for (int i = 0; i < c->nin; i++)
        if (!(in[i] = make_input(&c->in[i]))) goto out;
    tt_clear_error();
    switch (c->kind) {
    case OC_ARANGE: expect(tt_arange(c->s[0], c->s[1], c->s[2], c->dt, dev), "arange"); break;
    case OC_LINSPACE: expect(tt_linspace(c->s[0], c->s[1], c->n[0], c->dt, dev), "linspace"); break;
    case OC_EYE: expect(tt_eye(c->n[0], c->n[1], c->dt, dev), "eye"); break;
    case OC_FULL: expect(tt_full(c->sndim, c->shape, c->s[0], c->dt, dev), "full"); break;
    case OC_UNARY:
        expect(tt_unary((tt_unary_op)c->op, in[0]), "tt_unary");
        expect(unary_fns[c->op](in[0]), unary_names[c->op]);
        break;
    case OC_BINARY:
        expect(tt_binary((tt_binary_op)c->op, in[0], in[1]), "tt_binary");
        expect(binary_fns[c->op](in[0], in[1]), binary_names[c->op]);
        break;
    case OC_BSCALAR: expect(tt_binary_scalar((tt_binary_op)c->op, in[0], c->s[0]), "tt_binary_scalar"); break;
    case OC_SBINARY: expect(tt_scalar_binary((tt_binary_op)c->op, c->s[0], in[0]), "tt_scalar_binary"); break;
    case OC_ADD_SCALAR: expect(tt_add_scalar(in[0], c->s[0]), "tt_add_scalar"); break;
    case OC_MUL_SCALAR: expect(tt_mul_scalar(in[0], c->s[0]), "tt_mul_scalar"); break;
    case OC_POW_SCALAR: expect(tt_pow_scalar(in[0], c->s[0]), "tt_pow_scalar"); break;
    case OC_WHERE: expect(tt_where(in[0], in[1], in[2]), "where"); break;
    case OC_CLAMP: expect(tt_clamp(in[0], c->s[0], c->s[1]), "clamp"); break;
    case OC_CAST: expect(tt_cast(in[0], c->dt), "cast"); break;
    case OC_REDUCE: {
        const int *dims = c->ndims ? c->dims : NULL;
        expect(tt_reduce((tt_reduce_op)c->op, in[0], dims, c->ndims, c->keepdim), "tt_reduce");
        if (c->ndims == 0) {
            tt_tensor *(*const all[])(const tt_tensor *) = {
#define TT_REDUCE_OP(ENUM, name, ...) [TT_##ENUM] = tt_##name,
#include "tg/ops.def"
            };
            expect(all[c->op](in[0]), "named full reduction");
        } else if (c->op == TT_SUM) {
            expect(tt_sum_dims(in[0], dims, c->ndims, c->keepdim), "tt_sum_dims");
        } else if (c->op == TT_MEAN) {
            expect(tt_mean_dims(in[0], dims, c->ndims, c->keepdim), "tt_mean_dims");
        }
        break;
    }
    case OC_MAX_DIM:
    case OC_MIN_DIM: {
        tt_tensor *(*f)(const tt_tensor *, int, bool, tt_tensor **) = c->kind == OC_MAX_DIM ? tt_max_dim : tt_min_dim;
        tt_tensor *idx = NULL;
        tt_tensor *v = f(in[0], c->dims[0], c->keepdim, &idx);
        if (vk_pass) {
            vk_compare(v, "values");
            if (v) vk_compare(idx, "indices");
        } else if (is_error_case()) {
            check_error(v, TT_OK, 0);
            record(v);
        } else {
            check_out(v, "values");
            if (!idx) CFAIL("indices are NULL");
            else check_result(idx, "indices", TT_I64, c->out_ndim, c->out_shape, c->idx, 0);
            record(v);
            if (v) record(idx);
        }
        tt_release(v);
        tt_release(idx);
        expect(f(in[0], c->dims[0], c->keepdim, NULL), "values (indices == NULL)");
        break;
    }
    case OC_ARGMAX: expect(tt_argmax(in[0], c->dims[0], c->keepdim), "argmax"); break;
    case OC_ARGMIN: expect(tt_argmin(in[0], c->dims[0], c->keepdim), "argmin"); break;
    case OC_MATMUL: expect(tt_matmul(in[0], in[1]), "matmul"); break;
    case OC_MM: expect(tt_mm(in[0], in[1]), "mm"); break;
    case OC_MV: expect(tt_mv(in[0], in[1]), "mv"); break;
    case OC_BMM: expect(tt_bmm(in[0], in[1]), "bmm"); break;
    case OC_SOFTMAX: expect(tt_softmax(in[0], c->dims[0]), "softmax"); break;
    case OC_LOG_SOFTMAX: expect(tt_log_softmax(in[0], c->dims[0]), "log_softmax"); break;
    case OC_INDEX: expect(tt_index(in[0], c->dims[0], in[1]), "index"); break;
    case OC_INDEX_SELECT: expect(tt_index_select(in[0], c->dims[0], in[1]), "index_select"); break;
    case OC_INDEX_ADD: expect(tt_index_add(in[0], c->dims[0], in[1], in[2]), "index_add"); break;
    case OC_CUMSUM:
        expect(tt_cumsum(in[0], c->dims[0]), "cumsum");
        expect(tt_scan(TT_CUMSUM, in[0], c->dims[0], false), "tt_scan");
        break;
    case OC_INPLACE:
    case OC_COPY_: {
        /* Twice for add/sub/mul/div: through tt_binary_ and the named function. */
        tt_status (*const named[])(tt_tensor *, const tt_tensor *) = {tt_add_, tt_sub_, tt_mul_, tt_div_};
        int rounds = c->kind == OC_INPLACE && c->op <= TT_DIV ? 2 : 1;
        for (int r = 0; r < rounds; r++) {
            tt_tensor *x = r == 0 ? in[0] : make_input(&c->in[0]);
            if (!x) break;
            uint64_t v0 = tt_version(x);
            tt_clear_error();
            tt_status st = c->kind == OC_COPY_ ? tt_copy_(x, in[1])
                           : r == 0            ? tt_binary_((tt_binary_op)c->op, x, in[1])
                                               : named[c->op](x, in[1]);
            const char *what = c->kind == OC_COPY_ ? "copy_ destination"
                               : r == 0            ? "tt_binary_ result"
                                                   : "named op_ result";
            if (vk_pass) {
                vk_compare(st == TT_OK ? x : NULL, what);
            } else {
                if (is_error_case()) {
                    check_error(NULL, st, 1);
                } else if (st != TT_OK) {
                    CFAIL("%s: status %d \"%s\"", what, st, tt_last_error());
                } else {
                    check_out(x, what);
                }
                /* a copy of x: it is released (round 1) or kept as an input */
                record(st == TT_OK ? tt_clone(x) : NULL);
                if (st == TT_OK) tt_release(recs[nrecs - 1].t); /* record retained it */
            }
            if (st == TT_OK && !is_error_case() && tt_version(x) <= v0)
                CFAIL("%s: version %llu did not grow from %llu", what, (unsigned long long)tt_version(x),
                      (unsigned long long)v0);
            if (r == 1) tt_release(x);
        }
        break;
    }
    case OC_VIEW: expect(tt_view(in[0], c->sndim, c->shape), "view"); break;
    case OC_RESHAPE: expect(tt_reshape(in[0], c->sndim, c->shape), "reshape"); break;
    case OC_EXPAND: expect(tt_expand(in[0], c->sndim, c->shape), "expand"); break;
    case OC_TRANSPOSE_OP: expect(tt_transpose(in[0], c->dims[0], c->dims[1]), "transpose"); break;
    case OC_PERMUTE: expect(tt_permute(in[0], c->dims), "permute"); break;
    case OC_SELECT: expect(tt_select(in[0], c->dims[0], c->n[0]), "select"); break;
    case OC_UNSQUEEZE: expect(tt_unsqueeze(in[0], c->dims[0]), "unsqueeze"); break;
    case OC_SQUEEZE: expect(tt_squeeze(in[0], c->dims[0]), "squeeze"); break;
    default: CFAIL("unknown kind %d", c->kind);
    }
out:
    for (int i = 0; i < 3; i++) tt_release(in[i]);
}

/* ---- hand-written tests ------------------------------------------------ */

/* A backend without a kernel: the op layer says so, naming the backend and the op. */
TEST(unsupported_kernel)
{
    tt_backend partial = tt_cpu_backend;
    partial.name = "partial";
    partial.scan = NULL;
    partial.unary = NULL;
    tt_tensor *x = tt_ones(1, (const int64_t[]){3}, TT_F64, TT_CPU);
    const tt_backend *own = x->storage->backend;
    x->storage->backend = &partial;
    CHECK(!tt_cumsum(x, 0));
    CHECK(tt_last_status() == TT_EDEVICE);
    CHECK_STR(tt_last_error(), "the partial backend has no kernel for cumsum yet");
    CHECK(!tt_erf(x));
    CHECK_STR(tt_last_error(), "the partial backend has no kernel for erf yet");
    x->storage->backend = own;
    tt_tensor *y = tt_cumsum(x, 0);
    CHECK(y != NULL);
    tt_release(y);
    tt_release(x);
}

/* Devices are parsed, named and listed from the backend registry. */
TEST(device_registry)
{
    tt_device d;
    CHECK(tt_device_parse("vulkan:2", &d) == TT_OK && d.type == TT_DEVICE_VULKAN && d.index == 2);
    CHECK(tt_device_parse("cpu", &d) == TT_OK && d.type == TT_DEVICE_CPU);
    CHECK(tt_device_parse("cpu:1", &d) != TT_OK);
    CHECK_STR(tt_last_error(), "unknown device 'cpu:1' (expected cpu, vulkan or vulkan:N)");
    CHECK(tt_device_parse("vulkan:x", &d) != TT_OK);
    CHECK_STR(tt_last_error(), "invalid device 'vulkan:x' (expected vulkan:N with N a device number)");
    CHECK_STR(tt_device_name((tt_device){TT_DEVICE_VULKAN, 1}), "vulkan:1");
    CHECK_STR(tt_device_syntax(), "cpu, vulkan or vulkan:N");
    CHECK_STR(tt_device_help(), "cpu (default) or vulkan[:N]");
    CHECK(tt_backend_for(TT_DEVICE_CPU) == &tt_cpu_backend && tt_cpu_backend.inplace && !tt_cpu_backend.indexed);
}

TEST(names)
{
    for (int i = 0; i < TT_NUM_UNARY; i++) CHECK_STR(tt_unary_name((tt_unary_op)i), unary_names[i]);
    for (int i = 0; i < TT_NUM_BINARY; i++) CHECK_STR(tt_binary_name((tt_binary_op)i), binary_names[i]);
    CHECK_STR(tt_dtype_name(TT_F32), "float32");
    CHECK_STR(tt_dtype_name(TT_F64), "float64");
    CHECK_STR(tt_dtype_name(TT_I64), "int64");
    CHECK_STR(tt_dtype_name(TT_BOOL), "bool");
    const char *names[] = {"f32", "float32", "float", "f64", "float64", "double", "i64", "int64", "bool"};
    const tt_dtype want[] = {TT_F32, TT_F32, TT_F32, TT_F64, TT_F64, TT_F64, TT_I64, TT_I64, TT_BOOL};
    for (int i = 0; i < 9; i++) {
        tt_dtype d = TT_BOOL;
        CHECK(tt_dtype_parse(names[i], &d) == 0 && d == want[i]);
    }
    tt_dtype d;
    CHECK(tt_dtype_parse("int32", &d) != 0);
    CHECK(tt_dtype_size(TT_F32) == 4 && tt_dtype_size(TT_F64) == 8 && tt_dtype_size(TT_I64) == 8);
    CHECK(tt_dtype_is_floating(TT_F32) && tt_dtype_is_floating(TT_F64));
    CHECK(!tt_dtype_is_floating(TT_I64) && !tt_dtype_is_floating(TT_BOOL));
}

/* torch.promote_types over all pairs. */
TEST(promote_types)
{
    const tt_dtype want[4][4] = {
        /*            F32     F64     I64     BOOL */
        /* F32  */ {TT_F32, TT_F64, TT_F32, TT_F32},
        /* F64  */ {TT_F64, TT_F64, TT_F64, TT_F64},
        /* I64  */ {TT_F32, TT_F64, TT_I64, TT_I64},
        /* BOOL */ {TT_F32, TT_F64, TT_I64, TT_BOOL},
    };
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) CHECK(tt_promote_types((tt_dtype)a, (tt_dtype)b) == want[a][b]);
}

TEST(broadcast_shapes)
{
    int64_t a[] = {3, 1}, b[] = {1, 4}, out[TT_MAX_DIMS];
    int n = 0;
    CHECK(tt_broadcast_shapes(2, a, 2, b, &n, out) == TT_OK && n == 2 && out[0] == 3 && out[1] == 4);
    int64_t c[] = {2, 3, 4}, d[] = {4};
    CHECK(tt_broadcast_shapes(3, c, 1, d, &n, out) == TT_OK && n == 3 && out[0] == 2 && out[1] == 3 && out[2] == 4);
    CHECK(tt_broadcast_shapes(0, NULL, 3, c, &n, out) == TT_OK && n == 3 && out[2] == 4);
    int64_t e[] = {2, 3}, f[] = {2, 2};
    tt_clear_error();
    CHECK(tt_broadcast_shapes(2, e, 2, f, &n, out) == TT_ESHAPE);
    CHECK(tt_last_status() == TT_ESHAPE);
    CHECK(strstr(tt_last_error(),
                 "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1"));
    int64_t big[] = {INT64_MAX / 2, 3};
    CHECK(tt_shape_numel(2, big) == -1);
    CHECK(tt_shape_numel(0, NULL) == 1);
    int64_t z[] = {2, 0, 5};
    CHECK(tt_shape_numel(3, z) == 0);
}

TEST(creation)
{
    int64_t shp[] = {2, 3};
    tt_tensor *z = tt_zeros(2, shp, TT_F64, TT_CPU), *o = tt_ones(2, shp, TT_I64, TT_CPU);
    tt_tensor *e = tt_empty(2, shp, TT_F32, TT_CPU);
    double zeros[6] = {0}, ones[6] = {1, 1, 1, 1, 1, 1};
    CHECK(z && z->dtype == TT_F64 && z->ndim == 2 && z->shape[0] == 2 && z->shape[1] == 3 && tt_is_contiguous(z));
    CHECK(o && o->dtype == TT_I64);
    CHECK(e && e->dtype == TT_F32 && tt_numel(e) == 6);
    CHECK_VALUES(z, zeros, 6, 0);
    CHECK_VALUES(o, ones, 6, 0);
    CHECK(z && z->strides[0] == 3 && z->strides[1] == 1 && z->offset == 0);
    CHECK(z && tt_device_of(z).type == TT_DEVICE_CPU);
    tt_tensor *b = tt_ones(1, shp, TT_BOOL, TT_CPU);
    CHECK(b && b->dtype == TT_BOOL && b->shape[0] == 2);
    CHECK_VALUES(b, ones, 2, 0);

    tt_tensor *s = tt_scalar(2.5, TT_F32, TT_CPU);
    double v = 0;
    CHECK(s && s->ndim == 0 && tt_numel(s) == 1 && s->dtype == TT_F32);
    CHECK(tt_item(s, &v) == TT_OK && v == 2.5);
    tt_tensor *si = tt_scalar(-3.9, TT_I64, TT_CPU); /* torch.tensor(-3.9).long() == -3 */
    CHECK(si && tt_item(si, &v) == TT_OK && v == -3);

    const double data[] = {1.5, -2.0, 3.25, 0.0, 1e300, -7.0};
    tt_tensor *fd = tt_from_data(2, shp, TT_F64, data, TT_CPU);
    CHECK_VALUES(fd, data, 6, 0);
    int64_t idx[] = {1, 1};
    CHECK(fd && tt_get(fd, idx, &v) == TT_OK && v == 1e300);
    const float fdata[] = {0.1f, 2.0f};
    tt_tensor *ff = tt_from_data(1, shp, TT_F32, fdata, TT_CPU);
    double fwant[] = {(double)0.1f, 2.0};
    CHECK_VALUES(ff, fwant, 2, 0);
    const int64_t idata[] = {INT64_MAX, -5};
    tt_tensor *fi = tt_from_data(1, shp, TT_I64, idata, TT_CPU);
    int64_t iback[2] = {0, 0};
    CHECK(fi && tt_to_host(fi, TT_I64, iback) == TT_OK && iback[0] == INT64_MAX && iback[1] == -5);
    const bool bdata[] = {true, false, true};
    tt_tensor *fb = tt_from_data(1, (int64_t[]){3}, TT_BOOL, bdata, TT_CPU);
    double bwant[] = {1, 0, 1};
    CHECK_VALUES(fb, bwant, 3, 0);

    /* *_like keep shape and dtype */
    tt_tensor *zl = tt_zeros_like(fd), *ol = tt_ones_like(ff), *fl = tt_full_like(fi, 7), *el = tt_empty_like(fd);
    CHECK(zl && zl->dtype == TT_F64 && zl->ndim == 2 && zl->shape[1] == 3);
    CHECK_VALUES(zl, zeros, 6, 0);
    CHECK(ol && ol->dtype == TT_F32 && ol->ndim == 1);
    CHECK_VALUES(ol, ones, 2, 0);
    double sevens[] = {7, 7};
    CHECK(fl && fl->dtype == TT_I64);
    CHECK_VALUES(fl, sevens, 2, 0);
    CHECK(el && el->dtype == TT_F64 && tt_numel(el) == 6 && el->storage != fd->storage);
    /* like of a non-contiguous tensor: same shape */
    tt_tensor *tr = tt_t(fd), *trl = tt_zeros_like(tr);
    CHECK(trl && trl->ndim == 2 && trl->shape[0] == 3 && trl->shape[1] == 2);
    CHECK_VALUES(trl, zeros, 6, 0);
    tt_tensor *zs = tt_zeros(0, NULL, TT_F64, TT_CPU);
    CHECK(zs && zs->ndim == 0 && tt_numel(zs) == 1);
    tt_release(zs);
    tt_release(tr);
    tt_release(trl);
    tt_release(zl);
    tt_release(ol);
    tt_release(fl);
    tt_release(el);
    tt_release(z);
    tt_release(o);
    tt_release(e);
    tt_release(b);
    tt_release(s);
    tt_release(si);
    tt_release(fd);
    tt_release(ff);
    tt_release(fi);
    tt_release(fb);
}

TEST(cast_same_dtype_is_same_tensor)
{
    tt_tensor *x = tt_ones(1, (int64_t[]){3}, TT_F64, TT_CPU);
    tt_tensor *y = tt_cast(x, TT_F64);
    CHECK(y == x);
    CHECK(x && x->refcount == 2);
    tt_release(y);
    tt_tensor *z = tt_cast(x, TT_F32);
    CHECK(z && z != x && z->storage != x->storage && z->dtype == TT_F32);
    tt_release(z);
    tt_release(x);
}

TEST(fill_zero_version)
{
    int64_t shp[] = {2, 3};
    tt_tensor *x = tt_ones(2, shp, TT_F64, TT_CPU);
    uint64_t v0 = tt_version(x);
    CHECK(tt_fill_(x, -2.5) == TT_OK);
    double want[6] = {-2.5, -2.5, -2.5, -2.5, -2.5, -2.5};
    CHECK_VALUES(x, want, 6, 0);
    uint64_t v1 = tt_version(x);
    CHECK(v1 > v0);
    CHECK(tt_zero_(x) == TT_OK);
    double zeros[6] = {0};
    CHECK_VALUES(x, zeros, 6, 0);
    CHECK(tt_version(x) > v1);
    /* fill_ of an int64 tensor truncates as torch: torch.zeros(2, dtype=long).fill_(2.7) == 2 */
    tt_tensor *i = tt_zeros(1, shp, TT_I64, TT_CPU);
    CHECK(tt_fill_(i, 2.7) == TT_OK);
    double twos[2] = {2, 2};
    CHECK_VALUES(i, twos, 2, 0);
    /* fill_ of a bool tensor: nonzero is true */
    tt_tensor *b = tt_zeros(1, shp, TT_BOOL, TT_CPU);
    CHECK(tt_fill_(b, 0.5) == TT_OK);
    double ones[2] = {1, 1};
    CHECK_VALUES(b, ones, 2, 0);
    /* tt_bump_version */
    uint64_t v2 = tt_version(x);
    tt_bump_version(x);
    CHECK(tt_version(x) == v2 + 1);
    tt_release(x);
    tt_release(i);
    tt_release(b);
}

TEST(errors_are_per_call)
{
    tt_clear_error();
    CHECK(tt_last_status() == TT_OK);
    tt_tensor *a = tt_ones(1, (int64_t[]){3}, TT_F64, TT_CPU), *b = tt_ones(1, (int64_t[]){2}, TT_F64, TT_CPU);
    CHECK_ERR(tt_add(a, b), TT_ESHAPE,
              "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0");
    tt_clear_error();
    CHECK(tt_last_status() == TT_OK);
    tt_release(a);
    tt_release(b);
}

TEST(item_and_get)
{
    tt_tensor *x = tt_arange(0, 6, 1, TT_F64, TT_CPU);
    tt_tensor *m = x ? tt_view(x, 2, (int64_t[]){2, 3}) : NULL;
    double v = -1;
    CHECK(m && tt_get(m, (int64_t[]){1, 2}, &v) == TT_OK && v == 5);
    tt_clear_error();
    CHECK(tt_item(m, &v) != TT_OK); /* torch: "a Tensor with 6 elements cannot be converted to Scalar" */
    CHECK(tt_last_status() != TT_OK);
    tt_tensor *one = tt_full(2, (int64_t[]){1, 1}, 4.5, TT_F32, TT_CPU);
    CHECK(one && tt_item(one, &v) == TT_OK && v == 4.5);
    float f[6];
    CHECK(m && tt_to_host(m, TT_F32, f) == TT_OK && f[4] == 4.0f);
    tt_release(one);
    tt_release(m);
    tt_release(x);
}

/* Prints a TAP line for the case just run (prefix "" or "vulkan: "). */
static void report(const char *prefix, const char *skip) { REPORT_CASE(prefix, cur->name, skip); }

int main(void)
{
    setenv("TG_VULKAN_DEVICE", "lavapipe", 0); /* meant for lavapipe, as test_vulkan; a set value wins */
    const tt_device vk = {TT_DEVICE_VULKAN, 0};
    char no_vk[300] = "";
    if (!tt_vulkan_available(0)) snprintf(no_vk, sizeof no_vk, "no Vulkan device: %s", tt_last_error());
    tt_clear_error();
    int vk_skipped = 0;
    for (int i = 0; i < OP_NUM_CASES; i++) {
        cur = &op_cases[i];
        check_failed_here = 0;
        dev = TT_CPU;
        vk_pass = false;
        run_case(cur);
        report("", NULL);
        if (!no_vk[0]) {
            check_failed_here = 0;
            vk_skip[0] = 0;
            dev = vk;
            vk_pass = true;
            run_case(cur);
            if (!check_failed_here && irec != nrecs && !vk_skip[0])
                CFAIL("%d results on vulkan, %d on the CPU", irec, nrecs);
            vk_skipped += vk_skip[0] && !check_failed_here;
            report("vulkan: ", vk_skip);
        }
        clear_records();
    }
    dev = TT_CPU;
    vk_pass = false;
    check_failed_here = 0;
    if (no_vk[0]) {
        cur = &(op_case){.name = "every case"};
        report("vulkan: ", no_vk);
    } else {
        printf("# vulkan: %d of %d cases skipped (missing kernels or known bugs)\n", vk_skipped, OP_NUM_CASES);
    }
    cur = &(op_case){.name = "hand-written"};
    RUN(names);
    RUN(unsupported_kernel);
    RUN(device_registry);
    RUN(promote_types);
    RUN(broadcast_shapes);
    RUN(creation);
    RUN(cast_same_dtype_is_same_tensor);
    RUN(fill_zero_version);
    RUN(errors_are_per_call);
    RUN(item_and_get);
    cur = &(op_case){.name = "no validation-layer messages"};
    check_failed_here = 0;
    if (!no_vk[0]) {
        if (tt_vulkan_sync(0) != TT_OK) CFAIL("tt_vulkan_sync: %s", tt_last_error());
        tt_vulkan_shutdown(); /* reports leaked objects through the layer */
        long n = tt_vulkan_validation_messages();
        if (n) CFAIL("%ld validation messages (see stderr)", n);
        if (!getenv("TG_VULKAN_VALIDATION")) printf("# validation layer not enabled (TG_VULKAN_VALIDATION unset)\n");
    }
    report("vulkan: ", no_vk);
    return DONE();
}
