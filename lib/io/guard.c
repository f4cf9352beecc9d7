/* The guard's state (tg/guard.h): which thread is inside libhdf5 on which
 * file, and a step serial that a watchdog reads to see progress.
 *
 * Written only by the thread that reads; read by a signal handler on that
 * thread (tt_guard_here) and by a watchdog thread (tt_guard_peek) through a
 * sequence lock: `seq` is odd while the fields change, and a copy taken
 * between two equal even values of it is consistent. Entering costs a few
 * atomic stores (the label is copied only when it changes), so that every
 * call into libhdf5 can be bracketed. */
#include <stdatomic.h>
#include <string.h>

#include "io/io_internal.h"
#include "tg/guard.h"

static atomic_uint_fast64_t seq;
static atomic_bool inside;
static _Atomic(pthread_t) reader;
static _Atomic uint64_t step_bytes;
static _Atomic unsigned char label_copy[TT_GUARD_LABEL_MAX];
/* The caller's label, for the handler on the reading thread itself: valid while it is inside. */
static const char *volatile label_here;
static void (*volatile enter_hook)(void);

void tt_guard_set_enter_hook(void (*hook)(void)) { enter_hook = hook; }

void tt_guard_enter(const char *label, uint64_t bytes)
{
    if (enter_hook) enter_hook();
    uint_fast64_t s = atomic_load_explicit(&seq, memory_order_relaxed);
    atomic_store_explicit(&seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&reader, pthread_self(), memory_order_relaxed);
    atomic_store_explicit(&step_bytes, bytes, memory_order_relaxed);
    size_t i = 0;
    for (; i + 1 < TT_GUARD_LABEL_MAX && label[i]; i++)
        if (atomic_load_explicit(&label_copy[i], memory_order_relaxed) != (unsigned char)label[i])
            atomic_store_explicit(&label_copy[i], (unsigned char)label[i], memory_order_relaxed);
    atomic_store_explicit(&label_copy[i], 0, memory_order_relaxed);
    label_here = label;
    atomic_store_explicit(&seq, s + 2, memory_order_release);
    atomic_store_explicit(&inside, true, memory_order_release);
}

void tt_guard_leave(void) { atomic_store_explicit(&inside, false, memory_order_release); }

const char *tt_guard_here(void)
{
    if (!atomic_load_explicit(&inside, memory_order_acquire)) return NULL;
    if (!pthread_equal(atomic_load_explicit(&reader, memory_order_relaxed), pthread_self())) return NULL;
    return label_here;
}

bool tt_guard_peek(tt_guard_state *out)
{
    uint_fast64_t s1 = atomic_load_explicit(&seq, memory_order_acquire);
    if ((s1 & 1) || !atomic_load_explicit(&inside, memory_order_acquire)) return false;
    out->step = s1 / 2;
    out->bytes = atomic_load_explicit(&step_bytes, memory_order_relaxed);
    out->thread = atomic_load_explicit(&reader, memory_order_relaxed);
    for (size_t i = 0; i < TT_GUARD_LABEL_MAX; i++)
        out->label[i] = (char)atomic_load_explicit(&label_copy[i], memory_order_relaxed);
    out->label[TT_GUARD_LABEL_MAX - 1] = 0;
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&seq, memory_order_relaxed) == s1 &&
           atomic_load_explicit(&inside, memory_order_relaxed);
}
