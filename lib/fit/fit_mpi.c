/* tg_fit_stream_mpi (tg/fit_mpi.h): the passes of a fit spread over the ranks
 * of a communicator. Built into the MPI library only (-DTG_MPI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"
#include "tg/fit_mpi.h"

void tg_fit_mpi_range(int64_t n, int rank, int size, int64_t *start, int64_t *end)
{
    tgf_dist_range(n, rank, size, start, end);
}

/* Every rank learns whether any failed; the lowest failing rank's message
 * goes to all. Returns the agreed status. */
static tt_status agree(MPI_Comm comm, int size, int rank, tt_status st, int64_t start, int64_t end, int *statuses)
{
    int mine = (int)st;
    if (MPI_Allgather(&mine, 1, MPI_INT, statuses, 1, MPI_INT, comm) != MPI_SUCCESS)
        return tt_set_error(TT_ERUNTIME, "MPI_Allgather failed");
    int bad = -1;
    for (int r = 0; r < size && bad < 0; r++)
        if (statuses[r] != TT_OK) bad = r;
    if (bad < 0) return TT_OK;
    char msg[1024] = "";
    if (rank == bad) {
        const char *err = tt_last_error();
        if (size > 1)
            snprintf(msg, sizeof msg, "rank %d of %d (points %lld to %lld): %s", rank, size, (long long)start,
                     (long long)end - 1, err && *err ? err : "failed");
        else snprintf(msg, sizeof msg, "%s", err && *err ? err : "failed");
    }
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, bad, comm);
    msg[sizeof msg - 1] = 0;
    return tt_set_error((tt_status)statuses[bad], "%s", msg);
}

/* The trees of every rank pushed in rank order into each rank's tree. */
static tt_status combine(const tgf_dist *d, tgf_tree *tree, tt_status st, int64_t start, int64_t end)
{
    MPI_Comm comm = *(const MPI_Comm *)d->ctx;
    int size = d->size, w = tree->width;
    int *counts = malloc(sizeof *counts * (size_t)size * 3);
    if (!counts) return tt_set_error(TT_ENOMEM, "out of memory");
    int *statuses = counts + size, *displs = counts + 2 * size;
    st = agree(comm, size, d->rank, st, start, end, statuses);
    if (st) {
        free(counts);
        return st;
    }
    /* each entry travels as (first, level) beside its partial */
    int depth = tree->depth;
    MPI_Allgather(&depth, 1, MPI_INT, counts, 1, MPI_INT, comm);
    int total = 0;
    for (int r = 0; r < size; r++) displs[r] = total, total += counts[r];
    int64_t *meta = malloc(sizeof *meta * (size_t)(2 * (total + depth) + 1));
    double *parts = malloc(sizeof *parts * ((size_t)total * (size_t)w + 1));
    if (!meta || !parts) {
        free(meta), free(parts), free(counts);
        return tt_set_error(TT_ENOMEM, "out of memory");
    }
    int64_t *mine = meta + 2 * total;
    for (int i = 0; i < depth; i++) mine[2 * i] = tree->first[i], mine[2 * i + 1] = tree->level[i];
    int *c2 = malloc(sizeof *c2 * (size_t)size * 2);
    if (!c2) {
        free(meta), free(parts), free(counts);
        return tt_set_error(TT_ENOMEM, "out of memory");
    }
    int *d2 = c2 + size;
    for (int r = 0; r < size; r++) c2[r] = 2 * counts[r], d2[r] = 2 * displs[r];
    MPI_Allgatherv(mine, 2 * depth, MPI_INT64_T, meta, c2, d2, MPI_INT64_T, comm);
    for (int r = 0; r < size; r++) c2[r] = w * counts[r], d2[r] = w * displs[r];
    MPI_Allgatherv(tree->entries, w * depth, MPI_DOUBLE, parts, c2, d2, MPI_DOUBLE, comm);
    tree->depth = 0;
    for (int i = 0; i < total; i++)
        tgf_tree_push_range(tree, parts + (size_t)i * (size_t)w, meta[2 * i], (int)meta[2 * i + 1]);
    free(c2), free(meta), free(parts), free(counts);
    return TT_OK;
}

tt_status tg_fit_stream_mpi(const tg_fit_data *data, const tg_fit_spec *spec, MPI_Comm comm, tg_fit_result **out)
{
    tgf_dist d = {.combine = combine, .ctx = &comm};
    if (MPI_Comm_rank(comm, &d.rank) != MPI_SUCCESS || MPI_Comm_size(comm, &d.size) != MPI_SUCCESS)
        return tt_set_error(TT_EINVAL, "tg_fit_stream_mpi: not a valid communicator");
    return tgf_fit_run(data, spec, &d, out);
}
