/*
 * sae/checkpoint.c - save and load the seed's tied SAE.
 * Written in SAELens 6's layout, as a "topk" SAE (sae/arch_io.c's
 * sae_tied_save_saelens):
 *   DIR/sae_weights.safetensors  W_enc (d, L) = Wᵀ, W_dec (L, d) = W, b_enc (L) = 0, b_dec (d) = 0
 *   DIR/cfg.json                 architecture, d_in, d_sae, k, metadata {model_name, hook_name, ...}
 * Read from that layout, and from the engine's older one, DIR/sae.safetensors
 * with the same four tensors (which no SAELens version finds). Both files are
 * written to a temporary name and renamed, so a crash or a full disk never
 * leaves a half-written checkpoint over a good one.
 */
#include "sae/sae.h"
#include "sae/arch_io.h"
#include "core/json.h"
#include "core/util.h"
#include "weights/npy.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sae_save(const SAE *sae, const char *dir, const SAEParams *p, const char *model, const char *hook) {
    (void)p; /* the training settings are not part of SAELens' cfg.json */
    SAEArchMeta meta = {model ? model : "gpt2", hook ? hook : "blocks.6.mlp.hook_pre", 0, ""};
    return sae_tied_save_saelens(sae->W, sae->L, sae->d, sae->k, dir, &meta);
}

int sae_save_sparsity(const char *dir, const float *density_pct, int L) {
    float *lg = xmalloc((size_t)L * sizeof(float));
    for (int i = 0; i < L; i++) lg[i] = (float)log10((double)density_pct[i] / 100.0 + 1e-10);
    char *path = path_join(dir, "sparsity.safetensors");
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "sparsity", (int64_t[]){L}, 1, lg);
    st_writer_meta(&w, "format", "pt");
    int rc = st_writer_write(&w, path);
    st_writer_free(&w);
    free(path);
    free(lg);
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

char *sae_checkpoint_file(const char *dir) {
    char *cur = path_join(dir, "sae_weights.safetensors"); /* SAELens 6: what the engine writes now */
    if (path_is_file(cur)) return cur;
    char *old = path_join(dir, "sae.safetensors");          /* the engine's older layout */
    if (path_is_file(old)) { free(cur); return old; }
    free(old);
    free(cur);
    return NULL;
}

int sae_load(SAE *sae, const char *path) {
    memset(sae, 0, sizeof *sae);
    if (path_is_dir(path)) {
        char *f = sae_checkpoint_file(path);
        if (!f)
            return err_set("%s: no sae_weights.safetensors (nor an older sae.safetensors) here; give the folder of a "
                           "trained SAE", path);
        int rc = sae_load(sae, f);
        free(f);
        return rc;
    }
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
