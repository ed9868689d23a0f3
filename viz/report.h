/*
 * viz/report.h - report.html: one self-contained page (inline SVG, inline
 * CSS, no scripts, no fonts or anything else fetched from the network).
 *
 *   Report r;
 *   report_init(&r, "palinka", "random weights — not GPT-2");  // banner may be NULL
 *   report_section(&r, "Inputs");
 *   report_kv(&r, "file", "palinka.txt (1,120 bytes, 220 tokens)");
 *   report_figure(&r, "Loss curves", svg.buf);          // SVG markup, inlined
 *   const char *head[] = {"latent", "density %", "top tokens"};
 *   report_table_begin(&r, "Top latents by activation", 3, head);
 *   const char *cells[] = {"123", "4.5", " Hungary, fruit"};
 *   report_table_row(&r, cells, NULL);                   // text cells, escaped
 *   report_table_wide_row(&r, heat.buf, 1);              // an SVG under the row
 *   report_table_end(&r);
 *   if (report_save(&r, "out/palinka/report.html") != 0) return cli_fail();
 *   report_free(&r);
 *
 * All text is escaped (viz/svg.h's svg_escape); raw markup is only what the
 * caller passes as SVG. SVGs inlined in one page must use distinct id
 * prefixes (fig_set_id_prefix / textheat_render's id_prefix).
 */
#ifndef VIZ_REPORT_H
#define VIZ_REPORT_H

#include "viz/svg.h"

typedef struct {
    SVG doc;        /* the page being built (an SVG is just a text buffer here) */
    int in_kv;      /* inside a key/value table */
    int in_table;
} Report;

/* Start a page titled "gpt2sae: <title>"; banner: a warning shown on top of
 * the page in red (and in the <title>), or NULL. */
void report_init(Report *r, const char *title, const char *banner);
/* A new <h2> section. */
void report_section(Report *r, const char *heading);
/* A paragraph of text (escaped). */
void report_text(Report *r, const char *text);
/* A paragraph: a link to href (a relative path: the page stays offline)
 * reading text, then the text after (may be NULL); all escaped. */
void report_link(Report *r, const char *text, const char *href, const char *after);
/* One "key: value" line of a two-column table (consecutive calls share a table). */
void report_kv(Report *r, const char *key, const char *value);
/* printf-style value. */
void report_kvf(Report *r, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A figure: svg is SVG markup (from fig_render / textheat_render), inlined
 * as is; caption is escaped. */
void report_figure(Report *r, const char *caption, const char *svg);
/* A table with ncols columns (headers escaped). */
void report_table_begin(Report *r, const char *caption, int ncols, const char *const *headers);
/* One row: cells escaped; numeric[i] != 0 right-aligns cell i (NULL: none). */
void report_table_row(Report *r, const char *const *cells, const int *numeric);
/* A row spanning every column holding raw SVG markup (a text heatmap). */
void report_table_wide_row(Report *r, const char *svg, int ncols);
void report_table_end(Report *r);
/* Close the page and write it atomically. Returns 0 or -1 with err_set(). */
int report_save(Report *r, const char *path);
void report_free(Report *r);

#endif
