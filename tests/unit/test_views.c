/* Views and storage sharing: view/reshape, transpose/permute, slice, select,
 * expand, squeeze/unsqueeze, contiguous/clone/alias, writes through views,
 * version counters and reference counting. Expected values are those of the
 * same PyTorch 1.13 expressions, written in the comments. */
#include <stdlib.h>

#include "check.h"
#include "tg/expr.h"
#include "tg/grad.h"

static tt_tensor *ar(int64_t n) { return tt_arange(0, (double)n, 1, TT_F64, TT_CPU); }

static tt_tensor *ar2(int64_t r, int64_t c)
{
    tt_tensor *a = ar(r * c);
    tt_tensor *v = a ? tt_view(a, 2, (int64_t[]){r, c}) : NULL;
    tt_release(a);
    return v;
}

static int same_shape(const tt_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return 0;
    return 1;
}
#define SHAPE(t, ...) \
    same_shape((t), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static int same_strides(const tt_tensor *t, int ndim, const int64_t *st)
{
    if (!t || t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != 1 && t->strides[d] != st[d]) return 0; /* size-1 dims: any stride */
    return 1;
}
#define STRIDES(t, ...) \
    same_strides((t), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

TEST(view_shares_storage)
{
    tt_tensor *x = ar(6);
    tt_tensor *v = tt_view(x, 2, (int64_t[]){2, 3});
    CHECK(SHAPE(v, 2, 3) && STRIDES(v, 3, 1));
    CHECK(v && v->storage == x->storage && tt_is_contiguous(v));
    tt_tensor *w = tt_view(x, 2, (int64_t[]){-1, 2}); /* -1 inferred: (3, 2) */
    CHECK(SHAPE(w, 3, 2));
    /* write through the view: x.view(2,3)[1].fill_(-1) */
    tt_tensor *row = tt_select(v, 0, 1);
    CHECK(row && row->storage == x->storage && row->offset == 3);
    CHECK(tt_fill_(row, -1) == TT_OK);
    double want[] = {0, 1, 2, -1, -1, -1};
    CHECK_VALUES(x, want, 6, 0);
    CHECK_VALUES(w, want, 6, 0);
    /* reshape of a contiguous tensor is a view */
    tt_tensor *r = tt_reshape(x, 3, (int64_t[]){3, 1, 2});
    CHECK(r && r->storage == x->storage && SHAPE(r, 3, 1, 2));
    /* view to 0-d and back: torch.arange(1.).view(()) */
    tt_tensor *one = ar(1), *s = one ? tt_view(one, 0, NULL) : NULL;
    CHECK(s && s->ndim == 0 && tt_numel(s) == 1);
    tt_release(s);
    tt_release(one);
    tt_release(r);
    tt_release(row);
    tt_release(w);
    tt_release(v);
    tt_release(x);
}

TEST(view_of_noncontiguous)
{
    /* x = arange(6.).view(2,3); x.t().view(3,2,1) works (strides (1,3,3)) and shares storage */
    tt_tensor *x = ar2(2, 3), *t = tt_t(x);
    tt_tensor *v = tt_view(t, 3, (int64_t[]){3, 2, 1});
    CHECK(SHAPE(v, 3, 2, 1) && STRIDES(v, 1, 3, 1));
    CHECK(v && v->storage == x->storage);
    double want[] = {0, 3, 1, 4, 2, 5};
    CHECK_VALUES(v, want, 6, 0);
    /* x.t().view(6) fails: torch's message */
    CHECK_ERR(tt_view(t, 1, (int64_t[]){6}), tt_last_status() == TT_EINVAL ? TT_EINVAL : TT_ESHAPE,
              "view size is not compatible with input tensor's size and stride (at least one dimension spans across "
              "two contiguous subspaces). Use .reshape(...) instead.");
    /* reshape copies instead */
    tt_tensor *r = tt_reshape(t, 1, (int64_t[]){6});
    CHECK(r && r->storage != x->storage && tt_is_contiguous(r));
    CHECK_VALUES(r, want, 6, 0);
    /* a row slice of a contiguous tensor is viewable: arange(12.).view(4,3)[1:3].view(6) == [3..8] */
    tt_tensor *y = ar2(4, 3), *rows = tt_slice(y, 0, 1, 3, 1);
    tt_tensor *rv = rows ? tt_view(rows, 1, (int64_t[]){6}) : NULL;
    double want2[] = {3, 4, 5, 6, 7, 8};
    CHECK(rv && rv->storage == y->storage && rv->offset == 3);
    CHECK_VALUES(rv, want2, 6, 0);
    /* a column slice is not contiguous; reshape gives a copy with torch's values */
    tt_tensor *z = ar2(4, 6), *cols = tt_slice(z, 1, 0, 3, 1);
    CHECK(cols && !tt_is_contiguous(cols) && STRIDES(cols, 6, 1));
    tt_tensor *zr = tt_reshape(cols, 1, (int64_t[]){12});
    double want3[] = {0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20};
    CHECK_VALUES(zr, want3, 12, 0);
    tt_release(zr);
    tt_release(cols);
    tt_release(z);
    tt_release(rv);
    tt_release(rows);
    tt_release(y);
    tt_release(r);
    tt_release(v);
    tt_release(t);
    tt_release(x);
}

TEST(transpose_permute)
{
    tt_tensor *x = ar2(2, 3);
    tt_tensor *t = tt_transpose(x, 0, 1), *tn = tt_transpose(x, -1, -2), *tt2 = tt_t(x);
    CHECK(SHAPE(t, 3, 2) && STRIDES(t, 1, 3) && !tt_is_contiguous(t) && t->storage == x->storage);
    CHECK(SHAPE(tn, 3, 2) && STRIDES(tn, 1, 3));
    CHECK(SHAPE(tt2, 3, 2) && STRIDES(tt2, 1, 3));
    double want[] = {0, 3, 1, 4, 2, 5};
    CHECK_VALUES(t, want, 6, 0);
    double v = -1;
    CHECK(tt_get(t, (int64_t[]){2, 1}, &v) == TT_OK && v == 5);
    /* torch.zeros(2,3,4).permute(2,0,1): shape (4,2,3), strides (1,12,4) */
    tt_tensor *a = ar(24), *a3 = tt_view(a, 3, (int64_t[]){2, 3, 4});
    tt_tensor *p = tt_permute(a3, (int[]){2, 0, 1});
    CHECK(SHAPE(p, 4, 2, 3) && STRIDES(p, 1, 12, 4));
    CHECK(p && tt_get(p, (int64_t[]){3, 1, 2}, &v) == TT_OK && v == 1 * 12 + 2 * 4 + 3);
    tt_tensor *pn = tt_permute(a3, (int[]){-1, 0, -2});
    CHECK(SHAPE(pn, 4, 2, 3));
    /* t() of 1-D and 0-D returns it as is */
    tt_tensor *one = ar(3), *o1 = tt_t(one);
    CHECK(SHAPE(o1, 3));
    CHECK_ERR(tt_permute(a3, (int[]){0, 0, 1}), TT_EINVAL, "permute(): duplicate dims are not allowed.");
    CHECK_ERR(tt_transpose(x, 0, 2), TT_EINVAL,
              "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    tt_release(o1);
    tt_release(one);
    tt_release(pn);
    tt_release(p);
    tt_release(a3);
    tt_release(a);
    tt_release(tt2);
    tt_release(tn);
    tt_release(t);
    tt_release(x);
}

TEST(slice_select)
{
    tt_tensor *a = ar(10);
    /* a[1:8:3] == [1,4,7]; a[-3:] == [7,8,9]; a[2:100:4] == [2,6]; a[-100:3] == [0,1,2] */
    tt_tensor *s1 = tt_slice(a, 0, 1, 8, 3), *s2 = tt_slice(a, 0, -3, 10, 1);
    tt_tensor *s3 = tt_slice(a, 0, 2, 100, 4), *s4 = tt_slice(a, 0, -100, 3, 1);
    tt_tensor *s5 = tt_slice(a, -1, 5, 5, 1); /* empty */
    double w1[] = {1, 4, 7}, w2[] = {7, 8, 9}, w3[] = {2, 6}, w4[] = {0, 1, 2};
    CHECK(s1 && s1->strides[0] == 3 && s1->offset == 1 && s1->storage == a->storage);
    CHECK_VALUES(s1, w1, 3, 0);
    CHECK(s2 && s2->offset == 7);
    CHECK_VALUES(s2, w2, 3, 0);
    CHECK_VALUES(s3, w3, 2, 0);
    CHECK_VALUES(s4, w4, 3, 0);
    CHECK(SHAPE(s5, 0));
    /* 2-D: arange(12.).view(3,4)[:, 1::2] -> [[1,3],[5,7],[9,11]], strides (4,2) */
    tt_tensor *m = ar2(3, 4), *c = tt_slice(m, 1, 1, 4, 2);
    double wc[] = {1, 3, 5, 7, 9, 11};
    CHECK(SHAPE(c, 3, 2) && STRIDES(c, 4, 2) && c->offset == 1);
    CHECK_VALUES(c, wc, 6, 0);
    /* slice of a slice: [:, 1::2][1:, -1:] -> [[7],[11]] */
    tt_tensor *cc = tt_slice(c, 0, 1, 3, 1), *ccc = cc ? tt_slice(cc, 1, -1, 2, 1) : NULL;
    double wcc[] = {7, 11};
    CHECK(SHAPE(ccc, 2, 1));
    CHECK_VALUES(ccc, wcc, 2, 0);
    /* select: m[:, -1] == [3,7,11]; m[1] == [4..7] */
    tt_tensor *sl = tt_select(m, 1, -1), *sr = tt_select(m, 0, 1);
    double wsl[] = {3, 7, 11}, wsr[] = {4, 5, 6, 7};
    CHECK(SHAPE(sl, 3) && sl->strides[0] == 4);
    CHECK_VALUES(sl, wsl, 3, 0);
    CHECK(SHAPE(sr, 4) && sr->offset == 4);
    CHECK_VALUES(sr, wsr, 4, 0);
    tt_tensor *sc = tt_select(sr, 0, 2); /* 0-d */
    double x = 0;
    CHECK(sc && sc->ndim == 0 && tt_item(sc, &x) == TT_OK && x == 6);
    CHECK_ERR(tt_select(m, 1, 4), TT_EINVAL, "select(): index 4 out of range for tensor of size [3, 4] at dimension 1");
    tt_release(sc);
    tt_release(sl);
    tt_release(sr);
    tt_release(ccc);
    tt_release(cc);
    tt_release(c);
    tt_release(m);
    tt_release(s1);
    tt_release(s2);
    tt_release(s3);
    tt_release(s4);
    tt_release(s5);
    tt_release(a);
}

TEST(expand)
{
    tt_tensor *c = ar2(3, 1);
    tt_tensor *e = tt_expand(c, 2, (int64_t[]){3, 4});
    CHECK(SHAPE(e, 3, 4) && e->strides[1] == 0 && e->storage == c->storage);
    double we[] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
    CHECK_VALUES(e, we, 12, 0);
    tt_tensor *e2 = tt_expand(c, 3, (int64_t[]){2, -1, 4}); /* new leading dim, -1 keeps 3 */
    CHECK(SHAPE(e2, 2, 3, 4) && e2->strides[0] == 0 && e2->strides[2] == 0);
    tt_tensor *r = ar(3), *er = tt_expand(r, 2, (int64_t[]){2, 3});
    double wr[] = {0, 1, 2, 0, 1, 2};
    CHECK(SHAPE(er, 2, 3) && er->strides[0] == 0 && er->strides[1] == 1);
    CHECK_VALUES(er, wr, 6, 0);
    /* ops read expanded inputs correctly, contiguous() materialises them */
    tt_tensor *sum = tt_sum_dims(e, (int[]){1}, 1, false);
    double ws[] = {0, 4, 8};
    CHECK_VALUES(sum, ws, 3, 0);
    tt_tensor *ec = tt_contiguous(e);
    CHECK(ec && ec != e && tt_is_contiguous(ec) && ec->storage != c->storage && STRIDES(ec, 4, 1));
    CHECK_VALUES(ec, we, 12, 0);
    CHECK_ERR(tt_expand(r, 2, (int64_t[]){2, 4}), tt_last_status() == TT_EINVAL ? TT_EINVAL : TT_ESHAPE,
              "The expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 1.  "
              "Target sizes: [2, 4].  Tensor sizes: [3]");
    tt_release(ec);
    tt_release(sum);
    tt_release(er);
    tt_release(r);
    tt_release(e2);
    tt_release(e);
    tt_release(c);
}

TEST(squeeze_unsqueeze)
{
    tt_tensor *a = ar(3), *x = tt_view(a, 3, (int64_t[]){1, 3, 1});
    tt_tensor *s_all = tt_squeeze(x, TT_ALL_DIMS), *s0 = tt_squeeze(x, 0), *s1 = tt_squeeze(x, 1);
    tt_tensor *sneg = tt_squeeze(x, -1);
    CHECK(SHAPE(s_all, 3) && s_all->storage == a->storage);
    CHECK(SHAPE(s0, 3, 1));
    CHECK(SHAPE(s1, 1, 3, 1)); /* torch: squeezing a dim of size 3 is a no-op */
    CHECK(SHAPE(sneg, 1, 3));
    tt_tensor *u0 = tt_unsqueeze(a, 0), *u1 = tt_unsqueeze(a, 1), *um = tt_unsqueeze(a, -1);
    CHECK(SHAPE(u0, 1, 3));
    CHECK(SHAPE(u1, 3, 1) && u1->strides[0] == 1);
    CHECK(SHAPE(um, 3, 1));
    tt_tensor *sc = tt_scalar(1, TT_F64, TT_CPU), *us = tt_unsqueeze(sc, 0), *ss = tt_squeeze(us, TT_ALL_DIMS);
    CHECK(SHAPE(us, 1));
    CHECK(ss && ss->ndim == 0);
    CHECK_ERR(tt_unsqueeze(a, 2), TT_EINVAL, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    double w[] = {0, 1, 2};
    CHECK_VALUES(u1, w, 3, 0);
    tt_release(ss);
    tt_release(us);
    tt_release(sc);
    tt_release(u0);
    tt_release(u1);
    tt_release(um);
    tt_release(s_all);
    tt_release(s0);
    tt_release(s1);
    tt_release(sneg);
    tt_release(x);
    tt_release(a);
}

TEST(contiguous_clone_alias)
{
    tt_tensor *x = ar2(2, 3);
    int rc = x->refcount;
    tt_tensor *c = tt_contiguous(x);
    CHECK(c == x && x->refcount == rc + 1);
    tt_release(c);
    CHECK(x->refcount == rc);
    tt_tensor *t = tt_t(x), *tc = tt_contiguous(t);
    CHECK(tc && tc != t && tc->storage != x->storage && tt_is_contiguous(tc) && SHAPE(tc, 3, 2) && STRIDES(tc, 2, 1));
    double wt[] = {0, 3, 1, 4, 2, 5};
    CHECK_VALUES(tc, wt, 6, 0);
    /* clone always copies, also of a contiguous tensor */
    tt_tensor *cl = tt_clone(x);
    CHECK(cl && cl != x && cl->storage != x->storage && tt_is_contiguous(cl));
    CHECK(tt_fill_(cl, 9) == TT_OK);
    double wx[] = {0, 1, 2, 3, 4, 5};
    CHECK_VALUES(x, wx, 6, 0);
    tt_tensor *ct = tt_clone(t);
    CHECK(ct && tt_is_contiguous(ct) && SHAPE(ct, 3, 2));
    CHECK_VALUES(ct, wt, 6, 0);
    /* alias: a new header on the same storage and view */
    tt_tensor *al = tt_alias(t);
    CHECK(al && al != t && al->storage == t->storage && SHAPE(al, 3, 2) && STRIDES(al, 1, 3) &&
          al->offset == t->offset);
    CHECK(tt_fill_(al, 1) == TT_OK);
    double ones[] = {1, 1, 1, 1, 1, 1};
    CHECK_VALUES(x, ones, 6, 0);
    tt_release(al);
    tt_release(ct);
    tt_release(cl);
    tt_release(tc);
    tt_release(t);
    tt_release(x);
}

TEST(write_through_views)
{
    tt_tensor *x = ar2(3, 4);
    /* x[:, 1::2].fill_(-1) */
    tt_tensor *c = tt_slice(x, 1, 1, 4, 2);
    uint64_t v0 = tt_version(x);
    CHECK(tt_fill_(c, -1) == TT_OK);
    double w1[] = {0, -1, 2, -1, 4, -1, 6, -1, 8, -1, 10, -1};
    CHECK_VALUES(x, w1, 12, 0);
    CHECK(tt_version(x) > v0 && tt_version(c) == tt_version(x)); /* one counter per storage */
    /* x[1].copy_(tensor([10,20,30,40], dtype=int64)): broadcast + cast into a view */
    tt_tensor *row = tt_select(x, 0, 1);
    const int64_t src[] = {10, 20, 30, 40};
    tt_tensor *s = tt_from_data(1, (int64_t[]){4}, TT_I64, src, TT_CPU);
    CHECK(tt_copy_(row, s) == TT_OK);
    double w2[] = {0, -1, 2, -1, 10, 20, 30, 40, 8, -1, 10, -1};
    CHECK_VALUES(x, w2, 12, 0);
    /* x.t()[0].add_(100) through a transposed view (column 0 of x) */
    tt_tensor *t = tt_t(x), *col = tt_select(t, 0, 0), *h = tt_scalar(100, TT_F64, TT_CPU);
    CHECK(tt_add_(col, h) == TT_OK);
    double w3[] = {100, -1, 2, -1, 110, 20, 30, 40, 108, -1, 10, -1};
    CHECK_VALUES(x, w3, 12, 0);
    /* copy_ of a (1,) into the transposed view broadcasts everywhere; then zero_ a row */
    tt_tensor *one = tt_full(1, (int64_t[]){1}, 5, TT_F32, TT_CPU);
    CHECK(tt_copy_(t, one) == TT_OK);
    tt_tensor *r2 = tt_select(x, 0, 2);
    uint64_t v1 = tt_version(x);
    CHECK(tt_zero_(r2) == TT_OK && tt_version(x) > v1);
    double w4[] = {5, 5, 5, 5, 5, 5, 5, 5, 0, 0, 0, 0};
    CHECK_VALUES(x, w4, 12, 0);
    /* mul_ and div_ with broadcasting into a strided slice */
    tt_tensor *half = tt_slice(x, 1, 0, 4, 2), *two = tt_full(2, (int64_t[]){3, 1}, 2, TT_F64, TT_CPU);
    CHECK(tt_mul_(half, two) == TT_OK);
    CHECK(tt_sub_(half, two) == TT_OK);
    CHECK(tt_div_(half, two) == TT_OK);
    double w5[] = {4, 5, 4, 5, 4, 5, 4, 5, -1, 0, -1, 0};
    CHECK_VALUES(x, w5, 12, 0);
    /* in-place into an expanded tensor is rejected by torch: "unsupported operation: more than one
     * element of the written-to tensor refers to a single memory location..." — not required here. */
    tt_release(two);
    tt_release(half);
    tt_release(r2);
    tt_release(one);
    tt_release(h);
    tt_release(col);
    tt_release(t);
    tt_release(s);
    tt_release(row);
    tt_release(c);
    tt_release(x);
}

TEST(refcount_keeps_storage)
{
    tt_tensor *x = ar2(4, 5);
    tt_tensor *v = tt_slice(x, 0, 1, 4, 2); /* rows 1 and 3 */
    tt_tensor *t = tt_t(v);
    tt_release(x); /* the views keep the data alive */
    double w[] = {5, 6, 7, 8, 9, 15, 16, 17, 18, 19};
    CHECK_VALUES(v, w, 10, 0);
    tt_release(v);
    double wt[] = {5, 15, 6, 16, 7, 17, 8, 18, 9, 19};
    CHECK_VALUES(t, wt, 10, 0);
    tt_tensor *r = tt_retain(t);
    CHECK(r == t && t->refcount == 2);
    tt_release(r);
    CHECK(t->refcount == 1);
    tt_tensor *s = tt_sum(t);
    double ws[] = {120};
    CHECK_VALUES(s, ws, 1, 0);
    tt_release(s);
    tt_release(t);
    tt_release(NULL);
}

/* No op may make a tensor of more than INT64_MAX elements: 3037000500^2 is just
 * above it. Before the check, expand made such a view and sum() of it read a
 * negative element count and returned 0 (a silent wrong answer). */
#define BIG 3037000500
#define TOO_MANY "would have more than 9223372036854775807 elements"
TEST(element_count_overflow)
{
    int64_t big2[] = {BIG, BIG}, col[] = {BIG, 1}, row[] = {1, BIG};
    tt_tensor *one = tt_ones(2, (int64_t[]){1, 1}, TT_F32, TT_CPU);
    /* views: expand (also as autograd records it), view/reshape */
    CHECK_ERR(tt_expand(one, 2, big2), TT_EINVAL, "a tensor of shape [3037000500, 3037000500] " TOO_MANY);
    CHECK_ERR(tt_expand(one, 3, (int64_t[]){BIG, BIG, -1}), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tg_expand(one, 2, big2), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_view(one, 2, big2), TT_ESHAPE, "shape '[3037000500, 3037000500]' is invalid for input of size 1");
    CHECK_ERR(tt_reshape(one, 2, big2), TT_ESHAPE, "is invalid for input of size 1");
    /* constructors */
    CHECK_ERR(tt_empty(2, big2, TT_F32, TT_CPU), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_zeros(2, big2, TT_F64, TT_CPU), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_ones(2, big2, TT_BOOL, TT_CPU), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_full(2, big2, 2, TT_I64, TT_CPU), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_rand(2, big2, TT_F32, TT_CPU, NULL), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_randn(2, big2, TT_F32, TT_CPU, NULL), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_from_data(2, big2, TT_F32, NULL, TT_CPU), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_eye(BIG, BIG, TT_F32, TT_CPU), TT_EINVAL, TOO_MANY);
    /* counts that fit in int64 but whose bytes do not fit in memory's addresses */
    CHECK_ERR(tt_empty(1, (int64_t[]){INT64_MAX / 2}, TT_F64, TT_CPU), TT_ENOMEM, "has too many elements");
    CHECK_ERR(tt_arange(0, 4e18, 1, TT_F64, TT_CPU), TT_ENOMEM, "has too many elements");
    CHECK_ERR(tt_linspace(0, 1, INT64_MAX, TT_F32, TT_CPU), TT_ENOMEM, "has too many elements");
    /* broadcasting two tensors that each fit */
    int n = 0;
    int64_t out[TT_MAX_DIMS];
    CHECK(tt_broadcast_shapes(2, col, 2, row, &n, out) == TT_EINVAL);
    CHECK(strstr(tt_last_error(), "broadcast: a tensor of shape [3037000500, 3037000500] " TOO_MANY));
    tt_tensor *c = tt_expand(one, 2, col), *r = tt_expand(one, 2, row);
    CHECK(c && r && tt_numel(c) == BIG && tt_numel(r) == BIG);
    CHECK_ERR(tt_add(c, r), TT_EINVAL, TOO_MANY);
    tt_tensor *yes = tt_ones(2, (int64_t[]){1, 1}, TT_BOOL, TT_CPU), *cond = tt_expand(yes, 2, col);
    CHECK(cond);
    CHECK_ERR(tt_where(cond, c, r), TT_EINVAL, TOO_MANY);
    tt_release(cond);
    tt_release(yes);
    /* matmul: the output [BIG, BIG] of (BIG x 1) @ (1 x BIG), and broadcast batch dims */
    CHECK_ERR(tt_mm(c, r), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tt_matmul(c, r), TT_EINVAL, TOO_MANY);
    tt_tensor *one4 = tt_ones(4, (int64_t[]){1, 1, 1, 1}, TT_F32, TT_CPU);
    tt_tensor *ba = tt_expand(one4, 4, (int64_t[]){BIG, 1, 1, 1}), *bb = tt_expand(one4, 4, (int64_t[]){1, BIG, 1, 1});
    CHECK(ba && bb);
    CHECK_ERR(tt_matmul(ba, bb), TT_EINVAL, TOO_MANY);
    /* the expression language reports it as the error of its expand */
    tg_env *env = tg_env_new();
    CHECK(env && tg_env_bind(env, "x=1") == TT_OK);
    CHECK_ERR(tg_eval(env, "sum(expand(x,3037000500,3037000500))"), TT_EINVAL, TOO_MANY);
    CHECK_ERR(tg_eval(env, "sum(ones(3037000500,3037000500))"), TT_EINVAL, TOO_MANY);
    tg_env_free(env);
    tt_release(ba);
    tt_release(bb);
    tt_release(one4);
    tt_release(c);
    tt_release(r);
    tt_release(one);
}

/* tt_linspace_part: slices of a linspace, for data made a slice at a time (tg-gen). */
TEST(linspace_part_is_a_slice_of_linspace)
{
    const int64_t n = 1001, cuts[] = {0, 1, 7, 499, 500, 501, 998, 1001};
    for (int k = 0; k < 2; k++) {
        tt_dtype dt = k ? TT_F64 : TT_F32;
        tt_tensor *whole = tt_linspace(-2, 3, n, dt, TT_CPU);
        for (size_t i = 0; i + 1 < sizeof cuts / sizeof *cuts; i++) {
            int64_t first = cuts[i], m = cuts[i + 1] - cuts[i];
            tt_tensor *part = tt_linspace_part(-2, 3, n, first, m, dt, TT_CPU);
            tt_tensor *want = tt_slice(whole, 0, first, first + m, 1);
            CHECK(part && want && tt_numel(part) == m);
            double got[1001], exp[1001];
            if (part && want && m) {
                CHECK(tt_to_host(part, TT_F64, got) == TT_OK && tt_to_host(want, TT_F64, exp) == TT_OK);
                CHECK(!memcmp(got, exp, (size_t)m * sizeof *got)); /* the same bits, in both halves of PyTorch's rule */
            }
            tt_release(part);
            tt_release(want);
        }
        tt_release(whole);
    }
    CHECK_ERR(tt_linspace_part(0, 1, 10, 8, 3, TT_F32, TT_CPU), TT_EINVAL, "are not in a range of 10");
}

int main(void)
{
    RUN(view_shares_storage);
    RUN(view_of_noncontiguous);
    RUN(transpose_permute);
    RUN(slice_select);
    RUN(expand);
    RUN(squeeze_unsqueeze);
    RUN(contiguous_clone_alias);
    RUN(write_through_views);
    RUN(refcount_keeps_storage);
    RUN(element_count_overflow);
    RUN(linspace_part_is_a_slice_of_linspace);
    return DONE();
}
