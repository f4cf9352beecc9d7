/* The heap of a command (see cmd_heap_init in cmd.h). */
#define _DEFAULT_SOURCE /* sbrk, madvise */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmd.h"

/* Start-up on small data is mostly page faults: opening its first HDF5 file,
 * libhdf5 callocs its metadata cache's 512 KiB hash table (whatever the
 * cache's configured size) and allocates its type and property tables, a
 * fault for each 4 KiB page touched, and a fault cost 10-40 us on the
 * project's VMs (128 of them: 2-6 ms; one transparent huge page: 0.15 ms).
 * So the heap grows in steps of HEAP_STEP, blocks up to that size come
 * from it, and the whole 2 MiB pages of its first step are advised to be huge (the
 * kernel's THP "madvise" mode, Debian's default; elsewhere it changes
 * nothing). Freed memory stays for reuse rather than going back and
 * faulting in again. */
enum { HEAP_STEP = 8 << 20, HUGE_PAGE = 2 << 20 };

/* The heap below the first huge-page boundary, held so that what the
 * program allocates next starts on the huge page (never touched: no memory). */
static void *volatile heap_head; /* volatile: a block never read is not elided */

void cmd_heap_init(void)
{
    if (!mallopt(M_MMAP_THRESHOLD, HEAP_STEP / 2) || !mallopt(M_TOP_PAD, HEAP_STEP) ||
        !mallopt(M_TRIM_THRESHOLD, 4 * HEAP_STEP))
        return;
    void *volatile probe = malloc(1); /* the heap's first step, HEAP_STEP long (volatile: not elided) */
    uintptr_t at = (uintptr_t)probe, end = (uintptr_t)sbrk(0);
    free(probe);
    uintptr_t first = (at + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    /* Only glibc's own heap, grown by brk just now (not a sanitizer's or valgrind's allocator). */
    if (!at || at >= end || end - at > 2 * (uintptr_t)HEAP_STEP || first + HUGE_PAGE > end) return;
    if (first - at > 4096) heap_head = malloc(first - at - 64); /* 64: the next block's header */
    madvise((void *)first, (end - first) & ~(uintptr_t)(HUGE_PAGE - 1), MADV_HUGEPAGE);
}
