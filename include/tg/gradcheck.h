/* gradcheck / gradgradcheck: PyTorch's slow-mode torch.autograd.gradcheck
 * (1.13) as library calls.
 *
 * For every input that requires grad and every output that requires grad,
 * the numerical Jacobian (central differences: each element perturbed by
 * ±eps in place, the function re-run) is compared with the analytical one
 * (one backward per output element, one-hot grad_output) elementwise with
 * allclose: |a - n| <= atol + rtol * |n|. The analytical Jacobian is computed
 * twice and the two must agree within nondet_tol ("reentrant"), and a zero
 * grad_output must give zero gradients. Defaults are PyTorch's.
 *
 * Jacobians are laid out as PyTorch lays them out: a 2-D tensor with one row
 * per input element and one column per output element (row-major flat
 * indices of each). The numerical one has the output's dtype, the analytical
 * one the input's.
 *
 * Unlike PyTorch, which raises at the first failure, every (output, input)
 * pair is computed and reported; report->message is the message PyTorch would
 * have raised (the first failure in PyTorch's order). Conditions PyTorch
 * raises as other errors (no input requires grad, a stride-0 input, a
 * function error, outputs changing shape when perturbed) are returned as an
 * error status with no report.
 */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include "grad.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A function of tensors with one output, built with tg_ ops: returns a new
 * reference, or NULL with tt_last_error() set. It may be called many times
 * with the same input tensors, whose values gradcheck perturbs in between. */
typedef tt_tensor *(*tg_checked_fn)(int ninputs, tt_tensor *const *inputs, void *ctx);

/* The same with several outputs: writes up to TG_GRADCHECK_MAX_OUTPUTS new
 * references into outputs[] and returns how many, or -1 on error. Outputs
 * that do not require grad are not checked (PyTorch's differentiable
 * outputs), but their numerical Jacobian must be zero when none does. */
#define TG_GRADCHECK_MAX_OUTPUTS 16
typedef int (*tg_checked_fn_n)(int ninputs, tt_tensor *const *inputs, tt_tensor **outputs, void *ctx);

typedef struct {
    double eps;             /* perturbation (1e-6) */
    double atol;            /* absolute tolerance (1e-5) */
    double rtol;            /* relative tolerance (1e-3) */
    double nondet_tol;      /* allowed |J1 - J2| between two backward runs (0.0) */
    bool check_grad_dtypes; /* a gradient's dtype must equal its input's (false) */
    uint64_t seed;          /* gradgradcheck's random grad_outputs (0) */
    /* Capture one evaluation of the function and replay its kernels for the
     * others of the numerical Jacobian, and one backward for the others of
     * each analytical Jacobian (tg/plan.h) (false). A replay makes the same
     * kernel calls on the perturbed inputs (the moved one-hot grad_output),
     * so the report has the same bits as with calls, at the cost of the
     * arithmetic alone. It assumes what gradcheck does: the function and its
     * backward compute from their inputs' values with tg/tt calls (no counter,
     * global or clock changes what they do; a backward that is not
     * deterministic then shows only where the two analytical Jacobians'
     * captured backwards differ). Calls are made instead when the
     * capture is refused (an op whose result's size depends on the data: that
     * call is then made again), when the call draws random numbers or writes a
     * tensor made outside it, and from the first replay whose host reads
     * (tt_item, tt_to_host, an index's bounds check) differ from the capture's. */
    bool replay;
} tg_gradcheck_options;

/* PyTorch's defaults, listed above. */
void tg_gradcheck_defaults(tg_gradcheck_options *opts);

/* One (output, input) pair. */
typedef struct {
    int output;         /* index among the outputs that require grad (PyTorch's "output i") */
    int input;          /* position in the inputs[] passed in */
    int diff_input;     /* index among the inputs that require grad (PyTorch's "input j") */
    bool passed;        /* allclose(analytical, numerical, rtol, atol) */
    int64_t rows, cols; /* input numel, output numel */
    double max_abs_err; /* max |a - n| over the Jacobian */
    double max_rel_err; /* max |a - n| / |n| (0 where a == n, inf where n == 0 != a) */
    /* The worst element: the one with the largest |a - n| / (atol + rtol |n|)
     * (NaN counts as worst); -1 when the Jacobian is empty. */
    int64_t worst_row, worst_col; /* input element, output element */
    int64_t worst_index;          /* worst_row * cols + worst_col */
    double worst_numerical, worst_analytical;
    double worst_abs_err, worst_rel_err;
    tt_tensor *numerical;  /* [rows, cols], the output's dtype (owned by the report) */
    tt_tensor *analytical; /* [rows, cols], the input's dtype (owned by the report) */
    char *message;         /* NULL when passed, else PyTorch's "Jacobian mismatch for output 0 with
                            * respect to input 0,\nnumerical:tensor(...)\nanalytical:tensor(...)\n" */
} tg_gradcheck_pair;

typedef struct tg_gradcheck_report {
    bool passed;   /* the verdict: gradcheck would have returned True */
    char *message; /* NULL when passed, else the message PyTorch would have raised */
    tg_gradcheck_options options;
    int ninputs;       /* inputs of the checked function (for gradgradcheck: inputs then grad_outputs) */
    int ngrad_outputs; /* gradgradcheck: the last ngrad_outputs inputs are the grad_outputs; else 0 */
    int ndiff_inputs;  /* inputs that require grad */
    int noutputs;      /* outputs that require grad */
    bool reentrant;    /* both analytical runs agreed within nondet_tol */
    double nondet_max; /* the largest |J1 - J2| seen */
    bool zero_grad_ok; /* a zero grad_output gave zero gradients of the right size */
    int npairs;        /* noutputs * ndiff_inputs, output-major: pairs[o * ndiff_inputs + j] */
    tg_gradcheck_pair *pairs;
    tt_tensor **grad_outputs; /* gradgradcheck: the ngrad_outputs grad_outputs used (owned) */
} tg_gradcheck_report;

/* gradcheck(f, inputs). Returns TT_OK when the check could run (the verdict
 * is (*report)->passed), else an error status with *report NULL. opts NULL
 * means the defaults. Each input that requires grad but is not float64 gets
 * PyTorch's warning (tg_warn). Inputs are restored bit for bit. */
tt_status tg_gradcheck(tg_checked_fn f, void *ctx, int ninputs, tt_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report **report);
tt_status tg_gradcheck_n(tg_checked_fn_n f, void *ctx, int ninputs, tt_tensor *const *inputs,
                         const tg_gradcheck_options *opts, tg_gradcheck_report **report);

/* gradgradcheck(f, inputs, grad_outputs): gradchecks the function
 * (inputs..., grad_outputs...) -> d(outputs)/d(inputs that require grad)
 * contracted with grad_outputs, built with tg_autograd_grad(create_graph).
 * grad_outputs NULL: one per output that requires grad, uniform in [-1, 1)
 * from opts->seed (PyTorch's make_tensor(low=-1, high=1)), of the output's
 * dtype, requiring grad; else the caller's (one per differentiable output). */
tt_status tg_gradgradcheck(tg_checked_fn f, void *ctx, int ninputs, tt_tensor *const *inputs,
                           tt_tensor *const *grad_outputs, const tg_gradcheck_options *opts,
                           tg_gradcheck_report **report);
tt_status tg_gradgradcheck_n(tg_checked_fn_n f, void *ctx, int ninputs, tt_tensor *const *inputs,
                             tt_tensor *const *grad_outputs, const tg_gradcheck_options *opts,
                             tg_gradcheck_report **report);

/* The pair for (output i, diff input j) in PyTorch's numbering, or NULL. */
const tg_gradcheck_pair *tg_gradcheck_pair_at(const tg_gradcheck_report *r, int output, int diff_input);
void tg_gradcheck_report_free(tg_gradcheck_report *report); /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
