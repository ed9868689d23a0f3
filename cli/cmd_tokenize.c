/*
 * cli/cmd_tokenize.c - ./run tokenize: text to GPT-2 token ids and back.
 *
 *   ./run tokenize FILE            ids separated by spaces, one line
 *   ./run tokenize --show FILE     one token a line: index, id, visible text
 *   ./run tokenize --decode [FILE] ids (any white space between) back to text
 *   ./run tokenize --bin OUT.bin FILES|FOLDERS...   a corpus to a token file
 *                                  on all cores (data/corpus.h)
 */
#include "cli/cli.h"
#include "core/util.h"
#include "data/corpus.h"
#include "tokenizer/bpe.h"
#include "weights/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The most bytes tokenize reads (--max-bytes). The text, its ids (4 bytes a
 * token, at most one token a byte) and their printed form stay within a few
 * times this in memory, and an endless input (/dev/zero, a pipe that never
 * ends) stops here with an error instead of filling the memory. bpe_encode
 * takes texts below 4 GiB. */
#define TOKENIZE_MAX_BYTES (1ull << 30)
#define TOKENIZE_MAX_BYTES_LIMIT (((size_t)1 << 32) - 2)

static void usage(FILE *f) {
    fprintf(f,
            "usage: ./run tokenize [OPTIONS] FILE     (FILE '-' or none: standard input)\n"
            "\n"
            "Tokenise a UTF-8 text with GPT-2's byte-level BPE and print the ids separated\n"
            "by spaces (the same ids as OpenAI's GPT-2 encoding, tiktoken's r50k_base).\n"
            "\n"
            "  --show            one token a line: index, id and the token's text with\n"
            "                    invisible characters made visible (space as U+2423,\n"
            "                    \\n \\t \\r, \\xNN for a byte that is part of a character,\n"
            "                    <U+00A0> for other white space and format characters)\n"
            "  --decode          read ids (separated by white space) and print the text\n"
            "  --count           print only the number of tokens\n"
            "  --special         \"<|endoftext|>\" in the text is the special token 50256\n"
            "                    (default: it is ordinary text, \"<|\" \"endoftext\" \"|>\")\n"
            "  --bytewise        text that is not valid UTF-8: encode each byte of a\n"
            "                    malformed sequence as a symbol of its own instead of\n"
            "                    stopping with an error (decoding gives the bytes back)\n"
            "  --max-bytes N     read at most N bytes (suffix K, M or G: KiB, MiB, GiB;\n"
            "                    default 1G, at most 4G - 2); more is an error, so an\n"
            "                    endless stream such as /dev/zero stops there\n"
            "\n"
            "usage: ./run tokenize --bin OUT.bin [OPTIONS] FILES|FOLDERS...\n"
            "\n"
            "Tokenise a corpus on all cores into a token file: llm.c's format (a header of\n"
            "256 int32: magic 20240520, version 1, token count; then uint16 tokens). Each\n"
            "document is preceded by <|endoftext|> (50256). A file is one document, or one\n"
            "a line if it ends .jsonl (a JSON object with a \"text\" string); a folder is\n"
            "read recursively (files ending .txt .text .md .jsonl, in path order). The\n"
            "file is the same for any number of threads, and replaces OUT.bin only when\n"
            "complete. Prints the throughput at the end.\n"
            "\n"
            "  --format F        llmc (default) or raw (nanoGPT: uint16 tokens, no header)\n"
            "  --threads N       threads (default: every core, or $GPT2SAE_THREADS)\n"
            "  --quiet           print nothing on success\n"
            "  --bytewise        as above\n"
            "\n"
            "Both forms:\n"
            "  --vocab PATH      vocab.json or encoder.json   (default: the files in\n"
            "  --merges PATH     merges.txt or vocab.bpe       $GPT2SAE_TOKENIZER_DIR, else\n"
            "                                                  those ./run fetch downloads)\n"
            "  --cache DIR       the cache folder for downloads (default $GPT2SAE_CACHE,\n"
            "                    else ~/.cache/gpt2sae)\n"
            "  --                the end of the options: what follows is the FILE\n");
}

/* The tokenizer files: --vocab and --merges, else fetch_tokenizer() (which
 * looks at $GPT2SAE_TOKENIZER_DIR, then its cache, then downloads). */
static int tokenizer_paths(const char *vocab, const char *merges, char **v, char **m) {
    if (vocab || merges) {
        if (!vocab || !merges) return err_set("tokenize: give both --vocab and --merges (or neither)");
        *v = xstrdup(vocab);
        *m = xstrdup(merges);
        return 0;
    }
    return fetch_tokenizer(v, m);
}

/* "--max-bytes" value: a byte count with an optional K, M or G (binary). */
/* --max-bytes N[K|M|G] into *(size_t *)out */
static int parse_bytes(const char *name, const char *val, void *out) {
    (void)name;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
    if (end == val || *end || errno || val[0] == '-' || v == 0 ||
        v > TOKENIZE_MAX_BYTES_LIMIT / mul || v * mul > TOKENIZE_MAX_BYTES_LIMIT)
        return cli_error(2, "tokenize: --max-bytes '%s': give a byte count from 1 to %zu (e.g. 100M, 2G)",
                         val, TOKENIZE_MAX_BYTES_LIMIT);
    *(size_t *)out = (size_t)(v * mul);
    return 0;
}

/* Read all of FILE ("-" = standard input), at most limit bytes: a regular
 * file that is larger is refused before reading, any other input (a pipe, a
 * FIFO, a device) is read until limit + 1 bytes and then refused. name is the
 * input's name in messages. *buf is NUL-terminated; the caller frees it. */
static int read_input(const char *path, const char *name, size_t limit, char **buf, size_t *len) {
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return err_set("%s: cannot open: %s", name, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
        rc = err_set("%s: is a folder; give a text file", name);
    else if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_size > limit)
        rc = err_set("%s: %lld bytes, more than tokenize reads (%zu bytes): split the text, "
                     "or raise --max-bytes (up to %zu)",
                     name, (long long)st.st_size, limit, TOKENIZE_MAX_BYTES_LIMIT);
    else if ((rc = file_read_stream(f, name, limit, buf, len)) != 0 && !ferror(f))   /* past the limit */
        err_set("%s: more than %zu bytes and not at its end (an endless stream such as /dev/zero or a pipe that "
                "never closes?): give a finite text, or raise --max-bytes (up to %zu)",
                name, limit, TOKENIZE_MAX_BYTES_LIMIT);
    if (!is_stdin) fclose(f);
    return rc;
}

/* Parse white-space separated ids from text into ids; errors name path and position. */
static int parse_ids(const char *path, const char *text, size_t len, BPEIds *ids) {
    size_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
            i++;
        if (i == len) break;
        size_t start = i;
        long v = 0;
        while (i < len && text[i] >= '0' && text[i] <= '9' && v <= 1000000) v = v * 10 + (text[i++] - '0');
        int sep = i == len || text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r';
        if (i == start || !sep || v > 1000000) {
            size_t e = start;
            while (e < len && e - start < 20 && text[e] != ' ' && text[e] != '\n' && text[e] != '\t' &&
                   text[e] != '\r')
                e++;
            return err_set("%s: byte offset %zu: expected a token id (a number), got \"%.*s\"", path,
                           start, (int)(e - start), text + start);
        }
        bpe_ids_push(ids, (int32_t)v);
    }
    return 0;
}

/* The options of both forms. */
typedef struct {
    const char *vocab, *merges;
    const char **files; /* (n_files) the operands */
    int n_files;
    int show, decode, count, flags, quiet;
    size_t max_bytes;
    const char *bin;    /* --bin OUT: the corpus form */
    DataFormat format;
    long threads;
} TokenizeOpts;

/* --format llmc|raw into *(DataFormat *)dst */
static int parse_format(const char *name, const char *val, void *dst) {
    (void)name;
    if (data_format_parse(val, dst) != 0 || *(DataFormat *)dst == DATA_AUTO)
        return cli_error(2, "tokenize: --format '%s': give llmc or raw", val);
    return 0;
}

/* Parse argv into *o. Returns an exit status to stop with, or -1 to go on. */
static int tokenize_args(int argc, char **argv, TokenizeOpts *o) {
    const CLIOpt opts[] = {
        {"--show", CLI_SET, .dst = &o->show, .value = 1},
        {"--decode", CLI_SET, .dst = &o->decode, .value = 1},
        {"--count", CLI_SET, .dst = &o->count, .value = 1},
        {"--special", CLI_OR, .dst = &o->flags, .value = BPE_ALLOW_SPECIAL},
        {"--bytewise", CLI_OR, .dst = &o->flags, .value = BPE_BYTEWISE},
        {"--max-bytes", CLI_CALL, .dst = &o->max_bytes, .fn = parse_bytes},
        {"--vocab", CLI_STR, .dst = &o->vocab},
        {"--merges", CLI_STR, .dst = &o->merges},
        {"--bin", CLI_STR, .dst = &o->bin},
        {"--format", CLI_CALL, .dst = &o->format, .fn = parse_format},
        {"--threads", CLI_LONG, .dst = &o->threads, .lo = 1, .hi = 64},
        {"--quiet", CLI_SET, .dst = &o->quiet, .value = 1},
        {"--cache", CLI_CALL, .fn = cli_opt_cache},
        {0}};
    CLIList files = {o->files, &o->n_files};
    const CLISpec spec = {"tokenize", {opts}, .usage = usage, .operand = cli_operand_push, .ctx = &files};
    int status;
    if (cli_parse(&spec, argc, argv, &status)) return status;
    if (o->show + o->decode + o->count > 1)
        return cli_error(2, "tokenize: --show, --decode and --count exclude each other");
    if (o->bin && o->show + o->decode + o->count > 0)
        return cli_error(2, "tokenize: --bin excludes --show, --decode and --count");
    if (o->bin && o->n_files == 0)
        return cli_error(2, "tokenize: --bin OUT.bin needs the text files or folders to read");
    if (!o->bin && o->n_files > 1)
        return cli_error(2, "tokenize: one FILE at a time ('%s' and '%s'), or a corpus with --bin OUT.bin",
                         o->files[0], o->files[1]);
    return -1;
}

/* ./run tokenize --bin: the corpus o->files into the token file o->bin. */
static int tokenize_bin(const BPE *bpe, const TokenizeOpts *o) {
    CorpusParams p = corpus_default_params();
    p.flags = o->flags & BPE_BYTEWISE;
    p.format = o->format;
    p.threads = (int)o->threads;
    CorpusStats st;
    if (corpus_tokenize(bpe, o->files, o->n_files, o->bin, &p, &st) != 0) return cli_fail();
    if (!o->quiet) {
        double sec = st.seconds > 0 ? st.seconds : 1e-9;
        printf("%s: %zu tokens from %zu documents in %zu files (%.1f MB)", o->bin, st.tokens, st.docs,
               st.files, st.bytes / 1e6);
        if (st.skipped) printf(", %zu other files in the folders passed over", st.skipped);
        printf("\n%.2f s on %d threads: %.2f MB/s, %.0f tokens/s\n", st.seconds, st.threads,
               st.bytes / 1e6 / sec, st.tokens / sec);
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    TokenizeOpts o = {0};
    o.max_bytes = TOKENIZE_MAX_BYTES;
    o.format = DATA_LLMC;
    o.files = xcalloc((size_t)argc + 1, sizeof *o.files);
    int status = tokenize_args(argc, argv, &o);
    if (status >= 0) {
        free(o.files);
        return status;
    }
    const char *path = o.n_files ? o.files[0] : "-";
    const char *name = strcmp(path, "-") == 0 ? "standard input" : path;

    char *vp, *mp;
    BPE bpe;
    if (tokenizer_paths(o.vocab, o.merges, &vp, &mp) != 0) {
        free(o.files);
        return cli_fail();
    }
    int rc = bpe_load(&bpe, vp, mp);
    free(vp);
    free(mp);
    if (rc != 0) {
        free(o.files);
        return cli_fail();
    }
    if (o.bin) {
        status = tokenize_bin(&bpe, &o);
        bpe_free(&bpe);
        free(o.files);
        return status;
    }

    char *text = NULL;
    size_t len = 0;
    BPEIds ids = {0};
    status = 1;
    if (read_input(path, name, o.max_bytes, &text, &len) != 0) goto fail;
    if (o.decode) {
        char *out;
        size_t n;
        if (parse_ids(name, text, len, &ids) != 0) goto fail;
        if (bpe_decode(&bpe, ids.ids, ids.n, &out, &n) != 0) {
            err_prefix("%s", name);
            goto fail;
        }
        fwrite(out, 1, n, stdout);
        free(out);
    } else {
        if (bpe_encode(&bpe, text, len, o.flags, &ids) != 0) {
            err_prefix("%s", name);
            goto fail;
        }
        if (o.count) {
            printf("%zu\n", ids.n);
        } else if (o.show) {
            char vis[1024];
            for (size_t t = 0; t < ids.n; t++) {
                bpe_token_visible(&bpe, ids.ids[t], vis, sizeof vis);
                printf("%6zu %6d  %s\n", t, ids.ids[t], vis);
            }
        } else {
            for (size_t t = 0; t < ids.n; t++) printf(t ? " %d" : "%d", ids.ids[t]);
            printf("\n");
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        err_set("standard output: write error");
        goto fail;
    }
    status = 0;
fail:
    if (status) cli_fail();
    free(text);
    bpe_ids_free(&ids);
    bpe_free(&bpe);
    free(o.files);
    return status;
}
