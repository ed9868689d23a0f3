/*
 * viz/plot.c - figures: panel layout, axes, ticks, line/marker series, image
 * plots with colorbars. See plot.h.
 *
 * Layout is a small tight_layout: each panel's box is its share of the
 * figure minus room for the title, the tick labels and the axis labels,
 * measured with an estimate of DejaVu Sans's advance width (0.62 em for
 * digits and most letters, which is what matplotlib's default font needs).
 */
#include "viz/plot.h"
#include "core/utf8.h"
#include "core/util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT_TICK 10.0
#define FONT_LABEL 10.0
#define FONT_TITLE 12.0
#define FONT_NOTE 9.0
#define TICK_LEN 3.5
#define TICK_PAD 3.5
#define LABEL_PAD 4.0
#define SPINE_W 0.8
#define MAX_IMG_COLS 4096
#define MAX_IMG_ROWS 2048

static const RGBA BLACK = {0, 0, 0, 1};

void fig_init(Figure *f, double w_inches, double h_inches, int rows, int cols) {
    memset(f, 0, sizeof *f);
    f->width = w_inches * 72;
    f->height = h_inches * 72;
    f->rows = rows;
    f->cols = cols;
    f->axes = xcalloc((size_t)rows * cols, sizeof *f->axes);
}

void fig_free(Figure *f) {
    if (!f || !f->axes) return;
    for (int i = 0; i < f->rows * f->cols; i++) {
        PlotAxes *ax = &f->axes[i];
        for (int k = 0; k < ax->n_series; k++) {
            free(ax->series[k].x);
            free(ax->series[k].y);
        }
        free(ax->series);
        free(ax->img);
    }
    free(f->axes);
    memset(f, 0, sizeof *f);
}

PlotAxes *fig_axes(Figure *f, int i) { return &f->axes[i]; }

void fig_set_banner(Figure *f, const char *text) { snprintf(f->banner, sizeof f->banner, "%s", text ? text : ""); }
void fig_set_id_prefix(Figure *f, const char *p) { snprintf(f->id_prefix, sizeof f->id_prefix, "%s", p ? p : ""); }

static int color_letter(char c, RGBA *out) {
    switch (c) {
    case 'k': *out = rgba(0, 0, 0, 1); return 1;
    case 'r': *out = rgba(1, 0, 0, 1); return 1;
    case 'g': *out = rgba(0, 0.5f, 0, 1); return 1;
    case 'b': *out = rgba(0, 0, 1, 1); return 1;
    case 'c': *out = rgba(0, 0.75f, 0.75f, 1); return 1;
    case 'm': *out = rgba(0.75f, 0, 0.75f, 1); return 1;
    case 'y': *out = rgba(0.75f, 0.75f, 0, 1); return 1;
    case 'w': *out = rgba(1, 1, 1, 1); return 1;
    }
    return 0;
}

int axes_plot(PlotAxes *ax, const double *x, const double *y, int n, const char *fmt, RGBA face, double linewidth,
              double alpha) {
    PlotSeries s;
    memset(&s, 0, sizeof s);
    s.color = rgba(0.12f, 0.47f, 0.71f, 1); /* matplotlib's C0 when no colour letter */
    for (const char *p = fmt ? fmt : "-"; *p; p++) {
        RGBA c;
        if (color_letter(*p, &c)) s.color = c;
        else if (*p == '-') s.line = 1;
        else if (strchr("os^vDx+.", *p)) s.marker = *p;
        else return err_set("plot format '%s': '%c' is not a colour, marker or '-'", fmt, *p);
    }
    if (!s.line && !s.marker) s.line = 1;
    s.face = face.a > 0 ? face : s.color;
    s.linewidth = linewidth > 0 ? linewidth : 1.5;
    s.markersize = 6;
    s.alpha = alpha > 0 ? alpha : 1;
    s.n = n;
    s.x = xmalloc(sizeof(double) * (n > 0 ? n : 1));
    s.y = xmalloc(sizeof(double) * (n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        s.x[i] = x ? x[i] : i;
        s.y[i] = y[i];
    }
    ax->series = xrealloc(ax->series, sizeof(PlotSeries) * (ax->n_series + 1));
    ax->series[ax->n_series++] = s;
    return 0;
}

void axes_set(PlotAxes *ax, const char *xlabel, const char *ylabel, const char *title) {
    if (xlabel) snprintf(ax->xlabel, sizeof ax->xlabel, "%s", xlabel);
    if (ylabel) snprintf(ax->ylabel, sizeof ax->ylabel, "%s", ylabel);
    if (title) snprintf(ax->title, sizeof ax->title, "%s", title);
}

void axes_note(PlotAxes *ax, const char *note) { snprintf(ax->note, sizeof ax->note, "%s", note ? note : ""); }

void axes_marker_size(PlotAxes *ax, double points) {
    if (ax->n_series > 0 && points > 0) ax->series[ax->n_series - 1].markersize = points;
}

void axes_image(PlotAxes *ax, const float *img, int rows, int cols, double vmin, double vmax, Colormap cm,
                int colorbar) {
    /* average over blocks of br x bc cells when the image is very large */
    int bc = (cols + MAX_IMG_COLS - 1) / MAX_IMG_COLS, br = (rows + MAX_IMG_ROWS - 1) / MAX_IMG_ROWS;
    if (bc < 1) bc = 1;
    if (br < 1) br = 1;
    int R = (rows + br - 1) / br, C = (cols + bc - 1) / bc;
    free(ax->img);
    ax->img = xmalloc((size_t)R * C);
    double span = vmax > vmin ? vmax - vmin : 1;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            double sum = 0;
            int cnt = 0;
            for (int i = r * br; i < (r + 1) * br && i < rows; i++)
                for (int j = c * bc; j < (c + 1) * bc && j < cols; j++) {
                    float v = img[(size_t)i * cols + j];
                    if (!isnan(v)) { sum += v; cnt++; }
                }
            double t = cnt ? (sum / cnt - vmin) / span : 0;
            /* the same index rule as cmap_color: floor(t * 256), clamped */
            int k = t <= 0 ? 0 : t * 256 >= 255 ? 255 : (int)(t * 256);
            ax->img[(size_t)r * C + c] = (unsigned char)k;
        }
    ax->img_rows = R;
    ax->img_cols = C;
    ax->data_rows = rows;
    ax->data_cols = cols;
    ax->vmin = vmin;
    ax->vmax = vmax;
    ax->cmap = cm;
    ax->colorbar = colorbar;
}

/* ---- ticks --------------------------------------------------------------- */

int plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step_out) {
    if (!(hi > lo)) hi = lo + 1;
    if (max_ticks < 1) max_ticks = 1;
    double raw = (hi - lo) / max_ticks;
    double mag = pow(10, floor(log10(raw)));
    static const double steps[] = {1, 2, 2.5, 5, 10};
    double step = 10 * mag;
    for (int i = 0; i < 5; i++)
        if (steps[i] * mag >= raw * (1 - 1e-9)) { step = steps[i] * mag; break; }
    int n = 0;
    double first = ceil(lo / step - 1e-9) * step;
    for (double v = first; v <= hi + step * 1e-9 && n < 32; v = first + n * step) {
        ticks[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    }
    *step_out = step;
    return n;
}

void plot_tick_label(double v, double step, int exp10, char *out) {
    double scale = pow(10, exp10);
    double sv = v / scale, sstep = step / scale;
    int dec = (int)ceil(-log10(sstep) - 1e-9);
    if (dec < 0) dec = 0;
    /* a step like 0.25 needs one more digit than 0.2 */
    double m = sstep * pow(10, dec);
    if (fabs(m - round(m)) > 1e-6) dec++;
    if (dec > 8) dec = 8;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*f", dec, fmin(fabs(sv), 1e20));
    if (sv < 0 && strspn(tmp, "0.") != strlen(tmp)) snprintf(out, 40, "\xE2\x88\x92%s", tmp); /* U+2212 minus */
    else snprintf(out, 40, "%s", tmp);
}

/* The exponent to factor out of the labels (matplotlib's offset text "1e−5"):
 * when the largest |tick| is below 1e-3 or at least 1e5. */
static int tick_exp10(const double *t, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(t[i]));
    if (m == 0 || (m >= 1e-3 && m < 1e5)) return 0;
    return (int)floor(log10(m));
}

/* Estimated advance width of a label in the sans font (UTF-8 aware). */
static double text_width(const char *s, double size) {
    return (double)utf8_count(s, strlen(s)) * 0.62 * size;
}

/* ---- data limits ----------------------------------------------------------- */

typedef struct {
    double x0, x1, y0, y1; /* data limits */
    int y_inverted;        /* images: row 0 at the top */
} Limits;

static Limits axes_limits(const PlotAxes *ax) {
    Limits L = {0, 1, 0, 1, 0};
    if (ax->img) {
        L.x0 = -0.5; L.x1 = ax->data_cols - 0.5;
        L.y0 = -0.5; L.y1 = ax->data_rows - 0.5;
        L.y_inverted = 1;
        return L;
    }
    double xmin = DBL_MAX, xmax = -DBL_MAX, ymin = DBL_MAX, ymax = -DBL_MAX;
    for (int k = 0; k < ax->n_series; k++) {
        const PlotSeries *s = &ax->series[k];
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
            xmin = fmin(xmin, s->x[i]); xmax = fmax(xmax, s->x[i]);
            ymin = fmin(ymin, s->y[i]); ymax = fmax(ymax, s->y[i]);
        }
    }
    if (xmin > xmax) return L; /* no finite data: 0..1 */
    /* a flat range gets a unit window around it, as matplotlib does */
    if (xmax - xmin <= 0) { double c = xmin; xmin = c - (c ? fabs(c) * .05 : .05); xmax = c + (c ? fabs(c) * .05 : .05); }
    if (ymax - ymin <= 0) { double c = ymin; ymin = c - (c ? fabs(c) * .05 : .05); ymax = c + (c ? fabs(c) * .05 : .05); }
    double mx = (xmax - xmin) * 0.05, my = (ymax - ymin) * 0.05;
    L.x0 = xmin - mx; L.x1 = xmax + mx;
    L.y0 = ymin - my; L.y1 = ymax + my;
    return L;
}

typedef struct {
    double t[32];
    int n, exp10;
    double step;
    char labels[32][40];
    double max_w; /* widest label */
} Ticks;

static void make_ticks(Ticks *tk, double lo, double hi, int max_ticks, int integer_only) {
    tk->n = plot_nice_ticks(lo, hi, max_ticks, tk->t, &tk->step);
    if (integer_only && tk->step < 1) /* image axes count cells: whole steps only */
        tk->n = plot_nice_ticks(lo, hi, (int)fmax(1, floor(hi - lo)), tk->t, &tk->step);
    tk->exp10 = tick_exp10(tk->t, tk->n);
    tk->max_w = 0;
    for (int i = 0; i < tk->n; i++) {
        plot_tick_label(tk->t[i], tk->step, tk->exp10, tk->labels[i]);
        tk->max_w = fmax(tk->max_w, text_width(tk->labels[i], FONT_TICK));
    }
}

/* ---- rendering ------------------------------------------------------------- */

static void draw_series(SVG *s, const PlotSeries *se, double bx, double by, double bw, double bh, const Limits *L) {
    double *px = xmalloc(sizeof(double) * (se->n ? se->n : 1)), *py = xmalloc(sizeof(double) * (se->n ? se->n : 1));
    for (int i = 0; i < se->n; i++) {
        px[i] = bx + (se->x[i] - L->x0) / (L->x1 - L->x0) * bw;
        py[i] = by + bh - (se->y[i] - L->y0) / (L->y1 - L->y0) * bh;
        if (!isfinite(se->x[i]) || !isfinite(se->y[i])) px[i] = py[i] = NAN;
    }
    if (se->line && se->n >= 2) {
        RGBA c = se->color;
        c.a *= (float)se->alpha;
        svg_polyline(s, px, py, se->n, c, se->linewidth);
    }
    if (se->marker) {
        RGBA face = se->face, edge = se->color;
        face.a *= (float)se->alpha;
        edge.a *= (float)se->alpha;
        char id[48];
        svg_marker_def(s, se->marker, se->markersize, face, edge, 1.0, id);
        for (int i = 0; i < se->n; i++)
            if (!isnan(px[i])) svg_marker_use(s, id, px[i], py[i]);
    }
    free(px);
    free(py);
}

static void draw_offset_text(SVG *s, int exp10, double x, double y, SVGAnchor anchor) {
    if (!exp10) return;
    char t[40];
    if (exp10 < 0) snprintf(t, sizeof t, "1e\xE2\x88\x92%d", -exp10);
    else snprintf(t, sizeof t, "1e%d", exp10);
    svg_text(s, x, y, t, FONT_TICK, anchor, 0, NULL);
}

/* Draw the colorbar of ax in the box (x, y, w, h): the colormap as a 1 x 256
 * PNG stretched vertically, ticks and labels on its right. */
static void draw_colorbar(SVG *s, const PlotAxes *ax, double x, double y, double w, double h, const Ticks *tk) {
    uint8_t pal[768], idx[256];
    cmap_table_u8(ax->cmap, pal);
    for (int i = 0; i < 256; i++) idx[i] = (uint8_t)(255 - i); /* top row = vmax */
    uint8_t *png;
    size_t n;
    if (png_encode(&png, &n, idx, 1, 256, 1, pal) == 0) {
        svg_image_png(s, x, y, w, h, png, n, 0);
        free(png);
    }
    svg_rect(s, x, y, w, h, 0, RGBA_NONE, BLACK, SPINE_W);
    double span = ax->vmax > ax->vmin ? ax->vmax - ax->vmin : 1;
    for (int i = 0; i < tk->n; i++) {
        double ty = y + h - (tk->t[i] - ax->vmin) / span * h;
        svg_line(s, x + w, ty, x + w + TICK_LEN, ty, BLACK, SPINE_W);
        svg_text(s, x + w + TICK_LEN + TICK_PAD, ty + FONT_TICK * 0.36, tk->labels[i], FONT_TICK, SVG_START, 0, NULL);
    }
    draw_offset_text(s, tk->exp10, x, y - 4, SVG_START);
}

static void draw_axes(SVG *s, const PlotAxes *ax, double cx, double cy, double cw, double ch) {
    Limits L = axes_limits(ax);
    /* first guess of the box to size the tick count, then the real margins */
    Ticks xt, yt, ct;
    /* matplotlib's tick budget (Axis.get_tick_space): one y tick per 2 label
     * heights, one x tick per 3, at most 9; the box height is estimated here */
    int max_y = (int)fmax(1, fmin(9, floor((ch - 60) / (2 * FONT_TICK))));
    make_ticks(&yt, fmin(L.y0, L.y1), fmax(L.y0, L.y1), max_y, ax->img != NULL);
    double left = yt.max_w + TICK_LEN + TICK_PAD + (ax->ylabel[0] ? FONT_LABEL * 1.2 + LABEL_PAD : 0) + 6;
    double top = (ax->title[0] ? FONT_TITLE * 1.2 + 6 : 6) + (yt.exp10 ? FONT_TICK * 1.2 : 0);
    double bottom = TICK_LEN + TICK_PAD + FONT_TICK * 1.2 + (ax->xlabel[0] ? FONT_LABEL * 1.2 + LABEL_PAD : 0) + 4 +
                    (ax->note[0] ? FONT_NOTE * 1.3 : 0);
    double right = 10;
    double cb_w = 0, cb_pad = 0;
    if (ax->img && ax->colorbar) {
        make_ticks(&ct, ax->vmin, ax->vmax, (int)fmax(3, fmin(8, ch / 28)), 0);
        cb_pad = 0.01 * cw;
        cb_w = fmax(8, (ch - top - bottom) / 20);
        right = cb_pad + cb_w + TICK_LEN + TICK_PAD + ct.max_w + 8;
    }
    double bx = cx + left, by = cy + top, bw = cw - left - right, bh = ch - top - bottom;
    if (bw < 20) bw = 20;
    if (bh < 20) bh = 20;
    int max_x = (int)fmax(1, fmin(9, floor(bw / (3 * FONT_TICK))));
    make_ticks(&xt, L.x0, L.x1, max_x, ax->img != NULL);
    /* long labels (e.g. 0.0025) must not collide: fewer ticks until they fit */
    while (max_x > 1 && (xt.max_w + 6) * xt.n > bw) make_ticks(&xt, L.x0, L.x1, --max_x, ax->img != NULL);

    /* white axes background, then the clipped content */
    svg_rect(s, bx, by, bw, bh, 0, rgba(1, 1, 1, 1), RGBA_NONE, 0);
    svg_clip_begin(s, bx, by, bw, bh);
    if (ax->img) {
        uint8_t pal[768];
        cmap_table_u8(ax->cmap, pal);
        uint8_t *png;
        size_t n;
        if (png_encode(&png, &n, ax->img, ax->img_cols, ax->img_rows, 1, pal) == 0) {
            svg_image_png(s, bx, by, bw, bh, png, n, ax->img_cols <= bw * 1.5 && ax->img_rows <= bh * 1.5);
            free(png);
        }
    }
    for (int k = 0; k < ax->n_series; k++) draw_series(s, &ax->series[k], bx, by, bw, bh, &L);
    svg_clip_end(s);

    /* spines */
    svg_rect(s, bx, by, bw, bh, 0, RGBA_NONE, BLACK, SPINE_W);
    /* x ticks and labels */
    for (int i = 0; i < xt.n; i++) {
        double tx = bx + (xt.t[i] - L.x0) / (L.x1 - L.x0) * bw;
        svg_line(s, tx, by + bh, tx, by + bh + TICK_LEN, BLACK, SPINE_W);
        svg_text(s, tx, by + bh + TICK_LEN + TICK_PAD + FONT_TICK * 0.8, xt.labels[i], FONT_TICK, SVG_MIDDLE, 0, NULL);
    }
    draw_offset_text(s, xt.exp10, bx + bw, by + bh + TICK_LEN + TICK_PAD + FONT_TICK * 2.0, SVG_END);
    /* y ticks and labels (images: row 0 at the top) */
    for (int i = 0; i < yt.n; i++) {
        double f = (yt.t[i] - L.y0) / (L.y1 - L.y0);
        double ty = L.y_inverted ? by + f * bh : by + bh - f * bh;
        svg_line(s, bx - TICK_LEN, ty, bx, ty, BLACK, SPINE_W);
        svg_text(s, bx - TICK_LEN - TICK_PAD, ty + FONT_TICK * 0.36, yt.labels[i], FONT_TICK, SVG_END, 0, NULL);
    }
    draw_offset_text(s, yt.exp10, bx, by - 4, SVG_START);
    /* labels and title */
    if (ax->xlabel[0])
        svg_text(s, bx + bw / 2, by + bh + TICK_LEN + TICK_PAD + FONT_TICK * 1.2 + LABEL_PAD + FONT_LABEL * 0.8,
                 ax->xlabel, FONT_LABEL, SVG_MIDDLE, 0, NULL);
    if (ax->note[0])
        svg_text(s, bx + bw / 2,
                 by + bh + TICK_LEN + TICK_PAD + FONT_TICK * 1.2 + (ax->xlabel[0] ? FONT_LABEL * 1.2 + LABEL_PAD : 0) +
                     FONT_NOTE * 1.1,
                 ax->note, FONT_NOTE, SVG_MIDDLE, 0, "fill=\"#555555\"");
    if (ax->ylabel[0]) {
        double lx = bx - TICK_LEN - TICK_PAD - yt.max_w - LABEL_PAD - 2;
        svg_text(s, lx, by + bh / 2, ax->ylabel, FONT_LABEL, SVG_MIDDLE, -90, NULL);
    }
    if (ax->title[0])
        svg_text(s, bx + bw / 2, by - 6 - (yt.exp10 ? FONT_TICK * 1.2 : 0), ax->title, FONT_TITLE, SVG_MIDDLE, 0,
                 NULL);
    if (ax->img && ax->colorbar) draw_colorbar(s, ax, bx + bw + cb_pad, by, cb_w, bh, &ct);
}

void fig_render(const Figure *f, SVG *s) {
    double banner_h = f->banner[0] ? 20 : 0;
    svg_init(s, f->width, f->height + banner_h);
    svg_set_id_prefix(s, f->id_prefix);
    if (f->banner[0]) {
        svg_printf(s, "<title>");
        svg_escape(s, f->banner, -1);
        svg_printf(s, "</title>\n");
    }
    svg_rect(s, 0, 0, f->width, f->height + banner_h, 0, rgba(1, 1, 1, 1), RGBA_NONE, 0);
    if (f->banner[0])
        svg_text(s, f->width / 2, 15, f->banner, 12, SVG_MIDDLE, 0, "fill=\"#b00020\" font-weight=\"bold\"");
    double cw = f->width / f->cols, ch = f->height / f->rows;
    for (int r = 0; r < f->rows; r++)
        for (int c = 0; c < f->cols; c++) {
            const PlotAxes *ax = &f->axes[r * f->cols + c];
            svg_group_begin(s, NULL);
            draw_axes(s, ax, c * cw + 4, banner_h + r * ch + 2, cw - 8, ch - 4);
            svg_group_end(s);
        }
    svg_finish(s);
}

int fig_save(const Figure *f, const char *path) {
    SVG s;
    fig_render(f, &s);
    int rc = svg_save(&s, path);
    svg_free(&s);
    return rc;
}
