/* libFuzzer harness: the text reader (columns, headers, comments; lib/io/text.c)
 * through the public API: each input is opened as a source, every column
 * read, the columns stacked (a source read without a column name), and the
 * set written back as csv, tsv and text. Inputs with the HDF5 signature go to
 * the HDF5 harness instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/io_internal.h"

const char *__asan_default_options(void) { return "allocator_may_return_null=1:max_allocation_size_mb=64"; }

static void write_back(const tt_tensor_set *set)
{
    const tt_file_format fmts[] = {TT_FMT_CSV, TT_FMT_TSV, TT_FMT_TEXT};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) return;
        tt_write_stream(set, fmts[i], f);
        fclose(f);
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (tt_h5_signature_at(data, size, NULL)) return -1; /* never libhdf5 in this process */
    tt_source *src = tt_source_open_bytes(data, size, "input");
    if (!src) return 0;
    char *const *names;
    int n = 0;
    tt_tensor_set *set = tt_set_new();
    if (set && tt_source_names(src, &names, &n) == TT_OK)
        for (int i = 0; i < n; i++) {
            tt_tensor *t = tt_source_read(src, names[i]);
            if (t) tt_set_put(set, names[i], t);
            tt_release(t);
        }
    tt_release(tt_source_read(src, NULL));
    if (set) write_back(set);
    tt_set_free(set);
    tt_source_close(src);
    return 0;
}
