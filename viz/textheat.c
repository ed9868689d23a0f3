/*
 * viz/textheat.c - per-token text heatmaps, laid out as the seed's
 * drawTextHeatmap: 20 tokens a line, 12 pt monospace, each token centred on
 * a rounded box (matplotlib's boxstyle 'round,pad=.3': 0.3 em of padding and
 * corner radius) filled with Reds(a^2) at alpha .8, where a is the token's
 * activation min-max scaled over the whole sequence. Tokens advance by their
 * width in characters plus a small gap, as in the seed. See plot.h.
 */
#include "viz/plot.h"
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
    char *esc = xml_escape(out, (long)o); /* repaired: every code point is one character */
    int n = 0;
    for (const char *p = esc; *p; p++) {
        if (*p == '&') { /* an entity (&amp; &lt; ...) is one character */
            const char *semi = strchr(p, ';');
            if (semi) p = semi;
        }
        if ((*(const unsigned char *)p & 0xC0) != 0x80) n++;
    }
    free(esc);
    *nchars = n > 0 ? n : 1;
    return out;
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

void textheat_render(Svg *s, const char *const *toks, const int *tok_lens, const float *acts, int T, int first,
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
    double head = (title && *title ? 22 : 6) + (banner && *banner ? 18 : 0);
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
    svg_printf(s, "<g font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"%.0f\" "
                  "xml:space=\"preserve\">\n", TH_FONT);
    for (int i = 0; i < count; i++) {
        float a = acts[first + i];
        double v = span > 0 && !isnan(a) ? (a - lo) / span : 0;
        Rgba bg = cmap_color(CMAP_REDS, v * v);
        bg.a = 0.8f;
        double cy = head + line[i] * TH_LINE + TH_LINE / 2;
        double bh = TH_FONT * 1.2 + 2 * TH_PAD;
        svg_printf(s, "<g><title>token %d: %.4g</title>", first + i, (double)a);
        svg_rect(s, xs[i] - TH_PAD, cy - bh / 2, ws[i] + 2 * TH_PAD, bh, TH_PAD, bg, RGBA_NONE, 0);
        svg_printf(s, "<text x=\"%.2f\" y=\"%.2f\">", xs[i], cy + TH_FONT * 0.35);
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
    Svg s;
    textheat_render(&s, toks, tok_lens, acts, T, first, count, title, banner, NULL);
    int rc = svg_save(&s, path);
    svg_free(&s);
    return rc;
}
