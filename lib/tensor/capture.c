/* Kernel capture and replay (see capture.h). A tape is the list of backend
 * calls one step made, each with its views (buffer, dtype, shape, strides,
 * offset) and scalars, and the storages behind those buffers, retained so
 * that no buffer is freed or reused while the tape lives. Replaying calls the
 * same kernels on the same views: the same arithmetic in the same order, so
 * the same bits, without the op layer (no allocation, broadcasting, promotion
 * or graph recording).
 *
 * Two passes shorten a finished tape without changing a bit of what it
 * computes: a call that writes a buffer of the step's own once, from
 * constants (a fill, an upload, or a kernel of such buffers), is dropped
 * because the buffer keeps its value between replays; a call whose outputs
 * nobody can read (a buffer of the step's own, held by the tape alone, read by
 * no later call) is dropped too. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/capture.h"
#include "tensor/internal.h"

typedef enum {
    K_COPY,
    K_FILL,
    K_RNG,
    K_UNARY,
    K_BINARY,
    K_WHERE,
    K_CLAMP,
    K_REDUCE,
    K_SCAN,
    K_INDEX,
    K_MATMUL,
    K_SOFTMAX,
    K_TO_HOST,
    K_FROM_HOST
} rec_kind;

#define REC_MAX_VIEWS 4

typedef struct {
    rec_kind kind;
    int nv;    /* views: the written one first (reduce: out, in, then idx when flag) */
    int op;    /* the op's enum, or the rng's distribution */
    int dim;   /* scan, index, softmax */
    bool flag; /* scan: reverse; index: add; softmax: log; reduce: has idx */
    const tt_backend *be;
    tt_kview v[REC_MAX_VIEWS];
    int sto[REC_MAX_VIEWS];     /* the storage of each view, an index into the tape's */
    double a, b;                /* fill value; clamp bounds */
    int gen;                    /* rng: the generator's slot */
    uint64_t delta;             /* rng: the draw's offset from the generator's at the step's start */
    size_t byte_offset, nbytes; /* host transfers (sto[0] the buffer's storage) */
    void *host;                 /* from_host: the bytes uploaded; to_host: the bytes read */
    tt_dtype read_dtype;
    bool external_written_before; /* to_host: a buffer from outside was written before this read */
    void *prepared;               /* the backend's ready form of the call, or NULL */
    int covers;                   /* the later calls that ready form runs too (fused) */
} rec;

typedef struct {
    tt_storage *s;
    bool own;    /* made during the step */
    int writes;  /* replayed calls that write it */
    bool folded; /* holds a constant: its one writer was dropped */
} tape_storage;

#define MAX_GENS 8
struct tt__tape {
    uint32_t id;
    tt_backend proxy[2]; /* per device type, the recording tables */
    rec *recs;
    int nrecs, cap;
    tape_storage *sto;
    int nsto, sto_cap;
    /* buffer pointer -> storage index + 1, open addressing */
    void **hkeys;
    int *hvals;
    int hcap;
    /* generators drawn from: NULL stands for the replaying thread's default */
    tt_generator *gens[MAX_GENS];
    uint64_t gen_base[MAX_GENS], gen_used[MAX_GENS];
    int ngens;
    tt_generator *pending_gen;
    bool pending_gen_set;
    tt_dtype pending_read;
    tt_status failed; /* a refusal or an out-of-memory while recording */
    char failure[512];
    void *scratch; /* replay's host reads */
    size_t scratch_len;
};

_Thread_local tt__tape *tt__recording;
static atomic_uint_fast32_t next_id = 1;

/* ---- the storage table ---------------------------------------------------------------- */

static size_t hash_ptr(const void *p, int cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (size_t)(cap - 1);
}

static int lookup(const tt__tape *t, const void *buf)
{
    if (!t->hcap) return -1;
    for (size_t h = hash_ptr(buf, t->hcap);; h = (h + 1) & (size_t)(t->hcap - 1)) {
        if (!t->hkeys[h]) return -1;
        if (t->hkeys[h] == buf) return t->hvals[h] - 1;
    }
}

static void fail(tt__tape *t, tt_status st, const char *msg)
{
    if (t->failed) return;
    t->failed = st;
    snprintf(t->failure, sizeof t->failure, "%s", msg);
}

static bool hash_insert(tt__tape *t, void *buf, int idx)
{
    if (2 * (t->nsto + 1) > t->hcap) {
        int ncap = t->hcap ? 2 * t->hcap : 64;
        void **nk = calloc((size_t)ncap, sizeof *nk);
        int *nv = calloc((size_t)ncap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return false;
        }
        for (int i = 0; i < t->hcap; i++)
            if (t->hkeys[i]) {
                size_t h = hash_ptr(t->hkeys[i], ncap);
                while (nk[h]) h = (h + 1) & (size_t)(ncap - 1);
                nk[h] = t->hkeys[i];
                nv[h] = t->hvals[i];
            }
        free(t->hkeys);
        free(t->hvals);
        t->hkeys = nk, t->hvals = nv, t->hcap = ncap;
    }
    size_t h = hash_ptr(buf, t->hcap);
    while (t->hkeys[h]) h = (h + 1) & (size_t)(t->hcap - 1);
    t->hkeys[h] = buf;
    t->hvals[h] = idx + 1;
    return true;
}

void tt__capture_storage(tt_storage *s)
{
    tt__tape *t = tt__recording;
    if (lookup(t, s->buf) >= 0) return;
    if (t->nsto == t->sto_cap) {
        int ncap = t->sto_cap ? 2 * t->sto_cap : 32;
        tape_storage *n = realloc(t->sto, sizeof *n * (size_t)ncap);
        if (!n) return fail(t, TT_ENOMEM, "out of memory recording a step");
        t->sto = n, t->sto_cap = ncap;
    }
    if (!hash_insert(t, s->buf, t->nsto)) return fail(t, TT_ENOMEM, "out of memory recording a step");
    s->refcount++; /* the buffer lives (and is not reused) as long as the tape */
    t->sto[t->nsto++] = (tape_storage){.s = s, .own = s->capture == t->id};
}

uint32_t tt__capture_id(void) { return tt__recording ? tt__recording->id : 0; }

/* ---- recording ---------------------------------------------------------------------- */

static rec *push(tt__tape *t, rec_kind kind, int dev, int nv, const tt_kview *const *v)
{
    if (t->nrecs == t->cap) {
        int ncap = t->cap ? 2 * t->cap : 64;
        rec *n = realloc(t->recs, sizeof *n * (size_t)ncap);
        if (!n) return fail(t, TT_ENOMEM, "out of memory recording a step"), NULL;
        t->recs = n, t->cap = ncap;
    }
    rec *r = &t->recs[t->nrecs++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->be = tt_backend_for((tt_device_type)dev);
    r->nv = nv;
    for (int i = 0; i < nv; i++) {
        r->v[i] = *v[i];
        r->sto[i] = lookup(t, v[i]->buf);
        if (r->sto[i] < 0) fail(t, TT_ERUNTIME, "a kernel was given a buffer the capture did not see made");
    }
    return r;
}

#define REC(kind, dev, ...)                                                                           \
    push(tt__recording, kind, dev, (int)(sizeof((const tt_kview *[]){__VA_ARGS__}) / sizeof(void *)), \
         (const tt_kview *[]){__VA_ARGS__})

static tt_status rec_copy(int dev, const tt_kview *o, const tt_kview *i)
{
    REC(K_COPY, dev, o, i);
    return tt_backend_for((tt_device_type)dev)->copy(o, i);
}
static tt_status rec_fill(int dev, const tt_kview *o, double value)
{
    rec *r = REC(K_FILL, dev, o);
    if (r) r->a = value;
    return tt_backend_for((tt_device_type)dev)->fill(o, value);
}
static tt_status rec_rng(int dev, const tt_kview *o, tt_rng_dist dist, uint64_t seed, uint64_t offset)
{
    tt__tape *t = tt__recording;
    rec *r = REC(K_RNG, dev, o);
    if (r) {
        r->op = (int)dist;
        int g = 0;
        while (g < t->ngens && t->gens[g] != t->pending_gen) g++;
        if (!t->pending_gen_set) fail(t, TT_ERUNTIME, "a random draw reached the backend without its generator");
        else if (g == MAX_GENS) fail(t, TT_EUSAGE, "a captured step may draw from at most 8 generators");
        else {
            if (g == t->ngens) {
                t->gens[g] = t->pending_gen;
                t->gen_base[g] = offset;
                t->ngens++;
            }
            r->gen = g;
            r->delta = offset - t->gen_base[g];
            /* the step's advance of the generator, from its draws: the
             * generator itself may be gone when the capture ends (a step's own) */
            uint64_t n = 1;
            for (int d = 0; d < o->ndim; d++) n *= (uint64_t)o->shape[d];
            if (r->delta + n > t->gen_used[g]) t->gen_used[g] = r->delta + n;
        }
        t->pending_gen_set = false;
    }
    return tt_backend_for((tt_device_type)dev)->rng(o, dist, seed, offset);
}
static tt_status rec_unary(int dev, tt_unary_op op, const tt_kview *o, const tt_kview *i)
{
    rec *r = REC(K_UNARY, dev, o, i);
    if (r) r->op = (int)op;
    return tt_backend_for((tt_device_type)dev)->unary(op, o, i);
}
static tt_status rec_binary(int dev, tt_binary_op op, const tt_kview *o, const tt_kview *a, const tt_kview *b)
{
    rec *r = REC(K_BINARY, dev, o, a, b);
    if (r) r->op = (int)op;
    return tt_backend_for((tt_device_type)dev)->binary(op, o, a, b);
}
static tt_status rec_where(int dev, const tt_kview *o, const tt_kview *c, const tt_kview *a, const tt_kview *b)
{
    REC(K_WHERE, dev, o, c, a, b);
    return tt_backend_for((tt_device_type)dev)->where(o, c, a, b);
}
static tt_status rec_clamp(int dev, const tt_kview *o, const tt_kview *i, double lo, double hi)
{
    rec *r = REC(K_CLAMP, dev, o, i);
    if (r) r->a = lo, r->b = hi;
    return tt_backend_for((tt_device_type)dev)->clamp(o, i, lo, hi);
}
static tt_status rec_reduce(int dev, tt_reduce_op op, const tt_kview *o, const tt_kview *i, const tt_kview *idx)
{
    rec *r = idx ? REC(K_REDUCE, dev, o, i, idx) : REC(K_REDUCE, dev, o, i);
    if (r) r->op = (int)op, r->flag = idx != NULL;
    return tt_backend_for((tt_device_type)dev)->reduce(op, o, i, idx);
}
static tt_status rec_scan(int dev, tt_scan_op op, const tt_kview *o, const tt_kview *i, int dim, bool reverse)
{
    rec *r = REC(K_SCAN, dev, o, i);
    if (r) r->op = (int)op, r->dim = dim, r->flag = reverse;
    return tt_backend_for((tt_device_type)dev)->scan(op, o, i, dim, reverse);
}
static tt_status rec_index(int dev, const tt_kview *o, const tt_kview *i, const tt_kview *idx, int dim, bool add)
{
    rec *r = REC(K_INDEX, dev, o, i, idx);
    if (r) r->dim = dim, r->flag = add;
    return tt_backend_for((tt_device_type)dev)->index(o, i, idx, dim, add);
}
static tt_status rec_matmul(int dev, const tt_kview *o, const tt_kview *a, const tt_kview *b)
{
    REC(K_MATMUL, dev, o, a, b);
    return tt_backend_for((tt_device_type)dev)->matmul(o, a, b);
}
static tt_status rec_softmax(int dev, const tt_kview *o, const tt_kview *i, int dim, bool log)
{
    rec *r = REC(K_SOFTMAX, dev, o, i);
    if (r) r->dim = dim, r->flag = log;
    return tt_backend_for((tt_device_type)dev)->softmax(o, i, dim, log);
}

/* A host transfer: the storage of buf, and a copy of the bytes moved. */
static rec *push_host(tt__tape *t, rec_kind kind, int dev, const void *buf, size_t byte_offset, size_t nbytes)
{
    tt_kview v = {.buf = (void *)buf};
    rec *r = push(t, kind, dev, 1, (const tt_kview *[]){&v});
    if (!r) return NULL;
    r->nv = 0; /* not a view: the replay passes buf, byte_offset, nbytes */
    r->byte_offset = byte_offset, r->nbytes = nbytes;
    r->host = malloc(nbytes ? nbytes : 1);
    if (!r->host) fail(t, TT_ENOMEM, "out of memory recording a step");
    return r;
}
static tt_status rec_to_host(int dev, void *dst, const void *buf, size_t byte_offset, size_t nbytes)
{
    tt__tape *t = tt__recording;
    tt_status st = tt_backend_for((tt_device_type)dev)->to_host(dst, buf, byte_offset, nbytes);
    rec *r = push_host(t, K_TO_HOST, dev, buf, byte_offset, nbytes);
    if (r && r->host) memcpy(r->host, dst, nbytes), r->read_dtype = t->pending_read;
    t->pending_read = TT_F64;
    return st;
}
static tt_status rec_from_host(int dev, void *buf, size_t byte_offset, const void *src, size_t nbytes)
{
    rec *r = push_host(tt__recording, K_FROM_HOST, dev, buf, byte_offset, nbytes);
    if (r && r->host) memcpy(r->host, src, nbytes);
    return tt_backend_for((tt_device_type)dev)->from_host(buf, byte_offset, src, nbytes);
}

/* One set of entry points per device type: a kernel gets no pointer to its
 * table, so the type is in the function. The proxy must also turn off any
 * capability that lets the op layer hand a kernel memory a tape cannot keep
 * (a buffer on the caller's stack): every buffer a recorded call sees is kept
 * by its storage's reference until the tape is freed. */
#define PROXY_FNS(D)                                                                                       \
    static tt_status copy_##D(const tt_kview *o, const tt_kview *i) { return rec_copy(D, o, i); }          \
    static tt_status fill_##D(const tt_kview *o, double v) { return rec_fill(D, o, v); }                   \
    static tt_status rng_##D(const tt_kview *o, tt_rng_dist d, uint64_t s, uint64_t f)                     \
    {                                                                                                      \
        return rec_rng(D, o, d, s, f);                                                                     \
    }                                                                                                      \
    static tt_status unary_##D(tt_unary_op op, const tt_kview *o, const tt_kview *i)                       \
    {                                                                                                      \
        return rec_unary(D, op, o, i);                                                                     \
    }                                                                                                      \
    static tt_status binary_##D(tt_binary_op op, const tt_kview *o, const tt_kview *a, const tt_kview *b)  \
    {                                                                                                      \
        return rec_binary(D, op, o, a, b);                                                                 \
    }                                                                                                      \
    static tt_status where_##D(const tt_kview *o, const tt_kview *c, const tt_kview *a, const tt_kview *b) \
    {                                                                                                      \
        return rec_where(D, o, c, a, b);                                                                   \
    }                                                                                                      \
    static tt_status clamp_##D(const tt_kview *o, const tt_kview *i, double lo, double hi)                 \
    {                                                                                                      \
        return rec_clamp(D, o, i, lo, hi);                                                                 \
    }                                                                                                      \
    static tt_status reduce_##D(tt_reduce_op op, const tt_kview *o, const tt_kview *i, const tt_kview *x)  \
    {                                                                                                      \
        return rec_reduce(D, op, o, i, x);                                                                 \
    }                                                                                                      \
    static tt_status scan_##D(tt_scan_op op, const tt_kview *o, const tt_kview *i, int dim, bool rev)      \
    {                                                                                                      \
        return rec_scan(D, op, o, i, dim, rev);                                                            \
    }                                                                                                      \
    static tt_status index_##D(const tt_kview *o, const tt_kview *i, const tt_kview *x, int dim, bool add) \
    {                                                                                                      \
        return rec_index(D, o, i, x, dim, add);                                                            \
    }                                                                                                      \
    static tt_status matmul_##D(const tt_kview *o, const tt_kview *a, const tt_kview *b)                   \
    {                                                                                                      \
        return rec_matmul(D, o, a, b);                                                                     \
    }                                                                                                      \
    static tt_status softmax_##D(const tt_kview *o, const tt_kview *i, int dim, bool log)                  \
    {                                                                                                      \
        return rec_softmax(D, o, i, dim, log);                                                             \
    }                                                                                                      \
    static tt_status to_host_##D(void *dst, const void *buf, size_t off, size_t n)                         \
    {                                                                                                      \
        return rec_to_host(D, dst, buf, off, n);                                                           \
    }                                                                                                      \
    static tt_status from_host_##D(void *buf, size_t off, const void *src, size_t n)                       \
    {                                                                                                      \
        return rec_from_host(D, buf, off, src, n);                                                         \
    }                                                                                                      \
    static void proxy_##D(const tt_backend *real, tt_backend *p)                                           \
    {                                                                                                      \
        *p = *real;                                                                                        \
        p->line_sums = NULL;    /* host arrays: nothing a tape could replay */                             \
        p->host_memory = false; /* no wrapped number on the caller's stack: a tape keeps every buffer */   \
        p->prepare = NULL;                                                                                 \
        p->run_prepared = NULL;                                                                            \
        p->free_prepared = NULL;                                                                           \
        p->to_host = to_host_##D;                                                                          \
        p->from_host = from_host_##D;                                                                      \
        p->copy = copy_##D;                                                                                \
        p->fill = fill_##D;                                                                                \
        p->rng = real->rng ? rng_##D : NULL;                                                               \
        p->unary = real->unary ? unary_##D : NULL;                                                         \
        p->binary = real->binary ? binary_##D : NULL;                                                      \
        p->binary_flat = NULL; /* the op layer then calls binary, which records */                         \
        p->where = real->where ? where_##D : NULL;                                                         \
        p->clamp = real->clamp ? clamp_##D : NULL;                                                         \
        p->reduce = real->reduce ? reduce_##D : NULL;                                                      \
        p->scan = real->scan ? scan_##D : NULL;                                                            \
        p->index = real->index ? index_##D : NULL;                                                         \
        p->matmul = real->matmul ? matmul_##D : NULL;                                                      \
        p->softmax = real->softmax ? softmax_##D : NULL;                                                   \
    }
PROXY_FNS(0)
PROXY_FNS(1)
_Static_assert(TT_DEVICE_CPU == 0 && TT_DEVICE_VULKAN == 1, "one proxy per device type, by index");
/* A backend entry added to the table must be recorded here too (a wrapper in
 * PROXY_FNS, a kind, a replay case), or a captured step would call it unseen:
 * the table holds 22 functions from alloc on (the last four, prepare to
 * fuse, are the replay's own). */
_Static_assert(offsetof(tt_backend, alloc) + 22 * sizeof(void (*)(void)) == sizeof(tt_backend),
               "a new tt_backend entry needs recording in lib/tensor/capture.c");

const tt_backend *tt__capture_backend(tt_storage *s)
{
    tt__capture_storage(s);
    return &tt__recording->proxy[s->backend->type];
}

void tt__capture_rng(tt_generator *gen)
{
    tt__tape *t = tt__recording;
    t->pending_gen = gen == tt_default_generator() ? NULL : gen;
    t->pending_gen_set = true;
}

void tt__capture_read(tt_dtype dt) { tt__recording->pending_read = dt; }

tt_status tt__capture_refuse(const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg,
             "%s cannot be captured: its result's size depends on the data, which a replay cannot redo", what);
    fail(tt__recording, TT_EUSAGE, msg);
    return tt_set_error(TT_EUSAGE, "%s", msg);
}

tt_status tt__capture_begin(void)
{
    if (tt__recording) return tt_set_error(TT_EINVAL, "a capture is already in progress on this thread");
    tt__tape *t = calloc(1, sizeof *t);
    if (!t) return tt_set_error(TT_ENOMEM, "out of memory");
    t->id = (uint32_t)atomic_fetch_add(&next_id, 1);
    if (!t->id) t->id = (uint32_t)atomic_fetch_add(&next_id, 1); /* 0 means "made outside any capture" */
    proxy_0(tt_backend_for(TT_DEVICE_CPU), &t->proxy[0]);
    const tt_backend *vk = tt_backend_for(TT_DEVICE_VULKAN);
    if (vk) proxy_1(vk, &t->proxy[1]);
    t->pending_read = TT_F64;
    tt__recording = t;
    return TT_OK;
}

/* ---- finishing: the two passes ---------------------------------------------------- */

static int rec_writes(const rec *r, int *out)
{
    switch (r->kind) {
    case K_TO_HOST: return 0;
    case K_FROM_HOST: out[0] = r->sto[0]; return 1;
    case K_REDUCE:
        out[0] = r->sto[0];
        if (r->flag) return out[1] = r->sto[2], 2;
        return 1;
    default: out[0] = r->sto[0]; return 1;
    }
}

/* The storages a call reads (an in-place write reads its out too, when the
 * out is also an input, which then appears among the inputs). */
static int rec_reads(const rec *r, int *out)
{
    int n = 0;
    switch (r->kind) {
    case K_TO_HOST: out[n++] = r->sto[0]; break;
    case K_FROM_HOST:
    case K_FILL:
    case K_RNG: break;
    case K_REDUCE: out[n++] = r->sto[1]; break;
    case K_INDEX:
        out[n++] = r->sto[1], out[n++] = r->sto[2];
        if (r->flag) out[n++] = r->sto[0]; /* index_add adds into out */
        break;
    default:
        for (int i = 1; i < r->nv; i++) out[n++] = r->sto[i];
    }
    return n;
}

static void optimize(tt__tape *t)
{
    int w[2], rd[REC_MAX_VIEWS + 1];
    for (int i = 0; i < t->nrecs; i++)
        for (int k = rec_writes(&t->recs[i], w); k--;) t->sto[w[k]].writes++;
    /* constants: the one write of an own buffer, from constants */
    bool *drop = calloc((size_t)t->nrecs + 1, 1);
    if (!drop) return;
    for (int i = 0; i < t->nrecs; i++) {
        rec *r = &t->recs[i];
        int nw = rec_writes(r, w);
        if (nw != 1 || r->kind == K_RNG || r->kind == K_TO_HOST) continue;
        tape_storage *o = &t->sto[w[0]];
        if (!o->own || o->writes != 1) continue;
        bool constant = true;
        for (int k = rec_reads(r, rd); k--;) constant &= t->sto[rd[k]].folded;
        if (!constant) continue;
        o->folded = true;
        drop[i] = true;
    }
    /* dead calls: outputs only the tape holds, read by no later call. A buffer
     * read before any write in the tape carries a value from the previous
     * replay, so it stays live throughout. */
    bool *live = calloc((size_t)t->nsto + 1, 1), *written = calloc((size_t)t->nsto + 1, 1);
    if (live && written) {
        for (int i = 0; i < t->nrecs; i++) {
            if (drop[i]) continue;
            for (int k = rec_reads(&t->recs[i], rd); k--;)
                if (!written[rd[k]]) live[rd[k]] = true;
            for (int k = rec_writes(&t->recs[i], w); k--;) written[w[k]] = true;
        }
        for (int i = t->nrecs - 1; i >= 0; i--) {
            if (drop[i]) continue;
            rec *r = &t->recs[i];
            int nw = rec_writes(r, w);
            bool dead = nw > 0;
            for (int k = 0; k < nw; k++) {
                tape_storage *s = &t->sto[w[k]];
                dead &= s->own && s->s->refcount == 1 && !live[w[k]];
            }
            if (dead) {
                drop[i] = true;
                continue;
            }
            for (int k = rec_reads(r, rd); k--;) live[rd[k]] = true;
        }
    }
    free(live);
    free(written);
    int n = 0;
    for (int i = 0; i < t->nrecs; i++) {
        if (drop[i]) {
            free(t->recs[i].host);
            continue;
        }
        t->recs[n++] = t->recs[i];
    }
    t->nrecs = n;
    free(drop);
    for (int i = 0; i < t->nsto; i++) t->sto[i].writes = 0;
    for (int i = 0; i < t->nrecs; i++)
        for (int k = rec_writes(&t->recs[i], w); k--;) t->sto[w[k]].writes++;
}

/* The backends' ready forms of the calls (where they have them). */
static void prepare(tt__tape *t)
{
    static const int kinds[] = {[K_COPY] = TT_KCALL_COPY + 1,     [K_FILL] = TT_KCALL_FILL + 1,
                                [K_UNARY] = TT_KCALL_UNARY + 1,   [K_BINARY] = TT_KCALL_BINARY + 1,
                                [K_WHERE] = TT_KCALL_WHERE + 1,   [K_CLAMP] = TT_KCALL_CLAMP + 1,
                                [K_REDUCE] = TT_KCALL_REDUCE + 1, [K_MATMUL] = TT_KCALL_MATMUL + 1,
                                [K_RNG] = TT_KCALL_RNG + 1,       [K_FROM_HOST] = 0};
    for (int i = 0; i < t->nrecs; i++) {
        rec *r = &t->recs[i];
        if (!kinds[r->kind] || !r->be->prepare) continue;
        tt_kcall k = {.kind = (tt_kcall_kind)(kinds[r->kind] - 1), .op = r->op, .nv = r->nv, .a = r->a, .b = r->b};
        for (int j = 0; j < r->nv; j++) k.v[j] = &r->v[j];
        /* a draw's generator offsets stay those of the step's start until a replay ends (tt__tape_run) */
        if (r->kind == K_RNG) k.gen = t->gens[r->gen], k.delta = r->delta;
        r->prepared = r->be->prepare(&k);
    }
}

/* Runs of consecutive ready calls of one backend, merged (and elementwise
 * chains fused) where the backend can: one dispatch each in a replay. */
static void fuse(tt__tape *t)
{
    void **run = malloc(sizeof *run * (size_t)(t->nrecs + 1));
    if (!run) return; /* unfused replays are as correct */
    for (int i = 0; i < t->nrecs;) {
        rec *r = &t->recs[i];
        int n = 0;
        while (i + n < t->nrecs && t->recs[i + n].prepared && t->recs[i + n].be == r->be && r->be->fuse)
            run[n] = t->recs[i + n].prepared, n++;
        int taken = 0;
        void *fused = n > 1 ? r->be->fuse(run, n, &taken) : NULL;
        if (!fused) { /* the first call merges with nothing: the run may still from the next */
            i++;
            continue;
        }
        r->prepared = fused, r->covers = taken - 1;
        for (int k = 1; k < taken; k++) t->recs[i + k].prepared = NULL; /* owned by the fused form */
        i += taken;
    }
    free(run);
}

tt__tape *tt__capture_end(tt_status step_status)
{
    tt__tape *t = tt__recording;
    if (!t) {
        if (step_status == TT_OK) tt_set_error(TT_EINVAL, "no capture is in progress on this thread");
        return NULL;
    }
    tt__recording = NULL;
    if (step_status == TT_OK && t->failed) tt_set_error(t->failed, "%s", t->failure);
    if (step_status != TT_OK || t->failed) {
        tt__tape_free(t);
        return NULL;
    }
    optimize(t);
    /* whether a read may be redone eagerly: nothing from outside written before it */
    bool external = false;
    size_t most = 0;
    int w[2];
    for (int i = 0; i < t->nrecs; i++) {
        rec *r = &t->recs[i];
        if (r->kind == K_TO_HOST) {
            r->external_written_before = external;
            if (r->nbytes > most) most = r->nbytes;
        }
        for (int k = rec_writes(r, w); k--;) external |= !t->sto[w[k]].own;
    }
    prepare(t);
    fuse(t);
    t->scratch = malloc(most ? most : 1);
    t->scratch_len = most;
    if (!t->scratch) {
        tt_set_error(TT_ENOMEM, "out of memory");
        tt__tape_free(t);
        return NULL;
    }
    return t;
}

void tt__tape_free(tt__tape *t)
{
    if (!t) return;
    if (tt__recording == t) tt__recording = NULL;
    for (int i = 0; i < t->nrecs; i++) {
        free(t->recs[i].host);
        if (t->recs[i].prepared) t->recs[i].be->free_prepared(t->recs[i].prepared);
    }
    free(t->recs);
    for (int i = 0; i < t->nsto; i++) tt__storage_release(t->sto[i].s);
    free(t->sto);
    free(t->hkeys);
    free(t->hvals);
    free(t->scratch);
    free(t);
}

int tt__tape_kernels(const tt__tape *t) { return t->nrecs; }

int tt__tape_dispatches(const tt__tape *t)
{
    int n = 0;
    for (int i = 0; i < t->nrecs; i += 1 + t->recs[i].covers) n++;
    return n;
}

static const char *rec_name(const rec *r, char *buf, size_t len)
{
    switch (r->kind) {
    case K_COPY: return "copy";
    case K_FILL: return "fill";
    case K_RNG: return "random numbers";
    case K_UNARY: snprintf(buf, len, "%s", tt_unary_name((tt_unary_op)r->op)); return buf;
    case K_BINARY: snprintf(buf, len, "%s", tt_binary_name((tt_binary_op)r->op)); return buf;
    case K_WHERE: return "where";
    case K_CLAMP: return "clamp";
    case K_REDUCE: snprintf(buf, len, "%s", tt_reduce_name((tt_reduce_op)r->op)); return buf;
    case K_SCAN: snprintf(buf, len, "%s", tt_scan_name((tt_scan_op)r->op)); return buf;
    case K_INDEX: return r->flag ? "index_add" : "index";
    case K_MATMUL: return "matmul";
    case K_SOFTMAX: return r->flag ? "log_softmax" : "softmax";
    case K_TO_HOST: return "a read to the host";
    case K_FROM_HOST: return "an upload from the host";
    }
    return "?";
}

bool tt__tape_uses(const tt__tape *t, const tt_tensor *x, const char **writer)
{
    static _Thread_local char name[64];
    int s = lookup(t, x->storage->buf);
    *writer = NULL;
    if (s < 0) return false;
    int w[2];
    for (int i = 0; i < t->nrecs && !*writer; i++)
        for (int k = rec_writes(&t->recs[i], w); k--;)
            if (w[k] == s) *writer = rec_name(&t->recs[i], name, sizeof name);
    return true;
}

bool tt__tape_self_contained(const tt__tape *t)
{
    if (t->ngens) return false;
    int w[2];
    for (int i = 0; i < t->nrecs; i++)
        for (int k = rec_writes(&t->recs[i], w); k--;)
            if (!t->sto[w[k]].own) return false;
    return true;
}

/* ---- replay ------------------------------------------------------------------------- */

/* The values of a host read, as the step saw them ("3.5" or "[1, 2, ...]"). */
static void format_read(const void *bytes, size_t nbytes, tt_dtype dt, char *buf, size_t len)
{
    size_t es = tt_dtype_size(dt), n = nbytes / es, at = 0;
    if (n != 1) at += (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < n && i < 4 && at < len; i++) {
        const char *p = (const char *)bytes + i * es;
        double v = 0;
        switch (dt) {
        case TT_F32: v = *(const float *)p; break;
        case TT_F64: v = *(const double *)p; break;
        case TT_I64: v = (double)*(const int64_t *)p; break;
        case TT_BOOL: v = *(const uint8_t *)p; break;
        }
        at += (size_t)snprintf(buf + at, len - at, "%s%.17g", i ? ", " : "", v);
    }
    if (n > 4 && at < len) at += (size_t)snprintf(buf + at, len - at, ", ...");
    if (n != 1 && at < len) snprintf(buf + at, len - at, "]");
}

tt_status tt__tape_run(tt__tape *t, bool *restartable)
{
    if (tt__recording) /* its calls go straight to the backends: a capture would miss them */
        return tt_set_error(TT_EINVAL, "a plan cannot be replayed while a step is being captured");
    uint64_t base[MAX_GENS];
    for (int g = 0; g < t->ngens; g++) base[g] = (t->gens[g] ? t->gens[g] : tt_default_generator())->offset;
    int reads = 0;
    for (int i = 0; i < t->nrecs; i++) {
        const rec *r = &t->recs[i];
        const tt_backend *be = r->be;
        const tt_kview *v = r->v;
        tt_status st = TT_OK;
        if (r->prepared) {
            if ((st = be->run_prepared(r->prepared)) != TT_OK) {
                if (restartable) *restartable = false;
                return st;
            }
            i += r->covers;
            continue;
        }
        switch (r->kind) {
        case K_COPY: st = be->copy(&v[0], &v[1]); break;
        case K_FILL: st = be->fill(&v[0], r->a); break;
        case K_RNG: {
            const tt_generator *gen = t->gens[r->gen] ? t->gens[r->gen] : tt_default_generator();
            st = be->rng(&v[0], (tt_rng_dist)r->op, gen->seed, base[r->gen] + r->delta);
            break;
        }
        case K_UNARY: st = be->unary((tt_unary_op)r->op, &v[0], &v[1]); break;
        case K_BINARY: st = be->binary((tt_binary_op)r->op, &v[0], &v[1], &v[2]); break;
        case K_WHERE: st = be->where(&v[0], &v[1], &v[2], &v[3]); break;
        case K_CLAMP: st = be->clamp(&v[0], &v[1], r->a, r->b); break;
        case K_REDUCE: st = be->reduce((tt_reduce_op)r->op, &v[0], &v[1], r->flag ? &v[2] : NULL); break;
        case K_SCAN: st = be->scan((tt_scan_op)r->op, &v[0], &v[1], r->dim, r->flag); break;
        case K_INDEX: st = be->index(&v[0], &v[1], &v[2], r->dim, r->flag); break;
        case K_MATMUL: st = be->matmul(&v[0], &v[1], &v[2]); break;
        case K_SOFTMAX: st = be->softmax(&v[0], &v[1], r->dim, r->flag); break;
        case K_FROM_HOST: st = be->from_host(t->sto[r->sto[0]].s->buf, r->byte_offset, r->host, r->nbytes); break;
        case K_TO_HOST:
            reads++;
            st = be->to_host(t->scratch, t->sto[r->sto[0]].s->buf, r->byte_offset, r->nbytes);
            if (st == TT_OK && memcmp(t->scratch, r->host, r->nbytes)) {
                char was[160], now[160];
                format_read(r->host, r->nbytes, r->read_dtype, was, sizeof was);
                format_read(t->scratch, r->nbytes, r->read_dtype, now, sizeof now);
                if (restartable) *restartable = !r->external_written_before;
                return tt_set_error(TT_ERUNTIME,
                                    "the replayed step reads %s where the captured step read %s (host read %d of the "
                                    "step, after kernel %d of %d): the step may take another path now, so capture it "
                                    "again",
                                    now, was, reads, i, t->nrecs);
            }
            break;
        }
        if (st != TT_OK) {
            if (restartable) *restartable = false;
            return st;
        }
    }
    for (int g = 0; g < t->ngens; g++) (t->gens[g] ? t->gens[g] : tt_default_generator())->offset += t->gen_used[g];
    return TT_OK;
}
