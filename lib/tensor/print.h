/* Internal: tensor printing with an extra keyword suffix (for the autograd layer). */
#ifndef TG_TENSOR_PRINT_H
#define TG_TENSOR_PRINT_H
#include "tg/tensor.h"

/* Formats t like PyTorch 1.13's repr. suffix (may be NULL), e.g.
 * "requires_grad=True" or "grad_fn=<AddBackward0>", goes where PyTorch puts its
 * extra keyword arguments: after the dtype, before the ")", on a new line when
 * the last line would pass 80 columns. Returns a malloc'd string or NULL. */
char *tt_format_with_suffix(const tt_tensor *t, const char *suffix);

#endif
