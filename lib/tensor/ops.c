/* The op layer: checks arguments, works out result shapes and dtypes
 * (PyTorch's broadcasting and type promotion), makes the output and calls
 * one backend kernel. No element is touched here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/capture.h"
#include "tensor/internal.h"

/* The op table's rows, as this layer needs them. */
typedef enum { INTS_KEEP, INTS_FLOAT, INTS_NOINT } int_rule;
typedef enum { KIND_ARITH, KIND_TRUEDIV, KIND_NOINT, KIND_COMPARE } binary_kind;
static const struct {
    const char *name;
    int_rule ints;
} unary_ops[] = {
#define TT_UNARY_OP(ENUM, name, ints, ...) [TT_##ENUM] = {#name, INTS_##ints},
#include "tg/ops.def"
};
static const struct {
    const char *name;
    binary_kind kind;
} binary_ops[] = {
#define TT_BINARY_OP(ENUM, name, kind, ...) [TT_##ENUM] = {#name, KIND_##kind},
#define TT_COMPARE_OP(ENUM, name) [TT_##ENUM] = {#name, KIND_COMPARE},
#include "tg/ops.def"
};
static const char *const reduce_names[] = {
#define TT_REDUCE_OP(ENUM, name, ...) [TT_##ENUM] = #name,
#include "tg/ops.def"
};
_Static_assert(sizeof unary_ops / sizeof unary_ops[0] == TT_NUM_UNARY, "one row per unary op");
_Static_assert(sizeof binary_ops / sizeof binary_ops[0] == TT_NUM_BINARY, "one row per binary op");
_Static_assert(sizeof reduce_names / sizeof reduce_names[0] == TT_NUM_REDUCE, "one row per reduction");

const char *tt_unary_name(tt_unary_op op) { return unary_ops[op].name; }
const char *tt_binary_name(tt_binary_op op) { return binary_ops[op].name; }
const char *tt_reduce_name(tt_reduce_op op) { return reduce_names[op]; }
bool tt_is_comparison(tt_binary_op op) { return binary_ops[op].kind == KIND_COMPARE; }
bool tt__unary_int64_kernel(tt_unary_op op) { return unary_ops[op].ints == INTS_KEEP; }
bool tt__binary_int64_kernel(tt_binary_op op)
{
    return binary_ops[op].kind != KIND_TRUEDIV && binary_ops[op].kind != KIND_NOINT;
}
static bool is_comparison(tt_binary_op op) { return binary_ops[op].kind == KIND_COMPARE; }

/* PyTorch's type promotion: dimensioned tensors outrank 0-d tensors, which
 * outrank Python-style scalars, unless the lower class is of a higher
 * category (bool < integer < floating). */
typedef enum { OPERAND_TENSOR, OPERAND_ZERO_DIM, OPERAND_SCALAR } operand_class;
#define NO_DTYPE (-1)

static int promote_opt(int a, int b)
{
    if (a == NO_DTYPE) return b;
    if (b == NO_DTYPE) return a;
    return (int)tt_promote_types((tt_dtype)a, (tt_dtype)b);
}

static int combine_categories(int higher, int lower)
{
    if (higher != NO_DTYPE && tt_dtype_is_floating((tt_dtype)higher)) return higher;
    if (higher == TT_BOOL || (lower != NO_DTYPE && tt_dtype_is_floating((tt_dtype)lower)))
        return promote_opt(higher, lower);
    return higher != NO_DTYPE ? higher : lower;
}

static tt_dtype result_type(const tt_dtype *dts, const operand_class *cls, int n)
{
    int by_class[3] = {NO_DTYPE, NO_DTYPE, NO_DTYPE};
    for (int i = 0; i < n; i++) by_class[cls[i]] = promote_opt(by_class[cls[i]], dts[i]);
    return (tt_dtype)combine_categories(by_class[OPERAND_TENSOR],
                                        combine_categories(by_class[OPERAND_ZERO_DIM], by_class[OPERAND_SCALAR]));
}

static operand_class class_of(const tt_tensor *t) { return t->ndim ? OPERAND_TENSOR : OPERAND_ZERO_DIM; }

/* t in dtype dt (a new reference). */
tt_tensor *tt_cast(const tt_tensor *x, tt_dtype dt)
{
    if (x->dtype == dt) return tt_retain((tt_tensor *)x);
    tt_tensor *out = tt_empty(x->ndim, x->shape, dt, tt_device_of(x));
    if (!out) return NULL;
    tt_kview o, i;
    tt__kview(out, &o);
    tt__kview(x, &i);
    if (tt_numel(x) && tt__backend(x)->copy(&o, &i) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

/* A kernel from a view of x to one of out, a fresh tensor of x's shape. */
typedef tt_status (*same_shape_kernel)(const tt_backend *be, const tt_kview *out, const tt_kview *in, const void *ctx);

/* out = kernel(x in dtype dt): the elementwise ops' and scans' shared path. */
static tt_tensor *same_shape(const tt_tensor *x, tt_dtype dt, same_shape_kernel kernel, const void *ctx)
{
    tt_tensor *in = tt_cast(x, dt);
    tt_tensor *out = in ? tt_empty(x->ndim, x->shape, dt, tt_device_of(x)) : NULL;
    if (out && tt_numel(out)) {
        tt_kview o, i;
        tt__kview(out, &o);
        tt__kview(in, &i);
        if (kernel(tt__backend(x), &o, &i, ctx) != TT_OK) {
            tt_release(out);
            out = NULL;
        }
    }
    tt_release(in);
    return out;
}

/* ---- unary -------------------------------------------------------------- */
static tt_status unary_kernel(const tt_backend *be, const tt_kview *out, const tt_kview *in, const void *ctx)
{
    tt_unary_op op = *(const tt_unary_op *)ctx;
    return TT__KERNEL(be, unary, unary_ops[op].name) || be->unary(op, out, in);
}

tt_tensor *tt_unary(tt_unary_op op, const tt_tensor *x)
{
    tt_dtype dt = x->dtype;
    if (!tt_dtype_is_floating(dt)) {
        if (dt == TT_BOOL && op == TT_NEG) {
            tt_set_error(TT_EDTYPE,
                         "Negation, the `-` operator, on a bool tensor is not supported. If you are "
                         "trying to invert a mask, use the `~` or `logical_not()` operator instead.");
            return NULL;
        }
        if (unary_ops[op].ints == INTS_NOINT) {
            tt_set_error(TT_EDTYPE, "\"%s_cpu\" not implemented for '%s'", unary_ops[op].name,
                         dt == TT_I64 ? "Long" : "Bool");
            return NULL;
        }
        dt = unary_ops[op].ints == INTS_KEEP ? (dt == TT_BOOL ? TT_I64 : dt) : TT_F32;
    }
    return same_shape(x, dt, unary_kernel, &op);
}

#define TT_UNARY_OP(ENUM, name, ...) \
    tt_tensor *tt_##name(const tt_tensor *x) { return tt_unary(TT_##ENUM, x); }
#include "tg/ops.def"

/* ---- binary ------------------------------------------------------------- */
/* The dtype the kernel computes in, and the dtype of the result. */
static tt_status binary_dtypes(tt_binary_op op, tt_dtype common, tt_dtype *compute, tt_dtype *result)
{
    *compute = common;
    *result = common;
    if (is_comparison(op)) {
        *result = TT_BOOL;
    } else if (binary_ops[op].kind == KIND_NOINT && !tt_dtype_is_floating(common)) {
        return tt_set_error(TT_EDTYPE, "\"%s_cpu\" not implemented for '%s'", binary_ops[op].name,
                            common == TT_I64 ? "Long" : "Bool");
    } else if (binary_ops[op].kind == KIND_TRUEDIV && !tt_dtype_is_floating(common)) {
        *compute = *result = TT_F32; /* true division */
    } else if (common == TT_BOOL) {
        if (op == TT_SUB)
            return tt_set_error(TT_EDTYPE,
                                "Subtraction, the `-` operator, with two bool tensors is not supported. "
                                "Use the `^` or `logical_xor()` operator instead.");
        *compute = TT_I64; /* add = or, mul = and, max/min: computed on 0/1 and cast back */
    }
    return TT_OK;
}

static bool same_shape_as(const tt_tensor *a, const tt_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++) /* (a loop: a few dims, cheaper than a call to memcmp) */
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* Views of a fresh out and of the inputs a and b (each of out's shape, or 0-d)
 * for an elementwise kernel. When each input is contiguous or one element,
 * all three go as 1-D views of n elements (the same elements in the same
 * order, an input of one element with stride 0): the common case of small
 * loops, without the per-dim work here and in the kernel. */
static void elementwise_views(const tt_tensor *out, int64_t n, const tt_tensor *a, const tt_tensor *b, tt_kview *vo,
                              tt_kview *va, tt_kview *vb)
{
    bool a_one = a->ndim == 0, b_one = b->ndim == 0;
    if ((a_one || tt__is_contiguous(a)) && (b_one || tt__is_contiguous(b))) {
        tt__kview_flat(out, n, 1, vo);
        tt__kview_flat(a, n, a_one ? 0 : 1, va);
        tt__kview_flat(b, n, b_one ? 0 : 1, vb);
        return;
    }
    tt__kview(out, vo);
    tt__kview_expanded(a, out->ndim, out->shape, va);
    tt__kview_expanded(b, out->ndim, out->shape, vb);
}

static bool same_device(const tt_tensor *a, const tt_tensor *b)
{
    return a->storage->backend == b->storage->backend && a->storage->device_index == b->storage->device_index;
}

/* The step an operand of the result's shape (or 0-d) goes to binary_flat
 * with: 1 contiguous, 0 one element (0-d, or broadcast: stride 0 wherever
 * its size is not 1), -1 neither. */
static inline int flat_step(const tt_tensor *t)
{
    if (t->ndim == 0) return 0;
    int64_t s = 1;
    bool dense = true, broadcast = true;
    for (int i = t->ndim - 1; i >= 0; i--) {
        int64_t n = t->shape[i];
        if (n == 0) return 1; /* no elements: nothing is read */
        if (n != 1) {
            dense &= t->strides[i] == s;
            broadcast &= t->strides[i] == 0;
        }
        s *= n;
    }
    return dense ? 1 : broadcast ? 0 : -1;
}
static inline tt_flat flat_of(const tt_tensor *t, int step) { return (tt_flat){t->storage->buf, t->offset, step}; }

/* a OP b of like's shape and floating dtype through the backend's
 * binary_flat, a and b in that dtype, each like's elements in order or one
 * element (the common case of binary_into and binary_with_scalar). */
static tt_tensor *binary_flat_into(const tt_backend *be, tt_binary_op op, const tt_tensor *like, const tt_flat *fa,
                                   const tt_flat *fb)
{
    tt_tensor *out = tt_empty(like->ndim, like->shape, like->dtype, tt__device_of(like));
    int64_t n = out ? tt__numel(out) : 0;
    if (n) {
        tt_flat fo = flat_of(out, 1);
        if (be->binary_flat(op, out->dtype, n, &fo, fa, fb) != TT_OK) {
            tt_release(out);
            return NULL;
        }
    }
    return out;
}

static tt_tensor *binary_into(tt_binary_op op, const tt_tensor *a, const tt_tensor *b, tt_dtype common)
{
    tt_dtype compute = common, result = common;
    if (!same_device(a, b) && tt__check_same_device(a, b, binary_ops[op].name) != TT_OK) return NULL;
    /* floating arithmetic computes and returns its common dtype: the rest is binary_dtypes' */
    if ((!tt__is_floating(common) || is_comparison(op)) && binary_dtypes(op, common, &compute, &result) != TT_OK)
        return NULL;
    /* the shape of one operand when the other has it too or is 0-d (no broadcasting to work out) */
    const tt_tensor *like = same_shape_as(a, b) || b->ndim == 0 ? a : a->ndim == 0 ? b : NULL;
    const tt_backend *be = tt__backend(a);
    int a_step, b_step;
    if (like && be->binary_flat && tt__is_floating(compute) && compute == result && a->dtype == compute &&
        b->dtype == compute && (a_step = flat_step(a)) >= 0 && (b_step = flat_step(b)) >= 0) {
        tt_flat fa = flat_of(a, a_step), fb = flat_of(b, b_step);
        return binary_flat_into(be, op, like, &fa, &fb);
    }
    int ndim;
    int64_t broadcast[TT_MAX_DIMS];
    const int64_t *shape = like ? like->shape : broadcast;
    if (like) ndim = like->ndim;
    else if (tt_broadcast_shapes(a->ndim, a->shape, b->ndim, b->shape, &ndim, broadcast) != TT_OK) return NULL;
    /* (no new reference when the dtype is already right) */
    const tt_tensor *ca = a->dtype == compute ? a : tt_cast(a, compute);
    const tt_tensor *cb = !ca ? NULL : b->dtype == compute ? b : tt_cast(b, compute);
    tt_dtype out_dt = (is_comparison(op) || compute == result) ? result : compute;
    tt_tensor *out = cb ? tt_empty(ndim, shape, out_dt, tt__device_of(a)) : NULL;
    int64_t n = out ? tt__numel(out) : 0;
    if (n) {
        tt_kview o, va, vb;
        if (like) elementwise_views(out, n, ca, cb, &o, &va, &vb);
        else {
            tt__kview(out, &o);
            tt__kview_expanded(ca, ndim, shape, &va);
            tt__kview_expanded(cb, ndim, shape, &vb);
        }
        if (TT__KERNEL(be, binary, binary_ops[op].name) || be->binary(op, &o, &va, &vb) != TT_OK) {
            tt_release(out);
            out = NULL;
        }
    }
    if (ca != a) tt_release((tt_tensor *)ca);
    if (cb != b) tt_release((tt_tensor *)cb);
    if (out && out->dtype != result) { /* bool arithmetic, computed in int64 */
        tt_tensor *r = tt_cast(out, result);
        tt_release(out);
        out = r;
    }
    return out;
}

tt_tensor *tt_binary(tt_binary_op op, const tt_tensor *a, const tt_tensor *b)
{
    if (a->dtype == b->dtype) return binary_into(op, a, b, a->dtype); /* nothing to promote */
    tt_dtype dts[2] = {a->dtype, b->dtype};
    operand_class cls[2] = {class_of(a), class_of(b)};
    return binary_into(op, a, b, result_type(dts, cls, 2));
}

static tt_dtype scalar_dtype(double s) { return s == floor(s) && fabs(s) < 9.2e18 ? TT_I64 : TT_F32; }

/* A wrapped number as a 0-d tensor whose header, storage and value are on
 * the caller's stack, for a backend whose buffers are host memory: no
 * allocation for each `x * 2`. It lives while the caller's frame does; the
 * op it is given to only reads it (a cast of it is a new tensor). The value
 * is rounded to dt as the fill kernel would write it. */
typedef struct {
    tt_storage storage;
    tt_tensor tensor;
    union {
        float f;
        double d;
        int64_t i;
        uint8_t b;
    } value;
} stack_scalar;

static tt_tensor *stack_scalar_init(stack_scalar *h, double s, tt_dtype dt, const tt_tensor *like)
{
    switch (dt) {
    case TT_F32: h->value.f = (float)s; break;
    case TT_F64: h->value.d = s; break;
    case TT_I64: h->value.i = tt__f2i(s); break;
    case TT_BOOL: h->value.b = s != 0; break;
    }
    h->storage = (tt_storage){.refcount = 1,
                              .backend = like->storage->backend,
                              .device_index = like->storage->device_index,
                              .buf = &h->value,
                              .nbytes = tt__dtype_size(dt)};
    /* a 0-d header: no shape or strides to clear */
    h->tensor.refcount = 1;
    h->tensor.dtype = dt;
    h->tensor.ndim = 0;
    h->tensor.offset = 0;
    h->tensor.storage = &h->storage;
    h->tensor.flags = 0;
    h->tensor.ext = NULL;
    h->tensor.ext_free = NULL;
    return &h->tensor;
}

/* x OP s (or s OP x when scalar_first): the scalar is a wrapped number. */
static tt_tensor *binary_with_scalar(tt_binary_op op, const tt_tensor *x, double s, bool scalar_first)
{
    /* a number never raises a floating tensor's dtype */
    tt_dtype common = x->dtype;
    const tt_backend *be = tt__backend(x);
    int x_step;
    if (tt__is_floating(common) && !is_comparison(op) && be->binary_flat && be->host_memory &&
        (x_step = flat_step(x)) >= 0) { /* the number straight from here, rounded as the fill kernel would */
        union {
            float f;
            double d;
        } value;
        if (common == TT_F32) value.f = (float)s;
        else value.d = s;
        tt_flat fx = flat_of(x, x_step), fs = {&value, 0, 0};
        return scalar_first ? binary_flat_into(be, op, x, &fs, &fx) : binary_flat_into(be, op, x, &fx, &fs);
    }
    if (!tt__is_floating(common)) {
        tt_dtype dts[2] = {x->dtype, scalar_dtype(s)};
        operand_class cls[2] = {class_of(x), OPERAND_SCALAR};
        common = result_type(dts, cls, 2);
    }
    stack_scalar on_stack;
    bool host = be->host_memory;
    tt_tensor *st = host ? stack_scalar_init(&on_stack, s, common, x) : tt_scalar(s, common, tt_device_of(x));
    if (!st) return NULL;
    tt_tensor *out = scalar_first ? binary_into(op, st, x, common) : binary_into(op, x, st, common);
    if (!host) tt_release(st);
    return out;
}

tt_tensor *tt_binary_scalar(tt_binary_op op, const tt_tensor *a, double s)
{
    return binary_with_scalar(op, a, s, false);
}
tt_tensor *tt_scalar_binary(tt_binary_op op, double s, const tt_tensor *b)
{
    return binary_with_scalar(op, b, s, true);
}
tt_tensor *tt_add_scalar(const tt_tensor *a, double s) { return tt_binary_scalar(TT_ADD, a, s); }
tt_tensor *tt_mul_scalar(const tt_tensor *a, double s) { return tt_binary_scalar(TT_MUL, a, s); }
tt_tensor *tt_pow_scalar(const tt_tensor *a, double e) { return tt_binary_scalar(TT_POW, a, e); }

#define BINARY_WRAPPER(ENUM, name) \
    tt_tensor *tt_##name(const tt_tensor *a, const tt_tensor *b) { return tt_binary(TT_##ENUM, a, b); }
#define TT_BINARY_OP(ENUM, name, ...) BINARY_WRAPPER(ENUM, name)
#define TT_COMPARE_OP(ENUM, name) BINARY_WRAPPER(ENUM, name)
#include "tg/ops.def"

tt_tensor *tt_where(const tt_tensor *cond, const tt_tensor *a, const tt_tensor *b)
{
    if (cond->dtype != TT_BOOL) {
        tt_set_error(TT_EDTYPE, "where expected condition to be a boolean tensor, but got a tensor with dtype %s",
                     tt_dtype_name(cond->dtype));
        return NULL;
    }
    if (tt__check_same_device(cond, a, "where") || tt__check_same_device(a, b, "where")) return NULL;
    int n1, n2;
    int64_t s1[TT_MAX_DIMS], s2[TT_MAX_DIMS];
    if (tt_broadcast_shapes(cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1) != TT_OK ||
        tt_broadcast_shapes(n1, s1, b->ndim, b->shape, &n2, s2) != TT_OK)
        return NULL;
    tt_dtype dts[2] = {a->dtype, b->dtype};
    operand_class cls[2] = {class_of(a), class_of(b)};
    tt_dtype dt = result_type(dts, cls, 2);
    tt_tensor *ca = tt_cast(a, dt), *cb = ca ? tt_cast(b, dt) : NULL;
    tt_tensor *out = cb ? tt_empty(n2, s2, dt, tt_device_of(a)) : NULL;
    if (out && tt_numel(out)) {
        tt_kview o, vc, va, vb;
        tt__kview(out, &o);
        tt__kview_expanded(cond, n2, s2, &vc);
        tt__kview_expanded(ca, n2, s2, &va);
        tt__kview_expanded(cb, n2, s2, &vb);
        const tt_backend *be = tt__backend(a);
        if (TT__KERNEL(be, where, "where") || be->where(&o, &vc, &va, &vb) != TT_OK) {
            tt_release(out);
            out = NULL;
        }
    }
    tt_release(ca);
    tt_release(cb);
    return out;
}

static tt_status clamp_kernel(const tt_backend *be, const tt_kview *out, const tt_kview *in, const void *ctx)
{
    const double *b = ctx;
    return TT__KERNEL(be, clamp, "clamp") || be->clamp(out, in, b[0], b[1]);
}

tt_tensor *tt_clamp(const tt_tensor *x, double lo, double hi)
{
    if (isnan(lo) && isnan(hi)) {
        tt_set_error(TT_EINVAL, "torch.clamp: At least one of 'min' or 'max' must not be None");
        return NULL;
    }
    tt_dtype dt = x->dtype;
    if (!tt_dtype_is_floating(dt) && ((!isnan(lo) && lo != floor(lo)) || (!isnan(hi) && hi != floor(hi))))
        dt = TT_F32; /* a fractional bound promotes an integer tensor, as in PyTorch */
    if (dt == TT_BOOL) dt = TT_I64;
    double bounds[2] = {lo, hi};
    return same_shape(x, dt, clamp_kernel, bounds);
}

/* ---- reductions ----------------------------------------------------------- */

/* Marks the reduced dims; false (error set) on a bad or repeated dim. */
static bool reduced_dims(const tt_tensor *x, const int *dims, int ndims, bool *mask)
{
    memset(mask, 0, sizeof(bool) * TT_MAX_DIMS);
    if (!dims || ndims == 0) {
        for (int i = 0; i < x->ndim; i++) mask[i] = true;
        return true;
    }
    for (int i = 0; i < ndims; i++) {
        int d = tt__wrap_dim(dims[i], x->ndim);
        if (d < 0) return false;
        if (x->ndim == 0) continue;
        if (mask[d]) {
            tt_set_error(TT_EINVAL, "dim %d appears multiple times in the list of dims", d);
            return false;
        }
        mask[d] = true;
    }
    return true;
}

/* A kernel's view of a fresh contiguous result t as the contiguous (ndim, shape), which has its elements. */
static void keepdim_view(const tt_tensor *t, int ndim, const int64_t *shape, tt_kview *v)
{
    tt__kview_flat(t, 1, 1, v); /* the buffer, dtype and offset; the dims are set here */
    v->ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) { /* (t's contiguous strides, as tt__contiguous_strides) */
        v->shape[i] = shape[i];
        v->strides[i] = s;
        s *= shape[i] > 1 ? shape[i] : 1;
    }
}

/* Runs the kernel with out in keepdim form (a view of out in its final shape, without the reduced dims unless keepdim). */
static tt_tensor *reduce_impl(tt_reduce_op op, const tt_tensor *x, const bool *mask, bool keepdim, tt_dtype out_dt,
                              tt_tensor **indices)
{
    int64_t kshape[TT_MAX_DIMS], shape[TT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        kshape[i] = mask[i] ? 1 : x->shape[i];
        if (!mask[i] || keepdim) shape[n++] = kshape[i];
    }
    /* out (and idx) made in their final shape; the kernel sees them in keepdim form, the same contiguous elements */
    const tt_tensor *in = x->dtype == out_dt ? x : tt_cast(x, out_dt); /* (no new reference when already right) */
    tt_tensor *out = in ? tt_empty(n, shape, out_dt, tt__device_of(x)) : NULL;
    tt_tensor *idx = (out && indices) ? tt_empty(n, shape, TT_I64, tt__device_of(x)) : NULL;
    if (!out || (indices && !idx)) goto fail;
    if (tt__numel(out)) {
        tt_kview o, i, ix;
        keepdim_view(out, x->ndim, kshape, &o);
        tt__kview(in, &i);
        if (idx) keepdim_view(idx, x->ndim, kshape, &ix);
        const tt_backend *be = tt__backend(x);
        if (TT__KERNEL(be, reduce, reduce_names[op]) || be->reduce(op, &o, &i, idx ? &ix : NULL) != TT_OK) goto fail;
    }
    if (in != x) tt_release((tt_tensor *)in);
    if (indices) *indices = idx;
    return out;
fail:
    if (in != x) tt_release((tt_tensor *)in);
    tt_release(out);
    tt_release(idx);
    return NULL;
}

tt_tensor *tt_reduce(tt_reduce_op op, const tt_tensor *x, const int *dims, int ndims, bool keepdim)
{
    bool mask[TT_MAX_DIMS];
    if (!reduced_dims(x, dims, ndims, mask)) return NULL;
    tt_dtype dt = x->dtype;
    if (op == TT_MEAN && !tt_dtype_is_floating(dt)) {
        tt_set_error(TT_EDTYPE,
                     "mean(): could not infer output dtype. Input dtype must be either a floating point "
                     "or complex dtype. Got: %s",
                     dt == TT_I64 ? "Long" : "Bool");
        return NULL;
    }
    if ((op == TT_SUM || op == TT_PROD) && !tt_dtype_is_floating(dt)) dt = TT_I64;
    if ((op == TT_MAX || op == TT_MIN) && tt_numel(x) == 0) {
        bool all = !dims || ndims == 0;
        for (int i = 0; i < x->ndim && !all; i++)
            if (mask[i] && x->shape[i] == 0) all = true;
        if (all) {
            tt_set_error(TT_EINVAL,
                         all && (!dims || ndims == 0)
                             ? "%s(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                               "reduction dim with the 'dim' argument."
                             : "%s(): Expected reduction dim to be specified for input.numel() == 0.",
                         reduce_names[op]);
            return NULL;
        }
    }
    return reduce_impl(op, x, mask, keepdim, dt, NULL);
}

#define TT_REDUCE_OP(ENUM, name, ...) \
    tt_tensor *tt_##name(const tt_tensor *x) { return tt_reduce(TT_##ENUM, x, NULL, 0, false); }
#include "tg/ops.def"
tt_tensor *tt_sum_dims(const tt_tensor *x, const int *d, int n, bool k) { return tt_reduce(TT_SUM, x, d, n, k); }
tt_tensor *tt_mean_dims(const tt_tensor *x, const int *d, int n, bool k) { return tt_reduce(TT_MEAN, x, d, n, k); }

static tt_tensor *extreme_dim(tt_reduce_op op, const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices)
{
    int d = tt__wrap_dim(dim, x->ndim);
    if (d < 0) return NULL;
    if (x->ndim && x->shape[d] == 0) {
        tt_set_error(TT_EINVAL, "%s(): Expected reduction dim %d to have non-zero size.", reduce_names[op], d);
        return NULL;
    }
    bool mask[TT_MAX_DIMS] = {false};
    if (x->ndim) mask[d] = true;
    tt_tensor *idx = NULL;
    tt_tensor *out = reduce_impl(op, x, mask, keepdim, x->dtype, &idx);
    if (indices) *indices = idx;
    else tt_release(idx);
    return out;
}

tt_tensor *tt_max_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices)
{
    return extreme_dim(TT_MAX, x, dim, keepdim, indices);
}

tt_tensor *tt_min_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices)
{
    return extreme_dim(TT_MIN, x, dim, keepdim, indices);
}

static tt_tensor *arg_extreme(tt_reduce_op op, const tt_tensor *x, int dim, bool keepdim)
{
    tt_tensor *idx = NULL, *val;
    if (dim == TT_ALL_DIMS) { /* flat index: reduce a 1-D view of the elements */
        if (tt_numel(x) == 0) {
            tt_set_error(TT_EINVAL, "%s(): Expected reduction dim to be specified for input.numel() == 0.",
                         op == TT_MAX ? "argmax" : "argmin");
            return NULL;
        }
        int64_t n = tt_numel(x);
        tt_tensor *flat = tt_reshape(x, 1, &n);
        if (!flat) return NULL;
        val = extreme_dim(op, flat, 0, false, &idx);
        tt_release(flat);
        if (val && keepdim && x->ndim) { /* PyTorch keeps every dim as 1 */
            int64_t ones[TT_MAX_DIMS];
            for (int i = 0; i < x->ndim; i++) ones[i] = 1;
            tt_tensor *v = tt_view(idx, x->ndim, ones);
            tt_release(idx);
            idx = v;
        }
    } else {
        val = extreme_dim(op, x, dim, keepdim, &idx);
    }
    tt_release(val);
    return val ? idx : NULL;
}

tt_tensor *tt_argmax(const tt_tensor *x, int dim, bool keepdim) { return arg_extreme(TT_MAX, x, dim, keepdim); }
tt_tensor *tt_argmin(const tt_tensor *x, int dim, bool keepdim) { return arg_extreme(TT_MIN, x, dim, keepdim); }

/* ---- scans ------------------------------------------------------------------ */
static const char *const scan_names[] = {
#define TT_SCAN_OP(ENUM, name, ...) [TT_##ENUM] = #name,
#include "tg/ops.def"
};
_Static_assert(sizeof scan_names / sizeof scan_names[0] == TT_NUM_SCAN, "one row per scan");

typedef struct {
    tt_scan_op op;
    int dim;
    bool reverse;
} scan_args;

static tt_status scan_kernel(const tt_backend *be, const tt_kview *out, const tt_kview *in, const void *ctx)
{
    const scan_args *a = ctx;
    return TT__KERNEL(be, scan, scan_names[a->op]) || be->scan(a->op, out, in, a->dim, a->reverse);
}

tt_tensor *tt_scan(tt_scan_op op, const tt_tensor *x, int dim, bool reverse)
{
    int d = tt__wrap_dim(dim, x->ndim);
    if (d < 0) return NULL;
    scan_args a = {op, x->ndim ? d : 0, reverse};
    return same_shape(x, tt_dtype_is_floating(x->dtype) ? x->dtype : TT_I64, scan_kernel, &a);
}
const char *tt_scan_name(tt_scan_op op) { return scan_names[op]; }

#define TT_SCAN_OP(ENUM, name, ...) \
    tt_tensor *tt_##name(const tt_tensor *x, int dim) { return tt_scan(TT_##ENUM, x, dim, false); }
#include "tg/ops.def"

/* ---- indexing ------------------------------------------------------------------- */
/* The index as the kernels take it: 1-D int64 in [0, size). `wrap`: negative
 * indices count from the end (x[index]); else they are out of range. */
static tt_tensor *kernel_index(const tt_tensor *index, int64_t size, int dim, bool wrap, const char *what)
{
    if (index->dtype != TT_I64) {
        tt_set_error(TT_EDTYPE, "%s",
                     index->dtype == TT_BOOL ? "indexing with a bool mask is not supported: index with int64 indices"
                                             : "tensors used as indices must be long, byte or bool tensors");
        return NULL;
    }
    if (index->ndim > 1) {
        tt_set_error(TT_ESHAPE, "%s: the index must be 0-d or 1-D, got %d dims", what, index->ndim);
        return NULL;
    }
    int64_t n = tt_numel(index), one = n;
    double lo = 0, hi = 0;
    tt_tensor *mn = n ? tt_min(index) : NULL, *mx = n ? tt_max(index) : NULL;
    tt_status st = !n ? TT_OK : !mn || !mx ? tt_last_status() : tt_item(mn, &lo) ? tt_last_status() : tt_item(mx, &hi);
    tt_release(mn);
    tt_release(mx);
    if (st != TT_OK) return NULL;
    if (hi >= (double)size || lo < (wrap ? -(double)size : 0)) {
        if (wrap) /* PyTorch's messages, for x[index] and for index_select / index_add */
            tt_set_error(TT_EINVAL, "index %lld is out of bounds for dimension %d with size %lld",
                         (long long)(hi >= (double)size ? hi : lo), dim, (long long)size);
        else tt_set_error(TT_EINVAL, "index out of range in self");
        return NULL;
    }
    tt_tensor *flat = tt_reshape(index, 1, &one);
    if (!flat || lo >= 0) return flat;
    tt_tensor *zero = tt_scalar(0, TT_I64, tt_device_of(index)), *neg = zero ? tt_lt(flat, zero) : NULL;
    tt_tensor *up = tt_add_scalar(flat, (double)size), *r = neg && up ? tt_where(neg, up, flat) : NULL;
    tt_release(zero);
    tt_release(neg);
    tt_release(up);
    tt_release(flat);
    return r;
}

/* x along dim at index (add: src's slices added into a copy of x). */
static tt_tensor *index_impl(const tt_tensor *x, int dim, const tt_tensor *index, const tt_tensor *src, bool wrap,
                             const char *what)
{
    if (tt__check_same_device(x, index, what) || (src && tt__check_same_device(x, src, what))) return NULL;
    if (x->ndim == 0) {
        tt_set_error(TT_EINVAL, "%s: a 0-d tensor has no dim to index", what);
        return NULL;
    }
    int d = tt__wrap_dim(dim, x->ndim);
    if (d < 0) return NULL;
    tt_tensor *idx = kernel_index(index, x->shape[d], d, wrap, what);
    if (!idx) return NULL;
    int64_t shape[TT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = idx->shape[0];
    if (src && (src->ndim != x->ndim || memcmp(src->shape, shape, sizeof(int64_t) * (size_t)x->ndim))) {
        char a[200], b[200];
        tt_set_error(TT_ESHAPE, "%s: source of shape %s, expected %s", what,
                     tt_shape_str(src->ndim, src->shape, a, sizeof a), tt_shape_str(x->ndim, shape, b, sizeof b));
        tt_release(idx);
        return NULL;
    }
    /* bool is moved as int64; an added source takes x's dtype */
    tt_dtype dt = x->dtype == TT_BOOL ? TT_I64 : x->dtype;
    tt_tensor *in = tt_cast(src ? src : x, dt), *xc = src ? tt_cast(x, dt) : NULL;
    tt_tensor *out = !in || (src && !xc) ? NULL : src ? tt_clone(xc) : tt_empty(x->ndim, shape, dt, tt_device_of(x));
    if (out && tt_numel(out) && tt_numel(in)) {
        tt_kview o, i, k;
        tt__kview(out, &o);
        tt__kview(in, &i);
        tt__kview(idx, &k);
        const tt_backend *be = tt__backend(x);
        if (TT__KERNEL(be, index, what) || be->index(&o, &i, &k, d, src != NULL) != TT_OK) {
            tt_release(out);
            out = NULL;
        }
    }
    tt_release(in);
    tt_release(xc);
    tt_release(idx);
    if (out && dt != x->dtype) {
        tt_tensor *c = tt_cast(out, x->dtype);
        tt_release(out);
        out = c;
    }
    if (out && !src && index->ndim == 0) { /* x[i] with a 0-d index: dim goes */
        tt_tensor *s = tt_squeeze(out, d);
        tt_release(out);
        out = s;
    }
    return out;
}

tt_tensor *tt_index(const tt_tensor *x, int dim, const tt_tensor *index)
{
    return index_impl(x, dim, index, NULL, true, "index");
}
tt_tensor *tt_index_select(const tt_tensor *x, int dim, const tt_tensor *index)
{
    if (index->ndim != 1) {
        tt_set_error(TT_ESHAPE, "index_select(): Index is supposed to be a vector");
        return NULL;
    }
    return index_impl(x, dim, index, NULL, false, "index_select()");
}
tt_tensor *tt_index_add(const tt_tensor *x, int dim, const tt_tensor *index, const tt_tensor *src)
{
    return index_impl(x, dim, index, src, false, "index_add()");
}

/* Worked out on the host, as arange is: a count no kernel can know in advance. */
tt_tensor *tt_nonzero(const tt_tensor *x)
{
    if (tt__recording) {
        tt__capture_refuse("nonzero");
        return NULL;
    }
    int64_t n = tt_numel(x), count = 0, shape[2] = {0, x->ndim};
    uint8_t *mask = malloc((size_t)n + 1);
    if (!mask) return tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    if (tt_to_host(x, TT_BOOL, mask) != TT_OK) return free(mask), NULL;
    for (int64_t i = 0; i < n; i++) count += mask[i] != 0;
    int64_t *idx = malloc(sizeof *idx * (size_t)(count * x->ndim + 1)), *row = idx;
    if (!idx) return free(mask), tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    for (int64_t i = 0; i < n; i++) {
        if (!mask[i]) continue;
        for (int64_t d = x->ndim - 1, rest = i; d >= 0; d--) {
            row[d] = rest % x->shape[d];
            rest /= x->shape[d];
        }
        row += x->ndim;
    }
    shape[0] = count;
    tt_tensor *out = tt_from_data(2, shape, TT_I64, idx, tt_device_of(x));
    free(mask);
    free(idx);
    return out;
}

/* ---- matmul ----------------------------------------------------------------- */
/* (batch..., r, c) viewed as 3-D (B, r, c); copies only when the batch dims do not collapse. */
static tt_tensor *as_batched3d(const tt_tensor *t, int nbatch, const int64_t *batch, int64_t r, int64_t c)
{
    int64_t shape[TT_MAX_DIMS];
    for (int i = 0; i < nbatch; i++) shape[i] = batch[i];
    shape[nbatch] = r;
    shape[nbatch + 1] = c;
    tt_tensor *e = tt_expand(t, nbatch + 2, shape);
    if (!e) return NULL;
    int64_t b = tt_shape_numel(nbatch, batch), s3[3] = {b, r, c};
    tt_tensor *v = tt_view(e, 3, s3);
    if (!v) {
        tt_clear_error();
        tt_tensor *c2 = tt_contiguous(e);
        v = c2 ? tt_view(c2, 3, s3) : NULL;
        tt_release(c2);
    }
    tt_release(e);
    return v;
}

/* t (a matrix, or a vector as a row when `row` else as a column) as the 3-D
 * kernel view of one batch: no tensor is made for it. */
static void matrix_kview(const tt_tensor *t, bool row, int64_t rows, int64_t cols, tt_kview *v)
{
    tt__kview_flat(t, 1, 1, v); /* the buffer, dtype and offset; the rest is set here */
    int64_t rs, cs;
    if (t->ndim == 2) rs = t->strides[0], cs = t->strides[1];
    else if (row) rs = cols * t->strides[0], cs = t->strides[0];
    else rs = t->strides[0], cs = 1;
    v->ndim = 3;
    v->shape[0] = 1;
    v->shape[1] = rows;
    v->shape[2] = cols;
    v->strides[0] = 0;
    v->strides[1] = rs;
    v->strides[2] = cs;
}

/* matmul of matrices and vectors (no batch dims): the result in its final
 * shape, the kernel given 3-D views of one batch. */
static tt_tensor *matmul_2d(const tt_tensor *a, const tt_tensor *b, int64_t ar, int64_t ac, int64_t bc,
                            const char *what)
{
    int64_t shape[2];
    int n = 0;
    if (a->ndim > 1) shape[n++] = ar;
    if (b->ndim > 1) shape[n++] = bc;
    tt_tensor *out = tt_empty(n, shape, a->dtype, tt__device_of(a));
    if (!out || !tt__numel(out)) return out;
    tt_kview o, va, vb;
    tt__kview_flat(out, 1, 1, &o); /* the buffer, dtype and offset; the rest is set here */
    o.ndim = 3;
    o.shape[0] = 1, o.shape[1] = ar, o.shape[2] = bc;
    o.strides[0] = 0, o.strides[1] = bc, o.strides[2] = 1;
    matrix_kview(a, true, ar, ac, &va);
    matrix_kview(b, false, ac, bc, &vb);
    const tt_backend *be = tt__backend(a);
    if (TT__KERNEL(be, matmul, what) || be->matmul(&o, &va, &vb) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static tt_tensor *matmul_checked(const tt_tensor *a, const tt_tensor *b, const char *what)
{
    if (!same_device(a, b) && tt__check_same_device(a, b, what) != TT_OK) return NULL;
    if (a->dtype != b->dtype) {
        tt_set_error(TT_EDTYPE, "expected scalar type %s but found %s",
                     a->dtype == TT_F32   ? "Float"
                     : a->dtype == TT_F64 ? "Double"
                                          : "Long",
                     b->dtype == TT_F32   ? "Float"
                     : b->dtype == TT_F64 ? "Double"
                                          : "Long");
        return NULL;
    }
    if (!tt_dtype_is_floating(a->dtype)) {
        tt_set_error(TT_EDTYPE, "%s: expected floating point tensors, got %s", what, tt_dtype_name(a->dtype));
        return NULL;
    }
    if (a->ndim == 0 || b->ndim == 0) {
        tt_set_error(TT_ESHAPE, "both arguments to matmul need to be at least 1D, but they are %dD and %dD", a->ndim,
                     b->ndim);
        return NULL;
    }
    /* 1-D operands become matrices (prepend / append a dim), removed again at the end. */
    int64_t ar = a->ndim == 1 ? 1 : a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2], bc = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
    if (ac != br) {
        if (a->ndim == 1 && b->ndim == 1)
            tt_set_error(TT_ESHAPE,
                         "inconsistent tensor size, expected tensor [%lld] and src [%lld] to have the "
                         "same number of elements, but got %lld and %lld elements respectively",
                         (long long)ac, (long long)br, (long long)ac, (long long)br);
        else if (b->ndim == 1 && a->ndim == 2)
            tt_set_error(TT_ESHAPE, "size mismatch, got %lld, %lldx%lld,%lld", (long long)ar, (long long)ar,
                         (long long)ac, (long long)br);
        else
            tt_set_error(TT_ESHAPE, "mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)",
                         (long long)ar, (long long)ac, (long long)br, (long long)bc);
        return NULL;
    }
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0, nbatch;
    if (na == 0 && nb == 0) return matmul_2d(a, b, ar, ac, bc, what);
    int64_t batch[TT_MAX_DIMS];
    if (tt_broadcast_shapes(na, a->shape, nb, b->shape, &nbatch, batch) != TT_OK) return NULL;
    tt_tensor *am = a->ndim == 1 ? tt_unsqueeze(a, 0) : tt_retain((tt_tensor *)a);
    tt_tensor *bm = b->ndim == 1 ? tt_unsqueeze(b, 1) : tt_retain((tt_tensor *)b);
    tt_tensor *a3 = am && bm ? as_batched3d(am, nbatch, batch, ar, ac) : NULL;
    tt_tensor *b3 = a3 ? as_batched3d(bm, nbatch, batch, br, bc) : NULL;
    tt_release(am);
    tt_release(bm);
    int64_t B = tt_shape_numel(nbatch, batch), s3[3] = {B, ar, bc};
    tt_tensor *out = b3 ? tt_empty(3, s3, a->dtype, tt_device_of(a)) : NULL;
    if (out && tt_numel(out)) {
        tt_kview o, va, vb;
        tt__kview(out, &o);
        tt__kview(a3, &va);
        tt__kview(b3, &vb);
        const tt_backend *be = tt__backend(a);
        if (TT__KERNEL(be, matmul, what) || be->matmul(&o, &va, &vb) != TT_OK) {
            tt_release(out);
            out = NULL;
        }
    }
    tt_release(a3);
    tt_release(b3);
    if (!out) return NULL;
    int64_t shape[TT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < nbatch; i++) shape[n++] = batch[i];
    if (a->ndim > 1) shape[n++] = ar;
    if (b->ndim > 1) shape[n++] = bc;
    tt_tensor *r = tt_view(out, n, shape);
    tt_release(out);
    return r;
}

tt_tensor *tt_matmul(const tt_tensor *a, const tt_tensor *b) { return matmul_checked(a, b, "matmul"); }

tt_tensor *tt_mm(const tt_tensor *a, const tt_tensor *b)
{
    if (a->ndim != 2 || b->ndim != 2) {
        tt_set_error(TT_ESHAPE, "%s must be a matrix", a->ndim != 2 ? "self" : "mat2");
        return NULL;
    }
    return matmul_checked(a, b, "mm");
}

tt_tensor *tt_mv(const tt_tensor *a, const tt_tensor *v)
{
    if (a->ndim != 2 || v->ndim != 1) {
        tt_set_error(TT_ESHAPE, "vector + matrix @ vector expected, got %d, %d, %d", 1, a->ndim, v->ndim);
        return NULL;
    }
    return matmul_checked(a, v, "mv");
}

tt_tensor *tt_bmm(const tt_tensor *a, const tt_tensor *b)
{
    if (a->ndim != 3 || b->ndim != 3) {
        tt_set_error(TT_ESHAPE, "batch1 must be a 3D tensor");
        return NULL;
    }
    if (a->shape[0] != b->shape[0] || a->shape[2] != b->shape[1]) {
        tt_set_error(TT_ESHAPE,
                     "Expected size for first two dimensions of batch2 tensor to be: [%lld, %lld] but got: "
                     "[%lld, %lld].",
                     (long long)a->shape[0], (long long)a->shape[2], (long long)b->shape[0], (long long)b->shape[1]);
        return NULL;
    }
    return matmul_checked(a, b, "bmm");
}

static tt_tensor *softmax_impl(const tt_tensor *x, int dim, bool log)
{
    int d = tt__wrap_dim(dim, x->ndim);
    if (d < 0) return NULL;
    tt_tensor *in = tt_dtype_is_floating(x->dtype) ? tt_retain((tt_tensor *)x) : tt_cast(x, TT_F32);
    tt_tensor *out = in ? tt_empty_like(in) : NULL;
    if (out && tt_numel(out)) {
        tt_kview o, i;
        tt__kview(out, &o);
        tt__kview(in, &i);
        const tt_backend *be = tt__backend(x);
        if (TT__KERNEL(be, softmax, log ? "log_softmax" : "softmax") ||
            be->softmax(&o, &i, x->ndim ? d : 0, log) != TT_OK) {
            tt_release(out);
            out = NULL;
        }
    }
    tt_release(in);
    return out;
}

tt_tensor *tt_softmax(const tt_tensor *x, int dim) { return softmax_impl(x, dim, false); }
tt_tensor *tt_log_softmax(const tt_tensor *x, int dim) { return softmax_impl(x, dim, true); }

/* ---- in place --------------------------------------------------------------- */
static tt_status check_inplace_target(const tt_tensor *x, int ndim, const int64_t *shape, const char *op)
{
    int n;
    int64_t out[TT_MAX_DIMS];
    char b1[200], b2[200];
    /* y 0-d or of x's shape: nothing to broadcast */
    bool same = ndim == 0 || ndim == x->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == x->shape[i];
    if (!same) {
        if (tt_broadcast_shapes(x->ndim, x->shape, ndim, shape, &n, out) != TT_OK) return tt_last_status();
        same = n == x->ndim;
        for (int i = 0; same && i < n; i++) same = out[i] == x->shape[i];
    }
    if (!same)
        return tt_set_error(TT_ESHAPE, "%s: output with shape %s doesn't match the broadcast shape %s", op,
                            tt_shape_str(x->ndim, x->shape, b1, sizeof b1), tt_shape_str(n, out, b2, sizeof b2));
    /* Writing into a tensor whose elements overlap (an expanded view) would race and is refused. */
    for (int i = 0; i < x->ndim; i++)
        if (x->strides[i] == 0 && x->shape[i] > 1)
            return tt_set_error(TT_EINVAL,
                                "unsupported operation: more than one element of the written-to tensor "
                                "refers to a single memory location. Please clone() the tensor before "
                                "performing the operation.");
    return TT_OK;
}

tt_status tt_copy_(tt_tensor *dst, const tt_tensor *src)
{
    tt_status st = check_inplace_target(dst, src->ndim, src->shape, "copy_");
    if (st != TT_OK) return st;
    tt_tensor *s = tt_retain((tt_tensor *)src);
    tt_device dd = tt_device_of(dst), sd = tt_device_of(src);
    if (dd.type != sd.type || dd.index != sd.index) {
        tt_release(s);
        if (!(s = tt_to_device(src, dd))) return tt_last_status();
    }
    if (tt_numel(dst)) {
        tt_kview o, i;
        tt__kview(dst, &o);
        tt__kview_expanded(s, dst->ndim, dst->shape, &i);
        st = tt__backend(dst)->copy(&o, &i);
    }
    tt_release(s);
    if (st == TT_OK) tt_bump_version(dst);
    return st;
}

/* x OP= y straight into x through binary_flat: x contiguous, y of x's
 * floating dtype and shape (or 0-d) in its own storage, each element of x
 * read before it is written. */
static tt_status binary_flat_inplace(const tt_backend *be, tt_binary_op op, tt_tensor *x, int64_t n, const tt_tensor *y,
                                     int y_step)
{
    tt_flat fx = flat_of(x, 1), fy = flat_of(y, y_step);
    tt_status st = be->binary_flat(op, x->dtype, n, &fx, &fx, &fy);
    if (st == TT_OK) tt_bump_version(x);
    return st;
}

tt_status tt_binary_(tt_binary_op op, tt_tensor *x, const tt_tensor *y)
{
    /* The common case first, where every check below passes: floating
     * arithmetic of one dtype, y of x's shape or 0-d, x contiguous and not
     * empty (no element written twice), y flat and in its own storage. */
    const tt_backend *be = tt__backend(x);
    int64_t n;
    int y_step;
    if (x->dtype == y->dtype && tt__is_floating(x->dtype) && !is_comparison(op) && be->binary_flat && be->inplace &&
        y->storage != x->storage && tt__backend(y) == be && (y->ndim == 0 || same_shape_as(x, y)) &&
        (n = tt__numel(x)) > 0 && tt__is_contiguous(x) && (y_step = flat_step(y)) >= 0)
        return binary_flat_inplace(be, op, x, n, y, y_step);
    tt_status st = check_inplace_target(x, y->ndim, y->shape, binary_ops[op].name);
    if (st != TT_OK) return st;
    tt_dtype dts[2] = {x->dtype, y->dtype};
    operand_class cls[2] = {class_of(x), class_of(y)};
    tt_dtype common = x->dtype == y->dtype ? x->dtype : result_type(dts, cls, 2), compute = common, result = common;
    if ((!tt__is_floating(common) || is_comparison(op)) && (st = binary_dtypes(op, common, &compute, &result)) != TT_OK)
        return st;
    /* PyTorch's can_cast: no writing floats into integers, or numbers into bools. */
    if ((tt_dtype_is_floating(result) && !tt_dtype_is_floating(x->dtype)) || (result != TT_BOOL && x->dtype == TT_BOOL))
        return tt_set_error(TT_EDTYPE, "result type %s can't be cast to the desired output type %s",
                            result == TT_F32   ? "Float"
                            : result == TT_F64 ? "Double"
                                               : "Long",
                            x->dtype == TT_F32   ? "Float"
                            : x->dtype == TT_F64 ? "Double"
                            : x->dtype == TT_I64 ? "Long"
                                                 : "Bool");
    /* Straight into x on the CPU when no cast is needed and y has its own
     * storage: each output element is then read only as the same element of
     * x, before it is written. Otherwise y may alias x (or the backend may not
     * allow out = a), so it is computed out of place and written back. */
    if (compute == x->dtype && result == x->dtype && be->inplace && be->binary && tt__backend(y) == be &&
        y->storage != x->storage) {
        const tt_tensor *cy = y->dtype == compute ? y : tt_cast(y, compute);
        if (!cy) return tt_last_status();
        int64_t n = tt__numel(x);
        if (n) {
            tt_kview o, vb;
            bool one = cy->ndim == 0;
            if (tt__is_contiguous(x) && (one || (same_shape_as(cy, x) && tt__is_contiguous(cy)))) {
                tt__kview_flat(x, n, 1, &o); /* as elementwise_views */
                tt__kview_flat(cy, n, one ? 0 : 1, &vb);
            } else {
                tt__kview(x, &o);
                tt__kview_expanded(cy, x->ndim, x->shape, &vb);
            }
            st = be->binary(op, &o, &o, &vb);
        }
        if (cy != y) tt_release((tt_tensor *)cy);
        if (st == TT_OK) tt_bump_version(x);
        return st;
    }
    tt_tensor *r = tt_binary(op, x, y); /* computed out of place, then written back: x may alias y */
    if (!r) return tt_last_status();
    st = tt_copy_(x, r);
    tt_release(r);
    return st;
}

tt_status tt_add_(tt_tensor *x, const tt_tensor *y) { return tt_binary_(TT_ADD, x, y); }
tt_status tt_sub_(tt_tensor *x, const tt_tensor *y) { return tt_binary_(TT_SUB, x, y); }
tt_status tt_mul_(tt_tensor *x, const tt_tensor *y) { return tt_binary_(TT_MUL, x, y); }
tt_status tt_div_(tt_tensor *x, const tt_tensor *y) { return tt_binary_(TT_DIV, x, y); }

tt_status tt_fill_(tt_tensor *x, double value)
{
    tt_status st = check_inplace_target(x, 0, NULL, "fill_");
    if (st != TT_OK) return st;
    int64_t n = tt__numel(x);
    if (n) {
        tt_kview o;
        if (tt__is_contiguous(x)) tt__kview_flat(x, n, 1, &o); /* the same elements in order */
        else tt__kview(x, &o);
        if ((st = tt__backend(x)->fill(&o, value)) != TT_OK) return st;
    }
    tt_bump_version(x);
    return TT_OK;
}

tt_status tt_zero_(tt_tensor *x) { return tt_fill_(x, 0); }
