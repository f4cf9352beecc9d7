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

struct cmd_mpi_h5 {
    tt_h5_par *f;
    cmd_output *out; /* rank 0's temporary file */
};

cmd_mpi_h5 *cmd_mpi_h5_open(const char *path, const char *option, const tt_tensor_set *attrs)
{
    cmd_mpi_h5 *h = cmd_xcalloc(1, sizeof *h);
    char temp[PATH_MAX] = "";
    if (cmd_mpi_rank == 0) {
        h->out = cmd_output_open(path);
        const char *t = h->out ? tt_output_temp(cmd_output_lib(h->out)) : NULL;
        if (h->out && !t)
            tt_set_error(TT_EUSAGE, "%s: under MPI, %s must name a regular file (each rank writes its part)", path,
                         option);
        if (t) snprintf(temp, sizeof temp, "%s", t);
    }
    cmd_mpi_agree(cmd_mpi_rank || *temp);
    MPI_Bcast(temp, (int)sizeof temp, MPI_CHAR, 0, MPI_COMM_WORLD);
    h->f = tt_h5_par_create(temp, MPI_COMM_WORLD, attrs);
    cmd_mpi_agree(h->f != NULL);
    return h;
}

tt_h5_par *cmd_mpi_h5_file(const cmd_mpi_h5 *h) { return h->f; }

void cmd_mpi_h5_close(cmd_mpi_h5 *h, bool ok)
{
    ok &= tt_h5_par_close(h->f) == TT_OK;
    cmd_mpi_agree(ok);
    if (h->out) cmd_check_status(cmd_output_commit(h->out), NULL);
    free(h);
}

void cmd_mpi_rows(int64_t n, int64_t unit, int64_t *first, int64_t *end)
{
    int64_t units = (n + unit - 1) / unit, size = cmd_mpi_size, r = cmd_mpi_rank;
    int64_t a = units / size * r + units % size * r / size, b = units / size * (r + 1) + units % size * (r + 1) / size;
    *first = a * unit < n ? a * unit : n;
    *end = b * unit < n ? b * unit : n;
}

#endif
