/* libgrad internals: tensor metadata, nodes, saved tensors, recording. */
#ifndef TG_GRAD_INTERNAL_H
#define TG_GRAD_INTERNAL_H

#include "tg/grad.h"

typedef struct tg_hook {
    int id;
    tg_hook_fn fn;
    void *ctx;
    struct tg_hook *next;
} tg_hook;

/* Autograd state of a tensor (its ext slot); absent = a leaf that does not require grad. */
typedef struct tg_meta {
    bool requires_grad;
    bool retains_grad;
    tt_tensor *grad;
    tg_node *grad_fn; /* strong; NULL for leaves */
    tg_node *acc;     /* weak: a leaf's AccumulateGrad while some graph holds it */
    tg_hook *hooks;   /* a leaf's hooks (a non-leaf's live on its grad_fn) */
    int next_hook_id;
    bool is_view;      /* made by a differentiable view op: in-place writes are refused */
    bool view_of_leaf; /* ... of a leaf (PyTorch has its own message for that) */
    char *name;
} tg_meta;

typedef struct tg_fn_def tg_fn_def;
/* Computes the gradients of the node's inputs from the gradient of its
 * output, with tg_ ops. grad_inputs[i] starts NULL; set it (a new
 * reference) for each input i with tg__needs_grad(n, i); leave NULL for none.
 * The engine sums gradients back to each input's shape and dtype. */
typedef tt_status (*tg_backward_fn)(tg_node *n, const tt_tensor *grad, tt_tensor **grad_inputs);
struct tg_fn_def {
    const char *name;
    tg_backward_fn backward;
};

typedef struct {
    tg_node *fn;
    int input_nr;
} tg_edge;
typedef struct {
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    tt_dtype dtype;
} tg_shape;

typedef struct {
    tt_tensor *tensor; /* an input (strong), or for an output an alias without autograd state */
    uint64_t version;
    bool is_output;
    const char *name;
} tg_saved;

#define TG_MAX_SAVED 4

/* What ops remember for their backward besides saved tensors. */
typedef struct {
    int dims[TT_MAX_DIMS];
    int ndims;
    bool keepdim;
    double s0, s1;
    int64_t i0, i1, i2;
} tg_attrs;

struct tg_node {
    int refcount;
    const tg_fn_def *def;
    uint64_t seq;
    int nnext;
    tg_edge *next;    /* nnext edges, in the same allocation */
    tg_shape *inputs; /* shape/dtype of each input, for checking and reducing gradients */
    int nsaved;
    bool saved_freed;
    tg_saved saved[TG_MAX_SAVED];
    tg_attrs attrs;
    tt_tensor *variable;         /* AccumulateGrad: the leaf (strong) */
    tg_hook *hooks;              /* hooks of the (non-leaf) output tensor */
    tg_meta *retain_grad_target; /* weak: the output tensor's meta when it retains grad */
    void *payload;               /* custom functions */
    void (*payload_free)(void *);
    /* engine scratch, valid during one run */
    uint64_t epoch;
    int deps;
    bool needed;
    int capture; /* index + 1 into the captured inputs, 0 if none */
    tt_tensor *buffer;
};

extern const tg_fn_def tg_accumulate_grad_def;

void tg__meta_free(void *m); /* a tensor's ext_free when its ext is its tg_meta */
/* NULL when t has no autograd state (inline: every op asks it of its inputs). */
static inline tg_meta *tg__meta(const tt_tensor *t) { return t->ext_free == tg__meta_free ? t->ext : NULL; }
tg_meta *tg__meta_get(tt_tensor *t); /* creates it; NULL on out of memory */
bool tg__grad_mode(void);
/* True when grad mode is on and some input requires grad. */
bool tg__should_record(int n, const tt_tensor *const *inputs);
/* Makes a node for out = def(inputs) and attaches it as out's grad_fn.
 * Returns the node (owned by out) or NULL on error (out is untouched). */
tg_node *tg__record(const tg_fn_def *def, tt_tensor *out, int n, const tt_tensor *const *inputs);
tt_status tg__save(tg_node *n, const tt_tensor *t, bool is_output, const char *name);
/* The i-th saved tensor, checked against its version (a new reference). */
tt_tensor *tg__saved(tg_node *n, int i);
static inline bool tg__needs_grad(const tg_node *n, int i) { return n->next[i].fn != NULL; }
/* The AccumulateGrad node of a leaf that requires grad (a new reference). */
tg_node *tg__accumulator(tt_tensor *leaf);
tg_node *tg__node_new(const tg_fn_def *def, int nnext);
void tg__free_saved(tg_node *n);
/* Temporaries of a backward formula: T(x) returns x and releases it after the
 * current backward call, so formulas nest: tg_mul(g, T(tg_cos(x))). The tg_
 * ops take NULL inputs and return NULL, keeping the first error. */
tt_tensor *tg__tmp(tt_tensor *t);
#define T(x) tg__tmp(x)
/* Backward calls nest (a hook may run another backward): each releases only its own. */
size_t tg__tmp_mark(void);
void tg__tmp_release_to(size_t mark);
/* The saved tensor with this PyTorch name (a temporary), or NULL with an error. */
tt_tensor *tg__saved_named(tg_node *n, const char *name);
/* Zeros of `shape` with g placed at [start, end) along dim: the backward of a
 * slice, differentiable (its derivative is the slice again). */
tt_tensor *tg__slice_scatter(const tt_tensor *g, int ndim, const int64_t *shape, int dim, int64_t start, int64_t end);
/* A view of a fresh result that nothing else sees (PyTorch's _unsafe_view,
 * which matmul ends with): not marked as a view. */
tt_tensor *tg__unsafe_view(const tt_tensor *t, int ndim, const int64_t *shape);

#endif
