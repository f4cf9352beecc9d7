/* Capture and replay: record one step, replay it at the cost of its arithmetic.
 *
 * The idea of CUDA graphs and tinygrad's TinyJit, in C. Run one step of a
 * loop (forward, backward, the optimizer's update through tg_data) inside a
 * capture: tg runs it eagerly as usual and notes every kernel it made (the
 * backend call, with its buffers, shapes, strides, dtypes and scalars) into a
 * plan. tg_plan_run then makes those kernel calls alone, on the same buffers,
 * which the plan keeps alive: no allocation, broadcasting, promotion, graph
 * recording or engine. The arithmetic is the same in the same order, so a
 * replay's results are bit-identical to the eager step's.
 *
 *     tt_tensor *x = ..., *y = ...;          // inputs, made before the capture
 *     tg_plan *plan = tg_plan_capture(step, &state);   // runs step once
 *     tg_plan_input(plan, "x", x);
 *     for (...) {
 *         tg_plan_bind_data(plan, "x", next_batch, nbytes);  // fresh data
 *         if (tg_plan_run(plan) != TT_OK) ...;               // one more step
 *     }
 *     tg_plan_free(plan);
 *
 * What changes between replays, and how:
 *  - Inputs: tensors made before the capture and used by the step. Declare
 *    them (tg_plan_input) and copy new values into them (tg_plan_bind,
 *    tg_plan_bind_data); the shape, dtype and device must be the captured ones.
 *    Data uploaded inside the step (tt_from_data there) is a constant of the
 *    plan: it is replayed as it was.
 *  - Random numbers drawn inside the step (tt_rand, tt_randn) come from the
 *    generator's state at each replay, which advances as the eager step would:
 *    a replayed loop draws the same numbers as the eager loop.
 *  - Parameters and gradients updated in place (through tg_data, tt_sub_,
 *    tg_zero_grad) are updated in place again by each replay.
 *  - Tensors the caller kept from the capture (the loss, say) hold the new
 *    values after each replay: read them then, outside the step.
 *
 * Fusion. On the CPU, each run of consecutive kernels that the backend has a
 * ready form of (elementwise ops, reductions, small matrix products, random
 * draws; a host read ends a run) replays as one dispatch, and the run's
 * elementwise ops over one length are fused: they go block by block (1024
 * elements), every op on a block before the next block, so a long chain's
 * intermediates stay in the cache. Each intermediate is still rounded to its
 * dtype and written to its buffer, in the eager order, so the bits are the
 * eager step's; where one op reads at another index what another writes (a
 * broadcast of an intermediate, a shifted view) the run goes op by op.
 * tg_plan_num_dispatches counts what a replay dispatches. On Vulkan each
 * kernel stays a dispatch of its own, all in one command buffer.
 *
 * Guards. Every value the captured step read back to the host (tt_item,
 * tt_to_host, the bounds check of an index: anything on which a branch inside
 * tg or in the step may have hung) is read again at the same point of each
 * replay; different bits stop the replay with TT_ERUNTIME naming both values.
 * With tg_plan_set_recapture, a plan made by tg_plan_capture instead runs the
 * step again eagerly in place of that replay and captures it anew (when
 * nothing outside the step's own buffers was written before the read). Bound
 * inputs are checked for shape, dtype and device.
 *
 * What tg cannot see is the caller's to keep the same, as with CUDA graphs:
 * C control flow in the step that depends on anything but tg's host reads
 * (a counter, a global, the wall clock), host memory the step reads directly,
 * and which tensors the step's C code passes to which ops. Only the kernels
 * replay: metadata set in the step (requires_grad, a .grad replaced by another
 * tensor, a name) stays as the capture left it. Capture a steady-state step
 * (run one step eagerly first, as PyTorch advises for CUDA graphs): the first
 * step of a loop often takes another path (a .grad made rather than added to).
 * An op whose result's size depends on the data cannot be captured (the
 * capture fails with TT_EUSAGE naming it). A plan replays on the thread that
 * runs it; its random draws then use that thread's default generator.
 */
#ifndef TG_PLAN_H
#define TG_PLAN_H

#include "grad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_plan tg_plan;

/* A step: runs the loop's body once (TT_OK, or an error status). */
typedef tt_status (*tg_step_fn)(void *ctx);

/* Runs step(ctx) once, eagerly, while recording its kernels: a plan, or NULL
 * with the step's error (or the capture's: a nested capture, an op that
 * cannot be replayed). The plan keeps step and ctx for tg_plan_set_recapture;
 * ctx must outlive it. */
tg_plan *tg_plan_capture(tg_step_fn step, void *ctx);

/* The same as a scope, for a step that is not a function: everything between
 * begin and end on this thread is recorded; end returns the plan (NULL with the
 * error when a call in between failed with ok = false, or the capture could
 * not be made). Such a plan cannot re-capture itself. */
tt_status tg_capture_begin(void);
tg_plan *tg_capture_end(bool ok);

/* Names t (a tensor made before the capture, which the step used) as an input
 * of the plan. Refused for a tensor the step did not use or that the step
 * itself writes (its value would be overwritten). The plan keeps a reference. */
tt_status tg_plan_input(tg_plan *plan, const char *name, tt_tensor *t);
/* Copies value into the input `name` (or into the input tensor `input`, by
 * tensor): same shape, dtype and device, else TT_ESHAPE/TT_EDTYPE/TT_EDEVICE
 * naming the input and both. */
tt_status tg_plan_bind(tg_plan *plan, const char *name, const tt_tensor *value);
tt_status tg_plan_bind_tensor(tg_plan *plan, const tt_tensor *input, const tt_tensor *value);
/* Copies nbytes of host data (row-major, the input's dtype) into the
 * contiguous input `name`: nbytes must be its size. */
tt_status tg_plan_bind_data(tg_plan *plan, const char *name, const void *data, size_t nbytes);

/* One replay: the captured step's kernels on the current inputs. */
tt_status tg_plan_run(tg_plan *plan);
/* On a guard's failure, run the step eagerly and capture it anew (plans of
 * tg_plan_capture only); off by default. */
void tg_plan_set_recapture(tg_plan *plan, bool on);
/* Kernel calls one replay makes (after dropping the constant and the dead ones);
 * the dispatches they take (fewer where runs of calls were fused: see above);
 * and how many times the plan was captured (1 + re-captures). */
int tg_plan_num_kernels(const tg_plan *plan);
int tg_plan_num_dispatches(const tg_plan *plan);
int tg_plan_num_captures(const tg_plan *plan);
/* Frees the plan and releases the buffers it kept (NULL is fine). */
void tg_plan_free(tg_plan *plan);

#ifdef __cplusplus
}
#endif
#endif
