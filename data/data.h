/*
 * data/data.h - token files (the corpus as GPT-2 token ids on disk) and the
 * context windows that training examples are cut from.
 *
 *   TokFile tf;
 *   if (tokfile_open(&tf, "sotu.bin", DATA_LLMC) != 0) return cli_fail();
 *   DataWindows w;
 *   if (data_windows_init(&w, &tf, 128, 1) != 0) return cli_fail();  // ctx 128, BOS first
 *   int32_t tok[128];   // (ctx) token ids
 *   uint8_t mask[128];  // (ctx) 1 = train on / count this position, 0 = it holds <|endoftext|>
 *   for (size_t i = 0; i < data_windows_count(&w); i++) {
 *       if (data_windows_get(&w, i, tok, mask) != 0) return cli_fail();  // a bad token
 *       ...
 *   }
 *   tokfile_close(&tf);
 *
 * TOKEN FILES
 *
 * Two formats, both little-endian uint16 token ids:
 *
 *   DATA_LLMC  llm.c's format: a header of 256 int32 (1024 bytes): [0] the
 *              magic 20240520, [1] the version 1, [2] the token count, the
 *              rest zero; then the tokens. The count makes a truncated or
 *              overlong file detectable. At most 2^31 - 1 tokens a file.
 *   DATA_RAW   nanoGPT's train.bin / val.bin: the tokens alone, no header.
 *
 * A reader says which one it expects: a raw file has nothing to check it by,
 * so guessing would read a damaged llm.c header as four hundred tokens of
 * text. DATA_AUTO takes a file that starts with the magic as llm.c and any
 * other as raw; for GPT-2 that is unambiguous (the magic's first uint16,
 * 55432, is not a GPT-2 token id), but a file whose magic was damaged is
 * then read as raw, so give DATA_LLMC whenever the file is known to be one.
 *
 * Reading maps the file (mmap, read-only): opening costs nothing whatever the
 * size, and the tokens are paged in as windows are read. (As with any
 * mapping, a file cut short by another process while it is open ends this
 * one with SIGBUS; the engine itself only ever replaces files by renaming.) tokfile_open checks
 * the header (magic, version, count against the file's size: truncated or
 * overlong) at once; the token ids themselves are checked lazily, window by
 * window, in data_windows_get (a token >= the vocabulary size is an error
 * naming the file and the token's index), or in one pass by tokfile_check.
 *
 * Writing (TokWriter) streams: ids are appended in pieces and never held
 * whole; the file appears under its name only when complete (a temporary
 * name, fsync, rename), so an interrupted run leaves any old file intact.
 *
 * WINDOWS
 *
 * A training example is a window of ctx tokens. Window i holds the tokens
 * [i*S, (i+1)*S) of the file, S = ctx (or ctx - 1 with prepend_bos, when the
 * window starts with BOS = <|endoftext|> = 50256, as GPT-2 saw at the start
 * of its training texts). Windows do not overlap; the file's last
 * (n mod S) tokens make no window and are not used.
 *
 * Document boundaries. A file is documents separated by <|endoftext|>, and a
 * window is cut without regard to them, so one window may hold the end of one
 * document, the separator and the start of the next: the packing of llm.c,
 * SAELens and sparsify, and of GPT-2's own training (it was trained on such
 * packed windows and has learnt that <|endoftext|> starts afresh). Cutting at
 * each boundary instead would pad or drop the tail of every document (a large
 * share of a corpus of short texts) and give windows of unequal length. What
 * packing costs is that the first tokens after a separator see the previous
 * document; the mask takes the separator itself out (below).
 *
 * The mask. Positions holding <|endoftext|> (a separator, or the prepended
 * BOS) have activations unlike any other token's (GPT-2 parks attention
 * there: their norm is many times the typical one), so SAE training usually
 * leaves them out of the loss and the statistics. data_windows_get marks them
 * 0 in the mask; a caller that excludes special tokens trains only on mask-1
 * positions, one that does not ignores the mask (or passes NULL).
 */
#ifndef DATA_DATA_H
#define DATA_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DATA_MAGIC 20240520       /* llm.c's GPT-2 token file */
#define DATA_VERSION 1
#define DATA_HEADER_INTS 256      /* the header: 256 int32 */
#define DATA_HEADER_BYTES (DATA_HEADER_INTS * 4)
#define DATA_MAX_TOKENS 2147483647u /* the header's count is an int32 */
#define DATA_EOT 50256            /* GPT-2's <|endoftext|>: separator and BOS */
#define DATA_VOCAB 50257          /* GPT-2's vocabulary size: ids are in [0, 50257) */
#define DATA_DEFAULT_CTX 128      /* tokens a window when --ctx is not given */

typedef enum {
    DATA_LLMC, /* llm.c: 1024-byte header, then uint16 tokens */
    DATA_RAW,  /* nanoGPT: uint16 tokens, no header */
    DATA_AUTO, /* llm.c if the file starts with the magic, else raw (reading only) */
} DataFormat;

/* "llmc", "raw" or "auto" -> *out. Returns 0, or -1 (no err_set: the caller names the option). */
int data_format_parse(const char *s, DataFormat *out);

/* ---- reading ------------------------------------------------------------- */

typedef struct {
    char *path;              /* the file's name (owned), for messages */
    DataFormat format;       /* DATA_LLMC or DATA_RAW: what the file turned out to be */
    const uint16_t *tokens;  /* (n) the token ids, in the mapping: valid until tokfile_close */
    size_t n;                /* number of tokens */
    int32_t vocab;           /* ids must be < vocab (DATA_VOCAB; set it before reading windows
                                for another vocabulary) */
    void *map;               /* the mapping (NULL for an empty file) */
    size_t map_len;
} TokFile;

/* Map path read-only and check its header against the file: for DATA_LLMC
 * the magic, the version and the count (the file must be exactly 1024 + 2n
 * bytes), for DATA_RAW an even size. Token ids are not read here (see
 * tokfile_check). Returns 0, or -1 with err_set() naming the file and saying
 * what is wrong and what to do; then *f is zeroed (tokfile_close is safe). */
int tokfile_open(TokFile *f, const char *path, DataFormat format);
/* Unmap and free. Safe on a zeroed or closed TokFile. */
void tokfile_close(TokFile *f);
/* Read every token once: 0 if all are < f->vocab, else -1 with err_set()
 * naming the file, the first bad token's index and its value. */
int tokfile_check(const TokFile *f);
/* The same for the tokens [i0, i1) only (i1 <= f->n). */
int tokfile_check_range(const TokFile *f, size_t i0, size_t i1);

/* ---- writing ------------------------------------------------------------- */

typedef struct {
    FILE *f;              /* the temporary file being written */
    char *path;           /* the final name (owned) */
    char tmp[4096];       /* the temporary name beside it */
    DataFormat format;    /* DATA_LLMC or DATA_RAW */
    size_t n;             /* tokens written so far */
} TokWriter;

/* Start writing path (format DATA_LLMC or DATA_RAW) under a temporary name
 * beside it. Returns 0, or -1 with err_set(). */
int tokwriter_begin(TokWriter *w, const char *path, DataFormat format);
/* Append ids[0..n), each in [0, 65536) (uint16); a file over 2^31 - 1 tokens
 * (DATA_LLMC) is refused. Returns 0, or -1 with err_set(); after a failure
 * call tokwriter_abort. */
int tokwriter_append(TokWriter *w, const int32_t *ids, size_t n);
/* Write the header's count, fsync, and rename the file into place.
 * Returns 0, or -1 with err_set() (the temporary file is removed). */
int tokwriter_commit(TokWriter *w);
/* Remove the temporary file and free w. Safe after a commit (then a no-op)
 * and on a zeroed TokWriter. */
void tokwriter_abort(TokWriter *w);

/* ---- windows ------------------------------------------------------------- */

typedef struct {
    const TokFile *tf;  /* borrowed: must outlive the windows */
    int ctx;            /* tokens a window (BOS included) */
    int bos;            /* 1: each window starts with DATA_EOT, then ctx - 1 file tokens */
    size_t stride;      /* file tokens a window: ctx - bos */
    size_t n;           /* number of windows: tf->n / stride */
} DataWindows;

/* Cut tf into windows of ctx tokens (ctx >= 1, >= 2 with prepend_bos; the
 * model's n_ctx bounds it: the caller checks that). Returns 0, or -1 with
 * err_set() when the file holds fewer tokens than one window. */
int data_windows_init(DataWindows *w, const TokFile *tf, int ctx, int prepend_bos);
/* Number of windows. */
size_t data_windows_count(const DataWindows *w);
/* Window i (< count): tokens (ctx) its ids; mask (ctx, or NULL) 1 where the
 * position is an ordinary token, 0 where it holds DATA_EOT. Checks the ids:
 * returns 0, or -1 with err_set() naming the file and the first token >=
 * tf->vocab. */
int data_windows_get(const DataWindows *w, size_t i, int32_t *tokens, uint8_t *mask);

#endif
