/* File-access properties sized to the file: one place for the read and the
 * write paths (see h5_internal.h). */
#include "io/h5_internal.h"

/* Below this, HDF5's own sizes are cut down to the file's. */
enum { PAGE = 4096, SIEVE_DEFAULT = 64 << 10, CHUNK_CACHE_DEFAULT = 1 << 20, CORE_STEP_DEFAULT = 1 << 20 };

static size_t round_up(uint64_t n, size_t unit)
{
    uint64_t r = (n + unit - 1) / unit * unit;
    return r < unit ? unit : r > SIZE_MAX ? SIZE_MAX : (size_t)r;
}

static size_t at_most(uint64_t bytes, size_t dflt) { return bytes && bytes < dflt ? round_up(bytes, PAGE) : dflt; }

hid_t tt_h5_fapl(uint64_t bytes, bool memory)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    /* The core driver zero-fills each step it grows by: one step the size of
     * the file (rounded to a page) touches no page the file does not need. */
    size_t step = bytes ? round_up(bytes, PAGE) : CORE_STEP_DEFAULT;
    herr_t r = memory ? H5Pset_fapl_core(fapl, step, 0) : H5Pset_fapl_sec2(fapl);
    if (r >= 0) r = H5Pset_sieve_buf_size(fapl, at_most(bytes, SIEVE_DEFAULT));
    if (r >= 0) r = H5Pset_cache(fapl, 0, 521, at_most(bytes, CHUNK_CACHE_DEFAULT), 0.75);
    H5AC_cache_config_t mdc = {.version = H5AC__CURR_CACHE_CONFIG_VERSION};
    if (r >= 0 && bytes && H5Pget_mdc_config(fapl, &mdc) >= 0 && bytes < mdc.initial_size) {
        /* The metadata cache starts at the file's size (it grows as HDF5 sees fit). */
        mdc.set_initial_size = 1;
        mdc.initial_size = round_up(bytes, PAGE);
        if (mdc.min_size > mdc.initial_size) mdc.min_size = mdc.initial_size;
        r = H5Pset_mdc_config(fapl, &mdc);
    }
    if (r < 0) {
        H5Pclose(fapl);
        return tt_set_error(TT_EIO, "cannot set up HDF5's file access"), -1;
    }
    return fapl;
}
