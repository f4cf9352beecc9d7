/* Differentiable ops. Each op is defined once, here: its forward is the
 * libtensor op (one kernel per backend), and its derivative is a formula in
 * tg_ ops, named as in PyTorch's derivatives.yaml. A node cannot be recorded
 * without a tg_fn_def, and a tg_fn_def cannot be written without naming its
 * backward function: a missing derivative does not compile. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "grad/internal.h"

#define DEFINE_FN(NAME, BACKWARD) static const tg_fn_def NAME = {#NAME, BACKWARD}
#define OK_IF(x) ((x) ? TT_OK : tt_last_status())
#define SAVED(name) tg__saved_named(n, name)

/* Runs a formula for input i only when that input needs a gradient. */
#define GRAD(i, expr)                                                           \
    do {                                                                        \
        if (tg__needs_grad(n, i) && !(gi[i] = (expr))) return tt_last_status(); \
    } while (0)

static tt_tensor *zero_like_scalar(const tt_tensor *g) { return g ? tt_scalar(0, g->dtype, tt_device_of(g)) : NULL; }

/* Records out = def(inputs) when needed; on failure releases out. */
static tt_tensor *record(const tg_fn_def *def, tt_tensor *out, int n, const tt_tensor *const *in, tg_node **node)
{
    *node = NULL;
    if (!out || !tg__should_record(n, in)) return out;
    if (!(*node = tg__record(def, out, n, in))) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static tt_tensor *save_or_fail(tt_tensor *out, tg_node *node, const tt_tensor *t, bool is_output, const char *name)
{
    if (out && node && tg__save(node, t, is_output, name) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

/* ---- unary ------------------------------------------------------------------ */
/* relu'(0) = 0: the gradient stops where the result is <= 0, and passes
 * elsewhere, NaN included (PyTorch's threshold_backward). */
static tt_tensor *relu_grad(const tt_tensor *g, const tt_tensor *r)
{
    tt_tensor *zero = T(zero_like_scalar(g));
    return tg_where(T(r && zero ? tt_le(r, zero) : NULL), zero, g);
}
/* softplus(x) = x above 20 (PyTorch's threshold), so its derivative is 1 there. */
static tt_tensor *softplus_grad(const tt_tensor *g, const tt_tensor *x)
{
    tt_tensor *above = T(x ? tt_binary_scalar(TT_GT, x, 20) : NULL);
    return tg_where(above, g, T(tg_mul(g, T(tg_sigmoid(x)))));
}
/* (1 - x^2)^(-1/2): asin' and -acos'. */
static tt_tensor *rsqrt_one_minus_square(const tt_tensor *x)
{
    return tg_pow_scalar(T(tg_scalar_binary(TT_SUB, 1, T(tg_mul(x, x)))), -0.5);
}
static tt_status reciprocal_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *r = SAVED("result");
    GRAD(0, tg_mul(T(tg_neg(g)), T(tg_mul(r, r))));
    return TT_OK;
}
DEFINE_FN(ReciprocalBackward0, reciprocal_bw);

/* The op table's derivatives (tg/ops.def): X is the saved input, R the saved
 * result. */
#define X SAVED("self")
#define R SAVED("result")
#define TT_UNARY_OP(ENUM, name, ints, Node, saves, derivative, ...)            \
    static tt_status name##_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi) \
    {                                                                          \
        GRAD(0, derivative);                                                   \
        return TT_OK;                                                          \
    }                                                                          \
    DEFINE_FN(Node, name##_bw);
#include "tg/ops.def"
#undef X
#undef R

enum { SAVE_NOTHING, SAVE_SELF, SAVE_RESULT };
static const struct {
    const tg_fn_def *def;
    int save;
} unary_defs[] = {
#define TT_UNARY_OP(ENUM, name, ints, Node, saves, ...) [TT_##ENUM] = {&Node, SAVE_##saves},
#include "tg/ops.def"
};
_Static_assert(sizeof unary_defs / sizeof unary_defs[0] == TT_NUM_UNARY, "a derivative for every unary op");

tt_tensor *tg_unary(tt_unary_op op, const tt_tensor *x)
{
    if (!x) return NULL;
    tg_node *node;
    tt_tensor *out = record(unary_defs[op].def, tt_unary(op, x), 1, &x, &node);
    if (unary_defs[op].save == SAVE_SELF) return save_or_fail(out, node, x, false, "self");
    if (unary_defs[op].save == SAVE_RESULT) return save_or_fail(out, node, out, true, "result");
    return out;
}

#define TT_UNARY_OP(ENUM, name, ...) \
    tt_tensor *tg_##name(const tt_tensor *x) { return tg_unary(TT_##ENUM, x); }
#include "tg/ops.def"

static tt_tensor *tg_reciprocal(const tt_tensor *x)
{
    if (!x) return NULL;
    tg_node *node;
    tt_tensor *out = record(&ReciprocalBackward0, tt_scalar_binary(TT_DIV, 1, x), 1, &x, &node);
    return save_or_fail(out, node, out, true, "result");
}

/* ---- binary ------------------------------------------------------------------ */
static tt_status rsub_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_neg(g));
    return TT_OK;
}
/* d/dx x^e = e x^(e-1), except 0 where e == 0 (so x^0 has derivative 0 at 0). */
static tt_tensor *pow_grad_base(tg_node *n, const tt_tensor *g)
{
    tt_tensor *self = SAVED("self"), *e = SAVED("exponent"), *zero = T(zero_like_scalar(g));
    tt_tensor *d = T(tg_mul(T(tg_mul(g, e)), T(tg_pow(self, T(tg_add_scalar(e, -1))))));
    return tg_where(T(e && zero ? tt_eq(e, zero) : NULL), zero, d);
}
/* d/de x^e = x^e log x, except 0 where x == 0 and e >= 0. */
static tt_tensor *pow_grad_exponent(tg_node *n, const tt_tensor *g)
{
    tt_tensor *self = SAVED("self"), *e = SAVED("exponent"), *zero = T(zero_like_scalar(g)), *r = SAVED("result");
    tt_tensor *at_zero = T(self && zero ? tt_eq(self, zero) : NULL), *e_nonneg = T(e && zero ? tt_ge(e, zero) : NULL);
    tt_tensor *mask = T(at_zero && e_nonneg ? tt_mul(at_zero, e_nonneg) : NULL);
    return tg_mul(g, T(tg_where(mask, zero, T(tg_mul(r, T(tg_log(self)))))));
}
static tt_status pow_scalar_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    double e = n->attrs.s0;
    if (e == 0) GRAD(0, tt_zeros_like(SAVED("self")));
    /* x^1 is x itself (the kernel copies it): with no graph to record, no copy */
    else if (e == 2 && !tg__grad_mode()) GRAD(0, tg_mul(g, T(tg_mul_scalar(SAVED("self"), e))));
    else GRAD(0, tg_mul(g, T(tg_mul_scalar(T(tg_pow_scalar(SAVED("self"), e - 1)), e))));
    return TT_OK;
}
/* maximum/minimum: input i gets nothing where it loses (a `loses` b), half
 * where the two tie, as in PyTorch. */
static tt_tensor *extreme_grad(tg_node *n, const tt_tensor *g, tt_binary_op loses, int i)
{
    tt_tensor *a = SAVED("self"), *b = SAVED("other"), *zero = T(zero_like_scalar(g));
    tt_tensor *tie = T(a && b ? tt_eq(a, b) : NULL);
    tt_tensor *shared = T(tg_where(tie, T(tg_binary_scalar(TT_DIV, g, 2)), g));
    const tt_tensor *mine = i ? b : a, *theirs = i ? a : b;
    return tg_where(T(a && b ? tt_binary(loses, mine, theirs) : NULL), zero, shared);
}
/* atan2(a, b)' = (b, -a) / (a^2 + b^2). */
static tt_tensor *atan2_grad(tg_node *n, const tt_tensor *g, int i)
{
    tt_tensor *a = SAVED("self"), *b = SAVED("other");
    tt_tensor *r2 = T(tg_add(T(tg_mul(a, a)), T(tg_mul(b, b))));
    return tg_div(T(tg_mul(g, i ? T(tg_neg(a)) : b)), r2);
}
DEFINE_FN(RsubBackward1, rsub_bw);
DEFINE_FN(PowBackward0, pow_scalar_bw);

/* The op table's derivatives (tg/ops.def): A and B are the saved inputs ("self",
 * "other"); GO and Y those of a fused backward ("grad_output", "output"). */
#define A SAVED("self")
#define B SAVED("other")
#define GO SAVED("grad_output")
#define Y SAVED("output")
#define TT_BINARY_OP(ENUM, name, kind, Node, saves, da, db, ...)               \
    static tt_status name##_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi) \
    {                                                                          \
        GRAD(0, da);                                                           \
        GRAD(1, db);                                                           \
        return TT_OK;                                                          \
    }                                                                          \
    DEFINE_FN(Node, name##_bw);
#include "tg/ops.def"
#undef A
#undef B
#undef GO
#undef Y

/* What a binary node saves (the saves column of tg/ops.def). */
enum { SAVE2_NOTHING, SAVE2_CROSS, SAVE2_DIV, SAVE2_POW, SAVE2_BOTH, SAVE2_BACKWARD };
static const struct {
    const tg_fn_def *def; /* NULL: a comparison, not differentiable */
    int save;
} binary_defs[] = {
#define TT_BINARY_OP(ENUM, name, kind, Node, saves, ...) [TT_##ENUM] = {&Node, SAVE2_##saves},
#define TT_COMPARE_OP(ENUM, name) [TT_##ENUM] = {NULL, SAVE2_NOTHING},
#include "tg/ops.def"
};
_Static_assert(sizeof binary_defs / sizeof binary_defs[0] == TT_NUM_BINARY, "a row for every binary op");

tt_tensor *tg_binary(tt_binary_op op, const tt_tensor *a, const tt_tensor *b)
{
    if (!a || !b) return NULL;
    if (!binary_defs[op].def) return tt_binary(op, a, b); /* comparisons: not differentiable */
    const tt_tensor *in[2] = {a, b};
    tg_node *node;
    tt_tensor *out = record(binary_defs[op].def, tt_binary(op, a, b), 2, in, &node);
    if (!node) return out;
    bool need_a = tg__needs_grad(node, 0), need_b = tg__needs_grad(node, 1);
    switch (binary_defs[op].save) {
    case SAVE2_CROSS:
        if (need_b) out = save_or_fail(out, node, a, false, "self");
        if (need_a) out = save_or_fail(out, node, b, false, "other");
        return out;
    case SAVE2_DIV:
        if (need_b) out = save_or_fail(out, node, a, false, "self");
        return save_or_fail(out, node, b, false, "other");
    case SAVE2_POW:
        out = save_or_fail(out, node, a, false, "self");
        out = save_or_fail(out, node, b, false, "exponent");
        return need_b ? save_or_fail(out, node, out, true, "result") : out;
    case SAVE2_BOTH: out = save_or_fail(out, node, a, false, "self"); return save_or_fail(out, node, b, false, "other");
    case SAVE2_BACKWARD:
        out = save_or_fail(out, node, a, false, "grad_output");
        return save_or_fail(out, node, b, false, "output");
    default: return out;
    }
}

#define TT_BINARY_OP(ENUM, name, ...) \
    tt_tensor *tg_##name(const tt_tensor *a, const tt_tensor *b) { return tg_binary(TT_##ENUM, a, b); }
#include "tg/ops.def"

/* A Python-style number becomes a 0-d tensor of the tensor's dtype when that
 * is floating (PyTorch wraps numbers the same way, hence the same node names). */
static tt_dtype wrapped_dtype(const tt_tensor *x, double s)
{
    return tt_dtype_is_floating(x->dtype) ? x->dtype : s == floor(s) ? TT_I64 : TT_F32;
}

tt_tensor *tg_binary_scalar(tt_binary_op op, const tt_tensor *a, double s)
{
    if (!a) return NULL;
    if (op == TT_POW) { /* x ** s is its own op in PyTorch: PowBackward0 */
        tg_node *node;
        tt_tensor *out = record(&PowBackward0, tt_binary_scalar(TT_POW, a, s), 1, &a, &node);
        if (node) node->attrs.s0 = s;
        return save_or_fail(out, node, a, false, "self");
    }
    /* Nothing to record: the plain op, whose number takes a floating tensor's
     * dtype as the wrapped one would (and costs no tensor on the CPU). */
    if (tt_dtype_is_floating(a->dtype) && !tg__should_record(1, &a)) return tt_binary_scalar(op, a, s);
    tt_tensor *st = tt_scalar(s, wrapped_dtype(a, s), tt_device_of(a));
    tt_tensor *out = st ? tg_binary(op, a, st) : NULL;
    tt_release(st);
    return out;
}

tt_tensor *tg_scalar_binary(tt_binary_op op, double s, const tt_tensor *b)
{
    if (!b) return NULL;
    if (op == TT_SUB) { /* s - x: RsubBackward1 */
        tg_node *node;
        return record(&RsubBackward1, tt_scalar_binary(TT_SUB, s, b), 1, &b, &node);
    }
    if (op == TT_ADD || op == TT_MUL || op == TT_MAXIMUM || op == TT_MINIMUM) /* __radd__ etc.: tensor first */
        return tg_binary_scalar(op, b, s);
    if (op == TT_DIV) { /* s / x = reciprocal(x) * s, as PyTorch computes it */
        tt_tensor *r = tg_reciprocal(b);
        tt_tensor *out = r ? tg_binary_scalar(TT_MUL, r, s) : NULL;
        tt_release(r);
        return out;
    }
    tt_tensor *st = tt_scalar(s, wrapped_dtype(b, s), tt_device_of(b));
    tt_tensor *out = st ? tg_binary(op, st, b) : NULL;
    tt_release(st);
    return out;
}

tt_tensor *tg_square(const tt_tensor *x) { return tg_pow_scalar(x, 2); }
tt_tensor *tg_add_scalar(const tt_tensor *a, double s) { return tg_binary_scalar(TT_ADD, a, s); }
tt_tensor *tg_mul_scalar(const tt_tensor *a, double s) { return tg_binary_scalar(TT_MUL, a, s); }
tt_tensor *tg_pow_scalar(const tt_tensor *a, double e) { return tg_binary_scalar(TT_POW, a, e); }

/* ---- where, clamp, cast ----------------------------------------------------------- */
/* The condition is not differentiable. */
static tt_status where_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *cond = SAVED("condition"), *zero = T(zero_like_scalar(g));
    GRAD(0, tg_where(cond, g, zero));
    GRAD(1, tg_where(cond, zero, g));
    return TT_OK;
}
/* The gradient passes at the bounds themselves. */
static tt_status clamp_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *x = SAVED("self");
    if (!x) return tt_last_status();
    tt_tensor *inside = T(tt_full_like(x, 1));
    inside = T(inside ? tt_cast(inside, TT_BOOL) : NULL);
    if (!isnan(n->attrs.s0))
        inside = T(inside ? tt_mul(inside, T(tt_ge(x, T(tt_scalar(n->attrs.s0, x->dtype, tt_device_of(x)))))) : NULL);
    if (!isnan(n->attrs.s1))
        inside = T(inside ? tt_mul(inside, T(tt_le(x, T(tt_scalar(n->attrs.s1, x->dtype, tt_device_of(x)))))) : NULL);
    GRAD(0, tg_where(inside, g, T(zero_like_scalar(g))));
    return TT_OK;
}
static tt_status to_copy_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_cast(g, n->inputs[0].dtype));
    return TT_OK;
}
DEFINE_FN(WhereBackward0, where_bw);
DEFINE_FN(ClampBackward1, clamp_bw);
DEFINE_FN(ToCopyBackward0, to_copy_bw);

tt_tensor *tg_where(const tt_tensor *cond, const tt_tensor *a, const tt_tensor *b)
{
    if (!cond || !a || !b) return NULL;
    const tt_tensor *in[2] = {a, b}; /* the condition is not an input of the node */
    tg_node *node;
    tt_tensor *out = record(&WhereBackward0, tt_where(cond, a, b), 2, in, &node);
    return save_or_fail(out, node, cond, false, "condition");
}

tt_tensor *tg_clamp(const tt_tensor *x, double lo, double hi)
{
    if (!x) return NULL;
    tg_node *node;
    tt_tensor *out = record(&ClampBackward1, tt_clamp(x, lo, hi), 1, &x, &node);
    if (node) {
        node->attrs.s0 = lo;
        node->attrs.s1 = hi;
    }
    return save_or_fail(out, node, x, false, "self");
}

tt_tensor *tg_cast(const tt_tensor *x, tt_dtype dt)
{
    if (!x) return NULL;
    if (x->dtype == dt) return tt_retain((tt_tensor *)x);
    tg_node *node;
    return record(&ToCopyBackward0, tt_cast(x, dt), 1, &x, &node);
}

/* ---- reductions --------------------------------------------------------------- */
/* g of a reduction, brought back to the input's rank (keepdim form). */
static tt_tensor *unsqueeze_reduced(const tg_node *n, const tt_tensor *g)
{
    const tg_shape *in = &n->inputs[0];
    if (n->attrs.keepdim || !g) return g ? tt_retain((tt_tensor *)g) : NULL;
    bool reduced[TT_MAX_DIMS] = {false};
    if (n->attrs.ndims == 0)
        for (int i = 0; i < in->ndim; i++) reduced[i] = true;
    for (int i = 0; i < n->attrs.ndims; i++) reduced[n->attrs.dims[i]] = true;
    tt_tensor *r = tt_retain((tt_tensor *)g);
    for (int d = 0; d < in->ndim && r; d++)
        if (reduced[d]) {
            tt_tensor *u = tg_unsqueeze(r, d);
            tt_release(r);
            r = u;
        }
    return r;
}

static tt_tensor *expand_back(const tg_node *n, const tt_tensor *g)
{
    /* A full reduction's gradient is 0-d, which expands as it is (the same
     * view as after unsqueezing it): with no graph to record, no steps between. */
    if (g && g->ndim == 0 && !n->attrs.keepdim && !tg__grad_mode())
        return tg_expand(g, n->inputs[0].ndim, n->inputs[0].shape);
    tt_tensor *k = T(unsqueeze_reduced(n, g));
    return k ? tg_expand(k, n->inputs[0].ndim, n->inputs[0].shape) : NULL;
}

static int64_t reduced_count(const tg_node *n)
{
    const tg_shape *in = &n->inputs[0];
    if (n->attrs.ndims == 0) return tt_shape_numel(in->ndim, in->shape);
    int64_t c = 1;
    for (int i = 0; i < n->attrs.ndims; i++) c *= in->shape[n->attrs.dims[i]];
    return c;
}

static tt_status sum_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, expand_back(n, g));
    return TT_OK;
}
static tt_status mean_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_binary_scalar(TT_DIV, T(expand_back(n, g)), (double)reduced_count(n)));
    return TT_OK;
}
/* y shifted by s along dim (toward the end, or toward the start), with ones
 * where nothing arrives: a differentiable slice placed into a constant. */
static tt_tensor *shift_in_ones(const tt_tensor *y, int dim, int64_t s, bool toward_end)
{
    int64_t n = y->shape[dim], len = n > s ? n - s : 0;
    int64_t from = toward_end ? 0 : n - len, at = toward_end ? n - len : 0;
    tt_tensor *placed =
        T(tg__slice_scatter(T(tg_slice(y, dim, from, from + len, 1)), y->ndim, y->shape, dim, at, at + len));
    tt_tensor *fill = T(tt_ones_like(y));
    tt_tensor *hole = fill ? tt_slice(fill, dim, at, at + len, 1) : NULL;
    tt_status st = hole ? tt_zero_(hole) : tt_last_status();
    tt_release(hole);
    return st == TT_OK ? tg_add(placed, fill) : NULL;
}

/* The product of all the other elements along dim, exact with zeros and
 * differentiable to any order: exclusive prefix times exclusive suffix
 * products, each built in log2(n) doubling steps. */
static tt_tensor *prod_of_others(const tt_tensor *x, int dim)
{
    int64_t n = x->shape[dim];
    tt_tensor *pre = (tt_tensor *)x, *suf = (tt_tensor *)x;
    for (int64_t s = 1; s < n && pre && suf; s *= 2) {
        pre = T(tg_mul(pre, T(shift_in_ones(pre, dim, s, true))));
        suf = T(tg_mul(suf, T(shift_in_ones(suf, dim, s, false))));
    }
    return pre && suf ? tg_mul(T(shift_in_ones(pre, dim, 1, true)), T(shift_in_ones(suf, dim, 1, false))) : NULL;
}

/* d prod / dx_i = product of the others: result / x when no element is zero
 * (PyTorch's fast path), else the exact prefix/suffix form. */
static tt_status prod_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *x = SAVED("self");
    if (!x) return tt_last_status();
    tt_tensor *zero = T(tt_scalar(0, x->dtype, tt_device_of(x)));
    tt_tensor *zeros = T(zero ? tt_sum(T(tt_eq(x, zero))) : NULL);
    double nzeros = 0;
    if (!zeros || tt_item(zeros, &nzeros) != TT_OK) return tt_last_status();
    tt_tensor *others;
    if (nzeros == 0) {
        others = T(tg_div(T(expand_back(n, SAVED("result"))), x));
    } else if (n->attrs.ndims == 0) {
        int64_t count = tt_numel(x);
        others = T(tg_reshape(T(prod_of_others(T(tg_reshape(x, 1, &count)), 0)), x->ndim, x->shape));
    } else {
        others = T(prod_of_others(x, n->attrs.dims[0]));
    }
    GRAD(0, tg_mul(T(expand_back(n, g)), others));
    return TT_OK;
}
/* max()/min() over everything: ties share the gradient evenly; a NaN result
 * came from the NaNs, which share it (PyTorch's evenly_distribute_backward). */
static tt_tensor *is_nan(const tt_tensor *t) { return t ? tt_ne(t, t) : NULL; }
static tt_status extreme_all_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *x = SAVED("self"), *r = SAVED("result");
    tt_tensor *both_nan = T(x && r ? tt_mul(T(is_nan(x)), T(is_nan(r))) : NULL);
    tt_tensor *hit = T(x && r && both_nan ? tt_add(T(tt_eq(x, r)), both_nan) : NULL);
    tt_tensor *count = T(hit ? tt_sum(hit) : NULL);
    tt_tensor *share = T(tg_div(g, T(count ? tt_cast(count, g->dtype) : NULL)));
    GRAD(0, tg_where(hit, share, T(zero_like_scalar(g))));
    return TT_OK;
}
/* max/min over a dim: the whole gradient goes to the returned index. */
static tt_status extreme_dim_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *idx = SAVED("indices");
    int dim = n->attrs.dims[0];
    const tg_shape *in = &n->inputs[0];
    if (!idx) return tt_last_status();
    tt_tensor *gk = T(unsqueeze_reduced(n, g)), *ik = T(n->attrs.keepdim ? tt_retain(idx) : tt_unsqueeze(idx, dim));
    int64_t len = in->ndim ? in->shape[dim] : 1, shape[TT_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) shape[d] = d == dim ? len : 1;
    tt_tensor *pos = T(tt_arange(0, (double)len, 1, TT_I64, tt_device_of(idx)));
    pos = T(pos && in->ndim ? tt_view(pos, in->ndim, shape) : tt_retain(pos));
    tt_tensor *hit = T(pos && ik ? tt_eq(pos, ik) : NULL);
    GRAD(0, tg_where(hit, gk, T(zero_like_scalar(g))));
    return TT_OK;
}
#define TT_REDUCE_OP(ENUM, name, NodeAll, NodeDim, saves, backward, backward_dim, ...) \
    DEFINE_FN(NodeAll, backward);                                                      \
    DEFINE_FN(NodeDim, backward_dim);
#include "tg/ops.def"
static const struct {
    const tg_fn_def *all, *dim;
    bool saves; /* "self" and "result", over every element */
} reduce_defs[] = {
#define TT_REDUCE_OP(ENUM, name, NodeAll, NodeDim, saves, ...) [TT_##ENUM] = {&NodeAll, &NodeDim, SAVES_##saves},
#define SAVES_NOTHING false
#define SAVES_SELF_RESULT true
#include "tg/ops.def"
};
_Static_assert(sizeof reduce_defs / sizeof reduce_defs[0] == TT_NUM_REDUCE, "a derivative for every reduction");

tt_tensor *tg_reduce(tt_reduce_op op, const tt_tensor *x, const int *dims, int ndims, bool keepdim)
{
    if (!x) return NULL;
    bool all = !dims || ndims == 0;
    if (!all && (op == TT_MAX || op == TT_MIN)) {
        if (ndims != 1) {
            tt_set_error(TT_EINVAL, "max/min over dims takes exactly one dim");
            return NULL;
        }
        return op == TT_MAX ? tg_max_dim(x, dims[0], keepdim, NULL) : tg_min_dim(x, dims[0], keepdim, NULL);
    }
    if (op == TT_PROD && !all && ndims > 1) { /* PyTorch's prod takes one dim: compose, highest dim first */
        int sorted[TT_MAX_DIMS];
        for (int i = 0; i < ndims; i++) {
            int d = dims[i] < 0 ? dims[i] + x->ndim : dims[i], j = i;
            for (; j > 0 && sorted[j - 1] < d; j--) sorted[j] = sorted[j - 1];
            sorted[j] = d;
        }
        tt_tensor *r = tt_retain((tt_tensor *)x);
        for (int i = 0; i < ndims && r; i++) {
            tt_tensor *next = tg_reduce(TT_PROD, r, &sorted[i], 1, keepdim);
            tt_release(r);
            r = next;
        }
        return r;
    }
    tg_node *node;
    tt_tensor *out =
        record(all ? reduce_defs[op].all : reduce_defs[op].dim, tt_reduce(op, x, dims, ndims, keepdim), 1, &x, &node);
    if (!node) return out;
    node->attrs.keepdim = all ? false : keepdim;
    node->attrs.ndims = all ? 0 : ndims;
    for (int i = 0; !all && i < ndims; i++) node->attrs.dims[i] = dims[i] < 0 ? dims[i] + x->ndim : dims[i];
    if (reduce_defs[op].saves) out = save_or_fail(out, node, x, false, "self");
    if (reduce_defs[op].saves) out = save_or_fail(out, node, out, true, "result");
    return out;
}

#define TT_REDUCE_OP(ENUM, name, ...) \
    tt_tensor *tg_##name(const tt_tensor *x) { return tg_reduce(TT_##ENUM, x, NULL, 0, false); }
#include "tg/ops.def"
tt_tensor *tg_sum_dims(const tt_tensor *x, const int *d, int n, bool k) { return tg_reduce(TT_SUM, x, d, n, k); }
tt_tensor *tg_mean_dims(const tt_tensor *x, const int *d, int n, bool k) { return tg_reduce(TT_MEAN, x, d, n, k); }

static tt_tensor *extreme_dim(tt_reduce_op op, const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices)
{
    if (indices) *indices = NULL;
    if (!x) return NULL;
    tt_tensor *idx = NULL;
    tt_tensor *v = op == TT_MAX ? tt_max_dim(x, dim, keepdim, &idx) : tt_min_dim(x, dim, keepdim, &idx);
    tg_node *node;
    v = record(reduce_defs[op].dim, v, 1, &x, &node);
    if (node) {
        node->attrs.dims[0] = x->ndim ? (dim < 0 ? dim + x->ndim : dim) : 0;
        node->attrs.ndims = 1;
        node->attrs.keepdim = keepdim;
        v = save_or_fail(v, node, idx, false, "indices");
    }
    if (v && indices) *indices = idx;
    else tt_release(idx);
    return v;
}

tt_tensor *tg_max_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices)
{
    return extreme_dim(TT_MAX, x, dim, keepdim, indices);
}

tt_tensor *tg_min_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices)
{
    return extreme_dim(TT_MIN, x, dim, keepdim, indices);
}

/* ---- logsumexp ------------------------------------------------------------------ */
/* d/dx log sum exp x = exp(x - result), the softmax. */
static tt_status logsumexp_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *lse = T(unsqueeze_reduced(n, SAVED("result")));
    GRAD(0, tg_mul(T(unsqueeze_reduced(n, g)), T(tg_exp(T(tg_sub(SAVED("self"), lse))))));
    return TT_OK;
}
DEFINE_FN(LogsumexpBackward0, logsumexp_bw);

/* log(sum(exp(x - m))) + m with m the max over dims (0 where infinite, so
 * that inf - inf does not make a NaN), as PyTorch computes it. */
static tt_tensor *logsumexp_value(const tt_tensor *x, const int *dims, int ndims, bool keepdim)
{
    tt_tensor *m = T(tt_reduce(TT_MAX, x, dims, ndims, true));
    tt_tensor *finite = T(m ? tt_eq(T(tt_sub(m, m)), T(tt_scalar(0, m->dtype, tt_device_of(m)))) : NULL);
    m = T(finite ? tt_where(finite, m, T(tt_scalar(0, m->dtype, tt_device_of(m)))) : NULL);
    tt_tensor *s = T(m ? tt_reduce(TT_SUM, T(tt_exp(T(tt_sub(x, m)))), dims, ndims, true) : NULL);
    tt_tensor *r = T(s ? tt_add(T(tt_log(s)), m) : NULL);
    if (!r || keepdim) return r ? tt_retain(r) : NULL;
    tt_tensor *v = T(tt_reduce(TT_SUM, r, dims, ndims, false)); /* drops the size-1 dims */
    return v ? tt_retain(v) : NULL;
}

tt_tensor *tg_logsumexp(const tt_tensor *x, const int *dims, int ndims, bool keepdim)
{
    if (!x) return NULL;
    if (!tt_dtype_is_floating(x->dtype)) {
        tt_tensor *f = tt_cast(x, TT_F32), *r = f ? tg_logsumexp(f, dims, ndims, keepdim) : NULL;
        tt_release(f);
        return r;
    }
    size_t mark = tg__tmp_mark();
    tt_tensor *out = logsumexp_value(x, dims, ndims, keepdim);
    tg__tmp_release_to(mark);
    tg_node *node;
    out = record(&LogsumexpBackward0, out, 1, &x, &node);
    if (node) {
        node->attrs.keepdim = keepdim;
        node->attrs.ndims = ndims ? ndims : x->ndim;
        for (int i = 0; i < node->attrs.ndims; i++)
            node->attrs.dims[i] = !ndims ? i : dims[i] < 0 ? dims[i] + x->ndim : dims[i];
        if (!x->ndim) node->attrs.ndims = 0;
    }
    out = save_or_fail(out, node, x, false, "self");
    return save_or_fail(out, node, out, true, "result");
}

/* ---- scans ---------------------------------------------------------------------- */
/* The gradient of a cumulative sum is the cumulative sum of g from the other end. */
static tt_status cumsum_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_scan(TT_CUMSUM, g, n->attrs.dims[0], !n->attrs.keepdim));
    return TT_OK;
}
#define TT_SCAN_OP(ENUM, name, Node, check) DEFINE_FN(Node, name##_bw);
#include "tg/ops.def"
static const tg_fn_def *const scan_defs[] = {
#define TT_SCAN_OP(ENUM, name, Node, check) [TT_##ENUM] = &Node,
#include "tg/ops.def"
};
_Static_assert(sizeof scan_defs / sizeof scan_defs[0] == TT_NUM_SCAN, "a derivative for every scan");

tt_tensor *tg_scan(tt_scan_op op, const tt_tensor *x, int dim, bool reverse)
{
    if (!x) return NULL;
    tg_node *node;
    tt_tensor *out = record(scan_defs[op], tt_scan(op, x, dim, reverse), 1, &x, &node);
    if (node) {
        node->attrs.dims[0] = x->ndim ? (dim < 0 ? dim + x->ndim : dim) : 0;
        node->attrs.keepdim = reverse; /* the direction */
    }
    return out;
}
#define TT_SCAN_OP(ENUM, name, ...) \
    tt_tensor *tg_##name(const tt_tensor *x, int dim) { return tg_scan(TT_##ENUM, x, dim, false); }
#include "tg/ops.def"

/* ---- indexing ------------------------------------------------------------------ */
/* index and index_select take slices of x at the indices; their gradient adds
 * g's slices back at them (index_add into zeros), whose own gradient is the
 * index_select of the incoming one: any order works. */
static tt_tensor *scatter_back(tg_node *n, const tt_tensor *g)
{
    tt_tensor *idx = SAVED("indices");
    int dim = n->attrs.dims[0];
    const tg_shape *in = &n->inputs[0];
    tt_tensor *zeros = T(g ? tt_zeros(in->ndim, in->shape, g->dtype, tt_device_of(g)) : NULL);
    tt_tensor *rows = T(n->attrs.keepdim ? tg_unsqueeze(g, dim) : tt_retain((tt_tensor *)g)); /* a 0-d index */
    /* x[index] counts negative indices from the end; index_add does not */
    tt_tensor *neg = T(idx ? tt_binary_scalar(TT_LT, idx, 0) : NULL);
    tt_tensor *pos = T(neg ? tt_where(neg, T(tt_add_scalar(idx, (double)in->shape[dim])), idx) : NULL);
    return zeros && pos ? tg_index_add(zeros, dim, pos, rows) : NULL;
}
static tt_status index_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, scatter_back(n, g));
    return TT_OK;
}
static tt_status index_add_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tt_retain((tt_tensor *)g));
    GRAD(1, tg_index_select(g, n->attrs.dims[0], SAVED("index")));
    return TT_OK;
}
DEFINE_FN(IndexBackward0, index_bw);
DEFINE_FN(IndexSelectBackward0, index_bw);
DEFINE_FN(IndexAddBackward0, index_add_bw);

static tt_tensor *index_like(const tg_fn_def *def, tt_tensor *out, const tt_tensor *x, int dim, const tt_tensor *index)
{
    tg_node *node;
    out = record(def, out, 1, &x, &node);
    if (!node) return out;
    node->attrs.dims[0] = dim < 0 ? dim + x->ndim : dim;
    node->attrs.keepdim = index->ndim == 0;
    return save_or_fail(out, node, index, false, "indices");
}
tt_tensor *tg_index(const tt_tensor *x, int dim, const tt_tensor *index)
{
    return x && index ? index_like(&IndexBackward0, tt_index(x, dim, index), x, dim, index) : NULL;
}
tt_tensor *tg_index_select(const tt_tensor *x, int dim, const tt_tensor *index)
{
    return x && index ? index_like(&IndexSelectBackward0, tt_index_select(x, dim, index), x, dim, index) : NULL;
}
tt_tensor *tg_index_add(const tt_tensor *x, int dim, const tt_tensor *index, const tt_tensor *src)
{
    if (!x || !index || !src) return NULL;
    const tt_tensor *in[2] = {x, src};
    tg_node *node;
    tt_tensor *out = record(&IndexAddBackward0, tt_index_add(x, dim, index, src), 2, in, &node);
    if (!node) return out;
    node->attrs.dims[0] = dim < 0 ? dim + x->ndim : dim;
    int64_t n = tt_numel(index);
    tt_tensor *flat = tt_reshape(index, 1, &n); /* index_select takes a 1-D index */
    out = flat ? save_or_fail(out, node, flat, false, "index") : (tt_release(out), NULL);
    tt_release(flat);
    return out;
}

/* ---- losses ---------------------------------------------------------------------- */
tt_status tg_reduction_parse(const char *s, tg_reduction *out)
{
    static const char *const names[] = {
        [TG_REDUCTION_MEAN] = "mean", [TG_REDUCTION_SUM] = "sum", [TG_REDUCTION_NONE] = "none"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) return *out = (tg_reduction)i, TT_OK;
    return tt_set_error(TT_EINVAL, "%s is not a valid value for reduction", s);
}

static tt_tensor *reduced(tt_tensor *l, tg_reduction r)
{
    if (r == TG_REDUCTION_NONE) return l ? tt_retain(l) : NULL;
    return r == TG_REDUCTION_SUM ? tg_sum(l) : tg_mean(l);
}

/* The losses' pieces (tg/ops.def's loss and dloss columns). smooth_l1 and
 * huber are quadratic inside |d| < beta (delta), linear outside; their
 * derivatives, as PyTorch's backward kernels, take the linear side's slope at
 * |d| = beta. */
static tt_tensor *abs_below(const tt_tensor *d, double bound)
{
    tt_tensor *a = T(tg_abs(d));
    return a ? tt_binary_scalar(TT_LT, a, bound) : NULL;
}
static tt_tensor *smooth_l1(const tt_tensor *d, double beta)
{
    tt_tensor *square = T(tg_mul_scalar(T(tg_mul(d, d)), 0.5));
    return tg_where(T(abs_below(d, beta)), T(tg_binary_scalar(TT_DIV, square, beta)),
                    T(tg_add_scalar(T(tg_abs(d)), -0.5 * beta)));
}
static tt_tensor *huber(const tt_tensor *d, double delta)
{
    return tg_where(T(abs_below(d, delta)), T(tg_mul_scalar(T(tg_mul(d, d)), 0.5)),
                    T(tg_mul_scalar(T(tg_add_scalar(T(tg_abs(d)), -0.5 * delta)), delta)));
}
/* -slope where d <= -bound, slope where d >= bound, `inside` between. */
static tt_tensor *clipped(const tt_tensor *d, double bound, double slope, const tt_tensor *inside)
{
    if (!d) return NULL;
    tt_tensor *lo = T(tt_binary_scalar(TT_LE, d, -bound)), *hi = T(tt_binary_scalar(TT_GE, d, bound));
    tt_tensor *neg = T(tt_scalar(-slope, d->dtype, tt_device_of(d))),
              *pos = T(tt_scalar(slope, d->dtype, tt_device_of(d)));
    return tg_where(lo, neg, T(tg_where(hi, pos, inside)));
}
static tt_tensor *smooth_l1_grad(const tt_tensor *d, double beta)
{
    return clipped(d, beta, 1, T(tg_binary_scalar(TT_DIV, d, beta)));
}
static tt_tensor *huber_grad(const tt_tensor *d, double delta) { return clipped(d, delta, delta, d); }

typedef tt_tensor *(*loss_fn)(const tt_tensor *d, double param);

/* d loss / d input = g loss'(d) (/ numel for a mean); the target's is its negative. */
static tt_status loss_backward(tg_node *n, const tt_tensor *g, tt_tensor **gi, loss_fn dloss)
{
    tt_tensor *d = T(tg_sub(SAVED("self"), SAVED("target")));
    tt_tensor *gx = T(d ? tg_mul(g, T(dloss(d, n->attrs.s0))) : NULL);
    if (gx && n->attrs.i0 == TG_REDUCTION_MEAN) gx = T(tg_binary_scalar(TT_DIV, gx, (double)tt_numel(d)));
    GRAD(0, gx ? tt_retain(gx) : NULL);
    GRAD(1, tg_neg(gx));
    return TT_OK;
}

#define D d
#define P p
#define TT_LOSS_OP(ENUM, name, Node, param, pdefault, loss, dloss, check)      \
    static tt_tensor *name##_value(const tt_tensor *d, double p)               \
    {                                                                          \
        (void)p;                                                               \
        return loss;                                                           \
    }                                                                          \
    static tt_tensor *name##_derivative(const tt_tensor *d, double p)          \
    {                                                                          \
        (void)p;                                                               \
        return dloss;                                                          \
    }                                                                          \
    static tt_status name##_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi) \
    {                                                                          \
        return loss_backward(n, g, gi, name##_derivative);                     \
    }                                                                          \
    DEFINE_FN(Node, name##_bw);
#include "tg/ops.def"
#undef D
#undef P

static const struct {
    const tg_fn_def *def;
    loss_fn value;
    const char *param;
    double param_default;
} losses[] = {
#define TT_LOSS_OP(ENUM, name, Node, param, pdefault, ...) [TG_##ENUM] = {&Node, name##_value, param, pdefault},
#include "tg/ops.def"
};
_Static_assert(sizeof losses / sizeof losses[0] == TG_NUM_LOSS, "a derivative for every loss");

const char *tg_loss_param(tg_loss_op op, double *default_value)
{
    if (default_value) *default_value = losses[op].param_default;
    return losses[op].param;
}

static bool same_shape(const tt_tensor *a, int ndim, const int64_t *shape)
{
    bool same = a->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = a->shape[i] == shape[i];
    return same;
}

/* Input and target of a loss broadcast to one shape as PyTorch's
 * broadcast_tensors does (an ExpandBackward0 for the one that grows), with
 * PyTorch's warning: new references in *x and *t, false on error. */
static bool broadcast_pair(const tt_tensor *input, const tt_tensor *target, tt_tensor **x, tt_tensor **t)
{
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    *x = *t = NULL;
    if (tt_broadcast_shapes(input->ndim, input->shape, target->ndim, target->shape, &ndim, shape) != TT_OK)
        return false;
    if (!same_shape(input, target->ndim, target->shape)) {
        char a[128], b[128];
        tg_warn(
            "Using a target size (torch.Size(%s)) that is different to the input size (torch.Size(%s)). This "
            "will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            tt_shape_str(target->ndim, target->shape, a, sizeof a),
            tt_shape_str(input->ndim, input->shape, b, sizeof b));
    }
    *x = same_shape(input, ndim, shape) ? tt_retain((tt_tensor *)input) : tg_expand(input, ndim, shape);
    *t = !*x ? NULL : same_shape(target, ndim, shape) ? tt_retain((tt_tensor *)target) : tg_expand(target, ndim, shape);
    if (*t) return true;
    tt_release(*x);
    *x = NULL;
    return false;
}

tt_tensor *tg_loss(tg_loss_op op, const tt_tensor *in_, const tt_tensor *tgt_, tg_reduction reduction, double param)
{
    tt_tensor *input, *target;
    if (!in_ || !tgt_ || !broadcast_pair(in_, tgt_, &input, &target)) return NULL;
    size_t mark = tg__tmp_mark();
    tt_tensor *out = NULL;
    TG_NO_GRAD
    {
        tt_tensor *d = T(tt_sub(input, target));
        out = d ? reduced(T(losses[op].value(d, param)), reduction) : NULL;
    }
    tg__tmp_release_to(mark);
    const tt_tensor *in[2] = {input, target};
    tg_node *node;
    out = record(losses[op].def, out, 2, in, &node);
    if (node) {
        node->attrs.i0 = reduction;
        node->attrs.s0 = param;
    }
    out = save_or_fail(out, node, input, false, "self");
    out = save_or_fail(out, node, target, false, "target");
    tt_release(input);
    tt_release(target);
    return out;
}

#define TT_LOSS_OP(ENUM, name, Node, param, pdefault, ...)                                        \
    tt_tensor *tg_##name(const tt_tensor *input, const tt_tensor *target, tg_reduction reduction) \
    {                                                                                             \
        return tg_loss(TG_##ENUM, input, target, reduction, pdefault);                            \
    }
#include "tg/ops.def"

/* l1_loss is composed, as PyTorch 1.13 composes it: abs(input - target), reduced. */
tt_tensor *tg_l1_loss(const tt_tensor *input, const tt_tensor *target, tg_reduction reduction)
{
    tt_tensor *x, *t;
    if (!input || !target || !broadcast_pair(input, target, &x, &t)) return NULL;
    tt_tensor *d = tg_sub(x, t), *a = tg_abs(d), *out = reduced(a, reduction);
    tt_release(x);
    tt_release(t);
    tt_release(d);
    tt_release(a);
    return out;
}

/* ---- linear algebra ---------------------------------------------------------------- */
static tt_status mm_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_mm(g, T(tg_t(SAVED("mat2")))));
    GRAD(1, tg_mm(T(tg_t(SAVED("self"))), g));
    return TT_OK;
}
static tt_status mv_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_mul(T(tg_unsqueeze(g, 1)), T(tg_unsqueeze(SAVED("vec"), 0))));
    GRAD(1, tg_mv(T(tg_t(SAVED("self"))), g));
    return TT_OK;
}
static tt_status dot_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_mul(g, SAVED("tensor")));
    GRAD(1, tg_mul(g, SAVED("self")));
    return TT_OK;
}
static tt_status bmm_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_bmm(g, T(tg_transpose(SAVED("mat2"), 1, 2))));
    GRAD(1, tg_bmm(T(tg_transpose(SAVED("self"), 1, 2)), g));
    return TT_OK;
}
DEFINE_FN(MmBackward0, mm_bw);
DEFINE_FN(MvBackward0, mv_bw);
DEFINE_FN(DotBackward0, dot_bw);
DEFINE_FN(BmmBackward0, bmm_bw);

static tt_tensor *linear2(const tg_fn_def *def, tt_tensor *out, const tt_tensor *a, const tt_tensor *b,
                          const char *a_name, const char *b_name)
{
    const tt_tensor *in[2] = {a, b};
    tg_node *node;
    out = record(def, out, 2, in, &node);
    if (!node) return out;
    if (tg__needs_grad(node, 1)) out = save_or_fail(out, node, a, false, a_name);
    if (tg__needs_grad(node, 0)) out = save_or_fail(out, node, b, false, b_name);
    return out;
}

tt_tensor *tg_mm(const tt_tensor *a, const tt_tensor *b)
{
    return a && b ? linear2(&MmBackward0, tt_mm(a, b), a, b, "self", "mat2") : NULL;
}
tt_tensor *tg_mv(const tt_tensor *a, const tt_tensor *v)
{
    return a && v ? linear2(&MvBackward0, tt_mv(a, v), a, v, "self", "vec") : NULL;
}
tt_tensor *tg_bmm(const tt_tensor *a, const tt_tensor *b)
{
    return a && b ? linear2(&BmmBackward0, tt_bmm(a, b), a, b, "self", "mat2") : NULL;
}
static tt_tensor *tg_dot(const tt_tensor *a, const tt_tensor *b)
{
    return linear2(&DotBackward0, tt_matmul(a, b), a, b, "self", "tensor");
}

/* torch.matmul, composed of the ops PyTorch uses, so the graph and its
 * derivatives come from them. */
tt_tensor *tg_matmul(const tt_tensor *a, const tt_tensor *b)
{
    if (!a || !b) return NULL;
    if (a->ndim == 0 || b->ndim == 0) return tt_matmul(a, b); /* the error */
    if (a->ndim == 1 && b->ndim == 1) return tg_dot(a, b);
    if (a->ndim == 2 && b->ndim == 2) return tg_mm(a, b);
    if (a->ndim == 2 && b->ndim == 1) return tg_mv(a, b);
    if (a->ndim == 1 && b->ndim == 2) {
        tt_tensor *row = tg_unsqueeze(a, 0), *r = tg_mm(row, b), *out = r ? tg_squeeze(r, 0) : NULL;
        tt_release(row);
        tt_release(r);
        return out;
    }
    /* batched: check shapes with the plain op first for PyTorch's message */
    tt_tensor *check = tt_matmul(a, b);
    if (!check) return NULL;
    int out_ndim = check->ndim;
    int64_t out_shape[TT_MAX_DIMS];
    memcpy(out_shape, check->shape, sizeof out_shape);
    tt_release(check);
    size_t mark = tg__tmp_mark();
    tt_tensor *out = NULL;
    int64_t k = a->shape[a->ndim - 1];
    if (b->ndim <= 2) { /* fold a's batch into rows: one mm / mv */
        int64_t rows[2] = {-1, k};
        tt_tensor *a2 = T(tg_reshape(a, 2, rows));
        tt_tensor *r = T(b->ndim == 2 ? tg_mm(a2, b) : tg_mv(a2, b));
        out = tg__unsafe_view(r, out_ndim, out_shape);
    } else { /* broadcast the batch, then bmm */
        tt_tensor *am = T(a->ndim == 1 ? tg_unsqueeze(a, 0) : tt_retain((tt_tensor *)a));
        tt_tensor *bm = (tt_tensor *)b;
        int nb, na_b = am ? am->ndim - 2 : 0;
        int64_t batch[TT_MAX_DIMS], ea[TT_MAX_DIMS], eb[TT_MAX_DIMS];
        if (am && bm && tt_broadcast_shapes(na_b, am->shape, bm->ndim - 2, bm->shape, &nb, batch) == TT_OK) {
            int64_t n_ = am->shape[am->ndim - 2], m_ = bm->shape[bm->ndim - 1], B = tt_shape_numel(nb, batch);
            memcpy(ea, batch, sizeof(int64_t) * (size_t)nb);
            memcpy(eb, batch, sizeof(int64_t) * (size_t)nb);
            ea[nb] = n_;
            ea[nb + 1] = k;
            eb[nb] = k;
            eb[nb + 1] = m_;
            int64_t a3[3] = {B, n_, k}, b3[3] = {B, k, m_};
            tt_tensor *A = T(tg_reshape(T(tg_expand(am, nb + 2, ea)), 3, a3));
            tt_tensor *Bm = T(tg_reshape(T(tg_expand(bm, nb + 2, eb)), 3, b3));
            out = tg__unsafe_view(T(tg_bmm(A, Bm)), out_ndim, out_shape);
        }
    }
    tg__tmp_release_to(mark);
    return out;
}

static tt_status softmax_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *y = SAVED("result");
    int dim = n->attrs.dims[0];
    tt_tensor *dot = T(tg_sum_dims(T(tg_mul(g, y)), &dim, 1, true));
    GRAD(0, tg_mul(T(tg_sub(g, dot)), y));
    return TT_OK;
}
static tt_status log_softmax_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    tt_tensor *y = SAVED("result");
    int dim = n->attrs.dims[0];
    GRAD(0, tg_sub(g, T(tg_mul(T(tg_exp(y)), T(tg_sum_dims(g, &dim, 1, true))))));
    return TT_OK;
}
DEFINE_FN(SoftmaxBackward0, softmax_bw);
DEFINE_FN(LogSoftmaxBackward0, log_softmax_bw);

static tt_tensor *softmax_like(const tg_fn_def *def, tt_tensor *out, const tt_tensor *x, int dim)
{
    tg_node *node;
    out = record(def, out, 1, &x, &node);
    if (node) node->attrs.dims[0] = x->ndim ? (dim < 0 ? dim + x->ndim : dim) : 0;
    return save_or_fail(out, node, out, true, "result");
}
tt_tensor *tg_softmax(const tt_tensor *x, int dim)
{
    return x ? softmax_like(&SoftmaxBackward0, tt_softmax(x, dim), x, dim) : NULL;
}
tt_tensor *tg_log_softmax(const tt_tensor *x, int dim)
{
    return x ? softmax_like(&LogSoftmaxBackward0, tt_log_softmax(x, dim), x, dim) : NULL;
}
