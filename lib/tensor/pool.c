/* Per-thread free lists of released blocks by size class, so that a training
 * loop's steady state calls no allocator: each step frees the same tensor
 * headers, graph nodes and buffers that the next one asks for. Large buffers
 * are kept too, up to a byte cap, because a fresh multi-megabyte buffer costs
 * a page fault per 4 KiB on first touch.
 *
 * Sizes round up to a class: multiples of 16 up to 64 bytes, then four
 * classes per power of two (at most 25% slack). A block freed on another
 * thread joins that thread's lists; a thread's lists are freed when it exits.
 * Under AddressSanitizer, or with TG_POOL=0 in the environment (valgrind
 * runs), every call goes straight to the allocator so that use-after-free
 * stays visible. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/internal.h"

#define NCLASSES 192
#define MAX_BLOCKS_PER_CLASS 256
#define MAX_CACHED_BYTES ((size_t)1 << 30)

typedef struct block { struct block *next; } block;

typedef struct {
    block *head[NCLASSES];
    int count[NCLASSES];
    size_t bytes;
} pool;

/* (Not initial-exec TLS: libtg.so must stay loadable by dlopen, as in
 * tg-check plugins; programs linked with libtg.a get direct access anyway.) */
static _Thread_local pool mine;
static _Thread_local signed char state; /* 0 new, 1 on, -1 off */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void pool_drain(void *unused)
{
    (void)unused;
    for (int c = 0; c < NCLASSES; c++)
        while (mine.head[c]) {
            block *b = mine.head[c];
            mine.head[c] = b->next;
            free(b);
        }
    memset(&mine, 0, sizeof mine);
    state = -1; /* the thread is exiting: no more caching */
}

static void make_key(void) { pthread_key_create(&exit_key, pool_drain); }

/* First use on this thread: reads TG_POOL, arranges the drain at exit. */
static __attribute__((noinline)) pool *pool_start(void)
{
    if (state < 0) return NULL;
#if defined(__SANITIZE_ADDRESS__)
    bool on = false;
#else
    const char *e = getenv("TG_POOL");
    bool on = !(e && !strcmp(e, "0"));
#endif
    pthread_once(&exit_once, make_key);
    /* any non-NULL value makes the destructor run at thread exit */
    if (on && pthread_setspecific(exit_key, &mine) != 0) on = false;
    state = on ? 1 : -1;
    return on ? &mine : NULL;
}

/* The thread's pool, or NULL when pooling is off. */
static inline pool *my_pool(void) { return __builtin_expect(state > 0, 1) ? &mine : pool_start(); }

/* The class of an n-byte request and its rounded size, or -1 when too big. */
static inline int size_class(size_t n, size_t *rounded)
{
    if (n <= 64) {
        size_t r = n < 16 ? 16 : (n + 15) & ~(size_t)15;
        *rounded = r;
        return (int)(r / 16) - 1;
    }
    int k = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^k <= n-1 < 2^(k+1), k >= 6 */
    size_t step = (size_t)1 << (k - 2), q = (n - 1) / step;           /* 4 <= q <= 7 */
    int c = 4 + (k - 6) * 4 + (int)(q - 4);
    if (c >= NCLASSES) return -1;
    *rounded = (q + 1) * step;
    return c;
}

void *tt__pool_alloc(size_t n)
{
    pool *pl = my_pool();
    if (!pl) return n >= 64 ? tt__aligned_alloc(n) : malloc(n);
    size_t rounded;
    int c = size_class(n, &rounded);
    if (c < 0) return tt__aligned_alloc(n);
    if (pl->head[c]) {
        block *b = pl->head[c];
        pl->head[c] = b->next;
        pl->count[c]--;
        pl->bytes -= rounded;
        return b;
    }
    return rounded >= 64 ? tt__aligned_alloc(rounded) : malloc(rounded);
}

void tt__pool_free(void *p, size_t n)
{
    if (!p) return;
    size_t rounded;
    int c;
    pool *pl;
    if (!(pl = my_pool()) || (c = size_class(n, &rounded)) < 0 ||
        pl->count[c] >= MAX_BLOCKS_PER_CLASS || pl->bytes + rounded > MAX_CACHED_BYTES) {
        free(p);
        return;
    }
    block *b = p;
    b->next = pl->head[c];
    pl->head[c] = b;
    pl->count[c]++;
    pl->bytes += rounded;
}

void *tt__aligned_alloc(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 1) ? NULL : p;
}
