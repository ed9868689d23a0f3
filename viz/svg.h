/*
 * viz/svg.h - a small hand-written SVG writer, a PNG encoder and colormaps.
 *
 *   SVG s;
 *   svg_init(&s, 640, 480);                         // width, height in px
 *   svg_rect(&s, 10, 10, 100, 50, 4, rgba(1, 0, 0, .8), RGBA_NONE, 0);
 *   svg_text(&s, 60, 40, "a < b & \"c\"", 12, SVG_MIDDLE, "font-family=\"monospace\"");
 *   double xs[] = {0, 50, 100}, ys[] = {100, 80, 120};
 *   svg_polyline(&s, xs, ys, 3, rgba(0, 0, 0, 1), 1.0);
 *   svg_finish(&s);                                 // closes </svg>
 *   if (svg_save(&s, "out/fig.svg") != 0) return cli_fail();   // atomic
 *   svg_free(&s);
 *
 * The document is built in memory (s.buf, s.len) so it can be written to a
 * file or inlined in an HTML page. Every piece of text goes through
 * svg_escape(), which also repairs what XML cannot hold (invalid UTF-8,
 * control characters), so the output is always well-formed XML.
 *
 * Coordinates are user units (1 unit = 1 CSS px at 100% zoom; matplotlib's
 * SVG backend uses 72 units per inch, and so do the plots in viz/plot.h).
 */
#ifndef VIZ_SVG_H
#define VIZ_SVG_H

#include <stddef.h>
#include <stdint.h>

/* A colour with alpha, each channel in [0, 1]. a == 0 means "none". */
typedef struct { float r, g, b, a; } RGBA;
#define RGBA_NONE ((RGBA){0, 0, 0, 0})
static inline RGBA rgba(float r, float g, float b, float a) { return (RGBA){r, g, b, a}; }

typedef struct {
    char *buf;      /* the document so far, NUL-terminated (owned) */
    size_t len, cap;
    double width, height;
    int next_id;    /* for unique clip-path / symbol ids within the document */
    char id_prefix[16]; /* makes ids unique when several SVGs share one HTML page */
} SVG;

typedef enum { SVG_START, SVG_MIDDLE, SVG_END } SVGAnchor;

/* Start a document width x height px. id_prefix (may be NULL) is prepended to
 * every id the writer makes, so SVGs inlined in one page do not collide. */
void svg_init(SVG *s, double width, double height);
void svg_set_id_prefix(SVG *s, const char *prefix);
/* Close the root element. Call once, before svg_save or using s->buf. */
void svg_finish(SVG *s);
/* Write s->buf to path atomically (temp file + rename). Returns 0 or -1. */
int svg_save(const SVG *s, const char *path);
void svg_free(SVG *s);

/* Append raw, already-valid markup (printf-style). */
void svg_printf(SVG *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append text[0..n) escaped for XML text or attribute values: & < > " ' become
 * entities; invalid UTF-8 bytes, C0 controls other than \t \n \r, and the
 * non-characters U+FFFE/U+FFFF become U+FFFD. n < 0: up to the NUL. */
void svg_escape(SVG *s, const char *text, long n);
/* The same escaping into a new NUL-terminated string (caller frees). */
char *xml_escape(const char *text, long n);

/* A fresh id ("<prefix>c7"); valid until the next call (static buffer per SVG). */
const char *svg_new_id(SVG *s, const char *kind);

/* Groups: attrs is raw markup (e.g. "transform=\"translate(10,0)\""), or NULL. */
void svg_group_begin(SVG *s, const char *attrs);
void svg_group_end(SVG *s);
/* A clip rectangle: everything until svg_clip_end is clipped to it. */
void svg_clip_begin(SVG *s, double x, double y, double w, double h);
void svg_clip_end(SVG *s);

/* Shapes. A colour with a == 0 is written as "none". sw = stroke width. */
void svg_rect(SVG *s, double x, double y, double w, double h, double rx, RGBA fill, RGBA stroke, double sw);
void svg_line(SVG *s, double x1, double y1, double x2, double y2, RGBA stroke, double sw);
/* A polyline through n points (NaN points break the line, as in matplotlib). */
void svg_polyline(SVG *s, const double *x, const double *y, int n, RGBA stroke, double sw);
void svg_circle(SVG *s, double cx, double cy, double r, RGBA fill, RGBA stroke, double sw);
/* Text at (x, y) (baseline), font size in px; extra = raw attributes or NULL.
 * rotate: degrees about (x, y) (-90 for a y-axis label). */
void svg_text(SVG *s, double x, double y, const char *text, double size, SVGAnchor anchor, double rotate,
              const char *extra);

/* Markers, matplotlib's shapes: 'o' circle, 's' square, '^' triangle up,
 * 'v' triangle down, 'D' diamond, 'x' cross, '+' plus, '.' point. `size` is
 * the marker's full width in px (matplotlib's markersize in points).
 * svg_marker_def writes a reusable <symbol>-like <g> in <defs> and returns its
 * id (copied into id_out, >= 48 bytes); svg_marker_use places one instance.
 * Thousands of markers then cost ~40 bytes each. */
void svg_marker_def(SVG *s, char shape, double size, RGBA face, RGBA edge, double sw, char *id_out);
void svg_marker_use(SVG *s, const char *id, double x, double y);

/* An embedded PNG image (base64 data: URI) stretched to the box. pixelated:
 * nearest-neighbour sampling (for an image magnified into the box); else the
 * viewer's smooth resampling (for an image larger than the box). */
void svg_image_png(SVG *s, double x, double y, double w, double h, const uint8_t *png, size_t png_len,
                   int pixelated);

/* "rgb(255,128,0)" for c (alpha ignored) into out (>= 24 bytes). */
void rgba_css(RGBA c, char *out);

/* ---- PNG (viz/png.c) ---------------------------------------------------- */

/* Encode an 8-bit image as PNG (zlib deflate, CRC-32 from zlib). channels:
 * 1 = palette indices (palette: 256 RGB triples, required), 3 = RGB, 4 = RGBA.
 * pix: (h, w, channels) row-major. *out is malloc'ed (caller frees).
 * Returns 0, or -1 with err_set() (zlib failure, size out of range). */
int png_encode(uint8_t **out, size_t *out_len, const uint8_t *pix, int w, int h, int channels,
               const uint8_t *palette);

/* Base64 (RFC 4648, with padding) of data[0..n) as a new NUL-terminated string. */
char *base64_encode(const uint8_t *data, size_t n);

/* ---- colormaps (viz/colormap.c) ------------------------------------------ */

typedef enum { CMAP_VIRIDIS, CMAP_REDS } Colormap;
/* The colour at t in [0, 1] (clamped; NaN gives the low end), as matplotlib's
 * cmap(t): a 256-entry lookup table, index = (int)(t * 256) clamped to 255. */
RGBA cmap_color(Colormap cm, double t);
/* The 256-entry table as RGB bytes (for a PNG palette), into out[768]. */
void cmap_table_u8(Colormap cm, uint8_t *out);

#endif
