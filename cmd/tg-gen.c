/* tg-gen: noisy data and plain tensors from the shell. See man/tg-gen.1. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "progress.h"
#include "mpi.h"
#ifdef TG_MPI
#include <limits.h>

#include "tg/io_mpi.h"
#endif

static const char usage[] =
    "Usage: tg-gen line [--slope A] [--intercept B] [-n N]\n"
    "                   [--x-range LO,HI | --x-linspace LO,HI] [--noise SIGMA]\n"
    "                   [--x-noise SIGMA] [--noise-dist normal|uniform|laplace]\n"
    "  or:  tg-gen randn|rand|zeros|ones --shape D1,D2,... [--name NAME]\n"
    "  or:  tg-gen arange [--start A] --end B [--step S] [--name NAME]\n"
    "  or:  tg-gen linspace --start A --end B -n N [--name NAME]\n"
    "Generate noisy (x, y) data or a tensor and write it as HDF5 or text.\n"
    "\n"
    "line: /x and /y, with y = A*x + B + SIGMA*e, x ~ U(LO,HI) or linspace(LO,HI,N).\n"
    "      --slope A          slope (default 1)\n"
    "      --intercept B      intercept (default 0)\n"
    "  -n, --num N            number of points (default 100; linspace: required)\n"
    "      --x-range LO,HI    draw x uniformly from [LO,HI) (default 0,1)\n"
    "      --x-linspace LO,HI x evenly spaced from LO to HI inclusive\n"
    "      --noise SIGMA      standard deviation of the noise added to y (default 0)\n"
    "      --x-noise SIGMA    standard deviation of the noise added to the written x\n"
    "      --noise-dist DIST  normal (default), uniform or laplace, scaled so that\n"
    "                         SIGMA is the standard deviation\n"
    "tensors: one dataset named NAME (default x).\n"
    "      --shape D1,D2,...  shape for randn, rand, zeros, ones (() for a scalar)\n"
    "      --start A, --end B, --step S\n"
    "                         arange: [A, B) in steps of S (defaults A=0, S=1);\n"
    "                         linspace: N points from A to B inclusive\n"
    "      --name NAME        the dataset's name (default x)\n"
    "HDF5 layout (default: contiguous):\n"
    "      --chunk N          store datasets in chunks of N points (N rows of the\n"
    "                         first dimension for a tensor of 2 or more)\n"
    "      --compress LEVEL   gzip each chunk at LEVEL 0-9, after HDF5's shuffle\n"
    "                         filter (chunks of 65536 points unless --chunk)\n"
    "progress:\n" CMD_PROGRESS_HELP "common options:\n" CMD_COMMON_HELP
    "\n"
    "The same --seed gives the same numbers on every run, device and dtype.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.  See tg-gen(1).\n";

enum {
    OPT_SLOPE = CMD_OPT_FIRST_PRIVATE,
    OPT_INTERCEPT,
    OPT_N,
    OPT_X_RANGE,
    OPT_X_LINSPACE,
    OPT_NOISE,
    OPT_X_NOISE,
    OPT_NOISE_DIST,
    OPT_SHAPE,
    OPT_START,
    OPT_END,
    OPT_STEP,
    OPT_NAME,
    OPT_CHUNK,
    OPT_COMPRESS,
    OPT_END_OF_LIST
};
#define NPRIV (OPT_END_OF_LIST - CMD_OPT_FIRST_PRIVATE)

static const struct option longopts[] = {
    CMD_COMMON_LONGOPTS,
    {"slope", required_argument, NULL, OPT_SLOPE},
    {"intercept", required_argument, NULL, OPT_INTERCEPT},
    {"num", required_argument, NULL, OPT_N},
    {"x-range", required_argument, NULL, OPT_X_RANGE},
    {"x-linspace", required_argument, NULL, OPT_X_LINSPACE},
    {"noise", required_argument, NULL, OPT_NOISE},
    {"x-noise", required_argument, NULL, OPT_X_NOISE},
    {"noise-dist", required_argument, NULL, OPT_NOISE_DIST},
    {"shape", required_argument, NULL, OPT_SHAPE},
    {"start", required_argument, NULL, OPT_START},
    {"end", required_argument, NULL, OPT_END},
    {"step", required_argument, NULL, OPT_STEP},
    {"name", required_argument, NULL, OPT_NAME},
    {"chunk", required_argument, NULL, OPT_CHUNK},
    {"compress", required_argument, NULL, OPT_COMPRESS},
    CMD_PROGRESS_LONGOPTS,
    {NULL, 0, NULL, 0},
};

/* How each private option is named in messages. */
static const char *const opt_names[NPRIV] = {
    "--slope", "--intercept", "-n",    "--x-range", "--x-linspace", "--noise", "--x-noise",  "--noise-dist",
    "--shape", "--start",     "--end", "--step",    "--name",       "--chunk", "--compress",
};

typedef enum { G_LINE, G_RANDN, G_RAND, G_ZEROS, G_ONES, G_ARANGE, G_LINSPACE } gen_kind;
static const char *const gen_names[] = {"line", "randn", "rand", "zeros", "ones", "arange", "linspace", NULL};

/* Which private options each generator takes (bit i = option FIRST_PRIVATE + i). */
#define BIT(o) (1u << ((o)-CMD_OPT_FIRST_PRIVATE))
/* The HDF5 layout options apply to every generator. */
#define LAYOUT_OPTS (BIT(OPT_CHUNK) | BIT(OPT_COMPRESS))
static const unsigned allowed[] = {
    [G_LINE] = BIT(OPT_SLOPE) | BIT(OPT_INTERCEPT) | BIT(OPT_N) | BIT(OPT_X_RANGE) | BIT(OPT_X_LINSPACE) |
               BIT(OPT_NOISE) | BIT(OPT_X_NOISE) | BIT(OPT_NOISE_DIST) | LAYOUT_OPTS,
    [G_RANDN] = BIT(OPT_SHAPE) | BIT(OPT_NAME) | LAYOUT_OPTS,
    [G_RAND] = BIT(OPT_SHAPE) | BIT(OPT_NAME) | LAYOUT_OPTS,
    [G_ZEROS] = BIT(OPT_SHAPE) | BIT(OPT_NAME) | LAYOUT_OPTS,
    [G_ONES] = BIT(OPT_SHAPE) | BIT(OPT_NAME) | LAYOUT_OPTS,
    [G_ARANGE] = BIT(OPT_START) | BIT(OPT_END) | BIT(OPT_STEP) | BIT(OPT_NAME) | LAYOUT_OPTS,
    [G_LINSPACE] = BIT(OPT_START) | BIT(OPT_END) | BIT(OPT_N) | BIT(OPT_NAME) | LAYOUT_OPTS,
};

typedef enum { D_NORMAL, D_UNIFORM, D_LAPLACE } noise_dist;
static const char *const dist_names[] = {"normal", "uniform", "laplace", NULL};

/* Largest -n: far beyond memory, small enough that 3*N offsets and N*8 bytes fit. */
#define MAX_N (INT64_MAX / 8)

typedef struct {
    cmd_common co;
    unsigned given;
    double slope, intercept, noise, x_noise, lo, hi, start, end, step;
    int64_t n;
    noise_dist dist;
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    const char *name;
    tt_h5_layout layout;
    cmd_progress_mode progress;
} gen_opts;

/* Points per chunk when --compress is given without --chunk: 256 KiB of
 * float32, in h5py's range of chunk sizes. */
#define DEFAULT_CHUNK ((int64_t)1 << 16)

/* For x = chain(x, tt_op(x, ...)): releases the old x, checks the result. */
static tt_tensor *chain(tt_tensor *a, tt_tensor *result)
{
    tt_release(a);
    return cmd_check(result, NULL);
}

/* m unit-variance noise values: element i is a function of (seed, offset + i). */
static tt_tensor *draw_noise(const gen_opts *o, noise_dist dist, uint64_t offset, int64_t m)
{
    tt_generator g = cmd_generator(&o->co);
    g.offset = offset;
    if (dist == D_NORMAL) return cmd_check(tt_randn(1, &m, o->co.dtype, o->co.device, &g), NULL);
    tt_tensor *u = cmd_check(tt_rand(1, &m, o->co.dtype, o->co.device, &g), NULL);
    if (dist == D_UNIFORM) { /* (2u - 1) * sqrt(3): U[-sqrt 3, sqrt 3) */
        u = chain(u, tt_mul_scalar(u, 2 * sqrt(3.0)));
        return chain(u, tt_add_scalar(u, -sqrt(3.0)));
    }
    /* Laplace with scale 1/sqrt(2), by the inverse CDF: v = u - 1/2,
     * e = -sign(v) * log(1 - 2|v|) / sqrt(2). */
    tt_tensor *v = chain(u, tt_add_scalar(u, -0.5));
    tt_tensor *t = cmd_check(tt_abs(v), NULL);
    t = chain(t, tt_mul_scalar(t, -2));
    t = chain(t, tt_add_scalar(t, 1));
    t = chain(t, tt_clamp(t, FLT_MIN, NAN)); /* u = 0 would give log(0) */
    t = chain(t, tt_log(t));
    tt_tensor *s = chain(v, tt_sign(v));
    tt_tensor *e = cmd_check(tt_mul(s, t), NULL);
    tt_release(s);
    tt_release(t);
    return chain(e, tt_mul_scalar(e, -1 / sqrt(2.0)));
}

/* Points [first, first + m) of the line, into set as x and y. Every element is
 * a function of its index alone (the stream: x uniforms at offsets [0, N), y
 * noise at [N, 2N), x noise at [2N, 3N), whether or not each is drawn), so
 * pieces give the numbers of the whole, as do the pieces of a linspace. */
static void line_points(const gen_opts *o, int64_t first, int64_t m, tt_tensor_set *set)
{
    uint64_t n = (uint64_t)o->n, at = (uint64_t)first;
    const cmd_common *co = &o->co;
    tt_tensor *x;
    if (o->given & BIT(OPT_X_LINSPACE)) {
        x = cmd_check(tt_linspace_part(o->lo, o->hi, o->n, first, m, co->dtype, co->device), NULL);
    } else {
        tt_generator g = cmd_generator(co);
        g.offset = at;
        x = cmd_check(tt_rand(1, &m, co->dtype, co->device, &g), NULL);
        x = chain(x, tt_mul_scalar(x, o->hi - o->lo));
        x = chain(x, tt_add_scalar(x, o->lo));
    }
    tt_tensor *y = cmd_check(tt_mul_scalar(x, o->slope), NULL);
    y = chain(y, tt_add_scalar(y, o->intercept));
    if (o->noise > 0) {
        tt_tensor *e = draw_noise(o, o->dist, n + at, m);
        e = chain(e, tt_mul_scalar(e, o->noise));
        tt_tensor *y2 = cmd_check(tt_add(y, e), NULL);
        tt_release(e);
        tt_release(y);
        y = y2;
    }
    if (o->x_noise > 0) {
        tt_tensor *d = draw_noise(o, o->dist, 2 * n + at, m);
        d = chain(d, tt_mul_scalar(d, o->x_noise));
        tt_tensor *x2 = cmd_check(tt_add(x, d), NULL);
        tt_release(d);
        tt_release(x);
        x = x2;
    }
    cmd_put(set, "x", x);
    cmd_put(set, "y", y);
    tt_release(x);
    tt_release(y);
}

static void line_attrs(const gen_opts *o, tt_tensor_set *set)
{
    cmd_attr_str(set, "generator", "line");
    cmd_attr_num(set, "slope", o->slope);
    cmd_attr_num(set, "intercept", o->intercept);
    cmd_attr_int(set, "n", o->n);
    cmd_attr_num(set, "noise", o->noise);
    cmd_attr_num(set, "x_noise", o->x_noise);
    cmd_attr_str(set, "noise_dist", dist_names[o->dist]);
    cmd_attr_str(set, "x_spacing", (o->given & BIT(OPT_X_LINSPACE)) ? "linspace" : "uniform");
    cmd_attr_num(set, "x_lo", o->lo);
    cmd_attr_num(set, "x_hi", o->hi);
}

/* Points per slice written to HDF5: the slice and its temporaries stay in
 * tens of MB (the 256 MB bound of the issue holds at any -n). */
#define H5_SLICE ((int64_t)1 << 20)
/* Points per piece of text: a multiple of the CPU kernels' vector width,
 * small enough for one thread (each element is the same either way). */
#define TEXT_PIECE ((int64_t)1 << 15)

/* Bytes of the data of n elements of dtype dt (the file's size, near enough). */
static uint64_t data_bytes(int64_t n, tt_dtype dt) { return (uint64_t)n * tt_dtype_size(dt); }

/* The line made and written a slice at a time, as text or straight into the
 * HDF5 file: memory is bounded by the slice, and a closed pipe stops text at
 * once. The first slice of text carries head's attributes; HDF5 takes them
 * at the end. Slices of HDF5 are whole chunks where chunks are smaller (each
 * chunk is then compressed once, from the slice). */
static void stream_line(const gen_opts *o, tt_tensor_set *head)
{
    const cmd_common *co = &o->co;
    bool h5 = co->out_fmt == TT_FMT_H5;
    int64_t slice = TEXT_PIECE, chunk = o->layout.chunk;
    cmd_text *t = NULL;
    cmd_h5_out *out = NULL;
    tt_h5_writer *w = NULL;
    int ix = 0, iy = 0;
    if (h5) {
        slice = chunk > 0 && chunk < H5_SLICE ? H5_SLICE / chunk * chunk : H5_SLICE;
        out = cmd_h5_open(co->output, 2 * data_bytes(o->n, co->dtype));
        w = cmd_h5_writer(out);
        if ((ix = tt_h5_writer_add(w, "x", co->dtype, 1, &o->n, &o->layout)) < 0 ||
            (iy = tt_h5_writer_add(w, "y", co->dtype, 1, &o->n, &o->layout)) < 0)
            cmd_fail_lib(NULL);
    } else {
        t = cmd_text_open(co->output, co->out_fmt);
    }
    /* Text on the terminal that would show the progress: the data are the progress. */
    bool text_on_tty = !h5 && !co->output && isatty(STDOUT_FILENO);
    cmd_progress bar;
    cmd_progress_start(&bar, text_on_tty && o->progress == CMD_PROGRESS_AUTO ? CMD_PROGRESS_OFF : o->progress);
    for (int64_t first = 0; first < o->n; first += slice) {
        int64_t m = o->n - first < slice ? o->n - first : slice;
        tt_tensor_set *piece = first || h5 ? tt_set_new() : head;
        if (!piece) cmd_fail_lib(NULL);
        line_points(o, first, m, piece);
        if (!h5) cmd_text_put(t, piece);
        else if (tt_h5_writer_put(w, ix, first, tt_set_get(piece, "x")) != TT_OK ||
                 tt_h5_writer_put(w, iy, first, tt_set_get(piece, "y")) != TT_OK)
            cmd_fail_lib(NULL);
        if (piece != head) tt_set_free(piece);
        if (cmd_progress_due(&bar, first + m == o->n)) cmd_progress_count(&bar, first + m, o->n, "points");
    }
    cmd_progress_clear(&bar);
    if (!h5) {
        cmd_text_close(t);
        return;
    }
    if (tt_h5_writer_attrs(w, head) != TT_OK) cmd_fail_lib(NULL);
    cmd_h5_close(out);
}

#ifdef TG_MPI
/* Points per collective write of each rank (at least a chunk). */
#define PAR_PIECE ((int64_t)1 << 20)

/* The line under MPI into one HDF5 file: rank r makes its share of the points
 * (each a function of its index: the numbers of one process) and writes them
 * a piece at a time with collective writes into a temporary file that rank 0
 * renames at the end. Chunked datasets (--chunk, --compress) are shared in
 * whole chunks and written a whole number of chunks at a time, so each chunk
 * is written (and compressed) once, by one rank. */
static void par_line(const gen_opts *o, const tt_tensor_set *attrs)
{
    cmd_mpi_h5 *h = cmd_mpi_h5_open(o->co.output, "-o", attrs);
    tt_h5_par *f = cmd_mpi_h5_file(h);
    int64_t n = o->n, chunk = o->layout.chunk > 0 ? (o->layout.chunk < n ? o->layout.chunk : n) : 0;
    const tt_h5_layout *layout = chunk ? &o->layout : NULL;
    bool ok = tt_h5_par_dataset(f, "x", o->co.dtype, n, layout) == TT_OK &&
              tt_h5_par_dataset(f, "y", o->co.dtype, n, layout) == TT_OK;
    cmd_mpi_agree(ok);
    int64_t first, end, piece = !chunk ? PAR_PIECE : chunk >= PAR_PIECE ? chunk : PAR_PIECE / chunk * chunk;
    cmd_mpi_rows(n, chunk ? chunk : 1, &first, &end);
    int64_t rounds = (end - first + piece - 1) / piece, most;
    MPI_Allreduce(&rounds, &most, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    for (int64_t i = 0; i < most; i++) {
        int64_t at = first + i * piece, m = end - at < piece ? end - at : piece;
        tt_tensor_set *part = tt_set_new();
        if (!part) cmd_fail_lib(NULL);
        if (m > 0) line_points(o, at, m, part);
        tt_tensor *x = m > 0 ? tt_set_get(part, "x") : NULL, *y = m > 0 ? tt_set_get(part, "y") : NULL;
        /* every rank makes every call (collective), ok or not */
        ok &= tt_h5_par_write(f, "x", at, x) == TT_OK;
        ok &= tt_h5_par_write(f, "y", at, y) == TT_OK;
        tt_set_free(part);
    }
    cmd_mpi_h5_close(h, ok);
}
#endif

static void gen_tensor(gen_kind kind, const gen_opts *o, tt_tensor_set *set)
{
    const cmd_common *co = &o->co;
    tt_generator g = cmd_generator(co);
    tt_tensor *t = NULL;
    switch (kind) {
    case G_RANDN: t = tt_randn(o->ndim, o->shape, co->dtype, co->device, &g); break;
    case G_RAND: t = tt_rand(o->ndim, o->shape, co->dtype, co->device, &g); break;
    case G_ZEROS: t = tt_zeros(o->ndim, o->shape, co->dtype, co->device); break;
    case G_ONES: t = tt_ones(o->ndim, o->shape, co->dtype, co->device); break;
    case G_ARANGE: t = tt_arange(o->start, o->end, o->step, co->dtype, co->device); break;
    case G_LINSPACE: t = tt_linspace(o->start, o->end, o->n, co->dtype, co->device); break;
    case G_LINE: break;
    }
    cmd_check(t, NULL);
    cmd_put(set, o->name, t);
    tt_release(t);
    cmd_attr_str(set, "generator", gen_names[kind]);
    if (kind == G_ARANGE || kind == G_LINSPACE) {
        cmd_attr_num(set, "start", o->start);
        cmd_attr_num(set, "end", o->end);
        if (kind == G_ARANGE) cmd_attr_num(set, "step", o->step);
        else cmd_attr_int(set, "n", o->n);
    }
}

static void require(const gen_opts *o, int opt, const char *gen)
{
    if (!(o->given & BIT(opt))) cmd_usage_error("%s needs %s", gen, opt_names[opt - CMD_OPT_FIRST_PRIVATE]);
}

int main(int argc, char **argv)
{
    cmd_init("tg-gen", argc, argv);
    cmd_mpi_start(&argc, &argv);
    gen_opts o = {.slope = 1, .n = 100, .lo = 0, .hi = 1, .step = 1, .name = "x", .dist = D_NORMAL, .layout = {0, -1}};
    cmd_common_init(&o.co);
    o.co.longopts = longopts;

    int c;
    bool help = false;
    while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "n:", longopts, NULL)) != -1) {
        if (cmd_common_option(&o.co, c, optarg) || cmd_progress_option(c, &o.progress)) continue;
        if (c == 'n') c = OPT_N;
        if (c >= CMD_OPT_FIRST_PRIVATE && c < OPT_END_OF_LIST) o.given |= BIT(c);
        switch (c) {
        case 'h': help = true; break;
        case OPT_SLOPE: o.slope = cmd_parse_double("--slope", optarg); break;
        case OPT_INTERCEPT: o.intercept = cmd_parse_double("--intercept", optarg); break;
        case OPT_N: o.n = cmd_parse_int64("-n", optarg, 1, MAX_N); break;
        case OPT_X_RANGE:
            cmd_parse_pair("--x-range", optarg, &o.lo, &o.hi);
            if (o.lo > o.hi) cmd_usage_error("invalid value '%s' for --x-range: LO must not exceed HI", optarg);
            break;
        case OPT_X_LINSPACE: cmd_parse_pair("--x-linspace", optarg, &o.lo, &o.hi); break;
        case OPT_NOISE: o.noise = cmd_parse_nonneg_double("--noise", optarg); break;
        case OPT_X_NOISE: o.x_noise = cmd_parse_nonneg_double("--x-noise", optarg); break;
        case OPT_NOISE_DIST: o.dist = (noise_dist)cmd_parse_choice("--noise-dist", optarg, dist_names); break;
        case OPT_SHAPE: o.ndim = cmd_parse_shape("--shape", optarg, o.shape); break;
        case OPT_START: o.start = cmd_parse_double("--start", optarg); break;
        case OPT_END: o.end = cmd_parse_double("--end", optarg); break;
        case OPT_STEP: o.step = cmd_parse_double("--step", optarg); break;
        case OPT_CHUNK: o.layout.chunk = cmd_parse_int64("--chunk", optarg, 1, MAX_N); break;
        case OPT_COMPRESS: o.layout.compress = (int)cmd_parse_int64("--compress", optarg, 0, 9); break;
        case OPT_NAME:
            o.name = optarg + (optarg[0] == '/');
            if (!*o.name) cmd_usage_error("invalid value '%s' for --name: expected a dataset name", optarg);
            break;
        default: cmd_usage_error("unexpected option (internal error)");
        }
    }
    if (help) cmd_help(usage);
    if (optind >= argc) cmd_usage_error("missing generator: line, randn, rand, zeros, ones, arange or linspace");
    const char *gname = argv[optind];
    int kind = -1;
    for (int i = 0; gen_names[i]; i++)
        if (!strcmp(gname, gen_names[i])) kind = i;
    if (kind < 0)
        cmd_usage_error("unknown generator '%s': expected line, randn, rand, zeros, ones, arange or linspace", gname);
    if (optind + 1 < argc) cmd_usage_error("unexpected argument '%s'", argv[optind + 1]);
    for (int i = 0; i < NPRIV; i++)
        if ((o.given & (1u << i)) && !(allowed[kind] & (1u << i)))
            cmd_usage_error("%s does not apply to '%s'", opt_names[i], gname);

    switch ((gen_kind)kind) {
    case G_LINE:
        if ((o.given & BIT(OPT_X_RANGE)) && (o.given & BIT(OPT_X_LINSPACE)))
            cmd_usage_error("--x-range and --x-linspace cannot be used together");
        break;
    case G_RANDN:
    case G_RAND:
    case G_ZEROS:
    case G_ONES: require(&o, OPT_SHAPE, gname); break;
    case G_ARANGE: {
        require(&o, OPT_END, gname);
        if (o.step == 0) cmd_usage_error("--step must not be zero");
        double count = ceil((o.end - o.start) / o.step);
        if (!(count >= 0))
            cmd_usage_error("arange: --end %g cannot be reached from --start %g with --step %g", o.end, o.start,
                            o.step);
        if (!(count <= (double)MAX_N)) cmd_usage_error("arange: %g elements are too many", count);
        break;
    }
    case G_LINSPACE:
        require(&o, OPT_START, gname);
        require(&o, OPT_END, gname);
        require(&o, OPT_N, gname);
        break;
    }
    cmd_common_finish(&o.co);
    if ((o.given & LAYOUT_OPTS) && o.co.out_fmt != TT_FMT_H5)
        cmd_usage_error("%s applies to HDF5 output only, not %s", (o.given & BIT(OPT_CHUNK)) ? "--chunk" : "--compress",
                        o.co.out_fmt == TT_FMT_CSV ? "CSV" : "text");
    if (o.layout.compress >= 0 && !o.layout.chunk) o.layout.chunk = DEFAULT_CHUNK;

    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail_lib(NULL);
    cmd_provenance(set);
    /* Under MPI, a line into an HDF5 file is made and written by every rank;
     * anything else (text, a pipe, the plain tensors) by rank 0 alone. */
    bool parallel = cmd_mpi_active() && kind == G_LINE && o.co.out_fmt == TT_FMT_H5 && o.co.output;
    if (cmd_mpi_rank && !parallel) {
        tt_set_free(set);
        return 0;
    }
    if (kind == G_LINE) line_attrs(&o, set); /* the line goes out as it is made */
    else gen_tensor((gen_kind)kind, &o, set);
    if (kind == G_LINE || kind == G_RANDN || kind == G_RAND) cmd_attr_seed(set, o.co.seed);
    cmd_attr_str(set, "dtype", tt_dtype_name(o.co.dtype));
    cmd_attr_str(set, "device", tt_device_name(o.co.device));
#ifdef TG_MPI
    if (parallel) {
        par_line(&o, set);
    } else
#endif
        if (kind == G_LINE) {
        stream_line(&o, set);
    } else if (o.co.out_fmt == TT_FMT_H5) {
        const tt_tensor *t = set->tensors[0];
        cmd_h5_out *out = cmd_h5_open(o.co.output, data_bytes(tt_numel(t), t->dtype));
        if (tt_h5_writer_add_set(cmd_h5_writer(out), set, &o.layout) != TT_OK) cmd_fail_lib(NULL);
        cmd_h5_close(out);
    } else {
        cmd_write(&o.co, set);
    }
    tt_set_free(set);
    return 0;
}
