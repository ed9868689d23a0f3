/*
 * data/corpus.c - tokenize a corpus on all cores into one token file.
 *
 * A round: the main thread cuts the next batch_bytes of input into pieces
 * (Item), the pool's threads take pieces in turn (an atomic counter) and
 * encode each with their own tokenizer clone, then the main thread writes the
 * pieces' ids in order. Where pieces are cut depends only on the input and
 * chunk_bytes, never on the threads, so the output does not either. See
 * corpus.h for where a text may be cut and why the ids do not change.
 */
#include "data/corpus.h"
#include "core/json.h"
#include "core/pool.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

CorpusParams corpus_default_params(void) {
    CorpusParams p = {0};
    p.chunk_bytes = 1u << 20;
    p.format = DATA_LLMC;
    return p;
}

/* One piece of work: part of a text document, or whole lines of a JSONL file. */
typedef struct {
    const char *path;   /* borrowed: the file's name */
    const char *text;   /* (len) in the file's mapping */
    size_t len;
    size_t off;         /* text's byte offset in the file */
    size_t line;        /* JSONL: the number (from 1) of text's first line */
    int jsonl;          /* 1: each line is a document */
    int doc_start;      /* text: the piece starts a document (write <|endoftext|> first) */
    BPEIds ids;         /* the output */
    size_t docs;        /* documents begun in this piece */
    char *err;          /* the failure, or NULL (owned) */
} Item;

/* The input being cut: the current file, mapped, and the files finished in
 * this batch, still mapped until the batch's ids are written. */
#define CUT_MAX_DONE 4096
typedef struct {
    char **files;
    size_t n_files, next_file; /* the file to open next */
    const char *path;          /* the current file (NULL: none open) */
    char *map;                 /* its mapping (NULL for an empty file) */
    size_t size, pos;          /* its size, and how far it has been cut */
    size_t line;               /* JSONL: the number of the line at pos (from 1) */
    int jsonl;
    char *done_map[CUT_MAX_DONE];
    size_t done_size[CUT_MAX_DONE], n_done;
} Cutter;

static int is_jsonl(const char *path) {
    size_t n = strlen(path);
    return (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) || (n > 7 && strcmp(path + n - 7, ".ndjson") == 0);
}

static int graphic(char c) { return c > ' ' && c < 127; }

/* Where to end a text piece that starts at s and has len bytes left: the
 * first p >= want with s[p-1] == '\n' between two printable ASCII bytes
 * (s[p-2], s[p]), else len. At such a p the pre-tokenizer ends a piece
 * whether or not the text goes on: "\n" before a non-space is matched by
 * \s+ alone, and a text ending in one '\n' after a non-space gives the same
 * single "\n"; the pieces before and after do not look across it. */
static size_t text_cut(const char *s, size_t len, size_t want) {
    if (len <= want) return len;
    size_t p = want < 2 ? 2 : want;
    while (p < len) {
        const char *nl = memchr(s + p - 1, '\n', len - (p - 1));
        if (!nl) return len;
        p = (size_t)(nl - s) + 1;
        if (p < len && graphic(s[p - 2]) && graphic(s[p])) return p;
        p++;
    }
    return len;
}

/* The end of whole lines from s covering at least want bytes, else len. */
static size_t lines_cut(const char *s, size_t len, size_t want) {
    if (len <= want) return len;
    const char *nl = memchr(s + want - 1, '\n', len - (want - 1));
    return nl ? (size_t)(nl - s) + 1 : len;
}

static void count_lines(const char *s, size_t n, size_t *lines) {
    for (const char *e = s + n; (s = memchr(s, '\n', (size_t)(e - s))) != NULL; s++) (*lines)++;
}

/* Unmap the files finished in the last batch. */
static void cutter_release(Cutter *c) {
    for (size_t k = 0; k < c->n_done; k++) munmap(c->done_map[k], c->done_size[k]);
    c->n_done = 0;
}

static void cutter_close(Cutter *c) {
    cutter_release(c);
    if (c->map) munmap(c->map, c->size);
    c->map = NULL;
    c->path = NULL;
}

/* Open the next file with something in it. Returns 1 if one is open, 0 at
 * the end of the input, -1 on error. Adds to st's files and bytes. */
static int cutter_open(Cutter *c, CorpusStats *st) {
    while (c->next_file < c->n_files) {
        const char *path = c->files[c->next_file++];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return err_set("%s: cannot open: %s", path, strerror(errno));
        struct stat s;
        if (fstat(fd, &s) != 0 || !S_ISREG(s.st_mode)) {
            close(fd);
            return err_set("%s: not a regular file", path);
        }
        st->files++;
        st->bytes += (size_t)s.st_size;
        c->path = path;
        c->size = (size_t)s.st_size;
        c->pos = 0;
        c->line = 1;
        c->jsonl = is_jsonl(path);
        c->map = NULL;
        if (c->size == 0) { /* an empty document: nothing to write */
            close(fd);
            continue;
        }
        c->map = mmap(NULL, c->size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (c->map == MAP_FAILED) {
            c->map = NULL;
            return err_set("%s: cannot map the file: %s", path, strerror(errno));
        }
        madvise(c->map, c->size, MADV_SEQUENTIAL);
        return 1;
    }
    c->path = NULL;
    return 0;
}

/* ---- the threads' side ---------------------------------------------------- */

typedef struct {
    Item *items;
    size_t n_items;
    atomic_size_t next;   /* the next item to take */
    atomic_int failed;    /* stop taking items */
    BPE *clones;          /* (threads) one tokenizer a thread */
    int flags;
} Work;

/* "PATH<where>: <this thread's error message>", a new string. */
static char *item_fail(const char *path, const char *where_fmt, size_t at) {
    char where[96];
    snprintf(where, sizeof where, where_fmt, at);
    const char *msg = err_get();
    size_t n = strlen(path) + strlen(where) + strlen(msg) + 3;
    char *m = xmalloc(n);
    snprintf(m, n, "%s%s: %s", path, where, msg);
    return m;
}

static void encode_text(Item *it, BPE *bpe, int flags) {
    size_t bad;
    if (!(flags & BPE_BYTEWISE) && bpe_utf8_check(it->text, it->len, &bad) != 0) {
        err_set("invalid UTF-8 at byte offset %zu: convert the file to UTF-8 (e.g. iconv -t UTF-8), "
                "or encode malformed bytes one by one (--bytewise)",
                it->off + bad);
        it->err = item_fail(it->path, "", 0);
        return;
    }
    if (it->doc_start) {
        bpe_ids_push(&it->ids, DATA_EOT);
        it->docs++;
    }
    if (bpe_encode(bpe, it->text, it->len, flags, &it->ids) != 0)
        it->err = item_fail(it->path, " (in the part from byte offset %zu)", it->off);
}

static void encode_lines(Item *it, BPE *bpe, int flags) {
    const char *s = it->text, *end = s + it->len;
    for (size_t line = it->line; s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        const char *next = nl ? nl + 1 : end;
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
        if (k < n) {
            JSON j;
            if (json_parse(&j, s, n) != 0) {
                it->err = item_fail(it->path, ":%zu: not a JSON line", line);
                return;
            }
            const JSON *t = json_get(&j, "text");
            if (!t || t->type != JSON_STRING) {
                json_free(&j);
                err_set("no string field \"text\": a JSONL corpus has one object a line, "
                        "{\"text\": \"...\"}");
                it->err = item_fail(it->path, ":%zu", line);
                return;
            }
            if (t->str_len > 0) {
                bpe_ids_push(&it->ids, DATA_EOT);
                it->docs++;
                if (bpe_encode(bpe, t->str, t->str_len, flags, &it->ids) != 0) {
                    json_free(&j);
                    it->err = item_fail(it->path, ":%zu: its text", line);
                    return;
                }
            }
            json_free(&j);
        }
        s = next;
    }
}

/* Thread w's loop: take items until none is left. */
static void work_run(void *ctx, int w0, int w1) {
    Work *wk = ctx;
    (void)w1; /* serial fallback: one call does all the work with the first clone */
    BPE *bpe = &wk->clones[w0];
    for (;;) {
        if (atomic_load(&wk->failed)) return;
        size_t i = atomic_fetch_add(&wk->next, 1);
        if (i >= wk->n_items) return;
        Item *it = &wk->items[i];
        if (it->jsonl) encode_lines(it, bpe, wk->flags);
        else encode_text(it, bpe, wk->flags);
        if (it->err) atomic_store(&wk->failed, 1);
    }
}

/* ---- the main thread's side ----------------------------------------------- */

/* Cut the next batch (p->batch_bytes of input) into items. Returns the
 * number of items (0 at the end of the input) or -1 on error. */
static long cut_batch(Cutter *c, const CorpusParams *p, Item **items, size_t *cap, CorpusStats *st) {
    size_t n = 0, bytes = 0;
    while (bytes < p->batch_bytes) {
        if (!c->path || c->pos == c->size) {
            if (c->path) { /* finished: keep it mapped until the batch is written */
                c->done_map[c->n_done] = c->map;
                c->done_size[c->n_done++] = c->size;
                c->map = NULL;
                c->path = NULL;
                if (c->n_done == CUT_MAX_DONE) break; /* many small files: write these first */
            }
            int r = cutter_open(c, st);
            if (r < 0) return -1;
            if (r == 0) break;
        }
        const char *s = c->map + c->pos;
        size_t left = c->size - c->pos;
        size_t len = c->jsonl ? lines_cut(s, left, p->chunk_bytes) : text_cut(s, left, p->chunk_bytes);
        if (n == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            *items = xrealloc(*items, *cap * sizeof **items);
        }
        Item *it = &(*items)[n++];
        memset(it, 0, sizeof *it);
        it->path = c->path;
        it->text = s;
        it->len = len;
        it->off = c->pos;
        it->jsonl = c->jsonl;
        it->doc_start = c->pos == 0;
        it->line = c->line;
        if (c->jsonl) count_lines(s, len, &c->line);
        c->pos += len;
        bytes += len;
        st->pieces++;
    }
    return (long)n;
}

int corpus_tokenize(const BPE *bpe, const char *const *inputs, int n_inputs, const char *out,
                    const CorpusParams *params, CorpusStats *stats) {
    CorpusParams p = params ? *params : corpus_default_params();
    CorpusStats st = {0};
    double t0 = time_now();
    if (p.threads > 0) pool_set_threads(p.threads);
    int T = pool_threads();
    if (p.chunk_bytes < 1) p.chunk_bytes = 1;
    if (p.batch_bytes == 0) p.batch_bytes = (size_t)(T > 8 ? T : 8) * (8u << 20);
    st.threads = T;

    Cutter c = {0};
    if (corpus_list(inputs, n_inputs, &c.files, &c.n_files, &st.skipped) != 0) return -1;
    TokWriter w;
    if (tokwriter_begin(&w, out, p.format) != 0) {
        for (size_t i = 0; i < c.n_files; i++) free(c.files[i]);
        free(c.files);
        return -1;
    }
    Work wk = {0};
    wk.clones = xcalloc((size_t)T, sizeof *wk.clones);
    for (int t = 0; t < T; t++) bpe_clone(&wk.clones[t], bpe);
    wk.flags = p.flags;
    Item *items = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        long n = cut_batch(&c, &p, &items, &cap, &st);
        if (n < 0) {
            rc = -1;
            break;
        }
        if (n == 0) break;
        wk.items = items;
        wk.n_items = (size_t)n;
        atomic_store(&wk.next, 0);
        atomic_store(&wk.failed, 0);
        pool_for(T, 1, work_run, &wk);
        for (long i = 0; i < n; i++) { /* write in order; the first failure in order is the one reported */
            Item *it = &items[i];
            if (rc == 0 && it->err) rc = err_set("%s", it->err);
            if (rc == 0 && tokwriter_append(&w, it->ids.ids, it->ids.n) != 0) rc = -1;
            if (rc == 0) st.docs += it->docs;
            free(it->err);
            bpe_ids_free(&it->ids);
        }
        cutter_release(&c);
        if (rc != 0) break;
    }
    cutter_close(&c);
    st.tokens = w.n;
    if (rc == 0) rc = tokwriter_commit(&w);
    else tokwriter_abort(&w);
    for (int t = 0; t < T; t++) bpe_free(&wk.clones[t]);
    free(wk.clones);
    free(items);
    for (size_t i = 0; i < c.n_files; i++) free(c.files[i]);
    free(c.files);
    st.seconds = time_now() - t0;
    if (stats) *stats = st;
    return rc;
}
