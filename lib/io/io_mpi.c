/* The communicator of tt_io_set_mpi_comm (tg/io_mpi.h), for h5.c's MPI-IO
 * opens. Built into the MPI library only (-DTG_MPI). */
#include <hdf5.h>

#include "io/io_internal.h"
#include "tg/io_mpi.h"

static MPI_Comm io_comm = MPI_COMM_NULL;

void tt_io_set_mpi_comm(MPI_Comm comm)
{
    /* HDF5 closes itself at MPI_Finalize (parallel HDF5 hooks MPI_COMM_SELF), not at exit() before the
     * program's own handlers have closed their files (a no-op once HDF5 is initialised) */
    H5dont_atexit();
    io_comm = comm;
}
MPI_Comm tt_io_mpi_comm(void) { return io_comm; }

bool tt_io_mpi_fapl(int64_t fapl)
{
    if (io_comm == MPI_COMM_NULL) return true;
    return H5Pset_fapl_mpio((hid_t)fapl, io_comm, MPI_INFO_NULL) >= 0;
}
