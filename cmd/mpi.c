/* tg-fit and tg-gen under an MPI launcher: see mpi.h. Compiled into both
 * builds: the plain one execs the MPI build, the MPI one (TG_MPI) runs MPI. */
#include "mpi.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#ifdef TG_MPI
#include <mpi.h>

#include "tg/io_mpi.h"
#endif

int cmd_mpi_rank = 0, cmd_mpi_size = 1;

const char *cmd_mpi_launcher(void)
{
    /* OpenMPI's mpirun; PMIx (OpenMPI, srun --mpi=pmix); PMI (MPICH's hydra, srun --mpi=pmi2) */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return vars[i];
    return NULL;
}

#ifndef TG_MPI

bool cmd_mpi_active(void) { return false; }
void cmd_mpi_agree(bool ok) { (void)ok; }

void cmd_mpi_start(int *argc, char ***argv)
{
    (void)argc;
    const char *var = cmd_mpi_launcher(), *no = getenv("TG_NO_MPI");
    if (!var || (no && *no && strcmp(no, "0"))) return;
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        cmd_fail("started by an MPI launcher (%s is set), but cannot find this program: %s", var, strerror(errno));
    self[len] = 0;
    *strrchr(self, '/') = 0; /* the kernel's path is absolute */
    /* in the source tree beside bin/NAME, installed in PREFIX/libexec/tg */
    char *tree = cmd_xprintf("%s/mpi/%s", self, cmd_name), *inst = cmd_xprintf("%s/../libexec/tg/%s", self, cmd_name);
    const char *paths[] = {tree, inst};
    for (int i = 0; i < 2; i++)
        if (access(paths[i], X_OK) == 0) {
            execv(paths[i], *argv);
            cmd_fail("cannot run the MPI build %s: %s", paths[i], strerror(errno));
        }
    cmd_fail(
        "started by an MPI launcher (%s is set), but the MPI build of %s is missing (%s or %s); "
        "TG_NO_MPI=1 runs the plain program",
        var, cmd_name, tree, inst);
}

#else

bool cmd_mpi_active(void) { return true; }

static void finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

void cmd_mpi_start(int *argc, char ***argv)
{
    if (MPI_Init(argc, argv) != MPI_SUCCESS) cmd_fail("MPI_Init failed");
    atexit(finalize);
    MPI_Comm_rank(MPI_COMM_WORLD, &cmd_mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &cmd_mpi_size);
    if (cmd_mpi_rank) cmd_set_quiet(true);
    tt_io_set_mpi_comm(MPI_COMM_WORLD); /* the input through MPI-IO, each rank its slice */
}

void cmd_mpi_agree(bool ok)
{
    int bad = ok ? cmd_mpi_size : cmd_mpi_rank, first;
    MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == cmd_mpi_size) return;
    char msg[1024] = "";
    if (cmd_mpi_rank == first) snprintf(msg, sizeof msg, "%s", cmd_lib_error());
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
    msg[sizeof msg - 1] = 0;
    cmd_fail("%s", msg);
}

#endif
