/* The CPU backend: strided loops over host memory, and OpenBLAS for matmul.
 * Contiguous inner loops are `omp simd` (built with -fopenmp-simd: no OpenMP
 * runtime); large ops are split over a small pthread pool. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>
#include <unistd.h>
#include "backend/blas.h"
#include "backend/cpu_rng.h"
#include "tensor/backend.h"
#include "tensor/internal.h"

typedef uint8_t tbool; /* storage of TT_BOOL */

/* ---- memory --------------------------------------------------------------- */
/* Buffers come from the size-class pool (no allocator call in a loop's
 * steady state), 64-byte aligned so that vector loads of contiguous tensors
 * are; the 64 bytes before a buffer hold the size it was asked for. */
#define CPU_HEADER 64

static void *cpu_alloc(int device_index, size_t nbytes)
{
    (void)device_index;
    size_t total = CPU_HEADER + ((nbytes + 63) & ~(size_t)63);
    char *p = tt__pool_alloc(total);
    if (!p) return NULL;
    memcpy(p, &total, sizeof total);
    return p + CPU_HEADER;
}

static void cpu_free(int device_index, void *buf)
{
    (void)device_index;
    char *p = (char *)buf - CPU_HEADER;
    size_t total;
    memcpy(&total, p, sizeof total);
    tt__pool_free(p, total);
}

static tt_status cpu_to_host(void *dst, const void *buf, size_t off, size_t n)
{
    memcpy(dst, (const char *)buf + off, n);
    return TT_OK;
}

static tt_status cpu_from_host(void *buf, size_t off, const void *src, size_t n)
{
    memcpy((char *)buf + off, src, n);
    return TT_OK;
}

/* ---- threads --------------------------------------------------------------- *
 * Work of at least PAR_MIN elements is split into one contiguous part per
 * thread; smaller work runs on the calling thread and pays nothing. The
 * thread count is OMP_NUM_THREADS when set, else the online CPUs. Workers
 * start on first use and then wait on a condition variable. Results never
 * depend on the split: elementwise parts are disjoint, and reductions sum
 * fixed-size blocks whatever thread does them. */
#define PAR_MIN ((int64_t)1 << 16)
#define MAX_THREADS 64

typedef void (*part_fn)(void *ctx, int64_t lo, int64_t hi);

static struct {
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    int nworkers, pending;
    uint64_t generation;
    part_fn fn;
    void *ctx;
    int64_t n, align;
    int nparts;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, NULL, 0, 1, 0};

/* One caller at a time uses the workers; a concurrent caller runs alone. */
static pthread_mutex_t dispatch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static int nthreads = 1;

/* Part k of n, its start rounded down to a multiple of align. */
static int64_t part_start(int64_t n, int nparts, int k, int64_t align)
{
    if (k >= nparts) return n;
    int64_t lo = (int64_t)((double)n * k / nparts);
    return lo - lo % align;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg; /* 1 .. nworkers; the caller is part 0 */
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.go, &pool.lock);
        seen = pool.generation;
        if (id < pool.nparts) {
            part_fn fn = pool.fn;
            void *ctx = pool.ctx;
            int64_t lo = part_start(pool.n, pool.nparts, id, pool.align);
            int64_t hi = part_start(pool.n, pool.nparts, id + 1, pool.align);
            pthread_mutex_unlock(&pool.lock);
            if (hi > lo) fn(ctx, lo, hi);
            pthread_mutex_lock(&pool.lock);
            if (--pool.pending == 0) pthread_cond_signal(&pool.done);
        }
    }
    return NULL;
}

/* A forked child has none of its parent's workers: it starts its own. */
static void after_fork_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.go, NULL);
    pthread_cond_init(&pool.done, NULL);
    pthread_mutex_init(&dispatch_lock, NULL);
    pool.nworkers = 0;
}

static void init_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    long n = 0;
    if (env && *env) n = strtol(env, NULL, 10); /* "4,2" (nested levels): the first */
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* Workers block every signal: signals stay with the program's own threads. */
static void start_workers(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (pool.nworkers < nthreads - 1) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)(pool.nworkers + 1)) != 0) break; /* run with fewer */
        pthread_detach(t);
        pool.nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* fn(ctx, lo, hi) over a partition of [0, n), parts aligned to `align`. */
static void parallel_for(int64_t n, int64_t work, int64_t align, part_fn fn, void *ctx)
{
    pthread_once(&threads_once, init_threads);
    int nparts = nthreads;
    if (work < PAR_MIN || nparts < 2 || n < 2 || pthread_mutex_trylock(&dispatch_lock) != 0) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    if (pool.nworkers < nthreads - 1) start_workers();
    nparts = pool.nworkers + 1;
    if (nparts > n) nparts = (int)n;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.align = align;
    pool.nparts = nparts;
    pool.pending = nparts - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.lock);
    int64_t hi = part_start(n, nparts, 1, align);
    if (hi > 0) fn(ctx, 0, hi);
    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&dispatch_lock);
}

/* ---- n-d iteration ---------------------------------------------------------- *
 * Operand 0 is the output; every operand has its shape. Size-1 dims are
 * dropped and adjacent dims merged where every operand's strides allow, so
 * contiguous tensors become one long row. Strides here are in bytes. */
#define MAX_OPS 4
typedef struct {
    int nops, ndim;
    int64_t shape[TT_MAX_DIMS];
    int64_t strides[MAX_OPS][TT_MAX_DIMS];
    char *base[MAX_OPS];
} nd_iter;

typedef void (*row_fn)(const void *ctx, int64_t n, char **p, const int64_t *s);

static char *element_base(const tt_kview *v) { return (char *)v->buf + v->offset * (int64_t)tt__dtype_size(v->dtype); }

static void iter_init(nd_iter *it, int nops, const tt_kview *const *v)
{
    it->nops = nops;
    it->ndim = 0;
    for (int k = 0; k < nops; k++) it->base[k] = element_base(v[k]);
    for (int d = 0; d < v[0]->ndim; d++) {
        if (v[0]->shape[d] == 1) continue;
        int nd = it->ndim;
        bool merge = nd > 0;
        for (int k = 0; k < nops && merge; k++)
            merge = it->strides[k][nd - 1] == v[0]->shape[d] * v[k]->strides[d] * (int64_t)tt__dtype_size(v[k]->dtype);
        if (merge) {
            it->shape[nd - 1] *= v[0]->shape[d];
            for (int k = 0; k < nops; k++)
                it->strides[k][nd - 1] = v[k]->strides[d] * (int64_t)tt__dtype_size(v[k]->dtype);
        } else {
            it->shape[nd] = v[0]->shape[d];
            for (int k = 0; k < nops; k++) it->strides[k][nd] = v[k]->strides[d] * (int64_t)tt__dtype_size(v[k]->dtype);
            it->ndim++;
        }
    }
}

/* Calls fn once per innermost row. */
static void iter_rows(const nd_iter *it, row_fn fn, const void *ctx)
{
    char *p[MAX_OPS];
    int64_t s[MAX_OPS], idx[TT_MAX_DIMS] = {0};
    for (int k = 0; k < it->nops; k++) p[k] = it->base[k];
    if (it->ndim == 0) {
        for (int k = 0; k < it->nops; k++) s[k] = 0;
        fn(ctx, 1, p, s);
        return;
    }
    int inner = it->ndim - 1;
    for (int k = 0; k < it->nops; k++) s[k] = it->strides[k][inner];
    for (;;) {
        fn(ctx, it->shape[inner], p, s);
        int d = inner - 1;
        for (; d >= 0; d--) {
            for (int k = 0; k < it->nops; k++) p[k] += it->strides[k][d];
            if (++idx[d] < it->shape[d]) break;
            for (int k = 0; k < it->nops; k++) p[k] -= it->strides[k][d] * it->shape[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

typedef struct {
    const nd_iter *it;
    row_fn fn;
    const void *ctx;
} run_job;

/* Indices [lo, hi) of the outermost merged dim: elements when it is 1-D. */
static void run_part(void *c, int64_t lo, int64_t hi)
{
    const run_job *j = c;
    nd_iter sub = *j->it;
    for (int k = 0; k < sub.nops; k++) sub.base[k] += lo * sub.strides[k][0];
    sub.shape[0] = hi - lo;
    iter_rows(&sub, j->fn, j->ctx);
}

/* The common case of small ops, without the iterator: out contiguous and
 * each input either contiguous like it or one element broadcast everywhere,
 * so the whole op is one row. False when the operands are laid out otherwise,
 * or when the op is big enough to be split over threads. */
/* (Inline in each kernel, where nops is a constant: the loops over operands unroll.) */
static inline __attribute__((always_inline)) bool run_one_row(int nops, const tt_kview *const *v, row_fn fn,
                                                              const void *ctx)
{
    const tt_kview *o = v[0];
    char *p[MAX_OPS];
    int64_t s[MAX_OPS];
    /* The op layer's flat views (1-D, out dense, inputs dense or one element) first, without the loops over dims. */
    if (o->ndim == 1 && o->strides[0] == 1 && o->shape[0] < PAR_MIN) {
        bool flat = true;
        for (int k = 0; k < nops; k++) {
            int64_t st = v[k]->strides[0];
            flat &= st == 0 || st == 1;
            p[k] = element_base(v[k]);
            s[k] = st * (int64_t)tt__dtype_size(v[k]->dtype);
        }
        if (flat) {
            fn(ctx, o->shape[0], p, s);
            return true;
        }
    }
    int64_t count = 1;
    for (int d = o->ndim - 1; d >= 0; d--) {
        if (o->shape[d] != 1 && o->strides[d] != count) return false;
        count *= o->shape[d];
    }
    if (count >= PAR_MIN) return false;
    for (int k = 0; k < nops; k++) {
        bool dense = true, broadcast = true;
        for (int d = 0; d < o->ndim; d++)
            if (o->shape[d] != 1) {
                dense &= v[k]->strides[d] == o->strides[d];
                broadcast &= v[k]->strides[d] == 0;
            }
        if (!dense && !broadcast) return false;
        p[k] = element_base(v[k]);
        s[k] = dense ? (int64_t)tt__dtype_size(v[k]->dtype) : 0;
    }
    fn(ctx, count, p, s);
    return true;
}

/* Elementwise: every output element is written once from the inputs at its
 * own index, so disjoint parts can run on different threads. */
static void run_iter(const nd_iter *it, row_fn fn, const void *ctx)
{
    int64_t total = 1;
    for (int d = 0; d < it->ndim; d++) total *= it->shape[d];
    if (it->ndim == 0 || total < PAR_MIN) {
        iter_rows(it, fn, ctx);
        return;
    }
    run_job j = {it, fn, ctx};
    parallel_for(it->shape[0], total, it->ndim == 1 ? 16 : 1, run_part, &j);
}

static void run_strided(int nops, const tt_kview *const *v, row_fn fn, const void *ctx)
{
    nd_iter it;
    iter_init(&it, nops, v);
    run_iter(&it, fn, ctx);
}

static inline void run(int nops, const tt_kview *const *v, row_fn fn, const void *ctx)
{
    if (!run_one_row(nops, v, fn, ctx)) run_strided(nops, v, fn, ctx);
}

static void run_serial(int nops, const tt_kview *const *v, row_fn fn, const void *ctx)
{
    nd_iter it;
    iter_init(&it, nops, v);
    iter_rows(&it, fn, ctx);
}

/* Elementwise loops: dense fast paths the compiler vectorises, else strided.
 * In place, out is exactly an input (same element per index): `omp simd`
 * only promises no dependence between iterations, which still holds. */
#define SIMD _Pragma("omp simd")
#define LOOP1(TO, T, EXPR)                                               \
    do {                                                                 \
        if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(T)) { \
            TO *o_ = (TO *)p[0];                                         \
            const T *a_ = (const T *)p[1];                               \
            SIMD for (int64_t i = 0; i < n; i++)                         \
            {                                                            \
                T x = a_[i];                                             \
                o_[i] = (EXPR);                                          \
            }                                                            \
        } else                                                           \
            for (int64_t i = 0; i < n; i++) {                            \
                T x = *(const T *)(p[1] + i * s[1]);                     \
                *(TO *)(p[0] + i * s[0]) = (EXPR);                       \
            }                                                            \
    } while (0)

#define LOOP2(TO, T, EXPR)                                                                             \
    do {                                                                                               \
        if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(T) && s[2] == (int64_t)sizeof(T)) { \
            TO *o_ = (TO *)p[0];                                                                       \
            const T *a_ = (const T *)p[1], *b_ = (const T *)p[2];                                      \
            SIMD for (int64_t i = 0; i < n; i++)                                                       \
            {                                                                                          \
                T x = a_[i], y = b_[i];                                                                \
                o_[i] = (EXPR);                                                                        \
            }                                                                                          \
        } else if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(T) && s[2] == 0) {           \
            TO *o_ = (TO *)p[0];                                                                       \
            const T *a_ = (const T *)p[1];                                                             \
            const T y = *(const T *)p[2];                                                              \
            SIMD for (int64_t i = 0; i < n; i++)                                                       \
            {                                                                                          \
                T x = a_[i];                                                                           \
                o_[i] = (EXPR);                                                                        \
            }                                                                                          \
        } else if (s[0] == (int64_t)sizeof(TO) && s[1] == 0 && s[2] == (int64_t)sizeof(T)) {           \
            TO *o_ = (TO *)p[0];                                                                       \
            const T x = *(const T *)p[1];                                                              \
            const T *b_ = (const T *)p[2];                                                             \
            SIMD for (int64_t i = 0; i < n; i++)                                                       \
            {                                                                                          \
                T y = b_[i];                                                                           \
                o_[i] = (EXPR);                                                                        \
            }                                                                                          \
        } else                                                                                         \
            for (int64_t i = 0; i < n; i++) {                                                          \
                T x = *(const T *)(p[1] + i * s[1]);                                                   \
                T y = *(const T *)(p[2] + i * s[2]);                                                   \
                *(TO *)(p[0] + i * s[0]) = (EXPR);                                                     \
            }                                                                                          \
    } while (0)

/* ---- copy / cast -------------------------------------------------------------- */

#define CAST_ROW(NAME, TO, T, EXPR)                                        \
    static void NAME(const void *c, int64_t n, char **p, const int64_t *s) \
    {                                                                      \
        (void)c;                                                           \
        LOOP1(TO, T, EXPR);                                                \
    }
CAST_ROW(copy_f32_f32, float, float, x)
CAST_ROW(copy_f32_f64, float, double, (float)x)
CAST_ROW(copy_f32_i64, float, int64_t, (float)x)
CAST_ROW(copy_f32_b, float, tbool, (float)x)
CAST_ROW(copy_f64_f32, double, float, (double)x)
CAST_ROW(copy_f64_f64, double, double, x)
CAST_ROW(copy_f64_i64, double, int64_t, (double)x)
CAST_ROW(copy_f64_b, double, tbool, (double)x)
CAST_ROW(copy_i64_f32, int64_t, float, tt__f2i(x))
CAST_ROW(copy_i64_f64, int64_t, double, tt__f2i(x))
CAST_ROW(copy_i64_i64, int64_t, int64_t, x)
CAST_ROW(copy_i64_b, int64_t, tbool, (int64_t)x)
CAST_ROW(copy_b_f32, tbool, float, x != 0)
CAST_ROW(copy_b_f64, tbool, double, x != 0)
CAST_ROW(copy_b_i64, tbool, int64_t, x != 0)
CAST_ROW(copy_b_b, tbool, tbool, x)

static const row_fn copy_rows[TT_NUM_DTYPES][TT_NUM_DTYPES] = {
    [TT_F32] = {[TT_F32] = copy_f32_f32, [TT_F64] = copy_f32_f64, [TT_I64] = copy_f32_i64, [TT_BOOL] = copy_f32_b},
    [TT_F64] = {[TT_F32] = copy_f64_f32, [TT_F64] = copy_f64_f64, [TT_I64] = copy_f64_i64, [TT_BOOL] = copy_f64_b},
    [TT_I64] = {[TT_F32] = copy_i64_f32, [TT_F64] = copy_i64_f64, [TT_I64] = copy_i64_i64, [TT_BOOL] = copy_i64_b},
    [TT_BOOL] = {[TT_F32] = copy_b_f32, [TT_F64] = copy_b_f64, [TT_I64] = copy_b_i64, [TT_BOOL] = copy_b_b},
};

static tt_status cpu_copy(const tt_kview *out, const tt_kview *in)
{
    const tt_kview *v[2] = {out, in};
    run(2, v, copy_rows[out->dtype][in->dtype], NULL);
    return TT_OK;
}

/* ---- fill, random numbers ---------------------------------------------- */
typedef struct {
    tt_dtype dt;
    double value;
} fill_ctx;

VECTOR_CLONES static void fill_row(const void *c, int64_t n, char **p, const int64_t *s)
{
    const fill_ctx *k = c;
    if (s[0] == (int64_t)tt__dtype_size(k->dt)) { /* dense */
        switch (k->dt) {
        case TT_F32: {
            float v = (float)k->value, *o = (float *)p[0];
            SIMD for (int64_t i = 0; i < n; i++) o[i] = v;
        } break;
        case TT_F64: {
            double *o = (double *)p[0];
            SIMD for (int64_t i = 0; i < n; i++) o[i] = k->value;
        } break;
        case TT_I64: {
            int64_t v = tt__f2i(k->value), *o = (int64_t *)p[0];
            SIMD for (int64_t i = 0; i < n; i++) o[i] = v;
        } break;
        case TT_BOOL: memset(p[0], k->value != 0, (size_t)n); break;
        }
        return;
    }
    switch (k->dt) {
    case TT_F32: {
        float v = (float)k->value;
        for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) = v;
    } break;
    case TT_F64:
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) = k->value;
        break;
    case TT_I64: {
        int64_t v = tt__f2i(k->value);
        for (int64_t i = 0; i < n; i++) *(int64_t *)(p[0] + i * s[0]) = v;
    } break;
    case TT_BOOL:
        for (int64_t i = 0; i < n; i++) *(tbool *)(p[0] + i * s[0]) = k->value != 0;
        break;
    }
}

static tt_status cpu_fill(const tt_kview *out, double value)
{
    fill_ctx ctx = {out->dtype, value};
    const tt_kview *v[1] = {out};
    run(1, v, fill_row, &ctx);
    return TT_OK;
}

/* ---- unary ------------------------------------------------------------------- */
/* expf without libm and without branches, so that loops over it vectorise:
 * x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 in two parts), e^r as
 * 1 + r + r^2 q(r) with q of degree 4 (near-minimax: least squares on
 * Chebyshev nodes of |r| <= ln2/2, reweighted by the error (Lawson), relative
 * error 3e-9, one degree below Cephes' expf, whose terms are Taylor's),
 * q in Estrin's order (two short chains in place of one long one), times 2^n
 * built in the exponent bits in two halves, so that results that overflow
 * give inf and those below FLT_MIN round once into the subnormals as expf's
 * do. Within 1 ulp of e^x (tests/unit/test_cpu_kernels.c; 0.991 ulp at worst
 * over every float). c is already clamped to [-104, 89]: e^-104 <
 * FLT_TRUE_MIN / 2 gives 0, e^89 > FLT_MAX gives inf; NaN passes through. */
static inline float exp_f32_clamped(float c)
{
    /* n = round(c / ln2) by the 1.5 * 2^23 trick (round to nearest even):
     * t's low mantissa bits hold n, so k is read off its bits (no float to
     * int conversion, which NaN would make undefined) */
    union {
        float f;
        uint32_t u;
    } t = {c * 1.44269504088896341f + 12582912.0f};
    float n = t.f - 12582912.0f;
    /* ln2 in two parts: n * 0.693359375 is exact for |n| <= 151 */
    float r = (c - n * 0.693359375f) - n * -2.12194440e-4f, r2 = r * r;
    float q =
        (4.999999404e-1f + 1.666652113e-1f * r) + r2 * ((4.166838899e-2f + 8.368716575e-3f * r) + r2 * 1.381459879e-3f);
    float p = (q * r2 + r) + 1.0f;
    /* -150 <= k <= 128: each half is a normal power of two */
    int32_t k = (int32_t)(t.u - 0x4b400000u), k1 = k >> 1, k2 = k - k1;
    union {
        uint32_t u;
        float f;
    } s1 = {(uint32_t)(k1 + 127) << 23}, s2 = {(uint32_t)(k2 + 127) << 23};
    return p * s1.f * s2.f;
}

/* Clamped as min / max instructions whose operand order lets NaN through
 * (x > 89 is false for NaN, so NaN is kept, and p is NaN at the end). */
static inline float exp_f32(float x)
{
    float c = x > 89.0f ? 89.0f : x;
    return exp_f32_clamped(c < -104.0f ? -104.0f : c);
}

/* With e = e^-|x| (no overflow, so only the lower clamp): 1 / (1 + e) for
 * x >= 0, e / (1 + e) below, so that sigmoid(-100) is e^-100 and not
 * 1 / (1 + inf) = 0. */
static inline float sigmoid_f32(float x)
{
    float m = x < 0 ? x : -x;
    float e = exp_f32_clamped(m < -104.0f ? -104.0f : m);
    return (x < 0 ? e : 1.0f) / (1.0f + e); /* one division; NaN: e is NaN */
}

/* Small |x|: Cephes' tanhf odd polynomial (no cancellation); otherwise
 * 1 - 2 / (e^2|x| + 1), which is 1 once e^2|x| overflows. Both are computed
 * and one selected, to keep the loop branch-free. */
static inline float tanh_f32(float x)
{
    float a = x < 0 ? -x : x, z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float big = 1.0f - 2.0f / (exp_f32(a + a) + 1.0f);
    big = x < 0 ? -big : big;
    return a < 0.625f ? (x == 0 ? x : small) : x != x ? x : big; /* x == 0: keeps -0 */
}

/* The f32 rows also come in AVX2 and AVX-512 builds (VECTOR_CLONES, picked
 * at load time): two and four times the lanes (exp and sigmoid run about
 * twice as fast on AVX-512 as on AVX2). */

/* The ops of the table (tg/ops.def) whose int64 inputs the op layer casts to
 * float32 (FLOAT) or refuses (NOINT): an int64 kernel never sees them. */
#define NOT_INT64_KEEP(ENUM)
#define NOT_INT64_FLOAT(ENUM) case TT_##ENUM:
#define NOT_INT64_NOINT(ENUM) case TT_##ENUM:

/* Every op of the table, no default: a missing one does not compile
 * (-Wswitch-enum). */
#define UNARY_FLOAT_ROW(NAME, T, EXP, SIGMOID, TANH)                                       \
    VECTOR_CLONES static void NAME(const void *c, int64_t n, char **p, const int64_t *s)   \
    {                                                                                      \
        switch (*(const tt_unary_op *)c) {                                                 \
        case TT_NEG: LOOP1(T, T, -x); break;                                               \
        case TT_EXP: LOOP1(T, T, EXP(x)); break;                                           \
        case TT_LOG: LOOP1(T, T, log(x)); break;                                           \
        case TT_SQRT: LOOP1(T, T, sqrt(x)); break;                                         \
        case TT_SIN: LOOP1(T, T, sin(x)); break;                                           \
        case TT_COS: LOOP1(T, T, cos(x)); break;                                           \
        case TT_TANH: LOOP1(T, T, TANH(x)); break;                                         \
        case TT_SIGMOID: LOOP1(T, T, SIGMOID(x)); break;                                   \
        case TT_RELU: LOOP1(T, T, x > 0 ? x : (x != x ? x : (T)0)); break;                 \
        case TT_ABS: LOOP1(T, T, fabs(x)); break;                                          \
        case TT_SIGN: LOOP1(T, T, (T)((x > 0) - (x < 0))); break; /* NaN: 0, as PyTorch */ \
        case TT_ERF: LOOP1(T, T, erf(x)); break;                                           \
        case TT_LOG1P: LOOP1(T, T, log1p(x)); break;                                       \
        case TT_EXPM1: LOOP1(T, T, expm1(x)); break;                                       \
        case TT_SOFTPLUS: LOOP1(T, T, x > 20 ? x : log1p(exp(x))); break;                  \
        case TT_ATAN: LOOP1(T, T, atan(x)); break;                                         \
        case TT_ASIN: LOOP1(T, T, asin(x)); break;                                         \
        case TT_ACOS: LOOP1(T, T, acos(x)); break;                                         \
        case TT_SINH: LOOP1(T, T, sinh(x)); break;                                         \
        case TT_COSH: LOOP1(T, T, cosh(x)); break;                                         \
        case TT_NUM_UNARY: break;                                                          \
        }                                                                                  \
    }
#define SIGMOID_F64(x) (1 / (1 + exp(-(x))))
UNARY_FLOAT_ROW(unary_f32, float, exp_f32, sigmoid_f32, tanh_f32)
UNARY_FLOAT_ROW(unary_f64, double, exp, SIGMOID_F64, tanh) /* f64 stays on libm */

static void unary_i64(const void *c, int64_t n, char **p, const int64_t *s)
{
    switch (*(const tt_unary_op *)c) {
    case TT_NEG: LOOP1(int64_t, int64_t, (int64_t)(0 - (uint64_t)x)); break;
    case TT_RELU: LOOP1(int64_t, int64_t, x > 0 ? x : 0); break;
    case TT_ABS: LOOP1(int64_t, int64_t, x < 0 ? (int64_t)(0 - (uint64_t)x) : x); break;
    case TT_SIGN: LOOP1(int64_t, int64_t, (x > 0) - (x < 0)); break;
#define TT_UNARY_OP(ENUM, name, ints, ...) NOT_INT64_##ints(ENUM)
#include "tg/ops.def"
    case TT_NUM_UNARY: break;
    }
}

static tt_status cpu_unary(tt_unary_op op, const tt_kview *out, const tt_kview *in)
{
    static const row_fn rows[TT_NUM_DTYPES] = {[TT_F32] = unary_f32, [TT_F64] = unary_f64, [TT_I64] = unary_i64};
    if (!rows[in->dtype] || (in->dtype == TT_I64 && !tt__unary_int64_kernel(op)))
        return tt_set_error(TT_EDTYPE, "%s is not implemented for %s", tt_unary_name(op), tt_dtype_name(in->dtype));
    const tt_kview *v[2] = {out, in};
    run(2, v, rows[in->dtype], &op);
    return TT_OK;
}

/* ---- binary ------------------------------------------------------------------ */
#define MAXNAN(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) > (y) ? (x) : (y))
#define MINNAN(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) < (y) ? (x) : (y))

static int64_t ipow(int64_t base, int64_t e)
{
    uint64_t r = 1, b = (uint64_t)base;
    if (e < 0) return base == 1 ? 1 : base == -1 ? (e & 1 ? -1 : 1) : 0;
    for (; e; e >>= 1, b *= b)
        if (e & 1) r *= b;
    return (int64_t)r;
}

#define COMPARE_CASES(T)                        \
    case TT_EQ: LOOP2(tbool, T, x == y); break; \
    case TT_NE: LOOP2(tbool, T, x != y); break; \
    case TT_LT: LOOP2(tbool, T, x < y); break;  \
    case TT_LE: LOOP2(tbool, T, x <= y); break; \
    case TT_GT: LOOP2(tbool, T, x > y); break;  \
    case TT_GE: LOOP2(tbool, T, x >= y); break;

/* Every op of the table, no default (-Wswitch-enum). */
#define BINARY_FLOAT_ROW(NAME, T)                                                        \
    VECTOR_CLONES static void NAME(const void *c, int64_t n, char **p, const int64_t *s) \
    {                                                                                    \
        switch (*(const tt_binary_op *)c) {                                              \
        case TT_ADD: LOOP2(T, T, x + y); break;                                          \
        case TT_SUB: LOOP2(T, T, x - y); break;                                          \
        case TT_MUL: LOOP2(T, T, x *y); break;                                           \
        case TT_DIV: LOOP2(T, T, x / y); break;                                          \
        case TT_POW: /* x^2 and x^1 exactly as pow gives them, without libm */           \
            if (s[2] == 0 && *(const T *)p[2] == 2) LOOP1(T, T, x *x);                   \
            else if (s[2] == 0 && *(const T *)p[2] == 1) LOOP1(T, T, x);                 \
            else LOOP2(T, T, pow(x, y));                                                 \
            break;                                                                       \
        case TT_MAXIMUM: LOOP2(T, T, MAXNAN(x, y)); break;                               \
        case TT_MINIMUM: LOOP2(T, T, MINNAN(x, y)); break;                               \
        case TT_ATAN2: LOOP2(T, T, atan2(x, y)); break;                                  \
        case TT_SIGMOID_BACKWARD: LOOP2(T, T, x *((T)1 - y) * y); break;                 \
        case TT_TANH_BACKWARD:                                                           \
            LOOP2(T, T, x *((T)1 - y * y));                                              \
            break;                                                                       \
            COMPARE_CASES(T)                                                             \
        case TT_NUM_BINARY: break;                                                       \
        }                                                                                \
    }
BINARY_FLOAT_ROW(binary_f32, float)
BINARY_FLOAT_ROW(binary_f64, double)

/* Ops an integer kernel never sees: true division (computed in float32), the
 * ops that refuse integers (NOINT, as for the unary ops), and for bool every
 * arithmetic op (computed in int64). */
#define NOT_INT64_ARITH(ENUM)
#define NOT_INT64_TRUEDIV(ENUM) case TT_##ENUM:

/* Integer arithmetic wraps as in PyTorch (done unsigned to stay defined in C). */
static void binary_i64(const void *c, int64_t n, char **p, const int64_t *s)
{
    switch (*(const tt_binary_op *)c) {
    case TT_ADD: LOOP2(int64_t, int64_t, (int64_t)((uint64_t)x + (uint64_t)y)); break;
    case TT_SUB: LOOP2(int64_t, int64_t, (int64_t)((uint64_t)x - (uint64_t)y)); break;
    case TT_MUL: LOOP2(int64_t, int64_t, (int64_t)((uint64_t)x * (uint64_t)y)); break;
    case TT_POW: LOOP2(int64_t, int64_t, ipow(x, y)); break;
    case TT_MAXIMUM: LOOP2(int64_t, int64_t, x > y ? x : y); break;
    case TT_MINIMUM:
        LOOP2(int64_t, int64_t, x < y ? x : y);
        break;
        COMPARE_CASES(int64_t)
#define TT_BINARY_OP(ENUM, name, kind, ...) NOT_INT64_##kind(ENUM)
#include "tg/ops.def"
    case TT_NUM_BINARY: break;
    }
}

static void binary_bool(const void *c, int64_t n, char **p, const int64_t *s)
{
    switch (*(const tt_binary_op *)c) {
        COMPARE_CASES(tbool)
#define TT_BINARY_OP(ENUM, ...) case TT_##ENUM:
#include "tg/ops.def"
    case TT_NUM_BINARY: break;
    }
}

static void any_negative_row(const void *c, int64_t n, char **p, const int64_t *s)
{
    bool *found = (bool *)c; /* the one context that is written: a flag */
    for (int64_t i = 0; i < n; i++)
        if (*(const int64_t *)(p[0] + i * s[0]) < 0) *found = true;
}

static tt_status cpu_binary(tt_binary_op op, const tt_kview *out, const tt_kview *a, const tt_kview *b)
{
    static const row_fn rows[TT_NUM_DTYPES] = {
        [TT_F32] = binary_f32, [TT_F64] = binary_f64, [TT_I64] = binary_i64, [TT_BOOL] = binary_bool};
    if (a->dtype == TT_I64 && op == TT_POW) {
        bool negative = false;
        const tt_kview *v[1] = {b};
        run_serial(1, v, any_negative_row, &negative); /* writes its context */
        if (negative) return tt_set_error(TT_EINVAL, "Integers to negative integer powers are not allowed.");
    }
    const tt_kview *v[3] = {out, a, b};
    run(3, v, rows[a->dtype], &op);
    return TT_OK;
}

/* A few floats (a batch of 8, a scalar): the arithmetic element by element,
 * without the vector loop's set-up, which costs more than the work here.
 * The same IEEE operations, so the same bits; a broadcast operand (step 0)
 * is read once, before out is written, as LOOP2 reads it (out may be an
 * operand: an in-place op). */
#define SMALL_FLAT 16
_Static_assert(TT_ADD == 0 && TT_SUB == 1 && TT_MUL == 2 && TT_DIV == 3, "small_arith_f32 takes the ops up to TT_DIV");
#define SMALL_OPS(X, Y)                           \
    do {                                          \
        if (op == TT_ADD) SMALL_LOOP(X + Y);      \
        else if (op == TT_SUB) SMALL_LOOP(X - Y); \
        else if (op == TT_MUL) SMALL_LOOP(X *Y);  \
        else SMALL_LOOP(X / Y);                   \
    } while (0)
#define SMALL_LOOP(EXPR) \
    for (int64_t i = 0; i < n; i++) o[i] = (EXPR)
static void small_arith_f32(tt_binary_op op, int64_t n, float *o, const float *a, int64_t sa, const float *b,
                            int64_t sb)
{
    if (sa == 1 && sb == 0) {
        const float y = b[0];
        SMALL_OPS(a[i], y);
    } else if (sa == 0 && sb == 1) {
        const float x = a[0];
        SMALL_OPS(x, b[i]);
    } else {
        SMALL_OPS(a[i * sa], b[i * sb]);
    }
}
#undef SMALL_LOOP
#undef SMALL_OPS

/* The op layer's flat layout: the row function straight away, without views
 * or the checks of run_one_row (which takes the same layout to the same
 * call). Work big enough for threads goes through the views. */
static tt_status cpu_binary_flat(tt_binary_op op, tt_dtype dt, int64_t n, const tt_flat *out, const tt_flat *a,
                                 const tt_flat *b)
{
    if (n >= PAR_MIN) {
        tt_kview v[3];
        const tt_flat *f[3] = {out, a, b};
        for (int k = 0; k < 3; k++)
            v[k] = (tt_kview){.buf = f[k]->buf,
                              .dtype = dt,
                              .ndim = 1,
                              .offset = f[k]->offset,
                              .shape = {n},
                              .strides = {f[k]->step}};
        return cpu_binary(op, &v[0], &v[1], &v[2]);
    }
    int64_t es = (int64_t)tt__dtype_size(dt);
    char *p[3] = {(char *)out->buf + out->offset * es, (char *)a->buf + a->offset * es,
                  (char *)b->buf + b->offset * es};
    if (dt == TT_F32 && n <= SMALL_FLAT && op <= TT_DIV) {
        small_arith_f32(op, n, (float *)p[0], (const float *)p[1], a->step, (const float *)p[2], b->step);
        return TT_OK;
    }
    int64_t s[3] = {es, a->step * es, b->step * es};
    if (dt == TT_F32) binary_f32(&op, n, p, s);
    else binary_f64(&op, n, p, s);
    return TT_OK;
}

/* ---- where, clamp -------------------------------------------------------------- */
#define WHERE_LOOP(T)               \
    for (int64_t i = 0; i < n; i++) \
    *(T *)(p[0] + i * s[0]) =       \
        *(const tbool *)(p[1] + i * s[1]) ? *(const T *)(p[2] + i * s[2]) : *(const T *)(p[3] + i * s[3])

static void where_row(const void *c, int64_t n, char **p, const int64_t *s)
{
    switch (*(const tt_dtype *)c) {
    case TT_F32: WHERE_LOOP(float); break;
    case TT_F64: WHERE_LOOP(double); break;
    case TT_I64: WHERE_LOOP(int64_t); break;
    case TT_BOOL: WHERE_LOOP(tbool); break;
    }
}

static tt_status cpu_where(const tt_kview *out, const tt_kview *cond, const tt_kview *a, const tt_kview *b)
{
    const tt_kview *v[4] = {out, cond, a, b};
    run(4, v, where_row, &out->dtype);
    return TT_OK;
}

typedef struct {
    tt_dtype dt;
    double lo, hi;
} clamp_ctx;

/* NaN stays NaN; a missing bound (NAN) is no bound. */
/* min(max(x, lo), hi), so hi wins when lo > hi, as in PyTorch. */
#define CLAMP_LO(T, x, c) ((!isnan((c)->lo) && (x) < (T)(c)->lo) ? (T)(c)->lo : (x))
#define CLAMP(T, x, c) \
    ((x) != (x) ? (x) : (!isnan((c)->hi) && CLAMP_LO(T, x, c) > (T)(c)->hi) ? (T)(c)->hi : CLAMP_LO(T, x, c))

static void clamp_row(const void *c, int64_t n, char **p, const int64_t *s)
{
    const clamp_ctx *k = c;
    switch (k->dt) {
    case TT_F32: LOOP1(float, float, CLAMP(float, x, k)); break;
    case TT_F64: LOOP1(double, double, CLAMP(double, x, k)); break;
    case TT_I64: LOOP1(int64_t, int64_t, CLAMP(int64_t, x, k)); break;
    case TT_BOOL: break;
    }
}

static tt_status cpu_clamp(const tt_kview *out, const tt_kview *in, double lo, double hi)
{
    clamp_ctx c = {in->dtype, lo, hi};
    const tt_kview *v[2] = {out, in};
    run(2, v, clamp_row, &c);
    return TT_OK;
}

/* ---- reductions ----------------------------------------------------------------- *
 * The kept dims index the output; the reduced dims (out size 1, in size > 1)
 * are walked for each output element. Floating sums and products accumulate
 * in double. */
typedef struct {
    int nkeep, nred;
    int64_t kshape[TT_MAX_DIMS], kin[TT_MAX_DIMS], kout[TT_MAX_DIMS], kidx[TT_MAX_DIMS];
    int64_t rshape[TT_MAX_DIMS], rin[TT_MAX_DIMS]; /* in elements */
} reduce_plan;

static double read_f(tt_dtype dt, const char *e)
{
    switch (dt) {
    case TT_F32: return *(const float *)e;
    case TT_F64: return *(const double *)e;
    case TT_I64: return (double)*(const int64_t *)e;
    case TT_BOOL: return *(const tbool *)e;
    }
    return 0;
}

/* Floating sums: fixed blocks of RBLOCK elements, each summed in double in
 * 16 interleaved accumulators (vectorisable, in an order fixed by this code,
 * not by the vector width; 16 rather than 8 so that two or four vector add
 * chains run side by side: a chain's latency, not the loads, bounds the
 * sum), the block sums then added in order. Threads sum
 * whole blocks, so the result depends on neither the thread count nor the
 * machine, and a strided row sums in the same order as a contiguous one. */
#define RBLOCK ((int64_t)8192)

/* SUM_LANES interleaved double accumulators over x[0..n) `stride` apart
 * (the dense case as its own loop, so that it vectorises). */
#define SUM_LANES 16
#define BLOCK_SUM_LOOPS(T)                                                         \
    do {                                                                           \
        const T *x = (const T *)p;                                                 \
        if (stride == 1)                                                           \
            for (; i < m; i += SUM_LANES)                                          \
                for (int j = 0; j < SUM_LANES; j++) acc[j] += x[i + j];            \
        else                                                                       \
            for (; i < m; i += SUM_LANES)                                          \
                for (int j = 0; j < SUM_LANES; j++) acc[j] += x[(i + j) * stride]; \
        for (; i < n; i++) acc[i % SUM_LANES] += x[i * stride];                    \
    } while (0)

/* The lanes added pairwise; with at most 8 elements the upper lanes are
 * zeros, and the sum is the one 8 lanes gave (tiny sums kept their bits). */
static double lanes8(const double *a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

VECTOR_CLONES static double block_sum(tt_dtype dt, const char *p, int64_t n, int64_t stride)
{
    double acc[SUM_LANES] = {0};
    int64_t i = 0, m = n - n % SUM_LANES;
    if (dt == TT_F32) BLOCK_SUM_LOOPS(float);
    else BLOCK_SUM_LOOPS(double);
    return lanes8(acc) + lanes8(acc + 8);
}

/* Sum of n elements `stride` elements apart, block by block. */
static double row_sum(tt_dtype dt, const char *p, int64_t n, int64_t stride)
{
    double acc = 0;
    int64_t es = (int64_t)tt__dtype_size(dt);
    for (int64_t b = 0; b < n; b += RBLOCK)
        acc += block_sum(dt, p + b * stride * es, n - b < RBLOCK ? n - b : RBLOCK, stride);
    return acc;
}

typedef struct {
    tt_dtype dt;
    const char *p;
    int64_t n, stride;
    double *partial;
} blocks_job;

static void blocks_part(void *c, int64_t lo, int64_t hi)
{
    const blocks_job *j = c;
    int64_t es = (int64_t)tt__dtype_size(j->dt);
    for (int64_t b = lo; b < hi; b++) {
        int64_t start = b * RBLOCK, len = j->n - start < RBLOCK ? j->n - start : RBLOCK;
        j->partial[b] = block_sum(j->dt, j->p + start * j->stride * es, len, j->stride);
    }
}

/* row_sum, with the blocks spread over the threads; false when out of memory. */
static bool row_sum_parallel(tt_dtype dt, const char *p, int64_t n, int64_t stride, double *sum)
{
    int64_t nblocks = (n + RBLOCK - 1) / RBLOCK;
    if (n < PAR_MIN) {
        *sum = row_sum(dt, p, n, stride);
        return true;
    }
    double *partial = malloc((size_t)nblocks * sizeof *partial);
    if (!partial) return false;
    blocks_job j = {dt, p, n, stride, partial};
    parallel_for(nblocks, n, 1, blocks_part, &j);
    double acc = 0;
    for (int64_t b = 0; b < nblocks; b++) acc += partial[b];
    free(partial);
    *sum = acc;
    return true;
}

/* ---- the fit's fused line step (lib/fit) ------------------------------------ *
 * Per point the residual and its products in the working dtype, exactly as
 * the tensor ops would round them (w*x, + b, - y; r*r and s*r in the dtype);
 * the sums in double, in 8 interleaved accumulators per block combined
 * pairwise: an order fixed by this code, not by the vector width. */
#define LINE_SUMS_POINT(T, WEIGHTED, i, j)                               \
    do {                                                                 \
        T xv = (T)x[i], r = (wt * xv + bt) - (T)y[i];                    \
        T sr = WEIGHTED ? (T)s[i] * r : r;                               \
        q[j] += (double)(T)(r * r) * (WEIGHTED ? (double)(T)s[i] : 1.0); \
        rx[j] += (double)sr * (double)xv;                                \
        r1[j] += (double)sr;                                             \
    } while (0)
#define LINE_SUMS_LOOP(T, WEIGHTED)                                             \
    do {                                                                        \
        const T wt = (T)w, bt = (T)b;                                           \
        int64_t i = 0;                                                          \
        for (; i + 8 <= n; i += 8)                                              \
            for (int j = 0; j < 8; j++) LINE_SUMS_POINT(T, WEIGHTED, i + j, j); \
        for (int j = 0; i + j < n; j++) LINE_SUMS_POINT(T, WEIGHTED, i + j, j); \
    } while (0)

VECTOR_CLONES static void line_block(tt_dtype dt, const double *x, const double *y, const double *s, int64_t n,
                                     double w, double b, double *out)
{
    double q[8] = {0}, rx[8] = {0}, r1[8] = {0};
    if (dt == TT_F32) {
        if (s) LINE_SUMS_LOOP(float, 1);
        else LINE_SUMS_LOOP(float, 0);
    } else {
        if (s) LINE_SUMS_LOOP(double, 1);
        else LINE_SUMS_LOOP(double, 0);
    }
    out[0] = lanes8(q), out[1] = lanes8(rx), out[2] = lanes8(r1);
}

typedef struct {
    tt_dtype dt;
    const double *x, *y, *s;
    int64_t n, block;
    double w, b, *out;
} line_job;

static void line_part(void *c, int64_t lo, int64_t hi)
{
    const line_job *j = c;
    for (int64_t k = lo; k < hi; k++) {
        int64_t start = k * j->block, m = j->n - start < j->block ? j->n - start : j->block;
        line_block(j->dt, j->x + start, j->y + start, j->s ? j->s + start : NULL, m, j->w, j->b, j->out + 3 * k);
    }
}

static tt_status cpu_line_sums(tt_dtype dt, const double *x, const double *y, const double *s, int64_t n, int64_t block,
                               double w, double b, double *out)
{
    if (n <= 0) return TT_OK;
    line_job j = {dt, x, y, s, n, block > 0 ? block : n, w, b, out};
    parallel_for((n + j.block - 1) / j.block, n, 1, line_part, &j);
    return TT_OK;
}

/* Reduces one output element: `base` points at its first input element. */
static void reduce_one(tt_reduce_op op, const reduce_plan *pl, tt_dtype dt, const char *base, char *out, int64_t *idx)
{
    int64_t es = (int64_t)tt__dtype_size(dt), count = 1, pos[TT_MAX_DIMS] = {0};
    for (int d = 0; d < pl->nred; d++) count *= pl->rshape[d];
    if ((op == TT_SUM || op == TT_MEAN) && (dt == TT_F32 || dt == TT_F64) && pl->nred > 0) {
        /* innermost reduced dim as rows, the others walked */
        int inner = pl->nred - 1;
        int64_t rows = pl->rshape[inner] ? count / pl->rshape[inner] : 0;
        double sum = 0;
        const char *e = base;
        for (int64_t r = 0; r < rows; r++) {
            sum += row_sum(dt, e, pl->rshape[inner], pl->rin[inner]);
            for (int d = inner - 1; d >= 0; d--) {
                e += pl->rin[d] * es;
                if (++pos[d] < pl->rshape[d]) break;
                e -= pl->rin[d] * es * pl->rshape[d];
                pos[d] = 0;
            }
        }
        if (op == TT_MEAN) sum /= (double)count;
        if (dt == TT_F32) *(float *)out = (float)sum;
        else *(double *)out = sum;
        return;
    }
    double acc = op == TT_PROD ? 1 : 0;
    int64_t iacc = op == TT_PROD ? 1 : 0, best_i = 0;
    const char *best = base;
    const char *e = base;
    for (int64_t i = 0; i < count; i++) {
        if (dt == TT_I64 && (op == TT_SUM || op == TT_PROD)) {
            uint64_t x = (uint64_t) * (const int64_t *)e;
            iacc = op == TT_SUM ? (int64_t)((uint64_t)iacc + x) : (int64_t)((uint64_t)iacc * x);
        } else if (op == TT_SUM || op == TT_MEAN) {
            acc += read_f(dt, e);
        } else if (op == TT_PROD) {
            acc *= read_f(dt, e);
        } else if (i > 0) { /* max / min: NaN wins, ties keep the first */
            bool better;
            if (dt == TT_I64) {
                int64_t x = *(const int64_t *)e, b = *(const int64_t *)best;
                better = op == TT_MAX ? x > b : x < b;
            } else {
                double x = read_f(dt, e), b = read_f(dt, best);
                better = !(b != b) && (x != x || (op == TT_MAX ? x > b : x < b));
            }
            if (better) {
                best = e;
                best_i = i;
            }
        }
        /* next input element */
        for (int d = pl->nred - 1; d >= 0; d--) {
            e += pl->rin[d] * es;
            if (++pos[d] < pl->rshape[d]) break;
            e -= pl->rin[d] * es * pl->rshape[d];
            pos[d] = 0;
        }
    }
    if (op == TT_MAX || op == TT_MIN) {
        memcpy(out, best, (size_t)es);
        if (idx) *idx = best_i;
        return;
    }
    if (op == TT_MEAN) acc /= (double)count;
    switch (dt) {
    case TT_F32: *(float *)out = (float)acc; break;
    case TT_F64: *(double *)out = acc; break;
    case TT_I64: *(int64_t *)out = iacc; break;
    case TT_BOOL: *(tbool *)out = acc != 0; break;
    }
}

typedef struct {
    tt_reduce_op op;
    const reduce_plan *pl;
    tt_dtype dt;
    const char *in;
    char *out;
    int64_t *idx;
} reduce_job;

/* Output elements [lo, hi), in the order of the kept dims. */
static void reduce_part(void *c, int64_t lo, int64_t hi)
{
    const reduce_job *j = c;
    const reduce_plan *pl = j->pl;
    int64_t es = (int64_t)tt__dtype_size(j->dt), pos[TT_MAX_DIMS] = {0};
    const char *ip = j->in;
    char *op_ = j->out;
    int64_t *xp = j->idx;
    int64_t q = lo; /* the kept position of output lo */
    for (int d = pl->nkeep - 1; d >= 0; d--) {
        pos[d] = q % pl->kshape[d];
        q /= pl->kshape[d];
        ip += pos[d] * pl->kin[d] * es;
        op_ += pos[d] * pl->kout[d] * es;
        if (xp) xp += pos[d] * pl->kidx[d];
    }
    for (int64_t k = lo; k < hi; k++) {
        reduce_one(j->op, pl, j->dt, ip, op_, xp);
        for (int d = pl->nkeep - 1; d >= 0; d--) {
            ip += pl->kin[d] * es;
            op_ += pl->kout[d] * es;
            if (xp) xp += pl->kidx[d];
            if (++pos[d] < pl->kshape[d]) break;
            ip -= pl->kin[d] * es * pl->kshape[d];
            op_ -= pl->kout[d] * es * pl->kshape[d];
            if (xp) xp -= pl->kidx[d] * pl->kshape[d];
            pos[d] = 0;
        }
    }
}

/* The reduction's plan: kept dims (index the output) and reduced ones. */
static void reduce_plan_make(const tt_kview *out, const tt_kview *in, const tt_kview *idx, reduce_plan *pl)
{
    pl->nkeep = pl->nred = 0; /* (every read of the arrays stays below these counts) */
    for (int d = 0; d < in->ndim; d++) {
        if (in->shape[d] == 1) continue;
        if (out->shape[d] == 1) {
            /* a reduced dim that continues the previous one merges with it (same elements, same order) */
            if (pl->nred > 0 && pl->rin[pl->nred - 1] == in->strides[d] * in->shape[d]) {
                pl->rshape[pl->nred - 1] *= in->shape[d];
                pl->rin[pl->nred - 1] = in->strides[d];
                continue;
            }
            pl->rshape[pl->nred] = in->shape[d];
            pl->rin[pl->nred++] = in->strides[d];
        } else {
            pl->kshape[pl->nkeep] = in->shape[d];
            pl->kin[pl->nkeep] = in->strides[d];
            pl->kout[pl->nkeep] = out->strides[d];
            pl->kidx[pl->nkeep++] = idx ? idx->strides[d] : 0;
        }
    }
}

static tt_status reduce_run(tt_reduce_op op, const reduce_plan *pl, tt_dtype dt, const char *in, char *out,
                            int64_t *idx)
{
    int64_t nout = 1, count = 1;
    for (int d = 0; d < pl->nkeep; d++) nout *= pl->kshape[d];
    for (int d = 0; d < pl->nred; d++) count *= pl->rshape[d];
    /* One long floating sum: its blocks go to the threads. */
    if (nout == 1 && pl->nred == 1 && (op == TT_SUM || op == TT_MEAN) && (dt == TT_F32 || dt == TT_F64)) {
        double sum;
        if (!row_sum_parallel(dt, in, count, pl->rin[0], &sum))
            return tt_set_error(TT_ENOMEM, "out of memory in %s", op == TT_SUM ? "sum" : "mean");
        if (op == TT_MEAN) sum /= (double)count;
        if (dt == TT_F32) *(float *)out = (float)sum;
        else *(double *)out = sum;
        return TT_OK;
    }
    /* Otherwise the output elements go to the threads: each is reduced alone. */
    reduce_job j = {op, pl, dt, in, out, idx};
    parallel_for(nout, nout * count, 1, reduce_part, &j);
    return TT_OK;
}

static tt_status cpu_reduce(tt_reduce_op op, const tt_kview *out, const tt_kview *in, const tt_kview *idx)
{
    reduce_plan pl;
    reduce_plan_make(out, in, idx, &pl);
    return reduce_run(op, &pl, in->dtype, element_base(in), element_base(out),
                      idx ? (int64_t *)element_base(idx) : NULL);
}

/* ---- indexing ----------------------------------------------------------------- */
/* Walks the elements of `walk` (out to select, in to add) in row-major order,
 * so that repeated indices add up in order of i. */
static tt_status cpu_index(const tt_kview *out, const tt_kview *in, const tt_kview *idx, int dim, bool add)
{
    const tt_kview *walk = add ? in : out;
    int64_t es = (int64_t)tt__dtype_size(out->dtype), pos[TT_MAX_DIMS] = {0}, n = 1;
    for (int d = 0; d < walk->ndim; d++) n *= walk->shape[d];
    const int64_t *ix = (const int64_t *)element_base(idx);
    for (int64_t e = 0; e < n; e++) {
        int64_t oo = 0, io = 0;
        for (int d = 0; d < walk->ndim; d++) {
            int64_t p = pos[d], q = d == dim ? ix[pos[d] * idx->strides[0]] : pos[d]; /* q: the indexed side */
            oo += (add ? q : p) * out->strides[d];
            io += (add ? p : q) * in->strides[d];
        }
        char *o = element_base(out) + oo * es;
        const char *x = element_base(in) + io * es;
        if (!add) memcpy(o, x, (size_t)es);
        else if (out->dtype == TT_F32) *(float *)o += *(const float *)x;
        else if (out->dtype == TT_F64) *(double *)o += *(const double *)x;
        else *(int64_t *)o = (int64_t)((uint64_t) * (int64_t *)o + (uint64_t) * (const int64_t *)x);
        for (int d = walk->ndim - 1; d >= 0 && ++pos[d] == walk->shape[d]; d--) pos[d] = 0;
    }
    return TT_OK;
}

/* ---- matmul ----------------------------------------------------------------- */
/* How BLAS can read a strided matrix: row-major with leading dimension ld,
 * possibly transposed; false when neither layout fits (then we pack it). */
static bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, CBLAS_TRANSPOSE *tr, int64_t *ld)
{
    if (cols == 1) cs = 1; /* a stride over a single element is irrelevant */
    if (rows == 1) rs = cols;
    if (cs == 1 && rs >= (cols > 1 ? cols : 1)) {
        *tr = CblasNoTrans;
        *ld = rs;
        return true;
    }
    if (rs == 1 && cs >= (rows > 1 ? rows : 1)) {
        *tr = CblasTrans;
        *ld = cs;
        return true;
    }
    return false;
}

/* A contiguous copy of matrix b of a 3-D view (rows x cols). */
static void *pack(const tt_kview *v, int64_t b)
{
    int64_t r = v->shape[1], c = v->shape[2], es = (int64_t)tt__dtype_size(v->dtype);
    char *dst = malloc((size_t)(r * c * es));
    if (!dst) return NULL;
    const char *src = element_base(v) + b * v->strides[0] * es;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            memcpy(dst + (i * c + j) * es, src + (i * v->strides[1] + j * v->strides[2]) * es, (size_t)es);
    return dst;
}

static tt_status cpu_matmul(const tt_kview *out, const tt_kview *a, const tt_kview *b)
{
    int64_t B = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
    int64_t es = (int64_t)tt__dtype_size(out->dtype);
    for (int64_t i = 0; i < B; i++) {
        char *o = element_base(out) + i * out->strides[0] * es;
        if (K == 0) {
            memset(o, 0, (size_t)(M * N * es));
            continue;
        }
        CBLAS_TRANSPOSE ta, tb;
        int64_t lda, ldb;
        void *pa = NULL, *pb = NULL;
        const void *ma = element_base(a) + i * a->strides[0] * es, *mb = element_base(b) + i * b->strides[0] * es;
        if (!blas_layout(M, K, a->strides[1], a->strides[2], &ta, &lda)) {
            if (!(pa = pack(a, i))) return tt_set_error(TT_ENOMEM, "out of memory in matmul");
            ma = pa;
            ta = CblasNoTrans;
            lda = K;
        }
        if (!blas_layout(K, N, b->strides[1], b->strides[2], &tb, &ldb)) {
            if (!(pb = pack(b, i))) {
                free(pa);
                return tt_set_error(TT_ENOMEM, "out of memory in matmul");
            }
            mb = pb;
            tb = CblasNoTrans;
            ldb = N;
        }
        tt_status st = tt__gemm(out->dtype, ta, tb, (int)M, (int)N, (int)K, ma, (int)lda, mb, (int)ldb, o, (int)N);
        free(pa);
        free(pb);
        if (st) return st;
    }
    return TT_OK;
}

/* ---- slices along one dim: scans, softmax ------------------------------------ */
/* One slice of out and in along a dim: its first elements, length, and byte
 * strides. */
typedef struct {
    char *o;
    const char *i;
    int64_t len, so, si;
} slice;
typedef void (*slice_fn)(const void *ctx, tt_dtype dt, const slice *sl);

/* fn on every slice along dim: each position of the other dims. */
static void for_each_slice(const tt_kview *out, const tt_kview *in, int dim, slice_fn fn, const void *ctx)
{
    tt_kview o = *out, i = *in;
    int64_t es = (int64_t)tt__dtype_size(in->dtype);
    slice sl = {NULL, NULL, in->ndim ? in->shape[dim] : 1, in->ndim ? out->strides[dim] * es : 0,
                in->ndim ? in->strides[dim] * es : 0};
    if (in->ndim) o.shape[dim] = i.shape[dim] = 1;
    nd_iter it;
    const tt_kview *v[2] = {&o, &i};
    iter_init(&it, 2, v);
    int64_t total = 1, pos[TT_MAX_DIMS] = {0};
    for (int d = 0; d < it.ndim; d++) total *= it.shape[d];
    char *po = it.base[0], *pi = it.base[1];
    for (int64_t k = 0; k < total; k++) {
        sl.o = po;
        sl.i = pi;
        fn(ctx, in->dtype, &sl);
        for (int d = it.ndim - 1; d >= 0; d--) {
            po += it.strides[0][d];
            pi += it.strides[1][d];
            if (++pos[d] < it.shape[d]) break;
            po -= it.strides[0][d] * it.shape[d];
            pi -= it.strides[1][d] * it.shape[d];
            pos[d] = 0;
        }
    }
}

typedef struct {
    tt_scan_op op;
    bool reverse;
} scan_ctx;

/* In order (or from the end); floating sums accumulate in double and round
 * each output, as PyTorch's CPU cumsum; int64 sums wrap. */
static void scan_slice(const void *c, tt_dtype dt, const slice *sl)
{
    const scan_ctx *k = c;
    double acc = 0;
    uint64_t iacc = 0;
    for (int64_t r = 0; r < sl->len; r++) {
        int64_t j = k->reverse ? sl->len - 1 - r : r;
        const char *x = sl->i + j * sl->si;
        char *y = sl->o + j * sl->so;
        switch (k->op) {
        case TT_CUMSUM:
            if (dt == TT_I64) {
                iacc += (uint64_t) * (const int64_t *)x;
                *(int64_t *)y = (int64_t)iacc;
            } else {
                acc += read_f(dt, x);
                if (dt == TT_F32) *(float *)y = (float)acc;
                else *(double *)y = acc;
            }
            break;
        case TT_NUM_SCAN: break;
        }
    }
}

static tt_status cpu_scan(tt_scan_op op, const tt_kview *out, const tt_kview *in, int dim, bool reverse)
{
    scan_ctx c = {op, reverse};
    for_each_slice(out, in, dim, scan_slice, &c);
    return TT_OK;
}

static void softmax_slice(const void *c, tt_dtype dt, const slice *sl)
{
    bool log_ = *(const bool *)c;
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < sl->len; j++) {
        double x = read_f(dt, sl->i + j * sl->si);
        if (x > mx || x != x) mx = x;
    }
    for (int64_t j = 0; j < sl->len; j++) sum += exp(read_f(dt, sl->i + j * sl->si) - mx);
    double lse = log(sum);
    for (int64_t j = 0; j < sl->len; j++) {
        double x = read_f(dt, sl->i + j * sl->si) - mx;
        double y = log_ ? x - lse : exp(x) / sum;
        if (dt == TT_F32) *(float *)(sl->o + j * sl->so) = (float)y;
        else *(double *)(sl->o + j * sl->so) = y;
    }
}

static tt_status cpu_softmax(const tt_kview *out, const tt_kview *in, int dim, bool log_)
{
    for_each_slice(out, in, dim, softmax_slice, &log_);
    return TT_OK;
}

/* ---- replay: an elementwise call with its iteration worked out once ---------------- */
typedef struct {
    tt_kcall_kind kind;
    /* a reduction: its plan and pointers */
    reduce_plan rp;
    tt_reduce_op rop;
    tt_dtype dt;
    const char *in;
    char *out;
    int64_t *idx;
    /* a sum or mean of one block (RBLOCK) into one element: its count and stride (else 0) */
    int64_t block_count, block_stride;
    /* random numbers: count into out, from gen (NULL: the thread's default) at its offset + delta */
    int64_t rng_count;
    tt_rng_dist dist;
    const tt_generator *gen;
    uint64_t delta;
    /* a matrix product of one batch whose operands BLAS takes as they are */
    CBLAS_TRANSPOSE ta, tb;
    int m, nn, k, lda, ldb;
    const char *b;
    /* elementwise */
    nd_iter it;
    row_fn fn;
    int64_t n; /* > 0: one row of n elements (small, serial): p and s as iter_rows passes them */
    char *p[MAX_OPS];
    int64_t s[MAX_OPS];
    union { /* the row function's context, as the entry points pass it */
        tt_unary_op unary;
        tt_binary_op binary;
        fill_ctx fill;
        clamp_ctx clamp;
        tt_dtype dtype;
    } ctx;
} cpu_prepared;

static void *cpu_prepare(const tt_kcall *k)
{
    static const row_fn unary_rows[TT_NUM_DTYPES] = {[TT_F32] = unary_f32, [TT_F64] = unary_f64, [TT_I64] = unary_i64};
    static const row_fn binary_rows[TT_NUM_DTYPES] = {
        [TT_F32] = binary_f32, [TT_F64] = binary_f64, [TT_I64] = binary_i64, [TT_BOOL] = binary_bool};
    cpu_prepared *p = malloc(sizeof *p);
    if (!p) return NULL;
    const tt_kview *const *v = k->v;
    row_fn fn = NULL;
    p->kind = k->kind;
    if (k->kind == TT_KCALL_REDUCE) {
        reduce_plan_make(v[0], v[1], k->nv > 2 ? v[2] : NULL, &p->rp);
        p->rop = (tt_reduce_op)k->op, p->dt = v[1]->dtype;
        p->in = element_base(v[1]), p->out = element_base(v[0]);
        p->idx = k->nv > 2 ? (int64_t *)element_base(v[2]) : NULL;
        int64_t nout = 1, count = 1;
        for (int d = 0; d < p->rp.nkeep; d++) nout *= p->rp.kshape[d];
        for (int d = 0; d < p->rp.nred; d++) count *= p->rp.rshape[d];
        bool one_block = nout == 1 && p->rp.nred == 1 && count > 0 && count <= RBLOCK;
        bool summed = (p->rop == TT_SUM || p->rop == TT_MEAN) && (p->dt == TT_F32 || p->dt == TT_F64);
        p->block_count = one_block && summed ? count : 0;
        p->block_stride = p->rp.nred ? p->rp.rin[0] : 0;
        return p;
    }
    if (k->kind == TT_KCALL_RNG) {
        p->out = element_base(v[0]), p->dt = v[0]->dtype;
        p->rng_count = 1;
        for (int d = 0; d < v[0]->ndim; d++) p->rng_count *= v[0]->shape[d];
        p->dist = (tt_rng_dist)k->op, p->gen = k->gen, p->delta = k->delta;
        return p;
    }
    if (k->kind == TT_KCALL_MATMUL) { /* as cpu_matmul, for one batch that needs no packing */
        int64_t M = v[0]->shape[1], N = v[0]->shape[2], K = v[1]->shape[2], lda, ldb;
        if (v[0]->shape[0] != 1 || K == 0 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX ||
            !blas_layout(M, K, v[1]->strides[1], v[1]->strides[2], &p->ta, &lda) ||
            !blas_layout(K, N, v[2]->strides[1], v[2]->strides[2], &p->tb, &ldb)) {
            free(p);
            return NULL;
        }
        p->dt = v[0]->dtype, p->m = (int)M, p->nn = (int)N, p->k = (int)K, p->lda = (int)lda, p->ldb = (int)ldb;
        p->in = element_base(v[1]), p->out = element_base(v[0]), p->b = element_base(v[2]);
        return p;
    }
    switch (k->kind) {
    case TT_KCALL_COPY: fn = copy_rows[v[0]->dtype][v[1]->dtype]; break;
    case TT_KCALL_FILL:
        p->ctx.fill = (fill_ctx){v[0]->dtype, k->a};
        fn = fill_row;
        break;
    case TT_KCALL_UNARY: /* the checks of cpu_unary: a call that failed has no ready form */
        if (v[1]->dtype != TT_I64 || tt__unary_int64_kernel((tt_unary_op)k->op)) fn = unary_rows[v[1]->dtype];
        p->ctx.unary = (tt_unary_op)k->op;
        break;
    case TT_KCALL_BINARY: /* an int64 pow reads its exponents first, each time */
        if (v[1]->dtype != TT_I64 || k->op != TT_POW) fn = binary_rows[v[1]->dtype];
        p->ctx.binary = (tt_binary_op)k->op;
        break;
    case TT_KCALL_WHERE:
        p->ctx.dtype = v[0]->dtype;
        fn = where_row;
        break;
    case TT_KCALL_CLAMP:
        p->ctx.clamp = (clamp_ctx){v[1]->dtype, k->a, k->b};
        fn = clamp_row;
        break;
    case TT_KCALL_REDUCE:
    case TT_KCALL_MATMUL:
    case TT_KCALL_RNG: break;
    }
    if (!fn) {
        free(p);
        return NULL;
    }
    p->fn = fn;
    p->dt = v[k->nv - 1]->dtype; /* an input's (a fill's out) */
    iter_init(&p->it, k->nv, v);
    p->n = p->it.ndim == 0 ? 1 : p->it.ndim == 1 && p->it.shape[0] < PAR_MIN ? p->it.shape[0] : 0;
    for (int i = 0; i < p->it.nops; i++) {
        p->p[i] = p->it.base[i];
        p->s[i] = p->it.ndim ? p->it.strides[i][0] : 0;
    }
    return p;
}

#define CPU_CHAIN ((tt_kcall_kind)(TT_KCALL_RNG + 100)) /* a chain's kind (below): not a call's */
static tt_status chain_run(const void *chain);

static tt_status cpu_run_prepared(const void *prepared)
{
    const cpu_prepared *p = prepared;
    if (p->kind == CPU_CHAIN) return chain_run(prepared);
    if (p->kind == TT_KCALL_REDUCE) {
        if (!p->block_count) return reduce_run(p->rop, &p->rp, p->dt, p->in, p->out, p->idx);
        /* reduce_run's sum of one block (row_sum: 0 + the block's sum), without its walk over the plan */
        double sum = 0.0 + block_sum(p->dt, p->in, p->block_count, p->block_stride);
        if (p->rop == TT_MEAN) sum /= (double)p->block_count;
        if (p->dt == TT_F32) *(float *)p->out = (float)sum;
        else *(double *)p->out = sum;
        return TT_OK;
    }
    if (p->kind == TT_KCALL_RNG) {
        const tt_generator *g = p->gen ? p->gen : tt_default_generator();
        tt__cpu_rng_fill(p->out, p->rng_count, p->dt, p->dist, g->seed, g->offset + p->delta);
        return TT_OK;
    }
    if (p->kind == TT_KCALL_MATMUL)
        return tt__gemm(p->dt, p->ta, p->tb, p->m, p->nn, p->k, p->in, p->lda, p->b, p->ldb, p->out, p->nn);
    if (p->n) {
        char *ptr[MAX_OPS]; /* a row function may not keep its pointers, but it takes them writable */
        memcpy(ptr, p->p, sizeof ptr);
        p->fn(&p->ctx, p->n, ptr, p->s);
    } else run_iter(&p->it, p->fn, &p->ctx);
    return TT_OK;
}

/* ---- replay: consecutive ready calls merged, elementwise chains fused ------------- *
 * A chain runs its members in their order without a trip through the tape and
 * the entry points for each. Consecutive elementwise members of one row of the
 * same length form a fused segment: they run block by block (every member on
 * elements [0, 1024), then every member on the next block), so a long chain's
 * intermediates are reused from the L1 cache, each still rounded to its dtype
 * and written where the separate calls wrote it. A block of one element sees
 * each member's inputs exactly as the separate calls did, unless a member
 * reads at another index what an other member writes (a broadcast of an
 * intermediate, an offset view): such a segment runs each member whole. The
 * plain arithmetic (+ - * / and a scalar power of float32 and float64 rows)
 * runs in loops with the operands' layout worked out once. */
#define FUSE_BLOCK 1024

/* The arithmetic of BINARY_FLOAT_ROW on rows whose layout is known: each
 * input a row (v) or one element broadcast (s). Leaf functions, one per op,
 * dtype and layout, so that a call on 8 elements costs about its loop. */
typedef void (*fast_fn)(int64_t n, char *const *p);
/* A broadcast input is read once, before the loop, as LOOP2 reads it: the
 * out may be that very element (in place). */
#define FAST_FN(NAME, T, EXPR, BEFORE, INSIDE)                \
    VECTOR_CLONES static void NAME(int64_t n, char *const *p) \
    {                                                         \
        T *o_ = (T *)p[0];                                    \
        const T *a_ = (const T *)p[1], *b_ = (const T *)p[2]; \
        BEFORE;                                               \
        SIMD for (int64_t i = 0; i < n; i++)                  \
        {                                                     \
            INSIDE;                                           \
            o_[i] = (EXPR);                                   \
        }                                                     \
    }
#define FAST_FNS(T, OP, EXPR)                                               \
    FAST_FN(fast_##OP##_vv_##T, T, EXPR, (void)0, T x = a_[i]; T y = b_[i]) \
    FAST_FN(fast_##OP##_vs_##T, T, EXPR, const T y = b_[0], T x = a_[i])    \
    FAST_FN(fast_##OP##_sv_##T, T, EXPR, const T x = a_[0], T y = b_[i])
/* pow by a broadcast exponent, as BINARY_FLOAT_ROW: x^2 as x * x and x^1 as
 * x, the exponent read at each run (it may be a buffer the step writes) */
#define FAST_POW(T)                                                   \
    VECTOR_CLONES static void fast_sq_##T(int64_t n, char *const *p)  \
    {                                                                 \
        T *o_ = (T *)p[0];                                            \
        const T *a_ = (const T *)p[1];                                \
        SIMD for (int64_t i = 0; i < n; i++) o_[i] = a_[i] * a_[i];   \
    }                                                                 \
    static void fast_pow_vs_##T(int64_t n, char *const *p)            \
    {                                                                 \
        T *o_ = (T *)p[0];                                            \
        const T *a_ = (const T *)p[1], y = *(const T *)p[2];          \
        if (y == 2) fast_sq_##T(n, p);                                \
        else if (y == 1) memmove(o_, a_, sizeof(T) * (size_t)n);      \
        else                                                          \
            for (int64_t i = 0; i < n; i++) o_[i] = (T)pow(a_[i], y); \
    }
#define FAST_TYPE(T)        \
    FAST_FNS(T, add, x + y) \
    FAST_FNS(T, sub, x - y) \
    FAST_FNS(T, mul, x *y)  \
    FAST_FNS(T, div, x / y) \
    FAST_POW(T)
typedef float f32;
typedef double f64;
FAST_TYPE(f32)
FAST_TYPE(f64)
#define FAST_OPS(T)                                                                                               \
    {                                                                                                             \
        [TT_ADD] = {fast_add_vv_##T, fast_add_vs_##T, fast_add_sv_##T},                                           \
        [TT_SUB] = {fast_sub_vv_##T, fast_sub_vs_##T, fast_sub_sv_##T},                                           \
        [TT_MUL] = {fast_mul_vv_##T, fast_mul_vs_##T, fast_mul_sv_##T},                                           \
        [TT_DIV] = {fast_div_vv_##T, fast_div_vs_##T, fast_div_sv_##T}, [TT_POW] = {NULL, fast_pow_vs_##T, NULL}, \
    }

typedef struct {
    const cpu_prepared *call;
    bool elementwise; /* one serial row of n elements */
    fast_fn fast;     /* NULL: the row function */
    row_fn fn;
    const void *ctx;
    int64_t n;
    char *p[MAX_OPS];
    int64_t s[MAX_OPS];
    int nops;
    int seg;       /* at a fused segment's first member: members in the segment */
    int64_t block; /* and the elements of a block */
} chain_member;

typedef struct {
    tt_kcall_kind kind; /* CPU_CHAIN */
    int n;
    chain_member m[];
} cpu_chain;

static void chain_member_init(chain_member *m, const cpu_prepared *p)
{
    static const fast_fn fast[2][TT_POW + 1][3] = {FAST_OPS(f32), FAST_OPS(f64)};
    *m = (chain_member){.call = p};
    m->elementwise = p->kind != TT_KCALL_REDUCE && p->kind != TT_KCALL_MATMUL && p->kind != TT_KCALL_RNG && p->n > 0;
    if (!m->elementwise) return;
    m->fn = p->fn, m->ctx = &p->ctx, m->n = p->n, m->nops = p->it.nops;
    for (int k = 0; k < m->nops; k++) m->p[k] = p->p[k], m->s[k] = p->s[k];
    int op = (int)p->ctx.binary;
    int64_t es = p->dt == TT_F32 ? 4 : p->dt == TT_F64 ? 8 : 0;
    if (p->kind != TT_KCALL_BINARY || !es || op > TT_POW) return;
    int pattern;
    if (p->n == 1) pattern = op == TT_POW ? 1 : 0; /* every stride 0: index 0 only */
    else if (p->s[0] != es) return;
    else if (p->s[1] == es && p->s[2] == es) pattern = 0;
    else if (p->s[1] == es && p->s[2] == 0) pattern = 1;
    else if (p->s[1] == 0 && p->s[2] == es) pattern = 2;
    else return;
    m->fast = fast[es == 8][op][pattern];
}

/* Whether any view of member a and the out of member b share bytes without
 * being the same elements at each index (a member's out against its own
 * inputs too: a loop that reads what it wrote is left whole). */
static bool cross_index(const chain_member *a, const chain_member *b)
{
    const char *w = b->p[0], *wend = w + (b->s[0] ? b->n * b->s[0] : 8);
    for (int k = a == b; k < a->nops; k++) { /* a member's own out: only against its inputs */
        const char *v = a->p[k], *vend = v + (a->s[k] ? a->n * a->s[k] : 8); /* a broadcast: at most 8 bytes */
        bool overlap = v < wend && w < vend;
        if (overlap && !(v == w && a->s[k] == b->s[0] && b->s[0] != 0)) return true;
    }
    return false;
}

static void *cpu_fuse(void *const *prepared, int n, int *taken)
{
    *taken = 0;
    if (n < 2) return NULL;
    cpu_chain *c = malloc(sizeof *c + sizeof(chain_member) * (size_t)n);
    if (!c) return NULL;
    c->kind = CPU_CHAIN;
    c->n = n;
    for (int i = 0; i < n; i++) chain_member_init(&c->m[i], prepared[i]);
    for (int i = 0; i < n;) {
        chain_member *m = &c->m[i];
        int end = i + 1;
        if (m->elementwise)
            while (end < n && c->m[end].elementwise && c->m[end].n == m->n) end++;
        m->seg = end - i;
        m->block = m->n > FUSE_BLOCK ? FUSE_BLOCK : m->n;
        if (m->elementwise && m->n > FUSE_BLOCK)
            for (int a = i; a < end && m->block < m->n; a++)
                for (int b = i; b < end; b++)
                    if (cross_index(&c->m[a], &c->m[b])) {
                        m->block = m->n; /* each member whole */
                        break;
                    }
        i = end;
    }
    *taken = n;
    return c;
}

static void chain_run_member(const chain_member *m, int64_t off, int64_t len)
{
    char *ptr[MAX_OPS];
    for (int k = 0; k < m->nops; k++) ptr[k] = m->p[k] + off * m->s[k];
    if (m->fast) m->fast(len, ptr);
    else m->fn(m->ctx, len, ptr, m->s);
}

static tt_status chain_run(const void *chain)
{
    const cpu_chain *c = chain;
    for (int i = 0; i < c->n;) {
        const chain_member *m = &c->m[i];
        if (!m->elementwise) {
            tt_status st = cpu_run_prepared(m->call);
            if (st != TT_OK) return st;
            i++;
            continue;
        }
        int end = i + m->seg;
        if (m->block == m->n) /* one block: each member whole, in order */
            for (int j = i; j < end; j++) {
                const chain_member *e = &c->m[j];
                if (e->fast) e->fast(e->n, e->p);
                else {
                    char *ptr[MAX_OPS];
                    memcpy(ptr, e->p, sizeof ptr);
                    e->fn(e->ctx, e->n, ptr, e->s);
                }
            }
        else
            for (int64_t off = 0; off < m->n; off += m->block)
                for (int j = i; j < end; j++)
                    chain_run_member(&c->m[j], off, m->n - off < m->block ? m->n - off : m->block);
        i = end;
    }
    return TT_OK;
}

static void cpu_free_prepared(void *prepared)
{
    cpu_chain *c = prepared;
    if (c && c->kind == CPU_CHAIN)
        for (int i = 0; i < c->n; i++) free((void *)c->m[i].call);
    free(prepared);
}

const tt_backend tt_cpu_backend = {
    .name = "cpu",
    .type = TT_DEVICE_CPU,
    .inplace = true, /* each output element is written after its inputs are read */
    .host_memory = true,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_host = cpu_to_host,
    .from_host = cpu_from_host,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .rng = tt__cpu_rng,
    .unary = cpu_unary,
    .binary = cpu_binary,
    .binary_flat = cpu_binary_flat,
    .where = cpu_where,
    .clamp = cpu_clamp,
    .reduce = cpu_reduce,
    .scan = cpu_scan,
    .index = cpu_index,
    .matmul = cpu_matmul,
    .softmax = cpu_softmax,
    .line_sums = cpu_line_sums,
    .prepare = cpu_prepare,
    .run_prepared = cpu_run_prepared,
    .free_prepared = cpu_free_prepared,
    .fuse = cpu_fuse,
};
