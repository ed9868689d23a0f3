/*
 * weights/untar.c - tar (ustar / GNU / pax) member lookup and .tgz reading. See untar.h.
 *
 * A tar archive is a sequence of 512-byte header blocks, each followed by
 * the member's data padded to a multiple of 512; two zero blocks end it.
 * Header fields used here (byte offset, length):
 *   name (0, 100)   size (124, 12, octal or GNU base-256)   chksum (148, 8)
 *   typeflag (156)  magic (257, 6)   prefix (345, 155, ustar only)
 */
#include "weights/untar.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { BLOCK = 512, NAME_MAX_LEN = 4096 };

/* An octal field (NUL/space terminated, leading spaces allowed), or the
 * GNU base-256 form (high bit of the first byte set). -1 if malformed. */
static int64_t tar_number(const uint8_t *f, int len) {
    if (f[0] & 0x80) {
        if (f[0] != 0x80) return -1; /* negative or too large for us */
        uint64_t v = 0;
        for (int i = 1; i < len; i++) {
            if (v >> 55) return -1;
            v = v << 8 | f[i];
        }
        return (int64_t)v;
    }
    int i = 0;
    while (i < len && f[i] == ' ') i++;
    int64_t v = 0;
    int digits = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 58) return -1;
        v = v * 8 + (f[i] - '0');
    }
    for (; i < len; i++) /* the rest must be terminators */
        if (f[i] != 0 && f[i] != ' ') return -1;
    return digits ? v : (len == 12 ? 0 : -1);
}

/* The header checksum is the sum of all 512 bytes with the chksum field read
 * as eight spaces. Historic tars summed signed chars, so accept either. */
static int tar_checksum_ok(const uint8_t *h) {
    int64_t want = tar_number(h + 148, 8);
    if (want < 0) return 0;
    int64_t su = 0, ss = 0;
    for (int i = 0; i < BLOCK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];
        su += c;
        ss += (int8_t)c;
    }
    return want == su || want == ss;
}

static size_t field_len(const uint8_t *f, size_t max) {
    size_t n = 0;
    while (n < max && f[n]) n++;
    return n;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* From a pax header's records "LEN key=value\n", the value of `path`, copied
 * into name (returns 1), 0 if absent, -1 if the records are malformed. */
static int pax_path(const uint8_t *p, size_t n, char *name, size_t cap) {
    size_t i = 0;
    while (i < n) {
        size_t len = 0, j = i;
        while (j < n && p[j] >= '0' && p[j] <= '9' && len < n) len = len * 10 + (p[j++] - '0');
        if (j == i || j >= n || p[j] != ' ' || len < 4 || len > n - i || p[i + len - 1] != '\n') return -1;
        const uint8_t *kv = p + j + 1, *end = p + i + len - 1;
        if ((size_t)(end - kv) > 5 && memcmp(kv, "path=", 5) == 0) {
            size_t vl = (size_t)(end - kv) - 5;
            if (vl >= cap) return -1;
            memcpy(name, kv + 5, vl);
            name[vl] = 0;
            return 1;
        }
        i += len;
    }
    return 0;
}

int tar_find(const char *name, const uint8_t *tar, size_t n, const char *member,
             const uint8_t **data, size_t *len) {
    char longname[NAME_MAX_LEN]; /* from a preceding 'L' or 'x' header */
    int have_long = 0;
    size_t off = 0;
    for (;;) {
        if (n - off < BLOCK) {
            if (off == n) return 1; /* no end marker, but nothing cut either */
            return err_set("%s: the tar archive is truncated (a header is cut at byte %zu)", name, off);
        }
        const uint8_t *h = tar + off;
        if (all_zero(h, BLOCK)) return 1; /* end of archive */
        if (!tar_checksum_ok(h))
            return err_set("%s: bad tar header checksum at byte %zu (corrupt download?)", name, off);
        int64_t size = tar_number(h + 124, 12);
        if (size < 0) return err_set("%s: bad size field in the tar header at byte %zu", name, off);
        size_t body = off + BLOCK;
        if ((uint64_t)size > n - body)
            return err_set("%s: tar member at byte %zu claims %lld bytes, past the end of the archive "
                           "(truncated download?)", name, off, (long long)size);
        size_t padded = ((size_t)size + BLOCK - 1) / BLOCK * BLOCK;
        char type = (char)h[156];

        if (type == 'L' || type == 'x') { /* the next header's real name */
            if (type == 'L') {
                size_t l = field_len(tar + body, (size_t)size);
                if (l >= sizeof longname) return err_set("%s: tar long name too long at byte %zu", name, off);
                memcpy(longname, tar + body, l);
                longname[l] = 0;
                have_long = 1;
            } else {
                int r = pax_path(tar + body, (size_t)size, longname, sizeof longname);
                if (r < 0) return err_set("%s: malformed pax header at byte %zu", name, off);
                if (r == 1) have_long = 1;
            }
        } else {
            char full[NAME_MAX_LEN];
            if (have_long) {
                snprintf(full, sizeof full, "%s", longname);
            } else {
                size_t nl = field_len(h, 100);
                size_t pl = memcmp(h + 257, "ustar\0", 6) == 0 ? field_len(h + 345, 155) : 0;
                if (pl) {
                    memcpy(full, h + 345, pl);
                    full[pl] = '/';
                    memcpy(full + pl + 1, h, nl);
                    full[pl + 1 + nl] = 0;
                } else {
                    memcpy(full, h, nl);
                    full[nl] = 0;
                }
            }
            have_long = 0;
            const char *f = full;
            while (f[0] == '.' && f[1] == '/') f += 2; /* "./package/x" == "package/x" */
            if ((type == '0' || type == 0 || type == '7') && strcmp(f, member) == 0) {
                *data = tar + body;
                *len = (size_t)size;
                return 0;
            }
        }
        if (padded > n - body) padded = n - body; /* last member may lack padding */
        off = body + padded;
    }
}

int tgz_read_member(const char *path, const char *member, size_t max_bytes, char **out, size_t *len) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return err_set("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    size_t cap = max_bytes < (1u << 20) ? max_bytes : (1u << 20), n = 0;
    uint8_t *buf = xmalloc(cap ? cap : 1);
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                gzclose(gz);
                free(buf);
                return err_set("%s: more than %zu bytes once decompressed; not the expected package",
                               path, max_bytes);
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            buf = xrealloc(buf, cap);
        }
        unsigned want = cap - n > (1u << 30) ? (1u << 30) : (unsigned)(cap - n);
        int got = gzread(gz, buf + n, want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            err_set("%s: corrupt gzip data: %s", path, msg ? msg : "?");
            gzclose(gz);
            free(buf);
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* a stream cut short reads as EOF; zlib reports it here */
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);
    char why[128]; /* copied: gzclose frees the message */
    snprintf(why, sizeof why, "%s", zerr != Z_OK && msg ? msg : "error at close");
    int closed = gzclose(gz);
    if (zerr != Z_OK || closed != Z_OK) {
        free(buf);
        return err_set("%s: corrupt or truncated gzip data (%s)", path, why);
    }
    const uint8_t *d;
    size_t dl;
    int r = tar_find(path, buf, n, member, &d, &dl);
    if (r != 0) {
        free(buf);
        if (r > 0) return err_set("%s: has no file '%s' (not the expected package?)", path, member);
        return -1;
    }
    char *copy = xmalloc(dl + 1);
    memcpy(copy, d, dl);
    copy[dl] = 0;
    free(buf);
    *out = copy;
    *len = dl;
    return 0;
}
