/* Plans (tg/plan.h): a captured step's tape (tensor/capture.h) with its named
 * inputs and the step, for re-capture. */
#include <stdlib.h>
#include <string.h>

#include "tensor/capture.h"
#include "tg/plan.h"

typedef struct {
    char *name;
    tt_tensor *t;
} plan_input;

struct tg_plan {
    tt__tape *tape;
    tg_step_fn step; /* NULL for a scope's plan */
    void *ctx;
    bool recapture;
    int captures;
    plan_input *inputs;
    int ninputs;
};

tt_status tg_capture_begin(void) { return tt__capture_begin(); }

static tg_plan *plan_new(tt__tape *tape)
{
    if (!tape) return NULL;
    tg_plan *p = calloc(1, sizeof *p);
    if (!p) {
        tt__tape_free(tape);
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    p->tape = tape;
    p->captures = 1;
    return p;
}

tg_plan *tg_capture_end(bool ok)
{
    tt_status st = ok ? TT_OK : tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    return plan_new(tt__capture_end(st));
}

/* The step run once under capture: its tape, or NULL with the error. */
static tt__tape *capture_step(tg_step_fn step, void *ctx)
{
    if (tt__capture_begin() != TT_OK) return NULL;
    tt_status st = step(ctx);
    if (st != TT_OK && !tt_last_status()) tt_set_error(st, "the captured step failed");
    return tt__capture_end(st);
}

tg_plan *tg_plan_capture(tg_step_fn step, void *ctx)
{
    tg_plan *p = plan_new(capture_step(step, ctx));
    if (p) p->step = step, p->ctx = ctx;
    return p;
}

static plan_input *find_input(const tg_plan *p, const char *name)
{
    for (int i = 0; i < p->ninputs; i++)
        if (!strcmp(p->inputs[i].name, name)) return &p->inputs[i];
    tt_set_error(TT_EINVAL, "the plan has no input named '%s'", name);
    return NULL;
}

tt_status tg_plan_input(tg_plan *p, const char *name, tt_tensor *t)
{
    const char *writer;
    for (int i = 0; i < p->ninputs; i++)
        if (!strcmp(p->inputs[i].name, name))
            return tt_set_error(TT_EINVAL, "the plan already has an input named '%s'", name);
    if (!tt__tape_uses(p->tape, t, &writer))
        return tt_set_error(TT_EINVAL, "input '%s': the captured step did not use this tensor", name);
    if (writer)
        return tt_set_error(TT_EINVAL,
                            "input '%s': the captured step itself writes this tensor (%s), so a bound value would be "
                            "overwritten",
                            name, writer);
    plan_input *n = realloc(p->inputs, sizeof *n * (size_t)(p->ninputs + 1));
    if (!n) return tt_set_error(TT_ENOMEM, "out of memory");
    p->inputs = n;
    char *copy = strdup(name);
    if (!copy) return tt_set_error(TT_ENOMEM, "out of memory");
    p->inputs[p->ninputs++] = (plan_input){copy, tt_retain(t)};
    return TT_OK;
}

/* The input's name for messages, or "the input" when bound by tensor. */
static const char *input_name(const tg_plan *p, const tt_tensor *t)
{
    for (int i = 0; i < p->ninputs; i++)
        if (p->inputs[i].t == t) return p->inputs[i].name;
    return "(unnamed)";
}

static tt_status check_like(const tg_plan *p, const tt_tensor *input, const tt_tensor *value)
{
    char a[160], b[160];
    const char *name = input_name(p, input);
    if (input->ndim != value->ndim || memcmp(input->shape, value->shape, sizeof(int64_t) * (size_t)input->ndim))
        return tt_set_error(TT_ESHAPE, "input '%s' was captured with shape %s, cannot bind a value of shape %s", name,
                            tt_shape_str(input->ndim, input->shape, a, sizeof a),
                            tt_shape_str(value->ndim, value->shape, b, sizeof b));
    if (input->dtype != value->dtype)
        return tt_set_error(TT_EDTYPE, "input '%s' was captured as %s, cannot bind a value of dtype %s", name,
                            tt_dtype_name(input->dtype), tt_dtype_name(value->dtype));
    tt_device di = tt_device_of(input), dv = tt_device_of(value);
    if (di.type != dv.type || di.index != dv.index) {
        snprintf(a, sizeof a, "%s", tt_device_name(di));
        return tt_set_error(TT_EDEVICE, "input '%s' was captured on %s, cannot bind a value on %s", name, a,
                            tt_device_name(dv));
    }
    return TT_OK;
}

tt_status tg_plan_bind_tensor(tg_plan *p, const tt_tensor *input, const tt_tensor *value)
{
    const char *writer;
    if (!tt__tape_uses(p->tape, input, &writer))
        return tt_set_error(TT_EINVAL, "cannot bind: the captured step did not use this tensor");
    if (writer) return tt_set_error(TT_EINVAL, "cannot bind: the captured step itself writes this tensor (%s)", writer);
    tt_status st = check_like(p, input, value);
    if (st != TT_OK || input == value) return st;
    /* through the input's data alias: a bind is not an in-place op of the step */
    tt_tensor *d = tg_data(input);
    if (!d) return tt_last_status();
    st = tt_copy_(d, value);
    tt_release(d);
    return st;
}

tt_status tg_plan_bind(tg_plan *p, const char *name, const tt_tensor *value)
{
    plan_input *in = find_input(p, name);
    return in ? tg_plan_bind_tensor(p, in->t, value) : tt_last_status();
}

tt_status tg_plan_bind_data(tg_plan *p, const char *name, const void *data, size_t nbytes)
{
    plan_input *in = find_input(p, name);
    if (!in) return tt_last_status();
    if (tt__recording) return tt_set_error(TT_EINVAL, "a plan's input cannot be bound while a step is being captured");
    size_t want = (size_t)tt_numel(in->t) * tt_dtype_size(in->t->dtype);
    if (nbytes != want)
        return tt_set_error(TT_ESHAPE, "input '%s' holds %zu bytes, cannot bind %zu", name, want, nbytes);
    if (!tt_is_contiguous(in->t))
        return tt_set_error(TT_EINVAL, "input '%s' is not contiguous: bind a tensor (tg_plan_bind)", name);
    if (!nbytes) return TT_OK;
    const tt_backend *be = in->t->storage->backend;
    return be->from_host(in->t->storage->buf, (size_t)in->t->offset * tt_dtype_size(in->t->dtype), data, nbytes);
}

tt_status tg_plan_run(tg_plan *p)
{
    bool restartable = false;
    tt_status st = tt__tape_run(p->tape, &restartable);
    if (st == TT_OK || !p->recapture || !p->step) return st;
    if (!restartable)
        return tt_set_error(st,
                            "%s; it cannot be re-captured here, because the replay had already written outside "
                            "the step's own buffers",
                            tt_last_error());
    /* the step again, eagerly, in this replay's place; its tape replaces the old */
    tt__tape *t = capture_step(p->step, p->ctx);
    if (!t) return tt_last_status();
    tt__tape_free(p->tape);
    p->tape = t;
    p->captures++;
    return TT_OK;
}

void tg_plan_set_recapture(tg_plan *p, bool on) { p->recapture = on; }
int tg_plan_num_kernels(const tg_plan *p) { return tt__tape_kernels(p->tape); }
int tg_plan_num_dispatches(const tg_plan *p) { return tt__tape_dispatches(p->tape); }
int tg_plan_num_captures(const tg_plan *p) { return p->captures; }

void tg_plan_free(tg_plan *p)
{
    if (!p) return;
    tt__tape_free(p->tape);
    for (int i = 0; i < p->ninputs; i++) {
        free(p->inputs[i].name);
        tt_release(p->inputs[i].t);
    }
    free(p->inputs);
    free(p);
}
