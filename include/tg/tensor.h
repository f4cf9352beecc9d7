/* libtensor: n-d tensors, views, broadcasting and ops on a pluggable backend.
 *
 * Conventions
 *  - Functions that make a tensor return a new reference, or NULL on error.
 *  - Functions that do something else return a tt_status (TT_OK == 0).
 *  - On error the status and a one-sentence message are kept per thread:
 *    tt_last_status(), tt_last_error(). Nothing here aborts or exits on a
 *    user error.
 *  - Every tensor is reference counted: tt_retain() / tt_release(). Views
 *    share the storage of their base; writes through a view are visible there.
 *  - This layer knows nothing of autograd (see tg/grad.h). It offers one opaque
 *    slot per tensor that the layer above may own.
 */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TT_MAX_DIMS 8

typedef enum { TT_F32, TT_F64, TT_I64, TT_BOOL } tt_dtype;
#define TT_NUM_DTYPES 4

typedef enum {
    TT_OK = 0,
    TT_EINVAL,    /* bad argument: dim out of range, bad option value, ... */
    TT_ESHAPE,    /* shapes do not broadcast / do not match */
    TT_EDTYPE,    /* dtype not supported by the op */
    TT_ENOMEM,    /* allocation failed (host or device) */
    TT_EDEVICE,   /* device mismatch or device failure */
    TT_EIO,       /* file or stream error */
    TT_EFORMAT,   /* malformed input data (bad HDF5, bad text) */
    TT_ENOTFOUND, /* missing file or dataset */
    TT_ERUNTIME,  /* anything else at run time (autograd errors use this) */
    TT_ESYNTAX,   /* text that cannot be read: an expression, a binding (a usage error for commands) */
    TT_EUSAGE     /* a request that is invalid as asked: an unknown model, a bad option value (a usage error too) */
} tt_status;

typedef enum { TT_DEVICE_CPU = 0, TT_DEVICE_VULKAN = 1 } tt_device_type;
typedef struct {
    tt_device_type type;
    int index;
} tt_device;
#define TT_CPU ((tt_device){TT_DEVICE_CPU, 0})

typedef struct tt_storage tt_storage;
typedef struct tt_backend tt_backend;

/* A tensor is a strided view of a storage. Fields are readable by callers;
 * write them only through the functions below. */
typedef struct tt_tensor {
    int refcount;
    tt_dtype dtype;
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    int64_t strides[TT_MAX_DIMS]; /* in elements */
    int64_t offset;               /* in elements */
    tt_storage *storage;
    unsigned flags; /* TT_FLAG_* */
    /* Owned by the layer above (libgrad); released through ext_free. */
    void *ext;
    void (*ext_free)(void *ext);
} tt_tensor;

/* In-place writes through this header leave the version counter alone (an
 * untracked alias, like PyTorch's `.data`). */
#define TT_FLAG_UNTRACKED_VERSION 1u

/* ---- errors ---------------------------------------------------------- */
tt_status tt_last_status(void);
const char *tt_last_error(void);
/* Sets the thread's error (printf-style) and returns status; for layers above. */
tt_status tt_set_error(tt_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tt_clear_error(void);

/* ---- dtypes and shapes ----------------------------------------------- */
size_t tt_dtype_size(tt_dtype dt);
const char *tt_dtype_name(tt_dtype dt); /* "float32", "float64", "int64", "bool" */
int tt_dtype_parse(const char *name,
                   tt_dtype *out); /* accepts f32/float32/f64/float64/double/float/i64/int64/bool; 0 ok */
bool tt_dtype_is_floating(tt_dtype dt);
tt_dtype tt_promote_types(tt_dtype a, tt_dtype b);
/* Product of dims; -1 if it overflows int64. */
int64_t tt_shape_numel(int ndim, const int64_t *shape);
/* "[2, 3]" into buf (truncated to len); returns buf. */
const char *tt_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);
/* Broadcast two shapes by NumPy's rules; TT_ESHAPE with PyTorch's message,
 * TT_EINVAL when the result would count more than INT64_MAX elements. */
tt_status tt_broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out);

/* ---- tensor basics --------------------------------------------------- */
int64_t tt_numel(const tt_tensor *t);
bool tt_is_contiguous(const tt_tensor *t);
tt_device tt_device_of(const tt_tensor *t);
uint64_t tt_version(const tt_tensor *t); /* storage's in-place version counter */
void tt_bump_version(tt_tensor *t);
tt_tensor *tt_retain(tt_tensor *t);
void tt_release(tt_tensor *t); /* NULL is fine */

/* ---- devices --------------------------------------------------------- */
/* Parses a device string of a backend built in: "cpu", "vulkan", "vulkan:N". */
tt_status tt_device_parse(const char *s, tt_device *out);
const char *tt_device_name(tt_device d); /* "cpu", "vulkan:0" */
/* The device strings of this build, from the backend registry: "cpu, vulkan
 * or vulkan:N" (what parse accepts), "cpu (default) or vulkan[:N]" (help). */
const char *tt_device_syntax(void);
const char *tt_device_help(void);
tt_tensor *tt_to_device(const tt_tensor *t, tt_device d);

/* ---- creation -------------------------------------------------------- */
tt_tensor *tt_empty(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev);
tt_tensor *tt_zeros(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev);
tt_tensor *tt_ones(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev);
tt_tensor *tt_full(int ndim, const int64_t *shape, double value, tt_dtype dt, tt_device dev);
tt_tensor *tt_scalar(double value, tt_dtype dt, tt_device dev); /* 0-d tensor */
/* Copies host data (contiguous, row-major, of dtype dt) into a new tensor. */
tt_tensor *tt_from_data(int ndim, const int64_t *shape, tt_dtype dt, const void *data, tt_device dev);
/* PyTorch's arange(start, end, step): ceil((end-start)/step) elements. */
tt_tensor *tt_arange(double start, double end, double step, tt_dtype dt, tt_device dev);
tt_tensor *tt_linspace(double start, double end, int64_t steps, tt_dtype dt, tt_device dev);
/* Elements [first, first + count) of tt_linspace(start, end, steps), the same
 * numbers: for data made a slice at a time. */
tt_tensor *tt_linspace_part(double start, double end, int64_t steps, int64_t first, int64_t count, tt_dtype dt,
                            tt_device dev);
tt_tensor *tt_eye(int64_t n, int64_t m, tt_dtype dt, tt_device dev);
tt_tensor *tt_empty_like(const tt_tensor *t);
tt_tensor *tt_zeros_like(const tt_tensor *t);
tt_tensor *tt_ones_like(const tt_tensor *t);
tt_tensor *tt_full_like(const tt_tensor *t, double value);

/* ---- random numbers: Philox-4x32-10, counter based ------------------- *
 * Element i of a draw at generator offset o is a pure function of (seed, o+i),
 * identical on every backend. Uniforms are made in double precision and
 * rounded to the tensor's dtype, so f32 and f64 draws round the same stream.
 * Normals are Box-Muller (cosine branch) of the element's two uniforms. */
typedef struct {
    uint64_t seed;
    uint64_t offset;
} tt_generator;
tt_generator *tt_default_generator(void); /* per thread; seed 0 until set */
void tt_manual_seed(uint64_t seed);       /* seeds the default generator, offset 0 */
/* NULL gen = default generator. Each draw advances the offset by numel. */
tt_tensor *tt_rand(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev, tt_generator *gen);
tt_tensor *tt_randn(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev, tt_generator *gen);
/* Host-side reference of the stream (for tests and for the CPU backend). */
double tt_philox_uniform(uint64_t seed, uint64_t index);
double tt_philox_normal(uint64_t seed, uint64_t index);

/* ---- views (share storage) ------------------------------------------- *
 * No tensor counts more than INT64_MAX elements: an op whose result would
 * (expand, broadcasting, a constructor) fails with TT_EINVAL naming the shape. */
tt_tensor *tt_view(const tt_tensor *t, int ndim,
                   const int64_t *shape); /* -1 infers one dim; needs compatible strides */
tt_tensor *tt_reshape(const tt_tensor *t, int ndim, const int64_t *shape); /* view if possible, else copy */
tt_tensor *tt_permute(const tt_tensor *t, const int *dims);
tt_tensor *tt_transpose(const tt_tensor *t, int dim0, int dim1);
tt_tensor *tt_t(const tt_tensor *t); /* 2-D transpose (0-D/1-D returned as is) */
/* Python-style slice t[..., start:end:step, ...] on dim; negative start/end count from the end. */
tt_tensor *tt_slice(const tt_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
tt_tensor *tt_select(const tt_tensor *t, int dim, int64_t index);         /* removes dim */
tt_tensor *tt_expand(const tt_tensor *t, int ndim, const int64_t *shape); /* -1 keeps a dim */
tt_tensor *tt_squeeze(const tt_tensor *t, int dim);                       /* dim = TT_ALL_DIMS: every size-1 dim */
tt_tensor *tt_unsqueeze(const tt_tensor *t, int dim);
tt_tensor *tt_contiguous(const tt_tensor *t); /* new ref to t itself when already contiguous */
tt_tensor *tt_clone(const tt_tensor *t);      /* always a fresh contiguous copy */
/* A new tensor header sharing t's storage with the same view (an alias). */
tt_tensor *tt_alias(const tt_tensor *t);
/* The same, but in-place writes through it do not bump the version counter. */
tt_tensor *tt_untracked_alias(const tt_tensor *t);
#define TT_ALL_DIMS 1000

/* ---- elementwise ----------------------------------------------------- *
 * The ops come from the op table, tg/ops.def: one enum member TT_NAME and one
 * function tt_name(x) or tt_name(a, b) per row (tt_exp, tt_add, tt_eq, ...). */
typedef enum {
#define TT_UNARY_OP(ENUM, ...) TT_##ENUM,
#include "tg/ops.def"
    TT_NUM_UNARY
} tt_unary_op;
typedef enum {
#define TT_BINARY_OP(ENUM, ...) TT_##ENUM,
#define TT_COMPARE_OP(ENUM, name) TT_##ENUM, /* comparisons give bool; they come last */
#include "tg/ops.def"
    TT_NUM_BINARY
} tt_binary_op;
const char *tt_unary_name(tt_unary_op op);   /* "exp" */
const char *tt_binary_name(tt_binary_op op); /* "add" */
bool tt_is_comparison(tt_binary_op op);

/* Unary ops keep a floating dtype; an integer input gives int64 or float32 or
 * is refused, as in PyTorch (the ints column of tg/ops.def). */
tt_tensor *tt_unary(tt_unary_op op, const tt_tensor *x);
#define TT_UNARY_OP(ENUM, name, ...) tt_tensor *tt_##name(const tt_tensor *x);
#include "tg/ops.def"

/* Binary ops broadcast and promote dtypes (PyTorch's rules for tensors).
 * tt_sigmoid_backward(grad, y) = grad * (1 - y) * y and tt_tanh_backward(grad,
 * y) = grad * (1 - y * y) are the derivatives of sigmoid and tanh from their
 * result y in one pass (PyTorch's aten ops of those names; floating only). */
tt_tensor *tt_binary(tt_binary_op op, const tt_tensor *a, const tt_tensor *b);
#define TT_BINARY_OP(ENUM, name, ...) tt_tensor *tt_##name(const tt_tensor *a, const tt_tensor *b);
#define TT_COMPARE_OP(ENUM, name) tt_tensor *tt_##name(const tt_tensor *a, const tt_tensor *b);
#include "tg/ops.def"
/* Tensor-scalar forms: the scalar takes the tensor's dtype when that is
 * floating (PyTorch's rule for Python scalars). */
tt_tensor *tt_binary_scalar(tt_binary_op op, const tt_tensor *a, double s);
tt_tensor *tt_scalar_binary(tt_binary_op op, double s, const tt_tensor *b); /* s OP b */
tt_tensor *tt_add_scalar(const tt_tensor *a, double s);
tt_tensor *tt_mul_scalar(const tt_tensor *a, double s);
tt_tensor *tt_pow_scalar(const tt_tensor *a, double exponent);

tt_tensor *tt_where(const tt_tensor *cond, const tt_tensor *a, const tt_tensor *b);
/* Either bound may be NAN for "none". */
tt_tensor *tt_clamp(const tt_tensor *x, double lo, double hi);
tt_tensor *tt_cast(const tt_tensor *x, tt_dtype dt); /* new ref to x when dtype already matches */

/* ---- reductions ------------------------------------------------------ *
 * dims == NULL / ndims == 0 reduces over every element. Negative dims count
 * from the end. sum/prod of bool or int64 give int64; mean needs floating. */
typedef enum {
#define TT_REDUCE_OP(ENUM, ...) TT_##ENUM,
#include "tg/ops.def"
    TT_NUM_REDUCE
} tt_reduce_op;
const char *tt_reduce_name(tt_reduce_op op); /* "sum" */
tt_tensor *tt_reduce(tt_reduce_op op, const tt_tensor *x, const int *dims, int ndims, bool keepdim);
/* Over every element: tt_sum(x), tt_mean(x), ... */
#define TT_REDUCE_OP(ENUM, name, ...) tt_tensor *tt_##name(const tt_tensor *x);
#include "tg/ops.def"
tt_tensor *tt_sum_dims(const tt_tensor *x, const int *dims, int ndims, bool keepdim);
tt_tensor *tt_mean_dims(const tt_tensor *x, const int *dims, int ndims, bool keepdim);
/* max/min over one dim: values, and (if indices != NULL) int64 indices of the first extreme. */
tt_tensor *tt_max_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices);
tt_tensor *tt_min_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices);
/* Cumulative ops along one dim (tg/ops.def): tt_cumsum(x, dim). Integers and
 * bools give int64; floating sums accumulate in double, as PyTorch's CPU does. */
typedef enum {
#define TT_SCAN_OP(ENUM, ...) TT_##ENUM,
#include "tg/ops.def"
    TT_NUM_SCAN
} tt_scan_op;
tt_tensor *tt_scan(tt_scan_op op, const tt_tensor *x, int dim, bool reverse); /* reverse: from the end */
const char *tt_scan_name(tt_scan_op op);                                      /* "cumsum" */
#define TT_SCAN_OP(ENUM, name, ...) tt_tensor *tt_##name(const tt_tensor *x, int dim);
#include "tg/ops.def"
/* Indexing with a tensor of int64 indices along dim. tt_index is x[index]
 * along dim: a 0-d or 1-D index, negative indices counting from the end (a 0-d
 * index removes dim); tt_index_select is torch.index_select (1-D, from 0).
 * tt_index_add is x.index_add(dim, index, src): a copy of x with the slices
 * of src added at index along dim (repeats add up). */
tt_tensor *tt_index(const tt_tensor *x, int dim, const tt_tensor *index);
tt_tensor *tt_index_select(const tt_tensor *x, int dim, const tt_tensor *index);
tt_tensor *tt_index_add(const tt_tensor *x, int dim, const tt_tensor *index, const tt_tensor *src);
/* torch.nonzero(x): the int64 indices of x's nonzero elements (NaN counts),
 * one row [count, ndim] per element in row-major order. Its size depends on
 * the data, so it cannot be captured for replay (tg/plan.h). */
tt_tensor *tt_nonzero(const tt_tensor *x);
/* argmax over all elements (dim = TT_ALL_DIMS, flat index) or one dim. */
tt_tensor *tt_argmax(const tt_tensor *x, int dim, bool keepdim);
tt_tensor *tt_argmin(const tt_tensor *x, int dim, bool keepdim);

/* ---- linear algebra (OpenBLAS on the CPU) ----------------------------- */
tt_tensor *tt_matmul(const tt_tensor *a, const tt_tensor *b); /* torch.matmul rules, batched + broadcast */
tt_tensor *tt_mm(const tt_tensor *a, const tt_tensor *b);     /* 2-D only */
tt_tensor *tt_mv(const tt_tensor *a, const tt_tensor *v);     /* 2-D x 1-D */
tt_tensor *tt_bmm(const tt_tensor *a, const tt_tensor *b);    /* 3-D x 3-D, same batch */

tt_tensor *tt_softmax(const tt_tensor *x, int dim);
tt_tensor *tt_log_softmax(const tt_tensor *x, int dim);

/* ---- in place (each bumps the storage's version counter) -------------- */
tt_status tt_add_(tt_tensor *x, const tt_tensor *y);
tt_status tt_sub_(tt_tensor *x, const tt_tensor *y);
tt_status tt_mul_(tt_tensor *x, const tt_tensor *y);
tt_status tt_div_(tt_tensor *x, const tt_tensor *y);
tt_status tt_binary_(tt_binary_op op, tt_tensor *x, const tt_tensor *y); /* y broadcasts to x */
tt_status tt_zero_(tt_tensor *x);
tt_status tt_fill_(tt_tensor *x, double value);
tt_status tt_copy_(tt_tensor *dst, const tt_tensor *src); /* broadcasts, casts, crosses devices */

/* ---- host access ----------------------------------------------------- */
/* Copies the tensor's elements, row-major, converted to dt, into dst (numel*size bytes). */
tt_status tt_to_host(const tt_tensor *t, tt_dtype dt, void *dst);
/* The value of a one-element tensor as a double. */
tt_status tt_item(const tt_tensor *t, double *out);
/* Value at a multi-index (for tests and printing). */
tt_status tt_get(const tt_tensor *t, const int64_t *index, double *out);

/* ---- printing in PyTorch's style ------------------------------------- *
 * tensor([[1., 1.],
 *         [1., 1.]])          with ", dtype=torch.float64" for non-default dtypes.
 * Returns a malloc'd string (caller frees) or NULL. */
char *tt_format(const tt_tensor *t);
tt_status tt_print(const tt_tensor *t, FILE *f); /* tt_format + newline */

#ifdef __cplusplus
}
#endif
#endif
