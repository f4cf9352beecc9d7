/* Helpers shared by the files of libtensor; not part of the public API. */
#ifndef TG_TENSOR_INTERNAL_H
#define TG_TENSOR_INTERNAL_H

#include "tensor/backend.h"

/* A new tensor header over `storage` (retained). */
tt_tensor *tt__new_view(tt_storage *storage, tt_dtype dt, int ndim, const int64_t *shape,
                        const int64_t *strides, int64_t offset);
/* A view of t with another shape/strides/offset (same storage and dtype). */
tt_tensor *tt__restride(const tt_tensor *t, int ndim, const int64_t *shape, const int64_t *strides,
                        int64_t offset);
void tt__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
void tt__kview(const tt_tensor *t, tt_kview *v);
/* t's view broadcast to (ndim, shape) with stride 0 on expanded dims; t must broadcast. */
void tt__kview_expanded(const tt_tensor *t, int ndim, const int64_t *shape, tt_kview *v);
const tt_backend *tt__backend(const tt_tensor *t);
/* Wraps a possibly negative dim into [0, ndim); sets PyTorch's error and returns -1 if out of range. */
int tt__wrap_dim(int dim, int ndim);
/* Both tensors on one device, else TT_EDEVICE naming the op. */
tt_status tt__check_same_device(const tt_tensor *a, const tt_tensor *b, const char *op);

/* Blocks from per-thread free lists by size class (lib/tensor/pool.c); a
 * block must be freed with the size it was asked for. Blocks of 64 bytes or
 * more are 64-byte aligned. */
void *tt__pool_alloc(size_t n);
void tt__pool_free(void *p, size_t n);
void *tt__aligned_alloc(size_t n); /* posix_memalign(64); free() releases it */

#endif
