/*
 * tests/test_viz.c - viz/: XML escaping, base64, PNG encoding (decoded here
 * with zlib's inflate and checked chunk by chunk), colormaps against
 * matplotlib (tests/golden/colormaps.txt, made by tests/gen_viz_golden.py),
 * nice ticks, the histogram SVG's bars against viz/hist.h's layout computed
 * in Python (tests/golden/histogram.txt, tests/gen_viz_golden.py hist), and
 * a set of figures like the seed's. With VIZ_OUT=DIR set the
 * figures are written there (tests/test_viz_xml.sh then parses every SVG
 * with an XML parser and decodes every PNG with Pillow).
 */
#include "core/util.h"
#include "tests/test.h"
#include "tests/test_util.h"
#include "tokenizer/bpe.h"
#include "viz/figures.h"
#include "viz/hist.h"
#include "viz/plot.h"
#include "viz/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char *escaped(const char *s, long n) { return xml_escape(s, n); }

/* xml_escape cases: the input (n bytes, -1: up to its NUL), what it must
 * become, and what the case is. */
static const struct {
    const char *in;
    long n;
    const char *want, *what;
} escape_cases[] = {
    {"a<b & \"c\" 'd'>", -1, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;", "escape markup characters"},
    {"p\xC3\xA1linka \xE2\x80\x94 \xF0\x9F\x8D\x90", -1, "p\xC3\xA1linka \xE2\x80\x94 \xF0\x9F\x8D\x90",
     "valid UTF-8 kept as is"},
    {"x\xFFy", -1, "x\xEF\xBF\xBDy", "a stray byte 0xFF becomes U+FFFD"},
    {"\xC3", -1, "\xEF\xBF\xBD", "a truncated sequence becomes U+FFFD"},
    {"\xC0\xAF", -1, "\xEF\xBF\xBD\xEF\xBF\xBD", "an overlong '/' becomes two U+FFFD"},
    {"a\x01" "b\tc\nd", -1, "a\xEF\xBF\xBD" "b\tc\nd", "C0 control replaced, tab and newline kept"},
    {"ab\0cd", 5, "ab\xEF\xBF\xBD" "cd", "an embedded NUL is replaced"},
};

static void test_escape(void) {
    for (size_t i = 0; i < sizeof escape_cases / sizeof *escape_cases; i++) {
        char *e = escaped(escape_cases[i].in, escape_cases[i].n);
        int ok = strcmp(e, escape_cases[i].want) == 0;
        CHECK(ok, "%s%s%s", escape_cases[i].what, ok ? "" : ": got ", ok ? "" : e);   /* one line when it passes */
        free(e);
    }
    char *e = escaped("\xED\xA0\x80", -1);
    CHECK(strstr(e, "\xED") == NULL, "a UTF-16 surrogate is not passed through");
    free(e);
}

/* Random bytes (biased towards UTF-8 lead/continuation bytes and markup):
 * the escaped text must be valid UTF-8 by the tokenizer's own checker (an
 * independent implementation), hold no markup character or C0 control other
 * than \t \n \r, and every '&' must start one of our five entities. */
static void test_escape_random(void) {
    Rng r;
    rng_seed(&r, 11);
    static const unsigned char pool[] = {'a', ' ', '<', '>', '&', '"', '\'', 0, 1, '\n', 0x7F, 0x80, 0xBF, 0xC0, 0xC2,
                                         0xC3, 0xA1, 0xE2, 0x80, 0x94, 0xED, 0xA0, 0xEF, 0xBF, 0xBE, 0xF0, 0x9F, 0xF4,
                                         0x90, 0xF5, 0xFF};
    int bad = 0, cases = 20000;
    char buf[40];
    for (int c = 0; c < cases && !bad; c++) {
        int n = (int)(rng_u64(&r) % 40);
        for (int i = 0; i < n; i++) buf[i] = (char)pool[rng_u64(&r) % sizeof pool];
        char *e = xml_escape(buf, n);
        size_t off;
        if (bpe_utf8_check(e, strlen(e), &off) != 0) bad = 1;
        for (const char *p = e; *p && !bad; p++) {
            unsigned char u = (unsigned char)*p;
            if (strchr("<>\"'", u) || (u < 0x20 && u != '\t' && u != '\n' && u != '\r')) bad = 2;
            if (u == '&' && strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) && strncmp(p, "&gt;", 4) &&
                strncmp(p, "&quot;", 6) && strncmp(p, "&#39;", 5))
                bad = 3;
        }
        if (bad) printf("    case %d (%d bytes): failure %d\n", c, n, bad);
        free(e);
    }
    CHECK(!bad, "escape of %d random byte strings: valid UTF-8 (bpe_utf8_check), no markup, no controls", cases);
}

/* RFC 4648 section 10 test vectors */
static void test_base64(void) {
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    int ok = 1;
    for (int i = 0; i < 7; i++) {
        char *b = base64_encode((const uint8_t *)in[i], strlen(in[i]));
        if (strcmp(b, out[i]) != 0) ok = 0;
        free(b);
    }
    CHECK(ok, "base64 matches RFC 4648's test vectors");
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Decode our PNG (no interlace, 8-bit): walk the chunks, check every CRC,
 * inflate the IDATs, undo filters 0 and 1 (the only ones we write; others
 * fail the check). Returns pixels (h, w, ch) or NULL. */
static uint8_t *png_decode_check(const uint8_t *png, size_t n, int *w, int *h, int *ch, uint8_t *pal) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n < 8 || memcmp(png, sig, 8) != 0) return NULL;
    size_t pos = 8, zcap = 0, zlen = 0;
    uint8_t *z = NULL;
    int color = -1, seen_end = 0;
    while (pos + 12 <= n) {
        uint32_t len = be32(png + pos);
        if (pos + 12 + len > n) break;
        const uint8_t *type = png + pos + 4, *data = png + pos + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, 4 + len);
        if (crc != be32(data + len)) { free(z); return NULL; }
        if (!memcmp(type, "IHDR", 4)) {
            *w = (int)be32(data);
            *h = (int)be32(data + 4);
            if (data[8] != 8 || data[12] != 0) { free(z); return NULL; }
            color = data[9];
        } else if (!memcmp(type, "PLTE", 4)) {
            if (pal) memcpy(pal, data, len < 768 ? len : 768);
        } else if (!memcmp(type, "IDAT", 4)) {
            if (zlen + len > zcap) { zcap = (zlen + len) * 2; z = xrealloc(z, zcap); }
            memcpy(z + zlen, data, len);
            zlen += len;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_end = 1;
        }
        pos += 12 + len;
    }
    if (!seen_end || color < 0 || pos != n) { free(z); return NULL; }
    *ch = color == 3 ? 1 : color == 2 ? 3 : color == 6 ? 4 : 0;
    if (!*ch) { free(z); return NULL; }
    size_t stride = (size_t)*w * *ch;
    uLongf raw_len = (uLongf)((stride + 1) * *h);
    uint8_t *raw = xmalloc(raw_len), *pix = xmalloc(stride * *h);
    uLongf got = raw_len;
    int zr = uncompress(raw, &got, z, (uLong)zlen);
    free(z);
    if (zr != Z_OK || got != raw_len) { free(raw); free(pix); return NULL; }
    for (int y = 0; y < *h; y++) {
        const uint8_t *src = raw + y * (stride + 1);
        uint8_t *dst = pix + y * stride;
        for (size_t i = 0; i < stride; i++) {
            uint8_t left = i >= (size_t)*ch ? dst[i - *ch] : 0;
            if (src[0] == 0) dst[i] = src[1 + i];
            else if (src[0] == 1) dst[i] = (uint8_t)(src[1 + i] + left);
            else { free(raw); free(pix); return NULL; }
        }
    }
    free(raw);
    return pix;
}

static void test_png(void) {
    Rng r;
    rng_seed(&r, 7);
    int W = 37, H = 11;
    uint8_t *rgb = xmalloc(W * H * 4);
    for (int i = 0; i < W * H * 4; i++) rgb[i] = (uint8_t)(rng_u64(&r) & 0xFF);
    for (int ch = 3; ch <= 4; ch++) {
        uint8_t *png;
        size_t n;
        int rc = png_encode(&png, &n, rgb, W, H, ch, NULL);
        int w = 0, h = 0, c = 0;
        uint8_t *dec = rc == 0 ? png_decode_check(png, n, &w, &h, &c, NULL) : NULL;
        CHECK(dec && w == W && h == H && c == ch && memcmp(dec, rgb, (size_t)W * H * ch) == 0,
              "PNG %s %dx%d: CRCs, zlib stream and pixels round-trip", ch == 3 ? "RGB" : "RGBA", W, H);
        free(dec);
        free(png);
    }
    uint8_t pal[768], pal2[768];
    cmap_table_u8(CMAP_VIRIDIS, pal);
    uint8_t *png;
    size_t n;
    int rc = png_encode(&png, &n, rgb, W, H, 1, pal);
    int w = 0, h = 0, c = 0;
    uint8_t *dec = rc == 0 ? png_decode_check(png, n, &w, &h, &c, pal2) : NULL;
    CHECK(dec && c == 1 && memcmp(dec, rgb, (size_t)W * H) == 0 && memcmp(pal, pal2, 768) == 0,
          "PNG palette image: indices and PLTE round-trip");
    free(dec);
    free(png);
    CHECK(png_encode(&png, &n, rgb, 0, 5, 3, NULL) != 0, "PNG of width 0 is refused: %s", err_get());
    CHECK(png_encode(&png, &n, rgb, 4, 4, 1, NULL) != 0, "a palette PNG without a palette is refused");
    free(rgb);
}

static void test_colormaps(void) {
    char *text;
    size_t len;
    if (test_read("tests/golden/colormaps.txt", &text, &len) != 0) return;
    int rows = 0;
    double worst_v = 0, worst_r = 0;
    char *save, *line = strtok_r(text, "\n", &save);
    for (; line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        double t, v[3], r[3];
        if (sscanf(line, "%lf %lf %lf %lf %lf %lf %lf", &t, &v[0], &v[1], &v[2], &r[0], &r[1], &r[2]) != 7) continue;
        RGBA cv = cmap_color(CMAP_VIRIDIS, t), cr = cmap_color(CMAP_REDS, t);
        worst_v = fmax(worst_v, fmax(fabs(cv.r - v[0]), fmax(fabs(cv.g - v[1]), fabs(cv.b - v[2]))));
        worst_r = fmax(worst_r, fmax(fabs(cr.r - r[0]), fmax(fabs(cr.g - r[1]), fabs(cr.b - r[2]))));
        rows++;
    }
    free(text);
    CHECK(rows >= 60, "colormap golden: %d sample points", rows);
    CHECK(worst_v < 1e-6, "viridis(t) matches matplotlib's cm.viridis at every point (worst %.2g)", worst_v);
    CHECK(worst_r < 1e-6, "Reds(t) from ColorBrewer's points matches matplotlib's cm.Reds (worst %.2g)", worst_r);
}

static void test_ticks(void) {
    static const double ranges[][2] = {{0, 1}, {-0.5, 219.5}, {0.00012, 0.00047}, {-3.2, 7.9}, {95, 105},
                                       {0, 6143}, {1e6, 5e6}, {-1e-9, 1e-9}, {0.1, 0.1000001}};
    int ok = 1;
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        double t[32], step;
        int n = plot_nice_ticks(ranges[k][0], ranges[k][1], 6, t, &step);
        double m = step / pow(10, floor(log10(step)));
        int nice = fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 2.5) < 1e-9 || fabs(m - 5) < 1e-9;
        if (n < 2 || n > 7 || !nice) ok = 0;
        for (int i = 0; i < n; i++) {
            if (t[i] < ranges[k][0] - step * 1e-6 || t[i] > ranges[k][1] + step * 1e-6) ok = 0;
            if (i && fabs(t[i] - t[i - 1] - step) > step * 1e-6) ok = 0;
        }
        if (!ok) {
            printf("    range [%g, %g]: %d ticks, step %g\n", ranges[k][0], ranges[k][1], n, step);
            break;
        }
    }
    CHECK(ok, "nice ticks: 2..7 ticks inside the range, evenly spaced, step 1/2/2.5/5 x 10^k");
    char a[40], b[40], c[40], d[40];
    plot_tick_label(0.25, 0.25, 0, a);
    plot_tick_label(-0.5, 0.5, 0, b);
    plot_tick_label(2000, 1000, 0, c);
    plot_tick_label(3e-5, 1e-5, -5, d);
    CHECK(!strcmp(a, "0.25") && !strcmp(b, "\xE2\x88\x92" "0.5") && !strcmp(c, "2000") && !strcmp(d, "3"),
          "tick labels: '%s' '%s' '%s' '%s'", a, b, c, d);
}

/* Seed-like data: losses falling over 100 epochs, a sparse [T x L] latent matrix. */
static void write_figures(const char *dir) {
    int E = 100, T = 220, L = 6144;
    double loss[3][100];
    for (int e = 0; e < E; e++) {
        loss[0][e] = 0.5 + 2.0 * exp(-e / 30.0);
        loss[1][e] = 0.02 + 0.05 * exp(-e / 20.0);
        loss[2][e] = 3e-5 * (1 + exp(-e / 10.0));
    }
    Rng r;
    rng_seed(&r, 3);
    float *lat = xcalloc((size_t)T * L, sizeof(float));
    for (int t = 0; t < T; t++)
        for (int j = 0; j < L; j++)
            if (rng_uniform(&r) < 0.05f * (j % 7 == 0)) lat[(size_t)t * L + j] = 0.15f * rng_uniform(&r);
    RGBA faces[3] = {rgba(.9f, .7f, .7f, .5f), rgba(.7f, .9f, .7f, .5f), rgba(.7f, .7f, .9f, .5f)};
    const char *fmts[3] = {"ks-", "ko-", "k^-"}, *titles[3] = {"Total loss", "Sparsity loss", "Decorrelation loss"};
    Figure f;
    fig_init(&f, 12, 3, 1, 3);
    fig_set_banner(&f, "random weights \xE2\x80\x94 not GPT-2 <&>");
    for (int i = 0; i < 3; i++) {
        axes_plot(fig_axes(&f, i), NULL, loss[i], E, fmts[i], faces[i], 0.5, 1);
        axes_set(fig_axes(&f, i), "Epoch", "Loss", titles[i]);
    }
    char *p = path_join(dir, "losses.svg");
    CHECK(fig_save(&f, p) == 0, "write %s", p);
    free(p);
    fig_free(&f);

    fig_init(&f, 10, 3, 1, 1);
    axes_image(fig_axes(&f, 0), lat, T, L, 0, 0.1, CMAP_VIRIDIS, 1);
    axes_set(fig_axes(&f, 0), "Latent component index", "Token index", "Latent activations");
    SVG s;
    fig_render(&f, &s);
    CHECK(strstr(s.buf, "data:image/png;base64,") != NULL && strstr(s.buf, "<rect") != NULL,
          "image plot embeds a PNG (%zu bytes of SVG for a %d x %d image)", s.len, T, L);
    size_t n_rect = 0;
    for (const char *q = s.buf; (q = strstr(q, "<rect")) != NULL; q++) n_rect++;
    CHECK(n_rect < 20, "image plot is not drawn as rectangles (%zu <rect>)", n_rect);
    p = path_join(dir, "latents.svg");
    CHECK(svg_save(&s, p) == 0, "write %s", p);
    free(p);
    svg_free(&s);
    fig_free(&f);

    /* three latent panels: density, activation, density vs activation */
    double *dens = xmalloc(sizeof(double) * L), *act = xmalloc(sizeof(double) * L), *idx = xmalloc(sizeof(double) * L);
    for (int j = 0; j < L; j++) {
        int nz = 0;
        double sum = 0;
        for (int t = 0; t < T; t++)
            if (lat[(size_t)t * L + j] != 0) { nz++; sum += lat[(size_t)t * L + j]; }
        dens[j] = 100.0 * nz / T;
        act[j] = nz ? sum / nz : 0;
        idx[j] = j;
    }
    fig_init(&f, 12, 3.3, 1, 3);
    axes_plot(fig_axes(&f, 0), idx, dens, L, "ko", rgba(.9f, .7f, .7f, 1), 0, 0.5);
    axes_set(fig_axes(&f, 0), "Latent component index", "% tokens with activation", "Latent layer is 14.29% dense");
    axes_plot(fig_axes(&f, 1), idx, act, L, "ko", rgba(.7f, .9f, .7f, 1), 0, 0.5);
    axes_set(fig_axes(&f, 1), "Latent component index", "Nonzero activations", "Latent component activations");
    axes_plot(fig_axes(&f, 2), act, dens, L, "ko", rgba(.7f, .7f, .9f, 1), 0, 0.5);
    axes_set(fig_axes(&f, 2), "Nonzero activations", "% tokens with activation", "Activations by density");
    p = path_join(dir, "density.svg");
    CHECK(fig_save(&f, p) == 0, "write %s", p);
    free(p);
    fig_free(&f);
    free(idx);

    /* a text heatmap with awkward tokens */
    const char *toks[] = {"P", "al", "inka", " is", " a", " traditional", " <fruit>", " &", "\n", " spirit",
                          "\xE2\x80", "\x94", "\xC3\xA1", " \"quoted\"", "\t", " end"};
    int NT = (int)(sizeof toks / sizeof toks[0]);
    int lens[64];
    float acts[64];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < NT; i++) {
            lens[k * NT + i] = (int)strlen(toks[i]);
            acts[k * NT + i] = (float)((i * 7 + k * 3) % 11);
        }
    const char *toks3[64];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < NT; i++) toks3[k * NT + i] = toks[i];
    p = path_join(dir, "textheat.svg");
    CHECK(textheat_save(p, toks3, lens, acts, 3 * NT, 0, 3 * NT, "Latent component 42", "random weights") == 0,
          "write %s", p);
    free(p);
    int first, count;
    textheat_window(acts, 3 * NT, 20, &first, &count);
    CHECK(count == 20 && first >= 0 && first + count <= 3 * NT, "text heatmap window: %d tokens from %d", count, first);

    /* the seed's figures and a report holding them, as the pipeline writes it */
    float losses[300], *dens_f = xmalloc(sizeof(float) * L), *act_f = xmalloc(sizeof(float) * L);
    for (int e = 0; e < 100; e++)
        for (int i = 0; i < 3; i++) losses[3 * e + i] = (float)loss[i][e];
    for (int j = 0; j < L; j++) dens_f[j] = (float)dens[j], act_f[j] = (float)act[j];
    Report rep;
    report_init(&rep, "test <report>", "random weights \xE2\x80\x94 not GPT-2");
    report_section(&rep, "Inputs & parameters");
    report_kv(&rep, "file", "palinka.txt <220 tokens>");
    report_kvf(&rep, "epochs", "%d", 100);
    figure_losses(&s, losses, 100, "random weights", "a_");
    report_figure(&rep, "losses", s.buf);
    svg_free(&s);
    figure_latents(&s, lat, T, L, NULL, "b_");
    report_figure(&rep, "latents", s.buf);
    svg_free(&s);
    figure_density(&s, dens_f, act_f, L, NULL, "c_");
    CHECK(strstr(s.buf, "% dense") != NULL, "density figure's title gives the percentage of active latents");
    report_figure(&rep, "density", s.buf);
    svg_free(&s);
    figure_score(&s, act_f, L, "Geography token activation score", NULL, "d_");
    report_figure(&rep, "score", s.buf);
    svg_free(&s);
    const char *head[] = {"latent", "top tokens"};
    report_table_begin(&rep, "Top latents", 2, head);
    const char *cells[] = {"7", "\xE2\x90\xA3Hungary 0.3, <b>&"};
    report_table_row(&rep, cells, (const int[]){1, 0});
    textheat_render(&s, toks3, lens, acts, 3 * NT, 0, 3 * NT, "Latent component 7", NULL, "e_");
    report_table_wide_row(&rep, s.buf, 2);
    svg_free(&s);
    report_table_end(&rep);
    p = path_join(dir, "report.html");
    CHECK(report_save(&rep, p) == 0, "write %s (%zu bytes)", p, rep.doc.len);
    free(p);
    report_free(&rep);
    free(dens_f);
    free(act_f);
    free(dens);
    free(act);
    free(lat);

    /* a standalone PNG for the decoder in test_viz_xml.sh */
    uint8_t pal[768], *png;
    size_t n;
    uint8_t ramp[16 * 8];
    for (int i = 0; i < 16 * 8; i++) ramp[i] = (uint8_t)(i * 2);
    cmap_table_u8(CMAP_VIRIDIS, pal);
    if (png_encode(&png, &n, ramp, 16, 8, 1, pal) == 0) {
        p = path_join(dir, "ramp.png");
        CHECK(file_write_atomic(p, png, n) == 0, "write %s", p);
        free(p);
        free(png);
    }
}

/* The heatmap's boxes: Reds(a^2) of the min-max scaled activation, alpha .8,
 * in token order (cmap_color itself is checked against matplotlib above);
 * white text exactly on the boxes where white contrasts more than black; a
 * colour key labelled with the activation range. */
static void test_textheat_colours(void) {
    const char *toks[4] = {"a", " b", "<c>", "d"};
    int lens[4] = {1, 2, 3, 1};
    float acts[4] = {2, 4, 6, 3}; /* scaled: 0, .5, 1, .25 */
    double want_t[4] = {0, 0.25, 1, 0.0625};
    SVG s;
    textheat_render(&s, toks, lens, acts, 4, 0, 4, "t", NULL, NULL);
    int ok = 1, n = 0, light_ok = 1, n_light = 0;
    const char *p = s.buf;
    while ((p = strstr(p, "<g><title>token ")) != NULL) { /* one group per token: box, then text */
        const char *r = strstr(p, "<rect x="), *f = r ? strstr(r, "fill=\"") : NULL, *t = f ? strstr(f, "<text ") : NULL;
        if (!t || n >= 4) { ok = 0; break; }
        char want[24];
        RGBA c = cmap_color(CMAP_REDS, want_t[n]);
        rgba_css(c, want);
        if (strncmp(f + 6, want, 7) != 0 || !strstr(r, "fill-opacity=\"0.8\"")) ok = 0;
        c.a = 0.8f;
        const char *end = strchr(t, '>');
        int white = end && memmem(t, (size_t)(end - t), "fill=\"#ffffff\"", 14) != NULL;
        if (white != textheat_light_text(c)) light_ok = 0;
        n_light += white;
        n++;
        p = t;
    }
    CHECK(ok && n == 4, "text heatmap: 4 boxes coloured Reds(a^2) of the min-max scaled activation, alpha .8");
    CHECK(light_ok && n_light == 1, "white text on the darkest box only (%d of 4), black on the others", n_light);
    CHECK(strstr(s.buf, "&lt;c&gt;") != NULL && strstr(s.buf, "\xC2\xA0" "b") != NULL,
          "token text escaped, a leading space kept as a no-break space");
    const char *key = strstr(s.buf, "<g class=\"key\">");
    CHECK(key && strstr(key, ">activation<") && strstr(key, ">2<") && strstr(key, ">6<"),
          "colour key: labelled 'activation', ticks from the lowest (2) to the highest (6) activation");
    svg_free(&s);

    /* contrast rule against WCAG's formula: Reds(1) at .8 is dark (white
     * text), Reds(.25) light (black text), and so is an empty box */
    RGBA dark = cmap_color(CMAP_REDS, 1), light = cmap_color(CMAP_REDS, 0.25), white = rgba(1, 1, 1, 1);
    dark.a = light.a = 0.8f;
    CHECK(textheat_light_text(dark) && !textheat_light_text(light) && !textheat_light_text(white),
          "light text on Reds(1), dark text on Reds(.25) and on white");

    /* one value only (a constant latent): the key still gives it */
    float same[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    textheat_render(&s, toks, lens, same, 4, 0, 4, "t", NULL, NULL);
    key = strstr(s.buf, "<g class=\"key\">");
    CHECK(key && strstr(key, ">0.5<"), "colour key of a constant latent names its one value");
    svg_free(&s);
}

/* The density and score figures leave out latents without a value (dead;
 * no score), count them in a note, and draw every other latent. */
static void test_dead_not_drawn(void) {
    enum { L = 1000 };
    float dens[L], act[L], score[L];
    int live = 0, scored = 0;
    for (int j = 0; j < L; j++) {
        int on = j % 5 == 0;
        dens[j] = on ? 0.5f + (j % 7) : 0;
        act[j] = on ? 0.1f * (j % 13) + 0.05f : 0;
        score[j] = j % 4 == 0 ? 1.0f + (j % 3) : 0;
        live += on;
        scored += score[j] != 0;
    }
    SVG s;
    figure_density(&s, dens, act, L, NULL, NULL);
    size_t uses = 0;
    for (const char *q = s.buf; (q = strstr(q, "<use ")) != NULL; q++) uses++;
    char want[96];
    snprintf(want, sizeof want, "%d of %d latents dead (never active), not drawn", L - live, L);
    CHECK(uses == 3 * (size_t)live, "density figure: %zu markers for %d live latents in 3 panels (dead ones not drawn)",
          uses, live);
    CHECK(strstr(s.buf, want) != NULL, "density figure: a note says '%s'", want);
    svg_free(&s);
    figure_score(&s, score, L, "Geography token activation score", NULL, NULL);
    uses = 0;
    for (const char *q = s.buf; (q = strstr(q, "<use ")) != NULL; q++) uses++;
    snprintf(want, sizeof want, "%d of %d latents have no score", L - scored, L);
    CHECK(uses == (size_t)scored && strstr(s.buf, want) != NULL,
          "score figure: %zu markers for %d scored latents; a note says '%s'", uses, scored, want);
    svg_free(&s);
    for (int j = 0; j < L; j++) dens[j] = 1;
    figure_density(&s, dens, act, L, NULL, NULL);
    CHECK(strstr(s.buf, "dead (never active)") == NULL, "no dead latents: no note");
    svg_free(&s);
}

/* svg_histogram against the golden: every bar of its path (x, y, width,
 * height, printed with 2 decimals) within 0.006 of Python's, no other bar, the
 * labels lo and hi; each written to dir for test_viz_xml.sh's XML parse. */
static void test_histogram(const char *dir) {
    char *text = NULL;
    size_t len = 0;
    if (test_read("tests/golden/histogram.txt", &text, &len) != 0) return;
    int n_case = 0;
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    while (line) {
        if (strncmp(line, "case ", 5) != 0) { line = strtok_r(NULL, "\n", &save); continue; }
        int nb, off;
        double lo, hi, w, h;
        sscanf(line, "case %d %lf %lf %lf %lf%n", &nb, &lo, &hi, &w, &h, &off);
        uint32_t *counts = xcalloc((size_t)nb, sizeof(uint32_t));
        const char *p = line + off;
        for (int b = 0; b < nb; b++) {
            int k = 0;
            sscanf(p, "%u%n", &counts[b], &k);
            p += k;
        }
        SVG s;
        svg_histogram(&s, counts, nb, lo, hi, w, h, rgba(0.88f, 0.44f, 0, 1), "activation");
        const char *d = strstr(s.buf, "<path");
        d = d ? strstr(d, " d=\"") : NULL;
        if (d) d += 4;
        int n_bar = 0, bad = 0, labels = 0;
        double worst = 0;
        while ((line = strtok_r(NULL, "\n", &save)) && strncmp(line, "case ", 5) != 0) {
            double g[4], x[4];
            char lab[64];
            if (sscanf(line, "bar %lf %lf %lf %lf", &g[0], &g[1], &g[2], &g[3]) == 4) {
                int k = 0;
                if (!d || sscanf(d, "M%lf %lfh%lfv%lfh%*fz%n", &x[0], &x[1], &x[2], &x[3], &k) != 4 || k == 0) {
                    bad++;
                    continue;
                }
                d += k, n_bar++;
                for (int c = 0; c < 4; c++) worst = fmax(worst, fabs(x[c] - g[c]));
            } else if (sscanf(line, "label %63s", lab) == 1) {
                char want[80];
                snprintf(want, sizeof want, ">%s</text>", lab);
                labels += strstr(s.buf, want) != NULL;
            }
        }
        int rest = d && *d == 'M';   /* a bar the golden does not have */
        CHECK(!bad && !rest && worst < 0.006 && labels == 2,
              "histogram %d (%d bins, %.0fx%.0f): %d bars as Python's layout (worst %.3g px), none more; labels lo, hi",
              n_case, nb, w, h, n_bar, worst);
        char name[64];
        snprintf(name, sizeof name, "histogram_%d.svg", n_case++);
        char *path = path_join(dir, name);
        CHECK(svg_save(&s, path) == 0, "write %s", path);
        free(path);
        svg_free(&s);
        free(counts);
    }
    CHECK(n_case == 2, "histogram golden: %d cases", n_case);
    free(text);
    uint32_t zero[4] = {0};
    SVG s;
    svg_histogram(&s, zero, 4, 0, 1, 200, 100, rgba(0, 0, 1, 1), NULL);
    CHECK(strstr(s.buf, "<path") == NULL && strstr(s.buf, "max 0") != NULL, "an empty histogram draws no bars");
    svg_free(&s);
}

int main(void) {
    test_escape();
    test_escape_random();
    test_base64();
    test_png();
    test_colormaps();
    test_ticks();
    test_textheat_colours();
    test_dead_not_drawn();
    const char *dir = getenv("VIZ_OUT");
    char tmpl[] = "/tmp/test_viz.XXXXXX";
    int own = 0;
    if (!dir || !*dir) {
        dir = mkdtemp(tmpl);
        own = 1;
    }
    if (!dir) CHECK(0, "mkdtemp");
    else {
        write_figures(dir);
        test_histogram(dir);
        if (own) {
            char cmd[256];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
        }
    }
    return test_finish();
}
