/*
 * data/corpus.h - a text corpus (files, folders, JSONL) tokenized on all cores
 * into one token file (data.h).
 *
 *   const char *inputs[] = {"books/", "web.jsonl"};
 *   CorpusParams p = corpus_default_params();
 *   CorpusStats st;
 *   if (corpus_tokenize(&bpe, inputs, 2, "corpus.bin", &p, &st) != 0) return cli_fail();
 *   printf("%zu tokens, %.1f MB/s\n", st.tokens, st.bytes / 1e6 / st.seconds);
 *
 * Inputs. A file is taken whatever its name; a folder is walked recursively
 * for files ending .txt, .text, .md or .jsonl (other files, names starting
 * with '.', and links to folders are passed over), in the byte order of
 * their paths (as `find DIR -type f | LC_ALL=C sort`). A .jsonl (or .ndjson)
 * file holds one document a line, a JSON object with a string field "text"
 * (other fields are ignored, blank lines skipped); any other file is one
 * document. Texts must be UTF-8 (or see CorpusParams.flags).
 *
 * Output. Every non-empty document is preceded by <|endoftext|> (50256), as
 * in llm.c's token files, so the file starts with it and documents are
 * separated by it. A literal "<|endoftext|>" inside a text is ordinary text.
 *
 * Threads. The corpus is cut into pieces of about chunk_bytes: whole lines of
 * JSONL, or parts of a text cut where the tokenizer is known to cut anyway (a
 * single '\n' between two printable ASCII characters: the newline is a piece
 * of its own however the text around it is cut, so the ids are those of the
 * whole text). Threads take pieces in turn, each with its own tokenizer
 * cache, and the pieces' ids are written in input order: the file is the
 * same byte for byte for any number of threads. A text with no such newline
 * is one piece, however long.
 *
 * Memory. Inputs are mapped, not read; batch_bytes of text are tokenized at a
 * time and written out before the next, so memory holds one batch's ids
 * (about 4 bytes a token), never the corpus.
 */
#ifndef DATA_CORPUS_H
#define DATA_CORPUS_H

#include "data/data.h"
#include "tokenizer/bpe.h"

#include <stddef.h>

typedef struct {
    int threads;          /* 0: the pool's (every core, or $GPT2SAE_THREADS); N > 0 sets the
                             process's pool to N threads (pool_set_threads) */
    size_t chunk_bytes;   /* text a piece (default 1 MiB); the output does not depend on it */
    size_t batch_bytes;   /* text a round (0, the default: 8 MiB a thread, at least 64 MiB) */
    int flags;            /* 0, or BPE_BYTEWISE: malformed UTF-8 is encoded byte by byte */
    DataFormat format;    /* DATA_LLMC (default) or DATA_RAW */
} CorpusParams;

typedef struct {
    size_t files;         /* files read */
    size_t skipped;       /* files in the folders passed over (not .txt .text .md .jsonl) */
    size_t docs;          /* documents written (non-empty ones) */
    size_t bytes;         /* bytes of input read */
    size_t tokens;        /* tokens written, separators included */
    size_t pieces;        /* pieces the input was cut into (work items) */
    int threads;          /* threads used */
    double seconds;       /* wall time, from listing the inputs to the file in place */
} CorpusStats;

CorpusParams corpus_default_params(void);

/* Which files a folder contributes: those with a text name (.txt .text .md
 * .jsonl .ndjson), or every regular file whatever its name. Either way hidden
 * entries are passed over and links to folders are never followed. */
typedef enum { CORPUS_TEXT_NAMES, CORPUS_ANY_NAME } CorpusNames;

/* The files that inputs[0..n) stand for, in order: a file as given, a folder
 * walked recursively, its files sorted by path. *files is a new array of new
 * strings (free each, then the array); *skipped counts the files in the
 * folders that were passed over. Returns 0, or -1 with err_set() when an input
 * does not exist or a folder contributes no file. corpus_list is the
 * CORPUS_TEXT_NAMES walk that tokenize uses; the pipeline and eval read any
 * file of a folder. */
int corpus_list_names(const char *const *inputs, int n, CorpusNames names, char ***files, size_t *n_files,
                      size_t *skipped);
int corpus_list(const char *const *inputs, int n, char ***files, size_t *n_files, size_t *skipped);

/* Tokenize inputs[0..n) (files and folders) into the token file out,
 * written atomically (an existing file is replaced only on success).
 * bpe is only read (each thread encodes with a clone). st may be NULL.
 * Returns 0, or -1 with err_set() naming the file (and the line of a
 * JSONL file, or the byte offset) of the first bad input in input order. */
int corpus_tokenize(const BPE *bpe, const char *const *inputs, int n, const char *out,
                    const CorpusParams *p, CorpusStats *st);

#endif
