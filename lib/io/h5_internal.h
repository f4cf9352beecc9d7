/* Private HDF5 helpers shared by the files of lib/io that call libhdf5. */
#ifndef TG_H5_INTERNAL_H
#define TG_H5_INTERNAL_H

#include <hdf5.h>

#include "io/io_internal.h"

/* The most specific message on HDF5's error stack, or "unknown error"; clears the stack. */
void tt_h5_detail(char *buf, size_t cap);
/* h5py's bool: an enum {FALSE = 0, TRUE = 1} over base (an 8-bit integer type). */
hid_t tt_h5_bool_type(hid_t base);

/* The file-access properties of every file tg opens or creates, sized to the
 * file (h5fapl.c). HDF5's defaults suit files of gigabytes: a 1 MiB step of the
 * core driver (each new step zero-filled), a 64 KiB sieve buffer, a 1 MiB chunk
 * cache, a 2 MiB metadata cache; for a file of a few KB they cost more in
 * page faults than the work. `bytes` is the file's size or a guess at it
 * (0: unknown, HDF5's defaults); `memory`: the core driver (an image in memory,
 * never written to disk), else sec2. -1 with TT_EIO on failure. */
hid_t tt_h5_fapl(uint64_t bytes, bool memory);

/* The dataset-creation properties of a layout (NULL: contiguous), shared by
 * the serial and the parallel writer so that both make the same datasets:
 * contiguous (allocated at once), or chunked along the first dimension
 * (chunks of min(layout->chunk, shape[0]) rows), maybe shuffled and gzipped;
 * no timestamps, no fill values (every element is written). -1 with a
 * message naming label and name on failure (a chunk over 4 GiB). */
hid_t tt_h5_dcpl(const char *label, const char *name, tt_dtype dt, int ndim, const int64_t *shape,
                 const tt_h5_layout *layout);

#endif
