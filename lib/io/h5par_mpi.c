/* tt_h5_par (tg/io_mpi.h): one HDF5 file written by the ranks of a
 * communicator with collective MPI-IO writes. MPI library only (-DTG_MPI). */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5_internal.h"
#include "tg/io_mpi.h"

#define MAX_DATASETS 8

struct tt_h5_par {
    char *path;
    hid_t file, xfer;
    int nds;
    char *names[MAX_DATASETS];
    hid_t ds[MAX_DATASETS];
    tt_dtype dtype[MAX_DATASETS];
};

static tt_status fail(const char *path, const char *what)
{
    return tt_set_error(TT_EIO, "%s: cannot %s (parallel HDF5)", path, what);
}

tt_h5_par *tt_h5_par_create(const char *path, MPI_Comm comm, const tt_tensor_set *attrs)
{
    tt_h5_par *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* as tt_h5_image: creation order kept, no timestamps */
    unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    f->file = -1;
    if (fapl >= 0 && fcpl >= 0 && H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) >= 0 &&
        H5Pset_link_creation_order(fcpl, order) >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0)
        f->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    f->xfer = H5Pcreate(H5P_DATASET_XFER);
    tt_status st = TT_OK;
    if (f->file < 0) st = fail(path, "create the file");
    else if (f->xfer < 0 || H5Pset_dxpl_mpio(f->xfer, H5FD_MPIO_COLLECTIVE) < 0)
        st = fail(path, "set up collective writes");
    for (int i = 0; st == TT_OK && attrs && i < attrs->nattrs; i++) st = tt_h5_write_attr(f->file, &attrs->attrs[i]);
    if (st != TT_OK) {
        tt_h5_par_close(f);
        return NULL;
    }
    return f;
}

tt_status tt_h5_par_dataset(tt_h5_par *f, const char *name, tt_dtype dtype, int64_t n, const tt_h5_layout *layout)
{
    if (f->nds == MAX_DATASETS || (dtype != TT_F32 && dtype != TT_F64))
        return tt_set_error(TT_EINVAL, "%s: cannot write '%s' in parallel (a vector of f32 or f64)", f->path, name);
    hsize_t dim = (hsize_t)n;
    hid_t space = H5Screate_simple(1, &dim, NULL), dcpl = tt_h5_dcpl(f->path, name, dtype, 1, &n, layout);
    hid_t ds = -1;
    if (space >= 0 && dcpl >= 0)
        ds = H5Dcreate2(f->file, name, dtype == TT_F32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl,
                        H5P_DEFAULT);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    else return tt_last_status(); /* tt_h5_dcpl's message */
    if (ds < 0) {
        char detail[200];
        tt_h5_detail(detail, sizeof detail);
        return tt_set_error(TT_EIO, "%s: cannot create dataset '%s' (parallel HDF5: %s)", f->path, name, detail);
    }
    f->names[f->nds] = strdup(name);
    f->dtype[f->nds] = dtype;
    f->ds[f->nds++] = ds;
    if (!f->names[f->nds - 1]) return tt_set_error(TT_ENOMEM, "out of memory");
    return TT_OK;
}

tt_status tt_h5_par_write(tt_h5_par *f, const char *name, int64_t start, const tt_tensor *t)
{
    int k = 0;
    while (k < f->nds && strcmp(f->names[k], name)) k++;
    if (k == f->nds) return tt_set_error(TT_EINVAL, "%s: no dataset '%s' was created", f->path, name);
    hsize_t count = t ? (hsize_t)tt_numel(t) : 0, at = (hsize_t)start;
    size_t esize = tt_dtype_size(f->dtype[k]);
    void *buf = malloc(count ? count * esize : 1);
    if (!buf) return tt_set_error(TT_ENOMEM, "out of memory writing '%s'", name);
    tt_status st = count ? tt_to_host(t, f->dtype[k], buf) : TT_OK;
    hid_t fspace = H5Dget_space(f->ds[k]), mspace = H5Screate_simple(1, count ? &count : (hsize_t[]){1}, NULL);
    herr_t r = fspace >= 0 && mspace >= 0 ? 0 : -1;
    if (r >= 0 && count) r = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &at, NULL, &count, NULL);
    else if (r >= 0) r = H5Sselect_none(fspace) < 0 || H5Sselect_none(mspace) < 0 ? -1 : 0;
    /* every rank calls H5Dwrite, even with nothing to write: it is collective */
    if (r >= 0)
        r = H5Dwrite(f->ds[k], f->dtype[k] == TT_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, mspace, fspace, f->xfer,
                     buf);
    if (fspace >= 0) H5Sclose(fspace);
    if (mspace >= 0) H5Sclose(mspace);
    free(buf);
    if (st == TT_OK && r < 0) {
        char detail[200];
        tt_h5_detail(detail, sizeof detail);
        st = tt_set_error(TT_EIO, "%s: cannot write rows %lld to %lld of '%s' (parallel HDF5: %s)", f->path,
                          (long long)start, (long long)(start + (int64_t)count) - 1, name, detail);
    }
    return st;
}

tt_status tt_h5_par_close(tt_h5_par *f)
{
    if (!f) return TT_OK;
    tt_status st = TT_OK;
    for (int i = 0; i < f->nds; i++) {
        if (H5Dclose(f->ds[i]) < 0) st = fail(f->path, "close a dataset");
        free(f->names[i]);
    }
    if (f->xfer >= 0) H5Pclose(f->xfer);
    if (f->file >= 0 && H5Fclose(f->file) < 0 && st == TT_OK) st = fail(f->path, "close the file");
    free(f->path);
    free(f);
    return st;
}
