/* A fit over MPI ranks through the library's API (tg/fit_mpi.h), timed from
 * inside: from the first read of the data to the report, after a barrier
 * (mpirun's start-up and MPI_Init are not the fit's). Each rank opens FILE
 * through MPI-IO and reads its own block range.
 *
 *   mpirun -n N fitmpi FILE.h5 exact|gd [--steps S] [--runs R] [--warmup W]
 *
 * W runs (default 1) warm the page cache and the allocator first, untimed.
 * Prints "fit_ms=" (the median of R runs, the slowest rank's time each),
 * "cpu_ms=" (the same of the CPU time of each rank's thread: the work, which
 * load from elsewhere on the machine does not lengthen as it does the wall
 * time; a rank waiting in a collective spins, so it counts the wait),
 * "w=", "b=" and "passes" information on rank 0. */
#include <stdint.h>

#include "tg/fit_mpi.h"
#include "tg/io_mpi.h"

#define BENCH_PROG "fitmpi"
#include "bench.h"

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    tt_io_set_mpi_comm(MPI_COMM_WORLD);
    int rank, size, runs = 3, warmup = 1;
    int64_t steps = 100;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3 || (strcmp(argv[2], "exact") && strcmp(argv[2], "gd"))) {
        if (!rank) fprintf(stderr, "usage: mpirun -n N fitmpi FILE.h5 exact|gd [--steps S] [--runs R] [--warmup W]\n");
        MPI_Finalize();
        return 2;
    }
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps")) steps = strtoll(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
    }
    tt_source *src = tt_source_open(argv[1]);
    tg_fit_source *fs = NULL;
    tg_fit_source_spec fss = {0};
    if (!src || tg_fit_source_open(src, &fss, &fs) != TT_OK) die(argv[1]);
    tg_fit_spec spec;
    tg_fit_spec_defaults(&spec);
    if (!strcmp(argv[2], "exact")) spec.method = TG_METHOD_EXACT;
    else spec.optimizer = TG_OPT_GD, spec.lr = 0.003, spec.steps = steps, spec.tol = -1;
    spec.dtype = TT_F32;
    double *ms = malloc(sizeof *ms * (size_t)runs * 2), *cpu = ms + runs;
    tg_fit_result *r = NULL;
    for (int k = 1 - warmup; k <= runs; k++) { /* runs up to 0 warm up */
        tg_fit_result_free(r);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime(), c0 = thread_cpu_ms();
        if (tg_fit_stream_mpi(tg_fit_source_data(fs), &spec, MPI_COMM_WORLD, &r) != TT_OK) die("tg_fit_stream_mpi");
        double t[2] = {(MPI_Wtime() - t0) * 1e3, thread_cpu_ms() - c0}, slowest[2];
        MPI_Allreduce(t, slowest, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (k > 0) ms[k - 1] = slowest[0], cpu[k - 1] = slowest[1];
    }
    if (!rank)
        printf(
            "fitmpi: %s on %lld points, %d rank%s: median of %d runs %.1f ms, CPU %.1f ms a rank (w = %.6f, b = "
            "%.6f, %lld steps)\n"
            "fit_ms=%.3f\ncpu_ms=%.3f\n",
            argv[2], (long long)r->n, size, size == 1 ? "" : "s", runs, median(ms, runs), median(cpu, runs),
            r->values[0], r->values[1], (long long)r->steps, median(ms, runs), median(cpu, runs));
    tg_fit_result_free(r);
    free(ms);
    tg_fit_source_free(fs);
    tt_source_close(src);
    MPI_Finalize();
    return 0;
}
