/* Custom differentiable functions: PyTorch's torch.autograd.Function in C.
 *
 *   static tt_tensor *ma_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
 *   {   // w * x + b, with grad mode off: records nothing
 *       tt_tensor *wx = tg_mul(in[0], in[1]), *out = tg_add(wx, in[2]);
 *       tt_release(wx);
 *       if (out && tg_ctx_save_for_backward(ctx, 2, in) != TT_OK) { tt_release(out); return NULL; }
 *       return out;
 *   }
 *   static int ma_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
 *   {
 *       gi[0] = tg_mul(g, tg_ctx_saved(ctx, 1));   // grad * x
 *       gi[1] = tg_mul(g, tg_ctx_saved(ctx, 0));   // grad * w
 *       gi[2] = tt_retain((tt_tensor *)g);         // grad
 *       return gi[0] && gi[1] ? 3 : -1;
 *   }
 *   static const tg_function MultiplyAdd = {"MultiplyAdd", ma_forward, ma_backward, false};
 *   ...
 *   tt_tensor *z = tg_function_apply(&MultiplyAdd, 3, (tt_tensor *[]){w, x, b}, NULL);
 *
 * z's grad_fn is named "MultiplyAddBackward" and its next_functions follow
 * the inputs, as in PyTorch. Errors are PyTorch's sentences (wrong number of
 * gradients, wrong gradient shape, a saved tensor modified in place, a second
 * backward through freed saved tensors, double backward of a
 * once-differentiable function), reported by the backward that meets them.
 *
 * Limits: one output per function (a tuple-returning forward is not
 * supported), at most TG_FUNCTION_MAX_SAVED saved tensors, no mark_dirty /
 * mark_non_differentiable.
 */
#ifndef TG_FUNCTION_H
#define TG_FUNCTION_H

#include "grad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_ctx tg_ctx;

typedef struct tg_function {
    /* "MultiplyAdd": the node is named "MultiplyAddBackward". */
    const char *name;
    /* Runs with grad mode off on the caller's input tensors (entries may be
     * NULL: PyTorch's non-tensor arguments, which get no gradient). Returns
     * the output, a new reference, or NULL with tt_set_error. Returning one
     * of the inputs itself is fine: the result is then an alias of it. */
    tt_tensor *(*forward)(tg_ctx *ctx, int ninputs, tt_tensor *const *inputs);
    /* Gets the gradient of the output and writes the gradient of input i
     * into grad_inputs[i] (a new reference; NULL = none, e.g. where
     * tg_ctx_needs_input_grad is false). Returns how many entries it
     * produced, which must be the number of inputs (extra entries are
     * allowed only when all NULL, as in PyTorch), or -1 with tt_set_error
     * (entries already written are then released for it).
     * grad_inputs has max_grads slots, all NULL, and max_grads exceeds the
     * number of inputs so a miscount can be reported rather than overflow.
     * Gradients are summed back to their input's shape when they broadcast
     * to it. Grad mode is on during a create_graph backward: written with
     * tg_ ops, the backward is then itself differentiable. */
    int (*backward)(tg_ctx *ctx, const tt_tensor *grad_output, tt_tensor **grad_inputs, int max_grads);
    /* @once_differentiable: the backward runs with grad mode off, and under
     * create_graph its gradients carry a node ("Error") whose backward fails
     * with "trying to differentiate twice a function that was marked with
     * @once_differentiable". */
    bool once_differentiable;
} tg_function;

#define TG_FUNCTION_MAX_SAVED 4

/* Fn.apply(*inputs): runs fn->forward and, when grad mode is on and an
 * input requires grad (and the output is floating), makes the output a
 * non-leaf whose grad_fn calls fn->backward. fn is copied; its name too.
 * user_data is handed to both callbacks through tg_ctx_user_data and is
 * not owned: it must outlive the graph if the backward reads it (stash
 * values with tg_ctx_set_data instead to tie them to the graph). Returns a
 * new reference, or NULL with tt_last_error() set. */
tt_tensor *tg_function_apply(const tg_function *fn, int ninputs, tt_tensor *const *inputs, void *user_data);

/* ctx.save_for_backward(*tensors), from forward only: each tensor is an
 * input, the output that forward returns, or an intermediate (which makes
 * a create_graph backward lose that path, as in PyTorch). Calling it again
 * replaces the set. Saving the output creates no reference cycle. Versions
 * are recorded when forward returns; tensors may not be NULL. */
tt_status tg_ctx_save_for_backward(tg_ctx *ctx, int n, tt_tensor *const *tensors);
int tg_ctx_num_saved(const tg_ctx *ctx);
/* ctx.saved_tensors[i], from backward only: a BORROWED reference, valid
 * until the backward returns (tt_retain it to keep it). The output comes
 * back with this node as its grad_fn, so a create_graph backward
 * differentiates through it. NULL with PyTorch's error when the tensor was
 * modified in place since it was saved, or freed by an earlier backward
 * without retain_graph. */
tt_tensor *tg_ctx_saved(tg_ctx *ctx, int i);
/* ctx.needs_input_grad[i]: grad mode was on at apply and input i requires
 * grad (the same answer in forward and backward). */
bool tg_ctx_needs_input_grad(const tg_ctx *ctx, int i);
int tg_ctx_num_inputs(const tg_ctx *ctx);
void *tg_ctx_user_data(const tg_ctx *ctx);
/* Non-tensor values for backward (ctx.attribute = ...): data lives as long
 * as the node (or until apply returns when nothing was recorded) and is
 * released with free_fn (may be NULL); setting it again frees the previous
 * value. Keeping a saved tensor in it would make a cycle: save tensors with
 * tg_ctx_save_for_backward instead. */
void tg_ctx_set_data(tg_ctx *ctx, void *data, void (*free_fn)(void *));
void *tg_ctx_data(const tg_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
