/* Custom functions (torch.autograd.Function): each application records an
 * ordinary node whose def is allocated with it ("<Name>Backward") and whose
 * payload is the ctx. Saved tensors live in the node's saved slots, so the
 * engine's checks (a second backward through freed buffers, in-place
 * modification, the output kept without a cycle) apply unchanged. */
#include <stdlib.h>
#include <string.h>
#include "grad/internal.h"
#include "tg/function.h"

_Static_assert(TG_FUNCTION_MAX_SAVED <= TG_MAX_SAVED, "custom functions save into the node's slots");

/* Room beyond the inputs in the backward's gradient array: a backward that
 * returns too many gradients is reported rather than overflowing. */
#define EXTRA_GRADS 8

struct tg_ctx {
    tg_node *node; /* weak (the node owns the ctx); NULL until recorded */
    int ninputs;
    bool *needs;   /* needs_input_grad */
    bool *defined; /* input i was a tensor, not NULL */
    void *user_data;
    void *data;
    void (*data_free)(void *);
    int npending; /* save_for_backward during forward (strong) */
    tt_tensor *pending[TG_FUNCTION_MAX_SAVED];
    bool in_forward, in_backward;
};

typedef struct {
    tg_fn_def def; /* def.name points at name[] */
    tg_function fn;
    tg_ctx ctx;
    char name[]; /* then the two bool arrays */
} custom;

static void clear_pending(tg_ctx *ctx)
{
    for (int i = 0; i < ctx->npending; i++) tt_release(ctx->pending[i]);
    ctx->npending = 0;
}

static void custom_free(void *p)
{
    custom *c = p;
    if (!c) return;
    clear_pending(&c->ctx);
    if (c->ctx.data_free) c->ctx.data_free(c->ctx.data);
    free(c);
}

static tt_status custom_backward(tg_node *n, const tt_tensor *grad, tt_tensor **grad_inputs);

static custom *custom_new(const tg_function *fn, int ninputs, void *user_data)
{
    size_t namelen = strlen(fn->name) + sizeof "Backward";
    custom *c = calloc(1, sizeof *c + namelen + 2 * (size_t)ninputs);
    if (!c) {
        tt_set_error(TT_ENOMEM, "out of memory applying %s", fn->name);
        return NULL;
    }
    snprintf(c->name, namelen, "%sBackward", fn->name);
    c->def = (tg_fn_def){c->name, custom_backward};
    c->fn = *fn;
    c->fn.name = NULL; /* the caller's string need not outlive the graph */
    c->ctx.ninputs = ninputs;
    c->ctx.needs = (bool *)(c->name + namelen);
    c->ctx.defined = c->ctx.needs + ninputs;
    c->ctx.user_data = user_data;
    return c;
}

/* ---- once_differentiable ------------------------------------------------------ */
static tt_status delayed_error_bw(tg_node *n, const tt_tensor *grad, tt_tensor **grad_inputs)
{
    (void)n, (void)grad, (void)grad_inputs;
    return tt_set_error(TT_ERUNTIME,
                        "trying to differentiate twice a function that was marked with "
                        "@once_differentiable");
}
static const tg_fn_def delayed_error_def = {"Error", delayed_error_bw};

/* PyTorch's DelayedError: an alias of g whose grad_fn fails when run, fed by
 * a detached leaf that requires grad (so the alias requires grad). Takes g. */
static tt_tensor *delay_error(tt_tensor *g)
{
    tt_tensor *leaf = tt_alias(g), *out = tt_alias(g);
    tt_release(g);
    if (!leaf || !out || tg_set_requires_grad(leaf, true) != TT_OK ||
        !tg__record(&delayed_error_def, out, 1, (const tt_tensor *const *)&leaf)) {
        tt_release(leaf);
        tt_release(out);
        return NULL;
    }
    tt_release(leaf); /* the AccumulateGrad node keeps it */
    return out;
}

/* ---- the node's backward ------------------------------------------------------- */
static tt_status custom_backward(tg_node *n, const tt_tensor *grad, tt_tensor **grad_inputs)
{
    custom *c = n->payload;
    const char *name = c->def.name;
    int nin = c->ctx.ninputs, cap = nin + EXTRA_GRADS;
    tt_tensor **g = calloc((size_t)cap, sizeof *g);
    if (!g) return tt_set_error(TT_ENOMEM, "out of memory in %s", name);
    bool graph = tg_is_grad_enabled(); /* create_graph */
    if (c->fn.once_differentiable) tg_set_grad_enabled(false);
    c->ctx.in_backward = true;
    tt_clear_error();
    int k = c->fn.backward(&c->ctx, grad, g, cap);
    c->ctx.in_backward = false;
    tg_set_grad_enabled(graph);

    tt_status st = TT_OK;
    if (k < 0) {
        st = tt_last_status();
        if (st == TT_OK) st = tt_set_error(TT_ERUNTIME, "function %s failed in backward", name);
    } else {
        int got = k;
        if (got > nin && got <= cap) { /* extra gradients are dropped when all are None */
            bool all_null = true;
            for (int i = nin; i < got; i++) all_null &= !g[i];
            if (all_null) got = nin;
        }
        if (got != nin)
            st = tt_set_error(TT_ERUNTIME,
                              "function %s returned an incorrect number of gradients (expected %d, "
                              "got %d)",
                              name, nin, k);
    }
    for (int i = 0; st == TT_OK && i < nin; i++)
        if (g[i] && !c->ctx.defined[i])
            st = tt_set_error(TT_ERUNTIME,
                              "function %s returned a gradient different than None at position %d, "
                              "but the corresponding forward input was not a Variable",
                              name, i + 1);
    /* @once_differentiable: only when the gradients would be differentiated */
    if (st == TT_OK && c->fn.once_differentiable && graph && tg_requires_grad(grad))
        for (int i = 0; st == TT_OK && i < nin; i++)
            if (g[i] && !(g[i] = delay_error(g[i]))) st = tt_last_status();
    for (int i = 0; i < cap; i++) {
        if (st == TT_OK && i < nin) grad_inputs[i] = g[i];
        else tt_release(g[i]);
    }
    free(g);
    return st;
}

/* ---- apply ------------------------------------------------------------------------ */
static bool is_input(const tt_tensor *t, int ninputs, tt_tensor *const *inputs)
{
    for (int i = 0; i < ninputs; i++)
        if (inputs[i] == t) return true;
    return false;
}

tt_tensor *tg_function_apply(const tg_function *fn, int ninputs, tt_tensor *const *inputs, void *user_data)
{
    if (!fn || !fn->name || !fn->forward || !fn->backward) {
        tt_set_error(TT_EINVAL, "tg_function_apply: a function needs a name, a forward and a backward");
        return NULL;
    }
    if (ninputs < 0 || (ninputs > 0 && !inputs)) {
        tt_set_error(TT_EINVAL, "tg_function_apply: %s: bad inputs", fn->name);
        return NULL;
    }
    const tt_tensor *const *cin = (const tt_tensor *const *)inputs;
    custom *c = custom_new(fn, ninputs, user_data);
    if (!c) return NULL;
    bool record = tg__should_record(ninputs, cin);
    for (int i = 0; i < ninputs; i++) {
        c->ctx.defined[i] = inputs[i] != NULL;
        c->ctx.needs[i] = record && inputs[i] && tg_requires_grad(inputs[i]);
    }

    c->ctx.in_forward = true;
    bool prev = tg_set_grad_enabled(false);
    tt_clear_error();
    tt_tensor *out = fn->forward(&c->ctx, ninputs, inputs);
    tg_set_grad_enabled(prev);
    c->ctx.in_forward = false;
    if (!out) {
        if (tt_last_status() == TT_OK) tt_set_error(TT_ERUNTIME, "%s: forward returned no tensor", fn->name);
        custom_free(c);
        return NULL;
    }
    /* Never give autograd state to a tensor the caller already holds (an
     * input returned as is): the output is a fresh alias, as in PyTorch. */
    if (is_input(out, ninputs, inputs) || tg_requires_grad(out) || tg_grad_fn(out)) {
        tt_tensor *alias = tt_alias(out);
        tt_release(out);
        if (!(out = alias)) {
            custom_free(c);
            return NULL;
        }
    }
    if (!record || !tt_dtype_is_floating(out->dtype)) { /* nothing to record: the ctx goes */
        custom_free(c);
        return out;
    }

    tg_node *node = tg__record(&c->def, out, ninputs, cin);
    if (!node) {
        custom_free(c);
        tt_release(out);
        return NULL;
    }
    node->payload = c;
    node->payload_free = custom_free;
    c->ctx.node = node;
    /* The output is saved as an alias without autograd state: the node
     * holding the tensor whose grad_fn it is would be a cycle. */
    tt_status st = TT_OK;
    for (int i = 0; st == TT_OK && i < c->ctx.npending; i++)
        st = tg__save(node, c->ctx.pending[i], c->ctx.pending[i] == out, "saved");
    clear_pending(&c->ctx);
    if (st != TT_OK) {
        tt_release(out); /* frees the node and the ctx */
        return NULL;
    }
    return out;
}

/* ---- ctx ------------------------------------------------------------------------- */
tt_status tg_ctx_save_for_backward(tg_ctx *ctx, int n, tt_tensor *const *tensors)
{
    if (!ctx || !ctx->in_forward) return tt_set_error(TT_ERUNTIME, "save_for_backward can only be called from forward");
    if (n < 0 || n > TG_FUNCTION_MAX_SAVED)
        return tt_set_error(TT_EINVAL, "save_for_backward: a custom function saves at most %d tensors, not %d",
                            TG_FUNCTION_MAX_SAVED, n);
    for (int i = 0; i < n; i++)
        if (!tensors[i]) return tt_set_error(TT_EINVAL, "save_for_backward: tensor %d is NULL", i);
    clear_pending(ctx);
    for (int i = 0; i < n; i++) ctx->pending[i] = tt_retain(tensors[i]);
    ctx->npending = n;
    return TT_OK;
}

int tg_ctx_num_saved(const tg_ctx *ctx) { return ctx->node ? ctx->node->nsaved : ctx->npending; }

tt_tensor *tg_ctx_saved(tg_ctx *ctx, int i)
{
    if (!ctx->in_backward || !ctx->node) {
        tt_set_error(TT_ERUNTIME, "saved tensors can only be read in backward");
        return NULL;
    }
    if (i < 0 || i >= ctx->node->nsaved) {
        tt_set_error(TT_EINVAL, "saved tensor index %d out of range (%d saved)", i, ctx->node->nsaved);
        return NULL;
    }
    /* A temporary of this backward call: the engine releases it on return. */
    return tg__tmp(tg__saved(ctx->node, i));
}

bool tg_ctx_needs_input_grad(const tg_ctx *ctx, int i) { return i >= 0 && i < ctx->ninputs && ctx->needs[i]; }
int tg_ctx_num_inputs(const tg_ctx *ctx) { return ctx->ninputs; }
void *tg_ctx_user_data(const tg_ctx *ctx) { return ctx->user_data; }
void *tg_ctx_data(const tg_ctx *ctx) { return ctx->data; }

void tg_ctx_set_data(tg_ctx *ctx, void *data, void (*free_fn)(void *))
{
    if (ctx->data_free && ctx->data != data) ctx->data_free(ctx->data);
    ctx->data = data;
    ctx->data_free = free_fn;
}
