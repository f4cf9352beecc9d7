/* HDF5 files through MPI-IO (MPI builds of libtg only: libtg-mpi.a; this
 * header includes mpi.h, tg/io.h does not).
 *
 * After tt_io_set_mpi_comm(comm), HDF5 files that tt_source_open opens are
 * opened with HDF5's MPI-IO driver over comm: every rank of comm must open
 * the same files in the same order, and close them together (tt_source_close
 * is collective too); reads stay independent, so each rank reads the rows it
 * asks for (tt_source_read_rows) and no others. MPI_COMM_NULL (the default)
 * opens files with the serial driver, each process on its own. Call it
 * right after MPI_Init, before any other I/O of tg (HDF5 is then finalised
 * by MPI_Finalize, after the program's exit handlers have closed its files). */
#ifndef TG_IO_MPI_H
#define TG_IO_MPI_H

#include <mpi.h>

#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

void tt_io_set_mpi_comm(MPI_Comm comm);
MPI_Comm tt_io_mpi_comm(void);

/* One HDF5 file written by every rank of comm through MPI-IO: vectors whose
 * rows each rank writes in collective writes (every call is collective: each
 * rank makes the same calls in the same order, with its own rows). The file
 * has the layout of tg's serial writer (datasets in creation order, no
 * timestamps, the root attributes of a set). Errors name path. */
typedef struct tt_h5_par tt_h5_par;
tt_h5_par *tt_h5_par_create(const char *path, MPI_Comm comm, const tt_tensor_set *attrs);
/* A vector of n elements of dtype (f32 or f64), stored as layout says (NULL:
 * contiguous; chunked, maybe shuffled and gzipped: as tg's serial writer
 * stores it, tg/io.h). A compressed dataset is written only in collective
 * writes (HDF5 1.10's parallel filters), each chunk compressed by one rank;
 * a chunk written whole, in one call, is compressed once. */
tt_status tt_h5_par_dataset(tt_h5_par *f, const char *name, tt_dtype dtype, int64_t n, const tt_h5_layout *layout);
/* Rows [start, start + count) of dataset `name` from t (count = its elements;
 * t NULL: this rank writes nothing in this call). */
tt_status tt_h5_par_write(tt_h5_par *f, const char *name, int64_t start, const tt_tensor *t);
/* Closes the file (collective); NULL is fine. */
tt_status tt_h5_par_close(tt_h5_par *f);

#ifdef __cplusplus
}
#endif
#endif
