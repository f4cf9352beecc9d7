/* tg-fit and tg-gen under an MPI launcher (mpirun, mpiexec, srun).
 *
 * The plain programs link no MPI: cmd_mpi_start sees a launcher by its
 * variables in the environment and execs the MPI build of the program
 * (bin/mpi/NAME beside the program in the source tree, PREFIX/libexec/tg/NAME
 * installed), which is the same source compiled with -DTG_MPI against OpenMPI
 * and parallel HDF5. There, cmd_mpi_start initialises MPI (finalised at exit),
 * and only rank 0 prints messages: every error of these programs is reached
 * by every rank alike (data errors of one rank are agreed on by the fit), so
 * one message is printed, not N. TG_NO_MPI=1 runs the plain program. */
#ifndef TG_CMD_MPI_H
#define TG_CMD_MPI_H

#include <stdbool.h>
#include <stdint.h>

extern int cmd_mpi_rank, cmd_mpi_size; /* 0 and 1 without MPI */

/* Call right after cmd_init. Plain build: returns when no launcher started
 * the program, else execs the MPI build (or fails saying it is missing). */
void cmd_mpi_start(int *argc, char ***argv);
/* True in the MPI build (cmd_mpi_size may still be 1). */
bool cmd_mpi_active(void);
/* All ranks: the first failing rank's message (rank order), printed once by
 * rank 0, and exit 1 on every rank; returns when every rank is ok. */
void cmd_mpi_agree(bool ok);
/* The launcher's variable that is set ("OMPI_COMM_WORLD_SIZE"), or NULL. */
const char *cmd_mpi_launcher(void);

#ifdef TG_MPI
#include "tg/io_mpi.h"

/* One HDF5 file that every rank writes its own rows of (tt_h5_par), created
 * as rank 0's temporary file for path and renamed into place by
 * cmd_mpi_h5_close only when every rank succeeded: a fault on any rank, or a
 * killed rank (mpirun then ends the others), leaves no file. `option` names
 * the path in the error for one that is not a regular file ("-o"). Both
 * calls are collective; a failure on any rank exits every rank with one
 * message (cmd_mpi_agree). */
typedef struct cmd_mpi_h5 cmd_mpi_h5;
cmd_mpi_h5 *cmd_mpi_h5_open(const char *path, const char *option, const tt_tensor_set *attrs);
tt_h5_par *cmd_mpi_h5_file(const cmd_mpi_h5 *h);
/* ok: whether this rank wrote all it had to (else tt_last_error says why). Frees h. */
void cmd_mpi_h5_close(cmd_mpi_h5 *h, bool ok);
/* The rows [*first, *end) of n that this rank makes, in whole units of `unit`
 * rows (a chunk of the dataset; 1: any rows), as even as units allow. */
void cmd_mpi_rows(int64_t n, int64_t unit, int64_t *first, int64_t *end);
#endif

#endif
