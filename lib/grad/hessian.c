/* Hessians by double backward: one gradient call per element of each first
 * derivative, as torch.autograd.functional.hessian does. */
#include <stdlib.h>
#include <string.h>
#include "grad/internal.h"

static tt_status block_shape(const tt_tensor *a, const tt_tensor *b, int *ndim, int64_t *shape)
{
    if (a->ndim + b->ndim > TT_MAX_DIMS)
        return tt_set_error(TT_EINVAL, "a Hessian block of a %d-D and a %d-D tensor would have more than %d dimensions",
                            a->ndim, b->ndim, TT_MAX_DIMS);
    memcpy(shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    memcpy(shape + a->ndim, b->shape, sizeof(int64_t) * (size_t)b->ndim);
    *ndim = a->ndim + b->ndim;
    return TT_OK;
}

tt_status tg_hessian_from_grads(int n, tt_tensor *const *grads, tt_tensor *const *inputs, tt_tensor **blocks)
{
    tt_status st = TT_OK;
    double **rows = calloc((size_t)n, sizeof *rows);
    tt_tensor **g = calloc((size_t)n, sizeof *g);
    for (int k = 0; k < n * n; k++) blocks[k] = NULL;
    if (!rows || !g) st = tt_set_error(TT_ENOMEM, "out of memory for a Hessian");
    for (int i = 0; st == TT_OK && i < n; i++) {
        int64_t mi = tt_numel(inputs[i]);
        for (int j = 0; j < n && st == TT_OK; j++) {
            int64_t mj = tt_numel(inputs[j]);
            free(rows[j]);
            rows[j] = (mi && mj > INT64_MAX / 8 / mi) ? NULL : calloc((size_t)(mi * mj) + 1, sizeof **rows);
            if (!rows[j])
                st = tt_set_error(TT_ENOMEM, "a Hessian block of %lld x %lld is too large", (long long)mi,
                                  (long long)mj);
        }
        /* a first derivative that does not depend on the inputs leaves zeros */
        if (st == TT_OK && grads[i] && tg_requires_grad(grads[i])) {
            int64_t all = -1;
            tt_tensor *flat = tg_reshape(grads[i], 1, &all);
            for (int64_t a = 0; flat && st == TT_OK && a < mi; a++) {
                tt_tensor *e = tg_select(flat, 0, a);
                if (!e) {
                    st = tt_last_status();
                    break;
                }
                if (tg_requires_grad(e)) st = tg_autograd_grad(1, &e, NULL, n, inputs, true, false, true, g);
                for (int j = 0; j < n; j++) {
                    if (st == TT_OK && g[j]) st = tt_to_host(g[j], TT_F64, rows[j] + a * tt_numel(inputs[j]));
                    tt_release(g[j]);
                    g[j] = NULL;
                }
                tt_release(e);
            }
            if (!flat) st = tt_last_status();
            tt_release(flat);
        }
        for (int j = 0; st == TT_OK && j < n; j++) {
            int nd = 0;
            int64_t shape[TT_MAX_DIMS];
            if ((st = block_shape(inputs[i], inputs[j], &nd, shape)) != TT_OK) break;
            tt_tensor *h = tt_from_data(nd, shape, TT_F64, rows[j], TT_CPU);
            tt_tensor *c = h ? tt_cast(h, inputs[i]->dtype) : NULL;
            blocks[i * n + j] = c ? tt_to_device(c, tt_device_of(inputs[i])) : NULL;
            tt_release(h);
            tt_release(c);
            if (!blocks[i * n + j]) st = tt_last_status();
        }
    }
    for (int j = 0; rows && j < n; j++) free(rows[j]);
    free(rows);
    free(g);
    if (st != TT_OK)
        for (int k = 0; k < n * n; k++) {
            tt_release(blocks[k]);
            blocks[k] = NULL;
        }
    return st;
}

tt_status tg_hessian(tt_tensor *out, int n, tt_tensor *const *inputs, tt_tensor **blocks)
{
    if (tt_numel(out) != 1) {
        char s[160];
        return tt_set_error(TT_EINVAL, "a Hessian needs an output with one element, got shape %s",
                            tt_shape_str(out->ndim, out->shape, s, sizeof s));
    }
    tt_tensor **grads = calloc((size_t)n + 1, sizeof *grads);
    if (!grads) return tt_set_error(TT_ENOMEM, "out of memory for a Hessian");
    tt_status st = tg_autograd_grad(1, &out, NULL, n, inputs, true, true, true, grads);
    if (st == TT_OK) st = tg_hessian_from_grads(n, grads, inputs, blocks);
    for (int i = 0; i < n; i++) tt_release(grads[i]);
    free(grads);
    return st;
}
