/* Helpers shared by the files of libtensor; not part of the public API. */
#ifndef TG_TENSOR_INTERNAL_H
#define TG_TENSOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tensor/backend.h"
#include "tensor/capture.h"

/* A new tensor header over `storage` (retained). */
tt_tensor *tt__new_view(tt_storage *storage, tt_dtype dt, int ndim, const int64_t *shape, const int64_t *strides,
                        int64_t offset);
/* A view of t with another shape/strides/offset (same storage and dtype). */
tt_tensor *tt__restride(const tt_tensor *t, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset);
/* True when shape's element count fits in int64; else false with TT_EINVAL
 * "OP: a tensor of shape [...] would have more than ... elements" (no "OP: " when op is NULL). */
bool tt__numel_fits(int ndim, const int64_t *shape, const char *op);
void tt__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
static inline bool tt__is_floating(tt_dtype dt) { return dt == TT_F32 || dt == TT_F64; }
/* tt_numel, inline for the ops' hot paths. */
static inline int64_t tt__numel(const tt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* tt_is_contiguous and tt_device_of, inline for the ops' hot paths. */
static inline bool tt__is_contiguous(const tt_tensor *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 0) return true;
        if (t->shape[i] != 1 && t->strides[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}
static inline tt_device tt__device_of(const tt_tensor *t)
{
    return (tt_device){t->storage->backend->type, t->storage->device_index};
}

/* The views and backend an op hands a kernel (inline: every op makes a few).
 * While this thread captures, the storage is noted and the backend is the
 * capture's proxy. */
static inline void tt__kview(const tt_tensor *t, tt_kview *v)
{
    if (__builtin_expect(tt__recording != NULL, 0)) tt__capture_storage(t->storage);
    v->buf = t->storage->buf;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    v->offset = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        v->shape[i] = t->shape[i];
        v->strides[i] = t->strides[i];
    }
}

/* t's view broadcast to (ndim, shape) with stride 0 on expanded dims; t must broadcast. */
static inline void tt__kview_expanded(const tt_tensor *t, int ndim, const int64_t *shape, tt_kview *v)
{
    if (__builtin_expect(tt__recording != NULL, 0)) tt__capture_storage(t->storage);
    v->buf = t->storage->buf;
    v->dtype = t->dtype;
    v->ndim = ndim;
    v->offset = t->offset;
    for (int i = 0; i < ndim; i++) {
        int j = i - (ndim - t->ndim);
        v->shape[i] = shape[i];
        v->strides[i] = (j < 0 || t->shape[j] == 1) ? 0 : t->strides[j];
    }
}

/* t's elements as a 1-D view of n elements with this stride (t contiguous, or stride 0 for one element). */
static inline void tt__kview_flat(const tt_tensor *t, int64_t n, int64_t stride, tt_kview *v)
{
    if (__builtin_expect(tt__recording != NULL, 0)) tt__capture_storage(t->storage);
    v->buf = t->storage->buf;
    v->dtype = t->dtype;
    v->ndim = 1;
    v->offset = t->offset;
    v->shape[0] = n;
    v->strides[0] = stride;
}

static inline const tt_backend *tt__backend(const tt_tensor *t)
{
    if (__builtin_expect(tt__recording != NULL, 0)) return tt__capture_backend(t->storage);
    return t->storage->backend;
}
void tt__storage_release(tt_storage *s);
/* Wraps a possibly negative dim into [0, ndim); sets PyTorch's error and returns -1 if out of range. */
int tt__wrap_dim(int dim, int ndim);
/* Both tensors on one device, else TT_EDEVICE naming the op. */
tt_status tt__check_same_device(const tt_tensor *a, const tt_tensor *b, const char *op);

/* Blocks from per-thread free lists by size class (lib/tensor/pool.c); a
 * block must be freed with the size it was asked for. Blocks of 64 bytes or
 * more are 64-byte aligned. Sizes round up to a class: multiples of 16 up to
 * 64 bytes, then four classes per power of two (at most 25% slack). The fast
 * paths are inline: constant sizes (headers, nodes) fold their class. */
#define TT__POOL_CLASSES 100                 /* the last holds TT__POOL_MAX_BYTES */
#define TT__POOL_MAX_BLOCKS 256              /* per class */
#define TT__POOL_MAX_BYTES ((size_t)1 << 30) /* per thread */

typedef struct tt__pool_block {
    struct tt__pool_block *next;
} tt__pool_block;
typedef struct {
    tt__pool_block *head[TT__POOL_CLASSES];
    int count[TT__POOL_CLASSES];
    size_t bytes;
    signed char state; /* 0: not yet used on this thread, 1: on, -1: off */
} tt__pool;
extern _Thread_local tt__pool tt__pool_mine __attribute__((visibility("hidden")));

void *tt__pool_alloc_slow(size_t n);
void tt__pool_free_slow(void *p, size_t n);
void *tt__aligned_alloc(size_t n); /* posix_memalign(64); free() releases it */

/* The class of an n-byte request and its rounded size, or -1 when too big. */
static inline int tt__size_class(size_t n, size_t *rounded)
{
    if (n <= 64) {
        size_t r = n < 16 ? 16 : (n + 15) & ~(size_t)15;
        *rounded = r;
        return (int)(r / 16) - 1;
    }
    int k = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^k <= n-1 < 2^(k+1), k >= 6 */
    size_t q = (n - 1) >> (k - 2);                             /* 4 <= q <= 7 */
    int c = 4 + (k - 6) * 4 + (int)(q - 4);
    if (c >= TT__POOL_CLASSES) return -1;
    *rounded = (q + 1) << (k - 2);
    return c;
}

static inline void *tt__pool_alloc(size_t n)
{
    tt__pool *pl = &tt__pool_mine;
    size_t rounded;
    int c;
    if (__builtin_expect(pl->state > 0, 1) && (c = tt__size_class(n, &rounded)) >= 0 && pl->head[c]) {
        tt__pool_block *b = pl->head[c];
        pl->head[c] = b->next;
        pl->count[c]--;
        pl->bytes -= rounded;
        return b;
    }
    return tt__pool_alloc_slow(n);
}

/* Keeps block p (rounded bytes, class c) in pl's list when under the caps. */
static inline bool tt__pool_keep(tt__pool *pl, int c, size_t rounded, void *p)
{
    if (c < 0 || pl->count[c] >= TT__POOL_MAX_BLOCKS || pl->bytes + rounded > TT__POOL_MAX_BYTES) return false;
    tt__pool_block *b = p;
    b->next = pl->head[c];
    pl->head[c] = b;
    pl->count[c]++;
    pl->bytes += rounded;
    return true;
}

static inline void tt__pool_free(void *p, size_t n)
{
    if (!p) return;
    tt__pool *pl = &tt__pool_mine;
    if (__builtin_expect(pl->state > 0, 1)) {
        size_t rounded = 0;
        int c = tt__size_class(n, &rounded);
        if (tt__pool_keep(pl, c, rounded, p)) return;
    }
    tt__pool_free_slow(p, n);
}

#endif
