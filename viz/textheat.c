/*
 * viz/textheat.c - per-token text heatmaps, laid out as drawTextHeatmap in the
 * notebook this engine reproduces ("the seed", see README.md): 20 tokens a
 * line, 12 pt monospace, each token centred on a rounded box (matplotlib's
 * boxstyle 'round,pad=.3': 0.3 em of padding and corner radius) filled with
 * Reds(a^2) at alpha .8, where a is the token's activation min-max scaled
 * over the whole sequence. Tokens advance by their width in characters plus
 * a small gap. Two additions for a reader: a colour key under the title (the
 * activation each colour stands for), and white text on the dark boxes
 * (whichever of black and white contrasts more with the box). See plot.h.
 */
#include "viz/plot.h"
#include "core/utf8.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TH_FONT 12.0
#define TH_CHAR_W (0.602 * TH_FONT) /* DejaVu Sans Mono's advance width */
#define TH_PAD (0.3 * TH_FONT)
#define TH_LINE 25.0
#define TH_PER_LINE 20
#define TH_MARGIN 10.0
#define TH_KEY_H 34.0   /* the colour key's row */
#define TH_KEY_W 200.0  /* its bar */
#define TH_KEY_STEPS 50 /* cells of the bar */

/* The text to show for a token: spaces as no-break spaces (so a leading space
 * keeps its width in any viewer), newlines, tabs and carriage returns as
 * arrows, the rest as is (svg_escape repairs invalid UTF-8). Returns a new
 * string; *nchars = its width in characters, counting each byte that
 * svg_escape will turn into U+FFFD as one. */
static char *token_display(const char *tok, int len, int *nchars) {
    char *out = xmalloc((size_t)len * 3 + 4);
    size_t o = 0;
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        const char *sub = c == ' ' ? "\xC2\xA0" : c == '\n' ? "\xE2\x86\xB5" : c == '\t' ? "\xE2\x86\x92"
                        : c == '\r' ? "\xE2\x86\x90" : NULL;
        if (sub) {
            memcpy(out + o, sub, strlen(sub));
            o += strlen(sub);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
    int n = (int)utf8_count(out, o);   /* as svg_escape repairs it: a malformed byte is one U+FFFD */
    *nchars = n > 0 ? n : 1;
    return out;
}

/* A box's fill: Reds(v^2) at alpha .8, for v the min-max scaled activation. */
static RGBA box_fill(double v) {
    RGBA c = cmap_color(CMAP_REDS, v * v);
    c.a = 0.8f;
    return c;
}

/* WCAG relative luminance of c composited over white. */
static double luminance_on_white(RGBA c) {
    double rgb[3] = {c.r, c.g, c.b}, lin[3];
    for (int i = 0; i < 3; i++) {
        double u = c.a * rgb[i] + (1 - c.a); /* over the white page */
        lin[i] = u <= 0.04045 ? u / 12.92 : pow((u + 0.055) / 1.055, 2.4);
    }
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

int textheat_light_text(RGBA fill) {
    /* contrast ratios (L1 + .05) / (L2 + .05) against white and against black */
    double y = luminance_on_white(fill);
    return 1.05 / (y + 0.05) > (y + 0.05) / 0.05;
}

/* The colour key: a bar of the box colours from the lowest to the highest
 * activation (positions linear in the activation, colours Reds(a^2) as the
 * boxes'), labelled "activation", its ends with their values; top-left at
 * (x, y). */
static void draw_key(SVG *s, double x, double y, float lo, float hi) {
    svg_printf(s, "<g class=\"key\">\n");
    svg_text(s, x, y + 10, "activation", 10, SVG_START, 0, NULL);
    double bx = x + 64, bw = TH_KEY_W, bh = 10, cw = bw / TH_KEY_STEPS;
    for (int i = 0; i < TH_KEY_STEPS; i++)
        svg_rect(s, bx + i * cw, y + 1, cw + 0.3, bh, 0, box_fill((i + 0.5) / TH_KEY_STEPS), RGBA_NONE, 0);
    svg_rect(s, bx, y + 1, bw, bh, 0, RGBA_NONE, rgba(0.6f, 0.6f, 0.6f, 1), 0.5);
    /* the two ends carry the exact lowest and highest activation; nice
     * values in between where they leave room for the labels */
    double t[34], step = 0;
    char lab[34][40];
    int n = 0;
    snprintf(lab[n], sizeof lab[n], "%.3g", (double)lo);
    t[n++] = lo;
    if (hi > lo) {
        double mid[32];
        int m = plot_nice_ticks(lo, hi, 4, mid, &step);
        for (int i = 0; i < m; i++) {
            if ((mid[i] - lo) / ((double)hi - lo) * bw < 30 || (hi - mid[i]) / ((double)hi - lo) * bw < 30) continue;
            plot_tick_label(mid[i], step, 0, lab[n]);
            t[n++] = mid[i];
        }
        snprintf(lab[n], sizeof lab[n], "%.3g", (double)hi);
        t[n++] = hi;
    }
    for (int i = 0; i < n; i++) {
        double tx = hi > lo ? bx + (t[i] - lo) / ((double)hi - lo) * bw : bx;
        svg_line(s, tx, y + 1 + bh, tx, y + 4 + bh, rgba(0.4f, 0.4f, 0.4f, 1), 0.6);
        svg_text(s, tx, y + bh + 14, lab[i], 9, SVG_MIDDLE, 0, NULL);
    }
    svg_printf(s, "</g>\n");
}

void textheat_window(const float *acts, int T, int max_count, int *first, int *count) {
    if (T <= max_count || max_count <= 0) {
        *first = 0;
        *count = T;
        return;
    }
    int best = 0;
    for (int t = 1; t < T; t++)
        if (acts[t] > acts[best]) best = t;
    int f = best - max_count / 2;
    f -= f % TH_PER_LINE; /* keep the line breaks where the full text has them */
    if (f < 0) f = 0;
    if (f + max_count > T) f = T - max_count;
    *first = f;
    *count = max_count;
}

void textheat_render(SVG *s, const char *const *toks, const int *tok_lens, const float *acts, int T, int first,
                     int count, const char *title, const char *banner, const char *id_prefix) {
    if (first < 0) first = 0;
    if (first > T) first = T;
    if (count < 0 || first + count > T) count = T - first;
    /* min-max scale over the whole sequence, as the seed */
    float lo = INFINITY, hi = -INFINITY;
    for (int t = 0; t < T; t++) {
        if (isnan(acts[t])) continue;
        lo = fminf(lo, acts[t]);
        hi = fmaxf(hi, acts[t]);
    }
    double span = hi > lo ? (double)hi - lo : 0;

    /* lay out first, to know the document's size */
    char **disp = xmalloc(sizeof(char *) * (count ? count : 1));
    double *xs = xmalloc(sizeof(double) * (count ? count : 1)), *ws = xmalloc(sizeof(double) * (count ? count : 1));
    int *line = xmalloc(sizeof(int) * (count ? count : 1));
    double x = TH_MARGIN + TH_PAD, max_x = 200;
    int ln = 0, in_line = 0;
    for (int i = 0; i < count; i++) {
        int nch;
        disp[i] = token_display(toks[first + i], tok_lens[first + i], &nch);
        ws[i] = nch * TH_CHAR_W;
        xs[i] = x;
        line[i] = ln;
        /* the seed advances by the width plus a 5.6 pt gap, so its padded boxes
         * overlap; we keep 2 pt between boxes, which reads better */
        x += ws[i] + 2 * TH_PAD + 2;
        max_x = fmax(max_x, x);
        if (++in_line >= TH_PER_LINE) {
            in_line = 0;
            ln++;
            x = TH_MARGIN + TH_PAD;
        }
    }
    int n_lines = in_line ? ln + 1 : ln;
    int key = hi >= lo; /* some finite activation to give a scale for */
    double head = (title && *title ? 22 : 6) + (banner && *banner ? 18 : 0) + (key ? TH_KEY_H : 0);
    max_x = fmax(max_x, TH_MARGIN + 64 + TH_KEY_W + 20); /* room for the key */
    double width = max_x + TH_MARGIN + TH_PAD, height = head + n_lines * TH_LINE + TH_MARGIN;

    svg_init(s, width, height);
    svg_set_id_prefix(s, id_prefix);
    if (banner && *banner) {
        svg_printf(s, "<title>");
        svg_escape(s, banner, -1);
        svg_printf(s, "</title>\n");
    }
    svg_rect(s, 0, 0, width, height, 0, rgba(1, 1, 1, 1), RGBA_NONE, 0);
    double y = 0;
    if (title && *title) {
        svg_text(s, TH_MARGIN, 16, title, 12, SVG_START, 0, "font-weight=\"bold\"");
        y = 22;
    }
    if (banner && *banner) {
        svg_text(s, TH_MARGIN, y + 14, banner, 11, SVG_START, 0, "fill=\"#b00020\" font-weight=\"bold\"");
        y += 18;
    }
    if (key) draw_key(s, TH_MARGIN, y + 6, lo, hi);
    svg_printf(s, "<g font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"%.0f\" "
                  "xml:space=\"preserve\">\n", TH_FONT);
    for (int i = 0; i < count; i++) {
        float a = acts[first + i];
        double v = span > 0 && !isnan(a) ? (a - lo) / span : 0;
        RGBA bg = box_fill(v);
        double cy = head + line[i] * TH_LINE + TH_LINE / 2;
        double bh = TH_FONT * 1.2 + 2 * TH_PAD;
        svg_printf(s, "<g><title>token %d: %.4g</title>", first + i, (double)a);
        svg_rect(s, xs[i] - TH_PAD, cy - bh / 2, ws[i] + 2 * TH_PAD, bh, TH_PAD, bg, RGBA_NONE, 0);
        svg_printf(s, "<text x=\"%.2f\" y=\"%.2f\"%s>", xs[i], cy + TH_FONT * 0.35,
                   textheat_light_text(bg) ? " fill=\"#ffffff\"" : "");
        svg_escape(s, disp[i], -1);
        svg_printf(s, "</text></g>\n");
        free(disp[i]);
    }
    svg_printf(s, "</g>\n");
    svg_finish(s);
    free(disp);
    free(xs);
    free(ws);
    free(line);
}

int textheat_save(const char *path, const char *const *toks, const int *tok_lens, const float *acts, int T,
                  int first, int count, const char *title, const char *banner) {
    SVG s;
    textheat_render(&s, toks, tok_lens, acts, T, first, count, title, banner, NULL);
    int rc = svg_save(&s, path);
    svg_free(&s);
    return rc;
}
