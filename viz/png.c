/*
 * viz/png.c - a minimal PNG encoder (8-bit palette, RGB or RGBA) and base64.
 *
 * A PNG file is the 8-byte signature and a list of chunks, each
 *   length (4 bytes, big-endian) | type (4 ASCII bytes) | data | CRC-32(type + data)
 * We write IHDR (size, bit depth 8, colour type), PLTE (palette images only),
 * one IDAT (the zlib stream of all rows, each prefixed by its filter byte)
 * and IEND. Filter: "Sub" (each byte minus the one a pixel to its left),
 * which helps deflate on smooth or repeated rows; filter 0 for palettes
 * (indices are not numbers, PNG's spec recommends no filtering).
 */
#include "viz/svg.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_u32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append one chunk at out + *pos (the caller sized the buffer). */
static void put_chunk(uint8_t *out, size_t *pos, const char type[4], const uint8_t *data, uint32_t n) {
    uint8_t *p = out + *pos;
    put_u32be(p, n);
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, data, n);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, p + 4, 4 + n);
    put_u32be(p + 8 + n, (uint32_t)crc);
    *pos += 12 + (size_t)n;
}

int png_encode(uint8_t **out, size_t *out_len, const uint8_t *pix, int w, int h, int channels,
               const uint8_t *palette) {
    *out = NULL;
    *out_len = 0;
    if (w <= 0 || h <= 0 || w > (1 << 24) || h > (1 << 24))
        return err_set("png: image size %d x %d out of range", w, h);
    if (channels != 1 && channels != 3 && channels != 4) return err_set("png: %d channels unsupported", channels);
    if (channels == 1 && !palette) return err_set("png: a palette image needs a palette");
    size_t stride = (size_t)w * channels;
    size_t raw_len = (stride + 1) * (size_t)h;
    if (raw_len > 0xFFFFFFFFu / 2) return err_set("png: image %d x %d too large", w, h);

    /* rows with their filter bytes */
    uint8_t *raw = xmalloc(raw_len);
    for (int y = 0; y < h; y++) {
        const uint8_t *row = pix + (size_t)y * stride;
        uint8_t *dst = raw + (size_t)y * (stride + 1);
        if (channels == 1) {
            dst[0] = 0; /* None */
            memcpy(dst + 1, row, stride);
        } else {
            dst[0] = 1; /* Sub: Filt(x) = Orig(x) - Orig(x - bpp) */
            for (size_t i = 0; i < stride; i++)
                dst[1 + i] = (uint8_t)(row[i] - (i >= (size_t)channels ? row[i - channels] : 0));
        }
    }
    uLongf z_len = compressBound((uLong)raw_len);
    uint8_t *z = xmalloc(z_len);
    int zr = compress2(z, &z_len, raw, (uLong)raw_len, 6);
    free(raw);
    if (zr != Z_OK) {
        free(z);
        return err_set("png: zlib compress2 failed (%d)", zr);
    }

    size_t cap = 8 + (12 + 13) + (12 + 768) + (12 + (size_t)z_len) + 12;
    uint8_t *o = xmalloc(cap);
    size_t pos = 0;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(o, sig, 8);
    pos = 8;
    uint8_t ihdr[13];
    put_u32be(ihdr, (uint32_t)w);
    put_u32be(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;                                                      /* bit depth */
    ihdr[9] = channels == 1 ? 3 : channels == 3 ? 2 : 6;              /* colour type */
    ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;                         /* deflate, adaptive filters, no interlace */
    put_chunk(o, &pos, "IHDR", ihdr, 13);
    if (channels == 1) put_chunk(o, &pos, "PLTE", palette, 768);
    put_chunk(o, &pos, "IDAT", z, (uint32_t)z_len);
    put_chunk(o, &pos, "IEND", NULL, 0);
    free(z);
    *out = o;
    *out_len = pos;
    return 0;
}

char *base64_encode(const uint8_t *data, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_len = 4 * ((n + 2) / 3);
    char *out = xmalloc(out_len + 1);
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return out;
}
