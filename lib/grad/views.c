/* Differentiable views, the generic sum-to-shape, and in-place ops. */
#include <stdlib.h>
#include <string.h>
#include "grad/internal.h"

#define DEFINE_FN(NAME, BACKWARD) static const tg_fn_def NAME = {#NAME, BACKWARD}
#define GRAD(i, expr)                                                           \
    do {                                                                        \
        if (tg__needs_grad(n, i) && !(gi[i] = (expr))) return tt_last_status(); \
    } while (0)

static const tg_shape *in0(const tg_node *n) { return &n->inputs[0]; }

static tt_tensor *record1(const tg_fn_def *def, tt_tensor *out, const tt_tensor *x, tg_node **node)
{
    *node = NULL;
    if (!out || !tg__should_record(1, &x)) return out;
    if (!(*node = tg__record(def, out, 1, &x))) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static void mark_view(tt_tensor *out, const tt_tensor *x, const tg_node *node)
{
    if (!node) return;
    tg_meta *m = tg__meta(out), *xm = tg__meta(x);
    m->is_view = true;
    m->view_of_leaf = xm->is_view ? xm->view_of_leaf : !xm->grad_fn;
}

/* A recorded view remembers that it is one, so that an in-place write through
 * it (which would need PyTorch's CopySlices rebase) is refused, not wrong. */
static tt_tensor *view1(const tg_fn_def *def, tt_tensor *out, const tt_tensor *x)
{
    tg_node *node;
    out = record1(def, out, x, &node);
    mark_view(out, x, node);
    return out;
}

/* Ops that are not views (their output owns fresh memory). */
static tt_tensor *copy1(const tg_fn_def *def, tt_tensor *out, const tt_tensor *x)
{
    tg_node *node;
    return record1(def, out, x, &node);
}

/* ---- backward of views ------------------------------------------------------------ */
static tt_status reshape_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_reshape(g, in0(n)->ndim, in0(n)->shape));
    return TT_OK;
}
static tt_status permute_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    int inverse[TT_MAX_DIMS];
    for (int i = 0; i < in0(n)->ndim; i++) inverse[n->attrs.dims[i]] = i;
    GRAD(0, tg_permute(g, inverse));
    return TT_OK;
}
static tt_status transpose_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_transpose(g, n->attrs.dims[0], n->attrs.dims[1]));
    return TT_OK;
}
static tt_status t_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_t(g));
    return TT_OK;
}
static tt_status expand_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_sum_to_shape(g, in0(n)->ndim, in0(n)->shape));
    return TT_OK;
}
static tt_status unsqueeze_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_squeeze(g, n->attrs.dims[0]));
    return TT_OK;
}
static tt_status clone_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tt_retain((tt_tensor *)g));
    return TT_OK;
}

/* slice and select scatter the gradient into zeros of the input's shape:
 * ops of their own, whose derivative is the slice/select again. */
static tt_tensor *scatter_into_zeros(const tg_fn_def *def, const tt_tensor *g, const tg_shape *shape, const tg_attrs *a,
                                     bool select);
static tt_status slice_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi);
static tt_status select_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi);
static tt_status slice_backward_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_slice(g, (int)n->attrs.i0, n->attrs.i1, n->attrs.i2, (int64_t)n->attrs.s0));
    return TT_OK;
}
static tt_status select_backward_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tg_select(g, (int)n->attrs.i0, n->attrs.i1));
    return TT_OK;
}

DEFINE_FN(ViewBackward0, reshape_bw);
DEFINE_FN(ReshapeAliasBackward0, reshape_bw);
DEFINE_FN(UnsafeViewBackward0, reshape_bw);
DEFINE_FN(SqueezeBackward0, reshape_bw);
DEFINE_FN(SqueezeBackward1, reshape_bw);
DEFINE_FN(PermuteBackward0, permute_bw);
DEFINE_FN(TransposeBackward0, transpose_bw);
DEFINE_FN(TBackward0, t_bw);
DEFINE_FN(ExpandBackward0, expand_bw);
DEFINE_FN(UnsqueezeBackward0, unsqueeze_bw);
DEFINE_FN(CloneBackward0, clone_bw);
DEFINE_FN(SliceBackward0, slice_bw);
DEFINE_FN(SelectBackward0, select_bw);
DEFINE_FN(SliceBackwardBackward0, slice_backward_bw);
DEFINE_FN(SelectBackwardBackward0, select_backward_bw);

static tt_status slice_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, scatter_into_zeros(&SliceBackwardBackward0, g, in0(n), &n->attrs, false));
    return TT_OK;
}
static tt_status select_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, scatter_into_zeros(&SelectBackwardBackward0, g, in0(n), &n->attrs, true));
    return TT_OK;
}

static tt_tensor *scatter_into_zeros(const tg_fn_def *def, const tt_tensor *g, const tg_shape *shape, const tg_attrs *a,
                                     bool select)
{
    tt_tensor *out = tt_zeros(shape->ndim, shape->shape, g->dtype, tt_device_of(g));
    tt_tensor *part = !out     ? NULL
                      : select ? tt_select(out, (int)a->i0, a->i1)
                               : tt_slice(out, (int)a->i0, a->i1, a->i2, (int64_t)a->s0);
    tt_status st = part ? tt_copy_(part, g) : tt_last_status();
    tt_release(part);
    if (st != TT_OK) {
        tt_release(out);
        return NULL;
    }
    tg_node *node;
    out = record1(def, out, g, &node);
    if (node) node->attrs = *a;
    return out;
}

tt_tensor *tg__slice_scatter(const tt_tensor *g, int ndim, const int64_t *shape, int dim, int64_t start, int64_t end)
{
    if (!g) return NULL;
    tg_shape s = {.ndim = ndim, .dtype = g->dtype};
    memcpy(s.shape, shape, sizeof(int64_t) * (size_t)ndim);
    tg_attrs a = {.i0 = dim, .i1 = start, .i2 = end, .s0 = 1};
    return scatter_into_zeros(&SliceBackwardBackward0, g, &s, &a, false);
}

/* ---- views -------------------------------------------------------------------------- */
tt_tensor *tg_view(const tt_tensor *t, int ndim, const int64_t *shape)
{
    return t ? view1(&ViewBackward0, tt_view(t, ndim, shape), t) : NULL;
}

/* reshape is a view when strides allow (ReshapeAliasBackward0), else a copy
 * (CloneBackward0 then UnsafeViewBackward0), as in PyTorch. */
tt_tensor *tg_reshape(const tt_tensor *t, int ndim, const int64_t *shape)
{
    if (!t) return NULL;
    tt_tensor *v = tt_view(t, ndim, shape);
    if (v) return view1(&ReshapeAliasBackward0, v, t);
    if (tt_last_status() != TT_ESHAPE || tt_numel(t) == 0) return NULL;
    tt_clear_error();
    tt_tensor *c = tg_clone(t);
    tt_tensor *r = c ? copy1(&UnsafeViewBackward0, tt_view(c, ndim, shape), c) : NULL;
    tt_release(c);
    return r;
}

tt_tensor *tg__unsafe_view(const tt_tensor *t, int ndim, const int64_t *shape)
{
    return t ? copy1(&UnsafeViewBackward0, tt_view(t, ndim, shape), t) : NULL;
}

tt_tensor *tg_permute(const tt_tensor *t, const int *dims)
{
    if (!t) return NULL;
    tg_node *node;
    tt_tensor *out = record1(&PermuteBackward0, tt_permute(t, dims), t, &node);
    for (int i = 0; node && i < t->ndim; i++) node->attrs.dims[i] = dims[i] < 0 ? dims[i] + t->ndim : dims[i];
    mark_view(out, t, node);
    return out;
}

tt_tensor *tg_transpose(const tt_tensor *t, int dim0, int dim1)
{
    if (!t) return NULL;
    tg_node *node;
    tt_tensor *out = record1(&TransposeBackward0, tt_transpose(t, dim0, dim1), t, &node);
    if (node) {
        node->attrs.dims[0] = dim0;
        node->attrs.dims[1] = dim1;
    }
    mark_view(out, t, node);
    return out;
}

tt_tensor *tg_t(const tt_tensor *t) { return t ? view1(&TBackward0, tt_t(t), t) : NULL; }

tt_tensor *tg_slice(const tt_tensor *t, int dim, int64_t start, int64_t end, int64_t step)
{
    if (!t) return NULL;
    tg_node *node;
    tt_tensor *out = record1(&SliceBackward0, tt_slice(t, dim, start, end, step), t, &node);
    if (node) node->attrs = (tg_attrs){.i0 = dim, .i1 = start, .i2 = end, .s0 = (double)step};
    mark_view(out, t, node);
    return out;
}

tt_tensor *tg_select(const tt_tensor *t, int dim, int64_t index)
{
    if (!t) return NULL;
    tg_node *node;
    tt_tensor *out = record1(&SelectBackward0, tt_select(t, dim, index), t, &node);
    if (node) node->attrs = (tg_attrs){.i0 = dim, .i1 = index};
    mark_view(out, t, node);
    return out;
}

tt_tensor *tg_expand(const tt_tensor *t, int ndim, const int64_t *shape)
{
    return t ? view1(&ExpandBackward0, tt_expand(t, ndim, shape), t) : NULL;
}

tt_tensor *tg_squeeze(const tt_tensor *t, int dim)
{
    if (!t) return NULL;
    return view1(dim == TT_ALL_DIMS ? &SqueezeBackward0 : &SqueezeBackward1, tt_squeeze(t, dim), t);
}

tt_tensor *tg_unsqueeze(const tt_tensor *t, int dim)
{
    if (!t) return NULL;
    tg_node *node;
    tt_tensor *out = record1(&UnsqueezeBackward0, tt_unsqueeze(t, dim), t, &node);
    if (node) node->attrs.dims[0] = dim < 0 ? dim + t->ndim + 1 : dim;
    mark_view(out, t, node);
    return out;
}

tt_tensor *tg_clone(const tt_tensor *t) { return t ? copy1(&CloneBackward0, tt_clone(t), t) : NULL; }

tt_tensor *tg_contiguous(const tt_tensor *t)
{
    if (!t) return NULL;
    return tt_is_contiguous(t) ? tt_retain((tt_tensor *)t) : tg_clone(t);
}

/* Sums leading dims away and dims where `shape` has 1, then views as shape. */
tt_tensor *tg_sum_to_shape(const tt_tensor *t, int ndim, const int64_t *shape)
{
    if (!t) return NULL;
    int dims[TT_MAX_DIMS], n = 0, lead = t->ndim - ndim;
    for (int d = 0; d < t->ndim; d++)
        if (d < lead || (shape[d - lead] == 1 && t->shape[d] != 1)) dims[n++] = d;
    if (n == 0 && lead == 0) return tt_retain((tt_tensor *)t);
    tt_tensor *s = n ? tg_sum_dims(t, dims, n, true) : tt_retain((tt_tensor *)t);
    if (!s || lead == 0) return s;
    tt_tensor *v = tg_view(s, ndim, shape);
    tt_release(s);
    return v;
}

/* ---- in place ------------------------------------------------------------------------ */
static tt_status zero_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tt_zeros_like(g));
    return TT_OK;
}
static tt_status copy_bw(tg_node *n, const tt_tensor *g, tt_tensor **gi)
{
    GRAD(0, tt_zeros_like(g));
    GRAD(1, tt_retain((tt_tensor *)g)); /* the engine sums and casts it to src's shape and dtype */
    return TT_OK;
}
DEFINE_FN(ZeroBackward0, zero_bw);
DEFINE_FN(FillBackward2, zero_bw);
DEFINE_FN(CopyBackwards, copy_bw);

static tt_status check_inplace(const tt_tensor *x)
{
    const tg_meta *m = tg__meta(x);
    if (!tg__grad_mode() || !m || !m->requires_grad) return TT_OK;
    if (!m->grad_fn)
        return tt_set_error(TT_ERUNTIME, "a leaf Variable that requires grad is being used in an in-place operation.");
    if (m->is_view && m->view_of_leaf)
        return tt_set_error(TT_ERUNTIME,
                            "a view of a leaf Variable that requires grad is being used in an in-place "
                            "operation.");
    if (m->is_view)
        return tt_set_error(TT_ERUNTIME,
                            "an in-place operation on a view (made by %s) of a tensor that requires grad "
                            "is not supported: PyTorch rebases the base's history (CopySlices), tg does "
                            "not yet; use the out-of-place op",
                            m->grad_fn->def->name);
    return TT_OK;
}

/* On a tensor in a graph the op is computed out of place from a snapshot of x
 * that shares x's history (so nothing saved is modified afterwards), written
 * back into x, and x takes the new node as its grad_fn. */
tt_status tg_binary_(tt_binary_op op, tt_tensor *x, const tt_tensor *y)
{
    if (!x || !y) return tt_last_status();
    tt_status st = check_inplace(x);
    if (st != TT_OK) return st;
    const tt_tensor *in[2] = {x, y};
    if (!tg__should_record(2, in)) return tt_binary_(op, x, y);
    tt_tensor *snapshot = tt_clone(x);
    if (!snapshot) return tt_last_status();
    tg_meta *xm = tg__meta(x), *sm = tg__meta_get(snapshot);
    if (!sm) {
        tt_release(snapshot);
        return tt_last_status();
    }
    if (xm) {
        sm->requires_grad = xm->requires_grad;
        sm->grad_fn = tg_node_retain(xm->grad_fn);
    }
    tt_tensor *r = tg_binary(op, snapshot, y);
    tt_release(snapshot);
    if (!r) return tt_last_status();
    st = tt_copy_(x, r);
    tg_meta *rm = tg__meta(r), *m = st == TT_OK ? tg__meta_get(x) : NULL;
    if (m && rm) {
        m->requires_grad = true;
        tg_node_release(m->grad_fn);
        m->grad_fn = tg_node_retain(rm->grad_fn);
    }
    tt_release(r);
    return st == TT_OK && !m ? tt_last_status() : st;
}

tt_status tg_add_(tt_tensor *x, const tt_tensor *y) { return tg_binary_(TT_ADD, x, y); }
tt_status tg_sub_(tt_tensor *x, const tt_tensor *y) { return tg_binary_(TT_SUB, x, y); }
tt_status tg_mul_(tt_tensor *x, const tt_tensor *y) { return tg_binary_(TT_MUL, x, y); }
tt_status tg_div_(tt_tensor *x, const tt_tensor *y) { return tg_binary_(TT_DIV, x, y); }

/* Overwriting a tensor in a graph keeps it there, with a zero gradient for
 * its old value (PyTorch's ZeroBackward0 / FillBackward2). */
tt_status tg_fill_(tt_tensor *x, double value)
{
    tt_status st = x ? check_inplace(x) : tt_last_status();
    if (st != TT_OK || (st = tt_fill_(x, value)) != TT_OK) return st;
    const tt_tensor *in[1] = {x};
    if (tg__should_record(1, in) && !tg__record(value == 0 ? &ZeroBackward0 : &FillBackward2, x, 1, in))
        return tt_last_status();
    return TT_OK;
}

tt_status tg_zero_(tt_tensor *x) { return tg_fill_(x, 0); }

/* dst takes src's values; its old value gets a zero gradient and src the
 * incoming one (PyTorch's CopyBackwards). */
tt_status tg_copy_(tt_tensor *dst, const tt_tensor *src)
{
    if (!dst || !src) return tt_last_status();
    tt_status st = check_inplace(dst);
    if (st != TT_OK || (st = tt_copy_(dst, src)) != TT_OK) return st;
    const tt_tensor *in[2] = {dst, src};
    if (tg__should_record(2, in) && !tg__record(&CopyBackwards, dst, 2, in)) return tt_last_status();
    return TT_OK;
}
