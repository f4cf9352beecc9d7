/* The guard around libhdf5 (tg/guard.h) and the commands' side of it
 * (cmd/guard.c): files on which libhdf5 1.10.8 faults, overflows its stack or
 * loops for ever are read whole (attributes too, as tt_read_path does) in a
 * forked child that installs the guard as a command does; the child must end
 * with exit 1 and "tg-test: FILE: the file is damaged ...", its clean-up hook
 * run, within a few seconds. A fault outside the guard must stay a fault.
 * Linked with cmd/cmd.o and cmd/guard.o (the Makefile's rule for it). */
#define _XOPEN_SOURCE 700 /* kill */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cmd.h"
#include "guard.h"
#include "tg/guard.h"
#include "tg/io.h"

/* tests/damaged-h5/NAME (a static buffer). */
static const char *damaged(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "tests/damaged-h5/%s", name);
    return repo_path(rel);
}

static int hook_fd = -1;
static void cleanup_hook(void)
{
    if (write(hook_fd, "cleaned", 7) < 0) _exit(99);
}

typedef enum { READ_ALL, RAISE_OUTSIDE } child_job;

typedef struct {
    int status;     /* from waitpid */
    char err[1024]; /* the child's stderr */
    bool cleaned;   /* its clean-up hook ran */
    double seconds;
} outcome;

/* Runs job in a child with the guard installed; a child still running after
 * 60 s is killed (status SIGKILL): the guard missed a hang. */
static outcome in_child(child_job job, const char *path)
{
    outcome o = {0};
    int err[2], hook[2];
    if (pipe(err) || pipe(hook)) return o;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(err[1], STDERR_FILENO);
        close(err[0]);
        close(hook[0]);
        hook_fd = hook[1];
        setenv("TG_STALL_SECONDS", "0.2", 1);
        char *argv[] = {"tg-test", NULL};
        cmd_init("tg-test", 1, argv);
        cmd_guard_set_cleanup(cleanup_hook);
        if (job == RAISE_OUTSIDE) raise(SIGSEGV);
        tt_tensor_set *set = tt_read_path(path);
        tt_set_free(set);
        _exit(set ? 0 : 2);
    }
    close(err[1]);
    close(hook[1]);
    alarm(60); /* a SIGALRM would end the whole test: the guard missed a hang */
    waitpid(pid, &o.status, 0);
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    o.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    ssize_t n = read(err[0], o.err, sizeof o.err - 1);
    o.err[n > 0 ? n : 0] = 0;
    char buf[8];
    o.cleaned = read(hook[0], buf, sizeof buf) == 7;
    close(err[0]);
    close(hook[0]);
    return o;
}

static void check_contained(const char *name)
{
    const char *path = damaged(name);
    outcome o = in_child(READ_ALL, path);
    char want[512];
    snprintf(want, sizeof want, "tg-test: %s: the file is damaged (the HDF5 library failed reading it)\n", path);
    if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 1)
        FAILF("%s: the child ended with status %d (signal %d), stderr: %s", name,
              WIFEXITED(o.status) ? WEXITSTATUS(o.status) : -1, WIFSIGNALED(o.status) ? WTERMSIG(o.status) : 0, o.err);
    CHECK_STR(o.err, want);
    CHECK(o.cleaned);
}

TEST(outside_a_read_no_thread_is_inside)
{
    tt_guard_state st;
    CHECK(tt_guard_here() == NULL);
    CHECK(!tt_guard_peek(&st));
    tt_tensor_set *set = tt_read_path(damaged("../fixtures/h5py_written.h5"));
    CHECK(set != NULL);
    tt_set_free(set);
    CHECK(tt_guard_here() == NULL);
    CHECK(!tt_guard_peek(&st));
}

TEST(a_fault_inside_libhdf5_is_reported_as_damage)
{
    check_contained("d10-rc136.h5"); /* SIGFPE opening /x */
    /* A bad free listing the root group: valgrind's allocator reports it and goes on. */
    if (!RUNNING_ON_VALGRIND) check_contained("d12-rc139.h5");
}

TEST(a_stack_overflow_inside_libhdf5_is_reported_as_damage)
{
    check_contained("btree-self-rc139.h5"); /* a B-tree node that is its own child */
}

TEST(an_endless_loop_inside_libhdf5_is_reported_as_damage)
{
    check_contained("d08-rc124.h5"); /* a global heap that never ends, in the attributes */
}

TEST(a_fault_outside_the_guard_stays_a_fault)
{
    outcome o = in_child(RAISE_OUTSIDE, NULL);
#ifdef __SANITIZE_ADDRESS__
    /* AddressSanitizer's handler was there before the guard's: the fault goes on to it. */
    CHECK(WIFEXITED(o.status) && WEXITSTATUS(o.status) != 0 && strstr(o.err, "AddressSanitizer: SEGV"));
#else
    CHECK(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSEGV);
#endif
    CHECK(!strstr(o.err, "damaged"));
    CHECK(!o.cleaned);
}

int main(void)
{
    RUN(outside_a_read_no_thread_is_inside);
    RUN(a_fault_inside_libhdf5_is_reported_as_damage);
    RUN(a_stack_overflow_inside_libhdf5_is_reported_as_damage);
    RUN(an_endless_loop_inside_libhdf5_is_reported_as_damage);
    RUN(a_fault_outside_the_guard_stays_a_fault);
    return DONE();
}
