/* libFuzzer harness: the expression language (include/tg/expr.h). Each input
 * is a program, parsed and evaluated in a fresh environment holding x (3x4)
 * and w (4) that require grad; a one-element result that requires grad is
 * differentiated too. Syntax and evaluation errors are the expected outcome
 * of most inputs; a crash, a leak or undefined behaviour is a finding.
 * Allocations over 64 MiB fail (return NULL) instead of exhausting memory,
 * so `ones(100000,100000)` tests the out-of-memory paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tg/expr.h"

const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=64"; }

static tt_tensor *leaf(int ndim, const int64_t *shape, uint64_t seed)
{
    tt_generator g = {seed, 0};
    tt_tensor *t = tt_randn(ndim, shape, TT_F32, TT_CPU, &g);
    if (t) tg_set_requires_grad(t, true);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;
    if (strlen(src) != size) { /* a NUL inside: not a program a command line can hold */
        free(src);
        return -1;
    }
    tg_env *env = tg_env_new();
    int64_t sx[2] = {3, 4}, sw[1] = {4};
    tt_tensor *x = leaf(2, sx, 1), *w = leaf(1, sw, 2);
    if (env && x && w && tg_env_set(env, "x", x) == TT_OK && tg_env_set(env, "w", w) == TT_OK) {
        tt_tensor *r = tg_eval(env, src);
        if (r && tg_requires_grad(r) && tt_numel(r) == 1) tg_backward(r, NULL, false, false);
        tt_release(r);
    }
    tt_release(x);
    tt_release(w);
    tg_env_free(env);
    free(src);
    return 0;
}
