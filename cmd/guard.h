/* Damaged input never ends a command in a signal or a hang: a fault inside
 * libhdf5 on a file being read, or a step there that makes no progress,
 * ends as "tg-NAME: FILE: the file is damaged (the HDF5 library failed
 * reading it)", exit 1. The library marks where it is (tg/guard.h); this is
 * the commands' side: a fatal-signal handler and a watchdog thread.
 *
 * Faults: SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT, handled on an
 * alternate stack (a runaway recursion overflows the stack). Outside the
 * guard, or on another thread, a fault goes on to the handler that was there
 * before, else to the default action: tg's own crashes stay crashes.
 * Hangs: a step inside libhdf5 touches a bounded number of bytes (one call on
 * the file's metadata, or one slice of a dataset). The watchdog measures the
 * CPU time the reading thread spends in one step (not wall-clock time: a
 * loaded or stopped machine is not a hang), and a step that uses more than
 * TG_STALL_SECONDS (default 2) plus one second per 20 MB it may touch is a
 * loop. A long read is many steps, each within its allowance, however long
 * the whole. */
#ifndef TG_CMD_GUARD_H
#define TG_CMD_GUARD_H

/* Installs the handler and starts the watchdog; once per process (later calls
 * do nothing). Exits 2 on a TG_STALL_SECONDS that is not a positive number. */
void cmd_guard_install(void);

/* What to call before exiting on damage (removing temporary files): it must
 * be async-signal-safe, as it runs in the signal handler or the watchdog. */
void cmd_guard_set_cleanup(void (*cleanup)(void));
/* The exit status for a damaged file: 1 (CMD_EXIT_FAILURE) unless a command
 * says otherwise (tg-check: 2, trouble). */
void cmd_guard_set_status(int status);

#endif
