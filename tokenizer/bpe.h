/*
 * tokenizer/bpe.h - GPT-2's byte-level BPE tokenizer, written by hand.
 *
 *   BPE bpe;
 *   if (bpe_load(&bpe, vocab_path, merges_path) != 0) return cli_fail();
 *   BPEIds ids = {0};
 *   if (bpe_encode(&bpe, text, len, 0, &ids) != 0)      // invalid UTF-8:
 *       return err_prefix("%s", path);                  // "...at byte offset N"
 *   for (size_t t = 0; t < ids.n; t++) {
 *       size_t n;
 *       const char *bytes = bpe_token_bytes(&bpe, ids.ids[t], &n);  // for labels
 *       fwrite(bytes, 1, n, stdout);
 *   }
 *   bpe_ids_free(&ids);
 *   bpe_free(&bpe);
 *
 * The ids are exactly those of OpenAI's GPT-2 encoding (tiktoken's
 * "r50k_base", HF's GPT2Tokenizer): the test suite compares them with the npm
 * packages gpt-tokenizer and js-tiktoken.
 *
 * HOW BYTE-LEVEL BPE WORKS
 *
 * Byte-pair encoding starts from the text's bytes and glues frequent
 * neighbours together. GPT-2's vocabulary has 50,257 tokens: the 256 single
 * bytes, 50,000 tokens made by merges, and the special <|endoftext|> (50256).
 * Because every byte is a token, any text (any language, emoji, even binary)
 * can be encoded, and decoding is just concatenating each token's bytes.
 *
 * The byte-to-unicode table. The vocabulary files (vocab.json or
 * encoder.json, merges.txt or vocab.bpe) are text, and OpenAI did not want
 * raw bytes such as a space or a newline or 0x80 inside them, so each byte is
 * written as one printable Unicode character: the 188 bytes that are already
 * printable (! to ~, ¡ to ¬, ® to ÿ) stand for themselves, and the other 68
 * (0x00-0x20, 0x7F-0xA0, 0xAD) are shifted to U+0100 upwards in order. That is
 * why a leading space shows up as "Ġ" (U+0120: the space is the 33rd byte
 * shifted) and a newline as "Ċ". bpe_load() undoes the mapping once, so
 * inside this module every token is its raw bytes: " the" is 4 bytes.
 *
 * Pre-tokenisation. BPE is not run over the whole text but over small
 * pieces ("words"), so that a merge never glues a letter to punctuation or
 * the end of one word to the start of the next, and so that each piece can
 * be cached. GPT-2 cuts the text with the regular expression
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * tried left to right at each position, first alternative that matches wins:
 * an English contraction (lower case only: "'S" is not one), else a run of
 * letters, digits, or other symbols, each with at most one leading ASCII
 * space (" ?"; a tab or U+00A0 never leads), else white space. The
 * lookahead \s+(?!\S) means a run of spaces before a word leaves its last
 * space to the word: "a   b" -> "a", "  ", " b". pretok.c
 * implements this by hand, with tables of Unicode letters (\p{L}), numbers
 * (\p{N}) and white space (\s) generated from the Unicode Character Database
 * (unicode_tables.c says which version).
 *
 * Merges by rank. merges.txt lists 50,000 pairs, most useful first; line r
 * (from 0, after the "#version" line) says "the tokens A and B may be glued
 * into AB", and AB has id 256 + r. To encode a word, start with one token
 * per byte, then repeatedly find the adjacent pair whose merge has the lowest
 * rank and glue it (the leftmost one if the pair occurs twice), until no
 * adjacent pair is in merges.txt. For " lower" (Ġ is the space):
 *
 *     Ġ l o w e r -> Ġ l o w er -> Ġl o w er -> Ġl ow er -> Ġl ower -> Ġlower
 *        ranks:         7           44          66         533       2537
 *
 * so " lower" is one token (2793); a word never seen in training ends up as
 * several known pieces (" palinka" -> " pal" "inka"). tiktoken states the
 * rule as "glue the pair whose concatenation has the lowest id"; for GPT-2's
 * files the two give the same ids (the tests compare with it). Words repeat
 * a lot in real text, so each word's ids are cached (bpe.c).
 *
 * Invalid UTF-8. The regular expression works on characters, so the text must
 * be valid UTF-8; bpe_encode reports the byte offset of the first bad byte.
 * With BPE_BYTEWISE each byte of a malformed sequence is instead taken as one
 * symbol character (neither letter, number nor space), so any bytes encode
 * and decode back unchanged (tiktoken and HF cannot take such input at all).
 *
 * Speed: no allocation per token (the cache and the output grow
 * geometrically); bench/bench_bpe times it against gpt-tokenizer.
 *
 * Threads: bpe_encode writes to the word cache inside BPE, so one BPE must not
 * be used by two threads at once (give each thread a bpe_clone). The other
 * functions only read and may be called concurrently.
 */
#ifndef TOKENIZER_BPE_H
#define TOKENIZER_BPE_H

#include <stddef.h>
#include <stdint.h>

/* GPT-2's sizes: the tests and the model check these. */
#define BPE_GPT2_VOCAB 50257
#define BPE_GPT2_EOT 50256

/* The longest piece (pre-token) bpe_encode merges, in bytes. Merging a piece
 * of n bytes needs about 24n bytes of scratch (two int32 arrays and a heap of
 * 2n uint64 entries), so one 1 GiB "word" would need 24 GiB. Words of real
 * text are short; a piece this long is one run of a single class (a file of
 * one repeated letter, digits without a break), and is refused. */
#define BPE_MAX_PIECE (16u << 20)

/* Flags for bpe_encode. */
enum {
    /* "<|endoftext|>" in the text becomes the special token (50256); without
     * this flag it is ordinary text ("<|", "endoftext", "|>"). */
    BPE_ALLOW_SPECIAL = 1,
    /* Malformed UTF-8 is encoded byte by byte instead of being an error. */
    BPE_BYTEWISE = 2,
};

/* A growable array of token ids. Zero-initialise it ({0}); bpe_encode appends.
 * Free with bpe_ids_free. */
typedef struct {
    int32_t *ids; /* (n) token ids in [0, vocab size) */
    size_t n;     /* number of ids */
    size_t cap;   /* allocated capacity */
} BPEIds;

typedef struct BPECache BPECache; /* the word cache (bpe.c) */

/* A loaded vocabulary. Fields are read-only after bpe_load. */
typedef struct {
    int32_t V;           /* vocabulary size (50257 for GPT-2) */
    int32_t eot;         /* id of "<|endoftext|>", or -1 if the vocabulary has none */
    int32_t n_merges;    /* lines in merges.txt (50000 for GPT-2) */
    char *tok_bytes;     /* (sum of lengths) every token's raw bytes, back to back */
    uint32_t *tok_off;   /* (V + 1) token id's bytes are tok_bytes[tok_off[id] .. tok_off[id+1]) */
    int32_t byte_id[256];/* the id of the single-byte token for each byte value */
    uint64_t *merge_tab; /* (merge_cap) open-addressing hash of merges: (left<<16|right) -> rank, id */
    uint32_t merge_cap;  /* a power of two */
    int32_t *tok_tab;    /* (tok_cap) open-addressing hash: token bytes -> id (-1 = empty) */
    uint32_t tok_cap;    /* a power of two */
    BPECache *cache;     /* word -> ids cache, owned */
    int shared;          /* 1: a bpe_clone: the tables above are borrowed, only the cache is owned */
} BPE;

/* Load GPT-2's tokenizer files: vocab_path is vocab.json (Hugging Face) or
 * encoder.json (OpenAI), merges_path is merges.txt or vocab.bpe. Both must
 * agree: ids exactly 0..V-1, every merge's parts and result in the
 * vocabulary, every multi-byte token made by a merge. Returns 0, or -1 with a
 * message naming the file and what is wrong (missing, truncated,
 * inconsistent); on failure *bpe is left freed (bpe_free is still safe). */
int bpe_load(BPE *bpe, const char *vocab_path, const char *merges_path);
/* The same from the two files' contents in memory; the names are only used
 * in error messages. */
int bpe_load_buffers(BPE *bpe, const char *vocab_name, const char *vocab, size_t vocab_len,
                     const char *merges_name, const char *merges, size_t merges_len);
/* Release everything bpe_load allocated. Safe on a zeroed or freed BPE.
 * On a clone it frees only the clone's word cache. */
void bpe_free(BPE *bpe);
/* A second handle on src's vocabulary with a word cache of its own, so that
 * another thread can encode at the same time (one clone per thread): the
 * tables are borrowed from src, read-only, so free every clone (bpe_free)
 * before src. Costs no loading; the cache is made on first use. */
void bpe_clone(BPE *dst, const BPE *src);

/* Tokenise text[0..len) and append the ids to *out (growing it).
 * flags: 0 or BPE_ALLOW_SPECIAL | BPE_BYTEWISE. Empty text appends nothing.
 * Returns 0, or -1 with err_set("invalid UTF-8 at byte offset N ...") when
 * the text is not valid UTF-8 and BPE_BYTEWISE is not given, or with a
 * message naming the offset when one piece is longer than BPE_MAX_PIECE
 * bytes; then *out holds the ids of the text before that piece (callers
 * usually discard them).
 * Prefix the message with the file name: err_prefix("%s", path). */
int bpe_encode(BPE *bpe, const char *text, size_t len, int flags, BPEIds *out);
/* The first token of " word" (word encoded with a leading space), or -1 if
 * word is empty or not valid UTF-8: the seed's word-category lookup
 * tokenizer.encode(w, add_prefix_space=True)[0]. */
int32_t bpe_first_token(BPE *bpe, const char *word);

/* The raw bytes of token id (*len set to their count), or NULL if id is out
 * of range. Borrowed: valid until bpe_free. A token may be part of a UTF-8
 * character (e.g. half of an emoji): its bytes alone need not be valid UTF-8. */
const char *bpe_token_bytes(const BPE *bpe, int32_t id, size_t *len);
/* The id of the token whose bytes are s[0..n), or -1 if there is none. */
int32_t bpe_token_id(const BPE *bpe, const char *s, size_t n);
/* Decode ids[0..n) to bytes: *out is a new NUL-terminated buffer (caller
 * frees), *out_len its length without the NUL. Returns 0, or -1 with
 * err_set naming the position of an id outside [0, V). */
int bpe_decode(const BPE *bpe, const int32_t *ids, size_t n, char **out, size_t *out_len);
/* Write token id's text to buf (at most cap bytes with the NUL) with
 * invisible characters made visible, for
 * teaching and labels: space -> "␣", \n -> "\n" (backslash n), \t -> "\t",
 * \r -> "\r", other control bytes and bytes that are not complete UTF-8
 * characters -> "\xNN", Unicode spaces (e.g. U+00A0) and format characters
 * -> "<U+00A0>". Returns the length written; a text that does not fit is
 * cut at a character boundary and ends with "...". */
size_t bpe_token_visible(const BPE *bpe, int32_t id, char *buf, size_t cap);

/* 0 if s[0..n) is valid UTF-8 (no overlongs, surrogates or code points above
 * U+10FFFF); else -1 and *bad_offset = offset of the first malformed byte.
 * The same as core/utf8.h's utf8_check: the validity bpe_encode applies. */
int bpe_utf8_check(const char *s, size_t n, size_t *bad_offset);

/* Append one id to a BPEIds (amortised O(1)). */
void bpe_ids_push(BPEIds *a, int32_t id);
/* Free the array and zero it. */
void bpe_ids_free(BPEIds *a);
/* Append the token ids of a text file (integers >= 0 separated by white
 * space, as ./run tokenize writes them) to *ids. 0, or -1 with err_set()
 * naming the file and the first bad token, or saying it holds none. */
int bpe_ids_read(const char *path, BPEIds *ids);

#endif
