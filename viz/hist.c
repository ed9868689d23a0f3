/*
 * viz/hist.c - a histogram as a small standalone SVG (the layout is in
 * viz/hist.h).
 */
#include "viz/hist.h"

#include <stdio.h>

void svg_histogram(SVG *s, const uint32_t *counts, int nb, double lo, double hi, double w, double h, RGBA fill,
                   const char *label) {
    svg_init(s, w, h);
    uint32_t mx = 0;
    uint64_t total = 0;
    for (int b = 0; b < nb; b++) mx = counts[b] > mx ? counts[b] : mx, total += counts[b];
    char t[160], col[24];
    snprintf(t, sizeof t, "%d bins over [%.4g, %.4g], %llu values", nb, lo, hi, (unsigned long long)total);
    svg_printf(s, "<title>");
    svg_escape(s, t, -1);
    svg_printf(s, "</title>\n");
    double x0 = 30, base = h - 25, bh_max = h - 30, bw = (w - 40) / nb, bar = bw - 1 > 1 ? bw - 1 : 1;
    rgba_css(fill, col);
    if (mx > 0) {
        svg_printf(s, "<path fill=\"%s\" d=\"", col);
        for (int b = 0; b < nb; b++) {
            if (!counts[b]) continue;
            double bh = (double)counts[b] / mx * bh_max;
            svg_printf(s, "M%.2f %.2fh%.2fv%.2fh%.2fz", x0 + b * bw, base - bh, bar, bh, -bar);
        }
        svg_printf(s, "\"/>\n");
    }
    svg_line(s, x0, base, w - 10, base, rgba(0.2f, 0.2f, 0.2f, 1), 1);
    snprintf(t, sizeof t, "%.3g", lo);
    svg_text(s, x0, h - 10, t, 11, SVG_START, 0, NULL);
    snprintf(t, sizeof t, "%.3g", hi);
    svg_text(s, w - 10, h - 10, t, 11, SVG_END, 0, NULL);
    if (label) svg_text(s, w / 2, h - 10, label, 11, SVG_MIDDLE, 0, NULL);
    snprintf(t, sizeof t, "max %u", mx);
    svg_text(s, x0 + 2, 14, t, 10, SVG_START, 0, "fill=\"#666\"");
    svg_finish(s);
}
