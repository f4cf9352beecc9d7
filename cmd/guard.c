/* The commands' side of the guard around libhdf5; see guard.h. */
#define _XOPEN_SOURCE 700 /* sigaltstack, SA_ONSTACK */
#include "guard.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "tg/guard.h"

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
enum { NFATAL = sizeof fatal_signals / sizeof fatal_signals[0] };
static struct sigaction previous[NFATAL];
static void (*volatile cleanup_hook)(void);
static volatile int damaged_status = CMD_EXIT_FAILURE;

/* CPU seconds a step may take: the base, plus this much per byte it may touch. */
static double stall_base = 2.0;
static const double stall_per_byte = 1.0 / 20e6;

void cmd_guard_set_cleanup(void (*cleanup)(void)) { cleanup_hook = cleanup; }
void cmd_guard_set_status(int status) { damaged_status = status; }

/* ---- the way out: async-signal-safe ------------------------------------------- */

static size_t length(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void put(const char *s)
{
    for (size_t n = length(s); n > 0;) {
        ssize_t k = write(STDERR_FILENO, s, n);
        if (k <= 0) return;
        s += k;
        n -= (size_t)k;
    }
}

static _Noreturn void exit_damaged(const char *label)
{
    put(cmd_name);
    put(": ");
    put(label);
    put(": the file is damaged (the HDF5 library failed reading it)\n");
    void (*cleanup)(void) = cleanup_hook;
    if (cleanup) cleanup();
    _exit(damaged_status);
}

/* ---- faults -------------------------------------------------------------------- */

static void on_fault(int sig, siginfo_t *info, void *context)
{
    const char *label = tt_guard_here();
    if (label) exit_damaged(label);
    /* Not a read gone wrong: what was there before us, else the default action. */
    for (int i = 0; i < NFATAL; i++) {
        if (fatal_signals[i] != sig) continue;
        const struct sigaction *old = &previous[i];
        if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
            old->sa_sigaction(sig, info, context);
            return;
        }
        if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
            old->sa_handler(sig);
            return;
        }
    }
    /* Default action: a fault recurs when the handler returns; a sent signal is raised again. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0) raise(sig);
}

/* ---- hangs --------------------------------------------------------------------- */

static double seconds(const struct timespec *t) { return (double)t->tv_sec + (double)t->tv_nsec * 1e-9; }

/* The watchdog sleeps on a condition that the program's exit signals, so
 * that exit joins it at once (no thread left running: valgrind stays clean). */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_wake = PTHREAD_COND_INITIALIZER;
static bool watch_stop;
static pthread_t watch_thread;

/* Sleeps `tick` seconds; false when the program is exiting. */
static bool nap(double tick)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)(tick * 1e9);
    until.tv_sec += ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&watch_lock);
    while (!watch_stop && pthread_cond_timedwait(&watch_wake, &watch_lock, &until) == 0) {}
    bool go_on = !watch_stop;
    pthread_mutex_unlock(&watch_lock);
    return go_on;
}

static void stop_watchdog(void)
{
    pthread_mutex_lock(&watch_lock);
    watch_stop = true;
    pthread_cond_signal(&watch_wake);
    pthread_mutex_unlock(&watch_lock);
    pthread_join(watch_thread, NULL);
}

static void *watchdog(void *arg)
{
    (void)arg;
    double tick = stall_base / 4 < 0.1 ? stall_base / 4 : 0.1;
    uint64_t watched = 0; /* the step being timed, 0 for none */
    clockid_t clock;
    double start = 0;
    for (;;) {
        if (!nap(tick)) return NULL;
        tt_guard_state st;
        if (!tt_guard_peek(&st)) {
            watched = 0;
            continue;
        }
        struct timespec now;
        if (st.step != watched) {
            /* A new step: time it from here on, on the reading thread's CPU clock. */
            watched = 0;
            if (pthread_getcpuclockid(st.thread, &clock) != 0 || clock_gettime(clock, &now) != 0) continue;
            watched = st.step;
            start = seconds(&now);
            continue;
        }
        if (clock_gettime(clock, &now) != 0) continue;
        if (seconds(&now) - start > stall_base + (double)st.bytes * stall_per_byte) exit_damaged(st.label);
    }
    return NULL;
}

static void start_watchdog(void)
{
    /* It blocks every signal: those sent to the process go to the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 16);
    if (pthread_create(&watch_thread, &attr, watchdog, NULL) == 0) atexit(stop_watchdog);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Started on the first entry into the guard: a program that reads no HDF5 file runs no extra thread. */
static void start_watchdog_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_watchdog);
}

/* ---- installing ---------------------------------------------------------------- */

void cmd_guard_install(void)
{
    static bool installed;
    if (installed) return;
    installed = true;

    const char *env = getenv("TG_STALL_SECONDS");
    if (env && *env) stall_base = cmd_parse_positive_double("TG_STALL_SECONDS", env);

    /* The handler's own stack: a runaway recursion in libhdf5 ends in a fault on a full one. */
    static char altstack[1 << 16];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFATAL; i++) sigaction(fatal_signals[i], &sa, &previous[i]);

    tt_guard_set_enter_hook(start_watchdog_once);
}
