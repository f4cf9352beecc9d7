/* Autograd state of tensors, graph nodes, saved tensors and recording. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "grad/internal.h"
#include "tensor/internal.h"
#include "tensor/print.h"

/* ---- grad mode and warnings ---------------------------------------------- */
static _Thread_local bool grad_disabled; /* zero-initialised: grad mode is on */

bool tg_is_grad_enabled(void) { return !grad_disabled; }
bool tg__grad_mode(void) { return !grad_disabled; }

bool tg_set_grad_enabled(bool enabled)
{
    bool prev = !grad_disabled;
    grad_disabled = !enabled;
    return prev;
}

static tg_warning_handler warning_handler;
static void *warning_ctx;

void tg_set_warning_handler(tg_warning_handler handler, void *ctx)
{
    warning_handler = handler;
    warning_ctx = ctx;
}

/* Prints each distinct warning once per process, as Python's default filter does. */
static void default_warning(const char *message)
{
    enum { REMEMBERED = 32 };
    static char *seen[REMEMBERED];
    static int nseen;
    for (int i = 0; i < nseen; i++)
        if (!strcmp(seen[i], message)) return;
    if (nseen < REMEMBERED) seen[nseen++] = strdup(message);
    fprintf(stderr, "UserWarning: %s\n", message);
}

void tg_warn(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (warning_handler) warning_handler(buf, warning_ctx);
    else default_warning(buf);
}

/* ---- nodes ------------------------------------------------------------------ */
static _Thread_local uint64_t next_sequence_nr;

static size_t node_size(int nnext) { return sizeof(tg_node) + (size_t)nnext * (sizeof(tg_edge) + sizeof(tg_shape)); }

/* A node's block from the pool: the common sizes (0 to 2 inputs) as
 * constants, whose size classes fold. */
static void *node_alloc(int nnext)
{
    return nnext == 0   ? tt__pool_alloc(node_size(0))
           : nnext == 1 ? tt__pool_alloc(node_size(1))
           : nnext == 2 ? tt__pool_alloc(node_size(2))
                        : tt__pool_alloc(node_size(nnext));
}
static void node_free(tg_node *n)
{
    if (n->nnext == 0) tt__pool_free(n, node_size(0));
    else if (n->nnext == 1) tt__pool_free(n, node_size(1));
    else if (n->nnext == 2) tt__pool_free(n, node_size(2));
    else tt__pool_free(n, node_size(n->nnext));
}

tg_node *tg__node_new(const tg_fn_def *def, int nnext)
{
    tg_node *n = node_alloc(nnext);
    if (!n) {
        tt_set_error(TT_ENOMEM, "out of memory recording %s", def->name);
        return NULL;
    }
    memset(n, 0, node_size(nnext));
    n->refcount = 1;
    n->def = def;
    n->seq = def == &tg_accumulate_grad_def ? UINT64_MAX : next_sequence_nr++;
    n->nnext = nnext;
    n->inputs = (tg_shape *)(n + 1);
    n->next = (tg_edge *)(n->inputs + nnext);
    return n;
}

tg_node *tg_node_retain(tg_node *n)
{
    if (n) n->refcount++;
    return n;
}

void tg__free_saved(tg_node *n)
{
    for (int i = 0; i < n->nsaved; i++) {
        tt_release(n->saved[i].tensor);
        n->saved[i].tensor = NULL;
    }
    if (n->nsaved) n->saved_freed = true;
}

static void free_hooks(tg_hook *h)
{
    while (h) {
        tg_hook *next = h->next;
        free(h);
        h = next;
    }
}

/* Freeing a long chain recursively would overflow the stack (a graph of 10^6
 * nodes): nodes whose count reaches zero while another is being destroyed
 * wait in a list that the outermost release drains. */
static _Thread_local tg_node **doomed;
static _Thread_local size_t ndoomed, doomed_cap;
static _Thread_local bool draining;

static void destroy(tg_node *n)
{
    for (int i = 0; i < n->nnext; i++) tg_node_release(n->next[i].fn);
    tg__free_saved(n);
    if (n->variable) {
        tg_meta *m = tg__meta(n->variable);
        if (m && m->acc == n) m->acc = NULL;
        tt_release(n->variable);
    }
    if (n->retain_grad_target && n->retain_grad_target->grad_fn == n) n->retain_grad_target = NULL;
    free_hooks(n->hooks);
    if (n->payload_free) n->payload_free(n->payload);
    tt_release(n->buffer);
    node_free(n);
}

void tg_node_release(tg_node *n)
{
    if (!n || --n->refcount > 0) return;
    if (draining) {
        if (ndoomed == doomed_cap) {
            size_t cap = doomed_cap ? 2 * doomed_cap : 256;
            tg_node **grown = realloc(doomed, cap * sizeof *grown);
            if (!grown) {
                destroy(n);
                return;
            } /* no memory for the list: recurse instead */
            doomed = grown;
            doomed_cap = cap;
        }
        doomed[ndoomed++] = n;
        return;
    }
    draining = true;
    destroy(n);
    while (ndoomed) destroy(doomed[--ndoomed]);
    draining = false;
}

const char *tg_node_name(const tg_node *n) { return n->def->name; }
int tg_node_num_next(const tg_node *n) { return n->nnext; }
uint64_t tg_node_sequence_nr(const tg_node *n) { return n->seq; }
tt_tensor *tg_node_variable(const tg_node *n) { return n->variable; }
int tg_node_num_saved(const tg_node *n) { return n->nsaved; }

tg_node *tg_node_next(const tg_node *n, int i, int *input_nr)
{
    if (input_nr) *input_nr = n->next[i].input_nr;
    return n->next[i].fn;
}

tt_tensor *tg_node_saved(tg_node *n, int i, const char **name)
{
    if (name) *name = n->saved[i].name;
    return tg__saved(n, i);
}

/* ---- tensor metadata ---------------------------------------------------------- */
void tg__meta_free(void *p)
{
    tg_meta *m = p;
    if (!m) return;
    tt_release(m->grad);
    if (m->grad_fn && m->grad_fn->retain_grad_target == m) m->grad_fn->retain_grad_target = NULL;
    tg_node_release(m->grad_fn);
    free_hooks(m->hooks);
    free(m->name);
    tt__pool_free(m, sizeof *m);
}

tg_meta *tg__meta_get(tt_tensor *t)
{
    tg_meta *m = tg__meta(t);
    if (m) return m;
    m = tt__pool_alloc(sizeof *m);
    if (!m) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    memset(m, 0, sizeof *m);
    m->next_hook_id = 1;
    t->ext = m;
    t->ext_free = tg__meta_free;
    return m;
}

bool tg_requires_grad(const tt_tensor *t)
{
    const tg_meta *m = tg__meta(t);
    return m && m->requires_grad;
}

bool tg_is_leaf(const tt_tensor *t)
{
    const tg_meta *m = tg__meta(t);
    return !m || !m->grad_fn;
}

tg_node *tg_grad_fn(const tt_tensor *t)
{
    const tg_meta *m = tg__meta(t);
    return m ? m->grad_fn : NULL;
}

tt_status tg_set_requires_grad(tt_tensor *t, bool requires_grad)
{
    if (!tg_is_leaf(t) && !requires_grad)
        return tt_set_error(TT_ERUNTIME,
                            "you can only change requires_grad flags of leaf variables. If you want to "
                            "use a computed variable in a subgraph that doesn't require "
                            "differentiation use var_no_grad = var.detach().");
    if (requires_grad && !tt_dtype_is_floating(t->dtype))
        return tt_set_error(TT_ERUNTIME, "Only Tensors of floating point dtype can require gradients");
    if (!requires_grad && !tg__meta(t)) return TT_OK;
    tg_meta *m = tg__meta_get(t);
    if (!m) return tt_last_status();
    m->requires_grad = requires_grad;
    return TT_OK;
}

tt_tensor *tg_get_grad(const tt_tensor *t)
{
    const tg_meta *m = tg__meta(t);
    if (m && m->grad_fn && !m->retains_grad && !m->grad)
        tg_warn(
            "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute "
            "won't be populated during autograd.backward(). If you indeed want the .grad field to be populated "
            "for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf "
            "Tensor by mistake, make sure you access the leaf Tensor instead. See "
            "github.com/pytorch/pytorch/pull/30531 for more informations.");
    return m ? m->grad : NULL;
}

tt_status tg_set_grad(tt_tensor *t, tt_tensor *grad)
{
    if (grad && (grad->ndim != t->ndim || memcmp(grad->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim))) {
        char a[160], b[160];
        return tt_set_error(TT_ESHAPE, "assigned grad has data of a different size: %s vs %s",
                            tt_shape_str(grad->ndim, grad->shape, a, sizeof a),
                            tt_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    tg_meta *m = grad ? tg__meta_get(t) : tg__meta(t);
    if (!m) return grad ? tt_last_status() : TT_OK;
    tt_release(m->grad);
    m->grad = tt_retain(grad);
    return TT_OK;
}

tt_status tg_zero_grad(tt_tensor *t)
{
    tg_meta *m = tg__meta(t);
    if (!m || !m->grad) return TT_OK;
    return tt_zero_(m->grad);
}

tt_status tg_retain_grad(tt_tensor *t)
{
    tg_meta *m = tg__meta(t);
    if (!m || !m->requires_grad)
        return tt_set_error(TT_ERUNTIME, "can't retain_grad on Tensor that has requires_grad=False");
    if (!m->grad_fn) return TT_OK; /* leaves keep their grad anyway */
    m->retains_grad = true;
    m->grad_fn->retain_grad_target = m;
    return TT_OK;
}

bool tg_retains_grad(const tt_tensor *t)
{
    const tg_meta *m = tg__meta(t);
    return m && m->retains_grad;
}

tt_tensor *tg_detach(const tt_tensor *t) { return tt_alias(t); }
tt_tensor *tg_data(const tt_tensor *t) { return tt_untracked_alias(t); }

tt_status tg_set_name(tt_tensor *t, const char *name)
{
    tg_meta *m = tg__meta_get(t);
    char *copy = name ? strdup(name) : NULL;
    if (!m || (name && !copy)) {
        free(copy);
        return tt_set_error(TT_ENOMEM, "out of memory");
    }
    free(m->name);
    m->name = copy;
    return TT_OK;
}

const char *tg_name(const tt_tensor *t)
{
    const tg_meta *m = tg__meta(t);
    return m ? m->name : NULL;
}

char *tg_format(const tt_tensor *t)
{
    if (!t) {
        if (!tt_last_status()) tt_set_error(TT_EINVAL, "tg_format: no tensor");
        return NULL;
    }
    const tg_meta *m = tg__meta(t);
    char suffix[160] = "";
    if (m && m->grad_fn) snprintf(suffix, sizeof suffix, "grad_fn=<%s>", m->grad_fn->def->name);
    else if (m && m->requires_grad) snprintf(suffix, sizeof suffix, "requires_grad=True");
    return tt_format_with_suffix(t, suffix);
}

tt_status tg_print(const tt_tensor *t, FILE *f)
{
    char *s = tg_format(t);
    if (!s) return tt_last_status();
    int ok = fprintf(f, "%s\n", s) >= 0;
    free(s);
    return ok ? TT_OK : tt_set_error(TT_EIO, "cannot write the tensor");
}

/* ---- hooks -------------------------------------------------------------------- */
int tg_register_hook(tt_tensor *t, tg_hook_fn fn, void *ctx)
{
    tg_meta *m = tg__meta(t);
    if (!m || !m->requires_grad) {
        tt_set_error(TT_ERUNTIME, "cannot register a hook on a tensor that doesn't require gradient");
        return -1;
    }
    tg_hook *h = malloc(sizeof *h);
    if (!h) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return -1;
    }
    h->id = m->next_hook_id++;
    h->fn = fn;
    h->ctx = ctx;
    h->next = NULL;
    tg_hook **list = m->grad_fn ? &m->grad_fn->hooks : &m->hooks;
    while (*list) list = &(*list)->next; /* hooks run in registration order */
    *list = h;
    return h->id;
}

tt_status tg_remove_hook(tt_tensor *t, int handle)
{
    tg_meta *m = tg__meta(t);
    if (m)
        for (tg_hook **list = m->grad_fn ? &m->grad_fn->hooks : &m->hooks; *list; list = &(*list)->next)
            if ((*list)->id == handle) {
                tg_hook *h = *list;
                *list = h->next;
                free(h);
                return TT_OK;
            }
    return tt_set_error(TT_EINVAL, "no hook with handle %d on this tensor", handle);
}

/* ---- recording ----------------------------------------------------------------- */
bool tg__should_record(int n, const tt_tensor *const *inputs)
{
    if (grad_disabled) return false;
    for (int i = 0; i < n; i++)
        if (inputs[i] && tg_requires_grad(inputs[i])) return true;
    return false;
}

tg_node *tg__accumulator(tt_tensor *leaf)
{
    tg_meta *m = tg__meta(leaf);
    if (m->acc) return tg_node_retain(m->acc);
    tg_node *acc = tg__node_new(&tg_accumulate_grad_def, 0);
    if (!acc) return NULL;
    acc->variable = tt_retain(leaf);
    m->acc = acc; /* weak: the graph's edges own it */
    return acc;
}

tg_node *tg__record(const tg_fn_def *def, tt_tensor *out, int n, const tt_tensor *const *inputs)
{
    tg_node *node = tg__node_new(def, n);
    if (!node) return NULL;
    for (int i = 0; i < n; i++) {
        const tt_tensor *in = inputs[i];
        if (!in) continue;
        node->inputs[i].ndim = in->ndim;
        for (int d = 0; d < in->ndim; d++) node->inputs[i].shape[d] = in->shape[d];
        node->inputs[i].dtype = in->dtype;
        if (!tg_requires_grad(in)) continue;
        tg_meta *m = tg__meta(in);
        node->next[i].fn = m->grad_fn ? tg_node_retain(m->grad_fn) : tg__accumulator((tt_tensor *)in);
        if (!node->next[i].fn) {
            tg_node_release(node);
            return NULL;
        }
    }
    tg_meta *om = tg__meta_get(out);
    if (!om) {
        tg_node_release(node);
        return NULL;
    }
    om->requires_grad = true;
    tg_node_release(om->grad_fn);
    om->grad_fn = node;
    return node;
}

tt_status tg__save(tg_node *n, const tt_tensor *t, bool is_output, const char *name)
{
    if (n->nsaved == TG_MAX_SAVED) return tt_set_error(TT_ERUNTIME, "%s: too many saved tensors", n->def->name);
    /* An output is kept as a bare alias: holding the tensor itself would make
     * a cycle through its grad_fn. */
    tt_tensor *kept = is_output ? tt_alias(t) : tt_retain((tt_tensor *)t);
    if (!kept) return tt_last_status();
    n->saved[n->nsaved++] = (tg_saved){kept, tt_version(t), is_output, name};
    return TT_OK;
}

tt_tensor *tg__saved(tg_node *n, int i)
{
    if (n->saved_freed) {
        tt_set_error(TT_ERUNTIME,
                     "Trying to backward through the graph a second time (or directly access saved "
                     "tensors after they have already been freed). Saved intermediate values of the "
                     "graph are freed when you call .backward() or autograd.grad(). Specify "
                     "retain_graph=True if you need to backward through the graph a second time or if "
                     "you need to access saved tensors after calling backward.");
        return NULL;
    }
    tg_saved *s = &n->saved[i];
    if (tt_version(s->tensor) != s->version) {
        char shape[160], where[200] = "";
        const char *type = s->tensor->dtype == TT_F64 ? "torch.DoubleTensor" : "torch.FloatTensor";
        if (s->is_output) snprintf(where, sizeof where, ", which is output 0 of %s,", n->def->name);
        else if (tg_grad_fn(s->tensor))
            snprintf(where, sizeof where, ", which is output 0 of %s,", tg_grad_fn(s->tensor)->def->name);
        tt_set_error(TT_ERUNTIME,
                     "one of the variables needed for gradient computation has been modified by an "
                     "inplace operation: [%s %s]%s is at version %llu; expected version %llu instead. "
                     "Hint: enable anomaly detection to find the operation that failed to compute its "
                     "gradient, with torch.autograd.set_detect_anomaly(True).",
                     type, tt_shape_str(s->tensor->ndim, s->tensor->shape, shape, sizeof shape), where,
                     (unsigned long long)tt_version(s->tensor), (unsigned long long)s->version);
        return NULL;
    }
    if (!s->is_output) return tt_retain(s->tensor);
    /* An output comes back as a tensor whose grad_fn is this node, so a
     * create_graph backward can differentiate through it. */
    tt_tensor *t = tt_alias(s->tensor);
    tg_meta *m = t ? tg__meta_get(t) : NULL;
    if (!m) {
        tt_release(t);
        return NULL;
    }
    m->requires_grad = true;
    m->grad_fn = tg_node_retain(n);
    return t;
}

/* ---- temporaries of backward formulas ---------------------------------------- */
static _Thread_local tt_tensor **tmps;
static _Thread_local size_t ntmps, tmps_cap;

tt_tensor *tg__tmp(tt_tensor *t)
{
    if (!t) return NULL;
    if (ntmps == tmps_cap) {
        size_t cap = tmps_cap ? 2 * tmps_cap : 32;
        tt_tensor **grown = realloc(tmps, cap * sizeof *grown);
        if (!grown) { /* cannot defer: keep t alive until the next release_all by leaking nothing */
            tt_set_error(TT_ENOMEM, "out of memory");
            tt_release(t);
            return NULL;
        }
        tmps = grown;
        tmps_cap = cap;
    }
    tmps[ntmps++] = t;
    return t;
}

size_t tg__tmp_mark(void) { return ntmps; }

void tg__tmp_release_to(size_t mark)
{
    while (ntmps > mark) tt_release(tmps[--ntmps]);
}

tt_tensor *tg__saved_named(tg_node *n, const char *name)
{
    for (int i = 0; i < n->nsaved; i++)
        if (n->saved[i].name == name || !strcmp(n->saved[i].name, name)) return tg__tmp(tg__saved(n, i));
    tt_set_error(TT_ERUNTIME, "%s saved no tensor '%s'", n->def->name, name);
    return NULL;
}
