/*
 * tokenizer/vocab_cache.h - a binary copy of a loaded vocabulary's tables,
 * kept in the engine's cache folder (path_cache_root()/tokenizer/, named by
 * the two files' content hashes; never beside the user's files), so that
 * later loads skip parsing the JSON and the merges (bpe_load uses it; nothing
 * else needs to).
 *
 *   VocabKey key;
 *   vocab_key(&key, vocab_path, vocab, vocab_len, merges_path, merges, merges_len);
 *   char *cache = vocab_cache_path(&key);             // NULL: caching disabled
 *   if (cache && vocab_cache_read(&bpe, cache, &key) == 0) ...   // tables from the cache
 *   else { bpe_load_buffers(&bpe, ...); if (cache) vocab_cache_write(&bpe, cache, &key); }
 *   free(cache);
 *
 * The cache is keyed by each source file's size, modification time and
 * content hash: a change to either file (or a cache written for other files)
 * makes vocab_cache_read refuse it, and the caller falls back to the JSON.
 * The file holds a checksum of everything in it and is checked field by
 * field (sizes, offsets, table entries) before use, so a truncated, damaged
 * or planted cache is refused, never trusted. It is written atomically
 * (temporary + rename, its folder made if need be); failing to write it (a
 * read-only folder) is silent.
 * GPT2SAE_VOCAB_CACHE=0 in the environment disables it.
 */
#ifndef TOKENIZER_VOCAB_CACHE_H
#define TOKENIZER_VOCAB_CACHE_H

#include "tokenizer/bpe.h"

#include <stddef.h>
#include <stdint.h>

/* What identifies the two source files. */
typedef struct {
    uint64_t size[2];       /* vocab, merges: bytes */
    uint64_t mtime_ns[2];   /* modification time, ns since the epoch (0 if stat fails) */
    uint64_t hash[2];       /* 64-bit hash of the contents */
} VocabKey;

/* Fill key from the two files' names (for stat) and contents (for the hash). */
void vocab_key(VocabKey *key, const char *vocab_path, const char *vocab, size_t vocab_len,
               const char *merges_path, const char *merges, size_t merges_len);
/* The cache's name for key (path_cache_root()/tokenizer/vocab-HASHES.bin),
 * malloc'd; NULL when GPT2SAE_VOCAB_CACHE is "0" or there is no cache folder. */
char *vocab_cache_path(const VocabKey *key);
/* Load b's tables from the cache at path if it exists, is intact and was
 * written for key: 0 (b loaded, free with bpe_free), else -1 (b zeroed, no
 * message set: the caller parses the sources instead). */
int vocab_cache_read(BPE *b, const char *path, const VocabKey *key);
/* Write b's tables to path for key, atomically. 0, or -1 (the old cache, if
 * any, is left in place; err_set says why). */
int vocab_cache_write(const BPE *b, const char *path, const VocabKey *key);

#endif
