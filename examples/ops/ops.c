/* Seed 000's custom autograd Functions, MultiplyAdd and Sigmoid, as a tg
 * plugin: tg-check --plugin ./ops.so gradchecks them (see tg-check(1) and
 * <tg/plugin.h>). Copy this directory to start your own ops.
 *
 *   class MultiplyAdd(Function):                  class Sigmoid(Function):
 *       def forward(ctx, w, x, b):                    def forward(ctx, x):
 *           ctx.save_for_backward(w, x)                   output = 1 / (1 + t.exp(-x))
 *           return w * x + b                              ctx.save_for_backward(output)
 *       def backward(ctx, grad_output):                   return output
 *           w, x = ctx.saved_tensors                  def backward(ctx, grad_output):
 *           return (grad_output * x,                      output, = ctx.saved_tensors
 *                   grad_output * w,                      return output * (1 - output) * grad_output
 *                   grad_output)
 *
 * The backwards are written with tg_ ops, so under create_graph they are
 * differentiable themselves and gradgradcheck (tg-check --order 2) passes.
 */
#include <tg/plugin.h>

/* ---- MultiplyAdd: w * x + b ------------------------------------------------ */

static tt_tensor *multiply_add_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *wx = tg_mul(in[0], in[1]);
    tt_tensor *out = wx ? tg_add(wx, in[2]) : NULL;
    tt_release(wx);
    if (out && tg_ctx_save_for_backward(ctx, 2, in) != TT_OK) { /* w, x */
        tt_release(out);
        return NULL;
    }
    return out;
}

static int multiply_add_backward(tg_ctx *ctx, const tt_tensor *grad, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    tt_tensor *w = tg_ctx_saved(ctx, 0), *x = tg_ctx_saved(ctx, 1);
    if (!w || !x) return -1;
    if (tg_ctx_needs_input_grad(ctx, 0) && !(gi[0] = tg_mul(grad, x))) /* grad_w = grad * x */
        return -1;
    if (tg_ctx_needs_input_grad(ctx, 1) && !(gi[1] = tg_mul(grad, w))) /* grad_x = grad * w */
        return -1;
    if (tg_ctx_needs_input_grad(ctx, 2)) /* grad_b = grad * 1 */
        gi[2] = tt_retain((tt_tensor *)grad);
    return 3;
}

static const tg_function MultiplyAdd = {"MultiplyAdd", multiply_add_forward, multiply_add_backward, false};

/* ---- Sigmoid: 1 / (1 + exp(-x)) -------------------------------------------- */

static tt_tensor *sigmoid_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *neg = tg_neg(in[0]);
    tt_tensor *e = neg ? tg_exp(neg) : NULL;
    tt_tensor *den = e ? tg_add_scalar(e, 1.0) : NULL;
    tt_tensor *out = den ? tg_scalar_binary(TT_DIV, 1.0, den) : NULL;
    tt_release(neg);
    tt_release(e);
    tt_release(den);
    if (out && tg_ctx_save_for_backward(ctx, 1, &out) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static int sigmoid_backward(tg_ctx *ctx, const tt_tensor *grad, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    tt_tensor *out = tg_ctx_saved(ctx, 0);
    if (!out) return -1;
    tt_tensor *one_minus = tg_scalar_binary(TT_SUB, 1.0, out); /* 1 - output */
    tt_tensor *d = one_minus ? tg_mul(out, one_minus) : NULL;  /* output * (1 - output) */
    gi[0] = d ? tg_mul(d, grad) : NULL;                        /* ... * grad_output */
    tt_release(one_minus);
    tt_release(d);
    return gi[0] ? 1 : -1;
}

static const tg_function Sigmoid = {"Sigmoid", sigmoid_forward, sigmoid_backward, false};

/* ---- the plugin ------------------------------------------------------------- */

/* Inputs as in seed 000's gradcheck: randn(3, 4), requiring grad. */
static const tg_plugin_input multiply_add_inputs[] = {
    {.name = "w", .ndim = 2, .shape = {3, 4}},
    {.name = "x", .ndim = 2, .shape = {3, 4}},
    {.name = "b", .ndim = 2, .shape = {3, 4}},
};
static const tg_plugin_input sigmoid_inputs[] = {
    {.name = "x", .ndim = 2, .shape = {3, 4}},
};

static const tg_plugin_op ops[] = {
    {.function = &MultiplyAdd, .ninputs = 3, .inputs = multiply_add_inputs, .description = "w * x + b"},
    {.function = &Sigmoid, .ninputs = 1, .inputs = sigmoid_inputs, .description = "1 / (1 + exp(-x))"},
};

static const tg_plugin plugin = {TG_PLUGIN_VERSION, "seed000", (int)(sizeof ops / sizeof ops[0]), ops};

TG_PLUGIN_EXPORT const tg_plugin *tg_plugin_entry(void) { return &plugin; }
