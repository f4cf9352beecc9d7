/* Progress on standard error (progress.h). */
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The least time between frames, and that a rate is measured over. */
#define FRAME_SECONDS 0.1

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

bool cmd_progress_option(int opt, cmd_progress_mode *mode)
{
    if (opt != CMD_OPT_PROGRESS && opt != CMD_OPT_NO_PROGRESS) return false;
    *mode = opt == CMD_OPT_PROGRESS ? CMD_PROGRESS_ON : CMD_PROGRESS_OFF;
    return true;
}

void cmd_progress_start(cmd_progress *p, cmd_progress_mode mode)
{
    memset(p, 0, sizeof *p);
    const char *term = getenv("TERM");
    bool dumb = !term || !*term || !strcmp(term, "dumb");
    bool tty = isatty(STDERR_FILENO);
    p->on = mode == CMD_PROGRESS_ON ? tty : mode == CMD_PROGRESS_AUTO && tty && !dumb;
    p->plain = dumb;
    p->delay = mode == CMD_PROGRESS_ON ? 0 : CMD_PROGRESS_DELAY;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
}

bool cmd_progress_due(cmd_progress *p, bool last)
{
    if (!p->on) return false;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!p->shown && since(&p->start, &now) < p->delay) return false;
    if (!last && p->shown && since(&p->last, &now) < FRAME_SECONDS) return false;
    p->last = now;
    return true;
}

double cmd_progress_rate(cmd_progress *p, int64_t done)
{
    if (!p->have_ref) {
        p->have_ref = true;
        p->ref_done = done;
        p->ref = p->last;
        return 0;
    }
    double el = since(&p->ref, &p->last);
    int64_t n = done - p->ref_done;
    return el >= FRAME_SECONDS && n >= 2 ? (double)n / el : 0;
}

void cmd_progress_eta(char *buf, size_t cap, int64_t left, double rate)
{
    if (!(rate > 0)) {
        snprintf(buf, cap, "ETA --:--");
        return;
    }
    long eta = lround((double)left / rate);
    if (eta >= 3600) snprintf(buf, cap, "ETA %ld:%02ld:%02ld", eta / 3600, eta / 60 % 60, eta % 60);
    else snprintf(buf, cap, "ETA %ld:%02ld", eta / 60, eta % 60);
}

void cmd_progress_draw(cmd_progress *p, const char *line)
{
    int len = (int)strlen(line);
    if (p->plain) /* overwrite the last line with this one, padded to its length */
        fprintf(stderr, "\r%s%*s", line, p->len > len ? p->len - len : 0, "");
    else fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    p->len = len;
    p->shown = true;
}

void cmd_progress_clear(cmd_progress *p)
{
    if (!p->shown) return;
    cmd_progress_draw(p, "");
    fputc('\r', stderr);
    fflush(stderr);
    p->shown = false;
}

/* n with an SI suffix, three significant digits: 950, 12.6k, 100M. */
static void si(char *buf, size_t cap, double n)
{
    static const char suffix[] = " kMGTPE";
    int k = 0;
    while (n >= 999.5 && k < 6) n /= 1000, k++;
    if (!k) snprintf(buf, cap, "%.0f", n);
    else snprintf(buf, cap, "%.*f%c", n < 9.995 ? 2 : n < 99.95 ? 1 : 0, n, suffix[k]);
}

void cmd_progress_count(cmd_progress *p, int64_t done, int64_t total, const char *unit)
{
    char d[16], t[16], r[16], eta[32], line[160];
    double rate = cmd_progress_rate(p, done);
    si(d, sizeof d, (double)done);
    si(t, sizeof t, (double)total);
    cmd_progress_eta(eta, sizeof eta, total - done, rate);
    int len = snprintf(line, sizeof line, "%s/%s %s  %3d%%", d, t, unit,
                       total > 0 ? (int)(100.0 * (double)done / (double)total) : 100);
    if (rate > 0) {
        si(r, sizeof r, rate);
        len += snprintf(line + len, sizeof line - (size_t)len, "  %s %s/s", r, unit);
    }
    snprintf(line + len, sizeof line - (size_t)len, "  %s", eta);
    cmd_progress_draw(p, line);
}
