/*
 * sae/arch_io.h - SAE checkpoints in the formats other tools load: SAELens 6
 * (all five architectures) and sparsify (TopK), written and read.
 *
 *   SAEArchMeta meta = {"gpt2", "blocks.6.mlp.hook_pre", 64, "palinka.txt"};
 *   sae_arch_save_saelens(&m, "out/sae", &meta, log10_density);  // cfg.json, sae_weights.safetensors, sparsity.safetensors
 *   SAEArch s;
 *   SAEArchRequest want = {.any_arch = 1, .d = 3072};
 *   if (sae_arch_load(&s, "elsewhere/sae", &want) != 0) return -1;  // SAELens or sparsify, by the files there
 *   sae_arch_encode(&s, X, B, F);
 *   sae_arch_free(&s);
 *
 * The formats, and what is folded into the saved weights, are described in
 * sae/arch_io.c. Every function returns 0, or -1 with err_set() naming the
 * file and the field or tensor.
 */
#ifndef SAE_ARCH_IO_H
#define SAE_ARCH_IO_H

#include "sae/arch.h"

/* What the run was trained on (cfg.json's metadata); NULL fields get the
 * engine's defaults ("gpt2", "blocks.6.mlp.hook_pre", ""). Borrowed. */
typedef struct {
    const char *model_name;
    const char *hook_name;
    int context_size;           /* tokens per window */
    const char *dataset_path;   /* the text the activations came from */
} SAEArchMeta;

/* What a loaded checkpoint must be (0 fields: anything). */
typedef struct {
    int any_arch;               /* 1: any architecture */
    SAEArchKind arch;           /* else this one (batchtopk accepts the JumpReLU it is saved as) */
    int d, n;                   /* d_in, d_sae; 0 = any */
} SAEArchRequest;

/* Write DIR/cfg.json and DIR/sae_weights.safetensors (atomically, each), and
 * DIR/sparsity.safetensors when log10_density (n) is given. relu saves as
 * "standard" with unit decoder rows, batchtopk as "jumprelu" with its θ. */
int sae_arch_save_saelens(const SAEArch *m, const char *dir, const SAEArchMeta *meta, const float *log10_density);
/* The seed's tied SAE (W (L, d), k) as a SAELens "topk": W_enc = Wᵀ, W_dec = W, zero biases.
 * (The seed keeps every latent tied at the k-th value; SAELens keeps exactly k.) */
int sae_tied_save_saelens(const float *W, int L, int d, int k, const char *dir, const SAEArchMeta *meta);
/* A topk SAE (without input scaling) in sparsify's layout: DIR/cfg.json, DIR/sae.safetensors. */
int sae_arch_save_sparsify(const SAEArch *m, const char *dir);
/* Read a SAELens (sae_weights.safetensors) or sparsify (sae.safetensors)
 * checkpoint from DIR into a new model for inference (sae_arch_encode /
 * decode; the training state starts fresh). want may be NULL. */
int sae_arch_load(SAEArch *m, const char *dir, const SAEArchRequest *want);
/* out (n) = log10(fraction of the T tokens of X (T, d) on which each latent
 * fires + 1e-10), SAELens' sparsity.safetensors; encodes B tokens at a time. */
void sae_arch_log10_density(SAEArch *m, const float *X, long T, int B, float *out);

#endif
