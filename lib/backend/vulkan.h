/* Internals of the Vulkan backend that tests (and the library) may call. */
#ifndef TG_VULKAN_H
#define TG_VULKAN_H

#include "tensor/backend.h"

/* The unary shaders' clamp: this op code plus 1 with a lower bound, plus 2
 * with an upper one (above every op of the table; shaders/opcodes.c). */
#define TT_VK_OP_CLAMP 0x100u
_Static_assert(TT_NUM_UNARY < TT_VK_OP_CLAMP, "the clamp code is above every unary op");

/* Warnings and errors the validation layer reported so far (each is also
 * printed on stderr). Counted only with TG_VULKAN_VALIDATION=1. */
long tt_vulkan_validation_messages(void);
/* Submits recorded work and waits; TT_OK when nothing was pending. */
tt_status tt_vulkan_sync(int device_index);
/* Dispatches recorded since the start, and submits (for tests of batching). */
void tt_vulkan_counters(long *dispatches, long *submits);
/* Whether vulkan:N can be used; on false, tt_last_error() says why. */
bool tt_vulkan_available(int device_index);
/* The subgroup size reductions on vulkan:N combine by (0: the shared-memory
 * path, for want of subgroup support or with TG_VULKAN_SUBGROUPS=0). */
int tt_vulkan_subgroup_size(int device_index);
/* Destroys every Vulkan object (registered with atexit on first use). */
void tt_vulkan_shutdown(void);

#endif
