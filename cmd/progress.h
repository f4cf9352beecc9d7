/* Progress on standard error, as pv draws it: one line redrawn in place,
 * only on a terminal and only for work long enough to matter. tg-gen counts
 * points written, tg-fit steps made.
 *
 * When: --no-progress never; --progress whenever standard error is a terminal,
 * from the first frame; by default when standard error is a terminal and TERM
 * names one that is not "dumb", once the work has run CMD_PROGRESS_DELAY
 * seconds. Never into a pipe or a file. With TERM=dumb or unset the line is
 * overwritten with carriage returns and spaces, no escape codes. */
#ifndef TG_CMD_PROGRESS_H
#define TG_CMD_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cmd.h"

#define CMD_PROGRESS_DELAY 0.5

typedef enum { CMD_PROGRESS_AUTO, CMD_PROGRESS_ON, CMD_PROGRESS_OFF } cmd_progress_mode;

/* The options, for a command's getopt_long table, and their help lines. */
#define CMD_PROGRESS_LONGOPTS \
    {"progress", no_argument, NULL, CMD_OPT_PROGRESS}, { "no-progress", no_argument, NULL, CMD_OPT_NO_PROGRESS }
#define CMD_PROGRESS_HELP                                                           \
    "      --progress         show progress on standard error whenever it is a\n"   \
    "                         terminal (default: on a terminal whose TERM is not\n" \
    "                         dumb, for work that runs over half a second)\n"       \
    "      --no-progress      never show progress\n"
/* Sets *mode when opt is CMD_OPT_PROGRESS or CMD_OPT_NO_PROGRESS (true), else false. */
bool cmd_progress_option(int opt, cmd_progress_mode *mode);

typedef struct {
    bool on;      /* may draw at all */
    bool plain;   /* no escape codes */
    double delay; /* seconds of work before the first frame */
    bool shown;   /* a line is on the screen */
    int len;      /* its length */
    struct timespec start, last;
    /* The rate is measured from the first frame on, not from the start (which
     * carries the start-up): the first ETA is then not absurd. */
    bool have_ref;
    int64_t ref_done;
    struct timespec ref;
} cmd_progress;

/* Starts the clock; decides from mode, standard error and TERM. */
void cmd_progress_start(cmd_progress *p, cmd_progress_mode mode);
/* A frame is due: drawing is on, the delay has passed, and 0.1 s went by
 * since the last frame (or `last`: the work's final frame, drawn when the
 * line is already shown or the delay passed). */
bool cmd_progress_due(cmd_progress *p, bool last);
/* The work done per second since the first frame, 0 until it has been
 * measured over a tenth of a second and two units; `done` counts from 0. */
double cmd_progress_rate(cmd_progress *p, int64_t done);
/* "ETA 1:05" (or "ETA 1:02:05", "ETA --:--" at rate 0) into buf. */
void cmd_progress_eta(char *buf, size_t cap, int64_t left, double rate);
/* Draws line over the last one and flushes. */
void cmd_progress_draw(cmd_progress *p, const char *line);
/* Blanks the line, if shown, before other output. */
void cmd_progress_clear(cmd_progress *p);
/* pv's counting line: "12.6M/100M points  12%  4.20M points/s  ETA 0:21". */
void cmd_progress_count(cmd_progress *p, int64_t done, int64_t total, const char *unit);

#endif
