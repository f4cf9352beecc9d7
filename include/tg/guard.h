/* The guard around the HDF5 library on untrusted bytes.
 *
 * libhdf5 (Debian's 1.10.8) crashes or loops for ever on some damaged files.
 * libtg brackets every call into libhdf5 that parses bytes of a file it is
 * reading ("inside the guard"), one bounded step of work at a time, and
 * publishes that state here. It never acts on it: a program decides what a
 * fault or a stalled step inside the guard means (tg's commands end with
 * "FILE: the file is damaged", cmd/guard.c). Outside the guard, and in
 * threads other than the one inside, a crash is tg's own.
 *
 * One thread at a time reads HDF5 (libhdf5 is not thread-safe), so the state
 * is global; it names the thread that is inside.
 */
#ifndef TG_GUARD_H
#define TG_GUARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TT_GUARD_LABEL_MAX 256

typedef struct {
    uint64_t step;                  /* serial of the step under way: a new one is progress */
    uint64_t bytes;                 /* untrusted bytes the step may touch: what its work is bounded by */
    pthread_t thread;               /* the thread inside */
    char label[TT_GUARD_LABEL_MAX]; /* the file being read, as messages name it (cut to fit) */
} tt_guard_state;

/* The file the calling thread is reading when it is inside the guard, else
 * NULL. Async-signal-safe: for a fatal-signal handler on that thread. */
const char *tt_guard_here(void);

/* A consistent copy of the state, from any thread: false when no thread is
 * inside the guard. For a watchdog that checks the step makes progress. */
bool tt_guard_peek(tt_guard_state *out);

/* A function called on every entry into the guard, on the reading thread
 * (NULL: none): a program starts its watchdog there the first time, so that
 * a run that reads no HDF5 never starts one. */
void tt_guard_set_enter_hook(void (*hook)(void));

#ifdef __cplusplus
}
#endif
#endif
