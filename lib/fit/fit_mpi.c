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

/* The trees of every rank gathered on rank 0 and pushed there in rank order;
 * the result goes back to every rank as the tree's one entry. Rank 0
 * receives each rank's entries (at most about 2 log2(blocks) of `width`
 * doubles), every rank one result: traffic that grows with the ranks, not
 * their square. */
static tt_status combine(const tgf_dist *d, tgf_tree *tree, tt_status st, int64_t start, int64_t end)
{
    MPI_Comm comm = *(const MPI_Comm *)d->ctx;
    int size = d->size, w = tree->width, root = d->rank == 0;
    int *counts = malloc(sizeof *counts * (size_t)size * 5);
    if (!counts) return tt_set_error(TT_ENOMEM, "out of memory");
    int *statuses = counts + size, *displs = counts + 2 * size, *c2 = counts + 3 * size, *d2 = counts + 4 * size;
    st = agree(comm, size, d->rank, st, start, end, statuses);
    if (st) {
        free(counts);
        return st;
    }
    /* each entry travels as (first, level) beside its partial */
    int depth = tree->depth, total = 0;
    MPI_Gather(&depth, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    for (int r = 0; root && r < size; r++) displs[r] = total, total += counts[r];
    int64_t *meta = malloc(sizeof *meta * (size_t)(2 * (total + depth) + 1));
    double *parts = malloc(sizeof *parts * ((size_t)total * (size_t)w + 1));
    int ok = meta && parts, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (!all_ok) {
        free(meta), free(parts), free(counts);
        return tt_set_error(TT_ENOMEM, "out of memory combining the ranks' sums");
    }
    int64_t *mine = meta + 2 * total;
    for (int i = 0; i < depth; i++) mine[2 * i] = tree->first[i], mine[2 * i + 1] = tree->level[i];
    for (int r = 0; root && r < size; r++) c2[r] = 2 * counts[r], d2[r] = 2 * displs[r];
    MPI_Gatherv(mine, 2 * depth, MPI_INT64_T, meta, c2, d2, MPI_INT64_T, 0, comm);
    for (int r = 0; root && r < size; r++) c2[r] = w * counts[r], d2[r] = w * displs[r];
    MPI_Gatherv(tree->entries, w * depth, MPI_DOUBLE, parts, c2, d2, MPI_DOUBLE, 0, comm);
    int any = 0;
    if (root) {
        tree->depth = 0;
        for (int i = 0; i < total; i++)
            tgf_tree_push_range(tree, parts + (size_t)i * (size_t)w, meta[2 * i], (int)meta[2 * i + 1]);
        const double *r = tgf_tree_result(tree);
        if ((any = r != NULL)) memcpy(tree->entries, r, sizeof *r * (size_t)w);
    }
    MPI_Bcast(&any, 1, MPI_INT, 0, comm);
    MPI_Bcast(tree->entries, any ? w : 0, MPI_DOUBLE, 0, comm);
    tree->depth = any; /* the one entry: the whole (first and level no longer matter) */
    tree->first[0] = 0, tree->level[0] = 0;
    free(meta), free(parts), free(counts);
    return TT_OK;
}

tt_status tg_fit_stream_mpi(const tg_fit_data *data, const tg_fit_spec *spec, MPI_Comm comm, tg_fit_result **out)
{
    tgf_dist d = {.combine = combine, .ctx = &comm};
    if (MPI_Comm_rank(comm, &d.rank) != MPI_SUCCESS || MPI_Comm_size(comm, &d.size) != MPI_SUCCESS)
        return tt_set_error(TT_EINVAL, "tg_fit_stream_mpi: not a valid communicator");
    return tgf_fit_run(data, spec, &d, out);
}
