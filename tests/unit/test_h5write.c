/* HDF5 written slice by slice (tt_h5_writer): layouts, slices in any order,
 * the same numbers as a whole write, errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tg/io.h"

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

/* arange(0, n) as dt, rows of `cols` (1-D when cols is 0). */
static tt_tensor *ramp(int64_t n, int64_t cols, tt_dtype dt)
{
    tt_tensor *t = tt_arange(0, (double)n, 1, dt, TT_CPU);
    if (!cols) return t;
    int64_t shape[2] = {n / cols, cols};
    tt_tensor *r = tt_reshape(t, 2, shape);
    tt_release(t);
    return r;
}

/* Writes t to path as `name` in slices of `rows` (last slice first), with layout. */
static tt_status write_slices(const char *path, const tt_tensor *t, int64_t rows, const tt_h5_layout *layout)
{
    tt_h5_writer *w = tt_h5_writer_create(path, path, 0);
    if (!w) return tt_last_status();
    int i = tt_h5_writer_add(w, "grid/t", t->dtype, t->ndim, t->shape, layout);
    if (i < 0) {
        tt_h5_writer_abort(w);
        return tt_last_status();
    }
    int64_t n = t->shape[0];
    tt_status st = TT_OK;
    for (int64_t end = n; end > 0 && st == TT_OK; end -= rows) { /* backwards: any order works */
        int64_t first = end > rows ? end - rows : 0;
        tt_tensor *s = tt_slice(t, 0, first, end, 1);
        st = tt_h5_writer_put(w, i, first, s);
        tt_release(s);
    }
    if (st != TT_OK) {
        tt_h5_writer_abort(w);
        return st;
    }
    return tt_h5_writer_finish(w, NULL, NULL);
}

static void check_same(const tt_tensor *a, const tt_tensor *b)
{
    CHECK(b && a->ndim == b->ndim && a->dtype == b->dtype && tt_numel(a) == tt_numel(b));
    if (!b || tt_numel(a) != tt_numel(b)) return;
    size_t bytes = (size_t)tt_numel(a) * tt_dtype_size(a->dtype);
    char *x = malloc(bytes), *y = malloc(bytes);
    CHECK(tt_to_host(a, a->dtype, x) == TT_OK && tt_to_host(b, b->dtype, y) == TT_OK);
    CHECK(!memcmp(x, y, bytes));
    free(x);
    free(y);
}

TEST(slices_in_every_layout_read_back_the_same)
{
    const tt_h5_layout layouts[] = {{0, -1}, {1, -1}, {7, -1}, {4096, 6}, {100000, 0}, {3, 9}};
    const int64_t slice_rows[] = {1000, 333, 4096, 5000, 100000, 999};
    for (int k = 0; k < 2; k++) {
        tt_dtype dt = k ? TT_F64 : TT_F32;
        tt_tensor *t = ramp(5000, 0, dt);
        for (size_t l = 0; l < sizeof layouts / sizeof *layouts; l++) {
            char *path = tmp_path("slices.h5");
            CHECK(write_slices(path, t, slice_rows[l], &layouts[l]) == TT_OK);
            tt_tensor *back = tt_read_source(path);
            check_same(t, back);
            tt_release(back);
        }
        tt_release(t);
    }
    /* 2-D: chunks of rows, written 3 rows at a time */
    tt_tensor *g = ramp(600, 20, TT_F64);
    tt_h5_layout chunked = {4, 1};
    CHECK(write_slices(tmp_path("grid.h5"), g, 3, &chunked) == TT_OK);
    tt_tensor *back = tt_read_source(tmp_path("grid.h5"));
    check_same(g, back);
    CHECK(back && back->shape[0] == 30 && back->shape[1] == 20);
    tt_release(back);
    tt_release(g);
}

TEST(an_image_in_memory_is_tt_h5_image)
{
    /* The one-call form and the writer give the same bytes for the same data. */
    tt_tensor_set *set = tt_set_new();
    tt_tensor *t = ramp(1000, 0, TT_F32);
    CHECK(tt_set_put(set, "x", t) == TT_OK);
    CHECK(tt_set_attr_str(set, "generator", "test") == TT_OK);
    void *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    CHECK(tt_h5_image(set, &a, &alen) == TT_OK);
    tt_h5_writer *w = tt_h5_writer_create(NULL, "image", 4000);
    int i = tt_h5_writer_add(w, "x", TT_F32, 1, t->shape, NULL);
    CHECK(i == 0);
    for (int64_t first = 0; first < 1000; first += 250) {
        tt_tensor *s = tt_slice(t, 0, first, first + 250, 1);
        CHECK(tt_h5_writer_put(w, i, first, s) == TT_OK);
        tt_release(s);
    }
    CHECK(tt_h5_writer_attrs(w, set) == TT_OK);
    CHECK(tt_h5_writer_finish(w, &b, &blen) == TT_OK);
    CHECK(alen == blen && a && b && !memcmp(a, b, alen));
    free(a);
    free(b);
    tt_release(t);
    tt_set_free(set);
}

TEST(errors)
{
    int64_t n = 10, big[2] = {(int64_t)1 << 40, 1 << 20};
    tt_h5_writer *w = tt_h5_writer_create(tmp_path("bad.h5"), "bad.h5", 0);
    CHECK(w);
    tt_h5_layout huge = {(int64_t)1 << 30, -1};
    CHECK(tt_h5_writer_add(w, "huge", TT_F32, 2, big, &huge) < 0);
    CHECK_ERR(tt_last_status(), TT_EINVAL, "beyond HDF5's limit of 4 GiB");
    CHECK(tt_h5_writer_add(w, "a//b", TT_F32, 1, &n, NULL) < 0);
    CHECK_ERR(tt_last_status(), TT_EINVAL, "'a//b' is not a valid dataset name");
    int i = tt_h5_writer_add(w, "x", TT_F32, 1, &n, NULL);
    CHECK(i >= 0);
    tt_tensor *t = ramp(4, 0, TT_F32);
    CHECK_ERR(tt_h5_writer_put(w, i, 8, t), TT_EINVAL, "a slice of rows 8.. does not fit dataset 'x'");
    tt_tensor *d = ramp(4, 0, TT_F64);
    CHECK_ERR(tt_h5_writer_put(w, i, 0, d), TT_EINVAL, "does not fit dataset 'x'");
    tt_release(t);
    tt_release(d);
    tt_h5_writer_abort(w);
    /* a directory that does not exist */
    CHECK(!tt_h5_writer_create(tmp_path("no/such/dir.h5"), "no/such/dir.h5", 0));
    CHECK_ERR(tt_last_status(), TT_EIO, "no/such/dir.h5: cannot create the HDF5 file");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg-test-h5write.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(slices_in_every_layout_read_back_the_same);
    RUN(an_image_in_memory_is_tt_h5_image);
    RUN(errors);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) return 1;
    return DONE();
}
