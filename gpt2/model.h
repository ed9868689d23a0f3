/*
 * gpt2/model.h - a GPT-2 checkpoint in memory: configuration and weights.
 *
 *   GPT2Model m;
 *   if (gpt2_model_load(&m, "path/to/folder-or-model.safetensors") != 0) {
 *       fprintf(stderr, "gpt2sae: %s\n", err_get());   // names file and tensor
 *       return 1;
 *   }
 *   // m.cfg.n_layer, m.w.h[6].fcw (C, 4C), ...
 *   gpt2_model_free(&m);
 *
 * Layout: Hugging Face's openai-community/gpt2 safetensors. Conv1D weights
 * are stored [in, out], so a linear layer is out (T, OC) = x (T, C) @ w (C, OC) + b.
 * F32 tensors are used in place from the mmap; F16/BF16 are converted once.
 *
 * (Implementation: gpt2/model.c, using weights/safetensors.h.)
 */
#ifndef GPT2_MODEL_H
#define GPT2_MODEL_H

#include <stdint.h>

typedef struct {
    int n_layer;     /* L  */
    int n_head;      /* NH */
    int n_embd;      /* C  */
    int n_ctx;       /* maximum sequence length (n_positions) */
    int vocab_size;  /* V  */
    float ln_eps;    /* LayerNorm epsilon (1e-5) */
    char name[32];   /* "gpt2", "gpt2-medium", ..., or "custom" */
    int random;      /* 1: a synthetic checkpoint from `./run synth` - NOT GPT-2 */
} GPT2Config;

typedef struct {
    const float *ln1w, *ln1b;     /* (C), (C) */
    const float *qkvw, *qkvb;     /* (C, 3C), (3C)  attn.c_attn */
    const float *attprojw, *attprojb; /* (C, C), (C) attn.c_proj */
    const float *ln2w, *ln2b;     /* (C), (C) */
    const float *fcw, *fcb;       /* (C, 4C), (4C)  mlp.c_fc */
    const float *fcprojw, *fcprojb; /* (4C, C), (C) mlp.c_proj */
} GPT2Layer;

typedef struct {
    const float *wte;     /* (V, C) token embeddings */
    const float *wpe;     /* (n_ctx, C) position embeddings */
    GPT2Layer *h;         /* (L) blocks */
    const float *lnfw, *lnfb; /* (C), (C) final LayerNorm */
    const float *lm_head; /* (V, C): lm_head.weight when present, else == wte (tied) */
} GPT2Weights;

typedef struct {
    GPT2Config cfg;
    GPT2Weights w;
    char *path;     /* the .safetensors file loaded (owned) */
    void *priv;     /* the mmap'ed file and converted copies (owned) */
} GPT2Model;

/* Load a checkpoint from a .safetensors file or a folder holding
 * model.safetensors (and config.json). Without config.json the four GPT-2
 * sizes are recognised from n_embd. Returns 0, or -1 with err_set() naming the
 * file, the tensor and the expected shape. */
int gpt2_model_load(GPT2Model *m, const char *path);
/* Release everything. gpt2_model_free on a zeroed model is a no-op. */
void gpt2_model_free(GPT2Model *m);

/* The configuration of a named size ("gpt2", "gpt2-medium", "gpt2-large",
 * "gpt2-xl", "distilgpt2"). Returns 0, or -1 if unknown. */
int gpt2_config_named(GPT2Config *cfg, const char *name);

/* Write a random checkpoint: dir/model.safetensors + dir/config.json, in
 * exactly the Hugging Face layout, deterministic from seed, marked as random
 * (config.json and the safetensors metadata). Returns 0 or -1. */
int gpt2_model_synth(const char *dir, const GPT2Config *cfg, uint64_t seed);

#endif
