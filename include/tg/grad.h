/* libgrad: reverse-mode autograd with PyTorch's semantics on libtensor.
 *
 * Tensors are libtensor's tt_tensor; libgrad keeps its state (requires_grad,
 * grad, grad_fn, hooks) in the tensor's extension slot. Every differentiable
 * op has a tg_ form that computes the forward with libtensor and, when grad
 * mode is on and an input requires grad, records a node named as PyTorch
 * names it (MulBackward0, ...). Derivatives are written with tg_ ops, so a
 * create_graph backward is itself differentiable.
 *
 * Errors follow libtensor: NULL or a status, and tt_last_error() holds the
 * sentence (PyTorch's wording for autograd errors).
 */
#ifndef TG_GRAD_H
#define TG_GRAD_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_node tg_node;

/* ---- tensor properties ------------------------------------------------- */
/* Only floating tensors may require grad; a non-leaf cannot be set to false. */
tt_status tg_set_requires_grad(tt_tensor *t, bool requires_grad);
bool tg_requires_grad(const tt_tensor *t);
bool tg_is_leaf(const tt_tensor *t);     /* no grad_fn: made by the user, or does not require grad */
tg_node *tg_grad_fn(const tt_tensor *t); /* borrowed; NULL for leaves */
/* The accumulated gradient (borrowed; NULL when none). For a non-leaf that
 * does not retain its grad this warns, as PyTorch does. */
tt_tensor *tg_get_grad(const tt_tensor *t);
tt_status tg_set_grad(tt_tensor *t, tt_tensor *grad); /* NULL clears; takes a new reference */
/* Zeroes .grad in place (the seeds' w.grad.data.zero_()); no-op without one. */
tt_status tg_zero_grad(tt_tensor *t);
/* Keep .grad for a non-leaf during backward. */
tt_status tg_retain_grad(tt_tensor *t);
bool tg_retains_grad(const tt_tensor *t);
/* A new tensor sharing storage (and the version counter), not tracked. */
tt_tensor *tg_detach(const tt_tensor *t);
/* `.data`: shares storage; in-place writes through it are invisible to
 * autograd (no version bump) — the seeds' w.data -= lr * w.grad. */
tt_tensor *tg_data(const tt_tensor *t);
/* A name for graph export (leaf labels); copied. */
tt_status tg_set_name(tt_tensor *t, const char *name);
const char *tg_name(const tt_tensor *t);
/* "tensor([...], requires_grad=True)" / "..., grad_fn=<MulBackward0>)". */
char *tg_format(const tt_tensor *t);
tt_status tg_print(const tt_tensor *t, FILE *f);

/* ---- grad mode ----------------------------------------------------------- */
bool tg_is_grad_enabled(void);
bool tg_set_grad_enabled(bool enabled); /* returns the previous mode (per thread) */
/* Scoped forms:  TG_NO_GRAD { ... }   TG_ENABLE_GRAD { ... }   (no `return` or
 * `break` out of the block, or the mode is not restored). */
#define TG__GRAD_SCOPE(mode, v)                                                \
    for (bool v##_prev = tg_set_grad_enabled(mode), v##_once = true; v##_once; \
         v##_once = false, tg_set_grad_enabled(v##_prev))
#define TG_NO_GRAD TG__GRAD_SCOPE(false, tg__no_grad)
#define TG_ENABLE_GRAD TG__GRAD_SCOPE(true, tg__enable_grad)

/* ---- warnings ------------------------------------------------------------ *
 * PyTorch-style UserWarnings (non-leaf .grad, w = w - lr*w.grad, f32
 * gradcheck). By default each distinct warning is printed once to stderr as
 * "UserWarning: ..."; a handler replaces that (NULL restores it). */
typedef void (*tg_warning_handler)(const char *message, void *ctx);
void tg_set_warning_handler(tg_warning_handler handler, void *ctx);
void tg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- graph nodes --------------------------------------------------------- */
const char *tg_node_name(const tg_node *n); /* "MulBackward0", "AccumulateGrad" */
int tg_node_num_next(const tg_node *n);
/* next_functions[i]: the node (NULL for an input that needs no grad) and the
 * output index of it the edge feeds. */
tg_node *tg_node_next(const tg_node *n, int i, int *input_nr);
/* The leaf tensor of an AccumulateGrad node (borrowed), else NULL. */
tt_tensor *tg_node_variable(const tg_node *n);
/* Saved tensors: count, and the i-th (new reference, NULL with PyTorch's
 * error when freed) with its PyTorch attribute name ("self", "other",
 * "result"). */
int tg_node_num_saved(const tg_node *n);
tt_tensor *tg_node_saved(tg_node *n, int i, const char **name);
uint64_t tg_node_sequence_nr(const tg_node *n);
tg_node *tg_node_retain(tg_node *n);
void tg_node_release(tg_node *n);

/* ---- the engine ---------------------------------------------------------- */
/* root.backward(grad_output): grad_output NULL means ones for a one-element
 * root. Leaf gradients accumulate into .grad. */
tt_status tg_backward(tt_tensor *root, const tt_tensor *grad_output, bool retain_graph, bool create_graph);
/* torch.autograd.grad: grads_out[i] gets a new reference (or NULL for an
 * unused input when allow_unused). .grad is not touched. grad_outputs may be
 * NULL (all implicit) or hold NULLs. retain_graph defaults to create_graph in
 * PyTorch; here the caller says. */
tt_status tg_autograd_grad(int noutputs, tt_tensor *const *outputs, tt_tensor *const *grad_outputs, int ninputs,
                           tt_tensor *const *inputs, bool retain_graph, bool create_graph, bool allow_unused,
                           tt_tensor **grads_out);

/* Hessian of a one-element output: blocks[i*n + j] = d^2 out / d x_i d x_j,
 * shaped x_i.shape + x_j.shape in x_i's dtype (zeros where out does not
 * depend on them), as torch.autograd.functional.hessian returns them. */
tt_status tg_hessian(tt_tensor *out, int n, tt_tensor *const *inputs, tt_tensor **blocks);
/* The same from first derivatives grads[i] = d f / d x_i already made with
 * create_graph (a NULL or constant one gives zero blocks). */
tt_status tg_hessian_from_grads(int n, tt_tensor *const *grads, tt_tensor *const *inputs, tt_tensor **blocks);

/* ---- hooks ----------------------------------------------------------------- *
 * Called with the gradient of t (summed over its uses) before it is used;
 * return NULL to keep it or a new reference to replace it. Returns a handle
 * for tg_remove_hook, or -1 on error. */
typedef tt_tensor *(*tg_hook_fn)(const tt_tensor *grad, void *ctx);
int tg_register_hook(tt_tensor *t, tg_hook_fn fn, void *ctx);
tt_status tg_remove_hook(tt_tensor *t, int handle);

/* ---- differentiable ops (same semantics as the tt_ forms) ----------------- */
/* One per row of tg/ops.def: tg_exp(x), tg_add(a, b), tg_sum(x), ...;
 * tg_sigmoid_backward(grad, y) and tg_tanh_backward(grad, y) are the backward
 * formulas of sigmoid and tanh (SigmoidBackwardBackward0 and
 * TanhBackwardBackward0 in a create_graph backward, as in PyTorch). */
#define TT_UNARY_OP(ENUM, name, ...) tt_tensor *tg_##name(const tt_tensor *x);
#define TT_BINARY_OP(ENUM, name, ...) tt_tensor *tg_##name(const tt_tensor *a, const tt_tensor *b);
#define TT_REDUCE_OP(ENUM, name, ...) tt_tensor *tg_##name(const tt_tensor *x);
#include "tg/ops.def"
/* Comparisons are not differentiable: plain results, never recorded. */
tt_tensor *tg_binary(tt_binary_op op, const tt_tensor *a, const tt_tensor *b);
tt_tensor *tg_unary(tt_unary_op op, const tt_tensor *x);
/* Scalar forms: x OP s and s OP x (PyTorch's names: AddBackward0, RsubBackward1, ...). */
tt_tensor *tg_binary_scalar(tt_binary_op op, const tt_tensor *a, double s);
tt_tensor *tg_scalar_binary(tt_binary_op op, double s, const tt_tensor *b);
tt_tensor *tg_add_scalar(const tt_tensor *a, double s);
tt_tensor *tg_mul_scalar(const tt_tensor *a, double s);
tt_tensor *tg_pow_scalar(const tt_tensor *a, double exponent);
tt_tensor *tg_square(const tt_tensor *x); /* pow(x, 2), as PyTorch composes it: PowBackward0 */
tt_tensor *tg_where(const tt_tensor *cond, const tt_tensor *a, const tt_tensor *b);
tt_tensor *tg_clamp(const tt_tensor *x, double lo, double hi);
tt_tensor *tg_cast(const tt_tensor *x, tt_dtype dt);
tt_tensor *tg_reduce(tt_reduce_op op, const tt_tensor *x, const int *dims, int ndims, bool keepdim);
tt_tensor *tg_sum_dims(const tt_tensor *x, const int *dims, int ndims, bool keepdim);
tt_tensor *tg_mean_dims(const tt_tensor *x, const int *dims, int ndims, bool keepdim);
tt_tensor *tg_max_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices);
tt_tensor *tg_min_dim(const tt_tensor *x, int dim, bool keepdim, tt_tensor **indices);
tt_tensor *tg_matmul(const tt_tensor *a, const tt_tensor *b);
tt_tensor *tg_mm(const tt_tensor *a, const tt_tensor *b);
tt_tensor *tg_mv(const tt_tensor *a, const tt_tensor *v);
tt_tensor *tg_bmm(const tt_tensor *a, const tt_tensor *b);
/* log(sum(exp(x))) over dims (NULL / 0: all), PyTorch's LogsumexpBackward0. */
tt_tensor *tg_logsumexp(const tt_tensor *x, const int *dims, int ndims, bool keepdim);
/* Cumulative ops (tg/ops.def's scans): tg_cumsum(x, dim). */
tt_tensor *tg_scan(tt_scan_op op, const tt_tensor *x, int dim, bool reverse);
#define TT_SCAN_OP(ENUM, name, ...) tt_tensor *tg_##name(const tt_tensor *x, int dim);
#include "tg/ops.def"
tt_tensor *tg_softmax(const tt_tensor *x, int dim);
tt_tensor *tg_log_softmax(const tt_tensor *x, int dim);
/* Losses of input - target (tg/ops.def's losses), reduced as PyTorch's
 * reduction= says: tg_mse_loss(input, target, TG_REDUCTION_MEAN), ...; tg_loss
 * takes the loss's parameter (beta, delta) too. Shapes that differ broadcast,
 * with PyTorch's warning. */
typedef enum { TG_REDUCTION_MEAN, TG_REDUCTION_SUM, TG_REDUCTION_NONE } tg_reduction;
tt_status tg_reduction_parse(const char *s, tg_reduction *out); /* "mean", "sum", "none" */
typedef enum {
#define TT_LOSS_OP(ENUM, ...) TG_##ENUM,
#include "tg/ops.def"
    TG_NUM_LOSS
} tg_loss_op;
tt_tensor *tg_loss(tg_loss_op op, const tt_tensor *input, const tt_tensor *target, tg_reduction reduction,
                   double param);
/* The name of a loss's parameter ("beta"; NULL for none) and its default. */
const char *tg_loss_param(tg_loss_op op, double *default_value);
#define TT_LOSS_OP(ENUM, name, ...) \
    tt_tensor *tg_##name(const tt_tensor *input, const tt_tensor *target, tg_reduction reduction);
#include "tg/ops.def"
/* abs(input - target), reduced: composed, as PyTorch 1.13 composes it. */
tt_tensor *tg_l1_loss(const tt_tensor *input, const tt_tensor *target, tg_reduction reduction);
/* Indexing with int64 indices along dim (see tt_index): x[index] records
 * IndexBackward0, index_select IndexSelectBackward0, index_add
 * IndexAddBackward0, as PyTorch does. */
tt_tensor *tg_index(const tt_tensor *x, int dim, const tt_tensor *index);
tt_tensor *tg_index_select(const tt_tensor *x, int dim, const tt_tensor *index);
tt_tensor *tg_index_add(const tt_tensor *x, int dim, const tt_tensor *index, const tt_tensor *src);
/* views */
tt_tensor *tg_view(const tt_tensor *t, int ndim, const int64_t *shape);
tt_tensor *tg_reshape(const tt_tensor *t, int ndim, const int64_t *shape);
tt_tensor *tg_permute(const tt_tensor *t, const int *dims);
tt_tensor *tg_transpose(const tt_tensor *t, int dim0, int dim1);
tt_tensor *tg_t(const tt_tensor *t);
tt_tensor *tg_slice(const tt_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
tt_tensor *tg_select(const tt_tensor *t, int dim, int64_t index);
tt_tensor *tg_expand(const tt_tensor *t, int ndim, const int64_t *shape);
tt_tensor *tg_squeeze(const tt_tensor *t, int dim);
tt_tensor *tg_unsqueeze(const tt_tensor *t, int dim);
tt_tensor *tg_contiguous(const tt_tensor *t);
tt_tensor *tg_clone(const tt_tensor *t);
/* Sums t down to `shape` (the reverse of broadcasting): how every op's
 * gradient reaches a broadcast input. */
tt_tensor *tg_sum_to_shape(const tt_tensor *t, int ndim, const int64_t *shape);
/* in place: refused on a leaf that requires grad while grad mode is on; on a
 * non-leaf the op joins its history (its grad_fn becomes the op's node). */
tt_status tg_add_(tt_tensor *x, const tt_tensor *y);
tt_status tg_sub_(tt_tensor *x, const tt_tensor *y);
tt_status tg_mul_(tt_tensor *x, const tt_tensor *y);
tt_status tg_div_(tt_tensor *x, const tt_tensor *y);
tt_status tg_binary_(tt_binary_op op, tt_tensor *x, const tt_tensor *y);
tt_status tg_zero_(tt_tensor *x);
tt_status tg_fill_(tt_tensor *x, double value);
tt_status tg_copy_(tt_tensor *dst, const tt_tensor *src);

#ifdef __cplusplus
}
#endif
#endif
