/* The backend seam: a table of functions per device type. The op layer
 * (ops.c) checks arguments, works out shapes, dtypes and broadcasting, makes
 * the output and then calls exactly one kernel entry here. It never touches
 * a buffer's memory itself: host data crosses only through to_host/from_host.
 */
#ifndef TG_BACKEND_H
#define TG_BACKEND_H

#include "tg/tensor.h"

struct tt_storage {
    int refcount;
    const tt_backend *backend;
    int device_index;
    void *buf; /* backend's handle (a host pointer on the CPU) */
    size_t nbytes;
    uint64_t version; /* bumped by every in-place op */
    uint32_t capture; /* the capture (tensor/capture.h) that made it, 0 for none */
    bool inline_data; /* buf is in the block of the tensor that made it (lib/tensor/tensor.c), not the backend's */
};

/* What a kernel sees of a tensor: a strided view of a buffer. */
typedef struct {
    void *buf;
    tt_dtype dtype;
    int ndim;
    int64_t offset;
    int64_t shape[TT_MAX_DIMS];
    int64_t strides[TT_MAX_DIMS];
} tt_kview;

/* An operand of binary_flat: elements from buf's element `offset` on, `step` (0 or 1) apart. */
typedef struct {
    void *buf;
    int64_t offset, step;
} tt_flat;

typedef enum { TT_RNG_UNIFORM, TT_RNG_NORMAL } tt_rng_dist;

/* A kernel call as a replay (tensor/capture.h) makes it again and again: the
 * entry, its op, its views (out first, then the inputs in the kernel's order;
 * a reduction's idx third when it has one) and scalars. */
typedef enum {
    TT_KCALL_COPY,
    TT_KCALL_FILL,
    TT_KCALL_UNARY,
    TT_KCALL_BINARY,
    TT_KCALL_WHERE,
    TT_KCALL_CLAMP,
    TT_KCALL_REDUCE,
    TT_KCALL_MATMUL,
    TT_KCALL_RNG
} tt_kcall_kind;
typedef struct {
    tt_kcall_kind kind;
    int op; /* tt_unary_op, tt_binary_op, tt_reduce_op or tt_rng_dist */
    int nv;
    const tt_kview *v[4];
    double a, b; /* fill: the value; clamp: the bounds */
    /* rng: the draw starts at gen's offset when it runs, plus delta (gen NULL:
     * the running thread's default generator), with gen's seed then */
    const tt_generator *gen;
    uint64_t delta;
} tt_kcall;

/* A backend: its device string and capabilities, then its function table.
 * Kernels may be NULL: the op layer then says the backend has no kernel for
 * the op (TT_EDEVICE). Memory, copy and fill are required. */
struct tt_backend {
    const char *name; /* the device string: "cpu", or with indexed "vulkan:N" */
    tt_device_type type;
    bool indexed;     /* several devices, "name:N" */
    bool inplace;     /* binary kernels may write out over an input (out = a) */
    bool host_memory; /* buffers are host pointers: the op layer may hand a kernel a view of a host value */
    /* memory */
    void *(*alloc)(int device_index, size_t nbytes);
    void (*free)(int device_index, void *buf);
    tt_status (*to_host)(void *dst, const void *buf, size_t byte_offset, size_t nbytes);
    tt_status (*from_host)(void *buf, size_t byte_offset, const void *src, size_t nbytes);
    /* kernels: `out` is freshly made or (in-place) a view the op layer checked.
     * Inputs already have out's shape (broadcast dims have stride 0) and,
     * unless noted, out's dtype. */
    tt_status (*copy)(const tt_kview *out, const tt_kview *in); /* casts between any dtypes */
    tt_status (*fill)(const tt_kview *out, double value);
    tt_status (*rng)(const tt_kview *out, tt_rng_dist dist, uint64_t seed, uint64_t offset); /* contiguous */
    tt_status (*unary)(tt_unary_op op, const tt_kview *out, const tt_kview *in);
    /* comparisons: out is bool, a and b share a dtype */
    tt_status (*binary)(tt_binary_op op, const tt_kview *out, const tt_kview *a, const tt_kview *b);
    /* Optional (NULL: the op layer calls binary): binary in the layout of
     * most small ops, without views: out dense, each input dense (step 1) or
     * one element (step 0), n elements of one floating dtype from each
     * operand's element offset; the same bits as binary on those views. */
    tt_status (*binary_flat)(tt_binary_op op, tt_dtype dt, int64_t n, const tt_flat *out, const tt_flat *a,
                             const tt_flat *b);
    tt_status (*where)(const tt_kview *out, const tt_kview *cond, const tt_kview *a, const tt_kview *b);
    tt_status (*clamp)(const tt_kview *out, const tt_kview *in, double lo, double hi); /* NAN = no bound */
    /* Reduce `in` over the dims where out's shape is 1 and in's is not
     * (out has in's rank, keepdim form). For MAX/MIN with idx != NULL, idx
     * (int64, out's shape) gets the index along the single reduced dim. */
    tt_status (*reduce)(tt_reduce_op op, const tt_kview *out, const tt_kview *in, const tt_kview *idx);
    /* out[..., i, ...] = in[..., 0..i, ...] combined along dim (from the end
     * when reverse); out is float or int64, in out's dtype. */
    tt_status (*scan)(tt_scan_op op, const tt_kview *out, const tt_kview *in, int dim, bool reverse);
    /* Along dim, with idx a 1-D int64 view of indices in range: add false,
     * out[.., i, ..] = in[.., idx[i], ..]; add true, out[.., idx[i], ..] +=
     * in[.., i, ..] (in order of i). out and in: one dtype, f32, f64 or i64. */
    tt_status (*index)(const tt_kview *out, const tt_kview *in, const tt_kview *idx, int dim, bool add);
    /* Batched out[b] = a[b] @ b[b]; views are 3-D (batch, rows, cols), floating dtypes. */
    tt_status (*matmul)(const tt_kview *out, const tt_kview *a, const tt_kview *b);
    tt_status (*softmax)(const tt_kview *out, const tt_kview *in, int dim, bool log);
    /* Fit kernel (lib/fit; NULL where a backend has none, and the fit builds
     * the same sums from tensor ops): one descent step of a line with a
     * squared loss, on host arrays of n points as doubles. Per block of
     * `block` points (the last may be shorter), r = w*x + b - y computed in dt
     * (float32 rounds x, y, w, b and each op to float, as the tensor ops do)
     * and out[3k], out[3k+1], out[3k+2] = sum s r^2, sum s r x, sum s r over
     * block k, in double (s NULL: 1). The same bits for any thread count. */
    tt_status (*line_sums)(tt_dtype dt, const double *x, const double *y, const double *s, int64_t n, int64_t block,
                           double w, double b, double *out);
    /* Replay (optional: NULL, or prepare returning NULL for a call it has no
     * ready form of, and the replay makes the call through its entry above):
     * the work of a call that depends only on its views and scalars (dims
     * merged, the loop or the BLAS layout picked), done once; run_prepared
     * then gives exactly the bits of the call. */
    void *(*prepare)(const tt_kcall *call);
    tt_status (*run_prepared)(const void *prepared);
    void (*free_prepared)(void *prepared);
    /* Optional: merges ready forms of consecutive calls prepared[0..n) into
     * one that runs the first *taken (at least 2) of them, elementwise chains
     * fused, with exactly their bits (each result rounded to its dtype and
     * written as the separate calls write it, in their order); it then owns
     * them. NULL when it merges nothing. */
    void *(*fuse)(void *const *prepared, int n, int *taken);
};

/* Bytes per element; tt_dtype_size is this, inline for the kernels' loops. */
/* (One byte per dtype in a constant, without branches: f32 4, f64 8, i64 8, bool 1.) */
static inline size_t tt__dtype_size(tt_dtype dt) { return (0x01080804u >> (8 * (unsigned)dt)) & 0xffu; }
_Static_assert(TT_F32 == 0 && TT_F64 == 1 && TT_I64 == 2 && TT_BOOL == 3, "tt__dtype_size's byte order");

/* Host loops built for AVX2 and AVX-512 too, picked at load time. No FMA:
 * without contraction (-std=c11) every build rounds identically. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* x as int64 the way every backend casts: C leaves out-of-range conversion
 * undefined, so those (and NaN) give INT64_MIN, as x86 does. */
static inline int64_t tt__f2i(double x)
{
    return (x >= -9.2233720368547758e18 && x < 9.2233720368547758e18) ? (int64_t)x : INT64_MIN;
}

/* Whether an op of the table (tg/ops.def) has int64 inputs at a kernel (the
 * op layer casts the others' to float32, or refuses them). */
bool tt__unary_int64_kernel(tt_unary_op op);
bool tt__binary_int64_kernel(tt_binary_op op);

/* The registry of backends (lib/tensor/tensor.c): the one of a device type,
 * NULL when none is built in; devices are parsed and named from it. */
const tt_backend *tt_backend_for(tt_device_type type);
extern const tt_backend tt_cpu_backend;    /* lib/backend/cpu.c */
extern const tt_backend tt_vulkan_backend; /* lib/backend/vulkan.c */

/* TT_OK when be has the kernel `field`, else TT_EDEVICE "the vulkan backend
 * has no kernel for WHAT yet": an op the backend does not support. */
#define TT__KERNEL(be, field, what) ((be)->field ? TT_OK : tt__no_kernel((be), (what)))
tt_status tt__no_kernel(const tt_backend *be, const char *what);

#endif
