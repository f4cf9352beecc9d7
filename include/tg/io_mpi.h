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

#ifdef __cplusplus
}
#endif
#endif
