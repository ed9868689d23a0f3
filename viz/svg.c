/*
 * viz/svg.c - the SVG writer: an in-memory buffer, XML escaping, shapes,
 * markers and embedded PNG images. See svg.h.
 */
#include "viz/svg.h"
#include "core/utf8.h"
#include "core/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void buf_reserve(SVG *s, size_t extra) {
    if (s->len + extra + 1 <= s->cap) return;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + extra + 1) cap *= 2;
    s->buf = xrealloc(s->buf, cap);
    s->cap = cap;
}

static void buf_put(SVG *s, const char *p, size_t n) {
    buf_reserve(s, n);
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = 0;
}

void svg_printf(SVG *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        buf_put(s, small, (size_t)n);
        return;
    }
    buf_reserve(s, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void svg_init(SVG *s, double width, double height) {
    memset(s, 0, sizeof *s);
    s->width = width;
    s->height = height;
    svg_printf(s,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
               "version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.2f %.2f\" "
               "font-family=\"DejaVu Sans, Bitstream Vera Sans, Arial, Helvetica, sans-serif\">\n",
               width, height, width, height);
}

void svg_set_id_prefix(SVG *s, const char *prefix) {
    snprintf(s->id_prefix, sizeof s->id_prefix, "%s", prefix ? prefix : "");
}

void svg_finish(SVG *s) { svg_printf(s, "</svg>\n"); }

int svg_save(const SVG *s, const char *path) {
    if (file_write_atomic(path, s->buf, s->len) != 0) return err_prefix("writing the figure %s", path);
    return 0;
}

void svg_free(SVG *s) {
    if (!s) return;
    free(s->buf);
    memset(s, 0, sizeof *s);
}

void svg_escape(SVG *s, const char *text, long n) {
    if (!text) return;
    if (n < 0) n = (long)strlen(text);
    const unsigned char *p = (const unsigned char *)text;
    static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
    long i = 0;
    while (i < n) { /* each character through core/utf8.h: malformed bytes become U+FFFD */
        uint32_t cp;
        long len = (long)utf8_decode(p, (size_t)n, (size_t)i, &cp);
        if (len == 0) { buf_put(s, repl, 3); i++; continue; }
        if (len == 1) {
            switch (cp) {
            case '&': buf_put(s, "&amp;", 5); break;
            case '<': buf_put(s, "&lt;", 4); break;
            case '>': buf_put(s, "&gt;", 4); break;
            case '"': buf_put(s, "&quot;", 6); break;
            case '\'': buf_put(s, "&#39;", 5); break;
            default:
                if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') buf_put(s, repl, 3);
                else buf_put(s, (const char *)p + i, 1);
            }
        } else if (cp == 0xFFFE || cp == 0xFFFF) {
            buf_put(s, repl, 3);
        } else {
            buf_put(s, (const char *)p + i, (size_t)len);
        }
        i += len;
    }
}

char *xml_escape(const char *text, long n) {
    SVG tmp;
    memset(&tmp, 0, sizeof tmp);
    buf_reserve(&tmp, 16);
    tmp.buf[0] = 0;
    svg_escape(&tmp, text, n);
    return tmp.buf;
}

const char *svg_new_id(SVG *s, const char *kind) {
    static _Thread_local char id[48];
    snprintf(id, sizeof id, "%s%s%d", s->id_prefix, kind, s->next_id++);
    return id;
}

void svg_group_begin(SVG *s, const char *attrs) {
    if (attrs && *attrs) svg_printf(s, "<g %s>\n", attrs);
    else svg_printf(s, "<g>\n");
}

void svg_group_end(SVG *s) { svg_printf(s, "</g>\n"); }

void svg_clip_begin(SVG *s, double x, double y, double w, double h) {
    char id[48];
    snprintf(id, sizeof id, "%s", svg_new_id(s, "clip"));
    svg_printf(s, "<defs><clipPath id=\"%s\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath></defs>\n",
               id, x, y, w, h);
    svg_printf(s, "<g clip-path=\"url(#%s)\">\n", id);
}

void svg_clip_end(SVG *s) { svg_group_end(s); }

void rgba_css(RGBA c, char *out) {
    int r = (int)lrintf(fminf(fmaxf(c.r, 0), 1) * 255), g = (int)lrintf(fminf(fmaxf(c.g, 0), 1) * 255),
        b = (int)lrintf(fminf(fmaxf(c.b, 0), 1) * 255);
    snprintf(out, 24, "#%02x%02x%02x", r, g, b);
}

/* fill="..." [fill-opacity] stroke="..." [stroke-opacity stroke-width] */
static void paint_attrs(SVG *s, RGBA fill, RGBA stroke, double sw) {
    char c[24];
    if (fill.a <= 0) svg_printf(s, " fill=\"none\"");
    else {
        rgba_css(fill, c);
        svg_printf(s, " fill=\"%s\"", c);
        if (fill.a < 1) svg_printf(s, " fill-opacity=\"%.3g\"", fill.a);
    }
    if (stroke.a <= 0 || sw <= 0) return;
    rgba_css(stroke, c);
    svg_printf(s, " stroke=\"%s\" stroke-width=\"%.3g\"", c, sw);
    if (stroke.a < 1) svg_printf(s, " stroke-opacity=\"%.3g\"", stroke.a);
}

void svg_rect(SVG *s, double x, double y, double w, double h, double rx, RGBA fill, RGBA stroke, double sw) {
    svg_printf(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"", x, y, w, h);
    if (rx > 0) svg_printf(s, " rx=\"%.2f\"", rx);
    paint_attrs(s, fill, stroke, sw);
    svg_printf(s, "/>\n");
}

void svg_line(SVG *s, double x1, double y1, double x2, double y2, RGBA stroke, double sw) {
    svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", x1, y1, x2, y2);
    paint_attrs(s, RGBA_NONE, stroke, sw);
    svg_printf(s, " stroke-linecap=\"square\"/>\n");
}

void svg_polyline(SVG *s, const double *x, const double *y, int n, RGBA stroke, double sw) {
    int i = 0;
    while (i < n) {
        while (i < n && (isnan(x[i]) || isnan(y[i]))) i++;
        int j = i;
        while (j < n && !isnan(x[j]) && !isnan(y[j])) j++;
        if (j - i >= 2) {
            svg_printf(s, "<polyline points=\"");
            for (int k = i; k < j; k++) svg_printf(s, "%s%.2f,%.2f", k > i ? " " : "", x[k], y[k]);
            svg_printf(s, "\"");
            paint_attrs(s, RGBA_NONE, stroke, sw);
            svg_printf(s, " stroke-linejoin=\"round\" stroke-linecap=\"square\"/>\n");
        }
        i = j;
    }
}

void svg_circle(SVG *s, double cx, double cy, double r, RGBA fill, RGBA stroke, double sw) {
    svg_printf(s, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"", cx, cy, r);
    paint_attrs(s, fill, stroke, sw);
    svg_printf(s, "/>\n");
}

void svg_text(SVG *s, double x, double y, const char *text, double size, SVGAnchor anchor, double rotate,
              const char *extra) {
    static const char *anchors[] = {"start", "middle", "end"};
    svg_printf(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.3g\"", x, y, size);
    if (anchor != SVG_START) svg_printf(s, " text-anchor=\"%s\"", anchors[anchor]);
    if (rotate != 0) svg_printf(s, " transform=\"rotate(%.3g %.2f %.2f)\"", rotate, x, y);
    if (extra && *extra) svg_printf(s, " %s", extra);
    svg_printf(s, ">");
    svg_escape(s, text, -1);
    svg_printf(s, "</text>\n");
}

void svg_marker_def(SVG *s, char shape, double size, RGBA face, RGBA edge, double sw, char *id_out) {
    snprintf(id_out, 48, "%s", svg_new_id(s, "m"));
    double r = size / 2;
    svg_printf(s, "<defs><g id=\"%s\"", id_out);
    /* cross and plus are strokes only, drawn in the edge colour */
    if (shape == 'x' || shape == '+') paint_attrs(s, RGBA_NONE, edge, sw > 0 ? sw : 1);
    else paint_attrs(s, face, edge, sw);
    svg_printf(s, ">");
    switch (shape) {
    case 's': svg_printf(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>", -r, -r, size, size); break;
    case '^': svg_printf(s, "<path d=\"M0,%.2f L%.2f,%.2f L%.2f,%.2f Z\"/>", -r, r, r, -r, r); break;
    case 'v': svg_printf(s, "<path d=\"M0,%.2f L%.2f,%.2f L%.2f,%.2f Z\"/>", r, r, -r, -r, -r); break;
    case 'D': svg_printf(s, "<path d=\"M0,%.2f L%.2f,0 L0,%.2f L%.2f,0 Z\"/>", -r, r, r, -r); break;
    case 'x': svg_printf(s, "<path d=\"M%.2f,%.2f L%.2f,%.2f M%.2f,%.2f L%.2f,%.2f\"/>", -r, -r, r, r, -r, r, r, -r); break;
    case '+': svg_printf(s, "<path d=\"M%.2f,0 L%.2f,0 M0,%.2f L0,%.2f\"/>", -r, r, -r, r); break;
    case '.': svg_printf(s, "<circle r=\"%.2f\"/>", r / 2); break;
    default: svg_printf(s, "<circle r=\"%.2f\"/>", r); break;
    }
    svg_printf(s, "</g></defs>\n");
}

void svg_marker_use(SVG *s, const char *id, double x, double y) {
    svg_printf(s, "<use xlink:href=\"#%s\" x=\"%.1f\" y=\"%.1f\"/>\n", id, x, y);
}

void svg_image_png(SVG *s, double x, double y, double w, double h, const uint8_t *png, size_t png_len,
                   int pixelated) {
    char *b64 = base64_encode(png, png_len);
    svg_printf(s, "<image x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" preserveAspectRatio=\"none\"%s "
               "xlink:href=\"data:image/png;base64,",
               x, y, w, h, pixelated ? " style=\"image-rendering:pixelated\"" : "");
    buf_put(s, b64, strlen(b64));
    svg_printf(s, "\"/>\n");
    free(b64);
}
