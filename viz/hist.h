/*
 * viz/hist.h - a histogram as one small standalone SVG: the feature
 * browser's histograms of activations and of logit effects.
 *
 *   uint32_t counts[50] = {...};      // 50 bins of equal width over [lo, hi]
 *   SVG s;
 *   svg_histogram(&s, counts, 50, 0.0, 3.2, 420, 140, rgba(.88, .44, 0, 1), "activation");
 *   puts(s.buf);                      // "<svg ...>...</svg>": finished, ready to inline or save
 *   svg_free(&s);
 *
 * LAYOUT of a w x h document: the bars stand on the axis y = h - 25 and
 * the plot spans x in [30, w - 10]; bin b of nb is the bar
 *   x = 30 + b bw,  bw = (w - 40) / nb,  width max(bw - 1, 1),
 *   height counts[b] / max(counts) (h - 30)       (y = h - 25 - height)
 * and an empty bin draws nothing. All bars are one <path> (per bar
 * "Mx yhwidthvheighth-widthz", each number %.2f), so a histogram costs a few
 * bytes a bin however many a page holds. Under the axis: lo at x = 30
 * (start), hi at x = w - 10 (end) and the label in the middle, %.3g; the
 * largest count at the top left ("max N"); the document's <title> says the
 * bins, the range and the total count.
 */
#ifndef VIZ_HIST_H
#define VIZ_HIST_H

#include "viz/svg.h"

#include <stdint.h>

/* Draw counts (nb >= 1) into a new document s (svg_init'ed here, finished);
 * fill colours the bars, label (may be NULL) names the x axis. */
void svg_histogram(SVG *s, const uint32_t *counts, int nb, double lo, double hi, double w, double h, RGBA fill,
                   const char *label);

#endif
