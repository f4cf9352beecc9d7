/* Kernel capture (lib/tensor/capture.c): while a thread records, every
 * backend call the op layer makes goes through a proxy table that notes the
 * call (kernel, views, scalars) on a tape and then makes it. A tape replays
 * those calls alone, on the buffers they used, which it keeps alive. The
 * public face is libgrad's plan (tg/plan.h); this is the mechanism, at the
 * backend seam so that it knows no backend. */
#ifndef TG_TENSOR_CAPTURE_H
#define TG_TENSOR_CAPTURE_H

#include "tensor/backend.h"

typedef struct tt__tape tt__tape;

/* The tape this thread is recording, or NULL (the ops' only cost when off). */
extern _Thread_local tt__tape *tt__recording;

/* Starts recording on this thread (TT_EINVAL when it already records). */
tt_status tt__capture_begin(void);
/* Stops recording. With step_status TT_OK, returns the finished tape (NULL and
 * the error when the step did something a tape cannot replay); otherwise
 * drops it and returns NULL, keeping the step's error. */
tt__tape *tt__capture_end(tt_status step_status);

/* Hooks of the op layer, called only while recording. */
const tt_backend *tt__capture_backend(tt_storage *s); /* registers s; the proxy of its backend */
void tt__capture_storage(tt_storage *s);              /* a view of s goes to a kernel */
void tt__capture_rng(tt_generator *gen);              /* the next rng kernel draws from gen */
void tt__capture_read(tt_dtype dt);                   /* the next to_host reads elements of dt */
/* A storage made while recording belongs to the tape's step (not an input). */
uint32_t tt__capture_id(void);
/* Refuses the capture of an op that cannot be replayed (TT_EUSAGE naming
 * what); the op fails with it. */
tt_status tt__capture_refuse(const char *what);

/* Replays the tape. A host read that now gives other bits fails with
 * TT_ERUNTIME naming it; *restartable (may be NULL) then says whether nothing
 * outside the tape's own buffers was written before it, so the step can be
 * run again eagerly in its place. */
tt_status tt__tape_run(tt__tape *t, bool *restartable);
void tt__tape_free(tt__tape *t);
int tt__tape_kernels(const tt__tape *t);    /* backend calls per replay */
int tt__tape_dispatches(const tt__tape *t); /* and dispatches, a fused run counting once */
/* Whether the tape used tensor x's storage; when it did and some replayed
 * call writes it, *writer gets that call's description ("binary mul"), else
 * NULL. */
bool tt__tape_uses(const tt__tape *t, const tt_tensor *x, const char **writer);
/* Whether replaying t writes only buffers made during its step and draws no
 * random numbers (whose generator the step may have freed): then a replay can
 * stop at a guard and the step run eagerly in its place, at no cost in bits. */
bool tt__tape_self_contained(const tt__tape *t);

#endif
