/* A small SVG writer for the commands' plots: axes with "nice" ticks, a
 * scatter with a curve over it, and a line on a linear or log10 scale.
 * Everything is written by hand (no dependency); the result is one
 * self-contained SVG document in memory. */
#ifndef TG_CMD_PLOT_H
#define TG_CMD_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The figure tg-fit draws: two panels side by side.
 * Left: the data (x, y) as dots and the fitted curve (cx, cy) over them.
 * Right: the loss after each step (steps 1..nloss), on a log10 scale when
 * every value is > 0, else a linear one; with nloss == 0 the panel says
 * `loss_note` instead (e.g. "closed form: no descent steps"). */
typedef struct {
    const double *x, *y;
    int64_t n;
    const double *cx, *cy;
    int64_t ncurve;
    const char *title; /* over the left panel, e.g. "y = 2.01*x + 2.98" */
    const char *xlabel, *ylabel;
    const char *data_label;  /* legend, e.g. "data (500 points)" */
    const char *curve_label; /* legend, e.g. "fit (line, mse)" */
    const double *sigma;     /* error bars y -/+ sigma at each point, or NULL */
    const double *resid;     /* y - fit at each point: a residual panel under the data, or NULL */
    const double *loss;
    int64_t nloss;
    const char *loss_title; /* over the right panel */
    const char *loss_note;
} plot_fit;

/* The SVG document (malloc'd, NUL-terminated, *len its length without the
 * NUL), or NULL when out of memory. Non-finite values are skipped. */
char *plot_fit_svg(const plot_fit *p, size_t *len);

#endif
