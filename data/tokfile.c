/*
 * data/tokfile.c - token files: llm.c's header + uint16 tokens, or raw uint16
 * (nanoGPT). Reading maps the file; writing streams to a temporary name and
 * renames it into place. See data.h for the format.
 */
#include "data/data.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The format is little-endian; so is every machine this engine is built for. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token files are little-endian");

int data_format_parse(const char *s, DataFormat *out) {
    if (strcmp(s, "llmc") == 0) *out = DATA_LLMC;
    else if (strcmp(s, "raw") == 0) *out = DATA_RAW;
    else if (strcmp(s, "auto") == 0) *out = DATA_AUTO;
    else return -1;
    return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* Check the llm.c header h (the file is size bytes) and set f->n. */
static int check_header(TokFile *f, const int32_t *h, unsigned long long size) {
    const char *p = f->path;
    if (h[0] != DATA_MAGIC)
        return err_set("%s: not an llm.c token file (magic %d, expected %d): make it with "
                       "./run tokenize --bin, or, if it is a raw uint16 file without a header "
                       "(nanoGPT's train.bin), read it as format raw",
                       p, h[0], DATA_MAGIC);
    if (h[1] != DATA_VERSION)
        return err_set("%s: token file version %d; this engine reads version %d (uint16 GPT-2 "
                       "tokens): remake it with ./run tokenize --bin",
                       p, h[1], DATA_VERSION);
    if (h[2] < 0) return err_set("%s: the header's token count is negative (%d): the file is damaged", p, h[2]);
    unsigned long long want = DATA_HEADER_BYTES + 2ull * (unsigned)h[2];
    if (size < want)
        return err_set("%s: truncated: the header says %d tokens (%llu bytes), the file has %llu "
                       "bytes: remake it (an interrupted copy or download?)",
                       p, h[2], want, size);
    if (size > want)
        return err_set("%s: %llu bytes more than the header's %d tokens (%llu bytes): the file "
                       "is damaged, or two files were joined; remake it",
                       p, size - want, h[2], want);
    f->n = (size_t)h[2];
    return 0;
}

int tokfile_open(TokFile *f, const char *path, DataFormat format) {
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    f->vocab = DATA_VOCAB;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set("%s: cannot open the token file: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set("%s: not a regular file; give a token file (./run tokenize --bin makes one)", path);
        close(fd);
        goto fail;
    }
    unsigned long long size = (unsigned long long)st.st_size;
    if (size > 0) {
        f->map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            err_set("%s: cannot map the file: %s", path, strerror(errno));
            close(fd);
            goto fail;
        }
        f->map_len = (size_t)size;
    }
    close(fd); /* the mapping stays valid */
    if (format == DATA_AUTO) {
        int32_t magic = 0;
        if (size >= 4) memcpy(&magic, f->map, 4);
        format = magic == DATA_MAGIC ? DATA_LLMC : DATA_RAW;
    }
    f->format = format;
    if (format == DATA_LLMC) {
        if (size < DATA_HEADER_BYTES) {
            err_set("%s: %llu bytes, shorter than the llm.c header (%d bytes): not a token file, "
                    "or truncated; remake it with ./run tokenize --bin",
                    path, size, DATA_HEADER_BYTES);
            goto fail;
        }
        int32_t h[DATA_HEADER_INTS];
        memcpy(h, f->map, sizeof h);
        if (check_header(f, h, size) != 0) goto fail;
        f->tokens = (const uint16_t *)((const char *)f->map + DATA_HEADER_BYTES);
    } else {
        if (size % 2) {
            err_set("%s: %llu bytes, an odd number: a raw token file is uint16 tokens (truncated?)", path, size);
            goto fail;
        }
        f->n = (size_t)(size / 2);
        f->tokens = (const uint16_t *)f->map;
    }
    if (f->map) madvise(f->map, f->map_len, MADV_SEQUENTIAL);
    return 0;
fail:
    tokfile_close(f);
    return -1;
}

void tokfile_close(TokFile *f) {
    if (f->map) munmap(f->map, f->map_len);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* The first index in tokens[i0..i1) holding an id >= vocab, or i1. */
static size_t first_bad(const uint16_t *tokens, size_t i0, size_t i1, int32_t vocab) {
    const size_t B = 4096;
    for (size_t b = i0; b < i1; b += B) {
        size_t e = b + B < i1 ? b + B : i1;
        uint16_t mx = 0; /* a branch-free max the compiler vectorises; look closer only on a hit */
        for (size_t i = b; i < e; i++) mx = tokens[i] > mx ? tokens[i] : mx;
        if ((int32_t)mx >= vocab)
            for (size_t i = b; i < e; i++)
                if ((int32_t)tokens[i] >= vocab) return i;
    }
    return i1;
}

static int bad_token(const TokFile *f, size_t i) {
    return err_set("%s: token %zu is %u, not below the vocabulary size %d: the file was made "
                   "for another tokenizer, or is damaged",
                   f->path, i, (unsigned)f->tokens[i], f->vocab);
}

int tokfile_check_range(const TokFile *f, size_t i0, size_t i1) {
    size_t i = first_bad(f->tokens, i0, i1, f->vocab);
    return i < i1 ? bad_token(f, i) : 0;
}

int tokfile_check(const TokFile *f) { return tokfile_check_range(f, 0, f->n); }

/* ---- writing ------------------------------------------------------------- */

int tokwriter_begin(TokWriter *w, const char *path, DataFormat format) {
    memset(w, 0, sizeof *w);
    if (format != DATA_LLMC && format != DATA_RAW)
        return err_set("%s: a token file is written as llmc or raw", path);
    w->f = file_begin(path, w->tmp, sizeof w->tmp);
    if (!w->f) return -1;
    w->path = xstrdup(path);
    w->format = format;
    if (format == DATA_LLMC) { /* a zero header now; its count is written at commit */
        static const int32_t zero[DATA_HEADER_INTS];
        if (fwrite(zero, sizeof zero, 1, w->f) != 1) {
            err_set("%s: write failed: %s", path, strerror(errno));
            tokwriter_abort(w);
            return -1;
        }
    }
    return 0;
}

int tokwriter_append(TokWriter *w, const int32_t *ids, size_t n) {
    uint16_t buf[4096];
    if (w->format == DATA_LLMC && n > DATA_MAX_TOKENS - w->n)
        return err_set("%s: more than %u tokens, the most an llm.c token file holds: split the "
                       "corpus into several files",
                       w->path, DATA_MAX_TOKENS);
    for (size_t i = 0; i < n;) {
        size_t m = n - i < 4096 ? n - i : 4096;
        for (size_t k = 0; k < m; k++) {
            int32_t id = ids[i + k];
            if (id < 0 || id > 65535)
                return err_set("%s: token id %d does not fit a uint16 token file", w->path, id);
            buf[k] = (uint16_t)id;
        }
        if (fwrite(buf, 2, m, w->f) != m) return err_set("%s: write failed: %s", w->path, strerror(errno));
        i += m;
    }
    w->n += n;
    return 0;
}

int tokwriter_commit(TokWriter *w) {
    if (w->format == DATA_LLMC) {
        int32_t h[3] = {DATA_MAGIC, DATA_VERSION, (int32_t)w->n};
        if (fflush(w->f) != 0 || fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, sizeof h, 1, w->f) != 1) {
            err_set("%s: write failed: %s", w->path, strerror(errno));
            tokwriter_abort(w);
            return -1;
        }
    }
    int rc = file_commit(w->f, w->tmp, w->path); /* removes the temporary file on failure */
    w->f = NULL;
    free(w->path);
    w->path = NULL;
    return rc;
}

void tokwriter_abort(TokWriter *w) {
    if (w->f) file_abort(w->f, w->tmp);
    w->f = NULL;
    free(w->path);
    w->path = NULL;
}
