/* Per-thread free lists of released blocks by size class, so that a training
 * loop's steady state calls no allocator: each step frees the same tensor
 * headers, graph nodes and buffers that the next one asks for. Large buffers
 * are kept too, up to a byte cap, because a fresh multi-megabyte buffer costs
 * a page fault per 4 KiB on first touch.
 *
 * The fast paths (a block from or to the thread's list) are inline in
 * tensor/internal.h; this file has the rest: the first call on a thread, the
 * allocator when a list is empty or full, and the drain at thread exit.
 * A block freed on another thread joins that thread's lists. Under
 * AddressSanitizer, or with TG_POOL=0 in the environment (valgrind runs),
 * every call goes straight to the allocator so that use-after-free stays
 * visible. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/internal.h"

/* (Not initial-exec TLS: libtg.so must stay loadable by dlopen, as in
 * tg-check plugins; programs linked with libtg.a get direct access anyway.) */
_Thread_local tt__pool tt__pool_mine;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void pool_drain(void *unused)
{
    (void)unused;
    tt__pool *pl = &tt__pool_mine;
    for (int c = 0; c < TT__POOL_CLASSES; c++)
        while (pl->head[c]) {
            tt__pool_block *b = pl->head[c];
            pl->head[c] = b->next;
            free(b);
        }
    memset(pl, 0, sizeof *pl);
    pl->state = -1; /* the thread is exiting: no more caching */
}

static void make_key(void) { pthread_key_create(&exit_key, pool_drain); }

/* The thread's pool after its first use here (reads TG_POOL, arranges the
 * drain at exit), or NULL when pooling is off. */
static tt__pool *pool_start(void)
{
    tt__pool *pl = &tt__pool_mine;
    if (pl->state) return pl->state > 0 ? pl : NULL;
#if defined(__SANITIZE_ADDRESS__)
    bool on = false;
#else
    const char *e = getenv("TG_POOL");
    bool on = !(e && !strcmp(e, "0"));
#endif
    pthread_once(&exit_once, make_key);
    /* any non-NULL value makes the destructor run at thread exit */
    if (on && pthread_setspecific(exit_key, pl) != 0) on = false;
    pl->state = on ? 1 : -1;
    return on ? pl : NULL;
}

void *tt__pool_alloc_slow(size_t n)
{
    tt__pool *pl = pool_start();
    size_t rounded;
    int c = pl ? tt__size_class(n, &rounded) : -1;
    if (c < 0) return n >= 64 ? tt__aligned_alloc(n) : malloc(n);
    /* the whole class size, so that the block serves any request of its class */
    return rounded >= 64 ? tt__aligned_alloc(rounded) : malloc(rounded);
}

void tt__pool_free_slow(void *p, size_t n)
{
    tt__pool *pl = pool_start();
    size_t rounded = 0;
    int c = pl ? tt__size_class(n, &rounded) : -1;
    if (!pl || !tt__pool_keep(pl, c, rounded, p)) free(p);
}

void *tt__aligned_alloc(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 1) ? NULL : p;
}
