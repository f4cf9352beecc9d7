/* libFuzzer harness: HDF5 input through tg's containment (tg/guard.h,
 * cmd/guard.c).
 *
 * libhdf5 is not instrumented and has known crashes and endless loops on
 * damaged files, so it never runs in the fuzzer's process: each input is read
 * in a forked child that installs the commands' guard (cmd_init, as every
 * tg command does) and reads the way the commands and the library do: /x and
 * /y by name (tg-fit), the only dataset (a binding without a dataset), every
 * dataset listed, the root attributes; then shuts libhdf5 down as a command's
 * exit does. The parent judges the child:
 *   exit 0             read, or refused with a library error: fine;
 *   exit 1 with "the file is damaged" on stderr
 *                      the guard turned a fault or a hang inside libhdf5 into
 *                      the commands' error: fine (contained);
 *   exit 3             AddressSanitizer saw libhdf5 corrupt memory inside the
 *                      guard: counted, not a finding here (an uninstrumented
 *                      build may not notice; README says what that means);
 *   anything else      a fault outside the guard, a sanitizer report in tg's
 *                      own code, a hang the watchdog missed: a finding (abort,
 *                      and libFuzzer keeps the input as crash-*).
 * The child's coverage stays in the child; the parent gives libFuzzer one
 * feature per distinct outcome of each step (its status and message, numbers
 * dropped), so inputs that reach new errors inside libhdf5 join the corpus. */
#define _GNU_SOURCE /* memfd_create */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>
#include <sanitizer/common_interface_defs.h>

#include "cmd.h"
#include "guard.h"
#include "tg/guard.h"
#include "tg/io.h"

/* The child's step allowance (TG_STALL_SECONDS); the parent's own limit on a
 * child, far above it, catches a hang the watchdog misses. */
#define CHILD_STALL "0.25"
#define CHILD_WALL_LIMIT 60
enum { EXIT_ASAN_IN_HDF5 = 3, EXIT_SANITIZER = 86 };

const char *__asan_default_options(void)
{
    return "exitcode=86:detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=1024";
}

enum { NFEATURES = 1 << 12 };
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t features[NFEATURES];

static struct {
    long inputs, handled, contained, hangs, asan_in_hdf5;
} stats;

static int out_fd = -1, err_fd = -1; /* the child's step log and stderr */

/* ---- the child -------------------------------------------------------------------- */

static pthread_t reader;

/* The guard's clean-up hook, run just before it exits: from the watchdog
 * thread for a hang, from the signal handler on the reader for a fault. */
static void guard_exit(void)
{
    static const char hang[] = "guard hang\n", fault[] = "guard fault\n";
    bool is_hang = !pthread_equal(pthread_self(), reader);
    if (write(out_fd, is_hang ? hang : fault, is_hang ? sizeof hang - 1 : sizeof fault - 1) < 0) return;
}

static void asan_died(void)
{
    if (tt_guard_here()) _exit(EXIT_ASAN_IN_HDF5);
}

/* One line per step: "step ok", or "step STATUS message" with the label and digits dropped. */
static void note(const char *step, bool ok)
{
    char line[256];
    const char *msg = tt_last_error() ? tt_last_error() : "";
    if (!strncmp(msg, "input", 5)) msg += 5;
    int n = snprintf(line, sizeof line, "%s %d ", step, ok ? 0 : (int)tt_last_status());
    for (const char *p = msg; !ok && *p && n < (int)sizeof line - 2; p++)
        if (!isdigit((unsigned char)*p)) line[n++] = *p;
    line[n++] = '\n';
    if (write(out_fd, line, (size_t)n) < 0) _exit(EXIT_SANITIZER);
}

static void read_one(tt_source *src, const char *name, const char *step)
{
    tt_tensor *t = tt_source_read(src, name);
    note(step, t != NULL);
    tt_release(t);
}

static _Noreturn void child(const uint8_t *data, size_t size)
{
    alarm(CHILD_WALL_LIMIT); /* a hang the watchdog misses ends in SIGALRM */
    dup2(err_fd, STDERR_FILENO);
    __sanitizer_set_death_callback(asan_died);
    setenv("TG_STALL_SECONDS", CHILD_STALL, 1);
    char *argv[] = {"tg-fuzz-h5", NULL};
    cmd_init("tg-fuzz-h5", 1, argv);
    reader = pthread_self();
    cmd_guard_set_cleanup(guard_exit);
    tt_source *src = tt_source_open_bytes(data, size, "input");
    note("open", src != NULL);
    if (src) {
        read_one(src, "x", "x");
        read_one(src, "y", "y");
        read_one(src, NULL, "only");
        char *const *names;
        int n = 0;
        bool listed = tt_source_names(src, &names, &n) == TT_OK;
        note("names", listed);
        for (int i = 0; listed && i < n && i < 16; i++) read_one(src, names[i], "dataset");
        tt_tensor_set *set = tt_set_new();
        note("attrs", set && tt_source_read_attrs(src, set) == TT_OK);
        tt_set_free(set);
        tt_source_close(src);
    }
    H5close(); /* what a command's exit does (libhdf5's atexit), outside the guard */
    _exit(0);
}

/* ---- the parent ------------------------------------------------------------------- */

static char *slurp_fd(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    char *s = malloc(len > 0 ? (size_t)len + 1 : 1);
    if (!s) abort();
    ssize_t got = len > 0 ? pread(fd, s, (size_t)len, 0) : 0;
    s[got > 0 ? got : 0] = 0;
    return s;
}

/* One feature per line of the child's step log. Not the guard's own lines:
 * whether a runaway step ends as a fault or as a hang, and whether ASan sees
 * it first, can depend on timing, and features must not (fixed runs). */
static void count_features(const char *log)
{
    for (const char *p = log; *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!strncmp(p, "guard ", 6)) {
            p += n + (end != NULL);
            continue;
        }
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
        if (features[h % NFEATURES] < 255) features[h % NFEATURES]++;
        p += n + (end != NULL);
    }
}

static void print_stats(void)
{
    if (stats.inputs)
        fprintf(stderr,
                "fuzz_h5: %ld inputs: %ld read or refused with an error, %ld contained by the guard (%ld of them "
                "hangs), %ld memory errors inside libhdf5 seen by ASan\n",
                stats.inputs, stats.handled, stats.contained, stats.hangs, stats.asan_in_hdf5);
}

/* Has hay the needle? (strstr would feed libFuzzer's comparison hooks.) */
__attribute__((no_sanitize("coverage"))) static bool has(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncmp(hay, needle, n)) return true;
    return false;
}

/* Waits for the child and judges it, aborting on a finding; true when the
 * input read (or was refused with an error), false when the guard contained
 * it. Not instrumented: how long the wait takes, and whether a runaway step
 * ends as a fault, a hang or an ASan report, can depend on timing, and none of
 * it may become coverage (the runs of make fuzz are fixed). *log_out: the
 * child's step log (malloc'd). */
__attribute__((no_sanitize("coverage"))) static bool judge(pid_t pid, char **log_out)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) abort();
    char *log = *log_out = slurp_fd(out_fd), *err = slurp_fd(err_fd);
    stats.inputs++;
    bool exited = WIFEXITED(status);
    int code = exited ? WEXITSTATUS(status) : -1;
    bool handled = code == 0;
    if (handled) stats.handled++;
    else if (code == 1 && has(err, ": input: the file is damaged (the HDF5 library failed reading it)")) {
        stats.contained++;
        if (has(log, "guard hang")) stats.hangs++;
    } else if (code == EXIT_ASAN_IN_HDF5) stats.asan_in_hdf5++;
    else {
        fprintf(stderr, "%s", err);
        if (exited) fprintf(stderr, "fuzz_h5: the child exited with status %d: not contained\n", code);
        else if (WTERMSIG(status) == SIGALRM)
            fprintf(stderr, "fuzz_h5: the child ran %d s: a hang the watchdog did not catch\n", CHILD_WALL_LIMIT);
        else fprintf(stderr, "fuzz_h5: the child died of signal %d: not contained\n", WTERMSIG(status));
        abort();
    }
    free(err);
    return handled;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (out_fd < 0) {
        out_fd = memfd_create("fuzz_h5-steps", 0);
        err_fd = memfd_create("fuzz_h5-stderr", 0);
        if (out_fd < 0 || err_fd < 0) abort();
        atexit(print_stats);
        H5open(); /* the children inherit a started library: no untrusted bytes here */
    }
    if (ftruncate(out_fd, 0) || ftruncate(err_fd, 0)) abort();
    lseek(out_fd, 0, SEEK_SET);
    lseek(err_fd, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) child(data, size);
    char *log;
    bool handled = judge(pid, &log);
    count_features(log);
    count_features(handled ? "read or refused" : "contained");
    free(log);
    return 0;
}
