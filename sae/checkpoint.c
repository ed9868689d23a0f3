/*
 * sae/checkpoint.c - save and load the SAE in SAELens' layout:
 *   DIR/sae.safetensors  W_enc (d, L) = Wᵀ, W_dec (L, d) = W, b_enc (L) = 0, b_dec (d) = 0
 *   DIR/cfg.json         d_in, d_sae, k, loss weights, model and hook names, ...
 * Both files are written to a temporary name and renamed, so a crash or a
 * full disk never leaves a half-written checkpoint over a good one.
 */
#include "sae/sae.h"
#include "core/json.h"
#include "core/util.h"
#include "weights/npy.h"
#include "weights/safetensors.h"

#include <stdlib.h>
#include <string.h>

/* W_enc = Wᵀ, produced row by row of (d, L) while the file is written */
typedef struct { const SAE *sae; int64_t pos; } TransposeGen;

static void gen_transpose(void *vctx, float *out, int64_t count) {
    TransposeGen *g = vctx;
    const int L = g->sae->L, d = g->sae->d;
    for (int64_t i = 0; i < count; i++, g->pos++) {
        int64_t j = g->pos / L, l = g->pos % L;
        out[i] = g->sae->W[(size_t)l * d + j];
    }
}

static void gen_zeros(void *vctx, float *out, int64_t count) {
    (void)vctx;
    memset(out, 0, (size_t)count * sizeof(float));
}

static int hook_layer(const char *hook) {
    if (strncmp(hook, "blocks.", 7) != 0) return -1;
    return atoi(hook + 7);
}

static int write_cfg(const char *path, const SAE *sae, const SAEParams *p, const char *model, const char *hook) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    fprintf(f, "{\n");
    fprintf(f, "  \"architecture\": \"topk\",\n");
    fprintf(f, "  \"d_in\": %d,\n  \"d_sae\": %d,\n  \"k\": %d,\n", sae->d, sae->L, sae->k);
    fprintf(f, "  \"activation_fn_str\": \"topk\",\n  \"activation_fn_kwargs\": {\"k\": %d},\n", sae->k);
    fprintf(f, "  \"tied_weights\": true,\n");
    fprintf(f, "  \"apply_b_dec_to_input\": false,\n  \"normalize_activations\": \"none\",\n");
    fprintf(f, "  \"dtype\": \"float32\",\n  \"device\": \"cpu\",\n");
    fprintf(f, "  \"model_name\": ");
    json_write_string(f, model, strlen(model));
    fprintf(f, ",\n  \"hook_name\": ");
    json_write_string(f, hook, strlen(hook));
    int layer = hook_layer(hook);
    if (layer >= 0) fprintf(f, ",\n  \"hook_layer\": %d", layer);
    fprintf(f, ",\n  \"hook_head_index\": null");
    /* the weights are floats: 7 digits print them as given (0.0005, not 0.000500000024) */
    fprintf(f, ",\n  \"sparsity_weight\": %.7g,\n  \"decor_weight\": %.7g", p->sparsity_weight, p->decor_weight);
    fprintf(f, ",\n  \"lr\": %.9g,\n  \"adam_betas\": [%.9g, %.9g],\n  \"adam_eps\": %.9g", p->lr, p->beta1, p->beta2, p->eps);
    fprintf(f, ",\n  \"epochs\": %d,\n  \"batch\": %d,\n  \"seed\": %llu\n}\n", p->epochs, p->batch,
            (unsigned long long)p->seed);
    if (ferror(f)) {
        file_abort(f, tmp);
        return err_set("%s: write failed", path);
    }
    return file_commit(f, tmp, path);
}

int sae_save(const SAE *sae, const char *dir, const SAEParams *p, const char *model, const char *hook) {
    if (!model) model = "gpt2";
    if (!hook) hook = "blocks.6.mlp.hook_pre";
    if (path_mkdirs(dir) != 0) return -1;
    char *st_path = path_join(dir, "sae.safetensors"), *cfg_path = path_join(dir, "cfg.json");
    STWriter w;
    st_writer_init(&w);
    TransposeGen tg = {sae, 0};
    st_writer_add_gen(&w, "W_enc", (int64_t[]){sae->d, sae->L}, 2, gen_transpose, &tg);
    st_writer_add(&w, "W_dec", (int64_t[]){sae->L, sae->d}, 2, sae->W);
    st_writer_add_gen(&w, "b_enc", (int64_t[]){sae->L}, 1, gen_zeros, NULL);
    st_writer_add_gen(&w, "b_dec", (int64_t[]){sae->d}, 1, gen_zeros, NULL);
    char kbuf[32];
    snprintf(kbuf, sizeof kbuf, "%d", sae->k);
    st_writer_meta(&w, "k", kbuf);
    st_writer_meta(&w, "format", "pt");
    st_writer_meta(&w, "hook_name", hook);
    int rc = st_writer_write(&w, st_path);
    st_writer_free(&w);
    if (rc == 0) rc = write_cfg(cfg_path, sae, p, model, hook);
    free(st_path);
    free(cfg_path);
    return rc;
}

/* k from DIR/cfg.json next to path: 1 found, 0 no file, -1 bad file */
static int cfg_k(const char *path, long *k) {
    char *dir = path_dir(path), *cfg = path_join(dir, "cfg.json");
    free(dir);
    if (!path_is_file(cfg)) { free(cfg); return 0; }
    int found = -1;
    JSON root;
    if (json_parse_file(&root, cfg) == 0) {
        long long v;
        const JSON *jk = json_get(&root, "k");
        if (!jk) jk = json_get(json_get(&root, "activation_fn_kwargs"), "k");
        if (jk && json_as_int(jk, &v) == 0) { *k = (long)v; found = 1; }
        else err_set("%s: no integer \"k\"; add it (the number of latents kept per token)", cfg);
        json_free(&root);
    }
    free(cfg);
    return found;
}

int sae_load(SAE *sae, const char *path) {
    memset(sae, 0, sizeof *sae);
    SafeTensors st;
    memset(&st, 0, sizeof st);
    if (safetensors_open(&st, path) != 0) return -1;
    int rc = -1;
    const STTensor *t = safetensors_find(&st, "W_dec");
    if (!t) {
        err_set("%s: no tensor W_dec; is this an SAE checkpoint (SAELens layout)?", path);
        goto done;
    }
    if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 24) || t->shape[1] > (1 << 24)) {
        err_set("%s: W_dec has %d dimensions; expected (d_sae, d_in)", path, t->ndim);
        goto done;
    }
    const float *W = safetensors_f32(&st, t);
    if (!W) goto done;
    int L = (int)t->shape[0], d = (int)t->shape[1];
    long k = d / 3 > 0 ? d / 3 : 1;
    int found = cfg_k(path, &k);
    if (found < 0) goto done;
    if (found == 0) {
        const char *mk = safetensors_meta(&st, "k");
        if (mk && parse_int(mk, &k) != 0) {
            err_set("%s: metadata k = '%s' is not an integer", path, mk);
            goto done;
        }
    }
    if (k < 1 || k > L) {
        err_set("%s: k = %ld does not fit its %d latents", path, k, L);
        goto done;
    }
    rc = sae_init_weights(sae, d, L, (int)k, W);
    if (rc != 0) err_prefix("%s", path);
done:
    safetensors_close(&st);
    return rc;
}

int sae_save_losses(const SAEResult *r, const char *path) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    fprintf(f, "epoch,total,sparsity,decorrelation,mse\n");
    for (int e = 0; e < r->epochs_done; e++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g\n", e + 1, r->losses[e].total, r->losses[e].sparsity, r->losses[e].decor,
                r->losses[e].mse);
    if (ferror(f)) {
        file_abort(f, tmp);
        return err_set("%s: write failed", path);
    }
    return file_commit(f, tmp, path);
}
