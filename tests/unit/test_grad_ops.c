/* Derivatives of every differentiable op of libgrad against PyTorch 1.13.
 *
 * The table tests/fixtures/grad_cases.h (made by
 * tests/fixtures/make_grad_fixtures.py) holds each case's op and parameters,
 * its inputs, and what PyTorch computes in float64 for it:
 *   - the forward value and grad_fn's name and next_functions;
 *   - first derivatives g = autograd.grad(out, X, gout, create_graph=True) for
 *     the inputs X that require grad, gout a random grad_output that itself
 *     requires grad;
 *   - second derivatives: autograd.grad(sum_k <g_k, v_k>, X + [gout]) for
 *     random v_k (so every backward formula is differentiated in its inputs
 *     and in its grad);
 *   - for some ops the third derivative: autograd.grad(sum_k <h_k, w_k>, ...)
 *     of the second derivatives h.
 * One generic driver builds each op from its kind (a switch), runs the same
 * three autograd.grad calls with tg_autograd_grad, and compares: one TAP line
 * per case. A derivative PyTorch leaves unused (None), or a sum that does not
 * require grad, counts as zeros on both sides.
 *
 * One case departs from PyTorch on purpose: prod() over all elements with two
 * or more zeros. PyTorch 1.13 returns zeros_like(input) there (a constant, so
 * its second derivative is 0); tg's derivatives are exact, and the generator
 * takes the higher derivatives of that case from prod over dim 1 of
 * x.view(1, -1), which PyTorch differentiates exactly. Its first derivative is
 * checked against prod() itself.
 *
 * Tolerance: |got - want| <= 1e-10 * (1 + |want|) for every value (forward and
 * derivatives; float32 results of casts are exact). NaN must match NaN and an
 * infinity the same infinity.
 *
 * Every case runs a second time with its leaves on vulkan:0 (lavapipe; a TAP
 * line "vulkan: NAME", every derivative computed there, on the same tolerance);
 * without a Vulkan device those lines are skipped. The last line fails on any
 * validation-layer message (TG_VULKAN_VALIDATION=1, set by tests/run).
 *
 * Node names must equal PyTorch's, except for the corner cases listed in
 * known_name_differences below (each with the reason); those are reported as
 * TAP comments, not failures.
 */
#include <stdlib.h>

#include "check.h"
#include "backend/vulkan.h"
#include "tg/grad.h"
#include "../fixtures/grad_cases.h"

#define TOL 1e-10

/* Where tg's graph is built from other (equivalent) ops than PyTorch's: the
 * case, PyTorch's whole graph and tg's (as check_names writes them), and why.
 * A case listed here passes with its name differences printed as comments
 * only while both graphs are exactly these. */
static const struct {
    const char *case_name, *torch_graph, *tg_graph, *reason;
} known_name_differences[] = {
    {"matmul((4,),(4, 2))", "SqueezeBackward3(MmBackward0(UnsqueezeBackward0(AccumulateGrad), AccumulateGrad))",
     "SqueezeBackward1(MmBackward0(UnsqueezeBackward0(AccumulateGrad), AccumulateGrad))",
     "PyTorch squeezes the (1,m) mm result in place (squeeze_(0): SqueezeBackward3); tg uses squeeze(0)"},
    {"matmul((4,),(2, 4, 5))",
     "UnsafeViewBackward0(MvBackward0(UnsafeViewBackward0(CloneBackward0(TransposeBackward0(AccumulateGrad))), "
     "AccumulateGrad))",
     "UnsafeViewBackward0(BmmBackward0(ReshapeAliasBackward0(ExpandBackward0(UnsqueezeBackward0(AccumulateGrad))), "
     "ReshapeAliasBackward0(ExpandBackward0(AccumulateGrad))))",
     "PyTorch folds b's batch into one mv of b transposed (b.mT.reshape(-1,k).mv(a)); tg unsqueezes a and uses bmm"},
    {"matmul((3, 4),(2, 4, 5))",
     "CloneBackward0(TransposeBackward0(UnsafeViewBackward0(MmBackward0(UnsafeViewBackward0(CloneBackward0("
     "TransposeBackward0(AccumulateGrad))), TBackward0(AccumulateGrad)))))",
     "UnsafeViewBackward0(BmmBackward0(ReshapeAliasBackward0(ExpandBackward0(AccumulateGrad)), "
     "ReshapeAliasBackward0(ExpandBackward0(AccumulateGrad))))",
     "PyTorch computes (b.mT @ a.T).mT.contiguous() with one mm; tg expands a over the batch and uses bmm"},
    {NULL, NULL, NULL, NULL},
};
static int known_seen[sizeof known_name_differences / sizeof known_name_differences[0]];

typedef tt_tensor *(*unary_fn)(const tt_tensor *);
typedef tt_tensor *(*binary_fn)(const tt_tensor *, const tt_tensor *);
/* The tg_ wrappers the op table makes (tg/ops.def), by op. */
static const unary_fn unary_fns[] = {
#define TT_UNARY_OP(ENUM, name, ...) [TT_##ENUM] = tg_##name,
#include "tg/ops.def"
};
static const binary_fn binary_fns[] = {
#define TT_BINARY_OP(ENUM, name, ...) [TT_##ENUM] = tg_##name,
#include "tg/ops.def"
};
static const unary_fn reduce_all_fns[] = {
#define TT_REDUCE_OP(ENUM, name, ...) [TT_##ENUM] = tg_##name,
#include "tg/ops.def"
};

static const grad_case *cur;               /* the case being run, for messages */
static tt_device dev = {TT_DEVICE_CPU, 0}; /* where the case's tensors live */

#define CFAIL(...)                              \
    do {                                        \
        printf("#   case \"%s\": ", cur->name); \
        printf(__VA_ARGS__);                    \
        printf("\n");                           \
        check_failed_here = 1;                  \
    } while (0)

static tt_tensor *from_values(tt_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    int64_t n = tt_shape_numel(ndim, shape);
    size_t sz = tt_dtype_size(dt);
    unsigned char *buf = malloc((size_t)(n > 0 ? n : 1) * (sz ? sz : 8));
    if (!buf) return NULL;
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case TT_F32: ((float *)buf)[i] = (float)v[i]; break;
        case TT_F64: ((double *)buf)[i] = v[i]; break;
        case TT_I64: ((int64_t *)buf)[i] = (int64_t)v[i]; break;
        case TT_BOOL: ((bool *)buf)[i] = v[i] != 0; break;
        }
    }
    tt_tensor *t = tt_from_data(ndim, shape, dt, buf, TT_CPU);
    free(buf);
    if (t && dev.type != TT_DEVICE_CPU) {
        tt_tensor *d = tt_to_device(t, dev);
        tt_release(t);
        t = d;
    }
    return t;
}

/* An input leaf: the base from the values, the view the case asks for, then requires_grad. */
static tt_tensor *make_input(const gc_input *in)
{
    tt_tensor *base = from_values(in->dtype, in->ndim, in->shape, in->v);
    if (!base) {
        CFAIL("making an input failed: %s", tt_last_error());
        return NULL;
    }
    tt_tensor *t = base;
    if (in->xform != GC_PLAIN) {
        t = in->xform == GC_TRANSPOSE ? tt_transpose(base, in->d0, in->d1)
                                      : tt_slice(base, in->d0, in->start, in->end, in->step);
        tt_release(base);
        if (!t) {
            CFAIL("making the input view failed: %s", tt_last_error());
            return NULL;
        }
    }
    if (in->rg && tg_set_requires_grad(t, true) != TT_OK) {
        CFAIL("tg_set_requires_grad failed: %s", tt_last_error());
        tt_release(t);
        return NULL;
    }
    return t;
}

/* The gradient of a unary op at x for a grad_output of ones, with its own
 * graph (create_graph): the graph of the op's backward formula. */
static tt_tensor *unary_gradient(tt_unary_op op, const tt_tensor *x)
{
    tt_tensor *y = tg_unary(op, x), *ones = y ? tt_ones_like(y) : NULL, *gx = NULL;
    if (ones && tg_autograd_grad(1, &y, &ones, 1, (tt_tensor *const *)&x, false, true, false, &gx) != TT_OK) gx = NULL;
    tt_release(y);
    tt_release(ones);
    return gx;
}

/* The op of the case, in tg. */
static tt_tensor *build(const grad_case *c, tt_tensor **in)
{
    const tt_tensor *a = in[0], *b = c->nin > 1 ? in[1] : NULL;
    switch (c->kind) {
    case GK_UNARY: return unary_fns[c->op](a);
    case GK_UNARY_GENERIC: return tg_unary((tt_unary_op)c->op, a);
    case GK_UNARY_GRAPH: return unary_gradient((tt_unary_op)c->op, a);
    case GK_BINARY: return binary_fns[c->op](a, b);
    case GK_BINARY_GENERIC: return tg_binary((tt_binary_op)c->op, a, b);
    case GK_BSCALAR: return tg_binary_scalar((tt_binary_op)c->op, a, c->s[0]);
    case GK_SBINARY: return tg_scalar_binary((tt_binary_op)c->op, c->s[0], a);
    case GK_ADD_SCALAR: return tg_add_scalar(a, c->s[0]);
    case GK_MUL_SCALAR: return tg_mul_scalar(a, c->s[0]);
    case GK_POW_SCALAR: return tg_pow_scalar(a, c->s[0]);
    case GK_WHERE: return tg_where(a, b, in[2]);
    case GK_CLAMP: return tg_clamp(a, c->s[0], c->s[1]);
    case GK_CAST: return tg_cast(a, c->dt);
    case GK_REDUCE: return tg_reduce((tt_reduce_op)c->op, a, c->ndims ? c->dims : NULL, c->ndims, c->keepdim);
    case GK_REDUCE_ALL: return reduce_all_fns[c->op](a);
    case GK_SUM_DIMS: return tg_sum_dims(a, c->dims, c->ndims, c->keepdim);
    case GK_MEAN_DIMS: return tg_mean_dims(a, c->dims, c->ndims, c->keepdim);
    case GK_MAX_DIM:
    case GK_MIN_DIM: {
        tt_tensor *idx = NULL;
        tt_tensor *r = (c->kind == GK_MAX_DIM ? tg_max_dim : tg_min_dim)(a, c->dims[0], c->keepdim, &idx);
        if (r && (!idx || idx->dtype != TT_I64 || idx->ndim != r->ndim)) CFAIL("bad indices");
        tt_release(idx);
        return r;
    }
    case GK_MATMUL: return tg_matmul(a, b);
    case GK_MM: return tg_mm(a, b);
    case GK_MV: return tg_mv(a, b);
    case GK_BMM: return tg_bmm(a, b);
    case GK_SOFTMAX: return tg_softmax(a, c->dims[0]);
    case GK_LOG_SOFTMAX: return tg_log_softmax(a, c->dims[0]);
    case GK_VIEW: return tg_view(a, c->sndim, c->shape);
    case GK_RESHAPE: return tg_reshape(a, c->sndim, c->shape);
    case GK_PERMUTE: return tg_permute(a, c->dims);
    case GK_TRANSPOSE: return tg_transpose(a, c->dims[0], c->dims[1]);
    case GK_T: return tg_t(a);
    case GK_SLICE: return tg_slice(a, c->dims[0], c->n[0], c->n[1], c->n[2]);
    case GK_SELECT: return tg_select(a, c->dims[0], c->n[0]);
    case GK_EXPAND: return tg_expand(a, c->sndim, c->shape);
    case GK_SQUEEZE: return tg_squeeze(a, c->dims[0]);
    case GK_UNSQUEEZE: return tg_unsqueeze(a, c->dims[0]);
    case GK_CONTIGUOUS: return tg_contiguous(a);
    case GK_CLONE: return tg_clone(a);
    case GK_SUM_TO_SHAPE: return tg_sum_to_shape(a, c->sndim, c->shape);
    case GK_LOSS: return tg_loss((tg_loss_op)c->op, a, b, (tg_reduction)c->n[0], c->s[0]);
    case GK_L1_LOSS: return tg_l1_loss(a, b, (tg_reduction)c->n[0]);
    case GK_LOGSUMEXP: return tg_logsumexp(a, c->dims, c->ndims, c->keepdim);
    case GK_CUMSUM: return tg_cumsum(a, c->dims[0]);
    case GK_INDEX: return tg_index(a, c->dims[0], b);
    case GK_INDEX_SELECT: return tg_index_select(a, c->dims[0], b);
    case GK_INDEX_ADD: return tg_index_add(a, c->dims[0], b, in[2]);
    }
    tt_set_error(TT_EINVAL, "unknown case kind %d", c->kind);
    return NULL;
}

static int close_enough(double got, double want)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= TOL * (1 + fabs(want));
}

/* Compares t (NULL: zeros) with want, shaped like `like`. */
static int compare(const tt_tensor *t, const tt_tensor *like, const double *want, const char *what)
{
    int64_t n = tt_numel(like);
    if (t && (t->ndim != like->ndim || memcmp(t->shape, like->shape, sizeof(int64_t) * (size_t)t->ndim))) {
        CFAIL("%s: shape differs from its input's", what);
        return 0;
    }
    if (t && t->dtype != like->dtype) {
        CFAIL("%s: dtype %s, expected %s", what, tt_dtype_name(t->dtype), tt_dtype_name(like->dtype));
        return 0;
    }
    double *got = calloc((size_t)(n > 0 ? n : 1), sizeof *got);
    if (!got) return 0;
    if (t && tt_to_host(t, TT_F64, got) != TT_OK) {
        CFAIL("%s: %s", what, tt_last_error());
        free(got);
        return 0;
    }
    int ok = 1, shown = 0;
    for (int64_t i = 0; i < n; i++)
        if (!close_enough(got[i], want[i])) {
            if (shown++ < 3) CFAIL("%s[%lld] = %.17g, expected %.17g", what, (long long)i, got[i], want[i]);
            ok = 0;
        }
    if (shown > 3) CFAIL("%s: %d values differ in all", what, shown);
    free(got);
    return ok;
}

static void check_name(const char *what, const char *got, const char *want)
{
    if (!got) got = "None";
    if (!want) want = "None";
    if (strcmp(got, want)) CFAIL("%s is %s, PyTorch's is %s", what, got, want);
}

/* The graph below n as "Name(next, ...)", "None" for a missing edge. */
static void graph_string(const tg_node *n, char *buf, size_t cap, size_t *len)
{
    const char *name = n ? tg_node_name(n) : "None";
    *len += (size_t)snprintf(buf + (*len < cap ? *len : cap), *len < cap ? cap - *len : 0, "%s", name);
    if (!n || !tg_node_num_next(n)) return;
    *len += (size_t)snprintf(buf + (*len < cap ? *len : cap), *len < cap ? cap - *len : 0, "(");
    for (int i = 0; i < tg_node_num_next(n); i++) {
        if (i) *len += (size_t)snprintf(buf + (*len < cap ? *len : cap), *len < cap ? cap - *len : 0, ", ");
        graph_string(tg_node_next((tg_node *)n, i, NULL), buf, cap, len);
    }
    *len += (size_t)snprintf(buf + (*len < cap ? *len : cap), *len < cap ? cap - *len : 0, ")");
}

static void check_names(const tt_tensor *out)
{
    const grad_case *c = cur;
    if (!c->node) return;
    tg_node *n = tg_grad_fn(out);
    if (!c->node[0]) {
        if (n) CFAIL("grad_fn is %s, PyTorch's output is a leaf", tg_node_name(n));
        return;
    }
    if (!n) {
        CFAIL("no grad_fn, PyTorch's is %s", c->node);
        return;
    }
    char g[1024];
    size_t len = 0;
    graph_string(n, g, sizeof g, &len);
    for (int i = 0; known_name_differences[i].case_name; i++)
        if (!strcmp(known_name_differences[i].case_name, c->name) &&
            !strcmp(known_name_differences[i].torch_graph, c->graph) &&
            !strcmp(known_name_differences[i].tg_graph, g)) {
            known_seen[i] = 1;
            printf("#   known name difference in \"%s\": tg's graph is %s, PyTorch's %s: %s\n", c->name, g, c->graph,
                   known_name_differences[i].reason);
            return;
        }
    check_name("grad_fn", tg_node_name(n), c->node);
    if (tg_node_num_next(n) != c->nnext) {
        if (!strcmp(tg_node_name(n), c->node))
            CFAIL("%s has %d next_functions, PyTorch's %d", tg_node_name(n), tg_node_num_next(n), c->nnext);
    } else {
        for (int i = 0; i < c->nnext; i++) {
            int nr = -1;
            tg_node *m = tg_node_next(n, i, &nr);
            char what[64];
            snprintf(what, sizeof what, "next_functions[%d]", i);
            check_name(what, m ? tg_node_name(m) : NULL, c->next[i]);
            if (m && c->next[i] && nr != c->next_nr[i]) CFAIL("%s input_nr %d, PyTorch's %d", what, nr, c->next_nr[i]);
        }
    }
    check_name("graph", g, c->graph);
}

/* s = sum_k sum(d[k] * vk) over the slots that have a derivative that requires
 * grad; NULL (with *fail clear) when none does. */
static tt_tensor *dot_sum(int nd, tt_tensor **d, tt_tensor **like, const double *const *vals, int *slot, int *fail)
{
    tt_tensor *s = NULL;
    for (int k = 0; k < nd; k++) {
        if (!d[k] || !tg_requires_grad(d[k])) continue;
        tt_tensor *vk = from_values(like[k]->dtype, like[k]->ndim, like[k]->shape, vals[slot[k]]);
        tt_tensor *p = tg_mul(d[k], vk);
        tt_tensor *term = tg_sum(p);
        tt_release(vk);
        tt_release(p);
        if (!term) {
            *fail = 1;
            tt_release(s);
            return NULL;
        }
        if (s) {
            tt_tensor *t = tg_add(s, term);
            tt_release(s);
            tt_release(term);
            if (!(s = t)) {
                *fail = 1;
                return NULL;
            }
        } else {
            s = term;
        }
    }
    return s;
}

static void release_all(int n, tt_tensor **t)
{
    for (int i = 0; i < n; i++) {
        tt_release(t[i]);
        t[i] = NULL;
    }
}

static void run_case(const grad_case *c)
{
    cur = c;
    tt_tensor *in[3] = {NULL, NULL, NULL};
    for (int i = 0; i < c->nin; i++)
        if (!(in[i] = make_input(&c->in[i]))) {
            release_all(3, in);
            return;
        }
    tt_tensor *out = build(c, in);
    if (!out) {
        CFAIL("the op failed: %s", tt_last_error());
        release_all(3, in);
        return;
    }
    if (out->dtype != c->out_dtype || out->ndim != c->out_ndim ||
        memcmp(out->shape, c->out_shape, sizeof(int64_t) * (size_t)c->out_ndim)) {
        CFAIL("output has dtype %s and %d dims, expected %s and %d dims (or its shape differs)",
              tt_dtype_name(out->dtype), out->ndim, tt_dtype_name(c->out_dtype), c->out_ndim);
        tt_release(out);
        release_all(3, in);
        return;
    }
    compare(out, out, c->out, "forward");
    check_names(out);

    /* X: the inputs that require grad, then gout: slots[] maps each to its fixture slot */
    tt_tensor *X[4], *g1[4] = {NULL}, *g2[4] = {NULL}, *g3[4] = {NULL};
    int slot[4], nx = 0;
    for (int i = 0; i < c->nin; i++)
        if (c->in[i].rg) {
            X[nx] = in[i];
            slot[nx++] = i;
        }
    tt_tensor *gout = from_values(c->out_dtype, c->out_ndim, c->out_shape, c->gout);
    if (!gout || tg_set_requires_grad(gout, true) != TT_OK) {
        CFAIL("gout: %s", tt_last_error());
        goto done;
    }
    X[nx] = gout;
    slot[nx] = 3;

    /* first derivatives */
    if (tg_autograd_grad(1, &out, &gout, nx, X, true, true, false, g1) != TT_OK) {
        CFAIL("first autograd.grad failed: %s", tt_last_error());
        goto done;
    }
    for (int k = 0; k < nx; k++) {
        char what[48];
        snprintf(what, sizeof what, "d/d input %d", slot[k]);
        compare(g1[k], X[k], c->g1[slot[k]], what);
    }
    if (c->order < 2) goto done;

    /* second: grad of sum_k <g1_k, v_k> w.r.t. the inputs and gout */
    int fail = 0;
    tt_tensor *s2 = dot_sum(nx, g1, X, c->v, slot, &fail);
    if (fail) {
        CFAIL("building sum <g, v> failed: %s", tt_last_error());
        goto done;
    }
    if (s2 && tg_autograd_grad(1, &s2, NULL, nx + 1, X, true, c->order >= 3, true, g2) != TT_OK) {
        CFAIL("second autograd.grad failed: %s", tt_last_error());
        tt_release(s2);
        goto done;
    }
    tt_release(s2);
    for (int k = 0; k <= nx; k++) {
        char what[48];
        if (slot[k] == 3) snprintf(what, sizeof what, "d2 (d/d gout)");
        else snprintf(what, sizeof what, "d2/d input %d", slot[k]);
        compare(g2[k], X[k], c->g2[slot[k]], what);
    }
    if (c->order < 3) goto done;

    tt_tensor *s3 = dot_sum(nx + 1, g2, X, c->w, slot, &fail);
    if (fail) {
        CFAIL("building sum <h, w> failed: %s", tt_last_error());
        goto done;
    }
    if (s3 && tg_autograd_grad(1, &s3, NULL, nx + 1, X, false, false, true, g3) != TT_OK) {
        CFAIL("third autograd.grad failed: %s", tt_last_error());
        tt_release(s3);
        goto done;
    }
    tt_release(s3);
    for (int k = 0; k <= nx; k++) {
        char what[48];
        if (slot[k] == 3) snprintf(what, sizeof what, "d3 (d/d gout)");
        else snprintf(what, sizeof what, "d3/d input %d", slot[k]);
        compare(g3[k], X[k], c->g3[slot[k]], what);
    }
done:
    release_all(4, g1);
    release_all(4, g2);
    release_all(4, g3);
    tt_release(gout);
    tt_release(out);
    release_all(3, in);
}

static void report(const char *prefix, const char *skip) { REPORT_CASE(prefix, cur->name, skip); }

int main(void)
{
    setenv("TG_VULKAN_DEVICE", "lavapipe", 0); /* meant for lavapipe, as test_vulkan; a set value wins */
    char no_vk[300] = "";
    if (!tt_vulkan_available(0)) snprintf(no_vk, sizeof no_vk, "no Vulkan device: %s", tt_last_error());
    tt_clear_error();
    for (int i = 0; i < GRAD_NUM_CASES; i++) {
        dev = TT_CPU;
        check_failed_here = 0;
        run_case(&grad_cases[i]);
        report("", NULL);
        if (no_vk[0]) continue;
        dev = (tt_device){TT_DEVICE_VULKAN, 0};
        check_failed_here = 0;
        run_case(&grad_cases[i]);
        report("vulkan: ", NULL);
    }
    dev = TT_CPU;
    check_failed_here = 0;
    if (no_vk[0]) {
        cur = &(grad_case){.name = "every case"};
        report("vulkan: ", no_vk);
    }
    for (int i = 0; known_name_differences[i].case_name; i++)
        if (!known_seen[i])
            printf("# known name difference no longer seen (remove it from the list): \"%s\"\n",
                   known_name_differences[i].case_name);
    cur = &(grad_case){.name = "no validation-layer messages"};
    check_failed_here = 0;
    if (!no_vk[0]) {
        if (tt_vulkan_sync(0) != TT_OK) CFAIL("tt_vulkan_sync: %s", tt_last_error());
        tt_vulkan_shutdown(); /* reports leaked objects through the layer */
        long n = tt_vulkan_validation_messages();
        if (n) CFAIL("%ld validation messages (see stderr)", n);
    }
    report("vulkan: ", no_vk);
    return DONE();
}
