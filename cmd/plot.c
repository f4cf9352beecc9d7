/* SVG plots for the commands; see plot.h. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIG_W 1100
#define FIG_H 470
#define RESID_TOP (PANEL_TOP + PANEL_H + 62)
#define RESID_H 150
#define FIG_H_RESID (RESID_TOP + RESID_H + 58)
#define PANEL_TOP 52
#define PANEL_H 340
#define PANEL_W 440
#define LEFT_X 80
#define RIGHT_X 630
#define MAX_DOTS 20000

typedef struct {
    double px, py, pw, ph;     /* the plotting area, in SVG units */
    double xlo, xhi, ylo, yhi; /* ylo/yhi are log10 values when ylog */
    bool ylog;
} panel;

static double map_x(const panel *p, double x) { return p->px + (x - p->xlo) / (p->xhi - p->xlo) * p->pw; }

static double map_y(const panel *p, double y)
{
    double v = p->ylog ? log10(y) : y;
    return p->py + p->ph - (v - p->ylo) / (p->yhi - p->ylo) * p->ph;
}

/* Text with &, <, >, " escaped. */
static void put_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A tick step of 1, 2 or 5 times a power of ten giving about `target` ticks. */
static double nice_step(double span, int target)
{
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double frac = raw / mag;
    return (frac < 1.5 ? 1 : frac < 3 ? 2 : frac < 7 ? 5 : 10) * mag;
}

/* A tick label: fixed decimals that show the step, %g for very large or
 * small numbers. */
static void tick_label(char *buf, size_t n, double v, double step, double maxabs)
{
    if (fabs(v) < step * 1e-9) v = 0;
    if (maxabs >= 1e6 || step < 1e-4) {
        int prec = (int)ceil(log10(maxabs / step)) + 1;
        if (prec < 1) prec = 1;
        if (prec > 10) prec = 10;
        snprintf(buf, n, "%.*g", prec, v);
        return;
    }
    int dec = (int)(-floor(log10(step) + 1e-9));
    if (dec < 0) dec = 0;
    snprintf(buf, n, "%.*f", dec, v);
}

/* The range [lo, hi] padded by 5% (or widened when empty). */
static void pad_range(double *lo, double *hi)
{
    if (!(*lo <= *hi)) { /* no finite values */
        *lo = 0;
        *hi = 1;
        return;
    }
    double span = *hi - *lo;
    if (span <= fabs(*hi) * 1e-12 || span == 0) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
        *lo -= d;
        *hi += d;
        return;
    }
    *lo -= span * 0.05;
    *hi += span * 0.05;
}

static void frame(FILE *f, const panel *p, int id)
{
    fprintf(f, "<clipPath id=\"clip%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n", id,
            p->px, p->py, p->pw, p->ph);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#444\"/>\n", p->px,
            p->py, p->pw, p->ph);
}

/* Linear ticks, grid lines and labels on the x axis. */
static void x_axis(FILE *f, const panel *p, const char *label, bool integers)
{
    double step = nice_step(p->xhi - p->xlo, 6);
    if (integers && step < 1) step = 1;
    double maxabs = fmax(fabs(p->xlo), fabs(p->xhi));
    for (double t = ceil(p->xlo / step) * step; t <= p->xhi + step * 1e-9; t += step) {
        double sx = map_x(p, t);
        char buf[64];
        tick_label(buf, sizeof buf, t, step, maxabs);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", sx, p->py, sx,
                p->py + p->ph);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", sx, p->py + p->ph, sx,
                p->py + p->ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", sx, p->py + p->ph + 19, buf);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->px + p->pw / 2, p->py + p->ph + 40);
    put_text(f, label);
    fputs("</text>\n", f);
}

static void y_label(FILE *f, const panel *p, const char *label)
{
    double cx = p->px - 52, cy = p->py + p->ph / 2;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">", cx, cy, cx,
            cy);
    put_text(f, label);
    fputs("</text>\n", f);
}

static void y_tick(FILE *f, const panel *p, double sy, bool major)
{
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", p->px, sy, p->px + p->pw, sy,
            major ? "#e4e4e4" : "#f3f3f3");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", p->px - (major ? 5 : 3), sy,
            p->px, sy);
}

static void y_axis(FILE *f, const panel *p, const char *label)
{
    if (!p->ylog) {
        double step = nice_step(p->yhi - p->ylo, 6);
        double maxabs = fmax(fabs(p->ylo), fabs(p->yhi));
        for (double t = ceil(p->ylo / step) * step; t <= p->yhi + step * 1e-9; t += step) {
            double sy = map_y(p, t);
            char buf[64];
            tick_label(buf, sizeof buf, t, step, maxabs);
            y_tick(f, p, sy, true);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->px - 8, sy + 4, buf);
        }
    } else {
        int d0 = (int)lround(p->ylo), d1 = (int)lround(p->yhi);
        int every = (d1 - d0 + 7) / 8; /* at most about 8 labelled decades */
        if (every < 1) every = 1;
        for (int d = d0; d <= d1; d++) {
            if (every == 1 && d < d1 && d1 - d0 <= 6)
                for (int m = 2; m <= 9; m++) y_tick(f, p, map_y(p, m * pow(10, d)), false);
            if ((d - d0) % every) continue;
            double sy = map_y(p, pow(10, d));
            y_tick(f, p, sy, true);
            if (d >= -2 && d <= 3) {
                char buf[32];
                snprintf(buf, sizeof buf, "%.*f", d < 0 ? -d : 0, pow(10, d));
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->px - 8, sy + 4, buf);
            } else {
                fprintf(f,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">10<tspan dy=\"-6\" "
                        "font-size=\"10\">%d</tspan></text>\n",
                        p->px - 8, sy + 6, d);
            }
        }
    }
    y_label(f, p, label);
}

static void title(FILE *f, const panel *p, const char *text)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">",
            p->px + p->pw / 2, p->py - 14.0);
    put_text(f, text);
    fputs("</text>\n", f);
}

/* ---- the left panel: data and fitted curve ------------------------------ */

/* Vertical error bars v -/+ e at the points (every stride-th). */
static void error_bars(FILE *f, const panel *p, const plot_fit *d, const double *v, int64_t stride, int clip)
{
    fprintf(f, "<g clip-path=\"url(#clip%d)\" stroke=\"#1f77b4\" stroke-opacity=\"0.55\" stroke-width=\"1\">\n", clip);
    for (int64_t i = 0; i < d->n; i += stride)
        if (isfinite(d->x[i]) && isfinite(v[i]) && isfinite(d->sigma[i])) {
            double sx = map_x(p, d->x[i]);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", sx, map_y(p, v[i] - d->sigma[i]),
                    sx, map_y(p, v[i] + d->sigma[i]));
        }
    fputs("</g>\n", f);
}

/* The x range of the data (padded). */
static void data_x_range(const plot_fit *d, double *xlo, double *xhi)
{
    *xlo = INFINITY, *xhi = -INFINITY;
    for (int64_t i = 0; i < d->n; i++)
        if (isfinite(d->x[i]) && isfinite(d->y[i])) *xlo = fmin(*xlo, d->x[i]), *xhi = fmax(*xhi, d->x[i]);
    pad_range(xlo, xhi);
}

/* ---- under the data: the residuals y - fit ------------------------------ */

static void resid_panel(FILE *f, const plot_fit *d)
{
    double xlo, xhi, ylo = INFINITY, yhi = -INFINITY;
    data_x_range(d, &xlo, &xhi);
    for (int64_t i = 0; i < d->n; i++)
        if (isfinite(d->resid[i])) {
            double e = d->sigma && isfinite(d->sigma[i]) ? d->sigma[i] : 0;
            ylo = fmin(ylo, d->resid[i] - e), yhi = fmax(yhi, d->resid[i] + e);
        }
    double m = fmax(fabs(ylo), fabs(yhi)); /* symmetric about zero */
    ylo = -m, yhi = m;
    pad_range(&ylo, &yhi);
    panel p = {LEFT_X, RESID_TOP, PANEL_W, RESID_H, xlo, xhi, ylo, yhi, false};
    frame(f, &p, 3);
    x_axis(f, &p, d->xlabel ? d->xlabel : "x", false);
    y_axis(f, &p, "residual (y - fit)");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n",
            p.px, map_y(&p, 0), p.px + p.pw, map_y(&p, 0));
    int64_t stride = d->n > MAX_DOTS ? (d->n + MAX_DOTS - 1) / MAX_DOTS : 1;
    if (d->sigma) error_bars(f, &p, d, d->resid, stride, 3);
    fprintf(f, "<g clip-path=\"url(#clip3)\" fill=\"#1f77b4\" fill-opacity=\"0.75\" stroke=\"none\">\n");
    for (int64_t i = 0; i < d->n; i += stride)
        if (isfinite(d->x[i]) && isfinite(d->resid[i]))
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2\"/>\n", map_x(&p, d->x[i]), map_y(&p, d->resid[i]));
    fputs("</g>\n", f);
}

static void data_panel(FILE *f, const plot_fit *d)
{
    double xlo, xhi, ylo = INFINITY, yhi = -INFINITY;
    data_x_range(d, &xlo, &xhi);
    for (int64_t i = 0; i < d->n; i++)
        if (isfinite(d->x[i]) && isfinite(d->y[i])) {
            double e = d->sigma && isfinite(d->sigma[i]) ? d->sigma[i] : 0;
            ylo = fmin(ylo, d->y[i] - e), yhi = fmax(yhi, d->y[i] + e);
        }
    /* The curve widens the y range a little at most: it is clipped anyway. */
    double span = yhi - ylo;
    for (int64_t i = 0; i < d->ncurve; i++)
        if (isfinite(d->cy[i]) && span >= 0) {
            if (d->cy[i] < ylo && d->cy[i] > ylo - span / 2) ylo = d->cy[i];
            if (d->cy[i] > yhi && d->cy[i] < yhi + span / 2) yhi = d->cy[i];
        }
    pad_range(&ylo, &yhi);
    panel p = {LEFT_X, PANEL_TOP, PANEL_W, PANEL_H, xlo, xhi, ylo, yhi, false};
    frame(f, &p, 1);
    x_axis(f, &p, d->xlabel ? d->xlabel : "x", false);
    y_axis(f, &p, d->ylabel ? d->ylabel : "y");
    if (d->title) title(f, &p, d->title);

    /* Dots: every point up to MAX_DOTS, else an even subsample. */
    int64_t stride = d->n > MAX_DOTS ? (d->n + MAX_DOTS - 1) / MAX_DOTS : 1;
    if (d->sigma) error_bars(f, &p, d, d->y, stride, 1);
    double r = d->n > 2000 ? 1.6 : d->n > 300 ? 2.2 : 3.2;
    fprintf(f, "<g clip-path=\"url(#clip1)\" fill=\"#1f77b4\" fill-opacity=\"%.2f\" stroke=\"none\">\n",
            d->n > 2000 ? 0.45 : 0.75);
    for (int64_t i = 0; i < d->n; i += stride)
        if (isfinite(d->x[i]) && isfinite(d->y[i]))
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\"/>\n", map_x(&p, d->x[i]), map_y(&p, d->y[i]), r);
    fputs("</g>\n", f);

    if (d->ncurve > 1) {
        fputs(
            "<polyline clip-path=\"url(#clip1)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2.5\" "
            "stroke-linejoin=\"round\" points=\"",
            f);
        for (int64_t i = 0; i < d->ncurve; i++)
            if (isfinite(d->cx[i]) && isfinite(d->cy[i])) {
                double sy = map_y(&p, d->cy[i]);
                sy = fmax(p.py - 1000, fmin(p.py + p.ph + 1000, sy)); /* keep huge values drawable */
                fprintf(f, "%.2f,%.2f ", map_x(&p, d->cx[i]), sy);
            }
        fputs("\"/>\n", f);
    }

    /* Legend in the upper corner with fewer points under it. */
    double lw = 190, lh = 44;
    int64_t in_left = 0, in_right = 0;
    for (int64_t i = 0; i < d->n; i += stride) {
        double sx = map_x(&p, d->x[i]), sy = map_y(&p, d->y[i]);
        if (sy < p.py + lh + 12) {
            if (sx < p.px + lw + 12) in_left++;
            if (sx > p.px + p.pw - lw - 12) in_right++;
        }
    }
    double lx = in_left <= in_right ? p.px + 8 : p.px + p.pw - lw - 8, ly = p.py + 8;
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" fill-opacity=\"0.85\" "
            "stroke=\"#bbb\"/>\n",
            lx, ly, lw, lh);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"#1f77b4\"/>\n", lx + 16, ly + 14);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 32, ly + 18);
    put_text(f, d->data_label ? d->data_label : "data");
    fputs("</text>\n", f);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"2.5\"/>\n",
            lx + 6, ly + 32, lx + 26, ly + 32);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 32, ly + 36);
    put_text(f, d->curve_label ? d->curve_label : "fit");
    fputs("</text>\n", f);
}

/* ---- the right panel: loss by step -------------------------------------- */

static void loss_panel(FILE *f, const plot_fit *d)
{
    double lo = INFINITY, hi = -INFINITY;
    bool positive = true;
    for (int64_t i = 0; i < d->nloss; i++)
        if (isfinite(d->loss[i])) {
            lo = fmin(lo, d->loss[i]), hi = fmax(hi, d->loss[i]);
            if (!(d->loss[i] > 0)) positive = false;
        }
    bool any = lo <= hi;
    panel p = {RIGHT_X, PANEL_TOP, PANEL_W, PANEL_H, 0, 1, 0, 1, false};
    if (any && positive) {
        p.ylog = true;
        p.ylo = floor(log10(lo));
        p.yhi = ceil(log10(hi));
        if (p.yhi - p.ylo < 1) p.yhi = p.ylo + 1;
    } else if (any) {
        p.ylo = lo, p.yhi = hi;
        pad_range(&p.ylo, &p.yhi);
    }
    p.xlo = d->nloss > 1 ? 1 : 0;
    p.xhi = d->nloss > 1 ? (double)d->nloss : 2;
    frame(f, &p, 2);
    x_axis(f, &p, "step", true);
    y_axis(f, &p, p.ylog ? "loss (log scale)" : "loss");
    title(f, &p, d->loss_title ? d->loss_title : "loss");
    if (!any) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#666\">", p.px + p.pw / 2,
                p.py + p.ph / 2);
        put_text(f, d->loss_note ? d->loss_note : "no loss history");
        fputs("</text>\n", f);
        return;
    }
    /* A noisy curve (SGD's per-batch losses: many steps go up) is drawn
     * faint, with its moving average (geometric on a log scale) over it. */
    int64_t ups = 0;
    for (int64_t i = 1; i < d->nloss; i++) ups += d->loss[i] > d->loss[i - 1] * 1.05;
    bool noisy = d->nloss >= 50 && ups * 5 > d->nloss;
    /* Each pixel column draws the first, lowest and highest value of its
     * steps: a noisy SGD curve keeps its envelope, a long one stays small. */
    fprintf(f,
            "<polyline clip-path=\"url(#clip2)\" fill=\"none\" stroke=\"#2ca02c\" stroke-width=\"%s\" "
            "stroke-opacity=\"%s\" stroke-linejoin=\"round\" points=\"",
            noisy ? "1" : "1.8", noisy ? "0.35" : "1");
    int64_t cols = (int64_t)p.pw * 2;
    if (d->nloss <= cols) {
        for (int64_t i = 0; i < d->nloss; i++)
            if (isfinite(d->loss[i]))
                fprintf(f, "%.2f,%.2f ", d->nloss > 1 ? map_x(&p, (double)(i + 1)) : p.px + p.pw / 2,
                        map_y(&p, d->loss[i]));
    } else {
        for (int64_t c = 0; c < cols; c++) {
            int64_t a = d->nloss * c / cols, b = d->nloss * (c + 1) / cols;
            double mn = INFINITY, mx = -INFINITY;
            int64_t imn = a, imx = a;
            for (int64_t i = a; i < b; i++)
                if (isfinite(d->loss[i])) {
                    if (d->loss[i] < mn) mn = d->loss[i], imn = i;
                    if (d->loss[i] > mx) mx = d->loss[i], imx = i;
                }
            if (!(mn <= mx)) continue;
            int64_t first = imn < imx ? imn : imx, second = imn < imx ? imx : imn;
            fprintf(f, "%.2f,%.2f ", map_x(&p, (double)(first + 1)), map_y(&p, d->loss[first]));
            if (second != first) fprintf(f, "%.2f,%.2f ", map_x(&p, (double)(second + 1)), map_y(&p, d->loss[second]));
        }
    }
    fputs("\"/>\n", f);
    if (noisy) {
        int64_t win = d->nloss / 50 > 5 ? d->nloss / 50 : 5;
        int64_t every = d->nloss / cols + 1;
        double acc = 0;
        int64_t cnt = 0;
        fputs(
            "<polyline clip-path=\"url(#clip2)\" fill=\"none\" stroke=\"#0b4f0b\" stroke-width=\"2.2\" "
            "stroke-linejoin=\"round\" points=\"",
            f);
        for (int64_t i = 0; i < d->nloss; i++) {
            double v = isfinite(d->loss[i]) ? (p.ylog ? log(d->loss[i]) : d->loss[i]) : 0;
            acc += v, cnt++;
            if (i >= win) {
                double u = d->loss[i - win];
                acc -= isfinite(u) ? (p.ylog ? log(u) : u) : 0, cnt--;
            }
            if (i + 1 >= win && ((i + 1 - win) % every == 0 || i == d->nloss - 1)) {
                double m = acc / (double)cnt;
                fprintf(f, "%.2f,%.2f ", map_x(&p, (double)(i + 1) - (double)win / 2), map_y(&p, p.ylog ? exp(m) : m));
            }
        }
        fputs("\"/>\n", f);
        double lx = p.px + p.pw - 218, ly = p.py + 8;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"210\" height=\"44\" fill=\"white\" fill-opacity=\"0.85\" "
                "stroke=\"#bbb\"/>\n"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" stroke-opacity=\"0.5\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\">each step (its batch)</text>\n"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#0b4f0b\" stroke-width=\"2.2\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\">mean of %lld steps</text>\n",
                lx, ly, lx + 6, ly + 14, lx + 26, ly + 14, lx + 32, ly + 18, lx + 6, ly + 32, lx + 26, ly + 32, lx + 32,
                ly + 36, (long long)win);
    }
    if (d->nloss == 1)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#2ca02c\"/>\n", p.px + p.pw / 2,
                map_y(&p, d->loss[0]));
    else if (d->nloss <= 30) /* few steps (the default's): mark each */
        for (int64_t i = 0; i < d->nloss; i++)
            if (isfinite(d->loss[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#2ca02c\"/>\n", map_x(&p, (double)(i + 1)),
                        map_y(&p, d->loss[i]));
}

char *plot_fit_svg(const plot_fit *d, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\" fill=\"#222\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            FIG_W, d->resid ? FIG_H_RESID : FIG_H, FIG_W, d->resid ? FIG_H_RESID : FIG_H);
    data_panel(f, d);
    if (d->resid) resid_panel(f, d);
    loss_panel(f, d);
    fputs("</svg>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    if (len) *len = n;
    return buf;
}
