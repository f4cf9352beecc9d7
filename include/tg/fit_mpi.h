/* A fit over the processes of an MPI communicator (MPI builds of libtg only:
 * libtg-mpi.a, compiled with -DTG_MPI against Debian's OpenMPI and parallel
 * HDF5; this header includes mpi.h, tg/fit.h does not).
 *
 *     #include <tg/fit_mpi.h>
 *     MPI_Init(&argc, &argv);
 *     tg_fit_result *r;
 *     if (tg_fit_stream_mpi(&data, &spec, MPI_COMM_WORLD, &r) != TT_OK) ...
 *
 * Every rank of comm calls it with the same spec and the same data->n. Each
 * pass reads only this rank's points (tg_fit_mpi_range: whole blocks of
 * TG_FIT_BLOCK points, split as evenly as blocks allow), so data->read may
 * serve that range alone; sgd with a batch smaller than the data is the
 * exception: it is sequential (each step needs the last), so every rank
 * draws the same batches as one process would and reads them wherever they
 * are. The per-block partial sums of every rank are combined in the fixed
 * pairwise tree of block indices (rank order, not arrival order), so the
 * result is the same on every rank and has the same bits as tg_fit_stream
 * in one process, for any number of ranks. An error on any rank (a NaN in
 * its slice) is returned on every rank, with the first failing rank's
 * message ("rank 1 of 2 (points 8192 to 16383): y[12000] is NaN ..."). */
#ifndef TG_FIT_MPI_H
#define TG_FIT_MPI_H

#include <mpi.h>

#include "fit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Collective over comm; *out on every rank. */
tt_status tg_fit_stream_mpi(const tg_fit_data *data, const tg_fit_spec *spec, MPI_Comm comm, tg_fit_result **out);
/* The points [*start, *end) that rank `rank` of `size` reads in each pass. */
void tg_fit_mpi_range(int64_t n, int rank, int size, int64_t *start, int64_t *end);

#ifdef __cplusplus
}
#endif
#endif
