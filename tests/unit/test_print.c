/* tt_format / tt_print against the exact strings PyTorch 1.13 prints
 * (tests/fixtures/print_cases.h, made by make_print_fixtures.py). */
#include <stdbool.h>
#include <stdlib.h>
#include "check.h"
#include "tensor/print.h"
#include "../fixtures/print_cases.h"

/* Builds a case's tensor on the CPU from its exact values. */
static tt_tensor *make_case(const print_case *c)
{
    int64_t n = tt_shape_numel(c->ndim, c->shape);
    size_t cap = (size_t)(n > 0 ? n : 1);
    double *v = calloc(cap, sizeof *v);
    void *buf = calloc(cap, 8);
    tt_tensor *t = NULL;
    if (!v || !buf) goto done;
    for (int64_t i = 0; i < n; i++)
        v[i] = c->gen ? (double)((i * c->a + c->b) % c->m) * c->scale + c->offset : c->values ? c->values[i] : 0;
    for (int k = 0; k < c->npatch; k++) v[c->patch_at[k]] = c->patch_val[k];
    for (int64_t i = 0; i < n; i++) {
        switch (c->dtype) {
        case TT_F32: ((float *)buf)[i] = (float)v[i]; break;
        case TT_F64: ((double *)buf)[i] = v[i]; break;
        case TT_I64: ((int64_t *)buf)[i] = c->ivalues ? c->ivalues[i] : (int64_t)v[i]; break;
        case TT_BOOL: ((bool *)buf)[i] = v[i] != 0; break;
        }
    }
    t = tt_from_data(c->ndim, c->shape, c->dtype, buf, TT_CPU);
    if (t && c->transposed) {
        tt_tensor *tr = tt_transpose(t, c->ndim - 2, c->ndim - 1);
        tt_release(t);
        t = tr;
    }
done:
    free(v);
    free(buf);
    return t;
}

TEST(pytorch_fixtures)
{
    for (int k = 0; k < NUM_PRINT_CASES; k++) {
        const print_case *c = &print_cases[k];
        tt_tensor *t = make_case(c);
        char *s = t ? tt_format_with_suffix(t, c->suffix) : NULL;
        if (!s || strcmp(s, c->expect))
            FAILF("case %s:\ngot:\n%s\nexpected:\n%s\n(%s)", c->name, s ? s : "(null)", c->expect, tt_last_error());
        free(s);
        tt_release(t);
    }
}

TEST(format_is_suffix_null)
{
    const print_case *c = &print_cases[0];
    tt_tensor *t = make_case(c);
    char *a = tt_format(t), *b = tt_format_with_suffix(t, ""), *d = tt_format_with_suffix(t, NULL);
    CHECK_STR(a, c->expect);
    CHECK_STR(b, c->expect);
    CHECK_STR(d, c->expect);
    free(a);
    free(b);
    free(d);
    tt_release(t);
}

TEST(strided_slice)
{
    tt_tensor *x = tt_arange(0, 10, 1, TT_F32, TT_CPU);
    tt_tensor *s = tt_slice(x, 0, 1, 10, 3);
    char *str = tt_format(s);
    CHECK_STR(str, "tensor([1., 4., 7.])");
    free(str);
    tt_release(s);
    tt_release(x);
}

TEST(expanded_summarized)
{
    /* A stride-0 view of 2000 elements: only the edges are fetched. */
    int64_t shape[2] = {40, 50};
    tt_tensor *x = tt_arange(0, 50, 1, TT_I64, TT_CPU);
    tt_tensor *r = tt_view(x, 2, (int64_t[]){1, 50});
    tt_tensor *e = tt_expand(r, 2, shape);
    char *str = tt_format(e);
    CHECK_STR(str,
              "tensor([[ 0,  1,  2,  ..., 47, 48, 49],\n"
              "        [ 0,  1,  2,  ..., 47, 48, 49],\n"
              "        [ 0,  1,  2,  ..., 47, 48, 49],\n"
              "        ...,\n"
              "        [ 0,  1,  2,  ..., 47, 48, 49],\n"
              "        [ 0,  1,  2,  ..., 47, 48, 49],\n"
              "        [ 0,  1,  2,  ..., 47, 48, 49]])");
    free(str);
    tt_release(e);
    tt_release(r);
    tt_release(x);
}

TEST(print_writes_line)
{
    tt_tensor *t = tt_scalar(12, TT_F32, TT_CPU);
    FILE *f = tmpfile();
    char line[64] = "";
    CHECK(f != NULL);
    if (f) {
        CHECK(tt_print(t, f) == TT_OK);
        rewind(f);
        CHECK(fgets(line, sizeof line, f) != NULL);
        CHECK_STR(line, "tensor(12.)\n");
        fclose(f);
    }
    tt_release(t);
}

TEST(errors)
{
    CHECK_ERR(tt_format(NULL), TT_EINVAL, "NULL");
    CHECK(tt_print(NULL, stdout) == TT_EINVAL);
    tt_tensor *t = tt_scalar(1, TT_F32, TT_CPU);
    CHECK(tt_print(t, NULL) == TT_EINVAL);
    tt_release(t);
}

int main(void)
{
    RUN(pytorch_fixtures);
    RUN(format_is_suffix_null);
    RUN(strided_slice);
    RUN(expanded_summarized);
    RUN(print_writes_line);
    RUN(errors);
    return DONE();
}
