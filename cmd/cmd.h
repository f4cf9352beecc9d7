/* Shared helpers for the tg-* commands: messages and exit codes, strict
 * parsing of option values, the options every command has, and output.
 *
 * Exit status: 0 success, 1 runtime or data error, 2 usage error.
 * Messages go to stderr as "tg-NAME: what went wrong".
 *
 * A command's main() looks like:
 *
 *     cmd_init("tg-gen", argc, argv);
 *     cmd_common co; cmd_common_init(&co);
 *     while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "n:", longopts, NULL)) != -1)
 *         if (!cmd_common_option(&co, c, optarg)) switch (c) { ... }
 *     cmd_common_finish(&co);                 // checks -o / terminal early
 *     ... one call into the library ...
 *     cmd_provenance(set);                    // "command", "tg_version"
 *     cmd_write(&co, set);                    // exits 1 on a write error
 */
#ifndef TG_CMD_H
#define TG_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg/expr.h"
#include "tg/io.h"
#include "tg/tensor.h"

#ifndef TG_VERSION
#define TG_VERSION "0.1.0"
#endif

#define CMD_EXIT_FAILURE 1
#define CMD_EXIT_USAGE 2

/* ---- program name, command line, messages ------------------------------ */
extern const char *cmd_name; /* "tg-gen" */

/* Sets the program name, remembers the command line for cmd_provenance,
 * ignores SIGPIPE so that a closed pipe is seen as EPIPE by cmd_write, and
 * installs the guard that turns a crash or a hang inside libhdf5 into an
 * error naming the damaged file (guard.h). */
void cmd_init(const char *name, int argc, char **argv);

/* Sets up the heap for a short-lived program (cmd_init calls it first):
 * large steps, a transparent huge page where the kernel gives one on
 * request, freed memory kept (heap.c says why). */
void cmd_heap_init(void);

/* "tg-gen: MSG\nTry 'tg-gen --help' for more information.", exit 2. */
_Noreturn void cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tg-gen: MSG", exit status (0-255). */
_Noreturn void cmd_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "tg-gen: MSG", exit with the runtime failure status: 1, or what
 * cmd_set_failure_status set (tg-check: 2, trouble, as cmp). Every helper
 * here that fails at run time (cmd_fail_lib, cmd_check, cmd_xcalloc, ...)
 * exits with it. */
_Noreturn void cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cmd_set_failure_status(int status);
/* tt_last_error(), or "unknown error" when there is none. */
const char *cmd_lib_error(void);
/* "tg-gen: CONTEXT: <tt_last_error()>" (or without "CONTEXT: " when NULL), exit 1. */
_Noreturn void cmd_fail_lib(const char *context);
/* "tg-gen: MSG" and carry on. */
void cmd_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* No messages, --help or --version from here on (the ranks of an MPI job
 * other than 0, which reach the same errors as rank 0). */
void cmd_set_quiet(bool on);
/* "tg-gen (tg) 0.1.0" on stdout, exit 0. */
_Noreturn void cmd_version(void);
/* Prints text to stdout, exit 0 (or 1 if stdout cannot be written), with
 * each CMD_DEVICES in it replaced by the devices this build has, from the
 * backend registry: "cpu (default) or vulkan[:N]". */
_Noreturn void cmd_help(const char *text);
#define CMD_DEVICES "{devices}"

/* The command line as a shell would read it back: each word quoted as
 * needed. Owned by cmd; valid after cmd_init. */
const char *cmd_command_line(void);

/* ---- strict parsing of option values ------------------------------------ *
 * `opt` is the option as the user wrote it ("--slope", "-n"); it names the
 * option in messages. Every failure is a usage error (exit 2). The whole
 * string must be the number: no trailing characters, no empty string. */

/* A finite real number ("abc", "1x", "nan", "inf" are refused). */
double cmd_parse_double(const char *opt, const char *s);
/* A real number that is also > 0 / >= 0. */
double cmd_parse_positive_double(const char *opt, const char *s);
double cmd_parse_nonneg_double(const char *opt, const char *s);
/* An integer in [min, max]; integral numbers in exponent form ("1e5") are
 * accepted. Messages: "-n must be a positive integer, got '0'",
 * "-n 1e20 is too large (at most ...)". */
int64_t cmd_parse_int64(const char *opt, const char *s, int64_t min, int64_t max);
/* A non-negative 64-bit integer (seeds): decimal or 0x hex. */
uint64_t cmd_parse_uint64(const char *opt, const char *s);
/* "LO,HI" of two finite numbers. */
void cmd_parse_pair(const char *opt, const char *s, double *lo, double *hi);
/* A shape "3,4" (dims >= 0, at most TT_MAX_DIMS of them; "" or "()" is a
 * 0-d shape). Refuses shapes whose element count (or byte count at 8 bytes
 * per element) overflows. Returns ndim. */
int cmd_parse_shape(const char *opt, const char *s, int64_t *shape);
/* Index of s in the NULL-terminated list `choices`, else a usage error
 * "invalid value 'x' for --noise-dist: expected normal, uniform or laplace". */
int cmd_parse_choice(const char *opt, const char *s, const char *const *choices);

/* ---- options every command has ------------------------------------------ */
enum {
    CMD_OPT_FORMAT = 0x1000,
    CMD_OPT_DTYPE,
    CMD_OPT_DEVICE,
    CMD_OPT_SEED,
    CMD_OPT_VERSION,
    CMD_OPT_PROGRESS, /* --progress and --no-progress, for the commands that show progress (progress.h) */
    CMD_OPT_NO_PROGRESS,
    CMD_OPT_FIRST_PRIVATE = 0x1100 /* a command's own long-only options start here */
};

/* Long options for the table given to getopt_long; the short ones are
 * CMD_COMMON_SHORTOPTS, which must begin the optstring: its leading ':' makes
 * getopt_long report a missing argument as ':' and print nothing itself, so
 * that cmd_common_option can word every usage error the same way. */
#define CMD_COMMON_SHORTOPTS ":ho:"
#define CMD_COMMON_LONGOPTS                                                                                     \
    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, CMD_OPT_VERSION},                          \
        {"output", required_argument, NULL, 'o'}, {"format", required_argument, NULL, CMD_OPT_FORMAT},          \
        {"dtype", required_argument, NULL, CMD_OPT_DTYPE}, {"device", required_argument, NULL, CMD_OPT_DEVICE}, \
    {                                                                                                           \
        "seed", required_argument, NULL, CMD_OPT_SEED                                                           \
    }

/* Help lines for the common options, to append to a command's usage text;
 * a command with forms of its own writes the first two itself and appends
 * CMD_COMMON_HELP_REST. */
#define CMD_COMMON_HELP                                                               \
    "  -o, --output FILE      write to FILE (atomically); its extension says what:\n" \
    "                         .h5/.hdf5, .csv, .tsv or .txt (others are refused)\n"   \
    "      --format FMT       h5, csv, tsv or text (default: text on a terminal,\n"   \
    "                         else h5)\n" CMD_COMMON_HELP_REST
#define CMD_COMMON_HELP_REST                                                           \
    "      --dtype TYPE       f32 (default) or f64\n"                                  \
    "      --device DEV       " CMD_DEVICES                                            \
    "\n"                                                                               \
    "      --seed N           seed of the random stream (default: $TG_SEED, else 0)\n" \
    "  -h, --help             show this help and exit\n"                               \
    "      --version          show the version and exit\n"

/* ---- output forms ------------------------------------------------------------ *
 * What a command can write, one table per output (NULL-terminated), so that
 * --format, the extension of -o FILE and the usage errors that list them agree. */
typedef struct {
    const char *name;       /* as --format takes it: "h5" */
    const char *extensions; /* the extensions that pick it, space-separated: ".h5 .hdf5"; "" for none */
    tt_file_format fmt;     /* the tensor-set format it is, TT_FMT_AUTO for a command's own forms */
} cmd_form;
/* The forms of a tensor set, first in every table that writes sets. */
#define CMD_SET_FORMS                                                                         \
    {"h5", ".h5 .hdf5", TT_FMT_H5}, {"csv", ".csv", TT_FMT_CSV}, {"tsv", ".tsv", TT_FMT_TSV}, \
    {                                                                                         \
        "text", ".txt", TT_FMT_TEXT                                                           \
    }
extern const cmd_form cmd_set_forms[];
/* --format NAME: its index, else "invalid value 'json' for --format: expected
 * h5, csv, tsv or text" (exit 2). */
int cmd_form_by_name(const char *opt, const char *name, const cmd_form *forms);
/* The form that path's extension picks (any case), else a usage error listing
 * them: "-o out.png: tg-gen writes .h5/.hdf5, .csv, .tsv or .txt files, not
 * .png (or choose with --format h5, csv, tsv or text)" (the part in brackets
 * only when format_opt is not NULL). An existing device or FIFO (/dev/null)
 * without such an extension gives -1: the caller's default, as for a pipe (a
 * directory too: writing it fails later, naming it). */
int cmd_form_by_path(const char *opt, const char *path, const cmd_form *forms, const char *format_opt);

typedef struct {
    const char *output;            /* -o FILE, or NULL for standard output */
    tt_file_format format;         /* --format, TT_FMT_AUTO when not given */
    tt_dtype dtype;                /* --dtype, default TT_F32 */
    tt_device device;              /* --device, default $TG_DEVICE, else cpu */
    uint64_t seed;                 /* --seed, default $TG_SEED, else 0 */
    bool seed_given;               /* --seed or $TG_SEED */
    tt_file_format out_fmt;        /* resolved by cmd_common_finish */
    const cmd_form *forms;         /* what --format and -o accept (default cmd_set_forms) */
    int form;                      /* the index chosen by --format or -o's extension; -1: none yet */
    const struct option *longopts; /* optional: the table, to name ambiguous abbreviations */
} cmd_common;

void cmd_common_init(cmd_common *co);
/* Handles a common option (as returned by getopt_long): returns true if it
 * was one (--help, --version and getopt's '?' / ':' exit here). */
bool cmd_common_option(cmd_common *co, int opt, const char *arg);
/* After option parsing: resolves the output format (-o's extension when no
 * --format: an unknown one is a usage error) and refuses binary HDF5 on a
 * terminal (exit 2), and checks that -o's directory exists (exit 1), before
 * any work is done. */
void cmd_common_finish(cmd_common *co);
/* Fails (exit 1) unless a file can be created at path: its directory (that
 * of the file a symbolic link names) exists and is writable, path is no
 * directory. */
void cmd_check_output_path(const char *path);

/* A generator {seed, 0} for the command's single random stream. */
tt_generator cmd_generator(const cmd_common *co);

/* ---- output ------------------------------------------------------------- */
/* Root attributes "command" (the command line) and "tg_version". */
void cmd_provenance(tt_tensor_set *set);
/* Root attribute "seed", an unsigned 64-bit integer. */
void cmd_attr_seed(tt_tensor_set *set, uint64_t seed);
/* Puts an attribute or fails (exit 1). Counts are integers (HDF5: 64-bit). */
void cmd_attr_str(tt_tensor_set *set, const char *name, const char *value);
void cmd_attr_num(tt_tensor_set *set, const char *name, double value);
void cmd_attr_int(tt_tensor_set *set, const char *name, int64_t value);
/* Puts a tensor (the set takes its own reference) or fails. */
void cmd_put(tt_tensor_set *set, const char *name, tt_tensor *t);

/* Writes set per co: to -o FILE atomically, else to stdout. Text is written
 * as it is formatted (a shape that text cannot hold is refused before the
 * first byte); HDF5 is made whole first. A write error is "tg-gen: standard
 * output: No space left on device", exit 1; a closed pipe (EPIPE) exits 1
 * without a message, as the reader has gone. */
void cmd_write(const cmd_common *co, const tt_tensor_set *set);
/* The same for a set of its own (--history): to path, or stdout when NULL. */
void cmd_write_set(const char *path, tt_file_format fmt, const tt_tensor_set *set);
/* Text (CSV, TSV, TEXT) written piece by piece as the data is made, to path
 * (atomically) or stdout when NULL; the pieces have the same columns (the
 * first one's attributes and names head the text). Errors exit as cmd_write's. */
typedef struct cmd_text cmd_text;
cmd_text *cmd_text_open(const char *path, tt_file_format fmt);
void cmd_text_put(cmd_text *t, const tt_tensor_set *piece);
void cmd_text_close(cmd_text *t);

/* HDF5 written slice by slice, for data larger than memory (tg-gen). To
 * -o FILE: HDF5 writes the temporary file of cmd_output in place. HDF5 needs
 * random access while it writes, so standard output (a pipe), a device or a
 * FIFO get an image made in memory when it is small (bytes, the expected
 * size, at most CMD_H5_IN_MEMORY), else a temporary file in $TMPDIR (else
 * /tmp) copied out when complete: memory stays bounded, the disk holds the
 * file once, and nothing reaches the reader before the end. Errors exit 1
 * as cmd_write's, removing the temporary files. */
#define CMD_H5_IN_MEMORY ((uint64_t)16 << 20)
typedef struct cmd_h5_out cmd_h5_out;
cmd_h5_out *cmd_h5_open(const char *path, uint64_t bytes);
tt_h5_writer *cmd_h5_writer(const cmd_h5_out *o);
/* Finishes the file: renames it into place or copies it out. Frees o. */
void cmd_h5_close(cmd_h5_out *o);

/* Writes len bytes (DOT, SVG, PNG: output that is not a tensor set) to path
 * atomically (temporary file + rename, keeping an existing file's mode; a
 * device or FIFO is written directly), or to stdout when path is NULL. Fails
 * (exit 1) naming the file; a closed pipe exits 1 without a message. */
void cmd_write_bytes(const char *path, const void *buf, size_t len);
/* The same to a file, returning the error instead of exiting. */
tt_status cmd_write_bytes_to(const char *path, const void *buf, size_t len);

/* ---- atomic output files and signals -------------------------------------------- *
 * Every file a command writes goes through cmd_output: a temporary file next to
 * the file path names (a symbolic link is followed and stays a link), renamed
 * over it by cmd_output_commit. The temporary file is registered while it
 * exists: SIGINT, SIGTERM or SIGHUP (unless ignored from the start) remove it
 * and the program dies of that signal (the shell reports 128+N); an exit
 * before the commit (cmd_fail) removes it too. Errors are returned (NULL, a
 * status) with a message naming path, for the caller's exit status. */
typedef struct cmd_output cmd_output;
cmd_output *cmd_output_open(const char *path);
FILE *cmd_output_file(const cmd_output *o);
tt_output *cmd_output_lib(const cmd_output *o); /* for tt_output_write_set */
tt_status cmd_output_commit(cmd_output *o);     /* frees o */
void cmd_output_abort(cmd_output *o);           /* removes the file; frees o; NULL is fine */
/* Removes every registered temporary file; async-signal-safe, for a fatal
 * signal's handler. */
void cmd_remove_temporaries(void);
/* Removes the temporary files, then ends the program by sig with its default
 * action (a program that caught SIGINT to stop cleanly dies of it after). */
_Noreturn void cmd_die_of_signal(int sig);
/* sig was ignored when the program started (SIGINT of a background job): a
 * program leaves it so. */
bool cmd_signal_ignored(int sig);

/* Reads a tensor source ("FILE", "FILE:DATASET", "-", "-:DATASET") or fails
 * with the library's message (exit 1). */
tt_tensor *cmd_read_source(const char *spec);

/* Library result checks: return p / do nothing on success, else
 * cmd_fail_lib(context). */
tt_tensor *cmd_check(tt_tensor *t, const char *context);
void cmd_check_status(tt_status st, const char *context);

/* ---- memory, for commands: out of memory is fatal (exit 1) ------------------ */
void *cmd_xcalloc(size_t n, size_t size);
char *cmd_xstrdup(const char *s);
char *cmd_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- expressions and bindings (tg-grad, tg-graph, tg-check, tg-fit) ---------- */
/* A C identifier: letters, digits and '_', not starting with a digit. */
bool cmd_is_identifier(const char *s, size_t n);

/* A list of names from repeatable, comma-separated options ("--wrt x,w"). */
typedef struct {
    char **names;
    int n;
} cmd_names;
/* Appends the names in arg; an empty, invalid or repeated name is a usage
 * error naming opt. */
void cmd_names_add(cmd_names *list, const char *opt, const char *arg);
/* Appends the n bytes at s as one name (no checks); the index of s, or -1. */
void cmd_names_append(cmd_names *list, const char *s, size_t n);
int cmd_names_find(const cmd_names *list, const char *s);
void cmd_names_free(cmd_names *list);
/* The names bound in env, "x, w" (malloc'd; "none" when empty). */
char *cmd_env_names(const tg_env *env);

/* Fails on an error from the expression layer: text that cannot be read
 * (TT_ESYNTAX: a syntax error in -e or a binding) is a usage error, exit 2;
 * anything found while reading or evaluating is exit 1. `context` ("-e",
 * "--grad-output") is put first unless NULL or already in the message. */
_Noreturn void cmd_expr_fail(const char *context);
/* Binds the NAME=VALUE words in order (standard input is read once by the
 * environment, however many "-:DATASET" sources use it); a word that is not
 * NAME=VALUE is a usage error. */
void cmd_bind_all(tg_env *env, int n, char *const *words);

#endif
