/* The backward engine: count dependencies from the roots, then run each
 * node once all of its output's gradient has arrived, most recently
 * recorded first (PyTorch's order), summing gradients into each input. No
 * recursion anywhere, so chains of any length work. */
#include <stdlib.h>
#include <string.h>
#include "grad/internal.h"
#include "tensor/internal.h"

const tg_fn_def tg_accumulate_grad_def = {"AccumulateGrad", NULL}; /* the engine accumulates itself */

/* A run's lists start in arrays of their own (on the stack, in the run):
 * a small graph's backward allocates nothing for them. */
#define LOCAL_NODES 32
typedef struct {
    tg_node **v;
    size_t n, cap;
    tg_node *local[LOCAL_NODES];
} node_list;

/* The engine's work arrays come from the size-class pool, so a training
 * loop's backward calls no allocator once warm. */
static void *grow(void *old, size_t used, size_t *cap, size_t want, size_t size)
{
    size_t ncap = *cap ? *cap : 64;
    while (ncap < want) ncap *= 2;
    void *p = tt__pool_alloc(ncap * size);
    if (!p) return NULL;
    if (old) {
        memcpy(p, old, used * size);
        tt__pool_free(old, *cap * size);
    }
    *cap = ncap;
    return p;
}

static void list_init(node_list *l)
{
    l->v = l->local;
    l->n = 0;
    l->cap = LOCAL_NODES;
}

static void list_free(node_list *l)
{
    if (l->v != l->local) tt__pool_free(l->v, l->cap * sizeof *l->v);
}

/* A full list's push: it grows first. */
static __attribute__((noinline)) bool push_grown(node_list *l, tg_node *n)
{
    tg_node **grown = grow(l->v == l->local ? NULL : l->v, l->n, &l->cap, l->n + 1, sizeof *grown);
    if (grown && l->v == l->local) memcpy(grown, l->local, l->n * sizeof *grown);
    if (!grown) {
        tt_set_error(TT_ENOMEM, "out of memory in backward");
        return false;
    }
    l->v = grown;
    l->v[l->n++] = n;
    return true;
}

/* (Inline: the engine pushes a few times per node; growing is the rare case.) */
static inline bool push(node_list *l, tg_node *n)
{
    if (__builtin_expect(l->n < l->cap, 1)) {
        l->v[l->n++] = n;
        return true;
    }
    return push_grown(l, n);
}

/* A max-heap on sequence numbers: the ready queue. */
static bool heap_push(node_list *h, tg_node *n)
{
    if (!push(h, n)) return false;
    for (size_t i = h->n - 1; i > 0;) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->seq >= h->v[i]->seq) break;
        tg_node *t = h->v[parent];
        h->v[parent] = h->v[i];
        h->v[i] = t;
        i = parent;
    }
    return true;
}

static tg_node *heap_pop(node_list *h)
{
    tg_node *top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l]->seq > h->v[m]->seq) m = l;
        if (r < h->n && h->v[r]->seq > h->v[m]->seq) m = r;
        if (m == i) break;
        tg_node *t = h->v[m];
        h->v[m] = h->v[i];
        h->v[i] = t;
        i = m;
    }
    return top;
}

static _Thread_local uint64_t engine_epoch;

typedef struct {
    uint64_t epoch;
    bool create_graph, keep_graph, accumulate;
    int ncap;
    tg_node *const *cap_nodes;
    tt_tensor **captured;
    node_list visited, stack, ready;
    int *edge_pos; /* DFS: next edge to look at, per stack entry */
    size_t edge_cap;
    int edge_local[LOCAL_NODES];
} run;

static void init_node(run *r, tg_node *n)
{
    n->epoch = r->epoch;
    n->deps = 0;
    n->needed = r->accumulate;
    if (n->buffer) { /* (a run leaves none behind, unless it stopped on an error) */
        tt_release(n->buffer);
        n->buffer = NULL;
    }
}

static int capture_index(const run *r, const tg_node *n)
{
    for (int k = 0; k < r->ncap; k++)
        if (r->cap_nodes[k] == n) return k;
    return -1;
}

/* First visit of a node: reset its scratch and push it on the DFS stack. */
static tt_status enter(run *r, tg_node *n)
{
    init_node(r, n);
    if (!push(&r->visited, n) || !push(&r->stack, n)) return tt_last_status();
    if (r->stack.n > r->edge_cap) {
        bool local = r->edge_pos == r->edge_local;
        size_t used = r->edge_cap;
        int *grown = grow(local ? NULL : r->edge_pos, used, &r->edge_cap, r->stack.n, sizeof *grown);
        if (!grown) return tt_set_error(TT_ENOMEM, "out of memory in backward");
        if (local) memcpy(grown, r->edge_local, used * sizeof *grown);
        r->edge_pos = grown;
    }
    r->edge_pos[r->stack.n - 1] = 0;
    return TT_OK;
}

/* One iterative depth-first pass: counts each node's incoming edges and, when
 * capturing, marks the nodes that lead to a captured one (post-order). */
static tt_status discover(run *r, int nroots, tg_node *const *roots)
{
    for (int i = 0; i < nroots; i++) {
        if (roots[i]->epoch == r->epoch) continue;
        if (enter(r, roots[i]) != TT_OK) return tt_last_status();
        while (r->stack.n) {
            tg_node *n = r->stack.v[r->stack.n - 1];
            int *pos = &r->edge_pos[r->stack.n - 1];
            if (*pos < n->nnext) {
                tg_node *c = n->next[(*pos)++].fn;
                if (!c) continue;
                if (c->epoch != r->epoch && enter(r, c) != TT_OK) return tt_last_status();
                c->deps++;
                continue;
            }
            if (!r->accumulate) { /* post-order: every child is done */
                n->needed = capture_index(r, n) >= 0;
                for (int j = 0; j < n->nnext && !n->needed; j++) n->needed = n->next[j].fn && n->next[j].fn->needed;
            }
            r->stack.n--;
        }
    }
    return TT_OK;
}

static bool same_shape(int na, const int64_t *a, int nb, const int64_t *b)
{
    if (na != nb) return false;
    for (int i = 0; i < na; i++) /* (a loop: a few dims, cheaper than a call to memcmp) */
        if (a[i] != b[i]) return false;
    return true;
}

/* Can `from` be summed down to `to` (to broadcasts to from)? */
static bool expandable(int nto, const int64_t *to, int nfrom, const int64_t *from)
{
    if (nto > nfrom) return false;
    for (int i = 0; i < nto; i++) {
        int64_t t = to[nto - 1 - i], f = from[nfrom - 1 - i];
        if (t != f && t != 1) return false;
    }
    return true;
}

/* PyTorch's validate_outputs: a gradient is summed back to its input's
 * shape (the one generic reduction for broadcasting) and cast to its dtype. */
static tt_tensor *fit_gradient(const tg_node *n, int i, tt_tensor *g)
{
    const tg_shape *want = &n->inputs[i];
    if (!same_shape(g->ndim, g->shape, want->ndim, want->shape)) {
        if (!expandable(want->ndim, want->shape, g->ndim, g->shape)) {
            char a[160], b[160];
            tt_set_error(TT_ERUNTIME,
                         "Function %s returned an invalid gradient at index %d - got %s but expected "
                         "shape compatible with %s",
                         n->def->name, i, tt_shape_str(g->ndim, g->shape, a, sizeof a),
                         tt_shape_str(want->ndim, want->shape, b, sizeof b));
            tt_release(g);
            return NULL;
        }
        tt_tensor *s = tg_sum_to_shape(g, want->ndim, want->shape);
        tt_release(g);
        if (!(g = s)) return NULL;
    }
    if (g->dtype != want->dtype) {
        tt_tensor *c = tg_cast(g, want->dtype);
        tt_release(g);
        g = c;
    }
    return g;
}

/* Adds g (a reference this takes) into a node's input buffer. */
static tt_status add_to_buffer(tg_node *n, tt_tensor *g)
{
    if (!n->buffer) {
        n->buffer = g;
        return TT_OK;
    }
    tt_tensor *sum = tg_add(n->buffer, g);
    tt_release(g);
    if (!sum) return tt_last_status();
    tt_release(n->buffer);
    n->buffer = sum;
    return TT_OK;
}

/* Runs hooks in order; each may replace the gradient. */
static tt_tensor *run_hooks(const tg_hook *h, tt_tensor *grad)
{
    for (; h && grad; h = h->next) {
        tt_tensor *replaced = h->fn(grad, h->ctx);
        if (replaced) {
            tt_release(grad);
            grad = replaced;
        }
    }
    return grad;
}

/* .grad += g, PyTorch's AccumulateGrad: without create_graph the old grad is
 * updated in place and a fresh grad is stored (copied if shared); with it the
 * first grad is a tracked copy (CopyBackwards) and later ones tracked sums. */
static tt_status accumulate(tt_tensor *variable, tt_tensor *g, bool create_graph)
{
    tg_meta *m = tg__meta(variable);
    if (!m->grad && create_graph) {
        tt_tensor *c = tt_empty_like(g);
        tt_status st = c ? tg_copy_(c, g) : tt_last_status();
        if (st != TT_OK) {
            tt_release(c);
            return st;
        }
        m->grad = c;
        return TT_OK;
    }
    if (!m->grad) {
        if (g->refcount > 1 || !tt_is_contiguous(g) || g->flags) {
            tt_tensor *c = tt_clone(g);
            if (!c) return tt_last_status();
            m->grad = c;
        } else {
            m->grad = tt_retain(g);
        }
        return TT_OK;
    }
    if (!create_graph) return tt_add_(m->grad, g);
    tt_tensor *sum = tg_add(m->grad, g);
    if (!sum) return tt_last_status();
    tt_release(m->grad);
    m->grad = sum;
    return TT_OK;
}

static bool inputs_needed(const tg_node *n)
{
    for (int i = 0; i < n->nnext; i++)
        if (n->next[i].fn && n->next[i].fn->needed) return true;
    return false;
}

static tt_status execute(run *r, tg_node *n)
{
    tt_tensor *grad = n->buffer;
    n->buffer = NULL;
    tt_status st = TT_OK;
    if (grad && n->needed) {
        const tg_hook *hooks = n->variable ? (tg__meta(n->variable) ? tg__meta(n->variable)->hooks : NULL) : n->hooks;
        if (hooks) {
            tt_clear_error();
            grad = run_hooks(hooks, grad);
            if (!grad) return tt_last_status();
        }
        if (n->retain_grad_target) {
            tg_meta *m = n->retain_grad_target;
            tt_tensor *kept = r->create_graph ? tt_retain(grad) : tt_clone(grad);
            if (!kept) {
                tt_release(grad);
                return tt_last_status();
            }
            if (m->grad) {
                tt_tensor *sum = tg_add(m->grad, kept);
                tt_release(kept);
                kept = sum;
            }
            tt_release(m->grad);
            m->grad = kept;
        }
        int k = capture_index(r, n);
        if (k >= 0 && !r->captured[k]) r->captured[k] = tt_retain(grad);
        if (n->def == &tg_accumulate_grad_def) {
            if (r->accumulate) st = accumulate(n->variable, grad, r->create_graph);
        } else if (!inputs_needed(n)) {
            /* captured for autograd.grad, and nothing below it is wanted */
        } else if (n->nsaved && n->saved_freed) {
            st = TT_ERUNTIME;
            tg__saved(n, 0); /* sets PyTorch's message */
        } else {
            tt_tensor *stack_grads[4] = {NULL}, **gi = stack_grads;
            if (n->nnext > 4 && !(gi = calloc((size_t)n->nnext, sizeof *gi)))
                st = tt_set_error(TT_ENOMEM, "out of memory");
            size_t mark = tg__tmp_mark();
            if (st == TT_OK) st = n->def->backward(n, grad, gi);
            tg__tmp_release_to(mark);
            for (int i = 0; i < n->nnext; i++) {
                tt_tensor *g = gi[i];
                if (!g) continue;
                if (st != TT_OK || !n->next[i].fn || !n->next[i].fn->needed) {
                    tt_release(g);
                    continue;
                }
                if (!(g = fit_gradient(n, i, g)) || (st = add_to_buffer(n->next[i].fn, g)) != TT_OK)
                    st = tt_last_status();
            }
            if (gi != stack_grads) free(gi);
            if (!r->keep_graph) tg__free_saved(n);
        }
    }
    tt_release(grad);
    if (st != TT_OK) return st;
    for (int i = 0; i < n->nnext; i++) {
        tg_node *c = n->next[i].fn;
        if (c && --c->deps == 0 && !heap_push(&r->ready, c)) return tt_last_status();
    }
    return TT_OK;
}

static tt_status run_engine(int nroots, tg_node *const *roots, tt_tensor *const *root_grads, bool keep_graph,
                            bool create_graph, int ncap, tg_node *const *cap_nodes, tt_tensor **captured)
{
    run r; /* field by field: the local arrays need no clearing */
    r.epoch = ++engine_epoch;
    r.create_graph = create_graph;
    r.keep_graph = keep_graph;
    r.accumulate = ncap == 0;
    r.ncap = ncap;
    r.cap_nodes = cap_nodes;
    r.captured = captured;
    r.edge_cap = LOCAL_NODES;
    r.edge_pos = r.edge_local;
    list_init(&r.visited);
    list_init(&r.stack);
    list_init(&r.ready);
    bool prev_mode = tg_set_grad_enabled(create_graph);
    tt_status st = discover(&r, nroots, roots);
    for (int i = 0; st == TT_OK && i < nroots; i++) st = add_to_buffer(roots[i], tt_retain(root_grads[i]));
    for (int i = 0; st == TT_OK && i < nroots; i++)
        if (roots[i]->deps == 0) { /* several outputs may share a node */
            bool queued = false;
            for (size_t j = 0; j < r.ready.n; j++) queued |= r.ready.v[j] == roots[i];
            if (!queued && !heap_push(&r.ready, roots[i])) st = tt_last_status();
        }
    while (st == TT_OK && r.ready.n) st = execute(&r, heap_pop(&r.ready));
    for (size_t i = 0; i < r.visited.n; i++) /* nothing of this run stays behind */
        if (r.visited.v[i]->buffer) {
            tt_release(r.visited.v[i]->buffer);
            r.visited.v[i]->buffer = NULL;
        }
    tg_set_grad_enabled(prev_mode);
    list_free(&r.visited);
    list_free(&r.stack);
    list_free(&r.ready);
    if (r.edge_pos != r.edge_local) tt__pool_free(r.edge_pos, r.edge_cap * sizeof *r.edge_pos);
    return st;
}

/* The node a tensor's gradient enters the graph at (a new reference). */
static tg_node *gradient_edge(tt_tensor *t)
{
    tg_meta *m = tg__meta(t);
    return m->grad_fn ? tg_node_retain(m->grad_fn) : tg__accumulator(t);
}

/* Checks an output and makes its gradient (a new reference). */
static tt_tensor *root_gradient(int index, tt_tensor *out, const tt_tensor *grad_output)
{
    if (!tg_requires_grad(out)) {
        tt_set_error(TT_ERUNTIME, "element %d of tensors does not require grad and does not have a grad_fn", index);
        return NULL;
    }
    if (!grad_output) {
        if (tt_numel(out) != 1) {
            tt_set_error(TT_ERUNTIME, "grad can be implicitly created only for scalar outputs");
            return NULL;
        }
        return tt_ones_like(out);
    }
    if (!same_shape(grad_output->ndim, grad_output->shape, out->ndim, out->shape)) {
        char a[160], b[160];
        tt_set_error(TT_ERUNTIME,
                     "Mismatch in shape: grad_output[%d] has a shape of torch.Size(%s) and output[%d] "
                     "has a shape of torch.Size(%s).",
                     index, tt_shape_str(grad_output->ndim, grad_output->shape, a, sizeof a), index,
                     tt_shape_str(out->ndim, out->shape, b, sizeof b));
        return NULL;
    }
    return tt_retain((tt_tensor *)grad_output);
}

tt_status tg_backward(tt_tensor *root, const tt_tensor *grad_output, bool retain_graph, bool create_graph)
{
    if (create_graph)
        tg_warn(
            "Using backward() with create_graph=True will create a reference cycle between the parameter and its "
            "gradient which can cause a memory leak. We recommend using autograd.grad when creating the graph to "
            "avoid this. If you have to use this function, make sure to reset the .grad fields of your parameters "
            "to None after use to break the cycle and avoid the leak.");
    tt_tensor *g = root_gradient(0, root, grad_output);
    if (!g) return tt_last_status();
    tg_node *n = gradient_edge(root);
    tt_status st =
        n ? run_engine(1, &n, &g, retain_graph || create_graph, create_graph, 0, NULL, NULL) : tt_last_status();
    tg_node_release(n);
    tt_release(g);
    return st;
}

tt_status tg_autograd_grad(int noutputs, tt_tensor *const *outputs, tt_tensor *const *grad_outputs, int ninputs,
                           tt_tensor *const *inputs, bool retain_graph, bool create_graph, bool allow_unused,
                           tt_tensor **grads_out)
{
    tt_status st = TT_OK;
    tg_node **roots = calloc((size_t)noutputs + 1, sizeof *roots);
    tt_tensor **root_grads = calloc((size_t)noutputs + 1, sizeof *root_grads);
    tg_node **cap = calloc((size_t)ninputs + 1, sizeof *cap);
    if (!roots || !root_grads || !cap) st = tt_set_error(TT_ENOMEM, "out of memory");
    for (int i = 0; i < ninputs; i++) grads_out[i] = NULL;
    for (int i = 0; st == TT_OK && i < noutputs; i++) {
        root_grads[i] = root_gradient(i, outputs[i], grad_outputs ? grad_outputs[i] : NULL);
        if (!root_grads[i] || !(roots[i] = gradient_edge(outputs[i]))) st = tt_last_status();
    }
    for (int i = 0; st == TT_OK && i < ninputs; i++) {
        tg_meta *m = tg__meta(inputs[i]);
        if (!m || !m->requires_grad)
            st = tt_set_error(TT_ERUNTIME, "One of the differentiated Tensors does not require grad");
        else cap[i] = m->grad_fn ? m->grad_fn : m->acc; /* a leaf never used has no AccumulateGrad */
    }
    if (st == TT_OK)
        st = run_engine(noutputs, roots, root_grads, retain_graph || create_graph, create_graph, ninputs, cap,
                        grads_out);
    for (int i = 0; st == TT_OK && i < ninputs; i++) {
        for (int j = 0; j < i && !grads_out[i]; j++) /* the same tensor twice */
            if (cap[j] && cap[j] == cap[i] && grads_out[j]) grads_out[i] = tt_retain(grads_out[j]);
        if (!grads_out[i] && !allow_unused)
            st = tt_set_error(TT_ERUNTIME,
                              "One of the differentiated Tensors appears to not have been used in the "
                              "graph. Set allow_unused=True if this is the desired behavior.");
    }
    if (st != TT_OK)
        for (int i = 0; i < ninputs; i++) {
            tt_release(grads_out[i]);
            grads_out[i] = NULL;
        }
    for (int i = 0; roots && root_grads && i < noutputs; i++) {
        tg_node_release(roots[i]);
        tt_release(root_grads[i]);
    }
    free(roots);
    free(root_grads);
    free(cap);
    return st;
}
