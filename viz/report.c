/*
 * viz/report.c - the HTML report: a text buffer with headings, key/value
 * tables, inline SVG figures and tables of latents. See report.h.
 */
#include "viz/report.h"
#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *CSS =
    "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;margin:0 auto;max-width:1280px;padding:16px 24px;"
    "color:#222;background:#fff}\n"
    "h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ccc;"
    "padding-bottom:4px}\n"
    ".banner{background:#b00020;color:#fff;font-weight:bold;padding:8px 12px;border-radius:4px;margin:8px 0;"
    "font-size:16px}\n"
    "table{border-collapse:collapse;margin:6px 0 12px;font-size:14px}\n"
    "td,th{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}\n"
    "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "table.kv td:first-child{color:#555;white-space:nowrap}\n"
    "td.wide{border-bottom:2px solid #ccc;padding-bottom:10px;overflow-x:auto;max-width:1240px}\n"
    "figure{margin:10px 0 22px;overflow-x:auto}figcaption{font-size:14px;color:#444;margin-top:4px}\n"
    "figure svg,td.wide svg{max-width:100%;height:auto}\n"
    ".mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;white-space:pre-wrap}\n"
    "p{font-size:14px;line-height:1.45}\n";

static void close_kv(Report *r) {
    if (r->in_kv) svg_printf(&r->doc, "</table>\n");
    r->in_kv = 0;
}

void report_init(Report *r, const char *title, const char *banner) {
    SVG *d = &r->doc;
    memset(r, 0, sizeof *r);
    /* an SVG is used as a growing text buffer; reset it to an empty page */
    svg_init(d, 0, 0);
    d->len = 0;
    d->buf[0] = 0;
    svg_printf(d, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>gpt2sae: ");
    svg_escape(d, title, -1);
    if (banner && *banner) {
        svg_printf(d, " (");
        svg_escape(d, banner, -1);
        svg_printf(d, ")");
    }
    svg_printf(d, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>gpt2sae: ", CSS);
    svg_escape(d, title, -1);
    svg_printf(d, "</h1>\n");
    if (banner && *banner) {
        svg_printf(d, "<div class=\"banner\">");
        svg_escape(d, banner, -1);
        svg_printf(d, "</div>\n");
    }
}

void report_section(Report *r, const char *heading) {
    close_kv(r);
    svg_printf(&r->doc, "<h2>");
    svg_escape(&r->doc, heading, -1);
    svg_printf(&r->doc, "</h2>\n");
}

void report_text(Report *r, const char *text) {
    close_kv(r);
    svg_printf(&r->doc, "<p>");
    svg_escape(&r->doc, text, -1);
    svg_printf(&r->doc, "</p>\n");
}

void report_link(Report *r, const char *text, const char *href, const char *after) {
    close_kv(r);
    svg_printf(&r->doc, "<p><a href=\"");
    svg_escape(&r->doc, href, -1);
    svg_printf(&r->doc, "\">");
    svg_escape(&r->doc, text, -1);
    svg_printf(&r->doc, "</a>");
    if (after) svg_escape(&r->doc, after, -1);
    svg_printf(&r->doc, "</p>\n");
}

void report_kv(Report *r, const char *key, const char *value) {
    if (!r->in_kv) svg_printf(&r->doc, "<table class=\"kv\">\n");
    r->in_kv = 1;
    svg_printf(&r->doc, "<tr><td>");
    svg_escape(&r->doc, key, -1);
    svg_printf(&r->doc, "</td><td>");
    svg_escape(&r->doc, value, -1);
    svg_printf(&r->doc, "</td></tr>\n");
}

void report_kvf(Report *r, const char *key, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    report_kv(r, key, buf);
}

void report_figure(Report *r, const char *caption, const char *svg) {
    close_kv(r);
    svg_printf(&r->doc, "<figure>\n");
    if (svg) svg_printf(&r->doc, "%s", svg);
    if (caption && *caption) {
        svg_printf(&r->doc, "<figcaption>");
        svg_escape(&r->doc, caption, -1);
        svg_printf(&r->doc, "</figcaption>\n");
    }
    svg_printf(&r->doc, "</figure>\n");
}

void report_table_begin(Report *r, const char *caption, int ncols, const char *const *headers) {
    close_kv(r);
    if (caption && *caption) {
        svg_printf(&r->doc, "<h3>");
        svg_escape(&r->doc, caption, -1);
        svg_printf(&r->doc, "</h3>\n");
    }
    svg_printf(&r->doc, "<table>\n<tr>");
    for (int i = 0; i < ncols; i++) {
        svg_printf(&r->doc, "<th>");
        svg_escape(&r->doc, headers[i], -1);
        svg_printf(&r->doc, "</th>");
    }
    svg_printf(&r->doc, "</tr>\n");
    r->in_table = ncols;
}

void report_table_row(Report *r, const char *const *cells, const int *numeric) {
    svg_printf(&r->doc, "<tr>");
    for (int i = 0; i < r->in_table; i++) {
        svg_printf(&r->doc, numeric && numeric[i] ? "<td class=\"num\">" : "<td>");
        svg_escape(&r->doc, cells[i], -1);
        svg_printf(&r->doc, "</td>");
    }
    svg_printf(&r->doc, "</tr>\n");
}

void report_table_wide_row(Report *r, const char *svg, int ncols) {
    svg_printf(&r->doc, "<tr><td class=\"wide\" colspan=\"%d\">%s</td></tr>\n", ncols, svg ? svg : "");
}

void report_table_end(Report *r) {
    svg_printf(&r->doc, "</table>\n");
    r->in_table = 0;
}

int report_save(Report *r, const char *path) {
    close_kv(r);
    svg_printf(&r->doc, "<p style=\"color:#777;font-size:12px\">Written by gpt2sae %s. This page is "
                        "self-contained: it loads nothing from the network.</p>\n</body>\n</html>\n",
               GS_VERSION);
    if (file_write_atomic(path, r->doc.buf, r->doc.len) != 0) return err_prefix("writing the report %s", path);
    return 0;
}

void report_free(Report *r) {
    if (!r) return;
    svg_free(&r->doc);
}
