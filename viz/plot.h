/*
 * viz/plot.h - matplotlib-like figures drawn as SVG: axes with "nice" ticks,
 * line plots with markers, scatter plots, multi-panel figures, image plots
 * with a colormap and a colorbar, and per-token text heatmaps.
 *
 *   Figure f;
 *   fig_init(&f, 12, 3, 1, 3);                       // figsize (12, 3) inches, 1 x 3 panels
 *   PlotAxes *ax = fig_axes(&f, 0);
 *   axes_plot(ax, NULL, loss, 100, "ks-", rgba(.9, .7, .7, .5), 0.5, 1);   // 'ks-', markerfacecolor
 *   axes_set(ax, "Epoch", "Loss", "Total loss");
 *   axes_image(fig_axes(&f, 1), latent, T, L, 0, 0.1, CMAP_VIRIDIS, 1); // imshow + colorbar
 *   fig_set_banner(&f, "random weights — not GPT-2");  // optional line on top
 *   if (fig_save(&f, "out/losses.svg") != 0) return cli_fail();
 *   fig_free(&f);
 *
 * Sizes follow matplotlib's SVG backend: 72 user units per inch, fonts in
 * points (10 for labels and ticks, 12 for titles). Axes limits are the data
 * range plus 5% margins (matplotlib's default); ticks use steps 1, 2, 2.5, 5
 * times a power of ten, as its MaxNLocator. The axes copy the data they are
 * given, so the caller's arrays can be freed right after the call.
 */
#ifndef VIZ_PLOT_H
#define VIZ_PLOT_H

#include "viz/svg.h"

typedef struct {
    double *x, *y;      /* (n) owned copies */
    int n;
    char marker;        /* 0: none, else 'o' 's' '^' 'v' 'D' 'x' '+' '.' */
    int line;           /* 1: connect the points */
    RGBA color;         /* line and marker edge colour */
    RGBA face;          /* marker face colour (alpha included) */
    double linewidth;   /* points */
    double markersize;  /* points (matplotlib's default 6) */
    double alpha;       /* multiplies every alpha of this series */
} PlotSeries;

typedef struct {
    PlotSeries *series; /* (n_series) */
    int n_series;
    unsigned char *img; /* (img_rows, img_cols) colormap indices 0..255, owned, or NULL */
    int img_rows, img_cols;   /* after binning (see axes_image) */
    int data_rows, data_cols; /* the image's size in data units (axis limits) */
    double vmin, vmax;
    Colormap cmap;
    int colorbar;
    char title[256], xlabel[128], ylabel[128];
    char note[160];           /* a small grey line under the x label, or "" */
} PlotAxes;

typedef struct {
    double width, height; /* user units (72 per inch) */
    int rows, cols;
    PlotAxes *axes;       /* (rows * cols), row-major */
    char banner[256];     /* a line drawn above everything (and the SVG's <title>), or "" */
    char id_prefix[16];   /* prefix of ids inside the SVG (for inlining several in one page) */
} Figure;

/* A figure of w x h inches holding rows x cols panels. */
void fig_init(Figure *f, double w_inches, double h_inches, int rows, int cols);
void fig_free(Figure *f);
/* Panel i (row-major). Borrowed: valid until fig_free. */
PlotAxes *fig_axes(Figure *f, int i);
void fig_set_banner(Figure *f, const char *text);
void fig_set_id_prefix(Figure *f, const char *prefix);
/* Draw the figure into a new document s (svg_init is called here; the caller
 * svg_free's it). */
void fig_render(const Figure *f, SVG *s);
/* Render and write to path atomically. Returns 0 or -1 with err_set(). */
int fig_save(const Figure *f, const char *path);

/* plt.plot(x, y, fmt, markerfacecolor=face, linewidth=lw, alpha=alpha).
 * x may be NULL (0, 1, ..., n-1). fmt: matplotlib's format string, colour
 * letter (k r g b c m y w), marker, '-' for a line, e.g. "ks-", "ko", "rx".
 * face.a == 0 means the line colour (matplotlib's default face). Returns 0, or
 * -1 with err_set() if fmt is not understood. NaN points are skipped. */
int axes_plot(PlotAxes *ax, const double *x, const double *y, int n, const char *fmt, RGBA face, double linewidth,
              double alpha);
/* ax.set(xlabel=..., ylabel=..., title=...); NULL leaves a field as it is. */
void axes_set(PlotAxes *ax, const char *xlabel, const char *ylabel, const char *title);
/* A note drawn in small grey type under the x label (e.g. what the panel
 * leaves out: "5204 dead latents not drawn"); NULL or "" for none. */
void axes_note(PlotAxes *ax, const char *note);
/* The marker size (points) of the series added last (matplotlib's
 * markersize; axes_plot's default is 6). */
void axes_marker_size(PlotAxes *ax, double points);
/* plt.imshow(img, vmin, vmax, aspect='auto') [+ plt.colorbar(pad=.01)].
 * img: (rows, cols) row-major, row 0 at the top. Values are mapped to colours
 * now; images larger than 4096 columns or 2048 rows are averaged over blocks
 * of columns/rows first (as matplotlib's antialiased resampling does), the
 * axes still show data coordinates. */
void axes_image(PlotAxes *ax, const float *img, int rows, int cols, double vmin, double vmax, Colormap cm,
                int colorbar);

/* Nice tick positions covering [lo, hi] with at most max_ticks intervals
 * (steps 1, 2, 2.5, 5 x 10^k). Writes up to 32 ticks inside [lo, hi] into
 * ticks and returns their count; *step_out is the step. */
int plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step_out);
/* Tick label for v with the given step, matplotlib-like ("0.25", "1000",
 * "\u22120.5" with a real minus sign), after dividing by 10^exp10 (the
 * exponent shown once beside the axis, as matplotlib's offset text; 0 for
 * none). out >= 40 bytes. */
void plot_tick_label(double v, double step, int exp10, char *out);

/* ---- text heatmaps (viz/textheat.c) -------------------------------------- */

/* The seed's drawTextHeatmap (the notebook's per-token heatmap): tokens laid
 * out 20 per line in a monospace font, each on a rounded box whose colour is
 * Reds(a^2) at alpha .8, where a is the token's activation min-max scaled
 * over acts[0..T); the text is white on the boxes dark enough to need it, and
 * a colour key under the title gives the activation of each colour (drawn
 * when acts has a finite value; in a <g class="key">). Token text is the
 * decoded bytes (any bytes; invalid UTF-8 is shown as U+FFFD); newlines and
 * tabs are shown as visible symbols. The first token drawn is `first`, at
 * most `count` tokens (use 0, T for all). title: drawn above ("Latent
 * component 123"), banner: an extra warning line or NULL.
 * toks[t] / tok_lens[t]: borrowed. Draws into a new document s. */
void textheat_render(SVG *s, const char *const *toks, const int *tok_lens, const float *acts, int T, int first,
                     int count, const char *title, const char *banner, const char *id_prefix);
int textheat_save(const char *path, const char *const *toks, const int *tok_lens, const float *acts, int T,
                  int first, int count, const char *title, const char *banner);
/* 1 when text on a box of colour fill (composited over white) should be
 * white: white contrasts more with it than black does (WCAG contrast ratio). */
int textheat_light_text(RGBA fill);
/* A window of at most max_count tokens around the largest activation (so a
 * long corpus still gives a readable heatmap): *first, *count. */
void textheat_window(const float *acts, int T, int max_count, int *first, int *count);

#endif
